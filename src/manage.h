/*-------------------------------------------------------------------------
 * manage.h
 *	  The checks every management function makes, in the order it makes
 *	  them: arguments, read-only transaction, the actor, then the key.
 *
 * Defined in manage.c.  A management function (create, revoke, disable,
 * enable, rotate, update, consume, import, prune ...) uses these and never
 * its own copy: a key outside the actor's tenant must look exactly like a
 * missing one, whichever function is asked.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_MANAGE_H
#define APIKEY_MANAGE_H

#include "apikey.h"
#include "actor.h"

/* arguments: each raises 22023 with a message naming the argument */
extern char *manage_check_name(FunctionCallInfo fcinfo, int argno);
extern char *manage_required_text(FunctionCallInfo fcinfo, int argno, const char *what);
extern void manage_check_scopes(ArrayType *scopes);
extern KeyfmtEnv manage_check_environment(const char *envname);
extern void manage_check_expires(TimestampTz expires_at, bool expires_null);
extern int64 manage_required_id(FunctionCallInfo fcinfo, int argno);

/* prerequisites: 55000 without a bound user table, 25006 when read-only */
extern void manage_require_binding(void);
extern void manage_require_writable(const char *fname);

/* the user a key is issued to: 23503 when missing or in another tenant, 55000 when inactive */
extern void manage_check_user(const char *tenant_id, const char *user_id,
							  char **canon_tenant, char **canon_user);

/* keys: hidden keys look missing (P0002) */
extern bool manage_key_visible(const KeyRow *row, const char *guard, const char *actor_tenant);
extern APIKEY_NORETURN void manage_no_such_key_id(int64 id);
extern APIKEY_NORETURN void manage_no_such_key(void);
extern void manage_lock_key(FunctionCallInfo fcinfo, int argno, int64 id, KeyRow *row);
extern int64 manage_begin_key_change(FunctionCallInfo fcinfo, const char *fname,
									 int tenant_argno, KeyRow *row);

#endif							/* APIKEY_MANAGE_H */
