//! Signals, all turned into one [`Cancel`] handle that the stages poll.
//!
//! - The first SIGINT, SIGTERM or SIGHUP cancels the run: no new work is
//!   handed out, every running test process group gets that signal, and
//!   what is left of it after a short grace is killed; then the worker
//!   databases are dropped, the ephemeral server is stopped and deleted,
//!   the scratch directories are removed and the partial summary printed.
//!   The run exits 130, or 129 after SIGHUP ([`exit_code`]).
//! - Every further one hurries: the grace is skipped (the process groups
//!   are killed at once), but not the cleanup, which still runs before the
//!   exit. Only SIGKILL skips it (the ephemeral server's watchdog then still
//!   removes that server).
//! - SIGTSTP (Ctrl-Z) is passed on to the test process groups (they run in
//!   groups of their own, out of the terminal's reach), then cargo-xdist
//!   stops itself; SIGCONT (`fg`, `bg`) is passed on to them too. Time spent
//!   stopped does not count against `--timeout` ([`Stopwatch`]).
//!
//! The signals are read on a thread of their own (signal-hook's iterator),
//! so the handling is ordinary code. A process group is signalled only while
//! it is registered ([`Cancel::watch_group`]), and its driver unregisters it
//! before reaping the group's leader: a group id whose leader was reaped may
//! belong to someone else by now.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use signal_hook::consts::{SIGCONT, SIGHUP, SIGINT, SIGTERM, SIGTSTP};

use crate::error::{EXIT_HANGUP, EXIT_INTERRUPTED};

/// The run's cancellation and job-control state (cheap to clone).
#[derive(Clone, Default)]
pub struct Cancel(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// The first terminating signal's number; 0 before any.
    first: AtomicI32,
    /// How many terminating signals came.
    count: AtomicUsize,
    /// Process groups of running test processes whose leaders are not
    /// reaped yet.
    groups: Mutex<HashSet<Pid>>,
    pause: Mutex<Pause>,
}

/// Time spent stopped by SIGTSTP.
#[derive(Default)]
struct Pause {
    /// Stopped since then (set before stopping, cleared after SIGCONT).
    since: Option<Instant>,
    /// Earlier stops.
    total: Duration,
}

/// The handle `install` made, for [`exit_code`].
static INSTALLED: OnceLock<Cancel> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cancel {
    /// Take over SIGINT, SIGTERM, SIGHUP, SIGTSTP and SIGCONT for this
    /// process (once; later calls return the same handle). If that fails,
    /// the run goes on without graceful cancellation (the default actions
    /// still stop it).
    pub fn install() -> Self {
        INSTALLED
            .get_or_init(|| {
                let cancel = Cancel::default();
                let shared = Arc::clone(&cancel.0);
                let signals = signal_hook::iterator::Signals::new([
                    SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT,
                ]);
                if let Ok(mut signals) = signals {
                    let _ = std::thread::Builder::new()
                        .name("xdist-signals".into())
                        .spawn(move || signals.forever().for_each(|sig| shared.on_signal(sig)));
                }
                cancel
            })
            .clone()
    }

    /// A terminating signal came: stop handing out work.
    pub fn is_cancelled(&self) -> bool {
        self.0.count.load(Ordering::SeqCst) > 0
    }

    /// A second terminating signal came: kill at once, without the grace.
    pub fn is_hurried(&self) -> bool {
        self.0.count.load(Ordering::SeqCst) > 1
    }

    /// The signal to pass on to test process groups when cancelled: the one
    /// that cancelled the run.
    pub fn signal(&self) -> Signal {
        match self.0.first.load(Ordering::SeqCst) {
            SIGTERM => Signal::TERM,
            SIGHUP => Signal::HUP,
            _ => Signal::INT,
        }
    }

    /// Cancel as the first (then every further) terminating signal does.
    pub fn cancel(&self, signal: i32) {
        self.0.terminate(signal);
    }

    /// Pass job-control and cancellation signals on to process group `pgid`
    /// from now on. Its leader must not be reaped before [`Self::unwatch_group`].
    pub fn watch_group(&self, pgid: Pid) {
        lock(&self.0.groups).insert(pgid);
    }

    /// Stop signalling `pgid`; call before reaping its leader.
    pub fn unwatch_group(&self, pgid: Pid) {
        lock(&self.0.groups).remove(&pgid);
    }

    /// A stopwatch that does not run while cargo-xdist is stopped (Ctrl-Z).
    pub fn stopwatch(&self) -> Stopwatch {
        let now = Instant::now();
        Stopwatch {
            shared: Arc::clone(&self.0),
            start: now,
            paused_before: self.0.paused(now),
        }
    }

    /// Stop (`true`) or resume the watched process groups and the
    /// stopwatches, as SIGTSTP and SIGCONT do (without stopping this
    /// process).
    pub fn set_stopped(&self, stopped: bool) {
        if stopped {
            self.0.stop();
        } else {
            self.0.resume();
        }
    }
}

