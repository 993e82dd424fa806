#!/usr/bin/env bash
# pgbouncer: apikey_authenticate's request context behind a real pgbouncer in
# transaction pooling mode.  Many clients share a few server connections; each
# transaction authenticates a random tenant's key and must see exactly that
# tenant's rows of an RLS-protected table, and no transaction may ever start
# with a context left behind by another.
#
# Runs against the cluster of test/run-tests.sh (PGHOST, PGPORT, PGUSER), or
# starts a throwaway one when PGPORT is not set.  Installs nothing: pgbouncer
# comes from apikey_deps (test/lib.sh).  pgbouncer runs as the unprivileged
# cluster OS user, on a unix socket in a temporary directory, and is stopped
# on exit.  Knobs: APIKEY_PGB_SECONDS (pgbench duration, default 10),
# APIKEY_PGB_CLIENTS (default 20), APIKEY_PGB_TENANTS (default 20).
# Last line: "N passed, N failed".
set -euo pipefail

SUITE_DIR=$(cd "$(dirname "$0")" && pwd)
. "$SUITE_DIR/../lib.sh"

SECONDS_RUN=${APIKEY_PGB_SECONDS:-10}
CLIENTS=${APIKEY_PGB_CLIENTS:-20}
TENANTS=${APIKEY_PGB_TENANTS:-20}
ROWS=5              # rows per tenant
POOL_SIZE=4         # server connections pgbouncer may open: far fewer than clients
DB=apikey_pgbouncer
APP=apikey_pgb_app  # the application's login role (cluster-wide: dropped at the end)

PASS=0
FAIL=0
DONE=
ok()    { PASS=$((PASS + 1)); echo "ok $((PASS + FAIL)) - $*"; }
notok() { FAIL=$((FAIL + 1)); echo "not ok $((PASS + FAIL)) - $*"; }
check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
    local d=$1
    shift
    if "$@"; then ok "$d"; else notok "$d"; fi
}
summary() {
    if [ -z "$DONE" ]; then
        FAIL=$((FAIL + 1))
        echo "not ok $((PASS + FAIL)) - the suite stopped early"
    fi
    echo
    echo "$PASS passed, $FAIL failed"
}
# cleanups run last-first: the summary is registered first so it prints last
apikey_on_exit summary

# --- the cluster -------------------------------------------------------------
apikey_pg_config
apikey_pguser_setup
if [ -z "${PGPORT:-}" ] || [ -z "${PGHOST:-}" ]; then
    cluster_start
fi
: "${PGUSER:=$APIKEY_PGOSUSER}"
export PGUSER

PGBOUNCER=$(command -v pgbouncer || true)
[ -n "$PGBOUNCER" ] || [ ! -x /usr/sbin/pgbouncer ] || PGBOUNCER=/usr/sbin/pgbouncer
if [ -z "$PGBOUNCER" ]; then
    notok "pgbouncer is installed (package pgbouncer, from apikey_deps in test/lib.sh)"
    DONE=1
    exit 1
fi
ok "pgbouncer found: $PGBOUNCER ($("$PGBOUNCER" --version 2>/dev/null | head -n 1))"

# superuser, straight to the cluster
su_psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# --- the database ------------------------------------------------------------
drop_everything() {
    "$PGBIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    "$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1 || true
}
drop_everything
apikey_on_exit drop_everything
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
if su_psql -v tenants="$TENANTS" -v rows="$ROWS" -v app="$APP" -f "$SUITE_DIR/pgbouncer/setup.sql" >/dev/null; then
    ok "setup: $TENANTS tenants, one key each, $ROWS rows each in an RLS-protected table, role $APP"
else
    notok "setup"
    DONE=1
    exit 1
fi

# --- pgbouncer ---------------------------------------------------------------
BDIR=$(mktemp -d /tmp/apikey-pgbouncer.XXXXXX)
BPORT=6432          # only names the socket file, in our own directory
chmod 755 "$BDIR"
apikey_on_exit "rm -rf '$BDIR'"
cat >"$BDIR/userlist.txt" <<EOF
"$APP" ""
"$PGUSER" ""
EOF
cat >"$BDIR/pgbouncer.ini" <<EOF
[databases]
$DB = host=$PGHOST port=$PGPORT dbname=$DB

[pgbouncer]
unix_socket_dir = $BDIR
listen_port = $BPORT
auth_type = trust
auth_file = $BDIR/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = $((CLIENTS * 2 + 10))
max_db_connections = $POOL_SIZE
ignore_startup_parameters = extra_float_digits
logfile = $BDIR/pgbouncer.log
pidfile = $BDIR/pgbouncer.pid
EOF
chown_pguser "$BDIR"

