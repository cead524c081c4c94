//! Private scratch directories: every temporary directory cargo-xdist makes
//! (libtest logfiles, coverage profiles) can be entered by the user who ran
//! it and nobody else, whatever the umask (tempfile leaves the mode to it).
//!
//! And the files cargo-xdist keeps between runs (durations, the last-failed
//! record, caches under `<target dir>/xdist/`): [`write_json`] replaces one
//! atomically, with the mode it asks for; [`lock`] serialises the runs that
//! read, update and write one.
//!
//! A scratch directory's name carries its owner: `PREFIX` then
//! `PID.START.PIDNS-` and tempfile's random letters, where START is the
//! process's start time (field 22 of `/proc/PID/stat`, which tells a
//! recycled pid from the owner) and PIDNS its pid namespace's inode (a pid
//! means nothing in another namespace, say another container sharing
//! `/tmp`). A run killed by SIGKILL cannot remove its own, so the first
//! [`private_dir`] of a later run removes each `cargo-xdist-` directory of
//! the temporary directory whose owner is gone, if it belongs to the user:
//! opened without following symlinks, its owner checked on what was
//! opened, and emptied through that descriptor (`openat`, `unlinkat`), so
//! nothing another account planted there under our prefix (a directory, a
//! symlink to elsewhere) is followed or deleted.
//!
//! The lock files are opened without following symlinks: a symlink there
//! is refused, and its target is not created.

use std::ffi::CStr;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Once;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

/// The prefix of the scratch directories that a later run may remove.
const SWEPT: &str = "cargo-xdist-";

/// A new mode-0700 directory in the system's temporary directory, removed
/// when the value is dropped; its name says which process owns it (see the
/// module docs). The first call also removes the directories of runs that
/// are gone.
pub fn private_dir(prefix: &str) -> Result<(tempfile::TempDir, Utf8PathBuf)> {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| remove_orphans(&std::env::temp_dir()));
    let me = Owner::current();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}.{}.{}-", me.pid, me.start, me.pidns))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .with_context(|| format!("cannot create a temporary directory ({prefix}...)"))?;
    let path = Utf8Path::from_path(dir.path())
        .context("the temporary directory's path is not UTF-8")?
        .to_path_buf();
    Ok((dir, path))
}

/// Who made a scratch directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    pid: u32,
    /// Clock ticks after boot; 0 if unknown.
    start: u64,
    /// The pid namespace's inode; 0 if unknown.
    pidns: u64,
}

