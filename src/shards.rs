//! Cutting a corpus into contiguous shards, each read in order in chunks, as
//! the article reads its one text.
//!
//! A corpus of N characters has N-1 predictions (character i+1 from those up
//! to i). Shard k owns a contiguous run of them, `ids[start_k ..= end_k]`,
//! with `end_k = start_{k+1}`: every prediction belongs to exactly one shard,
//! and the shards' sizes differ by at most one. A chunk of shard k is
//! `ids[p .. p + T_k + 1]` with `T_k = min(T, end_k - p)`; the next chunk
//! starts where it ended, so the hidden state carries across.

use std::ops::Range;

use crate::error::{Error, Result};

/// The shards of one corpus and each one's read position.
#[derive(Clone, Debug)]
pub struct Shards {
    bounds: Vec<(usize, usize)>,
    pos: Vec<usize>,
    seq_len: usize,
    drop_tail: bool,
}

impl Shards {
    /// The most shards a corpus of `n` characters cuts into: each needs at
    /// least 2 characters (one prediction), and shards may share a boundary
    /// character, so one per prediction.
    pub fn most(n: usize) -> usize {
        n.saturating_sub(1)
    }

    /// Refuses `count` shards where a corpus of `n` characters cannot give
    /// each of them two: checked before what the run needs of the machine,
    /// which is counted per shard.
    pub fn check_count(n: usize, count: usize) -> Result<()> {
        if count == 0 || count > Shards::most(n) {
            return Err(Error::Usage(format!(
                "--shards {count} cannot cut {n} characters: each shard needs at least 2 (at most {} shards for this text)",
                n.saturating_sub(1).max(1)
            )));
        }
        Ok(())
    }

