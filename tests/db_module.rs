//! Integration tests of the per-worker database module against a real
//! PostgreSQL that each test starts itself (`EphemeralServer`). Nothing is
//! skipped: without PostgreSQL's server binaries every test fails, naming
//! the package to install.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use cargo_xdist::db::ephemeral::{self, EphemeralServer};
use cargo_xdist::db::url::{PgUrl, template_db_name};
use cargo_xdist::db::{DbError, DbOptions, WorkerDatabases, clean, template};
use common::{POLL, Release, pg_admin, pg_server, pg_server_with, poll, wait_for_within};
use postgres::{Client, NoTls};

fn client(url: &str) -> Client {
    Client::connect(url, NoTls)
        .unwrap_or_else(|e| panic!("connect {}: {e}", cargo_xdist::db::url::redacted(url)))
}

/// `actual == expected`, shown redacted if not: URLs of the test servers
/// carry their password.
fn assert_same_url(actual: &str, expected: &str) {
    assert!(
        actual == expected,
        "URL {} is not {}",
        cargo_xdist::db::url::redacted(actual),
        cargo_xdist::db::url::redacted(expected)
    );
}

/// The superuser's password of `server` (it is in every URL of it).
fn password(server: &EphemeralServer) -> String {
    let url = PgUrl::parse(&server.url("postgres")).unwrap();
    url.password().expect("the URL has a password").to_string()
}

/// Let every role in over the socket without a password, as a server set
/// up with trust authentication would (only such a server tells a missing
/// role from a wrong password).
fn with_trust_auth(server: &EphemeralServer) {
    let mut admin = pg_admin(server);
    std::fs::write(
        server.data_dir().join("pg_hba.conf"),
        "local all all trust\n",
    )
    .unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
}

/// The permission bits of `path` and its owner.
fn mode_and_owner(path: &Path) -> (u32, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.permissions().mode() & 0o7777, meta.uid())
}

fn opts(url: &str) -> DbOptions {
    DbOptions {
        url: Some(url.to_string()),
        env_name: "DATABASE_URL".to_string(),
        ..DbOptions::default()
    }
}

/// Run each statement on its own (CREATE DATABASE refuses to share one).
fn sql(client: &mut Client, statements: &[&str]) {
    for statement in statements {
        client
            .batch_execute(statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// Comment of database `name`: `None` if it does not exist.
fn comment(admin: &mut Client, name: &str) -> Option<Option<String>> {
    admin
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .map(|r| r.get(0))
}

fn exists(admin: &mut Client, name: &str) -> bool {
    comment(admin, name).is_some()
}

fn table_exists(url: &str, table: &str) -> bool {
    client(url)
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .unwrap()
        .get(0)
}

/// Whether the process is gone (or a zombie); fails the test when that
/// cannot be told (no /proc), rather than taking "unreadable" for "gone".
fn process_gone(pid: i32) -> bool {
    ephemeral::process_gone(pid).unwrap_or_else(|e| panic!("{e}"))
}

/// The fields after `key` on its line of `/proc/<pid>/status`.
fn status_field(pid: i32, key: &str) -> Vec<u32> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("this check needs /proc: cannot read {path}: {e}"));
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} line in {path}"));
    line[key.len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn uid_of(pid: i32) -> u32 {
    status_field(pid, "Uid:")[0]
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Check the message rules: one line, "problem; fix", no secret.
fn assert_good_message(e: &DbError, secrets: &[&str]) {
    let text = e.to_string();
    eprintln!("message: {text}");
    assert!(!text.contains('\n'), "not one line: {text}");
    assert!(text.contains("; "), "no fix: {text}");
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} leaked: {text}");
    }
}

#[test]
fn ephemeral_server_runs_unprivileged_and_drop_removes_everything() {
    let server = pg_server();
    let pid = server.postmaster_pid().expect("postmaster pid");
    let dir = server.socket_dir().to_path_buf();
    assert_eq!(server.data_dir().parent(), Some(dir.as_path()));
    assert!(dir.join(".s.PGSQL.5432").exists(), "no socket in {dir:?}");
    let uid = uid_of(pid);
    if is_root() {
        assert_ne!(uid, 0, "the server must not run as root");
        // std's CommandExt::uid dropped root's supplementary groups.
        assert_eq!(status_field(pid, "Groups:"), Vec::<u32>::new());
        assert_ne!(status_field(pid, "Gid:")[0], 0);
    }
    // Only the server's account may enter its directories.
    assert_eq!(mode_and_owner(&dir), (0o700, uid), "{dir:?}");
    assert_eq!(mode_and_owner(server.data_dir()), (0o700, uid));
    let mut c = pg_admin(&server);
    let show = |c: &mut Client, name: &str| -> String {
        c.query_one(&format!("SHOW {name}"), &[]).unwrap().get(0)
    };
    assert_eq!(show(&mut c, "max_connections"), "200");
    assert_eq!(show(&mut c, "fsync"), "off");
    assert_eq!(show(&mut c, "listen_addresses"), "");
    assert_eq!(show(&mut c, "unix_socket_permissions"), "0700");
    // Every rule asks for a SCRAM password, none trusts.
    let rules: Vec<String> = c
        .query("SELECT DISTINCT auth_method FROM pg_hba_file_rules", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rules, ["scram-sha-256"]);
    // The password file initdb read is gone; no file left holds the password.
    let password = password(&server);
    assert_eq!(password.len(), 32, "a password of 32 hex digits");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&text).contains(&password),
                "{path:?} holds the password"
            );
        }
    }
    drop(c);
    drop(server);
    assert!(process_gone(pid), "postmaster {pid} still running");
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn creates_marks_and_cleans_up_four_databases() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    admin.batch_execute("CREATE DATABASE app").unwrap();
    // Named like a worker database, but not ours: must survive everything.
    admin.batch_execute("CREATE DATABASE app_gw7").unwrap();

    let mut dbs = WorkerDatabases::connect(&opts(&server.url("app")), 4, "run1").unwrap();
    let took = dbs.create().unwrap();
    eprintln!("created 4 empty databases in {took:?}");
    for k in 0..4 {
        let name = format!("app_gw{k}");
        assert_eq!(
            comment(&mut admin, &name),
            Some(Some(
                "created by cargo-xdist for \"app\" run run1".to_string()
            )),
            "{name}"
        );
        let (var, url) = dbs.worker_env(Some(k));
        assert_eq!(var, "DATABASE_URL");
        assert_same_url(&url, &server.url(&name));
        let current: String = client(&url)
            .query_one("SELECT current_database()", &[])
            .unwrap()
            .get(0);
        assert_eq!(current, name);
    }
    assert_same_url(&dbs.worker_env(None).1, &server.url("app"));

    dbs.cleanup().unwrap();
    for k in 0..4 {
        assert!(!exists(&mut admin, &format!("app_gw{k}")));
    }
    assert!(exists(&mut admin, "app"));
    assert!(exists(&mut admin, "app_gw7"));
    dbs.cleanup().unwrap();
    drop(dbs);
    assert!(exists(&mut admin, "app"));
    assert!(exists(&mut admin, "app_gw7"));
}

