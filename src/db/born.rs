//! `--sqlx-born-migrated`: `#[sqlx::test]` databases born migrated.
//!
//! sqlx makes each test's database with `CREATE DATABASE name` (no
//! `TEMPLATE`: every sqlx 0.7/0.8), so PostgreSQL copies `template1`, then
//! runs the test's migrator, which skips every migration that
//! `_sqlx_migrations` records with the same checksum (a SHA-384 of the
//! file). On the throwaway server (never a user's), once the cached
//! `--db-setup` template is ready, `template1` is replaced by a copy of it:
//! every test database starts migrated and sqlx applies nothing.
//!
//! It is only correct when every such test expects that state, so it is
//! turned off for the run (one line says why) when:
//!
//! - a `#[sqlx::test(...)]` in the workspace's sources (outside `target/`
//!   and hidden directories) asks for `migrations = false` (an empty
//!   database), `migrations = "<dir>"` or `migrator = ...` (another set of
//!   migrations), or a package with `#[sqlx::test]` has no `migrations/`
//!   (its test databases start empty). `fixtures(...)` are fine: sqlx
//!   applies them after the (skipped) migrations, as it would anyway;
//! - the template has no `_sqlx_migrations` (the setup is not sqlx's
//!   migrations), records a failed one, or its versions and checksums are
//!   not exactly those of the packages' `migrations/` (sqlx would refuse
//!   a modified or unknown migration).
//!
//! The sources are read as text: a `#[sqlx::test]` reached through a macro
//! or a renamed import is not seen. Whatever else `--db-setup` puts in the
//! template (seed rows) the test databases get too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use postgres::Client;
use postgres_protocol::escape::escape_identifier;

use super::error::DbError;
use super::settings::Settings;

/// Why the option cannot serve a workspace, as the end of the "off" line.
type Off = String;

/// A `#[sqlx::test]` the option cannot serve: file, line, what it asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Unservable {
    pub file: PathBuf,
    pub line: usize,
    pub asks: &'static str,
}

/// What the workspace's sources say about `#[sqlx::test]`.
#[derive(Debug, Default)]
pub struct Scan {
    /// The package directories (nearest `Cargo.toml`) with `#[sqlx::test]`.
    pub packages: Vec<PathBuf>,
    /// The tests that need their own database state.
    pub unservable: Vec<Unservable>,
}

/// Read the `.rs` files under `root` (but `target/` and hidden directories).
pub fn scan(root: &Path) -> Scan {
    let mut scan = Scan::default();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    for file in files {
        let Ok(text) = fs_err::read_to_string(&file) else {
            continue;
        };
        let found = sqlx_tests(&text);
        if found.is_empty() {
            continue;
        }
        if let Some(package) = package_dir(&file, root)
            && !scan.packages.contains(&package)
        {
            scan.packages.push(package);
        }
        for (line, asks) in found.into_iter().filter_map(|(l, a)| Some((l, a?))) {
            let file = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
            scan.unservable.push(Unservable { file, line, asks });
        }
    }
    scan
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !name.starts_with('.') && name != "target" {
            rust_files(&entry.path(), out);
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(entry.path());
        }
    }
}

/// The directory of the nearest `Cargo.toml` above `file`, up to `root`.
fn package_dir(file: &Path, root: &Path) -> Option<PathBuf> {
    let mut dir = file.parent()?;
    loop {
        if dir.join("Cargo.toml").is_file() {
            return Some(dir.to_path_buf());
        }
        if dir == root {
            return None;
        }
        dir = dir.parent()?;
    }
}

/// Each `#[sqlx::test...]` attribute in `text`: its line (from 1) and, if
/// it needs its own database state, what it asks for.
pub fn sqlx_tests(text: &str) -> Vec<(usize, Option<&'static str>)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("sqlx::test") {
        let start = from + at;
        from = start + "sqlx::test".len();
        let before = text[..start].trim_end();
        let after = &text[from..];
        if !before.ends_with("#[") || after.starts_with(|c: char| c == '_' || c.is_alphanumeric()) {
            continue;
        }
        let line = text[..start].matches('\n').count() + 1;
        let args = after.trim_start();
        let args = match args.strip_prefix('(') {
            Some(rest) => balanced(rest),
            None => "",
        };
        let args: String = args.chars().filter(|c| !c.is_whitespace()).collect();
        let asks = if args.contains("migrations=false") {
            Some("migrations = false (an empty database)")
        } else if args.contains("migrations=\"") {
            Some("migrations = \"<dir>\" (other migrations)")
        } else if args.contains("migrator=") {
            Some("migrator = ... (other migrations)")
        } else {
            None
        };
        found.push((line, asks));
    }
    found
}

