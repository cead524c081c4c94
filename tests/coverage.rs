//! `--coverage` end to end on fixtures/cov with the real LLVM tools: the
//! per-file line counts equal `cargo llvm-cov nextest`'s (a process per
//! test) in every dist mode, although a test aborts and, under worksteal,
//! the owner's process is killed at the steal point; `--cov-fail-under`,
//! Cobertura, HTML and `coverage merge` do what they say.
//!
//! Needs llvm-profdata and llvm-cov of rustc's LLVM major (`apt-get install
//! llvm-NN` or `rustup component add llvm-tools`) and cargo-llvm-cov
//! (`cargo install cargo-llvm-cov --locked`); a missing one fails the test
//! with that message.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use camino::Utf8PathBuf;
use cargo_xdist::coverage::lcov::{self, per_file_lines};
use cargo_xdist::coverage::tools;
use common::*;

/// Per-file (LF, LH) keyed by the path below fixtures/cov.
type Lines = BTreeMap<String, (u64, u64)>;

fn lines_of(lcov_path: &Path) -> Lines {
    let text = std::fs::read_to_string(lcov_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lcov_path.display()));
    let report = lcov::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", lcov_path.display()));
    per_file_lines(&report)
        .into_iter()
        .map(|(path, counts)| {
            let short = path
                .split_once("/fixtures/cov/")
                .map_or(path.clone(), |(_, rest)| rest.to_string());
            (short, counts)
        })
        .collect()
}

/// `cargo llvm-cov nextest` on the fixture, once per test process.
fn nextest_lines() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let llvm = tools::find().unwrap_or_else(|e| panic!("{e}"));
        let probe = Command::new("cargo")
            .args(["llvm-cov", "--version"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            panic!(
                "cargo-llvm-cov is missing; install it with `cargo install cargo-llvm-cov --locked`"
            );
        }
        let target = fixture_target_dir().join("llvm-cov-target");
        let out = tempfile::tempdir().unwrap();
        let lcov_path = out.path().join("nextest.lcov");
        let cargo = |args: &[&str]| {
            let out = Command::new("cargo")
                .args(args)
                .current_dir(fixture_dir("cov"))
                .env("CARGO_TARGET_DIR", &target)
                .env("LLVM_COV", &llvm.cov)
                .env("LLVM_PROFDATA", &llvm.profdata)
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("LLVM_PROFILE_FILE")
                .output()
                .expect("cannot run cargo");
            assert!(
                out.status.success(),
                "cargo {args:?} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // cargo-llvm-cov takes every executable in its target dir as an
        // object, stale ones included: start clean.
        cargo(&["llvm-cov", "clean", "--workspace"]);
        cargo(&[
            "llvm-cov",
            "nextest",
            "--ignore-run-fail",
            "--lcov",
            "--output-path",
            lcov_path.to_str().unwrap(),
        ]);
        lines_of(&lcov_path)
    })
}

/// `cargo xdist --coverage` on the fixture with `args`, writing lcov.
fn xdist_lines(args: &[&str]) -> (Run, Lines) {
    let out = tempfile::tempdir().unwrap();
    let lcov_path = out.path().join("xdist.lcov");
    let report = format!("lcov:{}", lcov_path.display());
    let mut all = vec!["--coverage", "--cov-report", &report];
    all.extend(args);
    let run = xdist_fixture("cov", &all).junit().run();
    let lines = lines_of(&lcov_path);
    (run, lines)
}

#[test]
fn per_file_lines_equal_cargo_llvm_cov_nextest_in_every_dist_mode() {
    let expected = nextest_lines();
    // The fixture's point: one-process-per-binary coverage loses lines
    // here (EXPECTED.md), so equality is not trivial.
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["src/lib.rs", "src/shapes.rs", "src/steps.rs", "src/text.rs"],
        "only the workspace's own sources, not tests/"
    );
    for mode in [
        "loadfile",
        "load",
        "loadscope",
        "loadgroup",
        "worksteal",
        "no",
    ] {
        let (run, got) = xdist_lines(&["-n", "2", "--dist", mode]);
        run.assert_code(100);
        run.assert_summary(16, 1, 0);
        let junit = run.junit();
        let crash = junit
            .get("covfix::test/crash", "b_aborts")
            .unwrap_or_else(|| panic!("{mode}: no b_aborts{}", run.ctx()));
        assert_eq!(crash.outcome.short(), "fail", "{mode}{}", run.ctx());
        assert_eq!(
            &got,
            expected,
            "{mode}: per-file (LF, LH), xdist vs cargo llvm-cov nextest{}",
            run.ctx()
        );
        if mode == "worksteal" {
            assert!(
                run.stdout.contains("STEAL"),
                "worksteal must steal for this test to mean anything{}",
                run.ctx()
            );
        }
    }
}

