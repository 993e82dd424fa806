/*-------------------------------------------------------------------------
 * lifecycle.c
 *	  The lifecycle of keys after their creation: apikey.max_idle (the idle
 *	  rule verification applies, and the fresh read of a key's last use it
 *	  needs), apikey_revoke_user and apikey_prune.
 *
 * The last use of a key is the newest of apikey.keys.last_used_at (written
 * by the flush worker when preloaded) and apikey.key_usage.last_used_at
 * (written by verification itself when not preloaded), else its creation.
 * It is recorded at most once per apikey.last_used_interval (plus
 * apikey.last_used_flush_interval when preloaded): that is the precision of
 * apikey.max_idle.  Management functions here lock the keys they change in
 * id order, as every other function locks one key at a time, so two of
 * them never deadlock.  Nothing here shows a key or a hash.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "actor.h"
#include "lifecycle.h"
#include "binding.h"
#include "keystore.h"
#include "manage.h"

#define LIFECYCLE_USAGE_TABLE	"key_usage"
#define LIFECYCLE_USAGE_INDEX	"key_usage_pkey"

/* The last use of a key as read into row: last_used_at, else created_at. */
static inline TimestampTz
lifecycle_last_use(const KeyRow *row)
{
	if (row->last_used_null || row->last_used_at < row->created_at)
		return row->created_at;
	return row->last_used_at;
}

/*
 * True when apikey.max_idle is on and the key's last use (as read into row)
 * is older than statement start minus apikey.max_idle.
 */
bool
lifecycle_idle(const KeyRow *row)
{
	if (apikey_max_idle <= 0)
		return false;
	return lifecycle_last_use(row) <
		GetCurrentStatementStartTimestamp() - (int64) apikey_max_idle * USECS_PER_SEC;
}

/*
 * The last use of key id recorded in apikey.key_usage, read with the latest
 * snapshot through its primary key; false when there is none (or no such
 * table before 1.1.1).  No permission check: the caller reads apikey.keys
 * the same way (keystore.c).
 */
static bool
lifecycle_usage_last_used(int64 id, TimestampTz *used_at)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	Oid			relid = InvalidOid;
	Oid			indexid = InvalidOid;
	Relation	rel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	bool		found = false;

	if (OidIsValid(nsp))
	{
		relid = get_relname_relid(LIFECYCLE_USAGE_TABLE, nsp);
		indexid = get_relname_relid(LIFECYCLE_USAGE_INDEX, nsp);
	}
	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return false;

	rel = table_open(relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = systable_beginscan(rel, indexid, true, snap, 1, &skey);
	if ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			*used_at = DatumGetTimestampTz(d);
			found = true;
		}
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Reads the last use of row's key again, from apikey.keys and from
 * apikey.key_usage, with the latest snapshot; moves row->last_used_at
 * forward to the newest found and returns true when it moved.  For a key
 * that looks idle by what was read before (a cache entry, or apikey.keys
 * alone): the rare path, so it may cost two index probes.
 */
bool
lifecycle_refresh_last_use(KeyRow *row)
{
	KeyRow		fresh;
	TimestampTz used_at;
	bool		moved = false;

	if (apikey_max_idle <= 0)
		return false;
	if (keystore_lookup_by_id(row->id, &fresh) && !fresh.last_used_null &&
		(row->last_used_null || fresh.last_used_at > row->last_used_at))
	{
		row->last_used_at = fresh.last_used_at;
		row->last_used_null = false;
		moved = true;
	}
	if (lifecycle_usage_last_used(row->id, &used_at) &&
		(row->last_used_null || used_at > row->last_used_at))
	{
		row->last_used_at = used_at;
		row->last_used_null = false;
		moved = true;
	}
	return moved;
}

/*
 * Runs lock_plan (a SELECT id ... ORDER BY id FOR UPDATE: the rows are
 * locked one by one in id order) and returns the ids it locked as a
 * bigint[] in SPI's memory (until SPI_finish()); *n is their number.
 */
