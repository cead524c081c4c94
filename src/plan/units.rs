//! The plan itself: the selected cases grouped into units of work, the
//! results known before the run, and `--lf`/`--ff`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::group::group_key;
use super::key::GroupKey;
use super::select::select;
use crate::build::BuildOutput;
use crate::config::{DistMode, Filters, GroupRule, LastFailed};
use crate::event::{LISTING, Outcome, TestId, TestResult};
use crate::list::{CaseKind, Listing, TestCase};

/// Libtest tests of one binary that run together, in one process where
/// nothing crashes, on one worker.
#[derive(Debug, Clone, Serialize)]
pub struct TestGroup {
    /// `binary id` + `source file` (loadfile), + module (loadscope), ...
    pub key: GroupKey,
    /// Index into the build's binaries.
    #[serde(skip)]
    pub binary: usize,
    /// Tests to run, sorted by name (the order libtest runs them in).
    pub tests: Vec<TestCase>,
    /// A `load`-mode unit: a worker may batch several of these into one process.
    pub batchable: bool,
}

/// Most tests in one batch (see [`TestGroup::absorb`]).
pub const MAX_BATCH: usize = 64;

impl TestGroup {
    /// Take `other`'s tests (the same binary's) into this group's process:
    /// a batch, each unit still whole in it, the tests in name order.
    pub fn absorb(&mut self, other: TestGroup) {
        debug_assert_eq!(self.binary, other.binary);
        let units = self.key.units() + other.key.units();
        self.tests.extend(other.tests);
        self.tests.sort_by(|a, b| a.name.cmp(&b.name));
        self.key = GroupKey::batch(self.key.binary(), units, !self.batchable);
    }

    /// Whether `other` may share this group's process: the same binary,
    /// both `load`-mode tests or both whole groups, and no more than
    /// [`MAX_BATCH`] tests together.
    pub fn may_absorb(&self, other: &TestGroup) -> bool {
        self.binary == other.binary
            && self.batchable == other.batchable
            && self.tests.len() + other.tests.len() <= MAX_BATCH
    }
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
    /// `--ff`: units of the tests that failed last time, handed out before
    /// [`Plan::units`].
    pub first: Vec<WorkUnit>,
    /// Results known before the run: ignored tests (skipped) and binaries
    /// that could not list their tests (failed).
    pub known: Vec<TestResult>,
    /// `--lf`/`--ff`: one line on what the last run's failures selected.
    pub note: Option<String>,
}

/// The tests that failed in the last run, and what `--lf`/`--ff` is to do
/// with them.
#[derive(Debug, Clone, Default)]
pub struct LastFailures {
    pub mode: LastFailed,
    pub tests: BTreeSet<TestId>,
    /// The record could not be read (then nothing counts as failed): why.
    pub unreadable: Option<String>,
}

impl LastFailures {
    /// `name` of `binary` failed last time, or the binary could not list.
    fn failed(&self, binary: &str, name: &str) -> bool {
        [name, LISTING].iter().any(|n| {
            self.tests.contains(&TestId {
                binary: binary.into(),
                name: n.to_string(),
            })
        })
    }

    /// Some test of `binary` failed last time (a package's doctests).
    fn failed_in(&self, binary: &str) -> bool {
        self.tests.iter().any(|t| t.binary == binary)
    }

    /// What `--lf`/`--ff` does, given that `matched` of the `selected`
    /// tests failed last time.
    fn note(&self, matched: usize, selected: usize) -> Option<String> {
        let flag = match self.mode {
            LastFailed::Off => return None,
            LastFailed::Only => "--lf",
            LastFailed::First => "--ff",
        };
        let why_none = match &self.unreadable {
            Some(why) => why.clone(),
            None if self.tests.is_empty() => "no failures recorded from the last run".into(),
            None => format!(
                "none of the {} recorded failures is selected",
                self.tests.len()
            ),
        };
        Some(match (self.mode, matched) {
            (LastFailed::Only, 0) => format!("{flag}: {why_none}; running all {selected} selected"),
            (LastFailed::Only, m) => format!(
                "{flag}: running the tests that failed last time: {m} of {selected} selected"
            ),
            (_, 0) => format!("{flag}: {why_none}; usual order"),
            (_, m) => format!(
                "{flag}: running the tests that failed last time first: {m} of {selected} selected"
            ),
        })
    }
}

