//! `--doc`: a package's doctests as one unit of work, run by `cargo test
//! --doc` on a worker (with its environment and database), each doctest
//! reported on its own.
//!
//! Cargo gets the user's own package selection (`--workspace`, `-p A -p
//! B`, ...; see [`crate::build::doc_cargo_args`]), so it resolves features
//! and finds the libraries built exactly as `cargo test` would: `-p PKG`
//! alone would resolve `PKG`'s features by themselves and rebuild it. To run
//! one package's doctests only, cargo-xdist is cargo's `RUSTDOC`: run so
//! ([`rustdoc_shim`]), it hands the doctest run of that package to the real
//! rustdoc and ends the other packages' at once, successfully.
//!
//! Verdicts come from libtest's `--logfile`, as for other tests. rustdoc
//! may run two libtest sessions for one package (edition 2024's merged
//! doctests, then the standalone ones), and each opens the logfile anew,
//! truncating it. So the logfile is a named pipe that cargo-xdist keeps
//! open for reading: both sessions' entries arrive, none is lost.
//!
//! What the doctests leave running (a daemon one starts) is found and
//! killed when cargo exits, as for any test process (see [`crate::leak`]:
//! the tag cargo-xdist gives cargo reaches rustdoc and each doctest), and
//! reported as `LEAK` for the doctests that may have started it
//! (`leak_suspects`).
//!
//! Doctest names have the form `src/lib.rs - path::item (line 12)`. rustdoc
//! splits the test arguments it passes libtest at whitespace, so a filter
//! with a space in it (a doctest's name) would select nothing: such filters
//! are replaced by ones without whitespace that select the same doctests
//! of the package's listing (`whitespace_free_filters`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use fs_err::os::unix::fs::OpenOptionsExt;

use super::RunContext;
use super::libtest::{self, Verdict};
use super::output::{LiveLines, MaskedStreams, append_bounded, is_result_word, tail};
use crate::build::{DocPackage, cargo_program};
use crate::config::{Filters, IgnoredMode};
use crate::env::{WorkerSlot, command};
use crate::error::describe_status;
use crate::event::{LeakedProcess, Outcome, RunEvent, TestResult};
use crate::leak::Leaked;
use crate::process::{self, Event, KillReason, Stream};

/// Set for a `cargo test --doc` run: the directory of the package whose
/// doctests run; rustdoc (cargo-xdist as [`rustdoc_shim`]) skips the others.
const DOCTESTS_OF: &str = "XDIST_DOCTESTS_OF";
/// The rustdoc the shim runs.
const REAL_RUSTDOC: &str = "XDIST_REAL_RUSTDOC";
/// The user's own `RUSTDOC`, given back to the real rustdoc.
const USER_RUSTDOC: &str = "XDIST_USER_RUSTDOC";

/// Run as cargo's `RUSTDOC` (when `DOCTESTS_OF` is set): a doctest run of
/// another package than that one ends at once, successfully, with nothing
/// to report; anything else becomes the real rustdoc, in this process, with
/// the environment cargo gave it. `None`: not run as rustdoc. On return
/// the process exits with the code.
pub fn rustdoc_shim() -> Option<i32> {
    use std::os::unix::process::CommandExt;
    let only = std::env::var_os(DOCTESTS_OF)?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // Cargo sets the package's directory for each rustdoc it starts.
    if args.iter().any(|a| a == "--test") && std::env::var_os("CARGO_MANIFEST_DIR") != Some(only) {
        return Some(0);
    }
    let real = std::env::var_os(REAL_RUSTDOC).unwrap_or_else(|| "rustdoc".into());
    let mut cmd = std::process::Command::new(&real);
    cmd.args(args);
    match std::env::var_os(USER_RUSTDOC) {
        Some(user) => cmd.env("RUSTDOC", user),
        None => cmd.env_remove("RUSTDOC"),
    };
    for var in [DOCTESTS_OF, REAL_RUSTDOC, USER_RUSTDOC] {
        cmd.env_remove(var);
    }
    let e = cmd.exec();
    eprintln!(
        "error: cannot run rustdoc ({}): {e}; check RUSTDOC and PATH",
        real.to_string_lossy()
    );
    Some(101)
}

