//! A throwaway PostgreSQL server for `--ephemeral`.
//!
//! This module owns the whole life of a private cluster: finding `initdb` and
//! `pg_ctl` (on `PATH`, else the highest version under
//! `/usr/lib/postgresql/*/bin`), creating it in a fresh temporary directory
//! (trust authentication, no fsync, loopback only, a free port), running it as
//! the unprivileged `postgres` user (or `nobody`) when we are root, and
//! tearing it down on drop: `pg_ctl stop -m immediate`, wait until the
//! postmaster is gone, delete the directory.
//!
//! Destructors do not run when the process is killed or calls
//! `std::process::exit`, so a small watchdog (`sh`, in its own session) holds
//! the read end of a pipe whose write end only this process has: when the
//! pipe closes without a normal shutdown, the watchdog stops the server and
//! deletes the directory itself.

use std::ffi::CString;
use std::io;
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::DbError;
use super::url::percent_encode;

/// How often to try again with another port when the chosen one was taken
/// between finding it and the server binding it.
const START_ATTEMPTS: usize = 5;
/// Lines of server log quoted in an error's details.
const LOG_TAIL_LINES: usize = 30;

/// A running private PostgreSQL server; dropping it stops the server and
/// deletes its files.
#[derive(Debug)]
pub struct EphemeralServer {
    root: PathBuf,
    data: PathBuf,
    port: u16,
    pg_ctl: PathBuf,
    account: Option<Account>,
    postmaster_pid: Option<i32>,
    watchdog: Option<Child>,
    stopped: bool,
}

/// The unprivileged user the server runs as when we are root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Account {
    uid: u32,
    gid: u32,
}

impl EphemeralServer {
    /// Create and start a new server; see the module docs.
    pub fn start() -> Result<Self, DbError> {
        let (initdb, pg_ctl) = find_binaries()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let account = if unsafe { libc::geteuid() } == 0 {
            Some(
                lookup_account("postgres")
                    .or_else(|| lookup_account("nobody"))
                    .ok_or_else(|| DbError::Ephemeral {
                        reason: "running as root, and neither a \"postgres\" nor a \"nobody\" user exists to run the server as".into(),
                        tail: String::new(),
                        log: String::new(),
                    })?,
            )
        } else {
            None
        };
        let root = make_root(account)?;
        let mut server = EphemeralServer {
            data: root.join("data"),
            root,
            port: 0,
            pg_ctl,
            account,
            postmaster_pid: None,
            watchdog: None,
            stopped: false,
        };
        // From here on, any early return drops `server`, which cleans up.
        server.spawn_watchdog()?;
        server.initdb(&initdb)?;
        for attempt in 1..=START_ATTEMPTS {
            server.port = free_port()?;
            match server.pg_ctl_start()? {
                Ok(()) => {
                    server.postmaster_pid = read_postmaster_pid(&server.data);
                    return Ok(server);
                }
                Err((status, log)) => {
                    server.force_stop();
                    let port_taken =
                        log.contains("could not bind") || log.contains("Address already in use");
                    if port_taken && attempt < START_ATTEMPTS {
                        continue;
                    }
                    return Err(ephemeral_error(
                        format!(
                            "pg_ctl start failed ({})",
                            crate::error::describe_status(&status)
                        ),
                        log,
                    ));
                }
            }
        }
        unreachable!("the last attempt always returns")
    }

