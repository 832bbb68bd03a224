//! Model files and checkpoints: the one owner of the file's schema. Every
//! metadata key and every tensor name is read and written here, and one
//! typed value goes in and out: a [`Model`], and for a checkpoint a
//! [`Checkpoint`] (settings, what the run records about itself, and its
//! training state).
//!
//! The file is safetensors, readable by any safetensors reader. Tensors are
//! f32 little-endian in the article's orientation and unpadded: `Wxh [H,V]`,
//! `Whh [H,H]`, `Why [V,H]`, `bh [H]`, `by [V]` (a gated cell's tensors are
//! PyTorch's, [`crate::cell::gates`], and `cell` names it in the metadata,
//! absent for the tanh cell; `layers` gives a stacked model's layers,
//! absent for one). The header's `__metadata__`
//! (string to string) holds `format` = `rnn-fast`, `format_version`, `vocab`
//! (a JSON array of one-character strings, in id order), `hidden`,
//! `vocab_size`, and for a checkpoint the settings (their field names;
//! `clip_norm`, `dropout`, `init`, `weight_decay`, `lr_schedule`, `warmup`
//! and `patience` (always under the plateau schedule) only when not the
//! default, which their absence means, so that a run without them writes
//! the bytes it always has), the run's keys (`corpus`, `val_frac`, `train.corpus_len`, `train.corpus_hash`,
//! `train.chars_seen`, `train.best_val`) and the state's counters
//! (`train.epoch`, `train.in_epoch`, `train.optimizer_steps`, and for the
//! plateau schedule `train.lr_factor`, `train.plateau_best`,
//! `train.plateau_bad`), and `train.eval_every` for the plateau schedule or
//! a spacing not the default. A checkpoint
//! adds the tensors `opt.m.*` and `opt.v.*` (the optimizer's two slots, in
//! the weights' orientation), `train.hidden [K, H]` (each shard's hidden
//! state; an LSTM's cell state too, `train.cell [K, H]`; layer k above the
//! first's as `train.hidden_l{k}`, `train.cell_l{k}`) and
//! `train.positions [K]` (I64, each shard's read position).
//!
//! The header's keys are sorted, so the same model always gives the same
//! bytes; files are written atomically ([`crate::files::write_atomic`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::{DEFAULT_PATIENCE, InitKind, LrSchedule, Named, OptimizerKind, TrainConfig};
use crate::error::{Error, Result};
use crate::files::write_atomic_with;
use crate::input::{MAX_HEADER_BYTES, MAX_MODEL_BYTES, read_safetensors};
use crate::kernels::aligned::AlignedVec;
use crate::layout::{CellKind, Layout, MAX_LAYERS, TensorSpec};
use crate::message::counted;
use crate::model::Model;
use crate::schedule::Plateau;
use crate::trainer::TrainState;
use crate::vocab::Vocab;

/// The `format` metadata value of an rnn-fast model.
pub const FORMAT: &str = "rnn-fast";
/// The `format_version` this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// A tensor to write: its name, shape and values, made as they are written
/// (a checkpoint's tensors are not copied into memory first: a model of a
/// few GB is saved with no more memory than it trains in).
struct Entry<'a> {
    name: String,
    shape: Vec<usize>,
    values: Values<'a>,
}

/// A tensor's values.
enum Values<'a> {
    F32(Box<dyn Iterator<Item = f32> + 'a>),
    I64(Vec<i64>),
}

impl<'a> Entry<'a> {
    fn f32(name: String, shape: Vec<usize>, values: impl Iterator<Item = f32> + 'a) -> Entry<'a> {
        Entry {
            name,
            shape,
            values: Values::F32(Box::new(values)),
        }
    }

    /// The dtype's safetensors name and its bytes per value.
    fn dtype(&self) -> (&'static str, usize) {
        match self.values {
            Values::F32(_) => ("F32", 4),
            Values::I64(_) => ("I64", 8),
        }
    }

    /// Bytes of its data.
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype().1
    }

    /// Writes its values, little-endian (`w` buffers: a value is 4 or 8 bytes).
    fn write_data(self, w: &mut impl Write) -> std::io::Result<()> {
        match self.values {
            Values::F32(mut values) => values.try_for_each(|x| w.write_all(&x.to_le_bytes())),
            Values::I64(values) => values
                .iter()
                .try_for_each(|x| w.write_all(&x.to_le_bytes())),
        }
    }
}

