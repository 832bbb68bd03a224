//! The command line: argument definitions and what each subcommand does.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bench;
use crate::config::{GradReduce, OptimizerKind, Parallel, TrainConfig};
use crate::corpus::{self, Corpus};
use crate::error::{Error, Result};
use crate::eval;
use crate::model::Model;
use crate::model_file;
use crate::plot;
use crate::sample::{Pick, Sampler};
use crate::train_command;

/// Train character-level tanh RNN language models on a CPU, fast, and sample text from them.
#[derive(Debug, Parser)]
#[command(
    name = "rnn-fast",
    version,
    after_help = "Examples:\n  rnn-fast                                  train on the article's text and print a sample\n  rnn-fast train big.txt -o big.safetensors\n  rnn-fast sample big.safetensors --prime \"ROMEO:\" --len 500\n  rnn-fast eval big.safetensors held-out.txt --json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on a UTF-8 text file and save it.
    #[command(
        after_help = "Examples:\n  rnn-fast train                            the article's text (built in), then a sample\n  rnn-fast train input.txt --hidden 256 --epochs 2 -o shakespeare.safetensors\n  rnn-fast train --preset article           the article's exact settings (it diverges)"
    )]
    Train(Box<TrainArgs>),
    /// Generate text from a model.
    #[command(
        after_help = "Examples:\n  rnn-fast sample model.safetensors --prime \"ROMEO:\" --len 500 --temperature 0.8\n  rnn-fast sample model.safetensors --prime h --argmax"
    )]
    Sample(SampleArgs),
    /// Score a model on a text: mean cross-entropy in nats and bits per character.
    #[command(after_help = "Example:\n  rnn-fast eval model.safetensors held-out.txt --json")]
    Eval(EvalArgs),
    /// Train for a few seconds and report characters/s, GFLOP/s and the fraction of the FMA peak.
    #[command(
        after_help = "Examples:\n  rnn-fast bench --hidden 256 --corpus input.txt\n  rnn-fast bench --hidden 256 --streams 32 --seconds 5 --json"
    )]
    Bench(BenchArgs),
    /// Draw the loss curves of a --log CSV file as SVG: train and validation
    /// loss against characters seen and against time.
    #[command(
        after_help = "Example:\n  rnn-fast train input.txt --log run.csv && rnn-fast plot run.csv -o loss.svg"
    )]
    Plot(PlotArgs),
}

/// Settings that reproduce a published program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The article's program: H 64, SGD lr 0.2 on summed gradients, clip 5,
    /// 50 epochs, seq_len 40, seed 42, last partial chunk never trained.
    Article,
}

