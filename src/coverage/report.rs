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

/// Run the exports `specs` need, write the file reports, and return the
/// terminal text (term / term-missing tables) and the line totals (for
/// [`check_fail_under`]). `root` is the workspace root (Cobertura's
/// source, the table's relative paths).
pub fn generate(
    specs: &[ReportSpec],
    input: &ExportInput,
    root: &Utf8Path,
) -> Result<(String, Counts)> {
    let wants_lcov = specs.iter().any(|s| {
        matches!(
            s,
            ReportSpec::Lcov(_) | ReportSpec::Cobertura(_) | ReportSpec::TermMissing
        )
    });
    let lcov = if wants_lcov {
        Some(export_lcov(input)?)
    } else {
        None
    };
    let summary = export_summary(input)?;
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
    Ok((terminal, summary.totals.lines))
}
