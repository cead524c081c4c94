//! Running the real `cargo-xdist` binary: the [`Xdist`] builder and the
//! finished [`Run`], which describes itself for failure messages.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fixtures::{fixture_manifest, fixture_target_dir, repo_root};
use super::junit::Junit;
use super::records::{Record, read_records};
use super::wait::{POLL, poll};

/// The binary under test.
pub const XDIST: &str = env!("CARGO_BIN_EXE_cargo-xdist");

/// The longest one run may take before the test gives up on it (a cold
/// fixture build on a busy 2-core CI machine included).
const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// How long to keep reading the tool's stdout/stderr after it exited (a
/// leftover grandchild may hold the pipes open; that is reported, not
/// waited for).
const PIPE_GRACE: Duration = Duration::from_secs(10);

/// Variables the outer `cargo test` sets for this test process that a user
/// running `cargo xdist` from a shell would not have; they must not leak into
/// the tool (or, through it, into the fixture tests).
const CARGO_TEST_ONLY_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Variables that would change what the tool does or what the fixtures
/// record: the run's own identity, the record switch, a database URL.
const TOOL_INPUT_VARS: &[&str] = &[
    "XDIST_WORKER",
    "XDIST_WORKER_COUNT",
    "XDIST_TESTRUNUID",
    "XDIST_FIXTURE_RECORD",
    "DATABASE_URL",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
];

/// `LD_LIBRARY_PATH` without the entries the outer `cargo test` added (this
/// repo's target dir, the toolchain's sysroot libraries), so the tool has to
/// find the fixtures' dylibs itself, as it would when run from a shell.
fn user_library_path() -> Option<String> {
    let current = std::env::var("LD_LIBRARY_PATH").ok()?;
    let target = repo_root().join("target");
    let kept: Vec<&str> = current
        .split(':')
        .filter(|e| !e.is_empty())
        .filter(|e| !Path::new(e).starts_with(&target))
        .filter(|e| !e.contains("/lib/rustlib/"))
        .filter(|e| !(e.ends_with("/lib") && Path::new(e).join("rustlib").is_dir()))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join(":"))
    }
}

/// A `cargo xdist ...` invocation being prepared.
pub struct Xdist {
    args: Vec<String>,
    junit: bool,
    envs: Vec<(String, String)>,
    removed: Vec<String>,
    cwd: Option<PathBuf>,
}

/// Start preparing `cargo xdist <args>` (the `xdist` argument is added, as
/// cargo does for a subcommand).
pub fn xdist<S: AsRef<str>>(args: &[S]) -> Xdist {
    Xdist {
        args: args.iter().map(|a| a.as_ref().to_string()).collect(),
        junit: false,
        envs: Vec::new(),
        removed: Vec::new(),
        cwd: None,
    }
}

/// `cargo xdist --manifest-path fixtures/<fixture>/Cargo.toml <args>`.
pub fn xdist_fixture<S: AsRef<str>>(fixture: &str, args: &[S]) -> Xdist {
    let mut all = vec!["--manifest-path".to_string(), fixture_manifest(fixture)];
    all.extend(args.iter().map(|a| a.as_ref().to_string()));
    xdist(&all)
}

/// `cargo xdist <subcommand> --manifest-path fixtures/<fixture>/Cargo.toml <args>`
/// (a subcommand must come first: after an option it would be a filter).
pub fn xdist_fixture_sub<S: AsRef<str>>(subcommand: &str, fixture: &str, args: &[S]) -> Xdist {
    let mut all = vec![
        subcommand.to_string(),
        "--manifest-path".to_string(),
        fixture_manifest(fixture),
    ];
    all.extend(args.iter().map(|a| a.as_ref().to_string()));
    xdist(&all)
}

impl Xdist {
    /// Add `--junit <tempdir>/j.xml`.
    pub fn junit(mut self) -> Self {
        self.junit = true;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Run in `dir` instead of the repository's root.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Run without `key` in the environment.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.removed.push(key.into());
        self
    }

