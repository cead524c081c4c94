//! Terminal reporter: a line per finished test on stdout, a live progress
//! bar on stderr when it is a terminal, and the closing report (failures'
//! output, slowest tests, timing line, `Summary:` as the very last line).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, RunSummary, display_name};
use crate::config::ReportOptions;
use crate::coverage::finish::CoverageOutcome;
use crate::event::{Outcome, RunEvent, TestResult};

/// How long the stages around the run took (the `Timing:` line).
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub build: Duration,
    pub list: Duration,
    /// Creating and dropping the worker databases, when there are any.
    pub db_create: Option<Duration>,
    pub db_drop: Option<Duration>,
}

impl Timing {
    /// `--no-run`'s one line: `Built 9 test binaries in 1.20s`.
    pub fn built(&self, binaries: usize) -> String {
        format!(
            "Built {binaries} test binaries in {:.2}s",
            self.build.as_secs_f64()
        )
    }
}

pub struct Terminal {
    opts: ReportOptions,
    state: Mutex<State>,
}

struct State {
    bar: Option<ProgressBar>,
    running: BTreeMap<String, String>,
    failed: usize,
}

impl Terminal {
    pub fn new(opts: ReportOptions) -> Self {
        Terminal {
            opts,
            state: Mutex::new(State {
                bar: None,
                running: BTreeMap::new(),
                failed: 0,
            }),
        }
    }

    fn println(st: &State, line: &str) {
        let print = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        };
        match &st.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn update_message(st: &State) {
        if let Some(bar) = &st.bar {
            let running: Vec<String> = st.running.iter().map(|(w, t)| format!("{w} {t}")).collect();
            let failed = if st.failed > 0 {
                format!("{} failed · ", st.failed)
            } else {
                String::new()
            };
            bar.set_message(format!("{failed}{}", running.join(" | ")));
        }
    }

    /// `Timing: build 1.20s, list 0.10s, databases 0.05s (create) + 0.03s (drop)`.
    pub fn timing(&self, t: &Timing) {
        let mut line = format!(
            "build {:.2}s, list {:.2}s",
            t.build.as_secs_f64(),
            t.list.as_secs_f64()
        );
        if let Some(create) = t.db_create {
            line.push_str(&format!(
                ", databases {:.2}s (create) + {:.2}s (drop)",
                create.as_secs_f64(),
                t.db_drop.unwrap_or_default().as_secs_f64()
            ));
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Self::println(&st, &format!("\nTiming: {line}"));
    }

    /// The coverage tables and the `--cov-fail-under` verdict; returns
    /// whether coverage is under the minimum.
    pub fn coverage(&self, c: &CoverageOutcome) -> bool {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !c.warnings.trim().is_empty() {
            Self::println(&st, &format!("warning: {}", c.warnings.trim_end()));
        }
        if !c.terminal.is_empty() {
            Self::println(&st, &format!("\nCoverage:\n{}", c.terminal.trim_end()));
        }
        match &c.below {
            Some(low) => {
                Self::println(&st, &format!("FAIL coverage: {low}"));
                true
            }
            None => false,
        }
    }

    /// The closing report; the last line printed is the summary line.
    pub fn finish(&self, summary: &RunSummary) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = &st.bar {
            bar.finish_and_clear();
        }
        drop(st);
        let mut out = std::io::stdout().lock();
        let failures: Vec<&TestResult> = summary
            .results
            .iter()
            .filter(|r| r.outcome.is_failure())
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\nFailures:");
            for r in &failures {
                let _ = writeln!(
                    out,
                    "\n--- {} {} [{} {:.3}s]",
                    label(r.outcome),
                    display_name(r),
                    r.worker,
                    r.duration.as_secs_f64()
                );
                if let Some(reason) = &r.reason {
                    let _ = writeln!(out, "reason: {reason}");
                }
                if !r.output.trim().is_empty() {
                    let _ = writeln!(out, "{}", r.output.trim_end());
                }
            }
        }
        if self.opts.durations > 0 {
            let mut ran: Vec<&TestResult> = summary
                .results
                .iter()
                .filter(|r| r.outcome != Outcome::Skipped)
                .collect();
            ran.sort_by_key(|r| std::cmp::Reverse(r.duration));
            let _ = writeln!(
                out,
                "\nSlowest {} tests:",
                self.opts.durations.min(ran.len())
            );
            for r in ran.iter().take(self.opts.durations) {
                let _ = writeln!(
                    out,
                    "  {:>8.3}s {} {}",
                    r.duration.as_secs_f64(),
                    r.worker,
                    display_name(r)
                );
            }
        }
        if !failures.is_empty() {
            let _ = writeln!(out, "\nFailed tests:");
            for r in &failures {
                let _ = writeln!(out, "    {} {}", label(r.outcome), display_name(r));
            }
        }
        if !self.opts.quiet {
            let restarts = match summary.restarts {
                0 => String::new(),
                1 => ", 1 process restarted after a crash".to_string(),
                n => format!(", {n} processes restarted after crashes"),
            };
            let _ = writeln!(
                out,
                "\nRan {} tests in {} on {} worker{}{restarts}",
                summary
                    .results
                    .iter()
                    .filter(|r| r.outcome != Outcome::Skipped)
                    .count(),
                format_secs(summary.elapsed),
                summary.workers,
                if summary.workers == 1 { "" } else { "s" },
            );
        }
        if summary.interrupted {
            let _ = writeln!(out, "interrupted: {} tests not run", summary.not_run);
        }
        let _ = writeln!(out, "{}", summary.line());
        let _ = out.flush();
    }
}

