//! Listing stage: ask every test binary (in parallel) for its tests.
//! Prefers libtest's JSON listing, which carries each test's source file and
//! line; falls back to the terse listing (module paths only). Targets with
//! `harness = false` are not asked: each is one unit judged by exit code.
//!
//! A listing runs as a test does, in a process group of its own, so that a
//! binary that hangs in `--list` is killed after a time limit (`--timeout`,
//! else [`DEFAULT_LIST_LIMIT`]) and fails alone, as one that crashes does,
//! and so that a cancelled run stops listing at once.
//! A build's listings are cached ([`cache`]).

pub mod cache;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use camino::Utf8Path;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::build::{BuildOutput, TestBinary};
use crate::env::test_command;
use crate::error::describe_status;
use crate::process::{self, KillReason};
use crate::signal::Cancel;

/// How long a binary may take to list its tests when `--timeout` is not
/// given.
pub const DEFAULT_LIST_LIMIT: Duration = Duration::from_secs(60);

/// What kind of unit a test case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseKind {
    /// A libtest test, run by name.
    Libtest,
    /// A whole custom-harness binary, run once and judged by its exit code.
    CustomHarness,
}

/// One test of one binary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestCase {
    /// Index into the build's binaries.
    #[serde(skip)]
    pub binary: usize,
    /// The libtest name (`math::tests::adds`); the target name for a custom harness.
    pub name: String,
    pub ignored: bool,
    /// Source file as rustc saw it (from the JSON listing), if known.
    pub source_path: Option<String>,
    pub line: Option<u32>,
    pub kind: CaseKind,
}

/// A binary that could not list its tests (it crashed, or its libraries
/// are missing). The run goes on without it and reports it as a failure,
/// as `cargo test` fails that binary and runs the others.
#[derive(Debug, Clone)]
pub struct ListFailure {
    /// Index into the build's binaries.
    pub binary: usize,
    pub message: String,
}

/// What listing found.
#[derive(Debug, Default)]
pub struct Listing {
    /// All binaries' tests, in binary order then libtest's (name) order.
    pub cases: Vec<TestCase>,
    pub failures: Vec<ListFailure>,
}

/// List every binary's tests, in parallel, each within `limit` (default
/// [`DEFAULT_LIST_LIMIT`]), reusing the listings cached in the build's
/// target directory (for an extracted archive: the listings it was made
/// with). Once the run is cancelled nothing is listed.
pub fn list_all(build: &BuildOutput, cancel: &Cancel, limit: Option<Duration>) -> Listing {
    let (binaries, workspace_root) = (&build.binaries, &build.workspace_root);
    let limits = Limits {
        cancel,
        time: limit.unwrap_or(DEFAULT_LIST_LIMIT),
    };
    let cache =
        (!build.target_dir.as_str().is_empty()).then(|| cache::ListCache::new(&build.target_dir));
    let per_binary: Vec<Result<Vec<TestCase>>> = binaries
        .par_iter()
        .enumerate()
        .map(|(i, b)| {
            let mut cases = match &cache {
                Some(cache) if !b.custom_harness => {
                    cache.get_or_list(b, || list_binary(i, b, &limits))?
                }
                _ => list_binary(i, b, &limits)?,
            };
            cases.iter_mut().for_each(|c| c.binary = i);
            for c in &mut cases {
                c.source_path = c
                    .source_path
                    .take()
                    .map(|p| package_relative(&p, workspace_root, &b.manifest_dir));
            }
            Ok(cases)
        })
        .collect();
    let mut listing = Listing::default();
    if cancel.is_cancelled() {
        // The run stops before any test: no binary failed to list.
        return listing;
    }
    for (binary, r) in per_binary.into_iter().enumerate() {
        match r {
            Ok(cases) => listing.cases.extend(cases),
            Err(e) => listing.failures.push(ListFailure {
                binary,
                message: format!("{e:#}"),
            }),
        }
    }
    listing
}

/// What bounds one listing.
struct Limits<'a> {
    cancel: &'a Cancel,
    time: Duration,
}

