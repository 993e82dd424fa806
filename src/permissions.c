/*-------------------------------------------------------------------------
 * permissions.c
 *	  Roles and permissions read from the application's own tables:
 *	  apikey_bind_roles(), apikey_bind_permissions(), and the effective
 *	  permissions of a role (its own plus every ancestor's) at verify time.
 *
 * The bindings are stored by name in apikey.role_binding and
 * apikey.permission_binding.  The bound tables are read in C through their
 * btree indexes (boundrel.c), never through SQL: a cast, view, rule or
 * function that the tables' owner defines never runs, least of all with the
 * rights of the extension's owner.  The walk up the role table goes one
 * level per step, visits each role once and stops after 64 levels, so a
 * cycle in the application's data ends the walk instead of hanging it.
 *
 * Each backend resolves the bindings once (relation, columns, indexes, type
 * I/O) and drops that when a binding or a bound table changes (relcache
 * invalidation, sent by the bindings' triggers and by any DDL).  A bound
 * table that cannot be read (renamed, dropped, a column renamed or retyped,
 * replaced by a view or a partitioned table) is never an error at verify
 * time: keys get no permissions, apikey_authorize answers forbidden, and the
 * backend says so once with a WARNING naming the binding.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "apikey.h"
#include "permissions.h"
#include "verify_cache.h"
#include "boundrel.h"

#define ROLE_BINDING_TABLE			"role_binding"
#define PERMISSION_BINDING_TABLE	"permission_binding"
#define ROLE_MAX_DEPTH				64

/* One bound table: the role table (name -> parent) or the grants (role -> permission) */
typedef struct BoundSide
{
	bool		configured;		/* its binding row exists */
	const char *what;			/* "role" or "permission", for messages */
	char	   *schema;
	char	   *table;
	char	   *key_column;		/* name_column / role_column */
	char	   *value_column;	/* parent_column / permission_column */
	Oid			relid;
	BoundKeyColumn key;
	AttrNumber	value_att;
	Oid			value_type;
	bool		value_trim;		/* char(n): trailing blanks are not part of the value */
	FmgrInfo	value_out;
	BoundRelProblem problem;	/* BR_OK when readable */
	bool		trigger_ok;		/* carries the cache trigger as installed */
} BoundSide;

/* What a backend resolved about the current bindings */
typedef struct PermissionsCache
{
	bool		valid;
	Oid			role_binding_relid;
	Oid			permission_binding_relid;
	BoundSide	roles;
	BoundSide	grants;
} PermissionsCache;

static PermissionsCache cache;
static bool callback_registered = false;
static uint64 inval_count = 0;	/* invalidations seen, to tell one that arrives during a load */
static MemoryContext perm_cxt = NULL;	/* names and FmgrInfos of the bindings */
static bool warned = false;		/* one WARNING per backend about a broken binding */

/* Drops what was resolved when a binding or a bound table changes. */
static void
permissions_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.role_binding_relid ||
		relid == cache.permission_binding_relid || relid == cache.roles.relid ||
		relid == cache.grants.relid)
	{
		inval_count++;
		cache.valid = false;
		verify_cache_reset();
	}
}

/* Drops it when a schema is renamed or an enum's labels change (see binding.c). */
static void
permissions_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	inval_count++;
	cache.valid = false;
	verify_cache_reset();
}

