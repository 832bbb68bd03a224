//! What the gated cells ([`super::lstm`], [`super::gru`]) share: their
//! tensors, named and shaped as PyTorch's `nn.LSTM` and `nn.GRU` name and
//! shape theirs (so that a `state_dict` loads them by name), the step's
//! recurrent product with all G gates stacked, and the chunk's weight
//! gradients.
//!
//! | tensor         | stored              | file (PyTorch) |
//! |----------------|---------------------|----------------|
//! | `weight_ih_l0` | (V, G·Hp): row x is the input's column | `[G·H, V]` |
//! | `weight_hh_l0` | (G·Hp, Hp)          | `[G·H, H]`     |
//! | `Why`          | (Vp, Hp)            | `[V, H]` (PyTorch: a `nn.Linear`'s `weight`) |
//! | `bias_ih_l0`, `bias_hh_l0` | (G·Hp)  | `[G·H]`        |
//! | `by`           | (Vp)                | `[V]` (the `nn.Linear`'s `bias`) |
//!
//! Gate block g of a stacked tensor holds its units at `g·Hp..g·Hp + H`
//! ([`Dim::Gates`]); the padding stays zero. With the input one-hot,
//! `W_ih x` is row x of the stored `weight_ih_l0`, a gather.
//!
//! The step's product is `prev_h (B × Hp) · W_hhᵀ (Hp × G·Hp)`, one product
//! for all gates, with `W_hhᵀ` prepared as column panels (as the tanh
//! cell's `Whhᵀ`); backward, `g_t = dpre_t · W_hh` reads `W_hh` as it is
//! stored (as panels from [`PANEL_STREAMS`] streams on), and after the
//! chunk `dW_hh += DPREᵀ · H_prev` over all its rows.

use super::ChunkRecord;
use crate::kernels::panels::{self, PanelsRef};
use crate::kernels::tuning::PANEL_STREAMS;
use crate::kernels::{self, MatMut, MatRef};
use crate::layout::{Dim, Init, Layout, TensorSpec};

/// The tensors of a gated cell of `g` gates, in buffer order (the
/// matrices first, so that weight decay covers one range).
pub const fn tensors(g: usize) -> [TensorSpec; 6] {
    [
        TensorSpec {
            name: "weight_ih_l0",
            rows: Dim::V,
            cols: Dim::Gates(g),
            transposed: true,
            init: Init::Normal { fan_in: Dim::V },
        },
        TensorSpec {
            name: "weight_hh_l0",
            rows: Dim::Gates(g),
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
            name: "bias_ih_l0",
            rows: Dim::One,
            cols: Dim::Gates(g),
            transposed: false,
            init: Init::Zero,
        },
        TensorSpec {
            name: "bias_hh_l0",
            rows: Dim::One,
            cols: Dim::Gates(g),
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
    ]
}

/// One value per tensor of a gated cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tensors<T> {
    pub w_ih: T,
    pub w_hh: T,
    pub why: T,
    pub b_ih: T,
    pub b_hh: T,
    pub by: T,
}

/// Named read-only views of a buffer of `l`.
pub fn split<'a>(l: &Layout, buf: &'a [f32]) -> Tensors<&'a [f32]> {
    let [w_ih, w_hh, why, b_ih, b_hh, by] = l.split::<6>(buf);
    Tensors {
        w_ih,
        w_hh,
        why,
        b_ih,
        b_hh,
        by,
    }
}

/// Named mutable views of a buffer of `l`.
pub fn split_mut<'a>(l: &Layout, buf: &'a mut [f32]) -> Tensors<&'a mut [f32]> {
    let [w_ih, w_hh, why, b_ih, b_hh, by] = l.split_mut::<6>(buf);
    Tensors {
        w_ih,
        w_hh,
        why,
        b_ih,
        b_hh,
        by,
    }
}

/// Values of `W_hhᵀ` as panels (`Hp × G·Hp`).
pub fn panels_len(l: &Layout, g: usize) -> usize {
    g * l.hp * l.hp
}

/// `W_hhᵀ` of `g` gates as column panels into `out` ([`panels_len`]).
pub fn pack_whh_t(l: &Layout, g: usize, w_hh: &[f32], out: &mut [f32]) {
    panels::pack(MatRef::dense(w_hh, g * l.hp, l.hp), true, out);
}

