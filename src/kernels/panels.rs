//! Column panels: a `k × n` matrix stored for products that read it again
//! and again (the recurrent weights, at every step of a chunk).
//!
//! Panel `j0..j1` (at most [`PANEL`] columns; the last may be narrower) is a
//! dense row-major `k × (j1 - j0)` block at offset `j0 · k`:
//!
//! ```text
//! row-major B (k × n):   [ B[0][0..n] | B[1][0..n] | … ]
//! panels:                [ B[0..k][0..64] | B[0..k][64..128] | … ]   (PANEL 64)
//! ```
//!
//! Why: the register block of `gemm_nn` reads a few vectors of each row p
//! of B while p runs over k, and all row blocks of A pass over the same
//! columns. In a row-major `Hp × Hp` matrix those vectors are `4·Hp` bytes
//! apart (1 KiB at H 256), so they fall into a quarter of the L1's sets and
//! the columns the row blocks share are evicted before they are read again;
//! in a panel they are consecutive, and a panel of [`tuning::KC`] rows stays
//! in L1. Measured (`cargo bench --bench kernels -- step`, Xeon, H 256):
//! the step's product at 32 streams went from 140 to 159-162 GFLOP/s (the
//! `gemm` crate: 197); at 4 streams it is level; at one stream the
//! one-row block is as wide as a panel (4 vectors where row-major gave 16)
//! and runs 75 against 84.5 at H 256 (87 against 98 at H 64), which the
//! faster pack and the rest of the chunk more than repaid in `bench`.
//!
//! The products here are the row-major ones ([`super::gemm_nn`]) applied
//! panel by panel (for 2 or more rows of C, every whole panel in one call:
//! [`super::simd::gemm_nn_panels`]), so every entry of C sums over k in the
//! same order, and the results are bit for bit those of the row-major
//! matrix. On f32x8 a panel is only 2 vectors wide, so one row of C takes
//! four panels at a time ([`super::simd::gemm_nn_row_panels`], the same
//! sums): one stream below [`STORED_ROW_MIN`] reads its step's `W_hhᵀ` as
//! panels, and 2 accumulators left each FMA waiting on the one before (AVX2
//! Zen, rnn H 64, one stream: 339k chars/s panel by panel, 392k four at a
//! time).
//!
//! [`STORED_ROW_MIN`]: super::tuning::STORED_ROW_MIN
//!
//! [`tuning::KC`]: super::tuning::KC

use super::mat::{MatMut, MatRef};
use super::tuning::panel_vectors;
use super::{LANES, gemm_nn as gemm_nn_dense, transpose};

/// Columns per panel: the register block's width (`panel_vectors` vectors
/// of [`LANES`]): 64 on AVX-512, 16 on AVX2.
pub const PANEL: usize = panel_vectors(LANES) * LANES;

/// The column ranges of the panels of `n` columns, in storage order.
fn column_ranges(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(PANEL).map(move |j0| j0..(j0 + PANEL).min(n))
}

/// A `k × n` matrix stored as panels (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct PanelsRef<'a> {
    data: &'a [f32],
    k: usize,
    n: usize,
}

