//! Truncated backpropagation through time over one chunk of B streams,
//! for any [`Cell`].
//!
//! Only the recurrence is sequential. Everything else in a chunk is done for
//! all T·B steps at once, as small matrix products:
//!
//! ```text
//! forward, t = 0..T:   S_t = cell.step(S_{t-1}, x_t)          (B × state; h_t first)
//! all steps at once:   Y  = H · Whyᵀ + by                     (TB×Vp)
//!                      DY = softmax(Y) - onehot(targets), loss = Σ -ln p
//!                      dWhy += DYᵀ · H    dby += Σ_rows DY    DH = DY · Why
//! backward:            cell.backward(DH): the recurrence, t = T..0, and the
//!                      cell's weight gradients (tanh: see `cell::tanh`)
//! ```
//!
//! The three readout products run over the V characters, not the Vp
//! padded columns of `Why`, Y and DY (whose padding is zero): at V 65 that
//! is 65 of 80, and not a bit changes. (Measured in `bench`, 32 streams, H
//! 256: `DY Why` 7% and `DYᵀ H` 15% faster; the crate's `H Whyᵀ` runs a
//! full-width tail for the 65th column and is level.)
//!
//! A model of L layers (`--layers`) runs the recurrence layer by layer
//! through the chunk: layer 0 steps from the characters, then for each
//! layer k above, its input over all the chunk's rows at once, `X_k =
//! H_{k-1} ⊙ M_{k-1}` (the layer below's h, dropped by mask
//! `Which::Between(k-1)` with dropout) and `X_k · W_ihᵀ` as one product
//! ([`Cell::input_product`]), then its recurrence ([`Cell::step_above`]);
//! the readout reads the top layer's h. Backward, the top layer's cell
//! backward gets the readout's DH, and each layer k above the first hands
//! the one below its `dX_k ⊙ M_{k-1}`.
//!
//! Rows are time-major: row `t·B + b` holds step t of stream b. Streams may
//! end early (the last chunk of an epoch is short): their rows past the end
//! get the input id 0 and a zero `dy`, so they add nothing to any gradient.
//!
//! Training with dropout ([`Bptt::train_forward`] with a [`MaskKey`]) fills
//! the chunk's masks first ([`crate::dropout`], `T·B × Hp` each: input,
//! output and, stacked, one between each two layers), steps
//! with [`Cell::step_dropped`], reads out `HD = H ⊙ M_out` instead of `H`
//! (`Y = HD · Whyᵀ + by`, `dWhy += DYᵀ · HD`) and masks the readout's
//! `DH = (DY · Why) ⊙ M_out` before the cell's backward, which gets the
//! input mask. Without it (evaluation, dropout 0) none of this runs: the
//! choice is made once per chunk.

use std::ops::Range;

use crate::cell::{self, Cell, ChunkRecord};
use crate::dropout::{self, ChunkMasks, MaskKey};
use crate::kernels::aligned::{self, AlignedVec};
use crate::kernels::logits::WideLogits;
use crate::kernels::{self, MatMut, MatRef};
use crate::layout::Layout;

