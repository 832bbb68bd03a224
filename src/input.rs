//! Reading input files with bounds: a corpus, an evaluation text, a log or a
//! model file is checked against a size limit before it is read (a regular
//! file, by its size) or while it is read (a pipe or a device, which has no
//! size), so that `/dev/zero` or an endless pipe fails at once, with bounded
//! memory, instead of filling the machine's memory.
//!
//! A text is also checked as it arrives, chunk by chunk: the first NUL byte
//! or invalid UTF-8 byte stops the read. A UTF-16 or UTF-32 file is named as
//! such, with the command that converts it.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::Metadata;

use crate::error::{Error, Result};

/// The largest text accepted, in bytes: 4 GiB. In memory a corpus is its
/// text plus its character ids (`u16`, 2 bytes a character): up to 12 GiB for
/// a 4 GiB ASCII text, what a large machine holds; and one epoch over 4 Gi
/// characters is already hours of training on a CPU.
pub const MAX_TEXT_BYTES: u64 = 4 << 30;

/// The largest model file accepted, in bytes: 32 GiB. At the largest sizes
/// (H = 16,384, V = 65,535) the weights `2HV + H² + H + V` are 2.42 G floats,
/// 9.0 GiB; a checkpoint adds the optimizer's two slots of the same size, 27
/// GiB in all, and its header and hidden states fit in what is left. A
/// larger model (a stacked cell) is refused before it trains
/// ([`crate::resources::check`]), so that no run writes a checkpoint it
/// cannot read back.
pub const MAX_MODEL_BYTES: u64 = 32 << 30;

/// Bytes read at a time while a text is checked.
const CHUNK: u64 = 1 << 20;

/// Longest safetensors JSON header: the `safetensors` crate refuses longer.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// How many bytes at the start of a text the encoding check looks at.
const SNIFF: usize = 64;

/// The UTF-8 byte-order mark: accepted and stripped from a text.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a read stopped: the source failed, or its bytes are refused (the
/// reason, for one line).
pub(crate) enum Stop {
    Io(std::io::Error),
    Bad(String),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        Stop::Io(e)
    }
}

impl Stop {
    /// The error for the file at `path`.
    fn at(self, path: &Path) -> Error {
        let path = path.to_path_buf();
        match self {
            Stop::Io(source) => Error::Read { path, source },
            Stop::Bad(reason) => Error::Corpus { path, reason },
        }
    }

    /// The reason alone, for one line.
    pub(crate) fn reason(self) -> String {
        match self {
            Stop::Io(e) => e.to_string(),
            Stop::Bad(reason) => reason,
        }
    }
}

/// Opens `path` for reading: the file and, for a regular file, its size (a
/// pipe or a device has none). A directory is refused.
fn open(path: &Path) -> Result<(File, Option<u64>)> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(Error::Corpus {
            path: path.to_path_buf(),
            reason: "is a directory, not a file".into(),
        });
    }
    Ok((file, meta.is_file().then_some(meta.len())))
}

/// Reads the file at `path` whole, refusing one of more than `cap` bytes: a
/// regular file by its size, before reading; a pipe or a device by reading
/// at most `cap + 1` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let (file, size) = open(path)?;
    read_all(file, cap, size).map_err(|s| s.at(path))
}

/// Reads `r` to its end, refusing more than `cap` bytes; `size`, a regular
/// file's, is checked first and reserves the buffer.
fn read_all(r: impl Read, cap: u64, size: Option<u64>) -> Result<Vec<u8>, Stop> {
    check_size(size, cap)?;
    let mut bytes = Vec::with_capacity(size.unwrap_or(0) as usize);
    r.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(Stop::Bad(over_limit(None, cap)));
    }
    Ok(bytes)
}

/// Reads the safetensors file at `path`, of at most `cap` bytes. A regular
/// file is read as [`read_capped`] reads it; a pipe or a device only as far
/// as the file's own framing declares (see `read_framed`), so that
/// `/dev/zero` stops after 8 bytes.
pub fn read_safetensors(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let (file, size) = open(path)?;
    match size {
        Some(_) => read_all(file, cap, size),
        None => read_framed(file, cap),
    }
    .map_err(|s| s.at(path))
}

