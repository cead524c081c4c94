//! Private scratch directories: every temporary directory cargo-xdist makes
//! (libtest logfiles, coverage profiles) can be entered by the user who ran
//! it and nobody else, whatever the umask (tempfile leaves the mode to it).
//!
//! And the files cargo-xdist keeps between runs (durations, the last-failed
//! record, caches under `<target dir>/xdist/`): [`write_json`] replaces one
//! atomically, with the mode it asks for; [`lock`] serialises the runs that
//! read, update and write one.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

/// A new mode-0700 directory in the system's temporary directory, removed
/// when the value is dropped.
pub fn private_dir(prefix: &str) -> Result<(tempfile::TempDir, Utf8PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .with_context(|| format!("cannot create a temporary directory ({prefix}...)"))?;
    let path = Utf8Path::from_path(dir.path())
        .context("the temporary directory's path is not UTF-8")?
        .to_path_buf();
    Ok((dir, path))
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
/// old content or the new, never half. Creates `file`'s directory.
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
/// directory) until the file returned is dropped.
pub fn lock(path: &Utf8Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {path}"))?;
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
    fn only_the_user_may_enter() {
        let (_dir, path) = private_dir("xdist-test-").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
}
