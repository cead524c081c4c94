//! `--affected`: which tests a change can affect, given the map.
//!
//! A test is selected when it is not in the map (new, failed or not run
//! when the map was recorded), when it executed a function a change
//! touches, or when it is defined in a changed file. Anything the map
//! cannot see widens the selection to every test, with one line saying
//! why: a changed line outside every function the map knows (a const, a
//! type, a `use`, a macro, an attribute), a `const fn`, a Rust file added
//! or removed, any other file added, removed or changed (`Cargo.toml`,
//! `Cargo.lock`, `build.rs`'s inputs, migrations, fixtures: tests may read
//! them) unless `affected-ignore` lets it be, and a map of another build.

use std::collections::{BTreeMap, BTreeSet};

use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::map::{ImpactMap, Span, TestKey};
use super::tree::{FileState, TRIVIAL, Tree};

/// The outcome of selection.
#[derive(Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every test runs, because of this (one line).
    All(String),
    /// Only these tests (of the map) run, plus tests not in the map, plus
    /// tests defined in `changed_files`, plus every test of the binaries
    /// whose root file is in `whole`, plus every test of the packages
    /// that hold the files in `widened` (file, why: a change the map cannot
    /// see) and of the packages that depend on those.
    Some {
        tests: BTreeSet<TestKey>,
        changed_files: BTreeSet<String>,
        whole: BTreeSet<String>,
        widened: Vec<(String, String)>,
    },
}

/// A change in one file, in the map's (old) line numbers: the old lines
/// `first..=last` (1-based; 0 and one past the end stand for "outside")
/// must all lie inside one function for the map to see the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hunk {
    first: u32,
    last: u32,
    /// The line to name in a message: the first changed, or the one after
    /// which lines were added.
    at: u32,
}

/// The hunks of the difference between `old` and `new` (line hashes), in
/// `old`'s line numbers; changes made of [`TRIVIAL`] lines only are none.
///
/// - old lines `a..=b` removed: they must lie in one function;
/// - new lines put between old lines `g` and `g + 1`: both must;
/// - old lines `a..=b` replaced by new ones: the lines around them too
///   (`a - 1..=b + 1`), so that the new text is inside the function, not
///   beside it (a signature's or a closing brace's change widens).
fn hunks(old: &[u64], new: &[u64]) -> Vec<Hunk> {
    let mut out = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, old, new) {
        let (o, n) = match op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index, old_len, ..
            } => (old_index..old_index + old_len, 0..0),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                old_index..old_index + old_len,
                new_index..new_index + new_len,
            ),
        };
        let old_significant = o.clone().any(|i| old[i] != TRIVIAL);
        let new_significant = n.clone().any(|i| new[i] != TRIVIAL);
        // 1-based: old lines o.start + 1 ..= o.end.
        let (a, b) = (o.start as u32 + 1, o.end as u32);
        let at = if o.is_empty() { a - 1 } else { a };
        if new_significant {
            out.push(Hunk {
                first: a - 1,
                last: b + 1,
                at,
            });
        } else if old_significant {
            out.push(Hunk {
                first: a,
                last: b,
                at,
            });
        }
    }
    out
}

/// Add to `tests` the tests of every function that holds `hunk`; or say
/// why the map cannot see it.
fn cover(spans: &[Span], hunk: Hunk, file: &str, tests: &mut BTreeSet<u32>) -> Option<String> {
    let mut any = false;
    for s in spans
        .iter()
        .filter(|s| s.start <= hunk.first && hunk.last <= s.end)
    {
        if s.compile_time {
            return Some(format!(
                "{file}:{} is in code that runs at compile time (a const fn, a proc macro or a build dependency), where no test counter sees it",
                s.start
            ));
        }
        any = true;
        tests.extend(&s.tests);
    }
    if any {
        return None;
    }
    let line = hunk.at.max(1);
    Some(format!(
        "{file}:{line} changed outside every function the map knows (a const, static, type, use, macro, attribute or signature line)"
    ))
}

/// What selection needs besides the map and the tree.
#[derive(Debug, Default, Clone)]
pub struct SelectOptions {
    /// Non-Rust files matching these never widen the selection.
    pub globs: Option<globset::GlobSet>,
    /// The root files of test targets (`tests/*.rs`, benches, examples)
    /// that no other file names as a module: a change outside their
    /// functions (a new test, a `use`) can only reach their own binary,
    /// whose tests then all run instead of every test.
    pub test_roots: BTreeSet<String>,
}

