//! Per-worker PostgreSQL databases.
//!
//! This module owns the life of the databases a run gives its workers:
//!
//! 1. [`WorkerDatabases::connect`], before the build: check the URL, start
//!    an [`ephemeral::EphemeralServer`] if asked, connect to the maintenance
//!    database and check the role may create databases, that the template
//!    exists and that the server has connections for every worker's pool
//!    ([`budget`]; `-n auto` is lowered to fit), so a bad setup fails in
//!    seconds, not after a build; then claim a set of worker database
//!    names (below). In serial mode (`-n 0`) on the user's server it
//!    connects to nothing and passes the URL on as given;
//! 2. [`WorkerDatabases::create`]: with `--db-setup`, find or build the
//!    cached [`template`] database; then create `<base>_gwK` for every
//!    worker, in parallel, as copies of the template (`--db-template`, or
//!    the cached one), each marked with a `COMMENT` saying cargo-xdist made
//!    it (with `--db-template`, `--db-setup` then runs against each);
//! 3. [`WorkerDatabases::worker_env`]: the variable and URL each worker gets;
//! 4. [`WorkerDatabases::cleanup`] (also on drop): drop exactly the databases
//!    this run created, and only if they still carry this run's marker;
//! 5. [`clean()`] (`cargo xdist db clean`): drop marked leftovers of earlier
//!    runs and the cached templates.
//!
//! Worker databases are ready for `#[sqlx::test]` of any sqlx version, and
//! the test databases sqlx made through one are dropped with it: see
//! [`sqlx`].
//!
//! # Runs at the same time on one base
//!
//! Worker K's database is `<base>_gwK` for the first run on a base; a run
//! started while another one runs on the same base (two terminals, two CI
//! jobs on one server) takes the next free name set, `<base>_r2_gwK`, then
//! `<base>_r3_gwK`, ... ([`names::name_set`]), up to [`names::MAX_NAME_SETS`],
//! and says so. A run holds its set through a session advisory lock per
//! set, taken in `connect` on a connection it keeps open until it ends, so
//! the lock goes with the process however it ends, SIGKILL included, and
//! the next run takes the set again (replacing the dead run's marked
//! leftovers). No run drops or recreates a database of a set another run
//! holds, and neither does [`clean()`]. That connection counts against the
//! connection budget.
//!
//! # Bases whose names look alike
//!
//! Base `shop`'s second name set, `shop_r2_gwK`, is base `shop_r2`'s
//! first. The names stay so (test suites check that their database name
//! ends in `_gwK`), and the two bases never touch each other's databases:
//!
//! - a set's lock is keyed by what its names extend (`shop_r2`), so a run
//!   of `shop` on its second set and a run of `shop_r2` on its first
//!   exclude each other, and `db clean` of either spares a live one;
//! - every marker names its base ([`base_marker`]); a database is dropped
//!   or reused only when its marker names the base at hand (and, within a
//!   run, only those with this run's own marker);
//! - a run skips a name set where databases marked for another base (or by
//!   an earlier version, whose markers name no base) exist, and says so.
//!
//! Every failure is a [`DbError`] whose message is one line, "problem; fix",
//! names where a bad URL came from, and never contains a password. URL text
//! handling and redaction live in [`url`]; the throwaway server in
//! [`ephemeral`].
//!
//! # Where each part lives
//!
//! This file only declares and re-exports. `options` ([`DbOptions`],
//! [`UrlSource`]), `error` ([`DbError`] and one-line texts), `workers`
//! ([`WorkerDatabases`]' life and the settings its steps share), `connect`
//! (libpq's defaults from the environment, connecting, the checks before
//! the build), `classify` (failures as [`DbError`]s), `sql` (the
//! statements), `create` (creating, reusing and dropping worker databases),
//! `setup` (running `--db-setup`), [`sqlx`] (`#[sqlx::test]`'s schema and
//! test databases), `born` (`--sqlx-born-migrated`), `locks` (advisory locks, the name set a
//! run holds), [`names`] (database names, name sets, markers), [`url`],
//! [`template`], [`ephemeral`], [`budget`], `clean` ([`clean()`]) and
//! `overlap` ([`create_while`]).

mod born;
pub mod budget;
mod classify;
mod clean;
mod connect;
mod create;
pub mod ephemeral;
mod error;
mod locks;
pub mod names;
mod options;
mod overlap;
mod settings;
mod setup;
mod sql;
pub mod sqlx;
pub mod template;
pub mod url;
mod workers;

pub use self::clean::clean;
pub use self::error::DbError;
pub use self::names::{MARKER_PREFIX, base_marker, marks_base};
pub use self::options::{
    DEFAULT_CONNECTIONS_PER_WORKER, DEFAULT_EPHEMERAL_DB, DbOptions, UrlSource,
};
pub use self::overlap::create_while;
pub use self::url::{Redactor, redact_secrets};
pub use self::workers::WorkerDatabases;
