//! The `f64` reference's analytic gradients against central finite
//! differences of its loss, for every entry of every parameter tensor,
//! without and with fixed dropout masks; and the f32 engine's gradients with
//! dropout against finite differences of the same masked loss.

mod common;

use std::ops::Range;

use rnn_fast::bptt::Bptt;
use rnn_fast::dropout::{MaskKey, Which};
use rnn_fast::reference::{self, RefIndex, RefMasks, RefParams};

#[test]
fn reference_gradients_match_finite_differences() {
    check_reference(None);
}

#[test]
fn reference_dropout_gradients_match_finite_differences() {
    // Masks as training draws them, P 0.4: each unit 0 or 1/0.6.
    let key = MaskKey {
        p: 0.4,
        seed: 5,
        epoch: 1,
        first_shard: 2,
    };
    let masks = masks_of(&key, 0, 100, 7, 5);
    assert!(masks.input.contains(&0.0) && masks.output.contains(&0.0));
    assert!(masks.input.iter().chain(&masks.output).any(|&m| m > 1.5));
    check_reference(Some(&masks));
}

/// The masks of `steps` steps of stream `b` of a group keyed `key`, whose
/// chunk starts at corpus position `start`, for `h` units: what
/// [`rnn_fast::dropout`] gives the engine (shard `first_shard + b`, position
/// `start + t`).
fn masks_of(key: &MaskKey, b: usize, start: usize, steps: usize, h: usize) -> RefMasks {
    let rows = |which| {
        let mut row = vec![0.0f32; h];
        (0..steps)
            .flat_map(|t| {
                let (shard, pos) = (key.first_shard + b as u64, (start + t) as u64);
                key.fill_row(shard, pos, which, h, &mut row);
                row.iter().map(|&m| m as f64).collect::<Vec<_>>()
            })
            .collect()
    };
    RefMasks {
        input: rows(Which::Input),
        output: rows(Which::Output),
    }
}

