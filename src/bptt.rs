//! Truncated backpropagation through time over one chunk of B streams.
//!
//! Only the recurrence is sequential. Everything else in a chunk is done for
//! all T·B steps at once, as small matrix products:
//!
//! ```text
//! forward, t = 0..T:   A_t = gather(Wxh, x_t) + bh + H_{t-1} · Whhᵀ     (B×Hp)
//!                      H_t = tanh(A_t)
//! all steps at once:   Y  = H · Whyᵀ + by                               (TB×Vp)
//!                      DY = softmax(Y) - onehot(targets), loss = Σ -ln p
//!                      dWhy += DYᵀ · H    dby += Σ_rows DY    DH = DY · Why
//! backward, t = T..0:  DR_t = (1 - H_t²) ⊙ (DH_t + G_{t+1});  G_t = DR_t · Whh
//! all steps at once:   dWhh += DRᵀ · H_prev   dbh += Σ_rows DR   dWxh[x] += DR rows
//! ```
//!
//! Rows are time-major: row `t·B + b` holds step t of stream b. Streams may
//! end early (the last chunk of an epoch is short): their rows past the end
//! get the input id 0 and a zero `dy`, so they add nothing to any gradient.

use std::ops::Range;

use crate::kernels::{self, MatMut, MatRef};
use crate::layout::{Layout, Tensors};

/// Buffers for one chunk of `streams` streams of up to `seq_len` steps, and
/// the hidden state each stream carries from one chunk to the next.
#[derive(Clone, Debug)]
pub struct Bptt {
    layout: Layout,
    streams: usize,
    seq_len: usize,
    /// `(T+1)·B × Hp`: row `b` is the state before the chunk, row `(t+1)·B + b` is h_t.
    hs: Vec<f32>,
    /// `T·B × Vp`: logits, then `dy`.
    ys: Vec<f32>,
    /// `T·B × Hp`: `Whyᵀ dy`, then `dr`.
    dh: Vec<f32>,
    /// `B × Hp`: `Whhᵀ dr_{t+1}`, the gradient flowing into h_t from the future.
    dh_next: Vec<f32>,
    /// `B × Hp`: the carried hidden state of each stream.
    state: Vec<f32>,
    /// Input and target ids of each row, and the number of steps of each stream.
    inputs: Vec<u16>,
    targets: Vec<u16>,
    lens: Vec<usize>,
}

/// Summed loss (nats) and number of predictions of one chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChunkLoss {
    pub sum: f64,
    pub count: usize,
}

impl ChunkLoss {
    /// Mean loss per prediction, nats (0 for no predictions).
    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }
}

impl std::ops::AddAssign for ChunkLoss {
    fn add_assign(&mut self, other: ChunkLoss) {
        self.sum += other.sum;
        self.count += other.count;
    }
}

impl Bptt {
    /// Buffers for `streams` streams and chunks of up to `seq_len` steps, all
    /// hidden states zero.
    pub fn new(layout: Layout, streams: usize, seq_len: usize) -> Bptt {
        assert!(
            streams > 0 && seq_len > 0,
            "streams and seq_len must be positive"
        );
        let (hp, vp) = (layout.hp, layout.vp);
        let rows = seq_len * streams;
        Bptt {
            layout,
            streams,
            seq_len,
            hs: vec![0.0; (seq_len + 1) * streams * hp],
            ys: vec![0.0; rows * vp],
            dh: vec![0.0; rows * hp],
            dh_next: vec![0.0; streams * hp],
            state: vec![0.0; streams * hp],
            inputs: vec![0; rows],
            targets: vec![0; rows],
            lens: vec![0; streams],
        }
    }

    /// Sets every stream's hidden state to zero.
    pub fn reset_state(&mut self) {
        self.state.fill(0.0);
    }

    /// The carried hidden state of stream `b` (length Hp, pad zero).
    pub fn state(&self, b: usize) -> &[f32] {
        let hp = self.layout.hp;
        &self.state[b * hp..(b + 1) * hp]
    }

    /// Sets the carried hidden state of stream `b`.
    pub fn set_state(&mut self, b: usize, h: &[f32]) {
        let hp = self.layout.hp;
        self.state[b * hp..(b + 1) * hp].copy_from_slice(h);
    }

