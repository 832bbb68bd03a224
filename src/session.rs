//! A training session: the epochs, the reports (with the loss on held-out
//! text), and the time limit, around a [`Trainer`].
//!
//! A report is made when an epoch ends at the article's cadence (epoch 1,
//! every tenth of the epochs, the last), whenever `eval_every` characters
//! have been trained since the last report, and when training stops.
//! `elapsed_s` counts training only; evaluation time is left out, so that
//! time-to-loss figures measure the trainer. The validation loss is
//! [`Trainer::validate`]'s: exact below 200,000 held-out characters, in
//! segments of at least 100,000 on all threads above.

use std::time::{Duration, Instant};

use crate::bptt::ChunkLoss;
use crate::error::Result;
use crate::eval::Score;
use crate::trainer::Trainer;

/// When to report and when to stop.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOptions {
    /// Total epochs of the run.
    pub epochs: usize,
    /// Report after this many trained characters (0: only at epoch ends).
    pub eval_every: usize,
    /// Stop after this much training time.
    pub max_time: Option<Duration>,
}

/// One report: a row of the CSV log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Seconds of training so far (evaluations excluded).
    pub elapsed_s: f64,
    /// Epochs done, fractional: characters trained / characters per epoch.
    pub epoch: f64,
    /// Characters trained so far.
    pub chars_seen: usize,
    /// Mean training loss since the previous report, nats per character.
    pub train_loss: f64,
    /// Loss on the held-out text, when there is one.
    pub val: Option<Score>,
    /// Training throughput since the previous report.
    pub chars_per_sec: f64,
}

/// Loss and training time over a stretch of the run.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    loss: ChunkLoss,
    time: Duration,
}

impl Window {
    fn add(&mut self, loss: ChunkLoss, time: Duration) {
        self.loss.sum += loss.sum;
        self.loss.count += loss.count;
        self.time += time;
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// All epochs done.
    Finished,
    /// The time limit was reached.
    TimeLimit,
}

/// Trains `trainer` on `train` for `options.epochs` epochs (or until the
/// time limit), reporting through `on_report`, which may stop the run with
/// an error (a closed output, say).
pub fn run(
    trainer: &mut Trainer,
    train: &[u16],
    val: &[u16],
    options: &SessionOptions,
    mut on_report: impl FnMut(&Report) -> Result<()>,
) -> Result<Stop> {
    let epoch_chars = train.len().saturating_sub(1).max(1);
    let every_epochs = (options.epochs / 10).max(1);
    let mut trained = Duration::ZERO;
    let mut chars_seen = 0usize;
    // Loss and time since the last report, and since the epoch began.
    let mut window = Window::default();
    let mut epoch = Window::default();
    let mut report = |trainer: &mut Trainer, trained: Duration, chars_seen: usize, w: Window| {
        on_report(&Report {
            elapsed_s: trained.as_secs_f64(),
            epoch: chars_seen as f64 / epoch_chars as f64,
            chars_seen,
            train_loss: w.loss.sum / w.loss.count.max(1) as f64,
            val: (val.len() >= 2).then(|| trainer.validate(val)),
            chars_per_sec: w.loss.count as f64 / w.time.as_secs_f64().max(1e-9),
        })
    };
    while trainer.epoch() < options.epochs {
        let want = match options.eval_every {
            0 => usize::MAX,
            n => n.saturating_sub(window.loss.count).max(1),
        };
        let limit = options.max_time.map(|m| m.saturating_sub(trained));
        let start = Instant::now();
        let (loss, epoch_ended) = trainer.train_for(train, want, limit);
        let took = start.elapsed();
        trained += took;
        chars_seen += loss.count;
        window.add(loss, took);
        epoch.add(loss, took);
        if epoch_ended {
            // At the epoch cadence, the epoch's own loss, as the article prints it.
            let e = trainer.epoch();
            let ended = std::mem::take(&mut epoch);
            if e == 1 || e.is_multiple_of(every_epochs) || e == options.epochs {
                report(trainer, trained, chars_seen, ended)?;
                window = Window::default();
            }
        } else if options.eval_every > 0 && window.loss.count >= options.eval_every {
            report(trainer, trained, chars_seen, std::mem::take(&mut window))?;
        }
        if options.max_time.is_some_and(|limit| trained >= limit) {
            if window.loss.count > 0 {
                report(trainer, trained, chars_seen, window)?;
            }
            return Ok(Stop::TimeLimit);
        }
    }
    Ok(Stop::Finished)
}
