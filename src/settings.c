/*-------------------------------------------------------------------------
 * settings.c
 *	  The module's settings: PG_MODULE_MAGIC, every GUC, and _PG_init.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "apikey.h"
#include "settings.h"
#include "pepper.h"
#include "verify_cache.h"
#include "lastused.h"
#include "shmem.h"

PG_MODULE_MAGIC;

/* GUC variables */
char	   *apikey_namespace = NULL;
char	   *apikey_actor = NULL;
char	   *apikey_manage_permission = NULL;
char	   *apikey_manager_roles = NULL;
static char *apikey_ctx_key_id = NULL;
static char *apikey_ctx_tenant_id = NULL;
static char *apikey_ctx_user_id = NULL;
static char *apikey_ctx_role = NULL;
int			apikey_last_used_interval = 60;

void		_PG_init(void);

/* GUC check hook: a namespace is 2 to 8 characters of [a-z0-9]. */
static bool
check_namespace(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || !keyfmt_namespace_valid(*newval, strlen(*newval)))
	{
		GUC_check_errdetail("The namespace of API keys must be 2 to 8 characters of [a-z0-9].");
		return false;
	}
	return true;
}

/* Module load: defines the GUCs. */
void
_PG_init(void)
{
	DefineCustomStringVariable("apikey.namespace",
							   "Namespace at the start of new API keys (ck in ck_live_...).",
							   "2 to 8 characters of [a-z0-9]; keys issued under another namespace keep verifying.",
							   &apikey_namespace,
							   "ak",
							   PGC_USERSET,
							   0,
							   check_namespace, NULL, NULL);

	DefineCustomIntVariable("apikey.last_used_interval",
							"Minimum time between two writes of last_used_at for one key: the most last_used_at lags real use.",
							NULL,
							&apikey_last_used_interval,
							60, 1, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.last_used_flush_interval",
							"How often the background worker writes last_used_at (preloaded only).",
							"A key's first use arrives within this plus one second; later uses move last_used_at at most once per apikey.last_used_interval.",
							&apikey_last_used_flush_interval,
							10000, 100, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.primary_conninfo",
							   "Connection string a standby uses to send last-used records to the primary.",
							   "Empty: the standby's own primary_conninfo.",
							   &apikey_primary_conninfo,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.verify_cache_size",
							"Keys a backend remembers between verifications (0 disables the cache).",
							"Any change of a key, a user, a role or a permission empties every backend's cache.",
							&apikey_verify_cache_size,
							16384, 0, 1024 * 1024,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.manage_permission",
							   "Permission an actor needs to manage keys, when permissions are bound.",
							   NULL,
							   &apikey_manage_permission,
							   "apikey:manage",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.manager_roles",
							   "Comma-separated roles whose users may manage keys, when no permissions are bound.",
							   NULL,
							   &apikey_manager_roles,
							   "owner,admin",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.actor",
							   "The application user on whose behalf keys are managed (SET LOCAL per transaction).",
							   NULL,
							   &apikey_actor,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	/*
	 * Request context set by apikey_authenticate(), for row-level security
	 * policies: superuser-only, so that the application role cannot forge it
	 * with SET; apikey_authenticate sets it transaction-locally.
	 */
	DefineCustomStringVariable("apikey.key_id", "Id of the key authenticated in this transaction.",
							   NULL, &apikey_ctx_key_id, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("apikey.tenant_id", "Tenant of the key authenticated in this transaction.",
							   NULL, &apikey_ctx_tenant_id, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("apikey.user_id", "User of the key authenticated in this transaction.",
							   NULL, &apikey_ctx_user_id, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("apikey.role", "Role of the user of the key authenticated in this transaction.",
							   NULL, &apikey_ctx_role, "", PGC_SUSET, 0, NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		/* sized at server start: only defined when preloading */
		DefineCustomIntVariable("apikey.last_used_capacity",
								"Keys whose last use can wait in shared memory between two flushes (preloaded only).",
								"When full, further uses are dropped and counted in apikey_stats(); verification never waits.",
								&apikey_last_used_capacity,
								65536, 64, 16 * 1024 * 1024,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		shmem_install_hooks();
		lastused_register_launcher();
	}

	/* the peppers come from files, never from a setting (pepper.c) */
	pepper_init();

	MarkGUCPrefixReserved("apikey");
}
