//! Shared helpers for the end-to-end tests: run the real `cargo-xdist`
//! binary against the fixture workspaces, parse its JUnit report and the
//! fixtures' record files, and describe every failure with the tool's
//! output.
//!
//! All fixture builds share one target directory,
//! `<repo>/target/fixture-target`, so they are compiled once and cached.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub const XDIST: &str = env!("CARGO_BIN_EXE_cargo-xdist");

/// The longest one run may take before the test gives up on it (a cold
/// fixture build on a busy 2-core CI machine included).
const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// How long to keep reading the tool's stdout/stderr after it exited (a
/// leftover grandchild may hold the pipes open; that is reported, not
/// waited for).
const PIPE_GRACE: Duration = Duration::from_secs(10);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_dir(name: &str) -> PathBuf {
    repo_root().join("fixtures").join(name)
}

pub fn fixture_manifest(name: &str) -> String {
    fixture_dir(name)
        .join("Cargo.toml")
        .to_string_lossy()
        .into_owned()
}

/// A new temporary directory (named `prefix...`) holding a copy of each
/// named fixture, side by side as under `fixtures/` (so path
/// dependencies such as `../record` still resolve).
pub fn fixture_copies(prefix: &str, names: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    for name in names {
        copy_tree(&fixture_dir(name), &tmp.path().join(name));
    }
    tmp
}

/// Copy a directory tree, leaving out `target` directories.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The one target directory shared by every fixture build.
pub fn fixture_target_dir() -> PathBuf {
    repo_root().join("target").join("fixture-target")
}

/// A package directory of a fixture, canonicalized (what `getcwd` reports).
pub fn package_dir(fixture: &str, package: &str) -> PathBuf {
    let p = if package.is_empty() {
        fixture_dir(fixture)
    } else {
        fixture_dir(fixture).join(package)
    };
    std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("cannot canonicalize {}: {e}", p.display()))
}

// ---------------------------------------------------------------------------
// Running the tool
// ---------------------------------------------------------------------------

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

        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for cargo-xdist") {
                break Some(status);
            }
            if started.elapsed() > RUN_DEADLINE {
                // Only the process this test started, by its pid.
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
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

// ---------------------------------------------------------------------------
// Record files (fixtures/record)
// ---------------------------------------------------------------------------

/// One line of `$XDIST_FIXTURE_RECORD/<pid>.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub pid: u32,
    pub worker: String,
    pub worker_count: String,
    pub run_id: String,
    pub cwd: String,
    pub manifest_dir: String,
    pub database_url: String,
}

pub fn read_records(dir: &Path) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    // A missing directory is an error, not "no records": the harness creates
    // it before every run, so it was deleted or this is the wrong path.
    let rd =
        std::fs::read_dir(dir).map_err(|e| format!("record directory {}: {e}", dir.display()))?;
    for entry in rd {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem_pid: Option<u32> = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok());
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 8 {
                return Err(format!(
                    "{}: record line without 8 fields: {line:?}",
                    path.display()
                ));
            }
            let pid: u32 = f[1].parse().map_err(|_| format!("bad pid in {line:?}"))?;
            if stem_pid != Some(pid) {
                return Err(format!(
                    "{}: record of pid {pid} in another pid's file",
                    path.display()
                ));
            }
            out.push(Record {
                name: f[0].into(),
                pid,
                worker: f[2].into(),
                worker_count: f[3].into(),
                run_id: f[4].into(),
                cwd: f[5].into(),
                manifest_dir: f[6].into(),
                database_url: f[7].into(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid)));
    Ok(out)
}

/// Records grouped by test name.
pub fn records_by_name(records: &[Record]) -> BTreeMap<&str, Vec<&Record>> {
    let mut m: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        m.entry(r.name.as_str()).or_default().push(r);
    }
    m
}

