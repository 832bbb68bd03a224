//! The recurrent cell: the seam between the engine and the recurrence it
//! trains, as candle-nn and tch-rs shape `RNN` (a zero state, one step, a
//! sequence). Training ([`crate::bptt`]), sampling ([`crate::sample`]) and
//! evaluation all go through [`Cell::step`]; the flat parameter layout is the
//! cell's list of [`TensorSpec`]s, which [`crate::layout`] places,
//! [`crate::model`] initialises and [`crate::checkpoint`] writes and reads by
//! name. A new cell is a new file implementing [`Cell`], plus its
//! registration: a variant of [`CellKind`] and its line in [`CellKind::cell`].
//!
//! Every cell ends in the same readout, `y_t = Why h_t + by`: a step's state
//! begins with `h_t` (Hp values), and the cell's tensors include `Why` and
//! `by` (named by [`Cell::readout`]). A step's state row holds what the
//! next step reads (the carried state: `h_t`, and an LSTM's `c_t`), then
//! whatever the backward pass reads of the step (a gated cell's gates).

pub mod gates;
pub mod gru;
pub mod lstm;
pub mod tanh;

use crate::kernels::panels::{self, PanelsRef};
use crate::kernels::tuning::{PANEL_STREAMS, STORED_ROW_MIN, one_row_back_on_panels};
use crate::kernels::{self, MatMut, MatRef};
use crate::layout::{CellKind, Layout, TensorSpec};

/// Whether a step of `streams` streams of layout `l` reads `W_hh` as stored
/// (a dot product with each of its rows) rather than the transposed copy
/// [`Cell::prepare`] makes: one stream, with rows of at least
/// [`STORED_ROW_MIN`] values. A step of more streams reads the copy (each
/// panel row serves all streams).
pub fn reads_w_hh_as_stored(l: &Layout, streams: usize) -> bool {
    streams == 1 && l.hp >= STORED_ROW_MIN
}

/// Values of one layer's `W_hh` (or `W_hhᵀ`) of `g` gate blocks in panels
/// (`G·Hp × Hp`).
pub fn panels_len(l: &Layout, g: usize) -> usize {
    g * l.hp * l.hp
}

/// One layer's `W_hhᵀ` of `g` gate blocks (tanh: `Whhᵀ`, one) as the
/// column panels the step reads ([`step_product`]), into `out`
/// ([`panels_len`] values).
pub fn pack_whh_t(l: &Layout, g: usize, w_hh: &[f32], out: &mut [f32]) {
    panels::pack(MatRef::dense(w_hh, g * l.hp, l.hp), true, out);
}

/// Values of one layer's `W_hhᵀ` in panels (`g` gate blocks) that a step of
/// `streams` streams reads: none where it reads `W_hh` as stored
/// ([`reads_w_hh_as_stored`]).
pub fn step_panels_len(l: &Layout, g: usize, streams: usize) -> usize {
    if reads_w_hh_as_stored(l, streams) {
        0
    } else {
        panels_len(l, g)
    }
}

/// Whether the backward pass of `streams` streams reads `W_hh` as panels
/// (from [`PANEL_STREAMS`] streams on, and one stream where
/// [`one_row_back_on_panels`]; see there), packed into the cell's
/// scratch, rather than as stored.
pub fn packs_whh(l: &Layout, streams: usize) -> bool {
    streams >= PANEL_STREAMS
        || (streams == 1 && one_row_back_on_panels(l.cell().gates() * l.hp, l.hp))
}

/// Every layer's `W_hh` packed for the backward passes of up to `streams`
/// streams ([`BackProduct`]), layer after layer, into `out`
/// ([`Layout::back_panels_len`] values; nothing where they read `W_hh` as
/// stored). Made once per update from the weights `w`: the backward passes
/// of every group of an update read the same panels.
pub fn pack_back_panels(l: &Layout, w: &[f32], streams: usize, out: &mut [f32]) {
    if !packs_whh(l, streams) {
        return;
    }
    let (cell, hp) = (l.cell(), l.hp);
    let g = cell.gates();
    for (k, out) in out.chunks_exact_mut(panels_len(l, g)).enumerate() {
        let w_hh = cell.recurrent_weights(l, w, k);
        panels::pack(MatRef::dense(w_hh, g * hp, hp), false, out);
    }
}

