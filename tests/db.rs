//! End-to-end tests of per-worker databases: the binary runs
//! fixtures/dbapp against a real PostgreSQL that each test starts itself
//! (initdb + pg_ctl through the crate's EphemeralServer; as root the server
//! runs as the `postgres` user). Nothing is mocked and nothing is skipped:
//! without PostgreSQL's server binaries the tests fail naming the package.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_xdist::db::ephemeral::EphemeralServer;
use cargo_xdist::db::url::PgUrl;
use common::*;
use postgres::{Client, NoTls};

/// A base database with a table and a row that must survive every run.
fn create_base(server: &EphemeralServer, name: &str) -> String {
    pg_admin(server)
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap();
    let url = server.url(name);
    let mut c = Client::connect(&url, NoTls).unwrap();
    c.batch_execute("CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)")
        .unwrap();
    url
}

fn assert_base_untouched(server: &EphemeralServer, name: &str) {
    let mut c = Client::connect(&server.url(name), NoTls)
        .unwrap_or_else(|e| panic!("the base database {name} is gone: {e}"));
    let x: i32 = c.query_one("SELECT x FROM precious", &[]).unwrap().get(0);
    assert_eq!(x, 42, "the base database {name} was modified");
}

fn assert_no_worker_databases(server: &EphemeralServer, base: &str, ctx: &str) {
    let left: Vec<String> = pg_databases(server)
        .into_iter()
        .filter(|d| d.starts_with(&format!("{base}_gw")))
        .collect();
    assert!(
        left.is_empty(),
        "worker databases left behind: {left:?}{ctx}"
    );
}

fn dbapp(url: &str, args: &[&str]) -> Xdist {
    xdist_fixture("dbapp", args).env("DATABASE_URL", url)
}

/// Each test's recorded DATABASE_URL points at its own worker's database.
fn assert_each_test_used_its_workers_database(run: &Run, base: &str, worksteal: bool) {
    let records = run.records();
    let names: std::collections::BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 17, "every test records{}", run.ctx());
    // Under worksteal the first stolen test may also begin (and be stopped)
    // in its owner's process; otherwise every test records exactly once.
    if !worksteal {
        assert_eq!(records.len(), 17, "every test records once{}", run.ctx());
    }
    for r in &records {
        let db = r.database_url.rsplit('/').next().unwrap_or_default();
        assert_eq!(
            db,
            format!("{base}_{}", r.worker),
            "{} ran on {} with {}{}",
            r.name,
            r.worker,
            cargo_xdist::db::url::redacted(&r.database_url),
            run.ctx()
        );
    }
}

#[test]
fn shared_table_suite_collides_under_cargo_test_and_passes_under_xdist_in_every_mode() {
    let server = pg_server();
    let url = create_base(&server, "app_test");

    // Plain cargo test: the tests of a file share one database in parallel.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "test",
            "--no-fail-fast",
            "--manifest-path",
            &fixture_manifest("dbapp"),
            "--",
            "--test-threads=4",
        ])
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .env("DATABASE_URL", &url)
        .env_remove("XDIST_WORKER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Collisions show as wrong row counts or as racing CREATE TABLEs.
    assert!(
        !out.status.success() && text.contains("test result: FAILED"),
        "plain cargo test was expected to collide on the shared table:\n{text}"
    );

    for mode in [
        "loadfile",
        "loadscope",
        "load",
        "loadgroup",
        "worksteal",
        "no",
    ] {
        let run = dbapp(&url, &["-n", "4", "--dist", mode]).run();
        run.assert_code(0);
        run.assert_summary(17, 0, 0);
        assert_each_test_used_its_workers_database(&run, "app_test", mode == "worksteal");
        assert_no_worker_databases(&server, "app_test", &run.ctx());
        assert_base_untouched(&server, "app_test");
    }
}

#[test]
fn serial_mode_passes_the_url_unchanged() {
    let server = pg_server();
    let url = create_base(&server, "app_serial");
    let run = dbapp(&url, &["-n", "0"]).run();
    run.assert_code(0);
    for r in run.records() {
        assert!(
            r.database_url == url,
            "-n 0 must pass DATABASE_URL unchanged, got {}{}",
            cargo_xdist::db::url::redacted(&r.database_url),
            run.ctx()
        );
        assert_eq!(r.worker, "-");
    }
    assert_eq!(pg_databases(&server), ["app_serial"]);
}

/// Base database `base`, owned by a role `app` with `password`, and a
/// `-n 2` run as `app` (`encoded`: the password as the URL writes it) in
/// which the schema test fails and prints DATABASE_URL in its message.
fn failing_run_as_app(server: &EphemeralServer, base: &str, password: &str, encoded: &str) -> Run {
    create_base(server, base);
    pg_admin(server)
        .batch_execute(&format!(
            "CREATE ROLE app LOGIN CREATEDB PASSWORD '{password}'; ALTER DATABASE {base} OWNER TO app"
        ))
        .unwrap();
    let url = format!(
        "postgres://app:{encoded}@{}/{base}?sslmode=disable",
        server.url_host()
    );
    let run = dbapp(&url, &["-n", "2"])
        .env("DBAPP_EXPECT_TABLE", "from_nowhere")
        .junit()
        .run();
    run.assert_code(100);
    run.assert_summary(16, 1, 0);
    run
}

