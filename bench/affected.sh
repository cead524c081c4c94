#!/usr/bin/env bash
# --affected, measured honestly (issue 22): a published crate's suite
# (default winnow 1.0.5), an impact map recorded once, then N mutations of
# single function bodies in src/ (an operator flipped, a constant changed
# inside a body), each checked against `cargo test`:
#
#   recall    the tests `cargo test` fails under the mutation that
#             `cargo xdist --affected` selected / all it fails (must be 100 %)
#   selected  the fraction of the suite --affected runs (median)
#   time      `cargo xdist --affected` against a full `cargo xdist` run,
#             both on the mutation's warm build
#
# plus one mutation the map cannot see (a `const` outside any function),
# which must widen to every test; and the recording's cost (a
# `--record-impact` run against a `--coverage` run, same build) and the
# map's size.
#
# Usage: bash bench/affected.sh [CRATE@VERSION]
# Environment:
#   MUTATIONS   how many (default 20); SEED (default 1)
#   JOBS        workers (default 2); ROUNDS timed rounds of the recording (3)
#   XDIST_BIN   a cargo-xdist binary; else `cargo build --release` here
#   KEEP_TMP=1  keep the temp dir
set -euo pipefail

MUTATIONS="${MUTATIONS:-20}"
SEED="${SEED:-1}"
JOBS="${JOBS:-2}"
ROUNDS="${ROUNDS:-3}"
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH=affected.sh
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"

require_uints MUTATIONS SEED JOBS ROUNDS
command -v cargo >/dev/null || die "cargo not found on PATH"
command -v python3 >/dev/null || die "python3 not found on PATH"
command -v git >/dev/null || die "git not found on PATH"
resolve_xdist_bin

SPEC="${1:-winnow@1.0.5}"
name="${SPEC%@*}" version="${SPEC#*@}"
[[ "$name" != "$SPEC" && -n "$version" ]] || die "the crate is given as NAME@VERSION (got '$SPEC')"

# The published source, through cargo (registry access only).
src="$(fetch "$name" "$version")"
[[ -n "$src" && -d "$src" ]] || die "no source for $SPEC"

work="$TMP/$name"
cp -r "$src" "$work"
rm -rf "$work/target"
grep -q '^\[workspace\]' "$work/Cargo.toml" || printf '\n[workspace]\n' >>"$work/Cargo.toml"
cd "$work"
printf 'target\n' >.gitignore
git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm "$SPEC"
export CARGO_TARGET_DIR="$work/target" CARGO_TERM_COLOR=never NO_COLOR=1

echo "building $SPEC (tests: plain and instrumented) ..." >&2
cargo test --tests --no-run >"$TMP/build.log" 2>&1 || { log_tail "$TMP/build.log"; die "cargo test --no-run failed"; }
"$XDIST_BIN" xdist --tests -n "$JOBS" --coverage --cov-report term >>"$TMP/build.log" 2>&1 ||
    { log_tail "$TMP/build.log"; die "cargo xdist --coverage failed"; }

now_ns() {
    local t
    t="$(date +%s.%N)"
    echo "${t/./}"
}

# The recording's cost: --coverage and --record-impact alternately.
declare -a COV=() REC=()
for ((r = 0; r < ROUNDS; r++)); do
    s="$(now_ns)"
    "$XDIST_BIN" xdist --tests -n "$JOBS" --coverage --cov-report term >"$TMP/cov-$r.log" 2>&1 || { log_tail "$TMP/cov-$r.log"; die "--coverage failed"; }
    COV+=($(($(now_ns) - s)))
    s="$(now_ns)"
    "$XDIST_BIN" xdist --tests -n "$JOBS" --record-impact >"$TMP/rec-$r.log" 2>&1 || { log_tail "$TMP/rec-$r.log"; die "--record-impact failed"; }
    REC+=($(($(now_ns) - s)))
