//! `rnn-fast eval`: score a model on a text.

use std::path::PathBuf;

use clap::Args;
use rnn_fast::corpus::{self, Corpus};
use rnn_fast::{Result, checkpoint, eval};

use super::output::say;

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

/// Runs `rnn-fast eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let model = checkpoint::load(&args.model)?.model;
    let text = corpus::read_text(&args.text)?;
    let corpus = Corpus::with_vocab(&text, &model.vocab).map_err(|e| e.in_file(&args.text))?;
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
