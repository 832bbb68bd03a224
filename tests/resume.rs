//! Checkpoints: a run stopped and resumed ends with the same model as the
//! run that never stopped; the state survives the file; fine-tuning; the
//! errors of a wrong resume.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rnn_fast::checkpoint::{self, Checkpoint, RunInfo};
use rnn_fast::config::{InitKind, OptimizerKind, TrainConfig};
use rnn_fast::corpus::Corpus;
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

/// Extending a run's epochs on resume: with a schedule that does not
/// depend on the planned epochs (the cosine stretches to the new total).
#[test]
fn resuming_at_an_epoch_end_gives_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 40_000);
    let step = ["--lr-schedule", "step", "--warmup", "500"];
    let straight = train(
        dir.path(),
        &text,
        "straight.safetensors",
        &[&["--epochs", "3"][..], &step].concat(),
    );
    let first = train(
        dir.path(),
        &text,
        "first.safetensors",
        &[&["--epochs", "1"][..], &step].concat(),
    );
    let out = resume_matches(dir.path(), &text, &first, &straight, &["--epochs", "3"]);
    assert!(
        out.contains("resuming after") && out.contains("1 epoch done"),
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
    let state = checkpoint::load(&part).unwrap().checkpoint.unwrap().state;
    assert!(
        state.in_epoch && state.epoch == 0,
        "stopped inside epoch 1: {:?}",
        (state.epoch, state.in_epoch)
    );
    resume_matches(dir.path(), &text, &part, &straight, &[]);
}

#[test]
fn resuming_mid_epoch_with_dropout_gives_the_same_file() {
    // The masks are a function of the epoch and the positions, which the
    // checkpoint holds: the resumed run draws the ones the straight run did.
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 400_000);
    let args = ["--epochs", "2", "--dropout", "0.3"];
    let straight = train(dir.path(), &text, "straight.safetensors", &args);
    let part = train(
        dir.path(),
        &text,
        "part.safetensors",
        &[&args[..], &["--max-seconds", "0.05"]].concat(),
    );
    let ck = checkpoint::load(&part).unwrap().checkpoint.unwrap();
    assert!(
        ck.state.in_epoch && ck.state.epoch == 0,
        "stopped inside epoch 1"
    );
    assert_eq!(ck.settings.dropout, 0.3);
    // Resumed once with the settings from the checkpoint, once repeating them.
    resume_matches(dir.path(), &text, &part, &straight, &[]);
    resume_matches(dir.path(), &text, &part, &straight, &["--dropout", "0.3"]);
}

#[test]
fn checkpoint_state_round_trips() {
    let corpus = Corpus::from_text(&common::words(20_000, 4)).unwrap();
    let config = TrainConfig {
        hidden: 20,
        shards: 5,
        streams: 2,
        seq_len: 16,
        ..TrainConfig::defaults(1_000)
    };
    let mut t = Trainer::new(config.clone(), &corpus).unwrap();
    for _ in 0..7 {
        t.train_chunk(&corpus.ids);
    }
    let state = t.state();
    assert!(state.in_epoch && state.optimizer_steps == 7);
    let saved = Checkpoint {
        // The thread count is not stored: it reads back as 1.
        settings: TrainConfig {
            threads: 1,
            clip_norm: Some(2.5),
            dropout: 0.25,
            init: InitKind::Uniform,
            weight_decay: 0.05,
            ..config.clone()
        },
        run: RunInfo {
            corpus: "words".into(),
            val_frac: 0.05,
            corpus_len: corpus.len(),
            corpus_hash: checkpoint::corpus_hash(&corpus.ids),
            chars_seen: 1234,
            best_val: Some(1.5),
            eval_every: None,
        },
        state,
    };
    let bytes = checkpoint::to_bytes(t.model(), Some(&saved));
    assert_eq!(bytes, as_the_crate_writes(&bytes));
    let loaded = checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.model.weights, t.model().weights);
    let ck = loaded.checkpoint.unwrap();
    assert_eq!(ck, saved);
    // A trainer resumed from it continues exactly as the original.
    let mut resumed = Trainer::resume(config, loaded.model, &corpus, ck.state).unwrap();
    for _ in 0..5 {
        assert_eq!(t.train_chunk(&corpus.ids), resumed.train_chunk(&corpus.ids));
    }
    assert_eq!(t.model().weights, resumed.model().weights);
}

