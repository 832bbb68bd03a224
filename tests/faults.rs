//! Faults: kills, signals, divergence, a full disk, unwritable outputs and
//! corrupt model files. Nothing is lost, nothing fails silently.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rnn_fast::checkpoint;
use rnn_fast::config::OptimizerKind;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
}

fn words_file(dir: &Path, len: usize) -> PathBuf {
    let p = dir.join("words.txt");
    std::fs::write(&p, common::words(len, 21)).unwrap();
    p
}

/// A checkpoint on disk must always load and evaluate: the old one or the new one.
fn assert_loads_and_evaluates(path: &Path, text: &str, trial: usize) {
    let loaded = checkpoint::load(path).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
    assert!(
        loaded.checkpoint.is_some(),
        "trial {trial}: not a checkpoint"
    );
    let ids = loaded.model.vocab.encode(&text[..2_000]).unwrap();
    let score = rnn_fast::eval::evaluate(&loaded.model, &ids);
    assert!(score.loss_nats.is_finite(), "trial {trial}");
}

#[test]
fn sigkill_never_leaves_an_unreadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text_path = words_file(dir.path(), 300_000);
    let text = std::fs::read_to_string(&text_path).unwrap();
    let ckpt = dir.path().join("run.safetensors");
    let train = |extra: &[&str]| {
        let mut c = bin();
        c.args([
            "train",
            "--hidden",
            "48",
            "--sample-len",
            "0",
            "--checkpoint-every",
            "0.01",
            "--force",
        ])
        .args(extra)
        .arg("-o")
        .arg(&ckpt)
        .arg(&text_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    // A first checkpoint, so that there is always a file to find.
    assert!(
        train(&["--epochs", "1", "--max-seconds", "0.05"])
            .status()
            .unwrap()
            .success()
    );
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for trial in 0..30 {
        let mut child = train(&["--epochs", "1000"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_loads_and_evaluates(&ckpt, &text, trial);
    }
}

/// Starts a long run on `text` into `out`, waits until it trains, and
/// sends each of `signals` (`kill` arguments) with `gap` between them;
/// returns (exit code, stderr).
fn signal_run(text: &Path, out: &Path, signals: &[&str], gap: Duration) -> (Option<i32>, String) {
    let (child, lines) = common::start_training(
        bin()
            .args([
                "train",
                "--hidden",
                "32",
                "--epochs",
                "1000",
                "--sample-len",
                "0",
                "-o",
            ])
            .arg(out)
            .arg(text),
    );
    let pid = child.id();
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(gap);
        }
        common::kill(signal, pid);
    }
    lines.for_each(drop);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn repeated_signals_within_the_grace_period_still_save() {
    // GNU timeout sends SIGTERM to the process and then to its group; a
    // double Ctrl-C comes 1 ms apart: one request, one checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 200_000);
    let words = std::fs::read_to_string(&text).unwrap();
    for (signals, code, name) in [
        (["-TERM", "-TERM"], 143, "SIGTERM"),
        (["-INT", "-INT"], 130, "SIGINT"),
        (["-HUP", "-TERM"], 129, "SIGHUP"),
        (["-QUIT", "-QUIT"], 131, "SIGQUIT"),
    ] {
        let out = dir.path().join(format!("{name}-twice.safetensors"));
        let (status, err) = signal_run(&text, &out, &signals, Duration::from_millis(1));
        assert_eq!(status, Some(code), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("interrupted by {name}: the run so far is saved")),
            "{err}"
        );
        assert_loads_and_evaluates(&out, &words, 0);
    }
}

#[test]
fn sigint_and_sigterm_save_a_checkpoint_and_say_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 200_000);
    for (signal, code, name) in [
        ("-INT", 130, "SIGINT"),
        ("-TERM", 143, "SIGTERM"),
        ("-HUP", 129, "SIGHUP"),
        ("-QUIT", 131, "SIGQUIT"),
        // What batch schedulers send to ask a job to save (Grid Engine's
        // `qsub -notify`, Slurm's `--signal`), and the timers' signals:
        // each used to end the run with nothing saved.
        ("-USR1", 138, "SIGUSR1"),
        ("-USR2", 140, "SIGUSR2"),
        ("-ALRM", 142, "SIGALRM"),
        ("-VTALRM", 154, "SIGVTALRM"),
        ("-PROF", 155, "SIGPROF"),
    ] {
        // A name a shell would split or unquote, to paste the command given.
        let out = dir.path().join(format!("{name} run's.safetensors"));
        let (status, err) = signal_run(&text, &out, &[signal], Duration::ZERO);
        assert_eq!(status, Some(code), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("interrupted by {name}")), "{err}");
        let state = checkpoint::load(&out).unwrap().checkpoint.unwrap().state;
        assert!(state.optimizer_steps > 0);
        // And it resumes, by the command it gives, pasted into a shell.
        let (_, command) = err.trim_end().split_once("resume with: rnn-fast ").unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("\"$0\" {command} --max-seconds 0.1 --sample-len 0"))
            .arg(env!("CARGO_BIN_EXE_rnn-fast"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A run past the soft limit on CPU time (`ulimit -S -t`, as batch
/// schedulers set it) gets SIGXCPU, whose default action ends the process
/// with a core dump: it saves and stops as for SIGTERM instead, exit status
/// 152, and the SIGXCPU the kernel repeats each second while it saves does
/// not cut the save short. (Before, the run died with nothing saved.)
#[test]
fn a_cpu_time_limit_saves_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    words_file(dir.path(), 200_000);
    let (code, err) = under_ulimit(
        dir.path(),
        "-S -t 1",
        "train words.txt --hidden 64 --epochs 1000 --sample-len 0 -o m.safetensors",
    );
    assert_eq!(code, Some(152), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("interrupted by SIGXCPU: the run so far is saved in"),
        "{err}"
    );
    let out = dir.path().join("m.safetensors");
    let state = checkpoint::load(&out).unwrap().checkpoint.unwrap().state;
    assert!(state.optimizer_steps > 0);
}

/// Under a limit on the size of a file the process writes (`ulimit -f`,
/// which batch systems pass on), a run whose checkpoint would not fit is
/// refused before training, with nothing written, even where only its
/// header would not (it holds the vocabulary); `bench`, which saves
/// nothing, runs; and a `--log` that grows past the limit stops, while the
/// run goes on and saves. (Before, the write past the limit raised SIGXFSZ,
/// whose default action ended the process: a whole run trained and nothing
/// saved, or a log cut mid-run.)
#[test]
fn a_file_size_limit_is_met_before_training_or_stops_only_the_log() {
    let dir = tempfile::tempdir().unwrap();
    words_file(dir.path(), 100_000);
    let (out, log) = (dir.path().join("m.safetensors"), dir.path().join("run.csv"));
    // `ulimit -f` in `sh` (POSIX) counts blocks of 512 bytes.
    let under = |blocks: u64, args: &str| under_ulimit(dir.path(), &format!("-f {blocks}"), args);
    let train = "train words.txt --hidden 16 --val-frac 0 --sample-len 0 -q -o m.safetensors";
    let (code, err) = under(1 << 20, &format!("{train} --epochs 1"));
    assert_eq!(code, Some(0), "{err}");
    let size = std::fs::metadata(&out).unwrap().len();
    std::fs::remove_file(&out).unwrap();
    // A limit a byte or more under the checkpoint: refused.
    let (code, err) = under((size - 1) / 512, &format!("{train} --epochs 1"));
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("over this process's limit on the size of a file it writes,")
            && err.contains("(ulimit -f): raise the limit"),
        "{err}"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["words.txt"], "{err}");
    // `bench` writes no checkpoint.
    let (code, err) = under((size - 1) / 512, "bench --hidden 16 --seconds 0.2");
    assert_eq!(code, Some(0), "{err}");
    // 2 KiB over the checkpoint, and a log of a row a step that grows past it.
    let (code, err) = under(
        (size + 2048).div_ceil(512),
        &format!("{train} --epochs 1000 --max-seconds 3 --eval-every 1 --log run.csv"),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the log stops here; training goes on"),
        "{err}"
    );
    assert!(
        err.contains("m.safetensors is saved, but the --log file failed"),
        "{err}"
    );
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        (size + 2048).div_ceil(512) * 512
    );
    let state = checkpoint::load(&out).unwrap().checkpoint.unwrap().state;
    assert!(state.optimizer_steps > 0);
}

