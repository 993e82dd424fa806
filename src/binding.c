/*-------------------------------------------------------------------------
 * binding.c
 *	  Where the application's users live: apikey_bind_users() and the lookup
 *	  of a key's user at verify time.
 *
 * The binding is stored by name in apikey.user_binding, so a dropped and
 * recreated user table keeps working.  Each backend caches what it resolved
 * (relation, attribute numbers, the btree index on the id column, type I/O
 * functions) in CacheMemoryContext; a relcache invalidation of the user
 * table or of apikey.user_binding (sent by a trigger on every change of the
 * binding) drops the cache, so it is never used stale.  Users are read
 * through the table's own index, without SQL and without running any code a
 * non-superuser could define (boundrel.c); the table's kind and column types
 * are checked again whenever the binding is resolved, and this file never
 * raises an error at lookup time for any stored id.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "apikey.h"
#include "binding.h"
#include "verify_cache.h"
#include "boundrel.h"

/* What a backend knows about the bound user table; valid until invalidated */
typedef struct BindingCache
{
	bool		valid;			/* the fields below reflect the binding */
	bool		bound;			/* apikey.user_binding has a row */
	bool		usable;			/* the table and its columns exist as bound */
	bool		cache_trigger;	/* the table has the verification cache triggers */
	Oid			binding_relid;	/* apikey.user_binding */
	Oid			relid;			/* the user table */
	BoundKeyColumn id;
	BoundKeyColumn tenant;
	AttrNumber	role_att;
	Oid			role_type;
	FmgrInfo	role_out;
	AttrNumber	active_att;		/* 0 when no active column is bound */
} BindingCache;

static BindingCache cache;
static bool callback_registered = false;
static uint64 inval_count = 0;	/* invalidations seen, to tell one that arrives during a load */
static MemoryContext binding_cxt = NULL;	/* FmgrInfos of the current binding */
static bool warned = false;		/* one WARNING per backend about a broken binding */

static void binding_load_internal(void);

/* Drops the cache when the user table or the binding changes. */
static void
binding_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.relid || relid == cache.binding_relid)
	{
		inval_count++;
		cache.valid = false;
		verify_cache_reset();
	}
}

/*
 * Drops the cache when a schema is renamed (the bound table may now be
 * another one under the bound name, with no relcache invalidation of
 * either) or an enum's labels change (a role printed from an enum).
 */
static void
binding_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	inval_count++;
	cache.valid = false;
	verify_cache_reset();
}

/* Forgets everything this backend resolved about the binding. */
void
binding_invalidate(void)
{
	cache.valid = false;
}

/* Says once per backend that the bound user table cannot be read (never names a key). */
static void
binding_warn(const char *schema, const char *table, BoundRelProblem problem)
{
	if (warned)
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("apikey: the bound user table \"%s.%s\" cannot be read: %s",
					schema, table, boundrel_problem_text(problem)),
			 errdetail("Every key answers user_inactive until the table is usable again."),
			 errhint("Restore the table or bind another one with apikey_bind_users().")));
}

/* Reads the binding row (if any) into the given strings; false when unbound. */
static bool
binding_read_row(Oid binding_relid, char **schema, char **table, char **id_col,
				 char **tenant_col, char **role_col, char **active_col)
{
	Relation	rel = table_open(binding_relid, AccessShareLock);
	Snapshot	snap = GetLatestSnapshot();
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	HeapTuple	tup = systable_getnext(scan);
	bool		found = HeapTupleIsValid(tup);

	if (found)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);
		int			natts = desc->natts;

		heap_deform_tuple(tup, desc, values, nulls);
		/* columns 2..7 of apikey.user_binding, in the order of the script */
		*schema = pstrdup(NameStr(*DatumGetName(values[1])));
		*table = pstrdup(NameStr(*DatumGetName(values[2])));
		*id_col = pstrdup(NameStr(*DatumGetName(values[3])));
		*tenant_col = pstrdup(NameStr(*DatumGetName(values[4])));
		*role_col = pstrdup(NameStr(*DatumGetName(values[5])));
		*active_col = (natts > 6 && !nulls[6]) ? pstrdup(NameStr(*DatumGetName(values[6]))) : NULL;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Resolves the binding into the cache.  Problems with the user table (gone,
 * renamed, column dropped, type changed, no longer a plain table) leave it
 * not usable: every lookup then finds no user, and verify answers
 * user_inactive, with one WARNING per backend.  Such a state is not cached
 * (no invalidation would tell us when the table comes back), nor is
 * anything cached when this raises.
 */
