#!/usr/bin/env bash
# Coverage benchmark, one run, warm builds, side by side:
#   cargo xdist -n JOBS --coverage
#   cargo llvm-cov nextest --no-clean -j JOBS   (a process per test)
#   cargo llvm-cov --no-clean                   (cargo test: a process per binary)
# on a generated suite of many small tests in several files that call into a
# library of several modules. Every tool prints its per-file table (term).
# Old profiles are removed before every peer run (with --no-clean they
# accumulate); build time is excluded (one untimed warm-up run each).
#
# Environment:
#   ROUNDS          timed rounds (default 3); the order rotates every round
#   FILES           test files (default 10)
#   TESTS_PER_FILE  tests per file (default 50)
#   JOBS            workers for xdist and nextest (default 2)
#   CRATE           NAME@VERSION: a published crate's own tests instead of
#                   the generated suite (e.g. winnow@1.0.5; fetched through
#                   cargo, registry access only); doctests left out on every
#                   side (cargo llvm-cov --tests)
#   XDIST_BIN       a cargo-xdist binary (default: cargo build --release here)
#   BUSY            shell loops spinning while the rounds are timed
#                   (default 0): a busy machine, as a shared CI runner is
#   KEEP_TMP=1      keep the temp dir
#
# Prints the median wall time of each tool and the ratios the coverage issue
# sets as targets: xdist / (llvm-cov nextest) <= 0.5, xdist / (llvm-cov) <= 1.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
FILES="${FILES:-10}"
TESTS_PER_FILE="${TESTS_PER_FILE:-50}"
JOBS="${JOBS:-2}"
EXPECTED=$((FILES * TESTS_PER_FILE))
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH=cov.sh
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"
require_uints ROUNDS FILES TESTS_PER_FILE JOBS

command -v cargo >/dev/null || die "cargo not found"
cargo llvm-cov --version >/dev/null 2>&1 ||
    die "cargo-llvm-cov missing: cargo install cargo-llvm-cov --locked"
cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest missing"
major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
export LLVM_COV="${LLVM_COV:-/usr/lib/llvm-$major/bin/llvm-cov}"
export LLVM_PROFDATA="${LLVM_PROFDATA:-/usr/lib/llvm-$major/bin/llvm-profdata}"
[[ -x "$LLVM_COV" && -x "$LLVM_PROFDATA" ]] ||
    die "llvm-cov/llvm-profdata of LLVM $major missing: apt-get install llvm-$major (or set LLVM_COV, LLVM_PROFDATA)"

resolve_xdist_bin
cargo_subcommand_env

# ------------------------------------------------------------------ suite ----
SUITE="$TMP/suite"
if [[ -n "${CRATE:-}" ]]; then
    name="${CRATE%@*}" version="${CRATE#*@}"
    [[ "$name" != "$CRATE" && -n "$version" ]] || die "CRATE is NAME@VERSION (got '$CRATE')"
    src="$(fetch "$name" "$version")"
    [[ -n "$src" && -d "$src" ]] || die "no source for $CRATE"
    cp -r "$src" "$SUITE"
    rm -rf "$SUITE/target"
    PLAIN_ARGS=(--tests)
    WHAT="$CRATE's own tests"
else
    PLAIN_ARGS=()
    WHAT="$EXPECTED tests in $FILES files"
# (unindented: the here-documents end at column 0)
mkdir -p "$SUITE/src" "$SUITE/tests"
cat >"$SUITE/Cargo.toml" <<'EOF'
[package]
name = "covbench"
version = "0.0.0"
edition = "2021"
publish = false
[lib]
doctest = false
[workspace]
EOF
{
    for f in $(seq 0 $((FILES - 1))); do echo "pub mod m$f;"; done
} >"$SUITE/src/lib.rs"
for f in $(seq 0 $((FILES - 1))); do
    {
        echo "/// Module $f: a few branches per function, one function per test."
        for t in $(seq 0 $((TESTS_PER_FILE - 1))); do
            cat <<EOF
pub fn f$t(x: u64) -> u64 {
    if x % 3 == 0 {
        x / 3 + $t
    } else if x % 3 == 1 {
        x * 2 + $f
    } else {
        x + 1
    }
}
EOF
        done
    } >"$SUITE/src/m$f.rs"
    {
        echo "use covbench::m$f::*;"
        for t in $(seq 0 $((TESTS_PER_FILE - 1))); do
            echo "#[test] fn t$t() { assert!(f$t($t) > 0 || $t == 0); }"
        done
    } >"$SUITE/tests/f$f.rs"
