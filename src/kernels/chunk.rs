//! The chunk-level products over all T·B rows of a chunk at once whose
//! outputs are a chunk's rows (the logits `H Whyᵀ` and `DY Why`), through
//! the `gemm` crate: packed panels, cache blocks sized from the CPU's own cache
//! sizes read at run time, and a register-tile microkernel picked at run time
//! for the CPU (AVX-512, AVX2+FMA or SSE), one thread (the engine's threads
//! run the groups). Same signatures as the `wide` kernels in [`super::simd`],
//! which stay for the per-step products of the recurrence (B × H · H × H,
//! where they are as fast or faster); the scalar twins are the oracle.
//!
//! Why not our own: on an Intel Xeon (5th gen, 48 KiB L1d, 2 MiB L2) the
//! crate runs these shapes at 137–164 GFLOP/s where the `wide` kernels ran
//! 54–134 (the logits product 54–66); see `perf/README.md`. The weight
//! gradients `dWhy = DYᵀ H` and `dWhh = DRᵀ H_prev` (`gemm_tn`) moved to
//! the `wide` kernel once its register block loaded unchecked: on an Ice
//! Lake Xeon it ran them at 87–105 GFLOP/s against the crate's 77–97 at
//! every chunk shape (T·B = 40, 160 and 1,280 rows). They come back here
//! ([`gemm_tn`]) only when their C outgrows a quarter of L2
//! ([`super::tuning::tn_on_wide`]: a Japanese-sized `dWhy`, `dWhh` at H 512),
//! where the crate's packing and row blocks win. [`gemm_nt_set`] is the
//! logits product that writes C without reading it (the bias is added
//! after).
//!
//! The results are deterministic for a machine (no threads, fixed blocking)
//! but depend on its instruction set and L1 geometry, as [`chunk_path`] says,
//! and, for the weight gradients, on whether C fits its L2.

// SAFETY (module): `gemm::gemm` takes raw pointers and strides. Each call
// below passes pointers of views whose constructors checked that every
// entry `(i, j)`, `i < rows`, `j < cols`, lies at `i·stride + j` inside the
// slice; the shapes passed are those of the views, checked to agree by
// `gemm_dims`; C is borrowed mutably and A, B shared, so they cannot
// overlap. Measured reason: see the module doc.
#![allow(unsafe_code)]

use super::mat::{MatMut, MatRef, gemm_dims};

/// `C += op(A) · op(B)` through the crate, with element `(i, p)` of op(A) at
/// `i·a_rs + p·a_cs` and so on.
/// With `read_c` false, `C = op(A) · op(B)`: C's old values are not read.
fn product(
    m: usize,
    n: usize,
    k: usize,
    a: (MatRef, bool),
    b: (MatRef, bool),
    c: &mut MatMut,
    read_c: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C unchanged, or zero where it is set.
        if !read_c {
            for i in 0..m {
                c.row_mut(i).fill(0.0);
            }
        }
        return;
    }
    let strides = |v: MatRef, t: bool| {
        let s = v.stride() as isize;
        if t { (s, 1) } else { (1, s) }
    };
    let ((a_cs, a_rs), (b_cs, b_rs)) = (strides(a.0, a.1), strides(b.0, b.1));
    let c_rs = c.stride() as isize;
    // SAFETY: see the module comment: in-bounds views of matching shapes,
    // C exclusive.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_slice().as_mut_ptr(),
            1,
            c_rs,
            read_c,
            a.0.as_slice().as_ptr(),
            a_cs,
            a_rs,
            b.0.as_slice().as_ptr(),
            b_cs,
            b_rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `C (m×n) += A (m×k) · B (k×n)`. Panics unless the shapes agree.
pub fn gemm_nn(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, n, k) = gemm_dims("gemm_nn", (a, false), (b, false), c);
    product(m, n, k, (a, false), (b, false), c, true);
}

/// `C (m×n) += Aᵀ · B`, with `A` stored (k×m). Panics unless the shapes agree.
pub fn gemm_tn(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, n, k) = gemm_dims("gemm_tn", (a, true), (b, false), c);
    product(m, n, k, (a, true), (b, false), c, true);
}

/// `C (m×n) += A (m×k) · Bᵀ`, with `B` stored (n×k). Panics unless the
/// shapes agree.
pub fn gemm_nt(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, n, k) = gemm_dims("gemm_nt", (a, false), (b, true), c);
    product(m, n, k, (a, false), (b, true), c, true);
}

/// `C (m×n) = A (m×k) · Bᵀ`, with `B` stored (n×k); C's old values are
/// neither read nor kept. Panics unless the shapes agree.
pub fn gemm_nt_set(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, n, k) = gemm_dims("gemm_nt", (a, false), (b, true), c);
    product(m, n, k, (a, false), (b, true), c, false);
}

/// The instruction set of the microkernel the crate picks on this
/// machine: `avx512f`, `avx2+fma` or `sse2` (the one without FMA).
pub fn chunk_isa() -> &'static str {
    if is_x86_feature_detected!("avx512f") {
        "avx512f"
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        "avx2+fma"
    } else {
        "sse2"
    }
}

/// What decides the chunk products' rounding on this machine: the
/// microkernel the crate picks and the L1 geometry its k-blocks come from.
pub fn chunk_path() -> String {
    let l1 = &gemm_common::cache::CACHE_INFO[0];
    format!(
        "gemm {}, L1d {} KiB {}-way",
        chunk_isa(),
        l1.cache_bytes / 1024,
        l1.associativity
    )
}
