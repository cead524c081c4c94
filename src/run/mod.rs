//! Run stage: a rayon pool of N threads, each a stable worker (gw0..) that
//! pulls the next unit of work from a shared queue and runs it. The runner
//! never prints: it emits [`RunEvent`]s through the redacting
//! [`EventSink`], which hands them to the reporters.

pub mod doctest;
pub mod harness;
pub mod libtest;
pub mod output;
pub mod process;
pub mod steal;
pub mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::build::BuildOutput;
use crate::config::{DistMode, RunConfig};
use crate::coverage::finish::Session;
use crate::coverage::instrument::ProfilePaths;
use crate::env::WorkerSlot;
use crate::event::RunEvent;
use crate::plan::{TestGroup, WorkUnit};
use crate::report::EventSink;
use crate::schedule::Estimates;

/// Options that shape every test process.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub timeout: Option<Duration>,
    /// `--dist worksteal`: idle workers take the unstarted tail of busy ones.
    pub worksteal: bool,
    /// No `--dist`: idle workers take the unstarted tail of a busy one's
    /// part of a group the schedule split (and of no other group).
    pub split: bool,
    /// `--doc`: cargo arguments for `cargo test --doc -p PKG` (features,
    /// profile, target, manifest path, ...).
    pub doc_cargo_args: Vec<String>,
    /// Extra libtest arguments (after the names): `--include-ignored`, the
    /// user's arguments after `--`.
    pub libtest_args: Vec<String>,
    /// Arguments for custom harnesses and rustdoc: the filters and the
    /// user's arguments, as `cargo test` passes them.
    pub harness_args: Vec<String>,
    /// Variables for `cargo test --doc` beyond the worker's (under
    /// `--coverage`: the instrumentation flags, a discarded profile).
    pub doc_env: Vec<(String, String)>,
    /// `--coverage`: where each libtest process writes its profile (one
    /// that crashes or times out loses it, and the tests that had finished
    /// in it run again, silently, in a fresh process).
    pub coverage: Option<ProfilePaths>,
    /// Expected times: `load` sizes its batches by them, `worksteal`
    /// decides by them when a steal pays and where to cut.
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
        if let Some(c) = coverage {
            doc_env.push(("LLVM_PROFILE_FILE".into(), c.discard_pattern()));
        }
        RunOptions {
            timeout: config.timeout,
            worksteal: config.dist == DistMode::Worksteal,
            split: config.split,
            doc_cargo_args: crate::build::doc_cargo_args(&config.build, build),
            libtest_args: config.filters.libtest_args(),
            harness_args: config.filters.harness_args(),
            doc_env,
            coverage: coverage.map(Session::profile_paths),
            estimates: Arc::new(estimates),
        }
    }
}

/// Shared state of one run, handed to every worker.
pub struct RunContext<'a> {
    pub options: &'a RunOptions,
    sink: &'a EventSink,
    cancel: &'a AtomicBool,
    scratch: &'a Utf8Path,
    seq: AtomicU64,
    /// Running processes' unstarted tails (`--dist worksteal`, and split
    /// groups' parts without `--dist`).
    pub board: Option<steal::Board>,
}

impl RunContext<'_> {
    pub fn emit(&self, event: RunEvent) {
        self.sink.emit(event)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
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

/// Run all `units` (in the order given) on the given worker slots.
pub fn run(
    units: Vec<WorkUnit>,
    build: &BuildOutput,
    slots: &[WorkerSlot],
    options: &RunOptions,
    cancel: &AtomicBool,
    sink: &EventSink,
) -> Result<()> {
    let (_scratch, scratch_path) = crate::scratch::private_dir("cargo-xdist-")?;
    let ctx = RunContext {
        options,
        sink,
        cancel,
        scratch: &scratch_path,
        seq: AtomicU64::new(0),
        board: board(&units, slots.len(), options),
    };
    let tests = units.iter().map(WorkUnit::test_count).sum();
    ctx.emit(RunEvent::Started {
        tests,
        groups: units.len(),
        workers: slots.len(),
    });
    let started = Instant::now();
    let queue = Queue::new(units, slots.len(), &options.estimates);
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
        interrupted: ctx.is_cancelled(),
    });
    Ok(())
}

