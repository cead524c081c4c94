//! `--record-impact`, `--affected [REF]`, `--impact-file`,
//! `--affected-ignore`: checked, with the instrumented build that
//! recording needs.

use camino::Utf8PathBuf;

use super::options::CoverageOptions;
use crate::cli::ImpactArgs;
use crate::error::UsageError;

/// The impact options of a run.
#[derive(Debug, Clone, Default)]
pub struct ImpactOptions {
    /// `--record-impact`: one process per test, and the map written.
    pub record: bool,
    /// `--affected`: Some(None); `--affected REF`: Some(Some(REF)).
    pub affected: Option<Option<String>>,
    /// `--impact-file`; none: `<target dir>/xdist/impact.json`.
    pub file: Option<Utf8PathBuf>,
    /// `--affected-ignore` globs, compiled.
    pub ignore: Option<globset::GlobSet>,
    /// `--affected-always`: name substrings of tests that always run.
    pub always: Vec<String>,
}

impl ImpactOptions {
    pub fn active(&self) -> bool {
        self.record || self.affected.is_some()
    }
}

/// The impact options; `--record-impact` makes `coverage` an instrumented
/// build if `--coverage` did not (with no report unless asked for).
pub(super) fn impact_options(
    args: ImpactArgs,
    coverage: &mut Option<CoverageOptions>,
) -> Result<ImpactOptions, UsageError> {
    if args.record_impact && coverage.is_none() {
        *coverage = Some(CoverageOptions::default());
    }
    let ignore = if args.affected_ignore.is_empty() {
        None
    } else {
        let mut set = globset::GlobSetBuilder::new();
        for g in &args.affected_ignore {
            let glob = globset::GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    UsageError(format!(
                        "--affected-ignore `{g}` is not a valid glob ({}); fix the pattern",
                        e.kind()
                    ))
                })?;
            set.add(glob);
        }
        Some(
            set.build()
                .map_err(|e| UsageError(format!("--affected-ignore: {e}")))?,
        )
    };
    Ok(ImpactOptions {
        record: args.record_impact,
        affected: args
            .affected
            .map(|r| Some(r).filter(|r| !r.trim().is_empty())),
        file: args.impact_file.map(Utf8PathBuf::from),
        ignore,
        always: args.affected_always,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_impact_turns_on_an_instrumented_build() {
        let mut cov = None;
        let args = ImpactArgs {
            record_impact: true,
            ..Default::default()
        };
        let o = impact_options(args, &mut cov).unwrap();
        assert!(o.record && cov.is_some_and(|c| c.reports.is_empty()));
    }

    #[test]
    fn affected_with_and_without_a_ref() {
        let opts = |a: Option<&str>| {
            let args = ImpactArgs {
                affected: a.map(String::from),
                ..Default::default()
            };
            impact_options(args, &mut None).unwrap().affected
        };
        assert_eq!(opts(None), None);
        assert_eq!(opts(Some("")), Some(None));
        assert_eq!(opts(Some("origin/main")), Some(Some("origin/main".into())));
    }

    #[test]
    fn a_bad_glob_is_a_usage_error() {
        let args = ImpactArgs {
            affected_ignore: vec!["docs/[".into()],
            ..Default::default()
        };
        let err = impact_options(args, &mut None).unwrap_err();
        assert!(err.0.contains("--affected-ignore `docs/[`"), "{}", err.0);
    }
}