impl Owner {
    fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: start_time(pid).ok().flatten().unwrap_or(0),
            pidns: pid_namespace(),
        }
    }

    /// The owner named in a scratch directory's name: the first
    /// `-`-separated part after the prefix made of three dot-separated
    /// numbers.
    fn of(name: &str) -> Option<Owner> {
        name.strip_prefix(SWEPT)?.split('-').find_map(|part| {
            let mut n = part.split('.').map(|n| n.parse::<u64>().ok());
            let (pid, start, pidns) = (n.next()??, n.next()??, n.next()??);
            n.next().is_none().then_some(Owner {
                pid: u32::try_from(pid).ok()?,
                start,
                pidns,
            })
        })
    }

    /// Whether the process is gone (or its pid now someone else's). Only
    /// asked of owners in this pid namespace; "cannot tell" is not gone.
    fn is_gone(&self) -> bool {
        match start_time(self.pid) {
            Ok(None) => true,
            Ok(Some(start)) => self.start != 0 && start != self.start,
            Err(()) => false,
        }
    }
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`): `None`
/// if there is no such process or it is a zombie (it has ended), `Err` if
/// it cannot be told.
fn start_time(pid: u32) -> Result<Option<u64>, ()> {
    // std's read: ESRCH is told by its errno, which fs_err's errors do
    // not keep (and no one sees this error).
    #[allow(clippy::disallowed_methods)]
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(_) => return Err(()),
    };
    // The fields after the command name, which may contain spaces and ')'.
    let (_, rest) = stat.rsplit_once(')').ok_or(())?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return Ok(None);
    }
    // Field 3 (the state) is fields[0], so field 22 is fields[19].
    fields
        .get(19)
        .and_then(|f| f.parse().ok())
        .map(Some)
        .ok_or(())
}

/// This process's pid namespace's inode (`/proc/self/ns/pid` reads
/// `pid:[INODE]`), 0 if unknown.
fn pid_namespace() -> u64 {
    fs_err::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
        })
        .unwrap_or(0)
}

/// Remove the scratch directories in `tmp` whose owning run is gone (see
/// the module docs). Best effort: what cannot be removed is left.
fn remove_orphans(tmp: &Path) {
    let Ok(parent) = rustix::fs::open(
        tmp,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    // In a directory others may write but not sticky, another account
    // could swap an entry between the checks and the removal: leave it.
    match rustix::fs::fstat(&parent) {
        Ok(st) if st.st_mode & 0o002 == 0 || st.st_mode & 0o1000 != 0 => {}
        _ => return,
    }
    let Ok(mut entries) = rustix::fs::Dir::read_from(&parent) else {
        return;
    };
    let me = Owner::current();
    let uid = rustix::process::geteuid().as_raw();
    let mut orphans = Vec::new();
    while let Some(Ok(entry)) = entries.read() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().ok().and_then(Owner::of) else {
            continue;
        };
        if owner.pidns == me.pidns && owner.pid != me.pid && owner.is_gone() {
            orphans.push(name.to_owned());
        }
    }
    for name in orphans {
        let _ = remove_owned_dir(parent.as_fd(), &name, uid);
    }
}

/// Remove directory `name` of `parent` and all in it, if it is a directory
/// (not a symlink to one) owned by `uid`; never follows a symlink.
fn remove_owned_dir(parent: BorrowedFd<'_>, name: &CStr, uid: u32) -> rustix::io::Result<()> {
    let dir = open_dir_at(parent, name)?;
    if rustix::fs::fstat(&dir)?.st_uid != uid {
        return Err(Errno::PERM);
    }
    empty_dir(dir.as_fd())?;
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<std::os::fd::OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Remove everything in the directory `dir`: each entry is unlinked as a
/// file (a symlink goes, its target stays), and emptied then removed if
/// it is a directory.
fn empty_dir(dir: BorrowedFd<'_>) -> rustix::io::Result<()> {
    let mut entries = rustix::fs::Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.read() {
        let name = entry?.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push(name);
        }
    }
    for name in names {
        match rustix::fs::unlinkat(dir, &name, AtFlags::empty()) {
            Err(Errno::ISDIR) => {
                empty_dir(open_dir_at(dir, &name)?.as_fd())?;
                rustix::fs::unlinkat(dir, &name, AtFlags::REMOVEDIR)?;
            }
            other => other?,
        }
    }
    Ok(())
}

/// The text of `path`; None when there is no such file (any other error
/// is one).
pub fn read_if_exists(path: &Utf8Path) -> Result<Option<String>> {
    match fs_err::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How [`write_json`] lays the JSON out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Json {
    /// One line: files only cargo-xdist reads.
    Compact,
    /// Indented: files people read too.
    Pretty,
}

/// Write `value` as JSON (and a newline) to `file` atomically: a temporary
/// file of mode `mode` beside it, renamed over it, so that a reader sees the
/// old content or the new, never half. Creates `file`'s directory. A
/// symlink at `file` is replaced, not followed (rename works on the name);
/// a symlink among the directories is followed, as for every other file of
/// the target directory (a target directory on another disk is common).
pub fn write_json(file: &Utf8Path, value: &impl Serialize, mode: u32, layout: Json) -> Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_str().is_empty() => d,
        _ => Utf8Path::new("."),
    };
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {dir}"))?;
    let mut out = std::io::BufWriter::new(tmp.as_file_mut());
    match layout {
        Json::Compact => serde_json::to_writer(&mut out, value)?,
        Json::Pretty => serde_json::to_writer_pretty(&mut out, value)?,
    }
    out.write_all(b"\n")?;
    out.flush()?;
    drop(out);
    tmp.persist(file)
        .with_context(|| format!("cannot write {file}"))?;
    Ok(())
}

/// Hold an exclusive lock on `path` (created if need be, with its
/// directory) until the file returned is dropped. A symlink at `path` is
/// refused, not followed.
pub fn lock(path: &Utf8Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    // std's OpenOptions: the ELOOP below is told by its errno, which
    // fs_err's errors do not keep (the message names the path itself).
    #[allow(clippy::disallowed_methods)]
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => anyhow::bail!(
            "the lock file {path} is a symbolic link, which cargo-xdist does not follow; \
             remove it (a run creates the lock file again)"
        ),
        opened => opened.with_context(|| format!("cannot open the lock file {path}"))?,
    };
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("cannot lock {path}"))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_replaced_whole_with_the_mode_asked_for() {
        let (_dir, path) = private_dir("xdist-test-").unwrap();
        let file = path.join("sub/x.json");
        for (mode, layout) in [(0o644, Json::Compact), (0o600, Json::Pretty)] {
            write_json(&file, &serde_json::json!({"a": [1, 2]}), mode, layout).unwrap();
            let meta = std::fs::metadata(&file).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{layout:?}");
            let text = std::fs::read_to_string(&file).unwrap();
            assert_eq!(text.lines().count() > 1, layout == Json::Pretty, "{text}");
            assert!(text.ends_with("}\n"), "{text:?}");
        }
        // Nothing is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_scratch_directory_names_its_live_owner() {
        let (_dir, path) = private_dir("cargo-xdist-test-").unwrap();
        let owner = Owner::of(path.file_name().unwrap()).expect("an owner in the name");
        assert_eq!(owner, Owner::current());
        assert!(owner.start != 0 && owner.pidns != 0, "{owner:?}");
        assert!(!owner.is_gone());
        let recycled = Owner {
            start: owner.start + 1,
            ..owner
        };
        assert!(recycled.is_gone(), "a pid with another start time");
        assert_eq!(Owner::of("cargo-xdist-AbC123"), None);
        assert_eq!(Owner::of("other-1.2.3-AbC123"), None);
    }

    /// The rename replaces a symlink at the file's place; its target is
    /// neither written nor created.
    #[test]
    fn json_replaces_a_symlink_without_following_it() {
        let (_dir, path) = private_dir("xdist-test-").unwrap();
        let target = path.join("target");
        let file = path.join("x.json");
        std::os::unix::fs::symlink(&target, &file).unwrap();
        write_json(&file, &1, 0o600, Json::Compact).unwrap();
        assert!(!file.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(target.symlink_metadata().is_err(), "the target was created");
    }

    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let (_dir, path) = private_dir("xdist-test-").unwrap();
        let target = path.join("target");
        let link = path.join("x.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = lock(&link).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert!(target.symlink_metadata().is_err(), "the target was created");
        // A plain lock file is fine.
        drop(lock(&path.join("y.lock")).unwrap());
    }

    #[test]
    fn only_the_user_may_enter() {
        let (_dir, path) = private_dir("xdist-test-").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
}
