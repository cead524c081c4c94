//! A throwaway PostgreSQL server for `--ephemeral-postgres`.
//!
//! This module owns the whole life of a private cluster: finding `initdb` and
//! `pg_ctl` (on `PATH`, else the highest version under
//! `/usr/lib/postgresql/*/bin`), creating it in a fresh temporary directory
//! (no fsync), running it as the unprivileged `postgres` user (or `nobody`)
//! when we are root, and tearing it down on drop: `pg_ctl stop -m immediate`,
//! wait until the postmaster is gone, delete the directory.
//!
//! # Who can reach it
//!
//! A test server is still a superuser's server: while a run lasts, nobody
//! but the run's own user may reach it.
//!
//! - It listens on no TCP address (`listen_addresses = ''`), only on a Unix
//!   socket in its own directory (the cluster's directory, which also
//!   holds the data directory), mode 0700. Only the directory's owner can
//!   enter it: the user running cargo-xdist, or, when that is root, the
//!   `postgres` account the server runs as (root still enters it: it
//!   bypasses file permissions). The data directory is 0700 too. (On a
//!   system without a `postgres` account, root runs the server as `nobody`,
//!   whose other processes could then enter the directory: the password
//!   still stops them.)
//! - As defence in depth, every connection must authenticate with
//!   SCRAM-SHA-256 as `postgres` with a password made for this run (a v4
//!   UUID: 122 bits from the operating system's CSPRNG). `initdb` reads it
//!   from a 0600 file that is deleted as soon as it has run. The password is
//!   in the URL the tests and `--db-setup` get, and is redacted from output
//!   like every other password (see `WorkerDatabases::secrets`).
//!
//! # Whose files root touches
//!
//! Run as root, the server's account owns the cluster's directory, so any
//! process of that account (a test's `COPY ... TO PROGRAM` is one) may
//! plant a symlink there at any time. Root therefore never opens, creates
//! or reads a file in it by path:
//!
//! ```text
//! cargo-xdist-pg-XXXX/   ours: 0700, or, as root, root:<account> 0710
//!   pwfile               ours, given to the account, 0600; only while initdb runs
//!   pg/                  the account's, 0700: the socket and
//!     data/              the data directory
//! ```
//!
//! - The outer directory only we can write, so the password file in it is
//!   created where nothing can be planted (the account may only read it).
//! - The output of `initdb` and `pg_ctl`, and the server's own log (its
//!   stdout, `pg_ctl` without `-l`), go to descriptors of files we create
//!   unnamed in the outer directory; a failed start reads them from those
//!   descriptors, so what it prints is what those programs wrote.
//! - `postmaster.pid` is read through descriptors opened with `O_NOFOLLOW`
//!   from the cluster directory's; it only ever names a process to stop if
//!   that process runs as the server's account in the very data directory
//!   initdb made (compared by device and inode, not by path).
//! - The tree is removed with `remove_dir_all` (which never follows a
//!   symlink) and, when the process dies, by two watchdogs: one as the
//!   account stops the server and empties its directory, then one as us
//!   removes the rest.
//!
//! # The URL
//!
//! `postgres://postgres:PASSWORD@%2Fdev%2Fshm%2Fcargo-xdist-pg-XXXX%2Fpg:5432/DB`:
//! the socket directory, percent-encoded, is the host. Why this form:
//!
//! - libpq (psql, diesel, psycopg), rust-postgres (`postgres`,
//!   `tokio-postgres`) and sqlx all take a host that decodes to a path
//!   starting with `/` for a socket directory;
//! - libpq's `postgres://postgres:PW@/DB?host=/dir` is rejected by WHATWG
//!   URL parsers such as the `url` crate, and so by sqlx (user info with an
//!   empty host);
//! - `postgres://postgres:PW@localhost/DB?host=/dir` works in libpq and
//!   sqlx, where `host=` replaces the host, but rust-postgres *adds* it to
//!   `localhost` and first tries TCP on localhost:5432, i.e. some other
//!   server, with this password;
//! - `postgres:///DB?host=/dir&user=postgres&password=PW` works too, but a
//!   client that ignores `host=` would then silently connect to whatever
//!   listens on localhost; with the socket in the host such a client fails
//!   (no such host name) instead;
//! - the port is written out, so a `PGPORT` in the tests' environment cannot
//!   make libpq look for another socket file. Nothing else can use that
//!   port number: it only names the socket file in the private directory.
//!
//! Destructors do not run when the process is killed or calls
//! `std::process::exit`, so a small watchdog (`sh`, in its own process
//! group) holds the read end of a pipe whose write end only this process
//! has: when the pipe closes without a normal shutdown, the watchdog stops
//! the server and deletes the directory itself (as root: with the second
//! watchdog above, which waits for the first to exit). (The server itself is out
//! of reach of the terminal: `pg_ctl` starts it in a session of its own.)

