//! `--coverage`'s report options, and `coverage merge`'s inputs.

use camino::Utf8PathBuf;

use super::options::CoverageOptions;
use super::paths::check_writable;
use crate::cli;
use crate::coverage::merge::MergeFormat;
use crate::coverage::spec::ReportSpec;
use crate::error::UsageError;

/// `--coverage` and its report options, checked.
pub(super) fn coverage_options(
    args: cli::CoverageArgs,
) -> Result<Option<CoverageOptions>, UsageError> {
    if !args.coverage {
        return Ok(None);
    }
    let mut reports = Vec::new();
    for spec in &args.cov_report {
        reports.push(spec.parse::<ReportSpec>().map_err(|e| {
            // `e` names the forms where the kind is unknown.
            UsageError(format!("invalid --cov-report `{spec}`: {e}"))
        })?);
    }
    if reports.is_empty() {
        reports.push(ReportSpec::Term);
    }
    // Before the build and the run: a report that cannot be written must
    // not cost the whole suite. This creates the reports' folders.
    for report in &reports {
        let file = match report {
            ReportSpec::Term | ReportSpec::TermMissing => continue,
            ReportSpec::Lcov(p) | ReportSpec::Cobertura(p) | ReportSpec::Json(p) => p.clone(),
            ReportSpec::Html(dir) => dir.join("index.html"),
        };
        check_writable(&file, "the coverage report", "--cov-report")?;
    }
    if let Some(pct) = args.cov_fail_under {
        if !(0.0..=100.0).contains(&pct) {
            return Err(UsageError(format!(
                "--cov-fail-under {pct} is not a percentage; give a number from 0 to 100"
            )));
        }
    }
    for re in &args.cov_ignore {
        regex::Regex::new(re).map_err(|e| {
            UsageError(format!(
                "--cov-ignore `{re}` is not a valid regex ({}); fix the pattern",
                e.to_string().lines().last().unwrap_or_default().trim()
            ))
        })?;
    }
    Ok(Some(CoverageOptions {
        reports,
        fail_under: args.cov_fail_under,
        ignore: args.cov_ignore,
    }))
}

/// `coverage merge`'s inputs and output format.
pub fn merge_inputs(args: &cli::CoverageMergeArgs) -> (Vec<Utf8PathBuf>, MergeFormat) {
    let inputs = args.inputs.iter().map(Utf8PathBuf::from).collect();
    let format = match args.format {
        cli::MergeFormat::Lcov => MergeFormat::Lcov,
        cli::MergeFormat::Cobertura => MergeFormat::Cobertura,
    };
    (inputs, format)
}