#[test]
fn password_with_reserved_characters_reaches_tests_intact_and_is_never_printed() {
    let server = pg_server();
    // The server asks every role for its password. `&` may stay unencoded
    // in a URL's userinfo: the printed URL carries it and the JUnit writer
    // escapes it (`&amp;`), out of a raw-file search's sight.
    let encoded = "p%3Aa%2Fs%40s&w0rd";
    let run = failing_run_as_app(&server, "app_pw", "p:a/s@s&w0rd", encoded);
    for r in run.records() {
        assert_eq!(
            r.database_url,
            format!(
                "postgres://app:{encoded}@{}/app_pw_{}?sslmode=disable",
                server.url_host(),
                r.worker
            ),
            "the URL must reach the test intact{}",
            run.ctx()
        );
    }
    let junit = std::fs::read_to_string(run.junit_path.as_ref().unwrap()).unwrap();
    // The parsed texts, XML escapes resolved: a secret with `&`, `<` or `"`
    // would be escaped in the raw file, where a plain search cannot see it.
    let texts = run.junit().texts();
    assert!(
        run.stdout.contains("missing in postgres://app:****@"),
        "the URL is shown redacted{}",
        run.ctx()
    );
    assert!(
        texts
            .iter()
            .any(|(_, t)| t.contains("missing in postgres://app:****@")),
        "the report carries the redacted URL, so the search below looks where it would leak:\n{junit}"
    );
    for secret in ["p:a/s@s&w0rd", encoded] {
        assert!(
            !run.stdout.contains(secret),
            "password in stdout{}",
            run.ctx()
        );
        assert!(
            !run.stderr.contains(secret),
            "password in stderr{}",
            run.ctx()
        );
        assert!(
            !junit.contains(secret),
            "password in the JUnit report:\n{junit}"
        );
        let leaks: Vec<&str> = texts
            .iter()
            .filter(|(_, t)| t.contains(secret))
            .map(|(at, _)| at.as_str())
            .collect();
        assert!(
            leaks.is_empty(),
            "password in the parsed JUnit report at {leaks:?}:\n{junit}"
        );
    }
    assert_no_worker_databases(&server, "app_pw", &run.ctx());
    assert_base_untouched(&server, "app_pw");
}

#[test]
fn worker_databases_are_dropped_after_failing_and_interrupted_runs_and_kept_with_keep_db() {
    let server = pg_server();
    let url = create_base(&server, "app_life");

    // Failing tests (they run, so this is also the control for "no test ran").
    let failing = dbapp(&url, &["-n", "3"])
        .env("DBAPP_EXPECT_TABLE", "from_nowhere")
        .run();
    failing.assert_code(100);
    assert_no_worker_databases(&server, "app_life", &failing.ctx());

    // Interrupted with Ctrl-C (SIGINT) while tests run.
    let records = tempfile::tempdir().unwrap();
    let child = Command::new(XDIST)
        .args([
            "xdist",
            "--manifest-path",
            &fixture_manifest("dbapp"),
            "-n",
            "2",
            "--no-progress",
        ])
        .env("DATABASE_URL", &url)
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .env("XDIST_FIXTURE_RECORD", records.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a test of the run to start", || {
        let records = std::fs::read_dir(records.path()).map_or(0, |d| d.count());
        (records > 0).then_some(())
    });
    // Ctrl-C, to the child we spawned.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "an interrupted run exits 130:\n{stdout}"
    );
    assert!(stdout.contains("interrupted:"), "{stdout}");
    assert_no_worker_databases(&server, "app_life", &stdout);
    assert_base_untouched(&server, "app_life");

    // --keep-db keeps them (and a second run reuses them); db clean drops them.
    for _ in 0..2 {
        let run = dbapp(&url, &["-n", "2", "--keep-db"]).run();
        run.assert_code(0);
        let kept: Vec<String> = pg_databases(&server)
            .into_iter()
            .filter(|d| d.contains("_gw"))
            .collect();
        assert_eq!(kept, ["app_life_gw0", "app_life_gw1"], "{}", run.ctx());
    }
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &url).run();
    clean.assert_code(0);
    assert!(
        clean.stdout.contains("app_life_gw0") && clean.stdout.contains("app_life_gw1"),
        "{}",
        clean.ctx()
    );
    assert_no_worker_databases(&server, "app_life", &clean.ctx());

    // A database with a worker's name that cargo-xdist did not create is
    // never dropped: the run refuses to start.
    pg_admin(&server)
        .batch_execute("CREATE DATABASE app_life_gw1")
        .unwrap();
    let run = dbapp(&url, &["-n", "2"]).run();
    run.assert_code(2);
    run.assert_no_panic();
    assert!(
        pg_databases(&server).contains(&"app_life_gw1".to_string()),
        "{}",
        run.ctx()
    );
    run.assert_no_test_ran(&failing, "a foreign worker database stops the run");
    assert_base_untouched(&server, "app_life");
}

#[test]
fn template_and_setup_give_every_worker_the_schema_and_their_failures_are_clear() {
    let server = pg_server();
    let url = create_base(&server, "app_schema");
    pg_admin(&server)
        .batch_execute("CREATE DATABASE app_tpl")
        .unwrap();
    Client::connect(&server.url("app_tpl"), NoTls)
        .unwrap()
        .batch_execute("CREATE TABLE from_template (x int)")
        .unwrap();

    let run = dbapp(&url, &["-n", "3", "--db-template", "app_tpl"])
        .env("DBAPP_EXPECT_TABLE", "from_template")
        .run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);

    let setup =
        r#"psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'CREATE TABLE from_setup (x int)'"#;
    let run = dbapp(&url, &["-n", "3", "--db-setup", setup])
        .env("DBAPP_EXPECT_TABLE", "from_setup")
        .run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);

    // Without either, the worker databases are empty (schema.rs checks).
    let control = dbapp(&url, &["-n", "2"]).run();
    control.assert_code(0);

    let run = dbapp(&url, &["-n", "2", "--db-template", "no_such_template"]).run();
    run.assert_code(2);
    run.assert_no_panic();
    assert!(run.stderr.contains("no_such_template"), "{}", run.ctx());
    run.assert_no_test_ran(&control, "a missing template stops the run");

    let run = dbapp(
        &url,
        &["-n", "2", "--db-setup", "echo setup-went-wrong >&2; exit 3"],
    )
    .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("setup-went-wrong"),
        "the setup's output is shown{}",
        run.ctx()
    );
    run.assert_no_test_ran(&control, "a failing setup stops the run");
    assert_no_worker_databases(&server, "app_schema", &run.ctx());
    // Only the good setup's template is cached, no half-built one.
    assert_eq!(templates(&server, "app_schema").len(), 1, "{}", run.ctx());
    assert_base_untouched(&server, "app_schema");
}

