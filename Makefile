# apikey: issue, verify and revoke API keys inside PostgreSQL (PGXS build)
#
#   make && make install      build and install into the PostgreSQL found by PG_CONFIG
#   make demo                 install what is missing, build, install, walk through on a throwaway cluster
#   make test                 every suite (unit, pg_regress, isolation, TAP) on a throwaway cluster,
#                             then pg_regress and isolation on PostgreSQL 17 and 18 (PG_MAJORS=15: 15 only)
#   make unit                 pure-C unit tests of the key format and hashing (no server)
#   make -C test/unit bench   ns per SHA-256 and HMAC-SHA-256 of a 46-byte key (src/hashing.c)
#   make fuzz                 libFuzzer smoke run over the key parser (clang)
#   make bench                the benchmark under test/bench/

EXTENSION = apikey
MODULE_big = apikey
PGFILEDESC = "apikey - API keys issued, verified and revoked inside PostgreSQL"

OBJS = \
	src/settings.o \
	src/verify_sql.o \
	src/postgrest.o \
	src/actor.o \
	src/manage.o \
	src/credits.o \
	src/update.o \
	src/bind_sql.o \
	src/stats.o \
	src/keyfmt.o \
	src/hashing.o \
	src/boundrel.o \
	src/binding.o \
	src/keystore.o \
	src/verify.o \
	src/verify_cache.o \
	src/lifecycle.o \
	src/permissions.o \
	src/lastused.o \
	src/lastused_worker.o \
	src/lastused_standby.o \
	src/shmem.o \
	src/ratelimit.o \
	src/tenant_limits.o \
	src/pepper.o \
	src/keyformats.o \
	src/import.o \
	src/subxact.o

DATA = $(wildcard sql/apikey--*.sql)

# pg_regress inputs live in sql/, outputs in expected/ (the PGXS defaults)
REGRESS = \
	setup \
	create \
	verify \
	revoke \
	lifecycle \
	manage \
	credits \
	update \
	list \
	rotate \
	roles \
	bulk \
	guc \
	hashing \
	import \
	lastused \
	stats \
	upgrade \
	security \
	badinput \
	permissions \
	context \
	no_escalation_bound_tables \
	cache_sees_before_triggers \
	bind_partitioned_refused \
	bound_table_renamed \
	bound_column_types \
	tenant_isolation \
	hostile_headers \
	verify_paths \
	rate_limit \
	verify_cache_entries \
	held_probe
REGRESS_OPTS = --load-extension=pgcrypto

# isolation specs: test/isolation/specs/*.spec, test/isolation/expected/*.out
ISOLATION = \
	revoke-verify \
	verify-concurrent \
	rate-limit-sessions \
	rotate-rotate \
	consume-concurrent \
	disable-revoke \
	events-notify \
	revoke-while-users-locked \
	tenant-hidden-key \
	verify-never-blocks-revoke \
	verify-lock-order \
	verify-user-change-while-waiting
ISOLATION_OPTS = --inputdir=test/isolation

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
# -Wno-unused-parameter only because PostgreSQL's own headers (ilist.h, bufpage.h) trip it under -Wextra.
# Warnings are errors only where the compiler is known (make test and CI pass APIKEY_WERROR=1),
# so that a user's plain `make` or `make CC=clang` still builds.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter
ifneq ($(APIKEY_WERROR),)
PG_CFLAGS += -Werror
endif
# clang: PostgreSQL's CFLAGS were chosen for gcc, and its headers use gnu_printf
ifneq ($(findstring clang,$(CC)),)
PG_CFLAGS += -Wno-unknown-warning-option -Wno-ignored-optimization-argument -Wno-ignored-attributes
endif

EXTRA_CLEAN = results regression.diffs regression.out output_iso output_iso_preload test/unit/test_keyfmt test/unit/test_hashing test/unit/bench_hashing test/fuzz/fuzz_keyfmt \
	test/bench/floor/*.o test/bench/floor/*.so test/bench/floor/*.bc

# libpq, for a standby shipping last-used records to its primary (as contrib/dblink)
PG_CPPFLAGS += -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)
# OpenSSL's libcrypto, for SHA-256 (src/hashing.c): the library PostgreSQL itself links (libssl-dev)
SHLIB_LINK = -lcrypto

# make test, make demo, make unit, make fuzz and make bench find (or install) PostgreSQL themselves;
# every other target needs a working PG_CONFIG, and stops with one clear error without it.
ifneq ($(filter-out test demo unit fuzz bench,$(or $(MAKECMDGOALS),all)),)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(wildcard $(PGXS)),)
$(error PG_CONFIG=$(PG_CONFIG) does not work (no pg_config, or no PGXS): install postgresql-server-dev-NN, or run make PG_CONFIG=/usr/lib/postgresql/NN/bin/pg_config)
endif
include $(PGXS)
endif

.PHONY: test demo unit fuzz bench

# PostgreSQL major versions make test covers: make test PG_MAJORS=15 for one
PG_MAJORS ?= 15 17 18

test:
	@PG_MAJORS="$(PG_MAJORS)" bash test/run-tests.sh

demo:
	@bash test/demo.sh

unit:
	@$(MAKE) -C test/unit PG_CONFIG=$(PG_CONFIG) run

fuzz:
	@$(MAKE) -C test/fuzz smoke

bench:
	@bash test/bench/run.sh
