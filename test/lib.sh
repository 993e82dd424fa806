# shellcheck shell=bash
# Shared helpers for test/run-tests.sh, test/demo.sh and test/suites/*.sh.
# Source it from a bash script that uses `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#   apikey_deps [--clang] [extra-package...]   # install what is missing (apt)
#   apikey_pg_config                           # export PG_CONFIG, PGBIN
#   apikey_build_install                       # make (as you), make install (as root)
#   cluster_start [preload-libs]               # throwaway cluster; exports PGHOST, PGPORT, PGUSER, PGDATABASE
#   as_pguser [-C dir] cmd...                  # run cmd as the unprivileged cluster OS user
#   apikey_on_exit 'shell code'                # cleanup run on exit/interrupt (do not set your own EXIT trap)
#
# Knobs (environment): PG_CONFIG (absolute path), APIKEY_NO_DEPS=1 (skip apt),
# APIKEY_NO_INSTALL=1 (build only; test the apikey already installed),
# APIKEY_PRELOAD (shared_preload_libraries for cluster_start), APIKEY_PG_CONF
# (extra postgresql.conf lines), APIKEY_KEEP_CLUSTER=1 (keep the data dir),
# PGCLIENTBIN (where psql is, when PGBIN is a server without client programs;
# default PGBIN).

# Repository root (this file lives in test/).
APIKEY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export APIKEY_ROOT

APIKEY_PG_MAJOR=${APIKEY_PG_MAJOR:-15}

