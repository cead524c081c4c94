//! Terminal reporter: a line per finished test on stdout (stderr under
//! `--message-format json`), `--no-capture` output and `SLOW` lines as they
//! come, a live progress bar on stderr when it is a terminal, and the
//! closing report (failures' output, slowest tests, coverage, timing, the
//! failed tests and the commands that re-run them, `Summary:` as the very
//! last line).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use console::Style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::rerun::Rerun;
use super::{Reporter, RunSummary, display_name};
use crate::config::{NoTests, ReportOptions};
use crate::coverage::finish::{CoverageOutcome, CoverageTiming};
use crate::error::EXIT_NO_TESTS;
use crate::event::{Outcome, RunEvent, TestResult};

/// How long each phase of a run took (the `Timing:` line), in the order
/// they run; together with `total` they show where a run's fixed cost
/// goes (whatever no phase names is `other`: start-up, configuration,
/// connecting to the database server).
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// Building, or with `--archive-file` opening the archive.
    pub build: Duration,
    /// `--archive-file`: [`Timing::build`] opened an archive, built nothing.
    pub opened_archive: bool,
    pub list: Duration,
    /// Planning and scheduling the work, and starting the reporters.
    pub plan: Duration,
    /// The workers' run, from the first process started to the last ended.
    pub tests: Duration,
    /// Writing the durations, history and last-failed records, and the
    /// JUnit report when asked for.
    pub records: Duration,
    /// `--coverage`'s phases after the run.
    pub coverage: Option<CoverageTiming>,
    /// Creating and dropping the worker databases, when there are any.
    pub db_create: Option<Duration>,
    pub db_drop: Option<Duration>,
    /// From the start of the run command to the closing report.
    pub total: Duration,
}

impl Timing {
    /// `--no-run`'s one line: `Built 9 test binaries in 1.20s`.
    pub fn built(&self, binaries: usize) -> String {
        format!(
            "Built {binaries} test binaries in {:.2}s",
            self.build.as_secs_f64()
        )
    }

    /// Run `f`, adding the time it took to `slot`.
    pub fn time<T>(slot: &mut Duration, f: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = f();
        *slot += start.elapsed();
        out
    }
}

pub struct Terminal {
    opts: ReportOptions,
    rerun: Rerun,
    state: Mutex<State>,
}

struct State {
    bar: Option<ProgressBar>,
    running: BTreeMap<String, String>,
    failed: usize,
    /// The `Running N tests` header is out; results known before the run
    /// (ignored tests) wait in `early` until then.
    started: bool,
    early: Vec<String>,
    /// Printed in the closing report, in the order README.md states.
    timing: Option<Timing>,
    coverage: Vec<String>,
}

impl Terminal {
    /// `rerun` builds the command lines that end the failures block.
    pub fn new(opts: ReportOptions, rerun: Rerun) -> Self {
        Terminal {
            opts,
            rerun,
            state: Mutex::new(State {
                bar: None,
                running: BTreeMap::new(),
                failed: 0,
                started: false,
                early: Vec::new(),
                timing: None,
                coverage: Vec::new(),
            }),
        }
    }

