//! `--doc`: a package's doctests as one unit of work, run by
//! `cargo test --doc -p PKG` on a worker (with its environment and
//! database), each doctest reported on its own.
//!
//! Verdicts come from libtest's `--logfile`, as for other tests. rustdoc
//! may run two libtest sessions for one package (edition 2024's merged
//! doctests, then the standalone ones), and each opens the logfile anew,
//! truncating it. So the logfile is a named pipe that cargo-xdist keeps
//! open for reading: both sessions' entries arrive, none is lost.
//!
//! Doctest names have the form `src/lib.rs - path::item (line 12)`; the
//! filters and arguments go to rustdoc's libtest as under `cargo test`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use super::RunContext;
use super::libtest::{self, Verdict};
use super::output::{LiveLines, MaskedStreams, append_bounded, tail};
use super::process::{self, Event, KillReason, Stream};
use crate::build::{DocPackage, cargo_program};
use crate::env::{WorkerSlot, command};
use crate::error::describe_status;
use crate::event::{Outcome, RunEvent, TestResult};

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
    let mut cmd = command(&cargo_program(), &package.manifest_dir, &[], Some(slot));
    cmd.envs(ctx.options.doc_env.iter().map(|(k, v)| (k, v)));
    cmd.args(["test", "--doc", "-p", &package.package]);
    cmd.args(&ctx.options.doc_cargo_args);
    cmd.arg("--");
    cmd.args(&ctx.options.harness_args);
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
    let live_output = |text: String| ctx.emit_output(&slot.name, &package.id, text);
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
    let _ = std::fs::remove_file(&fifo_path);

    let stdout = String::from_utf8_lossy(&stdout);
    let sections = libtest::failure_sections(&stdout, &failed);
    for name in &failed {
        ctx.emit(RunEvent::FailureOutput {
            binary: package.id.clone(),
            name: name.clone(),
            output: sections.get(name).cloned().unwrap_or_default(),
        });
    }
    match finished {
        Ok(f) if f.killed == Some(KillReason::Cancelled) => {}
        Ok(f) if !f.status.success() && failed.is_empty() => {
            // Nothing failed, yet cargo did: the doctests did not build or
            // rustdoc failed. Say so, with cargo's output.
            fail_unit(
                format!(
                    "cargo test --doc -p {} failed ({}) after {reported} doctest results",
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
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
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
            if let Some(name_at) = doctest_name_start(line) {
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
