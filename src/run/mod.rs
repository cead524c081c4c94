//! Run stage: a rayon pool of N threads, each a stable worker (gw0..) that
//! pulls the next unit of work from a shared queue and runs it. The runner
//! never prints: it emits [`RunEvent`]s through the redacting
//! [`EventSink`], which hands them to the reporters.
//!
//! `-x`/`--maxfail N`: once N tests have failed for good (a failed attempt
//! that runs again does not count), the run stops as on Ctrl-C, but is no
//! interruption: no unit or retry starts, running processes are stopped at
//! once, and their tests that had not finished are not reported (the
//! summary counts them as not run). libtest then runs with `--nocapture`,
//! so that the output of the failure that stops a process is not lost with
//! it.

pub mod doctest;
pub mod harness;
pub mod libtest;
pub mod output;
pub mod steal;
pub mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::build::BuildOutput;
use crate::config::{DistMode, RunConfig};
use crate::coverage::finish::Session;
use crate::coverage::instrument::ProfilePaths;
use crate::env::WorkerSlot;
use crate::event::{EventSink, RunEvent, TestResult};
use crate::plan::{GroupKey, TestGroup, WorkUnit};
use crate::process;
use crate::schedule::{Estimates, Order};
use crate::signal::{Cancel, Stopwatch};

/// Options that shape every test process.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub timeout: Option<Duration>,
    /// `--slow-timeout`: report a test still running after each multiple.
    pub slow_timeout: Option<Duration>,
    /// `--no-capture`: emit the test processes' output as it comes.
    pub live_output: bool,
    /// `--dist worksteal`: idle workers take the unstarted tail of busy ones.
    pub worksteal: bool,
    /// `--doc`: cargo arguments for `cargo test --doc` (the user's package
    /// selection, features, profile, target, manifest path, ...).
    pub doc_cargo_args: Vec<String>,
    /// Extra libtest arguments (after the names): `--include-ignored`, the
    /// user's arguments after `--`.
    pub libtest_args: Vec<String>,
    /// Arguments for custom harnesses and rustdoc: the filters and the
    /// user's arguments, as `cargo test` passes them.
    pub harness_args: Vec<String>,
    /// `--doc`: the filters, which rustdoc gets without whitespace.
    pub doc_filters: crate::config::Filters,
    /// Variables for `cargo test --doc` beyond the worker's (under
    /// `--coverage`: the instrumentation flags).
    pub doc_env: Vec<(String, String)>,
    /// `--coverage`: the profile pattern of `cargo test --doc` and the
    /// doctests (discarded).
    pub doc_profile: Option<String>,
    /// `--coverage`: where each libtest process writes its profile (one
    /// that crashes or times out loses it, and the tests that had finished
    /// in it run again, silently, in a fresh process).
    pub coverage: Option<ProfilePaths>,
    /// `--retries N`: a failed test (libtest or custom harness) runs again
    /// up to N more times, each in a fresh process on the same worker.
    pub retries: u32,
    /// `-x`/`--maxfail N`: stop the run after N failed tests.
    pub max_fail: Option<usize>,
    /// `--flaky-fails`: a flaky test counts towards `max_fail`.
    pub flaky_fails: bool,
    /// Expected times: `load` sizes its batches by them.
    pub estimates: Arc<Estimates>,
}

impl RunOptions {
    pub fn new(
        config: &RunConfig,
        build: &BuildOutput,
        coverage: Option<&Session>,
        estimates: Estimates,
    ) -> Self {
        let mut doc_env = Vec::new();
        if let Some(i) = &build.instrumentation {
            doc_env.extend(i.env.iter().cloned());
        }
        let mut libtest_args = config.filters.libtest_args();
        // libtest prints captured output when its process ends, and -x
        // stops the process that holds the failure: stream it instead.
        if config.max_fail.is_some() && !libtest_args.iter().any(|a| a == "--nocapture") {
            libtest_args.push("--nocapture".into());
        }
        RunOptions {
            timeout: config.timeout,
            slow_timeout: config.slow_timeout,
            live_output: config.no_capture,
            worksteal: config.dist == DistMode::Worksteal,
            doc_cargo_args: crate::build::doc_cargo_args(&config.build, build),
            libtest_args,
            harness_args: config.filters.harness_args(),
            doc_filters: config.filters.clone(),
            doc_env,
            doc_profile: coverage.map(Session::discard_pattern),
            coverage: coverage.map(Session::profile_paths),
            retries: config.retries,
            max_fail: config.max_fail,
            flaky_fails: config.flaky_fails,
            estimates: Arc::new(estimates),
        }
    }
}

