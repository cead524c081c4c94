#!/usr/bin/env bash
# Scheduling benchmark: a suite of sleeping tests with known durations,
# cargo xdist -n $JOBS under load, loadfile, worksteal and the default mode,
# against the lower bound and `cargo nextest run -j $JOBS`, on runs with
# durations recorded; then the expected and measured times of the
# `--partition time:K/$JOBS` shards.
#
# The suite: 59 tests sleeping 11.45 s in all (4 x 0.6 s, 6 x 0.4 s,
# 10 x 0.25 s, 14 x 0.15 s, 25 x 0.082 s), shuffled (seed $SEED) over
# $FILES source files of one library's unit tests. The lower bound of a run
# on N workers is max(total / N, longest test).
#
# Environment:
#   JOBS        workers (-n / -j) and shards (default 4)
#   ROUNDS      timed rounds, tools in rotating order (default 3)
#   FILES       source files of the suite (default 16)
#   SEED        shuffle seed (default 1)
#   XDIST_BIN   a cargo-xdist binary; else `cargo build --release` here
#   KEEP_TMP=1  keep the temp dir (suite, logs)
#   STRICT=1    exit 2 if a target is missed
#
# Targets: load <= 1.10 x the lower bound and <= 0.90 x nextest; the time:
# shards' measured times within 15% of each other (slowest / fastest).
# Exit status: 0 ok; 1 a tool failed or ran the wrong tests; 2 (STRICT=1)
# a target was missed.
set -euo pipefail

JOBS="${JOBS:-4}"
ROUNDS="${ROUNDS:-3}"
FILES="${FILES:-16}"
SEED="${SEED:-1}"
PYTHON="${PYTHON:-python3}"
EXPECTED=59

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH=sched.sh
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"

require_uints JOBS ROUNDS FILES SEED
((JOBS >= 1 && ROUNDS >= 1 && FILES >= 1)) || die "JOBS, ROUNDS and FILES must be >= 1"

command -v cargo >/dev/null || die "cargo not found on PATH"
cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest not found on PATH"
resolve_xdist_bin

# ---------------------------------------------------------------- suite ------

SUITE="$TMP/suite"
read -r TOTAL LONGEST < <("$PYTHON" - "$SUITE" "$FILES" "$SEED" <<'EOF'
import os, random, sys
suite, files, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ms = [600] * 4 + [400] * 6 + [250] * 10 + [150] * 14 + [82] * 25
random.Random(seed).shuffle(ms)
os.makedirs(os.path.join(suite, "src"))
with open(os.path.join(suite, "Cargo.toml"), "w") as f:
    f.write('[package]\nname = "sleepy"\nversion = "0.1.0"\nedition = "2021"\n\n'
            '[lib]\ndoctest = false\n\n[workspace]\n')
mods = []
for i in range(files):
    mod = "f%02d" % (i + 1)
    mods.append(mod)
    with open(os.path.join(suite, "src", mod + ".rs"), "w") as f:
        f.write("#[cfg(test)]\nmod tests {\n    use std::time::Duration;\n")
        for j in range(i, len(ms), files):
            f.write("\n    #[test]\n    fn t%02d_%dms() {\n"
                    "        std::thread::sleep(Duration::from_millis(%d));\n    }\n"
                    % (j, ms[j], ms[j]))
        f.write("}\n")
with open(os.path.join(suite, "src", "lib.rs"), "w") as f:
    f.write("".join("mod %s;\n" % m for m in mods))
print("%.3f %.3f" % (sum(ms) / 1000, max(ms) / 1000))
EOF
)
[[ -n "${TOTAL:-}" ]] || die "generating the suite failed"
LB="$(awk -v t="$TOTAL" -v l="$LONGEST" -v n="$JOBS" 'BEGIN { b = t / n; if (l > b) b = l; printf "%.4f", b }')"

export CARGO_TARGET_DIR="$SUITE/target"
export CARGO_TERM_COLOR=never NO_COLOR=1
cd "$SUITE"

# ---------------------------------------------------------------- tools ------

TOOLS=(load loadfile worksteal default nextest)

