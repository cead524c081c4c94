//! Where configuration is read from: the process's environment and current
//! directory; paths given on the command line, made absolute against it
//! and checked writable before the build.

use camino::Utf8PathBuf;

use crate::error::UsageError;

/// A variable of this process's environment (what [`super::RunConfig::new`]
/// and [`super::db_clean_options`] read the environment with).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The current directory, as the config files are found from it.
pub(super) fn cwd() -> Result<std::path::PathBuf, UsageError> {
    std::env::current_dir().map_err(|e| {
        UsageError(format!(
            "cannot read the current directory ({e}); run from an existing directory"
        ))
    })
}

/// `path` made absolute against the current directory.
pub(super) fn absolute(path: &str) -> Result<Utf8PathBuf, UsageError> {
    let joined = cwd()?.join(path);
    Utf8PathBuf::from_path_buf(joined)
        .map_err(|p| UsageError(format!("{} is not UTF-8; use a UTF-8 path", p.display())))
}

/// Fail early, before the build, if `what` cannot be written at `path`.
pub(super) fn check_writable(path: &Utf8PathBuf, what: &str, flag: &str) -> Result<(), UsageError> {
    let fail = |e: std::io::Error| {
        UsageError(format!(
            "cannot write {what} {path} ({e}); choose a writable {flag} path"
        ))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
        fs_err::create_dir_all(parent).map_err(fail)?;
    }
    let existed = path.exists();
    fs_err::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(fail)?;
    if !existed {
        let _ = fs_err::remove_file(path);
    }
    Ok(())
}