    /// The human output: stdout, or stderr when stdout carries JSON.
    fn out(&self) -> Box<dyn Write + '_> {
        if self.opts.json {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        }
    }

    /// Print `line` above the progress bar (the bar is cleared, the line
    /// printed, the bar drawn again below it: no stale frame is left).
    fn println(&self, st: &State, line: &str) {
        let print = || {
            let mut out = self.out();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
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

    /// One line about the run as a whole (what `--lf`/`--ff` selected).
    pub fn note(&self, line: &str) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.println(&st, line);
    }

    /// Keep the `Timing:` line for the closing report (see `timing_line`).
    pub fn timing(&self, t: &Timing) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.timing = Some(t.clone());
    }

    /// Keep the coverage tables and the `--cov-fail-under` verdict for the
    /// closing report; returns whether coverage is under the minimum.
    pub fn coverage(&self, c: &CoverageOutcome) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !c.warnings.trim().is_empty() {
            st.coverage
                .push(format!("warning: {}", c.warnings.trim_end()));
        }
        if !c.terminal.is_empty() {
            st.coverage
                .push(format!("\nCoverage:\n{}", c.terminal.trim_end()));
        }
        match &c.below {
            Some(low) => {
                st.coverage.push(format!("FAIL coverage: {low}"));
                true
            }
            None => false,
        }
    }

    /// The closing report, in README.md's order: failures' output,
    /// slowest tests, coverage, timing, `Ran ...`, the failed tests with
    /// the commands that re-run them, and `Summary:` as the last line.
    fn closing_report(&self, st: &State, summary: &RunSummary, exit_code: i32) {
        if exit_code == EXIT_NO_TESTS && summary.results.is_empty() {
            // Nothing ran nor was skipped: the error says it all.
            if let Some(line) = self.no_tests_line(summary, exit_code) {
                eprintln!("{line}");
            }
            return;
        }
        let mut out = self.out();
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
                    let _ = writeln!(out, "reason: {}", terminal_safe(reason));
                }
                if !r.output.trim().is_empty() {
                    let _ = writeln!(out, "{}", terminal_safe(r.output.trim_end()));
                }
            }
        }
        if self.opts.durations > 0 {
            let mut ran: Vec<&TestResult> =
                summary.results.iter().filter(|r| r.outcome.ran()).collect();
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
        for block in &st.coverage {
            let _ = writeln!(out, "{block}");
        }
        let flaky: Vec<&TestResult> = summary.results.iter().filter(|r| r.is_flaky()).collect();
        if !flaky.is_empty() {
            let _ = writeln!(out, "\nFlaky tests:");
            for r in &flaky {
                let _ = writeln!(out, "    {} {}", attempt_label(r), display_name(r));
            }
        }
        if !self.opts.quiet {
            if let Some(t) = &st.timing {
                let _ = writeln!(out, "\nTiming: {}", timing_line(t));
            }
            let restarts = match summary.restarts {
                0 => String::new(),
                1 => ", 1 process restarted after a crash".to_string(),
                n => format!(", {n} processes restarted after crashes"),
            };
            let retries = match summary.retried.values().map(Vec::len).sum::<usize>() {
                0 => String::new(),
                n => format!(", {} (--retries)", count(n, "retry", "retries")),
            };
            let _ = writeln!(
                out,
                "\nRan {} in {} on {}{restarts}{retries}",
                count(summary.ran(), "test", "tests"),
                format_secs(summary.elapsed),
                count(summary.workers, "worker", "workers"),
            );
        }
        if !failures.is_empty() {
            let _ = writeln!(out, "\nFailed tests:");
            for r in &failures {
                let _ = writeln!(out, "    {} {}", label(r.outcome), display_name(r));
            }
            let commands = self.rerun.commands(&failures);
            if !commands.is_empty() {
                let _ = writeln!(out, "Re-run them with:");
                for c in commands {
                    let _ = writeln!(out, "{c}");
                }
            }
        }
        if summary.interrupted && summary.not_run == 0 && summary.ran() == 0 {
            // Stopped while building or listing: nothing was scheduled.
            let _ = writeln!(out, "interrupted before any test ran");
        } else if summary.interrupted {
            let not_run = count(summary.not_run, "test", "tests");
            let _ = writeln!(out, "interrupted: {not_run} not run");
        } else if let Some(line) = self.stopped_line(summary) {
            let _ = writeln!(out, "{line}");
        }
        if !flaky.is_empty() {
            let fails = if self.opts.flaky_fails {
                " (--flaky-fails: they fail the run)"
            } else {
                " (counted as passed)"
            };
            let tests = count(flaky.len(), "test", "tests");
            let _ = writeln!(out, "Flaky: {tests} failed, then passed on a retry{fails}");
        }
        if let Some(line) = self.no_tests_line(summary, exit_code) {
            // A diagnostic: on stderr, before the summary line.
            let _ = out.flush();
            eprintln!("{line}");
        }
        let _ = writeln!(out, "{}", summary.line());
        let _ = out.flush();
    }

    /// What a run with no test to run says (`--no-tests`).
    fn no_tests_line(&self, summary: &RunSummary, exit_code: i32) -> Option<String> {
        if !summary.no_tests() || self.opts.no_tests == NoTests::Pass {
            return None;
        }
        let (why, fix) = match summary.skipped() {
            0 => (
                "no test matches the filters".to_string(),
                "check the filters and the package selection",
            ),
            n => (
                format!("the {n} matching tests are all ignored"),
                "run them with --include-ignored",
            ),
        };
        Some(if exit_code == EXIT_NO_TESTS {
            format!("error: no tests to run: {why}; {fix}, or pass --no-tests=pass")
        } else {
            format!("warning: no tests to run: {why}")
        })
    }
}