/// Under a low limit on open files (`ulimit -n`), a run either trains and
/// saves, or is refused before training with one line and nothing written:
/// never trained and then unable to save. (At one limit it used to pass
/// the check made before its locks and log were open, train, and fail to
/// save: "Too many open files ... nothing was saved".)
#[test]
fn a_low_limit_on_open_files_never_costs_a_trained_run() {
    let dir = tempfile::tempdir().unwrap();
    words_file(dir.path(), 50_000);
    let train = "train ../words.txt --hidden 16 --max-seconds 0.3 --sample-len 0 -q -o m.safetensors --log run.csv";
    let (mut saved, mut refused) = (0, 0);
    for limit in 5..=14 {
        let run_dir = dir.path().join(format!("limit{limit}"));
        std::fs::create_dir(&run_dir).unwrap();
        let (code, err) = under_ulimit(&run_dir, &format!("-n {limit}"), train);
        if code == Some(0) {
            saved += 1;
            assert!(
                checkpoint::load(&run_dir.join("m.safetensors")).is_ok(),
                "limit {limit}"
            );
        } else {
            refused += 1;
            assert_eq!(err.lines().count(), 1, "limit {limit}: {err}");
            assert!(err.contains("Too many open files"), "limit {limit}: {err}");
            let left = std::fs::read_dir(&run_dir).unwrap().count();
            assert_eq!(left, 0, "limit {limit}: files left; {err}");
        }
    }
    assert!(saved > 0 && refused > 0, "{saved} saved, {refused} refused");
}

