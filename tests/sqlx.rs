//! `#[sqlx::test]` suites under per-worker databases: fixtures/sqlxapp,
//! built once against sqlx 0.8.2 (its `Cargo.lock`: test databases named
//! from a sequence in the worker database) and once against the newest 0.8
//! (`Cargo.lock.newest`: test databases named from a hash of the test's
//! path), run on a real PostgreSQL the test starts itself.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use cargo_xdist::db::ephemeral::EphemeralServer;
use common::*;
use postgres::{Client, NoTls};

/// The fixture's tests: four files of four, `bare::empty` and born.rs's two.
const TESTS: usize = 19;

#[derive(Clone, Copy, Debug)]
enum Sqlx {
    /// sqlx 0.8.2, as fixtures/sqlxapp/Cargo.lock pins it.
    Pinned,
    /// The newest sqlx 0.8, as fixtures/sqlxapp/Cargo.lock.newest pins it.
    Newest,
}

/// Copy `from` to `to`, writing only the files whose content differs (so
/// an unchanged copy is not rebuilt).
fn sync_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            sync_tree(&src, &dst);
        } else {
            sync_file(&src, &dst);
        }
    }
}

fn sync_file(src: &Path, dst: &Path) {
    let bytes = std::fs::read(src).unwrap();
    if std::fs::read(dst).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(dst, bytes).unwrap();
    }
}

/// The fixture's manifest for `version`, built (once per test process:
/// sqlx takes minutes to compile cold, longer than a run may take).
fn manifest(version: Sqlx) -> String {
    built(version, false)
}

/// The manifest of the fixture for `version`, whole or (`born`) without
/// its `migrations = false` test, built once per test process; copies
/// live at fixed places, so they are built once, not per test.
fn built(version: Sqlx, born: bool) -> String {
    static CELLS: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let (cell, copy) = match (version, born) {
        (Sqlx::Pinned, false) => (&CELLS[0], None),
        (Sqlx::Newest, false) => (&CELLS[1], Some("sqlxapp-newest")),
        (Sqlx::Pinned, true) => (&CELLS[2], Some("sqlxapp-born-pinned")),
        (Sqlx::Newest, true) => (&CELLS[3], Some("sqlxapp-born-newest")),
    };
    cell.get_or_init(|| {
        let manifest = match copy {
            None => fixture_manifest("sqlxapp"),
            Some(copy) => {
                let copy = repo_root().join("target").join(copy);
                sync_tree(&fixture_dir("sqlxapp"), &copy);
                if let Sqlx::Newest = version {
                    sync_file(&copy.join("Cargo.lock.newest"), &copy.join("Cargo.lock"));
                }
                if born {
                    let _ = std::fs::remove_file(copy.join("tests").join("bare.rs"));
                }
                copy.join("Cargo.toml").display().to_string()
            }
        };
        let out = Command::new(env!("CARGO"))
            .args(["test", "--no-run", "--locked", "--manifest-path", &manifest])
            .env("CARGO_TARGET_DIR", fixture_target_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot build the sqlxapp fixture ({version:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        manifest
    })
    .clone()
}

fn sqlxapp<S: AsRef<str>>(version: Sqlx, args: &[S]) -> Xdist {
    let mut all = vec!["--manifest-path".to_string(), manifest(version)];
    all.extend(args.iter().map(|a| a.as_ref().to_string()));
    xdist(&all)
}

fn create_base(server: &EphemeralServer, name: &str) -> String {
    pg_admin(server)
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap();
    server.url(name)
}

/// The (min, max) of `_sqlx_test.database_ids` in database `name`, if any.
fn sqlx_sequence(server: &EphemeralServer, name: &str) -> Option<(i64, i64)> {
    let mut c = Client::connect(&server.url(name), NoTls).unwrap();
    c.query_opt(
        "SELECT seqmin, seqmax FROM pg_sequence \
         WHERE seqrelid = to_regclass('_sqlx_test.database_ids')",
        &[],
    )
    .unwrap()
    .map(|row| (row.get(0), row.get(1)))
}

/// Two runs with a URL and two with `--ephemeral-postgres`, four workers
/// each: every test passes and nothing but the base database is left.
fn passes_on_four_workers_again_and_again(version: Sqlx, base: &str) {
    let server = pg_server();
    let url = create_base(&server, base);
    for _ in 0..2 {
        let run = sqlxapp(version, &["-n", "4"])
            .env("DATABASE_URL", &url)
            .run();
        run.assert_code(0);
        run.assert_summary(TESTS, 0, 0);
        assert_eq!(pg_databases(&server), [base], "{}", run.ctx());
    }
    for _ in 0..2 {
        let run = sqlxapp(version, &["-n", "4", "--ephemeral-postgres"]).run();
        run.assert_code(0);
        run.assert_summary(TESTS, 0, 0);
    }
}

#[test]
fn sqlx_0_8_2_sequence_named_test_databases_do_not_collide_across_workers() {
    passes_on_four_workers_again_and_again(Sqlx::Pinned, "app_sqlx_pinned");
}

#[test]
fn newest_sqlx_0_8_hash_named_test_databases_pass_on_four_workers() {
    passes_on_four_workers_again_and_again(Sqlx::Newest, "app_sqlx_newest");
}

#[test]
fn each_worker_database_of_a_sqlx_workspace_has_its_own_id_range_and_others_none() {
    let server = pg_server();
    let url = create_base(&server, "app_ranges");
    let run = sqlxapp(Sqlx::Pinned, &["-n", "2", "--keep-db"])
        .env("DATABASE_URL", &url)
        .run();
    run.assert_code(0);
    let ranges: Vec<(i64, i64)> = ["app_ranges_gw0", "app_ranges_gw1"]
        .iter()
        .map(|name| {
            let range = sqlx_sequence(&server, name);
            assert_eq!(
                range,
                Some(cargo_xdist::db::sqlx::id_range(name)),
                "{name}{}",
                run.ctx()
            );
            range.unwrap()
        })
        .collect();
    assert!(
        ranges[0].1 < ranges[1].0 || ranges[1].1 < ranges[0].0,
        "{ranges:?}"
    );
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &url).run();
    clean.assert_code(0);

    // A workspace without sqlx: its worker databases are as its setup left them.
    let run = xdist_fixture("dbapp", &["-n", "2", "--keep-db"])
        .env("DATABASE_URL", &url)
        .run();
    run.assert_code(0);
    let mut c = Client::connect(&server.url("app_ranges_gw0"), NoTls).unwrap();
    let schemas: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = '_sqlx_test'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0, "{}", run.ctx());
    drop(c);
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &url).run();
    clean.assert_code(0);
    assert_eq!(pg_databases(&server), ["app_ranges"], "{}", clean.ctx());
}

