//! Signals during a run, sent to the real binary while a test of
//! `fixtures/faults` (`stall.rs`) stalls with a child that only SIGKILL
//! ends: a Ctrl-C, two quick Ctrl-Cs, SIGTERM and SIGHUP each leave no test
//! process, no worker database, no ephemeral server (nor its data
//! directory) and no scratch directory behind, with a PostgreSQL server the
//! test starts itself (as tests/db.rs does) and with `--ephemeral-postgres`.
//! Ctrl-Z then `fg` does not time a test out; Ctrl-C stops a listing that
//! hangs.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cargo_xdist::db::ephemeral::EphemeralServer;
use cargo_xdist::db::url::PgUrl;
use common::*;
use postgres::{Client, NoTls};
use rustix::process::{Pid, Signal};

/// The databases of `server` named like worker databases of `base`.
fn worker_databases(server: &EphemeralServer, base: &str) -> Vec<String> {
    pg_admin(server)
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
            &[&format!("{base}_gw")],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The state letter of process `pid` (`R`, `S`, `T` stopped, `Z`...), or
/// `None` once it is gone.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

fn send(pid: u32, signal: Signal) {
    // Only the cargo-xdist process this test started, by its pid.
    let pid = Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::kill_process(pid, signal).expect("kill");
}

/// Once `sl_stalls` runs and has started its stubborn child: the run id.
fn wait_until_stalled(live: &Live) -> String {
    let run_id = wait_for("sl_stalls to start", || {
        let records = read_records(live.record_dir).ok()?;
        records
            .iter()
            .find(|r| r.name == "sl_stalls")
            .map(|r| r.run_id.clone())
    });
    let needle = format!("XDIST_TESTRUNUID={run_id}");
    wait_for("the stalled test's child", || {
        processes_with_env(&needle)
            .iter()
            .any(|(_, cmdline)| cmdline == "sleep 600")
            .then_some(())
    });
    run_id
}

/// Processes whose command line mentions `path` (the ephemeral server's
/// postmaster, pg_ctl, its watchdog).
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

enum Db<'a> {
    /// A server the test started, and the base database's name.
    Server(&'a EphemeralServer, &'a str),
    Ephemeral,
}

/// Run the stalling test on two workers with a database, send `signals`
/// once it stalls, and check that the run exits `code` leaving nothing.
fn interrupt(db: Db, signals: &[Signal], code: i32) {
    let tmp = tempfile::Builder::new()
        .prefix("xdist-signals-tmp-")
        .tempdir()
        .unwrap();
    let mut args = vec!["--test", "stall", "-n", "2", "--no-progress"];
    if let Db::Ephemeral = db {
        args.push("--ephemeral-postgres");
    }
    let mut xdist = xdist_fixture("faults", &args)
        .env("XDIST_FIXTURE_STALL", "600")
        // Every scratch directory of the run goes here.
        .env("TMPDIR", &tmp.path().to_string_lossy());
    if let Db::Server(server, base) = db {
        xdist = xdist.env("DATABASE_URL", &server.url(base));
    }
    let mut run_id = String::new();
    let run = xdist.run_with(|live| {
        run_id = wait_until_stalled(live);
        for &signal in signals {
            send(live.pid, signal);
        }
    });
    run.assert_code(code);
    run.assert_no_panic();
    assert!(
        run.stdout.contains("interrupted: 1 test not run"),
        "{}",
        run.ctx()
    );
    run.assert_summary(0, 0, 0);
    assert_no_leftover_processes(&run, &run_id);
    let scratch: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        scratch.is_empty(),
        "left in TMPDIR: {scratch:?}{}",
        run.ctx()
    );
    let records = run.records();
    match db {
        Db::Server(server, base) => {
            let left = worker_databases(server, base);
            assert!(
                left.is_empty(),
                "worker databases left: {left:?}{}",
                run.ctx()
            );
            assert!(
                Client::connect(&server.url(base), NoTls).is_ok(),
                "the base database is gone{}",
                run.ctx()
            );
        }
        Db::Ephemeral => {
            let url = &records[0].database_url;
            let parsed = PgUrl::parse(url).expect("the ephemeral server's URL");
            let dir = PathBuf::from(&parsed.endpoints()[0].host);
            assert!(
                dir.starts_with("/") && !dir.exists(),
                "the ephemeral server's directory {} is left{}",
                dir.display(),
                run.ctx()
            );
            let procs = processes_mentioning(&dir);
            assert!(
                procs.is_empty(),
                "processes of the ephemeral server are left: {procs:?}{}",
                run.ctx()
            );
            assert!(
                Client::connect(url, NoTls).is_err(),
                "the ephemeral server still answers{}",
                run.ctx()
            );
        }
    }
}

