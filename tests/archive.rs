//! Build once, run anywhere: `cargo xdist archive` packs the test binaries;
//! `--archive-file --workspace-remap DIR` runs them against sources checked
//! out at DIR, with neither cargo nor rustc on PATH.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// `PATH` without any directory holding cargo or rustc (the running
/// machine has no Rust toolchain).
fn path_without_cargo() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let has_tool = |d: &str| {
        ["cargo", "rustc"]
            .iter()
            .any(|t| Path::new(d).join(t).exists())
    };
    let kept: Vec<&str> = path
        .split(':')
        .filter(|d| !d.is_empty() && !has_tool(d))
        .collect();
    assert!(kept.iter().all(|d| !has_tool(d)));
    kept.join(":")
}

/// `cargo xdist archive` of a fixture into `dir/NAME.tar.zst`.
fn make_archive(fixture: &str, dir: &Path) -> PathBuf {
    let file = dir.join(format!("{fixture}.tar.zst"));
    let run = xdist_fixture_sub(
        "archive",
        fixture,
        &["--archive-file", file.to_str().unwrap()],
    )
    .run();
    run.assert_code(0);
    assert!(
        run.stdout.starts_with("Archived ") && file.is_file(),
        "{}",
        run.ctx()
    );
    file
}

/// `cargo xdist --archive-file FILE --workspace-remap DIR ARGS`, with no
/// cargo or rustc to be found.
fn run_archive(file: &Path, remap: &Path, args: &[&str]) -> Run {
    let mut all = vec![
        "--archive-file",
        file.to_str().unwrap(),
        "--workspace-remap",
        remap.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let run = xdist(&all)
        .env("PATH", &path_without_cargo())
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .junit()
        .run();
    // The run's own records (last failures, durations) go under the
    // checkout's target/: none lands in the directory it ran from.
    let stray = repo_root().join("xdist");
    assert!(
        !stray.exists(),
        "a run from an archive wrote {}{}",
        stray.display(),
        run.ctx()
    );
    run
}

#[test]
fn archive_runs_in_a_remapped_checkout_without_cargo() {
    let tmp = fixture_copies("xdist-archive-", &["archive"]);
    let file = make_archive("archive", tmp.path());
    let checkout = std::fs::canonicalize(tmp.path().join("archive")).unwrap();

    let run = run_archive(&file, &checkout, &["-n", "2"]);
    run.assert_code(100);
    run.assert_summary(5, 1, 1);
    assert!(
        !run.stderr.contains("Finished") && !run.stderr.contains("Compiling"),
        "nothing was built{}",
        run.ctx()
    );
    let outcomes = run.junit().outcome_map();
    let want = [
        ("archived", "tests::reads_out_dir_at_run_time", "pass"),
        (
            "archived",
            "tests::build_script_variable_at_run_time",
            "pass",
        ),
        ("archived", "tests::fails_on_purpose", "fail"),
        ("archived", "tests::ignored", "skip"),
        (
            "archived::test/files",
            "reads_data_relative_to_the_working_directory",
            "pass",
        ),
        (
            "archived::test/files",
            "reads_data_under_the_manifest_dir",
            "pass",
        ),
        (
            "archived::test/tool",
            "runs_the_package_binary_named_at_run_time",
            "pass",
        ),
    ];
    for (suite, name, outcome) in want {
        let got = outcomes.get(&(suite.to_string(), name.to_string()));
        assert_eq!(got, Some(&outcome), "{suite} {name}{}", run.ctx());
    }
    // Every test ran in the checkout, and saw it as its manifest dir.
    let records = run.records();
    let tests: Vec<&Record> = records.iter().filter(|r| !r.name.contains('=')).collect();
    assert_eq!(tests.len(), 6, "{records:#?}{}", run.ctx());
    for r in &tests {
        assert_eq!(Path::new(&r.cwd), checkout, "{r:?}{}", run.ctx());
        assert_eq!(Path::new(&r.manifest_dir), checkout, "{r:?}{}", run.ctx());
    }
    // OUT_DIR and CARGO_BIN_EXE_archived-tool (read at run time) pointed
    // into the extracted archive, not into the build's target dir (which
    // is still there) nor the checkout; and the extracted copy is gone
    // after the run.
    for var in ["OUT_DIR", "CARGO_BIN_EXE_archived-tool"] {
        let prefix = format!("{var}=");
        let path = records
            .iter()
            .find_map(|r| r.name.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {var} record{}", run.ctx()));
        let path = Path::new(path);
        assert!(
            !path.starts_with(fixture_target_dir()) && !path.starts_with(&checkout),
            "{var} {} was not remapped{}",
            path.display(),
            run.ctx()
        );
        assert!(
            !path.exists(),
            "the extracted archive was left behind{}",
            run.ctx()
        );
    }
}

/// Dylib crates, custom harnesses, and a proc-macro crate whose tests link
/// std dynamically (the archive carries std's library).
#[test]
fn archived_dylibs_harnesses_and_std_library_are_found() {
    let tmp = fixture_copies("xdist-archive-", &["basic", "procmacro"]);
    let basic = make_archive("basic", tmp.path());
    let run = run_archive(&basic, &tmp.path().join("basic"), &["-n", "2"]);
    run.assert_code(100);
    run.assert_summary(37, 2, 2);
    assert_outcomes(
        &run,
        &run.junit(),
        &basic_expected(IgnoredMode::Skip, |_| true),
    );

    let procmacro = make_archive("procmacro", tmp.path());
    let run = run_archive(&procmacro, &tmp.path().join("procmacro"), &[]);
    run.assert_code(0);
    run.assert_summary(2, 0, 0);
}

/// Exit 2 with one line on stderr, an error mentioning `mention`.
fn one_error_line(run: &Run, mention: &str) {
    run.assert_code(2);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.ctx());
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(mention),
        "{}",
        run.ctx()
    );
}