/// The step's product for B streams: `next[b][at..at + G·Hp] += prev_h[b] ·
/// W_hhᵀ`, `prev_h` the first Hp values of each `width`-value row of
/// `prev`, `next` rows `width` apart.
#[allow(clippy::too_many_arguments)]
pub fn recur(
    l: &Layout,
    g: usize,
    whh_t: &[f32],
    b_n: usize,
    width: usize,
    prev: &[f32],
    next: &mut [f32],
    at: usize,
) {
    let hp = l.hp;
    panels::gemm_nn(
        MatRef::new(prev, b_n, hp, width),
        PanelsRef::new(&whh_t[..g * hp * hp], hp, g * hp),
        &mut MatMut::new(&mut next[at..], b_n, g * hp, width),
    );
}

/// Whether the backward pass of `streams` streams reads `W_hh` as panels.
pub fn packs_whh(streams: usize) -> bool {
    streams >= PANEL_STREAMS
}

/// `W_hh` (`G·Hp × Hp`) for the backward product: packed into `panels`
/// where [`packs_whh`], else read as stored.
pub struct BackProduct<'a> {
    w_hh: &'a [f32],
    panels: Option<&'a [f32]>,
    rows: usize,
    hp: usize,
}

impl<'a> BackProduct<'a> {
    /// Packs `w_hh` into `scratch` (at least [`panels_len`]) for `streams`
    /// streams where [`packs_whh`].
    pub fn new(
        l: &Layout,
        g: usize,
        w_hh: &'a [f32],
        streams: usize,
        scratch: &'a mut [f32],
    ) -> BackProduct<'a> {
        let (rows, hp) = (g * l.hp, l.hp);
        let panels = packs_whh(streams).then(|| {
            let out = &mut scratch[..rows * hp];
            panels::pack(MatRef::dense(w_hh, rows, hp), false, out);
            &*out
        });
        BackProduct {
            w_hh,
            panels,
            rows,
            hp,
        }
    }

    /// `out (B × Hp) += dpre (B × G·Hp) · W_hh`.
    pub fn add_to(&self, dpre: &[f32], b_n: usize, out: &mut [f32]) {
        let a = MatRef::dense(dpre, b_n, self.rows);
        let mut c = MatMut::dense(out, b_n, self.hp);
        match self.panels {
            Some(p) => panels::gemm_nn(a, PanelsRef::new(p, self.rows, self.hp), &mut c),
            None => kernels::gemm_nn(a, MatRef::dense(self.w_hh, self.rows, self.hp), &mut c),
        }
    }
}

/// The weight gradients of a chunk, from each row's pre-activation
/// gradients on the hidden side (`dhid`, `rows × G·Hp`) and the input side
/// (`dx`; `None`: the same, as for the LSTM): `dW_hh += DHIDᵀ · H_prev`
/// (the chunk's states before each step, rows `width` apart), and over the
/// active rows `db_hh += dhid`, `db_ih += dx`, `dW_ih[x] += dx`. With one
/// side, both biases get one sum of its rows (`scratch`, G·Hp values).
#[allow(clippy::too_many_arguments)]
pub fn weight_gradients(
    l: &Layout,
    g: usize,
    c: ChunkRecord<'_>,
    width: usize,
    dhid: &[f32],
    dx: Option<&[f32]>,
    scratch: &mut [f32],
    grads: &mut [f32],
) {
    let (gw, rows) = (g * l.hp, c.steps * c.streams);
    let grads = split_mut(l, grads);
    kernels::chunked::gemm_tn(
        MatRef::dense(&dhid[..rows * gw], rows, gw),
        MatRef::new(c.states, rows, l.hp, width),
        &mut MatMut::dense(grads.w_hh, gw, l.hp),
    );
    let active = |row: usize| row / c.streams < c.lens[row % c.streams];
    match dx {
        Some(dx) => {
            let pairs = dhid[..rows * gw]
                .chunks_exact(gw)
                .zip(dx[..rows * gw].chunks_exact(gw));
            for (row, (dh, dx)) in pairs.enumerate().filter(|&(r, _)| active(r)) {
                kernels::add_assign(grads.b_hh, dh);
                kernels::add_assign(grads.b_ih, dx);
                let x = c.inputs[row] as usize;
                kernels::add_assign(&mut grads.w_ih[x * gw..(x + 1) * gw], dx);
            }
        }
        None => {
            let sum = &mut scratch[..gw];
            sum.fill(0.0);
            let each = dhid[..rows * gw].chunks_exact(gw).enumerate();
            for (row, d) in each.filter(|&(r, _)| active(r)) {
                kernels::add_assign(sum, d);
                let x = c.inputs[row] as usize;
                kernels::add_assign(&mut grads.w_ih[x * gw..(x + 1) * gw], d);
            }
            kernels::add_assign(grads.b_hh, sum);
            kernels::add_assign(grads.b_ih, sum);
        }
    }
}