    /// Run to completion (bounded by [`RUN_DEADLINE`]).
    pub fn run(self) -> Run {
        self.run_with(|_| {})
    }

    /// Run to completion, calling `during` once the tool has started (to
    /// signal it, say). Should `during` panic, the tool is killed first.
    pub fn run_with(self, during: impl FnOnce(&Live)) -> Run {
        let tmp = tempfile::Builder::new()
            .prefix("xdist-it-")
            .tempdir()
            .expect("cannot create a temporary directory");
        // The harness creates the record directory before the run and
        // requires it afterwards: an empty directory then means "no test
        // recorded", never "nothing was recorded where we look".
        let record_dir = tmp.path().join("records");
        std::fs::create_dir(&record_dir).unwrap_or_else(|e| {
            panic!(
                "cannot create the record directory {}: {e}",
                record_dir.display()
            )
        });
        let junit_path = self.junit.then(|| tmp.path().join("j.xml"));

        let mut args: Vec<String> = vec!["xdist".into()];
        args.extend(self.args.iter().cloned());
        if let Some(j) = &junit_path {
            // Options go before a `--` separator (after it they are test args).
            let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
            args.splice(
                at..at,
                ["--junit".to_string(), j.to_string_lossy().into_owned()],
            );
        }

        let mut cmd = Command::new(XDIST);
        cmd.args(&args)
            .current_dir(self.cwd.clone().unwrap_or_else(repo_root));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if CARGO_TEST_ONLY_VARS.contains(&k.as_str())
                || TOOL_INPUT_VARS.contains(&k.as_str())
                || k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_EXE_")
            {
                cmd.env_remove(&k);
            }
        }
        match user_library_path() {
            Some(p) => cmd.env("LD_LIBRARY_PATH", p),
            None => cmd.env_remove("LD_LIBRARY_PATH"),
        };
        cmd.env("CARGO_TARGET_DIR", fixture_target_dir())
            .env("XDIST_FIXTURE_RECORD", &record_dir)
            .env("CARGO_TERM_COLOR", "never")
            .env("NO_COLOR", "1");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        for k in &self.removed {
            cmd.env_remove(k);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {XDIST}: {e}"));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        for (mut pipe, buf) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                out.clone(),
            ),
            (
                Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
                err.clone(),
            ),
        ] {
            let tx = done_tx.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 64 * 1024];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tx.send(());
            });
        }
        drop(done_tx);
        let live = Live {
            pid: child.id(),
            record_dir: &record_dir,
        };
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| during(&live)))
        {
            // Only the process this test started, by its pid.
            let _ = child.kill();
            let _ = child.wait();
            std::panic::resume_unwind(panic);
        }

        let limit = RUN_DEADLINE.saturating_sub(started.elapsed());
        let status = poll(POLL, limit, || {
            child.try_wait().expect("waiting for cargo-xdist")
        });
        let timed_out = status.is_none();
        if timed_out {
            // Only the process this test started, by its pid.
            let _ = child.kill();
            let _ = child.wait();
        }
        let exited = Instant::now();
        let mut closed = 0;
        while closed < 2 {
            let left = PIPE_GRACE.saturating_sub(exited.elapsed());
            match done_rx.recv_timeout(left) {
                Ok(()) => closed += 1,
                Err(_) => break,
            }
        }
        let stdout = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
        let run = Run {
            args,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            stdout,
            stderr,
            pipes_left_open: closed < 2,
            record_dir,
            junit_path,
            _tmp: tmp,
        };
        if timed_out {
            panic!(
                "cargo-xdist did not finish within {RUN_DEADLINE:?}; killed it\n{}",
                run.ctx()
            );
        }
        run
    }
}

/// The tool while it runs (see [`Xdist::run_with`]).
pub struct Live<'a> {
    pub pid: u32,
    /// Where its tests write their records.
    pub record_dir: &'a Path,
}

/// A finished run of the tool.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// stdout/stderr were still open [`PIPE_GRACE`] after the tool exited:
    /// some process of the run still holds them.
    pub pipes_left_open: bool,
    pub record_dir: PathBuf,
    pub junit_path: Option<PathBuf>,
    _tmp: tempfile::TempDir,
}

