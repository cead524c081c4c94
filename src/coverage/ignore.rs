//! Which files are reported: [`ignore_filename_regexes`] gives
//! cargo-llvm-cov's default set (so that per-file line counts match it
//! exactly), plus everything outside the workspace.

use camino::{Utf8Path, Utf8PathBuf};

/// What the default ignore regexes are built from.
#[derive(Debug, Clone, Default)]
pub struct IgnoreInputs {
    pub workspace_root: Utf8PathBuf,
    /// The target directory the coverage build used.
    pub target_dir: Utf8PathBuf,
    /// `$CARGO_HOME` (default `~/.cargo`).
    pub cargo_home: Option<Utf8PathBuf>,
    /// `$RUSTUP_HOME` (default `~/.rustup`).
    pub rustup_home: Option<Utf8PathBuf>,
    /// `directory` of `[source.*]` tables in cargo config (vendored code).
    pub vendor_dirs: Vec<Utf8PathBuf>,
    /// `--cov-ignore REGEX` values.
    pub user: Vec<String>,
}

impl IgnoreInputs {
    /// For `workspace_root` and `target_dir`, with `$CARGO_HOME` and
    /// `$RUSTUP_HOME` (or their `~/.cargo`, `~/.rustup` defaults) from the
    /// environment; vendor dirs and user regexes empty.
    pub fn from_env(workspace_root: &Utf8Path, target_dir: &Utf8Path) -> IgnoreInputs {
        let home = |var: &str, default: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Utf8PathBuf::from)
                .or_else(|| {
                    let home = std::env::var("HOME").ok().filter(|h| !h.is_empty())?;
                    Some(Utf8PathBuf::from(home).join(default))
                })
        };
        IgnoreInputs {
            workspace_root: workspace_root.to_owned(),
            target_dir: target_dir.to_owned(),
            cargo_home: home("CARGO_HOME", ".cargo"),
            rustup_home: home("RUSTUP_HOME", ".rustup"),
            vendor_dirs: Vec::new(),
            user: Vec::new(),
        }
    }
}

/// The `-ignore-filename-regex` values, each passed on its own. They are
/// cargo-llvm-cov's defaults (without `--remap-path-prefix`): the user's
/// regexes, vendored directories, the standard library (`/rustc/<hash or
/// version>/`), the workspace's `tests/`, `examples/`, `benches/` dirs and
/// `tests.rs` / `*_tests.rs` files, the target dir, `$CARGO_HOME/registry`
/// and `/git`, `$RUSTUP_HOME/toolchains`. Added: any `lib/rustlib/` (a
/// rust-src outside rustup) and every file outside the workspace (when
/// the root can be written as such a regex, see [`outside_dir_regex`]).
pub fn ignore_filename_regexes(i: &IgnoreInputs) -> Vec<String> {
    let ws = regex::escape(i.workspace_root.as_str().trim_end_matches('/'));
    let under = |dir: &Utf8Path| {
        format!(
            "^{}($|/)",
            regex::escape(dir.as_str().trim_end_matches('/'))
        )
    };
    let mut out: Vec<String> = i.user.clone();
    out.extend(i.vendor_dirs.iter().map(|d| under(d)));
    out.push(format!(
        r"/rustc/([0-9a-f]+|[0-9]+\.[0-9]+\.[0-9]+)/|^{ws}(/.*)?/(tests|examples|benches)/|^{ws}(/.*)?/(tests\.rs|[0-9a-zA-Z_-]+[_-]tests\.rs)$"
    ));
    out.push(under(&i.target_dir));
    if let Some(home) = &i.cargo_home {
        out.push(format!(
            "^{}/(registry|git)/",
            regex::escape(home.as_str().trim_end_matches('/'))
        ));
    }
    if let Some(home) = &i.rustup_home {
        out.push(under(&home.join("toolchains")));
    }
    out.push("/lib/rustlib/".to_string());
    if let Some(outside) = outside_dir_regex(&i.workspace_root) {
        out.push(outside);
    }
    out
}

/// The `-ignore-filename-regex` values that leave out what is not the
/// workspace's own source (the standard library, dependencies, the target
/// dir, everything outside the root) but keep its tests, examples and
/// benches: an impact map needs every function a test can run.
pub fn outside_workspace_regexes(i: &IgnoreInputs) -> Vec<String> {
    let under = |dir: &Utf8Path| {
        format!(
            "^{}($|/)",
            regex::escape(dir.as_str().trim_end_matches('/'))
        )
    };
    let mut out = vec![
        r"/rustc/([0-9a-f]+|[0-9]+\.[0-9]+\.[0-9]+)/".to_string(),
        under(&i.target_dir),
        "/lib/rustlib/".to_string(),
    ];
    if let Some(home) = &i.cargo_home {
        out.push(format!(
            "^{}/(registry|git)/",
            regex::escape(home.as_str().trim_end_matches('/'))
        ));
    }
    out.extend(outside_dir_regex(&i.workspace_root));
    out
}