/// Shared state of one run, handed to every worker.
pub struct RunContext<'a> {
    pub options: &'a RunOptions,
    sink: &'a EventSink,
    pub cancel: &'a Cancel,
    /// `--maxfail` was reached.
    stopped: AtomicBool,
    /// Tests that failed for good so far.
    failures: AtomicUsize,
    scratch: &'a Utf8Path,
    seq: AtomicU64,
    /// The unclaimed tests of the groups being run (`--dist worksteal` only).
    pub board: Option<steal::Board>,
    /// How libtest processes report their verdicts.
    pub verdicts: libtest::Channel,
}

impl RunContext<'_> {
    pub fn emit(&self, event: RunEvent) {
        if let (RunEvent::TestFinished(r), Some(max)) = (&event, self.options.max_fail) {
            let fails = r.is_final_failure() || (self.options.flaky_fails && r.is_flaky());
            if fails && self.failures.fetch_add(1, Ordering::SeqCst) + 1 >= max {
                self.stopped.store(true, Ordering::SeqCst);
            }
        }
        self.sink.emit(event)
    }

    /// `--no-capture`: whole lines a process of `binary` on `worker` wrote.
    pub fn emit_output(&self, worker: &str, binary: &str, text: String) {
        self.emit(RunEvent::Output {
            worker: worker.to_string(),
            binary: binary.to_string(),
            text,
        })
    }

    /// What masks the run's secrets: output is masked with it before it
    /// is cut or split (the sink masks every event again).
    pub fn redactor(&self) -> &crate::secrets::Redactor {
        self.sink.redactor()
    }

    /// Whether the run is interrupted (Ctrl-C) or stopped (`--maxfail`):
    /// start nothing, stop what runs.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled() || self.stopped.load(Ordering::SeqCst)
    }

    /// `result` as attempt `attempt` of its test, which runs again if it
    /// failed, retries are left and the run goes on.
    pub fn attempt(&self, result: TestResult, attempt: u32) -> TestResult {
        let max = self.options.retries.saturating_add(1);
        let again = result.outcome.is_failure() && attempt < max && !self.is_cancelled();
        result.on_attempt(attempt, max, again)
    }

    /// A clock for `--timeout` (it stands still while the run is stopped).
    pub fn stopwatch(&self) -> Stopwatch {
        self.cancel.stopwatch()
    }

    /// A fresh number for one process of the run.
    pub fn next_process(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh logfile path for one libtest process.
    pub fn logfile_path(&self, worker: &str) -> Utf8PathBuf {
        self.scratch
            .join(format!("{worker}-{}.log", self.next_process()))
    }
}

/// `--slow-timeout`: when a running test has run past another multiple of
/// the slow timeout.
#[derive(Debug)]
pub struct SlowClock {
    every: Option<Duration>,
    reported: u32,
}

impl SlowClock {
    pub fn new(every: Option<Duration>) -> Self {
        SlowClock { every, reported: 0 }
    }

    /// A new test starts: its clock starts at zero.
    pub fn reset(&mut self) {
        self.reported = 0;
    }

    /// The multiple of the slow timeout a test that has run for `elapsed`
    /// just passed, if it passed one since the last call.
    pub fn check(&mut self, elapsed: Duration) -> Option<Duration> {
        let every = self.every?;
        let periods = u32::try_from(elapsed.as_nanos() / every.as_nanos().max(1)).ok()?;
        if periods <= self.reported {
            return None;
        }
        self.reported = periods;
        Some(every * periods)
    }
}

