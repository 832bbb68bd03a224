//! The parameter update: scale, clip and apply a gradient, as flat loops
//! over the shared layout.
//!
//! Per parameter, with `g = clamp(scale · gradient, -clip, clip)` and t the
//! number of updates so far (1 for the first):
//!
//! ```text
//! SGD:      w -= lr · g
//! Adagrad:  m += g²;  w -= lr · g / sqrt(m + 1e-8)
//! Adam:     m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²   (β1 0.9, β2 0.999)
//!           w -= lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + 1e-8)
//! ```
//!
//! The state is two slots of the parameter layout, `m` then `v` (Adagrad
//! uses `m` only, SGD neither).
//!
//! With decoupled weight decay F ([`Decay`]; AdamW, Loshchilov & Hutter
//! 2019), every update of every rule first shrinks the weights it covers
//! (the layout's weight matrices, [`crate::layout::Layout::decayed`]; never
//! the biases):
//!
//! ```text
//! w ← w − lr · F · w    computed as  w ← (1 − lr·F) · w   (as PyTorch's AdamW)
//! ```
//!
//! then applies the rule above with the same lr (the scheduled rate). The
//! decay does not pass through the gradient, its clip or Adam's and
//! Adagrad's moments. For SGD it equals L2 regularisation of strength F;
//! for Adam it is AdamW; for Adagrad, the same decoupled shrink. Without it
//! (F 0) the update is the rule alone, with no extra arithmetic.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use crate::config::OptimizerKind;
use crate::kernels;
use crate::kernels::aligned::{self, AlignedVec};

/// Added under Adagrad's square root and to Adam's denominator.
const EPS: f32 = 1e-8;
/// Adam's moments below this are stored as zero. The moment of a weight
/// whose gradient is zero (the embedding row of a character absent from
/// the chunks) decays by β each update and would spend ~150 updates among
/// the subnormal floats, where every multiply takes a microcode assist
/// (~150 cycles on Intel): at H 64, one stream, 130 such values made the
/// update 42% of the step (bench 367,746 chars/s; flushed: see the README).
/// A moment this small moves no weight (lr · 1e-30 / ε ≈ 1e-24).
const FLUSH: f32 = 1e-30;
/// Adam's decay rates of the first and second moments.
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
/// Parameters per parallel task of the update.
const BLOCK: usize = 4096;

/// How one update turns a raw gradient into the step: `g = scale · grad`;
/// with `clip_norm`, `g` is scaled down to that global L2 norm if above it;
/// then every entry is clamped to `[-clip, clip]`; then, with `decay`, the
/// weights it covers shrink; then the rule with `lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update<'a> {
    pub scale: f32,
    pub clip: f32,
    pub clip_norm: Option<f32>,
    pub lr: f32,
    pub decay: Option<Decay<'a>>,
}

/// Decoupled weight decay: `w ← (1 − lr·rate)·w` for the entries in
/// `ranges` (of the flat buffer), before the rule's step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decay<'a> {
    pub rate: f32,
    pub ranges: &'a [Range<usize>],
}

impl<'a> Decay<'a> {
    /// The decay at `rate` of `ranges`; none at rate 0 (or without ranges).
    pub fn new(rate: f32, ranges: &'a [Range<usize>]) -> Option<Decay<'a>> {
        (rate != 0.0 && !ranges.is_empty()).then_some(Decay { rate, ranges })
    }

    /// The factor `1 − lr·rate` that shrinks a weight.
    fn keep(self, lr: f32) -> f32 {
        1.0 - lr * self.rate
    }

    /// The parts of `ranges` inside the block `start..start + len`, relative
    /// to the block's start.
    fn within(self, start: usize, len: usize) -> impl Iterator<Item = Range<usize>> + 'a {
        let end = start + len;
        self.ranges.iter().filter_map(move |r| {
            let (lo, hi) = (r.start.max(start), r.end.min(end));
            (lo < hi).then(|| lo - start..hi - start)
        })
    }

