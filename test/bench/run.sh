#!/usr/bin/env bash
# make bench: the apikey benchmark, on one throwaway cluster.
#
#   test/bench/run.sh                  defaults (1M keys, 50k keys per pass, 15 s pgbench runs, 2 rounds; ~15-20 min on 2 cores)
#   BENCH_QUICK=1 test/bench/run.sh    small and fast (100k keys, 12k keys per pass, 5 s pgbench runs, 1 round; ~3-4 min)
#
# Builds and installs apikey (make && make install in the repository root),
# builds the floor module (test/bench/floor) in the cluster's temp dir, starts
# one cluster (unix socket in a temp dir, listen_addresses='',
# shared_preload_libraries='apikey' when the library can be preloaded), and
# measures, in one run:
#   1. in-backend us per verification, BENCH_SAMPLE keys per pass, best of BENCH_REPS:
#      a. apikey_verify, cold: keys this backend has not seen (every pass in a fresh backend,
#         default apikey.verify_cache_size; also with apikey.verify_cache_size = 0)
#      b. apikey_verify, cache hit: the same keys again in the backend that just verified them
#      c. bench_ref_sql: the SQL reference a user would write, STABLE, inlined by the
#         planner (checked with EXPLAIN VERBOSE: the run stops if it is not inlined)
#      d. bench_ref_sql_volatile: the same body VOLATILE, not inlined
#      e. bench_ref_plpgsql: the same checks in PL/pgSQL
#      f. apikey_bench_floor: SHA-256 + the two index probes in a C loop (the floor)
#   2. pgbench -M prepared TPS at BENCH_CLIENTS_LIST clients: apikey_verify(:key) vs a bare
#      primary-key lookup of the key's row vs the inlined SQL reference, order alternating
#   3. during the verify runs at the largest client count: pg_stat_activity wait events
#      sampled every BENCH_SAMPLE_MS ms (apikey's LWLock tranche "apikey") and the
#      last-used notes apikey_stats() counts as dropped
# then prints a summary against the targets of issue 11 and writes it to BENCH_OUT
# (default test/bench/results.md), with a block ready for the README's
# Performance section (BENCH_UPDATE_README=1 puts it there).  The cluster is
# removed on exit.
#
# Knobs (environment; defaults in brackets, quick values after the slash):
#   BENCH_QUICK=1           the small preset
#   BENCH_KEYS              real keys created with apikey_create [1000000 / 100000]
#   BENCH_USERS             rows of the users table [100000]
#   BENCH_SAMPLE            keys per in-backend pass [50000 / 12000]
#   BENCH_REPS              in-backend passes per function, best taken [5]
#   BENCH_CLIENTS_LIST      pgbench client counts ["2 4 8"]
#   BENCH_THREADS           pgbench -j (at most the client count) [2]
#   BENCH_TIME              seconds per pgbench run [15 / 5]
#   BENCH_ROUNDS            pgbench rounds; the order of the three scripts alternates [2 / 1]
#   BENCH_SAMPLE_MS         wait-event sampling interval [50]
#   BENCH_SHARED_BUFFERS    [512MB]
#   BENCH_NO_PRELOAD=1      do not try shared_preload_libraries='apikey'
#   BENCH_BUILD_RETRIES     retries (60 s apart) when make fails [0]
#   BENCH_OUT               results file [test/bench/results.md]
#   BENCH_UPDATE_README=1   also replace the block between the bench markers in README.md
#   plus test/lib.sh's APIKEY_NO_DEPS, APIKEY_NO_INSTALL, APIKEY_KEEP_CLUSTER, PG_CONFIG
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/test/lib.sh"

T_START=$(date +%s)

# Exact command line, for the results header
cmd_env=$(env | grep -E '^(BENCH_[A-Z_]+|PG_CONFIG|APIKEY_NO_DEPS)=' | sort | tr '\n' ' ' || true)
if [ -n "${MAKELEVEL:-}" ]; then
    BENCH_CMD="${cmd_env}make bench"
else
    BENCH_CMD="${cmd_env}test/bench/run.sh${*:+ $*}"
fi

# ---------------------------------------------------------------------------
# Knobs
if [ -n "${BENCH_QUICK:-}" ]; then
    d_keys=100000 d_sample=12000 d_time=5 d_rounds=1
else
    d_keys=1000000 d_sample=50000 d_time=15 d_rounds=2
fi
KEYS=${BENCH_KEYS:-$d_keys}
USERS=${BENCH_USERS:-100000}
SAMPLE=${BENCH_SAMPLE:-$d_sample}
REPS=${BENCH_REPS:-5}
CLIENTS_LIST=${BENCH_CLIENTS_LIST:-2 4 8}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_TIME:-$d_time}
ROUNDS=${BENCH_ROUNDS:-$d_rounds}
SAMPLE_MS=${BENCH_SAMPLE_MS:-50}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-512MB}
BUILD_RETRIES=${BENCH_BUILD_RETRIES:-0}
OUT=${BENCH_OUT:-$BENCH_DIR/results.md}
BATCH=250000 # keys per apikey_create statement
WARMKEYS=2000 # keys that warm a fresh backend's catalog caches and plans before a cold pass

for v in KEYS USERS SAMPLE REPS ROUNDS THREADS DURATION SAMPLE_MS BUILD_RETRIES; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number (got '${!v}')"
done
for c in $CLIENTS_LIST; do
    [[ $c =~ ^[1-9][0-9]*$ ]] || die "BENCH_CLIENTS_LIST must list whole numbers (got '$CLIENTS_LIST')"
