//! Plain scalar kernels: the test oracle for [`super::simd`], same signatures.
//!
//! Matrices are row-major `f32` slices with a leading dimension (the distance
//! between the starts of two rows), as BLAS has them.

/// `C (m×n) += A (m×k) · B (k×n)`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nn(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    for i in 0..m {
        let c_row = &mut c[i * ldc..i * ldc + n];
        for p in 0..k {
            let a_ip = a[i * lda + p];
            let b_row = &b[p * ldb..p * ldb + n];
            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                *cj += a_ip * bj;
            }
        }
    }
}

/// `C (m×n) += Aᵀ · B`, with `A` stored (k×m) and `B` (k×n).
#[allow(clippy::too_many_arguments)]
pub fn gemm_tn(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    for p in 0..k {
        let b_row = &b[p * ldb..p * ldb + n];
        for i in 0..m {
            let a_pi = a[p * lda + i];
            let c_row = &mut c[i * ldc..i * ldc + n];
            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                *cj += a_pi * bj;
            }
        }
    }
}

/// `C (m×n) += A (m×k) · Bᵀ`, with `B` stored (n×k): each entry a dot
/// product of two rows.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    for i in 0..m {
        let a_row = &a[i * lda..i * lda + k];
        for j in 0..n {
            let b_row = &b[j * ldb..j * ldb + k];
            let dot: f32 = a_row.iter().zip(b_row).map(|(x, y)| x * y).sum();
            c[i * ldc + j] += dot;
        }
    }
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
