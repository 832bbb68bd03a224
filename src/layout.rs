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
//! H and V are padded up to `Hp` and `Vp`, multiples of the SIMD width
//! [`LANES`]. Pad entries are zero and stay zero: a zero hidden unit has a
//! zero gradient, and pad logits are never part of the softmax.

use crate::cell::{Cell, CellKind, TensorSpec};
use crate::kernels::LANES;

/// Sizes of a model: its cell, hidden size H, vocabulary size V and their
/// padded widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub cell: CellKind,
    pub h: usize,
    pub v: usize,
    pub hp: usize,
    pub vp: usize,
}

impl Layout {
    /// The layout of a tanh-cell model with `h` hidden units and `v` characters.
    pub fn new(h: usize, v: usize) -> Layout {
        Layout {
            cell: CellKind::Tanh,
            h,
            v,
            hp: h.next_multiple_of(LANES),
            vp: v.next_multiple_of(LANES),
        }
    }

    /// The cell.
    pub fn cell(&self) -> &'static dyn Cell {
        self.cell.cell()
    }

    /// The parameter tensors, in buffer order.
    pub fn tensors(&self) -> &'static [TensorSpec] {
        self.cell().tensors()
    }

    /// Total length of the flat buffer.
    pub fn len(&self) -> usize {
        self.tensors().iter().map(|t| t.stored_len(self)).sum()
    }

    /// Always false: a layout has at least one parameter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zeroed buffer of this layout.
    pub fn zeros(&self) -> Vec<f32> {
        vec![0.0; self.len()]
    }

    /// Where each tensor starts in the buffer, in order.
    pub fn offsets(&self) -> impl Iterator<Item = (usize, &'static TensorSpec)> + '_ {
        self.tensors().iter().scan(0, move |at, t| {
            let start = *at;
            *at += t.stored_len(self);
            Some((start, t))
        })
    }

    /// The `N` tensors of a buffer of this layout, in order (N must be the
    /// cell's tensor count).
    pub fn split<'a, const N: usize>(&self, buf: &'a [f32]) -> [&'a [f32]; N] {
        assert_eq!(buf.len(), self.len(), "buffer does not match the layout");
        let specs = self.tensors();
        assert_eq!(specs.len(), N, "the cell has {} tensors", specs.len());
        let mut rest = buf;
        std::array::from_fn(|i| {
            let (head, tail) = rest.split_at(specs[i].stored_len(self));
            rest = tail;
            head
        })
    }

    /// The `N` tensors of a buffer of this layout, mutable.
    pub fn split_mut<'a, const N: usize>(&self, buf: &'a mut [f32]) -> [&'a mut [f32]; N] {
        assert_eq!(buf.len(), self.len(), "buffer does not match the layout");
        let specs = self.tensors();
        assert_eq!(specs.len(), N, "the cell has {} tensors", specs.len());
        let mut rest = buf;
        std::array::from_fn(|i| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(specs[i].stored_len(self));
            rest = tail;
            head
        })
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
        let starts: Vec<usize> = l.offsets().map(|(at, _)| at).collect();
        assert_eq!(starts[1], 65 * l.hp);
    }
}
