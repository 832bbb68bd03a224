//! Each kernel against its scalar twin at the sizes training uses
//! (H 256, V 65 padded, T 40, B 1 and 32). Every pair is checked equal (to
//! the rounding bound) before it is timed. Throughput is in FLOPs (criterion
//! prints them as elements/s).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rnn_fast::kernels::aligned::{self, AlignedVec};
use rnn_fast::kernels::logits::WideLogits;
use rnn_fast::kernels::panels::{self, PanelsRef};
use rnn_fast::kernels::{LANES, MatMut, MatRef, chunk, scalar, simd};

type Gemm = fn(MatRef, MatRef, &mut MatMut);
/// A product with its operands bound: `C += A · B` into the given C.
type Product<'a> = &'a dyn Fn(&mut MatMut);

/// `len` values in [-1, 1], in a buffer aligned as the engine's are.
fn values(len: usize, seed: u32) -> AlignedVec {
    let v: Vec<f32> = (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    aligned::from_slice(&v)
}

fn assert_close(fast: &[f32], slow: &[f32], k: usize, what: &str) {
    for (f, s) in fast.iter().zip(slow) {
        let tol = 4.0 * k as f32 * f32::EPSILON * (1.0 + s.abs()) * 4.0;
        assert!((f - s).abs() <= tol, "{what}: {f} vs {s}");
    }
}

/// A and B of the product named `name` (its form, `(nn`, `(tn` or `(nt`, in
/// the name) of shape `(m, n, k)`: A stored (k×m) for tn, B (n×k) for nt.
fn operands<'a>(
    name: &str,
    (m, n, k): (usize, usize, usize),
    a: &'a [f32],
    b: &'a [f32],
) -> (MatRef<'a>, MatRef<'a>) {
    let a = if name.contains("(tn") {
        MatRef::dense(a, k, m)
    } else {
        MatRef::dense(a, m, k)
    };
    let b = if name.contains("(nt") {
        MatRef::dense(b, n, k)
    } else {
        MatRef::dense(b, k, n)
    };
    (a, b)
}

fn gemms(c: &mut Criterion) {
    let (h, vp, t) = (256, 65usize.next_multiple_of(LANES), 40);
    // (name, m, n, k, simd, scalar); A and B are m·k and k·n values in the form's layout.
    let cases: Vec<(&str, usize, usize, usize, Gemm, Gemm)> = vec![
        (
            "recurrence fwd B=1 (nt 1x256x256)",
            1,
            h,
            h,
            simd::gemm_nt,
            scalar::gemm_nt,
        ),
        (
            "recurrence bwd B=1 (nn 1x256x256)",
            1,
            h,
            h,
            simd::gemm_nn,
            scalar::gemm_nn,
        ),
        (
            "recurrence fwd B=32 (nt 32x256x256)",
            32,
            h,
            h,
            simd::gemm_nt,
            scalar::gemm_nt,
        ),
        (
            "recurrence bwd B=32 (nn 32x256x256)",
            32,
            h,
            h,
            simd::gemm_nn,
            scalar::gemm_nn,
        ),
        (
            "logits T=40 (nt 40x72x256)",
            t,
            vp,
            h,
            simd::gemm_nt,
            scalar::gemm_nt,
        ),
        (
            "Why^T dy T=40 (nn 40x256x72)",
            t,
            h,
            vp,
            simd::gemm_nn,
            scalar::gemm_nn,
        ),
        (
            "dWhy T=40 (tn 72x256x40)",
            vp,
            h,
            t,
            simd::gemm_tn,
            scalar::gemm_tn,
        ),
        (
            "dWhh T=40 (tn 256x256x40)",
            h,
            h,
            t,
            simd::gemm_tn,
            scalar::gemm_tn,
        ),
    ];
    let mut group = c.benchmark_group("gemm");
    for (name, m, n, k, fast, slow) in cases {
        let (a, b) = (values(m * k, 1), values(k * n, 2));
        let (a, b) = operands(name, (m, n, k), &a, &b);
        let (mut c_fast, mut c_slow) = (aligned::zeros(m * n), aligned::zeros(m * n));
        fast(a, b, &mut MatMut::dense(&mut c_fast, m, n));
        slow(a, b, &mut MatMut::dense(&mut c_slow, m, n));
        assert_close(&c_fast, &c_slow, k, name);
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        let mut out = aligned::zeros(m * n);
        let mut out = MatMut::dense(&mut out, m, n);
        for (variant, f) in [("simd", fast), ("scalar", slow)] {
            group.bench_function(BenchmarkId::new(variant, name), |bench| {
                bench.iter(|| f(black_box(a), black_box(b), &mut out))
            });
        }
    }
    group.finish();
}

