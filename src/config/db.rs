//! The database options: where the URL comes from (`--database-url` or a
//! variable), the template, `--db-setup` and its cached template, the
//! connection budget; and `db clean`'s.

use std::path::PathBuf;

use super::file;
use super::paths::cwd;
use crate::cli::{DbArgs, DbCleanArgs, DbRunArgs};
use crate::db::{DbOptions, UrlSource};
use crate::error::UsageError;

/// `db clean`'s options, with the config files' defaults (found from the
/// current directory).
pub fn db_clean_options(
    mut args: DbCleanArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DbOptions, UsageError> {
    let argv = args.argv.take();
    let files = file::FileDefaults::load(None, &cwd()?)?;
    let args = files.apply(args, argv.as_deref())?.args;
    let db = DbArgs {
        database_url: args.database_url,
        database_env: args.database_env,
        ..DbArgs::default()
    };
    let options = db_options(&db, env);
    if options.url.is_none() {
        return Err(UsageError(format!(
            "db clean needs the database the runs used; set {} or pass --database-url",
            options.env_name
        )));
    }
    Ok(options)
}

/// `--database-url`, else the named variable; none means no databases.
pub fn db_options(args: &DbArgs, env: &dyn Fn(&str) -> Option<String>) -> DbOptions {
    let (url, url_source) = match &args.database_url {
        Some(u) => (Some(u.clone()), UrlSource::Flag),
        None => (
            env(&args.database_env).filter(|v| !v.is_empty()),
            UrlSource::Env(args.database_env.clone()),
        ),
    };
    DbOptions {
        url,
        url_source,
        env_name: args.database_env.clone(),
        template: args.db_template.clone(),
        setup: args.db_setup.clone(),
        keep: args.keep_db,
        ephemeral: args.ephemeral_postgres,
        ..DbOptions::default()
    }
}

/// A run's own database options (the cached template, the connection
/// budget), checked.
pub(super) fn db_run_options(
    db: &mut DbOptions,
    args: &DbRunArgs,
    manifest_path: &Option<String>,
) -> Result<(), UsageError> {
    let cached = db.setup.is_some() && db.template.is_none();
    if !cached && (args.db_rebuild || !args.db_migrations.is_empty()) {
        return Err(UsageError(
            "--db-migrations and --db-rebuild are about the template that --db-setup builds; add --db-setup, or drop --db-template (whose template you prepare yourself)".into(),
        ));
    }
    for dir in &args.db_migrations {
        if !std::path::Path::new(dir).is_dir() {
            return Err(UsageError(format!(
                "--db-migrations {dir}: no such directory; give the directory that holds the migration files"
            )));
        }
    }
    if args.sqlx_born_migrated && !(cached && db.ephemeral) {
        return Err(UsageError(
            "--sqlx-born-migrated changes the server's default template, so it needs the throwaway server and the template --db-setup builds; add --ephemeral-postgres and --db-setup (without --db-template)".into(),
        ));
    }
    db.sqlx_born_migrated = args.sqlx_born_migrated;
    db.migrations = args.db_migrations.iter().map(PathBuf::from).collect();
    db.manifest_path = manifest_path.clone();
    db.rebuild = args.db_rebuild;
    db.connections_per_worker = args.db_connections_per_worker as usize;
    db.allow_overcommit = args.db_allow_overcommit;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::run::run_config;
    use crate::cli;
    use crate::db::UrlSource;

    #[test]
    fn database_options_say_where_the_url_came_from_and_no_db_ignores_it() {
        let url = [
            ("DATABASE_URL", "postgres://h/db"),
            ("APP_DB", "postgres://h/app"),
        ];
        let c = run_config(&["-n", "2"], &url).unwrap();
        let db = c.db.unwrap();
        assert_eq!(db.url_source, UrlSource::Env("DATABASE_URL".into()));
        assert!(!db.fit_workers, "-n 2 is not auto");
        assert_eq!(db.connections_per_worker, 10);
        let c = run_config(&["--database-env", "APP_DB"], &url).unwrap();
        let db = c.db.unwrap();
        assert_eq!(db.url_source, UrlSource::Env("APP_DB".into()));
        assert!(db.fit_workers, "-n auto");
        let c = run_config(&["--database-url", "postgres://x/y"], &url).unwrap();
        assert_eq!(c.db.unwrap().url_source, UrlSource::Flag);
        let c = run_config(&["-n", "2", "--no-db"], &url).unwrap();
        assert!(c.db.is_none(), "--no-db runs without databases");
        // The URL stays in the tests' environment: its password is still
        // redacted from what they print.
        let stray = [("DATABASE_URL", "postgres://u:Pw%2F9x7!q@h/db")];
        let c = run_config(&["-n", "2", "--no-db"], &stray).unwrap();
        assert!(
            c.stray_secrets.iter().any(|s| s == "Pw%2F9x7!q"),
            "{:?}",
            c.stray_secrets
        );
        let c = run_config(&["-n", "2"], &stray).unwrap();
        assert!(
            c.stray_secrets.is_empty(),
            "the databases' own secrets cover it"
        );
        let conflict = cli::parse_from(
            ["cargo-xdist", "--no-db", "--database-url", "postgres://x/y"].map(Into::into),
        );
        assert!(
            conflict.is_err(),
            "--no-db with a database option is refused"
        );
    }

    #[test]
    fn cached_template_options_are_checked() {
        let url = [("DATABASE_URL", "postgres://h/db")];
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().to_str().unwrap();
        let c = run_config(
            &[
                "--db-setup",
                "migrate",
                "--db-migrations",
                dir,
                "--db-rebuild",
            ],
            &url,
        )
        .unwrap();
        let db = c.db.unwrap();
        assert_eq!(db.migrations, [PathBuf::from(dir)]);
        assert!(db.rebuild);
        for args in [
            &["--db-migrations", dir][..],
            &["--db-rebuild"],
            &[
                "--db-setup",
                "migrate",
                "--db-template",
                "tpl",
                "--db-rebuild",
            ],
        ] {
            let err = run_config(args, &url).unwrap_err();
            assert!(err.0.contains("add --db-setup"), "{args:?}: {err}");
        }
        let err = run_config(
            &["--db-setup", "migrate", "--db-migrations", "/no/such/dir"],
            &url,
        )
        .unwrap_err();
        assert!(
            err.0
                .starts_with("--db-migrations /no/such/dir: no such directory; "),
            "{err}"
        );
        let c = run_config(
            &["--db-connections-per-worker", "3", "--db-allow-overcommit"],
            &url,
        )
        .unwrap();
        let db = c.db.unwrap();
        assert_eq!((db.connections_per_worker, db.allow_overcommit), (3, true));
        let zero =
            cli::parse_from(["cargo-xdist", "--db-connections-per-worker", "0"].map(Into::into));
        assert!(zero.is_err());
    }

    #[test]
    fn born_migrated_needs_the_throwaway_server_and_the_cached_template() {
        let url = [("DATABASE_URL", "postgres://h/db")];
        let ok = [
            "--ephemeral-postgres",
            "--db-setup",
            "m",
            "--sqlx-born-migrated",
        ];
        assert!(run_config(&ok, &[]).unwrap().db.unwrap().sqlx_born_migrated);
        for args in [
            &["--db-setup", "m", "--sqlx-born-migrated"][..],
            &["--ephemeral-postgres", "--sqlx-born-migrated"],
            &[
                "--ephemeral-postgres",
                "--db-template",
                "t",
                "--db-setup",
                "m",
                "--sqlx-born-migrated",
            ],
        ] {
            let err = run_config(args, &url).unwrap_err();
            assert!(
                err.0.starts_with("--sqlx-born-migrated "),
                "{args:?}: {err}"
            );
        }
    }
}
