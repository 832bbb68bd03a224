//! An LSTM cell, as PyTorch's `torch.nn.LSTM` (gates stacked in its order i,
//! f, g, o; one layer of it, see [`super::gates`] for the layers above), for
//! B streams at once:
//!
//! ```text
//! i = σ(W_ii x + b_ii + W_hi h + b_hi)     f = σ(W_if x + b_if + W_hf h + b_hf)
//! g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')
//! ```
//!
//! The tensors are PyTorch's (`weight_ih_l0 [4H, V]`, `weight_hh_l0 [4H,
//! H]`, `bias_ih_l0`, `bias_hh_l0 [4H]`; see [`super::gates`]) and the
//! readout's `Why [V, H]`, `by [V]`. A step's state row is `[h | c | i f g
//! o]` (6·Hp): the carried state is `h` and `c`, the activated gates are
//! what the backward pass reads. The step: `pre = W_ih[x] + (b_ih + b_hh)`
//! (a gather), `pre += h · W_hhᵀ` (one product for the four gates), then
//! the gates and the state update fused ([`kernels::lstm_pointwise`]).
//!
//! Backward, t = T..1, with `dh_t` from the readout plus `g_{t+1}` and
//! `dc` carried from the step after: [`kernels::lstm_pointwise_backward`]
//! gives `dpre_t` (B × 4Hp) and `dc_{t-1}`; `g_t = dpre_t · W_hh`. Then over
//! the chunk `dW_hh += DPREᵀ · H_prev` and the input and bias gradients.

use super::gates::{self, StepInput};
use super::{BackProduct, Cell, ChunkRecord, pack_whh_t, step_panels_len, step_product};
use crate::kernels;
use crate::layout::{Layout, MAX_LAYERS, TensorSpec};

/// The LSTM cell.
#[derive(Clone, Copy, Debug)]
pub struct LstmCell;

/// Gates: i, f, g, o.
const G: usize = 4;

const TENSORS: [TensorSpec; 6] = gates::tensors(G);
const LAYER_TENSORS: [[TensorSpec; 4]; MAX_LAYERS - 1] = gates::layer_tensors(G);

/// One step of layer `k`: its gates' input `x` (see [`gates::StepInput`]).
#[allow(clippy::too_many_arguments)]
fn advance(
    l: &Layout,
    t: usize,
    k: usize,
    w: &[f32],
    prepared: &[f32],
    x: StepInput<'_>,
    prev: &[f32],
    next: &mut [f32],
) {
    let (hp, width) = (l.hp, LstmCell.state_width(l));
    let (gw, b_n) = (G * hp, prev.len() / width);
    let (biases, panels) = prepared.split_at(l.layers * gw);
    let bias = &biases[k * gw..][..gw];
    let each = step_panels_len(l, G, b_n);
    let whh_t = &panels[k * each..][..each];
    for (b, row) in next.chunks_exact_mut(width).enumerate() {
        kernels::add(&mut row[2 * hp..], x.row(b, gw), bias);
    }
    let w_hh = gates::layer(l, w, k).w_hh;
    step_product(l, t, G, w_hh, whh_t, b_n, width, prev, next, 2 * hp);
    for (row, prev) in next.chunks_exact_mut(width).zip(prev.chunks_exact(width)) {
        let (hc, pre) = row.split_at_mut(2 * hp);
        let (h, c) = hc.split_at_mut(hp);
        kernels::lstm_pointwise(pre, &prev[hp..2 * hp], c, h);
    }
}