#[test]
fn fail_under_passes_and_fails_on_each_side_of_the_real_percentage() {
    // Without the aborting test every test passes; coverage is unchanged
    // (an aborted test's own lines never count).
    let (run, lines) = xdist_lines(&["-n", "2", "--skip", "b_aborts"]);
    run.assert_code(0);
    let (lf, lh) = lines
        .values()
        .fold((0, 0), |(f, h), (lf, lh)| (f + lf, h + lh));
    let pct = 100.0 * lh as f64 / lf as f64;
    let below = format!("{:.2}", pct - 0.5);
    let above = format!("{:.2}", pct + 0.5);
    let (run, _) = xdist_lines(&["-n", "2", "--skip", "b_aborts", "--cov-fail-under", &below]);
    run.assert_code(0);
    let (run, _) = xdist_lines(&["-n", "2", "--skip", "b_aborts", "--cov-fail-under", &above]);
    run.assert_code(3);
    let actual = format!("{pct:.2}%");
    assert!(
        run.stdout.contains(&actual) && run.stdout.contains(&format!("required {above}%")),
        "the failure names the actual {actual} and the minimum{}",
        run.ctx()
    );
    assert!(run.last_line().starts_with("Summary: 16 passed, 0 failed"));
    // Failed tests win over low coverage: exit 100, coverage still
    // reported (xdist_lines read the lcov file) and checked.
    let (run, _) = xdist_lines(&["-n", "2", "--cov-fail-under", "100"]);
    run.assert_code(100);
    assert!(
        run.stdout.contains("FAIL coverage: line coverage"),
        "{}",
        run.ctx()
    );
}

#[test]
fn cobertura_html_and_term_missing_reports() {
    let out = tempfile::tempdir().unwrap();
    let xml = out.path().join("cov.xml");
    let html = out.path().join("html");
    let lcov_path = out.path().join("cov.lcov");
    let run = xdist_fixture(
        "cov",
        &[
            "-n",
            "2",
            "--coverage",
            "--cov-report",
            "term-missing",
            "--cov-report",
            &format!("cobertura:{}", xml.display()),
            "--cov-report",
            &format!("html:{}", html.display()),
            "--cov-report",
            &format!("lcov:{}", lcov_path.display()),
        ],
    )
    .run();
    run.assert_code(100);
    let lines = lines_of(&lcov_path);
    // Cobertura counts each source line once (llvm-cov's LF counts a line
    // with a closure twice), so its rate comes from the DA records.
    let report = lcov::parse(&std::fs::read_to_string(&lcov_path).unwrap()).unwrap();
    let (valid, covered) = report.files.values().fold((0, 0), |(v, c), f| {
        let hit = f.lines.values().filter(|&&n| n > 0).count();
        (v + f.lines.len(), c + hit)
    });

    // Cobertura: well-formed XML whose line-rate is lines hit / lines found.
    let text = std::fs::read_to_string(&xml).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut line_rate = None;
    let mut classes = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name == "class" {
                    classes += 1;
                }
                if name == "coverage" {
                    for a in e.attributes() {
                        let a = a.unwrap();
                        if a.key.as_ref() == b"line-rate" {
                            line_rate =
                                Some(String::from_utf8_lossy(&a.value).parse::<f64>().unwrap());
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => panic!("the Cobertura report is not well-formed XML: {e}\n{text}"),
        }
    }
    let rate = line_rate.expect("a line-rate on <coverage>");
    assert!(
        (rate - covered as f64 / valid as f64).abs() < 1e-3,
        "line-rate {rate} vs {covered}/{valid}"
    );
    assert!(
        text.contains(&format!(
            "lines-covered=\"{covered}\" lines-valid=\"{valid}\""
        )),
        "{text}"
    );
    assert_eq!(classes, lines.len(), "one class per source file\n{text}");

    // HTML: the index links to a page for every file, and the pages exist.
    let index = std::fs::read_to_string(html.join("index.html")).unwrap();
    for file in lines.keys() {
        let href = index
            .split("href='")
            .chain(index.split("href=\""))
            .skip(1)
            .map(|rest| rest.split(['\'', '"']).next().unwrap_or_default())
            .find(|h| h.ends_with(&format!("{file}.html")))
            .unwrap_or_else(|| panic!("index.html links no page for {file}"));
        assert!(html.join(href).is_file(), "{href} is linked but missing");
    }

    // term-missing: the table with the uncovered ranges (`never_called`
    // is lines 24-27 of src/lib.rs, the negative arm of double_abs 18-19).
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("src/lib.rs"))
        .unwrap_or_else(|| panic!("no src/lib.rs row{}", run.ctx()));
    assert!(row.ends_with("18-19, 24-27"), "{row}");
    assert!(run.last_line().starts_with("Summary: "), "{}", run.ctx());
}

