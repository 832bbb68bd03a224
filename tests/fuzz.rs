//! A mutation fuzzer for the model/checkpoint loader and the corpus reader:
//! random and mutated bytes must give an error or a value, never a panic.
//! The normal suite runs a fixed number of cases; `fuzz/run.sh SECONDS`
//! runs the same harness for a bounded time (`RNN_FAST_FUZZ_SECONDS`).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rnn_fast::{checkpoint, corpus};

/// Valid bytes to start mutating from: a model and a checkpoint.
fn seeds() -> Vec<Vec<u8>> {
    let (model, checkpoint) = common::small_files(5);
    vec![model, checkpoint]
}

/// One mutation: flip bits, overwrite, insert, delete, truncate, or splice
/// an interesting value into the JSON header.
fn mutate(bytes: &mut Vec<u8>, rng: &mut Xoshiro256PlusPlus) {
    let interesting: [&[u8]; 8] = [
        b"0",
        b"-1",
        b"18446744073709551615",
        b"[]",
        b"\"F64\"",
        b"{}",
        b"1e309",
        b"\"\\u0000\"",
    ];
    for _ in 0..rng.random_range(1..4) {
        let len = bytes.len().max(1);
        match rng.random_range(0..7) {
            0 if !bytes.is_empty() => {
                let i = rng.random_range(0..bytes.len());
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !bytes.is_empty() => {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..len.min(bytes.len() + 1));
                bytes.insert(i, rng.random());
            }
            3 if !bytes.is_empty() => {
                let i = rng.random_range(0..bytes.len());
                bytes.remove(i);
            }
            4 => bytes.truncate(rng.random_range(0..len)),
            5 if bytes.len() > 16 => {
                // Into the header, where the structure lives.
                let n = u64::from_le_bytes(bytes[..8].try_into().unwrap())
                    .min(bytes.len() as u64 - 8) as usize;
                if n > 0 {
                    let i = 8 + rng.random_range(0..n);
                    let v = interesting[rng.random_range(0..interesting.len())];
                    let end = (i + v.len()).min(bytes.len());
                    bytes.splice(i..end, v.iter().copied());
                }
            }
            _ => {
                let i = rng.random_range(0..8.min(bytes.len()).max(1));
                if i < bytes.len() {
                    bytes[i] = rng.random();
                }
            }
        }
    }
}

/// Runs `cases` mutated inputs (or until `deadline`) through the loader and
/// the corpus reader; a panic fails with the input saved for reproduction.
fn fuzz(cases: usize, deadline: Option<Instant>, seed: u64) -> usize {
    let seeds = seeds();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut done = 0;
    while done < cases && deadline.is_none_or(|d| Instant::now() < d) {
        let mut input = if rng.random_range(0..10) == 0 {
            (0..rng.random_range(0..256))
                .map(|_| rng.random())
                .collect()
        } else {
            seeds[rng.random_range(0..seeds.len())].clone()
        };
        mutate(&mut input, &mut rng);
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(loaded) = checkpoint::from_bytes(&input) {
                // What loads must be usable.
                assert!(loaded.model.is_finite());
                let ids: Vec<u16> = (0..loaded.model.vocab.len().min(50) as u16).collect();
                if ids.len() >= 2 {
                    rnn_fast::eval::evaluate(&loaded.model, &ids);
                }
            }
            if let Ok(text) = corpus::text_from_bytes(input.clone()) {
                let _ = corpus::Corpus::from_text(&text);
            }
        }));
        if result.is_err() {
            let path = std::env::temp_dir().join(format!("rnn-fast-fuzz-crash-{seed}-{done}.bin"));
            std::fs::write(&path, &input).unwrap();
            panic!("a panic on input {done}; saved to {}", path.display());
        }
        done += 1;
    }
    done
}

#[test]
fn mutated_model_files_and_corpora_never_panic() {
    assert_eq!(fuzz(3_000, None, 1), 3_000);
}

/// The bounded-time run of `fuzz/run.sh`.
#[test]
#[ignore = "run by fuzz/run.sh for a bounded time"]
fn fuzz_for_a_while() {
    let secs: u64 = std::env::var("RNN_FAST_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("RNN_FAST_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let done = fuzz(
        usize::MAX,
        Some(Instant::now() + Duration::from_secs(secs)),
        seed,
    );
    eprintln!("fuzzed {done} inputs in {secs} s (seed {seed}): no panic");
}