/// The file `safetensors::serialize` writes with the tensors and metadata
/// of `bytes`, its header's keys sorted: the oracle of rnn-fast's own
/// writer (`checkpoint::write`), which makes each tensor's values as it
/// writes them instead of building the file in memory.
fn as_the_crate_writes(bytes: &[u8]) -> Vec<u8> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let tensors = file.tensors();
    assert!(tensors.len() > 5, "{} tensors", tensors.len());
    let crate_bytes = safetensors::serialize(tensors, header.metadata().clone()).unwrap();
    let n = u64::from_le_bytes(crate_bytes[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&crate_bytes[8..8 + n]).unwrap();
    let mut sorted = serde_json::to_vec(&json).unwrap();
    sorted.resize(sorted.len().next_multiple_of(8), b' ');
    let mut out = (sorted.len() as u64).to_le_bytes().to_vec();
    out.extend(sorted);
    out.extend(&crate_bytes[8 + n..]);
    out
}

/// The metadata keys of a model file.
fn metadata_keys(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut keys: Vec<String> = header.metadata().clone().unwrap().into_keys().collect();
    keys.sort();
    keys
}

/// `--init` and `--weight-decay`: recorded in the checkpoint only when not
/// the default, resumed exactly, and refused when a resume changes them, or
/// beside `--init-from`, or out of range.
#[test]
fn init_and_weight_decay_are_recorded_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 40_000);
    // A schedule that does not follow the planned epochs (the run is extended).
    let with = |epochs: &'static str| {
        [
            "--init",
            "orthogonal",
            "--weight-decay",
            "0.01",
            "--lr-schedule",
            "step",
            "--warmup",
            "500",
            "--epochs",
            epochs,
        ]
    };
    let straight = train(dir.path(), &text, "straight.safetensors", &with("2"));
    let first = train(dir.path(), &text, "first.safetensors", &with("1"));
    let ck = checkpoint::load(&first).unwrap().checkpoint.unwrap();
    assert_eq!(
        (ck.settings.init, ck.settings.weight_decay),
        (InitKind::Orthogonal, 0.01)
    );
    let keys = metadata_keys(&first);
    assert!(keys.iter().any(|k| k == "init") && keys.iter().any(|k| k == "weight_decay"));
    // Repeating the settings is accepted; the result is the straight run's.
    resume_matches(dir.path(), &text, &first, &straight, &with("2"));
    // A default run writes neither key, and reads back the defaults.
    let plain = train(dir.path(), &text, "plain.safetensors", &["--epochs", "1"]);
    let keys = metadata_keys(&plain);
    assert!(
        !keys.iter().any(|k| k == "init" || k == "weight_decay"),
        "{keys:?}"
    );
    let ck = checkpoint::load(&plain).unwrap().checkpoint.unwrap();
    assert_eq!(
        (ck.settings.init, ck.settings.weight_decay),
        (InitKind::Article, 0.0)
    );
    // Both settings change the model.
    let weights = |p: &Path| checkpoint::load(p).unwrap().model.weights;
    assert_ne!(weights(&first), weights(&plain));
    let no_decay = train(
        dir.path(),
        &text,
        "no-decay.safetensors",
        &["--init", "orthogonal", "--epochs", "1"],
    );
    assert_ne!(weights(&first), weights(&no_decay));

    let usage = |args: &[&str], expect: &str| {
        let o = bin().args(args).arg(&text).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    };
    let (f, x) = (first.to_str().unwrap(), dir.path().join("x.safetensors"));
    let x = x.to_str().unwrap();
    usage(
        &["train", "--resume", f, "--init", "identity", "-o", x],
        "--init identity differs from the checkpoint's orthogonal",
    );
    usage(
        &["train", "--resume", f, "--weight-decay", "0.1", "-o", x],
        "--weight-decay 0.1 differs from the checkpoint's 0.01",
    );
    usage(
        &["train", "--init-from", f, "--init", "uniform", "-o", x],
        "--init",
    );
    for bad in ["-0.5", "nan", "inf"] {
        usage(&["train", "--weight-decay", bad, "-o", x], "--weight-decay");
    }
}

