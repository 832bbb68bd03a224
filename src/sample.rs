//! Generating text from a model, one character at a time: the cell's step
//! (tanh: `h = tanh(Wxh[:, x] + Whh h + bh)`; stacked, each layer above
//! the first steps on the h of the one below), `p = softmax((Why h + by) /
//! temperature)` of the top layer's h, and the next character drawn from p
//! (or its most likely one).

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
    /// Each layer's state row (the cell's state width), and the next one.
    h: Vec<AlignedVec>,
    h_next: AlignedVec,
    /// A layer above the first's input product (G·Hp; empty for one layer).
    xw: AlignedVec,
    logits: AlignedVec,
    rng: Xoshiro256PlusPlus,
    /// Characters fed so far (the step index the cell is given).
    fed: usize,
}

impl<'m> Sampler<'m> {
    /// A sampler with a zero hidden state and its generator seeded with `seed`.
    pub fn new(model: &'m Model, seed: u64) -> Sampler<'m> {
        let l = model.layout;
        let width = l.cell().state_width(&l);
        let mut prepared = aligned::zeros(l.cell().prepared_len(&l, 1));
        l.cell().prepare(&l, &model.weights, 1, &mut prepared);
        Sampler {
            model,
            prepared,
            h: (0..l.layers).map(|_| aligned::zeros(width)).collect(),
            h_next: aligned::zeros(width),
            xw: aligned::zeros(if l.layers > 1 { l.input_width() } else { 0 }),
            logits: aligned::zeros(l.vp),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            fed: 0,
        }
    }

    /// Replaces the carried state ([`crate::layout::Layout::carried_width`]
    /// values, as [`crate::trainer::Trainer::last_state`] gives: each
    /// layer's carried parts, layer 0's first).
    pub fn set_state(&mut self, h: &[f32]) {
        let each = h.len() / self.h.len();
        for (row, part) in self.h.iter_mut().zip(h.chunks_exact(each)) {
            row[..each].copy_from_slice(part);
        }
    }

    /// Reads character `id`: advances the hidden state and computes the
    /// logits of the character after it.
    pub fn feed(&mut self, id: u16) {
        let l = self.model.layout;
        let cell = l.cell();
        let w = &self.model.weights;
        let t = self.fed;
        self.fed = self.fed.wrapping_add(1);
        cell.step(
            &l,
            t,
            w,
            &self.prepared,
            &[id],
            &self.h[0],
            &mut self.h_next,
        );
        std::mem::swap(&mut self.h[0], &mut self.h_next);
        for k in 1..l.layers {
            let below = &self.h[k - 1][..l.hp];
            cell.input_product(&l, k, w, below, 1, &mut self.xw);
            let prev = &self.h[k];
            cell.step_above(
                &l,
                t,
                k,
                w,
                &self.prepared,
                &self.xw,
                prev,
                &mut self.h_next,
            );
            std::mem::swap(&mut self.h[k], &mut self.h_next);
        }
        let (why, by) = cell.readout(&l, w);
        self.logits.copy_from_slice(by);
        kernels::gemm_nt(
            MatRef::dense(&self.h[l.layers - 1][..l.hp], 1, l.hp),
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
            // A total order, so the k first are the same set whatever the
            // method: a selection (linear) in place of a sort.
            let mut order: Vec<usize> = (0..y.len()).collect();
            order.select_nth_unstable_by(k, |&a, &b| y[b].total_cmp(&y[a]).then(a.cmp(&b)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InitKind;
    use crate::gated_reference::{self, FileParams};
    use crate::layout::CellKind;
    use crate::vocab::Vocab;

    /// Stepping a stacked model character by character gives the logits of
    /// the reference's forward pass: the summed -ln p of each next
    /// character matches its loss, and the state after matches too.
    #[test]
    fn stacked_sampler_steps_as_the_reference() {
        let vocab = Vocab::from_chars("abcdefg".chars().collect()).unwrap();
        let ids: Vec<u16> = [0, 3, 6, 1, 1, 5, 2, 4, 0, 6, 3].to_vec();
        for (cell, layers) in [(CellKind::Lstm, 3), (CellKind::Gru, 2)] {
            let model = Model::init_cell(cell, layers, vocab.clone(), 9, 4, InitKind::Article);
            let mut sampler = Sampler::new(&model, 0);
            let mut total = 0.0;
            for w in ids.windows(2) {
                sampler.feed(w[0]);
                let y: Vec<f64> = sampler.logits[..7].iter().map(|&x| x as f64).collect();
                let max = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = y.iter().map(|&v| (v - max).exp()).sum();
                total += max + sum.ln() - y[w[1] as usize];
            }
            let l = model.layout;
            let p = FileParams::from_engine(&l, &model.weights);
            let zero = vec![vec![0.0; l.h]; l.carried_parts().len()];
            let (want, state) = gated_reference::loss(&p, &zero, &ids, None);
            assert!(
                (total - want).abs() < 1e-5 * want,
                "{cell}: {total} vs {want}"
            );
            let parts = l.cell().carried().len();
            for (i, s) in state.iter().enumerate() {
                let row = &sampler.h[i / parts][(i % parts) * l.hp..];
                for (j, want) in s.iter().enumerate() {
                    assert!(
                        (row[j] as f64 - want).abs() < 1e-5,
                        "{cell}: part {i} unit {j}"
                    );
                }
            }
        }
    }
}