/// The board of unstarted tails: under `--dist worksteal` every group's,
/// without `--dist` those of split groups' parts (if the schedule split one).
fn board(units: &[WorkUnit], workers: usize, options: &RunOptions) -> Option<steal::Board> {
    let parts = units
        .iter()
        .any(|u| matches!(u, WorkUnit::Tests(g) if crate::schedule::is_part(&g.key)));
    let estimates = options.estimates.clone();
    if options.worksteal {
        Some(steal::Board::new(workers, estimates, false))
    } else if options.split && parts {
        Some(steal::Board::new(workers, estimates, true))
    } else {
        None
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
        return queue.next();
    };
    board.enter();
    if let Some(unit) = queue.next() {
        return Some(unit);
    }
    board.leave();
    let stolen = board.steal_or_wait(index, &|| ctx.is_cancelled())?;
    board.enter();
    ctx.emit(RunEvent::Stolen {
        thief: slots[index].name.clone(),
        victim: slots[stolen.victim].name.clone(),
        group: stolen.group.key.clone(),
        tests: stolen.group.tests.len(),
    });
    Some(WorkUnit::Tests(stolen.group))
}

/// The shared queue of units, each with its expected time. `load`-mode
/// units are handed out in batches of one binary's tests, expected to take
/// about the work left divided by four times the workers: large while much
/// is left (fewer process starts), down to single tests at the end (so the
/// workers finish together).
struct Queue {
    state: Mutex<QueueState>,
    workers: usize,
}

struct QueueState {
    units: VecDeque<(f64, WorkUnit)>,
    /// The expected time of everything in `units`.
    left: f64,
}

/// Most tests in one `load` batch.
const MAX_BATCH: usize = 64;

/// A `load`-mode single-test unit.
fn batchable(unit: &WorkUnit) -> Option<&TestGroup> {
    match unit {
        WorkUnit::Tests(g) if g.batchable => Some(g),
        _ => None,
    }
}

impl Queue {
    fn new(units: Vec<WorkUnit>, workers: usize, estimates: &Estimates) -> Self {
        let units: VecDeque<(f64, WorkUnit)> =
            units.into_iter().map(|u| (estimates.unit(&u), u)).collect();
        let left = units.iter().map(|(t, _)| t).sum();
        Queue {
            state: Mutex::new(QueueState { units, left }),
            workers: workers.max(1),
        }
    }

    fn next(&self) -> Option<WorkUnit> {
        let mut q = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let target = q.left / (self.workers * 4) as f64;
        let (mut secs, unit) = q.units.pop_front()?;
        q.left -= secs;
        let WorkUnit::Tests(mut first) = unit else {
            return Some(unit);
        };
        if !first.batchable {
            return Some(WorkUnit::Tests(first));
        }
        // Add the binary's next tests in the queue's (longest first) order
        // while they fit the target; the shorter ones further back are
        // left for the end, where they even out the workers' finish.
        let mut i = 0;
        while first.tests.len() < MAX_BATCH && i < q.units.len() {
            let (t, unit) = &q.units[i];
            if batchable(unit).is_none_or(|g| g.binary != first.binary) {
                i += 1;
                continue;
            }
            let t = *t;
            if secs + t > target {
                break;
            }
            if let Some((_, WorkUnit::Tests(g))) = q.units.remove(i) {
                first.tests.extend(g.tests);
                secs += t;
                q.left -= t;
            }
        }
        if first.tests.len() > 1 {
            first.tests.sort_by(|a, b| a.name.cmp(&b.name));
            first.key = format!(
                "{} (batch of {})",
                binaries_key(&first.key),
                first.tests.len()
            );
        }
        Some(WorkUnit::Tests(first))
    }
}

/// The binary part of a `load` unit key (`bin test::name` → `bin`).
fn binaries_key(key: &str) -> &str {
    key.split_once(' ').map(|(b, _)| b).unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{CaseKind, TestCase};

    fn single(name: &str) -> WorkUnit {
        WorkUnit::Tests(TestGroup {
            key: format!("0 {name}"),
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
        std::iter::from_fn(|| queue.next())
            .map(|u| match u {
                WorkUnit::Tests(g) => g.tests.into_iter().map(|t| t.name).collect(),
                other => panic!("{other:?}"),
            })
            .collect()
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
        let sizes: Vec<usize> = batches(&Queue::new(units(), 1, &est))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [1, 3, 2, 1, 1, 1, 1, 1, 1, 1]);
        // With nothing recorded every test is alike: the first batch is a
        // quarter of the count (as by count), and every test is handed out.
        let got = batches(&Queue::new(units(), 1, &Estimates::default()));
        assert_eq!(got[0].len(), 3);
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 13);
    }
}