static void
binding_load(void)
{
	uint64		start = inval_count;

	memset(&cache, 0, sizeof(cache));
	binding_load_internal();
	/* an invalidation processed while loading may have been read too early: load again next time */
	cache.valid = OidIsValid(cache.binding_relid) && (!cache.bound || cache.usable) &&
		inval_count == start;
}

/* Does the work of binding_load(). */
static void
binding_load_internal(void)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	char	   *schema,
			   *table,
			   *id_col,
			   *tenant_col,
			   *role_col,
			   *active_col;
	Relation	rel;
	Oid			typid;
	BoundRelProblem problem;
	Oid			save_userid;
	int			save_sec_context;
	const char *update_args[4];
	int			nargs = 3;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(binding_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, binding_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(ENUMOID, binding_syscache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (binding_cxt == NULL)
		binding_cxt = AllocSetContextCreate(CacheMemoryContext, "apikey user binding",
											ALLOCSET_SMALL_SIZES);
	MemoryContextReset(binding_cxt);

	cache.binding_relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_BINDING_TABLE, nsp) : InvalidOid;
	if (!OidIsValid(cache.binding_relid))
		return;					/* extension being dropped or created */

	if (!binding_read_row(cache.binding_relid, &schema, &table, &id_col,
						  &tenant_col, &role_col, &active_col))
		return;
	cache.bound = true;

	rel = boundrel_open(schema, table, &problem);
	if (rel == NULL)
	{
		binding_warn(schema, table, problem);
		return;
	}
	cache.relid = RelationGetRelid(rel);

	update_args[0] = id_col;
	update_args[1] = tenant_col;
	update_args[2] = role_col;
	if (active_col != NULL)
		update_args[nargs++] = active_col;
	cache.cache_trigger =
		boundrel_trigger_ok(rel, "apikey_users_cache", BOUNDREL_TRIGGER_ROW_INSERT_DELETE, 0, NULL) &&
		boundrel_trigger_ok(rel, "apikey_users_cache_update", BOUNDREL_TRIGGER_ROW_UPDATE,
							nargs, update_args) &&
		boundrel_trigger_ok(rel, "apikey_users_cache_truncate", BOUNDREL_TRIGGER_TRUNCATE, 0, NULL);

	boundrel_become_owner(rel, &save_userid, &save_sec_context);
	problem = boundrel_key_column(rel, id_col, &cache.id, binding_cxt);
	if (problem == BR_OK)
		problem = boundrel_key_column(rel, tenant_col, &cache.tenant, binding_cxt);
	if (problem == BR_OK)
	{
		cache.role_att = boundrel_attnum(rel, role_col, &cache.role_type);
		problem = cache.role_att == InvalidAttrNumber ? BR_NO_COLUMN
			: boundrel_output_func(cache.role_type, &cache.role_out, binding_cxt);
	}
	if (problem == BR_OK && active_col != NULL)
	{
		cache.active_att = boundrel_attnum(rel, active_col, &typid);
		problem = cache.active_att == InvalidAttrNumber ? BR_NO_COLUMN
			: typid != BOOLOID ? BR_BAD_TYPE : BR_OK;
	}
	boundrel_restore_user(save_userid, save_sec_context);
	table_close(rel, NoLock);

	if (problem != BR_OK)
	{
		binding_warn(schema, table, problem);
		return;
	}
	cache.usable = true;
	warned = false;
}

/* Makes sure the cache reflects the committed binding. */
static inline void
binding_ensure(void)
{
	if (!cache.valid)
		binding_load();
}

/*
 * True when what verification reads of the user table may be cached: the
 * table carries the trigger that invalidates caches (a table dropped and
 * recreated under the bound name does not, until bound again).
 */
bool
binding_cacheable(void)
{
	binding_ensure();
	return !cache.bound || (cache.usable && cache.cache_trigger);
}

/* True when apikey_bind_users() has been called in this database. */
bool
binding_is_bound(void)
{
	binding_ensure();
	return cache.bound;
}