/// The five tensors' ranges in a [`RefParams`] buffer, with their names.
fn tensors(ix: RefIndex, len: usize) -> [(&'static str, Range<usize>); 5] {
    [
        ("dWxh", 0..ix.whh(0, 0)),
        ("dWhh", ix.whh(0, 0)..ix.why(0, 0)),
        ("dWhy", ix.why(0, 0)..ix.bh(0)),
        ("dbh", ix.bh(0)..ix.by(0)),
        ("dby", ix.by(0)..len),
    ]
}

/// The reference's gradients (through `masks` when given) against central
/// differences of its loss, every entry of every tensor.
fn check_reference(masks: Option<&RefMasks>) {
    // H 5, V 4, T 7, a non-zero initial state: every tensor and the carried
    // state's path through Whh are exercised.
    let model = common::random_model(5, 4, 11, 0.8);
    let p = RefParams::from_model(&model);
    let h0: Vec<f64> = common::random_state(5, 5, 3)
        .iter()
        .map(|&x| x as f64)
        .collect();
    let ids = common::random_ids(8, 4, 7);
    let (_, grads, _) = reference::loss_and_grad_dropped(&p, &h0, &ids, masks);

    let eps = 1e-6;
    let mut worst = 0.0f64;
    for k in 0..p.data.len() {
        let mut plus = p.clone();
        plus.data[k] += eps;
        let mut minus = p.clone();
        minus.data[k] -= eps;
        let numeric = (reference::loss_dropped(&plus, &h0, &ids, masks).0
            - reference::loss_dropped(&minus, &h0, &ids, masks).0)
            / (2.0 * eps);
        let analytic = grads.data[k];
        // Central differences in f64 with eps 1e-6 are good to about 1e-9
        // absolute here; 1e-6 relative (floored at 1e-3 in scale) leaves room
        // for that and nothing else.
        let err = (numeric - analytic).abs() / analytic.abs().max(numeric.abs()).max(1e-3);
        assert!(
            err < 1e-6,
            "entry {k}: analytic {analytic}, numeric {numeric}"
        );
        worst = worst.max(err);
    }
    // Every tensor has a non-zero gradient somewhere (the check is not vacuous).
    for (name, range) in tensors(p.ix(), p.data.len()) {
        assert!(grads.data[range].iter().any(|&g| g.abs() > 1e-3), "{name}");
    }
    eprintln!(
        "worst relative error {worst:.2e} over {} entries",
        p.data.len()
    );
}

#[test]
fn engine_dropout_gradients_match_finite_differences() {
    // Three streams of 7, 4 and 0 steps (the last idles) from non-zero
    // states, in a group whose first shard is 3, P 0.3: the engine's masks,
    // rows and backward against the masked f64 loss of each stream.
    let (h, v, lens) = (6, 5, [7usize, 4, 0]);
    let model = common::random_model(h, v, 21, 0.6);
    let l = model.layout;
    let key = MaskKey {
        p: 0.3,
        seed: 8,
        epoch: 2,
        first_shard: 3,
    };
    let starts = [40usize, 300, 900];
    let ids = common::random_ids(1_000, v, 4);
    let ranges: Vec<Range<usize>> = starts
        .iter()
        .zip(lens)
        .map(|(&s, t)| s..s + if t == 0 { 0 } else { t + 1 })
        .collect();
    let states: Vec<Vec<f32>> = (0..3)
        .map(|b| common::random_state(h, l.hp, 70 + b as u64))
        .collect();
    let mut bptt = Bptt::new(l, 3, 8);
    for (b, s) in states.iter().enumerate() {
        bptt.set_state(b, s);
    }
    let loss = bptt.train_forward(&model.weights, None, &ids, &ranges, Some(&key));
    let mut grads = l.zeros();
    bptt.backward(&model.weights, &mut grads);
    let engine = RefParams::from_engine(&l, &grads);

    // The masked loss summed over the streams, as a function of the weights.
    let streams: Vec<(Vec<f64>, &[u16], RefMasks)> = (0..2)
        .map(|b| {
            let h0 = states[b][..h].iter().map(|&x| x as f64).collect();
            let masks = masks_of(&key, b, starts[b], lens[b], h);
            (h0, &ids[ranges[b].clone()], masks)
        })
        .collect();
    let total = |p: &RefParams| -> f64 {
        streams
            .iter()
            .map(|(h0, chunk, m)| reference::loss_dropped(p, h0, chunk, Some(m)).0)
            .sum()
    };
    let p = RefParams::from_model(&model);
    assert!(
        (loss.sum - total(&p)).abs() < 1e-4 * total(&p),
        "loss {loss:?}"
    );
    assert_eq!(loss.count, 11);
    // Dropout changed the loss (the masks are not all ones).
    let plain: f64 = streams
        .iter()
        .map(|(h0, chunk, _)| reference::loss(&p, h0, chunk).0)
        .sum();
    assert!((plain - total(&p)).abs() > 1e-3, "{plain} vs {}", total(&p));

    let eps = 1e-6;
    let mut numeric = vec![0.0; p.data.len()];
    for (k, n) in numeric.iter_mut().enumerate() {
        let (mut plus, mut minus) = (p.clone(), p.clone());
        plus.data[k] += eps;
        minus.data[k] -= eps;
        *n = (total(&plus) - total(&minus)) / (2.0 * eps);
    }
    // tests/engine.rs's tolerance: f32 sums of a few hundred products agree
    // to 1e-4 of the tensor's largest value (at least 1).
    for (name, range) in tensors(p.ix(), p.data.len()) {
        let (e, n) = (&engine.data[range.clone()], &numeric[range]);
        let scale = n.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        assert!(n.iter().any(|&g| g.abs() > 1e-3), "{name} is all zero");
        for (i, (a, b)) in e.iter().zip(n).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{name}[{i}]: engine {a}, finite differences {b}"
            );
        }
    }
}

#[test]
fn loss_is_the_sum_of_next_character_cross_entropies() {
    // With all weights zero every distribution is uniform: loss = T ln V.
    let mut model = common::random_model(3, 6, 1, 0.5);
    model.weights.fill(0.0);
    let p = RefParams::from_model(&model);
    let (loss, h) = reference::loss(&p, &[0.0; 3], &[0, 1, 2, 3, 4]);
    assert!((loss - 4.0 * 6f64.ln()).abs() < 1e-12, "{loss}");
    assert_eq!(h, vec![0.0; 3]);
}
