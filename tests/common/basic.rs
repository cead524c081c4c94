//! The `basic` fixture's expected outcomes (fixtures/basic/EXPECTED.md).

use std::collections::{BTreeMap, BTreeSet};

use super::junit::{Junit, diff_outcomes};
use super::xdist::Run;

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
