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

/// What the running test wrote before its process died: the output after
/// libtest's `test <name> ... ` marker (earlier bytes belong to the previous
/// test's result line).
pub fn output_of_running_test(
    since_last_verdict: &[u8],
    name: &str,
    redactor: &Redactor,
) -> String {
    let marker = format!("test {name} ... ");
    let text = String::from_utf8_lossy(since_last_verdict);
    match text.find(&marker) {
        Some(pos) => tail_of(
            text[pos + marker.len()..].trim_start_matches('\n'),
            false,
            redactor,
        ),
        None => tail(since_last_verdict, redactor),
    }
}

/// What a test wrote through the pipes (under `--nocapture`): the text
/// between the previous test's `test <prev> ... ` marker (the start, for the
/// first test) and the next test's marker (or the end). It starts at the
/// previous marker, not at this test's own: stdout and stderr are separate
/// pipes, so a panic message on stderr may arrive before this test's marker
/// on stdout, never before the previous test's.
pub fn raw_output(
    all: &str,
    prev: Option<&String>,
    next: Option<&String>,
    redactor: &Redactor,
) -> String {
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
    tail_of(
        &rest[..end],
        start == 0 && all.len() >= MAX_BUFFERED,
        redactor,
    )
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

    #[test]
    fn crashed_test_output_starts_after_its_marker() {
        let none = Redactor::default();
        let raw = b"test prev ... ok\ntest boom ... about to crash\n";
        assert_eq!(
            output_of_running_test(raw, "boom", &none),
            "about to crash\n"
        );
        let (a, b, c) = ("a".to_string(), "b".to_string(), "c".to_string());
        assert_eq!(
            raw_output(
                "test a ... out a\nFAILED\ntest b ... ok\n",
                None,
                Some(&b),
                &none
            ),
            "test a ... out a\nFAILED\n"
        );
        // b's panic (stderr) arrived before b's marker (stdout).
        let all = "test a ... ok\npanic in b\ntest b ... FAILED\ntest c ... ok\n";
        assert_eq!(
            raw_output(all, Some(&a), Some(&c), &none),
            "ok\npanic in b\ntest b ... FAILED\n"
        );
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
                for out in [
                    tail(text.as_bytes(), &r),
                    raw_output(&text, None, None, &r),
                    output_of_running_test(text.as_bytes(), "t", &r),
                ] {
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
