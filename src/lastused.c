/*-------------------------------------------------------------------------
 * lastused.c
 *	  Last-used tracking: when a valid key was last seen.
 *
 * Preloaded (shared_preload_libraries), a verification only notes (key,
 * time) in shared memory; the background worker (lastused_worker.c) writes
 * the notes in batches with a forward-only UPDATE.  Each backend remembers
 * what it noted in the last second, so a hot key touches shared memory about
 * once a second per backend; when the shared table is full a note is dropped
 * and counted, never waited for.  On a standby the notes are shipped to the
 * primary instead (lastused_standby.c).
 *
 * Not preloaded, a verification writes last_used_at itself, at most once per
 * key per apikey.last_used_interval, only in a read-write READ COMMITTED
 * transaction on a primary, as the tables' owner, in a subtransaction that
 * never lets an error escape, skipping a row another transaction has locked.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "shmem.h"

/* A backend notes a key in shared memory at most this often */
#define LASTUSED_LOCAL_THROTTLE_USECS	USECS_PER_SEC
/* ... and forgets what it noted when it remembers this many keys */
#define LASTUSED_LOCAL_MAX				8192

typedef struct LocalNote
{
	int64		key_id;			/* hash key */
	TimestampTz noted_at;
} LocalNote;

static HTAB *local_notes = NULL;

/* True when this transaction may write last_used_at without risk. */
static bool
lastused_can_write(void)
{
	return !RecoveryInProgress() &&
		!XactReadOnly &&
		!IsolationUsesXactSnapshot() &&
		!IsInParallelMode();
}

/* Writes last_used_at for key id now, in a subtransaction that swallows errors. */
static void
lastused_write_now(int64 id, TimestampTz now)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		Oid			save_userid;
		int			save_sec_context;

		keystore_become_owner(&save_userid, &save_sec_context);
		keystore_touch(id, now);
		keystore_restore_user(save_userid, save_sec_context);

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		stats_add(CTR_LAST_USED_WRITTEN, 1);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* the subtransaction's abort restores the user and SPI */
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		stats_add(CTR_LAST_USED_DROPPED, 1);
		/* a cancel or shutdown is not ours to swallow */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/* True when this backend noted key id less than a second ago (and notes it otherwise). */
static bool
lastused_recently_noted(int64 id, TimestampTz now)
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
	if (found && now - note->noted_at < LASTUSED_LOCAL_THROTTLE_USECS)
		return true;
	note->noted_at = now;
	return false;
}

/* Notes a use of key id in shared memory (latest time wins); drops it when full. */
static void
lastused_note_shared(int64 id, TimestampTz now)
{
	PendingKey	key;
	PendingUse *entry;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	key.key_id = id;

	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	entry = hash_search(apikey_pending, &key, HASH_FIND, NULL);
	if (entry == NULL && hash_get_num_entries(apikey_pending) < apikey_last_used_capacity)
	{
		entry = hash_search(apikey_pending, &key, HASH_ENTER_NULL, &found);
		if (entry != NULL)
			entry->used_at = now;
	}
	else if (entry != NULL && entry->used_at < now)
		entry->used_at = now;
	LWLockRelease(apikey_shared->lock);

	if (entry == NULL)
		stats_add(CTR_LAST_USED_DROPPED, 1);
}

/*
 * Records that row's key was just used successfully.  Returns true when
 * this call wrote last_used_at itself (the fallback without preloading).
 */
bool
lastused_record(const KeyRow *row)
{
	TimestampTz now = GetCurrentTimestamp();

	if (apikey_shared != NULL)
	{
		if (!lastused_recently_noted(row->id, now))
			lastused_note_shared(row->id, now);
		return false;
	}

	if (!row->last_used_null &&
		row->last_used_at > now - (int64) apikey_last_used_interval * USECS_PER_SEC)
		return false;
	if (!lastused_can_write())
		return false;
	lastused_write_now(row->id, now);
	return true;
}

/*
 * Takes every pending note of this database out of shared memory and writes
 * them with one forward-only UPDATE (run by the flush worker, inside a
 * transaction, connected to SPI).  Returns the number of rows written; what
 * was taken is in apikey_shared->flush_taken, counted as dropped by the
 * launcher if the transaction fails.
 */
int
lastused_flush_database(void)
{
	HASH_SEQ_STATUS status;
	PendingUse *entry;
	int			n = 0,
				cap;
	Datum	   *ids;
	Datum	   *times;
	Oid			argtypes[3] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8OID};
	Datum		values[3];
	int			ret;
	int64		slack_us;

	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	cap = Max(hash_get_num_entries(apikey_pending), 1);
	ids = palloc(sizeof(Datum) * cap);
	times = palloc(sizeof(Datum) * cap);
	hash_seq_init(&status, apikey_pending);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dboid != MyDatabaseId)
			continue;
		ids[n] = Int64GetDatum(entry->key.key_id);
		times[n] = TimestampTzGetDatum(entry->used_at);
		n++;
		/* removing the current entry during a seq scan is allowed */
		hash_search(apikey_pending, &entry->key, HASH_REMOVE, NULL);
	}
	apikey_shared->flush_taken = n;
	LWLockRelease(apikey_shared->lock);

	if (n == 0)
		return 0;

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
	ret = SPI_execute_with_args("UPDATE apikey.keys k SET last_used_at = u.used_at"
								" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, used_at)"
								" WHERE k.id OPERATOR(pg_catalog.=) u.id"
								" AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<)"
								" (u.used_at OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $3 OPERATOR(pg_catalog./) 1000000.0)))",
								3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not write last_used_at: SPI result %d", ret);
	/* rows written: notes for rows recent enough (or gone) write nothing */
	return (int) SPI_processed;
}
