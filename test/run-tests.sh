#!/usr/bin/env bash
# make test: dependencies -> build + install -> throwaway cluster -> every suite
# -> summary.  The last line is always "N passed, N failed"; exit 0 iff none failed.
#
# Suites: unit (test/unit, TAP lines), pg_regress (REGRESS from the Makefile),
# isolation (ISOLATION from the Makefile), TAP (test/t/*.pl via prove), and
# test/suites/*.sh (each ends with its own "N passed, N failed" line).
# PostgreSQL 17 and 18 (PG_MAJORS, default "15 17 18"; `make test PG_MAJORS=15`):
# pg_regress and isolation only, against a private server from test/pgdist.sh,
# each its own summary row; the TAP and extra suites run on 15 only, and say so.
# Knobs: see test/lib.sh; APIKEY_SUITE_TIMEOUT (seconds per suite, default 900).
set -euo pipefail

cd "$(dirname "$0")/.."
. test/lib.sh

SUITE_TIMEOUT=${APIKEY_SUITE_TIMEOUT:-900}
# Interactive: keep suites in our process group so Ctrl-C reaches them.
# Otherwise (CI): timeout gets its own group and kills the whole tree on expiry.
TIMEOUT=(timeout -k 30)
if [ -t 0 ]; then TIMEOUT+=(--foreground); fi
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
LOGDIR=$(mktemp -d /tmp/apikey-logs.XXXXXX)
apikey_on_exit 'rm -rf "$LOGDIR"'

# record SUITE PASS FAIL [note]
record() {
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    SUMMARY+=("$(printf '  %-22s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# Count lines of LOG matching a regex (0 when none).
count() { grep -cE "$2" "$1" || true; }

# run_logged LOG cmd...: run with a timeout, stream output and keep a copy.
run_logged() {
    local log=$1 rc
    shift
    set +e
    "${TIMEOUT[@]}" "$SUITE_TIMEOUT" "$@" </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -ne 124 ] || echo "==> TIMEOUT after ${SUITE_TIMEOUT}s" | tee -a "$log"
    # killed by SIGINT/SIGTERM (Ctrl-C): remember it, the run stops after this suite
    if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then touch "$LOGDIR/interrupted"; fi
    return "$rc"
}

# Variable from the Makefile, evaluated by make itself (so += and wildcards work).
makevar() {
    printf 'print-%%:\n\t@echo $($*)\n' |
        make -s --no-print-directory -f Makefile -f - PG_CONFIG="$PG_CONFIG" "print-$1"
}

print_summary_and_exit() {
    echo
    say "summary"
    printf '%s\n' "${SUMMARY[@]}"
    echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
    exit $((TOTAL_FAIL == 0 ? 0 : 1))
}

# --- setup -------------------------------------------------------------------
PG_MAJORS=${PG_MAJORS:-15 17 18}
for major in $PG_MAJORS; do
    case $major in
        15 | 17 | 18) ;;
        *) die "PG_MAJORS: $major is not one of 15, 17, 18" ;;
    esac
done
apikey_deps --clang   # clang and its fuzzer runtime: test/suites/fuzz.sh
apikey_pg_config

# --- 1. unit tests (TAP output: ok / not ok lines) ----------------------------
suite_unit() {
    local log=$LOGDIR/unit.log rc=0 p f
    if [ ! -f test/unit/Makefile ]; then
        record unit 0 0 "no test/unit/Makefile"
        return
    fi
    say "suite: unit (make -C test/unit run)"
    run_logged "$log" make -C test/unit PG_CONFIG="$PG_CONFIG" run || rc=$?
    p=$(count "$log" '^ok [0-9]')
    f=$(count "$log" '^not ok [0-9]')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record unit "$p" "$f" "$([ "$rc" -eq 0 ] || echo "exit $rc")"
}

