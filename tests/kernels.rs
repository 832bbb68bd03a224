//! Every SIMD kernel, at both vector widths, against its scalar twin over
//! sizes 1..=70 (across the 8- and 16-lane boundaries) and start offsets
//! 0..4 (unaligned loads, tails); the matrix products on views whose rows
//! are padded (stride > columns).

mod common;

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rnn_fast::kernels::logits::WideLogits;
use rnn_fast::kernels::simd::{self, Lane};
use rnn_fast::kernels::tuning::{self, KC};
use rnn_fast::kernels::{MatMut, MatRef, chunk, chunked, scalar};
use wide::{f32x8, f32x16};

const U: f64 = f32::EPSILON as f64 / 2.0;

fn random(len: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-2.0..2.0)).collect()
}

type Gemm = fn(MatRef, MatRef, &mut MatMut);

/// Rows and columns of a stored matrix.
type Dims = (usize, usize);

#[derive(Clone, Copy, Debug)]
enum Form {
    NN,
    TN,
    NT,
}

/// Runs one product shape `(m, n, k)` through `fast` and `slow` with A, B,
/// C placed at `off` in padded buffers with strides larger than the rows.
/// Both results differ from the exact one by at most (k+1)·u·Σ|terms|
/// (recursive summation; FMA only tightens it), so they may differ from
/// each other by twice that.
fn check_gemm(
    form: Form,
    fast: Gemm,
    slow: Gemm,
    (m, n, k): (usize, usize, usize),
    off: usize,
    seed: u64,
) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (a_rows, a_cols) = match form {
        Form::NN | Form::NT => (m, k),
        Form::TN => (k, m),
    };
    let (b_rows, b_cols) = match form {
        Form::NN | Form::TN => (k, n),
        Form::NT => (n, k),
    };
    let (lda, ldb, ldc) = (a_cols + 3, b_cols + 5, n + 2);
    let a = random(off + a_rows * lda, &mut rng);
    let b = random(off + b_rows * ldb, &mut rng);
    let c0 = random(off + m * ldc, &mut rng);
    let (mut c_fast, mut c_slow) = (c0.clone(), c0.clone());
    let a_view = MatRef::new(&a[off..], a_rows, a_cols, lda);
    let b_view = MatRef::new(&b[off..], b_rows, b_cols, ldb);
    fast(
        a_view,
        b_view,
        &mut MatMut::new(&mut c_fast[off..], m, n, ldc),
    );
    slow(
        a_view,
        b_view,
        &mut MatMut::new(&mut c_slow[off..], m, n, ldc),
    );
    let a_at = |i: usize, p: usize| match form {
        Form::NN | Form::NT => a[off + i * lda + p],
        Form::TN => a[off + p * lda + i],
    };
    let b_at = |p: usize, j: usize| match form {
        Form::NN | Form::TN => b[off + p * ldb + j],
        Form::NT => b[off + j * ldb + p],
    };
    for i in 0..m {
        for j in 0..ldc {
            let at = off + i * ldc + j;
            if j >= n {
                assert_eq!(c_fast[at], c0[at], "wrote outside C at ({i}, {j})");
                continue;
            }
            let magnitude: f64 = c0[at].abs() as f64
                + (0..k)
                    .map(|p| (a_at(i, p) * b_at(p, j)).abs() as f64)
                    .sum::<f64>();
            let tol = 2.0 * (k + 1) as f64 * U * magnitude;
            let diff = (c_fast[at] as f64 - c_slow[at] as f64).abs();
            assert!(
                diff <= tol,
                "m {m} n {n} k {k} off {off}: C[{i}][{j}] fast {} slow {} (tol {tol:e})",
                c_fast[at],
                c_slow[at]
            );
        }
    }
    // Nothing before C's start was touched.
    assert_eq!(c_fast[..off], c0[..off]);
}

/// Shapes: each dimension swept over 1..=70 with the others from a set
/// that includes 1, the vector widths and odd sizes; then k past one and
/// two k-blocks of `gemm_nn`/`gemm_tn` (KC) with m across the row blocks
/// (one row, 2..=6, their remainders, and many blocks).
fn shapes() -> Vec<(usize, usize, usize)> {
    let others = [(1, 1), (1, 70), (3, 17), (4, 8), (5, 33), (9, 16), (70, 3)];
    let mut v = Vec::new();
    for x in 1..=70 {
        for &(p, q) in &others {
            v.push((p, x, q));
            v.push((x, p, q));
            v.push((p, q, x));
        }
    }
    for m in [1, 2, 6, 13, 32, 50] {
        for (n, k) in [(17, KC + 1), (64, 2 * KC + 3)] {
            v.push((m, n, k));
        }
    }
    v
}

fn check_all_gemms<V: Lane>() {
    let forms: [(Form, Gemm, Gemm); 4] = [
        (Form::NN, simd::gemm_nn_v::<V>, scalar::gemm_nn),
        (Form::TN, simd::gemm_tn_v::<V>, scalar::gemm_tn),
        (Form::NT, simd::gemm_nt_v::<V>, scalar::gemm_nt),
        (
            Form::NT,
            simd::gemm_nt_reversed_v::<V>,
            scalar::gemm_nt_reversed,
        ),
    ];
    for (s, &shape) in shapes().iter().enumerate() {
        for (form, fast, slow) in forms {
            check_gemm(form, fast, slow, shape, s % 4, s as u64);
        }
    }
}

#[test]
fn gemm_f32x8_matches_scalar() {
    check_all_gemms::<f32x8>();
}

