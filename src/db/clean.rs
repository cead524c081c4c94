//! `cargo xdist db clean`.

use super::error::DbError;
use super::locks::NAMES_LOCK;
use super::names::{MAX_NAME_SETS, marks_base, name_set, worker_set_index};
use super::options::DbOptions;
use super::template;
use super::workers::WorkerDatabases;

/// `cargo xdist db clean`: drop the leftover marked worker databases of this
/// base name (any worker number, any name set, any run, but not those of a
/// set a run holds right now) and its cached template databases (unless a
/// run is using one right now), and return their names, sorted.
/// Unmarked databases and the base database are never touched. With
/// `--ephemeral-postgres` there is nothing to clean.
pub fn clean(opts: &DbOptions) -> Result<Vec<String>, DbError> {
    if opts.ephemeral {
        return Ok(Vec::new());
    }
    let opts = DbOptions {
        template: None,
        setup: None,
        keep: true,
        ..opts.clone()
    };
    let dbs = WorkerDatabases::connect_server(&opts, 0, "clean")?;
    let settings = dbs.settings.as_ref().expect("connect_server connects");
    let mut client = settings.admin()?;
    let base = settings.base.database();
    let marked = settings.marked_databases(&mut client)?;
    let ours =
        |name: &str| worker_set_index(base, name).is_some() || template::is_template_of(base, name);
    let foreign: Vec<&str> = (marked.iter())
        .filter(|(name, comment)| ours(name) && !marks_base(Some(comment), base))
        .map(|(name, _)| name.as_str())
        .collect();
    if !foreign.is_empty() {
        eprintln!(
            "note: left alone {}: cargo-xdist made them for another base database or did not record the base; drop them by hand if nothing uses them",
            foreign.join(", ")
        );
    }
    let mut names = Vec::new();
    for set in 1..=MAX_NAME_SETS {
        let in_set: Vec<String> = (marked.iter())
            .filter(|(name, comment)| {
                marks_base(Some(comment), base)
                    && worker_set_index(base, name).is_some_and(|(s, _)| s == set)
            })
            .map(|(name, _)| name.clone())
            .collect();
        if in_set.is_empty() {
            continue;
        }
        // A run holding the set is using them: they are not leftovers.
        let dropped =
            settings.while_locked(&mut client, NAMES_LOCK, &name_set(base, set), |c| {
                let mut dropped = Vec::new();
                for name in in_set {
                    // What sqlx made through it (failed or killed tests'
                    // databases) first: only its record names them.
                    dropped.extend(settings.drop_sqlx_databases(c, &name)?);
                    settings.drop_database(c, &name)?;
                    dropped.push(name);
                }
                Ok(dropped)
            })?;
        names.extend(dropped.unwrap_or_default());
    }
    names.extend(settings.drop_templates(&mut client, None)?);
    names.sort();
    Ok(names)
}