/// Reads a safetensors file from a stream: the 8-byte header length, the
/// JSON header, the tensors' data it declares, and one byte more (to show
/// trailing bytes). Where the framing does not parse, the read stops: the
/// bytes so far then fail to parse in the caller, with the parser's message.
fn read_framed(mut r: impl Read, cap: u64) -> Result<Vec<u8>, Stop> {
    let mut bytes = Vec::new();
    r.by_ref().take(8).read_to_end(&mut bytes)?;
    let Ok(prefix) = <[u8; 8]>::try_from(bytes.as_slice()) else {
        return Ok(bytes);
    };
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES.min(cap.saturating_sub(8)) {
        return Ok(bytes);
    }
    r.by_ref().take(n).read_to_end(&mut bytes)?;
    let Ok(header) = serde_json::from_slice::<Metadata>(&bytes[8..]) else {
        return Ok(bytes);
    };
    let total = (bytes.len() as u64).saturating_add(header.data_len() as u64);
    if total > cap {
        return Err(Stop::Bad(format!(
            "declares {total} bytes, over the limit of {}",
            amount(cap)
        )));
    }
    r.take(total - bytes.len() as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads the text file at `path`, of at most `cap` bytes, checking it as it
/// is read (see `text_from_reader`).
pub fn read_text(path: &Path, cap: u64) -> Result<String> {
    let (file, size) = open(path)?;
    text_from_reader(file, cap, size).map_err(|s| s.at(path))
}

/// Reads `r` as text, in chunks of [`CHUNK`] bytes, and stops at the first
/// problem: more than `cap` bytes (or a `size`, a regular file's, over it),
/// no bytes at all, a UTF-16 or UTF-32 start (see [`foreign_encoding`]), a
/// NUL byte (a binary file), a byte that is not UTF-8. Offsets are the
/// file's. Within a chunk a NUL is reported before bad UTF-8, as a binary
/// file is the likelier diagnosis. A UTF-8 byte-order mark is stripped: it
/// is not a character of the text (and `iconv` from UTF-16 writes one).
pub(crate) fn text_from_reader(r: impl Read, cap: u64, size: Option<u64>) -> Result<String, Stop> {
    check_size(size, cap)?;
    let mut r = r.take(cap.saturating_add(1));
    // Memory the machine refuses is an error, not an abort (`ulimit -v`).
    let no_room = |buf: &Vec<u8>, more: u64| {
        Stop::Bad(format!(
            "does not fit in memory: the machine refused room for {} bytes of text",
            buf.len() as u64 + more
        ))
    };
    let mut buf = Vec::new();
    let whole = size.unwrap_or(0);
    buf.try_reserve_exact(usize::try_from(whole).unwrap_or(usize::MAX))
        .map_err(|_| no_room(&buf, whole))?;
    // Bytes stripped from the front (a byte-order mark), and how much of
    // `buf` is checked: without NUL, valid UTF-8.
    let (mut skipped, mut valid, mut first) = (0, 0, true);
    loop {
        // A file of known size has its room from the reservation above;
        // past it (a pipe, a file that grew as it was read) room comes a
        // chunk at a time, doubling only where the size was not known, so
        // that a file's buffer is never twice the file.
        if buf.len() as u64 + skipped >= whole {
            if whole > 0 {
                buf.try_reserve_exact(CHUNK as usize)
            } else {
                buf.try_reserve(CHUNK as usize)
            }
            .map_err(|_| no_room(&buf, CHUNK))?;
        }
        let n = r.by_ref().take(CHUNK).read_to_end(&mut buf)?;
        if skipped + buf.len() as u64 > cap {
            return Err(Stop::Bad(over_limit(None, cap)));
        }
        if first {
            first = false;
            if buf.is_empty() {
                return Err(Stop::Bad("the file is empty".into()));
            }
            if let Some(reason) = foreign_encoding(&buf[..buf.len().min(SNIFF)]) {
                return Err(Stop::Bad(reason));
            }
            if buf.starts_with(UTF8_BOM) {
                buf.drain(..UTF8_BOM.len());
                skipped = UTF8_BOM.len() as u64;
                if buf.is_empty() && n < CHUNK as usize {
                    return Err(Stop::Bad(
                        "holds only a UTF-8 byte-order mark: it has no text".into(),
                    ));
                }
            }
        }
        if let Some(i) = buf[valid..].iter().position(|&b| b == 0) {
            return Err(Stop::Bad(format!(
                "looks like a binary file (NUL byte at byte offset {}), not text",
                skipped + (valid + i) as u64
            )));
        }
        match std::str::from_utf8(&buf[valid..]) {
            Ok(_) => valid = buf.len(),
            // An incomplete character at the end: the next chunk completes it.
            Err(e) if e.error_len().is_none() => valid += e.valid_up_to(),
            Err(e) => return Err(Stop::Bad(not_utf8(&buf, valid + e.valid_up_to(), skipped))),
        }
        if n < CHUNK as usize {
            break;
        }
    }
    // Checks again whole, which also refuses a character cut off by the end.
    String::from_utf8(buf).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        Stop::Bad(not_utf8(e.as_bytes(), offset, skipped))
    })
}

