//! The f32 engine (chunk-level products, padded layout, several streams)
//! against the article-literal f64 reference.
//!
//! Tolerance: every engine value is an f32 sum of at most a few hundred
//! products, each rounded at 2^-24 ≈ 6e-8 relative; the worst-case bound is
//! about k·2^-24 ≈ 1e-5 of the tensor's scale. Each entry must agree with the
//! reference to 1e-4 of the largest |value| of its tensor (at least 1), ten
//! times that bound; an indexing or transposition error is off by O(1).

mod common;

use rnn_fast::bptt::Bptt;
use rnn_fast::eval;
use rnn_fast::reference::{self, RefParams};

const TOL: f64 = 1e-4;

fn assert_close(what: &str, engine: &[f64], reference: &[f64]) {
    assert_eq!(engine.len(), reference.len());
    let scale = reference.iter().fold(1.0f64, |m, r| m.max(r.abs()));
    for (k, (e, r)) in engine.iter().zip(reference).enumerate() {
        assert!(
            (e - r).abs() <= TOL * scale,
            "{what}[{k}]: engine {e}, reference {r} (scale {scale})"
        );
    }
}

/// One forward+backward of `lens.len()` streams with chunks of the given
/// numbers of steps, compared with the reference run stream by stream.
fn check_chunk(h: usize, v: usize, seq_len: usize, lens: &[usize], seed: u64) {
    let model = common::random_model(h, v, seed, 0.5);
    let l = model.layout;
    let b_n = lens.len();
    let mut bptt = Bptt::new(l, b_n, seq_len);
    let chunks: Vec<Vec<u16>> = lens
        .iter()
        .enumerate()
        .map(|(b, &t)| common::random_ids(if t == 0 { 0 } else { t + 1 }, v, seed + b as u64))
        .collect();
    let states: Vec<Vec<f32>> = (0..b_n)
        .map(|b| common::random_state(h, l.hp, seed * 31 + b as u64))
        .collect();
    for (b, s) in states.iter().enumerate() {
        bptt.set_state(b, s);
    }
    let ids: Vec<u16> = chunks.concat();
    let mut ranges = Vec::new();
    let mut start = 0;
    for c in &chunks {
        ranges.push(start..start + c.len());
        start += c.len();
    }
    let loss = bptt.forward(&model.weights, &ids, &ranges);
    let mut grads = l.zeros();
    bptt.backward(&model.weights, &mut grads);

    let p = RefParams::from_model(&model);
    let mut ref_loss = 0.0;
    let mut ref_grads = RefParams::zeros(h, v);
    for b in 0..b_n {
        let h0: Vec<f64> = states[b][..h].iter().map(|&x| x as f64).collect();
        if chunks[b].len() < 2 {
            assert_eq!(
                &bptt.state(b)[..h],
                &states[b][..h],
                "an idle stream keeps its state"
            );
            continue;
        }
        let (lsum, g, h_last) = reference::loss_and_grad(&p, &h0, &chunks[b]);
        ref_loss += lsum;
        for (a, gv) in ref_grads.data.iter_mut().zip(&g.data) {
            *a += gv;
        }
        let state: Vec<f64> = bptt.state(b)[..h].iter().map(|&x| x as f64).collect();
        assert_close("carried state", &state, &h_last);
        assert!(
            bptt.state(b)[h..].iter().all(|&x| x == 0.0),
            "pad state stays zero"
        );
    }
    assert_eq!(loss.count, lens.iter().sum::<usize>());
    assert!(
        (loss.sum - ref_loss).abs() <= TOL * ref_loss.max(1.0),
        "loss {} vs reference {ref_loss}",
        loss.sum
    );
    let engine = RefParams::from_engine(&l, &grads);
    assert_close(
        &format!("grads h{h} v{v} lens{lens:?}"),
        &engine.data,
        &ref_grads.data,
    );
    // Pad entries of every gradient tensor are exactly zero.
    let mut padded_only = grads.clone();
    let t = rnn_fast::cell::tanh::split_mut(&l, &mut padded_only);
    for x in 0..v {
        t.wxh[x * l.hp..x * l.hp + h].fill(0.0);
    }
    for i in 0..h {
        t.whh[i * l.hp..i * l.hp + h].fill(0.0);
    }
    for o in 0..v {
        t.why[o * l.hp..o * l.hp + h].fill(0.0);
    }
    t.bh[..h].fill(0.0);
    t.by[..v].fill(0.0);
    assert!(
        padded_only.iter().all(|&g| g == 0.0),
        "a pad gradient is non-zero"
    );
}