done
map="$CARGO_TARGET_DIR/xdist/impact.json"
[[ -s "$map" ]] || die "no impact map at $map"
grep -h "Impact map:" "$TMP/rec-$((ROUNDS - 1)).log" >&2 || true

python3 - "$work" "$map" "$MUTATIONS" "$SEED" "$XDIST_BIN" "$JOBS" "$TMP" "${COV[*]}" "${REC[*]}" <<'PY'
import json, os, random, re, statistics, subprocess, sys, time

work, map_path, n_mut, seed, xdist, jobs, tmp, cov, rec = sys.argv[1:10]
n_mut, seed = int(n_mut), int(seed)
cov = sorted(int(x) for x in cov.split())
rec = sorted(int(x) for x in rec.split())
med = lambda xs: xs[len(xs) // 2]
m = json.load(open(map_path))
print(f"recording: --record-impact {med(rec)/1e9:.2f} s, --coverage {med(cov)/1e9:.2f} s "
      f"(median of {len(rec)}): {med(rec)/med(cov):.2f}x; map {os.path.getsize(map_path)/1024:.0f} KiB, "
      f"{len(m['tests'])} tests, {sum(len(v) for v in m['spans'].values())} functions")

def run(cmd, log):
    with open(log, "w") as f:
        t = time.monotonic()
        p = subprocess.run(cmd, cwd=work, stdout=f, stderr=subprocess.STDOUT)
        return p.returncode, time.monotonic() - t

def cargo_failures(log):
    """(binary id, test) that `cargo test --tests --no-fail-fast` failed."""
    out, binary = set(), None
    for line in open(log, errors="replace"):
        r = re.match(r"\s*Running (unittests )?(\S+)", line)
        if r:
            path = r.group(2)
            if path.startswith("src/"):
                binary = m_name
            else:
                kind, rest = path.split("/", 1)
                stem = rest.split("/")[0].removesuffix(".rs")
                binary = f"{m_name}::{'test' if kind == 'tests' else kind.rstrip('s')}/{stem}"
            continue
        r = re.match(r"test (\S+) \.\.\. FAILED", line)
        if r:
            out.add((binary, r.group(1)))
    return out

def junit_selected(path):
    """(suite, name) of every test the run ran, and of all it reported."""
    import xml.etree.ElementTree as ET
    ran, every = set(), set()
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for case in suite.iter("testcase"):
            key = (suite.get("name"), case.get("name"))
            every.add(key)
            sk = case.find("skipped")
            if sk is None or sk.get("message") != "unaffected":
                ran.add(key)
    return ran, every

m_name = json.load(open(os.path.join(work, "target", "xdist", "impact.json")))["tests"][0][0].split("::")[0]

# Candidate mutations: lines inside functions the tests ran, in src/.
random.seed(seed)
cands = []
for f, spans in sorted(m["spans"].items()):
    # The library's code, not its unit tests' files.
    if not f.startswith("src/") or f.endswith("tests.rs") or "/tests/" in f:
        continue
    lines = open(os.path.join(work, f)).read().split("\n")
    for s in spans:
        if not s["tests"] or s.get("compile_time"):
            continue
        for ln in range(s["start"] + 1, s["end"]):
            text = lines[ln - 1]
            if text.strip().startswith("//"):
                continue
            for pat, rep in ((r" == ", " != "), (r" < ", " <= "), (r" > ", " >= "), (r" \+ ", " - "), (r"\b1\b", "2"), (r"\b0\b", "1"), (r" && ", " || ")):
                if re.search(pat, text):
                    cands.append((f, ln, pat, rep))
                    break
cands = sorted(set(cands))  # nested spans (a closure in a function) share lines
random.shuffle(cands)

results, tried = [], 0
for f, ln, pat, rep in cands:
    if len(results) >= n_mut:
        break
    tried += 1
    path = os.path.join(work, f)
    orig = open(path).read()
    lines = orig.split("\n")
    lines[ln - 1] = re.sub(pat, rep, lines[ln - 1], count=1)
    open(path, "w").write("\n".join(lines))
    try:
        code, _ = run(["cargo", "test", "--tests", "--no-fail-fast"], f"{tmp}/mut-cargo.log")
        text = open(f"{tmp}/mut-cargo.log", errors="replace").read()
        if "error[E" in text or "could not compile" in text:
            continue  # the mutation does not compile: not a mutant
        failing = cargo_failures(f"{tmp}/mut-cargo.log")
        junit = f"{tmp}/mut.xml"
        _, t_aff = run([xdist, "xdist", "--tests", "-n", jobs, "--affected", "--junit", junit], f"{tmp}/mut-aff.log")
        selected, every = junit_selected(junit)
        _, t_full = run([xdist, "xdist", "--tests", "-n", jobs], f"{tmp}/mut-full.log")
        caught = {t for t in failing if t in selected}
        recall = 1.0 if not failing else len(caught) / len(failing)
        frac = len(selected) / max(1, len(every))
        results.append((f"{f}:{ln}", len(failing), recall, frac, t_aff, t_full))
        print(f"  {f}:{ln} {pat.strip()!s:>6} -> {rep.strip():<3} fails {len(failing):3}  selected {len(selected):3}/{len(every)}  "
              f"recall {recall:6.1%}  --affected {t_aff:.2f}s  full {t_full:.2f}s", flush=True)
    finally:
        open(path, "w").write(orig)

if not results:
    sys.exit("affected.sh: no mutation compiled")
recalls = [r[2] for r in results]
fracs = sorted(r[3] for r in results)
killed = [r for r in results if r[1] > 0]
print(f"\n{len(results)} mutations ({tried} tried; {len(killed)} make cargo test fail): "
      f"recall {min(recalls):.1%} at worst (must be 100%), median selected {statistics.median(fracs):.1%} of the suite, "
      f"--affected {statistics.median(r[4] for r in results):.2f}s against a full run {statistics.median(r[5] for r in results):.2f}s "
      f"(median: {statistics.median(r[4] for r in results)/statistics.median(r[5] for r in results):.2f}x)")

# A change the map cannot see: a const outside any function, made one more.
const = re.compile(r"^(pub(\(crate\))? )?const [A-Z_]+: (usize|u8|u16|u32|u64|i32|i64) = (.+);$")
for f in sorted(m["spans"]):
    if not f.startswith("src/"):
        continue
    path = os.path.join(work, f)
    orig = open(path).read()
    lines = orig.split("\n")
    spans = m["spans"][f]
    for i, text in enumerate(lines, 1):
        r = const.match(text)
        if not r or any(s["start"] <= i <= s["end"] for s in spans):
            continue
        lines[i - 1] = text.replace(f"= {r.group(4)};", f"= ({r.group(4)}) + 1;")
        open(path, "w").write("\n".join(lines))
        try:
            run(["cargo", "test", "--tests", "--no-fail-fast"], f"{tmp}/const-cargo.log")
            failing = cargo_failures(f"{tmp}/const-cargo.log")
            junit = f"{tmp}/const.xml"
            run([xdist, "xdist", "--tests", "-n", jobs, "--affected", "--junit", junit], f"{tmp}/const.log")
            selected, every = junit_selected(junit)
            why = [l.strip() for l in open(f"{tmp}/const.log") if l.startswith("--affected")]
            caught = len([t for t in failing if t in selected])
            print(f"const outside any function ({f}:{i}, made one more): cargo test fails {len(failing)}, "
                  f"--affected selected {len(selected)}/{len(every)} ({caught}/{len(failing)} of the failing): "
                  f"{why[0] if why else '?'}")
        finally:
            open(path, "w").write(orig)
        sys.exit(0 if min(recalls) == 1.0 and len(selected) == len(every) else 1)
print("no const outside a function found to mutate")
sys.exit(0 if min(recalls) == 1.0 else 1)
PY
