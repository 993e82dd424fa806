/*-------------------------------------------------------------------------
 * credits.c
 *	  Usage credits and the limits of a key: apikey_consume, the argument
 *	  checks apikey_create and apikey_update share, and the few reads and
 *	  writes of apikey.key_credits they make.
 *
 * apikey_consume spends in the caller's transaction with one conditional
 * UPDATE of the key's apikey.key_credits row: the row lock makes a second
 * consumer of the same key wait until the first commits (it then sees the
 * new balance) or rolls back (the credit comes back), so no credit is
 * spent twice.  It never locks a row of apikey.keys: a revoke never waits
 * for a consume.  Nothing here may put a key in a message.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "credits.h"
#include "keystore.h"
#include "verify.h"
#include "verify_sql.h"

/* How many times a consume follows a balance that moved under it (rotation) */
#define CREDITS_MAX_ATTEMPTS	10

/*
 * SQL fragments over apikey.key_credits c.  A refill is due when
 * refilled_at + refill_interval has passed: the balance is then
 * refill_amount, and refilled_at moves forward by whole intervals (at least
 * one; never past now, should a month-long interval be counted short).
 * Every operator is schema-qualified and parenthesized (OPERATOR() has a
 * single precedence).
 */
#define CREDITS_DUE \
	"(c.refill_interval IS NOT NULL AND" \
	" (c.refilled_at OPERATOR(pg_catalog.+) c.refill_interval) OPERATOR(pg_catalog.<=) pg_catalog.now())"
#define CREDITS_BALANCE \
	"(CASE WHEN " CREDITS_DUE " THEN c.refill_amount ELSE c.remaining END)"
#define CREDITS_REFILLED_AT \
	"(CASE WHEN " CREDITS_DUE " THEN LEAST(pg_catalog.now(), c.refilled_at OPERATOR(pg_catalog.+)" \
	" (c.refill_interval OPERATOR(pg_catalog.*) GREATEST(1, pg_catalog.floor(" \
	" EXTRACT(epoch FROM (pg_catalog.now() OPERATOR(pg_catalog.-) c.refilled_at)) OPERATOR(pg_catalog./)" \
	" EXTRACT(epoch FROM c.refill_interval)))::pg_catalog.float8))" \
	" ELSE c.refilled_at END)"
/* the keys of a rotation chain from $1 forward, and the newest of them with credits */
#define CREDITS_CHAIN \
	"WITH RECURSIVE chain(id) AS (SELECT $1::pg_catalog.int8 UNION ALL" \
	" SELECT k.id FROM apikey.keys k, chain WHERE k.rotated_from OPERATOR(pg_catalog.=) chain.id) "
#define CREDITS_TARGET \
	"(SELECT pg_catalog.max(x.key_id) FROM chain, apikey.key_credits x" \
	" WHERE x.key_id OPERATOR(pg_catalog.=) chain.id)"

static SPIPlanPtr read_plan = NULL;
static SPIPlanPtr move_plan = NULL;
static SPIPlanPtr store_plan = NULL;
static SPIPlanPtr delete_plan = NULL;

/* Raises 22023 naming the argument. */
static APIKEY_NORETURN void
limits_invalid(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg)));
}

/* True when iv > 0. */
static bool
interval_positive(const Interval *iv)
{
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	return DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
											IntervalPGetDatum(&zero)));
}

/*
 * Reads rate_limit, rate_window, remaining, refill_amount and
 * refill_interval from arguments argno .. argno + 4 (NULL: not given) and
 * checks each value alone; 22023 for a bad one.  The pairs are checked by
 * limits_check_pairs().
 */