/// Keep the start and the end of a long text.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let head_len = max / 4;
    let mut h = head_len;
    while !s.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = s.len() - (max - head_len);
    while !s.is_char_boundary(t) {
        t += 1;
    }
    format!(
        "{}\n[... {} bytes omitted ...]\n{}",
        &s[..h],
        t - h,
        &s[t..]
    )
}

impl Run {
    /// Everything needed to debug a failed assertion about this run.
    pub fn ctx(&self) -> String {
        format!(
            "\n=== command: {} {}\n=== exit code: {:?}{}{}\n=== stdout:\n{}\n=== stderr:\n{}\n=== end of cargo-xdist output\n",
            XDIST,
            self.args.join(" "),
            self.code,
            self.signal
                .map(|s| format!(" (killed by signal {s})"))
                .unwrap_or_default(),
            if self.pipes_left_open {
                " (stdout/stderr still held open by a leftover process)"
            } else {
                ""
            },
            clip(&self.stdout, 24_000),
            clip(&self.stderr, 12_000),
        )
    }

    pub fn assert_code(&self, expected: i32) {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code{}",
            self.ctx()
        );
    }

    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("cargo-xdist' panicked"),
            "cargo-xdist panicked{}",
            self.ctx()
        );
    }

    /// The last line of stdout (without its newline).
    pub fn last_line(&self) -> &str {
        self.stdout
            .trim_end_matches('\n')
            .rsplit('\n')
            .next()
            .unwrap_or("")
    }

    /// The last stdout line must be exactly the summary line.
    pub fn assert_summary(&self, passed: usize, failed: usize, skipped: usize) {
        let want = format!("Summary: {passed} passed, {failed} failed, {skipped} skipped");
        assert!(
            self.stdout.ends_with('\n'),
            "stdout does not end with a newline{}",
            self.ctx()
        );
        assert_eq!(
            self.last_line(),
            want,
            "the last line of stdout is not the expected summary{}",
            self.ctx()
        );
    }

    /// Non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// The JUnit report (the run must have been started with `.junit()`).
    pub fn junit(&self) -> Junit {
        let path = self
            .junit_path
            .as_ref()
            .expect("run was started without .junit()");
        let xml = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!(
                "cannot read the JUnit report {}: {e}{}",
                path.display(),
                self.ctx()
            )
        });
        Junit::parse(&xml)
            .unwrap_or_else(|e| panic!("cannot parse the JUnit report: {e}\n{xml}{}", self.ctx()))
    }

    /// All record lines written by the fixture tests of this run.
    pub fn records(&self) -> Vec<Record> {
        read_records(&self.record_dir)
            .unwrap_or_else(|e| panic!("bad record files: {e}{}", self.ctx()))
    }

    /// Names of the files in the record directory (which must exist: the
    /// harness created it before the run).
    pub fn record_files(&self) -> Vec<String> {
        let rd = std::fs::read_dir(&self.record_dir).unwrap_or_else(|e| {
            panic!(
                "cannot read the record directory {}: {e}{}",
                self.record_dir.display(),
                self.ctx()
            )
        });
        rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// No test process of this run recorded anything (`what` says why none
    /// should have run). An empty record directory alone cannot tell "no
    /// test ran" from "recording is broken" (say `XDIST_FIXTURE_RECORD` no
    /// longer reaches the tests), so `control`, a run of the same test
    /// through the same harness that does run tests, must have recorded.
    pub fn assert_no_test_ran(&self, control: &Run, what: &str) {
        assert!(
            !control.records().is_empty(),
            "the positive control recorded nothing, so recording is broken and \
             cannot show that {what}{}",
            control.ctx()
        );
        let files = self.record_files();
        assert!(
            files.is_empty(),
            "tests ran, but {what}: record files {files:?}, records {:#?}{}",
            read_records(&self.record_dir),
            self.ctx()
        );
    }
}
