//! Reading a training text and encoding it as character ids.

use std::path::Path;

use crate::error::{Error, Result};
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
                "the text has {len} character(s); at least 2 are needed to learn a next character"
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

/// Reads a text file: it must exist, be a regular file, and hold text (see
/// [`text_from_bytes`]).
pub fn read_text(path: &Path) -> Result<String> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Err(Error::Corpus {
            path: path.to_path_buf(),
            reason: "is a directory, not a text file".into(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    text_from_bytes(bytes).map_err(|reason| Error::Corpus {
        path: path.to_path_buf(),
        reason,
    })
}

/// A file's bytes as text: non-empty, without NUL bytes (binary), valid
/// UTF-8; the error names the first bad byte by its offset.
pub fn text_from_bytes(bytes: Vec<u8>) -> std::result::Result<String, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(format!(
            "looks like a binary file (NUL byte at byte offset {offset}), not text"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let byte = e.as_bytes()[offset];
        format!(
            "is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} (convert the file to UTF-8 first)"
        )
    })
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
}
