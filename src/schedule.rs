//! Schedule stage: the plan's units → the order workers take them in.
//! Longest expected first (LPT), so that the long poles start early: a
//! unit's expected time comes from the duration store ([`Estimates`]); a
//! test never recorded counts as the median recorded test (so with no
//! record at all, the order is by test count). Ties keep the plan's
//! canonical order, so the order is the same for the same durations file.
//! Under `load` and `loadgroup`, single-test units of equal expected time
//! interleave files so that one file's tests spread over the workers;
//! under `no`, the binaries' order. With recorded durations and 2+
//! workers, each unit also gets a planned worker ([`crate::balance`]) in
//! every mode but `no`; without `--dist`, a group whose
//! recorded time exceeds its share of the run (total / N) is planned test
//! by test, one part per worker (`plan_lanes`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use camino::{Utf8Path, Utf8PathBuf};

use crate::build::BuildOutput;
use crate::config::{DistMode, ListConfig, RunConfig};
use crate::durations::{self, Durations};
use crate::event::TestResult;
use crate::list::{ListFailure, TestCase};
use crate::plan::{self, GroupKey, Plan, Shards, TestGroup, WorkUnit};

/// A test's time when nothing at all is recorded (only the ratios matter).
const DEFAULT_TEST_SECS: f64 = 0.01;

/// Expected times of this build's tests and units, from the duration store
/// (the default: nothing recorded).
#[derive(Debug, Clone)]
pub struct Estimates {
    /// Per binary index: test name → recorded seconds.
    tests: Vec<HashMap<String, f64>>,
    /// Per binary index: its id (group keys start with it).
    ids: Vec<String>,
    /// Per doc package index: its doctests' recorded time.
    docs: Vec<Option<f64>>,
    /// The median recorded test time: the estimate for a test never recorded.
    per_test: f64,
}

impl Default for Estimates {
    fn default() -> Self {
        Estimates {
            tests: Vec::new(),
            ids: Vec::new(),
            docs: Vec::new(),
            per_test: DEFAULT_TEST_SECS,
        }
    }
}

impl Estimates {
    /// What `store` knows of `build`'s binaries.
    pub fn new(store: &Durations, build: &BuildOutput) -> Self {
        let mut e = Estimates::default();
        for b in &build.binaries {
            let times = store.binary(&durations::binary_key(&b.package, &b.kind, &b.target_name));
            let tests = times.map(|t| (t.tests.iter()).map(|(n, e)| (n.clone(), e.secs)).collect());
            e.tests.push(tests.unwrap_or_default());
            e.ids.push(b.id.clone());
        }
        e.docs = (build.doc_packages.iter())
            .map(|d| {
                // The package's recorded wall time, else its doctests'
                // times added up (the first one's includes rustdoc's build).
                let times = store.binary(&durations::doc_key(&d.package))?;
                let tests = || times.tests.values().map(|e| e.secs).sum();
                let wall = times.groups.get("").map(|g| g.secs);
                wall.or_else(|| (!times.tests.is_empty()).then(tests))
            })
            .collect();
        e.per_test = median(&e.tests);
        e
    }

    /// Whether any of this build's tests has a recorded time.
    pub fn recorded(&self) -> bool {
        self.tests.iter().any(|t| !t.is_empty()) || self.docs.iter().any(Option::is_some)
    }

    /// The recorded time of test `name` of binary `binary`, if any.
    pub fn known(&self, binary: usize, name: &str) -> Option<f64> {
        self.tests.get(binary).and_then(|t| t.get(name)).copied()
    }

    /// The expected time of a test: recorded, else the median.
    pub fn test(&self, binary: usize, name: &str) -> f64 {
        self.known(binary, name).unwrap_or(self.per_test)
    }

    /// The expected time of a unit: its tests' times added up (a test's
    /// time runs from the end of the one before it, the first one's from
    /// the process start, so they add up to the group's wall time); a
    /// package's doctests: their recorded wall time (rustdoc compiles them).
    pub fn unit(&self, unit: &WorkUnit) -> f64 {
        match unit {
            WorkUnit::Tests(g) => g.tests.iter().map(|t| self.test(g.binary, &t.name)).sum(),
            WorkUnit::Harness { binary, .. } => {
                let name = self.ids.get(*binary).map(|id| target_of(id));
                self.test(*binary, name.unwrap_or_default())
            }
            WorkUnit::Doctests { package } => self
                .docs
                .get(*package)
                .copied()
                .flatten()
                .unwrap_or(self.per_test),
        }
    }

