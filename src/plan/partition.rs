//! `--partition KIND:K/N`: which shard each group, and each result known
//! before the run, belongs to, and keeping one shard's part of a plan or a
//! listing.

use std::collections::{BTreeMap, HashMap};

use super::group::group_key;
use super::units::{Plan, WorkUnit};
use crate::build::BuildOutput;
use crate::config::{DistMode, GroupRule, Partition, PartitionKind};
use crate::event::LISTING;
use crate::list::{ListFailure, TestCase};

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

    /// The shards of listed cases grouped under `mode` as [`crate::plan::plan`] groups
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
            *groups.entry((c.binary, key.to_string())).or_default() += cost(c);
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
        (self.of_group.get(&key.to_string())).is_some_and(|&s| self.mine(s))
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

/// `--partition`: this shard's part of `plan`, each unit costing `cost`
/// (`recorded`: whether any cost was recorded), and the note
/// [`Shards::note`] gives.
pub fn keep_shard(
    partition: Partition,
    plan: Plan,
    build: &BuildOutput,
    cost: &dyn Fn(&WorkUnit) -> f64,
    recorded: bool,
) -> (Plan, Option<String>) {
    let all: Vec<WorkUnit> = plan.first.iter().chain(&plan.units).cloned().collect();
    let shards = Shards::of_units(partition, &all, build, cost, recorded);
    let note = shards.note();
    (shards.keep(plan, build), note)
}

/// `cargo xdist list --partition`: keep this shard's `cases` (grouped
/// under `mode` as the plan groups them, each costing `cost`) and listing
/// `failures`; the shards, for their expected times.
#[allow(clippy::too_many_arguments)]
pub fn list_shard(
    partition: Partition,
    mode: DistMode,
    declared: &[GroupRule],
    build: &BuildOutput,
    cases: &mut Vec<TestCase>,
    failures: &mut Vec<&ListFailure>,
    cost: &dyn Fn(&TestCase) -> f64,
    recorded: bool,
) -> Shards {
    let shards = Shards::of_cases(partition, mode, declared, build, cases, cost, recorded);
    cases.retain(|c| shards.has_case(mode, declared, build, c));
    failures.retain(|f| shards.has_failure(build, f));
    shards
}

/// The key of a unit as a shard sees it: its group key (which starts with
/// its binary's id), a custom harness's binary id, a doc package's id.
pub fn unit_key(unit: &WorkUnit, build: &BuildOutput) -> String {
    match unit {
        WorkUnit::Tests(g) => g.key.to_string(),
        WorkUnit::Harness { binary, .. } => build.binaries[*binary].id.clone(),
        WorkUnit::Doctests { package } => build.doc_packages[*package].id.clone(),
    }
}

/// A key's shard-stable hash ([`crate::hash::fnv1a64`]).
fn stable_hash(key: &str) -> u64 {
    crate::hash::fnv1a64(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::units::tests::{build, case, cases};
    use super::*;
    use crate::config::Filters;
    use crate::list::Listing;
    use crate::plan::{LastFailures, plan};

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
