//! The command line: argument definitions and what each subcommand does.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bench;
use crate::config::{GradReduce, OptimizerKind, Parallel, TrainConfig};
use crate::corpus::{self, Corpus};
use crate::error::{Error, Result};
use crate::eval;
use crate::model::Model;
use crate::model_file;
use crate::sample::{Pick, Sampler};
use crate::session::{self, Report, SessionOptions, Stop};
use crate::trainer::{self, Trainer};

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
    Train(TrainArgs),
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
    #[arg(long, value_name = "S", value_parser = positive_f32)]
    pub max_seconds: Option<f32>,
    /// Start from a published program's settings; the options above override them.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
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
    #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = positive_f32)]
    pub seconds: f32,
    /// Print one JSON object (chars_per_sec, gflops, peak_gflops, simd, ...).
    #[arg(long)]
    pub json: bool,
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

fn positive_f32_or_inf(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x > 0.0 => Ok(x),
        _ => Err("must be a positive number or inf".into()),
    }
}

/// Runs the parsed command; `None` is `train` with every default.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => train(TrainArgs {
            output: PathBuf::from("model.safetensors"),
            sample_len: 200,
            ..TrainArgs::default()
        }),
        Some(Command::Train(args)) => train(args),
        Some(Command::Sample(args)) => sample(args),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Bench(args)) => bench(args),
    }
}

/// Shards when their count is not given (fewer for short texts).
pub const DEFAULT_SHARDS: usize = 32;
/// Streams per pass when not given: 32 shards make 8 groups of 4, enough
/// for 8 threads, and 4 streams already reuse each Whh element 4 times.
pub const DEFAULT_STREAMS: usize = 4;
/// Shards get at least this many characters each when their count is not given.
pub const MIN_SHARD_CHARS: usize = 10_000;

/// The settings a `train` invocation asks for, for a training text of
/// `corpus_len` characters.
pub fn train_config(args: &TrainArgs, corpus_len: usize) -> TrainConfig {
    let article = args.preset == Some(Preset::Article);
    let mut c = if article {
        TrainConfig::article()
    } else {
        TrainConfig::new()
    };
    if let Some(o) = args.optimizer {
        c.optimizer = o;
        if !article {
            c.lr = TrainConfig::default_lr(o);
        }
    }
    c.hidden = args.hidden.unwrap_or(c.hidden);
    c.seq_len = args.seq_len.unwrap_or(c.seq_len);
    c.lr = args.lr.unwrap_or(c.lr);
    c.clip = args.clip.unwrap_or(c.clip);
    c.seed = args.seed.unwrap_or(c.seed);
    c.grad = args.grad.unwrap_or(c.grad);
    c.parallel = args.parallel.unwrap_or(c.parallel);
    // The default shard and stream counts do not depend on the machine, so
    // that the default (avg) run gives the same model everywhere.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    c.threads = args.threads.unwrap_or(if article { 1 } else { cores });
    c.shards = args.shards.unwrap_or(if article {
        1
    } else {
        DEFAULT_SHARDS.min((corpus_len / MIN_SHARD_CHARS).max(1))
    });
    c.streams = args.streams.unwrap_or(if article {
        1
    } else {
        DEFAULT_STREAMS.min(c.shards)
    });
    c.epochs = match (args.epochs, article) {
        (Some(e), _) => e,
        (None, true) => c.epochs,
        (None, false) => TrainConfig::auto_epochs(corpus_len),
    };
    c
}

