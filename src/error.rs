//! The library's error type: every failure a user can cause ends here, as one
//! readable line, never as a panic. Errors are typed by kind, and
//! [`Error::exit_code`] is the one place that maps a kind to an exit status.

use std::path::{Path, PathBuf};

/// Everything that can go wrong when reading a corpus, building, training,
/// saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad command line: an option's value out of its range, or options
    /// that cannot go together. The message names the option.
    #[error("{0}")]
    Usage(String),
    /// Standard error is a file the command reads or writes (`2>> corpus.txt`):
    /// the message goes to standard output instead where that is not one
    /// of them too (`say_on_stdout`), else nowhere; the exit status is 2.
    #[error("{message}")]
    StderrIsNamedFile {
        message: String,
        say_on_stdout: bool,
    },
    /// `--resume` with a setting that differs from the checkpoint's.
    #[error(
        "{option} {given} differs from the checkpoint's {stored}: a resumed run keeps the checkpoint's settings ({})",
        keep_setting(option, stored)
    )]
    ResumeMismatch {
        option: &'static str,
        stored: String,
        given: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An input text (corpus, text to score, log) is readable but not usable.
    #[error("{}: {reason}", path.display())]
    Corpus { path: PathBuf, reason: String },
    /// A text that does not fit, before the file it came from is known
    /// (see [`Error::in_file`]): unknown characters, too short, too many
    /// distinct characters.
    #[error("{0}")]
    Text(String),
    /// A model file is readable but not a valid rnn-fast model.
    #[error("{} is not a valid rnn-fast model: {reason}", path.display())]
    ModelFormat { path: PathBuf, reason: String },
    /// A valid model file that cannot be used as asked (resuming a model
    /// without training state, resuming on another text).
    #[error("{0}")]
    Checkpoint(String),
    /// Another run holds an output this run would write.
    #[error("{0}")]
    Busy(String),
    /// The run's model is saved, but its progress output or log could not
    /// be written (a full disk under standard output, say).
    #[error("{saved} is saved, but {what} failed: {source}", saved = saved.display())]
    AfterSave {
        saved: PathBuf,
        what: String,
        source: Box<Error>,
    },
    /// The machine refused a resource (threads).
    #[error("{0}")]
    System(String),
    /// A file could not be written (the previous file, if any, is kept).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Training stopped because the loss stopped being a number.
    #[error("{0}")]
    Diverged(String),
    /// A signal stopped training; the run so far is saved. Exit status `code`
    /// (128 + the signal number).
    #[error("{message}")]
    Interrupted { code: u8, message: String },
    /// Writing to standard output failed (a closed pipe is handled by `main`).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit status of a bad command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of every other failure.
pub const EXIT_FAILURE: u8 = 1;

impl Error {
    /// The process exit status for this error: 2 for a bad command line,
    /// 128 + signal for an interruption, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::ResumeMismatch { .. } | Error::StderrIsNamedFile { .. } => {
                EXIT_USAGE
            }
            Error::Interrupted { code, .. } => *code,
            _ => EXIT_FAILURE,
        }
    }

    /// True when the error is a closed standard output (`rnn-fast sample | head`),
    /// which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// A [`Error::Text`] error tied to the file `path` it came from; other
    /// errors unchanged.
    pub fn in_file(self, path: &Path) -> Error {
        match self {
            Error::Text(reason) => Error::Corpus {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        }
    }
}

/// How to keep a checkpoint's setting `stored` of `option`: leave the option
/// out, or give the same value, unless the setting is one no value gives
/// (`none`: no `--clip-norm`).
fn keep_setting(option: &str, stored: &str) -> String {
    match stored {
        "none" => format!("leave {option} out"),
        _ => format!("leave {option} out, or give {stored}"),
    }
}
