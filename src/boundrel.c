/*-------------------------------------------------------------------------
 * boundrel.c
 *	  Reading the application's own tables (users, roles, permissions) in C:
 *	  opening a bound table by name, checking its kind and column types, and
 *	  the typed lookups by value that binding.c and permissions.c share.
 *
 * The rule this file enforces: no code that a non-superuser can define or
 * replace ever runs while apikey reads a bound table.  Reads go through the
 * heap and btree indexes directly, so no view, rule, cast or SQL function is
 * involved; the only functions called are a column type's equality (from a
 * btree operator family, which only a superuser can create) and its input
 * and output functions, and each of these is checked to belong to a
 * superuser every time a binding is resolved.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "apikey.h"
#include "boundrel.h"

static const char *const problem_texts[] = {
	[BR_OK] = "usable",
	[BR_MISSING] = "the table does not exist",
	[BR_NOT_TABLE] = "it is not a plain permanent table (a view, partitioned, a partition, in an inheritance tree, unlogged or temporary)",
	[BR_NO_COLUMN] = "a bound column does not exist",
	[BR_BAD_TYPE] = "a bound column has an unsupported type",
	[BR_UNTRUSTED] = "a bound column's type uses a function not owned by a superuser",
};

/* A few words saying what is wrong with a binding (never names a key). */
const char *
boundrel_problem_text(BoundRelProblem problem)
{
	return problem_texts[problem];
}

/* True for the types a looked-up column (id, tenant, role name) may have. */
bool
boundrel_key_type_supported(Oid typid)
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

/* True for the types a label column (a permission) may have: text-like or an enum. */
bool
boundrel_label_type_supported(Oid typid)
{
	Oid			base = getBaseType(typid);

	return base == TEXTOID || base == VARCHAROID || base == BPCHAROID ||
		base == NAMEOID || type_is_enum(base);
}

/*
 * True when s is text the input function of typid (a supported key type)
 * accepts without raising: lookups must never fail on any stored or
 * caller-supplied value.
 */
bool
boundrel_text_acceptable(Oid typid, const char *s)
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
		case TEXTOID:
		case VARCHAROID:
			/* take anything (typmod -1: no length check) */
			return true;
		default:
			return false;
	}
}

/* Returns the attribute number of a live column (and its type), or InvalidAttrNumber. */
AttrNumber
boundrel_attnum(Relation rel, const char *column, Oid *typid)
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

/* Finds a valid btree index whose first key column is attnum, preferring unique ones. */
Oid
boundrel_find_index(Relation rel, AttrNumber attnum, Oid *collation, Oid *eq_proc)
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

		/*
		 * Partial indexes are skipped by looking at the catalog column only:
		 * RelationGetIndexPredicate() would const-fold the predicate, running
		 * any IMMUTABLE function the table's owner wrote into it.
		 */
		if (irel->rd_rel->relam == BTREE_AM_OID &&
			index->indisvalid && index->indisready && index->indislive &&
			index->indnkeyatts >= 1 &&
			index->indkey.values[0] == attnum &&
			heap_attisnull(irel->rd_indextuple, Anum_pg_index_indpred, NULL) &&
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

/*
 * True when column attnum of the open relation is live and of type typid:
 * checked at every read, so a column retyped or replaced since the binding
 * was resolved is never read with the wrong type's functions.
 */
bool
boundrel_column_is(Relation rel, AttrNumber attnum, Oid typid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Form_pg_attribute att;

	if (attnum <= 0 || attnum > desc->natts)
		return false;
	att = TupleDescAttr(desc, attnum - 1);
	return !att->attisdropped && att->atttypid == typid;
}

/* True when the function belongs to a superuser (built-in functions do). */
bool
boundrel_func_trusted(Oid funcoid)
{
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(funcoid))
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	if (!HeapTupleIsValid(tup))
		return false;
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return superuser_arg(owner);
}

/* Resolves the output function of a column type, refusing one a non-superuser owns. */
BoundRelProblem
boundrel_output_func(Oid typid, FmgrInfo *out, MemoryContext cxt)
{
	Oid			func;
	bool		isvarlena;

	getTypeOutputInfo(typid, &func, &isvarlena);
	if (!boundrel_func_trusted(func))
		return BR_UNTRUSTED;
	fmgr_info_cxt(func, out, cxt);
	return BR_OK;
}

/*
 * Resolves a column that is looked up by value: its type must be one of the
 * supported key types, and its equality, input and output functions must
 * belong to a superuser.  FmgrInfos are allocated in cxt.
 */
