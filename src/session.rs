//! A training session: the epochs, the reports (with the loss on held-out
//! text), and the time limit, around a [`Trainer`].
//!
//! A report is made when an epoch ends at the article's cadence (epoch 1,
//! every tenth of the epochs, the last), whenever the characters trained in
//! the run reach the next multiple of `eval_every` (so a resumed run
//! reports where the run that never stopped does; a multiple within half
//! that spacing of an epoch end that reports is left out, as a repeat of
//! it), and when training stops. Its
//! training loss always means one thing: the mean over the characters
//! trained since the previous report (the progress bar shows the last one).
//! `elapsed_s` counts training only; evaluation time is left out, so that
//! time-to-loss figures measure the trainer. The validation loss is
//! [`Trainer::validate`]'s, and the schedule hears it
//! ([`Trainer::observe_validation`]): exact below 200,000 held-out characters, in
//! segments of at least 100,000 on all threads above.

use std::time::{Duration, Instant};

use crate::bptt::ChunkLoss;
use crate::error::{Error, Result};
use crate::eval::Score;
use crate::trainer::Trainer;

/// When to report and when to stop.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOptions {
    /// Total epochs of the run (a resumed run counts the epochs before it).
    pub epochs: usize,
    /// Report after this many trained characters (0: only at epoch ends).
    pub eval_every: usize,
    /// Stop after this much training time (of this session).
    pub max_time: Option<Duration>,
    /// The observer hears from the session at least this often.
    pub tick: Duration,
    /// Where a resumed run stands: characters trained and training time so far.
    pub start_chars: usize,
    pub start_elapsed: Duration,
}

/// Where a session stands, between two steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Training time so far, this session and those before it.
    pub elapsed: Duration,
    /// Characters trained so far, and in the whole run when it finishes.
    pub chars_seen: usize,
    pub planned_chars: usize,
    /// Mean training loss since the last report (NaN before any).
    pub recent_loss: f64,
}

/// What the session tells the program running it.
pub trait Observer {
    /// A report was made (also a row of the log).
    fn report(&mut self, trainer: &Trainer, report: &Report) -> Result<()>;
    /// A moment between two steps, at least every `tick`: time to draw
    /// progress, write a checkpoint or stop. `Ok(false)` stops the session.
    fn tick(&mut self, trainer: &Trainer, progress: &Progress) -> Result<bool>;
    /// The characters trained (in the run) at which the observer wants its
    /// next tick, if any: the session ticks at the first step that reaches
    /// them (a periodic sample at its count, not at the next tick's).
    fn next_tick_at(&self) -> Option<usize> {
        None
    }
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
    /// The learning rate the plateau schedule cut to after this report's
    /// validation loss, when it did.
    pub lr_cut: Option<f32>,
    /// Whether the report is one at the run's cadence, which an
    /// uninterrupted run makes too, rather than the one at a stop (a time
    /// limit, a signal): only those pick the best model, as they feed the
    /// plateau schedule, so that a run stopped and resumed keeps the same
    /// `.best` model and record as one that was not.
    pub scheduled: bool,
}

/// Loss and training time over a stretch of the run.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    loss: ChunkLoss,
    time: Duration,
}

impl Window {
    fn add(&mut self, loss: ChunkLoss, time: Duration) {
        self.loss += loss;
        self.time += time;
    }
}

/// The first multiple of `every` above `count` (the next report's, or the
/// next sample's, character count).
pub fn next_multiple(every: usize, count: usize) -> usize {
    (count / every + 1).saturating_mul(every)
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// All epochs done.
    Finished,
    /// The time limit was reached.
    TimeLimit,
    /// The observer asked to stop.
    Stopped,
}

/// Where a running session stands: its time, characters, and the loss
/// and time since the last report.
struct Run<'a> {
    options: &'a SessionOptions,
    val: &'a [u16],
    epoch_chars: usize,
    /// Epoch ends report every this many epochs (and at the first and last).
    every_epochs: usize,
    session: Duration,
    chars_seen: usize,
    window: Window,
}

