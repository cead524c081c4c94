//! The statements on one connection: list and look up databases, create,
//! mark and drop them, read the server's connection slots.

use postgres::Client;
use postgres::error::SqlState;
use postgres_protocol::escape::{escape_identifier, escape_literal};

use super::budget::Budget;
use super::classify::template_permission;
use super::error::DbError;
use super::names::is_marked;
use super::settings::Settings;

impl Settings {
    /// The server's connection slots: `max_connections`, the reserved ones
    /// (`superuser_reserved_connections`, and `reserved_connections` from
    /// PostgreSQL 16 on), and the client connections in use, ours
    /// included: the run keeps it open to hold its name set's lock.
    pub(super) fn read_budget(&self, client: &mut Client) -> Result<Budget, DbError> {
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

    /// The databases whose comment marks them as cargo-xdist's.
    /// (name, comment) of each.
    pub(super) fn marked_databases(
        &self,
        client: &mut Client,
    ) -> Result<Vec<(String, String)>, DbError> {
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
    pub(super) fn existing_comment(
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
    pub(super) fn create_database(&self, client: &mut Client, name: &str) -> Result<(), DbError> {
        self.create_marked(client, name, None, &self.marker)
    }

    /// `CREATE DATABASE` (from the template, if any, or else the cached
    /// one) and mark it with `marker`.
    pub(super) fn create_marked(
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
    pub(super) fn mark(
        &self,
        client: &mut Client,
        name: &str,
        marker: &str,
    ) -> Result<(), DbError> {
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
    pub(super) fn sessions_on(&self, client: &mut Client, name: &str) -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .map_or(0, |row| row.get(0))
    }

    /// `DROP DATABASE IF EXISTS ... WITH (FORCE)` (on servers before 13,
    /// which lack FORCE: terminate its sessions, then drop).
    pub(super) fn drop_database(&self, client: &mut Client, name: &str) -> Result<(), DbError> {
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
}