pub fn is_run_id(s: &str) -> bool {
    s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------
// JUnit (read back with quick-junit's own deserializer)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JOutcome {
    Passed,
    /// A `<failure>` or `<error>` element.
    Failed {
        message: String,
        /// The `type` attribute (`test failure`, `timeout`).
        kind: String,
        /// The element's text: the captured output or the reason in full.
        description: String,
        /// `<error>` rather than `<failure>`.
        error: bool,
    },
    Skipped,
}

impl JOutcome {
    pub fn short(&self) -> &'static str {
        match self {
            JOutcome::Passed => "pass",
            JOutcome::Failed { .. } => "fail",
            JOutcome::Skipped => "skip",
        }
    }
}

#[derive(Debug, Clone)]
pub struct JCase {
    pub suite: String,
    pub name: String,
    pub classname: String,
    pub outcome: JOutcome,
    /// The `worker` property.
    pub worker: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Junit {
    /// The whole report (totals: `report.tests`, `report.failures`, ...).
    pub report: quick_junit::Report,
    pub cases: Vec<JCase>,
    /// The `xdist.run_id` property of every suite, in suite order.
    pub run_ids: Vec<Option<String>>,
}

fn property(props: &[quick_junit::Property], name: &str) -> Option<String> {
    props
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str().to_string())
}

