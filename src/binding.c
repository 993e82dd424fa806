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
 * through the table's own index, without SQL, and this file never raises an
 * error at lookup time for any stored id.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
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

/* What a backend knows about the bound user table; valid until invalidated */
typedef struct BindingCache
{
	bool		valid;			/* the fields below reflect the binding */
	bool		bound;			/* apikey.user_binding has a row */
	bool		usable;			/* the table and its columns exist as bound */
	bool		cache_trigger;	/* the table has the verification cache trigger */
	Oid			binding_relid;	/* apikey.user_binding */
	Oid			relid;			/* the user table */
	AttrNumber	id_att;
	AttrNumber	tenant_att;
	AttrNumber	role_att;
	AttrNumber	active_att;		/* 0 when no active column is bound */
	Oid			id_type;
	Oid			tenant_type;
	Oid			index_oid;		/* btree index leading with id, or InvalidOid */
	Oid			eq_collation;
	FmgrInfo	eq_finfo;		/* equality of the id column's type */
	FmgrInfo	id_in;
	Oid			id_ioparam;
	FmgrInfo	id_out;
	FmgrInfo	tenant_in;
	Oid			tenant_ioparam;
	FmgrInfo	tenant_out;
	FmgrInfo	role_out;
} BindingCache;

static BindingCache cache;
static bool callback_registered = false;

static void binding_load_internal(void);

/* Drops the cache when the user table or the binding changes. */
static void
binding_relcache_callback(Datum arg, Oid relid)
{
	if (!cache.valid)
		return;
	if (relid == InvalidOid || relid == cache.relid || relid == cache.binding_relid)
	{
		cache.valid = false;
		verify_cache_reset();
	}
}

/* Forgets everything this backend resolved about the binding. */
void
binding_invalidate(void)
{
	cache.valid = false;
}

/* True for the id and tenant column types the binding accepts. */
static bool
binding_type_supported(Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * True when s is text the input function of typid accepts without raising:
 * lookups must never fail on a stored or caller-supplied id.
 */
static bool
binding_text_acceptable(Oid typid, const char *s)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			{
				const char *p = s;
				char	   *end;
				long long	v;

				if (*p == '-' || *p == '+')
					p++;
				if (!isdigit((unsigned char) *p) || strlen(p) > 19)
					return false;
				for (; *p; p++)
					if (!isdigit((unsigned char) *p))
						return false;
				errno = 0;
				v = strtoll(s, &end, 10);
				if (errno != 0 || *end != '\0')
					return false;
				if (typid == INT2OID)
					return v >= SHRT_MIN && v <= SHRT_MAX;
				if (typid == INT4OID)
					return v >= INT_MIN && v <= INT_MAX;
				return true;
			}
		case UUIDOID:
			{
				/* canonical 8-4-4-4-12 or 32 plain hex digits */
				size_t		len = strlen(s);
				int			i;

				if (len != 36 && len != 32)
					return false;
				for (i = 0; i < (int) len; i++)
				{
					bool		dash = (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23));

					if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
						return false;
				}
				return true;
			}
		default:
			/* text and varchar take anything (typmod -1: no length check) */
			return true;
	}
}

/* True when the open relation rel has a trigger of that name. */
static bool
binding_rel_has_trigger(Relation rel, const char *name)
{
	int			i;

	if (rel->trigdesc == NULL)
		return false;
	for (i = 0; i < rel->trigdesc->numtriggers; i++)
		if (strcmp(rel->trigdesc->triggers[i].tgname, name) == 0)
			return true;
	return false;
}

/* True when the relation relid exists and has a trigger of that name. */
bool
binding_relid_has_trigger(Oid relid, const char *name)
{
	Relation	rel;
	bool		found;

	if (!OidIsValid(relid))
		return false;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	found = binding_rel_has_trigger(rel, name);
	relation_close(rel, AccessShareLock);
	return found;
}

