# Sourced by the bench scripts: what each of them needs before timing.
# Set BENCH (the script's name) before sourcing; REPO is this repository.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() {
    echo "$BENCH: error: $*" >&2
    exit 1
}

# Every named variable holds a non-negative integer.
require_uints() {
    local v
    for v in "$@"; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
    done
}

# Backtraces off on every side, whatever the caller's shell has: with
# RUST_BACKTRACE=1 each should_panic test (winnow has dozens) writes one,
# and their cost swamps what the benches compare.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

# A temporary directory in TMP, removed on exit unless KEEP_TMP=1.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/xdist-${BENCH%.sh}.XXXXXX")"
bench_cleanup() {
    busy_stop
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "$BENCH: kept temp dir $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap bench_cleanup EXIT

# BUSY=N: N shell loops spin, at the same priority, while the rounds are
# timed: a busy machine (a CI runner shares its cores, a developer builds
# beside the tests). Started by busy_start before the timed rounds, stopped
# by busy_stop after them and on exit.
BUSY="${BUSY:-0}"
[[ "$BUSY" =~ ^[0-9]+$ ]] || die "BUSY must be a non-negative integer (got '$BUSY')"
BUSY_PIDS=()
busy_start() {
    local i
    for ((i = 0; i < BUSY; i++)); do
        bash -c 'while :; do :; done' &
        BUSY_PIDS+=("$!")
    done
    if ((BUSY > 0)); then
        echo "$BENCH: $BUSY busy loop(s) spinning while the rounds are timed" >&2
    fi
}
busy_stop() {
    if ((${#BUSY_PIDS[@]})); then
        kill "${BUSY_PIDS[@]}" 2>/dev/null || true
        wait "${BUSY_PIDS[@]}" 2>/dev/null || true
    fi
    BUSY_PIDS=()
}

# Print the tail of a log file to stderr.
log_tail() {
    echo "---- last 40 lines of $1 ----" >&2
    tail -n 40 "$1" >&2 || true
    echo "----" >&2
}

# XDIST_BIN as given, else cargo-xdist built (release) from this repository.
resolve_xdist_bin() {
    if [[ -n "${XDIST_BIN:-}" ]]; then
        [[ -x "$XDIST_BIN" ]] || die "XDIST_BIN=$XDIST_BIN is not an executable file"
        return
    fi
    echo "building cargo-xdist (release) from $REPO ..." >&2
    cargo build --release --manifest-path "$REPO/Cargo.toml" >"$TMP/build-cargo-xdist.log" 2>&1 ||
        { log_tail "$TMP/build-cargo-xdist.log"; die "building cargo-xdist failed"; }
    XDIST_BIN="$REPO/target/release/cargo-xdist"
    [[ -x "$XDIST_BIN" ]] || die "$XDIST_BIN missing after build"
}

# The environment cargo gives a subcommand it runs, asked of cargo itself
# (CARGO, the toolchain's cargo; under rustup RUSTUP_TOOLCHAIN, the
# toolchain's library path, ...), exported: "$XDIST_BIN" xdist then runs as
# `cargo xdist` would (rustc behind rustup's proxy, its answers kept, the
# same listing cache), without cargo's own dispatch. XDIST_PATH (on PATH
# from here on) holds cargo-xdist for xdist_via_cargo: `cargo xdist`, the
# command users type, dispatch included.
cargo_subcommand_env() {
    local dir="$TMP/subcommand" kv
    mkdir -p "$dir"
    ln -sf "$XDIST_BIN" "$dir/cargo-xdist"
    XDIST_PATH="$dir"
    export PATH="$dir:$PATH"
    printf '#!/bin/sh\nenv -0\n' >"$dir/cargo-benchenv"
    chmod +x "$dir/cargo-benchenv"
    while IFS= read -r -d '' kv; do
        [[ "$kv" == _=* ]] || export "${kv?}"
    done < <(cargo benchenv)
}

# `cargo xdist ARGS...` with XDIST_BIN as the subcommand.
xdist_via_cargo() {
    cargo xdist "$@"
}

# Used by real.sh, cov.sh (CRATE=) and affected.sh:
# fetch NAME VERSION -> prints the directory of its published source.
fetch() {
    local name="$1" version="$2" dir="$TMP/fetch-$1"
    mkdir -p "$dir/src"
    printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = "=%s"\n\n[workspace]\n' \
        "$name" "$name" "$version" >"$dir/Cargo.toml"
    : >"$dir/src/lib.rs"
    cargo fetch --manifest-path "$dir/Cargo.toml" >"$dir/fetch.log" 2>&1 ||
        { log_tail "$dir/fetch.log"; die "cargo fetch $name@$version failed"; }
    cargo metadata --format-version 1 --manifest-path "$dir/Cargo.toml" 2>/dev/null |
        python3 -c 'import json, sys, os
m = json.load(sys.stdin)
want = (sys.argv[1], sys.argv[2])
for p in m["packages"]:
    if (p["name"], p["version"]) == want:
        print(os.path.dirname(p["manifest_path"]))
        break' "$name" "$version"
}
