//! Reading libtest's results (pure: text in, values out).
//!
//! The verdicts come from libtest's `--logfile`, never from stdout: libtest
//! writes that file itself, one entry per finished test, before it prints the
//! result line. A test, or a child process it spawns, shares the process's
//! stdout and stderr and can print lines that look exactly like results;
//! such lines never count as verdicts, only entries in the logfile do.
//! Stdout is read only for the captured output of failures and to see that
//! libtest started.
//!
//! This keeps an accident or a stray print from passing a test; it is not a
//! defence against a test that sets out to cheat. The logfile's path is on
//! libtest's command line, so a test can read it from `/proc/self/cmdline`
//! and append a forged entry. That is out of scope, as is a test that
//! patches its own binary.
//!
//! With `--test-threads=1` libtest runs the selected tests one after the
//! other in name order, so the test running at any moment is the first one
//! (in that order) that has no verdict yet.
//!
//! libtest has deprecated `--logfile` (rust-lang/rust#134283), so the run
//! first checks that it still works, and otherwise uses the exit-status
//! channel ([`Channel`]).

use std::collections::{HashMap, HashSet};

/// Where the verdicts of libtest processes come from.
///
/// Every other channel libtest has goes through stdout, which a test and
/// its children share with libtest: `--format json` (unstable, behind
/// `RUSTC_BOOTSTRAP=1`) prints lines a test can print as well (the faults
/// fixture's `spoof` test does), and libtest cannot be given a nonce to put
/// in its lines, nor another file descriptor than `--logfile`. What a
/// printed line cannot change is how the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// libtest's `--logfile`, read as the tests run; one process runs many
    /// tests.
    Logfile,
    /// One process per test, judged by its exit status ([`exit_verdict`]).
    ExitStatus,
}

/// Whether a logfile written by `--list --logfile` lists test `name`
/// (libtest writes `test NAME` for each).
pub fn logfile_lists(log: &str, name: &str) -> bool {
    log.lines()
        .any(|l| l.strip_prefix("test ").is_some_and(|n| n == name))
}

/// The exit-status channel: the verdict on the one test a libtest process
/// ran, from its exit code and stdout; `None` when the process did not end
/// as libtest ends (it crashed, was killed, or exited on its own).
///
/// No printed line can pass a test this way: a failing test makes libtest
/// exit 101 and a crash is a signal, whatever was printed. An exit code of
/// 0 is trusted only with libtest's closing line (`test result: ok. 1
/// passed; ...`) as the last such line, which tells a pass from a test
/// that called `exit(0)` (no closing line): forging one takes a test that
/// prints that line and then calls `exit(0)` itself.
pub fn exit_verdict(code: Option<i32>, stdout: &str) -> Option<Verdict> {
    let summary = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("test result: "))?;
    let count = |what: &str| {
        summary.split(['.', ';']).find_map(|part| {
            part.trim()
                .strip_suffix(what)
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
    };
    let counts = (count("passed")?, count("failed")?, count("ignored")?);
    match (code, counts) {
        (Some(0), (1, 0, 0)) => Some(Verdict::Passed),
        (Some(0), (0, 0, 1)) => Some(Verdict::Ignored),
        (Some(101), (0, 1, 0)) => Some(Verdict::Failed(None)),
        _ => None,
    }
}

/// What libtest said about one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Failed; the message libtest logged after `failed:`, if any
    /// (e.g. a `should_panic` mismatch).
    Failed(Option<String>),
    Ignored,
}

/// Incremental reader of a libtest logfile. Feed it what was appended to the
/// file; it hands back verdicts as entries complete.
///
/// It is fed once per chunk of a test process's output, so each call does
/// work in proportion to what is new: the running test is found from a
/// cursor, not by looking at every earlier name again.
#[derive(Debug)]
pub struct LogReader {
    /// The tests given to this process, in the order libtest runs them.
    names: Vec<String>,
    /// Which of them have a verdict.
    settled: Vec<bool>,
    /// No test before this index is without a verdict.
    first: usize,
    /// Each name's index, made when an entry comes out of order (it does
    /// not with one thread) or a line could end in another test's name.
    index: std::cell::OnceCell<HashMap<String, usize>>,
    /// Text not consumed yet (an entry may span several lines).
    buf: String,
}

