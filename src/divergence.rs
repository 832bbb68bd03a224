//! Telling a diverging run: a loss far above chance, ln V nats per
//! character (a model that knows nothing predicts each of the V characters
//! with probability 1/V), or above twice the best so far.

use crate::config::{GradReduce, OptimizerKind, TrainConfig};

/// True when a training loss is so far above chance that the run has
/// diverged and its weights are worth nothing: above `2 ln V` and `ln V + 3`
/// (a fresh model starts near ln V; a healthy run never climbs this far), or
/// not a number. A run that reports such a loss is stopped and its weights
/// are not saved.
pub fn far_above_chance(loss: f64, vocab_size: usize) -> bool {
    let chance = (vocab_size as f64).ln();
    !loss.is_finite() || loss > (2.0 * chance).max(chance + 3.0)
}

/// One line explaining a diverging run, or `None` when the loss looks
/// healthy. A run diverges when its epoch loss is far above chance
/// ([`far_above_chance`], from the first report on), or both above ln V + 1
/// nats and more than twice the best epoch loss so far; a brief rise in the
/// first epochs of a healthy run is neither. The article's settings
/// diverge: summed gradients make its lr 0.2 act like lr 8 on the mean loss
/// (a run of them is warned, not stopped).
pub fn diagnose(loss: f64, best: f64, vocab_size: usize, config: &TrainConfig) -> Option<String> {
    let chance = (vocab_size as f64).ln();
    let rising = loss > chance + 1.0 && loss > 2.0 * best;
    if !far_above_chance(loss, vocab_size) && !rising {
        return None;
    }
    Some(format!(
        "warning: the loss ({loss:.3} nats/char) is far above chance (ln V = {chance:.3}): training is diverging because the step size is too large: {}",
        cause(config)
    ))
}

/// What makes the step too large, and the fix: with SGD, summed gradients
/// multiply the step by the predictions summed; Adam's and Adagrad's steps
/// divide the gradient's scale away, so there only the rate is to blame.
pub fn cause(config: &TrainConfig) -> String {
    match (config.grad, config.optimizer) {
        (GradReduce::Sum, OptimizerKind::Sgd) => {
            // Summed over T steps of each of K shards.
            let n = config.seq_len * config.shards;
            let what = if config.shards == 1 {
                format!("{} steps", config.seq_len)
            } else {
                format!("{} steps of {} shards", config.seq_len, config.shards)
            };
            format!(
                "gradients are summed over {what} (--grad sum), so lr {} acts like lr {} on the mean loss; use --grad mean or divide --lr by {n}",
                config.lr,
                config.lr * n as f32
            )
        }
        _ => format!("lower --lr (now {})", config.lr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_bounds_the_loss() {
        // V 65: ln V = 4.17, bound 8.35.
        assert!(!far_above_chance(4.5, 65));
        assert!(!far_above_chance(8.3, 65));
        assert!(far_above_chance(8.4, 65));
        assert!(far_above_chance(1_500.0, 65));
        assert!(far_above_chance(f64::NAN, 65));
        // V 2: ln V = 0.69, bound ln V + 3.
        assert!(!far_above_chance(3.6, 2));
        assert!(far_above_chance(3.7, 2));
    }

    #[test]
    fn the_warning_names_the_cause() {
        let c = TrainConfig::article();
        let line = diagnose(60.0, 3.9, 24, &c).unwrap();
        assert!(line.contains("summed over 40 steps"), "{line}");
        assert!(diagnose(3.0, 2.9, 24, &c).is_none());
        // Adam and Adagrad divide the gradient's scale away: summing is not
        // the cause there.
        for optimizer in [OptimizerKind::Adam, OptimizerKind::Adagrad] {
            let c = TrainConfig {
                optimizer,
                ..TrainConfig::article()
            };
            assert_eq!(cause(&c), "lower --lr (now 0.2)");
        }
        // ln 24 = 3.18: a rise to 4.5 (above ln V + 1, more than twice the
        // best) warns; the same 4.5 against a best of 3 does not.
        assert!(diagnose(4.5, 2.2, 24, &c).is_some());
        assert!(diagnose(4.5, 3.0, 24, &c).is_none());
        // Far above chance (2 ln V = 6.36) warns at the first report, with
        // no best yet, and whatever the best.
        assert!(diagnose(56.6, f64::INFINITY, 24, &c).is_some());
        assert!(diagnose(7.0, 6.0, 24, &c).is_some());
        assert!(diagnose(6.3, f64::INFINITY, 24, &c).is_none());
        assert!(diagnose(f64::NAN, 3.0, 24, &c).is_some());
    }
}
