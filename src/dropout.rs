//! Dropout masks for training (`train --dropout P`): on the non-recurrent
//! connections only, as Zaremba et al. (2014) drop an LSTM's, and inverted
//! (kept units are scaled by 1/(1-P) while training, so evaluation and
//! sampling use the weights as they are):
//!
//! ```text
//! h_t = tanh((Wxh[:, x_t] ⊙ m_t^in) + Whh h_{t-1} + bh)     m_t^in  ∈ {0, 1/(1-P)}^H
//! y_t = Why (h_t ⊙ m_t^out) + by                              m_t^out ∈ {0, 1/(1-P)}^H
//! ```
//!
//! The gated cells ([`crate::cell::Cell::drops_input`] false) take no
//! input mask, as char-rnn drops an LSTM's outputs and not its input; a
//! stacked model (`--layers`) drops each layer k's `h_t` where it feeds
//! layer k+1 with a mask of its own, `Which::Between(k)`.
//! The input mask is per unit on the H-vector `Wxh[:, x_t]`, the one-hot
//! input's embedding (dropping the one-hot input itself would keep or zero
//! the whole vector at once); the bias and the recurrent path `h_{t-1} → h_t`
//! are never dropped. The output mask drops `h_t` where it feeds the readout
//! only: the next step still reads the whole `h_t`. Backward, the same masks
//! multiply `dWxh[x_t] += dr_t ⊙ m_t^in`, `dWhy += dy_t (h_t ⊙ m_t^out)ᵀ`
//! and the readout's `dh_t = (Whyᵀ dy_t) ⊙ m_t^out`.
//!
//! No random generator is drawn from: unit j of mask `which` at the chunk
//! row that reads corpus position `pos` of shard k in epoch e is kept iff
//! `hash(seed, e, k, pos, which, j) < (1-P)·2⁶⁴`, the hash a chain of
//! splitmix64 finalisers. A mask depends on the data's position alone, not
//! on the group, the thread or the order in which chunks run, so `--parallel
//! avg` stays independent of the thread count, and a resumed run (the
//! checkpoint holds the epoch and every shard's position) draws the masks
//! the uninterrupted one would. Each row's masks are `Hp` values per stream
//! (row `t·B + b`, as [`crate::bptt`]'s), pad units zero.

use std::ops::Range;

use crate::kernels::aligned::AlignedVec;

/// Which of the masks of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// On the input's embedding `Wxh[:, x_t]`.
    Input,
    /// On the top layer's `h_t` where it feeds the readout.
    Output,
    /// On layer k's `h_t` where it feeds layer k+1 (`--layers`).
    Between(usize),
}

impl Which {
    /// The mask's number in the hash: 1, 2, then 3 + k.
    fn code(self) -> u64 {
        match self {
            Which::Input => 1,
            Which::Output => 2,
            Which::Between(k) => 3 + k as u64,
        }
    }
}

/// What decides the masks of one group's chunks besides the positions: the
/// rate, the run's seed, the epoch (0-based) and the group's first shard
/// (stream b of the group reads shard `first_shard + b`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskKey {
    pub p: f32,
    pub seed: u64,
    pub epoch: u64,
    pub first_shard: u64,
}

/// The splitmix64 finaliser: a bijection of u64 whose output bits each
/// depend on every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The weyl increment of splitmix64 (2⁶⁴ / φ, odd).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

impl MaskKey {
    /// The hash of a whole mask row: (seed, epoch, shard, position, which).
    fn row_hash(&self, shard: u64, pos: u64, which: Which) -> u64 {
        [self.epoch, shard, pos, which.code()]
            .iter()
            .fold(mix(self.seed ^ GOLDEN), |z, &x| mix(z ^ x))
    }

    /// Keep units whose hash is below this: (1-P)·2⁶⁴, saturating at 1.
    fn threshold(&self) -> u64 {
        // `as` saturates: P = 0 keeps every unit.
        ((1.0 - self.p as f64) * 18_446_744_073_709_551_616.0) as u64
    }

    /// The value of a kept unit, 1/(1-P).
    pub fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    /// One row of mask `which` for `h` units: `out[j]` is 1/(1-P) where
    /// unit j is kept, 0 where it is dropped and past `h` (pad units).
    pub fn fill_row(&self, shard: u64, pos: u64, which: Which, h: usize, out: &mut [f32]) {
        let (row, threshold, scale) = (
            self.row_hash(shard, pos, which),
            self.threshold(),
            self.scale(),
        );
        let (units, pad) = out.split_at_mut(h);
        for (j, m) in (0u64..).zip(units) {
            let keep = mix(row.wrapping_add(j.wrapping_add(1).wrapping_mul(GOLDEN))) < threshold;
            *m = if keep { scale } else { 0.0 };
        }
        pad.fill(0.0);
    }
}

/// The masks of one chunk of B streams, `steps·B` rows of `Hp` values each
/// (row `t·B + b`: step t of stream b); allocated at the first chunk.
#[derive(Clone, Debug, Default)]
pub struct ChunkMasks {
    pub input: AlignedVec,
    pub output: AlignedVec,
    /// Of a model of L layers, `Which::Between(k)` for k < L - 1.
    pub between: Vec<AlignedVec>,
}

