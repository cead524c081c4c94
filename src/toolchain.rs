//! The Rust toolchain as cargo runs it: which rustc ([`rustc`]), and its
//! answers to questions that only a new toolchain changes
//! ([`print_cached`]: `--print target-libdir` and the like), kept per rustc
//! binary under the target directory.
//!
//! Asking rustc costs a process that loads rustc's driver (some 10–20 ms of
//! CPU, a third of cargo's own freshness check on a small crate), and
//! behind rustup's proxy a second process. cargo, which runs cargo-xdist as
//! a subcommand, sets `RUSTUP_TOOLCHAIN`: then the proxy's choice is known
//! and the toolchain's rustc runs directly, as cargo itself does.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use camino::Utf8Path;
use serde::{Deserialize, Serialize};

/// The rustc cargo would run: `$RUSTC` when set; else, under rustup
/// (`RUSTUP_TOOLCHAIN` set and `rustc` on `PATH` being rustup's proxy),
/// that toolchain's own rustc; else `rustc`.
pub fn rustc() -> OsString {
    rustc_with(&|k| std::env::var_os(k))
}

fn rustc_with(env: &dyn Fn(&str) -> Option<OsString>) -> OsString {
    if let Some(rustc) = env("RUSTC").filter(|v| !v.is_empty()) {
        return rustc;
    }
    behind_the_proxy(env)
        .map(PathBuf::into_os_string)
        .unwrap_or_else(|| "rustc".into())
}

