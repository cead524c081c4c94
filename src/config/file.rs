//! Config files: defaults for the run options from `.config/xdist.toml`
//! and from `[workspace.metadata.xdist]` / `[package.metadata.xdist]` in
//! Cargo.toml, at the workspace root of `--manifest-path` (or of the
//! current directory, found by walking up as cargo does).
//!
//! A key is a long option name of `cargo xdist run` (`numprocesses = 3`,
//! `dist = "load"`, `timeout = "30s"`); its value is what the option takes
//! on the command line: a string or a number for an option with a value,
//! an array for a repeatable one, `true`/`false` for a flag. There is no
//! table of keys here: clap's definition of the options is the table, so an
//! option added to [`crate::cli::RunArgs`] is a key at once, checked by its
//! own value parser. The files' values become command-line arguments placed
//! before the real ones, for the options the command line does not give:
//! the command line wins, then `.config/xdist.toml`, then the package's
//! table, then the workspace's. `group` declares `--dist loadgroup` groups.

use crate::cli::{
    MAX_CONNECTIONS_PER_WORKER, MAX_DURATIONS, MAX_MAXFAIL, MAX_RETRIES, MAX_WORKERS,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use clap::parser::ValueSource;
use clap::{Args, Command, FromArgMatches};

use super::{GroupFilter, GroupRule};
use crate::error::UsageError;

/// Keys that are run options but not defaults a file may give.
const NOT_IN_FILES: &[(&str, &str)] = &[
    (
        "manifest-path",
        "it decides which config files are read; pass --manifest-path",
    ),
    ("help", "it is not an option to set"),
];

/// The options that take a whole number, with the least and most they
/// take, and the words they take besides. A file's value for one must be
/// a TOML integer in range (not a float, not negative); the command line
/// is held to the same bounds by the options' parsers in `cli.rs`.
const WHOLE_NUMBERS: &[(&str, u64, u64, &[&str])] = &[
    ("numprocesses", 0, MAX_WORKERS, &["auto", "logical"]),
    ("retries", 0, MAX_RETRIES, &[]),
    ("maxfail", 1, MAX_MAXFAIL, &[]),
    ("durations", 0, MAX_DURATIONS, &[]),
    (
        "db-connections-per-worker",
        1,
        MAX_CONNECTIONS_PER_WORKER,
        &[],
    ),
];

/// Check a whole-number option's value from a file: `None` if `key` is
/// not one, else what is wrong with `value`, if anything.
fn whole_number(key: &str, value: &toml::Value) -> Option<Result<(), String>> {
    let &(_, least, most, words) = WHOLE_NUMBERS.iter().find(|(k, ..)| *k == key)?;
    let words_too = match words {
        [] => String::new(),
        words => format!(
            " or {}",
            words
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    let wrong = |what: String| {
        Err(format!(
            "must be a whole number from {least} to {most}{words_too}, not {what}"
        ))
    };
    let in_range = |n: i128| n >= i128::from(least) && n <= i128::from(most);
    Some(match value {
        toml::Value::Integer(n) if in_range(i128::from(*n)) => Ok(()),
        toml::Value::Integer(n) => wrong(n.to_string()),
        toml::Value::Float(f) => wrong(format!("{f} (a float)")),
        toml::Value::String(s) if words.contains(&s.as_str()) => Ok(()),
        toml::Value::String(s) => match s.trim().parse::<i128>() {
            Ok(n) if in_range(n) => Ok(()),
            _ => wrong(format!("\"{s}\"")),
        },
        other => wrong(format!("a {}", other.type_str())),
    })
}

/// The key that declares `--dist loadgroup` groups.
const GROUP_KEY: &str = "group";

/// Where a value came from: a file, and the table within it.
#[derive(Debug)]
struct Source {
    path: PathBuf,
    /// `[workspace.metadata.xdist]` or `[package.metadata.xdist]`; empty for
    /// `.config/xdist.toml`.
    table: &'static str,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if !self.table.is_empty() {
            write!(f, " {}", self.table)?;
        }
        Ok(())
    }
}

/// The config files' values, checked: for each key, the value of the file
/// that wins, as command-line arguments.
#[derive(Debug, Default)]
pub struct FileDefaults {
    /// Long option name → its arguments (`--dist=load`) and their source.
    args: BTreeMap<String, (Vec<OsString>, Rc<Source>)>,
    /// `group`, from the file that wins.
    pub groups: Vec<GroupRule>,
}

/// Options after the config files' defaults, and which ones the command
/// line gave itself (long names).
#[derive(Debug)]
pub struct Resolved<T> {
    pub args: T,
    pub given: BTreeSet<String>,
    pub groups: Vec<GroupRule>,
}

impl FileDefaults {
    /// Read and check the config files for `--manifest-path` (or the
    /// current directory). Cargo.toml files that do not parse are left to
    /// cargo, which reports them; a config file that does not is an error.
    pub fn load(manifest_path: Option<&str>, cwd: &Path) -> Result<FileDefaults, UsageError> {
        let mut out = FileDefaults::default();
        let Some((manifest, root)) = locate(manifest_path, cwd) else {
            return Ok(out);
        };
        let run = &std::cell::LazyCell::new(crate::cli::run_command);
        // Lowest precedence first: later sources replace earlier keys.
        let root_manifest = read_toml(&root.join("Cargo.toml")).ok();
        if let Some(t) = root_manifest
            .as_ref()
            .and_then(|t| metadata(t, "workspace"))
        {
            let source = Source {
                path: root.join("Cargo.toml"),
                table: "[workspace.metadata.xdist]",
            };
            out.add(t, source, run)?;
        }
        let package = read_toml(&manifest).ok();
        if let Some(t) = package.as_ref().and_then(|t| metadata(t, "package")) {
            let table = "[package.metadata.xdist]";
            out.add(
                t,
                Source {
                    path: manifest,
                    table,
                },
                run,
            )?;
        }
        let file = root.join(".config").join("xdist.toml");
        if file.is_file() {
            let table = read_toml(&file).map_err(|e| {
                UsageError(format!(
                    "{}: not valid TOML ({e}); fix the file",
                    file.display()
                ))
            })?;
            let value = toml::Value::Table(table);
            out.add(
                &value,
                Source {
                    path: file,
                    table: "",
                },
                run,
            )?;
        }
        Ok(out)
    }

    /// Check one source's keys and take them over.
    fn add(
        &mut self,
        table: &toml::Value,
        source: Source,
        run: &Command,
    ) -> Result<(), UsageError> {
        let source = Rc::new(source);
        let toml::Value::Table(table) = table else {
            return Err(UsageError(format!(
                "{source}: must be a table of option names and values; write `[...xdist]` with `key = value` lines"
            )));
        };
        for (key, value) in table {
            if key == GROUP_KEY {
                self.groups = groups(value, &source)?;
                continue;
            }
            if let Some((_, why)) = NOT_IN_FILES.iter().find(|(k, _)| k == key) {
                return Err(UsageError(format!(
                    "{source}: `{key}` cannot be set in a config file: {why}"
                )));
            }
            let Some(arg) = run.get_arguments().find(|a| a.get_long() == Some(key)) else {
                let longs = run.get_arguments().filter_map(|a| a.get_long());
                if let Some(near) = nearest(key, longs.chain([GROUP_KEY])) {
                    return Err(UsageError(format!(
                        "{source}: unknown key `{key}`; did you mean `{near}`?"
                    )));
                }
                return Err(UsageError(format!(
                    "{source}: unknown key `{key}`; keys are the long options of `cargo xdist run` (numprocesses, dist, timeout, ...) or `group`"
                )));
            };
            if let Some(Err(e)) = whole_number(key, value) {
                return Err(UsageError(format!("{source}: `{key}` {e}; fix the value")));
            }
            let args = to_args(arg, key, value)
                .map_err(|e| UsageError(format!("{source}: `{key}` {e}; fix the value")))?;
            check_value(run, &args)
                .map_err(|e| UsageError(format!("{source}: `{key}`: {e}; fix the value")))?;
            self.args.insert(key.clone(), (args, source.clone()));
        }
        Ok(())
    }

    /// `args` (a command's options as the command line gave them) with the
    /// files' defaults for every option of that command the command line
    /// does not give. `argv` is that command line, after the program and
    /// subcommand names; None (options built in code) takes no defaults.
    pub fn apply<T: Args + FromArgMatches>(
        self,
        args: T,
        argv: Option<&[OsString]>,
    ) -> Result<Resolved<T>, UsageError> {
        let groups = self.groups;
        let Some(argv) = argv else {
            let given = BTreeSet::new();
            return Ok(Resolved {
                args,
                given,
                groups,
            });
        };
        let cmd = T::augment_args(Command::new("cargo xdist"));
        let prog = || std::iter::once(OsString::from("cargo xdist"));
        let given_ids: BTreeSet<String> = match cmd
            .clone()
            .try_get_matches_from(prog().chain(argv.iter().cloned()))
        {
            Ok(m) => cmd
                .get_arguments()
                .map(|a| a.get_id().to_string())
                .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
                .collect(),
            // The command line parsed once already; nothing was given.
            Err(_) => BTreeSet::new(),
        };
        let long = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id);
            arg.and_then(|a| a.get_long()).unwrap_or(id).to_string()
        };
        let given: BTreeSet<String> = given_ids.iter().map(|id| long(id)).collect();
        if self.args.is_empty() {
            return Ok(Resolved {
                args,
                given,
                groups,
            });
        }
        let mut built = cmd.clone();
        built.build();
        let mut defaults: Vec<OsString> = Vec::new();
        let mut sources: Vec<String> = Vec::new();
        for arg in cmd.get_arguments() {
            let Some((values, source)) = arg.get_long().and_then(|l| self.args.get(l)) else {
                continue;
            };
            let id = arg.get_id().as_str();
            // The command line gave this option, or one that excludes it.
            let excluded = given_ids.contains(id)
                || built
                    .get_arg_conflicts_with(arg)
                    .iter()
                    .any(|c| given_ids.contains(c.get_id().as_str()));
            if excluded {
                continue;
            }
            defaults.extend(values.iter().cloned());
            let s = source.to_string();
            if !sources.contains(&s) {
                sources.push(s);
            }
        }
        let all = prog().chain(defaults).chain(argv.iter().cloned());
        let matches = lenient(cmd).try_get_matches_from(all).map_err(|e| {
            UsageError(format!(
                "{}: {}; fix the config file",
                sources.join(", "),
                clap_message(&e)
            ))
        })?;
        let args = T::from_arg_matches(&matches)
            .map_err(|e| UsageError(format!("{}: {}", sources.join(", "), clap_message(&e))))?;
        Ok(Resolved {
            args,
            given,
            groups,
        })
    }
}

