//! Plan stage: the listed tests + the filters + the dist mode → a [`Plan`]:
//! the units of work for the runner, and the results already known before
//! anything runs (ignored tests, binaries that could not list their tests).
//! Partitions and last-failed selection plug in here; the order in which
//! units are handed out is [`crate::schedule`]'s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::build::{BuildOutput, TestBinary};
use crate::config::{DistMode, Filters, GroupRule, IgnoredMode};
use crate::event::{Outcome, TestResult};
use crate::list::{CaseKind, Listing, TestCase};

/// Libtest tests of one binary that run together, in one process where
/// nothing crashes, on one worker.
#[derive(Debug, Clone, Serialize)]
pub struct TestGroup {
    /// `binary id` + `source file` (loadfile), + module (loadscope), ...
    pub key: String,
    /// Index into the build's binaries.
    #[serde(skip)]
    pub binary: usize,
    /// Tests to run, sorted by name (the order libtest runs them in).
    pub tests: Vec<TestCase>,
    /// A `load`-mode unit: a worker may batch several of these into one process.
    pub batchable: bool,
}

/// One unit of work, run by one worker.
#[derive(Debug, Clone)]
pub enum WorkUnit {
    /// Libtest tests, run by name.
    Tests(TestGroup),
    /// A `harness = false` target: run once with the filters, as `cargo test`
    /// runs it, and judged by its exit code.
    Harness {
        /// Index into the build's binaries.
        binary: usize,
        /// The target's root source file.
        source_path: Option<String>,
    },
    /// A package's doctests (`--doc`): `cargo test --doc -p PACKAGE`, each
    /// doctest reported on its own.
    Doctests {
        /// Index into the build's doc packages.
        package: usize,
    },
}

impl WorkUnit {
    /// How many tests the unit is expected to report (a package's doctests
    /// count as one until they have run).
    pub fn test_count(&self) -> usize {
        match self {
            WorkUnit::Tests(g) => g.tests.len(),
            WorkUnit::Harness { .. } | WorkUnit::Doctests { .. } => 1,
        }
    }
}

/// What the runner is to do, and what is known already.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Units in canonical order (binary, then key); [`crate::schedule`]
    /// orders them for handing out.
    pub units: Vec<WorkUnit>,
    /// Results known before the run: ignored tests (skipped) and binaries
    /// that could not list their tests (failed).
    pub known: Vec<TestResult>,
}

/// Split the listing into units of work under `mode` (`declared`: the
/// `--dist loadgroup` groups declared in config files).
pub fn plan(
    mode: DistMode,
    declared: &[GroupRule],
    build: &BuildOutput,
    listing: Listing,
    filters: &Filters,
) -> Plan {
    let cases = select(listing.cases, filters);
    let mut known = Vec::new();
    for case in cases.iter().filter(|c| c.ignored) {
        known.push(TestResult::new(
            &build.binaries[case.binary].id,
            &case.name,
            case.source_path.clone(),
            "",
            "-",
            Outcome::Skipped,
        ));
    }
    for failure in &listing.failures {
        let id = &build.binaries[failure.binary].id;
        known.push(
            TestResult::new(id, "(listing)", None, "", "-", Outcome::Failed)
                .because(Some(format!("cannot list the tests of {id}")))
                .with_output(failure.message.clone()),
        );
    }
    let mut units = Vec::new();
    let mut groups: BTreeMap<(usize, String), TestGroup> = BTreeMap::new();
    for case in cases.into_iter().filter(|c| !c.ignored) {
        if case.kind == CaseKind::CustomHarness {
            units.push(WorkUnit::Harness {
                binary: case.binary,
                source_path: case.source_path,
            });
            continue;
        }
        let (key, batchable) = group_key(mode, declared, &build.binaries[case.binary], &case);
        groups
            .entry((case.binary, key.clone()))
            .or_insert_with(|| TestGroup {
                key,
                binary: case.binary,
                tests: Vec::new(),
                batchable,
            })
            .tests
            .push(case);
    }
    for mut g in groups.into_values() {
        g.tests.sort_by(|a, b| a.name.cmp(&b.name));
        units.push(WorkUnit::Tests(g));
    }
    units.sort_by_key(|u| match u {
        WorkUnit::Tests(g) => g.binary,
        WorkUnit::Harness { binary, .. } => *binary,
        WorkUnit::Doctests { .. } => usize::MAX,
    });
    units.extend((0..build.doc_packages.len()).map(|package| WorkUnit::Doctests { package }));
    Plan { units, known }
}

/// The group key a test gets under `mode`; under `loadgroup`, a test
/// outside any `xdist_group_NAME` module goes to the first of `groups`
/// that takes it.
pub fn group_key(
    mode: DistMode,
    groups: &[GroupRule],
    binary: &TestBinary,
    case: &TestCase,
) -> (String, bool) {
    if case.kind != CaseKind::Libtest {
        return (binary.id.clone(), false);
    }
    let file = || {
        case.source_path
            .clone()
            .unwrap_or_else(|| module_of(&case.name).to_string())
    };
    match mode {
        DistMode::Loadfile | DistMode::Worksteal => (format!("{} {}", binary.id, file()), false),
        DistMode::Loadscope => (format!("{} {}", binary.id, module_of(&case.name)), false),
        DistMode::No => (binary.id.clone(), false),
        DistMode::Load => (format!("{} {}", binary.id, case.name), true),
        DistMode::Loadgroup => match xdist_group_of(&case.name)
            .or_else(|| GroupRule::find(groups, &case.name, case.source_path.as_deref()))
        {
            Some(g) => (format!("{} group {g}", binary.id), false),
            None => (format!("{} {}", binary.id, case.name), true),
        },
    }
}

