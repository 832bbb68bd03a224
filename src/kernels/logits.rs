//! One stream's logits `Y = H · Whyᵀ` on the `wide` kernels, where
//! [`tuning::logits_on_wide`] holds, in one of two orientations:
//!
//! - `Y (T × Vp) = H · Whyᵀ`: `gemm_nn` over the T rows of `H` against a
//!   transposed copy of `Why` (Hp × Vp, its padding columns zero), made
//!   for each chunk since the weights change at every update.
//! - `Yᵀ (V × Tp) = Why · Hᵀ`: `gemm_nn` over the V rows of `Why` as
//!   stored against a transposed copy of `H` (Hp × Tp, T rounded up to
//!   whole vectors), the result copied back transposed.
//!
//! The first copies V·Hp values, the second T·Hp + V·T, so the second wins
//! where the vocabulary is large ([`tuning::logits_transposed`]): at the
//! Japanese corpus's V 3,440 and Hp 256, 880 K values a chunk against 148 K.
//!
//! Both give the same bits: each entry is summed over Hp in order by one
//! FMA chain from zero, and an FMA's two factors commute.

use super::aligned::AlignedVec;
use super::{LANES, MatMut, MatRef, gemm_nn, transpose, tuning};

/// Which product runs the logits of a chunk of `streams` streams and `rows`
/// rows (T·B), `v` characters and `hp` terms, as `bench` reports it: `wide`
/// in one of the two orientations, or the `gemm` crate.
pub fn path(streams: usize, rows: usize, v: usize, hp: usize) -> &'static str {
    if !tuning::logits_on_wide(streams, rows, v, hp) {
        "gemm crate"
    } else if tuning::logits_transposed(rows, v, hp) {
        "wide, transposed (Yᵀ = Why Hᵀ)"
    } else {
        "wide (Y = H Whyᵀ)"
    }
}

/// The transposed copies the two orientations make, kept between chunks.
#[derive(Clone, Debug, Default)]
pub struct WideLogits {
    /// `Hp × Vp`: `Whyᵀ`, padding columns zero.
    why_t: AlignedVec,
    /// The `(Hp, V, Vp)` that `why_t` holds, whose padding is then zero;
    /// at another shape it is zeroed whole first.
    why_t_shape: (usize, usize, usize),
    /// `Hp × Tp`: `Hᵀ`; columns past T are never read back.
    h_t: AlignedVec,
    /// `V × Tp`: `Yᵀ`.
    y_t: AlignedVec,
}

impl WideLogits {
    /// `ys (rows × vp) = h (rows × Hp) · why (V × Hp)ᵀ`, with zeros in the
    /// padding columns V..vp.
    /// The orientation is [`tuning::logits_transposed`]'s.
    pub fn product(&mut self, h: MatRef, why: MatRef, vp: usize, ys: &mut [f32]) {
        let transposed = tuning::logits_transposed(h.rows(), why.rows(), h.cols());
        self.product_oriented(transposed, h, why, vp, ys);
    }

    /// [`WideLogits::product`] in the orientation given: `Yᵀ = Why · Hᵀ`
    /// where `transposed`, else `Y = H · Whyᵀ` (for tests and benches; the
    /// result is the same bits).
    pub fn product_oriented(
        &mut self,
        transposed: bool,
        h: MatRef,
        why: MatRef,
        vp: usize,
        ys: &mut [f32],
    ) {
        let (rows, hp, v) = (h.rows(), h.cols(), why.rows());
        assert!(
            why.cols() == hp && vp >= v && ys.len() == rows * vp,
            "logits: H {rows}×{hp}, Why {v}×{}, Y {} values at {vp} a row",
            why.cols(),
            ys.len()
        );
        if transposed {
            let tp = rows.next_multiple_of(LANES);
            self.h_t.resize(hp * tp, 0.0);
            transpose(h, &mut MatMut::new(&mut self.h_t, hp, rows, tp));
            self.y_t.resize(v * tp, 0.0);
            self.y_t.fill(0.0);
            gemm_nn(
                why,
                MatRef::dense(&self.h_t, hp, tp),
                &mut MatMut::dense(&mut self.y_t, v, tp),
            );
            // The copy back writes the V columns; the padding is zeroed.
            for row in ys.chunks_exact_mut(vp) {
                row[v..].fill(0.0);
            }
            transpose(
                MatRef::new(&self.y_t, v, rows, tp),
                &mut MatMut::new(ys, rows, v, vp),
            );
        } else {
            if self.why_t_shape != (hp, v, vp) {
                self.why_t.resize(hp * vp, 0.0);
                self.why_t.fill(0.0);
                self.why_t_shape = (hp, v, vp);
            }
            transpose(why, &mut MatMut::new(&mut self.why_t, hp, v, vp));
            // `gemm_nn` adds to C: Y starts at zero.
            ys.fill(0.0);
            gemm_nn(
                h,
                MatRef::dense(&self.why_t, hp, vp),
                &mut MatMut::dense(ys, rows, vp),
            );
        }
    }
}
