//! Signals during training: Ctrl-C (SIGINT) and SIGTERM stop the run with a
//! checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rnn_fast::{Error, Result};

/// Ctrl-C (SIGINT) and SIGTERM during training: the first sets a flag that
/// stops the run after the current step, with a checkpoint; a second one,
/// of either kind, exits at once (signal-hook's conditional shutdown). Files
/// are written atomically, so even that leaves no half-written model.
pub struct Interrupts {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Interrupts {
    pub fn install() -> Result<Interrupts> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let any = Arc::new(AtomicBool::new(false));
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        let err = |e: std::io::Error| Error::System(format!("cannot install signal handlers: {e}"));
        for (signal, code, flag) in [(SIGINT, 130, &int), (SIGTERM, 143, &term)] {
            // Registered first, so it sees `any` as it was before this signal.
            signal_hook::flag::register_conditional_shutdown(signal, code, Arc::clone(&any))
                .map_err(err)?;
            signal_hook::flag::register(signal, Arc::clone(&any)).map_err(err)?;
            signal_hook::flag::register(signal, Arc::clone(flag)).map_err(err)?;
        }
        Ok(Interrupts { int, term })
    }

    /// The signal received, if any, and its exit status.
    pub fn received(&self) -> Option<(&'static str, u8)> {
        if self.int.load(Ordering::Relaxed) {
            Some(("SIGINT", 130))
        } else if self.term.load(Ordering::Relaxed) {
            Some(("SIGTERM", 143))
        } else {
            None
        }
    }
}