/*
 * Opens the user table for a lookup, with the binding resolved after the
 * lock was taken (taking it processes invalidations, so a table altered
 * meanwhile is resolved again) and every bound column checked to have the
 * type it was resolved with.  NULL when unbound or not usable.
 */
static Relation
binding_open_user_table(void)
{
	int			attempt;

	for (attempt = 0; attempt < 3; attempt++)
	{
		Relation	rel;

		binding_ensure();
		if (!cache.bound || !cache.usable)
			return NULL;
		rel = try_relation_open(cache.relid, AccessShareLock);
		if (rel == NULL)
		{
			cache.valid = false;	/* dropped since resolved */
			continue;
		}
		if (cache.valid &&
			boundrel_column_is(rel, cache.id.attnum, cache.id.type) &&
			boundrel_column_is(rel, cache.tenant.attnum, cache.tenant.type) &&
			boundrel_column_is(rel, cache.role_att, cache.role_type) &&
			(cache.active_att == 0 || boundrel_column_is(rel, cache.active_att, BOOLOID)))
			return rel;
		table_close(rel, NoLock);
		cache.valid = false;
	}
	return NULL;
}

/* The text of a bound column's value: text directly, anything else by its output function. */
static inline char *
binding_output(FmgrInfo *out, Oid type, Datum d)
{
	if (type == TEXTOID)
		return TextDatumGetCString(d);
	return OutputFunctionCall(out, d);
}

/*
 * Fills info from a user row: only the bound columns are deformed, and
 * their types were checked when the table was opened.
 */
static void
binding_fill_user(TupleTableSlot *slot, UserInfo *info)
{
	AttrNumber	last = Max(Max(cache.tenant.attnum, cache.role_att), cache.active_att);

	slot_getsomeattrs(slot, last);
	info->found = true;
	info->active = cache.active_att == 0 ||
		(!slot->tts_isnull[cache.active_att - 1] &&
		 DatumGetBool(slot->tts_values[cache.active_att - 1]));
	info->tenant_id = slot->tts_isnull[cache.tenant.attnum - 1] ? NULL :
		binding_output(&cache.tenant.out, cache.tenant.type,
					   slot->tts_values[cache.tenant.attnum - 1]);
	info->role = slot->tts_isnull[cache.role_att - 1] ? NULL :
		binding_output(&cache.role_out, cache.role_type,
					   slot->tts_values[cache.role_att - 1]);
}

/*
 * The id column's value for user_id (text boundrel_text_acceptable() took):
 * an integer id is converted in C, without the type's input function.
 */
static Datum
binding_id_datum(const char *user_id)
{
	switch (cache.id.type)
	{
		case INT8OID:
			return Int64GetDatum((int64) strtoll(user_id, NULL, 10));
		case INT4OID:
			return Int32GetDatum((int32) strtol(user_id, NULL, 10));
		case INT2OID:
			return Int16GetDatum((int16) strtol(user_id, NULL, 10));
		default:
			return InputFunctionCall(&cache.id.in, (char *) user_id, cache.id.ioparam, -1);
	}
}

/*
 * Looks up a user by id through the bound table, with snapshot snap (taken
 * by the caller after it locked apikey.keys, so a verification reads the
 * key and its user as of one moment), or with the latest snapshot when snap
 * is NULL or an invalidation of the binding or the user table was processed
 * while the table was opened (a change that committed meanwhile, say while
 * a migration's lock was awaited, is then seen).  Returns false when no
 * binding exists; otherwise fills info (info->found false when there is no
 * such user, or the bound table is no longer usable).  Never raises for any
 * user_id text.
 */