/// Buffers for one chunk of `streams` streams of up to `seq_len` steps, and
/// the state each stream carries from one chunk to the next.
#[derive(Clone, Debug)]
pub struct Bptt {
    layout: Layout,
    cell: &'static dyn Cell,
    streams: usize,
    seq_len: usize,
    /// Values of one stream's state row of a layer (Hp for the tanh cell),
    /// and of its carried prefix ([`Cell::carried`] parts of Hp).
    width: usize,
    carried: usize,
    /// Per layer, `(T+1)·B × width`: row `b` is the state before the
    /// chunk, row `(t+1)·B + b` the state after step t.
    hs: Vec<AlignedVec>,
    /// Per layer k ≥ 1 (index k-1), `T·B × Hp`: its input, the h of layer
    /// k-1 (dropped, with dropout).
    xin: Vec<AlignedVec>,
    /// `T·B × G·Hp`: a layer's input product (empty for one layer).
    xw: AlignedVec,
    /// `T·B × Vp`: logits, then `dy`.
    ys: AlignedVec,
    /// `T·B × Hp`: `Whyᵀ dy`, then the cell's backward; and with layers,
    /// the gradient a layer hands the one below.
    dh: AlignedVec,
    dh_below: AlignedVec,
    /// The cell's backward scratch, its prepared weights, and `W_hh` packed
    /// for the backward product ([`cell::pack_back_panels`]) where
    /// [`Bptt::backward`] packs it itself (allocated at its first call: a
    /// trainer's groups read the trainer's).
    scratch: AlignedVec,
    prepared: AlignedVec,
    back_panels: AlignedVec,
    /// `B × (L·carried)`: the carried state of each stream, layer 0's first.
    state: AlignedVec,
    /// Input and target ids of each row, and the number of steps of each stream.
    inputs: Vec<u16>,
    targets: Vec<u16>,
    lens: Vec<usize>,
    /// Dropout: the last chunk's masks and `T·B × Hp` dropped states
    /// `h_t ⊙ m_t^out` (empty until a chunk trains with dropout), and
    /// whether the last forward pass used them.
    masks: ChunkMasks,
    dropped: AlignedVec,
    masked: bool,
    /// `V × stride`: `Why` at the row stride the crate's logits product
    /// reads it ([`kernels::tuning::row_stride`]; empty where that is Hp and
    /// the product reads the weights themselves).
    why_rows: AlignedVec,
    /// The copies of the `wide` logits product (empty until
    /// [`kernels::tuning::logits_on_wide`] holds for a chunk).
    wide_logits: WideLogits,
}

/// Summed loss (nats) and number of predictions of one chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChunkLoss {
    pub sum: f64,
    pub count: usize,
}

impl ChunkLoss {
    /// Mean loss per prediction, nats (0 for no predictions).
    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }
}

impl std::ops::AddAssign for ChunkLoss {
    fn add_assign(&mut self, other: ChunkLoss) {
        self.sum += other.sum;
        self.count += other.count;
    }
}

impl Bptt {
    /// Buffers for `streams` streams and chunks of up to `seq_len` steps, all
    /// hidden states zero.
    pub fn new(layout: Layout, streams: usize, seq_len: usize) -> Bptt {
        assert!(
            streams > 0 && seq_len > 0,
            "streams and seq_len must be positive"
        );
        let (hp, vp) = (layout.hp, layout.vp);
        let cell = layout.cell();
        let width = cell.state_width(&layout);
        let carried = layout.carried_width();
        let (rows, layers) = (seq_len * streams, layout.layers);
        let above = |len: usize| if layers > 1 { len } else { 0 };
        Bptt {
            layout,
            cell,
            streams,
            seq_len,
            width,
            carried: carried / layers,
            hs: (0..layers)
                .map(|_| aligned::zeros((seq_len + 1) * streams * width))
                .collect(),
            xin: (1..layers).map(|_| aligned::zeros(rows * hp)).collect(),
            xw: aligned::zeros(above(rows * layout.input_width())),
            ys: aligned::zeros(rows * vp),
            dh: aligned::zeros(rows * hp),
            dh_below: aligned::zeros(above(rows * hp)),
            scratch: aligned::zeros(cell.scratch_len(&layout, streams, seq_len)),
            prepared: aligned::zeros(cell.prepared_len(&layout, streams)),
            back_panels: aligned::zeros(0),
            state: aligned::zeros(streams * carried),
            inputs: vec![0; rows],
            targets: vec![0; rows],
            lens: vec![0; streams],
            masks: ChunkMasks::default(),
            dropped: aligned::zeros(0),
            masked: false,
            why_rows: aligned::zeros(match kernels::tuning::row_stride(hp) {
                s if s == hp => 0,
                s => layout.v * s,
            }),
            wide_logits: WideLogits::default(),
        }
    }

    /// Sets every stream's hidden state to zero.
    pub fn reset_state(&mut self) {
        self.state.fill(0.0);
    }

    /// The carried state of stream `b` ([`Layout::carried_width`] values,
    /// pad zero; `h` for the tanh cell, `h` then `c` for the LSTM; layer
    /// after layer).
    pub fn state(&self, b: usize) -> &[f32] {
        let w = self.layout.carried_width();
        &self.state[b * w..(b + 1) * w]
    }

    /// Sets the carried state of stream `b`.
    pub fn set_state(&mut self, b: usize, h: &[f32]) {
        let w = self.layout.carried_width();
        self.state[b * w..(b + 1) * w].copy_from_slice(h);
    }

