//! What a run prints and reports: `--message-format json`, `--color`,
//! `NO_COLOR`, `--no-capture`, `SLOW` lines, the re-run commands and
//! JUnit's failure message, end to end on `fixtures/basic`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use common::*;

const FAILS_ON_PURPOSE: &str = "math::tests::fails_on_purpose";
/// The first line of `fails_on_purpose`'s panic message.
const PANIC_FIRST_LINE: &str =
    "assertion `left == right` failed: fails_on_purpose: deliberate failure";

// ---------------------------------------------------------------------------
// --message-format json
// ---------------------------------------------------------------------------

/// Every stdout line is one JSON object of schema version 1; its counts
/// equal the `Summary:` line (the last line of stderr) and the JUnit report.
#[test]
fn json_events_parse_line_by_line_and_agree_with_summary_and_junit() {
    let run = xdist_fixture(
        "basic",
        &["--workspace", "-n", "2", "--message-format", "json"],
    )
    .junit()
    .run();
    run.assert_code(100);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}{}", run.ctx()))
        })
        .collect();
    assert!(events.len() > 2, "too few events{}", run.ctx());
    for e in &events {
        assert_eq!(e["version"], 1, "schema version of {e}{}", run.ctx());
    }
    let kind = |e: &serde_json::Value| e["type"].as_str().unwrap_or_default().to_string();
    assert_eq!(kind(&events[0]), "run-started", "{}", run.ctx());
    let last = events.last().unwrap();
    assert_eq!(kind(last), "run-finished", "{}", run.ctx());
    assert_eq!(
        events.iter().filter(|e| kind(e) == "run-finished").count(),
        1,
        "{}",
        run.ctx()
    );

    // Count the outcomes of test-finished; each ran test started first.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut started = BTreeSet::new();
    for e in &events {
        let id = (e["binary_id"].to_string(), e["name"].to_string());
        match kind(e).as_str() {
            "test-started" => {
                started.insert(id);
            }
            "test-finished" => {
                let outcome = e["outcome"].as_str().unwrap_or_default().to_string();
                assert!(
                    outcome == "skipped" || started.contains(&id),
                    "finished before it started: {e}{}",
                    run.ctx()
                );
                assert_eq!(
                    e["package"],
                    e["binary_id"].as_str().unwrap().split("::").next().unwrap(),
                    "{e}"
                );
                assert_eq!(e["attempt"], 1, "{e}");
                assert_eq!(e["flaky"], false, "{e}");
                *counts.entry(outcome).or_default() += 1;
            }
            _ => {}
        }
    }
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    let failed = n("failed") + n("timed-out");
    assert_eq!(last["passed"], n("passed"), "{last}{}", run.ctx());
    assert_eq!(last["failed"], failed, "{last}{}", run.ctx());
    assert_eq!(last["skipped"], n("skipped"), "{last}{}", run.ctx());
    assert_eq!(last["flaky"], 0, "{last}");
    assert_eq!(last["not_run"], 0, "{last}");
    assert_eq!(last["exit_code"], 100, "{}", run.ctx());
    assert_eq!(
        events[0]["tests"],
        n("passed") + failed,
        "run-started counts the tests to run{}",
        run.ctx()
    );

    // The human report is on stderr, its last line the summary.
    let summary = format!(
        "Summary: {} passed, {failed} failed, {} skipped",
        n("passed"),
        n("skipped")
    );
    assert_eq!(
        run.stderr.trim_end().lines().last(),
        Some(summary.as_str()),
        "{}",
        run.ctx()
    );
    assert_eq!(summary, "Summary: 37 passed, 2 failed, 2 skipped");
    let junit = run.junit();
    let r = &junit.report;
    assert_eq!(
        (r.tests as u64, r.failures as u64, r.errors as u64),
        (n("passed") + failed + n("skipped"), failed, 0),
        "{}",
        run.ctx()
    );
    let junit_skipped = junit
        .cases
        .iter()
        .filter(|c| c.outcome == JOutcome::Skipped)
        .count() as u64;
    assert_eq!(junit_skipped, n("skipped"), "{}", run.ctx());
}