/* Finds a valid btree index whose first key column is attnum, preferring unique ones. */
static Oid
binding_find_index(Relation rel, AttrNumber attnum, Oid *collation, Oid *eq_proc)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			best = InvalidOid;
	bool		best_unique = false;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	irel = index_open(indexoid, AccessShareLock);
		Form_pg_index index = irel->rd_index;

		if (irel->rd_rel->relam == BTREE_AM_OID &&
			index->indisvalid && index->indisready && index->indislive &&
			index->indnkeyatts >= 1 &&
			index->indkey.values[0] == attnum &&
			RelationGetIndexPredicate(irel) == NIL &&
			(best == InvalidOid || (index->indisunique && !best_unique)))
		{
			Oid			opfamily = irel->rd_opfamily[0];
			Oid			opcintype = irel->rd_opcintype[0];
			Oid			eq_opr = get_opfamily_member(opfamily, opcintype, opcintype,
													 BTEqualStrategyNumber);

			if (OidIsValid(eq_opr))
			{
				best = indexoid;
				best_unique = index->indisunique;
				*collation = irel->rd_indcollation[0];
				*eq_proc = get_opcode(eq_opr);
			}
		}
		index_close(irel, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/* Returns the attribute number of a live column, or InvalidAttrNumber. */
static AttrNumber
binding_attnum(Relation rel, const char *column, Oid *typid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
		{
			*typid = att->atttypid;
			return att->attnum;
		}
	}
	return InvalidAttrNumber;
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
		Datum		values[8];
		bool		nulls[8];
		int			natts = Min(desc->natts, 8);

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
 * column dropped, type changed) leave it not usable: every lookup then finds
 * no user, and verify answers user_inactive.  Such a state is not cached (no
 * invalidation would tell us when the table comes back), nor is anything
 * cached when this raises.
 */
static void
binding_load(void)
{
	memset(&cache, 0, sizeof(cache));
	binding_load_internal();
	cache.valid = OidIsValid(cache.binding_relid) && (!cache.bound || cache.usable);
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
	Oid			relid;
	Relation	rel;
	Oid			typid,
				role_type,
				func;
	bool		isvarlena;
	Oid			eq_proc = InvalidOid;
	MemoryContext oldcxt;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(binding_relcache_callback, (Datum) 0);
		callback_registered = true;
	}

	cache.binding_relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_BINDING_TABLE, nsp) : InvalidOid;
	if (!OidIsValid(cache.binding_relid))
		return;					/* extension being dropped or created */

	if (!binding_read_row(cache.binding_relid, &schema, &table, &id_col,
						  &tenant_col, &role_col, &active_col))
		return;
	cache.bound = true;

	nsp = get_namespace_oid(schema, true);
	relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;
	if (!OidIsValid(relid))
		return;
	cache.relid = relid;

	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		goto done;

	cache.cache_trigger = binding_rel_has_trigger(rel, "apikey_users_cache");
	cache.id_att = binding_attnum(rel, id_col, &cache.id_type);
	cache.tenant_att = binding_attnum(rel, tenant_col, &cache.tenant_type);
	cache.role_att = binding_attnum(rel, role_col, &role_type);
	if (cache.id_att == InvalidAttrNumber || cache.tenant_att == InvalidAttrNumber ||
		cache.role_att == InvalidAttrNumber ||
		!binding_type_supported(cache.id_type) || !binding_type_supported(cache.tenant_type))
		goto done;
	if (active_col != NULL)
	{
		cache.active_att = binding_attnum(rel, active_col, &typid);
		if (cache.active_att == InvalidAttrNumber || typid != BOOLOID)
			goto done;
	}

	oldcxt = MemoryContextSwitchTo(CacheMemoryContext);

	cache.index_oid = binding_find_index(rel, cache.id_att, &cache.eq_collation, &eq_proc);
	if (!OidIsValid(cache.index_oid))
	{
		TypeCacheEntry *tce = lookup_type_cache(cache.id_type, TYPECACHE_EQ_OPR);

		eq_proc = OidIsValid(tce->eq_opr) ? get_opcode(tce->eq_opr) : InvalidOid;
		cache.eq_collation = TupleDescAttr(RelationGetDescr(rel), cache.id_att - 1)->attcollation;
	}
	if (OidIsValid(eq_proc))
	{
		fmgr_info_cxt(eq_proc, &cache.eq_finfo, CacheMemoryContext);

		getTypeInputInfo(cache.id_type, &func, &cache.id_ioparam);
		fmgr_info_cxt(func, &cache.id_in, CacheMemoryContext);
		getTypeOutputInfo(cache.id_type, &func, &isvarlena);
		fmgr_info_cxt(func, &cache.id_out, CacheMemoryContext);
		getTypeInputInfo(cache.tenant_type, &func, &cache.tenant_ioparam);
		fmgr_info_cxt(func, &cache.tenant_in, CacheMemoryContext);
		getTypeOutputInfo(cache.tenant_type, &func, &isvarlena);
		fmgr_info_cxt(func, &cache.tenant_out, CacheMemoryContext);
		getTypeOutputInfo(role_type, &func, &isvarlena);
		fmgr_info_cxt(func, &cache.role_out, CacheMemoryContext);
		cache.usable = true;
	}
	MemoryContextSwitchTo(oldcxt);