#[test]
fn gemm_f32x16_matches_scalar() {
    check_all_gemms::<f32x16>();
}

/// A one-row product `c (1×n) += a · B` over whole vectors of 16 columns
/// is bit for bit the same on f32x8 and f32x16, and the un-suffixed
/// `gemm_nn`/`gemm_tn` (which pick the width by
/// `tuning::one_row_on_x8`) give that same result: each entry is one FMA
/// chain over k on either width, so the choice, made from CPUID and the L1d
/// size, never changes a model. Shapes: the recurrence's (n = Hp or 4·Hp,
/// k = Hp or 4·Hp) and B's past twice the L1d; A, B and C on padded rows
/// at an offset.
#[test]
fn one_row_products_agree_bitwise_across_widths() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(31);
    let nn: [Gemm; 3] = [
        simd::gemm_nn_v::<f32x8>,
        simd::gemm_nn_v::<f32x16>,
        simd::gemm_nn,
    ];
    let tn: [Gemm; 3] = [
        simd::gemm_tn_v::<f32x8>,
        simd::gemm_tn_v::<f32x16>,
        simd::gemm_tn,
    ];
    for (n, k) in [
        (16, 16),
        (32, 128),
        (64, 64),
        (256, 64),
        (64, 256),
        (128, 128),
        (512, 256),
    ] {
        for (transposed, forms) in [(false, nn), (true, tn)] {
            let off = 3;
            // A: one row of k (NN) or k rows of one (TN, stride 2).
            let (a_rows, a_cols, lda) = if transposed { (k, 1, 2) } else { (1, k, k + 5) };
            let a = random(off + a_rows * lda, &mut rng);
            let a = MatRef::new(&a[off..], a_rows, a_cols, lda);
            let b = random(off + k * (n + 16), &mut rng);
            let b = MatRef::new(&b[off..], k, n, n + 16);
            let c0 = random(off + n, &mut rng);
            let results: Vec<Vec<f32>> = forms
                .iter()
                .map(|gemm| {
                    let mut c = c0.clone();
                    gemm(a, b, &mut MatMut::new(&mut c[off..], 1, n, n));
                    c
                })
                .collect();
            assert!(
                results[0] != c0,
                "n {n} k {k}: the product left C as it was"
            );
            for (w, c) in results.iter().enumerate().skip(1) {
                assert!(
                    common::same_bits(c, &results[0]),
                    "n {n} k {k} transposed {transposed}: form {w} differs from f32x8"
                );
            }
        }
    }
}

/// `gemm_nt_reversed` (the one-row path reading B's rows last to first,
/// as one stream's odd steps do) gives `gemm_nt`'s result bit for bit, on
/// both widths and in the scalar twins: one and a few rows of A, B's rows
/// a multiple of the row block and not (the single rows left over are read
/// first), on padded views.
#[test]
fn reversed_row_order_changes_no_bit() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(41);
    let pairs: [(Gemm, Gemm); 3] = [
        (simd::gemm_nt_v::<f32x8>, simd::gemm_nt_reversed_v::<f32x8>),
        (
            simd::gemm_nt_v::<f32x16>,
            simd::gemm_nt_reversed_v::<f32x16>,
        ),
        (scalar::gemm_nt, scalar::gemm_nt_reversed),
    ];
    for (m, n, k) in [
        (1, 128, 128),
        (1, 7, 33),
        (1, 1024, 256),
        (2, 13, 70),
        (3, 6, 5),
        (9, 21, 19),
    ] {
        let a = random(m * (k + 3), &mut rng);
        let a = MatRef::new(&a, m, k, k + 3);
        let b = random(n * (k + 1), &mut rng);
        let b = MatRef::new(&b, n, k, k + 1);
        let c0 = random(m * n, &mut rng);
        for (forward, reversed) in pairs {
            let (mut c_f, mut c_r) = (c0.clone(), c0.clone());
            forward(a, b, &mut MatMut::dense(&mut c_f, m, n));
            reversed(a, b, &mut MatMut::dense(&mut c_r, m, n));
            assert!(c_f != c0, "{m}×{n}×{k}: the product left C as it was");
            assert!(
                common::same_bits(&c_f, &c_r),
                "{m}×{n}×{k}: the reversed row order changed C"
            );
        }
    }
}

/// One row of A (one stream's step reading `W_hh` as stored) takes B's
/// rows a few at a time (`tuning::NT_ROW_ROWS_X8`, `_X16`), the rows left
/// over one by one; each entry is still its own dot product, so the product
/// with all of B gives, bit for bit, the products with each row of B
/// alone. Row counts across the blocks of 3 and 4 and their remainders, k
/// with and without a scalar tail, on both widths.
#[test]
fn one_row_dot_products_do_not_depend_on_the_row_block() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(43);
    let forms: [Gemm; 2] = [simd::gemm_nt_v::<f32x8>, simd::gemm_nt_v::<f32x16>];
    for n in 1..=13 {
        for k in [8, 37, 64, 256] {
            let a = random(k, &mut rng);
            let a = MatRef::dense(&a, 1, k);
            let b = random(n * (k + 2), &mut rng);
            let b = MatRef::new(&b, n, k, k + 2);
            let c0 = random(n, &mut rng);
            for gemm in forms {
                let mut all = c0.clone();
                gemm(a, b, &mut MatMut::dense(&mut all, 1, n));
                let mut each = c0.clone();
                for j in 0..n {
                    let row = MatRef::dense(b.row(j), 1, k);
                    gemm(a, row, &mut MatMut::dense(&mut each[j..j + 1], 1, 1));
                }
                assert!(all != c0, "n {n} k {k}: the product left C as it was");
                assert!(
                    common::same_bits(&all, &each),
                    "n {n} k {k}: a row's sum depends on its row block"
                );
            }
        }
    }
}