/// The hyperparameters stored in a model file's metadata.
pub fn config_metadata(c: &TrainConfig) -> Vec<(String, String)> {
    [
        ("seq_len", c.seq_len.to_string()),
        ("lr", c.lr.to_string()),
        ("clip", c.clip.to_string()),
        ("epochs", c.epochs.to_string()),
        ("seed", c.seed.to_string()),
        ("optimizer", c.optimizer.to_string()),
        ("grad", c.grad.to_string()),
        ("streams", c.streams.to_string()),
        ("shards", c.shards.to_string()),
        ("parallel", c.parallel.to_string()),
        ("drop_tail", c.drop_tail.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn train(args: TrainArgs) -> Result<()> {
    let (text, name) = match &args.corpus {
        Some(path) => (corpus::read_text(path)?, path.display().to_string()),
        None => (
            corpus::BUILTIN_TEXT.to_string(),
            corpus::BUILTIN_NAME.into(),
        ),
    };
    let mut corpus = Corpus::from_text(&text).map_err(|e| in_file(&name, e))?;
    drop(text);
    let total = corpus.len();
    let val_frac = args
        .val_frac
        .unwrap_or(if total > VAL_DEFAULT_ABOVE { 0.05 } else { 0.0 });
    let val_len = (total as f64 * val_frac) as usize;
    if val_frac > 0.0 && (val_len < 2 || total - val_len < 2) {
        return Err(Error::Invalid(format!(
            "--val-frac {val_frac} of {total} characters leaves no validation text or no training text"
        )));
    }
    let val = corpus.ids.split_off(total - val_len);
    let config = train_config(&args, corpus.len());
    config.validate()?;
    model_file::check_writable(&args.output)?;
    let mut log = match &args.log {
        Some(path) => Some(CsvLog::create(path)?),
        None => None,
    };

    let mut out = std::io::stdout().lock();
    let c = &config;
    let held_out = if val.is_empty() {
        String::new()
    } else {
        format!(
            " ({} trained, last {} held out for validation)",
            corpus.len(),
            val.len()
        )
    };
    say(
        &mut out,
        format_args!(
            "training on {name}: {total} characters{held_out}, {} distinct\nH {}, seq_len {}, {} lr {} ({} gradients, clip {}), {} epochs, seed {}\n{} threads, {} shards, {} streams per pass, parallel {}",
            corpus.vocab.len(),
            c.hidden,
            c.seq_len,
            c.optimizer,
            c.lr,
            c.grad,
            c.clip,
            c.epochs,
            c.seed,
            c.threads,
            c.shards,
            c.streams,
            c.parallel,
        ),
    )?;
    let mut trainer = Trainer::new(config.clone(), &corpus)?;
    let options = SessionOptions {
        epochs: config.epochs,
        eval_every: args
            .eval_every
            .unwrap_or(DEFAULT_EVAL_EVERY.max(EVAL_EVERY_VAL_TIMES * val.len())),
        max_time: args.max_seconds.map(Duration::from_secs_f32),
    };
    let mut warned = false;
    let mut best = f64::INFINITY;
    let stop = session::run(&mut trainer, &corpus.ids, &val, &options, |r| {
        say(&mut out, format_args!("{}", report_line(r)))?;
        if let Some(log) = &mut log {
            log.row(r)?;
        }
        if !warned
            && let Some(line) = trainer::diagnose(r.train_loss, best, corpus.vocab.len(), &config)
        {
            eprintln!("{line}");
            warned = true;
        }
        best = best.min(r.train_loss);
        Ok(())
    })?;
    if stop == Stop::TimeLimit {
        say(
            &mut out,
            format_args!(
                "stopped after --max-seconds {}",
                args.max_seconds.unwrap_or(0.0)
            ),
        )?;
    }
    model_file::save(&args.output, trainer.model(), &config_metadata(&config))?;
    say(&mut out, format_args!("saved {}", args.output.display()))?;

    if args.sample_len > 0 {
        let model = trainer.model();
        let mut sampler = Sampler::new(model, config.seed);
        let prime = if config.drop_tail {
            // The article samples from 'h' with the state training left.
            sampler.set_state(&trainer.last_state());
            model.vocab.id('h').unwrap_or(0)
        } else {
            corpus.ids[0]
        };
        say(&mut out, format_args!("--- sample ---"))?;
        write_sample(
            &mut out,
            model,
            &mut sampler,
            &[prime],
            args.sample_len,
            Pick::Temperature(1.0),
        )?;
        say(&mut out, format_args!(""))?;
    }
    Ok(())
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
        Pick::Temperature(args.temperature)
    };
    let mut sampler = Sampler::new(&model, args.seed);
    let mut out = std::io::stdout().lock();
    write_sample(&mut out, &model, &mut sampler, &prime, args.len, pick)
}

/// Writes the prime and `len` generated characters, streaming; a trailing
/// newline is added only for a terminal, so piped output is exactly the text.
fn write_sample(
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

/// Corpora longer than this hold out 5% for validation by default.
const VAL_DEFAULT_ABOVE: usize = 100_000;
/// Characters between two reports by default...
const DEFAULT_EVAL_EVERY: usize = 200_000;
/// ...or this many times the held-out text, so that evaluating a large one
/// costs a small fraction of the training time.
const EVAL_EVERY_VAL_TIMES: usize = 5;

/// One report as a line of the training log.
fn report_line(r: &Report) -> String {
    let epoch = if r.epoch.fract() == 0.0 {
        format!("{:4}", r.epoch)
    } else {
        format!("{:7.2}", r.epoch)
    };
    let bits = |nats: f64| nats / std::f64::consts::LN_2;
    let val = match r.val {
        Some(v) => format!(
            "  val {:.3} nats/char ({:.3} bits/char)",
            v.loss_nats,
            v.bits_per_char()
        ),
        None => String::new(),
    };
    format!(
        "epoch {epoch}  loss {:.3} nats/char ({:.3} bits/char){val}  {:.0} chars/s  {:.1} s",
        r.train_loss,
        bits(r.train_loss),
        r.chars_per_sec,
        r.elapsed_s
    )
}

/// The `--log` CSV file: one row per report, flushed as it is written.
struct CsvLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl CsvLog {
    const HEADER: &'static str = "elapsed_s,epoch,chars_seen,train_loss,val_loss";

    fn create(path: &std::path::Path) -> Result<CsvLog> {
        let file = std::fs::File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let mut log = CsvLog {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        };
        log.line(format_args!("{}", Self::HEADER))?;
        Ok(log)
    }

    fn row(&mut self, r: &Report) -> Result<()> {
        let val = r
            .val
            .map_or(String::new(), |v| format!("{:.6}", v.loss_nats));
        self.line(format_args!(
            "{:.3},{:.4},{},{:.6},{val}",
            r.elapsed_s, r.epoch, r.chars_seen, r.train_loss
        ))
    }

    fn line(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }
}

/// Prefixes an input error with the file it came from.
fn in_file(name: &impl std::fmt::Display, e: Error) -> Error {
    match e {
        Error::Invalid(msg) => Error::Invalid(format!("{name}: {msg}")),
        other => other,
    }
}

/// Writes one line to standard output.
fn say(out: &mut impl Write, line: std::fmt::Arguments<'_>) -> Result<()> {
    writeln!(out, "{line}").map_err(Error::Output)
}
