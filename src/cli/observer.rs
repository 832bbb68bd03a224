//! What `rnn-fast train` does as the session runs: report lines and the CSV
//! log, the divergence warning, periodic checkpoints and the `.best` model,
//! periodic samples, the progress bar, and stopping on a signal.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rnn_fast::checkpoint::{self, Checkpoint, RunInfo};
use rnn_fast::config::TrainConfig;
use rnn_fast::divergence::{cause, diagnose, far_above_chance};
use rnn_fast::message::counted;
use rnn_fast::sample::{Pick, Sampler};
use rnn_fast::session::{self, Observer, Progress, Report};
use rnn_fast::trainer::Trainer;
use rnn_fast::{Error, Result};

use super::csv_log::CsvLog;
use super::output::{Output, report_line};
use super::sample::write_sample;
use super::signals::Interrupts;

/// Characters of each `--sample-every` sample.
const PERIODIC_SAMPLE_LEN: usize = 200;

/// `--sample-every`: a sample every `every` characters, primed with `prime`.
pub struct Samples {
    pub every: usize,
    pub next: usize,
    pub prime: u16,
}

/// The train command's side of the session.
pub struct TrainObserver {
    pub out: Output,
    pub log: Option<CsvLog>,
    pub config: TrainConfig,
    /// The run's record; its `chars_seen` and `best_val` are filled at each save.
    pub run: RunInfo,
    pub output: PathBuf,
    pub checkpoint_every: Option<Duration>,
    /// Whether the best model by validation is kept beside the output
    /// (whenever there is held-out text), and the epoch it was reached at.
    pub keep_best: bool,
    pub best_epoch: Option<f64>,
    pub last_checkpoint: Instant,
    /// Whether a periodic checkpoint of this run is at `output`.
    pub checkpoint_saved: bool,
    /// Whether the run resumes the checkpoint at `output` (in place).
    pub resumed_in_place: bool,
    /// The paths the run writes again and again (`output`, the `.best`
    /// model), each with the version (identity, length, time) of the file
    /// it last wrote there, or found there when the checks at the start let
    /// it replace it.
    pub owned: Vec<(PathBuf, Option<rnn_fast::files::FileVersion>)>,
    pub samples: Option<Samples>,
    pub interrupts: Interrupts,
    /// Best validation loss (of this run and those it resumes) and best
    /// training loss, whether the divergence warning was given, and whether
    /// a model far above chance on the held-out text was said not kept.
    pub best_val: f64,
    pub best_train: f64,
    pub warned: bool,
    pub warned_held_out: bool,
    pub vocab_len: usize,
    /// The `--log` file that could not be written, and why (the log stops;
    /// training goes on), or whose name was taken during the run (the log
    /// goes on beside it).
    pub log_failure: Option<Error>,
    /// The last periodic checkpoint that could not be written, and why
    /// (training goes on; the file on disk is the checkpoint before).
    pub checkpoint_failure: Option<Error>,
    /// The last best model that could not be written, and why (training
    /// goes on; the `.best` on disk is an older best).
    pub best_failure: Option<Error>,
    /// Where this session started (for its throughput), the last progress
    /// (for the final save) and the last training loss (for the bar).
    pub start: Progress,
    pub last: Progress,
    pub last_train: f64,
}

impl TrainObserver {
    /// Saves a checkpoint (the model and everything to resume it) to `path`.
    /// A path the run owns (see [`TrainObserver::owned`]) is replaced only
    /// while it holds what the run last wrote there (or found there at the
    /// start): a file put there during the run (notes, another model, a
    /// link to the model fine-tuned), or written over in place, is left as
    /// it is.
    pub fn save(&mut self, trainer: &Trainer, path: &Path, chars_seen: usize) -> Result<()> {
        let owned = self.owned.iter().position(|(p, _)| p == path);
        let last = owned.map(|i| self.owned[i].1);
        // Asked again just before the rename, so that a file put there
        // while the checkpoint is written is kept too.
        let kept = || match last {
            Some(last)
                if rnn_fast::files::file_version(path).is_some_and(|now| Some(now) != last) =>
            {
                Err(std::io::Error::other(
                    "another file was put there during the run (or the file was written over), and it is not replaced",
                ))
            }
            _ => Ok(()),
        };
        kept().map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let ck = self.checkpoint(trainer, chars_seen, path)?;
        let written = rnn_fast::files::write_atomic_unless(
            path,
            |file| checkpoint::write_file(file, trainer.model(), Some(&ck)),
            kept,
        )?;
        if let Some(i) = owned {
            self.owned[i].1 = Some(written);
        }
        Ok(())
    }

