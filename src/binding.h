/*-------------------------------------------------------------------------
 * binding.h
 *	  The application's user table, bound by apikey_bind_users() (binding.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_BINDING_H
#define APIKEY_BINDING_H

#include "apikey.h"

/* binding.c: where the application's users live */
extern void binding_bind_users(Oid relid, const char *id_column,
							   const char *tenant_column, const char *role_column,
							   const char *active_column);
extern bool binding_is_bound(void);
extern bool binding_lookup_user(const char *user_id, UserInfo *info);
extern bool binding_lookup_user_snap(const char *user_id, Snapshot snap, UserInfo *info);
extern char *binding_canonical_user_id(const char *user_id);
extern char *binding_canonical_tenant_id(const char *tenant_id);
extern void binding_invalidate(void);
extern bool binding_cacheable(void);

#endif							/* APIKEY_BINDING_H */
