//! The article's vanilla tanh cell, for B streams at once:
//!
//! ```text
//! step:      h_t = tanh(Wxh[:, x_t] + bh + Whh h_{t-1})        (B × Hp)
//! backward:  dr_t = (1 - h_t²) ⊙ (dh_t + g_{t+1});  g_t = dr_t · Whh   (t = T..1)
//!            dWhh += DRᵀ · H_prev   dbh += Σ_rows DR   dWxh[x] += dr rows
//! dropout:   h_t = tanh(Wxh[:, x_t] ⊙ m_t + bh + Whh h_{t-1})   dWxh[x] += dr ⊙ m rows
//! ```
//!
//! `Wxh` is stored (V, Hp), row x the article's column `Wxh[:, x]`, so the
//! one-hot product is a row gather; `Whh` (Hp, Hp) and `Why` (Vp, Hp) as the
//! article has them. The state of a step is `h_t` alone (Hp values).

use super::{
    BackProduct, Cell, ChunkRecord, pack_whh_t, reads_w_hh_as_stored, step_panels_len, step_product,
};
use crate::dropout;
use crate::kernels::{self, MatMut, MatRef};
use crate::layout::Layout;
use crate::layout::{Dim, Init, TensorSpec};

/// The tanh cell.
#[derive(Clone, Copy, Debug)]
pub struct TanhCell;

/// The parameters, in buffer order (and the article's order of drawing).
const TENSORS: [TensorSpec; 5] = [
    TensorSpec {
        name: "Wxh",
        rows: Dim::V,
        cols: Dim::Hp,
        transposed: true,
        init: Init::Normal { fan_in: Dim::V },
    },
    TensorSpec {
        name: "Whh",
        rows: Dim::Hp,
        cols: Dim::Hp,
        transposed: false,
        init: Init::Normal { fan_in: Dim::H },
    },
    TensorSpec {
        name: "Why",
        rows: Dim::Vp,
        cols: Dim::Hp,
        transposed: false,
        init: Init::Normal { fan_in: Dim::H },
    },
    TensorSpec {
        name: "bh",
        rows: Dim::One,
        cols: Dim::Hp,
        transposed: false,
        init: Init::Zero,
    },
    TensorSpec {
        name: "by",
        rows: Dim::One,
        cols: Dim::Vp,
        transposed: false,
        init: Init::Zero,
    },
];

/// One value per parameter tensor of the tanh cell (a slice, a length...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tensors<T> {
    pub wxh: T,
    pub whh: T,
    pub why: T,
    pub bh: T,
    pub by: T,
}

/// Named read-only views of a buffer of `l`.
pub fn split<'a>(l: &Layout, buf: &'a [f32]) -> Tensors<&'a [f32]> {
    let [wxh, whh, why, bh, by] = l.split::<5>(buf);
    Tensors {
        wxh,
        whh,
        why,
        bh,
        by,
    }
}

/// Named mutable views of a buffer of `l`.
pub fn split_mut<'a>(l: &Layout, buf: &'a mut [f32]) -> Tensors<&'a mut [f32]> {
    let [wxh, whh, why, bh, by] = l.split_mut::<5>(buf);
    Tensors {
        wxh,
        whh,
        why,
        bh,
        by,
    }
}

