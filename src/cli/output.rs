//! Where a command's messages go: one line at a time on standard output;
//! during training, a live progress bar on a terminal, plain lines when
//! piped, nothing with `--quiet`.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rnn_fast::session::Report;
use rnn_fast::{Error, Result};

/// Writes one line to `out`.
pub fn say(out: &mut impl Write, line: std::fmt::Arguments<'_>) -> Result<()> {
    writeln!(out, "{line}").map_err(Error::Output)
}

/// The training run's output.
pub enum Output {
    Bar(ProgressBar),
    Plain,
    Quiet,
}

impl Output {
    pub fn new(quiet: bool) -> Output {
        if quiet {
            Output::Quiet
        } else if std::io::stdout().is_terminal() {
            Output::Bar(ProgressBar::hidden())
        } else {
            Output::Plain
        }
    }

    /// Shows the bar for a run of `planned` characters, `done` of them done.
    pub fn start(&mut self, planned: usize, done: usize) {
        if let Output::Bar(bar) = self {
            let style =
                ProgressStyle::with_template("{bar:30.cyan/blue} {percent:>3}% {msg}  ETA {eta}")
                    .expect("a valid template")
                    .progress_chars("█▉▊▋▌▍▎▏ ");
            bar.set_style(style);
            bar.set_length(planned as u64);
            bar.set_position(done as u64);
            bar.set_draw_target(ProgressDrawTarget::stdout());
        }
    }

    /// One line of the log, above the bar when there is one.
    pub fn line(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        match self {
            Output::Bar(bar) if !bar.is_hidden() => {
                bar.println(line.to_string());
                Ok(())
            }
            Output::Bar(_) | Output::Plain => say(&mut std::io::stdout().lock(), line),
            Output::Quiet => Ok(()),
        }
    }

    /// A warning on standard error, around the bar.
    pub fn warn(&self, line: &str) {
        match self {
            Output::Bar(bar) => bar.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }

    /// Moves the bar to `position` with `message` beside it.
    pub fn progress(&self, position: usize, message: impl FnOnce() -> String) {
        if let Output::Bar(bar) = self {
            bar.set_position(position as u64);
            bar.set_message(message());
        }
    }

    /// Removes the bar; later lines are plain.
    pub fn finish(&mut self) {
        if let Output::Bar(bar) = self {
            bar.finish_and_clear();
            *self = Output::Plain;
        }
    }
}

/// One report as a line of the training log.
pub fn report_line(r: &Report) -> String {
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