void
limits_from_args(FunctionCallInfo fcinfo, int argno, KeyLimits *l)
{
	memset(l, 0, sizeof(*l));
	l->rate_limit_null = PG_ARGISNULL(argno);
	l->rate_window_null = PG_ARGISNULL(argno + 1);
	l->remaining_null = PG_ARGISNULL(argno + 2);
	l->refill_amount_null = PG_ARGISNULL(argno + 3);
	l->refill_interval_null = PG_ARGISNULL(argno + 4);

	if (!l->rate_limit_null)
	{
		l->rate_limit = PG_GETARG_INT32(argno);
		if (l->rate_limit <= 0)
			limits_invalid("rate_limit must be positive");
	}
	if (!l->rate_window_null)
	{
		Interval	day;

		l->rate_window = *PG_GETARG_INTERVAL_P(argno + 1);
		memset(&day, 0, sizeof(day));
		day.day = 1;
		if (l->rate_window.month != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rate_window must not have a month part"),
					 errdetail("A rate window is at most a day long.")));
		if (!interval_positive(&l->rate_window) ||
			DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(&l->rate_window),
											 IntervalPGetDatum(&day))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rate_window must be positive and at most 1 day")));
	}
	if (!l->remaining_null)
	{
		l->remaining = PG_GETARG_INT64(argno + 2);
		if (l->remaining < 0)
			limits_invalid("remaining must not be negative");
	}
	if (!l->refill_amount_null)
	{
		l->refill_amount = PG_GETARG_INT64(argno + 3);
		if (l->refill_amount <= 0)
			limits_invalid("refill_amount must be positive");
	}
	if (!l->refill_interval_null)
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(argno + 4);

		l->refill_interval = *iv;
		if (!interval_positive(iv))
			limits_invalid("refill_interval must be positive");
		/*
		 * Parts of one sign, at least a second, at most ten years: the
		 * refill arithmetic of apikey_consume (refilled_at plus a multiple
		 * of the interval) then never leaves the timestamp range.
		 */
		if (iv->month < 0 || iv->day < 0 || iv->time < 0 ||
			(iv->month == 0 && iv->day == 0 && iv->time < USECS_PER_SEC) ||
			(int64) iv->month * DAYS_PER_MONTH + iv->day > 3600 ||
			((int64) iv->month * DAYS_PER_MONTH + iv->day == 3600 && iv->time > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refill_interval must be between 1 second and 10 years, with no negative part")));
	}
}

/*
 * Checks the pairs on the values the key will have (22023): rate_limit
 * with rate_window, refill_amount with refill_interval.  A key has credits
 * when remaining or a refill is set; without remaining it starts with
 * refill_amount.
 */
void
limits_check_pairs(KeyLimits *l)
{
	if (l->rate_limit_null != l->rate_window_null)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate_limit and rate_window must be given together")));
	if (l->refill_amount_null != l->refill_interval_null)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refill_amount and refill_interval must be given together")));
	l->credits = !l->remaining_null || !l->refill_amount_null;
	if (l->credits && l->remaining_null)
	{
		l->remaining = l->refill_amount;
		l->remaining_null = false;
	}
}

/* Reads the stored rate limit and credits of key id (all null when there is no such key). */
void
limits_read(int64 id, KeyLimits *l)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	Datum		d;
	bool		isnull;

	memset(l, 0, sizeof(*l));
	l->rate_limit_null = l->rate_window_null = l->remaining_null = true;
	l->refill_amount_null = l->refill_interval_null = true;
	(void) keystore_connect_plan(&read_plan, "SELECT k.rate_limit, k.rate_window, c.key_id IS NOT NULL,"
								 " c.remaining, c.refill_amount, c.refill_interval"
								 " FROM apikey.keys k LEFT JOIN apikey.key_credits c"
								 " ON c.key_id OPERATOR(pg_catalog.=) k.id"
								 " WHERE k.id OPERATOR(pg_catalog.=) $1",
								 1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(read_plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the limits of an API key");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		d = SPI_getbinval(tup, desc, 1, &l->rate_limit_null);
		l->rate_limit = l->rate_limit_null ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 2, &l->rate_window_null);
		if (!l->rate_window_null)
			l->rate_window = *DatumGetIntervalP(d);
		l->credits = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		d = SPI_getbinval(tup, desc, 4, &l->remaining_null);
		l->remaining = l->remaining_null ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 5, &l->refill_amount_null);
		l->refill_amount = l->refill_amount_null ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 6, &l->refill_interval_null);
		if (!l->refill_interval_null)
			l->refill_interval = *DatumGetIntervalP(d);
	}
	SPI_finish();
}

