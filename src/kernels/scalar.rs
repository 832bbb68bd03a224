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

/// [`gemm_nt`] with the rows of B taken last to first: the same result
/// (each entry of C is its own dot product).
pub fn gemm_nt_reversed(a: MatRef, b: MatRef, c: &mut MatMut) {
    let (m, _, _) = gemm_dims("gemm_nt", (a, false), (b, true), c);
    for i in 0..m {
        let a_row = a.row(i);
        for (j, cj) in c.row_mut(i).iter_mut().enumerate().rev() {
            let dot: f32 = a_row.iter().zip(b.row(j)).map(|(x, y)| x * y).sum();
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

/// `σ(x) = 1 / (1 + e^-x)`.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The LSTM cell's pointwise step for one stream of n units (`h.len()`):
/// `gates` (4n, the pre-activations of i, f, g, o in PyTorch's order)
/// become `σ(i), σ(f), tanh(g), σ(o)`; then `c = f ⊙ c_prev + i ⊙ g` and
/// `h = o ⊙ tanh(c)`.
pub fn lstm_pointwise(gates: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = h.len();
    let (ifg, o) = gates[..4 * n].split_at_mut(3 * n);
    let (i_f, g) = ifg.split_at_mut(2 * n);
    let (i, f) = i_f.split_at_mut(n);
    for j in 0..n {
        i[j] = sigmoid(i[j]);
        f[j] = sigmoid(f[j]);
        g[j] = g[j].tanh();
        o[j] = sigmoid(o[j]);
        c[j] = f[j] * c_prev[j] + i[j] * g[j];
        h[j] = o[j] * c[j].tanh();
    }
}

/// Back through [`lstm_pointwise`] for one stream: from the activated
/// `gates`, `c` and `c_prev` of the step, `dh = dL/dh_t` and `dc` (in:
/// `dL/dc_t` from the step after, out: `dL/dc_{t-1}`), the gates'
/// pre-activation gradients into `dgates` (4n):
///
/// ```text
/// dc_t = dc + dh ⊙ o ⊙ (1 - tanh²c)
/// do = dh ⊙ tanh c ⊙ o(1-o)    di = dc_t ⊙ g ⊙ i(1-i)
/// df = dc_t ⊙ c_prev ⊙ f(1-f)  dg = dc_t ⊙ i ⊙ (1-g²)    dc ← dc_t ⊙ f
/// ```
pub fn lstm_pointwise_backward(
    gates: &[f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let n = dh.len();
    for j in 0..n {
        let (i, f, g, o) = (gates[j], gates[n + j], gates[2 * n + j], gates[3 * n + j]);
        let tc = c[j].tanh();
        let dct = dc[j] + dh[j] * o * (1.0 - tc * tc);
        dgates[j] = dct * g * i * (1.0 - i);
        dgates[n + j] = dct * c_prev[j] * f * (1.0 - f);
        dgates[2 * n + j] = dct * i * (1.0 - g * g);
        dgates[3 * n + j] = dh[j] * tc * o * (1.0 - o);
        dc[j] = dct * f;
    }
}

/// The GRU cell's pointwise step for one stream of n units (`h.len()`):
/// `x` and `b` (3n) are the input's row of `W_ih` and `b_ih`, `hidden`
/// (3n) holds `W_hh h_prev + b_hh` for r, z, n in PyTorch's order; r and z
/// are replaced by their activations (the n block is kept, as `hn`):
///
/// ```text
/// r = σ(x_r + b_r + hidden_r)   z = σ(x_z + b_z + hidden_z)
/// n = tanh(x_n + b_n + r ⊙ hn)  h = (1 - z) ⊙ n + z ⊙ h_prev
/// ```
pub fn gru_pointwise(
    x: &[f32],
    b: &[f32],
    hidden: &mut [f32],
    h_prev: &[f32],
    n_out: &mut [f32],
    h: &mut [f32],
) {
    let n = h.len();
    for j in 0..n {
        let r = sigmoid(x[j] + b[j] + hidden[j]);
        let z = sigmoid(x[n + j] + b[n + j] + hidden[n + j]);
        let nn = (x[2 * n + j] + b[2 * n + j] + r * hidden[2 * n + j]).tanh();
        hidden[j] = r;
        hidden[n + j] = z;
        n_out[j] = nn;
        h[j] = (1.0 - z) * nn + z * h_prev[j];
    }
}

/// Back through [`gru_pointwise`] for one stream: from `gates` (3n: r, z
/// and hn as the step left them), `n_act`, `h_prev` and `dh = dL/dh_t`, the
/// pre-activation gradients of the input side into `dx` (3n), of the
/// hidden side into `dhid` (3n; its n block is `dhn`), and the direct path
/// into `dh_prev` (n):
///
/// ```text
/// dn = dh ⊙ (1-z) ⊙ (1-n²)     dx_n = dn     dhid_n = dn ⊙ r
/// dx_r = dhid_r = dn ⊙ hn ⊙ r(1-r)    dx_z = dhid_z = dh ⊙ (h_prev - n) ⊙ z(1-z)
/// dh_prev = dh ⊙ z
/// ```
pub fn gru_pointwise_backward(
    gates: &[f32],
    n_act: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dx: &mut [f32],
    dhid: &mut [f32],
    dh_prev: &mut [f32],
) {
    let n = dh.len();
    for j in 0..n {
        let (r, z, hn, nn) = (gates[j], gates[n + j], gates[2 * n + j], n_act[j]);
        let dn = dh[j] * (1.0 - z) * (1.0 - nn * nn);
        let dr = dn * hn * r * (1.0 - r);
        let dz = dh[j] * (h_prev[j] - nn) * z * (1.0 - z);
        dx[j] = dr;
        dx[n + j] = dz;
        dx[2 * n + j] = dn;
        dhid[j] = dr;
        dhid[n + j] = dz;
        dhid[2 * n + j] = dn * r;
        dh_prev[j] = dh[j] * z;
    }
}