done
[ -n "$CLIENTS_LIST" ] || die "BENCH_CLIENTS_LIST is empty"
MAX_CLIENTS=$(printf '%s\n' $CLIENTS_LIST | sort -n | tail -n 1)
[ $((2 * SAMPLE + WARMKEYS)) -le "$KEYS" ] || die "need 2 * BENCH_SAMPLE + $WARMKEYS <= BENCH_KEYS"
[ "$USERS" -ge 100 ] || die "need BENCH_USERS >= 100"
{ [ "$REPS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] && [ "$SAMPLE" -ge 1 ] && [ "$THREADS" -ge 1 ] &&
    [ "$DURATION" -ge 1 ] && [ "$SAMPLE_MS" -ge 1 ]; } || die "REPS, ROUNDS, SAMPLE, THREADS, TIME and SAMPLE_MS must be >= 1"

# ---------------------------------------------------------------------------
# Helpers

# Phase timings
PHASE_NAMES=()
PHASE_SECS=()
phase_t0=0
phase_name=
phase() { # phase NAME: ends the running phase (if any), starts NAME
    local now
    now=$(date +%s.%N)
    if [ -n "$phase_name" ]; then
        PHASE_NAMES+=("$phase_name")
        PHASE_SECS+=("$(awk -v a="$phase_t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')")
        say "phase '$phase_name' took ${PHASE_SECS[-1]} s"
    fi
    phase_name=${1:-}
    phase_t0=$now
    [ -z "$phase_name" ] || { echo; say "== $phase_name =="; }
}

# Floating-point helpers (awk)
calc() { awk "BEGIN { printf \"$1\", $2 }"; }                          # calc FORMAT EXPR
fmt_int() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b > 0) printf f, a / b }'; } # ratio A B [FMT]: empty unless B > 0
# met VALUE OP LIMIT -> yes / no (n/a when VALUE is empty)
met() {
    [ -n "$1" ] || { echo "n/a"; return; }
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        ok = (op == ">=") ? (v >= l) : (op == "<=") ? (v <= l) : (v == l)
        print ok ? "yes" : "**no**" }'
}

# sql QUERY [psql options]: run QUERY (stdin, so :'var' interpolation works), unaligned tuples.
# Every call is a new psql, so a new backend.
sql() {
    local q=$1
    shift
    "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -P pager=off "$@" <<<"$q"
}

DETAILS=() # markdown lines for the details section of results.md
detail() { DETAILS+=("$*"); printf '    %s\n' "$*"; }

# ---------------------------------------------------------------------------
# Build, install, cluster
phase "build and install"
apikey_deps
apikey_pg_config
for ((try = 0; ; try++)); do
    if apikey_build_install; then break; fi
    [ "$try" -lt "$BUILD_RETRIES" ] || die "build or install failed"
    warn "build failed; retrying in 60 s ($((try + 1))/$BUILD_RETRIES)"
    sleep 60
done
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l || echo 0)
GIT_NOTE="git $GIT_REV"
if [ "$GIT_DIRTY" -gt 0 ]; then GIT_NOTE+=" + $GIT_DIRTY uncommitted changes"; fi

phase "cluster"
APIKEY_PG_CONF="
# --- apikey benchmark settings ---
shared_buffers = $SHARED_BUFFERS
full_page_writes = on
max_wal_size = 32GB
min_wal_size = 1GB
checkpoint_timeout = 1h
maintenance_work_mem = 512MB
work_mem = 64MB
jit = off
max_connections = 50
"
export APIKEY_PG_CONF
cluster_start ""
WORK=$APIKEY_PGDIR