/// A regex matching exactly the paths NOT under `dir`, for llvm-cov's
/// POSIX extended regexes (no look-ahead): `^($|[^c1]|c1($|[^c2]|c2(…)))`
/// over the characters of `dir/`. `None` when `dir` has a character that
/// cannot be written the same way in a bracket expression for both POSIX
/// and Rust regexes (then nothing outside is dropped by this rule).
pub fn outside_dir_regex(dir: &Utf8Path) -> Option<String> {
    let prefix = format!("{}/", dir.as_str().trim_end_matches('/'));
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,=@%~: ".contains(c);
    if prefix.len() < 2 || !prefix.chars().all(safe) {
        return None;
    }
    let chars: Vec<char> = prefix.chars().collect();
    let mut tail = String::new();
    for (k, &c) in chars.iter().enumerate().rev() {
        // `-` last in a bracket is literal in both dialects.
        let bracket = if c == '-' {
            "[^-]".to_string()
        } else {
            format!("[^{c}]")
        };
        let literal = regex::escape(&c.to_string());
        tail = if k + 1 == chars.len() {
            format!("$|{bracket}")
        } else {
            format!("$|{bracket}|{literal}({tail})")
        };
    }
    Some(format!("^({tail})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> IgnoreInputs {
        IgnoreInputs {
            workspace_root: "/work/my-ws".into(),
            target_dir: "/work/my-ws/target/xdist-cov".into(),
            cargo_home: Some("/root/.cargo".into()),
            rustup_home: Some("/root/.rustup".into()),
            vendor_dirs: vec!["/work/my-ws/vendor".into()],
            user: vec!["generated/".into()],
        }
    }

    fn ignored(path: &str) -> bool {
        ignore_filename_regexes(&inputs())
            .iter()
            .any(|r| regex::Regex::new(r).unwrap().is_match(path))
    }

    #[test]
    fn default_ignores_leave_only_workspace_sources() {
        for kept in [
            "/work/my-ws/src/lib.rs",
            "/work/my-ws/crates/a/src/main.rs",
            "/work/my-ws/src/contests.rs",
            "/work/my-ws/src/testsuite/mod.rs",
        ] {
            assert!(!ignored(kept), "{kept} must be reported");
        }
        for dropped in [
            "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/option.rs",
            "/rustc/1.95.0/library/std/src/lib.rs",
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.0/src/lib.rs",
            "/root/.cargo/git/checkouts/foo-123/abc/src/lib.rs",
            "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/fmt.rs",
            "/usr/lib/rustlib/src/rust/library/std/src/io.rs",
            "/work/my-ws/tests/api.rs",
            "/work/my-ws/crates/a/tests/common/mod.rs",
            "/work/my-ws/examples/demo.rs",
            "/work/my-ws/benches/b.rs",
            "/work/my-ws/src/tests.rs",
            "/work/my-ws/src/parser_tests.rs",
            "/work/my-ws/vendor/dep/src/lib.rs",
            "/work/my-ws/target/xdist-cov/debug/build/x/out/gen.rs",
            "/work/my-ws/src/generated/x.rs",
            "/work/other/src/lib.rs",
            "/work/my-ws2/src/lib.rs",
            "/work/my-w/src/lib.rs",
            "/work",
            "src/relative.rs",
        ] {
            assert!(ignored(dropped), "{dropped} must be left out");
        }
    }

    #[test]
    fn outside_regex_matches_exactly_the_paths_outside() {
        let re = regex::Regex::new(&outside_dir_regex("/a/b-c/".into()).unwrap()).unwrap();
        for (path, outside) in [
            ("/a/b-c/x.rs", false),
            ("/a/b-c/d/e.rs", false),
            ("/a/b-c", true),
            ("/a/b-cd/x.rs", true),
            ("/a/b/x.rs", true),
            ("/a/bxc/x.rs", true),
            ("", true),
            ("a/b-c/x.rs", true),
        ] {
            assert_eq!(re.is_match(path), outside, "{path}");
        }
        assert_eq!(outside_dir_regex("/a/[weird]".into()), None);
        assert_eq!(outside_dir_regex("/".into()), None);
    }
}
