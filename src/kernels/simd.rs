//! Hand-vectorised kernels on `wide` vectors; same signatures as
//! [`super::scalar`], which is their test oracle.
//!
//! Every kernel is generic over [`Lane`], implemented for `f32x8` (the
//! portable path: one AVX register, or two SSE halves) and `f32x16` (one
//! AVX-512 register where the build has `avx512f`). The un-suffixed
//! functions use [`Fast`], the widest vector this build compiles to one
//! register (f32x16 in any build with the feature `f32x16`, for tests).
//!
//! ## The matrix products
//!
//! `C (m×n) += op(A) · op(B)` in three forms, all row-major, on
//! [`MatRef`]/[`MatMut`] views (m, n and k come from the views, which must
//! agree). The block sizes named below (`MR`, `NV`, `KC`, the panel and the
//! nt block) are the constants of [`super::tuning`], with their reasons:
//!
//! - `gemm_nn`: `A (m×k) · B (k×n)`; `gemm_tn`: `Aᵀ · B` with `A (k×m)`.
//!   Register-blocked: a block of up to `MR` rows × NV vectors of columns
//!   of C lives in registers while p runs over k; each step loads NV
//!   vectors of row p of B, broadcasts one element of A per row and does
//!   rows·NV independent FMAs (enough independent chains to hide the FMA
//!   latency). Columns are walked in panels and k in blocks of `KC` so a
//!   panel of B stays in L1 while all row blocks pass over it. Leftover
//!   columns (n not a multiple of the width) are done in scalar.
//! - `gemm_nt`: `A (m×k) · B (n×k)ᵀ`: each C entry is a dot product of two
//!   contiguous rows. A block of `nt_rows` rows × `NT_COLS` columns keeps
//!   one vector accumulator per entry over k and reduces each horizontally
//!   at the end. This reads Whh and Why in their stored orientation (no
//!   transposed copy) for the forward pass.
//!
//! Inner loops index fixed-length sub-slices, so the compiler removes the
//! bounds checks: one check per step of k, none per element. The
//! `gemm_nn`/`gemm_tn` register block goes further: it checks the extents
//! of A and B once and then loads unchecked (see `block` for the measured
//! reason).

use std::ops::{Add, Div, Mul, Range, Sub};

use wide::{f32x8, f32x16, i32x8, i32x16};

use super::mat::{MatMut, MatRef, gemm_dims, transpose_dims};
use super::panels::PANEL;
use super::tuning::{
    self, KC, MR, NT_COLS, NT_ROW_CHAINS, NT_ROW_ROWS_X8, NT_ROW_ROWS_X16, NT_ROWS_X8, NT_ROWS_X16,
    NV_ROW, NV_ROW_X16, PANEL_VECTORS_X8, PANEL_VECTORS_X16, ROW_PANELS, TRANSPOSE_TILE, nt_rows,
    panel_vectors, row_vectors,
};

/// An `f32` SIMD vector as the kernels need it.
pub trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// Number of `f32` lanes.
    const N: usize;
    /// All lanes `x`.
    fn splat(x: f32) -> Self;
    /// The first `N` values of `s`.
    fn load(s: &[f32]) -> Self;
    /// Writes the lanes to the first `N` values of `s`.
    fn store(self, s: &mut [f32]);
    /// `self · a + acc`, fused.
    fn fma(self, a: Self, acc: Self) -> Self;
    /// Lane-wise maximum.
    fn max(self, other: Self) -> Self;
    /// `self` where `|x| < limit`, else ±1 with the sign of `x` (a NaN `x`
    /// keeps `self`).
    fn saturate(self, x: Self, limit: f32) -> Self;
    /// Largest lane.
    fn reduce_max(self) -> f32;
    /// Sum of the lanes.
    fn reduce_add(self) -> f32;
    /// Lane-wise `e^x`.
    fn exp(self) -> Self;
}

macro_rules! impl_lane {
    ($t:ident, $i:ident, $n:literal, $sum:path) => {
        impl Lane for $t {
            const N: usize = $n;
            #[inline(always)]
            fn splat(x: f32) -> Self {
                $t::splat(x)
            }
            #[inline(always)]
            fn load(s: &[f32]) -> Self {
                let a: [f32; $n] = s[..$n].try_into().expect("length checked by the slice");
                $t::new(a)
            }
            #[inline(always)]
            fn store(self, s: &mut [f32]) {
                s[..$n].copy_from_slice(self.as_array());
            }
            #[inline(always)]
            fn fma(self, a: Self, acc: Self) -> Self {
                self.mul_add(a, acc)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline(always)]
            fn saturate(self, x: Self, limit: f32) -> Self {
                x.abs()
                    .simd_ge($t::splat(limit))
                    .select($t::ONE.flip_signs(x), self)
            }
            /// The lanes' maximum as a tree of pairs (halves against
            /// halves) rather than a chain, in log₂ N steps of latency;
            /// NaN lanes are passed over, and all NaN gives -∞, as in a
            /// chain from -∞. The value is the chain's; only where the
            /// maximum is zero may its sign differ, which the softmax (its
            /// one use: `y - max`, `max + ln Σ`) does not see.
            #[inline(always)]
            fn reduce_max(self) -> f32 {
                let mut v = *self.as_array();
                let mut n = $n;
                while n > 1 {
                    n /= 2;
                    for i in 0..n {
                        v[i] = f32::max(v[i], v[i + n]);
                    }
                }
                f32::max(v[0], f32::NEG_INFINITY)
            }
            #[inline(always)]
            fn reduce_add(self) -> f32 {
                $sum(self)
            }
            /// `wide`'s `exp`, bit for bit. Where every lane lies
            /// between `EXP_LOW` and `EXP_HIGH`, its own arithmetic without its
            /// range checks, which cannot fire there: the reduction `x = r
            /// ln 2 + f`, `r = round(x log₂e)` (ln 2 in two parts), the
            /// degree-7 polynomial in `f` as `wide` evaluates it, and `2^r`
            /// from the exponent bits, `r` within -126..=127 (so `wide`'s
            /// extra scale is 1 and its subnormal branch is not taken).
            /// Elsewhere (NaN, infinities, underflow, overflow), `wide`'s.
            /// Half the operations (32.5 → about 15 cycles an f32x16 on a
            /// Zen 4); `exp_is_wides_bit_for_bit` (`tests/kernels.rs`)
            /// holds it to `wide`'s bits.
            #[inline(always)]
            fn exp(self) -> Self {
                let in_range = self.simd_ge($t::splat(EXP_LOW)) & self.simd_le($t::splat(EXP_HIGH));
                if !in_range.all() {
                    return $t::exp(self);
                }
                let c = |x: f32| $t::splat(x);
                let r = (self * $t::LOG2_E).round_ties_even();
                let f = r.mul_neg_add(c(355.0 / 512.0), self); // ln 2, high part
                let f = r.mul_neg_add(c(-2.121_944_4e-4), f); // and the rest
                let f2 = f * f;
                let f4 = f2 * f2;
                let p = c(1.0 / 120.0).mul_add(f, c(1.0 / 24.0)).mul_add(
                    f2,
                    c(1.0 / 5040.0)
                        .mul_add(f, c(1.0 / 720.0))
                        .mul_add(f4, c(1.0 / 6.0).mul_add(f, c(1.0 / 2.0))),
                );
                let p = p.mul_add(f * f, f);
                let bits: $i = wide::bytemuck::cast(r + c(127.0 + 8_388_608.0));
                let two_r: $t = wide::bytemuck::cast(bits << 23);
                (p + $t::ONE) * two_r
            }
        }
    };
}

