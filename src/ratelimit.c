/*-------------------------------------------------------------------------
 * ratelimit.c
 *	  Per-key rate limits, counted in shared memory by verification: a
 *	  fixed-size table of one "theoretical arrival time" per key (GCRA), and
 *	  the decision to admit a request or answer rate_limited.
 *
 * The algorithm (GCRA).  A limit of N requests per window W gives each
 * request a cost T = ceil(W / N) and allows a burst of N: a request at time
 * t is admitted when TAT - t <= (N - 1) * T, where TAT = max(stored TAT, t),
 * and then stores TAT + T.  A fresh key may make N requests at once, then
 * one every T; a refused request changes nothing, and its retry_after is the
 * time until the condition holds, TAT - t - (N - 1) * T.  In any one window
 * a key gets at most N requests plus those its rate refills meanwhile (at
 * most 2N - 1 over a window that starts with the full burst).
 *
 * The locking protocol.  The table is a shared dynahash keyed by (database,
 * key id), partitioned as shmem.c's pending table is: an entry lives in the
 * partition given by the low bits of its hash code.  A lookup holds the
 * partition's LWLock SHARED, and changes the entry's TAT by compare-and-swap
 * on a pg_atomic_uint64 while holding it: concurrent requests on one hot key
 * all hold the lock shared and never wait for one another.  The lock is
 * taken EXCLUSIVE only to insert a key seen for the first time (or evict
 * entries whose TAT has passed: they mean nothing, a missing entry behaves
 * the same), which readers' shared holds exclude while they use an entry.
 * All partitions draw on one pool sized by apikey.rate_limit_capacity,
 * counted exactly by an atomic; when it is full and nothing can be evicted,
 * apikey.rate_limit_overflow decides, as it does without shared memory
 * (library not preloaded), and the decision is counted in apikey_stats().
 * Each server counts its own requests: a standby does not share its counts
 * with the primary.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "ratelimit.h"
#include "shmem.h"

int			apikey_rate_limit_capacity = 10000;
int			apikey_rate_limit_overflow = RL_OVERFLOW_OPEN;

/* Partitions of the table, each with its own LWLock (a power of 2) */
#define RL_PARTITIONS		16

/* dynahash hands each of its 32 free lists at least one element: never fewer */
#define RL_MIN_ELEMENTS		64

/* Evict expired entries of every partition at most this often (microseconds) */
#define RL_SWEEP_INTERVAL	USECS_PER_SEC

/* A key: its id, and its created_at, so that an id used again (the extension dropped and created again) starts afresh */
typedef struct RateKey
{
	Oid			dboid;
	int64		key_id;
	TimestampTz created_at;
} RateKey;

typedef struct RateEntry
{
	RateKey		key;			/* hash key: must be first */
	pg_atomic_uint64 tat;		/* theoretical arrival time, microseconds (TimestampTz) */
	dlist_node	node;			/* in its partition's list, under its lock */
} RateEntry;

typedef struct RateShared
{
	LWLockPadded *locks;		/* RL_PARTITIONS locks */
	pg_atomic_uint32 entries;	/* entries in the table: at most the capacity */
	pg_atomic_uint64 last_sweep;	/* when the last sweep of every partition began */
	dlist_head	partition_entries[RL_PARTITIONS];
} RateShared;

static RateShared *rl_shared = NULL;
static HTAB *rl_table = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Elements the table is created with (at least the capacity). */
static inline long
rl_elements(void)
{
	return Max(apikey_rate_limit_capacity, RL_MIN_ELEMENTS);
}

/* shmem_request_hook: our memory and our tranche of partition locks. */
static void
rl_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(RateShared)),
									hash_estimate_size(rl_elements(), sizeof(RateEntry))));
	RequestNamedLWLockTranche("apikey ratelimit", RL_PARTITIONS);
}

/* Fills the shared state when it is new. */
static void
rl_shmem_init(void *p)
{
	RateShared *shared = (RateShared *) p;
	int			i;

	shared->locks = GetNamedLWLockTranche("apikey ratelimit");
	pg_atomic_init_u32(&shared->entries, 0);
	pg_atomic_init_u64(&shared->last_sweep, 0);
	for (i = 0; i < RL_PARTITIONS; i++)
		dlist_init(&shared->partition_entries[i]);
}

