//! One stream's step reads `W_hh` as stored, a dot product with each of its
//! rows, once the rows are long enough (`cell::reads_w_hh_as_stored`); more
//! streams, and shorter rows, read the transposed copy in panels. The two
//! paths must compute the same model: a chunk of one stream against the
//! same text read by both streams of a two-stream chunk, for every cell, one
//! layer and (for the cells that stack) two, at the smallest H that takes
//! the one-stream path and at a larger one that the layout pads. The loss,
//! the carried state at the end of the chunk and the gradients are
//! compared. The weights prepared for more streams serve one stream too,
//! where one stream's own preparation leaves the panels out. One stream's
//! backward product reads `W_hh` packed in panels where `cell::packs_whh`
//! says so (f32x8 SIMD builds, rows over 64 values, `W_hh` at least twice
//! the L1d), else as stored in two column halves, and as stored where it
//! finds no panels: the same bits.

mod common;

use rnn_fast::bptt::Bptt;
use rnn_fast::cell::{self, packs_whh, reads_w_hh_as_stored};
use rnn_fast::kernels::LANES;
use rnn_fast::kernels::tuning::one_row_back_on_panels;
use rnn_fast::layout::{CellKind, Layout};

const V: usize = 11;
const STEPS: usize = 24;

/// The smallest H (a multiple of 16) whose one-stream step reads `W_hh` as
/// stored; the H below it reads the panels.
fn smallest_h_reading_as_stored(cell: CellKind, layers: usize) -> usize {
    let takes = |h| reads_w_hh_as_stored(&Layout::stacked(cell, layers, h, V), 1);
    let h = (16..=1024)
        .step_by(16)
        .find(|&h| takes(h))
        .expect("a row length that takes the path");
    assert!(!takes(h - 16), "{cell:?} H {}", h - 16);
    h
}

fn check(cell: CellKind, layers: usize, h: usize) {
    let model = common::random_cell_model(cell, layers, h, V, 7, 0.1);
    let l = model.layout;
    assert!(reads_w_hh_as_stored(&l, 1), "{cell:?} H {h}");
    assert!(!reads_w_hh_as_stored(&l, 2), "two streams read the panels");
    let ids = common::random_ids(STEPS + 1, V, 3);
    let chunk = 0..STEPS + 1;

    let mut one = Bptt::new(l, 1, STEPS);
    let loss_one = one.forward(&model.weights, &ids, std::slice::from_ref(&chunk));
    let mut two = Bptt::new(l, 2, STEPS);
    let loss_two = two.forward(&model.weights, &ids, &[chunk.clone(), chunk]);

    // Each product sums H (or G·H) terms in another order on the two paths:
    // a few units of f32 rounding per step, not a different result.
    assert_eq!((loss_one.count, loss_two.count), (STEPS, 2 * STEPS));
    let (a, b) = (loss_one.mean(), loss_two.mean());
    assert!(
        (a - b).abs() <= 1e-6 * b.abs(),
        "{cell:?} × {layers}, H {h}: loss {a} on one stream, {b} on two"
    );
    for stream in 0..2 {
        for (i, (x, y)) in one.state(0).iter().zip(two.state(stream)).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "{cell:?} × {layers}, H {h}: state [{i}] {x} on one stream, {y} on stream {stream} of two"
            );
        }
    }

    // Two streams of the same text sum twice one stream's gradient; the
    // tolerance is tests/engine.rs's, 1e-4 of the largest gradient (at
    // least 1).
    let (mut g_one, mut g_two) = (l.zeros(), l.zeros());
    one.backward(&model.weights, &mut g_one);
    two.backward(&model.weights, &mut g_two);
    let scale = g_two.iter().fold(1.0f32, |m, x| m.max(x.abs()));
    assert!(
        g_two.iter().any(|x| x.abs() > 1e-3),
        "{cell:?}: no gradient"
    );
    for (i, (x, y)) in g_one.iter().zip(&g_two).enumerate() {
        assert!(
            (2.0 * x - y).abs() <= 1e-4 * scale,
            "{cell:?} × {layers}, H {h}: gradient [{i}] {x} on one stream, {y} summed over two"
        );
    }
}

/// Every cell with one layer, and with two where it stacks.
fn cells_and_layers() -> impl Iterator<Item = (CellKind, usize)> {
    [CellKind::Tanh, CellKind::Gru, CellKind::Lstm]
        .into_iter()
        .flat_map(|cell| [(cell, 1), (cell, 2)])
        .filter(|&(cell, layers)| layers == 1 || cell.cell().stacks())
}

#[test]
fn one_stream_reading_w_hh_as_stored_computes_what_the_panels_compute() {
    for (cell, layers) in cells_and_layers() {
        let h = smallest_h_reading_as_stored(cell, layers);
        // And an H the layout pads (zero columns up to the next 16).
        for h in [h, h + 24] {
            check(cell, layers, h);
        }
    }
}

