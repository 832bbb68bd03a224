//! `rnn-fast sample`: generate text from a model.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use rnn_fast::checkpoint;
use rnn_fast::model::Model;
use rnn_fast::sample::{Pick, Sampler};
use rnn_fast::{Error, Result};

use super::values::{at_least_one, count, positive_f32, seed};

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Model file written by `rnn-fast train`.
    pub model: PathBuf,
    /// Text that warms up the hidden state (from zeros) and starts the output
    /// [default: a newline, or the first character of the vocabulary].
    // Read as raw bytes, so that bytes that are not UTF-8 are named as
    // --prime's fault, not clap's "one or more arguments".
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true, value_parser = clap::value_parser!(std::ffi::OsString))]
    pub prime: Option<std::ffi::OsString>,
    /// Characters to generate after the prime.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = count, allow_negative_numbers = true)]
    pub len: usize,
    /// Divides the logits: below 1 is more conservative, above 1 more varied.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = positive_f32, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Draw only among the K most likely characters.
    #[arg(long, value_name = "K", value_parser = at_least_one, allow_negative_numbers = true)]
    pub top_k: Option<usize>,
    /// Always take the most likely character (deterministic): --temperature
    /// and --top-k are not used (their values are still checked).
    #[arg(long)]
    pub argmax: bool,
    /// Seed of the sampling draws: the same seed gives the same text.
    #[arg(long, value_name = "N", default_value_t = 42, value_parser = seed, allow_negative_numbers = true)]
    pub seed: u64,
}

/// Runs `rnn-fast sample`.
pub fn run(args: SampleArgs) -> Result<()> {
    let model = checkpoint::load(&args.model)?.model;
    let prime = match &args.prime {
        Some(p) => Some(p.to_str().ok_or_else(|| {
            Error::Usage("--prime is not valid UTF-8: give the text in UTF-8".into())
        })?),
        None => None,
    };
    let prime: Vec<u16> = match prime {
        Some("") => {
            return Err(Error::Usage(
                "--prime must not be empty (leave it out for the default)".into(),
            ));
        }
        Some(p) => model
            .vocab
            .encode(p)
            .map_err(|e| Error::Usage(format!("--prime: {e}")))?,
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
pub fn write_sample(
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