fn xml_text(s: &Option<quick_junit::XmlString>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

impl Junit {
    pub fn parse(xml: &str) -> Result<Junit, String> {
        use quick_junit::{NonSuccessKind, TestCaseStatus};
        let report = quick_junit::Report::deserialize_from_str(xml).map_err(|e| e.to_string())?;
        let mut cases = Vec::new();
        let mut run_ids = Vec::new();
        for suite in &report.test_suites {
            run_ids.push(property(&suite.properties, "xdist.run_id"));
            for c in &suite.test_cases {
                let outcome = match &c.status {
                    TestCaseStatus::Success { .. } => JOutcome::Passed,
                    TestCaseStatus::Skipped { .. } => JOutcome::Skipped,
                    TestCaseStatus::NonSuccess {
                        kind,
                        message,
                        ty,
                        description,
                        ..
                    } => JOutcome::Failed {
                        message: xml_text(message).unwrap_or_default(),
                        kind: xml_text(ty).unwrap_or_default(),
                        description: xml_text(description).unwrap_or_default(),
                        error: *kind == NonSuccessKind::Error,
                    },
                };
                cases.push(JCase {
                    suite: suite.name.as_str().to_string(),
                    name: c.name.as_str().to_string(),
                    classname: xml_text(&c.classname).unwrap_or_default(),
                    outcome,
                    worker: property(&c.properties, "worker"),
                    system_out: xml_text(&c.system_out),
                    system_err: xml_text(&c.system_err),
                });
            }
        }
        Ok(Junit {
            report,
            cases,
            run_ids,
        })
    }

    /// Every text of the report as parsed, that is with XML escapes resolved
    /// (names, attributes, properties, messages, output, reruns), each with
    /// where it was found. Searching the raw XML instead misses a text the
    /// writer escaped (`&`, `<`, `"`, ...).
    pub fn texts(&self) -> Vec<(String, String)> {
        use quick_junit::{Property, TestCaseStatus, XmlString};
        type Found<'a> = Vec<(String, Option<&'a XmlString>)>;
        /// Properties and extra attributes: names and values.
        fn named<'a>(
            out: &mut Found<'a>,
            at: &str,
            props: &'a [Property],
            attrs: impl IntoIterator<Item = (&'a XmlString, &'a XmlString)>,
        ) {
            let props = props.iter().map(|p| (&p.name, &p.value));
            for (k, v) in props.chain(attrs) {
                out.push((format!("{at}: a name"), Some(k)));
                out.push((format!("{at}: {}", k.as_str()), Some(v)));
            }
        }
        let mut out: Found = vec![("report name".into(), self.report.name.as_ref())];
        for suite in &self.report.test_suites {
            let at = format!("suite {}", suite.name.as_str());
            out.push(("suite name".into(), Some(&suite.name)));
            named(&mut out, &at, &suite.properties, &suite.extra);
            out.push((format!("{at}: system-out"), suite.system_out.as_ref()));
            out.push((format!("{at}: system-err"), suite.system_err.as_ref()));
            for case in &suite.test_cases {
                let at = format!("{at} case {}", case.name.as_str());
                named(&mut out, &at, &case.properties, &case.extra);
                out.extend([
                    (format!("{at}: name"), Some(&case.name)),
                    (format!("{at}: classname"), case.classname.as_ref()),
                    (format!("{at}: system-out"), case.system_out.as_ref()),
                    (format!("{at}: system-err"), case.system_err.as_ref()),
                ]);
                let (message, ty, description, reruns) = match &case.status {
                    TestCaseStatus::Success { flaky_runs } => {
                        (&None, &None, &None, &flaky_runs[..])
                    }
                    TestCaseStatus::NonSuccess {
                        message,
                        ty,
                        description,
                        reruns,
                        ..
                    } => (message, ty, description, &reruns.runs[..]),
                    TestCaseStatus::Skipped {
                        message,
                        ty,
                        description,
                    } => (message, ty, description, &[][..]),
                };
                out.extend([
                    (format!("{at}: message"), message.as_ref()),
                    (format!("{at}: type"), ty.as_ref()),
                    (format!("{at}: description"), description.as_ref()),
                ]);
                for (i, r) in reruns.iter().enumerate() {
                    let at = format!("{at}: rerun {i}");
                    out.extend([
                        (format!("{at} message"), r.message.as_ref()),
                        (format!("{at} type"), r.ty.as_ref()),
                        (format!("{at} description"), r.description.as_ref()),
                        (format!("{at} stack trace"), r.stack_trace.as_ref()),
                        (format!("{at} system-out"), r.system_out.as_ref()),
                        (format!("{at} system-err"), r.system_err.as_ref()),
                    ]);
                }
            }
        }
        out.into_iter()
            .filter_map(|(at, s)| s.map(|s| (at, s.as_str().to_string())))
            .collect()
    }

    /// The run id, if every suite has the same one (and there is a suite).
    pub fn run_id(&self) -> Option<String> {
        let set: BTreeSet<&Option<String>> = self.run_ids.iter().collect();
        match set.into_iter().collect::<Vec<_>>()[..] {
            [Some(id)] => Some(id.clone()),
            _ => None,
        }
    }

    pub fn get(&self, suite: &str, name: &str) -> Option<&JCase> {
        self.cases
            .iter()
            .find(|c| c.suite == suite && c.name == name)
    }

    /// The case named `name` (names are unique in the fixtures).
    pub fn by_name(&self, name: &str) -> Option<&JCase> {
        let mut it = self.cases.iter().filter(|c| c.name == name);
        let first = it.next();
        if it.next().is_some() { None } else { first }
    }

    /// `(suite, name) -> outcome` for comparisons.
    pub fn outcome_map(&self) -> BTreeMap<(String, String), &'static str> {
        self.cases
            .iter()
            .map(|c| ((c.suite.clone(), c.name.clone()), c.outcome.short()))
            .collect()
    }
}

/// Compare `(suite, name) -> pass|fail|skip` maps; describe every difference.
pub fn diff_outcomes(
    expected: &BTreeMap<(String, String), &'static str>,
    actual: &BTreeMap<(String, String), &'static str>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (k, want) in expected {
        match actual.get(k) {
            None => diffs.push(format!("missing: {} {} (expected {want})", k.0, k.1)),
            Some(got) if got != want => {
                diffs.push(format!("{} {}: expected {want}, got {got}", k.0, k.1))
            }
            _ => {}
        }
    }
    for k in actual.keys() {
        if !expected.contains_key(k) {
            diffs.push(format!("unexpected: {} {} ({})", k.0, k.1, actual[k]));
        }
    }
    diffs
}

