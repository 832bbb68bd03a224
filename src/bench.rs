//! `rnn-fast bench`: train for a few seconds and report throughput against
//! the machine's measured FMA peak.
//!
//! FLOPs per trained character, dense:
//! forward `Whh h` 2H² and `Why h` 2HV; backward `Whyᵀ dy` 2HV, `dWhy` 2HV,
//! `dWhh` 2H², `Whhᵀ dr` 2H²: **6H² + 6HV**. A gated cell's recurrent
//! products are G times as wide (`W_hh` is G·H × H: GRU 3, LSTM 4):
//! **6GH² + 6HV**. Each layer above the first of a stacked model
//! (`--layers L`) adds its recurrence, 6GH², and its input's products
//! (`X W_ihᵀ`, `dW_ih`, `DX W_ih`, G·H × H each), 6GH²: **6GH²(2L-1) +
//! 6HV**. Gathers, gates, tanh, softmax and the update are not counted.

use std::time::{Duration, Instant};

use wide::f32x8;

use crate::config::{OptimizerKind, Parallel, TrainConfig};
use crate::corpus::Corpus;
use crate::error::Result;
use crate::kernels::{self, simd::Fast};
use crate::layout::CellKind;
use crate::message::counted;
use crate::peak;
use crate::trainer::Trainer;

/// The FLOP formula of `layers` layers of a cell of `gates` gate blocks,
/// as printed.
pub fn flop_formula(gates: usize, layers: usize) -> String {
    format!("{}H^2 + 6HV", 6 * gates * (2 * layers - 1))
}

/// Training time before the measurement starts (caches, page faults, clocks).
const WARMUP: Duration = Duration::from_millis(300);
/// Time spent measuring each FMA peak and the L2 bandwidth.
const PEAK_TIME: Duration = Duration::from_millis(300);
/// Time spent measuring the clock.
const CLOCK_TIME: Duration = Duration::from_millis(100);

/// Whole chunks every shard holds at least in a bench run: a shorter text
/// is trained over end to end as many times as that takes, up to
/// [`MAX_REPEATED_CHARS`] ([`repeats`]), so that the figures are those of
/// chunks of T steps. The 104-character built-in text cut into 32 shards
/// gave chunks of 3 steps: `bench --hidden 256 --streams 32` ran at 49-53%
/// of the FMA peak where Tiny Shakespeare gave 64-71% (Xeon 5th
/// generation, 5 interleaved rounds; `perf/README.md`).
pub const CHUNKS_PER_SHARD: usize = 16;

/// The most characters bench repeats a text to: 16 Mi (32 MiB of ids).
pub const MAX_REPEATED_CHARS: usize = 1 << 24;

/// How many copies of a text of `n` characters, end to end, bench trains
/// on so that each of `shards` shards holds [`CHUNKS_PER_SHARD`] chunks of
/// `seq_len` predictions (`r·n - 1` predictions cut into `shards`): at
/// least one, and no more than [`MAX_REPEATED_CHARS`] allow.
pub fn repeats(n: usize, shards: usize, seq_len: usize) -> usize {
    let wanted = shards
        .saturating_mul(CHUNKS_PER_SHARD)
        .saturating_mul(seq_len)
        .saturating_add(1);
    let most = (MAX_REPEATED_CHARS / n.max(1)).max(1);
    wanted.div_ceil(n.max(1)).clamp(1, most)
}

