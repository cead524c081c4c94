//! [`WorkerDatabases`]: the life of one run's databases (connect → create
//! → worker_env → cleanup; see the module docs of [`crate::db`]), and the
//! [`super::settings::Settings`] its steps share.

use std::time::{Duration, Instant};

use postgres::Client;
use rayon::prelude::*;

use super::connect::resolve;
use super::create::Outcome;
use super::ephemeral::EphemeralServer;
use super::error::DbError;
use super::names::{base_marker, set_worker_db_name};
use super::options::{DEFAULT_EPHEMERAL_DB, DbOptions, UrlSource};
use super::settings::Settings;
use super::template;
use super::url::{self, PgUrl};
use crate::signal::Cancel;

/// At most this many databases are created (and set up) at once, each with
/// its own connection, so a large `-n` does not exhaust `max_connections`.
const MAX_PARALLEL: usize = 8;

/// The databases of one run; see the module docs.
#[derive(Debug)]
pub struct WorkerDatabases {
    /// `None` in serial mode on the user's own server (`-n 0`): nothing is
    /// connected, created or dropped, and `serial`'s URL is passed on.
    pub(super) settings: Option<Settings>,
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

    pub(super) fn connect_server(
        opts: &DbOptions,
        workers: usize,
        run_id: &str,
    ) -> Result<Self, DbError> {
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
                manifest_path: opts.manifest_path.clone(),
                sqlx: false,
                born_migrated: opts.sqlx_born_migrated && opts.ephemeral,
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

    /// Serve `workers` workers at most (the run needs no more); call before
    /// [`Self::create`], or the surplus databases are only dropped at the end.
    pub fn limit_workers(&mut self, workers: usize) {
        (self.settings.iter_mut()).for_each(|s| s.workers = s.workers.min(workers));
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
        let root = template::workspace_root(settings.manifest_path.as_deref());
        settings.sqlx = super::sqlx::wanted(root.as_deref());
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
                let (name, mut lock) = settings.prepare_template()?;
                if settings.born_migrated {
                    let note = settings.make_born_migrated(&mut lock, &name, root.as_deref())?;
                    eprintln!("{note}");
                }
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
        type Dropped = Result<Vec<String>, DbError>;
        let drop_chunk = |chunk: &[String]| -> Vec<(String, Dropped)> {
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
        let all = || -> Vec<(String, Dropped)> {
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
        let mut sqlx_dropped = Vec::new();
        for (name, result) in outcomes {
            match result {
                Ok(dropped) => sqlx_dropped.extend(dropped),
                Err(e) => {
                    first_error.get_or_insert(e);
                    self.created.push(name);
                }
            }
        }
        sqlx_dropped.sort();
        if let Some(note) = super::sqlx::dropped_note(&sqlx_dropped) {
            eprintln!("{note}");
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

fn parse_url(raw: &str, source: &UrlSource) -> Result<PgUrl, DbError> {
    PgUrl::parse(raw).map_err(|e| DbError::InvalidUrl {
        origin: source.clone(),
        reason: e.to_string(),
    })
}

impl Settings {
    /// Worker `index`'s database name in the run's name set.
    pub(super) fn worker_name(&self, index: usize) -> String {
        set_worker_db_name(self.base.database(), self.set, index)
    }
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
}
