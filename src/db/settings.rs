//! [`Settings`]: everything the steps of one run's databases share
//! (connect, create, template, locks, cleanup); read-only between the
//! worker threads.

use super::options::{Plan, UrlSource};
use super::url::{PgUrl, redact_secrets};
use crate::signal::Cancel;

/// Everything the parallel workers need; shared read-only between threads.
/// (Its `Debug` shows no secret: `PgUrl` and `postgres::Config` redact
/// themselves and `secrets` is shown as a count.)
pub(super) struct Settings {
    pub(super) base: PgUrl,
    pub(super) origin: UrlSource,
    pub(super) env_name: String,
    pub(super) template: Option<String>,
    pub(super) setup: Option<String>,
    /// `--db-setup` without `--db-template`: it runs once, into a cached
    /// template database.
    pub(super) cache: Option<Plan>,
    /// That template's name, once it is ready.
    pub(super) cached: Option<String>,
    pub(super) keep: bool,
    pub(super) ephemeral: bool,
    pub(super) workers: usize,
    pub(super) connections_per_worker: usize,
    pub(super) allow_overcommit: bool,
    pub(super) fit_workers: bool,
    /// The run's name set of worker database names (1: `<base>_gwK`).
    pub(super) set: usize,
    /// The run's cancellation: waits stop when it comes.
    pub(super) cancel: Cancel,
    pub(super) marker: String,
    /// Connection settings without a database name.
    pub(super) config: postgres::Config,
    pub(super) target: String,
    pub(super) user: String,
    pub(super) maintenance_db: String,
    pub(super) server_version: i32,
    /// The server runs with `fsync = off` (a test server): checkpoints are
    /// cheap, so databases are copied with `STRATEGY FILE_COPY`.
    pub(super) fsync_off: bool,
    pub(super) secrets: Vec<String>,
    /// `--manifest-path`, to find the workspace's root.
    pub(super) manifest_path: Option<String>,
    /// Give each worker database sqlx's schema and a sequence of its own
    /// (see [`super::sqlx`]); decided in `WorkerDatabases::create`.
    pub(super) sqlx: bool,
    /// `--sqlx-born-migrated` (see [`super::born`]).
    pub(super) born_migrated: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("base", &self.base)
            .field("origin", &self.origin)
            .field("env_name", &self.env_name)
            .field("template", &self.template)
            .field(
                "setup",
                &self
                    .setup
                    .as_deref()
                    .map(|s| redact_secrets(s, &self.secrets)),
            )
            .field("cache", &self.cache)
            .field("cached", &self.cached)
            .field("keep", &self.keep)
            .field("ephemeral", &self.ephemeral)
            .field("workers", &self.workers)
            .field("connections_per_worker", &self.connections_per_worker)
            .field("allow_overcommit", &self.allow_overcommit)
            .field("fit_workers", &self.fit_workers)
            .field("set", &self.set)
            .field("marker", &self.marker)
            .field("config", &self.config)
            .field("target", &self.target)
            .field("user", &self.user)
            .field("maintenance_db", &self.maintenance_db)
            .field("server_version", &self.server_version)
            .field("sqlx", &self.sqlx)
            .field("born_migrated", &self.born_migrated)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}
