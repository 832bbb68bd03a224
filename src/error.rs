//! The library's error type: every failure a user can cause ends here, as one
//! readable line, never as a panic.

use std::path::PathBuf;

/// Everything that can go wrong when reading a corpus, building, training,
/// saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file could not be written (the previous file, if any, is kept).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A corpus file is readable but not usable text.
    #[error("{}: {reason}", path.display())]
    Corpus { path: PathBuf, reason: String },
    /// A model file is readable but not a valid rnn-fast model.
    #[error("{} is not a valid rnn-fast model: {reason}", path.display())]
    ModelFormat { path: PathBuf, reason: String },
    /// An argument or a combination of inputs that cannot work.
    #[error("{0}")]
    Invalid(String),
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

impl Error {
    /// The process exit status for this error: 128 + signal for an
    /// interruption, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted { code, .. } => *code,
            _ => 1,
        }
    }

    /// True when the error is a closed standard output (`rnn-fast sample | head`),
    /// which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
