//! Test selection, reporting flags, `list`, and error handling of
//! `cargo xdist`, driven end to end on `fixtures/basic`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

/// The tests of BASIC (outside `custom`) whose names satisfy `pred`.
fn names(pred: impl Fn(&BasicTest) -> bool) -> BTreeSet<&'static str> {
    BASIC.iter().filter(|t| pred(t)).map(|t| t.name).collect()
}

/// The positive control for "no test ran" (see [`Run::assert_no_test_ran`]):
/// a run of the basic fixture, through the same harness, that runs tests.
fn control() -> Run {
    xdist_fixture("basic", &["-p", "gamma", "-n", "2"]).run()
}

/// The selected tests got their expected JUnit outcomes, and each that runs
/// (ignored ones only under `Include`) was recorded exactly once.
fn assert_selected_ran(run: &Run, mode: IgnoredMode, selected: impl Fn(&BasicTest) -> bool + Copy) {
    assert_outcomes(run, &run.junit(), &basic_expected(mode, selected));
    let ran =
        |t: &BasicTest| selected(t) && (mode == IgnoredMode::Include || t.exp != Exp::Ignored);
    assert_recorded_once(run, &run.records(), &names(ran));
}

// ---------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------

#[test]
fn positional_filter_runs_only_matching_tests() {
    let run = xdist_fixture(
        "basic",
        &["--workspace", "--exclude", "custom", "-n", "2", "text::"],
    )
    .junit()
    .run();
    run.assert_code(0);
    run.assert_summary(5, 0, 0);
    let selected = |t: &BasicTest| t.name.starts_with("text::");
    assert_selected_ran(&run, IgnoredMode::Skip, selected);
}

/// Like `cargo test FILTER`, a custom-harness target gets the filter as an
/// argument and runs anyway (it cannot be filtered from outside).
#[test]
fn custom_harness_targets_run_under_a_filter() {
    let run = xdist_fixture("basic", &["--workspace", "-n", "2", "text::"])
        .junit()
        .run();
    run.assert_code(100);
    run.assert_summary(6, 1, 0);
    let selected = |t: &BasicTest| t.name.starts_with("text::") || is_custom(t);
    assert_selected_ran(&run, IgnoredMode::Skip, selected);
}

fn check_exact_adds(run: &Run) {
    run.assert_code(0);
    run.assert_summary(1, 0, 0);
    let selected = |t: &BasicTest| t.name == "math::tests::adds";
    assert_selected_ran(run, IgnoredMode::Skip, selected);
}

#[test]
fn exact_filter() {
    let run = xdist_fixture(
        "basic",
        &[
            "--workspace",
            "--exclude",
            "custom",
            "-n",
            "2",
            "--exact",
            "math::tests::adds",
        ],
    )
    .junit()
    .run();
    check_exact_adds(&run);
}

#[test]
fn exact_after_double_dash_behaves_like_exact() {
    let run = xdist_fixture(
        "basic",
        &[
            "--workspace",
            "--exclude",
            "custom",
            "-n",
            "2",
            "--",
            "--exact",
            "math::tests::adds",
        ],
    )
    .junit()
    .run();
    check_exact_adds(&run);
}

#[test]
fn skip_filter() {
    let run = xdist_fixture(
        "basic",
        &[
            "--workspace",
            "--exclude",
            "custom",
            "-n",
            "2",
            "--skip",
            "slow",
        ],
    )
    .junit()
    .run();
    check_skip_slow(&run);
}

fn check_skip_slow(run: &Run) {
    // 31 libtest tests without slow_*: 28 pass, fails_on_purpose, 2 ignored.
    run.assert_code(100);
    run.assert_summary(28, 1, 2);
    let selected = |t: &BasicTest| !is_custom(t) && !t.name.contains("slow");
    assert_selected_ran(run, IgnoredMode::Skip, selected);
}

#[test]
fn ignored_runs_only_the_ignored_tests() {
    let run = xdist_fixture(
        "basic",
        &["--workspace", "--exclude", "custom", "-n", "2", "--ignored"],
    )
    .junit()
    .run();
    run.assert_code(0);
    run.assert_summary(2, 0, 0);
    let selected = |t: &BasicTest| t.exp == Exp::Ignored;
    assert_selected_ran(&run, IgnoredMode::Include, selected);
}

