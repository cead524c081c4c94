//! Run as root, `--ephemeral-postgres` hands a directory to the `postgres`
//! account, whose processes (a test's `COPY ... TO PROGRAM` is one) can
//! plant symlinks in it at any time. These tests do just that, as
//! `postgres`, in a loop, while a real run starts its server, and check
//! that no root-owned file changes and no root-only content is printed;
//! and that a failed start still shows the end of its own log, and the
//! watchdogs still remove everything when the run is killed.
//!
//! They need root (the attack needs another account, and the server only
//! runs as `postgres` under root): not root, they fail saying so.

mod common;

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// The names the ephemeral server's files had (or have) in its directory.
const PLANTED_NAMES: [&str; 5] = [
    "pg_ctl.log",
    "postgres.log",
    "initdb.log",
    "pwfile",
    "server.log",
];

fn require_root(what: &str) {
    assert!(
        rustix::process::geteuid().is_root(),
        "{what} needs root: the attack is another account's (`postgres`) symlinks in the \
         directory root hands the server, which only happens when cargo-xdist runs as root; \
         run this test as root"
    );
}

/// `id -u NAME` and `id -g NAME`.
fn ids_of(name: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run id: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no user {name}: id {flag} {name} said {text:?}"))
    };
    (id("-u"), id("-g"))
}

/// A root-only file (mode 0600 in a 0700 directory) holding a secret.
struct Victim {
    _dir: tempfile::TempDir,
    path: PathBuf,
    secret: String,
    content: Vec<u8>,
    meta: std::fs::Metadata,
}

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::Builder::new()
            .prefix("xdist-victim-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("root-only");
        let secret = format!("root-only-secret-{}", uuid::Uuid::new_v4().simple());
        let content: String = (0..10).map(|i| format!("{secret} line {i}\n")).collect();
        std::fs::write(&path, &content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        Victim {
            _dir: dir,
            path,
            secret,
            content: content.into_bytes(),
            meta,
        }
    }

    /// The file is as it was, and nothing the run printed quotes it.
    fn assert_untouched_and_unprinted(&self, run: &Run) {
        let now = std::fs::symlink_metadata(&self.path).unwrap();
        let content = std::fs::read(&self.path).unwrap();
        assert!(
            content == self.content,
            "the root-only file was written through a planted symlink; it now holds {:?}{}",
            String::from_utf8_lossy(&content),
            run.ctx()
        );
        assert_eq!(
            (now.mode(), now.uid(), now.len(), now.modified().unwrap()),
            (
                self.meta.mode(),
                self.meta.uid(),
                self.meta.len(),
                self.meta.modified().unwrap()
            ),
            "the root-only file changed{}",
            run.ctx()
        );
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(&self.secret),
                "the run printed root-only content on {name}{}",
                run.ctx()
            );
        }
    }
}

/// Ends the process group it names when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

/// A loop, as `postgres`, planting symlinks to `victim` under every
/// `PLANTED_NAMES` in each of `dirs` it can write, over and over. Each
/// symlink it newly placed is named on its output, which `planted` holds.
struct Planter {
    _group: Group,
    planted: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Planter {
    fn start(dirs: &[PathBuf], victim: &Path) -> Planter {
        let (uid, gid) = ids_of("postgres");
        let script = r#"victim=$1; shift
while :; do
  for d in "$@"; do
    [ -d "$d" ] && [ -w "$d" ] || continue
    for f in NAMES; do
      if [ ! -L "$d/$f" ]; then
        ln -sfn "$victim" "$d/$f" 2>/dev/null && echo "$d/$f"
      fi
    done
  done
  sleep 0.01
done"#
            .replace("NAMES", &PLANTED_NAMES.join(" "));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("planter")
            .arg(victim)
            .args(dirs)
            .current_dir("/")
            .uid(uid)
            .gid(gid)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the planting loop as postgres: {e}"));
        let planted = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = planted.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Planter {
            _group: Group(child),
            planted,
        }
    }

    fn planted(&self) -> String {
        self.planted.lock().unwrap().clone()
    }
}

/// The command line of process `pid`, split at its NULs.
fn cmdline(pid: &str) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            c.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn parent_of(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The data directory of the server cargo-xdist `xdist` starts: its
/// watchdog (`sh -c '... stop -D "$1" ...' pg_ctl DATA DIR`, a child of
/// the run's process) names it, from before initdb runs. Only this run's
/// server: other runs on the machine are left alone.
fn wait_for_data_dir(xdist: u32) -> PathBuf {
    // Checked often: the planter should start before initdb fills it.
    let found = poll(Duration::from_millis(5), WAIT_LIMIT, || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|pid| pid.parse::<u32>().is_ok())
            .filter(|pid| parent_of(pid) == Some(xdist))
            .map(|pid| cmdline(&pid))
            .find(|args| {
                args.len() >= 5 && args[0] == "sh" && args[1] == "-c" && args[2].contains("stop -D")
            })
    });
    let args = found.unwrap_or_else(|| {
        panic!("cargo-xdist {xdist} started no ephemeral server watchdog within {WAIT_LIMIT:?}")
    });
    PathBuf::from(&args[4])
}

/// Every directory of the server from its data directory up to (not
/// including) the temporary directory it was made in: the planter tries
/// them all, and plants wherever `postgres` may write.
fn server_dirs(data: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![data.to_path_buf()];
    for dir in data.ancestors().skip(1) {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        dirs.push(dir.to_path_buf());
        if name.is_none_or(|n| n.starts_with("cargo-xdist-pg-")) {
            break;
        }
    }
    dirs
}