/// Weight decay with lr·F >= 1 is refused for a new run (each update
/// would zero or flip every weight), but a file whose settings hold it
/// (written before that check) still loads, samples and resumes: the
/// check is not made where a file is read.
#[test]
fn a_file_with_a_weight_decay_now_refused_still_loads_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 30_000);
    let refused = dir.path().join("refused.safetensors");
    let o = train_command(&text, &refused, &["--weight-decay", "1000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("zeroes it or flips its sign"), "{err}");
    assert!(!refused.exists());
    let part = train(dir.path(), &text, "part.safetensors", &["--epochs", "1"]);
    let mut loaded = checkpoint::load(&part).unwrap();
    let ck = loaded.checkpoint.as_mut().unwrap();
    // lr·F = 1.5: each update multiplies the weights by -0.5 (bounded).
    ck.settings.weight_decay = 1.5 / ck.settings.lr;
    assert!(ck.settings.check_weight_decay().is_err());
    checkpoint::save(&part, &loaded.model, Some(ck)).unwrap();
    ok(bin().arg("sample").arg(&part).args(["--len", "10"]));
    ok(bin().arg("eval").arg(&part).arg(&text));
    ok(bin()
        .args(["train", "--resume"])
        .arg(&part)
        .args(["--epochs", "2", "--sample-len", "0", "-o"])
        .arg(dir.path().join("resumed.safetensors"))
        .arg(&text));
}

/// `--init-from` without `--lr` trains at the default rate of the model's
/// H, not of the default H: above H 256, Adam's default falls as (256/H)²
/// (it was 0.73 times too high at H 300, 4 times at H 512).
#[test]
fn init_from_takes_the_default_rate_of_the_models_size() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 30_000);
    let run = |first: &[&str], out: &Path| {
        ok(bin()
            .arg("train")
            .args(first)
            .args(["--shards", "6", "--epochs", "1", "--max-seconds", "0.2"])
            .args(["--sample-len", "0", "-q", "-o"])
            .arg(out)
            .arg(&text));
    };
    let (start, tuned) = (
        dir.path().join("start.safetensors"),
        dir.path().join("tuned.safetensors"),
    );
    run(&["--hidden", "300"], &start);
    run(&["--init-from", start.to_str().unwrap()], &tuned);
    let settings = checkpoint::load(&tuned)
        .unwrap()
        .checkpoint
        .unwrap()
        .settings;
    assert_eq!(settings.hidden, 300);
    let adam = |h: usize| TrainConfig::default_lr(OptimizerKind::Adam, 6, h);
    assert!(adam(300) < adam(128));
    assert_eq!(settings.lr, adam(300));
}