/* Reads a binding row (schema, table, two column names) into side; false when unbound. */
static bool
permissions_read_binding(Oid binding_relid, const char *key_name, const char *value_name,
						 BoundSide *side)
{
	Relation	rel = table_open(binding_relid, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, GetLatestSnapshot(), 0, NULL);
	HeapTuple	tup = systable_getnext(scan);
	const char *names[4] = {"table_schema", "table_name", key_name, value_name};
	char	   *values[4];
	int			i;

	if (HeapTupleIsValid(tup))
	{
		for (i = 0; i < 4; i++)
		{
			Oid			typid;
			AttrNumber	att = boundrel_attnum(rel, names[i], &typid);
			bool		isnull = true;
			Datum		d = att != InvalidAttrNumber && typid == NAMEOID
				? heap_getattr(tup, att, RelationGetDescr(rel), &isnull) : (Datum) 0;

			values[i] = isnull ? NULL : MemoryContextStrdup(perm_cxt, NameStr(*DatumGetName(d)));
			if (values[i] == NULL)
				elog(ERROR, "apikey.%s is damaged", RelationGetRelationName(rel));
		}
		side->configured = true;
		side->schema = values[0];
		side->table = values[1];
		side->key_column = values[2];
		side->value_column = values[3];
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return side->configured;
}

/*
 * Resolves a configured binding: the table (an ordinary table), its key
 * column (looked up by value) and its value column, whose type's output
 * function must belong to a superuser.  Leaves side->problem set.
 */
static void
permissions_resolve_side(BoundSide *side, const char *trigname, bool value_is_key)
{
	Relation	rel = boundrel_open(side->schema, side->table, &side->problem);
	Oid			typid;
	Oid			save_userid;
	int			save_sec_context;

	if (rel == NULL)
		return;
	boundrel_become_owner(rel, &save_userid, &save_sec_context);
	side->relid = RelationGetRelid(rel);
	side->trigger_ok =
		boundrel_trigger_ok(rel, trigname, BOUNDREL_TRIGGER_ROW_CHANGE, 0, NULL) &&
		boundrel_trigger_ok(rel, psprintf("%s_truncate", trigname), BOUNDREL_TRIGGER_TRUNCATE, 0, NULL);
	side->problem = boundrel_key_column(rel, side->key_column, &side->key, perm_cxt);
	if (side->problem == BR_OK)
	{
		side->value_att = boundrel_attnum(rel, side->value_column, &typid);
		if (side->value_att == InvalidAttrNumber)
			side->problem = BR_NO_COLUMN;
		else if (value_is_key ? !boundrel_key_type_supported(typid)
				 : !boundrel_label_type_supported(typid))
			side->problem = BR_BAD_TYPE;
		else
		{
			side->value_type = typid;
			side->value_trim = getBaseType(typid) == BPCHAROID;
			side->problem = boundrel_output_func(typid, &side->value_out, perm_cxt);
		}
	}
	boundrel_restore_user(save_userid, save_sec_context);
	table_close(rel, NoLock);
}

/* Says once per backend that a bound table cannot be read (never names a key). */
static void
permissions_warn(const BoundSide *side)
{
	if (warned)
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("apikey: the bound %s table \"%s.%s\" cannot be read: %s",
					side->what, side->schema, side->table,
					boundrel_problem_text(side->problem)),
			 errdetail("Keys get no permissions, and apikey_authorize() answers forbidden, until it is usable again."),
			 errhint("Restore the table or bind it again with apikey_bind_%ss().", side->what)));
}

/*
 * Resolves the current bindings into the cache.  A state where a bound table
 * cannot be read is not kept (nothing would tell us when it is back): it is
 * resolved again on the next use.
 */