    /// Whether some test of the group has a recorded time.
    fn any_known(&self, g: &TestGroup) -> bool {
        g.tests
            .iter()
            .any(|t| self.known(g.binary, &t.name).is_some())
    }
}

/// This run's work: the units in the order workers take them (only this
/// shard's, with `--partition`), the results known before the run, the
/// estimates the runner goes on using, and warnings for the user.
#[derive(Debug)]
pub struct Scheduled {
    pub order: Order,
    pub known: Vec<TestResult>,
    pub estimates: Estimates,
    pub warnings: Vec<String>,
    /// The duration store this run read, and records into.
    pub store: Utf8PathBuf,
}

/// The duration store's path, the estimates it gives for `build`, and a
/// warning if it could not be read.
fn estimates(
    explicit: Option<&Utf8Path>,
    build: &BuildOutput,
) -> (Utf8PathBuf, Estimates, Vec<String>) {
    // The extracted target dir of an archive goes away after the run.
    let dir = match build.extracted {
        Some(_) => &build.target_directory,
        None => &build.target_dir,
    };
    let store = durations::path(explicit, dir);
    let (history, warning) = Durations::load(&store);
    let estimates = Estimates::new(&history, build);
    (store, estimates, warning.into_iter().collect())
}

/// The plan → this shard's part of it → the order workers take it in,
/// by the times recorded in the duration store.
pub fn schedule(config: &RunConfig, build: &BuildOutput, plan: Plan) -> Scheduled {
    let (store, estimates, mut warnings) = estimates(config.durations_file.as_deref(), build);
    let plan = match config.partition {
        Some(p) => {
            let cost = |u: &WorkUnit| estimates.unit(u);
            let (plan, note) = plan::keep_shard(p, plan, build, &cost, estimates.recorded());
            warnings.extend(note);
            plan
        }
        None => plan,
    };
    // `--ff`: the units of the last run's failures go before all others.
    let mut units = order(config.dist, plan.first, &estimates);
    units.extend(order(config.dist, plan.units, &estimates));
    let (mode, workers) = (config.dist, config.workers);
    Scheduled {
        order: plan_lanes(mode, workers, units, &estimates),
        known: plan.known,
        estimates,
        warnings,
        store,
    }
}

/// Lower `workers` to the most that `plan` can keep busy under `mode`,
/// and say so in a line for the user: a unit runs on one worker, but
/// `worksteal` cuts a running group and the default mode splits one, down
/// to single tests. Workers beyond it (and their databases) would only
/// start and stop. `--partition` keeps a part of the plan, so this bounds
/// a shard too.
/// Their databases too: `databases` serves no more workers, and creates
/// them now if [`databases_after_plan`] held them back (returning the time
/// it took).
pub fn fit_workers(
    mode: DistMode,
    plan: &Plan,
    workers: &mut usize,
    databases: Option<&mut crate::db::WorkerDatabases>,
    cancel: &crate::signal::Cancel,
) -> anyhow::Result<(Option<String>, Option<std::time::Duration>)> {
    let held_back = databases_after_plan(*workers);
    let line = useful_workers(mode, plan, *workers).map(|(bound, line)| {
        *workers = bound;
        line
    });
    let Some(d) = databases else {
        return Ok((line, None));
    };
    d.limit_workers(*workers);
    let created = match held_back {
        true => crate::db::create_while(Some(d), cancel, || Ok(()))?.1,
        false => None,
    };
    Ok((line, created))
}