impl Cell for TanhCell {
    fn tensors(&self) -> &'static [TensorSpec] {
        &TENSORS
    }

    fn gates(&self) -> usize {
        1
    }

    fn hidden_tensor(&self) -> &'static str {
        "Whh"
    }

    /// `Whh` (one layer: `k` is 0).
    fn recurrent_weights<'a>(&self, l: &Layout, w: &'a [f32], _k: usize) -> &'a [f32] {
        split(l, w).whh
    }

    fn readout<'a>(&self, l: &Layout, buf: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        let t = split(l, buf);
        (t.why, t.by)
    }

    fn readout_mut<'a>(&self, l: &Layout, buf: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]) {
        let t = split_mut(l, buf);
        (t.why, t.by)
    }

    fn state_width(&self, l: &Layout) -> usize {
        l.hp
    }

    fn carried(&self) -> &'static [&'static str] {
        &["hidden"]
    }

    fn prepared_len(&self, l: &Layout, streams: usize) -> usize {
        step_panels_len(l, 1, streams)
    }

    /// `Whhᵀ` as column panels ([`pack_whh_t`]), read by the step's product
    /// (unless it reads `Whh` as stored: [`reads_w_hh_as_stored`]).
    fn prepare(&self, l: &Layout, w: &[f32], streams: usize, whh_t: &mut [f32]) {
        if !reads_w_hh_as_stored(l, streams) {
            pack_whh_t(l, 1, split(l, w).whh, whh_t);
        }
    }

    /// `next = tanh(Wxh[x] + bh + prev · Whhᵀ)` (the product: `recur`).
    fn step(
        &self,
        l: &Layout,
        t: usize,
        w: &[f32],
        whh_t: &[f32],
        inputs: &[u16],
        prev: &[f32],
        next: &mut [f32],
    ) {
        let hp = l.hp;
        let w = split(l, w);
        for (b, &x) in inputs.iter().enumerate() {
            let x = x as usize;
            kernels::add(
                &mut next[b * hp..(b + 1) * hp],
                &w.wxh[x * hp..(x + 1) * hp],
                w.bh,
            );
        }
        recur(l, t, w.whh, whh_t, inputs.len(), prev, next);
    }

    fn drops_input(&self) -> bool {
        true
    }

    /// `next = tanh(Wxh[x] ⊙ mask + bh + prev · Whhᵀ)`.
    fn step_dropped(
        &self,
        l: &Layout,
        t: usize,
        w: &[f32],
        whh_t: &[f32],
        inputs: &[u16],
        mask: &[f32],
        prev: &[f32],
        next: &mut [f32],
    ) {
        let hp = l.hp;
        let w = split(l, w);
        for (b, &x) in inputs.iter().enumerate() {
            let x = x as usize;
            let (row, m) = (&mut next[b * hp..(b + 1) * hp], &mask[b * hp..(b + 1) * hp]);
            dropout::masked(row, &w.wxh[x * hp..(x + 1) * hp], m);
            kernels::add_assign(row, w.bh);
        }
        recur(l, t, w.whh, whh_t, inputs.len(), prev, next);
    }

    /// `g_{t+1}` (B × Hp).
    fn scratch_len(&self, l: &Layout, streams: usize, _steps: usize) -> usize {
        streams * l.hp
    }

    fn backward(
        &self,
        l: &Layout,
        w: &[f32],
        c: ChunkRecord<'_>,
        dh: &mut [f32],
        scratch: &mut [f32],
        grads: &mut [f32],
        _dbelow: Option<&mut [f32]>,
    ) {
        let (hp, b_n, steps) = (l.hp, c.streams, c.steps);
        let dh_next = &mut scratch[..b_n * hp];
        let rows = steps * b_n;
        let w = split(l, w);
        let g = split_mut(l, grads);
        let hs = &c.states[..(steps + 1) * b_n * hp];
        // `dh_next` is g_{t+1}: the gradient flowing into h_t from the future.
        dh_next.fill(0.0);
        let back = BackProduct::new(l, 1, w.whh, b_n, hp, c.back_panels);
        for t in (0..steps).rev() {
            let dr = &mut dh[t * b_n * hp..(t + 1) * b_n * hp];
            kernels::add_assign(dr, dh_next);
            kernels::tanh_backward(&hs[(t + 1) * b_n * hp..(t + 2) * b_n * hp], dr);
            if t > 0 {
                dh_next.fill(0.0);
                back.add_to(dr, b_n, t, dh_next);
            }
        }
        let dh = &dh[..rows * hp];
        kernels::chunked::gemm_tn(
            MatRef::dense(dh, rows, hp),
            MatRef::dense(hs, rows, hp),
            &mut MatMut::dense(g.whh, hp, hp),
        );
        let active = |row: usize| row / b_n < c.lens[row % b_n];
        match c.input_mask {
            None => {
                for (row, dr) in dh.chunks_exact(hp).enumerate().filter(|&(r, _)| active(r)) {
                    kernels::add_assign(g.bh, dr);
                    let x = c.inputs[row] as usize;
                    kernels::add_assign(&mut g.wxh[x * hp..(x + 1) * hp], dr);
                }
            }
            Some(mask) => {
                let rows = dh.chunks_exact(hp).zip(mask.chunks_exact(hp));
                for (row, (dr, m)) in rows.enumerate().filter(|&(r, _)| active(r)) {
                    kernels::add_assign(g.bh, dr);
                    let x = c.inputs[row] as usize;
                    for ((gw, d), m) in g.wxh[x * hp..(x + 1) * hp].iter_mut().zip(dr).zip(m) {
                        *gw += d * m;
                    }
                }
            }
        }
    }
}

/// The step after the input term: `next = tanh(next + prev · Whhᵀ)`, the
/// product on the prepared `Whhᵀ` panels or, for one stream, on `Whh`
/// itself ([`step_product`]).
fn recur(
    l: &Layout,
    t: usize,
    whh: &[f32],
    whh_t: &[f32],
    b_n: usize,
    prev: &[f32],
    next: &mut [f32],
) {
    step_product(l, t, 1, whh, whh_t, b_n, l.hp, prev, next, 0);
    kernels::tanh(next);
}
