//! The workspace's files as an impact map sees them: every file git
//! tracks or would track (ignored files and `target/` aside; without git,
//! every file outside `target/` and version control's own directories:
//! `.cargo/config.toml` and `.config/xdist.toml` count), each with a hash
//! of its content, and for Rust sources one hash per line, so that the
//! lines a change touches can be found without keeping the old text.
//!
//! Blank lines and lines that hold only a `//` comment hash to
//! [`TRIVIAL`]: a change made only of such lines changes no test.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::hash::fnv1a64;

/// The line hash of a blank or comment-only line.
pub const TRIVIAL: u64 = 0;

/// One file of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// Hash of the whole content (hex).
    pub hash: String,
    /// Rust sources: each line's hash, [`TRIVIAL`] for blank and
    /// comment-only lines (hex, 16 digits a line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
}

impl FileState {
    pub fn of(path: &Utf8Path, content: &[u8]) -> Self {
        let lines = (path.extension() == Some("rs")).then(|| {
            let text = String::from_utf8_lossy(content);
            line_hashes(&text)
                .iter()
                .map(|h| format!("{h:016x}"))
                .collect()
        });
        FileState {
            hash: format!("{:016x}", fnv1a64(content)),
            lines,
        }
    }

    /// The per-line hashes (none for files other than Rust sources, or a
    /// map whose text is damaged).
    pub fn line_hashes(&self) -> Option<Vec<u64>> {
        let text = self.lines.as_deref()?;
        if text.len() % 16 != 0 {
            return None;
        }
        (0..text.len() / 16)
            .map(|i| u64::from_str_radix(&text[i * 16..i * 16 + 16], 16).ok())
            .collect()
    }
}

/// Each line's hash; [`TRIVIAL`] for lines that cannot change what a
/// test does: blank, or a `//` comment alone (doc comments included:
/// doctests are not in impact maps and always run), outside any string
/// literal and block comment. Every other line hashes as written,
/// indentation included (it matters inside a string).
pub fn line_hashes(text: &str) -> Vec<u64> {
    let inside = lines_starting_inside(text);
    text.lines()
        .zip(inside)
        .map(|(line, inside)| {
            let t = line.trim_start();
            if !inside && (t.is_empty() || t.starts_with("//")) {
                TRIVIAL
            } else {
                // Never TRIVIAL by accident.
                fnv1a64(line.as_bytes()).max(1)
            }
        })
        .collect()
}