fn list_binary(index: usize, binary: &TestBinary, limits: &Limits) -> Result<Vec<TestCase>> {
    if binary.custom_harness {
        return Ok(vec![TestCase {
            binary: index,
            name: binary.target_name.clone(),
            ignored: false,
            source_path: Some(binary.src_path.to_string()),
            line: None,
            kind: CaseKind::CustomHarness,
        }]);
    }
    let json = run_list(
        binary,
        &["--list", "--format", "json", "-Zunstable-options"],
        true,
        limits,
    )?;
    if json.0 {
        if let Some(mut cases) = parse_json_list(&json.1) {
            cases.iter_mut().for_each(|c| c.binary = index);
            return Ok(cases);
        }
    }
    // Older toolchains: terse listing, once for all tests and once for the ignored ones.
    let all = run_list(binary, &["--list", "--format", "terse"], false, limits)?;
    if !all.0 {
        bail!(
            "cannot list the tests of {} ({}): `--list` failed\n{}",
            binary.id,
            binary.path,
            all.1.trim_end()
        );
    }
    let ignored = run_list(
        binary,
        &["--list", "--format", "terse", "--ignored"],
        false,
        limits,
    )?;
    let ignored: std::collections::HashSet<String> =
        parse_terse_list(&ignored.1).into_iter().collect();
    let mut cases: Vec<TestCase> = parse_terse_list(&all.1)
        .into_iter()
        .map(|name| TestCase {
            binary: index,
            ignored: ignored.contains(&name),
            name,
            source_path: None,
            line: None,
            kind: CaseKind::Libtest,
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// rustc names a workspace member's files relative to the workspace root
/// (`alpha/src/math.rs`); show them relative to the package (`src/math.rs`).
fn package_relative(path: &str, workspace_root: &Utf8Path, package_dir: &Utf8Path) -> String {
    let p = Utf8Path::new(path);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        workspace_root.join(p)
    };
    abs.strip_prefix(package_dir)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// Run `<bin> <args>`; returns (success, stdout + stderr). A listing that
/// runs out of time or is cancelled is an error.
fn run_list(
    binary: &TestBinary,
    args: &[&str],
    unstable: bool,
    limits: &Limits,
) -> Result<(bool, String)> {
    let mut cmd = test_command(binary, None, None);
    cmd.args(args);
    if unstable {
        // Only the listing child gets this: the tests themselves never see it.
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    let out = process::output(cmd, limits.cancel, limits.time)
        .with_context(|| format!("cannot run test binary {} ({})", binary.id, binary.path))?;
    match out.finished.killed {
        Some(KillReason::Timeout) => bail!(
            "cannot list the tests of {} ({}): `--list` did not finish within {}; killed it\n{}",
            binary.id,
            binary.path,
            humantime::format_duration(limits.time),
            String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).trim_end()
        ),
        Some(KillReason::Cancelled) => bail!("listing {} was interrupted", binary.id),
        None => {}
    }
    let out = std::process::Output {
        status: out.finished.status,
        stdout: out.stdout,
        stderr: out.stderr,
    };
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text.push_str(&format!(
            "\n(the binary ended with {})",
            describe_status(&out.status)
        ));
    }
    Ok((out.status.success(), text))
}

/// Parse `--list --format json`: one JSON object a line; `None` when the
/// output is not libtest's (e.g. a harness that ignores the flags).
pub fn parse_json_list(text: &str) -> Option<Vec<TestCase>> {
    let mut cases = Vec::new();
    let mut saw_suite = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        match (v["type"].as_str(), v["event"].as_str()) {
            (Some("suite"), _) => saw_suite = true,
            (Some("test"), Some("discovered")) => cases.push(TestCase {
                binary: 0,
                name: v["name"].as_str()?.to_string(),
                ignored: v["ignore"].as_bool().unwrap_or(false),
                source_path: v["source_path"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(String::from),
                line: v["start_line"].as_u64().map(|l| l as u32),
                kind: CaseKind::Libtest,
            }),
            // Benchmarks are not tests.
            (Some("bench"), _) => {}
            _ => {}
        }
    }
    if !saw_suite {
        return None;
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Some(cases)
}

/// Parse `--list --format terse`: `name: test` lines (benchmarks dropped).
pub fn parse_terse_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON_LIST: &str = r#"{ "type": "suite", "event": "discovery" }
{ "type": "test", "event": "discovered", "name": "tests::inner::four", "ignore": false, "ignore_message": "", "source_path": "src/lib.rs", "start_line": 7, "start_col": 28, "end_line": 7, "end_col": 32 }
{ "type": "test", "event": "discovered", "name": "tests::one", "ignore": false, "ignore_message": "", "source_path": "src/lib.rs", "start_line": 4, "start_col": 16, "end_line": 4, "end_col": 19 }
{ "type": "test", "event": "discovered", "name": "tests::two", "ignore": true, "ignore_message": "", "source_path": "src/math.rs", "start_line": 5, "start_col": 26, "end_line": 5, "end_col": 29 }
{ "type": "suite", "event": "completed", "tests": 3, "benchmarks": 0, "total": 3, "ignored": 1 }
"#;

    #[test]
    fn parses_json_listing_with_sources() {
        let cases = parse_json_list(JSON_LIST).unwrap();
        let names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tests::inner::four", "tests::one", "tests::two"]);
        assert_eq!(cases[2].source_path.as_deref(), Some("src/math.rs"));
        assert!(cases[2].ignored);
        assert_eq!(cases[1].line, Some(4));
    }

    #[test]
    fn non_libtest_output_is_not_a_listing() {
        assert!(parse_json_list("custom harness ran\n").is_none());
        assert!(parse_json_list("").is_none());
    }

    #[test]
    fn source_paths_become_package_relative() {
        let root = Utf8Path::new("/ws");
        assert_eq!(
            package_relative("alpha/src/math.rs", root, Utf8Path::new("/ws/alpha")),
            "src/math.rs"
        );
        assert_eq!(
            package_relative("src/lib.rs", root, Utf8Path::new("/ws")),
            "src/lib.rs"
        );
        assert_eq!(
            package_relative("/elsewhere/x.rs", root, Utf8Path::new("/ws")),
            "/elsewhere/x.rs"
        );
    }

    #[test]
    fn terse_listing_drops_benchmarks() {
        let names = parse_terse_list("a::b: test\nc: benchmark\nd: test\n");
        assert_eq!(names, ["a::b", "d"]);
    }
}
