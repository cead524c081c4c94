//! End-to-end runs of `cargo xdist` on `fixtures/faults`: tests that abort,
//! segfault, exit, overflow the stack, hang, leave a child behind or spoof
//! libtest output fail alone; the rest of their file passes; nothing of the
//! run outlives it; all of this also when verdicts come from exit statuses
//! instead of libtest's deprecated `--logfile`. (The whole fixture runs 3
//! times in this file, no more.)

mod common;

use std::collections::BTreeSet;

use common::*;

#[derive(Debug, Clone, Copy)]
enum F {
    Pass,
    /// Failed; the JUnit failure message contains this text.
    Fail(&'static str),
    /// Failed by the runner's timeout.
    Timeout,
}

/// (binary id, test, expected) for all 30 tests (fixtures/faults/EXPECTED.md).
const FAULTS: &[(&str, &str, F)] = &[
    ("faults::test/abort", "a1_first", F::Pass),
    ("faults::test/abort", "a2_second", F::Pass),
    ("faults::test/abort", "a3_aborts", F::Fail("SIGABRT")),
    ("faults::test/abort", "a4_fourth", F::Pass),
    ("faults::test/abort", "a5_fifth", F::Pass),
    ("faults::test/segv", "s1_ok", F::Pass),
    ("faults::test/segv", "s2_segfaults", F::Fail("SIGSEGV")),
    ("faults::test/segv", "s3_ok", F::Pass),
    ("faults::test/exit", "e1_ok", F::Pass),
    ("faults::test/exit", "e2_exits_zero", F::Fail("exit code 0")),
    ("faults::test/exit", "e3_ok", F::Pass),
    (
        "faults::test/exit",
        "e4_exits_three",
        F::Fail("exit code 3"),
    ),
    ("faults::test/exit", "e5_ok", F::Pass),
    ("faults::test/overflow", "o1_ok", F::Pass),
    (
        "faults::test/overflow",
        "o2_stack_overflow",
        F::Fail("SIGABRT"),
    ),
    ("faults::test/overflow", "o3_ok", F::Pass),
    ("faults::test/hang", "h0_floods_then_hangs", F::Timeout),
    ("faults::test/hang", "h1_ok", F::Pass),
    ("faults::test/hang", "h2_hangs", F::Timeout),
    ("faults::test/hang", "h3_ok", F::Pass),
    ("faults::test/child", "c1_leaves_child", F::Pass),
    ("faults::test/child", "c2_ok", F::Pass),
    (
        "faults::test/spoof",
        "p1_spoof_then_abort",
        F::Fail("SIGABRT"),
    ),
    ("faults::test/spoof", "p2_fails", F::Fail("")),
    ("faults::test/spoof", "p3_ok", F::Pass),
    ("faults::test/noisy_pass", "n1_floods", F::Pass),
    ("faults::test/noisy_pass", "n2_floods", F::Pass),
    ("faults::test/noisy_pass", "n3_floods", F::Pass),
    ("faults::test/startup", "st_ok", F::Pass),
    ("faults::test/stall", "sl_stalls", F::Pass),
];

/// Run the whole faults fixture and check every outcome and the cleanup;
/// `env` goes to cargo-xdist.
fn check_faults_run(extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["-n", "2", "--timeout", "2s"];
    args.extend_from_slice(extra);
    let mut xdist = xdist_fixture("faults", &args).junit();
    for (k, v) in env {
        xdist = xdist.env(k, v);
    }
    let run = xdist.run();
    run.assert_code(100);
    run.assert_summary(21, 9, 0);
    run.assert_no_panic();

    let junit = run.junit();
    let mut problems = Vec::new();
    for &(binary, name, want) in FAULTS {
        let Some(case) = junit.get(binary, name) else {
            problems.push(format!("{binary} {name}: missing from the JUnit report"));
            continue;
        };
        match (want, &case.outcome) {
            (F::Pass, JOutcome::Passed) => {}
            (F::Fail(text), JOutcome::Failed { message, .. }) if message.contains(text) => {}
            (F::Timeout, JOutcome::Failed { message, kind, .. })
                if message.contains("timed out") && kind == "timeout" => {}
            (want, got) => {
                problems.push(format!("{binary} {name}: expected {want:?}, got {got:?}"))
            }
        }
    }
    let known: BTreeSet<(&str, &str)> = FAULTS.iter().map(|&(b, n, _)| (b, n)).collect();
    for c in &junit.cases {
        if !known.contains(&(c.suite.as_str(), c.name.as_str())) {
            problems.push(format!("unexpected testcase {} {}", c.suite, c.name));
        }
    }
    assert!(
        problems.is_empty(),
        "faults outcomes:\n  {}{}",
        problems.join("\n  "),
        run.ctx()
    );

    // The spoofed `test ... ok` lines must not turn into passes.
    for line in run.stdout.lines() {
        assert!(
            !(line.starts_with("PASS")
                && (line.contains("p1_spoof_then_abort") || line.contains("p2_fails"))),
            "a spoofed ok line was reported as a pass: {line}{}",
            run.ctx()
        );
    }

    // Every test ran exactly once (a crash re-runs only the tests after it).
    let records = run.records();
    let all: BTreeSet<&str> = FAULTS.iter().map(|&(_, n, _)| n).collect();
    assert_recorded_once(&run, &records, &all);
    for r in &records {
        assert!(
            (r.worker == "gw0" || r.worker == "gw1") && r.worker_count == "2",
            "bad worker variables in {r:?}{}",
            run.ctx()
        );
    }

    // Nothing of the run survives it: no test process, no `sleep 600`.
    let run_id = junit
        .run_id()
        .unwrap_or_else(|| panic!("no single xdist.run_id{}", run.ctx()));
    assert!(
        records.iter().all(|r| r.run_id == run_id),
        "records with another run id{}",
        run.ctx()
    );
    assert_no_leftover_processes(&run, &run_id);
    run
}

#[test]
fn faults_loadfile() {
    let run = check_faults_run(&[], &[]);
    // The logfile probe found --logfile working: a file's tests shared
    // processes (a1..a3 in one, see the next test for the detail).
    let records = run.records();
    let pids: BTreeSet<u32> = records.iter().map(|r| r.pid).collect();
    assert!(
        pids.len() < records.len(),
        "one process per test{}",
        run.ctx()
    );
}

#[test]
fn faults_load() {
    check_faults_run(&["--dist", "load"], &[]);
}

/// Without `--logfile` (forced; libtest has deprecated it) every outcome
/// is the same, spoofed lines included: each test runs in a process of its
/// own, judged by its exit status.
#[test]
fn faults_without_logfile_verdicts_come_from_exit_statuses() {
    let run = check_faults_run(&["--dist", "worksteal"], &[("CARGO_XDIST_NO_LOGFILE", "1")]);
    let records = run.records();
    let pids: BTreeSet<u32> = records.iter().map(|r| r.pid).collect();
    assert_eq!(
        pids.len(),
        records.len(),
        "the exit-status channel runs one process per test{}",
        run.ctx()
    );
}

/// The leftover-process check must be able to see a live process of a run
/// (guards against /proc being unreadable, which would make it pass vacuously).
#[test]
fn leftover_scan_sees_live_processes() {
    let id = "0123456789abcdef0123456789abcdef";
    let needle = format!("XDIST_TESTRUNUID={id}");
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .env("XDIST_TESTRUNUID", id)
        .spawn()
        .expect("cannot start sleep");
    // Right after spawn the new image's environment may not be readable yet.
    let mut found = Vec::new();
    poll(POLL, std::time::Duration::from_secs(5), || {
        found = processes_with_env(&needle);
        (!found.is_empty()).then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        found.iter().any(|(pid, _)| *pid as u32 == child.id()),
        "the /proc scan did not find pid {} with {needle}: {found:?}",
        child.id()
    );
    assert!(
        processes_with_env(&needle).is_empty(),
        "a reaped process is still reported"
    );
}

/// After `a3_aborts` kills its process, a4/a5 run in a fresh process on the
/// same worker; a1..a3 shared the first one.
#[test]
fn abort_restarts_the_rest_of_the_file_in_a_fresh_process() {
    let run = xdist_fixture("faults", &["--test", "abort", "-n", "1"])
        .junit()
        .run();
    run.assert_code(100);
    run.assert_summary(4, 1, 0);
    let junit = run.junit();
    for name in ["a1_first", "a2_second", "a4_fourth", "a5_fifth"] {
        let c = junit.get("faults::test/abort", name);
        assert!(
            matches!(c.map(|c| &c.outcome), Some(JOutcome::Passed)),
            "{name} should pass: {c:?}{}",
            run.ctx()
        );
    }
    let a3 = junit.get("faults::test/abort", "a3_aborts");
    assert!(
        matches!(a3.map(|c| &c.outcome), Some(JOutcome::Failed { message, .. }) if message.contains("SIGABRT")),
        "a3_aborts should fail with SIGABRT: {a3:?}{}",
        run.ctx()
    );

    let records = run.records();
    let names: BTreeSet<&str> = [
        "a1_first",
        "a2_second",
        "a3_aborts",
        "a4_fourth",
        "a5_fifth",
    ]
    .into();
    assert_recorded_once(&run, &records, &names);
    let by_name = records_by_name(&records);
    let pid = |n: &str| by_name[n][0].pid;
    let first = pid("a1_first");
    let second = pid("a4_fourth");
    assert!(
        pid("a2_second") == first && pid("a3_aborts") == first,
        "a1, a2, a3 should share one process: {records:#?}{}",
        run.ctx()
    );
    assert!(
        second != first && pid("a5_fifth") == second,
        "a4, a5 should share a fresh process: {records:#?}{}",
        run.ctx()
    );
    assert!(
        records
            .iter()
            .all(|r| r.worker == "gw0" && r.worker_count == "1"),
        "all on worker gw0 of 1: {records:#?}{}",
        run.ctx()
    );
    assert_no_leftover_processes(&run, &records[0].run_id);
}

/// Run `--test <unlisted> --test segv -n 2 <extra>` with `var` set, so
/// that `unlisted` cannot list its tests: it must be one failed `(listing)`
/// entry whose text contains `why`, while the segv binary still runs, each
/// test with its own outcome, and nothing of the listing outlives the run.
fn check_listing_fails_alone(unlisted: &str, var: &str, extra: &[&str], why: &str) -> Run {
    let mut args = vec!["--test", unlisted, "--test", "segv", "-n", "2"];
    args.extend_from_slice(extra);
    let run = xdist_fixture("faults", &args).env(var, "1").junit().run();
    run.assert_code(100);
    run.assert_no_panic();
    run.assert_summary(2, 2, 0);
    let junit = run.junit();
    let binary = format!("faults::test/{unlisted}");
    let listing = junit
        .get(&binary, "(listing)")
        .unwrap_or_else(|| panic!("no (listing) entry for {binary}{}", run.ctx()));
    // The entry itself says why the listing failed.
    match &listing.outcome {
        JOutcome::Failed {
            message,
            description,
            ..
        } => {
            assert_eq!(
                message,
                &format!("cannot list the tests of {binary}"),
                "{}",
                run.ctx()
            );
            assert!(
                description.contains(why),
                "the (listing) failure does not say {why:?}: {description:?}{}",
                run.ctx()
            );
        }
        other => panic!("(listing) should fail, got {other:?}{}", run.ctx()),
    }
    let outcome = |name| junit.get("faults::test/segv", name).map(|c| &c.outcome);
    assert!(
        matches!(outcome("s1_ok"), Some(JOutcome::Passed))
            && matches!(outcome("s3_ok"), Some(JOutcome::Passed))
            && matches!(outcome("s2_segfaults"), Some(JOutcome::Failed { message, .. }) if message.contains("SIGSEGV")),
        "the segv binary's tests{}",
        run.ctx()
    );
    let ran: BTreeSet<&str> = ["s1_ok", "s2_segfaults", "s3_ok"].into();
    assert_recorded_once(&run, &run.records(), &ran);
    // Listings get cargo-xdist's environment, and so this run's record
    // directory: no process with it may be left.
    let needle = format!("XDIST_FIXTURE_RECORD={}", run.record_dir.display());
    let left = processes_with_env(&needle);
    assert!(left.is_empty(), "left behind: {left:?}{}", run.ctx());
    run
}

/// A binary that dies before `main` cannot list its tests: it is reported
/// as one failure and the other binaries still run, as under cargo test.
/// (The whole output would always mention a signal: s2_segfaults dies of
/// SIGSEGV in the same run; the entry must give the binary's SIGABRT.)
#[test]
fn a_binary_that_cannot_list_its_tests_fails_alone() {
    let run = check_listing_fails_alone("startup", "XDIST_FIXTURE_BOOM", &[], "signal 6 (SIGABRT)");
    assert!(
        run.junit().get("faults::test/startup", "st_ok").is_none(),
        "st_ok cannot have run{}",
        run.ctx()
    );
}

/// A binary that hangs in `--list` is killed after the time limit
/// (`--timeout`) and fails alone in the same way.
#[test]
fn a_binary_that_hangs_listing_its_tests_fails_alone() {
    check_listing_fails_alone(
        "stall",
        "XDIST_FIXTURE_LIST_HANG",
        &["--timeout", "2s"],
        "did not finish within 2s",
    );
}