    /// Shrinks the decayed weights of the block `w` that starts at `start`
    /// in the buffer (one multiply per weight: vectorises).
    fn apply(self, w: &mut [f32], start: usize, lr: f32) {
        let keep = self.keep(lr);
        for r in self.within(start, w.len()) {
            for x in &mut w[r] {
                *x *= keep;
            }
        }
    }
}

/// `x`, or zero when its magnitude is below [`FLUSH`] (a select, so the
/// update loop stays vectorised).
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < FLUSH { 0.0 } else { x }
}

impl Update<'_> {
    /// The factor that brings a gradient of squared norm `sq` (before
    /// `scale`) down to `clip_norm`; 1 without it or below it.
    fn norm_factor(&self, sq: f64) -> f32 {
        match self.clip_norm {
            Some(max) => {
                let norm = sq.sqrt() * self.scale as f64;
                if norm > max as f64 {
                    (max as f64 / norm) as f32
                } else {
                    1.0
                }
            }
            None => 1.0,
        }
    }
}

/// One block of the update: its index, the weights, both state slots and
/// the block of each gradient source (the first receives the sum).
type BlockItem<'a, 'b> = (
    usize,
    (
        ((&'a mut [f32], &'a mut [f32]), &'a mut [f32]),
        &'a mut [&'b mut [f32]],
    ),
);

/// Adds the block of every other source into the first's, one source at a
/// time in order (`first += s_1`, then `+= s_2`, …: each entry's sum in
/// source order, whatever the threads), and clears each while it is in
/// cache. Returns the first's block, which holds the sum.
fn gather<'a>(sources: &'a mut [&mut [f32]]) -> &'a mut [f32] {
    let (first, rest) = sources.split_first_mut().expect("at least one source");
    for s in rest {
        kernels::add_assign(first, s);
        s.fill(0.0);
    }
    first
}

/// Σ x² of a block, in f64, in order: one block's share of the norm.
fn square_sum(g: &[f32]) -> f64 {
    g.iter().map(|&x| x as f64 * x as f64).sum()
}

/// An optimizer, its state and its update count.
#[derive(Clone, Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    /// `m` (first `len` values) then `v`.
    state: AlignedVec,
    steps: u64,
}

/// The update of one step, with its constants (learning rate, Adam's bias
/// corrections) worked out once.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Sgd { lr: f32 },
    Adagrad { lr: f32 },
    Adam { lr: f32, c1: f32, c2: f32 },
}

impl Rule {
    /// The rule of update number `t` (from 1).
    fn new(kind: OptimizerKind, lr: f32, t: u64) -> Rule {
        match kind {
            OptimizerKind::Sgd => Rule::Sgd { lr },
            OptimizerKind::Adagrad => Rule::Adagrad { lr },
            OptimizerKind::Adam => {
                let t = t.min(i32::MAX as u64) as i32;
                Rule::Adam {
                    lr,
                    c1: 1.0 / (1.0 - BETA1.powi(t)),
                    c2: 1.0 / (1.0 - BETA2.powi(t)),
                }
            }
        }
    }

    /// One parameter: the new `(w, m, v)` from the clipped gradient `g`.
    #[inline(always)]
    fn apply(self, w: f32, m: f32, v: f32, g: f32) -> (f32, f32, f32) {
        match self {
            Rule::Sgd { lr } => (w - lr * g, m, v),
            Rule::Adagrad { lr } => {
                let m = m + g * g;
                (w - lr * g / (m + EPS).sqrt(), m, v)
            }
            Rule::Adam { lr, c1, c2 } => {
                let m = flush(BETA1 * m + (1.0 - BETA1) * g);
                let v = flush(BETA2 * v + (1.0 - BETA2) * g * g);
                (w - lr * (m * c1) / ((v * c2).sqrt() + EPS), m, v)
            }
        }
    }