done:
	table_close(rel, AccessShareLock);
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
 * Looks up a user by id through the bound table.  Returns false when no
 * binding exists; otherwise fills info (info->found false when there is no
 * such user, or the bound table is no longer usable).  Never raises for any
 * user_id text.
 */
bool
binding_lookup_user(const char *user_id, UserInfo *info)
{
	Relation	rel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	Datum		key;

	memset(info, 0, sizeof(*info));
	binding_ensure();
	if (!cache.bound)
		return false;
	if (!cache.usable || user_id == NULL || !binding_text_acceptable(cache.id_type, user_id))
		return true;

	key = InputFunctionCall(&cache.id_in, (char *) user_id, cache.id_ioparam, -1);

	rel = table_open(cache.relid, AccessShareLock);
	ScanKeyEntryInitializeWithInfo(&skey, 0, cache.id_att, BTEqualStrategyNumber,
								   InvalidOid, cache.eq_collation, &cache.eq_finfo, key);
	snap = GetLatestSnapshot();
	scan = systable_beginscan(rel, cache.index_oid, OidIsValid(cache.index_oid),
							  snap, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		d;

		info->found = true;
		info->active = true;
		if (cache.active_att != 0)
		{
			d = heap_getattr(tup, cache.active_att, desc, &isnull);
			info->active = !isnull && DatumGetBool(d);
		}
		d = heap_getattr(tup, cache.tenant_att, desc, &isnull);
		info->tenant_id = isnull ? NULL : OutputFunctionCall(&cache.tenant_out, d);
		d = heap_getattr(tup, cache.role_att, desc, &isnull);
		info->role = isnull ? NULL : OutputFunctionCall(&cache.role_out, d);
	}
	systable_endscan(scan);
	table_close(rel, NoLock);
	return true;
}

/* The canonical text of a user id (as the id column's type prints it), or NULL. */
char *
binding_canonical_user_id(const char *user_id)
{
	Datum		d;

	binding_ensure();
	if (!cache.usable || !binding_text_acceptable(cache.id_type, user_id))
		return NULL;
	d = InputFunctionCall(&cache.id_in, (char *) user_id, cache.id_ioparam, -1);
	return OutputFunctionCall(&cache.id_out, d);
}

/* The canonical text of a tenant id (as the tenant column's type prints it), or NULL. */
char *
binding_canonical_tenant_id(const char *tenant_id)
{
	Datum		d;

	binding_ensure();
	if (!cache.usable || !binding_text_acceptable(cache.tenant_type, tenant_id))
		return NULL;
	d = InputFunctionCall(&cache.tenant_in, (char *) tenant_id, cache.tenant_ioparam, -1);
	return OutputFunctionCall(&cache.tenant_out, d);
}

