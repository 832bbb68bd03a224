//! Careless use loses nothing: a closed or full standard output, outputs
//! that name inputs, an existing model at the output, two runs on one
//! output, absurd settings and diverging runs each end with the right exit
//! status and one clear line, and the corpus, a newer model and the run
//! trained so far are kept.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `--log` of one row at `path` (3.0 nats after 100 characters), which
/// plot draws; returns `path`.
fn one_row_log(path: &Path) -> PathBuf {
    std::fs::write(
        path,
        format!("{}\n1,1,100,3.0,\n", rnn_fast::plot::CSV_HEADER),
    )
    .unwrap();
    path.to_path_buf()
}

/// A words text of `len` characters in `dir`.
fn words_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, common::words(len, 3)).unwrap();
    p
}

/// Runs `cmd` and checks: exit status `code`, one line on stderr that
/// contains `expect`.
fn fails(cmd: &mut Command, code: i32, expect: &str) {
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{cmd:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{cmd:?}: not one line: {err}");
    assert!(err.contains(expect), "{cmd:?}: {err:?} lacks {expect:?}");
}

fn ok(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
    o
}

/// A small trained model at `dir/name`.
fn small_model(dir: &Path, corpus: &Path, name: &str, epochs: &str) -> PathBuf {
    let out = dir.join(name);
    ok(bin()
        .args(["train", "--hidden", "8", "--epochs", epochs, "-q", "-o"])
        .arg(&out)
        .arg(corpus));
    out
}

#[test]
fn a_closed_or_full_standard_output_never_loses_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), "t.txt", 200_000);
    let out = dir.path().join("m.safetensors");
    // `| head -1`: training goes on to its end, saves, exits 0, and says so.
    let script = format!(
        "{} train {} --hidden 16 --epochs 2 --eval-every 20000 -o {} | head -1 > /dev/null; echo ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_rnn-fast"),
        text.display(),
        out.display()
    );
    let o = ok(Command::new("bash").arg("-c").arg(&script));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
    assert!(
        stderr(&o).contains("standard output was closed"),
        "{}",
        stderr(&o)
    );
    let ck = rnn_fast::checkpoint::load(&out)
        .unwrap()
        .checkpoint
        .unwrap();
    assert_eq!(ck.state.epoch, 2, "trained to its end");
    // A full disk under standard output: saved, exit 1, the reason named.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out2 = dir.path().join("m2.safetensors");
    let o = bin()
        .args(["train", "--hidden", "16", "--epochs", "1", "-o"])
        .arg(&out2)
        .arg(&text)
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("m2.safetensors is saved, but writing progress to standard output failed"),
        "{err}"
    );
    rnn_fast::checkpoint::load(&out2).unwrap();
    // So does plot: its drawing is written.
    let log = one_row_log(&dir.path().join("l.csv"));
    let svg = dir.path().join("l.svg");
    let o = bin()
        .arg("plot")
        .arg(&log)
        .arg("-o")
        .arg(&svg)
        .stdout(Stdio::from(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        ))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "error: {} is saved, but writing to standard output failed: cannot write output: No space left on device (os error 28)\n",
            svg.display()
        )
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    // Help on a full disk is a failure too.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = bin()
        .arg("--help")
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("No space left on device"));
}

