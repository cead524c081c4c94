//! The cached template database of `--db-setup`.
//!
//! With `--db-setup CMD` (and no `--db-template`), the command runs once,
//! into `<base>_xdist_tpl_<hash>`, and every worker database is a copy of
//! it (`CREATE DATABASE ... TEMPLATE`). The template stays on the server
//! after the run and is used again while its key is unchanged: a SHA-256
//! of the command and of the files under the migration directories
//! (`--db-migrations`, else `migrations/` in the workspace root, which
//! `cargo locate-project --workspace` names), each by its path relative to
//! its directory and its contents, so that a checkout elsewhere keeps the
//! key. The name carries the key's first 16 hex digits; its marker comment
//! the whole key.
//!
//! Runs against the same server agree through a session advisory lock per
//! template name, taken before the template is looked at and held until
//! the workers' copies are made: a second run waits while the first builds,
//! then finds the template ready; nobody drops a template another run is
//! building or copying (superseded ones are dropped only when their lock is
//! free). The wait polls the lock: after a second it says so on stderr, it
//! stops when the run is cancelled (Ctrl-C), and it gives up after
//! [`WAIT_LIMIT`]. The template is marked as building until its setup succeeded, so
//! one left by a killed run (whose lock went with its connection) is built
//! again; a failed setup drops it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postgres::Client;
use sha2::{Digest, Sha256};

use super::error::DbError;
use super::locks::lock_key;
use super::names::{
    TEMPLATE_HASH_LEN, base_marker, is_marked, marks_base, template_db_name, template_hash,
};
use super::settings::Settings;
use crate::signal::Cancel;

pub(super) use super::options::Plan;

/// First key of cargo-xdist's advisory locks (`pg_advisory_lock(int, int)`),
/// so they cannot be taken for an application's own: "xdst".
const LOCK_CLASS: i32 = 0x7864_7374;

/// How long a run waits for another run to build the template it needs
/// before it gives up: far longer than migrations take, short enough that
/// a forgotten run (or a stuck setup) does not hold CI for hours.
pub const WAIT_LIMIT: Duration = Duration::from_secs(600);

/// After waiting this long, a run says what it waits for.
const WAIT_NOTICE_AFTER: Duration = Duration::from_secs(1);

/// How often a waiting run tries the lock again.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// Whether `name` is named like a cached template of `base`.
pub(super) fn is_template_of(base: &str, name: &str) -> bool {
    template_hash(base, name).is_some()
}

/// The advisory lock of template database `name`, as the two keys of
/// `pg_advisory_lock(int, int)`: a session that holds it makes runs that
/// need that template wait.
pub fn lock_keys(name: &str) -> (i32, i32) {
    (LOCK_CLASS, lock_key(name))
}

/// Call `try_lock` every [`WAIT_POLL`] until it succeeds: `notice` once
/// after [`WAIT_NOTICE_AFTER`]; [`DbError::Cancelled`] once `cancel`
/// comes; [`DbError::TemplateWait`] after `limit` (time stopped by Ctrl-Z
/// does not count).
fn wait_for_lock(
    template: &str,
    mut try_lock: impl FnMut() -> Result<bool, DbError>,
    cancel: &Cancel,
    limit: Duration,
    notice: impl FnOnce(),
) -> Result<(), DbError> {
    let clock = cancel.stopwatch();
    let mut notice = Some(notice);
    while !try_lock()? {
        if cancel.is_cancelled() {
            return Err(DbError::Cancelled {
                what: format!("another cargo xdist run to build template database \"{template}\""),
            });
        }
        let waited = clock.elapsed();
        if let Some(notice) = notice.take_if(|_| waited >= WAIT_NOTICE_AFTER) {
            notice();
        }
        if waited >= limit {
            return Err(DbError::TemplateWait {
                template: template.to_string(),
                waited: humantime::format_duration(limit).to_string(),
            });
        }
        std::thread::sleep(WAIT_POLL);
    }
    Ok(())
}

/// The key of a template built by `setup` from the files under `dirs`:
/// 64 hex digits. See the module docs.
pub fn key(setup: &str, dirs: &[PathBuf]) -> Result<String, DbError> {
    let mut hash = Sha256::new();
    hash.update(b"cargo-xdist template v1\0");
    feed(&mut hash, setup.as_bytes());
    for dir in dirs {
        let mut files = Vec::new();
        walk(dir, Path::new(""), &mut files)?;
        files.sort();
        feed(
            &mut hash,
            format!("directory with {} files", files.len()).as_bytes(),
        );
        for rel in files {
            let path = dir.join(&rel);
            let contents = fs_err::read(&path).map_err(|e| unreadable(&path, &e))?;
            feed(&mut hash, rel.to_string_lossy().as_bytes());
            feed(&mut hash, &contents);
        }
    }
    let mut hex = Vec::with_capacity(64);
    for byte in hash.finalize().iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(String::from_utf8_lossy(&hex).into_owned())
}

