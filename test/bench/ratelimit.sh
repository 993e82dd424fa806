#!/usr/bin/env bash
# test/bench/ratelimit.sh: what a rate limit costs verification (issue 12,
# item 1: "verify with a rate limit set loses <= 10% against without").
#
#   test/bench/ratelimit.sh                      build, install, measure (~2-3 min)
#   RL_TIME=20 RL_ROUNDS=3 test/bench/ratelimit.sh
#
# Starts a throwaway cluster with shared_preload_libraries = 'apikey', creates
# two keys of one user, "free" without a limit and "limited" with a limit it
# never reaches (2,000,000,000 per day), then runs pgbench -M prepared -T
# RL_TIME, each transaction verifying the one hot key
# (SELECT * FROM apikey_verify($1)), for each client count of RL_CLIENTS_LIST:
#   - cache hit: the backend's verification cache answers (the usual case);
#   - cache miss: apikey.verify_cache_size = 0, every verification reads the
#     key row and its user (and, for "free", looks for a tenant default);
# free and limited alternate, the order swapping each round; the best TPS of
# the rounds is kept for each.  Then, in one backend (less exposed to a busy
# machine than pgbench), microseconds per verification of RL_N calls, hit and
# miss, free and limited alternating, best of RL_REPS.  Prints limited/free
# per case, and the
# pg_stat_activity LWLock waits on apikey's tranches seen during the limited
# runs at the largest client count.
#
# Knobs (environment; defaults in brackets):
#   RL_CLIENTS_LIST ["2 8"]  RL_THREADS [2]  RL_TIME [10] (seconds)  RL_ROUNDS [2]
#   RL_SAMPLE_MS [50]  RL_N [100000] (calls per in-backend pass)  RL_REPS [5]
#   plus test/lib.sh's APIKEY_NO_DEPS, APIKEY_NO_INSTALL, APIKEY_KEEP_CLUSTER, PG_CONFIG
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/test/lib.sh"

CLIENTS_LIST=${RL_CLIENTS_LIST:-2 8}
THREADS=${RL_THREADS:-2}
DURATION=${RL_TIME:-10}
ROUNDS=${RL_ROUNDS:-2}
SAMPLE_MS=${RL_SAMPLE_MS:-50}
N=${RL_N:-100000}
REPS=${RL_REPS:-5}

apikey_deps
apikey_pg_config
apikey_build_install || die "build or install failed"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

APIKEY_PG_CONF="
shared_buffers = 256MB
max_connections = 40
jit = off
"
export APIKEY_PG_CONF
cluster_start apikey
WORK=$APIKEY_PGDIR