/// The tensors of a buffer in `layout` (weights, or a slot of optimizer
/// state), in the article's orientation, unpadded, named `prefix` + the
/// cell's tensor names.
fn article_entries<'a>(layout: &Layout, buf: &'a [f32], prefix: &str) -> Vec<Entry<'a>> {
    let layout = *layout;
    layout
        .offsets()
        .into_iter()
        .map(|(at, spec)| {
            let shape = spec.file_shape(&layout);
            let n = shape.iter().product();
            let values = (0..n).map(move |k| buf[at + spec.stored_index(&layout, k)]);
            Entry::f32(format!("{prefix}{}", spec.name), shape, values)
        })
        .collect()
}

/// Every pre-activation and logit of a forward pass is a sum of weights
/// each times an input of magnitude at most 1 (a one-hot character, a
/// state squashed by tanh or a gate), so it is at most `Σ|w|` in magnitude
/// (an LSTM's cell state grows by at most 1 a step). Below this bound no
/// sum, and no difference of two logits in the softmax, overflows f32.
const MAX_WEIGHT_MAGNITUDE: f64 = f32::MAX as f64 / 4.0;

/// Refuses weights whose forward pass could overflow f32 (finite but
/// absurd values: a damaged file), where it would give a loss of NaN and
/// text drawn from NaN probabilities.
fn check_magnitude(weights: &[f32]) -> Result<(), String> {
    let total: f64 = weights.iter().map(|w| w.abs() as f64).sum();
    if total > MAX_WEIGHT_MAGNITUDE {
        return Err(format!(
            "its weights' magnitudes sum to {total:.3e}, above {MAX_WEIGHT_MAGNITUDE:.3e}, where a forward pass could overflow f32"
        ));
    }
    Ok(())
}

/// The names of the tensors [`write()`] writes for `layout`: the weights
/// and, for a checkpoint, both optimizer slots, the carried state and the
/// shards' positions.
fn tensor_names(layout: &Layout, checkpoint: bool) -> HashSet<String> {
    let weights = layout.offsets().into_iter().map(|(_, spec)| spec.name);
    let prefixes: &[&str] = if checkpoint {
        &["", "opt.m.", "opt.v."]
    } else {
        &[""]
    };
    let mut names: HashSet<String> = prefixes
        .iter()
        .flat_map(|p| weights.clone().map(move |name| format!("{p}{name}")))
        .collect();
    if checkpoint {
        names.extend(
            layout
                .carried_parts()
                .iter()
                .map(|part| format!("train.{part}")),
        );
        names.insert("train.positions".into());
    }
    names
}

/// What a training run records about itself beside its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The corpus as the user named it.
    pub corpus: String,
    /// The fraction of the corpus held out at its end.
    pub val_frac: f64,
    /// Characters of the whole corpus, and its FNV-1a hash ([`corpus_hash`]):
    /// a resumed run checks it trains on the same text.
    pub corpus_len: usize,
    pub corpus_hash: u64,
    /// Characters trained so far.
    pub chars_seen: usize,
    /// The best validation loss so far (a resumed run replaces its `.best`
    /// file only with a better model).
    pub best_val: Option<f64>,
    /// Characters between two reports, recorded when the learning-rate
    /// schedule follows the validation loss (plateau) or the spacing is not
    /// the default: a resumed run reports where the saved one would have
    /// (the reports pick the `.best` model and the plateau's cuts).
    pub eval_every: Option<usize>,
}

/// Everything a model file holds besides the model for a run to continue
/// exactly: the settings (`threads` is not stored and reads as 1), the
/// run's record and the trainer's state (its optimizer's memory owned, as
/// read back, or borrowed from the trainer, to save: see [`TrainState`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<O = Vec<f32>> {
    pub settings: TrainConfig,
    pub run: RunInfo,
    pub state: TrainState<O>,
}

