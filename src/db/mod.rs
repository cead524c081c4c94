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
//! 5. [`clean`] (`cargo xdist db clean`): drop marked leftovers of earlier
//!    runs and the cached templates.
//!
//! # Runs at the same time on one base
//!
//! Worker K's database is `<base>_gwK` for the first run on a base; a run
//! started while another one runs on the same base (two terminals, two CI
//! jobs on one server) takes the next free name set, `<base>_r2_gwK`, then
//! `<base>_r3_gwK`, ... ([`url::name_set`]), up to [`url::MAX_NAME_SETS`],
//! and says so. A run holds its set through a session advisory lock per
//! set, taken in `connect` on a connection it keeps open until it ends, so
//! the lock goes with the process however it ends, SIGKILL included, and
//! the next run takes the set again (replacing the dead run's marked
//! leftovers). No run drops or recreates a database of a set another run
//! holds, and neither does [`clean`]. That connection counts against the
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

pub mod budget;
pub mod ephemeral;
pub mod template;
pub mod url;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rayon::prelude::*;

use self::budget::Budget;
use self::ephemeral::EphemeralServer;
use self::url::{MAX_NAME_SETS, PgUrl, name_set, worker_db_name, worker_set_index};
pub use self::url::{Redactor, redact_secrets};
use crate::signal::Cancel;

/// Every marker comment starts with this; only databases whose comment
/// starts with it are ever dropped, and only by runs (and `db clean`s) on
/// the base database the comment names next ([`base_marker`]).
pub const MARKER_PREFIX: &str = "created by cargo-xdist";

/// How every marker comment of a database made for base database `base`
/// starts: `created by cargo-xdist for "<base>"` (a `"` in the name
/// doubled), then ` run <id>`, ` run <id> from <template>` or
/// ` template <key>`. A database is dropped or reused only when its marker
/// names the base of the run (or `db clean`) at hand: not one made for
/// another base whose names look alike, nor one marked by an earlier
/// version that did not name the base.
pub fn base_marker(base: &str) -> String {
    format!("{MARKER_PREFIX} for \"{}\"", base.replace('"', "\"\""))
}

/// Whether `comment` is the marker of a database made for base `base`.
pub fn marks_base(comment: Option<&str>, base: &str) -> bool {
    // The quotes of a name are doubled, so `"<base>" ` begins only the
    // markers of this base.
    comment.is_some_and(|c| {
        c.strip_prefix(&base_marker(base))
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// Database name used with `--ephemeral-postgres` when no URL names one.
pub const DEFAULT_EPHEMERAL_DB: &str = "xdist_test";

/// At most this many databases are created (and set up) at once, each with
/// its own connection, so a large `-n` does not exhaust `max_connections`.
const MAX_PARALLEL: usize = 8;

/// Lines of `--db-setup` output or of the ephemeral server's log quoted in
/// a one-line error message.
const MESSAGE_TAIL_LINES: usize = 3;

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
            .field("connections_per_worker", &self.connections_per_worker)
            .field("allow_overcommit", &self.allow_overcommit)
            .field("fit_workers", &self.fit_workers)
            .finish()
    }
}

/// Why the databases could not be provided. Each message is one line: the
/// problem, then after "; " the fix. None contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// Neither a URL nor `--ephemeral-postgres` was given.
    #[error(
        "no database URL given; pass --database-url, set {env_name}, or use --ephemeral-postgres for a throwaway server"
    )]
    MissingUrl { env_name: String },

    /// The URL does not parse or names no database.
    #[error(
        "invalid database URL in {origin}: {reason}; use the form postgres://USER:PASSWORD@HOST:PORT/DBNAME, percent-encoding special characters, or pass --no-db to run without worker databases"
    )]
    InvalidUrl { origin: UrlSource, reason: String },

    /// Nothing answered at the address (refused, timed out, unknown host).
    #[error(
        "cannot reach PostgreSQL at {target} ({reason}), the server named by {origin}; start the server, fix the host and port in {origin}, or pass --no-db to run without worker databases"
    )]
    Unreachable {
        target: String,
        reason: String,
        origin: UrlSource,
    },

    /// The server rejected the credentials (or pg_hba.conf rejected us).
    #[error(
        "PostgreSQL at {target} rejected user \"{user}\" ({reason}); check the user name and password in {origin}"
    )]
    AuthFailed {
        target: String,
        user: String,
        reason: String,
        origin: UrlSource,
    },

    /// The role in the URL does not exist.
    #[error(
        "role \"{role}\" does not exist on PostgreSQL at {target}; create it (CREATE ROLE \"{role}\" LOGIN CREATEDB) or fix the user in {origin}"
    )]
    RoleMissing {
        target: String,
        role: String,
        origin: UrlSource,
    },

    /// A database we had to connect to does not exist.
    #[error(
        "database \"{name}\" does not exist on PostgreSQL at {target}; create it (createdb) or fix the database name in {origin}"
    )]
    DatabaseMissing {
        target: String,
        name: String,
        origin: UrlSource,
    },

    /// The role may not create databases.
    #[error(
        "role \"{role}\" may not create databases (it lacks the CREATEDB privilege); run ALTER ROLE \"{role}\" CREATEDB as a superuser, use another role, or run the tests serially"
    )]
    NoCreateDb { role: String },

    /// `--db-template` names a database that does not exist.
    #[error("template database \"{template}\" does not exist; create it or fix --db-template")]
    MissingTemplate { template: String },

    /// PostgreSQL cannot copy a database others are connected to.
    #[error(
        "template database \"{template}\" is busy: {sessions} other session(s) are connected to it, and PostgreSQL cannot copy a database while others use it; close those sessions (psql, the app, an IDE) and retry"
    )]
    TemplateBusy { template: String, sessions: i64 },

    /// A database with a worker's (or template's) name is marked as
    /// cargo-xdist's, but not for this base database.
    #[error(
        "database \"{name}\" was made by cargo-xdist for another base database, or by an earlier version that did not record its base, so it is left alone; drop it (DROP DATABASE) if nothing uses it, or use another database name in {origin}"
    )]
    OtherBase { name: String, origin: UrlSource },

    /// A database with a worker's name exists but is not ours.
    #[error(
        "database \"{name}\" already exists and was not created by cargo-xdist, so it is left alone; drop or rename it, or use another database name in {origin}"
    )]
    NameTaken { name: String, origin: UrlSource },

    /// The server refused an operation for lack of privilege.
    #[error("permission denied to {action} ({message}); {fix}")]
    PermissionDenied {
        action: String,
        message: String,
        fix: String,
    },

    /// The `--db-setup` command failed (or could not be started).
    #[error(
        "--db-setup failed for {worker} ({status}){tail}; fix the command (it gets the database URL in ${env_name}) and retry"
    )]
    SetupFailed {
        worker: String,
        status: String,
        /// `": last | lines"` of the output (redacted), or empty.
        tail: String,
        env_name: String,
    },

    /// The URL demands TLS, which this connection does not implement.
    #[error(
        "the database URL in {origin} requires TLS (sslmode={mode}), which cargo-xdist's own connection does not support; use sslmode=prefer or sslmode=disable for this server"
    )]
    TlsUnsupported { mode: String, origin: UrlSource },

    /// The workers may open more connections than the server has free.
    #[error(
        "{workers} workers with {per_worker} connections each (--db-connections-per-worker) need {needed}, but PostgreSQL at {target} has {free} free ({budget}); {fixes}"
    )]
    OverBudget {
        workers: usize,
        per_worker: usize,
        needed: usize,
        target: String,
        free: usize,
        /// `max_connections 100 - 3 reserved - 12 in use`.
        budget: String,
        /// The ways out that apply, ending with --db-allow-overcommit.
        fixes: String,
    },

    /// A migration file or directory could not be read for the template's key.
    #[error(
        "cannot read {path} for the template's key ({reason}); fix its permissions or the --db-migrations path"
    )]
    Migrations { path: String, reason: String },

    /// `--ephemeral-postgres` was asked for but there is no PostgreSQL to run.
    #[error(
        "the ephemeral PostgreSQL server needs initdb and pg_ctl, which are neither on PATH nor under /usr/lib/postgresql/*/bin; install the postgresql package (e.g. apt-get install postgresql) or pass --database-url instead of --ephemeral-postgres"
    )]
    ServerBinariesMissing,

    /// The ephemeral server could not be set up or started.
    #[error(
        "could not start the ephemeral PostgreSQL server: {reason}{tail}; fix the cause shown in its log, or pass --database-url instead of --ephemeral-postgres"
    )]
    Ephemeral {
        reason: String,
        /// `" (log: last | lines)"` of the server's log, or empty.
        tail: String,
    },

    /// Every name set of the base is held by another run.
    #[error(
        "all {MAX_NAME_SETS} sets of worker database names of \"{base}\" ({names}) are in use by other cargo xdist runs on PostgreSQL at {target}; wait for one of them to finish, or give this run a base database of its own in {origin}"
    )]
    NamesBusy {
        base: String,
        /// `<base>_gw0.. to <base>_r16_gw0..`.
        names: String,
        target: String,
        origin: UrlSource,
    },

    /// Another run held the cached template's lock for too long.
    #[error(
        "gave up after {waited} waiting for another cargo xdist run to build template database \"{template}\"; let that run finish (or end it) and retry"
    )]
    TemplateWait { template: String, waited: String },

    /// The run was cancelled (Ctrl-C, SIGTERM, SIGHUP) while `--db-setup` ran.
    #[error("stopped --db-setup for {worker}; the databases of this run are dropped")]
    SetupInterrupted { worker: String },

    /// The run was cancelled (Ctrl-C, SIGTERM, SIGHUP) while it waited.
    #[error("stopped waiting for {what}; nothing was created")]
    Cancelled { what: String },

    /// Any other failure reported by the server.
    #[error(
        "could not {action} on PostgreSQL at {target}: {message}; check the server's log and the role's privileges"
    )]
    Query {
        action: String,
        target: String,
        message: String,
    },
}