impl Cell for LstmCell {
    fn tensors(&self) -> &'static [TensorSpec] {
        &TENSORS
    }

    fn gates(&self) -> usize {
        G
    }

    fn hidden_tensor(&self) -> &'static str {
        "weight_hh_l0"
    }

    fn recurrent_weights<'a>(&self, l: &Layout, w: &'a [f32], k: usize) -> &'a [f32] {
        gates::layer(l, w, k).w_hh
    }

    fn layer_tensors(&self, k: usize) -> &'static [TensorSpec] {
        &LAYER_TENSORS[k - 1]
    }

    fn input_product(
        &self,
        l: &Layout,
        k: usize,
        w: &[f32],
        x: &[f32],
        rows: usize,
        out: &mut [f32],
    ) {
        gates::input_product(l, G, w, k, x, rows, out);
    }

    fn readout<'a>(&self, l: &Layout, buf: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        let t = gates::split(l, buf);
        (t.why, t.by)
    }

    fn readout_mut<'a>(&self, l: &Layout, buf: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]) {
        let t = gates::split_mut(l, buf);
        (t.why, t.by)
    }

    /// `[h | c | i f g o]`.
    fn state_width(&self, l: &Layout) -> usize {
        (2 + G) * l.hp
    }

    fn carried(&self) -> &'static [&'static str] {
        &["hidden", "cell"]
    }

    /// Each layer's `b_ih + b_hh` (4Hp), then each layer's `W_hhᵀ` as
    /// panels where the steps read them ([`step_panels_len`]): the biases
    /// first, so that they sit at the same place with or without panels.
    fn prepared_len(&self, l: &Layout, streams: usize) -> usize {
        l.layers * (G * l.hp + step_panels_len(l, G, streams))
    }

    /// The biases, and the panels unless the steps read `W_hh` as stored.
    fn prepare(&self, l: &Layout, w: &[f32], streams: usize, prepared: &mut [f32]) {
        let (biases, panels) = prepared.split_at_mut(l.layers * G * l.hp);
        let each = step_panels_len(l, G, streams);
        for (k, bias) in biases.chunks_exact_mut(G * l.hp).enumerate() {
            let t = gates::layer(l, w, k);
            kernels::add(bias, t.b_ih, t.b_hh);
            if each > 0 {
                pack_whh_t(l, G, t.w_hh, &mut panels[k * each..][..each]);
            }
        }
    }

    fn step(
        &self,
        l: &Layout,
        t: usize,
        w: &[f32],
        prepared: &[f32],
        inputs: &[u16],
        prev: &[f32],
        next: &mut [f32],
    ) {
        let w_ih = gates::split(l, w).w_ih;
        let x = StepInput::Ids { ids: inputs, w_ih };
        advance(l, t, 0, w, prepared, x, prev, next);
    }

    fn step_above(
        &self,
        l: &Layout,
        t: usize,
        k: usize,
        w: &[f32],
        prepared: &[f32],
        x_in: &[f32],
        prev: &[f32],
        next: &mut [f32],
    ) {
        advance(l, t, k, w, prepared, StepInput::Dense(x_in), prev, next);
    }

    /// `dpre` for the chunk (`steps·B` rows of 4Hp at [`gates::dpre_stride`]),
    /// `g_{t+1}` and `dc` (B × Hp each), and the bias gradients' row sum
    /// (4Hp).
    fn scratch_len(&self, l: &Layout, streams: usize, steps: usize) -> usize {
        steps * streams * gates::dpre_stride(l, G) + 2 * streams * l.hp + G * l.hp
    }

    fn backward(
        &self,
        l: &Layout,
        w: &[f32],
        c: ChunkRecord<'_>,
        dh: &mut [f32],
        scratch: &mut [f32],
        grads: &mut [f32],
        dbelow: Option<&mut [f32]>,
    ) {
        let (hp, b_n, steps, width) = (l.hp, c.streams, c.steps, self.state_width(l));
        let (gw, ds) = (G * hp, gates::dpre_stride(l, G));
        let (dpre, rest) = scratch.split_at_mut(steps * b_n * ds);
        let (dh_next, rest) = rest.split_at_mut(b_n * hp);
        let (dc, rest) = rest.split_at_mut(b_n * hp);
        let bias_sum = &mut rest[..gw];
        let w_hh = gates::layer(l, w, c.layer).w_hh;
        let back = BackProduct::new(l, G, w_hh, b_n, ds, c.back_panels);
        dh_next.fill(0.0);
        dc.fill(0.0);
        let row_of = |t: usize, b: usize| &c.states[(t * b_n + b) * width..][..width];
        for t in (0..steps).rev() {
            let dh_t = &mut dh[t * b_n * hp..(t + 1) * b_n * hp];
            kernels::add_assign(dh_t, dh_next);
            let dpre_t = &mut dpre[t * b_n * ds..(t + 1) * b_n * ds];
            for b in 0..b_n {
                let (before, after) = (row_of(t, b), row_of(t + 1, b));
                kernels::lstm_pointwise_backward(
                    &after[2 * hp..],
                    &after[hp..2 * hp],
                    &before[hp..2 * hp],
                    &dh_t[b * hp..(b + 1) * hp],
                    &mut dc[b * hp..(b + 1) * hp],
                    &mut dpre_t[b * ds..][..gw],
                );
            }
            if t > 0 {
                dh_next.fill(0.0);
                back.add_to(dpre_t, b_n, t, dh_next);
            }
        }
        gates::weight_gradients(l, G, c, width, w, dpre, None, bias_sum, grads, dbelow);
    }
}