bool
binding_lookup_user_snap(const char *user_id, Snapshot snap, UserInfo *info)
{
	Relation	rel;
	ScanKeyData skey;
	Datum		key;
	Oid			save_userid;
	int			save_sec_context;
	uint64		start = inval_count;
	TupleTableSlot *slot;
	bool		found;

	memset(info, 0, sizeof(*info));
	rel = binding_open_user_table();
	if (rel == NULL)
		return cache.bound;
	if (user_id == NULL || !boundrel_text_acceptable(cache.id.type, user_id))
	{
		table_close(rel, NoLock);
		return true;
	}
	if (snap == NULL || inval_count != start)
		snap = GetLatestSnapshot();
	key = binding_id_datum(user_id);
	/* defence in depth: nothing of the owner's runs here, but if it did, as the owner */
	boundrel_become_owner(rel, &save_userid, &save_sec_context);
	if (OidIsValid(cache.id.index_oid))
	{
		/* a plain index scan: the index keeps its lock to the end of the transaction */
		Relation	irel = index_open(cache.id.index_oid, AccessShareLock);
		IndexScanDesc scan;

		slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsBufferHeapTuple);
		ScanKeyEntryInitializeWithInfo(&skey, 0, 1, BTEqualStrategyNumber,
									   InvalidOid, cache.id.collation, &cache.id.eq, key);
		scan = apikey_index_beginscan(rel, irel, snap, 1, 0);
		index_rescan(scan, &skey, 1, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, slot);
		if (found)
			binding_fill_user(slot, info);
		index_endscan(scan);
		index_close(irel, NoLock);
	}
	else
	{
		SysScanDesc scan;
		HeapTuple	tup;

		/* no index on the id column: a heap scan (bind_users warned about it) */
		slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
		ScanKeyEntryInitializeWithInfo(&skey, 0, cache.id.attnum, BTEqualStrategyNumber,
									   InvalidOid, cache.id.collation, &cache.id.eq, key);
		scan = systable_beginscan(rel, InvalidOid, false, snap, 1, &skey);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			ExecStoreHeapTuple(tup, slot, false);
			binding_fill_user(slot, info);
		}
		systable_endscan(scan);
	}
	ExecDropSingleTupleTableSlot(slot);
	boundrel_restore_user(save_userid, save_sec_context);
	table_close(rel, NoLock);
	return true;
}

/* binding_lookup_user_snap() with the latest snapshot. */
bool
binding_lookup_user(const char *user_id, UserInfo *info)
{
	return binding_lookup_user_snap(user_id, NULL, info);
}

/* The canonical text of a user id (as the id column's type prints it), or NULL. */
char *
binding_canonical_user_id(const char *user_id)
{
	Datum		d;

	binding_ensure();
	if (!cache.usable || !boundrel_text_acceptable(cache.id.type, user_id))
		return NULL;
	d = InputFunctionCall(&cache.id.in, (char *) user_id, cache.id.ioparam, -1);
	return OutputFunctionCall(&cache.id.out, d);
}

/* The canonical text of a tenant id (as the tenant column's type prints it), or NULL. */
char *
binding_canonical_tenant_id(const char *tenant_id)
{
	Datum		d;

	binding_ensure();
	if (!cache.usable || !boundrel_text_acceptable(cache.tenant.type, tenant_id))
		return NULL;
	d = InputFunctionCall(&cache.tenant.in, (char *) tenant_id, cache.tenant.ioparam, -1);
	return OutputFunctionCall(&cache.tenant.out, d);
}

/* Checks that column exists in rel and returns its type; raises 42703 otherwise. */
static Oid
binding_check_column(Relation rel, const char *column, const char *what)
{
	Oid			typid = InvalidOid;

	if (boundrel_attnum(rel, column, &typid) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errdetail("It was given as the %s column of the user table.", what)));
	return typid;
}

/* Checks that an id or tenant column can be looked up safely; raises 42804 otherwise. */
static void
binding_check_key_column(Relation rel, const char *column, const char *what)
{
	BoundKeyColumn col;
	Oid			typid = binding_check_column(rel, column, what);

	if (boundrel_key_column(rel, column, &col, CurrentMemoryContext) != BR_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" has unsupported type %s",
						column, RelationGetRelationName(rel), format_type_be(typid)),
				 errhint("Id and tenant columns may be text, varchar, smallint, integer, bigint or uuid.")));
}

/*
 * Installs the triggers that empty every backend's verification cache when
 * the user table changes: per row for INSERT and DELETE; per row for
 * UPDATE, comparing the bound columns of the old and new rows as stored (so
 * a change made by a BEFORE trigger of the application is seen too, and an
 * UPDATE of other columns empties nothing); per statement for TRUNCATE.
 * Runs inside the caller's SPI connection.
 */