/// The rustdoc cargo would run: `$RUSTDOC`, else the one beside cargo
/// (a toolchain's), else `rustdoc` on the PATH.
fn real_rustdoc() -> OsString {
    if let Some(user) = std::env::var_os("RUSTDOC") {
        return user;
    }
    let cargo = std::path::PathBuf::from(cargo_program());
    match cargo.parent().map(|dir| dir.join("rustdoc")) {
        Some(beside) if cargo.is_absolute() && beside.is_file() => beside.into_os_string(),
        _ => "rustdoc".into(),
    }
}

/// `cargo test --doc` with the user's selection, in the directory cargo-xdist
/// runs in (as the user's own `cargo test`), letting only `package`'s
/// rustdoc run.
fn cargo_test_doc(
    ctx: &RunContext,
    slot: &WorkerSlot,
    package: &DocPackage,
    cwd: &camino::Utf8Path,
) -> std::process::Command {
    let profile = ctx.options.doc_profile.as_deref();
    let mut cmd = command(&cargo_program(), cwd, &[], Some(slot), profile);
    cmd.envs(ctx.options.doc_env.iter().map(|(k, v)| (k, v)));
    if let Some(user) = std::env::var_os("RUSTDOC") {
        cmd.env(USER_RUSTDOC, user);
    }
    cmd.env(REAL_RUSTDOC, real_rustdoc());
    match std::env::current_exe() {
        Ok(me) => cmd.env("RUSTDOC", me),
        // Without the shim every selected package's doctests would run.
        Err(_) => cmd.env("RUSTDOC", "/nonexistent/cargo-xdist"),
    };
    cmd.env(DOCTESTS_OF, package.manifest_dir.as_str());
    cmd.args(["test", "--doc"]);
    cmd.args(&ctx.options.doc_cargo_args);
    cmd.arg("--");
    cmd
}

/// The arguments rustdoc passes libtest: the user's filters, or, when one
/// has whitespace, filters without any that select the same doctests of the
/// package's listing. `Ok(None)`: no doctest is selected.
fn libtest_args(
    ctx: &RunContext,
    slot: &WorkerSlot,
    package: &DocPackage,
    cwd: &camino::Utf8Path,
) -> Result<Option<Vec<String>>, (String, String)> {
    let f = &ctx.options.doc_filters;
    let spaced = |p: &String| p.contains(char::is_whitespace);
    if !f.patterns.iter().chain(&f.skip).any(spaced) {
        return Ok(Some(ctx.options.harness_args.clone()));
    }
    let mut cmd = cargo_test_doc(ctx, slot, package, cwd);
    cmd.arg("--list");
    let limit = ctx.options.timeout.unwrap_or(Duration::MAX);
    let out = process::output(cmd, ctx.cancel, limit)
        .map_err(|e| (format!("cannot list the doctests: {e}"), String::new()))?;
    if !out.finished.status.success() {
        let mut all = out.stdout;
        all.extend_from_slice(&out.stderr);
        return Err((
            format!(
                "listing the doctests failed ({})",
                describe_status(&out.finished.status)
            ),
            tail(&all, ctx.redactor()),
        ));
    }
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(String::from)
        .collect();
    let wanted: BTreeSet<&str> = (listed.iter())
        .map(String::as_str)
        .filter(|n| selects(f, n))
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let Some((include, skip)) = whitespace_free_filters(&listed, &wanted) else {
        return Err((
            "rustdoc splits test filters at whitespace, and no filters without it \
             select exactly these doctests; use a filter without spaces"
                .into(),
            String::new(),
        ));
    };
    let mut args = include;
    for s in skip {
        args.extend(["--skip".to_string(), s]);
    }
    match f.ignored {
        IgnoredMode::Skip => {}
        IgnoredMode::Only => args.push("--ignored".into()),
        IgnoredMode::Include => args.push("--include-ignored".into()),
    }
    args.extend(f.test_args.iter().cloned());
    Ok(Some(args))
}