/// For each line of `text`: whether it starts inside a string literal or
/// a block comment (a small Rust lexer: strings with escapes, raw and
/// byte strings, char literals told from lifetimes, nested comments).
fn lines_starting_inside(text: &str) -> Vec<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Str,
        /// A raw string closed by `"` and this many `#`.
        Raw(usize),
        /// Nesting depth.
        Block(usize),
    }
    let b = text.as_bytes();
    let mut state = State::Code;
    let mut out = vec![false];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            out.push(state != State::Code);
            i += 1;
            continue;
        }
        match state {
            State::Code => {
                if b[i..].starts_with(b"//") {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                } else if b[i..].starts_with(b"/*") {
                    state = State::Block(1);
                    i += 2;
                    continue;
                } else if c == b'"' {
                    state = State::Str;
                } else if c == b'r'
                    && (i == 0 || !is_ident(b[i - 1]) || b[i - 1] == b'b' || b[i - 1] == b'c')
                {
                    let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
                    if b.get(i + 1 + hashes) == Some(&b'"') {
                        state = State::Raw(hashes);
                        i += hashes + 2;
                        continue;
                    }
                } else if c == b'\'' {
                    // A char literal ('a', '\n', '\u{..}', '\''), else a lifetime.
                    if b.get(i + 1) == Some(&b'\\') {
                        let end = (i + 3..b.len().min(i + 14)).find(|&j| b[j] == b'\'');
                        i = end.map_or(i + 1, |j| j + 1);
                        continue;
                    }
                    let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    if b.get(i + 1 + ch_len) == Some(&b'\'') {
                        i += ch_len + 2;
                        continue;
                    }
                }
                i += 1;
            }
            State::Str => {
                if c == b'\\' {
                    // An escaped newline still counts as one.
                    i += if b.get(i + 1) == Some(&b'\n') { 1 } else { 2 };
                    continue;
                }
                if c == b'"' {
                    state = State::Code;
                }
                i += 1;
            }
            State::Raw(n) => {
                if c == b'"' && b[i + 1..].iter().take(n).filter(|&&h| h == b'#').count() == n {
                    state = State::Code;
                    i += n + 1;
                    continue;
                }
                i += 1;
            }
            State::Block(depth) => {
                if b[i..].starts_with(b"*/") {
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::Block(depth - 1)
                    };
                    i += 2;
                } else if b[i..].starts_with(b"/*") {
                    state = State::Block(depth + 1);
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Path (relative to the workspace root, `/`-separated) → state.
pub type Tree = BTreeMap<String, FileState>;

/// The files of the tree at `root`, but for those under `exclude` (the
/// target directories, which git may track by mistake).
pub fn snapshot(root: &Utf8Path, exclude: &[&Utf8Path]) -> Result<Tree> {
    let excluded: Vec<&Utf8Path> = exclude
        .iter()
        .filter_map(|d| d.strip_prefix(root).ok())
        .filter(|d| !d.as_str().is_empty())
        .collect();
    let files = match git_files(root) {
        Some(files) => files,
        None => {
            let mut files = Vec::new();
            walk(root, Utf8Path::new(""), &mut files)?;
            files
        }
    };
    let mut tree = Tree::new();
    for rel in files {
        if excluded.iter().any(|d| rel.starts_with(d)) {
            continue;
        }
        let path = root.join(&rel);
        // A tracked file deleted from the working tree is not in it.
        let Ok(meta) = fs_err::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let content = fs_err::read(&path)?;
        tree.insert(rel.to_string(), FileState::of(&rel, &content));
    }
    Ok(tree)
}

/// `git ls-files`: tracked and untracked-but-not-ignored files under
/// `root`, relative to it; None when `root` is not in a git work tree.
fn git_files(root: &Utf8Path) -> Option<Vec<Utf8PathBuf>> {
    let out = std::process::Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut files: Vec<Utf8PathBuf> = (text.split('\0'))
        .filter(|p| !p.is_empty())
        .map(Utf8PathBuf::from)
        .collect();
    files.sort();
    files.dedup();
    Some(files)
}

/// Version control's own directories, never part of the tree.
const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj"];

/// Without git: every file under `dir`, `target/` and [`VCS_DIRS`] aside.
fn walk(root: &Utf8Path, dir: &Utf8Path, out: &mut Vec<Utf8PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = fs_err::read_dir(root.join(dir))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name
            .to_str()
            .with_context(|| format!("a file name under {} is not UTF-8", root.join(dir)))?;
        if VCS_DIRS.contains(&name) || (dir.as_str().is_empty() && name == "target") {
            continue;
        }
        let rel = dir.join(name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            // A nested crate's own target directory too.
            if name != "target" || !root.join(dir).join("Cargo.toml").exists() {
                walk(root, &rel, out)?;
            }
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_comment_lines_are_trivial() {
        let h = line_hashes("fn a() {\n\n    // note\n  /// doc\n    1 + 1\n}\n");
        assert_eq!(h.len(), 6);
        assert_eq!([h[1], h[2], h[3]], [TRIVIAL; 3]);
        assert!(h[0] != TRIVIAL && h[4] != TRIVIAL);
        // Indentation is part of a line (it matters inside a string).
        assert_ne!(line_hashes("  x")[0], line_hashes("x")[0]);
    }

    #[test]
    fn lines_inside_strings_and_block_comments_are_never_trivial() {
        let text = "let s = \"a\n\n// b\";\nlet r = r#\"\n// c\n\"#;\n/* x\n\n*/\nlet c = '\"'; let l: &'a str = \"\n\";\n// d\n";
        let h = line_hashes(text);
        let trivial: Vec<usize> = (0..h.len()).filter(|&i| h[i] == TRIVIAL).collect();
        // Only the last comment is outside every literal and comment.
        assert_eq!(trivial, [h.len() - 1], "{text}");
        let inside = lines_starting_inside("x\n\"\\\"\n\"\n'\\''\n\"a\"\n");
        assert_eq!(inside, [false, false, true, false, false, false]);
    }

    #[test]
    fn line_hashes_round_trip() {
        let s = FileState::of(Utf8Path::new("a.rs"), b"fn a() {}\n\nx\n");
        assert_eq!(s.line_hashes().unwrap(), line_hashes("fn a() {}\n\nx\n"));
        let other = FileState::of(Utf8Path::new("a.sql"), b"select 1");
        assert!(other.lines.is_none());
    }

    #[test]
    fn snapshot_without_git_skips_target_and_version_control() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        for f in [
            "src/lib.rs",
            "target/debug/x",
            ".git/HEAD",
            ".config/xdist.toml",
            "migrations/1.sql",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        let mut files = Vec::new();
        walk(root, Utf8Path::new(""), &mut files).unwrap();
        assert_eq!(
            files,
            [".config/xdist.toml", "migrations/1.sql", "src/lib.rs"]
        );
    }
}
