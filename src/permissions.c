/*-------------------------------------------------------------------------
 * permissions.c
 *	  Roles and permissions read from the application's own tables:
 *	  apikey_bind_roles(), apikey_bind_permissions(), and the effective
 *	  permissions of a role (its own plus every ancestor's) at verify time.
 *
 * The bindings are stored by name in apikey.role_binding and
 * apikey.permission_binding.  Each backend prepares one query for the
 * current bindings (a recursive walk up the role table, one level per step,
 * bounded at 64 levels, so a cycle in the application's data ends the walk
 * instead of hanging it) and drops it when a binding
 * changes (relcache invalidation, sent by the bindings' triggers).  The
 * query runs as the owner of the extension's tables, with every name
 * schema-qualified.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "apikey.h"

#define ROLE_BINDING_TABLE			"role_binding"
#define PERMISSION_BINDING_TABLE	"permission_binding"
#define ROLE_MAX_DEPTH				64

/* What a backend prepared for the current bindings */
typedef struct PermissionsCache
{
	bool		valid;
	bool		bound;			/* permissions are bound */
	Oid			role_binding_relid;
	Oid			permission_binding_relid;
	SPIPlanPtr	plan;			/* role text -> text[] of permissions */
	bool		cacheable;		/* the bound tables carry the cache trigger */
	Oid			roles_relid;
	Oid			grants_relid;
} PermissionsCache;

static PermissionsCache cache;
static bool callback_registered = false;

/* Drops the prepared query when a binding changes. */
static void
permissions_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.role_binding_relid ||
		relid == cache.permission_binding_relid || relid == cache.roles_relid ||
		relid == cache.grants_relid)
	{
		cache.valid = false;
		verify_cache_reset();
	}
}

/* Reads one binding row as text columns (via SPI); false when unbound. */
static bool
permissions_read_binding(const char *table, int ncols, char **cols)
{
	StringInfoData sql;
	bool		found;
	int			i;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT table_schema::pg_catalog.text, table_name::pg_catalog.text, %s FROM apikey.%s",
					 ncols == 2 && strcmp(table, ROLE_BINDING_TABLE) == 0
					 ? "name_column::pg_catalog.text, parent_column::pg_catalog.text"
					 : "role_column::pg_catalog.text, permission_column::pg_catalog.text",
					 table);
	if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read apikey.%s", table);
	found = SPI_processed == 1;
	if (found)
		for (i = 0; i < ncols + 2; i++)
			cols[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
	return found;
}

