//! Processes a test leaves running after its process exits: found, named,
//! killed, and reaped, so that none outlives the run.
//!
//! While the run stage runs, cargo-xdist is a child subreaper
//! ([`adopt_orphans`], `PR_SET_CHILD_SUBREAPER`): a process whose parent
//! exits (a `setsid ... &` daemon whose shell has gone) is re-parented to
//! cargo-xdist rather than to init, so it stays among cargo-xdist's
//! descendants. Every spawned test process carries a tag of its own in its
//! environment ([`TAG_VAR`], see [`Tag`]), which what it starts inherits.
//! When a test process has exited (unreaped, so its group id is still
//! taken), the processes it left are those still running either in its
//! process group or, among cargo-xdist's descendants, with its tag
//! ([`Tag::left_behind`]). A daemon that both leaves the group and clears
//! its environment is not found (it is not attributable); at the end of
//! the run, [`sweep`] kills what still carries any tag of the run.
//!
//! Reaping: cargo-xdist's own children are waited for by their
//! `std::process::Child` handles, by pid. An orphan re-parented to
//! cargo-xdist is waited for here, again only by its own pid, and only
//! once it has been seen running as a leftover (in a test process's group
//! or with its tag, so it is certainly no `Child` of ours: those are
//! spawned directly, in a group of their own or in cargo-xdist's); never
//! with `waitpid(-1)`, which would steal the statuses of others' children.
//! An orphan that exits on its own while its test process still runs
//! stays a zombie until cargo-xdist exits (it cannot be told from a
//! `Child` of ours then).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

/// The environment variable each spawned test process gets, unique to it.
pub const TAG_VAR: &str = "CARGO_XDIST_PROCESS_TAG";

/// How long a test process's leftovers get to exit on their own after it
/// exited before they count as leaked (nextest's default leak timeout).
pub const LEAK_TIMEOUT: Duration = Duration::from_millis(100);

/// After SIGKILL, how long to wait for a leaked process to be gone.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Make this process the child subreaper of its descendants (`true`), or
/// stop being it (`false`). Orphans of the test processes then come back
/// to cargo-xdist instead of init, where [`Tag::left_behind`] finds them.
/// Set for the run stage only: a database server started before it stays
/// init's.
pub fn adopt_orphans(on: bool) {
    let me = on.then(rustix::process::getpid);
    if let Err(e) = rustix::process::set_child_subreaper(me) {
        if on {
            eprintln!(
                "warning: cannot become the subreaper of test processes ({e}); \
                 daemons a test starts may go unnoticed"
            );
        }
    }
}

/// The tag of one spawned process: this process's pid and a sequence
/// number, so a nested cargo-xdist's tags never match ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// A fresh tag.
    pub fn new() -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        Tag(format!(
            "{}{}",
            prefix(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The processes the exited (unreaped) process `leader` left running:
    /// those of its process group, and this process's descendants with
    /// this tag. Waits up to [`LEAK_TIMEOUT`] for them to exit on their
    /// own; returns those that did not. They are not killed here.
    pub fn left_behind(&self, leader: Pid) -> Vec<Leaked> {
        // Whatever the exited process left running was re-parented to
        // this process (the subreaper) when it exited: with no child but
        // those spawned on purpose, nothing was left (the common case,
        // without reading every process of the machine).
        if only_spawned_children() {
            return Vec::new();
        }
        let leader = leader.as_raw_nonzero().get().unsigned_abs();
        let find =
            || scan(|p, tag| p.pid != leader && (p.pgrp == leader || tag == Some(self.as_str())));
        let deadline = Instant::now() + LEAK_TIMEOUT;
        let mut left = find();
        // Looked for again each time, not followed: a daemon that forks
        // and exits (double fork) leaves a new process.
        while !left.is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
            left = find();
        }
        left
    }
}

impl Default for Tag {
    fn default() -> Self {
        Tag::new()
    }
}

/// The children this process started on purpose (through
/// [`crate::process`]), until they are reaped.
static SPAWNED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Start `cmd`, a child started on purpose: it is noted before anyone
/// can see it among this process's children (another worker's check
/// would otherwise take it for a leftover and scan every process).
pub fn spawn(cmd: &mut std::process::Command) -> std::io::Result<std::process::Child> {
    let mut spawned = SPAWNED.lock().unwrap_or_else(|e| e.into_inner());
    let child = cmd.spawn()?;
    spawned.push(child.id());
    Ok(child)
}

/// Child `pid` was reaped.
pub fn reaped(pid: u32) {
    SPAWNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&p| p != pid);
}

