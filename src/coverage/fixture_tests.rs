//! The coverage library end to end on `fixtures/cov`, with the real LLVM
//! tools (found by [`tools::find`]; the test fails with the install
//! message when they are missing). It builds the fixture instrumented,
//! runs every test in its own process, as a process-per-test runner does,
//! merges and exports with [`report`], and checks what is covered.
//!
//! Parity with cargo-llvm-cov (`fixtures/cov/parity.sh`): with
//! `XDIST_COV_PARITY_LCOV=<lcov of cargo llvm-cov nextest>` the per-file
//! LF/LH must be exactly equal; `XDIST_COV_PARITY_OUT=<path>` keeps our
//! lcov; `XDIST_COV_PARITY_TARGET=<dir>` builds there instead of a temp dir.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use camino::{Utf8Path, Utf8PathBuf};

use super::lcov::{self, LcovReport, per_file_lines};
use super::report::{self, ExportInput, IgnoreInputs, ReportSpec};
use super::{cobertura, tools};

fn fixture_dir() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/cov")
}

/// `cargo test --no-run` with the coverage flags; the test executables.
fn build_fixture(target_dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let out = Command::new(crate::build::cargo_program())
        .args(["test", "--no-run", "--message-format=json", "--target-dir"])
        .arg(target_dir)
        .current_dir(fixture_dir())
        .env("RUSTFLAGS", "-C instrument-coverage --cfg coverage")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("LLVM_PROFILE_FILE")
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo");
    assert!(out.status.success(), "building fixtures/cov failed");
    let mut bins: Vec<Utf8PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| m["executable"].as_str().map(Utf8PathBuf::from))
        .collect();
    bins.sort();
    bins
}

/// Run each test of each binary in its own process; (test, passed).
fn run_each_test(bins: &[Utf8PathBuf], profile_dir: &Utf8Path) -> Vec<(String, bool)> {
    let mut results = Vec::new();
    for bin in bins {
        let list = Command::new(bin)
            .args(["--list", "--format", "terse"])
            .env("LLVM_PROFILE_FILE", "/dev/null")
            .output()
            .expect("listing tests");
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let Some(name) = line.strip_suffix(": test") else {
                continue;
            };
            let status = Command::new(bin)
                .args(["--exact", name, "--test-threads", "1", "-q"])
                .current_dir(fixture_dir())
                .env(
                    "LLVM_PROFILE_FILE",
                    profile_dir.join("xdist-gw0-%p-%m.profraw"),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("running a test");
            results.push((name.to_string(), status.success()));
        }
    }
    results.sort();
    results
}

/// Hits of the functions whose mangled name contains `name` (all their
/// instances), in `file`.
fn function_hits(report: &LcovReport, file: &str, name: &str) -> u64 {
    let path = fixture_dir().join(file);
    let record = &report.files[path.as_str()];
    let found: Vec<u64> = record
        .functions
        .iter()
        .filter(|(n, _)| n.contains(name))
        .map(|(_, f)| f.hits)
        .collect();
    assert!(!found.is_empty(), "no function {name} in {file}");
    found.iter().sum()
}

