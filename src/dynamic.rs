//! Dynamic evaluation (Mikolov 2010; Krause et al. 2018): scoring a text
//! while the model keeps learning from it, the way a reader adapts to an
//! author. The text is one sequential stream, its hidden state starting at
//! zero and carried from chunk to chunk; every chunk is scored before the
//! model learns from it, so each prediction is still made from the
//! characters before it only.
//!
//! ```text
//! W = the model's weights (a private copy), h = 0
//! for each chunk c of T characters (T+1 ids, the last one shorter):
//!     loss_c = Σ_t -ln softmax(Why h_t + by)[c_{t+1}]     (forward(W, h, c); counts in the score)
//!     g      = clamp(∇_W loss_c / T_c, -clip, clip)      (the mean over the chunk's T_c predictions)
//!     W      = W - lr · g                                (plain SGD; h carries on, as computed)
//! score = Σ_c loss_c / Σ_c T_c
//! ```
//!
//! Every character after the first is predicted exactly once, as by
//! [`crate::eval::evaluate`], so the two scores count the same characters
//! and compare directly. With a vanishing `lr` the dynamic score is the
//! static one. The model itself is never changed: only the copy learns, and
//! it is dropped at the end. Everything runs on the caller's thread, in a
//! fixed order, so the result does not depend on the thread count.

use crate::bptt::{Bptt, ChunkLoss};
use crate::config::{MAX_SEQ_LEN, OptimizerKind};
use crate::error::{Error, Result};
use crate::eval::Score;
use crate::model::Model;
use crate::optimizer::{Optimizer, Update};

/// Learning rate of the SGD step on each chunk's mean gradient (measured on
/// Tiny Shakespeare, see the README).
pub const DEFAULT_LR: f32 = 0.02;
/// Characters per chunk: the score of a chunk, then one step on it.
pub const DEFAULT_SEQ_LEN: usize = 40;
/// Element-wise gradient clip, as training's default.
pub const DEFAULT_CLIP: f32 = 5.0;

/// How the model learns while it scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DynamicSettings {
    /// SGD learning rate on the chunk's mean gradient (positive, finite).
    pub lr: f32,
    /// Characters per chunk T, 1 to [`MAX_SEQ_LEN`].
    pub seq_len: usize,
    /// Every gradient entry is clamped to `[-clip, clip]` (positive; `inf`: no clip).
    pub clip: f32,
}

impl Default for DynamicSettings {
    /// [`DEFAULT_LR`], [`DEFAULT_SEQ_LEN`], [`DEFAULT_CLIP`].
    fn default() -> DynamicSettings {
        DynamicSettings {
            lr: DEFAULT_LR,
            seq_len: DEFAULT_SEQ_LEN,
            clip: DEFAULT_CLIP,
        }
    }
}

impl DynamicSettings {
    /// Checks the values; the error names the option and the allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Usage(msg));
        if !(1..=MAX_SEQ_LEN).contains(&self.seq_len) {
            return bad(format!(
                "--dynamic-seq-len must be between 1 and {MAX_SEQ_LEN}, not {}",
                self.seq_len
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "--dynamic-lr must be a positive number, not {}",
                self.lr
            ));
        }
        if self.clip.is_nan() || self.clip <= 0.0 {
            return bad(format!(
                "the dynamic evaluation's clip must be a positive number (or inf), not {}",
                self.clip
            ));
        }
        Ok(())
    }
}