/// The databases of one run; see the module docs.
#[derive(Debug)]
pub struct WorkerDatabases {
    /// `None` in serial mode on the user's own server (`-n 0`): nothing is
    /// connected, created or dropped, and `serial`'s URL is passed on.
    settings: Option<Settings>,
    serial: Option<Serial>,
    /// Databases this run created and has not dropped yet.
    created: Vec<String>,
    /// Why the worker count was lowered, for the user.
    notice: Option<String>,
    /// Why the worker databases are not the first name set, for the user.
    names_notice: Option<String>,
    /// Holds the advisory lock of the run's name set until the run ends
    /// (see the module docs).
    names_lock: Option<NamesLock>,
    /// Declared last so it is dropped after everything that talks to it.
    server: Option<EphemeralServer>,
}

/// The connection that holds the run's name set's lock.
struct NamesLock(#[allow(dead_code)] Client);

impl std::fmt::Debug for NamesLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NamesLock")
    }
}

/// Serial mode's variable and URL, exactly as given, and its secrets.
struct Serial {
    env_name: String,
    url: String,
    secrets: Vec<String>,
}

impl std::fmt::Debug for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serial")
            .field("env_name", &self.env_name)
            .field("url", &url::redacted(&self.url))
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

/// Everything the parallel workers need; shared read-only between threads.
/// (Its `Debug` shows no secret: `PgUrl` and `postgres::Config` redact
/// themselves and `secrets` is shown as a count.)
struct Settings {
    base: PgUrl,
    origin: UrlSource,
    env_name: String,
    template: Option<String>,
    setup: Option<String>,
    /// `--db-setup` without `--db-template`: it runs once, into a cached
    /// template database.
    cache: Option<template::Plan>,
    /// That template's name, once it is ready.
    cached: Option<String>,
    keep: bool,
    ephemeral: bool,
    workers: usize,
    connections_per_worker: usize,
    allow_overcommit: bool,
    fit_workers: bool,
    /// The run's name set of worker database names (1: `<base>_gwK`).
    set: usize,
    /// The run's cancellation: waits stop when it comes.
    cancel: Cancel,
    marker: String,
    /// Connection settings without a database name.
    config: postgres::Config,
    target: String,
    user: String,
    maintenance_db: String,
    server_version: i32,
    /// The server runs with `fsync = off` (a test server): checkpoints are
    /// cheap, so databases are copied with `STRATEGY FILE_COPY`.
    fsync_off: bool,
    secrets: Vec<String>,
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
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

impl WorkerDatabases {
    /// Validate the URL, start the ephemeral server if asked, connect to the
    /// maintenance database (`postgres`, falling back to `template1`) with
    /// the base URL's credentials, check CREATEDB privilege (or superuser),
    /// that the template exists (if given) and that the server has
    /// connections enough for `workers` (see [`WorkerDatabases::workers`]).
    /// Called before the build so a bad URL wastes no build time.
    ///
    /// In serial mode (`workers == 0`) on the user's server nothing is
    /// checked or connected: the URL is passed on as given.
    pub fn connect(opts: &DbOptions, workers: usize, run_id: &str) -> Result<Self, DbError> {
        if workers > 0 || opts.ephemeral {
            return Self::connect_server(opts, workers, run_id);
        }
        let Some(url) = opts.url.clone() else {
            return Err(DbError::MissingUrl {
                env_name: opts.env_name.clone(),
            });
        };
        Ok(WorkerDatabases {
            settings: None,
            serial: Some(Serial {
                env_name: opts.env_name.clone(),
                secrets: url::url_secrets(&url),
                url,
            }),
            created: Vec::new(),
            notice: None,
            names_notice: None,
            names_lock: None,
            server: None,
        })
    }

