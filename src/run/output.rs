//! Bounded output buffers shared by every kind of unit: a test that floods
//! its pipes must not exhaust memory, and what matters (libtest's failure
//! sections, the running test's last words) is at the end.
//!
//! Output is masked (see [`Redactor`]) before it is cut, split or mixed:
//! each stream goes through its own [`StreamRedactor`] before stdout and
//! stderr meet in one buffer ([`MaskedStreams`]), `--no-capture`'s
//! over-long lines are shown in pieces through one ([`LiveLines`]), and the
//! tail of a failed test's output is cut from the masked text ([`tail`],
//! which masks again, so it is right for raw bytes too). A password across
//! a cut shows in no part.

use super::libtest;
use crate::process::Stream;
use crate::secrets::{Redactor, StreamRedactor};

/// Most bytes of output kept for one failed test.
const MAX_OUTPUT: usize = 64 * 1024;
/// Most bytes of a process's output held in memory.
pub const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// Drop the front of `buf` once it holds twice `max`; return how much went.
pub fn keep_tail(buf: &mut Vec<u8>, max: usize) -> usize {
    if buf.len() <= 2 * max {
        return 0;
    }
    let drop = buf.len() - max;
    buf.drain(..drop);
    drop
}

/// Append `data` to `buf`, keeping at most about [`MAX_BUFFERED`] bytes;
/// return how many bytes fell off the front.
pub fn append_bounded(buf: &mut Vec<u8>, data: &[u8]) -> usize {
    buf.extend_from_slice(data);
    keep_tail(buf, MAX_BUFFERED)
}

/// The end of `bytes` as text, masked by `redactor`, without libtest's
/// `--logfile` deprecation notice: at most `MAX_OUTPUT` bytes, cut from the
/// masked text.
pub fn tail(bytes: &[u8], redactor: &Redactor) -> String {
    tail_of(
        &String::from_utf8_lossy(bytes),
        bytes.len() >= MAX_BUFFERED,
        redactor,
    )
}

/// [`tail`] of `text`; `cut_in_front`: it may start in the middle of
/// something (a buffer that has lost its front to [`append_bounded`]).
fn tail_of(text: &str, cut_in_front: bool, redactor: &Redactor) -> String {
    let text = libtest::strip_logfile_warning(text);
    let (text, left_out) = redactor.redact_tail(&text, MAX_OUTPUT, cut_in_front);
    if left_out > 0 {
        format!("[... {left_out} earlier bytes not shown ...]\n{text}")
    } else {
        text
    }
}