SAMPLER_PID=
bench_on_exit() {
    if [ -n "${SAMPLER_PID:-}" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    if [ -z "${BENCH_DONE:-}" ]; then
        warn "benchmark did not finish"
        cluster_log_tail 30
    fi
}
apikey_on_exit bench_on_exit

# The floor module: built in the cluster's temp dir (nothing left in the
# checkout), loaded by path, never installed.
say "building the floor module (test/bench/floor) in $WORK/floor"
mkdir -p "$WORK/floor"
cp "$BENCH_DIR/floor/Makefile" "$BENCH_DIR/floor/apikey_bench_floor.c" "$WORK/floor/"
make -s -C "$WORK/floor" PG_CONFIG="$PG_CONFIG" >"$WORK/floor/build.log" 2>&1 ||
    { cat "$WORK/floor/build.log" >&2; die "the floor module did not build"; }
chown_pguser "$WORK/floor"

PRELOAD=no
PRELOAD_NOTE=
if [ -n "${BENCH_NO_PRELOAD:-}" ]; then
    PRELOAD_NOTE="not preloaded (BENCH_NO_PRELOAD set)"
else
    sql "ALTER SYSTEM SET shared_preload_libraries = 'apikey'"
    if as_pguser "$PGBIN/pg_ctl" -D "$APIKEY_PGDATA" -l "$APIKEY_PGLOG" -m fast -w -t 60 restart >/dev/null 2>&1 &&
        [ "$(sql 'SHOW shared_preload_libraries')" = apikey ]; then
        PRELOAD=yes
        PRELOAD_NOTE="shared_preload_libraries = 'apikey'"
    else
        PRELOAD_NOTE="NOT preloaded: the server did not start with shared_preload_libraries='apikey' (see the server log); measured without preload"
        warn "$PRELOAD_NOTE"
        cluster_log_tail 15
        as_pguser "$PGBIN/pg_ctl" -D "$APIKEY_PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
        as_pguser sed -i '/shared_preload_libraries/d' "$APIKEY_PGDATA/postgresql.auto.conf"
        as_pguser "$PGBIN/pg_ctl" -D "$APIKEY_PGDATA" -l "$APIKEY_PGLOG" -w -t 60 start >/dev/null ||
            die "server did not start again without preload"
    fi
fi
say "preload: $PRELOAD_NOTE"
PG_VERSION=$(sql "SELECT version()")
PG_SHORT=$(sql "SHOW server_version")

# ---------------------------------------------------------------------------
# Setup: users, binding, reference functions, floor, keys
phase "setup: $USERS users, $KEYS keys"
sql "$(cat "$BENCH_DIR/setup.sql")" -v nusers="$USERS"
sql "CREATE FUNCTION apikey_bench_floor(text[]) RETURNS bigint
     AS '$WORK/floor/apikey_bench_floor', 'apikey_bench_floor' LANGUAGE C STRICT VOLATILE"
HAVE_STATS=$(sql "SELECT to_regprocedure('apikey_stats()') IS NOT NULL")
say "apikey_stats(): $([ "$HAVE_STATS" = t ] && echo present || echo absent)"

CREATE_MS=0 # total ms spent in apikey_create
for ((a = 1; a <= KEYS; a += BATCH)); do
    b=$((a + BATCH - 1))
    [ "$b" -le "$KEYS" ] || b=$KEYS
    r=$(sql "SELECT ms FROM bench_ms(\$s\$
        WITH c AS (
            INSERT INTO bench_keys (i, id, key)
            SELECT g, k.id, k.key
              FROM generate_series($a, $b) g,
                   LATERAL (SELECT g % $USERS + 1 AS u) uu,
                   LATERAL apikey_create('t' || (uu.u % 100), uu.u::text, 'bench ' || g) k
            RETURNING 1)
        SELECT count(*) FROM c \$s\$)")
    CREATE_MS=$(calc %.3f "$CREATE_MS + $r")
    say "created keys $a..$b ($(ratio $((b - a + 1)) "$(calc %.6f "$r / 1000")" %.0f) keys/s)"
done
CREATE_RATE=$(ratio "$KEYS" "$(calc %.6f "$CREATE_MS / 1000")" %.0f)
sql "VACUUM ANALYZE apikey.keys; VACUUM ANALYZE bench_keys"
say "apikey.keys: $(sql "SELECT count(*) FROM apikey.keys") rows, $(sql "SELECT pg_size_pretty(pg_table_size('apikey.keys'))") heap, $(sql "SELECT pg_size_pretty(pg_relation_size('apikey.keys_key_hash_idx'))") hash index"

# Key samples, disjoint: p1 (the measured keys), warm (warms a fresh backend
# before a cold pass), first (keys never verified before: the first-use pass)
sql "SELECT setseed(0.25);
     CREATE TEMP TABLE perm AS SELECT key, row_number() OVER (ORDER BY random()) AS r FROM bench_keys;
     INSERT INTO bench_sample
     SELECT 'p1', array_agg(key) FROM perm WHERE r <= $SAMPLE
     UNION ALL SELECT 'warm', array_agg(key) FROM perm WHERE r > $SAMPLE AND r <= $((SAMPLE + WARMKEYS))
     UNION ALL SELECT 'first', array_agg(key) FROM perm WHERE r > $((SAMPLE + WARMKEYS)) AND r <= $((2 * SAMPLE + WARMKEYS))"

# Waits (up to 60 s) until no last-used note is pending in apikey_stats() and no
# background process (flush worker, autovacuum) is inside a transaction, so
# that the writes of asynchronous last-used tracking land between measures.
settle() {
    local i busy quiet=0 q
    q="SELECT count(*) FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND xact_start IS NOT NULL
          AND backend_type NOT IN ('client backend', 'autovacuum launcher')"
    if [ "$HAVE_STATS" = t ]; then
        q="SELECT ($q) + (SELECT coalesce(sum((to_jsonb(s) ->> 'last_used_pending')::bigint), 0) FROM apikey_stats() s)"
    fi
    for ((i = 0; i < 120; i++)); do
        busy=$(sql "$q" 2>/dev/null || echo 0)
        if [ "${busy:-0}" -eq 0 ]; then
            quiet=$((quiet + 1))
            [ "$quiet" -lt 2 ] || return 0
        else
            quiet=0
        fi
        sleep 0.5
    done
    warn "last-used tracking still busy after 60 s ($busy)"
}

# ---------------------------------------------------------------------------
# The SQL reference must be inlined (and the VOLATILE one must not be)
phase "check: the STABLE SQL reference is inlined"
# Joins by nested loop in every in-backend session: one index probe per key, as
# one call per request does (without it the planner may hash-join the whole
# key array against apikey.keys, a batch plan no request would run)
PLAN_GUCS="SET enable_hashjoin = off; SET enable_mergejoin = off;"
VERIFY_STMT='SELECT count(*) FROM unnest($1) k, LATERAL %s(k) v WHERE v.valid'
# shellcheck disable=SC2059
SQL_STMT=$(printf "$VERIFY_STMT" bench_ref_sql)
PLAN_INBACKEND=$(sql "$PLAN_GUCS SELECT * FROM bench_explain(:'stmt', (SELECT keys FROM bench_sample WHERE name = 'p1'))" -v stmt="$SQL_STMT")
PLAN_PGBENCH=$(sql "SET plan_cache_mode = force_generic_plan;
    PREPARE p(text) AS SELECT * FROM bench_ref_sql(\$1);
    EXPLAIN (VERBOSE, COSTS OFF) EXECUTE p('x')")
PLAN_VOLATILE=$(sql "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM bench_ref_sql_volatile('x')")
# the plan as shown: the key array's literal (keys!) replaced by $1
PLAN_SHOWN=$(sed -E 's/(Function Call: unnest\().*\)$/\1$1)  -- the key array/' <<<"$PLAN_INBACKEND")
inlined() { # inlined PLAN: the plan probes apikey.keys itself, and calls no bench_ref_sql
    ! grep -q 'Function Scan on public.bench_ref_sql' <<<"$1" &&
        grep -q 'Index Scan using keys_key_hash_idx on apikey.keys' <<<"$1" &&
        grep -q 'Index Scan using bench_users_pkey on public.bench_users' <<<"$1"
}
if ! inlined "$PLAN_INBACKEND"; then
    printf '%s\n' "$PLAN_SHOWN" >&2
    die "bench_ref_sql (STABLE) is NOT inlined in the plan above (the in-backend statement): the comparison would not be with the reference a user gets; fix test/bench/setup.sql"
fi
if ! inlined "$PLAN_PGBENCH"; then
    printf '%s\n' "$PLAN_PGBENCH" >&2
    die "bench_ref_sql (STABLE) is NOT inlined in the plan above (pgbench's generic plan): the comparison would not be with the reference a user gets; fix test/bench/setup.sql"
fi
if grep -qE 'Hash Join|Merge Join' <<<"$PLAN_INBACKEND"; then
    printf '%s\n' "$PLAN_SHOWN" >&2
    die "the in-backend plan of bench_ref_sql is not a nested loop of index probes"
fi
grep -q 'Function Scan on public.bench_ref_sql_volatile' <<<"$PLAN_VOLATILE" ||
    { printf '%s\n' "$PLAN_VOLATILE" >&2; die "bench_ref_sql_volatile was inlined: it should not be"; }
say "bench_ref_sql is inlined (in-backend statement and pgbench's generic plan); bench_ref_sql_volatile is a Function Scan"

# ---------------------------------------------------------------------------
# Measure 1: in-backend us per verification
#
# Each pass is one statement over the whole key array, in a new backend (a
# new psql), run through bench_ms(); the best of REPS passes is taken, and
# the best pass of the empty loop (base) is subtracted, except for the floor
# (one C call over the array: nothing to subtract).  Before each timed pass
# the backend runs the statement once untimed over `warm` keys: the same keys
# (cache hit, references, floor) or WARMKEYS other keys (cold: the measured
# keys stay unseen by that backend, only its catalog caches and plans are warm).
# Last-used tracking stays on, as in production.  Preloaded, a backend that
# verifies a key for the first time notes the use in shared memory (or counts
# a drop when that table is full), and the flush worker later writes
# last_used_at unless it is less than apikey.last_used_interval old.  So that
# the worker does not rewrite key rows during the timed passes (competing for
# the cores and leaving dead row versions behind), the measured keys get a
# fresh last_used_at first and apikey.last_used_interval is a day during this
# measure (server-wide: the worker reads it); the backends still take their
# notes.  The "first use" pass, over keys never verified, runs after the
# interval is back to its default: the worker writes those keys meanwhile.
FNS=(base floor cold cold_nocache hit sql sql_volatile plpgsql loop_base loop_cold loop_hit loop_sql loop_plpgsql)
declare -A STMT SESSION WARM LABEL
for fn in "${FNS[@]}"; do
    SESSION[$fn]=$PLAN_GUCS
    WARM[$fn]=same
done
# shellcheck disable=SC2059
{
    STMT[base]='SELECT count(*) FROM unnest($1) k WHERE k IS NOT NULL'
    STMT[floor]='SELECT apikey_bench_floor($1)'
    STMT[cold]=$(printf "$VERIFY_STMT" apikey_verify)
    STMT[cold_nocache]=$(printf "$VERIFY_STMT" apikey_verify)
    STMT[hit]=$(printf "$VERIFY_STMT" apikey_verify)
    STMT[sql]=$SQL_STMT
    STMT[sql_volatile]=$(printf "$VERIFY_STMT" bench_ref_sql_volatile)
    STMT[plpgsql]=$(printf "$VERIFY_STMT" bench_ref_plpgsql)
}
STMT[loop_base]='SELECT bench_loop_base($1)'
STMT[loop_cold]='SELECT bench_loop_verify($1)'
STMT[loop_hit]='SELECT bench_loop_verify($1)'
STMT[loop_sql]='SELECT bench_loop_sql($1)'
STMT[loop_plpgsql]='SELECT bench_loop_plpgsql($1)'
WARM[cold]=other
WARM[cold_nocache]=other
WARM[loop_cold]=other
SESSION[cold_nocache]+=" SET apikey.verify_cache_size = 0;"
SESSION[hit]+=" SET apikey.verify_cache_size = 1048576;"
SESSION[loop_hit]+=" SET apikey.verify_cache_size = 1048576;"
LABEL[cold]="(a) apikey_verify, cold: keys this backend has not seen (fresh backend, default apikey.verify_cache_size)"
LABEL[cold_nocache]="(a) apikey_verify, cold, apikey.verify_cache_size = 0 (fresh backend, no cache at all)"
LABEL[hit]="(b) apikey_verify, cache hit: the same keys again in the backend that just verified them"
LABEL[sql]="(c) SQL reference, STABLE, inlined by the planner (bench_ref_sql)"
LABEL[sql_volatile]="(d) the same SQL declared VOLATILE, not inlined (bench_ref_sql_volatile)"
LABEL[plpgsql]="(e) PL/pgSQL reference, STABLE (bench_ref_plpgsql)"
LABEL[floor]="(f) floor: SHA-256 + the two index probes in a C loop (apikey_bench_floor)"

# pass FN SAMPLE WARMSAMPLE: one pass in a new backend; prints "ms|n"
pass() {
    local warmexpr=NULL
    [ -z "$3" ] || warmexpr="(SELECT keys FROM bench_sample WHERE name = '$3')"
    sql "${SESSION[$1]} SELECT ms, n FROM bench_ms(:'stmt', (SELECT keys FROM bench_sample WHERE name = '$2'), $warmexpr)" \
        -v stmt="${STMT[$1]}"
}

phase "1. in-backend, $SAMPLE keys per pass, best of $REPS"
sql "ALTER SYSTEM SET apikey.last_used_interval = 86400"
sql "SELECT pg_reload_conf()" >/dev/null
sql "UPDATE apikey.keys k SET last_used_at = now()
       FROM bench_keys b, (SELECT unnest(keys) AS key FROM bench_sample WHERE name IN ('p1', 'warm')) s
      WHERE b.key = s.key AND k.id = b.id"
# untimed: every function once over p1 (and over warm first): shared buffers
for fn in "${FNS[@]}"; do
    out=$(pass "$fn" p1 warm)
    printf '    warm-up %-14s %10.1f ms\n' "$fn" "${out%|*}"
done
settle
sql "VACUUM" # the UPDATE above left a dead version of each measured key row
W0=$(sql "SELECT pg_stat_force_next_flush(); SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'apikey.keys'::regclass" | tail -n 1)
declare -A BEST
for ((r = 1; r <= REPS; r++)); do
    line="    pass $r:"
    for fn in "${FNS[@]}"; do
        if [ "${WARM[$fn]}" = same ]; then out=$(pass "$fn" p1 p1); else out=$(pass "$fn" p1 warm); fi
        ms=${out%|*}
        cnt=${out#*|}
        [ "$cnt" = "$SAMPLE" ] || warn "$fn: $cnt of $SAMPLE keys valid"
        if [ -z "${BEST[$fn]:-}" ] || awk -v a="$ms" -v b="${BEST[$fn]}" 'BEGIN { exit !(a < b) }'; then
            BEST[$fn]=$ms
        fi
        line+=$(printf ' %s %.0f' "$fn" "$ms")
    done
    echo "$line ms"
done
settle
W_INBACKEND=$(($(sql "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'apikey.keys'::regclass") - W0))
sql "ALTER SYSTEM RESET apikey.last_used_interval"
sql "SELECT pg_reload_conf()" >/dev/null
# first use: keys never verified, default apikey.last_used_interval, one pass
SESSION[first]="$PLAN_GUCS"
STMT[first]=${STMT[cold]}
out=$(pass first first warm)
FIRST_MS=${out%|*}
[ "${out#*|}" = "$SAMPLE" ] || warn "first: ${out#*|} of $SAMPLE keys valid"
settle

US_BASE=$(calc %.3f "${BEST[base]} * 1000 / $SAMPLE")
US_LOOP_BASE=$(calc %.3f "${BEST[loop_base]} * 1000 / $SAMPLE")
declare -A US
for fn in "${FNS[@]}"; do
    case $fn in
    base | loop_base) ;;
    floor) US[$fn]=$(calc %.3f "${BEST[$fn]} * 1000 / $SAMPLE") ;;
    loop_*) US[$fn]=$(calc %.3f "(${BEST[$fn]} - ${BEST[loop_base]}) * 1000 / $SAMPLE") ;;
    *) US[$fn]=$(calc %.3f "(${BEST[$fn]} - ${BEST[base]}) * 1000 / $SAMPLE") ;;
    esac
