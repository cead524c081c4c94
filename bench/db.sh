#!/usr/bin/env bash
# Database benchmark: `cargo xdist -n 4` (one database per worker) against
# serial `cargo test -- --test-threads=1` on fixtures/dbapp, in one run,
# both against the same throwaway PostgreSQL server started here.
#
# The comparison runs twice: with the server's data on disk (as a shared
# database server would be) and on tmpfs (/dev/shm, as --ephemeral-postgres
# does and as CI setups often do). CREATE DATABASE makes hundreds of files,
# so the disk case is dominated by how fast this machine creates files.
#
# Prints the median wall time of each side, the ratio xdist/serial (target
# <= 0.45 on a 2-core machine: the tests wait on the database) and the time
# cargo xdist spent creating and dropping the worker databases (its
# `Timing:` line).
#
# Environment: ROUNDS (default 5), WORKERS (default 4), XDIST_BIN (path to a
# cargo-xdist binary; built in release mode from this repository if unset),
# PLACES ("disk shm" by default; either alone to run one).
set -euo pipefail

ROUNDS="${ROUNDS:-5}"
WORKERS="${WORKERS:-4}"
PLACES="${PLACES:-disk shm}"
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
FIXTURE="$REPO/fixtures/dbapp"

die() { echo "db.sh: error: $*" >&2; exit 1; }

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
[[ -x "$PGBIN/initdb" ]] || die "PostgreSQL server binaries not found; install them: apt-get install -y postgresql"

if [[ -z "${XDIST_BIN:-}" ]]; then
    cargo build --release --manifest-path "$REPO/Cargo.toml" -q
    XDIST_BIN="$REPO/target/release/cargo-xdist"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/xdist-dbbench.XXXXXX")"
export CARGO_TARGET_DIR="$TMP/target"
AS=()
if [[ "$(id -u)" == 0 ]]; then
    AS=(runuser -u postgres --)
fi
PGDATA=""
stop_server() {
    if [[ -n "$PGDATA" ]]; then
        "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$(dirname "$PGDATA")"
        PGDATA=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "building fixtures/dbapp ..."
(cd "$FIXTURE" && cargo test --no-run -q 2>/dev/null)

# Start a server with its data under $1; sets PGDATA, PORT, BASE.
start_server() {
    local root
    root="$(mktemp -d "$1/xdist-dbbench-pg.XXXXXX")"
    chmod 755 "$root"
    [[ "$(id -u)" == 0 ]] && chown postgres "$root"
    PGDATA="$root/pgdata"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/log" \
        -o "-F -c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA -c max_connections=200" start >/dev/null
    BASE="postgres://postgres@127.0.0.1:$PORT/dbapp_bench"
    psql -q "postgres://postgres@127.0.0.1:$PORT/postgres" -c 'CREATE DATABASE dbapp_bench'
}

report=()
for place in $PLACES; do
    case "$place" in
        disk) dir="${TMPDIR:-/tmp}" ;;
        shm) dir=/dev/shm; [[ -d /dev/shm ]] || { echo "no /dev/shm: skipping shm" >&2; continue; } ;;
        *) die "PLACES takes disk and/or shm, got '$place'" ;;
    esac
    start_server "$dir"
    serial=(); xdist=(); creates=(); drops=()
    for r in $(seq 1 "$ROUNDS"); do
        t0=$(now)
        (cd "$FIXTURE" && DATABASE_URL="$BASE" cargo test -q -- --test-threads=1 >"$TMP/serial.log" 2>&1) \
            || { tail -30 "$TMP/serial.log"; die "serial cargo test failed"; }
        t1=$(now)
        DATABASE_URL="$BASE" "$XDIST_BIN" xdist --manifest-path "$FIXTURE/Cargo.toml" -n "$WORKERS" >"$TMP/xdist.log" 2>&1 \
            || { tail -30 "$TMP/xdist.log"; die "cargo xdist failed"; }
        t2=$(now)
        grep -q "^Summary: 17 passed, 0 failed, 0 skipped$" "$TMP/xdist.log" || { tail -30 "$TMP/xdist.log"; die "cargo xdist did not pass all 17 tests"; }
        s=$(calc "$t1 - $t0"); x=$(calc "$t2 - $t1")
        c=$(sed -n 's/.*databases \([0-9.]*\)s (create) + \([0-9.]*\)s (drop).*/\1/p' "$TMP/xdist.log")
        d=$(sed -n 's/.*databases \([0-9.]*\)s (create) + \([0-9.]*\)s (drop).*/\2/p' "$TMP/xdist.log")
        serial+=("$s"); xdist+=("$x"); creates+=("${c:-0}"); drops+=("${d:-0}")
        printf '[%s] round %d/%d: serial cargo test %.3fs  cargo xdist -n%d %.3fs (databases: create %ss, drop %ss)\n' \
            "$place" "$r" "$ROUNDS" "$s" "$WORKERS" "$x" "${c:-?}" "${d:-?}"
    done
    stop_server
    ms=$(median "${serial[@]}"); mx=$(median "${xdist[@]}")
    report+=("$(printf '%-5s %10.3fs %12.3fs %7.2f %9ss %7ss' "$place" "$ms" "$mx" "$(calc "$mx / $ms")" \
        "$(median "${creates[@]}")" "$(median "${drops[@]}")")")
done

echo
echo "database benchmark: fixtures/dbapp, $ROUNDS rounds per place, $(nproc) CPUs, medians"
echo "      serial cargo test   xdist -n$WORKERS   ratio   create    drop   (target ratio <= 0.45)"
printf '%s\n' "${report[@]}"
