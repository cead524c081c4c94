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
