//! `rnn-fast eval --dynamic` end to end: dynamic evaluation beats the static
//! score on text whose structure it can adapt to, leaves the model file as
//! it was, does not depend on the thread count, and refuses bad command
//! lines with one clear line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
}

fn ok(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("the binary runs");
    assert!(
        o.status.success(),
        "failed: {cmd:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// `n` words of five in the order `word(i)` picks, written to `dir/name`.
fn words_file(dir: &Path, name: &str, n: u32, word: impl Fn(u32) -> usize) -> PathBuf {
    let text: String = (0..n)
        .map(|i| ["to ", "be ", "or ", "not ", "that\n"][word(i)])
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A small model (H 32) trained on one word order (period 11), and a
/// held-out text of the same words in another order (period 13).
fn model_and_held_out(dir: &Path) -> (PathBuf, PathBuf) {
    let train = words_file(dir, "train.txt", 6_000, |i| (i * 7 % 11 % 5) as usize);
    let held_out = words_file(dir, "held-out.txt", 2_000, |i| (i * 5 % 13 % 5) as usize);
    let model = dir.join("m.safetensors");
    ok(bin()
        .arg("train")
        .arg(&train)
        .args(["--hidden", "32", "--epochs", "2", "--sample-len", "0", "-q"])
        .arg("-o")
        .arg(&model));
    (model, held_out)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

#[test]
fn dynamic_eval_beats_static_and_leaves_the_model_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (model, held_out) = model_and_held_out(dir.path());
    let before = std::fs::read(&model).unwrap();

    let run = |threads: &str| {
        ok(bin()
            .env("RAYON_NUM_THREADS", threads)
            .arg("eval")
            .arg(&model)
            .arg(&held_out)
            .args(["--dynamic", "--json"]))
    };
    let one = run("1");
    let v = json(&one);
    let chars = v["chars"].as_u64().unwrap();
    assert_eq!(chars, std::fs::read(&held_out).unwrap().len() as u64 - 1);
    let stat = v["loss_nats"].as_f64().unwrap();
    let dynamic = v["dynamic_loss_nats"].as_f64().unwrap();
    let bits = v["dynamic_bits_per_char"].as_f64().unwrap();
    assert!(
        dynamic < 0.5 * stat,
        "dynamic {dynamic} is not well below static {stat}"
    );
    assert!((bits - dynamic / std::f64::consts::LN_2).abs() < 1e-12);
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "the model file changed"
    );

    // The same bytes on any number of threads.
    assert_eq!(run("2").stdout, one.stdout);

    // Without --dynamic the JSON is the static one alone, the same value.
    let plain = json(&ok(bin()
        .arg("eval")
        .arg(&model)
        .arg(&held_out)
        .arg("--json")));
    assert_eq!(plain["loss_nats"].as_f64().unwrap(), stat);
    assert!(plain.get("dynamic_loss_nats").is_none(), "{plain}");

    // The text form: the static line, then the dynamic one with its settings.
    let o = ok(bin().arg("eval").arg(&model).arg(&held_out).args([
        "--dynamic",
        "--dynamic-lr",
        "0.03",
        "--dynamic-seq-len",
        "20",
    ]));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains(&format!(
            "{} characters ({chars} predicted: all but the first), loss {stat:.6}",
            chars + 1
        )),
        "{out}"
    );
    assert!(
        lines[1].starts_with("dynamic (lr 0.03, seq_len 20): loss "),
        "{out}"
    );
    let other: f64 = lines[1]["dynamic (lr 0.03, seq_len 20): loss ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(other < stat && other != dynamic, "{out}");
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "the model file changed"
    );
}

#[test]
fn dynamic_eval_bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (model, held_out) = model_and_held_out(dir.path());
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "t").unwrap();
    let cases: [(&[&str], &Path, i32, &str); 6] = [
        (&["--dynamic-lr", "0.1"], &held_out, 2, "--dynamic"),
        (&["--dynamic-seq-len", "20"], &held_out, 2, "--dynamic"),
        (
            &["--dynamic", "--dynamic-lr", "0"],
            &held_out,
            2,
            "--dynamic-lr",
        ),
        (
            &["--dynamic", "--dynamic-seq-len", "0"],
            &held_out,
            2,
            "--dynamic-seq-len",
        ),
        (
            &["--dynamic", "--dynamic-seq-len", "100001"],
            &held_out,
            2,
            "--dynamic-seq-len must be between 1 and 100000",
        ),
        (&["--dynamic"], &one, 1, "at least 2 are needed"),
    ];
    for (args, text, code, expect) in cases {
        let o = bin()
            .arg("eval")
            .arg(&model)
            .arg(text)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}
