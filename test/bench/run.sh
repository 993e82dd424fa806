#!/usr/bin/env bash
# make bench: the apikey benchmark, on one throwaway cluster.
#
#   test/bench/run.sh                  defaults (1M keys, 10M big table, 15 s pgbench; ~10-25 min on 2 cores)
#   BENCH_QUICK=1 test/bench/run.sh    small and fast (100k keys, 1M big table, 5 s pgbench)
#
# Builds and installs apikey (make && make install in the repository root),
# starts one cluster (unix socket in a temp dir, listen_addresses='',
# shared_preload_libraries='apikey' when the library can be preloaded), and
# measures, in one run:
#   1. in-backend us per verify at BENCH_KEYS keys: apikey_verify vs a LANGUAGE
#      sql and a plpgsql reference (pgcrypto digest + lookup + user join + CASE)
#   2. pgbench TPS: apikey_verify(key) vs a bare primary-key lookup of the row
#   3. hot keys (BENCH_HOT keys) vs spread keys (BENCH_SPREAD keys): TPS, WAL
#      per 10k verifies, lock waits, apikey_stats()
#   4. bulk create rate (apikey_create in one statement)
#   5. in-backend us per verify at BENCH_SMALL and at BENCH_BIG rows (filler rows)
# then prints a summary against the targets and writes it to BENCH_OUT
# (default test/bench/results.md).  The cluster is removed on exit.
#
# Knobs (environment; defaults in brackets, quick values after the slash):
#   BENCH_QUICK=1           the small preset
#   BENCH_KEYS              real keys created with apikey_create [1000000 / 100000]
#   BENCH_USERS             rows of the users table [100000]
#   BENCH_SAMPLE            keys per in-backend pass, measure 1 [200000 / 50000]
#   BENCH_REPS              in-backend passes per function, best taken [3]
#   BENCH_CLIENTS, BENCH_THREADS, BENCH_TIME, BENCH_PGBENCH_MODE
#                           pgbench -c, -j, -T, -M [4, 2, 15 / 5, prepared]
#   BENCH_ROUNDS            pgbench rounds per pair of runs (A B, B A, ...), TPS averaged [2 / 1]
#   BENCH_HOT, BENCH_SPREAD hot and spread key counts, measure 3 [10, 10000]
#   BENCH_BULK              keys per bulk create statement [20000]
#   BENCH_SMALL, BENCH_BIG  table sizes of measure 5 [100000, 10000000 / 1000000]
#   BENCH_BIG_SAMPLE        keys per in-backend pass, measure 5 [50000 / 20000]
#   BENCH_SHARED_BUFFERS    [512MB]
#   BENCH_NO_PRELOAD=1      do not try shared_preload_libraries='apikey'
#   BENCH_BUILD_RETRIES     retries (60 s apart) when make fails [0]
#   BENCH_OUT               results file [test/bench/results.md]
#   plus test/lib.sh's APIKEY_NO_DEPS, APIKEY_NO_INSTALL, APIKEY_KEEP_CLUSTER, PG_CONFIG
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/test/lib.sh"

T_START=$(date +%s)

# Exact command line, for the results header
cmd_env=$(env | grep -E '^BENCH_[A-Z_]+=' | sort | tr '\n' ' ' || true)
if [ -n "${MAKELEVEL:-}" ]; then
    BENCH_CMD="${cmd_env}make bench"
else
    BENCH_CMD="${cmd_env}test/bench/run.sh${*:+ $*}"
fi

# ---------------------------------------------------------------------------
# Knobs
if [ -n "${BENCH_QUICK:-}" ]; then
    d_keys=100000 d_sample=50000 d_time=5 d_big=1000000 d_bigsample=20000 d_rounds=1
else
    d_keys=1000000 d_sample=200000 d_time=15 d_big=10000000 d_bigsample=50000 d_rounds=2