impl Run<'_> {
    /// Training time of the whole run so far.
    fn elapsed(&self) -> Duration {
        self.options.start_elapsed + self.session
    }

    /// Whether the end of epoch `k` (from 1) reports: at the article's
    /// cadence, the first, every tenth of the epochs, the last.
    fn epoch_end_reports(&self, k: usize) -> bool {
        let epochs = self.options.epochs;
        (1..=epochs).contains(&k) && (k == 1 || k.is_multiple_of(self.every_epochs) || k == epochs)
    }

    /// Whether the multiple `m` of `eval_every` lies within half that
    /// spacing of an epoch end that reports: its report would repeat that
    /// one a step or two away (and count twice toward the plateau's
    /// patience), so it is left out. Decided by `m` alone, so that a resumed
    /// run leaves out the same. The reporting epoch ends nearest to `m` on
    /// each side are among the epochs either side of it, those rounded to
    /// the cadence, the first and the last.
    fn repeats_an_epoch_report(&self, m: usize) -> bool {
        let (e, cadence) = (self.epoch_chars, self.every_epochs);
        let (below, above) = (m / e, m.div_ceil(e));
        let nearest = [
            below,
            above,
            below / cadence * cadence,
            above.div_ceil(cadence) * cadence,
            1,
            self.options.epochs,
        ];
        nearest
            .into_iter()
            .any(|k| self.epoch_end_reports(k) && (k * e).abs_diff(m) < self.options.eval_every / 2)
    }

    /// Reports the loss of `w` (and validates) to the observer. `scheduled`:
    /// a report at the cadence (not the one at a stop), whose validation
    /// loss the learning-rate schedule hears.
    fn report(
        &self,
        trainer: &mut Trainer,
        observer: &mut dyn Observer,
        w: Window,
        scheduled: bool,
    ) -> Result<()> {
        // At an epoch end, the exact count; inside one, the fraction trained.
        let epoch = if trainer.in_epoch() {
            self.chars_seen as f64 / self.epoch_chars as f64
        } else {
            trainer.epoch() as f64
        };
        let val = (self.val.len() >= 2).then(|| trainer.validate(self.val));
        let cut = scheduled && val.is_some_and(|v| trainer.observe_validation(v.loss_nats));
        let r = Report {
            elapsed_s: self.elapsed().as_secs_f64(),
            epoch,
            chars_seen: self.chars_seen,
            train_loss: w.loss.mean(),
            val,
            chars_per_sec: w.loss.count as f64 / w.time.as_secs_f64().max(1e-9),
            lr_cut: cut.then(|| trainer.lr()),
            scheduled,
        };
        observer.report(trainer, &r)
    }

    /// Trains until the next tick, report or epoch end; the error is a divergence.
    fn train(
        &mut self,
        trainer: &mut Trainer,
        train: &[u16],
        tick_at: Option<usize>,
    ) -> Result<bool> {
        let report = match self.options.eval_every {
            0 => usize::MAX,
            n => next_multiple(n, self.chars_seen) - self.chars_seen,
        };
        let tick = tick_at.map_or(usize::MAX, |at| at.saturating_sub(self.chars_seen).max(1));
        let want = report.min(tick);
        let limit = match self.options.max_time {
            Some(m) => m.saturating_sub(self.session).min(self.options.tick),
            None => self.options.tick,
        };
        let start = Instant::now();
        let (loss, epoch_ended) = trainer.train_for(train, want, Some(limit));
        let took = start.elapsed();
        self.session += took;
        if trainer.diverged() {
            return Err(Error::Diverged(format!(
                "training diverged after {} characters: the loss is no longer a number ({}), so the last step was not applied; lower --lr, or clip harder (--clip, --clip-norm)",
                self.chars_seen + loss.count,
                loss.mean()
            )));
        }
        self.chars_seen += loss.count;
        self.window.add(loss, took);
        Ok(epoch_ended)
    }
}