#[test]
fn archive_usage_errors_come_before_anything_runs() {
    let tmp = tempfile::Builder::new()
        .prefix("xdist-archive-")
        .tempdir()
        .unwrap();
    let missing = tmp.path().join("missing.tar.zst");
    let run = run_archive(&missing, tmp.path(), &["--release"]);
    one_error_line(&run, "--release");
    let remap_only = xdist(&["--workspace-remap", tmp.path().to_str().unwrap()]).run();
    one_error_line(&remap_only, "needs --archive-file");
    let run = run_archive(&missing, tmp.path(), &[]);
    one_error_line(&run, "missing.tar.zst");
    let garbage = tmp.path().join("garbage.tar.zst");
    std::fs::write(&garbage, "not an archive").unwrap();
    let run = run_archive(&garbage, tmp.path(), &[]);
    one_error_line(&run, "cannot use the archive");
    // Sources not checked out where --workspace-remap says.
    let file = make_archive("archive", tmp.path());
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = run_archive(&file, &empty, &[]);
    one_error_line(&run, "are not checked out");
}

/// `cargo xdist archive --coverage` feeds `--archive-file --coverage`; an
/// instrumented archive is refused without --coverage, a plain one with.
#[test]
fn an_instrumented_archive_reports_coverage_where_it_was_built() {
    // A copy: the instrumented build script leaves a profile where it runs.
    let tmp = fixture_copies("xdist-archive-", &["archive", "record"]);
    let manifest = tmp.path().join("archive/Cargo.toml");
    let file = tmp.path().join("cov.tar.zst");
    let file_arg = file.to_str().unwrap();
    let made = xdist(&[
        "archive",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--coverage",
        "--archive-file",
        file_arg,
    ])
    .run();
    made.assert_code(0);
    let lcov_path = tmp.path().join("archive.lcov");
    let report = format!("lcov:{}", lcov_path.display());
    let run = xdist(&[
        "--archive-file",
        file_arg,
        "--coverage",
        "--cov-report",
        &report,
    ])
    .run();
    run.assert_code(100);
    run.assert_summary(5, 1, 1);
    let text = std::fs::read_to_string(&lcov_path)
        .unwrap_or_else(|e| panic!("no lcov report: {e}{}", run.ctx()));
    let report = cargo_xdist::coverage::lcov::parse(&text).unwrap();
    let lines = cargo_xdist::coverage::lcov::per_file_lines(&report);
    let lib = lines
        .iter()
        .find(|(path, _)| Path::new(path) == tmp.path().join("archive/src/lib.rs"))
        .unwrap_or_else(|| panic!("src/lib.rs is not in the report: {lines:?}{}", run.ctx()));
    let (found, hit) = *lib.1;
    assert!(hit > 0 && hit <= found, "{lib:?}{}", run.ctx());

    one_error_line(
        &xdist(&["--archive-file", file_arg]).run(),
        "run it with --coverage",
    );
    let plain = make_archive("archive", tmp.path());
    let run = xdist(&["--archive-file", plain.to_str().unwrap(), "--coverage"]).run();
    one_error_line(&run, "built without --coverage");
}

/// Per-file (LF, LH) of an lcov report, keyed by the path below `root`;
/// every reported file is under `root`.
fn lines_below(run: &Run, lcov_path: &Path, root: &Path) -> BTreeMap<String, (u64, u64)> {
    let text = std::fs::read_to_string(lcov_path)
        .unwrap_or_else(|e| panic!("no lcov report: {e}{}", run.ctx()));
    let report = cargo_xdist::coverage::lcov::parse(&text).unwrap();
    let lines = cargo_xdist::coverage::lcov::per_file_lines(&report);
    lines
        .into_iter()
        .map(|(path, counts)| {
            let rel = Path::new(&path)
                .strip_prefix(root)
                .unwrap_or_else(|_| panic!("{path} is not under {}{}", root.display(), run.ctx()));
            (rel.to_str().unwrap().to_string(), counts)
        })
        .collect()
}