label() {
    case "$1" in
    nextest) echo "nextest -j$JOBS" ;;
    default) echo "xdist -n$JOBS (default)" ;;
    *) echo "xdist -n$JOBS --dist $1" ;;
    esac
}

run_tool() {
    case "$1" in
    nextest) cargo nextest run -j "$JOBS" --no-fail-fast ;;
    default) "$XDIST_BIN" xdist -n "$JOBS" --no-progress ;;
    *) "$XDIST_BIN" xdist -n "$JOBS" --no-progress --dist "$1" ;;
    esac
}

# passed TOOL LOG -> the number of passed tests it reported ("" if none)
passed() {
    if [[ "$1" == nextest ]]; then
        { grep -oE '[0-9]+ tests? run: [0-9]+ passed' "$2" || true; } | tail -n 1 | awk '{ print $4 }'
    else
        { grep -E '^Summary: [0-9]+ passed, 0 failed' "$2" || true; } | tail -n 1 | awk '{ print $2 }'
    fi
}

now_ns() {
    local t
    t="$(date +%s.%N)"
    echo "${t/./}"
}

# timed TOOL LOG WANT -> LAST_NS; dies if the tool fails or miscounts
LAST_NS=0
timed() {
    local start end rc=0 n
    start="$(now_ns)"
    run_tool "$1" >"$2" 2>&1 || rc=$?
    end="$(now_ns)"
    LAST_NS=$((end - start))
    n="$(passed "$1" "$2")"
    if ((rc != 0)) || [[ "$n" != "$3" ]]; then
        log_tail "$2"
        die "$(label "$1") exited $rc with ${n:-no} passed tests, expected $3 (KEEP_TMP=1 keeps the log)"
    fi
}

secs() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }

echo "building the suite ..." >&2
cargo test --no-run >"$TMP/build-test.log" 2>&1 || { log_tail "$TMP/build-test.log"; die "cargo test --no-run failed"; }
cargo nextest run --no-run >"$TMP/build-nextest.log" 2>&1 || { log_tail "$TMP/build-nextest.log"; die "nextest --no-run failed"; }
"$XDIST_BIN" xdist --no-run >"$TMP/build-xdist-suite.log" 2>&1 || { log_tail "$TMP/build-xdist-suite.log"; die "xdist --no-run failed"; }

# First runs: nothing recorded yet (shown for comparison); they record.
echo "first runs (nothing recorded) ..." >&2
declare -A FIRST=()
for tool in load loadfile worksteal default; do
    timed "$tool" "$TMP/first-$tool.log" "$EXPECTED"
    FIRST[$tool]=$LAST_NS
done
timed nextest "$TMP/warmup-nextest.log" "$EXPECTED"

# --------------------------------------------------------------- rounds ------

declare -A TIMES=()
n=${#TOOLS[@]}
for ((r = 0; r < ROUNDS; r++)); do
    line="round $((r + 1))/$ROUNDS:"
    for ((i = 0; i < n; i++)); do
        tool="${TOOLS[$(((r + i) % n))]}"
        timed "$tool" "$TMP/round$r-$tool.log" "$EXPECTED"
        TIMES[$tool]="${TIMES[$tool]:-} $LAST_NS"
        line+="  $tool $(secs "$LAST_NS")"
    done
    echo "$line" >&2
done

median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A MED=()
for tool in "${TOOLS[@]}"; do
    read -r -a samples <<<"${TIMES[$tool]}"
    MED[$tool]="$(median "${samples[@]}")"
done

# ratio A B OP TARGET -> "0.93 (target <= 1.10) ok|MISSED"; OP "" for none
ratio() {
    awk -v a="$1" -v b="$2" -v op="$3" -v t="$4" 'BEGIN {
        r = a / b
        if (op == "") { printf "%.2f\n", r; exit }
        printf "%.2f (target %s %s) %s\n", r, op, t, (r <= t) ? "ok" : "MISSED"
    }'
}