done
US_FIRST=$(calc %.3f "($FIRST_MS - ${BEST[base]}) * 1000 / $SAMPLE")
R_COLD_FLOOR=$(ratio "${US[cold]}" "${US[floor]}")
R_SQL_COLD=$(ratio "${US[sql]}" "${US[cold]}")

detail "Measure 1: $SAMPLE random keys of $KEYS per pass, one statement per pass (\`${VERIFY_STMT//\%s/fn}\`), each pass in a new backend; best of $REPS passes; the best empty loop (\`${STMT[base]}\`, $US_BASE µs/key) subtracted from every row but the floor, which is one C call over the array. Joins forced to nested loops (\`enable_hashjoin\`, \`enable_mergejoin\` off): one index probe per key, as in one call per request. Last-used tracking on; the measured keys' last_used_at set just before, and apikey.last_used_interval = 1 day during the passes, so the flush worker skips them ($W_INBACKEND key rows updated during the timed passes)."
detail ""
detail "| | measure | µs/call | / cold | / floor | one statement per key: µs/call | / cold |"
detail "|---|---|---:|---:|---:|---:|---:|"
for fn in cold cold_nocache hit sql sql_volatile plpgsql floor; do
    l=; lr=
    if [ -n "${US[loop_$fn]:-}" ]; then l=${US[loop_$fn]}; lr=$(ratio "$l" "${US[loop_cold]}"); fi
    detail "| $fn | ${LABEL[$fn]} | ${US[$fn]} | $(ratio "${US[$fn]}" "${US[cold]}") | $(ratio "${US[$fn]}" "${US[floor]}") | $l | $lr |"
