//! `#[sqlx::test]` through worker databases.
//!
//! sqlx's test macro connects to the database `DATABASE_URL` names (here a
//! worker database), keeps a schema `_sqlx_test` there (a table
//! `databases` recording the test databases it made, and a sequence
//! `database_ids`) and creates one database per test on the same server:
//!
//! - sqlx 0.7.x and 0.8.0–0.8.3 name it `_sqlx_test_<nextval of the
//!   sequence>`. Every new worker database's sequence would start at 1, so
//!   workers would create the same names on one server. Each worker
//!   database therefore gets the schema and the sequence before any test
//!   runs (`Settings::prepare_sqlx`), with a range of ids that depends
//!   only on its name ([`id_range`]) and that no other worker database
//!   meets; sqlx's `create ... if not exists` keeps it. Their cleanup at a
//!   test binary's start drops only databases recorded in its own worker
//!   database, which only that worker's earlier processes made.
//! - sqlx 0.8.4 on names it after a hash of the test's path, so the
//!   sequence goes unused; nothing else changes.
//!
//! A failed (or killed) test's database is kept by sqlx, and recorded in
//! the worker database. Before a worker database is dropped (at the run's
//! end, when a dead run's leftover is replaced, or by `db clean`), the
//! databases it records are dropped (`Settings::drop_sqlx_databases`):
//! they are the run's. Only names sqlx makes (`_sqlx_test_...`) that carry
//! no cargo-xdist marker are dropped, and never while a session uses one.
//! A new worker database is a copy of a template, which may hold sqlx's
//! record of databases made through the template itself: that copy of the
//! record is emptied as soon as the worker database exists, so whatever it
//! records later was made through it, by a run of this base.
//!
//! The schema is only made when the workspace's `Cargo.lock` names
//! `sqlx-postgres` (or there is no `Cargo.lock` to tell): other suites'
//! worker databases stay exactly as their setup made them.

use std::path::Path;

use postgres::Client;
use postgres::error::SqlState;
use postgres_protocol::escape::escape_identifier;

use super::error::DbError;
use super::names::is_marked;
use super::settings::Settings;

/// The prefix of every test database name sqlx makes.
pub const TEST_DB_PREFIX: &str = "_sqlx_test_";

/// How many ids each worker database's range holds (2^31).
const RANGE_LEN: i64 = 1 << 31;

/// The (first, last) id of worker database `worker_db`'s sequence: range
/// number 1 to 2^32 - 1 from a 32-bit hash of its name, of 2^31 ids each.
/// Range 0 (ids up to 2^31 - 1) is left to sqlx's own sequences (in a
/// database cargo-xdist did not prepare, counting from 1), so they never
/// meet ours; two worker databases on one server share a range only if
/// their names' hashes are equal modulo 2^32 - 1.
pub fn id_range(worker_db: &str) -> (i64, i64) {
    range_of_hash(crate::hash::fnv1a32(worker_db.as_bytes()))
}

/// The range of a name whose hash is `hash`: number `hash mod (2^32 - 1)
/// + 1`, so never range 0, and the last one ends at `i64::MAX`.
fn range_of_hash(hash: u32) -> (i64, i64) {
    let slot = i64::from(hash) % i64::from(u32::MAX) + 1;
    let first = slot * RANGE_LEN;
    (first, first + (RANGE_LEN - 1))
}

/// Whether the lock file `lock` (its text) pulls in sqlx's PostgreSQL
/// driver: then the worker databases are prepared for `#[sqlx::test]`.
pub fn lock_uses_sqlx(lock: &str) -> bool {
    lock.lines()
        .any(|line| line.trim() == "name = \"sqlx-postgres\"")
}

/// Whether to prepare the worker databases for `#[sqlx::test]`: when the
/// workspace's `Cargo.lock` (in `workspace_root`) names `sqlx-postgres`,
/// or when there is none to read (cargo is yet to write it).
pub fn wanted(workspace_root: Option<&Path>) -> bool {
    let Some(root) = workspace_root else {
        return true;
    };
    match fs_err::read_to_string(root.join("Cargo.lock")) {
        Ok(lock) => lock_uses_sqlx(&lock),
        Err(_) => true,
    }
}

