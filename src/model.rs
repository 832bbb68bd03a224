//! A model: its vocabulary, its sizes and its weights in one flat buffer,
//! and how the weights are first drawn ([`InitKind`]).
//!
//! Every scheme draws from one xoshiro256++ generator seeded with the seed,
//! tensor by tensor in the cell's order, each in the article's orientation,
//! row-major; biases are zero. With H hidden units and V characters:
//!
//! ```text
//! article:     W ~ N(0, 1/fan_in)          Wxh 1/V, Whh 1/H, Why 1/H
//! uniform:     W ~ U(-1/√H, 1/√H)          every weight (PyTorch's nn.RNN, and
//!                                          nn.Linear's default for Why, fan_in H)
//! orthogonal:  Whh = Q,  A = L·Q            A the article's N(0, 1/H) draw of Whh,
//!                                          L lower triangular with a positive
//!                                          diagonal (Gram-Schmidt on A's rows, f64)
//! identity:    Whh = s·I,  s = 1.0          (IRNN, Le et al. 2015)
//! ```
//!
//! `orthogonal` and `identity` draw Whh's Gaussian values too (identity then
//! drops them), so their Wxh and Why are the article's own, value for value:
//! only Whh differs. A is Gaussian with independent entries, so its rows'
//! Gram-Schmidt basis Q (equivalently, the QR factorisation of Aᵀ with R's
//! diagonal made positive, the "sign correction") is uniformly distributed
//! (Haar) over the orthogonal matrices; its scale does not matter. PyTorch's
//! nn.RNN has two bias vectors (`b_ih`, `b_hh`), each U(-1/√H, 1/√H); this
//! cell has one, `bh`, and `uniform` leaves it (and `by`) at zero as every
//! scheme does. Orthogonalising costs about 2H³ flops (a second at H 1024).

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal, StandardUniform};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::InitKind;
use crate::kernels::aligned::AlignedVec;
use crate::layout::{CellKind, Init, Layout};
use crate::vocab::Vocab;

/// The scale s of `identity`'s `Whh = s·I`.
pub const IDENTITY_SCALE: f32 = 1.0;

/// A character-level RNN language model of the layout's cell (the
/// article's: `h_t = tanh(Wxh[:, x_t] + Whh h_{t-1} + bh)`), read out as
/// `p_t = softmax(Why h_t + by)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub vocab: Vocab,
    pub layout: Layout,
    /// The flat parameter buffer, see [`Layout`].
    pub weights: AlignedVec,
}

impl Model {
    /// A model with its weights drawn by `init` (see the module's table)
    /// from a xoshiro256++ generator seeded with `seed`. The article's
    /// scheme: every weight from N(0, 1/fan_in) (tanh cell: Wxh 1/V, Whh
    /// and Why 1/H), biases zero.
    pub fn init(vocab: Vocab, hidden: usize, seed: u64, init: InitKind) -> Model {
        Model::init_cell(CellKind::Tanh, 1, vocab, hidden, seed, init)
    }

