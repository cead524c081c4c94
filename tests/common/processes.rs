//! Leftover processes: what of a run is still alive, found through /proc.

use std::time::Duration;

use super::records::is_run_id;
use super::wait::{POLL, poll};
use super::xdist::Run;

/// Live (non-zombie) processes whose environment contains `needle`
/// (e.g. `XDIST_TESTRUNUID=<id>`), with their command lines.
///
/// Panics when /proc cannot be scanned (missing, empty, or this process's
/// own entry unreadable): an empty answer must mean "no such process", never
/// "could not look".
pub fn processes_with_env(needle: &str) -> Vec<(i32, String)> {
    let needle = needle.as_bytes();
    let me = std::process::id() as i32;
    let mut saw_me = false;
    let mut found = Vec::new();
    let rd = std::fs::read_dir("/proc")
        .unwrap_or_else(|e| panic!("cannot scan /proc for leftover processes: {e}"));
    for entry in rd {
        let entry = entry.unwrap_or_else(|e| panic!("cannot scan /proc: {e}"));
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let env = match std::fs::read(dir.join("environ")) {
            Ok(env) => env,
            // Our own entry must be readable, or the scan sees nothing.
            Err(e) if pid == me => panic!("cannot read {}/environ: {e}", dir.display()),
            // Gone since the listing (ENOENT), a kernel thread (ESRCH) or a
            // non-dumpable process of someone else (EACCES).
            Err(_) => continue,
        };
        if pid == me {
            saw_me = true;
        }
        if !env.split(|b| *b == 0).any(|kv| kv == needle) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue; // exited since its environ was read
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .unwrap_or_else(|| panic!("unexpected {}/stat: {stat:?}", dir.display()));
        if state == 'Z' {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        found.push((pid, cmdline));
    }
    assert!(
        saw_me,
        "the /proc scan did not find this test process ({me}): /proc is not usable here"
    );
    found
}

/// No process of run `run_id` may be left once the tool has returned
/// (zombies excepted; the kernel gets up to ~5 s to reap). Leftovers are
/// killed (by pid) before the assertion fails, so they do not outlive the test.
pub fn assert_no_leftover_processes(run: &Run, run_id: &str) {
    assert!(is_run_id(run_id), "bad run id {run_id:?}{}", run.ctx());
    let needle = format!("XDIST_TESTRUNUID={run_id}");
    let mut left = Vec::new();
    let gone = poll(POLL, Duration::from_secs(5), || {
        left = processes_with_env(&needle);
        left.is_empty().then_some(())
    });
    if gone.is_none() {
        for (pid, _) in &left {
            // These are descendants of the run this test started.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        panic!(
            "processes of run {run_id} are still alive after cargo-xdist returned (killed now):\n  {}{}",
            left.iter()
                .map(|(p, c)| format!("{p}: {c}"))
                .collect::<Vec<_>>()
                .join("\n  "),
            run.ctx()
        );
    }
    assert!(
        !run.pipes_left_open,
        "cargo-xdist's stdout/stderr stayed open after it exited (a leftover process holds them){}",
        run.ctx()
    );
}