#[test]
fn coverage_merge_joins_machines_reports() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.lcov");
    let b = dir.path().join("b.lcov");
    // Two CI machines with different checkout roots; overlapping and
    // disjoint files, functions and branches.
    std::fs::write(
        &a,
        "SF:/builds/m1/src/lib.rs\nFN:1,f\nFNDA:1,f\nDA:1,1\nDA:2,0\nBRDA:2,0,0,1\nBRDA:2,0,1,0\nLF:2\nLH:1\nend_of_record\n\
         SF:/builds/m1/src/only_a.rs\nDA:5,3\nLF:1\nLH:1\nend_of_record\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "SF:/home/ci/w/src/lib.rs\nFN:1,f\nFNDA:2,f\nFN:9,g\nFNDA:0,g\nDA:1,2\nDA:2,4\nDA:9,0\nBRDA:2,0,0,0\nBRDA:2,0,1,5\nLF:3\nLH:2\nend_of_record\n",
    )
    .unwrap();
    let out = dir.path().join("merged.lcov");
    let run = xdist(&[
        "coverage",
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--strip-prefix",
        "/builds/m1/",
        "--strip-prefix",
        "/home/ci/w/",
    ])
    .run();
    run.assert_code(0);
    let merged = lcov::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let text = lcov::to_string(&merged);
    for want in [
        "SF:src/lib.rs",
        "DA:1,3",
        "DA:2,4",
        "DA:9,0",
        "LF:3",
        "LH:2",
        "FNDA:3,f",
        "FNDA:0,g",
        "FNF:2",
        "FNH:1",
        "BRDA:2,0,0,1",
        "BRDA:2,0,1,5",
        "BRF:2",
        "BRH:2",
        "SF:src/only_a.rs",
    ] {
        assert!(text.contains(want), "merged report lacks {want}:\n{text}");
    }
    assert_eq!(
        per_file_lines(&merged),
        BTreeMap::from([
            ("src/lib.rs".to_string(), (3, 2)),
            ("src/only_a.rs".to_string(), (1, 1))
        ])
    );

    // Cobertura output of the same merge.
    let xml = dir.path().join("merged.xml");
    xdist(&[
        "coverage",
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        xml.to_str().unwrap(),
        "--format",
        "cobertura",
        "--strip-prefix",
        "/builds/m1/",
        "--strip-prefix",
        "/home/ci/w/",
    ])
    .run()
    .assert_code(0);
    let xml = std::fs::read_to_string(xml).unwrap();
    assert!(
        xml.contains(
            "line-rate=\"0.7500\" branch-rate=\"1.0000\" lines-covered=\"3\" lines-valid=\"4\""
        ),
        "3 of 4 lines: {xml}"
    );

    // A missing input is a one-line error.
    let run = xdist(&[
        "coverage",
        "merge",
        "/nonexistent.lcov",
        "-o",
        out.to_str().unwrap(),
    ])
    .run();
    assert_ne!(run.code, Some(0), "{}", run.ctx());
    run.assert_no_panic();
}

#[test]
fn a_mismatched_llvm_tool_is_a_one_line_usage_error_before_any_test_runs() {
    let fake = tempfile::tempdir().unwrap();
    let tool = Utf8PathBuf::from_path_buf(fake.path().join("llvm-cov")).unwrap();
    write_script(tool.as_std_path(), "echo 'LLVM version 3.1.0'");
    let run = xdist_fixture("cov", &["--coverage"])
        .env("LLVM_COV", tool.as_str())
        .run();
    run.assert_code(2);
    let errors: Vec<&str> = run
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.ctx());
    assert!(
        errors[0].contains(tool.as_str()) && errors[0].contains("3.1"),
        "names the tool and its version: {}",
        errors[0]
    );
    assert!(!run.stdout.contains("PASS"), "no test ran{}", run.ctx());
}

