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
# Then the setup case: a --db-setup that takes about 1 s of server work (a
# PL/pgSQL loop calibrated to run 1 s on this machine, standing for a
# migration's DDL and data, then the fixture's migrations/0001_from_setup.sql),
# on a server on SETUP_PLACE (shm by default), timed four ways per round:
#   serial       the setup once on the base database, then serial cargo test;
#   xdist first  cargo xdist -n WORKERS --db-setup after `db clean`: one setup
#                into the template, then WORKERS copies;
#   xdist cached the same command again: the template is reused, no setup;
#   per worker   --db-template template1 --db-setup: the setup once per worker
#                database (what --db-setup did before the cached template).
# For each it prints the median wall time, how many times the setup ran and
# the time cargo xdist spent creating the databases (its `Timing:` line).
#
# Environment: ROUNDS (default 5), WORKERS (default 4), XDIST_BIN (path to a
# cargo-xdist binary; built in release mode from this repository if unset),
# PLACES ("disk shm" by default; either alone to run one; empty for none),
# SETUP_PLACE (shm by default, disk, or none to skip the setup case).
set -euo pipefail

ROUNDS="${ROUNDS:-5}"
WORKERS="${WORKERS:-4}"
PLACES="${PLACES-disk shm}"
SETUP_PLACE="${SETUP_PLACE:-shm}"
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

for place in $PLACES ${SETUP_PLACE/none/}; do
    [[ "$place" == disk || "$place" == shm ]] || die "PLACES and SETUP_PLACE take disk or shm, got '$place'"
done

# The directory a place's server keeps its data in (fails for shm without /dev/shm).
place_dir() {
    case "$1" in
        disk) echo "${TMPDIR:-/tmp}" ;;
        shm) [[ -d /dev/shm ]] && echo /dev/shm ;;
    esac
}

report=()
for place in $PLACES; do
    dir="$(place_dir "$place")" || { echo "no /dev/shm: skipping shm" >&2; continue; }
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

setup_report=()
if [[ "$SETUP_PLACE" != none ]]; then
    dir="$(place_dir "$SETUP_PLACE")" || die "no /dev/shm for SETUP_PLACE=shm; use SETUP_PLACE=disk"
    start_server "$dir"
    COUNT="$TMP/setup-count"
    : >"$COUNT"
    # About 1 s of server CPU: calibrate a loop of $n iterations.
    work() { echo "DO \$\$ BEGIN FOR i IN 1..$1 LOOP END LOOP; END \$\$;" >"$TMP/work.sql"; }
    n=2000000
    for _ in 1 2; do
        work "$n"
        t0=$(now); psql -X -q "$BASE" -f "$TMP/work.sql"; t1=$(now)
        n=$(calc "int($n / ($t1 - $t0))")
    done
    work "$n"
    SETUP="echo run >> '$COUNT' && psql -X -q -v ON_ERROR_STOP=1 \"\$DATABASE_URL\" -f '$TMP/work.sql' -f '$FIXTURE/migrations/0001_from_setup.sql'"
    t0=$(now); DATABASE_URL="$BASE" sh -c "$SETUP"; t1=$(now); : >"$COUNT"
    printf '[setup] the setup takes %.2fs alone (%d loop iterations)\n' "$(calc "$t1 - $t0")" "$n"
    xdist_setup() {  # label, then extra arguments
        local label="$1"; shift
        local before t0 t1
        before=$(wc -l < "$COUNT")
        t0=$(now)
        DATABASE_URL="$BASE" DBAPP_EXPECT_TABLE=from_setup "$XDIST_BIN" xdist --manifest-path "$FIXTURE/Cargo.toml" \
            -n "$WORKERS" --db-setup "$SETUP" "$@" >"$TMP/xdist.log" 2>&1 \
            || { tail -30 "$TMP/xdist.log"; die "cargo xdist ($label) failed"; }
        t1=$(now)
        grep -q "^Summary: 17 passed, 0 failed, 0 skipped$" "$TMP/xdist.log" || { tail -30 "$TMP/xdist.log"; die "cargo xdist ($label) did not pass all 17 tests"; }
        wall=$(calc "$t1 - $t0")
        runs=$(( $(wc -l < "$COUNT") - before ))
        create=$(sed -n 's/.*databases \([0-9.]*\)s (create).*/\1/p' "$TMP/xdist.log")
    }
    declare -A walls runs_of setup_creates
    for r in $(seq 1 "$ROUNDS"); do
        # Serial: the same setup once, on the base database, then cargo test.
        PGOPTIONS='-c client_min_messages=warning' psql -X -q "$BASE" -c 'DROP TABLE IF EXISTS from_setup, items'
        before=$(wc -l < "$COUNT")
        t0=$(now)
        (cd "$FIXTURE" && DATABASE_URL="$BASE" sh -c "$SETUP" \
            && DATABASE_URL="$BASE" DBAPP_EXPECT_TABLE=from_setup cargo test -q -- --test-threads=1 >"$TMP/serial.log" 2>&1) \
            || { tail -30 "$TMP/serial.log"; die "serial setup + cargo test failed"; }
        t1=$(now)
        walls[serial]+=" $(calc "$t1 - $t0")"; runs_of[serial]+=" $(( $(wc -l < "$COUNT") - before ))"; setup_creates[serial]+=" 0"
        "$XDIST_BIN" xdist db clean --database-url "$BASE" >/dev/null
        for label in first cached perworker; do
            case "$label" in
                first|cached) xdist_setup "$label" ;;
                perworker) xdist_setup "$label" --db-template template1 ;;
            esac
            walls[$label]+=" $wall"; runs_of[$label]+=" $runs"; setup_creates[$label]+=" ${create:-0}"
        done
        printf '[setup] round %d/%d: serial %.3fs, xdist first %.3fs, cached %.3fs, per worker %.3fs\n' "$r" "$ROUNDS" \
            "${walls[serial]##* }" "${walls[first]##* }" "${walls[cached]##* }" "${walls[perworker]##* }"
    done
    stop_server
    for label in serial first cached perworker; do
        case "$label" in
            serial) name="setup + serial cargo test" ;;
            first) name="xdist -n$WORKERS, first run" ;;
            cached) name="xdist -n$WORKERS, cached run" ;;
            perworker) name="xdist -n$WORKERS, setup per worker" ;;
        esac
        # shellcheck disable=SC2086
        setup_report+=("$(printf '%-32s %8.3fs %7s %9ss' "$name" "$(median ${walls[$label]})" \
            "$(median ${runs_of[$label]})" "$(median ${setup_creates[$label]})")")
    done
fi

if ((${#report[@]})); then
    echo
    echo "database benchmark: fixtures/dbapp, $ROUNDS rounds per place, $(nproc) CPUs, medians"
    echo "      serial cargo test   xdist -n$WORKERS   ratio   create    drop   (target ratio <= 0.45)"
    printf '%s\n' "${report[@]}"
fi
if ((${#setup_report[@]})); then
    echo
    echo "setup case: --db-setup of ~1 s of server work, server on $SETUP_PLACE, $ROUNDS rounds, $(nproc) CPUs, medians"
    echo "                                     wall  setups    create   (target: cached 0 setups, first 1)"
    printf '%s\n' "${setup_report[@]}"
fi
