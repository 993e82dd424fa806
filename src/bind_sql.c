/*-------------------------------------------------------------------------
 * bind_sql.c
 *	  SQL entry points binding the application's tables: apikey_bind_users,
 *	  apikey_bind_roles, apikey_bind_permissions, and the binding-change trigger.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"

#include "apikey.h"
#include "binding.h"
#include "verify_cache.h"
#include "permissions.h"
#include "manage.h"

/*
 * SQL function: apikey_bind_users(users regclass, id_column name,
 * tenant_column name, role_column name, active_column name) returns void
 */
PG_FUNCTION_INFO_V1(apikey_bind_users);
Datum
apikey_bind_users(PG_FUNCTION_ARGS)
{
	int			i;

	manage_require_writable("apikey_bind_users()");
	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be null",
							i == 0 ? "users" : i == 1 ? "id_column" : i == 2 ? "tenant_column" : "role_column")));

	binding_bind_users(PG_GETARG_OID(0),
					   NameStr(*PG_GETARG_NAME(1)),
					   NameStr(*PG_GETARG_NAME(2)),
					   NameStr(*PG_GETARG_NAME(3)),
					   PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)));
	PG_RETURN_VOID();
}

/* SQL function: apikey_bind_roles(roles regclass, name_column name, parent_column name) */
PG_FUNCTION_INFO_V1(apikey_bind_roles);
Datum
apikey_bind_roles(PG_FUNCTION_ARGS)
{
	manage_require_writable("apikey_bind_roles()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments of apikey_bind_roles() must not be null")));
	permissions_bind_roles(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), NameStr(*PG_GETARG_NAME(2)));
	PG_RETURN_VOID();
}

/* SQL function: apikey_bind_permissions(grants regclass, role_column name, permission_column name) */
PG_FUNCTION_INFO_V1(apikey_bind_permissions);
Datum
apikey_bind_permissions(PG_FUNCTION_ARGS)
{
	manage_require_writable("apikey_bind_permissions()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments of apikey_bind_permissions() must not be null")));
	permissions_bind_permissions(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), NameStr(*PG_GETARG_NAME(2)));
	PG_RETURN_VOID();
}

/* Trigger on apikey.user_binding: every backend drops its cached binding at commit. */
PG_FUNCTION_INFO_V1(apikey_binding_changed);
Datum
apikey_binding_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "apikey_binding_changed: not called by trigger manager");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	binding_invalidate();
	/* every binding change also empties the verification caches */
	return apikey_cache_invalidate(fcinfo);
}
