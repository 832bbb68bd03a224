//! The gated cells' pointwise kernels, hand-vectorised: each step's gate
//! nonlinearities and state update fused into one pass over a stream's
//! units, and the same for the backward pass. Same signatures and math as
//! the scalar twins in [`super::scalar`] (their test oracle), where the
//! formulas are written out.
//!
//! `σ(x) = (1 + tanh(x/2)) / 2`, with the engine's rational tanh (within
//! 2e-7 of σ). A stream's units are taken a vector at a time and the last
//! `n mod N` one at a time, through the same code on one lane ([`Lane`]
//! for `f32`), so that a unit's result does not depend on where the
//! vectors end.

use super::simd::{Fast, Lane, rational_tanh};

/// `σ(x)` on a vector.
#[inline(always)]
fn sigmoid<W: Lane>(x: W) -> W {
    let half = W::splat(0.5);
    rational_tanh(x * half).fma(half, half)
}

/// The units of a stream of `n`: the starts of the whole vectors of `V`,
/// and the units after them.
fn units<V: Lane>(
    n: usize,
) -> (
    std::iter::StepBy<std::ops::Range<usize>>,
    std::ops::Range<usize>,
) {
    let body = n / V::N * V::N;
    ((0..body).step_by(V::N), body..n)
}

/// Units `j..j + W::N` of [`lstm_pointwise_v`].
#[inline(always)]
fn lstm_units<W: Lane>(j: usize, gates: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = h.len();
    let i = sigmoid(W::load(&gates[j..]));
    let f = sigmoid(W::load(&gates[n + j..]));
    let g = rational_tanh(W::load(&gates[2 * n + j..]));
    let o = sigmoid(W::load(&gates[3 * n + j..]));
    let ct = f.fma(W::load(&c_prev[j..]), i * g);
    i.store(&mut gates[j..]);
    f.store(&mut gates[n + j..]);
    g.store(&mut gates[2 * n + j..]);
    o.store(&mut gates[3 * n + j..]);
    ct.store(&mut c[j..]);
    (o * rational_tanh(ct)).store(&mut h[j..]);
}

/// [`super::scalar::lstm_pointwise`] on `V` vectors.
pub fn lstm_pointwise_v<V: Lane>(gates: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = h.len();
    let (gates, c_prev, c) = (&mut gates[..4 * n], &c_prev[..n], &mut c[..n]);
    let (vectors, rest) = units::<V>(n);
    vectors.for_each(|j| lstm_units::<V>(j, gates, c_prev, c, h));
    rest.for_each(|j| lstm_units::<f32>(j, gates, c_prev, c, h));
}