#[test]
fn coverage_options_need_coverage_and_are_checked_before_the_build() {
    let run = xdist_fixture("cov", &["--cov-report", "term"]).run();
    run.assert_code(2);
    let run = xdist_fixture("cov", &["--coverage", "--cov-report", "pdf:x"]).run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("invalid --cov-report `pdf:x`"),
        "{}",
        run.ctx()
    );
    let run = xdist_fixture("cov", &["--coverage", "--cov-fail-under", "120"]).run();
    run.assert_code(2);
    let run = xdist_fixture("cov", &["--coverage", "--cov-ignore", "(unclosed"]).run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("--cov-ignore `(unclosed`"),
        "{}",
        run.ctx()
    );
}

#[test]
fn ctrl_c_keeps_the_coverage_of_the_tests_that_finished() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let out = tempfile::tempdir().unwrap();
    let lcov_path = out.path().join("cut.lcov");
    // One worker runs the six slow steps one after the other in one process.
    let mut child = Command::new(XDIST)
        .args(["xdist", "--manifest-path", &fixture_manifest("cov")])
        .args(["-n", "1", "--no-progress", "--coverage", "step_"])
        .arg("--cov-report")
        .arg(format!("lcov:{}", lcov_path.display()))
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while !seen.contains("step_2\n") {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("the run ended before step_2 passed:\n{seen}");
        }
        seen.push_str(&line);
    }
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    seen.push_str(&rest);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "an interrupted run exits 130:\n{seen}"
    );
    let passed: Vec<u32> = (1..=6)
        .filter(|n| {
            seen.lines()
                .any(|l| l.starts_with("PASS") && l.ends_with(&format!(" step_{n}")))
        })
        .collect();
    assert!(passed.len() >= 2 && passed.len() < 6, "{passed:?}\n{seen}");
    // The process was stopped by the signal, yet every step that passed in
    // it counts: `steps::step`'s arm for step N is line N + 6.
    let report = lcov::parse(&std::fs::read_to_string(&lcov_path).unwrap()).unwrap();
    let steps = report
        .files
        .iter()
        .find(|(path, _)| path.ends_with("src/steps.rs"))
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no src/steps.rs in the report:\n{seen}"));
    for n in passed {
        let hits = steps.lines.get(&(n + 6)).copied().unwrap_or(0);
        assert!(
            hits > 0,
            "step_{n} passed but its arm is uncovered:\n{seen}"
        );
    }
}

/// Two partitions' lcov reports merged by `coverage merge` say what one
/// full run says: the same lines per file, and the table's TOTAL (the
/// number `--cov-fail-under` checks) gives the same lines and percentage as
/// the merge. llvm-cov's own summary counts a closure's line twice; the
/// tables used to show it (63 lines) where the merge counted 60.
#[test]
fn merged_partitions_agree_with_the_full_runs_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut shards = Vec::new();
    for k in 1..=2 {
        let path = dir.path().join(format!("shard-{k}.lcov"));
        let report = format!("lcov:{}", path.display());
        let part = format!("slice:{k}/2");
        let run = xdist_fixture(
            "cov",
            &[
                "--coverage",
                "-n",
                "2",
                "--partition",
                &part,
                "--cov-report",
                &report,
            ],
        )
        .run();
        assert!(matches!(run.code, Some(0 | 100)), "{}", run.ctx());
        shards.push(path);
    }
    let merged_path = dir.path().join("merged.lcov");
    let merge = xdist(&[
        "coverage",
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "-o",
        merged_path.to_str().unwrap(),
    ])
    .run();
    merge.assert_code(0);

    let full_path = dir.path().join("full.lcov");
    let report = format!("lcov:{}", full_path.display());
    let full = xdist_fixture(
        "cov",
        &[
            "--coverage",
            "-n",
            "2",
            "--cov-report",
            "term",
            "--cov-report",
            &report,
        ],
    )
    .run();
    full.assert_code(100);
    assert_eq!(
        lines_of(&merged_path),
        lines_of(&full_path),
        "{}",
        full.ctx()
    );

    // The table's TOTAL row: lines, missed, percentage.
    let total = full
        .stdout
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .unwrap_or_else(|| panic!("no TOTAL row{}", full.ctx()));
    let cols: Vec<&str> = total.split_whitespace().collect();
    let (lf, lh) = lines_of(&full_path)
        .values()
        .fold((0u64, 0u64), |(f, h), (lf, lh)| (f + lf, h + lh));
    assert_eq!(cols[1], lf.to_string(), "{total}");
    assert_eq!(cols[2], (lf - lh).to_string(), "{total}");
    let pct = format!("{:.2}%", 100.0 * lh as f64 / lf as f64);
    assert_eq!(cols[3], pct, "{total}");
    assert!(
        merge.stdout.contains(&format!("{pct} of lines covered")),
        "the merge says {pct} too: {}{}",
        merge.stdout,
        merge.ctx()
    );
}