/// The range of `x` in which [`Lane::exp`] runs its short form: `round(x
/// log₂e)` stays within -126..=127 (`x` ≥ -87.68 and ≤ 88.03).
const EXP_LOW: f32 = -87.0;
/// See [`EXP_LOW`].
const EXP_HIGH: f32 = 88.0;

impl_lane!(f32x8, i32x8, 8, f32x8::reduce_add);

/// One lane: the kernels' tails (the units past the last whole vector)
/// run the vector code on it, so that a unit's result does not depend on
/// where the tail falls.
impl Lane for f32 {
    const N: usize = 1;
    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        s[0]
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[0] = self;
    }
    #[inline(always)]
    fn fma(self, a: Self, acc: Self) -> Self {
        self.mul_add(a, acc)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
    #[inline(always)]
    fn saturate(self, x: Self, limit: f32) -> Self {
        if x.abs() >= limit {
            1f32.copysign(x)
        } else {
            self
        }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f32::exp(self)
    }
}
impl_lane!(f32x16, i32x16, 16, reduce_add_x16);

/// The sum of an f32x16's lanes as a tree of halves: `(lo + hi)` lane by
/// lane, then f32x8's sum (also halves against halves where the build has
/// AVX). On AVX-512 that is the order `_mm512_reduce_add_ps` adds in, and
/// it is the same order where f32x16 is two AVX f32x8 halves, so the
/// feature `f32x16` on an AVX2+FMA build reproduces the AVX-512 build's
/// results bit for bit (`wide`'s own sum there is `lo.sum() + hi.sum()`,
/// another order).
#[inline(always)]
fn reduce_add_x16(v: f32x16) -> f32 {
    let a = v.as_array();
    let half = |r: std::ops::Range<usize>| f32x8::new(a[r].try_into().expect("8 lanes"));
    (half(0..8) + half(8..16)).reduce_add()
}

/// The vector the un-suffixed kernels use: `f32x16` where the build has
/// AVX-512 (one register) or the feature `f32x16` (two halves elsewhere),
/// `f32x8` otherwise.
#[cfg(any(target_feature = "avx512f", feature = "f32x16"))]
pub type Fast = f32x16;
/// The vector the un-suffixed kernels use: `f32x16` where the build has
/// AVX-512 (one register) or the feature `f32x16` (two halves elsewhere),
/// `f32x8` otherwise.
#[cfg(not(any(target_feature = "avx512f", feature = "f32x16")))]
pub type Fast = f32x8;

// `row_blocks` and `block_rows` are written for blocks of at most 6 rows.
const _: () = assert!(
    MR == 6,
    "row_blocks' tails and block_rows' arms assume MR = 6"
);
// At most this many vectors of columns per `block_nv` call (its match arms).
const _: () =
    assert!(NV_ROW_X16 <= 16 && NV_ROW <= 8 && PANEL_VECTORS_X8 <= 8 && PANEL_VECTORS_X16 <= 8);

