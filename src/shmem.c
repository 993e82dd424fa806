/*-------------------------------------------------------------------------
 * shmem.c
 *	  The extension's shared memory (only when loaded through
 *	  shared_preload_libraries): verification counters and the table of
 *	  pending last-used records.
 *
 * Counters are atomics, so a verification never takes a lock to count.
 * The pending table is a fixed-size shared hash keyed by (database, key id)
 * holding the latest use.  It is partitioned as PostgreSQL's lock table is:
 * an entry lives in the partition given by the low bits of its hash code,
 * and is read or changed under that partition's LWLock only, so backends
 * noting different keys rarely meet on a lock.  All partitions draw on one
 * pool of apikey.last_used_capacity entries (HASH_FIXED_SIZE: a partition
 * whose free list is empty borrows from the others, and the table never
 * grows into the rest of shared memory), so nothing is dropped before the
 * table holds that many keys.  Each partition also keeps a list of its own
 * entries, so the flush worker, the launcher and the standby shipper go
 * through the table one partition at a time and never hold more than one
 * partition lock (dynahash's whole-table scan would need them all).  A
 * verification never waits for a partition lock: it only tries it, and a
 * note whose partition is busy waits in the backend (lastused.c).  Backends
 * also throttle their own notes, so a hot key touches the table about once
 * a second per backend.  Without preloading, counters live in each backend
 * instead.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "shmem.h"

ApikeyShared *apikey_shared = NULL;
HTAB	   *apikey_pending = NULL;
int			apikey_last_used_capacity = 65536;

/* Counters of a backend when the library is not preloaded */
static uint64 local_counters[APIKEY_N_COUNTERS];
static TimestampTz local_reset = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Bytes of shared memory the extension needs. */
static Size
shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(ApikeyShared)),
					hash_estimate_size(apikey_last_used_capacity, sizeof(PendingUse)));
}

/* shmem_request_hook: asks for our memory and our LWLock. */
static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("apikey", 1 + APIKEY_PENDING_PARTITIONS);
}

/*
 * Creates or attaches to the struct name of size bytes (init fills it when
 * it is new) and its fixed-size partitioned hash table, under
 * AddinShmemInitLock; returns the struct.  Called from a shmem_startup_hook.
 */
void *
shmem_init_partitioned(const char *name, Size size, void (*init) (void *),
					   HTAB **table, const char *table_name, long nelems,
					   Size keysize, Size entrysize, int partitions)
{
	bool		found;
	HASHCTL		info;
	void	   *shared;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct(name, size, &found);
	if (!found)
		init(shared);
	memset(&info, 0, sizeof(info));
	info.keysize = keysize;
	info.entrysize = entrysize;
	info.num_partitions = partitions;
	*table = ShmemInitHash(table_name, nelems, nelems, &info,
						   HASH_ELEM | HASH_BLOBS | HASH_PARTITION | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
	return shared;
}

/* Fills the shared state when it is new. */
static void
shmem_init(void *p)
{
	ApikeyShared *shared = (ApikeyShared *) p;
	LWLockPadded *locks = GetNamedLWLockTranche("apikey");
	int			i;

	shared->lock = &locks[0].lock;
	shared->partition_locks = &locks[1];
	for (i = 0; i < APIKEY_N_COUNTERS; i++)
		pg_atomic_init_u64(&shared->counters[i], 0);
	shared->stats_reset = GetCurrentTimestamp();
	shared->launcher_pid = 0;
	shared->flushed_db = InvalidOid;
	shared->flush_taken = 0;
	shared->ship_taken = 0;
	for (i = 0; i < APIKEY_PENDING_PARTITIONS; i++)
		dlist_init(&shared->partition_entries[i]);
	pg_atomic_init_u64(&shared->backlogged, 0);
}

/* shmem_startup_hook: creates or attaches to the shared state. */
static void
shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	apikey_shared = shmem_init_partitioned("apikey", sizeof(ApikeyShared), shmem_init,
										   &apikey_pending, "apikey pending last-used",
										   apikey_last_used_capacity,
										   sizeof(PendingKey), sizeof(PendingUse),
										   APIKEY_PENDING_PARTITIONS);
}

/* Installs the hooks; called from _PG_init while preloading. */
void
shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/* The LWLock of partition part. */
static inline LWLock *
partition_lock(int part)
{
	return &apikey_shared->partition_locks[part].lock;
}

/*
 * Notes a use of a key in the pending table (the latest time wins).  Takes
 * only the lock of the key's partition: waits for it when wait is true, and
 * otherwise gives up at once (PENDING_BUSY) when another process holds it.
 * PENDING_FULL when the table is full and the key is not in it.
 */
PendingNoteResult
pending_note(const PendingKey *key, TimestampTz used_at, bool wait)
{
	PendingKey	k;
	uint32		hashcode;
	int			part;
	LWLock	   *lock;
	PendingUse *entry;
	bool		found;

	/* the key is hashed as bytes: its padding must be zero, whoever copied it */
	memset(&k, 0, sizeof(k));
	k.dboid = key->dboid;
	k.key_id = key->key_id;
	hashcode = get_hash_value(apikey_pending, &k);
	part = hashcode % APIKEY_PENDING_PARTITIONS;
	lock = partition_lock(part);

	if (wait)
		LWLockAcquire(lock, LW_EXCLUSIVE);
	else if (!LWLockConditionalAcquire(lock, LW_EXCLUSIVE))
		return PENDING_BUSY;
	entry = hash_search_with_hash_value(apikey_pending, &k, hashcode,
										HASH_ENTER_NULL, &found);
	if (entry != NULL && !found)
	{
		entry->used_at = used_at;
		dlist_push_tail(&apikey_shared->partition_entries[part], &entry->node);
	}
	else if (entry != NULL && entry->used_at < used_at)
		entry->used_at = used_at;
	LWLockRelease(lock);
	return entry != NULL ? PENDING_NOTED : PENDING_FULL;
}

