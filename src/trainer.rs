//! The training loop: truncated BPTT over the shards of a corpus, one update
//! per chunk, as the article's `fit` but training every character.
//!
//! ```text
//! for each epoch:
//!     every stream's hidden state = 0, every shard rewound
//!     while a shard has characters left:
//!         grads = 0; loss = forward + backward of the next chunk of each stream
//!         g = clamp(grads / predictions (mean) or grads (sum), -clip, clip)
//!         weights -= update(g)
//! ```

use std::ops::Range;
use std::time::Instant;

use crate::bptt::{Bptt, ChunkLoss};
use crate::config::{GradReduce, TrainConfig};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::optimizer::Optimizer;
use crate::shards::Shards;

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

/// A model being trained on one corpus.
#[derive(Clone, Debug)]
pub struct Trainer {
    config: TrainConfig,
    model: Model,
    bptt: Bptt,
    grads: Vec<f32>,
    optimizer: Optimizer,
    shards: Shards,
    ranges: Vec<Range<usize>>,
    epoch: usize,
    in_epoch: bool,
}

impl Trainer {
    /// A freshly initialised model for `corpus`, ready to train with `config`.
    pub fn new(config: TrainConfig, corpus: &Corpus) -> Result<Trainer> {
        config.validate()?;
        let model = Model::init(corpus.vocab.clone(), config.hidden, config.seed);
        Trainer::with_model(config, model, corpus)
    }

    /// Continues training `model` on `corpus` (whose vocabulary must be the model's).
    pub fn with_model(config: TrainConfig, model: Model, corpus: &Corpus) -> Result<Trainer> {
        config.validate()?;
        if model.vocab != corpus.vocab {
            return Err(Error::Invalid(
                "the corpus's vocabulary differs from the model's".into(),
            ));
        }
        let shards = Shards::new(
            corpus.len(),
            config.streams,
            config.seq_len,
            config.drop_tail,
        )?;
        let layout = model.layout;
        Ok(Trainer {
            bptt: Bptt::new(layout, config.streams, config.seq_len),
            grads: layout.zeros(),
            optimizer: Optimizer::new(config.optimizer, layout.len()),
            ranges: vec![0..0; config.streams],
            shards,
            model,
            config,
            epoch: 0,
            in_epoch: false,
        })
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
    pub fn last_state(&self) -> &[f32] {
        self.bptt.state(0)
    }

    /// Trains on the next chunk of every stream of `ids` (the corpus this
    /// trainer was made for): one update. `None` marks the end of an epoch;
    /// the call after it starts the next (states zero, shards rewound).
    pub fn train_chunk(&mut self, ids: &[u16]) -> Option<ChunkLoss> {
        if !self.in_epoch {
            self.bptt.reset_state();
            self.shards.rewind();
            self.in_epoch = true;
        }
        if !self.shards.next_chunks(&mut self.ranges) {
            self.in_epoch = false;
            self.epoch += 1;
            return None;
        }
        Some(self.step(ids))
    }

    /// The rest of the current epoch (a whole one when none is under way).
    pub fn run_epoch(&mut self, ids: &[u16]) -> EpochReport {
        let start = Instant::now();
        let mut total = ChunkLoss::default();
        while let Some(loss) = self.train_chunk(ids) {
            total.sum += loss.sum;
            total.count += loss.count;
        }
        EpochReport {
            epoch: self.epoch,
            loss: total.sum / total.count.max(1) as f64,
            chars: total.count,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    /// One update from the chunks `ids[ranges[b]]`, one per stream.
    fn step(&mut self, ids: &[u16]) -> ChunkLoss {
        let loss = self.bptt.forward(&self.model.weights, ids, &self.ranges);
        self.grads.fill(0.0);
        self.bptt.backward(&self.model.weights, &mut self.grads);
        let scale = match self.config.grad {
            GradReduce::Mean => 1.0 / loss.count.max(1) as f32,
            GradReduce::Sum => 1.0,
        };
        self.optimizer.step(
            &mut self.model.weights,
            &self.grads,
            scale,
            self.config.clip,
            self.config.lr,
        );
        loss
    }
}

/// One line explaining a diverging run, or `None` when the loss looks
/// healthy. A run diverges when its epoch loss is both far above chance
/// (ln V + 1 nats) and more than twice the best epoch loss so far; a brief
/// rise in the first epochs of a healthy run is neither. The article's
/// settings diverge: summed gradients make its lr 0.2 act like lr 8 on the
/// mean loss.
pub fn diagnose(loss: f64, best: f64, vocab_size: usize, config: &TrainConfig) -> Option<String> {
    let chance = (vocab_size as f64).ln();
    if loss.is_finite() && (loss <= chance + 1.0 || loss <= 2.0 * best) {
        return None;
    }
    let cause = match config.grad {
        GradReduce::Sum => format!(
            "gradients are summed over {} steps (--grad sum), so lr {} acts like lr {} on the mean loss; use --grad mean or divide --lr by {}",
            config.seq_len,
            config.lr,
            config.lr * config.seq_len as f32,
            config.seq_len
        ),
        GradReduce::Mean => format!("lower --lr (now {})", config.lr),
    };
    Some(format!(
        "warning: the loss ({loss:.3} nats/char) is far above chance (ln V = {chance:.3}): training is diverging because the step size is too large: {cause}"
    ))
}