/// Scores `ids` (encoded with the model's vocabulary; fewer than 2 ids score
/// no characters) by dynamic evaluation with `settings`, on a copy of the
/// model's weights. An error when the settings are out of range or need
/// more memory than the process can take, or when
/// the adapted weights make the loss stop being a number (too large an `lr`).
pub fn evaluate_dynamic(model: &Model, ids: &[u16], settings: &DynamicSettings) -> Result<Score> {
    settings.validate()?;
    crate::resources::check_dynamic(&model.layout, settings.seq_len)?;
    let DynamicSettings { lr, seq_len, clip } = *settings;
    let mut weights = model.weights.clone();
    let mut grads = model.layout.zeros();
    let mut bptt = Bptt::new(model.layout, 1, seq_len);
    let mut sgd = Optimizer::new(OptimizerKind::Sgd, weights.len());
    let mut total = ChunkLoss::default();
    let mut start = 0;
    while start + 1 < ids.len() {
        let end = (start + seq_len + 1).min(ids.len());
        // The weights change after every chunk: forward prepares them each time.
        let loss = bptt.forward(&weights, ids, std::slice::from_ref(&(start..end)));
        if !loss.sum.is_finite() {
            return Err(Error::Diverged(format!(
                "dynamic evaluation diverged at character {start}: the loss is not a number; use a smaller --dynamic-lr"
            )));
        }
        total += loss;
        start = end - 1;
        // A step after the last chunk would change nothing that is scored.
        if start + 1 < ids.len() {
            // `grads` is zero: allocated so, and left so by each update.
            bptt.backward(&weights, &mut grads);
            let update = Update {
                scale: 1.0 / loss.count as f32,
                clip,
                clip_norm: None,
                lr,
                decay: None,
            };
            sgd.step(&mut weights, &mut grads, update);
        }
    }
    Ok(Score {
        chars: total.count,
        loss_nats: total.mean(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::corpus::Corpus;
    use crate::eval;
    use crate::layout::CellKind;
    use crate::trainer::Trainer;

    /// `n` words of a five-word vocabulary in the order `word(i)` picks.
    fn words(n: u32, word: impl Fn(u32) -> usize) -> String {
        (0..n)
            .map(|i| ["to ", "be ", "or ", "not ", "that\n"][word(i)])
            .collect()
    }

    /// A model (H 32) trained for two epochs on one word order.
    fn trained() -> (Model, Corpus) {
        trained_cell(CellKind::Tanh, 1)
    }

    /// [`trained`] with `layers` layers of `cell`.
    fn trained_cell(cell: CellKind, layers: usize) -> (Model, Corpus) {
        let text = words(6_000, |i| (i * 7 % 11 % 5) as usize);
        let corpus = Corpus::from_text(&text).unwrap();
        let config = TrainConfig {
            cell,
            layers,
            hidden: 32,
            epochs: 2,
            threads: 1,
            ..TrainConfig::defaults(corpus.len())
        };
        let mut trainer = Trainer::new(config, &corpus).unwrap();
        for _ in 0..2 {
            trainer.run_epoch(&corpus.ids);
        }
        (trainer.into_model(), corpus)
    }

    /// Text in another word order than the training text: the words are
    /// known, their order is new and repeats (period 13), so a model that
    /// adapts while it reads does better.
    fn other_order(corpus: &Corpus) -> Vec<u16> {
        let text = words(2_000, |i| (i * 5 % 13 % 5) as usize);
        Corpus::with_vocab(&text, &corpus.vocab).unwrap().ids
    }

    #[test]
    fn dynamic_evaluation_adapts_to_repeated_structure() {
        let (model, corpus) = trained();
        let ids = other_order(&corpus);
        let before = model.weights.clone();
        let stat = eval::evaluate(&model, &ids);
        let dynamic = evaluate_dynamic(&model, &ids, &DynamicSettings::default()).unwrap();
        assert_eq!(dynamic.chars, stat.chars);
        assert_eq!(dynamic.chars, ids.len() - 1);
        assert!(
            dynamic.loss_nats < 0.5 * stat.loss_nats,
            "dynamic {} vs static {}",
            dynamic.loss_nats,
            stat.loss_nats
        );
        assert_eq!(model.weights, before, "the model is not changed");
    }

    /// A stacked LSTM adapts as it reads too (every layer's weights take
    /// the step), and its model is not changed.
    #[test]
    fn stacked_lstm_adapts_to_repeated_structure() {
        let (model, corpus) = trained_cell(CellKind::Lstm, 2);
        let ids = other_order(&corpus);
        let before = model.weights.clone();
        let stat = eval::evaluate(&model, &ids);
        let dynamic = evaluate_dynamic(&model, &ids, &DynamicSettings::default()).unwrap();
        assert_eq!(dynamic.chars, stat.chars);
        assert!(
            dynamic.loss_nats < 0.8 * stat.loss_nats,
            "dynamic {} vs static {}",
            dynamic.loss_nats,
            stat.loss_nats
        );
        assert_eq!(model.weights, before, "the model is not changed");
    }

    #[test]
    fn dynamic_evaluation_with_a_vanishing_lr_is_the_static_score() {
        let (model, corpus) = trained();
        let ids = other_order(&corpus);
        let stat = eval::evaluate(&model, &ids);
        // Chunk lengths that divide the text evenly, that do not, and one
        // longer than the text: the last partial chunk is scored too. The
        // static evaluation's own chunk length gives its score to rounding
        // (the weights move by at most 5e-12); others sum the same losses in
        // other groupings of the chunk products.
        for seq_len in [1, 40, eval::EVAL_CHUNK, 333, 10_000] {
            let tiny = DynamicSettings {
                lr: 1e-12,
                seq_len,
                ..DynamicSettings::default()
            };
            let dynamic = evaluate_dynamic(&model, &ids, &tiny).unwrap();
            assert_eq!(dynamic.chars, stat.chars, "seq_len {seq_len}");
            let rel = (dynamic.loss_nats - stat.loss_nats).abs() / stat.loss_nats;
            let tolerance = if seq_len == eval::EVAL_CHUNK {
                1e-12
            } else {
                1e-6
            };
            assert!(
                rel < tolerance,
                "seq_len {seq_len}: dynamic {} vs static {} ({rel:e})",
                dynamic.loss_nats,
                stat.loss_nats
            );
        }
    }

    #[test]
    fn dynamic_evaluation_is_deterministic_and_refuses_bad_settings() {
        let (model, corpus) = trained();
        let ids = other_order(&corpus);
        let settings = DynamicSettings::default();
        let a = evaluate_dynamic(&model, &ids, &settings).unwrap();
        let b = evaluate_dynamic(&model, &ids, &settings).unwrap();
        assert_eq!(a, b);
        // Too short a text scores nothing, as the static evaluation.
        let none = evaluate_dynamic(&model, &ids[..1], &settings).unwrap();
        assert_eq!((none.chars, none.loss_nats), (0, 0.0));
        for bad in [
            DynamicSettings {
                seq_len: 0,
                ..settings
            },
            DynamicSettings {
                seq_len: MAX_SEQ_LEN + 1,
                ..settings
            },
            DynamicSettings {
                lr: 0.0,
                ..settings
            },
            DynamicSettings {
                lr: f32::NAN,
                ..settings
            },
            DynamicSettings {
                clip: 0.0,
                ..settings
            },
        ] {
            let err = evaluate_dynamic(&model, &ids, &bad).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{bad:?}: {err}");
        }
        // A step far too large is a clear error, not a NaN score.
        let huge = DynamicSettings {
            lr: f32::MAX,
            ..settings
        };
        let err = evaluate_dynamic(&model, &ids, &huge).unwrap_err();
        assert!(matches!(err, Error::Diverged(_)), "{err}");
    }
}
