//! The numerical primitives of the engine, in two twins with the same
//! signatures: [`scalar`] (plain loops, the test oracle) and [`simd`]
//! (hand-vectorised with `wide`, what the engine runs).
//!
//! | primitive       | math                                   | used for |
//! |-----------------|----------------------------------------|----------|
//! | `gemm_nn`       | C (m×n) += A (m×k) · B (k×n)           | recurrence `Whh h` (m = streams), logits, `Whyᵀ dy`, `Whhᵀ dr` |
//! | `gemm_tn`       | C (m×n) += Aᵀ · B, A stored (k×m)      | `dWhy = DYᵀ H`, `dWhh = DRᵀ H_prev` |
//! | `add`           | dst = a + b                            | input gather `Wxh[x] + bh` |
//! | `add_assign`    | dst += src                             | scatter-add into `dWxh[x]`, bias sums |
//! | `tanh`          | x = tanh(x)                            | hidden activation |
//! | `tanh_backward` | dh = (1 - h²) ⊙ dh                     | back through tanh |
//! | `softmax_xent`  | dy = softmax(y) - onehot, -ln p[target] | output layer |
//!
//! `wide` selects its instruction set at compile time (see
//! `.cargo/config.toml`); [`SIMD_PATH`] names what this build uses.

pub mod scalar;

pub use scalar::{add, add_assign, gemm_nn, gemm_tn, softmax_xent, tanh, tanh_backward};

/// The SIMD width that padded sizes are rounded up to (f32 lanes).
pub const LANES: usize = 8;