#[test]
fn wrong_resumes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 30_000);
    let ckpt = train(dir.path(), &text, "c.safetensors", &["--epochs", "1"]);
    let other = dir.path().join("other.txt");
    std::fs::write(&other, common::words(30_000, 10)).unwrap();
    let fails = |args: &[&str], file: &Path, code: i32, expect: &str| {
        let o = bin().args(args).arg(file).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.lines().count() == 1 && err.contains(expect),
            "{args:?}: {err}"
        );
    };
    let c = ckpt.to_str().unwrap();
    let elsewhere = dir.path().join("x.safetensors");
    let x = elsewhere.to_str().unwrap();
    fails(
        &["train", "--resume", c, "-o", x],
        &other,
        1,
        "is not the text this checkpoint was trained on",
    );
    fails(
        &["train", "--resume", c, "--hidden", "32", "-o", x],
        &text,
        2,
        "--hidden 32 differs from the checkpoint's 24",
    );
    fails(
        &["train", "--resume", c, "--optimizer", "sgd", "-o", x],
        &text,
        2,
        "--optimizer sgd differs from the checkpoint's adam: a resumed run keeps the checkpoint's settings (leave --optimizer out, or give adam)\n",
    );
    fails(
        &["train", "--resume", c, "--clip-norm", "1", "-o", x],
        &text,
        2,
        "--clip-norm 1 differs from the checkpoint's none: a resumed run keeps the checkpoint's settings (leave --clip-norm out)\n",
    );
    fails(
        &["train", "--resume", c, "--dropout", "0.5", "-o", x],
        &text,
        2,
        "--dropout 0.5 differs from the checkpoint's 0",
    );
    // A checkpoint that records no report spacing reported at the default
    // one (200,000 characters at this held-out text), or an earlier
    // rnn-fast that recorded none wrote it: another spacing is taken, and
    // said (it used to be taken without a word).
    let o = bin()
        .args([
            "train",
            "--resume",
            c,
            "--epochs",
            "2",
            "--eval-every",
            "20000",
        ])
        .args(["--sample-len", "0", "-o", x])
        .arg(&text)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: the checkpoint records no report spacing, so its run reported every 200000 characters (the default)")
            && err.contains("reporting every 20000 from here"),
        "{err}"
    );
    std::fs::remove_file(&elsewhere).unwrap();
    let _ = std::fs::remove_file(dir.path().join("x.best.safetensors"));
    let latin = dir.path().join("latin.txt");
    std::fs::write(&latin, "abc déjà vu").unwrap();
    fails(&["train", "--init-from", c, "-o", x], &latin, 1, "'é'");
    // A character the vocabulary lacks gives the other text away: said as
    // that, not only as the character (which sounded like a bad text).
    fails(
        &["train", "--resume", c, "-o", x],
        &latin,
        1,
        "latin.txt is not the text this checkpoint was trained on (",
    );
    fails(&["train", "--resume", c, "-o", x], &latin, 1, "'é'");
    // The text named as it was then, but changed since: said as that.
    let changed = dir.path().join("changed.txt");
    std::fs::copy(&text, &changed).unwrap();
    let ck2 = train(dir.path(), &changed, "ck2.safetensors", &["--epochs", "1"]);
    let mut edited = std::fs::read(&changed).unwrap();
    edited.reverse();
    std::fs::write(&changed, edited).unwrap();
    fails(
        &["train", "--resume", ck2.to_str().unwrap(), "-o", x],
        &changed,
        1,
        &format!(
            "{0} is not the text this checkpoint was trained on ({0} when it was trained: changed since, or another file of that name)",
            changed.display()
        ),
    );
    // No corpus given: the built-in text was taken; the error gives the
    // command with the checkpoint's text. And the other way round: a text
    // given for a checkpoint of the built-in text.
    let o = bin()
        .args(["train", "--resume", c, "-o", x])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "error: this checkpoint was trained on {t}, not the built-in text: resume with: rnn-fast train {t} --resume {c} -o {x}\n",
            t = text.display()
        )
    );
    let built_in = dir.path().join("b.safetensors");
    ok(bin()
        .args(["train", "--epochs", "1", "--sample-len", "0", "-o"])
        .arg(&built_in));
    let b = built_in.to_str().unwrap();
    fails(
        &["train", "--resume", b, "-o", x],
        &text,
        1,
        &format!(
            "{} is not the text this checkpoint was trained on (the built-in text): resume with: rnn-fast train --resume {b} -o {x}\n",
            text.display()
        ),
    );
    fails(
        &["train", "--init-from", c, "--hidden", "32", "-o", x],
        &text,
        2,
        "--hidden 32 differs from the H 24",
    );
    // A model without state cannot be resumed.
    let bare = dir.path().join("bare.safetensors");
    let loaded = checkpoint::load(&ckpt).unwrap();
    checkpoint::save(&bare, &loaded.model, None).unwrap();
    fails(
        &["train", "--resume", bare.to_str().unwrap(), "-o", x],
        &text,
        1,
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
    let before = checkpoint::load(&base).unwrap().model;
    let after = checkpoint::load(&dir.path().join("tuned.safetensors"))
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
    // Interrupt once training is under way (at its first report, however
    // slow the machine): 4.5 million characters cannot be done by then.
    let (child, lines) =
        common::start_training(&mut train_command(&text, &part, &["--epochs", "3"]));
    common::kill("-INT", child.id());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "the run must stop on the interrupt: {rest:?} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Resumed by re-running the same command with --resume appended: the
    // settings it repeats equal the checkpoint's, so they are accepted.
    let resumed = dir.path().join("resumed.safetensors");
    let p = part.to_str().unwrap();
    ok(&mut train_command(
        &text,
        &resumed,
        &["--epochs", "3", "--resume", p],
    ));
    assert!(std::fs::read(&straight).unwrap() == std::fs::read(&resumed).unwrap());
}