/// The chunk-level products at the engine's shapes (T·B = 1,280 rows: T 40,
/// 32 streams; H 256; V 65 and 3,440, the readout over the V characters):
/// the `wide` kernels, the `gemm` crate and the scalar twin (timed at 32
/// streams and V 65 only; elsewhere it only checks the others). One stream
/// (T·B = 40 rows) at H 64 and 256 as well, and the LSTM's `dW_hh` (C 4H ×
/// H, 1 MiB at H 256). The engine runs the logits on the crate and the
/// weight gradients on `wide` while their C fits a quarter of L2
/// (`kernels::chunked`, `tuning::tn_on_wide`).
fn chunk_products(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunk_products");
    // (H, T·B rows, V): 32 streams at V 65 and 3,440, and one stream.
    for (h, rows, v) in [
        (256, 40 * 32, 65usize),
        (256, 40 * 32, 3440),
        (256, 40, 65),
        (64, 40, 65),
    ] {
        let cases: [(&str, usize, usize, usize, [Gemm; 3]); 5] = [
            (
                "logits (nt)",
                rows,
                v,
                h,
                [simd::gemm_nt, chunk::gemm_nt, scalar::gemm_nt],
            ),
            (
                "Why^T dy (nn)",
                rows,
                h,
                v,
                [simd::gemm_nn, chunk::gemm_nn, scalar::gemm_nn],
            ),
            (
                "dWhy (tn)",
                v,
                h,
                rows,
                [simd::gemm_tn, chunk::gemm_tn, scalar::gemm_tn],
            ),
            (
                "dWhh (tn)",
                h,
                h,
                rows,
                [simd::gemm_tn, chunk::gemm_tn, scalar::gemm_tn],
            ),
            (
                "LSTM dW_hh (tn)",
                4 * h,
                h,
                rows,
                [simd::gemm_tn, chunk::gemm_tn, scalar::gemm_tn],
            ),
        ];
        for (what, m, n, k, [wide, crate_gemm, slow]) in cases {
            if v != 65 && what.contains("dW") && what.contains("hh") {
                continue; // the same shape as at V 65
            }
            let timed_scalar = v == 65 && rows > 40;
            let name = format!("{what} {m}x{n}x{k}");
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let (a, b) = operands(what, (m, n, k), &a, &b);
            let mut want = aligned::zeros(m * n);
            slow(a, b, &mut MatMut::dense(&mut want, m, n));
            for (variant, f) in [("wide", wide), ("gemm crate", crate_gemm)] {
                let mut got = aligned::zeros(m * n);
                f(a, b, &mut MatMut::dense(&mut got, m, n));
                assert_close(&got, &want, k, &format!("{variant} {name}"));
            }
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            let mut out = aligned::zeros(m * n);
            let mut out = MatMut::dense(&mut out, m, n);
            let timed: &[(&str, Gemm)] = if timed_scalar {
                &[("wide", wide), ("gemm crate", crate_gemm), ("scalar", slow)]
            } else {
                &[("wide", wide), ("gemm crate", crate_gemm)]
            };
            for &(variant, f) in timed {
                group.bench_function(BenchmarkId::new(variant, &name), |bench| {
                    bench.iter(|| f(black_box(a), black_box(b), &mut out))
                });
            }
        }
    }
    group.finish();
}

/// One stream's logits (T 40 rows) as the engine runs them on `wide`
/// (`kernels::logits`), in both orientations (a copy of `Whyᵀ`, or `Yᵀ =
/// Why · Hᵀ` with copies of `Hᵀ` and `Yᵀ`), each copy included, against
/// the crate's product with `Why` as stored, at H 64 and 256 and V 65 and
/// 3,440. All three give the same bits on an FMA build, checked before
/// timing. Here the operands stay in cache from one call to the next; in
/// training the update between chunks evicts `Why`, which favours the
/// transposed orientation more (`tuning::logits_transposed`).
fn one_stream_logits(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_stream_logits");
    let rows = 40;
    for (hp, v) in [(64, 65usize), (256, 65), (64, 3440), (256, 3440)] {
        let vp = v.next_multiple_of(LANES);
        let (h, why) = (values(rows * hp, 5), values(v * hp, 6));
        let (h, why) = (MatRef::dense(&h, rows, hp), MatRef::dense(&why, v, hp));
        let mut want = aligned::zeros(rows * vp);
        chunk::gemm_nt_set(h, why, &mut MatMut::new(&mut want, rows, v, vp));
        let mut logits = WideLogits::default();
        for transposed in [false, true] {
            let mut got = aligned::zeros(rows * vp);
            logits.product_oriented(transposed, h, why, vp, &mut got);
            let what = format!("transposed {transposed}, H {hp}, V {v}");
            if cfg!(target_feature = "fma") {
                let mut pairs = got.iter().zip(want.iter());
                assert!(
                    pairs.all(|(g, w)| g.to_bits() == w.to_bits()),
                    "{what}: not the crate's bits"
                );
            } else {
                assert_close(&got, &want, hp, &what);
            }
        }
        let name = format!("{rows}x{v}x{hp}");
        group.throughput(Throughput::Elements((2 * rows * v * hp) as u64));
        let mut out = aligned::zeros(rows * vp);
        group.bench_function(BenchmarkId::new("gemm crate", &name), |bench| {
            bench.iter(|| {
                chunk::gemm_nt_set(
                    black_box(h),
                    black_box(why),
                    &mut MatMut::new(&mut out, rows, v, vp),
                )
            })
        });
        for (variant, transposed) in [("wide, Why^T copied", false), ("wide, transposed", true)] {
            group.bench_function(BenchmarkId::new(variant, &name), |bench| {
                bench.iter(|| {
                    logits.product_oriented(transposed, black_box(h), black_box(why), vp, &mut out)
                })
            });
        }
    }
    group.finish();
}

