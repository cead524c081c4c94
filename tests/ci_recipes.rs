//! The CI recipes in `ci/` run here, step by step, as their CI service would
//! run them: a build job, a matrix of 3 test shards and 3 coverage shards,
//! each against its own PostgreSQL, and the merge jobs, on the fixture
//! workspace `fixtures/cishop` (database tests, one deliberate failure, one
//! ignored test). The shards together must run every test exactly once with
//! the outcomes of one full run, the merged coverage must equal one full
//! `--coverage` run's per-file line counts, and the merged durations must be
//! saved for the next pipeline. README's recipe blocks must be the files,
//! byte for byte.
//!
//! What the emulation does, and where it stands in for the CI service:
//! - Every job starts on a fresh runner: the workspace directory (the same
//!   path for every job, as `$GITHUB_WORKSPACE` and `$CI_PROJECT_DIR` are)
//!   is emptied; `actions/checkout` (GitHub) or the job's start (GitLab)
//!   copies the fixture into it. The runner's `~/.cargo/bin` is an empty
//!   directory on `PATH`, and no `cargo-xdist` is on `PATH` otherwise: a
//!   job that does not get the tool from an artifact cannot call it.
//! - `run:` steps run with `bash -e -o pipefail`, GitLab's `script:` lines
//!   in one such shell (the job fails at the first failing line) and its
//!   `after_script:` in another; `${{ ... }}` expressions are substituted
//!   first (only those the recipes use; any other one fails the test).
//! - Artifacts and caches are directories under the pipeline's temporary
//!   directory. GitHub's artifacts are immutable, lose the executable bit,
//!   and a download of a missing one fails the step; a matrix without
//!   `fail-fast: false` loses its other jobs (cancelled) when one fails.
//!   Caches hold paths inside the workspace; `~/...` paths are the runner's
//!   home, which here is this machine's real one, so they are left alone.
//! - A job's `services:` postgres is a real PostgreSQL started for the job
//!   (the crate's `EphemeralServer`; as root it runs as `postgres`) with the
//!   service's `POSTGRES_DB` created. The job's `DATABASE_URL` must name the
//!   service as the recipe declares it (user, password, host, port); the
//!   job then gets the same database on the started server.
//! - The runner has a warm target directory (`CARGO_TARGET_DIR`, shared
//!   with the other fixture tests): a cold build of the `postgres` crate,
//!   plain and instrumented, would take minutes in every pipeline. So the
//!   recipes' `target/` caches find nothing to save, as on a runner whose
//!   target dir lives elsewhere.
//! - [`STAND_INS`] lists the few shell lines that only make sense on the CI
//!   service, each with what runs instead and why.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cargo_xdist::coverage::lcov;
use cargo_xdist::db::ephemeral::EphemeralServer;
use common::*;
use postgres::{Client, NoTls};
use sha2::{Digest, Sha256};
use yaml_rust2::{Yaml, YamlLoader};

const GITHUB: &str = "ci/github-actions.yml";
const GITLAB: &str = "ci/gitlab-ci.yml";
const FIXTURE: &str = "cishop";
/// What the emulated `vars.CARGO_XDIST_GIT` / CI/CD variable holds: a URL
/// that fails at once, without the network, should a recipe's install
/// line ever run for real (it has a stand-in, below).
const XDIST_GIT: &str = "file:///nonexistent/cargo-xdist.git";
/// The longest one shell step may take.
const STEP_DEADLINE: Duration = Duration::from_secs(600);

/// Shell lines that only make sense on the CI service, and what the
/// emulation runs instead (`{xdist}`: the binary under test, `{bin}`: the
/// runner's `~/.cargo/bin`). Each must be used by the pipeline that has it,
/// so that the list cannot go stale.
const STAND_INS: &[(&str, &str, &str)] = &[
    (
        GITHUB,
        r#"cargo install --locked --git "$CARGO_XDIST_GIT" cargo-xdist"#,
        // Installing from the user's git URL would build this very
        // repository again: the binary under test is what it would build.
        r#"cp '{xdist}' '{bin}/cargo-xdist'"#,
    ),
    (
        GITLAB,
        r#"cargo install --locked --root .xdist --git "$CARGO_XDIST_GIT" cargo-xdist"#,
        // The same, into the `--root` the recipe names.
        r#"mkdir -p .xdist/bin && cp '{xdist}' .xdist/bin/cargo-xdist"#,
    ),
    (
        "",
        "rustup component add llvm-tools",
        // rustup cannot download here; llvm-22's tools are installed from
        // Debian's packages, and cargo-xdist finds them (/usr/lib/llvm-22).
        "true",
    ),
];

/// One pipeline at a time: both platforms' pipelines build and run the same
/// fixture in the shared target directory on a small machine.
static ONE_PIPELINE: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// The emulated runner
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

/// The state of one pipeline (and the caches it shares with the next).
struct Pipeline {
    recipe: &'static str,
    /// The workspace every job runs in (emptied between jobs).
    workspace: PathBuf,
    /// The emulated `~/.cargo/bin` of the runner (emptied between jobs).
    bin: PathBuf,
    /// Artifacts: `<artifacts>/<name>/...` (GitHub: by artifact name;
    /// GitLab: by job name).
    artifacts: PathBuf,
    /// Which job uploaded each artifact (GitHub).
    uploaded_by: BTreeMap<String, String>,
    /// GitLab's `artifacts:reports:junit` files: (job, path in artifacts).
    junit_reports: Vec<(String, PathBuf)>,
    /// Caches: `<cache>/<key>/...`, shared with later pipelines.
    cache: PathBuf,
    /// The keys a cache restore found, in order: (job, key).
    restored: Vec<(String, String)>,
    run_id: String,
    logs: PathBuf,
    log: String,
    stand_ins_used: BTreeSet<usize>,
    jobs: BTreeMap<String, Status>,
}