say()  { printf '==> %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die()  { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------
# Cleanup on exit / interrupt: one trap, a stack of handlers (run last-first).
_APIKEY_CLEANUPS=()
_apikey_run_cleanups() {
    local rc=$? i
    set +e
    for ((i = ${#_APIKEY_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${_APIKEY_CLEANUPS[i]}"
    done
    _APIKEY_CLEANUPS=()
    return "$rc"
}
apikey_on_exit() {
    _APIKEY_CLEANUPS+=("$*")
    trap _apikey_run_cleanups EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

# ---------------------------------------------------------------------------
# Run a command as root: directly, else `sudo -n`, else `sudo` (needs a tty).
as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
        sudo "$@"
    else
        printf '==> ERROR: need root for: %s\n' "$*" >&2
        printf '==>        (not root, and sudo is missing or needs a password without a terminal)\n' >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------
# Dependencies.  apikey_deps [--clang] [extra packages...]
APIKEY_BASE_PKGS=(
    "postgresql-$APIKEY_PG_MAJOR"            # initdb, postgres, pgcrypto
    "postgresql-server-dev-$APIKEY_PG_MAJOR" # pg_config, PGXS, pg_regress, pg_isolation_regress, TAP modules
    libipc-run-perl                          # PostgreSQL::Test::Cluster
    pgbouncer                                # test/suites/pgbouncer.sh (pgbench comes with postgresql-15)
    perl                                     # prove
    python3-psycopg                          # test/t/030: bound parameters through a real driver
    zlib1g-dev                               # test/unit/test_keyfmt: zlib's crc32 as a reference
    libssl-dev                               # src/hashing.c: OpenSSL's libcrypto (SHA-256)
    make
    gcc
)

_pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apikey_deps() {
    local pkgs=("${APIKEY_BASE_PKGS[@]}") missing=() p
    if [ "${1:-}" = "--clang" ]; then pkgs+=(clang libclang-rt-14-dev); shift; fi
    pkgs+=("$@")

    if [ -n "${APIKEY_NO_DEPS:-}" ]; then
        say "APIKEY_NO_DEPS set: not checking packages"
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        warn "no dpkg/apt-get here: make sure these are installed: ${pkgs[*]}"
        return 0
    fi
    for p in "${pkgs[@]}"; do
        _pkg_installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "dependencies present (${pkgs[*]})"
        return 0
    fi

    say "installing missing packages: ${missing[*]}"
    if ! is_root && ! { command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; }; then
        printf '==> ERROR: missing packages: %s\n' "${missing[*]}" >&2
        printf '==>        install them as root:  apt-get install %s\n' "${missing[*]}" >&2
        return 1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null ||
        die "apt-get update failed (missing: ${missing[*]})"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" </dev/null ||
        die "apt-get install failed for: ${missing[*]}"
}

# ---------------------------------------------------------------------------
# PG_CONFIG / PGBIN.  An absolute PG_CONFIG from the environment wins (and must
# exist); a bare "pg_config" is ignored since /usr/bin/pg_config may be another
# major version.
apikey_pg_config() {
    local c="${PG_CONFIG:-}"
    if [[ "$c" == */* && ! -x "$c" ]]; then
        die "PG_CONFIG=$c is not an executable pg_config (unset it to use PostgreSQL $APIKEY_PG_MAJOR's)"
    fi
    if [[ "$c" != */* ]]; then
        c=/usr/lib/postgresql/$APIKEY_PG_MAJOR/bin/pg_config
        [ -x "$c" ] || c=$(command -v pg_config || true)
    fi
    [ -n "$c" ] && [ -x "$c" ] || die "pg_config not found (install postgresql-server-dev-$APIKEY_PG_MAJOR or set PG_CONFIG)"
    PG_CONFIG=$c
    PGBIN=$("$PG_CONFIG" --bindir)
    export PG_CONFIG PGBIN
    [ -x "$PGBIN/initdb" ] || warn "$PGBIN/initdb missing (package postgresql-$APIKEY_PG_MAJOR?)"
}

# ---------------------------------------------------------------------------
# Build as the invoking user, install as root.
apikey_build_install() {
    [ -n "${PG_CONFIG:-}" ] || apikey_pg_config
    say "building with $PG_CONFIG ($("$PG_CONFIG" --version))"
    # explicit || return: set -e is off when this runs inside an `if`
    make -C "$APIKEY_ROOT" -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" APIKEY_WERROR=1 || return 1
    if [ -n "${APIKEY_NO_INSTALL:-}" ]; then
        say "APIKEY_NO_INSTALL set: using the apikey already installed"
        return 0
    fi
    say "installing into $("$PG_CONFIG" --pkglibdir) (as root)"
    as_root make -C "$APIKEY_ROOT" PG_CONFIG="$PG_CONFIG" install || return 1
}

# ---------------------------------------------------------------------------
# Unprivileged OS user for the cluster: yourself, or (as root) postgres,
# or a system user apikeytest created on the fly.
# Sets APIKEY_PGOSUSER and APIKEY_AS_PGUSER (a command prefix, empty unless root;
# handy where a function cannot be used, e.g. under timeout).
apikey_pguser_setup() {
    if [ -n "${APIKEY_PGOSUSER:-}" ] && declare -p APIKEY_AS_PGUSER >/dev/null 2>&1; then
        return 0
    fi
    if ! is_root; then
        APIKEY_PGOSUSER=$(id -un)
    elif id -u postgres >/dev/null 2>&1; then
        APIKEY_PGOSUSER=postgres
    else
        if ! id -u apikeytest >/dev/null 2>&1; then
            say "creating system user apikeytest"
            useradd --system --user-group --home-dir /nonexistent --no-create-home \
                --shell /usr/sbin/nologin apikeytest
        fi
        APIKEY_PGOSUSER=apikeytest
    fi
    export APIKEY_PGOSUSER
    APIKEY_AS_PGUSER=()
    if is_root; then APIKEY_AS_PGUSER=(runuser -u "$APIKEY_PGOSUSER" --); fi
}

# as_pguser [-C dir] cmd...: run as the cluster OS user, in dir (default: /tmp,
# since the checkout may not be readable by that user).
as_pguser() {
    local dir=/tmp
    if [ "${1:-}" = "-C" ]; then dir=$2; shift 2; fi
    apikey_pguser_setup
    (cd "$dir" && "${APIKEY_AS_PGUSER[@]}" "$@")
}

# Give a path to the cluster OS user (no-op when not root).
chown_pguser() {
    apikey_pguser_setup
    if is_root; then chown -R "$APIKEY_PGOSUSER:" "$@"; fi
}

# ---------------------------------------------------------------------------
# Free port: nothing listening on TCP and no socket file in the usual places.
apikey_free_port() {
    local i p start=$((5440 + RANDOM % 50))
    for ((i = 0; i < 60; i++)); do
        p=$((start + i))
        [ -e "/tmp/.s.PGSQL.$p" ] && continue
        [ -e "/var/run/postgresql/.s.PGSQL.$p" ] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        echo "$p"
        return 0
    done
    die "no free port found in 5440-5549"
}

# ---------------------------------------------------------------------------
# Throwaway cluster.  cluster_start [shared_preload_libraries]; returns 1 when
# initdb or the start fails (a `set -e` script stops there).
# Exports PGHOST PGPORT PGUSER PGDATABASE, plus APIKEY_PGDIR (temp dir),
# APIKEY_PGDATA and APIKEY_PGLOG (server log).
cluster_start() {
    local preload=${1-${APIKEY_PRELOAD-}}
    [ -n "${PGBIN:-}" ] || apikey_pg_config
    apikey_pguser_setup

    APIKEY_PGDIR=$(mktemp -d /tmp/apikey-pg.XXXXXX)
    APIKEY_PGDATA=$APIKEY_PGDIR/data
    APIKEY_PGLOG=$APIKEY_PGDIR/postgresql.log
    export APIKEY_PGDIR APIKEY_PGDATA APIKEY_PGLOG
    apikey_on_exit cluster_stop
    chown_pguser "$APIKEY_PGDIR"

    local port
    port=$(apikey_free_port)
    say "starting throwaway cluster in $APIKEY_PGDIR (port $port, OS user $APIKEY_PGOSUSER${preload:+, preload $preload})"

    if ! as_pguser "$PGBIN/initdb" -D "$APIKEY_PGDATA" --auth=trust --encoding=UTF8 \
        --locale=C --no-sync >"$APIKEY_PGDIR/initdb.log" 2>&1; then
        cat "$APIKEY_PGDIR/initdb.log" >&2
        printf '==> ERROR: initdb failed\n' >&2
        return 1
    fi

    cat >>"$APIKEY_PGDATA/postgresql.conf" <<EOF

# --- apikey test settings ---
listen_addresses = ''
unix_socket_directories = '$APIKEY_PGDIR'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_prepared_transactions = 0
shared_preload_libraries = '$preload'
lc_messages = 'C'
log_line_prefix = '%m [%p] %q%a '
log_min_messages = warning
log_min_error_statement = error
${APIKEY_PG_CONF:-}
EOF

    if ! as_pguser "$PGBIN/pg_ctl" -D "$APIKEY_PGDATA" -l "$APIKEY_PGLOG" -w -t 60 start >/dev/null; then
        tail -n 50 "$APIKEY_PGLOG" >&2 || true
        printf '==> ERROR: server did not start\n' >&2
        return 1
    fi

    export PGHOST=$APIKEY_PGDIR PGPORT=$port PGUSER=$APIKEY_PGOSUSER PGDATABASE=postgres
    unset PGHOSTADDR PGSERVICE PGPASSWORD PGOPTIONS || true
    say "cluster up: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER ($("${PGCLIENTBIN:-$PGBIN}/psql" -XAtqc 'SHOW server_version'))"
}

# Last lines of the server log (for failure reports).
cluster_log_tail() {
    [ -n "${APIKEY_PGLOG:-}" ] && [ -f "$APIKEY_PGLOG" ] || return 0
    say "last ${1:-40} lines of the server log ($APIKEY_PGLOG):"
    tail -n "${1:-40}" "$APIKEY_PGLOG" || true
}

# Stop the cluster and remove its directory; safe to call twice.
cluster_stop() {
    [ -n "${APIKEY_PGDIR:-}" ] || return 0
    if [ -f "$APIKEY_PGDATA/postmaster.pid" ]; then
        as_pguser "$PGBIN/pg_ctl" -D "$APIKEY_PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_pguser "$PGBIN/pg_ctl" -D "$APIKEY_PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
            warn "could not stop the server in $APIKEY_PGDATA"
    fi
    if [ -n "${APIKEY_KEEP_CLUSTER:-}" ]; then
        say "APIKEY_KEEP_CLUSTER set: keeping $APIKEY_PGDIR"
    else
        rm -rf "$APIKEY_PGDIR"
    fi
    APIKEY_PGDIR=
}
