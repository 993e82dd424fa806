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
 * last_used_dropped, last_used_pending, shared, stats_reset)
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
	for (i = 0; i < APIKEY_N_COUNTERS; i++)
		values[i] = Int64GetDatum((int64) counters[i]);
	values[APIKEY_N_COUNTERS] = Int64GetDatum(pending);
	values[APIKEY_N_COUNTERS + 1] = BoolGetDatum(apikey_shared != NULL);
	values[APIKEY_N_COUNTERS + 2] = TimestampTzGetDatum(reset);
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
