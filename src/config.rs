//! Training hyperparameters, the defaults (chosen by experiment, see the
//! README) and the article's preset.

use crate::error::{Error, Result};

/// How parameters are updated from a gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    /// `w -= lr · g` (the article).
    Sgd,
    /// `m += g²; w -= lr · g / sqrt(m + 1e-8)` (min-char-rnn).
    Adagrad,
    /// Adam, β1 0.9, β2 0.999, with bias correction (torch-rnn's default).
    Adam,
}

/// How the per-character gradients of a chunk are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GradReduce {
    /// The mean over the chunk's predictions, matching the mean loss that is
    /// reported: the step size does not depend on `seq_len`.
    Mean,
    /// The sum over the chunk (the article): the step grows with `seq_len`.
    Sum,
}

/// How several shards train together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Parallel {
    /// Every step, each group of streams computes the gradient of its next
    /// chunk against the same weights; the gradients are summed in a fixed
    /// order and one update is applied. Deterministic: the result depends
    /// on the seed, the shard count and the streams per group, never on the
    /// thread count.
    Avg,
    /// Each group of streams runs the article's loop and applies its own
    /// updates to the shared weights without locks (relaxed atomics).
    /// Not deterministic.
    Hogwild,
}

/// Everything that decides a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Hidden size H.
    pub hidden: usize,
    /// Unroll length T: characters per chunk.
    pub seq_len: usize,
    /// Learning rate.
    pub lr: f32,
    /// Element-wise gradient clip: every gradient entry is clamped to `[-clip, clip]`.
    pub clip: f32,
    /// Global norm clip: the whole gradient is scaled down to this L2 norm
    /// when above it (before the element-wise clip).
    pub clip_norm: Option<f32>,
    /// The learning rate is multiplied by this after every `lr_decay_every` epochs.
    pub lr_decay: f32,
    pub lr_decay_every: usize,
    /// Passes over the corpus.
    pub epochs: usize,
    /// Seed of the weight initialisation.
    pub seed: u64,
    pub optimizer: OptimizerKind,
    pub grad: GradReduce,
    /// Streams trained together in one forward/backward pass (B): the
    /// shards are processed in groups of this many.
    pub streams: usize,
    /// Contiguous shards the corpus is cut into (K), each read in order with
    /// its own hidden state.
    pub shards: usize,
    /// How the groups of shards are combined.
    pub parallel: Parallel,
    /// Worker threads; with `Parallel::Avg` the result does not depend on it.
    pub threads: usize,
    /// The article's loop `while p + seq_len + 1 < N`: the last partial
    /// chunk of every epoch is never trained.
    pub drop_tail: bool,
}

/// Largest hidden size: Whh alone is then 1 GiB.
pub const MAX_HIDDEN: usize = 16_384;
/// Longest chunk, and most streams per pass: beyond them the BPTT buffers
/// would not fit in memory, and nothing is gained.
pub const MAX_SEQ_LEN: usize = 100_000;
pub const MAX_STREAMS: usize = 4_096;
/// Most epochs (so that counts of characters cannot overflow).
pub const MAX_EPOCHS: usize = 1_000_000_000;

/// The automatic epoch count: 5 epochs, but at least this many characters...
pub const AUTO_MIN_CHARS: usize = 300_000;
/// ...and at most this many (and at least one epoch).
pub const AUTO_MAX_CHARS: usize = 5_000_000;

impl TrainConfig {
    /// The defaults: they learn (measured, see the README), on the article's
    /// text and on megabyte corpora alike.
    pub fn new() -> TrainConfig {
        TrainConfig {
            hidden: 128,
            seq_len: 40,
            lr: 0.002,
            clip: 5.0,
            clip_norm: None,
            lr_decay: 1.0,
            lr_decay_every: 1,
            epochs: 1,
            seed: 42,
            optimizer: OptimizerKind::Adam,
            grad: GradReduce::Mean,
            streams: 1,
            shards: 1,
            parallel: Parallel::Avg,
            threads: 1,
            drop_tail: false,
        }
    }

