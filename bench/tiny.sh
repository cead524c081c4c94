#!/usr/bin/env bash
# Tiny-test overhead benchmark: cargo xdist -n 2 vs cargo test vs cargo nextest -j 2.
#
# Generates a package of many trivial tests (bench/gen_suite.py) in a temp dir,
# builds it once per tool (build time is excluded), then times each tool
# end to end for ROUNDS rounds, rotating the order of the tools every round,
# and prints median/min wall time and the target ratios.
#
# Environment:
#   ROUNDS          timed rounds (default 5)
#   WARMUP          untimed warm-up runs of each tool before timing (default 1)
#   FILES           test files in the suite (default 20)
#   TESTS_PER_FILE  tests per file (default 125)
#   UNIT=1          put tests in lib unit-test modules instead of tests/*.rs
#   JOBS            workers for xdist (-n) and nextest (-j) (default 2)
#   XDIST_BIN       path to a cargo-xdist binary; if unset it is built with
#                   `cargo build --release` from this repository
#   PYTHON          python 3.11+ interpreter (default python3)
#   BUSY            shell loops spinning while the rounds are timed
#                   (default 0): a busy machine, as a shared CI runner is
#   KEEP_TMP=1      keep the temp dir (suite + logs) instead of removing it
#   STRICT=1        exit 2 if a target ratio is missed
#
# Exit status: 0 ok; 1 a tool failed or ran the wrong number of tests;
# 2 (only with STRICT=1) a target ratio was missed.
set -euo pipefail

ROUNDS="${ROUNDS:-5}"
WARMUP="${WARMUP:-1}"
FILES="${FILES:-20}"
TESTS_PER_FILE="${TESTS_PER_FILE:-125}"
UNIT="${UNIT:-0}"
JOBS="${JOBS:-2}"
PYTHON="${PYTHON:-python3}"
EXPECTED=$((FILES * TESTS_PER_FILE))

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH=tiny.sh
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"

require_uints ROUNDS WARMUP FILES TESTS_PER_FILE JOBS
((ROUNDS >= 1)) || die "ROUNDS must be >= 1"

# ---------------------------------------------------------------- tools ------

command -v cargo >/dev/null || die "cargo not found on PATH"
cargo nextest --version >/dev/null 2>&1 ||
    die "cargo-nextest not found (expected /usr/local/bin/cargo-nextest on PATH)"

resolve_xdist_bin
cargo_subcommand_env

# Tool ids, their table labels and their commands (run inside the suite dir).
TOOLS=(cargotest xdist nextest)

label() {
    case "$1" in
    cargotest) echo "cargo test" ;;
    xdist) echo "cargo xdist -n$JOBS" ;;
    nextest) echo "nextest -j$JOBS" ;;
    esac
}

# run_cmd TOOL [--no-run]
run_cmd() {
    local tool="$1"
    shift
    case "$tool" in
    cargotest) cargo test "$@" ;;
    xdist)
        if [[ "${1:-}" == --no-run ]]; then
            "$XDIST_BIN" xdist --no-run
        else
            "$XDIST_BIN" xdist -n "$JOBS"
        fi
        ;;
    nextest)
        if [[ "${1:-}" == --no-run ]]; then
            cargo nextest run --no-run
        else
            cargo nextest run -j "$JOBS" --no-fail-fast
        fi
        ;;
    esac
}

# count_tests TOOL LOG -> prints the number of passed tests ("" if not found);
# for xdist also prints "FAILED=<m>" on a second line if m != 0.
count_tests() {
    local tool="$1" log="$2" line
    case "$tool" in
    cargotest)
        # One "test result: ok. N passed; ..." line per test binary.
        { grep -oE '^test result: ok\. [0-9]+ passed' "$log" || true; } |
            awk '{ n += $4; seen = 1 } END { if (seen) print n }'
        ;;
    xdist)
        # Last line: "Summary: N passed, M failed, K skipped".
        line="$({ grep -E '^Summary: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" || true; } | tail -n 1)"
        if [[ -n "$line" ]]; then
            awk '{ print $2; if ($4 != 0) print "FAILED=" $4 }' <<<"$line"
        fi
        ;;
    nextest)
        # "Summary [   1.234s] N tests run: N passed, K skipped"
        { grep -oE '[0-9]+ tests? run: [0-9]+ passed' "$log" || true; } |
            tail -n 1 | awk '{ print $4 }'
        ;;
    esac
}

COUNT_ERRORS=0

# check_count TOOL LOG WHAT
check_count() {
    local tool="$1" log="$2" what="$3" out n
    local failed=""
    out="$(count_tests "$tool" "$log")"
    n="$(head -n 1 <<<"$out")"
    if [[ "$out" == *FAILED=* ]]; then
        failed=", ${out##*FAILED=} failed"
    fi
    if [[ -z "$n" ]]; then
        echo "ERROR: $(label "$tool") ($what): could not find a test count in its output" >&2
        log_tail "$log"
        COUNT_ERRORS=$((COUNT_ERRORS + 1))
    elif [[ "$n" != "$EXPECTED" || -n "$failed" ]]; then
        echo "ERROR: $(label "$tool") ($what): reported $n passed$failed, expected $EXPECTED passed" >&2
        COUNT_ERRORS=$((COUNT_ERRORS + 1))
    fi
}

