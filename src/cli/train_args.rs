//! `rnn-fast train`'s arguments (what the user typed) and their conversion
//! into the run's settings: the defaults are [`TrainConfig::defaults`], the
//! preset [`TrainConfig::article`], and every option given replaces its
//! value.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rnn_fast::config::{
    GradReduce, InitKind, LrSchedule, OptimizerKind, PLATEAU_DEFAULT_DECAY, Parallel, TrainConfig,
};
use rnn_fast::layout::CellKind;

use super::values::{
    at_least_one, count, decay_factor, fraction, fraction_f32, named, non_negative_f32,
    positive_f32, positive_f32_or_inf, seconds, seed,
};

/// Corpora longer than this hold out 5% for validation by default.
const VAL_DEFAULT_ABOVE: usize = 100_000;
/// Settings that reproduce a published program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The article's program: H 64, SGD lr 0.2 on summed gradients, clip 5,
    /// 50 epochs, seq_len 40, seed 42, last partial chunk never trained.
    Article,
}

/// Where a run saves its model unless `-o` says.
pub const DEFAULT_OUTPUT: &str = "model.safetensors";

#[derive(Debug, Default, Args)]
pub struct TrainArgs {
    /// Text file to learn (UTF-8). Without it, the article's 104-character demo text.
    pub corpus: Option<PathBuf>,
    /// Where to save the model (never over the corpus or another input; an
    /// existing model this run did not start from is kept: see --force).
    #[arg(short, long, default_value = DEFAULT_OUTPUT)]
    pub output: PathBuf,
    /// The recurrent cell [default: rnn, the article's; with --init-from,
    /// the model's, and another is an error].
    #[arg(long, value_parser = named::<CellKind>())]
    pub cell: Option<CellKind>,
    /// Layers of the cell stacked, each of H units: layer 1 reads the
    /// character, each above the h of the one below, the output layer the
    /// top one's (more than 1: gru or lstm; at most 8) [default: 1; with
    /// --init-from, the model's, and another is an error].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub layers: Option<usize>,
    /// Hidden size H, at most 16384 [default: 128].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub hidden: Option<usize>,
    /// Characters per truncated-BPTT chunk T, at most 100000 [default: 40].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub seq_len: Option<usize>,
    /// Learning rate, the schedule's peak [default: adam 0.001875·√K for K
    /// shards, at least 0.002 (0.015 at 64 shards), times (256/H)² above H
    /// 256; adagrad 0.05; sgd 0.1].
    #[arg(long, value_name = "F", value_parser = positive_f32, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Clamp every gradient entry to [-F, F] [default: 5; none with --clip-norm].
    #[arg(long, value_name = "F", value_parser = positive_f32_or_inf, allow_negative_numbers = true)]
    pub clip: Option<f32>,
    /// Passes over the corpus [default: 5, stretched to the fewest that train 300,000 characters, and cut to the fewest that train 5,000,000 (at least 1)].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Seed of the weight initialisation [default: 42].
    #[arg(long, value_name = "N", value_parser = seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Update rule [default: adam].
    #[arg(long, value_parser = named::<OptimizerKind>())]
    pub optimizer: Option<OptimizerKind>,
    /// Gradient of a chunk: the mean over its characters, or the article's sum [default: mean].
    #[arg(long, value_parser = named::<GradReduce>())]
    pub grad: Option<GradReduce>,
    /// Streams per forward/backward pass (B): the shards are processed in
    /// groups of this many, one group per thread at a time; more than the
    /// shards is cut to them, with a warning [default: 4, at most the
    /// shards; 1 with --preset article].
    #[arg(long, value_name = "B", value_parser = at_least_one, allow_negative_numbers = true)]
    pub streams: Option<usize>,
    /// Worker threads [default: all cores]. With --parallel avg the result does not depend on it.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Contiguous shards of the corpus, each read in order with its own hidden
    /// state, one update for all (K) [default: 64, at most one per 10,000 characters].
    #[arg(long, value_name = "K", value_parser = at_least_one, allow_negative_numbers = true)]
    pub shards: Option<usize>,
    /// How shards train together [default: avg].
    #[arg(long, value_parser = named::<Parallel>())]
    pub parallel: Option<Parallel>,
    /// Fraction of the corpus, at its end, held out to report a validation loss
    /// [default: 0.05 above 100,000 characters, else 0].
    #[arg(long, value_name = "F", value_parser = fraction, allow_negative_numbers = true)]
    pub val_frac: Option<f64>,
    /// Report (and evaluate) every N trained characters, besides epoch ends
    /// [default: 200,000 or 5 × the held-out characters, whichever is larger; 0: epoch ends only].
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub eval_every: Option<usize>,
    /// Write one CSV row per report: elapsed_s,epoch,chars_seen,train_loss,val_loss.
    /// Every report's training loss (line, CSV, progress bar) is the mean over the
    /// characters trained since the report before it. With --resume, the log named
    /// is continued: a stopped run's "resume with" line names the one it wrote.
    #[arg(long, value_name = "FILE.csv")]
    pub log: Option<PathBuf>,
    /// Stop training after S seconds (evaluations not counted) and save the model.
    #[arg(long, value_name = "S", value_parser = seconds, allow_negative_numbers = true)]
    pub max_seconds: Option<f32>,
    /// Scale the whole gradient down to this L2 norm when above it (global norm clipping).
    #[arg(long, value_name = "F", value_parser = positive_f32, allow_negative_numbers = true)]
    pub clip_norm: Option<f32>,
    /// With --lr-schedule step: multiply the learning rate by F after every
    /// --lr-decay-every epochs [default: 1, no decay]; with plateau, after
    /// every --patience reports without a new best [default: 0.5].
    #[arg(long, value_name = "F", value_parser = decay_factor, allow_negative_numbers = true)]
    pub lr_decay: Option<f32>,
    /// With --lr-schedule step: epochs between two learning-rate decays [default: 1].
    #[arg(long, value_name = "EPOCHS", value_parser = at_least_one, allow_negative_numbers = true)]
    pub lr_decay_every: Option<usize>,
    /// How the learning rate changes over the run [default: cosine; the article's preset: step].
    #[arg(long, value_name = "SCHEDULE", value_parser = named::<LrSchedule>())]
    pub lr_schedule: Option<LrSchedule>,
    /// Raise the learning rate linearly from 0 over the first N trained
    /// characters [default: 4% of the characters the run plans; the article's preset: 0].
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub warmup: Option<usize>,
    /// With --lr-schedule plateau: validation reports in a row without a new
    /// best before the rate is multiplied by --lr-decay [default: 3].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub patience: Option<usize>,
    /// Start from a published program's settings; the options above override them.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Continue the run saved in CKPT (a model file written by train is a
    /// checkpoint); --epochs counts the whole run. Training settings come
    /// from the checkpoint: options that repeat them must give the same
    /// values. -o may name CKPT itself.
    #[arg(long, value_name = "CKPT", conflicts_with_all = ["init_from", "preset"])]
    pub resume: Option<PathBuf>,
    /// Fine-tune the weights of MODEL on CORPUS (same vocabulary, same H),
    /// with a fresh optimizer.
    #[arg(long, value_name = "MODEL")]
    pub init_from: Option<PathBuf>,
    /// Also save a checkpoint to the output path every S seconds (and at the
    /// end). With held-out text every run also keeps its best model by
    /// validation at its reports beside OUTPUT, with `.best` before the
    /// extension (a run stopped before its first report keeps none).
    #[arg(long, value_name = "S", value_parser = seconds, allow_negative_numbers = true)]
    pub checkpoint_every: Option<f32>,
    /// Print a sample of 200 characters every N trained characters (0:
    /// none, as without it).
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub sample_every: Option<usize>,
    /// Replace an existing model at the output (or log at --log) that this
    /// run did not start from (without it, the run saves beside it and says
    /// so). A file that is not an rnn-fast model (or log) is never replaced;
    /// an empty file, which holds nothing to lose, is.
    #[arg(long)]
    pub force: bool,
    /// Print nothing but warnings and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Characters of sample printed after training (0: none).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = count, allow_negative_numbers = true)]
    pub sample_len: usize,
    /// Dropout rate P in [0, 1) while training, on the non-recurrent
    /// connections only: each unit of the input's embedding Wxh[:, x_t] (the
    /// rnn cell's; gru and lstm do not drop their input), of each layer's h_t
    /// where it feeds the layer above (--layers), and of h_t where it feeds
    /// the output layer is zeroed with probability P
    /// (kept ones scaled by 1/(1-P)); the recurrence h_t → h_{t+1} is never
    /// dropped; validation, eval and sampling use no dropout [default: 0].
    #[arg(long, value_name = "P", value_parser = fraction_f32, allow_negative_numbers = true)]
    pub dropout: Option<f32>,
    /// How the weights are drawn (biases start at zero) [default: article].
    /// Not with --init-from, whose weights come from the model.
    #[arg(long, value_parser = named::<InitKind>(), conflicts_with = "init_from")]
    pub init: Option<InitKind>,
    /// Decoupled weight decay (AdamW): every update of every optimizer also
    /// does w -= lr·F·w on the weight matrices (not the biases) [default: 0, none].
    #[arg(long, value_name = "F", value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
}

