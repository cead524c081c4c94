//! The arguments after `--`, read with libtest's grammar: every libtest
//! option, what cargo-xdist does with it ([`LIBTEST_OPTIONS`]), and
//! [`filters`], which turns them into [`Filters`].

use super::options::{Filters, IgnoredMode};
use crate::cli::{self, ColorArg, FilterArgs};
use crate::error::UsageError;

/// How libtest takes an option (rustc 1.95's `library/test/src/cli.rs`:
/// getopts flags and options with a value, `--opt value` or `--opt=value`,
/// `-Z value` or `-Zvalue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Flag,
    Value,
}

/// What cargo-xdist does with a libtest option given after `--`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Test selection, applied by cargo-xdist itself.
    Exact,
    Skip,
    Ignored,
    IncludeIgnored,
    /// Passed to every test process, and shows the output live.
    NoCapture,
    /// Passed on, and colors cargo-xdist's own output (unless `--color`).
    Color,
    /// Passed to every test process.
    Pass,
    /// Refused before the build, with this fix.
    Refuse(&'static str),
}

const NIGHTLY: &str =
    "it is nightly-only (needs -Z unstable-options, which cargo-xdist cannot pass on); remove it";
const FORMAT: &str = "cargo-xdist reads libtest's own output; for machine-readable events use --message-format json (or --junit PATH), for less output cargo-xdist's -q, before `--`";
const ORDER: &str = "cargo-xdist runs each process's tests in name order, to know which one is running when a process dies; remove it";

/// libtest's options (rustc 1.95), every one of them: how each takes its
/// value and what cargo-xdist does with it.
const LIBTEST_OPTIONS: &[(&str, Takes, Use)] = &[
    ("--include-ignored", Takes::Flag, Use::IncludeIgnored),
    ("--ignored", Takes::Flag, Use::Ignored),
    ("--force-run-in-process", Takes::Flag, Use::Refuse(NIGHTLY)),
    ("--exclude-should-panic", Takes::Flag, Use::Refuse(NIGHTLY)),
    ("--test", Takes::Flag, Use::Pass),
    (
        "--bench",
        Takes::Flag,
        Use::Refuse("cargo-xdist runs tests, not benchmarks; run benchmarks with `cargo bench`"),
    ),
    (
        "--list",
        Takes::Flag,
        Use::Refuse("list the tests with `cargo xdist list`"),
    ),
    (
        "--fail-fast",
        Takes::Flag,
        Use::Refuse(
            "libtest's is nightly-only and would stop one process, not the run; remove it (cargo-xdist's own --fail-fast goes before `--`)",
        ),
    ),
    (
        "-h",
        Takes::Flag,
        Use::Refuse(
            "every test binary would print its help instead of running; see `cargo xdist --help`",
        ),
    ),
    (
        "--help",
        Takes::Flag,
        Use::Refuse(
            "every test binary would print its help instead of running; see `cargo xdist --help`",
        ),
    ),
    (
        "--logfile",
        Takes::Value,
        Use::Refuse(
            "cargo-xdist reads each verdict from a logfile of its own; for a report use --junit PATH or --message-format json",
        ),
    ),
    ("--no-capture", Takes::Flag, Use::NoCapture),
    ("--nocapture", Takes::Flag, Use::NoCapture),
    (
        "--test-threads",
        Takes::Value,
        Use::Refuse(
            "each test process runs one test at a time, so that a crash fails only that test; set the parallelism with -n N",
        ),
    ),
    ("--skip", Takes::Value, Use::Skip),
    ("-q", Takes::Flag, Use::Refuse(FORMAT)),
    ("--quiet", Takes::Flag, Use::Refuse(FORMAT)),
    ("--exact", Takes::Flag, Use::Exact),
    ("--color", Takes::Value, Use::Color),
    ("--format", Takes::Value, Use::Refuse(FORMAT)),
    ("--show-output", Takes::Flag, Use::Pass),
    (
        "-Z",
        Takes::Value,
        Use::Refuse(
            "`-Z unstable-options` is nightly-only and turns on only libtest options that cargo-xdist manages (--format json, --shuffle, --report-time); remove it",
        ),
    ),
    (
        "--report-time",
        Takes::Flag,
        Use::Refuse(
            "it is nightly-only; for test times use --durations N or --message-format json",
        ),
    ),
    (
        "--ensure-time",
        Takes::Flag,
        Use::Refuse("it is nightly-only; to fail a test that runs too long use --timeout DURATION"),
    ),
    ("--shuffle", Takes::Flag, Use::Refuse(ORDER)),
    ("--shuffle-seed", Takes::Value, Use::Refuse(ORDER)),
];