/// Whether libtest runs `name` under `f`'s filters (the ignored mode aside).
fn selects(f: &Filters, name: &str) -> bool {
    let matches = |p: &String| if f.exact { name == p } else { name.contains(p) };
    (f.patterns.is_empty() || f.patterns.iter().any(matches)) && !f.skip.iter().any(matches)
}

/// Filters and `--skip` filters, none with whitespace (libtest's substring
/// match), that select exactly `wanted` of `all`: for each wanted name its
/// word found in the fewest other names, and for each other name still
/// selected a word of it found in no wanted name. `None`: there are none
/// such (every word of a name that must go is in a wanted one).
fn whitespace_free_filters(
    all: &[String],
    wanted: &BTreeSet<&str>,
) -> Option<(Vec<String>, Vec<String>)> {
    let others: Vec<&str> = (all.iter())
        .map(String::as_str)
        .filter(|n| !wanted.contains(n))
        .collect();
    if others.is_empty() {
        return Some((Vec::new(), Vec::new()));
    }
    // A word of `o` that no wanted name has: `--skip` it.
    fn own_word<'a>(o: &'a str, wanted: &BTreeSet<&str>) -> Option<&'a str> {
        (o.split_whitespace())
            .filter(|t| !wanted.iter().any(|w| w.contains(t)))
            .max_by_key(|t| t.len())
    }
    let mut include = BTreeSet::new();
    for w in wanted {
        // Its word in the fewest other names, all of which can be skipped.
        let best = (w.split_whitespace())
            .filter_map(|t| {
                let found_in: Vec<&&str> = others.iter().filter(|o| o.contains(t)).collect();
                found_in
                    .iter()
                    .all(|o| own_word(o, wanted).is_some())
                    .then_some((found_in.len(), std::cmp::Reverse(t.len()), t))
            })
            .min()?;
        include.insert(best.2);
    }
    let mut skip = BTreeSet::new();
    for o in &others {
        if include.iter().any(|t| o.contains(t)) {
            skip.insert(own_word(o, wanted)?);
        }
    }
    let owned = |s: BTreeSet<&str>| s.into_iter().map(String::from).collect();
    Some((owned(include), owned(skip)))
}

