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
//! A model of more than one layer (`--layers`) adds, for each layer k ≥ 1
//! above the first, PyTorch's `weight_ih_l{k} [G·H, H]` (stored as it is,
//! (G·Hp, Hp): its input is the dense h of layer k-1), `weight_hh_l{k}`,
//! `bias_ih_l{k}` and `bias_hh_l{k}`, after the tensors above, layer by
//! layer ([`layer_tensors`]). Such a layer's input product `X · W_ihᵀ`
//! runs for all the chunk's rows at once, before its recurrence; backward,
//! `dW_ih += DXᵀ · X` and `dX = DX · W_ih` over the chunk.
//!
//! Gate block g of a stacked tensor holds its units at `g·Hp..g·Hp + H`
//! ([`Dim::Gates`]); the padding stays zero. With the input one-hot,
//! `W_ih x` is row x of the stored `weight_ih_l0`, a gather.
//!
//! The step's product is `prev_h (B × Hp) · W_hhᵀ (Hp × G·Hp)`, one product
//! for all gates, with `W_hhᵀ` prepared as column panels (as the tanh
//! cell's `Whhᵀ`); backward, `g_t = dpre_t · W_hh` reads `W_hh` as it is
//! stored (as panels from [`tuning::PANEL_STREAMS`] streams on), and after the
//! chunk `dW_hh += DPREᵀ · H_prev` over all its rows.

use super::ChunkRecord;
use crate::kernels::tuning;
use crate::kernels::{self, MatMut, MatRef};
use crate::layout::{Dim, Init, Layout, MAX_LAYERS, TensorSpec};

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

/// The names of the tensors of layers 1.. (PyTorch's, `_l{k}`).
const LAYER_NAMES: [[&str; 4]; MAX_LAYERS - 1] = [
    ["weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"],
    ["weight_ih_l2", "weight_hh_l2", "bias_ih_l2", "bias_hh_l2"],
    ["weight_ih_l3", "weight_hh_l3", "bias_ih_l3", "bias_hh_l3"],
    ["weight_ih_l4", "weight_hh_l4", "bias_ih_l4", "bias_hh_l4"],
    ["weight_ih_l5", "weight_hh_l5", "bias_ih_l5", "bias_hh_l5"],
    ["weight_ih_l6", "weight_hh_l6", "bias_ih_l6", "bias_hh_l6"],
    ["weight_ih_l7", "weight_hh_l7", "bias_ih_l7", "bias_hh_l7"],
];

/// The tensors of each layer k ≥ 1 of a gated cell of `g` gates (row k-1),
/// in buffer order: `weight_ih_l{k}` (G·Hp, Hp), `weight_hh_l{k}` (G·Hp,
/// Hp), `bias_ih_l{k}`, `bias_hh_l{k}` (G·Hp).
pub const fn layer_tensors(g: usize) -> [[TensorSpec; 4]; MAX_LAYERS - 1] {
    const fn matrix(name: &'static str, g: usize) -> TensorSpec {
        TensorSpec {
            name,
            rows: Dim::Gates(g),
            cols: Dim::Hp,
            transposed: false,
            init: Init::Normal { fan_in: Dim::H },
        }
    }
    const fn bias(name: &'static str, g: usize) -> TensorSpec {
        TensorSpec {
            name,
            rows: Dim::One,
            cols: Dim::Gates(g),
            transposed: false,
            init: Init::Zero,
        }
    }
    let mut all = [[bias("", g); 4]; MAX_LAYERS - 1];
    let mut k = 0;
    while k < MAX_LAYERS - 1 {
        let [w_ih, w_hh, b_ih, b_hh] = LAYER_NAMES[k];
        all[k] = [
            matrix(w_ih, g),
            matrix(w_hh, g),
            bias(b_ih, g),
            bias(b_hh, g),
        ];
        k += 1;
    }
    all
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

/// The tensors of one layer of a gated cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerTensors<T> {
    /// Layer 0: (V, G·Hp), row x the input's column; above: (G·Hp, Hp).
    pub w_ih: T,
    pub w_hh: T,
    pub b_ih: T,
    pub b_hh: T,
}