impl Pipeline {
    fn new(recipe: &'static str, root: &Path, cache: &Path, run_id: &str) -> Pipeline {
        let dir = |name: &str| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        Pipeline {
            recipe,
            workspace: dir("work/cishop"),
            bin: dir("runner-home/.cargo/bin"),
            artifacts: dir("artifacts"),
            uploaded_by: BTreeMap::new(),
            junit_reports: Vec::new(),
            cache: cache.to_path_buf(),
            restored: Vec::new(),
            run_id: run_id.to_string(),
            logs: dir("logs"),
            log: String::new(),
            stand_ins_used: BTreeSet::new(),
            jobs: BTreeMap::new(),
        }
    }

    fn note(&mut self, line: impl AsRef<str>) {
        self.log.push_str(line.as_ref());
        self.log.push('\n');
    }

    /// A fresh runner: empty workspace, empty `~/.cargo/bin`.
    fn fresh_runner(&self) {
        for d in [&self.workspace, &self.bin] {
            std::fs::remove_dir_all(d).unwrap();
            std::fs::create_dir_all(d).unwrap();
        }
    }

    fn checkout(&self) {
        copy_tree(&fixture_dir(FIXTURE), &self.workspace);
    }

    /// The environment every step starts from: the machine's toolchain, no
    /// `cargo-xdist` on `PATH`, the warm target dir.
    fn base_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let path: Vec<String> = std::iter::once(self.bin.display().to_string())
            .chain(
                std::env::var("PATH")
                    .unwrap_or_default()
                    .split(':')
                    .filter(|d| !d.is_empty() && !Path::new(d).join("cargo-xdist").exists())
                    .map(str::to_string),
            )
            .collect();
        env.insert("PATH".into(), path.join(":"));
        for keep in [
            "HOME",
            "USER",
            "LANG",
            "TMPDIR",
            "RUSTUP_HOME",
            "CARGO_HOME",
            "RUSTUP_TOOLCHAIN",
        ] {
            if let Ok(v) = std::env::var(keep) {
                env.insert(keep.into(), v);
            }
        }
        env.insert(
            "CARGO_TARGET_DIR".into(),
            fixture_target_dir().display().to_string(),
        );
        env.insert("CI".into(), "true".into());
        env.insert("NO_COLOR".into(), "1".into());
        env
    }

    /// Run `script` in the workspace with `bash -e -o pipefail`; a line
    /// of [`STAND_INS`] is replaced first. Returns whether it succeeded.
    fn shell(&mut self, label: &str, script: &str, env: &BTreeMap<String, String>) -> bool {
        let mut lines = Vec::new();
        for line in script.lines() {
            let mut replaced = None;
            for (i, (recipe, original, instead)) in STAND_INS.iter().enumerate() {
                if (recipe.is_empty() || *recipe == self.recipe) && line.trim() == *original {
                    self.stand_ins_used.insert(i);
                    replaced = Some(
                        instead
                            .replace("{xdist}", XDIST)
                            .replace("{bin}", &self.bin.display().to_string()),
                    );
                }
            }
            lines.push(replaced.unwrap_or_else(|| line.to_string()));
        }
        let script = lines.join("\n");
        let log_path = self.logs.join(format!(
            "{:03}-{}.log",
            std::fs::read_dir(&self.logs).unwrap().count(),
            label.replace(['/', ' '], "_")
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                &script,
            ])
            .current_dir(&self.workspace)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("cannot start bash");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > STEP_DEADLINE {
                // The process group this test started for the step, by its id.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let ok = status.is_some_and(|s| s.success());
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = output.lines().rev().take(15).collect();
        self.note(format!(
            "  $ {}\n    -> {}\n{}",
            script.replace('\n', "\n    "),
            match status {
                Some(s) => s.to_string(),
                None => "killed after the deadline".into(),
            },
            tail.iter()
                .rev()
                .map(|l| format!("    | {l}\n"))
                .collect::<String>()
        ));
        ok
    }

    /// A PostgreSQL for a job's `services:`; `env` gets the job's
    /// `DATABASE_URL` pointing at the same database on it.
    fn start_postgres(
        &mut self,
        vars: &BTreeMap<String, String>,
        host: &str,
        env: &mut BTreeMap<String, String>,
    ) -> EphemeralServer {
        let server = EphemeralServer::start().unwrap_or_else(|e| {
            panic!("the recipes' postgres service needs PostgreSQL's server binaries (apt-get install -y postgresql): {e}")
        });
        let user = vars.get("POSTGRES_USER").map_or("postgres", String::as_str);
        let password = vars
            .get("POSTGRES_PASSWORD")
            .expect("the postgres image refuses to start without POSTGRES_PASSWORD");
        let db = vars.get("POSTGRES_DB").map_or(user, String::as_str);
        if db != "postgres" {
            Client::connect(&server.url("postgres"), NoTls)
                .unwrap()
                .batch_execute(&format!("CREATE DATABASE \"{db}\""))
                .unwrap();
        }
        let url = env
            .get("DATABASE_URL")
            .expect("a job with the postgres service sets DATABASE_URL");
        let expected = format!("postgres://{user}:{password}@{host}:5432/{db}");
        assert_eq!(
            url, &expected,
            "{}: DATABASE_URL does not name the job's postgres service",
            self.recipe
        );
        env.insert("DATABASE_URL".into(), server.url(db));
        server
    }
}

