//! The gated cells' scalar reference: the forward pass of PyTorch's
//! `nn.LSTM` and `nn.GRU` equations ([`crate::cell::lstm`],
//! [`crate::cell::gru`]) and the readout, step by step in `f64`, on the
//! tensors as the model file holds them (PyTorch's orientation, unpadded).
//! Slow on purpose: the oracle of the engine's forward pass, and the loss
//! whose central differences check the engine's gradients of every entry
//! of every tensor (`tests/gated_cells.rs`).
//!
//! ```text
//! lstm:  [i f g o] = W_ih[:, x] + b_ih + W_hh h + b_hh   (i, f, o through σ, g through tanh)
//!        c' = f c + i g     h' = o tanh(c')
//! gru:   [r z] = σ(W_ih[:, x] + b_ih + W_hh h + b_hh)   (their blocks)
//!        n = tanh(W_in[:, x] + b_in + r (W_hn h + b_hn))   h' = (1 - z) n + z h
//! y = Why (h' ⊙ m_out) + by     loss = Σ_t -ln softmax(y_t)[x_{t+1}]
//! ```
//!
//! Stacked (`--layers`), layer k ≥ 1 reads `W_ih_lk (h_{k-1} ⊙ m_k)` in
//! place of the column `W_ih[:, x]`, and the readout the top layer's h.

// The reference is written index by index, as the equations are.
#![allow(clippy::needless_range_loop)]

use crate::layout::{CellKind, Layout};

/// A model's tensors in the file's orientation, unpadded, as `f64`, one
/// flat buffer in the cell's tensor order.
#[derive(Clone, Debug, PartialEq)]
pub struct FileParams {
    pub layout: Layout,
    pub data: Vec<f64>,
    /// Each tensor's name and where it starts in `data`.
    starts: Vec<(&'static str, usize)>,
}

impl FileParams {
    /// The file-oriented `f64` copy of an engine buffer (weights or
    /// gradients) of layout `l`.
    pub fn from_engine(l: &Layout, buf: &[f32]) -> FileParams {
        let mut data = Vec::new();
        let mut starts = Vec::new();
        for (at, spec) in l.offsets() {
            starts.push((spec.name, data.len()));
            let n: usize = spec.file_shape(l).iter().product();
            data.extend((0..n).map(|k| buf[at + spec.stored_index(l, k)] as f64));
        }
        FileParams {
            layout: *l,
            data,
            starts,
        }
    }

    /// The tensor `name` (row-major in the file's shape) and its entries'
    /// range in `data`.
    pub fn range(&self, name: &str) -> std::ops::Range<usize> {
        let i = self
            .starts
            .iter()
            .position(|&(n, _)| n == name)
            .unwrap_or_else(|| panic!("no tensor {name}"));
        let end = self.starts.get(i + 1).map_or(self.data.len(), |s| s.1);
        self.starts[i].1..end
    }

    fn t(&self, name: &str) -> &[f64] {
        &self.data[self.range(name)]
    }

    /// The names of the tensors, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.starts.iter().map(|&(n, _)| n)
    }
}

/// `σ(x)`.
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `W (rows × cols, row-major) · v`, plus `b` when given.
fn matvec(w: &[f64], v: &[f64], rows: usize) -> Vec<f64> {
    let cols = v.len();
    (0..rows)
        .map(|r| (0..cols).map(|j| w[r * cols + j] * v[j]).sum())
        .collect()
}

/// What layer `k`'s gates get from their input: `W_ih[:, x] + b_ih` for
/// layer 0 (x a character), `W_ih x + b_ih` above (x the h of the layer
/// below, dropped).
fn input_gates(p: &FileParams, k: usize, x: Input<'_>) -> Vec<f64> {
    let (h, v) = (p.layout.h, p.layout.v);
    let rows = p.layout.cell().gates() * h;
    let (w_ih, b_ih) = (
        p.t(&format!("weight_ih_l{k}")),
        p.t(&format!("bias_ih_l{k}")),
    );
    let xi = match x {
        Input::Char(x) => (0..rows).map(|r| w_ih[r * v + x]).collect(),
        Input::Dense(x) => matvec(w_ih, x, rows),
    };
    xi.iter().zip(b_ih).map(|(a, b)| a + b).collect()
}

