#!/usr/bin/env bash
# Real suites: published crates' own tests under cargo xdist's default mode
# (-n $JOBS, durations recorded by a warm-up run), `cargo test` and
# `cargo nextest run -j $JOBS`, in one run, rounds in rotating order.
#
# Usage: bash bench/real.sh [CRATE@VERSION ...]
#   default: itertools@0.14.0 (CPU-heavy, one dominant file: tests/quick.rs)
#            serde_json@1.0.154 (small: start-up is the cost)
#
# Each crate's published source is fetched with cargo (a throwaway package
# that depends on it; registry access only), copied into the temp dir and
# built once per tool, untimed. Doctests are left out on every side
# (`cargo test --tests`: nextest and cargo xdist without --doc run none).
# Each side runs the same tests and must pass them all.
#
# Environment:
#   JOBS        workers (-n / -j; default 2)
#   ROUNDS      timed rounds (default 5)
#   XDIST_BIN   a cargo-xdist binary; else `cargo build --release` here
#   XDIST_BASE_BIN  an earlier cargo-xdist, timed in the same rounds
#               (a before/after table)
#   BUSY        shell loops spinning while the rounds are timed (default
#               0): a busy machine, as a shared CI runner is
#   KEEP_TMP=1  keep the temp dir
#
# Targets (issue 13): default mode <= 0.85 x nextest on the CPU-heavy suite,
# <= 1.2 x cargo test on small suites. Printed per crate, with the recorded
# test times added up / $JOBS: about what a perfectly balanced -n $JOBS run
# of tests taking their recorded (moving average) times would take, start-up
# not counted; a run can come in a little under it.
set -euo pipefail

JOBS="${JOBS:-2}"
ROUNDS="${ROUNDS:-5}"
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH=real.sh
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"

require_uints JOBS ROUNDS
((JOBS >= 1 && ROUNDS >= 1)) || die "JOBS and ROUNDS must be >= 1"
command -v cargo >/dev/null || die "cargo not found on PATH"
cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest not found on PATH"
command -v jq >/dev/null || command -v python3 >/dev/null || die "python3 not found on PATH"
resolve_xdist_bin
cargo_subcommand_env

CRATES=("$@")
((${#CRATES[@]})) || CRATES=(itertools@0.14.0 serde_json@1.0.154)

now_ns() {
    local t
    t="$(date +%s.%N)"
    echo "${t/./}"
}
secs() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

run_tool() {
    case "$1" in
    xdist) "$XDIST_BIN" xdist -n "$JOBS" --no-progress ;;
    via-cargo) xdist_via_cargo -n "$JOBS" --no-progress ;;
    # A target dir of its own: its caches (listings, metadata) may be kept
    # under other keys, and sharing them would make each side list again.
    base) CARGO_TARGET_DIR="$work/target-base" "$XDIST_BASE_BIN" xdist -n "$JOBS" --no-progress ;;
    cargo) cargo test --tests --no-fail-fast ;;
    nextest) cargo nextest run -j "$JOBS" --no-fail-fast ;;
    esac
}

# The tests a tool passed and failed, from its log: "passed failed".
counts() {
    case "$1" in
    xdist | via-cargo | base) sed -nE 's/^Summary: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$2" | tail -n 1 ;;
    cargo) awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$2" ;;
    nextest) grep -oE '[0-9]+ tests? run: [0-9]+ passed' "$2" | tail -n 1 | awk '{ print $4, 0 }' ;;
    esac
}

TOOLS=(xdist via-cargo cargo nextest)
# XDIST_BASE_BIN: another cargo-xdist (an earlier commit's), timed in the
# same rounds as this one, for a before/after figure; it builds into a
# target dir of its own.
if [[ -n "${XDIST_BASE_BIN:-}" ]]; then
    [[ -x "$XDIST_BASE_BIN" ]] || die "XDIST_BASE_BIN=$XDIST_BASE_BIN is not an executable file"
    TOOLS+=(base)