fn load(recipe: &str) -> Yaml {
    let text = std::fs::read_to_string(repo_root().join(recipe)).unwrap();
    let mut docs =
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{recipe} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{recipe}: one document");
    docs.remove(0)
}

fn string(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        _ => None,
    }
}

/// A string or a list of strings.
fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(string).collect(),
        Yaml::BadValue | Yaml::Null => Vec::new(),
        other => string(other).into_iter().collect(),
    }
}

fn hash_entries(y: &Yaml) -> Vec<(String, Yaml)> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (string(k).unwrap(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Does `name` match a glob with `*` only?
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The files under `root` that a path pattern (`dir/name*`, `*` in the last
/// component only; a directory means everything under it) names, as paths
/// relative to `root`.
fn matching_files(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let pattern = pattern.trim_end_matches('/');
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    assert!(
        !dir.contains('*'),
        "the emulation globs file names only: {pattern}"
    );
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return found;
    };
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        if glob_match(name, &file_name) {
            let rel = Path::new(dir).join(&file_name);
            if e.file_type().unwrap().is_dir() {
                walk(root, &rel, &mut found);
            } else {
                found.push(rel);
            }
        }
    }
    found.sort();
    found
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(root.join(rel)).unwrap().flatten() {
        let r = rel.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            walk(root, &r, out);
        } else {
            out.push(r);
        }
    }
}

