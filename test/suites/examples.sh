#!/usr/bin/env bash
# examples: the two example applications (examples/node on node-postgres,
# examples/python on psycopg 3), each started on 127.0.0.1 against a throwaway
# cluster (preloaded) with examples/schema.sql, and driven with real HTTP
# requests: own tenant's rows only, 401 for a missing, malformed or revoked
# key, admin routes acting for a manager (create, list, rotate, revoke) and
# 403 for a non-manager, the old key valid within the rotation's grace, 429
# with Retry-After for a key over its rate limit (1.2).
#
# Installs what it needs: nodejs/npm (apt, when no npm is on PATH) and
# python3-psycopg through apikey_deps (test/lib.sh), node-postgres with `npm ci`
# into examples/node/node_modules (npm cache under /var/cache/apikey/npm as root,
# else ~/.cache/apikey/npm).  The apps run as the invoking user and are killed
# on exit.  Knob: APIKEY_EXAMPLES (default "node python").
# Last line: "N passed, N failed".
set -euo pipefail

SUITE_DIR=$(cd "$(dirname "$0")" && pwd)
. "$SUITE_DIR/../lib.sh"
EXAMPLES=$APIKEY_ROOT/examples
APPS=${APIKEY_EXAMPLES:-node python}
PY=/usr/bin/python3   # Debian's python3-psycopg lives there, not in another python3 on PATH

N_PASS=0
N_FAIL=0
FINISHED=no
# t_result 0|1 DESCRIPTION: one TAP line, counted
t_result() {
    if [ "$1" -eq 0 ]; then
        N_PASS=$((N_PASS + 1))
        printf 'ok %d - %s\n' $((N_PASS + N_FAIL)) "$2"
    else
        N_FAIL=$((N_FAIL + 1))
        printf 'not ok %d - %s\n' $((N_PASS + N_FAIL)) "$2"
    fi
}
t_done() {
    [ "$FINISHED" = yes ] || t_result 1 "the suite ran to its end"
    printf '\n%d passed, %d failed\n' "$N_PASS" "$N_FAIL"
}
apikey_on_exit t_done   # registered first: runs last

WORK=$(mktemp -d /tmp/apikey-examples.XXXXXX)
apikey_on_exit "rm -rf '$WORK'"

# --- dependencies ------------------------------------------------------------
apikey_pg_config
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    apikey_deps                 # python3-psycopg is one of the base packages
else
    apikey_deps nodejs npm      # Debian's nodejs has no npm of its own
fi
if is_root; then NPM_CACHE=${APIKEY_CACHE:-/var/cache/apikey}/npm; else NPM_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/apikey/npm; fi
say "npm ci in examples/node (node $(node --version), npm $(npm --version), cache $NPM_CACHE)"
if (cd "$EXAMPLES/node" && npm ci --no-audit --no-fund --loglevel=error --cache "$NPM_CACHE") </dev/null; then
    t_result 0 "npm ci: node-postgres $(cd "$EXAMPLES/node" && node -p 'require("pg/package.json").version')"
else
    t_result 1 "npm ci in examples/node"
fi
if "$PY" -c 'import psycopg' 2>/dev/null; then
    t_result 0 "psycopg $("$PY" -c 'import psycopg; print(psycopg.__version__)') for $PY"
else
    t_result 1 "psycopg importable by $PY (package python3-psycopg)"
fi

# --- the cluster and the schema ----------------------------------------------
cluster_start apikey
su_sql() { "${PGCLIENTBIN:-$PGBIN}/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
if su_sql -f "$EXAMPLES/schema.sql" >/dev/null; then
    t_result 0 "examples/schema.sql: users, orders under RLS, roles app_api and app_admin"
else
    t_result 1 "examples/schema.sql"
    exit 1
fi

# mint TENANT USER NAME: "id key" of a new key, made by the superuser
mint() { su_sql -F ' ' -c "SELECT id, key FROM apikey_create('$1', '$2', '$3')"; }

# --- HTTP --------------------------------------------------------------------
# req METHOD URL AUTH [JSON]: AUTH is a key, "-" for no header, or "raw:<value>".
# Sets STATUS, BODY and HEADERS (the response's, lower-cased names).
req() {
    local args=(-s -S --max-time 20 -X "$1" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}')
    case $3 in
        -) ;;
        raw:*) args+=(-H "Authorization: ${3#raw:}") ;;
        *) args+=(-H "Authorization: Bearer $3") ;;
    esac
    if [ $# -ge 4 ]; then args+=(-H 'Content-Type: application/json' --data-binary "$4"); fi
    STATUS=$(curl "${args[@]}" "$2" 2>"$WORK/curl.err") || STATUS=000
    BODY=$(cat "$WORK/body" 2>/dev/null || true)
    HEADERS=$(tr -d '\r' <"$WORK/headers" 2>/dev/null | tr 'A-Z' 'a-z' || true)
}
# expect STATUS DESCRIPTION [jq filter that must print true on the body]
expect() {
    local want=$1 what=$2 filter=${3:-} ok=0
    [ "$STATUS" = "$want" ] || ok=1
    if [ "$ok" -eq 0 ] && [ -n "$filter" ]; then
        [ "$(jq -r "$filter" <<<"$BODY" 2>/dev/null)" = true ] || ok=1
    fi
    if [ "$ok" -eq 0 ]; then
        t_result 0 "$what"
    else
        t_result 1 "$what (HTTP $STATUS: ${BODY:0:300})"
    fi
}

