//! Model files: safetensors, readable by any safetensors reader.
//!
//! Tensors are f32 little-endian in the article's orientation and unpadded:
//! `Wxh [H,V]`, `Whh [H,H]`, `Why [V,H]`, `bh [H]`, `by [V]`. The header's
//! `__metadata__` (string to string) holds `format` = `rnn-fast`,
//! `format_version`, `vocab` (a JSON array of one-character strings, in id
//! order) and the hyperparameters the caller passes.
//!
//! Writes are atomic: the bytes go to a temporary file in the same directory,
//! which is flushed to disk and renamed over the target, and the directory is
//! flushed; a crash leaves the old file or the new one, never a mix.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::input::{MAX_MODEL_BYTES, read_safetensors};
use crate::layout::Layout;
use crate::model::Model;
use crate::trainer::TrainState;
use crate::vocab::Vocab;

/// The `format` metadata value of an rnn-fast model.
pub const FORMAT: &str = "rnn-fast";
/// The `format_version` this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// Names of the tensors, in the article's order.
pub const TENSOR_NAMES: [&str; 5] = ["Wxh", "Whh", "Why", "bh", "by"];

/// A tensor to write: name, dtype, shape and little-endian bytes.
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Entry {
    fn f32(name: String, shape: Vec<usize>, values: impl IntoIterator<Item = f32>) -> Entry {
        let data = values.into_iter().flat_map(f32::to_le_bytes).collect();
        Entry {
            name,
            dtype: Dtype::F32,
            shape,
            data,
        }
    }
}

/// The five tensors of a buffer in `layout` (weights, or a slot of
/// optimizer state), in the article's orientation, unpadded, named
/// `prefix` + [`TENSOR_NAMES`].
fn article_entries(layout: &Layout, buf: &[f32], prefix: &str) -> Vec<Entry> {
    let Layout { h, v, hp, .. } = *layout;
    let t = layout.split(buf);
    let name = |n: &str| format!("{prefix}{n}");
    vec![
        Entry::f32(
            name("Wxh"),
            vec![h, v],
            (0..h * v).map(|k| t.wxh[(k % v) * hp + k / v]),
        ),
        Entry::f32(
            name("Whh"),
            vec![h, h],
            (0..h * h).map(|k| t.whh[(k / h) * hp + k % h]),
        ),
        Entry::f32(
            name("Why"),
            vec![v, h],
            (0..v * h).map(|k| t.why[(k / h) * hp + k % h]),
        ),
        Entry::f32(name("bh"), vec![h], t.bh[..h].iter().copied()),
        Entry::f32(name("by"), vec![v], t.by[..v].iter().copied()),
    ]
}

/// The model (and, for a checkpoint, the training state) as safetensors
/// bytes, with `extra` metadata (the settings).
///
/// A checkpoint adds `opt.m.*` and `opt.v.*` (the optimizer's two slots, in
/// the weights' orientation), `train.hidden [K, H]` (each shard's hidden
/// state), `train.positions [K]` (I64, each shard's read position) and the
/// metadata `train.epoch`, `train.in_epoch`, `train.optimizer_steps`.
pub fn to_bytes(
    model: &Model,
    extra: &[(String, String)],
    state: Option<&TrainState>,
) -> Result<Vec<u8>> {
    let layout = model.layout;
    let mut entries = article_entries(&layout, &model.weights, "");
    let mut metadata: HashMap<String, String> = extra.iter().cloned().collect();
    if let Some(st) = state {
        let (m, v) = st.optimizer.split_at(layout.len());
        entries.extend(article_entries(&layout, m, "opt.m."));
        entries.extend(article_entries(&layout, v, "opt.v."));
        let k = st.positions.len();
        let hidden = st
            .hidden
            .chunks_exact(layout.hp)
            .flat_map(|row| row[..layout.h].iter().copied());
        entries.push(Entry::f32("train.hidden".into(), vec![k, layout.h], hidden));
        entries.push(Entry {
            name: "train.positions".into(),
            dtype: Dtype::I64,
            shape: vec![k],
            data: st
                .positions
                .iter()
                .flat_map(|&p| (p as i64).to_le_bytes())
                .collect(),
        });
        metadata.insert("train.epoch".into(), st.epoch.to_string());
        metadata.insert("train.in_epoch".into(), st.in_epoch.to_string());
        metadata.insert(
            "train.optimizer_steps".into(),
            st.optimizer_steps.to_string(),
        );
    }
    let views: Vec<(&str, TensorView<'_>)> = entries
        .iter()
        .map(|e| {
            let view = TensorView::new(e.dtype, e.shape.clone(), &e.data)
                .expect("shape and data length agree by construction");
            (e.name.as_str(), view)
        })
        .collect();
    let vocab: Vec<String> = model.vocab.chars().iter().map(|c| c.to_string()).collect();
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("format_version".into(), FORMAT_VERSION.into());
    metadata.insert(
        "vocab".into(),
        serde_json::to_string(&vocab).expect("strings serialize"),
    );
    metadata.insert("hidden".into(), model.hidden().to_string());
    metadata.insert("vocab_size".into(), model.vocab.len().to_string());
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Invalid(format!("cannot encode the model: {e}")))?;
    Ok(with_sorted_header(bytes))
}