    /// [`Rule::apply`] over a block, each gradient entry set to zero once
    /// read (in the same loop: a store to a line just loaded); the match is
    /// outside the loop so that each loop vectorises.
    fn apply_all(
        self,
        w: &mut [f32],
        m: &mut [f32],
        v: &mut [f32],
        g: &mut [f32],
        scale: f32,
        clip: f32,
    ) {
        macro_rules! each {
            ($rule:expr) => {
                for (((w, m), v), g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    let clipped = (*g * scale).clamp(-clip, clip);
                    *g = 0.0;
                    (*w, *m, *v) = $rule.apply(*w, *m, *v, clipped);
                }
            };
        }
        match self {
            Rule::Sgd { lr } => each!(Rule::Sgd { lr }),
            Rule::Adagrad { lr } => each!(Rule::Adagrad { lr }),
            Rule::Adam { lr, c1, c2 } => each!(Rule::Adam { lr, c1, c2 }),
        }
    }
}

impl Optimizer {
    /// A fresh optimizer for `len` parameters.
    pub fn new(kind: OptimizerKind, len: usize) -> Optimizer {
        Optimizer {
            kind,
            state: aligned::zeros(2 * len),
            steps: 0,
        }
    }

    /// An optimizer continuing from a saved `state` (`m` then `v`, two
    /// slots of `len`) after `steps` updates.
    pub fn restore(
        kind: OptimizerKind,
        len: usize,
        state: Vec<f32>,
        steps: u64,
    ) -> Option<Optimizer> {
        (state.len() == 2 * len).then(|| Optimizer {
            kind,
            state: aligned::from_slice(&state),
            steps,
        })
    }

    /// The update rule.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The state: `m` then `v`, each in the parameter layout.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Mutable state, for the Hogwild rounds that share it.
    pub fn state_mut(&mut self) -> &mut [f32] {
        &mut self.state
    }

    /// Updates done.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Counts `n` updates done elsewhere (Hogwild's shared updates).
    pub fn add_steps(&mut self, n: u64) {
        self.steps += n;
    }

    /// Updates `weights` with the gradient `grads`, on this thread, and
    /// leaves `grads` zero (see [`Optimizer::step_with`]).
    pub fn step(&mut self, weights: &mut [f32], grads: &mut [f32], update: Update<'_>) {
        self.step_with(weights, grads, update, false);
    }

    /// Updates `weights` with the gradient `grads` block by block, and
    /// leaves `grads` zero (see [`Optimizer::step_sum`], of which this is
    /// the sum of one source). With `parallel`, the blocks are spread over
    /// the current rayon pool; every block is computed the same way either
    /// way.
    pub fn step_with(
        &mut self,
        weights: &mut [f32],
        grads: &mut [f32],
        update: Update<'_>,
        parallel: bool,
    ) {
        self.step_sum(weights, &mut [grads], update, parallel);
    }

