#!/usr/bin/env bash
# test/bench/lastused_waits.sh: what last-used tracking costs concurrent
# verifications when the library is preloaded (issue 11, item 3): the wait
# events of the verifying backends, and the notes dropped.
#
#   test/bench/lastused_waits.sh                          build, install, measure (~1-2 min)
#   LW_KEYS=1000000 LW_TIME=20 test/bench/lastused_waits.sh
#
# Starts a throwaway cluster with shared_preload_libraries = 'apikey' and
# apikey.last_used_capacity = LW_CAPACITY, creates LW_KEYS keys, then runs
# pgbench -M prepared -c LW_CLIENTS -j LW_THREADS -T LW_TIME, each transaction
# verifying one random key (SELECT * FROM apikey_verify(key)).  Meanwhile one
# psql samples pg_stat_activity every LW_SAMPLE_MS ms (one statement per
# sample, so each sample is a fresh snapshot) and counts the pgbench backends
# by (wait_event_type, wait_event); a backend running on CPU shows as
# "CPU -".  After the run it waits for the flush worker and prints
# apikey_stats(): notes written, dropped and still pending.
#
# The default capacity is larger than the distinct keys one flush interval
# can see at this rate, so every drop is a note refused below
# apikey.last_used_capacity.  Set LW_CAPACITY below LW_KEYS to see drops
# when random keys overflow the table.
#
# Knobs (environment; defaults in brackets):
#   LW_KEYS [100000]  LW_CLIENTS [8]  LW_THREADS [2]  LW_TIME [20] (seconds)
#   LW_CAPACITY [262144]  LW_FLUSH_MS [10000] (apikey.last_used_flush_interval)
#   LW_SAMPLE_MS [100]  LW_USERS [10000]
#   plus test/lib.sh's APIKEY_NO_DEPS, APIKEY_NO_INSTALL, APIKEY_KEEP_CLUSTER, PG_CONFIG
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/test/lib.sh"

KEYS=${LW_KEYS:-100000}
CLIENTS=${LW_CLIENTS:-8}
THREADS=${LW_THREADS:-2}
DURATION=${LW_TIME:-20}
CAPACITY=${LW_CAPACITY:-262144}
FLUSH_MS=${LW_FLUSH_MS:-10000}
SAMPLE_MS=${LW_SAMPLE_MS:-100}
USERS=${LW_USERS:-10000}

apikey_deps
apikey_pg_config
apikey_build_install || die "build or install failed"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

APIKEY_PG_CONF="
shared_buffers = 256MB
max_connections = 40
jit = off
apikey.last_used_capacity = $CAPACITY
apikey.last_used_flush_interval = $FLUSH_MS
"
export APIKEY_PG_CONF
cluster_start apikey
WORK=$APIKEY_PGDIR

sql() { "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 "$@"; }

say "setup: $USERS users, $KEYS keys"
sql <<EOF
CREATE EXTENSION apikey CASCADE;
CREATE TABLE lw_users (id bigint PRIMARY KEY, tenant text NOT NULL, role text NOT NULL);
INSERT INTO lw_users SELECT g, 't' || g % 10, 'member' FROM generate_series(1, $USERS) g;
SELECT apikey_bind_users('lw_users', 'id', 'tenant', 'role');
CREATE TABLE lw_keys (i int PRIMARY KEY, key text NOT NULL);
INSERT INTO lw_keys
SELECT g, k.key
  FROM generate_series(1, $KEYS) g,
       LATERAL apikey_create('t' || (g % $USERS + 1) % 10, (g % $USERS + 1)::text, 'lw ' || g) k;
VACUUM ANALYZE lw_keys;
VACUUM ANALYZE apikey.keys;
EOF

cat >"$WORK/verify.pgbench" <<EOF
\set i random(1, $KEYS)
SELECT * FROM apikey_verify((SELECT key FROM lw_keys WHERE i = :i));
EOF
chown_pguser "$WORK"

# one statement per sample, each its own transaction (pg_stat_activity is
# read once per transaction), until the run is over
nsamples=$((DURATION * 1000 / SAMPLE_MS))
sample_sql="SELECT 'S';
SELECT coalesce(wait_event_type, 'CPU') || ' ' || coalesce(wait_event, '-') FROM pg_stat_activity
 WHERE application_name = 'pgbench' AND state = 'active' AND pid <> pg_backend_pid();
SELECT pg_sleep($SAMPLE_MS / 1000.0);"
for ((n = 0; n < nsamples; n++)); do printf '%s\n' "$sample_sql"; done >"$WORK/sample.sql"

sql -c "SELECT apikey_stats_reset()" >/dev/null
say "pgbench -M prepared -c $CLIENTS -j $THREADS -T $DURATION, random keys among $KEYS; sampling every $SAMPLE_MS ms"
sleep 1
(sql -f "$WORK/sample.sql" >"$WORK/samples.txt" 2>/dev/null || true) &
SAMPLER=$!
apikey_on_exit "kill $SAMPLER 2>/dev/null || true"
"$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
    -f "$WORK/verify.pgbench" >"$WORK/pgbench.txt" 2>&1 || { cat "$WORK/pgbench.txt"; die "pgbench failed"; }
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true

# let the flush worker write what the run noted: nothing pending, no flush running
for ((i = 0; i < 120; i++)); do
    [ "$(sql -c "SELECT (SELECT last_used_pending FROM apikey_stats())
                      + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'apikey last-used flush')")" = 0 ] && break
    sleep 0.5
done

tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.txt")
samples=$(grep -c '^S$' "$WORK/samples.txt" || true)
echo
echo "== lastused_waits: $ROOT (rev $REV), $("$PGBIN/postgres" --version), $(nproc) CPUs"
echo "   $CLIENTS clients, $DURATION s, random keys among $KEYS, apikey.last_used_capacity = $CAPACITY, flush every $FLUSH_MS ms"
echo "   tps: $tps"
echo "   samples: $samples (every $SAMPLE_MS ms); active pgbench backends seen, by wait event:"
grep -v -e '^S$' -e '^$' "$WORK/samples.txt" | sort | uniq -c | sort -rn | awk '{ printf "     %8d  %s %s\n", $1, $2, $3 }'
# every LWLock tranche of the extension ("apikey", and any "apikey ..." one)
lw=$(grep -c -e '^LWLock apikey$' -e '^LWLock apikey ' "$WORK/samples.txt" || true)
echo "   LWLock:apikey waits seen: $lw in $samples samples"
echo "   apikey_stats() since the start of the run:"
sql -c "SELECT format('     valid %s, last_used_written %s, last_used_dropped %s, last_used_pending %s',
                      valid, last_used_written, last_used_dropped, last_used_pending) FROM apikey_stats()"
sql -c "SELECT format('     keys with last_used_at: %s of %s', count(last_used_at), count(*)) FROM apikey.keys"