/// Run all `units` (in the order given) on the given worker slots.
pub fn run(
    order: Order,
    build: &BuildOutput,
    slots: &[WorkerSlot],
    options: &RunOptions,
    cancel: &Cancel,
    sink: &EventSink,
) -> Result<()> {
    let (_scratch, scratch_path) = crate::scratch::private_dir("cargo-xdist-")?;
    let probe = order.units.iter().find_map(|u| match u {
        WorkUnit::Tests(g) => g.tests.first().map(|t| (&build.binaries[g.binary], t)),
        _ => None,
    });
    let verdicts = match probe {
        Some((binary, test)) => verdict_channel(build, binary, &test.name, &scratch_path, cancel),
        None => libtest::Channel::Logfile,
    };
    let ctx = RunContext {
        options,
        sink,
        cancel,
        stopped: AtomicBool::new(false),
        failures: AtomicUsize::new(0),
        scratch: &scratch_path,
        seq: AtomicU64::new(0),
        board: (options.worksteal)
            .then(|| steal::Board::new(slots.len(), options.estimates.clone())),
        verdicts,
    };
    let is_doc = |u: &&WorkUnit| matches!(u, WorkUnit::Doctests { .. });
    let doctest_packages = order.units.iter().filter(is_doc).count();
    let tests = (order.units.iter().filter(|u| !is_doc(u)))
        .map(WorkUnit::test_count)
        .sum();
    ctx.emit(RunEvent::Started {
        tests,
        groups: order.units.len(),
        workers: slots.len(),
        doctest_packages,
    });
    let started = Instant::now();
    let queue = Queue::new(order, slots.len(), &options.estimates);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(slots.len().max(1))
        .thread_name(|i| format!("xdist-gw{i}"))
        .build()
        .context("cannot start the worker pool")?;
    pool.scope(|s| {
        for (index, slot) in slots.iter().enumerate() {
            let (ctx, queue) = (&ctx, &queue);
            s.spawn(move |_| {
                while !ctx.is_cancelled() {
                    let Some(unit) = next_unit(ctx, queue, index, slots) else {
                        break;
                    };
                    worker::run_unit(ctx, slot, index, &unit, build);
                    if let Some(board) = &ctx.board {
                        board.leave();
                    }
                }
            });
        }
    });
    ctx.emit(RunEvent::Finished {
        elapsed: started.elapsed(),
        interrupted: cancel.is_cancelled(),
    });
    Ok(())
}

/// Set (non-empty) in cargo-xdist's environment, this skips the logfile
/// probe and reads verdicts through the exit-status channel: it tests that
/// channel on a toolchain whose libtest still writes logfiles.
pub const NO_LOGFILE_VAR: &str = "CARGO_XDIST_NO_LOGFILE";

/// How long the logfile probe may take.
const PROBE_LIMIT: Duration = Duration::from_secs(60);

/// libtest deprecated `--logfile` (rust-lang/rust#134283): list
/// `binary`'s tests with a logfile (a `--list` runs no test and takes
/// milliseconds) and read verdicts from logfiles only if `test` shows up in
/// it. Otherwise, or when [`NO_LOGFILE_VAR`] is set, verdicts come from the
/// exit-status channel (see [`libtest::Channel`]). The answer is kept with
/// the binary's cached listing, so an unchanged build does not ask again.
fn verdict_channel(
    build: &BuildOutput,
    binary: &crate::build::TestBinary,
    test: &str,
    scratch: &Utf8Path,
    cancel: &Cancel,
) -> libtest::Channel {
    if std::env::var_os(NO_LOGFILE_VAR).is_some_and(|v| !v.is_empty()) {
        return libtest::Channel::ExitStatus;
    }
    let probe = || {
        let log = scratch.join("logfile-probe.log");
        let mut cmd = crate::env::test_command(binary, None, None);
        cmd.arg("--list").arg("--logfile").arg(&log);
        let run = process::output(cmd, cancel, PROBE_LIMIT);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        // Only a listing that ran to its end answers for next time.
        let whole = run.is_ok_and(|o| o.finished.killed.is_none() && o.finished.status.success());
        (libtest::logfile_lists(&text, test), whole)
    };
    let logfile = match build.target_dir.as_str() {
        "" => probe().0,
        dir => crate::list::cache::ListCache::new(dir.into()).logfile_probe(binary, probe),
    };
    if logfile {
        libtest::Channel::Logfile
    } else {
        libtest::Channel::ExitStatus
    }
}