/// A signal at any moment of a run, its set-up included, leaves no lock
/// file behind, and either nothing (a run stopped before it trained: no
/// model, no log) or a model that loads with its log. (H 1024: a set-up of
/// milliseconds, which some of the delays fall into.) (A signal between
/// the claims and the first step used to end the process at once, leaving
/// the lock files and a log of one header line, which the next run took
/// for another run's and wrote beside.)
#[test]
fn a_signal_at_any_moment_leaves_no_claims_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, 200_000);
    let words = std::fs::read_to_string(&text).unwrap();
    for (trial, delay_ms) in [0, 1, 2, 3, 4, 5, 6, 8, 12, 16, 32, 64, 128, 256]
        .into_iter()
        .enumerate()
    {
        let child = bin()
            .current_dir(d)
            .args([
                "train",
                "--hidden",
                "1024",
                "--epochs",
                "1000",
                "--sample-len",
                "0",
                "-q",
            ])
            .args(["-o", "s.safetensors", "--log", "s.csv"])
            .arg(&text)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        common::kill("-TERM", child.id());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // Before its handlers are installed (the first thing it does, before
        // any file is made), the signal's default action ends the process.
        let handled = o.status.code().is_some();
        if handled {
            assert_eq!(o.status.code(), Some(143), "{delay_ms} ms: {err}");
            assert_eq!(err.lines().count(), 1, "{delay_ms} ms: {err}");
        } else {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(o.status.signal(), Some(15), "{delay_ms} ms: {err}");
        }
        let names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.ends_with(".lock")),
            "{delay_ms} ms: {names:?}"
        );
        let (model, log) = (d.join("s.safetensors"), d.join("s.csv"));
        if model.exists() {
            assert!(
                err.contains("the run so far is saved in"),
                "{delay_ms} ms: {err}"
            );
            assert_loads_and_evaluates(&model, &words, trial);
            assert!(log.exists(), "{delay_ms} ms: {names:?}");
        } else {
            assert!(
                !handled || err.contains("nothing is lost"),
                "{delay_ms} ms: {err}"
            );
            assert!(!log.exists(), "{delay_ms} ms: {names:?}");
        }
        for f in ["s.safetensors", "s.best.safetensors", "s.csv"] {
            let _ = std::fs::remove_file(d.join(f));
        }
    }
}

/// A signal ignored when the run starts (`nohup` ignores SIGHUP; a shell
/// script's `&` job ignores SIGINT and SIGQUIT) stays ignored: the run
/// trains on to its end. SIGTERM, not ignored, still stops it with a
/// checkpoint.
#[test]
fn signals_ignored_at_start_stay_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 200_000);
    let out = dir.path().join("m.safetensors");
    let (mut child, lines) = common::start_training(
        Command::new("sh")
            .arg("-c")
            .arg("trap '' HUP INT QUIT; exec \"$0\" train --hidden 32 --epochs 1000 --sample-len 0 -o \"$1\" \"$2\"")
            .arg(env!("CARGO_BIN_EXE_rnn-fast"))
            .arg(&out)
            .arg(&text),
    );
    common::kill("-HUP", child.id());
    common::kill("-INT", child.id());
    common::kill("-QUIT", child.id());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stopped by an ignored signal"
    );
    common::kill("-TERM", child.id());
    lines.for_each(drop);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(checkpoint::load(&out).unwrap().checkpoint.is_some());
}

