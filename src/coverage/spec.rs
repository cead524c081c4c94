//! `--cov-report` values: which coverage reports a run writes, and where.

use std::str::FromStr;

use camino::Utf8PathBuf;

/// One `--cov-report` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportSpec {
    /// Per-file table of lines, functions and regions, with totals.
    Term,
    /// [`ReportSpec::Term`] plus the uncovered line ranges of each file.
    TermMissing,
    Lcov(Utf8PathBuf),
    Cobertura(Utf8PathBuf),
    /// `llvm-cov show -format=html` into this directory.
    Html(Utf8PathBuf),
    /// `llvm-cov export -format=text` (the llvm-cov JSON export).
    Json(Utf8PathBuf),
}

/// A `--cov-report` value that is not one of the forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReportSpecError(String);

const SPEC_FORMS: &str = "term, term-missing, lcov:PATH, cobertura:PATH, html:DIR or json:PATH";

impl FromStr for ReportSpec {
    type Err = ReportSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, path) = match s.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (s, None),
        };
        let needs_path = |make: fn(Utf8PathBuf) -> ReportSpec, what: &str| match path {
            Some(p) if !p.is_empty() => Ok(make(Utf8PathBuf::from(p))),
            _ => Err(ReportSpecError(format!(
                "coverage report `{s}` needs a {what}: `{kind}:{}`",
                what.to_uppercase()
            ))),
        };
        match kind {
            "term" | "term-missing" if path.is_some() => Err(ReportSpecError(format!(
                "coverage report `{s}`: `{kind}` prints to the terminal and takes no path"
            ))),
            "term" => Ok(ReportSpec::Term),
            "term-missing" => Ok(ReportSpec::TermMissing),
            "lcov" => needs_path(ReportSpec::Lcov, "path"),
            "cobertura" | "xml" => needs_path(ReportSpec::Cobertura, "path"),
            "json" => needs_path(ReportSpec::Json, "path"),
            "html" => needs_path(ReportSpec::Html, "dir"),
            _ => Err(ReportSpecError(format!(
                "unknown coverage report `{s}`; use {SPEC_FORMS}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_specs() {
        assert_eq!("term".parse(), Ok(ReportSpec::Term));
        assert_eq!("term-missing".parse(), Ok(ReportSpec::TermMissing));
        assert_eq!(
            "lcov:out/a.lcov".parse(),
            Ok(ReportSpec::Lcov("out/a.lcov".into()))
        );
        assert_eq!(
            "cobertura:c.xml".parse(),
            Ok(ReportSpec::Cobertura("c.xml".into()))
        );
        assert_eq!("html:cov".parse(), Ok(ReportSpec::Html("cov".into())));
        assert_eq!(
            "json:c:/x.json".parse(),
            Ok(ReportSpec::Json("c:/x.json".into()))
        );
        let err = |s: &str| s.parse::<ReportSpec>().unwrap_err().to_string();
        assert_eq!(
            err("lcov"),
            "coverage report `lcov` needs a path: `lcov:PATH`"
        );
        assert_eq!(
            err("html:"),
            "coverage report `html:` needs a dir: `html:DIR`"
        );
        assert!(err("term:x").contains("takes no path"));
        assert_eq!(
            err("xml2:a"),
            "unknown coverage report `xml2:a`; use term, term-missing, lcov:PATH, cobertura:PATH, html:DIR or json:PATH"
        );
    }
}