/// Give the process `cmd` starts one pipe for stdout and stderr: its fd 2
/// becomes a copy of fd 1 (the stdout pipe [`process::spawn`] sets up), so
/// what the process and its children write reaches cargo-xdist in the
/// order it was written, and each chunk can be told to belong to the test
/// that ran when it was written. Its stderr pipe closes unused.
///
/// [`process::spawn`]: crate::process::spawn
pub fn merge_stderr_into_stdout(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let merge = || {
        // SAFETY: dup2 is async-signal-safe and allocates nothing.
        if unsafe { libc::dup2(libc::STDOUT_FILENO, libc::STDERR_FILENO) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure makes one system call and allocates nothing, as
    // code between fork and exec must. It runs after the standard streams
    // are set up.
    unsafe {
        cmd.pre_exec(merge);
    }
}

/// libtest's start marker: `test NAME ... ` (`test NAME - should panic ...
/// `), which libtest writes (and flushes) before it runs a test when it
/// runs one test at a time.
const MARKER_START: &[u8] = b"test ";
const MARKER_END: &[u8] = b" ... ";
const SHOULD_PANIC: &[u8] = b" - should panic";

/// What a line that starts at `rest` is, as far as `rest` goes.
#[derive(Debug, PartialEq, Eq)]
enum Marker {
    /// The marker of `candidates[i]`, `len` bytes long.
    Found(usize, usize),
    /// It may become a marker with more bytes.
    Partial,
    No,
}

fn marker_at(rest: &[u8], candidates: &[String], longest: usize) -> Marker {
    let most = MARKER_START.len() + longest + SHOULD_PANIC.len() + MARKER_END.len();
    let window = &rest[..rest.len().min(most)];
    let complete = rest.len() > window.len();
    let Some(body) = window.strip_prefix(MARKER_START) else {
        let could = MARKER_START.starts_with(window) && !complete;
        return if could { Marker::Partial } else { Marker::No };
    };
    let Some(k) = body.windows(MARKER_END.len()).position(|w| w == MARKER_END) else {
        let could = !complete && !body.contains(&b'\n');
        return if could { Marker::Partial } else { Marker::No };
    };
    let name = &body[..k];
    let name = name.strip_suffix(SHOULD_PANIC).unwrap_or(name);
    match candidates.iter().position(|n| n.as_bytes() == name) {
        Some(i) => Marker::Found(i, MARKER_START.len() + k + MARKER_END.len()),
        None => Marker::No,
    }
}

/// Which part of a libtest process's output each of its tests wrote.
/// libtest runs with `--nocapture` and `--test-threads=1`, the process's
/// stdout and stderr are one pipe ([`merge_stderr_into_stdout`]), and
/// libtest writes `test NAME ... ` before each test: what comes after that
/// marker and before the next test's (or libtest's closing lines) is that
/// test's, whether printed, written to fd 1 or 2 directly, or by a child.
///
/// Markers are looked for at the start of a line, of the tests in the
/// order libtest runs them, each after the last one found, only in what
/// was added since the last look. A test that prints another test's
/// marker can move output between the two; it cannot change a verdict,
/// which never comes from this text.
#[derive(Debug)]
pub struct TestOutputs {
    /// The tests, in the order libtest runs them.
    names: Vec<String>,
    longest: usize,
    /// The first test whose marker has not been seen.
    next: usize,
    /// Where in the buffer to go on looking for a line start.
    scan: usize,
    /// Each test's marker, once seen: where it starts and where the
    /// test's output starts, in the buffer.
    marks: Vec<Option<(usize, usize)>>,
    /// The buffer lost its front at some point.
    cut: bool,
}

impl TestOutputs {
    pub fn new(names: &[String]) -> Self {
        TestOutputs {
            names: names.to_vec(),
            longest: names.iter().map(String::len).max().unwrap_or(0),
            next: 0,
            scan: 0,
            marks: vec![None; names.len()],
            cut: false,
        }
    }

    /// Whether libtest has written a test's start marker: it has started
    /// its tests, though the buffer may since have lost its front (the
    /// `running N tests` line with it).
    pub fn any_seen(&self) -> bool {
        self.next > 0
    }

    /// `n` bytes fell off the front of the buffer.
    pub fn dropped(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.cut = true;
        self.scan = self.scan.saturating_sub(n);
        for (start, out) in self.marks.iter_mut().flatten() {
            *start = start.saturating_sub(n);
            *out = out.saturating_sub(n);
        }
    }

    /// Find the markers in what `buf` gained since the last call.
    pub fn scan(&mut self, buf: &[u8]) {
        while self.next < self.names.len() && self.scan < buf.len() {
            // The first marker follows `running N tests`, the others a
            // result: each starts a line.
            let Some(nl) = buf[self.scan..].iter().position(|&b| b == b'\n') else {
                self.scan = buf.len();
                return;
            };
            let line = self.scan + nl + 1;
            match marker_at(&buf[line..], &self.names[self.next..], self.longest) {
                Marker::Found(i, len) => {
                    self.marks[self.next + i] = Some((line, line + len));
                    self.next += i + 1;
                    self.scan = line + len - 1;
                }
                // Look at this line again when more has come.
                Marker::Partial => {
                    self.scan = line - 1;
                    return;
                }
                Marker::No => self.scan = line,
            }
        }
    }

    /// Whether test `idx`'s marker was seen.
    pub fn started(&self, idx: usize) -> bool {
        self.marks.get(idx).is_some_and(Option::is_some)
    }

    /// What test `idx` wrote, from `buf` (the buffer the markers were
    /// found in), as [`tail`] shows it: without libtest's marker, its
    /// result word after the output and, for the last test, its closing
    /// lines. `None` if its marker was not seen.
    pub fn output_of(&self, buf: &[u8], idx: usize, redactor: &Redactor) -> Option<String> {
        let (_, start) = self.marks.get(idx).copied().flatten()?;
        let next = self.marks[idx + 1..].iter().flatten().next();
        let end = next.map_or(buf.len(), |m| m.0).min(buf.len());
        let text = String::from_utf8_lossy(&buf[start.min(end)..end]);
        let text = if next.is_none() {
            without_closing(&text, &self.names)
        } else {
            &text
        };
        let text = without_result_word(text.trim_end_matches('\n'));
        Some(tail_of(
            text.trim_matches('\n'),
            start == 0 && self.cut,
            redactor,
        ))
    }
}

/// The words libtest writes after a test when it runs one at a time.
pub(super) fn is_result_word(line: &str) -> bool {
    matches!(
        line,
        "ok" | "FAILED" | "ignored" | "FAILED (time limit exceeded)"
    ) || line.starts_with("ignored, ")
}

/// `text` (a test's output, its last newline cut) without libtest's
/// result word at its end.
fn without_result_word(text: &str) -> &str {
    let (head, last) = match text.rfind('\n') {
        Some(nl) => (&text[..=nl], &text[nl + 1..]),
        None => ("", text),
    };
    if is_result_word(last) {
        return head;
    }
    // A last line without its newline runs into the word.
    for word in ["FAILED", "ok"] {
        if let Some(rest) = text.strip_suffix(word) {
            return rest;
        }
    }
    text
}

/// The last test's output without libtest's closing lines: the lists of
/// `failures:` (with any sections of messages) and `successes:`, and
/// `test result: ...`, found from the end, so that a test's own lines like
/// them (a nested libtest's) stay.
fn without_closing<'t>(text: &'t str, names: &[String]) -> &'t str {
    let Some(closing) = text.rfind("\ntest result: ") else {
        return text;
    };
    // It ends with the newline of the line before the blank one.
    let mut head = &text[..closing];
    for list in ["\nfailures:\n", "\nsuccesses:\n"] {
        // The names of the list, then its header; before those, either
        // the same header again or the sections and that header.
        let mut names_end = head;
        while let Some(line_start) = names_end.strip_suffix('\n').and_then(|h| h.rfind('\n')) {
            let line = &names_end[line_start + 1..names_end.len() - 1];
            match line.strip_prefix("    ") {
                Some(n) if names.iter().any(|k| k == n) => names_end = &names_end[..=line_start],
                _ => break,
            }
        }
        let Some(before) = names_end.strip_suffix(list) else {
            continue;
        };
        let before = match before.strip_suffix(list) {
            Some(b) => b,
            None => match before.rfind(&format!("{list}\n---- ")) {
                Some(at) => &before[..at],
                None => continue,
            },
        };
        head = before;
    }
    head
}