done
detail "| first | apikey_verify on keys never verified before: one pass, fresh backend, default apikey.last_used_interval (the flush worker writes their last_used_at meanwhile) | $US_FIRST | $(ratio "$US_FIRST" "${US[cold]}") | $(ratio "$US_FIRST" "${US[floor]}") | | |"
detail ""
detail "One statement per key: \`bench_loop_<f>(keys)\` (test/bench/setup.sql) runs \`SELECT count(*) FROM f(k) v WHERE v.valid\` once per key from a PL/pgSQL loop, through the plan PL/pgSQL keeps (for the SQL reference: the inlined plan, executor started once per key), minus the same loop running a statement that calls nothing ($US_LOOP_BASE µs/key): what one prepared statement per request costs in the server, without the client round trip. SQL reference / cold, one statement per key: $(ratio "${US[loop_sql]}" "${US[loop_cold]}")x."
detail ""
detail "Ratios: cold / floor = ${R_COLD_FLOOR}x; SQL reference (inlined) / cold = ${R_SQL_COLD}x; VOLATILE SQL / cold = $(ratio "${US[sql_volatile]}" "${US[cold]}")x; PL/pgSQL / cold = $(ratio "${US[plpgsql]}" "${US[cold]}")x."
detail ""
detail "The inlined plan of the SQL reference in that statement (EXPLAIN VERBOSE, checked by run.sh):"
detail ""
detail '```'
while IFS= read -r l; do detail "$l"; done <<<"$PLAN_SHOWN"
detail '```'
detail ""

