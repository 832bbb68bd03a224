//! Plain scalar kernels: the test oracle for [`super::simd`], same signatures.
//!
//! The matrix products take row-major [`MatRef`]/[`MatMut`] views (a slice
//! with rows, columns and the stride between row starts, as BLAS has them)
//! and read m, n and k from them.

use super::mat::{MatMut, MatRef, gemm_dims, transpose_dims};

/// `C (m×n) += A (m×k) · B (k×n)`. Panics unless the shapes agree.
pub fn gemm_nn(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, _, _) = gemm_dims("gemm_nn", (a, false), (b, false), c);
    for i in 0..m {
        let c_row = c.row_mut(i);
        for (p, &a_ip) in a.row(i).iter().enumerate() {
            let b_row = b.row(p);
            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                *cj += a_ip * bj;
            }
        }
    }
}

/// `C (m×n) += Aᵀ · B`, with `A` stored (k×m) and `B` (k×n). Panics unless
/// the shapes agree.
pub fn gemm_tn(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (_, _, k) = gemm_dims("gemm_tn", (a, true), (b, false), c);
    for p in 0..k {
        let b_row = b.row(p);
        for (i, &a_pi) in a.row(p).iter().enumerate() {
            let c_row = c.row_mut(i);
            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                *cj += a_pi * bj;
            }
        }
    }
}

/// `C (m×n) += A (m×k) · Bᵀ`, with `B` stored (n×k): each entry a dot
/// product of two rows. Panics unless the shapes agree.
pub fn gemm_nt(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, _, _) = gemm_dims("gemm_nt", (a, false), (b, true), c);
    for i in 0..m {
        let a_row = a.row(i);
        for (j, cj) in c.row_mut(i).iter_mut().enumerate() {
            let b_row = b.row(j);
            let dot: f32 = a_row.iter().zip(b_row).map(|(x, y)| x * y).sum();
            *cj += dot;
        }
    }
}

/// `C (m×n) = A (m×k) · Bᵀ`, with `B` stored (n×k): C zeroed, then
/// [`gemm_nt`]. Panics unless the shapes agree.
pub fn gemm_nt_set(a: MatRef, b: MatRef, c: &mut MatMut) {
    gemm_dims("gemm_nt", (a, false), (b, true), c);
    for i in 0..c.rows() {
        c.row_mut(i).fill(0.0);
    }
    gemm_nt(a, b, c);
}

/// `dst = a + b`, element-wise (the one-hot input product: a gathered row of
/// Wxh plus the bias).
pub fn add(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, x), y) in dst.iter_mut().zip(a).zip(b) {
        *d = x + y;
    }
}

/// `dst += src`, element-wise (a scatter-add into a row of dWxh, a bias sum).
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// `x = tanh(x)`, element-wise.
pub fn tanh(x: &mut [f32]) {
    for v in x {
        *v = v.tanh();
    }
}

/// Back through tanh, in place: `dh = (1 - h²) ⊙ dh`, where `h = tanh(a)`.
pub fn tanh_backward(h: &[f32], dh: &mut [f32]) {
    for (d, hv) in dh.iter_mut().zip(h) {
        *d *= 1.0 - hv * hv;
    }
}

/// Softmax cross-entropy of one row of logits `y` (length V) with `target`:
/// returns `-ln softmax(y)[target]` and leaves `dy = softmax(y) - onehot(target)`
/// in `y`. The loss is the stable `max + ln Σ exp(y - max) - y[target]`.
pub fn softmax_xent(y: &mut [f32], target: usize) -> f32 {
    let max = y.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let y_target = y[target];
    let mut sum = 0.0f32;
    for v in y.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in y.iter_mut() {
        *v *= inv;
    }
    y[target] -= 1.0;
    max + sum.ln() - y_target
}

/// `B = Aᵀ`: `B (n×m)` from `A (m×n)`.
pub fn transpose(a: MatRef, b: &mut MatMut) {
    transpose_dims(a, b);
    for i in 0..a.rows() {
        for (j, &x) in a.row(i).iter().enumerate() {
            b.row_mut(j)[i] = x;
        }
    }
}
