//! What `--coverage` reports: checked by the configuration stage, used by
//! [`super::finish`].

use super::spec::ReportSpec;

/// What `--coverage` reports (by default, nothing: `--record-impact`
/// alone).
#[derive(Debug, Clone, Default)]
pub struct CoverageOptions {
    /// `--cov-report` specs, checked; `term` when none was given.
    pub reports: Vec<ReportSpec>,
    /// Fail when line coverage is below this percentage.
    pub fail_under: Option<f64>,
    /// Extra file-name regexes to leave out of the report.
    pub ignore: Vec<String>,
}