    /// Forward pass over one chunk per stream: stream b reads `ids[chunks[b]]`,
    /// T_b + 1 ids (inputs `[..T_b]`, targets `[1..]`; fewer than 2 ids: the
    /// stream idles). Leaves `dy` in `ys` for [`Bptt::backward`], advances the
    /// carried states, and returns the summed loss.
    pub fn forward(&mut self, weights: &[f32], ids: &[u16], chunks: &[Range<usize>]) -> ChunkLoss {
        self.train_forward(weights, None, ids, chunks, None)
    }

    /// [`Bptt::forward`] with the cell's weights already prepared
    /// ([`crate::cell::Cell::prepare`], for at least this pass's streams),
    /// so that groups sharing the weights prepare them once.
    pub fn forward_prepared(
        &mut self,
        weights: &[f32],
        prepared: &[f32],
        ids: &[u16],
        chunks: &[Range<usize>],
    ) -> ChunkLoss {
        self.train_forward(weights, Some(prepared), ids, chunks, None)
    }

    /// Training's forward pass: [`Bptt::forward`] (`prepared`: as
    /// [`Bptt::forward_prepared`], or `None` to prepare them here) with the
    /// dropout masks of `dropout`'s key, when given, on this chunk's
    /// positions (see [`crate::dropout`]); the loss is that of the dropped
    /// network.
    pub fn train_forward(
        &mut self,
        weights: &[f32],
        prepared: Option<&[f32]>,
        ids: &[u16],
        chunks: &[Range<usize>],
        dropout: Option<&MaskKey>,
    ) -> ChunkLoss {
        match prepared {
            Some(p) => self.run_forward(weights, p, ids, chunks, dropout),
            None => {
                let mut prepared = std::mem::take(&mut self.prepared);
                self.cell
                    .prepare(&self.layout, weights, self.streams, &mut prepared);
                let loss = self.run_forward(weights, &prepared, ids, chunks, dropout);
                self.prepared = prepared;
                loss
            }
        }
    }

