/*-------------------------------------------------------------------------
 * lastused_standby.c
 *	  On a hot standby, last-used notes go to the primary over libpq: the
 *	  standby never writes.
 *
 * Called by the launcher (lastused_worker.c) every flush interval while the
 * server is in recovery.  The launcher has shared memory but no database, so
 * it cannot read pg_database: a note carries a database OID, the same on
 * both sides of physical replication, and the primary names it.  Each round
 * takes every pending note out of shared memory (one partition at a time,
 * never holding all their locks), connects to the primary with
 * apikey.primary_conninfo (empty: the standby's primary_conninfo), once per
 * database with notes (plus once to learn the names of databases it has
 * not seen yet), and runs one forward-only UPDATE per database with
 * synchronous_commit off.  Connections never outlive a round, so they never
 * block a DROP DATABASE on the primary.
 *
 * Every libpq call is asynchronous and waits on the launcher's latch with a
 * deadline, so an unreachable primary never hangs the launcher.  What could
 * not be delivered goes back into shared memory (the latest use of a key
 * wins; what does not fit is dropped and counted) and the next attempts back
 * off exponentially up to SHIP_MAX_BACKOFF_MS.  One LOG line marks the start
 * of a failure streak (and another whenever its reason changes), one its
 * end.  Notes hold ids and times only: no key and no hash ever reach a log
 * line.
 *
 * Notes in shared memory are lost if the standby crashes or restarts before
 * they reach the primary.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "lastused.h"
#include "shmem.h"

#define SHIP_TIMEOUT_MS			10000	/* per connection attempt, per query */
#define SHIP_STATEMENT_TIMEOUT	"8s"	/* on the primary, below SHIP_TIMEOUT_MS */
#define SHIP_MIN_BACKOFF_MS		1000
#define SHIP_MAX_BACKOFF_MS		60000
#define SHIP_NAME_CACHE			64		/* database names remembered */
#define SHIP_APPLICATION_NAME	"apikey last-used shipper"
#define SHIP_BATCH				1000	/* notes per UPDATE (one transaction each) */

/* Outcome of shipping one database's notes */
typedef enum ShipResult
{
	SHIP_OK,					/* written (or older than what the primary has) */
	SHIP_RETRY,					/* not delivered: put back, try again later */
	SHIP_RENAMED,				/* the name now means another database: map again */
	SHIP_GONE					/* no apikey.keys there: the notes go nowhere */
} ShipResult;

/* A database OID and its name on the primary */
typedef struct ShipDbName
{
	Oid			dboid;
	char		datname[NAMEDATALEN];
} ShipDbName;

char	   *apikey_primary_conninfo = NULL;

static ShipDbName name_cache[SHIP_NAME_CACHE];
static int	name_cache_used = 0;
static int	name_cache_next = 0;	/* slot replaced when the cache is full */

static int	failure_streak = 0;
static char last_failure[256];	/* message last logged in this streak */
static TimestampTz next_attempt = 0;
static bool no_conninfo_logged = false;
static MemoryContext ship_context = NULL;
static PGconn *ship_conn = NULL;	/* the open connection, for proc exit */

/*
 * Forward-only, skipping rows another transaction has locked (a revoke, a
 * DBA's UPDATE): the shipper never makes a key's row wait, and never waits
 * for one.  Returns the ids it skipped, to be sent again next round.
 */
static const char *const update_sql =
"WITH u AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]),"
" pg_catalog.unnest($2::pg_catalog.timestamptz[])) AS u(id, t)),"
" l AS (SELECT k.id FROM apikey.keys k, u WHERE k.id OPERATOR(pg_catalog.=) u.id"
" AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<) u.t)"
" FOR NO KEY UPDATE OF k SKIP LOCKED),"
" w AS (UPDATE apikey.keys k SET last_used_at = u.t FROM l, u"
" WHERE k.id OPERATOR(pg_catalog.=) l.id AND u.id OPERATOR(pg_catalog.=) l.id RETURNING k.id)"
" SELECT u.id FROM u WHERE NOT EXISTS (SELECT FROM w WHERE w.id OPERATOR(pg_catalog.=) u.id)"
" AND EXISTS (SELECT FROM apikey.keys k WHERE k.id OPERATOR(pg_catalog.=) u.id"
" AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<) u.t))";

