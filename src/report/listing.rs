//! `cargo xdist list`: each selected test with its binary, source file and
//! the group it would run in, as text or as JSON (schema version 1).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::build::TestBinary;
use crate::config::{DistMode, GroupRule};
use crate::list::{CaseKind, TestCase};
use crate::plan::group_key;

/// The JSON listing, `{"version": 1, "tests": [...]}`.
#[derive(Debug, Serialize)]
pub struct JsonListing<'a> {
    pub version: u32,
    pub tests: Vec<JsonTest<'a>>,
}

/// One test in the JSON listing.
#[derive(Debug, Serialize)]
pub struct JsonTest<'a> {
    /// The binary's id, as run lines and JUnit suites name it.
    pub binary_id: &'a str,
    pub package: &'a str,
    pub target: &'a str,
    pub target_kind: &'a str,
    pub binary_path: &'a str,
    pub name: &'a str,
    pub kind: CaseKind,
    pub ignored: bool,
    pub source_path: Option<&'a str>,
    pub line: Option<u32>,
    /// The group the test runs in under the chosen `--dist`.
    pub group: String,
}

/// Write the listing of `cases` to `out`.
pub fn write(
    out: &mut dyn Write,
    binaries: &[TestBinary],
    cases: &[TestCase],
    dist: DistMode,
    groups: &[GroupRule],
    json: bool,
) -> Result<()> {
    if !json {
        for c in cases {
            let b = &binaries[c.binary];
            let (key, _) = group_key(dist, groups, b, c);
            writeln!(
                out,
                "{} {} {}{}  [group: {key}]",
                b.id,
                c.source_path.as_deref().unwrap_or("-"),
                c.name,
                if c.ignored { " (ignored)" } else { "" }
            )?;
        }
        return Ok(());
    }
    let tests = cases
        .iter()
        .map(|c| {
            let b = &binaries[c.binary];
            JsonTest {
                binary_id: &b.id,
                package: &b.package,
                target: &b.target_name,
                target_kind: &b.kind,
                binary_path: b.path.as_str(),
                name: &c.name,
                kind: c.kind,
                ignored: c.ignored,
                source_path: c.source_path.as_deref(),
                line: c.line,
                group: group_key(dist, groups, b, c).0,
            }
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &JsonListing { version: 1, tests })?;
    writeln!(out)?;
    Ok(())
}