#[test]
fn schedules_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 400_000);
    let schedules: [&[&str]; 3] = [
        &["--lr-schedule", "cosine", "--warmup", "30000"],
        // A report spacing not the default is recorded under any schedule:
        // resumed without --eval-every, the run reports where the straight
        // one did (it reported every 200,000 characters, and so could
        // record another best validation loss and `.best` model).
        &[
            "--lr-schedule",
            "step",
            "--lr-decay",
            "0.5",
            "--eval-every",
            "20000",
        ],
        &[
            "--lr-schedule",
            "plateau",
            "--patience",
            "1",
            "--eval-every",
            "20000",
            "--lr",
            "0.02",
        ],
    ];
    for (i, extra) in schedules.into_iter().enumerate() {
        let all = [&["--epochs", "2"][..], extra].concat();
        let straight = train(dir.path(), &text, &format!("straight{i}.safetensors"), &all);
        let ck = checkpoint::load(&straight).unwrap().checkpoint.unwrap();
        if extra.contains(&"plateau") {
            assert!(
                ck.state.plateau.factor < 1.0,
                "the plateau schedule cut the rate: {:?}",
                ck.state.plateau
            );
        }
        let stop = [&all[..], &["--max-seconds", "0.05"]].concat();
        let part = train(dir.path(), &text, &format!("part{i}.safetensors"), &stop);
        let state = checkpoint::load(&part).unwrap().checkpoint.unwrap().state;
        assert!(state.in_epoch && state.epoch == 0, "{extra:?}");
        let out = resume_matches(dir.path(), &text, &part, &straight, &[]);
        if extra.contains(&"step") {
            // 2 epochs of 380,000 characters, reported every 20,000.
            let reports = out.lines().filter(|l| l.starts_with("epoch")).count();
            assert!(reports >= 20, "{reports} reports after the resume:\n{out}");
        }
        let best = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        assert!(
            best(&format!("straight{i}.best.safetensors")) == best("resumed.best.safetensors"),
            "{extra:?}: the resumed run's .best model differs"
        );
        for f in ["resumed.safetensors", "resumed.best.safetensors"] {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
    }
}

