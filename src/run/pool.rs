//! [`run`]: a rayon pool of N threads, each a stable worker (gw0..) that
//! pulls the next unit of work from the shared [`Queue`] (or, under
//! worksteal, from a busy worker's group) and runs it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Instant;

use anyhow::{Context, Result};

use super::channel::verdict_channel;
use super::queue::Queue;
use super::{RunContext, RunOptions, libtest, steal, worker};
use crate::build::BuildOutput;
use crate::env::WorkerSlot;
use crate::event::{EventSink, RunEvent};
use crate::plan::WorkUnit;
use crate::schedule::Order;
use crate::signal::Cancel;

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
    let queue = Queue::new(order, slots.len(), &options.estimates, options.alone);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(slots.len().max(1))
        .thread_name(|i| format!("xdist-gw{i}"))
        .build()
        .context("cannot start the worker pool")?;
    // Orphans of test processes come back to cargo-xdist (crate::leak).
    crate::leak::adopt_orphans(true);
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
    let left = crate::leak::sweep();
    crate::leak::adopt_orphans(false);
    if !left.is_empty() {
        ctx.emit(RunEvent::Leaked {
            worker: "-".into(),
            binary: String::new(),
            tests: Vec::new(),
            processes: left.iter().map(crate::leak::Leaked::event).collect(),
            fails: false,
        });
    }
    ctx.emit(RunEvent::Finished {
        elapsed: started.elapsed(),
        interrupted: cancel.is_cancelled(),
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