#[derive(Debug, Default, Args)]
pub struct TrainArgs {
    /// Text file to learn (UTF-8). Without it, the article's 104-character demo text.
    pub corpus: Option<PathBuf>,
    /// Where to save the model.
    #[arg(short, long, default_value = "model.safetensors")]
    pub output: PathBuf,
    /// Hidden size H [default: 128].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub hidden: Option<usize>,
    /// Characters per truncated-BPTT chunk T [default: 40].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub seq_len: Option<usize>,
    /// Learning rate [default: 0.002 for adam, 0.05 for adagrad, 0.1 for sgd].
    #[arg(long, value_name = "F", value_parser = positive_f32, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Clamp every gradient entry to [-F, F] [default: 5].
    #[arg(long, value_name = "F", value_parser = positive_f32_or_inf, allow_negative_numbers = true)]
    pub clip: Option<f32>,
    /// Passes over the corpus [default: 5, stretched to at least 300,000 and cut to at most 5,000,000 characters].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub epochs: Option<usize>,
    /// Seed of the weight initialisation [default: 42].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Update rule [default: adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Gradient of a chunk: the mean over its characters, or the article's sum [default: mean].
    #[arg(long, value_enum)]
    pub grad: Option<GradReduce>,
    /// Streams per forward/backward pass (B): the shards are processed in
    /// groups of this many, one group per thread at a time [default: 4].
    #[arg(long, value_name = "B", value_parser = at_least_one)]
    pub streams: Option<usize>,
    /// Worker threads [default: all cores]. With --parallel avg the result does not depend on it.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Contiguous shards of the corpus, each read in order with its own hidden
    /// state, one update for all (K) [default: 32, at most one per 10,000 characters].
    #[arg(long, value_name = "K", value_parser = at_least_one)]
    pub shards: Option<usize>,
    /// How shards train together: avg (deterministic gradient averaging) or hogwild (lock-free).
    #[arg(long, value_enum)]
    pub parallel: Option<Parallel>,
    /// Fraction of the corpus, at its end, held out to report a validation loss
    /// [default: 0.05 above 100,000 characters, else 0].
    #[arg(long, value_name = "F", value_parser = fraction)]
    pub val_frac: Option<f64>,
    /// Report (and evaluate) every N trained characters, besides epoch ends
    /// [default: 200,000 or 5 × the held-out characters, whichever is larger; 0: epoch ends only].
    #[arg(long, value_name = "N")]
    pub eval_every: Option<usize>,
    /// Write one CSV row per report: elapsed_s,epoch,chars_seen,train_loss,val_loss.
    #[arg(long, value_name = "FILE.csv")]
    pub log: Option<PathBuf>,
    /// Stop training after S seconds (evaluations not counted) and save the model.
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub max_seconds: Option<f32>,
    /// Scale the whole gradient down to this L2 norm when above it (global norm clipping).
    #[arg(long, value_name = "F", value_parser = positive_f32)]
    pub clip_norm: Option<f32>,
    /// Multiply the learning rate by F after every --lr-decay-every epochs [default: 1, no decay].
    #[arg(long, value_name = "F", value_parser = positive_f32)]
    pub lr_decay: Option<f32>,
    /// Epochs between two learning-rate decays [default: 1].
    #[arg(long, value_name = "EPOCHS", value_parser = at_least_one)]
    pub lr_decay_every: Option<usize>,
    /// Start from a published program's settings; the options above override them.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Continue the run saved in CKPT (a model file written by train is a
    /// checkpoint); --epochs counts the whole run. Training settings come
    /// from the checkpoint.
    #[arg(long, value_name = "CKPT", conflicts_with_all = ["init_from", "preset"])]
    pub resume: Option<PathBuf>,
    /// Fine-tune the weights of MODEL on CORPUS (same vocabulary, same H),
    /// with a fresh optimizer.
    #[arg(long, value_name = "MODEL")]
    pub init_from: Option<PathBuf>,
    /// Also save a checkpoint to the output path every S seconds (and at the
    /// end; the best validation loss goes to OUTPUT with `.best` before the extension).
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub checkpoint_every: Option<f32>,
    /// Print a sample of 200 characters every N trained characters.
    #[arg(long, value_name = "N")]
    pub sample_every: Option<usize>,
    /// Print nothing but warnings and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Characters of sample printed after training (0: none).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub sample_len: usize,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Model file written by `rnn-fast train`.
    pub model: PathBuf,
    /// Text that warms up the hidden state (from zeros) and starts the output
    /// [default: a newline, or the first character of the vocabulary].
    #[arg(long, value_name = "TEXT")]
    pub prime: Option<String>,
    /// Characters to generate after the prime.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub len: usize,
    /// Divides the logits: below 1 is more conservative, above 1 more varied.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = positive_f32, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Draw only among the K most likely characters.
    #[arg(long, value_name = "K", value_parser = at_least_one)]
    pub top_k: Option<usize>,
    /// Always take the most likely character (deterministic; ignores --temperature).
    #[arg(long)]
    pub argmax: bool,
    /// Seed of the sampling draws: the same seed gives the same text.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model file written by `rnn-fast train`.
    pub model: PathBuf,
    /// UTF-8 text to score (its characters must be in the model's vocabulary).
    pub text: PathBuf,
    /// Print one JSON object: {"chars": N, "loss_nats": x, "bits_per_char": y}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Text to train on [default: the article's text, built in].
    #[arg(long, value_name = "FILE")]
    pub corpus: Option<PathBuf>,
    /// Hidden size H.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = at_least_one)]
    pub hidden: usize,
    /// Streams trained together (B).
    #[arg(long, value_name = "B", default_value_t = 1, value_parser = at_least_one)]
    pub streams: usize,
    /// Characters per chunk (T).
    #[arg(long, value_name = "N", default_value_t = 40, value_parser = at_least_one)]
    pub seq_len: usize,
    /// Worker threads [default: 1].
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one)]
    pub threads: usize,
    /// Shards (K) [default: threads × streams].
    #[arg(long, value_name = "K", value_parser = at_least_one)]
    pub shards: Option<usize>,
    /// avg or hogwild.
    #[arg(long, value_enum, default_value_t = Parallel::Avg)]
    pub parallel: Parallel,
    /// Seconds to measure (after a short warm-up).
    #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = seconds)]
    pub seconds: f32,
    /// Print one JSON object (chars_per_sec, gflops, peak_gflops, simd, ...).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// CSV written by `rnn-fast train --log`.
    pub log: PathBuf,
    /// The SVG file to write.
    #[arg(short, long, default_value = "loss.svg")]
    pub output: PathBuf,
}

fn fraction(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err("must be a number in [0, 1)".into()),
    }
}

fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of at least 1".into()),
    }
}

