//! A GRU cell, as PyTorch's `torch.nn.GRU` (gates stacked in its order r, z,
//! n; one layer of it, see [`super::gates`] for the layers above), for B
//! streams at once:
//!
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 - z) ⊙ n + z ⊙ h
//! ```
//!
//! The tensors are PyTorch's (`weight_ih_l0 [3H, V]`, `weight_hh_l0 [3H,
//! H]`, `bias_ih_l0`, `bias_hh_l0 [3H]`; see [`super::gates`]; the two
//! biases differ in the n gate) and the readout's `Why [V, H]`, `by [V]`.
//! A step's state row is `[h | r z hn | n]` (5·Hp), `hn = W_hn h + b_hn`:
//! the carried state is `h`, the rest is what the backward pass reads. The
//! step: `[r z hn] = b_hh + h · W_hhᵀ` (one product for the three gates),
//! then the gates with the input's `W_ih[x] + b_ih` and the update, fused
//! ([`kernels::gru_pointwise`]).
//!
//! Backward, t = T..1, with `dh_t` from the readout plus `g_{t+1}`:
//! [`kernels::gru_pointwise_backward`] gives the input side's `dx_t` and
//! the hidden side's `dhid_t` (B × 3Hp each) and the direct path `dh_t ⊙
//! z`, to which `g_t` adds `dhid_t · W_hh`. Then over the chunk `dW_hh +=
//! DHIDᵀ · H_prev` and the input and bias gradients.

use super::gates::{self, StepInput};
use super::{
    BackProduct, Cell, ChunkRecord, pack_whh_t, panels_len, reads_w_hh_as_stored, step_panels_len,
    step_product,
};
use crate::kernels;
use crate::layout::{Layout, MAX_LAYERS, TensorSpec};

/// The GRU cell.
#[derive(Clone, Copy, Debug)]
pub struct GruCell;

/// Gates: r, z, n.
const G: usize = 3;

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
    let (hp, width) = (l.hp, GruCell.state_width(l));
    let (gw, b_n) = (G * hp, prev.len() / width);
    let layer = gates::layer(l, w, k);
    let each = step_panels_len(l, G, b_n);
    let whh_t = &prepared[k * each..][..each];
    for row in next.chunks_exact_mut(width) {
        row[hp..hp + gw].copy_from_slice(layer.b_hh);
    }
    step_product(l, t, G, layer.w_hh, whh_t, b_n, width, prev, next, hp);
    let rows = next.chunks_exact_mut(width).zip(prev.chunks_exact(width));
    for (b, (row, prev)) in rows.enumerate() {
        let (h, rest) = row.split_at_mut(hp);
        let (hidden, n) = rest.split_at_mut(gw);
        kernels::gru_pointwise(x.row(b, gw), layer.b_ih, hidden, &prev[..hp], n, h);
    }
}

impl Cell for GruCell {
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

    /// `[h | r z hn | n]`.
    fn state_width(&self, l: &Layout) -> usize {
        (2 + G) * l.hp
    }

    fn carried(&self) -> &'static [&'static str] {
        &["hidden"]
    }

    /// Each layer's `W_hhᵀ` as panels, where the steps read them.
    fn prepared_len(&self, l: &Layout, streams: usize) -> usize {
        l.layers * step_panels_len(l, G, streams)
    }

    /// The panels, unless the steps read `W_hh` as stored.
    fn prepare(&self, l: &Layout, w: &[f32], streams: usize, prepared: &mut [f32]) {
        if reads_w_hh_as_stored(l, streams) {
            return;
        }
        let each = prepared.chunks_exact_mut(panels_len(l, G));
        for (k, out) in each.enumerate() {
            pack_whh_t(l, G, gates::layer(l, w, k).w_hh, out);
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

    /// `dx` and `dhid` for the chunk (`steps·B` rows of 3Hp each, at
    /// [`gates::dpre_stride`]), and `g_{t+1}` (B × Hp).
    fn scratch_len(&self, l: &Layout, streams: usize, steps: usize) -> usize {
        2 * steps * streams * gates::dpre_stride(l, G) + streams * l.hp
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
        let (dx, rest) = scratch.split_at_mut(steps * b_n * ds);
        let (dhid, rest) = rest.split_at_mut(steps * b_n * ds);
        let dh_next = &mut rest[..b_n * hp];
        let w_hh = gates::layer(l, w, c.layer).w_hh;
        let back = BackProduct::new(l, G, w_hh, b_n, ds, c.back_panels);
        dh_next.fill(0.0);
        let row_of = |t: usize, b: usize| &c.states[(t * b_n + b) * width..][..width];
        for t in (0..steps).rev() {
            let dh_t = &mut dh[t * b_n * hp..(t + 1) * b_n * hp];
            kernels::add_assign(dh_t, dh_next);
            let dx_t = &mut dx[t * b_n * ds..(t + 1) * b_n * ds];
            let dhid_t = &mut dhid[t * b_n * ds..(t + 1) * b_n * ds];
            for b in 0..b_n {
                let (before, after) = (row_of(t, b), row_of(t + 1, b));
                kernels::gru_pointwise_backward(
                    &after[hp..hp + gw],
                    &after[hp + gw..],
                    &before[..hp],
                    &dh_t[b * hp..(b + 1) * hp],
                    &mut dx_t[b * ds..][..gw],
                    &mut dhid_t[b * ds..][..gw],
                    &mut dh_next[b * hp..(b + 1) * hp],
                );
            }
            if t > 0 {
                back.add_to(dhid_t, b_n, t, dh_next);
            }
        }
        let dx = Some(&dx[..]);
        gates::weight_gradients(l, G, c, width, w, dhid, dx, &mut [], grads, dbelow);
    }
}