#[test]
fn process_per_test_coverage_of_the_fixture() {
    let llvm = tools::find().unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempfile::tempdir().unwrap();
    let scratch = Utf8Path::from_path(scratch.path()).unwrap();
    let target_dir = std::env::var("XDIST_COV_PARITY_TARGET")
        .map(Utf8PathBuf::from)
        .unwrap_or_else(|_| scratch.join("target"));
    let profiles = scratch.join("profiles");
    fs_err::create_dir_all(&profiles).unwrap();

    let bins = build_fixture(&target_dir);
    let names: Vec<&str> = bins.iter().map(|b| b.file_name().unwrap()).collect();
    assert_eq!(bins.len(), 4, "unit + area + crash + words: {names:?}");

    let results = run_each_test(&bins, &profiles);
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.1)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(results.len(), 11);
    assert_eq!(failed, ["b_aborts"]);

    // 10 processes exited normally and wrote a profile; the aborted one did not.
    let mut profraws = report::find_profraws(&profiles).unwrap();
    assert_eq!(profraws.len(), 10);
    // A torn profile is skipped with a warning, not fatal.
    let torn = profiles.join("torn.profraw");
    fs_err::write(&torn, b"not a profile").unwrap();
    profraws.push(torn);
    let profdata = scratch.join("merged.profdata");
    let warnings = report::merge_profraw(&llvm, &profraws, &profdata, Some(2)).unwrap();
    assert!(warnings.contains("torn.profraw"), "{warnings}");

    let root = fixture_dir();
    let ignore = report::ignore_filename_regexes(&IgnoreInputs::from_env(&root, &target_dir));
    let input = ExportInput {
        tools: &llvm,
        profdata: &profdata,
        objects: &bins,
        ignore: &ignore,
    };
    let ours = report::export_lcov(&input).unwrap();
    let lines = per_file_lines(&ours);
    eprintln!("process per test, per-file (LF, LH): {lines:#?}");

    // Only the library's sources: not tests/, not the standard library.
    let files: Vec<String> = lines
        .keys()
        .map(|p| lcov::strip_prefix(p, &[root.to_string()]))
        .collect();
    assert_eq!(files, ["src/lib.rs", "src/shapes.rs", "src/text.rs"]);

    // Covered only by tests before/after the abort in the crash binary.
    assert!(function_hits(&ours, "src/text.rs", "13reverse_words") > 0);
    assert!(function_hits(&ours, "src/shapes.rs", "9perimeter") > 0);
    assert!(function_hits(&ours, "src/text.rs", "8initials") > 0);
    // Covered only by the aborting test, and by nothing.
    assert_eq!(function_hits(&ours, "src/shapes.rs", "8describe"), 0);
    assert_eq!(function_hits(&ours, "src/lib.rs", "12never_called"), 0);

    // The llvm-cov summary records agree with ours.
    let raw = String::from_utf8(
        Command::new(&llvm.cov)
            .arg("export")
            .args(report::llvm_cov_args(report::CovOutput::Lcov, &input))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        recorded_summaries(&raw),
        recorded_summaries(&lcov::to_string(&ours))
    );

    // The outside-the-workspace rule, as llvm-cov's POSIX regex engine
    // reads it: only the files under src/ are left.
    let only_src = [report::outside_dir_regex(&root.join("src")).unwrap()];
    let src_only = report::export_lcov(&ExportInput {
        ignore: &only_src,
        ..input.clone()
    })
    .unwrap();
    assert_eq!(
        src_only.files.keys().collect::<Vec<_>>(),
        ours.files.keys().collect::<Vec<_>>()
    );

    // Thousands of arguments go through a response file: same result.
    let mut many = ignore.clone();
    many.extend((0..3000).map(|i| format!("^/nonexistent/{i:05}/")));
    let via_rsp = report::export_lcov(&ExportInput {
        ignore: &many,
        ..input.clone()
    })
    .unwrap();
    assert_eq!(via_rsp, ours);

    if let Ok(path) = std::env::var("XDIST_COV_PARITY_OUT") {
        lcov::write(&ours, Utf8Path::new(&path)).unwrap();
    }
    if let Ok(path) = std::env::var("XDIST_COV_PARITY_LCOV") {
        let theirs_report = lcov::read(Utf8Path::new(&path)).unwrap();
        let theirs = per_file_lines(&theirs_report);
        eprintln!("{path}, per-file (LF, LH): {theirs:#?}");
        assert_eq!(lines, theirs, "per-file LF/LH differ from {path}");
        // Line by line too: the same lines, each run as often.
        let da = |r: &LcovReport| -> BTreeMap<String, BTreeMap<u32, u64>> {
            r.files
                .iter()
                .map(|(p, f)| (p.clone(), f.lines.clone()))
                .collect()
        };
        assert_eq!(
            da(&ours),
            da(&theirs_report),
            "DA records differ from {path}"
        );
    }

    // Every report kind.
    let out = scratch.join("out");
    fs_err::create_dir_all(&out).unwrap();
    let specs: Vec<ReportSpec> = [
        "term-missing",
        "term",
        &format!("lcov:{out}/c.lcov"),
        &format!("cobertura:{out}/c.xml"),
        &format!("json:{out}/c.json"),
        &format!("html:{out}/html"),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let (terminal, totals) = report::generate(&specs, &input, &root).unwrap();
    eprintln!("{terminal}");
    assert_eq!(totals, ours.line_totals());
    assert_eq!(lcov::read(&out.join("c.lcov")).unwrap(), ours);
    let shapes = terminal
        .lines()
        .find(|l| l.starts_with("src/shapes.rs"))
        .unwrap();
    let uncovered =
        lcov::format_ranges(&ours.files[root.join("src/shapes.rs").as_str()].uncovered_lines());
    assert!(shapes.ends_with(&uncovered), "{shapes} / {uncovered}");
    assert_eq!(terminal.matches("TOTAL").count(), 2);
    let xml = fs_err::read_to_string(out.join("c.xml")).unwrap();
    let rate = cobertura::rate(ours.totals(lcov::FileRecord::line_counts));
    assert!(
        xml.contains(&format!("<coverage line-rate=\"{rate}\"")),
        "{xml}"
    );
    assert!(xml.contains("filename=\"src/shapes.rs\""));
    let json = fs_err::read(out.join("c.json")).unwrap();
    assert_eq!(report::parse_summary(&json).unwrap().totals.lines, totals);
    let index = fs_err::read_to_string(out.join("html/index.html")).unwrap();
    for file in ours.files.keys() {
        assert!(
            index.contains(&format!("href='coverage{file}.html'")),
            "index.html links no page for {file}"
        );
        assert!(out.join(format!("html/coverage{file}.html")).is_file());
    }
    let pct = report::check_fail_under(totals, 50.0).unwrap();
    assert!(report::check_fail_under(totals, pct + 0.01).is_err());
}

/// SF → (FNF, FNH, LF, LH, BRF, BRH) as written in a tracefile.
fn recorded_summaries(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(sf) = line.strip_prefix("SF:") {
            current = sf.to_string();
        }
        for key in ["FNF:", "FNH:", "LF:", "LH:", "BRF:", "BRH:"] {
            if line.starts_with(key) {
                out.entry(current.clone())
                    .or_insert_with(Vec::new)
                    .push(line.to_string());
            }
        }
    }
    out
}