    fn connect_server(opts: &DbOptions, workers: usize, run_id: &str) -> Result<Self, DbError> {
        let user_url = match &opts.url {
            Some(raw) => Some(parse_url(raw, &opts.url_source)?),
            None if opts.ephemeral => None,
            None => {
                return Err(DbError::MissingUrl {
                    env_name: opts.env_name.clone(),
                });
            }
        };
        let mut secrets = user_url.as_ref().map(PgUrl::secrets).unwrap_or_default();
        let server = if opts.ephemeral {
            // Room for every worker's pool, whatever the machine's size.
            let connections = workers * opts.connections_per_worker + 20;
            Some(EphemeralServer::start_with(&[(
                "max_connections",
                &connections.max(200).to_string(),
            )])?)
        } else {
            None
        };
        let (base, source) = match (&server, user_url) {
            (Some(server), url) => {
                let name = url.as_ref().map_or(DEFAULT_EPHEMERAL_DB, |u| u.database());
                let source = UrlSource::Ephemeral;
                (parse_url(&server.url(name), &source)?, source)
            }
            (None, Some(url)) => (url, opts.url_source.clone()),
            (None, None) => unreachable!("checked above"),
        };
        // The ephemeral server's URL is complete; `PG*` variables meant for
        // another server must not change how we reach it.
        let resolved = resolve(&base, !opts.ephemeral, &source)?;
        // The base URL's password: the user's, or the ephemeral server's.
        secrets.extend(base.secrets());
        secrets.extend(resolved.extra_secrets);
        secrets.sort();
        secrets.dedup();
        let template = opts.template.clone().filter(|t| !t.is_empty());
        let setup = opts.setup.clone().filter(|s| !s.trim().is_empty());
        let cache = match (&template, &setup) {
            (None, Some(_)) => Some(template::Plan {
                migrations: opts.migrations.clone(),
                manifest_path: opts.manifest_path.clone(),
                rebuild: opts.rebuild,
            }),
            _ => None,
        };
        let marker = format!("{} run {run_id}", base_marker(base.database()));
        let mut this = WorkerDatabases {
            settings: Some(Settings {
                origin: source,
                env_name: opts.env_name.clone(),
                template,
                setup,
                cache,
                cached: None,
                keep: opts.keep,
                ephemeral: opts.ephemeral,
                workers,
                connections_per_worker: opts.connections_per_worker,
                allow_overcommit: opts.allow_overcommit,
                fit_workers: opts.fit_workers,
                set: 1,
                cancel: Cancel::default(),
                marker,
                config: resolved.config,
                target: resolved.target,
                user: resolved.user,
                maintenance_db: String::new(),
                server_version: 0,
                fsync_off: false,
                secrets,
                base,
            }),
            serial: None,
            created: Vec::new(),
            notice: None,
            names_notice: None,
            names_lock: None,
            server,
        };
        // On error `this` is dropped, which stops an ephemeral server.
        if let Some(settings) = this.settings.as_mut() {
            let checked = settings.check()?;
            this.notice = checked.notice;
            if let Some(mut client) = checked.client {
                this.names_notice = settings.claim_names(&mut client)?;
                this.names_lock = Some(NamesLock(client));
            }
        }
        Ok(this)
    }

    /// The number of workers to run: the one asked for, or, with `-n auto`
    /// on a server that cannot serve that many, fewer (see
    /// [`WorkerDatabases::notice`]).
    pub fn workers(&self) -> usize {
        self.settings.as_ref().map_or(0, |s| s.workers)
    }

    /// Why the worker count was lowered, if it was: one line for the user.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Everything the user should know before the run: the worker count
    /// lowered ([`Self::notice`]), other names taken ([`Self::names_notice`]).
    pub fn notices(&self) -> impl Iterator<Item = &str> {
        self.notice().into_iter().chain(self.names_notice())
    }

    /// Why the worker databases are not `<base>_gwK` (another run on the
    /// same base holds those names), if so: one line for the user.
    pub fn names_notice(&self) -> Option<&str> {
        self.names_notice.as_deref()
    }

    /// Stop waiting (for another run's template) when `cancel` comes.
    pub fn cancel_on(&mut self, cancel: &Cancel) {
        if let Some(settings) = self.settings.as_mut() {
            settings.cancel = cancel.clone();
        }
    }