/* shmem_startup_hook: creates or attaches to the table. */
static void
rl_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	rl_shared = shmem_init_partitioned("apikey ratelimit", sizeof(RateShared), rl_shmem_init,
									   &rl_table, "apikey rate limits", rl_elements(),
									   sizeof(RateKey), sizeof(RateEntry), RL_PARTITIONS);
}

/* Installs the hooks; called from _PG_init while preloading. */
void
ratelimit_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rl_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rl_shmem_startup;
}

/* An interval in microseconds, linearized as interval comparison does (saturating). */
int64
ratelimit_interval_us(const Interval *iv)
{
	double		us = (double) iv->time +
		((double) iv->day + (double) iv->month * DAYS_PER_MONTH) * (double) USECS_PER_DAY;

	if (us >= (double) PG_INT64_MAX)
		return PG_INT64_MAX;
	if (us <= (double) PG_INT64_MIN)
		return PG_INT64_MIN;
	/* exact for every window the checks allow (at most a day: far below 2^53) */
	if (iv->month == 0 && iv->day >= 0 && iv->day <= 1)
		return iv->time + iv->day * USECS_PER_DAY;
	return (int64) us;
}

/*
 * One GCRA step on an entry's TAT by compare-and-swap: true when admitted
 * (and counted), false with *retry_after_us otherwise.
 */
static bool
rl_step(pg_atomic_uint64 *tat_p, TimestampTz now, int64 cost, int64 tolerance,
		int64 *retry_after_us)
{
	uint64		old = pg_atomic_read_u64(tat_p);

	for (;;)
	{
		int64		tat = Max((int64) old, now);

		/*
		 * A TAT beyond a full burst under these parameters was left by
		 * others (a limit raised by apikey_update or a plain UPDATE): cap
		 * it, and store the cap, so the key waits at most one emission
		 * interval instead of the old window.  A no-op while the
		 * parameters stay the same.
		 */
		if (tat - now > tolerance + cost)
		{
			if (!pg_atomic_compare_exchange_u64(tat_p, &old, (uint64) (now + tolerance + cost)))
				continue;
			old = (uint64) (now + tolerance + cost);
			tat = (int64) old;
		}
		if (tat - now > tolerance)
		{
			*retry_after_us = tat - now - tolerance;
			return false;
		}
		if (pg_atomic_compare_exchange_u64(tat_p, &old, (uint64) (tat + cost)))
			return true;
		/* another request moved it first: old holds its value, try again */
	}
}

/* The LWLock of partition part. */
static inline LWLock *
rl_lock(int part)
{
	return &rl_shared->locks[part].lock;
}

/*
 * Removes the entries of partition part whose TAT has passed (a fresh entry
 * would behave the same).  The caller holds the partition's lock exclusive.
 */
static void
rl_evict_expired(int part, TimestampTz now)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &rl_shared->partition_entries[part])
	{
		RateEntry  *e = dlist_container(RateEntry, node, iter.cur);

		if ((int64) pg_atomic_read_u64(&e->tat) > now)
			continue;
		dlist_delete(&e->node);
		hash_search(rl_table, &e->key, HASH_REMOVE, NULL);
		pg_atomic_fetch_sub_u32(&rl_shared->entries, 1);
	}
}

/*
 * The table is full: evicts expired entries of every partition, one
 * partition at a time (never two locks at once), at most once per
 * RL_SWEEP_INTERVAL across the server.  The caller holds no lock.
 */
static void
rl_sweep(TimestampTz now)
{
	uint64		last = pg_atomic_read_u64(&rl_shared->last_sweep);
	int			part;

	if (now - (int64) last < RL_SWEEP_INTERVAL ||
		!pg_atomic_compare_exchange_u64(&rl_shared->last_sweep, &last, (uint64) now))
		return;
	for (part = 0; part < RL_PARTITIONS; part++)
	{
		LWLockAcquire(rl_lock(part), LW_EXCLUSIVE);
		rl_evict_expired(part, now);
		LWLockRelease(rl_lock(part));
	}
}