#[test]
fn a_63_byte_base_name_works_with_four_workers() {
    let server = pg_server();
    let base = "a".repeat(63);
    let url = create_base(&server, &base);
    let run = dbapp(&url, &["-n", "4"]).run();
    run.assert_code(0);
    let mut names: Vec<String> = run
        .records()
        .iter()
        .map(|r| r.database_url.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        4,
        "4 distinct worker databases: {names:?}{}",
        run.ctx()
    );
    assert!(names.iter().all(|n| n.len() <= 63), "{names:?}");
    assert_no_worker_databases(&server, &base[..40], &run.ctx());
    assert_base_untouched(&server, &base);
}

/// What an `--ephemeral-postgres` URL, as a test got it, says.
struct EphemeralUrl {
    socket_dir: PathBuf,
    port: u16,
    password: String,
    database: String,
    /// The URL with its password masked, for messages.
    redacted: String,
}

/// Parse and check the form of an ephemeral server's URL:
/// `postgres://postgres:<32 hex digits>@<socket dir, %-encoded>:<port>/<db>`.
fn ephemeral_url(url: &str, ctx: &str) -> EphemeralUrl {
    let parsed = PgUrl::parse(url).unwrap_or_else(|e| panic!("the URL does not parse: {e}{ctx}"));
    let redacted = parsed.to_string();
    let [endpoint] = parsed.endpoints() else {
        panic!("not one server in {redacted}{ctx}");
    };
    assert!(endpoint.is_socket(), "not a socket URL: {redacted}{ctx}");
    assert_eq!(parsed.user(), Some("postgres"), "{redacted}{ctx}");
    let password = parsed
        .password()
        .unwrap_or_else(|| panic!("no password in {redacted}{ctx}"));
    assert!(
        password.len() == 32 && password.bytes().all(|b| b.is_ascii_hexdigit()),
        "the password is not 32 hex digits: {redacted}{ctx}"
    );
    let port = endpoint.port.expect("the port is written out");
    let expected = format!(
        "postgres://postgres:{password}@{}:{port}/{}",
        cargo_xdist::db::url::percent_encode(&endpoint.host),
        cargo_xdist::db::url::percent_encode(parsed.database())
    );
    // (Compared without printing the password.)
    assert!(
        url == expected,
        "{redacted}: the socket directory is not the %-encoded host{ctx}"
    );
    EphemeralUrl {
        socket_dir: PathBuf::from(&endpoint.host),
        port,
        password: password.to_string(),
        database: parsed.database().to_string(),
        redacted,
    }
}

#[test]
fn ephemeral_postgres_runs_the_fixture_without_database_url_and_leaves_no_server() {
    let run = xdist_fixture("dbapp", &["-n", "2", "--ephemeral-postgres"]).run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);
    let records = run.records();
    let first = ephemeral_url(&records[0].database_url, &run.ctx());
    for r in &records {
        let url = ephemeral_url(&r.database_url, &run.ctx());
        assert_eq!(url.socket_dir, first.socket_dir, "one server{}", run.ctx());
        assert_eq!(url.database, format!("xdist_test_{}", r.worker));
    }
    // The server and its directory are gone by the time the run returns.
    assert!(
        !first.socket_dir.exists(),
        "{} left behind{}",
        first.socket_dir.display(),
        run.ctx()
    );
    assert!(
        Client::connect(&records[0].database_url, NoTls).is_err(),
        "the ephemeral server still runs"
    );
}

/// `id -u NAME` and `id -g NAME`.
fn ids_of(name: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run id: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no user {name}: id {flag} {name} said {text:?}"))
    };
    (id("-u"), id("-g"))
}

/// psql as the OS user `as_user` (`None`: as this process), over the
/// socket, with the right password in PGPASSWORD (never on a command line).
fn psql_over_socket(url: &EphemeralUrl, as_user: Option<(u32, u32)>) -> std::process::Output {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-w", "-A", "-t", "-c", "SELECT 1", "-h"])
        .arg(&url.socket_dir)
        .args([
            "-p",
            &url.port.to_string(),
            "-U",
            "postgres",
            "-d",
            &url.database,
        ])
        .env("PGPASSWORD", &url.password)
        .env_remove("PGSERVICE")
        .current_dir("/")
        .stdin(Stdio::null());
    if let Some((uid, gid)) = as_user {
        cmd.uid(uid).gid(gid);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run psql (apt-get install -y postgresql-client): {e}"))
}

/// The checks made while the run's server is up; returns its postmaster's pid
/// and data directory.
fn probe_ephemeral_server(url: &EphemeralUrl, raw_url: &str) -> (i32, PathBuf) {
    let host = format!(
        "{}:{}",
        cargo_xdist::db::url::percent_encode(&url.socket_dir.to_string_lossy()),
        url.port
    );
    // The URL works as given, with rust-postgres (psql: the setup command).
    let mut client = Client::connect(raw_url, NoTls)
        .unwrap_or_else(|e| panic!("cannot connect with {}: {e}", url.redacted));
    let show = |c: &mut Client, name: &str| -> String {
        c.query_one(&format!("SHOW {name}"), &[]).unwrap().get(0)
    };
    let data = PathBuf::from(show(&mut client, "data_directory"));
    let pid: i32 = std::fs::read_to_string(data.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // (a) Not over TCP, even with the right password: nothing of ours
    // listens there (another server on that port is not ours, and is told
    // apart by its data directory).
    for tcp_host in ["127.0.0.1", "[::1]", "localhost"] {
        let tcp = format!(
            "postgres://postgres:{}@{tcp_host}:{}/{}?connect_timeout=10",
            url.password, url.port, url.database
        );
        if let Ok(mut other) = Client::connect(&tcp, NoTls) {
            assert_ne!(
                PathBuf::from(show(&mut other, "data_directory")),
                data,
                "the ephemeral server answered over TCP on {tcp_host}:{}",
                url.port
            );
        }
    }
    assert_eq!(show(&mut client, "listen_addresses"), "", "a TCP listener");
    // ... nor over the socket without the password, or with a wrong one.
    let e = Client::connect(&format!("postgres://postgres@{host}/postgres"), NoTls)
        .err()
        .expect("connected over the socket without a password");
    let chain = format!(
        "{e}: {}",
        std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())
    );
    assert!(chain.contains("password missing"), "{chain}");
    let e = Client::connect(&format!("postgres://postgres:wrong@{host}/postgres"), NoTls)
        .err()
        .expect("connected over the socket with a wrong password");
    assert_eq!(
        e.as_db_error().map(|d| d.code().clone()),
        Some(postgres::error::SqlState::INVALID_PASSWORD),
        "{e}"
    );

    // Its directories are its own: 0700, owned by the server's account
    // (`postgres` when we are root, never root).
    let server_uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status (is /proc mounted?): {e}"))
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok())
        .expect("a Uid: line");
    for dir in [&url.socket_dir, &data] {
        let meta = std::fs::metadata(dir).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o700,
            "{}",
            dir.display()
        );
        assert_eq!(meta.uid(), server_uid, "{}", dir.display());
    }

    // (b) Another OS user cannot even reach the socket, password or not.
    // The same psql as this user works, so the failure is the directory's.
    let mine = psql_over_socket(url, None);
    assert_eq!(
        String::from_utf8_lossy(&mine.stdout).trim(),
        "1",
        "psql as this user failed: {}",
        String::from_utf8_lossy(&mine.stderr)
    );
    assert!(
        is_root(),
        "the check that another OS user cannot reach the ephemeral server needs root (to run psql as `nobody`); run this test as root"
    );
    let nobody = ids_of("nobody");
    assert_ne!(
        nobody.0, server_uid,
        "the server runs as nobody: no other user to try"
    );
    let theirs = psql_over_socket(url, Some(nobody));
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert!(
        !theirs.status.success() && stderr.contains("Permission denied"),
        "psql as nobody was not refused by the directory: {stderr}"
    );
    (pid, data)
}

