//! `--doc`: each package's doctests run as one unit on a worker and are
//! reported one by one, in both editions (2024 merges doctests and runs a
//! second libtest session for the rest).

mod common;

use common::*;

#[test]
fn doctests_run_on_workers_and_report_each_outcome() {
    let run = xdist_fixture("docs", &["--workspace", "--doc", "-n", "2"])
        .junit()
        .run();
    run.assert_code(100);
    run.assert_no_panic();
    run.assert_summary(8, 2, 2);
    let junit = run.junit();
    for pkg in ["docs2021", "docs2024"] {
        let suite = format!("{pkg}::doc");
        let expect = [
            ("(line 3)", "pass"),
            ("double (line 10)", "pass"),
            ("double (line 14)", "fail"),
            ("double (line 18)", "skip"),
            ("double (line 22)", "pass"),
            ("double (line 26)", "pass"),
        ];
        for (item, outcome) in expect {
            let name = format!("{pkg}/src/lib.rs - {item}");
            let case = junit
                .get(&suite, &name)
                .unwrap_or_else(|| panic!("no testcase {suite} / {name}{}", run.ctx()));
            assert_eq!(case.outcome.short(), outcome, "{name}{}", run.ctx());
        }
    }
    assert!(
        run.stdout.contains("deliberate doctest failure"),
        "a failing doctest's output is shown{}",
        run.ctx()
    );
    // The doctests ran with a worker's environment.
    let records = run.records();
    assert_eq!(records.len(), 2, "{}", run.ctx());
    for r in &records {
        assert!(r.worker == "gw0" || r.worker == "gw1", "{r:?}");
        assert_eq!(r.worker_count, "2");
    }
}

#[test]
fn without_doc_no_doctest_runs() {
    let run = xdist_fixture("docs", &["--workspace", "-n", "2"]).run();
    // The fixture has no other test: nothing to run, exit 4 (--no-tests).
    run.assert_code(4);
    // Only the doctests record: the same command with --doc is the control.
    let control = xdist_fixture("docs", &["--workspace", "--doc", "-n", "2"]).run();
    run.assert_no_test_ran(&control, "doctests run only with --doc");
}