/// What the arguments after `--` set besides the filters.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AfterDashes {
    pub(super) no_capture: bool,
    pub(super) color: Option<ColorArg>,
}

/// The selection options, with the arguments after `--` read with
/// libtest's grammar: selection (`--exact`, `--skip X`, `--ignored`, bare
/// filters) moves into them, what libtest may get is passed on, and what
/// cargo-xdist must control is refused with a fix that fits the option.
pub(super) fn filters(f: FilterArgs) -> Result<(Filters, AfterDashes), UsageError> {
    let mut out = Filters {
        patterns: f.filters,
        exact: f.exact,
        skip: f.skip,
        ignored: IgnoredMode::Skip,
        test_args: Vec::new(),
    };
    let mut after = AfterDashes::default();
    let (mut ignored, mut include_ignored) = (f.ignored, f.include_ignored);
    let mut args = f.test_args.into_iter();
    let mut only_filters = false;
    while let Some(arg) = args.next() {
        if only_filters || arg == "-" || !arg.starts_with('-') {
            out.patterns.push(arg);
            continue;
        }
        if arg == "--" {
            only_filters = true;
            continue;
        }
        // `--name=value`, `-Zvalue`, or a bare option.
        let (name, inline) = match arg.strip_prefix("--") {
            Some(long) => match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (arg.clone(), None),
            },
            None => {
                let mut chars = arg[1..].chars();
                let first = chars.next().map(|c| format!("-{c}")).unwrap_or_default();
                let rest = chars.as_str();
                (first, (!rest.is_empty()).then(|| rest.to_string()))
            }
        };
        let Some(&(_, takes, usage)) = LIBTEST_OPTIONS.iter().find(|(n, ..)| *n == name) else {
            return Err(unknown_test_arg(&name, &arg));
        };
        let value = match (takes, inline) {
            (Takes::Flag, Some(_)) => {
                return Err(UsageError(format!(
                    "`{name}` after `--` takes no value (got `{arg}`); write `-- {name}`"
                )));
            }
            (Takes::Flag, None) => None,
            (Takes::Value, Some(v)) => Some(v),
            (Takes::Value, None) => Some(args.next().ok_or_else(|| {
                UsageError(format!(
                    "`{name}` after `--` needs a value; write `-- {name} VALUE`"
                ))
            })?),
        };
        let passed = || match &value {
            Some(v) => vec![name.clone(), v.clone()],
            None => vec![name.clone()],
        };
        match usage {
            Use::Exact => out.exact = true,
            Use::Ignored => ignored = true,
            Use::IncludeIgnored => include_ignored = true,
            Use::Skip => out.skip.extend(value),
            Use::NoCapture => {
                after.no_capture = true;
                out.test_args.extend(passed());
            }
            Use::Color => {
                after.color = Some(match value.as_deref() {
                    Some("auto") => ColorArg::Auto,
                    Some("always") => ColorArg::Always,
                    Some("never") => ColorArg::Never,
                    v => {
                        return Err(UsageError(format!(
                            "`--color` after `--` must be auto, always or never, not `{}`; fix the value",
                            v.unwrap_or_default()
                        )));
                    }
                });
                out.test_args.extend(passed());
            }
            Use::Pass => out.test_args.extend(passed()),
            Use::Refuse(fix) => {
                let shown = passed().join(" ");
                return Err(UsageError(format!(
                    "the test argument `{shown}` is not supported by cargo-xdist; {fix}"
                )));
            }
        }
    }
    out.ignored = match (ignored, include_ignored) {
        (true, true) => {
            return Err(UsageError(
                "`--ignored` and `--include-ignored` cannot be used together; pick one".into(),
            ));
        }
        (true, false) => IgnoredMode::Only,
        (false, true) => IgnoredMode::Include,
        (false, false) => IgnoredMode::Skip,
    };
    Ok((out, after))
}