static void
binding_install_cache_triggers(Oid relid, Oid old_relid, const char *id_column,
							   const char *tenant_column, const char *role_column,
							   const char *active_column)
{
	const char *args[4] = {id_column, tenant_column, role_column, active_column};

	boundrel_install_trigger(relid, old_relid, "apikey_users_cache",
							 BOUNDREL_TRIGGER_ROW_INSERT_DELETE, 0, NULL);
	boundrel_install_trigger(relid, old_relid, "apikey_users_cache_update",
							 BOUNDREL_TRIGGER_ROW_UPDATE, active_column ? 4 : 3, args);
	boundrel_install_trigger(relid, old_relid, "apikey_users_cache_truncate",
							 BOUNDREL_TRIGGER_TRUNCATE, 0, NULL);
}

/*
 * apikey_bind_users(): validates the table and columns and records them in
 * apikey.user_binding (replacing any previous binding).
 */
void
binding_bind_users(Oid relid, const char *id_column, const char *tenant_column,
				   const char *role_column, const char *active_column)
{
	Relation	rel = table_open(relid, AccessShareLock);
	char	   *schema;
	Oid			typid;
	AttrNumber	id_att;
	Oid			collation,
				eq_proc;
	FmgrInfo	out;
	Oid			argtypes[6] = {NAMEOID, NAMEOID, NAMEOID, NAMEOID, NAMEOID, NAMEOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;
	Oid			old_relid;

	boundrel_require_plain_table(rel, "Users are read through the table's own index, and its triggers must see every change; views, materialized views, partitioned tables, partitions and tables in an inheritance tree are not supported.");

	binding_check_key_column(rel, id_column, "id");
	binding_check_key_column(rel, tenant_column, "tenant");
	typid = binding_check_column(rel, role_column, "role");
	if (boundrel_output_func(typid, &out, CurrentMemoryContext) != BR_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" has unsupported type %s",
						role_column, RelationGetRelationName(rel), format_type_be(typid)),
				 errdetail("Its output function does not belong to a superuser.")));
	if (active_column != NULL)
	{
		typid = binding_check_column(rel, active_column, "active");
		if (typid != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("active column \"%s\" of relation \"%s\" must be of type boolean",
							active_column, RelationGetRelationName(rel))));
	}

	id_att = boundrel_attnum(rel, id_column, &typid);
	if (!OidIsValid(boundrel_find_index(rel, id_att, &collation, &eq_proc)))
		ereport(WARNING,
				(errmsg("relation \"%s\" has no btree index on column \"%s\"",
						RelationGetRelationName(rel), id_column),
				 errdetail("Every verification will scan the whole user table."),
				 errhint("Create one: CREATE UNIQUE INDEX ON %s (%s).",
						 RelationGetRelationName(rel), quote_identifier(id_column))));

	/* the table bound until now, to move the cache trigger off it */
	binding_ensure();
	old_relid = cache.bound ? cache.relid : InvalidOid;

	schema = get_namespace_name(RelationGetNamespace(rel));
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(schema));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(RelationGetRelationName(rel)));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(id_column));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(tenant_column));
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(role_column));
	if (active_column != NULL)
		values[5] = DirectFunctionCall1(namein, CStringGetDatum(active_column));
	else
	{
		values[5] = (Datum) 0;
		nulls[5] = 'n';
	}
	table_close(rel, NoLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(
								"INSERT INTO apikey.user_binding AS b"
								" (singleton, table_schema, table_name, id_column, tenant_column, role_column, active_column, bound_at)"
								" VALUES (true, $1, $2, $3, $4, $5, $6, pg_catalog.now())"
								" ON CONFLICT (singleton) DO UPDATE SET"
								" table_schema = EXCLUDED.table_schema, table_name = EXCLUDED.table_name,"
								" id_column = EXCLUDED.id_column, tenant_column = EXCLUDED.tenant_column,"
								" role_column = EXCLUDED.role_column, active_column = EXCLUDED.active_column,"
								" bound_at = EXCLUDED.bound_at",
								6, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not record the user binding: SPI result %d", ret);
	binding_install_cache_triggers(relid, old_relid, id_column, tenant_column,
								   role_column, active_column);
	SPI_finish();
	binding_invalidate();
}