#[test]
fn drop_cleans_up_and_an_unmarked_name_is_never_touched() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    admin.batch_execute("CREATE DATABASE app_gw2").unwrap();
    {
        let mut dbs = WorkerDatabases::connect(&opts(&server.url("app")), 4, "r").unwrap();
        let e = dbs.create().unwrap_err();
        assert!(
            matches!(&e, DbError::NameTaken { name, .. } if name == "app_gw2"),
            "{e}"
        );
        assert_good_message(&e, &[]);
        // The others were created (and are dropped with `dbs`).
        assert!(exists(&mut admin, "app_gw0"));
    }
    for k in [0, 1, 3] {
        assert!(!exists(&mut admin, &format!("app_gw{k}")), "app_gw{k}");
    }
    assert_eq!(comment(&mut admin, "app_gw2"), Some(None));
}

#[test]
fn marked_leftovers_are_replaced_and_others_runs_databases_are_not_dropped() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    sql(
        &mut admin,
        &[
            "CREATE DATABASE app_gw0",
            "COMMENT ON DATABASE app_gw0 IS 'created by cargo-xdist for \"app\" run old'",
        ],
    );
    client(&server.url("app_gw0"))
        .batch_execute("CREATE TABLE stale(x int)")
        .unwrap();
    let mut dbs = WorkerDatabases::connect(&opts(&server.url("app")), 1, "new").unwrap();
    dbs.create().unwrap();
    assert!(
        !table_exists(&server.url("app_gw0"), "stale"),
        "leftover reused"
    );
    assert_eq!(
        comment(&mut admin, "app_gw0"),
        Some(Some("created by cargo-xdist for \"app\" run new".into()))
    );
    // Another run took the name over meanwhile: not ours to drop any more.
    admin
        .batch_execute(
            "COMMENT ON DATABASE app_gw0 IS 'created by cargo-xdist for \"app\" run other'",
        )
        .unwrap();
    dbs.cleanup().unwrap();
    assert!(exists(&mut admin, "app_gw0"));
}

#[test]
fn template_is_copied_into_every_worker_database() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    admin.batch_execute("CREATE DATABASE tpl").unwrap();
    {
        let mut tpl = client(&server.url("tpl"));
        tpl.batch_execute("CREATE TABLE items(id int); INSERT INTO items VALUES (1), (2);")
            .unwrap();
    }
    let mut o = opts(&server.url("app"));
    o.template = Some("tpl".into());
    let mut dbs = WorkerDatabases::connect(&o, 4, "t").unwrap();
    let took = dbs.create().unwrap();
    eprintln!("created 4 databases from a template in {took:?}");
    for k in 0..4 {
        let (_, url) = dbs.worker_env(Some(k));
        let n: i64 = client(&url)
            .query_one("SELECT count(*) FROM items", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 2);
    }
    drop(dbs);
    assert!(exists(&mut admin, "tpl"));
    assert!(!exists(&mut admin, "app_gw0"));
}

#[test]
fn missing_template_is_reported_by_connect() {
    let server = pg_server();
    let mut o = opts(&server.url("app"));
    o.template = Some("nope".into());
    let e = WorkerDatabases::connect(&o, 2, "r").unwrap_err();
    assert!(
        matches!(&e, DbError::MissingTemplate { template } if template == "nope"),
        "{e}"
    );
    assert_good_message(&e, &[]);
}