impl ChunkMasks {
    /// The masks of the chunk whose stream b reads `chunks[b]` (its input
    /// at step t is corpus position `chunks[b].start + t`) for `lens[b]`
    /// steps; rows past a stream's end are zero. The input mask only
    /// `with_input` (for a cell that drops its input), else left as it was;
    /// the masks between `layers` layers.
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &mut self,
        key: &MaskKey,
        chunks: &[Range<usize>],
        lens: &[usize],
        h: usize,
        hp: usize,
        with_input: bool,
        layers: usize,
    ) {
        let (b_n, steps) = (chunks.len(), lens.iter().copied().max().unwrap_or(0));
        let len = steps * b_n * hp;
        let fill = |which: Which, mask: &mut AlignedVec| {
            mask.resize(len, 0.0);
            for (row, out) in mask.chunks_exact_mut(hp).enumerate() {
                let (t, b) = (row / b_n, row % b_n);
                if t < lens[b] {
                    let (shard, pos) = (key.first_shard + b as u64, (chunks[b].start + t) as u64);
                    key.fill_row(shard, pos, which, h, out);
                } else {
                    out.fill(0.0);
                }
            }
        };
        if with_input {
            fill(Which::Input, &mut self.input);
        }
        fill(Which::Output, &mut self.output);
        self.between.resize_with(layers - 1, AlignedVec::default);
        for (k, mask) in self.between.iter_mut().enumerate() {
            fill(Which::Between(k), mask);
        }
    }
}

/// `dst = a ⊙ mask`, element-wise.
pub fn masked(dst: &mut [f32], a: &[f32], mask: &[f32]) {
    for ((d, x), m) in dst.iter_mut().zip(a).zip(mask) {
        *d = x * m;
    }
}

/// `x ⊙= mask`, element-wise.
pub fn mask_assign(x: &mut [f32], mask: &[f32]) {
    for (v, m) in x.iter_mut().zip(mask) {
        *v *= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: f32) -> MaskKey {
        MaskKey {
            p,
            seed: 42,
            epoch: 0,
            first_shard: 0,
        }
    }

    #[test]
    fn keeps_about_one_minus_p_and_scales_them() {
        for p in [0.1f32, 0.3, 0.5, 0.9] {
            let k = key(p);
            let mut row = vec![0.0; 1000];
            let mut kept = 0usize;
            for pos in 0..100 {
                k.fill_row(3, pos, Which::Input, 1000, &mut row);
                kept += row.iter().filter(|&&m| m != 0.0).count();
                assert!(row.iter().all(|&m| m == 0.0 || m == k.scale()));
            }
            let rate = kept as f64 / 100_000.0;
            assert!((rate - (1.0 - p as f64)).abs() < 0.01, "P {p}: kept {rate}");
        }
    }

    #[test]
    fn every_part_of_the_key_changes_the_mask() {
        let mut base = vec![0.0; 64];
        key(0.5).fill_row(1, 100, Which::Input, 64, &mut base);
        let mut other = vec![0.0; 64];
        let mut differs = |k: MaskKey, shard, pos, which| {
            k.fill_row(shard, pos, which, 64, &mut other);
            other != base
        };
        assert!(!differs(key(0.5), 1, 100, Which::Input), "deterministic");
        assert!(differs(key(0.5), 2, 100, Which::Input), "shard");
        assert!(differs(key(0.5), 1, 101, Which::Input), "position");
        assert!(differs(key(0.5), 1, 100, Which::Output), "which");
        assert!(
            differs(
                MaskKey {
                    seed: 7,
                    ..key(0.5)
                },
                1,
                100,
                Which::Input
            ),
            "seed"
        );
        assert!(
            differs(
                MaskKey {
                    epoch: 1,
                    ..key(0.5)
                },
                1,
                100,
                Which::Input
            ),
            "epoch"
        );
    }

    #[test]
    fn pad_units_and_idle_rows_are_zero() {
        let mut m = ChunkMasks::default();
        // Two streams, the second one step long; H 3 padded to 8.
        m.fill(&key(0.2), &[10..14, 50..52], &[3, 1], 3, 8, true, 1);
        assert_eq!(m.input.len(), 3 * 2 * 8);
        for row in m.input.chunks_exact(8).chain(m.output.chunks_exact(8)) {
            assert!(row[3..].iter().all(|&x| x == 0.0));
        }
        // Rows 3 and 5 are steps 1 and 2 of the second stream, past its end.
        for r in [3, 5] {
            assert!(m.input[r * 8..(r + 1) * 8].iter().all(|&x| x == 0.0));
        }
        // Row 2 (step 1 of stream 0) reads position 11 of shard 0.
        let mut row = vec![0.0; 8];
        key(0.2).fill_row(0, 11, Which::Output, 3, &mut row);
        assert_eq!(&m.output[2 * 8..3 * 8], &row[..]);
    }
}
