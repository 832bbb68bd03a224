//! A whole training update (forward, backward and the default Adam step
//! over one chunk of T = 40 characters per stream) for H in 64, 128, 256,
//! 512, V = 65, at 1 and 32 streams (one group of B shards, one thread).
//! Throughput in characters (criterion's elements/s).
//!
//! And the averaged update alone (`update`): Adam on the sum of the
//! gradients of 16 groups (the defaults' count on a megabyte corpus), H 128
//! and 256, V 65, on one thread and on every core of the machine: the part
//! of an update of `--parallel avg` that does not divide among the groups.
//! Throughput in parameters updated.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use rnn_fast::config::{OptimizerKind, TrainConfig};
use rnn_fast::corpus::Corpus;
use rnn_fast::layout::Layout;
use rnn_fast::optimizer::{Optimizer, Update};
use rnn_fast::trainer::Trainer;

/// A deterministic pseudo-random text of 65 distinct characters.
fn text(len: usize) -> String {
    let chars: Vec<char> = (0..65u32)
        .map(|i| char::from_u32(0x30 + i).unwrap())
        .collect();
    let mut state = 12345u64;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            chars[(state >> 33) as usize % 65]
        })
        .collect()
}

fn train_step(c: &mut Criterion) {
    let corpus = Corpus::from_text(&text(200_000)).unwrap();
    assert_eq!(corpus.vocab.len(), 65);
    let mut group = c.benchmark_group("train_step");
    for streams in [1, 32] {
        for hidden in [64, 128, 256, 512] {
            let config = TrainConfig {
                hidden,
                streams,
                shards: streams,
                threads: 1,
                ..TrainConfig::defaults(corpus.len())
            };
            let mut trainer = Trainer::new(config.clone(), &corpus).unwrap();
            group.throughput(Throughput::Elements((config.seq_len * streams) as u64));
            let id = BenchmarkId::new(format!("B={streams}"), format!("H={hidden}"));
            group.bench_function(id, |b| {
                b.iter(|| {
                    // The end of an epoch returns None and starts the next one.
                    if trainer.train_chunk(&corpus.ids).is_none() {
                        trainer.train_chunk(&corpus.ids);
                    }
                })
            });
        }
    }
    group.finish();
}

fn update(c: &mut Criterion) {
    const GROUPS: usize = 16;
    let mut group = c.benchmark_group("update");
    for hidden in [128, 256] {
        let n = Layout::new(hidden, 65).len();
        group.throughput(Throughput::Elements(n as u64));
        for (name, parallel) in [("1 thread", false), ("all cores", true)] {
            let mut weights = vec![0.01f32; n];
            let mut opt = Optimizer::new(OptimizerKind::Adam, n);
            let mut grads: Vec<Vec<f32>> = vec![vec![0.0; n]; GROUPS];
            let update = Update {
                scale: 1.0 / 640.0,
                clip: 5.0,
                clip_norm: None,
                lr: 2e-3,
                decay: None,
            };
            let id = BenchmarkId::new(format!("{GROUPS} groups, {name}"), format!("H={hidden}"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut time = Duration::ZERO;
                    for _ in 0..iters {
                        // Each group's gradient as a backward pass leaves it
                        // (the update clears them all), written by the threads
                        // that will run the update, as in training; untimed.
                        let fill = |(k, g): (usize, &mut Vec<f32>)| {
                            g.iter_mut().step_by(7 + k).for_each(|x| *x = 0.5);
                        };
                        if parallel {
                            grads.par_iter_mut().enumerate().for_each(fill);
                        } else {
                            grads.iter_mut().enumerate().for_each(fill);
                        }
                        let mut sources: Vec<&mut [f32]> =
                            grads.iter_mut().map(|g| &mut g[..]).collect();
                        let start = Instant::now();
                        opt.step_sum(&mut weights, &mut sources, update, parallel);
                        time += start.elapsed();
                    }
                    time
                })
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = train_step, update }
criterion_main!(benches);