use std::ffi::CString;
use std::io::Read;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fs_err::os::unix::fs::OpenOptionsExt;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::process::{Pid, Signal};

use super::error::{DbError, MESSAGE_TAIL_LINES, last_lines};
use super::url::percent_encode;

/// The port number in the socket file's name, `.s.PGSQL.5432`. The server
/// opens no TCP port, and the socket directory is its own, so the default
/// cannot collide with anything.
const SOCKET_PORT: u16 = 5432;

/// The superuser the cluster is created with; the URL logs in as it.
const SUPERUSER: &str = "postgres";

/// A running private PostgreSQL server; dropping it stops the server and
/// deletes its files. `Debug` does not show the password.
pub struct EphemeralServer {
    /// Our directory around the cluster's, which only we can write (see
    /// the module docs); removing it removes everything.
    outer: PathBuf,
    /// `outer`, opened when we made it.
    outer_fd: OwnedFd,
    /// The cluster's directory (`outer/pg`), the server account's; also
    /// the directory of the server's socket.
    root: PathBuf,
    /// `root`, opened when we made it: what root reads in the cluster is
    /// reached from here, without following symlinks.
    root_fd: OwnedFd,
    data: PathBuf,
    /// Device and inode of the data directory, once initdb made it.
    data_id: Option<(u64, u64)>,
    /// The superuser's password, made for this server.
    password: String,
    pg_ctl: PathBuf,
    account: Option<Account>,
    postmaster_pid: Option<i32>,
    /// Killed in this order on a normal shutdown (see `spawn_watchdogs`).
    watchdogs: Vec<Child>,
    stopped: bool,
}

