/*-------------------------------------------------------------------------
 * ratelimit.h
 *	  Per-key rate limits (ratelimit.c: the shared GCRA table and the
 *	  decision; tenant_limits.c: apikey.tenant_limits and its SQL setter).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_RATELIMIT_H
#define APIKEY_RATELIMIT_H

#include "apikey.h"

/* apikey.rate_limit_overflow: what a request gets when it cannot be counted */
typedef enum RateLimitOverflow
{
	RL_OVERFLOW_OPEN,			/* answered as if the key had no limit */
	RL_OVERFLOW_CLOSED			/* rate_limited, retry_after = the window */
} RateLimitOverflow;

/* settings (defined in settings.c's _PG_init) */
extern int	apikey_rate_limit_capacity;
extern int	apikey_rate_limit_overflow;

/* The longest window a limit may have: one day, in microseconds */
#define RATELIMIT_MAX_WINDOW_US		USECS_PER_DAY

extern void ratelimit_install_hooks(void);

/*
 * Counts one request of a key whose row says it has a limit; true when it
 * may go ahead, else false with *retry_after_us, the time until the next
 * request would be allowed.  Never raises, never waits for a lock.
 */
extern bool ratelimit_admit(const KeyRow *row, int64 *retry_after_us);

/* An interval in microseconds, by interval comparison's rules (a month is 30 days) */
extern int64 ratelimit_interval_us(const Interval *iv);

/* tenant_limits.c: the tenant's default limit into row, when it has one (never raises) */
extern void tenant_limits_default(KeyRow *row, Snapshot snap, uint64 gen);

#endif							/* APIKEY_RATELIMIT_H */