/*
 * Inserts key into partition part (whose lock the caller holds exclusive),
 * within the capacity; NULL when the table is full.
 */
static RateEntry *
rl_insert(const RateKey *key, uint32 hashcode, int part, TimestampTz now)
{
	RateEntry  *e;
	bool		found;

	e = hash_search_with_hash_value(rl_table, key, hashcode, HASH_FIND, NULL);
	if (e != NULL)
		return e;
	if (pg_atomic_fetch_add_u32(&rl_shared->entries, 1) >= (uint32) apikey_rate_limit_capacity)
	{
		pg_atomic_fetch_sub_u32(&rl_shared->entries, 1);
		rl_evict_expired(part, now);
		if (pg_atomic_fetch_add_u32(&rl_shared->entries, 1) >= (uint32) apikey_rate_limit_capacity)
		{
			pg_atomic_fetch_sub_u32(&rl_shared->entries, 1);
			return NULL;
		}
	}
	e = hash_search_with_hash_value(rl_table, key, hashcode, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		pg_atomic_fetch_sub_u32(&rl_shared->entries, 1);
		return NULL;
	}
	Assert(!found);
	pg_atomic_init_u64(&e->tat, (uint64) now);
	dlist_push_tail(&rl_shared->partition_entries[part], &e->node);
	return e;
}

/* What overflow decides for a request that cannot be counted (and counts the decision). */
static bool
rl_overflow(int64 window_us, int64 *retry_after_us)
{
	stats_add(CTR_RATE_LIMIT_OVERFLOW, 1);
	if (apikey_rate_limit_overflow == RL_OVERFLOW_CLOSED)
	{
		*retry_after_us = window_us;
		return false;
	}
	return true;
}

/*
 * Counts one request of the key of row (row->rate_limit requests per
 * row->rate_window_us) in this database; true when admitted, else false
 * with *retry_after_us.
 */
bool
ratelimit_admit(const KeyRow *row, int64 *retry_after_us)
{
	int32		limit = row->rate_limit;
	int64		window_us = row->rate_window_us;
	RateKey		key;
	uint32		hashcode;
	int			part;
	RateEntry  *e;
	TimestampTz now;
	int64		cost;
	int64		tolerance;
	bool		admitted;

	*retry_after_us = 0;
	if (limit <= 0 || window_us <= 0)
		return true;
	window_us = Min(window_us, RATELIMIT_MAX_WINDOW_US);
	if (rl_shared == NULL || rl_table == NULL)
		return rl_overflow(window_us, retry_after_us);

	/* cost and tolerance: at most a day each, so no sum below overflows */
	cost = (window_us + limit - 1) / limit;
	tolerance = (int64) (limit - 1) * cost;
	now = GetCurrentTimestamp();

	/* hashed as bytes: the padding must be zero */
	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	key.key_id = row->id;
	key.created_at = row->created_at;
	hashcode = get_hash_value(rl_table, &key);
	part = hashcode % RL_PARTITIONS;

	LWLockAcquire(rl_lock(part), LW_SHARED);
	e = hash_search_with_hash_value(rl_table, &key, hashcode, HASH_FIND, NULL);
	if (e != NULL)
	{
		admitted = rl_step(&e->tat, now, cost, tolerance, retry_after_us);
		LWLockRelease(rl_lock(part));
		return admitted;
	}
	LWLockRelease(rl_lock(part));

	/* first request of this key since it was evicted (or ever): insert it */
	LWLockAcquire(rl_lock(part), LW_EXCLUSIVE);
	e = rl_insert(&key, hashcode, part, now);
	if (e == NULL)
	{
		LWLockRelease(rl_lock(part));
		rl_sweep(now);
		LWLockAcquire(rl_lock(part), LW_EXCLUSIVE);
		e = rl_insert(&key, hashcode, part, now);
	}
	if (e == NULL)
	{
		LWLockRelease(rl_lock(part));
		return rl_overflow(window_us, retry_after_us);
	}
	admitted = rl_step(&e->tat, now, cost, tolerance, retry_after_us);
	LWLockRelease(rl_lock(part));
	return admitted;
}
