#!/usr/bin/env bash
# `#[sqlx::test]` benchmark: --sqlx-born-migrated on fixtures/sqlxapp with
# many migrations, in one run against `cargo test` and `cargo nextest run`.
#
# The suite: a copy of fixtures/sqlxapp (without its `migrations = false`
# test, which turns the option off), pinned to the newest sqlx 0.8
# (Cargo.lock.newest; LOCK=pinned for 0.8.2), with MIGRATIONS generated
# migrations added (default 30: a table, an index and 100 rows each) and a
# file of EXTRA more `#[sqlx::test]` tests (default 40): 58 tests by
# default, each with a database of its own.
#
# Figures:
#   per-test migration time  median over ROUNDS of: CREATE DATABASE and
#                            the migrations (the fixture's examples/migrate,
#                            sqlx's own migrator) against CREATE DATABASE
#                            from the migrated template alone;
#   suite wall time          median over ROUNDS of each of:
#     cargo test             DATABASE_URL on a server started here (tmpfs);
#     nextest                cargo nextest run -j WORKERS, same server;
#     xdist                  cargo xdist -n WORKERS --ephemeral-postgres
#                            --db-setup <migrate>;
#     xdist born             the same with --sqlx-born-migrated;
#   and the ratios of each to cargo test and to nextest.
#
# Environment: ROUNDS (default 3), WORKERS (default 4), MIGRATIONS, EXTRA,
# LOCK (newest or pinned), XDIST_BIN (built in release mode from this
# repository if unset), FIXTURE_TARGET (the target dir the fixture builds
# in; default target/fixture-target, shared with tests/sqlx.rs so sqlx is
# not compiled again).
set -euo pipefail
BENCH=sqlx.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${ROUNDS:-3}"
WORKERS="${WORKERS:-4}"
MIGRATIONS="${MIGRATIONS:-30}"
EXTRA="${EXTRA:-40}"
LOCK="${LOCK:-newest}"
require_uints ROUNDS WORKERS MIGRATIONS EXTRA
[[ "$LOCK" == newest || "$LOCK" == pinned ]] || die "LOCK takes newest or pinned, got '$LOCK'"
command -v cargo-nextest >/dev/null || die "cargo-nextest not on PATH; install it: cargo install cargo-nextest"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
[[ -x "$PGBIN/initdb" ]] || die "PostgreSQL server binaries not found; install them: apt-get install -y postgresql"
resolve_xdist_bin
export CARGO_TARGET_DIR="${FIXTURE_TARGET:-$REPO/target/fixture-target}"

APP="$TMP/app"
cp -r "$REPO/fixtures/sqlxapp" "$APP"
rm -f "$APP/tests/bare.rs"
[[ "$LOCK" == newest ]] && cp "$APP/Cargo.lock.newest" "$APP/Cargo.lock"
for i in $(seq 1 "$MIGRATIONS"); do
    v=$(printf '%04d' $((i + 100)))
    cat >"$APP/migrations/${v}_t$i.sql" <<SQL
CREATE TABLE t$i (id bigint PRIMARY KEY, a text NOT NULL, b int NOT NULL DEFAULT 0, c timestamptz DEFAULT now());
CREATE INDEX t${i}_a ON t$i (a);
INSERT INTO t$i (id, a, b) SELECT g, 'row ' || g, g % 7 FROM generate_series(1, 100) g;
SQL
done
{
    echo "//! Generated: tests that each read their migrated database."
    for i in $(seq 1 "$EXTRA"); do
        echo "#[sqlx::test] async fn t$i(pool: sqlx::PgPool) -> sqlx::Result<()> {"
        echo "    let (n,): (i64,) = sqlx::query_as(\"SELECT count(*) FROM items\").fetch_one(&pool).await?;"
        echo "    assert_eq!(n, 0); Ok(()) }"
    done
} >"$APP/tests/many.rs"
TESTS=$(grep -rh '^#\[sqlx::test' "$APP/tests" | wc -l)
echo "building the suite ($TESTS tests, $((MIGRATIONS + 2)) migrations, sqlx $LOCK) in $CARGO_TARGET_DIR ..."
cargo test --no-run --manifest-path "$APP/Cargo.toml" >"$TMP/build.log" 2>&1 || { log_tail "$TMP/build.log"; die "building the suite failed"; }
cargo build --example migrate --manifest-path "$APP/Cargo.toml" >>"$TMP/build.log" 2>&1 || { log_tail "$TMP/build.log"; die "building examples/migrate failed"; }
MIGRATE="$CARGO_TARGET_DIR/debug/examples/migrate"
cp "$MIGRATE" "$TMP/migrate"
MIGRATE="$TMP/migrate"

