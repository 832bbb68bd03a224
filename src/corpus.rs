//! Reading a training text and encoding it as character ids.

use std::path::Path;

use crate::error::{Error, Result};
use crate::input::{self, MAX_TEXT_BYTES, Stop};
use crate::message::counted;
use crate::vocab::Vocab;

/// The article's demo text, built into the binary: what `rnn-fast train`
/// learns when no corpus is named.
pub const BUILTIN_TEXT: &str = include_str!("../corpora/article.txt");

/// Name shown for the built-in corpus.
pub const BUILTIN_NAME: &str = "corpora/article.txt (built in)";

/// A text as character ids, with its vocabulary.
#[derive(Clone, Debug)]
pub struct Corpus {
    pub vocab: Vocab,
    pub ids: Vec<u16>,
}

impl Corpus {
    /// Encodes `text` with the sorted set of its own characters; at least two
    /// characters are needed to have one prediction to learn.
    pub fn from_text(text: &str) -> Result<Corpus> {
        let vocab = Vocab::from_text(text)?;
        let ids = vocab.encode(text)?;
        Corpus::check_len(ids.len())?;
        Ok(Corpus { vocab, ids })
    }

    /// Encodes `text` with a given vocabulary (to fine-tune or evaluate a model).
    pub fn with_vocab(text: &str, vocab: &Vocab) -> Result<Corpus> {
        let ids = vocab.encode(text)?;
        Corpus::check_len(ids.len())?;
        Ok(Corpus {
            vocab: vocab.clone(),
            ids,
        })
    }

    fn check_len(len: usize) -> Result<()> {
        if len < 2 {
            return Err(Error::Text(format!(
                "the text has {}; at least 2 are needed (a character and the next one, to learn or score)",
                counted(len, "character")
            )));
        }
        Ok(())
    }

    /// Number of characters, N.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Always false: a corpus has at least two characters.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Reads a text file: it must exist, not be a directory, and hold at most
/// [`MAX_TEXT_BYTES`] of UTF-8 text, checked as it is read, so that
/// `/dev/zero` fails at once (see `input::text_from_reader`).
pub fn read_text(path: &Path) -> Result<String> {
    input::read_text(path, MAX_TEXT_BYTES)
}

/// A file's bytes as text, with the checks of [`read_text`]: non-empty, not
/// UTF-16 or UTF-32, without NUL bytes (binary), valid UTF-8 (a UTF-8
/// byte-order mark is stripped); the error names the first bad byte by its
/// offset.
pub fn text_from_bytes(bytes: Vec<u8>) -> std::result::Result<String, String> {
    let size = Some(bytes.len() as u64);
    input::text_from_reader(bytes.as_slice(), MAX_TEXT_BYTES, size).map_err(Stop::reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_text_is_the_articles() {
        assert_eq!(BUILTIN_TEXT.chars().count(), 104);
        assert!(BUILTIN_TEXT.starts_with("hello rnn!"));
        let c = Corpus::from_text(BUILTIN_TEXT).unwrap();
        assert_eq!(c.len(), 104);
        assert_eq!(c.vocab.decode(&c.ids), BUILTIN_TEXT);
    }

    #[test]
    fn one_character_is_too_short() {
        assert!(Corpus::from_text("a").is_err());
        assert!(Corpus::from_text("ab").is_ok());
    }

    /// `bytes` written to a file, read back with [`read_text`].
    fn read_back(bytes: &[u8]) -> Result<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, bytes).unwrap();
        read_text(&path)
    }

    #[test]
    fn a_text_file_is_read_and_checked() {
        assert_eq!(read_back("hello 猫\n".as_bytes()).unwrap(), "hello 猫\n");
        assert_eq!(read_back(b"\xEF\xBB\xBFhello").unwrap(), "hello");
        let reason = |bytes: &[u8]| match read_back(bytes).unwrap_err() {
            Error::Corpus { reason, .. } => reason,
            other => panic!("{other}"),
        };
        assert_eq!(reason(b""), "the file is empty");
        assert_eq!(
            reason(b"ab\0cd"),
            "looks like a binary file (NUL byte at byte offset 2), not text"
        );
        assert_eq!(
            reason(b"caf\xe9"),
            "is not valid UTF-8: byte 0xe9 at byte offset 3 (convert the file to UTF-8 first)"
        );
        assert!(reason(b"\xFF\xFEh\0i\0").starts_with("is UTF-16 (little-endian) text"));
        assert!(reason(b"\0h\0i\0!").starts_with("looks like UTF-16 (big-endian) text"));
        assert!(reason(b"h\0\0\0i\0\0\0").starts_with("looks like UTF-32 (little-endian) text"));
        // A chunk boundary inside a character, in a file.
        let mut long = "a".repeat((1 << 20) - 1);
        long.push_str("é!");
        assert_eq!(read_back(long.as_bytes()).unwrap(), long);
        let mut bad = long.clone().into_bytes();
        bad[1 << 20] = b'x';
        assert!(reason(&bad).contains(&format!("byte 0xc3 at byte offset {}", (1 << 20) - 1)));
    }

    #[test]
    fn bytes_are_checked_as_files_are() {
        assert_eq!(text_from_bytes(b"\xEF\xBB\xBFab".to_vec()).unwrap(), "ab");
        assert_eq!(
            text_from_bytes(Vec::new()).unwrap_err(),
            "the file is empty"
        );
        assert!(
            text_from_bytes(b"a\0".to_vec())
                .unwrap_err()
                .contains("UTF-16")
        );
        assert!(
            text_from_bytes(b"ab\0".to_vec())
                .unwrap_err()
                .contains("binary")
        );
    }
}