// ---------------------------------------------------------------------------
// Color
// ---------------------------------------------------------------------------

#[test]
fn color_never_prints_no_escape_codes_and_always_does() {
    let args = ["-p", "alpha", "--lib", "-n", "2"];
    // The harness sets NO_COLOR=1 and CARGO_TERM_COLOR=never: --color wins.
    let always = xdist_fixture("basic", &[&args[..], &["--color", "always"]].concat()).run();
    always.assert_code(100);
    assert!(
        always.stdout.contains("\x1b[32mPASS"),
        "--color always must color the labels{}",
        always.ctx()
    );
    let never = xdist_fixture("basic", &[&args[..], &["--color", "never"]].concat())
        .env("CARGO_TERM_COLOR", "always")
        .run();
    never.assert_code(100);
    assert!(
        !never.stdout.contains('\x1b') && !never.stderr.contains('\x1b'),
        "--color never printed an escape code{}",
        never.ctx()
    );
}

/// A pseudo-terminal, so that `--color auto` has a terminal to color for.
struct Pty {
    master: std::fs::File,
    slave: std::fs::File,
}

fn pty() -> Pty {
    // SAFETY: plain libc calls on a descriptor this function owns; every
    // result is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let master = OwnedFd::from_raw_fd(master);
        use std::os::fd::AsRawFd;
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 256];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_str()
            .unwrap()
            .to_string();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        Pty {
            master: master.into(),
            slave,
        }
    }
}

/// `cargo xdist` on the gamma package with its stdout on a terminal (stderr
/// is not one, so no progress bar) and `env` set; what it printed there.
fn on_a_terminal(env: &[(&str, &str)]) -> String {
    let Pty { mut master, slave } = pty();
    let mut cmd = Command::new(XDIST);
    cmd.args(["xdist", "--manifest-path", &fixture_manifest("basic")])
        .args(["-p", "gamma", "-n", "2"])
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .env_remove("NO_COLOR")
        .env_remove("CARGO_TERM_COLOR")
        .env_remove("XDIST_FIXTURE_RECORD")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(slave)
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("cannot start cargo-xdist");
    // `cmd` holds the slave's descriptor; without it, the master reads
    // end-of-file (EIO) once the tool exits.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let status = poll(POLL, WAIT_LIMIT, || child.try_wait().unwrap()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("cargo-xdist did not finish on the terminal");
    });
    let out = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "on a terminal: {out}");
    assert!(out.contains("Summary: 5 passed"), "{out}");
    out
}

/// On a terminal, auto colors; `NO_COLOR` turns that off.
#[test]
fn no_color_turns_off_color_on_a_terminal() {
    let colored = on_a_terminal(&[]);
    assert!(
        colored.contains("\x1b[32mPASS"),
        "auto must color on a terminal (or this test proves nothing): {colored:?}"
    );
    let plain = on_a_terminal(&[("NO_COLOR", "1")]);
    assert!(
        !plain.contains('\x1b'),
        "NO_COLOR printed escape codes: {plain:?}"
    );
}

// ---------------------------------------------------------------------------
// --no-capture and SLOW
// ---------------------------------------------------------------------------

/// A passing test's output is shown, each line after its worker; without
/// `--no-capture` it is not.
#[test]
fn no_capture_shows_a_passing_tests_output_after_its_worker() {
    let args = [
        "-p",
        "alpha",
        "--test",
        "api",
        "-n",
        "1",
        "--exact",
        "noisy_output",
    ];
    let run = xdist_fixture("basic", &[&args[..], &["--no-capture"]].concat()).run();
    run.assert_code(0);
    run.assert_summary(1, 0, 0);
    for line in [
        "noisy_output stdout line 007",
        "noisy_output stderr line 199",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == format!("[gw0] {line}")),
            "--no-capture must show {line:?} after the worker{}",
            run.ctx()
        );
    }
    assert!(
        !run.stdout.contains("running 1 test") && !run.stdout.contains("test result:"),
        "libtest's own lines are left out{}",
        run.ctx()
    );
    let captured = xdist_fixture("basic", &args).run();
    captured.assert_code(0);
    assert!(
        !captured.stdout.contains("noisy_output stdout line"),
        "without --no-capture the output stays captured{}",
        captured.ctx()
    );
}

