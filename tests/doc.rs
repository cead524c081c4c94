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

/// `fixtures/rerun`: `base`'s doctest `plain` needs the feature `extra`,
/// which only `user` turns on. Each package's doctests get the outcome of
/// `cargo test --doc` with the same selection: with both packages
/// selected, cargo builds `base` with `extra` and `plain` passes; with `-p
/// base` it does not compile, as under cargo.
#[test]
fn doctests_get_cargos_features_for_the_users_selection() {
    let target = tempfile::tempdir().unwrap();
    let target_dir = target.path().to_string_lossy().into_owned();
    let plain = "base/src/lib.rs - plain (line 25)";
    let outcome = |run: &Run, suite: &str, name: &str| {
        let junit = run.junit();
        let case = junit
            .get(suite, name)
            .unwrap_or_else(|| panic!("no testcase {suite} / {name}{}", run.ctx()));
        case.outcome.short()
    };
    // The build's `base`, and no other: the doctests use what it built.
    let base_rlibs = || {
        let deps = target.path().join("debug").join("deps");
        let mut names: Vec<String> = std::fs::read_dir(&deps)
            .unwrap_or_else(|e| panic!("{}: {e}", deps.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("libbase-") && n.ends_with(".rlib"))
            .collect();
        names.sort();
        names
    };
    for selection in [&["--workspace"][..], &["-p", "base", "-p", "user"]] {
        let mut args = selection.to_vec();
        args.extend(["--doc", "-n", "2"]);
        let run = xdist_fixture("rerun", &args)
            .env("CARGO_TARGET_DIR", &target_dir)
            .junit()
            .run();
        run.assert_code(100);
        run.assert_no_panic();
        assert_eq!(outcome(&run, "base::doc", plain), "pass", "{}", run.ctx());
        assert_eq!(
            outcome(&run, "user::doc", "user/src/lib.rs - (line 3)"),
            "pass",
            "{}",
            run.ctx()
        );
        assert_eq!(
            outcome(&run, "base::doc", "base/src/lib.rs - add1 (line 12)"),
            "pass",
            "{}",
            run.ctx()
        );
        assert_eq!(base_rlibs().len(), 1, "{:?}{}", base_rlibs(), run.ctx());
    }
    let run = xdist_fixture("rerun", &["-p", "base", "--doc", "-n", "2"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .junit()
        .run();
    run.assert_code(100);
    assert_eq!(outcome(&run, "base::doc", plain), "fail", "{}", run.ctx());
    assert!(
        run.junit().cases.iter().all(|c| c.suite != "user::doc"),
        "-p base runs no other package's doctests{}",
        run.ctx()
    );
}

/// The header counts the tests known before the run and the packages whose
/// doctests run (not each package as one test); the closing line counts
/// every test that ran, in the singular for one.
#[test]
fn run_lines_count_doctests_honestly() {
    let run = xdist_fixture("rerun", &["--workspace", "--doc", "-n", "2"]).run();
    run.assert_code(100);
    let line = |prefix: &str| {
        (run.stdout.lines())
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}...{}", run.ctx()))
            .to_string()
    };
    // 4 libtest tests and a custom harness; base's and user's doctests.
    let header = line("Running ");
    assert!(
        header.starts_with("Running 5 tests and the doctests of 2 packages in "),
        "{header}{}",
        run.ctx()
    );
    // 5 tests and 6 doctests.
    assert!(
        line("Ran ").starts_with("Ran 11 tests in "),
        "{}",
        run.ctx()
    );

    let one = [
        "-p",
        "user",
        "--test",
        "api",
        "-n",
        "1",
        "--exact",
        "api_fails",
    ];
    let run = xdist_fixture("rerun", &one).run();
    run.assert_code(100);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.contains(&"Running 1 test in 1 group on 1 worker"),
        "{}",
        run.ctx()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Ran 1 test in ") && l.ends_with(" on 1 worker")),
        "{}",
        run.ctx()
    );
}