static void
permissions_load(void)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	uint64		start = inval_count;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(permissions_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, permissions_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(ENUMOID, permissions_syscache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (perm_cxt == NULL)
		perm_cxt = AllocSetContextCreate(CacheMemoryContext, "apikey permission bindings",
										 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(perm_cxt);
	memset(&cache, 0, sizeof(cache));
	cache.roles.what = "role";
	cache.grants.what = "permission";

	cache.role_binding_relid = OidIsValid(nsp) ? get_relname_relid(ROLE_BINDING_TABLE, nsp) : InvalidOid;
	cache.permission_binding_relid = OidIsValid(nsp) ? get_relname_relid(PERMISSION_BINDING_TABLE, nsp) : InvalidOid;
	if (!OidIsValid(cache.role_binding_relid) || !OidIsValid(cache.permission_binding_relid))
	{
		cache.valid = (inval_count == start);	/* extension at 1.0, or being dropped: nothing bound */
		return;
	}

	if (!permissions_read_binding(cache.permission_binding_relid, "role_column",
								  "permission_column", &cache.grants))
	{
		cache.valid = (inval_count == start);
		return;
	}
	(void) permissions_read_binding(cache.role_binding_relid, "name_column",
									"parent_column", &cache.roles);

	/* the lock order of every reader: users, roles, permissions */
	if (cache.roles.configured)
		permissions_resolve_side(&cache.roles, "apikey_roles_cache", true);
	if (cache.roles.problem == BR_OK)
		permissions_resolve_side(&cache.grants, "apikey_permissions_cache", false);

	if (cache.roles.problem != BR_OK)
		permissions_warn(&cache.roles);
	else if (cache.grants.problem != BR_OK)
		permissions_warn(&cache.grants);
	else
	{
		/* an invalidation processed while loading: load again next time */
		cache.valid = (inval_count == start);
		warned = false;
	}
}

/* Makes sure the cache reflects the committed bindings. */
static inline void
permissions_ensure(void)
{
	if (!cache.valid)
		permissions_load();
}

/* True when the bound tables can be read and both carry their cache trigger. */
static bool
permissions_usable(void)
{
	return cache.grants.problem == BR_OK && cache.roles.problem == BR_OK;
}

/* True when the permissions read at verify time may be cached (see verify_cache.c). */
bool
permissions_cacheable(void)
{
	permissions_ensure();
	if (!cache.grants.configured)
		return true;
	return cache.valid && permissions_usable() && cache.grants.trigger_ok &&
		(!cache.roles.configured || cache.roles.trigger_ok);
}

/* True when a permission table is bound in this database. */
bool
permissions_bound(void)
{
	permissions_ensure();
	return cache.grants.configured;
}

/*
 * A set of distinct strings, in the order they were added: a hash table for
 * membership (no quadratic work however many roles or grants the tables
 * hold), an array for the order.
 */
typedef struct StringSet
{
	HTAB	   *members;
	char	  **items;
	int			n;
	int			cap;
} StringSet;

/* Hash of the string a key points to. */
static uint32
stringset_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

/* Equality of the strings two keys point to (0 when equal). */
static int
stringset_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/* Adds s to set unless present; true when added. */
static bool
stringset_add(StringSet *set, const char *s)
{
	char	   *copy;
	bool		found;

	if (set->members == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(char *);
		ctl.hash = stringset_hash;
		ctl.match = stringset_match;
		ctl.hcxt = CurrentMemoryContext;
		set->members = hash_create("apikey string set", 64, &ctl,
								   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	(void) hash_search(set->members, &s, HASH_FIND, &found);
	if (found)
		return false;
	copy = pstrdup(s);
	(void) hash_search(set->members, &copy, HASH_ENTER, NULL);
	if (set->n == set->cap)
	{
		set->cap = Max(16, set->cap * 2);
		set->items = set->items ? repalloc(set->items, sizeof(char *) * set->cap)
			: palloc(sizeof(char *) * set->cap);
	}
	set->items[set->n++] = copy;
	return true;
}

/*
 * Adds to out the value column (as text) of every row of side's table whose
 * key column equals keytext.  A keytext the key column's type would not
 * accept matches nothing.
 */
static void
permissions_scan(BoundSide *side, Relation rel, Snapshot snap, const char *keytext,
				 StringSet *out)
{
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	Datum		key;
	Oid			save_userid;
	int			save_sec_context;

	if (!boundrel_text_acceptable(side->key.type, keytext))
		return;
	key = InputFunctionCall(&side->key.in, (char *) keytext, side->key.ioparam, -1);
	/* defence in depth: nothing of the owner's runs here, but if it did, as the owner */
	boundrel_become_owner(rel, &save_userid, &save_sec_context);
	ScanKeyEntryInitializeWithInfo(&skey, 0, side->key.attnum, BTEqualStrategyNumber,
								   InvalidOid, side->key.collation, &side->key.eq, key);
	scan = systable_beginscan(rel, side->key.index_oid, OidIsValid(side->key.index_oid),
							  snap, 1, &skey);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, side->value_att, RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			char	   *v = OutputFunctionCall(&side->value_out, d);

			if (side->value_trim)
			{
				size_t		len = strlen(v);

				while (len > 0 && v[len - 1] == ' ')
					v[--len] = '\0';
			}
			(void) stringset_add(out, v);
		}
	}
	systable_endscan(scan);
	boundrel_restore_user(save_userid, save_sec_context);
}

/* qsort comparator for C strings, byte order. */
static int
permissions_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Opens one bound table for reading and checks its columns still have the resolved types. */
static Relation
permissions_open_side(BoundSide *side)
{
	Relation	rel = try_relation_open(side->relid, AccessShareLock);

	if (rel == NULL)
		return NULL;
	if (!boundrel_column_is(rel, side->key.attnum, side->key.type) ||
		!boundrel_column_is(rel, side->value_att, side->value_type))
	{
		table_close(rel, NoLock);
		return NULL;
	}
	return rel;
}

/*
 * Opens the bound role table (if bound) and permission table, in that order
 * (users, roles, permissions is the lock order of every reader), with the
 * bindings resolved after the locks were taken: taking a lock processes
 * invalidations, so a table renamed, dropped or altered meanwhile is
 * resolved again.  False when nothing is bound or a bound table cannot be
 * read.
 */
static bool
permissions_open(Relation *grants_rel, Relation *roles_rel)
{
	int			attempt;

	for (attempt = 0; attempt < 3; attempt++)
	{
		permissions_ensure();
		if (!cache.grants.configured || !cache.valid || !permissions_usable())
			return false;
		*roles_rel = cache.roles.configured ? permissions_open_side(&cache.roles) : NULL;
		*grants_rel = (*roles_rel || !cache.roles.configured)
			? permissions_open_side(&cache.grants) : NULL;
		if (*grants_rel && (*roles_rel || !cache.roles.configured) && cache.valid)
			return true;
		if (*grants_rel)
			table_close(*grants_rel, NoLock);
		if (*roles_rel)
			table_close(*roles_rel, NoLock);
		cache.valid = false;
	}
	return false;
}

/*
 * The effective permissions of a role (own and inherited), sorted, as a
 * text[]; NULL when no permission table is bound, an empty array when the
 * role is NULL or a bound table cannot be read.
 */
ArrayType *
permissions_of_role(const char *role)
{
	StringSet	roles = {0};
	StringSet	perms = {0};
	Relation	roles_rel = NULL;
	Relation	grants_rel = NULL;
	Snapshot	snap;
	Datum	   *elems;
	int			from = 0,
				depth,
				i;

	if (!permissions_open(&grants_rel, &roles_rel))
		return cache.grants.configured ? construct_empty_array(TEXTOID) : NULL;
	if (role == NULL)
	{
		table_close(grants_rel, NoLock);
		if (roles_rel)
			table_close(roles_rel, NoLock);
		return construct_empty_array(TEXTOID);
	}

	snap = RegisterSnapshot(GetLatestSnapshot());
	(void) stringset_add(&roles, role);
	/* breadth first: roles.items[from..to) are the roles found at this depth */
	for (depth = 1; roles_rel != NULL && depth < ROLE_MAX_DEPTH && from < roles.n; depth++)
	{
		int			to = roles.n;

		for (i = from; i < to; i++)
			permissions_scan(&cache.roles, roles_rel, snap, roles.items[i], &roles);
		from = to;
	}
	for (i = 0; i < roles.n; i++)
		permissions_scan(&cache.grants, grants_rel, snap, roles.items[i], &perms);
	UnregisterSnapshot(snap);
	table_close(grants_rel, NoLock);
	if (roles_rel)
		table_close(roles_rel, NoLock);

	if (perms.n == 0)
		return construct_empty_array(TEXTOID);
	qsort(perms.items, perms.n, sizeof(char *), permissions_strcmp);
	elems = palloc(sizeof(Datum) * perms.n);
	for (i = 0; i < perms.n; i++)
		elems[i] = CStringGetTextDatum(perms.items[i]);
	return construct_array(elems, perms.n, TEXTOID, -1, false, TYPALIGN_INT);
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

/*
 * Checks a table and its columns for a role or permission binding: an
 * ordinary, permanent table (42809 otherwise: on a view, a partitioned table,
 * a partition or an inheritance child, no trigger sees every change), the key column of a
 * supported type and the value column printable without untrusted code
 * (42804 otherwise).
 */
static void
permissions_check_table(Oid relid, const char *key_col, const char *value_col,
						bool value_is_key, char **schema, char **table)
{
	Relation	rel = table_open(relid, AccessShareLock);
	const char *cols[2] = {key_col, value_col};
	BoundKeyColumn key;
	FmgrInfo	out;
	Oid			typid;
	int			i;

	boundrel_require_plain_table(rel, "Roles and permissions are read from an ordinary table, whose trigger must see every change; views, partitioned tables, partitions and tables in an inheritance tree are not supported.");
	for (i = 0; i < 2; i++)
	{
		if (boundrel_attnum(rel, cols[i], &typid) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							cols[i], RelationGetRelationName(rel))));
		if ((i == 0 || value_is_key)
			? boundrel_key_column(rel, cols[i], &key, CurrentMemoryContext) != BR_OK
			: (!boundrel_label_type_supported(typid) ||
			   boundrel_output_func(typid, &out, CurrentMemoryContext) != BR_OK))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" has unsupported type %s",
							cols[i], RelationGetRelationName(rel), format_type_be(typid)),
					 errhint("Role columns may be text, varchar, smallint, integer, bigint or uuid; permission columns text, varchar, char, name or an enum.")));
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
	/* per row (logical replication fires no statement trigger), and for TRUNCATE */
	boundrel_install_trigger(relid, old_relid, trigname, BOUNDREL_TRIGGER_ROW_CHANGE, 0, NULL);
	boundrel_install_trigger(relid, old_relid, psprintf("%s_truncate", trigname),
							 BOUNDREL_TRIGGER_TRUNCATE, 0, NULL);
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

/*
 * apikey_bind_roles() (roles: name and parent columns) or
 * apikey_bind_permissions() (role and permission columns).
 */
static void
permissions_bind(bool roles, Oid relid, const char *key_column, const char *value_column)
{
	char	   *schema,
			   *table;

	permissions_check_table(relid, key_column, value_column, roles, &schema, &table);
	permissions_store(roles ? ROLE_BINDING_TABLE : PERMISSION_BINDING_TABLE,
					  roles ? "name_column" : "role_column",
					  roles ? "parent_column" : "permission_column",
					  relid, schema, table, key_column, value_column,
					  roles ? "apikey_roles_cache" : "apikey_permissions_cache");
}

/* apikey_bind_roles(): where role names and their parents live. */
void
permissions_bind_roles(Oid relid, const char *name_column, const char *parent_column)
{
	permissions_bind(true, relid, name_column, parent_column);
}

/* apikey_bind_permissions(): where the permissions of each role live. */
void
permissions_bind_permissions(Oid relid, const char *role_column, const char *permission_column)
{
	permissions_bind(false, relid, role_column, permission_column);
}
