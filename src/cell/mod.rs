//! The recurrent cell: the seam between the engine and the recurrence it
//! trains, as candle-nn and tch-rs shape `RNN` (a zero state, one step, a
//! sequence). Training ([`crate::bptt`]), sampling ([`crate::sample`]) and
//! evaluation all go through [`Cell::step`]; the flat parameter layout is the
//! cell's list of [`TensorSpec`]s, which [`crate::layout`] places,
//! [`crate::model`] initialises and [`crate::checkpoint`] writes and reads by
//! name. A new cell is a new file implementing [`Cell`] and its line in
//! [`CellKind::cell`].
//!
//! Every cell ends in the same readout, `y_t = Why h_t + by`: a step's state
//! begins with `h_t` (Hp values), and the cell's tensors include `Why` and
//! `by` (named by [`Cell::readout`]).

pub mod tanh;

use crate::layout::Layout;

/// The cells rnn-fast knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// The article's vanilla tanh RNN.
    Tanh,
}

impl CellKind {
    /// The cell's implementation.
    pub fn cell(self) -> &'static dyn Cell {
        match self {
            CellKind::Tanh => &tanh::TanhCell,
        }
    }
}

/// A size of a stored tensor, in terms of the model's H and V and their
/// padded widths Hp and Vp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    One,
    H,
    Hp,
    V,
    Vp,
}

impl Dim {
    /// The stored (possibly padded) size.
    pub fn stored(self, l: &Layout) -> usize {
        match self {
            Dim::One => 1,
            Dim::H => l.h,
            Dim::Hp => l.hp,
            Dim::V => l.v,
            Dim::Vp => l.vp,
        }
    }

    /// The unpadded size (Hp counts as H, Vp as V).
    pub fn logical(self, l: &Layout) -> usize {
        match self {
            Dim::One => 1,
            Dim::H | Dim::Hp => l.h,
            Dim::V | Dim::Vp => l.v,
        }
    }
}

/// How a tensor's entries are drawn at initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// All zero (biases).
    Zero,
    /// `N(0, 1/fan_in)`, the article's.
    Normal { fan_in: Dim },
}

/// One parameter tensor of a cell as the flat buffer stores it: a row-major
/// `rows × cols` matrix (a vector has `rows` One), padded entries zero. In
/// the model file it is unpadded, in the article's orientation: the stored
/// matrix, or its transpose when `transposed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: &'static str,
    pub rows: Dim,
    pub cols: Dim,
    pub transposed: bool,
    pub init: Init,
}

impl TensorSpec {
    /// Values in the buffer.
    pub fn stored_len(&self, l: &Layout) -> usize {
        self.rows.stored(l) * self.cols.stored(l)
    }

    /// The shape in the model file.
    pub fn file_shape(&self, l: &Layout) -> Vec<usize> {
        let (r, c) = (self.rows.logical(l), self.cols.logical(l));
        match (self.rows, self.transposed) {
            (Dim::One, _) => vec![c],
            (_, false) => vec![r, c],
            (_, true) => vec![c, r],
        }
    }

    /// The buffer index (within the tensor) of entry `k` of the file's
    /// row-major order.
    pub fn stored_index(&self, l: &Layout, k: usize) -> usize {
        let stride = self.cols.stored(l);
        if self.transposed {
            let r = self.rows.logical(l);
            (k % r) * stride + k / r
        } else {
            let c = self.cols.logical(l);
            (k / c) * stride + k % c
        }
    }
}

/// What a chunk's backward pass reads of its forward pass: B streams of up
/// to `steps` steps, row `t·B + b` for step t of stream b.
#[derive(Clone, Copy, Debug)]
pub struct ChunkRecord<'a> {
    pub streams: usize,
    pub steps: usize,
    /// The input id of each row (0 past a stream's end).
    pub inputs: &'a [u16],
    /// Steps of each stream.
    pub lens: &'a [usize],
    /// `(steps + 1)·B` states of [`Cell::state_width`] values: row `b` the
    /// state before the chunk, row `(t+1)·B + b` the state after step t.
    pub states: &'a [f32],
}

/// A recurrent cell.
pub trait Cell: Sync + std::fmt::Debug {
    /// The parameter tensors, in buffer order (the readout's among them).
    fn tensors(&self) -> &'static [TensorSpec];

    /// The tensor whose file shape `[H, H]` gives the hidden size.
    fn hidden_tensor(&self) -> &'static str;

    /// `(Why, by)` of a buffer in this layout: the readout's weights.
    fn readout<'a>(&self, l: &Layout, buf: &'a [f32]) -> (&'a [f32], &'a [f32]);

    /// `(dWhy, dby)` of a gradient buffer.
    fn readout_mut<'a>(&self, l: &Layout, buf: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]);

    /// Values per stream of a step's state; the first Hp are `h_t`.
    fn state_width(&self, l: &Layout) -> usize;

    /// Values of the step's prepared weights ([`Cell::prepare`]).
    fn prepared_len(&self, l: &Layout) -> usize;

    /// Weights rearranged for the step, made once per update (or per
    /// sampler) from `w` into `prepared` (tanh: `Whhᵀ`, so that the step
    /// reads it row by row).
    fn prepare(&self, l: &Layout, w: &[f32], prepared: &mut [f32]);

    /// One step for B streams: `next` (B × state) from `prev` (B × state)
    /// and each stream's input id, with the weights `w` and their
    /// [`Cell::prepare`]d form.
    fn step(
        &self,
        l: &Layout,
        w: &[f32],
        prepared: &[f32],
        inputs: &[u16],
        prev: &[f32],
        next: &mut [f32],
    );

    /// Values of scratch space [`Cell::backward`] needs for `streams` streams.
    fn scratch_len(&self, l: &Layout, streams: usize) -> usize;

    /// Backward through the recurrence of a chunk: `dh` holds `dL/dh_t`
    /// from the readout (`steps·B × Hp`) and is overwritten; the gradients
    /// of the cell's own tensors are added into `grads`. `scratch` has
    /// [`Cell::scratch_len`] values (allocated once, not per chunk).
    fn backward(
        &self,
        l: &Layout,
        w: &[f32],
        chunk: ChunkRecord<'_>,
        dh: &mut [f32],
        scratch: &mut [f32],
        grads: &mut [f32],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_order_maps_to_the_stored_entries() {
        let l = Layout::new(3, 2);
        let plain = TensorSpec {
            name: "A",
            rows: Dim::V,
            cols: Dim::Hp,
            transposed: false,
            init: Init::Zero,
        };
        assert_eq!(plain.file_shape(&l), [2, 3]);
        // Entry (1, 2) of the [V, H] file is stored at row 1, column 2.
        assert_eq!(plain.stored_index(&l, 5), l.hp + 2);
        let t = TensorSpec {
            transposed: true,
            ..plain
        };
        assert_eq!(t.file_shape(&l), [3, 2]);
        // Entry (i 2, x 1) of the [H, V] file is stored at row x 1, column i 2.
        assert_eq!(t.stored_index(&l, 5), l.hp + 2);
        let v = TensorSpec {
            rows: Dim::One,
            ..plain
        };
        assert_eq!(v.file_shape(&l), [3]);
        assert_eq!(v.stored_index(&l, 2), 2);
    }
}