/// Run `package`'s doctests on `slot`.
pub fn run(ctx: &RunContext, slot: &WorkerSlot, package: &DocPackage) {
    let group = package.id.as_str();
    let started = Instant::now();
    let result = |name: &str,
                  outcome: Outcome,
                  duration: Duration,
                  reason: Option<String>,
                  output: String| {
        // The name already carries the file (`src/lib.rs - item (line 3)`).
        TestResult::new(&package.id, name, None, group, &slot.name, outcome)
            .took(duration)
            .because(reason)
            .with_output(output)
    };
    let fail_unit = |reason: String, output: String| {
        ctx.emit(RunEvent::TestFinished(result(
            "doctests",
            Outcome::Failed,
            started.elapsed(),
            Some(reason),
            output,
        )))
    };

    let cwd = match std::env::current_dir().map(Utf8PathBuf::from_path_buf) {
        Ok(Ok(cwd)) => cwd,
        _ => {
            return fail_unit(
                "cannot run cargo test --doc: the working directory is gone or not UTF-8".into(),
                String::new(),
            );
        }
    };
    let test_args = match libtest_args(ctx, slot, package, &cwd) {
        Ok(Some(args)) => args,
        // The filters select none of this package's doctests.
        Ok(None) => return,
        Err((reason, output)) => return fail_unit(reason, output),
    };
    if ctx.is_cancelled() {
        return;
    }
    let fifo_path = ctx.logfile_path(&slot.name);
    let fifo = match make_fifo(fifo_path.as_std_path()) {
        Ok(f) => f,
        Err(e) => {
            return fail_unit(
                format!("cannot create the doctest logfile pipe {fifo_path}: {e}"),
                String::new(),
            );
        }
    };
    let mut cmd = cargo_test_doc(ctx, slot, package, &cwd);
    cmd.args(&test_args);
    cmd.arg("--logfile").arg(&fifo_path);

    ctx.emit(RunEvent::TestStarted {
        worker: slot.name.clone(),
        binary: package.id.clone(),
        name: format!("{} doctests", package.package),
    });
    let running = match process::spawn(cmd) {
        Ok(r) => r,
        Err(e) => return fail_unit(format!("cannot run cargo test --doc: {e}"), String::new()),
    };
    let mut log = DoctestLog::default();
    let mut fifo = fifo;
    let mut stdout = Vec::new();
    let mut combined = Vec::new();
    let mut last = started;
    let mut failed: Vec<String> = Vec::new();
    // Each doctest that ran, when its verdict was seen, and how long it took.
    let mut seen: Vec<(String, Instant, Duration)> = Vec::new();
    let mut poll = |failed: &mut Vec<String>, last: &mut Instant| {
        let mut buf = Vec::new();
        // Non-blocking: read what is there (WouldBlock ends the read).
        let _ = fifo.read_to_end(&mut buf);
        for (name, verdict) in log.feed(&String::from_utf8_lossy(&buf)) {
            let now = Instant::now();
            let duration = now - *last;
            *last = now;
            let (outcome, reason) = match verdict {
                Verdict::Passed => (Outcome::Passed, None),
                Verdict::Ignored => (Outcome::Skipped, None),
                Verdict::Failed(msg) => {
                    failed.push(name.clone());
                    (Outcome::Failed, msg)
                }
            };
            if outcome != Outcome::Skipped {
                seen.push((name.clone(), now, duration));
            }
            ctx.emit(RunEvent::TestFinished(result(
                &name,
                outcome,
                duration,
                reason,
                String::new(),
            )));
        }
        log.reported
    };
    let mut live = ctx
        .options
        .live_output
        .then(|| LiveLines::new(ctx.redactor()));
    let live_output = |text: String| {
        let text = without_chatter(&text);
        if !text.is_empty() {
            ctx.emit_output(&slot.name, &package.id, text);
        }
    };
    let mut masked = MaskedStreams::new(ctx.redactor());
    let finished = running.drive(ctx.cancel, |event| {
        if let Event::Output(stream, data) = event {
            if stream == Stream::Stdout {
                append_bounded(&mut stdout, data);
            }
            append_bounded(&mut combined, masked.push(stream, data).as_bytes());
            if let Some(text) = live.as_mut().and_then(|l| l.push(stream, data)) {
                live_output(text);
            }
        }
        poll(&mut failed, &mut last);
        // `--maxfail` was reached (signals reach the group anyway).
        ctx.is_cancelled().then_some(KillReason::Cancelled)
    });
    let reported = poll(&mut failed, &mut last);
    append_bounded(&mut combined, masked.finish().as_bytes());
    if let Some(text) = live.as_mut().and_then(LiveLines::flush) {
        live_output(text);
    }
    let _ = fs_err::remove_file(&fifo_path);

    let stdout = String::from_utf8_lossy(&stdout);
    let sections = libtest::failure_sections(&stdout, &failed);
    for name in &failed {
        ctx.emit(RunEvent::FailureOutput {
            binary: package.id.clone(),
            name: name.clone(),
            output: sections.get(name).cloned().unwrap_or_default(),
        });
    }
    if let Ok(f) = &finished {
        if f.killed != Some(KillReason::Cancelled) {
            let leaks = DoctestLeaks {
                ctx,
                slot,
                package,
                seen: &seen,
                failed: &failed,
            };
            leaks.report(&f.leaked, &result);
        }
    }
    match finished {
        Ok(f) if f.killed == Some(KillReason::Cancelled) => {}
        Ok(f) if !f.status.success() && failed.is_empty() => {
            // Nothing failed, yet cargo did: the doctests did not build or
            // rustdoc failed. Say so, with cargo's output.
            fail_unit(
                format!(
                    "cargo test --doc of {} failed ({}) after {reported} doctest results",
                    package.package,
                    describe_status(&f.status)
                ),
                tail(&combined, ctx.redactor()),
            );
        }
        Ok(_) => {}
        Err(e) => fail_unit(
            format!("lost track of cargo test --doc: {e}"),
            String::new(),
        ),
    }
}