/// Whether `name` is a test database sqlx could have made.
fn sqlx_made(name: &str) -> bool {
    name.len() > TEST_DB_PREFIX.len() && name.starts_with(TEST_DB_PREFIX)
}

impl Settings {
    /// Make worker database `name` ready for `#[sqlx::test]`: when `fresh`
    /// (just created, as a copy of a template), forget the test databases
    /// the template's record names (they were made through another
    /// database, not by this run); when the workspace uses sqlx, give it
    /// sqlx's schema and a sequence of ids of its own (see the module
    /// docs). Idempotent: a kept database whose sequence has its range
    /// already is left as it is.
    pub(super) fn prepare_sqlx(&self, name: &str, fresh: bool) -> Result<(), DbError> {
        if !fresh && !self.sqlx {
            return Ok(());
        }
        let action = format!("prepare database \"{name}\" for #[sqlx::test]");
        let mut client = self.connect_db(name)?;
        if fresh {
            client
                .batch_execute(
                    "DO $$ BEGIN \
                     IF to_regclass('_sqlx_test.databases') IS NOT NULL THEN \
                     DELETE FROM _sqlx_test.databases; \
                     END IF; END $$",
                )
                .map_err(|e| self.sql_error(e, &action))?;
        }
        if !self.sqlx {
            return Ok(());
        }
        let (first, last) = id_range(name);
        let range: Option<(i64, i64)> = client
            .query_opt(
                "SELECT seqmin, seqmax FROM pg_catalog.pg_sequence \
                 WHERE seqrelid = to_regclass('_sqlx_test.database_ids')",
                &[],
            )
            .map_err(|e| self.sql_error(e, &action))?
            .map(|row| (row.get(0), row.get(1)));
        let sql = match range {
            Some(range) if range == (first, last) => return Ok(()),
            // A copy of a template that had sqlx's own sequence.
            Some(_) => format!(
                "ALTER SEQUENCE _sqlx_test.database_ids \
                 MINVALUE {first} MAXVALUE {last} START WITH {first} RESTART WITH {first}"
            ),
            None => format!(
                "CREATE SCHEMA IF NOT EXISTS _sqlx_test; \
                 CREATE SEQUENCE _sqlx_test.database_ids \
                 MINVALUE {first} MAXVALUE {last} START WITH {first}"
            ),
        };
        client
            .batch_execute(&sql)
            .map_err(|e| self.sql_error(e, &action))
    }

