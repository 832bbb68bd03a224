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

/// The training run's output. Best effort: a closed or failing standard
/// output never stops training; the first failure is kept (for the exit
/// status) and later lines are dropped.
pub struct Output {
    mode: Mode,
    failure: Option<std::io::Error>,
}

/// How lines are shown.
enum Mode {
    Bar(ProgressBar),
    Plain,
    Quiet,
}

impl Output {
    pub fn new(quiet: bool) -> Output {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bar(ProgressBar::hidden())
        } else {
            Mode::Plain
        };
        Output {
            mode,
            failure: None,
        }
    }

    /// Shows the bar for a run of `planned` characters, `done` of them done.
    pub fn start(&mut self, planned: usize, done: usize) {
        if let Mode::Bar(bar) = &self.mode {
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
    pub fn line(&mut self, line: std::fmt::Arguments<'_>) {
        let written = match &self.mode {
            Mode::Bar(bar) if !bar.is_hidden() => {
                bar.println(line.to_string());
                Ok(())
            }
            Mode::Bar(_) | Mode::Plain => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush())
            }
            Mode::Quiet => Ok(()),
        };
        if let Err(e) = written {
            self.failure.get_or_insert(e);
            self.mode = Mode::Quiet;
        }
    }

    /// A warning on standard error, around the bar (a failing standard
    /// error is ignored: there is nowhere else to say it).
    pub fn warn(&self, line: &str) {
        let say = || {
            let _ = writeln!(std::io::stderr(), "{}", rnn_fast::message::one_line(line));
        };
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(say),
            _ => say(),
        }
    }

    /// Moves the bar to `position` with `message` beside it.
    pub fn progress(&self, position: usize, message: impl FnOnce() -> String) {
        if let Mode::Bar(bar) = &self.mode {
            bar.set_position(position as u64);
            bar.set_message(message());
        }
    }

    /// Removes the bar; later lines are plain.
    pub fn finish(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
            self.mode = Mode::Plain;
        }
    }

    /// The first failure to write, if any.
    pub fn take_failure(&mut self) -> Option<std::io::Error> {
        self.failure.take()
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