/// The step's product for B streams of a cell of `g` gate blocks (tanh: 1):
/// `next[b][at..at + G·Hp] += prev_h[b] · W_hhᵀ`, `prev_h` the first Hp
/// values of each `width`-value row of `prev`, `next` rows `width` apart:
/// on `whh_t`, the transpose in panels that [`Cell::prepare`] made, or with
/// `w_hh` as stored where the step reads it so ([`reads_w_hh_as_stored`];
/// `whh_t` is then not read).
///
/// Read as stored, the rows of `W_hh` go first to last at an even step `t`
/// and last to first at an odd one ([`kernels::gemm_nt_reversed`]; the same
/// sums), so that each step starts on the rows the step before read last,
/// still in cache (the L1d for part of a tanh cell's, the L2 for part of an
/// LSTM's 1 MiB at H 256). Zen 4 (32 KiB L1d, 1 MiB L2), one stream,
/// medians of 4 interleaved runs: rnn H 128 +1.2%, H 256 +1.4%, H 512
/// +3.8%, LSTM H 256 +4.3%, GRU H 256 +2.5% (`perf/README.md`).
#[allow(clippy::too_many_arguments)]
pub fn step_product(
    l: &Layout,
    t: usize,
    g: usize,
    w_hh: &[f32],
    whh_t: &[f32],
    b_n: usize,
    width: usize,
    prev: &[f32],
    next: &mut [f32],
    at: usize,
) {
    let hp = l.hp;
    let h = MatRef::new(prev, b_n, hp, width);
    let mut out = MatMut::new(&mut next[at..], b_n, g * hp, width);
    if reads_w_hh_as_stored(l, b_n) {
        let w_hh = MatRef::dense(w_hh, g * hp, hp);
        if t.is_multiple_of(2) {
            kernels::gemm_nt(h, w_hh, &mut out);
        } else {
            kernels::gemm_nt_reversed(h, w_hh, &mut out);
        }
    } else {
        panels::gemm_nn(
            h,
            PanelsRef::new(&whh_t[..g * hp * hp], hp, g * hp),
            &mut out,
        );
    }
}

/// `W_hh` (`G·Hp × Hp`, `g` gate blocks; tanh: `Whh`, one) for the
/// backward product `g_t = dpre_t · W_hh` of every cell: packed into
/// panels where [`packs_whh`], else read as stored.
///
/// Read as stored by one stream ([`reads_w_hh_as_stored`]), the product
/// runs on `W_hh`'s two column halves in turn, the left first at an even
/// step `t` and the right first at an odd one, so that each step starts on
/// the half the step before read last, still partly in L2. Each entry of
/// the result keeps its one sum over the rows, so the bits are those of
/// one pass. Zen 4 (1 MiB L2), one stream, medians of 5-7 interleaved
/// runs: LSTM H 256 +3.1%, GRU H 256 +0.6%; the tanh cell level at H 128,
/// 256 and 512 (`perf/README.md`).
pub struct BackProduct<'a> {
    w_hh: &'a [f32],
    panels: Option<&'a [f32]>,
    rows: usize,
    hp: usize,
    /// The row stride of the `dpre` the product reads.
    dpre_stride: usize,
    /// Where the column halves split (a multiple of the SIMD width), or
    /// `None` for one pass over all columns.
    split: Option<usize>,
}