# --- pg_regress / pg_isolation_regress, shared by suites 2 and 3 -------------
# regress_suite NAME BINARY OUTDIR EXPECTED_COUNT args...
regress_suite() {
    local name=$1 bin=$2 outdir=$3 expected=$4 log=$LOGDIR/$1.log rc=0 p f
    shift 4
    # PGXS adds --dbname to *_OPTS; make sure there is one either way
    [[ " $* " == *" --dbname="* ]] || set -- --dbname="${name//[^a-z]/_}_regression" "$@"
    say "suite: $name ($expected tests)"
    rm -rf "$outdir/results" "$outdir/regression.diffs" "$outdir/regression.out"
    run_logged "$log" "$bin" --bindir="${PGCLIENTBIN:-$PGBIN}" --host="$PGHOST" --port="$PGPORT" \
        --user="$PGUSER" --outputdir="$outdir" "$@" || rc=$?
    # PG15: "test name  ... ok  12 ms" / "     name  ... FAILED  12 ms" (also in parallel groups);
    # PG16+: TAP, "ok 1  - name  12 ms" / "not ok 2  - name  12 ms" ("+" in parallel groups)
    p=$(($(count "$log" '\.\.\. +(ok|failed \(ignored\))( |$)') + $(count "$log" '^ok [0-9]+ +[-+] ')))
    f=$(($(count "$log" '\.\.\. +FAILED') + $(count "$log" '^not ok [0-9]+ +[-+] ')))
    # pg_regress died part-way, or failed without a test line: count what is missing
    if [ $((p + f)) -lt "$expected" ]; then f=$((expected - p)); fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ -s "$outdir/regression.diffs" ] && [ "$f" -gt 0 ]; then
        say "$outdir/regression.diffs (first 300 lines):"
        head -n 300 "$outdir/regression.diffs"
    fi
    [ "$f" -eq 0 ] || cluster_log_tail 30
    record "$name" "$p" "$f" "$([ "$rc" -eq 0 ] || echo "exit $rc")"
}

