//! Inputs that are not text, not UTF-8 or never end: every command fails at
//! once with one `error:` line naming the problem, and never fills memory.
//! Pipes still work where a file is expected.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a refused input may take to be refused.
const LIMIT: Duration = Duration::from_secs(10);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// What a finished run left: its exit code, standard output and error.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` in `dir`, `stdin` written to its standard
/// input; kills it and fails if it runs past [`LIMIT`].
fn run(dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rnn-fast"))
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().unwrap();
        // A refused input closes the pipe early: a failed write is expected.
        std::thread::spawn(move || drop(pipe.write_all(&bytes)))
    });
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            pipe.unwrap().read_to_string(&mut s).unwrap();
            s
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let code = wait_or_kill(&mut child, args);
    if let Some(w) = writer {
        w.join().unwrap();
    }
    Run {
        code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Waits for `child`; past [`LIMIT`] it is killed and the test fails.
fn wait_or_kill(child: &mut Child, args: &[&str]) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("rnn-fast {args:?} still ran after {LIMIT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that `args` fail with exit code 1 and one `error:` line holding
/// every one of `expected`.
fn refused(dir: &Path, args: &[&str], stdin: Option<Vec<u8>>, expected: &[&str]) {
    let r = run(dir, args, stdin);
    assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{args:?}: {}", r.stderr);
    for e in expected {
        assert!(lines[0].contains(e), "{args:?}: {e:?} not in {}", r.stderr);
    }
}

/// Trains a tiny model into `dir` and returns its path.
fn tiny_model(dir: &Path) -> String {
    let model = dir.join("m.safetensors");
    let model = model.to_str().unwrap();
    let corpus = repo("corpora/article.txt");
    let args = [
        "train",
        corpus.to_str().unwrap(),
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--sample-len",
        "0",
        "-q",
        "-o",
        model,
    ];
    let r = run(dir, &args, None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    model.to_string()
}

#[test]
fn endless_devices_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.safetensors");
    let out = out.to_str().unwrap();
    let binary = ["/dev/zero: looks like a binary file (NUL byte at byte offset 0), not text"];
    refused(d, &["train", "/dev/zero", "-o", out], None, &binary);
    // Random bytes: a NUL or a bad byte in the first chunk (or, once in
    // 30,000 runs, what looks like a byte-order mark).
    let r = run(d, &["train", "/dev/urandom", "-o", out], None);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: /dev/urandom: "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("at byte offset") || r.stderr.contains("iconv"),
        "{}",
        r.stderr
    );
    refused(
        d,
        &["bench", "--corpus", "/dev/zero", "--seconds", "0.1"],
        None,
        &binary,
    );
    refused(
        d,
        &["sample", "/dev/zero"],
        None,
        &["/dev/zero is not a valid rnn-fast model: not a safetensors file"],
    );
    refused(
        d,
        &["sample", "/dev/urandom"],
        None,
        &["/dev/urandom is not a valid rnn-fast model"],
    );
    refused(d, &["plot", "/dev/zero", "-o", out], None, &binary);
    let model = tiny_model(d);
    refused(d, &["eval", &model, "/dev/zero"], None, &binary);
    refused(
        d,
        &["train", "--init-from", "/dev/zero", "-o", out],
        None,
        &["/dev/zero is not a valid rnn-fast model"],
    );
    assert!(!Path::new(out).exists());
}

#[test]
fn utf16_and_utf32_files_are_named_with_the_way_to_convert_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read_to_string(repo("corpora/article.txt")).unwrap();
    let le16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let le32: Vec<u8> = text
        .chars()
        .flat_map(|c| u32::from(c).to_le_bytes())
        .collect();
    let bom = "(it starts with a byte-order mark)";
    let guess = "(from where its first NUL bytes are)";
    let cases = [
        (
            "le-bom.txt",
            [b"\xFF\xFE".as_slice(), &le16].concat(),
            "is UTF-16 (little-endian)",
            bom,
            "UTF-16LE",
        ),
        (
            "le.txt",
            le16,
            "looks like UTF-16 (little-endian)",
            guess,
            "UTF-16LE",
        ),
        (
            "be.txt",
            be16,
            "looks like UTF-16 (big-endian)",
            guess,
            "UTF-16BE",
        ),
        (
            "le32.txt",
            le32,
            "looks like UTF-32 (little-endian)",
            guess,
            "UTF-32LE",
        ),
    ];
    let out = d.join("out.safetensors");
    for (name, bytes, what, evidence, iconv) in cases {
        let path = d.join(name);
        std::fs::write(&path, bytes).unwrap();
        let path = path.to_str().unwrap();
        let expected = format!(
            "error: {path}: {what} text {evidence}, not UTF-8: convert it first, \
             e.g. iconv -f {iconv} -t UTF-8 FILE > FILE.utf8"
        );
        let r = run(d, &["train", path, "-o", out.to_str().unwrap()], None);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert_eq!(r.stderr, format!("{expected}\n"));
    }
}

#[test]
fn pipes_are_read_where_files_are_expected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model(d);
    let text = std::fs::read(repo("corpora/article.txt")).unwrap();
    // A text through a pipe.
    let r = run(d, &["eval", &model, "/dev/stdin"], Some(text.clone()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("predicted: all but the first), loss"),
        "{}",
        r.stdout
    );
    // A model through a pipe: read as far as its header declares.
    let bytes = std::fs::read(&model).unwrap();
    let r = run(
        d,
        &["sample", "/dev/stdin", "--len", "5"],
        Some(bytes.clone()),
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout.chars().count(), 6, "{}", r.stdout);
    // One byte too many, or too few, is not a model.
    for bad in [
        [bytes.as_slice(), b"x"].concat(),
        bytes[..bytes.len() - 1].to_vec(),
    ] {
        refused(
            d,
            &["sample", "/dev/stdin"],
            Some(bad),
            &["/dev/stdin is not a valid rnn-fast model"],
        );
    }
    // Zeros through a pipe stop at the first chunk.
    refused(
        d,
        &["eval", &model, "/dev/stdin"],
        Some(vec![0; 64 << 20]),
        &["NUL byte at byte offset 0"],
    );
}