/// A reader that stops reading (`| less` left open) holds up neither
/// training nor a signal's save: the run saves, says so, and exits, its
/// last progress lines given up. (Before, it waited in a write to the full
/// pipe until the reader went away.)
#[test]
fn a_stalled_reader_does_not_hold_up_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 200_000);
    let out = dir.path().join("m.safetensors");
    // Read up to the first report, then never again: the pipe fills.
    let (mut child, stdout) = common::start_training(
        bin()
            .args(["train", "--hidden", "16", "--epochs", "1000"])
            .args(["--sample-every", "1000", "-o"])
            .arg(&out)
            .arg(&text),
    );
    // A sample every 1,000 characters fills a pipe (64 KiB) in well under
    // a second; 3 s, so that a loaded machine fills it too.
    std::thread::sleep(Duration::from_secs(3));
    common::kill("-TERM", child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not end while its reader stalled");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(checkpoint::load(&out).unwrap().checkpoint.is_some());
    drop(stdout);
}

/// Settings whose first update sends the weights to infinity.
const DIVERGING: [&str; 7] = [
    "train",
    "--optimizer",
    "sgd",
    "--lr",
    "1e38",
    "--clip",
    "inf",
];

/// A resumed run keeps its checkpoint's settings, so its divergence says
/// how to follow the advice to lower --lr: from the checkpoint's weights,
/// with --init-from (a changed --lr with --resume is refused).
#[test]
fn a_resumed_run_that_diverges_says_how_to_change_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 20_000);
    let ck = dir.path().join("my ck.safetensors");
    let first = bin()
        .args([
            "train",
            "--optimizer",
            "sgd",
            "--epochs",
            "1",
            "--sample-len",
            "0",
        ])
        .arg("-o")
        .arg(&ck)
        .arg(&text)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(first.success());
    // The checkpoint's settings edited to DIVERGING's.
    let mut loaded = checkpoint::load(&ck).unwrap();
    let c = loaded.checkpoint.as_mut().unwrap();
    (c.settings.lr, c.settings.clip) = (1e38, f32::INFINITY);
    std::fs::write(&ck, checkpoint::to_bytes(&loaded.model, Some(c))).unwrap();
    let o = bin()
        .args(["train", "--epochs", "2", "--sample-len", "0", "--resume"])
        .arg(&ck)
        .arg("-o")
        .arg(&ck)
        .arg(&text)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("training diverged")
            && err.contains("lower --lr")
            && err.contains("is kept as it was")
            && err.ends_with(&format!(
                "; a resumed run keeps its checkpoint's settings: to change them, train from its weights with --init-from '{}'\n",
                ck.display()
            )),
        "{err}"
    );
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), 50_000);
    let out = dir.path().join("m.safetensors");
    let o = bin()
        .args(DIVERGING)
        .args(["--sample-len", "0", "-o"])
        .arg(&out)
        .arg(&text)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("training diverged") && err.contains("lower --lr"),
        "{err}"
    );
    assert!(!out.exists(), "nothing good to save, nothing saved");
    // With an earlier good checkpoint at the path, it is kept as it was.
    assert!(
        bin()
            .args(["train", "--epochs", "1", "--sample-len", "0", "-o"])
            .arg(&out)
            .arg(&text)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let before = std::fs::read(&out).unwrap();
    let base = dir.path().join("base.safetensors");
    std::fs::write(&base, &before).unwrap();
    let o = bin()
        .args(DIVERGING)
        .args(["--init-from"])
        .arg(&base)
        .args([
            "--checkpoint-every",
            "0.001",
            "--sample-len",
            "0",
            "--force",
            "-o",
        ])
        .arg(&out)
        .arg(&text)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.contains("training diverged"),
        "{err}"
    );
    let after = checkpoint::load(&out).unwrap();
    assert!(after.model.is_finite());
    if std::fs::read(&out).unwrap() != before {
        // Only a checkpoint of this run taken before the bad step may have
        // replaced it: it scores the text with a finite loss.
        let ids = after
            .model
            .vocab
            .encode(&std::fs::read_to_string(&text).unwrap())
            .unwrap();
        let score = rnn_fast::eval::evaluate(&after.model, &ids);
        assert!(score.loss_nats.is_finite(), "{score:?}");
        assert!(
            after
                .checkpoint
                .is_some_and(|ck| ck.state.optimizer_steps > 0)
        );
    }
}