/// Whether process `pid` is gone (or a zombie, which only its reaper can
/// remove). Fails if it cannot tell (no /proc).
fn process_gone(pid: i32) -> bool {
    cargo_xdist::db::ephemeral::process_gone(pid).unwrap_or_else(|e| panic!("{e}"))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn ephemeral_postgres_listens_only_on_a_private_socket_and_requires_its_password() {
    let probe_dir = tempfile::tempdir().unwrap();
    let dir = probe_dir.path().display().to_string();
    // Each setup command records the URL it got, waits until the test has
    // probed the server (at most ~2 minutes, should the test die), then
    // gives its database a table with psql.
    let setup = format!(
        r#"printf %s "$DATABASE_URL" > "{dir}/tmp-$$" && mv "{dir}/tmp-$$" "{dir}/url-$$"
i=0; while [ ! -e "{dir}/go" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'CREATE TABLE from_setup (x int)'"#
    );
    let release = Release(probe_dir.path().to_path_buf());
    let running = std::thread::spawn(move || {
        xdist_fixture(
            "dbapp",
            &["-n", "2", "--ephemeral-postgres", "--db-setup", &setup],
        )
        .env("DBAPP_EXPECT_TABLE", "from_setup")
        .junit()
        .run()
    });
    let raw_url = wait_for("a setup command to record its URL", || {
        let found = std::fs::read_dir(probe_dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("url-"))
            });
        match found {
            Some(path) => Some(Some(std::fs::read_to_string(path).unwrap())),
            None => running.is_finished().then_some(None),
        }
    });
    let Some(raw_url) = raw_url else {
        let run = running.join().unwrap();
        panic!("the run ended before its setup command ran{}", run.ctx());
    };
    let probed = std::panic::catch_unwind(|| {
        let url = ephemeral_url(&raw_url, "");
        let (pid, data) = probe_ephemeral_server(&url, &raw_url);
        (url, pid, data)
    });
    // Let the run go on and end before any verdict, so it cleans up.
    drop(release);
    let run = running.join().unwrap();
    let (url, pid, data) = probed.unwrap_or_else(|panic| std::panic::resume_unwind(panic));

    // (c) The run passes, and leaves no server, data or socket directory.
    run.assert_code(0);
    run.assert_summary(17, 0, 0);
    assert!(
        process_gone(pid),
        "postmaster {pid} still runs{}",
        run.ctx()
    );
    for dir in [&data, &url.socket_dir] {
        assert!(!dir.exists(), "{} left behind{}", dir.display(), run.ctx());
    }
    let junit = std::fs::read_to_string(run.junit_path.as_ref().unwrap()).unwrap();
    for (name, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("JUnit", &junit),
    ] {
        assert!(!text.contains(&url.password), "the password is in {name}");
    }
}

#[test]
fn ephemeral_postgres_password_is_redacted_from_output() {
    // The schema test fails and prints DATABASE_URL in its panic message.
    let run = xdist_fixture("dbapp", &["-n", "2", "--ephemeral-postgres"])
        .env("DBAPP_EXPECT_TABLE", "from_nowhere")
        .junit()
        .run();
    run.assert_code(100);
    run.assert_summary(16, 1, 0);
    let url = ephemeral_url(&run.records()[0].database_url, &run.ctx());
    assert!(
        run.stdout
            .contains("missing in postgres://postgres:****@%2F"),
        "the URL is shown redacted{}",
        run.ctx()
    );
    let junit = std::fs::read_to_string(run.junit_path.as_ref().unwrap()).unwrap();
    assert!(junit.contains("postgres://postgres:****@%2F"), "{junit}");
    for (name, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("JUnit", &junit),
    ] {
        assert!(
            !text.contains(&url.password),
            "the password is in {name}{}",
            run.ctx().replace(&url.password, "<PASSWORD>")
        );
    }
}