    /// URL of database `dbname` on this server (user `postgres`, no password).
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.port,
            percent_encode(dbname)
        )
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory (holds `postgresql.conf`, `pg_hba.conf`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The postmaster's process id, if it could be read.
    pub fn postmaster_pid(&self) -> Option<i32> {
        self.postmaster_pid
    }

    /// Stop the server and delete its files now (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// A command that runs as the server's account (when we are root), with
    /// no inherited `PG*` variables and the server directory as its cwd.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.root).stdin(Stdio::null());
        run_as(&mut cmd, self.account, false);
        cmd
    }

    fn spawn_watchdog(&mut self) -> Result<(), DbError> {
        let script =
            r#"read _ignored; "$0" stop -D "$1" -m immediate -w >/dev/null 2>&1; rm -rf "$2""#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(&self.pg_ctl)
            .arg(&self.data)
            .arg(&self.root)
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_as(&mut cmd, self.account, true);
        let child = cmd.spawn().map_err(|e| DbError::Ephemeral {
            reason: format!("could not start its watchdog (sh): {e}"),
            tail: String::new(),
            log: String::new(),
        })?;
        self.watchdog = Some(child);
        Ok(())
    }

    fn initdb(&self, initdb: &Path) -> Result<(), DbError> {
        let log_path = self.root.join("initdb.log");
        let log = create_log(&log_path)?;
        let status = self
            .command(initdb)
            .arg("-D")
            .arg(&self.data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"])
            .stdout(log.try_clone().map_err(io_error)?)
            .stderr(log)
            .status()
            .map_err(|e| DbError::Ephemeral {
                reason: format!("could not run {}: {e}", initdb.display()),
                tail: String::new(),
                log: String::new(),
            })?;
        if status.success() {
            return Ok(());
        }
        Err(ephemeral_error(
            format!("initdb failed ({})", crate::error::describe_status(&status)),
            read_tail(&log_path),
        ))
    }

    /// Run `pg_ctl start`; the inner error carries the status and log tail.
    #[allow(clippy::type_complexity)]
    fn pg_ctl_start(&self) -> Result<Result<(), (ExitStatus, String)>, DbError> {
        let server_log = self.root.join("postgres.log");
        let ctl_log_path = self.root.join("pg_ctl.log");
        let ctl_log = create_log(&ctl_log_path)?;
        let options = format!(
            "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c listen_addresses=127.0.0.1 -c max_connections=200 -p {} -k {}",
            self.port,
            shell_quote(&self.root.to_string_lossy())
        );
        let status = self
            .command(&self.pg_ctl)
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(&server_log)
            .arg("-o")
            .arg(options)
            .arg("start")
            .stdout(ctl_log.try_clone().map_err(io_error)?)
            .stderr(ctl_log)
            .status()
            .map_err(|e| DbError::Ephemeral {
                reason: format!("could not run {}: {e}", self.pg_ctl.display()),
                tail: String::new(),
                log: String::new(),
            })?;
        if status.success() {
            return Ok(Ok(()));
        }
        let mut log = read_tail(&server_log);
        let ctl = read_tail(&ctl_log_path);
        if !ctl.is_empty() {
            log = format!("{log}\n{ctl}").trim().to_string();
        }
        Ok(Err((status, log)))
    }

    /// Stop a server that may or may not be running, and wait until its
    /// postmaster is gone (killing it if `pg_ctl` could not stop it).
    fn force_stop(&mut self) {
        let pid = read_postmaster_pid(&self.data).or(self.postmaster_pid);
        if self.data.join("postmaster.pid").exists() {
            let _ = self
                .command(&self.pg_ctl)
                .args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
                .arg(&self.data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(pid) = pid {
            if !wait_gone(pid, Duration::from_secs(10)) {
                // SAFETY: sending a signal has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                wait_gone(pid, Duration::from_secs(10));
            }
        }
        self.postmaster_pid = None;
    }

    fn shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        self.force_stop();
        let _ = fs_err::remove_dir_all(&self.root);
    }
}

impl Drop for EphemeralServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn io_error(e: io::Error) -> DbError {
    DbError::Ephemeral {
        reason: e.to_string(),
        tail: String::new(),
        log: String::new(),
    }
}

fn ephemeral_error(reason: String, log: String) -> DbError {
    let tail = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    DbError::Ephemeral {
        reason,
        tail: if tail.is_empty() {
            String::new()
        } else {
            format!(" (log: {tail})")
        },
        log,
    }
}

/// Make `cmd` run as `account` (dropping supplementary groups, then group,
/// then user) and, if `new_session`, in a session of its own.
fn run_as(cmd: &mut Command, account: Option<Account>, new_session: bool) {
    if account.is_none() && !new_session {
        return;
    }
    // SAFETY: the closure runs between fork and exec and only calls
    // async-signal-safe functions (setsid, setgroups, setgid, setuid).
    unsafe {
        cmd.pre_exec(move || {
            if new_session && libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(account) = account {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(account.gid) != 0
                    || libc::setuid(account.uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn lookup_account(name: &str) -> Option<Account> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value (null pointers, zero ids);
    // getpwnam_r only writes into `pwd` and `buf`, whose sizes we pass.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(Account {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// `initdb` and `pg_ctl`: from `PATH` if `initdb` is there (with `pg_ctl`
/// from the same directory when it has one, so the versions match), else
/// from the highest version under `/usr/lib/postgresql/*/bin`.
fn find_binaries() -> Result<(PathBuf, PathBuf), DbError> {
    if let Some(initdb) = which("initdb") {
        let sibling = initdb.with_file_name("pg_ctl");
        let pg_ctl = if is_executable(&sibling) {
            Some(sibling)
        } else {
            which("pg_ctl")
        };
        if let Some(pg_ctl) = pg_ctl {
            return Ok((initdb, pg_ctl));
        }
    }
    let mut versions: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Option<Vec<u64>> = name.split('.').map(|p| p.parse().ok()).collect();
            let bin = entry.path().join("bin");
            let complete = is_executable(&bin.join("initdb")) && is_executable(&bin.join("pg_ctl"));
            version.filter(|_| complete).map(|v| (v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok((bin.join("initdb"), bin.join("pg_ctl"))),
        None => Err(DbError::ServerBinariesMissing),
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether every directory from `/` down to `dir` lets other users through.
fn world_traversable(dir: &Path) -> bool {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return false;
    };
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// A new, private directory for the cluster, owned by `account` if given.
/// Memory-backed (/dev/shm) when possible: a throwaway server needs no
/// durability, and every CREATE DATABASE makes hundreds of files, which is
/// several times faster on tmpfs than on a VM's disk. Else the temp dir.
fn make_root(account: Option<Account>) -> Result<PathBuf, DbError> {
    let shm = PathBuf::from("/dev/shm");
    // Containers often give /dev/shm 64 MiB: too small for a cluster and
    // its worker databases.
    if shm.is_dir()
        && free_bytes(&shm).is_some_and(|b| b >= MIN_SHM_FREE)
        && (account.is_none() || world_traversable(&shm))
    {
        if let Ok(dir) = make_root_in(&shm, account) {
            return Ok(dir);
        }
    }
    let mut base = std::env::temp_dir();
    if account.is_some() && !world_traversable(&base) {
        // The server's user must be able to reach its own directory.
        base = PathBuf::from("/tmp");
    }
    make_root_in(&base, account)
}

/// Free space /dev/shm must have for the cluster to go there.
const MIN_SHM_FREE: u64 = 1024 * 1024 * 1024;

/// Bytes available to unprivileged users on the filesystem of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we pass; the path is a
    // NUL-terminated string we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

fn make_root_in(base: &Path, account: Option<Account>) -> Result<PathBuf, DbError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for _ in 0..100 {
        let dir = base.join(format!(
            "cargo-xdist-pg-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match fs_err::create_dir(&dir) {
            Ok(()) => {
                let setup = || -> io::Result<()> {
                    fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                    if let Some(account) = account {
                        fs_err::os::unix::fs::chown(&dir, Some(account.uid), Some(account.gid))?;
                    }
                    Ok(())
                };
                if let Err(e) = setup() {
                    let _ = fs_err::remove_dir_all(&dir);
                    return Err(io_error(e));
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(e)),
        }
    }
    Err(DbError::Ephemeral {
        reason: format!("could not create a unique directory in {}", base.display()),
        tail: String::new(),
        log: String::new(),
    })
}

fn create_log(path: &Path) -> Result<std::fs::File, DbError> {
    fs_err::File::create(path)
        .map(fs_err::File::into_file)
        .map_err(io_error)
}

/// The last lines of a log file (empty if it cannot be read).
fn read_tail(path: &Path) -> String {
    let text = std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (free when we looked; the caller retries if
/// someone else takes it before the server binds it).
fn free_port() -> Result<u16, DbError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| DbError::Ephemeral {
            reason: format!("could not find a free port on 127.0.0.1: {e}"),
            tail: String::new(),
            log: String::new(),
        })
}

fn read_postmaster_pid(data: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 0)
}

/// Whether process `pid` no longer exists (or is a zombie waiting for a
/// parent that is not us).
fn is_gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Format: "pid (comm) STATE ..."; comm may contain spaces.
            let after = stat.rfind(')')?;
            stat[after + 1..]
                .split_whitespace()
                .next()
                .map(|s| s == "Z")
        })
        .unwrap_or(false)
}

fn wait_gone(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while !is_gone(pid) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Quote `text` for a POSIX shell (pg_ctl passes `-o` through `sh -c`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn url_encodes_the_name() {
        let server = EphemeralServer {
            root: PathBuf::from("/nonexistent"),
            data: PathBuf::from("/nonexistent/data"),
            port: 5999,
            pg_ctl: PathBuf::from("/bin/false"),
            account: None,
            postmaster_pid: None,
            watchdog: None,
            stopped: true,
        };
        assert_eq!(
            server.url("my db"),
            "postgres://postgres@127.0.0.1:5999/my%20db"
        );
    }

    #[test]
    fn free_space_is_read_and_a_missing_path_has_none() {
        assert!(free_bytes(Path::new("/")).is_some_and(|b| b > 0));
        assert_eq!(free_bytes(Path::new("/no/such/dir")), None);
    }
}
