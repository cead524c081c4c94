//! Masking a run's secrets (database passwords) in any text.
//!
//! [`Redactor`] masks every spelling in which a password can show up in a
//! test's output: as written, percent-decoded, and percent-encoded with any
//! mix of upper- and lower-case escapes (`%3A`, `%3a`) and of escaped and
//! literal characters (URL libraries differ in what they escape), which
//! covers the password inside the URL a test is given.
//!
//! Text is masked before it is cut or split, never after:
//! [`Redactor::redact_tail`] masks a whole buffer and then keeps its end,
//! and [`StreamRedactor`] masks a stream chunk by chunk, holding back the
//! last [`Redactor::window`] bytes (as long as the longest possible match),
//! so that a secret split between two chunks is still masked whole.
//!
//! Everything here is a pure function of its inputs: no I/O, no environment.

use std::fmt;

/// What a password is replaced with when it is redacted.
pub const REDACTED: &str = "****";

/// See [`Redactor`].
pub const STRONG_MIN_CHARS: usize = 6;
/// See [`Redactor`].
pub const WORD_MAX_CHARS: usize = 16;

/// Most characters of a URL's user name in front of a password masked
/// only as a password (`://user:pw@`). PostgreSQL role names have at most
/// 63 bytes; this leaves room for their percent-encoding.
const MAX_USER_CHARS: usize = 256;
/// Most whitespace characters on each side of `=` or `:` after `password`.
const MAX_SPACES: usize = 16;
/// Most bytes a password position's prefix can span: `://`, the user
/// name (up to 4 bytes a character) and `:`; the `password ... = '`
/// alternative is shorter.
const MAX_PREFIX_BYTES: usize = 3 + MAX_USER_CHARS * 4 + 1;
/// Most bytes of the character that ends a password in a password position.
const MAX_SUFFIX_BYTES: usize = 4;

/// Masks a run's secrets (passwords) in any text, as `****`.
///
/// Each secret is matched in every spelling: as given, percent-decoded,
/// and with any of its characters percent-encoded, in upper- or lower-case
/// hex.
///
/// A password that is at least [`STRONG_MIN_CHARS`] characters long and
/// not a plain word (letters only, under [`WORD_MAX_CHARS`] characters) is
/// masked wherever it appears. A shorter one or a plain word (`postgres`,
/// `secret`, `pw1`) is masked only where it stands as a password: in a
/// URL's user info (`://user:postgres@`), after `password=` or
/// `password:` (`PGPASSWORD=postgres`, `?password=postgres`,
/// `"password": "postgres"`) and in SQL's `PASSWORD 'postgres'`; so that
/// the word elsewhere in a test's output (`postgres://`, `user
/// "postgres"`) stays readable.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Matches one secret: group `strong` (masked whole) or `pre`, a
    /// password, `post` (only the password masked).
    regex: Option<regex::Regex>,
    /// How many spellings' patterns the regex has.
    forms: usize,
    /// Most bytes one match can span.
    window: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secret forms)", self.forms)
    }
}

/// A regex matching `text` with any of its characters percent-encoded
/// (each byte as `%XX`, hex digits in either case), and the most bytes a
/// match can have.
fn spellings(text: &str) -> (String, usize) {
    let hex = |nibble: u8| match nibble {
        0..=9 => char::from(b'0' + nibble).to_string(),
        _ => {
            let upper = char::from(b'A' + nibble - 10);
            format!("[{upper}{}]", upper.to_ascii_lowercase())
        }
    };
    let mut pattern = String::new();
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let encoded: String = c
            .encode_utf8(&mut buf)
            .bytes()
            .map(|b| format!("%{}{}", hex(b >> 4), hex(b & 0xf)))
            .collect();
        pattern.push_str(&format!(
            "(?:{}|{encoded})",
            regex::escape(c.encode_utf8(&mut buf))
        ));
    }
    (pattern, text.len() * 3)
}

