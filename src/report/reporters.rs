//! The run's reporters, as main.rs sets them up, and how a report that
//! could not be written is told.

use std::sync::Arc;

use super::{json, rerun, terminal};
use crate::build::BuildOutput;
use crate::config::ReportOptions;
use crate::event::{Collector, Reporter};

/// The run's reporters: the collector (for the summary), the terminal
/// (for the closing report) and, under `--message-format json`, the JSON
/// lines; the last element lists them all, for the
/// [`EventSink`](crate::event::EventSink).
pub fn reporters(
    opts: &ReportOptions,
    build: &BuildOutput,
    run_id: &str,
) -> (
    Arc<Collector>,
    Arc<terminal::Terminal>,
    Vec<Arc<dyn Reporter>>,
) {
    let collector = Arc::new(Collector::default());
    let rerun = rerun::Rerun::new(&opts.rerun_args, build);
    let terminal = Arc::new(terminal::Terminal::new(opts.clone(), rerun));
    let mut all: Vec<Arc<dyn Reporter>> = vec![collector.clone(), terminal.clone()];
    if opts.json {
        all.push(Arc::new(json::Json::new(run_id)));
    }
    (collector, terminal, all)
}

/// Whether a report (`what`) could not be written; says why on stderr.
/// `None`: the report was not asked for.
pub fn failed<T>(result: Option<&anyhow::Result<T>>, what: &str) -> bool {
    match result {
        Some(Err(e)) => {
            eprintln!("error: cannot write {what}: {e:#}");
            true
        }
        _ => false,
    }
}