/// The same file with its JSON header's keys sorted. `safetensors` writes
/// the metadata from a `HashMap`, whose order changes from run to run; sorted,
/// the same model always gives the same bytes. The header is padded with
/// spaces to a multiple of 8 bytes, as the format asks.
fn with_sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length")) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors wrote valid JSON");
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
    let mut json = serde_json::to_vec(&header).expect("a Value serializes");
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// Saves the model (a checkpoint when `state` is given) to `path` atomically.
pub fn save(
    path: &Path,
    model: &Model,
    extra: &[(String, String)],
    state: Option<&TrainState>,
) -> Result<()> {
    let bytes = to_bytes(model, extra, state)?;
    write_atomic(path, &bytes)
}

/// A model file read back: the model, the header's metadata and, for a
/// checkpoint, the training state.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub model: Model,
    pub metadata: HashMap<String, String>,
    pub state: Option<TrainState>,
}

/// Loads and validates a model file.
pub fn load(path: &Path) -> Result<Loaded> {
    let bytes = read_safetensors(path, MAX_MODEL_BYTES)?;
    from_bytes(&bytes).map_err(|reason| Error::ModelFormat {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses and validates model bytes; the error is the reason, for one line.
pub fn from_bytes(bytes: &[u8]) -> Result<Loaded, String> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    match metadata.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("its format is {other:?}, not {FORMAT:?}")),
        None => return Err("a safetensors file without rnn-fast metadata".into()),
    }
    let version = metadata.get("format_version").map(String::as_str);
    if version != Some(FORMAT_VERSION) {
        return Err(format!(
            "format version {version:?} is not supported (this build reads {FORMAT_VERSION})"
        ));
    }
    let vocab_json = metadata
        .get("vocab")
        .ok_or("no vocabulary in its metadata")?;
    let strings: Vec<String> =
        serde_json::from_str(vocab_json).map_err(|e| format!("bad vocabulary ({e})"))?;
    let mut chars = Vec::with_capacity(strings.len());
    for s in &strings {
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => chars.push(c),
            _ => return Err(format!("bad vocabulary entry {s:?}: not one character")),
        }
    }
    let vocab = Vocab::from_chars(chars).map_err(|e| format!("bad vocabulary ({e})"))?;
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;

    let whh = tensors
        .tensor("Whh")
        .map_err(|_| "it has no tensor \"Whh\"".to_string())?;
    let h = match whh.shape() {
        [a, b] if a == b && *a > 0 => *a,
        s => return Err(format!("tensor Whh has shape {s:?}, expected [H, H]")),
    };
    let layout = Layout::new(h, vocab.len());
    let weights = read_article(&tensors, &layout, "")?;
    let model = Model {
        vocab,
        layout,
        weights,
    };
    let state = match tensors.tensor("train.positions") {
        Ok(_) => Some(read_state(&tensors, &layout, &metadata)?),
        Err(_) => None,
    };
    Ok(Loaded {
        model,
        metadata,
        state,
    })
}

/// A tensor's values as f32: it must exist, be F32 of `shape`, and be finite.
fn read_f32(tensors: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let t = tensors
        .tensor(name)
        .map_err(|_| format!("it has no tensor {name:?}"))?;
    if t.dtype() != Dtype::F32 {
        return Err(format!("tensor {name} is {:?}, expected F32", t.dtype()));
    }
    if t.shape() != shape {
        return Err(format!(
            "tensor {name} has shape {:?}, expected {shape:?}",
            t.shape()
        ));
    }
    let floats: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = floats.iter().position(|f| !f.is_finite()) {
        return Err(format!(
            "tensor {name} holds a non-finite value ({}) at index {i}",
            floats[i]
        ));
    }
    Ok(floats)
}