/// Module path of a test name: `a::b::t` → `a::b`; a top-level test → ``.
fn module_of(name: &str) -> &str {
    name.rsplit_once("::").map(|(m, _)| m).unwrap_or("")
}

/// `--dist loadgroup`: a module named `xdist_group_NAME` anywhere in the
/// test's path puts it in group NAME (the Rust spelling of pytest-xdist's
/// `@pytest.mark.xdist_group(name=...)`).
pub fn xdist_group_of(name: &str) -> Option<&str> {
    name.split("::")
        .filter_map(|seg| seg.strip_prefix("xdist_group_"))
        .find(|g| !g.is_empty())
}

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
    use camino::Utf8PathBuf;

    pub(crate) fn bin(id: &str) -> TestBinary {
        TestBinary {
            id: id.into(),
            package: id.into(),
            target_name: id.into(),
            kind: "lib".into(),
            path: Utf8PathBuf::from("/x"),
            manifest_dir: Utf8PathBuf::from("/"),
            src_path: Utf8PathBuf::from("/src/lib.rs"),
            custom_harness: false,
            env: vec![],
        }
    }

    fn build(ids: &[&str]) -> BuildOutput {
        BuildOutput {
            binaries: ids.iter().map(|i| bin(i)).collect(),
            workspace_root: Utf8PathBuf::from("/"),
            ..Default::default()
        }
    }

    fn case(binary: usize, name: &str, file: &str) -> TestCase {
        TestCase {
            binary,
            name: name.into(),
            ignored: false,
            source_path: Some(file.into()),
            line: None,
            kind: CaseKind::Libtest,
        }
    }

    fn groups(mode: DistMode, cases: Vec<TestCase>) -> Vec<TestGroup> {
        let listing = Listing {
            cases,
            failures: vec![],
        };
        plan(mode, &[], &build(&["a", "b"]), listing, &Filters::default())
            .units
            .into_iter()
            .map(|u| match u {
                WorkUnit::Tests(g) => g,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn cases() -> Vec<TestCase> {
        vec![
            case(0, "math::tests::b", "src/math.rs"),
            case(0, "math::tests::a", "src/math.rs"),
            case(0, "tests::x", "src/lib.rs"),
            case(0, "math::inner::c", "src/math.rs"),
            case(1, "api", "tests/api.rs"),
        ]
    }

    #[test]
    fn loadfile_groups_by_binary_and_file_in_name_order() {
        let g = groups(DistMode::Loadfile, cases());
        assert_eq!(g.len(), 3);
        assert_eq!(g[1].key, "a src/math.rs");
        let names: Vec<_> = g[1].tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["math::inner::c", "math::tests::a", "math::tests::b"]
        );
    }

    #[test]
    fn loadscope_groups_by_module() {
        let g = groups(DistMode::Loadscope, cases());
        let keys: Vec<_> = g.iter().map(|g| g.key.as_str()).collect();
        assert!(keys.contains(&"a math::tests"));
        assert!(keys.contains(&"a math::inner"));
        assert_eq!(g.len(), 4);
    }

    #[test]
    fn load_makes_one_unit_per_test() {
        let g = groups(DistMode::Load, cases());
        assert_eq!(g.len(), 5);
        assert!(g.iter().all(|g| g.batchable && g.tests.len() == 1));
    }

    #[test]
    fn no_mode_is_one_group_per_binary() {
        let g = groups(DistMode::No, cases());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].tests.len(), 4);
    }

    #[test]
    fn loadgroup_uses_xdist_group_modules() {
        assert_eq!(xdist_group_of("db::xdist_group_users::t1"), Some("users"));
        assert_eq!(xdist_group_of("db::t1"), None);
        let g = groups(
            DistMode::Loadgroup,
            vec![
                case(0, "xdist_group_users::a", "src/a.rs"),
                case(0, "other::xdist_group_users::b", "src/b.rs"),
                case(0, "free", "src/c.rs"),
            ],
        );
        assert_eq!(g.len(), 2);
        let users = g.iter().find(|g| !g.batchable).expect("the users group");
        assert_eq!(users.tests.len(), 2);
        assert_eq!(users.key, "a group users");
    }

    #[test]
    fn ignored_tests_and_listing_failures_are_known_results() {
        let mut cs = cases();
        cs[0].ignored = true;
        let listing = Listing {
            cases: cs,
            failures: vec![crate::list::ListFailure {
                binary: 1,
                message: "boom".into(),
            }],
        };
        let p = plan(
            DistMode::Loadfile,
            &[],
            &build(&["a", "b"]),
            listing,
            &Filters::default(),
        );
        let total: usize = p.units.iter().map(WorkUnit::test_count).sum();
        assert_eq!(total, 4);
        let known: Vec<_> = p
            .known
            .iter()
            .map(|r| (r.binary.as_str(), r.name.as_str(), r.outcome))
            .collect();
        assert_eq!(
            known,
            [
                ("a", "math::tests::b", Outcome::Skipped),
                ("b", "(listing)", Outcome::Failed)
            ]
        );
    }

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