impl std::fmt::Debug for EphemeralServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralServer")
            .field("outer", &self.outer)
            .field("root", &self.root)
            .field("data", &self.data)
            .field("password", &super::url::REDACTED)
            .field("pg_ctl", &self.pg_ctl)
            .field("account", &self.account)
            .field("postmaster_pid", &self.postmaster_pid)
            .field("watchdogs", &self.watchdogs)
            .field("stopped", &self.stopped)
            .finish()
    }
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
        Self::start_with(&[])
    }

    /// [`EphemeralServer::start`], with these server settings (`name`,
    /// `value`) on top of its own (e.g. `max_connections`).
    pub fn start_with(settings: &[(&str, &str)]) -> Result<Self, DbError> {
        let (initdb, pg_ctl) = find_binaries()?;
        let account = if rustix::process::geteuid().is_root() {
            Some(
                lookup_account("postgres")
                    .or_else(|| lookup_account("nobody"))
                    .ok_or_else(|| failure("running as root, and neither a \"postgres\" nor a \"nobody\" user exists to run the server as"))?,
            )
        } else {
            None
        };
        let dirs = make_dirs(account)?;
        let root = dirs.outer.join(CLUSTER_DIR);
        let mut server = EphemeralServer {
            data: root.join("data"),
            root,
            root_fd: dirs.root_fd,
            outer_fd: dirs.outer_fd,
            outer: dirs.outer,
            data_id: None,
            password: uuid::Uuid::new_v4().simple().to_string(),
            pg_ctl,
            account,
            postmaster_pid: None,
            watchdogs: Vec::new(),
            stopped: false,
        };
        // From here on, any early return drops `server`, which cleans up.
        server.spawn_watchdogs()?;
        server.initdb(&initdb)?;
        server.data_id = server.data_identity();
        match server.pg_ctl_start(settings)? {
            Ok(()) => {
                server.postmaster_pid = server.read_postmaster_pid();
                Ok(server)
            }
            Err((status, log)) => {
                server.force_stop();
                Err(ephemeral_error(
                    format!(
                        "pg_ctl start failed ({})",
                        crate::error::describe_status(&status)
                    ),
                    &log,
                ))
            }
        }
    }

    /// URL of database `dbname` on this server, as the superuser `postgres`
    /// with this server's password, over its socket (see the module docs).
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@{}/{}",
            percent_encode(&self.password),
            self.url_host(),
            percent_encode(dbname)
        )
    }

    /// The host and port of this server's URLs: the socket directory,
    /// percent-encoded, `:5432`.
    pub fn url_host(&self) -> String {
        format!(
            "{}:{SOCKET_PORT}",
            percent_encode(&self.root.to_string_lossy())
        )
    }

    /// The directory holding the server's Unix socket (mode 0700).
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// The port number in the name of the server's socket file (it opens no
    /// TCP port).
    pub fn port(&self) -> u16 {
        SOCKET_PORT
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
        run_as(&mut cmd, self.account);
        cmd
    }

    /// The watchdogs (see the module docs). The first runs as the server's
    /// account: when the pipe from this process closes, it stops the
    /// server and removes what it can. As root that is the cluster's
    /// directory's content only, so a second one, as root, waits for the
    /// first to exit (its stdout closes) and removes the outer directory.
    fn spawn_watchdogs(&mut self) -> Result<(), DbError> {
        let script =
            r#"read _ignored; "$0" stop -D "$1" -m immediate -w >/dev/null 2>&1; rm -rf "$2""#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(&self.pg_ctl)
            .arg(&self.data)
            .arg(if self.account.is_some() {
                &self.root
            } else {
                &self.outer
            })
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(if self.account.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::null())
            // Out of the terminal's foreground job: the SIGINT of a Ctrl-C
            // and the SIGHUP of a closing terminal go to the foreground
            // process group only (the shell signals only the groups of
            // its own jobs), so they end cargo-xdist, which closes the
            // pipe, but not the watchdog that must then clean up. std has
            // no stable setsid, and a new group is all this needs.
            .process_group(0);
        run_as(&mut cmd, self.account);
        let mut first = cmd
            .spawn()
            .map_err(|e| failure(format!("could not start its watchdog (sh): {e}")))?;
        let done = first.stdout.take();
        self.watchdogs.push(first);
        if let Some(done) = done {
            let second = Command::new("sh")
                .arg("-c")
                // As `shutdown` does: first shut the account out.
                .arg(r#"read _ignored; chmod 700 "$0"; rm -rf "$0" || rm -rf "$0""#)
                .arg(&self.outer)
                .current_dir("/")
                .stdin(done)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| failure(format!("could not start its watchdog (sh): {e}")))?;
            // Killed first: killing the other would set it off.
            self.watchdogs.insert(0, second);
        }
        Ok(())
    }

    fn initdb(&self, initdb: &Path) -> Result<(), DbError> {
        let log = self.unnamed_log()?;
        let pwfile = self.outer.join("pwfile");
        let status = self.write_pwfile(&pwfile).and_then(|()| {
            self.command(initdb)
                .arg("-D")
                .arg(&self.data)
                .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--pwfile"])
                .arg(&pwfile)
                .args(["-E", "UTF8", "--locale=C", "--no-sync"])
                .stdout(log.try_clone().map_err(io_error)?)
                .stderr(log.try_clone().map_err(io_error)?)
                .status()
                .map_err(|e| failure(format!("could not run {}: {e}", initdb.display())))
        });
        // The password has no business on disk once the cluster has it.
        // (Only we can write in `outer`: this is the file we made.)
        let removed = match fs_err::remove_file(&pwfile) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
        let status = status?;
        if let Err(e) = removed {
            return Err(failure(format!("could not remove the password file: {e}")));
        }
        if status.success() {
            return Ok(());
        }
        Err(ephemeral_error(
            format!("initdb failed ({})", crate::error::describe_status(&status)),
            &read_tail(&log),
        ))
    }

    /// A new file with no name in our own directory, for a program's
    /// output: read back from its descriptor, it holds what was written to
    /// it and nothing else.
    fn unnamed_log(&self) -> Result<std::fs::File, DbError> {
        tempfile::tempfile_in(&self.outer)
            .map_err(|e| failure(format!("could not create a log file: {e}")))
    }

    /// The password file `initdb --pwfile` reads: created new in our own
    /// directory, mode 0600, owned by the server's account.
    fn write_pwfile(&self, path: &Path) -> Result<(), DbError> {
        let write = || -> io::Result<()> {
            let mut file = fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?;
            if let Some(account) = self.account {
                std::os::unix::fs::fchown(&file, Some(account.uid), Some(account.gid))?;
            }
            writeln!(file, "{}", self.password)
        };
        write().map_err(|e| failure(format!("could not write the password file: {e}")))
    }

    /// Run `pg_ctl start`; the inner error carries the status and log tail.
    #[allow(clippy::type_complexity)]
    fn pg_ctl_start(
        &self,
        settings: &[(&str, &str)],
    ) -> Result<Result<(), (ExitStatus, String)>, DbError> {
        // Without `-l`, the server writes its log to pg_ctl's stdout, which
        // `-s` leaves to it alone; pg_ctl's own errors go to its stderr.
        let server_log = self.unnamed_log()?;
        let ctl_log = self.unnamed_log()?;
        // No TCP at all; the socket, in the private directory, is only for
        // its owner too.
        let mut options = format!(
            "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c listen_addresses='' -c unix_socket_permissions=0700 \
             -c max_connections=200 -p {SOCKET_PORT} -k {}",
            shell_quote(&self.root.to_string_lossy())
        );
        // Later settings win.
        for (name, value) in settings {
            options.push_str(&format!(" -c {}", shell_quote(&format!("{name}={value}"))));
        }
        let status = self
            .command(&self.pg_ctl)
            .args(["-s", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-o")
            .arg(options)
            .arg("start")
            .stdout(server_log.try_clone().map_err(io_error)?)
            .stderr(ctl_log.try_clone().map_err(io_error)?)
            .status()
            .map_err(|e| failure(format!("could not run {}: {e}", self.pg_ctl.display())))?;
        if status.success() {
            return Ok(Ok(()));
        }
        // The server's own log says why it stopped; pg_ctl's only says
        // that it did, unless the server never got to write anything.
        let mut log = read_tail(&server_log);
        if log.trim().is_empty() {
            log = read_tail(&ctl_log);
        }
        Ok(Err((status, log)))
    }

    /// The data directory, opened from the cluster's without following a
    /// symlink.
    fn open_data(&self) -> Option<OwnedFd> {
        rustix::fs::openat(
            &self.root_fd,
            "data",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    }

    /// Device and inode of the data directory.
    fn data_identity(&self) -> Option<(u64, u64)> {
        let st = rustix::fs::fstat(self.open_data()?).ok()?;
        Some((st.st_dev, st.st_ino))
    }

    /// The postmaster's pid from `data/postmaster.pid`, read through
    /// descriptors: no symlink is followed, and only a regular file is read.
    fn read_postmaster_pid(&self) -> Option<i32> {
        let file = rustix::fs::openat(
            self.open_data()?,
            "postmaster.pid",
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        if !rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&file).ok()?.st_mode).is_file() {
            return None;
        }
        let mut text = String::new();
        std::io::Read::take(std::fs::File::from(file), 4096)
            .read_to_string(&mut text)
            .ok()?;
        parse_postmaster_pid(&text)
    }

    /// Whether the data directory has a `postmaster.pid` (of any type).
    fn has_postmaster_pid(&self) -> bool {
        self.open_data().is_some_and(|data| {
            rustix::fs::statat(data, "postmaster.pid", AtFlags::SYMLINK_NOFOLLOW).is_ok()
        })
    }

    /// The uid the server runs as.
    fn server_uid(&self) -> u32 {
        self.account
            .map_or_else(|| rustix::process::geteuid().as_raw(), |a| a.uid)
    }

    /// Stop a server that may or may not be running, and wait until its
    /// postmaster is gone (killing it if `pg_ctl` could not stop it).
    fn force_stop(&mut self) {
        // A stale or forged postmaster.pid must not name a process to wait
        // for or kill: only the server's account's process in the data
        // directory initdb made counts.
        let (data_id, uid) = (self.data_id, self.server_uid());
        let ours = |pid: i32| data_id.is_some_and(|id| is_postmaster_of(pid, id, uid));
        let pid = self
            .read_postmaster_pid()
            .or(self.postmaster_pid)
            .filter(|&pid| ours(pid));
        if self.has_postmaster_pid() {
            let _ = self
                .command(&self.pg_ctl)
                .args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
                .arg(&self.data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(pid) = pid {
            if !wait_gone(pid, Duration::from_secs(10), &ours) && ours(pid) {
                if let Some(pid) = Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, Signal::KILL);
                }
                wait_gone(pid, Duration::from_secs(10), &ours);
            }
        }
        self.postmaster_pid = None;
    }

    fn shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.force_stop();
        // The server is gone: its account no longer passes through our
        // directory, so nothing it runs can keep planting files in the
        // tree while it is removed (by path: a process of the account
        // already inside still could, hence a few tries). `remove_dir_all`
        // follows no symlink the account may have planted.
        let _ = rustix::fs::fchmod(&self.outer_fd, Mode::from_raw_mode(0o700));
        for _ in 0..3 {
            match fs_err::remove_dir_all(&self.outer) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {}
                _ => break,
            }
        }
        // Last: should this process die before here, the watchdogs clean up.
        for mut watchdog in self.watchdogs.drain(..) {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Drop for EphemeralServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn io_error(e: io::Error) -> DbError {
    failure(e.to_string())
}

/// A failure to set up or start the server, with nothing from its log.
fn failure(reason: impl Into<String>) -> DbError {
    DbError::Ephemeral {
        reason: reason.into(),
        tail: String::new(),
    }
}

/// A failure whose cause is in `log`: its last lines (up to the last error,
/// without timestamps) go into the one-line message.
fn ephemeral_error(reason: String, log: &str) -> DbError {
    let lines: Vec<&str> = log.lines().map(strip_log_prefix).collect();
    // After a FATAL the server only says it shut down.
    let end = lines
        .iter()
        .rposition(|l| {
            ["FATAL:", "PANIC:", "ERROR:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map_or(lines.len(), |i| i + 1);
    let tail = last_lines(&lines[..end].join("\n"), MESSAGE_TAIL_LINES);
    DbError::Ephemeral {
        reason,
        tail: if tail.is_empty() {
            String::new()
        } else {
            format!(" (log: {tail})")
        },
    }
}

/// A server log line without its `2024-01-02 03:04:05.678 UTC [123] `.
fn strip_log_prefix(line: &str) -> &str {
    let line = line.trim();
    let starts_with_date = line.len() > 10
        && line.as_bytes()[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    match line.find("] ") {
        Some(end) if starts_with_date && line[..end].contains(" [") => line[end + 2..].trim(),
        _ => line,
    }
}

/// Make `cmd` run as `account`, if given. When a uid is set without
/// explicit groups, std sets the group, drops root's supplementary groups
/// (`setgroups(0)`), then sets the user (the tests check the server's
/// `Groups:` is empty).
fn run_as(cmd: &mut Command, account: Option<Account>) {
    if let Some(account) = account {
        cmd.gid(account.gid).uid(account.uid);
    }
}

/// The ids of account `name`, from the system's user database. This stays
/// on libc: accounts come through glibc's NSS (files, LDAP, systemd...),
/// which rustix, a syscall wrapper, does not reach, and neither std nor the
/// crates in the tree look a user up by name (whoami only knows the
/// current one).
fn lookup_account(name: &str) -> Option<Account> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: an all-zero `passwd` is a valid value (null pointers, zero
    // ids); `name` is NUL-terminated; getpwnam_r writes only into `pwd` and
    // `buf` (whose length we pass) and sets `result` to null or to `&pwd`.
    // Only the ids are read, and only when it found the account.
    let (rc, pwd) = unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        (rc, pwd)
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
    let mut versions: Vec<(Vec<u64>, PathBuf)> = fs_err::read_dir("/usr/lib/postgresql")
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
    fs_err::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether every directory from `/` down to `dir` lets other users through.
fn world_traversable(dir: &Path) -> bool {
    let Ok(dir) = fs_err::canonicalize(dir) else {
        return false;
    };
    dir.ancestors()
        .all(|d| fs_err::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// The name of the cluster's directory in ours.
const CLUSTER_DIR: &str = "pg";

/// The directories of a new server (see the module docs).
struct Dirs {
    /// Ours: 0700, or `root:<account>` 0710 (only traversed by the account).
    outer: PathBuf,
    outer_fd: OwnedFd,
    /// `outer/pg`, opened: the account's (or ours), 0700.
    root_fd: OwnedFd,
}

/// New directories for the cluster, the inner one owned by `account` if
/// given. Memory-backed (/dev/shm) when possible: a throwaway server needs
/// no durability, and every CREATE DATABASE makes hundreds of files, which
/// is several times faster on tmpfs than on a VM's disk. Else the temp dir.
fn make_dirs(account: Option<Account>) -> Result<Dirs, DbError> {
    let shm = PathBuf::from("/dev/shm");
    // Containers often give /dev/shm 64 MiB: too small for a cluster and
    // its worker databases.
    if shm.is_dir()
        && free_bytes(&shm).is_some_and(|b| b >= MIN_SHM_FREE)
        && (account.is_none() || world_traversable(&shm))
    {
        if let Ok(dirs) = make_dirs_in(&shm, account) {
            return Ok(dirs);
        }
    }
    let mut base = std::env::temp_dir();
    if account.is_some() && !world_traversable(&base) {
        // The server's user must be able to reach its own directory.
        base = PathBuf::from("/tmp");
    }
    make_dirs_in(&base, account)
}

/// Free space /dev/shm must have for the cluster to go there.
const MIN_SHM_FREE: u64 = 1024 * 1024 * 1024;

/// Bytes available to unprivileged users on the filesystem of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

fn make_dirs_in(base: &Path, account: Option<Account>) -> Result<Dirs, DbError> {
    let dir = tempfile::Builder::new()
        .prefix("cargo-xdist-pg-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(base)
        .map_err(|e| {
            failure(format!(
                "could not create a directory in {}: {e}",
                base.display()
            ))
        })?;
    // On error `dir` is dropped, which removes it.
    let setup = || -> rustix::io::Result<(OwnedFd, OwnedFd)> {
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let outer = rustix::fs::open(dir.path(), dir_flags, Mode::empty())?;
        if let Some(account) = account {
            // The account may pass through, not list or write.
            rustix::fs::fchown(&outer, None, Some(rustix::fs::Gid::from_raw(account.gid)))?;
            rustix::fs::fchmod(&outer, Mode::from_raw_mode(0o710))?;
        }
        rustix::fs::mkdirat(&outer, CLUSTER_DIR, Mode::from_raw_mode(0o700))?;
        let root = rustix::fs::openat(&outer, CLUSTER_DIR, dir_flags, Mode::empty())?;
        if let Some(account) = account {
            rustix::fs::fchown(
                &root,
                Some(rustix::fs::Uid::from_raw(account.uid)),
                Some(rustix::fs::Gid::from_raw(account.gid)),
            )?;
        }
        // Whatever the umask.
        rustix::fs::fchmod(&root, Mode::from_raw_mode(0o700))?;
        Ok((outer, root))
    };
    let (outer_fd, root_fd) = setup().map_err(|e| {
        failure(format!(
            "could not set up the directory {}: {e}",
            dir.path().display()
        ))
    })?;
    // From here on the server's teardown (or its watchdogs) removes it.
    Ok(Dirs {
        outer: dir.keep(),
        outer_fd,
        root_fd,
    })
}

/// The end of a log written to `file` (from its start, whatever its
/// offset; empty if it cannot be read).
fn read_tail(file: &std::fs::File) -> String {
    /// More than a one-line message quotes of it.
    const TAIL_BYTES: u64 = 64 * 1024;
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(TAIL_BYTES);
    let mut bytes = vec![0; (len - start) as usize];
    let mut filled = 0;
    while filled < bytes.len() {
        match file.read_at(&mut bytes[filled..], start + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    bytes.truncate(filled);
    let text = String::from_utf8_lossy(&bytes);
    match (start > 0, text.split_once('\n')) {
        // Not a line cut in half.
        (true, Some((_, rest))) => rest.to_string(),
        _ => text.into_owned(),
    }
}

/// The pid in the first line of a `postmaster.pid`.
fn parse_postmaster_pid(text: &str) -> Option<i32> {
    text.lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 0)
}

/// Whether process `pid` is gone: it does not exist, or it is a zombie
/// waiting for a parent that is not us (the postmaster's is `pg_ctl`'s
/// parent's, init or a subreaper). An error when that cannot be told: the
/// process exists and `/proc` cannot say whether it is a zombie.
pub fn process_gone(pid: i32) -> io::Result<bool> {
    let id = (pid > 0)
        .then(|| Pid::from_raw(pid))
        .flatten()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad pid {pid}")))?;
    // Signal 0 only checks for existence (EPERM: it exists, not ours).
    match rustix::process::test_kill_process(id) {
        Err(rustix::io::Errno::SRCH) => return Ok(true),
        Err(rustix::io::Errno::PERM) | Ok(()) => {}
        Err(e) => return Err(e.into()),
    }
    let stat_path = format!("/proc/{pid}/stat");
    match fs_err::read_to_string(&stat_path) {
        // Format: "pid (comm) STATE ..."; comm may contain spaces.
        Ok(stat) => Ok(stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))),
        // It ended between the two looks.
        Err(e) if e.kind() == io::ErrorKind::NotFound && Path::new("/proc/self/stat").exists() => {
            Ok(true)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!(
                "cannot tell whether process {pid} is a zombie: {stat_path}: {e} (is /proc mounted?)"
            ),
        )),
    }
}

/// Whether process `pid` is the postmaster of the cluster whose data
/// directory has device and inode `data`: its working directory is that
/// directory (the postmaster changes into it at start), and its real and
/// effective uids are the server's, `uid`. Unknown (no /proc, no
/// permission) counts as no.
fn is_postmaster_of(pid: i32, data: (u64, u64), uid: u32) -> bool {
    let in_data =
        rustix::fs::stat(format!("/proc/{pid}/cwd")).is_ok_and(|st| (st.st_dev, st.st_ino) == data);
    in_data
        && fs_err::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|ids| {
                    let ids: Vec<&str> = ids.split_whitespace().take(2).collect();
                    ids.len() == 2 && ids.iter().all(|id| *id == uid.to_string())
                })
        })
}

/// Wait until `pid` is gone, or no longer `ours`; `false` after `limit`.
fn wait_gone(pid: i32, limit: Duration, ours: &dyn Fn(i32) -> bool) -> bool {
    let start = Instant::now();
    while ours(pid) && !process_gone(pid).unwrap_or(false) {
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
    fn url_names_the_socket_directory_and_hides_the_password_from_debug() {
        let server = EphemeralServer {
            outer: PathBuf::from("/tmp"),
            outer_fd: rustix::fs::open("/", OFlags::RDONLY, Mode::empty()).unwrap(),
            root: PathBuf::from("/tmp/cargo-xdist-pg-x y"),
            root_fd: rustix::fs::open("/", OFlags::RDONLY, Mode::empty()).unwrap(),
            data: PathBuf::from("/tmp/cargo-xdist-pg-x y/data"),
            data_id: None,
            password: "0123abcd".into(),
            pg_ctl: PathBuf::from("/bin/false"),
            account: None,
            postmaster_pid: None,
            watchdogs: Vec::new(),
            stopped: true,
        };
        let url = server.url("my db");
        assert_eq!(
            url,
            "postgres://postgres:0123abcd@%2Ftmp%2Fcargo-xdist-pg-x%20y:5432/my%20db"
        );
        // Our own parser, and rust-postgres's, read the host as the socket.
        let parsed = super::super::url::PgUrl::parse(&url).unwrap();
        assert_eq!(parsed.endpoints()[0].host, "/tmp/cargo-xdist-pg-x y");
        assert_eq!(parsed.password(), Some("0123abcd"));
        let config: postgres::Config = url.parse().unwrap();
        assert_eq!(
            config.get_hosts(),
            [postgres::config::Host::Unix(PathBuf::from(
                "/tmp/cargo-xdist-pg-x y"
            ))]
        );
        assert_eq!(config.get_ports(), [5432]);
        assert_eq!(config.get_password(), Some(&b"0123abcd"[..]));
        assert!(!format!("{server:?}").contains("0123abcd"));
    }

    #[test]
    fn start_errors_quote_the_log_up_to_its_last_error_on_one_line() {
        let log = "2026-11-26 08:24:20.997 GMT [32042] LOG:  starting PostgreSQL 15.4\n\
                   2026-11-26 08:24:20.998 GMT [32042] LOG:  Unix-domain socket path \"/x\" is too long\n\
                   \n\
                   2026-11-26 08:24:20.998 GMT [32042] WARNING:  could not create Unix-domain socket\n\
                   2026-11-26 08:24:20.999 GMT [32042] FATAL:  could not create any Unix-domain sockets\n\
                   2026-11-26 08:24:21.000 GMT [32042] LOG:  database system is shut down\n";
        let e = ephemeral_error("pg_ctl start failed (exit code 1)".into(), log);
        assert_eq!(
            e.to_string(),
            "could not start the ephemeral PostgreSQL server: pg_ctl start failed (exit code 1) \
             (log: LOG: Unix-domain socket path \"/x\" is too long | WARNING: could not create \
             Unix-domain socket | FATAL: could not create any Unix-domain sockets); fix the cause \
             shown in its log, or pass --database-url instead of --ephemeral-postgres"
        );
        // Other logs (initdb's) are quoted as they are; no log, no "(log: )".
        let e = ephemeral_error(
            "initdb failed (exit code 1)".into(),
            "a\ninitdb: error: b [1] c\n",
        );
        assert!(
            e.to_string()
                .contains("(exit code 1) (log: a | initdb: error: b [1] c);"),
            "{e}"
        );
        let e = ephemeral_error("initdb failed (exit code 1)".into(), " \n");
        assert!(e.to_string().contains("(exit code 1); fix"), "{e}");
    }

    #[test]
    fn accounts_and_processes_are_looked_up() {
        assert_eq!(lookup_account("root"), Some(Account { uid: 0, gid: 0 }));
        assert_eq!(lookup_account("no-such-user-xdist"), None);
        assert!(!process_gone(std::process::id() as i32).unwrap());
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(process_gone(pid).unwrap());
    }

    #[test]
    fn only_a_process_of_the_servers_uid_in_the_data_directory_counts_as_its_postmaster() {
        let me = std::process::id() as i32;
        let uid = rustix::process::geteuid().as_raw();
        let id = |path: &Path| {
            let st = rustix::fs::stat(path).unwrap();
            (st.st_dev, st.st_ino)
        };
        let cwd = std::env::current_dir().unwrap();
        assert!(is_postmaster_of(me, id(&cwd), uid));
        assert!(!is_postmaster_of(me, id(Path::new("/")), uid));
        assert!(
            !is_postmaster_of(me, id(&cwd), uid.wrapping_add(1)),
            "another account's process is not the server's"
        );
        let mut child = Command::new("true").current_dir(&cwd).spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(
            !is_postmaster_of(pid, id(&cwd), uid),
            "a reaped pid names nobody"
        );
    }

    #[test]
    fn postmaster_pid_files_and_log_tails_are_parsed() {
        assert_eq!(parse_postmaster_pid("123\n/data\n"), Some(123));
        assert_eq!(parse_postmaster_pid("-1\n"), None);
        assert_eq!(parse_postmaster_pid("root:x:0:0\n"), None);
        let mut file = tempfile::tempfile().unwrap();
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("line {i}\n"));
        }
        file.write_all(text.as_bytes()).unwrap();
        // From the start of the file, whatever its offset, whole lines only.
        let tail = read_tail(&file);
        assert!(
            tail.ends_with("line 19999\n"),
            "{}",
            &tail[tail.len() - 20..]
        );
        assert!(tail.starts_with("line "), "{}", &tail[..20]);
        assert!(tail.len() <= 64 * 1024);
        let small = tempfile::tempfile().unwrap();
        (&small).write_all(b"FATAL: x\n").unwrap();
        assert_eq!(read_tail(&small), "FATAL: x\n");
    }

    #[test]
    fn free_space_is_read_and_a_missing_path_has_none() {
        assert!(free_bytes(Path::new("/")).is_some_and(|b| b > 0));
        assert_eq!(free_bytes(Path::new("/no/such/dir")), None);
    }
}