impl Redactor {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Self {
        // (text to spell, masked everywhere)
        let mut texts: Vec<(String, bool)> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            let decoded = percent_encoding::percent_decode_str(secret)
                .decode_utf8()
                .map_or_else(|_| secret.to_string(), |d| d.into_owned());
            let chars = decoded.chars().count();
            let plain_word = decoded.chars().all(char::is_alphabetic) && chars < WORD_MAX_CHARS;
            let strong = chars >= STRONG_MIN_CHARS && !plain_word;
            // A '%' in the secret may be literal or start an escape: both.
            texts.push((secret.to_string(), strong));
            texts.push((decoded, strong));
        }
        texts.retain(|(t, _)| !t.is_empty());
        // Longest first, so a secret containing another is masked whole.
        texts.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.cmp(b)));
        texts.dedup();
        if texts.is_empty() {
            return Redactor::default();
        }
        let mut window = 0;
        let (mut strong, mut positional) = (Vec::new(), Vec::new());
        for (text, everywhere) in &texts {
            let (pattern, max) = spellings(text);
            if *everywhere {
                strong.push(pattern);
                window = window.max(max);
            } else {
                positional.push(pattern);
                window = window.max(MAX_PREFIX_BYTES + max + MAX_SUFFIX_BYTES);
            }
        }
        let mut branches = Vec::new();
        if !strong.is_empty() {
            branches.push(format!("(?P<strong>{})", strong.join("|")));
        }
        if !positional.is_empty() {
            // The key is matched without regard to case; the password in
            // any spelling. The password must end the value: a quote, '@'
            // (user info), a separator, whitespace or the end follows.
            branches.push(format!(
                r#"(?P<pre>(?i:://[^\s/@:]{{0,{MAX_USER_CHARS}}}:|password['"]?\s{{0,{MAX_SPACES}}}[=:]\s{{0,{MAX_SPACES}}}['"]?|password\s{{1,{MAX_SPACES}}}'))(?:{})(?P<post>['"@&;,)\s]|$)"#,
                positional.join("|")
            ));
        }
        let regex = regex::RegexBuilder::new(&branches.join("|"))
            .size_limit(64 << 20)
            .build()
            .expect("escaped spellings form a valid regex");
        Redactor {
            regex: Some(regex),
            forms: texts.len(),
            window,
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.regex.is_none()
    }

    /// The most bytes one masked secret (with its context) can span: a
    /// stream cut anywhere is masked right if that many bytes before the
    /// cut wait for what follows it.
    pub fn window(&self) -> usize {
        self.window
    }

    /// `text` with every secret masked.
    pub fn redact(&self, text: &str) -> String {
        match &self.regex {
            Some(re) => re.replace_all(text, Masked).into_owned(),
            None => text.to_string(),
        }
    }

    /// The end of `text`, masked, at most `max` bytes of it (cut at a
    /// character boundary), and how many bytes of the masked text were
    /// left out before it. Masked first, so a secret across the cut does
    /// not show in part. With `cut_in_front`, `text` itself is the end of
    /// something longer: its first [`Redactor::window`] bytes, which may
    /// hold the rest of a secret cut in two, are left out too.
    pub fn redact_tail(&self, text: &str, max: usize, cut_in_front: bool) -> (String, usize) {
        let masked = self.redact(text);
        let mut start = masked.len().saturating_sub(max);
        if cut_in_front && !self.is_empty() {
            start = start.max(self.window.min(masked.len()));
        }
        while !masked.is_char_boundary(start) {
            start += 1;
        }
        (masked[start..].to_string(), start)
    }
}

/// A match's replacement: the password masked, its context kept.
struct Masked;

impl regex::Replacer for Masked {
    fn replace_append(&mut self, caps: &regex::Captures<'_>, dst: &mut String) {
        if caps.name("strong").is_some() {
            dst.push_str(REDACTED);
        } else {
            dst.push_str(caps.name("pre").map_or("", |m| m.as_str()));
            dst.push_str(REDACTED);
            dst.push_str(caps.name("post").map_or("", |m| m.as_str()));
        }
    }
}

