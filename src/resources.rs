//! What a training configuration asks of the machine, computed before
//! anything is allocated, so that an absurd one is refused with the number
//! instead of failing an allocation, and one whose checkpoints could not be
//! read back is refused before it trains; and what this process can still
//! take, which the machine's free memory alone does not say.

use std::path::Path;

use crate::config::{Parallel, TrainConfig};
use crate::error::{Error, Result};
use crate::input::{MAX_HEADER_BYTES, MAX_MODEL_BYTES};
use crate::layout::Layout;
use crate::message::counted;

/// Bytes a trainer with `config` needs for a vocabulary of `vocab_len`:
/// the weights and the optimizer's two slots; per group of `streams`
/// shards a gradient buffer (and a weight snapshot with Hogwild) and its
/// BPTT buffers (per layer `(T+1)·B` state rows of the cell's width,
/// `T·B·Vp` logits, `T·B·Hp` deltas, the carried state of B streams, the
/// cell's backward scratch and prepared weights (with Hogwild also `W_hh`
/// packed for the backward pass), `2·T·B` ids; with dropout
/// two masks and the dropped states, `3·T·B·Hp`; per layer above the first
/// its input and a mask, `2·T·B·Hp`, and for all of them an input product
/// and a second delta, `T·B·(G+1)·Hp`); the trainer's prepared weights
/// and packed `W_hh`; with Hogwild the shared atomic copies; and what a
/// save takes on top of training, the shards' carried state it gathers
/// (the weights and the optimizer's slots are written from where they are,
/// the file as it is made). Saturates instead of overflowing.
pub fn memory_needed(config: &TrainConfig, vocab_len: usize) -> u64 {
    let l = Layout::stacked(config.cell, config.layers, config.hidden, vocab_len);
    // A group is never larger than the shards (see `streams_per_pass`).
    let streams = config.streams_per_pass();
    let (t, b) = (config.seq_len as u128, streams as u128);
    let (hp, vp, params) = (l.hp as u128, l.vp as u128, l.len() as u128);
    let groups = (config.shards as u128).div_ceil(b.max(1));
    let hogwild = u128::from(config.parallel == Parallel::Hogwild);
    let dropout = 3 * t * b * hp * u128::from(config.dropout > 0.0);
    let cell = l.cell();
    let scratch = cell.scratch_len(&l, streams, config.seq_len) as u128;
    // The trainer prepares the weights for `--streams` (see `Trainer`).
    let prepared = cell.prepared_len(&l, config.streams) as u128;
    let back_panels = l.back_panels_len(config.streams) as u128;
    let (width, carried) = (cell.state_width(&l) as u128, l.carried_width() as u128);
    let (layers, gates) = (l.layers as u128, cell.gates() as u128);
    let above = match layers {
        1 => 0,
        _ => (layers - 1) * 2 * t * b * hp + t * b * (gates + 1) * hp,
    };
    let bptt_floats = layers * (t + 1) * b * width
        + t * b * vp
        + t * b * hp
        + b * carried
        + scratch
        + prepared
        + hogwild * back_panels
        + dropout
        + above;
    let per_group = 4 * (params * (1 + hogwild) + bptt_floats) + 4 * t * b;
    let shared = 4 * (params * (3 + 3 * hogwild) + prepared + back_panels);
    let save = 4 * config.shards as u128 * carried + 8 * config.shards as u128;
    u64::try_from(groups * per_group + shared + save).unwrap_or(u64::MAX)
}

/// Bytes of a checkpoint of `config` for a vocabulary of `vocab_len`, at
/// most: the weights and the optimizer's two slots (at their padded sizes),
/// every shard's carried state, the longest header and its length field.
/// Saturates instead of overflowing.
pub fn checkpoint_bytes(config: &TrainConfig, vocab_len: usize) -> u64 {
    let l = Layout::stacked(config.cell, config.layers, config.hidden, vocab_len);
    let floats = 3 * l.len() as u128 + config.shards as u128 * l.carried_width() as u128;
    u64::try_from(4 * floats + MAX_HEADER_BYTES as u128 + 8).unwrap_or(u64::MAX)
}