# Nanoseconds since the epoch (date +%s.%N without the dot -> integer math).
now_ns() {
    local t
    t="$(date +%s.%N)"
    echo "${t/./}"
}

# timed_run TOOL LOG -> sets LAST_NS; exits 1 (after printing the log tail) if
# the tool fails.
LAST_NS=0
timed_run() {
    local tool="$1" log="$2" start end rc=0
    start="$(now_ns)"
    run_cmd "$tool" >"$log" 2>&1 || rc=$?
    end="$(now_ns)"
    LAST_NS=$((end - start))
    if ((rc != 0)); then
        log_tail "$log"
        die "$(label "$tool") exited with status $rc (log: $log; KEEP_TMP=1 keeps it)"
    fi
}

# ---------------------------------------------------------------- suite ------

SUITE="$TMP/suite"
gen_args=("$SUITE" --files "$FILES" --tests-per-file "$TESTS_PER_FILE")
if [[ "$UNIT" == 1 ]]; then gen_args+=(--unit); fi
"$PYTHON" "$BENCH_DIR/gen_suite.py" "${gen_args[@]}"

# Keep the suite's build products inside the temp dir and logs free of colour.
export CARGO_TARGET_DIR="$SUITE/target"
export CARGO_TERM_COLOR=never
export NO_COLOR=1
cd "$SUITE"

# ---------------------------------------------------------------- build ------

for tool in cargotest nextest xdist; do
    echo "building suite for $(label "$tool") (--no-run) ..." >&2
    log="$TMP/build-$tool.log"
    if ! run_cmd "$tool" --no-run >"$log" 2>&1; then
        log_tail "$log"
        die "$(label "$tool") --no-run failed"
    fi
done

for ((w = 1; w <= WARMUP; w++)); do
    for tool in "${TOOLS[@]}"; do
        echo "warm-up $w: $(label "$tool") ..." >&2
        log="$TMP/warmup$w-$tool.log"
        timed_run "$tool" "$log"
        check_count "$tool" "$log" "warm-up $w"
    done
done

# ---------------------------------------------------------------- timing -----

declare -A TIMES=()
ntools=${#TOOLS[@]}
busy_start
for ((r = 0; r < ROUNDS; r++)); do
    order=()
    for ((i = 0; i < ntools; i++)); do
        order+=("${TOOLS[$(((r + i) % ntools))]}")
    done
    line="round $((r + 1))/$ROUNDS:"
    for tool in "${order[@]}"; do
        log="$TMP/round$((r + 1))-$tool.log"
        timed_run "$tool" "$log"
        check_count "$tool" "$log" "round $((r + 1))"
        TIMES[$tool]="${TIMES[$tool]:-} $LAST_NS"
        line+="  $(label "$tool") $(awk -v n="$LAST_NS" 'BEGIN { printf "%.3fs", n / 1e9 }')"
    done
    echo "$line" >&2
done
busy_stop

# ---------------------------------------------------------------- report -----

# stats NS... -> "median_ns min_ns"
stats() {
    printf '%s\n' "$@" | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR % 2) med = v[(NR + 1) / 2]
            else med = (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.0f %.0f\n", med, v[1]
        }'
}

declare -A MED=() MIN=()
for tool in "${TOOLS[@]}"; do
    read -r -a samples <<<"${TIMES[$tool]}"
    read -r "MED[$tool]" "MIN[$tool]" <<<"$(stats "${samples[@]}")"
done

echo
echo "tiny-test benchmark: $EXPECTED tests ($FILES files x $TESTS_PER_FILE," \
    "$([[ "$UNIT" == 1 ]] && echo unit || echo integration)), $ROUNDS rounds," \
    "$(nproc 2>/dev/null || echo '?') CPUs, $BUSY busy loop(s)"
printf '%-16s %8s %8s\n' tool median min
for tool in "${TOOLS[@]}"; do
    printf '%-16s %8s %8s\n' "$(label "$tool")" \
        "$(awk -v n="${MED[$tool]}" 'BEGIN { printf "%.3fs", n / 1e9 }')" \
        "$(awk -v n="${MIN[$tool]}" 'BEGIN { printf "%.3fs", n / 1e9 }')"
done

# ratio NUM DEN OP TARGET -> "1.29 (target <= 1.5) ok|MISSED"
ratio() {
    awk -v a="$1" -v b="$2" -v op="$3" -v t="$4" 'BEGIN {
        r = a / b
        ok = (op == "<=") ? (r <= t) : (r >= t)
        printf "%.2f (target %s %s) %s\n", r, op, t, ok ? "ok" : "MISSED"
    }'
}
r1="$(ratio "${MED[xdist]}" "${MED[cargotest]}" '<=' 1.5)"
r2="$(ratio "${MED[nextest]}" "${MED[xdist]}" '>=' 10)"
echo "ratio xdist/cargo-test = $r1"
echo "ratio nextest/xdist    = $r2"

if ((COUNT_ERRORS > 0)); then
    die "$COUNT_ERRORS run(s) did not report $EXPECTED passed tests (see ERROR lines above)"
fi
if [[ "${STRICT:-0}" == 1 ]] && [[ "$r1 $r2" == *MISSED* ]]; then
    echo "tiny.sh: a target ratio was missed" >&2
    exit 2
fi
