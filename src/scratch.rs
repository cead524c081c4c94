//! Private scratch directories: every temporary directory cargo-xdist makes
//! (libtest logfiles, coverage profiles) can be entered by the user who ran
//! it and nobody else, whatever the umask (tempfile leaves the mode to it).

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_user_may_enter() {
        let (_dir, path) = private_dir("xdist-test-").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
}