#[test]
fn outputs_never_destroy_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 20_000);
    let corpus_bytes = std::fs::read(&text).unwrap();
    let model = small_model(d, &text, "m.safetensors", "1");
    let model_bytes = std::fs::read(&model).unwrap();
    let train = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(d).arg("train").args(args);
        c
    };
    fails(
        &mut train(&["c.txt", "-o", "c.txt"]),
        2,
        "-o c.txt is the corpus",
    );
    fails(&mut train(&["c.txt", "-o", "./c.txt"]), 2, "is the corpus");
    fails(
        &mut train(&["c.txt", "--log", "c.txt"]),
        2,
        "--log c.txt is the corpus",
    );
    fails(
        &mut train(&["c.txt", "--log", "x.safetensors", "-o", "x.safetensors"]),
        2,
        "-o and --log name the same file",
    );
    fails(
        &mut train(&[
            "c.txt",
            "--resume",
            "m.safetensors",
            "--log",
            "m.safetensors",
        ]),
        2,
        "--log m.safetensors is the checkpoint resumed",
    );
    fails(
        &mut train(&[
            "c.txt",
            "--init-from",
            "m.safetensors",
            "-o",
            "m.safetensors",
        ]),
        2,
        "-o m.safetensors is the model fine-tuned",
    );
    fails(
        &mut train(&["c.txt", "-o", "/dev/null"]),
        2,
        "-o /dev/null is not a regular file",
    );
    fails(
        &mut train(&["c.txt", "-o", "/dev/full"]),
        2,
        "is not a regular file",
    );
    std::fs::create_dir(d.join("sub")).unwrap();
    fails(
        &mut train(&["c.txt", "-o", "sub"]),
        2,
        "-o sub is not a regular file",
    );
    fails(&mut train(&["c.txt", "-o", "."]), 2, "names no file");
    fails(
        &mut train(&["c.txt", "-o", ""]),
        2,
        "a value is required for '--output",
    );
    fails(&mut train(&["c.txt", "-o", "sub/"]), 2, "names no file");
    // A file's name with `/.` after it names no file either: it used to
    // pass every check, train, fail to save and save beside the corpus
    // under its name (c.1.txt).
    for named in ["c.txt/.", "m.safetensors/.", "sub/."] {
        fails(&mut train(&["c.txt", "-o", named]), 2, "names no file");
    }
    fails(
        &mut train(&["c.txt", "--log", "run.csv/."]),
        2,
        "--log \"run.csv/.\" names no file",
    );
    std::fs::copy(&text, d.join("c.best.txt")).unwrap();
    fails(
        &mut train(&["c.best.txt", "-o", "c.txt", "--val-frac", "0.2"]),
        2,
        "the best model (beside -o) c.best.txt is the corpus",
    );
    let log = one_row_log(&d.join("run.csv"));
    fails(
        &mut train(&[
            "c.txt",
            "--resume",
            "m.safetensors",
            "--log",
            "c.best.txt",
            "-o",
            "r.safetensors",
        ]),
        2,
        "--log c.best.txt exists and is not an rnn-fast log",
    );
    fails(
        bin()
            .current_dir(d)
            .args(["plot", "run.csv", "-o", "m.safetensors"]),
        2,
        "-o m.safetensors exists and is not an SVG drawing",
    );
    fails(
        bin()
            .current_dir(d)
            .args(["plot", "run.csv", "-o", "run.csv"]),
        2,
        "-o run.csv is the log read",
    );
    assert_eq!(std::fs::read(&text).unwrap(), corpus_bytes);
    assert_eq!(std::fs::read(&model).unwrap(), model_bytes);
    assert!(std::fs::read_to_string(&log).unwrap().contains("3.0"));
    assert!(
        Path::new("/dev/null")
            .metadata()
            .is_ok_and(|m| !m.is_file())
    );
}

/// A standard stream that the shell opened on a file the command line
/// names (`sample m >> m`, `train c.txt 2>> c.txt`, `-o m > m`) is refused,
/// exit 2, before anything is written to it, a usage error included: the
/// error goes to the other stream, or nowhere when both are such files.
#[test]
fn standard_streams_into_a_named_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 20_000);
    let model = small_model(d, &text, "m.safetensors", "1");
    let log = one_row_log(&d.join("l.csv"));
    let files = [&text, &model, &log];
    let before: Vec<Vec<u8>> = files.map(|p| std::fs::read(p).unwrap()).into();
    let append = |p: &Path| std::fs::OpenOptions::new().append(true).open(p).unwrap();
    let run = |cmd: &mut Command| {
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
        o
    };
    let train = || {
        let mut c = bin();
        c.current_dir(d)
            .args(["train", "c.txt", "-o", "n.safetensors", "--hidden", "8"])
            .args(["--epochs", "1"]);
        c
    };
    let said = |stream: &str, path: &Path| {
        format!(
            "error: {stream} is {}, a file this command reads or writes: writing to it would destroy it; send {stream} elsewhere\n",
            path.display()
        )
    };
    let o = run(bin().arg("sample").arg(&model).stdout(append(&model)));
    assert_eq!(stderr(&o), said("standard output", &model));
    let o = run(train().stdout(append(&text)));
    assert_eq!(stderr(&o), said("standard output", Path::new("c.txt")));
    // Standard error: said on standard output, before even a usage error.
    for extra in [&[][..], &["--hidden", "0"], &["--resume", "m.safetensors"]] {
        let o = run(train().args(extra).stderr(append(&text)));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            said("standard error", Path::new("c.txt"))
        );
    }
    let o = run(train()
        .args(["--resume", "m.safetensors"])
        .stderr(append(&model)));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        said("standard error", Path::new("m.safetensors"))
    );
    let both = append(&text);
    let o = run(bin()
        .arg("eval")
        .args([&model, &text])
        .stdout(both.try_clone().unwrap())
        .stderr(both));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
    let o = run(bin()
        .args(["bench", "--seconds", "0.1", "--corpus"])
        .arg(&text)
        .stdout(append(&text)));
    assert_eq!(stderr(&o), said("standard output", &text));
    // An option's value after `=`, and an output.
    let o = run(bin()
        .arg("plot")
        .arg(&log)
        .args(["-o", "-"])
        .stdout(append(&log)));
    assert_eq!(stderr(&o), said("standard output", &log));
    let o = run(train().arg("--log=l.csv").stdout(append(&log)));
    assert_eq!(stderr(&o), said("standard output", Path::new("l.csv")));
    // The .best model beside -o, which the run reads and writes.
    let best = d.join("n.best.safetensors");
    std::fs::write(&best, b"a best model").unwrap();
    let o = run(train().stdout(append(&best)));
    assert_eq!(
        stderr(&o),
        said("standard output", Path::new("n.best.safetensors"))
    );
    assert_eq!(std::fs::read(&best).unwrap(), b"a best model");
    let after: Vec<Vec<u8>> = files.map(|p| std::fs::read(p).unwrap()).into();
    assert!(before == after, "a file named was written to");
    assert!(!d.join("n.safetensors").exists());
}

