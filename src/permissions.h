/*-------------------------------------------------------------------------
 * permissions.h
 *	  Roles and permissions read from the application's tables (permissions.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_PERMISSIONS_H
#define APIKEY_PERMISSIONS_H

#include "apikey.h"

/* permissions.c: roles and permissions from the application's tables */
extern bool permissions_bound(void);
extern bool permissions_cacheable(void);
extern ArrayType *permissions_of_role(const char *role);
extern ArrayType *permissions_for_key(ArrayType *user_perms, ArrayType *scopes);
extern bool permissions_array_contains(ArrayType *arr, const char *s);
extern void permissions_bind_roles(Oid relid, const char *name_column, const char *parent_column);
extern void permissions_bind_permissions(Oid relid, const char *role_column,
										 const char *permission_column);

#endif							/* APIKEY_PERMISSIONS_H */