fn copy_file(from: &Path, to: &Path, mode: Option<u32>) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    if let Some(mode) = mode {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Copy every file under `from` into `to`, keeping relative paths and modes.
fn copy_all(from: &Path, to: &Path, mode: Option<u32>) {
    let mut files = Vec::new();
    walk(from, Path::new(""), &mut files);
    for f in files {
        copy_file(&from.join(&f), &to.join(&f), mode);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------
// GitHub Actions
// ---------------------------------------------------------------------------

struct GhJob<'a> {
    name: String,
    def: &'a Yaml,
    matrix: BTreeMap<String, String>,
    total: usize,
}

impl Pipeline {
    /// Substitute `${{ ... }}`.
    fn gh_expr(&self, text: &str, job: &GhJob) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${{") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find("}}").expect("unclosed ${{") + at;
            let expr = rest[at + 3..end].trim();
            let value = if let Some(key) = expr.strip_prefix("matrix.") {
                job.matrix
                    .get(key)
                    .unwrap_or_else(|| panic!("{}: no matrix.{key}", job.name))
                    .clone()
            } else {
                match expr {
                    "strategy.job-total" => job.total.to_string(),
                    "github.run_id" => self.run_id.clone(),
                    "runner.os" => "Linux".into(),
                    "vars.CARGO_XDIST_GIT" => XDIST_GIT.into(),
                    "hashFiles('**/Cargo.lock')" => {
                        let mut locks = Vec::new();
                        walk(&self.workspace, Path::new(""), &mut locks);
                        locks.retain(|p| p.ends_with("Cargo.lock"));
                        locks.sort();
                        let mut all = Vec::new();
                        for l in locks {
                            all.extend(std::fs::read(self.workspace.join(l)).unwrap());
                        }
                        sha256_hex(&all)
                    }
                    other => panic!(
                        "{}: the emulation does not know ${{{{ {other} }}}}",
                        self.recipe
                    ),
                }
            };
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn gh_with(&self, step: &Yaml, key: &str, job: &GhJob) -> Option<String> {
        string(&step["with"][key]).map(|v| self.gh_expr(&v, job))
    }

    fn gh_cache_restore(&mut self, job: &GhJob, step: &Yaml) -> Option<String> {
        let key = self.gh_with(step, "key", job).expect("cache key");
        let prefixes: Vec<String> = self
            .gh_with(step, "restore-keys", job)
            .map(|r| r.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let entries: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&self.cache)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.metadata().unwrap().modified().unwrap(),
                    e.file_name().to_string_lossy().into_owned(),
                )
            })
            .collect();
        let hit = if entries.iter().any(|(_, k)| *k == key) {
            Some(key.clone())
        } else {
            prefixes.iter().find_map(|p| {
                entries
                    .iter()
                    .filter(|(_, k)| k.starts_with(p.as_str()))
                    .max()
                    .map(|(_, k)| k.clone())
            })
        };
        if let Some(hit) = &hit {
            copy_all(&self.cache.join(hit), &self.workspace, None);
            self.restored.push((job.name.clone(), hit.clone()));
            self.note(format!("  cache restored from {hit}"));
        } else {
            self.note(format!("  cache miss for {key}"));
        }
        hit.filter(|h| *h == key)
    }

    fn gh_cache_save(&mut self, job: &GhJob, step: &Yaml) {
        let key = self.gh_with(step, "key", job).expect("cache key");
        let dest = self.cache.join(&key);
        if dest.exists() {
            self.note(format!("  cache {key} exists: not saved"));
            return;
        }
        let mut files = Vec::new();
        for p in self.gh_with(step, "path", job).unwrap().lines() {
            let p = p.trim();
            if p.starts_with('~') {
                continue; // the runner's home is this machine's own
            }
            files.extend(matching_files(&self.workspace, p));
        }
        if files.is_empty() {
            self.note(format!("  cache {key}: no files, not saved"));
            return;
        }
        for f in files {
            copy_file(&self.workspace.join(&f), &dest.join(&f), None);
        }
        self.note(format!("  cache saved as {key}"));
    }

    fn gh_upload(&mut self, job: &GhJob, step: &Yaml) -> bool {
        let name = self.gh_with(step, "name", job).expect("artifact name");
        let mut files = Vec::new();
        for p in self.gh_with(step, "path", job).unwrap().lines() {
            files.extend(matching_files(&self.workspace, p.trim()));
        }
        if files.is_empty() {
            self.note(format!(
                "  upload {name}: no files found (warning), nothing uploaded"
            ));
            return true;
        }
        if self.uploaded_by.contains_key(&name) {
            self.note(format!(
                "  upload {name}: an artifact of that name exists (error)"
            ));
            return false;
        }
        // Stored relative to the files' least common ancestor.
        let common: PathBuf = {
            let mut c = files[0].parent().unwrap().to_path_buf();
            while !files.iter().all(|f| f.starts_with(&c)) {
                c = c.parent().unwrap().to_path_buf();
            }
            c
        };
        for f in &files {
            copy_file(
                &self.workspace.join(f),
                &self
                    .artifacts
                    .join(&name)
                    .join(f.strip_prefix(&common).unwrap()),
                None,
            );
        }
        self.uploaded_by.insert(name.clone(), job.name.clone());
        self.note(format!("  uploaded {name}: {files:?}"));
        true
    }

    fn gh_download(&mut self, job: &GhJob, step: &Yaml) -> bool {
        let dest = match self.gh_with(step, "path", job) {
            Some(p) => self.workspace.join(p),
            None => self.workspace.clone(),
        };
        // Artifacts are zipped without file modes: executables arrive 0644.
        if let Some(name) = self.gh_with(step, "name", job) {
            if !self.uploaded_by.contains_key(&name) {
                self.note(format!("  download {name}: no such artifact (error)"));
                return false;
            }
            copy_all(&self.artifacts.join(&name), &dest, Some(0o644));
            self.note(format!("  downloaded {name}"));
        } else {
            let pattern = self.gh_with(step, "pattern", job).expect("name or pattern");
            let merge = self.gh_with(step, "merge-multiple", job).as_deref() == Some("true");
            let names: Vec<String> = self
                .uploaded_by
                .keys()
                .filter(|n| glob_match(&pattern, n))
                .cloned()
                .collect();
            for name in &names {
                let to = if merge { dest.clone() } else { dest.join(name) };
                copy_all(&self.artifacts.join(name), &to, Some(0o644));
            }
            self.note(format!("  downloaded {pattern}: {names:?}"));
        }
        true
    }

    /// Run one job; its status.
    fn gh_job(&mut self, workflow: &Yaml, job: &GhJob) -> Status {
        self.note(format!("job {}", job.name));
        self.fresh_runner();
        let mut env = self.base_env();
        env.insert("GITHUB_ACTIONS".into(), "true".into());
        env.insert(
            "GITHUB_WORKSPACE".into(),
            self.workspace.display().to_string(),
        );
        env.insert("GITHUB_RUN_ID".into(), self.run_id.clone());
        env.insert("RUNNER_OS".into(), "Linux".into());
        for scope in [&workflow["env"], &job.def["env"]] {
            for (k, v) in hash_entries(scope) {
                env.insert(k, self.gh_expr(&string(&v).unwrap(), job));
            }
        }
        let mut servers = Vec::new();
        for (name, service) in hash_entries(&job.def["services"]) {
            assert_eq!(name, "postgres", "the emulation provides postgres only");
            assert!(
                strings(&service["ports"]).iter().any(|p| p == "5432:5432"),
                "{}: the postgres service's port must be mapped for localhost",
                job.name
            );
            let vars: BTreeMap<String, String> = hash_entries(&service["env"])
                .into_iter()
                .map(|(k, v)| (k, string(&v).unwrap()))
                .collect();
            servers.push(self.start_postgres(&vars, "localhost", &mut env));
        }
        let mut failed = false;
        let mut post_saves = Vec::new();
        for (i, step) in job.def["steps"].as_vec().unwrap().iter().enumerate() {
            let condition = string(&step["if"]).unwrap_or_else(|| "success()".into());
            let runs = match condition.as_str() {
                "always()" => true,
                "success()" => !failed,
                "failure()" => failed,
                other => panic!("{}: the emulation does not know if: {other}", self.recipe),
            };
            if !runs {
                continue;
            }
            let ok = if let Some(uses) = string(&step["uses"]) {
                match uses.as_str() {
                    "actions/checkout@v4" => {
                        self.checkout();
                        true
                    }
                    "actions/cache@v4" => {
                        if self.gh_cache_restore(job, step).is_none() {
                            post_saves.push(step);
                        }
                        true
                    }
                    "actions/cache/restore@v4" => {
                        self.gh_cache_restore(job, step);
                        true
                    }
                    "actions/cache/save@v4" => {
                        self.gh_cache_save(job, step);
                        true
                    }
                    "actions/upload-artifact@v4" => self.gh_upload(job, step),
                    "actions/download-artifact@v4" => self.gh_download(job, step),
                    other => panic!("{}: the emulation does not know {other}", self.recipe),
                }
            } else {
                let script = self.gh_expr(&string(&step["run"]).expect("run or uses"), job);
                let mut step_env = env.clone();
                for (k, v) in hash_entries(&step["env"]) {
                    step_env.insert(k, self.gh_expr(&string(&v).unwrap(), job));
                }
                self.shell(&format!("{}-{i}", job.name), &script, &step_env)
            };
            failed |= !ok;
        }
        // actions/cache saves in its post step, on success only.
        if !failed {
            for step in post_saves {
                self.gh_cache_save(job, step);
            }
        }
        drop(servers);
        if failed {
            Status::Failure
        } else {
            Status::Success
        }
    }

    fn run_github(&mut self) {
        let workflow = load(GITHUB);
        let jobs = hash_entries(&workflow["jobs"]);
        let mut done: BTreeMap<String, Status> = BTreeMap::new();
        while done.len() < jobs.len() {
            let before = done.len();
            for (name, def) in &jobs {
                let needs = strings(&def["needs"]);
                if done.contains_key(name) || !needs.iter().all(|n| done.contains_key(n)) {
                    continue;
                }
                let needs_ok = needs.iter().all(|n| done[n] == Status::Success);
                let always = string(&def["if"]).as_deref() == Some("always()");
                if !needs_ok && !always {
                    done.insert(name.clone(), Status::Skipped);
                    self.jobs.insert(name.clone(), Status::Skipped);
                    continue;
                }
                let axes = hash_entries(&def["strategy"]["matrix"]);
                assert!(axes.len() <= 1, "the emulation knows one matrix axis");
                let cells: Vec<BTreeMap<String, String>> = match axes.first() {
                    None => vec![BTreeMap::new()],
                    Some((axis, values)) => strings(values)
                        .into_iter()
                        .map(|v| BTreeMap::from([(axis.clone(), v)]))
                        .collect(),
                };
                let total = cells.len();
                let mut results = Vec::new();
                for matrix in cells {
                    let job = GhJob {
                        name: if matrix.is_empty() {
                            name.clone()
                        } else {
                            format!(
                                "{name} ({})",
                                matrix.values().cloned().collect::<Vec<_>>().join(", ")
                            )
                        },
                        def,
                        matrix,
                        total,
                    };
                    let status = self.gh_job(&workflow, &job);
                    results.push((job.name, status));
                }
                // fail-fast (the default): one failed matrix job cancels the
                // others, which run at the same time; what they uploaded is
                // taken as never uploaded.
                let fail_fast = def["strategy"]["fail-fast"].as_bool() != Some(false);
                if total > 1 && fail_fast && results.iter().any(|(_, s)| *s == Status::Failure) {
                    for (job_name, status) in &mut results {
                        if *status != Status::Failure {
                            *status = Status::Cancelled;
                            let gone: Vec<String> = self
                                .uploaded_by
                                .iter()
                                .filter(|(_, by)| *by == job_name)
                                .map(|(name, _)| name.clone())
                                .collect();
                            for name in gone {
                                self.uploaded_by.remove(&name);
                                std::fs::remove_dir_all(self.artifacts.join(&name)).unwrap();
                            }
                        }
                    }
                }
                let overall = if results.iter().all(|(_, s)| *s == Status::Success) {
                    Status::Success
                } else if results.iter().any(|(_, s)| *s == Status::Failure) {
                    Status::Failure
                } else {
                    Status::Cancelled
                };
                for (job_name, status) in results {
                    self.jobs.insert(job_name, status);
                }
                done.insert(name.clone(), overall);
            }
            assert!(done.len() > before, "{GITHUB}: a cycle in needs");
        }
    }
}

// ---------------------------------------------------------------------------
// GitLab CI
// ---------------------------------------------------------------------------

const GITLAB_KEYWORDS: &[&str] = &[
    "stages",
    "default",
    "variables",
    "workflow",
    "include",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

impl Pipeline {
    fn gl_cache_key(&self, key: &Yaml) -> String {
        if let Some(k) = string(key) {
            return k;
        }
        let files = strings(&key["files"]);
        assert!(
            !files.is_empty(),
            "{GITLAB}: cache key is a string or files:"
        );
        let mut all = Vec::new();
        for f in files {
            all.extend(std::fs::read(self.workspace.join(f)).unwrap_or_default());
        }
        format!("files-{}", &sha256_hex(&all)[..16])
    }

    fn gl_caches(&self, def: &Yaml) -> Vec<(String, Vec<String>, String)> {
        let list: Vec<Yaml> = match &def["cache"] {
            Yaml::Array(a) => a.clone(),
            Yaml::Hash(_) => vec![def["cache"].clone()],
            _ => Vec::new(),
        };
        list.iter()
            .map(|c| {
                (
                    self.gl_cache_key(&c["key"]),
                    strings(&c["paths"]),
                    string(&c["policy"]).unwrap_or_else(|| "pull-push".into()),
                )
            })
            .collect()
    }

    /// Run one job (one node of a `parallel:` job); its status.
    fn gl_job(
        &mut self,
        doc: &Yaml,
        name: &str,
        def: &Yaml,
        node: Option<(usize, usize)>,
        from: &[String],
    ) -> Status {
        let job_name = match node {
            Some((k, n)) => format!("{name} {k}/{n}"),
            None => name.to_string(),
        };
        self.note(format!("job {job_name}"));
        self.fresh_runner();
        self.checkout();
        let mut env = self.base_env();
        env.insert("GITLAB_CI".into(), "true".into());
        env.insert(
            "CI_PROJECT_DIR".into(),
            self.workspace.display().to_string(),
        );
        env.insert("CI_JOB_NAME".into(), job_name.clone());
        env.insert("CARGO_XDIST_GIT".into(), XDIST_GIT.into()); // the CI/CD variable
        if let Some((k, n)) = node {
            env.insert("CI_NODE_INDEX".into(), k.to_string());
            env.insert("CI_NODE_TOTAL".into(), n.to_string());
        }
        let mut vars = BTreeMap::new();
        for scope in [&doc["variables"], &def["variables"]] {
            for (k, v) in hash_entries(scope) {
                vars.insert(k, string(&v).unwrap());
            }
        }
        env.extend(vars.clone());
        // Artifacts of the jobs it needs, with their modes.
        for dep in from {
            let dir = self.artifacts.join(dep);
            if dir.exists() {
                copy_all(&dir, &self.workspace, None);
            }
        }
        let caches = self.gl_caches(def);
        for (key, _, policy) in &caches {
            if policy != "push" && self.cache.join(key).exists() {
                copy_all(&self.cache.join(key), &self.workspace, None);
                self.restored.push((job_name.clone(), key.clone()));
                self.note(format!("  cache restored from {key}"));
            }
        }
        let mut servers = Vec::new();
        let services = if def["services"].is_badvalue() {
            &doc["default"]["services"]
        } else {
            &def["services"]
        };
        for image in strings(services) {
            let alias = image.split(':').next().unwrap().rsplit('/').next().unwrap();
            assert_eq!(alias, "postgres", "the emulation provides postgres only");
            servers.push(self.start_postgres(&vars, alias, &mut env));
        }
        let script = strings(&def["script"]).join("\n");
        let ok = self.shell(&job_name, &script, &env);
        let after = strings(&def["after_script"]);
        if !after.is_empty() {
            self.shell(&format!("{job_name}-after"), &after.join("\n"), &env);
        }
        drop(servers);
        let when = string(&def["artifacts"]["when"]).unwrap_or_else(|| "on_success".into());
        if when == "always" || (when == "on_success") == ok {
            let dir = self.artifacts.join(&job_name);
            for p in strings(&def["artifacts"]["paths"]) {
                for f in matching_files(&self.workspace, &p) {
                    copy_file(&self.workspace.join(&f), &dir.join(&f), None);
                    let mode = std::fs::metadata(self.workspace.join(&f))
                        .unwrap()
                        .permissions();
                    std::fs::set_permissions(dir.join(&f), mode).unwrap();
                }
            }
            for p in strings(&def["artifacts"]["reports"]["junit"]) {
                for f in matching_files(&self.workspace, &p) {
                    let to = self.artifacts.join("reports").join(&job_name).join(&f);
                    copy_file(&self.workspace.join(&f), &to, None);
                    self.junit_reports.push((job_name.clone(), to));
                }
            }
        }
        if ok {
            for (key, paths, policy) in &caches {
                if policy == "pull" {
                    continue;
                }
                let dest = self.cache.join(key);
                let _ = std::fs::remove_dir_all(&dest);
                for p in paths {
                    for f in matching_files(&self.workspace, p) {
                        copy_file(&self.workspace.join(&f), &dest.join(&f), None);
                    }
                }
                self.note(format!("  cache saved as {key}"));
            }
        }
        if ok { Status::Success } else { Status::Failure }
    }

    fn run_gitlab(&mut self) {
        let doc = load(GITLAB);
        let stages = strings(&doc["stages"]);
        let jobs: Vec<(String, Yaml)> = hash_entries(&doc)
            .into_iter()
            .filter(|(k, _)| !k.starts_with('.') && !GITLAB_KEYWORDS.contains(&k.as_str()))
            .collect();
        // Every job's node names, for needs.
        let mut done: BTreeMap<String, (Status, Vec<String>)> = BTreeMap::new();
        for stage in &stages {
            for (name, def) in jobs
                .iter()
                .filter(|(_, d)| string(&d["stage"]).as_ref() == Some(stage))
            {
                let needs = if def["needs"].is_badvalue() {
                    // Without needs: every job of the earlier stages.
                    done.keys().cloned().collect()
                } else {
                    strings(&def["needs"])
                };
                let needs_ok = needs.iter().all(|n| done[n].0 == Status::Success);
                let always = string(&def["when"]).as_deref() == Some("always");
                let from: Vec<String> = needs.iter().flat_map(|n| done[n].1.clone()).collect();
                if !needs_ok && !always {
                    self.jobs.insert(name.clone(), Status::Skipped);
                    done.insert(name.clone(), (Status::Skipped, Vec::new()));
                    continue;
                }
                let nodes: Vec<Option<(usize, usize)>> = match def["parallel"].as_i64() {
                    Some(n) => (1..=n as usize).map(|k| Some((k, n as usize))).collect(),
                    None => vec![None],
                };
                let mut names = Vec::new();
                let mut all_ok = true;
                for node in nodes {
                    let status = self.gl_job(&doc, name, def, node, &from);
                    let job_name = match node {
                        Some((k, n)) => format!("{name} {k}/{n}"),
                        None => name.clone(),
                    };
                    all_ok &= status == Status::Success;
                    self.jobs.insert(job_name.clone(), status);
                    names.push(job_name);
                }
                let status = if all_ok {
                    Status::Success
                } else {
                    Status::Failure
                };
                done.insert(name.clone(), (status, names));
            }
        }
        assert_eq!(
            done.len(),
            jobs.len(),
            "{GITLAB}: a job without a known stage"
        );
    }
}

// ---------------------------------------------------------------------------
// What one full run gives (the reference)
// ---------------------------------------------------------------------------

type Outcomes = BTreeMap<(String, String), &'static str>;
type Lines = BTreeMap<String, (u64, u64)>;

/// Per-file (LF, LH) of an lcov file, paths relative to `root` (if under it).
fn lines_of(path: &Path, root: &Path) -> Lines {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let report = lcov::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let prefix = format!("{}/", root.display());
    lcov::per_file_lines(&report)
        .into_iter()
        .map(|(p, c)| (p.strip_prefix(&prefix).unwrap_or(&p).to_string(), c))
        .collect()
}

/// One full run and one full `--coverage` run of the fixture (once).
fn reference() -> &'static (Outcomes, Lines) {
    static REFERENCE: std::sync::OnceLock<(Outcomes, Lines)> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(full_runs)
}

fn full_runs() -> (Outcomes, Lines) {
    let tmp = fixture_copies("xdist-ci-ref-", &[FIXTURE]);
    let ws = tmp.path().join(FIXTURE);
    let server = EphemeralServer::start().expect("PostgreSQL's server binaries");
    let manifest = ws.join("Cargo.toml").display().to_string();
    let run = xdist(&["--manifest-path", &manifest])
        .current_dir(&ws)
        .env("DATABASE_URL", &server.url("postgres"))
        .junit()
        .run();
    run.assert_code(100);
    let outcomes = run.junit().outcome_map();
    let lcov_path = tmp.path().join("full.lcov");
    let report = format!("lcov:{}", lcov_path.display());
    let cov = xdist(&[
        "--manifest-path",
        &manifest,
        "--coverage",
        "--cov-report",
        &report,
    ])
    .current_dir(&ws)
    .env("DATABASE_URL", &server.url("postgres"))
    .run();
    cov.assert_code(100);
    (outcomes, lines_of(&lcov_path, &ws))
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// The union of the shards' JUnit files: every test once, the full run's
/// outcomes.
fn check_junit(p: &Pipeline, files: &[PathBuf], expected: &Outcomes) -> BTreeSet<String> {
    let mut seen: BTreeMap<(String, String), Vec<&'static str>> = BTreeMap::new();
    let mut failing_files = BTreeSet::new();
    for f in files {
        let xml = std::fs::read_to_string(f).unwrap_or_else(|e| {
            panic!(
                "{}: no JUnit file {}: {e}\n{}",
                p.recipe,
                f.display(),
                p.log
            )
        });
        let junit = Junit::parse(&xml).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for c in &junit.cases {
            if c.outcome.short() == "fail" {
                failing_files.insert(f.file_name().unwrap().to_string_lossy().into_owned());
            }
            seen.entry((c.suite.clone(), c.name.clone()))
                .or_default()
                .push(c.outcome.short());
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{}: tests in more than one shard: {twice:?}\n{}",
        p.recipe,
        p.log
    );
    let got: Outcomes = seen.into_iter().map(|(k, v)| (k, v[0])).collect();
    assert_eq!(
        &got, expected,
        "{}: the shards' JUnit files (left) are not the full run (right)\n{}",
        p.recipe, p.log
    );
    failing_files
}

fn check_durations(p: &Pipeline, file: &Path, expected: &Outcomes) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| {
        panic!(
            "{}: no merged durations at {}: {e}\n{}",
            p.recipe,
            file.display(),
            p.log
        )
    });
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for ((suite, name), outcome) in expected {
        if *outcome == "skip" {
            continue;
        }
        // Keys: `cishop::test/prices` as in JUnit; the unit tests' suite
        // `cishop` is `cishop::lib/cishop`.
        let recorded = json["binaries"].as_object().is_some_and(|binaries| {
            binaries.iter().any(|(key, b)| {
                (key == suite || key.starts_with(&format!("{suite}::lib/")))
                    && !b["tests"][name].is_null()
            })
        });
        assert!(
            recorded,
            "{}: the merged durations miss {suite} {name}\n{}",
            p.recipe, p.log
        );
    }
}

fn check_coverage(p: &Pipeline, merged: &Path, expected: &Lines) {
    assert!(
        merged.exists(),
        "{}: no merged coverage at {}\n{}",
        p.recipe,
        merged.display(),
        p.log
    );
    let got = lines_of(merged, &p.workspace);
    assert_eq!(
        &got, expected,
        "{}: the merged coverage (left) is not the full --coverage run's (right)\n{}",
        p.recipe, p.log
    );
}

fn assert_status(p: &Pipeline, job: &str, expected: Status) {
    let got = p
        .jobs
        .get(job)
        .unwrap_or_else(|| panic!("{}: no job {job}: {:?}", p.recipe, p.jobs));
    assert_eq!(
        *got, expected,
        "{}: job {job} ended {got:?}, not {expected:?}\n{}",
        p.recipe, p.log
    );
}

/// Each of the 3 test shards (job `name(k)`) failed exactly when its
/// JUnit report is among `failing`.
fn assert_shard_statuses(p: &Pipeline, failing: &BTreeSet<String>, name: impl Fn(usize) -> String) {
    for k in 1..=3 {
        let expected = if failing.contains(&format!("junit-{k}.xml")) {
            Status::Failure
        } else {
            Status::Success
        };
        assert_status(p, &name(k), expected);
    }
}

/// Every coverage shard ran to its end (the one with the failing test
/// fails; none is cancelled or skipped).
fn assert_coverage_shards_ran(p: &Pipeline, name: impl Fn(usize) -> String) {
    for k in 1..=3 {
        let job = name(k);
        let got = p.jobs.get(&job);
        assert!(
            matches!(got, Some(Status::Success | Status::Failure)),
            "{}: job {job} ended {got:?}\n{}",
            p.recipe,
            p.log
        );
    }
}

fn assert_stand_ins_used(p: &Pipeline) {
    for (i, (recipe, line, _)) in STAND_INS.iter().enumerate() {
        if recipe.is_empty() || *recipe == p.recipe {
            assert!(
                p.stand_ins_used.contains(&i),
                "{}: the stand-in for `{line}` was never used: update STAND_INS\n{}",
                p.recipe,
                p.log
            );
        }
    }
}

fn run_id() -> String {
    format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    )
}

