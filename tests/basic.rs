//! End-to-end runs of `cargo xdist` on `fixtures/basic`: every `--dist`
//! mode with `-n 0, 1, 2, 4`, and the locality each mode promises.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

const WORKER_COUNTS: &[usize] = &[0, 1, 2, 4];

/// Check one full `--workspace` run of the basic fixture; returns its run id.
fn check_matrix_run(dist: &str, n: usize) -> String {
    let run = xdist_fixture(
        "basic",
        &["--workspace", "--dist", dist, "-n", &n.to_string()],
    )
    .junit()
    .run();
    let what = format!("--dist {dist} -n {n}");
    run.assert_code(100);
    run.assert_summary(37, 2, 2);

    // Every test's outcome, from the JUnit report.
    let junit = run.junit();
    assert_outcomes(&run, &junit, &basic_expected(IgnoredMode::Skip, |_| true));
    let r = &junit.report;
    for (key, got, want) in [
        ("tests", r.tests, 41),
        ("failures", r.failures, 2),
        ("errors", r.errors, 0),
        ("skipped", r.skipped, 2),
    ] {
        assert_eq!(got, want, "{what}: <testsuites {key}=...>{}", run.ctx());
    }
    // classname = binary id and source file.
    for t in BASIC {
        let c = junit.get(t.binary, t.name).expect("checked above");
        assert_eq!(
            c.classname,
            format!("{} {}", t.binary, t.file),
            "{what}: classname of {}{}",
            t.name,
            run.ctx()
        );
    }

    // Which workers exist in this run.
    let effective = match (n, dist) {
        (0, _) => 0,
        (_, "no") => 1,
        (n, _) => n,
    };
    let workers: BTreeSet<String> = (0..effective).map(|k| format!("gw{k}")).collect();

    // JUnit worker property: `-` for skipped tests, `main` in serial mode,
    // else one of gw0..gw{N-1}.
    for c in &junit.cases {
        let w = c.worker.as_deref().unwrap_or("<none>");
        let ok = match (&c.outcome, effective) {
            (JOutcome::Skipped, _) => w == "-",
            (_, 0) => w == "main",
            _ => workers.contains(w),
        };
        assert!(
            ok,
            "{what}: {} {} has worker property {w:?}{}",
            c.suite,
            c.name,
            run.ctx()
        );
    }

    // Record files: every selected test ran exactly once.
    let records = run.records();
    let selected: BTreeSet<&str> = BASIC
        .iter()
        .filter(|t| t.exp != Exp::Ignored)
        .map(|t| t.name)
        .collect();
    assert_eq!(selected.len(), 39);
    assert_recorded_once(&run, &records, &selected);

    // Worker variables.
    let run_id = junit.run_id().unwrap_or_else(|| {
        panic!(
            "{what}: JUnit suites do not share one xdist.run_id: {:?}{}",
            junit.run_ids,
            run.ctx()
        )
    });
    assert!(
        is_run_id(&run_id),
        "{what}: run id {run_id:?} is not 32 hex digits{}",
        run.ctx()
    );
    for r in &records {
        let bad = |msg: String| -> ! { panic!("{what}: {msg}\nrecord: {r:?}{}", run.ctx()) };
        if effective == 0 {
            if r.worker != "-" || r.worker_count != "-" {
                bad("with -n 0 XDIST_WORKER and XDIST_WORKER_COUNT must be unset".into());
            }
        } else {
            if !workers.contains(&r.worker) {
                bad(format!("XDIST_WORKER is not one of {workers:?}"));
            }
            if r.worker_count != effective.to_string() {
                bad(format!("XDIST_WORKER_COUNT should be {effective}"));
            }
        }
        if r.run_id != run_id {
            bad(format!(
                "XDIST_TESTRUNUID differs from the run id {run_id} of the JUnit report"
            ));
        }
        if r.database_url != "-" {
            bad("DATABASE_URL set although the run has no database".into());
        }
        let t = basic_test(&r.name);
        let pkg = package_dir("basic", t.package);
        if std::path::Path::new(&r.cwd) != pkg {
            bad(format!("cwd should be the package dir {}", pkg.display()));
        }
        let manifest = std::fs::canonicalize(&r.manifest_dir).ok();
        if manifest.as_deref() != Some(pkg.as_path()) {
            bad(format!(
                "CARGO_MANIFEST_DIR should be the package dir {}",
                pkg.display()
            ));
        }
        // The JUnit report names the worker the test really ran on.
        if effective > 0 {
            let case = junit.get(t.binary, t.name).expect("checked above");
            if case.worker.as_deref() != Some(r.worker.as_str()) {
                bad(format!("JUnit says worker {:?}", case.worker));
            }
        }
    }
    run_id
}

fn matrix(dist: &str) {
    let mut ids = BTreeMap::new();
    for &n in WORKER_COUNTS {
        let id = check_matrix_run(dist, n);
        if let Some(prev) = ids.insert(id.clone(), n) {
            panic!("--dist {dist}: runs with -n {prev} and -n {n} share the XDIST_TESTRUNUID {id}");
        }
    }
}

#[test]
fn matrix_loadfile() {
    matrix("loadfile");
}

#[test]
fn matrix_loadscope() {
    matrix("loadscope");
}

