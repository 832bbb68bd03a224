//! The vocabulary: the sorted set of Unicode scalar values of a text, as the
//! article's `sorted(set(text))`, and the mapping between characters and ids.
//!
//! Ids are `u16`, so a corpus costs two bytes per character in memory and a
//! vocabulary holds at most [`MAX_VOCAB`] characters (Japanese text needs a few
//! thousand).

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Largest vocabulary a model can have (ids are `u16`).
pub const MAX_VOCAB: usize = u16::MAX as usize;

/// Marks an ASCII character that is not in the vocabulary.
const ABSENT: u16 = u16::MAX;

/// Characters in id order, with a fast lookup from character to id.
#[derive(Clone, Debug)]
pub struct Vocab {
    chars: Vec<char>,
    ascii: [u16; 128],
    other: HashMap<char, u16>,
}

impl PartialEq for Vocab {
    fn eq(&self, other: &Self) -> bool {
        self.chars == other.chars
    }
}

impl Vocab {
    /// The sorted set of the characters of `text`.
    pub fn from_text(text: &str) -> Result<Vocab> {
        let mut seen_ascii = [false; 128];
        let mut other = std::collections::HashSet::new();
        for &byte in text.as_bytes() {
            if byte < 128 {
                seen_ascii[byte as usize] = true;
            }
        }
        if !text.is_ascii() {
            other.extend(text.chars().filter(|c| !c.is_ascii()));
        }
        let mut chars: Vec<char> = (0u8..128)
            .filter(|&b| seen_ascii[b as usize])
            .map(char::from)
            .collect();
        let mut rest: Vec<char> = other.into_iter().collect();
        rest.sort_unstable();
        chars.extend(rest);
        Vocab::from_chars(chars)
    }

    /// A vocabulary from characters in id order; they must be strictly
    /// increasing (sorted and distinct), as `from_text` makes them.
    pub fn from_chars(chars: Vec<char>) -> Result<Vocab> {
        if chars.is_empty() {
            return Err(Error::Text("the vocabulary is empty".into()));
        }
        if chars.len() > MAX_VOCAB {
            return Err(Error::Text(format!(
                "the text has {} distinct characters; rnn-fast supports at most {MAX_VOCAB}",
                chars.len()
            )));
        }
        if let Some(w) = chars.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::Text(format!(
                "the vocabulary is not sorted and distinct ({:?} before {:?})",
                w[0], w[1]
            )));
        }
        let mut ascii = [ABSENT; 128];
        let mut other = HashMap::new();
        for (id, &c) in chars.iter().enumerate() {
            let id = id as u16;
            if c.is_ascii() {
                ascii[c as usize] = id;
            } else {
                other.insert(c, id);
            }
        }
        Ok(Vocab {
            chars,
            ascii,
            other,
        })
    }

    /// Number of characters, V.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Always false: a vocabulary has at least one character.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u16> {
        if c.is_ascii() {
            let id = self.ascii[c as usize];
            (id != ABSENT).then_some(id)
        } else {
            self.other.get(&c).copied()
        }
    }

    /// The character of `id` (panics on an id the vocabulary never gave out).
    pub fn char(&self, id: u16) -> char {
        self.chars[id as usize]
    }

    /// Encodes `text`; a character outside the vocabulary is an error naming
    /// it and its position, and room the machine refuses for the ids (`ulimit
    /// -v`) an error too, not an abort.
    pub fn encode(&self, text: &str) -> Result<Vec<u16>> {
        let chars = text.chars().count();
        let mut ids = Vec::new();
        ids.try_reserve_exact(chars).map_err(|_| {
            Error::Text(format!(
                "does not fit in memory: the machine refused room for the {chars} characters of the text as ids ({} bytes)",
                chars.saturating_mul(size_of::<u16>())
            ))
        })?;
        for (pos, c) in text.chars().enumerate() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => {
                    return Err(Error::Text(format!(
                        "character {c:?} (character {} of the text, counting from 1) is not in the model's vocabulary of {} characters",
                        pos + 1,
                        self.len()
                    )));
                }
            }
        }
        Ok(ids)
    }

    /// Decodes ids back to text.
    pub fn decode(&self, ids: &[u16]) -> String {
        ids.iter().map(|&id| self.char(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_set_of_scalar_values() {
        let v = Vocab::from_text("banana 猫 ba\n").unwrap();
        assert_eq!(v.chars(), &['\n', ' ', 'a', 'b', 'n', '猫']);
        assert_eq!(v.id('猫'), Some(5));
        assert_eq!(v.id('z'), None);
        let ids = v.encode("an猫").unwrap();
        assert_eq!(ids, vec![2, 4, 5]);
        assert_eq!(v.decode(&ids), "an猫");
    }

    #[test]
    fn unknown_character_is_named() {
        let v = Vocab::from_text("abc").unwrap();
        let e = v.encode("abz").unwrap_err().to_string();
        assert!(
            e.contains("'z' (character 3 of the text, counting from 1)"),
            "{e}"
        );
    }

    #[test]
    fn unsorted_chars_are_rejected() {
        assert!(Vocab::from_chars(vec!['b', 'a']).is_err());
        assert!(Vocab::from_chars(vec!['a', 'a']).is_err());
        assert!(Vocab::from_chars(vec![]).is_err());
    }
}