/// Masks a stream of text that arrives in pieces cut anywhere, as
/// [`Redactor`] masks the whole: what [`StreamRedactor::push`] returns
/// never holds a part of a secret, as the last [`Redactor::window`] bytes
/// wait for the next piece (or [`StreamRedactor::finish`]).
#[derive(Debug, Clone, Default)]
pub struct StreamRedactor {
    redactor: Redactor,
    pending: String,
}

impl StreamRedactor {
    pub fn new(redactor: Redactor) -> Self {
        StreamRedactor {
            redactor,
            pending: String::new(),
        }
    }

    /// The stream goes on with `text`: what of it (and of what waited) can
    /// be shown now, masked.
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let Some(re) = &self.redactor.regex else {
            return std::mem::take(&mut self.pending);
        };
        let window = self.redactor.window;
        if self.pending.len() <= window {
            return String::new();
        }
        // A match starting before `safe` ends before the end of `pending`,
        // so no later piece can change it; one starting after may.
        let mut safe = self.pending.len() - window;
        while !self.pending.is_char_boundary(safe) {
            safe -= 1;
        }
        let mut out = String::new();
        let mut shown = 0;
        for caps in re.captures_iter(&self.pending) {
            let m = caps.get(0).expect("group 0 is the match");
            if m.start() >= safe {
                break;
            }
            out.push_str(&self.pending[shown..m.start()]);
            regex::Replacer::replace_append(&mut Masked, &caps, &mut out);
            shown = m.end();
        }
        let end = safe.max(shown);
        out.push_str(&self.pending[shown..end]);
        self.pending.drain(..end);
        out
    }

    /// The stream ended: what still waited, masked.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.redactor.redact(&rest)
    }
}