/// Split the listing into units of work under `mode` (`declared`: the
/// `--dist loadgroup` groups declared in config files); `last` selects or
/// puts first the tests that failed last time (`--lf`/`--ff`).
pub fn plan(
    mode: DistMode,
    declared: &[GroupRule],
    build: &BuildOutput,
    listing: Listing,
    filters: &Filters,
    last: &LastFailures,
) -> Plan {
    let mut cases = select(listing.cases, filters);
    let failed = |c: &TestCase| last.failed(&build.binaries[c.binary].id, &c.name);
    let doc_failed: Vec<bool> = (build.doc_packages.iter())
        .map(|p| last.failed_in(&p.id))
        .collect();
    let runnable = cases.iter().filter(|c| !c.ignored);
    let matched = runnable.clone().filter(|c| failed(c)).count();
    let matched = matched + doc_failed.iter().filter(|&&f| f).count();
    let note = last.note(matched, runnable.count() + doc_failed.len());
    let only = last.mode == LastFailed::Only && matched > 0;
    let first = last.mode == LastFailed::First && matched > 0;
    if only {
        cases.retain(failed);
    }
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
            TestResult::new(id, LISTING, None, "", "-", Outcome::Failed)
                .because(Some(format!("cannot list the tests of {id}")))
                .with_output(failure.message.clone()),
        );
    }
    // [units, first units]
    let mut units = [Vec::new(), Vec::new()];
    let mut groups: BTreeMap<(bool, usize, String), TestGroup> = BTreeMap::new();
    for case in cases.into_iter().filter(|c| !c.ignored) {
        let ahead = first && failed(&case);
        if case.kind == CaseKind::CustomHarness {
            units[usize::from(ahead)].push(WorkUnit::Harness {
                binary: case.binary,
                source_path: case.source_path,
            });
            continue;
        }
        let (mut key, mut batchable) =
            group_key(mode, declared, &build.binaries[case.binary], &case);
        if ahead {
            // A unit of its own, not batched with tests that passed.
            (key, batchable) = (key.failed_first(), false);
        }
        groups
            .entry((ahead, case.binary, key.to_string()))
            .or_insert_with(|| TestGroup {
                key,
                binary: case.binary,
                tests: Vec::new(),
                batchable,
            })
            .tests
            .push(case);
    }
    for ((ahead, ..), mut g) in groups {
        g.tests.sort_by(|a, b| a.name.cmp(&b.name));
        units[usize::from(ahead)].push(WorkUnit::Tests(g));
    }
    for list in &mut units {
        list.sort_by_key(|u| match u {
            WorkUnit::Tests(g) => g.binary,
            WorkUnit::Harness { binary, .. } => *binary,
            WorkUnit::Doctests { .. } => usize::MAX,
        });
    }
    for (package, &failed) in doc_failed.iter().enumerate() {
        if failed || !only {
            units[usize::from(first && failed)].push(WorkUnit::Doctests { package });
        }
    }
    let [units, first] = units;
    Plan {
        units,
        first,
        known,
        note,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::build::TestBinary;
    use crate::plan::xdist_group_of;
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
            profile: None,
        }
    }

    pub(crate) fn build(ids: &[&str]) -> BuildOutput {
        BuildOutput {
            binaries: ids.iter().map(|i| bin(i)).collect(),
            workspace_root: Utf8PathBuf::from("/"),
            ..Default::default()
        }
    }

    pub(crate) fn case(binary: usize, name: &str, file: &str) -> TestCase {
        TestCase {
            binary,
            name: name.into(),
            ignored: false,
            source_path: Some(file.into()),
            line: None,
            kind: CaseKind::Libtest,
        }
    }

    /// The plan of `cases` of binaries `a` and `b`, without filters.
    fn plan_of(mode: DistMode, cases: Vec<TestCase>, last: &LastFailures) -> Plan {
        let listing = Listing {
            cases,
            failures: vec![],
        };
        plan(
            mode,
            &[],
            &build(&["a", "b"]),
            listing,
            &Filters::default(),
            last,
        )
    }

    fn groups(mode: DistMode, cases: Vec<TestCase>) -> Vec<TestGroup> {
        plan_of(mode, cases, &LastFailures::default())
            .units
            .into_iter()
            .map(|u| match u {
                WorkUnit::Tests(g) => g,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    pub(crate) fn cases() -> Vec<TestCase> {
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
        let keys: Vec<String> = g.iter().map(|g| g.key.to_string()).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
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
            &LastFailures::default(),
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

    fn last(mode: LastFailed, failed: &[(&str, &str)]) -> LastFailures {
        LastFailures {
            mode,
            tests: failed
                .iter()
                .map(|(b, n)| TestId {
                    binary: b.to_string(),
                    name: n.to_string(),
                })
                .collect(),
            unreadable: None,
        }
    }

    fn plan_with(mode: DistMode, last: &LastFailures) -> Plan {
        let mut cs = cases();
        cs.push(case(0, "slow", "src/lib.rs"));
        cs.last_mut().unwrap().ignored = true;
        plan_of(mode, cs, last)
    }

    /// `key: test names` of each group.
    fn unit_names(units: &[WorkUnit]) -> Vec<String> {
        units
            .iter()
            .map(|u| match u {
                WorkUnit::Tests(g) => {
                    let names: Vec<_> = g.tests.iter().map(|t| t.name.as_str()).collect();
                    format!("{}: {}", g.key, names.join(" "))
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn last_failed_runs_only_the_recorded_failures() {
        let failed = [("a", "math::tests::b"), ("b", "api"), ("gone", "x")];
        let p = plan_with(DistMode::Loadfile, &last(LastFailed::Only, &failed));
        assert_eq!(
            unit_names(&p.units),
            ["a src/math.rs: math::tests::b", "b tests/api.rs: api"]
        );
        assert!(p.first.is_empty() && p.known.is_empty(), "{p:?}");
        assert_eq!(
            p.note.as_deref(),
            Some("--lf: running the tests that failed last time: 2 of 5 selected")
        );
        // A binary that could not list last time runs whole.
        let p = plan_with(
            DistMode::Loadfile,
            &last(LastFailed::Only, &[("b", LISTING)]),
        );
        assert_eq!(unit_names(&p.units), ["b tests/api.rs: api"]);
    }

    #[test]
    fn last_failed_without_a_selected_failure_runs_everything() {
        for (failed, says) in [
            (
                &[][..],
                "--lf: no failures recorded from the last run; running all 5 selected",
            ),
            (
                &[("gone", "x")],
                "--lf: none of the 1 recorded failures is selected; running all 5 selected",
            ),
        ] {
            let p = plan_with(DistMode::Loadfile, &last(LastFailed::Only, failed));
            assert_eq!(p.units.len(), 3);
            assert_eq!(p.known.len(), 1, "the ignored test is still reported");
            assert_eq!(p.note.as_deref(), Some(says));
        }
        let mut unreadable = last(LastFailed::Only, &[]);
        unreadable.unreadable = Some("cannot read X".into());
        let p = plan_with(DistMode::Loadfile, &unreadable);
        assert_eq!(p.units.len(), 3);
        assert_eq!(
            p.note.as_deref(),
            Some("--lf: cannot read X; running all 5 selected")
        );
        let p = plan_with(DistMode::Loadfile, &LastFailures::default());
        assert_eq!((p.units.len(), p.note), (3, None));
    }

    #[test]
    fn failed_first_splits_the_failures_into_units_of_their_own() {
        let failed = [("a", "math::tests::b"), ("b", "api")];
        for mode in [DistMode::Loadfile, DistMode::Load] {
            let p = plan_with(mode, &last(LastFailed::First, &failed));
            let first = unit_names(&p.first);
            assert_eq!(
                first,
                [
                    "a src/math.rs (failed first): math::tests::b",
                    "b tests/api.rs (failed first): api"
                ]
                .map(|s| if mode == DistMode::Load {
                    s.replace("src/math.rs", "math::tests::b")
                        .replace("tests/api.rs", "api")
                } else {
                    s.to_string()
                }),
                "{mode:?}"
            );
            assert!(
                p.first
                    .iter()
                    .all(|u| matches!(u, WorkUnit::Tests(g) if !g.batchable))
            );
            let rest: usize = p.units.iter().map(WorkUnit::test_count).sum();
            assert_eq!(rest, 3, "{mode:?}: the others still run");
            assert_eq!(
                p.note.as_deref(),
                Some("--ff: running the tests that failed last time first: 2 of 5 selected")
            );
        }
        let p = plan_with(DistMode::Loadfile, &last(LastFailed::First, &[]));
        assert!(p.first.is_empty());
        assert_eq!(p.units.len(), 3);
    }
}