#[test]
fn include_ignored_runs_everything() {
    let run = xdist_fixture("basic", &["--workspace", "-n", "2", "--include-ignored"])
        .junit()
        .run();
    // 38 libtest passes + custom_ok; fails_on_purpose + custom_fail.
    run.assert_code(100);
    run.assert_summary(39, 2, 0);
    assert_selected_ran(&run, IgnoredMode::Include, |_| true);
}

// ---------------------------------------------------------------------------
// Reporting flags
// ---------------------------------------------------------------------------

#[test]
fn quiet_prints_only_failures_and_the_summary() {
    let run = xdist_fixture("basic", &["--workspace", "-n", "2", "-q", "--skip", "slow"]).run();
    run.assert_code(100);
    run.assert_summary(29, 2, 2);
    for line in run.stdout.lines() {
        assert!(
            !line.starts_with("PASS") && !line.starts_with("SKIP") && !line.starts_with("Running "),
            "-q printed a non-failure line: {line:?}{}",
            run.ctx()
        );
    }
    for name in ["math::tests::fails_on_purpose", "custom_fail"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(name)),
            "-q must still print the FAIL line of {name}{}",
            run.ctx()
        );
    }
}

#[test]
fn no_run_builds_but_runs_nothing() {
    let run = xdist_fixture("basic", &["--workspace", "--no-run"]).run();
    run.assert_code(0);
    run.assert_no_test_ran(&control(), "--no-run runs nothing");
    assert!(
        !run.stdout
            .lines()
            .any(|l| l.starts_with("PASS") || l.starts_with("FAIL")),
        "--no-run reported test results{}",
        run.ctx()
    );
    assert!(
        run.stdout.contains("Built 9 test binaries"),
        "{}",
        run.ctx()
    );
}

