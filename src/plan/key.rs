//! [`GroupKey`]: which tests run together, as a type. The plan makes the
//! base (binary id and scope); the schedule and the runner cut typed
//! [`Piece`]s of it (parts, batches, stolen tails). Its text (Display) is
//! what users see (events, JUnit, the terminal) and what the duration
//! store records under; [`GroupKey::parse`] reads that text back for the
//! one reader that gets only text (the duration recorder, from events).

use std::fmt;

use serde::{Serialize, Serializer};

/// A group's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    /// The binary's id (`alpha::test/api`); binary ids have no spaces.
    binary: String,
    /// What follows the binary id: a source file, a module path, a test
    /// name, `group NAME`; empty for a whole binary.
    scope: String,
    /// `--ff`: the last run's failures of the group, a unit of their own.
    failed_first: bool,
    /// A piece of the group the schedule or the runner cut; `None`: the
    /// group whole.
    piece: Option<Piece>,
}

/// A piece of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Piece {
    /// Part `index` (from 1) of `of` of a group split over workers:
    /// `KEY (part i/n)`.
    Part { index: usize, of: usize },
    /// `units` units of one binary run in one process: `load` tests, or
    /// (`groups`) whole groups: `BINARY (batch of N[ groups])`.
    Batch { units: usize, groups: bool },
    /// The unclaimed end of a group, or of a piece (`from`), that an idle
    /// worker took: `KEY (stolen tail)`.
    StolenTail { from: Option<Box<Piece>> },
}

impl GroupKey {
    /// The group `scope` of binary `binary` (an empty scope: the whole binary).
    pub fn new(binary: &str, scope: impl Into<String>) -> Self {
        GroupKey {
            binary: binary.to_string(),
            scope: scope.into(),
            failed_first: false,
            piece: None,
        }
    }

    /// A batch of `units` units of binary `binary` (`groups`: whole groups).
    pub fn batch(binary: &str, units: usize, groups: bool) -> Self {
        GroupKey {
            piece: Some(Piece::Batch { units, groups }),
            ..GroupKey::new(binary, "")
        }
    }

    /// How many units this key's tests came from: a batch's count, else 1.
    pub fn units(&self) -> usize {
        match self.piece {
            Some(Piece::Batch { units, .. }) => units,
            _ => 1,
        }
    }

    /// `--ff`: the group's tests that failed last time.
    pub fn failed_first(self) -> Self {
        GroupKey {
            failed_first: true,
            ..self
        }
    }

    /// Part `index` (from 1) of `of` of this group.
    pub fn part(self, index: usize, of: usize) -> Self {
        GroupKey {
            piece: Some(Piece::Part { index, of }),
            ..self
        }
    }

    /// The stolen tail of this group or piece.
    pub fn stolen_tail(self) -> Self {
        let from = self.piece.clone().map(Box::new);
        GroupKey {
            piece: Some(Piece::StolenTail { from }),
            ..self
        }
    }

    /// The binary's id.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// The piece of the group this is, if not the group whole.
    pub fn piece(&self) -> Option<&Piece> {
        self.piece.as_ref()
    }

    /// A key's text as [`GroupKey`]'s Display writes it: the pieces from
    /// their suffixes, the binary id up to the first space.
    pub fn parse(text: &str) -> Self {
        let (rest, piece) = Piece::parse(text);
        let (rest, failed_first) = match rest.strip_suffix(FAILED_FIRST) {
            Some(r)
                if !matches!(
                    piece.as_ref().map(Piece::innermost),
                    Some(Piece::Batch { .. })
                ) =>
            {
                (r, true)
            }
            _ => (rest, false),
        };
        let (binary, scope) = rest.split_once(' ').unwrap_or((rest, ""));
        GroupKey {
            binary: binary.to_string(),
            scope: scope.to_string(),
            failed_first,
            piece,
        }
    }
}

const FAILED_FIRST: &str = " (failed first)";
const STOLEN_TAIL: &str = " (stolen tail)";

impl Piece {
    /// The piece a stolen tail was taken from, down to the first cut.
    fn innermost(&self) -> &Piece {
        match self {
            Piece::StolenTail { from: Some(p) } => p.innermost(),
            p => p,
        }
    }