/// FNV-1a over the corpus ids.
pub fn corpus_hash(ids: &[u16]) -> u64 {
    ids.iter().fold(0xcbf2_9ce4_8422_2325, |h, &id| {
        (h ^ id as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The settings as metadata (the thread count is left out: it does not
/// change an avg model).
fn settings_metadata(c: &TrainConfig) -> Vec<(&'static str, String)> {
    let mut m = vec![
        ("hidden", c.hidden.to_string()),
        ("seq_len", c.seq_len.to_string()),
        ("lr", c.lr.to_string()),
        ("clip", c.clip.to_string()),
        ("lr_decay", c.lr_decay.to_string()),
        ("lr_decay_every", c.lr_decay_every.to_string()),
        ("epochs", c.epochs.to_string()),
        ("seed", c.seed.to_string()),
        ("optimizer", c.optimizer.to_string()),
        ("grad", c.grad.to_string()),
        ("streams", c.streams.to_string()),
        ("shards", c.shards.to_string()),
        ("parallel", c.parallel.to_string()),
        ("drop_tail", c.drop_tail.to_string()),
    ];
    if let Some(n) = c.clip_norm {
        m.push(("clip_norm", n.to_string()));
    }
    // Written only when not the default, so that files of the default
    // schedule keep their bytes (and older files read as the default).
    if c.lr_schedule != LrSchedule::Step {
        m.push(("lr_schedule", c.lr_schedule.to_string()));
    }
    if c.warmup > 0 {
        m.push(("warmup", c.warmup.to_string()));
    }
    // Under plateau always (as files have been); under another schedule,
    // which does not read it, when not the default, so that the command
    // that started the run still matches it on resume.
    if c.lr_schedule == LrSchedule::Plateau || c.patience != DEFAULT_PATIENCE {
        m.push(("patience", c.patience.to_string()));
    }
    // Only when on: a run without dropout writes the files it always has.
    if c.dropout > 0.0 {
        m.push(("dropout", c.dropout.to_string()));
    }
    // Only when not the default, so that a default run's file is unchanged.
    if c.init != InitKind::Article {
        m.push(("init", c.init.to_string()));
    }
    if c.weight_decay != 0.0 {
        m.push(("weight_decay", c.weight_decay.to_string()));
    }
    m
}

/// A checkpoint's metadata: settings, run record and the state's counters.
fn checkpoint_metadata<O>(ck: &Checkpoint<O>) -> Vec<(&'static str, String)> {
    let (run, st) = (&ck.run, &ck.state);
    let mut m = settings_metadata(&ck.settings);
    m.extend([
        ("corpus", run.corpus.clone()),
        ("val_frac", run.val_frac.to_string()),
        ("train.corpus_len", run.corpus_len.to_string()),
        ("train.corpus_hash", run.corpus_hash.to_string()),
        ("train.chars_seen", run.chars_seen.to_string()),
        ("train.epoch", st.epoch.to_string()),
        ("train.in_epoch", st.in_epoch.to_string()),
        ("train.optimizer_steps", st.optimizer_steps.to_string()),
    ]);
    if let Some(best) = run.best_val.filter(|b| b.is_finite()) {
        m.push(("train.best_val", best.to_string()));
    }
    if let Some(n) = run.eval_every {
        m.push(("train.eval_every", n.to_string()));
    }
    if ck.settings.lr_schedule == LrSchedule::Plateau {
        let p = &st.plateau;
        m.push(("train.lr_factor", p.factor.to_string()));
        m.push(("train.plateau_bad", p.bad.to_string()));
        if p.best.is_finite() {
            m.push(("train.plateau_best", p.best.to_string()));
        }
    }
    m
}

/// Writes the model (and, for a checkpoint, everything to resume it) to
/// `w` as a safetensors file, each tensor's values made as they are written
/// (`w` should buffer). The bytes are those `safetensors::serialize` gives,
/// with the header's keys sorted: tensors ordered by dtype (I64 first) and
/// name, the header padded with spaces to a multiple of 8 bytes.
pub fn write<O: AsRef<[f32]>>(
    w: &mut impl Write,
    model: &Model,
    checkpoint: Option<&Checkpoint<O>>,
) -> std::io::Result<()> {
    let layout = model.layout;
    let mut entries = article_entries(&layout, &model.weights, "");
    let mut metadata: BTreeMap<String, String> = BTreeMap::new();
    if let Some(ck) = checkpoint {
        let st = &ck.state;
        let (m, v) = st.optimizer.as_ref().split_at(layout.len());
        entries.extend(article_entries(&layout, m, "opt.m."));
        entries.extend(article_entries(&layout, v, "opt.v."));
        let k = st.positions.len();
        let (hp, width, h) = (layout.hp, layout.carried_width(), layout.h);
        for (part, name) in layout.carried_parts().iter().enumerate() {
            let values = st
                .hidden
                .chunks_exact(width)
                .flat_map(move |row| row[part * hp..][..h].iter().copied());
            entries.push(Entry::f32(format!("train.{name}"), vec![k, h], values));
        }
        entries.push(Entry {
            name: "train.positions".into(),
            shape: vec![k],
            values: Values::I64(st.positions.iter().map(|&p| p as i64).collect()),
        });
        metadata.extend(
            checkpoint_metadata(ck)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
    }
    let vocab: Vec<String> = model.vocab.chars().iter().map(|c| c.to_string()).collect();
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("format_version".into(), FORMAT_VERSION.into());
    metadata.insert(
        "vocab".into(),
        serde_json::to_string(&vocab).expect("strings serialize"),
    );
    metadata.insert("hidden".into(), model.hidden().to_string());
    // Only for a cell other than the article's, so that its files keep their bytes.
    if model.layout.cell != CellKind::Tanh {
        metadata.insert("cell".into(), model.layout.cell.to_string());
    }
    // Only above one layer, for the same reason.
    if model.layout.layers > 1 {
        metadata.insert("layers".into(), model.layout.layers.to_string());
    }
    metadata.insert("vocab_size".into(), model.vocab.len().to_string());
    // safetensors' order: by dtype, descending in its enum (of the two
    // written, I64 before F32: here, the wider first), then by name.
    entries.sort_by(|a, b| b.dtype().1.cmp(&a.dtype().1).then(a.name.cmp(&b.name)));
    let header = header(&entries, metadata);
    w.write_all(&(header.len() as u64).to_le_bytes())?;
    w.write_all(&header)?;
    entries.into_iter().try_for_each(|e| e.write_data(w))
}

/// The JSON header of `entries` (in file order) with `metadata`: keys
/// sorted (serde_json's map is a BTreeMap), padded with spaces to a
/// multiple of 8 bytes, as the format asks.
fn header(entries: &[Entry<'_>], metadata: BTreeMap<String, String>) -> Vec<u8> {
    use serde_json::{Value, json};
    let mut map = serde_json::Map::new();
    map.insert("__metadata__".into(), json!(metadata));
    let mut offset = 0;
    for e in entries {
        let end = offset + e.data_len();
        let info = json!({"dtype": e.dtype().0, "shape": e.shape, "data_offsets": [offset, end]});
        map.insert(e.name.clone(), info);
        offset = end;
    }
    let mut json = serde_json::to_vec(&Value::Object(map)).expect("a Value serializes");
    json.resize(json.len().next_multiple_of(8), b' ');
    json
}

/// The length of the file [`write()`] writes, counted as it is made (not
/// kept).
pub fn written_len<O: AsRef<[f32]>>(model: &Model, checkpoint: Option<&Checkpoint<O>>) -> u64 {
    /// A writer that keeps only the count of what it is given.
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    write(&mut count, model, checkpoint).expect("a count takes every write");
    count.0
}

/// The file [`write()`] writes, in memory.
pub fn to_bytes(model: &Model, checkpoint: Option<&Checkpoint>) -> Vec<u8> {
    let mut bytes = Vec::new();
    write(&mut bytes, model, checkpoint).expect("a Vec takes every write");
    bytes
}

/// Saves the model (with everything to resume it, for a checkpoint) to
/// `path` atomically.
pub fn save(path: &Path, model: &Model, checkpoint: Option<&Checkpoint>) -> Result<()> {
    write_atomic_with(path, |file| write_file(file, model, checkpoint))
}

/// [`write()`] to `file`, buffered.
pub fn write_file<O: AsRef<[f32]>>(
    file: &std::fs::File,
    model: &Model,
    checkpoint: Option<&Checkpoint<O>>,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(file);
    write(&mut w, model, checkpoint)?;
    w.flush()
}

/// A model file read back: the model and, for a checkpoint, everything to
/// resume it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub model: Model,
    pub checkpoint: Option<Checkpoint>,
}

/// Loads and validates a model file.
pub fn load(path: &Path) -> Result<Loaded> {
    if let Ok(meta) = std::fs::metadata(path) {
        crate::resources::check_load(path, meta.len())?;
    }
    let bytes = read_safetensors(path, MAX_MODEL_BYTES)?;
    from_bytes(&bytes).map_err(|reason| Error::ModelFormat {
        path: path.to_path_buf(),
        reason,
    })
}

/// The safetensors header of the file at `path`, read alone (not its
/// tensors' data), if it has one.
fn read_header(path: &Path) -> Option<safetensors::tensor::Metadata> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).ok()?;
    let n = u64::from_le_bytes(prefix);
    let mut header = Vec::new();
    if n > MAX_HEADER_BYTES || file.take(n).read_to_end(&mut header).is_err() {
        return None;
    }
    serde_json::from_slice(&header).ok()
}

/// The metadata of the rnn-fast model file at `path`, from its header alone
/// (safetensors whose metadata names the format), damaged or not.
fn model_metadata(path: &Path) -> Option<(safetensors::tensor::Metadata, HashMap<String, String>)> {
    let header = read_header(path)?;
    let meta = header.metadata().clone()?;
    (meta.get("format").map(String::as_str) == Some(FORMAT)).then_some((header, meta))
}

/// Whether `path` holds an rnn-fast model file, judged by its header alone
/// (safetensors whose metadata names the format), damaged or not: the only
/// file `train --force` replaces.
pub fn is_model_file(path: &Path) -> bool {
    model_metadata(path).is_some()
}

/// The settings and the record of the run saved in the checkpoint at
/// `path`, read from its header alone: how far a run went is learnt without
/// loading gigabytes of weights (which a process short of memory could not,
/// and took for no checkpoint there). `None` where the file is not a
/// checkpoint whose header reads.
pub fn read_record(path: &Path) -> Option<(TrainConfig, RunInfo)> {
    let (header, meta) = model_metadata(path)?;
    header.info("train.positions")?;
    Some((read_settings(&meta).ok()?, read_run(&meta).ok()?))
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
    match metadata.get("format_version").map(String::as_str) {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "format version {other:?} is not supported (this build reads {FORMAT_VERSION:?})"
            ));
        }
        None => return Err("no format_version in its metadata".into()),
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
    // Written for readers of the file (a Python loader); checked where present.
    if let Some(size) = metadata.get("vocab_size")
        && size.parse() != Ok(vocab.len())
    {
        return Err(format!(
            "vocab_size in its metadata ({size:?}) disagrees with its vocabulary of {}",
            counted(vocab.len(), "character")
        ));
    }
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;

    let cell = parse_named_or(&metadata, "cell", CellKind::Tanh)?;
    let recurrent = cell.cell().hidden_tensor();
    let whh = tensors
        .tensor(recurrent)
        .map_err(|_| format!("it has no tensor {recurrent:?}"))?;
    let gates = cell.cell().gates();
    let h = match whh.shape() {
        [a, b] if *b > 0 && b.checked_mul(gates) == Some(*a) => *b,
        s => {
            let rows = if gates == 1 {
                "H".into()
            } else {
                format!("{gates}H")
            };
            return Err(format!(
                "tensor {recurrent} has shape {s:?}, expected [{rows}, H]"
            ));
        }
    };
    let layers = parse_or(&metadata, "layers", 1)?;
    if !(1..=MAX_LAYERS).contains(&layers) || (layers > 1 && !cell.cell().stacks()) {
        return Err(format!(
            "bad layers in its metadata ({layers}; a {cell} model has 1{})",
            if cell.cell().stacks() {
                format!(" to {MAX_LAYERS}")
            } else {
                String::new()
            }
        ));
    }
    let layout = Layout::stacked(cell, layers, h, vocab.len());
    let weights = read_article(&tensors, &layout)?;
    check_magnitude(&weights)?;
    let model = Model {
        vocab,
        layout,
        weights,
    };
    let checkpoint = match tensors.tensor("train.positions") {
        Ok(_) => {
            let settings = read_settings(&metadata)?;
            if settings.hidden != h {
                return Err(format!(
                    "its settings' hidden ({}) disagrees with its tensors' H ({h})",
                    settings.hidden
                ));
            }
            let state = read_state(&tensors, &layout, &metadata, settings.optimizer)?;
            let run = read_run(&metadata)?;
            check_counts(&run, &state)?;
            Some(Checkpoint {
                settings,
                run,
                state,
            })
        }
        Err(_) => None,
    };
    // Every tensor is one the layout reads: a file whose metadata names
    // fewer layers (or no layers) than it holds must not load with its
    // upper layers left out.
    let expected = tensor_names(&layout, checkpoint.is_some());
    let mut names = tensors.names();
    names.sort();
    if let Some(name) = names.into_iter().find(|n| !expected.contains(*n)) {
        return Err(format!(
            "it holds tensor {name:?}, which its metadata's model ({} of {cell}, H {h}) has not: the metadata and the tensors disagree",
            counted(layers, "layer")
        ));
    }
    Ok(Loaded { model, checkpoint })
}

/// The values of tensor `name`, checked by [`checked_f32`], as f32, one by
/// one (the tensor is not copied first); a value that is not finite is an
/// error.
fn finite_f32<'a>(
    t: &'a TensorView<'_>,
    name: &'a str,
) -> impl Iterator<Item = Result<f32, String>> + 'a {
    t.data().chunks_exact(4).enumerate().map(move |(i, b)| {
        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        match x.is_finite() {
            true => Ok(x),
            false => Err(format!(
                "tensor {name} holds a non-finite value ({x}) at index {i}"
            )),
        }
    })
}

