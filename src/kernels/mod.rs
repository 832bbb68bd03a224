//! The numerical primitives of the engine, in two twins with the same
//! signatures: [`scalar`] (plain loops, the test oracle) and [`simd`]
//! (hand-vectorised with `wide`, what the engine runs).
//!
//! The matrix products take row-major views, [`MatRef`] and [`MatMut`]
//! ([`mat`]): `gemm_nn(a, b, &mut c)`, m, n and k read from the views. Their
//! block sizes are in [`tuning`]. The recurrent weights are read as column
//! panels ([`panels`]), one stream's logits in whichever orientation
//! copies less ([`logits`]), and every buffer the kernels stream starts on a
//! cache line ([`aligned`]).
//!
//! | primitive       | math                                   | used for |
//! |-----------------|----------------------------------------|----------|
//! | `gemm_nt`       | C (m×n) += A (m×k) · Bᵀ, B stored (n×k) | forward: recurrence `H_prev Whhᵀ` (m = streams), logits `H Whyᵀ` |
//! | `gemm_nn`       | C (m×n) += A (m×k) · B (k×n)           | backward: `DY Why`, `DR Whh` |
//! | `gemm_tn`       | C (m×n) += Aᵀ · B, A stored (k×m)      | weight gradients `dWhy = DYᵀ H`, `dWhh = DRᵀ H_prev` |
//! | `add`           | dst = a + b                            | input gather `Wxh[x] + bh` |
//! | `add_assign`    | dst += src                             | scatter-add into `dWxh[x]`, bias sums |
//! | `tanh`          | x = tanh(x)                            | hidden activation |
//! | `tanh_backward` | dh = (1 - h²) ⊙ dh                     | back through tanh |
//! | `softmax_xent`  | dy = softmax(y) - onehot, -ln p\[target\] | output layer |
//! | `transpose`     | B = Aᵀ                                 | `Whhᵀ` for the step (into [`panels`]) |
//! | `lstm_pointwise`, `gru_pointwise` (and `_backward`) | a gated step's gates and state update, fused ([`gates`]) | the LSTM and GRU cells |
//!
//! `wide` selects its instruction set at compile time (see
//! `.cargo/config.toml`); [`SIMD_PATH`] names what this build uses. The
//! cargo feature `scalar-kernels` makes the engine run the scalar twins
//! instead (CI tests it; `bench` with it measures what the SIMD kernels gain).
//! The feature `f32x16` makes a build without AVX-512 run the AVX-512
//! build's kernels, panels and padding on `f32x16` in two halves; on an
//! AVX2+FMA build (any x86-64 server of the last decade, built for itself)
//! its results are the AVX-512 build's bit for bit, so that CI tests that
//! path there (slower: not for use).

pub mod aligned;
pub mod chunk;
pub mod gates;
pub mod logits;
pub mod mat;
pub mod panels;
pub mod scalar;
pub mod simd;
pub mod tuning;

pub use mat::{MatMut, MatRef};

#[cfg(not(feature = "scalar-kernels"))]
pub use gates::{gru_pointwise, gru_pointwise_backward, lstm_pointwise, lstm_pointwise_backward};
#[cfg(not(feature = "scalar-kernels"))]
pub use simd::{
    add, add_assign, gemm_nn, gemm_nt, gemm_nt_reversed, gemm_tn, softmax_xent, tanh,
    tanh_backward, transpose,
};

#[cfg(feature = "scalar-kernels")]
pub use scalar::{
    add, add_assign, gemm_nn, gemm_nt, gemm_nt_reversed, gemm_tn, gru_pointwise,
    gru_pointwise_backward, lstm_pointwise, lstm_pointwise_backward, softmax_xent, tanh,
    tanh_backward, transpose,
};

/// The chunk-level products, over all of a chunk's rows: the logits
/// `H Whyᵀ` and `DY Why` on the `gemm` crate ([`chunk`]), and the weight
/// gradients `dWhy = DYᵀ H`, `dWhh = DRᵀ H_prev` on the `wide` kernel while
/// their C fits in L2 ([`tuning::tn_on_wide`]), else on the crate; or the
/// scalar twins with `scalar-kernels`.
pub mod chunked {
    #[cfg(not(feature = "scalar-kernels"))]
    pub use super::chunk::{gemm_nn, gemm_nt, gemm_nt_set};
    #[cfg(feature = "scalar-kernels")]
    pub use super::scalar::{gemm_nn, gemm_nt, gemm_nt_set, gemm_tn};

    #[cfg(not(feature = "scalar-kernels"))]
    use super::{MatMut, MatRef};

    /// `C (m×n) += Aᵀ · B`, `A` stored (k×m): [`super::simd::gemm_tn`]
    /// where [`super::tuning::tn_on_wide`], else [`super::chunk::gemm_tn`].
    /// Panics unless the shapes agree.
    #[cfg(not(feature = "scalar-kernels"))]
    pub fn gemm_tn(a: MatRef, b: MatRef, c: &mut MatMut) {
        if super::tuning::tn_on_wide(c.rows(), c.cols()) {
            super::simd::gemm_tn(a, b, c);
        } else {
            super::chunk::gemm_tn(a, b, c);
        }
    }
}

use simd::Lane;

/// The SIMD width that padded sizes are rounded up to (f32 lanes of [`simd::Fast`]).
pub const LANES: usize = <simd::Fast as Lane>::N;

/// Whether the one-row products run on f32x8 where their B is small
/// ([`tuning::one_row_on_x8`]): an f32x16 build of the SIMD kernels on a
/// CPU that [`tuning::halves_wide_loads`].
pub fn one_row_f32x8() -> bool {
    !cfg!(feature = "scalar-kernels") && LANES == 16 && tuning::halves_wide_loads()
}

/// The instruction set the kernels were compiled for.
pub const SIMD_PATH: &str = if cfg!(feature = "scalar-kernels") {
    "scalar (feature scalar-kernels)"
} else if cfg!(target_feature = "avx512f") {
    "avx512f (f32x16)"
} else if cfg!(feature = "f32x16") {
    "f32x16 in halves (feature f32x16)"
} else if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
    "avx2+fma (f32x8)"
} else if cfg!(target_feature = "avx") {
    "avx (f32x8, no fma)"
} else if cfg!(target_feature = "sse2") {
    "sse2 (f32x8 as two f32x4)"
} else {
    "scalar (f32x8 emulated)"
};