    /// Updates `weights` with the sum of the gradients `sources` (each as
    /// long as `weights`; summed entry by entry in their order, into the
    /// first), block by block, and leaves every source zero.
    ///
    /// Each block is summed, cleared and updated in one visit, while it is
    /// in cache: the sources of a block are added and cleared, then the
    /// rule reads the sum and clears it, so the next backward passes, which
    /// add into the buffers, need no pass of their own to clear them (that
    /// pass was 5.6% of the training time at the Japanese vocabulary, one
    /// stream, H 256: a 7 MB gradient), and a sum of K sources is one pass
    /// over the blocks, not K - 1. With a norm clip the sum and the update
    /// are two passes, as the norm needs the whole sum; the squares are
    /// summed per block and the blocks' sums added in block order (so
    /// threads do not matter).
    pub fn step_sum(
        &mut self,
        weights: &mut [f32],
        sources: &mut [&mut [f32]],
        update: Update<'_>,
        parallel: bool,
    ) {
        let n = weights.len();
        assert!(!sources.is_empty() && sources.iter().all(|g| g.len() == n));
        assert_eq!(2 * n, self.state.len());
        self.steps = self.steps.saturating_add(1);
        let rule = Rule::new(self.kind, update.lr, self.steps);
        // The sources' blocks, block-major: block b of every source in order.
        let k = sources.len();
        let mut blocks: Vec<&mut [f32]> = Vec::with_capacity(n.div_ceil(BLOCK) * k);
        let mut each_source: Vec<_> = sources.iter_mut().map(|s| s.chunks_mut(BLOCK)).collect();
        while let Some(first) = each_source[0].next() {
            blocks.push(first);
            blocks.extend(
                each_source[1..]
                    .iter_mut()
                    .map(|c| c.next().expect("equal lengths")),
            );
        }
        // With a norm clip, a first pass sums the sources and the squares.
        let summed_first = update.clip_norm.is_some();
        let factor = if summed_first {
            let partial: Vec<f64> = if parallel {
                blocks
                    .par_chunks_mut(k)
                    .map(|b| square_sum(gather(b)))
                    .collect()
            } else {
                blocks
                    .chunks_mut(k)
                    .map(|b| square_sum(gather(b)))
                    .collect()
            };
            update.norm_factor(partial.iter().sum())
        } else {
            1.0
        };
        let (scale, clip) = (update.scale * factor, update.clip);
        let (m, v) = self.state.split_at_mut(n);
        let block_update = |(block, (((w, m), v), sources)): BlockItem<'_, '_>| {
            let g = if summed_first {
                &mut *sources[0]
            } else {
                gather(sources)
            };
            if let Some(decay) = update.decay {
                decay.apply(w, block * BLOCK, update.lr);
            }
            rule.apply_all(w, m, v, g, scale, clip);
        };
        if parallel {
            weights
                .par_chunks_mut(BLOCK)
                .zip(m.par_chunks_mut(BLOCK))
                .zip(v.par_chunks_mut(BLOCK))
                .zip(blocks.par_chunks_mut(k))
                .enumerate()
                .for_each(block_update);
        } else {
            weights
                .chunks_mut(BLOCK)
                .zip(m.chunks_mut(BLOCK))
                .zip(v.chunks_mut(BLOCK))
                .zip(blocks.chunks_mut(k))
                .enumerate()
                .for_each(block_update);
        }
    }
}

