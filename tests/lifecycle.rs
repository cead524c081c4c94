//! End-to-end runs of `cargo xdist` on `fixtures/lifecycle`: `--retries`
//! and flaky tests, `-x`/`--maxfail`, `--lf`/`--ff`.
//!
//! Every run of the fixture updates the same last-failed record (under the
//! shared fixture target directory), so the tests of this file take turns.

mod common;

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use common::*;
use quick_junit::TestCaseStatus;

static FIXTURE: Mutex<()> = Mutex::new(());

/// This test's turn at the fixture (a failed test does not end the others').
fn turn() -> MutexGuard<'static, ()> {
    FIXTURE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `scripted_a` (a1 a2 a3) and `scripted_b` (b1 b2) on one worker: units
/// run one after the other, the larger (`scripted_a`) first.
const SCRIPTED: &[&str] = &["-n", "1", "--test", "scripted_a", "--test", "scripted_b"];

/// Run the fixture with `args`; `env` sets `LIFECYCLE_*` variables.
fn run(args: &[&str], env: &[(&str, &str)], junit: bool) -> Run {
    // A fresh duration store each time: these tests count on the size
    // order (the larger group first), which recorded times would change.
    let store = tempfile::tempdir().unwrap();
    let store_file = store.path().join("durations.json");
    let mut all = args.to_vec();
    all.extend(["--durations-file", store_file.to_str().unwrap()]);
    let mut x = xdist_fixture("lifecycle", &all);
    for (k, v) in env {
        x = x.env(k, v);
    }
    if junit {
        x = x.junit();
    }
    let run = x.run();
    remove_state_files(&run);
    run.assert_no_panic();
    run
}

/// The "failed once" markers the fixture leaves in the temp dir.
fn remove_state_files(run: &Run) {
    let ids: BTreeSet<String> = run.records().into_iter().map(|r| r.run_id).collect();
    for id in ids.iter().filter(|id| is_run_id(id)) {
        for test in ["flips", "crash_flips", "harness_flips"] {
            let _ = std::fs::remove_file(
                std::env::temp_dir().join(format!("xdist-lifecycle-{id}-{test}")),
            );
        }
    }
}

/// The stdout lines that report `name`'s results, in order.
fn result_lines<'r>(run: &'r Run, binary: &str, name: &str) -> Vec<&'r str> {
    let end = format!(" lifecycle::test/{binary} {name}");
    run.stdout
        .lines()
        .filter(|l| l.contains(" [") && (l.ends_with(&end) || l.contains(&format!("{end} ("))))
        .collect()
}

/// How many times each test ran (record lines), and in how many processes.
fn attempts(run: &Run) -> Vec<(String, usize, usize)> {
    let records = run.records();
    records_by_name(&records)
        .into_iter()
        .map(|(name, rs)| {
            let pids: BTreeSet<u32> = rs.iter().map(|r| r.pid).collect();
            (name.to_string(), rs.len(), pids.len())
        })
        .collect()
}