    fn run_forward(
        &mut self,
        weights: &[f32],
        prepared: &[f32],
        ids: &[u16],
        chunks: &[Range<usize>],
        dropout: Option<&MaskKey>,
    ) -> ChunkLoss {
        let steps = self.load_chunks(ids, chunks);
        let l = self.layout;
        let Layout { hp, vp, v, .. } = l;
        let (b_n, width, carried) = (self.streams, self.width, self.carried);
        let (rows, top, stride) = (steps * b_n, l.layers - 1, l.carried_width());
        self.masked = dropout.is_some();
        let drops_input = self.masked && self.cell.drops_input();
        if let Some(key) = dropout {
            self.masks
                .fill(key, chunks, &self.lens, l.h, hp, drops_input, l.layers);
        }

        for k in 0..l.layers {
            let (below, here) = self.hs.split_at_mut(k);
            let hs = &mut here[0][..];
            let first = hs[..b_n * width].chunks_exact_mut(width);
            for (row, state) in first.zip(self.state.chunks_exact(stride)) {
                row[..carried].copy_from_slice(&state[k * carried..(k + 1) * carried]);
            }
            let (cell, inputs) = (self.cell, &self.inputs[..]);
            if k == 0 && drops_input {
                for (t, mask) in self.masks.input.chunks_exact(b_n * hp).enumerate() {
                    let (prev, next, x) = step_rows(hs, inputs, t, b_n, width);
                    cell.step_dropped(&l, t, weights, prepared, x, mask, prev, next);
                }
            } else if k == 0 {
                for t in 0..steps {
                    let (prev, next, x) = step_rows(hs, inputs, t, b_n, width);
                    cell.step(&l, t, weights, prepared, x, prev, next);
                }
            } else {
                let xin = &mut self.xin[k - 1][..rows * hp];
                let h_below = below[k - 1][b_n * width..].chunks_exact(width);
                if self.masked {
                    let masks = self.masks.between[k - 1].chunks_exact(hp);
                    for ((x, h), m) in xin.chunks_exact_mut(hp).zip(h_below).zip(masks) {
                        dropout::masked(x, &h[..hp], m);
                    }
                } else {
                    for (x, h) in xin.chunks_exact_mut(hp).zip(h_below) {
                        x.copy_from_slice(&h[..hp]);
                    }
                }
                let gw = l.input_width();
                let xw = &mut self.xw[..rows * gw];
                cell.input_product(&l, k, weights, xin, rows, xw);
                for (t, x_in) in xw.chunks_exact(b_n * gw).enumerate() {
                    let (prev, next, _) = step_rows(hs, inputs, t, b_n, width);
                    cell.step_above(&l, t, k, weights, prepared, x_in, prev, next);
                }
            }
        }

        let (why, by) = self.cell.readout(&l, weights);
        let ys = &mut self.ys[..rows * vp];
        let hs = &self.hs[top][b_n * width..(steps + 1) * b_n * width];
        let readout_in = if self.masked {
            self.dropped.resize(rows * hp, 0.0);
            let rows_out = self.dropped.chunks_exact_mut(hp);
            for ((d, h), m) in rows_out
                .zip(hs.chunks_exact(width))
                .zip(self.masks.output.chunks_exact(hp))
            {
                dropout::masked(d, &h[..hp], m);
            }
            MatRef::dense(&self.dropped, rows, hp)
        } else {
            MatRef::new(hs, rows, hp, width)
        };
        // `by` is added row by row before the softmax, so the product
        // writes Y without reading it.
        if kernels::tuning::logits_on_wide(b_n, rows, v, hp) {
            // Over all Vp columns; the padding's are zero.
            self.wide_logits
                .product(readout_in, MatRef::dense(&why[..v * hp], v, hp), vp, ys);
        } else {
            // Over the V characters of the Vp columns (see the module doc).
            let why = match kernels::tuning::row_stride(hp) {
                s if s == hp => MatRef::dense(&why[..v * hp], v, hp),
                s => {
                    for (to, from) in self.why_rows.chunks_exact_mut(s).zip(why.chunks_exact(hp)) {
                        to[..hp].copy_from_slice(from);
                    }
                    MatRef::new(&self.why_rows, v, hp, s)
                }
            };
            kernels::chunked::gemm_nt_set(readout_in, why, &mut MatMut::new(ys, rows, v, vp));
        }

        let mut loss = ChunkLoss::default();
        for (row, y) in ys.chunks_exact_mut(vp).enumerate() {
            let (t, b) = (row / b_n, row % b_n);
            if t < self.lens[b] {
                kernels::add_assign(&mut y[..v], &by[..v]);
                loss.sum += kernels::softmax_xent(&mut y[..v], self.targets[row] as usize) as f64;
                loss.count += 1;
            } else {
                y.fill(0.0);
            }
        }

        for b in 0..b_n {
            let t_b = self.lens[b];
            if t_b > 0 {
                let row = (t_b * b_n + b) * width;
                let state = &mut self.state[b * stride..(b + 1) * stride];
                for (hs, s) in self.hs.iter().zip(state.chunks_exact_mut(carried)) {
                    s.copy_from_slice(&hs[row..row + carried]);
                }
            }
        }
        loss
    }

    /// Backward pass of the chunk last given to [`Bptt::forward`] (with the
    /// same weights): adds the summed gradients into `grads` (same layout).
    pub fn backward(&mut self, weights: &[f32], grads: &mut [f32]) {
        let mut back_panels = std::mem::take(&mut self.back_panels);
        let len = self.layout.back_panels_len(self.streams);
        if back_panels.len() != len {
            back_panels = aligned::zeros(len);
        }
        cell::pack_back_panels(&self.layout, weights, self.streams, &mut back_panels);
        self.backward_prepared(weights, &back_panels, grads);
        self.back_panels = back_panels;
    }