# ---------------------------------------------------------------------------
# Measure 2 and 3: pgbench
stats_snap() { # stats_snap TAG
    [ "$HAVE_STATS" = t ] || return 0
    sql "INSERT INTO bench_stats_snap SELECT :'tag', jsonb_agg(to_jsonb(s)) FROM apikey_stats() s
         ON CONFLICT (tag) DO UPDATE SET j = EXCLUDED.j" -v tag="$1"
}
stats_delta() { # stats_delta BEFORE AFTER COLUMN: the change of one counter (empty without apikey_stats())
    [ "$HAVE_STATS" = t ] || return 0
    sql "SELECT (SELECT coalesce(sum((e ->> :'c')::numeric), 0) FROM bench_stats_snap, jsonb_array_elements(j) e WHERE tag = :'a')
              - (SELECT coalesce(sum((e ->> :'c')::numeric), 0) FROM bench_stats_snap, jsonb_array_elements(j) e WHERE tag = :'b')" \
        -v a="$2" -v b="$1" -v c="$3"
}

declare -A AGG_TPS AGG_N AGG_DROP AGG_WRITTEN
# pb_run SCRIPT CLIENTS: one pgbench run (name SCRIPT-CLIENTS-n), wait events sampled meanwhile
pb_run() {
    local script=$1 c=$2 key=$1-$2 run log rc=0 tps j d
    AGG_N[$key]=$((${AGG_N[$key]:-0} + 1))
    run=$key-${AGG_N[$key]}
    log=$WORK/pgbench-$run.log
    j=$THREADS
    [ "$j" -le "$c" ] || j=$c
    sql "VACUUM apikey.keys" # every run starts from the same clean table
    settle
    stats_snap "$run-before"
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "CALL bench_sample_waits('$run', $DURATION, $SAMPLE_MS)" \
        >"$WORK/sampler-$run.log" 2>&1 &
    SAMPLER_PID=$!
    "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$DURATION" -D nkeys="$KEYS" \
        -f "$BENCH_DIR/$script.pgbench" >"$log" 2>&1 || rc=$?
    wait "$SAMPLER_PID" || { warn "wait-event sampler failed:"; cat "$WORK/sampler-$run.log" >&2; }
    SAMPLER_PID=
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$log")
    if [ "$rc" -ne 0 ] || [ -z "$tps" ]; then
        tail -n 20 "$log" >&2
        die "pgbench $run failed (exit $rc)"
    fi
    settle # the flush worker writes what the run noted; drops are counted by then
    stats_snap "$run-after"
    AGG_TPS[$key]=$(calc %.3f "${AGG_TPS[$key]:-0} + $tps")
    d=$(stats_delta "$run-before" "$run-after" last_used_dropped)
    AGG_DROP[$key]=$(calc %.0f "${AGG_DROP[$key]:-0} + ${d:-0}")
    d=$(stats_delta "$run-before" "$run-after" last_used_written)
    AGG_WRITTEN[$key]=$(calc %.0f "${AGG_WRITTEN[$key]:-0} + ${d:-0}")
    say "$run: $(fmt_int "$tps") tps (-c $c -j $j); $(sql "SELECT samples || ' samples, apikey LWLock waiters ' || apikey_waiters || ' (in ' || samples_apikey || ' samples), any LWLock ' || lwlock_waiters || ', Lock ' || lock_waiters FROM bench_waits WHERE run = '$run'")"
}
mean_tps() { calc %.1f "${AGG_TPS[$1]} / ${AGG_N[$1]}"; }

SCRIPTS=(pk verify ref_sql)
phase "2. pgbench -M prepared: PK lookup, apikey_verify, SQL reference at $CLIENTS_LIST clients, $ROUNDS round(s) of ${DURATION}s"
# autovacuum is paused (each run starts after an explicit VACUUM instead), so
# that it neither steals one of the cores nor lands in whichever run it overlaps
sql "ALTER SYSTEM SET autovacuum = off"
sql "SELECT pg_reload_conf()" >/dev/null
for ((r = 1; r <= ROUNDS; r++)); do
    for c in $CLIENTS_LIST; do
        # the order of the three scripts rotates with the round and the client count
        o=$(((r - 1) + $(printf '%s\n' $CLIENTS_LIST | grep -n "^$c\$" | cut -d: -f1) - 1))
        for ((s = 0; s < 3; s++)); do
            if ((r % 2)); then idx=$(((o + s) % 3)); else idx=$(((o + 2 - s) % 3)); fi
            pb_run "${SCRIPTS[idx]}" "$c"
        done
    done
done
sql "ALTER SYSTEM RESET autovacuum"
sql "SELECT pg_reload_conf()" >/dev/null