/// Only the files a command reads or writes are checked against its
/// standard streams: a file named like the subcommand or an option's value
/// (`sample m > sample`, `--len 5 > 5`) is written as asked, and the
/// default model (`rnn-fast > model.safetensors`) is refused.
#[test]
fn standard_streams_named_like_other_words_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 20_000);
    small_model(d, &text, "m.safetensors", "1");
    for (name, len) in [("sample", "20"), ("5", "5"), ("--len", "7")] {
        let file = d.join(name);
        std::fs::write(&file, "").unwrap();
        let o = bin()
            .current_dir(d)
            .args(["sample", "m.safetensors", "--len", len])
            .stdout(std::fs::File::create(&file).unwrap())
            .output()
            .unwrap();
        assert!(o.status.success(), "> {name}: {}", stderr(&o));
        let written = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            written.chars().count(),
            len.parse::<usize>().unwrap() + 1,
            "> {name}"
        );
    }
    // plot -o - writes standard output itself: a file named - is no input.
    one_row_log(&d.join("l.csv"));
    let dash = d.join("-");
    let o = bin()
        .current_dir(d)
        .args(["plot", "l.csv", "-o", "-"])
        .stdout(std::fs::File::create(&dash).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "> ./-: {}", stderr(&o));
    assert!(std::fs::read_to_string(&dash).unwrap().contains("<svg"));
    let model = d.join("model.safetensors");
    std::fs::write(&model, "").unwrap();
    let o = bin()
        .current_dir(d)
        .stdout(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&model)
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: standard output is model.safetensors, a file this command reads or writes: writing to it would destroy it; send standard output elsewhere\n"
    );
    assert_eq!(std::fs::read(&model).unwrap(), b"");
}

#[test]
fn an_existing_model_is_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = || {
        let mut c = bin();
        c.current_dir(d).args([
            "train",
            "--hidden",
            "8",
            "--epochs",
            "3",
            "--sample-len",
            "0",
        ]);
        c
    };
    // Plain `rnn-fast` twice: the second saves beside the first and says so.
    ok(&mut demo());
    let first = std::fs::read(d.join("model.safetensors")).unwrap();
    let o = ok(demo().args(["--seed", "7"]));
    assert!(
        stderr(&o).contains("model.safetensors exists and is not this run's: it is kept as it is, and this run writes model.1.safetensors"),
        "{}",
        stderr(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("saved model.1.safetensors"));
    assert_eq!(std::fs::read(d.join("model.safetensors")).unwrap(), first);
    // So does an existing log of another run.
    std::fs::write(d.join("run.csv"), "notes\n").unwrap();
    let o = ok(demo().args(["--log", "run.csv", "--seed", "8"]));
    assert!(
        stderr(&o).contains("this run writes run.1.csv"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("run.csv")).unwrap(),
        "notes\n"
    );
    // --force replaces it.
    ok(demo().args(["--seed", "7", "--force"]));
    assert_ne!(std::fs::read(d.join("model.safetensors")).unwrap(), first);
    // A resumed run may replace its own checkpoint, never one further along.
    let text = words_file(d, "c.txt", 20_000);
    let early = small_model(d, &text, "early.safetensors", "1");
    let late = small_model(d, &text, "late.safetensors", "3");
    let late_bytes = std::fs::read(&late).unwrap();
    let resume = |from: &Path, to: &Path, force: bool| {
        let mut c = bin();
        c.args(["train", "--epochs", "2", "-q", "--resume"])
            .arg(from)
            .arg("-o")
            .arg(to);
        if force {
            c.arg("--force");
        }
        c.arg(&text);
        c
    };
    fails(
        &mut resume(&early, &late, true),
        2,
        "holds a run further along",
    );
    assert_eq!(std::fs::read(&late).unwrap(), late_bytes);
    ok(&mut resume(&early, &late, false));
    assert_eq!(std::fs::read(&late).unwrap(), late_bytes, "saved beside it");
    ok(&mut resume(&early, &early, false));
    let ck = rnn_fast::checkpoint::load(&early)
        .unwrap()
        .checkpoint
        .unwrap();
    assert_eq!(ck.state.epoch, 2);
    // --epochs counts the whole run: at or below the epochs done, nothing
    // is trained, so nothing is rewritten (its planned epochs kept).
    let done = std::fs::read(&early).unwrap();
    fails(
        &mut resume(&early, &early, false),
        2,
        "--epochs 2 leaves nothing to train: the checkpoint has trained 2 epochs",
    );
    fails(
        bin()
            .args(["train", "-q", "--resume"])
            .arg(&early)
            .arg("-o")
            .arg(&early)
            .arg(&text),
        2,
        "the checkpoint has trained all its 2 epochs: nothing is left to train",
    );
    assert_eq!(std::fs::read(&early).unwrap(), done);
}

