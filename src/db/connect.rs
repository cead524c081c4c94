//! Connecting: the settings libpq would use for a URL (filled in from
//! `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, the OS user and
//! the default socket), a connection to a database with them, and the
//! checks [`WorkerDatabases::connect`](super::WorkerDatabases::connect)
//! makes before the build.

use std::time::Duration;

use postgres::{Client, NoTls};

use super::classify::template_permission;
use super::error::DbError;
use super::options::UrlSource;
use super::settings::Settings;
use super::url::PgUrl;

/// What [`Settings::check`] found.
pub(super) struct Checked {
    /// Why the worker count was lowered, if it was.
    pub(super) notice: Option<String>,
    /// With workers: the connection, to hold the name set's lock on.
    pub(super) client: Option<Client>,
}

/// Connection settings derived from a URL plus libpq's environment defaults.
pub(super) struct Resolved {
    pub(super) config: postgres::Config,
    pub(super) target: String,
    pub(super) user: String,
    pub(super) extra_secrets: Vec<String>,
}

/// Build our own connection settings from the URL, filling in what it
/// leaves out the way libpq would (`PGHOST`, `PGPORT`, `PGUSER`,
/// `PGPASSWORD`, `PGSSLMODE`, then the OS user and the default socket);
/// with `use_env` false the `PG*` variables are ignored.
pub(super) fn resolve(url: &PgUrl, use_env: bool, source: &UrlSource) -> Result<Resolved, DbError> {
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

impl Settings {
    /// Connect to `dbname` with the base URL's credentials.
    pub(super) fn connect_db(&self, dbname: &str) -> Result<Client, DbError> {
        let mut config = self.config.clone();
        config.dbname(dbname);
        config
            .connect(NoTls)
            .map_err(|e| self.connect_error(&e, dbname))
    }

    /// A connection to the maintenance database.
    pub(super) fn admin(&self) -> Result<Client, DbError> {
        self.connect_db(&self.maintenance_db)
    }

    /// The checks of [`WorkerDatabases::connect`](super::WorkerDatabases::connect).
    pub(super) fn check(&mut self) -> Result<Checked, DbError> {
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
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn os_user_name_is_the_effective_users() {
        let out = Command::new("id").arg("-un").output().unwrap();
        let expected = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert_eq!(os_user_name(), Some(expected));
    }
}