impl LogReader {
    pub fn new(names: Vec<String>) -> Self {
        LogReader {
            settled: vec![false; names.len()],
            names,
            first: 0,
            index: std::cell::OnceCell::new(),
            buf: String::new(),
        }
    }

    /// Index (into the names) of the test running now: the first in
    /// libtest's order with no verdict.
    pub fn current(&self) -> Option<usize> {
        (self.first < self.names.len()).then_some(self.first)
    }

    #[cfg(test)]
    fn is_done(&self) -> bool {
        self.current().is_none()
    }

    /// Indices of tests that have no verdict, in order.
    pub fn without_verdict(&self) -> Vec<usize> {
        (self.first..self.names.len())
            .filter(|&i| !self.settled[i])
            .collect()
    }

    /// Record a verdict that came another way (the exit-status channel).
    pub fn settle(&mut self, idx: usize) {
        self.settled[idx] = true;
        while self.settled.get(self.first) == Some(&true) {
            self.first += 1;
        }
    }

    /// Add appended logfile text; return the verdicts it completes.
    pub fn feed(&mut self, text: &str) -> Vec<(usize, Verdict)> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        let mut consumed = 0;
        while let Some((idx, verdict, len)) = self.next_entry(consumed) {
            self.settle(idx);
            consumed += len;
            out.push((idx, verdict));
        }
        self.buf.drain(..consumed);
        out
    }

    /// The first complete entry in the buffer from `from`: `<verdict>
    /// <name>[ <time>]\n`, where a failure message may span lines, and its
    /// length. Entries are recognised by ending with a pending test's name,
    /// so a multi-line message is fine.
    fn next_entry(&self, from: usize) -> Option<(usize, Verdict, usize)> {
        let rest = &self.buf[from..];
        let mut line_start = 0;
        while let Some(nl) = rest[line_start..].find('\n') {
            let line_end = line_start + nl;
            let line = &rest[line_start..line_end];
            if let Some(idx) = self.pending_name_at_end(line) {
                let name_len = self.names[idx].len();
                let entry = &rest[..line_end];
                let head = strip_time(entry);
                let head = &head[..head.len() - name_len];
                let head = head.strip_suffix(' ').unwrap_or(head);
                return Some((idx, parse_verdict(head), line_end + 1));
            }
            line_start = line_end + 1;
        }
        None
    }

    /// If `line` ends with ` <pending name>` (optionally followed by
    /// ` <exec time>`), that name's index. Tries the test expected next first.
    fn pending_name_at_end(&self, line: &str) -> Option<usize> {
        let line = strip_time(line);
        let ends_with = |name: &str| {
            line.strip_suffix(name)
                .is_some_and(|head| head.ends_with(' ') || head.is_empty())
        };
        if let Some(cur) = self.current() {
            if ends_with(&self.names[cur]) {
                return Some(cur);
            }
        }
        // Out of order (should not happen with one thread): a whole line of
        // the form `<verdict> <name>` whose name is still pending.
        let (_, name) = line.rsplit_once(' ')?;
        let index = self.index.get_or_init(|| {
            (self.names.iter().enumerate())
                .map(|(i, n)| (n.clone(), i))
                .collect()
        });
        index.get(name).copied().filter(|&i| !self.settled[i])
    }
}

/// Drop a trailing ` <1.234s>` exec-time suffix (written with --report-time).
fn strip_time(s: &str) -> &str {
    if s.ends_with('>') {
        if let Some(pos) = s.rfind(" <") {
            return &s[..pos];
        }
    }
    s
}

fn parse_verdict(head: &str) -> Verdict {
    if head == "ok" {
        Verdict::Passed
    } else if let Some(rest) = head.strip_prefix("ignored") {
        let _ = rest;
        Verdict::Ignored
    } else if let Some(msg) = head.strip_prefix("failed: ") {
        Verdict::Failed(Some(msg.to_string()))
    } else {
        // `failed`, `failed (time limit exceeded)`, or anything unknown:
        // only a plain `ok` is a pass.
        Verdict::Failed((head != "failed").then(|| head.to_string()))
    }
}