/// The phase names of the run's `Timing:` line, in order (`coverage 0.40s
/// (merge 0.10s, ...)` gives `coverage`, `merge`, ...). Only names: the
/// durations are wall-clock times.
fn timing_phases(run: &Run) -> Vec<String> {
    let line = (run.stdout.lines())
        .find_map(|l| l.strip_prefix("Timing: "))
        .unwrap_or_else(|| panic!("no Timing: line{}", run.ctx()));
    line.replace(['(', ')'], ",")
        .split(',')
        .filter_map(|part| Some(part.trim().rsplit_once(' ')?.0.to_string()))
        .collect()
}

#[test]
fn the_timing_line_names_the_coverage_phases() {
    let (run, _) = xdist_lines(&["-n", "2", "--skip", "b_aborts"]);
    run.assert_code(0);
    assert_eq!(
        timing_phases(&run),
        [
            "build", "list", "plan", "tests", "records", "coverage", "merge", "export", "reports",
            "other", "total"
        ],
        "{}",
        run.ctx()
    );
}

/// An executable `sh` script at `path` running `body`.
fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Only the workspace is instrumented (as cargo-llvm-cov does): a path
/// dependency out of the workspace that turns on a nightly feature under
/// `cfg(coverage)` builds on stable, and is in no report; a workspace
/// rustc wrapper of the user's still runs, and sees the instrumentation.
#[test]
fn only_the_workspace_is_instrumented_and_the_users_wrapper_still_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("wrapper.log");
    let wrapper = tmp.path().join("wrapper.sh");
    write_script(
        &wrapper,
        &format!("echo \"$*\" >> '{}'\nexec \"$@\"", log.display()),
    );
    let lcov_path = tmp.path().join("out.lcov");
    let report = format!("lcov:{}", lcov_path.display());
    let run = xdist_fixture(
        "covdep",
        &["-n", "1", "--coverage", "--cov-report", &report],
    )
    .env("RUSTC_WORKSPACE_WRAPPER", wrapper.to_str().unwrap())
    // A build of its own: cargo does not rebuild for another wrapper, and
    // the wrapper's log is wanted.
    .env(
        "CARGO_TARGET_DIR",
        tmp.path().join("target").to_str().unwrap(),
    )
    .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("Summary: 1 passed"), "{}", run.stdout);
    let lcov = std::fs::read_to_string(&lcov_path).unwrap();
    let files: Vec<&str> = (lcov.lines())
        .filter_map(|l| l.strip_prefix("SF:"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("covdep/src/lib.rs"), "{files:?}");
    // `unused` never ran: its line is in the report, with no hits.
    assert!(lcov.contains("FNDA:0,"), "{lcov}");
    let log = std::fs::read_to_string(&log).unwrap();
    let compiles = |name: &str| {
        (log.lines())
            .filter(|l| l.contains(&format!("--crate-name {name} ")))
            .collect::<Vec<_>>()
    };
    let own = compiles("covdep");
    assert!(
        !own.is_empty(),
        "the user's wrapper ran for the workspace: {log}"
    );
    assert!(
        own.iter().all(|l| l.contains("instrument-coverage")),
        "{own:?}"
    );
    assert!(
        compiles("nightlyish").is_empty(),
        "cargo runs a workspace wrapper for members only: {log}"
    );
}

/// The variable that makes cargo-xdist the instrumented build's rustc
/// wrapper, leaked into a user's environment, does not turn `cargo xdist`
/// into a wrapper; run as a compiler (`-vV`, as sccache does), it answers
/// as rustc.
#[test]
fn the_wrapper_variable_does_not_hijack_a_run() {
    let run = |args: &[&str]| {
        std::process::Command::new(XDIST)
            .args(args)
            .env("CARGO_XDIST_COVERAGE_WRAPPER", "1")
            .output()
            .unwrap()
    };
    let out = run(&["xdist", "--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("cargo xdist "),
        "{out:?}"
    );
    let out = run(&["-vV"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("rustc "),
        "{out:?}"
    );
}