AS=()
[[ "$(id -u)" == 0 ]] && AS=(runuser -u postgres --)
PGDATA=""
stop_server() {
    if [[ -n "$PGDATA" ]]; then
        "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$(dirname "$PGDATA")"
        PGDATA=""
    fi
}
trap 'stop_server; bench_cleanup' EXIT
root="$(mktemp -d "$( [[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/xdist-sqlxbench-pg.XXXXXX")"
chmod 700 "$root"
[[ "$(id -u)" == 0 ]] && chown postgres "$root"
PGDATA="$root/pgdata"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/log" \
    -o "-F -c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA -c max_connections=300" start >/dev/null
SERVER="postgres://postgres@127.0.0.1:$PORT"
psql -qX "$SERVER/postgres" -c 'CREATE DATABASE sqlx_bench' -c 'CREATE DATABASE sqlx_bench_tpl'
DATABASE_URL="$SERVER/sqlx_bench_tpl" "$MIGRATE"

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Per-test database preparation, as sqlx does it and as born migrated.
fresh=(); born=()
for r in $(seq 1 $((ROUNDS * 3))); do
    t0=$(now)
    psql -qX "$SERVER/postgres" -c "CREATE DATABASE m$r"
    DATABASE_URL="$SERVER/m$r" "$MIGRATE"
    t1=$(now)
    psql -qX "$SERVER/postgres" -c "CREATE DATABASE b$r TEMPLATE sqlx_bench_tpl"
    t2=$(now)
    psql -qX "$SERVER/postgres" -c "DROP DATABASE m$r" -c "DROP DATABASE b$r"
    fresh+=("$(calc "$t1 - $t0")"); born+=("$(calc "$t2 - $t1")")
done

run_timed() { # name, expected-summary log, command...
    local log="$TMP/$1.log"; shift
    local t0; t0=$(now)
    "$@" >"$log" 2>&1 || { log_tail "$log"; die "$* failed"; }
    calc "$(now) - $t0"
}
ct=(); nx=(); xu=(); xd=(); xb=()
cd "$APP"
for r in $(seq 1 "$ROUNDS"); do
    ct+=("$(DATABASE_URL="$SERVER/sqlx_bench" run_timed cargo-test cargo test -q)")
    nx+=("$(DATABASE_URL="$SERVER/sqlx_bench" run_timed nextest cargo nextest run -j "$WORKERS")")
    # The same server as cargo test's: worker databases, sqlx migrates.
    xu+=("$(DATABASE_URL="$SERVER/sqlx_bench" run_timed xdist-url "$XDIST_BIN" xdist -n "$WORKERS")")
    grep -q "^Summary: $TESTS passed, 0 failed" "$TMP/xdist-url.log" || { log_tail "$TMP/xdist-url.log"; die "cargo xdist (URL) did not pass all $TESTS tests"; }
    xd+=("$(run_timed xdist "$XDIST_BIN" xdist -n "$WORKERS" --ephemeral-postgres --db-setup "$MIGRATE")")
    grep -q "^Summary: $TESTS passed, 0 failed" "$TMP/xdist.log" || { log_tail "$TMP/xdist.log"; die "cargo xdist did not pass all $TESTS tests"; }
    xb+=("$(SQLXAPP_BORN=1 run_timed born "$XDIST_BIN" xdist -n "$WORKERS" --ephemeral-postgres --db-setup "$MIGRATE" --sqlx-born-migrated)")
    grep -q "^Summary: $TESTS passed, 0 failed" "$TMP/born.log" || { log_tail "$TMP/born.log"; die "cargo xdist --sqlx-born-migrated did not pass all $TESTS tests"; }
    grep -q "databases are born migrated" "$TMP/born.log" || { log_tail "$TMP/born.log"; die "--sqlx-born-migrated was off"; }
    printf 'round %d/%d: cargo test %.2fs  nextest %.2fs  xdist (URL) %.2fs  xdist %.2fs  xdist born %.2fs\n' \
        "$r" "$ROUNDS" "${ct[-1]}" "${nx[-1]}" "${xu[-1]}" "${xd[-1]}" "${xb[-1]}"
done
left=$(psql -qXAt "$SERVER/postgres" -c "SELECT count(*) FROM pg_database WHERE datname LIKE '_sqlx_test%'")

mf=$(median "${fresh[@]}"); mb=$(median "${born[@]}")
mc=$(median "${ct[@]}"); mn=$(median "${nx[@]}"); mu=$(median "${xu[@]}"); mx=$(median "${xd[@]}"); mxb=$(median "${xb[@]}")
echo
echo "suite: $TESTS #[sqlx::test], $((MIGRATIONS + 2)) migrations, sqlx $LOCK, $WORKERS workers, $(nproc) cores, medians of $ROUNDS"
printf 'per-test database: created + migrated %.3fs, created from the migrated template %.3fs (%.1fx)\n' \
    "$mf" "$mb" "$(calc "$mf / $mb")"
printf '%-12s %9s %10s %10s\n' run wall "/cargo test" "/nextest"
for row in "cargo-test $mc" "nextest $mn" "xdist-url $mu" "xdist $mx" "xdist-born $mxb"; do
    set -- $row
    printf '%-12s %8.2fs %10.2f %10.2f\n' "$1" "$2" "$(calc "$2 / $mc")" "$(calc "$2 / $mn")"
done
printf 'born / xdist: %.2f\n' "$(calc "$mxb / $mx")"
echo "xdist (URL) is cargo xdist on cargo test's server; xdist and xdist born start a throwaway server and build the template each run:"
grep -h '^Timing:' "$TMP/born.log" | sed 's/^/  born run: /' || true
echo "test databases left on the cargo test / nextest server: $left"