BoundRelProblem
boundrel_key_column(Relation rel, const char *column, BoundKeyColumn *col, MemoryContext cxt)
{
	Oid			eq_proc = InvalidOid;
	Oid			func;

	memset(col, 0, sizeof(*col));
	col->attnum = boundrel_attnum(rel, column, &col->type);
	if (col->attnum == InvalidAttrNumber)
		return BR_NO_COLUMN;
	if (!boundrel_key_type_supported(col->type))
		return BR_BAD_TYPE;

	col->index_oid = boundrel_find_index(rel, col->attnum, &col->collation, &eq_proc);
	if (!OidIsValid(col->index_oid))
	{
		TypeCacheEntry *tce = lookup_type_cache(col->type, TYPECACHE_EQ_OPR);

		eq_proc = OidIsValid(tce->eq_opr) ? get_opcode(tce->eq_opr) : InvalidOid;
		col->collation = TupleDescAttr(RelationGetDescr(rel), col->attnum - 1)->attcollation;
	}
	if (!boundrel_func_trusted(eq_proc))
		return BR_UNTRUSTED;
	fmgr_info_cxt(eq_proc, &col->eq, cxt);

	getTypeInputInfo(col->type, &func, &col->ioparam);
	if (!boundrel_func_trusted(func))
		return BR_UNTRUSTED;
	fmgr_info_cxt(func, &col->in, cxt);
	return boundrel_output_func(col->type, &col->out, cxt);
}

/*
 * True for an ordinary, permanent table that is neither partitioned, nor a
 * partition, nor in an inheritance tree: only then do the cache triggers on
 * it see every change of its rows (a statement trigger fires for the table a
 * statement names, not for the partitions or children it reaches), are the
 * rows apikey reads the rows a query of the table would see, and can a
 * standby read it (an unlogged table has no data there).
 */
bool
boundrel_plain_table(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relpersistence == RELPERSISTENCE_PERMANENT &&
		!rel->rd_rel->relispartition &&
		!rel->rd_rel->relhassubclass &&
		!has_superclass(RelationGetRelid(rel));
}

/*
 * Raises unless rel can be bound: 0A000 for a temporary or unlogged table,
 * 42809 for anything but a plain table (detail says why, per binding).
 */
void
boundrel_require_plain_table(Relation rel, const char *detail)
{
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot bind a temporary table")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot bind an unlogged table"),
				 errdetail("Standbys verify keys too, and an unlogged table has no rows there.")));
	if (!boundrel_plain_table(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("%s", detail)));
}

/*
 * Runs the rest of a read as the owner of the bound table, in a
 * security-restricted operation: should any code of the owner's ever run
 * while apikey reads the table, it runs with the owner's rights only.
 * Restored by boundrel_restore_user() (or by the abort of the transaction).
 */
