#!/usr/bin/env python3
"""Compare per-test outcomes of `cargo test` and `cargo xdist` on one project.

Usage:
    compare-outcomes.py PROJECT_DIR [CARGO ARGS...] [-- TEST ARGS...]

Runs, in PROJECT_DIR:
  (a) CARGO_TERM_COLOR=never cargo test --no-fail-fast CARGO_ARGS [-- TEST ARGS]
      and parses libtest's pretty output (`test NAME ... ok|FAILED|ignored`),
      attributing each line to the binary named by cargo's preceding
      `Running ...` header. cargo test runs the doctests too (unless the
      CARGO ARGS select targets); their `Doc-tests` sections are dropped. A
      binary section with no `running N tests` line is taken to be a
      `harness = false` target: one entry named after the target, failed if
      cargo printed `error: test failed, to rerun pass ...` for it.
  (b) cargo-xdist xdist -n 2 --no-progress --junit TMP/j.xml CARGO_ARGS [-- TEST ARGS]
      and parses the JUnit report (<failure>/<error> = failed,
      <skipped> = ignored, otherwise passed). Without `--doc` cargo xdist
      runs no doctests.

Doctests are therefore left out of the comparison on both sides. `--doc` is
refused: `cargo test --doc` runs only the doctests, which (a) drops, while
`cargo xdist --doc` runs them in addition to the other tests, so the two
sides would never match.

Binary names differ between the tools, so the multisets of
(test name, outcome) are compared. Exit 0 if identical, 1 otherwise (also when
either tool could not produce results). Python 3 standard library only.
"""

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

DEFAULT_XDIST = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "target", "release", "cargo-xdist",
)

RUNNING_RE = re.compile(r"^\s*Running (?:unittests )?(?P<src>.+?) \((?P<exe>[^()]+)\)\s*$")
DOCTESTS_RE = re.compile(r"^\s*Doc-tests (?P<crate>\S+)\s*$")
RUNNING_N_RE = re.compile(r"^running \d+ tests?$")
RESULT_LINE_RE = re.compile(r"^test result: ")
# `test NAME ... ok`, `test NAME - should panic ... ok`, bench padding,
# `ignored, reason`, and `bench:` lines (benches run in test mode print ok).
TEST_RE = re.compile(
    r"^test (?P<name>\S+)(?: - [a-z ]+)? *\.\.\. "
    r"(?P<res>ok|FAILED|ignored(?:, .*)?|bench:.*)\s*$"
)
RERUN_RE = re.compile(r"^error: test failed, to rerun pass `(?P<flag>[^`]*)`")

