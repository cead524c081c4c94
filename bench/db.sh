#!/usr/bin/env bash
# Database benchmark: `cargo xdist -n 4` (one database per worker) against
# serial `cargo test -- --test-threads=1` on fixtures/dbapp, in one run,
# against the same throwaway PostgreSQL server started here.
#
# Prints the median wall time of each, the ratio xdist/serial (target <= 0.45
# on a 2-core machine: the tests wait on the database) and the time cargo
# xdist spent creating the worker databases (its `Timing:` line).
#
# Environment: ROUNDS (default 3), WORKERS (default 4), XDIST_BIN (path to a
# cargo-xdist binary; built in release mode from this repository if unset).
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
WORKERS="${WORKERS:-4}"
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
chmod 755 "$TMP"
export CARGO_TARGET_DIR="$TMP/target"
AS=()
if [[ "$(id -u)" == 0 ]]; then
    AS=(runuser -u postgres --)
    chown postgres "$TMP"
fi
PGDATA="$TMP/pgdata"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/log" \
    -o "-F -c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA -c max_connections=200" start >/dev/null
BASE="postgres://postgres@127.0.0.1:$PORT/dbapp_bench"
psql -q "postgres://postgres@127.0.0.1:$PORT/postgres" -c 'CREATE DATABASE dbapp_bench'

echo "building fixtures/dbapp ..."
(cd "$FIXTURE" && cargo test --no-run -q 2>/dev/null)

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
serial=(); xdist=(); dbtimes=(); droptimes=()
for r in $(seq 1 "$ROUNDS"); do
    t0=$(now)
    (cd "$FIXTURE" && DATABASE_URL="$BASE" cargo test -q -- --test-threads=1 >"$TMP/serial.log" 2>&1) \
        || { tail -30 "$TMP/serial.log"; die "serial cargo test failed"; }
    t1=$(now)
    DATABASE_URL="$BASE" "$XDIST_BIN" xdist --manifest-path "$FIXTURE/Cargo.toml" -n "$WORKERS" >"$TMP/xdist.log" 2>&1 \
        || { tail -30 "$TMP/xdist.log"; die "cargo xdist failed"; }
    t2=$(now)
    s=$(calc "$t1 - $t0"); x=$(calc "$t2 - $t1")
    d=$(sed -n 's/.*databases \([0-9.]*\)s (create) + \([0-9.]*\)s (drop).*/\1/p' "$TMP/xdist.log")
    dd=$(sed -n 's/.*databases \([0-9.]*\)s (create) + \([0-9.]*\)s (drop).*/\2/p' "$TMP/xdist.log")
    serial+=("$s"); xdist+=("$x"); dbtimes+=("${d:-?}"); droptimes+=("${dd:-?}")
    printf 'round %d/%d: serial cargo test %.3fs  cargo xdist -n%d %.3fs (databases: create %ss, drop %ss)\n' "$r" "$ROUNDS" "$s" "$WORKERS" "$x" "${d:-?}" "${dd:-?}"
done
tail -n1 "$TMP/xdist.log"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms=$(median "${serial[@]}"); mx=$(median "${xdist[@]}"); md=$(median "${dbtimes[@]}"); mdd=$(median "${droptimes[@]}")
echo
echo "database benchmark: fixtures/dbapp, $ROUNDS rounds, $(nproc) CPUs"
printf '%-34s %8.3fs\n' "cargo test -- --test-threads=1" "$ms" "cargo xdist -n$WORKERS" "$mx"
printf 'creating %d worker databases: %ss, dropping them: %ss (medians)\n' "$WORKERS" "$md" "$mdd"
printf 'ratio xdist/serial = %.2f (target <= 0.45)\n' "$(calc "$mx / $ms")"
