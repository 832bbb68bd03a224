//! The parameter update: sum, scale, clip and apply gradients, as flat loops
//! over the shared layout.
//!
//! Per parameter, with `g = clamp(scale · gradient, -clip, clip)`:
//!
//! ```text
//! SGD:      w -= lr · g
//! Adagrad:  m += g²;  w -= lr · g / sqrt(m + 1e-8)
//! ```

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use crate::config::OptimizerKind;

/// Added under the square root of Adagrad's denominator.
const ADAGRAD_EPS: f32 = 1e-8;
/// Parameters per parallel task of the update.
const BLOCK: usize = 4096;

/// An optimizer and its state (Adagrad's running sum of squared gradients).
#[derive(Clone, Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    state: Vec<f32>,
}

/// One parameter's update: returns the new weight and optimizer state.
/// `ADAGRAD` is a constant so that the loops around it vectorise.
#[inline(always)]
fn update<const ADAGRAD: bool>(
    w: f32,
    m: f32,
    g: f32,
    scale: f32,
    clip: f32,
    lr: f32,
) -> (f32, f32) {
    let g = (g * scale).clamp(-clip, clip);
    if ADAGRAD {
        let m = m + g * g;
        (w - lr * g / (m + ADAGRAD_EPS).sqrt(), m)
    } else {
        (w - lr * g, m)
    }
}

/// [`update`] over slices.
fn update_all<const ADAGRAD: bool>(
    w: &mut [f32],
    m: &mut [f32],
    g: &[f32],
    scale: f32,
    clip: f32,
    lr: f32,
) {
    for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
        (*w, *m) = update::<ADAGRAD>(*w, *m, g, scale, clip, lr);
    }
}

impl Optimizer {
    /// A fresh optimizer for `len` parameters.
    pub fn new(kind: OptimizerKind, len: usize) -> Optimizer {
        Optimizer {
            kind,
            state: vec![0.0; len],
        }
    }

    /// The update rule.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The per-parameter state (zeros for SGD), in the parameter layout.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Mutable state, for the Hogwild rounds that share it.
    pub fn state_mut(&mut self) -> &mut [f32] {
        &mut self.state
    }

    /// Updates `weights` with one gradient buffer.
    pub fn step(&mut self, weights: &mut [f32], grads: &[f32], scale: f32, clip: f32, lr: f32) {
        let sum = |range: Range<usize>, dst: &mut [f32]| dst.copy_from_slice(&grads[range]);
        self.step_with(weights, sum, scale, clip, lr, false);
    }

    /// Updates `weights` block by block: `gradient(range, dst)` writes the
    /// gradient of `weights[range]` into `dst` (a sum over several buffers,
    /// say). With `parallel`, the blocks are spread over the current rayon
    /// pool; every block is computed the same way either way.
    pub fn step_with(
        &mut self,
        weights: &mut [f32],
        gradient: impl Fn(Range<usize>, &mut [f32]) + Sync,
        scale: f32,
        clip: f32,
        lr: f32,
        parallel: bool,
    ) {
        assert_eq!(weights.len(), self.state.len());
        let kind = self.kind;
        let block_update = |(block, (w, m)): (usize, (&mut [f32], &mut [f32]))| {
            let mut buf = [0.0f32; BLOCK];
            let g = &mut buf[..w.len()];
            gradient(block * BLOCK..block * BLOCK + w.len(), g);
            match kind {
                OptimizerKind::Sgd => update_all::<false>(w, m, g, scale, clip, lr),
                OptimizerKind::Adagrad => update_all::<true>(w, m, g, scale, clip, lr),
            }
        };
        if parallel {
            weights
                .par_chunks_mut(BLOCK)
                .zip(self.state.par_chunks_mut(BLOCK))
                .enumerate()
                .for_each(block_update);
        } else {
            weights
                .chunks_mut(BLOCK)
                .zip(self.state.chunks_mut(BLOCK))
                .enumerate()
                .for_each(block_update);
        }
    }
}

/// Hogwild's update of weights and optimizer state shared between threads
/// as `f32` bits in relaxed atomics: each entry is read and written without
/// a lock, so two threads may overwrite each other's update of the same
/// entry (Hogwild accepts that); no entry is ever torn, and there is no data
/// race in Rust's sense. Relaxed loads and stores compile to plain moves on
/// x86-64.
pub fn step_shared(
    kind: OptimizerKind,
    weights: &[AtomicU32],
    state: &[AtomicU32],
    grads: &[f32],
    scale: f32,
    clip: f32,
    lr: f32,
) {
    for ((w, m), &g) in weights.iter().zip(state).zip(grads) {
        let w_old = f32::from_bits(w.load(Ordering::Relaxed));
        let m_old = f32::from_bits(m.load(Ordering::Relaxed));
        let (w_new, m_new) = match kind {
            OptimizerKind::Sgd => update::<false>(w_old, m_old, g, scale, clip, lr),
            OptimizerKind::Adagrad => update::<true>(w_old, m_old, g, scale, clip, lr),
        };
        w.store(w_new.to_bits(), Ordering::Relaxed);
        if kind == OptimizerKind::Adagrad {
            m.store(m_new.to_bits(), Ordering::Relaxed);
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

    /// A block-wise gradient across block boundaries, on a pool, equals the
    /// update with one buffer; the shared (atomic) update agrees too.
    #[test]
    fn summed_and_shared_updates_agree() {
        let n = 3 * BLOCK + 17;
        let g: Vec<Vec<f32>> = (0..3)
            .map(|k| {
                (0..n)
                    .map(|i| ((i * 7 + k * 3) % 11) as f32 - 5.0)
                    .collect()
            })
            .collect();
        let total: Vec<f32> = (0..n).map(|i| g[0][i] + g[1][i] + g[2][i]).collect();
        let mut a = vec![0.5; n];
        let mut b = vec![0.5; n];
        let mut oa = Optimizer::new(OptimizerKind::Adagrad, n);
        let mut ob = Optimizer::new(OptimizerKind::Adagrad, n);
        let sum = |r: Range<usize>, dst: &mut [f32]| {
            for (i, d) in r.zip(dst.iter_mut()) {
                *d = g[0][i] + g[1][i] + g[2][i];
            }
        };
        oa.step_with(&mut a, sum, 0.25, 2.0, 0.1, true);
        ob.step(&mut b, &total, 0.25, 2.0, 0.1);
        assert_eq!(a, b);
        let w: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0.5f32.to_bits())).collect();
        let m: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        step_shared(OptimizerKind::Adagrad, &w, &m, &total, 0.25, 2.0, 0.1);
        let w: Vec<f32> = w
            .iter()
            .map(|x| f32::from_bits(x.load(Ordering::Relaxed)))
            .collect();
        assert_eq!(w, b);
        assert_eq!(oa.state(), ob.state());
    }
}