    /// Whether `path`, one the run writes again and again, still holds the
    /// file the run last wrote there (or found there at the start): not
    /// one put there during the run, or written over.
    pub fn still_holds(&self, path: &Path) -> bool {
        self.owned.iter().any(|(p, version)| {
            p == path && version.is_some() && rnn_fast::files::file_version(path) == *version
        })
    }

    /// The run at `chars_seen` as a checkpoint (with the trainer's model:
    /// everything to resume it), for `path`; weights that are no longer
    /// finite are refused.
    pub fn checkpoint<'t>(
        &self,
        trainer: &'t Trainer,
        chars_seen: usize,
        path: &Path,
    ) -> Result<Checkpoint<&'t [f32]>> {
        if !trainer.model().is_finite() {
            return Err(Error::Diverged(format!(
                "the weights are no longer finite numbers after {chars_seen} characters; {} was not overwritten; lower --lr",
                path.display()
            )));
        }
        Ok(Checkpoint {
            settings: self.config.clone(),
            // Not the elapsed time: the same run must write the same bytes
            // (the log keeps the time; a resumed log continues from its last row).
            run: RunInfo {
                chars_seen,
                best_val: Some(self.best_val),
                ..self.run.clone()
            },
            state: trainer.state_ref(),
        })
    }

    /// The write error of a save made during training, which does not stop
    /// the run (the file on disk stays the one before; the run is saved at
    /// its end), said as a warning unless the save before failed too (so a
    /// full disk is said once); any other error is returned as it is.
    fn write_failure(
        &mut self,
        saved: Result<()>,
        what: &str,
        said: bool,
    ) -> Result<Option<Error>> {
        match saved {
            Ok(()) => Ok(None),
            Err(e @ Error::Write { .. }) => {
                if !said {
                    self.out.warn(&format!(
                        "warning: {e}: {what} is not saved this time (what is on disk there is kept as it was); training goes on"
                    ));
                }
                Ok(Some(e))
            }
            Err(e) => Err(e),
        }
    }

    /// The signal that stopped the run, if any, and its exit status.
    pub fn signal(&self) -> Option<(&'static str, u8)> {
        self.interrupts.received()
    }

    /// Warns once when the loss rises far above its best (or, for the
    /// article's preset, is far above chance); stops a run whose loss is
    /// far above chance (the article's preset excepted: it reproduces a
    /// published diverging run), keeping what is on disk.
    fn judge_divergence(&mut self, loss: f64, chars_seen: usize) -> Result<()> {
        if !self.config.drop_tail && far_above_chance(loss, self.vocab_len) {
            let chance = (self.vocab_len as f64).ln();
            return Err(Error::Diverged(format!(
                "training diverged: the loss is {loss:.3} nats/char after {chars_seen} characters, far above chance (ln V = {chance:.3}), so the run was stopped and these weights were not saved: {}",
                cause(&self.config)
            )));
        }
        if !self.warned
            && let Some(line) = diagnose(loss, self.best_train, self.vocab_len, &self.config)
        {
            self.out.warn(&line);
            self.warned = true;
        }
        self.best_train = self.best_train.min(loss);
        Ok(())
    }

    /// Whether a model whose held-out loss beats the best so far is worth
    /// keeping as the best: not when that loss is far above chance (a run
    /// that diverged between two reports, before its training loss showed
    /// it), which is said once.
    fn fit_for_best(&mut self, held_out_loss: f64) -> bool {
        if !far_above_chance(held_out_loss, self.vocab_len) {
            return true;
        }
        if !self.warned_held_out {
            self.out.warn(&format!(
                "warning: the held-out loss ({held_out_loss:.3} nats/char) is far above chance (ln V = {:.3}): this model is not kept as the best",
                (self.vocab_len as f64).ln()
            ));
            self.warned_held_out = true;
        }
        false
    }

    /// True when the weights are worth a periodic checkpoint: the loss
    /// since the last report is not far above chance.
    fn worth_saving(&self, recent_loss: f64) -> bool {
        self.config.drop_tail
            || recent_loss.is_nan()
            || !far_above_chance(recent_loss, self.vocab_len)
    }

    fn draw_progress(&self, p: &Progress) {
        self.out.progress(p.chars_seen, || {
            let epoch_chars = (p.planned_chars as f64 / self.config.epochs as f64).max(1.0);
            let rate = p.chars_seen.saturating_sub(self.start.chars_seen) as f64
                / p.elapsed
                    .saturating_sub(self.start.elapsed)
                    .as_secs_f64()
                    .max(1e-9);
            // No loss before the first report (NaN there read as a
            // diverged run).
            let loss = if self.last_train.is_nan() {
                String::new()
            } else {
                format!("  loss {:.3}", self.last_train)
            };
            format!(
                "epoch {:.2}  {:.0}k chars/s{loss}{}",
                p.chars_seen as f64 / epoch_chars,
                rate / 1e3,
                if self.best_val.is_finite() {
                    format!("  best val {:.3}", self.best_val)
                } else {
                    String::new()
                }
            )
        });
    }

    fn maybe_sample(&mut self, trainer: &Trainer, chars_seen: usize) -> Result<()> {
        let Some(s) = &mut self.samples else {
            return Ok(());
        };
        if chars_seen < s.next {
            return Ok(());
        }
        // The next multiple of `every`, however far the step that reached
        // this one went past it.
        s.next = session::next_multiple(s.every, chars_seen);
        let model = trainer.model();
        let mut sampler = Sampler::new(model, self.config.seed ^ chars_seen as u64);
        let mut text = Vec::new();
        write_sample(
            &mut text,
            model,
            &mut sampler,
            &[s.prime],
            PERIODIC_SAMPLE_LEN,
            Pick::MODEL,
        )?;
        let text = String::from_utf8_lossy(&text).into_owned();
        self.out.line(format_args!(
            "--- sample after {chars_seen} characters ---\n{text}\n---"
        ));
        Ok(())
    }
}