/// `gemm_nn`/`gemm_tn` over an A of more rows than one L2 block
/// (`tuning::rows_per_l2_block`, from the L2 read at run time: at least
/// three blocks here) agree with the scalar twin, and give bit for bit what
/// the same product gives six rows at a time (each slice within one
/// block), on both widths, on padded rows (A, B and C each at a stride
/// past its columns), with panels and a column tail (n 53) and k past two
/// k-blocks: each entry is one FMA chain over k in order, however the rows
/// are blocked.
#[test]
fn l2_row_blocks_change_no_bit() {
    fn check<V: Lane>() {
        let (m, n, k) = (2 * tuning::rows_per_l2_block() + 7, 53, 2 * KC + 3);
        let forms: [(Form, Gemm, Gemm); 2] = [
            (Form::NN, simd::gemm_nn_v::<V>, scalar::gemm_nn),
            (Form::TN, simd::gemm_tn_v::<V>, scalar::gemm_tn),
        ];
        for (form, fast, slow) in forms {
            check_gemm(form, fast, slow, (m, n, k), 1, 61);
            let transposed = matches!(form, Form::TN);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(61);
            let (a_rows, a_cols) = if transposed { (k, m) } else { (m, k) };
            let (lda, ldb, ldc) = (a_cols + 5, n + 3, n + 7);
            let a = random(a_rows * lda, &mut rng);
            let a = MatRef::new(&a, a_rows, a_cols, lda);
            let b = random(k * ldb, &mut rng);
            let b = MatRef::new(&b, k, n, ldb);
            let c0 = random(m * ldc, &mut rng);
            let mut all = c0.clone();
            fast(a, b, &mut MatMut::new(&mut all, m, n, ldc));
            let mut sliced = c0.clone();
            for i0 in (0..m).step_by(6) {
                let rows = 6.min(m - i0);
                let a_rows = if transposed {
                    a.sub(0..k, i0..i0 + rows)
                } else {
                    a.sub(i0..i0 + rows, 0..k)
                };
                let c = &mut sliced[i0 * ldc..];
                fast(a_rows, b, &mut MatMut::new(c, rows, n, ldc));
            }
            assert!(all != c0, "{form:?}: C unchanged");
            assert!(
                common::same_bits(&all, &sliced),
                "{} lanes, {form:?}, m {m}: the sums depend on the L2 blocks",
                V::N
            );
        }
    }
    check::<f32x8>();
    check::<f32x16>();
}

/// One stream's backward product `g (1 × Hp) += dpre · W_hh` runs on W_hh's
/// two column halves in turn, either half first (`gates::BackProduct`):
/// the engine's `gemm_nn` (which picks f32x8 for a small B) gives one
/// pass's result bit for bit, at the gated cells' shapes (G·Hp rows of Hp
/// 128, 256 and a padded 272, split at a multiple of 16).
#[test]
fn column_halves_change_no_bit() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(43);
    for (k, n) in [(512, 128), (1024, 256), (768, 256), (1088, 272)] {
        let split = n / 2 / 16 * 16;
        let a = random(k, &mut rng);
        let a = MatRef::dense(&a, 1, k);
        let b = random(k * n, &mut rng);
        let c0 = random(n, &mut rng);
        let mut whole = c0.clone();
        rnn_fast::kernels::gemm_nn(
            a,
            MatRef::dense(&b, k, n),
            &mut MatMut::dense(&mut whole, 1, n),
        );
        assert!(whole != c0, "{k}×{n}: the product left C as it was");
        for halves in [[0..split, split..n], [split..n, 0..split]] {
            let mut c = c0.clone();
            for cols in halves {
                let (at, w) = (cols.start, cols.len());
                rnn_fast::kernels::gemm_nn(
                    a,
                    MatRef::new(&b[at..], k, w, n),
                    &mut MatMut::new(&mut c[at..], 1, w, n),
                );
            }
            assert!(
                common::same_bits(&whole, &c),
                "{k}×{n}: the column halves changed C"
            );
        }
    }
}

/// The width rule: f32x8 only on a CPU that loads 512 bits at half rate,
/// and never once B is past twice the L1d.
#[test]
fn one_row_width_rule_follows_the_cpu_and_the_l1d() {
    let l1d = tuning::cache_bytes().0;
    let floats = 2 * l1d / size_of::<f32>();
    assert_eq!(
        tuning::one_row_on_x8(floats / 64, 64),
        tuning::halves_wide_loads()
    );
    assert!(!tuning::one_row_on_x8(floats / 64 + 1, 64));
}

#[test]
fn gemm_with_zero_sizes_does_nothing() {
    let a = [1.0f32; 4];
    let mut c = [5.0f32; 4];
    let view = |rows, cols| MatRef::new(&a, rows, cols, 2);
    for (nn, nt, tn) in [
        (
            simd::gemm_nn as Gemm,
            simd::gemm_nt as Gemm,
            simd::gemm_tn as Gemm,
        ),
        (scalar::gemm_nn, scalar::gemm_nt, scalar::gemm_tn),
    ] {
        // m = 0; n = 0; k = 0.
        nn(view(0, 2), view(2, 2), &mut MatMut::new(&mut c, 0, 2, 2));
        nt(view(2, 2), view(0, 2), &mut MatMut::new(&mut c, 2, 0, 2));
        tn(view(0, 2), view(0, 2), &mut MatMut::new(&mut c, 2, 2, 2));
    }
    assert_eq!(c, [5.0; 4]);
}

