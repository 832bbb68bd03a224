//! The files a command writes, checked before it starts so that no output
//! can destroy an input: an output is never the corpus, a model the run
//! reads, another output, or something other than a regular file (compared
//! by device and inode, not by name). An existing model that the run did
//! not start from is kept: the run writes beside it and says so, unless
//! `--force`; a resumed run never replaces a run further along than itself.
//! Each model output is claimed with a lock, so a second run on the same
//! output is refused while the first runs.

use std::path::{Path, PathBuf};

use rnn_fast::checkpoint;
use rnn_fast::files::{self, OutputLock};
use rnn_fast::{Error, Result};

/// An input a command reads, with the option (or role) that names it.
pub struct Input<'a> {
    pub what: &'static str,
    pub path: &'a Path,
}

/// Refuses `out` (named by `option`) when it is not a regular file or when
/// it is one of `inputs`.
pub fn check_output(option: &str, out: &Path, inputs: &[Input<'_>]) -> Result<()> {
    // `-` is standard output to other tools (and to `plot -o`): a model
    // or log is not written there, nor to a file of that name unasked.
    if out.as_os_str() == "-" {
        return Err(Error::Usage(format!(
            "{option} - : this output is written to a file, not to standard output; name a file (./- for a file named -)"
        )));
    }
    // `x/` and `x/.` name the folder x (`Path` drops a last `.`, so its
    // file name would be x).
    let written = out.as_os_str().as_encoded_bytes();
    if out.file_name().is_none() || written.ends_with(b"/") || written.ends_with(b"/.") {
        return Err(Error::Usage(format!(
            "{option} {:?} names no file: give a file name",
            out.display().to_string()
        )));
    }
    // Outputs are taken through their links first: a link left is one
    // that leads to no file to replace.
    if files::is_link(out) {
        let why = if option.starts_with('-') {
            "a symbolic link rnn-fast does not write through (it leads to no file to replace, such as a pipe or a deleted file; it loops or chains more than 40 links; or another user planted it in a shared folder)"
        } else {
            "a symbolic link, and a path made from -o is not written through one"
        };
        return Err(Error::Usage(format!(
            "{option} {} is {why}: name a file, or choose another {}",
            out.display(),
            option_to_change(option)
        )));
    }
    if files::is_special(out) {
        return Err(Error::Usage(format!(
            "{option} {} is not a regular file: name a file to write",
            out.display()
        )));
    }
    if let Some(input) = inputs.iter().find(|i| files::same_file(out, i.path)) {
        return Err(Error::Usage(format!(
            "{option} {} is the {} ({}): writing it would destroy it; choose another {}",
            out.display(),
            input.what,
            input.path.display(),
            option_to_change(option)
        )));
    }
    Ok(())
}

/// Refuses a standard output or error that the shell opened on a file the
/// command reads or writes (`rnn-fast sample m.safetensors >> m.safetensors`,
/// `train c.txt 2>> c.txt`, `-o m.safetensors > m.safetensors`), as `cat`
/// refuses its input as its output: checked before anything is said, so
/// that not even an error line is written into it. `paths`: the files the
/// parsed command reads or writes ([`super::Cli::files`]), or, for a
/// command line that did not parse, every word that may name one
/// ([`words_as_paths`]). Where standard error is such a file, the error is
/// said on standard output.
pub fn check_streams<P: AsRef<Path>>(paths: &[P]) -> Result<()> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let named: Vec<_> = paths
        .iter()
        .map(AsRef::as_ref)
        .filter_map(|path| {
            let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
            Some((path, (m.dev(), m.ino())))
        })
        .collect();
    let find = |fd: std::io::Result<std::os::fd::OwnedFd>| {
        let id = files::open_file_id(&std::fs::File::from(fd.ok()?))?;
        named.iter().find(|(_, n)| *n == id).map(|(p, _)| p)
    };
    let out = find(std::io::stdout().as_fd().try_clone_to_owned());
    let err = find(std::io::stderr().as_fd().try_clone_to_owned());
    let said = |name: &str, path: &Path| {
        format!(
            "{name} is {}, a file this command reads or writes: writing to it would destroy it; send {name} elsewhere",
            path.display()
        )
    };
    if let Some(path) = err {
        return Err(Error::StderrIsNamedFile {
            message: said("standard error", path),
            say_on_stdout: out.is_none(),
        });
    }
    match out {
        Some(path) => Err(Error::Usage(said("standard output", path))),
        None => Ok(()),
    }
}

