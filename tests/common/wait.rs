//! The one way tests wait for something: poll a condition until it gives a
//! value, bounded, and name what was awaited when giving up. Also
//! [`Release`], the file a held fixture or setup command waits for.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`wait_for`] waits: a cold fixture build on a busy 2-core CI
/// machine included.
pub const WAIT_LIMIT: Duration = Duration::from_secs(300);

/// How often a condition is checked again.
pub const POLL: Duration = Duration::from_millis(20);

/// Check `found` every `every` until it gives a value, and return it; `None`
/// once `limit` has passed without one (it is checked one last time then).
/// For callers that must clean up before they fail, or that report what is
/// left; the others use [`wait_for`].
pub fn poll<T>(
    every: Duration,
    limit: Duration,
    mut found: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        let past = Instant::now() >= deadline;
        if let Some(value) = found() {
            return Some(value);
        }
        if past {
            return None;
        }
        std::thread::sleep(every.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Wait (up to [`WAIT_LIMIT`]) until `found` gives a value, and return it;
/// fail naming `what` otherwise.
pub fn wait_for<T>(what: &str, found: impl FnMut() -> Option<T>) -> T {
    wait_for_within(what, WAIT_LIMIT, found)
}

/// [`wait_for`], giving up after `limit`.
pub fn wait_for_within<T>(what: &str, limit: Duration, found: impl FnMut() -> Option<T>) -> T {
    poll(POLL, limit, found).unwrap_or_else(|| panic!("gave up after {limit:?} waiting for {what}"))
}

/// Writes `go` into a directory when dropped (or [`Release::now`]), so a
/// fixture test (`DBAPP_HOLD_UNTIL`) or a `--db-setup` command waiting for
/// it goes on whatever happens to the test.
pub struct Release(pub PathBuf);

impl Release {
    /// The file waited for.
    pub fn go(&self) -> PathBuf {
        self.0.join("go")
    }

    /// Let the waiting commands go on now.
    pub fn now(&self) {
        std::fs::write(self.go(), "")
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", self.go().display()));
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = std::fs::write(self.go(), "");
    }
}
