//! Model files pinned byte for byte: the same seed and settings must write
//! the same bytes as the release these hashes were recorded with, so that a
//! reshaping of the code (or a faster kernel that claims to be exact) cannot
//! change a result unnoticed.
//!
//! Floating-point results depend on the kernels' instruction set (f32x16,
//! f32x8 with or without FMA, the scalar twins), so the hashes are recorded
//! per kernel path (`kernel_path`). The AVX-512 build's are checked on any
//! AVX2+FMA machine by the tests built with `--features f32x16` (CI does).
//! On a path with no recorded hashes the test still checks that two
//! identical runs write identical files, and says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rnn_fast::kernels::{SIMD_PATH, chunk};

/// What decides the rounding of the pinned runs: the arithmetic of the
/// compiled `wide` path (the feature `f32x16` on an AVX2+FMA build computes
/// what the AVX-512 build does, two halves a vector) and, unless the scalar
/// twins run everything, whether the `gemm` crate's run-time microkernel
/// fuses its multiplies and adds. Which fused microkernel it picks (AVX2 or AVX-512) and its
/// k-blocks (from the L1's size) do not matter here: the pinned models'
/// chunk products sum over k of at most 65, shorter than any k-block, in
/// one chain (measured: a Zen 1 with AVX2 and a 32 KiB L1 writes the bytes
/// recorded on a Xeon with AVX-512 and 48 KiB; the weight gradients run on
/// `wide` from a C of a quarter of an L2 down, and the pinned models' are a
/// few KiB).
fn kernel_path() -> String {
    let lanes = match SIMD_PATH {
        "avx512f (f32x16)" => "f32x16",
        // Two halves add and fuse as one AVX-512 vector where each half is
        // one AVX vector with FMA (`lane_sums_add_halves_against_halves`).
        "f32x16 in halves (feature f32x16)"
            if cfg!(all(target_feature = "avx", target_feature = "fma")) =>
        {
            "f32x16"
        }
        "avx2+fma (f32x8)" => "f32x8, fma",
        "sse2 (f32x8 as two f32x4)" => "f32x8 as two f32x4",
        other => other,
    };
    if cfg!(feature = "scalar-kernels") {
        lanes.to_string()
    } else if chunk::chunk_isa() == "sse2" {
        format!("{lanes}; gemm unfused")
    } else {
        format!("{lanes}; gemm fused")
    }
}

/// FNV-1a over a file's bytes.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs `rnn-fast train` in `dir` (corpus and output named relative to it,
/// as the file records the corpus's name) and returns the output's hash.
fn train(dir: &Path, args: &[&str], corpus: Option<&str>, out: &str) -> u64 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rnn-fast"));
    cmd.current_dir(dir)
        .arg("train")
        .args(args)
        .args(["--sample-len", "0", "-q"]);
    cmd.args(corpus);
    let o = cmd.args(["-o", out]).output().expect("the binary runs");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    fnv(&std::fs::read(dir.join(out)).unwrap())
}

/// The runs that are pinned: name, hash of the model file each writes.
fn pinned_runs(dir: &Path) -> Vec<(&'static str, u64)> {
    let article = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpora/article.txt");
    std::fs::copy(article, dir.join("article.txt")).unwrap();
    std::fs::write(dir.join("words.txt"), common::words(120_000, 11)).unwrap();
    let adagrad = [
        "--hidden",
        "24",
        "--epochs",
        "1",
        "--shards",
        "8",
        "--streams",
        "4",
        "--threads",
        "2",
        "--optimizer",
        "adagrad",
        "--clip-norm",
        "1",
        "--lr-decay",
        "0.5",
        "--val-frac",
        "0.1",
    ];
    let sgd = [
        "--hidden",
        "20",
        "--epochs",
        "1",
        "--shards",
        "3",
        "--streams",
        "2",
        "--optimizer",
        "sgd",
        "--grad",
        "sum",
        "--lr",
        "0.01",
    ];
    let article_args = ["--hidden", "16", "--epochs", "30"];
    vec![
        (
            "article text, defaults",
            train(dir, &article_args, Some("article.txt"), "a.safetensors"),
        ),
        (
            "article preset",
            train(
                dir,
                &["--preset", "article", "--epochs", "3"],
                None,
                "p.safetensors",
            ),
        ),
        (
            "words, adagrad, norm clip, decay, 8 shards on 2 threads",
            train(dir, &adagrad, Some("words.txt"), "w.safetensors"),
        ),
        (
            "words, sgd, summed gradients",
            train(dir, &sgd, Some("words.txt"), "s.safetensors"),
        ),
        (
            "the adagrad run resumed for a second epoch",
            train(
                dir,
                &["--resume", "w.safetensors", "--epochs", "2"],
                Some("words.txt"),
                "w2.safetensors",
            ),
        ),
    ]
}

/// Hashes recorded per kernel path ([`kernel_path`]), in the order of
/// [`pinned_runs`]. The seams reshaping was pinned to the release before it
/// (3bcd8fd); the SIMD paths' were recorded again when the step's tanh
/// became a rational approximation (within 4e-7 of tanh; the scalar path's
/// libm tanh did not change, nor did its hashes). When the weight
/// gradients moved from the `gemm` crate to the `wide` kernel only the sse2
/// path's changed (its f32x8 multiplies and adds apart, where the crate
/// fused them): on the FMA paths, the pinned runs' chunks are shorter than
/// the crate's k-block, so both summed each entry in one chain over k.
/// These were keyed by the crate's microkernel and L1 as well until the
/// same bytes were seen on an AVX2 Zen 1 (so until then only a Xeon like
/// the one they were recorded on compared them).
const RECORDED: &[(&str, [u64; 5])] = &[
    (
        "f32x16; gemm fused",
        [
            0x2cdca51328d01523,
            0xf56e1472ffdea693,
            0x4051785ac068d234,
            0x767e651548809f24,
            0xdb1c644dde70df7e,
        ],
    ),
    (
        "f32x8, fma; gemm fused",
        [
            0x8b23c84bc1f456c3,
            0x19441607bbaa6a54,
            0x8a9aa8a0473a787e,
            0x68f9495345c03343,
            0x93d7f1d6fd740ff0,
        ],
    ),
    (
        "f32x8 as two f32x4; gemm fused",
        [
            0x2a6780d61a0256b4,
            0x57027180718ca198,
            0xd5529fab67233380,
            0x2d660f3c58ed4339,
            0x2b35ebbee9508141,
        ],
    ),
    (
        "scalar (feature scalar-kernels)",
        [
            0xc5db5a31d35bf912,
            0x9e72add7f7f7adfb,
            0xfc7b0d14a2225dec,
            0x3adda5a21cd2bb91,
            0x952a61eee09840c8,
        ],
    ),
];

#[test]
fn the_same_seed_writes_the_same_model_files() {
    let dir = tempfile::tempdir().unwrap();
    let runs = pinned_runs(dir.path());
    let got: Vec<u64> = runs.iter().map(|r| r.1).collect();
    let path = kernel_path();
    eprintln!("kernel path {path:?}: {got:x?}");
    match RECORDED.iter().find(|(p, _)| *p == path) {
        Some((_, want)) => {
            for ((name, hash), want) in runs.iter().zip(want) {
                assert_eq!(hash, want, "{name}: the model file changed ({path})");
            }
        }
        None => {
            eprintln!(
                "no hashes recorded for kernel path {path:?}: checking that a second run writes the same bytes"
            );
            let again = pinned_runs(dir.path());
            assert_eq!(runs, again);
        }
    }
}