    /// [`Model::init`] for a model of `cell`. A gated cell's stacked
    /// `weight_hh_l0 [G·H, H]` is G square blocks, one per gate, and
    /// `orthogonal` and `identity` make each block what they make the tanh
    /// cell's `Whh`, and so for each layer's `weight_hh_l{k}` of a model of
    /// `layers` layers.
    pub fn init_cell(
        cell: CellKind,
        layers: usize,
        vocab: Vocab,
        hidden: usize,
        seed: u64,
        init: InitKind,
    ) -> Model {
        let layout = Layout::stacked(cell, layers, hidden, vocab.len());
        let mut weights = layout.zeros();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let recurrent: Vec<&str> = (0..layers)
            .map(|k| layout.cell().recurrent_tensor(k))
            .collect();
        for (at, spec) in layout.offsets() {
            let Init::Normal { fan_in } = spec.init else {
                continue;
            };
            let n: usize = spec.file_shape(&layout).iter().product();
            let values: Vec<f64> = match init {
                InitKind::Uniform => {
                    let bound = 1.0 / (layout.h as f64).sqrt();
                    (0..n)
                        .map(|_| {
                            let u: f64 = StandardUniform.sample(&mut rng);
                            bound * (2.0 * u - 1.0)
                        })
                        .collect()
                }
                _ => {
                    let std = (1.0 / fan_in.logical(&layout) as f64).sqrt();
                    let mut z: Vec<f64> = (0..n)
                        .map(|_| {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            z * std
                        })
                        .collect();
                    if recurrent.contains(&spec.name) {
                        let h = layout.h;
                        for block in z.chunks_exact_mut(h * h) {
                            match init {
                                InitKind::Orthogonal => orthonormalise_rows(block, h),
                                InitKind::Identity => identity(block, h),
                                InitKind::Article | InitKind::Uniform => {}
                            }
                        }
                    }
                    z
                }
            };
            for (k, x) in values.into_iter().enumerate() {
                weights[at + spec.stored_index(&layout, k)] = x as f32;
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

/// Replaces the `n × n` row-major matrix `a` by the orthonormal rows that
/// modified Gram-Schmidt makes of its rows, in order, each orthogonalised
/// twice ("twice is enough": orthogonal to rounding even for an
/// ill-conditioned `a`). Row i of the result is row i of `a` less its
/// projections on the rows before, normalised: `a = L·Q` with L lower
/// triangular and a positive diagonal.
fn orthonormalise_rows(a: &mut [f64], n: usize) {
    for i in 0..n {
        let (done, rest) = a.split_at_mut(i * n);
        let row = &mut rest[..n];
        for _ in 0..2 {
            for q in done.chunks_exact(n) {
                let dot: f64 = q.iter().zip(row.iter()).map(|(x, y)| x * y).sum();
                for (r, x) in row.iter_mut().zip(q) {
                    *r -= dot * x;
                }
            }
        }
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        for r in row.iter_mut() {
            *r /= norm;
        }
    }
}

/// Sets the `n × n` row-major matrix `a` to [`IDENTITY_SCALE`]`·I`.
fn identity(a: &mut [f64], n: usize) {
    a.fill(0.0);
    for i in 0..n {
        a[i * n + i] = IDENTITY_SCALE as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_seeded_and_keeps_pad_zero() {
        let vocab = Vocab::from_text("abcdefghij").unwrap();
        let a = Model::init(vocab.clone(), 13, 7, InitKind::Article);
        let b = Model::init(vocab.clone(), 13, 7, InitKind::Article);
        let c = Model::init(vocab, 13, 8, InitKind::Article);
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

    /// FNV-1a over the weights' bits.
    fn hash(m: &Model) -> u64 {
        m.weights.iter().fold(0xcbf2_9ce4_8422_2325, |h, w| {
            (h ^ w.to_bits() as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// The Whh of `m` in the article's orientation, unpadded, as f64.
    fn whh(m: &Model) -> Vec<f64> {
        let l = m.layout;
        let t = crate::cell::tanh::split(&l, &m.weights);
        (0..l.h * l.h)
            .map(|k| t.whh[(k / l.h) * l.hp + k % l.h] as f64)
            .collect()
    }

    /// Every weight of the article's scheme, bit for bit as the code
    /// before the other schemes drew them (hash recorded from it).
    #[test]
    fn article_init_is_unchanged() {
        let vocab = Vocab::from_text("abcdefghij").unwrap();
        let m = Model::init(vocab, 13, 7, InitKind::Article);
        assert_eq!(hash(&m), 0x469f_40f6_0e48_477a);
    }

    #[test]
    fn orthogonal_whh_is_orthogonal_and_the_rest_is_the_articles() {
        let vocab = Vocab::from_text("abcdefghij").unwrap();
        let h = 37;
        let m = Model::init(vocab.clone(), h, 3, InitKind::Orthogonal);
        let w = whh(&m);
        for i in 0..h {
            for j in 0..h {
                let dot: f64 = (0..h).map(|k| w[k * h + i] * w[k * h + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "(WhhᵀWhh)[{i}][{j}] = {dot}");
            }
        }
        assert_eq!(m, Model::init(vocab.clone(), h, 3, InitKind::Orthogonal));
        assert_ne!(m, Model::init(vocab.clone(), h, 4, InitKind::Orthogonal));
        // Wxh and Why are the article's, value for value; biases and pad zero.
        let a = Model::init(vocab, h, 3, InitKind::Article);
        let l = m.layout;
        let (t, ta) = (
            crate::cell::tanh::split(&l, &m.weights),
            crate::cell::tanh::split(&l, &a.weights),
        );
        assert_eq!((t.wxh, t.why), (ta.wxh, ta.why));
        assert!(t.bh.iter().chain(t.by.iter()).all(|&b| b == 0.0));
        assert!((h..l.hp).all(|j| t.whh[j] == 0.0 && t.whh[j * l.hp] == 0.0));
    }

    #[test]
    fn identity_whh_is_exactly_the_identity() {
        let vocab = Vocab::from_text("abcdefghij").unwrap();
        let m = Model::init(vocab.clone(), 13, 7, InitKind::Identity);
        let l = m.layout;
        let t = crate::cell::tanh::split(&l, &m.weights);
        for i in 0..l.hp {
            for j in 0..l.hp {
                let want = if i == j && i < l.h {
                    IDENTITY_SCALE
                } else {
                    0.0
                };
                assert_eq!(t.whh[i * l.hp + j], want, "whh[{i}][{j}]");
            }
        }
        let a = Model::init(vocab, 13, 7, InitKind::Article);
        let ta = crate::cell::tanh::split(&l, &a.weights);
        assert_eq!((t.wxh, t.why), (ta.wxh, ta.why));
    }

    #[test]
    fn uniform_weights_stay_within_the_bound_and_look_uniform() {
        let vocab = Vocab::from_text("abcdefghij").unwrap();
        let h = 64;
        let m = Model::init(vocab.clone(), h, 7, InitKind::Uniform);
        assert_eq!(m, Model::init(vocab, h, 7, InitKind::Uniform));
        let bound = (1.0 / (h as f64).sqrt()) as f32;
        let l = m.layout;
        let t = crate::cell::tanh::split(&l, &m.weights);
        let mut all = Vec::new();
        for (rows, cols, w) in [(l.v, l.h, t.wxh), (l.h, l.h, t.whh), (l.v, l.h, t.why)] {
            for i in 0..rows {
                for j in 0..cols {
                    all.push(w[i * l.hp + j]);
                }
            }
        }
        assert!(
            all.iter().all(|w| w.abs() <= bound),
            "a weight beyond ±{bound}"
        );
        let n = all.len() as f64;
        let mean = all.iter().map(|&w| w as f64).sum::<f64>() / n;
        let var = all.iter().map(|&w| (w as f64 - mean).powi(2)).sum::<f64>() / n;
        // U(-b, b): mean 0, variance b²/3 (n = 5376, so within a few percent).
        let b = bound as f64;
        assert!(mean.abs() < 0.05 * b, "mean {mean}");
        assert!((var / (b * b / 3.0) - 1.0).abs() < 0.05, "variance {var}");
        // Both halves of the interval are used.
        assert!(all.iter().any(|&w| w > 0.9 * bound) && all.iter().any(|&w| w < -0.9 * bound));
        assert!(t.bh.iter().chain(t.by.iter()).all(|&b| b == 0.0));
    }
}