fn names_ran(run: &Run) -> BTreeSet<String> {
    run.records().into_iter().map(|r| r.name).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Every test in `ran` started, and of the others only those in `maybe`
/// (a test stopped as soon as it began may not have recorded).
fn assert_ran_between(run: &Run, ran: &[&str], maybe: &[&str]) {
    let got = names_ran(run);
    let (ran, maybe) = (set(ran), set(maybe));
    assert!(
        got.is_superset(&ran) && got.difference(&ran).all(|n| maybe.contains(n)),
        "tests that started: {got:?}; expected {ran:?} and maybe {maybe:?}{}",
        run.ctx()
    );
}

/// The line before the summary.
fn second_to_last_line(run: &Run) -> &str {
    let lines: Vec<&str> = run.stdout.trim_end().lines().collect();
    lines
        .get(lines.len().saturating_sub(2))
        .copied()
        .unwrap_or("")
}

#[test]
fn a_test_that_fails_once_is_flaky_under_retries() {
    let _turn = turn();
    let args = ["-n", "2", "--test", "flaky", "--test", "harness_flips"];
    // Without retries the three fail: each run starts fresh.
    let control = run(&args, &[], false);
    control.assert_code(100);
    control.assert_summary(1, 3, 0);

    let mut with_retries = args.to_vec();
    with_retries.extend(["--retries", "1"]);
    let r = run(&with_retries, &[], true);
    r.assert_code(0);
    r.assert_summary(4, 0, 0);
    for (binary, name) in [
        ("flaky", "flips"),
        ("flaky", "crash_flips"),
        ("harness_flips", "harness_flips"),
    ] {
        let lines = result_lines(&r, binary, name);
        assert!(
            lines.len() == 2
                && lines[0].starts_with("FAIL 1/2 ")
                && lines[1].starts_with("FLAKY 2/2 "),
            "{name}: expected a FAIL 1/2 and a FLAKY 2/2 line, got {lines:?}{}",
            r.ctx()
        );
        assert!(
            r.stdout.contains(&format!(
                "\n    FLAKY 2/2 lifecycle::test/{binary} {name}\n"
            )),
            "{name} is not in the closing list of flaky tests{}",
            r.ctx()
        );
    }
    assert_eq!(
        second_to_last_line(&r),
        "Flaky: 3 tests failed, then passed on a retry (counted as passed)",
        "{}",
        r.ctx()
    );
    // Each retry ran in a fresh process, on the same worker, in the same run.
    let records = r.records();
    for (name, rs) in records_by_name(&records) {
        let pids: BTreeSet<u32> = rs.iter().map(|r| r.pid).collect();
        let same: BTreeSet<(&str, &str, &str)> = rs
            .iter()
            .map(|r| {
                (
                    r.worker.as_str(),
                    r.run_id.as_str(),
                    r.database_url.as_str(),
                )
            })
            .collect();
        let want = if name == "steady" { 1 } else { 2 };
        assert_eq!(
            (rs.len(), pids.len(), same.len()),
            (want, want, 1),
            "{name}: attempts, processes, distinct (worker, run, database){}",
            r.ctx()
        );
    }
    // JUnit: passing testcases, the failed attempt as a <flakyFailure>.
    let junit = r.junit();
    assert_eq!(junit.report.failures, 0, "{}", r.ctx());
    for suite in &junit.report.test_suites {
        for case in &suite.test_cases {
            let flaky = match &case.status {
                TestCaseStatus::Success { flaky_runs } => flaky_runs.len(),
                other => panic!("{}: {other:?}{}", case.name.as_str(), r.ctx()),
            };
            let want = usize::from(case.name.as_str() != "steady");
            assert_eq!(
                flaky,
                want,
                "{}: <flakyFailure>s{}",
                case.name.as_str(),
                r.ctx()
            );
        }
    }

    // The JSON events: every attempt, numbered, the passing retry flaky,
    // and run-finished's flaky count.
    let mut json = with_retries.clone();
    json.extend(["--message-format", "json"]);
    let j = run(&json, &[], false);
    j.assert_code(0);
    let events: Vec<serde_json::Value> = j
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}{}", j.ctx())))
        .collect();
    let finished = |name: &str| -> Vec<(u64, String, bool)> {
        events
            .iter()
            .filter(|e| e["type"] == "test-finished" && e["name"] == name)
            .map(|e| {
                (
                    e["attempt"].as_u64().unwrap(),
                    e["outcome"].as_str().unwrap().to_string(),
                    e["flaky"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    for name in ["flips", "crash_flips", "harness_flips"] {
        assert_eq!(
            finished(name),
            [
                (1, "failed".to_string(), false),
                (2, "passed".to_string(), true)
            ],
            "{name}{}",
            j.ctx()
        );
    }
    let end = events.last().unwrap();
    assert_eq!(
        (
            end["type"].as_str(),
            end["flaky"].as_u64(),
            end["failed"].as_u64()
        ),
        (Some("run-finished"), Some(3), Some(0)),
        "{}",
        j.ctx()
    );

    // --flaky-fails: the same run fails, and still counts them as passed.
    with_retries.push("--flaky-fails");
    let r = run(&with_retries, &[], false);
    r.assert_code(100);
    r.assert_summary(4, 0, 0);
    assert!(
        second_to_last_line(&r).ends_with("(--flaky-fails: they fail the run)"),
        "{}",
        r.ctx()
    );
}

#[test]
fn a_test_that_always_fails_fails_after_every_retry() {
    let _turn = turn();
    let r = run(&["--test", "broken", "--retries", "2"], &[], true);
    r.assert_code(100);
    r.assert_summary(0, 1, 0);
    let lines = result_lines(&r, "broken", "always_fails");
    let labels: Vec<&str> = lines
        .iter()
        .map(|l| l.split(" [").next().unwrap_or("").trim_end())
        .collect();
    assert_eq!(labels, ["FAIL 1/3", "FAIL 2/3", "FAIL 3/3"], "{}", r.ctx());
    assert_eq!(
        attempts(&r),
        [("always_fails".to_string(), 3, 3)],
        "3 attempts in 3 processes{}",
        r.ctx()
    );
    // JUnit: the last attempt as <failure>, the two before as <rerunFailure>.
    let junit = r.junit();
    let case = &junit.report.test_suites[0].test_cases[0];
    match &case.status {
        TestCaseStatus::NonSuccess {
            description,
            reruns,
            ..
        } => {
            assert_eq!(reruns.runs.len(), 2, "{}", r.ctx());
            for text in reruns
                .runs
                .iter()
                .map(|a| &a.description)
                .chain([description])
            {
                let text = text.as_ref().map(|t| t.as_str()).unwrap_or("");
                assert!(text.contains("failing as always"), "{text:?}{}", r.ctx());
            }
        }
        other => panic!("{other:?}{}", r.ctx()),
    }
    assert_eq!(junit.report.failures, 1, "{}", r.ctx());
}

#[test]
fn exitfirst_stops_at_the_first_failure_and_counts_the_rest_as_not_run() {
    let _turn = turn();
    for flag in ["-x", "--fail-fast"] {
        let mut args = SCRIPTED.to_vec();
        args.push(flag);
        // a1 fails; a2 would wait 120 s, then fail: it must be stopped.
        let r = run(
            &args,
            &[("LIFECYCLE_FAIL", "a1"), ("LIFECYCLE_WAIT", "a2")],
            true,
        );
        r.assert_code(100);
        r.assert_summary(0, 1, 0);
        assert_eq!(
            second_to_last_line(&r),
            "not run: 4 tests (the run stopped after 1 failed test: -x)",
            "{flag}{}",
            r.ctx()
        );
        // a2 may have started before the run stopped; nothing after it did.
        assert_ran_between(&r, &["a1"], &["a2"]);
        let junit = r.junit();
        let reported: Vec<&str> = junit.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(reported, ["a1"], "{flag}: only a1 is reported{}", r.ctx());
        // The failure's own output survives the stopped process.
        assert!(
            r.stdout.contains("a1: LIFECYCLE_FAIL names it"),
            "{flag}: a1's panic message is missing{}",
            r.ctx()
        );
    }
}

#[test]
fn maxfail_stops_at_the_nth_failure() {
    let _turn = turn();
    for flag in ["--maxfail", "--max-fail"] {
        let mut args = SCRIPTED.to_vec();
        args.extend([flag, "2"]);
        // scripted_a runs first: a1 fails (1), a2 and a3 pass; then
        // scripted_b: b1 fails (2), and b2, waiting, must be stopped.
        let env = [("LIFECYCLE_FAIL", "a1,b1"), ("LIFECYCLE_WAIT", "b2")];
        let r = run(&args, &env, false);
        r.assert_code(100);
        r.assert_summary(2, 2, 0);
        assert_eq!(
            second_to_last_line(&r),
            "not run: 1 test (the run stopped after 2 failed tests: --maxfail 2)",
            "{flag}{}",
            r.ctx()
        );
        assert_ran_between(&r, &["a1", "a2", "a3", "b1"], &["b2"]);
    }
}

#[test]
fn last_failed_runs_exactly_the_previous_failures() {
    let _turn = turn();
    let first = run(SCRIPTED, &[("LIFECYCLE_FAIL", "a2,b1")], false);
    first.assert_code(100);
    first.assert_summary(3, 2, 0);

    for flag in ["--lf", "--last-failed"] {
        // The failures recorded by `first`: a2 and b1, now passing. Only
        // the first of these runs sees them (it records that they passed).
        let mut args = SCRIPTED.to_vec();
        args.push(flag);
        let r = run(&args, &[], false);
        r.assert_code(0);
        if flag == "--lf" {
            r.assert_summary(2, 0, 0);
            assert_eq!(names_ran(&r), set(&["a2", "b1"]), "{}", r.ctx());
            assert!(
                r.stdout
                    .contains("--lf: running the tests that failed last time: 2 of 5 selected\n"),
                "{}",
                r.ctx()
            );
        } else {
            // They passed: no selected test failed last time, so all run.
            r.assert_summary(5, 0, 0);
            assert_eq!(names_ran(&r).len(), 5, "{}", r.ctx());
            assert!(r.stdout.contains("running all 5 selected\n"), "{}", r.ctx());
        }
    }

    // A run that does not run a recorded failure keeps it, as pytest does.
    let all_fail = run(SCRIPTED, &[("LIFECYCLE_FAIL", "a2,b1")], false);
    all_fail.assert_code(100);
    let filtered = run(&["-n", "1", "--test", "scripted_a"], &[], false);
    filtered.assert_summary(3, 0, 0);
    let mut args = SCRIPTED.to_vec();
    args.push("--lf");
    let r = run(&args, &[], false);
    r.assert_summary(1, 0, 0);
    assert_eq!(names_ran(&r), set(&["b1"]), "{}", r.ctx());
}

#[test]
fn failed_first_runs_the_previous_failures_first() {
    let _turn = turn();
    let failing = run(SCRIPTED, &[("LIFECYCLE_FAIL", "b2")], false);
    failing.assert_code(100);
    // Without --ff, scripted_a (the larger unit) runs first.
    let first_result = |r: &Run| {
        r.stdout
            .lines()
            .find(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        first_result(&failing).ends_with("lifecycle::test/scripted_a a1"),
        "{}",
        failing.ctx()
    );
    for flag in ["--ff", "--failed-first"] {
        let mut args = SCRIPTED.to_vec();
        args.push(flag);
        // b2 fails again, so that the second flag also finds it recorded.
        let r = run(&args, &[("LIFECYCLE_FAIL", "b2")], false);
        r.assert_code(100);
        r.assert_summary(4, 1, 0);
        assert!(
            first_result(&r).ends_with("lifecycle::test/scripted_b b2"),
            "{flag}: b2 did not run first{}",
            r.ctx()
        );
        assert_eq!(
            names_ran(&r).len(),
            5,
            "{flag}: the rest ran too{}",
            r.ctx()
        );
    }
}