    /// `text` without its piece suffixes, and the piece they name.
    fn parse(text: &str) -> (&str, Option<Piece>) {
        if let Some(rest) = text.strip_suffix(STOLEN_TAIL) {
            let (rest, from) = Piece::parse(rest);
            return (
                rest,
                Some(Piece::StolenTail {
                    from: from.map(Box::new),
                }),
            );
        }
        let Some((rest, tail)) = text.rsplit_once(" (") else {
            return (text, None);
        };
        let Some(inner) = tail.strip_suffix(')') else {
            return (text, None);
        };
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if let Some((i, n)) = inner.strip_prefix("part ").and_then(|p| p.split_once('/')) {
            if let (Some(index), Some(of)) = (number(i), number(n)) {
                return (rest, Some(Piece::Part { index, of }));
            }
        }
        if let Some(b) = inner.strip_prefix("batch of ") {
            let (n, groups) = match b.strip_suffix(" groups") {
                Some(n) => (n, true),
                None => (b, false),
            };
            if let Some(units) = number(n) {
                return (rest, Some(Piece::Batch { units, groups }));
            }
        }
        (text, None)
    }

    /// The piece's suffix.
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Piece::Part { index, of } => write!(f, " (part {index}/{of})"),
            Piece::Batch { units, groups } => {
                let what = if *groups { " groups" } else { "" };
                write!(f, " (batch of {units}{what})")
            }
            Piece::StolenTail { from } => {
                if let Some(p) = from {
                    p.write(f)?;
                }
                f.write_str(STOLEN_TAIL)
            }
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.binary)?;
        // A batch is named after its binary alone.
        let batch = matches!(
            self.piece.as_ref().map(Piece::innermost),
            Some(Piece::Batch { .. })
        );
        if !batch {
            if !self.scope.is_empty() {
                write!(f, " {}", self.scope)?;
            }
            if self.failed_first {
                f.write_str(FAILED_FIRST)?;
            }
        }
        match &self.piece {
            Some(p) => p.write(f),
            None => Ok(()),
        }
    }
}

impl Serialize for GroupKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl PartialEq<&str> for GroupKey {
    fn eq(&self, other: &&str) -> bool {
        let text = self.to_string();
        text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_what_earlier_releases_wrote() {
        let file = || GroupKey::new("alpha::test/api", "tests/api.rs");
        for (key, text) in [
            (file(), "alpha::test/api tests/api.rs"),
            (GroupKey::new("alpha", ""), "alpha"),
            (GroupKey::new("a", "group users"), "a group users"),
            (
                file().failed_first(),
                "alpha::test/api tests/api.rs (failed first)",
            ),
            (GroupKey::new("a", "").failed_first(), "a (failed first)"),
            (file().part(2, 3), "alpha::test/api tests/api.rs (part 2/3)"),
            (
                file().failed_first().part(1, 2),
                "alpha::test/api tests/api.rs (failed first) (part 1/2)",
            ),
            (
                file().stolen_tail(),
                "alpha::test/api tests/api.rs (stolen tail)",
            ),
            (
                file().part(2, 3).stolen_tail(),
                "alpha::test/api tests/api.rs (part 2/3) (stolen tail)",
            ),
            (GroupKey::batch("alpha", 3, false), "alpha (batch of 3)"),
            (GroupKey::batch("0", 4, true), "0 (batch of 4 groups)"),
            (
                GroupKey::batch("0", 4, true).stolen_tail(),
                "0 (batch of 4 groups) (stolen tail)",
            ),
        ] {
            assert_eq!(key.to_string(), text);
            assert_eq!(GroupKey::parse(text), key, "{text}");
        }
    }

    #[test]
    fn only_pieces_parse_as_pieces() {
        let piece = |t: &str| GroupKey::parse(t).piece().cloned();
        assert_eq!(piece("alpha::test/api tests/api.rs"), None);
        assert_eq!(piece("a src/math.rs (failed first)"), None);
        assert_eq!(piece("a (part x/3)"), None);
        assert_eq!(piece("a tests/odd (name).rs"), None);
        assert_eq!(piece("a (part 1/2)"), Some(Piece::Part { index: 1, of: 2 }));
        assert_eq!(
            piece("alpha (batch of 2)"),
            Some(Piece::Batch {
                units: 2,
                groups: false
            })
        );
        assert!(matches!(
            piece("a x (stolen tail)"),
            Some(Piece::StolenTail { from: None })
        ));
    }

    /// What `schedule::is_part` answered: a part, or a stolen tail of one.
    #[test]
    fn part_keys_are_recognised() {
        let is_part = |t: &str| {
            matches!(
                GroupKey::parse(t).piece().map(Piece::innermost),
                Some(Piece::Part { .. })
            )
        };
        let k = GroupKey::new("alpha::test/api", "tests/api.rs").part(2, 3);
        let k = k.to_string();
        assert_eq!(k, "alpha::test/api tests/api.rs (part 2/3)");
        assert!(is_part(&k));
        assert!(is_part(&format!("{k} (stolen tail)")));
        assert!(!is_part("alpha::test/api tests/api.rs"));
        assert!(!is_part("alpha::test/api tests/api.rs (stolen tail)"));
        assert!(!is_part("alpha (batch of 3)"));
        assert!(!is_part("a (part x/3)"));
    }
}
