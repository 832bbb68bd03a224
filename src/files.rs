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

/// `path`, or the file it leads to when it is a symbolic link (a name yet
/// to be made, for a link to a file that does not exist): an output written
/// through a link replaces or makes that file, not the link. Where the
/// chain cannot be followed to a name (a link to a pipe or a deleted file,
/// or one the kernel would not follow for this user: see `may_follow`),
/// the result is still a link, which [`write_atomic`] refuses.
pub fn through_links(path: &Path) -> std::path::PathBuf {
    // Followed by hand, at most 40 links (the kernel's own limit).
    let mut end = path.to_path_buf();
    for _ in 0..40 {
        if !may_follow(&end) {
            return end;
        }
        match std::fs::read_link(&end) {
            Ok(to) => end = end.parent().unwrap_or(Path::new("")).join(to),
            Err(_) => break,
        }
    }
    if std::fs::metadata(path).is_ok() && std::fs::symlink_metadata(&end).is_err() {
        return path.to_path_buf();
    }
    end
}

/// Whether the kernel would follow `link` for this process
/// (`fs.protected_symlinks`): not a link in a sticky folder that anyone may
/// write (`/tmp`) owned neither by this user nor by the folder's owner, the
/// link another user may have planted there.
fn may_follow(link: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::metadata(dir_of(link));
    let (Ok(link), Ok(dir)) = (std::fs::symlink_metadata(link), dir) else {
        return true;
    };
    let shared = dir.mode() & 0o1002 == 0o1002;
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    !shared || link.uid() == dir.uid() || Some(link.uid()) == me
}

/// True when `path` is a symbolic link (not followed).
pub fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Writes `bytes` to `path` so that `path` is always either its old content
/// or all of the new (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |mut file| file.write_all(bytes))
}

/// Writes to `path` what `write` writes to the file it is given, so that
/// `path` is always either its old content or all of the new: temporary
/// file in the same directory, fsync, rename, fsync of the directory.
/// Through a symbolic link, the file it leads to is replaced.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    write_atomic_unless(path, write, || Ok(())).map(drop)
}

/// [`write_atomic_with`], where `refuse` is asked just before the rename
/// (after the writing and the fsync, so microseconds before) whether
/// `path` may still be replaced: its error keeps the old file and is the
/// write's error. Returns the version of the file written, taken before
/// the rename (which keeps it), so that a write at `path` after the rename
/// is not taken for this one.
pub fn write_atomic_unless(
    path: &Path,
    write: impl FnOnce(&std::fs::File) -> std::io::Result<()>,
    refuse: impl FnOnce() -> std::io::Result<()>,
) -> Result<FileVersion> {
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source: without_temp_path(source),
    };
    let target = through_links(path);
    if is_link(&target) {
        return Err(write_err(std::io::Error::other(
            "it is a symbolic link that leads to no file to replace (a pipe, a deleted file, or a link in a shared folder planted by another user)",
        )));
    }
    let path = target.as_path();
    let dir = dir_of(path);
    // The result gets the permissions of the file it replaces (with the
    // owner's read and write kept, so that it can be read back and
    // replaced); a new file is rw-rw-rw- less the umask, as the kernel
    // makes any new file (a temporary file is otherwise private, 0600).
    use std::os::unix::fs::PermissionsExt;
    let replaced_mode = std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() | 0o600);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".rnn-fast-").suffix(".tmp");
    if replaced_mode.is_none() {
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(dir).map_err(write_err)?;
    write(tmp.as_file()).map_err(write_err)?;
    if let Some(mode) = replaced_mode {
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(write_err)?;
    }
    tmp.as_file().sync_all().map_err(write_err)?;
    refuse().map_err(write_err)?;
    let written = tmp.as_file().metadata().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    // Make the rename itself durable, as far as the directory allows: the
    // file is in place, whole and flushed, so a failure here is not a
    // failure to save (taken for one, the run would go on as if the file
    // held what was there before); a crash could at most undo the rename,
    // which leaves the previous file, whole.
    sync_dir(dir);
    Ok(version(&written))
}