/// The next unit for worker `index`: from the queue, else (worksteal) the
/// unstarted tail of a busy worker's group. With a board, the worker counts
/// as active while it holds a unit.
fn next_unit(
    ctx: &RunContext,
    queue: &Queue,
    index: usize,
    slots: &[WorkerSlot],
) -> Option<WorkUnit> {
    let Some(board) = &ctx.board else {
        return queue.next(index);
    };
    board.enter();
    if let Some(unit) = queue.next(index) {
        return Some(unit);
    }
    board.leave();
    let stolen = board.steal_or_wait(index, &|| ctx.is_cancelled())?;
    board.enter();
    ctx.emit(RunEvent::Stolen {
        thief: slots[index].name.clone(),
        victim: slots[stolen.victim].name.clone(),
        group: stolen.group.key.to_string(),
        tests: stolen.group.tests.len(),
    });
    Some(WorkUnit::Tests(stolen.group))
}

/// The queue of units, each with its expected time: one lane all workers
/// take from, or (a plan from recorded durations, [`Order::lanes`]) a lane
/// per worker; a worker whose lane is empty takes the last (shortest)
/// unit of the lane with the most expected work left. `load`-mode units
/// (and in a planned lane, whole groups too) are handed out in batches of
/// one binary's, expected to take about a quarter of the lane's work left
/// per worker: large while much is left (fewer process starts), down to
/// single units at the end (so the workers finish together); in a planned
/// lane never less than [`MIN_BATCH_SECS`].
struct Queue {
    lanes: Mutex<Vec<Lane>>,
    workers: usize,
}

#[derive(Default)]
struct Lane {
    units: VecDeque<(f64, WorkUnit)>,
    /// The expected time of everything in `units`.
    left: f64,
}

/// Most tests in one batch.
const MAX_BATCH: usize = 64;

/// Units expected to take less than this together share one process in a
/// planned lane: a process start (~3 ms for a debug test binary) would
/// otherwise cost more than the tests.
const MIN_BATCH_SECS: f64 = 0.02;

impl Queue {
    fn new(order: Order, workers: usize, estimates: &Estimates) -> Self {
        let workers = workers.max(1);
        let planned = order.lanes.filter(|l| l.len() == order.units.len());
        let mut lanes: Vec<Lane> = (0..planned.as_ref().map_or(1, |_| workers))
            .map(|_| Lane::default())
            .collect();
        for (i, unit) in order.units.into_iter().enumerate() {
            let lane = planned.as_ref().map_or(0, |p| p[i].min(workers - 1));
            let secs = estimates.unit(&unit);
            lanes[lane].left += secs;
            lanes[lane].units.push_back((secs, unit));
        }
        Queue {
            lanes: Mutex::new(lanes),
            workers,
        }
    }

    /// Worker `worker`'s next unit.
    fn next(&self, worker: usize) -> Option<WorkUnit> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if lanes.len() == 1 {
            let target = lanes[0].left / (self.workers * 4) as f64;
            return lanes[0].take_batch(target, false);
        }
        let own = worker.min(lanes.len() - 1);
        if !lanes[own].units.is_empty() {
            let target = (lanes[own].left / 4.0).max(MIN_BATCH_SECS);
            return lanes[own].take_batch(target, true);
        }
        let busiest = (0..lanes.len())
            .filter(|&l| !lanes[l].units.is_empty())
            .max_by(|&a, &b| lanes[a].left.total_cmp(&lanes[b].left))?;
        let lane = &mut lanes[busiest];
        let (secs, unit) = lane.units.pop_back()?;
        lane.left -= secs;
        Some(unit)
    }
}