    /// The article's program as published: H 64, lr 0.2, seed 42, clip 5,
    /// 50 epochs, seq_len 40, summed gradients, plain SGD, last partial chunk
    /// dropped. It diverges (see the README).
    pub fn article() -> TrainConfig {
        TrainConfig {
            hidden: 64,
            seq_len: 40,
            lr: 0.2,
            clip: 5.0,
            clip_norm: None,
            lr_decay: 1.0,
            lr_decay_every: 1,
            epochs: 50,
            seed: 42,
            optimizer: OptimizerKind::Sgd,
            grad: GradReduce::Sum,
            streams: 1,
            shards: 1,
            parallel: Parallel::Avg,
            threads: 1,
            drop_tail: true,
        }
    }

    /// The default learning rate of an optimizer (with mean gradients).
    pub fn default_lr(optimizer: OptimizerKind) -> f32 {
        match optimizer {
            OptimizerKind::Sgd => 0.1,
            OptimizerKind::Adagrad => 0.05,
            OptimizerKind::Adam => 0.002,
        }
    }

    /// The default epoch count for a corpus of `corpus_len` characters: 5
    /// epochs, stretched to train at least [`AUTO_MIN_CHARS`] characters
    /// (a short text is memorised) and cut to at most [`AUTO_MAX_CHARS`]
    /// (a big one takes seconds, not hours), never below one epoch.
    pub fn auto_epochs(corpus_len: usize) -> usize {
        let n = corpus_len.max(1);
        let chars = n.saturating_mul(5).clamp(AUTO_MIN_CHARS, AUTO_MAX_CHARS);
        chars.div_ceil(n).max(1)
    }

    /// Checks that the values can train; the error says which one is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid(msg));
        if !(1..=MAX_HIDDEN).contains(&self.hidden) {
            return bad(format!(
                "--hidden must be between 1 and {MAX_HIDDEN}, not {}",
                self.hidden
            ));
        }
        if !(1..=MAX_SEQ_LEN).contains(&self.seq_len) {
            return bad(format!(
                "--seq-len must be between 1 and {MAX_SEQ_LEN}, not {}",
                self.seq_len
            ));
        }
        if self.streams > MAX_STREAMS {
            return bad(format!(
                "--streams must be at most {MAX_STREAMS}, not {}",
                self.streams
            ));
        }
        if self.epochs > MAX_EPOCHS {
            return bad(format!(
                "--epochs must be at most {MAX_EPOCHS}, not {}",
                self.epochs
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr must be a positive number, not {}", self.lr));
        }
        if self.clip.is_nan() || self.clip <= 0.0 {
            return bad(format!(
                "--clip must be a positive number (or inf), not {}",
                self.clip
            ));
        }
        if let Some(n) = self.clip_norm
            && !(n.is_finite() && n > 0.0)
        {
            return bad(format!("--clip-norm must be a positive number, not {n}"));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad(format!(
                "--lr-decay must be in (0, 1], not {}",
                self.lr_decay
            ));
        }
        if self.lr_decay_every == 0 {
            return bad("--lr-decay-every must be at least 1".into());
        }
        if self.epochs == 0 {
            return bad("--epochs must be at least 1".into());
        }
        if self.streams == 0 {
            return bad("--streams must be at least 1".into());
        }
        if self.shards == 0 {
            return bad("--shards must be at least 1".into());
        }
        if self.threads == 0 {
            return bad("--threads must be at least 1".into());
        }
        if self.drop_tail && self.shards > 1 {
            return bad(
                "the article's loop (--preset article) reads one stream: use --shards 1".into(),
            );
        }
        Ok(())
    }
}

impl TrainConfig {
    /// The learning rate during epoch `epoch` (0-based):
    /// `lr · lr_decay^(epoch / lr_decay_every)`.
    pub fn lr_at(&self, epoch: usize) -> f32 {
        let decays = (epoch / self.lr_decay_every).min(i32::MAX as usize) as i32;
        self.lr * self.lr_decay.powi(decays)
    }