# --- 2. pg_regress (REGRESS, REGRESS_OPTS from the Makefile) -----------------
# suite_regress [NAME [OUTDIR]]: pg_regress of the server of $PG_CONFIG (the
# inputs are always this checkout's sql/ and expected/)
suite_regress() {
    local name=${1:-pg_regress} outdir=${2:-.} tests opts
    read -ra tests <<<"$(makevar REGRESS)"
    read -ra opts <<<"$(makevar REGRESS_OPTS)"
    if [ ${#tests[@]} -eq 0 ]; then
        record "$name" 0 0 "REGRESS empty"
        return
    fi
    regress_suite "$name" "$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress" "$outdir" \
        "${#tests[@]}" --inputdir=. "${opts[@]}" "${tests[@]}"
}

# --- 3. isolation (ISOLATION, ISOLATION_OPTS from the Makefile) --------------
# suite_isolation [NAME [OUTDIR]]
suite_isolation() {
    local name=${1:-isolation} outdir=${2:-output_iso} tests opts
    read -ra tests <<<"$(makevar ISOLATION)"
    read -ra opts <<<"$(makevar ISOLATION_OPTS)"
    if [ ${#tests[@]} -eq 0 ]; then
        record "$name" 0 0 "ISOLATION empty"
        return
    fi
    mkdir -p "$outdir"
    regress_suite "$name" "$($PG_CONFIG --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress" \
        "$outdir" "${#tests[@]}" --inputdir=test/isolation "${opts[@]}" "${tests[@]}"
}

# --- 4. TAP: test/t/*.pl with prove, as the unprivileged user ----------------
# Stop nodes a killed TAP script left running (their END block did not run), remove the dir.
tap_cleanup() {
    local pidfile
    for pidfile in "$1"/tmp_check/*/pgdata/postmaster.pid; do
        [ -f "$pidfile" ] || continue
        as_pguser "$PGBIN/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$1"
}

suite_tap() {
    local files=(test/t/*.pl) log=$LOGDIR/tap.log rc=0 p f tapdir l failed_files
    if [ ! -e "${files[0]}" ]; then
        say "no TAP tests (test/t/*.pl): nothing counted"
        record tap 0 0 "no test/t/*.pl"
        return
    fi
    say "suite: TAP (${#files[@]} files, prove -v as $APIKEY_PGOSUSER)"
    # A copy the cluster user can read; tmp_check (data dirs, logs) goes there too.
    tapdir=$(mktemp -d /tmp/apikey-tap.XXXXXX)
    apikey_on_exit "tap_cleanup '$tapdir'"
    cp -R test/t "$tapdir/t"
    chmod -R a+rX "$tapdir"
    chown_pguser "$tapdir"
    (
        cd "$tapdir"
        files=(t/*.pl)
        run_logged "$log" "${APIKEY_AS_PGUSER[@]}" env -u PGUSER -u PGHOST -u PGPORT -u PGDATABASE \
            PATH="$PGBIN:$PATH" HOME="$tapdir" \
            PERL5LIB="$($PG_CONFIG --pkglibdir)/pgxs/src/test/perl${PERL5LIB:+:$PERL5LIB}" \
            TESTDIR="$tapdir" \
            PG_REGRESS="$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress" \
            prove -v "${files[@]}"
    ) || rc=$?
    # subtest lines; "not ok ... # TODO" is not a failure
    p=$(count "$log" '^ok [0-9]')
    f=$(grep -E '^not ok [0-9]' "$log" | grep -vc '# *TODO' || true)
    # scripts that failed without a failing subtest (died, bad plan): +1 each.
    # prove's "Test Summary Report" has "t/x.pl (Wstat: W Tests: N Failed: F)".
    failed_files=$(awk '
        /^t\/[^ ]+ +\(Wstat: / {
            file = $1; wstat = $0; sub(/.*Wstat: /, "", wstat); sub(/ .*/, "", wstat)
            nf = $0; sub(/.*Failed: /, "", nf); sub(/\).*/, "", nf)
            print file
            if (nf == 0 && wstat != 0) { extra++; file = "" }
            next
        }
        /^  Parse errors:/ && file != "" && nf == 0 { extra++; file = "" }
        END { print "EXTRA " extra + 0 }' "$log")
    f=$((f + ${failed_files##*EXTRA }))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    # logs of the failed scripts
    for l in $(grep -v '^EXTRA ' <<<"$failed_files" || true); do
        l=$tapdir/tmp_check/log/regress_log_$(basename "$l" .pl)
        [ -f "$l" ] || continue
        say "$l (last 60 lines):"
        tail -n 60 "$l"
    done
    record tap "$p" "$f" "$([ "$rc" -eq 0 ] || echo "prove exit $rc")"
}

# --- 5. extra suites: test/suites/*.sh, last line "N passed, N failed" -------
suite_extra() {
    local s name log rc p f last found=0
    for s in test/suites/*.sh; do
        [ -f "$s" ] || continue
        found=1
        name=$(basename "$s" .sh)
        log=$LOGDIR/suite-$name.log
        rc=0
        say "suite: $name ($s)"
        run_logged "$log" bash "$s" || rc=$?
        last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
        if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            p=${BASH_REMATCH[1]}
            f=${BASH_REMATCH[2]}
            if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        else
            p=0 f=1
            say "$s: last line is not 'N passed, N failed'"
        fi
        record "$name" "$p" "$f" "$([ "$rc" -eq 0 ] || echo "exit $rc")"
    done
    [ "$found" -eq 1 ] || say "no extra suites (test/suites/*.sh)"
}

# minor_shim BUILDDIR: the headers (Debian's newest minor) may be newer than the
# server (npm's newest minor).  Functions that a newer minor added and its static
# inline functions call (17.12: heap_datum_check, from heap_getattr) are then
# missing from the server and apikey.so does not load.  Such symbols get a stub
# that aborts if ever called, preloaded into the test server only; prints a note
# naming them, fails (no note) when there are none.
minor_shim() {
    local so=$1/apikey.so missing gap s
    missing=$(ldd -r "$so" 2>&1 | awk '$1 == "undefined" && $2 == "symbol:" { print $3 }' | sort -u)
    gap=$(comm -23 <(printf '%s\n' "$missing") \
        <(nm -D --defined-only "$PGBIN/postgres" | awk '{ print $3 }' | sed 's/@.*//' | sort -u) |
        grep -v '^$' || true)
    [ -n "$gap" ] || return 1
    {
        echo '#include <stdlib.h>'
        for s in $gap; do printf 'void %s(void);\nvoid %s(void) { abort(); }\n' "$s" "$s"; done
    } >"$1/minor-shim.c"
    gcc -shared -fPIC -o "$1/minor-shim.so" "$1/minor-shim.c" >&2 || return 1
    say "server $("$PGBIN/postgres" --version | awk '{ print $NF }') lacks $(echo $gap) (newer headers): stubbed for the test server" >&2
    echo "-Werror; stubbed for an older minor server: $(echo $gap)"
}

# major_cluster_start BUILDDIR [preload]: cluster_start, with the stub of minor_shim if any
major_cluster_start() {
    if [ -f "$1/minor-shim.so" ]; then
        LD_PRELOAD=$1/minor-shim.so cluster_start "${2:-}"
    else
        cluster_start "${2:-}"
    fi
}

# --- 6. another major version (17, 18): build, install, pg_regress, isolation --
# The server comes from test/pgdist.sh (no client programs: the machine's psql 15
# is the client).  The build is a copy of the checkout, so 15's objects stay.
suite_major() {
    local major=$1 pgc bdir log=$LOGDIR/build-$1.log rc=0 tap=() extra=() f
    local save_config=$PG_CONFIG save_bin=$PGBIN save_ldpath=${LD_LIBRARY_PATH:-} note native
    say "PostgreSQL $major: fetching headers and server (test/pgdist.sh)"
    if ! pgc=$(run_logged "$LOGDIR/fetch-$major.log" bash test/pgdist.sh "$major" | tail -n 1) ||
        [ ! -x "$pgc" ]; then
        cat "$LOGDIR/fetch-$major.log"
        record "build-$major" 0 1 "test/pgdist.sh $major failed"
        return
    fi
    bdir=$(mktemp -d /tmp/apikey-build$major.XXXXXX)
    if [ -n "${APIKEY_KEEP_CLUSTER:-}" ]; then say "APIKEY_KEEP_CLUSTER set: keeping $bdir"; else apikey_on_exit "rm -rf '$bdir'"; fi
    cp -R Makefile apikey.control src sql "$bdir/"
    # without 15's objects: make would take them as up to date
    find "$bdir" \( -name '*.o' -o -name '*.so' -o -name '*.bc' \) -delete
    # this run's own copy of the server (the cache is shared), and a pg_config for it
    native=$(dirname "$("$pgc" --bindir)")
    cp -a "$native" "$bdir/server"
    sed "s#$native#$bdir/server#g" "$pgc" >"$bdir/pg_config"
    chmod 755 "$bdir/pg_config"
    pgc=$bdir/pg_config
    say "building and installing against PostgreSQL $major ($pgc)"
    run_logged "$log" bash -c 'make -C "$1" -j2 PG_CONFIG="$2" APIKEY_WERROR=1 &&
        make -C "$1" PG_CONFIG="$2" install >/dev/null' _ "$bdir" "$pgc" || rc=$?
    if [ "$rc" -ne 0 ]; then
        record "build-$major" 0 1 "make / make install failed"
        return
    fi
    PG_CONFIG=$pgc
    PGBIN=$("$pgc" --bindir)
    export PG_CONFIG PGBIN PGCLIENTBIN=$save_bin
    # the server's libpq (dblink, isolationtester need this major's, not the machine's 15)
    export LD_LIBRARY_PATH=$("$pgc" --libdir)${save_ldpath:+:$save_ldpath}
    note=$(minor_shim "$bdir") || note="-Wall -Wextra -Werror"
    record "build-$major" 1 0 "$note"
    chown_pguser "$bdir"
    if major_cluster_start "$bdir"; then
        suite_regress "pg_regress-$major" "$bdir"
        suite_isolation "isolation-$major" "$bdir/output_iso"
    else
        record "pg_regress-$major" 0 1 "the $major server did not start"
    fi
    cluster_stop
    # preloaded too: _PG_init's hooks, shared memory and background workers of this version
    if APIKEY_PG_CONF="${APIKEY_PG_CONF:-}
apikey.last_used_flush_interval = 60000" major_cluster_start "$bdir" apikey; then
        suite_regress "pg_regress-preload-$major" "$bdir"
        suite_isolation "isolation-preload-$major" "$bdir/output_iso_preload"
    else
        record "pg_regress-preload-$major" 0 1 "the $major server did not start preloaded"
    fi
    cluster_stop
    PG_CONFIG=$save_config PGBIN=$save_bin
    if [ -n "$save_ldpath" ]; then LD_LIBRARY_PATH=$save_ldpath; else unset LD_LIBRARY_PATH; fi
    unset PGCLIENTBIN
    # TAP needs PostgreSQL's client programs (pg_basebackup, pg_dump, psql) of the same major
    for f in test/t/*.pl; do [ -e "$f" ] && tap+=("$(basename "$f" .pl)"); done
    for f in test/suites/*.sh; do [ -e "$f" ] && extra+=("$(basename "$f" .sh)"); done
    record "tap-$major" 0 0 "not run: no $major client programs here; ${tap[*]:-none}"
    record "suites-$major" 0 0 "15 only: ${extra[*]:-none}"
}

if [[ " $PG_MAJORS " != *" 15 "* ]]; then
    say "PG_MAJORS=$PG_MAJORS: PostgreSQL 15 not tested"
elif ! apikey_build_install; then
    say "build/install FAILED: no PostgreSQL 15 suite can run"
    record build 0 1 "make / make install failed"
else
    cluster_start
    for suite in suite_unit suite_regress suite_isolation suite_tap suite_extra; do
        "$suite"
        if [ -e "$LOGDIR/interrupted" ]; then
            record interrupted 0 1 "stopped after ${suite#suite_}"
            print_summary_and_exit
        fi
    done
    cluster_stop
    # make installcheck must pass with the library preloaded too: pg_regress again,
    # on a cluster with shared_preload_libraries = 'apikey'
    # (flushes a minute apart: none lands between a verify and the check after it)
    APIKEY_PG_CONF="${APIKEY_PG_CONF:-}
apikey.last_used_flush_interval = 60000" cluster_start apikey
    suite_regress pg_regress-preload
    suite_isolation isolation-preload output_iso_preload
    cluster_stop
fi

for major in $PG_MAJORS; do
    [ "$major" != 15 ] || continue
    suite_major "$major"
    if [ -e "$LOGDIR/interrupted" ]; then
        record interrupted 0 1 "stopped during PostgreSQL $major"
        break
    fi
done

print_summary_and_exit