/// The lengths of layer k ≥ 1's tensors, in buffer order (from the cell's
/// [`crate::cell::Cell::layer_tensors`]).
fn layer_lens(l: &Layout, k: usize) -> [usize; 4] {
    let specs = l.cell().layer_tensors(k);
    std::array::from_fn(|i| specs[i].stored_len(l))
}

/// Layer `k`'s tensors of a buffer of `l`.
pub fn layer<'a>(l: &Layout, buf: &'a [f32], k: usize) -> LayerTensors<&'a [f32]> {
    if k == 0 {
        let t = split(l, buf);
        return LayerTensors {
            w_ih: t.w_ih,
            w_hh: t.w_hh,
            b_ih: t.b_ih,
            b_hh: t.b_hh,
        };
    }
    let [a, b, c, _] = layer_lens(l, k);
    let rest = &buf[l.layer_range(k)];
    let (w_ih, rest) = rest.split_at(a);
    let (w_hh, rest) = rest.split_at(b);
    let (b_ih, b_hh) = rest.split_at(c);
    LayerTensors {
        w_ih,
        w_hh,
        b_ih,
        b_hh,
    }
}

/// Layer `k`'s tensors of a buffer of `l`, mutable.
pub fn layer_mut<'a>(l: &Layout, buf: &'a mut [f32], k: usize) -> LayerTensors<&'a mut [f32]> {
    if k == 0 {
        let t = split_mut(l, buf);
        return LayerTensors {
            w_ih: t.w_ih,
            w_hh: t.w_hh,
            b_ih: t.b_ih,
            b_hh: t.b_hh,
        };
    }
    let [a, b, c, _] = layer_lens(l, k);
    let rest = &mut buf[l.layer_range(k)];
    let (w_ih, rest) = rest.split_at_mut(a);
    let (w_hh, rest) = rest.split_at_mut(b);
    let (b_ih, b_hh) = rest.split_at_mut(c);
    LayerTensors {
        w_ih,
        w_hh,
        b_ih,
        b_hh,
    }
}

/// What a step of a layer adds to each stream's gates from its input.
#[derive(Clone, Copy, Debug)]
pub enum StepInput<'a> {
    /// Layer 0: each stream's character, and `weight_ih_l0`, whose row x is
    /// `W_ih x` for the one-hot x.
    Ids { ids: &'a [u16], w_ih: &'a [f32] },
    /// A layer above: each stream's input product `W_ih x` (B × G·Hp).
    Dense(&'a [f32]),
}

impl StepInput<'_> {
    /// Stream b's `W_ih x` (`gw` = G·Hp values).
    pub fn row(&self, b: usize, gw: usize) -> &[f32] {
        match *self {
            StepInput::Ids { ids, w_ih } => {
                let x = ids[b] as usize;
                &w_ih[x * gw..(x + 1) * gw]
            }
            StepInput::Dense(rows) => &rows[b * gw..(b + 1) * gw],
        }
    }
}

/// A layer's input product for `rows` rows: `out (rows × G·Hp) = x (rows ×
/// Hp) · W_ihᵀ` ([`crate::cell::Cell::input_product`]).
pub fn input_product(
    l: &Layout,
    g: usize,
    w: &[f32],
    k: usize,
    x: &[f32],
    rows: usize,
    out: &mut [f32],
) {
    let (gw, hp) = (g * l.hp, l.hp);
    kernels::chunked::gemm_nt_set(
        MatRef::dense(&x[..rows * hp], rows, hp),
        MatRef::dense(layer(l, w, k).w_ih, gw, hp),
        &mut MatMut::dense(&mut out[..rows * gw], rows, gw),
    );
}

