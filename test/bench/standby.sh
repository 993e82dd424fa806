#!/usr/bin/env bash
# Scaling verification out: pgbench TPS of apikey_verify against the primary
# alone, then against the primary and a streaming standby at the same time
# (one pgbench per node, same duration), in one run on this machine.
#
#   test/bench/standby.sh
#
# Builds and installs apikey (unless APIKEY_NO_INSTALL=1), starts a primary
# and a standby (pg_basebackup -R) in a temp dir as the unprivileged cluster
# user (unix sockets only, listen_addresses = ''), both with
# shared_preload_libraries = 'apikey', creates BENCH_KEYS keys, measures, and
# stops and removes both at the end.  Both nodes share this machine's CPUs,
# so the combined figure is a floor for separate machines.
#
# Knobs (environment; defaults in brackets):
#   BENCH_KEYS      keys created with apikey_create [10000]
#   BENCH_CLIENTS   pgbench -c per run [4]
#   BENCH_THREADS   pgbench -j per run [2]
#   BENCH_TIME      pgbench -T seconds per run [10]
#   plus test/lib.sh's APIKEY_NO_DEPS, APIKEY_NO_INSTALL, PG_CONFIG
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/test/lib.sh"

KEYS=${BENCH_KEYS:-10000}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_TIME:-10}
for v in KEYS CLIENTS THREADS DURATION; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive whole number (got '${!v}')"
done

apikey_deps
apikey_pg_config
apikey_build_install || die "build/install failed"
apikey_pguser_setup

DIR=$(mktemp -d /tmp/apikey-standby-bench.XXXXXX)
PRIMARY=$DIR/primary
STANDBY=$DIR/standby
chown_pguser "$DIR"

stop_all() {
    local d
    for d in "$STANDBY" "$PRIMARY"; do
        [ -f "$d/postmaster.pid" ] || continue
        as_pguser "$PGBIN/pg_ctl" -D "$d" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_pguser "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$DIR"
}
apikey_on_exit stop_all

PPORT=$(apikey_free_port)
SPORT=$((PPORT + 1))
export PGHOST=$DIR PGUSER=$APIKEY_PGOSUSER PGDATABASE=postgres
unset PGHOSTADDR PGSERVICE PGPASSWORD PGOPTIONS PGPORT || true

# sql PORT QUERY: unaligned tuples
sql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -p "$1" <<<"$2"; }

say "primary on port $PPORT, standby on port $SPORT (sockets in $DIR, OS user $APIKEY_PGOSUSER)"
as_pguser "$PGBIN/initdb" -D "$PRIMARY" --auth=trust --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
cat >>"$PRIMARY/postgresql.conf" <<EOF

# --- apikey standby benchmark ---
listen_addresses = ''
unix_socket_directories = '$DIR'
port = $PPORT
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
wal_level = replica
max_wal_senders = 4
hot_standby = on
shared_preload_libraries = 'apikey'
lc_messages = 'C'
log_min_messages = warning
EOF
as_pguser "$PGBIN/pg_ctl" -D "$PRIMARY" -l "$DIR/primary.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$DIR/primary.log" >&2; die "primary did not start"; }

say "creating $KEYS keys on the primary"
sql "$PPORT" "
CREATE EXTENSION apikey CASCADE;
CREATE TABLE bench_users (id bigint PRIMARY KEY, tenant text NOT NULL, role text NOT NULL);
INSERT INTO bench_users SELECT g, 't' || (g % 100), (ARRAY['admin', 'member', 'viewer'])[1 + g % 3]
  FROM generate_series(1, 1000) g;
SELECT apikey_bind_users('bench_users', 'id', 'tenant', 'role');
CREATE TABLE bench_keys (i int PRIMARY KEY, id bigint NOT NULL, key text NOT NULL);
INSERT INTO bench_keys
SELECT row_number() OVER (), c.id, c.key
  FROM generate_series(1, $KEYS) g,
       LATERAL apikey_create('t' || (1 + g % 1000) % 100, (1 + g % 1000)::text, 'bench ' || g) c;
