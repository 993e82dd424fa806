/*-------------------------------------------------------------------------
 * verify_cache.h
 *	  Keys verified before, kept until an invalidation (verify_cache.c); the
 *	  one place that owns the cache invalidation protocol.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_VERIFY_CACHE_H
#define APIKEY_VERIFY_CACHE_H

#include "apikey.h"

/* verify_cache.c: keys seen before, until an invalidation says otherwise */
extern int	apikey_verify_cache_size;
extern bool verify_cache_lookup(const uint8 *hash, KeyRow *row, UserInfo *user,
								ArrayType **permissions);
extern uint64 verify_cache_generation(void);
extern void verify_cache_store(uint64 gen, const uint8 *hash, const KeyRow *row,
							   const UserInfo *user, ArrayType *permissions);
extern void verify_cache_touch(const uint8 *hash, TimestampTz used_at);
extern void verify_cache_reset(void);
extern Datum apikey_cache_invalidate(PG_FUNCTION_ARGS);

#endif							/* APIKEY_VERIFY_CACHE_H */
