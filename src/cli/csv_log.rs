//! The `--log` CSV file of a training run.

use std::io::Write;
use std::path::{Path, PathBuf};

use rnn_fast::session::Report;
use rnn_fast::{Error, Result, plot};

/// The `--log` CSV file: one row per report, flushed as it is written.
pub struct CsvLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl CsvLog {
    /// Creates the log, or appends to it when resuming (header only when
    /// new); also returns the last `elapsed_s` already in it (0 for a new log),
    /// where a resumed run's time continues.
    pub fn open(path: &Path, append: bool) -> Result<(CsvLog, f64)> {
        let write_err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let old = if append {
            std::fs::read_to_string(path).unwrap_or_default()
        } else {
            String::new()
        };
        let existing = !old.is_empty();
        let last_elapsed = plot::parse(&old)
            .ok()
            .and_then(|rows| rows.last().map(|r| r.elapsed_s))
            .unwrap_or(0.0);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)
            .map_err(write_err)?;
        let mut log = CsvLog {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        };
        if !existing {
            log.line(format_args!("{}", plot::CSV_HEADER))?;
        }
        Ok((log, last_elapsed))
    }

    pub fn row(&mut self, r: &Report) -> Result<()> {
        let val = r
            .val
            .map_or(String::new(), |v| format!("{:.6}", v.loss_nats));
        self.line(format_args!(
            "{:.3},{:.4},{},{:.6},{val}",
            r.elapsed_s, r.epoch, r.chars_seen, r.train_loss
        ))
    }

    fn line(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }
}