    /// The settings as model-file metadata (string to string). The thread
    /// count is left out: it does not change an avg model.
    pub fn to_metadata(&self) -> Vec<(String, String)> {
        let mut m = vec![
            ("hidden", self.hidden.to_string()),
            ("seq_len", self.seq_len.to_string()),
            ("lr", self.lr.to_string()),
            ("clip", self.clip.to_string()),
            ("lr_decay", self.lr_decay.to_string()),
            ("lr_decay_every", self.lr_decay_every.to_string()),
            ("epochs", self.epochs.to_string()),
            ("seed", self.seed.to_string()),
            ("optimizer", self.optimizer.to_string()),
            ("grad", self.grad.to_string()),
            ("streams", self.streams.to_string()),
            ("shards", self.shards.to_string()),
            ("parallel", self.parallel.to_string()),
            ("drop_tail", self.drop_tail.to_string()),
        ];
        if let Some(n) = self.clip_norm {
            m.push(("clip_norm", n.to_string()));
        }
        m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The settings stored by [`TrainConfig::to_metadata`]; the error names
    /// the missing or unreadable key. `threads` is not stored: it is 1 here.
    pub fn from_metadata(meta: &std::collections::HashMap<String, String>) -> Result<TrainConfig> {
        fn get<T: std::str::FromStr>(
            meta: &std::collections::HashMap<String, String>,
            key: &str,
        ) -> Result<T> {
            let v = meta
                .get(key)
                .ok_or_else(|| Error::Invalid(format!("the file's metadata lacks {key:?}")))?;
            v.parse()
                .map_err(|_| Error::Invalid(format!("the file's metadata has {key} = {v:?}")))
        }
        let enum_value = |key: &str| -> Result<String> { get::<String>(meta, key) };
        let optimizer = match enum_value("optimizer")?.as_str() {
            "sgd" => OptimizerKind::Sgd,
            "adagrad" => OptimizerKind::Adagrad,
            "adam" => OptimizerKind::Adam,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown optimizer {other:?} in the file"
                )));
            }
        };
        let grad = match enum_value("grad")?.as_str() {
            "mean" => GradReduce::Mean,
            "sum" => GradReduce::Sum,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown grad {other:?} in the file"
                )));
            }
        };
        let parallel = match enum_value("parallel")?.as_str() {
            "avg" => Parallel::Avg,
            "hogwild" => Parallel::Hogwild,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown parallel {other:?} in the file"
                )));
            }
        };
        let config = TrainConfig {
            hidden: get(meta, "hidden")?,
            seq_len: get(meta, "seq_len")?,
            lr: get(meta, "lr")?,
            clip: get(meta, "clip")?,
            clip_norm: meta
                .get("clip_norm")
                .map(|_| get(meta, "clip_norm"))
                .transpose()?,
            lr_decay: get(meta, "lr_decay")?,
            lr_decay_every: get(meta, "lr_decay_every")?,
            epochs: get(meta, "epochs")?,
            seed: get(meta, "seed")?,
            optimizer,
            grad,
            streams: get(meta, "streams")?,
            shards: get(meta, "shards")?,
            parallel,
            threads: 1,
            drop_tail: get(meta, "drop_tail")?,
        };
        config.validate()?;
        Ok(config)
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::new()
    }
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adagrad => "adagrad",
            OptimizerKind::Adam => "adam",
        })
    }
}

impl std::fmt::Display for Parallel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Parallel::Avg => "avg",
            Parallel::Hogwild => "hogwild",
        })
    }
}

impl std::fmt::Display for GradReduce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GradReduce::Mean => "mean",
            GradReduce::Sum => "sum",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_decays_every_n_epochs() {
        let c = TrainConfig {
            lr: 0.1,
            lr_decay: 0.5,
            lr_decay_every: 2,
            ..TrainConfig::new()
        };
        assert_eq!(c.lr_at(0), 0.1);
        assert_eq!(c.lr_at(1), 0.1);
        assert_eq!(c.lr_at(2), 0.05);
        assert_eq!(c.lr_at(5), 0.025);
    }

    #[test]
    fn metadata_round_trips() {
        let c = TrainConfig {
            clip_norm: Some(1.5),
            parallel: Parallel::Hogwild,
            threads: 1,
            ..TrainConfig::article()
        };
        let meta = c.to_metadata().into_iter().collect();
        assert_eq!(TrainConfig::from_metadata(&meta).unwrap(), c);
        let mut broken = meta.clone();
        broken.remove("seq_len");
        let e = TrainConfig::from_metadata(&broken).unwrap_err().to_string();
        assert!(e.contains("seq_len"), "{e}");
    }

    #[test]
    fn auto_epochs_stay_between_the_bounds() {
        assert_eq!(TrainConfig::auto_epochs(104), 2_885);
        assert_eq!(TrainConfig::auto_epochs(1_000_000), 5);
        assert_eq!(TrainConfig::auto_epochs(40_000_000), 1);
    }
}
