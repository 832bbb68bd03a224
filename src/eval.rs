//! Scoring a text: the mean cross-entropy of predicting each character from
//! the ones before it, with the hidden state starting at zero and carried
//! through the whole text.

use crate::bptt::{Bptt, ChunkLoss};
use crate::model::Model;

/// Characters per forward chunk; any length gives the same result.
const EVAL_CHUNK: usize = 256;

/// Loss of a model on a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Number of predictions (characters after the first).
    pub chars: usize,
    /// Mean cross-entropy in nats per character.
    pub loss_nats: f64,
}

impl Score {
    /// The same loss in bits per character.
    pub fn bits_per_char(&self) -> f64 {
        self.loss_nats / std::f64::consts::LN_2
    }
}

/// Scores `ids` (encoded with the model's vocabulary, at least 2 of them).
pub fn evaluate(model: &Model, ids: &[u16]) -> Score {
    let mut bptt = Bptt::new(model.layout, 1, EVAL_CHUNK);
    let mut total = ChunkLoss::default();
    let mut start = 0;
    while start + 1 < ids.len() {
        let end = (start + EVAL_CHUNK + 1).min(ids.len());
        let loss = bptt.forward(&model.weights, ids, std::slice::from_ref(&(start..end)));
        total.sum += loss.sum;
        total.count += loss.count;
        start = end - 1;
    }
    Score {
        chars: total.count,
        loss_nats: total.sum / total.count.max(1) as f64,
    }
}