declare -A R_PB
detail "Measure 2: \`pgbench -n -M prepared -T $DURATION -j min(clients, $THREADS) -D nkeys=$KEYS\`, $ROUNDS round(s), the order of the three scripts rotating across client counts and rounds; TPS is the mean over rounds. Each transaction reads a random key's id and text from bench_keys into pgbench variables (\`\\gset\`), then runs one statement with it as a bound parameter: \`SELECT * FROM apikey.keys WHERE id = :id\` (PK lookup), \`SELECT * FROM apikey_verify(:key)\` (verify), \`SELECT * FROM bench_ref_sql(:key)\` (SQL reference, inlined in the generic plan too). apikey_verify notes each key's first use in the run (last-used tracking on)."
detail ""
detail "| clients | PK lookup TPS | apikey_verify TPS | SQL reference TPS | verify / SQL reference | verify / PK lookup |"
detail "|---:|---:|---:|---:|---:|---:|"
for c in $CLIENTS_LIST; do
    R_PB[$c]=$(ratio "$(mean_tps verify-"$c")" "$(mean_tps ref_sql-"$c")")
    detail "| $c | $(fmt_int "$(mean_tps pk-"$c")") | $(fmt_int "$(mean_tps verify-"$c")") | $(fmt_int "$(mean_tps ref_sql-"$c")") | ${R_PB[$c]} | $(ratio "$(mean_tps verify-"$c")" "$(mean_tps pk-"$c")") |"
done
detail ""

IFS='|' read -r W_SAMPLES W_SAMPLES_APIKEY W_APIKEY W_LWLOCK W_LOCK W_ACTIVE <<<"$(sql "
    SELECT sum(samples), sum(samples_apikey), sum(apikey_waiters), sum(lwlock_waiters), sum(lock_waiters), sum(active)
      FROM bench_waits WHERE run LIKE :'p'" -v p="verify-$MAX_CLIENTS-%")"
DROPS=${AGG_DROP[verify-$MAX_CLIENTS]:-}
WRITTEN=${AGG_WRITTEN[verify-$MAX_CLIENTS]:-}
[ "$HAVE_STATS" = t ] || { DROPS=n/a; WRITTEN=n/a; }
detail "Measure 3, during the apikey_verify runs at $MAX_CLIENTS clients ($ROUNDS run(s), $([ "$PRELOAD" = yes ] && echo preloaded || echo NOT preloaded)): pg_stat_activity sampled every $SAMPLE_MS ms by one more backend (during every pgbench run, so each script pays the same), $W_SAMPLES samples. apikey's LWLocks are the tranche \"apikey\" (src/shmem.c), seen as wait_event_type = 'LWLock' and wait_event LIKE 'apikey%'."
detail ""
detail "| | count |"
detail "|---|---:|"
detail "| samples | $W_SAMPLES |"
detail "| backends seen waiting on an apikey LWLock (sum over samples) | $W_APIKEY |"
detail "| samples with at least one such waiter | $W_SAMPLES_APIKEY |"
detail "| active client backends seen (sum over samples) | $W_ACTIVE |"
detail "| backends seen waiting on any LWLock (sum) | $W_LWLOCK |"
detail "| backends seen waiting on a heavyweight lock (sum) | $W_LOCK |"
detail "| last-used notes dropped (apikey_stats().last_used_dropped, change over the runs) | $DROPS |"
detail "| last-used notes written (apikey_stats().last_used_written, change over the runs) | $WRITTEN |"
detail ""

phase ""
T_END=$(date +%s)
WALL=$((T_END - T_START))

# ---------------------------------------------------------------------------
# Summary
CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
HEADER=(
    "# apikey benchmark results"
    ""
    "- date: $DATE"
    "- machine: nproc $(nproc), CPU ${CPU:-unknown}, $(uname -srm)"
    "- PostgreSQL: $PG_VERSION"
    "- command: \`$BENCH_CMD\`"
    "- apikey: $GIT_NOTE; $PRELOAD_NOTE"
    "- cluster: shared_buffers=$SHARED_BUFFERS, fsync=off, synchronous_commit=off, full_page_writes=on, jit=off; autovacuum paused during pgbench (VACUUM before each run instead)"
    "- sizes: $KEYS keys ($CREATE_RATE keys/s created), $USERS users; $SAMPLE keys per in-backend pass, best of $REPS; pgbench $DURATION s per run, $ROUNDS round(s), clients $CLIENTS_LIST"
    "- wall time: ${WALL} s"
)

TARGETS=(
    "| target (issue 11) | measured | met |"
    "|---|---:|:---:|"
    "| cold apikey_verify <= 1.25x the floor | ${R_COLD_FLOOR}x (${US[cold]} / ${US[floor]} µs) | $(met "$R_COLD_FLOOR" "<=" 1.25) |"
    "| cold apikey_verify >= 1.3x faster than the inlined SQL reference | ${R_SQL_COLD}x (${US[sql]} / ${US[cold]} µs) | $(met "$R_SQL_COLD" ">=" 1.3) |"
    "| cache hit <= 1.0 µs | ${US[hit]} µs | $(met "${US[hit]}" "<=" 1.0) |"
    "| (the same with one statement per key) cold >= 1.3x faster than the inlined SQL reference | $(ratio "${US[loop_sql]}" "${US[loop_cold]}")x (${US[loop_sql]} / ${US[loop_cold]} µs) | $(met "$(ratio "${US[loop_sql]}" "${US[loop_cold]}")" ">=" 1.3) |"
)
for c in $CLIENTS_LIST; do
    TARGETS+=("| pgbench, $c clients: apikey_verify TPS >= 1.2x the SQL reference | ${R_PB[$c]}x ($(fmt_int "$(mean_tps verify-"$c")") / $(fmt_int "$(mean_tps ref_sql-"$c")")) | $(met "${R_PB[$c]}" ">=" 1.2) |")