/* Moves the credits row of key from to key to: a rotated key's balance is never duplicated. */
void
credits_move(int64 from, int64 to)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];

	(void) keystore_connect_plan(&move_plan, "UPDATE apikey.key_credits SET key_id = $2"
								 " WHERE key_id OPERATOR(pg_catalog.=) $1",
								 2, argtypes);
	values[0] = Int64GetDatum(from);
	values[1] = Int64GetDatum(to);
	if (SPI_execute_plan(move_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not move the credits of an API key");
	SPI_finish();
}

/*
 * Writes the credits of key id as limits says: deletes its row when
 * !limits->credits, else inserts or replaces it, the refill period starting
 * now (a balance set by hand is not overwritten by a refill that was
 * already due).
 */
void
credits_store(int64 id, const KeyLimits *l)
{
	keystore_spi_connect();
	if (!l->credits)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1];

		if (delete_plan == NULL)
			delete_plan = keystore_prepare("DELETE FROM apikey.key_credits WHERE key_id OPERATOR(pg_catalog.=) $1",
										   1, argtypes);
		values[0] = Int64GetDatum(id);
		if (SPI_execute_plan(delete_plan, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the credits of an API key");
	}
	else
	{
		Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, INTERVALOID};
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};

		if (store_plan == NULL)
			store_plan = keystore_prepare("INSERT INTO apikey.key_credits AS c"
										  " (key_id, remaining, refill_amount, refill_interval, refilled_at)"
										  " VALUES ($1, $2, $3, $4, pg_catalog.now())"
										  " ON CONFLICT (key_id) DO UPDATE SET remaining = EXCLUDED.remaining,"
										  " refill_amount = EXCLUDED.refill_amount,"
										  " refill_interval = EXCLUDED.refill_interval,"
										  " refilled_at = EXCLUDED.refilled_at",
										  4, argtypes);
		values[0] = Int64GetDatum(id);
		values[1] = Int64GetDatum(l->remaining);
		values[2] = Int64GetDatum(l->refill_amount);
		nulls[2] = l->refill_amount_null ? 'n' : ' ';
		values[3] = IntervalPGetDatum(&l->refill_interval);
		nulls[3] = l->refill_interval_null ? 'n' : ' ';
		if (SPI_execute_plan(store_plan, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the credits of an API key");
	}
	SPI_finish();
}

/*
 * Runs plan with key id and cost; true when it returned a row, with its
 * bigint columns in values[0 .. nvalues - 1].
 */
static bool
credits_run(SPIPlanPtr plan, int64 id, int64 cost, int expected, int64 *values, int nvalues)
{
	Datum		args[2];
	bool		isnull;
	int			ret;
	int			i;

	args[0] = Int64GetDatum(id);
	args[1] = Int64GetDatum(cost);
	ret = SPI_execute_plan(plan, args, NULL, false, 1);
	if (ret != expected)
		elog(ERROR, "could not read the credits of an API key: SPI result %d", ret);
	if (SPI_processed != 1)
		return false;
	for (i = 0; i < nvalues; i++)
		values[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												i + 1, &isnull));
	return true;
}

/*
 * Spends cost credits of valid key id (the balance of the newest key of its
 * rotation chain), as the owner of the tables.  Sets *status to
 * VS_USAGE_EXCEEDED when not enough remains (nothing spent), *remaining to
 * the balance after the call, or *remaining_null for a key without credits.
 *
 * The spend is one conditional UPDATE of the credits row by key id (a
 * primary-key probe): it locks the row only when the balance it sees is
 * enough; a concurrent spender holding the row makes it wait, and it then
 * rechecks the latest version (READ COMMITTED).  When it changes nothing,
 * a new statement reads the balance of the chain: no row means no credits
 * (unlimited), too little means usage_exceeded, and enough means the row
 * is another key's (a rotated key spends from its newest successor) or
 * moved under it (a rotation committed meanwhile): the UPDATE is tried
 * again on that key.
 */