fi
SUMMARY=()
BASE_SUMMARY=()
for spec in "${CRATES[@]}"; do
    name="${spec%@*}" version="${spec#*@}"
    [[ "$name" != "$spec" && -n "$version" ]] || die "crates are given as NAME@VERSION (got '$spec')"
    echo "fetching $spec ..." >&2
    src="$(fetch "$name" "$version")"
    [[ -n "$src" && -d "$src" ]] || die "no source for $spec"
    work="$TMP/$name"
    cp -r "$src" "$work"
    rm -rf "$work/target"
    (
        cd "$work"
        export CARGO_TARGET_DIR="$work/target" CARGO_TERM_COLOR=never NO_COLOR=1
        echo "building $spec (tests, three tools) ..." >&2
        cargo test --tests --no-run >"$TMP/$name-build.log" 2>&1 || { log_tail "$TMP/$name-build.log"; die "$spec: cargo test --no-run failed"; }
        cargo nextest run --no-run >>"$TMP/$name-build.log" 2>&1 || { log_tail "$TMP/$name-build.log"; die "$spec: nextest --no-run failed"; }
        "$XDIST_BIN" xdist --no-run >>"$TMP/$name-build.log" 2>&1 || { log_tail "$TMP/$name-build.log"; die "$spec: xdist --no-run failed"; }
        if [[ -n "${XDIST_BASE_BIN:-}" ]]; then
            CARGO_TARGET_DIR="$work/target-base" "$XDIST_BASE_BIN" xdist --no-run >>"$TMP/$name-build.log" 2>&1 ||
                { log_tail "$TMP/$name-build.log"; die "$spec: base xdist --no-run failed"; }
        fi
        # Warm-up: every tool once; cargo xdist's records the durations.
        declare -A WANT=()
        for tool in "${TOOLS[@]}"; do
            run_tool "$tool" >"$TMP/$name-warm-$tool.log" 2>&1 || true
            WANT[$tool]="$(counts "$tool" "$TMP/$name-warm-$tool.log")"
        done
        [[ "${WANT[xdist]}" == "${WANT[cargo]}" ]] ||
            die "$spec: cargo xdist passed/failed '${WANT[xdist]}', cargo test '${WANT[cargo]}'"
        [[ "${WANT[nextest]% *}" == "${WANT[cargo]% *}" ]] ||
            die "$spec: nextest passed '${WANT[nextest]% *}', cargo test '${WANT[cargo]% *}'"
        # The recorded test times added up / JOBS.
        bound="$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.3f" % (sum(e["secs"] for b in d["binaries"].values() for e in b["tests"].values()) / int(sys.argv[2])))' \
            "$work/target/xdist/durations.json" "$JOBS")"
        declare -A T=()
        # A subshell has no EXIT trap of its own: stop the loops on its way out.
        trap busy_stop EXIT
        busy_start
        for ((r = 0; r < ROUNDS; r++)); do
            line="$spec round $((r + 1))/$ROUNDS:"
            for ((i = 0; i < ${#TOOLS[@]}; i++)); do
                tool="${TOOLS[$(((i + r) % ${#TOOLS[@]}))]}"
                log="$TMP/$name-$tool-$r.log"
                start="$(now_ns)"
                run_tool "$tool" >"$log" 2>&1 || true
                end="$(now_ns)"
                got="$(counts "$tool" "$log")"
                if [[ "${got% *}" != "${WANT[$tool]% *}" ]]; then
                    log_tail "$log"
                    die "$spec: $tool passed '${got% *}' tests, its warm-up '${WANT[$tool]% *}'"
                fi
                T[$tool]="${T[$tool]:-} $((end - start))"
                line+="  $tool $(secs $((end - start)))"
            done
            echo "$line" >&2
        done
        busy_stop
        # shellcheck disable=SC2086
        x="$(median ${T[xdist]})" c="$(median ${T[cargo]})" n="$(median ${T[nextest]})"
        # shellcheck disable=SC2086
        v="$(median ${T[via-cargo]})"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$spec" "${WANT[cargo]% *}" \
            "$(secs "$x")" "$(secs "$v")" "$(secs "$c")" "$(secs "$n")" "$bound" \
            "$(ratio "$x" "$c")" "$(ratio "$v" "$c")" "$(ratio "$v" "$n")" >"$TMP/$name.result"
        if [[ -n "${T[base]:-}" ]]; then
            # shellcheck disable=SC2086
            b="$(median ${T[base]})"
            printf '%s\t%s\t%s\t%s\t%s\n' "$spec" "$(secs "$b")" "$(secs "$x")" \
                "$(ratio "$x" "$b")" "$(ratio "$b" "$c")" >"$TMP/$name.base"
        fi
    )
    SUMMARY+=("$(cat "$TMP/$name.result")")
    [[ ! -f "$TMP/$name.base" ]] || BASE_SUMMARY+=("$(cat "$TMP/$name.base")")
done

echo
echo "medians of $ROUNDS rounds, -n/-j $JOBS, $(nproc) CPUs, $BUSY busy loop(s); xdist = cargo-xdist xdist -n $JOBS with cargo's subcommand environment (default mode, durations recorded); via cargo = \`cargo xdist\`, cargo's dispatch included"
{
    printf 'crate\tpassed\txdist\tvia cargo\tcargo test\tnextest\trecorded/%s\txdist/cargo test\tvia cargo/cargo test\tvia cargo/nextest\n' "$JOBS"
    printf '%s\n' "${SUMMARY[@]}"
} | column -t -s $'\t'
echo "targets: xdist/nextest <= 0.85 on a CPU-heavy suite (itertools); xdist/cargo test <= 1.1 on small suites (serde_json, issue 20)"
echo "recorded/$JOBS: the recorded test times added up / $JOBS (a balanced run's test time, start-up not counted)"
if ((${#BASE_SUMMARY[@]})); then
    echo
    echo "before/after, same rounds: base = $XDIST_BASE_BIN (cargo's subcommand environment too)"
    {
        printf 'crate\tbase\txdist\txdist/base\tbase/cargo test\n'
        printf '%s\n' "${BASE_SUMMARY[@]}"
    } | column -t -s $'\t'
fi
