//! Run stage: a rayon pool of N threads, each a stable worker (gw0..) that
//! pulls the next unit of work from a shared queue and runs it. The runner
//! never prints: it emits [`RunEvent`](crate::event::RunEvent)s through the
//! redacting [`EventSink`](crate::event::EventSink), which hands them to the
//! reporters (it does not import the report stage).
//!
//! pool.rs runs the workers, queue.rs hands out the units, context.rs
//! is the state they share, options.rs what shapes every process,
//! channel.rs how libtest reports verdicts; [`worker`] runs libtest
//! units, [`harness`] custom harnesses, [`doctest`] rustdoc, [`steal`]
//! moves work between workers under `--dist worksteal`.
//!
//! `-x`/`--maxfail N`: once N tests have failed for good (a failed attempt
//! that runs again does not count), the run stops as on Ctrl-C, but is no
//! interruption: no unit or retry starts, running processes are stopped at
//! once, and their tests that had not finished are not reported (the
//! summary counts them as not run). libtest then runs with `--nocapture`,
//! so that the output of the failure that stops a process is not lost with
//! it.

mod channel;
mod context;
pub mod doctest;
pub mod harness;
pub mod libtest;
mod options;
pub mod output;
mod pool;
mod queue;
pub mod steal;
pub mod worker;

pub use channel::NO_LOGFILE_VAR;
pub use context::{RunContext, SlowClock};
pub use options::RunOptions;
pub use pool::run;