/// `--force` replaces a model, or a log, that is not this run's; never a
/// file of another kind named by mistake. A run that diverges does not
/// call the file it was to replace its checkpoint.
#[test]
fn force_replaces_only_models_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 20_000);
    let thesis = d.join("thesis.txt");
    std::fs::write(&thesis, "my thesis draft\n").unwrap();
    let train = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(d)
            .args(["train", "c.txt", "--hidden", "8", "--epochs", "1", "-q"])
            .args(["--sample-len", "0", "--force"])
            .args(args);
        c
    };
    fails(
        &mut train(&["-o", "thesis.txt"]),
        2,
        "-o thesis.txt exists and is not an rnn-fast model: it is not replaced, even with --force",
    );
    fails(
        &mut train(&["--log", "thesis.txt"]),
        2,
        "--log thesis.txt exists and is not an rnn-fast log: it is not replaced, even with --force",
    );
    std::fs::write(d.join("x.best.safetensors"), "notes").unwrap();
    fails(
        &mut train(&["-o", "x.safetensors", "--val-frac", "0.2"]),
        2,
        "x.best.safetensors exists and is not an rnn-fast model",
    );
    assert_eq!(
        std::fs::read_to_string(&thesis).unwrap(),
        "my thesis draft\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("x.best.safetensors")).unwrap(),
        "notes"
    );
    assert!(!d.join("x.safetensors").exists());
    // A run refused by a later check (shards, memory) leaves an existing
    // log as it was, forced or not, and writes no new one beside it; it
    // says only why (no warnings for a run that does not start).
    let rows = "elapsed_s,epoch,chars_seen,train_loss,val_loss\n1,1,100,3.0,\n";
    std::fs::write(d.join("kept.csv"), rows).unwrap();
    for force in [true, false] {
        let mut c = bin();
        c.current_dir(d)
            .args(["train", "c.txt", "--shards", "20000", "--log", "kept.csv"])
            .args([
                "-o",
                "y.safetensors",
                "--lr-decay",
                "0.5",
                "--threads",
                "100000",
            ]);
        if force {
            c.arg("--force");
        }
        fails(&mut c, 2, "--shards 20000 cannot cut");
        assert_eq!(std::fs::read_to_string(d.join("kept.csv")).unwrap(), rows);
        assert!(!d.join("kept.1.csv").exists() && !d.join("y.safetensors").exists());
    }
    // A model is not a log either (its bytes are not text).
    let other = small_model(d, &text, "other.safetensors", "1");
    let before = std::fs::read(&other).unwrap();
    fails(
        &mut train(&["-o", "new.safetensors", "--log", "other.safetensors"]),
        2,
        "--log other.safetensors exists and is not an rnn-fast log: it is not replaced, even with --force",
    );
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(!d.join("new.safetensors").exists());
    // A model and a log of another run are replaced.
    std::fs::write(
        d.join("run.csv"),
        "elapsed_s,epoch,chars_seen,train_loss,val_loss\n",
    )
    .unwrap();
    ok(&mut train(&[
        "-o",
        "other.safetensors",
        "--seed",
        "9",
        "--log",
        "run.csv",
    ]));
    assert_ne!(std::fs::read(&other).unwrap(), before);
    assert!(
        std::fs::read_to_string(d.join("run.csv"))
            .unwrap()
            .lines()
            .count()
            > 1
    );
    // A diverging run with --force saved no checkpoint: it says so, and the
    // model it was to replace is as it was.
    let before = std::fs::read(&other).unwrap();
    let o = bin()
        .current_dir(d)
        .args(["train", "c.txt", "--optimizer", "sgd", "--lr", "1e38"])
        .args(["--clip", "inf", "--sample-len", "0", "--force"])
        .args(["--checkpoint-every", "1000", "-o", "other.safetensors"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("training diverged") && err.contains("nothing was saved"),
        "{err}"
    );
    assert!(!err.contains("checkpoint"), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[test]
fn a_second_run_on_the_same_output_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), "t.txt", 200_000);
    let out = dir.path().join("m.safetensors");
    let mut first = bin()
        .args([
            "train",
            "--hidden",
            "32",
            "--epochs",
            "1000",
            "--sample-len",
            "0",
            "--val-frac",
            "0.05",
            "--log",
            "run.csv",
            "-o",
        ])
        .arg(&out)
        .arg(&text)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(first.stdout.take().unwrap()));
    assert!(lines.any(|l| l.unwrap().contains("streams per pass")));
    fails(
        bin().args(["train", "--force", "-o"]).arg(&out).arg(&text),
        1,
        "another rnn-fast run is writing",
    );
    // Nor may a second run write the first's best model or its log.
    let second = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(dir.path())
            .args(["train", "t.txt", "--force", "--val-frac", "0"])
            .args(args);
        c
    };
    fails(
        &mut second(&["-o", "m.best.safetensors"]),
        1,
        "another rnn-fast run is writing m.best.safetensors",
    );
    fails(
        &mut second(&["-o", "n.safetensors", "--log", "run.csv"]),
        1,
        "another rnn-fast run is writing run.csv (it holds .run.csv.lock): wait for it to end, or choose another --log",
    );
    common::kill("-INT", first.id());
    lines.for_each(drop);
    assert_eq!(first.wait().unwrap().code(), Some(130));
    rnn_fast::checkpoint::load(&out).unwrap();
}