/// What a package's doctests left running, to report.
struct DoctestLeaks<'a> {
    ctx: &'a RunContext<'a>,
    slot: &'a WorkerSlot,
    package: &'a DocPackage,
    /// The doctests that ran: when each verdict was seen, how long it took.
    seen: &'a [(String, Instant, Duration)],
    failed: &'a [String],
}

impl DoctestLeaks<'_> {
    /// `LEAK` for what the doctest run left running (killed since), laid
    /// to the doctests that may have started each process; `--leak-fails`
    /// fails those that passed. `result` builds a doctest's result.
    fn report(
        &self,
        leaked: &[Leaked],
        result: &impl Fn(&str, Outcome, Duration, Option<String>, String) -> TestResult,
    ) {
        let by_tests = crate::leak::by_culprits(leaked, |l| leak_suspects(l.started, self.seen));
        let fails = self.ctx.options.leak_fails;
        for (tests, processes) in by_tests {
            self.ctx.emit(RunEvent::Leaked {
                worker: self.slot.name.clone(),
                binary: self.package.id.clone(),
                tests: tests.iter().map(|t| t.to_string()).collect(),
                processes: processes.clone(),
                fails,
            });
            if !fails {
                continue;
            }
            let reason = LeakedProcess::failure_reason(&processes);
            for name in tests
                .into_iter()
                .filter(|t| !self.failed.iter().any(|f| f == t))
            {
                let took = (self.seen.iter())
                    .find(|s| s.0 == name)
                    .map_or(Duration::ZERO, |s| s.2);
                let amended = result(
                    name,
                    Outcome::Failed,
                    took,
                    Some(reason.clone()),
                    String::new(),
                );
                self.ctx.emit(RunEvent::TestFinished(amended.amending()));
            }
        }
    }
}

/// The doctests that may have started a process that started at
/// `started`: rustdoc runs several at once and says when each ended, not
/// when it began, so those whose verdict came after that start (a doctest's
/// process, and so its verdict, ends after what it starts has started).
/// Every doctest that ran when that start is unknown or after the last
/// verdict (no doctest's process can have started it then).
fn leak_suspects(started: Option<Instant>, seen: &[(String, Instant, Duration)]) -> Vec<&str> {
    // Start times have a resolution of a clock tick.
    const SLACK: Duration = Duration::from_millis(10);
    // None ran (rustdoc failed): the package's doctest run as a whole.
    let all = || match seen {
        [] => vec!["doctests"],
        _ => seen.iter().map(|s| s.0.as_str()).collect(),
    };
    let Some(started) = started else {
        return all();
    };
    let after: Vec<&str> = (seen.iter())
        .filter(|s| s.1 + SLACK >= started)
        .map(|s| s.0.as_str())
        .collect();
    if after.is_empty() { all() } else { after }
}

