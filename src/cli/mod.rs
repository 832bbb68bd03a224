//! The command line: the subcommands, each in its own module with its
//! arguments (what the user typed) and its handler, which turns them into
//! validated library values and calls the library.

mod bench;
mod csv_log;
mod eval;
mod observer;
mod output;
mod outputs;
mod plot;
mod sample;
mod signals;
mod start;
mod train;
mod train_args;
mod values;

pub use output::to_stderr;

use clap::{Parser, Subcommand};
use rnn_fast::Result;

pub use outputs::{check_streams, words_as_paths};

/// Train character-level RNN language models (the article's tanh RNN, GRU or LSTM) on a CPU, fast, and sample text from them.
#[derive(Debug, Parser)]
#[command(
    name = "rnn-fast",
    version,
    after_help = "Examples:\n  rnn-fast                                  train on the article's text, save model.safetensors, print a sample\n  rnn-fast train big.txt -o big.safetensors\n  rnn-fast sample big.safetensors --prime \"ROMEO:\" --len 500\n  rnn-fast eval big.safetensors held-out.txt --json"
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
    Train(Box<train_args::TrainArgs>),
    /// Generate text from a model.
    #[command(
        after_help = "Examples:\n  rnn-fast sample model.safetensors --prime \"ROMEO:\" --len 500 --temperature 0.8\n  rnn-fast sample model.safetensors --prime h --argmax"
    )]
    Sample(sample::SampleArgs),
    /// Score a model on a text: mean cross-entropy in nats and bits per
    /// character (with --dynamic, also while the model adapts to the text).
    #[command(
        after_help = "Examples:\n  rnn-fast eval model.safetensors held-out.txt --json\n  rnn-fast eval model.safetensors held-out.txt --dynamic --dynamic-seq-len 80 --dynamic-lr 0.03"
    )]
    Eval(eval::EvalArgs),
    /// Train for a few seconds and report characters/s, GFLOP/s and the fraction of the FMA peak.
    #[command(
        after_help = "Examples:\n  rnn-fast bench --hidden 256 --corpus input.txt\n  rnn-fast bench --hidden 256 --streams 32 --seconds 5 --json"
    )]
    Bench(bench::BenchArgs),
    /// Draw the loss curves of a --log CSV file as SVG: train and validation
    /// loss against characters seen and against time.
    #[command(
        after_help = "Example:\n  rnn-fast train input.txt --log run.csv && rnn-fast plot run.csv -o loss.svg"
    )]
    Plot(plot::PlotArgs),
}

impl Cli {
    /// The files the command reads or writes as the user gave them (or
    /// their defaults: `train`'s `model.safetensors`, `plot`'s
    /// `loss.svg`), and the `.best` model beside a run's output, which a
    /// standard stream must not be ([`check_streams`]). `plot -o -` writes
    /// standard output itself.
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        let run = |output: &std::path::Path| [output.to_path_buf(), observer::best_path(output)];
        match &self.command {
            None => run(std::path::Path::new(train_args::DEFAULT_OUTPUT)).into(),
            Some(Command::Train(a)) => [&a.corpus, &a.log, &a.resume, &a.init_from]
                .into_iter()
                .flatten()
                .cloned()
                .chain(run(&a.output))
                .collect(),
            Some(Command::Sample(a)) => vec![a.model.clone()],
            Some(Command::Eval(a)) => vec![a.model.clone(), a.text.clone()],
            Some(Command::Bench(a)) => a.corpus.iter().cloned().collect(),
            Some(Command::Plot(a)) => std::iter::once(a.log.clone())
                .chain((a.output.as_os_str() != "-").then(|| a.output.clone()))
                .collect(),
        }
    }
}

/// Runs the parsed command; `None` is `train` with every default.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => train::run(train_args::TrainArgs::parse_defaults()),
        Some(Command::Train(args)) => train::run(*args),
        Some(Command::Sample(args)) => sample::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Plot(args)) => plot::run(args),
    }
}
