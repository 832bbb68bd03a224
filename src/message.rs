//! How messages are written: one line each, counts with their noun, and
//! paths as words a shell reads back.

/// `n` and `noun`, plural unless `n` is 1: "1 thread", "2 threads".
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` with its control characters written out (`\n`, `\r`, `\t`, and
/// `\x1b` and the like), so that a message that names a path holding one
/// (`$'no\nsuch.txt'`, a terminal's escape sequence) is still one line on
/// standard error, and shows the name instead of acting on the terminal.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(char::is_control) {
        return text.into();
    }
    let mut line = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&format!("\\x{:02x}", c as u32)),
            c => line.push(c),
        }
    }
    line.into()
}

/// `path` as one word of a command to paste into a shell, `./` before a
/// name that starts with `-` (else read as an option):
/// - as it is when it holds only characters no shell reads specially;
/// - in single quotes (a `'` inside written `'\''`) when it is UTF-8
///   without control characters;
/// - else in `$'...'`, each byte outside printable ASCII as `\xHH`, so a
///   name that is not UTF-8, or holds a line break, pastes as the same
///   bytes on one line (bash, zsh, ksh and POSIX.1-2024 shells read it).
pub fn shell_word(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = Vec::new();
    if path.as_os_str().as_bytes().starts_with(b"-") {
        bytes.extend_from_slice(b"./");
    }
    bytes.extend_from_slice(path.as_os_str().as_bytes());
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./+=:,@%".contains(c);
    match std::str::from_utf8(&bytes) {
        Ok(s) if !s.is_empty() && s.chars().all(plain) => s.to_string(),
        Ok(s) if !s.chars().any(char::is_control) => format!("'{}'", s.replace('\'', "'\\''")),
        _ => {
            let mut word = String::from("$'");
            for &b in &bytes {
                match b {
                    b'\'' | b'\\' => {
                        word.push('\\');
                        word.push(char::from(b));
                    }
                    b' '..=b'~' => word.push(char::from(b)),
                    _ => word.push_str(&format!("\\x{b:02x}")),
                }
            }
            word.push('\'');
            word
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_paste_back_as_the_same_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let word = |b: &[u8]| shell_word(std::path::Path::new(std::ffi::OsStr::from_bytes(b)));
        assert_eq!(word(b"d/m-1.safetensors"), "d/m-1.safetensors");
        assert_eq!(word(b"-m"), "./-m");
        assert_eq!(word(b""), "''");
        assert_eq!(word(b"my model's.st"), "'my model'\\''s.st'");
        assert_eq!(word("日本.st".as_bytes()), "'日本.st'");
        assert_eq!(word(b"a\nb'\\\xff.st"), "$'a\\x0ab\\'\\\\\\xff.st'");
        // bash reads each word back as the bytes it was made from.
        let Ok(bash) = std::process::Command::new("bash").arg("--version").output() else {
            eprintln!("skipped the bash read-back: no bash");
            return;
        };
        assert!(bash.status.success());
        for name in [
            &b"plain.st"[..],
            b"-x y",
            b"it's",
            b"\xfe\xff",
            b"two\nlines\r",
            "日本".as_bytes(),
        ] {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf %s {}", word(name)))
                .output()
                .unwrap();
            let want = if name.starts_with(b"-") {
                [&b"./"[..], name].concat()
            } else {
                name.to_vec()
            };
            assert_eq!(out.stdout, want, "{}", word(name));
        }
    }

    #[test]
    fn counts_take_their_noun() {
        assert_eq!(counted(1, "thread"), "1 thread");
        assert_eq!(counted(0, "shard"), "0 shards");
        assert_eq!(counted(2, "epoch"), "2 epochs");
    }

    #[test]
    fn messages_stay_one_line() {
        assert_eq!(one_line("cannot read a.txt"), "cannot read a.txt");
        assert_eq!(
            one_line("cannot read no\nsuch\r.txt"),
            "cannot read no\\nsuch\\r.txt"
        );
        // A terminal's escape sequence in a name is shown, not acted on.
        assert_eq!(
            one_line("cannot read \u{1b}[31mred\t\u{7f}\u{9b}.txt"),
            "cannot read \\x1b[31mred\\t\\x7f\\x9b.txt"
        );
    }
}