/// `--no-capture`: `text` (whole lines) without cargo's and libtest's own
/// lines: cargo's status lines (`Finished ...`, `Doc-tests PKG`), libtest's
/// `running N tests`, each doctest's `test NAME ... ` (what the doctest
/// wrote after it on that line stays) and result word, the closing lists
/// and `test result:` line, and blank lines (rustdoc's sessions run
/// doctests side by side, so which blank line is whose cannot be told).
fn without_chatter(text: &str) -> String {
    let mut out = String::new();
    for piece in text.split_inclusive('\n') {
        let line = piece.trim_end_matches(['\n', '\r']);
        let status = line.len() - line.trim_start().len() <= 12
            && [
                "Finished ",
                "Doc-tests ",
                "Compiling ",
                "Running ",
                "Blocking ",
                "Fresh ",
            ]
            .iter()
            .any(|w| line.trim_start().starts_with(w));
        let doctest = |name: &str| doctest_name_start(&format!("ok {name}")) == Some(3);
        let running = (line.strip_prefix("running "))
            .is_some_and(|r| r.ends_with(" tests") || r.ends_with(" test"));
        let framing = line.trim().is_empty()
            || running
            || status
            || matches!(line, "failures:" | "successes:")
            || line.starts_with("test result: ")
            || line.strip_prefix("    ").is_some_and(doctest)
            || (line.strip_prefix("---- "))
                .and_then(|l| l.strip_suffix(" stdout ----"))
                .is_some_and(doctest);
        if framing {
            continue;
        }
        let marker = (line.strip_prefix("test "))
            .and_then(|l| l.split_once(" ... "))
            .filter(|(name, _)| doctest(name));
        match marker {
            Some((_, rest)) if is_result_word(rest) || rest.is_empty() => {}
            Some((_, rest)) => {
                out.push_str(rest);
                out.push_str(&piece[line.len()..]);
            }
            None if is_result_word(line) => {}
            None => out.push_str(piece),
        }
    }
    out
}

/// Create a named pipe at `path` and open it for reading, non-blocking,
/// and for writing too, so it never reports end-of-file between the
/// libtest sessions that open and close it.
fn make_fifo(path: &std::path::Path) -> std::io::Result<File> {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )?;
    fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map(fs_err::File::into_file)
}

/// Incremental parser of a doctest logfile: `ok NAME`, `ignored NAME`,
/// `failed NAME`, or `failed: MESSAGE NAME` where the message may span
/// lines. A doctest name ends with `(line N)`.
#[derive(Debug, Default)]
pub struct DoctestLog {
    buf: String,
    /// Entries reported so far.
    pub reported: usize,
}

impl DoctestLog {
    pub fn feed(&mut self, text: &str) -> Vec<(String, Verdict)> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        let mut entry_start = 0;
        let mut line_start = 0;
        while let Some(nl) = self.buf[line_start..].find('\n') {
            let line_end = line_start + nl;
            let line = &self.buf[line_start..line_end];
            // A one-line entry without a message: the name is the rest of
            // the line, whatever spaces its file's path has.
            let plain = (entry_start == line_start)
                .then(|| {
                    ["ok ", "failed ", "ignored "]
                        .iter()
                        .find(|v| line.starts_with(**v))
                        .map(|v| v.len())
                })
                .flatten()
                .filter(|_| doctest_name_start(line).is_some());
            if let Some(name_at) = plain.or_else(|| doctest_name_start(line)) {
                let head = self.buf[entry_start..line_start + name_at].trim_end();
                let name = line[name_at..].to_string();
                let verdict = match head {
                    "ok" => Verdict::Passed,
                    h if h.starts_with("ignored") => Verdict::Ignored,
                    h => Verdict::Failed(h.strip_prefix("failed: ").map(String::from)),
                };
                out.push((name, verdict));
                entry_start = line_end + 1;
            }
            line_start = line_end + 1;
        }
        self.buf.drain(..entry_start);
        self.reported += out.len();
        out
    }
}