/// The captured output libtest prints for each failed test at the end of
/// the run (`---- name stdout ----` sections), keyed by test name. Only
/// names in `names` are recognised as section headers.
pub fn failure_sections(stdout: &str, names: &[String]) -> HashMap<String, String> {
    let known: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut out: HashMap<String, String> = HashMap::new();
    let Some(start) = stdout
        .rfind("\nfailures:\n\n---- ")
        .map(|p| p + "\nfailures:\n\n".len())
    else {
        return out;
    };
    let mut current: Option<(String, String)> = None;
    for line in stdout[start..].split_inclusive('\n') {
        let trimmed = line.trim_end_matches('\n');
        if let Some(name) = trimmed
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" stdout ----"))
            .filter(|n| known.contains(n))
        {
            if let Some((n, text)) = current.take() {
                out.insert(n, text.trim_matches('\n').to_string());
            }
            current = Some((name.to_string(), String::new()));
            continue;
        }
        if trimmed == "failures:" {
            break;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
        }
    }
    if let Some((n, text)) = current {
        out.insert(n, text.trim_matches('\n').to_string());
    }
    out
}

/// Whether libtest got as far as running tests (its `running N tests` line).
pub fn libtest_started(stdout: &str) -> bool {
    stdout.lines().any(|l| {
        l.strip_prefix("running ")
            .is_some_and(|r| r.ends_with(" tests") || r.ends_with(" test"))
    })
}

/// libtest's notice on stderr; it may arrive without a newline, in the
/// middle of a test's own output line.
const LOGFILE_WARNING: &str = "warning: `--logfile` is deprecated";