#[test]
fn an_unwritable_output_fails_before_training() {
    let o = bin()
        .args(["train", "-o", "/proc/rnn-fast-model.safetensors"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("cannot write /proc/rnn-fast-model.safetensors"),
        "{err}"
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("epoch"),
        "it trained first"
    );
}

#[test]
fn a_full_disk_keeps_the_previous_model() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96k", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root) to fill a disk");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let out = mnt.join("model.safetensors");
    let text = words_file(dir.path(), 20_000);
    let train = |hidden: &str, extra: &[&str]| {
        bin()
            .args(["train", "--hidden", hidden, "--sample-len", "0", "--force"])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(&text)
            .env("TMPDIR", dir.path())
            .output()
            .unwrap()
    };
    // A small model fits...
    let o = train("8", &["--epochs", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = std::fs::read(&out).unwrap();
    // ...a large one does not. Its periodic checkpoints and best models
    // fail with a warning each (once, not at every try) and training goes
    // on; its end is saved in the temporary folder, and the error line
    // says where. The old file stays.
    let o = train(
        "256",
        &[
            "--epochs",
            "2",
            "--val-frac",
            "0.2",
            "--checkpoint-every",
            "0.01",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[..2]
            .iter()
            .any(|l| l.contains("a checkpoint is not saved this time")),
        "{err}"
    );
    assert!(
        lines[..2]
            .iter()
            .any(|l| l.contains("the best model is not saved this time")),
        "{err}"
    );
    assert!(
        lines.iter().all(|l| l.contains("No space left on device")),
        "{err}"
    );
    let (_, rescued) = lines[2]
        .split_once("the run is saved in ")
        .expect("where it is saved");
    let (rescued, _) = rescued.split_once(" instead").unwrap();
    let rescued = checkpoint::load(Path::new(rescued)).unwrap();
    assert_eq!(rescued.model.layout.h, 256);
    assert!(rescued.checkpoint.unwrap().state.epoch >= 2);
    assert_eq!(std::fs::read(&out).unwrap(), before);
    checkpoint::load(&out).unwrap();
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // A log on the full disk: the run is refused before training with no
    // log left (it used to leave an empty one, which the next run took for
    // another's and wrote beside); with --force an old log is replaced
    // only by a new one written whole, so here it stays.
    let old_log = format!("{}\n", rnn_fast::plot::CSV_HEADER);
    std::fs::write(mnt.join("old.csv"), &old_log).unwrap();
    let fill = std::fs::File::create(mnt.join("fill")).unwrap();
    let mut fill = std::io::BufWriter::new(fill);
    while std::io::Write::write_all(&mut fill, &[0; 4096]).is_ok() {}
    drop(fill);
    let elsewhere = dir.path().join("elsewhere.safetensors");
    for (log, force) in [("run.csv", false), ("old.csv", true)] {
        let mut cmd = bin();
        cmd.args([
            "train",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--sample-len",
            "0",
        ])
        .arg("-o")
        .arg(&elsewhere)
        .arg("--log")
        .arg(mnt.join(log))
        .arg(&text);
        if force {
            cmd.arg("--force");
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{log}: {err}");
        assert!(err.contains("No space left on device"), "{log}: {err}");
        assert!(!elsewhere.exists(), "{log}: it trained");
    }
    assert!(!mnt.join("run.csv").exists(), "an empty log is left");
    assert_eq!(
        std::fs::read_to_string(mnt.join("old.csv")).unwrap(),
        old_log
    );
}

/// The `train.corpus_len` of a checkpoint's header.
fn n_chars(bytes: &[u8]) -> usize {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    let len = header.split("\"train.corpus_len\":\"").nth(1).unwrap();
    len[..len.find('"').unwrap()].parse().unwrap()
}

/// Rewrites the first `from` of the JSON header to `to`, and the header's
/// length before it (the tensors' offsets count from the header's end).
fn edit_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    assert!(header.contains(from), "{from} not in {header}");
    let header = header.replacen(from, to, 1);
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.into_bytes());
    out.extend(&bytes[8 + n..]);
    out
}

#[test]
fn corrupt_model_files_are_errors_not_panics() {
    let good = common::small_files(8).1;
    assert!(checkpoint::from_bytes(&good).is_ok());
    let check = |bytes: Vec<u8>, expect: &str| {
        let e = checkpoint::from_bytes(&bytes).unwrap_err();
        assert!(e.contains(expect), "{e:?} lacks {expect:?}");
    };
    // Truncated anywhere.
    for cut in [0, 4, 8, 20, good.len() / 3, good.len() / 2, good.len() - 1] {
        check(good[..cut].to_vec(), "");
    }
    check(
        b"not a model at all, just text".to_vec(),
        "not a safetensors file",
    );
    // Wrong dtype and shape (same-length edits keep the offsets).
    check(
        edit_header(&good, "\"dtype\":\"F32\"", "\"dtype\":\"I32\""),
        "expected F32",
    );
    // A format version this build does not read, named as written.
    check(
        edit_header(
            &good,
            "\"format_version\":\"1\"",
            "\"format_version\":\"2\"",
        ),
        "format version \"2\" is not supported (this build reads \"1\")",
    );
    // A vocabulary that does not match the tensors: one character fewer
    // (and the vocabulary size written beside it to match).
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(good[8..8 + n].to_vec()).unwrap();
    let size = header.split("\"vocab_size\":\"").nth(1).unwrap();
    let size = &size[..size.find('"').unwrap()];
    let fewer = size.parse::<usize>().unwrap() - 1;
    let shorter = header.replacen("\\\"y\\\",", "", 1).replacen(
        &format!("\"vocab_size\":\"{size}\""),
        &format!("\"vocab_size\":\"{fewer}\""),
        1,
    );
    assert_ne!(shorter, header);
    let mut bytes = (shorter.len() as u64).to_le_bytes().to_vec();
    bytes.extend(shorter.into_bytes());
    bytes.extend(&good[8 + n..]);
    check(bytes, "expected [");
    // A record no run writes (a hand edit), which a resumed run would count
    // on from: characters past what its epochs hold (the count would wrap),
    // an epoch past the most a run trains, a rate factor outside [0, 1],
    // best losses that are not numbers.
    let epoch = "\"train.epoch\":\"0\"";
    for (from, to, expect) in [
        (
            "\"train.chars_seen\":\"120\"",
            "\"train.chars_seen\":\"18446744073709551606\"".to_string(),
            "its train.chars_seen 18446744073709551606 is more than 1 epoch of its",
        ),
        (
            epoch,
            "\"train.epoch\":\"1000000001\"".to_string(),
            "its train.epoch 1000000001 is past the most epochs a run trains (1000000000)",
        ),
        (
            epoch,
            format!("{epoch},\"train.lr_factor\":\"NaN\""),
            "its train.lr_factor NaN is not in [0, 1]",
        ),
        (
            epoch,
            format!("{epoch},\"train.lr_factor\":\"-1\""),
            "its train.lr_factor -1 is not in [0, 1]",
        ),
        (
            epoch,
            format!("{epoch},\"train.best_val\":\"NaN\""),
            "its train.best_val is not a number",
        ),
        (
            epoch,
            format!("{epoch},\"train.plateau_best\":\"NaN\""),
            "its train.plateau_best is not a number",
        ),
    ] {
        check(edit_header(&good, from, &to), expect);
    }
    // The largest count the epochs allow still loads.
    let most = edit_header(
        &good,
        "\"train.chars_seen\":\"120\"",
        &format!("\"train.chars_seen\":\"{}\"", 2 * (n_chars(&good) + 1)),
    );
    assert!(checkpoint::from_bytes(&most).is_ok());
    // Metadata that disagrees with the tensors: the settings' H (which a
    // resumed run would train at), the written vocabulary size.
    check(
        edit_header(&good, "\"hidden\":\"8\"", "\"hidden\":\"9\""),
        "its settings' hidden (9) disagrees with its tensors' H (8)",
    );
    let wrong = format!("{}", size.parse::<usize>().unwrap() % 9 + 1);
    let wrong = format!("{wrong:0>width$}", width = size.len());
    check(
        edit_header(
            &good,
            &format!("\"vocab_size\":\"{size}\""),
            &format!("\"vocab_size\":\"{wrong}\""),
        ),
        &format!(
            "vocab_size in its metadata (\"{wrong}\") disagrees with its vocabulary of {size} characters"
        ),
    );
    // NaN weights.
    let loaded = checkpoint::from_bytes(&good).unwrap();
    let mut model = loaded.model.clone();
    model.weights[3] = f32::NAN;
    let nan = checkpoint::to_bytes(&model, None);
    check(nan, "non-finite value");
    // An optimizer's slot of squares with a negative value (Adam's `v`;
    // Adagrad's `m`) is damage, named at load: it used to load and stop
    // the resumed run as diverged. Adam's `m` takes either sign.
    let ck = checkpoint::from_bytes(&good).unwrap().checkpoint.unwrap();
    let len = loaded.model.layout.len();
    let with_slot = |rule: OptimizerKind, at: usize, x: f32| {
        let mut ck = ck.clone();
        ck.settings.optimizer = rule;
        ck.state.optimizer.iter_mut().for_each(|s| *s = s.abs());
        ck.state.optimizer[at] = x;
        checkpoint::to_bytes(&loaded.model, Some(&ck))
    };
    let offsets = loaded.model.layout.offsets();
    let why = offsets.iter().find(|(_, t)| t.name == "Why").unwrap().0;
    check(
        with_slot(OptimizerKind::Adam, len + why, -1.0),
        "tensor opt.v.Why holds a negative value (-1), where it keeps Adam's mean of squares",
    );
    check(
        with_slot(OptimizerKind::Adagrad, 0, -0.5),
        "tensor opt.m.Wxh holds a negative value (-0.5), where it keeps Adagrad's sum of squares",
    );
    for (rule, at) in [
        (OptimizerKind::Adam, 0),
        (OptimizerKind::Adagrad, len),
        (OptimizerKind::Sgd, 0),
        (OptimizerKind::Sgd, len),
    ] {
        let bytes = with_slot(rule, at, -2.0);
        assert!(checkpoint::from_bytes(&bytes).is_ok(), "{rule:?} at {at}");
    }
    // Finite weights so large that a forward pass would overflow.
    let mut huge = loaded.model.clone();
    huge.weights
        .iter_mut()
        .for_each(|w| *w = 3e38f32.copysign(*w));
    let huge = checkpoint::to_bytes(&huge, None);
    check(huge, "where a forward pass could overflow f32");
    // A stacked model claiming more layers than it holds, or too many.
    let cell = rnn_fast::layout::CellKind::Lstm;
    let init = rnn_fast::config::InitKind::Article;
    let stacked = rnn_fast::model::Model::init_cell(cell, 2, common::vocab(5), 8, 1, init);
    let two = checkpoint::to_bytes(&stacked, None);
    assert_eq!(checkpoint::from_bytes(&two).unwrap().model.layout.layers, 2);
    // ...or fewer (or none): the upper layer is not left out in silence.
    for (edited, expect) in [
        ("\"layers\":\"8\"", "no tensor \"weight_ih_l2\""),
        (
            "\"layers\":\"9\"",
            "bad layers in its metadata (9; a lstm model has 1 to 8)",
        ),
        (
            "\"layers\":\"1\"",
            "it holds tensor \"bias_hh_l1\", which its metadata's model (1 layer of lstm, H 8) has not",
        ),
        ("\"lxxxrs\":\"2\"", "it holds tensor \"bias_hh_l1\""),
    ] {
        check(edit_header(&two, "\"layers\":\"2\"", edited), expect);
    }
}

/// Runs `rnn-fast ARGS` in `dir` under the limit `ulimit LIMIT` sets (`-v
/// KIB` on the address space, `-f BLOCKS` of 512 bytes on a file's size in
/// a POSIX `sh`, `-n` on open files, `-S -t` on CPU seconds); its exit code
/// and standard error.
fn under_ulimit(dir: &Path, limit: &str, args: &str) -> (Option<i32>, String) {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\" {args}"))
        .arg(env!("CARGO_BIN_EXE_rnn-fast"))
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Under a limit on the process's address space (`ulimit -v`; a
/// container's memory limit is read the same way), which the machine's
/// free memory does not show, a run too large for it and a model file too
/// large to load are refused with one line: the allocation would have
/// aborted, at the end of a run, when its save built the file in memory.
#[test]
fn a_memory_limit_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    words_file(dir.path(), 20_000);
    let limited = |kib: u64, args: &str| under_ulimit(dir.path(), &format!("-v {kib}"), args);
    // An LSTM of H 4,096: about 2 GiB to train, over a 1 GiB limit.
    let (code, err) = limited(
        1 << 20,
        "train words.txt --cell lstm --hidden 4096 --epochs 1 -o big.safetensors",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("error: these settings need")
            && err.contains("this process can take")
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("big.safetensors").exists());
    // A 3 GiB model file (sparse: no disk) under a 2 GiB limit: refused
    // before a byte of it is read.
    let big = std::fs::File::create(dir.path().join("huge.safetensors")).unwrap();
    big.set_len(3 << 30).unwrap();
    for command in ["sample huge.safetensors", "eval huge.safetensors words.txt"] {
        let (code, err) = limited(2 << 20, command);
        assert_eq!(code, Some(1), "{command}: {err}");
        assert!(
            err.starts_with("error: huge.safetensors: a file of 3.0 GiB; loading it as a model needs about 6.0 GiB of memory")
                && err.lines().count() == 1,
            "{command}: {err}"
        );
    }
    // How far the run at -o went is read from its header: a checkpoint too
    // large to load under the limit is still known to be further along
    // than the one resumed, and kept (it was taken for no checkpoint, and
    // replaced even without --force's consent to lose a run).
    let train = |epochs: &str, out: &str| {
        let o = bin()
            .args(["train", "words.txt", "--hidden", "8", "--sample-len", "0"])
            .args(["--epochs", epochs, "-o", out])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    train("1", "early.safetensors");
    train("2", "later.safetensors");
    let later = dir.path().join("later.safetensors");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&later)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let (code, err) = limited(
        2 << 20,
        "train words.txt --resume early.safetensors --epochs 3 -o later.safetensors --force",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("holds a run further along"), "{err}");
    assert_eq!(std::fs::metadata(&later).unwrap().len(), 3 << 30);
}