/// The table `[<section>.metadata.xdist]` of a Cargo.toml.
fn metadata<'a>(manifest: &'a toml::Table, section: &str) -> Option<&'a toml::Value> {
    manifest.get(section)?.get("metadata")?.get("xdist")
}

fn read_toml(path: &Path) -> Result<toml::Table, String> {
    let text = fs_err::read_to_string(path).map_err(|e| e.to_string())?;
    text.parse::<toml::Table>().map_err(|e| {
        let Some(span) = e.span() else {
            return e.message().to_string();
        };
        let before = text.get(..span.start).unwrap_or(&text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!("line {line}, column {column}: {}", e.message())
    })
}

/// The name among `known` closest to the unknown `key`, if one is close
/// (as clap's own suggestions on the command line).
fn nearest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The workspace root's directory for `--manifest-path` (or `cwd`), found
/// without cargo; None when there is no manifest.
pub fn workspace_root(manifest_path: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    locate(manifest_path, cwd).map(|(_, root)| root)
}

/// The package manifest (`--manifest-path`, else the nearest Cargo.toml
/// from `cwd` up) and the workspace root's directory: the manifest itself
/// if it has `[workspace]`, the directory `package.workspace` names, else
/// the nearest directory above whose Cargo.toml has `[workspace]`.
fn locate(manifest_path: Option<&str>, cwd: &Path) -> Option<(PathBuf, PathBuf)> {
    let manifest = match manifest_path {
        Some(m) => Some(cwd.join(m)).filter(|p| p.is_file())?,
        None => cwd
            .ancestors()
            .map(|d| d.join("Cargo.toml"))
            .find(|p| p.is_file())?,
    };
    let dir = manifest.parent()?.to_path_buf();
    let table = read_toml(&manifest).ok();
    if table.as_ref().is_some_and(|t| t.contains_key("workspace")) {
        return Some((manifest, dir));
    }
    let explicit = table.as_ref().and_then(|t| {
        t.get("package")?
            .get("workspace")?
            .as_str()
            .map(String::from)
    });
    if let Some(rel) = explicit {
        return Some((manifest, dir.join(rel)));
    }
    let root = dir
        .ancestors()
        .skip(1)
        .find(|d| read_toml(&d.join("Cargo.toml")).is_ok_and(|t| t.contains_key("workspace")))
        .map_or(dir.clone(), Path::to_path_buf);
    Some((manifest, root))
}

/// A value as the option's command-line arguments; an error says what
/// type the option takes.
fn to_args(arg: &clap::Arg, key: &str, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    };
    let one = |s: String| OsString::from(format!("--{key}={s}"));
    match arg.get_action() {
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse => match value {
            toml::Value::Boolean(true) => Ok(vec![OsString::from(format!("--{key}"))]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            other => Err(format!("must be true or false, not {}", other.type_str())),
        },
        clap::ArgAction::Append => match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|v| scalar(v).map(one))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| "must be an array of strings".to_string()),
            v => scalar(v).map(|s| vec![one(s)]).ok_or_else(|| {
                format!(
                    "must be a string or an array of strings, not {}",
                    v.type_str()
                )
            }),
        },
        _ => scalar(value)
            .map(|s| vec![one(s)])
            .ok_or_else(|| format!("must be a string or a number, not {}", value.type_str())),
    }
}

