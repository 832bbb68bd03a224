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
///
/// Piped lines, and warnings, are written by threads of their own (a
/// [`Writer`] for each stream), so that a reader that stops reading (`|
/// less` left open) holds up neither training, nor a signal's save, nor the
/// warnings on a standard error read apart.
pub struct Output {
    mode: Mode,
    warnings: Writer,
    failure: Option<std::io::Error>,
}

/// How lines are shown.
enum Mode {
    Bar(ProgressBar),
    Plain(Writer),
    Quiet,
}

/// Lines queued for a reader before later ones are given up (a reader that
/// stopped reading must not grow the queue without end): some megabytes.
const QUEUED_LINES: usize = 65_536;

/// How long a writer dropped on the way out (an error, a signal) waits for
/// its last lines to be read before it gives them up.
pub const LAST_LINES_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Says `text` on standard error as one line (see
/// [`rnn_fast::message::one_line`]), in one write, and ignores a failure:
/// there is nowhere else to say it.
pub fn to_stderr(text: &str) {
    let _ = write_line(Stream::Err, &rnn_fast::message::one_line(text));
}

/// A standard stream.
#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// Writes `text` and a line break to `to`, flushed.
fn write_line(to: Stream, text: &str) -> std::io::Result<()> {
    // One write of the line and its break: standard error is unbuffered,
    // and `writeln!` wrote the text and the break apart, so that a line on
    // standard output could come between them (`2>&1`).
    let line = format!("{text}\n");
    match to {
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Err => std::io::stderr().lock().write_all(line.as_bytes()),
    }
}

/// The thread that writes one stream's lines, in order; the first failure
/// it met, and the lines given up because its queue was full.
struct Writer {
    to: Stream,
    lines: Option<std::sync::mpsc::SyncSender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
    failure: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
    /// Disconnected (nothing is ever sent) when the thread has ended.
    done: std::sync::mpsc::Receiver<()>,
    dropped: usize,
}

impl Writer {
    fn start(to: Stream) -> Writer {
        let (lines, received) = std::sync::mpsc::sync_channel::<String>(QUEUED_LINES);
        let (finished, done) = std::sync::mpsc::channel::<()>();
        let failure = std::sync::Arc::new(std::sync::Mutex::new(None));
        let failed = std::sync::Arc::clone(&failure);
        let thread = std::thread::Builder::new()
            .name("rnn-fast-output".into())
            .spawn(move || {
                let _finished = finished;
                let mut broken = false;
                for text in received {
                    if !broken && let Err(e) = write_line(to, &text) {
                        record(&failed, e);
                        broken = true;
                    }
                }
            })
            .ok();
        Writer {
            to,
            lines: thread.is_some().then_some(lines),
            thread,
            failure,
            done,
            dropped: 0,
        }
    }

    /// Queues `text`, or gives it up when the queue is full; written here
    /// and now where the thread could not start or has ended.
    fn send(&mut self, text: String) {
        use std::sync::mpsc::TrySendError;
        let unsent = match &self.lines {
            Some(lines) => match lines.try_send(text) {
                Ok(()) => None,
                Err(TrySendError::Full(_)) => {
                    self.dropped += 1;
                    None
                }
                Err(TrySendError::Disconnected(text)) => Some(text),
            },
            None => Some(text),
        };
        if let Some(text) = unsent
            && let Err(e) = write_line(self.to, &text)
        {
            record(&self.failure, e);
        }
    }

    /// The first failure to write, if any yet.
    fn take_failure(&self) -> Option<std::io::Error> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Waits at most `limit` for the queued lines to be written; after it,
    /// those left are given up (a reader that stopped reading them).
    fn close_within(&mut self, limit: std::time::Duration) {
        self.lines = None;
        if self.thread.is_none() {
            return; // Ended, or given up already.
        }
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = self.done.recv_timeout(limit) {
            self.thread = None;
        }
        self.close();
    }

    /// Waits until every queued line is written.
    fn close(&mut self) {
        self.lines = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Keeps `e` in `slot` unless a failure is there already (the first one
/// says what went wrong).
fn record(slot: &std::sync::Mutex<Option<std::io::Error>>, e: std::io::Error) {
    slot.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert(e);
}

impl Drop for Writer {
    /// On the way out without [`Output::take_failure`] (an error, a
    /// signal): the last lines get [`LAST_LINES_WAIT`] to be read.
    fn drop(&mut self) {
        self.close_within(LAST_LINES_WAIT);
    }
}

impl Output {
    pub fn new(quiet: bool) -> Output {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bar(ProgressBar::hidden())
        } else {
            Mode::Plain(Writer::start(Stream::Out))
        };
        Output {
            mode,
            warnings: Writer::start(Stream::Err),
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
        let written = match &mut self.mode {
            Mode::Bar(bar) if !bar.is_hidden() => {
                bar.println(line.to_string());
                Ok(())
            }
            Mode::Bar(_) => write_line(Stream::Out, &line.to_string()),
            Mode::Plain(writer) => {
                writer.send(line.to_string());
                writer.take_failure().map_or(Ok(()), Err)
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
    pub fn warn(&mut self, line: &str) {
        let line = rnn_fast::message::one_line(line);
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(|| {
                let _ = write_line(Stream::Err, &line);
            }),
            _ => self.warnings.send(line.into_owned()),
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
            self.mode = Mode::Plain(Writer::start(Stream::Out));
        }
    }

    /// Waits at most `limit` for the lines queued so far to be written
    /// (when a signal ends the run: a reader that stopped reading must not
    /// keep the process alive); the rest are given up.
    pub fn close_within(&mut self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        if let Mode::Plain(writer) = &mut self.mode {
            writer.close_within(limit);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.warnings.close_within(left);
    }

    /// Waits until every line is written (the lines left out for a reader
    /// that stopped are counted in a warning), and returns the first
    /// failure to write standard output, if any.
    pub fn take_failure(&mut self) -> Option<std::io::Error> {
        if let Mode::Plain(writer) = &mut self.mode {
            writer.close();
            if let Some(e) = writer.take_failure() {
                self.failure.get_or_insert(e);
            }
            let dropped = std::mem::take(&mut writer.dropped);
            if dropped > 0 {
                self.warn(&format!(
                    "warning: standard output was not read for a while: {} of progress were left out",
                    rnn_fast::message::counted(dropped, "line")
                ));
            }
        }
        self.warnings.close();
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