done
fi
cd "$SUITE"
export CARGO_TERM_COLOR=never NO_COLOR=1
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS LLVM_PROFILE_FILE

TOOLS=(xdist nextest plain)
label() {
    case "$1" in
    xdist) echo "cargo xdist -n$JOBS --coverage" ;;
    nextest) echo "cargo llvm-cov nextest --no-clean -j$JOBS" ;;
    plain) echo "cargo llvm-cov --no-clean ${PLAIN_ARGS[*]}" ;;
    esac
}
run_tool() {
    case "$1" in
    # Through cargo's dispatch, as `cargo llvm-cov` is.
    xdist) xdist_via_cargo -n "$JOBS" --coverage ;;
    nextest) cargo llvm-cov nextest --no-clean -j "$JOBS" ;;
    plain) cargo llvm-cov --no-clean "${PLAIN_ARGS[@]}" ;;
    esac
}
# Old profiles go before every peer run (untimed).
prepare() {
    case "$1" in
    nextest | plain) cargo llvm-cov clean --profraw-only >/dev/null 2>&1 ;;
    xdist) : ;;
    esac
}
now_ns() { local t; t="$(date +%s.%N)"; echo "${t/./}"; }

declare -A TIMES
for tool in "${TOOLS[@]}"; do
    echo "warm-up (build): $(label "$tool")" >&2
    prepare "$tool"
    run_tool "$tool" >"$TMP/warm-$tool.log" 2>&1 || { tail -n 30 "$TMP/warm-$tool.log" >&2; die "$(label "$tool") failed"; }
done
if [[ -z "${CRATE:-}" ]]; then
    grep -q "^Summary: $EXPECTED passed, 0 failed" "$TMP/warm-xdist.log" || die "xdist did not pass $EXPECTED tests"
else
    grep -qE "^Summary: [0-9]+ passed, 0 failed" "$TMP/warm-xdist.log" || die "xdist did not pass $CRATE's tests"
fi

busy_start
for round in $(seq 1 "$ROUNDS"); do
    order=("${TOOLS[@]:$(((round - 1) % 3))}" "${TOOLS[@]:0:$(((round - 1) % 3))}")
    for tool in "${order[@]}"; do
        prepare "$tool"
        start=$(now_ns)
        run_tool "$tool" >"$TMP/run-$tool.log" 2>&1 || die "$(label "$tool") failed in round $round"
        end=$(now_ns)
        TIMES[$tool]+="$(((end - start) / 1000000)) "
    done
done
busy_stop

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "coverage of $WHAT, $ROUNDS rounds, $BUSY busy loop(s), median wall time:"
for tool in "${TOOLS[@]}"; do
    m=$(median "${TIMES[$tool]}")
    declare "M_$tool=$m"
    printf '  %-45s %7.3f s   (rounds: %s)\n' "$(label "$tool")" "$(awk "BEGIN{print $m/1000}")" "${TIMES[$tool]}"
done
echo
awk -v x="$M_xdist" -v n="$M_nextest" -v p="$M_plain" 'BEGIN {
    printf "  xdist / llvm-cov nextest = %.2f  (target <= 0.50)\n", x / n
    printf "  xdist / llvm-cov         = %.2f  (target <= 1.00)\n", x / p
}'
echo
echo "TOTAL lines (each tool's table):"
for tool in "${TOOLS[@]}"; do
    printf '  %-45s %s\n' "$(label "$tool")" "$(grep -E '^TOTAL' "$TMP/run-$tool.log" | tail -n 1 | tr -s ' ')"
done
echo
echo "cargo xdist's phases (its last run's Timing: line):"
grep -E '^Timing:' "$TMP/run-xdist.log" | tail -n 1 | sed 's/^/  /'