/// Each product, SIMD and scalar, refuses views whose shapes disagree and
/// says which.
#[test]
fn gemm_with_disagreeing_shapes_panics() {
    let a = [1.0f32; 64];
    let mut c = [0.0f32; 64];
    let m = |rows, cols| MatRef::dense(&a, rows, cols);
    // (name, SIMD, scalar, A stored rows×cols, B stored rows×cols); C is 2×5.
    let cases: [(&str, Gemm, Gemm, Dims, Dims); 3] = [
        // A 2×3 · B 4×5: k disagrees.
        ("gemm_nn", simd::gemm_nn, scalar::gemm_nn, (2, 3), (4, 5)),
        // Aᵀ (A stored 3×2) is 2×3 and B 3×4 agree on k, but C is 2×5: n disagrees.
        ("gemm_tn", simd::gemm_tn, scalar::gemm_tn, (3, 2), (3, 4)),
        // A 2×3 · (B stored 5×4)ᵀ: k disagrees.
        ("gemm_nt", simd::gemm_nt, scalar::gemm_nt, (2, 3), (5, 4)),
    ];
    for (name, fast, slow, (ar, ac), (br, bc)) in cases {
        for f in [fast, slow] {
            let mut c_view = MatMut::dense(&mut c, 2, 5);
            let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(m(ar, ac), m(br, bc), &mut c_view)
            }))
            .expect_err(name);
            let msg = err.downcast_ref::<String>().expect("a formatted message");
            assert!(
                msg.starts_with(&format!("{name}: shapes disagree")),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("A stored {ar}×{ac}, B stored {br}×{bc}")),
                "{msg}"
            );
        }
    }
}

fn check_elementwise<V: Lane>() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    for len in 1..=70 {
        for off in 0..4 {
            let x = random(off + len, &mut rng);
            let y = random(off + len, &mut rng);
            let (xs, ys) = (&x[off..], &y[off..]);

            let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
            simd::add_v::<V>(&mut fast, xs, ys);
            scalar::add(&mut slow, xs, ys);
            assert_eq!(fast, slow, "add len {len}");

            let (mut fast, mut slow) = (xs.to_vec(), xs.to_vec());
            simd::add_assign_v::<V>(&mut fast, ys);
            scalar::add_assign(&mut slow, ys);
            assert_eq!(fast, slow, "add_assign len {len}");

            let (mut fast, mut slow) = (ys.to_vec(), ys.to_vec());
            simd::tanh_backward_v::<V>(xs, &mut fast);
            scalar::tanh_backward(xs, &mut slow);
            for (f, s) in fast.iter().zip(&slow) {
                // One multiply may be fused differently: a few ulp of the value.
                assert!(
                    (f - s).abs() <= 4.0 * f32::EPSILON * s.abs().max(1e-30),
                    "tanh_backward {f} {s}"
                );
            }
        }
    }
}

#[test]
fn elementwise_f32x8_matches_scalar() {
    check_elementwise::<f32x8>();
}

#[test]
fn elementwise_f32x16_matches_scalar() {
    check_elementwise::<f32x16>();
}

/// tanh against f64 over [-12, 12] (and the saturated tails), every length
/// and offset: within 2^-21 absolute (8 ulp at 1; the rational
/// approximation's worst is 3.9e-7, near |x| 5.8), |tanh| ≤ 1, and against
/// the scalar twin (libm) within the same 2^-21.
fn check_tanh<V: Lane>() {
    // The special values first, so that they run through the vector path
    // (the tail past the last whole vector is the scalar twin's).
    let mut xs: Vec<f32> = vec![1e-30, -1e-30, 1e-5, -1e-5, 30.0, -30.0, 0.0];
    xs.extend((-12_000..=12_000).map(|i| i as f32 * 1e-3));
    let mut t = xs.clone();
    simd::tanh_v::<V>(&mut t);
    let mut worst = 0.0f64;
    for (&x, &y) in xs.iter().zip(&t) {
        let err = (y as f64 - (x as f64).tanh()).abs();
        worst = worst.max(err);
        assert!(
            err <= 2f64.powi(-21),
            "tanh({x}) = {y}, f64 says {}",
            (x as f64).tanh()
        );
        assert!(y.abs() <= 1.0);
    }
    eprintln!("tanh worst absolute error {worst:e}");
    // Near saturation, every 7th float of [6, 9]: never beyond ±1.
    let mut near: Vec<f32> = (6.0f32.to_bits()..9.0f32.to_bits())
        .step_by(7)
        .map(f32::from_bits)
        .collect();
    let n = near.len() / V::N * V::N;
    near.truncate(n);
    simd::tanh_v::<V>(&mut near);
    assert!(
        near.iter().all(|y| y.abs() <= 1.0),
        "tanh beyond 1 near saturation"
    );
    // Saturated: exactly ±1; NaN stays NaN.
    let mut big = [
        8.0f32,
        30.0,
        1e30,
        f32::INFINITY,
        -8.0,
        -30.0,
        -1e30,
        f32::NEG_INFINITY,
    ]
    .repeat(V::N);
    simd::tanh_v::<V>(&mut big);
    for (i, y) in big.iter().enumerate() {
        assert_eq!(*y, if i % 8 < 4 { 1.0 } else { -1.0 }, "saturated tanh");
    }
    let mut nan = vec![f32::NAN; V::N];
    simd::tanh_v::<V>(&mut nan);
    assert!(nan.iter().all(|y| y.is_nan()), "tanh(NaN)");
    for len in 1..=70 {
        for off in 0..4 {
            let src: Vec<f32> = (0..off + len)
                .map(|i| (i as f32 * 0.37).sin() * 5.0)
                .collect();
            let (mut fast, mut slow) = (src[off..].to_vec(), src[off..].to_vec());
            simd::tanh_v::<V>(&mut fast);
            scalar::tanh(&mut slow);
            for (f, s) in fast.iter().zip(&slow) {
                assert!((f - s).abs() <= 2f32.powi(-21), "len {len}: {f} vs {s}");
            }
        }
    }
}

