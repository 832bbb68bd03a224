//! Writing files so that nothing is half written: atomic replacement, and
//! the checks made before a long run that its outputs can be written.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The directory a file is in (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` so that `path` is always either its old content
/// or all of the new: temporary file in the same directory, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = dir_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".rnn-fast-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| write_err(without_temp_path(e)))?;
    tmp.write_all(bytes).map_err(write_err)?;
    // A temporary file is private (0600); the result gets the permissions of
    // the file it replaces, or rw-r--r-- when new.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // (With the owner's read and write kept, so the new file can be
        // read back and replaced.)
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() | 0o600);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(write_err)?;
    }
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    // Make the rename itself durable (best effort where directories cannot be opened).
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().map_err(write_err)?;
    }
    Ok(())
}

/// Checks before a long run that `path` can be written: its directory exists
/// and accepts a new file.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = dir_of(path);
    if path.is_dir() {
        return Err(Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other("it is a directory"),
        });
    }
    tempfile::Builder::new()
        .prefix(".rnn-fast-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| Error::Write {
            path: path.to_path_buf(),
            source: without_temp_path(e),
        })
}

/// `e` without the name of the temporary file that `tempfile` adds to its
/// errors (`... at path "/dir/.rnn-fast-3vB0ZJ"`; its wrapper is private,
/// so the suffix is cut from the message): the message names the output
/// instead. Any other error as it is.
fn without_temp_path(e: std::io::Error) -> std::io::Error {
    let text = e.to_string();
    match text.rsplit_once(" at path \"") {
        Some((system, _)) => std::io::Error::new(e.kind(), system.to_string()),
        None => e,
    }
}

/// True when `a` and `b` both exist and are the same file (the same device
/// and inode, whatever the names: links, `./x` and `x`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// True when `path` names something that exists and is not a regular file
/// (a device such as `/dev/null`, a pipe, a directory): an output there
/// would replace it or write into it.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file())
}

/// The same path with its directory made absolute, so that two names of a
/// file not yet written can be compared.
pub fn absolute(path: &Path) -> std::path::PathBuf {
    let dir = std::fs::canonicalize(dir_of(path)).unwrap_or_else(|_| dir_of(path).to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// `path` with `infix` between its file stem and its extension
/// (`model.safetensors`, `.1` → `model.1.safetensors`; no stem: `model`),
/// byte for byte: a name that is not UTF-8 keeps its bytes.
pub fn with_infix(path: &Path, infix: &str) -> std::path::PathBuf {
    let mut name = path
        .file_stem()
        .unwrap_or(std::ffi::OsStr::new("model"))
        .to_os_string();
    name.push(infix);
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// The first free name beside `path`: `model.safetensors` →
/// `model.1.safetensors`, `model.2.safetensors`, ...
pub fn beside(path: &Path) -> std::path::PathBuf {
    (1u64..)
        .map(|n| with_infix(path, &format!(".{n}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("a free name")
}

/// An exclusive claim on an output path, held while a run may write it:
/// an advisory lock on `.NAME.lock` beside it. A second run on the same
/// output is refused while the first holds it; the lock goes with the
/// process, however it ends.
#[derive(Debug)]
pub struct OutputLock {
    path: std::path::PathBuf,
    /// True when this run created the lock file (and so removes it).
    created: bool,
    _file: std::fs::File,
}

impl OutputLock {
    /// Claims `output` (named by `option`), or says which run holds it.
    pub fn claim(output: &Path, option: &str) -> Result<OutputLock> {
        let mut name = std::ffi::OsString::from(".");
        name.push(output.file_name().unwrap_or(std::ffi::OsStr::new("model")));
        name.push(".lock");
        let path = output.with_file_name(name);
        // The error names the output the user gave, and the lock file as
        // the part of it that failed (an output name a few bytes under
        // the file system's limit has a lock name over it).
        let err = |e: std::io::Error| Error::Write {
            path: output.to_path_buf(),
            source: std::io::Error::new(e.kind(), format!("its lock file {}: {e}", path.display())),
        };
        // A new lock file is ours to remove at the end; an existing one
        // (left by a killed run, or any file of that name) is only locked,
        // never changed or removed.
        let (file, created) = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => (f, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (
                std::fs::OpenOptions::new()
                    .read(true)
                    .open(&path)
                    .map_err(err)?,
                false,
            ),
            Err(e) => return Err(err(e)),
        };
        match file.try_lock() {
            Ok(()) => Ok(OutputLock {
                path,
                created,
                _file: file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy(format!(
                "another rnn-fast run is writing {} (it holds {}): wait for it to end, or choose another {option}",
                output.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(err(e)),
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Best effort: a lock file left behind (after a kill) is harmless.
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn a_write_error_names_the_output_not_the_temporary_file() {
        let out = Path::new("/no/such/dir/m.safetensors");
        let e = write_atomic(out, b"x").unwrap_err().to_string();
        assert!(e.contains("/no/such/dir/m.safetensors"), "{e}");
        assert!(!e.contains(".rnn-fast-") && !e.contains("at path"), "{e}");
        let e = check_writable(out).unwrap_err().to_string();
        assert!(!e.contains(".rnn-fast-") && !e.contains("at path"), "{e}");
    }

    #[test]
    fn a_lock_error_names_the_output_and_its_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        // 250 bytes: a legal name whose lock name (256 bytes) is not.
        let out = dir.path().join(format!("{}.st", "m".repeat(247)));
        let e = OutputLock::claim(&out, "-o").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot write {}: its lock file ", out.display())),
            "{e}"
        );
        assert!(e.contains(".lock: "), "{e}");
    }

    #[test]
    fn names_beside_an_output_keep_its_bytes() {
        let p = |s: &[u8]| Path::new(std::ffi::OsStr::from_bytes(s)).to_path_buf();
        assert_eq!(
            with_infix(Path::new("d/model.safetensors"), ".1"),
            Path::new("d/model.1.safetensors")
        );
        assert_eq!(
            with_infix(Path::new("model"), ".best"),
            Path::new("model.best")
        );
        // A name that is not UTF-8 is not rewritten with U+FFFD.
        assert_eq!(with_infix(&p(b"m\xfe.st"), ".1"), p(b"m\xfe.1.st"));
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join(std::ffi::OsStr::from_bytes(b"m\xfe.st"));
        std::fs::write(&taken, "x").unwrap();
        assert_eq!(
            beside(&taken),
            dir.path().join(std::ffi::OsStr::from_bytes(b"m\xfe.1.st"))
        );
    }
}
