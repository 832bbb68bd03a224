//! The training loop: truncated BPTT over the shards of a corpus, as the
//! article's `fit`, but training every character, on several threads.
//!
//! The corpus is cut into K contiguous shards, each read in
//! order in chunks of T characters with its own carried hidden state. The
//! shards are processed in groups of B streams (`Worker`s); each worker has
//! its own [`Bptt`] buffers and gradient buffer, and the workers run on a
//! rayon pool of `threads` threads.
//!
//! ```text
//! avg (deterministic):                     hogwild (lock-free):
//! for each step:                           each worker, in parallel, repeatedly:
//!     each worker, in parallel:                copy the shared weights
//!         grads_k = 0                          grads = 0; forward + backward of
//!         forward + backward of its                its next chunk
//!         next chunk (same weights)            update the shared weights with
//!     g = Σ_k grads_k (in k order)                 its own gradient (relaxed atomics)
//!     weights -= update(g)
//! ```
//!
//! `g` is scaled by 1/predictions (mean) or 1 (sum) and clamped to
//! [-clip, clip] before the update. With `avg` the result depends on the seed,
//! K and B, never on the thread count: each worker's gradient is computed the
//! same way whichever thread runs it, and the sum has a fixed order. Dropout
//! (`config.dropout` > 0) keeps it so: a chunk's masks are a hash of the
//! seed, the epoch and the positions it reads ([`crate::dropout`]). Hogwild
//! runs in rounds of [`HOGWILD_ROUND`] chunks per worker; the shared weights
//! and optimizer state are `AtomicU32` for the round (see
//! [`crate::optimizer::step_shared`]).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::bptt::{Bptt, ChunkLoss};
use crate::cell;
use crate::config::{GradReduce, LrSchedule, Parallel, TrainConfig};
use crate::corpus::Corpus;
use crate::dropout::MaskKey;
use crate::error::{Error, Result};
use crate::eval::{self, Score};
use crate::kernels::aligned::{self, AlignedVec};
use crate::model::Model;
use crate::optimizer::{self, Decay, Optimizer, Update};
use crate::resources;
use crate::schedule::{self, Plateau, Position};
use crate::shards::Shards;

/// Chunks each Hogwild worker trains between two synchronisation points.
pub const HOGWILD_ROUND: usize = 8;

/// What one epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's predictions, nats per character.
    pub loss: f64,
    /// Predictions made (characters trained).
    pub chars: usize,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// A group of B shards trained together: their read positions, BPTT
/// buffers (with their carried hidden states) and a gradient buffer.
#[derive(Debug)]
struct Worker {
    shards: Shards,
    /// The index of the group's first shard among all K (the dropout masks'
    /// key: stream b reads shard `first_shard + b`).
    first_shard: usize,
    ranges: Vec<Range<usize>>,
    bptt: Bptt,
    grads: AlignedVec,
    /// Whether `grads` is known to hold zeros: set where a consumer cleared
    /// it as it read it (the update, the sum of the groups), so that
    /// [`Worker::compute`] need not clear it again.
    grads_zero: bool,
    /// Hogwild: this worker's copy of the shared weights.
    snapshot: AlignedVec,
    /// Loss of the chunk(s) trained since the last collection.
    loss: ChunkLoss,
    /// False once every shard of the group is done for this epoch.
    active: bool,
}

impl Worker {
    /// Forward and backward of the group's next chunk against `weights`,
    /// into the gradient buffer, cleared first unless `grads_zero`; `None`
    /// when the group is done.
    /// An idle worker's gradient is zero, so it adds nothing to a sum.
    /// `prepared`: the cell's prepared form of `weights` and their `W_hh`
    /// packed for the backward pass ([`crate::cell::pack_back_panels`]) when
    /// made it (avg: once per step for all groups); else the group makes it.
    /// `dropout`: the step's mask key (its `first_shard` is this group's).
    fn compute(
        &mut self,
        weights: &[f32],
        prepared: Option<(&[f32], &[f32])>,
        ids: &[u16],
        dropout: Option<MaskKey>,
    ) -> Option<ChunkLoss> {
        if !self.grads_zero {
            self.grads.fill(0.0);
            self.grads_zero = true;
        }
        if !self.active || !self.shards.next_chunks(&mut self.ranges) {
            self.active = false;
            return None;
        }
        self.grads_zero = false;
        let key = dropout.map(|k| MaskKey {
            first_shard: self.first_shard as u64,
            ..k
        });
        let (step, back) = prepared.unzip();
        let loss = self
            .bptt
            .train_forward(weights, step, ids, &self.ranges, key.as_ref());
        match back {
            Some(back) => self.bptt.backward_prepared(weights, back, &mut self.grads),
            None => self.bptt.backward(weights, &mut self.grads),
        }
        Some(loss)
    }