/// What a benchmark run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    pub cell: CellKind,
    pub layers: usize,
    pub hidden: usize,
    pub vocab: usize,
    pub seq_len: usize,
    /// Characters of the text given, the copies of it trained on end to
    /// end ([`repeats`]), and the predictions of the smallest shard of
    /// that.
    pub text_chars: usize,
    pub repeats: usize,
    pub shard_chars: usize,
    pub streams: usize,
    pub shards: usize,
    /// Groups of `streams` shards: the units of work the threads share.
    pub groups: usize,
    pub threads: usize,
    /// Physical cores the threads run on: `threads`, or this machine's
    /// cores where there are fewer (more threads than cores, hyperthreads
    /// included, share them; [`peak::physical_cores`]).
    pub cores: usize,
    pub parallel: Parallel,
    /// The update rule trained with, and its learning rate.
    pub optimizer: OptimizerKind,
    pub lr: f32,
    /// The compiled SIMD path of the kernels, and the `gemm` crate's for the
    /// chunk products.
    pub simd: &'static str,
    /// True where the one-row products of an f32x16 build run on f32x8
    /// while B is at most twice the L1d (`kernels::tuning::one_row_on_x8`:
    /// this CPU loads 512 bits at half the 256-bit rate).
    pub one_row_f32x8: bool,
    pub chunk_path: String,
    /// The product that runs a full chunk's logits ([`kernels::logits::path`]).
    pub logits: &'static str,
    /// Characters trained in the measured window, and its length.
    pub chars: usize,
    pub seconds: f64,
    pub chars_per_sec: f64,
    /// Useful FLOPs per character: 6GH²(2L-1) + 6HV.
    pub flops_per_char: f64,
    pub gflops: f64,
    /// FMA peak of the kernels' vector type ([`Fast`]) on those `cores`,
    /// measured on one core in this run and multiplied by `cores`.
    pub peak_gflops: f64,
    /// FMA peak of `f32x8` on those `cores` (the portable path), measured in this run.
    pub peak_f32x8_gflops: f64,
    /// `gflops / peak_gflops`.
    pub fraction_of_peak: f64,
    /// L2 read bandwidth of one core measured in this run, GB/s, and the
    /// same per cycle of the measured clock.
    pub l2_gbs: f64,
    pub l2_bytes_per_cycle: f64,
    /// One core's measured clock, GHz.
    pub clock_ghz: f64,
    /// Bytes of Whh and Whhᵀ the recurrence reads per character: 8GH²L/B.
    pub recurrent_bytes_per_char: f64,
    /// That traffic at the measured speed, per core and cycle, and as a
    /// fraction of those cores' L2 bandwidth (meaningful once Whh exceeds
    /// the L1d: see `whh_in_l1`).
    pub recurrent_bytes_per_cycle: f64,
    pub fraction_of_l2: f64,
    /// L3 read bandwidth of one core measured in this run (a buffer of four
    /// times the L2), GB/s, the same per cycle, and the recurrence's
    /// traffic as a fraction of it times the cores (the bound once Whh
    /// exceeds half the L2: see `whh_in_l2`; the cores share the L3, so
    /// on several it is an upper bound).
    pub l3_gbs: f64,
    pub l3_bytes_per_cycle: f64,
    pub fraction_of_l3: f64,
    /// True when one layer's Whh (4GH² bytes) fits in this CPU's L1d.
    pub whh_in_l1: bool,
    /// True when it takes at most half this CPU's L2 (the rest holds the
    /// step's other data, as for the L2 peak's buffer); past that, it is
    /// read from L3.
    pub whh_in_l2: bool,
    /// Mean training loss over the measured window, nats per character.
    pub loss: f64,
}

/// FLOPs per trained character of a model of `layers` layers of `gates`
/// gate blocks with `h` hidden units and `v` characters.
pub fn flops_per_char(gates: usize, layers: usize, h: usize, v: usize) -> f64 {
    let (g, l, h, v) = (gates as f64, layers as f64, h as f64, v as f64);
    6.0 * g * (2.0 * l - 1.0) * h * h + 6.0 * h * v
}

/// The cores `threads` threads run on, on a machine of `machine_cores`:
/// threads beyond the cores share them, so the peaks a run is set against
/// are those of `min(threads, machine_cores)` cores.
fn busy_cores(threads: usize, machine_cores: usize) -> usize {
    threads.min(machine_cores).max(1)
}

