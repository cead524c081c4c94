//! End-to-end tests of per-worker databases: the binary runs
//! fixtures/dbapp against a real PostgreSQL that each test starts itself
//! (initdb + pg_ctl through the crate's EphemeralServer; as root the server
//! runs as the `postgres` user). Nothing is mocked and nothing is skipped:
//! without PostgreSQL's server binaries the tests fail naming the package.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_xdist::db::ephemeral::EphemeralServer;
use common::*;
use postgres::{Client, NoTls};

fn server() -> EphemeralServer {
    EphemeralServer::start().unwrap_or_else(|e| {
        panic!("these tests need PostgreSQL's server binaries (apt-get install -y postgresql): {e}")
    })
}

fn admin(server: &EphemeralServer) -> Client {
    Client::connect(&server.url("postgres"), NoTls).expect("connect as postgres")
}

fn databases(server: &EphemeralServer) -> Vec<String> {
    let mut names: Vec<String> = admin(server)
        .query("SELECT datname::text FROM pg_database ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    names.retain(|n| !["postgres", "template0", "template1"].contains(&n.as_str()));
    names
}

/// A base database with a table and a row that must survive every run.
fn create_base(server: &EphemeralServer, name: &str) -> String {
    admin(server)
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
    let left: Vec<String> = databases(server)
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
            r.database_url,
            run.ctx()
        );
    }
}

#[test]
fn shared_table_suite_collides_under_cargo_test_and_passes_under_xdist_in_every_mode() {
    let server = server();
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
    let server = server();
    let url = create_base(&server, "app_serial");
    let run = dbapp(&url, &["-n", "0"]).run();
    run.assert_code(0);
    for r in run.records() {
        assert_eq!(
            r.database_url,
            url,
            "-n 0 must pass DATABASE_URL unchanged{}",
            run.ctx()
        );
        assert_eq!(r.worker, "-");
    }
    assert_eq!(databases(&server), ["app_serial"]);
}

#[test]
fn password_with_reserved_characters_reaches_tests_intact_and_is_never_printed() {
    let server = server();
    create_base(&server, "app_pw");
    admin(&server)
        .batch_execute(
            "CREATE ROLE app LOGIN CREATEDB PASSWORD 'p:a/s@s&w0rd'; ALTER DATABASE app_pw OWNER TO app",
        )
        .unwrap();
    // Password authentication for everyone but the postgres superuser.
    std::fs::write(
        server.data_dir().join("pg_hba.conf"),
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    admin(&server)
        .batch_execute("SELECT pg_reload_conf()")
        .unwrap();

    // `&` may stay unencoded in a URL's userinfo: the printed URL carries it
    // and the JUnit writer escapes it (`&amp;`), out of a raw-file search's sight.
    let encoded = "p%3Aa%2Fs%40s&w0rd";
    let url = format!(
        "postgres://app:{encoded}@127.0.0.1:{}/app_pw?sslmode=disable",
        server.port()
    );
    // The schema test fails and prints DATABASE_URL in its panic message.
    let run = dbapp(&url, &["-n", "2"])
        .env("DBAPP_EXPECT_TABLE", "from_nowhere")
        .junit()
        .run();
    run.assert_code(100);
    run.assert_summary(16, 1, 0);
    for r in run.records() {
        assert_eq!(
            r.database_url,
            format!(
                "postgres://app:{encoded}@127.0.0.1:{}/app_pw_{}?sslmode=disable",
                server.port(),
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
    let server = server();
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
    let start = Instant::now();
    while std::fs::read_dir(records.path())
        .map(|d| d.count())
        .unwrap_or(0)
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no test started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
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
        let kept: Vec<String> = databases(&server)
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
    admin(&server)
        .batch_execute("CREATE DATABASE app_life_gw1")
        .unwrap();
    let run = dbapp(&url, &["-n", "2"]).run();
    run.assert_code(2);
    run.assert_no_panic();
    assert!(
        databases(&server).contains(&"app_life_gw1".to_string()),
        "{}",
        run.ctx()
    );
    run.assert_no_test_ran(&failing, "a foreign worker database stops the run");
    assert_base_untouched(&server, "app_life");
}

#[test]
fn template_and_setup_give_every_worker_the_schema_and_their_failures_are_clear() {
    let server = server();
    let url = create_base(&server, "app_schema");
    admin(&server)
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
    assert_base_untouched(&server, "app_schema");
}

#[test]
fn a_63_byte_base_name_works_with_four_workers() {
    let server = server();
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

#[test]
fn ephemeral_postgres_runs_the_fixture_without_database_url_and_leaves_no_server() {
    let run = xdist_fixture("dbapp", &["-n", "2", "--ephemeral-postgres"]).run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);
    let url = run.records()[0].database_url.clone();
    assert!(
        url.starts_with("postgres://postgres@127.0.0.1:"),
        "{url}{}",
        run.ctx()
    );
    // The server is gone: nothing accepts connections on its port.
    let start = Instant::now();
    loop {
        if Client::connect(&url, NoTls).is_err() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the ephemeral server still runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_database_settings_are_one_line_errors_before_any_build_or_test() {
    let server = server();
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
            &*format!(
                "postgres://ghost:s3cret@127.0.0.1:{}/app_bad",
                server.port()
            ),
            "s3cret",
        ),
    ];
    for (url, secret) in cases {
        let run = dbapp(url, &["-n", "2"]).run();
        run.assert_code(2);
        run.assert_no_panic();
        let lines = run.stderr_lines();
        let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "one error line{}", run.ctx());
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "{}",
            run.ctx()
        );
        assert!(
            !run.stderr.contains("Compiling") && !run.stderr.contains("Finished"),
            "no build{}",
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