#[test]
fn tanh_f32x8_is_accurate() {
    check_tanh::<f32x8>();
}

#[test]
fn tanh_f32x16_is_accurate() {
    check_tanh::<f32x16>();
}

/// `Lane::exp` gives `wide`'s `exp` bit for bit, on both widths: every
/// value of a dense sweep over [-110, 100] (across the short form's range
/// [-87, 88] and `wide`'s underflow, subnormal and overflow handling on
/// both sides), vectors that mix values inside and outside that range, and
/// NaN, ±∞, ±0 and the largest finite values.
#[test]
fn exp_is_wides_bit_for_bit() {
    let mut values: Vec<f32> = (0..=210_000).map(|i| -110.0 + i as f32 * 1e-3).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(61);
    values.extend((0..4096).map(|_| rng.random_range(-95.0f32..95.0)));
    values.extend([
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MAX,
        f32::MIN,
        -87.0,
        88.0,
        -87.68,
        88.03,
        -103.63,
        88.723,
        1e-30,
        -1e-30,
    ]);
    values.resize(values.len().next_multiple_of(16), 0.5);
    let mut checked = 0;
    for chunk in values.chunks_exact(16) {
        let x16 = f32x16::from(<[f32; 16]>::try_from(chunk).unwrap());
        let ours: [f32; 16] = Lane::exp(x16).into();
        let theirs: [f32; 16] = f32x16::exp(x16).into();
        assert!(
            common::same_bits(&ours, &theirs),
            "f32x16 exp of {chunk:?}: {ours:?} against wide's {theirs:?}"
        );
        for half in chunk.chunks_exact(8) {
            let x8 = f32x8::from(<[f32; 8]>::try_from(half).unwrap());
            let ours: [f32; 8] = Lane::exp(x8).into();
            let theirs: [f32; 8] = f32x8::exp(x8).into();
            assert!(
                common::same_bits(&ours, &theirs),
                "f32x8 exp of {half:?}: {ours:?} against wide's {theirs:?}"
            );
        }
        checked += 1;
    }
    assert!(checked > 13_000);
}

/// Softmax cross-entropy against f64 for logits of every length 1..=70,
/// every target, offsets 0..4, including large logits that would overflow a
/// naive exp: the loss within 1e-5 relative (+1e-6), each dy within 1e-6.
fn check_softmax<V: Lane>() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for len in 1..=70 {
        for off in 0..4 {
            let scale = if off == 3 { 60.0 } else { 4.0 };
            let y: Vec<f32> = (0..off + len)
                .map(|_| rng.random_range(-scale..scale))
                .collect();
            let y = &y[off..];
            let max = y
                .iter()
                .map(|&v| v as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let lse = max + y.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
            for target in [0, len / 2, len - 1] {
                let mut fast = y.to_vec();
                let loss = simd::softmax_xent_v::<V>(&mut fast, target);
                let expected = lse - y[target] as f64;
                assert!(
                    (loss as f64 - expected).abs() <= 1e-5 * expected.abs() + 1e-6,
                    "len {len} target {target}: loss {loss} vs {expected}"
                );
                for (o, &d) in fast.iter().enumerate() {
                    let p = (y[o] as f64 - lse).exp() - if o == target { 1.0 } else { 0.0 };
                    assert!((d as f64 - p).abs() <= 1e-6, "len {len} dy[{o}] {d} vs {p}");
                }
            }
        }
    }
}

#[test]
fn softmax_xent_f32x8_matches_f64() {
    check_softmax::<f32x8>();
}

#[test]
fn softmax_xent_f32x16_matches_f64() {
    check_softmax::<f32x16>();
}

#[test]
fn scalar_softmax_xent_matches_f64() {
    let y = [1.0f32, -2.0, 0.5, 3.0];
    let mut d = y;
    let loss = scalar::softmax_xent(&mut d, 2);
    let lse = y.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
    assert!((loss as f64 - (lse - 0.5)).abs() < 1e-6);
    assert!((d.iter().map(|&v| v as f64).sum::<f64>()).abs() < 1e-6);
}

#[test]
fn chunk_products_match_scalar() {
    // The `gemm` crate's products, at the same sizes, offsets and strides.
    let forms: [(Form, Gemm, Gemm); 3] = [
        (Form::NN, chunk::gemm_nn, scalar::gemm_nn),
        (Form::TN, chunk::gemm_tn, scalar::gemm_tn),
        (Form::NT, chunk::gemm_nt, scalar::gemm_nt),
    ];
    for (s, &shape) in shapes().iter().enumerate() {
        for (form, fast, slow) in forms {
            check_gemm(form, fast, slow, shape, s % 4, s as u64);
        }
    }
    // And at the engine's chunk shapes (T·B = 1,280 rows, H 256, V 65 padded).
    for (s, shape) in [(1280, 80, 256), (80, 256, 1280), (256, 256, 1280)]
        .into_iter()
        .enumerate()
    {
        for (form, fast, slow) in forms {
            check_gemm(form, fast, slow, shape, s, 99 + s as u64);
        }
    }
}