#[test]
fn busy_template_is_reported() {
    let server = pg_server();
    pg_admin(&server)
        .batch_execute("CREATE DATABASE tpl")
        .unwrap();
    let _holder = client(&server.url("tpl"));
    let mut o = opts(&server.url("app"));
    o.template = Some("tpl".into());
    let mut dbs = WorkerDatabases::connect(&o, 2, "r").unwrap();
    let e = dbs.create().unwrap_err();
    assert!(
        matches!(&e, DbError::TemplateBusy { template, sessions } if template == "tpl" && *sessions >= 1),
        "{e}"
    );
    assert!(e.to_string().contains("other session"), "{e}");
    assert_good_message(&e, &[]);
}

/// A `--db-setup` command that appends a line to `count` each time it
/// runs, then creates table `t` with psql.
fn counting_setup(count: &Path, env_name: &str) -> String {
    format!(
        r#"echo run >> '{}' && psql -X -q -v ON_ERROR_STOP=1 "${env_name}" -c 'create table t(x int)'"#,
        count.display()
    )
}

/// What each cached-template test starts from: a server, a connection to
/// it, and options for base `app` with a [`counting_setup`] counting in
/// `count`, keyed by the (empty) directory `scratch`.
struct CacheCase {
    admin: Client,
    count: std::path::PathBuf,
    opts: DbOptions,
    /// Held for its lifetime.
    _scratch: tempfile::TempDir,
    server: EphemeralServer,
}

fn cache_case() -> CacheCase {
    let server = pg_server();
    let scratch = tempfile::tempdir().unwrap();
    let count = scratch.path().join("count");
    let mut opts = opts(&server.url("app"));
    opts.setup = Some(counting_setup(&count, "DATABASE_URL"));
    opts.migrations = vec![scratch.path().join("migrations")];
    std::fs::create_dir(&opts.migrations[0]).unwrap();
    CacheCase {
        admin: pg_admin(&server),
        count,
        opts,
        _scratch: scratch,
        server,
    }
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count).map_or(0, |t| t.lines().count())
}

/// The cached templates of base `app` on the server.
fn templates(admin: &mut Client) -> Vec<String> {
    admin
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'app\\_xdist\\_tpl\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn setup_command_runs_once_into_a_template_every_database_copies() {
    let mut case = cache_case();
    let (admin, count, o) = (&mut case.admin, &case.count, &mut case.opts);
    o.env_name = "MY_DB_URL".into();
    o.setup = Some(counting_setup(count, "MY_DB_URL"));
    let mut dbs = WorkerDatabases::connect(o, 3, "s").unwrap();
    dbs.create().unwrap();
    assert_eq!(runs(count), 1, "the setup ran once for three databases");
    for k in 0..3 {
        let (var, url) = dbs.worker_env(Some(k));
        assert_eq!(var, "MY_DB_URL");
        assert!(table_exists(&url, "t"), "gw{k}");
    }
    let key = template::key(o.setup.as_deref().unwrap(), &o.migrations).unwrap();
    let name = template_db_name("app", &key[..16]);
    assert_eq!(templates(admin), [name.as_str()]);
    assert_eq!(
        comment(admin, &name),
        Some(Some(format!(
            "created by cargo-xdist for \"app\" template {key}"
        )))
    );
    assert_eq!(
        comment(admin, "app_gw0"),
        Some(Some(format!(
            "created by cargo-xdist for \"app\" run s from {name}"
        )))
    );
    drop(dbs);
    // The workers' databases go, the template stays for the next run.
    assert!(!exists(admin, "app_gw0"));
    assert_eq!(templates(admin), [name.as_str()]);
}

#[test]
fn the_template_is_reused_until_its_key_changes_or_a_rebuild_is_asked_for() {
    let mut case = cache_case();
    let (server, admin) = (&case.server, &mut case.admin);
    let (count, o) = (&case.count, &mut case.opts);
    let migrations = o.migrations[0].clone();
    std::fs::write(migrations.join("001.sql"), "create table t (x int);").unwrap();
    let create = |o: &DbOptions, run: &str| {
        let mut dbs = WorkerDatabases::connect(o, 2, run).unwrap();
        dbs.create().unwrap();
        assert!(table_exists(&dbs.worker_env(Some(1)).1, "t"), "{run}");
    };
    create(o, "first");
    create(o, "second");
    assert_eq!(runs(count), 1, "unchanged: no setup");
    let first = templates(admin);
    assert_eq!(first.len(), 1);

    // A migration changed: built anew, the superseded one dropped.
    std::fs::write(migrations.join("002.sql"), "alter table t add y int;").unwrap();
    create(o, "third");
    assert_eq!(runs(count), 2);
    let second = templates(admin);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);

    // Asked to: built again under the same name.
    o.rebuild = true;
    create(o, "fourth");
    assert_eq!(runs(count), 3);
    assert_eq!(templates(admin), second);

    // One a killed run left half built (still marked as building, its
    // lock gone with its connection) is built again, not copied.
    o.rebuild = false;
    let name = &second[0];
    let key = template::key(o.setup.as_deref().unwrap(), &o.migrations).unwrap();
    sql(
        admin,
        &[format!(
            "COMMENT ON DATABASE {name} IS 'created by cargo-xdist for \"app\" template {key} (building)'"
        )
        .as_str()],
    );
    create(o, "fifth");
    assert_eq!(runs(count), 4);
    assert_eq!(
        comment(admin, name),
        Some(Some(format!(
            "created by cargo-xdist for \"app\" template {key}"
        )))
    );

    // db clean drops it, and leaves the base database alone.
    admin.batch_execute("CREATE DATABASE app").unwrap();
    let dropped = clean(&opts(&server.url("app"))).unwrap();
    assert_eq!(dropped, second);
    assert!(templates(admin).is_empty());
    assert!(exists(admin, "app"));
}