/// Bytes of Whh and Whhᵀ the recurrence reads per character with `layers`
/// layers of `gates` gate blocks, `h` hidden units and `streams` streams
/// per step: 2 · 4GH² · L / B.
pub fn recurrent_bytes_per_char(gates: usize, layers: usize, h: usize, streams: usize) -> f64 {
    8.0 * (gates * h * h * layers) as f64 / streams.max(1) as f64
}

/// Trains on `corpus` (repeated where it is short: [`repeats`]) with
/// `config` for about `seconds` after a warm-up and reports what it
/// measured.
pub fn run(corpus: &Corpus, config: TrainConfig, seconds: f64) -> Result<BenchReport> {
    let text_chars = corpus.len();
    let repeats = repeats(text_chars, config.shards, config.seq_len);
    // A copy only where the text is repeated: a large corpus is used as it is.
    let repeated;
    let corpus = match repeats {
        1 => corpus,
        r => {
            repeated = Corpus {
                vocab: corpus.vocab.clone(),
                ids: corpus.ids.repeat(r),
            };
            &repeated
        }
    };
    let mut trainer = Trainer::new(config.clone(), corpus)?;
    let warmup = Instant::now();
    while warmup.elapsed() < WARMUP {
        trainer.train_for(&corpus.ids, usize::MAX, Some(WARMUP));
    }
    let window = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let (mut chars, mut loss_sum) = (0usize, 0.0f64);
    // At least one step, however short the window: a report of nothing
    // trained would give a loss of 0.
    while start.elapsed() < window || chars == 0 {
        let left = window.saturating_sub(start.elapsed());
        let (loss, _) = trainer.train_for(&corpus.ids, usize::MAX, Some(left));
        chars += loss.count;
        loss_sum += loss.sum;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let threads = config.threads;
    let cores = busy_cores(threads, peak::physical_cores());
    let peak = peak::fma_gflops::<Fast>(PEAK_TIME) * cores as f64;
    let peak_f32x8 = peak::fma_gflops::<f32x8>(PEAK_TIME) * cores as f64;
    let v = corpus.vocab.len();
    let chars_per_sec = chars as f64 / elapsed;
    let gates = config.cell.cell().gates();
    let fpc = flops_per_char(gates, config.layers, config.hidden, v);
    let gflops = chars_per_sec * fpc / 1e9;
    let l2_gbs = peak::l2_read_gbs::<Fast>(PEAK_TIME);
    let l3_gbs = peak::l3_read_gbs::<Fast>(PEAK_TIME);
    let clock_ghz = peak::clock_ghz(CLOCK_TIME);
    let streams = config.streams_per_pass();
    let rbpc = recurrent_bytes_per_char(gates, config.layers, config.hidden, streams);
    let recurrent_gbs = chars_per_sec * rbpc / 1e9;
    let whh_bytes = 4 * gates * config.hidden * config.hidden;
    let (l1, l2) = kernels::tuning::cache_bytes();
    Ok(BenchReport {
        cell: config.cell,
        layers: config.layers,
        hidden: config.hidden,
        vocab: v,
        seq_len: config.seq_len,
        text_chars,
        repeats,
        shard_chars: (corpus.len() - 1) / config.shards,
        streams,
        shards: config.shards,
        groups: config.shards.div_ceil(config.streams),
        threads,
        cores,
        parallel: config.parallel,
        optimizer: config.optimizer,
        lr: config.lr,
        simd: kernels::SIMD_PATH,
        one_row_f32x8: kernels::one_row_f32x8(),
        chunk_path: kernels::chunk::chunk_path(),
        logits: kernels::logits::path(
            streams,
            config.seq_len * streams,
            v,
            trainer.model().layout.hp,
        ),
        chars,
        seconds: elapsed,
        chars_per_sec,
        flops_per_char: fpc,
        gflops,
        peak_gflops: peak,
        peak_f32x8_gflops: peak_f32x8,
        fraction_of_peak: gflops / peak,
        l2_gbs,
        l2_bytes_per_cycle: l2_gbs / clock_ghz,
        clock_ghz,
        recurrent_bytes_per_char: rbpc,
        recurrent_bytes_per_cycle: recurrent_gbs / cores as f64 / clock_ghz,
        fraction_of_l2: recurrent_gbs / (l2_gbs * cores as f64),
        l3_gbs,
        l3_bytes_per_cycle: l3_gbs / clock_ghz,
        fraction_of_l3: recurrent_gbs / (l3_gbs * cores as f64),
        whh_in_l1: whh_bytes <= l1,
        whh_in_l2: 2 * whh_bytes <= l2,
        loss: loss_sum / chars.max(1) as f64,
    })
}

/// `x` as the f64 of its shortest decimal: 0.1 for the f32 0.1, where the
/// f64 widening would print 0.10000000149011612.
fn shortest_decimal(x: f32) -> f64 {
    x.to_string()
        .parse()
        .expect("an f32's decimal parses as an f64")
}

impl BenchReport {
    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "cell": self.cell.to_string(),
            "layers": self.layers,
            "hidden": self.hidden,
            "vocab": self.vocab,
            "seq_len": self.seq_len,
            "text_chars": self.text_chars,
            "repeats": self.repeats,
            "shard_chars": self.shard_chars,
            "streams": self.streams,
            "shards": self.shards,
            "groups": self.groups,
            "threads": self.threads,
            "cores": self.cores,
            "parallel": self.parallel.to_string(),
            "optimizer": self.optimizer.to_string(),
            "lr": shortest_decimal(self.lr),
            "simd": self.simd,
            "one_row_f32x8": self.one_row_f32x8,
            "chunk_products": self.chunk_path,
            "logits": self.logits,
            "chars": self.chars,
            "seconds": self.seconds,
            "chars_per_sec": self.chars_per_sec,
            "flops_per_char": self.flops_per_char,
            "flop_formula": flop_formula(self.cell.cell().gates(), self.layers),
            "gflops": self.gflops,
            "peak_gflops": self.peak_gflops,
            "peak_f32x8_gflops": self.peak_f32x8_gflops,
            "fraction_of_peak": self.fraction_of_peak,
            "l2_gbs": self.l2_gbs,
            "l2_bytes_per_cycle": self.l2_bytes_per_cycle,
            "clock_ghz": self.clock_ghz,
            "recurrent_bytes_per_char": self.recurrent_bytes_per_char,
            "recurrent_bytes_per_cycle": self.recurrent_bytes_per_cycle,
            "fraction_of_l2": self.fraction_of_l2,
            "l3_gbs": self.l3_gbs,
            "l3_bytes_per_cycle": self.l3_bytes_per_cycle,
            "fraction_of_l3": self.fraction_of_l3,
            "whh_in_l1": self.whh_in_l1,
            "whh_in_l2": self.whh_in_l2,
            "loss": self.loss,
        })
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "cell {}, layers {}, H {}, V {}, T {}, streams {}, shards {} ({}), threads {} on {}, parallel {}, optimizer {} (lr {}), simd {}{}, chunk products {}, logits {}",
            self.cell,
            self.layers,
            self.hidden,
            self.vocab,
            self.seq_len,
            self.streams,
            self.shards,
            counted(self.groups, "group"),
            self.threads,
            counted(self.cores, "core"),
            self.parallel,
            self.optimizer,
            self.lr,
            self.simd,
            if self.one_row_f32x8 {
                " (one-row products within 2x L1d on f32x8: this CPU loads 512 bits at half rate)"
            } else {
                ""
            },
            self.chunk_path,
            self.logits
        )?;
        let repeated = match self.repeats {
            1 => String::new(),
            r => format!(", repeated {r} times"),
        };
        writeln!(
            f,
            "text {} chars{repeated}: {} holds {} chars to predict, {} of {}",
            self.text_chars,
            match self.shards {
                1 => "its one shard".to_string(),
                k => format!("each of its {k} shards"),
            },
            self.shard_chars,
            counted(self.shard_chars / self.seq_len, "whole chunk"),
            self.seq_len
        )?;
        writeln!(
            f,
            "{:.0} chars/s ({} chars in {:.2} s), train loss {:.3} nats/char",
            self.chars_per_sec, self.chars, self.seconds, self.loss
        )?;
        writeln!(
            f,
            "{:.1} GFLOP/s ({} = {:.3} MFLOP/char)",
            self.gflops,
            flop_formula(self.cell.cell().gates(), self.layers),
            self.flops_per_char / 1e6
        )?;
        writeln!(
            f,
            "measured FMA peak {:.1} GFLOP/s ({}; f32x8 {:.1}): {:.1}% of peak",
            self.peak_gflops,
            kernels::SIMD_PATH,
            self.peak_f32x8_gflops,
            100.0 * self.fraction_of_peak
        )?;
        let whh = if self.whh_in_l1 {
            "Whh fits in L1d, so L2 does not bound it"
        } else if self.whh_in_l2 {
            "Whh is read from L2"
        } else {
            "Whh takes more than half the L2: see L3"
        };
        writeln!(
            f,
            "recurrence reads 8GH^2L/B = {:.0} bytes/char: {:.1} bytes/cycle per core; measured L2 read peak {:.1} GB/s per core = {:.1} bytes/cycle at {:.2} GHz: {:.1}% of it ({whh})",
            self.recurrent_bytes_per_char,
            self.recurrent_bytes_per_cycle,
            self.l2_gbs,
            self.l2_bytes_per_cycle,
            self.clock_ghz,
            100.0 * self.fraction_of_l2
        )?;
        write!(
            f,
            "measured L3 read peak {:.1} GB/s per core = {:.1} bytes/cycle: {:.1}% of it ({})",
            self.l3_gbs,
            self.l3_bytes_per_cycle,
            100.0 * self.fraction_of_l3,
            if self.whh_in_l2 {
                "Whh fits in L2, so L3 does not bound it"
            } else {
                "Whh is read from L3, so this bounds it"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Predictions of the smallest shard of `r` copies of `n` characters
    /// cut into `shards`.
    fn smallest_shard(n: usize, r: usize, shards: usize) -> usize {
        (r * n - 1) / shards
    }

    #[test]
    fn a_short_text_is_repeated_until_each_shard_holds_its_chunks() {
        // The built-in text, 32 shards of chunks of 40: 197 copies give the
        // smallest shard 640 predictions, 196 give it 636.
        assert_eq!(repeats(104, 32, 40), 197);
        assert_eq!(smallest_shard(104, 197, 32), 640);
        assert_eq!(smallest_shard(104, 196, 32), 636);
        // Tiny Shakespeare's 64 shards hold 435 chunks each: once.
        assert_eq!(repeats(1_115_394, 64, 40), 1);
        // Every case: the fewest copies that give each shard its chunks.
        for n in [2, 3, 104, 1000, 4097] {
            for shards in [1, 2, 7, 32].into_iter().filter(|&k| k < n) {
                for seq_len in [1, 25, 40, 333] {
                    let r = repeats(n, shards, seq_len);
                    let want = CHUNKS_PER_SHARD * seq_len;
                    assert!(
                        smallest_shard(n, r, shards) >= want,
                        "{n} {shards} {seq_len}"
                    );
                    assert!(
                        r == 1 || smallest_shard(n, r - 1, shards) < want,
                        "{n} {shards} {seq_len}: {r} is not the fewest"
                    );
                }
            }
        }
    }

    #[test]
    fn the_copies_stop_at_the_most_characters() {
        // 999 shards of chunks of 100,000 would want 1.6 G characters.
        let r = repeats(1000, 999, 100_000);
        assert_eq!(r, MAX_REPEATED_CHARS / 1000);
        // A text longer than the most is trained once, as it is.
        assert_eq!(repeats(MAX_REPEATED_CHARS + 5, 1 << 20, 1000), 1);
    }
}
