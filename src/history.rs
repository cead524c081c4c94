//! The last run's failures, for `--lf` / `--ff`. Every run records the
//! tests that failed in `<target dir>/xdist/last-failed.json`, under its
//! workspace's root (a target directory shared by several workspaces keeps
//! one list per workspace). The file is replaced atomically (a temporary
//! file renamed over it) under a lock, so concurrent runs never leave half
//! a record.
//!
//! As pytest's cache does, a run updates only what it learned: a test that
//! ran is recorded if it failed and dropped if it passed; the record of a
//! test that did not run (filtered out, ignored, or not reached by a run
//! that was interrupted or stopped by `-x`/`--maxfail`) stays as it was.
//!
//! A side module: it takes paths and results, not the stages' types;
//! [`crate::plan::last_failures`] reads it for `--lf`/`--ff`, and
//! [`crate::report::last_failed::save`] writes it after the run.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::event::{LISTING, TestId, TestResult};
use crate::scratch::Json;

/// The record's format version.
const VERSION: u32 = 1;

/// What `last-failed.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// Workspace root → the tests that failed in its last run.
    workspaces: BTreeMap<String, BTreeSet<TestId>>,
}

/// `<target dir>/xdist/last-failed.json`.
pub fn path(target_directory: &Utf8Path) -> Utf8PathBuf {
    target_directory.join("xdist").join("last-failed.json")
}

/// The tests recorded as failed in the last run of the workspace at
/// `workspace_root` whose target directory is `target_directory`. A record
/// that cannot be read is an error that says why.
pub fn load(target_directory: &Utf8Path, workspace_root: &Utf8Path) -> Result<BTreeSet<TestId>> {
    let mut record = read(&path(target_directory))?;
    Ok((record.workspaces)
        .remove(workspace_root.as_str())
        .unwrap_or_default())
}

/// Record this run's failures (and, under `--flaky-fails`, its flaky
/// tests) for the workspace at `workspace_root`, keeping what is known of
/// the tests that did not run. `relisted`: the ids of the binaries that
/// were listed again (their old listing failure goes).
pub fn save(
    target_directory: &Utf8Path,
    workspace_root: &Utf8Path,
    relisted: &[&str],
    results: &[TestResult],
    flaky_fails: bool,
) -> Result<()> {
    let file = path(target_directory);
    let dir = file.parent().expect("the record is in a directory");
    let _lock = crate::scratch::lock(&dir.join("last-failed.lock"))?;
    // A record that cannot be read is replaced by this run's.
    let mut record = read(&file).unwrap_or_default();
    record.version = VERSION;
    let root = workspace_root.to_string();
    let mut failed = record.workspaces.remove(&root).unwrap_or_default();
    update(&mut failed, relisted, results, flaky_fails);
    if !failed.is_empty() {
        record.workspaces.insert(root, failed);
    }
    crate::scratch::write_json(&file, &record, 0o600, Json::Pretty)
}

/// Apply this run's verdicts to one workspace's failed tests.
fn update(
    failed: &mut BTreeSet<TestId>,
    relisted: &[&str],
    results: &[TestResult],
    flaky_fails: bool,
) {
    // Every built binary was listed again: its old listing failure goes
    // (this run's, if any, is among the results).
    for binary in relisted {
        failed.remove(&TestId {
            binary: binary.to_string(),
            name: LISTING.into(),
        });
    }
    for r in results {
        if !r.outcome.ran() {
            continue;
        }
        if r.outcome.is_failure() || (flaky_fails && r.is_flaky()) {
            failed.insert(r.id());
        } else {
            failed.remove(&r.id());
        }
    }
}

