//! Training settings: everything that decides a run, their defaults (chosen
//! by experiment, see the README) in one place, and the article's preset.

use crate::error::{Error, Result};
use crate::layout::{CellKind, MAX_LAYERS};

/// An enum setting whose values each have one name, written once (by
/// `named_setting!`, below): in model files, on the command line and in messages.
pub trait Named: Copy + Sized + 'static {
    /// Every value, in the order the help lists them.
    const ALL: &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;
    /// One line about the value, for `--help`.
    fn help(self) -> &'static str;
    /// The value named `name`, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// Declares an enum setting with each value's name and help line, and
/// implements [`Named`] and `Display` from them.
macro_rules! named_setting {
    ($(#[$meta:meta])* $vis:vis enum $t:ident { $($(#[$vmeta:meta])* $v:ident = $name:literal, $help:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $t {
            $(#[doc = $help] $(#[$vmeta])* $v,)+
        }
        impl Named for $t {
            const ALL: &'static [$t] = &[$($t::$v),+];
            fn name(self) -> &'static str {
                match self { $($t::$v => $name,)+ }
            }
            fn help(self) -> &'static str {
                match self { $($t::$v => $help,)+ }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_setting! {
    /// How parameters are updated from a gradient.
    pub enum OptimizerKind {
        Sgd = "sgd", "w -= lr · g (the article)";
        Adagrad = "adagrad", "m += g²; w -= lr · g / sqrt(m + 1e-8) (min-char-rnn)";
        Adam = "adam", "Adam, β1 0.9, β2 0.999, with bias correction (torch-rnn's default)";
    }
}

named_setting! {
    /// How the per-character gradients of a chunk are combined.
    pub enum GradReduce {
        Mean = "mean", "the mean over the chunk's predictions, matching the reported loss: the step size does not depend on seq_len";
        Sum = "sum", "the sum over the chunk (the article): with SGD the step grows with seq_len (Adam and Adagrad divide the scale away)";
    }
}

named_setting! {
    /// How several shards train together.
    pub enum Parallel {
        Avg = "avg", "each step, every group computes the gradient of its next chunk against the same weights; the gradients are summed in a fixed order and one update is applied (deterministic: never depends on the thread count)";
        Hogwild = "hogwild", "each group runs the article's loop and updates the shared weights without locks (relaxed atomics; not deterministic)";
    }
}

named_setting! {
    /// How the learning rate changes over a run (see [`crate::schedule`]).
    pub enum LrSchedule {
        Step = "step", "lr · F^(epoch / E) with F --lr-decay, E --lr-decay-every (F 1, the default: constant)";
        Cosine = "cosine", "lr · (1 + cos(π · fraction of the planned characters trained)) / 2: from lr to 0 at the last epoch (a resume with more --epochs stretches it, so the rate rises again)";
        Plateau = "plateau", "lr · F after every --patience validation reports in a row without a new best (F --lr-decay, default 0.5)";
    }
}

named_setting! {
    /// How the weights are drawn before training (see [`crate::model`]).
    /// Biases start at zero under every scheme.
    pub enum InitKind {
        Article = "article", "every weight N(0, 1/fan_in): Wxh 1/V, Whh and Why 1/H (the article)";
        Uniform = "uniform", "every weight U(-1/√H, 1/√H), as PyTorch's nn.RNN and nn.Linear";
        Orthogonal = "orthogonal", "Whh a uniformly random orthogonal matrix, Wxh and Why as the article's";
        Identity = "identity", "Whh = 1.0·I (the IRNN of Le et al. 2015), Wxh and Why as the article's";
    }
}

/// Everything that decides a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The recurrent cell (`--cell`; the article's tanh RNN by default).
    pub cell: CellKind,
    /// Layers of the cell stacked (`--layers`; 1 by default, more for a
    /// gated cell).
    pub layers: usize,
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
    /// The learning rate is multiplied by this after every `lr_decay_every`
    /// epochs (`step`), or at each plateau (`plateau`).
    pub lr_decay: f32,
    pub lr_decay_every: usize,
    /// The schedule of the learning rate, its linear warm-up in characters
    /// (0: none), and the plateau schedule's patience in validation reports.
    pub lr_schedule: LrSchedule,
    pub warmup: usize,
    pub patience: usize,
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
    /// Dropout rate P in [0, 1) on the non-recurrent connections while
    /// training (the tanh cell's input embedding `Wxh[:, x_t]`, each layer's
    /// `h_t` where it feeds the layer above, and the top `h_t` where it feeds
    /// the readout, per unit; see [`crate::dropout`]); 0: none.
    pub dropout: f32,
    /// How the weights are drawn (a run from `--init-from` or `--resume`
    /// starts from its model's weights instead).
    pub init: InitKind,
    /// Decoupled weight decay F (AdamW): every update also does
    /// `w -= lr · F · w` on the weight matrices, never the biases; 0: none.
    pub weight_decay: f32,
}

/// Largest hidden size: Whh alone is then 1 GiB.
pub const MAX_HIDDEN: usize = 16_384;
/// Longest chunk, and most streams per pass: beyond them the BPTT buffers
/// would not fit in memory, and nothing is gained.
pub const MAX_SEQ_LEN: usize = 100_000;
pub const MAX_STREAMS: usize = 4_096;
/// Most epochs (so that counts of characters cannot overflow).
pub const MAX_EPOCHS: usize = 1_000_000_000;

/// The automatic epoch count: 5 epochs, but the fewest that train at least
/// this many characters...
pub const AUTO_MIN_CHARS: usize = 300_000;
/// ...and no more than the fewest that train this many (at least one).
pub const AUTO_MAX_CHARS: usize = 5_000_000;
/// Shards when their count is not given (fewer for short texts): 64 make
/// 16 groups of [`DEFAULT_STREAMS`], one per thread on 16 cores. Measured
/// against 32 and 128 on two corpora (the README's "Choosing the
/// defaults"): with Adam's rate scaled as [`TrainConfig::default_lr`] does,
/// 64 learn as much per character as 32 did.
pub const DEFAULT_SHARDS: usize = 64;
/// Streams per pass when not given: 4 streams already reuse each Whh
/// element 4 times; 2 lose 12–20% of a core's throughput (H 128–256).
pub const DEFAULT_STREAMS: usize = 4;
/// Adam's default learning rate is this times √K for K shards (the
/// square-root scaling of Adam's rate with the batch, measured at K 32, 64
/// and 128)...
pub const ADAM_LR_PER_SQRT_SHARD: f32 = 0.001_875;
/// ...but never below this (the rate that short texts, with few shards,
/// were measured with)...
pub const ADAM_MIN_DEFAULT_LR: f32 = 0.002;
/// ...and for more hidden units than this, times (this / H)²: at H 512 on
/// Tiny Shakespeare the peak 0.015 diverged, 0.0075 reached 1.807 and
/// 0.00375 1.783 (the README's "Choosing the defaults").
pub const ADAM_FULL_LR_HIDDEN: usize = 256;
/// The default warm-up is this fraction of the characters the run plans
/// (4%: at 64 shards a short warm-up, 1% of the run, cost 0.05 nats on Tiny
/// Shakespeare; see the README).
pub const WARMUP_FRACTION: f64 = 0.04;
/// Validation reports without a new best before the plateau schedule cuts the rate.
pub const DEFAULT_PATIENCE: usize = 3;
/// The plateau schedule's factor when `--lr-decay` is not given.
pub const PLATEAU_DEFAULT_DECAY: f32 = 0.5;
/// Shards get at least this many characters each when their count is not given.
pub const MIN_SHARD_CHARS: usize = 10_000;

impl TrainConfig {
    /// The defaults for a training text of `train_len` characters: they
    /// learn (measured, see the README), on the article's text and on
    /// megabyte corpora alike. H 128, T 40, Adam on mean gradients at
    /// [`TrainConfig::default_lr`], clip 5, [`DEFAULT_SHARDS`] shards (at most one per [`MIN_SHARD_CHARS`])
    /// in groups of [`DEFAULT_STREAMS`], [`TrainConfig::auto_epochs`], avg,
    /// every core. The shard and stream counts do not depend on the machine,
    /// so that the default (avg) run gives the same model everywhere.
    pub fn defaults(train_len: usize) -> TrainConfig {
        let shards = DEFAULT_SHARDS.min((train_len / MIN_SHARD_CHARS).max(1));
        let (hidden, epochs) = (128, TrainConfig::auto_epochs(train_len));
        TrainConfig {
            cell: CellKind::Tanh,
            layers: 1,
            hidden,
            seq_len: 40,
            lr: TrainConfig::default_lr(OptimizerKind::Adam, shards, hidden),
            clip: 5.0,
            clip_norm: None,
            lr_decay: 1.0,
            lr_decay_every: 1,
            lr_schedule: LrSchedule::Cosine,
            warmup: TrainConfig::default_warmup(train_len, epochs),
            patience: DEFAULT_PATIENCE,
            epochs,
            seed: 42,
            optimizer: OptimizerKind::Adam,
            grad: GradReduce::Mean,
            streams: TrainConfig::default_streams(shards),
            shards,
            parallel: Parallel::Avg,
            threads: cores(),
            drop_tail: false,
            dropout: 0.0,
            init: InitKind::Article,
            weight_decay: 0.0,
        }
    }

    /// The article's program as published: H 64, lr 0.2, seed 42, clip 5,
    /// 50 epochs, seq_len 40, summed gradients, plain SGD, one thread, one
    /// shard, last partial chunk dropped. It diverges (see the README).
    pub fn article() -> TrainConfig {
        TrainConfig {
            cell: CellKind::Tanh,
            layers: 1,
            hidden: 64,
            seq_len: 40,
            lr: 0.2,
            clip: 5.0,
            clip_norm: None,
            lr_decay: 1.0,
            lr_decay_every: 1,
            lr_schedule: LrSchedule::Step,
            warmup: 0,
            patience: DEFAULT_PATIENCE,
            epochs: 50,
            seed: 42,
            optimizer: OptimizerKind::Sgd,
            grad: GradReduce::Sum,
            streams: 1,
            shards: 1,
            parallel: Parallel::Avg,
            threads: 1,
            drop_tail: true,
            dropout: 0.0,
            init: InitKind::Article,
            weight_decay: 0.0,
        }
    }

    /// The default warm-up of a run of `epochs` over `train_len` characters:
    /// [`WARMUP_FRACTION`] of the characters it plans.
    pub fn default_warmup(train_len: usize, epochs: usize) -> usize {
        (train_len as f64 * epochs as f64 * WARMUP_FRACTION) as usize
    }

    /// The default streams per pass for `shards` shards.
    pub fn default_streams(shards: usize) -> usize {
        DEFAULT_STREAMS.min(shards)
    }

    /// The streams one pass trains: `streams`, or all the shards where
    /// there are fewer (a group is never larger than the shards).
    pub fn streams_per_pass(&self) -> usize {
        self.streams.min(self.shards)
    }

    /// The default learning rate of an optimizer (with mean gradients) for
    /// `shards` shards and `hidden` units: Adam's grows as `0.001875 √K`, at
    /// least 0.002 (0.015 at 64 shards, the cosine schedule's peak), and
    /// above [`ADAM_FULL_LR_HIDDEN`] units falls as `(256 / H)²`; Adagrad's
    /// and SGD's are fixed.
    pub fn default_lr(optimizer: OptimizerKind, shards: usize, hidden: usize) -> f32 {
        match optimizer {
            OptimizerKind::Sgd => 0.1,
            OptimizerKind::Adagrad => 0.05,
            OptimizerKind::Adam => {
                let size = (ADAM_FULL_LR_HIDDEN as f32 / hidden.max(1) as f32).min(1.0);
                (ADAM_LR_PER_SQRT_SHARD * (shards as f32).sqrt()).max(ADAM_MIN_DEFAULT_LR)
                    * size
                    * size
            }
        }
    }

    /// The default epoch count for a corpus of `corpus_len` characters: 5
    /// epochs, stretched to the fewest that train at least
    /// [`AUTO_MIN_CHARS`] characters (a short text is memorised) and cut to
    /// the fewest that train [`AUTO_MAX_CHARS`] (a big one takes seconds, not
    /// hours; 4,845,000 characters train 2 epochs, 9,690,000), never below
    /// one epoch.
    pub fn auto_epochs(corpus_len: usize) -> usize {
        let n = corpus_len.max(1);
        let chars = n.saturating_mul(5).clamp(AUTO_MIN_CHARS, AUTO_MAX_CHARS);
        chars.div_ceil(n).max(1)
    }

    /// Checks that the values can train; the error names the option, the
    /// value and the allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Usage(msg));
        let in_range = |name: &str, value: usize, max: usize| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                bad(format!("{name} must be between 1 and {max}, not {value}"))
            }
        };
        in_range("--hidden", self.hidden, MAX_HIDDEN)?;
        in_range("--layers", self.layers, MAX_LAYERS)?;
        if self.layers > 1 && !self.cell.cell().stacks() {
            return bad(format!(
                "--layers {} needs a cell that stacks (--cell gru or lstm); the article's rnn is one layer",
                self.layers
            ));
        }
        in_range("--seq-len", self.seq_len, MAX_SEQ_LEN)?;
        in_range("--streams", self.streams, MAX_STREAMS)?;
        in_range("--epochs", self.epochs, MAX_EPOCHS)?;
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
        if self.patience == 0 {
            return bad("--patience must be at least 1".into());
        }
        if self.lr_schedule == LrSchedule::Plateau && self.lr_decay >= 1.0 {
            return bad(format!(
                "--lr-schedule plateau needs an --lr-decay below 1 (the factor at each plateau), not {}",
                self.lr_decay
            ));
        }
        if self.shards == 0 {
            return bad("--shards must be at least 1".into());
        }
        if self.threads == 0 {
            return bad("--threads must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), not {}", self.dropout));
        }
        if self.drop_tail && self.shards > 1 {
            return bad(
                "the article's loop (--preset article) reads one stream: use --shards 1".into(),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "--weight-decay must be a finite number of at least 0, not {}",
                self.weight_decay
            ));
        }
        Ok(())
    }

    /// Checks that weight decay keeps the weights' signs: it multiplies them
    /// by 1 − lr·F each update (lr the peak rate: the schedules only lower
    /// it, warm-up rises to it), which at lr·F ≥ 1 zeroes them or flips
    /// their signs. For settings given anew ([`crate::trainer::Trainer::new`],
    /// and `--init-from`): a file trained with such settings still loads
    /// and resumes as it was.
    pub fn check_weight_decay(&self) -> Result<()> {
        let keep = 1.0 - self.lr * self.weight_decay;
        if keep > 0.0 {
            return Ok(());
        }
        // 1/lr to 4 significant digits, rounded down (below it, lr·F < 1).
        let most = 1.0 / self.lr as f64;
        let decimals = (3 - most.log10().floor() as i32).max(0);
        let most = (most * 10f64.powi(decimals)).floor() / 10f64.powi(decimals);
        Err(Error::Usage(format!(
            "--weight-decay {} at lr {} multiplies every weight by 1 - lr·F = {keep:.3} each update, which zeroes it or flips its sign: use a --weight-decay below {most:.decimals$}",
            self.weight_decay,
            self.lr,
            decimals = decimals as usize,
        )))
    }
}

