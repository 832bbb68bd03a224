//! `rnn-fast bench`: the configuration it reports (from train's defaults
//! for the corpus) and the consistency of its peaks and ratios. Timing
//! itself is never asserted.

use std::process::{Command, Output};

/// `rnn-fast bench` with `args`, run to its end.
fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
        .arg("bench")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn bench_json(args: &[&str]) -> serde_json::Value {
    let o = bench(&[args, &["--seconds", "0.05", "--json"]].concat());
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

/// A text of `len` characters (words of a small alphabet).
fn text_file(dir: &std::path::Path, len: usize) -> std::path::PathBuf {
    let words = [
        "the ", "quick ", "brown ", "fox ", "jumps ", "over ", "a ", "dog\n",
    ];
    let mut s = String::with_capacity(len + 8);
    let mut i = 0usize;
    while s.len() < len {
        s.push_str(words[(i * 7 + i / 3) % words.len()]);
        i += 1;
    }
    s.truncate(len);
    let path = dir.join("big.txt");
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn the_defaults_on_a_megabyte_corpus_give_sixteen_threads_a_group_each() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = text_file(dir.path(), 1_000_000);
    let d = bench_json(&[
        "--corpus",
        corpus.to_str().unwrap(),
        "--hidden",
        "16",
        "--threads",
        "16",
    ]);
    assert_eq!(d["shards"], 64, "{d}");
    assert_eq!(d["streams"], 4, "{d}");
    assert!(d["groups"].as_u64().unwrap() >= 16, "{d}");
    // The peaks and the L2 share are those of the cores the threads run on,
    // not of 16 cores where the machine has fewer (physical cores: two
    // hyperthreads share one core's FMA units).
    let cores = rnn_fast::peak::physical_cores();
    assert_eq!(d["cores"].as_u64(), Some(16.min(cores) as u64), "{d}");
    let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {d}"));
    let per_core = f("chars_per_sec") * f("recurrent_bytes_per_char") / 1e9 / f("clock_ghz");
    let per_core = per_core / 16.min(cores) as f64;
    assert!((f("recurrent_bytes_per_cycle") - per_core).abs() <= 1e-9 * per_core);
}

/// On a text of 660,000 characters train holds out 33,000 for validation
/// and cuts the 627,000 left into 62 shards of at least 10,000; bench
/// reports the configuration train would run, so 62 too (not the 64 that
/// the whole text would allow).
#[test]
fn bench_cuts_the_shards_train_would_cut() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = text_file(dir.path(), 660_000);
    let d = bench_json(&["--corpus", corpus.to_str().unwrap(), "--hidden", "16"]);
    let o = Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
        .arg("train")
        .arg(&corpus)
        .args(["--hidden", "16", "--max-seconds", "0.05", "-o"])
        .arg(dir.path().join("m.safetensors"))
        .output()
        .expect("the binary runs");
    let header = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{header}");
    assert!(header.contains(", 62 shards, "), "{header}");
    assert_eq!(d["shards"], 62, "{d}");
}

/// Shards the text cannot cut are named as such, not as the memory they
/// would take.
#[test]
fn shards_beyond_the_text_are_named() {
    let o = Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
        .args(["bench", "--shards", "1000000", "--seconds", "0.05"])
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--shards 1000000 cannot cut 104 characters"),
        "{err}"
    );
    // Streams whose product with the threads passes the largest integer are
    // said to, not given the product it saturated to.
    let o = Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
        .args([
            "bench",
            "--streams",
            "9223372036854775808",
            "--threads",
            "2",
        ])
        .args(["--seconds", "0.05"])
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--streams 9223372036854775808 on 2 threads trains more than 18446744073709551615 shards, more than the 104 characters"),
        "{err}"
    );
}