/// Whether every child of this process (of any of its threads) is one it
/// started on purpose; false when that cannot be read.
fn only_spawned_children() -> bool {
    // A thread that ends between listing the tasks and reading its
    // children (a worker's helper thread, say) has none left: its
    // children went to another thread.
    // The tasks are listed again then, rather than scanning every process
    // of the machine, which cost several ms per test process.
    for _ in 0..4 {
        match spawned_children_only() {
            Some(only) => return only,
            None => continue,
        }
    }
    false
}

/// [`only_spawned_children`] once; `None` when a thread ended meanwhile.
fn spawned_children_only() -> Option<bool> {
    let Ok(tasks) = fs_err::read_dir("/proc/self/task") else {
        return Some(false);
    };
    let spawned = SPAWNED.lock().unwrap_or_else(|e| e.into_inner());
    for task in tasks {
        let Ok(task) = task else { return Some(false) };
        let kids = match fs_err::read_to_string(task.path().join("children")) {
            Ok(kids) => kids,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => return Some(false),
        };
        for kid in kids.split_whitespace() {
            match kid.parse::<u32>() {
                Ok(pid) if spawned.contains(&pid) => {}
                _ => return Some(false),
            }
        }
    }
    Some(true)
}

/// The start of every tag of this process.
fn prefix() -> String {
    format!("{}-", std::process::id())
}

/// One process a test left running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaked {
    pub pid: u32,
    /// Its command line (arguments joined by spaces), else its name.
    pub command: String,
    /// When it started (clock ticks after boot, /proc/PID/stat's
    /// `starttime`): tells it from a later process given the same pid.
    start_ticks: u64,
    /// When it started, on [`Instant`]'s clock (to a clock tick, 10 ms).
    pub started: Option<Instant>,
}

impl Leaked {
    /// As the run's events name it.
    pub fn event(&self) -> crate::event::LeakedProcess {
        crate::event::LeakedProcess {
            pid: self.pid,
            command: self.command.clone(),
        }
    }
}

/// `leaked` grouped by the tests `culprits` lays each process to: each
/// set of tests with the processes it left, as events, in first-seen order.
pub fn by_culprits<T: PartialEq>(
    leaked: &[Leaked],
    culprits: impl Fn(&Leaked) -> Vec<T>,
) -> Vec<(Vec<T>, Vec<crate::event::LeakedProcess>)> {
    let mut groups: Vec<(Vec<T>, Vec<crate::event::LeakedProcess>)> = Vec::new();
    for l in leaked {
        let tests = culprits(l);
        match groups.iter_mut().find(|(t, _)| *t == tests) {
            Some((_, processes)) => processes.push(l.event()),
            None => groups.push((tests, vec![l.event()])),
        }
    }
    groups
}