/// The message for the byte at `bytes[offset]`, not UTF-8, in a file whose
/// first `skipped` bytes were stripped.
fn not_utf8(bytes: &[u8], offset: usize, skipped: u64) -> String {
    format!(
        "is not valid UTF-8: byte 0x{:02x} at byte offset {} (convert the file to UTF-8 first)",
        bytes[offset],
        skipped + offset as u64
    )
}

/// Refuses a regular file's `size` over `cap`.
fn check_size(size: Option<u64>, cap: u64) -> Result<(), Stop> {
    match size {
        Some(size) if size > cap => Err(Stop::Bad(over_limit(Some(size), cap))),
        _ => Ok(()),
    }
}

/// The message for an input over `cap` bytes, of `size` bytes when known.
fn over_limit(size: Option<u64>, cap: u64) -> String {
    match size {
        Some(size) => format!("is {size} bytes, over the limit of {}", amount(cap)),
        None => format!(
            "is over the limit of {} (more than {cap} bytes read)",
            amount(cap)
        ),
    }
}

/// A byte count for a message: in whole GiB or MiB where it is one.
fn amount(bytes: u64) -> String {
    match bytes {
        b if b > 0 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b > 0 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

/// A text encoding that is not UTF-8 but is recognised, so that the error
/// can say how to convert the file.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Foreign {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Foreign {
    /// The encoding in words, and its `iconv` name.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Foreign::Utf16Le => ("UTF-16 (little-endian)", "UTF-16LE"),
            Foreign::Utf16Be => ("UTF-16 (big-endian)", "UTF-16BE"),
            Foreign::Utf32Le => ("UTF-32 (little-endian)", "UTF-32LE"),
            Foreign::Utf32Be => ("UTF-32 (big-endian)", "UTF-32BE"),
        }
    }

    /// Whether `head`, which has a NUL byte, reads as text in this encoding:
    /// every whole code unit is a tab, a newline, a carriage return or no
    /// other control character (and, in UTF-32, a character); more than
    /// three quarters of them have an all-NUL high half (ASCII, or a
    /// character of the Basic Multilingual Plane in UTF-32), and none an
    /// all-NUL low half.
    fn fits(self, head: &[u8]) -> bool {
        let (width, big) = match self {
            Foreign::Utf16Le => (2, false),
            Foreign::Utf16Be => (2, true),
            Foreign::Utf32Le => (4, false),
            Foreign::Utf32Be => (4, true),
        };
        let units: Vec<(&[u8], &[u8])> = head
            .chunks_exact(width)
            .map(|unit| {
                let (first, second) = unit.split_at(width / 2);
                if big {
                    (first, second)
                } else {
                    (second, first)
                }
            })
            .collect();
        let nul = |half: &[u8]| half.iter().all(|&b| b == 0);
        let text = |&(high, low): &(&[u8], &[u8])| {
            let c = high
                .iter()
                .chain(low)
                .fold(0, |v, &b| v << 8 | u32::from(b));
            let character = width == 2 || char::from_u32(c).is_some();
            character && (matches!(c, 9 | 10 | 13) || c >= 0x20)
        };
        let ascii = units.iter().filter(|(high, _)| nul(high)).count();
        !units.is_empty()
            && 4 * ascii > 3 * units.len()
            && !units.iter().any(|(_, low)| nul(low))
            && units.iter().all(text)
    }
}

