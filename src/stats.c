/*-------------------------------------------------------------------------
 * stats.c
 *	  SQL entry points of the counters: apikey_stats and apikey_stats_reset.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "shmem.h"

/*
 * SQL function: apikey_stats() returns table(valid, missing, malformed,
 * unknown, revoked, disabled, expired, user_inactive, last_used_written,
 * last_used_dropped, last_used_pending, shared, stats_reset, rate_limited,
 * rate_limit_overflow): the counters up to CTR_LAST_USED_DROPPED, the three
 * columns of 1.0 after them, then the counters added since, in their order.
 */
PG_FUNCTION_INFO_V1(apikey_stats);
Datum
apikey_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		counters[APIKEY_N_COUNTERS];
	TimestampTz reset;
	int64		pending;
	Datum		values[APIKEY_N_COUNTERS + 3];
	bool		nulls[APIKEY_N_COUNTERS + 3];
	int			i;

	stats_read(counters, &reset, &pending);
	InitMaterializedSRF(fcinfo, 0);
	memset(nulls, false, sizeof(nulls));
	for (i = 0; i <= CTR_LAST_USED_DROPPED; i++)
		values[i] = Int64GetDatum((int64) counters[i]);
	values[CTR_LAST_USED_DROPPED + 1] = Int64GetDatum(pending);
	values[CTR_LAST_USED_DROPPED + 2] = BoolGetDatum(apikey_shared != NULL);
	values[CTR_LAST_USED_DROPPED + 3] = TimestampTzGetDatum(reset);
	for (i = CTR_LAST_USED_DROPPED + 1; i < APIKEY_N_COUNTERS; i++)
		values[i + 3] = Int64GetDatum((int64) counters[i]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* SQL function: apikey_stats_reset() returns void */
PG_FUNCTION_INFO_V1(apikey_stats_reset);
Datum
apikey_stats_reset(PG_FUNCTION_ARGS)
{
	stats_reset();
	PG_RETURN_VOID();
}
