//! Scheduling by recorded durations, end to end: the duration store
//! (`target/xdist/durations.json`, `--durations-file`), longest-first
//! order, and CI partitions (`--partition hash|slice|time:K/N`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;

/// A durations file that makes gamma_it's two tests (6 s) the longest
/// group of `-p gamma -p beta`, beta's (2 s) the next and gamma's lib
/// (3 tests, 0.3 s) the shortest: the reverse of the order by test count.
const CRAFTED: &str = r#"{"version":1,"runs":1,"binaries":{
  "gamma::test/gamma_it":{"tests":{
    "gamma_it_first":{"secs":3.0,"samples":1,"run":1},
    "gamma_it_second":{"secs":3.0,"samples":1,"run":1}}},
  "beta::lib/beta":{"tests":{
    "tests::uses_dylib_add":{"secs":1.0,"samples":1,"run":1},
    "tests::uses_dylib_name":{"secs":1.0,"samples":1,"run":1}}},
  "gamma::lib/gamma":{"tests":{
    "tests::gamma_squares":{"secs":0.1,"samples":1,"run":1},
    "tests::gamma_name":{"secs":0.1,"samples":1,"run":1},
    "tests::gamma_len":{"secs":0.1,"samples":1,"run":1}}}}}"#;

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xdist-sched-")
        .tempdir()
        .expect("a temporary directory")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// (binary id, test name) of each result line (`PASS    [  0.012s] gw0
