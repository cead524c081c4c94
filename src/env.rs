//! The one place where a test process's command and environment are
//! assembled: the binary's cargo environment, then the worker's variables
//! (XDIST_*, the per-worker DATABASE_URL, `--worker-env`), then, under
//! `--coverage`, where the process writes its profile, then the working
//! directory. Listing and running both start processes from here.
//!
//! A side module: it imports no stage and takes plain inputs (a program,
//! its directory and variables, a [`WorkerSlot`]); the build stage's test
//! binaries come in through the [`Executable`] trait, which build
//! implements. So build may use it too (for cargo's own profile under
//! `--coverage`).
//!
//! `LLVM_PROFILE_FILE` is set here only, once per command, by
//! [`set_profile`], to the one pattern chosen for the process: its own (a
//! libtest process's, from the runner), else its worker's
//! ([`RunIdentity::profile`]: custom harnesses), else its binary's
//! ([`Executable::profile`]: listing, where the profile is discarded).
//! Without `--coverage` none is set and the user's own value passes
//! through.

use std::process::Command;

use camino::Utf8Path;

/// The variable that tells an instrumented process where to write its
/// coverage profile.
const PROFILE_VAR: &str = "LLVM_PROFILE_FILE";

/// A test executable as its processes need it (the build's test binaries).
pub trait Executable {
    /// The executable's path.
    fn program(&self) -> &str;
    /// Where it runs (its package root, as under `cargo test`).
    fn cwd(&self) -> &Utf8Path;
    /// The variables `cargo test` would give it.
    fn cargo_env(&self) -> &[(String, String)];
    /// `--coverage`: the profile pattern of its processes that are given
    /// none of their own or of their worker's.
    fn profile(&self) -> Option<&str>;
}

/// A worker's identity and the variables it adds to every process it runs.
#[derive(Debug, Clone)]
pub struct WorkerSlot {
    /// `gw0`, `gw1`, ... (`main` in serial mode), used in output.
    pub name: String,
    /// Variables set for every process this worker starts.
    pub env: Vec<(String, String)>,
    /// `--coverage`: the profile pattern of this worker's processes that
    /// are not given their own.
    pub profile: Option<String>,
}

/// Variables shared by all workers of one run.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run_id: String,
    /// Number of workers (0 in serial mode).
    pub worker_count: usize,
    /// `--worker-env KEY=TEMPLATE` pairs.
    pub worker_env: Vec<(String, String)>,
    /// `--coverage`: the template (as `--worker-env`'s) of each worker's
    /// profile pattern.
    pub profile: Option<String>,
}

impl RunIdentity {
    pub fn new(run_id: &str, worker_count: usize, worker_env: &[(String, String)]) -> Self {
        RunIdentity {
            run_id: run_id.to_string(),
            worker_count,
            worker_env: worker_env.to_vec(),
            profile: None,
        }
    }
}

impl WorkerSlot {
    /// Build the slot for worker `index` (None = serial mode, `-n 0`, where
    /// no worker variables are set and the database URL is unchanged). `db` is the
    /// (variable, URL) pair from the database stage, if any.
    pub fn new(index: Option<usize>, run: &RunIdentity, db: Option<(String, String)>) -> Self {
        let mut env = vec![("XDIST_TESTRUNUID".to_string(), run.run_id.clone())];
        let name = match index {
            Some(k) => {
                env.push(("XDIST_WORKER".into(), format!("gw{k}")));
                env.push(("XDIST_WORKER_COUNT".into(), run.worker_count.to_string()));
                format!("gw{k}")
            }
            None => "main".to_string(),
        };
        for (key, template) in &run.worker_env {
            env.push((key.clone(), expand_template(template, index, run)));
        }
        if let Some((key, url)) = db {
            env.push((key, url));
        }
        let profile = (run.profile.as_ref()).map(|t| expand_template(t, index, run));
        WorkerSlot { name, env, profile }
    }
}

/// The slots of a run with `workers` workers (one `main` slot in serial
/// mode, `workers == 0`); `db` gives worker K's (variable, URL) pair.
pub fn worker_slots(
    run: &RunIdentity,
    db: &dyn Fn(Option<usize>) -> Option<(String, String)>,
) -> Vec<WorkerSlot> {
    if run.worker_count == 0 {
        return vec![WorkerSlot::new(None, run, db(None))];
    }
    (0..run.worker_count)
        .map(|k| WorkerSlot::new(Some(k), run, db(Some(k))))
        .collect()
}

/// Expand `{worker}`, `{worker_index}`, `{worker_count}` and `{run_id}`.
/// In serial mode the worker is `main` and the index 0.
pub fn expand_template(template: &str, index: Option<usize>, run: &RunIdentity) -> String {
    let worker = index
        .map(|k| format!("gw{k}"))
        .unwrap_or_else(|| "main".into());
    template
        .replace("{worker_index}", &index.unwrap_or(0).to_string())
        .replace("{worker_count}", &run.worker_count.max(1).to_string())
        .replace("{worker}", &worker)
        .replace("{run_id}", &run.run_id)
}