/// The words `args` of a command line that did not parse that may name a
/// file ([`check_streams`]): each word, and an option's value after `=`
/// and after a short option's letter. The caller leaves out the
/// subcommand's name, which a file of that name (`sample > sample`) is not.
pub fn words_as_paths(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut paths = Vec::new();
    for arg in args {
        let bytes = arg.as_bytes();
        let mut words = vec![bytes];
        if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
            words.push(&bytes[eq + 1..]);
        }
        if bytes.len() > 2 && bytes[0] == b'-' && bytes[1] != b'-' {
            words.push(&bytes[2..]);
        }
        paths.extend(
            words
                .into_iter()
                .map(|w| PathBuf::from(std::ffi::OsStr::from_bytes(w))),
        );
    }
    paths
}

/// The option a user changes to move an output named by `option`: itself,
/// or `-o` for a path derived from it (the `.best` model).
fn option_to_change(option: &str) -> &str {
    if option.starts_with('-') {
        option
    } else {
        "-o"
    }
}

/// Refuses two outputs that name the same file.
pub fn check_distinct(a: (&str, &Path), b: (&str, &Path)) -> Result<()> {
    if files::absolute(a.1) == files::absolute(b.1) || files::same_file(a.1, b.1) {
        return Err(Error::Usage(format!(
            "{} and {} name the same file ({}): give them different paths",
            a.0,
            b.0,
            a.1.display()
        )));
    }
    Ok(())
}

/// Where an output named by `option` goes, claimed for this run: `asked`
/// when it is new or `force` is given, else the first free name beside it
/// (the second value: the path kept).
pub fn claim_unless_forced(
    asked: &Path,
    force: bool,
    option: &str,
) -> Result<(PathBuf, Option<PathBuf>, OutputLock)> {
    if std::fs::symlink_metadata(asked).is_ok() && !force {
        let (path, lock) = files::claim_beside(asked, option)?;
        Ok((path, Some(asked.to_path_buf()), lock))
    } else {
        let lock = OutputLock::claim(asked, option)?;
        Ok((asked.to_path_buf(), None, lock))
    }
}

/// Whether `path` may be appended to or replaced as a `--log`: absent,
/// empty, or an rnn-fast log (judged by its first line).
pub fn is_log_or_new(path: &Path) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else {
        return true;
    };
    // Bytes, not a String: `read_line` leaves the line empty on bytes that
    // are not UTF-8 (a model's), which read as an empty file.
    let mut first = Vec::new();
    if std::io::BufReader::new(std::io::Read::take(file, 4096))
        .read_until(b'\n', &mut first)
        .is_err()
    {
        return false;
    }
    first.is_empty() || first.trim_ascii_end() == rnn_fast::plot::CSV_HEADER.as_bytes()
}

/// A `--log` a resumed run appends to, or `--force` replaces: it must be a
/// log (or new, or empty). `action`: what is not done to another file.
pub fn check_is_log(path: &Path, action: &str) -> Result<()> {
    if is_log_or_new(path) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--log {} exists and is not an rnn-fast log: it is not {action}; choose another --log",
        path.display()
    )))
}

/// Refuses an existing file at `plot -o` that `plot` did not draw (judged
/// by [`rnn_fast::plot::SVG_MARK`] near its start): another SVG drawing
/// unless `force`, anything else (a model or a text named by mistake)
/// even with it. An empty file is replaced.
pub fn check_replaces_only_plots(out: &Path, force: bool) -> Result<()> {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(out) else {
        return Ok(());
    };
    let mut head = Vec::new();
    let _ = file.take(4096).read_to_end(&mut head);
    let text = String::from_utf8_lossy(&head);
    let svg = is_svg(&text);
    if head.is_empty() || (svg && (force || text.contains(rnn_fast::plot::SVG_MARK))) {
        return Ok(());
    }
    Err(Error::Usage(if svg {
        format!(
            "-o {} is an SVG drawing that rnn-fast plot did not make: it is kept; add --force to replace it, or choose another -o",
            out.display()
        )
    } else {
        format!(
            "-o {} exists and is not an SVG drawing: it is not replaced, even with --force; choose another -o",
            out.display()
        )
    }))
}

