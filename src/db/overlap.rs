//! Creating the databases while cargo builds and lists.

use std::time::Duration;

use super::error::DbError;
use super::workers::WorkerDatabases;
use crate::signal::Cancel;

/// Create `databases` (if any) on a thread of their own while `work` runs:
/// cargo builds and lists meanwhile, and all of it mostly waits, so the
/// two overlap. `work`'s error comes first (cargo has printed why a build
/// failed); a database that cannot be created is exit 2, and creating
/// stops waiting when `cancel` comes (then the error is
/// [`crate::error::Interrupted`]). Returns `work`'s value and how long
/// creating took.
pub fn create_while<T: Send>(
    databases: Option<&mut WorkerDatabases>,
    cancel: &Cancel,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, Option<Duration>)> {
    std::thread::scope(|s| {
        let creating = databases.map(|d| {
            d.cancel_on(cancel);
            s.spawn(move || d.create())
        });
        let result = work();
        let created = creating.map(|h| h.join().expect("the database thread panicked"));
        let out = result?;
        let created = created.transpose().map_err(|e| match e {
            DbError::Cancelled { .. } | DbError::SetupInterrupted { .. } => {
                anyhow::Error::new(e).context(crate::error::Interrupted)
            }
            e => crate::error::Unavailable::new(e).into(),
        })?;
        Ok((out, created))
    })
}