/// Whether the worker databases wait for the plan instead of being
/// created during the build: with more workers than the machine runs at
/// once (`-n 1000`), likely more than the tests need.
pub fn databases_after_plan(workers: usize) -> bool {
    workers > std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The bound of [`cap_workers`] and its line, when under `workers`.
fn useful_workers(mode: DistMode, plan: &Plan, workers: usize) -> Option<(usize, String)> {
    let units = plan.first.iter().chain(&plan.units);
    let doc = |u: &&WorkUnit| matches!(u, WorkUnit::Doctests { .. });
    let (bound, what) = match mode {
        // A package's doctests are one unit whatever their number.
        _ if units.clone().all(|u| doc(&u)) => (
            units.count(),
            ("package's doctests", "packages' doctests", "need"),
        ),
        DistMode::Auto | DistMode::Worksteal if !units.clone().any(|u| doc(&u)) => (
            units.map(WorkUnit::test_count).sum::<usize>(),
            ("test", "tests", "needs"),
        ),
        DistMode::Auto | DistMode::Worksteal => (
            units.map(WorkUnit::test_count).sum::<usize>(),
            ("work unit", "work units", "needs"),
        ),
        _ => (units.count(), ("work unit", "work units", "needs")),
    };
    if workers <= 1 || bound == 0 || bound >= workers {
        return None;
    }
    let noun = if bound == 1 { what.0 } else { what.1 };
    let need = if bound == 1 { what.2 } else { "need" };
    let line = format!(
        "note: {bound} {noun} {need} at most {bound} worker{}; running {bound}, not {workers}",
        if bound == 1 { "" } else { "s" }
    );
    Some((bound, line))
}

/// The units in the order workers take them and, when durations are
/// recorded, the worker planned for each ([`crate::balance`]): a worker takes its
/// own units in this order, then the shortest unstarted ones of the worker
/// with the most expected work left.
#[derive(Debug, Default)]
pub struct Order {
    pub units: Vec<WorkUnit>,
    /// Per unit, its worker (0..N); `None`: one queue all workers take from.
    pub lanes: Option<Vec<usize>>,
}

impl Order {
    /// One queue, in the given order.
    pub fn shared(units: Vec<WorkUnit>) -> Self {
        Order { units, lanes: None }
    }
}

/// Plan a worker for each unit when recorded durations make a plan worth
/// having: in every mode but `no` (one worker, the binaries' order); under
/// `worksteal`, thieves cut running groups once no unstarted unit is left.
/// Under [`DistMode::Auto`] (no `--dist`), a group whose recorded time exceeds its
/// share of the run (total / N) is planned test by test with the rest,
/// then each worker's share of it becomes one part, run in one process: a
/// file that holds most of a suite's time would otherwise set the run's
/// length however the rest is planned.
fn plan_lanes(mode: DistMode, workers: usize, units: Vec<WorkUnit>, est: &Estimates) -> Order {
    if workers < 2 || !est.recorded() || mode == DistMode::No {
        return Order::shared(units);
    }
    let units = coalesce_small(units, est);
    let times: Vec<f64> = units.iter().map(|u| est.unit(u)).collect();
    let share = times.iter().sum::<f64>() / workers as f64;
    let split_up = |i: usize| match &units[i] {
        WorkUnit::Tests(g) => {
            mode.splits()
                && times[i] > share
                && !g.batchable
                && g.tests.len() > 1
                && est.any_known(g)
        }
        _ => false,
    };
    // What is planned: whole units, and the tests of the groups split up
    // (each item: its unit, and whether it is one of the unit's tests).
    let mut items: Vec<(usize, bool)> = Vec::new();
    let mut item_times = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        match unit {
            WorkUnit::Tests(g) if split_up(i) => {
                for t in &g.tests {
                    items.push((i, true));
                    item_times.push(est.test(g.binary, &t.name));
                }
            }
            _ => {
                items.push((i, false));
                item_times.push(times[i]);
            }
        }
    }
    let planned = crate::balance::assign(&item_times, workers);
    let mut whole_lane = vec![0; units.len()];
    // Per split unit, its tests' lanes in the tests' order.
    let mut test_lanes: HashMap<usize, Vec<usize>> = HashMap::new();
    for (&(i, is_test), &lane) in items.iter().zip(&planned) {
        match is_test {
            false => whole_lane[i] = lane,
            true => test_lanes.entry(i).or_default().push(lane),
        }
    }
    let (mut out, mut lanes) = (Vec::new(), Vec::new());
    for (i, unit) in units.into_iter().enumerate() {
        match (unit, test_lanes.remove(&i)) {
            (WorkUnit::Tests(g), Some(of_test)) => {
                for (lane, part) in parts_by_lane(g, &of_test, est) {
                    out.push(part);
                    lanes.push(lane);
                }
            }
            (unit, _) => {
                out.push(unit);
                lanes.push(whole_lane[i]);
            }
        }
    }
    Order {
        units: out,
        lanes: Some(lanes),
    }
}

/// Units expected to take under this are planned together with the same
/// binary's other such units, up to this much in all: the plan then puts
/// them on one worker, which starts one process for them, not one per
/// small file (a debug test binary takes some milliseconds to start).
const SMALL_UNIT_SECS: f64 = 0.01;