/// The server's outermost directory (`cargo-xdist-pg-*`) of `dirs`.
fn outermost(dirs: &[PathBuf]) -> &Path {
    dirs.last().unwrap()
}

/// Run dbapp with `--ephemeral-postgres` while a `postgres` loop plants
/// symlinks to `victim` in the run's server directories; `env` on top.
fn attacked_run(victim: &Victim, env: &[(&str, &str)]) -> (Run, String, Vec<PathBuf>) {
    let mut xdist = xdist_fixture("dbapp", &["-n", "2", "--ephemeral-postgres"]);
    for (k, v) in env {
        xdist = xdist.env(k, v);
    }
    let mut planter = None;
    let mut dirs = Vec::new();
    let run = xdist.run_with(|live| {
        dirs = server_dirs(&wait_for_data_dir(live.pid));
        planter = Some(Planter::start(&dirs, &victim.path));
    });
    let planter = planter.expect("the planting loop ran");
    let planted = planter.planted();
    drop(planter);
    (run, planted, dirs)
}

#[test]
fn symlinks_planted_by_postgres_change_no_root_file_and_print_nothing_root_only() {
    require_root("the planted-symlink check");
    let victim = Victim::new();
    let (run, planted, dirs) = attacked_run(&victim, &[]);
    victim.assert_untouched_and_unprinted(&run);
    // The attack did happen: it had a directory of the server to plant in.
    assert!(
        !planted.trim().is_empty(),
        "postgres could plant nothing in {dirs:?}: the test proves nothing{}",
        run.ctx()
    );
    eprintln!("planted:\n{planted}");
    // And the run was not stopped by it.
    run.assert_code(0);
    run.assert_no_panic();
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind{}", dir.display(), run.ctx());
    }
}

/// A directory of `initdb` and `pg_ctl` for PATH: `pg_ctl start` asks the
/// server for a setting that does not exist, so the start fails; the rest
/// are the real programs.
fn failing_pg_ctl_bin() -> tempfile::TempDir {
    let real = pg_bin_dir();
    let bin = tempfile::Builder::new()
        .prefix("xdist-fake-pg-")
        .tempdir()
        .unwrap();
    // The server's account runs these.
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pg_ctl = bin.path().join("pg_ctl");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" start \"*) exec '{0}/pg_ctl' -o '-c no_such_setting=1' \"$@\";; esac\nexec '{0}/pg_ctl' \"$@\"\n",
        real.display()
    );
    std::fs::write(&pg_ctl, script).unwrap();
    std::fs::set_permissions(&pg_ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(real.join("initdb"), bin.path().join("initdb")).unwrap();
    bin
}

#[test]
fn a_failed_start_shows_the_end_of_its_own_log_and_nothing_planted() {
    require_root("the planted-symlink check of a failed start");
    let victim = Victim::new();
    let bin = failing_pg_ctl_bin();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (run, planted, dirs) = attacked_run(&victim, &[("PATH", &path)]);
    victim.assert_untouched_and_unprinted(&run);
    assert!(
        !planted.trim().is_empty(),
        "postgres could plant nothing in {dirs:?}: the test proves nothing{}",
        run.ctx()
    );
    run.assert_code(2);
    run.assert_no_panic();
    let errors: Vec<&str> = run
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line{}", run.ctx());
    // The server's own words, from its own log.
    assert!(
        errors[0].contains(
            "pg_ctl start failed (exit code 1) (log: FATAL: unrecognized configuration \
             parameter \"no_such_setting\");"
        ),
        "the end of the server's log is not shown{}",
        run.ctx()
    );
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind{}", dir.display(), run.ctx());
    }
}

#[test]
fn the_watchdogs_remove_every_directory_of_a_killed_runs_server() {
    require_root("the check of the watchdogs' cleanup of the server's directories as root");
    let mut found = None;
    let run = xdist_fixture("dbapp", &["-n", "2", "--ephemeral-postgres"]).run_with(|live| {
        let data = wait_for_data_dir(live.pid);
        let dirs = server_dirs(&data);
        // Up: its postmaster.pid names a live process (read here, by the
        // test, as root: a test may).
        let what = format!("the server in {} to start", data.display());
        let pid = wait_for_within(&what, Duration::from_secs(120), || {
            std::fs::read_to_string(data.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
                // initdb's single-user backend writes its pid negated.
                .filter(|&pid| pid > 0)
        });
        let id = rustix::process::Pid::from_raw(live.pid as i32).unwrap();
        rustix::process::kill_process(id, rustix::process::Signal::KILL).unwrap();
        found = Some((pid, dirs));
    });
    assert_eq!(run.signal, Some(libc::SIGKILL), "{}", run.ctx());
    let (pid, dirs) = found.unwrap();
    let outer = outermost(&dirs).to_path_buf();
    assert!(
        outer
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("cargo-xdist-pg-")),
        "{dirs:?}"
    );
    let gone = || cargo_xdist::db::ephemeral::process_gone(pid).unwrap();
    let cleaned = poll(POLL, Duration::from_secs(60), || {
        (gone() && !outer.exists()).then_some(())
    });
    if cleaned.is_none() {
        let _ = std::fs::remove_dir_all(&outer);
        panic!(
            "the watchdogs left postmaster {pid} (gone: {}) or {} behind",
            gone(),
            outer.display()
        );
    }
}