/// The register block: `C (ROWS × NV vectors) += A-block · B-panel` over
/// the `k` steps p. A's value of row r at step p is `a[r·rs + p·step]` (A
/// row-major: `rs` = its stride, `step` = 1; stored transposed: the
/// reverse); step p reads NV vectors of B at `b[p·ldb..]`; C's rows are
/// `ldc` apart. Each entry of C is loaded, summed over p in order by one
/// FMA chain, and stored.
///
/// The loop reads A and B unchecked after one check of their extents: with
/// a bounds check per value it spent 8 compare-and-branch instructions and
/// their index arithmetic per 16 FMAs, which compete with the FMAs for the
/// same execution ports (Ice Lake Xeon, 32 streams, H 256: 80-105 GFLOP/s
/// with checks; see `perf/README.md` for the unchecked figures).
#[inline(always)]
#[allow(unsafe_code)]
fn block<V: Lane, const ROWS: usize, const NV: usize>(
    (a, rs, step): (&[f32], usize, usize),
    (b, ldb): (&[f32], usize),
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let n = V::N;
    let a_end = (ROWS - 1)
        .checked_mul(rs)
        .zip(k.checked_sub(1).and_then(|p| p.checked_mul(step)))
        .and_then(|(r, p)| r.checked_add(p));
    let b_end = k
        .checked_sub(1)
        .and_then(|p| p.checked_mul(ldb))
        .and_then(|p| p.checked_add(NV * n));
    assert!(
        a_end.is_some_and(|e| e < a.len()) && b_end.is_some_and(|e| e <= b.len()),
        "block operands: k {k}, A {} values (rs {rs}, step {step}), B {} (ldb {ldb})",
        a.len(),
        b.len()
    );
    let mut acc = [[V::splat(0.0); NV]; ROWS];
    for (r, acc_r) in acc.iter_mut().enumerate() {
        let c_row = &c[r * ldc..][..NV * n];
        for (v, acc_rv) in acc_r.iter_mut().enumerate() {
            *acc_rv = V::load(&c_row[v * n..]);
        }
    }
    for p in 0..k {
        let mut bv = [V::splat(0.0); NV];
        for (v, bvv) in bv.iter_mut().enumerate() {
            let at = p * ldb + v * n;
            // SAFETY: p < k and v < NV, so at + n ≤ (k-1)·ldb + NV·n =
            // b_end ≤ b.len(), checked above.
            *bvv = V::load(unsafe { b.get_unchecked(at..at + n) });
        }
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: r < ROWS and p < k, so r·rs + p·step ≤ a_end <
            // a.len(), checked above.
            let av = V::splat(unsafe { *a.get_unchecked(r * rs + p * step) });
            for (acc_rv, &bvv) in acc_r.iter_mut().zip(&bv) {
                *acc_rv = av.fma(bvv, *acc_rv);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let c_row = &mut c[r * ldc..][..NV * n];
        for (v, acc_rv) in acc_r.iter().enumerate() {
            acc_rv.store(&mut c_row[v * n..]);
        }
    }
}

/// `block` for `ROWS` rows and a run-time number of vectors `nv` ≤ 16.
#[inline(always)]
fn block_nv<V: Lane, const ROWS: usize>(
    nv: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize),
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    macro_rules! arms {
        ($($nv:literal)*) => {
            match nv {
                $($nv => block::<V, ROWS, $nv>(a, b, k, c, ldc),)*
                _ => unreachable!("at most 16 vectors per block"),
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// `block_nv` for a run-time number of rows, 1 to [`MR`].
#[inline(always)]
fn block_rows<V: Lane>(
    rows: usize,
    nv: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize),
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    match rows {
        1 => block_nv::<V, 1>(nv, a, b, k, c, ldc),
        2 => block_nv::<V, 2>(nv, a, b, k, c, ldc),
        3 => block_nv::<V, 3>(nv, a, b, k, c, ldc),
        4 => block_nv::<V, 4>(nv, a, b, k, c, ldc),
        5 => block_nv::<V, 5>(nv, a, b, k, c, ldc),
        6 => block_nv::<V, 6>(nv, a, b, k, c, ldc),
        _ => unreachable!("at most MR (6) rows per block"),
    }
}

/// The row blocks that cover `m` rows (m ≥ 1): as many of [`MR`] (6) as
/// fit, the rest as blocks of 4 and 3 where it can be (32 = 6·4 + 4 + 4,
/// 13 = 6 + 4 + 3), else one block of what is left.
fn row_blocks(m: usize) -> impl Iterator<Item = usize> {
    let (mut full, rest) = (m / MR, m % MR);
    let tail: &[usize] = match rest {
        1 if full > 0 => {
            full -= 1;
            &[4, 3]
        }
        2 if full > 0 => {
            full -= 1;
            &[4, 4]
        }
        0 => &[],
        1 => &[1],
        2 => &[2],
        3 => &[3],
        4 => &[4],
        _ => &[5],
    };
    std::iter::repeat_n(MR, full).chain(tail.iter().copied())
}

/// The first row and the number of rows of each L2 block of the `m` rows
/// of A: blocks of about equal size, multiples of [`MR`] but the last
/// (which may hold a single row), at most `most` rows (a multiple of
/// [`MR`]: [`tuning::rows_per_l2_block`]); one block where m fits.
fn l2_row_blocks(m: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = m.div_ceil(most);
    let rows = m.div_ceil(blocks).next_multiple_of(MR);
    (0..m).step_by(rows).map(move |i0| (i0, rows.min(m - i0)))
}

/// `C (m × nv vectors) += A-block · B-block` for m ≥ 1 rows (a product's
/// rows, 2 or more, or one L2 block of them), the row blocks of
/// [`row_blocks`] one after the other over the same `kc` rows of
/// B (a panel's k-block, which stays in L1 while they pass): A, B and C as
/// for [`block`].
#[inline(always)]
fn row_blocks_on<V: Lane>(
    m: usize,
    nv: usize,
    (a, rs, step): (&[f32], usize, usize),
    b: (&[f32], usize),
    kc: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let mut i = 0;
    for rows in row_blocks(m) {
        block_rows::<V>(
            rows,
            nv,
            (&a[i * rs..], rs, step),
            b,
            kc,
            &mut c[i * ldc..],
            ldc,
        );
        i += rows;
    }
}

/// `C += op(A) · B` (`TA`: A stored transposed, k×m) for the
/// vector-aligned columns, then the scalar tail; the shapes are checked by
/// the caller.
///
/// One row of C (a stream of the recurrence) is a matrix-vector product:
/// blocks of `row_vectors` vectors, each step of k reading one long run of
/// a row of B. From two rows on, k is cut into blocks of [`KC`] so that a
/// panel of B (KC rows × `panel_vectors` vectors) stays in L1 while the row
/// blocks ([`row_blocks`]) pass over it, and the rows of A into blocks
/// that stay in L2 while the panels pass ([`l2_row_blocks`]). Every entry
/// of C is summed over k in order by one FMA chain, so the blocking does
/// not change a bit of the result.
fn gemm_b<V: Lane, const TA: bool>(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, n, k) = (c.rows(), c.cols(), b.rows());
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let vectors = n / V::N;
    let (lda, ldb, ldc) = (a.stride(), b.stride(), c.stride());
    let (a_s, b_s) = (a.as_slice(), b.as_slice());
    // Row r of A at step p: a_s[r·rs + p·step].
    let (rs, step) = if TA { (1, lda) } else { (lda, 1) };
    if m == 1 {
        let mut jv = 0;
        while jv < vectors {
            let nv = (vectors - jv).min(row_vectors(V::N));
            let j0 = jv * V::N;
            let c_s = &mut c.as_mut_slice()[j0..];
            block_nv::<V, 1>(nv, (a_s, rs, step), (&b_s[j0..], ldb), k, c_s, ldc);
            jv += nv;
        }
    } else {
        let panel = panel_vectors(V::N);
        for (i0, rows) in l2_row_blocks(m, tuning::rows_per_l2_block()) {
            for k0 in (0..k).step_by(KC) {
                let kc = KC.min(k - k0);
                let mut jv = 0;
                while jv < vectors {
                    let nv = (vectors - jv).min(panel);
                    let j0 = jv * V::N;
                    let a_k = (&a_s[i0 * rs + k0 * step..], rs, step);
                    let b_p = (&b_s[k0 * ldb + j0..], ldb);
                    let c_p = &mut c.as_mut_slice()[i0 * ldc + j0..];
                    row_blocks_on::<V>(rows, nv, a_k, b_p, kc, c_p, ldc);
                    jv += nv;
                }
            }
        }
    }
    let j_tail = vectors * V::N;
    if j_tail < n {
        let c = c.as_mut_slice();
        for i in 0..m {
            for p in 0..k {
                let a_ip = a_s[i * rs + p * step];
                let b_row = &b_s[p * ldb + j_tail..p * ldb + n];
                let c_row = &mut c[i * ldc + j_tail..i * ldc + n];
                for (cj, bj) in c_row.iter_mut().zip(b_row) {
                    *cj += a_ip * bj;
                }
            }
        }
    }
}

/// `C (m×n) += A (m×k) · B (k×n)` for m ≥ 2 rows (streams), B stored as
/// whole column panels of [`super::panels::PANEL`] columns (each `k ×
/// PANEL`, dense, one after the other: [`super::panels`]), on [`Fast`]
/// vectors: panel by panel, k in blocks of [`KC`], the row blocks over each
/// (`row_blocks_on`), as [`gemm_nn`] runs one panel. One call for all the
/// panels: a call of [`gemm_nn`] per panel checked the shapes and set up its
/// loops again for every panel (16 columns on AVX2). At 4 streams (the
/// default group size) the product ran 26 and 33 GFLOP/s at H 64 and 256
/// that way, 31 and 36 in one call (AVX2 Zen 1, `cargo bench --bench
/// kernels -- step`; `perf/README.md`). Each entry of C is summed over k
/// in order by one FMA chain, as there: the same bits. Panics unless the
/// shapes agree.
pub fn gemm_nn_panels(a: MatRef, b: &[f32], c: &mut MatMut) {
    let (m, n, k) = (c.rows(), c.cols(), a.cols());
    let (pv, width) = (panel_vectors(Fast::N), PANEL);
    assert!(
        m >= 2 && a.rows() == m && n.is_multiple_of(width) && b.len() == k * n,
        "panels gemm_nn: C {m}×{n} += A {}×{k} · {} values of panels",
        a.rows(),
        b.len()
    );
    if k == 0 {
        return;
    }
    let (a_s, lda, ldc) = (a.as_slice(), a.stride(), c.stride());
    for (q, panel) in b.chunks_exact(k * width).enumerate() {
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let (a_k, b_p) = ((&a_s[k0..], lda, 1), (&panel[k0 * width..], width));
            row_blocks_on::<Fast>(m, pv, a_k, b_p, kc, &mut c.as_mut_slice()[q * width..], ldc);
        }
    }
}

/// `c (1×n) += a (1×k) · B (k×n)`, B stored as whole column panels of
/// [`super::panels::PANEL`] columns (each `k × PANEL`, dense, one after the
/// other: [`super::panels`]), on [`Fast`] vectors: [`ROW_PANELS`] panels at
/// a time. One panel alone gives the one-row block only its
/// [`panel_vectors`] accumulators (2 on f32x8), too few chains to hide the
/// FMA latency; four panels give it [`row_vectors`], as many as the
/// row-major product ([`gemm_nn`]) has. Each entry of c is summed over k in
/// order by one FMA chain, as there: the same bits. Panics unless `b`
/// holds whole panels of `k` rows and `c` their columns.
pub fn gemm_nn_row_panels(a: &[f32], b: &[f32], c: &mut [f32]) {
    const PV: usize = panel_vectors(<Fast as Lane>::N);
    let (k, width) = (a.len(), PANEL);
    assert!(
        b.len() == c.len() * k && c.len().is_multiple_of(width),
        "row panels: a {k} values, B {} values, c {} values",
        b.len(),
        c.len()
    );
    let panel_len = k * width;
    let mut q = 0;
    let panels = c.len() / width;
    while q < panels {
        let np = (panels - q).min(ROW_PANELS);
        let (b, c) = (&b[q * panel_len..], &mut c[q * width..]);
        match np {
            1 => row_panels::<Fast, 1, PV>(a, b, c),
            2 => row_panels::<Fast, 2, PV>(a, b, c),
            3 => row_panels::<Fast, 3, PV>(a, b, c),
            _ => row_panels::<Fast, ROW_PANELS, PV>(a, b, c),
        }
        q += np;
    }
}

/// `c[q·w..][..w] += a · panel q` for the `NP` panels (`k × w`, w = `PV`
/// vectors) at `b[q·k·w..]`: one accumulator per vector of c, each summed
/// over k in order. Each step of k slices each panel's row once (`w`
/// values, a length the compiler knows), so its loads need no checks of
/// their own.
#[inline(always)]
fn row_panels<V: Lane, const NP: usize, const PV: usize>(a: &[f32], b: &[f32], c: &mut [f32]) {
    let (k, n) = (a.len(), V::N);
    let w = PV * n;
    let panels: [&[f32]; NP] = std::array::from_fn(|q| &b[q * k * w..][..k * w]);
    let mut acc = [[V::splat(0.0); PV]; NP];
    for (q, acc_q) in acc.iter_mut().enumerate() {
        for (v, acc_qv) in acc_q.iter_mut().enumerate() {
            *acc_qv = V::load(&c[q * w + v * n..]);
        }
    }
    for (p, &a_p) in a.iter().enumerate() {
        let av = V::splat(a_p);
        for (acc_q, panel) in acc.iter_mut().zip(&panels) {
            let row = &panel[p * w..][..w];
            for (v, acc_qv) in acc_q.iter_mut().enumerate() {
                *acc_qv = av.fma(V::load(&row[v * n..]), *acc_qv);
            }
        }
    }
    for (q, acc_q) in acc.iter().enumerate() {
        for (v, acc_qv) in acc_q.iter().enumerate() {
            acc_qv.store(&mut c[q * w + v * n..]);
        }
    }
}

/// `C (m×n) += A (m×k) · B (k×n)` on `V` vectors. Panics unless the shapes
/// agree.
pub fn gemm_nn_v<V: Lane>(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_dims("gemm_nn", (a, false), (b, false), c);
    gemm_b::<V, false>(a, b, c);
}

/// `C (m×n) += Aᵀ · B`, `A` stored (k×m) and `B` (k×n), on `V` vectors.
/// Panics unless the shapes agree.
pub fn gemm_tn_v<V: Lane>(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_dims("gemm_tn", (a, true), (b, false), c);
    gemm_b::<V, true>(a, b, c);
}

/// Dot products of an `ROWS × COLS` block: `C[i0+r][j0+s] += A row · B row`
/// over all k (the columns of `a` and `b`).
#[inline(always)]
fn dots<V: Lane, const ROWS: usize, const COLS: usize>(
    a: MatRef,
    b: MatRef,
    c: &mut MatMut,
    i0: usize,
    j0: usize,
) {
    let k = a.cols();
    let (a, lda) = (a.as_slice(), a.stride());
    let (b, ldb) = (b.as_slice(), b.stride());
    let ldc = c.stride();
    let c = c.as_mut_slice();
    let n = V::N;
    let kv = k / n * n;
    let a_rows: [&[f32]; ROWS] = std::array::from_fn(|r| &a[(i0 + r) * lda..][..k]);
    let b_rows: [&[f32]; COLS] = std::array::from_fn(|s| &b[(j0 + s) * ldb..][..k]);
    let mut acc = [[V::splat(0.0); COLS]; ROWS];
    let mut p = 0;
    while p < kv {
        let bv: [V; COLS] = std::array::from_fn(|s| V::load(&b_rows[s][p..]));
        for (acc_r, a_row) in acc.iter_mut().zip(&a_rows) {
            let av = V::load(&a_row[p..]);
            for (acc_rs, &bvs) in acc_r.iter_mut().zip(&bv) {
                *acc_rs = av.fma(bvs, *acc_rs);
            }
        }
        p += n;
    }
    for r in 0..ROWS {
        for s in 0..COLS {
            let mut sum = acc[r][s].reduce_add();
            for q in kv..k {
                sum += a_rows[r][q] * b_rows[s][q];
            }
            c[(i0 + r) * ldc + j0 + s] += sum;
        }
    }
}

/// `C (m×n) += A (m×k) · Bᵀ`, `B` stored (n×k), on `V` vectors. Blocks of
/// `nt_rows × NT_COLS` dot products (4×4 on 16-lane vectors, 16
/// accumulators; 2×4 on 8-lane ones, 8). Fewer rows than a block (a
/// matrix-vector product: one stream's step reading `W_hh` as stored) take
/// a few rows of B at a time (`dot_row_blocks`), each vector of A loaded
/// once for them. Panics unless the shapes agree.
pub fn gemm_nt_v<V: Lane>(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_nt_in::<V>(a, b, c, false);
}

/// [`gemm_nt_v`] with the rows of B read from the last to the first where
/// A has fewer rows than a block (the one-row path, such as one stream's
/// step); larger products read them as `gemm_nt_v` does. Bit for bit the
/// same result: each entry of C is its own dot product.
pub fn gemm_nt_reversed_v<V: Lane>(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_nt_in::<V>(a, b, c, true);
}

/// `gemm_nt` reading B's rows last to first on the one-row path where
/// `reversed`.
fn gemm_nt_in<V: Lane>(a: MatRef, b: MatRef, c: &mut MatMut, reversed: bool) {
    let (m, n, _) = gemm_dims("gemm_nt", (a, false), (b, true), c);
    let block_rows = nt_rows(V::N);
    if m < block_rows {
        for i in 0..m {
            if V::N >= 16 {
                dot_row_blocks::<V, NT_ROW_ROWS_X16>(a.row(i), b, c.row_mut(i), reversed);
            } else {
                dot_row_blocks::<V, NT_ROW_ROWS_X8>(a.row(i), b, c.row_mut(i), reversed);
            }
        }
        return;
    }
    let (rows, cols) = (block_rows, NT_COLS);
    let mut j = 0;
    while j + cols <= n {
        let mut i = 0;
        while i + rows <= m {
            match (rows, cols) {
                (NT_ROWS_X8, NT_COLS) => dots::<V, NT_ROWS_X8, NT_COLS>(a, b, c, i, j),
                (NT_ROWS_X16, NT_COLS) => dots::<V, NT_ROWS_X16, NT_COLS>(a, b, c, i, j),
                _ => unreachable!("block shapes are fixed above"),
            }
            i += rows;
        }
        for i in i..m {
            dots_tail::<V>(a, b, c, i, j..j + cols);
        }
        j += cols;
    }
    for i in 0..m {
        dots_tail::<V>(a, b, c, i, j..n);
    }
}

/// `c[j] += a · B[j]` for every row j of B, `R` rows at a time
/// ([`dot_rows`]), the rows left over one at a time; from the last row to
/// the first where `reversed` (each sum is the same either way). The two
/// orders are two loops written out: one body shared through closures ran
/// 4.5% slower in both orders (rnn H 256, one stream, Zen 4).
#[inline(always)]
fn dot_row_blocks<V: Lane, const R: usize>(a: &[f32], b: MatRef, c: &mut [f32], reversed: bool) {
    let (k, b_s, ldb) = (a.len(), b.as_slice(), b.stride());
    let b_row = |j: usize| &b_s[j * ldb..][..k];
    let j0 = c.len() / R * R;
    if reversed {
        for (j, c_j) in c.iter_mut().enumerate().skip(j0).rev() {
            *c_j += dot_rows::<V, 1>(a, [b_row(j)])[0];
        }
        for (jb, c_block) in c[..j0].chunks_exact_mut(R).enumerate().rev() {
            let sums = dot_rows::<V, R>(a, std::array::from_fn(|r| b_row(jb * R + r)));
            for (c_j, s) in c_block.iter_mut().zip(sums) {
                *c_j += s;
            }
        }
        return;
    }
    for (jb, c_block) in c[..j0].chunks_exact_mut(R).enumerate() {
        let sums = dot_rows::<V, R>(a, std::array::from_fn(|r| b_row(jb * R + r)));
        for (c_j, s) in c_block.iter_mut().zip(sums) {
            *c_j += s;
        }
    }
    for (j, c_j) in c.iter_mut().enumerate().skip(j0) {
        *c_j += dot_rows::<V, 1>(a, [b_row(j)])[0];
    }
}

/// `a · b_r` for each of the `R` rows `b_r` (each as long as `a`): each in
/// [`NT_ROW_CHAINS`] vector accumulators, vector v of the k steps going to
/// accumulator v mod 4, then `(acc 0 + acc 1) + (acc 2 + acc 3)` summed
/// across its lanes, then the scalar tail, so that a row's sum does not
/// depend on `R`. Four chains keep the FMAs apart; each vector of `a`
/// loaded serves all `R` rows.
///
/// Each vector step ([`fma_rows`]) loads unchecked after one check of the
/// lengths (the main loop's condition, or the tail's own): checked, each
/// load of A came with two compare-and-branch pairs (16 per 12 FMAs at
/// R = 3). AVX2 Zen (EPYC, family 17h), one stream, H 256, medians of 7
/// and 5 interleaved runs: rnn 41.0k → 41.5k chars/s, LSTM 10.0k → 10.2k.
#[inline(always)]
#[allow(unsafe_code)]
fn dot_rows<V: Lane, const R: usize>(a: &[f32], b: [&[f32]; R]) -> [f32; R] {
    const _: () = assert!(NT_ROW_CHAINS == 4, "the sum below is written for 4 chains");
    let (k, n) = (a.len(), V::N);
    let b: [&[f32]; R] = std::array::from_fn(|r| &b[r][..k]);
    let mut acc = [[V::splat(0.0); NT_ROW_CHAINS]; R];
    let mut p = 0;
    while p + NT_ROW_CHAINS * n <= k {
        for v in 0..NT_ROW_CHAINS {
            // SAFETY: p + v·n + n ≤ p + NT_ROW_CHAINS·n ≤ k (the loop's
            // condition), and `a` and every `b_r` hold k values.
            unsafe { fma_rows(&mut acc, a, &b, v, p + v * n) };
        }
        p += NT_ROW_CHAINS * n;
    }
    for v in 0..NT_ROW_CHAINS {
        if p + n <= k {
            // SAFETY: p + n ≤ k, just checked; the lengths as above.
            unsafe { fma_rows(&mut acc, a, &b, v, p) };
            p += n;
        }
    }
    std::array::from_fn(|r| {
        let c = &acc[r];
        let mut sum = ((c[0] + c[1]) + (c[2] + c[3])).reduce_add();
        for (x, y) in a[p..].iter().zip(&b[r][p..]) {
            sum += x * y;
        }
        sum
    })
}

/// One vector step of [`dot_rows`]: `acc_r[v] += a[at..][..n] ⊙ b_r[at..][..n]`
/// (n = `V::N`, lane by lane, one FMA) for every row r, the vector of `a`
/// loaded once for all of them; the loads unchecked.
///
/// # Safety
///
/// `at + V::N ≤ a.len()`, and every `b_r` holds at least `a.len()` values.
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn fma_rows<V: Lane, const R: usize>(
    acc: &mut [[V; NT_ROW_CHAINS]; R],
    a: &[f32],
    b: &[&[f32]; R],
    v: usize,
    at: usize,
) {
    let n = V::N;
    // SAFETY: at + n ≤ a.len() ≤ b_r.len(), the caller's contract.
    let av = V::load(unsafe { a.get_unchecked(at..at + n) });
    for (acc_r, b_r) in acc.iter_mut().zip(b) {
        // SAFETY: as above.
        let bv = V::load(unsafe { b_r.get_unchecked(at..at + n) });
        acc_r[v] = av.fma(bv, acc_r[v]);
    }
}

/// Single dot products of row i of A with the rows `js` of B ([`dot_rows`]).
#[inline(always)]
fn dots_tail<V: Lane>(a: MatRef, b: MatRef, c: &mut MatMut, i: usize, js: Range<usize>) {
    let a_row = a.row(i);
    for j in js {
        c.row_mut(i)[j] += dot_rows::<V, 1>(a_row, [b.row(j)])[0];
    }
}

/// `dst = a + b` on `V` vectors.
pub fn add_v<V: Lane>(dst: &mut [f32], a: &[f32], b: &[f32]) {
    let len = dst.len().min(a.len()).min(b.len());
    let (dst, a, b) = (&mut dst[..len], &a[..len], &b[..len]);
    let body = len / V::N * V::N;
    for ((d, x), y) in dst[..body]
        .chunks_exact_mut(V::N)
        .zip(a.chunks_exact(V::N))
        .zip(b.chunks_exact(V::N))
    {
        (V::load(x) + V::load(y)).store(d);
    }
    super::scalar::add(&mut dst[body..], &a[body..], &b[body..]);
}

/// `dst += src` on `V` vectors.
pub fn add_assign_v<V: Lane>(dst: &mut [f32], src: &[f32]) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    let body = len / V::N * V::N;
    for (d, s) in dst[..body]
        .chunks_exact_mut(V::N)
        .zip(src.chunks_exact(V::N))
    {
        (V::load(d) + V::load(s)).store(d);
    }
    super::scalar::add_assign(&mut dst[body..], &src[body..]);
}