impl TrainArgs {
    /// `rnn-fast` with no arguments: `train` with every default.
    pub fn parse_defaults() -> TrainArgs {
        TrainArgs {
            output: PathBuf::from(DEFAULT_OUTPUT),
            sample_len: 200,
            ..TrainArgs::default()
        }
    }

    /// The settings a fresh run asks for, for a training text of
    /// `train_len` characters: the defaults (or the preset's), then every
    /// option given; `model_hidden`, the H of the model `--init-from`
    /// starts from, stands for `--hidden` (and so sets the default rate).
    pub fn settings(&self, train_len: usize, model_hidden: Option<usize>) -> TrainConfig {
        let article = self.preset == Some(Preset::Article);
        let base = if article {
            TrainConfig::article()
        } else {
            TrainConfig::defaults(train_len)
        };
        let optimizer = self.optimizer.unwrap_or(base.optimizer);
        let shards = self.shards.unwrap_or(base.shards);
        let lr_schedule = self.lr_schedule.unwrap_or(base.lr_schedule);
        let epochs = self.epochs.unwrap_or(base.epochs);
        let hidden = self.hidden.or(model_hidden).unwrap_or(base.hidden);
        let lr = match self.lr {
            Some(lr) => lr,
            None if article => base.lr,
            None => TrainConfig::default_lr(optimizer, shards, hidden),
        };
        let clip_norm = self.clip_norm.or(base.clip_norm);
        // A norm clip replaces the element-wise one unless both are asked for.
        let default_clip = if clip_norm.is_some() {
            f32::INFINITY
        } else {
            base.clip
        };
        TrainConfig {
            cell: self.cell.unwrap_or(base.cell),
            layers: self.layers.unwrap_or(base.layers),
            hidden,
            seq_len: self.seq_len.unwrap_or(base.seq_len),
            lr,
            clip: self.clip.unwrap_or(default_clip),
            clip_norm,
            lr_decay: self.lr_decay.unwrap_or(match lr_schedule {
                LrSchedule::Plateau => PLATEAU_DEFAULT_DECAY,
                _ => base.lr_decay,
            }),
            lr_decay_every: self.lr_decay_every.unwrap_or(base.lr_decay_every),
            lr_schedule,
            warmup: match (self.warmup, article) {
                (Some(w), _) => w,
                (None, true) => base.warmup,
                (None, false) => TrainConfig::default_warmup(train_len, epochs),
            },
            patience: self.patience.unwrap_or(base.patience),
            epochs,
            seed: self.seed.unwrap_or(base.seed),
            optimizer,
            grad: self.grad.unwrap_or(base.grad),
            streams: self.streams.unwrap_or(match article {
                true => base.streams,
                false => TrainConfig::default_streams(shards),
            }),
            shards,
            parallel: self.parallel.unwrap_or(base.parallel),
            threads: self.threads.unwrap_or(base.threads),
            drop_tail: base.drop_tail,
            dropout: self.dropout.unwrap_or(base.dropout),
            init: self.init.unwrap_or(base.init),
            weight_decay: self.weight_decay.unwrap_or(base.weight_decay),
        }
    }

    /// The fraction held out for validation of a fresh run on `total` characters.
    pub fn val_frac(&self, total: usize) -> f64 {
        self.val_frac.unwrap_or(default_val_frac(total))
    }
}

/// The fraction of a text of `total` characters that `train` holds out for
/// validation unless told: 5% above [`VAL_DEFAULT_ABOVE`] characters, else none.
pub fn default_val_frac(total: usize) -> f64 {
    if total > VAL_DEFAULT_ABOVE { 0.05 } else { 0.0 }
}

/// The characters `train` learns from in a text of `total` characters held
/// out by `val_frac`: the text before its validation part.
pub fn train_len(total: usize, val_frac: f64) -> usize {
    total - (total as f64 * val_frac) as usize
}