impl<'a> BackProduct<'a> {
    /// The product for `streams` streams whose `dpre` rows are
    /// `dpre_stride` values apart, on `w_hh` packed into `panels`
    /// ([`pack_back_panels`]: this layer's) where [`packs_whh`] and the
    /// caller packed them, else on `w_hh` as stored: an update packs for
    /// its widest group, so a last group of one stream after groups of 2 or
    /// 3 finds no panels (either way the sums are the same).
    pub fn new(
        l: &Layout,
        g: usize,
        w_hh: &'a [f32],
        streams: usize,
        dpre_stride: usize,
        panels: &'a [f32],
    ) -> BackProduct<'a> {
        let (rows, hp) = (g * l.hp, l.hp);
        let panels =
            (packs_whh(l, streams) && panels.len() >= rows * hp).then(|| &panels[..rows * hp]);
        let split = reads_w_hh_as_stored(l, streams)
            .then(|| hp / 2 / kernels::LANES * kernels::LANES)
            .filter(|&s| s > 0);
        BackProduct {
            w_hh,
            panels,
            rows,
            hp,
            dpre_stride,
            split,
        }
    }

    /// `out (B × Hp) += dpre (B × G·Hp, rows `dpre_stride` apart) · W_hh`,
    /// at step `t` of the chunk.
    pub fn add_to(&self, dpre: &[f32], b_n: usize, t: usize, out: &mut [f32]) {
        let a = MatRef::new(dpre, b_n, self.rows, self.dpre_stride);
        let hp = self.hp;
        match (self.panels, self.split) {
            (Some(p), _) => panels::gemm_nn(
                a,
                PanelsRef::new(p, self.rows, hp),
                &mut MatMut::dense(out, b_n, hp),
            ),
            (None, None) => kernels::gemm_nn(
                a,
                MatRef::dense(self.w_hh, self.rows, hp),
                &mut MatMut::dense(out, b_n, hp),
            ),
            (None, Some(split)) => {
                let halves = if t.is_multiple_of(2) {
                    [0..split, split..hp]
                } else {
                    [split..hp, 0..split]
                };
                for cols in halves {
                    let (at, n) = (cols.start, cols.len());
                    kernels::gemm_nn(
                        a,
                        MatRef::new(&self.w_hh[at..], self.rows, n, hp),
                        &mut MatMut::new(&mut out[at..], b_n, n, hp),
                    );
                }
            }
        }
    }
}

/// The registration of every cell (the enum itself is
/// [`crate::layout::CellKind`]: a layout knows which cell it is for).
impl CellKind {
    /// The cell's implementation.
    pub fn cell(self) -> &'static dyn Cell {
        match self {
            CellKind::Tanh => &tanh::TanhCell,
            CellKind::Gru => &gru::GruCell,
            CellKind::Lstm => &lstm::LstmCell,
        }
    }

    /// The cell's parameter tensors, in buffer order.
    pub fn tensors(self) -> &'static [TensorSpec] {
        self.cell().tensors()
    }
}

impl Layout {
    /// The cell this layout is for.
    pub fn cell(&self) -> &'static dyn Cell {
        self.cell.cell()
    }

    /// Values of every layer's `W_hh` packed for the backward passes of up
    /// to `streams` streams ([`pack_back_panels`]): none unless
    /// [`packs_whh`].
    pub fn back_panels_len(&self, streams: usize) -> usize {
        if packs_whh(self, streams) {
            self.layers * panels_len(self, self.cell().gates())
        } else {
            0
        }
    }

    /// Values of the carried state of one stream: each layer's
    /// [`Cell::carried`] parts, Hp values each, layer 0's first.
    pub fn carried_width(&self) -> usize {
        self.layers * self.cell().carried().len() * self.hp
    }

    /// The names of the carried state's parts, in order (Hp values each):
    /// layer 0's as [`Cell::carried`] names them, layer k's with `_l{k}`
    /// after (`hidden`, `cell`, `hidden_l1`, `cell_l1`, …).
    pub fn carried_parts(&self) -> Vec<String> {
        let parts = self.cell().carried();
        (0..self.layers)
            .flat_map(|k| {
                parts.iter().map(move |p| match k {
                    0 => p.to_string(),
                    _ => format!("{p}_l{k}"),
                })
            })
            .collect()
    }

    /// Values per row of a layer's input product ([`Cell::input_product`]):
    /// G·Hp.
    pub fn input_width(&self) -> usize {
        self.cell().gates() * self.hp
    }
}

