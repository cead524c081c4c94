//! PostgreSQL connection URLs and per-worker database names.
//!
//! This module owns everything about the *text* of a database URL:
//!
//! - parsing libpq-style connection URIs (`postgres://` or `postgresql://`,
//!   including a unix-socket host given as `?host=/path`) into their parts;
//! - the URL of worker K's database, named as [`super::names`] says (its
//!   naming functions are re-exported here, under their old paths);
//! - rewriting a URL so that it names another database while every other
//!   byte (user, percent-encoded password, host, port, query parameters such
//!   as `sslmode`) stays exactly as written;
//! - redacting passwords from URLs; masking them in arbitrary text is
//!   [`crate::secrets`]'s (re-exported here).
//!
//! Everything here is a pure function of its inputs: no I/O, no environment.
//!
//! The parser below is hand-written on purpose, and kept to that one job:
//! find the spans of the parts of a libpq URL so they can be read, masked or
//! replaced in place. The WHATWG parser of the `url` crate does not fit: it
//! rejects valid libpq forms such as `postgres://user@/db?host=/run/postgresql`
//! and re-serialises components, whereas a worker's URL must differ from the
//! base URL in the database name only, byte for byte. `%`-escapes are
//! decoded and made by the `percent-encoding` crate.

use std::fmt;
use std::ops::Range;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use super::names::{
    MAX_IDENT_LEN, MAX_NAME_SETS, TEMPLATE_HASH_LEN, name_set, set_worker_db_name,
    template_db_name, template_hash, worker_db_name, worker_index, worker_set_index,
};
pub use crate::secrets::{REDACTED, Redactor, redact_secrets};

/// Why a URL could not be used. The message never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

impl UrlError {
    fn new(message: impl Into<String>) -> Self {
        UrlError(message.into())
    }
}

/// One server address of a URL: a TCP host name or IP address, or, when
/// `host` starts with `/`, the directory holding the server's unix socket.
/// An empty `host` means "the default" (left to the caller to resolve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name, IP address (IPv6 without brackets) or socket directory.
    pub host: String,
    /// Port, if the URL gave one.
    pub port: Option<u16>,
}

impl Endpoint {
    /// Whether this endpoint is a unix-socket directory.
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.port.unwrap_or(5432);
        if self.is_socket() {
            write!(f, "{}/.s.PGSQL.{port}", self.host.trim_end_matches('/'))
        } else if self.host.contains(':') {
            write!(f, "[{}]:{port}", self.host)
        } else if self.host.is_empty() {
            write!(f, "localhost:{port}")
        } else {
            write!(f, "{}:{port}", self.host)
        }
    }
}

/// Where the database name sits in the URL text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DbSpan {
    /// In the path: the span of the (still percent-encoded) name after `/`.
    Path(Range<usize>),
    /// In a `dbname=` query parameter: the span of its raw value.
    Query(Range<usize>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    key: String,
    value: String,
    value_span: Range<usize>,
}

/// A parsed PostgreSQL connection URL that remembers its exact text.
/// Both `Display` and `Debug` show it redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    raw: String,
    user: Option<String>,
    /// Span of the raw (percent-encoded) password in the user info.
    password_span: Option<Range<usize>>,
    password: Option<String>,
    endpoints: Vec<Endpoint>,
    database: String,
    db_span: DbSpan,
    params: Vec<Param>,
}

