//! The machine's measured FMA peak: the ceiling that throughput reports
//! compare against.
//!
//! A loop of `CHAINS` independent fused multiply-adds per iteration on one
//! vector type, enough independent chains to cover the FMA latency on the
//! cores we know of (4 cycles × 2 pipes = 8 in flight; 12 leaves room), so it
//! runs at the FMA issue rate. FLOPs: 2 per lane per FMA.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::kernels::simd::Lane;

/// Independent accumulator chains in the peak loop.
const CHAINS: usize = 12;
/// FMA iterations between clock reads.
const BATCH: usize = 1 << 16;

/// Single-thread FMA throughput of vector type `V`, in GFLOP/s, measured for
/// about `duration` (the best of several batches, so a preempted batch does
/// not count).
pub fn fma_gflops<V: Lane>(duration: Duration) -> f64 {
    let mul = black_box(V::splat(0.999_999));
    let add = black_box(V::splat(1e-7));
    let mut acc = [V::splat(0.0); CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = V::splat(i as f32);
    }
    let start = Instant::now();
    let mut best = 0.0f64;
    while start.elapsed() < duration {
        let t = Instant::now();
        for _ in 0..BATCH {
            for a in acc.iter_mut() {
                *a = a.fma(mul, add);
            }
        }
        acc = black_box(acc);
        let flops = (BATCH * CHAINS * V::N * 2) as f64;
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    black_box(acc);
    best
}