fn format_secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

fn label(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASS",
        Outcome::Failed => "FAIL",
        Outcome::TimedOut => "TIMEOUT",
        Outcome::Skipped => "SKIP",
    }
}

/// The label padded to 7 columns, in its ANSI color when `color`.
fn painted_label(o: Outcome, color: bool) -> String {
    let text = format!("{:<7}", label(o));
    if !color {
        return text;
    }
    let code = match o {
        Outcome::Passed => "32",
        Outcome::Failed | Outcome::TimedOut => "1;31",
        Outcome::Skipped => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `PASS [ 0.012s] gw1 alpha::tests/api.rs create_user`
pub fn result_line(r: &TestResult, color: bool) -> String {
    format!(
        "{} [{:>7.3}s] {} {}",
        painted_label(r.outcome, color),
        r.duration.as_secs_f64(),
        r.worker,
        display_name(r)
    )
}

impl Reporter for Terminal {
    fn on_event(&self, event: &RunEvent) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            RunEvent::Started {
                tests,
                groups,
                workers,
            } => {
                if self.opts.progress {
                    let bar = ProgressBar::with_draw_target(
                        Some(*tests as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{elapsed:>4} [{bar:25}] {pos}/{len} {wide_msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    st.bar = Some(bar);
                }
                if !self.opts.quiet {
                    Self::println(
                        &st,
                        &format!(
                            "Running {tests} tests in {groups} groups on {workers} worker{}",
                            if *workers == 1 { "" } else { "s" }
                        ),
                    );
                }
            }
            RunEvent::TestStarted { worker, name, .. } => {
                st.running.insert(worker.clone(), name.clone());
                Self::update_message(&st);
            }
            RunEvent::TestFinished(r) => {
                if st.running.get(&r.worker) == Some(&r.name) {
                    st.running.remove(&r.worker);
                }
                if r.outcome.is_failure() {
                    st.failed += 1;
                }
                if !self.opts.quiet || r.outcome.is_failure() {
                    let mut line = result_line(r, self.opts.color);
                    if let Some(reason) = r.reason.as_ref().filter(|_| r.outcome.is_failure()) {
                        line.push_str(&format!(" ({})", reason.lines().next().unwrap_or_default()));
                    }
                    Self::println(&st, &line);
                }
                if let Some(bar) = &st.bar {
                    if r.outcome != Outcome::Skipped {
                        bar.inc(1);
                    }
                }
                Self::update_message(&st);
            }
            RunEvent::ProcessRestarted {
                worker,
                group,
                remaining,
            } => {
                if !self.opts.quiet {
                    Self::println(
                        &st,
                        &format!(
                            "RESTART {worker} {group}: {remaining} remaining tests in a fresh process"
                        ),
                    );
                }
            }
            RunEvent::Stolen {
                thief,
                victim,
                group,
                tests,
            } => {
                if !self.opts.quiet {
                    Self::println(
                        &st,
                        &format!(
                            "STEAL   {thief} took {tests} unstarted tests of {group} from {victim}"
                        ),
                    );
                }
            }
            RunEvent::FailureOutput { .. } | RunEvent::Finished { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colored_labels_keep_their_width() {
        assert_eq!(
            painted_label(Outcome::Failed, true),
            "\x1b[1;31mFAIL   \x1b[0m"
        );
        assert_eq!(painted_label(Outcome::Passed, false), "PASS   ");
    }

    #[test]
    fn result_line_format() {
        let r = TestResult {
            binary: "my_crate::test/api".into(),
            name: "create_user".into(),
            source_path: Some("tests/api.rs".into()),
            group: "g".into(),
            worker: "gw1".into(),
            outcome: Outcome::Passed,
            duration: Duration::from_millis(12),
            reason: None,
            output: String::new(),
        };
        assert_eq!(
            result_line(&r, false),
            "PASS    [  0.012s] gw1 my_crate::test/api create_user"
        );
    }
}