/// The text up to the `)` that closes an already open `(`.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

/// The up migrations in `dir`, as sqlx reads them: `<version>_<name>.sql`
/// (and `.up.sql`; not `.down.sql`), by version, with their text.
pub fn migrations(dir: &Path) -> Result<BTreeMap<i64, (PathBuf, Vec<u8>)>, Off> {
    let entries = fs_err::read_dir(dir).map_err(|e| e.to_string())?;
    let mut found = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((version, rest)) = name.split_once('_') else {
            continue;
        };
        if !rest.ends_with(".sql") || rest.ends_with(".down.sql") {
            continue;
        }
        let Ok(version) = version.parse::<i64>() else {
            return Err(format!("{} has no integer version", path.display()));
        };
        let sql = fs_err::read(&path).map_err(|e| e.to_string())?;
        found.insert(version, (path, sql));
    }
    Ok(found)
}

impl Settings {
    /// With `--sqlx-born-migrated`, once the cached template `template` is
    /// ready: make `template1` a copy of it if the workspace under `root`
    /// can be served (module docs). Returns the line saying what was done
    /// or why not.
    pub(super) fn make_born_migrated(
        &self,
        lock: &mut Client,
        template: &str,
        root: Option<&Path>,
    ) -> Result<String, DbError> {
        let checked = match root {
            Some(root) => self.born_check(template, root)?,
            None => Err("cannot find the workspace's root to read its tests".to_string()),
        };
        let count = match checked {
            Ok(count) => count,
            Err(why) => {
                return Ok(format!(
                    "note: --sqlx-born-migrated is off for this run: {why}; each #[sqlx::test] database runs its migrations"
                ));
            }
        };
        let tpl = escape_identifier(template);
        let sql = format!(
            "ALTER DATABASE template1 WITH IS_TEMPLATE false; \
             DROP DATABASE template1; \
             CREATE DATABASE template1 TEMPLATE {tpl} IS_TEMPLATE true"
        );
        let action = format!("make template1 a copy of \"{template}\" for --sqlx-born-migrated");
        for statement in sql.split("; ") {
            lock.batch_execute(statement)
                .map_err(|e| self.sql_error(e, &action))?;
        }
        Ok(format!(
            "note: #[sqlx::test] databases are born migrated: the throwaway server's template1 is a copy of {template} ({count} migrations applied), so sqlx skips them"
        ))
    }