#[test]
fn github_actions_recipe_runs_as_a_shard_matrix() {
    let _one = ONE_PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let (outcomes, lines) = reference();
    let cache = tempfile::Builder::new()
        .prefix("xdist-ci-cache-")
        .tempdir()
        .unwrap();
    let mut saved_durations = None;
    for _pipeline in 1..=2 {
        let root = tempfile::Builder::new()
            .prefix("xdist-ci-gh-")
            .tempdir()
            .unwrap();
        let mut p = Pipeline::new(GITHUB, root.path(), cache.path(), &run_id());
        p.run_github();
        assert_status(&p, "build", Status::Success);
        assert_stand_ins_used(&p);
        let junit_files: Vec<PathBuf> = (1..=3)
            .map(|k| {
                p.artifacts
                    .join(format!("junit-{k}"))
                    .join(format!("junit-{k}.xml"))
            })
            .collect();
        let failing = check_junit(&p, &junit_files, outcomes);
        assert_shard_statuses(&p, &failing, |k| format!("test ({k})"));
        assert_coverage_shards_ran(&p, |k| format!("coverage ({k})"));
        assert_status(&p, "durations-merge", Status::Success);
        assert_status(&p, "coverage-merge", Status::Success);
        let durations = p
            .cache
            .join(format!("xdist-durations-{}", p.run_id))
            .join("xdist-durations.json");
        check_durations(&p, &durations, outcomes);
        check_coverage(&p, &p.artifacts.join("coverage/coverage.lcov"), lines);
        // The second pipeline's shards plan from what the first merged.
        if let Some(previous) = saved_durations.take() {
            assert!(
                p.restored
                    .iter()
                    .any(|(job, key)| job == "build" && *key == previous),
                "pipeline 2's build job did not restore {previous}: {:?}\n{}",
                p.restored,
                p.log
            );
        }
        saved_durations = Some(format!("xdist-durations-{}", p.run_id));
    }
}

