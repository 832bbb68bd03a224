//! Buffers aligned to a cache line (64 bytes), for every array the kernels
//! stream: weights, gradients, optimizer state, the prepared `Whhᵀ`, the
//! chunk's states and logits.
//!
//! A `Vec<f32>` is only 16-byte aligned (the allocator's minimum; large
//! allocations come back at 16 bytes past a page), so with rows of a
//! multiple of 16 floats every 64-byte AVX-512 load of a row straddled two
//! cache lines, which Intel cores serve at about half the rate of aligned
//! loads. Every padded row (Hp, Vp values: multiples of [`super::LANES`])
//! starts on a line when its buffer does. Measured on a Xeon (5th
//! generation, `rnn-fast bench`, H 256): one stream 83-87k → 101k chars/s,
//! 32 streams 214-222k → 224-241k; the arithmetic, and so every result, is
//! unchanged.

use std::ops::{Deref, DerefMut};

use aligned_vec::{AVec, ConstAlign};

/// The alignment of [`AlignedVec`]: one cache line.
pub const ALIGN: usize = 64;

/// An `f32` array starting on a cache line; derefs to `[f32]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignedVec(AVec<f32, ConstAlign<ALIGN>>);

/// `len` zeros, aligned.
pub fn zeros(len: usize) -> AlignedVec {
    AlignedVec(AVec::from_iter(ALIGN, std::iter::repeat_n(0.0, len)))
}

/// A copy of `values`, aligned.
pub fn from_slice(values: &[f32]) -> AlignedVec {
    AlignedVec(AVec::from_slice(ALIGN, values))
}

impl AlignedVec {
    /// Makes the length `len`, new values `value` (may reallocate, aligned).
    pub fn resize(&mut self, len: usize, value: f32) {
        self.0.resize(len, value);
    }
}

impl Default for AlignedVec {
    fn default() -> Self {
        zeros(0)
    }
}

impl Deref for AlignedVec {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl DerefMut for AlignedVec {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a AlignedVec {
    type Item = &'a f32;
    type IntoIter = std::slice::Iter<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_on_a_cache_line() {
        for len in [1, 15, 16, 1000, 1 << 20] {
            let z = zeros(len);
            assert_eq!(z.len(), len);
            assert!(z.iter().all(|&x| x == 0.0));
            assert_eq!(z.as_ptr().align_offset(ALIGN), 0, "zeros({len})");
            let values: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let c = from_slice(&values);
            assert_eq!(&c[..], &values[..]);
            assert_eq!(c.as_ptr().align_offset(ALIGN), 0, "from_slice of {len}");
            assert_eq!(c.clone().as_ptr().align_offset(ALIGN), 0, "a clone");
            let mut r = zeros(3);
            r.resize(len, 1.0);
            assert_eq!(r.len(), len);
            assert_eq!(r.as_ptr().align_offset(ALIGN), 0, "resized to {len}");
        }
    }
}