/// An instrumented archive run against a checkout at another path (none
/// left where it was built) reports, by the checkout's paths, the same
/// per-file line counts as `--coverage` where it was built.
#[test]
fn an_instrumented_archive_reports_coverage_in_a_moved_checkout() {
    let tmp = fixture_copies("xdist-archive-", &["archive", "record"]);
    let built = std::fs::canonicalize(tmp.path().join("archive")).unwrap();
    let manifest = built.join("Cargo.toml");
    let manifest = manifest.to_str().unwrap();
    let cov = |name: &str| {
        let path = tmp.path().join(name);
        let report = format!("lcov:{}", path.display());
        (path, report)
    };
    let (here_lcov, report) = cov("here.lcov");
    let run = xdist(&[
        "--manifest-path",
        manifest,
        "--coverage",
        "--cov-report",
        &report,
    ])
    .run();
    run.assert_code(100);
    run.assert_summary(5, 1, 1);
    let want = lines_below(&run, &here_lcov, &built);
    for file in ["src/lib.rs", "src/bin/archived-tool.rs"] {
        assert!(want.contains_key(file), "{file}: {want:?}{}", run.ctx());
    }

    let file = tmp.path().join("cov.tar.zst");
    let file = file.to_str().unwrap();
    let made = xdist(&[
        "archive",
        "--manifest-path",
        manifest,
        "--coverage",
        "--archive-file",
        file,
    ])
    .run();
    made.assert_code(0);
    let moved = tmp.path().join("elsewhere/checkout");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&built, &moved).unwrap();
    let moved = std::fs::canonicalize(moved).unwrap();
    let (moved_lcov, report) = cov("moved.lcov");
    let run = xdist(&[
        "--archive-file",
        file,
        "--workspace-remap",
        moved.to_str().unwrap(),
        "--coverage",
        "--cov-report",
        &report,
        "--cov-report",
        "term",
    ])
    .run();
    run.assert_code(100);
    run.assert_summary(5, 1, 1);
    assert_eq!(
        lines_below(&run, &moved_lcov, &moved),
        want,
        "{}",
        run.ctx()
    );
    // The table names the files relative to the checkout, as usual.
    let table = run
        .stdout
        .split_once("\nCoverage:\n")
        .and_then(|(_, rest)| rest.split_once("\nTiming:"))
        .map(|(table, _)| table)
        .unwrap_or_else(|| panic!("no coverage table{}", run.ctx()));
    let rows: Vec<&str> = table.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        rows.contains(&"src/lib.rs") && rows.contains(&"src/bin/archived-tool.rs"),
        "{table}"
    );
}

/// The archive carries each binary's listing, and the run uses it instead
/// of asking the binaries: a listing planted in the build's cache (an
/// ignored test renamed) is what the archive's run reports.
#[test]
fn the_archived_listing_is_the_one_that_runs() {
    let tmp = fixture_copies("xdist-archive-", &["archive", "record"]);
    let manifest = tmp.path().join("archive/Cargo.toml");
    let target = tmp.path().join("target");
    // A listing is cached for one environment: keep it the same.
    let fixed = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--manifest-path", manifest.to_str().unwrap()]);
        xdist(&all)
            .env("CARGO_TARGET_DIR", target.to_str().unwrap())
            .env(
                "XDIST_FIXTURE_RECORD",
                tmp.path().join("records").to_str().unwrap(),
            )
            .run()
    };
    fixed(&["list"]).assert_code(0);
    let cache = target.join("xdist/list-cache");
    let mut planted = 0;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("\"tests::ignored\"") {
            std::fs::write(
                &path,
                text.replace("\"tests::ignored\"", "\"tests::planted\""),
            )
            .unwrap();
            planted += 1;
        }
    }
    assert_eq!(planted, 1, "one cached listing has tests::ignored");
    let file = tmp.path().join("listed.tar.zst");
    fixed(&["archive", "--archive-file", file.to_str().unwrap()]).assert_code(0);

    let run = run_archive(&file, &tmp.path().join("archive"), &[]);
    run.assert_summary(5, 1, 1);
    let outcomes = run.junit().outcome_map();
    let outcome = |name: &str| {
        outcomes
            .get(&("archived".to_string(), name.to_string()))
            .copied()
    };
    assert_eq!(outcome("tests::planted"), Some("skip"), "{}", run.ctx());
    assert_eq!(outcome("tests::ignored"), None, "{}", run.ctx());
}