/// What a chunk's backward pass reads of its forward pass: B streams of up
/// to `steps` steps, row `t·B + b` for step t of stream b.
#[derive(Clone, Copy, Debug)]
pub struct ChunkRecord<'a> {
    /// The layer (0: the one that reads the characters).
    pub layer: usize,
    pub streams: usize,
    pub steps: usize,
    /// The input id of each row (0 past a stream's end).
    pub inputs: &'a [u16],
    /// Steps of each stream.
    pub lens: &'a [usize],
    /// `(steps + 1)·B` states of [`Cell::state_width`] values: row `b` the
    /// state before the chunk, row `(t+1)·B + b` the state after step t.
    pub states: &'a [f32],
    /// With dropout on the input ([`Cell::drops_input`]), the input mask of
    /// each row (`steps·B × Hp`) that [`Cell::step_dropped`] was given.
    pub input_mask: Option<&'a [f32]>,
    /// For a layer above the first, its input: the h of the layer below
    /// (dropped, with dropout) of each row (`steps·B × Hp`).
    pub below: Option<&'a [f32]>,
    /// The layer's `W_hh` packed for the backward product
    /// ([`pack_back_panels`]; empty where it is read as stored).
    pub back_panels: &'a [f32],
}

/// A recurrent cell.
pub trait Cell: Sync + std::fmt::Debug {
    /// The parameter tensors, in buffer order (the readout's among them).
    fn tensors(&self) -> &'static [TensorSpec];

    /// Gate blocks G of the recurrent product: a step is `(B × H)·(H × G·H)`
    /// (tanh 1, GRU 3, LSTM 4).
    fn gates(&self) -> usize;

    /// The recurrent tensor, whose file shape `[G·H, H]` gives the hidden size.
    fn hidden_tensor(&self) -> &'static str;

