//! What a training configuration asks of the machine, computed before
//! anything is allocated, so that an absurd one is refused with the number
//! instead of failing an allocation, and one whose checkpoints could not be
//! read back is refused before it trains.

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
/// and packed `W_hh`; with Hogwild the shared atomic copies.
/// Saturates instead of overflowing.
pub fn memory_needed(config: &TrainConfig, vocab_len: usize) -> u64 {
    let l = Layout::stacked(config.cell, config.layers, config.hidden, vocab_len);
    let (t, b) = (config.seq_len as u128, config.streams as u128);
    let (hp, vp, params) = (l.hp as u128, l.vp as u128, l.len() as u128);
    let groups = (config.shards as u128).div_ceil(b.max(1));
    let hogwild = u128::from(config.parallel == Parallel::Hogwild);
    let dropout = 3 * t * b * hp * u128::from(config.dropout > 0.0);
    let cell = l.cell();
    let scratch = cell.scratch_len(&l, config.streams, config.seq_len) as u128;
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
    u64::try_from(groups * per_group + shared).unwrap_or(u64::MAX)
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
            "these settings make checkpoints of up to {} ({} of {} layers, H {}, V {vocab_len}, {}), over the {} rnn-fast reads back: lower --hidden, --layers or --shards",
            gib(checkpoint),
            config.cell,
            config.layers,
            config.hidden,
            counted(config.shards, "shard"),
            gib(MAX_MODEL_BYTES)
        )));
    }
    check_memory(config, vocab_len)
}

/// Memory the machine has available now (Linux `MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a configuration that needs more memory than is available.
fn check_memory(config: &TrainConfig, vocab_len: usize) -> Result<()> {
    let needed = memory_needed(config, vocab_len);
    match available_memory() {
        Some(free) if needed > free => Err(Error::Usage(format!(
            "these settings need {} of memory (H {}, seq_len {}, {} shards in groups of {} streams), more than the {} available: lower --seq-len, --streams, --shards or --hidden",
            gib(needed),
            config.hidden,
            config.seq_len,
            config.shards,
            config.streams,
            gib(free)
        ))),
        _ => Ok(()),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
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
