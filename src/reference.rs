//! The scalar reference: the article's forward and backward pass, written
//! step by step in `f64` exactly as the article states it, with the tensors
//! in the article's orientation and no padding. It is slow on purpose; it is
//! the oracle that the fast engine and the finite-difference check compare
//! against.
//!
//! ```text
//! a_t = Wxh[:, x_t] + Whh h_{t-1} + bh      h_t = tanh(a_t)
//! y_t = Why h_t + by    p_t = softmax(y_t)   loss = Σ_t -ln p_t[x_{t+1}]
//!
//! dy_t = p_t - onehot(x_{t+1})     dWhy += dy_t h_tᵀ     dby += dy_t
//! dh_t = Whyᵀ dy_t + dh_next       dr_t = (1 - h_t²) ⊙ dh_t
//! dbh += dr_t   dWxh[:, x_t] += dr_t   dWhh += dr_t h_{t-1}ᵀ   dh_next = Whhᵀ dr_t
//! ```
//!
//! With dropout masks ([`RefMasks`], see [`crate::dropout`]): `a_t` takes
//! `Wxh[:, x_t] ⊙ m_t^in`, the readout `y_t = Why (h_t ⊙ m_t^out) + by`;
//! backward `dWhy += dy_t (h_t ⊙ m_t^out)ᵀ`, `dh_t = (Whyᵀ dy_t) ⊙ m_t^out +
//! dh_next`, `dWxh[:, x_t] += dr_t ⊙ m_t^in`.

// The reference is written index by index, as the equations are.
#![allow(clippy::needless_range_loop)]

use crate::layout::Layout;
use crate::model::Model;

/// Parameters (or gradients) in the article's orientation, flat, in the
/// order `Wxh [H,V]`, `Whh [H,H]`, `Why [V,H]`, `bh [H]`, `by [V]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefParams {
    pub h: usize,
    pub v: usize,
    pub data: Vec<f64>,
}

/// Where each article-oriented entry lives in [`RefParams::data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefIndex {
    pub h: usize,
    pub v: usize,
}

impl RefParams {
    /// Zeros for a model of `h` hidden units and `v` characters.
    pub fn zeros(h: usize, v: usize) -> RefParams {
        RefParams {
            h,
            v,
            data: vec![0.0; h * v + h * h + v * h + h + v],
        }
    }

    /// The article-oriented `f64` copy of an engine buffer (weights or gradients).
    pub fn from_engine(layout: &Layout, buf: &[f32]) -> RefParams {
        let (h, v, hp) = (layout.h, layout.v, layout.hp);
        let t = crate::cell::tanh::split(layout, buf);
        let mut p = RefParams::zeros(h, v);
        let px = p.ix();
        for i in 0..h {
            for x in 0..v {
                p.data[px.wxh(i, x)] = t.wxh[x * hp + i] as f64;
            }
            for j in 0..h {
                p.data[px.whh(i, j)] = t.whh[i * hp + j] as f64;
            }
            p.data[px.bh(i)] = t.bh[i] as f64;
        }
        for o in 0..v {
            for j in 0..h {
                p.data[px.why(o, j)] = t.why[o * hp + j] as f64;
            }
            p.data[px.by(o)] = t.by[o] as f64;
        }
        p
    }

    /// The article-oriented `f64` copy of a model's weights.
    pub fn from_model(model: &Model) -> RefParams {
        RefParams::from_engine(&model.layout, &model.weights)
    }

    /// The index helper of these parameters.
    pub fn ix(&self) -> RefIndex {
        RefIndex {
            h: self.h,
            v: self.v,
        }
    }
}

impl RefIndex {
    /// Index of `Wxh[i][x]`.
    pub fn wxh(&self, i: usize, x: usize) -> usize {
        i * self.v + x
    }
    /// Index of `Whh[i][j]`.
    pub fn whh(&self, i: usize, j: usize) -> usize {
        self.h * self.v + i * self.h + j
    }
    /// Index of `Why[o][j]`.
    pub fn why(&self, o: usize, j: usize) -> usize {
        self.h * self.v + self.h * self.h + o * self.h + j
    }
    /// Index of `bh[i]`.
    pub fn bh(&self, i: usize) -> usize {
        self.h * self.v + self.h * self.h + self.v * self.h + i
    }
    /// Index of `by[o]`.
    pub fn by(&self, o: usize) -> usize {
        self.bh(0) + self.h + o
    }
}

/// Dropout masks of one chunk: step t's input mask is `input[t·H..(t+1)·H]`
/// (on `Wxh[:, x_t]`), its output mask `output[t·H..]` (on `h_t` where it
/// feeds the readout); each value 0 or 1/(1-P).
#[derive(Clone, Debug, PartialEq)]
pub struct RefMasks {
    pub input: Vec<f64>,
    pub output: Vec<f64>,
}

/// Unit i of step t's input mask (1 without masks).
fn input_mask(m: Option<&RefMasks>, h: usize, t: usize, i: usize) -> f64 {
    m.map_or(1.0, |m| m.input[t * h + i])
}