/// `x = tanh(x)` on `V` vectors.
pub fn tanh_v<V: Lane>(x: &mut [f32]) {
    let body = x.len() / V::N * V::N;
    for chunk in x[..body].chunks_exact_mut(V::N) {
        rational_tanh(V::load(chunk)).store(chunk);
    }
    super::scalar::tanh(&mut x[body..]);
}

/// From here on [`rational_tanh`] is ±1: the approximation is within 4e-7
/// of 1 there (and would pass 1 a little further out).
const TANH_SATURATION: f32 = 7.905_311;
/// Odd numerator `x·P(x²)`, coefficients of x¹ … x¹³.
const TANH_P: [f32; 7] = [
    4.893_524_6e-3,
    6.372_619_3e-4,
    1.485_722_4e-5,
    5.122_297e-8,
    -8.604_672e-11,
    2.000_188e-13,
    -2.760_768_5e-16,
];
/// Even denominator `Q(x²)`, coefficients of x⁰ … x⁶.
const TANH_Q: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];

/// `tanh x ≈ x·P(x²) / Q(x²)`, ±1 from |x| ≥ [`TANH_SATURATION`]: the
/// rational approximation of Eigen's (and TensorFlow's) `fast_tanh`, 9
/// FMAs, 2 multiplies and one division where an `exp`-based tanh spends about 30
/// operations (it was 10% of training at H 64, one stream). Within 4e-7 of
/// tanh everywhere (7 ulp near ±1), odd exactly, |tanh| ≤ 1, NaN kept;
/// `check_tanh` in `tests/kernels.rs` holds it to 2^-21.
#[inline(always)]
pub(super) fn rational_tanh<V: Lane>(x: V) -> V {
    let x2 = x * x;
    let p = TANH_P[..6]
        .iter()
        .rev()
        .fold(V::splat(TANH_P[6]), |p, &c| x2.fma(p, V::splat(c)));
    let q = TANH_Q[..3]
        .iter()
        .rev()
        .fold(V::splat(TANH_Q[3]), |q, &c| x2.fma(q, V::splat(c)));
    (x * p / q).saturate(x, TANH_SATURATION)
}