/// `--durations 3` lists the three tests with the longest recorded times
/// (the JUnit report's), slowest first, each with its time and worker as
/// recorded. The eight `slow_*` tests sleep 150 ms and the `api` tests do
/// not, so there is something to leave out; which ones are listed is
/// checked against the recorded times only, never against the clock.
#[test]
fn durations_prints_the_slowest_tests() {
    let run = xdist_fixture(
        "basic",
        &[
            "-p",
            "alpha",
            "--test",
            "slow",
            "--test",
            "api",
            "-n",
            "2",
            "--durations",
            "3",
        ],
    )
    .junit()
    .run();
    run.assert_code(0);
    run.assert_summary(14, 0, 1);
    let junit = run.junit();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "Slowest 3 tests:")
        .unwrap_or_else(|| panic!("no `Slowest 3 tests:` block{}", run.ctx()));
    // `  <seconds>s <worker> <binary> <test>`, as recorded in the report.
    let recorded = |c: &JCase| format!("{:.3}", c.time.unwrap_or_default().as_secs_f64());
    let mut listed = Vec::new();
    for line in lines.iter().skip(at + 1).take(3) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [secs, worker, suite, name] = fields[..] else {
            panic!("not a slowest-test line: {line:?}{}", run.ctx());
        };
        let case = junit
            .get(suite, name)
            .unwrap_or_else(|| panic!("{line:?} names no test of the report{}", run.ctx()));
        assert_eq!(
            (secs, Some(worker)),
            (
                format!("{}s", recorded(case)).as_str(),
                case.worker.as_deref()
            ),
            "{line:?} differs from the report's time and worker{}",
            run.ctx()
        );
        listed.push((secs.trim_end_matches('s').parse::<f64>().unwrap(), case));
    }
    assert_eq!(listed.len(), 3, "three tests listed{}", run.ctx());
    assert!(
        listed.windows(2).all(|w| w[0].0 >= w[1].0),
        "not slowest first: {listed:?}{}",
        run.ctx()
    );
    // No test left out took longer than the last one listed.
    let last = listed[2].0;
    for c in &junit.cases {
        let time: f64 = recorded(c).parse().unwrap();
        if !listed
            .iter()
            .any(|(_, l)| l.suite == c.suite && l.name == c.name)
        {
            assert!(
                time <= last,
                "{} {} took {time}s, longer than a listed one{}",
                c.suite,
                c.name,
                run.ctx()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------

#[test]
fn list_json() {
    let run = xdist_fixture_sub(
        "list",
        "basic",
        // One worker: each file's group whole.
        &["--workspace", "--message-format", "json", "-n", "1"],
    )
    .run();
    run.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("list output is not JSON: {e}{}", run.ctx()));
    let tests = v["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("no `tests` array{}", run.ctx()));
    assert_eq!(tests.len(), BASIC.len(), "one entry per test{}", run.ctx());
    let mut group_of: BTreeMap<(&str, &str), BTreeSet<String>> = BTreeMap::new();
    for t in BASIC {
        let entry = tests
            .iter()
            .find(|e| e["binary_id"] == t.binary && e["name"] == t.name)
            .unwrap_or_else(|| {
                panic!(
                    "{} {} missing from the listing{}",
                    t.binary,
                    t.name,
                    run.ctx()
                )
            });
        assert_eq!(
            entry["source_path"],
            t.file,
            "source_path of {}: {entry}{}",
            t.name,
            run.ctx()
        );
        assert_eq!(
            entry["ignored"],
            t.exp == Exp::Ignored,
            "ignored flag of {}: {entry}{}",
            t.name,
            run.ctx()
        );
        assert_eq!(
            entry["package"],
            t.package,
            "package of {}: {entry}{}",
            t.name,
            run.ctx()
        );
        let group = entry["group"].as_str().filter(|g| !g.is_empty());
        let group =
            group.unwrap_or_else(|| panic!("no group for {}: {entry}{}", t.name, run.ctx()));
        group_of
            .entry((t.binary, t.file))
            .or_default()
            .insert(group.to_string());
    }
    // Default (loadfile) grouping: one group per (binary, file), distinct files apart.
    let all: BTreeSet<&String> = group_of.values().flatten().collect();
    assert!(
        group_of.values().all(|g| g.len() == 1) && all.len() == group_of.len(),
        "groups do not follow source files: {group_of:#?}{}",
        run.ctx()
    );
    run.assert_no_test_ran(&control(), "listing runs nothing");
}

#[test]
fn list_human_has_one_line_per_test() {
    let run = xdist_fixture_sub("list", "basic", &["--workspace"]).run();
    run.assert_code(0);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), BASIC.len(), "one line per test{}", run.ctx());
    for t in BASIC {
        let matching: Vec<&&str> = lines
            .iter()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 3 && f[0] == t.binary && f[1] == t.file && f[2] == t.name
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{} {}: lines {matching:?}{}",
            t.binary,
            t.name,
            run.ctx()
        );
        assert_eq!(
            matching[0].contains("(ignored)"),
            t.exp == Exp::Ignored,
            "ignored marker of {}{}",
            t.name,
            run.ctx()
        );
    }
    run.assert_no_test_ran(&control(), "listing runs nothing");
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Exactly one `error:` line on stderr, no panic, nothing run.
fn assert_one_error_line(run: &Run, mentions: &str) {
    run.assert_no_panic();
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error line, got {errors:?}{}",
        run.ctx()
    );
    assert!(
        errors[0].contains(mentions),
        "the error should mention {mentions:?}{}",
        run.ctx()
    );
    run.assert_no_test_ran(&control(), "an error stops the run before any test");
}

#[test]
fn bad_worker_count_is_a_usage_error() {
    let run = xdist_fixture("basic", &["-n", "many"]).run();
    run.assert_code(2);
    assert_one_error_line(&run, "many");
}

#[test]
fn reserved_libtest_flag_is_a_usage_error() {
    let run = xdist_fixture("basic", &["--", "--test-threads=3"]).run();
    run.assert_code(2);
    assert_one_error_line(&run, "--test-threads");
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let run = xdist_fixture("basic", &["--timeout", "soon"]).run();
    run.assert_code(2);
    assert_one_error_line(&run, "soon");
}

#[test]
fn missing_manifest_is_a_one_line_error() {
    let run = xdist(&["--manifest-path", "/nonexistent/Cargo.toml"]).run();
    assert!(
        run.code.is_some_and(|c| c != 0 && c != 100 && c != 101),
        "expected a configuration error exit code{}",
        run.ctx()
    );
    assert_one_error_line(&run, "/nonexistent/Cargo.toml");
    assert_eq!(
        run.stderr_lines().len(),
        1,
        "the error should be one line{}",
        run.ctx()
    );
}