/// Tensor `name` of `tensors`, checked to be there, F32 and of `shape`
/// (its data is not read).
fn checked_f32<'a>(
    tensors: &SafeTensors<'a>,
    name: &str,
    shape: &[usize],
) -> Result<TensorView<'a>, String> {
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
    Ok(t)
}

/// A model's tensors in a file, each checked to be there, F32 and of its
/// shape: where in the layout it goes, what it is, and its data.
type CheckedTensors<'a> = Vec<(usize, TensorSpec, String, TensorView<'a>)>;

/// The tensors `prefix` + name of `layout`, checked (their data is not
/// read). Every shape is checked before the buffer they fill is allocated,
/// so that a file naming a large model it does not hold (`layers`,
/// `hidden`) is refused without allocating it.
fn checked_article<'a>(
    tensors: &SafeTensors<'a>,
    layout: &Layout,
    prefix: &str,
) -> Result<CheckedTensors<'a>, String> {
    layout
        .offsets()
        .into_iter()
        .map(|(at, spec)| {
            let name = format!("{prefix}{}", spec.name);
            let t = checked_f32(tensors, &name, &spec.file_shape(layout))
                .map_err(|e| in_model(e, layout))?;
            Ok((at, spec, name, t))
        })
        .collect()
}

/// The inverse of [`article_entries`]: the `checked` tensors' values into
/// `buf`, a zeroed buffer of `layout` (its pad stays zero). Where they hold
/// `squares` (what an optimizer's slot keeps, such as "Adam's mean of
/// squares"), a negative value is an error.
fn fill_article(
    checked: CheckedTensors<'_>,
    layout: &Layout,
    buf: &mut [f32],
    squares: Option<&str>,
) -> Result<(), String> {
    for (at, spec, name, t) in checked {
        for (k, x) in finite_f32(&t, &name).enumerate() {
            let x = x.map_err(|e| in_model(e, layout))?;
            if let Some(what) = squares
                && x < 0.0
            {
                return Err(format!(
                    "tensor {name} holds a negative value ({x}), where it keeps {what}"
                ));
            }
            buf[at + spec.stored_index(layout, k)] = x;
        }
    }
    Ok(())
}

