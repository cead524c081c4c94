//! The arguments of the re-run command the report prints for failed tests.

use std::time::Duration;

use super::options::{BuildOptions, Filters, IgnoredMode};
use crate::db::DbOptions;

/// The arguments of a re-run command that stay the same whatever it
/// selects: how the tests are built, which ignored tests may run, their
/// environment and time limit, the arguments after `--`.
pub(super) fn rerun_args(
    build: &BuildOptions,
    filters: &Filters,
    db: Option<&DbOptions>,
    worker_env: &[(String, String)],
    timeout: Option<Duration>,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut opt = |name: &str, value: Option<&String>| {
        if let Some(v) = value {
            a.extend([name.to_string(), v.clone()]);
        }
    };
    opt("--manifest-path", build.manifest_path.as_ref());
    build
        .features
        .iter()
        .for_each(|f| opt("--features", Some(f)));
    opt("--profile", build.profile.as_ref());
    opt("--target", build.target.as_ref());
    opt("--target-dir", build.target_dir.as_ref());
    if let Some(db) = db {
        let env = Some(&db.env_name).filter(|n| *n != "DATABASE_URL");
        opt("--database-env", env);
        opt("--db-template", db.template.as_ref());
        opt("--db-setup", db.setup.as_ref());
    }
    for (k, v) in worker_env {
        opt("--worker-env", Some(&format!("{k}={v}")));
    }
    let timeout = timeout.map(|t| humantime::format_duration(t).to_string().replace(' ', ""));
    opt("--timeout", timeout.as_ref());
    let flags = [
        (build.all_features, "--all-features"),
        (build.no_default_features, "--no-default-features"),
        (build.release, "--release"),
        (build.locked, "--locked"),
        (build.offline, "--offline"),
        (build.frozen, "--frozen"),
        (db.is_some_and(|d| d.ephemeral), "--ephemeral-postgres"),
        (filters.ignored != IgnoredMode::Skip, "--include-ignored"),
    ];
    a.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| f.to_string()),
    );
    if !filters.test_args.is_empty() {
        a.push("--".into());
        a.extend(filters.test_args.iter().cloned());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::run::run_config;

    #[test]
    fn rerun_args_keep_the_build_and_environment_never_the_url() {
        let c = run_config(
            &[
                "--manifest-path",
                "w/Cargo.toml",
                "--release",
                "--include-ignored",
                "--timeout",
                "90s",
                "--database-url",
                "postgres://u:pw@h/db",
                "-p",
                "alpha",
                "name",
                "--",
                "--show-output",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.report.rerun_args,
            [
                "--manifest-path",
                "w/Cargo.toml",
                "--timeout",
                "1m30s",
                "--release",
                "--include-ignored",
                "--",
                "--show-output"
            ]
        );
        let c = run_config(&["--no-capture"], &[]).unwrap();
        assert!(c.no_capture);
        assert_eq!(c.filters.libtest_args(), ["--nocapture"]);
        let c = run_config(&["--", "--nocapture"], &[]).unwrap();
        assert!(c.no_capture);
        assert_eq!(c.filters.libtest_args(), ["--nocapture"]);
    }
}
