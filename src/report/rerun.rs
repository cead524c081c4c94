//! The command lines that re-run exactly a run's failures, printed at the
//! end of the failures block. Test names are only unique within a binary
//! (every crate may have a `tests::it_works`), so each command selects one
//! binary (`-p PKG` and its target: `--lib`, `--test NAME`, ...) and its
//! failed tests by exact name; a run whose failures are in one binary gets
//! one command. Names are quoted for a POSIX shell. A doctest's name has
//! spaces, which rustdoc would split: the doctest runner hands rustdoc
//! filters without whitespace that select the same doctests
//! ([`crate::run::doctest`]).

use std::collections::{BTreeMap, HashMap};

use crate::build::BuildOutput;
use crate::event::TestResult;

/// How to select one binary's tests.
#[derive(Debug, Clone)]
struct Target {
    package: String,
    /// `--lib`, `--test api`, `--doc`, ...
    flags: Vec<String>,
    /// A `harness = false` target runs whole (it gets the filters itself).
    whole: bool,
}

/// Builds the re-run commands of a run.
#[derive(Debug, Clone, Default)]
pub struct Rerun {
    /// Options that stay as they were (config's `rerun_args`); after `--`
    /// the arguments for the test binaries.
    options: Vec<String>,
    after_dashes: Vec<String>,
    targets: HashMap<String, Target>,
    /// The binaries came from an archive: the command calls `cargo-xdist`
    /// itself (the running machine may have no cargo).
    archive: bool,
}

impl Rerun {
    pub fn new(args: &[String], build: &BuildOutput) -> Self {
        let (options, after_dashes) = match args.iter().position(|a| a == "--") {
            Some(at) => (args[..at].to_vec(), args[at + 1..].to_vec()),
            None => (args.to_vec(), Vec::new()),
        };
        let mut targets = HashMap::new();
        for b in &build.binaries {
            let flags = match b.kind.as_str() {
                "bin" | "test" | "example" | "bench" => {
                    vec![format!("--{}", b.kind), b.target_name.clone()]
                }
                _ => vec!["--lib".to_string()],
            };
            let target = Target {
                package: b.package.clone(),
                flags,
                whole: b.custom_harness,
            };
            targets.insert(b.id.clone(), target);
        }
        for d in &build.doc_packages {
            // `--lib` builds only what the doctests need; no unit test has
            // a doctest's name.
            let target = Target {
                package: d.package.clone(),
                flags: vec!["--doc".into(), "--lib".into()],
                whole: false,
            };
            targets.insert(d.id.clone(), target);
        }
        Rerun {
            options,
            after_dashes,
            targets,
            archive: build.extracted.is_some(),
        }
    }

    /// One command per binary with failures, in binary order. A failure
    /// that stands for a whole binary (a custom harness, a binary that
    /// could not list its tests) re-runs that binary.
    pub fn commands(&self, failures: &[&TestResult]) -> Vec<String> {
        let mut by_binary: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in failures {
            by_binary.entry(&r.binary).or_default().push(&r.name);
        }
        let mut out = Vec::new();
        for (binary, names) in by_binary {
            let Some(t) = self.targets.get(binary) else {
                continue;
            };
            let whole = t.whole || names.contains(&"(listing)");
            let mut words: Vec<&str> = match self.archive {
                true => vec!["cargo-xdist"],
                false => vec!["cargo", "xdist"],
            };
            words.extend(self.options.iter().map(String::as_str));
            words.extend(["-p", &t.package]);
            words.extend(t.flags.iter().map(String::as_str));
            if !whole {
                words.push("--exact");
                words.extend(names);
            }
            if !self.after_dashes.is_empty() {
                words.push("--");
                words.extend(self.after_dashes.iter().map(String::as_str));
            }
            // Only a NUL byte cannot be quoted; no argument has one.
            if let Ok(line) = shlex::try_join(words) {
                out.push(line);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{DocPackage, TestBinary};
    use crate::event::Outcome;
    use camino::Utf8PathBuf;

    fn bin(id: &str, package: &str, kind: &str, target: &str, custom: bool) -> TestBinary {
        TestBinary {
            id: id.into(),
            package: package.into(),
            target_name: target.into(),
            kind: kind.into(),
            path: Utf8PathBuf::from("/x"),
            manifest_dir: Utf8PathBuf::from("/"),
            src_path: Utf8PathBuf::from("/src/lib.rs"),
            custom_harness: custom,
            env: vec![],
            profile: None,
        }
    }

    #[test]
    fn one_quoted_command_per_binary() {
        let build = BuildOutput {
            binaries: vec![
                bin("alpha", "alpha", "lib", "alpha", false),
                bin("alpha::test/api", "alpha", "test", "api", false),
                bin("custom::test/c", "custom", "test", "c", true),
            ],
            doc_packages: vec![DocPackage {
                id: "alpha::doc".into(),
                package: "alpha".into(),
                manifest_dir: Utf8PathBuf::from("/"),
            }],
            workspace_root: Utf8PathBuf::from("/"),
            target_directory: Utf8PathBuf::from("/target"),
            ..Default::default()
        };
        let args: Vec<String> = ["--manifest-path", "/w s/Cargo.toml", "--", "--nocapture"]
            .map(String::from)
            .to_vec();
        let rerun = Rerun::new(&args, &build);
        let fail = |b: &str, n: &str| TestResult::new(b, n, None, "g", "gw0", Outcome::Failed);
        let failures = [
            fail("alpha::test/api", "get_user"),
            fail("alpha", "tests::b"),
            fail("alpha", "tests::a"),
            fail("custom::test/c", "c"),
            fail("alpha::doc", "src/lib.rs - add (line 3)"),
            fail("alpha::doc", "src/odd dir/it's.rs - odd (line 5)"),
        ];
        let refs: Vec<&TestResult> = failures.iter().collect();
        assert_eq!(
            rerun.commands(&refs),
            [
                "cargo xdist --manifest-path '/w s/Cargo.toml' -p alpha --lib --exact tests::b tests::a -- --nocapture",
                "cargo xdist --manifest-path '/w s/Cargo.toml' -p alpha --doc --lib --exact 'src/lib.rs - add (line 3)' \"src/odd dir/it's.rs - odd (line 5)\" -- --nocapture",
                "cargo xdist --manifest-path '/w s/Cargo.toml' -p alpha --test api --exact get_user -- --nocapture",
                "cargo xdist --manifest-path '/w s/Cargo.toml' -p custom --test c -- --nocapture",
            ]
        );
    }
}