/// Units `j..j + W::N` of [`lstm_pointwise_backward_v`].
#[inline(always)]
fn lstm_backward_units<W: Lane>(
    j: usize,
    gates: &[f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let n = dh.len();
    let one = W::splat(1.0);
    let i = W::load(&gates[j..]);
    let f = W::load(&gates[n + j..]);
    let g = W::load(&gates[2 * n + j..]);
    let o = W::load(&gates[3 * n + j..]);
    let tc = rational_tanh(W::load(&c[j..]));
    let dhj = W::load(&dh[j..]);
    let dct = (dhj * o).fma(one - tc * tc, W::load(&dc[j..]));
    (dct * g * i * (one - i)).store(&mut dgates[j..]);
    (dct * W::load(&c_prev[j..]) * f * (one - f)).store(&mut dgates[n + j..]);
    (dct * i * (one - g * g)).store(&mut dgates[2 * n + j..]);
    (dhj * tc * o * (one - o)).store(&mut dgates[3 * n + j..]);
    (dct * f).store(&mut dc[j..]);
}

/// [`super::scalar::lstm_pointwise_backward`] on `V` vectors.
pub fn lstm_pointwise_backward_v<V: Lane>(
    gates: &[f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let n = dh.len();
    let (gates, c, c_prev) = (&gates[..4 * n], &c[..n], &c_prev[..n]);
    let (dc, dgates) = (&mut dc[..n], &mut dgates[..4 * n]);
    let (vectors, rest) = units::<V>(n);
    vectors.for_each(|j| lstm_backward_units::<V>(j, gates, c, c_prev, dh, dc, dgates));
    rest.for_each(|j| lstm_backward_units::<f32>(j, gates, c, c_prev, dh, dc, dgates));
}

/// Units `j..j + W::N` of [`gru_pointwise_v`].
#[inline(always)]
fn gru_units<W: Lane>(
    j: usize,
    x: &[f32],
    b: &[f32],
    hidden: &mut [f32],
    h_prev: &[f32],
    n_out: &mut [f32],
    h: &mut [f32],
) {
    let n = h.len();
    let pre = |at: usize| W::load(&x[at..]) + W::load(&b[at..]);
    let r = sigmoid(pre(j) + W::load(&hidden[j..]));
    let z = sigmoid(pre(n + j) + W::load(&hidden[n + j..]));
    let nn = rational_tanh(r.fma(W::load(&hidden[2 * n + j..]), pre(2 * n + j)));
    let hp = W::load(&h_prev[j..]);
    r.store(&mut hidden[j..]);
    z.store(&mut hidden[n + j..]);
    nn.store(&mut n_out[j..]);
    z.fma(hp - nn, nn).store(&mut h[j..]);
}

/// [`super::scalar::gru_pointwise`] on `V` vectors.
pub fn gru_pointwise_v<V: Lane>(
    x: &[f32],
    b: &[f32],
    hidden: &mut [f32],
    h_prev: &[f32],
    n_out: &mut [f32],
    h: &mut [f32],
) {
    let n = h.len();
    let (x, b, hidden) = (&x[..3 * n], &b[..3 * n], &mut hidden[..3 * n]);
    let (h_prev, n_out) = (&h_prev[..n], &mut n_out[..n]);
    let (vectors, rest) = units::<V>(n);
    vectors.for_each(|j| gru_units::<V>(j, x, b, hidden, h_prev, n_out, h));
    rest.for_each(|j| gru_units::<f32>(j, x, b, hidden, h_prev, n_out, h));
}

/// Units `j..j + W::N` of [`gru_pointwise_backward_v`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gru_backward_units<W: Lane>(
    j: usize,
    gates: &[f32],
    n_act: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dx: &mut [f32],
    dhid: &mut [f32],
    dh_prev: &mut [f32],
) {
    let n = dh.len();
    let one = W::splat(1.0);
    let r = W::load(&gates[j..]);
    let z = W::load(&gates[n + j..]);
    let hn = W::load(&gates[2 * n + j..]);
    let nn = W::load(&n_act[j..]);
    let dhj = W::load(&dh[j..]);
    let dn = dhj * (one - z) * (one - nn * nn);
    let dr = dn * hn * r * (one - r);
    let dz = dhj * (W::load(&h_prev[j..]) - nn) * z * (one - z);
    dr.store(&mut dx[j..]);
    dz.store(&mut dx[n + j..]);
    dn.store(&mut dx[2 * n + j..]);
    dr.store(&mut dhid[j..]);
    dz.store(&mut dhid[n + j..]);
    (dn * r).store(&mut dhid[2 * n + j..]);
    (dhj * z).store(&mut dh_prev[j..]);
}

/// [`super::scalar::gru_pointwise_backward`] on `V` vectors.
pub fn gru_pointwise_backward_v<V: Lane>(
    gates: &[f32],
    n_act: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dx: &mut [f32],
    dhid: &mut [f32],
    dh_prev: &mut [f32],
) {
    let n = dh.len();
    let (gates, n_act, h_prev) = (&gates[..3 * n], &n_act[..n], &h_prev[..n]);
    let (dx, dhid, dh_prev) = (&mut dx[..3 * n], &mut dhid[..3 * n], &mut dh_prev[..n]);
    let (vectors, rest) = units::<V>(n);
    vectors.for_each(|j| gru_backward_units::<V>(j, gates, n_act, h_prev, dh, dx, dhid, dh_prev));
    rest.for_each(|j| gru_backward_units::<f32>(j, gates, n_act, h_prev, dh, dx, dhid, dh_prev));
}

/// [`lstm_pointwise_v`] on [`Fast`] vectors.
pub fn lstm_pointwise(gates: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    lstm_pointwise_v::<Fast>(gates, c_prev, c, h);
}

/// [`lstm_pointwise_backward_v`] on [`Fast`] vectors.
pub fn lstm_pointwise_backward(
    gates: &[f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    lstm_pointwise_backward_v::<Fast>(gates, c, c_prev, dh, dc, dgates);
}

/// [`gru_pointwise_v`] on [`Fast`] vectors.
pub fn gru_pointwise(
    x: &[f32],
    b: &[f32],
    hidden: &mut [f32],
    h_prev: &[f32],
    n_out: &mut [f32],
    h: &mut [f32],
) {
    gru_pointwise_v::<Fast>(x, b, hidden, h_prev, n_out, h);
}

/// [`gru_pointwise_backward_v`] on [`Fast`] vectors.
pub fn gru_pointwise_backward(
    gates: &[f32],
    n_act: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dx: &mut [f32],
    dhid: &mut [f32],
    dh_prev: &mut [f32],
) {
    gru_pointwise_backward_v::<Fast>(gates, n_act, h_prev, dh, dx, dhid, dh_prev);
}