/// What /proc/PID/stat says of one process.
#[derive(Debug, Clone)]
struct Stat {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    state: char,
    start_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name, in parentheses, may hold spaces and parentheses: the
    // fields follow the last `)`.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 3 (state), 4 (ppid), 5 (pgrp), 22 (starttime), counted from 1
    // with pid and name as 1 and 2.
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Every process there is now.
fn all() -> Vec<Stat> {
    let Ok(dir) = fs_err::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(stat)
        .collect()
}

/// The running (not zombie) descendants of this process for which
/// `wanted(stat, tag)` holds, `tag` being the value of [`TAG_VAR`] in
/// their environment.
fn scan(wanted: impl Fn(&Stat, Option<&str>) -> bool) -> Vec<Leaked> {
    let procs = all();
    let me = std::process::id();
    let mut ours = vec![me];
    let mut found = Vec::new();
    // Parents are listed before their children most of the time, not
    // always (pids wrap): go round until nothing new joins.
    let mut rest: Vec<&Stat> = procs.iter().filter(|p| p.pid != me).collect();
    loop {
        let before = ours.len();
        rest.retain(|p| {
            if ours.contains(&p.ppid) {
                ours.push(p.pid);
                if p.state != 'Z' {
                    let tag = tag_of(p.pid);
                    if wanted(p, tag.as_deref()) {
                        found.push(leaked(p));
                    }
                }
                false
            } else {
                true
            }
        });
        if ours.len() == before {
            break;
        }
    }
    found
}

fn leaked(p: &Stat) -> Leaked {
    let cmdline = fs_err::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
    let mut command = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if command.is_empty() {
        command = fs_err::read_to_string(format!("/proc/{}/comm", p.pid))
            .map(|c| format!("[{}]", c.trim_end()))
            .unwrap_or_default();
    }
    Leaked {
        pid: p.pid,
        command,
        start_ticks: p.start_ticks,
        started: instant_of(p.start_ticks),
    }
}

/// The value of [`TAG_VAR`] in process `pid`'s environment.
fn tag_of(pid: u32) -> Option<String> {
    let environ = fs_err::read(format!("/proc/{pid}/environ")).ok()?;
    let key = format!("{TAG_VAR}=");
    environ
        .split(|&b| b == 0)
        .find_map(|v| v.strip_prefix(key.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Clock ticks after boot (`starttime`) as an [`Instant`].
fn instant_of(ticks: u64) -> Option<Instant> {
    // SAFETY: sysconf and clock_gettime only read.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to.
    if hz <= 0 || unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
        return None;
    }
    let since_boot = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    let started = Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz as u64);
    Instant::now().checked_sub(since_boot.saturating_sub(started))
}

/// SIGKILL each of `leaked` (unless it has gone, its pid perhaps given to
/// another process since), then wait until each is gone, reaping those
/// re-parented to this process, by pid.
pub fn kill(leaked: &[Leaked]) {
    for l in leaked {
        // A pidfd names the process itself: once it is open and the
        // process is still the one seen, no later process with the same
        // pid can get the signal.
        let Some(fd) = pidfd(l) else { continue };
        let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
    }
    let me = std::process::id();
    let deadline = Instant::now() + KILL_WAIT;
    let mut left: Vec<&Leaked> = leaked.iter().collect();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|l| match stat(l.pid) {
            Some(s) if s.start_ticks == l.start_ticks => {
                if s.state == 'Z' && s.ppid == me {
                    // Seen running with a tag, so not a Child of ours.
                    let pid = Pid::from_raw(l.pid as i32).expect("a pid is positive");
                    let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
                }
                // A zombie whose parent lives is that parent's to reap.
                s.state != 'Z' || s.ppid == me
            }
            _ => false,
        });
        if !left.is_empty() {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A pidfd of `l`, if it is still the process seen.
fn pidfd(l: &Leaked) -> Option<OwnedFd> {
    let pid = Pid::from_raw(i32::try_from(l.pid).ok()?)?;
    let fd = rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok()?;
    stat(l.pid)
        .filter(|s| s.start_ticks == l.start_ticks)
        .map(|_| fd)
}

/// The end of the run: kill every descendant that still carries a tag of
/// this run, and return them.
pub fn sweep() -> Vec<Leaked> {
    // Every test process is reaped by now: what one left running was
    // re-parented to this process (the subreaper), so with no child but
    // those spawned on purpose there is nothing to sweep.
    if only_spawned_children() {
        return Vec::new();
    }
    sweep_tags(&prefix())
}

/// Kill and return every descendant whose tag starts with `prefix`.
fn sweep_tags(prefix: &str) -> Vec<Leaked> {
    let left = scan(|_, tag| tag.is_some_and(|t| t.starts_with(prefix)));
    kill(&left);
    left
}

/// Of the tests of one process, which were running when a process it left
/// started at `started`. `tests` are (test, when its verdict was seen), in
/// the order they ran; `running` is a test that had no verdict when the
/// process ended. A start near a boundary between two tests names both
/// (start times have a resolution of a clock tick, and a verdict is seen a
/// moment after it is given); a start after the last verdict (an exit
/// handler), or an unknown one, names every test that ran.
pub fn culprits(
    started: Option<Instant>,
    tests: &[(usize, Instant)],
    running: Option<usize>,
) -> Vec<usize> {
    const SLACK: Duration = Duration::from_millis(10);
    let all = || tests.iter().map(|t| t.0).chain(running).collect();
    let Some(started) = started else {
        return all();
    };
    let mut found = Vec::new();
    // The first test's window opens with the process.
    let mut from: Option<Instant> = None;
    for &(test, seen) in tests {
        // Between the verdict before (the test's start) and this one's.
        if from.is_none_or(|f| started + SLACK >= f) && started <= seen {
            found.push(test);
        }
        from = Some(seen.checked_sub(SLACK).unwrap_or(seen));
    }
    if let Some(test) = running.filter(|_| from.is_none_or(|f| started + SLACK >= f)) {
        found.push(test);
    }
    if found.is_empty() { all() } else { found }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// Shell: wait until the process `$!` runs `sleep` (a forked shell or
    /// `setsid` has exec'd it), so that its command line is sleep's.
    pub(crate) const EXECED: &str =
        "until [ \"$(head -c 5 /proc/$!/cmdline)\" = sleep ]; do sleep 0.01; done;";

    /// The end of the run kills what still carries a tag of the run: here
    /// a daemon whose starter was reaped without a look for leftovers.
    #[test]
    fn the_sweep_kills_tagged_descendants() {
        // Left on: tests running alongside may rely on it too.
        adopt_orphans(true);
        let prefix = format!("{}sweep-", prefix());
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "setsid sleep 3604 </dev/null >/dev/null 2>&1 & {EXECED} echo $!"
            ))
            .env(TAG_VAR, format!("{prefix}1"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let pid: u32 = String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let swept = sweep_tags(&prefix);
        assert_eq!(swept.len(), 1, "{swept:?}");
        assert_eq!(
            (swept[0].pid, swept[0].command.as_str()),
            (pid, "sleep 3604")
        );
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} is still there"
        );
        assert!(sweep_tags(&prefix).is_empty());
    }

    #[test]
    fn culprits_by_start_time() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let tests = [(0, ms(100)), (1, ms(200)), (2, ms(300))];
        assert_eq!(culprits(Some(ms(150)), &tests, None), [1]);
        assert_eq!(culprits(Some(ms(20)), &tests, None), [0]);
        assert_eq!(culprits(Some(t0), &tests, None), [0]);
        // At a boundary: both.
        assert_eq!(culprits(Some(ms(195)), &tests, None), [1, 2]);
        // After the last verdict: the test that was running, if any...
        assert_eq!(culprits(Some(ms(350)), &tests, Some(3)), [3]);
        // ...else every test of the process.
        assert_eq!(culprits(Some(ms(350)), &tests, None), [0, 1, 2]);
        assert_eq!(culprits(None, &tests, None), [0, 1, 2]);
    }