/// The row stride of the chunk's pre-activation gradients (G·Hp values a
/// row): [`tuning::row_stride`], so that the crate's `dW_hh` product does
/// not read them down 4 KiB-apart rows into a few L1 sets (LSTM H 256: 92-100
/// against 97-106 GFLOP/s). The padding is never read.
pub fn dpre_stride(l: &Layout, g: usize) -> usize {
    tuning::row_stride(g * l.hp)
}

/// The weight gradients of a chunk of layer `c.layer`, from each row's
/// pre-activation gradients on the hidden side (`dhid`, `rows × G·Hp` at
/// [`dpre_stride`]) and the input side (`dx`, the same; `None`: the hidden
/// side's, as for the LSTM): `dW_hh +=
/// DHIDᵀ · H_prev` (the chunk's states before each step, rows `width`
/// apart), over the active rows `db_hh += dhid`, `db_ih += dx`, and the
/// input's: layer 0 `dW_ih[x] += dx`, a layer above `dW_ih += DXᵀ · X` and
/// `dbelow = DX · W_ih` (`w`: the weights). With one side, both biases get
/// one sum of its rows (`scratch`, G·Hp values).
#[allow(clippy::too_many_arguments)]
pub fn weight_gradients(
    l: &Layout,
    g: usize,
    c: ChunkRecord<'_>,
    width: usize,
    w: &[f32],
    dhid: &[f32],
    dx: Option<&[f32]>,
    scratch: &mut [f32],
    grads: &mut [f32],
    dbelow: Option<&mut [f32]>,
) {
    let (gw, hp, rows) = (g * l.hp, l.hp, c.steps * c.streams);
    let ds = dpre_stride(l, g);
    let grads = layer_mut(l, grads, c.layer);
    let dhid = &dhid[..rows * ds];
    kernels::chunked::gemm_tn(
        MatRef::new(dhid, rows, gw, ds),
        MatRef::new(c.states, rows, hp, width),
        &mut MatMut::dense(grads.w_hh, gw, hp),
    );
    let active = |row: usize| row / c.streams < c.lens[row % c.streams];
    let dx = dx.map(|d| &d[..rows * ds]);
    // The input side's rows: `dx`, or with one side the hidden side's.
    let d_in = dx.unwrap_or(dhid);
    // With one side (the LSTM), both biases get one sum of its rows, held
    // in `scratch`; with two, `scratch` may be empty.
    let sum = &mut scratch[..if dx.is_some() { 0 } else { gw }];
    sum.fill(0.0);
    // One pass over the active rows: the bias sums and, for layer 0, the
    // one-hot input's rows `dW_ih[x] += dx`.
    for row in (0..rows).filter(|&r| active(r)) {
        let (dh_row, dx_row) = (&dhid[row * ds..][..gw], &d_in[row * ds..][..gw]);
        if dx.is_some() {
            kernels::add_assign(grads.b_hh, dh_row);
            kernels::add_assign(grads.b_ih, dx_row);
        } else {
            kernels::add_assign(sum, dh_row);
        }
        if c.below.is_none() {
            let x = c.inputs[row] as usize;
            kernels::add_assign(&mut grads.w_ih[x * gw..(x + 1) * gw], dx_row);
        }
    }
    if dx.is_none() {
        kernels::add_assign(grads.b_hh, sum);
        kernels::add_assign(grads.b_ih, sum);
    }
    // A layer above the first: its input's weights and gradient over the chunk.
    if let Some(x) = c.below {
        let dx = MatRef::new(d_in, rows, gw, ds);
        kernels::chunked::gemm_tn(
            dx,
            MatRef::dense(&x[..rows * hp], rows, hp),
            &mut MatMut::dense(grads.w_ih, gw, hp),
        );
        let dbelow = &mut dbelow.expect("a layer above the first sets dbelow")[..rows * hp];
        dbelow.fill(0.0);
        kernels::chunked::gemm_nn(
            dx,
            MatRef::dense(layer(l, w, c.layer).w_ih, gw, hp),
            &mut MatMut::dense(dbelow, rows, hp),
        );
    }
}
