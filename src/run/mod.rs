//! Run stage: a rayon pool of N threads, each a stable worker (gw0..) that
//! pulls the next group from a shared queue and runs it. The runner never
//! prints: it emits [`RunEvent`]s that reporters consume.

pub mod doctest;
pub mod libtest;
pub mod process;
pub mod steal;
pub mod worker;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use crate::build::TestBinary;
use crate::env::WorkerSlot;
use crate::schedule::TestGroup;

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
    /// Ignored (not selected to run).
    Skipped,
}

impl TestResult {
    /// `name` of `binary`, run by `worker` in `group` (empty group and
    /// worker `-` for results known before the run), with no time, reason
    /// or output yet.
    pub fn new(
        binary: &TestBinary,
        name: &str,
        source_path: Option<String>,
        group: &str,
        worker: &str,
        outcome: Outcome,
    ) -> Self {
        TestResult {
            binary: binary.id.clone(),
            name: name.to_string(),
            source_path,
            group: group.to_string(),
            worker: worker.to_string(),
            outcome,
            duration: Duration::ZERO,
            reason: None,
            output: String::new(),
        }
    }

    pub fn took(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    pub fn because(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    pub fn with_output(mut self, output: String) -> Self {
        self.output = output;
        self
    }
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut)
    }
}

/// One test's result.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Binary id (`alpha`, `alpha::test/api`).
    pub binary: String,
    pub name: String,
    pub source_path: Option<String>,
    /// The group it ran in.
    pub group: String,
    /// The worker that ran it (`gw0`, or `main` in serial mode).
    pub worker: String,
    pub outcome: Outcome,
    pub duration: Duration,
    /// Why it failed beyond libtest's own report: signal, exit code, timeout.
    pub reason: Option<String>,
    /// Captured output (failures only).
    pub output: String,
}

/// What the runner reports as it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Started {
        tests: usize,
        groups: usize,
        workers: usize,
    },
    TestStarted {
        worker: String,
        name: String,
    },
    TestFinished(TestResult),
    /// libtest prints a failure's captured output at the end of its
    /// process; it follows the failure's `TestFinished`.
    FailureOutput {
        binary: String,
        name: String,
        output: String,
    },
    /// `--dist worksteal`: `thief` took `tests` unstarted tests of
    /// `victim`'s group.
    Stolen {
        thief: String,
        victim: String,
        group: String,
        tests: usize,
    },
    /// A process died mid-group; its remaining tests run in a fresh one.
    ProcessRestarted {
        worker: String,
        group: String,
        remaining: usize,
    },
    Finished {
        elapsed: Duration,
        interrupted: bool,
    },
}

/// Options that shape every test process.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub timeout: Option<Duration>,
    /// `--dist worksteal`: idle workers take the unstarted tail of busy ones.
    pub worksteal: bool,
    /// `--doc`: cargo arguments for `cargo test --doc -p PKG` (features,
    /// profile, target, manifest path, ...).
    pub doc_cargo_args: Vec<String>,
    /// Extra libtest arguments (after the names): `--include-ignored`, the
    /// user's arguments after `--`.
    pub libtest_args: Vec<String>,
    /// Arguments for custom-harness targets: the filters and the user's
    /// arguments, as `cargo test` passes them.
    pub custom_args: Vec<String>,
}

/// Shared state of one run, handed to every worker.
pub struct RunContext<'a> {
    pub options: &'a RunOptions,
    sink: &'a (dyn Fn(RunEvent) + Sync),
    cancel: &'a AtomicBool,
    scratch: &'a Utf8Path,
    seq: AtomicU64,
    /// Running processes' unstarted tails (`--dist worksteal` only).
    pub board: Option<steal::Board>,
}

impl RunContext<'_> {
    pub fn emit(&self, event: RunEvent) {
        (self.sink)(event)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// A fresh logfile path for one libtest process.
    pub fn logfile_path(&self, worker: &str) -> Utf8PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.scratch.join(format!("{worker}-{n}.log"))
    }
}

/// Run all groups on the given worker slots.
pub fn run(
    groups: Vec<TestGroup>,
    binaries: &[TestBinary],
    slots: &[WorkerSlot],
    options: &RunOptions,
    cancel: &AtomicBool,
    sink: &(dyn Fn(RunEvent) + Sync),
) -> Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("cargo-xdist-")
        .tempdir()
        .context("cannot create a temporary directory for libtest logfiles")?;
    let scratch_path =
        Utf8Path::from_path(scratch.path()).context("temporary directory path is not UTF-8")?;
    let ctx = RunContext {
        options,
        sink,
        cancel,
        scratch: scratch_path,
        seq: AtomicU64::new(0),
        board: options.worksteal.then(|| steal::Board::new(slots.len())),
    };
    let tests = groups.iter().map(|g| g.tests.len()).sum();
    ctx.emit(RunEvent::Started {
        tests,
        groups: groups.len(),
        workers: slots.len(),
    });
    let started = Instant::now();
    let queue = Queue::new(groups, slots.len());
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
                    let binary = &binaries[unit.binary];
                    worker::run_tests(ctx, slot, index, binary, &unit.key, &unit.tests);
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

/// The next unit for worker `index`: from the queue, else (worksteal) the
/// unstarted tail of a busy worker's group. With a board, the worker counts
/// as active while it holds a unit.
fn next_unit(
    ctx: &RunContext,
    queue: &Queue,
    index: usize,
    slots: &[WorkerSlot],
) -> Option<TestGroup> {
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
    Some(stolen.group)
}

/// The shared queue of groups. `load`-mode units are handed out in batches
/// of one binary's tests, small enough that the work spreads over workers
/// and large enough to save process starts.
struct Queue {
    groups: Mutex<VecDeque<TestGroup>>,
    workers: usize,
}

impl Queue {
    fn new(groups: Vec<TestGroup>, workers: usize) -> Self {
        Queue {
            groups: Mutex::new(groups.into()),
            workers: workers.max(1),
        }
    }

    fn next(&self) -> Option<TestGroup> {
        let mut q = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut first = q.pop_front()?;
        if !first.batchable {
            return Some(first);
        }
        let batch = q.len().div_ceil(self.workers * 4).clamp(1, 64);
        let mut i = 0;
        while first.tests.len() < batch && i < q.len() {
            if q[i].batchable && q[i].binary == first.binary {
                let unit = q.remove(i).expect("index in range");
                first.tests.extend(unit.tests);
            } else {
                i += 1;
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
        Some(first)
    }
}

/// The binary part of a `load` unit key (`bin test::name` → `bin`).
fn binaries_key(key: &str) -> &str {
    key.split_once(' ').map(|(b, _)| b).unwrap_or(key)
}