    /// [`Bptt::backward`] with `W_hh` already packed from `weights` for
    /// backward passes of at least this many streams
    /// ([`cell::pack_back_panels`]; avg: once per update for all groups).
    pub fn backward_prepared(&mut self, weights: &[f32], back_panels: &[f32], grads: &mut [f32]) {
        let l = self.layout;
        let Layout { hp, vp, v, .. } = l;
        let (b_n, width) = (self.streams, self.width);
        let steps = self.lens.iter().copied().max().unwrap_or(0);
        if steps == 0 {
            return;
        }
        let (rows, top) = (steps * b_n, l.layers - 1);
        let (why, _) = self.cell.readout(&l, weights);
        let ys = &self.ys[..rows * vp];
        let hs = &self.hs[top][..(steps + 1) * b_n * width];
        let mut dh_all = std::mem::take(&mut self.dh);
        let mut dbelow_all = std::mem::take(&mut self.dh_below);
        let dh = &mut dh_all[..rows * hp];

        // Output layer, all steps at once (through the output mask when dropped).
        dh.fill(0.0);
        let dys = MatRef::new(ys, rows, v, vp);
        kernels::chunked::gemm_nn(
            dys,
            MatRef::dense(&why[..v * hp], v, hp),
            &mut MatMut::dense(dh, rows, hp),
        );
        let masks = self.masked.then_some(&self.masks);
        if let Some(m) = masks {
            dropout::mask_assign(dh, &m.output[..rows * hp]);
        }
        {
            let (dwhy, dby) = self.cell.readout_mut(&l, grads);
            let readout_in = match masks {
                Some(_) => MatRef::dense(&self.dropped[..rows * hp], rows, hp),
                None => MatRef::new(&hs[b_n * width..], rows, hp, width),
            };
            kernels::chunked::gemm_tn(
                dys,
                readout_in,
                &mut MatMut::dense(&mut dwhy[..v * hp], v, hp),
            );
            for dy in ys.chunks_exact(vp) {
                kernels::add_assign(dby, dy);
            }
        }

        // The recurrence, backwards in time, and the cell's own gradients,
        // from the top layer down.
        // Each layer's panels (none where the product reads `W_hh` as stored).
        let each = back_panels.len() / l.layers;
        for k in (0..l.layers).rev() {
            let chunk = ChunkRecord {
                layer: k,
                streams: b_n,
                steps,
                inputs: &self.inputs[..rows],
                lens: &self.lens,
                states: &self.hs[k][..(steps + 1) * b_n * width],
                input_mask: masks
                    .filter(|_| k == 0 && self.cell.drops_input())
                    .map(|m| &m.input[..rows * hp]),
                below: (k > 0).then(|| &self.xin[k - 1][..rows * hp]),
                back_panels: &back_panels[k * each..][..each],
            };
            let dh = &mut dh_all[..rows * hp];
            let dbelow = (k > 0).then(|| &mut dbelow_all[..rows * hp]);
            self.cell
                .backward(&l, weights, chunk, dh, &mut self.scratch, grads, dbelow);
            if k > 0 {
                if let Some(m) = masks {
                    dropout::mask_assign(
                        &mut dbelow_all[..rows * hp],
                        &m.between[k - 1][..rows * hp],
                    );
                }
                std::mem::swap(&mut dh_all, &mut dbelow_all);
            }
        }
        self.dh = dh_all;
        self.dh_below = dbelow_all;
    }

    /// Copies the chunks' ids into the row-major input and target tables and
    /// returns the number of steps (the longest chunk).
    fn load_chunks(&mut self, ids: &[u16], chunks: &[Range<usize>]) -> usize {
        assert_eq!(chunks.len(), self.streams, "one chunk per stream");
        let b_n = self.streams;
        for (b, chunk) in chunks.iter().enumerate() {
            let t_b = chunk.len().saturating_sub(1);
            assert!(t_b <= self.seq_len, "chunk longer than seq_len + 1");
            self.lens[b] = t_b;
        }
        let steps = self.lens.iter().copied().max().unwrap_or(0);
        for t in 0..steps {
            for (b, range) in chunks.iter().enumerate() {
                let chunk = &ids[range.clone()];
                let row = t * b_n + b;
                let active = t < self.lens[b];
                self.inputs[row] = if active { chunk[t] } else { 0 };
                self.targets[row] = if active { chunk[t + 1] } else { 0 };
            }
        }
        steps
    }
}

/// What step t of `b_n` streams reads and writes: the states before it
/// (rows `t·B..`), the states after it (rows `(t+1)·B..`) and its input ids.
fn step_rows<'a>(
    hs: &'a mut [f32],
    inputs: &'a [u16],
    t: usize,
    b_n: usize,
    width: usize,
) -> (&'a [f32], &'a mut [f32], &'a [u16]) {
    let (prev, next) = hs.split_at_mut((t + 1) * b_n * width);
    (
        &prev[t * b_n * width..],
        &mut next[..b_n * width],
        &inputs[t * b_n..(t + 1) * b_n],
    )
}
