//! The LSTM and GRU cells against their `f64` reference
//! ([`rnn_fast::gated_reference`]): the forward pass (loss and carried
//! state) of ragged streams, the state carried across chunks, and the
//! engine's gradients of every entry of every tensor against central
//! differences of the reference's loss, without and with dropout, of one
//! layer and of stacked layers (`--layers`), and at sizes where the gate
//! gradients' rows are padded.

mod common;

use std::ops::Range;

use rnn_fast::bptt::Bptt;
use rnn_fast::dropout::{MaskKey, Which};
use rnn_fast::gated_reference::{self, FileParams, Masks};
use rnn_fast::kernels::tuning;
use rnn_fast::layout::{CellKind, Layout};
use rnn_fast::model::Model;

const CELLS: [CellKind; 2] = [CellKind::Lstm, CellKind::Gru];

/// A carried state of `l`'s cell for stream `seed`: engine form (padded)
/// and reference form (one H-vector per part, layer after layer).
fn random_state(l: &Layout, seed: u64) -> (Vec<f32>, Vec<Vec<f64>>) {
    let parts = l.carried_parts().len();
    let mut engine = Vec::new();
    let mut reference = Vec::new();
    for part in 0..parts {
        let s = common::random_state(l.h, l.hp, seed * 10 + part as u64);
        reference.push(s[..l.h].iter().map(|&x| x as f64).collect());
        engine.extend(s);
    }
    (engine, reference)
}

/// The streams of one chunk: stream b reads `ids[starts[b]..]` for `lens[b]`
/// steps (0: it idles).
fn ranges(starts: &[usize], lens: &[usize]) -> Vec<Range<usize>> {
    starts
        .iter()
        .zip(lens)
        .map(|(&s, &t)| s..s + if t == 0 { 0 } else { t + 1 })
        .collect()
}

/// The masks `which` the engine draws for stream b of a group keyed `key`
/// (shard `first_shard + b`, position `start + t`), H values per step.
fn stream_masks(
    key: &MaskKey,
    which: Which,
    b: usize,
    start: usize,
    steps: usize,
    h: usize,
) -> Vec<f64> {
    let mut row = vec![0.0f32; h];
    (0..steps)
        .flat_map(|t| {
            let (shard, pos) = (key.first_shard + b as u64, (start + t) as u64);
            key.fill_row(shard, pos, which, h, &mut row);
            row.iter().map(|&m| m as f64).collect::<Vec<_>>()
        })
        .collect()
}

/// Every mask of stream b of a model of `layers` layers.
fn masks(key: &MaskKey, layers: usize, b: usize, start: usize, steps: usize, h: usize) -> Masks {
    Masks {
        output: stream_masks(key, Which::Output, b, start, steps, h),
        between: (0..layers - 1)
            .map(|k| stream_masks(key, Which::Between(k), b, start, steps, h))
            .collect(),
    }
}

/// One chunk of ragged streams from random states, forward (through the
/// dropout masks of `key` when given) and backward: the engine's loss and
/// gradients against the reference's loss and its central differences.
fn check_chunk(cell: CellKind, layers: usize, key: Option<&MaskKey>) {
    check_chunk_at(cell, layers, key, 5, usize::MAX);
}