    /// `count` shards over a corpus of `n` characters, read in chunks of up
    /// to `seq_len` predictions. With `drop_tail` a shard takes a chunk only
    /// while more than `seq_len` predictions remain, as the article's loop
    /// `while p + seq_len + 1 < N` does: its last partial chunk is never
    /// trained, and a split with no whole chunk at all, which would train
    /// nothing, is an error.
    pub fn new(n: usize, count: usize, seq_len: usize, drop_tail: bool) -> Result<Shards> {
        Shards::check_count(n, count)?;
        let predictions = n.saturating_sub(1);
        let (base, extra) = (predictions / count, predictions % count);
        let mut bounds = Vec::with_capacity(count);
        let mut start = 0;
        for k in 0..count {
            let end = start + base + usize::from(k < extra);
            bounds.push((start, end));
            start = end;
        }
        let pos = bounds.iter().map(|&(s, _)| s).collect();
        let shards = Shards {
            bounds,
            pos,
            seq_len,
            drop_tail,
        };
        if shards.chars_per_epoch() == 0 {
            let fix = match n.checked_sub(2).filter(|&most| most > 0) {
                Some(most) => {
                    format!("train with a --seq-len of at most {most}, or on a longer text")
                }
                None => "train on a longer text".into(),
            };
            return Err(Error::Usage(format!(
                "the article's loop (--preset article) trains only whole chunks of seq_len + 1 = {} characters (while p + seq_len + 1 < N), and the training text ({n} characters) holds none, so nothing would be trained: {fix}",
                seq_len + 1
            )));
        }
        Ok(shards)
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Always false: there is at least one shard.
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Predictions one epoch trains: all of them, or with `drop_tail` only
    /// the full chunks of each shard.
    pub fn chars_per_epoch(&self) -> usize {
        self.bounds
            .iter()
            .map(|&(start, end)| {
                let n = end - start;
                if self.drop_tail {
                    // Chunks are taken while more than seq_len predictions remain.
                    n.saturating_sub(1) / self.seq_len * self.seq_len
                } else {
                    n
                }
            })
            .sum()
    }

    /// Splits the shards, in order, into groups of `size` (the last may be
    /// smaller), each with its own read positions.
    pub fn groups(&self, size: usize) -> Vec<Shards> {
        assert!(size > 0);
        self.bounds
            .chunks(size)
            .map(|bounds| Shards {
                bounds: bounds.to_vec(),
                pos: bounds.iter().map(|&(s, _)| s).collect(),
                seq_len: self.seq_len,
                drop_tail: self.drop_tail,
            })
            .collect()
    }

    /// Predictions read so far this epoch, over all shards (with
    /// `drop_tail`, a finished shard counts its untrained tail too).
    pub fn consumed(&self) -> usize {
        self.pos
            .iter()
            .zip(&self.bounds)
            .map(|(&p, &(start, _))| p - start)
            .sum()
    }

    /// The read position of each shard: the index of its next chunk's first character.
    pub fn positions(&self) -> &[usize] {
        &self.pos
    }

    /// Restores read positions saved by [`Shards::positions`]; each must lie
    /// within its shard.
    pub fn set_positions(&mut self, pos: &[usize]) -> Result<()> {
        if pos.len() != self.len() {
            return Err(Error::Checkpoint(format!(
                "{} shard positions for {} shards",
                pos.len(),
                self.len()
            )));
        }
        for (k, (&p, &(start, end))) in pos.iter().zip(&self.bounds).enumerate() {
            if p < start || p > end {
                return Err(Error::Checkpoint(format!(
                    "shard {k}'s position {p} lies outside it ({start}..={end})"
                )));
            }
        }
        self.pos.copy_from_slice(pos);
        Ok(())
    }

    /// Back to the start of every shard (a new epoch).
    pub fn rewind(&mut self) {
        for (p, &(s, _)) in self.pos.iter_mut().zip(&self.bounds) {
            *p = s;
        }
    }

    /// True when no shard has a chunk left this epoch (the next
    /// [`Shards::next_chunks`] would return false).
    pub fn exhausted(&self) -> bool {
        self.pos
            .iter()
            .zip(&self.bounds)
            .all(|(&p, &(_, end))| self.next_steps(p, end) == 0)
    }

    /// Predictions of the next chunk of a shard read up to `p` and ending
    /// at `end` (0: none left this epoch).
    fn next_steps(&self, p: usize, end: usize) -> usize {
        let left = end - p;
        if self.drop_tail {
            if left > self.seq_len { self.seq_len } else { 0 }
        } else {
            left.min(self.seq_len)
        }
    }

    /// The next chunk of every shard as an id range (empty once a shard is
    /// done), advancing the positions; false when every shard is done.
    pub fn next_chunks(&mut self, ranges: &mut [Range<usize>]) -> bool {
        assert_eq!(ranges.len(), self.len());
        let mut any = false;
        for (k, range) in ranges.iter_mut().enumerate() {
            let (p, end) = (self.pos[k], self.bounds[k].1);
            let steps = self.next_steps(p, end);
            if steps == 0 {
                self.pos[k] = end;
                *range = end..end;
            } else {
                *range = p..p + steps + 1;
                self.pos[k] = p + steps;
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_says_when_next_chunks_would_find_nothing() {
        for drop_tail in [false, true] {
            let mut s = Shards::new(103, 3, 10, drop_tail).unwrap();
            let mut ranges = vec![0..0; 3];
            loop {
                let exhausted = s.exhausted();
                let more = s.next_chunks(&mut ranges);
                assert_eq!(exhausted, !more, "drop_tail {drop_tail}");
                if !more {
                    break;
                }
            }
        }
    }

    /// Every prediction of the corpus is made exactly once per epoch.
    #[test]
    fn chunks_cover_every_prediction_once() {
        for n in [2, 3, 10, 104, 1000, 1001] {
            for count in 1..=7.min(n - 1) {
                for seq_len in [1, 3, 40] {
                    let mut s = Shards::new(n, count, seq_len, false).unwrap();
                    let mut seen = vec![0u32; n];
                    let mut ranges = vec![0..0; count];
                    while s.next_chunks(&mut ranges) {
                        for r in ranges.iter().filter(|r| !r.is_empty()) {
                            assert!(r.len() >= 2 && r.len() <= seq_len + 1);
                            for count in &mut seen[r.start + 1..r.end] {
                                *count += 1;
                            }
                        }
                    }
                    assert_eq!(seen[0], 0);
                    assert!(seen[1..].iter().all(|&c| c == 1), "n {n} count {count}");
                }
            }
        }
    }

    /// The article's loop on its 104 characters with seq_len 40: two chunks,
    /// at 0 and 40, and the last 23 characters are never targets.
    #[test]
    fn drop_tail_is_the_articles_loop() {
        let mut s = Shards::new(104, 1, 40, true).unwrap();
        let mut r: [Range<usize>; 1] = Default::default();
        assert!(s.next_chunks(&mut r));
        assert_eq!(r[0], 0..41);
        assert!(s.next_chunks(&mut r));
        assert_eq!(r[0], 40..81);
        assert!(!s.next_chunks(&mut r));
        // 104 - 81 = 23 characters are never predicted.
        assert_eq!(s.chars_per_epoch(), 80);
        assert_eq!(
            Shards::new(104, 3, 40, false).unwrap().chars_per_epoch(),
            103
        );
    }

    /// Without a whole chunk, the article's loop trains nothing: refused.
    #[test]
    fn a_text_without_a_whole_chunk_is_an_error_under_drop_tail() {
        // 42 characters: one chunk of 41 at 0 (0 + 40 + 1 < 42).
        assert_eq!(Shards::new(42, 1, 40, true).unwrap().chars_per_epoch(), 40);
        for n in [2, 3, 26, 41] {
            let e = Shards::new(n, 1, 40, true).unwrap_err().to_string();
            assert!(
                e.contains(&format!("training text ({n} characters)")),
                "{e}"
            );
            assert!(e.contains("nothing would be trained"), "{e}");
        }
        let e = Shards::new(41, 1, 40, true).unwrap_err().to_string();
        assert!(
            e.ends_with("train with a --seq-len of at most 39, or on a longer text"),
            "{e}"
        );
        let e = Shards::new(2, 1, 40, true).unwrap_err().to_string();
        assert!(
            e.ends_with("nothing would be trained: train on a longer text"),
            "{e}"
        );
        // Without drop_tail the partial chunk is trained.
        assert_eq!(Shards::new(26, 1, 40, false).unwrap().chars_per_epoch(), 25);
    }

    #[test]
    fn too_many_shards_is_an_error() {
        assert!(Shards::new(5, 4, 2, false).is_ok());
        assert!(Shards::new(5, 5, 2, false).is_err());
    }
}