#[test]
fn test_databases_of_tests_killed_by_timeout_are_dropped_with_the_run() {
    // The newest sqlx never cleans up earlier test databases itself.
    let server = pg_server();
    let url = create_base(&server, "app_timeout");
    let run = sqlxapp(Sqlx::Newest, &["-n", "4", "--timeout", "10s"])
        .env("DATABASE_URL", &url)
        .env("SQLXAPP_HANG", "3")
        .run();
    run.assert_code(100);
    run.assert_summary(TESTS - 4, 4, 0);
    assert!(
        run.stderr.contains(
            "note: dropped 4 sqlx test databases that failed or killed tests left: _sqlx_test_"
        ),
        "{}",
        run.ctx()
    );
    assert_eq!(pg_databases(&server), ["app_timeout"], "{}", run.ctx());
}

#[test]
fn db_clean_drops_the_test_databases_a_killed_run_left_and_only_those() {
    let server = pg_server();
    let url = create_base(&server, "app_killed");
    // Not made through a worker database: never cargo-xdist's to drop.
    pg_admin(&server)
        .batch_execute("CREATE DATABASE _sqlx_test_1")
        .unwrap();
    let flags = tempfile::tempdir().unwrap();
    let killed = sqlxapp(Sqlx::Pinned, &["-n", "4"])
        .env("DATABASE_URL", &url)
        .env("SQLXAPP_HANG", "3")
        .env("SQLXAPP_HANG_FLAG", &flags.path().display().to_string())
        .run_with(|live| {
            wait_for("a test to hang", || {
                let n = std::fs::read_dir(flags.path()).map_or(0, |d| d.count());
                (n > 0).then_some(())
            });
            let pid = rustix::process::Pid::from_raw(live.pid as i32).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
            // The hanging test processes are this test's to end.
            for flag in std::fs::read_dir(flags.path()).unwrap() {
                let name = flag.unwrap().file_name();
                let test: i32 = name.to_str().unwrap().parse().unwrap();
                let test = rustix::process::Pid::from_raw(test).unwrap();
                let _ = rustix::process::kill_process(test, rustix::process::Signal::KILL);
            }
        });
    assert_eq!(killed.signal, Some(9), "{}", killed.ctx());
    let left = pg_databases(&server);
    assert!(
        left.iter().filter(|d| d.starts_with("_sqlx_test_")).count() >= 2
            && left.iter().any(|d| d.starts_with("app_killed_gw")),
        "the killed run left a worker database and a test database: {left:?}"
    );
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &url).run();
    clean.assert_code(0);
    assert!(clean.stdout.contains("_sqlx_test_"), "{}", clean.ctx());
    assert_eq!(
        pg_databases(&server),
        ["_sqlx_test_1", "app_killed"],
        "{}",
        clean.ctx()
    );
}