    /// The test databases sqlx recorded in worker database `worker_db`
    /// (none if it has no record, or is gone).
    pub(super) fn sqlx_records(&self, worker_db: &str) -> Result<Vec<String>, DbError> {
        let action = format!("read the sqlx test databases recorded in \"{worker_db}\"");
        let mut client = match self.connect_db(worker_db) {
            Ok(client) => client,
            Err(_) if !self.database_exists(worker_db)? => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let recorded = client
            .query_one(
                "SELECT to_regclass('_sqlx_test.databases') IS NOT NULL",
                &[],
            )
            .map_err(|e| self.sql_error(e, &action))?
            .get::<_, bool>(0);
        if !recorded {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                "SELECT db_name::text FROM _sqlx_test.databases ORDER BY 1",
                &[],
            )
            .map_err(|e| self.sql_error(e, &action))?;
        Ok(rows
            .iter()
            .map(|row| row.get::<_, String>(0))
            .filter(|name| sqlx_made(name))
            .collect())
    }

    /// Whether database `name` exists (asked on a new maintenance
    /// connection).
    fn database_exists(&self, name: &str) -> Result<bool, DbError> {
        let mut client = self.admin()?;
        Ok(self.existing_comment(&mut client, name)?.is_some())
    }

    /// Drop the test databases sqlx recorded in worker database
    /// `worker_db` (over `client`, a maintenance connection); returns the
    /// names dropped. A database some session still uses is left, with a
    /// warning; so is any that carries a cargo-xdist marker.
    pub(super) fn drop_sqlx_databases(
        &self,
        client: &mut Client,
        worker_db: &str,
    ) -> Result<Vec<String>, DbError> {
        let mut dropped = Vec::new();
        for name in self.sqlx_records(worker_db)? {
            match self.existing_comment(client, &name)? {
                Some(comment) if !is_marked(comment.as_deref()) => {}
                _ => continue,
            }
            // Without FORCE: PostgreSQL waits a few seconds for the
            // sessions of a test just killed to end, then refuses.
            let sql = format!("DROP DATABASE IF EXISTS {}", escape_identifier(&name));
            match client.batch_execute(&sql) {
                Ok(()) => dropped.push(name),
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => eprintln!(
                    "warning: left sqlx test database {name} (recorded in {worker_db}): it is in use; drop it by hand when it is not"
                ),
                Err(e) => return Err(self.sql_error(e, &format!("drop database \"{name}\""))),
            }
        }
        Ok(dropped)
    }
}

/// One line saying which sqlx test databases were dropped, if any.
pub fn dropped_note(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let n = names.len();
    let s = if n == 1 { "" } else { "s" };
    Some(format!(
        "note: dropped {n} sqlx test database{s} that failed or killed tests left: {}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_fit_a_bigint_and_stay_clear_of_sqlx_s_own_sequence() {
        for name in ["", "app_gw0", "app_gw1", "app_r2_gw0", "x_xdist_tpl_1"] {
            let (first, last) = id_range(name);
            assert!(first >= RANGE_LEN, "{name}: {first}");
            assert_eq!(last - first, RANGE_LEN - 1);
            assert_eq!(first % RANGE_LEN, 0);
            // The longest name sqlx makes from it fits PostgreSQL's limit.
            assert!(format!("{TEST_DB_PREFIX}{last}").len() <= 63);
        }
        assert_ne!(id_range("app_gw0"), id_range("app_gw1"));
        assert_eq!(id_range("app_gw0"), id_range("app_gw0"));
    }

    #[test]
    fn the_extreme_hashes_give_the_first_and_last_ranges() {
        assert_eq!(range_of_hash(0), (RANGE_LEN, 2 * RANGE_LEN - 1));
        // u32::MAX wraps to the first range, not past i64::MAX.
        assert_eq!(range_of_hash(u32::MAX), range_of_hash(0));
        assert_eq!(range_of_hash(u32::MAX - 1).1, i64::MAX);
    }

    #[test]
    fn only_a_lock_naming_sqlx_postgres_asks_for_the_schema() {
        let with = "[[package]]\nname = \"sqlx-postgres\"\nversion = \"0.8.2\"\n";
        let without = "[[package]]\nname = \"postgres\"\nversion = \"0.19.9\"\n\
                       [[package]]\nname = \"sqlx-postgres-extra\"\n";
        assert!(lock_uses_sqlx(with));
        assert!(!lock_uses_sqlx(without));
        assert!(!lock_uses_sqlx(""));
    }

    #[test]
    fn no_lock_file_to_read_means_prepare() {
        assert!(wanted(None));
        let dir = tempfile::tempdir().unwrap();
        assert!(wanted(Some(dir.path())));
        std::fs::write(dir.path().join("Cargo.lock"), "name = \"postgres\"\n").unwrap();
        assert!(!wanted(Some(dir.path())));
        std::fs::write(dir.path().join("Cargo.lock"), "name = \"sqlx-postgres\"\n").unwrap();
        assert!(wanted(Some(dir.path())));
    }

    #[test]
    fn only_names_sqlx_makes_are_its_databases() {
        assert!(sqlx_made("_sqlx_test_4294967297"));
        assert!(sqlx_made("_sqlx_test_AbC_dEf"));
        assert!(!sqlx_made("_sqlx_test_"));
        assert!(!sqlx_made("app_gw0"));
        assert!(!sqlx_made("postgres"));
    }

    #[test]
    fn the_note_names_each_database_once_in_one_line() {
        assert_eq!(dropped_note(&[]), None);
        let one = dropped_note(&["_sqlx_test_5".to_string()]).unwrap();
        assert!(one.contains("1 sqlx test database that"), "{one}");
        let two = dropped_note(&["a".into(), "b".into()]).unwrap();
        assert!(two.ends_with(": a, b") && !two.contains('\n'), "{two}");
    }
}
