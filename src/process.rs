//! One child process: spawned in its own process group, stdout and stderr
//! read at the same time (so a noisy test cannot deadlock on a full pipe;
//! `ppoll` on both, on the driving thread: no reader threads, no hand-off;
//! output may gather for up to a millisecond between reads),
//! driven by a caller that sees every chunk and a periodic tick and may ask
//! for the whole group to be killed. When the process exits, whatever it
//! left behind in its group is killed too, so a test that leaves a child
//! running cannot hang the run.
//!
//! What a test leaves running is found and killed when its process has
//! exited (see [`crate::leak`]): each process gets a tag of its own in its
//! environment, and [`Finished::leaked`] names what was still running with
//! it, or in its group, [`crate::leak::LEAK_TIMEOUT`] after it exited.
//!
//! The group is signalled only while its leader is unreaped: the driver
//! sees the leader exit without reaping it (`waitid` with `WNOWAIT`), kills
//! the group, unregisters it from the [`Cancel`] handle (which passes
//! Ctrl-C, Ctrl-Z and `fg` on to it), and only then reaps the leader. A
//! zombie leader keeps its process and group id taken, so no kill can reach
//! a process that got a recycled id.
//!
//! Nothing of a group outlives cargo-xdist, even when it is killed by
//! SIGKILL (the OOM killer, a CI runner's hard timeout), when no destructor
//! and no signal handler runs:
//!
//! - the leader gets SIGKILL when cargo-xdist dies (`PR_SET_PDEATHSIG`, see
//!   [`die_with_parent`]). The kernel sends it when the *thread* that
//!   spawned the process ends, so a [`Running`] cannot leave the thread that
//!   spawned it (it is not `Send`) and is driven there to its end;
//! - the leader's own children (a test's helper process, the rustdoc
//!   processes under `cargo test --doc`) do not get that signal, so a
//!   watchdog kills the groups: a small `sh` in a process group of its own
//!   (out of reach of the terminal's Ctrl-C) that reads `+ PGID` and `- PGID`
//!   lines from a pipe whose write end only cargo-xdist holds. A group is
//!   added once spawned and removed before its leader is reaped (its id is
//!   still taken then); when the pipe closes, the watchdog SIGKILLs every
//!   group still listed and exits. After a normal run none is listed.

use std::io::Write;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use std::time::{Duration, Instant};

use crate::leak::{self, Leaked, Tag};
use crate::signal::Cancel;

/// Which pipe a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What the driver sees.
pub enum Event<'a> {
    Output(Stream, &'a [u8]),
    Tick,
}

/// Why the driver asked for the process to be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// The running test exceeded `--timeout` (or a listing its limit):
    /// SIGKILL at once.
    Timeout,
    /// The run was interrupted: the group gets the interrupting signal, then
    /// SIGKILL after a grace period (at once after a second signal).
    Cancelled,
}

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub killed: Option<KillReason>,
    /// The process's id (its profile file under `--coverage` names it).
    pub pid: u32,
    /// What it left running when it exited (in its group, or started by
    /// it and carrying its tag), killed since.
    pub leaked: Vec<Leaked>,
}

/// How often the driver is ticked when the process is quiet.
const TICK: Duration = Duration::from_millis(50);
/// After a read, how long output may gather in the pipes before the next.
/// A libtest process writes twice a test; read at once, each write woke
/// the driving thread, and on a busy machine those wake-ups cost more than
/// the tests. So the reader wakes at most once a millisecond while a
/// process writes, and a verdict is seen at most this late: the times
/// measured between verdicts are accurate to it, the precision they are
/// shown with. A process's exit ends the wait at once.
const GATHER: Duration = Duration::from_millis(1);
/// How long output is read without [`GATHER`]'s waits once a writer
/// filled the pipe during one (it was blocked then): a test that floods
/// its output runs at the speed the reader reads, and one wait in this
/// long costs it at most a millisecond.
const FLOOD: Duration = Duration::from_millis(100);
/// A read of at least this much is (nearly) a full pipe: more than a test
/// process's own lines bring in a millisecond (a few hundred bytes a test).
const FLOODED: usize = 32 * 1024;
/// After the interrupting signal, how long before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// After the process exits, how long to wait for the pipes to drain.
const DRAIN: Duration = Duration::from_millis(250);
/// After [`DRAIN`], most bytes already read from the pipes still passed on.
const QUEUED_AFTER_DRAIN: usize = 16 * 1024 * 1024;