/// `build 1.20s, list 0.10s, plan 0.00s, tests 2.10s, records 0.01s,
/// coverage 0.40s (merge 0.10s, export 0.25s, reports 0.05s), databases
/// 0.05s (create) + 0.03s (drop), other 0.02s, total 3.90s`. The database
/// creation overlaps the build, so it does not count in `other`.
fn timing_line(t: &Timing) -> String {
    let s = |d: Duration| format!("{:.2}s", d.as_secs_f64());
    let build = if t.opened_archive {
        "open archive"
    } else {
        "build"
    };
    let mut parts = vec![
        format!("{build} {}", s(t.build)),
        format!("list {}", s(t.list)),
        format!("plan {}", s(t.plan)),
        format!("tests {}", s(t.tests)),
        format!("records {}", s(t.records)),
    ];
    let mut named = t.build + t.list + t.plan + t.tests + t.records;
    if let Some(c) = t.coverage {
        let all = c.merge + c.export + c.reports;
        parts.push(format!(
            "coverage {} (merge {}, export {}, reports {})",
            s(all),
            s(c.merge),
            s(c.export),
            s(c.reports)
        ));
        named += all;
    }
    if let Some(create) = t.db_create {
        let drop = t.db_drop.unwrap_or_default();
        parts.push(format!(
            "databases {} (create) + {} (drop)",
            s(create),
            s(drop)
        ));
        named += drop;
    }
    parts.push(format!("other {}", s(t.total.saturating_sub(named))));
    parts.push(format!("total {}", s(t.total)));
    parts.join(", ")
}

impl Terminal {
    /// `--maxfail`/`-x` stopped the run: `not run: 3 tests (...)`.
    fn stopped_line(&self, summary: &RunSummary) -> Option<String> {
        let failing = summary.failing(self.opts.flaky_fails);
        let limit = self.opts.max_fail?;
        if summary.not_run == 0 || failing < limit {
            return None;
        }
        Some(format!(
            "not run: {} (the run stopped after {}: {})",
            count(summary.not_run, "test", "tests"),
            count(failing, "failed test", "failed tests"),
            if limit == 1 {
                "-x".to_string()
            } else {
                format!("--maxfail {limit}")
            }
        ))
    }
}

/// `Running 3 tests and the doctests of 2 packages in 5 groups on 2
/// workers`: a package's doctests are counted only as they run.
fn running_line(tests: usize, doctest_packages: usize, groups: usize, workers: usize) -> String {
    let what = match (tests, doctest_packages) {
        (_, 0) => count(tests, "test", "tests"),
        (0, d) => format!("the doctests of {}", count(d, "package", "packages")),
        (t, d) => format!(
            "{} and the doctests of {}",
            count(t, "test", "tests"),
            count(d, "package", "packages")
        ),
    };
    format!(
        "Running {what} in {} on {}",
        count(groups, "group", "groups"),
        count(workers, "worker", "workers")
    )
}

/// `1 test`, `2 tests`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn format_secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

fn label(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASS",
        Outcome::Failed => "FAIL",
        Outcome::TimedOut => "TIMEOUT",
        Outcome::Skipped | Outcome::Unaffected => "SKIP",
    }
}

/// A result's label: the outcome's, and under `--retries` the attempt
/// (`FAIL 1/3`, `FLAKY 2/3`, `FAIL 3/3`) once a test has failed.
fn attempt_label(r: &TestResult) -> String {
    if r.max_attempts <= 1 || !(r.is_retry() || r.will_retry) {
        return label(r.outcome).to_string();
    }
    let word = if r.is_flaky() {
        "FLAKY"
    } else {
        label(r.outcome)
    };
    format!("{word} {}/{}", r.attempt, r.max_attempts)
}