impl Observer for TrainObserver {
    fn report(&mut self, trainer: &Trainer, r: &Report) -> Result<()> {
        self.last.elapsed = Duration::from_secs_f64(r.elapsed_s);
        self.last.chars_seen = r.chars_seen;
        self.out.line(format_args!("{}", report_line(r)));
        if let Some(lr) = r.lr_cut {
            self.out.line(format_args!(
                "no new best validation loss in {}: learning rate now {lr:.3e}",
                counted(self.config.patience, "report")
            ));
        }
        match self.log.as_mut().map(|log| log.row(r)) {
            Some(Err(e)) => {
                self.out.warn(&format!(
                    "warning: {e}: the log stops here; training goes on"
                ));
                self.log = None;
                self.log_failure = Some(e);
            }
            Some(Ok(Some((asked, what)))) => {
                self.out
                    .warn(&format!("warning: --log {}: {what}", asked.display()));
                // The log is not where it was asked for: said again at the
                // end, with exit status 1, as for `-o`, naming the log the
                // user gave (a log that moves twice is named once).
                let asked = match self.log_failure.take() {
                    Some(Error::Write { path, .. }) => path,
                    _ => asked,
                };
                self.log_failure = Some(Error::Write {
                    path: asked,
                    source: std::io::Error::other(what),
                });
            }
            _ => {}
        }
        self.judge_divergence(r.train_loss, r.chars_seen)?;
        self.last_train = r.train_loss;
        if let Some(val) = r.val
            && r.scheduled
            && val.loss_nats < self.best_val
            && self.fit_for_best(val.loss_nats)
        {
            let before = std::mem::replace(&mut self.best_val, val.loss_nats);
            if self.keep_best {
                let saved = self.save(trainer, &best_path(&self.output), r.chars_seen);
                if let Some(e) =
                    self.write_failure(saved, "the best model", self.best_failure.is_some())?
                {
                    // The best on disk is still the one before: a later
                    // model better than it is saved.
                    self.best_val = before;
                    self.best_failure = Some(e);
                } else {
                    self.best_epoch = Some(r.epoch);
                    self.best_failure = None;
                }
            }
        }
        Ok(())
    }

    fn tick(&mut self, trainer: &Trainer, p: &Progress) -> Result<bool> {
        self.last = *p;
        self.draw_progress(p);
        if let Some(every) = self.checkpoint_every
            && self.last_checkpoint.elapsed() >= every
            && self.worth_saving(p.recent_loss)
        {
            let output = self.output.clone();
            let saved = self.save(trainer, &output, p.chars_seen);
            let failed = self.checkpoint_failure.is_some();
            self.checkpoint_failure = self.write_failure(saved, "a checkpoint", failed)?;
            self.checkpoint_saved |= self.checkpoint_failure.is_none();
            self.last_checkpoint = Instant::now();
        }
        self.maybe_sample(trainer, p.chars_seen)?;
        // A signal asks to stop after this step (the session then saves).
        Ok(self.signal().is_none())
    }

    fn next_tick_at(&self) -> Option<usize> {
        self.samples.as_ref().map(|s| s.next)
    }
}

/// `OUTPUT` with `.best` before its extension: `model.safetensors` → `model.best.safetensors`.
pub fn best_path(output: &Path) -> PathBuf {
    rnn_fast::files::with_infix(output, ".best")
}