/* Builds and prepares the permissions query for the current bindings. */
static void
permissions_load(void)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	char	   *roles[4];
	char	   *grants[4];
	bool		roles_bound;
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(permissions_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (cache.plan)
		SPI_freeplan(cache.plan);
	memset(&cache, 0, sizeof(cache));

	cache.role_binding_relid = OidIsValid(nsp) ? get_relname_relid(ROLE_BINDING_TABLE, nsp) : InvalidOid;
	cache.permission_binding_relid = OidIsValid(nsp) ? get_relname_relid(PERMISSION_BINDING_TABLE, nsp) : InvalidOid;
	if (!OidIsValid(cache.role_binding_relid) || !OidIsValid(cache.permission_binding_relid))
		return;					/* extension at 1.0, or being dropped: nothing bound */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cache.bound = permissions_read_binding(PERMISSION_BINDING_TABLE, 2, grants);
	roles_bound = cache.bound && permissions_read_binding(ROLE_BINDING_TABLE, 2, roles);

	cache.cacheable = true;
	if (cache.bound)
	{
		cache.grants_relid = get_relname_relid(grants[1], get_namespace_oid(grants[0], true));
		cache.cacheable = binding_relid_has_trigger(cache.grants_relid, "apikey_permissions_cache");
	}
	if (roles_bound)
	{
		cache.roles_relid = get_relname_relid(roles[1], get_namespace_oid(roles[0], true));
		cache.cacheable = cache.cacheable &&
			binding_relid_has_trigger(cache.roles_relid, "apikey_roles_cache");
	}

	if (cache.bound)
	{
		const char *g = quote_qualified_identifier(grants[0], grants[1]);
		const char *g_role = quote_identifier(grants[2]);
		const char *g_perm = quote_identifier(grants[3]);

		initStringInfo(&sql);
		if (roles_bound)
		{
			const char *r = quote_qualified_identifier(roles[0], roles[1]);
			const char *r_name = quote_identifier(roles[2]);
			const char *r_parent = quote_identifier(roles[3]);

			/*
			 * Walk up from the role, one level per step.  UNION drops a
			 * (role, depth) reached twice, so several parents per role never
			 * multiply the work, and the depth bound ends any cycle.
			 */
			appendStringInfo(&sql,
							 "WITH RECURSIVE chain(role, depth) AS ("
							 " SELECT $1, 1"
							 " UNION"
							 " SELECT r.%s::pg_catalog.text, c.depth OPERATOR(pg_catalog.+) 1"
							 " FROM chain c JOIN %s r ON r.%s::pg_catalog.text OPERATOR(pg_catalog.=) c.role"
							 " WHERE r.%s IS NOT NULL"
							 "   AND c.depth OPERATOR(pg_catalog.<) %d)"
							 " SELECT pg_catalog.array_agg(DISTINCT g.%s::pg_catalog.text ORDER BY g.%s::pg_catalog.text)"
							 " FROM %s g WHERE g.%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (SELECT role FROM chain)",
							 r_parent, r, r_name, r_parent, ROLE_MAX_DEPTH,
							 g_perm, g_perm, g, g_role);
		}
		else
			appendStringInfo(&sql,
							 "SELECT pg_catalog.array_agg(DISTINCT g.%s::pg_catalog.text ORDER BY g.%s::pg_catalog.text)"
							 " FROM %s g WHERE g.%s::pg_catalog.text OPERATOR(pg_catalog.=) $1",
							 g_perm, g_perm, g, g_role);

		cache.plan = SPI_prepare(sql.data, 1, argtypes);
		if (cache.plan == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the bound role or permission table cannot be queried"),
					 errdetail("%s", SPI_result_code_string(SPI_result)),
					 errhint("Bind them again with apikey_bind_roles() and apikey_bind_permissions().")));
		SPI_keepplan(cache.plan);
	}
	SPI_finish();
	cache.valid = true;
}

/* True when the permissions read at verify time may be cached (see verify_cache.c). */
bool
permissions_cacheable(void)
{
	(void) permissions_bound();
	return cache.cacheable;
}

/* True when a permission table is bound in this database. */
bool
permissions_bound(void)
{
	Oid			save_userid;
	int			save_sec_context;

	if (cache.valid)
		return cache.bound;
	/* the binding tables belong to the extension's owner */
	keystore_become_owner(&save_userid, &save_sec_context);
	PG_TRY();
	{
		permissions_load();
	}
	PG_FINALLY();
	{
		keystore_restore_user(save_userid, save_sec_context);
	}
	PG_END_TRY();
	return cache.bound;
}

/*
 * The effective permissions of a role (own and inherited), sorted, as a
 * text[]; NULL when no permission table is bound.  Runs as the owner of the
 * extension's tables.
 */
ArrayType *
permissions_of_role(const char *role)
{
	Oid			save_userid;
	int			save_sec_context;
	Datum		values[1];
	ArrayType  *volatile result = NULL;
	MemoryContext callercxt = CurrentMemoryContext;

	if (!permissions_bound())
		return NULL;
	if (role == NULL)
		return construct_empty_array(TEXTOID);

	keystore_become_owner(&save_userid, &save_sec_context);
	PG_TRY();
	{
		bool		isnull = true;
		Datum		d = (Datum) 0;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = CStringGetTextDatum(role);
		if (SPI_execute_plan(cache.plan, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the permissions of a role");
		if (SPI_processed == 1)
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

			result = DatumGetArrayTypePCopy(d);
			MemoryContextSwitchTo(spicxt);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		keystore_restore_user(save_userid, save_sec_context);
	}
	PG_END_TRY();

	return result ? result : construct_empty_array(TEXTOID);
}

/* True when the text[] arr contains s. */
bool
permissions_array_contains(ArrayType *arr, const char *s)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (arr == NULL)
		return false;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (!nulls[i])
		{
			text	   *t = DatumGetTextPP(elems[i]);

			if (VARSIZE_ANY_EXHDR(t) == strlen(s) &&
				memcmp(VARDATA_ANY(t), s, VARSIZE_ANY_EXHDR(t)) == 0)
				return true;
		}
	}
	return false;
}