/// `--no-capture`: a libtest process's output lines (of one stream, in
/// order, as [`LiveLines`] cuts them) without the lines libtest writes
/// itself: `running N tests` and the blank lines before the first test,
/// each test's `test NAME ... ` marker (what the test wrote on that line
/// stays), the result word after a test (`ok`, `FAILED`), and the closing
/// lists and `test result:` line. A test's own line that reads `ok` is
/// shown, unless the next marker or the closing follows it.
#[derive(Debug)]
pub struct LiveFilter {
    names: Vec<String>,
    longest: usize,
    next: usize,
    /// A marker was seen.
    started: bool,
    /// Past the last test's result: libtest's closing lines.
    closing: bool,
    /// A result word, shown only if a line of the test's follows it.
    held: Option<String>,
    /// The last text shown ended in the middle of a line.
    mid_line: bool,
}

impl LiveFilter {
    pub fn new(names: &[String]) -> Self {
        LiveFilter {
            names: names.to_vec(),
            longest: names.iter().map(String::len).max().unwrap_or(0),
            next: 0,
            started: false,
            closing: false,
            held: None,
            mid_line: false,
        }
    }

    /// What of `text` (whole lines, or a piece of an over-long one) to show.
    pub fn filter(&mut self, text: &str) -> String {
        let mut out = String::new();
        for piece in text.split_inclusive('\n') {
            let ends = piece.ends_with('\n');
            if std::mem::replace(&mut self.mid_line, !ends) {
                out.push_str(piece);
                continue;
            }
            let line = piece.trim_end_matches(['\n', '\r']);
            let candidates = &self.names[self.next.min(self.names.len())..];
            if let Marker::Found(i, len) = marker_at(piece.as_bytes(), candidates, self.longest) {
                // The word before a marker is the previous test's result.
                self.held = None;
                self.next += i + 1;
                self.started = true;
                let rest = &piece[len..];
                let rest_line = rest.trim_end_matches(['\n', '\r']);
                if is_result_word(rest_line) {
                    // A test that wrote nothing; after the last, the closing.
                    self.closing = self.next >= self.names.len();
                } else if !rest_line.is_empty() {
                    out.push_str(rest);
                }
                continue;
            }
            let framing = |line: &str| {
                line.trim().is_empty()
                    || line == "failures:"
                    || line == "successes:"
                    || line.starts_with("test result: ")
                    || line
                        .strip_prefix("    ")
                        .is_some_and(|n| self.names.iter().any(|k| k == n))
                    || line
                        .strip_prefix("---- ")
                        .and_then(|l| l.strip_suffix(" stdout ----"))
                        .is_some_and(|n| self.names.iter().any(|k| k == n))
            };
            if let Some(held) = self.held.take() {
                if self.next >= self.names.len() && framing(line) {
                    self.closing = true;
                } else {
                    out.push_str(&held);
                }
            }
            if self.started && !self.closing && ends && is_result_word(line) {
                self.held = Some(piece.to_string());
                continue;
            }
            let running = line
                .strip_prefix("running ")
                .is_some_and(|r| r.ends_with(" tests") || r.ends_with(" test"));
            if (!self.started && (line.trim().is_empty() || running))
                || (self.closing && framing(line))
            {
                continue;
            }
            out.push_str(piece);
        }
        out
    }