/// The width of every result label of a run where a test gets up to
/// `max_attempts` attempts: `TIMEOUT`, and under `--retries` room for
/// `TIMEOUT 10/10`, so that the `[` column lines up.
fn label_width(max_attempts: u32) -> usize {
    match max_attempts {
        0 | 1 => 7,
        n => 7 + 1 + 2 * n.to_string().len() + 1,
    }
}

/// The label padded to [`label_width`], in its color when `color`.
fn painted_label(r: &TestResult, color: bool) -> String {
    let style = match r.outcome {
        _ if r.is_flaky() => Style::new().yellow().bold(),
        Outcome::Passed => Style::new().green(),
        Outcome::Failed | Outcome::TimedOut => Style::new().red().bold(),
        Outcome::Skipped | Outcome::Unaffected => Style::new().yellow(),
    };
    let width = label_width(r.max_attempts);
    paint(&format!("{:<width$}", attempt_label(r)), style, color)
}

/// `text` in `style` when `color` (whatever console's own detection says:
/// `--color` and `NO_COLOR` were resolved into `color`), plain otherwise.
fn paint(text: &str, style: Style, color: bool) -> String {
    style.force_styling(color).apply_to(text).to_string()
}

/// `text` (a test's output) safe to show on a terminal: SGR sequences
/// (`ESC [ 1;31 m`, colors, so a colored assertion diff stays readable),
/// newlines, tabs and `\r\n` are kept; every other control character is
/// shown as text (`\x1b`, `\x07`, `\u{9b}`), so that a sequence that would
/// clear the screen, move the cursor or set the window title shows as
/// `\x1b[2J` instead, and cannot hide or overwrite the report's lines.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    let plain = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(plain) && !text.contains('\x1b') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        if c == '\x1b' {
            if let Some(len) = sgr_len(after) {
                out.push_str(&rest[..1 + len]);
                rest = &after[len..];
                continue;
            }
        }
        if plain(c) || (c == '\r' && after.starts_with('\n')) {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
        rest = after;
    }
    Cow::Owned(out)
}

/// If `text` (what follows an ESC) goes on with an SGR sequence's
/// `[ params m` (params: digits, `;` and `:`), its length.
fn sgr_len(text: &str) -> Option<usize> {
    let params = text.strip_prefix('[')?;
    let end = params.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':'))?;
    params[end..].starts_with('m').then_some(1 + end + 1)
}

/// `SLOW    [> 60.000s] gw0 alpha::test/api create_user`
fn slow_line(worker: &str, binary: &str, name: &str, elapsed: Duration, color: bool) -> String {
    format!(
        "{} [>{:>7.3}s] {worker} {binary} {name}",
        paint("SLOW   ", Style::new().yellow(), color),
        elapsed.as_secs_f64()
    )
}

/// `PASS [ 0.012s] gw1 alpha::tests/api.rs create_user`; under `--retries`,
/// `FLAKY 2/2 [ 0.012s] gw1 ...`.
pub fn result_line(r: &TestResult, color: bool) -> String {
    format!(
        "{} [{:>7.3}s] {} {}",
        painted_label(r, color),
        r.duration.as_secs_f64(),
        r.worker,
        display_name(r)
    )
}

/// `LEAK    gw0 alpha::test/api daemon: left 1 process running (pid 12:
/// sleep 600), killed`; a test process's leftovers that started near the
/// boundary of two tests name both (`a or b`); what the end of the run
/// found names none (`the run`).
fn leak_line(
    worker: &str,
    binary: &str,
    tests: &[String],
    processes: &[crate::event::LeakedProcess],
    color: bool,
) -> String {
    let whose = match tests {
        [] => "the run".to_string(),
        _ => format!("{worker} {binary} {}", tests.join(" or ")),
    };
    let what = crate::event::LeakedProcess::describe(processes);
    format!(
        "{} {whose}: {}, killed",
        paint("LEAK   ", Style::new().yellow(), color),
        terminal_safe(&what)
    )
}