static void
credits_spend(int64 id, int64 cost, VerifyStatus *status, int64 *remaining, bool *remaining_null)
{
	static SPIPlanPtr spend_plan = NULL;
	static SPIPlanPtr balance_plan = NULL;
	Oid			save_userid;
	int			save_sec_context;
	int			attempt;
	int64		target = id;

	keystore_become_owner(&save_userid, &save_sec_context);
	keystore_spi_connect();
	if (spend_plan == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8OID};

		spend_plan = keystore_prepare("UPDATE apikey.key_credits c"
									  " SET remaining = " CREDITS_BALANCE " OPERATOR(pg_catalog.-) $2,"
									  " refilled_at = " CREDITS_REFILLED_AT
									  " WHERE c.key_id OPERATOR(pg_catalog.=) $1"
									  " AND " CREDITS_BALANCE " OPERATOR(pg_catalog.>=) $2"
									  " RETURNING c.remaining",
									  2, argtypes);
		balance_plan = keystore_prepare(CREDITS_CHAIN
										"SELECT c.key_id, " CREDITS_BALANCE " FROM apikey.key_credits c"
										" WHERE c.key_id OPERATOR(pg_catalog.=) " CREDITS_TARGET,
										1, argtypes);
	}

	*remaining_null = true;
	for (attempt = 1;; attempt++)
	{
		int64		found[2];	/* the key holding the balance, and the balance */

		if (cost > 0 && !XactReadOnly &&
			credits_run(spend_plan, target, cost, SPI_OK_UPDATE_RETURNING, remaining, 1))
		{
			*remaining_null = false;
			break;
		}
		if (!credits_run(balance_plan, id, cost, SPI_OK_SELECT, found, 2))
			break;				/* no credits: unlimited */
		*remaining = found[1];
		*remaining_null = false;
		if (found[1] < cost)
		{
			*status = VS_USAGE_EXCEEDED;
			break;
		}
		if (cost == 0)
			break;				/* enough, and nothing to spend */
		/* a spend is needed: 25006 in a read-only transaction or on a standby */
		PreventCommandIfReadOnly("apikey_consume()");
		if (attempt >= CREDITS_MAX_ATTEMPTS)
		{
			/* the balance kept moving: answer as if it were spent out */
			*status = VS_USAGE_EXCEEDED;
			break;
		}
		target = found[0];
	}
	SPI_finish();
	keystore_restore_user(save_userid, save_sec_context);
}

/*
 * SQL function: apikey_consume(key text, cost integer) returns table(valid,
 * status, key_id, tenant_id, user_id, remaining, retry_after).  Verifies
 * the key as apikey_verify does (and counts it), then spends cost credits
 * of a valid key in the caller's transaction.  Never raises for the key;
 * 22023 for a NULL or negative cost, 25006 when a spend is needed in a
 * read-only transaction.
 */
PG_FUNCTION_INFO_V1(apikey_consume);
Datum
apikey_consume(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *key = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	int32		cost;
	VerifyResult r;
	int64		remaining = 0;
	bool		remaining_null = true;
	Datum		values[7];
	bool		nulls[7];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost must not be null")));
	cost = PG_GETARG_INT32(1);
	if (cost < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost must not be negative"),
				 errhint("A cost of 0 checks the balance without spending.")));

	verify_key(key ? VARDATA_ANY(key) : NULL, key ? VARSIZE_ANY_EXHDR(key) : 0, key == NULL, &r);
	if (r.status == VS_VALID)
		credits_spend(r.row.id, cost, &r.status, &remaining, &remaining_null);

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(r.status == VS_VALID);
	nulls[0] = false;
	values[1] = CStringGetTextDatum(verify_status_name(r.status));
	nulls[1] = false;
	if (r.status == VS_VALID || r.status >= VS_REVOKED)
	{
		values[2] = Int64GetDatum(r.row.id);
		nulls[2] = false;
		values[3] = CStringGetTextDatum(r.row.tenant_id);
		nulls[3] = false;
	}
	if (r.status == VS_VALID || r.status == VS_USAGE_EXCEEDED)
	{
		values[4] = CStringGetTextDatum(r.row.user_id);
		nulls[4] = false;
	}
	values[5] = Int64GetDatum(remaining);
	nulls[5] = remaining_null;
	if (r.status == VS_RATE_LIMITED)
	{
		values[6] = IntervalPGetDatum(retry_after_interval(r.retry_after_us));
		nulls[6] = false;
	}

	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