#[test]
fn compile_error_exits_101_with_the_compiler_error() {
    let dir = tempfile::Builder::new()
        .prefix("xdist-broken-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"xdist_broken_fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "pub fn broken( {\n").unwrap();
    let manifest = dir.path().join("Cargo.toml");
    let run = xdist(&["--manifest-path", manifest.to_str().unwrap(), "-n", "2"]).run();
    run.assert_code(101);
    run.assert_no_panic();
    assert!(
        run.stderr.contains("src/lib.rs") && run.stderr.contains("could not compile"),
        "stderr should carry the compiler's error{}",
        run.ctx()
    );
    assert!(
        !run.stdout.contains("Summary:"),
        "no tests should have run{}",
        run.ctx()
    );
}

// ---------------------------------------------------------------------------
// Output that must not be lost
// ---------------------------------------------------------------------------

/// `cargo test -- --nocapture` shows a failing test's output and panic
/// message live. cargo-xdist passes `--nocapture` to libtest (so libtest's
/// `failures:` section is empty) but only reports that section: the panic
/// message must still reach the user somewhere (live, or in the report).
#[test]
fn nocapture_keeps_a_failing_tests_panic_message() {
    let run = xdist_fixture(
        "basic",
        &[
            "-p",
            "alpha",
            "--lib",
            "-n",
            "1",
            "--",
            "--nocapture",
            "--exact",
            "math::tests::fails_on_purpose",
        ],
    )
    .junit()
    .run();
    run.assert_code(100);
    run.assert_summary(0, 1, 0);
    let junit = run.junit();
    let case = junit
        .get("alpha", "math::tests::fails_on_purpose")
        .unwrap_or_else(|| panic!("fails_on_purpose is not in the JUnit report{}", run.ctx()));
    let reported = match &case.outcome {
        JOutcome::Failed {
            message,
            description,
            ..
        } => format!("{message}\n{description}"),
        other => panic!("fails_on_purpose should fail, got {other:?}{}", run.ctx()),
    };
    let shown = |needle: &str| {
        run.stdout.contains(needle) || run.stderr.contains(needle) || reported.contains(needle)
    };
    assert!(
        shown("fails_on_purpose: deliberate failure"),
        "with -- --nocapture the failing test's panic message appears nowhere (stdout, stderr, JUnit){}",
        run.ctx()
    );
    assert!(
        shown("noise from fails_on_purpose"),
        "with -- --nocapture the failing test's output appears nowhere (stdout, stderr, JUnit){}",
        run.ctx()
    );
}

/// A `--junit` path that cannot be written is a usage error found before
/// the build: the error says why and no test runs.
#[test]
fn unwritable_junit_path_is_a_usage_error_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    // The report's parent "directory" is a regular file.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let junit = blocker.join("j.xml");
    let run = xdist_fixture(
        "basic",
        &["-p", "gamma", "-n", "2", "--junit", junit.to_str().unwrap()],
    )
    .run();
    run.assert_no_panic();
    assert_eq!(
        run.code,
        Some(2),
        "an unwritable --junit path is a usage error{}",
        run.ctx()
    );
    assert!(
        run.stderr.contains("JUnit") && run.stderr.contains("--junit"),
        "stderr should name the report and the flag{}",
        run.ctx()
    );
    assert!(!run.stdout.contains("PASS"), "no test may run{}", run.ctx());
    // The same command without the bad --junit runs (and records) tests.
    run.assert_no_test_ran(&control(), "an unwritable --junit path stops the run");
}

/// `--worker-env KEY=TEMPLATE` sets a variable per worker. The fixtures
/// record DATABASE_URL, so the template is given that name here (with no
/// database configured it is just a variable). The eight 150 ms `slow_*`
/// tests, one unit each under `--dist load`, keep both workers busy (as in
/// basic.rs), so each worker's expansion is seen.
#[test]
fn worker_env_templates_are_expanded_per_worker() {
    let run = xdist_fixture(
        "basic",
        &[
            "-p",
            "alpha",
            "--test",
            "slow",
            "--dist",
            "load",
            "-n",
            "2",
            "--worker-env",
            "DATABASE_URL=redis://127.0.0.1/{worker_index}?w={worker}&n={worker_count}&r={run_id}",
        ],
    )
    .run();
    run.assert_code(0);
    run.assert_summary(8, 0, 0);
    let records = run.records();
    let workers: BTreeSet<&str> = records.iter().map(|r| r.worker.as_str()).collect();
    assert_eq!(
        workers,
        BTreeSet::from(["gw0", "gw1"]),
        "both workers must run tests, or one expansion goes unchecked{}",
        run.ctx()
    );
    let run_ids: BTreeSet<&str> = records.iter().map(|r| r.run_id.as_str()).collect();
    assert!(
        run_ids.len() == 1 && run_ids.iter().all(|id| is_run_id(id)),
        "one run id for the whole run: {run_ids:?}{}",
        run.ctx()
    );
    for r in &records {
        let index = r.worker.trim_start_matches("gw");
        assert_eq!(
            r.database_url,
            format!(
                "redis://127.0.0.1/{index}?w={}&n=2&r={}",
                r.worker, r.run_id
            ),
            "{}",
            run.ctx()
        );
    }
}