/// [`check_chunk`] at H `h`, with finite differences at `per_tensor`
/// entries of each tensor spread over it (all where it has fewer).
fn check_chunk_at(
    cell: CellKind,
    layers: usize,
    key: Option<&MaskKey>,
    h: usize,
    per_tensor: usize,
) {
    // Five streams (so that the backward pass reads W_hh as panels), one
    // idle and the rest ragged.
    let v = 6;
    // Weights within ±0.7 at H 5, scaled by 1/√H beyond, so that each
    // pre-activation (a sum of H terms) keeps its size and the f32 sums
    // their error.
    let scale = 0.7 * (5.0 / h.max(5) as f32).sqrt();
    let (lens, starts) = ([6usize, 3, 0, 5, 6], [30usize, 200, 700, 400, 500]);
    let model = common::random_cell_model(cell, layers, h, v, 17, scale);
    let l = model.layout;
    let ids = common::random_ids(800, v, 3);
    let ranges = ranges(&starts, &lens);
    let states: Vec<_> = (0..5).map(|b| random_state(&l, 40 + b)).collect();
    let mut bptt = Bptt::new(l, 5, 6);
    for (b, (s, _)) in states.iter().enumerate() {
        bptt.set_state(b, s);
    }
    let loss = bptt.train_forward(&model.weights, None, &ids, &ranges, key);
    let mut grads = l.zeros();
    bptt.backward(&model.weights, &mut grads);
    let engine = FileParams::from_engine(&l, &grads);

    let masks: Vec<Option<Masks>> = (0..5)
        .map(|b| key.map(|k| masks(k, layers, b, starts[b], lens[b], h)))
        .collect();
    let total = |p: &FileParams| -> f64 {
        (0..5)
            .map(|b| {
                let chunk = &ids[ranges[b].clone()];
                gated_reference::loss(p, &states[b].1, chunk, masks[b].as_ref()).0
            })
            .sum()
    };
    let p = FileParams::from_engine(&l, &model.weights);
    let want = total(&p);
    assert_eq!(loss.count, 20);
    assert!(
        (loss.sum - want).abs() < 1e-5 * want,
        "{cell}: loss {} vs reference {want}",
        loss.sum
    );
    // The carried states: stream 2 idled and keeps its own.
    for (b, (engine_state, ref_state)) in states.iter().enumerate() {
        let after = match lens[b] {
            0 => ref_state.clone(),
            _ => {
                let chunk = &ids[ranges[b].clone()];
                gated_reference::loss(&p, ref_state, chunk, masks[b].as_ref()).1
            }
        };
        let got = bptt.state(b);
        assert_eq!(got.len(), engine_state.len());
        for (part, want) in after.iter().enumerate() {
            for j in 0..l.hp {
                let g = got[part * l.hp + j] as f64;
                let w = if j < h { want[j] } else { 0.0 };
                assert!(
                    (g - w).abs() < 1e-5,
                    "{cell}: state {b} part {part} unit {j}: {g} vs {w}"
                );
            }
        }
    }
    if key.is_some() {
        let plain: f64 = (0..5)
            .map(|b| gated_reference::loss(&p, &states[b].1, &ids[ranges[b].clone()], None).0)
            .sum();
        assert!(
            (plain - want).abs() > 1e-3,
            "{cell}: the masks changed nothing"
        );
    }

    let eps = 1e-6;
    for name in p.names() {
        let range = p.range(name);
        let step = range.len().div_ceil(per_tensor.min(range.len()));
        let at: Vec<usize> = range.clone().step_by(step).collect();
        let numeric: Vec<f64> = at
            .iter()
            .map(|&k| {
                let (mut plus, mut minus) = (p.clone(), p.clone());
                plus.data[k] += eps;
                minus.data[k] -= eps;
                (total(&plus) - total(&minus)) / (2.0 * eps)
            })
            .collect();
        let got: Vec<f64> = at.iter().map(|&k| engine.data[k]).collect();
        // tests/engine.rs's tolerance: f32 sums agree to 1e-4 of the
        // tensor's largest gradient (at least 1).
        let scale = numeric.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        assert!(
            numeric.iter().any(|&g| g.abs() > 1e-3),
            "{cell}: d{name} is all zero"
        );
        for ((a, b), k) in got.iter().zip(&numeric).zip(&at) {
            let i = k - range.start;
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{cell}: d{name}[{i}]: engine {a}, finite differences {b}"
            );
        }
    }
}

#[test]
fn lstm_chunk_matches_reference_and_finite_differences() {
    check_chunk(CellKind::Lstm, 1, None);
}

#[test]
fn gru_chunk_matches_reference_and_finite_differences() {
    check_chunk(CellKind::Gru, 1, None);
}

#[test]
fn gate_gradients_on_a_padded_row_stride_match_reference_and_finite_differences() {
    // The gate gradients' rows are padded where G·Hp values are a multiple
    // of 1 KiB (`gates::dpre_stride`): the LSTM's from H 64 (4 × 64 = 256
    // values), the GRU's at H 256 (768). Two layers, so that the layer
    // above reads them as its input side (`dW_ih`, `dX`) too.
    for (cell, h) in [(CellKind::Lstm, 64), (CellKind::Gru, 256)] {
        let gw = cell.cell().gates() * h;
        assert!(tuning::row_stride(gw) > gw, "{cell} H {h}");
        check_chunk_at(cell, 2, None, h, 12);
    }
}