#[test]
fn bad_command_lines_exit_2_with_the_option_value_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 2_000);
    let model = small_model(d, &text, "m.safetensors", "1");
    let train = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(d)
            .args(["train", "c.txt", "-o", "out.safetensors"])
            .args(args);
        c
    };
    // A --val-frac that holds out, or leaves to train on, too little says
    // which, and what would do (it said "no validation text or no training
    // text", of a run that held out one character).
    fails(
        &mut train(&["--val-frac", "0.0009"]),
        2,
        "--val-frac 0.0009 holds out 1 character of the text's 2000, too few to score: give at least 0.001 (2 characters), or 0 to hold out none",
    );
    fails(
        &mut train(&["--val-frac", "0.9999"]),
        2,
        "--val-frac 0.9999 leaves 1 character of the text's 2000 to train on, too few: give less",
    );
    std::fs::write(d.join("abc.txt"), "abc").unwrap();
    fails(
        bin().current_dir(d).args([
            "train",
            "abc.txt",
            "--val-frac",
            "0.5",
            "-o",
            "abc.safetensors",
        ]),
        2,
        "--val-frac 0.5: the text's 3 characters are too few to hold any out (2 to score, 2 to train on): give 0",
    );
    fails(
        &mut train(&["--hidden", "16385"]),
        2,
        "--hidden must be between 1 and 16384, not 16385",
    );
    // `-` is no file name to write a model or a log to (`plot -o -` is
    // standard output).
    for option in ["-o", "--log"] {
        fails(
            bin().current_dir(d).args(["train", "c.txt", option, "-"]),
            2,
            &format!("{option} - : this output is written to a file, not to standard output"),
        );
    }
    assert!(!d.join("-").exists());
    fails(
        &mut train(&["--epochs", "1000000001"]),
        2,
        "--epochs must be between 1 and 1000000000",
    );
    fails(
        &mut train(&["--streams", "5000"]),
        2,
        "--streams must be between 1 and 4096",
    );
    fails(
        &mut train(&["--seq-len", "100001"]),
        2,
        "--seq-len must be between 1 and 100000",
    );
    fails(
        &mut train(&["--lr-decay", "1.5"]),
        2,
        "invalid value '1.5' for '--lr-decay <F>': must be a number above 0 and at most 1",
    );
    fails(
        &mut train(&["--shards", "5000"]),
        2,
        "--shards 5000 cannot cut 2000 characters: each shard needs at least 2 (at most 1999 shards",
    );
    fails(
        &mut train(&["--hidden", "-1"]),
        2,
        "invalid value '-1' for '--hidden <N>'",
    );
    for tiny in ["1e-50", "1e-40"] {
        fails(
            &mut train(&["--lr", tiny]),
            2,
            "'--lr <F>': is too small: a positive number from 1.1754944e-38 is needed",
        );
    }
    fails(&mut train(&["--lr", "1e39"]), 2, "'--lr <F>': is too large");
    fails(
        &mut train(&["--eval-every", "-3"]),
        2,
        "'--eval-every <N>': must be a whole number",
    );
    fails(
        bin().args(["sample"]).arg(&model).args(["--prime", ""]),
        2,
        "--prime must not be empty",
    );
    fails(
        bin().arg("sample"),
        2,
        "the following required arguments were not provided: <MODEL>",
    );
    fails(
        bin().args(["train", "--optimizer", "x"]),
        2,
        "[possible values: sgd, adagrad, adam]",
    );
    assert!(!d.join("out.safetensors").exists());
}

#[test]
fn resources_are_bounded_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 150_000);
    let start = Instant::now();
    fails(
        bin().current_dir(d).args([
            "train",
            "c.txt",
            "--hidden",
            "128",
            "--seq-len",
            "100000",
            "--shards",
            "4096",
            "--streams",
            "4096",
        ]),
        2,
        "GiB of memory",
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    // Threads beyond 4 per core are cut, with a warning.
    let o = ok(bin().current_dir(d).args([
        "train",
        "c.txt",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--threads",
        "100000",
        "-q",
    ]));
    assert!(
        stderr(&o).contains("--threads 100000 is more than 4 per core"),
        "{}",
        stderr(&o)
    );
    // Streams beyond the shards are cut to them, with a warning (bench:
    // `bench.rs: streams_beyond_the_shards_are_the_shards`).
    let streams = "--streams 8 is more than the 4 shards: training 4 streams per pass";
    let o = ok(bin().current_dir(d).args([
        "train",
        "c.txt",
        "-o",
        "s.safetensors",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--shards",
        "4",
        "--streams",
        "8",
    ]));
    assert!(stderr(&o).contains(streams), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("4 shards, 4 streams per pass"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Reports are at least one step apart: --eval-every 1 does not stall.
    let start = Instant::now();
    let o = ok(bin().current_dir(d).args([
        "train",
        "c.txt",
        "--hidden",
        "8",
        "--eval-every",
        "1",
        "--max-seconds",
        "1",
        "-q",
    ]));
    assert!(
        stderr(&o).contains("--eval-every 1 is less than one step"),
        "{}",
        stderr(&o)
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    drop(text);
}

#[test]
fn a_run_far_above_chance_is_stopped_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), "t.txt", 150_000);
    let out = dir.path().join("garbage.safetensors");
    fails(
        bin()
            .args([
                "train",
                "--optimizer",
                "sgd",
                "--lr",
                "100",
                "--max-seconds",
                "5",
                "-o",
            ])
            .arg(&out)
            .arg(&text),
        1,
        "far above chance",
    );
    assert!(!out.exists(), "the garbage model was saved");
}