/// The prepared weights hold `W_hhᵀ` in panels only for steps that read
/// them: none for one stream where it reads `W_hh` as stored. Weights
/// prepared for two streams (panels, and the LSTM's biases before them)
/// serve a one-stream pass too, as the trainer's shared preparation serves
/// a last group of fewer streams: the same loss and state, bit for bit, as
/// the pass's own preparation for one stream.
#[test]
fn weights_prepared_for_more_streams_serve_one() {
    for (cell, layers) in cells_and_layers() {
        let h = smallest_h_reading_as_stored(cell, layers) + 24;
        let model = common::random_cell_model(cell, layers, h, V, 11, 0.1);
        let (l, c) = (model.layout, cell.cell());
        let panels = c.gates() * l.hp * l.hp * layers;
        assert_eq!(
            c.prepared_len(&l, 2) - c.prepared_len(&l, 1),
            panels,
            "{cell:?} × {layers}: one stream's preparation leaves out the panels"
        );
        let mut prepared = rnn_fast::kernels::aligned::zeros(c.prepared_len(&l, 2));
        c.prepare(&l, &model.weights, 2, &mut prepared);
        let ids = common::random_ids(STEPS + 1, V, 5);
        let chunk = std::slice::from_ref(&(0..STEPS + 1));
        let mut own = Bptt::new(l, 1, STEPS);
        let loss_own = own.forward(&model.weights, &ids, chunk);
        let mut shared = Bptt::new(l, 1, STEPS);
        let loss_shared = shared.forward_prepared(&model.weights, &prepared, &ids, chunk);
        assert_eq!(
            loss_own.sum.to_bits(),
            loss_shared.sum.to_bits(),
            "{cell:?} × {layers}: loss"
        );
        assert!(
            common::same_bits(own.state(0), shared.state(0)),
            "{cell:?} × {layers}: state"
        );
    }
}

/// One stream's backward pass gives the same gradients, bit for bit, three
/// ways: packing `W_hh` in panels itself (`Bptt::backward`), on panels an
/// update packed for 32 streams, and finding no panels (read as stored, in
/// column halves), as a last group of one stream does after groups of 2 or
/// 3. Rows of 80, 144 and 256 values (H 72, 136, 256; 5, 9 and 16 panels of
/// 16 on f32x8): groups of four panels and a last group of one, where
/// `packs_whh` (a tanh cell's `W_hh` at H 72, 25 KiB, is below twice any
/// L1d). Where one stream never reads panels (the f32x16 and scalar
/// builds), all three read `W_hh` as stored; on f32x8 SIMD builds the test
/// fails unless the panels were read.
#[test]
fn one_stream_backward_on_panels_gives_the_bits_of_w_hh_as_stored() {
    let mut on_panels = 0;
    for (cell, layers) in cells_and_layers() {
        for h in [72, 136, 256] {
            if cell != CellKind::Tanh && h == 256 && layers == 2 {
                continue; // the same path as one layer, at 4× the debug-build time
            }
            let model = common::random_cell_model(cell, layers, h, V, 13, 0.1);
            let l = model.layout;
            let rows = cell.cell().gates() * l.hp;
            assert_eq!(
                packs_whh(&l, 1),
                one_row_back_on_panels(rows, l.hp),
                "{cell:?} H {h}"
            );
            on_panels += usize::from(packs_whh(&l, 1));
            let ids = common::random_ids(STEPS + 1, V, 17);
            let chunk = std::slice::from_ref(&(0..STEPS + 1));
            let mut packed_32 = vec![0.0; l.back_panels_len(32)];
            cell::pack_back_panels(&l, &model.weights, 32, &mut packed_32);
            let grads = |panels: Option<&[f32]>| {
                let mut bptt = Bptt::new(l, 1, STEPS);
                bptt.train_forward(&model.weights, None, &ids, chunk, None);
                let mut grads = l.zeros();
                match panels {
                    Some(p) => bptt.backward_prepared(&model.weights, p, &mut grads),
                    None => bptt.backward(&model.weights, &mut grads),
                }
                grads
            };
            let own = grads(None);
            assert!(
                own.iter().any(|&g| g.abs() > 1e-3),
                "{cell:?} H {h}: no gradient"
            );
            for (what, other) in [
                ("packed for 32 streams", grads(Some(&packed_32))),
                ("read as stored", grads(Some(&[]))),
            ] {
                assert!(
                    common::same_bits(&own, &other),
                    "{cell:?} × {layers}, H {h}: one stream's own panels against {what}"
                );
            }
        }
    }
    let f32x8_simd = LANES == 8 && !cfg!(feature = "scalar-kernels");
    assert!(
        !f32x8_simd || on_panels > 0,
        "no case read one stream's panels"
    );
}