    /// A shell in a group of its own, with `tag`, that starts a `setsid`
    /// daemon (out of its group) and a child in its group, writes their
    /// pids and exits.
    #[test]
    fn finds_kills_and_reaps_what_an_exited_process_left() {
        // Left on: tests running alongside may rely on it too.
        adopt_orphans(true);
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let tag = Tag::new();
        let script = format!(
            "setsid sleep 600 </dev/null >/dev/null 2>&1 & {EXECED} echo $! > {p}; \
             sleep 600 </dev/null >/dev/null 2>&1 & {EXECED} echo $! >> {p}",
            p = pids.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env(TAG_VAR, tag.as_str())
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let leader = Pid::from_child(&child);
        // Wait for its exit without reaping it, as the driver does.
        let options =
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
        rustix::process::waitid(rustix::process::WaitId::Pid(leader), options).unwrap();
        let want: Vec<u32> = std::fs::read_to_string(&pids)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let left = tag.left_behind(leader);
        let _ = rustix::process::kill_process_group(leader, Signal::KILL);
        child.wait().unwrap();
        kill(&left);
        let mut got: Vec<u32> = left.iter().map(|l| l.pid).collect();
        got.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "{left:?}");
        assert!(left.iter().all(|l| l.command == "sleep 600"), "{left:?}");
        assert!(left.iter().all(|l| l.started.is_some()), "{left:?}");
        for pid in want {
            // Gone and reaped: no /proc entry (not even a zombie).
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{pid} is still there"
            );
        }
        // Another tag finds nothing.
        assert!(Tag::new().left_behind(leader).is_empty());
    }
}