/// Sessions on the server, other than `admin`'s, that asked for an
/// advisory lock, were refused, and hold none: runs waiting for another
/// run's template.
fn refused_a_lock(admin: &mut Client) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a \
             WHERE a.pid <> pg_backend_pid() AND a.state = 'idle' \
             AND a.query LIKE '%pg_try_advisory_lock(%' \
             AND NOT EXISTS (SELECT 1 FROM pg_locks l \
                             WHERE l.pid = a.pid AND l.locktype = 'advisory')",
            &[],
        )
        .unwrap()
        .get(0)
}

/// Whether a session holds the advisory lock of template `name`.
fn template_locked(admin: &mut Client, name: &str) -> bool {
    let (class, key) = template::lock_keys(name);
    admin
        .query_one(
            "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = $1::int4::oid AND objid = $2::int4::oid AND objsubid = 2",
            &[&class, &key],
        )
        .unwrap()
        .get(0)
}

#[test]
fn two_runs_starting_at_once_build_one_template_between_them() {
    let mut case = cache_case();
    let admin = &mut case.admin;
    let (count, o) = (&case.count, &mut case.opts);
    // The setup says it has started, then holds until the test lets it go:
    // the test sees one run build the template while the other waits for
    // it (at most five minutes, should the test die).
    let hold = tempfile::tempdir().unwrap();
    let release = Release(hold.path().to_path_buf());
    let building = hold.path().join("building");
    o.setup = Some(format!(
        "touch '{}' && i=0 && while [ ! -e '{}' ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done && {}",
        building.display(),
        release.go().display(),
        o.setup.take().unwrap()
    ));
    let key = template::key(o.setup.as_deref().unwrap(), &o.migrations).unwrap();
    let name = template_db_name("app", &key[..16]);
    let o: &DbOptions = o;
    let barrier = std::sync::Barrier::new(2);
    // Both runs' databases are kept until both are done.
    let both = std::thread::scope(|s| {
        let runs = ["a", "b"].map(|run| {
            let (o, barrier) = (o, &barrier);
            s.spawn(move || {
                let mut dbs = WorkerDatabases::connect(o, 2, run).unwrap();
                barrier.wait();
                dbs.create().unwrap_or_else(|e| panic!("run {run}: {e}"));
                dbs
            })
        });
        // The runs overlap: one builds the template (its setup has begun
        // and holds, the template's lock is held) while the other has
        // asked for that lock and been refused.
        let overlapped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let limit = Duration::from_secs(60);
            wait_for_within("a run to start the setup", limit, || {
                building.exists().then_some(())
            });
            assert!(
                template_locked(admin, &name),
                "the template's lock is not held while its setup runs"
            );
            wait_for_within("the other run to wait for the template", limit, || {
                (refused_a_lock(admin) > 0).then_some(())
            });
        }));
        // Let the setup go on whatever happened, so that both runs end.
        release.now();
        let runs = runs.map(|run| run.join());
        if let Err(panic) = overlapped {
            std::panic::resume_unwind(panic);
        }
        runs.map(|run| run.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    assert_eq!(runs(count), 1, "the setup ran once for both runs");
    assert_eq!(templates(admin), [name.as_str()]);
    // On one base, each run has worker databases of its own.
    let mut names = Vec::new();
    for dbs in &both {
        for k in 0..2 {
            let url = dbs.worker_env(Some(k)).1;
            assert!(table_exists(&url, "t"), "{}", PgUrl::parse(&url).unwrap());
            names.push(PgUrl::parse(&url).unwrap().database().to_string());
        }
    }
    names.sort();
    assert_eq!(names, ["app_gw0", "app_gw1", "app_r2_gw0", "app_r2_gw1"]);
    drop(both);
    for name in names {
        assert!(!exists(admin, &name), "{name} left behind");
    }
}

/// The worker database of worker `k` of `dbs`.
fn worker_db(dbs: &WorkerDatabases, k: usize) -> String {
    let url = dbs.worker_env(Some(k)).1;
    PgUrl::parse(&url).unwrap().database().to_string()
}

