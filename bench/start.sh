#!/usr/bin/env bash
# Start-up cost of `cargo xdist` on an unchanged build: the time from the
# end of cargo's freshness check (`cargo test --no-run`, the build stage)
# to the first test starting, and the whole run, on a generated workspace
# of 50 test binaries (bench/gen_workspace.py). See bench/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
XDIST_BIN=${XDIST_BIN:-}
ROUNDS=${ROUNDS:-7}
if [[ -n $XDIST_BIN ]]; then
    XDIST_BIN=$(realpath "$XDIST_BIN")
else
    cargo build --release --quiet --manifest-path "$here/../Cargo.toml"
    XDIST_BIN="$here/../target/release/cargo-xdist"
fi
tmp=$(mktemp -d)
[[ -n ${KEEP_TMP:-} ]] || trap 'rm -rf "$tmp"' EXIT
ws=${WS:-$tmp/ws}
[[ -d $ws ]] || python3 "$here/gen_workspace.py" "$ws"
real_cargo=$(command -v cargo)
# cargo-xdist runs $CARGO: this wrapper notes when `cargo test --no-run` ends.
cat >"$tmp/cargo" <<WRAP
#!/bin/sh
"$real_cargo" "\$@"; rc=\$?
case "\$*" in *--no-run*) date +%s%N >"$tmp/cargo_end" ;; esac
exit \$rc
WRAP
chmod +x "$tmp/cargo"
cd "$ws"
cargo test --no-run --quiet 2>/dev/null
CARGO="$tmp/cargo" XDIST_BENCH_STAMP="$tmp/stamps" "$XDIST_BIN" xdist -n 2 -q >/dev/null   # warm-up: fills caches
gaps=() starts=() totals=() freshness=()
for _ in $(seq "$ROUNDS"); do
    rm -f "$tmp/stamps" "$tmp/cargo_end"
    t0=$(date +%s%N)
    CARGO="$tmp/cargo" XDIST_BENCH_STAMP="$tmp/stamps" "$XDIST_BIN" xdist -n 2 -q >/dev/null
    t1=$(date +%s%N)
    first=$(sort -n "$tmp/stamps" | sed -n 1p)
    gaps+=($(( (first - $(cat "$tmp/cargo_end")) / 1000000 )))
    starts+=($(( (first - t0) / 1000000 )))
    totals+=($(( (t1 - t0) / 1000000 )))
    t0=$(date +%s%N); cargo test --no-run --quiet 2>/dev/null; t1=$(date +%s%N)
    freshness+=($(( (t1 - t0) / 1000000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "binaries: $(find target/debug/deps -maxdepth 1 -type f -executable -name '*-*' | wc -l), rounds: $ROUNDS"
echo "cargo test --no-run alone (freshness check): median $(median "${freshness[@]}") ms"
echo "end of cargo's check -> first test started:  median $(median "${gaps[@]}") ms  (all: ${gaps[*]})"
echo "start of cargo xdist -> first test started: median $(median "${starts[@]}") ms  (all: ${starts[*]})"
echo "whole cargo xdist -n 2 run:                  median $(median "${totals[@]}") ms  (all: ${totals[*]})"