#[test]
fn one_stream_matches_reference() {
    // H 250 pads to Hp 256: one stream reads Whh as stored, odd steps last
    // row first, and the logits read Why from a copy at a padded stride
    // (`tuning::row_stride`). (H 256 at V 30 exceeds the tolerance on the
    // scalar twins, whose plain f32 sums of 256 terms drift 1.1e-4 of the
    // largest gradient; the SIMD paths hold it.)
    for &(h, v) in &[
        (1, 2),
        (5, 3),
        (8, 8),
        (13, 29),
        (64, 65),
        (100, 65),
        (250, 65),
    ] {
        check_chunk(h, v, 9, &[9], (h * 100 + v) as u64);
        check_chunk(h, v, 9, &[4], (h * 100 + v + 1) as u64);
    }
}

#[test]
fn several_ragged_streams_match_reference() {
    for &(h, v) in &[(3, 5), (16, 17), (33, 40), (256, 20)] {
        check_chunk(h, v, 6, &[6, 6, 6], 1 + h as u64);
        check_chunk(h, v, 6, &[6, 4, 1, 0], 2 + h as u64);
        check_chunk(h, v, 6, &[2, 6], 3 + h as u64);
    }
}

#[test]
fn state_carries_across_chunks_as_one_long_pass() {
    // Two chunks of 5 with the carried state give the same loss as one pass of 10.
    let model = common::random_model(12, 7, 5, 0.6);
    let ids = common::random_ids(11, 7, 9);
    let mut bptt = Bptt::new(model.layout, 1, 5);
    let a = bptt.forward(&model.weights, &ids, std::slice::from_ref(&(0..6)));
    let b = bptt.forward(&model.weights, &ids, std::slice::from_ref(&(5..11)));
    let p = RefParams::from_model(&model);
    let (whole, _) = reference::loss(&p, &[0.0; 12], &ids);
    assert_eq!(a.count + b.count, 10);
    assert!(
        (a.sum + b.sum - whole).abs() < 1e-4 * whole,
        "{} vs {whole}",
        a.sum + b.sum
    );
}

#[test]
fn eval_matches_reference_forward() {
    let model = common::random_model(20, 11, 8, 0.7);
    let ids = common::random_ids(700, 11, 4);
    let score = eval::evaluate(&model, &ids);
    let p = RefParams::from_model(&model);
    let (sum, _) = reference::loss(&p, &[0.0; 20], &ids);
    let expected = sum / 699.0;
    assert_eq!(score.chars, 699);
    assert!(
        (score.loss_nats - expected).abs() < 1e-5 * expected,
        "{} vs {expected}",
        score.loss_nats
    );
}

#[test]
fn segmented_validation_is_close_to_exact_and_thread_independent() {
    let model = common::random_model(16, 9, 3, 0.6);
    let ids = common::random_ids(3 * eval::MIN_SEGMENT + 17, 9, 5);
    let exact = eval::evaluate(&model, &ids);
    let seq = eval::evaluate_segments(&model, &ids, 32, false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let par = pool.install(|| eval::evaluate_segments(&model, &ids, 32, true));
    assert_eq!(seq, par);
    // Three segments: every character predicted once, and only the first
    // characters of two segments see a shorter context.
    assert_eq!(seq.chars, exact.chars);
    let rel = (seq.loss_nats - exact.loss_nats).abs() / exact.loss_nats;
    assert!(
        rel < 1e-3,
        "segmented {} vs exact {}",
        seq.loss_nats,
        exact.loss_nats
    );
    // A text shorter than two segments is scored exactly.
    let short = &ids[..eval::MIN_SEGMENT + 5];
    assert_eq!(
        eval::evaluate_segments(&model, short, 32, false),
        eval::evaluate(&model, short)
    );
}