impl Reporter for Terminal {
    fn on_event(&self, event: &RunEvent) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let quiet = self.opts.quiet;
        match event {
            RunEvent::Started {
                tests,
                groups,
                workers,
                doctest_packages,
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
                // A run with nothing to run under `--no-tests=fail` ends
                // with the error alone.
                let nothing = *tests == 0 && *doctest_packages == 0 && *groups == 0;
                let silent = quiet || (nothing && self.opts.no_tests == NoTests::Fail);
                if !silent {
                    let header = running_line(*tests, *doctest_packages, *groups, *workers);
                    self.println(&st, &header);
                }
                st.started = true;
                for line in std::mem::take(&mut st.early) {
                    self.println(&st, &line);
                }
            }
            // What runs where is for the progress bar's message only.
            RunEvent::TestStarted { worker, name, .. } if st.bar.is_some() => {
                st.running.insert(worker.clone(), name.clone());
                Self::update_message(&st);
            }
            RunEvent::TestFinished(r) => {
                if st.running.get(&r.worker) == Some(&r.name) {
                    st.running.remove(&r.worker);
                }
                if r.is_final_failure() {
                    st.failed += 1;
                }
                if !quiet || r.is_final_failure() {
                    let mut line = result_line(r, self.opts.color);
                    if let Some(reason) = r.reason.as_ref().filter(|_| r.outcome.is_failure()) {
                        let first = reason.lines().next().unwrap_or_default();
                        line.push_str(&format!(" ({})", terminal_safe(first)));
                    }
                    if r.outcome == Outcome::Unaffected {
                        line.push_str(" (unaffected)");
                    }
                    if st.started {
                        self.println(&st, &line);
                    } else {
                        st.early.push(line);
                    }
                }
                if let Some(bar) = &st.bar {
                    if r.outcome.ran() && !r.is_retry() && !r.amends {
                        bar.inc(1);
                    }
                }
                Self::update_message(&st);
            }
            RunEvent::Output { worker, text, .. } => {
                let prefixed: Vec<String> = (text.lines())
                    .map(|l| format!("[{worker}] {}", terminal_safe(l)))
                    .collect();
                self.println(&st, &prefixed.join("\n"));
            }
            RunEvent::Slow {
                worker,
                binary,
                name,
                elapsed,
            } if !quiet => {
                let line = slow_line(worker, binary, name, *elapsed, self.opts.color);
                self.println(&st, &line);
            }
            RunEvent::Leaked {
                worker,
                binary,
                tests,
                processes,
                fails,
            } if !quiet || *fails => {
                let line = leak_line(worker, binary, tests, processes, self.opts.color);
                self.println(&st, &line);
            }
            RunEvent::ProcessRestarted {
                worker,
                group,
                remaining,
            } if !quiet => {
                let line = format!(
                    "RESTART {worker} {group}: {remaining} remaining tests in a fresh process"
                );
                self.println(&st, &line);
            }
            RunEvent::Stolen {
                thief,
                victim,
                group,
                tests,
            } if !quiet => {
                let line = format!(
                    "STEAL   {thief} took {tests} unstarted tests of {group} from {victim}"
                );
                self.println(&st, &line);
            }
            RunEvent::Finished { .. } => {
                // Gone before anything else is printed (database cleanup,
                // coverage, the closing report).
                if let Some(bar) = st.bar.take() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }

    fn finish(&self, summary: &RunSummary, exit_code: i32) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = st.bar.take() {
            bar.finish_and_clear();
        }
        self.closing_report(&st, summary, exit_code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_stay_and_other_control_sequences_show_as_text() {
        let diff = "\x1b[31m-left\x1b[0m\n\x1b[1;32m+right\x1b[m \x1b[38:5:208mx\x1b[0m";
        assert_eq!(terminal_safe(diff), diff);
        assert!(matches!(terminal_safe("plain\ttext\n"), Cow::Borrowed(_)));
        let cases = [
            ("\x1b[2Jcleared", r"\x1b[2Jcleared"),
            ("up\x1b[1A\x1b[Kover", r"up\x1b[1A\x1b[Kover"),
            ("\x1b]0;title\x07after", r"\x1b]0;title\x07after"),
            ("\x1b[31", r"\x1b[31"),
            ("\x1bc reset", r"\x1bc reset"),
            ("back\x08\x08space", r"back\x08\x08space"),
            ("a\rb\r\nc", "a\\x0db\r\nc"),
            ("csi\u{9b}2J del\x7f", r"csi\u{9b}2J del\x7f"),
            ("é ✓", "é ✓"),
        ];
        for (text, want) in cases {
            assert_eq!(terminal_safe(text), want, "{text:?}");
        }
    }

    fn result(outcome: Outcome) -> TestResult {
        TestResult::new(
            "my_crate::test/api",
            "create_user",
            Some("tests/api.rs".into()),
            "g",
            "gw1",
            outcome,
        )
        .took(Duration::from_millis(12))
    }

    #[test]
    fn colored_labels_keep_their_width() {
        assert_eq!(
            painted_label(&result(Outcome::Failed), true),
            "\x1b[31m\x1b[1mFAIL   \x1b[0m"
        );
        assert_eq!(painted_label(&result(Outcome::Passed), false), "PASS   ");
    }

    #[test]
    fn result_line_format() {
        assert_eq!(
            result_line(&result(Outcome::Passed), false),
            "PASS    [  0.012s] gw1 my_crate::test/api create_user"
        );
    }

    #[test]
    fn retried_results_name_their_attempt() {
        let line = |outcome, attempt, again| {
            result_line(&result(outcome).on_attempt(attempt, 2, again), false)
        };
        assert_eq!(
            line(Outcome::Passed, 2, false),
            "FLAKY 2/2   [  0.012s] gw1 my_crate::test/api create_user"
        );
        assert!(line(Outcome::Failed, 1, true).starts_with("FAIL 1/2    ["));
        assert!(line(Outcome::TimedOut, 2, false).starts_with("TIMEOUT 2/2 ["));
        // A first attempt that passed, or a test that gets one attempt only.
        assert!(line(Outcome::Passed, 1, false).starts_with("PASS        ["));
        // One column for `[` whatever the label, also with 10 attempts.
        let ten = |outcome, attempt, again| {
            let r = result(outcome).on_attempt(attempt, 10, again);
            result_line(&r, false).find('[')
        };
        let at = ten(Outcome::TimedOut, 10, false);
        assert_eq!(ten(Outcome::Passed, 1, false), at);
        assert_eq!(ten(Outcome::Passed, 3, false), at);
        assert_eq!(ten(Outcome::Failed, 1, true), at);
        let once = result(Outcome::Failed).on_attempt(1, 1, false);
        assert!(result_line(&once, false).starts_with("FAIL    ["));
    }

    #[test]
    fn the_end_names_flaky_and_not_run_tests_before_the_summary() {
        let opts = ReportOptions {
            quiet: true,
            max_fail: Some(2),
            ..Default::default()
        };
        let t = Terminal::new(opts, crate::report::rerun::Rerun::default());
        let summary = RunSummary {
            results: vec![
                result(Outcome::Passed).on_attempt(2, 2, false),
                result(Outcome::Failed),
                result(Outcome::Failed),
            ],
            not_run: 3,
            ..Default::default()
        };
        assert_eq!(
            t.stopped_line(&summary).as_deref(),
            Some("not run: 3 tests (the run stopped after 2 failed tests: --maxfail 2)")
        );
        let one_failure = RunSummary {
            results: vec![result(Outcome::Failed)],
            not_run: 3,
            ..Default::default()
        };
        assert_eq!(t.stopped_line(&one_failure), None, "under the limit");
    }

    #[test]
    fn the_timing_line_names_every_phase() {
        let ms = Duration::from_millis;
        let mut t = Timing {
            build: ms(1200),
            list: ms(100),
            plan: ms(10),
            tests: ms(2000),
            records: ms(20),
            total: ms(3400),
            ..Default::default()
        };
        assert_eq!(
            timing_line(&t),
            "build 1.20s, list 0.10s, plan 0.01s, tests 2.00s, records 0.02s, \
             other 0.07s, total 3.40s"
        );
        t.opened_archive = true;
        t.records = ms(50);
        t.coverage = Some(CoverageTiming {
            merge: ms(100),
            export: ms(250),
            reports: ms(50),
        });
        t.db_create = Some(ms(500));
        t.db_drop = Some(ms(40));
        t.total = ms(4000);
        assert_eq!(
            timing_line(&t),
            "open archive 1.20s, list 0.10s, plan 0.01s, tests 2.00s, records 0.05s, \
             coverage 0.40s (merge 0.10s, export 0.25s, reports 0.05s), \
             databases 0.50s (create) + 0.04s (drop), other 0.20s, total 4.00s"
        );
    }
}
