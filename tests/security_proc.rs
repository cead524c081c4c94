//! What a run leaves in shared places and what it follows there: the
//! scratch directories of runs that are gone are removed by the next run,
//! but nothing else in the temporary directory is (a live run's, another
//! user's, a symlink planted under the prefix); a lock file that is a
//! symlink is refused, not followed. (That a SIGKILLed run leaves no test
//! process, and that the next run removes its real scratch directory, is in
//! tests/signals.rs.)

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;

/// The start time (field 22 of /proc/PID/stat) of process `pid`.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// This process's pid namespace inode (cargo-xdist runs in the same one).
fn pid_namespace() -> u64 {
    let link = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let link = link.to_string_lossy();
    link.strip_prefix("pid:[")
        .and_then(|l| l.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap()
}

/// A scratch directory name as cargo-xdist makes them, owned by `pid`
/// started at `start`.
fn scratch_name(pid: u32, start: u64, tail: &str) -> String {
    format!("cargo-xdist-{pid}.{start}.{}-{tail}", pid_namespace())
}

/// A directory `dir/name` with a file in it.
fn plant(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("file"), "x").unwrap();
    path
}

/// A quick run of the `faults` fixture (one passing test) with `TMPDIR`.
fn quick_run(tmpdir: &Path) -> Run {
    let run = xdist_fixture("faults", &["--test", "stall", "--no-progress"])
        .env("TMPDIR", &tmpdir.to_string_lossy())
        .run();
    run.assert_code(0);
    run.assert_summary(1, 0, 0);
    run
}

#[test]
fn the_next_run_removes_only_scratch_directories_of_gone_runs_that_are_ours() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (to plant a directory of another user, `nobody`); run it as root"
    );
    let tmp = tempfile::Builder::new()
        .prefix("xdist-scratch-tmp-")
        .tempdir()
        .unwrap();
    // /tmp's mode: others may write, but only owners remove their entries.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let outside = tempfile::tempdir().unwrap();
    let kept_target = plant(outside.path(), "target");

    // A process that is certainly alive: this test's own.
    let me = std::process::id();
    let mine = start_time(me);
    // The run that made it is gone, its pid now someone else's (this
    // process, started at another time).
    let recycled = plant(tmp.path(), &scratch_name(me, mine + 1, "gone01"));
    // Nested content (a directory, a symlink to outside) goes with it, and
    // what the symlink points to stays.
    std::fs::create_dir(recycled.join("sub")).unwrap();
    std::fs::write(recycled.join("sub/profraw"), "x").unwrap();
    std::os::unix::fs::symlink(&kept_target, recycled.join("sub/link")).unwrap();
    // A live run's.
    let live = plant(tmp.path(), &scratch_name(me, mine, "live01"));
    // Another user's, of a gone run.
    let theirs = plant(tmp.path(), &scratch_name(me, mine + 1, "their1"));
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    // A symlink under the prefix, of a gone run, to a directory elsewhere.
    let link = tmp.path().join(scratch_name(me, mine + 1, "link01"));
    std::os::unix::fs::symlink(&kept_target, &link).unwrap();
    // Another pid namespace's (a container sharing /tmp): its pid says
    // nothing here.
    let other_ns = plant(
        tmp.path(),
        &format!("cargo-xdist-{me}.{}.1-otherns", mine + 1),
    );

    let run = quick_run(tmp.path());
    assert!(
        !recycled.exists(),
        "the gone run's directory is left{}",
        run.ctx()
    );
    for kept in [&live, &theirs, &other_ns] {
        assert!(
            kept.join("file").exists(),
            "{} was touched{}",
            kept.display(),
            run.ctx()
        );
    }
    assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), 65534);
    assert!(
        link.symlink_metadata().unwrap().file_type().is_symlink(),
        "the planted symlink was removed{}",
        run.ctx()
    );
    assert!(
        kept_target.join("file").exists(),
        "a symlink was followed{}",
        run.ctx()
    );
    // The run's own directory is gone too: only the planted ones are left.
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 4, "{left:?}{}", run.ctx());
}

#[test]
fn a_symlinked_lock_file_is_refused_and_its_target_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let durations = dir.path().join("durations.json");
    let target = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, dir.path().join("durations.json.lock")).unwrap();
    let run = xdist_fixture(
        "faults",
        &[
            "--test",
            "stall",
            "--no-progress",
            "--durations-file",
            &durations.to_string_lossy(),
        ],
    )
    .run();
    run.assert_no_panic();
    // The tests ran; the durations are not saved, with a warning that says
    // why (as for any durations file that cannot be written).
    run.assert_summary(1, 0, 0);
    assert!(
        run.stderr.contains("is a symbolic link"),
        "no clear error{}",
        run.ctx()
    );
    assert!(
        target.symlink_metadata().is_err(),
        "the symlink's target was created{}",
        run.ctx()
    );
    assert!(!durations.exists(), "{}", run.ctx());
}
