//! `cargo xdist list`: each selected test with its binary, source file and
//! the group it would run in, as text or as JSON (schema version 1). With
//! `--partition`, only the shard's tests, then the shard's expected time
//! and every shard's.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::build::BuildOutput;
use crate::cli::ListArgs;
use crate::config::ListConfig;
use crate::list::CaseKind;
use crate::schedule::Listed;

/// `cargo xdist list`: build, list, select and show; the exit code.
pub fn command(args: ListArgs) -> Result<i32> {
    let config = ListConfig::new(args)?;
    let built = crate::build::build(&config.build, None)?;
    let listing = crate::list::list_all(&built, &crate::signal::Cancel::install(), None);
    let cases = crate::plan::select(listing.cases, &config.filters);
    let shown = crate::schedule::listed(&config, &built, cases, &listing.failures);
    (shown.warnings.iter()).for_each(|w| eprintln!("warning: {w}"));
    (shown.failures.iter()).for_each(|f| eprintln!("error: {}", f.message));
    write(&mut std::io::stdout().lock(), &built, &shown, &config)?;
    // A binary that cannot list fails (as under cargo test); others are listed.
    let code = crate::error::run_exit_code(false, shown.failures.len(), false, false);
    Ok(code)
}

/// The JSON listing, `{"version": 1, "tests": [...]}` (and `"partition"`
/// with `--partition`).
#[derive(Debug, Serialize)]
pub struct JsonListing<'a> {
    pub version: u32,
    pub tests: Vec<JsonTest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<JsonPartition>,
}

/// `--partition`: the shard listed and what every shard is expected to take.
#[derive(Debug, Serialize)]
pub struct JsonPartition {
    /// As asked (`time:2/4`).
    pub spec: String,
    /// As used: `time` falls back to `slice` with no recorded durations.
    pub kind: String,
    pub shard: usize,
    pub total: usize,
    /// Every shard's expected seconds, shard 1 first.
    pub expected_secs: Vec<f64>,
    /// Every shard's number of groups.
    pub groups: Vec<usize>,
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
    /// Its time in the duration store, if recorded.
    pub recorded_secs: Option<f64>,
}

/// `shard 2/4 (time): 15 tests in 4 groups, expected 2.930s; every shard: ...`.
fn shard_line(listed: &Listed, tests: usize) -> Option<String> {
    let shards = listed.shards.as_ref()?;
    let k = shards.partition.shard;
    let every: Vec<String> = (shards.expected.iter().enumerate())
        .map(|(i, secs)| format!("{}/{} {secs:.3}s", i + 1, shards.partition.total))
        .collect();
    let groups = shards.groups[k - 1];
    Some(format!(
        "shard {k}/{} ({}): {tests} tests in {groups} group{}, expected {:.3}s; every shard: {}",
        shards.partition.total,
        shards.kind.name(),
        if groups == 1 { "" } else { "s" },
        shards.expected[k - 1],
        every.join(", ")
    ))
}

/// Write the listing to `out`.
pub fn write(
    out: &mut dyn Write,
    build: &BuildOutput,
    listed: &Listed,
    config: &ListConfig,
) -> Result<()> {
    let (binaries, cases) = (&build.binaries, &listed.cases);
    if !config.json {
        for (c, key) in cases.iter().zip(&listed.groups) {
            let b = &binaries[c.binary];
            writeln!(
                out,
                "{} {} {}{}  [group: {key}]",
                b.id,
                c.source_path.as_deref().unwrap_or("-"),
                c.name,
                if c.ignored { " (ignored)" } else { "" }
            )?;
        }
        if let Some(line) = shard_line(listed, cases.len()) {
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    let tests = (cases.iter().zip(&listed.groups))
        .map(|(c, key)| {
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
                group: key.to_string(),
                recorded_secs: listed.estimates.known(c.binary, &c.name),
            }
        })
        .collect();
    let partition = listed.shards.as_ref().map(|s| JsonPartition {
        spec: s.partition.to_string(),
        kind: s.kind.name().to_string(),
        shard: s.partition.shard,
        total: s.partition.total,
        expected_secs: s.expected.clone(),
        groups: s.groups.clone(),
    });
    let listing = JsonListing {
        version: 1,
        tests,
        partition,
    };
    serde_json::to_writer_pretty(&mut *out, &listing)?;
    writeln!(out)?;
    Ok(())
}