/// Refuses a configuration that needs more memory than is available, or
/// whose checkpoints would be larger than the model files rnn-fast reads
/// ([`MAX_MODEL_BYTES`]): such a run would train and then not resume. The
/// checkpoint is checked first, so that the answer does not depend on the
/// machine.
pub fn check(config: &TrainConfig, vocab_len: usize) -> Result<()> {
    let checkpoint = checkpoint_bytes(config, vocab_len);
    if checkpoint > MAX_MODEL_BYTES {
        return Err(Error::Usage(format!(
            "these settings make checkpoints of up to {} ({}), over the {} rnn-fast reads back: lower --hidden, --layers or --shards",
            gib(checkpoint),
            checkpoint_shape(config, vocab_len),
            gib(MAX_MODEL_BYTES)
        )));
    }
    check_memory(config, vocab_len)
}

/// Refuses a run whose checkpoints (`bytes` each, asked for only where
/// there is a limit) would be larger than this process may write (`ulimit
/// -f`, `Max file size` in `/proc/self/limits`): it would train and then
/// fail to save.
pub fn check_file_size(
    config: &TrainConfig,
    vocab_len: usize,
    bytes: impl FnOnce() -> u64,
) -> Result<()> {
    let Some(limit) = process_limit("Max file size") else {
        return Ok(());
    };
    let bytes = bytes();
    if bytes <= limit {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "this run's checkpoints take {} ({}), over this process's limit on the size of a file it writes, {} (ulimit -f): raise the limit, or lower --hidden, --layers or --shards",
        gib(bytes),
        checkpoint_shape(config, vocab_len),
        gib(limit)
    )))
}

/// What sets a checkpoint's size, for a message: "lstm of 2 layers, H 512,
/// V 65, 64 shards".
fn checkpoint_shape(config: &TrainConfig, vocab_len: usize) -> String {
    format!(
        "{} of {}, H {}, V {vocab_len}, {}",
        config.cell,
        counted(config.layers, "layer"),
        config.hidden,
        counted(config.shards, "shard")
    )
}

/// Memory this process can still take, if known, before `threads` more
/// threads start: the least of what the machine has available (Linux
/// `MemAvailable`), what a limit on the process's address space leaves
/// (`ulimit -v`; each thread to come reserves `THREAD_RESERVE` of it,
/// beyond what it uses) and what the limit of its control group leaves (a
/// container's `--memory`), none of which `MemAvailable` shows. Beyond it
/// an allocation fails (an abort) or the kernel kills the process, and a
/// run is lost.
pub fn available_memory(threads: usize) -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let machine = read("/proc/meminfo").and_then(|t| kib_field(&t, "MemAvailable:"));
    let address_space = process_limit("Max address space").and_then(|limit| {
        let used = read("/proc/self/status").and_then(|t| kib_field(&t, "VmSize:"))?;
        let reserved = threads as u64 * THREAD_RESERVE;
        Some(limit.saturating_sub(used).saturating_sub(reserved))
    });
    [machine, address_space, cgroup_left()]
        .into_iter()
        .flatten()
        .min()
}

/// Address space a thread reserves: its malloc arena (glibc maps 64 MiB
/// for each thread's, up to 8 a core) and its stack (2 MiB).
const THREAD_RESERVE: u64 = 66 << 20;

/// Threads a training run starts besides its workers, after this check: a
/// writer for each of standard output and standard error.
const HELPER_THREADS: usize = 2;

/// The value of a `Name:   123 kB` line of `text`, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// This process's soft limit `name` (such as `Max address space`, in
/// bytes) from `/proc/self/limits`; `None` when unlimited or unknown.
fn process_limit(name: &str) -> Option<u64> {
    soft_limit(&std::fs::read_to_string("/proc/self/limits").ok()?, name)
}