VACUUM ANALYZE;
CHECKPOINT;" >/dev/null

say "standby: pg_basebackup -R"
as_pguser "$PGBIN/pg_basebackup" -h "$DIR" -p "$PPORT" -D "$STANDBY" -R -X stream --no-sync >/dev/null
cat >>"$STANDBY/postgresql.conf" <<EOF
port = $SPORT
EOF
as_pguser "$PGBIN/pg_ctl" -D "$STANDBY" -l "$DIR/standby.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$DIR/standby.log" >&2; die "standby did not start"; }
for _ in $(seq 1 120); do
    [ "$(sql "$SPORT" 'SELECT count(*) FROM bench_keys' 2>/dev/null || true)" = "$KEYS" ] && break
    sleep 0.5
done
[ "$(sql "$SPORT" 'SELECT pg_is_in_recovery()')" = t ] || die "the standby is not in recovery"
[ "$(sql "$SPORT" 'SELECT count(*) FROM bench_keys')" = "$KEYS" ] || die "the standby did not catch up"

# pgbench PORT LOG: one verify run; prints its TPS
pgbench_run() {
    "$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -p "$1" \
        -D nkeys="$KEYS" -f "$BENCH_DIR/verify.pgbench" >"$2" 2>&1 ||
        { cat "$2" >&2; die "pgbench on port $1 failed"; }
    sed -n 's/^tps = \([0-9]*\)\.[0-9]* (without initial connection time)$/\1/p' "$2"
}

say "warm-up: 3 s on each node"
DURATION_SAVED=$DURATION
DURATION=3
pgbench_run "$PPORT" "$DIR/warm-p.log" >/dev/null
pgbench_run "$SPORT" "$DIR/warm-s.log" >/dev/null
DURATION=$DURATION_SAVED

say "run 1: primary alone (pgbench -c $CLIENTS -j $THREADS -T $DURATION)"
TPS_ALONE=$(pgbench_run "$PPORT" "$DIR/alone.log")

say "run 2: primary and standby at the same time (one pgbench each)"
pgbench_run "$PPORT" "$DIR/both-p.log" >"$DIR/both-p.tps" &
P1=$!
pgbench_run "$SPORT" "$DIR/both-s.log" >"$DIR/both-s.tps" &
P2=$!
wait "$P1" || die "pgbench against the primary failed"
wait "$P2" || die "pgbench against the standby failed"
TPS_P=$(cat "$DIR/both-p.tps")
TPS_S=$(cat "$DIR/both-s.tps")

# let the standby's launcher ship what it noted, then look at the counters
sleep 11
STATS_S=$(sql "$SPORT" 'SELECT valid, last_used_written, last_used_dropped, last_used_pending FROM apikey_stats()')
USED_P=$(sql "$PPORT" 'SELECT count(*) FROM apikey.keys WHERE last_used_at IS NOT NULL')

echo
say "results ($(nproc) CPUs, keys: $KEYS, pgbench -M prepared -c $CLIENTS -j $THREADS -T $DURATION, SELECT * FROM apikey_verify(...))"
printf '  %-44s %10s\n' "primary alone" "$TPS_ALONE"
printf '  %-44s %10s\n' "primary, while the standby also serves" "$TPS_P"
printf '  %-44s %10s\n' "standby, while the primary also serves" "$TPS_S"
printf '  %-44s %10s\n' "primary + standby together" "$(awk -v a="$TPS_P" -v b="$TPS_S" 'BEGIN { printf "%.1f", a + b }')"
printf '  %-44s %10s\n' "together / alone" "$(awk -v a="$TPS_P" -v b="$TPS_S" -v c="$TPS_ALONE" 'BEGIN { printf "%.2fx", (a + b) / c }')"
say "standby apikey_stats (valid, last_used_written, last_used_dropped, last_used_pending): $STATS_S"
say "keys with last_used_at on the primary: $USED_P of $KEYS"
