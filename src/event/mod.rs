//! The data the runner reports as it goes ([`RunEvent`]), the result of
//! one test ([`TestResult`]), and what carries them to the reporters: the
//! redacting [`EventSink`], the [`Reporter`] trait, and the [`Collector`]
//! that builds the [`RunSummary`]. The runner emits these; reporters
//! (report/) consume them; neither imports the other. A base module: it
//! imports no stage.

mod result;
mod sink;
mod summary;

pub use result::{LISTING, LeakedProcess, Outcome, RunEvent, TestId, TestResult};
pub use sink::EventSink;
pub use summary::{Collector, Reporter, RunSummary};
