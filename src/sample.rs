//! Generating text from a model, one character at a time: the cell's step
//! (tanh: `h = tanh(Wxh[:, x] + Whh h + bh)`), `p = softmax((Why h + by) /
//! temperature)`, and the next character drawn from p (or its most likely
//! one).

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::kernels::aligned::{self, AlignedVec};
use crate::kernels::{self, MatMut, MatRef};
use crate::model::Model;

/// How the next character is chosen from the model's distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pick {
    /// The most likely character (ties: the lowest id).
    Argmax,
    /// A draw from `softmax(y / temperature)` (1 is the model's own
    /// distribution), over the `top_k` most likely characters when given.
    Draw {
        temperature: f32,
        top_k: Option<usize>,
    },
}

impl Pick {
    /// A draw from the model's own distribution (temperature 1, all characters).
    pub const MODEL: Pick = Pick::Draw {
        temperature: 1.0,
        top_k: None,
    };
}

/// A model's hidden state stepping through text.
#[derive(Clone, Debug)]
pub struct Sampler<'m> {
    model: &'m Model,
    /// The cell's prepared weights (the model does not change while sampling).
    prepared: AlignedVec,
    h: AlignedVec,
    h_next: AlignedVec,
    logits: AlignedVec,
    rng: Xoshiro256PlusPlus,
}

impl<'m> Sampler<'m> {
    /// A sampler with a zero hidden state and its generator seeded with `seed`.
    pub fn new(model: &'m Model, seed: u64) -> Sampler<'m> {
        let l = model.layout;
        let width = l.cell().state_width(&l);
        let mut prepared = aligned::zeros(l.cell().prepared_len(&l));
        l.cell().prepare(&l, &model.weights, &mut prepared);
        Sampler {
            model,
            prepared,
            h: aligned::zeros(width),
            h_next: aligned::zeros(width),
            logits: aligned::zeros(l.vp),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// Replaces the carried state ([`crate::layout::Layout::carried_width`]
    /// values, as [`crate::trainer::Trainer::last_state`] gives).
    pub fn set_state(&mut self, h: &[f32]) {
        self.h[..h.len()].copy_from_slice(h);
    }

    /// Reads character `id`: advances the hidden state and computes the
    /// logits of the character after it.
    pub fn feed(&mut self, id: u16) {
        let l = self.model.layout;
        let cell = l.cell();
        let w = &self.model.weights;
        cell.step(&l, w, &self.prepared, &[id], &self.h, &mut self.h_next);
        std::mem::swap(&mut self.h, &mut self.h_next);
        let (why, by) = cell.readout(&l, w);
        self.logits.copy_from_slice(by);
        kernels::gemm_nt(
            MatRef::dense(&self.h[..l.hp], 1, l.hp),
            MatRef::dense(why, l.vp, l.hp),
            &mut MatMut::dense(&mut self.logits, 1, l.vp),
        );
    }

    /// Chooses the next character from the logits of the last [`Sampler::feed`].
    pub fn pick(&mut self, pick: Pick) -> u16 {
        let y = &self.logits[..self.model.layout.v];
        let argmax = y
            .iter()
            .enumerate()
            .fold(0, |best, (i, &v)| if v > y[best] { i } else { best });
        let (temperature, top_k) = match pick {
            Pick::Argmax => return argmax as u16,
            Pick::Draw { temperature, top_k } => (temperature as f64, top_k),
        };
        let max = y[argmax] as f64;
        let mut weights: Vec<f64> = y
            .iter()
            .map(|&v| ((v as f64 - max) / temperature).exp())
            .collect();
        // With top-k, only the k most likely characters (ties: the lower ids) keep weight.
        if let Some(k) = top_k.filter(|&k| k < y.len()) {
            let mut order: Vec<usize> = (0..y.len()).collect();
            order.sort_by(|&a, &b| y[b].total_cmp(&y[a]).then(a.cmp(&b)));
            for &i in &order[k..] {
                weights[i] = 0.0;
            }
        }
        let total: f64 = weights.iter().sum();
        let mut u = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i as u16;
            }
            u -= w;
        }
        argmax as u16
    }

    /// Generates `len` characters after `prime` (ids, at least one), calling
    /// `emit` with each as it is produced.
    pub fn generate<E>(
        &mut self,
        prime: &[u16],
        len: usize,
        pick: Pick,
        mut emit: impl FnMut(u16) -> Result<(), E>,
    ) -> Result<(), E> {
        for &id in prime {
            self.feed(id);
        }
        for _ in 0..len {
            let id = self.pick(pick);
            emit(id)?;
            self.feed(id);
        }
        Ok(())
    }
}