/// `units` with the small ones of each binary (recorded under
/// [`SMALL_UNIT_SECS`]) joined into batches, each unit still whole; the
/// order is kept, a batch standing where its first unit stood.
fn coalesce_small(units: Vec<WorkUnit>, est: &Estimates) -> Vec<WorkUnit> {
    let mut out: Vec<WorkUnit> = Vec::with_capacity(units.len());
    // Per binary and kind, the open batch: its index in `out`, its time.
    let mut open: HashMap<(usize, bool), (usize, f64)> = HashMap::new();
    for unit in units {
        let t = est.unit(&unit);
        let WorkUnit::Tests(g) = unit else {
            out.push(unit);
            continue;
        };
        if t >= SMALL_UNIT_SECS || !est.any_known(&g) {
            out.push(WorkUnit::Tests(g));
            continue;
        }
        let kind = (g.binary, g.batchable);
        if let Some((at, sum)) = open.get_mut(&kind) {
            if let WorkUnit::Tests(batch) = &mut out[*at] {
                if *sum + t <= SMALL_UNIT_SECS && batch.may_absorb(&g) {
                    batch.absorb(g);
                    *sum += t;
                    continue;
                }
            }
        }
        open.insert(kind, (out.len(), t));
        out.push(WorkUnit::Tests(g));
    }
    out
}

/// `g`'s tests gathered by their planned lane (`of_test`, per test): one
/// part per lane, each keeping the name order, longest expected first; `g`
/// itself if all went to one lane.
fn parts_by_lane(g: TestGroup, of_test: &[usize], est: &Estimates) -> Vec<(usize, WorkUnit)> {
    let mut by_lane: BTreeMap<usize, Vec<TestCase>> = BTreeMap::new();
    for (t, &lane) in g.tests.into_iter().zip(of_test) {
        by_lane.entry(lane).or_default().push(t);
    }
    let n = by_lane.len();
    let mut parts: Vec<(f64, usize, WorkUnit)> = (by_lane.into_iter().enumerate())
        .map(|(k, (lane, tests))| {
            let key = match n {
                1 => g.key.clone(),
                _ => g.key.clone().part(k + 1, n),
            };
            let part = WorkUnit::Tests(TestGroup {
                key,
                binary: g.binary,
                tests,
                batchable: false,
            });
            (est.unit(&part), lane, part)
        })
        .collect();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    parts
        .into_iter()
        .map(|(_, lane, part)| (lane, part))
        .collect()
}

/// What `cargo xdist list` shows: the selected cases (only this shard's,
/// with `--partition`) and each one's group key, the listing failures to
/// report, the shards and the estimates.
#[derive(Debug)]
pub struct Listed<'a> {
    pub cases: Vec<TestCase>,
    /// Per case, the group it runs in under the chosen `--dist`.
    pub groups: Vec<GroupKey>,
    pub failures: Vec<&'a ListFailure>,
    pub shards: Option<Shards>,
    pub estimates: Estimates,
    pub warnings: Vec<String>,
}

/// The listing as `cargo xdist list` shows it, by the times recorded in
/// the duration store.
pub fn listed<'a>(
    config: &ListConfig,
    build: &BuildOutput,
    mut cases: Vec<TestCase>,
    failures: &'a [ListFailure],
) -> Listed<'a> {
    // The units a run would make of these cases (before a file is split).
    let listing = crate::list::Listing {
        cases: cases.clone(),
        failures: Vec::new(),
    };
    let no_last = plan::LastFailures::default();
    let (mode, declared) = (config.dist, &config.groups);
    let plan = plan::plan(mode, declared, build, listing, &config.filters, &no_last);
    let (_, estimates, mut warnings) = estimates(config.durations_file.as_deref(), build);
    let mut failures: Vec<&ListFailure> = failures.iter().collect();
    let shards = config.partition.map(|p| {
        let cost = |c: &TestCase| estimates.test(c.binary, &c.name);
        let (cases, failures) = (&mut cases, &mut failures);
        let recorded = estimates.recorded();
        let shards = plan::list_shard(p, mode, declared, build, cases, failures, &cost, recorded);
        warnings.extend(shards.note());
        shards
    });
    // Without --partition, each test's group is the unit a run puts it in:
    // under the default mode a dominant file's part.
    let run_keys = match shards {
        None if mode.splits() => run_groups(mode, config.workers, plan, &estimates),
        _ => HashMap::new(),
    };
    let groups = (cases.iter())
        .map(|c| match run_keys.get(&(c.binary, c.name.clone())) {
            Some(key) => key.clone(),
            None => plan::group_key(mode, declared, &build.binaries[c.binary], c).0,
        })
        .collect();
    Listed {
        cases,
        groups,
        failures,
        shards,
        estimates,
        warnings,
    }
}