impl Shared {
    fn on_signal(&self, sig: i32) {
        match sig {
            SIGTSTP => {
                self.stop();
                // The default action of SIGTSTP: stop this process (all its
                // threads) until a SIGCONT.
                let _ = signal_hook::low_level::emulate_default_handler(SIGTSTP);
                self.resume();
            }
            SIGCONT => self.resume(),
            _ => self.terminate(sig),
        }
    }

    fn terminate(&self, sig: i32) {
        let _ = self
            .first
            .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn stop(&self) {
        lock(&self.pause).since.get_or_insert_with(Instant::now);
        self.forward(Signal::TSTP);
    }

    fn resume(&self) {
        {
            let mut pause = lock(&self.pause);
            if let Some(since) = pause.since.take() {
                pause.total += since.elapsed();
            }
        }
        self.forward(Signal::CONT);
    }

    fn forward(&self, signal: Signal) {
        for &pgid in lock(&self.groups).iter() {
            // A group whose processes are all gone: nothing to do.
            let _ = rustix::process::kill_process_group(pgid, signal);
        }
    }

    /// All time spent stopped until `now`, including a stop still going on.
    fn paused(&self, now: Instant) -> Duration {
        let pause = lock(&self.pause);
        pause.total
            + pause
                .since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }
}

/// Measures time as the test processes see it: stopped time (Ctrl-Z) does
/// not count.
pub struct Stopwatch {
    shared: Arc<Shared>,
    start: Instant,
    paused_before: Duration,
}

impl Stopwatch {
    pub fn elapsed(&self) -> Duration {
        let now = Instant::now();
        let paused = self.shared.paused(now).saturating_sub(self.paused_before);
        now.saturating_duration_since(self.start)
            .saturating_sub(paused)
    }
}

/// The exit code of the process: after a terminating signal, 130 (SIGINT,
/// SIGTERM) or 129 (SIGHUP), whatever `code` the run ended with; else `code`.
pub fn exit_code(code: i32) -> i32 {
    let first = INSTALLED
        .get()
        .map_or(0, |c| c.0.first.load(Ordering::SeqCst));
    match first {
        0 => code,
        SIGHUP => EXIT_HANGUP,
        _ => EXIT_INTERRUPTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_cancels_and_the_second_hurries() {
        let cancel = Cancel::default();
        assert!(!cancel.is_cancelled() && !cancel.is_hurried());
        cancel.cancel(SIGHUP);
        assert!(cancel.is_cancelled() && !cancel.is_hurried());
        assert_eq!(cancel.signal(), Signal::HUP);
        cancel.cancel(SIGINT);
        assert!(cancel.is_hurried());
        assert_eq!(cancel.signal(), Signal::HUP, "the first one is passed on");
    }

    #[test]
    fn stopwatches_do_not_run_while_stopped() {
        let cancel = Cancel::default();
        let watch = cancel.stopwatch();
        cancel.set_stopped(true);
        // While stopped, the stopwatch stands still.
        let at_stop = watch.elapsed();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(watch.elapsed(), at_stop);
        cancel.set_stopped(false);
        // Afterwards it runs again, short of the wall clock by the stop.
        std::thread::sleep(Duration::from_millis(10));
        let running = watch.elapsed();
        assert!(running > at_stop);
        assert!(running + Duration::from_millis(100) <= watch.start.elapsed());
    }
}
