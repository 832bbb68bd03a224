//! Signals during training: these, whose default action would end the
//! process with nothing saved, stop the run after the current step, with
//! a checkpoint: SIGINT (Ctrl-C), SIGTERM, SIGHUP (a closed terminal or
//! ssh session), SIGQUIT (Ctrl-\\), SIGXCPU (the soft limit on CPU time,
//! `ulimit -S -t`), SIGUSR1 and SIGUSR2 (what Grid Engine's `qsub -notify`
//! and Slurm's `--signal` send to ask a job to save before it is stopped),
//! SIGALRM, SIGVTALRM and SIGPROF (the timers' signals, which rnn-fast
//! never sets: sent by another process; a profiler loaded into the process
//! that samples on SIGPROF, such as gperftools' through `LD_PRELOAD`, would
//! stop the run at its first sample). SIGXFSZ (a write past the
//! limit on file size, `ulimit -f`) is received and dropped, so that the
//! write fails with an error the run reports (a log that stops, or a save
//! that fails and says so) instead of ending the process. A watcher thread
//! receives them (signal-hook's iterator), so nothing runs in the signal
//! handler itself.
//!
//! A signal while nothing is being trained (reading the corpus or a model,
//! printing the final sample after the save) ends the process at once, with
//! a line saying so: there is nothing to save then. From the moment a run
//! claims its outputs (the lock files beside them), a signal is held
//! instead, so that the run undoes its claims on the way out (stopping
//! before its log is opened, or saving after a step); a process that ends
//! at once removes the lock files it made first
//! ([`rnn_fast::files::release_claims`]).
//!
//! A signal ignored when the process starts stays ignored: `nohup` ignores
//! SIGHUP, and a non-interactive shell ignores SIGINT and SIGQUIT for a job
//! started with `&`, so that the run outlives the terminal or the Ctrl-C.
//!
//! Repeats within [`GRACE`] of the first are the same request (GNU
//! `timeout` signals the process and then its group; a key held down
//! repeats): ignored, as is every SIGXCPU after the first (the kernel sends
//! one a second while the process runs past its soft limit, until the hard
//! limit's SIGKILL). Any other repeat after it means "now": the watcher says so on
//! standard error and exits at once with 128 + the signal. Files are written
//! atomically, so even that leaves no half-written model; the file on disk
//! is the last complete checkpoint, if any.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{
    SIGALRM, SIGHUP, SIGINT, SIGPROF, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGVTALRM, SIGXCPU,
    SIGXFSZ,
};
use signal_hook::iterator::Signals;

use rnn_fast::{Error, Result};

/// Repeats of a stop signal within this time of the first are ignored.
pub const GRACE: Duration = Duration::from_secs(2);

/// The stop signals handled, with their names.
const HANDLED: [(i32, &str); 10] = [
    (SIGINT, "SIGINT"),
    (SIGTERM, "SIGTERM"),
    (SIGHUP, "SIGHUP"),
    (SIGQUIT, "SIGQUIT"),
    (SIGXCPU, "SIGXCPU"),
    (SIGUSR1, "SIGUSR1"),
    (SIGUSR2, "SIGUSR2"),
    (SIGALRM, "SIGALRM"),
    (SIGVTALRM, "SIGVTALRM"),
    (SIGPROF, "SIGPROF"),
];

/// The first stop signal received (0 until one arrives).
pub struct Interrupts {
    first: Arc<AtomicU8>,
    /// True while a run is training (a signal then asks it to save and stop).
    training: Arc<AtomicBool>,
}

impl Interrupts {
    /// Starts the watcher thread.
    pub fn install() -> Result<Interrupts> {
        let ignored = ignored_at_start();
        let watched = HANDLED
            .iter()
            .map(|&(s, _)| s)
            .chain([SIGXFSZ])
            .filter(|&s| ignored & (1 << (s - 1)) == 0);
        let mut signals = Signals::new(watched)
            .map_err(|e| Error::System(format!("cannot install signal handlers: {e}")))?;
        let first = Arc::new(AtomicU8::new(0));
        let seen = Arc::clone(&first);
        let training = Arc::new(AtomicBool::new(false));
        let busy = Arc::clone(&training);
        std::thread::Builder::new()
            .name("rnn-fast-signals".into())
            .spawn(move || {
                let mut since: Option<Instant> = None;
                // A write past the file-size limit: the write fails (EFBIG)
                // and its caller reports it; nothing to stop.
                for signal in signals.forever().filter(|&s| s != SIGXFSZ) {
                    let say = |line: String| super::output::to_stderr(&line);
                    // A repeat within the grace period belongs to the first
                    // request, even once the run has saved and stopped training.
                    match since {
                        None if !busy.load(Ordering::SeqCst) => {
                            say(format!(
                                "interrupted by {}: nothing was being trained, so nothing is lost; exiting",
                                name(signal)
                            ));
                            rnn_fast::files::release_claims();
                            std::process::exit(128 + signal);
                        }
                        None => {
                            seen.store(signal as u8, Ordering::SeqCst);
                            since = Some(Instant::now());
                        }
                        Some(t) if t.elapsed() < GRACE || signal == SIGXCPU => {}
                        Some(_) => {
                            say(format!(
                                "{} again: exiting now, without saving; the file on disk is the last complete checkpoint, if any",
                                name(signal)
                            ));
                            rnn_fast::files::release_claims();
                            std::process::exit(128 + signal);
                        }
                    }
                }
            })
            .map_err(|e| Error::System(format!("cannot start the signal watcher: {e}")))?;
        Ok(Interrupts { first, training })
    }

    /// Says whether a run is training now: from its claims on its outputs
    /// until its model is saved.
    pub fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::SeqCst);
    }

    /// The signal received, if any, and its exit status (128 + its number).
    pub fn received(&self) -> Option<(&'static str, u8)> {
        match self.first.load(Ordering::SeqCst) {
            0 => None,
            s => Some((name(s as i32), 128 + s)),
        }
    }
}

/// The signals this process started with ignored, as a mask (bit
/// `signal - 1`): the `SigIgn` line of /proc/self/status. 0 (none) where it
/// cannot be read (not Linux), so that every signal is then handled.
fn ignored_at_start() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("SigIgn:"))?;
            u64::from_str_radix(line["SigIgn:".len()..].trim(), 16).ok()
        })
        .unwrap_or(0)
}

fn name(signal: i32) -> &'static str {
    HANDLED
        .iter()
        .find(|(s, _)| *s == signal)
        .map_or("a signal", |(_, n)| n)
}