/// Whether the start of a file, `head`, is an SVG drawing's: its `<svg`
/// element after a prolog of a byte-order mark, white space, an XML
/// declaration, comments and an SVG document type (with its internal
/// subset of entities, as Illustrator writes it), as SVG editors write
/// them (an XML file of another kind, HTML or a PHP template with an SVG
/// inside, is not).
fn is_svg(head: &str) -> bool {
    let mut rest = head.trim_start_matches('\u{feff}').trim_start();
    loop {
        if rest.starts_with("<svg") {
            return true;
        }
        let end = if rest.starts_with("<?xml") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("<!DOCTYPE svg") {
            // An internal subset `[ ... ]` holds `>`s of its own.
            let subset = rest
                .find('[')
                .filter(|&i| rest.find('>').is_some_and(|gt| i < gt));
            let after = subset
                .and_then(|i| rest[i..].find(']').map(|j| i + j))
                .unwrap_or(0);
            rest[after..].find('>').map(|i| after + i + 1)
        } else {
            None
        };
        match end {
            Some(end) => rest = rest[end..].trim_start(),
            None => return false,
        }
    }
}

/// Where a run's model goes, and the lock that claims it.
pub struct ModelOutput {
    pub path: PathBuf,
    pub lock: OutputLock,
    /// Set when the asked path held another model, kept as it was.
    pub moved_from: Option<PathBuf>,
}

/// The model output of a run asked to write `asked`: `asked` itself when it
/// is new, the checkpoint this run resumes, or `--force` is given; else the
/// first free name beside it. `resumed_chars`: the characters trained by the
/// checkpoint resumed, when resuming.
pub fn model_output(
    asked: &Path,
    resumed: Option<(&Path, usize)>,
    force: bool,
) -> Result<ModelOutput> {
    let exists = std::fs::symlink_metadata(asked).is_ok();
    let own = resumed.is_some_and(|(from, _)| files::same_file(asked, from));
    if exists && !own && force {
        check_replaces_a_model("-o", asked)?;
        check_not_further_along(asked, resumed.map(|(_, chars)| chars))?;
    }
    let (path, moved_from, lock) = claim_unless_forced(asked, force || own, "-o")?;
    Ok(ModelOutput {
        path,
        lock,
        moved_from,
    })
}

/// Whether `--force` may replace the existing file `path` as a model: an
/// rnn-fast model file (judged by its header) or an empty file.
pub fn is_model_or_empty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == 0) || checkpoint::is_model_file(path)
}

/// `--force` replaces a model, never another file (a text named by
/// mistake): `existing`, named by `option`, must be an rnn-fast model file or
/// empty.
pub fn check_replaces_a_model(option: &str, existing: &Path) -> Result<()> {
    if is_model_or_empty(existing) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{option} {} exists and is not an rnn-fast model: it is not replaced, even with --force; choose another {}",
        existing.display(),
        option_to_change(option)
    )))
}

/// A resumed run at `resumed_chars` characters must not replace a checkpoint
/// of the same text that is further along.
fn check_not_further_along(existing: &Path, resumed_chars: Option<usize>) -> Result<()> {
    let Some(resumed_chars) = resumed_chars else {
        return Ok(());
    };
    match checkpoint::read_record(existing) {
        Some((_, run)) if run.chars_seen > resumed_chars => Err(Error::Usage(format!(
            "{} holds a run further along ({} characters trained) than the checkpoint resumed ({resumed_chars}): it is not replaced, even with --force; choose another -o",
            existing.display(),
            run.chars_seen
        ))),
        _ => Ok(()),
    }
}