/// The soft limit of the `/proc/self/limits` line `name` (such as `Max
/// address space`, in bytes); `None` when unlimited.
fn soft_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// What the memory limits of this process's control group and of the
/// groups above it leave: the least, over the groups with a limit, of the
/// limit less the group's usage that cannot be reclaimed (its page cache of
/// files, `active_file` and `inactive_file`, can). cgroup v1
/// (`memory.limit_in_bytes`, `memory.usage_in_bytes`) or v2 (`memory.max`,
/// `memory.current`), from the group's path up to the root of the mount
/// (inside a container that mounts its own group at the root, the path
/// named in `/proc/self/cgroup` is not there: the root is). `None` without
/// a limit.
fn cgroup_left() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    groups_left(&groups, "/sys/fs/cgroup/memory", "/sys/fs/cgroup")
}

/// [`cgroup_left`] for the groups listed in `groups` (as in
/// `/proc/self/cgroup`), the v1 memory hierarchy mounted at `v1_root` and
/// the v2 one at `v2_root`.
fn groups_left(groups: &str, v1_root: &str, v2_root: &str) -> Option<u64> {
    let path_of = |controller: &dyn Fn(&str) -> bool| {
        groups.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            controller(names).then(|| path.to_string())
        })
    };
    let v1 = path_of(&|names| names.split(',').any(|n| n == "memory")).map(|p| (v1_root, p, V1));
    let v2 = path_of(&|names| names.is_empty()).map(|p| (v2_root, p, V2));
    [v1, v2]
        .into_iter()
        .flatten()
        .flat_map(|(root, path, files)| {
            let own = std::path::PathBuf::from(format!("{root}{path}"));
            let dirs: Vec<std::path::PathBuf> = own
                .ancestors()
                .take_while(|d| d.starts_with(root))
                .map(Path::to_path_buf)
                .collect();
            dirs.into_iter()
                .filter_map(move |dir| group_left(&dir, files))
        })
        .min()
}

/// A cgroup version's file names: limit, usage, and the keys of the
/// reclaimable page cache in `memory.stat`.
type GroupFiles = (&'static str, &'static str, [&'static str; 2]);
const V1: GroupFiles = (
    "memory.limit_in_bytes",
    "memory.usage_in_bytes",
    ["total_active_file", "total_inactive_file"],
);
const V2: GroupFiles = (
    "memory.max",
    "memory.current",
    ["active_file", "inactive_file"],
);

/// What the group at `dir` leaves under its limit (`None` where it has no
/// limit or no such files).
fn group_left(dir: &Path, (limit, usage, cache): GroupFiles) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    // "max" (v2) does not parse: no limit. v1 writes no limit as a huge
    // number (2^63 rounded to pages), above any machine's memory.
    let limit: u64 = read(limit)?.trim().parse().ok()?;
    let usage: u64 = read(usage)?.trim().parse().ok()?;
    let stat = read("memory.stat").unwrap_or_default();
    let cached: u64 = stat
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(key, _)| cache.contains(key))
        .filter_map(|(_, value)| value.trim().parse::<u64>().ok())
        .sum();
    Some(limit.saturating_sub(usage.saturating_sub(cached)))
}

/// Refuses a configuration that needs more memory than is available.
fn check_memory(config: &TrainConfig, vocab_len: usize) -> Result<()> {
    let needed = memory_needed(config, vocab_len);
    match available_memory(config.threads + HELPER_THREADS) {
        Some(free) if needed > free => Err(Error::Usage(format!(
            "these settings need {} of memory ({} of {}, H {}, seq_len {}, {} in groups of {}), more than the {} this process can take: lower --hidden, --layers, --seq-len, --streams or --shards",
            gib(needed),
            config.cell,
            counted(config.layers, "layer"),
            config.hidden,
            config.seq_len,
            counted(config.shards, "shard"),
            counted(config.streams_per_pass(), "stream"),
            gib(free)
        ))),
        _ => Ok(()),
    }
}