    /// Forward pass over one chunk per stream: stream b reads `ids[chunks[b]]`,
    /// T_b + 1 ids (inputs `[..T_b]`, targets `[1..]`; fewer than 2 ids: the
    /// stream idles). Leaves `dy` in `ys` for [`Bptt::backward`], advances the
    /// carried states, and returns the summed loss.
    pub fn forward(&mut self, weights: &[f32], ids: &[u16], chunks: &[Range<usize>]) -> ChunkLoss {
        let steps = self.load_chunks(ids, chunks);
        let Layout { hp, vp, v, .. } = self.layout;
        let b_n = self.streams;
        let w = self.layout.split(weights);

        self.hs[..b_n * hp].copy_from_slice(&self.state);
        for t in 0..steps {
            let (prev, next) = self.hs.split_at_mut((t + 1) * b_n * hp);
            let h_prev = &prev[t * b_n * hp..];
            let h_next = &mut next[..b_n * hp];
            for b in 0..b_n {
                let x = self.inputs[t * b_n + b] as usize;
                kernels::add(
                    &mut h_next[b * hp..(b + 1) * hp],
                    &w.wxh[x * hp..(x + 1) * hp],
                    w.bh,
                );
            }
            kernels::gemm_nt(
                MatRef::dense(h_prev, b_n, hp),
                MatRef::dense(w.whh, hp, hp),
                &mut MatMut::dense(h_next, b_n, hp),
            );
            kernels::tanh(h_next);
        }

        let rows = steps * b_n;
        let ys = &mut self.ys[..rows * vp];
        for y in ys.chunks_exact_mut(vp) {
            y.copy_from_slice(w.by);
        }
        let hs = &self.hs[b_n * hp..(steps + 1) * b_n * hp];
        kernels::gemm_nt(
            MatRef::dense(hs, rows, hp),
            MatRef::dense(w.why, vp, hp),
            &mut MatMut::dense(ys, rows, vp),
        );

        let mut loss = ChunkLoss::default();
        for (row, y) in ys.chunks_exact_mut(vp).enumerate() {
            let (t, b) = (row / b_n, row % b_n);
            if t < self.lens[b] {
                loss.sum += kernels::softmax_xent(&mut y[..v], self.targets[row] as usize) as f64;
                loss.count += 1;
            } else {
                y.fill(0.0);
            }
        }

        for b in 0..b_n {
            let t_b = self.lens[b];
            if t_b > 0 {
                let row = (t_b * b_n + b) * hp;
                self.state[b * hp..(b + 1) * hp].copy_from_slice(&self.hs[row..row + hp]);
            }
        }
        loss
    }

    /// Backward pass of the chunk last given to [`Bptt::forward`] (with the
    /// same weights): adds the summed gradients into `grads` (same layout).
    pub fn backward(&mut self, weights: &[f32], grads: &mut [f32]) {
        let Layout { hp, vp, .. } = self.layout;
        let b_n = self.streams;
        let steps = self.lens.iter().copied().max().unwrap_or(0);
        if steps == 0 {
            return;
        }
        let rows = steps * b_n;
        let w = self.layout.split(weights);
        let Tensors {
            wxh: dwxh,
            whh: dwhh,
            why: dwhy,
            bh: dbh,
            by: dby,
        } = self.layout.split_mut(grads);
        let ys = &self.ys[..rows * vp];
        let hs = &self.hs[..(steps + 1) * b_n * hp];
        let dh = &mut self.dh[..rows * hp];

        // Output layer, all steps at once.
        dh.fill(0.0);
        kernels::gemm_nn(
            MatRef::dense(ys, rows, vp),
            MatRef::dense(w.why, vp, hp),
            &mut MatMut::dense(dh, rows, hp),
        );
        kernels::gemm_tn(
            MatRef::dense(ys, rows, vp),
            MatRef::dense(&hs[b_n * hp..], rows, hp),
            &mut MatMut::dense(dwhy, vp, hp),
        );
        for dy in ys.chunks_exact(vp) {
            kernels::add_assign(dby, dy);
        }

        // The recurrence, backwards in time.
        self.dh_next.fill(0.0);
        for t in (0..steps).rev() {
            let dr = &mut dh[t * b_n * hp..(t + 1) * b_n * hp];
            kernels::add_assign(dr, &self.dh_next);
            kernels::tanh_backward(&hs[(t + 1) * b_n * hp..(t + 2) * b_n * hp], dr);
            if t > 0 {
                self.dh_next.fill(0.0);
                kernels::gemm_nn(
                    MatRef::dense(dr, b_n, hp),
                    MatRef::dense(w.whh, hp, hp),
                    &mut MatMut::dense(&mut self.dh_next, b_n, hp),
                );
            }
        }

        // Weight gradients of the recurrence and the input, all steps at once.
        kernels::gemm_tn(
            MatRef::dense(dh, rows, hp),
            MatRef::dense(hs, rows, hp),
            &mut MatMut::dense(dwhh, hp, hp),
        );
        for (row, dr) in dh.chunks_exact(hp).enumerate() {
            let (t, b) = (row / b_n, row % b_n);
            if t < self.lens[b] {
                kernels::add_assign(dbh, dr);
                let x = self.inputs[row] as usize;
                kernels::add_assign(&mut dwxh[x * hp..(x + 1) * hp], dr);
            }
        }
    }

    /// Copies the chunks' ids into the row-major input and target tables and
    /// returns the number of steps (the longest chunk).
    fn load_chunks(&mut self, ids: &[u16], chunks: &[Range<usize>]) -> usize {
        assert_eq!(chunks.len(), self.streams, "one chunk per stream");
        let b_n = self.streams;
        for (b, chunk) in chunks.iter().enumerate() {
            let t_b = chunk.len().saturating_sub(1);
            assert!(t_b <= self.seq_len, "chunk longer than seq_len + 1");
            self.lens[b] = t_b;
        }
        let steps = self.lens.iter().copied().max().unwrap_or(0);
        for t in 0..steps {
            for (b, range) in chunks.iter().enumerate() {
                let chunk = &ids[range.clone()];
                let row = t * b_n + b;
                let active = t < self.lens[b];
                self.inputs[row] = if active { chunk[t] } else { 0 };
                self.targets[row] = if active { chunk[t + 1] } else { 0 };
            }
        }
        steps
    }
}
