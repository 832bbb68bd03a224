//! `rnn-fast eval`: score a model on a text, and with `--dynamic` also by
//! dynamic evaluation (the model learning from the text as it scores it).

use std::path::PathBuf;

use clap::Args;
use rnn_fast::corpus::{self, Corpus};
use rnn_fast::dynamic::{self, DynamicSettings};
use rnn_fast::message::counted;
use rnn_fast::{Result, checkpoint, eval};

use super::output::say;
use super::values::{at_least_one, positive_f32};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model file written by `rnn-fast train`.
    pub model: PathBuf,
    /// UTF-8 text to score (its characters must be in the model's vocabulary).
    pub text: PathBuf,
    /// Print one JSON object: {"chars": N (the characters predicted: all
    /// but the first), "loss_nats": x, "bits_per_char": y}
    /// (with --dynamic, also "dynamic_loss_nats" and "dynamic_bits_per_char").
    #[arg(long)]
    pub json: bool,
    /// Also score by dynamic evaluation: the text is read in chunks, each
    /// scored first and then learned from (one SGD step on its mean
    /// gradient, clipped to ±5) by a copy of the weights, the hidden state
    /// carried. The model file is not changed.
    #[arg(long)]
    pub dynamic: bool,
    /// Learning rate of the dynamic evaluation's SGD step.
    #[arg(long, value_name = "F", default_value_t = dynamic::DEFAULT_LR, value_parser = positive_f32, allow_negative_numbers = true, requires = "dynamic")]
    pub dynamic_lr: f32,
    /// Characters per chunk of the dynamic evaluation (scored, then one
    /// step), at most 100000.
    #[arg(long, value_name = "N", default_value_t = dynamic::DEFAULT_SEQ_LEN, value_parser = at_least_one, allow_negative_numbers = true, requires = "dynamic")]
    pub dynamic_seq_len: usize,
}

impl EvalArgs {
    /// The dynamic evaluation's settings, when `--dynamic` is given.
    fn dynamic_settings(&self) -> Option<DynamicSettings> {
        self.dynamic.then(|| DynamicSettings {
            lr: self.dynamic_lr,
            seq_len: self.dynamic_seq_len,
            ..DynamicSettings::default()
        })
    }
}

/// Runs `rnn-fast eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let settings = args.dynamic_settings();
    if let Some(s) = &settings {
        s.validate()?;
    }
    let model = checkpoint::load(&args.model)?.model;
    let text = corpus::read_text(&args.text)?;
    let corpus = Corpus::with_vocab(&text, &model.vocab).map_err(|e| e.in_file(&args.text))?;
    let score = eval::evaluate(&model, &corpus.ids);
    let dynamic = match &settings {
        Some(s) => Some(dynamic::evaluate_dynamic(&model, &corpus.ids, s)?),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut json = serde_json::json!({
            "chars": score.chars,
            "loss_nats": score.loss_nats,
            "bits_per_char": score.bits_per_char(),
        });
        if let Some(d) = dynamic {
            json["dynamic_loss_nats"] = d.loss_nats.into();
            json["dynamic_bits_per_char"] = d.bits_per_char().into();
        }
        return say(&mut out, format_args!("{json}"));
    }
    say(
        &mut out,
        format_args!(
            "{}: {} ({} predicted: all but the first), loss {:.6} nats/char ({:.6} bits/char)",
            args.text.display(),
            counted(corpus.ids.len(), "character"),
            score.chars,
            score.loss_nats,
            score.bits_per_char()
        ),
    )?;
    let (Some(d), Some(s)) = (dynamic, settings) else {
        return Ok(());
    };
    let change = d.loss_nats - score.loss_nats;
    let percent = if score.loss_nats > 0.0 {
        format!(" ({:+.2}%)", 100.0 * change / score.loss_nats)
    } else {
        String::new()
    };
    say(
        &mut out,
        format_args!(
            "dynamic (lr {}, seq_len {}): loss {:.6} nats/char ({:.6} bits/char), {change:+.6} nats/char{percent}",
            s.lr,
            s.seq_len,
            d.loss_nats,
            d.bits_per_char(),
        ),
    )
}