/// beta tests::uses_dylib_add`), in the order they were printed.
fn result_lines(run: &Run) -> Vec<(String, String)> {
    run.stdout
        .lines()
        .filter(|l| {
            ["PASS ", "FAIL ", "TIMEOUT ", "SKIP "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .filter_map(|l| {
            let (_, rest) = l.split_once("] ")?;
            let mut words = rest.split_whitespace();
            let (_worker, binary, name) = (words.next()?, words.next()?, words.next()?);
            Some((binary.to_string(), name.to_string()))
        })
        .collect()
}

/// The binaries in the order their first result appeared.
fn binary_order(run: &Run) -> Vec<String> {
    let mut seen = Vec::new();
    for (b, _) in result_lines(run) {
        if !seen.contains(&b) {
            seen.push(b);
        }
    }
    seen
}

/// One worker takes the units in the schedule's order: the group with the
/// longest recorded time first, whatever its test count.
#[test]
fn one_worker_runs_the_longest_recorded_group_first() {
    let tmp = temp();
    let crafted = tmp.path().join("crafted.json");
    std::fs::write(&crafted, CRAFTED).unwrap();
    let empty = tmp.path().join("none.json");
    let run_with = |file: &Path, dist: &str| {
        let args = [
            "-p",
            "gamma",
            "-p",
            "beta",
            "--dist",
            dist,
            "-n",
            "1",
            "--durations-file",
        ];
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.push(path_str(file));
        let run = xdist_fixture("basic", &args).run();
        run.assert_code(0);
        run
    };
    // Nothing recorded: largest group (by count) first.
    let control = run_with(&empty, "loadfile");
    assert_eq!(
        binary_order(&control),
        ["gamma", "beta", "gamma::test/gamma_it"],
        "{}",
        control.ctx()
    );
    let run = run_with(&crafted, "loadfile");
    assert_eq!(
        binary_order(&run),
        ["gamma::test/gamma_it", "beta", "gamma"],
        "{}",
        run.ctx()
    );
    // Under load every test is a unit: the same order, test by test.
    std::fs::write(&crafted, CRAFTED).unwrap();
    let run = run_with(&crafted, "load");
    let binaries: Vec<String> = result_lines(&run).into_iter().map(|(b, _)| b).collect();
    assert_eq!(
        binaries,
        [
            "gamma::test/gamma_it",
            "gamma::test/gamma_it",
            "beta",
            "beta",
            "gamma",
            "gamma",
            "gamma"
        ],
        "{}",
        run.ctx()
    );
}

/// One test of `cargo xdist list --message-format json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    binary: String,
    name: String,
    group: String,
    ignored: bool,
}

/// `cargo xdist list --message-format json <args>` on fixtures/basic
/// (with `env`): its tests, and its `partition` object.
fn list_json(
    fixture: &str,
    args: &[String],
    env: &[(&str, &str)],
) -> (Run, Vec<Listed>, serde_json::Value) {
    // One worker: each group whole (more may split a dominant file).
    let mut all = strings(&["--message-format", "json", "-n", "1"]);
    all.extend(args.iter().cloned());
    let mut x = xdist_fixture_sub("list", fixture, &all);
    for (k, v) in env {
        x = x.env(k, v);
    }
    let run = x.run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("list did not print JSON ({e}){}", run.ctx()));
    let tests = v["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("no tests array{}", run.ctx()))
        .iter()
        .map(|t| Listed {
            binary: t["binary_id"].as_str().unwrap().to_string(),
            name: t["name"].as_str().unwrap().to_string(),
            group: t["group"].as_str().unwrap().to_string(),
            ignored: t["ignored"].as_bool().unwrap(),
        })
        .collect();
    let partition = v["partition"].clone();
    (run, tests, partition)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Every test (with its group) of the N shards, shard by shard, as
/// `cargo xdist list --partition SPEC` shows them.
fn listed_shards(kind: &str, n: usize, extra: &[String]) -> Vec<Vec<Listed>> {
    (1..=n)
        .map(|k| {
            let mut args = strings(&["--workspace", "--partition", &format!("{kind}:{k}/{n}")]);
            args.extend(extra.iter().cloned());
            let (run, tests, partition) = list_json("basic", &args, &[]);
            run.assert_code(0);
            assert_eq!(partition["shard"], k, "{}", run.ctx());
            assert_eq!(partition["total"], n, "{}", run.ctx());
            tests
        })
        .collect()
}

/// The union of the shards is the full list, with no test twice and every
/// group in one shard.
fn assert_complete(what: &str, full: &[Listed], shards: &[Vec<Listed>]) {
    let mut union: Vec<Listed> = shards.iter().flatten().cloned().collect();
    union.sort();
    let mut want = full.to_vec();
    want.sort();
    assert_eq!(
        union, want,
        "{what}: the shards together are not the full list"
    );
    let mut group_shard: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        for t in shard.iter().filter(|t| !t.ignored) {
            let at = *group_shard.entry(&t.group).or_insert(i);
            assert_eq!(
                at, i,
                "{what}: group {} is split over shards {at} and {i}",
                t.group
            );
        }
    }
    assert!(
        shards.iter().filter(|s| !s.is_empty()).count() > 1,
        "{what}: everything landed in one shard: {shards:#?}"
    );
}

#[test]
fn every_kind_of_partition_lists_each_test_in_exactly_one_shard() {
    let tmp = temp();
    let durations = tmp.path().join("d.json");
    let file = strings(&["--durations-file", &path_str(&durations)]);
    let (run, full, _) = list_json("basic", &strings(&["--workspace"]), &[]);
    run.assert_code(0);
    assert_eq!(full.iter().filter(|t| t.ignored).count(), 2);
    for n in [2, 3] {
        for kind in ["hash", "slice"] {
            assert_complete(
                &format!("{kind} of {n}"),
                &full,
                &listed_shards(kind, n, &file),
            );
        }
    }
    // time: with nothing recorded, slice's shards and a warning.
    let (run, _, partition) = list_json(
        "basic",
        &[
            strings(&["--workspace", "--partition", "time:1/3"]),
            file.clone(),
        ]
        .concat(),
        &[],
    );
    run.assert_code(0);
    assert_eq!(partition["kind"], "slice", "{}", run.ctx());
    assert!(
        run.stderr
            .contains("warning: --partition time:1/3: no recorded durations"),
        "{}",
        run.ctx()
    );
    assert_eq!(
        listed_shards("time", 3, &file),
        listed_shards("slice", 3, &file)
    );
    // Record a run, then time: balances what it recorded.
    let record = xdist_fixture(
        "basic",
        &[strings(&["--workspace", "-n", "2"]), file.clone()].concat(),
    )
    .run();
    record.assert_code(100);
    assert!(
        durations.is_file(),
        "the run recorded nothing{}",
        record.ctx()
    );
    let time = listed_shards("time", 3, &file);
    assert_complete("time of 3", &full, &time);
    let (run, _, partition) = list_json(
        "basic",
        &[strings(&["--workspace", "--partition", "time:2/3"]), file].concat(),
        &[],
    );
    assert_eq!(partition["kind"], "time", "{}", run.ctx());
    assert!(!run.stderr.contains("warning"), "{}", run.ctx());
    let expected: Vec<f64> = (partition["expected_secs"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    // tests/slow.rs (8 × 150 ms) dominates: it fills one shard alone.
    let slow_shard = time
        .iter()
        .position(|s| s.iter().any(|t| t.name == "slow_1"))
        .unwrap();
    assert_eq!(
        time[slow_shard]
            .iter()
            .filter(|t| !t.ignored)
            .map(|t| t.group.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        1,
        "the longest group should have a shard of its own: {time:#?}"
    );
    let most = expected.iter().cloned().fold(0.0, f64::max);
    assert_eq!(expected[slow_shard], most, "{expected:?}");
}

/// Real runs of every shard: each test runs exactly once over the N
/// shards, and the ignored tests are reported by one shard only.
#[test]
fn every_kind_of_partition_runs_each_test_exactly_once() {
    let tmp = temp();
    let durations = tmp.path().join("d.json");
    let file = path_str(&durations);
    let full = xdist_fixture(
        "basic",
        &["--workspace", "-n", "2", "--durations-file", &file],
    )
    .junit()
    .run();
    full.assert_code(100);
    let want = full.junit().outcome_map();
    assert_eq!(want.len(), 41, "{}", full.ctx());
    for kind in ["hash", "slice", "time"] {
        let mut got: BTreeMap<(String, String), &str> = BTreeMap::new();
        for k in 1..=3 {
            let spec = format!("{kind}:{k}/3");
            let run = xdist_fixture(
                "basic",
                &[
                    "--workspace",
                    "-n",
                    "2",
                    "--partition",
                    &spec,
                    "--durations-file",
                    &file,
                ],
            )
            .junit()
            .run();
            assert!(matches!(run.code, Some(0 | 100)), "{spec}{}", run.ctx());
            run.assert_no_panic();
            let junit = run.junit();
            assert_eq!(
                junit.cases.len(),
                junit.outcome_map().len(),
                "{spec}: a test twice{}",
                run.ctx()
            );
            for (key, outcome) in junit.outcome_map() {
                if let Some(before) = got.insert(key.clone(), outcome) {
                    panic!("{spec}: {key:?} ran again ({before} before){}", run.ctx());
                }
            }
        }
        assert_eq!(
            got, want,
            "{kind}: the shards' results are not the full run's"
        );
    }
}

/// The durations file of a store, as JSON.
fn store_json(file: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    serde_json::from_str(&text).unwrap()
}

/// Two `time:` shards, each from its own copy of a full run's record, then
/// `cargo xdist durations merge`: every test and group of the record is in
/// the merged file with the value of the shard that ran it, the run count
/// is one more, and `--partition time` plans from the merged file as from
/// the record a full run measuring those times would have left.
#[test]
fn merged_shard_durations_are_what_a_full_run_records() {
    let tmp = temp();
    let base = tmp.path().join("base.json");
    let workspace = ["--workspace", "-n", "2", "--durations-file"];
    let full = xdist_fixture("basic", &[&workspace[..], &[&path_str(&base)]].concat()).run();
    full.assert_code(100);
    let base_v = store_json(&base);
    let runs = base_v["runs"].as_u64().unwrap();
    let mut shards = Vec::new();
    for k in 1..=2 {
        let file = tmp.path().join(format!("shard-{k}.json"));
        std::fs::copy(&base, &file).unwrap();
        let spec = format!("time:{k}/2");
        let file_str = path_str(&file);
        let args = [&workspace[..], &[&file_str, "--partition", &spec]].concat();
        let run = xdist_fixture("basic", &args).run();
        assert!(matches!(run.code, Some(0 | 100)), "{spec}{}", run.ctx());
        assert!(
            !run.stderr.contains("no recorded durations"),
            "{spec}{}",
            run.ctx()
        );
        shards.push(store_json(&file));
    }
    let merged = tmp.path().join("out").join("merged.json");
    let mut args = strings(&["durations", "merge"]);
    args.extend((1..=2).map(|k| path_str(&tmp.path().join(format!("shard-{k}.json")))));
    args.extend(["-o".to_string(), path_str(&merged)]);
    let run = xdist(&args).run();
    run.assert_code(0);
    assert!(
        run.stdout.contains("merged 2 durations files"),
        "{}",
        run.ctx()
    );
    let m = store_json(&merged);
    assert_eq!(m["runs"].as_u64(), Some(runs + 1), "{m}");
    // What a full run with the shards' measurements records: the base, and
    // each entry a shard updated (run `runs + 1`) as that shard has it.
    let mut want = base_v.clone();
    want["runs"] = (runs + 1).into();
    for shard in &shards {
        for (binary, b) in shard["binaries"].as_object().unwrap() {
            for kind in ["tests", "groups"] {
                for (name, e) in b[kind].as_object().into_iter().flatten() {
                    if e["run"].as_u64() == Some(runs + 1) {
                        let slot = &mut want["binaries"][binary][kind][name];
                        assert!(
                            slot.get("run") != Some(&e["run"]),
                            "{name} ran in both shards"
                        );
                        *slot = e.clone();
                    }
                }
            }
        }
    }
    let tests = |v: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        (v["binaries"].as_object().unwrap().iter())
            .flat_map(|(b, t)| {
                (t["tests"].as_object().unwrap().iter())
                    .map(move |(n, e)| (format!("{b} {n}"), e.clone()))
            })
            .collect()
    };
    let (got, wanted) = (tests(&m), tests(&want));
    let recorded = tests(&base_v);
    let recorded: Vec<&String> = recorded.keys().collect();
    assert!(recorded.len() > 30, "the full run recorded: {recorded:#?}");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        recorded,
        "every test of the full run"
    );
    for (test, e) in &wanted {
        assert_eq!(e["run"].as_u64(), Some(runs + 1), "{test}: no shard ran it");
        assert_eq!(got.get(test), Some(e), "{test}: not the shard's value");
    }
    assert_eq!(m["binaries"], want["binaries"], "groups too");
    // `time:` plans from the merged file as from that record.
    let oracle = tmp.path().join("oracle.json");
    std::fs::write(&oracle, want.to_string()).unwrap();
    for k in 1..=2 {
        let plan = |file: &Path| {
            let args = [
                "--workspace",
                "--message-format",
                "json",
                "--partition",
                &format!("time:{k}/2"),
                "--durations-file",
                &path_str(file),
            ];
            let run = xdist_fixture_sub("list", "basic", &args).run();
            run.assert_code(0);
            let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(v["partition"]["kind"], "time", "{}", run.ctx());
            (v["tests"].clone(), v["partition"].clone())
        };
        let (from_merged, from_full) = (plan(&merged), plan(&oracle));
        assert_eq!(from_merged, from_full, "shard {k}");
    }
}

/// A listing failure (a binary that dies before `main`) fails one shard,
/// not all of them.
#[test]
fn a_listing_failure_belongs_to_one_shard() {
    let boom = [("XDIST_FIXTURE_BOOM", "1")];
    for kind in ["hash", "slice"] {
        let mut failing = 0;
        for k in 1..=3 {
            let spec = format!("{kind}:{k}/3");
            let args = strings(&["--test", "startup", "--test", "segv", "--partition", &spec]);
            let (run, _, _) = list_json("faults", &args, &boom);
            run.assert_no_panic();
            let said = run.stderr.contains("error: ") && run.stderr.contains("startup");
            match run.code {
                Some(100) if said => failing += 1,
                Some(0) if !said => {}
                _ => panic!("{spec}: unexpected result{}", run.ctx()),
            }
        }
        assert_eq!(
            failing, 1,
            "{kind}: the listing failure must be one shard's"
        );
    }
}

/// Copy fixtures/basic and fixtures/record into `dir` (the record helper
/// is a path dependency `../record`).
fn copy_basic(dir: &Path) -> PathBuf {
    copy_tree(&fixture_dir("basic"), &dir.join("basic"));
    copy_tree(&fixture_dir("record"), &dir.join("record"));
    dir.join("basic")
}

/// The times the store holds for `binary_key`'s tests, with their sample counts.
fn stored(file: &Path, binary_key: &str) -> BTreeMap<String, (f64, u64)> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tests = v["binaries"][binary_key]["tests"]
        .as_object()
        .unwrap_or_else(|| panic!("no {binary_key} in {text}"));
    tests
        .iter()
        .map(|(n, e)| {
            (
                n.clone(),
                (e["secs"].as_f64().unwrap(), e["samples"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// Durations are keyed by package, target and test name, never by the
/// hashed executable: they survive a rebuild after an edit and a build
/// into another profile, and the next run uses them.
#[test]
fn recorded_durations_survive_a_rebuild() {
    let tmp = temp();
    let ws = copy_basic(tmp.path());
    let manifest = path_str(&ws.join("Cargo.toml"));
    let target = tmp.path().join("target");
    let store = target.join("xdist").join("durations.json");
    // `cargo xdist [SUBCOMMAND] <the copy's gamma> EXTRA`.
    let args = |sub: &[&str], extra: &[&str]| {
        let mut args = strings(sub);
        args.extend(strings(&["--manifest-path", &manifest, "-p", "gamma"]));
        args.extend(strings(&["--target-dir", &path_str(&target)]));
        args.extend(strings(extra));
        args
    };
    let run = |extra: &[&str]| xdist(&args(&[], extra)).run();
    let first = run(&["-n", "1"]);
    first.assert_code(0);
    assert!(
        store.is_file(),
        "no store at <target dir>/xdist/durations.json{}",
        first.ctx()
    );
    let lib = stored(&store, "gamma::lib/gamma");
    assert_eq!(
        lib.keys().collect::<Vec<_>>(),
        [
            "tests::gamma_len",
            "tests::gamma_name",
            "tests::gamma_squares"
        ]
    );
    assert!(lib.values().all(|&(_, samples)| samples == 1));
    // The executables' hashed names appear nowhere in the store.
    let text = std::fs::read_to_string(&store).unwrap();
    let listing = |extra: &[&str]| {
        let mut extra = extra.to_vec();
        extra.extend(["--message-format", "json"]);
        let run = xdist(&args(&["list"], &extra)).run();
        run.assert_code(0);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let tests = v["tests"].as_array().unwrap().clone();
        (run, tests)
    };
    let (_, tests) = listing(&[]);
    for t in &tests {
        let exe = Path::new(t["binary_path"].as_str().unwrap())
            .file_name()
            .unwrap();
        assert!(!text.contains(&*exe.to_string_lossy()), "{exe:?} in {text}");
    }

    // Edit a source file: cargo rebuilds gamma; the run uses and updates
    // the same entries.
    let lib_rs = ws.join("gamma/src/lib.rs");
    let mut src = std::fs::read_to_string(&lib_rs).unwrap();
    src.push_str("\n// edited by tests/sched.rs\n");
    std::fs::write(&lib_rs, src).unwrap();
    let (rebuilt, tests) = listing(&[]);
    assert!(
        rebuilt.stderr.contains("Compiling gamma"),
        "no rebuild{}",
        rebuilt.ctx()
    );
    assert!(
        tests.iter().all(|t| t["recorded_secs"].as_f64().is_some()),
        "the rebuilt binaries lost their durations: {tests:#?}"
    );
    let second = run(&["-n", "1"]);
    second.assert_code(0);
    let lib = stored(&store, "gamma::lib/gamma");
    assert!(lib.values().all(|&(_, samples)| samples == 2), "{lib:?}");

    // Another profile: other executables, other hashes, the same keys.
    let (release, tests) = listing(&["--release"]);
    let exe = tests[0]["binary_path"].as_str().unwrap();
    assert!(exe.contains("/release/"), "{exe}{}", release.ctx());
    assert!(
        tests.iter().all(|t| t["recorded_secs"].as_f64().is_some()),
        "a release build does not see the durations: {tests:#?}"
    );
}

/// `--durations-file PATH` reads and writes PATH (its directory is
/// created), and leaves the target directory's store alone.
#[test]
fn durations_file_reads_and_writes_another_place() {
    let tmp = temp();
    let target = tmp.path().join("target");
    let file = tmp.path().join("ci-cache").join("durations.json");
    let gamma = |filters: &[&str]| {
        let mut args = strings(&["-p", "gamma", "--target-dir", &path_str(&target)]);
        args.extend(strings(&["--durations-file", &path_str(&file)]));
        args.extend(strings(filters));
        let run = xdist_fixture("basic", &args).run();
        run.assert_code(0);
        run
    };
    let run = gamma(&[]);
    assert!(
        file.is_file(),
        "{} was not written{}",
        file.display(),
        run.ctx()
    );
    assert!(
        !target.join("xdist/durations.json").exists(),
        "{}",
        run.ctx()
    );
    let it = stored(&file, "gamma::test/gamma_it");
    assert_eq!(
        it.keys().collect::<Vec<_>>(),
        ["gamma_it_first", "gamma_it_second"]
    );
    // A filtered run updates only what it ran.
    gamma(&["gamma_it_first"]);
    let it = stored(&file, "gamma::test/gamma_it");
    assert_eq!(it["gamma_it_first"].1, 2, "{it:?}");
    assert_eq!(it["gamma_it_second"].1, 1, "{it:?}");
    // An unreadable file is a warning, and the run rewrites it.
    std::fs::write(&file, "not json").unwrap();
    let bad = gamma(&[]);
    assert!(
        bad.stderr.contains("warning: ignoring the durations file"),
        "{}",
        bad.ctx()
    );
    assert_eq!(stored(&file, "gamma::test/gamma_it")["gamma_it_first"].1, 1);
}

#[test]
fn bad_partitions_are_usage_errors_before_any_build() {
    for spec in ["time:0/4", "time:5/4", "bytes:1/2", "slice:1"] {
        let run = xdist_fixture("basic", &["--partition", spec]).run();
        run.assert_code(2);
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{spec}: one error line{}", run.ctx());
        assert!(
            lines[0].starts_with(&format!("error: invalid --partition `{spec}`")),
            "{}",
            run.ctx()
        );
        assert!(!run.stderr.contains("Compiling"), "{}", run.ctx());
    }
}

/// Without `--dist`, a file whose recorded time exceeds its share of the
/// run is split over the workers; `--dist loadfile` keeps it whole.
#[test]
fn the_default_mode_splits_a_dominant_file_and_loadfile_does_not() {
    let tmp = temp();
    let file = tmp.path().join("slow.json");
    let entries: Vec<String> = (1..=8)
        .map(|i| format!(r#""slow_{i}":{{"secs":0.15,"samples":1,"run":1}}"#))
        .collect();
    let crafted = format!(
        r#"{{"version":1,"runs":1,"binaries":{{"alpha::test/slow":{{"tests":{{{}}}}}}}}}"#,
        entries.join(",")
    );
    let run_with = |dist: &[&str]| {
        std::fs::write(&file, &crafted).unwrap();
        let mut args = strings(&[
            "-p",
            "alpha",
            "--test",
            "slow",
            "-n",
            "2",
            "--durations-file",
        ]);
        args.push(path_str(&file));
        args.extend(strings(dist));
        let run = xdist_fixture("basic", &args).run();
        run.assert_code(0);
        run.assert_summary(8, 0, 0);
        let records = run.records();
        assert_eq!(records.len(), 8, "{}", run.ctx());
        let pids: BTreeSet<u32> = records.iter().map(|r| r.pid).collect();
        let workers: BTreeSet<String> = records.iter().map(|r| r.worker.clone()).collect();
        (run, pids.len(), workers.len())
    };
    let (run, pids, workers) = run_with(&[]);
    assert_eq!(
        (pids, workers),
        (2, 2),
        "the default should split tests/slow.rs{}",
        run.ctx()
    );
    let (run, pids, workers) = run_with(&["--dist", "loadfile"]);
    assert_eq!(
        (pids, workers),
        (1, 1),
        "--dist loadfile must not split{}",
        run.ctx()
    );
}

/// With recorded durations every worker follows a plan (its own lane) and
/// takes from the busiest lane when its own is done: in every mode, each
/// test still runs exactly once, with the outcome of the run that
/// recorded the durations.
#[test]
fn planned_runs_run_each_test_exactly_once_in_every_mode() {
    let tmp = temp();
    let file = path_str(&tmp.path().join("d.json"));
    let base = ["--workspace", "--durations-file", &file];
    let full = xdist_fixture("basic", &[&base[..], &["-n", "2"]].concat())
        .junit()
        .run();
    full.assert_code(100);
    let want = full.junit().outcome_map();
    assert_eq!(want.len(), 41, "{}", full.ctx());
    for dist in [
        "load",
        "loadfile",
        "loadscope",
        "loadgroup",
        "worksteal",
        "default",
    ] {
        for n in ["2", "3"] {
            let mut args: Vec<&str> = [&base[..], &["-n", n]].concat();
            if dist != "default" {
                args.extend(["--dist", dist]);
            }
            let run = xdist_fixture("basic", &args).junit().run();
            run.assert_code(100);
            run.assert_no_panic();
            let junit = run.junit();
            let what = format!("--dist {dist} -n {n}");
            assert_eq!(
                junit.cases.len(),
                want.len(),
                "{what}: a test twice or missing{}",
                run.ctx()
            );
            assert_eq!(junit.outcome_map(), want, "{what}{}", run.ctx());
            let records = run.records();
            let mut seen = BTreeSet::new();
            for r in &records {
                assert!(
                    seen.insert(r.name.clone()),
                    "{what}: {r:?} ran twice{}",
                    run.ctx()
                );
            }
        }
    }
}