/// A layer's input: a character (layer 0) or the layer below's h.
#[derive(Clone, Copy)]
enum Input<'a> {
    Char(usize),
    Dense(&'a [f64]),
}

/// One step of layer `k` from its carried state (`h`, and `c` for the LSTM)
/// on input `x`.
fn step(p: &FileParams, k: usize, state: &[Vec<f64>], x: Input<'_>) -> Vec<Vec<f64>> {
    let h = p.layout.h;
    let gates = p.layout.cell().gates();
    let xi = input_gates(p, k, x);
    let b_hh = p.t(&format!("bias_hh_l{k}"));
    let hh: Vec<f64> = matvec(p.t(&format!("weight_hh_l{k}")), &state[0], gates * h)
        .iter()
        .zip(b_hh)
        .map(|(a, b)| a + b)
        .collect();
    match p.layout.cell {
        CellKind::Lstm => {
            let pre = |g: usize, j: usize| xi[g * h + j] + hh[g * h + j];
            let c: Vec<f64> = (0..h)
                .map(|j| {
                    let (i, f, g) = (sigmoid(pre(0, j)), sigmoid(pre(1, j)), pre(2, j).tanh());
                    f * state[1][j] + i * g
                })
                .collect();
            let h_new = (0..h).map(|j| sigmoid(pre(3, j)) * c[j].tanh()).collect();
            vec![h_new, c]
        }
        CellKind::Gru => {
            let h_new = (0..h)
                .map(|j| {
                    let r = sigmoid(xi[j] + hh[j]);
                    let z = sigmoid(xi[h + j] + hh[h + j]);
                    let n = (xi[2 * h + j] + r * hh[2 * h + j]).tanh();
                    (1.0 - z) * n + z * state[0][j]
                })
                .collect();
            vec![h_new]
        }
        CellKind::Tanh => panic!("the tanh cell's reference is crate::reference"),
    }
}

/// `-ln softmax(Why h + by)[target]`.
fn xent(p: &FileParams, h: &[f64], target: usize) -> f64 {
    let v = p.layout.v;
    let y: Vec<f64> = matvec(p.t("Why"), h, v)
        .iter()
        .zip(p.t("by"))
        .map(|(a, b)| a + b)
        .collect();
    let max = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = y.iter().map(|&yo| (yo - max).exp()).sum();
    max + sum.ln() - y[target]
}

/// The dropout masks of one stream's steps, H values per step (0 or
/// 1/(1-P)): where the top layer's h feeds the readout, and where layer k's
/// feeds layer k+1 (`between[k]`).
#[derive(Clone, Debug, Default)]
pub struct Masks {
    pub output: Vec<f64>,
    pub between: Vec<Vec<f64>>,
}

/// The summed loss of predicting `ids[t+1]` from `ids[..=t]` from the
/// carried state `state0` (each layer's `h`, and `c` for the LSTM, H values
/// each, layer 0's first), and the state after the last step. With
/// `masks`, the readout sees `h_t ⊙ m_t`, and each layer above the first
/// the h of the one below times its mask (dropout).
pub fn loss(
    p: &FileParams,
    state0: &[Vec<f64>],
    ids: &[u16],
    masks: Option<&Masks>,
) -> (f64, Vec<Vec<f64>>) {
    let (h, layers) = (p.layout.h, p.layout.layers);
    let parts = p.layout.cell().carried().len();
    let mut state = state0.to_vec();
    let mut total = 0.0;
    let dropped = |h_t: &[f64], mask: Option<&[f64]>, t: usize| -> Vec<f64> {
        match mask {
            Some(m) => (0..h).map(|j| h_t[j] * m[t * h + j]).collect(),
            None => h_t.to_vec(),
        }
    };
    for (t, w) in ids.windows(2).enumerate() {
        let mut below: Vec<f64> = Vec::new();
        for k in 0..layers {
            let x = match k {
                0 => Input::Char(w[0] as usize),
                _ => Input::Dense(&below),
            };
            let layer = &mut state[k * parts..(k + 1) * parts];
            let next = step(p, k, layer, x);
            layer.clone_from_slice(&next);
            if k + 1 < layers {
                below = dropped(&next[0], masks.map(|m| &m.between[k][..]), t);
            }
        }
        let top = &state[(layers - 1) * parts];
        let read = dropped(top, masks.map(|m| &m.output[..]), t);
        total += xent(p, &read, w[1] as usize);
    }
    (total, state)
}