static ArrayType *
lifecycle_lock_ids(SPIPlanPtr lock_plan, Datum *values, const char *nulls, int *n)
{
	Datum	   *ids;
	uint64		i;

	if (SPI_execute_plan(lock_plan, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock API keys");
	ids = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
	}
	*n = (int) SPI_processed;
	return construct_array(ids, *n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * SQL function: apikey_revoke_user(tenant_id text, user_id text, reason text)
 * returns bigint.  Revokes every key of the user that is not revoked yet
 * (each audited 'revoke' by the keys_audit trigger) and returns how many.
 * The user need not exist any more: ids are canonicalized through the bound
 * user table when they can be, else taken as given.
 */
PG_FUNCTION_INFO_V1(apikey_revoke_user);
Datum
apikey_revoke_user(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr revoke_plan = NULL;
	Oid			lock_types[2] = {TEXTOID, TEXTOID};
	Oid			revoke_types[2] = {INT8ARRAYOID, TEXTOID};
	char	   *tenant_id = manage_required_text(fcinfo, 0, "tenant_id");
	char	   *user_id = manage_required_text(fcinfo, 1, "user_id");
	char	   *canon_tenant;
	char	   *canon_user;
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	ArrayType  *ids;
	int			n;
	int64		revoked;

	manage_require_writable("apikey_revoke_user()");
	/* 42501 unless the actor (when set) may manage this tenant's keys */
	(void) actor_tenant(tenant_id);
	canon_tenant = binding_canonical_tenant_id(tenant_id);
	canon_user = binding_canonical_user_id(user_id);

	(void) keystore_connect_plan(&lock_plan, "SELECT id FROM apikey.keys"
								 " WHERE tenant_id OPERATOR(pg_catalog.=) $1"
								 " AND user_id OPERATOR(pg_catalog.=) $2 AND revoked_at IS NULL"
								 " ORDER BY id FOR UPDATE",
								 2, lock_types);
	(void) keystore_plan(&revoke_plan, "UPDATE apikey.keys SET revoked_at = pg_catalog.now(), revoke_reason = $2"
						 " WHERE id OPERATOR(pg_catalog.=) ANY ($1) AND revoked_at IS NULL",
						 2, revoke_types);
	values[0] = CStringGetTextDatum(canon_tenant ? canon_tenant : tenant_id);
	values[1] = CStringGetTextDatum(canon_user ? canon_user : user_id);
	ids = lifecycle_lock_ids(lock_plan, values, NULL, &n);
	revoked = 0;
	if (n > 0)
	{
		values[0] = PointerGetDatum(ids);
		values[1] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		nulls[1] = PG_ARGISNULL(2) ? 'n' : ' ';
		if (SPI_execute_plan(revoke_plan, values, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not revoke API keys");
		revoked = (int64) SPI_processed;
	}
	SPI_finish();
	PG_RETURN_INT64(revoked);
}

/*
 * SQL function: apikey_prune(older_than interval) returns bigint.  Deletes
 * the keys revoked, or expired, longer ago than older_than (of the actor's
 * tenant only, when apikey.actor is set), with their apikey.key_usage rows
 * (apikey.key_credits goes by its ON DELETE CASCADE, and a successor's
 * rotated_from by ON DELETE SET NULL), and records one 'prune' event per
 * key, whose reason says which: 'revoked' or 'expired'.  The audit trail
 * of a pruned key stays (apikey.events has no foreign key to apikey.keys).
 * Returns the number of keys deleted.
 */
PG_FUNCTION_INFO_V1(apikey_prune);
Datum
apikey_prune(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr delete_plan = NULL;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz cutoff;
	char	   *scope;
	const char *actor;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	ArrayType  *ids;
	int			n;
	int64		pruned;
	Oid			lock_types[2] = {TIMESTAMPTZOID, TEXTOID};
	Oid			delete_types[3] = {INT8ARRAYOID, TIMESTAMPTZOID, TEXTOID};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be null")));
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(now),
													 PG_GETARG_DATUM(0)));
	if (cutoff > now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	manage_require_writable("apikey_prune()");
	/* 42501 unless the actor (when set) may manage keys; then only its tenant's */
	scope = actor_tenant(NULL);
	actor = actor_or_null();

	/*
	 * Not a key with a predecessor (any ancestor) that stays: an old key in
	 * its grace period spends the credits of the newest key of its chain,
	 * and would spend none (unlimited) once that is gone.
	 */
	(void) keystore_connect_plan(&lock_plan, "SELECT k.id FROM apikey.keys k"
								 " WHERE (k.revoked_at OPERATOR(pg_catalog.<) $1"
								 " OR k.expires_at OPERATOR(pg_catalog.<) $1)"
								 " AND ($2::pg_catalog.text IS NULL OR k.tenant_id OPERATOR(pg_catalog.=) $2)"
								 " AND NOT EXISTS (WITH RECURSIVE a AS ("
								 " SELECT p.id, p.rotated_from, p.revoked_at, p.expires_at FROM apikey.keys p"
								 " WHERE p.id OPERATOR(pg_catalog.=) k.rotated_from"
								 " UNION SELECT p.id, p.rotated_from, p.revoked_at, p.expires_at"
								 " FROM apikey.keys p, a WHERE p.id OPERATOR(pg_catalog.=) a.rotated_from)"
								 " SELECT FROM a WHERE NOT COALESCE(a.revoked_at OPERATOR(pg_catalog.<) $1"
								 " OR a.expires_at OPERATOR(pg_catalog.<) $1, false))"
								 " ORDER BY k.id FOR UPDATE OF k",
								 2, lock_types);
	(void) keystore_plan(&delete_plan, "WITH d AS (DELETE FROM apikey.keys k"
						 " WHERE k.id OPERATOR(pg_catalog.=) ANY ($1)"
						 " AND (k.revoked_at OPERATOR(pg_catalog.<) $2"
						 " OR k.expires_at OPERATOR(pg_catalog.<) $2)"
						 " RETURNING k.id, k.tenant_id, k.revoked_at),"
						 " u AS (DELETE FROM apikey.key_usage u USING d"
						 " WHERE u.key_id OPERATOR(pg_catalog.=) d.id),"
						 " e AS (INSERT INTO apikey.events (key_id, tenant_id, action, actor, reason)"
						 " SELECT d.id, d.tenant_id, 'prune', $3,"
						 " CASE WHEN d.revoked_at OPERATOR(pg_catalog.<) $2 THEN 'revoked' ELSE 'expired' END"
						 " FROM d ORDER BY d.id)"
						 " SELECT pg_catalog.count(*) FROM d",
						 3, delete_types);
	values[0] = TimestampTzGetDatum(cutoff);
	values[1] = scope ? CStringGetTextDatum(scope) : (Datum) 0;
	nulls[1] = scope ? ' ' : 'n';
	ids = lifecycle_lock_ids(lock_plan, values, nulls, &n);
	pruned = 0;
	if (n > 0)
	{
		bool		isnull;

		values[0] = PointerGetDatum(ids);
		values[1] = TimestampTzGetDatum(cutoff);
		values[2] = actor ? CStringGetTextDatum(actor) : (Datum) 0;
		nulls[1] = ' ';
		nulls[2] = actor ? ' ' : 'n';
		if (SPI_execute_plan(delete_plan, values, nulls, false, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not prune API keys");
		pruned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	PG_RETURN_INT64(pruned);
}