/// Refuses a dynamic evaluation of the model of `layout` in chunks of
/// `seq_len` characters that needs more memory than this process can take
/// (an allocation would abort instead): what a trainer of one stream and
/// one shard at that size needs ([`memory_needed`]: the adapted copy of the
/// weights, its gradient, SGD's two state slots, one stream's BPTT
/// buffers). The model itself is loaded already, counted in what is taken.
pub fn check_dynamic(layout: &Layout, seq_len: usize) -> Result<()> {
    let config = TrainConfig {
        cell: layout.cell,
        layers: layout.layers,
        hidden: layout.h,
        seq_len,
        streams: 1,
        shards: 1,
        threads: 1,
        parallel: Parallel::Avg,
        dropout: 0.0,
        ..TrainConfig::article()
    };
    let needed = memory_needed(&config, layout.v);
    match available_memory(0) {
        Some(free) if needed > free => Err(Error::Usage(format!(
            "dynamic evaluation in chunks of --dynamic-seq-len {seq_len} needs {} of memory for this model, more than the {} this process can take: lower --dynamic-seq-len",
            gib(needed),
            gib(free)
        ))),
        _ => Ok(()),
    }
}

/// Refuses to load the model file at `path`, of `size` bytes, where this
/// process cannot take twice that: the file's bytes and the model (and a
/// checkpoint's training state) read from them, value by value (where an
/// allocation would abort instead).
pub fn check_load(path: &Path, size: u64) -> Result<()> {
    let needed = size.saturating_mul(2);
    match available_memory(0) {
        Some(free) if needed > free => Err(Error::System(format!(
            "{}: a file of {}; loading it as a model needs about {} of memory, more than the {} this process can take",
            path.display(),
            gib(size),
            gib(needed),
            gib(free)
        ))),
        _ => Ok(()),
    }
}