/// Length-prefixed, so that no two inputs hash alike by shifting bytes
/// from one part to the next.
fn feed(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_le_bytes());
    hash.update(bytes);
}

/// The files under `root/rel`, as paths relative to `root`. Symbolic links
/// to files are followed; to directories, not (no cycles).
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), DbError> {
    let dir = root.join(rel);
    let entries = fs_err::read_dir(&dir).map_err(|e| unreadable(&dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(&dir, &e))?;
        let kind = entry
            .file_type()
            .map_err(|e| unreadable(&entry.path(), &e))?;
        let rel = rel.join(entry.file_name());
        if kind.is_dir() {
            walk(root, &rel, out)?;
        } else if kind.is_file() || entry.path().is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

/// The line that says the template was built, and in how long.
fn built_note(name: &str, took: Duration) -> String {
    format!(
        "note: built template {name} with --db-setup in {:.1}s (reused while the setup command and migrations stay the same)",
        took.as_secs_f64()
    )
}

/// The line that says the template was reused.
fn reused_note(name: &str) -> String {
    format!(
        "note: reused template {name}: the setup command and migrations are unchanged (--db-rebuild builds it again)"
    )
}

fn unreadable(path: &Path, e: &std::io::Error) -> DbError {
    DbError::Migrations {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// `migrations/` in the root of the workspace of `manifest_path` (or of
/// the current directory), if it is a directory: `cargo locate-project
/// --workspace` names the root without resolving anything (a few
/// milliseconds), and runs while cargo builds. When cargo cannot name it,
/// the build will say why; there is no default then.
pub fn default_migrations(manifest_path: Option<&str>) -> Option<PathBuf> {
    let dir = workspace_root(manifest_path)?.join("migrations");
    dir.is_dir().then_some(dir)
}

/// The root directory of the workspace of `manifest_path` (or of the
/// current directory), as cargo finds it.
pub fn workspace_root(manifest_path: Option<&str>) -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(["locate-project", "--workspace", "--message-format", "plain"]);
    if let Some(manifest) = manifest_path {
        cmd.arg("--manifest-path").arg(manifest);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let manifest = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    Some(manifest.parent()?.to_path_buf())
}

impl Settings {
    /// Find this run's template, or build it, holding its lock; returns
    /// its name and the connection that holds the lock (see the module
    /// docs).
    pub(super) fn prepare_template(&self) -> Result<(String, Client), DbError> {
        let (Some(plan), Some(setup)) = (&self.cache, &self.setup) else {
            unreachable!("only called with a cached setup");
        };
        let dirs = match plan.migrations.is_empty() {
            true => default_migrations(plan.manifest_path.as_deref())
                .into_iter()
                .collect(),
            false => plan.migrations.clone(),
        };
        let key = key(setup, &dirs)?;
        let name = template_db_name(self.base.database(), &key[..TEMPLATE_HASH_LEN]);
        let base = self.base.database();
        let ready = format!("{} template {key}", base_marker(base));
        let mut lock = self.admin()?;
        wait_for_lock(
            &name,
            || self.try_lock(&mut lock, LOCK_CLASS, &name),
            &self.cancel,
            WAIT_LIMIT,
            || eprintln!("note: waiting for another cargo xdist run to build template {name}"),
        )?;
        match self.existing_comment(&mut lock, &name)? {
            Some(Some(comment)) if comment == ready && !plan.rebuild => {
                eprintln!("{}", reused_note(&name));
                return Ok((name, lock));
            }
            // Half built by a run that died, rebuilt on request, or (an
            // astronomically unlikely) other key with the same name.
            Some(comment) if marks_base(comment.as_deref(), base) => {
                self.drop_database(&mut lock, &name)?;
            }
            // Another base's, or an earlier version's: not ours to drop.
            Some(comment) if is_marked(comment.as_deref()) => {
                return Err(DbError::OtherBase {
                    name,
                    origin: self.origin.clone(),
                });
            }
            Some(_) => {
                return Err(DbError::NameTaken {
                    name,
                    origin: self.origin.clone(),
                });
            }
            None => {}
        }
        let started = Instant::now();
        self.create_marked(&mut lock, &name, None, &format!("{ready} (building)"))?;
        let url = self.base.with_database(&name);
        if let Err(e) = self.run_setup(&format!("the template database {name}"), &url) {
            // No half-built template is left behind.
            let _ = self.drop_database(&mut lock, &name);
            return Err(e);
        }
        self.mark(&mut lock, &name, &ready)?;
        eprintln!("{}", built_note(&name, started.elapsed()));
        Ok((name, lock))
    }

    /// Drop this base's cached templates but `keep`, each only if no run
    /// holds its lock; returns the names dropped.
    pub(super) fn drop_templates(
        &self,
        client: &mut Client,
        keep: Option<&str>,
    ) -> Result<Vec<String>, DbError> {
        let base = self.base.database();
        let mut dropped = Vec::new();
        for (name, comment) in self.marked_databases(client)? {
            let ours = template_hash(base, &name).is_some() && marks_base(Some(&comment), base);
            if !ours || keep == Some(name.as_str()) {
                continue;
            }
            let gone =
                self.while_locked(client, LOCK_CLASS, &name, |c| self.drop_database(c, &name))?;
            if gone.is_some() {
                dropped.push(name);
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_says_built_in_how_long_or_reused() {
        let built = built_note("app_xdist_tpl_ab12", Duration::from_millis(1234));
        assert!(
            built.starts_with("note: built template app_xdist_tpl_ab12 with --db-setup in 1.2s"),
            "{built}"
        );
        let reused = reused_note("app_xdist_tpl_ab12");
        assert!(
            reused.starts_with("note: reused template app_xdist_tpl_ab12:"),
            "{reused}"
        );
        assert!(!built.contains('\n') && !reused.contains('\n'));
    }

    #[test]
    fn the_key_follows_the_command_and_the_files_not_where_they_are() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            std::fs::create_dir(dir.join("sub")).unwrap();
            std::fs::write(dir.join("001.sql"), "create table t (x int);").unwrap();
            std::fs::write(dir.join("sub/002.sql"), "alter table t add y int;").unwrap();
        }
        let in_a = key("migrate", &[a.path().to_path_buf()]).unwrap();
        assert_eq!(in_a.len(), 64);
        assert!(in_a.bytes().all(|c| c.is_ascii_hexdigit()), "{in_a}");
        assert_eq!(in_a, key("migrate", &[b.path().to_path_buf()]).unwrap());
        assert_ne!(
            in_a,
            key("migrate --other", &[a.path().to_path_buf()]).unwrap()
        );
        assert_ne!(in_a, key("migrate", &[]).unwrap());
        std::fs::write(b.path().join("sub/002.sql"), "alter table t add z int;").unwrap();
        assert_ne!(in_a, key("migrate", &[b.path().to_path_buf()]).unwrap());
        std::fs::write(b.path().join("sub/002.sql"), "alter table t add y int;").unwrap();
        std::fs::rename(b.path().join("sub/002.sql"), b.path().join("002.sql")).unwrap();
        assert_ne!(in_a, key("migrate", &[b.path().to_path_buf()]).unwrap());
        let e = key("migrate", &[a.path().join("missing")]).unwrap_err();
        assert!(matches!(e, DbError::Migrations { .. }), "{e}");
        assert!(e.to_string().contains("--db-migrations"), "{e}");
    }

    #[test]
    fn the_wait_polls_until_free_says_so_once_and_stops_on_cancel_or_after_the_limit() {
        let never = Cancel::default();
        let mut tries = 0;
        let free_at_third = || {
            tries += 1;
            Ok(tries == 3)
        };
        wait_for_lock("t", free_at_third, &never, WAIT_LIMIT, || {}).unwrap();
        assert_eq!(tries, 3);

        // Past the limit: told once, then one line naming the template.
        let mut told = 0;
        let limit = WAIT_NOTICE_AFTER + Duration::from_millis(200);
        let e = wait_for_lock("app_xdist_tpl_1", || Ok(false), &never, limit, || told += 1)
            .unwrap_err();
        assert_eq!(told, 1);
        assert_eq!(
            e.to_string(),
            "gave up after 1s 200ms waiting for another cargo xdist run to build template \
             database \"app_xdist_tpl_1\"; let that run finish (or end it) and retry"
        );

        // Cancelled while waiting.
        let cancel = Cancel::default();
        let e = wait_for_lock(
            "app_xdist_tpl_1",
            || {
                cancel.cancel(libc::SIGINT);
                Ok(false)
            },
            &cancel,
            WAIT_LIMIT,
            || {},
        )
        .unwrap_err();
        assert!(matches!(e, DbError::Cancelled { .. }), "{e}");
        assert!(e.to_string().contains("\"app_xdist_tpl_1\"; "), "{e}");

        // The lock's own failure ends the wait.
        let lost = DbError::NoCreateDb { role: "r".into() };
        let e = wait_for_lock("t", || Err(lost.clone()), &never, WAIT_LIMIT, || {});
        assert_eq!(e.unwrap_err(), lost);
    }

    #[test]
    fn the_default_is_the_workspace_roots_migrations_directory() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(
            ws.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"m\"]\nresolver = \"2\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(ws.path().join("m/src")).unwrap();
        std::fs::write(
            ws.path().join("m/Cargo.toml"),
            "[package]\nname = \"m\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        std::fs::write(ws.path().join("m/src/lib.rs"), "").unwrap();
        let member = ws.path().join("m/Cargo.toml");
        let member = member.to_str().unwrap();
        assert_eq!(default_migrations(Some(member)), None, "no migrations/ yet");
        std::fs::create_dir(ws.path().join("migrations")).unwrap();
        let found = default_migrations(Some(member)).expect("found");
        assert_eq!(
            found.canonicalize().unwrap(),
            ws.path().join("migrations").canonicalize().unwrap()
        );
        assert_eq!(default_migrations(Some("/no/such/Cargo.toml")), None);
    }
}