/// Hogwild's update of weights and optimizer state shared between threads
/// as `f32` bits in relaxed atomics (`state`: `m` then `v`, as
/// [`Optimizer::state`]). Each entry is read and written without a lock, so
/// two threads may overwrite each other's update of the same entry (Hogwild
/// accepts that); no entry is ever torn, and there is no data race in Rust's
/// sense. Relaxed loads and stores compile to plain moves on x86-64. `t` is
/// the update number Adam's bias correction uses. A decay shrinks its
/// weights in a pass of its own before the rule's.
pub fn step_shared(
    kind: OptimizerKind,
    t: u64,
    weights: &[AtomicU32],
    state: &[AtomicU32],
    grads: &[f32],
    update: Update<'_>,
) {
    let rule = Rule::new(kind, update.lr, t.max(1));
    let factor = match update.clip_norm {
        Some(_) => update.norm_factor(square_sum(grads)),
        None => 1.0,
    };
    let (scale, clip) = (update.scale * factor, update.clip);
    let (m, v) = state.split_at(weights.len());
    let load = |a: &AtomicU32| f32::from_bits(a.load(Ordering::Relaxed));
    if let Some(decay) = update.decay {
        let keep = decay.keep(update.lr);
        for r in decay.within(0, weights.len()) {
            for w in &weights[r] {
                w.store((load(w) * keep).to_bits(), Ordering::Relaxed);
            }
        }
    }
    for (((w, m), v), &g) in weights.iter().zip(m).zip(v).zip(grads) {
        let g = (g * scale).clamp(-clip, clip);
        let (w_new, m_new, v_new) = rule.apply(load(w), load(m), load(v), g);
        w.store(w_new.to_bits(), Ordering::Relaxed);
        if kind != OptimizerKind::Sgd {
            m.store(m_new.to_bits(), Ordering::Relaxed);
        }
        if kind == OptimizerKind::Adam {
            v.store(v_new.to_bits(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_moments_never_go_subnormal() {
        // One gradient, then none: m decays by 0.9 an update, through
        // 1e-30 to exactly zero, never stored as a subnormal float.
        let mut opt = Optimizer::new(OptimizerKind::Adam, 1);
        let mut w = [0.5f32];
        opt.step(&mut w, &mut [1.0], upd(1.0, 5.0, 0.01));
        let mut zero_at = None;
        for t in 0..2_000 {
            opt.step(&mut w, &mut [0.0], upd(1.0, 5.0, 0.01));
            let m = opt.state()[0];
            assert!(m == 0.0 || m.is_normal(), "m {m:e} after {t} updates");
            if m == 0.0 && zero_at.is_none() {
                zero_at = Some(t);
            }
        }
        // 0.1 · 0.9^t < 1e-30 from t ≈ 634 on.
        assert!(
            zero_at.is_some_and(|t| (600..700).contains(&t)),
            "{zero_at:?}"
        );
        assert!(w[0].is_finite());
    }

    fn upd(scale: f32, clip: f32, lr: f32) -> Update<'static> {
        Update {
            scale,
            clip,
            clip_norm: None,
            lr,
            decay: None,
        }
    }

    #[test]
    fn norm_clip_scales_the_whole_gradient() {
        // g = (3, 4) · 2 has norm 10; clipped to norm 1: (0.6, 0.8)·... with SGD lr 1.
        let n = 2 * BLOCK + 3;
        let mut g = vec![0.0; n];
        g[0] = 3.0;
        g[n - 1] = 4.0;
        let mut w = vec![0.0; n];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, n);
        let update = Update {
            clip_norm: Some(1.0),
            ..upd(2.0, f32::INFINITY, 1.0)
        };
        opt.step(&mut w, &mut g.clone(), update);
        assert!(
            (w[0] + 0.6).abs() < 1e-6 && (w[n - 1] + 0.8).abs() < 1e-6,
            "{} {}",
            w[0],
            w[n - 1]
        );
        // Below the norm nothing changes.
        let mut w2 = vec![0.0; n];
        let small = Update {
            clip_norm: Some(100.0),
            ..upd(2.0, f32::INFINITY, 1.0)
        };
        Optimizer::new(OptimizerKind::Sgd, n).step(&mut w2, &mut g.clone(), small);
        assert_eq!((w2[0], w2[n - 1]), (-6.0, -8.0));
    }

    #[test]
    fn adam_first_steps_are_lr_times_sign() {
        // Bias correction makes the first step exactly lr · g / |g|.
        let mut w = vec![0.0, 0.0, 0.0];
        let mut opt = Optimizer::new(OptimizerKind::Adam, 3);
        opt.step(&mut w, &mut [3.0, -0.5, 0.0], upd(1.0, 5.0, 0.01));
        assert!(
            (w[0] + 0.01).abs() < 1e-6 && (w[1] - 0.01).abs() < 1e-6,
            "{w:?}"
        );
        assert_eq!(w[2], 0.0);
        // A second, equal gradient: m̂ = g, v̂ = g², the step is lr again.
        opt.step(&mut w, &mut [3.0, -0.5, 0.0], upd(1.0, 5.0, 0.01));
        assert!((w[0] + 0.02).abs() < 1e-6, "{w:?}");
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn sgd_scales_and_clips() {
        let mut w = vec![1.0, 1.0, 1.0];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 3);
        opt.step(&mut w, &mut [2.0, -40.0, 0.0], upd(0.5, 5.0, 0.1));
        assert_eq!(w, vec![1.0 - 0.1, 1.0 + 0.5, 1.0]);
    }

    #[test]
    fn adagrad_first_step_is_lr_times_sign() {
        let mut w = vec![0.0, 0.0];
        let mut opt = Optimizer::new(OptimizerKind::Adagrad, 2);
        opt.step(&mut w, &mut [3.0, -0.5], upd(1.0, 5.0, 0.1));
        assert!(
            (w[0] + 0.1).abs() < 1e-6 && (w[1] - 0.1).abs() < 1e-6,
            "{w:?}"
        );
        opt.step(&mut w, &mut [3.0, 0.0], upd(1.0, 5.0, 0.1));
        // m = 18: the second step is 0.1 · 3 / sqrt(18).
        assert!((w[0] + 0.1 + 0.3 / 18f32.sqrt()).abs() < 1e-6, "{w:?}");
        assert!((w[1] - 0.1).abs() < 1e-6);
    }

    /// The update spread over a pool, in blocks that do not divide the
    /// length, equals the one on this thread; the shared (atomic) update
    /// agrees too.
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
        let (mut ga, mut gb) = (total.clone(), total.clone());
        oa.step_with(&mut a, &mut ga, upd(0.25, 2.0, 0.1), true);
        ob.step(&mut b, &mut gb, upd(0.25, 2.0, 0.1));
        assert_eq!(a, b);
        // Both leave the gradient zero, for the next backward pass to add into.
        assert!(ga.iter().chain(&gb).all(|&x| x == 0.0));
        let w: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0.5f32.to_bits())).collect();
        let m: Vec<AtomicU32> = (0..2 * n).map(|_| AtomicU32::new(0)).collect();
        step_shared(
            OptimizerKind::Adagrad,
            1,
            &w,
            &m,
            &total,
            upd(0.25, 2.0, 0.1),
        );
        let w: Vec<f32> = w
            .iter()
            .map(|x| f32::from_bits(x.load(Ordering::Relaxed)))
            .collect();
        assert_eq!(w, b);
        assert_eq!(oa.state(), ob.state());
    }

    /// The update of a sum of sources, with and without a norm clip, on a
    /// pool and on this thread, equals the update of the sum made first
    /// (entry by entry in source order), bit for bit, and leaves every
    /// source zero.
    #[test]
    fn the_update_of_a_sum_is_the_update_of_the_summed_gradient() {
        let n = 3 * BLOCK + 17;
        let source = |k: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7 + k * 3) % 11) as f32 - 5.0) * 0.37f32.powi(k as i32))
                .collect()
        };
        let total: Vec<f32> = (0..n)
            .map(|i| source(0)[i] + source(1)[i] + source(2)[i])
            .collect();
        for clip_norm in [None, Some(3.0)] {
            let update = Update {
                clip_norm,
                ..upd(0.25, 2.0, 0.1)
            };
            let mut want = vec![0.5; n];
            let mut plain = Optimizer::new(OptimizerKind::Adam, n);
            for _ in 0..2 {
                plain.step(&mut want, &mut total.clone(), update);
            }
            for parallel in [false, true] {
                let mut w = vec![0.5; n];
                let mut opt = Optimizer::new(OptimizerKind::Adam, n);
                for _ in 0..2 {
                    let mut g: Vec<Vec<f32>> = (0..3).map(source).collect();
                    let mut sources: Vec<&mut [f32]> = g.iter_mut().map(|g| &mut g[..]).collect();
                    opt.step_sum(&mut w, &mut sources, update, parallel);
                    assert!(
                        g.iter().flatten().all(|&x| x == 0.0),
                        "a source left non-zero"
                    );
                }
                assert_eq!(w, want, "norm clip {clip_norm:?}, parallel {parallel}");
                assert_eq!(opt.state(), plain.state());
            }
        }
    }

    /// Weights as f32 from the atomics.
    fn read(a: &[AtomicU32]) -> Vec<f32> {
        a.iter()
            .map(|x| f32::from_bits(x.load(Ordering::Relaxed)))
            .collect()
    }

    /// Weight decay by hand, for each rule: lr 0.5, F 0.5 keep 0.75 of a
    /// decayed weight 2 (1.5) before the rule's step; the weights outside
    /// the ranges (the biases) take the rule's step alone. The shared
    /// (Hogwild) update agrees.
    #[test]
    fn weight_decay_shrinks_the_decayed_weights_before_each_rule() {
        // Entries 1..3 and 5..6 decay; 0, 3, 4 and 6 (the "biases") do not.
        let ranges = [1..3, 5..6];
        let w0 = [2.0f32; 7];
        let g = [1.0f32, 1.0, 0.0, 1.0, 0.0, -1.0, -1.0];
        let update = Update {
            decay: Decay::new(0.5, &ranges),
            ..upd(1.0, 5.0, 0.5)
        };
        // SGD, Adagrad's and Adam's first steps: 0.5 · g (the latter two up
        // to their epsilon: exactly lr · sign(g) here).
        let step = |x: f32| 0.5 * x;
        let want: Vec<f32> = (0..7)
            .map(|i| {
                let w = if [1, 2, 5].contains(&i) { 1.5 } else { 2.0 };
                w - step(g[i])
            })
            .collect();
        assert_eq!(want, [1.5, 1.0, 1.5, 1.5, 2.0, 2.0, 2.5]);
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Adagrad,
            OptimizerKind::Adam,
        ] {
            let mut w = w0.to_vec();
            Optimizer::new(kind, 7).step(&mut w, &mut g.clone(), update);
            for (i, (&a, &b)) in w.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-6, "{kind} w[{i}] = {a}, not {b}");
            }
            let shared: Vec<AtomicU32> = w0.iter().map(|x| AtomicU32::new(x.to_bits())).collect();
            let state: Vec<AtomicU32> = (0..14).map(|_| AtomicU32::new(0)).collect();
            step_shared(kind, 1, &shared, &state, &g, update);
            assert_eq!(read(&shared), w, "{kind}: shared and flat updates differ");
        }
        // SGD exactly: 2 · 0.75 − 0.5 · 1 = 1 for entry 1.
        let mut w = w0.to_vec();
        Optimizer::new(OptimizerKind::Sgd, 7).step(&mut w, &mut g.clone(), update);
        assert_eq!(w, want);
        // A second Adam step: the decay shrinks again, the moments never see it.
        let mut w = w0.to_vec();
        let mut adam = Optimizer::new(OptimizerKind::Adam, 7);
        adam.step(&mut w, &mut g.clone(), update);
        let m_after_one = adam.state().to_vec();
        adam.step(&mut w, &mut g.clone(), update);
        assert!((w[1] - (1.0 * 0.75 - 0.5)).abs() < 1e-5, "{}", w[1]);
        assert!((w[0] - (1.5 - 0.5)).abs() < 1e-5, "{}", w[0]);
        let mut plain = Optimizer::new(OptimizerKind::Adam, 7);
        let mut w2 = w0.to_vec();
        plain.step(&mut w2, &mut g.clone(), upd(1.0, 5.0, 0.5));
        assert_eq!(plain.state(), &m_after_one[..], "decay reached the moments");
        // Rate 0 is no decay at all.
        assert_eq!(Decay::new(0.0, &ranges), None);
    }

    /// Decay ranges that cross update blocks are cut at the blocks' edges.
    #[test]
    fn weight_decay_ranges_cross_blocks() {
        let n = 2 * BLOCK + 10;
        let ranges = [3..BLOCK + 5, 2 * BLOCK + 1..2 * BLOCK + 2];
        let mut w = vec![1.0f32; n];
        let update = Update {
            decay: Decay::new(0.5, &ranges),
            ..upd(1.0, 5.0, 0.5)
        };
        Optimizer::new(OptimizerKind::Sgd, n).step_with(&mut w, &mut vec![0.0; n], update, true);
        for (i, &x) in w.iter().enumerate() {
            let decayed = ranges.iter().any(|r| r.contains(&i));
            assert_eq!(x, if decayed { 0.75 } else { 1.0 }, "w[{i}]");
        }
    }
}