/// (binary, test name) → the key of the unit a run of `plan` on
/// `workers` workers puts the test in: planned as [`schedule`] plans it.
fn run_groups(
    mode: DistMode,
    workers: usize,
    plan: Plan,
    est: &Estimates,
) -> HashMap<(usize, String), GroupKey> {
    let mut units = order(mode, plan.first, est);
    units.extend(order(mode, plan.units, est));
    let mut keys = HashMap::new();
    for unit in plan_lanes(mode, workers, units, est).units {
        if let WorkUnit::Tests(g) = unit {
            for t in g.tests {
                keys.insert((g.binary, t.name), g.key.clone());
            }
        }
    }
    keys
}

/// `cargo xdist durations [merge]`: what to print.
pub fn durations_command(args: crate::cli::DurationsArgs) -> anyhow::Result<String> {
    match args.command {
        Some(crate::cli::DurationsCommand::Merge(m)) => {
            let out = camino::Utf8Path::new(&m.output);
            let merged = durations::merge_files(&m.inputs, out)?;
            Ok(format!("{merged}, written to {out}\n"))
        }
        None => show_durations(args.show),
    }
}

/// `cargo xdist durations`: the store (`--durations-file`, else
/// `<target dir>/xdist/durations.json` of the workspace a run would use),
/// shown.
pub fn show_durations(args: crate::cli::DurationsShowArgs) -> anyhow::Result<String> {
    let (file, target_dir, manifest_path, limit) = crate::config::durations_store(args)?;
    let store = match (file, target_dir) {
        (Some(file), _) => file,
        (None, Some(dir)) => durations::path(None, &dir),
        (None, None) => {
            let build = crate::config::BuildOptions {
                manifest_path,
                ..Default::default()
            };
            durations::path(None, &crate::build::metadata(&build)?.target_directory)
        }
    };
    durations::show(&store, limit)
}

/// The median of the recorded test times (the default if none).
fn median(tests: &[HashMap<String, f64>]) -> f64 {
    let mut all: Vec<f64> = tests.iter().flat_map(|t| t.values().copied()).collect();
    all.sort_by(f64::total_cmp);
    all.get(all.len() / 2).copied().unwrap_or(DEFAULT_TEST_SECS)
}

/// A custom harness's test is named after its target: `pkg::test/name` → `name`.
fn target_of(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(_, t)| t)
}

/// Order `units` for handing out under `mode`, longest expected first.
pub fn order(mode: DistMode, units: Vec<WorkUnit>, est: &Estimates) -> Vec<WorkUnit> {
    let units = match mode {
        // `no` keeps the binaries' order: one worker runs them like cargo test.
        DistMode::No => return units,
        DistMode::Load | DistMode::Loadgroup => {
            let (batchable, mut fixed): (Vec<_>, Vec<_>) = units
                .into_iter()
                .partition(|u| matches!(u, WorkUnit::Tests(g) if g.batchable));
            fixed.extend(round_robin_by_file(batchable));
            fixed
        }
        DistMode::Auto | DistMode::Loadfile | DistMode::Loadscope | DistMode::Worksteal => units,
    };
    longest_first(units, est)
}

/// Sort by expected time, longest first; equal times keep their order.
fn longest_first(units: Vec<WorkUnit>, est: &Estimates) -> Vec<WorkUnit> {
    let mut timed: Vec<(f64, WorkUnit)> = units.into_iter().map(|u| (est.unit(&u), u)).collect();
    timed.sort_by(|a, b| b.0.total_cmp(&a.0));
    timed.into_iter().map(|(_, u)| u).collect()
}

/// Order single-test units so consecutive units come from different files
/// (first by test name, so the order does not depend on the listing's).
fn round_robin_by_file(units: Vec<WorkUnit>) -> Vec<WorkUnit> {
    // (binary, file) → its units, each with its test's name.
    type Queue = VecDeque<(String, WorkUnit)>;
    let mut by_file: BTreeMap<(usize, Option<String>), Queue> = BTreeMap::new();
    for u in units {
        let WorkUnit::Tests(g) = &u else {
            continue;
        };
        let first = &g.tests[0];
        by_file
            .entry((g.binary, first.source_path.clone()))
            .or_default()
            .push_back((first.name.clone(), u));
    }
    let mut queues: Vec<Queue> = by_file
        .into_values()
        .map(|q| {
            let mut v: Vec<_> = q.into();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.into()
        })
        .collect();
    let mut out = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if let Some((_, u)) = q.pop_front() {
                out.push(u);
            }
        }
    }
    out
}

