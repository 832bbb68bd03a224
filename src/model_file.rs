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
use crate::layout::Layout;
use crate::model::Model;
use crate::vocab::Vocab;

/// The `format` metadata value of an rnn-fast model.
pub const FORMAT: &str = "rnn-fast";
/// The `format_version` this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// Names of the tensors, in the article's order.
pub const TENSOR_NAMES: [&str; 5] = ["Wxh", "Whh", "Why", "bh", "by"];

/// The model as safetensors bytes, with `extra` metadata (hyperparameters).
pub fn to_bytes(model: &Model, extra: &[(String, String)]) -> Result<Vec<u8>> {
    let tensors = article_tensors(model);
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), data)
                .expect("shape and data length agree by construction");
            (*name, view)
        })
        .collect();
    let vocab: Vec<String> = model.vocab.chars().iter().map(|c| c.to_string()).collect();
    let mut metadata: HashMap<String, String> = extra.iter().cloned().collect();
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

/// Saves the model to `path` atomically.
pub fn save(path: &Path, model: &Model, extra: &[(String, String)]) -> Result<()> {
    let bytes = to_bytes(model, extra)?;
    write_atomic(path, &bytes)
}

/// A model file read back: the model and the header's metadata.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub model: Model,
    pub metadata: HashMap<String, String>,
}

/// Loads and validates a model file.
pub fn load(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
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
    let v = vocab.len();
    let expected = [vec![h, v], vec![h, h], vec![v, h], vec![h], vec![v]];
    let mut values = Vec::with_capacity(5);
    for (name, shape) in TENSOR_NAMES.iter().zip(&expected) {
        let t = tensors
            .tensor(name)
            .map_err(|_| format!("it has no tensor {name:?}"))?;
        if t.dtype() != Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, expected F32", t.dtype()));
        }
        if t.shape() != shape.as_slice() {
            return Err(format!(
                "tensor {name} has shape {:?}, expected {shape:?} (H = {h}, V = {v} characters in the vocabulary)",
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
        values.push(floats);
    }
    let model = from_article_tensors(vocab, h, &values);
    Ok(Loaded { model, metadata })
}

/// The five tensors in the article's orientation: name, shape, values.
fn article_tensors(model: &Model) -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    let Layout { h, v, hp, .. } = model.layout;
    let t = model.layout.split(&model.weights);
    let wxh = (0..h * v).map(|k| t.wxh[(k % v) * hp + k / v]).collect();
    let whh = (0..h * h).map(|k| t.whh[(k / h) * hp + k % h]).collect();
    let why = (0..v * h).map(|k| t.why[(k / h) * hp + k % h]).collect();
    vec![
        ("Wxh", vec![h, v], wxh),
        ("Whh", vec![h, h], whh),
        ("Why", vec![v, h], why),
        ("bh", vec![h], t.bh[..h].to_vec()),
        ("by", vec![v], t.by[..v].to_vec()),
    ]
}

/// The inverse of [`article_tensors`]; `values` are in [`TENSOR_NAMES`] order
/// with their shapes already checked.
fn from_article_tensors(vocab: Vocab, h: usize, values: &[Vec<f32>]) -> Model {
    let layout = Layout::new(h, vocab.len());
    let (v, hp) = (layout.v, layout.hp);
    let mut weights = layout.zeros();
    let t = layout.split_mut(&mut weights);
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
    Model {
        vocab,
        layout,
        weights,
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".rnn-fast-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
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