impl Lane {
    /// The lane's first unit, with the same binary's next units in the
    /// lane's (longest first) order while they fit `target` seconds: `load`
    /// tests always, whole groups (`merge`: a worker's planned lane) too,
    /// so that one process runs several small files' tests, each file
    /// still whole in that one process. The shorter units further back
    /// are left for the end, where they even out the workers' finish.
    fn take_batch(&mut self, target: f64, merge: bool) -> Option<WorkUnit> {
        let (mut secs, unit) = self.units.pop_front()?;
        self.left -= secs;
        let WorkUnit::Tests(mut first) = unit else {
            return Some(unit);
        };
        if !first.batchable && !merge {
            return Some(WorkUnit::Tests(first));
        }
        let fits = |g: &TestGroup| g.binary == first.binary && g.batchable == first.batchable;
        let (mut i, mut units) = (0, 1);
        while first.tests.len() < MAX_BATCH && i < self.units.len() {
            let (t, unit) = &self.units[i];
            let same = match unit {
                WorkUnit::Tests(g) => fits(g) && first.tests.len() + g.tests.len() <= MAX_BATCH,
                _ => false,
            };
            if !same {
                i += 1;
                continue;
            }
            let t = *t;
            if secs + t > target {
                break;
            }
            if let Some((_, WorkUnit::Tests(g))) = self.units.remove(i) {
                first.tests.extend(g.tests);
                secs += t;
                self.left -= t;
                units += 1;
            }
        }
        if units > 1 {
            first.tests.sort_by(|a, b| a.name.cmp(&b.name));
            first.key = GroupKey::batch(first.key.binary(), units, !first.batchable);
        }
        Some(WorkUnit::Tests(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_clock_reports_each_multiple_once() {
        let ms = Duration::from_millis;
        let mut clock = SlowClock::new(Some(ms(100)));
        assert_eq!(clock.check(ms(99)), None);
        assert_eq!(clock.check(ms(150)), Some(ms(100)));
        assert_eq!(clock.check(ms(180)), None);
        assert_eq!(clock.check(ms(320)), Some(ms(300)));
        clock.reset();
        assert_eq!(clock.check(ms(120)), Some(ms(100)));
        assert_eq!(SlowClock::new(None).check(ms(10_000)), None);
    }
    use crate::list::{CaseKind, TestCase};

    fn single(name: &str) -> WorkUnit {
        WorkUnit::Tests(TestGroup {
            key: GroupKey::new("0", name),
            binary: 0,
            tests: vec![TestCase {
                binary: 0,
                name: name.into(),
                ignored: false,
                source_path: None,
                line: None,
                kind: CaseKind::Libtest,
            }],
            batchable: true,
        })
    }

    /// The tests of each batch the queue hands out, in turn.
    fn batches(queue: &Queue) -> Vec<Vec<String>> {
        std::iter::from_fn(|| queue.next(0))
            .map(|u| match u {
                WorkUnit::Tests(g) => g.tests.into_iter().map(|t| t.name).collect(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// Each worker takes its own lane's units, longest first; a worker
    /// whose lane is empty takes the last (shortest) unit of the lane with
    /// the most expected work left; every unit is handed out once.
    #[test]
    fn planned_lanes_then_the_shortest_of_the_busiest_lane() {
        let names = ["a", "b", "c", "d", "e", "f"];
        let times: Vec<(&str, f64)> = names
            .iter()
            .copied()
            .zip([4.0, 3.0, 2.0, 1.0, 0.5, 0.25])
            .collect();
        let est = Estimates::from_times(&[&times]);
        // Single tests, not batchable (loadfile-like units).
        let units = names.iter().map(|n| match single(n) {
            WorkUnit::Tests(mut g) => {
                g.batchable = false;
                WorkUnit::Tests(g)
            }
            other => other,
        });
        let order = Order {
            units: units.collect(),
            lanes: Some(vec![0, 1, 1, 0, 1, 1]),
        };
        let queue = Queue::new(order, 2, &est);
        let name = |u: Option<WorkUnit>| match u {
            Some(WorkUnit::Tests(g)) => g.tests[0].name.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name(queue.next(1)), "b");
        assert_eq!(name(queue.next(0)), "a");
        assert_eq!(name(queue.next(0)), "d");
        // Worker 0's lane is empty: lane 1 has c, e, f left; f is its last.
        assert_eq!(name(queue.next(0)), "f");
        assert_eq!(name(queue.next(1)), "c");
        assert_eq!(name(queue.next(1)), "e");
        assert!(queue.next(0).is_none() && queue.next(1).is_none());
    }

    /// In a planned lane, small whole groups of one binary share a process
    /// (each group whole in it); another binary's group does not join.
    #[test]
    fn a_planned_lane_runs_small_groups_of_one_binary_in_one_process() {
        let group = |binary: usize, key: &str, names: &[&str]| {
            let tests = names.iter().map(|n| match single(n) {
                WorkUnit::Tests(mut g) => {
                    g.tests[0].binary = binary;
                    g.tests.remove(0)
                }
                other => panic!("{other:?}"),
            });
            WorkUnit::Tests(TestGroup {
                key: GroupKey::new(&binary.to_string(), key),
                binary,
                tests: tests.collect(),
                batchable: false,
            })
        };
        let times: Vec<(&str, f64)> = ["a1", "a2", "b1", "c1", "c2", "d1"]
            .into_iter()
            .zip([0.004, 0.004, 0.003, 0.002, 0.002, 0.003])
            .collect();
        let est = Estimates::from_times(&[&times, &[("x1", 0.001)]]);
        let order = Order {
            units: vec![
                group(0, "a.rs", &["a2", "a1"]),
                group(0, "b.rs", &["b1"]),
                group(1, "x.rs", &["x1"]),
                group(0, "c.rs", &["c1", "c2"]),
                group(0, "d.rs", &["d1"]),
            ],
            lanes: Some(vec![0; 5]),
        };
        let queue = Queue::new(order, 2, &est);
        let got: Vec<(String, Vec<String>)> = std::iter::from_fn(|| queue.next(0))
            .map(|u| match u {
                WorkUnit::Tests(g) => (
                    g.key.to_string(),
                    g.tests.into_iter().map(|t| t.name).collect(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "0 (batch of 4 groups)".to_string(),
                    strings(&["a1", "a2", "b1", "c1", "c2", "d1"])
                ),
                ("1 x.rs".to_string(), strings(&["x1"])),
            ]
        );
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn load_batches_are_sized_by_expected_time() {
        // One 4 s test, then twelve of 0.25 s, in longest-first order.
        let names: Vec<String> = std::iter::once("a".to_string())
            .chain((1..=12).map(|i| format!("t{i:02}")))
            .collect();
        let times: Vec<(&str, f64)> = (names.iter())
            .map(|n| (n.as_str(), if n == "a" { 4.0 } else { 0.25 }))
            .collect();
        let est = Estimates::from_times(&[&times]);
        let units = || names.iter().map(|n| single(n)).collect::<Vec<_>>();
        // A batch aims at a quarter of the work left per worker: 1.75 s
        // (the long test alone), 0.75 s (three), 0.5625 s (two), ...
        let sizes: Vec<usize> = batches(&Queue::new(Order::shared(units()), 1, &est))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [1, 3, 2, 1, 1, 1, 1, 1, 1, 1]);
        // With nothing recorded every test is alike: the first batch is a
        // quarter of the count (as by count), and every test is handed out.
        let got = batches(&Queue::new(
            Order::shared(units()),
            1,
            &Estimates::default(),
        ));
        assert_eq!(got[0].len(), 3);
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 13);
    }
}
