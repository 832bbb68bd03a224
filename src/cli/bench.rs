//! `rnn-fast bench`: train for a few seconds and report the throughput.

use std::path::PathBuf;

use clap::Args;

use rnn_fast::config::{OptimizerKind, Parallel, TrainConfig};
use rnn_fast::corpus::{self, Corpus};
use rnn_fast::layout::CellKind;
use rnn_fast::message::counted;
use rnn_fast::shards::Shards;
use rnn_fast::{Error, Result, bench};

use super::output::say;
use super::train_args;
use super::values::{at_least_one, fraction_f32, named, seconds};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Text to train on [default: the article's text, built in]; one too
    /// short for every shard to hold 16 chunks of --seq-len is trained over
    /// end to end as many times as that takes, up to 16,777,216 characters
    /// (the report's `text` line says how many times, and how many chunks
    /// each shard holds), so that the figures are those of whole chunks.
    #[arg(long, value_name = "FILE")]
    pub corpus: Option<PathBuf>,
    /// The recurrent cell (see train --cell).
    #[arg(long, default_value = "rnn", value_parser = named::<CellKind>())]
    pub cell: CellKind,
    /// Layers of the cell stacked, at most 8 (see train --layers).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one, allow_negative_numbers = true)]
    pub layers: usize,
    /// Hidden size H, at most 16384.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = at_least_one, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Streams trained together (B); more than --shards is cut to them,
    /// with a warning [default: train's for this corpus: 4 above 40,000
    /// characters].
    #[arg(long, value_name = "B", value_parser = at_least_one, allow_negative_numbers = true)]
    pub streams: Option<usize>,
    /// Characters per chunk (T), at most 100000.
    #[arg(long, value_name = "N", default_value_t = 40, value_parser = at_least_one, allow_negative_numbers = true)]
    pub seq_len: usize,
    /// Worker threads.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one, allow_negative_numbers = true)]
    pub threads: usize,
    /// Shards (K) [default: train's for this corpus (64 from 640,000
    /// training characters, the corpus less the 5% held out: 16 groups of
    /// 4); with --streams B, B × threads].
    #[arg(long, value_name = "K", value_parser = at_least_one, allow_negative_numbers = true)]
    pub shards: Option<usize>,
    /// How shards train together.
    #[arg(long, default_value = "avg", value_parser = named::<Parallel>())]
    pub parallel: Parallel,
    /// Seconds to measure (after a short warm-up).
    #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = seconds, allow_negative_numbers = true)]
    pub seconds: f32,
    /// Print one JSON object (chars_per_sec, gflops, peak_gflops, simd, ...).
    #[arg(long)]
    pub json: bool,
    /// Update rule (see train --optimizer), with train's learning rate for
    /// it [default: train's, adam].
    #[arg(long, value_parser = named::<OptimizerKind>())]
    pub optimizer: Option<OptimizerKind>,
    /// Train with this dropout rate (see train --dropout).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction_f32, allow_negative_numbers = true)]
    pub dropout: f32,
}

/// Runs `rnn-fast bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let text = match &args.corpus {
        Some(path) => corpus::read_text(path)?,
        None => corpus::BUILTIN_TEXT.to_string(),
    };
    let corpus = Corpus::from_text(&text).map_err(|e| match &args.corpus {
        Some(path) => e.in_file(path),
        None => e,
    })?;
    // Warnings are said once the run has passed every check and trained
    // (a refused run says only why).
    let (threads, cut) = super::train::capped_threads_warning(args.threads);
    let mut warnings = Vec::from_iter(cut);
    // What `train` would use on this corpus, unless given: its defaults
    // are sized from the text less the validation part it holds out.
    let total = corpus.len();
    let defaults = TrainConfig::defaults(train_args::train_len(
        total,
        train_args::default_val_frac(total),
    ));
    let (streams, shards) = match args.streams {
        Some(b) => (b, args.shards.unwrap_or(threads.saturating_mul(b))),
        None => (defaults.streams, args.shards.unwrap_or(defaults.shards)),
    };
    // Shards taken from --streams are named by it when the text is too short.
    if let (Some(b), None) = (args.streams, args.shards)
        && shards > Shards::most(corpus.len())
    {
        // A product past the largest integer is said as such, not as the
        // value it saturated to.
        let trains = match threads.checked_mul(b) {
            Some(n) => format!("{n} shards"),
            None => format!("more than {} shards", usize::MAX),
        };
        return Err(Error::Usage(format!(
            "--streams {b} on {} trains {trains}, more than the {} characters of the text can cut (each shard needs at least 2): give fewer --streams",
            counted(threads, "thread"),
            corpus.len()
        )));
    }
    // Shards the text cannot cut are named as such, before the memory they
    // would take.
    Shards::new(corpus.len(), shards, args.seq_len, false)?;
    warnings.extend(super::train::streams_warning(args.streams, shards));
    let optimizer = args.optimizer.unwrap_or(defaults.optimizer);
    let config = TrainConfig {
        cell: args.cell,
        layers: args.layers,
        hidden: args.hidden,
        seq_len: args.seq_len,
        streams,
        threads,
        shards,
        parallel: args.parallel,
        dropout: args.dropout,
        optimizer,
        lr: TrainConfig::default_lr(optimizer, shards, args.hidden),
        ..defaults
    };
    let report = bench::run(&corpus, config, args.seconds as f64)?;
    for warning in &warnings {
        super::output::to_stderr(warning);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        say(&mut out, format_args!("{}", report.to_json()))
    } else {
        say(&mut out, format_args!("{report}"))
    }
}