/// The logits product that overwrites C (`chunked::gemm_nt_set`: the
/// crate, C not read) against its scalar twin (`scalar::gemm_nt_set`), over the
/// kernel shapes (k = 0 included: C becomes zero) and the engine's.
#[test]
fn overwriting_logits_product_matches_scalar() {
    let mut all = shapes();
    all.extend([(5, 7, 0), (1280, 65, 256), (40, 3440, 256)]);
    for (s, &shape) in all.iter().enumerate() {
        check_gemm(
            Form::NT,
            chunked::gemm_nt_set,
            scalar::gemm_nt_set,
            shape,
            s % 4,
            s as u64,
        );
    }
}

/// The rows of `dense` (`cols` values each) at row stride `stride`, the
/// padding NaN, so that a product reading it shows up.
fn padded(dense: &[f32], cols: usize, stride: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; dense.len() / cols * stride];
    for (to, from) in out.chunks_exact_mut(stride).zip(dense.chunks_exact(cols)) {
        to[..cols].copy_from_slice(from);
    }
    out
}

/// The logits product reads `Why` at `tuning::row_stride`: a padded copy
/// where rows of Hp values are a multiple of 1 KiB apart, the weights
/// themselves elsewhere. The crate's result does not depend on B's stride:
/// bit for bit the same at Hp and Hp + 16, at the engine's chunk shapes
/// (one, four and 32 streams of T 40; V 65; Hp 256 and 512).
#[test]
fn logits_product_is_the_same_at_a_padded_row_stride() {
    assert_eq!(tuning::row_stride(128), 128);
    assert_eq!(tuning::row_stride(192), 192);
    assert_eq!(tuning::row_stride(256), 272);
    assert_eq!(tuning::row_stride(512), 528);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(47);
    for (m, n, hp) in [
        (40, 65, 256),
        (160, 65, 256),
        (1280, 65, 256),
        (40, 65, 512),
    ] {
        let stride = tuning::row_stride(hp);
        let a = random(m * hp, &mut rng);
        let a = MatRef::dense(&a, m, hp);
        let b = random(n * hp, &mut rng);
        let b_padded = padded(&b, hp, stride);
        let (mut c, mut c_padded) = (vec![1.0; m * n], vec![2.0; m * n]);
        chunked::gemm_nt_set(
            a,
            MatRef::dense(&b, n, hp),
            &mut MatMut::dense(&mut c, m, n),
        );
        chunked::gemm_nt_set(
            a,
            MatRef::new(&b_padded, n, hp, stride),
            &mut MatMut::dense(&mut c_padded, m, n),
        );
        assert!(c.iter().all(|x| x.is_finite()), "{m}×{n}×{hp}");
        assert!(
            common::same_bits(&c, &c_padded),
            "{m}×{n}×{hp}: the padded stride changed the logits"
        );
    }
}

/// One stream's logits run on the `wide` kernels where
/// `tuning::logits_on_wide` holds (`WideLogits`, in both orientations):
/// the same bits as the crate's product on the V columns, and zero in the
/// padding columns, at one stream's shapes (T rows of up to 64; V 30 to
/// 1,000; Hp 16 to 512), the rule's orientation taken on at least two of
/// them each, all through one `WideLogits` whose copies each shape reuses.
#[test]
fn wide_logits_are_the_crates() {
    let fma = cfg!(all(target_feature = "fma", not(feature = "scalar-kernels")));
    assert_eq!(tuning::logits_on_wide(1, 40, 65, 256), fma);
    assert!(!tuning::logits_on_wide(2, 40, 65, 256));
    assert!(!tuning::logits_on_wide(1, 40, 65, 528));
    assert!(
        !tuning::logits_on_wide(1, 3, 65, 64),
        "the crate's small products"
    );
    assert!(
        !tuning::logits_on_wide(1, 1, 300, 64),
        "the crate's one-row product"
    );
    assert!(!tuning::logits_transposed(40, 65, 256));
    assert!(tuning::logits_transposed(40, 3440, 256));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(59);
    let mut logits = WideLogits::default();
    let mut checked = [0, 0];
    for (rows, v, hp) in [
        (40, 65, 64),
        (40, 65, 256),
        (40, 65, 512),
        (25, 30, 112),
        (9, 30, 16),
        (64, 100, 128),
        (5, 65, 96),
        (13, 65, 48),
        (40, 1000, 256),
        (37, 600, 512),
        (9, 333, 160),
        (40, 65, 64),
    ] {
        if !tuning::logits_on_wide(1, rows, v, hp) {
            continue;
        }
        let vp = v.next_multiple_of(16);
        let h = random(rows * (hp + 16), &mut rng);
        let h = MatRef::new(&h, rows, hp, hp + 16);
        let why = random(v * hp, &mut rng);
        let why = MatRef::dense(&why, v, hp);
        let mut crate_y = vec![f32::NAN; rows * vp];
        chunked::gemm_nt_set(h, why, &mut MatMut::new(&mut crate_y, rows, v, vp));
        let rule = tuning::logits_transposed(rows, v, hp);
        let mut ruled_y = Vec::new();
        for transposed in [false, true] {
            let mut wide_y = vec![f32::NAN; rows * vp];
            logits.product_oriented(transposed, h, why, vp, &mut wide_y);
            for (i, (c, w)) in crate_y.chunks(vp).zip(wide_y.chunks(vp)).enumerate() {
                assert!(
                    common::same_bits(&c[..v], &w[..v]),
                    "{rows}×{v}×{hp} (transposed {transposed}): row {i} differs from the crate's"
                );
                assert!(
                    w[v..].iter().all(|&x| x == 0.0),
                    "{rows}×{v}×{hp} (transposed {transposed}): padding"
                );
            }
            if transposed == rule {
                ruled_y = wide_y;
            }
        }
        let mut wide_y = vec![f32::NAN; rows * vp];
        logits.product(h, why, vp, &mut wide_y);
        assert!(
            common::same_bits(&ruled_y, &wide_y),
            "{rows}×{v}×{hp}: not the rule's orientation"
        );
        checked[usize::from(rule)] += 1;
    }
    if fma {
        assert!(
            checked.iter().all(|&n| n >= 2),
            "orientations taken: {checked:?}"
        );
    } else {
        assert_eq!(checked, [0, 0], "a shape took the wide path");
    }
}