/// The gated cells resume exactly too: their carried state (an LSTM's `c`
/// beside `h`) is in the checkpoint (`train.hidden`, `train.cell`), with
/// the cell named in the metadata; dropout on, stopped mid-epoch.
#[test]
fn gated_cells_resume_mid_epoch_to_the_same_file() {
    for cell in ["lstm", "gru"] {
        let dir = tempfile::tempdir().unwrap();
        let text = words_file(dir.path(), 200_000);
        let args = ["--cell", cell, "--epochs", "2", "--dropout", "0.2"];
        let straight = train(dir.path(), &text, &format!("{cell}.safetensors"), &args);
        let part = train(
            dir.path(),
            &text,
            &format!("{cell}-part.safetensors"),
            &[&args[..], &["--max-seconds", "0.05"]].concat(),
        );
        let loaded = checkpoint::load(&part).unwrap();
        let ck = loaded.checkpoint.unwrap();
        assert!(
            ck.state.in_epoch && ck.state.epoch == 0,
            "{cell}: stopped inside epoch 1"
        );
        assert_eq!(ck.settings.cell.to_string(), cell);
        assert_eq!(loaded.model.layout.cell.to_string(), cell);
        let keys = metadata_keys(&part);
        assert!(keys.contains(&"cell".to_string()), "{cell}: {keys:?}");
        // The LSTM's cell state is saved, and not all zero.
        if cell == "lstm" {
            let width = loaded.model.layout.carried_width();
            let hp = loaded.model.layout.hp;
            let c_parts = ck.state.hidden.chunks_exact(width).map(|row| &row[hp..]);
            assert!(c_parts.flatten().any(|&c| c != 0.0), "lstm: c all zero");
        }
        resume_matches(dir.path(), &text, &part, &straight, &[]);
        resume_matches(dir.path(), &text, &part, &straight, &["--cell", cell]);
        // Another cell on resume is refused, naming both.
        let other = if cell == "lstm" { "gru" } else { "lstm" };
        let o = bin()
            .args(["train", "--resume"])
            .arg(&part)
            .args(["--cell", other, "-o"])
            .arg(dir.path().join("x.safetensors"))
            .arg(&text)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("--cell") && err.contains(other),
            "{err}"
        );
    }
}

/// A stacked model resumes exactly: each layer's carried state is in the
/// checkpoint (`train.hidden_l1`, `train.cell_l1`, ...) and the layers in
/// the metadata; another `--layers` on resume is refused.
#[test]
fn stacked_layers_resume_mid_epoch_to_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 200_000);
    let args = ["--cell", "lstm", "--layers", "2"];
    let args = [&args[..], &["--epochs", "2", "--dropout", "0.2"]].concat();
    let straight = train(dir.path(), &text, "stacked.safetensors", &args);
    let part = train(
        dir.path(),
        &text,
        "stacked-part.safetensors",
        &[&args[..], &["--max-seconds", "0.05"]].concat(),
    );
    let loaded = checkpoint::load(&part).unwrap();
    let bytes = std::fs::read(&part).unwrap();
    assert_eq!(bytes, as_the_crate_writes(&bytes));
    let ck = loaded.checkpoint.unwrap();
    assert!(
        ck.state.in_epoch && ck.state.epoch == 0,
        "stopped inside epoch 1"
    );
    assert_eq!((ck.settings.layers, loaded.model.layout.layers), (2, 2));
    let keys = metadata_keys(&part);
    assert!(keys.contains(&"layers".to_string()), "{keys:?}");
    // The upper layer's h and c are saved, and not all zero.
    let l = loaded.model.layout;
    let upper = ck.state.hidden.chunks_exact(l.carried_width());
    let upper: Vec<f32> = upper.flat_map(|row| row[2 * l.hp..].to_vec()).collect();
    assert!(upper.iter().any(|&x| x != 0.0), "layer 1's state all zero");
    resume_matches(dir.path(), &text, &part, &straight, &[]);
    resume_matches(dir.path(), &text, &part, &straight, &["--layers", "2"]);
    let o = bin()
        .args(["train", "--resume"])
        .arg(&part)
        .args(["--layers", "3", "-o"])
        .arg(dir.path().join("x.safetensors"))
        .arg(&text)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--layers") && err.contains('3'),
        "{err}"
    );
}