/// `dh = (1 - h²) ⊙ dh` on `V` vectors.
pub fn tanh_backward_v<V: Lane>(h: &[f32], dh: &mut [f32]) {
    let len = dh.len().min(h.len());
    let (h, dh) = (&h[..len], &mut dh[..len]);
    let body = len / V::N * V::N;
    let one = V::splat(1.0);
    for (d, hv) in dh[..body].chunks_exact_mut(V::N).zip(h.chunks_exact(V::N)) {
        let hv = V::load(hv);
        (V::load(d) * (one - hv * hv)).store(d);
    }
    super::scalar::tanh_backward(&h[body..], &mut dh[body..]);
}

/// Softmax cross-entropy on `V` vectors; see [`super::scalar::softmax_xent`].
pub fn softmax_xent_v<V: Lane>(y: &mut [f32], target: usize) -> f32 {
    let y_target = y[target];
    let body = y.len() / V::N * V::N;
    let mut max_v = V::splat(f32::NEG_INFINITY);
    for chunk in y[..body].chunks_exact(V::N) {
        max_v = max_v.max(V::load(chunk));
    }
    let max = y[body..].iter().copied().fold(max_v.reduce_max(), f32::max);
    let max_s = V::splat(max);
    let mut sum_v = V::splat(0.0);
    for chunk in y[..body].chunks_exact_mut(V::N) {
        let e = (V::load(chunk) - max_s).exp();
        e.store(chunk);
        sum_v = sum_v + e;
    }
    let mut sum = sum_v.reduce_add();
    for v in &mut y[body..] {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    let inv_v = V::splat(inv);
    for chunk in y[..body].chunks_exact_mut(V::N) {
        (V::load(chunk) * inv_v).store(chunk);
    }
    for v in &mut y[body..] {
        *v *= inv;
    }
    y[target] -= 1.0;
    max + sum.ln() - y_target
}

/// `C (m×n) += A (m×k) · B (k×n)`. Panics unless the shapes agree.
pub fn gemm_nn(a: MatRef, b: MatRef, c: &mut MatMut) {
    if one_row_on_x8(b, c) {
        gemm_nn_v::<f32x8>(a, b, c);
    } else {
        gemm_nn_v::<Fast>(a, b, c);
    }
}

/// `C (m×n) += Aᵀ · B`, with `A` stored (k×m) and `B` (k×n). Panics unless
/// the shapes agree.
pub fn gemm_tn(a: MatRef, b: MatRef, c: &mut MatMut) {
    if one_row_on_x8(b, c) {
        gemm_tn_v::<f32x8>(a, b, c);
    } else {
        gemm_tn_v::<Fast>(a, b, c);
    }
}

/// Whether a product of [`Fast`] = f32x16 runs on f32x8 instead
/// ([`tuning::one_row_on_x8`]): one row of C, whole vectors of 16 columns
/// (so neither width leaves a scalar tail, and every entry is the same FMA
/// chain on both).
fn one_row_on_x8(b: MatRef, c: &MatMut) -> bool {
    Fast::N == 16
        && c.rows() == 1
        && c.cols().is_multiple_of(Fast::N)
        && tuning::one_row_on_x8(b.rows(), c.cols())
}

/// `C (m×n) += A (m×k) · Bᵀ`, with `B` stored (n×k). Panics unless the
/// shapes agree.
pub fn gemm_nt(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_nt_v::<Fast>(a, b, c);
}

/// [`gemm_nt`] reading the rows of B last to first on its one-row path
/// ([`gemm_nt_reversed_v`]); the same result bit for bit.
pub fn gemm_nt_reversed(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_nt_reversed_v::<Fast>(a, b, c);
}

/// `dst = a + b`, element-wise.
pub fn add(dst: &mut [f32], a: &[f32], b: &[f32]) {
    add_v::<Fast>(dst, a, b);
}

/// `dst += src`, element-wise.
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    add_assign_v::<Fast>(dst, src);
}

