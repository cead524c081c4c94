//! Plan stage: the listed tests + the filters + the dist mode → a [`Plan`]:
//! the units of work for the runner, and the results already known before
//! anything runs (ignored tests, binaries that could not list their tests).
//! Partitions and last-failed selection plug in here; the order in which
//! units are handed out is [`crate::schedule`]'s.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::build::{BuildOutput, TestBinary};
use crate::config::{DistMode, Filters, IgnoredMode, Partition, PartitionKind};
use crate::event::{Outcome, TestResult};
use crate::list::{CaseKind, ListFailure, Listing, TestCase};

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

/// Split the listing into units of work under `mode`.
pub fn plan(mode: DistMode, build: &BuildOutput, listing: Listing, filters: &Filters) -> Plan {
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
            TestResult::new(id, LISTING_FAILURE, None, "", "-", Outcome::Failed)
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
        let (key, batchable) = group_key(mode, &build.binaries[case.binary], &case);
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
        let mut order: Vec<usize> = (0..groups.len()).collect();
        if kind == PartitionKind::Time {
            // Longest first onto the least loaded shard (the first on a tie).
            order.sort_by(|&a, &b| groups[b].1.total_cmp(&groups[a].1));
        }
        for (i, &g) in order.iter().enumerate() {
            let (key, secs) = &groups[g];
            let shard = match kind {
                PartitionKind::Hash => (stable_hash(key) % n as u64) as usize,
                PartitionKind::Slice => i % n,
                PartitionKind::Time => (0..n)
                    .min_by(|&a, &b| s.expected[a].total_cmp(&s.expected[b]))
                    .unwrap_or(0),
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
        build: &BuildOutput,
        cases: &[TestCase],
        cost: &dyn Fn(&TestCase) -> f64,
        recorded: bool,
    ) -> Self {
        let mut groups: BTreeMap<(usize, String), f64> = BTreeMap::new();
        for c in cases.iter().filter(|c| !c.ignored) {
            let (key, _) = group_key(mode, &build.binaries[c.binary], c);
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
        let units = (plan.units.into_iter())
            .filter(|u| {
                self.of_group
                    .get(&unit_key(u, build))
                    .is_some_and(|&s| self.mine(s))
            })
            .collect();
        let known = (plan.known.into_iter())
            .filter(|r| self.known_is_mine(&r.binary, &r.name))
            .collect();
        Plan { units, known }
    }

    /// Whether a listed case is this shard's (as [`Shards::keep`] decides).
    pub fn has_case(&self, mode: DistMode, build: &BuildOutput, case: &TestCase) -> bool {
        let binary = &build.binaries[case.binary];
        if case.ignored {
            return self.known_is_mine(&binary.id, &case.name);
        }
        let (key, _) = group_key(mode, binary, case);
        self.of_group.get(&key).is_some_and(|&s| self.mine(s))
    }

    /// Whether a listing failure is this shard's.
    pub fn has_failure(&self, build: &BuildOutput, failure: &ListFailure) -> bool {
        self.known_is_mine(&build.binaries[failure.binary].id, LISTING_FAILURE)
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

/// The name a listing failure is reported under.
const LISTING_FAILURE: &str = "(listing)";

/// The key of a unit as a shard sees it: its group key (which starts with
/// its binary's id), a custom harness's binary id, a doc package's id.
pub fn unit_key(unit: &WorkUnit, build: &BuildOutput) -> String {
    match unit {
        WorkUnit::Tests(g) => g.key.clone(),
        WorkUnit::Harness { binary, .. } => build.binaries[*binary].id.clone(),
        WorkUnit::Doctests { package } => build.doc_packages[*package].id.clone(),
    }
}

/// FNV-1a: the same number for the same key on every machine and release.
fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The group key a test gets under `mode`.
pub fn group_key(mode: DistMode, binary: &TestBinary, case: &TestCase) -> (String, bool) {
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
        DistMode::Loadgroup => match xdist_group_of(&case.name) {
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
            doc_packages: vec![],
            workspace_root: Utf8PathBuf::from("/"),
            target_dir: Utf8PathBuf::from("/target"),
            instrumentation: None,
            other_executables: vec![],
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
        plan(mode, &build(&["a", "b"]), listing, &Filters::default())
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
        let full = plan(DistMode::Loadfile, &b, listing(), &Filters::default());
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
                    let p = plan(DistMode::Loadfile, &b, listing(), &Filters::default());
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

    #[test]
    fn time_shards_balance_recorded_times_longest_first() {
        let groups: Vec<(String, f64)> = [
            ("a", 5.0),
            ("b", 4.0),
            ("c", 3.0),
            ("d", 3.0),
            ("e", 2.0),
            ("f", 1.0),
        ]
        .iter()
        .map(|(k, t)| (k.to_string(), *t))
        .collect();
        let s = Shards::new(spec(PartitionKind::Time, 1, 2), &groups, true);
        assert_eq!(s.expected, [9.0, 9.0]);
        assert_eq!(s.note(), None);
        let s = Shards::new(spec(PartitionKind::Time, 1, 3), &groups, true);
        assert_eq!(s.expected, [6.0, 6.0, 6.0]);
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