    fn start_epoch(&mut self) {
        self.shards.rewind();
        self.bptt.reset_state();
        self.active = true;
    }
}

/// Everything besides the weights and the configuration that an exact
/// resume needs: where training stands and the optimizer's memory. (There
/// is no random state: training draws no random numbers after the
/// initialisation.) The optimizer's memory is owned (`Vec<f32>`: a
/// checkpoint read back) or borrowed from a trainer (`&[f32]`, for a save,
/// which then needs no copy of twice the weights).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState<O = Vec<f32>> {
    /// Epochs completed, and whether one is under way.
    pub epoch: usize,
    pub in_epoch: bool,
    /// Optimizer updates done, and its state (`m` then `v`, parameter layout).
    pub optimizer_steps: u64,
    pub optimizer: O,
    /// Each shard's read position.
    pub positions: Vec<usize>,
    /// Each shard's carried state, K rows of
    /// [`Layout::carried_width`](crate::layout::Layout::carried_width)
    /// (`h`, and an LSTM's `c` after it).
    pub hidden: Vec<f32>,
    /// The plateau schedule's memory (its default for other schedules).
    pub plateau: Plateau,
}

/// A model being trained on one corpus.
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    model: Model,
    optimizer: Optimizer,
    /// Locked only to hand each to its thread at the start of a step (uncontended).
    workers: Vec<Mutex<Worker>>,
    /// `None` with one thread: everything runs on the caller's thread.
    pool: Option<rayon::ThreadPool>,
    epoch: usize,
    in_epoch: bool,
    /// Characters one epoch trains.
    epoch_chars: usize,
    /// The plateau schedule's memory.
    plateau: Plateau,
    /// A step's loss was not finite: its update was skipped and training must stop.
    diverged: bool,
    /// The cell's prepared weights of the current step and their `W_hh`
    /// packed for the backward pass (avg: made once per step for every
    /// group).
    prepared: AlignedVec,
    back_panels: AlignedVec,
    /// Hogwild: the weights and optimizer state shared by the threads during
    /// a round (allocated at the first round).
    shared: Option<(Vec<AtomicU32>, Vec<AtomicU32>)>,
    /// The buffer's ranges that weight decay shrinks ([`crate::layout::Layout::decayed`]).
    decayed: Vec<Range<usize>>,
}

/// Refuses settings the corpus or the machine cannot hold: more shards
/// than a corpus of `n` characters can cut, checked first (the memory is
/// counted per shard), then what the run needs of the machine
/// ([`resources::check`]).
fn check_fits(config: &TrainConfig, n: usize, vocab_len: usize) -> Result<()> {
    Shards::check_count(n, config.shards)?;
    resources::check(config, vocab_len)
}

impl Trainer {
    /// A freshly initialised model for `corpus`, ready to train with `config`.
    pub fn new(config: TrainConfig, corpus: &Corpus) -> Result<Trainer> {
        config.validate()?;
        config.check_weight_decay()?;
        // Before the model is allocated: it may be what does not fit.
        check_fits(&config, corpus.len(), corpus.vocab.len())?;
        let model = Model::init_cell(
            config.cell,
            config.layers,
            corpus.vocab.clone(),
            config.hidden,
            config.seed,
            config.init,
        );
        Trainer::build(config, model, corpus)
    }