impl PgUrl {
    /// Parse `postgres://[user[:password]@][host][:port][,...]/dbname[?k=v&...]`.
    ///
    /// Surrounding whitespace is ignored. The database name is required; it
    /// may also be given as a `dbname=` query parameter (which then wins, as
    /// in libpq). `host=` and `port=` query parameters override the ones in
    /// the authority, so `postgres:///db?host=/run/postgresql` names a unix
    /// socket directory.
    pub fn parse(input: &str) -> Result<PgUrl, UrlError> {
        let raw = input.trim().to_string();
        let after_scheme = ["postgresql://", "postgres://"]
            .iter()
            .find(|prefix| raw.starts_with(*prefix))
            .map(|prefix| prefix.len())
            .ok_or_else(|| scheme_error(&raw))?;

        let authority_end = raw[after_scheme..]
            .find(['/', '?'])
            .map_or(raw.len(), |i| after_scheme + i);

        // User info ends at the last '@' of the authority, so that a stray
        // unencoded '@' in a password still parses the way it was meant.
        let (user, password_span, password, hosts_start) =
            match raw[after_scheme..authority_end].rfind('@') {
                None => (None, None, None, after_scheme),
                Some(at) => {
                    let info = &raw[after_scheme..after_scheme + at];
                    let (user_raw, pass) = match info.find(':') {
                        Some(colon) => (
                            &info[..colon],
                            Some(after_scheme + colon + 1..after_scheme + at),
                        ),
                        None => (info, None),
                    };
                    let user = percent_decode(user_raw)
                        .map_err(|e| UrlError::new(format!("the user name {e}")))?;
                    let password = match &pass {
                        Some(span) => Some(
                            percent_decode(&raw[span.clone()])
                                .map_err(|e| UrlError::new(format!("the password {e}")))?,
                        ),
                        None => None,
                    };
                    let user = (!user.is_empty()).then_some(user);
                    (user, pass, password, after_scheme + at + 1)
                }
            };

        let (mut hosts, mut ports) = parse_hostlist(&raw[hosts_start..authority_end])?;

        // Path: everything after '/' up to '?' is the (encoded) database name.
        let mut pos = authority_end;
        let mut path_span = None;
        if raw[pos..].starts_with('/') {
            let end = raw[pos..].find('?').map_or(raw.len(), |i| pos + i);
            if raw[pos..end].contains('@') {
                // Most likely a password with an unencoded '/', which
                // would otherwise be taken for host and port.
                return Err(UrlError::new(
                    "the URL has an '@' after the host part; percent-encode any '/', '?' or '@' \
                     in the password (%2F, %3F, %40) and in the database name",
                ));
            }
            path_span = Some(pos + 1..end);
            pos = end;
        }

        let mut params = Vec::new();
        if raw[pos..].starts_with('?') {
            let mut start = pos + 1;
            for piece in raw[pos + 1..].split('&') {
                let piece_start = start;
                start += piece.len() + 1;
                if piece.is_empty() {
                    continue;
                }
                let eq = piece.find('=').ok_or_else(|| {
                    UrlError::new(
                        "a query parameter has no '=' (expected key=value pairs after '?')",
                    )
                })?;
                let key = percent_decode(&piece[..eq])
                    .map_err(|e| UrlError::new(format!("a query parameter name {e}")))?;
                let value = percent_decode(&piece[eq + 1..]).map_err(|e| {
                    UrlError::new(format!("the value of query parameter \"{key}\" {e}"))
                })?;
                params.push(Param {
                    key,
                    value,
                    value_span: piece_start + eq + 1..piece_start + piece.len(),
                });
            }
        }

        let last_param = |key: &str| params.iter().rev().find(|p| p.key == key);
        if let Some(host) = last_param("host") {
            hosts = host.value.split(',').map(str::to_string).collect();
        }
        if let Some(port) = last_param("port") {
            ports = port
                .value
                .split(',')
                .map(parse_port)
                .collect::<Result<_, _>>()?;
        }
        let endpoints = combine(hosts, ports)?;

        let (database, db_span) = match last_param("dbname") {
            Some(p) => (p.value.clone(), DbSpan::Query(p.value_span.clone())),
            None => match path_span {
                Some(span) => (
                    percent_decode(&raw[span.clone()])
                        .map_err(|e| UrlError::new(format!("the database name {e}")))?,
                    DbSpan::Path(span),
                ),
                None => (String::new(), DbSpan::Path(pos..pos)),
            },
        };
        if database.is_empty() {
            return Err(UrlError::new(
                "the URL names no database (add /NAME after the host, e.g. postgres://user@localhost:5432/myapp)",
            ));
        }
        if database.contains('\0') {
            return Err(UrlError::new("the database name contains a NUL byte"));
        }

        Ok(PgUrl {
            raw,
            user,
            password_span,
            password,
            endpoints,
            database,
            db_span,
            params,
        })
    }