/// The toolchain's rustc that rustup's proxy would run, when `rustc` on
/// `PATH` is the proxy (the same file as `rustup`: proxies are links to
/// it) and `RUSTUP_TOOLCHAIN` names an installed toolchain.
fn behind_the_proxy(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let toolchain = env("RUSTUP_TOOLCHAIN").filter(|v| !v.is_empty())?;
    let proxy = fs_err::metadata(resolve(OsStr::new("rustc"), env)?).ok()?;
    if !is_rustup(&proxy, env) {
        return None;
    }
    let toolchain = Path::new(&toolchain);
    let dir = if toolchain.is_absolute() {
        // A custom toolchain given by its directory.
        toolchain.to_path_buf()
    } else {
        let home = env("RUSTUP_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".rustup")))?;
        home.join("toolchains").join(toolchain)
    };
    let rustc = dir.join("bin").join("rustc");
    rustc.is_file().then_some(rustc)
}

/// The file `program` names: a path made absolute, or a bare name's first
/// executable file in the directories of `env`'s `PATH` (as `Command`
/// finds it when `env` is the process's).
fn resolve(program: &OsStr, env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let given = Path::new(program);
    if given.components().count() > 1 {
        return std::path::absolute(given).ok();
    }
    std::env::split_paths(&env("PATH")?)
        .map(|dir| dir.join(given))
        .find(|p| fs_err::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

/// Whether `file` is rustup itself (its proxies are links to it), as found
/// on `env`'s `PATH`.
fn is_rustup(file: &std::fs::Metadata, env: &dyn Fn(&str) -> Option<OsString>) -> bool {
    let rustup = resolve(OsStr::new("rustup"), env).and_then(|r| fs_err::metadata(r).ok());
    rustup.is_some_and(|r| (r.dev(), r.ino()) == (file.dev(), file.ino()))
}

/// What a cached answer holds for: one rustc binary file, as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Identity {
    /// `rustc`'s file (found on `PATH` if a bare name); `None` for
    /// rustup's proxy, which runs whatever toolchain the directory or the
    /// settings choose: its answers cannot be kept by its file.
    fn of(rustc: &OsStr, env: &dyn Fn(&str) -> Option<OsString>) -> Option<Identity> {
        let path = resolve(rustc, env)?;
        let meta = fs_err::metadata(&path).ok()?;
        if is_rustup(&meta, env) {
            return None;
        }
        Some(Identity {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }
}

/// The cache file: one rustc's answers.
#[derive(Serialize, Deserialize)]
struct Answers {
    rustc: Identity,
    /// The question (arguments joined by spaces) → rustc's trimmed output.
    answers: std::collections::BTreeMap<String, String>,
}

/// rustc's answer to `args` (its trimmed standard output; `None` when it
/// fails), kept in `cache` (a file) for as long as the rustc binary is the
/// same file, unchanged. Without a cache, or for rustup's proxy, rustc is
/// asked every time. A cache that cannot be read or written costs the
/// next run a rustc process, nothing else.
pub fn print_cached(cache: Option<&Utf8Path>, args: &[&str]) -> Option<String> {
    print_cached_with(cache, args, &|k| std::env::var_os(k))
}

fn print_cached_with(
    cache: Option<&Utf8Path>,
    args: &[&str],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<String> {
    let rustc = rustc_with(env);
    let question = args.join(" ");
    // As root too: never a cache in a directory another account can write.
    let cache = cache.filter(|file| file.parent().is_some_and(own_directory));
    let identity = cache.and_then(|_| Identity::of(&rustc, env));
    let mut stored = match (cache, &identity) {
        (Some(file), Some(id)) => read_own(file)
            .and_then(|bytes| serde_json::from_slice::<Answers>(&bytes).ok())
            .filter(|a| a.rustc == *id),
        _ => None,
    };
    if let Some(answer) = stored.as_ref().and_then(|s| s.answers.get(&question)) {
        return Some(answer.clone());
    }
    let program = match identity.as_ref().map(|id| id.path.clone()) {
        Some(path) => path.into_os_string(),
        None => resolve(&rustc, env).map_or(rustc, PathBuf::into_os_string),
    };
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let answer = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if let (Some(file), Some(id)) = (cache, identity) {
        let mut all = stored.take().unwrap_or(Answers {
            rustc: id,
            answers: Default::default(),
        });
        all.answers.insert(question, answer.clone());
        let _ = crate::scratch::write_json(file, &all, 0o600, crate::scratch::Json::Compact);
    }
    Some(answer)
}

/// `file`'s bytes if this user wrote it: owned by the effective user and
/// writable by nobody else (a cache in a directory another account can
/// write is otherwise ignored, and then rewritten through a new file).
fn read_own(file: &Utf8Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = fs_err::File::open(file).ok()?;
    if !mine(&f.metadata().ok()?, 0o022) {
        return None;
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Whether `dir` (or, while it does not exist yet, the nearest ancestor
/// that does) is a directory of this user's that no other account may
/// write: not world-writable, and as root not group-writable either (a
/// user's own group, as a umask of 002 leaves it, is fine otherwise); a
/// symlink does not count.
fn own_directory(dir: &Utf8Path) -> bool {
    let others = if rustix::process::geteuid().is_root() {
        0o022
    } else {
        0o002
    };
    let mut at = Some(dir);
    while let Some(d) = at {
        match fs_err::symlink_metadata(d) {
            Ok(meta) => return meta.is_dir() && mine(&meta, others),
            Err(_) => at = d.parent().filter(|p| !p.as_str().is_empty()),
        }
    }
    false
}

/// Owned by the effective user, with none of the `others` write bits.
fn mine(meta: &std::fs::Metadata, others: u32) -> bool {
    meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & others == 0
}

/// The user's cache of rustc's answers, for what runs before the target
/// directory is known (`--coverage`'s LLVM tools):
/// `$XDG_CACHE_HOME/cargo-xdist/rustc.json`, else `~/.cache/...`.
pub fn user_cache() -> Option<camino::Utf8PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    let dir = camino::Utf8PathBuf::from_path_buf(base).ok()?;
    Some(dir.join("cargo-xdist").join("rustc.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn exe(path: &Path, script: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, script).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A fake rustup home: `bin/rustup` with `bin/rustc` a link to it (the
    /// proxy), and a toolchain `t1` whose rustc counts its runs.
    fn rustup_home(dir: &Path) -> HashMap<String, OsString> {
        exe(&dir.join("bin/rustup"), "#!/bin/sh\necho proxy\n");
        std::os::unix::fs::symlink("rustup", dir.join("bin/rustc")).unwrap();
        exe(
            &dir.join("home/toolchains/t1/bin/rustc"),
            &format!(
                "#!/bin/sh\necho run >> {}\necho \"/t1/libdir $*\"\n",
                dir.join("runs").display()
            ),
        );
        HashMap::from([
            ("PATH".to_string(), dir.join("bin").into_os_string()),
            ("RUSTUP_HOME".to_string(), dir.join("home").into_os_string()),
            ("RUSTUP_TOOLCHAIN".to_string(), "t1".into()),
        ])
    }

    fn runs(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("runs")).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn under_rustup_the_toolchains_rustc_runs_and_its_answer_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = rustup_home(tmp.path());
        let env = |k: &str| vars.get(k).cloned();
        let own = tmp.path().join("home/toolchains/t1/bin/rustc");
        assert_eq!(rustc_with(&env), own.as_os_str());
        let cache = Utf8Path::from_path(tmp.path()).unwrap().join("cache.json");
        let ask = || print_cached_with(Some(&cache), &["--print", "target-libdir"], &env);
        assert_eq!(ask().as_deref(), Some("/t1/libdir --print target-libdir"));
        assert_eq!(ask().as_deref(), Some("/t1/libdir --print target-libdir"));
        assert_eq!(
            runs(tmp.path()),
            1,
            "the second answer comes from the cache"
        );
        // Another question is asked, and both are kept.
        assert!(print_cached_with(Some(&cache), &["--print", "sysroot"], &env).is_some());
        assert_eq!(ask().as_deref(), Some("/t1/libdir --print target-libdir"));
        assert_eq!(runs(tmp.path()), 2);
        // A new rustc (a toolchain update rewrites the file) is asked again.
        std::thread::sleep(std::time::Duration::from_millis(10));
        exe(
            &own,
            &format!(
                "#!/bin/sh\necho run >> {}\necho /t1/new\n",
                tmp.path().join("runs").display()
            ),
        );
        assert_eq!(ask().as_deref(), Some("/t1/new"));
        assert_eq!(runs(tmp.path()), 3);
    }

    #[test]
    fn the_proxy_itself_is_never_cached_and_rustc_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let mut vars = rustup_home(tmp.path());
        // No RUSTUP_TOOLCHAIN: the proxy decides; each run asks it.
        vars.remove("RUSTUP_TOOLCHAIN");
        let env = |k: &str| vars.get(k).cloned();
        assert_eq!(rustc_with(&env), OsStr::new("rustc"));
        let cache = Utf8Path::from_path(tmp.path()).unwrap().join("cache.json");
        assert_eq!(
            print_cached_with(Some(&cache), &["x"], &env).as_deref(),
            Some("proxy")
        );
        assert!(!cache.exists(), "nothing kept for the proxy");
        // An unknown toolchain: the proxy too.
        vars.insert("RUSTUP_TOOLCHAIN".into(), "nightly".into());
        let env = |k: &str| vars.get(k).cloned();
        assert_eq!(rustc_with(&env), OsStr::new("rustc"));
        // $RUSTC always wins.
        vars.insert("RUSTC".into(), "/opt/my/rustc".into());
        let env = |k: &str| vars.get(k).cloned();
        assert_eq!(rustc_with(&env), OsStr::new("/opt/my/rustc"));
    }

    #[test]
    fn a_cache_others_can_write_is_not_believed() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = rustup_home(tmp.path());
        let env = |k: &str| vars.get(k).cloned();
        let cache = Utf8Path::from_path(tmp.path()).unwrap().join("cache.json");
        let ask = || print_cached_with(Some(&cache), &["--print", "target-libdir"], &env);
        assert!(ask().is_some());
        // Someone else's answer, in a file the group may write.
        let planted = std::fs::read_to_string(&cache)
            .unwrap()
            .replace("/t1/libdir", "/planted");
        std::fs::write(&cache, planted).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(ask().as_deref(), Some("/t1/libdir --print target-libdir"));
        assert_eq!(runs(tmp.path()), 2, "asked again, not read");
    }

    #[test]
    fn no_cache_in_a_directory_others_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = rustup_home(tmp.path());
        let env = |k: &str| vars.get(k).cloned();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let cache = Utf8Path::from_path(&shared).unwrap().join("sub/cache.json");
        for _ in 0..2 {
            let got = print_cached_with(Some(&cache), &["--print", "target-libdir"], &env);
            assert_eq!(got.as_deref(), Some("/t1/libdir --print target-libdir"));
        }
        assert_eq!(runs(tmp.path()), 2, "asked each time");
        assert!(!shared.join("sub").exists(), "nothing written there");
        // Its own directory, not yet made: used.
        let own = Utf8Path::from_path(tmp.path())
            .unwrap()
            .join("own/sub/cache.json");
        print_cached_with(Some(&own), &["--print", "target-libdir"], &env);
        assert!(own.exists());
    }

    #[test]
    fn a_rustc_that_fails_answers_nothing_and_nothing_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let rustc = tmp.path().join("bin/rustc");
        exe(&rustc, "#!/bin/sh\nexit 1\n");
        let vars = HashMap::from([("RUSTC".to_string(), rustc.into_os_string())]);
        let env = |k: &str| vars.get(k).cloned();
        let cache = Utf8Path::from_path(tmp.path()).unwrap().join("cache.json");
        assert_eq!(
            print_cached_with(Some(&cache), &["--print", "x"], &env),
            None
        );
        assert!(!cache.exists());
    }
}