#[test]
fn one_line_says_whether_the_setup_template_was_built_and_in_how_long_or_reused() {
    let server = pg_server();
    let url = create_base(&server, "app_tpl_note");
    let built = sqlxapp(Sqlx::Newest, &["-n", "2", "--db-setup", "true"])
        .env("DATABASE_URL", &url)
        .run();
    built.assert_code(0);
    let line = |run: &Run, start: &str| {
        let lines: Vec<&str> = (run.stderr_lines().into_iter())
            .filter(|l| l.starts_with(start))
            .collect();
        assert_eq!(lines.len(), 1, "{}", run.ctx());
        lines[0].to_string()
    };
    let line_built = line(&built, "note: built template app_tpl_note_xdist_tpl_");
    assert!(line_built.contains(" with --db-setup in "), "{line_built}");
    let reused = sqlxapp(Sqlx::Newest, &["-n", "2", "--db-setup", "true"])
        .env("DATABASE_URL", &url)
        .run();
    reused.assert_code(0);
    line(&reused, "note: reused template app_tpl_note_xdist_tpl_");
    assert!(
        !reused.stderr.contains("note: built template"),
        "{}",
        reused.ctx()
    );
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &url).run();
    clean.assert_code(0);
    assert_eq!(pg_databases(&server), ["app_tpl_note"], "{}", clean.ctx());
}

#[test]
fn test_databases_a_template_records_are_not_the_runs() {
    let server = pg_server();
    let url = create_base(&server, "app_tpl_record");
    // A template used with plain `cargo test`: its record names a test
    // database made through it, which a failed test kept.
    let mut admin = pg_admin(&server);
    for sql in ["CREATE DATABASE app_dev", "CREATE DATABASE _sqlx_test_7"] {
        admin.batch_execute(sql).unwrap();
    }
    let mut dev = Client::connect(&server.url("app_dev"), NoTls).unwrap();
    dev.batch_execute(
        "CREATE SCHEMA _sqlx_test; \
         CREATE TABLE _sqlx_test.databases (db_name text primary key, test_path text not null, \
         created_at timestamptz not null default now()); \
         INSERT INTO _sqlx_test.databases (db_name, test_path) VALUES ('_sqlx_test_7', 'x::y'); \
         CREATE SEQUENCE _sqlx_test.database_ids",
    )
    .unwrap();
    drop(dev);
    for version in [Sqlx::Newest, Sqlx::Pinned] {
        let run = sqlxapp(version, &["-n", "2", "--db-template", "app_dev"])
            .env("DATABASE_URL", &url)
            .run();
        run.assert_code(0);
        run.assert_summary(TESTS, 0, 0);
        assert_eq!(
            pg_databases(&server),
            ["_sqlx_test_7", "app_dev", "app_tpl_record"],
            "{}",
            run.ctx()
        );
    }
}

/// The fixture's tests without `bare::empty` (`migrations = false`).
const BORN_TESTS: usize = TESTS - 1;

/// The fixture's own `sqlx migrate run` (examples/migrate.rs), built with it.
fn migrate_command(version: Sqlx, born: bool) -> String {
    built(version, born);
    let bin = fixture_target_dir().join("debug/examples/migrate");
    format!("'{}'", bin.display())
}

fn sqlxapp_born<S: AsRef<str>>(version: Sqlx, args: &[S]) -> Xdist {
    let mut all = vec!["--manifest-path".to_string(), built(version, true)];
    all.extend(args.iter().map(|a| a.as_ref().to_string()));
    xdist(&all)
}