    /// The process ended: a result word still held back was libtest's.
    pub fn finish(&mut self) {
        self.held = None;
    }
}

/// A process's stdout and stderr for one buffer that holds both as they
/// come: each stream is masked on its own first, so that a chunk of one
/// that lands in the middle of a secret in the other (the pipes are read
/// in chunks cut anywhere) cannot keep that secret from being recognised.
#[derive(Debug)]
pub struct MaskedStreams {
    stdout: MaskedStream,
    stderr: MaskedStream,
}

impl MaskedStreams {
    pub fn new(redactor: &Redactor) -> Self {
        MaskedStreams {
            stdout: MaskedStream::new(redactor),
            stderr: MaskedStream::new(redactor),
        }
    }

    /// A chunk of `stream`: what of it can go into the buffer now, masked.
    pub fn push(&mut self, stream: Stream, data: &[u8]) -> String {
        match stream {
            Stream::Stdout => self.stdout.push(data),
            Stream::Stderr => self.stderr.push(data),
        }
    }

    /// The process is over: what is left of both streams, masked.
    pub fn finish(&mut self) -> String {
        self.stdout.finish() + &self.stderr.finish()
    }
}

/// One stream's bytes through a [`StreamRedactor`], whole characters only.
#[derive(Debug)]
struct MaskedStream {
    /// The start of a character cut in two by the last chunk.
    carry: Vec<u8>,
    masker: StreamRedactor,
}

impl MaskedStream {
    fn new(redactor: &Redactor) -> Self {
        MaskedStream {
            carry: Vec::new(),
            masker: StreamRedactor::new(redactor.clone()),
        }
    }

    fn push(&mut self, data: &[u8]) -> String {
        self.carry.extend_from_slice(data);
        let end = whole_chars(&self.carry);
        let bytes: Vec<u8> = self.carry.drain(..end).collect();
        self.masker.push(&String::from_utf8_lossy(&bytes))
    }

    fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.carry);
        let mut out = self.masker.push(&String::from_utf8_lossy(&rest));
        out.push_str(&self.masker.finish());
        out
    }
}

/// Longest partial line `--no-capture` holds back before showing it anyway.
const MAX_PARTIAL_LINE: usize = 64 * 1024;

/// `--no-capture`: a process's output cut into whole lines, per stream,
/// and masked. A line longer than `MAX_PARTIAL_LINE` (64 KiB) is shown in pieces
/// before its end, through a [`StreamRedactor`] that holds back what could
/// be the start of a secret until the next piece comes.
#[derive(Debug)]
pub struct LiveLines {
    stdout: LiveStream,
    stderr: LiveStream,
}

#[derive(Debug)]
struct LiveStream {
    /// Bytes of the line being written.
    line: Vec<u8>,
    masker: StreamRedactor,
}