/// Run `--ephemeral-postgres` with `initdb` and `pg_ctl` taken from a
/// directory holding `scripts` (name, body) and links to the real ones
/// for the rest. Each script records its working directory (the server's
/// directory) in `dirs`, so the test can check it was removed.
fn ephemeral_with(scripts: &[(&str, &str)]) -> (Run, Vec<PathBuf>) {
    let real = pg_bin_dir();
    let bin = tempfile::tempdir().unwrap();
    // The server's account (postgres, when we are root) runs these.
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dirs = bin.path().join("dirs");
    std::fs::write(&dirs, "").unwrap();
    std::fs::set_permissions(&dirs, std::fs::Permissions::from_mode(0o666)).unwrap();
    for name in ["initdb", "pg_ctl"] {
        let path = bin.path().join(name);
        match scripts.iter().find(|(n, _)| *n == name) {
            Some((_, body)) => {
                let body = body.replace("REAL", &real.display().to_string());
                let script = format!("#!/bin/sh\npwd >> '{}'\n{body}\n", dirs.display());
                std::fs::write(&path, script).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            None => std::os::unix::fs::symlink(real.join(name), &path).unwrap(),
        }
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = xdist_fixture("dbapp", &["-n", "2", "--ephemeral-postgres"])
        .env("PATH", &path)
        .run();
    let dirs = std::fs::read_to_string(&dirs)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    (run, dirs)
}

/// The run stopped with exit code 2 before any build or test, on exactly
/// one `error:` line, which is returned.
fn the_one_error_before_any_build(run: &Run) -> String {
    run.assert_code(2);
    run.assert_no_panic();
    let lines = run.stderr_lines();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line{}", run.ctx());
    assert!(
        !run.stderr.contains("Compiling") && !run.stderr.contains("Finished"),
        "no build{}",
        run.ctx()
    );
    assert!(run.records().is_empty(), "no test may run{}", run.ctx());
    errors[0].to_string()
}

/// The run failed before any build with exactly one error line containing
/// `expected`, and left none of the server's directories behind.
fn assert_start_failure(run: &Run, dirs: &[PathBuf], expected: &str) {
    let error = the_one_error_before_any_build(run);
    assert!(
        error.contains(expected),
        "{expected:?} not shown{}",
        run.ctx()
    );
    assert!(
        error.ends_with("or pass --database-url instead of --ephemeral-postgres"),
        "the fix names the flag as it is spelled{}",
        run.ctx()
    );
    assert!(!dirs.is_empty(), "the fake binary did not run{}", run.ctx());
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind{}", dir.display(), run.ctx());
    }
}

#[test]
fn ephemeral_postgres_start_failures_show_the_end_of_the_log_in_one_line() {
    // The server refuses a setting: its log, not pg_ctl's, says which.
    let (run, dirs) = ephemeral_with(&[(
        "pg_ctl",
        r#"case " $* " in *" start "*) exec 'REAL/pg_ctl' -o '-c no_such_setting=1' "$@";; esac
exec 'REAL/pg_ctl' "$@""#,
    )]);
    assert_start_failure(
        &run,
        &dirs,
        "could not start the ephemeral PostgreSQL server: pg_ctl start failed (exit code 1) \
         (log: FATAL: unrecognized configuration parameter \"no_such_setting\");",
    );
    // initdb fails: the end of its output.
    let (run, dirs) = ephemeral_with(&[(
        "initdb",
        "echo 'initdb: warming up'; echo 'initdb: error: the disk is full' >&2; exit 1",
    )]);
    assert_start_failure(
        &run,
        &dirs,
        "initdb failed (exit code 1) (log: initdb: warming up | initdb: error: the disk is full);",
    );
}

#[test]
fn bad_database_settings_are_one_line_errors_before_any_build_or_test() {
    let server = pg_server();
    create_base(&server, "app_bad");
    let unused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // With a good URL the same command runs tests: the control for "no test ran".
    let control = dbapp(&server.url("app_bad"), &["-n", "2"]).run();
    control.assert_code(0);
    let cases = [
        ("postgres://app:s3cret@[bad/app", "s3cret"),
        (
            &*format!("postgres://app:s3cret@127.0.0.1:{unused}/app"),
            "s3cret",
        ),
        (
            &*format!("postgres://ghost:s3cret@{}/app_bad", server.url_host()),
            "s3cret",
        ),
    ];
    for (url, secret) in cases {
        let run = dbapp(url, &["-n", "2"]).run();
        the_one_error_before_any_build(&run);
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "{}",
            run.ctx()
        );
        run.assert_no_test_ran(&control, "bad database settings stop the run");
    }
    let run = dbapp(
        &format!("postgres://app@127.0.0.1:{unused}/app"),
        &["-n", "2"],
    )
    .run();
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{unused}")),
        "names host and port{}",
        run.ctx()
    );
}

/// A `--db-setup` command that appends a line to `count` each time it
/// runs, then applies every `*.sql` file of `migrations` with psql.
fn counting_setup(count: &std::path::Path, migrations: &std::path::Path) -> String {
    format!(
        r#"echo run >> '{}' && for f in '{}'/*.sql; do psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$f" || exit 1; done"#,
        count.display(),
        migrations.display()
    )
}

fn setup_runs(count: &std::path::Path) -> usize {
    std::fs::read_to_string(count).map_or(0, |t| t.lines().count())
}

/// The cached templates of `base` on the server.
fn templates(server: &EphemeralServer, base: &str) -> Vec<String> {
    pg_databases(server)
        .into_iter()
        .filter(|d| d.starts_with(&format!("{base}_xdist_tpl_")))
        .collect()
}

fn has_table(url: &str, table: &str) -> bool {
    Client::connect(url, NoTls)
        .unwrap()
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .unwrap()
        .get(0)
}

#[test]
fn setup_runs_once_into_a_cached_template_until_a_migration_changes() {
    let server = pg_server();
    let url = create_base(&server, "app_cache");
    let scratch = tempfile::tempdir().unwrap();
    let count = scratch.path().join("count");
    let migrations = scratch.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("001.sql"),
        "CREATE TABLE from_setup (x int);",
    )
    .unwrap();
    let setup = counting_setup(&count, &migrations);
    let mig = migrations.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["-n", "4", "--db-setup", &setup, "--db-migrations", mig];
        args.extend(extra);
        let run = dbapp(&url, &args)
            .env("DBAPP_EXPECT_TABLE", "from_setup")
            .run();
        run.assert_code(0);
        run.assert_summary(17, 0, 0);
        run
    };

    // First run: one setup, into the template; every worker's copy has the schema.
    let first = run(&["--keep-db"]);
    assert_eq!(setup_runs(&count), 1, "{}", first.ctx());
    for k in 0..4 {
        assert!(
            has_table(&server.url(&format!("app_cache_gw{k}")), "from_setup"),
            "gw{k} lacks the schema{}",
            first.ctx()
        );
    }
    let template = templates(&server, "app_cache");
    assert_eq!(template.len(), 1, "{}", first.ctx());

    // Unchanged: no setup at all; fresh copies of the same template.
    let second = run(&[]);
    assert_eq!(setup_runs(&count), 1, "{}", second.ctx());
    assert_eq!(templates(&server, "app_cache"), template);
    assert_no_worker_databases(&server, "app_cache", &second.ctx());

    // A migration changed: one more setup; the superseded template is gone.
    std::fs::write(
        migrations.join("002.sql"),
        "CREATE TABLE from_setup_too (x int);",
    )
    .unwrap();
    let third = run(&["--keep-db"]);
    assert_eq!(setup_runs(&count), 2, "{}", third.ctx());
    let rebuilt = templates(&server, "app_cache");
    assert_eq!(rebuilt.len(), 1, "{}", third.ctx());
    assert_ne!(rebuilt, template);
    assert!(has_table(&server.url("app_cache_gw3"), "from_setup_too"));

    // db clean: no worker database, no template; the base untouched.
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &url).run();
    clean.assert_code(0);
    assert!(
        clean.stdout.contains(&format!("dropped {}", rebuilt[0])),
        "{}",
        clean.ctx()
    );
    assert_eq!(pg_databases(&server), ["app_cache"], "{}", clean.ctx());
    assert_base_untouched(&server, "app_cache");
}