#[test]
fn runs_at_once_on_one_base_get_name_sets_of_their_own_and_clean_spares_held_ones() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    let mut o = opts(&server.url("app"));
    o.keep = true;
    o.connections_per_worker = 1;
    let mut a = WorkerDatabases::connect(&o, 2, "a").unwrap();
    a.create().unwrap();
    assert_eq!(a.names_notice(), None);
    assert_eq!(
        (worker_db(&a, 0), worker_db(&a, 1)),
        ("app_gw0".into(), "app_gw1".into())
    );
    // Connected, before creating anything: the names are taken already.
    let mut b = WorkerDatabases::connect(&o, 2, "b").unwrap();
    assert_eq!(
        b.names_notice(),
        Some(
            "another cargo xdist run uses the worker databases app_gw0..; this run uses app_r2_gw0.. instead"
        )
    );
    b.create().unwrap();
    assert_eq!(worker_db(&b, 1), "app_r2_gw1");
    let a_marker = comment(&mut admin, "app_gw0");
    assert_eq!(
        a_marker,
        Some(Some("created by cargo-xdist for \"app\" run a".into()))
    );

    // Databases of held sets are no leftovers: clean leaves them alone.
    assert_eq!(clean(&o).unwrap(), Vec::<String>::new());
    assert!(exists(&mut admin, "app_gw0") && exists(&mut admin, "app_r2_gw0"));
    // Once a run is over (its databases kept), they are.
    drop(a);
    assert_eq!(clean(&o).unwrap(), ["app_gw0", "app_gw1"]);
    assert!(exists(&mut admin, "app_r2_gw0"));

    // The first set is free again; a third run waits for no one.
    let c = WorkerDatabases::connect(&o, 1, "c").unwrap();
    assert_eq!(
        (c.names_notice(), worker_db(&c, 0)),
        (None, "app_gw0".into())
    );
    // Up to 16 sets at once; the 17th run stops with one line.
    let more: Vec<WorkerDatabases> = (3..=16)
        .map(|_| WorkerDatabases::connect(&o, 1, "more").unwrap())
        .collect();
    assert_eq!(worker_db(&more[13], 0), "app_r16_gw0");
    assert!(
        (more[13].names_notice().unwrap())
            .starts_with("15 other cargo xdist runs use the worker databases app_gw0..; "),
        "{:?}",
        more[13].names_notice()
    );
    let e = WorkerDatabases::connect(&o, 1, "late").unwrap_err();
    assert!(matches!(e, DbError::NamesBusy { .. }), "{e}");
    assert_good_message(&e, &[&password(&server)]);
    assert!(
        e.to_string().starts_with("all 16 sets of worker database names of \"app\" (app_gw0.. to app_r16_gw0..) are in use by other cargo xdist runs on PostgreSQL at "),
        "{e}"
    );
    drop((b, c, more));
    assert_eq!(clean(&o).unwrap(), ["app_r2_gw0", "app_r2_gw1"]);
}

#[test]
fn the_budget_refuses_too_many_workers_and_lowers_auto() {
    let server = pg_server_with(&[("max_connections", "20")]);
    // 20 - 3 reserved for superusers - 1 in use (the run's own, which it
    // keeps to hold its names' lock) = 16 free.
    let mut o = opts(&server.url("postgres"));
    let e = WorkerDatabases::connect(&o, 2, "r").unwrap_err();
    assert!(
        matches!(
            &e,
            DbError::OverBudget {
                needed: 20,
                free: 16,
                ..
            }
        ),
        "{e}"
    );
    assert_good_message(&e, &[&password(&server)]);
    let text = e.to_string();
    assert!(
        text.contains("(max_connections 20 - 3 reserved - 1 in use)"),
        "{text}"
    );
    for fix in [
        "-n 1",
        "--db-connections-per-worker 8",
        "max_connections",
        "--db-allow-overcommit",
    ] {
        assert!(text.contains(fix), "{fix} missing: {text}");
    }
    // Connections in use count; what fits runs.
    let holders: Vec<Client> = (0..4).map(|_| pg_admin(&server)).collect();
    o.connections_per_worker = 7;
    let e = WorkerDatabases::connect(&o, 2, "r").unwrap_err();
    assert!(matches!(&e, DbError::OverBudget { free: 12, .. }), "{e}");
    o.connections_per_worker = 6;
    let dbs = WorkerDatabases::connect(&o, 2, "r").unwrap();
    assert_eq!((dbs.workers(), dbs.notice()), (2, None));
    drop(holders);
    // So does anything with overcommit.
    o.connections_per_worker = 10;
    o.allow_overcommit = true;
    let dbs = WorkerDatabases::connect(&o, 5, "r").unwrap();
    assert_eq!((dbs.workers(), dbs.notice()), (5, None));
    // -n auto: as many as fit, said in one line.
    o.allow_overcommit = false;
    o.fit_workers = true;
    let dbs = WorkerDatabases::connect(&o, 5, "r").unwrap();
    assert_eq!(dbs.workers(), 1);
    let notice = dbs.notice().unwrap();
    assert!(
        notice.starts_with("-n auto lowered from 5 to 1 workers: "),
        "{notice}"
    );
    assert!(!notice.contains('\n'));
}

#[test]
fn failing_setup_reports_its_redacted_output() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    admin
        .batch_execute("CREATE ROLE bob LOGIN CREATEDB PASSWORD 'p:a/s@s'")
        .unwrap();
    let url = format!(
        "postgres://bob:p%3Aa%2Fs%40s@{}/app?sslmode=disable",
        server.url_host()
    );
    let mut o = opts(&url);
    o.setup = Some(
        r#"echo "connecting to $DATABASE_URL"; echo "password p:a/s@s" >&2; echo "no such table" >&2; exit 3"#
            .into(),
    );
    let mut dbs = WorkerDatabases::connect(&o, 2, "s").unwrap();
    let (_, worker_url) = dbs.worker_env(Some(1));
    assert_eq!(
        worker_url,
        format!(
            "postgres://bob:p%3Aa%2Fs%40s@{}/app_gw1?sslmode=disable",
            server.url_host()
        )
    );
    let debug = format!("{dbs:?} {o:?}");
    assert!(
        !debug.contains("p:a/s@s") && !debug.contains("p%3Aa"),
        "{debug}"
    );
    let mut secrets = dbs.secrets();
    secrets.sort();
    assert_eq!(
        secrets,
        vec!["p%3Aa%2Fs%40s".to_string(), "p:a/s@s".to_string()]
    );
    let e = dbs.create().unwrap_err();
    assert!(matches!(&e, DbError::SetupFailed { .. }), "{e}");
    let text = e.to_string();
    let key = template::key(o.setup.as_deref().unwrap(), &[]).unwrap();
    let name = template_db_name("app", &key[..16]);
    assert!(
        text.contains(&format!("the template database {name}")),
        "{text}"
    );
    assert!(text.contains("exit code 3"), "{text}");
    // The last three lines of its output, in order, redacted.
    assert!(
        text.contains(&format!(
            ": connecting to postgres://bob:****@{}/{name}?sslmode=disable | password **** | no such table; ",
            server.url_host()
        )),
        "{text}"
    );
    assert_good_message(&e, &["p:a/s@s", "p%3Aa%2Fs%40s"]);
    // No half-built template and no worker database is left.
    assert!(!exists(&mut admin, &name));
    drop(dbs);
    assert!(!exists(&mut admin, "app_gw0"));
    assert!(!exists(&mut admin, "app_gw1"));
    assert!(templates(&mut admin).is_empty());

    // With --db-template, the setup runs per database, as it always did.
    admin
        .batch_execute("CREATE DATABASE tpl OWNER bob")
        .unwrap();
    o.template = Some("tpl".into());
    let mut dbs = WorkerDatabases::connect(&o, 2, "s").unwrap();
    let e = dbs.create().unwrap_err().to_string();
    assert!(e.contains("--db-setup failed for worker gw"), "{e}");
    drop(dbs);
    assert!(!exists(&mut admin, "app_gw0") && !exists(&mut admin, "app_gw1"));
}

