/*-------------------------------------------------------------------------
 * credits.h
 *	  The rate limit and usage credits of a key: the argument checks shared
 *	  by apikey_create and apikey_update, and the reads and writes of
 *	  apikey.key_credits other than apikey_consume's (credits.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_CREDITS_H
#define APIKEY_CREDITS_H

#include "apikey.h"

/* reads arguments argno .. argno + 4 (rate_limit, rate_window, remaining, refill_amount, refill_interval); 22023 */
extern void limits_from_args(FunctionCallInfo fcinfo, int argno, KeyLimits *limits);
/* the pair rules on the values a key will have: 22023; sets credits and the starting remaining */
extern void limits_check_pairs(KeyLimits *limits);
/* the stored rate limit and credits of key id */
extern void limits_read(int64 id, KeyLimits *limits);
/* moves the credits row of key from to key to (rotation) */
extern void credits_move(int64 from, int64 to);
/* replaces (or, when !limits->credits, deletes) the credits row of key id; refills restart now */
extern void credits_store(int64 id, const KeyLimits *limits);

#endif							/* APIKEY_CREDITS_H */
