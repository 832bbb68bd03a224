//! The machine's measured peaks: the ceilings that throughput reports
//! compare against.
//!
//! - FMA: a loop of `CHAINS` independent fused multiply-adds per iteration
//!   on one vector type, enough independent chains to cover the FMA latency
//!   on the cores we know of (4 cycles × 2 pipes = 8 in flight; 12 leaves
//!   room), so it runs at the FMA issue rate. FLOPs: 2 per lane per FMA.
//! - L2 read bandwidth: vector loads summed over a buffer half the size of
//!   this CPU's L2 (read at run time) and several times its L1d, so every
//!   pass comes from L2. Bytes: 4 per `f32` read.
//! - L3 read bandwidth: the same loop over a buffer of four times
//!   the L2, so every pass comes from L3 (or memory where the L3 is
//!   smaller): the bound of a recurrence whose `Whh` takes more than half
//!   the L2 (an LSTM's 1 MiB at H 256 on a 512 KiB L2).
//! - Clock: a chain of dependent 64-bit integer squarings (`x ← x²`, which
//!   the compiler cannot fold into fewer multiplies), 3 cycles each on
//!   every x86-64 core of the last fifteen years (Intel since Nehalem, AMD
//!   Zen 1–5), so cycles per second = 3 × multiplies per second. It turns
//!   bytes per second into bytes per cycle.
//! - Cores: the per-core peaks scale with the physical cores a run's threads
//!   occupy ([`physical_cores`]): two hyperthreads of one core share its FMA
//!   units and its L2.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::kernels::aligned;
use crate::kernels::simd::Lane;
use crate::kernels::tuning::cache_bytes;

/// Latency in cycles of a dependent 64-bit `imul` on x86-64 cores.
const IMUL_CYCLES: f64 = 3.0;
/// Accumulators of the bandwidth loop: 8 independent adds cover the add
/// latency at two loads per cycle.
const READ_CHAINS: usize = 8;

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

/// Floats of the L2 bandwidth buffer: half the L2 (so that it stays there
/// beside the code's other data), but at least four times the L1d.
pub fn l2_buffer_len() -> usize {
    let (l1, l2) = cache_bytes();
    (l2 / 2).max(4 * l1) / 4
}

/// Floats of the L3 bandwidth buffer: four times the L2.
pub fn l3_buffer_len() -> usize {
    4 * cache_bytes().1 / size_of::<f32>()
}

/// Single-thread read bandwidth from L2 with vector type `V`, in GB/s
/// (10⁹ bytes), measured for about `duration` (the best pass).
pub fn l2_read_gbs<V: Lane>(duration: Duration) -> f64 {
    read_gbs::<V>(l2_buffer_len(), duration)
}

/// Single-thread read bandwidth from L3 (from memory where the L3 is smaller
/// than [`l3_buffer_len`]) with vector type `V`, in GB/s, measured for
/// about `duration` (the best pass).
pub fn l3_read_gbs<V: Lane>(duration: Duration) -> f64 {
    read_gbs::<V>(l3_buffer_len(), duration)
}

/// Single-thread read bandwidth over a buffer of about `floats` values with
/// vector type `V`, in GB/s, the best pass over about `duration`.
fn read_gbs<V: Lane>(floats: usize, duration: Duration) -> f64 {
    let block = READ_CHAINS * V::N;
    let len = floats / block * block;
    // Aligned as the engine's buffers are: a load never splits a cache line.
    let mut buf = aligned::zeros(len);
    for (i, x) in buf.iter_mut().enumerate() {
        *x = (i % 7) as f32 * 1e-3;
    }
    let buf = black_box(buf);
    let start = Instant::now();
    let mut best = 0.0f64;
    let mut sink = 0.0f32;
    while start.elapsed() < duration {
        let t = Instant::now();
        let passes = 16;
        for _ in 0..passes {
            let mut acc = [V::splat(0.0); READ_CHAINS];
            for chunk in buf.chunks_exact(block) {
                for (a, v) in acc.iter_mut().zip(chunk.chunks_exact(V::N)) {
                    *a = *a + V::load(v);
                }
            }
            sink += acc.iter().fold(V::splat(0.0), |s, &a| s + a).reduce_add();
        }
        let bytes = (passes * len * 4) as f64;
        best = best.max(bytes / t.elapsed().as_secs_f64() / 1e9);
    }
    black_box(sink);
    best
}

