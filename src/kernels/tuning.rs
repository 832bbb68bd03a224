//! The tuning constants of the matrix products in [`super::simd`], in one
//! place, each with the reason for its value.
//!
//! Two budgets set them. Registers: AVX2 has 16 vector registers (`f32x8`),
//! AVX-512 32 (`f32x16`); a register block must leave room for the vectors
//! of B it loads and the broadcast of A. Latency: an FMA takes about 4
//! cycles and two issue per cycle, so about 8 independent accumulator chains
//! keep the FMA units busy. Caches: an L1 data cache of at least 32 KiB.
//!
//! Where a value depends on the vector width, the constant comes in an
//! `_X8` and an `_X16` form and a `const fn` of the lane count picks one.
//! Changing any of them changes the order of the additions, and so the
//! results in their last bits (and the pinned model files).

/// Rows of the `gemm_nn`/`gemm_tn` register block when m ≥ `MR`. With the
/// panel of [`panel_vectors`] vectors that is 4 × 2 = 8 accumulators of
/// AVX2's 16 registers (f32x8) or 4 × 4 = 16 of AVX-512's 32 (f32x16): 8 and
/// 16 independent FMA chains, with room left for the B vectors. Below `MR`
/// rows the product runs a row at a time ([`NV_ROW`]).
pub const MR: usize = 4;

/// Rows of B (steps of k) per cache block of `gemm_nn`/`gemm_tn`: a panel of
/// at most 64 columns (4 vectors of f32x16) × `KC` rows is 32 KiB, within
/// L1, while every row block of A passes over it. Measured at k = 1,280 (B
/// 32, `perf/README.md`): KC 64, 128 and 256 gave 267k, 275k and 275k
/// characters/s; 128 is kept.
pub const KC: usize = 128;

/// Column vectors of the one-row block of `gemm_nn`/`gemm_tn` (m < [`MR`],
/// a matrix-vector product such as the recurrence of one stream) on f32x8:
/// 8 independent accumulators hide the FMA latency, and 8 accumulators plus
/// 8 loaded B vectors fit AVX2's 16 registers.
pub const NV_ROW: usize = 8;

/// The same on f32x16: AVX-512's 32 registers hold 16 accumulators, so a
/// row of B of up to 256 values is read in one contiguous pass per step of
/// k (a 1 KiB run the prefetcher follows) instead of two 512-byte halves.
pub const NV_ROW_X16: usize = 16;

/// [`NV_ROW_X16`] from 16 lanes up, [`NV_ROW`] below.
pub const fn row_vectors(lanes: usize) -> usize {
    if lanes >= 16 { NV_ROW_X16 } else { NV_ROW }
}

/// Width in vectors of the column panel of `gemm_nn`/`gemm_tn` on f32x8:
/// [`MR`] × 2 = 8 accumulators, half of AVX2's 16 registers.
pub const PANEL_VECTORS_X8: usize = 2;

/// Width in vectors of the column panel of `gemm_nn`/`gemm_tn` on f32x16:
/// [`MR`] × 4 = 16 accumulators, half of AVX-512's 32 registers.
pub const PANEL_VECTORS_X16: usize = 4;

/// The column panel of `gemm_nn`/`gemm_tn` in vectors of `lanes` f32:
/// [`PANEL_VECTORS_X16`] from 16 lanes up, [`PANEL_VECTORS_X8`] below.
pub const fn panel_vectors(lanes: usize) -> usize {
    if lanes >= 16 {
        PANEL_VECTORS_X16
    } else {
        PANEL_VECTORS_X8
    }
}

/// Vectors of columns of the two-row block of `gemm_nn`/`gemm_tn` (2 or 3
/// streams of the recurrence): twice the panel, so that two rows keep the
/// same accumulators as the [`MR`]-row block (8 of f32x8, 16 of f32x16) and
/// each load of B feeds two FMAs.
pub const fn pair_vectors(lanes: usize) -> usize {
    2 * panel_vectors(lanes)
}

/// Rows of A per `gemm_nt` block on f32x8: 2 × [`NT_COLS`] = 8 vector
/// accumulators, plus 4 B vectors and one A vector, 13 of AVX2's 16
/// registers.
pub const NT_ROWS_X8: usize = 2;

/// Rows of A per `gemm_nt` block on f32x16: 4 × [`NT_COLS`] = 16 vector
/// accumulators, plus 4 B vectors and one A vector, 21 of AVX-512's 32
/// registers.
pub const NT_ROWS_X16: usize = 4;

/// Rows of B (columns of C) per `gemm_nt` block of [`nt_rows`] rows: each B
/// vector loaded serves all rows of the block, each A vector all 4 columns.
pub const NT_COLS: usize = 4;

/// Rows of B per `gemm_nt` block when m is below [`nt_rows`] (a
/// matrix-vector product: the recurrence of one stream, sampling): 8 dot
/// products at once, 8 independent accumulators over k.
pub const NT_ROW_COLS: usize = 8;

/// Rows of A per `gemm_nt` block on vectors of `lanes` f32:
/// [`NT_ROWS_X16`] from 16 lanes up, [`NT_ROWS_X8`] below.
pub const fn nt_rows(lanes: usize) -> usize {
    if lanes >= 16 { NT_ROWS_X16 } else { NT_ROWS_X8 }
}

/// Side of the square tiles of `transpose`: a 16×16 tile of f32 is 16 cache
/// lines read and 16 written, 2 KiB, well inside any L1.
pub const TRANSPOSE_TILE: usize = 16;
