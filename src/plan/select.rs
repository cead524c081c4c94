//! Selecting the tests to run, as libtest's filters would.

use crate::config::{Filters, IgnoredMode};
use crate::list::{CaseKind, TestCase};

/// The tests the filters select, as `cargo test`'s libtest would: a name
/// matches if it contains any filter (equals one with `--exact`) and no skip
/// pattern. Ignored tests stay in the list marked ignored unless
/// `--ignored`/`--include-ignored` selects them; `--ignored` drops the others.
pub fn select(cases: Vec<TestCase>, f: &Filters) -> Vec<TestCase> {
    let matches = |pat: &str, name: &str| {
        if f.exact {
            name == pat
        } else {
            name.contains(pat)
        }
    };
    cases
        .into_iter()
        .filter(|c| {
            // A custom harness and rustdoc receive the filters themselves,
            // as under cargo test.
            c.kind != CaseKind::Libtest
                || ((f.patterns.is_empty() || f.patterns.iter().any(|p| matches(p, &c.name)))
                    && !f.skip.iter().any(|p| matches(p, &c.name)))
        })
        .filter_map(|mut c| {
            if c.kind != CaseKind::Libtest {
                return Some(c);
            }
            match f.ignored {
                IgnoredMode::Only if !c.ignored => return None,
                IgnoredMode::Only | IgnoredMode::Include => c.ignored = false,
                IgnoredMode::Skip => {}
            }
            Some(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, ignored: bool) -> TestCase {
        TestCase {
            binary: 0,
            name: name.into(),
            ignored,
            source_path: None,
            line: None,
            kind: CaseKind::Libtest,
        }
    }

    #[test]
    fn filters_like_libtest() {
        let cases = vec![
            named("api::create", false),
            named("api::delete", false),
            named("slow", true),
        ];
        let f = Filters {
            patterns: vec!["api".into()],
            skip: vec!["delete".into()],
            ..Default::default()
        };
        let names: Vec<_> = select(cases.clone(), &f)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["api::create"]);

        let exact = Filters {
            patterns: vec!["api".into(), "slow".into()],
            exact: true,
            ..Default::default()
        };
        let got = select(cases.clone(), &exact);
        assert_eq!(got.len(), 1);
        assert!(got[0].ignored, "ignored tests stay marked ignored");

        let only_ignored = Filters {
            ignored: IgnoredMode::Only,
            ..Default::default()
        };
        let got = select(cases.clone(), &only_ignored);
        assert_eq!(got.len(), 1);
        assert!(!got[0].ignored);

        let include = Filters {
            ignored: IgnoredMode::Include,
            ..Default::default()
        };
        assert!(select(cases, &include).iter().all(|c| !c.ignored));
    }
}