#[test]
fn matrix_load() {
    matrix("load");
}

#[test]
fn matrix_loadgroup() {
    matrix("loadgroup");
}

#[test]
fn matrix_no() {
    matrix("no");
}

/// `--dist loadfile`: all tests of one (package, source file) run in one
/// process on one worker.
#[test]
fn loadfile_keeps_each_file_in_one_process_and_worker() {
    let run = xdist_fixture("basic", &["--workspace", "--dist", "loadfile", "-n", "4"]).run();
    run.assert_code(100);
    run.assert_summary(37, 2, 2);
    let records = run.records();
    let mut by_file: BTreeMap<(&str, &str), Vec<&Record>> = BTreeMap::new();
    for r in &records {
        let t = basic_test(&r.name);
        by_file.entry((t.package, t.file)).or_default().push(r);
    }
    // 12 groups in EXPECTED.md's per-file table.
    assert_eq!(
        by_file.len(),
        12,
        "tests of some files did not run: {:?}{}",
        by_file.keys(),
        run.ctx()
    );
    for ((package, file), recs) in &by_file {
        let pids: BTreeSet<u32> = recs.iter().map(|r| r.pid).collect();
        let workers: BTreeSet<&str> = recs.iter().map(|r| r.worker.as_str()).collect();
        assert!(
            pids.len() == 1 && workers.len() == 1,
            "{package} {file}: tests ran in pids {pids:?} on workers {workers:?}, expected one process on one worker\nrecords: {recs:#?}{}",
            run.ctx()
        );
    }
    // And the file-level table matches: e.g. all 7 api tests minus the ignored one.
    assert_eq!(
        by_file[&("alpha", "tests/api.rs")].len(),
        6,
        "{}",
        run.ctx()
    );
    assert_eq!(by_file[&("alpha", "src/math.rs")].len(), 6, "{}", run.ctx());
}

/// `--dist load`: the tests of one file spread over the workers.
#[test]
fn load_spreads_one_files_tests_over_workers() {
    // Only tests/slow.rs (8 × 150 ms), so the spread does not depend on how
    // fast the rest of the workspace runs.
    let run = xdist_fixture(
        "basic",
        &["-p", "alpha", "--test", "slow", "--dist", "load", "-n", "2"],
    )
    .run();
    run.assert_code(0);
    run.assert_summary(8, 0, 0);
    let records = run.records();
    let slow: Vec<&Record> = records
        .iter()
        .filter(|r| r.name.starts_with("slow_"))
        .collect();
    assert_eq!(
        slow.len(),
        8,
        "expected 8 records of slow_*: {records:#?}{}",
        run.ctx()
    );
    let workers: BTreeSet<&str> = slow.iter().map(|r| r.worker.as_str()).collect();
    assert!(
        workers.len() >= 2,
        "all of tests/slow.rs ran on {workers:?}; --dist load should use both workers{}",
        run.ctx()
    );
    assert!(
        workers.iter().all(|w| *w == "gw0" || *w == "gw1"),
        "{workers:?}{}",
        run.ctx()
    );
}

/// `--dist worksteal`: every outcome as under loadfile, each test reported
/// once, and an idle worker takes the unstarted tail of a long file.
#[test]
fn worksteal_reports_every_test_once_and_splits_a_long_file() {
    for n in ["0", "2", "4"] {
        let run = xdist_fixture("basic", &["--workspace", "--dist", "worksteal", "-n", n])
            .junit()
            .run();
        run.assert_code(100);
        run.assert_summary(37, 2, 2);
        let junit = run.junit();
        assert_outcomes(&run, &junit, &basic_expected(IgnoredMode::Skip, |_| true));
        assert_eq!(
            junit.cases.len(),
            41,
            "each test reported once{}",
            run.ctx()
        );
    }

    // Only tests/slow.rs: one group, so the second worker can only steal.
    let run = xdist_fixture(
        "basic",
        &[
            "-p",
            "alpha",
            "--test",
            "slow",
            "--dist",
            "worksteal",
            "-n",
            "2",
        ],
    )
    .junit()
    .run();
    run.assert_code(0);
    run.assert_summary(8, 0, 0);
    let junit = run.junit();
    assert_eq!(junit.cases.len(), 8, "{}", run.ctx());
    let workers: BTreeSet<&str> = junit
        .cases
        .iter()
        .filter_map(|c| c.worker.as_deref())
        .collect();
    assert_eq!(
        workers,
        BTreeSet::from(["gw0", "gw1"]),
        "the idle worker steals part of the file{}",
        run.ctx()
    );
    assert!(run.stdout.contains("STEAL"), "{}", run.ctx());
    // Claiming is atomic: each test ran exactly once, where it was reported
    // (never also, partly, in the owner's process).
    let records = run.records();
    let names: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 8, "{}", run.ctx());
    assert_eq!(records.len(), 8, "{records:#?}{}", run.ctx());
    for c in &junit.cases {
        let ran_on: Vec<&str> = (records.iter())
            .filter(|r| r.name == c.name)
            .map(|r| r.worker.as_str())
            .collect();
        assert_eq!(
            ran_on,
            [c.worker.as_deref().unwrap_or("?")],
            "{}",
            run.ctx()
        );
    }
}