/// `x = tanh(x)`, element-wise.
pub fn tanh(x: &mut [f32]) {
    tanh_v::<Fast>(x);
}

/// `dh = (1 - h²) ⊙ dh`, in place.
pub fn tanh_backward(h: &[f32], dh: &mut [f32]) {
    tanh_backward_v::<Fast>(h, dh);
}

/// One whole tile of [`transpose`]: `B[j0.., i0..] = A[i0.., j0..]ᵀ` as
/// 8×8 blocks transposed in registers (`f32x8::transpose`: unpacks and
/// shuffles on AVX; the general loop spent about 3 cycles per value). Each
/// block's rows are cut from one slice, so that one bounds check serves
/// 8 rows, and indexed in it directly: 0.45 cycles per value in L1 on an
/// AMD EPYC Zen 4 (64×64), where a checked view row per load and per store
/// took 1.36 and the slice's `chunks` iterators 0.65-0.70.
#[inline(always)]
fn transpose_tile(a: MatRef, b: &mut MatMut, i0: usize, j0: usize) {
    const T: usize = TRANSPOSE_TILE;
    const _: () = assert!(T.is_multiple_of(8), "tiles of whole 8×8 blocks");
    let (lda, ldb) = (a.stride(), b.stride());
    let (a_s, b_s) = (a.as_slice(), b.as_mut_slice());
    for bi in (i0..i0 + T).step_by(8) {
        for bj in (j0..j0 + T).step_by(8) {
            // The block's 8 rows of A and 8 rows of B, each one slice whose
            // length covers them all, so that one bounds check serves 8.
            let src = &a_s[bi * lda + bj..][..7 * lda + 8];
            let rows: [f32x8; 8] = std::array::from_fn(|r| Lane::load(&src[r * lda..]));
            let dst = &mut b_s[bj * ldb + bi..][..7 * ldb + 8];
            for (r, col) in f32x8::transpose(rows).into_iter().enumerate() {
                col.store(&mut dst[r * ldb..]);
            }
        }
    }
}