/// The options without their `requires`: a file's option is a default
/// for when the option it requires is given (`cov-report` for
/// `--coverage`); the command line alone was checked when parsed.
fn lenient(cmd: Command) -> Command {
    cmd.mut_args(|a| a.requires(clap::builder::Resettable::Reset))
}

/// Check the arguments a file's key becomes with the option's own parser.
fn check_value(run: &Command, args: &[OsString]) -> Result<(), String> {
    let all = std::iter::once(OsString::from("cargo xdist")).chain(args.iter().cloned());
    lenient(run.clone())
        .try_get_matches_from(all)
        .map(|_| ())
        .map_err(|e| clap_message(&e))
}

/// A clap error as one line, without `error: ` and the help hint.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_string()
}

/// `group = [{ name = "db", filter = "^db::" }, { name = "io", filter = "file:tests/io/**" }]`.
fn groups(value: &toml::Value, source: &Source) -> Result<Vec<GroupRule>, UsageError> {
    let bad = |at: String, what: &str| UsageError(format!("{source}: `{at}` {what}"));
    let toml::Value::Array(items) = value else {
        return Err(bad(
            GROUP_KEY.into(),
            "must be an array of { name, filter } tables; write [[...group]] entries",
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{GROUP_KEY}[{i}]");
        let Some(t) = item.as_table() else {
            return Err(bad(at, "must be a table { name, filter }; fix the entry"));
        };
        if let Some(k) = t.keys().find(|k| *k != "name" && *k != "filter") {
            return Err(bad(
                format!("{at}.{k}"),
                "is not a group key; use name and filter",
            ));
        }
        let text = |k: &str| {
            t.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(String::from)
                .ok_or_else(|| {
                    bad(
                        format!("{at}.{k}"),
                        "must be a non-empty string; fix the entry",
                    )
                })
        };
        let (name, filter) = (text("name")?, text("filter")?);
        let filter = GroupFilter::parse(&filter)
            .map_err(|e| bad(format!("{at}.filter"), &format!("{e}; fix the pattern")))?;
        out.push(GroupRule { name, filter });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn finds_the_workspace_root_above_a_member() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "Cargo.toml", "[workspace]\nmembers = [\"a\"]\n");
        write(d.path(), "a/Cargo.toml", "[package]\nname = \"a\"\n");
        let (m, root) = locate(None, &d.path().join("a/src")).unwrap();
        assert_eq!(m, d.path().join("a/Cargo.toml"));
        assert_eq!(root, d.path());
        let (m, root) = locate(Some("a/Cargo.toml"), d.path()).unwrap();
        assert_eq!(
            (m.parent().unwrap(), root.as_path()),
            (d.path().join("a").as_path(), d.path())
        );
    }

    #[test]
    fn whole_numbers_are_integers_in_range_as_on_the_command_line() {
        let v = |s: &str| s.parse::<toml::Table>().unwrap()["v"].clone();
        assert_eq!(whole_number("dist", &v("v = 1.5")), None);
        assert_eq!(whole_number("retries", &v("v = 3")), Some(Ok(())));
        assert_eq!(whole_number("retries", &v("v = '3'")), Some(Ok(())));
        assert_eq!(whole_number("numprocesses", &v("v = 'auto'")), Some(Ok(())));
        for (key, text, not) in [
            ("retries", "v = 1e9", "1000000000 (a float)"),
            ("retries", "v = 2.0", "2 (a float)"),
            ("retries", "v = -1", "-1"),
            ("retries", "v = 101", "101"),
            ("retries", "v = 'many'", "\"many\""),
            ("retries", "v = true", "a boolean"),
            ("maxfail", "v = 0", "0"),
            ("numprocesses", "v = 1025", "1025"),
        ] {
            let e = whole_number(key, &v(text)).unwrap().unwrap_err();
            assert!(e.starts_with("must be a whole number from "), "{e}");
            assert!(e.ends_with(&format!(", not {not}")), "{key} {text}: {e}");
        }
        // The command line has the same upper bounds.
        let run = crate::cli::run_command();
        for &(key, least, most, _) in WHOLE_NUMBERS {
            let arg = |n: u64| vec![OsString::from(format!("--{key}={n}"))];
            assert!(check_value(&run, &arg(most)).is_ok(), "{key} {most}");
            let e = check_value(&run, &arg(most + 1)).unwrap_err();
            assert!(e.contains(&(most + 1).to_string()), "{key}: {e}");
            if least > 0 && key != "maxfail" {
                assert!(check_value(&run, &arg(least - 1)).is_err(), "{key}");
            }
        }
    }

    #[test]
    fn types_follow_the_option() {
        let run = crate::cli::run_command();
        let arg = |l: &str| {
            run.get_arguments()
                .find(|a| a.get_long() == Some(l))
                .unwrap()
                .clone()
        };
        let v = |s: &str| s.parse::<toml::Table>().unwrap()["v"].clone();
        assert_eq!(
            to_args(&arg("numprocesses"), "numprocesses", &v("v = 3")).unwrap(),
            ["--numprocesses=3"]
        );
        assert_eq!(
            to_args(&arg("quiet"), "quiet", &v("v = false")).unwrap(),
            Vec::<OsString>::new()
        );
        assert!(
            to_args(&arg("quiet"), "quiet", &v("v = 'yes'"))
                .unwrap_err()
                .contains("true or false")
        );
        assert!(
            to_args(&arg("dist"), "dist", &v("v = true"))
                .unwrap_err()
                .contains("string or a number")
        );
        assert_eq!(
            to_args(&arg("skip"), "skip", &v("v = ['a', 'b']")).unwrap(),
            ["--skip=a", "--skip=b"]
        );
        assert!(
            check_value(&run, &["--dist=fast".into()])
                .unwrap_err()
                .contains("fast")
        );
        assert!(check_value(&run, &["--cov-report=term".into()]).is_ok());
    }
}