/// The gated cells' `dW_hh += DPREᵀ · H_prev` reads the gate gradients at
/// `tuning::row_stride` (`gates::dpre_stride`): the same bits as at the
/// dense stride, on whichever kernel `chunked::gemm_tn` picks, at the
/// LSTM's shapes (G·Hp 1,024 and 512) and the GRU's (768) over one, four
/// and 32 streams of T 40.
#[test]
fn weight_gradients_are_the_same_from_padded_gate_gradients() {
    assert_eq!(tuning::row_stride(1024), 1040);
    assert_eq!(tuning::row_stride(768), 784);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(53);
    for (rows, gw, hp) in [
        (40, 1024, 256),
        (160, 1024, 256),
        (1280, 1024, 256),
        (160, 512, 128),
        (160, 768, 256),
    ] {
        let stride = tuning::row_stride(gw);
        let a = random(rows * gw, &mut rng);
        let a_padded = padded(&a, gw, stride);
        let b = random(rows * hp, &mut rng);
        let b = MatRef::dense(&b, rows, hp);
        let c0 = random(gw * hp, &mut rng);
        let (mut c, mut c_padded) = (c0.clone(), c0);
        chunked::gemm_tn(
            MatRef::dense(&a, rows, gw),
            b,
            &mut MatMut::dense(&mut c, gw, hp),
        );
        chunked::gemm_tn(
            MatRef::new(&a_padded, rows, gw, stride),
            b,
            &mut MatMut::dense(&mut c_padded, gw, hp),
        );
        assert!(c.iter().all(|x| x.is_finite()), "{rows}×{gw}×{hp}");
        assert!(
            common::same_bits(&c, &c_padded),
            "{rows}×{gw}×{hp}: the padded stride changed dW_hh"
        );
    }
}

/// The weight-gradient product the engine runs (`chunked::gemm_tn`) on
/// both sides of its L2 rule: a C that fits a quarter of any L2 (the `wide`
/// kernel) and one of 8 MiB, past the L2 of any x86-64 core (the crate).
#[test]
fn weight_gradient_products_match_scalar_on_both_kernels() {
    let (small, large) = ((80, 256, 300), (2048, 1024, 3));
    assert!(tuning::tn_on_wide(small.0, small.1));
    assert!(!tuning::tn_on_wide(large.0, large.1));
    for (s, shape) in [small, large, (256, 256, 1280)].into_iter().enumerate() {
        check_gemm(
            Form::TN,
            chunked::gemm_tn,
            scalar::gemm_tn,
            shape,
            s,
            7 + s as u64,
        );
    }
}

#[test]
fn transpose_matches_scalar() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    for (m, n) in [(1, 1), (3, 17), (16, 16), (17, 33), (64, 5), (80, 80)] {
        let stride = n + 3;
        let a = random(m * stride, &mut rng);
        let a = MatRef::new(&a, m, n, stride);
        let mut fast = vec![7.0; n * (m + 2)];
        let mut slow = fast.clone();
        simd::transpose(a, &mut MatMut::new(&mut fast, n, m, m + 2));
        scalar::transpose(a, &mut MatMut::new(&mut slow, n, m, m + 2));
        assert_eq!(fast, slow, "{m}×{n}");
        for i in 0..m {
            for j in 0..n {
                assert_eq!(slow[j * (m + 2) + i], a.row(i)[j]);
            }
        }
    }
}

/// `fast` against `slow`, entry by entry: the gated kernels' σ and tanh are
/// the rational approximation (within 4e-7) where the twin calls libm, so
/// they agree to a few 1e-7 of each value's scale, never exactly.
fn assert_near(what: &str, n: usize, fast: &[f32], slow: &[f32]) {
    for (i, (f, s)) in fast.iter().zip(slow).enumerate() {
        assert!(
            (f - s).abs() <= 3e-6 * (1.0 + s.abs()),
            "{what} n {n} [{i}]: simd {f}, scalar {s}"
        );
    }
}