/// Where the doctest name starts in a logfile line that ends one: the
/// name is `FILE - ITEM (line N)`, maybe followed by ` - compile fail`,
/// FILE a path ending in `.rs` right after the verdict (or the failure
/// message).
fn doctest_name_start(line: &str) -> Option<usize> {
    let body = line.trim_end();
    let open = body.rfind("(line ")?;
    let after = &body[open + "(line ".len()..];
    let close = after.find(')')?;
    let digits = &after[..close];
    let suffix = &after[close + 1..];
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit())
        || !(suffix.is_empty() || suffix.starts_with(" - "))
    {
        return None;
    }
    // The first ` - ` preceded by a word ending in `.rs` marks the file.
    let mut search = 0;
    while let Some(pos) = body[search..open].find(" - ") {
        let dash = search + pos;
        let file_start = body[..dash].rfind(' ').map_or(0, |s| s + 1);
        if body[file_start..dash].ends_with(".rs") && file_start > 0 {
            return Some(file_start);
        }
        search = dash + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_doctest_log_entries_across_feeds() {
        let mut log = DoctestLog::default();
        let got =
            log.feed("ok src/lib.rs - (line 3)\nfailed src/lib.rs - add (line 13)\nignored src/li");
        assert_eq!(
            got,
            vec![
                ("src/lib.rs - (line 3)".to_string(), Verdict::Passed),
                (
                    "src/lib.rs - add (line 13)".to_string(),
                    Verdict::Failed(None)
                ),
            ]
        );
        let got = log.feed("b.rs - add (line 17)\nfailed: panic did not contain expected string\n      panic message: \"a - b\"\n expected substring: \"zzz\" src/lib.rs - m::Thing::f (line 9)\n");
        assert_eq!(
            got[0],
            ("src/lib.rs - add (line 17)".to_string(), Verdict::Ignored)
        );
        assert_eq!(got[1].0, "src/lib.rs - m::Thing::f (line 9)");
        match &got[1].1 {
            Verdict::Failed(Some(m)) => assert!(m.contains("expected substring: \"zzz\"")),
            other => panic!("{other:?}"),
        }
        assert_eq!(log.reported, 4);
        let got = log.feed("ok docs/src/lib.rs - double (line 26) - compile fail\n");
        assert_eq!(
            got[0].0,
            "docs/src/lib.rs - double (line 26) - compile fail"
        );
        let got = log.feed("failed base/src/odd dir/it's.rs - odd::odd (line 5)\n");
        assert_eq!(
            got,
            [(
                "base/src/odd dir/it's.rs - odd::odd (line 5)".to_string(),
                Verdict::Failed(None)
            )]
        );
    }

    /// What libtest runs under rustdoc: it gets the filters split at
    /// whitespace.
    fn rustdoc_runs<'a>(all: &'a [String], include: &[String], skip: &[String]) -> Vec<&'a str> {
        let words = |v: &[String]| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split_whitespace())
                .map(String::from)
                .collect()
        };
        let f = Filters {
            patterns: words(include),
            skip: words(skip),
            ..Default::default()
        };
        all.iter()
            .map(String::as_str)
            .filter(|n| selects(&f, n))
            .collect()
    }

    #[test]
    fn filters_without_whitespace_select_exactly_the_wanted_doctests() {
        let all: Vec<String> = [
            "base/src/lib.rs - (line 3)",
            "base/src/lib.rs - add (line 5)",
            "base/src/lib.rs - add1 (line 15)",
            "base/src/lib.rs - add1 (line 19)",
            "base/src/odd dir/it's.rs - odd::odd (line 5)",
            "base/src/odd dir/it's.rs - odd::odd (line 15)",
            "README.md - (line 5)",
        ]
        .map(String::from)
        .to_vec();
        let exact = |names: &[&str]| Filters {
            patterns: names.iter().map(|n| n.to_string()).collect(),
            exact: true,
            ..Default::default()
        };
        for wanted in [
            &["base/src/lib.rs - add1 (line 15)"][..],
            &["base/src/lib.rs - add (line 5)"],
            &["base/src/lib.rs - (line 3)", "README.md - (line 5)"],
            &[
                "base/src/lib.rs - add1 (line 19)",
                "base/src/odd dir/it's.rs - odd::odd (line 5)",
            ],
            &["base/src/odd dir/it's.rs - odd::odd (line 15)"],
        ] {
            let f = exact(wanted);
            let set: BTreeSet<&str> = all
                .iter()
                .map(String::as_str)
                .filter(|n| selects(&f, n))
                .collect();
            assert_eq!(set.len(), wanted.len());
            let (include, skip) = whitespace_free_filters(&all, &set).unwrap();
            assert!(include.iter().chain(&skip).all(|t| !t.contains(' ')));
            let ran: BTreeSet<&str> = rustdoc_runs(&all, &include, &skip).into_iter().collect();
            assert_eq!(ran, set, "{include:?} --skip {skip:?}");
        }
        // All of them: no filter at all.
        let every: BTreeSet<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(
            whitespace_free_filters(&all, &every),
            Some((vec![], vec![]))
        );
        // `(line 1)` apart from `(line 11)`, both ways.
        let all: Vec<String> = ["a.rs - f (line 1)", "a.rs - f (line 11)"]
            .map(String::from)
            .to_vec();
        for one in &all {
            let wanted: BTreeSet<&str> = [one.as_str()].into();
            let (include, skip) = whitespace_free_filters(&all, &wanted).unwrap();
            assert_eq!(rustdoc_runs(&all, &include, &skip), [one]);
        }
        // Names of the same words cannot be told apart.
        let all: Vec<String> = ["a.rs - x y", "a.rs - y x"].map(String::from).to_vec();
        let wanted: BTreeSet<&str> = ["a.rs - x y"].into();
        assert_eq!(whitespace_free_filters(&all, &wanted), None);
    }

    #[test]
    fn no_capture_leaves_out_cargos_and_libtests_lines() {
        let text = "    Finished `test` profile [unoptimized] target(s) in 0.01s\n   Doc-tests truth\n\n\
            running 2 tests\ntest src/lib.rs - f (line 3) ... ok\nmine\n\
            test src/lib.rs - g (line 9) ... also mine\nok\n\nfailures:\n\n\
            ---- src/lib.rs - g (line 9) stdout ----\nits panic\n\nfailures:\n    src/lib.rs - g (line 9)\n\n\
            test result: FAILED. 1 passed; 1 failed; 0 ignored\n\n";
        assert_eq!(without_chatter(text), "mine\nalso mine\nits panic\n");
    }

    #[test]
    fn leaks_are_laid_to_the_doctests_that_ended_after_they_started() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let seen: Vec<(String, Instant, Duration)> = [("a", 100), ("b", 200), ("c", 300)]
            .map(|(n, at)| (n.to_string(), ms(at), Duration::ZERO))
            .to_vec();
        assert_eq!(leak_suspects(Some(ms(150)), &seen), ["b", "c"]);
        assert_eq!(leak_suspects(Some(ms(295)), &seen), ["c"]);
        // After the last verdict, or unknown: every doctest that ran.
        assert_eq!(leak_suspects(Some(ms(400)), &seen), ["a", "b", "c"]);
        assert_eq!(leak_suspects(None, &seen), ["a", "b", "c"]);
        // None ran: the package's doctest run.
        assert_eq!(leak_suspects(Some(ms(1)), &[]), ["doctests"]);
    }

    #[test]
    fn a_fifo_keeps_both_sessions_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut reader = make_fifo(&path).unwrap();
        for line in ["ok a.rs - x (line 1)\n", "ok a.rs - y (line 2)\n"] {
            // Each libtest session truncates and writes its own entries.
            std::fs::write(&path, line).unwrap();
        }
        let mut buf = Vec::new();
        let _ = reader.read_to_end(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "ok a.rs - x (line 1)\nok a.rs - y (line 2)\n"
        );
    }
}