#[test]
fn dropped_chunks_match_reference_and_finite_differences() {
    let key = MaskKey {
        p: 0.3,
        seed: 8,
        epoch: 2,
        first_shard: 3,
    };
    for cell in CELLS {
        check_chunk(cell, 1, Some(&key));
    }
}

#[test]
fn stacked_chunks_match_reference_and_finite_differences() {
    // Three layers: the middle one both reads a layer and feeds one.
    for cell in CELLS {
        check_chunk(cell, 3, None);
    }
}

#[test]
fn dropped_stacked_chunks_match_reference_and_finite_differences() {
    let key = MaskKey {
        p: 0.3,
        seed: 11,
        epoch: 1,
        first_shard: 0,
    };
    for cell in CELLS {
        check_chunk(cell, 2, Some(&key));
    }
}

#[test]
fn state_carries_across_chunks_as_one_long_pass() {
    for (cell, layers) in [
        (CellKind::Lstm, 1),
        (CellKind::Gru, 1),
        (CellKind::Lstm, 2),
        (CellKind::Gru, 3),
    ] {
        let (h, v) = (7, 5);
        let model: Model = common::random_cell_model(cell, layers, h, v, 5, 0.6);
        let l = model.layout;
        let ids = common::random_ids(30, v, 9);
        let mut bptt = Bptt::new(l, 1, 8);
        let mut sum = 0.0;
        for chunk in [0..9, 8..17, 16..21] {
            sum += bptt.forward(&model.weights, &ids, &[chunk]).sum;
        }
        let p = FileParams::from_engine(&l, &model.weights);
        let zero = vec![vec![0.0; h]; l.carried_parts().len()];
        let (want, state) = gated_reference::loss(&p, &zero, &ids[..21], None);
        assert!((sum - want).abs() < 1e-5 * want, "{cell}: {sum} vs {want}");
        for (part, s) in state.iter().enumerate() {
            for (j, want) in s.iter().enumerate() {
                let got = bptt.state(0)[part * l.hp + j] as f64;
                assert!((got - want).abs() < 1e-5, "{cell}: part {part} unit {j}");
            }
        }
    }
}

/// The backward pass on `W_hh` packed once for a larger group
/// (`cell::pack_back_panels`, as the trainer's update packs it for every
/// group) gives the gradients, bit for bit, of a pass that packs its own:
/// for each cell, one layer and two, at 5 streams (the panels read) and 3
/// (read as stored). The panels themselves are checked against the
/// reference by the tests above (five streams read them).
#[test]
fn panels_packed_once_for_a_larger_group_give_the_same_gradients() {
    for (cell, layers) in [
        (CellKind::Tanh, 1),
        (CellKind::Lstm, 1),
        (CellKind::Gru, 1),
        (CellKind::Lstm, 2),
        (CellKind::Gru, 2),
    ] {
        let (h, v) = (20, 7);
        let model = common::random_cell_model(cell, layers, h, v, 5, 0.5);
        let l = model.layout;
        let mut panels = vec![0.0; l.back_panels_len(32)];
        rnn_fast::cell::pack_back_panels(&l, &model.weights, 32, &mut panels);
        assert!(!panels.is_empty());
        let ids = common::random_ids(400, v, 9);
        for streams in [5, 3] {
            let lens = [6usize, 4, 6, 0, 5];
            let starts = [10usize, 90, 170, 250, 330];
            let ranges = ranges(&starts[..streams], &lens[..streams]);
            let grads = |shared: bool| {
                let mut bptt = Bptt::new(l, streams, 6);
                bptt.train_forward(&model.weights, None, &ids, &ranges, None);
                let mut grads = l.zeros();
                if shared {
                    bptt.backward_prepared(&model.weights, &panels, &mut grads);
                } else {
                    bptt.backward(&model.weights, &mut grads);
                }
                grads
            };
            let (own, shared) = (grads(false), grads(true));
            assert!(own.iter().any(|&g| g != 0.0));
            assert!(
                own.iter()
                    .zip(shared.iter())
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{cell} × {layers}, {streams} streams: the gradients differ"
            );
        }
    }
}