stop_pgbouncer() {
    local pid i
    [ -f "$BDIR/pgbouncer.pid" ] || return 0
    pid=$(cat "$BDIR/pgbouncer.pid" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    warn "pgbouncer (pid $pid) did not stop"
}
apikey_on_exit stop_pgbouncer

say "starting pgbouncer as $APIKEY_PGOSUSER on $BDIR/.s.PGSQL.$BPORT (pool_mode transaction, $POOL_SIZE server connections)"
as_pguser "$PGBOUNCER" -d -q "$BDIR/pgbouncer.ini" || true
for ((i = 0; i < 100; i++)); do
    [ -S "$BDIR/.s.PGSQL.$BPORT" ] && [ -s "$BDIR/pgbouncer.pid" ] && break
    sleep 0.1
done

# the application, through pgbouncer
app_psql() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$BDIR" -p "$BPORT" -U "$APP" -d "$DB" "$@"; }

if [ -S "$BDIR/.s.PGSQL.$BPORT" ] && [ "$(app_psql -c 'SELECT 1' 2>&1)" = 1 ]; then
    ok "pgbouncer is up and lets $APP in"
else
    notok "pgbouncer is up and lets $APP in"
    tail -n 20 "$BDIR/pgbouncer.log" 2>/dev/null || true
    DONE=1
    exit 1
fi

# one request by hand: tenant 1 sees its own rows only
out=$(app_psql <<'EOF' 2>&1 || true
BEGIN;
SELECT status FROM keys_by_tenant k, LATERAL apikey_authenticate(k.key) WHERE k.n = 1;
SELECT string_agg(DISTINCT tenant_id, ',') || ' ' || count(*) FROM orders;
END;
SELECT coalesce(current_setting('apikey.tenant_id', true), '') || '|' || count(*) FROM orders;
EOF
)
expected=$(printf 'valid\nt01 %s\n|0' "$ROWS")
if [ "$out" = "$expected" ]; then
    ok "one request through pgbouncer: own rows only, nothing after COMMIT"
else
    notok "one request through pgbouncer: own rows only, nothing after COMMIT (got: $(echo "$out" | tr '\n' ' '))"
fi

# the key is not valid: PT401, nothing visible
out=$(app_psql -c "SELECT apikey_authenticate('ak_live_short')" 2>&1 || true)
if grep -q 'invalid API key' <<<"$out"; then
    ok "a bad key through pgbouncer: invalid API key"
else
    notok "a bad key through pgbouncer: invalid API key (got: $out)"
fi

# --- the load ----------------------------------------------------------------
say "pgbench: $CLIENTS clients, 2 threads, ${SECONDS_RUN}s, extended protocol, through pgbouncer"
PGB_LOG=$BDIR/pgbench.log
set +e
"$PGBIN/pgbench" -n -h "$BDIR" -p "$BPORT" -U "$APP" -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" -M extended \
    -D tenants="$TENANTS" -D rows="$ROWS" \
    -f "$SUITE_DIR/pgbouncer/authenticate.sql@8" \
    -f "$SUITE_DIR/pgbouncer/authenticate_rollback.sql@1" \
    -f "$SUITE_DIR/pgbouncer/anonymous.sql@1" \
    "$DB" >"$PGB_LOG" 2>&1
rc=$?
set -e
grep -E '^(transaction type|scaling factor|query mode|number of|latency average|tps|SQL script [0-9])' "$PGB_LOG" || true
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$PGB_LOG")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$PGB_LOG")
aborted=$(grep -c 'aborted' "$PGB_LOG" || true)
if [ "$rc" -eq 0 ] && [ "$aborted" -eq 0 ] && [ "${failed:-0}" -eq 0 ]; then
    ok "pgbench ran without errors or aborted clients"
else
    notok "pgbench ran without errors or aborted clients (exit $rc, $aborted aborted, ${failed:-?} failed)"
    grep -E 'aborted|ERROR|FATAL' "$PGB_LOG" | head -n 20 || true
fi
if [ "${processed:-0}" -gt 0 ]; then
    ok "transactions processed: $processed"
else
    notok "transactions processed: ${processed:-none}"
fi

# the clients really shared server connections
servers=$(su_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$APP' AND datname = '$DB'")
if [ "$servers" -ge 1 ] && [ "$servers" -le "$POOL_SIZE" ]; then
    ok "$CLIENTS clients were served by $servers server connections"
else
    notok "$CLIENTS clients were served by 1 to $POOL_SIZE server connections (found $servers)"
fi

# --- the verdict -------------------------------------------------------------
anomalies() { su_psql -At -c "SELECT count(*) FROM seen WHERE what = '$1'"; }
for what in 'cross-tenant rows' 'wrong context' 'wrong number of own rows' \
    'context before authenticate' 'rows visible before authenticate' \
    'context after an autocommit authenticate' 'rows visible after an autocommit authenticate'; do
    n=$(anomalies "$what")
    if [ "$n" -eq 0 ]; then ok "no '$what'"; else notok "'$what' seen $n times"; fi
done
n=$(su_psql -At -c "SELECT count(*) FROM seen")
if [ "$n" -ne 0 ]; then
    say "anomalies (first 20):"
    su_psql -c "SELECT n, what, detail FROM seen ORDER BY at LIMIT 20"
fi
tenants_served=$(su_psql -At -c "SELECT count(DISTINCT n) FROM served")
if [ "$tenants_served" -eq "$TENANTS" ]; then
    ok "every tenant was served ($(su_psql -At -c 'SELECT count(*) FROM served') committed requests)"
else
    notok "every tenant was served (only $tenants_served of $TENANTS)"
fi

# fresh transactions afterwards, through every pooled server connection: no context left
su_psql -c "TRUNCATE seen"
set +e
"$PGBIN/pgbench" -n -h "$BDIR" -p "$BPORT" -U "$APP" -c "$CLIENTS" -j 2 -t 50 -M simple \
    -f "$SUITE_DIR/pgbouncer/leftover.sql" "$DB" >"$BDIR/leftover.log" 2>&1
rc=$?
set -e
n=$(su_psql -At -c "SELECT count(*) FROM seen")
if [ "$rc" -eq 0 ] && [ "$n" -eq 0 ]; then
    ok "$((CLIENTS * 50)) fresh transactions afterwards: no context left, no rows visible"
else
    notok "fresh transactions afterwards: no context left, no rows visible (pgbench exit $rc, $n anomalies)"
    su_psql -c "SELECT what, detail FROM seen LIMIT 10" || true
    tail -n 5 "$BDIR/leftover.log" || true
fi

DONE=1
[ "$FAIL" -eq 0 ]