#[test]
fn keep_reuses_databases_and_skips_setup_then_clean_drops_them() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    admin.batch_execute("CREATE DATABASE app").unwrap();
    let mut o = opts(&server.url("app"));
    o.keep = true;
    // Fails if run twice on the same database.
    o.setup =
        Some(r#"psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'create table t(x int)'"#.into());
    {
        let mut dbs = WorkerDatabases::connect(&o, 2, "first").unwrap();
        dbs.create().unwrap();
        client(&dbs.worker_env(Some(0)).1)
            .batch_execute("INSERT INTO t VALUES (42)")
            .unwrap();
    }
    assert!(exists(&mut admin, "app_gw0") && exists(&mut admin, "app_gw1"));
    {
        let mut dbs = WorkerDatabases::connect(&o, 3, "second").unwrap();
        dbs.create().unwrap();
        let n: i64 = client(&dbs.worker_env(Some(0)).1)
            .query_one("SELECT count(*) FROM t WHERE x = 42", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "gw0 was not reused");
        assert!(
            table_exists(&dbs.worker_env(Some(2)).1, "t"),
            "new gw2 not set up"
        );
    }
    // Unmarked or differently named databases are not cleaned.
    sql(
        &mut admin,
        &[
            "CREATE DATABASE app_gw9",
            "CREATE DATABASE other_gw0",
            "COMMENT ON DATABASE other_gw0 IS 'created by cargo-xdist run x'",
            "CREATE DATABASE app_gwx",
            "COMMENT ON DATABASE app_gwx IS 'created by cargo-xdist run x'",
            // Named like ours, but an earlier version's marker names no
            // base, and this one names another.
            "CREATE DATABASE app_gw5",
            "COMMENT ON DATABASE app_gw5 IS 'created by cargo-xdist run x'",
            "CREATE DATABASE app_gw6",
            "COMMENT ON DATABASE app_gw6 IS 'created by cargo-xdist for \"ap\" run x'",
        ],
    );
    // A session on a leftover does not stop `clean`.
    let _session = client(&server.url("app_gw1"));
    let dropped = clean(&opts(&server.url("app"))).unwrap();
    let key = template::key(o.setup.as_deref().unwrap(), &[]).unwrap();
    let template = template_db_name("app", &key[..16]);
    assert_eq!(dropped, vec!["app_gw0", "app_gw1", "app_gw2", &template]);
    for name in [
        "app",
        "app_gw9",
        "other_gw0",
        "app_gwx",
        "app_gw5",
        "app_gw6",
    ] {
        assert!(exists(&mut admin, name), "{name}");
    }
    assert!(clean(&opts(&server.url("app"))).unwrap().is_empty());
}