static const char *const session_sql =
"SET synchronous_commit = off;"
" SET search_path = pg_catalog, pg_temp;"
" SET statement_timeout = '" SHIP_STATEMENT_TIMEOUT "';"
" SELECT d.oid FROM pg_catalog.pg_database d"
" WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()";

static const char *const map_sql =
"SELECT d.oid, d.datname FROM pg_catalog.pg_database d"
" WHERE d.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])";

/* on_proc_exit callback: closes a connection left open by an exit mid-round. */
static void
ship_at_exit(int code, Datum arg)
{
	if (ship_conn != NULL)
		PQfinish(ship_conn);
	ship_conn = NULL;
}

/* Closes the round's connection. */
static void
ship_disconnect(void)
{
	if (ship_conn != NULL)
		PQfinish(ship_conn);
	ship_conn = NULL;
}

/* Copies libpq's message without its trailing newline, or a fallback. */
static char *
ship_message(const char *msg, const char *fallback)
{
	char	   *copy;
	size_t		len;

	if (msg == NULL || msg[0] == '\0')
		return pstrdup(fallback);
	copy = pstrdup(msg);
	len = strlen(copy);
	while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
		copy[--len] = '\0';
	return copy;
}

/* Milliseconds left until deadline (0 when past). */
static long
ship_remaining_ms(TimestampTz deadline)
{
	return TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
}

/*
 * Waits until the connection's socket is ready for io (WL_SOCKET_*), the
 * latch is set, or the deadline passes.  Returns the WaitLatchOrSocket
 * events, 0 on timeout (or when the connection has no socket any more).
 * Exits with the postmaster.
 */
static int
ship_wait(int io, TimestampTz deadline)
{
	long		timeout = ship_remaining_ms(deadline);
	int			rc;

	if (timeout <= 0 || PQsocket(ship_conn) == PGINVALID_SOCKET)
		return 0;
	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | io,
						   PQsocket(ship_conn), timeout, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if ((rc & ~WL_TIMEOUT) == 0)
		return 0;
	return rc;
}

/*
 * Opens ship_conn to the primary: conninfo with dbname overridden when given.
 * Returns false with *err set on failure or timeout.
 */
static bool
ship_connect(const char *conninfo, const char *dbname, char **err)
{
	const char *keys[4];
	const char *vals[4];
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;
	TimestampTz deadline;

	/* the first dbname is expanded as a connection string; a later one overrides */
	keys[0] = "dbname";
	vals[0] = conninfo;
	keys[1] = "dbname";
	vals[1] = dbname;
	keys[2] = "fallback_application_name";
	vals[2] = SHIP_APPLICATION_NAME;
	keys[3] = NULL;
	vals[3] = NULL;

	ship_disconnect();
	ship_conn = PQconnectStartParams(keys, vals, 1);
	if (ship_conn == NULL)
	{
		*err = pstrdup("out of memory");
		return false;
	}
	if (PQstatus(ship_conn) == CONNECTION_BAD)
	{
		*err = ship_message(PQerrorMessage(ship_conn), "could not connect");
		ship_disconnect();
		return false;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SHIP_TIMEOUT_MS);
	while (status != PGRES_POLLING_OK)
	{
		int			io;
		int			rc;

		if (status == PGRES_POLLING_FAILED)
		{
			*err = ship_message(PQerrorMessage(ship_conn), "could not connect");
			ship_disconnect();
			return false;
		}
		io = (status == PGRES_POLLING_READING) ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
		rc = ship_wait(io, deadline);
		if (rc == 0)
		{
			*err = psprintf("no connection within %d ms", SHIP_TIMEOUT_MS);
			ship_disconnect();
			return false;
		}
		if (rc & io)
			status = PQconnectPoll(ship_conn);
	}
	if (PQsetnonblocking(ship_conn, 1) != 0)
	{
		*err = ship_message(PQerrorMessage(ship_conn), "could not set non-blocking mode");
		ship_disconnect();
		return false;
	}
	return true;
}