#[test]
fn the_default_migrations_are_the_workspaces_and_a_failed_setup_leaves_no_template() {
    let server = pg_server();
    let url = create_base(&server, "app_default");
    let setup = r#"psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f fixtures/dbapp/migrations/0001_from_setup.sql"#;
    let ok = dbapp(&url, &["-n", "2", "--db-setup", setup])
        .env("DBAPP_EXPECT_TABLE", "from_setup")
        .run();
    ok.assert_code(0);
    ok.assert_summary(17, 0, 0);
    // Keyed by the setup and fixtures/dbapp/migrations, which no flag named.
    let key =
        cargo_xdist::db::template::key(setup, &[fixture_dir("dbapp").join("migrations")]).unwrap();
    assert_eq!(
        templates(&server, "app_default"),
        [cargo_xdist::db::url::template_db_name(
            "app_default",
            &key[..16]
        )],
        "{}",
        ok.ctx()
    );

    let failing = "echo first line; echo setup-went-wrong >&2; exit 3";
    let run = dbapp(&url, &["-n", "2", "--db-setup", failing]).run();
    run.assert_code(2);
    run.assert_no_test_ran(&ok, "a failing setup stops the run");
    let lines = run.stderr_lines();
    let error = lines
        .iter()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line{}", run.ctx()));
    assert!(
        error.contains("--db-setup failed for the template database app_default_xdist_tpl_")
            && error.contains("(exit code 3): first line | setup-went-wrong; "),
        "{}",
        run.ctx()
    );
    assert_eq!(templates(&server, "app_default").len(), 1, "{}", run.ctx());
    assert_no_worker_databases(&server, "app_default", &run.ctx());
}

#[test]
fn the_connection_budget_refuses_an_overcommitted_run_and_lowers_auto() {
    let server = pg_server_with(&[("max_connections", "20")]);
    let url = create_base(&server, "app_budget");
    // 20 - 3 reserved for superusers = 17 free: one worker's 10.
    let run = dbapp(&url, &["-n", "4"]).run();
    let error = the_one_error_before_any_build(&run);
    for part in [
        "4 workers with 10 connections each (--db-connections-per-worker) need 40, but PostgreSQL at ",
        "(max_connections 20 - 3 reserved - ",
        "run fewer workers (-n 1)",
        "--db-allow-overcommit",
    ] {
        assert!(error.contains(part), "{part:?} missing{}", run.ctx());
    }

    let run = dbapp(&url, &["-n", "4", "--db-allow-overcommit"]).run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "this test needs at least 2 CPUs, so that -n auto asks for more than 1 worker"
    );
    let run = dbapp(&url, &[]).run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);
    assert!(
        run.stderr.contains(&format!(
            "warning: -n auto lowered from {cpus} to 1 workers: "
        )),
        "{}",
        run.ctx()
    );
    for r in run.records() {
        assert_eq!((r.worker.as_str(), r.worker_count.as_str()), ("gw0", "1"));
    }
    assert_no_worker_databases(&server, "app_budget", &run.ctx());
}

/// An address nothing listens on.
fn unreachable_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("postgres://app:s3cret@127.0.0.1:{port}/app")
}

#[test]
fn a_stray_url_does_not_block_serial_or_no_db_runs_and_errors_name_its_source() {
    let stray = unreachable_url();
    // -n 0 connects to nothing; the URL reaches the tests as it was.
    let run = xdist_fixture("basic", &["-p", "gamma", "-n", "0"])
        .env("DATABASE_URL", &stray)
        .run();
    run.assert_code(0);
    run.assert_summary(5, 0, 0);
    // --no-db: workers, no databases, the variable left alone.
    let run = xdist_fixture("basic", &["-p", "gamma", "-n", "2", "--no-db"])
        .env("DATABASE_URL", &stray)
        .run();
    run.assert_code(0);
    run.assert_summary(5, 0, 0);
    let records = run.records();
    assert_eq!(records.len(), 5, "{}", run.ctx());
    for r in &records {
        assert!(r.worker.starts_with("gw"), "{}", run.ctx());
        assert!(r.database_url == stray, "the URL was changed{}", run.ctx());
    }

    // Without them, the run stops, naming where the URL came from and --no-db.
    for (args, env, named) in [
        (vec!["-n", "2"], "DATABASE_URL", "$DATABASE_URL"),
        (
            vec!["-n", "2", "--database-env", "APP_DB"],
            "APP_DB",
            "$APP_DB",
        ),
        (
            vec!["-n", "2", "--database-url", &stray],
            "UNUSED",
            "--database-url",
        ),
    ] {
        let run = xdist_fixture("basic", &args).env(env, &stray).run();
        let error = the_one_error_before_any_build(&run);
        assert!(
            error.contains(&format!(
                "fix the host and port in {named}, or pass --no-db"
            )),
            "{}",
            run.ctx()
        );
        assert!(!run.stderr.contains("s3cret"), "{}", run.ctx());
    }
    let run = xdist_fixture("basic", &["-n", "2", "--database-env", "APP_DB"])
        .env("APP_DB", "mysql://u:s3cret@h/d")
        .run();
    let error = the_one_error_before_any_build(&run);
    assert!(
        error.starts_with("error: invalid database URL in $APP_DB: "),
        "{}",
        run.ctx()
    );
}