/// A text too short for every shard to hold 16 whole chunks is trained
/// over end to end until it does, and the report says so; a longer one is
/// trained once. (The built-in text cut into 32 shards gave chunks of 3
/// steps, and figures far below those of a real corpus.)
#[test]
fn a_short_text_is_repeated_to_whole_chunks() {
    let o = bench(&["--hidden", "16", "--streams", "4", "--seconds", "0.05"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 25 copies of the 104 characters: 2,599 predictions, 649 a shard.
    assert_eq!(
        out.lines().nth(1),
        Some(
            "text 104 chars, repeated 25 times: each of its 4 shards holds 649 chars to predict, 16 whole chunks of 40"
        ),
        "{out}"
    );
    let d = bench_json(&["--hidden", "16", "--streams", "1", "--seq-len", "25"]);
    assert_eq!(
        (&d["text_chars"], &d["repeats"], &d["shard_chars"]),
        (
            &serde_json::json!(104),
            &serde_json::json!(4),
            &serde_json::json!(415)
        ),
        "{d}"
    );
    let dir = tempfile::tempdir().unwrap();
    let corpus = text_file(dir.path(), 100_000);
    let o = bench(&[
        "--corpus",
        corpus.to_str().unwrap(),
        "--hidden",
        "16",
        "--streams",
        "2",
        "--seconds",
        "0.05",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines().nth(1),
        Some(
            "text 100000 chars: each of its 2 shards holds 49999 chars to predict, 1249 whole chunks of 40"
        ),
        "{out}"
    );
}

/// Threads beyond 4 per core are cut, and said as train says it (with the
/// machine's cores), once the run is done.
#[test]
fn threads_beyond_four_per_core_are_cut_and_said() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let o = bench(&[
        "--hidden",
        "16",
        "--threads",
        "100000",
        "--seconds",
        "0.05",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(d["threads"].as_u64(), Some(4 * cores as u64), "{d}");
    let machine = if cores == 1 {
        "1 core".to_string()
    } else {
        format!("{cores} cores")
    };
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "warning: --threads 100000 is more than 4 per core on this machine ({machine}): using {}\n",
            4 * cores
        )
    );
}

#[test]
fn given_streams_make_one_group_per_thread() {
    let d = bench_json(&["--hidden", "16", "--streams", "3", "--threads", "2"]);
    assert_eq!(
        (d["shards"].as_u64(), d["groups"].as_u64()),
        (Some(6), Some(2))
    );
}

/// More streams than shards train the shards in one pass: the report says
/// so and sets the traffic against that many, and a warning says so once
/// the run is done (not before a refusal); shards taken from --streams
/// that the text cannot cut are named by --streams; a window too short for
/// one step still trains one.
#[test]
fn streams_beyond_the_shards_are_the_shards() {
    let o = bench(&[
        "--hidden",
        "16",
        "--streams",
        "5",
        "--shards",
        "3",
        "--seconds",
        "0.05",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err.trim_end(),
        "warning: --streams 5 is more than the 3 shards: training 3 streams per pass (each stream reads its own shard; --shards sets how many there are)"
    );
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (d["streams"].as_u64(), d["groups"].as_u64()),
        (Some(3), Some(1))
    );
    let per_stream = 8.0 * 16.0 * 16.0 / 3.0;
    assert_eq!(d["recurrent_bytes_per_char"].as_f64(), Some(per_stream));
    // Refused (past --streams' limit): the error alone.
    let o = bench(&["--hidden", "16", "--shards", "4", "--streams", "5000"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: --streams"), "{err}");
    let o = bench(&["--hidden", "16", "--streams", "1000"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--streams 1000 on 1 thread trains 1000 shards"),
        "{err}"
    );
    let o = bench(&["--hidden", "16", "--seconds", "1e-9", "--json"]);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(d["chars"].as_u64().unwrap() >= 40, "{d}");
}

#[test]
fn the_recurrence_traffic_is_set_against_the_l2_peak() {
    let d = bench_json(&["--hidden", "256", "--streams", "2"]);
    let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {d}"));
    assert_eq!(f("recurrent_bytes_per_char"), 8.0 * 256.0 * 256.0 / 2.0);
    let per_cycle = f("chars_per_sec") * f("recurrent_bytes_per_char") / 1e9 / f("clock_ghz");
    assert!((f("recurrent_bytes_per_cycle") - per_cycle).abs() <= 1e-9 * per_cycle);
    assert!((f("l2_bytes_per_cycle") - f("l2_gbs") / f("clock_ghz")).abs() < 1e-9);
    let frac = f("recurrent_bytes_per_cycle") / f("l2_bytes_per_cycle");
    assert!((f("fraction_of_l2") - frac).abs() <= 1e-9 * frac);
    // 256 KiB of Whh is more than any L1d.
    assert_eq!(d["whh_in_l1"], false);
    let l2 = rnn_fast::kernels::tuning::cache_bytes().1;
    assert_eq!(d["whh_in_l2"], 2 * 4 * 256 * 256 <= l2, "L2 {l2}");
    assert!((f("l3_bytes_per_cycle") - f("l3_gbs") / f("clock_ghz")).abs() < 1e-9);
    let frac = f("recurrent_bytes_per_cycle") / f("l3_bytes_per_cycle");
    assert!((f("fraction_of_l3") - frac).abs() <= 1e-9 * frac);
    assert!(f("l3_gbs") > 0.0, "{d}");
}

/// The report sets the recurrence against the L3 peak where one layer's
/// Whh takes more than half the L2 (read at run time), and against the L2
/// where it takes at most that: an LSTM of the smallest H (a multiple of
/// 16) past the line, and one of H 16 (16 KiB), on every machine.
#[test]
fn a_whh_past_half_the_l2_is_set_against_the_l3_peak() {
    let l2 = rnn_fast::kernels::tuning::cache_bytes().1;
    let past = (16..).step_by(16).find(|h| 2 * 16 * h * h > l2).unwrap();
    for (h, in_l2) in [(past, false), (16, true)] {
        let lstm = [
            "--cell",
            "lstm",
            "--hidden",
            &h.to_string(),
            "--streams",
            "1",
        ];
        let o = Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
            .arg("bench")
            .args(lstm)
            .args(["--seconds", "0.05"])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{out}");
        let said = |s: &str| out.contains(s);
        assert_eq!(
            said("Whh takes more than half the L2: see L3"),
            !in_l2,
            "H {h}: {out}"
        );
        assert_eq!(
            said("Whh is read from L3, so this bounds it"),
            !in_l2,
            "H {h}: {out}"
        );
        assert_eq!(
            said("Whh fits in L2, so L3 does not bound it"),
            in_l2,
            "H {h}: {out}"
        );
        assert_eq!(bench_json(&lstm)["whh_in_l2"], in_l2, "H {h}, L2 {l2}");
    }
}

/// The logits' product is named: the `gemm` crate for more than one
/// stream; for one, `wide` (on an FMA build with the SIMD kernels) in the
/// orientation `kernels::tuning::logits_transposed` picks, transposed at
/// thousands of characters and H 256, not at the built-in text's few dozen.
#[test]
fn the_logits_product_is_named() {
    let wide = cfg!(all(target_feature = "fma", not(feature = "scalar-kernels")));
    let d = bench_json(&["--hidden", "256", "--streams", "2"]);
    assert_eq!(d["logits"], "gemm crate", "{d}");
    let d = bench_json(&["--hidden", "256", "--streams", "1"]);
    let copy = if wide {
        "wide (Y = H Whyᵀ)"
    } else {
        "gemm crate"
    };
    assert_eq!(d["logits"], copy, "{d}");
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..4 * 3_000)
        .map(|i| char::from_u32(0x4E00 + (i * 7 % 3_000) as u32).unwrap())
        .collect();
    let corpus = dir.path().join("kanji.txt");
    std::fs::write(&corpus, text).unwrap();
    let corpus = corpus.to_str().unwrap();
    let d = bench_json(&["--corpus", corpus, "--hidden", "256", "--streams", "1"]);
    assert_eq!(d["vocab"], 3_000, "{d}");
    let transposed = if wide {
        "wide, transposed (Yᵀ = Why Hᵀ)"
    } else {
        "gemm crate"
    };
    assert_eq!(d["logits"], transposed, "{d}");
}

#[test]
fn gated_cells_count_their_gates_in_the_flops() {
    for (cell, gates, formula) in [
        ("rnn", 1.0, "6H^2 + 6HV"),
        ("gru", 3.0, "18H^2 + 6HV"),
        ("lstm", 4.0, "24H^2 + 6HV"),
    ] {
        let d = bench_json(&["--cell", cell, "--hidden", "32", "--streams", "2"]);
        let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {d}"));
        assert_eq!(d["cell"], cell);
        assert_eq!(d["flop_formula"], formula);
        let v = f("vocab");
        assert_eq!(
            f("flops_per_char"),
            6.0 * gates * 32.0 * 32.0 + 6.0 * 32.0 * v
        );
        assert_eq!(
            f("recurrent_bytes_per_char"),
            8.0 * gates * 32.0 * 32.0 / 2.0
        );
        let gflops = f("chars_per_sec") * f("flops_per_char") / 1e9;
        assert!((f("gflops") - gflops).abs() <= 1e-9 * gflops);
    }
}

#[test]
fn stacked_layers_count_their_input_products_in_the_flops() {
    // Two LSTM layers: 2 × 24H² of recurrence and 24H² of the upper layer's
    // input products; the recurrence reads both layers' W_hh.
    let d = bench_json(&[
        "--cell",
        "lstm",
        "--layers",
        "2",
        "--hidden",
        "32",
        "--streams",
        "2",
    ]);
    let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {d}"));
    assert_eq!(d["layers"], 2);
    assert_eq!(d["flop_formula"], "72H^2 + 6HV");
    let v = f("vocab");
    assert_eq!(f("flops_per_char"), 72.0 * 32.0 * 32.0 + 6.0 * 32.0 * v);
    assert_eq!(
        f("recurrent_bytes_per_char"),
        2.0 * 8.0 * 4.0 * 32.0 * 32.0 / 2.0
    );
}

/// The report says whether the one-row products run on f32x8: only on an
/// AVX-512 build of the SIMD kernels, on a CPU that loads 512 bits at half
/// rate (the rule is `kernels::tuning::one_row_on_x8`).
#[test]
fn the_report_names_the_one_row_width() {
    let d = bench_json(&["--hidden", "16", "--streams", "1"]);
    let expected = rnn_fast::kernels::one_row_f32x8();
    assert_eq!(d["one_row_f32x8"].as_bool(), Some(expected), "{d}");
}

/// `--optimizer` trains with the rule named (the default: train's, Adam) at
/// train's learning rate for it, and the report names both (an unknown rule
/// is a usage error: `tests/cli.rs`).
#[test]
fn the_update_rule_is_chosen_and_named() {
    use rnn_fast::config::{Named, OptimizerKind, TrainConfig};
    let lr = |d: &serde_json::Value| d["lr"].as_f64().unwrap_or_else(|| panic!("lr in {d}"));
    let d = bench_json(&["--hidden", "16", "--streams", "1"]);
    assert_eq!(d["optimizer"], "adam", "{d}");
    for &kind in OptimizerKind::ALL {
        let rule = kind.name();
        // 2 threads of one stream: 2 shards, which Adam's rate depends on.
        let args = ["--hidden", "512", "--streams", "1", "--threads", "2"];
        let d = bench_json(&[&args[..], &["--optimizer", rule, "--seq-len", "4"]].concat());
        assert_eq!(d["optimizer"], rule, "{d}");
        assert_eq!(lr(&d) as f32, TrainConfig::default_lr(kind, 2, 512), "{d}");
        assert!(d["loss"].as_f64().is_some_and(f64::is_finite), "{d}");
    }
}