/// A test still running after `--slow-timeout` gets a SLOW line (each
/// `slow_*` test sleeps 150 ms; the limit is 1 ms); the default 60 s
/// prints none.
#[test]
fn a_test_running_past_the_slow_timeout_gets_a_slow_line() {
    let args = ["-p", "alpha", "--test", "slow", "-n", "2"];
    let run = xdist_fixture("basic", &[&args[..], &["--slow-timeout", "0.001"]].concat()).run();
    run.assert_code(0);
    run.assert_summary(8, 0, 0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("SLOW    [>") && l.contains(" alpha::test/slow slow_")),
        "no SLOW line{}",
        run.ctx()
    );
    let default = xdist_fixture("basic", &args).run();
    default.assert_code(0);
    assert!(!default.stdout.contains("SLOW"), "{}", default.ctx());
}

// ---------------------------------------------------------------------------
// The re-run commands and JUnit's message
// ---------------------------------------------------------------------------

/// The commands after `Re-run them with:` run exactly the failures: run
/// each, and together they ran (and failed) those tests and no other.
#[test]
fn rerun_commands_rerun_exactly_the_failures() {
    let run = xdist_fixture("basic", &["--workspace", "-n", "2", "--skip", "slow"]).run();
    run.assert_code(100);
    run.assert_summary(29, 2, 2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "Re-run them with:")
        .unwrap_or_else(|| panic!("no re-run commands{}", run.ctx()));
    let commands: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("cargo xdist "))
        .copied()
        .collect();
    assert!(!commands.is_empty(), "{}", run.ctx());
    let mut ran = BTreeSet::new();
    for command in &commands {
        let words = shlex::split(command).unwrap_or_else(|| panic!("cannot split {command:?}"));
        assert_eq!(&words[..2], ["cargo", "xdist"]);
        let again = xdist(&words[2..]).junit().run();
        again.assert_code(100);
        let junit = again.junit();
        for case in &junit.cases {
            assert!(
                matches!(case.outcome, JOutcome::Failed { .. }),
                "{command} ran {} {}, which did not fail{}",
                case.suite,
                case.name,
                again.ctx()
            );
            ran.insert((case.suite.clone(), case.name.clone()));
        }
        for r in again.records() {
            assert!(
                r.name == FAILS_ON_PURPOSE || r.name == "custom_fail",
                "{command} ran {}{}",
                r.name,
                again.ctx()
            );
        }
    }
    let failures: BTreeSet<(String, String)> = [
        ("alpha", FAILS_ON_PURPOSE),
        ("custom::test/custom_fail", "custom_fail"),
    ]
    .iter()
    .map(|(b, n)| (b.to_string(), n.to_string()))
    .collect();
    assert_eq!(ran, failures, "the re-run commands: {commands:#?}");
}

#[test]
fn junit_failure_message_is_the_panics_first_line() {
    let args = [
        "-p",
        "alpha",
        "--lib",
        "-n",
        "1",
        "--exact",
        FAILS_ON_PURPOSE,
    ];
    let run = xdist_fixture("basic", &args).junit().run();
    run.assert_code(100);
    let junit = run.junit();
    match &junit.get("alpha", FAILS_ON_PURPOSE).map(|c| &c.outcome) {
        Some(JOutcome::Failed { message, .. }) => {
            assert_eq!(message, PANIC_FIRST_LINE, "{}", run.ctx())
        }
        other => panic!("{FAILS_ON_PURPOSE} should fail, got {other:?}{}", run.ctx()),
    }
}