/*
 * What a key may do: the user's permissions, intersected with the key's
 * scopes when it has scopes (a "*" scope means everything the user has).
 */
ArrayType *
permissions_for_key(ArrayType *user_perms, ArrayType *scopes)
{
	Datum	   *elems;
	bool	   *nulls;
	Datum	   *kept;
	int			n,
				i,
				nkept = 0;

	if (user_perms == NULL)
		return NULL;
	if (scopes == NULL || permissions_array_contains(scopes, "*"))
		return user_perms;
	deconstruct_array(user_perms, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	kept = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (!nulls[i] && permissions_array_contains(scopes, TextDatumGetCString(elems[i])))
			kept[nkept++] = elems[i];
	}
	return construct_array(kept, nkept, TEXTOID, -1, false, TYPALIGN_INT);
}

/* Checks a table and its columns for a role or permission binding. */
static void
permissions_check_table(Oid relid, const char *col1, const char *col2, char **schema, char **table)
{
	Relation	rel = table_open(relid, AccessShareLock);
	const char *cols[2] = {col1, col2};
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("A trigger on the table keeps verification caches fresh; views cannot have one.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot bind a temporary table")));
	for (i = 0; i < 2; i++)
	{
		if (get_attnum(relid, cols[i]) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							cols[i], RelationGetRelationName(rel))));
	}
	*schema = get_namespace_name(RelationGetNamespace(rel));
	*table = pstrdup(RelationGetRelationName(rel));
	table_close(rel, NoLock);
}

/* Records a role or permission binding (replacing the previous one). */
static Oid	permissions_bound_relid(const char *table);

static void
permissions_store(const char *table, const char *col1name, const char *col2name,
				  Oid relid, const char *schema, const char *relname,
				  const char *col1, const char *col2, const char *trigname)
{
	StringInfoData sql;
	Oid			old_relid = permissions_bound_relid(table);
	Oid			argtypes[4] = {NAMEOID, NAMEOID, NAMEOID, NAMEOID};
	Datum		values[4];

	values[0] = DirectFunctionCall1(namein, CStringGetDatum(schema));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(relname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(col1));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(col2));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO apikey.%s (singleton, table_schema, table_name, %s, %s, bound_at)"
					 " VALUES (true, $1, $2, $3, $4, pg_catalog.now())"
					 " ON CONFLICT (singleton) DO UPDATE SET table_schema = EXCLUDED.table_schema,"
					 " table_name = EXCLUDED.table_name, %s = EXCLUDED.%s, %s = EXCLUDED.%s,"
					 " bound_at = EXCLUDED.bound_at",
					 table, col1name, col2name, col1name, col1name, col2name, col2name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql.data, 4, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the binding");
	binding_install_cache_trigger(relid, old_relid, trigname, NULL);
	SPI_finish();
	cache.valid = false;
}

/* The table currently recorded in apikey.<table> (a binding), or InvalidOid. */
static Oid
permissions_bound_relid(const char *table)
{
	StringInfoData sql;
	Oid			relid = InvalidOid;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.to_regclass(pg_catalog.format('%%I.%%I', table_schema, table_name))::pg_catalog.oid"
					 " FROM apikey.%s", table);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql.data, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			relid = DatumGetObjectId(d);
	}
	SPI_finish();
	return relid;
}

/* apikey_bind_roles(): where role names and their parents live. */
void
permissions_bind_roles(Oid relid, const char *name_column, const char *parent_column)
{
	char	   *schema,
			   *table;

	permissions_check_table(relid, name_column, parent_column, &schema, &table);
	permissions_store(ROLE_BINDING_TABLE, "name_column", "parent_column",
					  relid, schema, table, name_column, parent_column, "apikey_roles_cache");
}

/* apikey_bind_permissions(): where the permissions of each role live. */
void
permissions_bind_permissions(Oid relid, const char *role_column, const char *permission_column)
{
	char	   *schema,
			   *table;

	permissions_check_table(relid, role_column, permission_column, &schema, &table);
	permissions_store(PERMISSION_BINDING_TABLE, "role_column", "permission_column",
					  relid, schema, table, role_column, permission_column, "apikey_permissions_cache");
}
