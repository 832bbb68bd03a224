//! Scoring a text: the mean cross-entropy of predicting each character from
//! the ones before it, with the hidden state starting at zero and carried
//! through the whole text.
//!
//! [`evaluate`] is exact and sequential (`rnn-fast eval`). The validation
//! loss during training uses [`evaluate_segments`]: the text cut into
//! segments of at least [`MIN_SEGMENT`] characters, each starting from a
//! zero state, scored as streams of one pass and on all threads. Every
//! character is still predicted once; only the first few characters of each
//! segment see less context, a negligible change at that length.

use rayon::prelude::*;

use crate::bptt::{Bptt, ChunkLoss};
use crate::kernels::aligned::{self, AlignedVec};
use crate::model::Model;
use crate::shards::Shards;

/// Characters per segment of [`evaluate_segments`], at least.
pub const MIN_SEGMENT: usize = 100_000;
/// Segments scored together in one pass.
const SEGMENT_STREAMS: usize = 8;

/// Characters per forward chunk; any length gives the same result.
pub(crate) const EVAL_CHUNK: usize = 256;

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

/// The cell's prepared weights of `model` for steps of at most `streams`
/// streams, made once for a whole evaluation (the weights do not change
/// while scoring).
fn prepared(model: &Model, streams: usize) -> AlignedVec {
    let l = model.layout;
    let mut prepared = aligned::zeros(l.cell().prepared_len(&l, streams));
    l.cell().prepare(&l, &model.weights, streams, &mut prepared);
    prepared
}

/// Scores `ids` (encoded with the model's vocabulary, at least 2 of them).
pub fn evaluate(model: &Model, ids: &[u16]) -> Score {
    let prepared = prepared(model, 1);
    let mut bptt = Bptt::new(model.layout, 1, EVAL_CHUNK);
    let mut total = ChunkLoss::default();
    let mut start = 0;
    while start + 1 < ids.len() {
        let end = (start + EVAL_CHUNK + 1).min(ids.len());
        let chunk = start..end;
        let loss =
            bptt.forward_prepared(&model.weights, &prepared, ids, std::slice::from_ref(&chunk));
        total += loss;
        start = end - 1;
    }
    Score {
        chars: total.count,
        loss_nats: total.mean(),
    }
}

/// Scores `ids` cut into at most `max_segments` segments of at least
/// [`MIN_SEGMENT`] characters (one segment, the exact score, for a text
/// shorter than two of them). With `parallel`, groups of segments run on the
/// current rayon pool; the result does not depend on the thread count.
pub fn evaluate_segments(model: &Model, ids: &[u16], max_segments: usize, parallel: bool) -> Score {
    let segments = (ids.len() / MIN_SEGMENT).clamp(1, max_segments.max(1));
    if segments == 1 {
        return evaluate(model, ids);
    }
    let shards = Shards::new(ids.len(), segments, EVAL_CHUNK, false)
        .expect("segments of at least MIN_SEGMENT characters");
    let prepared = prepared(model, SEGMENT_STREAMS);
    let score_group = |mut group: Shards| -> ChunkLoss {
        let mut bptt = Bptt::new(model.layout, group.len(), EVAL_CHUNK);
        let mut ranges = vec![0..0; group.len()];
        let mut total = ChunkLoss::default();
        while group.next_chunks(&mut ranges) {
            let loss = bptt.forward_prepared(&model.weights, &prepared, ids, &ranges);
            total += loss;
        }
        total
    };
    let groups = shards.groups(SEGMENT_STREAMS);
    let losses: Vec<ChunkLoss> = if parallel {
        groups.into_par_iter().map(score_group).collect()
    } else {
        groups.into_iter().map(score_group).collect()
    };
    let mut total = ChunkLoss::default();
    for &l in &losses {
        total += l;
    }
    Score {
        chars: total.count,
        loss_nats: total.mean(),
    }
}