done
TARGETS+=(
    "| apikey LWLock waits, verify at $MAX_CLIENTS clients (waiters / samples) | $W_APIKEY / $W_SAMPLES | (reported) |"
    "| last-used notes dropped, verify at $MAX_CLIENTS clients | $DROPS | (reported) |"
)

# The block for the README's Performance section (between its bench markers)
README_BLOCK=(
    "<!-- bench:begin (generated by test/bench/run.sh; BENCH_UPDATE_README=1 replaces it) -->"
    "Measured by \`$BENCH_CMD\` on $DATE: $(nproc) cores (${CPU:-unknown CPU}), $(uname -sr), PostgreSQL $PG_SHORT, shared_buffers $SHARED_BUFFERS, fsync off, library $([ "$PRELOAD" = yes ] && echo preloaded || echo "NOT preloaded"), $KEYS keys and $USERS users. One run; other work shared the machine, so read the ratios within the run."
    ""
    "| per verification, in one backend | µs/call | / cold | one statement per key: µs/call | / cold |"
    "|---|---:|---:|---:|---:|"
    "| **\`apikey_verify\`, cold**: keys this backend has not seen before | **${US[cold]}** | 1.00 | **${US[loop_cold]}** | 1.00 |"
    "| \`apikey_verify\`, cold, cache off (\`apikey.verify_cache_size = 0\`) | ${US[cold_nocache]} | $(ratio "${US[cold_nocache]}" "${US[cold]}") | | |"
    "| \`apikey_verify\`, first use of a key (the flush worker writes it meanwhile; one pass) | $US_FIRST | $(ratio "$US_FIRST" "${US[cold]}") | | |"
    "| \`apikey_verify\`, cache hit: the same keys again in the same backend | ${US[hit]} | $(ratio "${US[hit]}" "${US[cold]}") | ${US[loop_hit]} | $(ratio "${US[loop_hit]}" "${US[loop_cold]}") |"
    "| SQL reference, \`STABLE\`, inlined by the planner | ${US[sql]} | $(ratio "${US[sql]}" "${US[cold]}") | ${US[loop_sql]} | $(ratio "${US[loop_sql]}" "${US[loop_cold]}") |"
    "| the same SQL declared \`VOLATILE\` (not inlined) | ${US[sql_volatile]} | $(ratio "${US[sql_volatile]}" "${US[cold]}") | | |"
    "| PL/pgSQL reference | ${US[plpgsql]} | $(ratio "${US[plpgsql]}" "${US[cold]}") | ${US[loop_plpgsql]} | $(ratio "${US[loop_plpgsql]}" "${US[loop_cold]}") |"
    "| floor: SHA-256 + the two index probes in a C loop | ${US[floor]} | $(ratio "${US[floor]}" "${US[cold]}") | | |"
    ""
    "| pgbench \`-M prepared\`, TPS | $(for c in $CLIENTS_LIST; do printf '%s clients | ' "$c"; done)"
    "|---|$(for c in $CLIENTS_LIST; do printf -- '---:|'; done)"
    "| \`SELECT * FROM apikey_verify(:key)\` | $(for c in $CLIENTS_LIST; do printf '%s | ' "$(fmt_int "$(mean_tps verify-"$c")")"; done)"
    "| \`SELECT * FROM bench_ref_sql(:key)\` (SQL reference, inlined) | $(for c in $CLIENTS_LIST; do printf '%s | ' "$(fmt_int "$(mean_tps ref_sql-"$c")")"; done)"
    "| \`SELECT * FROM apikey.keys WHERE id = :id\` (bare primary-key lookup) | $(for c in $CLIENTS_LIST; do printf '%s | ' "$(fmt_int "$(mean_tps pk-"$c")")"; done)"
    "| verify / SQL reference | $(for c in $CLIENTS_LIST; do printf '%sx | ' "${R_PB[$c]}"; done)"
    ""
    "${TARGETS[@]}"
    "<!-- bench:end -->"
)

TIMINGS=("| phase | seconds |" "|---|---:|")
for i in "${!PHASE_NAMES[@]}"; do TIMINGS+=("| ${PHASE_NAMES[i]} | ${PHASE_SECS[i]} |"); done

{
    printf '%s\n' "${HEADER[@]}" ""
    echo "## Targets"
    echo
    printf '%s\n' "${TARGETS[@]}" ""
    echo "## Details"
    echo
    printf '%s\n' "${DETAILS[@]}"
    echo "## For the README (Performance section)"
    echo
    printf '%s\n' "${README_BLOCK[@]}" ""
    echo "## Phase timings"
    echo
    printf '%s\n' "${TIMINGS[@]}"
} >"$OUT"

if [ -n "${BENCH_UPDATE_README:-}" ]; then
    if grep -q '^<!-- bench:begin' "$ROOT/README.md" && grep -q '^<!-- bench:end -->' "$ROOT/README.md"; then
        printf '%s\n' "${README_BLOCK[@]}" >"$WORK/readme_block.md"
        awk -v f="$WORK/readme_block.md" '
            /^<!-- bench:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
            /^<!-- bench:end -->/ { skip = 0; next }
            !skip { print }' "$ROOT/README.md" >"$WORK/README.md.new"
        cat "$WORK/README.md.new" >"$ROOT/README.md"
        say "README.md: Performance block replaced"
    else
        warn "README.md has no bench markers: not updated"
    fi
fi

echo
say "summary (also in $OUT)"
echo
printf '%s\n' "${HEADER[@]:2}" ""
printf '%s\n' "${TARGETS[@]}" "" "${DETAILS[@]}" "${TIMINGS[@]}"
BENCH_DONE=1