impl LiveStream {
    /// The text of `bytes` (whole UTF-8 characters, the logfile notice cut
    /// out) through the masker: what can be shown, and, at the end of a
    /// line, what the masker held back too.
    fn show(&mut self, bytes: &[u8], line_ends: bool) -> String {
        let text = libtest::strip_logfile_warning(&String::from_utf8_lossy(bytes));
        let mut out = self.masker.push(&text);
        if line_ends {
            out.push_str(&self.masker.finish());
        }
        out
    }
}

impl LiveLines {
    /// Lines masked by `redactor`.
    pub fn new(redactor: &Redactor) -> Self {
        let stream = || LiveStream {
            line: Vec::new(),
            masker: StreamRedactor::new(redactor.clone()),
        };
        LiveLines {
            stdout: stream(),
            stderr: stream(),
        }
    }

    /// Add a chunk of `stream`; what can be shown of it now, if anything:
    /// the lines it completes, or a piece of a line too long to wait for.
    pub fn push(&mut self, stream: Stream, data: &[u8]) -> Option<String> {
        let live = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        live.line.extend_from_slice(data);
        let (end, line_ends) = match live.line.iter().rposition(|&b| b == b'\n') {
            Some(nl) => (nl + 1, true),
            None if live.line.len() > MAX_PARTIAL_LINE => (whole_chars(&live.line), false),
            None => return None,
        };
        let bytes: Vec<u8> = live.line.drain(..end).collect();
        let text = live.show(&bytes, line_ends);
        (!text.is_empty()).then_some(text)
    }

    /// What is left at the end of the process (last lines without a newline).
    pub fn flush(&mut self) -> Option<String> {
        let mut rest = String::new();
        for live in [&mut self.stdout, &mut self.stderr] {
            let bytes = std::mem::take(&mut live.line);
            let text = live.show(&bytes, true);
            if !rest.is_empty() && !text.is_empty() {
                rest.push('\n');
            }
            rest.push_str(&text);
        }
        (!rest.is_empty()).then_some(rest)
    }
}

