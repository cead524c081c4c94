//! The reports after a `--coverage` run. Each step is a function of plain
//! inputs in a module of its own: merge the `.profraw` files
//! ([`super::profdata`]), export with llvm-cov ([`super::export`], which
//! runs the tools through [`super::invoke`]), render the terminal tables
//! ([`super::summary`]) and check `--cov-fail-under`
//! ([`super::fail_under`]); which files are reported is
//! [`super::ignore`]'s, what `--cov-report` asks for [`super::spec`]'s.
//! Here, [`generate`] runs the exports that a list of [`ReportSpec`]s
//! needs. The steps are re-exported under their old paths
//! (`coverage::report::merge_profraw`, ...).

use std::time::{Duration, Instant};

use anyhow::Result;
use camino::Utf8Path;

use super::cobertura;
use super::lcov::{self, Counts};

pub use super::export::{
    CovOutput, ExportInput, export_json_to, export_lcov, export_summary, llvm_cov_args, write_html,
};
pub use super::fail_under::{FailUnder, check_fail_under};
pub use super::ignore::{IgnoreInputs, ignore_filename_regexes, outside_dir_regex};
pub use super::invoke::{RESPONSE_FILE_THRESHOLD, response_file_arg};
pub use super::profdata::{find_profraws, merge_args, merge_profraw, profdata_input_list};
pub use super::spec::{ReportSpec, ReportSpecError};
pub use super::summary::{FileSummary, Summary, parse_summary, term_table};

/// `--coverage`'s phases after the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoverageTiming {
    /// Merging the raw profiles (llvm-profdata).
    pub merge: Duration,
    /// The exports every report reads (llvm-cov export).
    pub export: Duration,
    /// Writing the requested reports (and the terminal tables).
    pub reports: Duration,
}

/// Run the exports `specs` need, write the file reports, and return the
/// terminal text (term / term-missing tables) and the line totals (for
/// [`check_fail_under`]). `root` is the workspace root (Cobertura's
/// source, the table's relative paths).
pub fn generate(
    specs: &[ReportSpec],
    input: &ExportInput,
    root: &Utf8Path,
    timing: &mut CoverageTiming,
) -> Result<(String, Counts)> {
    let exported = Instant::now();
    // Line counts come from the lcov export's DA records, as `coverage
    // merge` counts them (see [`with_lines_of`]); the two exports run at
    // once.
    // FN records only for the reports that write them.
    let functions =
        (specs.iter()).any(|s| matches!(s, ReportSpec::Lcov(_) | ReportSpec::Cobertura(_)));
    let (lcov, summary) = std::thread::scope(|s| {
        let lcov = s.spawn(|| export_lcov(input, functions));
        let summary = export_summary(input);
        let lcov = lcov.join().expect("the lcov export thread panicked");
        (lcov, summary)
    });
    let lcov = Some(lcov?);
    let summary = with_lines_of(summary?, lcov.as_ref().expect("exported"));
    timing.export += exported.elapsed();
    let written = Instant::now();
    let mut terminal = String::new();
    for spec in specs {
        match spec {
            ReportSpec::Term => terminal.push_str(&term_table(&summary, Some(root), None)),
            ReportSpec::TermMissing => {
                terminal.push_str(&term_table(&summary, Some(root), lcov.as_ref()))
            }
            ReportSpec::Lcov(path) => lcov::write(lcov.as_ref().expect("exported"), path)?,
            ReportSpec::Cobertura(path) => fs_err::write(
                path,
                cobertura::to_cobertura(
                    lcov.as_ref().expect("exported"),
                    Some(root.as_str()),
                    cobertura::now_timestamp(),
                ),
            )?,
            ReportSpec::Json(path) => export_json_to(input, path)?,
            ReportSpec::Html(dir) => {
                write_html(input, dir)?;
            }
        }
    }
    timing.reports += written.elapsed();
    Ok((terminal, summary.totals.lines))
}

/// `summary` with each file's lines (and the totals') counted from the DA
/// records of `lcov`: distinct instrumented lines, and those run. That is
/// what `coverage merge`, genhtml and coverage services count. llvm-cov's
/// own summary counts a line once per function it belongs to (a closure's
/// line for the closure and for the function around it), which no merge of
/// tracefiles can reproduce: so one definition serves the table,
/// `--cov-fail-under`, the written lcov and Cobertura, and merged reports.
pub fn with_lines_of(mut summary: Summary, lcov: &lcov::LcovReport) -> Summary {
    let mut total = Counts::default();
    for f in &mut summary.files {
        if let Some(rec) = lcov.files.get(&f.path) {
            f.lines = rec.line_counts();
        }
        total.found += f.lines.found;
        total.hit += f.lines.hit;
    }
    summary.totals.lines = total;
    summary
}