/// The LSTM and GRU pointwise kernels (forward and backward) against their
/// scalar twins for n 1..=40 units (whole vectors and one-lane tails).
fn check_gates<V: Lane>() {
    use rnn_fast::kernels::gates;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    for n in 1..=40 {
        let mut r = |len: usize, scale: f32| -> Vec<f32> {
            random(len, &mut rng).iter().map(|x| x * scale).collect()
        };
        // LSTM forward: pre-activations in (-6, 6), c_prev in (-2, 2).
        let (pre, c_prev) = (r(4 * n, 3.0), r(n, 1.0));
        let (mut gf, mut gs) = (pre.clone(), pre.clone());
        let (mut cf, mut cs, mut hf, mut hs) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        gates::lstm_pointwise_v::<V>(&mut gf, &c_prev, &mut cf, &mut hf);
        scalar::lstm_pointwise(&mut gs, &c_prev, &mut cs, &mut hs);
        assert_near("lstm gates", n, &gf, &gs);
        assert_near("lstm c", n, &cf, &cs);
        assert_near("lstm h", n, &hf, &hs);
        // LSTM backward from the scalar step's values.
        let (dh, dc0) = (r(n, 1.0), r(n, 1.0));
        let (mut dcf, mut dcs) = (dc0.clone(), dc0.clone());
        let (mut dgf, mut dgs) = (vec![0.0; 4 * n], vec![0.0; 4 * n]);
        gates::lstm_pointwise_backward_v::<V>(&gs, &cs, &c_prev, &dh, &mut dcf, &mut dgf);
        scalar::lstm_pointwise_backward(&gs, &cs, &c_prev, &dh, &mut dcs, &mut dgs);
        assert_near("lstm dgates", n, &dgf, &dgs);
        assert_near("lstm dc", n, &dcf, &dcs);
        // GRU forward.
        let (x, b, hidden, h_prev) = (r(3 * n, 2.0), r(3 * n, 1.0), r(3 * n, 2.0), r(n, 0.5));
        let (mut hidf, mut hids) = (hidden.clone(), hidden.clone());
        let (mut nf, mut ns, mut hf, mut hs) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        gates::gru_pointwise_v::<V>(&x, &b, &mut hidf, &h_prev, &mut nf, &mut hf);
        scalar::gru_pointwise(&x, &b, &mut hids, &h_prev, &mut ns, &mut hs);
        assert_near("gru gates", n, &hidf, &hids);
        assert_near("gru n", n, &nf, &ns);
        assert_near("gru h", n, &hf, &hs);
        // GRU backward.
        let dh = r(n, 1.0);
        let (mut dxf, mut dxs) = (vec![0.0; 3 * n], vec![0.0; 3 * n]);
        let (mut dhf, mut dhs) = (vec![0.0; 3 * n], vec![0.0; 3 * n]);
        let (mut dpf, mut dps) = (vec![0.0; n], vec![0.0; n]);
        gates::gru_pointwise_backward_v::<V>(
            &hids, &ns, &h_prev, &dh, &mut dxf, &mut dhf, &mut dpf,
        );
        scalar::gru_pointwise_backward(&hids, &ns, &h_prev, &dh, &mut dxs, &mut dhs, &mut dps);
        assert_near("gru dx", n, &dxf, &dxs);
        assert_near("gru dhid", n, &dhf, &dhs);
        assert_near("gru dh_prev", n, &dpf, &dps);
    }
}

#[test]
fn gate_kernels_f32x8_match_scalar() {
    check_gates::<f32x8>();
}

#[test]
fn gate_kernels_f32x16_match_scalar() {
    check_gates::<f32x16>();
}

/// Where the build has AVX, the lane sums add halves against halves (`v[i]
/// + v[i + N/2]`, then the same on the half), the order of AVX's and
/// AVX-512's horizontal sums (`_mm512_reduce_add_ps`): f32x8's is `wide`'s
/// own, f32x16's its two halves added, then f32x8's sum, so that the
/// feature `f32x16` computes the AVX-512 build's bits. (Without AVX,
/// `wide`'s f32x8 sums each f32x4 on its own, in another order.) On
/// AVX-512, f32x16's is also `_mm512_reduce_add_ps`'s (through `wide`).
#[test]
fn lane_sums_add_halves_against_halves() {
    fn tree(mut v: Vec<f32>) -> f32 {
        let mut n = v.len();
        while n > 1 {
            n /= 2;
            for i in 0..n {
                v[i] += v[i + n];
            }
        }
        v[0]
    }
    if !cfg!(target_feature = "avx") {
        eprintln!("SKIPPED: the lane sums' order is that of AVX builds; this build has no AVX");
        return;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    for _ in 0..10_000 {
        // Magnitudes from 2⁻²⁰ to 2²⁰, so that the order shows in the bits.
        let v: Vec<f32> = (0..16)
            .map(|_| rng.random_range(-2.0f32..2.0) * 2f32.powi(rng.random_range(-20..=20)))
            .collect();
        let x16 = f32x16::from(<[f32; 16]>::try_from(&v[..]).unwrap());
        assert_eq!(
            Lane::reduce_add(x16).to_bits(),
            tree(v.clone()).to_bits(),
            "{v:?}"
        );
        if cfg!(target_feature = "avx512f") {
            assert_eq!(
                Lane::reduce_add(x16).to_bits(),
                f32x16::reduce_add(x16).to_bits(),
                "{v:?}"
            );
        }
        let x8 = f32x8::from(<[f32; 8]>::try_from(&v[..8]).unwrap());
        assert_eq!(
            Lane::reduce_add(x8).to_bits(),
            tree(v[..8].to_vec()).to_bits(),
            "{v:?}"
        );
    }
}