/// The one stderr line of `run` that starts with `start`.
fn one_line(run: &Run, start: &str) -> String {
    let lines: Vec<&str> = (run.stderr_lines().into_iter())
        .filter(|l| l.starts_with(start))
        .collect();
    assert_eq!(lines.len(), 1, "{start}: {}", run.ctx());
    lines[0].to_string()
}

const BORN_NOTE: &str = "note: #[sqlx::test] databases are born migrated: ";
const OFF_NOTE: &str = "note: --sqlx-born-migrated is off for this run: ";

#[test]
fn born_migrated_sqlx_test_databases_skip_their_migrations_with_sqlx_0_8_2_and_the_newest() {
    for version in [Sqlx::Pinned, Sqlx::Newest] {
        let setup = migrate_command(version, true);
        let args = ["-n", "4", "--ephemeral-postgres", "--db-setup", &setup];
        // Without the option every test database runs the migrations,
        // which the fixture's born.rs sees (so its check can fail).
        let plain = sqlxapp_born(version, &args).env("SQLXAPP_BORN", "1").run();
        plain.assert_code(100);
        plain.assert_summary(BORN_TESTS - 2, 2, 0);
        let mut with = args.to_vec();
        with.push("--sqlx-born-migrated");
        let run = sqlxapp_born(version, &with).env("SQLXAPP_BORN", "1").run();
        run.assert_code(0);
        run.assert_summary(BORN_TESTS, 0, 0);
        let note = one_line(&run, BORN_NOTE);
        assert!(
            note.contains("(2 migrations applied)"),
            "{version:?}: {note}"
        );
    }
}

#[test]
fn born_migrated_is_off_with_a_line_saying_why_when_a_test_wants_an_empty_database() {
    let setup = migrate_command(Sqlx::Pinned, false);
    let run = sqlxapp(
        Sqlx::Pinned,
        &[
            "-n",
            "4",
            "--ephemeral-postgres",
            "--db-setup",
            &setup,
            "--sqlx-born-migrated",
        ],
    )
    .run();
    // bare::empty still gets the empty database sqlx promises it.
    run.assert_code(0);
    run.assert_summary(TESTS, 0, 0);
    let off = one_line(&run, OFF_NOTE);
    assert!(
        off.contains("tests/bare.rs:3 has #[sqlx::test(migrations = false"),
        "{off}"
    );
    assert!(!run.stderr.contains(BORN_NOTE), "{}", run.ctx());
}

#[test]
fn born_migrated_is_off_when_the_template_lacks_sqlx_s_migrations_or_their_checksums() {
    let migrate = migrate_command(Sqlx::Newest, true);
    let tampered = format!(
        "{migrate} && psql -qX \"$DATABASE_URL\" -c \"UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 2\""
    );
    for (setup, why) in [
        ("true", "has no _sqlx_migrations table"),
        (
            &tampered[..],
            "0002_born.sql differs from what the template",
        ),
    ] {
        let run = sqlxapp_born(
            Sqlx::Newest,
            &[
                "-n",
                "2",
                "--ephemeral-postgres",
                "--db-setup",
                setup,
                "--sqlx-born-migrated",
            ],
        )
        .run();
        run.assert_code(0);
        run.assert_summary(BORN_TESTS, 0, 0);
        let off = one_line(&run, OFF_NOTE);
        assert!(off.contains(why), "{setup}: {off}");
    }
}

#[test]
fn born_migrated_needs_the_throwaway_server_and_db_setup() {
    let server = pg_server();
    let url = server.url("app_born_refused");
    for (args, url) in [
        (
            &["--db-setup", "true", "--sqlx-born-migrated"][..],
            Some(&url),
        ),
        (&["--ephemeral-postgres", "--sqlx-born-migrated"], None),
        (
            &[
                "--ephemeral-postgres",
                "--db-template",
                "t",
                "--db-setup",
                "true",
                "--sqlx-born-migrated",
            ],
            None,
        ),
    ] {
        let mut cmd = sqlxapp(Sqlx::Newest, args);
        if let Some(url) = url {
            cmd = cmd.env("DATABASE_URL", url);
        }
        let run = cmd.run();
        run.assert_code(2);
        let line = one_line(&run, "error: --sqlx-born-migrated ");
        assert!(
            line.contains("add --ephemeral-postgres and --db-setup"),
            "{args:?}: {line}"
        );
    }
}