    /// The number of migrations the template and the workspace share, or
    /// why the option cannot serve the workspace.
    fn born_check(&self, template: &str, root: &Path) -> Result<Result<usize, Off>, DbError> {
        let scan = scan(root);
        if let Some(u) = scan.unservable.first() {
            return Ok(Err(format!(
                "{}:{} has #[sqlx::test({})]",
                u.file.display(),
                u.line,
                u.asks
            )));
        }
        if scan.packages.is_empty() {
            return Ok(Err("no #[sqlx::test] in the workspace".into()));
        }
        let mut wanted: Option<BTreeMap<i64, (PathBuf, Vec<u8>)>> = None;
        for package in &scan.packages {
            let dir = package.join("migrations");
            if !dir.is_dir() {
                return Ok(Err(format!(
                    "{} has #[sqlx::test] but no migrations/ (its test databases start empty)",
                    package.display()
                )));
            }
            let found = match migrations(&dir) {
                Ok(found) => found,
                Err(why) => return Ok(Err(why)),
            };
            match &wanted {
                Some(w)
                    if w.iter()
                        .map(|(v, m)| (v, &m.1))
                        .ne(found.iter().map(|(v, m)| (v, &m.1))) =>
                {
                    return Ok(Err(format!(
                        "{} and {} differ",
                        dir.display(),
                        w.values()
                            .next()
                            .map_or(dir.clone(), |m| m.0.clone())
                            .display()
                    )));
                }
                Some(_) => {}
                None => wanted = Some(found),
            }
        }
        let wanted = wanted.unwrap_or_default();
        let action = format!("read _sqlx_migrations in the template \"{template}\"");
        let mut client = self.connect_db(template)?;
        let has_table: bool = client
            .query_one("SELECT to_regclass('_sqlx_migrations') IS NOT NULL", &[])
            .map_err(|e| self.sql_error(e, &action))?
            .get(0);
        if !has_table {
            return Ok(Err(format!(
                "the template {template} has no _sqlx_migrations table (--db-setup did not run sqlx's migrations, e.g. `sqlx migrate run`)"
            )));
        }
        let rows = client
            .query(
                "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
                &[],
            )
            .map_err(|e| self.sql_error(e, &action))?;
        let mut applied = BTreeMap::new();
        for row in rows {
            let (version, success, checksum): (i64, bool, Vec<u8>) =
                (row.get(0), row.get(1), row.get(2));
            if !success {
                return Ok(Err(format!(
                    "migration {version} failed in the template {template}"
                )));
            }
            applied.insert(version, checksum);
        }
        for (version, (path, sql)) in &wanted {
            let sum: Vec<u8> = client
                .query_one("SELECT sha384($1::bytea)", &[sql])
                .map_err(|e| self.sql_error(e, &action))?
                .get(0);
            match applied.remove(version) {
                None => {
                    return Ok(Err(format!(
                        "the template {template} lacks migration {}",
                        path.display()
                    )));
                }
                Some(have) if have != sum => {
                    return Ok(Err(format!(
                        "{} differs from what the template {template} applied (checksum)",
                        path.display()
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(version) = applied.keys().next() {
            return Ok(Err(format!(
                "the template {template} applied migration {version}, which the workspace's migrations/ lacks"
            )));
        }
        Ok(Ok(wanted.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_that_need_their_own_database_state_are_found_with_their_line() {
        let text = "use x;\n#[sqlx::test]\nasync fn a() {}\n\
                    #[sqlx::test(migrations = false)]\nasync fn b() {}\n\
                    #[ sqlx::test(fixtures(\"users\"), migrations = \"other\")]\nfn c() {}\n\
                    #[sqlx::test(migrator = \"crate::M\")]\nfn d() {}\n\
                    #[sqlx::test(fixtures(\"a\", \"b\"))]\nfn e() {}\n\
                    // sqlx::test(migrations = false) in a comment\n\
                    #[sqlx::test_other(migrations = false)]\nfn f() {}\n";
        let found = sqlx_tests(text);
        let asks: Vec<(usize, bool)> = found.iter().map(|(l, a)| (*l, a.is_some())).collect();
        assert_eq!(
            asks,
            [(2, false), (4, true), (6, true), (8, true), (10, false)]
        );
        assert!(found[1].1.unwrap().starts_with("migrations = false"));
        assert!(found[2].1.unwrap().starts_with("migrations = \""));
        assert!(found[3].1.unwrap().starts_with("migrator"));
    }

    #[test]
    fn migrations_are_read_as_sqlx_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("0001_items.sql", "a"),
            ("2_x.up.sql", "b"),
            ("2_x.down.sql", "c"),
            ("README.md", "d"),
            ("nounderscore.sql", "e"),
        ] {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let found = migrations(dir.path()).unwrap();
        let got: Vec<(i64, &[u8])> = found.iter().map(|(v, m)| (*v, &m.1[..])).collect();
        assert_eq!(got, [(1, &b"a"[..]), (2, &b"b"[..])]);
        std::fs::write(dir.path().join("v1_bad.sql"), "").unwrap();
        assert!(
            migrations(dir.path())
                .unwrap_err()
                .contains("no integer version")
        );
    }

    #[test]
    fn the_scan_names_packages_and_skips_target_and_hidden_directories() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        for dir in ["app/tests", "target/x", ".git", "lib/src"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("Cargo.toml"), "").unwrap();
        std::fs::write(root.join("app/Cargo.toml"), "").unwrap();
        std::fs::write(root.join("app/tests/t.rs"), "#[sqlx::test]\nfn a() {}").unwrap();
        let bad = "#[sqlx::test(migrations = false)]\nfn b() {}";
        std::fs::write(root.join("target/x/t.rs"), bad).unwrap();
        std::fs::write(root.join(".git/t.rs"), bad).unwrap();
        std::fs::write(root.join("lib/src/l.rs"), format!("\n{bad}")).unwrap();
        let scan = scan(root);
        assert_eq!(scan.packages, [root.join("app"), root.to_path_buf()]);
        assert_eq!(
            scan.unservable,
            [Unservable {
                file: PathBuf::from("lib/src/l.rs"),
                line: 2,
                asks: "migrations = false (an empty database)",
            }]
        );
    }
}
