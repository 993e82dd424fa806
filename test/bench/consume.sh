#!/usr/bin/env bash
# test/bench/consume.sh: what spending usage credits costs (issue 12, item 2):
# pgbench TPS of apikey_consume on ONE hot key, against apikey_verify of the
# same key, at 1 and CN_CLIENTS clients.
#
#   test/bench/consume.sh                    build, install, measure (~1-2 min)
#   CN_TIME=30 CN_CLIENTS=16 test/bench/consume.sh
#
# Starts a throwaway cluster (test/lib.sh: fsync and synchronous_commit off,
# library preloaded), creates a key with more credits than any run can spend
# and a key without credits, then runs pgbench -M prepared -T CN_TIME for each
# statement and client count:
#   verify              SELECT * FROM apikey_verify(:key)          (reads only)
#   consume             SELECT * FROM apikey_consume(:key)         (one UPDATE of the key's credits row)
#   consume, unlimited  SELECT * FROM apikey_consume(:key_free)    (no credits row: nothing written)
# Every consume transaction updates the same row of apikey.key_credits, so
# concurrent consumers of one key queue on its row lock: the hot-key case is
# the worst case.  After the runs it checks that the credits spent equal the
# consume transactions pgbench counted (no credit spent twice or lost).
#
# Knobs (environment; defaults in brackets):
#   CN_TIME [10] (seconds per run)  CN_CLIENTS [8]
#   plus test/lib.sh's APIKEY_NO_DEPS, APIKEY_NO_INSTALL, APIKEY_KEEP_CLUSTER, PG_CONFIG
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/test/lib.sh"

DURATION=${CN_TIME:-10}
CLIENTS=${CN_CLIENTS:-8}
START_CREDITS=1000000000000

apikey_deps
apikey_pg_config
apikey_build_install || die "build or install failed"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

APIKEY_PG_CONF="
max_connections = 40
jit = off
"
export APIKEY_PG_CONF
cluster_start apikey
WORK=$APIKEY_PGDIR

sql() { "${PGCLIENTBIN:-$PGBIN}/psql" -XAtq -v ON_ERROR_STOP=1 "$@"; }

sql <<EOF >/dev/null
CREATE EXTENSION apikey CASCADE;
CREATE TABLE users (id bigint PRIMARY KEY, tenant_id text NOT NULL, role text);
INSERT INTO users VALUES (1, 'bench', 'member');
SELECT apikey_bind_users('users');
EOF
KEY=$(sql -c "SELECT key FROM apikey_create('bench', '1', 'hot', remaining => $START_CREDITS)")
KEY_FREE=$(sql -c "SELECT key FROM apikey_create('bench', '1', 'hot, unlimited')")

echo 'SELECT * FROM apikey_verify(:key);' >"$WORK/verify.pgbench"
echo 'SELECT * FROM apikey_consume(:key);' >"$WORK/consume.pgbench"
echo 'SELECT * FROM apikey_consume(:key_free);' >"$WORK/consume_free.pgbench"

# run NAME CLIENTS: prints TPS, leaves pgbench's output in $WORK/NAME-CLIENTS.txt
run() {
    local name=$1 clients=$2 threads out
    threads=$(( clients < $(nproc) ? clients : $(nproc) ))
    out=$WORK/$name-$clients.txt
    "${PGCLIENTBIN:-$PGBIN}/pgbench" -n -M prepared -c "$clients" -j "$threads" -T "$DURATION" \
        -D key="$KEY" -D key_free="$KEY_FREE" -f "$WORK/$name.pgbench" >"$out" 2>&1 ||
        { cat "$out" >&2; die "pgbench $name failed"; }
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | head -n 1 | xargs printf '%.0f'
}
txns() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/$1-$2.txt"; }

declare -A TPS
for c in 1 "$CLIENTS"; do
    for name in verify consume consume_free; do
        say "pgbench $name, $c client(s), ${DURATION}s"
        TPS[$name-$c]=$(run "$name" "$c")
    done
done

spent=$(sql -c "SELECT $START_CREDITS - remaining FROM apikey.key_credits")
counted=$(( $(txns consume 1) + $(txns consume "$CLIENTS") ))

echo
echo "== consume: $ROOT (rev $REV), $("$PGBIN/postgres" --version), $(nproc) CPUs, fsync off, synchronous_commit off, preloaded"
echo "pgbench -M prepared -T $DURATION, one key, TPS:"
printf '| %-52s | %9s | %9s |\n' "statement" "1 client" "$CLIENTS clients"
printf '|%s|%s|%s|\n' "------------------------------------------------------" "----------:" "----------:"
printf '| %-52s | %9s | %9s |\n' 'SELECT * FROM apikey_verify(:key)' "${TPS[verify-1]}" "${TPS[verify-$CLIENTS]}"
printf '| %-52s | %9s | %9s |\n' 'SELECT * FROM apikey_consume(:key) (credits)' "${TPS[consume-1]}" "${TPS[consume-$CLIENTS]}"
printf '| %-52s | %9s | %9s |\n' 'SELECT * FROM apikey_consume(:key_free) (no credits)' "${TPS[consume_free-1]}" "${TPS[consume_free-$CLIENTS]}"
awk -v v1="${TPS[verify-1]}" -v vn="${TPS[verify-$CLIENTS]}" -v c1="${TPS[consume-1]}" -v cn="${TPS[consume-$CLIENTS]}" -v n="$CLIENTS" \
    'BEGIN { printf "consume / verify: %.2fx at 1 client, %.2fx at %d clients\n", c1 / v1, cn / vn, n }'
echo "credits spent: $spent; consume transactions counted by pgbench: $counted ($([ "$spent" = "$counted" ] && echo equal || echo DIFFERENT))"
[ "$spent" = "$counted" ] || die "credits spent differ from the transactions that spent them"