#[cfg(test)]
impl Estimates {
    /// Recorded times per binary index (binary ids `0`, `1`, ...), for tests.
    pub(crate) fn from_times(times: &[&[(&str, f64)]]) -> Self {
        let tests: Vec<HashMap<String, f64>> = (times.iter())
            .map(|t| t.iter().map(|(n, s)| (n.to_string(), *s)).collect())
            .collect();
        Estimates {
            ids: (0..tests.len()).map(|i| i.to_string()).collect(),
            per_test: median(&tests),
            tests,
            docs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctests_alone_are_counted_as_packages_not_tests() {
        let plan = Plan {
            units: vec![WorkUnit::Doctests { package: 0 }],
            ..Default::default()
        };
        let (bound, line) = useful_workers(DistMode::Auto, &plan, 2).unwrap();
        assert_eq!(bound, 1);
        assert_eq!(
            line,
            "note: 1 package's doctests need at most 1 worker; running 1, not 2"
        );
    }
    use crate::list::{CaseKind, TestCase};
    use crate::plan::{GroupKey, TestGroup};

    /// Small files of one binary are planned as one batch, up to 10 ms in
    /// all, each file whole in it; long, unrecorded and other binaries'
    /// units stay as they are, in their order.
    #[test]
    fn small_units_of_one_binary_are_planned_together() {
        let est = Estimates::from_times(&[
            &[("big", 0.05), ("a1", 0.004), ("a2", 0.005), ("a3", 0.003)],
            &[("b1", 0.004)],
        ]);
        let units = vec![
            unit(0, &["big"], "big.rs", false),
            unit(0, &["a1"], "a1.rs", false),
            unit(1, &["b1"], "b1.rs", false),
            unit(0, &["a2"], "a2.rs", false),
            unit(0, &["a3"], "a3.rs", false),
            unit(0, &["new"], "new.rs", false),
        ];
        let got = coalesce_small(units, &est);
        let shown: Vec<(String, Vec<String>)> = (got.iter())
            .map(|u| match u {
                WorkUnit::Tests(g) => (
                    g.key.to_string(),
                    g.tests.iter().map(|t| t.name.clone()).collect(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        let row = |k: &str, t: &[&str]| (k.to_string(), t.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            shown,
            vec![
                row("0 big.rs", &["big"]),
                row("0 (batch of 2 groups)", &["a1", "a2"]),
                row("1 b1.rs", &["b1"]),
                row("0 a3.rs", &["a3"]),
                row("0 new.rs", &["new"]),
            ]
        );
    }

    fn unit(binary: usize, names: &[&str], file: &str, batchable: bool) -> WorkUnit {
        WorkUnit::Tests(TestGroup {
            key: GroupKey::new(&binary.to_string(), file),
            binary,
            tests: names
                .iter()
                .map(|n| TestCase {
                    binary,
                    name: n.to_string(),
                    ignored: false,
                    source_path: Some(file.into()),
                    line: None,
                    kind: CaseKind::Libtest,
                })
                .collect(),
            batchable,
        })
    }

    fn keys(units: &[WorkUnit]) -> Vec<String> {
        units
            .iter()
            .map(|u| match u {
                WorkUnit::Tests(g) => format!("{}:{}", g.key, g.tests[0].name),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn none() -> Estimates {
        Estimates::default()
    }

    #[test]
    fn largest_first_under_loadfile_with_nothing_recorded() {
        let units = vec![
            unit(0, &["a"], "x.rs", false),
            unit(0, &["b", "c", "d"], "y.rs", false),
            unit(1, &["e", "f"], "z.rs", false),
        ];
        assert_eq!(
            keys(&order(DistMode::Loadfile, units.clone(), &none())),
            ["0 y.rs:b", "1 z.rs:e", "0 x.rs:a"]
        );
        assert_eq!(
            keys(&order(DistMode::No, units, &none())),
            ["0 x.rs:a", "0 y.rs:b", "1 z.rs:e"]
        );
    }

    #[test]
    fn load_interleaves_files_after_fixed_groups() {
        let units = vec![
            unit(0, &["a1"], "a.rs", true),
            unit(0, &["a2"], "a.rs", true),
            unit(0, &["b1"], "b.rs", true),
            unit(0, &["g1", "g2"], "g.rs", false),
        ];
        assert_eq!(
            keys(&order(DistMode::Load, units, &none())),
            ["0 g.rs:g1", "0 a.rs:a1", "0 b.rs:b1", "0 a.rs:a2"]
        );
    }

    /// Recorded times: binary 0 has x.rs's `a` (3 s) and y.rs's b, c, d
    /// (0.1 s each); binary 1's z.rs tests were never recorded.
    fn recorded() -> Estimates {
        Estimates::from_times(&[&[("a", 3.0), ("b", 0.1), ("c", 0.1), ("d", 0.1)], &[]])
    }

    #[test]
    fn longest_expected_first_from_recorded_durations() {
        let units = vec![
            unit(0, &["a"], "x.rs", false),
            unit(0, &["b", "c", "d"], "y.rs", false),
            unit(1, &["e", "f", "g", "h"], "z.rs", false),
        ];
        let est = recorded();
        // Never recorded: the median recorded test (0.1 s) each.
        assert!((est.unit(&units[2]) - 0.4).abs() < 1e-9);
        for mode in [DistMode::Loadfile, DistMode::Loadscope, DistMode::Worksteal] {
            assert_eq!(
                keys(&order(mode, units.clone(), &est)),
                ["0 x.rs:a", "1 z.rs:e", "0 y.rs:b"],
                "{mode:?}"
            );
        }
        // The same durations give the same order, ties in the plan's order.
        let tied = vec![
            unit(1, &["p"], "p.rs", false),
            unit(1, &["q"], "q.rs", false),
            unit(0, &["a"], "x.rs", false),
        ];
        assert_eq!(
            keys(&order(DistMode::Loadfile, tied, &est)),
            ["0 x.rs:a", "1 p.rs:p", "1 q.rs:q"]
        );
    }

    #[test]
    fn load_hands_out_the_longest_tests_first() {
        let units = vec![
            unit(0, &["b"], "y.rs", true),
            unit(0, &["c"], "y.rs", true),
            unit(0, &["a"], "x.rs", true),
            unit(0, &["g1", "g2"], "g.rs", false),
        ];
        assert_eq!(
            keys(&order(DistMode::Load, units, &recorded())),
            ["0 x.rs:a", "0 g.rs:g1", "0 y.rs:b", "0 y.rs:c"]
        );
    }

    /// (key, tests, lane) of each unit of a plan.
    fn planned(order: &Order) -> Vec<(String, Vec<String>, usize)> {
        let lanes = order.lanes.as_ref().expect("a plan");
        (order.units.iter().zip(lanes))
            .map(|(u, &lane)| match u {
                WorkUnit::Tests(g) => (
                    g.key.to_string(),
                    g.tests.iter().map(|t| t.name.clone()).collect(),
                    lane,
                ),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_dominant_group_is_split_test_by_test_with_the_rest() {
        // 9 recorded seconds in y.rs of a 10-second run: over 2 workers it
        // exceeds its share (5 s); planned test by test with x.rs, each
        // worker's share of it is one part, in name order: 1 + 4 and 5.
        let est = Estimates::from_times(&[&[
            ("a", 1.0),
            ("b1", 1.0),
            ("b2", 3.0),
            ("b3", 3.0),
            ("b4", 2.0),
        ]]);
        let units = vec![
            unit(0, &["a"], "x.rs", false),
            unit(0, &["b1", "b2", "b3", "b4"], "y.rs", false),
        ];
        let got = planned(&plan_lanes(DistMode::Auto, 2, units.clone(), &est));
        let lanes: Vec<usize> = got.iter().map(|(_, _, l)| *l).collect();
        let tests = |k: &str| {
            got.iter()
                .find(|(key, _, _)| key == k)
                .map(|(_, t, _)| t.clone())
        };
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(tests("0 x.rs").unwrap(), ["a"]);
        let (p1, p2) = (
            tests("0 y.rs (part 1/2)").unwrap(),
            tests("0 y.rs (part 2/2)").unwrap(),
        );
        let mut all: Vec<String> = p1.iter().chain(&p2).cloned().collect();
        assert!(p1.is_sorted() && p2.is_sorted(), "{got:?}");
        all.sort();
        assert_eq!(all, ["b1", "b2", "b3", "b4"]);
        // The two parts on two workers, each worker 5 s in all.
        let mut ends = [0.0; 2];
        for (u, lane) in plan_lanes(DistMode::Auto, 2, units.clone(), &est)
            .units
            .iter()
            .zip(&lanes)
        {
            ends[*lane] += est.unit(u);
        }
        assert_eq!(ends, [5.0, 5.0], "{got:?}");
        // Not without --dist's split, not with one worker, not unrecorded.
        let whole = plan_lanes(DistMode::Loadfile, 2, units.clone(), &est);
        assert_eq!(whole.units.len(), 2);
        assert_eq!(
            plan_lanes(DistMode::Auto, 1, units.clone(), &est)
                .units
                .len(),
            2
        );
        assert_eq!(plan_lanes(DistMode::Auto, 2, units, &none()).units.len(), 2);
    }

    #[test]
    fn a_dominant_group_gets_one_part_per_worker_at_most() {
        // big.rs: 40 s in 8 tests; q.rs 22 s (not over its share, stays
        // whole), r.rs 3 s; two workers: 65 s, at best 33 s for one.
        let mut times: Vec<(String, f64)> = (0..8).map(|i| (format!("b{i}"), 5.0)).collect();
        times.extend([("q1".into(), 11.0), ("q2".into(), 11.0), ("r".into(), 3.0)]);
        let times: Vec<(&str, f64)> = times.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let est = Estimates::from_times(&[&times]);
        let big: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        let units = vec![
            unit(0, &big, "big.rs", false),
            unit(0, &["q1", "q2"], "q.rs", false),
            unit(0, &["r"], "r.rs", false),
        ];
        let order = plan_lanes(DistMode::Auto, 2, units, &est);
        let got = planned(&order);
        let parts: Vec<&(String, Vec<String>, usize)> = got
            .iter()
            .filter(|(k, _, _)| k.starts_with("0 big.rs"))
            .collect();
        assert_eq!(parts.len(), 2, "{got:?}");
        assert_ne!(parts[0].2, parts[1].2, "one part per worker: {got:?}");
        assert!(got.iter().any(|(k, t, _)| k == "0 q.rs" && t.len() == 2));
        let mut ends = [0.0; 2];
        for (u, (_, _, lane)) in order.units.iter().zip(&got) {
            ends[*lane] += est.unit(u);
        }
        assert_eq!(ends.iter().copied().fold(0.0, f64::max), 33.0, "{got:?}");
    }

    #[test]
    fn estimates_read_the_store_by_stable_keys() {
        let store: Durations = serde_json::from_str(
            r#"{"version":1,"runs":1,"binaries":{
                "alpha::test/api":{"tests":{"create":{"secs":2.0,"samples":1,"run":1}}},
                "alpha::doc":{"tests":{"src/lib.rs - f (line 3)":{"secs":1.5,"samples":1,"run":1},
                                       "src/lib.rs - g (line 9)":{"secs":0.5,"samples":1,"run":1}}}}}"#,
        )
        .unwrap();
        let bin = crate::build::TestBinary {
            id: "alpha::test/api".into(),
            package: "alpha".into(),
            target_name: "api".into(),
            kind: "test".into(),
            path: "/t/debug/deps/api-0123456789abcdef".into(),
            manifest_dir: "/w/alpha".into(),
            src_path: "/w/alpha/tests/api.rs".into(),
            custom_harness: false,
            env: vec![],
            profile: None,
        };
        let build = BuildOutput {
            binaries: vec![bin],
            doc_packages: vec![crate::build::DocPackage {
                id: "alpha::doc".into(),
                package: "alpha".into(),
                manifest_dir: "/w/alpha".into(),
            }],
            workspace_root: "/w".into(),
            target_dir: "/t".into(),
            ..Default::default()
        };
        let est = Estimates::new(&store, &build);
        assert!(est.recorded());
        assert_eq!(est.known(0, "create"), Some(2.0));
        assert_eq!(est.known(0, "other"), None);
        assert_eq!(est.test(0, "other"), 2.0, "the median recorded test");
        assert_eq!(est.unit(&WorkUnit::Doctests { package: 0 }), 2.0);
        assert!(!Estimates::new(&Durations::default(), &build).recorded());
    }

    #[test]
    fn workers_follow_a_plan_only_with_recorded_durations() {
        let units = vec![
            unit(0, &["a"], "x.rs", false),
            unit(0, &["b", "c", "d"], "y.rs", false),
            unit(1, &["e", "f", "g", "h"], "z.rs", false),
        ];
        let est = recorded();
        for mode in [
            DistMode::Load,
            DistMode::Loadfile,
            DistMode::Loadscope,
            DistMode::Loadgroup,
            DistMode::Worksteal,
        ] {
            let plan = plan_lanes(mode, 2, units.clone(), &est);
            let lanes = plan.lanes.expect("a plan");
            // a (3 s) alone; the others (0.3 s, 0.4 s) together.
            assert_eq!(lanes, [0, 1, 1], "{mode:?}");
        }
        // `no` is one worker; one worker needs no plan; nothing recorded:
        // one shared queue.
        let lanes = |mode, n, est: &Estimates| plan_lanes(mode, n, units.clone(), est).lanes;
        assert_eq!(lanes(DistMode::No, 2, &est), None);
        assert_eq!(lanes(DistMode::Load, 1, &est), None);
        assert_eq!(lanes(DistMode::Load, 2, &none()), None);
    }
}
