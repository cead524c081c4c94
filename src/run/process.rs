//! One child process: spawned in its own process group, stdout and stderr
//! read at the same time (so a noisy test cannot deadlock on a full pipe),
//! driven by a caller that sees every chunk and a periodic tick and may ask
//! for the whole group to be killed. When the process exits, whatever it
//! left behind in its group is killed too, so a test that leaves a child
//! running cannot hang the run.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;

use rustix::process::{Pid, Signal};
use std::time::{Duration, Instant};

/// Which pipe a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

enum Msg {
    Data(Stream, Vec<u8>),
    Eof,
}

/// What the driver sees.
pub enum Event<'a> {
    Output(Stream, &'a [u8]),
    Tick,
}

/// Why the driver asked for the process to be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// The running test exceeded `--timeout`: SIGKILL at once.
    Timeout,
    /// The run was interrupted: SIGINT, then SIGKILL after a grace period.
    Cancelled,
    /// `--dist worksteal`: the rest of the process's tests were taken by
    /// another worker. SIGKILL at once.
    Stolen,
}

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub killed: Option<KillReason>,
    /// The process's id (its profile file under `--coverage` names it).
    pub pid: u32,
}

/// How often the driver is ticked when the process is quiet.
const TICK: Duration = Duration::from_millis(50);
/// After SIGINT on cancellation, how long before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// After the process exits, how long to wait for the pipes to drain.
const DRAIN: Duration = Duration::from_millis(250);

/// Spawn `cmd` in a new process group with piped stdout/stderr and no stdin.
pub fn spawn(mut cmd: Command) -> std::io::Result<Running> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let (tx, rx) = channel();
    for (stream, pipe) in [
        (
            Stream::Stdout,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            Stream::Stderr,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let mut pipe = pipe.expect("piped");
        let tx = tx.clone();
        thread::Builder::new()
            .name("xdist-pipe".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send(Msg::Data(stream, buf[..n].to_vec())).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = tx.send(Msg::Eof);
            })?;
    }
    let pgid = Pid::from_child(&child);
    Ok(Running {
        child,
        pgid,
        rx,
        open_pipes: 2,
    })
}

/// A spawned process being driven.
pub struct Running {
    child: Child,
    pgid: Pid,
    rx: Receiver<Msg>,
    open_pipes: u8,
}