/// A run killed after its last checkpoint may have saved a better `.best`
/// model since; resumed in place, the run keeps it until it beats it (it
/// used to measure against the checkpoint's record, and replaced the
/// better model with a worse one). A `.best` of another run does not count.
#[test]
fn resuming_in_place_keeps_a_better_best_model() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 40_000);
    let best_of = |p: &Path| {
        checkpoint::load(p)
            .unwrap()
            .checkpoint
            .unwrap()
            .run
            .best_val
            .unwrap()
    };
    // A 4-epoch run and its .best; its checkpoint after the first epoch
    // (the one-epoch run's, with the 4-epoch run's settings): as if killed
    // after that checkpoint, the .best saved later.
    let part = train(dir.path(), &text, "m.safetensors", &["--epochs", "1"]);
    let early = checkpoint::load(&part).unwrap();
    let resume = |epochs: &str| {
        ok(&mut train_command(
            &text,
            &part,
            &["--epochs", epochs, "--resume", part.to_str().unwrap()],
        ))
    };
    resume("4");
    let best = dir.path().join("m.best.safetensors");
    let better = std::fs::read(&best).unwrap();
    let four = checkpoint::load(&part).unwrap().checkpoint.unwrap();
    let mut ck = early.checkpoint.clone().unwrap();
    ck.settings = four.settings.clone();
    checkpoint::save(&part, &early.model, Some(&ck)).unwrap();
    assert!(best_of(&best) < best_of(&part));
    // Resumed to 2 epochs, every validation loss is worse than the .best's.
    let o = resume("2");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let vals: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.split("  val ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(!vals.is_empty(), "{stdout}");
    assert!(
        vals.iter().all(|&v| v > best_of(&best)),
        "the resumed run beat the longer one: no test; {stdout}"
    );
    assert_eq!(std::fs::read(&best).unwrap(), better);
    // The .best of another run (another seed), however low its record, is
    // none to beat: the resumed run's first better model replaces it.
    let mut other = four;
    other.settings.seed += 1;
    other.run.best_val = Some(1e-3);
    checkpoint::save(&best, &early.model, Some(&other)).unwrap();
    checkpoint::save(&part, &early.model, Some(&ck)).unwrap();
    resume("2");
    let replaced = checkpoint::load(&best).unwrap().checkpoint.unwrap();
    assert_eq!(replaced.settings.seed, ck.settings.seed);
    assert!(replaced.run.best_val.unwrap() > 1e-3);
}

/// A log holding rows past the checkpoint resumed (the run was killed after
/// its last checkpoint) moves them beside it, with a warning, so that its characters
/// keep rising; the resumed run's rows then follow, as a straight run's.
#[test]
fn a_resumed_log_moves_the_rows_after_the_checkpoint_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 40_000);
    let log = dir.path().join("l.csv");
    let log_arg = ["--log", log.to_str().unwrap()];
    let part = train(
        dir.path(),
        &text,
        "m.safetensors",
        &[&["--epochs", "1"][..], &log_arg].concat(),
    );
    let early = dir.path().join("early.safetensors");
    std::fs::copy(&part, &early).unwrap();
    let resume = |epochs: &str| {
        ok(&mut train_command(
            &text,
            &part,
            &[
                &["--epochs", epochs, "--resume", part.to_str().unwrap()][..],
                &log_arg,
            ]
            .concat(),
        ))
    };
    resume("3");
    let chars = |csv: &str| -> Vec<u64> {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .collect()
    };
    let straight = chars(&std::fs::read_to_string(&log).unwrap());
    // Killed after its first epoch's checkpoint: the log went on to epoch 3.
    std::fs::copy(&early, &part).unwrap();
    let o = resume("3");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("after the checkpoint's") && err.contains("moved to"),
        "{err}"
    );
    let again = chars(&std::fs::read_to_string(&log).unwrap());
    assert!(again.windows(2).all(|w| w[0] < w[1]), "{again:?}");
    assert_eq!(again, straight);
    // The rows moved out are kept beside it, nothing lost: the first
    // resume's, past the first epoch.
    let moved = chars(&std::fs::read_to_string(dir.path().join("l.1.csv")).unwrap());
    assert!(!moved.is_empty());
    assert_eq!(moved, straight[straight.len() - moved.len()..]);
}