OUTCOMES = ("passed", "failed", "ignored")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, cwd, env, timeout, out_path):
    """Run cmd with stdout+stderr merged into out_path; return (rc, text, secs).

    rc is None on timeout (the whole process group is killed)."""
    start = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            rc = None
    with open(out_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    return rc, text, time.monotonic() - start


def target_of(exe):
    """`.../deps/test_version-0a1b2c` -> `test_version`."""
    stem = os.path.basename(exe)
    m = re.match(r"^(.*)-[0-9a-f]{16}(?:\.exe)?$", stem)
    return m.group(1) if m else stem


def parse_cargo_test(text):
    """Return (entries, notes): entries is a list of (binary, name, outcome, custom)."""
    entries = []
    notes = []
    sections = []  # dicts: label, exe, lines
    cur = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        m = RUNNING_RE.match(line)
        if m:
            cur = {"label": m.group("src"), "exe": m.group("exe"), "doc": False,
                   "running": False, "tests": [], "failed_rerun": None}
            sections.append(cur)
            continue
        m = DOCTESTS_RE.match(line)
        if m:
            cur = {"label": "Doc-tests " + m.group("crate"), "exe": None, "doc": True,
                   "running": False, "tests": [], "failed_rerun": None}
            sections.append(cur)
            continue
        if cur is None:
            continue
        m = RERUN_RE.match(line.strip())
        if m:
            cur["failed_rerun"] = m.group("flag")
            continue
        if RUNNING_N_RE.match(line):
            cur["running"] = True
            continue
        m = TEST_RE.match(line)
        if m:
            res = m.group("res")
            if res == "ok" or res.startswith("bench:"):
                outcome = "passed"
            elif res == "FAILED":
                outcome = "failed"
            else:
                outcome = "ignored"
            cur["tests"].append((m.group("name"), outcome))
    for s in sections:
        if s["doc"]:
            continue
        binary = "%s (%s)" % (s["label"], target_of(s["exe"]))
        if not s["running"]:
            outcome = "failed" if s["failed_rerun"] else "passed"
            entries.append((binary, target_of(s["exe"]), outcome, True))
            notes.append("cargo test: %s printed no `running N tests` line; counted as a "
                         "custom-harness unit `%s` (%s)" % (binary, target_of(s["exe"]), outcome))
            continue
        for name, outcome in s["tests"]:
            entries.append((binary, name, outcome, False))
        if s["failed_rerun"] and not any(o == "failed" for _, o in s["tests"]):
            notes.append("cargo test: %s failed as a process (`%s`) but no test in it was "
                         "reported FAILED (crash/abort?)" % (binary, s["failed_rerun"]))
    return entries, notes


def parse_junit(path):
    entries = []
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        sname = suite.get("name", "?")
        for case in suite.findall("testcase"):
            tags = {child.tag for child in case}
            if "failure" in tags or "error" in tags:
                outcome = "failed"
            elif "skipped" in tags:
                outcome = "ignored"
            else:
                outcome = "passed"
            entries.append((sname, case.get("name", "?"), outcome))
    return entries


def xdist_blocks(text, name):
    """Lines of cargo-xdist's stdout that concern test `name`: its result line
    and its block in the `Failures:` section."""
    lines = text.splitlines()
    out = []
    suffix = " " + name
    for ln in lines:
        s = ln.rstrip()
        if re.match(r"^(PASS|FAIL|TIMEOUT|SKIP)\s+\[", s) and (s.endswith(suffix) or (suffix + " (") in s):
            out.append(s)
    in_fail = False
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("Failures:"):
            in_fail = True
        elif in_fail and ln.startswith("--- ") and (suffix + " [") in ln:
            block = [ln]
            i += 1
            while i < len(lines) and not lines[i].startswith("--- ") \
                    and not lines[i].startswith("Failed tests:") \
                    and not lines[i].startswith("Ran ") and not lines[i].startswith("Summary:"):
                block.append(lines[i])
                i += 1
            out.append("\n".join(block).rstrip())
            continue
        i += 1
    return out


def main():
    argv = sys.argv[1:]
    test_args = []
    if "--" in argv:
        k = argv.index("--")
        argv, test_args = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(
        description="Compare cargo test and cargo xdist per-test outcomes.",
        epilog="Unknown options are passed to both cargo test and cargo xdist.")
    ap.add_argument("project", help="cargo project (or workspace) directory")
    ap.add_argument("--xdist", default=os.environ.get("CARGO_XDIST", DEFAULT_XDIST),
                    help="cargo-xdist binary (default: %(default)s)")
    ap.add_argument("-n", "--workers", default="2", help="cargo xdist -n (default 2)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds allowed for each tool's run (default 1800)")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep logs and the JUnit file in DIR (default: a temp dir, "
                         "kept only when outcomes differ)")
    ap.add_argument("--max-report", type=int, default=50,
                    help="list at most this many tests per category")
    args, cargo_args = ap.parse_known_args(argv)

    if "--doc" in cargo_args:
        ap.error("--doc is not supported: doctests are left out of the comparison "
                 "(see the module docstring)")

    project = os.path.abspath(args.project)
    if not os.path.isfile(os.path.join(project, "Cargo.toml")):
        ap.error("no Cargo.toml in %s" % project)
    xdist = os.path.abspath(args.xdist)
    if not os.access(xdist, os.X_OK):
        ap.error("cargo-xdist binary not found: %s (build with cargo build --release)" % xdist)

    if args.keep:
        tmp = os.path.abspath(args.keep)
        os.makedirs(tmp, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="compare-outcomes-")
    env = dict(os.environ, CARGO_TERM_COLOR="never")
    after = (["--"] + test_args) if test_args else []

    cargo_cmd = ["cargo", "test", "--no-fail-fast"] + cargo_args + after
    junit = os.path.join(tmp, "j.xml")
    if os.path.exists(junit):
        os.remove(junit)
    xdist_cmd = [xdist, "xdist", "-n", args.workers, "--no-progress", "--junit", junit] \
        + cargo_args + after

    problems = []
    log("$ (cd %s && CARGO_TERM_COLOR=never %s)" % (project, " ".join(cargo_cmd)))
    c_rc, c_out, c_secs = run(cargo_cmd, project, env, args.timeout,
                              os.path.join(tmp, "cargo-test.log"))
    log("  exit %s in %.1fs" % (c_rc, c_secs))
    log("$ (cd %s && %s)" % (project, " ".join(xdist_cmd)))
    x_rc, x_out, x_secs = run(xdist_cmd, project, env, args.timeout,
                              os.path.join(tmp, "xdist.log"))
    log("  exit %s in %.1fs" % (x_rc, x_secs))

    c_entries, notes = parse_cargo_test(c_out)
    if c_rc is None:
        problems.append("cargo test timed out after %.0fs" % args.timeout)
    elif c_rc not in (0, 101):
        problems.append("cargo test exited %s" % c_rc)
    if not c_entries and ("error: could not compile" in c_out or c_rc not in (0, None)):
        problems.append("cargo test produced no test results (build failure?)")
    if c_rc == 101 and not any(o == "failed" for _, _, o, _ in c_entries):
        problems.append("cargo test exited 101 but no test failed "
                        "(build error or crashed binary?)")

    x_entries = []
    if x_rc is None:
        problems.append("cargo-xdist timed out after %.0fs" % args.timeout)
    elif x_rc not in (0, 100):
        problems.append("cargo-xdist exited %s" % x_rc)
    if "panicked at" in x_out and "thread 'main'" in x_out:
        problems.append("cargo-xdist itself panicked (see its output)")
    if os.path.exists(junit):
        try:
            x_entries = parse_junit(junit)
        except ET.ParseError as e:
            problems.append("cannot parse JUnit %s: %s" % (junit, e))
    else:
        problems.append("cargo-xdist wrote no JUnit file")

    # Multisets keyed by (name, outcome); also where each name came from.
    c_count = collections.Counter((n, o) for _, n, o, _ in c_entries)
    x_count = collections.Counter((n, o) for _, n, o in x_entries)
    custom_names = {n.replace("-", "_") for _, n, _, custom in c_entries if custom}
    c_names = {n for _, n, _, _ in c_entries}
    # A custom-harness target appears under its target name on both sides,
    # maybe with `-` where the executable has `_`.
    folded = collections.Counter()
    for (n, o), k in x_count.items():
        if n not in c_names and n.replace("-", "_") in custom_names:
            n = n.replace("-", "_")
        folded[(n, o)] += k
    x_count = folded
    c_bins = collections.defaultdict(set)
    for b, n, _, _ in c_entries:
        c_bins[n].add(b)
    x_bins = collections.defaultdict(set)
    for b, n, _ in x_entries:
        x_bins[n].add(b)

    only_c = c_count - x_count
    only_x = x_count - c_count
    by_name_c = collections.defaultdict(collections.Counter)
    by_name_x = collections.defaultdict(collections.Counter)
    for (n, o), k in only_c.items():
        by_name_c[n][o] += k
    for (n, o), k in only_x.items():
        by_name_x[n][o] += k
    mismatched = sorted(set(by_name_c) & set(by_name_x))
    missing_x = sorted(set(by_name_c) - set(by_name_x))
    missing_c = sorted(set(by_name_x) - set(by_name_c))

    def summary(counter):
        tot = collections.Counter()
        for (_, o), k in counter.items():
            tot[o] += k
        return "%d tests: %s" % (sum(tot.values()),
                                 ", ".join("%d %s" % (tot[o], o) for o in OUTCOMES))

    def fmt(counter):
        return ", ".join("%s%s" % (o, "" if k == 1 else " x%d" % k)
                         for o, k in sorted(counter.items()))

    print("project:     %s" % project)
    print("cargo test:  %s  (exit %s, %.1fs)" % (summary(c_count), c_rc, c_secs))
    print("cargo xdist: %s  (exit %s, %.1fs)" % (summary(x_count), x_rc, x_secs))
    for n in notes:
        print("note: " + n)
    lim = args.max_report

    if mismatched:
        print("\nOUTCOME MISMATCHES (%d):" % len(mismatched))
        for n in mismatched[:lim]:
            print("  %s\n    cargo test:  %s   [%s]\n    cargo xdist: %s   [%s]" % (
                n, fmt(by_name_c[n]), "; ".join(sorted(c_bins[n])),
                fmt(by_name_x[n]), "; ".join(sorted(x_bins[n]))))
            for blk in xdist_blocks(x_out, n):
                print("    | " + blk.replace("\n", "\n    | "))
    if missing_x:
        print("\nONLY IN cargo test (%d):" % len(missing_x))
        for n in missing_x[:lim]:
            print("  %s: %s   [%s]" % (n, fmt(by_name_c[n]), "; ".join(sorted(c_bins[n]))))
    if missing_c:
        print("\nONLY IN cargo xdist (%d):" % len(missing_c))
        for n in missing_c[:lim]:
            print("  %s: %s   [%s]" % (n, fmt(by_name_x[n]), "; ".join(sorted(x_bins[n]))))
            for blk in xdist_blocks(x_out, n):
                print("    | " + blk.replace("\n", "\n    | "))
    if problems:
        print("\nPROBLEMS:")
        for p in problems:
            print("  " + p)
        tail = "\n".join(x_out.strip().splitlines()[-15:])
        print("  cargo-xdist output (last lines):\n    " + tail.replace("\n", "\n    "))

    same = not (mismatched or missing_x or missing_c or problems)
    print("\ncounts: %d matched, %d outcome mismatches, %d only in cargo test, "
          "%d only in cargo xdist" % (sum((c_count & x_count).values()), len(mismatched),
                                      len(missing_x), len(missing_c)))
    if same:
        print("RESULT: IDENTICAL")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    print("RESULT: DIFFERENT (logs in %s)" % tmp)
    return 1


if __name__ == "__main__":
    sys.exit(main())