/// A model far above chance on the held-out text is never kept as the
/// `.best` model, and says so once: a run that diverged between two
/// reports could show it on the held-out text first (the training loss
/// under 2 ln V), and that model was saved as the best and named kept
/// when the next report stopped the run. Here, deterministically, the
/// run starts from a model that gives the held-out text's only character
/// a logit 60 below the other's: the held-out loss is about 60 nats/char
/// while the training text, the other character, is predicted well.
#[test]
fn a_model_far_above_chance_on_held_out_text_is_not_kept_as_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("ab.txt");
    // 5% of 42,106 characters held out: exactly the 2,105 b's.
    let tail = "b".repeat(2_105);
    std::fs::write(&text, format!("b{}{tail}", "a".repeat(40_000))).unwrap();
    let start = dir.path().join("start.safetensors");
    let o = bin()
        .args(["train", "--hidden", "8", "--epochs", "1", "--val-frac", "0"])
        .args(["--sample-len", "0", "-q", "-o"])
        .arg(&start)
        .arg(&text)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut model = rnn_fast::checkpoint::load(&start).unwrap().model;
    let b = model.vocab.encode("b").unwrap()[0] as usize;
    let (by, _) = model
        .layout
        .offsets()
        .into_iter()
        .find(|(_, t)| t.name == "by")
        .unwrap();
    model.weights[by + b] -= 60.0;
    rnn_fast::checkpoint::save(&start, &model, None).unwrap();
    let out = dir.path().join("m.safetensors");
    let o = bin()
        .args(["train", "--init-from"])
        .arg(&start)
        .args([
            "--epochs",
            "1",
            "--val-frac",
            "0.05",
            "--eval-every",
            "10000",
        ])
        .args(["--sample-len", "0", "-o"])
        .arg(&out)
        .arg(&text)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    let reports: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch")).collect();
    assert!(reports.len() >= 4, "{stdout}");
    for line in &reports {
        let field =
            |at: usize| -> f64 { line.split_whitespace().nth(at).unwrap().parse().unwrap() };
        // ln 2 = 0.69: far above chance is above ln V + 3 = 3.69.
        assert!(field(3) < 1.0 && field(8) > 20.0, "{line}");
    }
    assert_eq!(
        stderr.matches("this model is not kept as the best").count(),
        1,
        "{stderr}"
    );
    assert!(out.is_file() && !dir.path().join("m.best.safetensors").exists());
    assert!(!stdout.contains("best validation loss"), "{stdout}");
}

/// An output named through a symbolic link is the file the link leads to:
/// checked, locked and replaced as that file, the link left a link (a
/// rename over the link made it a file of its own and left the run's file
/// stale). An output written over a lock file's name is not removed with
/// the lock.
#[test]
fn outputs_through_links_write_the_file_they_lead_to() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Over 100,000 characters: validation is held out, and a .best written.
    words_file(d, "c.txt", 120_000);
    std::fs::create_dir(d.join("runs")).unwrap();
    let link = |to: &str, name: &str| std::os::unix::fs::symlink(to, d.join(name)).unwrap();
    link("runs/r1.safetensors", "latest.safetensors");
    link("runs/r1.csv", "latest.csv");
    let train = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(d)
            .args(["train", "c.txt", "--hidden", "8", "-q", "--sample-len", "0"])
            .args(args);
        c
    };
    let is_link = |name: &str| rnn_fast::files::is_link(&d.join(name));
    ok(&mut train(&[
        "--epochs",
        "1",
        "-o",
        "latest.safetensors",
        "--log",
        "latest.csv",
    ]));
    assert!(is_link("latest.safetensors") && is_link("latest.csv"));
    let first = rnn_fast::checkpoint::load(&d.join("runs/r1.safetensors")).unwrap();
    assert!(
        std::fs::read_to_string(d.join("runs/r1.csv"))
            .unwrap()
            .lines()
            .count()
            > 1
    );
    // Resumed in place through the link: the file it leads to moves on.
    ok(&mut train(&[
        "--epochs",
        "2",
        "--resume",
        "latest.safetensors",
        "-o",
        "latest.safetensors",
    ]));
    assert!(is_link("latest.safetensors"));
    assert!(d.join("runs/r1.best.safetensors").exists());
    let second = rnn_fast::checkpoint::load(&d.join("runs/r1.safetensors")).unwrap();
    let chars = |l: &rnn_fast::checkpoint::Loaded| l.checkpoint.as_ref().unwrap().run.chars_seen;
    assert!(chars(&second) > chars(&first));
    // A link to the corpus is the corpus.
    link("c.txt", "to-corpus.safetensors");
    fails(
        &mut train(&["-o", "to-corpus.safetensors", "--force"]),
        2,
        "is the corpus",
    );
    // plot -o through a link writes the drawing it leads to.
    link("runs/loss.svg", "loss-link.svg");
    ok(bin()
        .current_dir(d)
        .args(["plot", "runs/r1.csv", "-o", "loss-link.svg"]));
    assert!(is_link("loss-link.svg"));
    assert!(
        std::fs::read_to_string(d.join("runs/loss.svg"))
            .unwrap()
            .contains("<svg")
    );
    // A link that leads to no file to replace (a pipe) is refused.
    link("/proc/self/fd/1", "to-stdout.safetensors");
    fails(
        train(&["-o", "to-stdout.safetensors"]).stdout(Stdio::piped()),
        2,
        "is a symbolic link rnn-fast does not write through (it leads to no file to replace",
    );
    // -o over the lock file of --log: the model stays when the lock goes.
    ok(&mut train(&[
        "--epochs",
        "1",
        "-o",
        ".l.csv.lock",
        "--log",
        "l.csv",
    ]));
    assert!(rnn_fast::checkpoint::load(&d.join(".l.csv.lock")).is_ok());
    // --log into the lock file of the .best model (a log is written in
    // place): the log stays when the lock goes, fresh and resumed.
    for args in [
        &["--epochs", "1", "-o", "b.safetensors"][..],
        &[
            "--epochs",
            "2",
            "--resume",
            "b.safetensors",
            "-o",
            "b.safetensors",
        ],
    ] {
        ok(&mut train(
            &[&["--log", ".b.best.safetensors.lock"][..], args].concat(),
        ));
        let log = std::fs::read_to_string(d.join(".b.best.safetensors.lock")).unwrap();
        assert!(log.starts_with(rnn_fast::plot::CSV_HEADER), "{log}");
        assert!(d.join("b.best.safetensors").exists());
    }
}

