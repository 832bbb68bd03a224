//! A model: its vocabulary, its sizes and its weights in one flat buffer.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::layout::{Init, Layout};
use crate::vocab::Vocab;

/// A character-level tanh RNN: `h_t = tanh(Wxh[:, x_t] + Whh h_{t-1} + bh)`,
/// `p_t = softmax(Why h_t + by)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub vocab: Vocab,
    pub layout: Layout,
    /// The flat parameter buffer, see [`Layout`].
    pub weights: Vec<f32>,
}

impl Model {
    /// The article's initialisation: every weight drawn from N(0, 1/fan_in)
    /// (tanh cell: Wxh 1/V, Whh and Why 1/H), biases zero, drawn tensor by
    /// tensor in the cell's order, each row-major in the article's
    /// orientation, from a xoshiro256++ generator seeded with `seed`.
    pub fn init(vocab: Vocab, hidden: usize, seed: u64) -> Model {
        let layout = Layout::new(hidden, vocab.len());
        let mut weights = layout.zeros();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        for (at, spec) in layout.offsets() {
            let Init::Normal { fan_in } = spec.init else {
                continue;
            };
            let std = (1.0 / fan_in.logical(&layout) as f64).sqrt();
            let n: usize = spec.file_shape(&layout).iter().product();
            for k in 0..n {
                let z: f64 = StandardNormal.sample(&mut rng);
                weights[at + spec.stored_index(&layout, k)] = (z * std) as f32;
            }
        }
        Model {
            vocab,
            layout,
            weights,
        }
    }

    /// Hidden size H.
    pub fn hidden(&self) -> usize {
        self.layout.h
    }

    /// True when every weight is a finite number.
    pub fn is_finite(&self) -> bool {
        self.weights.iter().all(|w| w.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_seeded_and_keeps_pad_zero() {
        let vocab = Vocab::from_text("abcdefghij").unwrap();
        let a = Model::init(vocab.clone(), 13, 7);
        let b = Model::init(vocab.clone(), 13, 7);
        let c = Model::init(vocab, 13, 8);
        assert_eq!(a.weights, b.weights);
        assert_ne!(a.weights, c.weights);
        let l = a.layout;
        let t = crate::cell::tanh::split(&l, &a.weights);
        for i in 0..l.hp {
            for j in 0..l.hp {
                let w = t.whh[i * l.hp + j];
                assert_eq!(w == 0.0, i >= l.h || j >= l.h, "whh[{i}][{j}] = {w}");
            }
        }
        assert!(t.bh.iter().chain(t.by.iter()).all(|&b| b == 0.0));
        // Whh ~ N(0, 1/H): the sample variance is near 1/13.
        let n = (l.h * l.h) as f32;
        let var: f32 = t.whh.iter().map(|w| w * w).sum::<f32>() / n;
        assert!((var - 1.0 / 13.0).abs() < 0.03, "variance {var}");
    }
}