    /// Create the databases for workers `0..workers` in parallel (see the
    /// module docs); with `workers == 0` create nothing, except that with
    /// `--ephemeral-postgres` the base database is made to exist (and set up).
    /// Returns the time spent.
    pub fn create(&mut self) -> Result<Duration, DbError> {
        let start = Instant::now();
        let Some(settings) = self.settings.as_mut() else {
            return Ok(start.elapsed());
        };
        if settings.workers == 0 {
            if settings.ephemeral {
                settings.ensure_base()?;
            }
            return Ok(start.elapsed());
        }
        // Held until the workers' copies are made: no other run rebuilds
        // or drops the template meanwhile.
        let template_lock = match settings.cache.is_some() {
            true => {
                let (name, lock) = settings.prepare_template()?;
                settings.marker = format!("{} from {name}", settings.marker);
                settings.cached = Some(name);
                Some(lock)
            }
            false => None,
        };
        let settings = &*settings;
        let threads = settings.workers.min(MAX_PARALLEL);
        let groups: Vec<Vec<usize>> = (0..threads)
            .map(|first| (first..settings.workers).step_by(threads).collect())
            .collect();
        let run = || -> Vec<Outcome> {
            groups
                .par_iter()
                .flat_map_iter(|group| settings.create_group(group))
                .collect()
        };
        let mut outcomes = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        };
        outcomes.sort_by_key(|o| o.index);
        let mut first_error = None;
        for outcome in outcomes {
            if outcome.created {
                self.created.push(outcome.name);
            }
            if let (None, Some(e)) = (&first_error, outcome.error) {
                first_error = Some(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if let Some(mut lock) = template_lock {
            // Best effort: what is left now goes next time (or with db clean).
            let _ = settings.drop_templates(&mut lock, settings.cached.as_deref());
        }
        Ok(start.elapsed())
    }

    /// (variable name, URL with password) for worker `index`, or for serial
    /// mode (`None`) the base URL, unchanged.
    pub fn worker_env(&self, index: Option<usize>) -> (String, String) {
        match (&self.settings, &self.serial) {
            (Some(settings), _) => {
                let url = match index {
                    Some(k) => settings.base.worker_url_in(settings.set, k),
                    None => settings.base.as_str().to_string(),
                };
                (settings.env_name.clone(), url)
            }
            (None, Some(serial)) => (serial.env_name.clone(), serial.url.clone()),
            (None, None) => unreachable!("connect makes one of them"),
        }
    }

    /// Secrets to redact from any output (each password raw and
    /// percent-decoded, including `PGPASSWORD` when it is used).
    pub fn secrets(&self) -> Vec<String> {
        match (&self.settings, &self.serial) {
            (Some(settings), _) => settings.secrets.clone(),
            (None, Some(serial)) => serial.secrets.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// Drop the worker databases this run created (`DROP DATABASE ... WITH
    /// (FORCE)`), unless `keep`. Idempotent; also called on drop. Only drops
    /// databases named like this base's worker databases that still carry
    /// this run's marker; never the base database or anything unmarked.
    /// With `--ephemeral-postgres` it stops the server and deletes it instead.
    /// The cached template stays.
    pub fn cleanup(&mut self) -> Result<(), DbError> {
        if let Some(server) = self.server.take() {
            server.stop();
            self.created.clear();
            return Ok(());
        }
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        if settings.keep || self.created.is_empty() {
            self.created.clear();
            return Ok(());
        }
        // In parallel, one connection per thread, as creation does: a
        // forced drop waits on the server, and the run's end waits on it.
        let names = std::mem::take(&mut self.created);
        let threads = names.len().min(MAX_PARALLEL);
        let drop_chunk = |chunk: &[String]| -> Vec<(String, Result<(), DbError>)> {
            match settings.admin() {
                Ok(mut client) => chunk
                    .iter()
                    .map(|name| (name.clone(), settings.drop_if_ours(&mut client, name)))
                    .collect(),
                Err(e) => chunk
                    .iter()
                    .map(|name| (name.clone(), Err(e.clone())))
                    .collect(),
            }
        };
        let chunk_len = names.len().div_ceil(threads.max(1)).max(1);
        let all = || -> Vec<(String, Result<(), DbError>)> {
            names
                .par_chunks(chunk_len)
                .flat_map_iter(drop_chunk)
                .collect()
        };
        let outcomes = match rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
        {
            Ok(pool) => pool.install(all),
            Err(_) => all(),
        };
        let mut first_error = None;
        for (name, result) in outcomes {
            if let Err(e) = result {
                first_error.get_or_insert(e);
                self.created.push(name);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for WorkerDatabases {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            eprintln!("cargo-xdist: warning: {e}");
        }
    }
}

/// `cargo xdist db clean`: drop the leftover marked worker databases of this
/// base name (any worker number, any name set, any run, but not those of a
/// set a run holds right now) and its cached template databases (unless a
/// run is using one right now), and return their names, sorted.
/// Unmarked databases and the base database are never touched. With
/// `--ephemeral-postgres` there is nothing to clean.
pub fn clean(opts: &DbOptions) -> Result<Vec<String>, DbError> {
    if opts.ephemeral {
        return Ok(Vec::new());
    }
    let opts = DbOptions {
        template: None,
        setup: None,
        keep: true,
        ..opts.clone()
    };
    let dbs = WorkerDatabases::connect_server(&opts, 0, "clean")?;
    let settings = dbs.settings.as_ref().expect("connect_server connects");
    let mut client = settings.admin()?;
    let base = settings.base.database();
    let marked = settings.marked_databases(&mut client)?;
    let ours =
        |name: &str| worker_set_index(base, name).is_some() || template::is_template_of(base, name);
    let foreign: Vec<&str> = (marked.iter())
        .filter(|(name, comment)| ours(name) && !marks_base(Some(comment), base))
        .map(|(name, _)| name.as_str())
        .collect();
    if !foreign.is_empty() {
        eprintln!(
            "note: left alone {}: cargo-xdist made them for another base database or did not record the base; drop them by hand if nothing uses them",
            foreign.join(", ")
        );
    }
    let mut names = Vec::new();
    for set in 1..=MAX_NAME_SETS {
        let in_set: Vec<String> = (marked.iter())
            .filter(|(name, comment)| {
                marks_base(Some(comment), base)
                    && worker_set_index(base, name).is_some_and(|(s, _)| s == set)
            })
            .map(|(name, _)| name.clone())
            .collect();
        if in_set.is_empty() {
            continue;
        }
        // A run holding the set is using them: they are not leftovers.
        let dropped =
            settings.while_locked(&mut client, NAMES_LOCK, &name_set(base, set), |c| {
                in_set
                    .iter()
                    .try_for_each(|name| settings.drop_database(c, name))?;
                Ok(in_set)
            })?;
        names.extend(dropped.unwrap_or_default());
    }
    names.extend(settings.drop_templates(&mut client, None)?);
    names.sort();
    Ok(names)
}

/// First key of the advisory locks of name sets (`pg_advisory_lock(int,
/// int)`): "xdsn". (Templates' locks have a class of their own.)
const NAMES_LOCK: i32 = 0x7864_736e;

/// Second key of an advisory lock: from the name it guards.
fn lock_key(name: &str) -> i32 {
    url::fnv1a32(name.as_bytes()) as i32
}

/// What [`Settings::check`] found.
struct Checked {
    /// Why the worker count was lowered, if it was.
    notice: Option<String>,
    /// With workers: the connection, to hold the name set's lock on.
    client: Option<Client>,
}

fn is_marked(comment: Option<&str>) -> bool {
    comment.is_some_and(|c| c.starts_with(MARKER_PREFIX))
}

fn parse_url(raw: &str, source: &UrlSource) -> Result<PgUrl, DbError> {
    PgUrl::parse(raw).map_err(|e| DbError::InvalidUrl {
        origin: source.clone(),
        reason: e.to_string(),
    })
}

/// What one worker's database came to.
struct Outcome {
    index: usize,
    name: String,
    /// Whether this run created it (and so must drop it).
    created: bool,
    error: Option<DbError>,
}

/// Connection settings derived from a URL plus libpq's environment defaults.
struct Resolved {
    config: postgres::Config,
    target: String,
    user: String,
    extra_secrets: Vec<String>,
}

/// Build our own connection settings from the URL, filling in what it
/// leaves out the way libpq would (`PGHOST`, `PGPORT`, `PGUSER`,
/// `PGPASSWORD`, `PGSSLMODE`, then the OS user and the default socket);
/// with `use_env` false the `PG*` variables are ignored.
fn resolve(url: &PgUrl, use_env: bool, source: &UrlSource) -> Result<Resolved, DbError> {
    let env = |key: &str| std::env::var(key).ok().filter(|v| use_env && !v.is_empty());
    let mut config = postgres::Config::new();
    let user = url
        .user()
        .map(str::to_string)
        .or_else(|| env("PGUSER"))
        .or_else(os_user_name)
        .unwrap_or_else(|| "postgres".to_string());
    config.user(&user);
    let mut extra_secrets = Vec::new();
    match url.password() {
        Some(password) => {
            config.password(password);
        }
        None => {
            if let Some(password) = env("PGPASSWORD") {
                config.password(&password);
                extra_secrets.push(password);
            }
        }
    }
    let default_port = match env("PGPORT") {
        Some(p) => p.parse::<u16>().map_err(|_| DbError::InvalidUrl {
            origin: source.clone(),
            reason: format!("PGPORT \"{p}\" is not a port number"),
        })?,
        None => 5432,
    };
    let default_host = env("PGHOST").unwrap_or_else(|| {
        if std::path::Path::new("/var/run/postgresql").is_dir() {
            "/var/run/postgresql".to_string()
        } else {
            "/tmp".to_string()
        }
    });
    let mut targets = Vec::new();
    for endpoint in url.endpoints() {
        let mut endpoint = endpoint.clone();
        if endpoint.host.is_empty() {
            endpoint.host = default_host.clone();
        }
        let port = endpoint.port.unwrap_or(default_port);
        endpoint.port = Some(port);
        config.host(&endpoint.host);
        config.port(port);
        targets.push(endpoint.to_string());
    }
    let sslmode = url
        .param("sslmode")
        .map(str::to_string)
        .or_else(|| env("PGSSLMODE"))
        .unwrap_or_else(|| "prefer".to_string());
    config.ssl_mode(match sslmode.as_str() {
        "disable" => postgres::config::SslMode::Disable,
        "allow" | "prefer" => postgres::config::SslMode::Prefer,
        "require" | "verify-ca" | "verify-full" => {
            return Err(DbError::TlsUnsupported {
                mode: sslmode,
                origin: source.clone(),
            });
        }
        other => {
            return Err(DbError::InvalidUrl {
                origin: source.clone(),
                reason: format!("unknown sslmode \"{other}\""),
            });
        }
    });
    let timeout = match url.param("connect_timeout") {
        Some(t) => t.trim().parse::<u64>().map_err(|_| DbError::InvalidUrl {
            origin: source.clone(),
            reason: format!("connect_timeout \"{t}\" is not a number of seconds"),
        })?,
        None => 10,
    };
    if timeout > 0 {
        config.connect_timeout(Duration::from_secs(timeout.max(2)));
    }
    if let Some(options) = url.param("options") {
        config.options(options);
    }
    config.application_name("cargo-xdist");
    Ok(Resolved {
        config,
        target: targets.join(", "),
        user,
        extra_secrets,
    })
}

/// The name of the user this process runs as (its effective uid's, looked
/// up as libpq does), if it has one.
fn os_user_name() -> Option<String> {
    whoami::username_os()
        .ok()
        .map(|name| name.to_string_lossy().into_owned())
}

/// The last `count` non-empty lines of `text`, each with its whitespace
/// collapsed, joined with " | ": the end of some output, for a one-line
/// message.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

/// `text` on one line, with the secrets masked.
fn one_line(text: &str, secrets: &[String]) -> String {
    redact_secrets(text, secrets)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A postgres error and its causes, as one string.
fn error_chain(err: &postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Settings {
    fn redact(&self, text: &str) -> String {
        one_line(text, &self.secrets)
    }

    /// Connect to `dbname` with the base URL's credentials.
    fn connect_db(&self, dbname: &str) -> Result<Client, DbError> {
        let mut config = self.config.clone();
        config.dbname(dbname);
        config
            .connect(NoTls)
            .map_err(|e| self.connect_error(&e, dbname))
    }

    /// A connection to the maintenance database.
    fn admin(&self) -> Result<Client, DbError> {
        self.connect_db(&self.maintenance_db)
    }

    fn connect_error(&self, err: &postgres::Error, dbname: &str) -> DbError {
        let target = self.target.clone();
        if let Some(db) = err.as_db_error() {
            let message = self.redact(db.message());
            let code = db.code();
            if *code == SqlState::INVALID_PASSWORD {
                return DbError::AuthFailed {
                    origin: self.origin.clone(),
                    target,
                    user: self.user.clone(),
                    reason: message,
                };
            }
            if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                if message.starts_with("role ") && message.ends_with("does not exist") {
                    return DbError::RoleMissing {
                        origin: self.origin.clone(),
                        target,
                        role: self.user.clone(),
                    };
                }
                return DbError::AuthFailed {
                    origin: self.origin.clone(),
                    target,
                    user: self.user.clone(),
                    reason: message,
                };
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return DbError::DatabaseMissing {
                    origin: self.origin.clone(),
                    target,
                    name: dbname.to_string(),
                };
            }
            if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                return DbError::PermissionDenied {
                    action: format!("connect to database \"{dbname}\""),
                    message,
                    fix: format!(
                        "GRANT CONNECT ON DATABASE \"{dbname}\" TO \"{}\" as its owner, or use another role",
                        self.user
                    ),
                };
            }
            if *code == SqlState::CANNOT_CONNECT_NOW {
                return DbError::Unreachable {
                    origin: self.origin.clone(),
                    target,
                    reason: message,
                };
            }
            return DbError::Query {
                action: format!("connect to database \"{dbname}\""),
                target,
                message,
            };
        }
        let text = self.redact(&error_chain(err));
        let io_reason = std::error::Error::source(err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(|io| match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                std::io::ErrorKind::NotFound => "no server socket there".to_string(),
                _ => self.redact(&io.to_string()),
            });
        if text.starts_with("error connecting to server")
            || text.starts_with("error communicating with the server")
        {
            return DbError::Unreachable {
                origin: self.origin.clone(),
                target,
                reason: io_reason.unwrap_or(text),
            };
        }
        if text.starts_with("timeout") {
            return DbError::Unreachable {
                origin: self.origin.clone(),
                target,
                reason: "timed out".to_string(),
            };
        }
        if text.contains("password missing") {
            return DbError::AuthFailed {
                origin: self.origin.clone(),
                target,
                user: self.user.clone(),
                reason: "the server asks for a password and none was given".to_string(),
            };
        }
        if text.starts_with("authentication error") {
            return DbError::AuthFailed {
                origin: self.origin.clone(),
                target,
                user: self.user.clone(),
                reason: text,
            };
        }
        DbError::Query {
            action: format!("connect to database \"{dbname}\""),
            target,
            message: text,
        }
    }

    /// A failed statement, as a [`DbError`].
    fn sql_error(&self, err: postgres::Error, action: &str) -> DbError {
        match err.as_db_error() {
            Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => {
                DbError::PermissionDenied {
                    action: action.to_string(),
                    message: self.redact(db.message()),
                    fix: "grant the privilege, or use a role that has it".to_string(),
                }
            }
            Some(db) => DbError::Query {
                action: action.to_string(),
                target: self.target.clone(),
                message: self.redact(db.message()),
            },
            None if err.is_closed() || err.to_string().starts_with("error communicating") => {
                DbError::Unreachable {
                    origin: self.origin.clone(),
                    target: self.target.clone(),
                    reason: format!("connection lost while trying to {action}"),
                }
            }
            None => DbError::Query {
                action: action.to_string(),
                target: self.target.clone(),
                message: self.redact(&error_chain(&err)),
            },
        }
    }

    /// The checks of [`WorkerDatabases::connect`].
    fn check(&mut self) -> Result<Checked, DbError> {
        let unlocked = Checked {
            notice: None,
            client: None,
        };
        let mut client = None;
        let mut first_failure = None;
        for candidate in ["postgres", "template1"] {
            if self.template.as_deref() == Some(candidate) {
                // Being connected to the template would make it busy.
                continue;
            }
            match self.connect_db(candidate) {
                Ok(c) => {
                    self.maintenance_db = candidate.to_string();
                    client = Some(c);
                    break;
                }
                // Missing or not ours to use: try the next one.
                Err(e @ (DbError::DatabaseMissing { .. } | DbError::PermissionDenied { .. })) => {
                    first_failure.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        let Some(mut client) = client else {
            return Err(first_failure.unwrap_or_else(|| DbError::DatabaseMissing {
                origin: self.origin.clone(),
                target: self.target.clone(),
                name: "postgres".to_string(),
            }));
        };
        let version: String = client
            .query_one("SHOW server_version_num", &[])
            .map_err(|e| self.sql_error(e, "read the server version"))?
            .get(0);
        self.server_version = version.trim().parse().unwrap_or(0);
        self.fsync_off = client
            .query_one("SHOW fsync", &[])
            .map(|r| r.get::<_, String>(0) == "off")
            .unwrap_or(false);
        if self.workers == 0 && !self.ephemeral {
            return Ok(unlocked);
        }
        let row = client
            .query_opt(
                "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .map_err(|e| self.sql_error(e, "read the role's privileges"))?;
        let (superuser, createdb) = row.map_or((false, false), |r| (r.get(0), r.get(1)));
        if !superuser && !createdb {
            return Err(DbError::NoCreateDb {
                role: self.user.clone(),
            });
        }
        if let Some(template) = &self.template {
            let row = client
                .query_opt(
                    "SELECT datistemplate, pg_get_userbyid(datdba) = current_user \
                     FROM pg_database WHERE datname = $1",
                    &[template],
                )
                .map_err(|e| self.sql_error(e, "look up the template database"))?;
            let Some(row) = row else {
                return Err(DbError::MissingTemplate {
                    template: template.clone(),
                });
            };
            let (is_template, owned): (bool, bool) = (row.get(0), row.get(1));
            if !superuser && !is_template && !owned {
                return Err(template_permission(
                    template,
                    "not marked as a template and not owned by this role",
                ));
            }
        }
        if self.workers == 0 {
            return Ok(unlocked);
        }
        let budget = self.read_budget(&mut client)?;
        let (workers, notice) = budget.fit(
            self.workers,
            self.connections_per_worker,
            self.fit_workers,
            self.allow_overcommit,
            &self.target,
        )?;
        self.workers = workers;
        Ok(Checked {
            notice,
            client: Some(client),
        })
    }

    /// Take the first name set of the base that no other run holds and
    /// whose names no database of another base has (see the module docs),
    /// its lock held on `client`, which the run keeps open; returns a line
    /// for the user when it is not the first set.
    fn claim_names(&mut self, client: &mut Client) -> Result<Option<String>, DbError> {
        let base = self.base.database().to_string();
        let (mut busy, mut foreign) = (0, Vec::new());
        for set in 1..=MAX_NAME_SETS {
            let names = name_set(&base, set);
            if !self.try_lock(client, NAMES_LOCK, &names)? {
                busy += 1;
                continue;
            }
            if let Some(name) = self.foreign_name(client, &names)? {
                client
                    .execute(
                        "SELECT pg_advisory_unlock($1, $2)",
                        &[&NAMES_LOCK, &lock_key(&names)],
                    )
                    .map_err(|e| self.sql_error(e, &format!("release the lock of \"{names}\"")))?;
                foreign.push(name);
                continue;
            }
            self.set = set;
            if set == 1 {
                return Ok(None);
            }
            let mut why = Vec::new();
            match busy {
                0 => {}
                1 => why.push(format!(
                    "another cargo xdist run uses the worker databases {}..",
                    worker_db_name(&base, 0)
                )),
                n => why.push(format!(
                    "{n} other cargo xdist runs use the worker databases {}..",
                    worker_db_name(&base, 0)
                )),
            }
            if !foreign.is_empty() {
                why.push(format!(
                    "{} {} made by cargo-xdist for another base database (or by an earlier version) and left alone",
                    foreign.join(", "),
                    if foreign.len() == 1 { "was" } else { "were" }
                ));
            }
            return Ok(Some(format!(
                "{}; this run uses {}.. instead",
                why.join("; "),
                self.worker_name(0)
            )));
        }
        Err(DbError::NamesBusy {
            names: format!(
                "{}.. to {}..",
                worker_db_name(&base, 0),
                url::set_worker_db_name(&base, MAX_NAME_SETS, 0)
            ),
            base,
            target: self.target.clone(),
            origin: self.origin.clone(),
        })
    }

    /// A database named like a worker database of name set `names` that
    /// cargo-xdist marked, but not for this base, if there is one.
    fn foreign_name(&self, client: &mut Client, names: &str) -> Result<Option<String>, DbError> {
        let base = self.base.database();
        let mut found: Vec<String> = (self.marked_databases(client)?.into_iter())
            .filter(|(name, comment)| {
                url::worker_index(names, name).is_some() && !marks_base(Some(comment), base)
            })
            .map(|(name, _)| name)
            .collect();
        found.sort();
        Ok(found.into_iter().next())
    }

    /// Worker `index`'s database name in the run's name set.
    fn worker_name(&self, index: usize) -> String {
        url::set_worker_db_name(self.base.database(), self.set, index)
    }

    /// `pg_try_advisory_lock(class, key of name)` on `client`.
    fn try_lock(&self, client: &mut Client, class: i32, name: &str) -> Result<bool, DbError> {
        client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&class, &lock_key(name)],
            )
            .map(|row| row.get(0))
            .map_err(|e| self.sql_error(e, &format!("take the lock of \"{name}\"")))
    }

    /// Run `work` holding the advisory lock (`class`, key of `name`) on
    /// `client`, if no other session holds it; `None` if one does.
    fn while_locked<T>(
        &self,
        client: &mut Client,
        class: i32,
        name: &str,
        work: impl FnOnce(&mut Client) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        if !self.try_lock(client, class, name)? {
            return Ok(None);
        }
        let result = work(client);
        let unlocked = client
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&class, &lock_key(name)],
            )
            .map_err(|e| self.sql_error(e, &format!("release the lock of \"{name}\"")));
        let value = result?;
        unlocked?;
        Ok(Some(value))
    }

    /// The server's connection slots: `max_connections`, the reserved ones
    /// (`superuser_reserved_connections`, and `reserved_connections` from
    /// PostgreSQL 16 on), and the client connections in use, ours
    /// included: the run keeps it open to hold its name set's lock.
    fn read_budget(&self, client: &mut Client) -> Result<Budget, DbError> {
        let reserved = if self.server_version >= 160_000 {
            "current_setting('superuser_reserved_connections')::int \
             + current_setting('reserved_connections')::int"
        } else {
            "current_setting('superuser_reserved_connections')::int"
        };
        let clients = if self.server_version >= 100_000 {
            "backend_type = 'client backend'"
        } else {
            "true"
        };
        let row = client
            .query_one(
                &format!(
                    "SELECT current_setting('max_connections')::int, {reserved}, \
                     (SELECT count(*)::int FROM pg_stat_activity WHERE {clients})"
                ),
                &[],
            )
            .map_err(|e| self.sql_error(e, "read the server's connection limits"))?;
        let count = |i: usize| usize::try_from(row.get::<_, i32>(i)).unwrap_or(0);
        Ok(Budget {
            max_connections: count(0),
            reserved: count(1),
            in_use: count(2),
        })
    }

    /// Create (or, with `keep`, reuse) the databases of `indices` over one
    /// connection.
    fn create_group(&self, indices: &[usize]) -> Vec<Outcome> {
        let mut client = match self.admin() {
            Ok(client) => Some(client),
            Err(e) => {
                return indices
                    .iter()
                    .map(|&index| Outcome {
                        index,
                        name: self.worker_name(index),
                        created: false,
                        error: Some(e.clone()),
                    })
                    .collect();
            }
        };
        indices
            .iter()
            .map(|&index| {
                let name = self.worker_name(index);
                let mut created = false;
                let result = match client.as_mut() {
                    Some(client) => self.create_one(client, index, &name, &mut created),
                    None => unreachable!("connected above"),
                };
                Outcome {
                    index,
                    name,
                    created,
                    error: result.err(),
                }
            })
            .collect()
    }

    fn create_one(
        &self,
        client: &mut Client,
        index: usize,
        name: &str,
        created: &mut bool,
    ) -> Result<(), DbError> {
        if self.cancel.is_cancelled() {
            return Err(DbError::Cancelled {
                what: format!("the database of worker gw{index}"),
            });
        }
        if let Some(comment) = self.existing_comment(client, name)? {
            if !is_marked(comment.as_deref()) {
                return Err(DbError::NameTaken {
                    origin: self.origin.clone(),
                    name: name.to_string(),
                });
            }
            if !marks_base(comment.as_deref(), self.base.database()) {
                return Err(DbError::OtherBase {
                    origin: self.origin.clone(),
                    name: name.to_string(),
                });
            }
            if self.keep && self.reusable(comment.as_deref()) {
                // Reused as it is, like pytest-django's --reuse-db.
                return Ok(());
            }
            self.drop_database(client, name)?;
        }
        self.create_database(client, name)?;
        *created = true;
        if self.cached.is_some() {
            // Set up already, as a copy of the template.
            return Ok(());
        }
        let url = self.base.worker_url_in(self.set, index);
        self.run_setup(&format!("worker gw{index}"), &url)
    }

    /// Whether a kept worker database (marked `comment`) may serve this
    /// run: always, unless it must be a copy of the cached template, and it
    /// is not a copy of this one or the template was just rebuilt.
    fn reusable(&self, comment: Option<&str>) -> bool {
        match (&self.cached, &self.cache) {
            (Some(name), Some(plan)) => {
                !plan.rebuild && comment.is_some_and(|c| c.ends_with(&format!(" from {name}")))
            }
            _ => true,
        }
    }

    /// The databases whose comment marks them as cargo-xdist's.
    /// (name, comment) of each.
    fn marked_databases(&self, client: &mut Client) -> Result<Vec<(String, String)>, DbError> {
        let rows = client
            .query(
                "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database",
                &[],
            )
            .map_err(|e| self.sql_error(e, "list databases"))?;
        Ok(rows
            .iter()
            .filter(|row| is_marked(row.get(1)))
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    /// `Some(comment)` if database `name` exists.
    fn existing_comment(
        &self,
        client: &mut Client,
        name: &str,
    ) -> Result<Option<Option<String>>, DbError> {
        let row = client
            .query_opt(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .map_err(|e| self.sql_error(e, &format!("look up database \"{name}\"")))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// `CREATE DATABASE` (from the template, if any) and mark it.
    fn create_database(&self, client: &mut Client, name: &str) -> Result<(), DbError> {
        self.create_marked(client, name, None, &self.marker)
    }

    /// `CREATE DATABASE` (from the template, if any, or else the cached
    /// one) and mark it with `marker`.
    fn create_marked(
        &self,
        client: &mut Client,
        name: &str,
        from: Option<&str>,
        marker: &str,
    ) -> Result<(), DbError> {
        let from = from.or(self.template.as_deref()).or(self.cached.as_deref());
        let mut sql = format!("CREATE DATABASE {}", escape_identifier(name));
        if let Some(template) = from {
            sql.push_str(&format!(" TEMPLATE {}", escape_identifier(template)));
        }
        // PostgreSQL 15's default (WAL_LOG) writes the whole template to the
        // WAL; copying the files is ~3x faster for small test databases, at
        // the price of a checkpoint, which costs little without fsync.
        if self.fsync_off && self.server_version >= 150_000 {
            sql.push_str(" STRATEGY FILE_COPY");
        }
        client.batch_execute(&sql).map_err(|e| {
            let code = e.code().cloned();
            match (from, code) {
                (_, Some(c)) if c == SqlState::DUPLICATE_DATABASE => DbError::NameTaken {
                    origin: self.origin.clone(),
                    name: name.to_string(),
                },
                (Some(t), Some(c)) if c == SqlState::OBJECT_IN_USE => DbError::TemplateBusy {
                    template: t.to_string(),
                    sessions: self.sessions_on(client, t),
                },
                (Some(t), Some(c)) if c == SqlState::INVALID_CATALOG_NAME => {
                    DbError::MissingTemplate {
                        template: t.to_string(),
                    }
                }
                (Some(t), Some(c)) if c == SqlState::INSUFFICIENT_PRIVILEGE => {
                    let reason = e
                        .as_db_error()
                        .map_or(String::new(), |db| self.redact(db.message()));
                    template_permission(t, &reason)
                }
                _ => self.sql_error(e, &format!("create database \"{name}\"")),
            }
        })?;
        self.mark(client, name, marker)
    }

    /// Set database `name`'s comment to `marker`.
    fn mark(&self, client: &mut Client, name: &str, marker: &str) -> Result<(), DbError> {
        let comment = format!(
            "COMMENT ON DATABASE {} IS {}",
            escape_identifier(name),
            escape_literal(marker)
        );
        client
            .batch_execute(&comment)
            .map_err(|e| self.sql_error(e, &format!("mark database \"{name}\"")))
    }

    /// How many sessions are connected to database `name` (0 if unknown).
    fn sessions_on(&self, client: &mut Client, name: &str) -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .map_or(0, |row| row.get(0))
    }

    /// Serial mode on an ephemeral server: make the base database exist and
    /// run the setup command against it.
    fn ensure_base(&self) -> Result<(), DbError> {
        let name = self.base.database();
        let mut client = self.admin()?;
        if self.existing_comment(&mut client, name)?.is_none() {
            self.create_database(&mut client, name)?;
        }
        self.run_setup("the base database", self.base.as_str())
    }

    /// Drop `name`, first making sure it is one of the worker databases of
    /// this run's name set and carries this run's marker (which names the
    /// base and the run). Gone already is fine.
    fn drop_if_ours(&self, client: &mut Client, name: &str) -> Result<(), DbError> {
        let base = self.base.database();
        let in_set = worker_set_index(base, name).is_some_and(|(set, _)| set == self.set);
        if name == base || !in_set {
            return Ok(());
        }
        match self.existing_comment(client, name)? {
            Some(Some(comment)) if comment == self.marker => self.drop_database(client, name),
            _ => Ok(()),
        }
    }

    /// `DROP DATABASE IF EXISTS ... WITH (FORCE)` (on servers before 13,
    /// which lack FORCE: terminate its sessions, then drop).
    fn drop_database(&self, client: &mut Client, name: &str) -> Result<(), DbError> {
        let action = format!("drop database \"{name}\"");
        if self.server_version >= 130_000 {
            return client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    escape_identifier(name)
                ))
                .map_err(|e| self.sql_error(e, &action));
        }
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .map_err(|e| self.sql_error(e, &action))?;
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {}",
                escape_identifier(name)
            ))
            .map_err(|e| self.sql_error(e, &action))
    }

    /// Run `--db-setup` (if any) with `url` in the configured variable.
    fn run_setup(&self, worker: &str, url: &str) -> Result<(), DbError> {
        let Some(command) = &self.setup else {
            return Ok(());
        };
        let failed = |status: String, output: &str| {
            // Masked before lines are picked and their spaces collapsed.
            let tail = last_lines(&redact_secrets(output, &self.secrets), MESSAGE_TAIL_LINES);
            DbError::SetupFailed {
                worker: worker.to_string(),
                status,
                tail: if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", self.redact(&tail))
                },
                env_name: self.env_name.clone(),
            }
        };
        if self.cancel.is_cancelled() {
            return Err(DbError::SetupInterrupted {
                worker: worker.to_string(),
            });
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command).env(&self.env_name, url);
        die_with_parent(&mut cmd);
        // In a process group of its own, which gets the signal that stops
        // the run and SIGKILL after the grace (as a test process does).
        let result = crate::process::output(cmd, &self.cancel, Duration::MAX);
        let output = match result {
            Ok(output) => output,
            Err(e) => return Err(failed(format!("could not run sh: {e}"), "")),
        };
        if self.cancel.is_cancelled() {
            // However it ended (killed, or exiting 143 on the signal).
            return Err(DbError::SetupInterrupted {
                worker: worker.to_string(),
            });
        }
        if output.finished.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        Err(failed(
            crate::error::describe_status(&output.finished.status),
            &text,
        ))
    }
}

/// Have `cmd`'s process killed (SIGKILL) when cargo-xdist dies, even by
/// SIGKILL, which leaves no chance to signal it.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the child between fork and exec, and
    // only makes async-signal-safe system calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent died before the prctl: nobody is left to ask.
            if rustix::process::getppid() != Some(parent) {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

fn template_permission(template: &str, reason: &str) -> DbError {
    DbError::PermissionDenied {
        action: format!("copy template database \"{template}\""),
        message: reason.to_string(),
        fix: format!(
            "run ALTER DATABASE \"{template}\" IS_TEMPLATE true as its owner, or connect as its owner or a superuser"
        ),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: &str) -> DbOptions {
        DbOptions {
            url: Some(url.to_string()),
            env_name: "DATABASE_URL".to_string(),
            ..DbOptions::default()
        }
    }

    #[test]
    fn missing_and_invalid_urls_fail_before_any_connection() {
        let mut o = opts("x");
        o.url = None;
        let e = WorkerDatabases::connect(&o, 2, "r").unwrap_err();
        assert!(matches!(e, DbError::MissingUrl { .. }));
        assert!(e.to_string().contains("DATABASE_URL"), "{e}");
        assert!(e.to_string().contains("--ephemeral-postgres "), "{e}");
        let e = WorkerDatabases::connect(&opts("mysql://u:pw@h/d"), 2, "r").unwrap_err();
        assert!(matches!(e, DbError::InvalidUrl { .. }), "{e}");
        let e = WorkerDatabases::connect(&opts("postgres://u:pw@h:5432"), 2, "r").unwrap_err();
        assert!(e.to_string().contains("no database"), "{e}");
        let e = WorkerDatabases::connect(&opts("postgres://u:pw@h/d?sslmode=require"), 2, "r")
            .unwrap_err();
        assert!(matches!(e, DbError::TlsUnsupported { .. }), "{e}");
    }

    #[test]
    fn messages_are_one_line_problem_then_fix() {
        let samples = [
            DbError::Unreachable {
                target: "db:5432".into(),
                reason: "connection refused".into(),
                origin: UrlSource::Flag,
            },
            DbError::NoCreateDb { role: "app".into() },
            DbError::ServerBinariesMissing,
            DbError::SetupFailed {
                worker: "worker gw1".into(),
                status: "exit code 2".into(),
                tail: ": boom".into(),
                env_name: "DATABASE_URL".into(),
            },
            DbError::Ephemeral {
                reason: "pg_ctl start failed (exit code 1)".into(),
                tail: " (log: FATAL: no)".into(),
            },
        ];
        for e in samples {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("; "), "{text}");
            // The flag is named as it is spelled.
            if text.contains("--ephemeral") {
                assert!(text.ends_with("--ephemeral-postgres"), "{text}");
            }
        }
        assert_eq!(
            DbError::Unreachable {
                target: "db:5432".into(),
                reason: "connection refused".into(),
                origin: UrlSource::Env("APP_DB".into()),
            }
            .to_string(),
            "cannot reach PostgreSQL at db:5432 (connection refused), the server named by $APP_DB; start the server, fix the host and port in $APP_DB, or pass --no-db to run without worker databases"
        );
    }

    #[test]
    fn a_bad_url_names_where_it_came_from() {
        for (origin, named) in [
            (UrlSource::Flag, "in --database-url:"),
            (UrlSource::Env("DATABASE_URL".into()), "in $DATABASE_URL:"),
            (UrlSource::Env("APP_DB".into()), "in $APP_DB:"),
        ] {
            let mut o = opts("mysql://u:pw@h/d");
            o.url_source = origin;
            let e = WorkerDatabases::connect(&o, 2, "r").unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("invalid database URL {named}")),
                "{text}"
            );
            assert!(
                text.ends_with("or pass --no-db to run without worker databases"),
                "{text}"
            );
        }
    }

    #[test]
    fn serial_mode_connects_to_nothing_and_passes_the_url_as_given() {
        // Nothing listens on port 1; a bad URL is the tests' business too.
        for url in ["postgres://u:pw1234@127.0.0.1:1/app", "not a URL at all"] {
            let mut dbs = WorkerDatabases::connect(&opts(url), 0, "r").unwrap();
            assert_eq!(dbs.workers(), 0);
            assert_eq!(dbs.notice(), None);
            dbs.create().unwrap();
            assert_eq!(
                dbs.worker_env(None),
                ("DATABASE_URL".to_string(), url.to_string())
            );
            dbs.cleanup().unwrap();
        }
        let dbs =
            WorkerDatabases::connect(&opts("postgres://u:pw1234@127.0.0.1:1/app"), 0, "r").unwrap();
        assert_eq!(dbs.secrets(), ["pw1234"]);
        assert!(!format!("{dbs:?}").contains("pw1234"));
    }

    #[test]
    fn os_user_name_is_the_effective_users() {
        let out = Command::new("id").arg("-un").output().unwrap();
        let expected = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert_eq!(os_user_name(), Some(expected));
    }

    #[test]
    fn a_marker_names_its_base_and_no_other() {
        assert_eq!(base_marker("shop"), "created by cargo-xdist for \"shop\"");
        let shop = format!("{} run r1", base_marker("shop"));
        assert!(marks_base(Some(&shop), "shop"));
        for other in ["shop_r2", "sho", "shop_gw0", "shop\" run r1", ""] {
            assert!(!marks_base(Some(&shop), other), "{other}");
            let theirs = format!("{} run r1", base_marker(other));
            assert!(!marks_base(Some(&theirs), "shop"), "{theirs}");
            assert!(is_marked(Some(&theirs)));
        }
        let quoted = format!("{} template k", base_marker("a\" run x"));
        assert!(marks_base(Some(&quoted), "a\" run x"));
        assert!(!marks_base(Some(&quoted), "a"));
        // An earlier version's markers name no base.
        assert!(!marks_base(Some("created by cargo-xdist run r1"), "shop"));
        assert!(!marks_base(Some(&base_marker("shop")), "shop"));
        assert!(!marks_base(None, "shop"));
    }

    #[test]
    fn one_line_redacts() {
        let secrets = vec!["s3cr:t".to_string()];
        assert_eq!(one_line("a\n  b s3cr:t c", &secrets), "a b **** c");
        assert_eq!(one_line("s3cr%3At", &secrets), "****");
    }
}