    /// Layer `k`'s recurrent weights `W_hh` (`G·Hp × Hp`) in a buffer `w`.
    fn recurrent_weights<'a>(&self, l: &Layout, w: &'a [f32], k: usize) -> &'a [f32];

    /// Whether layers of this cell stack (`--layers` above 1): those that
    /// have [`Cell::layer_tensors`] (the gated cells; the article's tanh
    /// cell is one layer).
    fn stacks(&self) -> bool {
        !self.layer_tensors(1).is_empty()
    }

    /// The tensors of layer `k` (1 to [`crate::layout::MAX_LAYERS`] - 1)
    /// of a cell that [`Cell::stacks`], in buffer order.
    fn layer_tensors(&self, _k: usize) -> &'static [TensorSpec] {
        &[]
    }

    /// Layer `k`'s recurrent tensor (the one initialised as
    /// [`Cell::hidden_tensor`] is): above the first, the second of its
    /// [`Cell::layer_tensors`] (`weight_hh_l{k}`).
    fn recurrent_tensor(&self, k: usize) -> &'static str {
        match k {
            0 => self.hidden_tensor(),
            _ => self.layer_tensors(k)[1].name,
        }
    }

    /// `(Why, by)` of a buffer in this layout: the readout's weights.
    fn readout<'a>(&self, l: &Layout, buf: &'a [f32]) -> (&'a [f32], &'a [f32]);

    /// `(dWhy, dby)` of a gradient buffer.
    fn readout_mut<'a>(&self, l: &Layout, buf: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]);

    /// Values per stream of a step's state row; the first Hp are `h_t`.
    fn state_width(&self, l: &Layout) -> usize;

    /// The parts of the carried state, Hp values each at the start of a
    /// state row, by name (`hidden` first): what one step passes to the
    /// next, what a checkpoint saves per shard (`train.<name>`).
    fn carried(&self) -> &'static [&'static str];

    /// Values of the prepared weights ([`Cell::prepare`]) for steps of at
    /// most `streams` streams (no panels where they read `W_hh` as stored).
    fn prepared_len(&self, l: &Layout, streams: usize) -> usize;

    /// Weights rearranged for steps of at most `streams` streams, made once
    /// per update (or per sampler) from `w` into `prepared` (tanh: `Whhᵀ`
    /// in column panels, so that the step reads it row by row, a panel at a
    /// time; left out where such steps read `W_hh` as stored:
    /// [`reads_w_hh_as_stored`]).
    fn prepare(&self, l: &Layout, w: &[f32], streams: usize, prepared: &mut [f32]);

    /// Step `t` (from 0; its parity sets the order in which one stream reads
    /// `W_hh`, [`step_product`]) for B streams: `next` (B × state) from
    /// `prev` (B × state) and each stream's input id, with the weights `w`
    /// and their [`Cell::prepare`]d form.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        l: &Layout,
        t: usize,
        w: &[f32],
        prepared: &[f32],
        inputs: &[u16],
        prev: &[f32],
        next: &mut [f32],
    );

    /// The input product of layer `k` ≥ 1 for `rows` rows: `out (rows ×
    /// G·Hp) = x (rows × Hp) · W_ihᵀ`, x the h of the layer below (for a
    /// chunk, all its rows at once; then [`Cell::step_above`] step by step).
    #[allow(clippy::too_many_arguments)]
    fn input_product(
        &self,
        _l: &Layout,
        _k: usize,
        _w: &[f32],
        _x: &[f32],
        _rows: usize,
        _out: &mut [f32],
    ) {
        unreachable!("{self:?} is one layer (Cell::stacks)")
    }

    /// [`Cell::step`] of layer `k` ≥ 1, whose input is a dense vector: `x_in`
    /// holds each stream's [`Cell::input_product`] (B × G·Hp).
    #[allow(clippy::too_many_arguments)]
    fn step_above(
        &self,
        _l: &Layout,
        _t: usize,
        _k: usize,
        _w: &[f32],
        _prepared: &[f32],
        _x_in: &[f32],
        _prev: &[f32],
        _next: &mut [f32],
    ) {
        unreachable!("{self:?} is one layer (Cell::stacks)")
    }

    /// Whether dropout ([`crate::dropout`]) drops this cell's input as well
    /// as `h_t` where it feeds the readout (tanh: yes, per unit of the
    /// embedding `Wxh[:, x]`; the gated cells: no, as char-rnn drops an
    /// LSTM's output only).
    fn drops_input(&self) -> bool {
        false
    }

    /// [`Cell::step`] with dropout on the input, for a cell that
    /// [`Cell::drops_input`]: the input's contribution is multiplied unit by
    /// unit by `mask` (B × Hp, values 0 or 1/(1-P)).
    #[allow(clippy::too_many_arguments)]
    fn step_dropped(
        &self,
        _l: &Layout,
        _t: usize,
        _w: &[f32],
        _prepared: &[f32],
        _inputs: &[u16],
        _mask: &[f32],
        _prev: &[f32],
        _next: &mut [f32],
    ) {
        unreachable!("{self:?} does not drop its input (Cell::drops_input)")
    }

    /// Values of scratch space [`Cell::backward`] needs for chunks of
    /// `streams` streams and up to `steps` steps.
    fn scratch_len(&self, l: &Layout, streams: usize, steps: usize) -> usize;

    /// Backward through the recurrence of a chunk: `dh` holds `dL/dh_t`
    /// from the readout (`steps·B × Hp`) and is overwritten (with dropout,
    /// masked where `h_t` feeds the readout; the cell applies
    /// `chunk.input_mask`); the gradients
    /// of the layer's own tensors are added into `grads`. `scratch` has
    /// [`Cell::scratch_len`] values (allocated once, not per chunk). For a
    /// layer above the first (`chunk.below`), `dbelow` (`steps·B × Hp`) is
    /// set to the gradient of its input, `dL/dx_t`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        l: &Layout,
        w: &[f32],
        chunk: ChunkRecord<'_>,
        dh: &mut [f32],
        scratch: &mut [f32],
        grads: &mut [f32],
        dbelow: Option<&mut [f32]>,
    );
}