/// This core's clock in GHz while it runs integer code, measured for about
/// `duration` from a chain of dependent multiplies (see the module doc).
pub fn clock_ghz(duration: Duration) -> f64 {
    // Odd, so that its squares stay odd and never reach zero.
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    let start = Instant::now();
    let mut best = 0.0f64;
    while start.elapsed() < duration {
        let t = Instant::now();
        for _ in 0..BATCH {
            x = x.wrapping_mul(x);
        }
        x = black_box(x);
        best = best.max(BATCH as f64 * IMUL_CYCLES / t.elapsed().as_secs_f64() / 1e9);
    }
    black_box(x);
    best
}

/// The physical cores this process may run on: the CPUs of its affinity
/// mask (`Cpus_allowed_list` in `/proc/self/status`) with hyperthreads of
/// one core counted once (Linux's `topology/physical_package_id` and
/// `core_id` under `/sys/devices/system/cpu`), at most the logical count
/// ([`crate::config::cores`], which also heeds a cgroup's CPU quota). Where
/// the topology cannot be read, the logical count.
pub fn physical_cores() -> usize {
    let logical = crate::config::cores();
    let allowed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let list = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
            cpu_list(list.trim())
        });
    allowed
        .and_then(|cpus| cores_of(Path::new("/sys/devices/system/cpu"), &cpus))
        .map_or(logical, |n| n.clamp(1, logical))
}

/// The CPUs of a Linux CPU list (`0-3,8,10-11`); `None` if it is malformed.
fn cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().ok()?..=b.parse().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// The distinct (package, core) pairs of `cpus` under a `sys/devices/system/cpu`
/// directory `root`; `None` if any CPU's topology is missing.
fn cores_of(root: &Path, cpus: &[usize]) -> Option<usize> {
    let read = |cpu: usize, name: &str| {
        let path = root.join(format!("cpu{cpu}/topology/{name}"));
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut cores = BTreeSet::new();
    for &cpu in cpus {
        cores.insert((read(cpu, "physical_package_id")?, read(cpu, "core_id")?));
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_l2_buffer_misses_l1_and_fits_l2() {
        let (l1, l2) = cache_bytes();
        let bytes = 4 * l2_buffer_len();
        assert!(bytes >= 4 * l1, "{bytes} bytes against L1d {l1}");
        assert!(bytes <= l2.max(4 * l1), "{bytes} bytes against L2 {l2}");
    }

    #[test]
    fn the_l3_buffer_exceeds_l2() {
        let bytes = 4 * l3_buffer_len();
        assert!(bytes > cache_bytes().1, "{bytes} bytes");
        assert!(bytes > 4 * l2_buffer_len(), "{bytes} bytes");
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(cpu_list("0"), Some(vec![0]));
        assert_eq!(cpu_list("0-3,8,10-11"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(cpu_list("0-"), None);
        assert_eq!(cpu_list("a"), None);
    }

    /// Four CPUs, two hyperthreads on each of two cores of one package:
    /// two cores; one CPU without its topology: unknown.
    #[test]
    fn hyperthreads_of_one_core_count_once() {
        let dir = tempfile::tempdir().unwrap();
        for (cpu, core) in [(0, 0), (1, 1), (2, 0), (3, 1)] {
            let t = dir.path().join(format!("cpu{cpu}/topology"));
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("physical_package_id"), "0\n").unwrap();
            std::fs::write(t.join("core_id"), format!("{core}\n")).unwrap();
        }
        assert_eq!(cores_of(dir.path(), &[0, 1, 2, 3]), Some(2));
        assert_eq!(cores_of(dir.path(), &[0, 2]), Some(1));
        assert_eq!(cores_of(dir.path(), &[0, 4]), None);
        let n = physical_cores();
        assert!((1..=crate::config::cores()).contains(&n), "{n}");
    }
}
