//! Plan stage: the listed tests + the filters + the dist mode → a [`Plan`]:
//! the units of work for the runner, and the results already known before
//! anything runs (ignored tests, binaries that could not list their tests).
//! Partitions and last-failed selection plug in here; the order in which
//! units are handed out is [`crate::schedule`]'s.
//!
//! `--lf` keeps only the tests that failed last time ([`LastFailures`],
//! read by [`crate::history`]); `--ff` puts them in units of their own,
//! [`Plan::first`], which are handed out before the rest. A custom-harness
//! target is one test; a package's doctests are one unit, selected (or put
//! first) as a whole when any of them failed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::build::{BuildOutput, TestBinary};
use crate::config::{
    DistMode, Filters, GroupRule, IgnoredMode, LastFailed, Partition, PartitionKind,
};
use crate::event::{Outcome, TestId, TestResult};
use crate::list::{CaseKind, ListFailure, Listing, TestCase};

/// The name under which a binary that could not list its tests is
/// reported (and recorded as failed).
pub const LISTING: &str = "(listing)";

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
            (key, batchable) = (format!("{key} (failed first)"), false);
        }
        groups
            .entry((ahead, case.binary, key.clone()))
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

/// `--partition`: which shard each group, and each result known before the
/// run, belongs to. Groups are never split over shards; every group and
/// every known result (ignored test, listing failure) is in exactly one.
#[derive(Debug, Clone)]
pub struct Shards {
    /// As asked on the command line.
    pub partition: Partition,
    /// As used: `time:` with no recorded durations falls back to `slice:`.
    pub kind: PartitionKind,
    /// Group key → shard (0-based).
    of_group: HashMap<String, usize>,
    /// Every shard's expected time, in seconds.
    pub expected: Vec<f64>,
    /// Every shard's number of groups.
    pub groups: Vec<usize>,
}

impl Shards {
    /// Assign `groups` (key and expected seconds, in the plan's canonical
    /// order) to shards. `recorded`: whether any of their times was recorded.
    pub fn new(partition: Partition, groups: &[(String, f64)], recorded: bool) -> Self {
        let n = partition.total;
        let kind = match partition.kind {
            PartitionKind::Time if !recorded => PartitionKind::Slice,
            k => k,
        };
        let mut s = Shards {
            partition,
            kind,
            of_group: HashMap::new(),
            expected: vec![0.0; n],
            groups: vec![0; n],
        };
        // `time:`: longest first onto the least loaded shard, then evened
        // out further where the times allow ([`crate::balance`]).
        let balanced = (kind == PartitionKind::Time).then(|| {
            let times: Vec<f64> = groups.iter().map(|(_, t)| *t).collect();
            crate::balance::assign(&times, n)
        });
        for (i, (key, secs)) in groups.iter().enumerate() {
            let shard = match (kind, &balanced) {
                (PartitionKind::Hash, _) => (stable_hash(key) % n as u64) as usize,
                (PartitionKind::Time, Some(b)) => b[i],
                _ => i % n,
            };
            s.expected[shard] += secs;
            s.groups[shard] += 1;
            s.of_group.insert(key.clone(), shard);
        }
        s
    }

    /// The shards of a plan's units, each costing `cost`.
    pub fn of_units(
        partition: Partition,
        units: &[WorkUnit],
        build: &BuildOutput,
        cost: &dyn Fn(&WorkUnit) -> f64,
        recorded: bool,
    ) -> Self {
        let groups: Vec<(String, f64)> = (units.iter())
            .map(|u| (unit_key(u, build), cost(u)))
            .collect();
        Shards::new(partition, &groups, recorded)
    }

    /// The shards of listed cases grouped under `mode` as [`plan`] groups
    /// them (in the same order), each test costing `cost`.
    pub fn of_cases(
        partition: Partition,
        mode: DistMode,
        declared: &[GroupRule],
        build: &BuildOutput,
        cases: &[TestCase],
        cost: &dyn Fn(&TestCase) -> f64,
        recorded: bool,
    ) -> Self {
        let mut groups: BTreeMap<(usize, String), f64> = BTreeMap::new();
        for c in cases.iter().filter(|c| !c.ignored) {
            let (key, _) = group_key(mode, declared, &build.binaries[c.binary], c);
            *groups.entry((c.binary, key)).or_default() += cost(c);
        }
        let groups: Vec<(String, f64)> = groups.into_iter().map(|((_, k), t)| (k, t)).collect();
        Shards::new(partition, &groups, recorded)
    }

    /// Whether this shard is shard K's.
    fn mine(&self, shard: usize) -> bool {
        shard + 1 == self.partition.shard
    }

    /// A result known before the run goes by a hash of its binary and name.
    fn known_is_mine(&self, binary: &str, name: &str) -> bool {
        let key = format!("{binary} {name}");
        self.mine((stable_hash(&key) % self.partition.total as u64) as usize)
    }

    /// Keep this shard's units and known results.
    pub fn keep(&self, plan: Plan, build: &BuildOutput) -> Plan {
        let mine = |u: &WorkUnit| {
            self.of_group
                .get(&unit_key(u, build))
                .is_some_and(|&s| self.mine(s))
        };
        let known = (plan.known.into_iter())
            .filter(|r| self.known_is_mine(&r.binary, &r.name))
            .collect();
        Plan {
            units: plan.units.into_iter().filter(mine).collect(),
            first: plan.first.into_iter().filter(mine).collect(),
            known,
            note: plan.note,
        }
    }

