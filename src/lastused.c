/*-------------------------------------------------------------------------
 * lastused.c
 *	  Last-used tracking: when a valid key was last seen.
 *
 * Preloaded (shared_preload_libraries), a verification only notes (key,
 * time) in shared memory, under the lock of one partition of the pending
 * table (shmem.c), which it tries but never waits for: when another process
 * holds it, the note waits in this backend's backlog (LASTUSED_BACKLOG
 * notes), tried again at the next note and at the end of every transaction,
 * and put in, waiting for the lock if need be, when the backend exits; a
 * note that overflows the backlog is dropped and counted.  The background
 * worker (lastused_worker.c) writes the notes into apikey.keys in small
 * batches with a forward-only UPDATE that skips rows another transaction has
 * locked.  Each backend remembers what it noted in the last second, so a hot
 * key touches shared memory about once a second per backend; when the
 * shared table is full a note is dropped and counted, never waited for.  On
 * a standby the notes are shipped to the primary instead
 * (lastused_standby.c).
 *
 * Not preloaded, a verification writes the use itself into apikey.key_usage,
 * never into apikey.keys: the verifying transaction must never hold a lock on
 * a key's row, or a revoke, disable or rotate would wait for it.  It writes at
 * most once per key per apikey.last_used_interval, only in a read-write READ
 * COMMITTED transaction on a primary, as the tables' owner, in a
 * subtransaction that never lets an error escape.  Before writing it probes
 * the key's usage row with a dirty snapshot: a row another transaction is
 * writing is left alone, and the UPDATE skips a locked one, so one
 * verification does not wait for another either (only two first uses of a
 * key racing between probe and INSERT can, for LASTUSED_WRITE_LOCK_TIMEOUT).  Before the extension is updated to 1.1.1 (no key_usage
 * table) the write goes to apikey.keys as it used to.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "lastused.h"
#include "settings.h"
#include "keystore.h"
#include "shmem.h"
#include "subxact.h"

/*
 * Notes a verification could not put into the shared table at once (its
 * partition's lock was busy) wait in this backend, at most this many
 */
#define LASTUSED_BACKLOG				32

/* A backend notes a key in shared memory at most this often */
#define LASTUSED_LOCAL_THROTTLE_USECS	USECS_PER_SEC
/* ... and forgets what it noted when it remembers this many keys */
#define LASTUSED_LOCAL_MAX				8192

/*
 * The longest a fallback write may wait for a lock: only a first use racing
 * another transaction's first use of the same key can wait at all.
 */
#define LASTUSED_WRITE_LOCK_TIMEOUT		"100ms"

#define LASTUSED_USAGE_TABLE			"key_usage"
#define LASTUSED_USAGE_INDEX			"key_usage_pkey"

typedef struct LocalNote
{
	int64		key_id;			/* hash key */
	TimestampTz noted_at;
} LocalNote;

/* What a probe of apikey.key_usage found for a key */
typedef enum UsageState
{
	USAGE_ABSENT,				/* no row, committed or not */
	USAGE_BUSY,					/* another transaction is writing it */
	USAGE_FOUND					/* a committed row, last use in *used_at */
} UsageState;

static HTAB *local_notes = NULL;

/* This backend's backlog: notes waiting for a free partition lock, oldest first */
static PendingUse backlog[LASTUSED_BACKLOG];
static int	nbacklog = 0;
static bool backlog_callbacks = false;

/* Fallback plans on apikey.key_usage, prepared once per backend */
static SPIPlanPtr usage_insert_plan = NULL;
static SPIPlanPtr usage_update_plan = NULL;

/* True when this transaction may write last use without risk. */
static bool
lastused_can_write(void)
{
	return !RecoveryInProgress() &&
		!XactReadOnly &&
		!IsolationUsesXactSnapshot() &&
		!IsInParallelMode();
}