impl<'a> PanelsRef<'a> {
    /// The `k × n` panels in `data`. Panics unless `data` holds `k · n` values.
    pub fn new(data: &'a [f32], k: usize, n: usize) -> PanelsRef<'a> {
        assert_eq!(data.len(), k * n, "panels of a {k}×{n} matrix");
        PanelsRef { data, k, n }
    }

    /// Each panel's first column and its `k × width` view.
    pub fn panels(&self) -> impl Iterator<Item = (usize, MatRef<'a>)> + '_ {
        column_ranges(self.n).map(|cols| {
            let width = cols.len();
            let block = &self.data[cols.start * self.k..][..self.k * width];
            (cols.start, MatRef::dense(block, self.k, width))
        })
    }
}

/// Stores `src` (k × n), or its transpose (`src` n × k) with `transposed`,
/// as panels into `out` (`k · n` values).
///
/// A whole panel's row is copied as one `[f32; PANEL]`, a few vector moves
/// in line: through `copy_from_slice` each 64-byte row (AVX2) was a call to
/// `memmove`, 16 K calls for an LSTM's `W_hh` at H 256. One stream's
/// backward step reads such panels on AVX2; there (Zen 1, LSTM H 256,
/// `perf record`) the pack took 4.3% of training with the calls, 3.3%
/// without.
pub fn pack(src: MatRef, transposed: bool, out: &mut [f32]) {
    let (k, n) = if transposed {
        (src.cols(), src.rows())
    } else {
        (src.rows(), src.cols())
    };
    assert_eq!(out.len(), k * n, "panels of a {k}×{n} matrix");
    for cols in column_ranges(n) {
        let width = cols.len();
        let panel = &mut out[cols.start * k..][..k * width];
        if transposed {
            transpose(src.sub(cols, 0..k), &mut MatMut::dense(panel, k, width));
        } else if width == PANEL {
            for (p, row) in panel.chunks_exact_mut(PANEL).enumerate() {
                let src_row: &[f32; PANEL] = src.row(p)[cols.start..][..PANEL]
                    .try_into()
                    .expect("a slice of PANEL values");
                let row: &mut [f32; PANEL] = row.try_into().expect("a chunk of PANEL values");
                *row = *src_row;
            }
        } else {
            for (p, row) in panel.chunks_exact_mut(width).enumerate() {
                row.copy_from_slice(&src.row(p)[cols.clone()]);
            }
        }
    }
}

/// `C (m×n) += A (m×k) · B (k×n)`, B stored as panels: [`super::gemm_nn`]
/// on each panel and its columns of C. On the SIMD kernels the whole panels
/// go in one call: four at a time for one row
/// ([`super::simd::gemm_nn_row_panels`], where [`row_on_panel_groups`]),
/// all of them for more rows ([`super::simd::gemm_nn_panels`]); the same
/// sums either way. Panics unless the shapes agree.
pub fn gemm_nn(a: MatRef, b: PanelsRef, c: &mut MatMut) {
    assert!(
        a.cols() == b.k && c.rows() == a.rows() && c.cols() == b.n,
        "panels gemm_nn: C {}×{} += A {}×{} · B {}×{}",
        c.rows(),
        c.cols(),
        a.rows(),
        a.cols(),
        b.k,
        b.n
    );
    let mut j0 = 0;
    let whole = b.n / PANEL * PANEL;
    if a.rows() == 1 && row_on_panel_groups(b.n) {
        let row = &mut c.row_mut(0)[..whole];
        super::simd::gemm_nn_row_panels(a.row(0), &b.data[..b.k * whole], row);
        j0 = whole;
    } else if a.rows() >= 2 && whole > 0 && !cfg!(feature = "scalar-kernels") {
        let data = &b.data[..b.k * whole];
        super::simd::gemm_nn_panels(a, data, &mut c.columns(0..whole));
        j0 = whole;
    }
    for (j, panel) in b.panels().skip(j0 / PANEL) {
        gemm_nn_dense(a, panel, &mut c.columns(j..j + panel.cols()));
    }
}

/// Whether one row of C takes its whole panels several at a time
/// ([`super::simd::gemm_nn_row_panels`]) rather than one by one: a SIMD
/// build of f32x8 (a panel of 2 vectors; on f32x16 it is 4, and the rows
/// below 128 values that one stream reads as panels are one or two of
/// them), with at least two whole panels. Measured on an AVX2 Zen (one
/// stream, H 64): see `perf/README.md`. One stream's backward step reads
/// `W_hh` in panels only where this holds
/// ([`super::tuning::one_row_back_on_panels`]).
pub fn row_on_panel_groups(n: usize) -> bool {
    !cfg!(feature = "scalar-kernels") && LANES == 8 && n / PANEL >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scalar;
    use crate::kernels::tuning::KC;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn panels_hold_the_matrix_column_block_by_column_block() {
        for (k, n) in [(3, 5), (7, PANEL), (5, PANEL + 3), (2, 2 * PANEL + 1)] {
            let b = values(k * n, 1);
            let mut out = vec![0.0; k * n];
            pack(MatRef::dense(&b, k, n), false, &mut out);
            let panels = PanelsRef::new(&out, k, n);
            let mut seen = 0;
            for (j0, panel) in panels.panels() {
                for p in 0..k {
                    assert_eq!(panel.row(p), &b[p * n + j0..][..panel.cols()]);
                }
                seen += panel.cols();
            }
            assert_eq!(seen, n);
            // The transpose of the transpose packs the same panels.
            let mut bt = vec![0.0; k * n];
            scalar::transpose(MatRef::dense(&b, k, n), &mut MatMut::dense(&mut bt, n, k));
            let mut out_t = vec![0.0; k * n];
            pack(MatRef::dense(&bt, n, k), true, &mut out_t);
            assert_eq!(out_t, out, "k {k} n {n}");
        }
    }

    /// The panel product against the scalar row-major twin, bit for bit
    /// (the same order of additions), over shapes with tails, with A and C
    /// dense and with rows further apart than their length (as the step's
    /// rows of a chunk are); C's values between its rows stay as they were.
    #[test]
    fn the_panel_product_is_the_row_major_one() {
        for m in [1, 2, 3, 4, 5, 6, 7, 13, 32, 33, 50] {
            for (k, n) in [
                (0, 2 * PANEL),
                (1, 1),
                (5, 3),
                (64, PANEL),
                (70, PANEL + 9),
                (33, 2 * PANEL + 16),
                (KC + 7, 2 * PANEL),
                (9, 3 * PANEL),
                (64, 4 * PANEL),
                (17, 5 * PANEL + 8),
                (256, 9 * PANEL),
            ] {
                for gap in [0, 5] {
                    let (lda, ldc) = (k + gap, n + 2 * gap);
                    let (a, b) = (values(m * lda, 2), values(k * n, 3));
                    let a = MatRef::new(&a, m, k, lda);
                    let b_rows = MatRef::dense(&b, k, n);
                    let c0 = values(m * ldc, 4);
                    let mut want = c0.clone();
                    crate::kernels::gemm_nn(a, b_rows, &mut MatMut::new(&mut want, m, n, ldc));
                    let mut packed = vec![0.0; k * n];
                    pack(b_rows, false, &mut packed);
                    let mut got = c0.clone();
                    let panels = PanelsRef::new(&packed, k, n);
                    gemm_nn(a, panels, &mut MatMut::new(&mut got, m, n, ldc));
                    assert_eq!(got, want, "m {m} k {k} n {n} gap {gap}");
                    for (i, row_gap) in got.chunks(ldc).enumerate() {
                        let kept = &c0[i * ldc + n..][..row_gap.len() - n];
                        assert_eq!(&row_gap[n..], kept, "m {m} k {k} n {n} gap {gap} row {i}");
                    }
                    let mut oracle = c0;
                    scalar::gemm_nn(a, b_rows, &mut MatMut::new(&mut oracle, m, n, ldc));
                    for (g, o) in got.iter().zip(&oracle) {
                        assert!(
                            (g - o).abs() <= 1e-5 * k as f32 * (1.0 + o.abs()),
                            "m {m} k {k} n {n} gap {gap}"
                        );
                    }
                }
            }
        }
    }
}