#[test]
fn a_plain_word_password_is_masked_where_it_is_a_password_and_nowhere_else() {
    let server = pg_server();
    let run = failing_run_as_app(&server, "app_word", "postgres", "postgres");
    let junit = std::fs::read_to_string(run.junit_path.as_ref().unwrap()).unwrap();
    for (name, text) in [("stdout", &run.stdout), ("JUnit", &junit)] {
        assert!(
            text.contains("missing in postgres://app:****@%2F"),
            "{name}: the password is masked, the scheme kept{}",
            run.ctx()
        );
        assert!(!text.contains("app:postgres@"), "{name}{}", run.ctx());
    }
}

/// `run` passed all 17 tests, each on its worker's database of name set
/// `names` (`<base>` or `<base>_r2`, ...).
fn assert_passed_on(run: &Run, names: &str) {
    run.assert_code(0);
    run.assert_summary(17, 0, 0);
    assert_each_test_used_its_workers_database(run, names, false);
}

/// Only base `base`, untouched, is left on the server.
fn assert_only_base_left(server: &EphemeralServer, base: &str, run: &Run) {
    assert_eq!(pg_databases(server), [base], "{}", run.ctx());
    assert_base_untouched(server, base);
}

/// `dbapp -n 2` on `url` whose tests wait, connected, until `release` is
/// dropped: `during` is called once one of them waits.
fn held_dbapp(url: &str, release: &Release, during: impl FnOnce(&Live)) -> Run {
    let go = release.go();
    dbapp(url, &["-n", "2"])
        .env("DBAPP_HOLD_UNTIL", &go.to_string_lossy())
        .run_with(|live| {
            wait_for("a test of the held run to start", || {
                let records = read_records(live.record_dir).unwrap_or_default();
                (!records.is_empty()).then_some(())
            });
            during(live)
        })
}

#[test]
fn two_runs_at_once_on_one_base_use_worker_databases_of_their_own_and_both_pass() {
    let server = pg_server();
    let url = create_base(&server, "app_two");
    let hold = tempfile::tempdir().unwrap();
    let release = Release(hold.path().to_path_buf());
    let mut second = None;
    // The first run's tests wait, connected to its worker databases, while
    // a second run on the same base runs from start to end.
    let first = held_dbapp(&url, &release, |_| {
        second = Some(dbapp(&url, &["-n", "2"]).run());
        release.now();
    });
    let second = second.unwrap();
    assert_passed_on(&first, "app_two");
    assert_passed_on(&second, "app_two_r2");
    assert!(
        second.stderr.contains(
            "warning: another cargo xdist run uses the worker databases app_two_gw0..; \
             this run uses app_two_r2_gw0.. instead\n"
        ),
        "{}",
        second.ctx()
    );
    assert_only_base_left(&server, "app_two", &second);
}

#[test]
fn a_killed_runs_worker_database_names_are_taken_by_the_next_run() {
    let server = pg_server();
    let url = create_base(&server, "app_crash");
    let hold = tempfile::tempdir().unwrap();
    let release = Release(hold.path().to_path_buf());
    let killed = held_dbapp(&url, &release, |live| {
        let pid = rustix::process::Pid::from_raw(live.pid as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        // Its test processes (in process groups of their own) outlive it;
        // they are this test's to end.
        for r in read_records(live.record_dir).unwrap() {
            let test = rustix::process::Pid::from_raw(r.pid as i32).unwrap();
            let _ = rustix::process::kill_process(test, rustix::process::Signal::KILL);
        }
    });
    drop(release);
    assert_eq!(killed.signal, Some(9), "{}", killed.ctx());
    assert!(
        pg_databases(&server).contains(&"app_crash_gw0".to_string()),
        "the killed run left its databases{}",
        killed.ctx()
    );
    // Its lock went with its connection, which the server closes once it
    // sees the process gone.
    wait_for_within(
        "the server to release the killed run's lock",
        Duration::from_secs(60),
        || {
            let held: i64 = pg_admin(&server)
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
                    &[],
                )
                .unwrap()
                .get(0);
            (held == 0).then_some(())
        },
    );
    let next = dbapp(&url, &["-n", "2"]).run();
    assert_passed_on(&next, "app_crash");
    assert!(!next.stderr.contains("this run uses"), "{}", next.ctx());
    assert_only_base_left(&server, "app_crash", &next);
}

#[test]
fn ctrl_c_stops_a_run_waiting_for_another_runs_template_and_leaves_nothing() {
    let server = pg_server();
    let url = create_base(&server, "app_wait");
    let migrations = tempfile::tempdir().unwrap();
    std::fs::write(
        migrations.path().join("0001.sql"),
        "create table t (x int);",
    )
    .unwrap();
    let setup = "true";
    // Another run builds this template: this session holds its lock.
    let key = cargo_xdist::db::template::key(setup, &[migrations.path().to_path_buf()]).unwrap();
    let template = cargo_xdist::db::url::template_db_name("app_wait", &key[..16]);
    let (class, id) = cargo_xdist::db::template::lock_keys(&template);
    let mut holder = pg_admin(&server);
    holder
        .execute("SELECT pg_advisory_lock($1, $2)", &[&class, &id])
        .unwrap();

    let mut child = Command::new(XDIST)
        .args([
            "xdist",
            "--manifest-path",
            &fixture_manifest("dbapp"),
            "-n",
            "2",
        ])
        .args(["--no-progress", "--db-setup", setup, "--db-migrations"])
        .arg(migrations.path())
        .env("DATABASE_URL", &url)
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child_pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let notice = format!("note: waiting for another cargo xdist run to build template {template}");
    let start = Instant::now();
    let waiting = loop {
        match rx.recv_timeout(WAIT_LIMIT.saturating_sub(start.elapsed())) {
            Ok(line) if line == notice => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    if !waiting {
        let _ = child.kill();
    }
    assert!(waiting, "no {notice:?} on stderr");
    // Ctrl-C, to the child we spawned.
    rustix::process::kill_process(child_pid, rustix::process::Signal::INT).unwrap();
    let status = poll(POLL, WAIT_LIMIT, || child.try_wait().unwrap()).unwrap_or_else(|| {
        // Only the process this test started, by its pid.
        let _ = child.kill();
        panic!("the waiting run did not stop after SIGINT");
    });
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: interrupted: stopped waiting for another cargo xdist run to build template database \"{template}\"; nothing was created"
        )),
        "{stderr}"
    );
    assert_eq!(pg_databases(&server), ["app_wait"], "{stderr}");
    drop(holder);
}