/// An option after `--` that libtest does not know: say whether it is
/// cargo-xdist's own (then it goes before `--`).
fn unknown_test_arg(name: &str, arg: &str) -> UsageError {
    use clap::CommandFactory;
    let ours = cli::Cli::command().get_arguments().any(|a| {
        a.get_long_and_visible_aliases()
            .into_iter()
            .flatten()
            .any(|l| name.strip_prefix("--") == Some(l))
            || a.get_short_and_visible_aliases()
                .into_iter()
                .flatten()
                .any(|c| name.strip_prefix('-') == Some(&c.to_string()))
    });
    if ours {
        UsageError(format!(
            "`{name}` after `--` is a cargo-xdist option, not a test argument; put it before `--`"
        ))
    } else {
        UsageError(format!(
            "`{arg}` after `--` is not a libtest option; remove it (see a test binary's --help)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after_dashes(args: &[&str]) -> Result<(Filters, AfterDashes), UsageError> {
        filters(FilterArgs {
            test_args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    fn filter(args: &[&str]) -> Result<Filters, UsageError> {
        after_dashes(args).map(|(f, _)| f)
    }

    #[test]
    fn cargo_test_style_args_become_filters() {
        let f = filter(&["--exact", "--skip", "slow", "name", "--nocapture"]).unwrap();
        assert!(f.exact);
        assert_eq!(f.skip, ["slow"]);
        assert_eq!(f.patterns, ["name"]);
        assert_eq!(f.test_args, ["--nocapture"]);
        assert_eq!(f.libtest_args(), ["--nocapture"]);
        assert_eq!(
            f.harness_args(),
            ["name", "--exact", "--skip", "slow", "--nocapture"]
        );
    }

    #[test]
    fn options_with_a_value_take_it_in_both_spellings() {
        for args in [
            &["--color", "never", "--skip", "slow", "name"][..],
            &["--color=never", "--skip=slow", "name"][..],
        ] {
            let (f, after) = after_dashes(args).unwrap();
            assert_eq!(f.patterns, ["name"], "{args:?}");
            assert_eq!(f.skip, ["slow"], "{args:?}");
            assert_eq!(after.color, Some(ColorArg::Never), "{args:?}");
            assert!(f.libtest_args().join(" ").contains("--color never"));
        }
        // A value is taken even when it starts with `-`, as getopts does.
        assert_eq!(filter(&["--skip", "-x"]).unwrap().skip, ["-x"]);
        // After a second `--`, everything is a filter.
        assert_eq!(filter(&["--", "--exact"]).unwrap().patterns, ["--exact"]);
        let (f, after) = after_dashes(&["--nocapture", "--show-output"]).unwrap();
        assert!(after.no_capture);
        assert_eq!(f.test_args, ["--nocapture", "--show-output"]);
    }

    #[test]
    fn refused_args_get_a_fix_that_fits_them() {
        for (args, fix) in [
            (&["--test-threads=4"][..], "-n N"),
            (&["--test-threads", "4"][..], "-n N"),
            (&["-Z", "unstable-options"][..], "nightly-only"),
            (&["-Zunstable-options"][..], "nightly-only"),
            (&["--format", "json"][..], "--message-format json"),
            (&["-q"][..], "cargo-xdist's -q"),
            (&["--logfile", "x"][..], "--junit"),
            (&["--shuffle"][..], "name order"),
            (&["--list"][..], "cargo xdist list"),
            (&["--bench"][..], "cargo bench"),
            (&["--report-time"][..], "--durations"),
            (&["--help"][..], "cargo xdist --help"),
            (&["--frobnicate"][..], "not a libtest option"),
            (&["-n", "4"][..], "put it before `--`"),
            (&["-n4"][..], "put it before `--`"),
            (&["--workspace"][..], "put it before `--`"),
            (&["--color", "sometimes"][..], "auto, always or never"),
            (&["--skip"][..], "needs a value"),
            (&["--exact=yes"][..], "takes no value"),
        ] {
            let err = filter(args).unwrap_err();
            assert!(err.0.contains(fix), "{args:?}: {err}");
            assert!(!err.0.contains("-n N") || fix == "-n N", "{args:?}: {err}");
        }
        let err = filter(&["--ignored", "--include-ignored"]).unwrap_err();
        assert!(err.0.contains("cannot be used together"), "{err}");
    }

    #[test]
    fn ignored_modes_reach_libtest() {
        let f = filter(&["--ignored"]).unwrap();
        assert_eq!(f.ignored, IgnoredMode::Only);
        assert_eq!(f.libtest_args(), ["--include-ignored"]);
        assert_eq!(f.harness_args(), ["--ignored"]);
    }
}