/*
 * Runs sql on ship_conn (with text parameters when nparams > 0; several
 * statements are allowed without) and returns the result of the last
 * statement, or NULL with *err and *sqlstate set when a statement failed
 * or the deadline passed.  Only the primary message of a server error is
 * kept: its detail could show a row.
 */
static PGresult *
ship_exec(const char *sql, int nparams, const char *const *params,
		  char **err, char *sqlstate)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SHIP_TIMEOUT_MS);
	PGresult   *last = NULL;
	PGresult   *res;
	bool		failed = false;
	int			sent;

	sqlstate[0] = '\0';
	if (nparams > 0)
		sent = PQsendQueryParams(ship_conn, sql, nparams, NULL, params, NULL, NULL, 0);
	else
		sent = PQsendQuery(ship_conn, sql);
	if (!sent)
	{
		*err = ship_message(PQerrorMessage(ship_conn), "could not send a query");
		return NULL;
	}

	/* non-blocking: push the query out, reading meanwhile so the server never stalls */
	for (;;)
	{
		int			flushed = PQflush(ship_conn);
		int			rc;

		if (flushed == 0)
			break;
		if (flushed < 0)
		{
			*err = ship_message(PQerrorMessage(ship_conn), "could not send a query");
			return NULL;
		}
		rc = ship_wait(WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE, deadline);
		if (rc == 0)
		{
			*err = psprintf("no answer within %d ms", SHIP_TIMEOUT_MS);
			return NULL;
		}
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(ship_conn))
		{
			*err = ship_message(PQerrorMessage(ship_conn), "could not receive a result");
			return NULL;
		}
	}

	/* collect every result; keep the last one */
	for (;;)
	{
		while (PQisBusy(ship_conn))
		{
			int			rc = ship_wait(WL_SOCKET_READABLE, deadline);

			if (rc == 0)
			{
				*err = psprintf("no answer within %d ms", SHIP_TIMEOUT_MS);
				if (last)
					PQclear(last);
				return NULL;
			}
			if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(ship_conn))
			{
				*err = ship_message(PQerrorMessage(ship_conn), "could not receive a result");
				if (last)
					PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(ship_conn);
		if (res == NULL)
			break;
		if (!failed &&
			PQresultStatus(res) != PGRES_COMMAND_OK &&
			PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			failed = true;
			*err = ship_message(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
								"query failed");
			if (state != NULL)
				strlcpy(sqlstate, state, 6);
		}
		if (last)
			PQclear(last);
		last = res;
	}
	if (failed || last == NULL)
	{
		if (!failed)
			*err = pstrdup("no result");
		if (last)
			PQclear(last);
		return NULL;
	}
	return last;
}

/* The cached name of a database on the primary, or NULL. */
static const char *
name_cache_lookup(Oid dboid)
{
	int			i;

	for (i = 0; i < name_cache_used; i++)
		if (name_cache[i].dboid == dboid)
			return name_cache[i].datname;
	return NULL;
}

/* Remembers a database's name on the primary. */
static void
name_cache_store(Oid dboid, const char *datname)
{
	int			slot;

	if (name_cache_used < SHIP_NAME_CACHE)
		slot = name_cache_used++;
	else
	{
		slot = name_cache_next;
		name_cache_next = (name_cache_next + 1) % SHIP_NAME_CACHE;
	}
	name_cache[slot].dboid = dboid;
	strlcpy(name_cache[slot].datname, datname, NAMEDATALEN);
}

/* Forgets a database's name. */
static void
name_cache_forget(Oid dboid)
{
	int			i;

	for (i = 0; i < name_cache_used; i++)
	{
		if (name_cache[i].dboid == dboid)
		{
			name_cache[i] = name_cache[--name_cache_used];
			if (name_cache_next >= name_cache_used)
				name_cache_next = 0;
			return;
		}
	}
}

/*
 * Asks the primary for the names of databases (OIDs in dbs) and caches
 * them; a database the primary does not have stays uncached.  Connects to
 * the conninfo's own dbname, else postgres.
 */