/// Softmax cross-entropy of one row of logits; see [`super::scalar::softmax_xent`].
pub fn softmax_xent(y: &mut [f32], target: usize) -> f32 {
    softmax_xent_v::<Fast>(y, target)
}

/// `B = Aᵀ`: `B (n×m)` from `A (m×n)`, in square tiles of
/// [`TRANSPOSE_TILE`] so that every cache line read and written is used
/// whole while it is in L1 (a plain double loop writes B with a stride of a
/// row per value).
pub fn transpose(a: MatRef, b: &mut MatMut) {
    let (m, n) = transpose_dims(a, b);
    for i0 in (0..m).step_by(TRANSPOSE_TILE) {
        let i1 = (i0 + TRANSPOSE_TILE).min(m);
        for j0 in (0..n).step_by(TRANSPOSE_TILE) {
            let j1 = (j0 + TRANSPOSE_TILE).min(n);
            if i1 - i0 == TRANSPOSE_TILE && j1 - j0 == TRANSPOSE_TILE {
                transpose_tile(a, b, i0, j0);
                continue;
            }
            for i in i0..i1 {
                let row = &a.row(i)[j0..j1];
                for (j, &x) in (j0..j1).zip(row) {
                    b.row_mut(j)[i] = x;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The L2 blocks tile the rows: each row once, in order, no block empty
    /// or over the most, each a multiple of [`MR`] but the last, and as few
    /// blocks as the most allows.
    #[test]
    fn l2_row_blocks_tile_the_rows() {
        for most in [MR, 2 * MR, 42, 252] {
            for m in 1..=3 * most + 13 {
                let blocks: Vec<_> = l2_row_blocks(m, most).collect();
                assert_eq!(blocks.len(), m.div_ceil(most), "m {m} most {most}");
                let mut next = 0;
                for (b, &(i0, rows)) in blocks.iter().enumerate() {
                    assert_eq!(i0, next, "m {m} most {most}: block {b}");
                    assert!((1..=most).contains(&rows), "m {m} most {most}: {rows}");
                    let last = b + 1 == blocks.len();
                    assert!(last || rows % MR == 0, "m {m} most {most}: {rows}");
                    next += rows;
                }
                assert_eq!(next, m, "m {m} most {most}");
            }
        }
    }
}