/// `bytes` in GiB to a tenth, or in MiB below 1 GiB and KiB below 1 MiB
/// (where tenths of a GiB, or whole MiB, would make two different amounts
/// read the same: "0 MiB").
fn gib(bytes: u64) -> String {
    match bytes as f64 / (1u64 << 30) as f64 {
        g if g * 1024.0 < 1.0 => format!("{:.0} KiB", g * 1024.0 * 1024.0),
        g if g < 1.0 => format!("{:.0} MiB", g * 1024.0),
        g => format!("{g:.1} GiB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_every_buffer() {
        let c = TrainConfig {
            hidden: 128,
            seq_len: 100_000,
            shards: 4_096,
            streams: 4_096,
            ..TrainConfig::defaults(1_000_000)
        };
        // One group: 100,000 × 4,096 rows of states, logits and deltas alone
        // are 100k·4096·(128 + 80 + 128)·4 bytes ≈ 513 GiB with V 65.
        let needed = memory_needed(&c, 65) as f64 / (1u64 << 30) as f64;
        assert!((500.0..560.0).contains(&needed), "{needed}");
        let small = TrainConfig::defaults(1_000_000);
        assert!(memory_needed(&small, 65) < 100 << 20);
        // A group is never larger than the shards: more streams than shards
        // need what as many streams as shards need.
        let shards = |streams| TrainConfig {
            streams,
            shards: 24,
            seq_len: 100_000,
            ..TrainConfig::defaults(1_000_000)
        };
        assert_eq!(
            memory_needed(&shards(4_096), 65),
            memory_needed(&shards(24), 65)
        );
    }

    /// Amounts under a MiB are not written as "0 MiB".
    #[test]
    fn small_amounts_keep_their_size() {
        assert_eq!(gib(374_784), "366 KiB");
        assert_eq!(gib(3 << 20), "3 MiB");
        assert_eq!(gib(3 << 30), "3.0 GiB");
    }

    /// The limits are read from the kernel's own files: `/proc` lines and
    /// a cgroup's files (v2 here, with `max` for no limit).
    #[test]
    fn limits_are_read_from_procfs_and_cgroup_files() {
        let status = "Name:\trnn-fast\nVmPeak:\t  20000 kB\nVmSize:\t   12345 kB\n";
        assert_eq!(kib_field(status, "VmSize:"), Some(12345 * 1024));
        assert_eq!(kib_field(status, "VmRSS:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max stack size            8388608              unlimited            bytes     \n\
                      Max address space         1073741824           unlimited            bytes     \n";
        assert_eq!(soft_limit(limits, "Max address space"), Some(1 << 30));
        assert_eq!(soft_limit(limits, "Max stack size"), Some(8 << 20));
        assert_eq!(soft_limit(limits, "Max file size"), None, "no such line");
        let unlimited = limits.replace("1073741824 ", "unlimited  ");
        assert_eq!(soft_limit(&unlimited, "Max address space"), None);

        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        let left = || group_left(dir.path(), V2);
        assert_eq!(left(), None, "no files");
        put("memory.max", "4294967296\n");
        put("memory.current", "1073741824\n");
        assert_eq!(left(), Some(3 << 30));
        // Page cache can be reclaimed: it does not count.
        let stat = "anon 536870912\nfile 536870915\nactive_file 3\ninactive_file 536870912\n";
        put("memory.stat", stat);
        assert_eq!(left(), Some((3 << 30) + (512 << 20) + 3));
        put("memory.current", "5368709120\n");
        assert_eq!(left(), Some(0));
        put("memory.max", "max\n");
        assert_eq!(left(), None, "no limit");

        // The least left over the process's group and those above it, to
        // the root of the mount; a path not there (a container's own root
        // mounted) stops at the root.
        let root = tempfile::tempdir().unwrap();
        let group = |rel: &str, limit: &str, usage: &str| {
            let d = root.path().join(rel);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("memory.max"), limit).unwrap();
            std::fs::write(d.join("memory.current"), usage).unwrap();
        };
        group("", "max", "900");
        group("user.slice", "1000", "600");
        group("user.slice/run", "max", "100");
        let r = root.path().to_str().unwrap();
        let left = |groups: &str| groups_left(groups, "/nowhere", r);
        assert_eq!(
            left("0::/user.slice/run\n"),
            Some(400),
            "the parent's limit"
        );
        group("user.slice/run", "300", "100");
        assert_eq!(left("0::/user.slice/run\n"), Some(200), "its own, lower");
        assert_eq!(left("0::/elsewhere/x\n"), None, "the root: no limit");
        group("", "5000", "900");
        assert_eq!(left("0::/elsewhere/x\n"), Some(4100));
        assert_eq!(left("4:memory:/user.slice/run\n"), None, "v1 not mounted");
    }

    #[test]
    fn a_checkpoint_too_large_to_read_back_is_refused_before_training() {
        use crate::layout::CellKind;
        let lstm = |hidden, layers| TrainConfig {
            cell: CellKind::Lstm,
            hidden,
            layers,
            ..TrainConfig::defaults(1_000_000)
        };
        // 8 layers: layer 0's W_hh is 4H² (its W_ih 4H·V), each layer above
        // holds W_ih and W_hh, 8H²: about 60H² floats, 3 times (the weights
        // and Adam's two slots), 4 bytes each: 11.25 GiB at H 4,096, 45 GiB
        // at H 8,192 (and the header's 0.1 GiB).
        let (fits, over) = (lstm(4_096, 8), lstm(8_192, 8));
        let gib = |c: &TrainConfig| checkpoint_bytes(c, 65) as f64 / (1u64 << 30) as f64;
        assert!((11.25..11.45).contains(&gib(&fits)), "{}", gib(&fits));
        assert!((45.0..45.3).contains(&gib(&over)), "{}", gib(&over));
        // (It may still need more memory than this machine has.)
        let refused =
            |c: &TrainConfig| check(c, 65).is_err_and(|e| e.to_string().contains("reads back"));
        assert!(!refused(&fits));
        assert!(refused(&over));
        let e = check(&over, 65).unwrap_err().to_string();
        assert!(
            e.contains("checkpoints of up to 45.2 GiB (lstm of 8 layers, H 8192, V 65")
                && e.contains("over the 32.0 GiB rnn-fast reads back"),
            "{e}"
        );
        // The largest rnn the options allow still fits (see input.rs).
        let rnn = TrainConfig {
            hidden: crate::config::MAX_HIDDEN,
            ..TrainConfig::defaults(1_000_000)
        };
        assert!(checkpoint_bytes(&rnn, crate::vocab::MAX_VOCAB) <= MAX_MODEL_BYTES);
    }
}