static bool
ship_map_names(const char *conninfo, const char *map_dbname,
			   const Oid *dbs, int ndbs, char **err)
{
	StringInfoData oids;
	const char *params[1];
	PGresult   *res;
	char		sqlstate[6];
	int			i;

	initStringInfo(&oids);
	appendStringInfoChar(&oids, '{');
	for (i = 0; i < ndbs; i++)
		appendStringInfo(&oids, "%s%u", i > 0 ? "," : "", dbs[i]);
	appendStringInfoChar(&oids, '}');
	params[0] = oids.data;

	if (!ship_connect(conninfo, map_dbname, err))
		return false;
	res = ship_exec(map_sql, 1, params, err, sqlstate);
	if (res == NULL)
	{
		ship_disconnect();
		return false;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		Oid			dboid = (Oid) strtoul(PQgetvalue(res, i, 0), NULL, 10);

		name_cache_store(dboid, PQgetvalue(res, i, 1));
	}
	PQclear(res);
	ship_disconnect();
	return true;
}

/* Formats a time as an ISO 8601 UTC literal that any DateStyle reads back. */
static void
append_timestamp(StringInfo buf, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		str[MAXDATELEN + 1];

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	EncodeDateTime(&tm, fsec, true, 0, NULL, USE_ISO_DATES, str);
	appendStringInfo(buf, "\"%s\"", str);
}

/* qsort and bsearch comparator: by database OID, then key id. */
static int
note_cmp(const void *a, const void *b)
{
	const PendingKey *ka = &((const PendingUse *) a)->key;
	const PendingKey *kb = &((const PendingUse *) b)->key;

	if (ka->dboid != kb->dboid)
		return (ka->dboid > kb->dboid) - (ka->dboid < kb->dboid);
	return (ka->key_id > kb->key_id) - (ka->key_id < kb->key_id);
}

static void ship_put_back(const PendingUse *notes, int n);

/*
 * Writes one database's notes (sorted by key id) on the primary with the
 * forward-only UPDATE, SHIP_BATCH notes per transaction.
 */
static ShipResult
ship_database(const char *conninfo, Oid dboid, const char *datname,
			  const PendingUse *notes, int n, char **err)
{
	StringInfoData ids;
	StringInfoData times;
	const char *params[2];
	PGresult   *res;
	char		sqlstate[6];
	Oid			primary_oid;
	int			i;
	int			off;

	if (!ship_connect(conninfo, datname, err))
		return SHIP_RETRY;

	/* session settings, and the name still means this database */
	res = ship_exec(session_sql, 0, NULL, err, sqlstate);
	if (res == NULL)
	{
		ship_disconnect();
		return SHIP_RETRY;
	}
	primary_oid = (PQntuples(res) == 1) ?
		(Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10) : InvalidOid;
	PQclear(res);
	if (primary_oid != dboid)
	{
		ship_disconnect();
		return SHIP_RENAMED;
	}

	initStringInfo(&ids);
	initStringInfo(&times);
	for (off = 0; off < n; off += SHIP_BATCH)
	{
		int			m = Min(SHIP_BATCH, n - off);

		resetStringInfo(&ids);
		resetStringInfo(&times);
		appendStringInfoChar(&ids, '{');
		appendStringInfoChar(&times, '{');
		for (i = off; i < off + m; i++)
		{
			if (i > off)
			{
				appendStringInfoChar(&ids, ',');
				appendStringInfoChar(&times, ',');
			}
			appendStringInfo(&ids, INT64_FORMAT, notes[i].key.key_id);
			append_timestamp(&times, notes[i].used_at);
		}
		appendStringInfoChar(&ids, '}');
		appendStringInfoChar(&times, '}');
		params[0] = ids.data;
		params[1] = times.data;

		res = ship_exec(update_sql, 2, params, err, sqlstate);
		if (res == NULL)
		{
			ship_disconnect();
			/* no apikey.keys there (extension dropped on the primary) */
			if (strcmp(sqlstate, "42P01") == 0 || strcmp(sqlstate, "3F000") == 0)
				return SHIP_GONE;
			return SHIP_RETRY;
		}
		/* rows locked on the primary: their notes wait for the next round */
		for (i = 0; i < PQntuples(res); i++)
		{
			PendingUse	probe;
			const PendingUse *note;

			probe.key.dboid = dboid;
			probe.key.key_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			note = bsearch(&probe, notes + off, m, sizeof(PendingUse), note_cmp);
			if (note != NULL)
				ship_put_back(note, 1);
		}
		PQclear(res);
	}
	ship_disconnect();
	return SHIP_OK;
}