/// Flushes the directory `dir`'s entries to disk, as far as it can: where a
/// directory cannot be opened or flushed (some file systems refuse), the
/// names written there are as durable as the system makes them.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes to a new file in `dir` what `write` writes to it, under a name no
/// file had (made with `O_EXCL`, so never through a link), from `like`'s
/// file name: `.../rnn-fast-XXXXXX-m.safetensors`, private to this user.
/// Returns its path.
pub fn write_new_with(
    dir: &Path,
    like: &Path,
    write: impl FnOnce(&std::fs::File) -> std::io::Result<()>,
) -> Result<std::path::PathBuf> {
    let mut suffix = std::ffi::OsString::from("-");
    suffix.push(like.file_name().unwrap_or(std::ffi::OsStr::new("model")));
    let err = |source| Error::Write {
        path: dir.to_path_buf(),
        source: without_temp_path(source),
    };
    let file = tempfile::Builder::new()
        .prefix("rnn-fast-")
        .suffix(&suffix)
        .tempfile_in(dir)
        .map_err(err)?;
    write(file.as_file()).map_err(err)?;
    file.as_file().sync_all().map_err(err)?;
    let (_, path) = file.keep().map_err(|e| err(e.error))?;
    // Its name made durable too: this copy may be the run's only one.
    sync_dir(dir);
    Ok(path)
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

/// Checks before a long run that `count` more files can be open at once
/// (`/dev/null` opened that many times): under a low limit on open files
/// (`ulimit -n`) a run that passed [`check_writable`] before it held its
/// locks and log would train and then fail to save. Only the limit's errors
/// count (any other, such as a system without `/dev/null`, says nothing of
/// it).
pub fn check_can_open(path: &Path, count: usize) -> Result<()> {
    let open: std::io::Result<Vec<_>> = (0..count)
        .map(|_| std::fs::File::open("/dev/null"))
        .collect();
    match open {
        Err(e) if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) => Err(Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                e.kind(),
                format!(
                    "{e}, with this run's other files open: raise the limit on open files (ulimit -n)"
                ),
            ),
        }),
        _ => Ok(()),
    }
}

/// The error of an open past the process's limit on open files (Linux).
const EMFILE: i32 = 24;
/// The error of an open past the system's limit on open files (Linux).
const ENFILE: i32 = 23;

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

/// A file's identity: its device and inode.
pub type FileId = (u64, u64);

