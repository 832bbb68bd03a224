//! Where each parameter tensor lives in one flat `f32` buffer.
//!
//! Parameters, gradients and optimizer state share this layout, so zeroing,
//! clipping and the update are each one flat loop (as llm.c does). The
//! tensors, their order and their stored shapes are the cell's
//! ([`crate::cell::Cell::tensors`]); for the tanh cell:
//!
//! | view  | shape      | holds                                             |
//! |-------|------------|---------------------------------------------------|
//! | `wxh` | (V, Hp)    | row x is the article's column `Wxh[:, x]`: the one-hot product is a row gather |
//! | `whh` | (Hp, Hp)   | `Whh[i][j]`, output i, as the article             |
//! | `why` | (Vp, Hp)   | `Why[v][j]`, output v, as the article             |
//! | `bh`  | (Hp)       |                                                   |
//! | `by`  | (Vp)       |                                                   |
//!
//! Weight decay ([`crate::optimizer::Decay`]) covers the matrices, not the
//! bias vectors ([`TensorSpec::decayed`], [`Layout::decayed`]).
//!
//! H and V are padded up to `Hp` and `Vp`, multiples of the SIMD width
//! [`LANES`]. Pad entries are zero and stay zero: a zero hidden unit has a
//! zero gradient, and pad logits are never part of the softmax.

use std::ops::Range;

use crate::config::Named;
use crate::kernels::LANES;
use crate::kernels::aligned::{self, AlignedVec};

/// The most layers a model stacks (`--layers`).
pub const MAX_LAYERS: usize = 8;

/// Sizes of a model: its cell, its layers, hidden size H (every layer's),
/// vocabulary size V and their padded widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub cell: CellKind,
    /// Layers of the cell stacked (1 to [`MAX_LAYERS`]): layer 0 reads the
    /// character, layer k the h of layer k-1, the readout the top layer's.
    pub layers: usize,
    pub h: usize,
    pub v: usize,
    pub hp: usize,
    pub vp: usize,
}

impl Layout {
    /// The layout of a tanh-cell model with `h` hidden units and `v` characters.
    pub fn new(h: usize, v: usize) -> Layout {
        Layout::of(CellKind::Tanh, h, v)
    }

    /// The layout of a model of `cell` with `h` hidden units and `v` characters.
    pub fn of(cell: CellKind, h: usize, v: usize) -> Layout {
        Layout::stacked(cell, 1, h, v)
    }

    /// The layout of a model of `layers` layers of `cell` (more than one: a
    /// cell that [`crate::cell::Cell::stacks`]).
    pub fn stacked(cell: CellKind, layers: usize, h: usize, v: usize) -> Layout {
        assert!(
            (1..=MAX_LAYERS).contains(&layers),
            "1 to {MAX_LAYERS} layers"
        );
        Layout {
            cell,
            layers,
            h,
            v,
            hp: h.next_multiple_of(LANES),
            vp: v.next_multiple_of(LANES),
        }
    }

    /// The parameter tensors, in buffer order: the cell's
    /// ([`CellKind::tensors`], with the cells in `crate::cell`: layer 0's
    /// and the readout's), then each layer's above it
    /// ([`crate::cell::Cell::layer_tensors`]).
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let cell = self.cell.cell();
        let mut all = cell.tensors().to_vec();
        for k in 1..self.layers {
            all.extend_from_slice(cell.layer_tensors(k));
        }
        all
    }

    /// Values of the cell's own tensors (layer 0's and the readout's), at
    /// the start of the buffer.
    pub fn base_len(&self) -> usize {
        self.cell.tensors().iter().map(|t| t.stored_len(self)).sum()
    }

    /// Values of the tensors of layer `k` ≥ 1 (every such layer has the
    /// same), which follow the base ones, layer after layer.
    pub fn layer_len(&self, k: usize) -> usize {
        let specs = self.cell.cell().layer_tensors(k);
        specs.iter().map(|t| t.stored_len(self)).sum()
    }

    /// Where the tensors of layer `k` ≥ 1 lie in the buffer.
    pub fn layer_range(&self, k: usize) -> Range<usize> {
        assert!(k >= 1 && k < self.layers, "layer {k} of {}", self.layers);
        let each = self.layer_len(k);
        let start = self.base_len() + (k - 1) * each;
        start..start + each
    }

    /// Total length of the flat buffer.
    pub fn len(&self) -> usize {
        self.base_len() + (1..self.layers).map(|k| self.layer_len(k)).sum::<usize>()
    }

    /// Always false: a layout has at least one parameter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zeroed buffer of this layout, on a cache line.
    pub fn zeros(&self) -> AlignedVec {
        aligned::zeros(self.len())
    }

    /// Where each tensor starts in the buffer, in order.
    pub fn offsets(&self) -> Vec<(usize, TensorSpec)> {
        let mut at = 0;
        let mut all = Vec::new();
        for t in self.tensors() {
            all.push((at, t));
            at += t.stored_len(self);
        }
        all
    }

    /// The ranges of the buffer that weight decay shrinks: every tensor that
    /// is [`TensorSpec::decayed`], neighbours merged into one range (the
    /// tanh cell's Wxh, Whh and Why make one).
    pub fn decayed(&self) -> Vec<Range<usize>> {
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for (at, spec) in self.offsets().into_iter().filter(|(_, t)| t.decayed()) {
            let end = at + spec.stored_len(self);
            match ranges.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => ranges.push(at..end),
            }
        }
        ranges
    }

    /// The cell's `N` tensors of a buffer of this layout, in order (N must
    /// be the cell's tensor count; the layers above the first are not among
    /// them, see [`Layout::layer_range`]).
    pub fn split<'a, const N: usize>(&self, buf: &'a [f32]) -> [&'a [f32]; N] {
        assert_eq!(buf.len(), self.len(), "buffer does not match the layout");
        let specs = self.cell.tensors();
        assert_eq!(specs.len(), N, "the cell has {} tensors", specs.len());
        let mut rest = buf;
        std::array::from_fn(|i| {
            let (head, tail) = rest.split_at(specs[i].stored_len(self));
            rest = tail;
            head
        })
    }

    /// The cell's `N` tensors of a buffer of this layout, mutable.
    pub fn split_mut<'a, const N: usize>(&self, buf: &'a mut [f32]) -> [&'a mut [f32]; N] {
        assert_eq!(buf.len(), self.len(), "buffer does not match the layout");
        let specs = self.cell.tensors();
        assert_eq!(specs.len(), N, "the cell has {} tensors", specs.len());
        let mut rest = buf;
        std::array::from_fn(|i| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(specs[i].stored_len(self));
            rest = tail;
            head
        })
    }
}