/* This backend's note of key id (preloaded), created (noted_at 0) when missing. */
static LocalNote *
lastused_local_note(int64 id)
{
	LocalNote  *note;
	bool		found;

	if (local_notes == NULL || hash_get_num_entries(local_notes) >= LASTUSED_LOCAL_MAX)
	{
		HASHCTL		ctl;

		if (local_notes != NULL)
			hash_destroy(local_notes);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(LocalNote);
		ctl.hcxt = TopMemoryContext;
		local_notes = hash_create("apikey local last-used notes", 256, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	note = hash_search(local_notes, &id, HASH_ENTER, &found);
	if (!found)
		note->noted_at = 0;
	return note;
}

/*
 * Reads the usage row of key id with a dirty snapshot, which also sees rows
 * other transactions are inserting, updating or deleting right now (a row
 * another transaction only locked is left to the UPDATE's SKIP LOCKED).
 */
static UsageState
lastused_probe_usage(Oid relid, Oid indexid, int64 id, TimestampTz *used_at)
{
	Relation	rel;
	SnapshotData dirty;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	UsageState	state = USAGE_ABSENT;

	rel = table_open(relid, AccessShareLock);
	InitDirtySnapshot(dirty);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = systable_beginscan(rel, indexid, true, &dirty, 1, &skey);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d;

		/* set by the visibility check of this tuple: someone else is at it */
		if (TransactionIdIsValid(dirty.xmin) || TransactionIdIsValid(dirty.xmax))
		{
			state = USAGE_BUSY;
			break;
		}
		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		if (!isnull && (state == USAGE_ABSENT || DatumGetTimestampTz(d) > *used_at))
			*used_at = DatumGetTimestampTz(d);
		state = isnull ? state : USAGE_FOUND;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return state;
}

/*
 * Records a use of key id at now in apikey.key_usage when the last use known
 * there is older than the interval; returns true when a row was written and
 * sets *known to the newest use known afterwards.  Runs as the tables'
 * owner inside the caller's subtransaction.
 */
static bool
lastused_write_usage(Oid relid, Oid indexid, int64 id, TimestampTz now,
					 TimestampTz *known)
{
	TimestampTz used_at = 0;
	TimestampTz stale_before = now - (int64) apikey_last_used_interval * USECS_PER_SEC;
	UsageState	state;
	Oid			argtypes[3] = {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	int			ret;
	bool		written;

	state = lastused_probe_usage(relid, indexid, id, &used_at);
	if (state == USAGE_BUSY)
	{
		/* another transaction records a use of this key right now */
		*known = now;
		return false;
	}
	if (state == USAGE_FOUND && used_at > stale_before)
	{
		*known = used_at;
		return false;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(now);
	values[2] = TimestampTzGetDatum(stale_before);
	if (state == USAGE_ABSENT)
	{
		/* waits only if another first use of this key began since the probe */
		if (usage_insert_plan == NULL)
			usage_insert_plan =
				keystore_prepare("INSERT INTO apikey.key_usage (key_id, last_used_at) VALUES ($1, $2)"
								 " ON CONFLICT DO NOTHING",
								 2, argtypes);
		ret = SPI_execute_plan(usage_insert_plan, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not record the last use of an API key: SPI result %d", ret);
	}
	else
	{
		/* forward-only, skipping a row locked since the probe: never waits */
		if (usage_update_plan == NULL)
			usage_update_plan =
				keystore_prepare("UPDATE apikey.key_usage SET last_used_at = $2"
								 " WHERE key_id OPERATOR(pg_catalog.=) (SELECT u.key_id FROM apikey.key_usage u"
								 " WHERE u.key_id OPERATOR(pg_catalog.=) $1"
								 " AND u.last_used_at OPERATOR(pg_catalog.<) $3"
								 " FOR NO KEY UPDATE SKIP LOCKED)",
								 3, argtypes);
		ret = SPI_execute_plan(usage_update_plan, values, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not record the last use of an API key: SPI result %d", ret);
	}
	written = (SPI_processed == 1);
	SPI_finish();
	*known = now;
	return written;
}

/* The arguments and result of lastused_write_now's subtransaction */
typedef struct LastusedWrite
{
	int64		id;
	TimestampTz now;
	TimestampTz *known;
	bool		written;
} LastusedWrite;

static void
lastused_write_now_sub(void *arg)
{
	LastusedWrite *w = (LastusedWrite *) arg;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	Oid			nsp;
	Oid			relid = InvalidOid;
	Oid			indexid = InvalidOid;

	keystore_become_owner(&save_userid, &save_sec_context);
	/* undone by the subtransaction's end, as a function's SET clause */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", LASTUSED_WRITE_LOCK_TIMEOUT,
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);

	nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	if (OidIsValid(nsp))
	{
		relid = get_relname_relid(LASTUSED_USAGE_TABLE, nsp);
		indexid = get_relname_relid(LASTUSED_USAGE_INDEX, nsp);
	}
	if (OidIsValid(relid) && OidIsValid(indexid))
		w->written = lastused_write_usage(relid, indexid, w->id, w->now, w->known);
	else
	{
		/* extension not updated to 1.1.1 yet: the 1.1 behaviour */
		keystore_touch(w->id, w->now);
		w->written = true;
		*w->known = w->now;
	}

	AtEOXact_GUC(true, save_nestlevel);
	keystore_restore_user(save_userid, save_sec_context);
}

/* Counts a write the subtransaction dropped on an error */
static void
lastused_write_dropped(void *arg)
{
	stats_add(CTR_LAST_USED_DROPPED, 1);
}

/*
 * Writes the use of key id at now, in a subtransaction that swallows errors,
 * as the tables' owner, with a short lock_timeout.  Returns true when a row
 * was written; *known is the newest use known of the key (0 if unknown).
 */
static bool
lastused_write_now(int64 id, TimestampTz now, TimestampTz *known)
{
	LastusedWrite w;

	*known = 0;
	w.id = id;
	w.now = now;
	w.known = known;
	w.written = false;
	if (!subxact_run(lastused_write_now_sub, lastused_write_dropped, &w))
		return false;
	if (w.written)
		stats_add(CTR_LAST_USED_WRITTEN, 1);
	return w.written;
}

/*
 * Puts this backend's backlog into the shared table.  Without wait, a note
 * whose partition lock is busy stays in the backlog; a note that does not
 * fit (table full) is dropped and counted.
 */
static void
lastused_drain_backlog(bool wait)
{
	int			i;
	int			kept = 0;
	uint64		dropped = 0;

	for (i = 0; i < nbacklog; i++)
	{
		switch (pending_note(&backlog[i].key, backlog[i].used_at, wait))
		{
			case PENDING_NOTED:
				break;
			case PENDING_FULL:
				dropped++;
				break;
			case PENDING_BUSY:
				backlog[kept++] = backlog[i];
				continue;
		}
	}
	if (kept < nbacklog)
		pg_atomic_fetch_sub_u64(&apikey_shared->backlogged, nbacklog - kept);
	nbacklog = kept;
	if (dropped > 0)
		stats_add(CTR_LAST_USED_DROPPED, dropped);
}

/* Transaction callback: tries the backlog at the end of every transaction (never waits). */
static void
lastused_xact_callback(XactEvent event, void *arg)
{
	if (nbacklog > 0 &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PREPARE))
		lastused_drain_backlog(false);
}

/* Backend exit: the backlog goes into the shared table, waiting for the locks if need be. */
static void
lastused_backend_exit(int code, Datum arg)
{
	if (nbacklog > 0 && apikey_shared != NULL)
		lastused_drain_backlog(true);
}

/*
 * Keeps a note whose partition lock was busy in the backlog (the latest use
 * of a key wins).  When the backlog is full, its oldest note is dropped and
 * counted: a verification never waits for a lock.
 */
static void
lastused_backlog_add(const PendingKey *key, TimestampTz used_at)
{
	int			i;

	if (!backlog_callbacks)
	{
		RegisterXactCallback(lastused_xact_callback, NULL);
		before_shmem_exit(lastused_backend_exit, (Datum) 0);
		backlog_callbacks = true;
	}
	for (i = 0; i < nbacklog; i++)
	{
		if (backlog[i].key.dboid == key->dboid && backlog[i].key.key_id == key->key_id)
		{
			if (backlog[i].used_at < used_at)
				backlog[i].used_at = used_at;
			return;
		}
	}
	if (nbacklog == LASTUSED_BACKLOG)
	{
		memmove(&backlog[0], &backlog[1], sizeof(PendingUse) * (LASTUSED_BACKLOG - 1));
		nbacklog--;
		pg_atomic_fetch_sub_u64(&apikey_shared->backlogged, 1);
		stats_add(CTR_LAST_USED_DROPPED, 1);
	}
	memset(&backlog[nbacklog], 0, sizeof(PendingUse));
	backlog[nbacklog].key = *key;
	backlog[nbacklog].used_at = used_at;
	nbacklog++;
	pg_atomic_fetch_add_u64(&apikey_shared->backlogged, 1);
}

/*
 * Notes a use of key id in shared memory (latest time wins), first trying
 * the backlog.  Never waits: a busy partition keeps the note in the backlog;
 * a full table drops it, counted.
 */
static void
lastused_note_shared(int64 id, TimestampTz now)
{
	PendingKey	key;

	if (nbacklog > 0)
		lastused_drain_backlog(false);
	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	key.key_id = id;
	switch (pending_note(&key, now, false))
	{
		case PENDING_NOTED:
			break;
		case PENDING_FULL:
			stats_add(CTR_LAST_USED_DROPPED, 1);
			break;
		case PENDING_BUSY:
			lastused_backlog_add(&key, now);
			break;
	}
}

/*
 * Records that row's key was just used successfully.  Without preloading,
 * returns true when the use is now recorded (by this call, or by another
 * transaction less than apikey.last_used_interval ago), so that the caller
 * may remember the key as used now and skip the next ones.
 */
bool
lastused_record(const KeyRow *row)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz known;

	if (apikey_shared != NULL)
	{
		LocalNote  *note = lastused_local_note(row->id);

		if (now - note->noted_at < LASTUSED_LOCAL_THROTTLE_USECS)
			return false;
		note->noted_at = now;
		lastused_note_shared(row->id, now);
		return false;
	}

	if (!row->last_used_null &&
		row->last_used_at > now - (int64) apikey_last_used_interval * USECS_PER_SEC)
		return false;
	if (!lastused_can_write())
		return false;
	(void) lastused_write_now(row->id, now, &known);
	return known != 0;
}

/*
 * Takes every pending note of this database out of shared memory (run by
 * the flush worker), one partition at a time; *n is how many.  Their number
 * is also left in apikey_shared->flush_taken, counted as dropped by the
 * launcher if the worker fails before writing them.
 */
PendingUse *
lastused_take_notes(int *n)
{
	PendingUse *notes = pending_take(MyDatabaseId, n);

	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	apikey_shared->flush_taken = *n;
	LWLockRelease(apikey_shared->lock);
	return notes;
}

/*
 * Writes one batch of notes into apikey.keys with a forward-only UPDATE
 * (run by the flush worker, inside a transaction, connected to SPI), and
 * returns the number of rows written.  Rows another transaction has locked
 * (a revoke, a DBA's UPDATE) are skipped, never waited for: their notes go
 * back into shared memory for the next flush.  So the worker never holds a
 * key's row while waiting, and holds it only for the batch's short
 * transaction.
 */
int
lastused_flush_batch(const PendingUse *notes, int n)
{
	static SPIPlanPtr plan = NULL;
	Datum	   *ids;
	Datum	   *times;
	Oid			argtypes[3] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8OID};
	Datum		values[3];
	int			ret;
	int64		slack_us;
	int			written = 0;
	uint64		dropped = 0;
	uint64		i;

	if (n == 0)
		return 0;
	ids = palloc(sizeof(Datum) * n);
	times = palloc(sizeof(Datum) * n);
	for (i = 0; i < (uint64) n; i++)
	{
		ids[i] = Int64GetDatum(notes[i].key.key_id);
		times[i] = TimestampTzGetDatum(notes[i].used_at);
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(times, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/*
	 * A row whose last_used_at is recent enough is left alone: with a flush
	 * every F and an interval I, a stored value is rewritten only when it is
	 * older than I - F, so it lags real use by at most I and a key costs at
	 * most one row version per I, however hot.
	 */
	slack_us = (int64) apikey_last_used_interval * USECS_PER_SEC -
		(int64) apikey_last_used_flush_interval * 1000;
	values[2] = Int64GetDatum(Max(slack_us, 0));

	/* rows: every note written (w), and every note due but skipped as locked */
	if (plan == NULL)
	{
		plan = SPI_prepare_cursor("WITH u AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, used_at)),"
								  " l AS (SELECT k.id FROM apikey.keys k, u"
								  "  WHERE k.id OPERATOR(pg_catalog.=) u.id"
								  "  AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<)"
								  "  (u.used_at OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $3 OPERATOR(pg_catalog./) 1000000.0)))"
								  "  FOR NO KEY UPDATE OF k SKIP LOCKED),"
								  " w AS (UPDATE apikey.keys k SET last_used_at = u.used_at FROM l, u"
								  "  WHERE k.id OPERATOR(pg_catalog.=) l.id AND u.id OPERATOR(pg_catalog.=) l.id RETURNING k.id)"
								  " SELECT u.id, u.used_at, w.id IS NOT NULL AS written FROM u LEFT JOIN w ON w.id OPERATOR(pg_catalog.=) u.id"
								  " WHERE w.id IS NOT NULL OR EXISTS (SELECT FROM apikey.keys k"
								  "  WHERE k.id OPERATOR(pg_catalog.=) u.id"
								  "  AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<)"
								  "  (u.used_at OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $3 OPERATOR(pg_catalog./) 1000000.0))))",
								  3, argtypes, CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "could not prepare the last-used flush: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the last-used flush");
	}
	ret = SPI_execute_plan(plan, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not write last_used_at: SPI result %d", ret);

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		PendingKey	key;

		if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
		{
			written++;
			continue;
		}
		/* locked by another transaction: try again at the next flush */
		memset(&key, 0, sizeof(key));
		key.dboid = MyDatabaseId;
		key.key_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		if (pending_note(&key, DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)), true) != PENDING_NOTED)
			dropped++;
	}
	if (dropped > 0)
		stats_add(CTR_LAST_USED_DROPPED, dropped);
	return written;
}