/// How many of `bytes` end with a whole UTF-8 character: all, but for an
/// unfinished multi-byte character at the end, which waits for the rest (cut
/// in two, it would turn into two replacement characters, and a secret
/// holding it would no longer be recognised).
fn whole_chars(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let b = bytes[len - back];
        if b & 0b1100_0000 != 0b1000_0000 {
            // The first byte of the last character: how long it should be.
            let want = match b {
                0xf0..=0xf7 => 4,
                0xe0..=0xef => 3,
                0xc0..=0xdf => 2,
                _ => 1,
            };
            return if want > back { len - back } else { len };
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_keep_their_tail() {
        let mut buf: Vec<u8> = (0..250u8).collect();
        assert_eq!(keep_tail(&mut buf, 200), 0);
        assert_eq!(keep_tail(&mut buf, 100), 150);
        assert_eq!(buf, (150..250u8).collect::<Vec<_>>());
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Each test's part of a process's output, fed in chunks of `chunk`.
    fn split(all: &str, tests: &[&str], chunk: usize) -> Vec<Option<String>> {
        let mut outputs = TestOutputs::new(&names(tests));
        let mut buf = Vec::new();
        for piece in all.as_bytes().chunks(chunk) {
            buf.extend_from_slice(piece);
            outputs.scan(&buf);
        }
        (0..tests.len())
            .map(|i| outputs.output_of(&buf, i, &Redactor::default()))
            .collect()
    }

    /// rustc 1.95 libtest, `--nocapture --test-threads=1`, one pipe.
    const ALL: &str = "\nrunning 4 tests\ntest a ... a out\nraw a\n\nthread 'a' panicked at t.rs:1:1:\na panics\nFAILED\ntest b ... ok\ntest c - should panic ... c out\nFAILED\ntest d ... test d ... forged\nd out\nFAILED\n\nfailures:\n\n---- c stdout ----\nnote: test did not panic as expected\n\nfailures:\n    a\n    c\n    d\n\ntest result: FAILED. 1 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\nexit handler\n";

    #[test]
    fn each_test_gets_what_came_after_its_marker() {
        let want = [
            Some("a out\nraw a\n\nthread 'a' panicked at t.rs:1:1:\na panics".to_string()),
            Some(String::new()),
            Some("c out".to_string()),
            Some("test d ... forged\nd out".to_string()),
        ];
        for chunk in [1, 2, 7, 64, ALL.len()] {
            assert_eq!(split(ALL, &["a", "b", "c", "d"], chunk), want, "by {chunk}");
        }
        // Without failures, the closing is the `test result:` line.
        let ok = "\nrunning 1 test\ntest a ... hi\nok\n\ntest result: ok. 1 passed\n\n";
        assert_eq!(split(ok, &["a"], 3), [Some("hi".to_string())]);
        // A crash: everything after the marker; a test whose marker never
        // came has no output.
        let crash = "\nrunning 2 tests\ntest a ... about to crash\n";
        assert_eq!(
            split(crash, &["a", "b"], 5),
            [Some("about to crash".to_string()), None]
        );
        // A marker must start a line and name a test still to come.
        let odd = "\nrunning 2 tests\ntest b ... x test a ... y\ntest a ... z\nok\n";
        assert_eq!(
            split(odd, &["a", "b"], 4),
            [None, Some("x test a ... y\ntest a ... z".to_string())]
        );
    }

    /// `--no-capture` shows what `filter` keeps of `all`, given in lines.
    fn live(all: &str, tests: &[&str]) -> String {
        let mut f = LiveFilter::new(&names(tests));
        let mut out = String::new();
        for line in all.split_inclusive('\n') {
            out.push_str(&f.filter(line));
        }
        f.finish();
        out
    }

    #[test]
    fn live_output_leaves_out_libtest_lines() {
        assert_eq!(
            live(ALL, &["a", "b", "c", "d"]),
            "a out\nraw a\n\nthread 'a' panicked at t.rs:1:1:\na panics\nc out\ntest d ... forged\nd out\nnote: test did not panic as expected\nexit handler\n"
        );
        // A test's own `ok` line stays; a quiet last test ends the run.
        let ok = "\nrunning 2 tests\ntest a ... ok\nok\nok\ntest b ... ok\n\ntest result: ok. 2 passed\n\n";
        assert_eq!(live(ok, &["a", "b"]), "ok\n");
    }

    #[test]
    fn live_lines_are_whole_lines_per_stream() {
        let mut live = LiveLines::new(&Redactor::default());
        assert_eq!(live.push(Stream::Stdout, b"par"), None);
        assert_eq!(
            live.push(Stream::Stderr, b"warning: `--logfile` is deprecatederr 1\n"),
            Some("err 1\n".into())
        );
        assert_eq!(
            live.push(Stream::Stdout, b"tial\nnext"),
            Some("partial\n".into())
        );
        assert_eq!(live.push(Stream::Stderr, b"end"), None);
        assert_eq!(live.flush(), Some("next\nend".into()));
        assert_eq!(live.flush(), None);
    }

    #[test]
    fn long_output_keeps_its_end() {
        let big = vec![b'x'; MAX_OUTPUT + 10];
        let t = tail(&big, &Redactor::default());
        assert!(
            t.starts_with("[... 10 earlier bytes not shown ...]\n"),
            "{}",
            &t[..40]
        );
        assert_eq!(t.len() - t.find('\n').unwrap() - 1, MAX_OUTPUT);
    }

    /// Spellings of the secret `Pw:9x/7!q` a test may print.
    const SPELLINGS: [&str; 3] = ["Pw:9x/7!q", "Pw%3A9x%2F7%21q", "Pw%3a9x%2f7%21q"];

    /// Whether `text` shows 3 or more bytes of a spelling of the secret
    /// where `text` starts or ends (or the whole anywhere).
    fn shows_a_part(text: &str) -> bool {
        SPELLINGS.iter().any(|s| {
            text.contains(s)
                || (3..s.len())
                    .any(|n| text.ends_with(&s[..n]) || text.starts_with(&s[s.len() - n..]))
        })
    }

    #[test]
    fn a_secret_across_the_tail_cut_shows_in_no_part() {
        let r = Redactor::new(&["Pw%3A9x%2F7%21q"]);
        for spelled in SPELLINGS {
            // The cut falls before, in and after the secret, at every offset.
            for after in MAX_OUTPUT - spelled.len() - 2..=MAX_OUTPUT + 2 {
                let text = format!("{}{spelled}{}", "~".repeat(100), "~".repeat(after));
                for out in [tail(text.as_bytes(), &r), {
                    let marked = format!("\ntest t ... {text}");
                    let mut outputs = TestOutputs::new(&names(&["t"]));
                    outputs.scan(marked.as_bytes());
                    outputs.output_of(marked.as_bytes(), 0, &r).unwrap()
                }] {
                    let body = &out[out.find(']').map_or(0, |i| i + 2)..];
                    assert!(!shows_a_part(body), "{spelled} + {after}: {}", &body[..40]);
                    assert!(body.len() <= MAX_OUTPUT);
                }
            }
        }
        // A buffer that lost its front may start inside a secret: not shown.
        let mut big = b"7%21q".to_vec();
        big.resize(MAX_BUFFERED, b'~');
        let shown = tail(&big, &r);
        let (start, end) = shown.split_at(40);
        assert!(start.starts_with("[... ") && !end.contains('q'), "{start}");
    }

    #[test]
    fn a_secret_in_a_long_line_is_masked_across_the_pieces_it_is_shown_in() {
        let r = Redactor::new(&["Pw%3A9x%2F7%21q"]);
        for spelled in SPELLINGS {
            // A 200 KB line, the secret across the first piece's end at
            // every offset, pushed in chunks of 64 KiB, 4 KiB or 1000 bytes.
            for before in MAX_PARTIAL_LINE - spelled.len() - 1..=MAX_PARTIAL_LINE + 1 {
                for chunk in [64 * 1024, 4096, 1000] {
                    let line = format!(
                        "{}{spelled}{}\n",
                        "~".repeat(before),
                        "~".repeat(200_000 - before)
                    );
                    let mut live = LiveLines::new(&r);
                    let mut shown = String::new();
                    for piece in line.as_bytes().chunks(chunk) {
                        if let Some(text) = live.push(Stream::Stdout, piece) {
                            assert!(!shows_a_part(&text), "{spelled} at {before} by {chunk}");
                            shown.push_str(&text);
                        }
                    }
                    assert_eq!(live.flush(), None);
                    assert_eq!(shown, line.replace(spelled, "****"));
                }
            }
        }
        // A character cut in two by a chunk waits for its other half.
        let r = Redactor::new(&["pässwörd1"]);
        let mut live = LiveLines::new(&r);
        let line = format!("{}pässwörd1 end", "~".repeat(MAX_PARTIAL_LINE));
        let cut = line.find('ä').unwrap() + 1;
        let mut shown = live.push(Stream::Stderr, &line.as_bytes()[..cut]).unwrap();
        assert!(!shown.contains('\u{fffd}'));
        shown.push_str(
            &live
                .push(Stream::Stderr, &line.as_bytes()[cut..])
                .unwrap_or_default(),
        );
        shown.push_str(&live.flush().unwrap());
        assert_eq!(shown, format!("{}**** end", "~".repeat(MAX_PARTIAL_LINE)));
    }

    #[test]
    fn a_stream_cut_by_the_other_one_is_masked_before_they_meet() {
        let r = Redactor::new(&["Pw%3A9x%2F7%21q"]);
        for spelled in SPELLINGS {
            let line = format!("{}{spelled}{}\n", "~".repeat(3000), "~".repeat(3000));
            let at = line.find(spelled).unwrap();
            for cut in at - 1..=at + spelled.len() + 1 {
                let mut streams = MaskedStreams::new(&r);
                let mut combined = streams.push(Stream::Stdout, &line.as_bytes()[..cut]);
                combined.push_str(&streams.push(Stream::Stderr, b"panicked at x\n"));
                combined.push_str(&streams.push(Stream::Stdout, &line.as_bytes()[cut..]));
                combined.push_str(&streams.finish());
                // As the report shows it (masked again, as tail() does).
                let combined = r.redact(&combined);
                let pieces = SPELLINGS
                    .iter()
                    .flat_map(|s| (3..=s.len()).flat_map(|n| [&s[..n], &s[s.len() - n..]]));
                for piece in pieces {
                    assert!(!combined.contains(piece), "{spelled} cut at {cut}: {piece}");
                }
                assert_eq!(combined.matches('~').count(), 6000);
                assert!(combined.contains("****") && combined.contains("panicked at x\n"));
            }
        }
        let mut none = MaskedStreams::new(&Redactor::default());
        assert_eq!(none.push(Stream::Stderr, "é".as_bytes()), "é");
        assert_eq!(none.push(Stream::Stdout, &"é".as_bytes()[..1]), "");
        assert_eq!(none.finish(), "\u{fffd}");
    }
}
