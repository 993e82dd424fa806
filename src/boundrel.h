/*-------------------------------------------------------------------------
 * boundrel.h
 *	  Reading the application's own tables (users, roles, permissions) in C,
 *	  without running any code a non-superuser could define.
 *-------------------------------------------------------------------------
 */
#ifndef BOUNDREL_H
#define BOUNDREL_H

#include "postgres.h"

#include "access/attnum.h"
#include "catalog/pg_trigger.h"
#include "fmgr.h"
#include "utils/relcache.h"

/* A column looked up by value: typed key, index, equality, text in and out */
typedef struct BoundKeyColumn
{
	AttrNumber	attnum;
	Oid			type;
	Oid			index_oid;		/* valid btree index leading with the column, or InvalidOid */
	Oid			collation;
	FmgrInfo	eq;				/* equality of the column's type (from the index's opfamily) */
	FmgrInfo	in;
	Oid			ioparam;
	FmgrInfo	out;
} BoundKeyColumn;

/* Why a bound table cannot be read (BR_OK when it can) */
typedef enum BoundRelProblem
{
	BR_OK = 0,
	BR_MISSING,					/* no relation of that name */
	BR_NOT_TABLE,				/* a view, partitioned table, foreign table... */
	BR_NO_COLUMN,				/* a bound column was dropped or renamed */
	BR_BAD_TYPE,				/* a bound column has a type the binding does not accept */
	BR_UNTRUSTED				/* a function the read would call is not owned by a superuser */
} BoundRelProblem;

extern const char *boundrel_problem_text(BoundRelProblem problem);
extern bool boundrel_key_type_supported(Oid typid);
extern bool boundrel_label_type_supported(Oid typid);
extern bool boundrel_text_type_supported(Oid typid);
extern bool boundrel_text_acceptable(Oid typid, const char *s);
extern AttrNumber boundrel_attnum(Relation rel, const char *column, Oid *typid);
extern Oid	boundrel_find_index(Relation rel, AttrNumber attnum, Oid *collation, Oid *eq_proc);
extern bool boundrel_func_trusted(Oid funcoid);
extern bool boundrel_column_is(Relation rel, AttrNumber attnum, Oid typid);
extern BoundRelProblem boundrel_output_func(Oid typid, FmgrInfo *out, MemoryContext cxt);
extern BoundRelProblem boundrel_key_column(Relation rel, const char *column,
										   BoundKeyColumn *col, MemoryContext cxt);
extern bool boundrel_plain_table(Relation rel);
extern void boundrel_require_plain_table(Relation rel, const char *detail);
extern void boundrel_become_owner(Relation rel, Oid *save_userid, int *save_sec_context);
extern void boundrel_restore_user(Oid save_userid, int save_sec_context);
extern Relation boundrel_open(const char *schema, const char *table, BoundRelProblem *problem);
extern bool boundrel_trigger_ok(Relation rel, const char *name, int16 type_bits,
								int nargs, const char *const *args);
extern void boundrel_install_trigger(Oid relid, Oid old_relid, const char *trigname,
									 int16 type_bits, int nargs, const char *const *args);

/*
 * Shapes of the cache triggers apikey installs on bound tables (tgtype bits).
 * Row-level wherever PostgreSQL allows it: logical replication's apply
 * worker fires row triggers (ENABLE ALWAYS), never statement triggers.
 */
#define BOUNDREL_TRIGGER_ROW_CHANGE \
	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE)
#define BOUNDREL_TRIGGER_ROW_INSERT_DELETE \
	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_DELETE)
#define BOUNDREL_TRIGGER_ROW_UPDATE	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_UPDATE)
#define BOUNDREL_TRIGGER_TRUNCATE	(TRIGGER_TYPE_TRUNCATE)

#endif							/* BOUNDREL_H */