/// Remove libtest's own deprecation notice for `--logfile` (only that text:
/// what the test printed on the same line stays).
pub fn strip_logfile_warning(text: &str) -> String {
    text.replace(&format!("{LOGFILE_WARNING}\n"), "")
        .replace(LOGFILE_WARNING, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Captured from rustc 1.95 libtest (`--logfile`), including a
    /// should_panic mismatch whose message spans three lines.
    const LOG: &str = "ok sp::ign_reason\nfailed: panic did not contain expected string\n      panic message: \"aaa\"\n expected substring: \"zzz\" sp::sp_mismatch\nok sp::sp_ok\nok tests::inner::four\nfailed tests::three\nignored tests::two\n";

    #[test]
    fn reads_all_verdicts_in_order() {
        let mut r = LogReader::new(names(&[
            "sp::ign_reason",
            "sp::sp_mismatch",
            "sp::sp_ok",
            "tests::inner::four",
            "tests::three",
            "tests::two",
        ]));
        let v = r.feed(LOG);
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], (0, Verdict::Passed));
        match &v[1] {
            (1, Verdict::Failed(Some(m))) => assert!(m.contains("expected substring: \"zzz\"")),
            other => panic!("{other:?}"),
        }
        assert_eq!(v[4], (4, Verdict::Failed(None)));
        assert_eq!(v[5], (5, Verdict::Ignored));
        assert!(r.is_done());
    }

    #[test]
    fn partial_entries_wait_for_their_end() {
        let mut r = LogReader::new(names(&["a", "b"]));
        assert_eq!(
            r.feed("ok a\nfailed: multi\nline"),
            vec![(0, Verdict::Passed)]
        );
        assert_eq!(r.current(), Some(1));
        assert!(r.feed(" message").is_empty());
        assert_eq!(
            r.feed(" b\n"),
            vec![(1, Verdict::Failed(Some("multi\nline message".into())))]
        );
    }

    #[test]
    fn a_crash_leaves_the_running_test_current() {
        let mut r = LogReader::new(names(&["a1", "a2", "a3", "a4"]));
        r.feed("ok a1\nok a2\n");
        assert_eq!(r.current(), Some(2));
        assert_eq!(r.without_verdict(), vec![2, 3]);
    }

    /// A verdict out of libtest's order (settled another way, or logged
    /// out of turn) leaves the first test without one current.
    #[test]
    fn verdicts_out_of_order_leave_the_first_pending_test_current() {
        let mut r = LogReader::new(names(&["a", "b", "c", "d"]));
        r.settle(2);
        assert_eq!(r.current(), Some(0));
        assert_eq!(r.without_verdict(), vec![0, 1, 3]);
        assert_eq!(r.feed("failed d\n"), vec![(3, Verdict::Failed(None))]);
        assert_eq!(r.current(), Some(0));
        assert_eq!(r.without_verdict(), vec![0, 1]);
        assert_eq!(
            r.feed("ok a\nok b\n"),
            vec![(0, Verdict::Passed), (1, Verdict::Passed)]
        );
        assert!(r.is_done());
        assert!(r.without_verdict().is_empty());
    }

    #[test]
    fn exec_time_suffix_and_similar_names() {
        let mut r = LogReader::new(names(&["t", "x::t"]));
        let v = r.feed("ok t <0.001s>\nok x::t\n");
        assert_eq!(v, vec![(0, Verdict::Passed), (1, Verdict::Passed)]);
    }

    #[test]
    fn time_limit_failure_is_a_failure() {
        let mut r = LogReader::new(names(&["slow"]));
        assert_eq!(
            r.feed("failed (time limit exceeded) slow\n"),
            vec![(
                0,
                Verdict::Failed(Some("failed (time limit exceeded)".into()))
            )]
        );
    }

    const STDOUT: &str = "\nrunning 3 tests\ntest a ... ok\ntest b ... FAILED\ntest c ... FAILED\n\nfailures:\n\n---- b stdout ----\nnoise from b\n\nthread 'b' panicked at src/lib.rs:6:25:\nboom\n---- c stdout ----\nc out\n\nfailures:\n    b\n    c\n\ntest result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.08s\n\n";

    #[test]
    fn failure_sections_are_split_by_test() {
        let s = failure_sections(STDOUT, &names(&["a", "b", "c"]));
        assert_eq!(
            s["b"],
            "noise from b\n\nthread 'b' panicked at src/lib.rs:6:25:\nboom"
        );
        assert_eq!(s["c"], "c out");
        assert!(!s.contains_key("a"));
    }

    #[test]
    fn logfile_warning_is_cut_out_without_the_tests_output() {
        let seen = "test t ... warning: `--logfile` is deprecatednoise from t\nmore\nwarning: `--logfile` is deprecated\nend";
        assert_eq!(
            strip_logfile_warning(seen),
            "test t ... noise from t\nmore\nend"
        );
    }

    #[test]
    fn exit_verdicts_need_the_exit_code_and_the_closing_line() {
        let ok = "\nrunning 1 test\ntest t ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.00s\n\n";
        let failed = "\nrunning 1 test\ntest t ... FAILED\n\nfailures:\n\n---- t stdout ----\nboom\n\nfailures:\n    t\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.00s\n\n";
        let ignored = "\nrunning 1 test\ntest t ... ignored\n\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 4 filtered out; finished in 0.00s\n\n";
        assert_eq!(exit_verdict(Some(0), ok), Some(Verdict::Passed));
        assert_eq!(exit_verdict(Some(101), failed), Some(Verdict::Failed(None)));
        assert_eq!(exit_verdict(Some(0), ignored), Some(Verdict::Ignored));
        // A printed `ok` and closing line do not pass a test that failed,
        // crashed or exited on its own before libtest's closing line.
        assert_eq!(exit_verdict(Some(101), ok), None);
        assert_eq!(exit_verdict(None, ok), None);
        assert_eq!(exit_verdict(Some(3), ok), None);
        assert_eq!(exit_verdict(Some(0), "\nrunning 1 test\ntest t ... "), None);
        // Only the last closing line counts (a nested libtest printed one).
        let nested = format!(
            "{ok}test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n"
        );
        assert_eq!(exit_verdict(Some(0), &nested), None);
    }

    #[test]
    fn a_listing_logfile_names_each_test() {
        let log = "test a::b\ntest a::bc\nbenchmark c\n";
        assert!(logfile_lists(log, "a::b") && logfile_lists(log, "a::bc"));
        assert!(!logfile_lists(log, "a") && !logfile_lists(log, "c"));
        assert!(!logfile_lists("", "a::b"));
    }

    #[test]
    fn detects_that_libtest_started() {
        assert!(libtest_started(STDOUT));
        assert!(libtest_started("\nrunning 1 test\n"));
        assert!(!libtest_started(
            "error while loading shared libraries: libx.so\n"
        ));
    }
}