/// Trains `trainer` on `train` for `options.epochs` epochs (or until the
/// time limit or the observer stops it), telling `observer`, which may also
/// end the run with an error (a closed output, say).
pub fn run(
    trainer: &mut Trainer,
    train: &[u16],
    val: &[u16],
    options: &SessionOptions,
    observer: &mut dyn Observer,
) -> Result<Stop> {
    let epoch_chars = trainer.chars_per_epoch().max(1);
    let planned_chars = epoch_chars.saturating_mul(options.epochs);
    let mut run = Run {
        options,
        val,
        epoch_chars,
        every_epochs: (options.epochs / 10).max(1),
        session: Duration::ZERO,
        chars_seen: options.start_chars,
        window: Window::default(),
    };
    while trainer.epoch() < options.epochs {
        let before = run.chars_seen;
        let ended = run.train(trainer, train, observer.next_tick_at())?;
        // At the epoch cadence, and at every multiple of eval_every that
        // does not repeat an epoch's report; like every report, the loss
        // since the last one.
        let cadence = ended && run.epoch_end_reports(trainer.epoch());
        let every = options.eval_every;
        let crossed = every > 0
            && run.chars_seen / every > before / every
            && !run.repeats_an_epoch_report(run.chars_seen / every * every);
        if cadence || crossed {
            let window = std::mem::take(&mut run.window);
            run.report(trainer, observer, window, true)?;
        }
        let progress = Progress {
            elapsed: run.elapsed(),
            chars_seen: run.chars_seen,
            planned_chars,
            recent_loss: match run.window.loss.count {
                0 => f64::NAN,
                _ => run.window.loss.mean(),
            },
        };
        let go_on = observer.tick(trainer, &progress)?;
        let out_of_time = options.max_time.is_some_and(|limit| run.session >= limit);
        // A stop asked in the step that ends the last epoch stops nothing:
        // the run is finished (and has nothing to resume).
        let finished = trainer.epoch() >= options.epochs;
        if (!go_on || out_of_time) && !finished {
            if run.window.loss.count > 0 {
                run.report(trainer, observer, run.window, false)?;
            }
            return Ok(if go_on {
                Stop::TimeLimit
            } else {
                Stop::Stopped
            });
        }
    }
    Ok(Stop::Finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::corpus::Corpus;

    /// A fresh session of `epochs` reporting every `eval_every` characters,
    /// without a time limit.
    fn fresh(epochs: usize, eval_every: usize) -> SessionOptions {
        SessionOptions {
            epochs,
            eval_every,
            max_time: None,
            tick: Duration::from_secs(3600),
            start_chars: 0,
            start_elapsed: Duration::ZERO,
        }
    }

    /// A text of 5,100 characters and a model of H 8 on one thread.
    fn small_run() -> (Corpus, TrainConfig) {
        let text = "the cat sat on the mat and the dog sat on the log. ".repeat(100);
        let corpus = Corpus::from_text(&text).unwrap();
        let config = TrainConfig {
            hidden: 8,
            threads: 1,
            ..TrainConfig::defaults(corpus.len())
        };
        (corpus, config)
    }

    /// Keeps every report.
    struct Reports(Vec<Report>);

    impl Observer for Reports {
        fn report(&mut self, _: &Trainer, r: &Report) -> Result<()> {
            self.0.push(*r);
            Ok(())
        }
        fn tick(&mut self, _: &Trainer, _: &Progress) -> Result<bool> {
            Ok(true)
        }
    }

    /// Asks to stop at every tick.
    struct Stopper;

    impl Observer for Stopper {
        fn report(&mut self, _: &Trainer, _: &Report) -> Result<()> {
            Ok(())
        }
        fn tick(&mut self, _: &Trainer, _: &Progress) -> Result<bool> {
            Ok(false)
        }
    }

    /// A stop asked in the step that ends the last epoch finds the run
    /// finished (a stopped run is told to resume, and there would be
    /// nothing to resume); earlier, it stops.
    #[test]
    fn a_stop_at_the_last_epoch_end_is_a_finish() {
        let (corpus, config) = small_run();
        for (epochs, want) in [(1, Stop::Finished), (2, Stop::Stopped)] {
            let mut trainer = Trainer::new(config.clone(), &corpus).unwrap();
            let got = run(
                &mut trainer,
                &corpus.ids,
                &[],
                &fresh(epochs, 0),
                &mut Stopper,
            )
            .unwrap();
            assert_eq!((got, trainer.epoch()), (want, 1), "{epochs} epochs");
        }
    }

    /// Keeps every report, and stops at the tick it wants at `stop_at`
    /// characters.
    struct StopAt {
        reports: Vec<Report>,
        stop_at: usize,
    }

    impl Observer for StopAt {
        fn report(&mut self, _: &Trainer, r: &Report) -> Result<()> {
            self.reports.push(*r);
            Ok(())
        }
        fn tick(&mut self, _: &Trainer, p: &Progress) -> Result<bool> {
            Ok(p.chars_seen < self.stop_at)
        }
        fn next_tick_at(&self) -> Option<usize> {
            Some(self.stop_at)
        }
    }

    /// The report at a stop is not one at the cadence: the observer does
    /// not let it pick the best model, which a run that was not stopped
    /// would not have validated there.
    #[test]
    fn only_the_report_at_a_stop_is_unscheduled() {
        let (corpus, config) = small_run();
        let val: Vec<u16> = corpus.ids[..500].to_vec();
        let mut trainer = Trainer::new(config, &corpus).unwrap();
        // Between two reports at the cadence (every quarter epoch).
        let stop_at = trainer.chars_per_epoch() * 13 / 8;
        let mut observer = StopAt {
            reports: Vec::new(),
            stop_at,
        };
        let options = fresh(3, trainer.chars_per_epoch() / 4);
        let stop = run(&mut trainer, &corpus.ids, &val, &options, &mut observer).unwrap();
        assert_eq!(stop, Stop::Stopped);
        let (last, cadence) = observer.reports.split_last().unwrap();
        assert!(cadence.len() >= 4, "{cadence:?}");
        assert!(cadence.iter().all(|r| r.scheduled && r.val.is_some()));
        assert!(!last.scheduled && last.val.is_some(), "{last:?}");
        assert!(last.chars_seen >= stop_at, "{last:?}");
    }

    #[test]
    fn every_report_means_the_characters_since_the_one_before() {
        let text = "the cat sat on the mat and the dog sat on the log. ".repeat(400);
        let corpus = Corpus::from_text(&text).unwrap();
        let config = TrainConfig {
            hidden: 16,
            threads: 1,
            epochs: 1,
            ..TrainConfig::defaults(corpus.len())
        };
        let options = fresh(1, 3_000);
        let mut trainer = Trainer::new(config.clone(), &corpus).unwrap();
        let mut reports = Reports(Vec::new());
        let stop = run(&mut trainer, &corpus.ids, &[], &options, &mut reports).unwrap();
        assert_eq!(stop, Stop::Finished);
        let r = &reports.0;
        assert!(r.len() >= 3, "{r:?}");
        // The reports' windows tile the epoch: their losses weighted by
        // their characters give the epoch's mean, which the last report
        // alone (its own window) does not.
        let (mut sum, mut before) = (0.0, 0);
        for report in r {
            assert!(report.chars_seen > before, "an empty report: {r:?}");
            sum += report.train_loss * (report.chars_seen - before) as f64;
            before = report.chars_seen;
        }
        let epoch = Trainer::new(config, &corpus)
            .unwrap()
            .run_epoch(&corpus.ids);
        assert_eq!(before, epoch.chars);
        let mean = sum / before as f64;
        assert!((mean - epoch.loss).abs() < 1e-9, "{mean} vs {}", epoch.loss);
        assert!((r.last().unwrap().train_loss - epoch.loss).abs() > 1e-3);
    }

    #[test]
    fn a_multiple_of_eval_every_at_an_epoch_end_makes_one_report() {
        let (corpus, config) = small_run();
        let mut trainer = Trainer::new(config, &corpus).unwrap();
        let options = fresh(2, trainer.chars_per_epoch());
        let mut reports = Reports(Vec::new());
        run(&mut trainer, &corpus.ids, &[], &options, &mut reports).unwrap();
        let epochs: Vec<f64> = reports.0.iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, [1.0, 2.0], "{:?}", reports.0);
        assert!(reports.0.iter().all(|r| r.train_loss > 0.0));
    }

    /// A multiple of `eval_every` a few characters after (or before) an
    /// epoch end that reports is left out: no report of a step or two, and
    /// the rest of the spacing kept. The first case is one `train
    /// --val-frac` makes: the spacing raised to the held-out length, of
    /// which the epoch is a whole number less one character.
    #[test]
    fn no_report_follows_an_epoch_report_by_a_step() {
        let (corpus, config) = small_run();
        let epoch = Trainer::new(config.clone(), &corpus)
            .unwrap()
            .chars_per_epoch();
        // Where a session of `epochs` reporting every `every` reports, each
        // report at least half a spacing after the one before.
        let report_points = |epochs: usize, every: usize| {
            let mut trainer = Trainer::new(config.clone(), &corpus).unwrap();
            let mut reports = Reports(Vec::new());
            let options = fresh(epochs, every);
            run(&mut trainer, &corpus.ids, &[], &options, &mut reports).unwrap();
            let at: Vec<usize> = reports.0.iter().map(|r| r.chars_seen).collect();
            let spaced = at.windows(2).all(|w| w[1] - w[0] >= every / 2);
            assert!(spaced, "{every}: {at:?}");
            at
        };
        // A multiple one character after the first epoch end, and one
        // crossed 19 characters before it (by a step that ends in the epoch).
        for every in [epoch.div_ceil(2), (epoch - 30) / 3] {
            let at = report_points(3, every);
            // Every epoch end reports, and every multiple away from one.
            for k in 1..=3 {
                assert!(at.contains(&(k * epoch)), "{every}: {at:?}");
            }
            assert!(at.len() >= 6, "{every}: {at:?}");
        }
        // Short epochs reporting every fourth: the multiple at 13.3 epochs
        // is near the end of epoch 12, not of 13 or 14 beside it.
        let at = report_points(40, epoch * 40 / 9);
        assert!(at.contains(&(12 * epoch)), "{at:?}");
    }
}
