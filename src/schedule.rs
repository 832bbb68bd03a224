//! Learning-rate schedules: the rate of each update, from the settings and
//! where the run stands.
//!
//! With base rate `lr`, `e` the epoch (0-based), `p` the fraction of the
//! planned characters (epochs × characters per epoch) trained before the
//! update, and F = `--lr-decay`:
//!
//! ```text
//! step:     lr · F^⌊e / E⌋         E = --lr-decay-every (F = 1: constant)
//! cosine:   lr · (1 + cos π p) / 2  (from lr to 0 over the planned epochs)
//! plateau:  lr · F^n                n = the times the validation loss did not
//!                                   beat its best for --patience reports in a row
//! ```
//!
//! and, while fewer than W = `--warmup` characters are trained, times
//! `(c + 1) / W` for the `c` characters trained so far: a linear warm-up.
//! Only the plateau has state of its own ([`Plateau`]); it is part of a
//! checkpoint, so a resumed run takes the same rates.

use crate::config::{LrSchedule, TrainConfig};

/// Where a run stands when an update is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Epochs completed.
    pub epoch: usize,
    /// Characters trained so far in the whole run, and planned for it.
    pub chars: usize,
    pub planned: usize,
}

/// The plateau schedule's memory: the factor the rate is at, the best
/// validation loss so far and the reports since it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plateau {
    pub factor: f32,
    pub best: f64,
    pub bad: usize,
}

impl Default for Plateau {
    fn default() -> Plateau {
        Plateau {
            factor: 1.0,
            best: f64::INFINITY,
            bad: 0,
        }
    }
}

impl Plateau {
    /// Hears a validation loss: a new best resets the count; `patience`
    /// reports in a row without one multiply the factor by `decay` (and
    /// start the count again). True when the rate was cut.
    pub fn observe(&mut self, loss: f64, patience: usize, decay: f32) -> bool {
        if loss < self.best {
            self.best = loss;
            self.bad = 0;
            return false;
        }
        self.bad = self.bad.saturating_add(1);
        if self.bad < patience {
            return false;
        }
        self.factor *= decay;
        self.bad = 0;
        true
    }
}

/// The learning rate of an update made at `at` (see the module doc).
pub fn lr(config: &TrainConfig, at: Position, plateau: &Plateau) -> f32 {
    let base = match config.lr_schedule {
        LrSchedule::Step => {
            let decays = (at.epoch / config.lr_decay_every).min(i32::MAX as usize) as i32;
            config.lr * config.lr_decay.powi(decays)
        }
        LrSchedule::Cosine => {
            let p = (at.chars as f64 / at.planned.max(1) as f64).min(1.0);
            (config.lr as f64 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())) as f32
        }
        LrSchedule::Plateau => config.lr * plateau.factor,
    };
    if at.chars < config.warmup {
        (base as f64 * (at.chars + 1) as f64 / config.warmup as f64) as f32
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(schedule: LrSchedule) -> TrainConfig {
        TrainConfig {
            lr: 0.1,
            lr_schedule: schedule,
            warmup: 0,
            ..TrainConfig::defaults(1_000)
        }
    }

    fn at(epoch: usize, chars: usize) -> Position {
        Position {
            epoch,
            chars,
            planned: 1_000,
        }
    }

    #[test]
    fn step_decays_every_n_epochs() {
        let c = TrainConfig {
            lr_decay: 0.5,
            lr_decay_every: 2,
            ..config(LrSchedule::Step)
        };
        let none = Plateau::default();
        let lrs: Vec<f32> = (0..6).map(|e| lr(&c, at(e, 0), &none)).collect();
        assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
        // Without a decay, constant.
        assert_eq!(lr(&config(LrSchedule::Step), at(9, 999), &none), 0.1);
    }

    #[test]
    fn cosine_falls_from_lr_to_zero_over_the_planned_characters() {
        let c = config(LrSchedule::Cosine);
        let none = Plateau::default();
        assert_eq!(lr(&c, at(0, 0), &none), 0.1);
        assert!((lr(&c, at(0, 500), &none) - 0.05).abs() < 1e-8);
        assert!((lr(&c, at(0, 250), &none) - 0.1 * (0.5 + 0.5 * 0.5f32.sqrt())).abs() < 1e-7);
        assert!(lr(&c, at(1, 1_000), &none).abs() < 1e-9);
        // Past the plan (more epochs on resume), it stays at zero, never rises.
        assert!(lr(&c, at(2, 1_500), &none).abs() < 1e-9);
    }

    #[test]
    fn warmup_rises_linearly_then_leaves_the_schedule_alone() {
        let c = TrainConfig {
            warmup: 100,
            ..config(LrSchedule::Step)
        };
        let none = Plateau::default();
        assert!((lr(&c, at(0, 0), &none) - 0.001).abs() < 1e-9);
        assert!((lr(&c, at(0, 49), &none) - 0.05).abs() < 1e-8);
        assert_eq!(lr(&c, at(0, 100), &none), 0.1);
        let cosine = TrainConfig {
            warmup: 100,
            ..config(LrSchedule::Cosine)
        };
        let half = lr(&cosine, at(0, 49), &none);
        assert!((half - 0.5 * lr(&config(LrSchedule::Cosine), at(0, 49), &none)).abs() < 1e-8);
    }

    #[test]
    fn plateau_cuts_after_patience_reports_without_a_new_best() {
        let mut p = Plateau::default();
        let cuts: Vec<bool> = [2.0, 1.9, 1.95, 1.92, 1.91, 1.8, 1.85, 1.85]
            .iter()
            .map(|&l| p.observe(l, 3, 0.5))
            .collect();
        assert_eq!(
            cuts,
            [false, false, false, false, true, false, false, false]
        );
        assert_eq!(p.factor, 0.5);
        assert_eq!((p.best, p.bad), (1.8, 2));
        let c = config(LrSchedule::Plateau);
        assert_eq!(lr(&c, at(3, 0), &p), 0.05);
    }
}
