/*-------------------------------------------------------------------------
 * shmem.h
 *	  Shared state of the extension (see shmem.c): counters and pending
 *	  last-used records.  NULL pointers when the library is not preloaded.
 *
 * The pending table is partitioned: an entry is read or changed under the
 * LWLock of its partition only, and each partition keeps a list of its own
 * entries, so the flush and the standby shipper take notes out one partition
 * at a time and never hold more than one partition lock.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_SHMEM_H
#define APIKEY_SHMEM_H

#include "datatype/timestamp.h"
#include "lib/ilist.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* Counters reported by apikey_stats(): one per verification status, then tracking */
typedef enum ApikeyCounter
{
	/* the first eight are indexed by VerifyStatus (verify.c maps statuses explicitly) */
	CTR_LAST_USED_WRITTEN = 8,	/* last_used_at values written */
	CTR_LAST_USED_DROPPED,		/* records dropped: table full, or flush failed */
	CTR_RATE_LIMITED,			/* VS_RATE_LIMITED answers (ratelimit.c) */
	CTR_RATE_LIMIT_OVERFLOW,	/* requests apikey.rate_limit_overflow decided (ratelimit.c) */
	APIKEY_N_COUNTERS
} ApikeyCounter;

/* A pending record: the latest use of a key in a database */
typedef struct PendingKey
{
	Oid			dboid;
	int64		key_id;
} PendingKey;

typedef struct PendingUse
{
	PendingKey	key;			/* hash key: must be first */
	TimestampTz used_at;
	dlist_node	node;			/* in its partition's list (shared entries only) */
} PendingUse;

/* What pending_note() did with a note */
typedef enum PendingNoteResult
{
	PENDING_NOTED,				/* in the table (the latest time wins) */
	PENDING_FULL,				/* table full and the key not in it: not noted */
	PENDING_BUSY				/* partition lock busy and told not to wait: not noted */
} PendingNoteResult;

/* Partitions of the pending table, each with its own LWLock (a power of 2) */
#define APIKEY_PENDING_PARTITIONS	64

typedef struct ApikeyShared
{
	LWLock	   *lock;			/* protects the fields below (not the pending table) */
	LWLockPadded *partition_locks;	/* APIKEY_PENDING_PARTITIONS locks */
	/* the entries of each partition, under that partition's lock */
	dlist_head	partition_entries[APIKEY_PENDING_PARTITIONS];
	/* notes waiting in backends' local backlogs (lastused.c), not in the table */
	pg_atomic_uint64 backlogged;
	pg_atomic_uint64 counters[APIKEY_N_COUNTERS];
	TimestampTz stats_reset;
	pid_t		launcher_pid;
	Oid			flushed_db;		/* set by a flush worker that committed */
	int			flush_taken;	/* notes the running flush worker took out */
	int			ship_taken;		/* notes a standby's shipper took out, not yet delivered or put back */
} ApikeyShared;

extern ApikeyShared *apikey_shared;
extern HTAB *apikey_pending;
extern int	apikey_last_used_capacity;

extern void shmem_install_hooks(void);
extern void *shmem_init_partitioned(const char *name, Size size, void (*init) (void *),
									HTAB **table, const char *table_name, long nelems,
									Size keysize, Size entrysize, int partitions);
extern PendingNoteResult pending_note(const PendingKey *key, TimestampTz used_at, bool wait);
extern PendingUse *pending_take(Oid dboid, int *n);
extern uint64 pending_remove_database(Oid dboid);
extern int	pending_databases(Oid *dbs, int max);

/* lastused.c: the flush worker's side of the pending table */
extern PendingUse *lastused_take_notes(int *n);
extern int	lastused_flush_batch(const PendingUse *notes, int n);
extern void stats_add(ApikeyCounter counter, uint64 n);
extern void stats_read(uint64 *counters, TimestampTz *reset, int64 *pending);
extern void stats_reset(void);

#endif							/* APIKEY_SHMEM_H */