/// The cells rnn-fast knows (`--cell`; named in model files by
/// [`Named::name`], where `rnn` is written by its absence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// The article's vanilla tanh RNN ([`crate::cell::tanh`]).
    Tanh,
    /// PyTorch's `nn.GRU` ([`crate::cell::gru`]).
    Gru,
    /// PyTorch's `nn.LSTM` ([`crate::cell::lstm`]).
    Lstm,
}

impl Named for CellKind {
    const ALL: &'static [CellKind] = &[CellKind::Tanh, CellKind::Gru, CellKind::Lstm];

    fn name(self) -> &'static str {
        match self {
            CellKind::Tanh => "rnn",
            CellKind::Gru => "gru",
            CellKind::Lstm => "lstm",
        }
    }

    fn help(self) -> &'static str {
        match self {
            CellKind::Tanh => "the article's vanilla RNN: h = tanh(Wxh x + Whh h + bh)",
            CellKind::Gru => "a GRU, as torch.nn.GRU (gates r, z, n)",
            CellKind::Lstm => "an LSTM, as torch.nn.LSTM (gates i, f, g, o)",
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
    /// `n` gate blocks stacked: n·H in the file, n·Hp stored, block g's
    /// unit j at `g·Hp + j` (as PyTorch stacks an LSTM's gates in `4H`).
    Gates(usize),
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
            Dim::Gates(n) => n * l.hp,
        }
    }

    /// The unpadded size (Hp counts as H, Vp as V).
    pub fn logical(self, l: &Layout) -> usize {
        match self {
            Dim::One => 1,
            Dim::H | Dim::Hp => l.h,
            Dim::V | Dim::Vp => l.v,
            Dim::Gates(n) => n * l.h,
        }
    }

    /// Where index `i` of the unpadded size is stored.
    pub fn stored_at(self, l: &Layout, i: usize) -> usize {
        match self {
            Dim::Gates(_) => (i / l.h) * l.hp + i % l.h,
            _ => i,
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

    /// Whether weight decay shrinks this tensor: the weight matrices do, the
    /// bias vectors (`rows` One) do not.
    pub fn decayed(&self) -> bool {
        self.rows != Dim::One
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
        let (row, col) = if self.transposed {
            let r = self.rows.logical(l);
            (k % r, k / r)
        } else {
            let c = self.cols.logical(l);
            (k / c, k % c)
        };
        self.rows.stored_at(l, row) * stride + self.cols.stored_at(l, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::tanh;

    #[test]
    fn views_tile_the_buffer() {
        let l = Layout::new(100, 65);
        assert_eq!(l.hp % LANES, 0);
        assert!(l.hp >= 100 && l.hp < 100 + LANES);
        assert!(l.vp >= 65 && l.vp < 65 + LANES);
        let mut buf = l.zeros();
        let t = tanh::split_mut(&l, &mut buf);
        assert_eq!(t.wxh.len(), 65 * l.hp);
        assert_eq!(t.whh.len(), l.hp * l.hp);
        assert_eq!(t.why.len(), l.vp * l.hp);
        assert_eq!(t.bh.len(), l.hp);
        assert_eq!(t.by.len(), l.vp);
        t.by[l.vp - 1] = 1.0;
        assert_eq!(buf[l.len() - 1], 1.0);
        let starts: Vec<usize> = l.offsets().iter().map(|(at, _)| *at).collect();
        assert_eq!(starts[1], 65 * l.hp);
        // Weight decay: Wxh, Whh and Why in one range; bh and by not.
        assert_eq!(l.decayed(), vec![0..starts[3]]);
        assert_eq!(starts[3], (65 + l.hp + l.vp) * l.hp);
    }

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
