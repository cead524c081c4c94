//! Running an LLVM tool (llvm-profdata, llvm-cov): long argument lists
//! through a response file, stdout captured or into a file, a failure as
//! an error quoting the end of the tool's stderr.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

/// Longer argument lists than this go through a response file.
pub const RESPONSE_FILE_THRESHOLD: usize = 64 * 1024;

/// One argument quoted for an LLVM (GNU-style) response file.
pub fn response_file_arg(arg: &str) -> String {
    let mut out = String::from("\"");
    for c in arg.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(super) struct ToolOutput {
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: String,
}

/// Run `program first rest…`, through `@response-file` when `rest` is
/// long; stdout to `stdout_file` when given (large JSON), else captured.
pub(super) fn run(
    program: &std::path::Path,
    mut args: Vec<OsString>,
    stdout_file: Option<&Utf8Path>,
) -> Result<ToolOutput> {
    let shown = format!(
        "{} {}",
        program.display(),
        args.iter()
            .take(8)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let first = args.remove(0);
    let mut cmd = Command::new(program);
    cmd.arg(first);
    let total: usize = args.iter().map(|a| a.len() + 1).sum();
    let _rsp; // lives until the command has run
    if total > RESPONSE_FILE_THRESHOLD {
        let mut f = tempfile::Builder::new()
            .prefix("xdist-llvm-")
            .suffix(".rsp")
            .tempfile()?;
        for a in &args {
            let a = a.to_str().context("non-UTF-8 llvm-cov argument")?;
            writeln!(f, "{}", response_file_arg(a))?;
        }
        f.flush()?;
        let mut at = OsString::from("@");
        at.push(f.path());
        cmd.arg(at);
        _rsp = f;
    } else {
        cmd.args(&args);
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    match stdout_file {
        Some(path) => {
            cmd.stdout(fs_err::File::create(path)?.into_parts().0);
        }
        None => {
            cmd.stdout(Stdio::piped());
        }
    }
    let out = cmd.output().with_context(|| format!("running {shown}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{shown} … failed with {}:\n{}",
            crate::error::describe_status(&out.status),
            tail.join("\n")
        );
    }
    Ok(ToolOutput {
        stdout: out.stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_file_quoting() {
        assert_eq!(response_file_arg("-object"), "\"-object\"");
        assert_eq!(response_file_arg(r#"/a b\c"d"#), r#""/a b\\c\"d""#);
    }
}
