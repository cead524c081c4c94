//! Report stage: [`RunEvent`](crate::event::RunEvent)s → reporters. Every
//! event passes the [`EventSink`], which redacts secrets before any
//! reporter sees it; the [`Collector`] turns the stream into a
//! [`RunSummary`]; the terminal reporter prints as the run goes; the JUnit
//! writer works from the summary at the end; [`listing`] prints `cargo
//! xdist list`; [`impact`] writes `--record-impact`'s map. The sink, the summary and the [`Reporter`] trait live in
//! [`crate::event`] (the runner emits through them without importing this
//! stage) and are re-exported here.

pub mod impact;
pub mod json;
pub mod junit;
pub mod last_failed;
pub mod listing;
pub mod names;
pub mod recorder;
pub mod reporters;
pub mod rerun;
pub mod terminal;

pub use crate::event::{Collector, EventSink, Reporter, RunSummary};
pub use names::{display_name, dropped_databases, package_of};
pub use reporters::{failed, reporters};