fi
KEYS=${BENCH_KEYS:-$d_keys}
USERS=${BENCH_USERS:-100000}
SAMPLE=${BENCH_SAMPLE:-$d_sample}
REPS=${BENCH_REPS:-3}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_TIME:-$d_time}
PB_MODE=${BENCH_PGBENCH_MODE:-prepared}
ROUNDS=${BENCH_ROUNDS:-$d_rounds}
HOT=${BENCH_HOT:-10}
SPREAD=${BENCH_SPREAD:-10000}
BULK=${BENCH_BULK:-20000}
SMALL=${BENCH_SMALL:-100000}
BIG=${BENCH_BIG:-$d_big}
BIGSAMPLE=${BENCH_BIG_SAMPLE:-$d_bigsample}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-512MB}
BUILD_RETRIES=${BENCH_BUILD_RETRIES:-0}
OUT=${BENCH_OUT:-$BENCH_DIR/results.md}
BATCH=250000 # keys per apikey_create statement
FILLER_BATCH=1000000

for v in KEYS USERS SAMPLE REPS ROUNDS CLIENTS THREADS DURATION HOT SPREAD BULK SMALL BIG BIGSAMPLE BUILD_RETRIES; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number (got '${!v}')"
done
[ "$SMALL" -le "$KEYS" ] || die "need BENCH_SMALL ($SMALL) <= BENCH_KEYS ($KEYS)"
[ "$KEYS" -le "$BIG" ] || die "need BENCH_KEYS ($KEYS) <= BENCH_BIG ($BIG)"
[ "$SAMPLE" -le "$KEYS" ] || die "need BENCH_SAMPLE ($SAMPLE) <= BENCH_KEYS ($KEYS)"
[ "$BIGSAMPLE" -le "$SMALL" ] || die "need BENCH_BIG_SAMPLE ($BIGSAMPLE) <= BENCH_SMALL ($SMALL)"
[ $((HOT + SPREAD)) -le "$KEYS" ] || die "need BENCH_HOT + BENCH_SPREAD <= BENCH_KEYS"
[ "$USERS" -ge 100 ] || die "need BENCH_USERS >= 100"
{ [ "$REPS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] && [ "$SAMPLE" -ge 1 ] && [ "$BIGSAMPLE" -ge 1 ]; } || die "REPS and samples must be >= 1"

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
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN { if (b > 0) printf f, a / b }'; } # ratio A B [FMT]: empty unless B > 0
# status VALUE OP LIMIT -> PASS / MISS (n/a when VALUE is empty)
status() {
    [ -n "$1" ] || { echo "n/a"; return; }
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        ok = (op == ">=") ? (v >= l) : (op == "<=") ? (v <= l) : (v == l)
        print ok ? "PASS" : "MISS" }'
}

# sql QUERY [psql options]: run QUERY (stdin, so :'var' interpolation works), unaligned tuples
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

# ---------------------------------------------------------------------------
# Setup: users, binding, reference functions, the first BENCH_SMALL keys
phase "setup: users, functions, $SMALL keys"
sql "$(cat "$BENCH_DIR/setup.sql")" -v nusers="$USERS"
HAVE_STATS=$(sql "SELECT to_regprocedure('apikey_stats()') IS NOT NULL")
say "apikey_stats(): $([ "$HAVE_STATS" = t ] && echo present || echo absent)"

CREATE_MS=0 # total ms spent in apikey_create for the real keys
create_keys() { # create_keys LO HI: keys i = LO..HI, in statements of BATCH keys
    local lo=$1 hi=$2 a b r
    for ((a = lo; a <= hi; a += BATCH)); do
        b=$((a + BATCH - 1))
        [ "$b" -le "$hi" ] || b=$hi
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
}
create_keys 1 "$SMALL"
sql "VACUUM ANALYZE apikey.keys; VACUUM ANALYZE bench_keys"

# Waits (up to 60 s) until no last-used note is pending in apikey_stats() and no
# background process (flush worker, autovacuum) is inside a transaction, so that WAL written by
# asynchronous last-used tracking is counted with the run that caused it and
# runs do not bleed into each other.
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
# In-backend measurement: one statement over an array of keys, best of REPS,
# minus the best of an empty loop (the same unnest with a trivial C SRF).
stmt_for() {
    case $1 in
    base) echo "SELECT count(*) FROM unnest(\$1) k, LATERAL string_to_table(k, '') v WHERE v IS NOT NULL" ;;
    apikey_verify_cold) echo "SELECT count(*) FROM unnest(\$1) k, LATERAL apikey_verify(k) v WHERE v.valid" ;;
    *) echo "SELECT count(*) FROM unnest(\$1) k, LATERAL $1(k) v WHERE v.valid" ;;
    esac
}
# Each timed pass runs in a backend that has just verified the same keys
# (bench_ms(..., warm => true)): apikey_verify then answers keys seen before
# from its cache, which holds the whole sample.  apikey_verify_cold is the
# same call with the cache off: every key read from the tables.
session_for() {
    case $1 in
    apikey_verify_cold) echo "SET apikey.verify_cache_size = 0;" ;;
    *) echo "SET apikey.verify_cache_size = 1048576;" ;;
    esac
}
declare -A BEST
measure() { # measure SAMPLE_NAME N FN...: sets BEST[fn] (ms) for base and each FN
    local sample=$1 n=$2 fn r out ms cnt line
    shift 2
    for fn in base "$@"; do BEST[$fn]=; done
    # warm-up pass: caches, and last-used tracking of keys not used recently
    # (the timed passes follow within apikey.last_used_interval, 60 s)
    for fn in base "$@"; do
        out=$(sql "$(session_for "$fn") SELECT ms, n FROM bench_ms(:'stmt', (SELECT keys FROM bench_sample WHERE name = :'sample'))" \
            -v stmt="$(stmt_for "$fn")" -v sample="$sample")
        printf '    warm-up %-18s %10.1f ms\n' "$fn" "${out%|*}"
    done
    settle # let asynchronous last-used tracking write what the warm-up noted
    for ((r = 1; r <= REPS; r++)); do
        line="    pass $r:"
        for fn in base "$@"; do
            out=$(sql "$(session_for "$fn") SELECT ms, n FROM bench_ms(:'stmt', (SELECT keys FROM bench_sample WHERE name = :'sample'), true)" \
                -v stmt="$(stmt_for "$fn")" -v sample="$sample")
            ms=${out%|*}
            cnt=${out#*|}
            [ "$cnt" = "$n" ] || warn "$fn: $cnt of $n keys valid"
            if [ -z "${BEST[$fn]}" ] || awk -v a="$ms" -v b="${BEST[$fn]}" 'BEGIN { exit !(a < b) }'; then
                BEST[$fn]=$ms
            fi
            line+=$(printf ' %s %.1f ms' "$fn" "$ms")
        done
        echo "$line"
    done
}
us_per_call() { calc %.3f "(${BEST[$1]} - ${BEST[base]}) * 1000 / $2"; } # us_per_call FN N

# ---------------------------------------------------------------------------
# Measure 5a: verify at BENCH_SMALL rows
phase "5a. verify at $SMALL keys"
sql "SELECT setseed(0.5);
     INSERT INTO bench_sample
     SELECT 'p5', array_agg(key) FROM (SELECT key FROM bench_keys WHERE i <= $SMALL ORDER BY random() LIMIT $BIGSAMPLE) s"
SMALL_ROWS=$(sql "SELECT count(*) FROM apikey.keys")
measure p5 "$BIGSAMPLE" apikey_verify apikey_verify_cold
US_SMALL=$(us_per_call apikey_verify "$BIGSAMPLE")
US_SMALL_COLD=$(us_per_call apikey_verify_cold "$BIGSAMPLE")
say "apikey_verify at $SMALL_ROWS rows: $US_SMALL us/call (empty loop $(calc %.3f "${BEST[base]} * 1000 / $BIGSAMPLE") us)"

# ---------------------------------------------------------------------------
phase "setup: grow to $KEYS keys"
if [ "$KEYS" -gt "$SMALL" ]; then create_keys $((SMALL + 1)) "$KEYS"; fi
sql "VACUUM ANALYZE apikey.keys; VACUUM ANALYZE bench_keys"
CREATE_RATE=$(ratio "$KEYS" "$(calc %.6f "$CREATE_MS / 1000")" %.0f)
say "created $KEYS keys in $(calc %.1f "$CREATE_MS / 1000") s ($CREATE_RATE keys/s)"

# ---------------------------------------------------------------------------
# Measure 1: in-backend us per verify at BENCH_KEYS keys
phase "1. in-backend verify at $KEYS keys ($SAMPLE keys per pass)"
sql "SELECT setseed(0.25);
     INSERT INTO bench_sample
     SELECT 'p1', array_agg(key) FROM (SELECT key FROM bench_keys ORDER BY random() LIMIT $SAMPLE) s"
ROWS_1=$(sql "SELECT count(*) FROM apikey.keys")
measure p1 "$SAMPLE" apikey_verify apikey_verify_cold bench_ref_sql bench_ref_plpgsql
US_BASE=$(calc %.3f "${BEST[base]} * 1000 / $SAMPLE")
US_C=$(us_per_call apikey_verify "$SAMPLE")
US_COLD=$(us_per_call apikey_verify_cold "$SAMPLE")
R_SQL_COLD=$(ratio "$(us_per_call bench_ref_sql "$SAMPLE")" "$US_COLD" %.2f)
R_PLPGSQL_COLD=$(ratio "$(us_per_call bench_ref_plpgsql "$SAMPLE")" "$US_COLD" %.2f)
US_SQL=$(us_per_call bench_ref_sql "$SAMPLE")
US_PLPGSQL=$(us_per_call bench_ref_plpgsql "$SAMPLE")
R_SQL=$(ratio "$US_SQL" "$US_C" %.2f)
R_PLPGSQL=$(ratio "$US_PLPGSQL" "$US_C" %.2f)
detail "Measure 1 ($ROWS_1 rows in apikey.keys, $SAMPLE keys per pass, best of $REPS, empty loop $US_BASE us/key subtracted):"
detail ""
detail "| function | us/call | ratio to apikey_verify |"
detail "|---|---:|---:|"
detail "| apikey_verify (keys seen before: backend cache) | $US_C | 1.00 |"
detail "| apikey_verify (cache off: every key read from the tables) | $US_COLD | $(ratio "$US_COLD" "$US_C" %.2f) |"
detail "| bench_ref_sql (LANGUAGE sql + pgcrypto) | $US_SQL | $R_SQL |"
detail "| bench_ref_plpgsql | $US_PLPGSQL | $R_PLPGSQL |"
detail ""

# ---------------------------------------------------------------------------
# apikey_stats() and pgbench helpers
# apikey_stats() snapshots (bench_stats_snap) and their difference
stats_snap() { # stats_snap TAG
    [ "$HAVE_STATS" = t ] || return 0
    sql "INSERT INTO bench_stats_snap SELECT :'tag', jsonb_agg(to_jsonb(s)) FROM apikey_stats() s
         ON CONFLICT (tag) DO UPDATE SET j = EXCLUDED.j" -v tag="$1"
}
stats_diff() { # stats_diff BEFORE AFTER: 'column=delta ...' for the numeric columns that changed
    [ "$HAVE_STATS" = t ] || { echo "n/a (no apikey_stats())"; return 0; }
    sql "WITH e AS (
           SELECT s.tag, r.o, kv.key, kv.value
             FROM bench_stats_snap s, jsonb_array_elements(s.j) WITH ORDINALITY r(v, o), jsonb_each(r.v) kv)
         SELECT coalesce(string_agg(a.key || '=' ||
                    ((a.value #>> '{}')::numeric - (b.value #>> '{}')::numeric)::text, ' ' ORDER BY a.o, a.key),
                    'no change')
           FROM e a JOIN e b ON b.tag = :'b' AND b.o = a.o AND b.key = a.key
          WHERE a.tag = :'a' AND jsonb_typeof(a.value) = 'number' AND jsonb_typeof(b.value) = 'number'
            AND a.value <> b.value" -v a="$2" -v b="$1"
}
run_pgbench() { # run_pgbench NAME SCRIPT LO HI: sets PB_TPS, PB_TXNS
    local name=$1 script=$2 lo=$3 hi=$4 log=$WORK/pgbench-$1.log rc=0
    "$PGBIN/pgbench" -n -M "$PB_MODE" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
        -D lo="$lo" -D hi="$hi" -f "$script" >"$log" 2>&1 || rc=$?
    PB_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$log")
    PB_TXNS=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
    if [ "$rc" -ne 0 ] || [ -z "$PB_TPS" ]; then
        warn "pgbench $name failed (exit $rc):"
        tail -n 20 "$log" >&2
        PB_TPS=${PB_TPS:-0}
        PB_TXNS=${PB_TXNS:-0}
    fi
}
PB_DESC="pgbench -n -M $PB_MODE -c $CLIENTS -j $THREADS -T $DURATION"

# pb_run NAME SCRIPT LO HI: one pgbench run of the script over keys LO..HI, with
# lock-wait sampling, WAL and apikey_stats(); accumulates into the AGG_* arrays.
declare -A AGG_TPS AGG_N AGG_TXNS AGG_WAL AGG_STATS
pb_run() {
    local name=$1 script=$2 lo=$3 hi=$4 run lsn0 wal row d
    AGG_N[$name]=$((${AGG_N[$name]:-0} + 1))
    run=$name-${AGG_N[$name]}
    sql "VACUUM apikey.keys" # every run starts from the same clean table
    settle
    stats_snap "$run-before"
    lsn0=$(sql "SELECT pg_current_wal_insert_lsn()")
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "CALL bench_sample_locks('$run', $DURATION)" \
        >"$WORK/sampler-$run.log" 2>&1 &
    SAMPLER_PID=$!
    run_pgbench "$run" "$script" "$lo" "$hi"
    wait "$SAMPLER_PID" || { warn "lock sampler failed:"; cat "$WORK/sampler-$run.log" >&2; }
    SAMPLER_PID=
    settle
    wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0')")
    stats_snap "$run-after"
    AGG_TPS[$name]=$(calc %.3f "${AGG_TPS[$name]:-0} + $PB_TPS")
    AGG_TXNS[$name]=$((${AGG_TXNS[$name]:-0} + PB_TXNS))
    AGG_WAL[$name]=$(calc %.0f "${AGG_WAL[$name]:-0} + $wal")
    row=$(sql "SELECT samples || ' samples, ' || samples_waiting || ' with a lock wait, ' || not_granted || ' locks not granted'
                 FROM bench_lockwaits WHERE run = '$run'")
    d=$(stats_diff "$run-before" "$run-after")
    AGG_STATS[$name]+="${AGG_STATS[$name]:+; }round ${AGG_N[$name]}: $d"
    say "$run: $(fmt_int "$PB_TPS") tps, $PB_TXNS transactions, WAL $wal bytes, ${row:-no lock samples}; apikey_stats(): $d"
}
# pb_pair A SCRIPT_A LO_A HI_A B SCRIPT_B LO_B HI_B: ROUNDS rounds, order A B B A A B ...
pb_pair() {
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then
            pb_run "$1" "$2" "$3" "$4"
            pb_run "$5" "$6" "$7" "$8"
        else
            pb_run "$5" "$6" "$7" "$8"
            pb_run "$1" "$2" "$3" "$4"
        fi
    done
}
mean_tps() { calc %.1f "${AGG_TPS[$1]} / ${AGG_N[$1]}"; }
wal_kb_10k() { calc %.3f "${AGG_WAL[$1]} / 1024 / (${AGG_TXNS[$1]} > 0 ? ${AGG_TXNS[$1]} : 1) * 10000"; }
locks() { # locks NAME: samples|samples_waiting|lock_waiters|not_granted|lwlock_waiters, summed over its runs
    sql "SELECT coalesce(sum(samples), 0), coalesce(sum(samples_waiting), 0), coalesce(sum(lock_waiters), 0),
                coalesce(sum(not_granted), 0), coalesce(sum(lwlock_waiters), 0)
           FROM bench_lockwaits WHERE run LIKE :'p'" -v p="$1-%"
}
pb_row() { # pb_row NAME LABEL: a markdown row of the measure 2/3 tables
    local s w lw ng lwl
    IFS='|' read -r s w lw ng lwl <<<"$(locks "$1")"
    echo "| $2 | $(fmt_int "$(mean_tps "$1")") | $(wal_kb_10k "$1") | $s | $w | $lw | $ng | $lwl |"
}
PB_HEAD="| run | TPS (mean of $ROUNDS) | WAL KB per 10k transactions | lock samples | samples with a lock wait | Lock waiters (sum) | pg_locks not granted (sum) | LWLock waiters (sum, info) |"
PB_SEP="|---|---:|---:|---:|---:|---:|---:|---:|"

phase "2. pgbench: verify vs primary-key lookup ($KEYS keys)"
# autovacuum is paused during measures 2 and 3 (each run starts after an explicit
# VACUUM instead), so that it neither steals one of the cores nor adds its WAL
# to whichever run it overlaps
sql "ALTER SYSTEM SET autovacuum = off"
sql "SELECT pg_reload_conf()" >/dev/null
pb_pair pk "$BENCH_DIR/pk.pgbench" 1 "$KEYS" verify "$BENCH_DIR/verify.pgbench" 1 "$KEYS"
TPS_PK=$(mean_tps pk)
TPS_VERIFY=$(mean_tps verify)
R_PGBENCH=$(ratio "$TPS_VERIFY" "$TPS_PK")
detail "Measure 2 ($PB_DESC, $ROUNDS round(s) in A B B A order, random key among $KEYS; both scripts look the key up in bench_keys first):"
detail ""
detail "$PB_HEAD"
detail "$PB_SEP"
detail "$(pb_row pk 'SELECT * FROM apikey.keys WHERE id = (...)')"
detail "$(pb_row verify 'SELECT * FROM apikey_verify((...))')"
detail ""
detail "apikey_stats() change during the verify runs: ${AGG_STATS[verify]:-n/a}"
detail ""

# ---------------------------------------------------------------------------
# Measure 3: hot vs spread keys (spread: the last SPREAD keys; hot: keys 1..HOT)
phase "3. hot keys ($HOT) vs spread keys ($SPREAD)"
pb_pair spread "$BENCH_DIR/verify.pgbench" $((KEYS - SPREAD + 1)) "$KEYS" hot "$BENCH_DIR/verify.pgbench" 1 "$HOT"
TPS_HOT=$(mean_tps hot)
TPS_SPREAD=$(mean_tps spread)
R_HOT=$(ratio "$TPS_HOT" "$TPS_SPREAD")
WAL_HOT=$(wal_kb_10k hot)
IFS='|' read -r HOT_SAMPLES HOT_WAITING HOT_WAITERS HOT_NOTGRANTED HOT_LWLOCK <<<"$(locks hot)"
detail "Measure 3 ($PB_DESC, $ROUNDS round(s) in A B B A order, last-used tracking on, $([ "$PRELOAD" = yes ] && echo preloaded || echo NOT preloaded); lock waits sampled every 100 ms; WAL includes the asynchronous last-used flush after each run):"
detail ""
detail "$PB_HEAD"
detail "$PB_SEP"
detail "$(pb_row spread "spread ($SPREAD keys)")"
detail "$(pb_row hot "hot ($HOT keys)")"
detail ""
detail "apikey_stats() change during the spread runs: ${AGG_STATS[spread]:-n/a}"
detail ""
detail "apikey_stats() change during the hot runs: ${AGG_STATS[hot]:-n/a}"
detail ""
sql "ALTER SYSTEM RESET autovacuum"
sql "SELECT pg_reload_conf()" >/dev/null

# ---------------------------------------------------------------------------
# Measure 4: bulk create
phase "4. bulk create ($BULK keys in one statement)"
out=$(sql "SELECT ms, n FROM bench_ms(:'stmt')" \
    -v stmt="SELECT count(*) FROM generate_series(1, $BULK) g, LATERAL apikey_create('t1', '1', 'bulk ' || g)")
BULK_MS=${out%|*}
[ "${out#*|}" = "$BULK" ] || warn "bulk create returned ${out#*|} rows, expected $BULK"
BULK_RATE=$(ratio "$BULK" "$(calc %.6f "$BULK_MS / 1000")" %.0f)
say "bulk create: $BULK keys in $(calc %.1f "$BULK_MS") ms = $BULK_RATE keys/s"
detail "Measure 4: $BULK keys in one statement in $(calc %.0f "$BULK_MS") ms (after the $KEYS setup keys); the $KEYS setup keys were created at $CREATE_RATE keys/s in statements of $BATCH."
detail ""

# ---------------------------------------------------------------------------
# Measure 5b: grow to BENCH_BIG rows with filler, measure again
phase "5b. grow to $BIG rows (filler), verify"
rows=$(sql "SELECT count(*) FROM apikey.keys")
filler=$((BIG - rows))
if [ "$filler" -gt 0 ]; then
    for ((a = 1; a <= filler; a += FILLER_BATCH)); do
        b=$((a + FILLER_BATCH - 1))
        [ "$b" -le "$filler" ] || b=$filler
        # distinct, reproducible 32-byte hashes (no key hashes to them), inserted in hash order
        sql "INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, key_hash, environment)
             SELECT 'filler', '0', 'filler', 'ak_live_fill', 'fill', h, 'live'
               FROM (SELECT sha256(convert_to('apikey-bench-filler:' || g, 'UTF8')) AS h
                       FROM generate_series($a, $b) g ORDER BY 1) s"
        say "filler rows $a..$b of $filler"
    done
fi
say "VACUUM ANALYZE apikey.keys"
sql "VACUUM ANALYZE apikey.keys"
BIG_ROWS=$(sql "SELECT count(*) FROM apikey.keys")
say "apikey.keys: $BIG_ROWS rows, $(sql "SELECT pg_size_pretty(pg_table_size('apikey.keys'))") heap, $(sql "SELECT pg_size_pretty(pg_relation_size('apikey.keys_key_hash_idx'))") hash index"
measure p5 "$BIGSAMPLE" apikey_verify apikey_verify_cold
US_BIG=$(us_per_call apikey_verify "$BIGSAMPLE")
US_BIG_COLD=$(us_per_call apikey_verify_cold "$BIGSAMPLE")
R_BIG=$(ratio "$US_BIG" "$US_SMALL")
R_BIG_COLD=$(ratio "$US_BIG_COLD" "$US_SMALL_COLD")
detail "Measure 5 (the same $BIGSAMPLE real keys, best of $REPS, empty loop subtracted): $US_SMALL us/call at $SMALL_ROWS rows, $US_BIG us/call at $BIG_ROWS rows (ratio $R_BIG); cache off: $US_SMALL_COLD and $US_BIG_COLD us/call (ratio $R_BIG_COLD)."
detail ""

phase ""
T_END=$(date +%s)
WALL=$((T_END - T_START))

# ---------------------------------------------------------------------------
# Summary
HOT_LOCKS=${HOT_WAITING:-}
SUMMARY=(
    "| # | measure | result | target | status |"
    "|---|---|---:|---:|:---:|"
    "| 1 | apikey_verify, in-backend, $ROWS_1 keys | $US_C us/call | <= 2 us | $(status "$US_C" "<=" 2) |"
    "| 1 | SQL reference / apikey_verify | ${R_SQL}x ($US_SQL us) | >= 3x | $(status "$R_SQL" ">=" 3) |"
    "| 1 | plpgsql reference / apikey_verify | ${R_PLPGSQL}x ($US_PLPGSQL us) | >= 5x | $(status "$R_PLPGSQL" ">=" 5) |"
    "| 1 | (cache off) apikey_verify us/call; SQL and plpgsql ratios | $US_COLD us; ${R_SQL_COLD}x, ${R_PLPGSQL_COLD}x | (no target) | - |"
    "| 2 | pgbench TPS verify / PK lookup | $R_PGBENCH ($(fmt_int "$TPS_VERIFY") / $(fmt_int "$TPS_PK")) | >= 0.85 | $(status "$R_PGBENCH" ">=" 0.85) |"
    "| 3 | TPS hot ($HOT keys) / spread ($SPREAD keys) | $R_HOT ($(fmt_int "$TPS_HOT") / $(fmt_int "$TPS_SPREAD")) | >= 0.9 | $(status "$R_HOT" ">=" 0.9) |"
    "| 3 | WAL per 10k verifies, hot | $WAL_HOT KB | <= 2 KB | $(status "$WAL_HOT" "<=" 2) |"
    "| 3 | lock waits, hot: 100 ms samples with a Lock wait or an ungranted lock | ${HOT_LOCKS:-n/a} of ${HOT_SAMPLES:-?} ($HOT_WAITERS waiters, $HOT_NOTGRANTED not granted, $HOT_LWLOCK LWLock waiters) | 0 | $(status "$HOT_LOCKS" "==" 0) |"
    "| 4 | bulk create | $BULK_RATE keys/s | >= 20000 keys/s | $(status "$BULK_RATE" ">=" 20000) |"
    "| 5 | verify at $BIG_ROWS / at $SMALL_ROWS rows | ${R_BIG}x ($US_BIG / $US_SMALL us) | <= 1.5x | $(status "$R_BIG" "<=" 1.5) |"
    "| 5 | (cache off) verify at $BIG_ROWS / at $SMALL_ROWS rows | ${R_BIG_COLD}x ($US_BIG_COLD / $US_SMALL_COLD us) | (no target) | - |"
)

CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
HEADER=(
    "# apikey benchmark results"
    ""
    "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    "- host: $(uname -srm), CPU: ${CPU:-unknown}, nproc: $(nproc)"
    "- PostgreSQL: $PG_VERSION"
    "- command: \`$BENCH_CMD\`"
    "- apikey: git $GIT_REV$([ "$GIT_DIRTY" -gt 0 ] && echo " + $GIT_DIRTY uncommitted changes"); $PRELOAD_NOTE"
    "- cluster: shared_buffers=$SHARED_BUFFERS, fsync=off, synchronous_commit=off, full_page_writes=on, jit=off (test/lib.sh + run.sh); autovacuum paused in measures 2-3 (VACUUM before each pgbench run instead)"
    "- sizes: $KEYS keys, $USERS users, $SAMPLE keys per in-backend pass (best of $REPS), $BIGSAMPLE keys at $SMALL_ROWS and $BIG_ROWS rows; $PB_DESC, $ROUNDS round(s)"
    "- wall time: ${WALL} s"
)

TIMINGS=("| phase | seconds |" "|---|---:|")
for i in "${!PHASE_NAMES[@]}"; do TIMINGS+=("| ${PHASE_NAMES[i]} | ${PHASE_SECS[i]} |"); done

{
    printf '%s\n' "${HEADER[@]}" ""
    echo "## Summary"
    echo
    printf '%s\n' "${SUMMARY[@]}" ""
    echo "## Details"
    echo
    printf '%s\n' "${DETAILS[@]}"
    echo "## Phase timings"
    echo
    printf '%s\n' "${TIMINGS[@]}"
} >"$OUT"

echo
say "summary (also in $OUT)"
echo
printf '%s\n' "${HEADER[@]:2}" ""
printf '%s\n' "${SUMMARY[@]}" "" "${TIMINGS[@]}"
BENCH_DONE=1
