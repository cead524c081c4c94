//! Group keys: which tests of a binary run together under each dist mode.

use super::key::GroupKey;
use crate::build::TestBinary;
use crate::config::{DistMode, GroupRule};
use crate::list::{CaseKind, TestCase};

/// The group key a test gets under `mode`; under `loadgroup`, a test
/// outside any `xdist_group_NAME` module goes to the first of `groups`
/// that takes it.
pub fn group_key(
    mode: DistMode,
    groups: &[GroupRule],
    binary: &TestBinary,
    case: &TestCase,
) -> (GroupKey, bool) {
    if case.kind != CaseKind::Libtest {
        return (GroupKey::new(&binary.id, ""), false);
    }
    let file = || {
        case.source_path
            .clone()
            .unwrap_or_else(|| module_of(&case.name).to_string())
    };
    match mode {
        DistMode::Auto | DistMode::Loadfile | DistMode::Worksteal => {
            (GroupKey::new(&binary.id, file()), false)
        }
        DistMode::Loadscope => (GroupKey::new(&binary.id, module_of(&case.name)), false),
        DistMode::No => (GroupKey::new(&binary.id, ""), false),
        DistMode::Load => (GroupKey::new(&binary.id, case.name.as_str()), true),
        DistMode::Loadgroup => match xdist_group_of(&case.name)
            .or_else(|| GroupRule::find(groups, &case.name, case.source_path.as_deref()))
        {
            Some(g) => (GroupKey::new(&binary.id, format!("group {g}")), false),
            None => (GroupKey::new(&binary.id, case.name.as_str()), true),
        },
    }
}

/// Module path of a test name: `a::b::t` → `a::b`; a top-level test → ``.
fn module_of(name: &str) -> &str {
    name.rsplit_once("::").map(|(m, _)| m).unwrap_or("")
}

/// `--dist loadgroup`: a module named `xdist_group_NAME` anywhere in the
/// test's path puts it in group NAME (the Rust spelling of pytest-xdist's
/// `@pytest.mark.xdist_group(name=...)`).
pub fn xdist_group_of(name: &str) -> Option<&str> {
    name.split("::")
        .filter_map(|seg| seg.strip_prefix("xdist_group_"))
        .find(|g| !g.is_empty())
}
