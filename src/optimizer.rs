//! The parameter update: scale, clip and apply a gradient, as one flat loop
//! over the shared layout.

use crate::config::OptimizerKind;

/// Added under the square root of Adagrad's denominator.
const ADAGRAD_EPS: f32 = 1e-8;

/// An optimizer and its state (Adagrad's running sum of squared gradients).
#[derive(Clone, Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    state: Vec<f32>,
}

impl Optimizer {
    /// A fresh optimizer for `len` parameters.
    pub fn new(kind: OptimizerKind, len: usize) -> Optimizer {
        let state = match kind {
            OptimizerKind::Sgd => Vec::new(),
            OptimizerKind::Adagrad => vec![0.0; len],
        };
        Optimizer { kind, state }
    }

    /// Updates `weights` with `g = clamp(scale · grads, -clip, clip)`:
    /// SGD `w -= lr g`; Adagrad `m += g²; w -= lr g / sqrt(m + eps)`.
    pub fn step(&mut self, weights: &mut [f32], grads: &[f32], scale: f32, clip: f32, lr: f32) {
        assert_eq!(weights.len(), grads.len());
        match self.kind {
            OptimizerKind::Sgd => {
                for (w, &g) in weights.iter_mut().zip(grads) {
                    *w -= lr * (g * scale).clamp(-clip, clip);
                }
            }
            OptimizerKind::Adagrad => {
                for ((w, &g), m) in weights.iter_mut().zip(grads).zip(&mut self.state) {
                    let g = (g * scale).clamp(-clip, clip);
                    *m += g * g;
                    *w -= lr * g / (*m + ADAGRAD_EPS).sqrt();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_scales_and_clips() {
        let mut w = vec![1.0, 1.0, 1.0];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 3);
        opt.step(&mut w, &[2.0, -40.0, 0.0], 0.5, 5.0, 0.1);
        assert_eq!(w, vec![1.0 - 0.1, 1.0 + 0.5, 1.0]);
    }

    #[test]
    fn adagrad_first_step_is_lr_times_sign() {
        let mut w = vec![0.0, 0.0];
        let mut opt = Optimizer::new(OptimizerKind::Adagrad, 2);
        opt.step(&mut w, &[3.0, -0.5], 1.0, 5.0, 0.1);
        assert!(
            (w[0] + 0.1).abs() < 1e-6 && (w[1] - 0.1).abs() < 1e-6,
            "{w:?}"
        );
        opt.step(&mut w, &[3.0, 0.0], 1.0, 5.0, 0.1);
        // m = 18: the second step is 0.1 · 3 / sqrt(18).
        assert!((w[0] + 0.1 + 0.3 / 18f32.sqrt()).abs() < 1e-6, "{w:?}");
        assert!((w[1] - 0.1).abs() < 1e-6);
    }
}
