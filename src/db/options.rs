//! [`DbOptions`]: how the databases are to be provided, filled from the
//! command line; [`UrlSource`]: where the base URL came from.

use std::path::PathBuf;

use super::url::{self, redact_secrets};

/// Database name used with `--ephemeral-postgres` when no URL names one.
pub const DEFAULT_EPHEMERAL_DB: &str = "xdist_test";

/// How the databases are to be provided; filled from the command line.
/// `Debug` shows the URL redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// Base URL (`--database-url`, or the variable `env_name`).
    pub url: Option<String>,
    /// Where `url` came from, named in every error about it.
    pub url_source: UrlSource,
    /// Variable the workers (and `--db-setup`) get the URL in, e.g. `DATABASE_URL`.
    pub env_name: String,
    /// Create worker databases as copies of this database.
    pub template: Option<String>,
    /// Shell command (`sh -c`), URL in `env_name`: run once into a cached
    /// template database, or, with `template`, once per new database.
    pub setup: Option<String>,
    /// Directories whose files key the cached template with `setup`
    /// (`--db-migrations`); empty: `migrations/` in the workspace root of
    /// `manifest_path`, when it exists.
    pub migrations: Vec<PathBuf>,
    /// `--manifest-path`, to find the workspace root.
    pub manifest_path: Option<String>,
    /// Build the cached template again even if its key is unchanged.
    pub rebuild: bool,
    /// Keep the databases after the run and reuse them next time.
    pub keep: bool,
    /// Start a private throwaway server instead of using `url`'s server.
    pub ephemeral: bool,
    /// `--sqlx-born-migrated`: on the throwaway server, make `template1`
    /// a copy of the cached template (see `db::born`).
    pub sqlx_born_migrated: bool,
    /// Connections each worker's tests may hold at once (their pool size).
    pub connections_per_worker: usize,
    /// Run even if the workers may open more connections than are free.
    pub allow_overcommit: bool,
    /// The worker count was `-n auto`: lower it to what the server can
    /// serve instead of stopping.
    pub fit_workers: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            url: None,
            url_source: UrlSource::default(),
            env_name: "DATABASE_URL".to_string(),
            template: None,
            setup: None,
            migrations: Vec::new(),
            manifest_path: None,
            rebuild: false,
            keep: false,
            ephemeral: false,
            sqlx_born_migrated: false,
            connections_per_worker: DEFAULT_CONNECTIONS_PER_WORKER,
            allow_overcommit: false,
            fit_workers: false,
        }
    }
}

/// `--db-connections-per-worker`'s default: a common pool size.
pub const DEFAULT_CONNECTIONS_PER_WORKER: usize = 10;

/// Where the base URL came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UrlSource {
    /// `--database-url`.
    #[default]
    Flag,
    /// The environment variable of this name (`DATABASE_URL`, or the one
    /// `--database-env` names).
    Env(String),
    /// The `--ephemeral-postgres` server's own URL.
    Ephemeral,
}

impl std::fmt::Display for UrlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlSource::Flag => f.write_str("--database-url"),
            UrlSource::Env(name) => write!(f, "${name}"),
            UrlSource::Ephemeral => f.write_str("the --ephemeral-postgres server's URL"),
        }
    }
}

impl std::fmt::Debug for DbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets = self
            .url
            .as_deref()
            .map(url::url_secrets)
            .unwrap_or_default();
        f.debug_struct("DbOptions")
            .field("url", &self.url.as_deref().map(url::redacted))
            .field("url_source", &self.url_source)
            .field("env_name", &self.env_name)
            .field("template", &self.template)
            .field(
                "setup",
                &self.setup.as_deref().map(|s| redact_secrets(s, &secrets)),
            )
            .field("migrations", &self.migrations)
            .field("manifest_path", &self.manifest_path)
            .field("rebuild", &self.rebuild)
            .field("keep", &self.keep)
            .field("ephemeral", &self.ephemeral)
            .field("sqlx_born_migrated", &self.sqlx_born_migrated)
            .field("connections_per_worker", &self.connections_per_worker)
            .field("allow_overcommit", &self.allow_overcommit)
            .field("fit_workers", &self.fit_workers)
            .finish()
    }
}

/// What the cached template is built from, besides the setup command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// `--db-migrations`; empty: the workspace's `migrations/`, if any.
    pub migrations: Vec<PathBuf>,
    /// `--manifest-path`, to find the workspace.
    pub manifest_path: Option<String>,
    /// `--db-rebuild`.
    pub rebuild: bool,
}