    /// Continues training `model` on `corpus` (whose vocabulary must be the model's).
    pub fn with_model(config: TrainConfig, model: Model, corpus: &Corpus) -> Result<Trainer> {
        config.validate()?;
        let (l, layers) = (model.layout, config.layers);
        if (config.cell, layers, config.hidden) != (l.cell, l.layers, model.hidden()) {
            return Err(Error::Usage(format!(
                "the settings ask for --cell {} --layers {layers} --hidden {}, the model is {} of {} layers with H {}",
                config.cell,
                config.hidden,
                l.cell,
                l.layers,
                model.hidden()
            )));
        }
        check_fits(&config, corpus.len(), model.vocab.len())?;
        if model.vocab != corpus.vocab {
            return Err(Error::Text(
                "the corpus's vocabulary differs from the model's".into(),
            ));
        }
        Trainer::build(config, model, corpus)
    }

    /// The trainer of `model` on `corpus` with `config`, checked by the
    /// caller ([`Trainer::new`], [`Trainer::with_model`]).
    fn build(config: TrainConfig, model: Model, corpus: &Corpus) -> Result<Trainer> {
        let shards = Shards::new(
            corpus.len(),
            config.shards,
            config.seq_len,
            config.drop_tail,
        )?;
        let layout = model.layout;
        let workers = shards
            .groups(config.streams)
            .into_iter()
            .enumerate()
            .map(|(g, shards)| Worker {
                first_shard: g * config.streams,
                ranges: vec![0..0; shards.len()],
                bptt: Bptt::new(layout, shards.len(), config.seq_len),
                grads: layout.zeros(),
                grads_zero: true,
                snapshot: match config.parallel {
                    Parallel::Hogwild => layout.zeros(),
                    Parallel::Avg => aligned::zeros(0),
                },
                loss: ChunkLoss::default(),
                active: false,
                shards,
            })
            .map(Mutex::new)
            .collect();
        let pool = match config.threads {
            1 => None,
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("rnn-fast-{i}"))
                    .build()
                    .map_err(|e| Error::System(format!("cannot start {n} threads: {e}")))?,
            ),
        };
        let epoch_chars = shards.chars_per_epoch();
        Ok(Trainer {
            optimizer: Optimizer::new(config.optimizer, layout.len()),
            epoch_chars,
            plateau: Plateau::default(),
            prepared: aligned::zeros(layout.cell().prepared_len(&layout, config.streams)),
            back_panels: aligned::zeros(layout.back_panels_len(config.streams)),
            workers,
            pool,
            model,
            config,
            epoch: 0,
            in_epoch: false,
            diverged: false,
            shared: None,
            decayed: layout.decayed(),
        })
    }

    /// Continues a run saved with [`Trainer::state`]: `model` is its
    /// weights, `corpus` must be the one it trained on.
    pub fn resume(
        config: TrainConfig,
        model: Model,
        corpus: &Corpus,
        state: TrainState,
    ) -> Result<Trainer> {
        let mut t = Trainer::with_model(config, model, corpus)?;
        let len = t.model.layout.len();
        t.optimizer = Optimizer::restore(
            t.config.optimizer,
            len,
            state.optimizer,
            state.optimizer_steps,
        )
        .ok_or_else(|| {
            Error::Checkpoint("the saved optimizer state does not match the model".into())
        })?;
        let width = t.model.layout.carried_width();
        if state.positions.len() != t.config.shards || state.hidden.len() != t.config.shards * width
        {
            return Err(Error::Checkpoint(format!(
                "the saved state has {} shard positions, the run has {} shards",
                state.positions.len(),
                t.config.shards
            )));
        }
        let mut k = 0;
        for w in t.workers.iter_mut() {
            let w = w.get_mut().unwrap_or_else(PoisonError::into_inner);
            let n = w.shards.len();
            w.shards.set_positions(&state.positions[k..k + n])?;
            for b in 0..n {
                w.bptt
                    .set_state(b, &state.hidden[(k + b) * width..(k + b + 1) * width]);
            }
            w.active = true;
            k += n;
        }
        t.epoch = state.epoch;
        t.in_epoch = state.in_epoch;
        t.plateau = state.plateau;
        Ok(t)
    }

    /// Where training stands, for a checkpoint (see [`Trainer::resume`]).
    pub fn state(&self) -> TrainState {
        let TrainState {
            epoch,
            in_epoch,
            optimizer_steps,
            optimizer,
            positions,
            hidden,
            plateau,
        } = self.state_ref();
        TrainState {
            epoch,
            in_epoch,
            optimizer_steps,
            optimizer: optimizer.to_vec(),
            positions,
            hidden,
            plateau,
        }
    }

    /// [`Trainer::state`] with the optimizer's memory borrowed, not copied.
    pub fn state_ref(&self) -> TrainState<&[f32]> {
        let width = self.model.layout.carried_width();
        let mut positions = Vec::with_capacity(self.config.shards);
        let mut hidden = Vec::with_capacity(self.config.shards * width);
        for w in &self.workers {
            let w = w.lock().unwrap_or_else(PoisonError::into_inner);
            positions.extend_from_slice(w.shards.positions());
            for b in 0..w.shards.len() {
                hidden.extend_from_slice(w.bptt.state(b));
            }
        }
        TrainState {
            epoch: self.epoch,
            in_epoch: self.in_epoch,
            optimizer_steps: self.optimizer.steps(),
            optimizer: self.optimizer.state(),
            positions,
            hidden,
            plateau: self.plateau,
        }
    }

    /// True while an epoch is under way (false between epochs).
    pub fn in_epoch(&self) -> bool {
        self.in_epoch
    }

    /// Characters one epoch trains (fewer than N - 1 with the article's
    /// dropped tail).
    pub fn chars_per_epoch(&self) -> usize {
        self.epoch_chars
    }

    /// Where the run stands for the learning-rate schedule: epochs done and
    /// characters trained (from the shards' read positions, so a resumed
    /// run stands where the saved one stood).
    fn position(&mut self) -> Position {
        let consumed = match self.in_epoch {
            true => self
                .workers
                .iter_mut()
                .map(|w| {
                    w.get_mut()
                        .unwrap_or_else(PoisonError::into_inner)
                        .shards
                        .consumed()
                })
                .sum::<usize>()
                .min(self.epoch_chars),
            false => 0,
        };
        Position {
            epoch: self.epoch,
            chars: self
                .epoch
                .saturating_mul(self.epoch_chars)
                .saturating_add(consumed),
            planned: self.config.epochs.saturating_mul(self.epoch_chars),
        }
    }

    /// True inside an epoch whose every shard has been read (the next step
    /// ends the epoch).
    fn epoch_exhausted(&mut self) -> bool {
        self.in_epoch
            && self.workers.iter_mut().all(|w| {
                let w = w.get_mut().unwrap_or_else(PoisonError::into_inner);
                !w.active || w.shards.exhausted()
            })
    }

    /// The learning rate of the next update.
    pub fn lr(&mut self) -> f32 {
        let at = self.position();
        schedule::lr(&self.config, at, &self.plateau)
    }

    /// Tells the schedule a validation loss (the plateau schedule counts
    /// reports without a new best); true when the rate was cut.
    pub fn observe_validation(&mut self, loss: f64) -> bool {
        match self.config.lr_schedule {
            LrSchedule::Plateau => {
                self.plateau
                    .observe(loss, self.config.patience, self.config.lr_decay)
            }
            _ => false,
        }
    }

    /// True once a step's loss was NaN or infinite (its update was not
    /// applied, so the weights are those of the last good step).
    pub fn diverged(&self) -> bool {
        self.diverged
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The model as trained so far.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model, giving up the trainer.
    pub fn into_model(self) -> Model {
        self.model
    }

    /// Epochs completed.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The hidden state left by training in the first stream (the article
    /// samples from it).
    pub fn last_state(&self) -> Vec<f32> {
        let first = self.workers[0]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        first.bptt.state(0).to_vec()
    }

    /// The validation score of the model on `ids` (see
    /// [`eval::evaluate_segments`]), on this trainer's threads.
    pub fn validate(&mut self, ids: &[u16]) -> Score {
        let segments = self.config.shards;
        self.pooled(true, |t, parallel| {
            eval::evaluate_segments(&t.model, ids, segments, parallel)
        })
    }

    /// One training step on `ids` (the corpus this trainer was made for):
    /// with `avg`, one update from the next chunk of every shard; with
    /// `hogwild`, one round. Returns the loss trained, or `None` at the end
    /// of an epoch; the call after it starts the next (states zero, shards
    /// rewound).
    pub fn train_chunk(&mut self, ids: &[u16]) -> Option<ChunkLoss> {
        self.pooled(self.steps_spread(), |t, parallel| t.step(ids, parallel))
    }

    /// Trains steps until at least `chars` characters are trained, the
    /// epoch ends or `limit` has passed (an epoch whose chunks are all
    /// trained is ended first), in one visit to the thread pool
    /// (waking the pool once per step would cost more than the step at
    /// small sizes). Returns the loss trained and whether the epoch ended.
    pub fn train_for(
        &mut self,
        ids: &[u16],
        chars: usize,
        limit: Option<Duration>,
    ) -> (ChunkLoss, bool) {
        let start = Instant::now();
        self.pooled(self.steps_spread(), |t, parallel| {
            let mut total = ChunkLoss::default();
            loop {
                let Some(loss) = t.step(ids, parallel) else {
                    return (total, true);
                };
                total += loss;
                let stop = total.count >= chars || limit.is_some_and(|l| start.elapsed() >= l);
                // Never between an epoch's last chunk and its end: the
                // epoch's report then holds the characters before it.
                if t.diverged || (stop && !t.epoch_exhausted()) {
                    return (total, false);
                }
            }
        })
    }

    /// Whether training steps go to the thread pool: where there are
    /// several workers (groups). One worker steps and updates on the
    /// calling thread: the pool's other threads would have no group, only a
    /// share of the update, whose weights' and gradients' cache lines then
    /// crossed cores every step; `bench --shards 1` on 2 threads ran at
    /// 40-90% of one thread's speed (H 32 to 512, Zen 3). The sums are the
    /// same either way.
    fn steps_spread(&self) -> bool {
        self.workers.len() > 1
    }

    /// Runs `f` on the thread pool (with `parallel` true) where `spread`
    /// and there is one, else on this thread.
    fn pooled<R: Send>(
        &mut self,
        spread: bool,
        f: impl FnOnce(&mut Trainer, bool) -> R + Send,
    ) -> R {
        let pool = if spread { self.pool.take() } else { None };
        match pool {
            Some(pool) => {
                let r = pool.install(|| f(self, true));
                self.pool = Some(pool);
                r
            }
            None => f(self, false),
        }
    }

    /// One step (see [`Trainer::train_chunk`]); `parallel`: spread the
    /// workers over the current pool.
    fn step(&mut self, ids: &[u16], parallel: bool) -> Option<ChunkLoss> {
        if !self.in_epoch {
            for_each_worker(&mut self.workers, false, Worker::start_epoch);
            self.in_epoch = true;
        }
        let loss = match self.config.parallel {
            Parallel::Avg => self.avg_step(ids, parallel),
            Parallel::Hogwild => self.hogwild_round(ids, parallel),
        };
        if loss.is_none() {
            self.in_epoch = false;
            self.epoch += 1;
        }
        loss
    }

    /// The rest of the current epoch (a whole one when none is under way).
    pub fn run_epoch(&mut self, ids: &[u16]) -> EpochReport {
        let start = Instant::now();
        let mut total = ChunkLoss::default();
        while let Some(loss) = self.train_chunk(ids) {
            total += loss;
        }
        EpochReport {
            epoch: self.epoch,
            loss: total.mean(),
            chars: total.count,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    /// Gradient averaging: every worker's next chunk against the same
    /// weights, then one update with the gradients summed in worker order;
    /// both on the pool in one visit.
    fn avg_step(&mut self, ids: &[u16], parallel: bool) -> Option<ChunkLoss> {
        let lr = self.lr();
        let Trainer {
            config,
            model,
            optimizer,
            workers,
            epoch,
            diverged,
            prepared,
            back_panels,
            decayed,
            ..
        } = self;
        let total = {
            let weights = &model.weights;
            let l = model.layout;
            // Every group has at most `streams` streams (`Shards::groups`).
            // The two packs of the weights, side by side on a pool.
            let mut prepare = || l.cell().prepare(&l, weights, config.streams, prepared);
            let mut pack_back = || cell::pack_back_panels(&l, weights, config.streams, back_panels);
            if parallel {
                rayon::join(prepare, pack_back);
            } else {
                prepare();
                pack_back();
            }
            let prepared = (&prepared[..], &back_panels[..]);
            let dropout = mask_key(config, *epoch);
            let compute = |w: &mut Worker| {
                w.loss = w
                    .compute(weights, Some(prepared), ids, dropout)
                    .unwrap_or_default()
            };
            for_each_worker(workers, parallel, compute);
            let total = total_loss(workers);
            if !total.sum.is_finite() {
                *diverged = true;
            } else if total.count > 0 {
                let scale = grad_scale(config.grad, total.count);
                let update = Update {
                    scale,
                    clip: config.clip,
                    clip_norm: config.clip_norm,
                    lr,
                    decay: Decay::new(config.weight_decay, decayed),
                };
                // One update with Σ_k grads_k, summed entry by entry in
                // worker order (so the result does not depend on the
                // threads), block by block in the update's own pass; no
                // locks: this step holds every worker. Every buffer is left
                // zero.
                let mut grads: Vec<&mut [f32]> = workers
                    .iter_mut()
                    .map(|w| &mut w.get_mut().unwrap_or_else(PoisonError::into_inner).grads[..])
                    .collect();
                optimizer.step_sum(&mut model.weights, &mut grads, update, parallel);
                for w in workers.iter_mut() {
                    w.get_mut()
                        .unwrap_or_else(PoisonError::into_inner)
                        .grads_zero = true;
                }
            }
            total
        };
        (total.count > 0).then_some(total)
    }

    /// Hogwild: each worker trains up to [`HOGWILD_ROUND`] chunks, each time
    /// copying the shared weights, computing its gradient and applying its
    /// own update to the shared weights and optimizer state.
    fn hogwild_round(&mut self, ids: &[u16], parallel: bool) -> Option<ChunkLoss> {
        let lr = self.lr();
        // The shared copies, allocated once; filled from the model for the round.
        let (weights, state) = self.shared.get_or_insert_with(|| {
            let atomics = |n: usize| (0..n).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
            (
                atomics(self.model.weights.len()),
                atomics(self.optimizer.state().len()),
            )
        });
        for (a, &x) in weights.iter().zip(&self.model.weights) {
            a.store(x.to_bits(), Ordering::Relaxed);
        }
        for (a, &x) in state.iter().zip(self.optimizer.state()) {
            a.store(x.to_bits(), Ordering::Relaxed);
        }
        let (weights, state) = (&*weights, &*state);
        let kind = self.optimizer.kind();
        let (clip, clip_norm) = (self.config.clip, self.config.clip_norm);
        let updates = AtomicU64::new(self.optimizer.steps());
        let diverged = AtomicBool::new(false);
        let grad = self.config.grad;
        let dropout = mask_key(&self.config, self.epoch);
        let decay = Decay::new(self.config.weight_decay, &self.decayed);
        let run = |w: &mut Worker| {
            w.loss = ChunkLoss::default();
            for _ in 0..HOGWILD_ROUND {
                for (local, shared) in w.snapshot.iter_mut().zip(weights) {
                    *local = f32::from_bits(shared.load(Ordering::Relaxed));
                }
                let snapshot = std::mem::take(&mut w.snapshot);
                let loss = w.compute(&snapshot, None, ids, dropout);
                w.snapshot = snapshot;
                let Some(loss) = loss else { break };
                if !loss.sum.is_finite() {
                    // Not applied; kept in the loss so the report shows it.
                    diverged.store(true, Ordering::Relaxed);
                    w.loss += loss;
                    break;
                }
                let update = Update {
                    scale: grad_scale(grad, loss.count),
                    clip,
                    clip_norm,
                    lr,
                    decay,
                };
                let t = updates.fetch_add(1, Ordering::Relaxed) + 1;
                optimizer::step_shared(kind, t, weights, state, &w.grads, update);
                w.loss += loss;
            }
        };
        for_each_worker(&mut self.workers, parallel, run);
        let from_atomics = |dst: &mut [f32], src: &[AtomicU32]| {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = f32::from_bits(s.load(Ordering::Relaxed));
            }
        };
        from_atomics(&mut self.model.weights, weights);
        from_atomics(self.optimizer.state_mut(), state);
        let done = updates.into_inner() - self.optimizer.steps();
        self.optimizer.add_steps(done);
        self.diverged |= diverged.into_inner();
        let total = total_loss(&mut self.workers);
        (total.count > 0).then_some(total)
    }
}

/// Runs `f` on every worker. With `parallel`, on every thread of the
/// current pool, worker k always on thread k mod threads: a worker's buffers
/// (its gradient alone is the size of the model) stay in that core's cache
/// from one step to the next, which work stealing would not ensure.
fn for_each_worker(workers: &mut [Mutex<Worker>], parallel: bool, f: impl Fn(&mut Worker) + Sync) {
    if parallel {
        let workers = &*workers;
        rayon::broadcast(|ctx| {
            for w in workers.iter().skip(ctx.index()).step_by(ctx.num_threads()) {
                f(&mut w.lock().unwrap_or_else(PoisonError::into_inner));
            }
        });
    } else {
        for w in workers.iter_mut() {
            f(w.get_mut().unwrap_or_else(PoisonError::into_inner));
        }
    }
}

/// The losses of every worker's last step, added in worker order.
fn total_loss(workers: &mut [Mutex<Worker>]) -> ChunkLoss {
    let mut total = ChunkLoss::default();
    for w in workers.iter_mut() {
        total += w.get_mut().unwrap_or_else(PoisonError::into_inner).loss;
    }
    total
}

/// The gradient scale for `count` predictions.
fn grad_scale(grad: GradReduce, count: usize) -> f32 {
    match grad {
        GradReduce::Mean => 1.0 / count.max(1) as f32,
        GradReduce::Sum => 1.0,
    }
}

/// The dropout masks' key for a step of epoch `epoch` (0-based), all but
/// the group's first shard; `None` without dropout.
fn mask_key(config: &TrainConfig, epoch: usize) -> Option<MaskKey> {
    (config.dropout > 0.0).then_some(MaskKey {
        p: config.dropout,
        seed: config.seed,
        epoch: epoch as u64,
        first_shard: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text of a few thousand characters and a vocabulary of a few dozen.
    fn text() -> String {
        let words = [
            "the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dogs. ",
        ];
        (0..1_500)
            .map(|i| words[(i * 7 + i / 5) % words.len()])
            .collect()
    }

    /// The gradient bookkeeping ([`Worker::grads_zero`]): after every step,
    /// a buffer marked zero holds zeros, and skipping the fill there trains
    /// the same weights, bit for bit, as clearing every buffer before every
    /// chunk. Three groups (one of a single stream), 2 threads, a norm clip
    /// (the update reads the gradient twice), and Hogwild, which keeps its
    /// fill.
    #[test]
    fn buffers_marked_zero_hold_zeros_and_train_the_same_weights() {
        let corpus = Corpus::from_text(&text()).unwrap();
        for parallel in [Parallel::Avg, Parallel::Hogwild] {
            let config = TrainConfig {
                hidden: 16,
                seq_len: 12,
                shards: 5,
                streams: 2,
                threads: if parallel == Parallel::Avg { 2 } else { 1 },
                parallel,
                clip_norm: Some(0.5),
                ..TrainConfig::defaults(corpus.len())
            };
            let mut skipping = Trainer::new(config.clone(), &corpus).unwrap();
            let mut clearing = Trainer::new(config, &corpus).unwrap();
            for step in 0..12 {
                let a = skipping.train_chunk(&corpus.ids);
                for w in clearing.workers.iter_mut() {
                    w.get_mut().unwrap().grads_zero = false;
                }
                let b = clearing.train_chunk(&corpus.ids);
                assert_eq!(a, b, "{parallel:?} step {step}: the losses differ");
                for w in skipping.workers.iter_mut() {
                    let w = w.get_mut().unwrap();
                    if w.grads_zero {
                        assert!(
                            w.grads.iter().all(|&g| g == 0.0),
                            "{parallel:?} step {step}"
                        );
                    }
                }
                let same = skipping.model.weights.iter().map(|x| x.to_bits());
                assert!(
                    same.eq(clearing.model.weights.iter().map(|x| x.to_bits())),
                    "{parallel:?} step {step}: the weights differ"
                );
            }
            // Avg cleared through the sum and the update; the run trained.
            if parallel == Parallel::Avg {
                assert!(
                    skipping
                        .workers
                        .iter_mut()
                        .all(|w| w.get_mut().unwrap().grads_zero)
                );
            }
            assert_ne!(skipping.optimizer.steps(), 0);
        }
    }
}
