//! The record files the fixture tests write (fixtures/record): which test
//! ran in which process, on which worker, with which database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::xdist::Run;

/// One line of `$XDIST_FIXTURE_RECORD/<pid>.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub pid: u32,
    pub worker: String,
    pub worker_count: String,
    pub run_id: String,
    pub cwd: String,
    pub manifest_dir: String,
    pub database_url: String,
}

pub fn read_records(dir: &Path) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    // A missing directory is an error, not "no records": the harness creates
    // it before every run, so it was deleted or this is the wrong path.
    let rd =
        std::fs::read_dir(dir).map_err(|e| format!("record directory {}: {e}", dir.display()))?;
    for entry in rd {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem_pid: Option<u32> = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok());
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 8 {
                return Err(format!(
                    "{}: record line without 8 fields: {line:?}",
                    path.display()
                ));
            }
            let pid: u32 = f[1].parse().map_err(|_| format!("bad pid in {line:?}"))?;
            if stem_pid != Some(pid) {
                return Err(format!(
                    "{}: record of pid {pid} in another pid's file",
                    path.display()
                ));
            }
            out.push(Record {
                name: f[0].into(),
                pid,
                worker: f[2].into(),
                worker_count: f[3].into(),
                run_id: f[4].into(),
                cwd: f[5].into(),
                manifest_dir: f[6].into(),
                database_url: f[7].into(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid)));
    Ok(out)
}

/// Records grouped by test name.
pub fn records_by_name(records: &[Record]) -> BTreeMap<&str, Vec<&Record>> {
    let mut m: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        m.entry(r.name.as_str()).or_default().push(r);
    }
    m
}

pub fn is_run_id(s: &str) -> bool {
    s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Assert that exactly the tests named in `expected` were executed, each
/// exactly once (one record line each).
pub fn assert_recorded_once(run: &Run, records: &[Record], expected: &BTreeSet<&str>) {
    let by_name = records_by_name(records);
    let mut problems = Vec::new();
    for name in expected {
        match by_name.get(name).map(|v| v.len()) {
            None => problems.push(format!("{name}: never ran (no record)")),
            Some(1) => {}
            Some(n) => problems.push(format!("{name}: ran {n} times")),
        }
    }
    for name in by_name.keys() {
        if !expected.contains(name) {
            problems.push(format!("{name}: ran but was not selected"));
        }
    }
    assert!(
        problems.is_empty(),
        "record files do not match the selected tests:\n  {}\nrecords: {records:#?}{}",
        problems.join("\n  "),
        run.ctx()
    );
}