/// A new model and log take the umask (a private `umask 077` gives
/// rw-------, a group's `umask 002` rw-rw-r--), as any new file does.
#[test]
fn new_outputs_take_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let text = words_file(dir.path(), "c.txt", 20_000);
    for (umask, mode) in [("077", 0o600), ("002", 0o664)] {
        let out = dir.path().join(format!("m{umask}.safetensors"));
        let log = dir.path().join(format!("m{umask}.csv"));
        ok(Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" train \"$1\" --hidden 8 --epochs 1 -q -o \"$2\" --log \"$3\""))
            .arg(env!("CARGO_BIN_EXE_rnn-fast"))
            .arg(&text)
            .arg(&out)
            .arg(&log));
        for file in [&out, &log] {
            let got = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{} under umask {umask}: {got:o}", file.display());
        }
    }
}

/// A run in `dir` on a words text, saving `m.safetensors` every 0.05 s and
/// logging to `l.csv` for 2 s, under way: the run, its standard output
/// still to read, the model's path and the log's.
fn a_run_saving_often(
    dir: &Path,
) -> (
    std::process::Child,
    impl Iterator<Item = std::io::Result<String>>,
    PathBuf,
    PathBuf,
) {
    let text = words_file(dir, "c.txt", 200_000);
    let out = dir.join("m.safetensors");
    let log = dir.join("l.csv");
    let (child, lines) = common::start_training(
        bin()
            .args(["train", "--hidden", "16", "--sample-len", "0"])
            .args(["--epochs", "1000", "--max-seconds", "2"])
            .args(["--eval-every", "20000", "--log"])
            .arg(&log)
            .args(["--checkpoint-every", "0.05", "-o"])
            .arg(&out)
            .arg(&text),
    );
    (child, lines, out, log)
}

/// Waits for `child` to end, and checks that it kept the file at `-o` and
/// saved the run beside it (`m.1.safetensors`), saying so, exit 1; returns
/// its standard error.
fn saved_beside(child: std::process::Child, dir: &Path, why: &str) -> String {
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let beside = dir.join("m.1.safetensors");
    assert!(err.contains(why), "{err}");
    assert!(
        err.contains(&format!("the run is saved in {} instead", beside.display())),
        "{err}"
    );
    assert!(
        rnn_fast::checkpoint::load(&beside)
            .unwrap()
            .checkpoint
            .is_some()
    );
    err
}

/// A file put at `-o` (or `--log`) while the run trains is not replaced:
/// the checkpoints are skipped with a warning and the run is saved beside
/// it (the log goes on beside it, from its first row).
#[test]
fn a_file_put_at_the_output_during_the_run_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, lines, out, log) = a_run_saving_often(d);
    // Put in place by a rename, as an editor saves: notes at the model's
    // name, a text at the log's.
    let put = |content: &[u8], at: &Path| {
        let tmp = d.join("put.tmp");
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, at).unwrap();
    };
    put(b"my notes", &out);
    // The rows written before the log's name is taken are not lost.
    let started = Instant::now();
    let before = loop {
        let rows = std::fs::read_to_string(&log).unwrap_or_default();
        if rows.lines().count() >= 3 || started.elapsed() > Duration::from_secs(60) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(before.lines().count() >= 3, "{before}");
    let other = std::fs::read(d.join("c.txt")).unwrap();
    put(&other, &log);
    lines.for_each(drop);
    let err = saved_beside(child, d, "was put there during the run");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "my notes");
    assert_eq!(std::fs::read(&log).unwrap(), other);
    let beside = d.join("l.1.csv");
    assert!(
        err.contains(&format!(
            "--log {}: its name no longer holds this run's log (another file was put there, or it was removed): the whole log is in {}",
            log.display(),
            beside.display()
        )),
        "{err}"
    );
    let rows = std::fs::read_to_string(&beside).unwrap();
    assert!(rows.starts_with(&before), "{rows}");
    assert!(rows.lines().count() > before.lines().count(), "{rows}");
}