/// The tests `map` says the change from its tree to `now` can affect.
/// `since`: extra files to count as changed (from `--affected REF`),
/// each with its content at REF (None: not there).
pub fn select(
    map: &ImpactMap,
    now: &Tree,
    since: &BTreeMap<String, Option<FileState>>,
    ignore: &SelectOptions,
    key: &str,
) -> Selection {
    if map.key != key {
        return Selection::All(
            "the impact map was recorded with another toolchain, target, features or flags".into(),
        );
    }
    let mut tests: BTreeSet<u32> = BTreeSet::new();
    let mut changed_files = BTreeSet::new();
    let mut whole = BTreeSet::new();
    let mut widened = Vec::new();
    // (path, the map's state, the state to compare with now)
    let paths: BTreeSet<&String> = map.files.keys().chain(now.keys()).collect();
    for path in paths {
        let old = map.files.get(path);
        let new = now.get(path);
        let mut bases = vec![old];
        if let Some(at_ref) = since.get(path) {
            bases.push(at_ref.as_ref());
        }
        if bases
            .iter()
            .all(|b| b.map(|b| &b.hash) == new.map(|n| &n.hash))
        {
            continue;
        }
        changed_files.insert(path.clone());
        let rust = path.ends_with(".rs");
        if !rust {
            let ignored = ignore.globs.as_ref().is_some_and(|g| g.is_match(path));
            if !ignored {
                let how = match (old, new) {
                    (None, _) => "was added",
                    (_, None) => "was removed",
                    _ => "changed",
                };
                widened.push((path.clone(), format!(
                    "{path} {how}; tests may read it or build with it (`affected-ignore` in .config/xdist.toml lists files that never matter)"
                )));
            }
            continue;
        }
        let root = ignore.test_roots.contains(path);
        let (Some(old), Some(new)) = (old, new) else {
            if root && new.is_some() {
                // A new test target: its tests are new to the map.
                whole.insert(path.clone());
                continue;
            }
            let how = if old.is_none() { "added" } else { "removed" };
            widened.push((path.clone(), format!("Rust file {path} was {how}")));
            continue;
        };
        let (Some(old_lines), Some(new_lines)) = (old.line_hashes(), new.line_hashes()) else {
            widened.push((
                path.clone(),
                format!("{path}: the map holds no lines for it"),
            ));
            continue;
        };
        let mut changes = hunks(&old_lines, &new_lines);
        match since.get(path) {
            None => {}
            Some(None) => {
                let why = format!("Rust file {path} was added since the given ref");
                widened.push((path.clone(), why));
                continue;
            }
            Some(Some(at_ref)) => {
                let Some(ref_lines) = at_ref.line_hashes() else {
                    widened.push((path.clone(), format!("{path}: no lines at the given ref")));
                    continue;
                };
                changes.extend(since_ref(&old_lines, &ref_lines, &new_lines));
            }
        }
        let spans = map.spans.get(path).map_or(&[][..], Vec::as_slice);
        for hunk in changes {
            if let Some(why) = cover(spans, hunk, path, &mut tests) {
                if root {
                    whole.insert(path.clone());
                    continue;
                }
                widened.push((path.clone(), why));
                break;
            }
        }
    }
    Selection::Some {
        tests: tests
            .into_iter()
            .filter_map(|i| map.tests.get(i as usize).cloned())
            .collect(),
        changed_files,
        whole,
        widened,
    }
}

/// The changes between `at_ref` and `new`, in `old`'s line numbers
/// (through the lines `old` and `new` share; a line of `new` that is not
/// in `old` is part of a change since the map, which [`hunks`] covers).
fn since_ref(old: &[u64], at_ref: &[u64], new: &[u64]) -> Vec<Hunk> {
    // For each line of `new` (1-based), the old line it equals, if any.
    let mut to_old = vec![None; new.len() + 2];
    to_old[0] = Some(0);
    to_old[new.len() + 1] = Some(old.len() as u32 + 1);
    for op in capture_diff_slices(Algorithm::Myers, old, new) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                to_old[new_index + k + 1] = Some((old_index + k) as u32 + 1);
            }
        }
    }
    // The same change seen from `new`: hunks in new's line numbers.
    let mut out = Vec::new();
    for h in hunks(new, at_ref) {
        let lines = h.first..=h.last;
        let mapped: Vec<Option<u32>> = lines
            .map(|l| to_old.get(l as usize).copied().flatten())
            .collect();
        match (
            mapped.first().copied().flatten(),
            mapped.last().copied().flatten(),
        ) {
            (Some(first), Some(last)) if mapped.iter().all(Option::is_some) => {
                out.push(Hunk {
                    first,
                    last,
                    at: first + 1,
                });
            }
            // Partly changed since the map as well: the whole stretch of
            // old lines between the nearest lines both share.
            _ => {
                let before = (0..=h.first as usize)
                    .rev()
                    .find_map(|l| to_old.get(l).copied().flatten());
                let after = (h.last as usize..to_old.len()).find_map(|l| to_old[l]);
                let first = before.unwrap_or(0);
                out.push(Hunk {
                    first,
                    last: after.unwrap_or(old.len() as u32 + 1),
                    at: first + 1,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