/// `h_t` as the readout sees it: `h_t ⊙ m_t^out` (h_t without masks).
fn output_masked(m: Option<&RefMasks>, t: usize, h: &[f64]) -> Vec<f64> {
    let n = h.len();
    (0..n)
        .map(|i| h[i] * m.map_or(1.0, |m| m.output[t * n + i]))
        .collect()
}

/// One step of the recurrence: `tanh(Wxh[:, x] ⊙ m_t^in + Whh h + bh)`.
fn step(p: &RefParams, h_prev: &[f64], x: usize, m: Option<&RefMasks>, t: usize) -> Vec<f64> {
    let px = p.ix();
    (0..p.h)
        .map(|i| {
            let mut a = p.data[px.wxh(i, x)] * input_mask(m, p.h, t, i) + p.data[px.bh(i)];
            for (j, hj) in h_prev.iter().enumerate() {
                a += p.data[px.whh(i, j)] * hj;
            }
            a.tanh()
        })
        .collect()
}

/// `softmax(Why h + by)`.
pub fn probabilities(p: &RefParams, h: &[f64]) -> Vec<f64> {
    let px = p.ix();
    let y: Vec<f64> = (0..p.v)
        .map(|o| p.data[px.by(o)] + (0..p.h).map(|j| p.data[px.why(o, j)] * h[j]).sum::<f64>())
        .collect();
    let max = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = y.iter().map(|&yo| (yo - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|&eo| eo / sum).collect()
}

/// Forward pass over `ids`: the summed loss of predicting `ids[t+1]` from
/// `ids[..=t]`, starting from `h0`, and the last hidden state.
pub fn loss(p: &RefParams, h0: &[f64], ids: &[u16]) -> (f64, Vec<f64>) {
    loss_dropped(p, h0, ids, None)
}

/// [`loss`] through the dropout masks `masks` (one row per step), if any.
pub fn loss_dropped(
    p: &RefParams,
    h0: &[f64],
    ids: &[u16],
    masks: Option<&RefMasks>,
) -> (f64, Vec<f64>) {
    let mut h = h0.to_vec();
    let mut total = 0.0;
    for (t, w) in ids.windows(2).enumerate() {
        h = step(p, &h, w[0] as usize, masks, t);
        total -= probabilities(p, &output_masked(masks, t, &h))[w[1] as usize].ln();
    }
    (total, h)
}

/// Forward and backward pass over one chunk `ids` (T+1 characters) from `h0`:
/// the summed loss, the summed (unclipped) gradients and the last hidden state.
pub fn loss_and_grad(p: &RefParams, h0: &[f64], ids: &[u16]) -> (f64, RefParams, Vec<f64>) {
    loss_and_grad_dropped(p, h0, ids, None)
}

/// [`loss_and_grad`] through the dropout masks `masks`, if any.
pub fn loss_and_grad_dropped(
    p: &RefParams,
    h0: &[f64],
    ids: &[u16],
    masks: Option<&RefMasks>,
) -> (f64, RefParams, Vec<f64>) {
    let t_len = ids.len() - 1;
    let mut hs = vec![h0.to_vec()];
    let mut ps = Vec::with_capacity(t_len);
    let mut total = 0.0;
    for t in 0..t_len {
        let h = step(p, &hs[t], ids[t] as usize, masks, t);
        let prob = probabilities(p, &output_masked(masks, t, &h));
        total -= prob[ids[t + 1] as usize].ln();
        hs.push(h);
        ps.push(prob);
    }
    let mut g = RefParams::zeros(p.h, p.v);
    let (px, gx) = (p.ix(), g.ix());
    let mut dh_next = vec![0.0; p.h];
    for t in (0..t_len).rev() {
        let h = &hs[t + 1];
        let h_read = output_masked(masks, t, h);
        let h_prev = &hs[t];
        let mut dy = ps[t].clone();
        dy[ids[t + 1] as usize] -= 1.0;
        let mut dh_read = vec![0.0; p.h];
        for o in 0..p.v {
            for j in 0..p.h {
                g.data[gx.why(o, j)] += dy[o] * h_read[j];
                dh_read[j] += p.data[px.why(o, j)] * dy[o];
            }
            g.data[gx.by(o)] += dy[o];
        }
        let dh_read = output_masked(masks, t, &dh_read);
        let dh: Vec<f64> = (0..p.h).map(|j| dh_next[j] + dh_read[j]).collect();
        let dr: Vec<f64> = (0..p.h).map(|i| (1.0 - h[i] * h[i]) * dh[i]).collect();
        let x = ids[t] as usize;
        for i in 0..p.h {
            g.data[gx.bh(i)] += dr[i];
            g.data[gx.wxh(i, x)] += dr[i] * input_mask(masks, p.h, t, i);
            for j in 0..p.h {
                g.data[gx.whh(i, j)] += dr[i] * h_prev[j];
            }
        }
        dh_next = (0..p.h)
            .map(|j| (0..p.h).map(|i| p.data[px.whh(i, j)] * dr[i]).sum())
            .collect();
    }
    let h_last = hs.pop().expect("at least the initial state");
    (total, g, h_last)
}