/// The identity in `m`.
fn identity(m: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

/// The identity of what `path` names itself (a link not followed), if
/// anything.
pub fn file_id(path: &Path) -> Option<FileId> {
    std::fs::symlink_metadata(path).ok().map(|m| identity(&m))
}

/// One content of a file: its identity, length and modification time (to
/// the nanosecond), which tell a file written over in place (`cat other >
/// path` keeps the inode) from the one last seen there.
pub type FileVersion = (FileId, u64, i64, i64);

/// The version of what `path` names itself (a link not followed), if
/// anything.
pub fn file_version(path: &Path) -> Option<FileVersion> {
    std::fs::symlink_metadata(path).ok().map(|m| version(&m))
}

/// The version in `m`.
fn version(m: &std::fs::Metadata) -> FileVersion {
    use std::os::unix::fs::MetadataExt;
    (identity(m), m.len(), m.mtime(), m.mtime_nsec())
}

/// The version of the open `file`, whatever name it has now, if any.
pub fn open_file_version(file: &std::fs::File) -> Option<FileVersion> {
    file.metadata().ok().map(|m| version(&m))
}

/// The identity of the open `file`, whatever name it has now, if any.
pub fn open_file_id(file: &std::fs::File) -> Option<FileId> {
    file.metadata().ok().map(|m| identity(&m))
}

/// True when `a` and `b` both exist and are the same file (the same device
/// and inode, whatever the names: links, `./x` and `x`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => identity(&a) == identity(&b),
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

/// The first free name beside `path` (`model.safetensors` →
/// `model.1.safetensors`, `model.2.safetensors`, ...), claimed for this
/// run (see [`OutputLock`], named by `option` in its errors): free when no
/// file holds it and no other run has claimed it. A run holds the claim on
/// the name it picked from then on, before it writes the file, so that
/// another run picking a name meanwhile (or the rows a resumed run moves
/// out of its log) takes the next one instead of writing over it.
pub fn claim_beside(path: &Path, option: &str) -> Result<(std::path::PathBuf, OutputLock)> {
    let taken = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    let mut n = 0u64;
    loop {
        n += 1;
        let name = with_infix(path, &format!(".{n}"));
        if taken(&name) {
            continue;
        }
        match OutputLock::claim(&name, option) {
            // Free once claimed too: a file may have come between.
            Ok(lock) if !taken(&name) => return Ok((name, lock)),
            Ok(_) | Err(Error::Busy(_)) => continue,
            // A lock file this user cannot open (another user's, in a
            // shared folder) claims its name as well.
            Err(_) if taken(&OutputLock::path_of(&name)) => continue,
            Err(e) => return Err(e),
        }
    }
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
    file: std::fs::File,
}

impl OutputLock {
    /// The lock file of `output`: `.NAME.lock` beside it.
    fn path_of(output: &Path) -> std::path::PathBuf {
        let mut name = std::ffi::OsString::from(".");
        name.push(output.file_name().unwrap_or(std::ffi::OsStr::new("model")));
        name.push(".lock");
        output.with_file_name(name)
    }

    /// Claims `output` (named by `option`), or says which run holds it.
    pub fn claim(output: &Path, option: &str) -> Result<OutputLock> {
        let path = OutputLock::path_of(output);
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
            Ok(()) => {
                if created && let Some(id) = open_file_id(&file) {
                    held_claims().push((path.clone(), id));
                }
                Ok(OutputLock {
                    path,
                    created,
                    file,
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy(format!(
                "another rnn-fast run is writing {} (it holds {}): wait for it to end, or choose another {option}",
                output.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(err(e)),
        }
    }
}

/// The lock files this process made and holds, each with its file's id:
/// what [`release_claims`] removes where the process ends without
/// unwinding (a signal's "now").
static HELD_CLAIMS: std::sync::Mutex<Vec<(std::path::PathBuf, FileId)>> =
    std::sync::Mutex::new(Vec::new());

fn held_claims() -> std::sync::MutexGuard<'static, Vec<(std::path::PathBuf, FileId)>> {
    HELD_CLAIMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes the lock files this process made and still holds, as their
/// [`OutputLock`]s would on drop (each only while its name holds the empty
/// file made): for a process about to end at once, with `exit`, which
/// runs no destructors.
pub fn release_claims() {
    for (path, id) in held_claims().drain(..) {
        remove_lock(&path, id);
    }
}

/// Removes the lock file `path` while its name still holds the file `id`
/// this run made, and that file is still empty as made: an output written
/// over that name (`-o .m.csv.lock`) or into it (`--log
/// .m.best.safetensors.lock`, the lock of the `.best` model, which a log
/// opens in place) is not a lock. Best effort: a lock file left behind
/// (after a kill) is harmless.
fn remove_lock(path: &Path, id: FileId) {
    let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
    if file_id(path) == Some(id) && empty {
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        held_claims().retain(|(path, _)| *path != self.path);
        if self.created
            && let Some(id) = open_file_id(&self.file)
        {
            remove_lock(&self.path, id);
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
    fn a_new_file_takes_the_umask_and_a_replaced_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let new = dir.path().join("new.st");
        write_atomic(&new, b"x").unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        match status.lines().find_map(|l| l.strip_prefix("Umask:")) {
            Some(umask) => {
                let umask = u32::from_str_radix(umask.trim(), 8).unwrap();
                assert_eq!(mode(&new), 0o666 & !umask);
            }
            None => eprintln!("skipped the umask check: no Umask in /proc/self/status"),
        }
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&new, b"y").unwrap();
        assert_eq!(mode(&new), 0o640);
    }

    #[test]
    fn a_write_through_a_link_replaces_the_file_it_leads_to() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("runs")).unwrap();
        let file = dir.path().join("runs/r1.st");
        std::fs::write(&file, "old").unwrap();
        let link = dir.path().join("latest.st");
        std::os::unix::fs::symlink("runs/r1.st", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(is_link(&link));
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        // A link to a file yet to be made makes that file.
        let ahead = dir.path().join("ahead.st");
        std::os::unix::fs::symlink("runs/r2.st", &ahead).unwrap();
        write_atomic(&ahead, b"r2").unwrap();
        assert!(is_link(&ahead));
        assert_eq!(std::fs::read(dir.path().join("runs/r2.st")).unwrap(), b"r2");
        assert_eq!(through_links(&file), file);
        assert_eq!(through_links(&link), dir.path().join("runs/r1.st"));
    }

    /// As the kernel's `protected_symlinks`: a link in a shared sticky
    /// folder (`/tmp`) planted by another user is not followed, and a write
    /// to it is refused (it would replace the file it leads to).
    #[test]
    fn a_link_planted_in_a_shared_folder_is_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("tmp");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let victim = dir.path().join("model.st");
        std::fs::write(&victim, "the victim's model").unwrap();
        let planted = shared.join("m.st");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        // Ours, it is followed.
        assert_eq!(through_links(&planted), victim);
        if std::os::unix::fs::lchown(&planted, Some(54_321), None).is_err() {
            eprintln!("skipped the planted link: changing a link's owner needs root");
            return;
        }
        assert_eq!(through_links(&planted), planted);
        assert!(write_atomic(&planted, b"x").is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's model");
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
    fn a_lock_leaves_a_file_written_over_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("l.csv");
        let lock = OutputLock::claim(&log, "--log").unwrap();
        let lock_name = dir.path().join(".l.csv.lock");
        write_atomic(&lock_name, b"a model").unwrap();
        drop(lock);
        assert_eq!(std::fs::read(&lock_name).unwrap(), b"a model");
        // Its own file it removes.
        drop(OutputLock::claim(&log, "--log").unwrap());
        let _ = std::fs::remove_file(&lock_name);
        drop(OutputLock::claim(&log, "--log").unwrap());
        assert!(!lock_name.exists());
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
            claim_beside(&taken, "-o").unwrap().0,
            dir.path().join(std::ffi::OsStr::from_bytes(b"m\xfe.1.st"))
        );
    }

    /// A name beside an output that another run has claimed, and not yet
    /// written, is not picked again: the next free one is.
    #[test]
    fn a_name_beside_claimed_by_another_run_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.csv");
        std::fs::write(&log, "x").unwrap();
        let (first, held) = claim_beside(&log, "--log").unwrap();
        assert_eq!(first, dir.path().join("run.1.csv"));
        assert!(!first.exists());
        let (second, _) = claim_beside(&log, "--log").unwrap();
        assert_eq!(second, dir.path().join("run.2.csv"));
        // A file there is passed over too; a claim given up frees the name.
        std::fs::write(dir.path().join("run.2.csv"), "y").unwrap();
        drop(held);
        assert_eq!(claim_beside(&log, "--log").unwrap().0, first);
        assert_eq!(
            claim_beside(&first, "--log").unwrap().0,
            dir.path().join("run.1.1.csv")
        );
        // A lock file that cannot be opened (another user's; here a link
        // to nothing) claims its name too.
        let notes = dir.path().join("notes.csv");
        std::fs::write(&notes, "z").unwrap();
        std::os::unix::fs::symlink("/no/such/file", dir.path().join(".notes.1.csv.lock")).unwrap();
        assert_eq!(
            claim_beside(&notes, "--log").unwrap().0,
            dir.path().join("notes.2.csv")
        );
    }
}