impl Running {
    /// Drive the process to its end. `on_event` sees each output chunk and a
    /// tick at least every 50 ms; returning `Some(reason)` kills the group.
    /// `cancelled` is polled on every tick.
    pub fn drive(
        mut self,
        cancelled: &dyn Fn() -> bool,
        mut on_event: impl FnMut(Event<'_>) -> Option<KillReason>,
    ) -> std::io::Result<Finished> {
        let mut killed: Option<KillReason> = None;
        let mut sigkill_at: Option<Instant> = None;
        let mut exited: Option<(ExitStatus, Instant)> = None;
        let mut last_tick = Instant::now();
        loop {
            if self.open_pipes == 0 {
                break;
            }
            if let Some((_, at)) = exited {
                if at.elapsed() > DRAIN {
                    // Something that escaped the group kill (a grandchild in
                    // its own session) still holds the pipes: stop reading.
                    break;
                }
            }
            let mut request = match self.rx.recv_timeout(TICK) {
                Ok(Msg::Data(stream, data)) => on_event(Event::Output(stream, &data)),
                Ok(Msg::Eof) => {
                    self.open_pipes -= 1;
                    None
                }
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            // Ticks come on time even while a test floods its pipes.
            if request.is_none() && last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                if exited.is_none() {
                    if let Some(status) = self.child.try_wait()? {
                        // The test process is gone; kill what it left behind
                        // so the pipes it inherited close.
                        self.kill_group(Signal::KILL);
                        exited = Some((status, Instant::now()));
                    }
                }
                request = if cancelled() && killed.is_none() {
                    Some(KillReason::Cancelled)
                } else {
                    on_event(Event::Tick)
                };
            }
            if let (Some(reason), None) = (request, killed) {
                killed = Some(reason);
                match reason {
                    KillReason::Timeout | KillReason::Stolen => self.kill_group(Signal::KILL),
                    KillReason::Cancelled => {
                        self.kill_group(Signal::INT);
                        sigkill_at = Some(Instant::now() + GRACE);
                    }
                }
            }
            if sigkill_at.is_some_and(|t| Instant::now() >= t) {
                self.kill_group(Signal::KILL);
                sigkill_at = None;
            }
        }
        let status = match exited {
            Some((status, _)) => status,
            None => {
                let status = if sigkill_at.is_some() {
                    self.wait_with_deadline()?
                } else {
                    self.child.wait()?
                };
                self.kill_group(Signal::KILL);
                status
            }
        };
        Ok(Finished {
            status,
            killed,
            pid: self.child.id(),
        })
    }

    fn wait_with_deadline(&mut self) -> std::io::Result<ExitStatus> {
        let deadline = Instant::now() + GRACE;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                self.kill_group(Signal::KILL);
                return self.child.wait();
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_group(&self, signal: Signal) {
        // The group may be gone already; nothing to do then.
        let _ = rustix::process::kill_process_group(self.pgid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::describe_status;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn reads_both_streams_and_exit_code() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let fin = spawn(sh("echo hello; echo oops >&2; exit 3"))
            .unwrap()
            .drive(&|| false, |e| {
                if let Event::Output(s, d) = e {
                    match s {
                        Stream::Stdout => out.extend_from_slice(d),
                        Stream::Stderr => err.extend_from_slice(d),
                    }
                }
                None
            })
            .unwrap();
        assert_eq!(out, b"hello\n");
        assert_eq!(err, b"oops\n");
        assert_eq!(describe_status(&fin.status), "exit code 3");
    }

    #[test]
    fn a_left_behind_child_does_not_hang_and_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 600 & echo $! > {}; exit 0", pidfile.display());
        let fin = spawn(sh(&script))
            .unwrap()
            .drive(&|| false, |_| None)
            .unwrap();
        assert!(fin.status.success());
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The probe must see a process that is certainly running.
        assert!(
            is_running(std::process::id() as i32),
            "is_running does not see this test process"
        );
        // The group kill has been sent; give the kernel a moment to reap.
        let mut alive = true;
        for _ in 0..100 {
            alive = is_running(pid);
            if !alive {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive, "the left-behind child {pid} is still running");
    }

    /// Whether `pid` exists and is not a zombie. A process that is gone
    /// (ESRCH) is not running; a process that exists but whose
    /// /proc/PID/stat cannot be read or parsed panics: /proc is unusable,
    /// and "cannot tell" must not count as "gone".
    fn is_running(pid: i32) -> bool {
        let exists = || {
            // SAFETY: signal 0 only checks for existence.
            if unsafe { libc::kill(pid, 0) } == 0 {
                return true;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::ESRCH), "kill({pid}, 0): {e}");
            false
        };
        if !exists() {
            return false;
        }
        let path = format!("/proc/{pid}/stat");
        let stat = match std::fs::read_to_string(&path) {
            Ok(stat) => stat,
            // Reaped between the two looks.
            Err(_) if !exists() => return false,
            Err(e) => panic!("cannot read {path} of a live process ({e}): is /proc mounted?"),
        };
        // The state follows the command name, which may contain spaces.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected {path}: {stat:?}"));
        state != "Z"
    }

    #[test]
    fn timeout_kill_reports_signal() {
        let start = Instant::now();
        let fin = spawn(sh("sleep 600"))
            .unwrap()
            .drive(&|| false, |e| match e {
                Event::Tick if start.elapsed() > Duration::from_millis(100) => {
                    Some(KillReason::Timeout)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(fin.killed, Some(KillReason::Timeout));
        assert_eq!(describe_status(&fin.status), "signal 9 (SIGKILL)");
    }

    #[test]
    fn large_output_on_both_pipes_does_not_deadlock() {
        let mut n = 0usize;
        let fin = spawn(sh(
            "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2",
        ))
        .unwrap()
        .drive(&|| false, |e| {
            if let Event::Output(_, d) = e {
                n += d.len();
            }
            None
        })
        .unwrap();
        assert!(fin.status.success());
        assert_eq!(n, 6_000_000);
    }
}