fn interrupt_both_ways(base: &str, signals: &[Signal], code: i32) {
    let server = pg_server();
    pg_admin(&server)
        .batch_execute(&format!("CREATE DATABASE {base}"))
        .unwrap();
    interrupt(Db::Server(&server, base), signals, code);
    interrupt(Db::Ephemeral, signals, code);
}

#[test]
fn one_ctrl_c_during_a_database_run_leaves_nothing_behind() {
    interrupt_both_ways("sig_int", &[Signal::INT], 130);
}

/// The second signal skips the grace, not the cleanup.
#[test]
fn two_quick_ctrl_cs_still_kill_everything_and_drop_the_databases() {
    interrupt_both_ways("sig_int_int", &[Signal::INT, Signal::INT], 130);
}

#[test]
fn sigterm_during_a_database_run_leaves_nothing_behind() {
    interrupt_both_ways("sig_term", &[Signal::TERM], 130);
}

/// A closed terminal or a dropped SSH session: exit 129.
#[test]
fn sighup_during_a_database_run_leaves_nothing_behind() {
    interrupt_both_ways("sig_hup", &[Signal::HUP], 129);
}

/// Ctrl-Z stops cargo-xdist and the test's whole process group; while they
/// are stopped, `--timeout` does not run, so after `fg` the test passes
/// although it was stopped for longer than the timeout.
#[test]
fn ctrl_z_then_fg_does_not_time_a_test_out() {
    const TIMEOUT: &str = "10s";
    const STOPPED: Duration = Duration::from_secs(12);
    let mut run_id = String::new();
    let run = xdist_fixture(
        "faults",
        &[
            "--test",
            "stall",
            "-n",
            "1",
            "--no-progress",
            "--timeout",
            TIMEOUT,
        ],
    )
    .env("XDIST_FIXTURE_STALL", "1")
    .run_with(|live| {
        run_id = wait_until_stalled(live);
        let needle = format!("XDIST_TESTRUNUID={run_id}");
        let all_stopped = || {
            let test = processes_with_env(&needle);
            let states: Vec<Option<char>> = std::iter::once(live.pid as i32)
                .chain(test.iter().map(|(pid, _)| *pid))
                .map(state)
                .collect();
            (test.len() >= 2 && states.iter().all(|s| *s == Some('T'))).then_some(states)
        };
        send(live.pid, Signal::TSTP);
        wait_for("cargo-xdist and the test's processes to stop", all_stopped);
        std::thread::sleep(STOPPED);
        assert!(all_stopped().is_some(), "something resumed on its own");
        send(live.pid, Signal::CONT);
    });
    run.assert_code(0);
    run.assert_summary(1, 0, 0);
    assert_no_leftover_processes(&run, &run_id);
}

/// A listing that hangs is stopped by Ctrl-C (long before its time limit),
/// and the run exits 130 with nothing left.
#[test]
fn ctrl_c_stops_a_listing_that_hangs() {
    let mut needle = String::new();
    let run = xdist_fixture("faults", &["--test", "stall", "--no-progress"])
        .env("XDIST_FIXTURE_LIST_HANG", "1")
        .run_with(|live| {
            // The listing gets cargo-xdist's environment, this record dir too.
            needle = format!("XDIST_FIXTURE_RECORD={}", live.record_dir.display());
            wait_for("the listing to start", || {
                processes_with_env(&needle)
                    .iter()
                    .any(|(_, cmdline)| cmdline.contains("--list"))
                    .then_some(())
            });
            send(live.pid, Signal::INT);
        });
    run.assert_code(130);
    run.assert_no_panic();
    run.assert_summary(0, 0, 0);
    let left = processes_with_env(&needle);
    assert!(left.is_empty(), "left behind: {left:?}{}", run.ctx());
}

