/*-------------------------------------------------------------------------
 * shmem.h
 *	  Shared state of the extension (see shmem.c): counters and pending
 *	  last-used records.  NULL pointers when the library is not preloaded.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_SHMEM_H
#define APIKEY_SHMEM_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* Counters reported by apikey_stats(): one per verification status, then tracking */
typedef enum ApikeyCounter
{
	/* the first eight are indexed by VerifyStatus */
	CTR_LAST_USED_WRITTEN = 8,	/* last_used_at values written */
	CTR_LAST_USED_DROPPED,		/* records dropped: table full, or flush failed */
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
} PendingUse;

typedef struct ApikeyShared
{
	LWLock	   *lock;			/* protects the pending table and the fields below */
	pg_atomic_uint64 counters[APIKEY_N_COUNTERS];
	TimestampTz stats_reset;
	pid_t		launcher_pid;
	Oid			flushed_db;		/* set by a flush worker that committed */
	int			flush_taken;	/* notes the running flush worker took out */
} ApikeyShared;

extern ApikeyShared *apikey_shared;
extern HTAB *apikey_pending;
extern int	apikey_last_used_capacity;

extern void shmem_install_hooks(void);
extern void stats_add(ApikeyCounter counter, uint64 n);
extern void stats_read(uint64 *counters, TimestampTz *reset, int64 *pending);
extern void stats_reset(void);

#endif							/* APIKEY_SHMEM_H */