/// Spawn `cmd` in a new process group with piped stdout/stderr and no stdin.
pub fn spawn(mut cmd: Command) -> std::io::Result<Running> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    let tag = Tag::new();
    cmd.env(leak::TAG_VAR, tag.as_str());
    die_with_parent(&mut cmd);
    let mut child = leak::spawn(&mut cmd)?;
    let pgid = Pid::from_child(&child);
    watchdog(pgid, '+');
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    Ok(Running {
        child,
        pgid,
        tag,
        leaked: Vec::new(),
        pipes: [
            Some((Stream::Stdout, stdout.into())),
            Some((Stream::Stderr, stderr.into())),
        ],
        buf: vec![0u8; 64 * 1024],
        exit_fd: pidfd(pgid),
        not_send: PhantomData,
    })
}

/// A pidfd of process `pid` (Linux 5.3 and later), which `poll` reports
/// readable when the process has exited.
fn pidfd(pid: Pid) -> Option<OwnedFd> {
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// Wait up to `timeout` (to the nanosecond: `ppoll`, not `poll`'s whole
/// milliseconds) for any of `fds` to become readable; the readiness of
/// each, in order (all `false` on a timeout or an interrupted wait).
fn poll_readable<'a>(fds: impl IntoIterator<Item = &'a OwnedFd>, timeout: Duration) -> Vec<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut polled: Vec<PollFd<'_>> = (fds.into_iter())
        .map(|fd| PollFd::new(fd, PollFlags::IN))
        .collect();
    let timeout = Timespec::try_from(timeout).ok();
    let ready = rustix::event::poll(&mut polled, timeout.as_ref()).unwrap_or(0);
    polled
        .iter()
        .map(|p| ready > 0 && !p.revents().is_empty())
        .collect()
}

/// Make the process `cmd` starts get SIGKILL when this process dies
/// (`PR_SET_PDEATHSIG`), strictly: when the thread that spawns it ends, so
/// spawn it from a thread that outlives it. Should this process have died
/// before the signal was set up (the new process's parent is then another),
/// the new process does not start.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    let setup = move || {
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
        if rustix::process::getppid() != Some(parent) {
            // No allocation between fork and exec: a plain OS error.
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the closure makes two system calls and allocates nothing, as
    // code between fork and exec must.
    unsafe {
        cmd.pre_exec(setup);
    }
}

/// What the watchdog runs: `$g` holds the listed groups, space-separated
/// with a space on each side; on end of input each gets SIGKILL.
const WATCHDOG_SCRIPT: &str = r#"g=' '
while read -r op id; do
  case $op in
    +) g="$g$id " ;;
    -) case $g in *" $id "*) g="${g%% "$id" *} ${g#* "$id" }" ;; esac ;;
  esac
done
for id in $g; do kill -s KILL -- "-$id" 2>/dev/null; done
"#;

/// The watchdog's input (`None`: it could not be started).
static WATCHDOG: OnceLock<Option<Mutex<ChildStdin>>> = OnceLock::new();

/// Start the watchdog now, on a thread of its own, so that the first test
/// process does not wait for its shell (a run calls this before its build;
/// otherwise the first process starts it).
pub fn start_watchdog_soon() {
    let _ = thread::Builder::new()
        .name("xdist-watchdog".into())
        .spawn(|| {
            watchdog_pipe();
        });
}

fn watchdog_pipe() -> &'static Option<Mutex<ChildStdin>> {
    WATCHDOG.get_or_init(|| match start_watchdog() {
        Ok(pipe) => Some(Mutex::new(pipe)),
        Err(e) => {
            eprintln!(
                "warning: cannot start the watchdog of test processes (sh: {e}); \
                 should cargo-xdist be killed, children of its test processes may outlive it"
            );
            None
        }
    })
}

/// Tell the watchdog (started on first use) that group `pgid` now runs
/// (`op` `+`) or is about to be reaped (`-`).
fn watchdog(pgid: Pid, op: char) {
    if let Some(pipe) = watchdog_pipe() {
        let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
        // One short write, so lines from several threads never interleave.
        // Should the watchdog be gone, the death signal still reaches the
        // leaders.
        let _ = pipe.write_all(format!("{op} {}\n", pgid.as_raw_nonzero()).as_bytes());
    }
}

