//! The `--log` CSV file of a training run.

use std::io::Write;
use std::path::{Path, PathBuf};

use rnn_fast::session::Report;
use rnn_fast::{Error, Result, files, plot};

/// The `--log` CSV file: one row per report, flushed as it is written.
pub struct CsvLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    /// The open file as this log last left it (length, time): anything
    /// else means another program wrote it.
    last: Option<files::FileVersion>,
    /// The claim on a name beside the `--log` that the log moved to during
    /// the run (the `--log` itself is claimed by the run), held to its end.
    claim: Option<files::OutputLock>,
}

/// Lines a resumed log no longer holds, and the file beside it that does.
pub struct MovedLines {
    pub lines: usize,
    pub to: PathBuf,
}

impl CsvLog {
    /// Creates the log, or appends to it for a run resumed at
    /// `resumed_chars` characters (header only when new). Returns the log,
    /// the last `elapsed_s` already in it (0 for a new log), where a resumed
    /// run's time continues, and the lines moved out of it (see
    /// [`rows_before`]): how many, and the file beside it that holds them.
    pub fn open(
        path: &Path,
        resumed_chars: Option<usize>,
    ) -> Result<(CsvLog, f64, Option<MovedLines>)> {
        let (old, moved) = match resumed_chars {
            Some(chars) => rows_before(&read_log(path)?, chars),
            None => Default::default(),
        };
        // Nothing is lost: the lines moved out are kept beside the log (a
        // log named by mistake, another run's, can be put back together).
        let moved = match moved.lines().count() {
            0 => None,
            lines => {
                let (to, _claim) = files::claim_beside(path, "--log")?;
                files::write_atomic(&to, format!("{}\n{moved}", plot::CSV_HEADER).as_bytes())?;
                files::write_atomic(path, old.as_bytes())?;
                Some(MovedLines { lines, to })
            }
        };
        let existing = !old.is_empty();
        let last_elapsed = plot::parse(&old)
            .ok()
            .and_then(|rows| rows.last().map(|r| r.elapsed_s))
            .unwrap_or(0.0);
        // A new log starts as its header, written atomically: where that
        // fails (a full disk) the run is refused with the file at `path`
        // as it was (none, or the log `--force` would have replaced).
        if !existing {
            files::write_atomic(path, format!("{}\n", plot::CSV_HEADER).as_bytes())?;
        }
        let log = CsvLog::on(path, None)?;
        Ok((log, last_elapsed, moved))
    }

    /// The log appending to `path`, which exists (a new log's header was
    /// written just before). Readable too: a log whose name is taken during
    /// the run is copied from this handle (see [`CsvLog::row`]).
    fn on(path: &Path, claim: Option<files::OutputLock>) -> Result<CsvLog> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .read(true)
            .open(path)
            .map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        let last = files::open_file_version(&file);
        Ok(CsvLog {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            last,
            claim,
        })
    }

    /// Appends the report `r`. Where the log's name no longer holds the
    /// file this log writes (another file was put there during the run, or
    /// it was removed), that name is left as it is, and the log goes on in a
    /// new file beside it that starts with every line written so far (read
    /// back from the open file, which outlives its name). Where another
    /// program wrote the file itself (`cat notes > run.csv`), it is left as
    /// it is, and the log goes on beside it from this report. Returns, once
    /// for each, the name given up and what happened, for the user.
    pub fn row(&mut self, r: &Report) -> Result<Option<(PathBuf, String)>> {
        let now = files::open_file_version(self.file.get_ref());
        let moved = if let Some((ours, ..)) = now
            && files::file_id(&self.path) != Some(ours)
        {
            let (beside, claim) = files::claim_beside(&self.path, "--log")?;
            let mut written = Vec::new();
            {
                use std::io::{Read, Seek};
                let mut file = self.file.get_ref();
                file.rewind()
                    .and_then(|()| file.read_to_end(&mut written))
                    .map_err(|source| Error::Write {
                        path: self.path.clone(),
                        source,
                    })?;
            }
            files::write_atomic(&beside, &written)?;
            let given_up = std::mem::replace(self, CsvLog::on(&beside, Some(claim))?);
            Some((
                given_up.path,
                format!(
                    "its name no longer holds this run's log (another file was put there, or it was removed): the whole log is in {}",
                    beside.display()
                ),
            ))
        } else if now != self.last {
            let (beside, claim) = files::claim_beside(&self.path, "--log")?;
            let (mut log, _, _) = CsvLog::open(&beside, None)?;
            log.claim = Some(claim);
            let given_up = std::mem::replace(self, log);
            Some((
                given_up.path,
                format!(
                    "another program wrote into it during the run, and it is kept as it is: the log goes on in {}, from this report",
                    beside.display()
                ),
            ))
        } else {
            None
        };
        self.write_row(r)?;
        Ok(moved)
    }

    /// The file the log is written to now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_row(&mut self, r: &Report) -> Result<()> {
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
            })?;
        self.last = files::open_file_version(self.file.get_ref());
        Ok(())
    }
}