    /// Whether a listed case is this shard's (as [`Shards::keep`] decides).
    pub fn has_case(
        &self,
        mode: DistMode,
        declared: &[GroupRule],
        build: &BuildOutput,
        case: &TestCase,
    ) -> bool {
        let binary = &build.binaries[case.binary];
        if case.ignored {
            return self.known_is_mine(&binary.id, &case.name);
        }
        let (key, _) = group_key(mode, declared, binary, case);
        self.of_group.get(&key).is_some_and(|&s| self.mine(s))
    }

    /// Whether a listing failure is this shard's.
    pub fn has_failure(&self, build: &BuildOutput, failure: &ListFailure) -> bool {
        self.known_is_mine(&build.binaries[failure.binary].id, LISTING)
    }

    /// `time:K/N` without recorded durations: what was done instead.
    pub fn note(&self) -> Option<String> {
        (self.kind != self.partition.kind).then(|| {
            format!(
                "--partition {}: no recorded durations for these tests; using slice:{}/{} (a run without --partition, or a restored --durations-file, records them)",
                self.partition, self.partition.shard, self.partition.total
            )
        })
    }
}

/// The key of a unit as a shard sees it: its group key (which starts with
/// its binary's id), a custom harness's binary id, a doc package's id.
pub fn unit_key(unit: &WorkUnit, build: &BuildOutput) -> String {
    match unit {
        WorkUnit::Tests(g) => g.key.clone(),
        WorkUnit::Harness { binary, .. } => build.binaries[*binary].id.clone(),
        WorkUnit::Doctests { package } => build.doc_packages[*package].id.clone(),
    }
}

/// A key's shard-stable hash ([`crate::hash::fnv1a64`]).
fn stable_hash(key: &str) -> u64 {
    crate::hash::fnv1a64(key.as_bytes())
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
        DistMode::Auto | DistMode::Loadfile | DistMode::Worksteal => {
            (format!("{} {}", binary.id, file()), false)
        }
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
pub(crate) mod tests {
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

    fn spec(kind: PartitionKind, shard: usize, total: usize) -> Partition {
        Partition { kind, shard, total }
    }

    #[test]
    fn every_group_and_known_result_is_in_exactly_one_shard() {
        let mut cs = cases();
        cs[0].ignored = true;
        cs.push(case(1, "other", "tests/other.rs"));
        let listing = || Listing {
            cases: cs.clone(),
            failures: vec![crate::list::ListFailure {
                binary: 1,
                message: "boom".into(),
            }],
        };
        let b = build(&["a", "b"]);
        let plan_all = || {
            plan(
                DistMode::Loadfile,
                &[],
                &b,
                listing(),
                &Filters::default(),
                &LastFailures::default(),
            )
        };
        let full = plan_all();
        let cost = |u: &WorkUnit| u.test_count() as f64;
        for kind in [
            PartitionKind::Hash,
            PartitionKind::Slice,
            PartitionKind::Time,
        ] {
            for total in 1..=4 {
                let mut units: Vec<String> = Vec::new();
                let mut known: Vec<String> = Vec::new();
                for shard in 1..=total {
                    let p = plan_all();
                    let shards =
                        Shards::of_units(spec(kind, shard, total), &p.units, &b, &cost, true);
                    let kept = shards.keep(p, &b);
                    units.extend(kept.units.iter().map(|u| unit_key(u, &b)));
                    known.extend(kept.known.iter().map(|r| r.name.clone()));
                }
                units.sort();
                known.sort();
                let mut want: Vec<String> = full.units.iter().map(|u| unit_key(u, &b)).collect();
                want.sort();
                assert_eq!(units, want, "{kind:?} of {total}");
                assert_eq!(
                    known,
                    ["(listing)", "math::tests::b"],
                    "{kind:?} of {total}"
                );
            }
        }
    }

    fn timed(groups: &[(&str, f64)]) -> Vec<(String, f64)> {
        groups.iter().map(|(k, t)| (k.to_string(), *t)).collect()
    }

    #[test]
    fn time_shards_balance_recorded_times_longest_first() {
        let six = timed(&[
            ("a", 5.0),
            ("b", 4.0),
            ("c", 3.0),
            ("d", 3.0),
            ("e", 2.0),
            ("f", 1.0),
        ]);
        let s = Shards::new(spec(PartitionKind::Time, 1, 2), &six, true);
        assert_eq!(s.expected, [9.0, 9.0]);
        assert_eq!(s.note(), None);
        let s = Shards::new(spec(PartitionKind::Time, 1, 3), &six, true);
        assert_eq!(s.expected, [6.0, 6.0, 6.0]);
        // Where longest first alone ends at 7 (3+2+2 | 3+2): 6 and 6.
        let five = timed(&[("a", 3.0), ("b", 3.0), ("c", 2.0), ("d", 2.0), ("e", 2.0)]);
        let s = Shards::new(spec(PartitionKind::Time, 1, 2), &five, true);
        assert_eq!(s.expected, [6.0, 6.0]);
        let groups = six;
        // No recorded time: slice, and a note that says so.
        let s = Shards::new(spec(PartitionKind::Time, 1, 2), &groups, false);
        assert_eq!(s.kind, PartitionKind::Slice);
        assert_eq!(s.expected, [10.0, 8.0]);
        assert!(s.note().unwrap().contains("using slice:1/2"));
    }

    #[test]
    fn hash_shards_are_stable() {
        // FNV-1a of known strings: the shard must never change between
        // releases or machines.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        let groups = vec![("alpha::test/api tests/api.rs".to_string(), 1.0)];
        let s = Shards::new(spec(PartitionKind::Hash, 1, 3), &groups, false);
        let h = (stable_hash("alpha::test/api tests/api.rs") % 3) as usize;
        assert_eq!(s.groups[h], 1);
    }
}