    /// The URL exactly as given (minus surrounding whitespace).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The (percent-decoded) database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The (percent-decoded) user, if the URL names one (`user=` wins).
    pub fn user(&self) -> Option<&str> {
        self.param("user").or(self.user.as_deref())
    }

    /// The (percent-decoded) password, if the URL has one (`password=` wins).
    pub fn password(&self) -> Option<&str> {
        self.param("password").or(self.password.as_deref())
    }

    /// The servers the URL points at; empty hosts mean "the default".
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The decoded value of the last query parameter named `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// The same URL, naming database `name` instead; every other byte is kept.
    pub fn with_database(&self, name: &str) -> String {
        let encoded = percent_encode(name);
        match &self.db_span {
            DbSpan::Path(span) if span.is_empty() && !self.raw[..span.start].ends_with('/') => {
                splice(&self.raw, vec![(span.clone(), format!("/{encoded}"))])
            }
            DbSpan::Path(span) | DbSpan::Query(span) => {
                splice(&self.raw, vec![(span.clone(), encoded)])
            }
        }
    }

    /// The URL of worker `index`'s database, `<base>_gw<index>` (see
    /// [`worker_db_name`]). When the name is not shortened, the base name is
    /// kept in its original encoding and only the suffix is appended.
    pub fn worker_url(&self, index: usize) -> String {
        self.worker_url_in(1, index)
    }

    /// [`PgUrl::worker_url`] in name set `set` (see [`name_set`]): the URL
    /// of [`set_worker_db_name`]`(base, set, index)`.
    pub fn worker_url_in(&self, set: usize, index: usize) -> String {
        let name = set_worker_db_name(&self.database, set, index);
        match (name.strip_prefix(self.database.as_str()), &self.db_span) {
            (Some(suffix), DbSpan::Path(span) | DbSpan::Query(span)) => {
                let replacement = format!("{}{suffix}", &self.raw[span.clone()]);
                splice(&self.raw, vec![(span.clone(), replacement)])
            }
            (None, _) => self.with_database(&name),
        }
    }

    /// The URL with every password (user info and `password=`) shown as `****`.
    pub fn redacted(&self) -> String {
        let mut edits = Vec::new();
        if let Some(span) = &self.password_span {
            if !span.is_empty() {
                edits.push((span.clone(), REDACTED.to_string()));
            }
        }
        for p in &self.params {
            if p.key == "password" && !p.value_span.is_empty() {
                edits.push((p.value_span.clone(), REDACTED.to_string()));
            }
        }
        splice(&self.raw, edits)
    }

    /// Every form in which this URL's password(s) could show up in output:
    /// as written (percent-encoded) and percent-decoded. Empty ones are left out.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(span) = &self.password_span {
            out.push(self.raw[span.clone()].to_string());
        }
        out.extend(self.password.clone());
        for p in self.params.iter().filter(|p| p.key == "password") {
            out.push(self.raw[p.value_span.clone()].to_string());
            out.push(p.value.clone());
        }
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        out
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PgUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for PgUrl {
    /// Shows the redacted URL, so a `PgUrl` can be printed safely.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn scheme_error(raw: &str) -> UrlError {
    match raw.find("://") {
        Some(i) if i <= 20 && !raw[..i].contains(['@', ' ']) => UrlError::new(format!(
            "expected a URL starting with postgres:// or postgresql://, got scheme \"{}\"",
            &raw[..i]
        )),
        _ => UrlError::new("expected a URL starting with postgres:// or postgresql://"),
    }
}

/// Split `host1:port1,[::1]:port2,...` into hosts and ports.
fn parse_hostlist(list: &str) -> Result<(Vec<String>, Vec<Option<u16>>), UrlError> {
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for item in list.split(',') {
        let (host, port) = if let Some(rest) = item.strip_prefix('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| UrlError::new("an IPv6 host has '[' without a closing ']'"))?;
            let after = &rest[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => p,
                None if after.is_empty() => "",
                None => {
                    return Err(UrlError::new(
                        "unexpected text after ']' in the host (expected :PORT)",
                    ));
                }
            };
            (rest[..close].to_string(), port)
        } else {
            let (host, port) = item.split_once(':').unwrap_or((item, ""));
            let host =
                percent_decode(host).map_err(|e| UrlError::new(format!("the host name {e}")))?;
            (host, port)
        };
        hosts.push(host);
        ports.push(parse_port(port)?);
    }
    Ok((hosts, ports))
}

fn parse_port(text: &str) -> Result<Option<u16>, UrlError> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(port)),
        // The text is not quoted: with an unencoded '/' or '?' in a
        // password, what looks like the port is part of the password.
        _ => Err(UrlError::new(
            "invalid port (expected a number from 1 to 65535 after the host; \
             percent-encode any '/', '?' or '@' in the password)",
        )),
    }
}

fn combine(hosts: Vec<String>, ports: Vec<Option<u16>>) -> Result<Vec<Endpoint>, UrlError> {
    let single = (ports.len() == 1).then(|| ports[0]);
    if single.is_none() && ports.len() != hosts.len() {
        return Err(UrlError::new(format!(
            "{} hosts but {} ports (give one port for all hosts or one per host)",
            hosts.len(),
            ports.len()
        )));
    }
    Ok(hosts
        .into_iter()
        .enumerate()
        .map(|(i, host)| Endpoint {
            host,
            port: single.unwrap_or_else(|| ports[i]),
        })
        .collect())
}

/// Replace the given byte ranges of `text` (which must not overlap).
fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = text.to_string();
    for (span, replacement) in edits {
        out.replace_range(span, &replacement);
    }
    out
}

/// What [`percent_encode`] leaves as it is: RFC 3986's unreserved
/// characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Decode `%XX` escapes (a `+` stays a `+`, as in libpq).
///
/// Like libpq, and unlike the `percent-encoding` crate on its own, a `%`
/// not followed by two hex digits is an error, not a literal `%`.
pub fn percent_decode(text: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let escapes_valid = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .all(|(i, _)| {
            bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
    if !escapes_valid {
        return Err(UrlError::new(
            "has an invalid %-escape (expected % and two hex digits)",
        ));
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| UrlError::new("is not valid UTF-8 once %-escapes are decoded"))
}

/// Percent-encode everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `url` with its password shown as `****`. Works on any text that looks
/// like a URL: if it does not parse, the user-info password and any
/// `password=` parameter are still masked.
pub fn redacted(url: &str) -> String {
    if let Ok(parsed) = PgUrl::parse(url) {
        return parsed.redacted();
    }
    let edits = loose_password_spans(url)
        .into_iter()
        .map(|span| (span, REDACTED.to_string()))
        .collect();
    splice(url, edits)
}

/// The passwords of `url`, in every form [`PgUrl::secrets`] gives; for a
/// URL that does not parse, what [`redacted`] would mask.
pub fn url_secrets(url: &str) -> Vec<String> {
    if let Ok(parsed) = PgUrl::parse(url) {
        return parsed.secrets();
    }
    let mut out: Vec<String> = loose_password_spans(url)
        .into_iter()
        .map(|span| url[span].to_string())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Where the passwords of a URL that does not parse probably are: the
/// user info's, from its first ':' to the last '@' (perhaps it holds an
/// unencoded '/', '?' or '@'), and every `password=` parameter's value.
fn loose_password_spans(url: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut masked_to = 0;
    if let Some(scheme_end) = url.find("://").map(|i| i + 3) {
        if let Some(at) = url[scheme_end..].rfind('@') {
            if let Some(colon) = url[scheme_end..scheme_end + at].find(':') {
                spans.push(scheme_end + colon + 1..scheme_end + at);
                masked_to = scheme_end + at;
            }
        }
    }
    if let Some(q) = url.find('?') {
        let mut start = q + 1;
        for piece in url[q + 1..].split('&') {
            if let Some(value) = piece.strip_prefix("password=") {
                let from = start + "password=".len();
                if from >= masked_to {
                    spans.push(from..from + value.len());
                }
            }
            start += piece.len() + 1;
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIAL: &str = "postgres://app:p%3Aa%2Fs%40s%25w@db.example.com:6543/shop?sslmode=require&application_name=x";

    #[test]
    fn parses_parts() {
        let u = PgUrl::parse(SPECIAL).unwrap();
        assert_eq!(u.user(), Some("app"));
        assert_eq!(u.password(), Some("p:a/s@s%w"));
        assert_eq!(u.database(), "shop");
        assert_eq!(u.param("sslmode"), Some("require"));
        assert_eq!(
            u.endpoints(),
            &[Endpoint {
                host: "db.example.com".into(),
                port: Some(6543)
            }]
        );
        assert_eq!(u.endpoints()[0].to_string(), "db.example.com:6543");
    }

    #[test]
    fn worker_url_keeps_everything_but_the_name() {
        let u = PgUrl::parse(SPECIAL).unwrap();
        assert_eq!(
            u.worker_url(3),
            "postgres://app:p%3Aa%2Fs%40s%25w@db.example.com:6543/shop_gw3?sslmode=require&application_name=x"
        );
        let reparsed = PgUrl::parse(&u.worker_url(3)).unwrap();
        assert_eq!(reparsed.password(), Some("p:a/s@s%w"));
        assert_eq!(reparsed.database(), "shop_gw3");
        assert_eq!(reparsed.param("sslmode"), Some("require"));
    }

    #[test]
    fn postgresql_scheme_and_encoded_database() {
        let u = PgUrl::parse("postgresql://u@h/my%20db").unwrap();
        assert_eq!(u.database(), "my db");
        assert_eq!(u.worker_url(0), "postgresql://u@h/my%20db_gw0");
        assert_eq!(u.with_database("x y"), "postgresql://u@h/x%20y");
    }

    #[test]
    fn unix_socket_host_in_query() {
        let u = PgUrl::parse("postgres://me@/appdb?host=/var/run/postgresql&port=5433").unwrap();
        assert_eq!(u.database(), "appdb");
        assert!(u.endpoints()[0].is_socket());
        assert_eq!(
            u.endpoints()[0].to_string(),
            "/var/run/postgresql/.s.PGSQL.5433"
        );
        assert_eq!(
            u.worker_url(1),
            "postgres://me@/appdb_gw1?host=/var/run/postgresql&port=5433"
        );
        let v = PgUrl::parse("postgres:///appdb?host=%2Ftmp").unwrap();
        assert_eq!(v.endpoints()[0].host, "/tmp");
        let w = PgUrl::parse("postgres://%2Ftmp:5439/appdb").unwrap();
        assert_eq!(w.endpoints()[0].to_string(), "/tmp/.s.PGSQL.5439");
    }

    #[test]
    fn dbname_in_query_is_rewritten_there() {
        let u = PgUrl::parse("postgres://h/ignored?dbname=real&sslmode=disable").unwrap();
        assert_eq!(u.database(), "real");
        assert_eq!(
            u.worker_url(2),
            "postgres://h/ignored?dbname=real_gw2&sslmode=disable"
        );
    }

    #[test]
    fn ipv6_and_multiple_hosts() {
        let u = PgUrl::parse("postgres://u@[::1]:5433,other:5434/d").unwrap();
        assert_eq!(u.endpoints().len(), 2);
        assert_eq!(u.endpoints()[0].to_string(), "[::1]:5433");
        assert_eq!(u.endpoints()[1].to_string(), "other:5434");
        assert_eq!(u.worker_url(0), "postgres://u@[::1]:5433,other:5434/d_gw0");
    }

    #[test]
    fn errors_are_clear_and_hide_the_password() {
        let err = PgUrl::parse("postgres://u:hunter2@host:5432").unwrap_err();
        assert!(err.to_string().contains("no database"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let err = PgUrl::parse("postgres://u:hunter2@host:5432/").unwrap_err();
        assert!(err.to_string().contains("no database"), "{err}");
        let err = PgUrl::parse("mysql://u:hunter2@host/db").unwrap_err();
        assert!(err.to_string().contains("\"mysql\""), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let err = PgUrl::parse("not a url hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let err = PgUrl::parse("postgres://u:hunter2@host:54x/db").unwrap_err();
        assert!(err.to_string().contains("invalid port"), "{err}");
        // Unencoded '/', '?' or '@' in a password: an error that quotes no
        // part of it (libpq would take a piece of it for the port).
        for bad in [
            "postgres://u:hun/ter2@host/db",
            "postgres://u:1234/ter2@host/db",
            "postgres://u:hun?ter2@host/db",
            "postgres://u:hunter2@host/d@b",
        ] {
            let err = PgUrl::parse(bad).unwrap_err().to_string();
            assert!(
                !err.contains("hun") && !err.contains("ter2") && !err.contains("1234"),
                "{err}"
            );
            assert!(err.contains("percent-encode"), "{err}");
        }
        let err = PgUrl::parse("postgres://u:hunt%zzer2@host/db").unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
        assert!(!err.to_string().contains("hunt"));
        assert!(PgUrl::parse("postgres://h/db%00x").is_err());
        assert!(PgUrl::parse("postgres://h:0/db").is_err());
        assert!(PgUrl::parse("postgres://h:70000/db").is_err());
    }

    #[test]
    fn long_base_url_is_rewritten_with_the_short_name() {
        let base = "c".repeat(63);
        let u = PgUrl::parse(&format!("postgres://u:p%40ss@h/{base}?sslmode=disable")).unwrap();
        let name = worker_db_name(&base, 2);
        assert_eq!(
            u.worker_url(2),
            format!("postgres://u:p%40ss@h/{name}?sslmode=disable")
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redacted(SPECIAL),
            "postgres://app:****@db.example.com:6543/shop?sslmode=require&application_name=x"
        );
        assert_eq!(
            redacted("postgres://u@h/d?password=s3cret&sslmode=disable"),
            "postgres://u@h/d?password=****&sslmode=disable"
        );
        assert_eq!(redacted("postgres://u@h/d"), "postgres://u@h/d");
        // Unparsable, but the password is still masked.
        assert_eq!(
            redacted("postgres://u:s3cret@h:bad/d"),
            "postgres://u:****@h:bad/d"
        );
        assert_eq!(
            redacted("postgres://u:s3/c?ret@h/d"),
            "postgres://u:****@h/d"
        );
        assert_eq!(
            redacted("postgres://u:a?password=x@h/d&password=y"),
            "postgres://u:****@h/d&password=****"
        );
        let u = PgUrl::parse(SPECIAL).unwrap();
        assert_eq!(u.to_string(), redacted(SPECIAL));
        assert!(!format!("{u:?}").contains("p%3Aa"), "{u:?}");
        let secrets = u.secrets();
        assert!(secrets.contains(&"p%3Aa%2Fs%40s%25w".to_string()));
        assert!(secrets.contains(&"p:a/s@s%w".to_string()));
        let text = format!("connecting with {SPECIAL}\nFATAL: password p:a/s@s%w rejected");
        let clean = redact_secrets(&text, &secrets);
        assert!(!clean.contains("p:a/s@s%w"), "{clean}");
        assert!(!clean.contains("p%3Aa%2Fs%40s%25w"), "{clean}");
        assert!(clean.contains("app:****@db.example.com"), "{clean}");
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
    fn percent_escapes() {
        assert_eq!(
            percent_encode("a-b.c_d~e f/é%"),
            "a-b.c_d~e%20f%2F%C3%A9%25"
        );
        assert_eq!(percent_decode("a%20b+%C3%A9%2f").unwrap(), "a b+é/");
        for bad in ["%", "%2", "%zz", "a%4%41"] {
            let e = percent_decode(bad).unwrap_err().to_string();
            assert!(e.contains("invalid %-escape"), "{bad}: {e}");
        }
        let e = percent_decode("%FF").unwrap_err().to_string();
        assert!(e.contains("not valid UTF-8"), "{e}");
        let e = PgUrl::parse("postgres://u:%C3%28@h/db")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the password is not valid UTF-8 once %-escapes are decoded"
        );
    }
}
