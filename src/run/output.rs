//! Bounded output buffers shared by every kind of unit: a test that floods
//! its pipes must not exhaust memory, and what matters (libtest's failure
//! sections, the running test's last words) is at the end.

use super::libtest;
use super::process::Stream;

/// Most bytes of raw output kept for one failed test.
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

/// The last `MAX_OUTPUT` bytes of `bytes` as text, without libtest's
/// `--logfile` deprecation notice.
pub fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(MAX_OUTPUT);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = libtest::strip_logfile_warning(&text);
    if start > 0 {
        format!("[... {start} earlier bytes not shown ...]\n{text}")
    } else {
        text
    }
}

/// What the running test wrote before its process died: the output after
/// libtest's `test <name> ... ` marker (earlier bytes belong to the previous
/// test's result line).
pub fn output_of_running_test(since_last_verdict: &[u8], name: &str) -> String {
    let marker = format!("test {name} ... ");
    let text = String::from_utf8_lossy(since_last_verdict);
    match text.find(&marker) {
        Some(pos) => tail(
            text[pos + marker.len()..]
                .trim_start_matches('\n')
                .as_bytes(),
        ),
        None => tail(since_last_verdict),
    }
}

/// What a test wrote through the pipes (under `--nocapture`): the text
/// between the previous test's `test <prev> ... ` marker (the start, for the
/// first test) and the next test's marker (or the end). It starts at the
/// previous marker, not at this test's own: stdout and stderr are separate
/// pipes, so a panic message on stderr may arrive before this test's marker
/// on stdout, never before the previous test's.
pub fn raw_output(all: &str, prev: Option<&String>, next: Option<&String>) -> String {
    let start = prev
        .and_then(|p| {
            let marker = format!("test {p} ... ");
            all.find(&marker).map(|at| at + marker.len())
        })
        .unwrap_or(0);
    let rest = &all[start..];
    let end = next
        .and_then(|n| rest.find(&format!("test {n} ... ")))
        .unwrap_or(rest.len());
    tail(&rest.as_bytes()[..end])
}

/// Longest partial line `--no-capture` holds back before showing it anyway.
const MAX_PARTIAL_LINE: usize = 64 * 1024;

/// `--no-capture`: a process's output cut into whole lines, per stream, so
/// that each event carries complete lines (a secret is never split between
/// two events, which would let it pass redaction).
#[derive(Debug, Default)]
pub struct LiveLines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LiveLines {
    /// Add a chunk of `stream`; the lines it completes, if any, without
    /// libtest's `--logfile` deprecation notice.
    pub fn push(&mut self, stream: Stream, data: &[u8]) -> Option<String> {
        let buf = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        buf.extend_from_slice(data);
        let end = match buf.iter().rposition(|&b| b == b'\n') {
            Some(nl) => nl + 1,
            None if buf.len() > MAX_PARTIAL_LINE => buf.len(),
            None => return None,
        };
        let lines: Vec<u8> = buf.drain(..end).collect();
        shown(&lines)
    }

    /// What is left at the end of the process (last lines without a newline).
    pub fn flush(&mut self) -> Option<String> {
        let mut rest = std::mem::take(&mut self.stdout);
        if !rest.is_empty() && !self.stderr.is_empty() {
            rest.push(b'\n');
        }
        rest.append(&mut self.stderr);
        shown(&rest)
    }
}

fn shown(bytes: &[u8]) -> Option<String> {
    let text = libtest::strip_logfile_warning(&String::from_utf8_lossy(bytes));
    (!text.is_empty()).then_some(text)
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

    #[test]
    fn crashed_test_output_starts_after_its_marker() {
        let raw = b"test prev ... ok\ntest boom ... about to crash\n";
        assert_eq!(output_of_running_test(raw, "boom"), "about to crash\n");
        let (a, b, c) = ("a".to_string(), "b".to_string(), "c".to_string());
        assert_eq!(
            raw_output("test a ... out a\nFAILED\ntest b ... ok\n", None, Some(&b)),
            "test a ... out a\nFAILED\n"
        );
        // b's panic (stderr) arrived before b's marker (stdout).
        let all = "test a ... ok\npanic in b\ntest b ... FAILED\ntest c ... ok\n";
        assert_eq!(
            raw_output(all, Some(&a), Some(&c)),
            "ok\npanic in b\ntest b ... FAILED\n"
        );
    }

    #[test]
    fn live_lines_are_whole_lines_per_stream() {
        let mut live = LiveLines::default();
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
        let t = tail(&big);
        assert!(
            t.starts_with("[... 10 earlier bytes not shown ...]\n"),
            "{}",
            &t[..40]
        );
        assert_eq!(t.len() - t.find('\n').unwrap() - 1, MAX_OUTPUT);
    }
}