#[test]
fn gitlab_ci_recipe_runs_as_a_parallel_pipeline() {
    let _one = ONE_PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let (outcomes, lines) = reference();
    let cache = tempfile::Builder::new()
        .prefix("xdist-ci-cache-")
        .tempdir()
        .unwrap();
    let root = tempfile::Builder::new()
        .prefix("xdist-ci-gl-")
        .tempdir()
        .unwrap();
    let mut p = Pipeline::new(GITLAB, root.path(), cache.path(), &run_id());
    p.run_gitlab();
    assert_status(&p, "build-tests", Status::Success);
    assert_stand_ins_used(&p);
    let reports: Vec<PathBuf> = p.junit_reports.iter().map(|(_, f)| f.clone()).collect();
    assert_eq!(reports.len(), 3, "one JUnit report per shard\n{}", p.log);
    let failing = check_junit(&p, &reports, outcomes);
    assert_shard_statuses(&p, &failing, |k| format!("test {k}/3"));
    assert_coverage_shards_ran(&p, |k| format!("coverage {k}/3"));
    assert_status(&p, "durations-merge", Status::Success);
    assert_status(&p, "coverage-merge", Status::Success);
    check_durations(
        &p,
        &p.cache.join("xdist-durations/xdist-durations.json"),
        outcomes,
    );
    let merged = p.artifacts.join("coverage-merge");
    check_coverage(&p, &merged.join("coverage.lcov"), lines);
    assert!(
        merged.join("coverage.xml").exists(),
        "Cobertura report\n{}",
        p.log
    );
}