/// A model at `-o` or a `--log` written over in place during the run (`cat
/// other > model` keeps the inode) is not replaced either, nor written
/// into: the run is saved beside, the log goes on beside.
#[test]
fn files_written_over_in_place_during_the_run_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, lines, out, log) = a_run_saving_often(d);
    let started = Instant::now();
    while !out.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Written over through a handle, at the same length, with a time set
    // apart (so that a file system's coarse clock cannot hide it); again
    // if a checkpoint took the name in the meantime.
    let write_over = |path: &Path| loop {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        let notes = vec![b'n'; len];
        file.write_all(&notes).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        let id = rnn_fast::files::open_file_id(&file);
        if rnn_fast::files::file_id(path) == id {
            break (id, notes);
        }
    };
    let (model_id, model_notes) = write_over(&out);
    let (log_id, log_notes) = write_over(&log);
    lines.for_each(drop);
    let err = saved_beside(
        child,
        d,
        "another file was put there during the run (or the file was written over)",
    );
    assert_eq!(rnn_fast::files::file_id(&out), model_id);
    assert_eq!(std::fs::read(&out).unwrap(), model_notes);
    assert_eq!(rnn_fast::files::file_id(&log), log_id);
    assert_eq!(std::fs::read(&log).unwrap(), log_notes);
    let log_beside = d.join("l.1.csv");
    assert!(
        err.contains(&format!(
            "warning: --log {}: another program wrote into it during the run, and it is kept as it is: the log goes on in {}, from this report",
            log.display(),
            log_beside.display()
        )),
        "{err}"
    );
    let rows = std::fs::read_to_string(&log_beside).unwrap();
    assert!(rnn_fast::plot::parse(&rows).is_ok(), "{rows}");
}

#[test]
fn the_paths_really_written_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = words_file(d, "c.txt", 20_000);
    let corpus = std::fs::read(&text).unwrap();
    let train = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(d)
            .args([
                "train",
                "--hidden",
                "8",
                "--epochs",
                "1",
                "-q",
                "--sample-len",
                "0",
            ])
            .args(args);
        c
    };
    // A file named like the lock beside the output is locked, never removed.
    std::fs::write(d.join(".m.safetensors.lock"), &corpus).unwrap();
    ok(&mut train(&[".m.safetensors.lock", "-o", "m.safetensors"]));
    assert_eq!(
        std::fs::read(d.join(".m.safetensors.lock")).unwrap(),
        corpus
    );
    // The output moved beside an existing model: its .best is checked...
    std::fs::write(d.join("m.1.best.txt"), &corpus).unwrap();
    std::fs::copy(d.join("m.safetensors"), d.join("m.txt")).unwrap();
    fails(
        &mut train(&["m.1.best.txt", "-o", "m.txt", "--val-frac", "0.2"]),
        2,
        "m.1.best.txt is the corpus",
    );
    assert_eq!(std::fs::read(d.join("m.1.best.txt")).unwrap(), corpus);
    // ...an existing .best of another run is kept without --force (and a
    // file of another kind there, even with it)...
    std::fs::copy(d.join("m.safetensors"), d.join("y.best.safetensors")).unwrap();
    fails(
        &mut train(&["c.txt", "-o", "y.safetensors", "--val-frac", "0.2"]),
        2,
        "y.best.safetensors exists and is not this run's best model: it is kept; add --force to replace it",
    );
    std::fs::write(d.join("x.best.safetensors"), "precious").unwrap();
    fails(
        &mut train(&["c.txt", "-o", "x.safetensors", "--val-frac", "0.2"]),
        2,
        "x.best.safetensors exists and is not an rnn-fast model: it is not replaced, even with --force",
    );
    assert_eq!(
        std::fs::read_to_string(d.join("x.best.safetensors")).unwrap(),
        "precious"
    );
    // ...and -o and --log may not meet after the renaming.
    fails(
        &mut train(&["c.txt", "-o", "m.safetensors", "--log", "m.1.safetensors"]),
        2,
        "-o and --log name the same file (m.1.safetensors)",
    );
}

#[test]
fn a_signal_while_nothing_trains_ends_the_process_at_once() {
    // Blocked opening a FIFO no one writes: SIGTERM ends it, with one line.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let child = bin()
        .args(["train", "-q", "--sample-len", "0", "-o"])
        .arg(dir.path().join("m.safetensors"))
        .arg(&fifo)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    common::kill("-TERM", child.id());
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(o.status.code(), Some(143));
    let err = stderr(&o);
    assert!(err.contains("nothing was being trained"), "{err}");
}