/// The default thread count: every core.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads per core beyond which more threads only add switching: a
/// thread count above this many per core is cut to it (with a warning).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// `threads`, or the most worth starting on this machine when it asks for
/// more; the second value is true when it was cut.
pub fn capped_threads(threads: usize) -> (usize, bool) {
    let max = MAX_THREADS_PER_CORE * cores();
    (threads.min(max), threads > max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &k in OptimizerKind::ALL {
            assert_eq!(OptimizerKind::from_name(k.name()), Some(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!(Parallel::from_name("hogwild"), Some(Parallel::Hogwild));
        assert_eq!(GradReduce::from_name("Sum"), None);
        for &k in InitKind::ALL {
            assert_eq!(InitKind::from_name(k.name()), Some(k));
        }
    }

    #[test]
    fn defaults_follow_the_text_length() {
        let short = TrainConfig::defaults(104);
        assert_eq!((short.shards, short.streams, short.epochs), (1, 1, 2_885));
        let long = TrainConfig::defaults(1_000_000);
        assert_eq!((long.shards, long.streams, long.epochs), (64, 4, 5));
        assert_eq!(long.shards / long.streams, 16, "groups for 16 threads");
        assert!(long.validate().is_ok());
        let mid = TrainConfig::defaults(320_000);
        assert_eq!((mid.shards, mid.streams), (32, 4));
        // A cosine schedule warmed up over 4% of the planned characters.
        assert_eq!(long.lr_schedule, LrSchedule::Cosine);
        assert_eq!(long.warmup, 200_000);
        assert_eq!(short.warmup, (104.0 * 2_885.0 * 0.04) as usize);
    }

    #[test]
    fn adam_default_lr_grows_with_the_square_root_of_the_shards() {
        let lr = |k| TrainConfig::default_lr(OptimizerKind::Adam, k, 128);
        assert_eq!(lr(1), 0.002);
        assert!((lr(64) - 0.015).abs() < 1e-7, "{}", lr(64));
        assert!((lr(16) - 0.0075).abs() < 1e-7, "{}", lr(16));
        assert_eq!(TrainConfig::default_lr(OptimizerKind::Sgd, 64, 128), 0.1);
        // Larger models: (256 / H)² above H 256.
        let at = |h| TrainConfig::default_lr(OptimizerKind::Adam, 64, h);
        assert_eq!(at(256), lr(64));
        assert!((at(512) - 0.00375).abs() < 1e-8, "{}", at(512));
        assert!((at(1024) - 0.015 / 16.0).abs() < 1e-8, "{}", at(1024));
        assert_eq!(TrainConfig::defaults(1_000_000).lr, lr(64));
    }

    #[test]
    fn dropout_must_be_a_rate_below_one() {
        let with = |dropout| TrainConfig {
            dropout,
            ..TrainConfig::defaults(1_000)
        };
        assert_eq!(TrainConfig::defaults(1_000).dropout, 0.0);
        assert_eq!(TrainConfig::article().dropout, 0.0);
        assert!(with(0.0).validate().is_ok() && with(0.5).validate().is_ok());
        for bad in [1.0, 1.5, -0.1, f32::NAN] {
            let e = with(bad).validate().unwrap_err().to_string();
            assert!(e.contains("--dropout"), "{e}");
        }
    }

    #[test]
    fn weight_decay_must_be_finite_and_not_negative() {
        let ok = |f: f32| {
            TrainConfig {
                weight_decay: f,
                ..TrainConfig::defaults(1_000)
            }
            .validate()
        };
        assert!(ok(0.0).is_ok() && ok(0.1).is_ok());
        for f in [-0.01, f32::NAN, f32::INFINITY] {
            let e = ok(f).unwrap_err().to_string();
            assert!(e.contains("--weight-decay"), "{e}");
        }
        // At lr·F ≥ 1 each update would zero the weights or flip their
        // signs (the defaults' lr for 1,000 characters is 0.002: F 500),
        // refused for settings from the command line (validate() passes
        // them: a file trained so still loads).
        let decay = |f: f32| {
            TrainConfig {
                weight_decay: f,
                ..TrainConfig::defaults(1_000)
            }
            .check_weight_decay()
        };
        assert_eq!(TrainConfig::defaults(1_000).lr, 0.002);
        assert!(decay(0.0).is_ok() && decay(499.0).is_ok() && ok(500.0).is_ok());
        for (f, keep) in [(500.0, "0.000"), (1e10, "-20000000.000")] {
            let e = decay(f).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "1 - lr·F = {keep} each update, which zeroes it or flips its sign"
                )) && e.ends_with("use a --weight-decay below 499.9"),
                "{e}"
            );
        }
        // 1/lr rounded down: at lr 0.015, 66.66 (66.67 would be refused).
        let e = TrainConfig {
            lr: 0.015,
            weight_decay: 100.0,
            ..TrainConfig::defaults(1_000)
        }
        .check_weight_decay()
        .unwrap_err()
        .to_string();
        assert!(e.ends_with("below 66.66"), "{e}");
        assert_eq!(TrainConfig::article().init, InitKind::Article);
        assert_eq!(TrainConfig::article().weight_decay, 0.0);
    }

    #[test]
    fn auto_epochs_stay_between_the_bounds() {
        assert_eq!(TrainConfig::auto_epochs(104), 2_885);
        assert_eq!(TrainConfig::auto_epochs(1_000_000), 5);
        assert_eq!(TrainConfig::auto_epochs(40_000_000), 1);
        // Whole epochs: the fewest that reach 5,000,000 characters.
        assert_eq!(TrainConfig::auto_epochs(4_845_000), 2);
        assert_eq!(TrainConfig::auto_epochs(1_300_000), 4);
    }
}