/// The recurrent step's product `prev (B×H) · Whhᵀ (H×H)` for B 1, 4, 32
/// and H 64, 256, 512: the `wide` kernel on the prepared panels of `Whhᵀ`
/// (what the step runs), the same on the row-major matrix, and the `gemm`
/// crate, each checked against the scalar twin first.
fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    for h in [64, 256, 512] {
        for b in [1, 4, 32] {
            let name = format!("B={b} H={h} (nn {b}x{h}x{h})");
            let (prev, whh_t) = (values(b * h, 1), values(h * h, 2));
            let mut packed = aligned::zeros(h * h);
            panels::pack(MatRef::dense(&whh_t, h, h), false, &mut packed);
            let (a, w) = (MatRef::dense(&prev, b, h), MatRef::dense(&whh_t, h, h));
            let p = PanelsRef::new(&packed, h, h);
            let mut want = aligned::zeros(b * h);
            scalar::gemm_nn(a, w, &mut MatMut::dense(&mut want, b, h));
            let variants: [(&str, Product); 3] = [
                ("wide panels", &|c| panels::gemm_nn(a, p, c)),
                ("wide row-major", &|c| simd::gemm_nn(a, w, c)),
                ("gemm crate", &|c| chunk::gemm_nn(a, w, c)),
            ];
            for (variant, f) in variants {
                let mut got = aligned::zeros(b * h);
                f(&mut MatMut::dense(&mut got, b, h));
                assert_close(&got, &want, h, &format!("{variant} {name}"));
            }
            group.throughput(Throughput::Elements((2 * b * h * h) as u64));
            let mut out = aligned::zeros(b * h);
            let mut out = MatMut::dense(&mut out, b, h);
            for (variant, f) in variants {
                group.bench_function(BenchmarkId::new(variant, &name), |bench| {
                    bench.iter(|| f(black_box(&mut out)))
                });
            }
        }
    }
    group.finish();
}

fn elementwise(c: &mut Criterion) {
    let h = 256;
    let x = values(h, 3);
    let mut group = c.benchmark_group("elementwise");
    let (mut fast, mut slow) = (x.clone(), x.clone());
    simd::tanh(&mut fast);
    scalar::tanh(&mut slow);
    assert_close(&fast, &slow, 8, "tanh");
    group.throughput(Throughput::Elements(h as u64));
    for (variant, f) in [
        ("simd", simd::tanh as fn(&mut [f32])),
        ("scalar", scalar::tanh),
    ] {
        group.bench_function(BenchmarkId::new(variant, "tanh 256"), |bench| {
            bench.iter(|| {
                let mut v = x.clone();
                f(black_box(&mut v));
                v
            })
        });
    }
    let logits = values(65, 4);
    let (mut fast, mut slow) = (logits.clone(), logits.clone());
    let (lf, ls) = (
        simd::softmax_xent(&mut fast, 7),
        scalar::softmax_xent(&mut slow, 7),
    );
    assert!((lf - ls).abs() < 1e-5, "softmax_xent {lf} vs {ls}");
    assert_close(&fast, &slow, 8, "softmax dy");
    group.throughput(Throughput::Elements(65));
    for (variant, f) in [
        ("simd", simd::softmax_xent as fn(&mut [f32], usize) -> f32),
        ("scalar", scalar::softmax_xent),
    ] {
        group.bench_function(BenchmarkId::new(variant, "softmax_xent 65"), |bench| {
            bench.iter(|| {
                let mut v = logits.clone();
                f(black_box(&mut v), 7)
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! { name = benches; config = config(); targets = gemms, chunk_products, one_stream_logits, step, elementwise }
criterion_main!(benches);
