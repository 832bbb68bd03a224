//! Where each parameter tensor lives in one flat `f32` buffer.
//!
//! Parameters, gradients and optimizer state share this layout, so zeroing,
//! clipping and the update are each one flat loop (as llm.c does). Internally
//! the tensors are stored for the kernels, not in the article's orientation:
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

use crate::kernels::LANES;

/// Sizes of a model: hidden size H, vocabulary size V and their padded widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub h: usize,
    pub v: usize,
    pub hp: usize,
    pub vp: usize,
}

/// One value per parameter tensor (a slice, a shape, an offset...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tensors<T> {
    pub wxh: T,
    pub whh: T,
    pub why: T,
    pub bh: T,
    pub by: T,
}

impl Layout {
    /// The layout of a model with `h` hidden units and `v` characters.
    pub fn new(h: usize, v: usize) -> Layout {
        Layout {
            h,
            v,
            hp: h.next_multiple_of(LANES),
            vp: v.next_multiple_of(LANES),
        }
    }

    /// Lengths of the five views, in buffer order.
    pub fn lens(&self) -> Tensors<usize> {
        Tensors {
            wxh: self.v * self.hp,
            whh: self.hp * self.hp,
            why: self.vp * self.hp,
            bh: self.hp,
            by: self.vp,
        }
    }

    /// Total length of the flat buffer.
    pub fn len(&self) -> usize {
        let l = self.lens();
        l.wxh + l.whh + l.why + l.bh + l.by
    }

    /// Always false: a layout has at least one parameter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zeroed buffer of this layout.
    pub fn zeros(&self) -> Vec<f32> {
        vec![0.0; self.len()]
    }

    /// Named read-only views of a flat buffer of this layout.
    pub fn split<'a>(&self, buf: &'a [f32]) -> Tensors<&'a [f32]> {
        assert_eq!(buf.len(), self.len(), "buffer does not match the layout");
        let l = self.lens();
        let (wxh, rest) = buf.split_at(l.wxh);
        let (whh, rest) = rest.split_at(l.whh);
        let (why, rest) = rest.split_at(l.why);
        let (bh, by) = rest.split_at(l.bh);
        Tensors {
            wxh,
            whh,
            why,
            bh,
            by,
        }
    }

    /// Named mutable views of a flat buffer of this layout.
    pub fn split_mut<'a>(&self, buf: &'a mut [f32]) -> Tensors<&'a mut [f32]> {
        assert_eq!(buf.len(), self.len(), "buffer does not match the layout");
        let l = self.lens();
        let (wxh, rest) = buf.split_at_mut(l.wxh);
        let (whh, rest) = rest.split_at_mut(l.whh);
        let (why, rest) = rest.split_at_mut(l.why);
        let (bh, by) = rest.split_at_mut(l.bh);
        Tensors {
            wxh,
            whh,
            why,
            bh,
            by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_tile_the_buffer() {
        let l = Layout::new(100, 65);
        assert_eq!(l.hp % LANES, 0);
        assert!(l.hp >= 100 && l.hp < 100 + LANES);
        assert!(l.vp >= 65 && l.vp < 65 + LANES);
        let mut buf = l.zeros();
        let t = l.split_mut(&mut buf);
        assert_eq!(t.wxh.len(), 65 * l.hp);
        assert_eq!(t.whh.len(), l.hp * l.hp);
        assert_eq!(t.why.len(), l.vp * l.hp);
        assert_eq!(t.bh.len(), l.hp);
        assert_eq!(t.by.len(), l.vp);
        t.by[l.vp - 1] = 1.0;
        assert_eq!(buf[l.len() - 1], 1.0);
    }
}
