/*-------------------------------------------------------------------------
 * tenant_limits.c
 *	  apikey.tenant_limits: a tenant's default rate limit, read by
 *	  verification on a cache miss for keys without a limit of their own,
 *	  and set by apikey_set_tenant_rate_limit().
 *
 * The read goes through the table's primary key index with the snapshot the
 * key row was read with (no SQL, no search_path); a missing table (the
 * extension not yet updated to 1.2) means no defaults.  Changes to the table
 * empty every backend's verification cache (its triggers, as for
 * apikey.keys), so the default kept in a cache entry is never stale.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "binding.h"
#include "manage.h"
#include "ratelimit.h"

#define TENANT_LIMITS_TABLE		"tenant_limits"
#define TENANT_LIMITS_PKEY		"tenant_limits_pkey"

/*
 * What this backend knows of apikey.tenant_limits, valid while the
 * verification cache's generation has not moved: every change to the table
 * (its triggers) and any DDL moves it (verify_cache.c).  Most databases
 * have no defaults at all, and then a cache miss does not open the table.
 */
static bool tl_known = false;
static uint64 tl_gen = 0;
static bool tl_empty = true;
static Oid	tl_relid = InvalidOid;
static Oid	tl_indexid = InvalidOid;

/* Resolves the table and learns whether it has any row visible to snap, for generation gen. */
static void
tenant_limits_learn(uint64 gen, Snapshot snap)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);

	tl_relid = OidIsValid(nsp) ? get_relname_relid(TENANT_LIMITS_TABLE, nsp) : InvalidOid;
	tl_indexid = OidIsValid(nsp) ? get_relname_relid(TENANT_LIMITS_PKEY, nsp) : InvalidOid;
	tl_empty = true;
	if (OidIsValid(tl_relid) && OidIsValid(tl_indexid))
	{
		Relation	rel = table_open(tl_relid, AccessShareLock);
		TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
		TupleTableSlot *slot = table_slot_create(rel, NULL);

		tl_empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
		table_close(rel, NoLock);
	}
	tl_gen = gen;
	tl_known = true;
}

/*
 * Fills row->rate_limit and row->rate_window_us from the default of the
 * row's tenant, when the row has no limit of its own and the tenant has a
 * default.  snap: the snapshot the row was read with (NULL: the latest);
 * gen: the verification cache's generation read before it was taken.
 */
void
tenant_limits_default(KeyRow *row, Snapshot snap, uint64 gen)
{
	Relation	rel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skey;
	FmgrInfo	eq;

	if (row->rate_limit > 0 || row->tenant_id == NULL)
		return;
	if (snap == NULL)
		snap = GetLatestSnapshot();
	/* an invalidation processed meanwhile moves the generation: learnt again next time */
	if (!tl_known || tl_gen != gen)
		tenant_limits_learn(gen, snap);
	if (tl_empty)
		return;

	rel = table_open(tl_relid, AccessShareLock);
	irel = index_open(tl_indexid, AccessShareLock);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsBufferHeapTuple);
	fmgr_info(F_TEXTEQ, &eq);
	ScanKeyEntryInitializeWithInfo(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
								   irel->rd_indcollation[0], &eq,
								   CStringGetTextDatum(row->tenant_id));
	scan = apikey_index_beginscan(rel, irel, snap, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		int			limit_att = 0;
		int			window_att = 0;
		int			i;

		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (a->attisdropped)
				continue;
			if (strcmp(NameStr(a->attname), "rate_limit") == 0)
				limit_att = a->attnum;
			else if (strcmp(NameStr(a->attname), "rate_window") == 0)
				window_att = a->attnum;
		}
		slot_getallattrs(slot);
		if (limit_att != 0 && window_att != 0 &&
			!slot->tts_isnull[limit_att - 1] && !slot->tts_isnull[window_att - 1])
		{
			row->rate_limit = DatumGetInt32(slot->tts_values[limit_att - 1]);
			row->rate_window_us =
				ratelimit_interval_us(DatumGetIntervalP(slot->tts_values[window_att - 1]));
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(rel, NoLock);
}

/* Raises 22023 unless window is in (0, 1 day]. */
static void
check_window(const Interval *window)
{
	Interval	zero;
	Interval	day;

	memset(&zero, 0, sizeof(zero));
	memset(&day, 0, sizeof(day));
	day.day = 1;
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(window),
										  IntervalPGetDatum(&zero))) <= 0 ||
		DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(window),
										  IntervalPGetDatum(&day))) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate_window must be greater than zero and at most 1 day")));
}

/*
 * SQL function: apikey_set_tenant_rate_limit(tenant_id text, rate_limit
 * integer, rate_window interval) returns void: sets the default limit of the
 * tenant's keys that have none of their own; both NULL removes it.
 */
PG_FUNCTION_INFO_V1(apikey_set_tenant_rate_limit);
Datum
apikey_set_tenant_rate_limit(PG_FUNCTION_ARGS)
{
	char	   *tenant_id;
	char	   *canon;
	bool		remove = PG_ARGISNULL(1) && PG_ARGISNULL(2);
	Oid			argtypes[3] = {TEXTOID, INT4OID, INTERVALOID};
	Datum		values[3];
	int			ret;

	/* arguments */
	tenant_id = manage_required_text(fcinfo, 0, "tenant_id");
	if (PG_ARGISNULL(1) != PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate_limit and rate_window must both be given, or both be null"),
				 errhint("Both null removes the tenant's default.")));
	if (!remove)
	{
		if (PG_GETARG_INT32(1) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rate_limit must be greater than zero")));
		check_window(PG_GETARG_INTERVAL_P(2));
	}
	/* prerequisites, then the actor: a tenant of its own only */
	manage_require_writable("apikey_set_tenant_rate_limit()");
	manage_require_binding();
	(void) actor_tenant(tenant_id);
	canon = binding_canonical_tenant_id(tenant_id);
	if (canon == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tenant_id \"%s\"", tenant_id),
				 errdetail("It is not a value of the tenant column of the bound user table.")));

	values[0] = CStringGetTextDatum(canon);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (remove)
		ret = SPI_execute_with_args("DELETE FROM apikey.tenant_limits"
									" WHERE tenant_id OPERATOR(pg_catalog.=) $1",
									1, argtypes, values, NULL, false, 0);
	else
	{
		values[1] = PG_GETARG_DATUM(1);
		values[2] = PG_GETARG_DATUM(2);
		ret = SPI_execute_with_args("INSERT INTO apikey.tenant_limits AS t (tenant_id, rate_limit, rate_window)"
									" VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE"
									" SET rate_limit = excluded.rate_limit, rate_window = excluded.rate_window",
									3, argtypes, values, NULL, false, 0);
	}
	if (ret < 0)
		elog(ERROR, "could not change apikey.tenant_limits: %s", SPI_result_code_string(ret));
	SPI_finish();
	PG_RETURN_VOID();
}