/// `e` with the model's sizes, which a tensor's shape is checked against.
fn in_model(e: String, layout: &Layout) -> String {
    format!(
        "{e} (H = {}, V = {} characters in the vocabulary)",
        layout.h, layout.v
    )
}

/// The weights: [`checked_article`], then [`fill_article`] into a new buffer.
fn read_article(tensors: &SafeTensors<'_>, layout: &Layout) -> Result<AlignedVec, String> {
    let checked = checked_article(tensors, layout, "")?;
    let mut buf = layout.zeros();
    fill_article(checked, layout, &mut buf, None)?;
    Ok(buf)
}

/// The training state of a checkpoint (see [`write()`]) of a run updated
/// by `rule`.
fn read_state(
    tensors: &SafeTensors<'_>,
    layout: &Layout,
    metadata: &HashMap<String, String>,
    rule: OptimizerKind,
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
    let (hp, width) = (layout.hp, layout.carried_width());
    // The state tensors checked first, so that `k` is what the file holds.
    let parts = layout
        .carried_parts()
        .into_iter()
        .map(|part| {
            let name = format!("train.{part}");
            let t = checked_f32(tensors, &name, &[k, layout.h])?;
            Ok((name, t))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let (m, v) = (
        checked_article(tensors, layout, "opt.m.")?,
        checked_article(tensors, layout, "opt.v.")?,
    );
    let mut hidden = vec![0.0; k * width];
    for (part, (name, t)) in parts.iter().enumerate() {
        for (i, x) in finite_f32(t, name).enumerate() {
            let (row, col) = (i / layout.h, i % layout.h);
            hidden[row * width + part * hp + col] = x?;
        }
    }
    let mut optimizer = vec![0.0; 2 * layout.len()];
    let (m_buf, v_buf) = optimizer.split_at_mut(layout.len());
    // Adam's `v` is a mean of squares and Adagrad's `m` a sum of them: a
    // negative value is damage, which would otherwise load and stop the
    // resumed run as diverged. (The slots a rule does not use are not read.)
    let (m_squares, v_squares) = match rule {
        OptimizerKind::Adam => (None, Some("Adam's mean of squares")),
        OptimizerKind::Adagrad => (Some("Adagrad's sum of squares"), None),
        OptimizerKind::Sgd => (None, None),
    };
    fill_article(m, layout, m_buf, m_squares)?;
    fill_article(v, layout, v_buf, v_squares)?;
    Ok(TrainState {
        epoch: parse_key(metadata, "train.epoch")?,
        in_epoch: parse_key(metadata, "train.in_epoch")?,
        optimizer_steps: parse_key(metadata, "train.optimizer_steps")?,
        optimizer,
        positions,
        hidden,
        plateau: Plateau {
            factor: parse_or(metadata, "train.lr_factor", 1.0)?,
            best: parse_or(metadata, "train.plateau_best", f64::INFINITY)?,
            bad: parse_or(metadata, "train.plateau_bad", 0)?,
        },
    })
}

/// The value of metadata `key`, parsed, or `None` when it is absent (a
/// setting written only when not its default).
fn parse_opt<T: std::str::FromStr>(
    meta: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, String> {
    match meta.contains_key(key) {
        true => parse_key(meta, key).map(Some),
        false => Ok(None),
    }
}

/// The value of metadata `key`, parsed, or `default` when it is absent.
fn parse_or<T: std::str::FromStr>(
    meta: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, String> {
    Ok(parse_opt(meta, key)?.unwrap_or(default))
}

/// The enum setting `key`, or `default` when it is absent.
fn parse_named_or<T: Named>(
    meta: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, String> {
    match meta.contains_key(key) {
        true => parse_named(meta, key),
        false => Ok(default),
    }
}

/// The value of metadata `key`, parsed; the error names the key.
fn parse_key<T: std::str::FromStr>(meta: &HashMap<String, String>, key: &str) -> Result<T, String> {
    let v = meta
        .get(key)
        .ok_or_else(|| format!("a checkpoint without {key:?} in its metadata"))?;
    v.parse()
        .map_err(|_| format!("bad {key} in its metadata ({v:?})"))
}

/// The value of an enum setting `key`.
fn parse_named<T: Named>(meta: &HashMap<String, String>, key: &str) -> Result<T, String> {
    let name: String = parse_key(meta, key)?;
    T::from_name(&name).ok_or_else(|| format!("unknown {key} {name:?} in its metadata"))
}

/// The settings written by [`settings_metadata`], checked as the command
/// line's are.
fn read_settings(meta: &HashMap<String, String>) -> Result<TrainConfig, String> {
    let config = TrainConfig {
        cell: parse_named_or(meta, "cell", CellKind::Tanh)?,
        layers: parse_or(meta, "layers", 1)?,
        hidden: parse_key(meta, "hidden")?,
        seq_len: parse_key(meta, "seq_len")?,
        lr: parse_key(meta, "lr")?,
        clip: parse_key(meta, "clip")?,
        clip_norm: parse_opt(meta, "clip_norm")?,
        lr_decay: parse_key(meta, "lr_decay")?,
        lr_decay_every: parse_key(meta, "lr_decay_every")?,
        lr_schedule: parse_named_or(meta, "lr_schedule", LrSchedule::Step)?,
        warmup: parse_or(meta, "warmup", 0)?,
        patience: parse_or(meta, "patience", DEFAULT_PATIENCE)?,
        epochs: parse_key(meta, "epochs")?,
        seed: parse_key(meta, "seed")?,
        optimizer: parse_named(meta, "optimizer")?,
        grad: parse_named(meta, "grad")?,
        streams: parse_key(meta, "streams")?,
        shards: parse_key(meta, "shards")?,
        parallel: parse_named(meta, "parallel")?,
        threads: 1,
        drop_tail: parse_key(meta, "drop_tail")?,
        dropout: parse_or(meta, "dropout", 0.0)?,
        init: parse_named_or(meta, "init", InitKind::Article)?,
        weight_decay: parse_or(meta, "weight_decay", 0.0)?,
    };
    config
        .validate()
        .map_err(|e| format!("its settings cannot train ({e})"))?;
    Ok(config)
}

/// Refuses a record that no run writes (a hand-edited or damaged header),
/// where a resumed run would count on from it: its counts wrapping past the
/// largest integer, its learning rate scaled by a factor that is not in
/// [0, 1] (the plateau's cuts by `--lr-decay` ≤ 1), or a best loss that is
/// not a number, which no loss beats. An epoch trains at most the corpus's
/// characters once, so a run in its epoch `e` has trained at most
/// `(e + 1)·n` (checked with a slack of one epoch and one character).
fn check_counts(run: &RunInfo, state: &TrainState) -> Result<(), String> {
    if state.epoch > crate::config::MAX_EPOCHS {
        return Err(format!(
            "its train.epoch {} is past the most epochs a run trains ({})",
            state.epoch,
            crate::config::MAX_EPOCHS
        ));
    }
    let most = (state.epoch as u128 + 2) * (run.corpus_len as u128 + 1);
    if run.chars_seen as u128 > most {
        return Err(format!(
            "its train.chars_seen {} is more than {} of its {} characters could train",
            run.chars_seen,
            counted(state.epoch + 1, "epoch"),
            run.corpus_len
        ));
    }
    let factor = state.plateau.factor;
    if !(0.0..=1.0).contains(&factor) {
        return Err(format!("its train.lr_factor {factor} is not in [0, 1]"));
    }
    for (key, loss) in [
        ("train.best_val", run.best_val),
        ("train.plateau_best", Some(state.plateau.best)),
    ] {
        if loss.is_some_and(f64::is_nan) {
            return Err(format!("its {key} is not a number"));
        }
    }
    Ok(())
}

/// The run's record written by [`checkpoint_metadata`].
fn read_run(meta: &HashMap<String, String>) -> Result<RunInfo, String> {
    let val_frac: f64 = parse_key(meta, "val_frac")?;
    if !(0.0..1.0).contains(&val_frac) {
        return Err(format!("its val_frac {val_frac} is not in [0, 1)"));
    }
    Ok(RunInfo {
        corpus: parse_key(meta, "corpus")?,
        val_frac,
        corpus_len: parse_key(meta, "train.corpus_len")?,
        corpus_hash: parse_key(meta, "train.corpus_hash")?,
        chars_seen: parse_key(meta, "train.chars_seen")?,
        best_val: parse_opt(meta, "train.best_val")?,
        eval_every: parse_opt(meta, "train.eval_every")?,
    })
}
