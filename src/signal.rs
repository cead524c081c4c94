//! Ctrl-C and SIGTERM: the first one sets the cancel flag (workers stop
//! taking groups, interrupt and then kill their process groups, databases
//! are dropped, the run exits 130); a second one exits at once with 130.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::error::EXIT_INTERRUPTED;

/// The run's cancel flag, set by the first SIGINT/SIGTERM.
#[derive(Clone)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Install the handlers. If they cannot be installed the run goes on
    /// without graceful cancellation (the default action still stops it).
    pub fn install() -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            // Order matters: the conditional exit fires only when the flag
            // is already set, i.e. on the second signal.
            let _ = signal_hook::flag::register_conditional_shutdown(
                sig,
                EXIT_INTERRUPTED,
                Arc::clone(&flag),
            );
            let _ = signal_hook::flag::register(sig, Arc::clone(&flag));
        }
        Cancel(flag)
    }

    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