// ---------------------------------------------------------------------------
// README mirrors the files
// ---------------------------------------------------------------------------

/// The ```yaml blocks of README's CI section, in order.
fn readme_ci_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("\n### CI: one build, N shards\n")
        .expect("README has the section `### CI: one build, N shards`");
    let section = &readme[start + 1..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |e| e + 5)];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(at) = rest.find("\n```yaml\n") {
        let body = &rest[at + 9..];
        let end = body.find("\n```\n").expect("a closed ```yaml block");
        blocks.push(body[..end + 1].to_string());
        rest = &body[end + 4..];
    }
    blocks
}

#[test]
fn readme_ci_section_shows_the_recipe_files_byte_for_byte() {
    let blocks = readme_ci_blocks();
    let files: Vec<String> = [GITHUB, GITLAB]
        .iter()
        .map(|f| std::fs::read_to_string(repo_root().join(f)).unwrap())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "README's CI section has one yaml block per recipe file"
    );
    for (block, (file, text)) in blocks.iter().zip([GITHUB, GITLAB].iter().zip(&files)) {
        assert!(
            block == text,
            "README's block for {file} differs from the file: copy the file into README"
        );
    }
    // Nothing in README tells anyone to install an unpublished crate.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        !readme.contains("cargo install --locked cargo-xdist"),
        "README installs cargo-xdist from crates.io, where it is not published"
    );
}