/// Put three rows into a table of their own in database `name`.
fn put_rows(server: &EphemeralServer, name: &str) {
    Client::connect(&server.url(name), NoTls)
        .unwrap_or_else(|e| panic!("connect to {name}: {e}"))
        .batch_execute("CREATE TABLE kept_rows (x int); INSERT INTO kept_rows VALUES (1), (2), (3)")
        .unwrap();
}

/// The rows [`put_rows`] put into `name`, or why they cannot be read.
fn kept_rows(server: &EphemeralServer, name: &str) -> Result<i64, String> {
    let mut c = Client::connect(&server.url(name), NoTls).map_err(|e| e.to_string())?;
    c.query_one("SELECT count(*) FROM kept_rows", &[])
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())
}

#[test]
fn a_base_named_like_another_bases_second_name_set_keeps_its_databases_and_rows() {
    let server = pg_server();
    let shop = create_base(&server, "shop");
    let shop_r2 = create_base(&server, "shop_r2");
    // Base shop_r2 keeps its worker databases, with data in them.
    let kept = dbapp(&shop_r2, &["-n", "2", "--keep-db"]).run();
    assert_passed_on(&kept, "shop_r2");
    for name in ["shop_r2_gw0", "shop_r2_gw1"] {
        put_rows(&server, name);
    }
    let assert_kept = |ctx: &str| {
        for name in ["shop_r2_gw0", "shop_r2_gw1"] {
            assert_eq!(kept_rows(&server, name), Ok(3), "{name}{ctx}");
        }
    };

    // Two runs at once on base shop: the second would take shop's second
    // name set, shop_r2_gwK, which are shop_r2's databases: it takes the
    // third instead.
    let hold = tempfile::tempdir().unwrap();
    let release = Release(hold.path().to_path_buf());
    let mut second = None;
    let first = held_dbapp(&shop, &release, |_| {
        second = Some(dbapp(&shop, &["-n", "2"]).run());
        release.now();
    });
    let second = second.unwrap();
    assert_passed_on(&first, "shop");
    assert_passed_on(&second, "shop_r3");
    assert!(
        second
            .stderr
            .contains("this run uses shop_r3_gw0.. instead\n"),
        "{}",
        second.ctx()
    );
    assert_kept(&second.ctx());

    // db clean on base shop leaves shop_r2's alone.
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &shop).run();
    clean.assert_code(0);
    assert_kept(&clean.ctx());
    assert_base_untouched(&server, "shop");
    assert_base_untouched(&server, "shop_r2");

    // Base shop_r2's own db clean drops them.
    let clean = xdist(&["db", "clean"]).env("DATABASE_URL", &shop_r2).run();
    clean.assert_code(0);
    assert_eq!(
        pg_databases(&server),
        ["shop", "shop_r2"],
        "{}",
        clean.ctx()
    );
}

/// The processes whose environment holds `tag` (`KEY=VALUE`) and whose
/// command line is `cmdline` (cargo-xdist's own only contains it).
fn tagged(tag: &str, cmdline: &str) -> Vec<(i32, String)> {
    processes_with_env(tag)
        .into_iter()
        .filter(|(_, c)| c == cmdline)
        .collect()
}

#[test]
fn sigterm_during_db_setup_stops_the_setup_and_the_run_and_leaves_nothing() {
    let server = pg_server();
    let url = create_base(&server, "app_setup_term");
    // As `sleep 600` is, and as a setup that ignores SIGTERM: the second
    // is killed after the grace.
    for (case, setup) in [
        ("plain", "sleep 600"),
        ("stubborn", "trap '' TERM; sleep 600; true"),
    ] {
        let tag = format!("SECDB_SETUP_TAG={case}-{}", std::process::id());
        let (key, value) = tag.split_once('=').unwrap();
        let mut child = Command::new(XDIST)
            .args([
                "xdist",
                "--manifest-path",
                &fixture_manifest("dbapp"),
                "-n",
                "2",
                "--no-progress",
                "--db-setup",
                setup,
            ])
            .env("DATABASE_URL", &url)
            .env("CARGO_TARGET_DIR", fixture_target_dir())
            .env(key, value)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = std::io::Read::read_to_string(&mut { stderr }, &mut all);
            all
        });
        let setup_started = poll(POLL, WAIT_LIMIT, || {
            (!tagged(&tag, "sleep 600").is_empty()).then_some(())
        });
        if setup_started.is_none() {
            let _ = child.kill();
            panic!("{case}: the setup never started");
        }
        // As `kill PID`, `timeout` and CI cancellation do: to cargo-xdist only.
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let stopped = poll(POLL, Duration::from_secs(120), || child.try_wait().unwrap());
        let Some(status) = stopped else {
            let _ = child.kill();
            for (pid, _) in tagged(&tag, "sleep 600") {
                // Descendants of the run this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            panic!("{case}: the run did not stop after SIGTERM during --db-setup");
        };
        let stderr = reader.join().unwrap();
        assert_eq!(status.code(), Some(130), "{case}: {stderr}");
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(!stderr.contains("--db-setup failed"), "{case}: {stderr}");
        assert!(
            stderr.contains("error: interrupted: stopped --db-setup for "),
            "{case}: {stderr}"
        );
        let mut left = tagged(&tag, "sleep 600");
        left.extend(tagged(&tag, &format!("sh -c {setup}")));
        for (pid, _) in &left {
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        assert!(left.is_empty(), "{case}: left running: {left:?}");
        assert_eq!(
            pg_databases(&server),
            ["app_setup_term"],
            "{case}: {stderr}"
        );
        assert_base_untouched(&server, "app_setup_term");
    }
}