/// A proc-macro crate's test binaries link std dynamically; they must find
/// the toolchain's library directory as under `cargo test`.
#[test]
fn proc_macro_crates_tests_start() {
    let run = xdist_fixture("procmacro", &["-n", "2"]).run();
    run.assert_code(0);
    run.assert_summary(2, 0, 0);
}

/// The README's options block is `cargo xdist -h`, verbatim.
#[test]
fn readme_options_block_matches_help() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("## Options")
        .and_then(|i| {
            readme[i..]
                .find("```text\n")
                .map(|j| i + j + "```text\n".len())
        })
        .expect("README has an Options section with a ```text block");
    let end = start + readme[start..].find("```").expect("the block is closed");
    let run = xdist(&["-h"]).run();
    run.assert_code(0);
    assert_eq!(
        readme[start..end].trim_end(),
        run.stdout.trim_end(),
        "update the README's Options block from `cargo xdist -h`"
    );
}

// ---------------------------------------------------------------------------
// Arguments after `--` (libtest's grammar) and runs with no test
// ---------------------------------------------------------------------------

/// `-- --color never`: `never` is `--color`'s value, not a filter (it used
/// to select no test and exit 0).
#[test]
fn color_value_after_double_dash_is_not_a_filter() {
    let run = xdist_fixture(
        "basic",
        &["-p", "gamma", "-n", "2", "--", "--color", "never"],
    )
    .junit()
    .run();
    run.assert_code(0);
    run.assert_summary(5, 0, 0);
    assert_selected_ran(&run, IgnoredMode::Skip, |t| t.package == "gamma");
}

#[test]
fn skip_after_double_dash_behaves_like_skip() {
    let args = [
        "--workspace",
        "--exclude",
        "custom",
        "-n",
        "2",
        "--",
        "--skip=slow",
    ];
    check_skip_slow(&xdist_fixture("basic", &args).junit().run());
}

/// `-Z unstable-options` is refused with a fix about `-Z`, not about `-n`
/// (which fits only `--test-threads`).
#[test]
fn unstable_options_after_double_dash_are_refused_with_a_fitting_fix() {
    let run = xdist_fixture("basic", &["-p", "gamma", "--", "-Z", "unstable-options"]).run();
    run.assert_code(2);
    assert_one_error_line(&run, "-Z unstable-options");
    let error = run.stderr.lines().find(|l| l.starts_with("error")).unwrap();
    assert!(
        error.contains("nightly-only") && !error.contains("-n"),
        "the fix should fit -Z: {error:?}{}",
        run.ctx()
    );
}

#[test]
fn a_filter_that_matches_nothing_exits_4_unless_no_tests_pass() {
    let run = xdist_fixture("basic", &["-p", "gamma", "-n", "2", "no_such_test"]).run();
    run.assert_code(4);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("error: no tests to run") && l.contains("--no-tests=pass")),
        "an empty run must say so{}",
        run.ctx()
    );
    // The error alone: no `Running 0 tests`, `Ran 0 tests`, `Summary:`.
    for line in ["Running ", "Ran ", "Summary:"] {
        assert!(!run.stdout.contains(line), "{line}{}", run.ctx());
    }
    let pass = xdist_fixture("basic", &["-p", "gamma", "--no-tests=pass", "no_such_test"]).run();
    pass.assert_code(0);
    pass.assert_summary(0, 0, 0);
    assert!(!pass.stderr.contains("no tests to run"), "{}", pass.ctx());
    let warn = xdist_fixture(
        "basic",
        &["-p", "gamma", "--no-tests", "warn", "no_such_test"],
    )
    .run();
    warn.assert_code(0);
    assert!(
        warn.stderr.contains("warning: no tests to run"),
        "{}",
        warn.ctx()
    );
}