#[test]
fn wrong_password_missing_password_and_right_password() {
    let server = pg_server();
    pg_admin(&server)
        .batch_execute("CREATE ROLE carol LOGIN CREATEDB PASSWORD 'r:i/g@ht'")
        .unwrap();
    let host = server.url_host();
    let target = format!("{}/.s.PGSQL.5432", server.socket_dir().display());

    let url = format!("postgres://carol:wr%40ng@{host}/app");
    let e = WorkerDatabases::connect(&opts(&url), 2, "r").unwrap_err();
    assert!(
        matches!(&e, DbError::AuthFailed { user, .. } if user == "carol"),
        "{e}"
    );
    assert!(e.to_string().contains(&target), "{e}");
    assert_good_message(&e, &["wr@ng", "wr%40ng"]);

    let url = format!("postgres://carol@{host}/app");
    let e = WorkerDatabases::connect(&opts(&url), 2, "r").unwrap_err();
    assert!(matches!(&e, DbError::AuthFailed { .. }), "{e}");
    assert!(e.to_string().contains("none was given"), "{e}");
    assert_good_message(&e, &[]);

    // The right password, percent-encoded, works end to end.
    let url = format!("postgres://carol:r%3Ai%2Fg%40ht@{host}/app");
    let mut o = opts(&url);
    o.setup =
        Some(r#"psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'create table t(x int)'"#.into());
    let mut dbs = WorkerDatabases::connect(&o, 2, "r").unwrap();
    dbs.create().unwrap();
    let (_, worker) = dbs.worker_env(Some(1));
    assert_eq!(
        worker,
        format!("postgres://carol:r%3Ai%2Fg%40ht@{host}/app_gw1")
    );
    assert!(table_exists(&worker, "t"));
}

#[test]
fn missing_role_is_reported() {
    let server = pg_server();
    with_trust_auth(&server);
    let url = format!("postgres://ghost@{}/app", server.url_host());
    let e = WorkerDatabases::connect(&opts(&url), 2, "r").unwrap_err();
    assert!(
        matches!(&e, DbError::RoleMissing { role, .. } if role == "ghost"),
        "{e}"
    );
    assert_good_message(&e, &[]);
}

#[test]
fn role_without_createdb_is_reported_but_serial_mode_works() {
    let server = pg_server();
    sql(
        &mut pg_admin(&server),
        &[
            "CREATE ROLE dave LOGIN PASSWORD 'd4ve'",
            "CREATE DATABASE app OWNER dave",
        ],
    );
    let url = format!("postgres://dave:d4ve@{}/app", server.url_host());
    let e = WorkerDatabases::connect(&opts(&url), 2, "r").unwrap_err();
    assert!(
        matches!(&e, DbError::NoCreateDb { role } if role == "dave"),
        "{e}"
    );
    assert!(e.to_string().contains("CREATEDB"), "{e}");
    assert_good_message(&e, &[]);

    // Not allowed into `postgres`: falls back to `template1`.
    sql(
        &mut pg_admin(&server),
        &["REVOKE CONNECT ON DATABASE postgres FROM PUBLIC"],
    );
    assert_eq!(clean(&opts(&url)).unwrap(), Vec::<String>::new());
    let mut dbs = WorkerDatabases::connect(&opts(&url), 0, "r").unwrap();
    dbs.create().unwrap();
    assert_eq!(dbs.worker_env(None), ("DATABASE_URL".to_string(), url));
}

#[test]
fn unreachable_port_names_host_and_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://u:hunter2@127.0.0.1:{port}/app");
    let e = WorkerDatabases::connect(&opts(&url), 2, "r").unwrap_err();
    assert!(matches!(&e, DbError::Unreachable { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert_good_message(&e, &["hunter2"]);

    let e = WorkerDatabases::connect(&opts("postgres://u@/app?host=/nonexistent/dir"), 2, "r")
        .unwrap_err();
    assert!(matches!(&e, DbError::Unreachable { .. }), "{e}");
    assert!(
        e.to_string().contains("/nonexistent/dir/.s.PGSQL.5432"),
        "{e}"
    );
}

#[test]
fn unix_socket_url_works() {
    let server = pg_server();
    let socket_dir = server.socket_dir();
    let password = password(&server);
    let url = format!(
        "postgres://postgres:{password}@/app?host={}&port={}",
        socket_dir.display(),
        server.port()
    );
    let mut dbs = WorkerDatabases::connect(&opts(&url), 2, "u").unwrap();
    dbs.create().unwrap();
    let (_, worker) = dbs.worker_env(Some(1));
    assert_same_url(
        &worker,
        &format!(
            "postgres://postgres:{password}@/app_gw1?host={}&port={}",
            socket_dir.display(),
            server.port()
        ),
    );
    assert!(exists(&mut pg_admin(&server), "app_gw1"));
}

#[test]
fn odd_and_long_names_are_quoted_and_shortened() {
    let server = pg_server();
    let mut admin = pg_admin(&server);
    // A quote and a space in the base name, a quote in the run id.
    let mut dbs =
        WorkerDatabases::connect(&opts(&server.url("we\"ird name")), 2, "it's\\1").unwrap();
    dbs.create().unwrap();
    assert_eq!(
        comment(&mut admin, "we\"ird name_gw1"),
        Some(Some(
            "created by cargo-xdist for \"we\"\"ird name\" run it's\\1".into()
        ))
    );
    drop(dbs);
    assert!(!exists(&mut admin, "we\"ird name_gw1"));

    let base = "l".repeat(63);
    let mut dbs = WorkerDatabases::connect(&opts(&server.url(&base)), 4, "long").unwrap();
    dbs.create().unwrap();
    let names: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lll%' ORDER BY datname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for k in 0..4 {
        let (_, url) = dbs.worker_env(Some(k));
        let current: String = client(&url)
            .query_one("SELECT current_database()", &[])
            .unwrap()
            .get(0);
        assert!(
            current.len() <= 63 && current.ends_with(&format!("_gw{k}")),
            "{current}"
        );
    }
    drop(dbs);
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'lll%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn ephemeral_option_runs_its_own_server() {
    let mut o = opts("postgres://someone:secret@nowhere.invalid/myapp?sslmode=require");
    o.ephemeral = true;
    o.setup =
        Some(r#"psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'create table t(x int)'"#.into());
    let mut dbs = WorkerDatabases::connect(&o, 2, "e").unwrap();
    dbs.create().unwrap();
    let (_, url) = dbs.worker_env(Some(1));
    // Over the server's private socket, with its own password.
    let parsed = PgUrl::parse(&url).unwrap();
    let socket_dir = parsed.endpoints()[0].host.clone();
    assert!(parsed.endpoints()[0].is_socket(), "{parsed}");
    assert_eq!(parsed.user(), Some("postgres"), "{parsed}");
    assert_eq!(parsed.database(), "myapp_gw1");
    let password = parsed.password().expect("a password").to_string();
    assert!(
        password.len() == 32 && password.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a 128-bit hex password"
    );
    assert_eq!(mode_and_owner(Path::new(&socket_dir)).0, 0o700);
    assert!(
        dbs.secrets().contains(&password),
        "the password is not redacted"
    );
    assert!(
        !format!("{dbs:?}").contains(&password),
        "Debug shows the password"
    );
    assert!(table_exists(&url, "t"));
    dbs.cleanup().unwrap();
    assert!(Client::connect(&url, NoTls).is_err(), "server still up");
    assert!(!Path::new(&socket_dir).exists(), "{socket_dir} left behind");

    // Serial mode: the base database is created (and set up) on it.
    o.url = None;
    let mut dbs = WorkerDatabases::connect(&o, 0, "e").unwrap();
    dbs.create().unwrap();
    let (_, url) = dbs.worker_env(None);
    assert_eq!(PgUrl::parse(&url).unwrap().database(), "xdist_test");
    assert!(table_exists(&url, "t"));
    let second_password = PgUrl::parse(&url).unwrap().password().unwrap().to_string();
    assert_ne!(
        second_password, password,
        "every server gets its own password"
    );
    drop(dbs);
    assert!(Client::connect(&url, NoTls).is_err(), "server still up");
    assert!(clean(&o).unwrap().is_empty());
}

/// Wait until the watchdog has stopped postmaster `pid` and removed `dir`;
/// past a generous bound, kill and remove them ourselves, then fail.
fn assert_watchdog_cleans_up(pid: i32, dir: &Path, what: &str) {
    let cleaned = poll(POLL, Duration::from_secs(30), || {
        (process_gone(pid) && !dir.exists()).then_some(())
    });
    if cleaned.is_none() {
        // SIGQUIT: an immediate shutdown that still removes the
        // server's shared memory; SIGKILL if that does not do.
        if let Some(id) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(id, rustix::process::Signal::QUIT);
            poll(POLL, Duration::from_secs(10), || {
                process_gone(pid).then_some(())
            });
            let _ = rustix::process::kill_process(id, rustix::process::Signal::KILL);
        }
        let _ = std::fs::remove_dir_all(dir);
        panic!(
            "{what}: the watchdog left postmaster {pid} or {} behind (removed now)",
            dir.display()
        );
    }
}

/// In a child process started as this very test with `var` set: start a
/// server, print its postmaster's pid and directory, then die without
/// destructors (`exit`) or wait to be killed (`wait`).
fn watchdog_child(var: &str, then: &str) {
    if std::env::var(var).as_deref() != Ok(then) {
        return;
    }
    let server = pg_server();
    println!(
        "PID={} DIR={}",
        server.postmaster_pid().unwrap(),
        server.socket_dir().display()
    );
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    if then == "wait" {
        // Killed long before this; bounded should the parent die.
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
    std::process::exit(0);
}

/// Read the child's `PID=... DIR=...` line.
fn pid_and_dir(stdout: &str, stderr: &str) -> (i32, std::path::PathBuf) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("PID="))
        .unwrap_or_else(|| panic!("child printed no PID: {stdout} {stderr}"));
    let (pid, dir) = line["PID=".len()..].split_once(" DIR=").unwrap();
    (pid.parse().unwrap(), dir.into())
}

#[test]
fn watchdog_stops_the_server_when_the_process_dies() {
    const VAR: &str = "DBDEV_WATCHDOG_CHILD";
    watchdog_child(VAR, "exit");
    let me = std::env::current_exe().unwrap();
    let out = std::process::Command::new(me)
        .args([
            "--exact",
            "watchdog_stops_the_server_when_the_process_dies",
            "--nocapture",
        ])
        .env(VAR, "exit")
        .output()
        .unwrap();
    let (pid, dir) = pid_and_dir(
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
    );
    assert_watchdog_cleans_up(pid, &dir, "after exit");
}

#[test]
fn watchdog_survives_the_terminals_ctrl_c_and_hangup_and_cleans_up() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    const VAR: &str = "DBDEV_WATCHDOG_CHILD";
    watchdog_child(VAR, "wait");
    let me = std::env::current_exe().unwrap();
    // The child stands for cargo-xdist run from a terminal: the leader of
    // the terminal's foreground process group.
    let mut child = std::process::Command::new(me)
        .args([
            "--exact",
            "watchdog_survives_the_terminals_ctrl_c_and_hangup_and_cleans_up",
            "--nocapture",
        ])
        .env(VAR, "wait")
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    while !stdout.contains("PID=") {
        if reader.read_line(&mut stdout).unwrap() == 0 {
            break;
        }
    }
    let group = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let parsed = std::panic::catch_unwind(|| pid_and_dir(&stdout, ""));
    // What the terminal sends the foreground group on Ctrl-C, then on
    // hangup. (Only the child's group: it and whatever stayed in it.)
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::INT);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::HUP);
    let status = child.wait().unwrap();
    let (pid, dir) = parsed.unwrap_or_else(|p| std::panic::resume_unwind(p));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGINT),
        "the child was not ended by Ctrl-C's SIGINT"
    );
    assert_watchdog_cleans_up(pid, &dir, "after SIGINT and SIGHUP to the foreground group");
}