/// A text that fits under a limit on the address space but whose encoding
/// (two bytes a character) does not: one line, where the allocation aborted
/// (the read also doubled its buffer past the file's size).
#[test]
fn a_text_too_large_for_memory_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let line = "hello world, hello rnn.\n";
    std::fs::write(dir.path().join("small.txt"), line.repeat(1_000)).unwrap();
    std::fs::write(
        dir.path().join("big.txt"),
        line.repeat((64 << 20) / line.len()),
    )
    .unwrap();
    let o = bin()
        .args(["train", "small.txt", "--hidden", "8", "--epochs", "1"])
        .args(["--sample-len", "0", "-q", "-o", "m.safetensors"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 195 MiB: the 64 MiB text and the program, not its 128 MiB of ids.
    for command in [
        "eval m.safetensors big.txt",
        "train big.txt -o big.safetensors",
    ] {
        let (code, err) = under_ulimit(dir.path(), "-v 200000", command);
        assert_eq!(code, Some(1), "{command}: {err}");
        assert!(
            err.starts_with("error: big.txt: does not fit in memory: the machine refused room for")
                && err.lines().count() == 1,
            "{command}: {err}"
        );
    }
    assert!(!dir.path().join("big.safetensors").exists());
}

/// Dynamic evaluation in chunks too long for the memory left (here the
/// logits of 100,000 characters over a vocabulary of 5,000: 2 GiB, under a
/// 1 GiB limit on the address space) is refused with one line, where the
/// allocation would have aborted.
#[test]
fn a_dynamic_evaluation_too_large_for_memory_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..20_000u32)
        .map(|i| char::from_u32(0x4E00 + (i * 7919) % 5_000).unwrap())
        .collect();
    std::fs::write(dir.path().join("wide.txt"), &text).unwrap();
    let o = bin()
        .args(["train", "wide.txt", "--hidden", "8", "--epochs", "1"])
        .args(["--sample-len", "0", "-q", "-o", "wide.safetensors"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, err) = under_ulimit(
        dir.path(),
        &format!("-v {}", 1 << 20),
        "eval wide.safetensors wide.txt --dynamic --dynamic-seq-len 100000",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("error: dynamic evaluation in chunks of --dynamic-seq-len 100000 needs")
            && err.contains("lower --dynamic-seq-len")
            && err.lines().count() == 1,
        "{err}"
    );
}