/// The log at `path` that a resumed run continues (empty where there is
/// none yet). One that cannot be read, or is not all UTF-8 text (a line
/// written into it by hand), is an error: taken for empty, it would have
/// been continued with a second header and its time from zero.
fn read_log(path: &Path) -> Result<String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    String::from_utf8(bytes).map_err(|e| Error::Corpus {
        path: path.to_path_buf(),
        reason: format!(
            "the byte at offset {} is not UTF-8 text, so this log cannot be continued: it is kept as it is; choose another --log",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// The lines of a log `old` that a run resumed at `chars` characters
/// continues, and those it does not: the rows after `chars` (trained by a
/// run killed after its last checkpoint; the resumed run trains them again,
/// so they would repeat with other losses) and a last line cut short (by a
/// full disk; appending would merge it with the next row). A whole last row
/// that only lacks its line break is kept, with one.
fn rows_before(old: &str, chars: usize) -> (String, String) {
    let (mut kept, mut moved) = (String::new(), String::new());
    for line in old.split_inclusive('\n') {
        let after = line
            .split(',')
            .nth(2)
            .and_then(|c| c.trim().parse::<usize>().ok())
            .is_some_and(|c| c > chars);
        // A last row that only lacks its line break (a hand edit) is whole.
        let whole =
            line.ends_with('\n') || plot::parse(&format!("{}\n{line}\n", plot::CSV_HEADER)).is_ok();
        if whole && !after {
            kept.push_str(line.trim_end_matches('\n'));
            kept.push('\n');
        } else {
            moved.push_str(line);
        }
    }
    (kept, moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed log with bytes that are not UTF-8 (a note written into
    /// it) is refused and kept byte for byte: taken for empty, it was
    /// continued with a second header and its time from zero.
    #[test]
    fn a_resumed_log_that_is_not_text_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.csv");
        let mut bytes = format!("{}\n0.1,1.0,100,2.5,\nnote: caf", plot::CSV_HEADER).into_bytes();
        bytes.extend(b"\xe9\n");
        std::fs::write(&path, &bytes).unwrap();
        let e = CsvLog::open(&path, Some(100)).err().unwrap().to_string();
        assert!(
            e.ends_with("run.csv: the byte at offset 73 is not UTF-8 text, so this log cannot be continued: it is kept as it is; choose another --log"),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    /// The rows a resumed log moves out go to a name beside it that no
    /// other run has claimed: one that another run picked for its new log,
    /// and has not created yet, would have been emptied by it.
    #[test]
    fn rows_moved_out_pass_over_a_name_another_run_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.csv");
        let h = plot::CSV_HEADER;
        std::fs::write(&path, format!("{h}\n0.1,1.0,100,2.5,\n0.2,2.0,200,2.0,\n")).unwrap();
        let (taken, _other_run) = files::claim_beside(&path, "--log").unwrap();
        assert_eq!(taken, dir.path().join("run.1.csv"));
        let (_, _, moved) = CsvLog::open(&path, Some(100)).unwrap();
        let moved = moved.unwrap();
        assert_eq!(
            (moved.lines, moved.to.clone()),
            (1, dir.path().join("run.2.csv"))
        );
        assert_eq!(
            std::fs::read_to_string(&moved.to).unwrap(),
            format!("{h}\n0.2,2.0,200,2.0,\n")
        );
        assert!(!taken.exists());
    }

    #[test]
    fn a_resumed_log_keeps_the_rows_up_to_its_checkpoint() {
        let h = plot::CSV_HEADER;
        let log =
            format!("{h}\n0.1,1.0,100,2.5,\n0.2,2.0,200,2.0,1.9\n0.3,3.0,300,1.5,\n0.4,4.0,4");
        let before = format!("{h}\n0.1,1.0,100,2.5,\n0.2,2.0,200,2.0,1.9\n");
        assert_eq!(
            rows_before(&log, 200),
            (before, "0.3,3.0,300,1.5,\n0.4,4.0,4".to_string())
        );
        let (kept, moved) = rows_before(&log, 1_000);
        assert_eq!((kept + &moved, moved.as_str()), (log.clone(), "0.4,4.0,4"));
        assert_eq!(rows_before("", 5), (String::new(), String::new()));
        // A whole last row without its line break is kept, with one.
        let edited = format!("{h}\n0.1,1.0,100,2.5,");
        assert_eq!(
            rows_before(&edited, 200),
            (format!("{edited}\n"), String::new())
        );
    }
}