/// The inverse of [`article_entries`]: the five tensors `prefix` + name, checked,
/// into a buffer of `layout` (pad zero).
fn read_article(
    tensors: &SafeTensors<'_>,
    layout: &Layout,
    prefix: &str,
) -> Result<Vec<f32>, String> {
    let Layout { h, v, hp, .. } = *layout;
    let shapes = [vec![h, v], vec![h, h], vec![v, h], vec![h], vec![v]];
    let mut values = Vec::with_capacity(5);
    for (name, shape) in TENSOR_NAMES.iter().zip(&shapes) {
        let full = format!("{prefix}{name}");
        values.push(
            read_f32(tensors, &full, shape)
                .map_err(|e| format!("{e} (H = {h}, V = {v} characters in the vocabulary)"))?,
        );
    }
    let mut buf = layout.zeros();
    let t = layout.split_mut(&mut buf);
    for i in 0..h {
        for x in 0..v {
            t.wxh[x * hp + i] = values[0][i * v + x];
        }
        t.whh[i * hp..i * hp + h].copy_from_slice(&values[1][i * h..(i + 1) * h]);
    }
    for o in 0..v {
        t.why[o * hp..o * hp + h].copy_from_slice(&values[2][o * h..(o + 1) * h]);
    }
    t.bh[..h].copy_from_slice(&values[3]);
    t.by[..v].copy_from_slice(&values[4]);
    Ok(buf)
}

/// The training state of a checkpoint (see [`to_bytes`]).
fn read_state(
    tensors: &SafeTensors<'_>,
    layout: &Layout,
    metadata: &HashMap<String, String>,
) -> Result<TrainState, String> {
    let pos = tensors
        .tensor("train.positions")
        .map_err(|e| format!("bad train.positions ({e})"))?;
    let k = match (pos.dtype(), pos.shape()) {
        (Dtype::I64, [k]) if *k > 0 => *k,
        (d, s) => {
            return Err(format!(
                "tensor train.positions is {d:?} {s:?}, expected I64 [K]"
            ));
        }
    };
    let positions = pos
        .data()
        .chunks_exact(8)
        .map(|b| {
            let p = i64::from_le_bytes(b.try_into().expect("8 bytes"));
            usize::try_from(p).map_err(|_| format!("negative shard position {p}"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let rows = read_f32(tensors, "train.hidden", &[k, layout.h])?;
    let mut hidden = vec![0.0; k * layout.hp];
    for (dst, src) in hidden
        .chunks_exact_mut(layout.hp)
        .zip(rows.chunks_exact(layout.h))
    {
        dst[..layout.h].copy_from_slice(src);
    }
    let mut optimizer = read_article(tensors, layout, "opt.m.")?;
    optimizer.extend(read_article(tensors, layout, "opt.v.")?);
    let get = |key: &str| -> Result<&String, String> {
        metadata
            .get(key)
            .ok_or_else(|| format!("a checkpoint without {key:?} in its metadata"))
    };
    let parse_err = |key: &str| format!("bad {key} in its metadata");
    Ok(TrainState {
        epoch: get("train.epoch")?
            .parse()
            .map_err(|_| parse_err("train.epoch"))?,
        in_epoch: get("train.in_epoch")?
            .parse()
            .map_err(|_| parse_err("train.in_epoch"))?,
        optimizer_steps: get("train.optimizer_steps")?
            .parse()
            .map_err(|_| parse_err("train.optimizer_steps"))?,
        optimizer,
        positions,
        hidden,
    })
}

/// The directory a file is in (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` so that `path` is always either its old content
/// or all of the new: temporary file in the same directory, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = dir_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".rnn-fast-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    // A temporary file is private (0600); the result gets the permissions of
    // the file it replaces, or rw-r--r-- when new.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(write_err)?;
    }
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    // Make the rename itself durable (best effort where directories cannot be opened).
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().map_err(write_err)?;
    }
    Ok(())
}

/// Checks before a long run that `path` can be written: its directory exists
/// and accepts a new file.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = dir_of(path);
    if path.is_dir() {
        return Err(Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other("it is a directory"),
        });
    }
    tempfile::Builder::new()
        .prefix(".rnn-fast-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}