/// The record at `file`; none yet is an empty one.
fn read(file: &Utf8Path) -> Result<Record> {
    let text = match fs_err::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {file}")),
    };
    let record: Record = serde_json::from_str(&text)
        .with_context(|| format!("cannot read the last-failed record {file}"))?;
    anyhow::ensure!(
        record.version == VERSION,
        "the last-failed record {file} has format version {}, not {VERSION}",
        record.version
    );
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::BuildOutput;
    use crate::config::LastFailed;
    use crate::event::Outcome;
    use crate::event::RunSummary;
    use crate::plan::LastFailures;

    // The record as the pipeline reads and writes it.
    fn load(b: &BuildOutput, mode: LastFailed) -> LastFailures {
        crate::plan::last_failures(b, mode)
    }
    fn save(b: &BuildOutput, summary: &RunSummary, flaky_fails: bool) -> Result<()> {
        crate::report::last_failed::save(b, summary, flaky_fails)
    }

    fn build(dir: &Utf8Path, root: &str) -> BuildOutput {
        BuildOutput {
            binaries: vec![],
            doc_packages: vec![],
            workspace_root: root.into(),
            target_directory: dir.to_path_buf(),
            ..Default::default()
        }
    }

    fn id(binary: &str, name: &str) -> TestId {
        TestId {
            binary: binary.into(),
            name: name.into(),
        }
    }

    fn summary(results: &[(&str, Outcome, u32)]) -> RunSummary {
        RunSummary {
            results: results
                .iter()
                .map(|&(name, outcome, attempt)| {
                    TestResult::new("b", name, None, "g", "gw0", outcome)
                        .on_attempt(attempt, 2, false)
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_run_updates_what_ran_and_keeps_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let ws = build(dir, "/ws");
        let lf = |b: &BuildOutput| load(b, LastFailed::Only);
        assert!(lf(&ws).tests.is_empty() && lf(&ws).unreadable.is_none());
        assert!(load(&ws, LastFailed::Off).tests.is_empty());

        let first = summary(&[
            ("a", Outcome::Failed, 1),
            ("b", Outcome::TimedOut, 1),
            ("c", Outcome::Passed, 1),
        ]);
        save(&ws, &first, false).unwrap();
        let want: BTreeSet<_> = [id("b", "a"), id("b", "b")].into();
        assert_eq!(lf(&ws).tests, want);
        assert!(
            load(&ws, LastFailed::Off).tests.is_empty(),
            "off reads nothing"
        );

        // `a` passes, `b` does not run (filtered, or the run stopped), `c`
        // is flaky: under --flaky-fails it is recorded.
        let second = summary(&[("a", Outcome::Passed, 1), ("c", Outcome::Passed, 2)]);
        save(&ws, &second, true).unwrap();
        let want: BTreeSet<_> = [id("b", "b"), id("b", "c")].into();
        assert_eq!(lf(&ws).tests, want);
        save(&ws, &second, false).unwrap();
        assert_eq!(lf(&ws).tests, [id("b", "b")].into());

        // Another workspace sharing the target directory has its own list.
        let other = build(dir, "/other");
        assert!(lf(&other).tests.is_empty());
        save(&other, &summary(&[("z", Outcome::Failed, 1)]), false).unwrap();
        assert_eq!(lf(&other).tests, [id("b", "z")].into());
        assert_eq!(lf(&ws).tests, [id("b", "b")].into());

        // Nothing is left behind but the record and its lock.
        let mut names: Vec<_> = std::fs::read_dir(dir.join("xdist"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["last-failed.json", "last-failed.lock"]);
    }

    #[test]
    fn an_unreadable_record_selects_nothing_and_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let ws = build(dir, "/ws");
        std::fs::create_dir_all(dir.join("xdist")).unwrap();
        std::fs::write(path(dir), "{ not json").unwrap();
        let last = load(&ws, LastFailed::First);
        assert!(last.tests.is_empty());
        let why = last.unreadable.expect("a reason");
        assert!(why.contains("last-failed.json"), "{why}");
        save(&ws, &summary(&[("a", Outcome::Failed, 1)]), false).unwrap();
        assert_eq!(load(&ws, LastFailed::Only).tests, [id("b", "a")].into());
    }

    #[test]
    fn a_listing_failure_is_dropped_once_the_binary_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let mut ws = build(dir, "/ws");
        save(&ws, &summary(&[(LISTING, Outcome::Failed, 1)]), false).unwrap();
        assert_eq!(load(&ws, LastFailed::Only).tests, [id("b", LISTING)].into());
        ws.binaries.push(crate::plan::tests::bin("b"));
        save(&ws, &summary(&[]), false).unwrap();
        assert!(load(&ws, LastFailed::Only).tests.is_empty());
    }
}
