//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rnn_fast::model::Model;
use rnn_fast::vocab::Vocab;

/// Whether `a` and `b` hold the same values bit for bit (and as many).
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// A vocabulary of `v` distinct characters.
pub fn vocab(v: usize) -> Vocab {
    let chars: Vec<char> = (0..v as u32)
        .map(|i| char::from_u32(0x21 + i).unwrap())
        .collect();
    Vocab::from_chars(chars).unwrap()
}

/// A model with every weight and bias drawn uniformly from [-scale, scale]
/// (biases too, so that every gradient term is exercised).
pub fn random_model(h: usize, v: usize, seed: u64, scale: f32) -> Model {
    let mut model = Model::init(vocab(v), h, seed, rnn_fast::config::InitKind::Article);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
    let l = model.layout;
    let t = rnn_fast::cell::tanh::split_mut(&l, &mut model.weights);
    for i in 0..l.v {
        for j in 0..l.h {
            t.wxh[i * l.hp + j] = rng.random_range(-scale..scale);
        }
    }
    for i in 0..l.h {
        for j in 0..l.h {
            t.whh[i * l.hp + j] = rng.random_range(-scale..scale);
        }
        t.bh[i] = rng.random_range(-scale..scale);
    }
    for o in 0..l.v {
        for j in 0..l.h {
            t.why[o * l.hp + j] = rng.random_range(-scale..scale);
        }
        t.by[o] = rng.random_range(-scale..scale);
    }
    model
}

/// `len` random ids below `v`.
pub fn random_ids(len: usize, v: usize, seed: u64) -> Vec<u16> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(0..v as u16)).collect()
}

/// A hidden state of `h` values in (-0.9, 0.9), padded with zeros to `hp`.
pub fn random_state(h: usize, hp: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..hp)
        .map(|i| {
            if i < h {
                rng.random_range(-0.9..0.9)
            } else {
                0.0
            }
        })
        .collect()
}

/// A deterministic text of `len` characters: pseudo-random words of a small
/// alphabet, with spaces and newlines, so a model has something to learn.
pub fn words(len: usize, seed: u64) -> String {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz".chars().collect();
    let mut s = String::with_capacity(len);
    while s.len() < len {
        let n = rng.random_range(1..8);
        for _ in 0..n {
            s.push(alphabet[rng.random_range(0..alphabet.len())]);
        }
        s.push(if rng.random_range(0..10) == 0 {
            '\n'
        } else {
            ' '
        });
    }
    s.truncate(len);
    s
}

/// A corpus from `../shared/corpora` (or wherever `RNN_FAST_CORPORA` points,
/// as `.ci/run` sets it). `None`, said plainly, when it is not there; in CI
/// (`CI` set) a missing corpus fails the test.
pub fn shared_corpus(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("RNN_FAST_CORPORA").map(std::path::PathBuf::from);
    let path = dir.map(|d| d.join(name)).filter(|p| p.is_file());
    if path.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found: .ci/run sets RNN_FAST_CORPORA to ../shared/corpora"
        );
        eprintln!("SKIPPED: {name} not found (set RNN_FAST_CORPORA to the corpora directory)");
    }
    path
}

/// The bytes of a model file and of a checkpoint of a small model (H
/// `hidden`) after one update on a words text.
pub fn small_files(hidden: usize) -> (Vec<u8>, Vec<u8>) {
    use rnn_fast::{checkpoint, config::TrainConfig, corpus::Corpus, trainer::Trainer};
    let corpus = Corpus::from_text(&words(3_000, 5)).unwrap();
    let config = TrainConfig {
        hidden,
        shards: 3,
        ..TrainConfig::defaults(1_000)
    };
    let mut t = Trainer::new(config.clone(), &corpus).unwrap();
    t.train_chunk(&corpus.ids);
    let ck = checkpoint::Checkpoint {
        settings: config,
        run: checkpoint::RunInfo {
            corpus: "words".into(),
            val_frac: 0.0,
            corpus_len: corpus.len(),
            corpus_hash: checkpoint::corpus_hash(&corpus.ids),
            chars_seen: 120,
            best_val: None,
            eval_every: None,
        },
        state: t.state(),
    };
    (
        checkpoint::to_bytes(t.model(), None),
        checkpoint::to_bytes(t.model(), Some(&ck)),
    )
}

/// Starts `cmd`, a training run, with its standard output and error piped,
/// and reads its standard output up to its first report line: training is
/// under way then, however slow the machine. Returns the run and the lines
/// of its standard output after that one.
pub fn start_training(
    cmd: &mut std::process::Command,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut lines = std::io::BufRead::lines(stdout);
    assert!(
        lines.any(|l| l.unwrap().starts_with("epoch")),
        "no report line"
    );
    (child, lines)
}

/// Sends `signal` (a `kill` argument such as `-INT`) to process `pid`.
pub fn kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// A model of `layers` layers of `cell` with every stored entry of every
/// tensor (biases too) drawn uniformly from [-scale, scale], padding left
/// zero.
pub fn random_cell_model(
    cell: rnn_fast::layout::CellKind,
    layers: usize,
    h: usize,
    v: usize,
    seed: u64,
    scale: f32,
) -> Model {
    let init = rnn_fast::config::InitKind::Article;
    let mut model = Model::init_cell(cell, layers, vocab(v), h, seed, init);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
    let l = model.layout;
    for (at, spec) in l.offsets() {
        let n: usize = spec.file_shape(&l).iter().product();
        for k in 0..n {
            model.weights[at + spec.stored_index(&l, k)] = rng.random_range(-scale..scale);
        }
    }
    model
}
