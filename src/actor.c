/*-------------------------------------------------------------------------
 * actor.c
 *	  The actor check: may the application user in apikey.actor manage keys (of a tenant)?
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/varlena.h"

#include "apikey.h"
#include "settings.h"
#include "binding.h"
#include "permissions.h"
#include "actor.h"

/* The application actor of this transaction (apikey.actor), or NULL. */
const char *
actor_or_null(void)
{
	return (apikey_actor != NULL && apikey_actor[0] != '\0') ? apikey_actor : NULL;
}

/* True when role is one of the comma-separated apikey.manager_roles. */
static bool
is_manager_role(const char *role)
{
	char	   *list = pstrdup(apikey_manager_roles ? apikey_manager_roles : "");
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (role == NULL || !SplitIdentifierString(list, ',', &names))
		return false;
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), role) == 0)
			found = true;
	}
	return found;
}

/*
 * The actor check, done before any key or user is read.  When apikey.actor
 * names an application user, checks that this user is active and holds
 * apikey.manage_permission (or, without bound permissions, a role listed in
 * apikey.manager_roles), and that tenant, when the caller names one, is the
 * actor's own.  Raises 42501 otherwise, with a message made only of the
 * caller's input.  Returns the actor's tenant, to which every key and user
 * the call touches is then confined, or NULL when no actor is set.
 */
char *
actor_tenant(const char *tenant)
{
	const char *actor = actor_or_null();
	char	   *canon;
	char	   *canon_tenant;
	UserInfo	user;
	bool		allowed;

	if (actor == NULL)
		return NULL;
	canon = binding_canonical_user_id(actor);
	if (canon == NULL || !binding_lookup_user(canon, &user) || !user.found ||
		!user.active || user.tenant_id == NULL)
		allowed = false;
	else if (tenant != NULL &&
			 ((canon_tenant = binding_canonical_tenant_id(tenant)) == NULL ||
			  strcmp(user.tenant_id, canon_tenant) != 0))
		allowed = false;
	else if (permissions_bound())
		allowed = permissions_array_contains(permissions_of_role(user.role), apikey_manage_permission);
	else
		allowed = is_manager_role(user.role);
	if (!allowed && tenant != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user \"%s\" may not manage the API keys of tenant \"%s\"", actor, tenant),
				 errdetail("apikey.actor must name an active user of the tenant who holds the permission \"%s\" or one of the roles \"%s\".",
						   apikey_manage_permission, apikey_manager_roles)));
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user \"%s\" may not manage API keys", actor),
				 errdetail("apikey.actor must name an active user of the tenant who holds the permission \"%s\" or one of the roles \"%s\".",
						   apikey_manage_permission, apikey_manager_roles)));
	return user.tenant_id;
}