sql() { "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 "$@"; }

say "setup: one user, a key without a limit and a key with a limit it never reaches"
sql <<EOF
CREATE EXTENSION apikey CASCADE;
CREATE TABLE rl_users (id bigint PRIMARY KEY, tenant text NOT NULL, role text NOT NULL);
INSERT INTO rl_users VALUES (1, 't1', 'member');
SELECT apikey_bind_users('rl_users', 'id', 'tenant', 'role');
CREATE TABLE rl_keys (name text PRIMARY KEY, id bigint NOT NULL, key text NOT NULL);
INSERT INTO rl_keys SELECT n, k.id, k.key FROM unnest(ARRAY['free', 'limited']) n, LATERAL apikey_create('t1', '1', n) k;
UPDATE apikey.keys SET rate_limit = 2000000000, rate_window = '1 day'
 WHERE id = (SELECT id FROM rl_keys WHERE name = 'limited');
VACUUM ANALYZE;
-- microseconds per call of apikey_verify on one key, n calls in one statement
CREATE FUNCTION rl_bench_us(kname text, n int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
	k text;
	t0 timestamptz;
	c bigint;
BEGIN
	SELECT key INTO k FROM rl_keys WHERE name = kname;
	t0 := clock_timestamp();
	SELECT count(*) INTO c FROM (SELECT (apikey_verify(k)).valid AS v FROM generate_series(1, n)) s WHERE v;
	IF c <> n THEN RAISE EXCEPTION 'only % of % valid', c, n; END IF;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END
\$\$;
EOF
FREE_KEY=$(sql -c "SELECT key FROM rl_keys WHERE name = 'free'")
LIMITED_KEY=$(sql -c "SELECT key FROM rl_keys WHERE name = 'limited'")

printf '%s\n' 'SELECT * FROM apikey_verify(:key);' >"$WORK/verify.pgbench"
nsamples=$((DURATION * 1000 / SAMPLE_MS))
sample_sql="SELECT count(*) FILTER (WHERE wait_event_type = 'LWLock' AND wait_event LIKE 'apikey%') || ' ' || count(*)
  FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active';
SELECT pg_sleep($SAMPLE_MS / 1000.0);"
for ((n = 0; n < nsamples; n++)); do printf '%s\n' "$sample_sql"; done >"$WORK/sample.sql"
chown_pguser "$WORK"

# run CASE KEYNAME CLIENTS [sample]: prints the TPS
run() {
    local case=$1 name=$2 clients=$3 key opts='' out sampler=''
    key=$FREE_KEY
    [ "$name" = limited ] && key=$LIMITED_KEY
    [ "$case" = miss ] && opts='-c apikey.verify_cache_size=0'
    if [ "${4:-}" = sample ]; then
        (sleep 1; sql -f "$WORK/sample.sql" >>"$WORK/samples.txt" 2>/dev/null || true) &
        sampler=$!
    fi
    out=$(PGOPTIONS="$opts" "$PGBIN/pgbench" -n -M prepared -c "$clients" -j "$((THREADS < clients ? THREADS : clients))" \
        -T "$DURATION" -D key="$key" -f "$WORK/verify.pgbench" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out"
}

declare -A best
: >"$WORK/samples.txt"
largest=$(tr ' ' '\n' <<<"$CLIENTS_LIST" | sort -n | tail -1)
for ((r = 1; r <= ROUNDS; r++)); do
    for case in hit miss; do
        for c in $CLIENTS_LIST; do
            order="free limited"
            ((r % 2 == 0)) && order="limited free"
            for name in $order; do
                sample=''
                [ "$name" = limited ] && [ "$c" = "$largest" ] && [ "$case" = hit ] && sample=sample
                tps=$(run "$case" "$name" "$c" $sample)
                say "round $r: $case, $c clients, $name: $tps tps"
                k="$case $c $name"
                if [ -z "${best[$k]:-}" ] || awk -v a="$tps" -v b="${best[$k]}" 'BEGIN { exit !(a > b) }'; then
                    best[$k]=$tps
                fi
            done
        done
    done
done

# in one backend: best us per call over REPS passes, free and limited alternating
inb() {
    local setting=$1
    sql -c "SET apikey.verify_cache_size = $setting" -c "
        SELECT format('%s %s', min(us) FILTER (WHERE name = 'free'), min(us) FILTER (WHERE name = 'limited'))
          FROM (SELECT n.name, rl_bench_us(n.name, $N) AS us
                  FROM generate_series(1, $REPS) r,
                       LATERAL (SELECT unnest(CASE WHEN r % 2 = 1 THEN ARRAY['free', 'limited']
                                                   ELSE ARRAY['limited', 'free'] END) AS name) n) s"
}
say "in one backend: $REPS passes of $N calls, cache hit"
read -r inb_hit_free inb_hit_limited <<<"$(inb 16384)"
say "in one backend: $REPS passes of $N calls, cache miss (apikey.verify_cache_size = 0)"
read -r inb_miss_free inb_miss_limited <<<"$(inb 0)"

echo
echo "== ratelimit: $ROOT (rev $REV), $("$PGBIN/postgres" --version), $(nproc) CPUs"
echo "   pgbench -M prepared -T $DURATION, one hot key, best of $ROUNDS rounds; limited = 2e9 per day (never reached)"
printf '   %-6s %7s %12s %12s %8s\n' case clients "free tps" "limited tps" ratio
for case in hit miss; do
    for c in $CLIENTS_LIST; do
        f=${best["$case $c free"]}
        l=${best["$case $c limited"]}
        printf '   %-6s %7s %12s %12s %8s\n' "$case" "$c" "$f" "$l" "$(awk -v a="$l" -v b="$f" 'BEGIN { printf "%.3f", a / b }')"
    done
done
echo "   in one backend, us per apikey_verify call (best of $REPS passes of $N calls):"
printf '   %-6s %12s %12s %8s\n' case "free us" "limited us" ratio
printf '   %-6s %12.3f %12.3f %8s\n' hit "$inb_hit_free" "$inb_hit_limited" "$(awk -v a="$inb_hit_limited" -v b="$inb_hit_free" 'BEGIN { printf "%.3f", a / b }')"
printf '   %-6s %12.3f %12.3f %8s\n' miss "$inb_miss_free" "$inb_miss_limited" "$(awk -v a="$inb_miss_limited" -v b="$inb_miss_free" 'BEGIN { printf "%.3f", a / b }')"
read -r waits active <<<"$(awk '/^[0-9]+ [0-9]+$/ { w += $1; a += $2 } END { print w + 0, a + 0 }' "$WORK/samples.txt")"
echo "   LWLock waits on apikey tranches during the limited cache-hit runs at $largest clients: $waits (of $active active backends sampled)"
sql -c "SELECT format('   apikey_stats(): valid %s, rate_limited %s, rate_limit_overflow %s', valid, rate_limited, rate_limit_overflow) FROM apikey_stats()"
