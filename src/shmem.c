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
 * table holds that many keys.  Scans of the whole table (the flush, the
 * launcher, standby shipping) take every partition lock in order.  Backends
 * also throttle their own notes (lastused.c), so a hot key touches the table
 * about once a second per backend.  Without preloading, counters live in
 * each backend instead.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
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

/* shmem_startup_hook: creates or attaches to the shared state. */
static void
shmem_startup(void)
{
	bool		found;
	HASHCTL		info;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	apikey_shared = ShmemInitStruct("apikey", sizeof(ApikeyShared), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("apikey");

		apikey_shared->lock = &locks[0].lock;
		apikey_shared->partition_locks = &locks[1];
		for (i = 0; i < APIKEY_N_COUNTERS; i++)
			pg_atomic_init_u64(&apikey_shared->counters[i], 0);
		apikey_shared->stats_reset = GetCurrentTimestamp();
		apikey_shared->launcher_pid = 0;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(PendingKey);
	info.entrysize = sizeof(PendingUse);
	info.num_partitions = APIKEY_PENDING_PARTITIONS;
	apikey_pending = ShmemInitHash("apikey pending last-used",
								   apikey_last_used_capacity, apikey_last_used_capacity,
								   &info,
								   HASH_ELEM | HASH_BLOBS | HASH_PARTITION | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
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

/* The LWLock of the partition holding entries with this hash code. */
LWLock *
pending_partition_lock(uint32 hashcode)
{
	return &apikey_shared->partition_locks[hashcode % APIKEY_PENDING_PARTITIONS].lock;
}

/* Takes every partition lock, in order (for a scan of the whole table). */
void
pending_lock_all(LWLockMode mode)
{
	int			i;

	for (i = 0; i < APIKEY_PENDING_PARTITIONS; i++)
		LWLockAcquire(&apikey_shared->partition_locks[i].lock, mode);
}

/* Releases what pending_lock_all() took. */
void
pending_unlock_all(void)
{
	int			i;

	for (i = APIKEY_PENDING_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&apikey_shared->partition_locks[i].lock);
}

/*
 * Notes a use of a key in the pending table (the latest time wins); false
 * when the table is full and the key is not in it.  Takes only the lock of
 * the key's partition.
 */
bool
pending_note(const PendingKey *key, TimestampTz used_at)
{
	uint32		hashcode = get_hash_value(apikey_pending, key);
	LWLock	   *lock = pending_partition_lock(hashcode);
	PendingUse *entry;
	bool		found;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	entry = hash_search_with_hash_value(apikey_pending, key, hashcode,
										HASH_ENTER_NULL, &found);
	if (entry != NULL && (!found || entry->used_at < used_at))
		entry->used_at = used_at;
	LWLockRelease(lock);
	return entry != NULL;
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
		LWLockRelease(apikey_shared->lock);
		/* the sum of the partitions' counts, read without their locks */
		*pending = hash_get_num_entries(apikey_pending);
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