/// Processes of run `run_id` (with `XDIST_TESTRUNUID=run_id` in their
/// environment), waiting up to ten seconds for them to end.
fn processes_left(run_id: &str) -> Vec<(i32, String)> {
    let needle = format!("XDIST_TESTRUNUID={run_id}");
    let mut left = Vec::new();
    poll(POLL, Duration::from_secs(10), || {
        left = processes_with_env(&needle);
        left.is_empty().then_some(())
    });
    left
}

/// SIGKILL of cargo-xdist (the OOM killer, a CI runner's hard timeout) runs
/// no cleanup of its own, yet the stalled test process and the child it left
/// in its process group (which ignores SIGINT, SIGTERM and SIGHUP) die; the
/// run's scratch directory stays, and the next run removes it.
#[test]
fn sigkill_leaves_no_test_process_and_the_next_run_removes_its_scratch() {
    let tmp = tempfile::Builder::new()
        .prefix("xdist-sigkill-tmp-")
        .tempdir()
        .unwrap();
    let tmpdir = tmp.path().to_string_lossy().into_owned();
    let mut run_id = String::new();
    let run = xdist_fixture("faults", &["--test", "stall", "-n", "1", "--no-progress"])
        .env("XDIST_FIXTURE_STALL", "600")
        .env("TMPDIR", &tmpdir)
        .run_with(|live| {
            run_id = wait_until_stalled(live);
            send(live.pid, Signal::KILL);
        });
    assert_eq!(run.signal, Some(libc::SIGKILL), "{}", run.ctx());
    let left = processes_left(&run_id);
    for (pid, _) in &left {
        // Descendants of the run this test started.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    assert!(
        left.is_empty(),
        "processes of run {run_id} outlived cargo-xdist's SIGKILL (killed now): {left:?}{}",
        run.ctx()
    );
    let scratch = || -> Vec<PathBuf> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("cargo-xdist-")
            })
            .collect()
    };
    let killed = scratch();
    assert_eq!(killed.len(), 1, "the killed run's scratch: {killed:?}");

    let next = xdist_fixture("faults", &["--test", "stall", "--no-progress"])
        .env("TMPDIR", &tmpdir)
        .run();
    next.assert_code(0);
    assert!(
        !killed[0].exists(),
        "the next run left the killed run's scratch directory {}{}",
        killed[0].display(),
        next.ctx()
    );
    assert_eq!(scratch(), Vec::<PathBuf>::new(), "{}", next.ctx());
}

/// Ctrl-C while the test binaries are being listed: nothing was scheduled,
/// so the run says it stopped before any test ran (not "0 tests not run"),
/// exits 130 and leaves no listing process behind.
#[test]
fn an_interrupt_while_listing_says_no_test_ran() {
    let token = format!("list-hang-{}", std::process::id());
    let needle = format!("XDIST_FIXTURE_LIST_HANG={token}");
    let run = xdist_fixture("faults", &["--test", "stall", "-n", "2", "--no-progress"])
        .env("XDIST_FIXTURE_LIST_HANG", &token)
        .run_with(|live| {
            wait_for("stall's hanging --list", || {
                processes_with_env(&needle)
                    .iter()
                    .any(|(_, cmdline)| cmdline.contains("--list"))
                    .then_some(())
            });
            send(live.pid, Signal::INT);
        });
    run.assert_code(130);
    run.assert_no_panic();
    assert!(
        run.stdout.contains("interrupted before any test ran"),
        "{}",
        run.ctx()
    );
    assert!(!run.stdout.contains("not run"), "{}", run.ctx());
    assert!(
        processes_with_env(&needle).is_empty(),
        "a listing process outlived the run{}",
        run.ctx()
    );
}