/* Checks that column exists in rel and returns its type; raises 42703 otherwise. */
static Oid
binding_check_column(Relation rel, const char *column, const char *what)
{
	Oid			typid = InvalidOid;

	if (binding_attnum(rel, column, &typid) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errdetail("It was given as the %s column of the user table.", what)));
	return typid;
}

/* Checks that an id or tenant column has a supported type; raises 42804 otherwise. */
static void
binding_check_id_type(Relation rel, const char *column, Oid typid)
{
	if (!binding_type_supported(typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" has unsupported type %s",
						column, RelationGetRelationName(rel), format_type_be(typid)),
				 errhint("Id and tenant columns may be text, varchar, smallint, integer, bigint or uuid.")));
}

/*
 * Installs (replacing) the statement trigger that empties every backend's
 * verification cache when relid changes, and removes it from old_relid.
 * update_columns limits the UPDATEs that fire it (NULL: every UPDATE).  The
 * trigger depends on the extension, so DROP EXTENSION removes it.  Runs
 * inside the caller's SPI connection.
 */
void
binding_install_cache_trigger(Oid relid, Oid old_relid, const char *trigname,
							  const char *update_columns)
{
	StringInfoData sql;
	const char *qtrig = quote_identifier(trigname);
	Oid			rels[2] = {old_relid, relid};
	int			i;
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, false);

	/* before ALTER EXTENSION apikey UPDATE to 1.1 there is no cache (nor trigger function) */
	if (!OidIsValid(GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
									CStringGetDatum("cache_invalidate"),
									PointerGetDatum(buildoidvector(NULL, 0)),
									ObjectIdGetDatum(nsp))))
		return;

	/* off the table bound before, and off this one (a rebind replaces it) */
	for (i = 0; i < 2; i++)
	{
		if (!binding_relid_has_trigger(rels[i], trigname))
			continue;
		initStringInfo(&sql);
		appendStringInfo(&sql, "DROP TRIGGER %s ON %s", qtrig,
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(rels[i])),
													get_rel_name(rels[i])));
		if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop trigger %s", trigname);
	}
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s AFTER INSERT OR UPDATE%s%s OR DELETE OR TRUNCATE ON %s"
					 " FOR EACH STATEMENT EXECUTE FUNCTION apikey.cache_invalidate()",
					 qtrig, update_columns ? " OF " : "", update_columns ? update_columns : "",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create trigger %s", trigname);
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TRIGGER %s ON %s DEPENDS ON EXTENSION apikey", qtrig,
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not mark trigger %s", trigname);
	/* it must fire under session_replication_role = replica too */
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)), qtrig);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not enable trigger %s", trigname);
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
	Oid			argtypes[6] = {NAMEOID, NAMEOID, NAMEOID, NAMEOID, NAMEOID, NAMEOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;
	Oid			old_relid;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Users are read through the table's own index; views, materialized views and partitioned tables are not supported.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot bind a temporary table as the user table")));

	typid = binding_check_column(rel, id_column, "id");
	binding_check_id_type(rel, id_column, typid);
	typid = binding_check_column(rel, tenant_column, "tenant");
	binding_check_id_type(rel, tenant_column, typid);
	(void) binding_check_column(rel, role_column, "role");
	if (active_column != NULL)
	{
		typid = binding_check_column(rel, active_column, "active");
		if (typid != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("active column \"%s\" of relation \"%s\" must be of type boolean",
							active_column, RelationGetRelationName(rel))));
	}

	id_att = binding_attnum(rel, id_column, &typid);
	if (!OidIsValid(binding_find_index(rel, id_att, &collation, &eq_proc)))
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
	{
		StringInfoData cols;

		initStringInfo(&cols);
		appendStringInfo(&cols, "%s, %s, %s", quote_identifier(id_column),
						 quote_identifier(tenant_column), quote_identifier(role_column));
		if (active_column != NULL)
			appendStringInfo(&cols, ", %s", quote_identifier(active_column));
		binding_install_cache_trigger(relid, old_relid, "apikey_users_cache", cols.data);
	}
	SPI_finish();
	binding_invalidate();
}
