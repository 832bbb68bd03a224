//! Checkpoints: a run stopped and resumed ends with the same model as the
//! run that never stopped; the state survives the file; fine-tuning; the
//! errors of a wrong resume.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rnn_fast::config::TrainConfig;
use rnn_fast::corpus::Corpus;
use rnn_fast::model_file;
use rnn_fast::trainer::Trainer;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
}

fn ok(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The settings every run here shares: small, several shards and groups.
fn train_command(text: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args([
        "train",
        "--hidden",
        "24",
        "--shards",
        "6",
        "--streams",
        "2",
        "--threads",
        "2",
    ])
    .args(["--seq-len", "20", "--sample-len", "0", "--val-frac", "0.05"])
    .args(extra)
    .arg("-o")
    .arg(out)
    .arg(text);
    c
}

/// Runs [`train_command`] into `dir/out`.
fn train(dir: &Path, text: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(out);
    ok(&mut train_command(text, &out, extra));
    out
}

/// Resumes `part` to its end (with `extra` options) and checks the file
/// equals `straight`'s; returns what the resumed run printed.
fn resume_matches(dir: &Path, text: &Path, part: &Path, straight: &Path, extra: &[&str]) -> String {
    let resumed = dir.join("resumed.safetensors");
    let o = ok(bin()
        .args(["train", "--resume"])
        .arg(part)
        .args(extra)
        .args(["--sample-len", "0", "-o"])
        .arg(&resumed)
        .arg(text));
    let a = std::fs::read(straight).unwrap();
    let b = std::fs::read(&resumed).unwrap();
    assert!(
        a == b,
        "the resumed run wrote another file than the straight one"
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn words_file(dir: &Path, len: usize) -> PathBuf {
    let p = dir.join("words.txt");
    std::fs::write(&p, common::words(len, 9)).unwrap();
    p
}

#[test]
fn resuming_at_an_epoch_end_gives_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 40_000);
    let straight = train(
        dir.path(),
        &text,
        "straight.safetensors",
        &["--epochs", "3"],
    );
    let first = train(dir.path(), &text, "first.safetensors", &["--epochs", "1"]);
    let out = resume_matches(dir.path(), &text, &first, &straight, &["--epochs", "3"]);
    assert!(
        out.contains("resuming after") && out.contains("1 epochs done"),
        "{out}"
    );
}

#[test]
fn resuming_mid_epoch_gives_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 400_000);
    let straight = train(
        dir.path(),
        &text,
        "straight.safetensors",
        &["--epochs", "2"],
    );
    // Stop after a fraction of the first epoch, then go on to the end.
    let part = train(
        dir.path(),
        &text,
        "part.safetensors",
        &["--epochs", "2", "--max-seconds", "0.05"],
    );
    let state = model_file::load(&part).unwrap().state.unwrap();
    assert!(
        state.in_epoch && state.epoch == 0,
        "stopped inside epoch 1: {:?}",
        (state.epoch, state.in_epoch)
    );
    resume_matches(dir.path(), &text, &part, &straight, &[]);
}

#[test]
fn checkpoint_state_round_trips() {
    let corpus = Corpus::from_text(&common::words(20_000, 4)).unwrap();
    let config = TrainConfig {
        hidden: 20,
        shards: 5,
        streams: 2,
        seq_len: 16,
        ..TrainConfig::new()
    };
    let mut t = Trainer::new(config.clone(), &corpus).unwrap();
    for _ in 0..7 {
        t.train_chunk(&corpus.ids);
    }
    let state = t.state();
    assert!(state.in_epoch && state.optimizer_steps == 7);
    let bytes = model_file::to_bytes(t.model(), &config.to_metadata(), Some(&state)).unwrap();
    let loaded = model_file::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.model.weights, t.model().weights);
    assert_eq!(loaded.state.as_ref(), Some(&state));
    assert_eq!(
        TrainConfig::from_metadata(&loaded.metadata).unwrap(),
        TrainConfig {
            threads: 1,
            ..config.clone()
        }
    );
    // A trainer resumed from it continues exactly as the original.
    let mut resumed =
        Trainer::resume(config, loaded.model, &corpus, loaded.state.unwrap()).unwrap();
    for _ in 0..5 {
        assert_eq!(t.train_chunk(&corpus.ids), resumed.train_chunk(&corpus.ids));
    }
    assert_eq!(t.model().weights, resumed.model().weights);
}

#[test]
fn wrong_resumes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 30_000);
    let ckpt = train(dir.path(), &text, "c.safetensors", &["--epochs", "1"]);
    let other = dir.path().join("other.txt");
    std::fs::write(&other, common::words(30_000, 10)).unwrap();
    let fails = |args: &[&str], file: &Path, expect: &str| {
        let o = bin().args(args).arg(file).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.lines().count() == 1 && err.contains(expect),
            "{args:?}: {err}"
        );
    };
    let c = ckpt.to_str().unwrap();
    fails(
        &["train", "--resume", c, "-o", "/tmp/x.safetensors"],
        &other,
        "is not the text this checkpoint was trained on",
    );
    fails(
        &["train", "--resume", c, "--hidden", "32"],
        &text,
        "--hidden cannot change when resuming",
    );
    let latin = dir.path().join("latin.txt");
    std::fs::write(&latin, "abc déjà vu").unwrap();
    fails(&["train", "--init-from", c], &latin, "'é'");
    // A model without state cannot be resumed.
    let bare = dir.path().join("bare.safetensors");
    let loaded = model_file::load(&ckpt).unwrap();
    model_file::save(&bare, &loaded.model, &[], None).unwrap();
    fails(
        &["train", "--resume", bare.to_str().unwrap()],
        &text,
        "fine-tune it with --init-from",
    );
}

#[test]
fn init_from_fine_tunes_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 30_000);
    let base = train(dir.path(), &text, "base.safetensors", &["--epochs", "2"]);
    let o = ok(bin()
        .args(["train", "--init-from"])
        .arg(&base)
        .args(["--epochs", "1", "--sample-len", "0", "--threads", "1", "-o"])
        .arg(dir.path().join("tuned.safetensors"))
        .arg(&text));
    assert!(String::from_utf8_lossy(&o.stdout).contains("H 24"));
    let before = model_file::load(&base).unwrap().model;
    let after = model_file::load(&dir.path().join("tuned.safetensors"))
        .unwrap()
        .model;
    assert_eq!(before.vocab, after.vocab);
    assert_ne!(before.weights, after.weights);
    // It starts where the base model is: its first epoch's loss is below
    // that of the same run from fresh weights.
    let first_loss = |o: &Output| -> f64 {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with("epoch"))
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap()
            .parse()
            .unwrap()
    };
    let fresh = ok(bin()
        .args([
            "train",
            "--hidden",
            "24",
            "--epochs",
            "1",
            "--sample-len",
            "0",
            "--threads",
            "1",
            "-o",
        ])
        .arg(dir.path().join("fresh.safetensors"))
        .arg(&text));
    assert!(
        first_loss(&o) < first_loss(&fresh) - 0.05,
        "{} vs {}",
        first_loss(&o),
        first_loss(&fresh)
    );
}

#[test]
fn interrupted_with_ctrl_c_and_resumed_gives_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 1_500_000);
    let straight = train(
        dir.path(),
        &text,
        "straight.safetensors",
        &["--epochs", "3"],
    );
    let part = dir.path().join("part.safetensors");
    let child = train_command(&text, &part, &["--epochs", "3"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    if o.status.success() {
        eprintln!("SKIPPED: the run finished before the interrupt");
        return;
    }
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    resume_matches(dir.path(), &text, &part, &straight, &[]);
}