/// A command for `binary` with the environment `cargo test` would give it,
/// plus the worker's variables, run in the package root. `own_profile`:
/// the process's own profile pattern (a libtest process under
/// `--coverage`).
pub fn test_command(
    binary: &impl Executable,
    slot: Option<&WorkerSlot>,
    own_profile: Option<&str>,
) -> Command {
    let worker_profile = slot.and_then(|s| s.profile.as_deref());
    let profile = own_profile.or(worker_profile).or(binary.profile());
    command(
        binary.program(),
        binary.cwd(),
        binary.cargo_env(),
        slot,
        profile,
    )
}

/// A command for `program` in `cwd` with `env`, then the worker's
/// variables, then `profile` as the coverage profile pattern.
pub fn command(
    program: &str,
    cwd: &Utf8Path,
    env: &[(String, String)],
    slot: Option<&WorkerSlot>,
    profile: Option<&str>,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(slot) = slot {
        cmd.envs(slot.env.iter().map(|(k, v)| (k, v)));
    }
    set_profile(&mut cmd, profile);
    cmd
}

/// Under `--coverage` (`profile` given), where `cmd`'s instrumented
/// processes write their profiles; the last word on the variable.
pub fn set_profile(cmd: &mut Command, profile: Option<&str>) {
    if let Some(pattern) = profile {
        cmd.env(PROFILE_VAR, pattern);
    }
}

/// A fresh random run id: a uuid4 in 32 hex digits, as pytest-xdist's
/// `testrunuid`.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunIdentity {
        RunIdentity {
            run_id: "abc".into(),
            worker_count: 4,
            worker_env: vec![
                (
                    "REDIS_URL".into(),
                    "redis://127.0.0.1/{worker_index}".into(),
                ),
                ("PORT".into(), "80{worker_index}0".into()),
                ("TAG".into(), "{worker}-{worker_count}-{run_id}".into()),
            ],
            profile: None,
        }
    }

    #[test]
    fn worker_slot_has_xdist_variables_and_templates() {
        let slot = WorkerSlot::new(
            Some(3),
            &run(),
            Some(("DATABASE_URL".into(), "postgres://x/db_gw3".into())),
        );
        let get = |k: &str| {
            slot.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(slot.name, "gw3");
        assert_eq!(get("XDIST_WORKER"), Some("gw3"));
        assert_eq!(get("XDIST_WORKER_COUNT"), Some("4"));
        assert_eq!(get("XDIST_TESTRUNUID"), Some("abc"));
        assert_eq!(get("REDIS_URL"), Some("redis://127.0.0.1/3"));
        assert_eq!(get("PORT"), Some("8030"));
        assert_eq!(get("TAG"), Some("gw3-4-abc"));
        assert_eq!(get("DATABASE_URL"), Some("postgres://x/db_gw3"));
    }

    #[test]
    fn serial_slot_sets_no_worker_variables() {
        let slot = WorkerSlot::new(None, &run(), None);
        assert!(
            slot.env
                .iter()
                .all(|(k, _)| k != "XDIST_WORKER" && k != "XDIST_WORKER_COUNT")
        );
        assert_eq!(slot.name, "main");
    }

    struct Binary(Option<&'static str>);
    impl Executable for Binary {
        fn program(&self) -> &str {
            "/bin/true"
        }
        fn cwd(&self) -> &Utf8Path {
            Utf8Path::new("/")
        }
        fn cargo_env(&self) -> &[(String, String)] {
            &[]
        }
        fn profile(&self) -> Option<&str> {
            self.0
        }
    }

    /// Every value `cmd` sets `LLVM_PROFILE_FILE` to (the last one wins).
    fn profiles(cmd: &Command) -> Vec<String> {
        cmd.get_envs()
            .filter(|(k, _)| *k == PROFILE_VAR)
            .filter_map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn a_process_gets_one_profile_its_own_else_its_workers_else_its_binarys() {
        let mut identity = run();
        identity
            .worker_env
            .push(("LLVM_PROFILE_FILE".into(), "user-{worker}".into()));
        identity.profile = Some("/p/xdist-{worker}-%p%c.profraw".into());
        let slot = WorkerSlot::new(Some(1), &identity, None);
        let listing = Binary(Some("/discard/%p-%m.profraw"));
        let own = Some("/p/xdist-gw1-7-%p%c.profraw");
        let cmd = test_command(&listing, Some(&slot), own);
        assert_eq!(profiles(&cmd), ["/p/xdist-gw1-7-%p%c.profraw"]);
        let cmd = test_command(&listing, Some(&slot), None);
        assert_eq!(profiles(&cmd), ["/p/xdist-gw1-%p%c.profraw"]);
        let cmd = test_command(&listing, None, None);
        assert_eq!(profiles(&cmd), ["/discard/%p-%m.profraw"]);
        // Without --coverage the user's own value passes through.
        let slot = WorkerSlot::new(Some(1), &run(), None);
        assert!(profiles(&test_command(&Binary(None), Some(&slot), None)).is_empty());
    }

    #[test]
    fn run_ids_are_random_hex() {
        let (a, b) = (new_run_id(), new_run_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
