//! [`DbError`], every way the databases can fail, each a one-line "problem;
//! fix" message without a password; and the helpers that make texts fit in
//! one.

use super::names::MAX_NAME_SETS;
use super::options::UrlSource;
use super::url::redact_secrets;

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

/// Lines of `--db-setup` output or of the ephemeral server's log quoted in
/// a one-line error message.
pub(super) const MESSAGE_TAIL_LINES: usize = 3;

/// The last `count` non-empty lines of `text`, each with its whitespace
/// collapsed, joined with " | ": the end of some output, for a one-line
/// message.
pub(super) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

/// `text` on one line, with the secrets masked.
pub(super) fn one_line(text: &str, secrets: &[String]) -> String {
    redact_secrets(text, secrets)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A postgres error and its causes, as one string.
pub(super) fn error_chain(err: &postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn one_line_redacts() {
        let secrets = vec!["s3cr:t".to_string()];
        assert_eq!(one_line("a\n  b s3cr:t c", &secrets), "a b **** c");
        assert_eq!(one_line("s3cr%3At", &secrets), "****");
    }
}