fn start_watchdog() -> std::io::Result<ChildStdin> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WATCHDOG_SCRIPT)
        // Nothing of the run's environment: nobody mistakes it for a
        // process of the run, and no variable changes what sh does.
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's foreground job, so the SIGINT of a Ctrl-C
        // does not end it while cargo-xdist still cleans up.
        .process_group(0);
    let mut child = leak::spawn(&mut cmd)?;
    let pipe = child.stdin.take().expect("piped stdin");
    // Never waited for: it ends after this process, which holds the only
    // write end of its input (it is close-on-exec, so no test inherits it).
    drop(child);
    Ok(pipe)
}

/// What [`output`] collected.
#[derive(Debug)]
pub struct Output {
    pub finished: Finished,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run `cmd` to its end as [`Command::output`] does, but in a process group
/// of its own that is killed after `limit` (stopped time not counted;
/// [`KillReason::Timeout`]) or when the run is cancelled.
pub fn output(cmd: Command, cancel: &Cancel, limit: Duration) -> std::io::Result<Output> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let clock = cancel.stopwatch();
    let finished = spawn(cmd)?.drive(cancel, |event| match event {
        Event::Output(Stream::Stdout, data) => {
            stdout.extend_from_slice(data);
            None
        }
        Event::Output(Stream::Stderr, data) => {
            stderr.extend_from_slice(data);
            None
        }
        Event::Tick => (clock.elapsed() > limit).then_some(KillReason::Timeout),
    })?;
    Ok(Output {
        finished,
        stdout,
        stderr,
    })
}

/// A spawned process being driven.
pub struct Running {
    child: Child,
    pgid: Pid,
    /// The tag in its environment, which what it starts inherits.
    tag: Tag,
    /// What it left running when it exited.
    leaked: Vec<Leaked>,
    /// Its stdout and stderr, read on this thread (`None` once closed).
    pipes: [Option<(Stream, OwnedFd)>; 2],
    /// A pidfd of the leader, readable once it has exited (`None`: the
    /// kernel has none; the exit is then looked for at growing intervals).
    exit_fd: Option<OwnedFd>,
    buf: Vec<u8>,
    /// Driven on the thread that spawned it (see the module docs).
    not_send: PhantomData<*const ()>,
}