/* Takes every pending note out of shared memory, one partition at a time. */
static PendingUse *
ship_take_notes(int *n)
{
	PendingUse *notes;

	*n = 0;
	if (hash_get_num_entries(apikey_pending) == 0)
		return NULL;
	notes = pending_take(InvalidOid, n);
	if (*n == 0)
	{
		pfree(notes);
		return NULL;
	}
	return notes;
}

/* Puts notes back into shared memory (the latest use wins); drops and counts what does not fit. */
static void
ship_put_back(const PendingUse *notes, int n)
{
	uint64		dropped = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (pending_note(&notes[i].key, notes[i].used_at, true) != PENDING_NOTED)
			dropped++;
	}
	if (dropped > 0)
		stats_add(CTR_LAST_USED_DROPPED, dropped);
}

/* Drops notes that have nowhere to go, counting them. */
static void
ship_drop(Oid dboid, int n, const char *why)
{
	stats_add(CTR_LAST_USED_DROPPED, n);
	ereport(LOG,
			(errmsg("apikey: dropped %d last-used records of database %u: %s",
					n, dboid, why)));
}

/* The connection string to the primary: the GUC, else primary_conninfo; NULL if neither. */
static const char *
ship_conninfo(void)
{
	const char *conninfo = apikey_primary_conninfo;

	if (conninfo == NULL || conninfo[0] == '\0')
		conninfo = GetConfigOption("primary_conninfo", true, false);
	if (conninfo == NULL || conninfo[0] == '\0')
		return NULL;
	return conninfo;
}

/* The database to learn names in: the conninfo's dbname, else postgres; NULL on a bad conninfo. */
static char *
ship_map_dbname(const char *conninfo, char **err)
{
	PQconninfoOption *opts;
	PQconninfoOption *opt;
	char	   *perr = NULL;
	char	   *dbname = NULL;

	opts = PQconninfoParse(conninfo, &perr);
	if (opts == NULL)
	{
		*err = ship_message(perr, "invalid connection string");
		if (perr)
			PQfreemem(perr);
		return NULL;
	}
	for (opt = opts; opt->keyword != NULL; opt++)
		if (strcmp(opt->keyword, "dbname") == 0 && opt->val != NULL && opt->val[0] != '\0')
			dbname = pstrdup(opt->val);
	PQconninfoFree(opts);
	return dbname ? dbname : pstrdup("postgres");
}

/* Records the outcome of a round: backoff and one LOG line per failure streak. */
static void
ship_round_done(bool failed, const char *err, int delivered, int pending)
{
	if (failed)
	{
		int			shift = Min(failure_streak, 6);
		int			backoff = Min(SHIP_MIN_BACKOFF_MS << shift, SHIP_MAX_BACKOFF_MS);

		/* one line per streak, and one more whenever the reason changes */
		if (failure_streak == 0 || strncmp(last_failure, err, sizeof(last_failure) - 1) != 0)
			ereport(LOG,
					(errmsg("apikey: could not send last-used records to the primary: %s", err),
					 errdetail("%d records wait in shared memory; retrying with backoff up to %d s.",
							   pending, SHIP_MAX_BACKOFF_MS / 1000)));
		strlcpy(last_failure, err, sizeof(last_failure));
		failure_streak++;
		next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff);
		return;
	}
	if (failure_streak > 0)
		ereport(LOG,
				(errmsg("apikey: sending last-used records to the primary again after %d failed attempts (%d records delivered)",
						failure_streak, delivered)));
	failure_streak = 0;
	next_attempt = 0;
}

/* Sets the number of notes the shipper holds (counted in last_used_pending). */
static void
ship_set_taken(int n)
{
	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	apikey_shared->ship_taken = n;
	LWLockRelease(apikey_shared->lock);
}

static void ship_round_notes(const char *conninfo, PendingUse *notes, int n);

/*
 * One round in ship_context: take the notes, ship them.  Until the round has
 * delivered, put back or dropped them (and counted that), they are counted
 * as pending, so last_used_pending never looks empty while notes are on
 * their way.
 */