/// The reason to refuse a text whose first bytes `head` are UTF-16 or
/// UTF-32, told by a byte-order mark or, without one, by where its NUL bytes
/// are; `None` otherwise (UTF-8, or left to the NUL and UTF-8 checks). Only
/// bytes that no accepted text holds (NUL, 0xFE, 0xFF) lead to a guess, so
/// UTF-8 text is never taken for another encoding.
fn foreign_encoding(head: &[u8]) -> Option<String> {
    let boms: [(&[u8], Foreign); 4] = [
        (b"\xFF\xFE\0\0", Foreign::Utf32Le),
        (b"\0\0\xFE\xFF", Foreign::Utf32Be),
        (b"\xFF\xFE", Foreign::Utf16Le),
        (b"\xFE\xFF", Foreign::Utf16Be),
    ];
    let (encoding, bom) = match boms.iter().find(|(bom, _)| head.starts_with(bom)) {
        Some(&(_, encoding)) => (encoding, true),
        None if head.contains(&0) => {
            let guess = [
                Foreign::Utf32Le,
                Foreign::Utf32Be,
                Foreign::Utf16Le,
                Foreign::Utf16Be,
            ]
            .into_iter()
            .find(|e| e.fits(head))?;
            (guess, false)
        }
        None => return None,
    };
    let (words, iconv) = encoding.names();
    let what = if bom {
        format!("is {words} text (it starts with a byte-order mark)")
    } else {
        format!("looks like {words} text (from where its first NUL bytes are)")
    };
    Some(format!(
        "{what}, not UTF-8: convert it first, e.g. iconv -f {iconv} -t UTF-8 FILE > FILE.utf8"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of `bytes` as [`text_from_reader`] reads it, with `cap`.
    fn text(bytes: &[u8], cap: u64) -> Result<String, String> {
        text_from_reader(bytes, cap, None).map_err(Stop::reason)
    }

    fn utf16(s: &str, big: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    fn utf32(s: &str, big: bool) -> Vec<u8> {
        s.chars()
            .flat_map(|c| {
                let c = u32::from(c);
                if big {
                    c.to_be_bytes()
                } else {
                    c.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn text_is_read_whole() {
        assert_eq!(text(b"hello", 100).unwrap(), "hello");
        let long = "ab猫\n".repeat(1_000_000);
        assert_eq!(text(long.as_bytes(), MAX_TEXT_BYTES).unwrap(), long);
    }

    #[test]
    fn an_empty_text_is_refused() {
        assert_eq!(text(b"", 100).unwrap_err(), "the file is empty");
        assert_eq!(
            text(UTF8_BOM, 100).unwrap_err(),
            "holds only a UTF-8 byte-order mark: it has no text"
        );
    }

    #[test]
    fn a_nul_byte_is_named_by_its_offset() {
        let e = text(b"ab\0cd", 100).unwrap_err();
        assert_eq!(
            e,
            "looks like a binary file (NUL byte at byte offset 2), not text"
        );
        // In a later chunk.
        let mut bytes = vec![b'a'; CHUNK as usize * 2 + 5];
        bytes[CHUNK as usize + 7] = 0;
        let e = text(&bytes, MAX_TEXT_BYTES).unwrap_err();
        assert!(e.contains(&format!("byte offset {}", CHUNK + 7)), "{e}");
        // Endless zeros stop in the first chunk.
        // Room the machine cannot give is an error, not an abort.
        let e = text_from_reader(&b"abc"[..], u64::MAX, Some(u64::MAX / 2))
            .unwrap_err()
            .reason();
        assert!(e.contains("does not fit in memory"), "{e}");
        let e = text_from_reader(std::io::repeat(0), MAX_TEXT_BYTES, None)
            .map_err(Stop::reason)
            .unwrap_err();
        assert!(e.contains("NUL byte at byte offset 0"), "{e}");
    }

    #[test]
    fn bad_utf8_is_named_by_its_byte_and_offset() {
        assert_eq!(
            text(b"caf\xe9 au lait", 100).unwrap_err(),
            "is not valid UTF-8: byte 0xe9 at byte offset 3 (convert the file to UTF-8 first)"
        );
        // A character started at the end of a chunk and not continued in the next.
        let mut bytes = vec![b'a'; CHUNK as usize + 10];
        bytes[CHUNK as usize - 1] = 0xe6;
        let e = text(&bytes, MAX_TEXT_BYTES).unwrap_err();
        assert!(
            e.contains(&format!("byte 0xe6 at byte offset {}", CHUNK - 1)),
            "{e}"
        );
        // A character cut off by the end of the file.
        let e = text(b"ab\xe6\x97", 100).unwrap_err();
        assert!(e.contains("byte 0xe6 at byte offset 2"), "{e}");
    }

    #[test]
    fn a_character_split_by_a_chunk_boundary_is_read() {
        for before in [1, 2, 3] {
            let mut s = "a".repeat(CHUNK as usize - before);
            s.push_str("猫𝄞é and more");
            assert_eq!(text(s.as_bytes(), MAX_TEXT_BYTES).unwrap(), s);
        }
    }

    #[test]
    fn utf16_and_utf32_are_named_with_or_without_a_byte_order_mark() {
        let s = "hello, world\n猫 and more text\n";
        let cases = [
            (
                [b"\xFF\xFE".as_slice(), &utf16(s, false)].concat(),
                "is UTF-16 (little-endian) text (it starts with a byte-order mark)",
                "UTF-16LE",
            ),
            (
                [b"\xFE\xFF".as_slice(), &utf16(s, true)].concat(),
                "is UTF-16 (big-endian) text",
                "UTF-16BE",
            ),
            (
                utf16(s, false),
                "looks like UTF-16 (little-endian) text",
                "UTF-16LE",
            ),
            (
                utf16(s, true),
                "looks like UTF-16 (big-endian) text",
                "UTF-16BE",
            ),
            (
                [b"\xFF\xFE\0\0".as_slice(), &utf32(s, false)].concat(),
                "is UTF-32 (little-endian) text",
                "UTF-32LE",
            ),
            (
                [b"\0\0\xFE\xFF".as_slice(), &utf32(s, true)].concat(),
                "is UTF-32 (big-endian) text",
                "UTF-32BE",
            ),
            (
                utf32(s, false),
                "looks like UTF-32 (little-endian) text",
                "UTF-32LE",
            ),
            (
                utf32(s, true),
                "looks like UTF-32 (big-endian) text",
                "UTF-32BE",
            ),
        ];
        for (bytes, start, iconv) in cases {
            let e = text(&bytes, 1000).unwrap_err();
            assert!(e.starts_with(start), "{e}");
            assert!(
                e.ends_with(&format!(
                    ", not UTF-8: convert it first, e.g. iconv -f {iconv} -t UTF-8 FILE > FILE.utf8"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn binary_and_utf8_text_are_not_taken_for_utf16() {
        // UTF-8 without NUL is never another encoding, whatever its bytes.
        for s in ["ab", "abcd", "猫猫猫猫", "\u{feff}\u{feff}", "𝄞𝄞"] {
            assert_eq!(foreign_encoding(s.as_bytes()), None, "{s}");
        }
        // A NUL in text, and binary files, are binary.
        for bytes in [
            b"abc\0defghijklmnop".as_slice(),
            b"ab\0\x01\x02cd",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
            &[0; 64],
            b"\x01\0\x02\0\x03\0",
        ] {
            assert_eq!(foreign_encoding(bytes), None, "{bytes:?}");
            assert!(text(bytes, 100).unwrap_err().contains("binary"));
        }
    }

    #[test]
    fn a_utf8_byte_order_mark_is_stripped() {
        assert_eq!(text(b"\xEF\xBB\xBFhello", 100).unwrap(), "hello");
        // Offsets stay the file's.
        let e = text(b"\xEF\xBB\xBFab\0", 100).unwrap_err();
        assert!(e.contains("byte offset 5"), "{e}");
        let e = text(b"\xEF\xBB\xBFab\xff", 100).unwrap_err();
        assert!(e.contains("byte 0xff at byte offset 5"), "{e}");
    }

    #[test]
    fn a_stream_over_the_cap_is_refused_after_cap_bytes() {
        let e = text_from_reader(std::io::repeat(b'a'), 10, None)
            .map_err(Stop::reason)
            .unwrap_err();
        assert_eq!(e, "is over the limit of 10 bytes (more than 10 bytes read)");
        assert_eq!(text(b"0123456789", 10).unwrap(), "0123456789");
        // The BOM counts.
        assert!(text(b"\xEF\xBB\xBF0123456789", 10).is_err());
        let e = read_all(std::io::repeat(0), 2 << 20, None)
            .map_err(Stop::reason)
            .unwrap_err();
        assert_eq!(
            e,
            "is over the limit of 2 MiB (more than 2097152 bytes read)"
        );
        assert_eq!(
            read_all(&b"0123456789"[..], 10, None).ok(),
            Some(b"0123456789".to_vec())
        );
    }

    #[test]
    fn a_regular_file_over_the_cap_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "0123456789a").unwrap();
        for e in [
            read_capped(&path, 10).unwrap_err(),
            read_text(&path, 10).unwrap_err(),
        ] {
            assert!(matches!(e, Error::Corpus { .. }));
            assert!(
                e.to_string()
                    .ends_with("f.txt: is 11 bytes, over the limit of 10 bytes"),
                "{e}"
            );
        }
        assert_eq!(read_capped(&path, 11).unwrap(), b"0123456789a");
        assert_eq!(read_text(&path, 11).unwrap(), "0123456789a");
        // The size alone decides: nothing is read.
        assert!(text_from_reader(std::io::empty(), 10, Some(11)).is_err());
    }

    #[test]
    fn a_directory_or_a_missing_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_capped(dir.path(), 10).unwrap_err();
        assert!(
            e.to_string().ends_with(": is a directory, not a file"),
            "{e}"
        );
        let e = read_text(&dir.path().join("none"), 10).unwrap_err();
        assert!(matches!(e, Error::Read { .. }), "{e}");
    }

    #[test]
    fn a_safetensors_stream_is_read_as_far_as_its_framing() {
        use safetensors::tensor::{Dtype, TensorView};
        let data = [0u8; 16];
        let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
        let file = safetensors::serialize([("a", view)], None).unwrap();
        let with_tail = [file.as_slice(), b"tail"].concat();
        let read = |bytes: &[u8], cap| read_framed(bytes, cap).map_err(Stop::reason);
        assert_eq!(read(&file, MAX_MODEL_BYTES).ok(), Some(file.clone()));
        // Trailing bytes: one is kept, for the parser to refuse.
        assert_eq!(
            read(&with_tail, MAX_MODEL_BYTES).unwrap().len(),
            file.len() + 1
        );
        // Endless zeros: a header of length 0, which does not parse.
        assert_eq!(
            read_framed(std::io::repeat(0), MAX_MODEL_BYTES)
                .ok()
                .map(|b| b.len()),
            Some(8)
        );
        // A header length past the limit is not read.
        let huge = [u64::MAX.to_le_bytes().as_slice(), &[b' '; 100]].concat();
        assert_eq!(read(&huge, MAX_MODEL_BYTES).unwrap().len(), 8);
        // Declared data over the cap is refused before it is read.
        let e = read(&file, file.len() as u64 - 1).unwrap_err();
        assert_eq!(
            e,
            format!(
                "declares {} bytes, over the limit of {} bytes",
                file.len(),
                file.len() - 1
            )
        );
    }

    #[test]
    fn the_largest_checkpoint_fits_under_the_model_limit() {
        let (h, v) = (
            crate::config::MAX_HIDDEN as u64,
            crate::vocab::MAX_VOCAB as u64,
        );
        let slot = 4 * (2 * h * v + h * h + h + v);
        assert!(3 * slot + (4 << 30) <= MAX_MODEL_BYTES, "{slot}");
    }
}