impl Running {
    /// Drive the process to its end. `on_event` sees each output chunk and a
    /// tick at least every 50 ms; returning `Some(reason)` kills the group.
    /// `cancel` is polled on every tick, and passes Ctrl-Z and `fg` on to
    /// the group while it runs.
    pub fn drive(
        mut self,
        cancel: &Cancel,
        on_event: impl FnMut(Event<'_>) -> Option<KillReason>,
    ) -> std::io::Result<Finished> {
        cancel.watch_group(self.pgid);
        let driven = self.drive_until_exit(cancel, on_event);
        // The leader is not reaped yet, so the group id is still this
        // group's: kill what is left, stop signalling it, then reap.
        self.kill_group(Signal::KILL);
        leak::kill(&self.leaked);
        cancel.unwatch_group(self.pgid);
        watchdog(self.pgid, '-');
        let status = self.child.wait()?;
        leak::reaped(self.child.id());
        Ok(Finished {
            status,
            killed: driven?,
            pid: self.child.id(),
            leaked: self.leaked,
        })
    }

    /// Pass on what the pipes hold now, without waiting for more (at most
    /// [`QUEUED_AFTER_DRAIN`] bytes, should a leftover process keep
    /// writing).
    fn hand_on_available(&mut self, on_event: &mut impl FnMut(Event<'_>) -> Option<KillReason>) {
        let mut budget = QUEUED_AFTER_DRAIN;
        while budget > 0 && self.open_pipes() > 0 {
            match self.read_ready(Duration::ZERO, on_event) {
                (0, _) => return,
                (n, _) => budget = budget.saturating_sub(n),
            }
        }
    }

    fn open_pipes(&self) -> usize {
        self.pipes.iter().flatten().count()
    }

    /// Wait up to `timeout` for output on the open pipes, read once from
    /// each that is ready and pass it on; a pipe at its end (or broken) is
    /// closed. Returns the bytes read and the first kill `on_event` asked
    /// for.
    fn read_ready(
        &mut self,
        timeout: Duration,
        on_event: &mut impl FnMut(Event<'_>) -> Option<KillReason>,
    ) -> (usize, Option<KillReason>) {
        let ready = poll_readable(self.pipes.iter().flatten().map(|(_, fd)| fd), timeout);
        let (mut total, mut request) = (0, None);
        let mut ready = ready.into_iter();
        for slot in self.pipes.iter_mut() {
            let Some((stream, fd)) = slot else { continue };
            if ready.next() != Some(true) {
                continue;
            }
            match rustix::io::read(&*fd, &mut self.buf[..]) {
                Ok(n) if n > 0 => {
                    total += n;
                    let asked = on_event(Event::Output(*stream, &self.buf[..n]));
                    request = request.or(asked);
                }
                Err(rustix::io::Errno::INTR) => {}
                // End of file, or an error: the pipe is done.
                _ => *slot = None,
            }
        }
        (total, request)
    }

    /// Run the event loop until the leader has exited (it stays unreaped)
    /// and its pipes are drained; returns why it was killed, if it was.
    fn drive_until_exit(
        &mut self,
        cancel: &Cancel,
        mut on_event: impl FnMut(Event<'_>) -> Option<KillReason>,
    ) -> std::io::Result<Option<KillReason>> {
        let mut killed: Option<KillReason> = None;
        let mut sigkill_at: Option<Instant> = None;
        let mut exited: Option<Instant> = None;
        let mut last_tick = Instant::now();
        let mut quiet = Duration::from_micros(500);
        // Output gathers between reads ([`GATHER`]) unless a writer filled
        // the buffer during the last wait: until then, reads come at once.
        let mut gather_from = Instant::now();
        let mut waited = false;
        loop {
            if let Some(at) = exited {
                if self.open_pipes() == 0 {
                    return Ok(killed);
                }
                // Something that escaped the group kill (a grandchild in
                // its own session) may still hold the pipes: stop waiting
                // for more, but hand on what the pipes already hold.
                if at.elapsed() > DRAIN {
                    self.hand_on_available(&mut on_event);
                    return Ok(killed);
                }
            }
            let mut request = if self.open_pipes() == 0 {
                // Pipes closed: the process is exiting (or, rarely, goes on
                // without them). Look for the exit at once and then at
                // growing intervals up to a tick, not only on ticks: a
                // group's processes end one after another, and waiting up
                // to 50 ms at each end added seconds to a run of many files.
                if exited.is_none() && self.leader_exited()? {
                    self.on_leader_exit();
                    exited = Some(Instant::now());
                    continue;
                }
                let wait = TICK.saturating_sub(last_tick.elapsed());
                // Woken by the exit itself where the kernel has pidfds.
                if exited.is_some() || !self.await_exit(wait) {
                    thread::sleep(quiet.min(wait));
                    quiet = (quiet * 2).min(TICK);
                }
                None
            } else {
                let wait = TICK.saturating_sub(last_tick.elapsed());
                let (n, request) = self.read_ready(wait, &mut on_event);
                // Half a pipe or more: the writer (nearly) filled the pipe
                // (16 pages, less than 64 KiB with small writes), and was
                // blocked if it did so during a wait. Read at once then,
                // and for a while: a flood, which waits would slow down.
                let full = n >= FLOODED;
                if waited && full {
                    gather_from = Instant::now() + FLOOD;
                }
                // Let more output gather before the next read, unless the
                // pipes held more than one read takes or a flood goes on;
                // the process's exit ends the wait (its pidfd wakes it).
                waited = n > 0 && !full && request.is_none() && Instant::now() >= gather_from;
                if waited {
                    let pause = GATHER.min(TICK.saturating_sub(last_tick.elapsed()));
                    if !self.await_exit(pause) {
                        thread::sleep(pause);
                    }
                }
                request
            };
            // Ticks come on time even while a test floods its pipes.
            if request.is_none() && last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                if exited.is_none() && self.leader_exited()? {
                    // The test process is gone; kill what it left behind
                    // so the pipes it inherited close.
                    self.on_leader_exit();
                    exited = Some(Instant::now());
                }
                request = if cancel.is_cancelled() && killed.is_none() {
                    Some(KillReason::Cancelled)
                } else {
                    on_event(Event::Tick)
                };
            }
            if exited.is_some() {
                // Nothing left to kill.
                continue;
            }
            if let (Some(reason), None) = (request, killed) {
                killed = Some(reason);
                match reason {
                    KillReason::Timeout => self.kill_group(Signal::KILL),
                    // A second signal came before this process saw the first.
                    KillReason::Cancelled if cancel.is_hurried() => self.kill_group(Signal::KILL),
                    KillReason::Cancelled => {
                        self.kill_group(cancel.signal());
                        sigkill_at = Some(Instant::now() + GRACE);
                    }
                }
            }
            if sigkill_at.is_some_and(|t| cancel.is_hurried() || Instant::now() >= t) {
                self.kill_group(Signal::KILL);
                sigkill_at = None;
            }
        }
    }

    /// The leader has exited (unreaped): note what it left running (given
    /// [`leak::LEAK_TIMEOUT`] to exit), then kill its group. What left the
    /// group is killed before the leader is reaped.
    fn on_leader_exit(&mut self) {
        self.leaked = self.tag.left_behind(self.pgid);
        self.kill_group(Signal::KILL);
    }

    /// Wait up to `limit` for the leader to exit, on its pidfd; `false`
    /// (at once) when there is none, and the caller must wait otherwise.
    fn await_exit(&self, limit: Duration) -> bool {
        let Some(fd) = &self.exit_fd else {
            return false;
        };
        poll_readable([fd], limit);
        true
    }

    /// Whether the leader has exited, without reaping it.
    fn leader_exited(&self) -> std::io::Result<bool> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        Ok(rustix::process::waitid(WaitId::Pid(self.pgid), options)?.is_some())
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
    fn a_slow_consumer_gets_all_output_of_a_process_that_exited() {
        // The process writes 400 KB and exits at once; the consumer takes
        // far longer than the drain period to handle it. Nothing may be
        // dropped: it was read from the pipes before the drain ran out.
        let cancel = Cancel::default();
        let running = spawn(sh("head -c 400000 /dev/zero; exit 0")).unwrap();
        let mut got = 0;
        let finished = running
            .drive(&cancel, |event| {
                if let Event::Output(_, data) = event {
                    got += data.len();
                    std::thread::sleep(Duration::from_millis(20));
                }
                None
            })
            .unwrap();
        assert!(finished.status.success());
        assert_eq!(got, 400_000);
    }

    #[test]
    fn reads_both_streams_and_exit_code() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let fin = spawn(sh("echo hello; echo oops >&2; exit 3"))
            .unwrap()
            .drive(&Cancel::default(), |e| {
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
            .drive(&Cancel::default(), |_| None)
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

    /// A daemon that leaves the group (`setsid`) and a child left in it
    /// are both named in `leaked`, and neither runs after `drive`.
    #[test]
    fn what_a_process_left_running_is_named_and_killed() {
        // Left on: tests running alongside may rely on it too.
        crate::leak::adopt_orphans(true);
        let execed = crate::leak::tests::EXECED;
        let fin = spawn(sh(&format!(
            "setsid sleep 600 </dev/null >/dev/null 2>&1 & {execed} \
             sleep 601 </dev/null >/dev/null 2>&1 & {execed} exit 0"
        )))
        .unwrap()
        .drive(&Cancel::default(), |_| None)
        .unwrap();
        let mut commands: Vec<&str> = fin.leaked.iter().map(|l| l.command.as_str()).collect();
        commands.sort();
        assert_eq!(commands, ["sleep 600", "sleep 601"], "{:?}", fin.leaked);
        for l in &fin.leaked {
            assert!(!is_running(l.pid as i32), "{l:?} still runs");
        }
        // A process that leaves nothing has nothing named.
        let fin = spawn(sh("exit 0"))
            .unwrap()
            .drive(&Cancel::default(), |_| None)
            .unwrap();
        assert!(fin.leaked.is_empty(), "{:?}", fin.leaked);
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
            .drive(&Cancel::default(), |e| match e {
                Event::Tick if start.elapsed() > Duration::from_millis(100) => {
                    Some(KillReason::Timeout)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(fin.killed, Some(KillReason::Timeout));
        assert_eq!(describe_status(&fin.status), "signal 9 (SIGKILL)");
    }

    /// The state letter of process `pid` in /proc (`R`, `S`, `T`, `Z`...).
    fn state(pid: u32) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
        let (_, rest) = stat.rsplit_once(')').expect("stat has (comm)");
        rest.trim_start().chars().next().expect("a state")
    }

    /// Drive a shell that traps SIGINT (and so outlives it) until `cancel`
    /// is signalled `signals` times; returns how it ended and its output.
    fn cancel_stubborn(signals: usize) -> (Finished, String) {
        let cancel = Cancel::default();
        let mut out = String::new();
        let script = "trap 'echo got-int' INT; echo ready; while :; do sleep 0.05; done";
        let fin = spawn(sh(script))
            .unwrap()
            .drive(&cancel, |e| {
                if let Event::Output(_, d) = e {
                    out.push_str(&String::from_utf8_lossy(d));
                    if out.contains("ready") && !cancel.is_cancelled() {
                        (0..signals).for_each(|_| cancel.cancel(libc::SIGINT));
                    }
                }
                None
            })
            .unwrap();
        (fin, out)
    }

    #[test]
    fn cancellation_passes_the_signal_on_then_kills_after_the_grace() {
        let (fin, out) = cancel_stubborn(1);
        assert_eq!(fin.killed, Some(KillReason::Cancelled));
        assert!(out.contains("got-int"), "SIGINT was not passed on: {out:?}");
        assert_eq!(describe_status(&fin.status), "signal 9 (SIGKILL)");
    }

    #[test]
    fn a_second_signal_kills_without_the_grace() {
        let (fin, out) = cancel_stubborn(2);
        assert_eq!(fin.killed, Some(KillReason::Cancelled));
        assert!(!out.contains("got-int"), "SIGINT was sent first: {out:?}");
        assert_eq!(describe_status(&fin.status), "signal 9 (SIGKILL)");
    }

    #[test]
    fn job_control_reaches_the_group_while_it_runs() {
        let cancel = Cancel::default();
        let mut out = String::new();
        let mut seen = Vec::new();
        let fin = spawn(sh("echo $$; exec sleep 600"))
            .unwrap()
            .drive(&cancel, |e| {
                if let Event::Output(_, d) = e {
                    out.push_str(&String::from_utf8_lossy(d));
                }
                let pid: u32 = out.trim().parse().ok().filter(|_| seen.is_empty())?;
                for stopped in [true, false] {
                    cancel.set_stopped(stopped);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while (state(pid) == 'T') != stopped && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(10));
                    }
                    seen.push(state(pid));
                }
                Some(KillReason::Timeout)
            })
            .unwrap();
        assert_eq!(fin.killed, Some(KillReason::Timeout));
        assert_eq!(seen.len(), 2, "{out:?}");
        assert_eq!(seen[0], 'T', "Ctrl-Z did not stop the group");
        assert_ne!(seen[1], 'T', "fg did not resume the group");
    }

    #[test]
    fn the_leader_stays_a_zombie_until_its_group_is_killed() {
        let running = spawn(sh("exit 0")).unwrap();
        let pid = running.child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !running.leader_exited().unwrap() {
            assert!(Instant::now() < deadline, "sh did not exit");
            thread::sleep(Duration::from_millis(10));
        }
        // Seen exited, not reaped: the id cannot have been given to another
        // process yet.
        assert_eq!(state(pid), 'Z');
        let fin = running.drive(&Cancel::default(), |_| None).unwrap();
        assert!(fin.status.success());
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || state(pid) != 'Z');
    }

    #[test]
    fn a_process_that_closed_its_pipes_still_times_out() {
        let start = Instant::now();
        let fin = spawn(sh("exec >&- 2>&-; sleep 600"))
            .unwrap()
            .drive(&Cancel::default(), |e| match e {
                Event::Tick if start.elapsed() > Duration::from_millis(200) => {
                    Some(KillReason::Timeout)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(fin.killed, Some(KillReason::Timeout));
    }

    /// The watchdog's script, given `+ PGID` and `- PGID` lines, kills the
    /// groups still listed when its input closes, and only those.
    #[test]
    fn the_watchdog_kills_the_listed_groups_when_its_input_closes() {
        let start = |script: &str| {
            let mut c = sh(script);
            c.process_group(0).stdin(Stdio::null());
            c.spawn().unwrap()
        };
        // Two groups: the first listed to the end, the second unlisted
        // before, each a shell that waits for a `sleep` in its group.
        let mut groups = [start("sleep 600 & wait"), start("sleep 600 & wait")];
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = watchdog.stdin.take().unwrap();
        let [a, b] = [groups[0].id(), groups[1].id()];
        write!(input, "+ {a}\n+ {b}\n- {b}\n").unwrap();
        drop(input);
        assert!(watchdog.wait().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = groups[0].try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let unlisted_alive = groups[1].try_wait().unwrap().is_none();
        // The test's own cleanup of the groups it started.
        for group in &mut groups {
            let _ = rustix::process::kill_process_group(Pid::from_child(group), Signal::KILL);
            let _ = group.wait();
        }
        let status = status.expect("the listed group was not killed");
        assert_eq!(describe_status(&status), "signal 9 (SIGKILL)");
        assert!(unlisted_alive, "an unlisted group was killed");
    }

    #[test]
    fn large_output_on_both_pipes_does_not_deadlock() {
        let mut n = 0usize;
        let fin = spawn(sh(
            "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2",
        ))
        .unwrap()
        .drive(&Cancel::default(), |e| {
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