MISSED=0
LB_NS="$(awk -v b="$LB" 'BEGIN { printf "%.0f", b * 1e9 }')"
echo
echo "sleeping suite: $EXPECTED tests, ${TOTAL}s of sleep, longest ${LONGEST}s, $FILES files;" \
    "-n $JOBS; lower bound max(total/$JOBS, longest) = ${LB}s; medians of $ROUNDS rounds" \
    "with durations recorded; $(nproc 2>/dev/null || echo '?') CPUs"
printf '%-28s %9s %9s %22s %22s\n' tool "1st run" median "/ lower bound" "/ nextest"
for tool in "${TOOLS[@]}"; do
    first="-"
    [[ -n "${FIRST[$tool]:-}" ]] && first="$(secs "${FIRST[$tool]}")s"
    if [[ "$tool" == load ]]; then
        vs_lb="$(ratio "${MED[$tool]}" "$LB_NS" '<=' 1.10)"
        vs_nx="$(ratio "${MED[$tool]}" "${MED[nextest]}" '<=' 0.90)"
    else
        vs_lb="$(ratio "${MED[$tool]}" "$LB_NS" '' '')"
        vs_nx="$(ratio "${MED[$tool]}" "${MED[nextest]}" '' '')"
    fi
    [[ "$vs_lb $vs_nx" == *MISSED* ]] && MISSED=1
    printf '%-28s %9s %9s %22s %22s\n' "$(label "$tool")" "$first" "$(secs "${MED[$tool]}")s" "$vs_lb" "$vs_nx"
done

# --------------------------------------------------------------- shards ------

echo
echo "--partition time:K/$JOBS (default dist; each shard run alone with -n 1, as one CI job of one worker):"
printf '%-12s %10s %10s\n' shard expected measured
min_m=""
max_m=""
min_e=""
max_e=""
shard_passed=0
for ((k = 1; k <= JOBS; k++)); do
    spec="time:$k/$JOBS"
    "$XDIST_BIN" xdist list --partition "$spec" >"$TMP/list-$k.log" 2>&1 ||
        { log_tail "$TMP/list-$k.log"; die "list --partition $spec failed"; }
    summary="$(grep -E '^shard [0-9]+/[0-9]+ \(' "$TMP/list-$k.log" || true)"
    [[ "$summary" == *"(time)"* ]] || { log_tail "$TMP/list-$k.log"; die "$spec was not balanced by time"; }
    expected="$(sed -E 's/.*expected ([0-9.]+)s;.*/\1/' <<<"$summary")"
    start="$(now_ns)"
    "$XDIST_BIN" xdist -n 1 --no-progress --partition "$spec" >"$TMP/shard-$k.log" 2>&1 ||
        { log_tail "$TMP/shard-$k.log"; die "shard $spec failed"; }
    end="$(now_ns)"
    measured="$(secs $((end - start)))"
    n_k="$(passed shard "$TMP/shard-$k.log")"
    shard_passed=$((shard_passed + ${n_k:-0}))
    printf '%-12s %9ss %9ss\n' "$spec" "$expected" "$measured"
    min_m="$(awk -v a="${min_m:-$measured}" -v b="$measured" 'BEGIN { print (b < a) ? b : a }')"
    max_m="$(awk -v a="${max_m:-$measured}" -v b="$measured" 'BEGIN { print (b > a) ? b : a }')"
    min_e="$(awk -v a="${min_e:-$expected}" -v b="$expected" 'BEGIN { print (b < a) ? b : a }')"
    max_e="$(awk -v a="${max_e:-$expected}" -v b="$expected" 'BEGIN { print (b > a) ? b : a }')"
done
((shard_passed == EXPECTED)) || die "the shards passed $shard_passed tests together, expected $EXPECTED"
echo "expected slowest / fastest = $(ratio "$max_e" "$min_e" '' '')"
spread="$(ratio "$max_m" "$min_m" '<=' 1.15)"
echo "measured slowest / fastest = $spread"
[[ "$spread" == *MISSED* ]] && MISSED=1

if [[ "${STRICT:-0}" == 1 ]] && ((MISSED)); then
    echo "sched.sh: a target was missed" >&2
    exit 2
fi