/*
 * Takes the pending notes of database dboid (every database when invalid)
 * out of the table, one partition at a time, and returns them in a palloc'd
 * array; *n is how many.  Only one partition lock is held at any moment.
 * The array is sized once, before the first lock, with room for the notes
 * that arrive meanwhile; what does not fit stays for the next round (never
 * release a partition's lock to grow the array and come back to it: a key
 * noted in between would be taken twice).
 */
PendingUse *
pending_take(Oid dboid, int *n)
{
	Size		cap = (Size) hash_get_num_entries(apikey_pending);
	PendingUse *notes;
	int			part;

	cap = Min(cap + cap / 4 + 64, (Size) apikey_last_used_capacity);
	notes = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(PendingUse) * cap);
	*n = 0;
	for (part = 0; part < APIKEY_PENDING_PARTITIONS && (Size) *n < cap; part++)
	{
		dlist_mutable_iter iter;

		LWLockAcquire(partition_lock(part), LW_EXCLUSIVE);
		dlist_foreach_modify(iter, &apikey_shared->partition_entries[part])
		{
			PendingUse *entry = dlist_container(PendingUse, node, iter.cur);

			if (OidIsValid(dboid) && entry->key.dboid != dboid)
				continue;
			if ((Size) *n >= cap)
				break;
			notes[*n] = *entry;
			dlist_delete(&entry->node);
			/* by the entry's own key: the bytes it was hashed with */
			hash_search(apikey_pending, &entry->key, HASH_REMOVE, NULL);
			(*n)++;
		}
		LWLockRelease(partition_lock(part));
	}
	return notes;
}

/* Removes every pending note of a database, one partition at a time; returns how many. */
uint64
pending_remove_database(Oid dboid)
{
	uint64		n = 0;
	int			part;

	for (part = 0; part < APIKEY_PENDING_PARTITIONS; part++)
	{
		dlist_mutable_iter iter;

		LWLockAcquire(partition_lock(part), LW_EXCLUSIVE);
		dlist_foreach_modify(iter, &apikey_shared->partition_entries[part])
		{
			PendingUse *entry = dlist_container(PendingUse, node, iter.cur);

			if (entry->key.dboid != dboid)
				continue;
			dlist_delete(&entry->node);
			hash_search(apikey_pending, &entry->key, HASH_REMOVE, NULL);
			n++;
		}
		LWLockRelease(partition_lock(part));
	}
	return n;
}

/* Collects up to max databases that have pending notes, one partition at a time. */
int
pending_databases(Oid *dbs, int max)
{
	int			n = 0;
	int			part;

	if (hash_get_num_entries(apikey_pending) == 0)
		return 0;
	for (part = 0; part < APIKEY_PENDING_PARTITIONS && n < max; part++)
	{
		dlist_iter	iter;

		LWLockAcquire(partition_lock(part), LW_SHARED);
		dlist_foreach(iter, &apikey_shared->partition_entries[part])
		{
			PendingUse *entry = dlist_container(PendingUse, node, iter.cur);
			int			i;

			for (i = 0; i < n; i++)
				if (dbs[i] == entry->key.dboid)
					break;
			if (i == n && n < max)
				dbs[n++] = entry->key.dboid;
		}
		LWLockRelease(partition_lock(part));
	}
	return n;
}

/* Adds n to a counter (shared when preloaded, this backend's otherwise). */
void
stats_add(ApikeyCounter counter, uint64 n)
{
	if (apikey_shared)
		pg_atomic_fetch_add_u64(&apikey_shared->counters[counter], n);
	else
		local_counters[counter] += n;
}

/* Copies the counters and the time of the last reset. */
void
stats_read(uint64 *counters, TimestampTz *reset, int64 *pending)
{
	int			i;

	if (apikey_shared)
	{
		for (i = 0; i < APIKEY_N_COUNTERS; i++)
			counters[i] = pg_atomic_read_u64(&apikey_shared->counters[i]);
		LWLockAcquire(apikey_shared->lock, LW_SHARED);
		*reset = apikey_shared->stats_reset;
		/* notes a flush worker or the shipper holds are still pending */
		*pending = apikey_shared->flush_taken + apikey_shared->ship_taken;
		LWLockRelease(apikey_shared->lock);
		/* the sum of the partitions' counts, read without their locks */
		*pending += hash_get_num_entries(apikey_pending) +
			(int64) pg_atomic_read_u64(&apikey_shared->backlogged);
	}
	else
	{
		memcpy(counters, local_counters, sizeof(local_counters));
		if (local_reset == 0)
			local_reset = GetCurrentTimestamp();
		*reset = local_reset;
		*pending = 0;
	}
}

/* Sets every counter back to zero. */
void
stats_reset(void)
{
	int			i;

	if (apikey_shared)
	{
		for (i = 0; i < APIKEY_N_COUNTERS; i++)
			pg_atomic_write_u64(&apikey_shared->counters[i], 0);
		LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
		apikey_shared->stats_reset = GetCurrentTimestamp();
		LWLockRelease(apikey_shared->lock);
	}
	else
	{
		memset(local_counters, 0, sizeof(local_counters));
		local_reset = GetCurrentTimestamp();
	}
}
