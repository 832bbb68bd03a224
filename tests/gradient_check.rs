//! The `f64` reference's analytic gradients against central finite
//! differences of its loss, for every entry of every parameter tensor.

mod common;

use rnn_fast::reference::{self, RefParams};

#[test]
fn reference_gradients_match_finite_differences() {
    // H 5, V 4, T 7, a non-zero initial state: every tensor and the carried
    // state's path through Whh are exercised.
    let model = common::random_model(5, 4, 11, 0.8);
    let p = RefParams::from_model(&model);
    let h0: Vec<f64> = common::random_state(5, 5, 3)
        .iter()
        .map(|&x| x as f64)
        .collect();
    let ids = common::random_ids(8, 4, 7);
    let (_, grads, _) = reference::loss_and_grad(&p, &h0, &ids);

    let eps = 1e-6;
    let mut worst = 0.0f64;
    for k in 0..p.data.len() {
        let mut plus = p.clone();
        plus.data[k] += eps;
        let mut minus = p.clone();
        minus.data[k] -= eps;
        let numeric = (reference::loss(&plus, &h0, &ids).0 - reference::loss(&minus, &h0, &ids).0)
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
    let ix = p.ix();
    assert!(
        grads.data[..ix.whh(0, 0)].iter().any(|&g| g.abs() > 1e-3),
        "dWxh"
    );
    assert!(
        grads.data[ix.whh(0, 0)..ix.why(0, 0)]
            .iter()
            .any(|&g| g.abs() > 1e-3),
        "dWhh"
    );
    assert!(
        grads.data[ix.why(0, 0)..ix.bh(0)]
            .iter()
            .any(|&g| g.abs() > 1e-3),
        "dWhy"
    );
    assert!(
        grads.data[ix.bh(0)..ix.by(0)]
            .iter()
            .any(|&g| g.abs() > 1e-3),
        "dbh"
    );
    assert!(
        grads.data[ix.by(0)..].iter().any(|&g| g.abs() > 1e-3),
        "dby"
    );
    eprintln!(
        "worst relative error {worst:.2e} over {} entries",
        p.data.len()
    );
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