# --- the apps ----------------------------------------------------------------
# start_app NAME DIR CMD...: on a free port; sets BASE
start_app() {
    local name=$1 dir=$2 port pid i
    shift 2
    port=$(apikey_free_port)
    (cd "$dir" && exec env PORT="$port" APP_DB_USER=app_api ADMIN_DB_USER=app_admin "$@") \
        </dev/null >"$WORK/$name.log" 2>&1 &
    pid=$!
    apikey_on_exit "stop_app $pid"
    BASE=http://127.0.0.1:$port
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        grep -q '^listening on' "$WORK/$name.log" && return 0
        sleep 0.1
    done
    cat "$WORK/$name.log"
    return 1
}
stop_app() {
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

# app_checks NAME: everything above, against $BASE
app_checks() {
    local n=$1 a_owner a_member b_owner b_member revoked new newid rot rotid bid i
    read -r _ a_owner <<<"$(mint acme 1 "$n: Ann")"
    read -r _ a_member <<<"$(mint acme 2 "$n: Bob")"
    read -r _ b_owner <<<"$(mint globex 3 "$n: Dan")"
    read -r bid b_member <<<"$(mint globex 4 "$n: Eve")"
    read -r i revoked <<<"$(mint acme 2 "$n: revoked")"
    su_sql -c "SELECT apikey_revoke($i, 'examples suite')" >/dev/null

    # reading under RLS, in one transaction
    req GET "$BASE/orders" "$a_member"
    expect 200 "$n: a valid key reads its own tenant's rows, and only those" \
        '.tenant_id == "acme" and .user_id == "2" and (.orders | length) == 3 and all(.orders[]; .tenant_id == "acme")'
    expect 200 "$n: bigint ids above 2^53 arrive exact, as strings" \
        '[.orders[].id] == ["9007199254740993", "9007199254740994", "9007199254740995"] and .orders[0].total == "899.00"'
    req GET "$BASE/orders" "$b_member"
    expect 200 "$n: another tenant's key sees its rows, never acme's" \
        '.tenant_id == "globex" and (.orders | length) == 2 and all(.orders[]; .tenant_id == "globex")'

    # 401s
    req GET "$BASE/orders" -
    expect 401 "$n: no Authorization header: 401"
    grep -q '^www-authenticate: bearer' <<<"$HEADERS" && i=0 || i=1
    t_result "$i" "$n: the 401 says WWW-Authenticate: Bearer"
    req GET "$BASE/orders" "raw:Basic YWxhZGRpbjpvcGVuc2VzYW1l"
    expect 401 "$n: another scheme: 401"
    req GET "$BASE/orders" "ak_live_not-a-key"
    expect 401 "$n: a malformed key: 401 (PT401)"
    req GET "$BASE/orders" "${a_member%????}AAAA"
    expect 401 "$n: a key with a wrong checksum: 401"
    req GET "$BASE/orders" "$revoked"
    expect 401 "$n: a revoked key: 401"

    # admin routes, acting for the key's user
    req GET "$BASE/admin/keys" "$a_member"
    expect 403 "$n: a non-manager actor may not list keys: 403 (42501)"
    req POST "$BASE/admin/keys" "$a_member" '{"user_id": "2", "name": "by a member"}'
    expect 403 "$n: a non-manager actor may not create keys: 403"
    req GET "$BASE/admin/keys" "$revoked"
    expect 401 "$n: the admin routes refuse a revoked key too: 401"

    req POST "$BASE/admin/keys" "$a_owner" "{\"user_id\": \"2\", \"name\": \"$n: CI\"}"
    expect 201 "$n: a manager creates a key for a user of the tenant: 201" \
        '(.id | test("^[0-9]+$")) and (.key | startswith("ak_live_")) and .prefix == .key[0:12]'
    new=$(jq -r .key <<<"$BODY")
    newid=$(jq -r .id <<<"$BODY")
    req GET "$BASE/orders" "$new"
    expect 200 "$n: the new key works" '.tenant_id == "acme" and .user_id == "2"'
    req POST "$BASE/admin/keys" "$a_owner" '{"user_id": "4", "name": "not ours"}'
    expect 422 "$n: a user of another tenant is no user (23503): 422"
    req POST "$BASE/admin/keys" "$a_owner" '{"user_id": 2'
    expect 400 "$n: a body that is not JSON: 400"

    req GET "$BASE/admin/keys" "$a_owner"
    expect 200 "$n: a manager lists the tenant's keys, never a secret" \
        "any(.keys[]; .id == \"$newid\" and .status == \"valid\") and all(.keys[]; has(\"key\") | not) and all(.keys[]; .id != \"$bid\")"
    req GET "$BASE/admin/keys" "$b_owner"
    expect 200 "$n: another tenant's manager does not see them" \
        "all(.keys[]; .id != \"$newid\") and any(.keys[]; .id == \"$bid\")"

    req POST "$BASE/admin/keys/$newid/rotate" "$a_owner" '{"grace": "1 hour"}'
    expect 201 "$n: a manager rotates the key: 201" \
        "(.id | test(\"^[0-9]+\$\")) and .rotated_from == \"$newid\" and .id != \"$newid\""
    rot=$(jq -r .key <<<"$BODY")
    rotid=$(jq -r .id <<<"$BODY")
    req GET "$BASE/orders" "$rot"
    expect 200 "$n: the rotated key works" '.tenant_id == "acme"'
    req GET "$BASE/orders" "$new"
    expect 200 "$n: the old key still works within the grace period" '.tenant_id == "acme"'
    req POST "$BASE/admin/keys/$rotid/rotate" "$a_owner" '{"grace": "-1 hours"}'
    expect 400 "$n: a negative grace (22023): 400"
    req POST "$BASE/admin/keys/$newid/rotate" "$a_owner"
    expect 409 "$n: rotating a key that has a successor (55000): 409"

    req POST "$BASE/admin/keys/$rotid/revoke" "$a_owner" '{"reason": "examples suite"}'
    expect 200 "$n: a manager revokes by id with untyped parameters: true" ".revoked == true and .id == \"$rotid\""
    req GET "$BASE/orders" "$rot"
    expect 401 "$n: the revoked key: 401"
    req POST "$BASE/admin/keys/$rotid/revoke" "$a_owner"
    expect 200 "$n: revoking it again: false" '.revoked == false'
    req POST "$BASE/admin/keys/$bid/revoke" "$a_owner" '{"reason": "not ours"}'
    expect 404 "$n: another tenant's key looks missing (P0002): 404"
    req GET "$BASE/orders" "$b_member"
    expect 200 "$n: and it still works" '.tenant_id == "globex"'
    req POST "$BASE/admin/keys/9999999999999999999/revoke" "$a_owner"
    expect 400 "$n: an id beyond bigint (22003): 400"

    # rate limits (1.2): PT429 -> 429 with Retry-After
    read -r i new <<<"$(mint acme 2 "$n: limited")"
    su_sql -c "SELECT apikey_update($i, rate_limit => 2, rate_window => '1 hour')" >/dev/null
    for _ in 1 2 3 4; do
        req GET "$BASE/orders" "$new"
        [ "$STATUS" = 200 ] || break
    done
    expect 429 "$n: a rate-limited key (2 per hour, 4 requests): 429"
    grep -Eq '^retry-after: [1-9][0-9]*$' <<<"$HEADERS" && i=0 || i=1
    t_result "$i" "$n: the 429 has Retry-After in whole seconds ($(grep '^retry-after' <<<"$HEADERS" || echo none))"

    # nothing secret in the app's log
    if grep -qF -e "$a_owner" -e "$a_member" -e "$new" -e "$rot" "$WORK/$n.log"; then i=1; else i=0; fi
    t_result "$i" "$n: no key in the app's output"
}

# The trap the node app avoids: two pool.query() calls are two transactions,
# so the second sees no tenant: 0 rows and no error.  (The key goes through the
# environment, never the command line.)
if [[ " $APPS " == *" node "* ]]; then
    read -r _ trapkey <<<"$(mint acme 1 "node: the trap")"
    out=$(cd "$EXAMPLES/node" && KEY=$trapkey node -e '
        const { Pool } = require("pg");
        const pool = new Pool({ user: "app_api", max: 2 });
        (async () => {
            await pool.query("SELECT apikey_authenticate($1)", [process.env.KEY]);
            const { rows } = await pool.query("SELECT * FROM orders");
            console.log(`${rows.length} rows`);
            await pool.end();
        })().catch((err) => { console.log(`error ${err.code}`); process.exit(1); });' 2>&1 || true)
    [ "$out" = "0 rows" ] && i=0 || i=1
    t_result "$i" "node: authenticate and SELECT as two pool.query() calls: 0 rows, no error ($out)"
fi

for app in $APPS; do
    case $app in
        node) cmd=(node server.js) ;;
        python) cmd=("$PY" server.py) ;;
        *) die "APIKEY_EXAMPLES: unknown app $app (node, python)" ;;
    esac
    if start_app "$app" "$EXAMPLES/$app" "${cmd[@]}"; then
        t_result 0 "$app: listening on $BASE"
        app_checks "$app"
    else
        t_result 1 "$app: the app started"
    fi
done

FINISHED=yes
[ "$N_FAIL" -eq 0 ]