void
boundrel_become_owner(Relation rel, Oid *save_userid, int *save_sec_context)
{
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   *save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/* Undoes boundrel_become_owner(). */
void
boundrel_restore_user(Oid save_userid, int save_sec_context)
{
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * Opens a bound table by name with AccessShareLock (waiting, as any reader
 * would, for a conflicting lock).  Returns NULL and sets *problem when there
 * is no such relation or it is not a plain table; never raises for either,
 * nor for a schema the current user may not use (the name is resolved as
 * the catalogs say, the way a trigger or a cached plan would reach it).
 * The caller closes it with table_close(rel, NoLock).
 */
Relation
boundrel_open(const char *schema, const char *table, BoundRelProblem *problem)
{
	Relation	rel;
	int			attempt;

	*problem = BR_MISSING;
	/* name -> OID without ACL checks (the caller may lack USAGE on the schema) */
	for (attempt = 0; attempt < 3; attempt++)
	{
		Oid			nsp = get_namespace_oid(schema, true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;

		if (!OidIsValid(relid))
			return NULL;
		rel = try_relation_open(relid, AccessShareLock);
		if (rel == NULL)
			continue;			/* dropped meanwhile: look the name up again */
		/* taking the lock processed invalidations: is the name still this relation? */
		nsp = get_namespace_oid(schema, true);
		if (OidIsValid(nsp) && get_relname_relid(table, nsp) == relid)
		{
			if (!boundrel_plain_table(rel))
			{
				relation_close(rel, NoLock);
				*problem = BR_NOT_TABLE;
				return NULL;
			}
			*problem = BR_OK;
			return rel;
		}
		relation_close(rel, NoLock);
	}
	return NULL;
}

/* The OID of apikey.cache_invalidate(), or InvalidOid before 1.1. */
static Oid
boundrel_cache_function(void)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						   CStringGetDatum("cache_invalidate"),
						   PointerGetDatum(buildoidvector(NULL, 0)),
						   ObjectIdGetDatum(nsp));
}

/*
 * True when rel carries apikey's cache trigger under that name in exactly
 * the shape apikey installs: apikey.cache_invalidate(), the given type bits
 * (level, timing, events), no column list, no WHEN condition, the given
 * arguments, and enabled ALWAYS (so it also fires under
 * session_replication_role = replica).  A trigger disabled, dropped or
 * altered by the table's owner makes the table uncacheable, never stale.
 */
bool
boundrel_trigger_ok(Relation rel, const char *name, int16 type_bits,
					int nargs, const char *const *args)
{
	Oid			funcoid;
	int			i,
				j;

	if (rel->trigdesc == NULL)
		return false;
	funcoid = boundrel_cache_function();
	for (i = 0; i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *t = &rel->trigdesc->triggers[i];

		if (strcmp(t->tgname, name) != 0)
			continue;
		if (!OidIsValid(funcoid) || t->tgfoid != funcoid || t->tgtype != type_bits ||
			t->tgenabled != TRIGGER_FIRES_ALWAYS || t->tgnattr != 0 ||
			t->tgqual != NULL || t->tgnargs != nargs)
			return false;
		for (j = 0; j < nargs; j++)
			if (strcmp(t->tgargs[j], args[j]) != 0)
				return false;
		return true;
	}
	return false;
}

/* True when the relation relid exists and has a trigger of that name. */
static bool
boundrel_has_trigger(Oid relid, const char *name)
{
	Relation	rel;
	bool		found = false;
	int			i;

	if (!OidIsValid(relid))
		return false;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	for (i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
		if (strcmp(rel->trigdesc->triggers[i].tgname, name) == 0)
			found = true;
	relation_close(rel, AccessShareLock);
	return found;
}

/* The SQL of the events in type_bits, e.g. "INSERT OR DELETE OR TRUNCATE". */
static char *
boundrel_trigger_events(int16 type_bits)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (type_bits & TRIGGER_TYPE_INSERT)
		appendStringInfoString(&buf, "INSERT");
	if (type_bits & TRIGGER_TYPE_UPDATE)
		appendStringInfo(&buf, "%sUPDATE", buf.len ? " OR " : "");
	if (type_bits & TRIGGER_TYPE_DELETE)
		appendStringInfo(&buf, "%sDELETE", buf.len ? " OR " : "");
	if (type_bits & TRIGGER_TYPE_TRUNCATE)
		appendStringInfo(&buf, "%sTRUNCATE", buf.len ? " OR " : "");
	return buf.data;
}

/* Runs one utility statement inside the caller's SPI connection. */
static void
boundrel_utility(const char *sql)
{
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not run: %s", sql);
}

/*
 * Installs (replacing) a cache trigger named trigname on relid, calling
 * apikey.cache_invalidate(args...) AFTER the events of type_bits, and drops
 * the trigger of that name from old_relid (the table bound before).  The
 * trigger depends on the extension, so DROP EXTENSION removes it, and fires
 * ALWAYS.  Runs inside the caller's SPI connection; does nothing before 1.1
 * (no trigger function yet).
 */
void
boundrel_install_trigger(Oid relid, Oid old_relid, const char *trigname,
						 int16 type_bits, int nargs, const char *const *args)
{
	StringInfoData sql;
	const char *qtrig = quote_identifier(trigname);
	Oid			rels[2] = {old_relid, relid};
	const char *qrel;
	int			i;

	if (!OidIsValid(boundrel_cache_function()))
		return;

	/* off the table bound before, and off this one (a rebind replaces it) */
	for (i = 0; i < 2; i++)
	{
		if (!boundrel_has_trigger(rels[i], trigname))
			continue;
		initStringInfo(&sql);
		appendStringInfo(&sql, "DROP TRIGGER %s ON %s", qtrig,
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(rels[i])),
													get_rel_name(rels[i])));
		boundrel_utility(sql.data);
	}

	qrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TRIGGER %s AFTER %s ON %s FOR EACH %s"
					 " EXECUTE FUNCTION apikey.cache_invalidate(",
					 qtrig, boundrel_trigger_events(type_bits), qrel,
					 (type_bits & TRIGGER_TYPE_ROW) ? "ROW" : "STATEMENT");
	for (i = 0; i < nargs; i++)
		appendStringInfo(&sql, "%s%s", i ? ", " : "", quote_literal_cstr(args[i]));
	appendStringInfoChar(&sql, ')');
	boundrel_utility(sql.data);

	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TRIGGER %s ON %s DEPENDS ON EXTENSION apikey", qtrig, qrel);
	boundrel_utility(sql.data);
	/* it must fire under session_replication_role = replica too */
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s", qrel, qtrig);
	boundrel_utility(sql.data);
}