/// An option that the schedule does not read (`--patience` under cosine) is
/// recorded when given, so the command that started a run, re-run with
/// `--resume` appended, is accepted; a different value is still refused.
#[test]
fn a_schedule_option_the_schedule_does_not_read_is_matched_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 20_000);
    let args = ["--lr-schedule", "cosine", "--patience", "5"];
    let first = train(
        dir.path(),
        &text,
        "first.safetensors",
        &[&args[..], &["--epochs", "1"]].concat(),
    );
    let p = first.to_str().unwrap();
    let resumed = dir.path().join("resumed.safetensors");
    ok(&mut train_command(
        &text,
        &resumed,
        &[&args[..], &["--epochs", "2", "--resume", p]].concat(),
    ));
    let o = train_command(
        &text,
        &dir.path().join("other.safetensors"),
        &[
            "--lr-schedule",
            "cosine",
            "--patience",
            "4",
            "--epochs",
            "2",
            "--resume",
            p,
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--patience 4 differs"), "{err}");
}

/// A resumed `--log` whose last time was edited beyond reason (here 2^64 −
/// 2048 s, which the run's clock would overflow adding to) counts as 0 s:
/// the run goes on, its rows timed from 0.
#[test]
fn a_resumed_log_with_an_absurd_time_is_timed_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 20_000);
    let log = dir.path().join("run.csv");
    let l = log.to_str().unwrap();
    let first = train(
        dir.path(),
        &text,
        "first.safetensors",
        &["--epochs", "1", "--log", l],
    );
    let csv = std::fs::read_to_string(&log).unwrap();
    let (head, last) = csv.trim_end().rsplit_once('\n').unwrap();
    let (_, rest) = last.split_once(',').unwrap();
    std::fs::write(&log, format!("{head}\n18446744073709549568,{rest}\n")).unwrap();
    let p = first.to_str().unwrap();
    ok(&mut train_command(
        &text,
        &dir.path().join("resumed.safetensors"),
        &["--epochs", "2", "--resume", p, "--log", l],
    ));
    let rows = std::fs::read_to_string(&log).unwrap();
    let time = |row: &str| -> f64 { row.split(',').next().unwrap().parse().unwrap() };
    let last = rows.trim_end().lines().last().unwrap();
    assert!(time(last) < 1e6, "the resumed rows' time:\n{rows}");
}

/// A run stopped early says how to resume it with the log it wrote: here
/// beside another run's log (`run.1.csv`, as `run.csv` was taken), and the
/// command it prints continues that log, the other run's left as it was.
#[test]
fn a_stopped_run_says_to_resume_with_the_log_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (d, log) = (dir.path(), dir.path().join("run.csv"));
    let l = log.to_str().unwrap();
    let other_text = d.join("other.txt");
    std::fs::write(&other_text, common::words(20_000, 3)).unwrap();
    train(
        d,
        &other_text,
        "other.safetensors",
        &["--epochs", "1", "--log", l],
    );
    let others = std::fs::read(&log).unwrap();
    let text = words_file(d, 20_000);
    let stopped = d.join("stopped.safetensors");
    let o = ok(&mut train_command(
        &text,
        &stopped,
        &["--epochs", "5000", "--max-seconds", "0.05", "--log", l],
    ));
    let out = String::from_utf8_lossy(&o.stdout);
    let own = d.join("run.1.csv");
    let hint = format!(
        "--resume {} -o {} --log {}",
        stopped.display(),
        stopped.display(),
        own.display()
    );
    assert!(out.contains(&hint), "{hint}\n{out}");
    let rows = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    let before = rows(&own);
    ok(&mut train_command(
        &text,
        &stopped,
        &[
            "--max-seconds",
            "0.05",
            "--resume",
            stopped.to_str().unwrap(),
            "--log",
            own.to_str().unwrap(),
        ],
    ));
    assert!(rows(&own) > before, "the run's log was not continued");
    assert!(
        std::fs::read(&log).unwrap() == others,
        "the other run's log changed"
    );
}