// ---------------------------------------------------------------------------
// The `basic` fixture's expected outcomes (fixtures/basic/EXPECTED.md)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exp {
    Pass,
    Fail,
    /// `#[ignore]`: skipped by default, passes when selected.
    Ignored,
}

/// One test of `fixtures/basic`.
#[derive(Debug, Clone, Copy)]
pub struct BasicTest {
    pub package: &'static str,
    /// cargo-xdist's binary id = the JUnit suite name.
    pub binary: &'static str,
    /// Source file, relative to the package.
    pub file: &'static str,
    /// Full libtest name (the target name for a custom harness).
    pub name: &'static str,
    pub exp: Exp,
}

const fn t(
    package: &'static str,
    binary: &'static str,
    file: &'static str,
    name: &'static str,
    exp: Exp,
) -> BasicTest {
    BasicTest {
        package,
        binary,
        file,
        name,
        exp,
    }
}

use Exp::{Fail, Ignored, Pass};

/// Every test of `fixtures/basic` (39 libtest tests + 2 custom-harness targets).
pub const BASIC: &[BasicTest] = &[
    t("alpha", "alpha", "src/lib.rs", "tests::greet_works", Pass),
    t("alpha", "alpha", "src/lib.rs", "tests::double_works", Pass),
    t(
        "alpha",
        "alpha",
        "src/lib.rs",
        "tests::version_is_set",
        Pass,
    ),
    t("alpha", "alpha", "src/math.rs", "math::tests::adds", Pass),
    t(
        "alpha",
        "alpha",
        "src/math.rs",
        "math::tests::subtracts",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/math.rs",
        "math::tests::multiplies",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/math.rs",
        "math::tests::divides",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/math.rs",
        "math::tests::ignored_in_math",
        Ignored,
    ),
    t(
        "alpha",
        "alpha",
        "src/math.rs",
        "math::tests::divide_by_zero_panics",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/math.rs",
        "math::tests::fails_on_purpose",
        Fail,
    ),
    t(
        "alpha",
        "alpha",
        "src/text/mod.rs",
        "text::tests::shout_uppercases",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/text/mod.rs",
        "text::tests::reverse_works",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/text/case.rs",
        "text::case::tests::snake_case",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/text/case.rs",
        "text::case::tests::title_case",
        Pass,
    ),
    t(
        "alpha",
        "alpha",
        "src/text/case.rs",
        "text::case::tests::empty_input",
        Pass,
    ),
    t(
        "alpha",
        "alpha::test/api",
        "tests/api.rs",
        "create_user",
        Pass,
    ),
    t("alpha", "alpha::test/api", "tests/api.rs", "get_user", Pass),
    t(
        "alpha",
        "alpha::test/api",
        "tests/api.rs",
        "update_user",
        Pass,
    ),
    t(
        "alpha",
        "alpha::test/api",
        "tests/api.rs",
        "delete_user",
        Pass,
    ),
    t(
        "alpha",
        "alpha::test/api",
        "tests/api.rs",
        "noisy_output",
        Pass,
    ),
    t(
        "alpha",
        "alpha::test/api",
        "tests/api.rs",
        "nested::list_users",
        Pass,
    ),
    t(
        "alpha",
        "alpha::test/api",
        "tests/api.rs",
        "ignored_api",
        Ignored,
    ),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_1", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_2", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_3", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_4", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_5", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_6", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_7", Pass),
    t("alpha", "alpha::test/slow", "tests/slow.rs", "slow_8", Pass),
    t(
        "alpha",
        "alpha::example/demo",
        "examples/demo.rs",
        "demo_greets",
        Pass,
    ),
    t(
        "alpha",
        "alpha::example/demo",
        "examples/demo.rs",
        "demo_doubles",
        Pass,
    ),
    t("beta", "beta", "src/lib.rs", "tests::uses_dylib_add", Pass),
    t("beta", "beta", "src/lib.rs", "tests::uses_dylib_name", Pass),
    t("gamma", "gamma", "src/lib.rs", "tests::gamma_squares", Pass),
    t("gamma", "gamma", "src/lib.rs", "tests::gamma_name", Pass),
    t("gamma", "gamma", "src/lib.rs", "tests::gamma_len", Pass),
    t(
        "gamma",
        "gamma::test/gamma_it",
        "tests/gamma_it.rs",
        "gamma_it_first",
        Pass,
    ),
    t(
        "gamma",
        "gamma::test/gamma_it",
        "tests/gamma_it.rs",
        "gamma_it_second",
        Pass,
    ),
    t(
        "custom",
        "custom::test/custom_ok",
        "tests/custom_ok.rs",
        "custom_ok",
        Pass,
    ),
    t(
        "custom",
        "custom::test/custom_fail",
        "tests/custom_fail.rs",
        "custom_fail",
        Fail,
    ),
];