fn positive_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("must be a positive number".into()),
    }
}

/// A duration in seconds: positive, and at most a year.
fn seconds(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 31_536_000.0 => Ok(x),
        _ => Err("must be a number of seconds, above 0 and at most 31536000 (a year)".into()),
    }
}

fn positive_f32_or_inf(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x > 0.0 => Ok(x),
        _ => Err("must be a positive number or inf".into()),
    }
}

/// Runs the parsed command; `None` is `train` with every default.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => train_command::run(TrainArgs {
            output: PathBuf::from("model.safetensors"),
            sample_len: 200,
            ..TrainArgs::default()
        }),
        Some(Command::Train(args)) => train_command::run(*args),
        Some(Command::Sample(args)) => sample(args),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Bench(args)) => bench(args),
        Some(Command::Plot(args)) => plot::run(&args.log, &args.output),
    }
}

fn sample(args: SampleArgs) -> Result<()> {
    let model = model_file::load(&args.model)?.model;
    let prime: Vec<u16> = match &args.prime {
        Some(p) if p.is_empty() => {
            return Err(Error::Invalid(
                "--prime must not be empty (leave it out for the default)".into(),
            ));
        }
        Some(p) => model
            .vocab
            .encode(p)
            .map_err(|e| Error::Invalid(format!("--prime: {e}")))?,
        None => vec![model.vocab.id('\n').unwrap_or(0)],
    };
    let pick = if args.argmax {
        Pick::Argmax
    } else {
        Pick::Draw {
            temperature: args.temperature,
            top_k: args.top_k,
        }
    };
    let mut sampler = Sampler::new(&model, args.seed);
    let mut out = std::io::stdout().lock();
    write_sample(&mut out, &model, &mut sampler, &prime, args.len, pick)
}

/// Writes the prime and `len` generated characters, streaming; a trailing
/// newline is added only for a terminal, so piped output is exactly the text.
pub(crate) fn write_sample(
    out: &mut impl Write,
    model: &Model,
    sampler: &mut Sampler<'_>,
    prime: &[u16],
    len: usize,
    pick: Pick,
) -> Result<()> {
    let mut buf = [0u8; 4];
    let mut last = '\n';
    for &id in prime {
        last = model.vocab.char(id);
        out.write_all(last.encode_utf8(&mut buf).as_bytes())
            .map_err(Error::Output)?;
    }
    sampler.generate(prime, len, pick, |id| {
        last = model.vocab.char(id);
        out.write_all(last.encode_utf8(&mut buf).as_bytes())
            .map_err(Error::Output)
    })?;
    if last != '\n' && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        out.write_all(b"\n").map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)
}

fn eval(args: EvalArgs) -> Result<()> {
    let model = model_file::load(&args.model)?.model;
    let text = corpus::read_text(&args.text)?;
    let corpus =
        Corpus::with_vocab(&text, &model.vocab).map_err(|e| in_file(&args.text.display(), e))?;
    let score = eval::evaluate(&model, &corpus.ids);
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::json!({
            "chars": score.chars,
            "loss_nats": score.loss_nats,
            "bits_per_char": score.bits_per_char(),
        });
        say(&mut out, format_args!("{json}"))
    } else {
        say(
            &mut out,
            format_args!(
                "{}: {} characters, loss {:.6} nats/char ({:.6} bits/char)",
                args.text.display(),
                score.chars,
                score.loss_nats,
                score.bits_per_char()
            ),
        )
    }
}

fn bench(args: BenchArgs) -> Result<()> {
    let text = match &args.corpus {
        Some(path) => corpus::read_text(path)?,
        None => corpus::BUILTIN_TEXT.to_string(),
    };
    let corpus = Corpus::from_text(&text)?;
    let config = TrainConfig {
        hidden: args.hidden,
        seq_len: args.seq_len,
        streams: args.streams,
        threads: args.threads,
        shards: args.shards.unwrap_or(args.threads * args.streams),
        parallel: args.parallel,
        ..TrainConfig::new()
    };
    let report = bench::run(&corpus, config, args.seconds as f64)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        say(&mut out, format_args!("{}", report.to_json()))
    } else {
        say(&mut out, format_args!("{report}"))
    }
}

/// Prefixes an input error with the file it came from.
pub(crate) fn in_file(name: &impl std::fmt::Display, e: Error) -> Error {
    match e {
        Error::Invalid(msg) => Error::Invalid(format!("{name}: {msg}")),
        other => other,
    }
}

/// Writes one line to standard output.
pub(crate) fn say(out: &mut impl Write, line: std::fmt::Arguments<'_>) -> Result<()> {
    writeln!(out, "{line}").map_err(Error::Output)
}