static void
ship_round(const char *conninfo)
{
	PendingUse *notes;
	int			n;

	notes = ship_take_notes(&n);
	if (n == 0)
		return;
	/* an error ends the launcher, whose next start clears the count */
	ship_set_taken(n);
	ship_round_notes(conninfo, notes, n);
	ship_set_taken(0);
}

/* Maps and ships taken notes per database, puts back what failed. */
static void
ship_round_notes(const char *conninfo, PendingUse *notes, int n)
{
	char	   *err = NULL;
	char	   *map_dbname;
	Oid		   *unknown;
	int			nunknown = 0;
	int			delivered = 0;
	int			undelivered = 0;
	bool		failed = false;
	int			i,
				j;

	map_dbname = ship_map_dbname(conninfo, &err);
	if (map_dbname == NULL)
	{
		ship_put_back(notes, n);
		ship_round_done(true, err, 0, n);
		return;
	}
	qsort(notes, n, sizeof(PendingUse), note_cmp);

	/* databases whose name on the primary is not known yet */
	unknown = palloc(sizeof(Oid) * n);
	for (i = 0; i < n; i++)
		if ((i == 0 || notes[i].key.dboid != notes[i - 1].key.dboid) &&
			name_cache_lookup(notes[i].key.dboid) == NULL)
			unknown[nunknown++] = notes[i].key.dboid;
	if (nunknown > 0 && !ship_map_names(conninfo, map_dbname, unknown, nunknown, &err))
	{
		ship_put_back(notes, n);
		ship_round_done(true, err, 0, n);
		return;
	}

	for (i = 0; i < n; i = j)
	{
		Oid			dboid = notes[i].key.dboid;
		const char *datname = name_cache_lookup(dboid);
		char	   *dberr = NULL;

		for (j = i; j < n && notes[j].key.dboid == dboid; j++)
			;
		if (datname == NULL)
		{
			ship_drop(dboid, j - i, "the primary has no such database");
			continue;
		}
		switch (ship_database(conninfo, dboid, datname, notes + i, j - i, &dberr))
		{
			case SHIP_OK:
				delivered += j - i;
				break;
			case SHIP_GONE:
				ship_drop(dboid, j - i, "apikey.keys does not exist there on the primary");
				break;
			case SHIP_RENAMED:
				/* the next round asks for the name again */
				name_cache_forget(dboid);
				ship_put_back(notes + i, j - i);
				break;
			case SHIP_RETRY:
				ship_put_back(notes + i, j - i);
				undelivered += j - i;
				if (!failed)
					err = psprintf("database \"%s\": %s", datname, dberr);
				failed = true;
				break;
		}
	}
	if (delivered > 0)
		stats_add(CTR_LAST_USED_WRITTEN, delivered);
	ship_round_done(failed, err, delivered, undelivered);
}

/*
 * Ships this standby's pending notes to the primary (the launcher calls it
 * every flush interval in recovery).  Skips rounds while backing off; keeps
 * the notes while no connection string is configured.
 */
void
lastused_ship_to_primary(void)
{
	const char *conninfo;
	MemoryContext oldcontext;

	if (apikey_shared == NULL)
		return;
	if (next_attempt != 0 && GetCurrentTimestamp() < next_attempt)
		return;

	conninfo = ship_conninfo();
	if (conninfo == NULL)
	{
		if (!no_conninfo_logged)
			ereport(LOG,
					(errmsg("apikey: last-used records wait on this standby: no connection string to the primary"),
					 errhint("Set apikey.primary_conninfo or primary_conninfo.")));
		no_conninfo_logged = true;
		return;
	}
	no_conninfo_logged = false;

	if (ship_context == NULL)
	{
		ship_context = AllocSetContextCreate(TopMemoryContext,
											 "apikey last-used shipping",
											 ALLOCSET_DEFAULT_SIZES);
		on_proc_exit(ship_at_exit, (Datum) 0);
	}
	oldcontext = MemoryContextSwitchTo(ship_context);
	ship_round(pstrdup(conninfo));
	ship_disconnect();
	MemoryContextSwitchTo(oldcontext);
	MemoryContextReset(ship_context);
}