pub fn basic_test(name: &str) -> &'static BasicTest {
    BASIC
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name:?} is not a test of fixtures/basic"))
}

pub fn is_custom(t: &BasicTest) -> bool {
    t.package == "custom"
}

/// How a selection treats `#[ignore]`d tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredMode {
    /// Default: reported as skipped.
    Skip,
    /// `--include-ignored`: run (and pass).
    Include,
}

/// Expected JUnit outcomes for the tests of `BASIC` that `keep` selects.
pub fn basic_expected(
    mode: IgnoredMode,
    keep: impl Fn(&BasicTest) -> bool,
) -> BTreeMap<(String, String), &'static str> {
    BASIC
        .iter()
        .filter(|t| keep(t))
        .map(|t| {
            let o = match (t.exp, mode) {
                (Pass, _) | (Ignored, IgnoredMode::Include) => "pass",
                (Fail, _) => "fail",
                (Ignored, IgnoredMode::Skip) => "skip",
            };
            ((t.binary.to_string(), t.name.to_string()), o)
        })
        .collect()
}

/// Assert the run's JUnit outcomes equal `expected` exactly.
pub fn assert_outcomes(
    run: &Run,
    junit: &Junit,
    expected: &BTreeMap<(String, String), &'static str>,
) {
    let mut diffs = diff_outcomes(expected, &junit.outcome_map());
    // The map keeps one entry per (suite, name): a test reported twice
    // would otherwise go unnoticed.
    let mut seen = BTreeSet::new();
    for c in &junit.cases {
        if !seen.insert((&c.suite, &c.name)) {
            diffs.push(format!("reported more than once: {} {}", c.suite, c.name));
        }
    }
    assert!(
        diffs.is_empty(),
        "JUnit outcomes differ from the expected table:\n  {}{}",
        diffs.join("\n  "),
        run.ctx()
    );
}

/// Assert that exactly the tests named in `expected` were executed, each
/// exactly once (one record line each).
pub fn assert_recorded_once(run: &Run, records: &[Record], expected: &BTreeSet<&str>) {
    let by_name = records_by_name(records);
    let mut problems = Vec::new();
    for name in expected {
        match by_name.get(name).map(|v| v.len()) {
            None => problems.push(format!("{name}: never ran (no record)")),
            Some(1) => {}
            Some(n) => problems.push(format!("{name}: ran {n} times")),
        }
    }
    for name in by_name.keys() {
        if !expected.contains(name) {
            problems.push(format!("{name}: ran but was not selected"));
        }
    }
    assert!(
        problems.is_empty(),
        "record files do not match the selected tests:\n  {}\nrecords: {records:#?}{}",
        problems.join("\n  "),
        run.ctx()
    );
}

// ---------------------------------------------------------------------------
// Leftover processes
// ---------------------------------------------------------------------------

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
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = processes_with_env(&needle);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = processes_with_env(&needle);
    }
    if !left.is_empty() {
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
