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
        .map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    // A temporary file is private (0600); the result gets the permissions of
    // the file it replaces, or rw-r--r-- when new.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
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
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}