/// `text` with each secret masked as [`Redactor`] says.
pub fn redact_secrets<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    Redactor::new(secrets).redact(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_is_masked_decoded_and_encoded() {
        let secrets = ["p%3Aa%2Fs%40s%25w", "p:a/s@s%w"];
        let text = "connecting with postgres://app:p%3Aa%2Fs%40s%25w@db\nFATAL: password p:a/s@s%w rejected";
        assert_eq!(
            redact_secrets(text, &secrets),
            "connecting with postgres://app:****@db\nFATAL: password **** rejected"
        );
        // Given only the encoded form, the decoded one is masked too.
        assert_eq!(
            redact_secrets("pw=p:a/s@s%w", &["p%3Aa%2Fs%40s%25w"]),
            "pw=****"
        );
        // And given only the decoded form, the encoded one is masked too.
        assert_eq!(
            redact_secrets("u:p%3Aa%2Fs%40s%25w@h", &["p:a/s@s%w"]),
            "u:****@h"
        );
        assert_eq!(redact_secrets("nothing here", &[""]), "nothing here");
    }

    #[test]
    fn every_spelling_of_the_escapes_is_masked() {
        for given in ["p%3Aa%2Fs%40s%25w", "p:a/s@s%w"] {
            let r = Redactor::new(&[given]);
            for spelled in [
                "p:a/s@s%w",
                "p%3Aa%2Fs%40s%25w",
                "p%3aa%2fs%40s%25w",
                "p%3aa%2Fs%40s%25w",
                "p:a%2fs@s%25w",
                "%70%3a%61%2f%73%40%73%25%77",
            ] {
                let text = format!("url postgres://app:{spelled}@h/db and {spelled}.");
                assert_eq!(
                    r.redact(&text),
                    "url postgres://app:****@h/db and ****.",
                    "{given} / {spelled}"
                );
            }
        }
        // Non-ASCII characters: every byte of theirs escaped.
        let r = Redactor::new(&["pässwörd1"]);
        assert_eq!(r.redact("x p%c3%a4ssw%C3%B6rd1 y"), "x **** y");
        // Short ones in password positions too.
        let r = Redactor::new(&["p:1"]);
        assert_eq!(r.redact("postgres://u:p%3a1@h/d"), "postgres://u:****@h/d");
        assert_eq!(r.redact("see p%3a1 here"), "see p%3a1 here");
    }

    #[test]
    fn a_strong_password_is_masked_everywhere() {
        let r = Redactor::new(&["hunter2", "s3cr:t", "correcthorsebatterystaple"]);
        assert_eq!(
            r.redact("echo hunter2; x=s3cr%3At correcthorsebatterystaple"),
            "echo ****; x=**** ****"
        );
        // A secret containing another is masked whole.
        let r = Redactor::new(&["abc123", "xxabc123yy"]);
        assert_eq!(r.redact("xxabc123yy abc123"), "**** ****");
    }

    #[test]
    fn a_short_or_plain_word_password_is_masked_only_as_a_password() {
        let r = Redactor::new(&["postgres"]);
        let cases = [
            // URLs' user info, the scheme and the user name left alone.
            (
                "missing in postgres://postgres:postgres@localhost/postgres",
                "missing in postgres://postgres:****@localhost/postgres",
            ),
            ("redis://:postgres@cache", "redis://:****@cache"),
            // key=value and key: value pairs, quoted or not, any case.
            (
                "host=db user=postgres password=postgres dbname=postgres",
                "host=db user=postgres password=**** dbname=postgres",
            ),
            ("PGPASSWORD=postgres psql", "PGPASSWORD=**** psql"),
            (
                "?sslmode=disable&password=postgres&x=1",
                "?sslmode=disable&password=****&x=1",
            ),
            (r#"{"password": "postgres"}"#, r#"{"password": "****"}"#),
            ("POSTGRES_PASSWORD='postgres'", "POSTGRES_PASSWORD='****'"),
            // SQL.
            (
                "CREATE ROLE postgres LOGIN PASSWORD 'postgres'",
                "CREATE ROLE postgres LOGIN PASSWORD '****'",
            ),
            // Elsewhere the word stays.
            (
                r#"FATAL: password authentication failed for user "postgres""#,
                r#"FATAL: password authentication failed for user "postgres""#,
            ),
            (
                "using postgres 16 at localhost:5432",
                "using postgres 16 at localhost:5432",
            ),
            // Only the whole value: a longer word that starts with it stays.
            ("password=postgresql", "password=postgresql"),
            // Any spelling in a password position.
            ("postgres://u:%70ostgres@h", "postgres://u:****@h"),
        ];
        for (text, want) in cases {
            assert_eq!(r.redact(text), want, "{text}");
        }
        // Short ones too, percent-encoded forms included.
        let r = Redactor::new(&["p@1"]);
        assert_eq!(
            r.redact("postgres://u:p%401@h/d p@1"),
            "postgres://u:****@h/d p@1"
        );
        assert_eq!(r.redact("password=p@1"), "password=****");
        // Letters only but 16 or more: not a word, masked everywhere.
        let r = Redactor::new(&["Correcthorsebatt"]);
        assert_eq!(r.redact("say Correcthorsebatt"), "say ****");
        assert!(Redactor::new(&[""]).is_empty());
        assert!(Redactor::new::<&str>(&[]).is_empty());
    }

    /// Every spelling a test's output could hold of the secrets below.
    fn leaky_forms() -> Vec<&'static str> {
        vec![
            "Pw:9x/7!q",
            "Pw%3A9x%2F7%21q",
            "Pw%3a9x%2f7%21q",
            "postgres",
        ]
    }

    fn sample_redactor() -> Redactor {
        Redactor::new(&["Pw%3A9x%2F7%21q", "postgres"])
    }

    /// A text with every spelling of the secrets in it, in and out of
    /// password positions, between runs of filler longer than the window.
    fn sample_text(filler: usize, forms: &[&str]) -> String {
        let mut text = String::new();
        for (i, form) in forms.iter().enumerate() {
            text.push_str(&format!(
                "{} {i}: {form} postgres://postgres:{form}@h/db password={form} é\n",
                "~".repeat(filler)
            ));
        }
        text
    }

    fn assert_clean(text: &str, what: &str) {
        for form in [
            "Pw:9x",
            "Pw%3A9x",
            "Pw%3a9x",
            "9x/7!q",
            "9x%2F7%21q",
            "9x%2f7",
        ] {
            assert!(!text.contains(form), "{what}: {form} in {text:?}");
        }
        assert!(!text.contains(":postgres@"), "{what}: {text:?}");
        assert!(!text.contains("password=postgres"), "{what}: {text:?}");
    }

    /// `text` through a [`StreamRedactor`] in pieces ending at `cuts`.
    fn streamed(r: &Redactor, text: &str, cuts: impl IntoIterator<Item = usize>) -> String {
        let mut s = StreamRedactor::new(r.clone());
        let mut out = String::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([text.len()]) {
            let piece = s.push(&text[at..cut]);
            assert_clean(&piece, "piece");
            out.push_str(&piece);
            at = cut;
        }
        out.push_str(&s.finish());
        out
    }

    #[test]
    fn a_stream_cut_anywhere_is_masked_as_the_whole() {
        // Strong secrets only (a small window), then with a plain word
        // (the window holds a password position's context too).
        let strong_only = Redactor::new(&["Pw%3A9x%2F7%21q"]);
        let forms = leaky_forms();
        for (r, forms) in [(strong_only, &forms[..3]), (sample_redactor(), &forms[..])] {
            let text = sample_text(r.window() + 10, forms);
            let whole = r.redact(&text);
            assert_clean(&whole, "whole");
            assert!(
                text.len() > 3 * r.window(),
                "pieces are shown before the end"
            );
            // Every offset in and around the secrets' lines; some in the filler.
            let near = |i: usize| {
                let bytes = &text.as_bytes()[i.saturating_sub(2)..(i + 2).min(text.len())];
                bytes.iter().any(|&b| b != b'~')
            };
            for cut in
                (0..=text.len()).filter(|&i| text.is_char_boundary(i) && (near(i) || i % 61 == 0))
            {
                assert_eq!(streamed(&r, &text, [cut]), whole, "cut at {cut}");
            }
            for size in [1, 2, 3, 5, 7, 13, 64, 333, 1000] {
                let cuts = (1..text.len() / size)
                    .map(|k| k * size)
                    .filter(|&i| text.is_char_boundary(i));
                assert_eq!(streamed(&r, &text, cuts), whole, "pieces of {size}");
            }
        }
    }

    #[test]
    fn a_long_stream_is_shown_as_it_comes_and_held_back_no_more_than_the_window() {
        let r = Redactor::new(&["Pw%3A9x%2F7%21q"]);
        let mut s = StreamRedactor::new(r.clone());
        let filler = "x".repeat(10_000);
        let out = s.push(&filler);
        assert_eq!(out.len(), filler.len() - r.window());
        assert_eq!(s.finish().len(), r.window());
        let mut none = StreamRedactor::default();
        assert_eq!(none.push("abc"), "abc");
        assert_eq!(none.finish(), "");
    }

    #[test]
    fn a_tail_cut_anywhere_in_a_secret_shows_none_of_it() {
        let r = sample_redactor();
        let secret = "Pw%3a9x%2f7%21q";
        let fragments: Vec<&str> = (2..=secret.len())
            .flat_map(|i| [&secret[..i], &secret[secret.len() - i..]])
            .collect();
        for before in [0, 1, 7] {
            for after in [0, 1, 2, 9] {
                let text = format!("{}{secret}{}", "a".repeat(before), "b".repeat(after));
                let masked = r.redact(&text);
                for max in 0..text.len() + 2 {
                    let (tail, left_out) = r.redact_tail(&text, max, false);
                    assert!(tail.len() <= max, "{text} {max}");
                    assert_eq!(&masked[left_out..], tail);
                    for f in &fragments {
                        assert!(!tail.contains(f), "{f} in {tail}");
                    }
                }
            }
        }
        // A text that starts in the middle of a secret: its start goes.
        let (tail, left_out) = r.redact_tail("9x%2f7%21q and the rest", 100, true);
        assert_eq!(left_out, "9x%2f7%21q and the rest".len());
        assert_eq!(tail, "");
        let long = format!("7%21q{}", "z".repeat(r.window() * 2));
        let (tail, _) = r.redact_tail(&long, usize::MAX, true);
        assert!(!tail.contains('q'), "{tail}");
        assert_eq!(Redactor::default().redact_tail("abc", 2, true).0, "bc");
    }
}
