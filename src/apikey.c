/*-------------------------------------------------------------------------
 * apikey.c
 *	  _PG_init (GUCs) and the SQL-callable functions of the extension.
 *
 * A thin layer: each function checks its arguments, raises the contract's
 * SQLSTATEs, and calls keyfmt.c (format), verify.c (verification),
 * keystore.c (apikey.keys) and binding.c (the application's users).  No
 * message raised here ever contains a key or a hash.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "tcop/utility.h"
#include "common/jsonapi.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "apikey.h"
#include "manage.h"
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

/* A key minted by apikey_create() or apikey_rotate() */
typedef struct MintedKey
{
	int64		id;
	char		key[KEYFMT_MAX_LEN + 1];
	char		prefix[KEYFMT_PREFIX_LEN + 1];
	TimestampTz created_at;
	TimestampTz expires_at;
	bool		expires_null;
} MintedKey;

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

/* keyfmt's random source: PostgreSQL's strong random generator. */
static bool
strong_random(void *buf, size_t len)
{
	return pg_strong_random(buf, len);
}

/* Raises 22023 unless name is 1 to 100 characters. */
char *
manage_check_name(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	int			chars;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name of an API key must not be null")));
	t = PG_GETARG_TEXT_PP(argno);
	chars = pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (chars == 0 || chars > APIKEY_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name of an API key must be 1 to %d characters long", APIKEY_NAME_MAX),
				 errdetail("The name given has %d characters.", chars)));
	return text_to_cstring(t);
}

/* Raises 22023 when a required text argument is NULL; returns it otherwise. */
char *
manage_required_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Raises 22023 unless scopes is NULL or a one-dimensional array without NULLs. */
void
manage_check_scopes(ArrayType *scopes)
{
	if (ARR_NDIM(scopes) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scopes must be a one-dimensional array")));
	if (array_contains_nulls(scopes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scopes must not contain null elements")));
}

/* Raises 55000 when apikey_bind_users() has not been called yet. */
void
manage_require_binding(void)
{
	if (!binding_is_bound())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no user table is bound"),
				 errhint("Call apikey_bind_users() with the application's user table first.")));
}

/*
 * Checks that user_id names an active user of tenant_id; raises 23503 (or
 * 55000 for an inactive user).  A user of another tenant gets exactly the
 * answer of a user that does not exist: a tenant cannot probe another's ids.
 * Returns the canonical ids through the pointers.
 */
void
manage_check_user(const char *tenant_id, const char *user_id, char **canon_tenant, char **canon_user)
{
	UserInfo	user;

	*canon_user = binding_canonical_user_id(user_id);
	*canon_tenant = binding_canonical_tenant_id(tenant_id);
	if (*canon_user == NULL || *canon_tenant == NULL ||
		!binding_lookup_user(*canon_user, &user) || !user.found ||
		user.tenant_id == NULL || strcmp(user.tenant_id, *canon_tenant) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("user \"%s\" does not exist", user_id),
				 errdetail("API keys can only be issued to users of the bound user table.")));
	if (!user.active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("user \"%s\" is inactive", user_id),
				 errdetail("API keys can only be issued to active users.")));
}

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

/* Raises 25006 in a read-only transaction (and so on a standby). */
void
manage_require_writable(const char *fname)
{
	PreventCommandIfReadOnly(fname);
}

/*
 * Mints and stores a new key.  Arguments are checked by the caller; this
 * checks the user, generates the key, and inserts its hash.
 */
static void
mint_key(const char *tenant_id, const char *user_id, const char *name,
		 KeyfmtEnv env, TimestampTz expires_at, bool expires_null,
		 Datum scopes, bool scopes_null, Datum metadata, bool metadata_null,
		 int64 rotated_from, MintedKey *out)
{
	char	   *canon_tenant;
	char	   *canon_user;
	uint8		hash[HASHING_SHA256_LEN];
	int			len;
	const char *scheme;

	pepper_require_usable();
	manage_require_binding();
	manage_check_user(tenant_id, user_id, &canon_tenant, &canon_user);

	len = keyfmt_generate(apikey_namespace, env, strong_random, out->key, sizeof(out->key));
	if (len < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate an API key"),
				 errdetail("The strong random number generator failed.")));
	scheme = verify_hash_for_new_key(out->key, len, hash);
	if (scheme == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not hash a new API key"),
				 errdetail("OpenSSL's SHA-256 failed.")));
	memcpy(out->prefix, out->key, KEYFMT_PREFIX_LEN);
	out->prefix[KEYFMT_PREFIX_LEN] = '\0';

	out->id = keystore_insert(canon_tenant, canon_user, name, out->prefix,
							  out->key + len - KEYFMT_SUFFIX_LEN, hash,
							  keyfmt_env_name(env), scopes, scopes_null,
							  metadata, metadata_null, expires_at, expires_null,
							  rotated_from, actor_or_null(), scheme, &out->created_at);
	out->expires_at = expires_at;
	out->expires_null = expires_null;
	explicit_bzero(hash, sizeof(hash));
}

/* Returns a minted key as the single row of a RETURNS TABLE function. */
static Datum
return_minted(FunctionCallInfo fcinfo, MintedKey *k)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	values[0] = Int64GetDatum(k->id);
	values[1] = CStringGetTextDatum(k->key);
	values[2] = CStringGetTextDatum(k->prefix);
	values[3] = TimestampTzGetDatum(k->created_at);
	values[4] = TimestampTzGetDatum(k->expires_at);
	nulls[4] = k->expires_null;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	explicit_bzero(k->key, sizeof(k->key));
	return (Datum) 0;
}

/*
 * True when the key belongs to the actor's tenant (when an actor is set) and
 * to the tenant given as a guard (when one is given).  Any other key must
 * look exactly like a missing key.
 */
bool
manage_key_visible(const KeyRow *row, const char *guard, const char *actor_tenant)
{
	char	   *canon;

	if (actor_tenant != NULL && strcmp(row->tenant_id, actor_tenant) != 0)
		return false;
	if (guard == NULL)
		return true;
	canon = binding_canonical_tenant_id(guard);
	return strcmp(row->tenant_id, canon ? canon : guard) == 0;
}

/* Raises P0002 for a key id that does not exist (or is hidden from the caller). */
void
manage_no_such_key_id(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("API key %lld does not exist", (long long) id)));
}

/* Raises P0002 for a key given as text that does not exist (or is hidden). */
void
manage_no_such_key(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("API key does not exist")));
}

/*
 * Locks key id for a change: the actor first, then the key, hidden unless it
 * is in the actor's tenant and in the tenant guard of argument argno.  A
 * hidden key is never locked, so it cannot make the caller wait either.
 */
void
manage_lock_key(FunctionCallInfo fcinfo, int argno, int64 id, KeyRow *row)
{
	char	   *guard = PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
	char	   *scope = actor_tenant(guard);

	/* a key's tenant never changes (keys_guard): checked before the lock */
	if (!keystore_lookup_by_id(id, row) || !manage_key_visible(row, guard, scope) ||
		!keystore_lock_by_id(id, row))
		manage_no_such_key_id(id);
}

/* Reads a required bigint key id argument. */
int64
manage_required_id(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_id must not be null")));
	return PG_GETARG_INT64(argno);
}

/*
 * Starts a change of one key by id: refuses read-only transactions, reads
 * the id argument, and locks the key (tenant guard in argument tenant_argno,
 * actor check).  Returns the id.
 */
int64
manage_begin_key_change(FunctionCallInfo fcinfo, const char *fname, int tenant_argno, KeyRow *row)
{
	int64		id;

	manage_require_writable(fname);
	id = manage_required_id(fcinfo, 0);
	manage_lock_key(fcinfo, tenant_argno, id, row);
	return id;
}

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

/*
 * SQL function: apikey_create(tenant_id text, user_id text, name text,
 * expires_at timestamptz, environment text, scopes text[], metadata jsonb)
 * returns table(id, key, prefix, created_at, expires_at)
 */
PG_FUNCTION_INFO_V1(apikey_create);
Datum
apikey_create(PG_FUNCTION_ARGS)
{
	char	   *tenant_id;
	char	   *user_id;
	char	   *name = manage_check_name(fcinfo, 2);
	bool		expires_null = PG_ARGISNULL(3);
	TimestampTz expires_at = expires_null ? 0 : PG_GETARG_TIMESTAMPTZ(3);
	char	   *envname = manage_required_text(fcinfo, 4, "environment");
	KeyfmtEnv	env = keyfmt_env_from_string(envname, strlen(envname));
	MintedKey	minted;

	manage_require_writable("apikey_create()");
	tenant_id = manage_required_text(fcinfo, 0, "tenant_id");
	user_id = manage_required_text(fcinfo, 1, "user_id");

	if (env == KEYFMT_ENV_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid environment \"%s\"", envname),
				 errhint("The environment of an API key is \"live\" or \"test\".")));
	if (!expires_null && expires_at <= GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future")));
	if (!PG_ARGISNULL(5))
		manage_check_scopes(PG_GETARG_ARRAYTYPE_P(5));
	manage_require_binding();
	(void) actor_tenant(tenant_id);

	mint_key(tenant_id, user_id, name, env, expires_at, expires_null,
			 PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5), PG_ARGISNULL(5),
			 PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6), PG_ARGISNULL(6),
			 0, &minted);
	return return_minted(fcinfo, &minted);
}

/*
 * What one call site of a verification function keeps for its statement,
 * in fn_extra (the statement's memory): the row type of its results and
 * the probe of apikey.keys it holds open between calls (keystore.c).
 */
typedef struct VerifyCallSite
{
	TupleDesc	desc;			/* blessed row type, NULL until first needed */
	bool		probe_tried;	/* probe is set up, or cannot be */
	KeystoreProbe *probe;		/* NULL: every call opens and closes its own */
} VerifyCallSite;

/* ExprContext callback: the statement is done, close the held probe. */
static void
verify_callsite_shutdown(Datum arg)
{
	keystore_probe_release((KeystoreProbe *) DatumGetPointer(arg));
}

/*
 * The call site's state, created on first use.  A probe is held only when
 * the function is called by an executor (a ReturnSetInfo whose ExprContext
 * belongs to an EState) with its FmgrInfo in that EState's query memory:
 * then a callback on an ExprContext of the EState's own, which is shut down
 * only by FreeExecutorState() at a normal end of the statement (not by a
 * rescan of the function scan, which shuts down the scan's ExprContext for
 * every row of a LATERAL join), releases it.  On an error no callback runs
 * and the (sub)transaction's cleanup releases what the probe held.
 */
static VerifyCallSite *
verify_callsite(FunctionCallInfo fcinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	VerifyCallSite *site = (VerifyCallSite *) flinfo->fn_extra;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (site == NULL)
	{
		site = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(VerifyCallSite));
		flinfo->fn_extra = site;
	}
	if (!site->probe_tried)
	{
		EState	   *estate;

		site->probe_tried = true;
		estate = (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->econtext != NULL) ?
			rsinfo->econtext->ecxt_estate : NULL;
		if (estate != NULL && estate->es_query_cxt == flinfo->fn_mcxt)
		{
			ExprContext *econtext = CreateExprContext(estate);

			site->probe = keystore_probe_new(estate->es_query_cxt);
			RegisterExprContextCallback(econtext, verify_callsite_shutdown,
										PointerGetDatum(site->probe));
		}
	}
	return site;
}

/* The probe the call site holds, or NULL (also when called without an FmgrInfo). */
static inline KeystoreProbe *
verify_callsite_probe(FunctionCallInfo fcinfo)
{
	return fcinfo->flinfo != NULL ? verify_callsite(fcinfo)->probe : NULL;
}

/*
 * The row type of a verification result, built once per call site (kept in
 * fn_extra, in the call site's memory) from the row type the executor
 * expects, which it has built already (else from the function's declared
 * result), and blessed, so that a row can be returned as a composite Datum.
 */
static TupleDesc
verify_row_desc(FunctionCallInfo fcinfo, ReturnSetInfo *rsinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	VerifyCallSite *site = verify_callsite(fcinfo);

	if (site->desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(flinfo->fn_mcxt);
		TupleDesc	desc = rsinfo->expectedDesc;

		if (desc == NULL && get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		site->desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
	}
	return site->desc;
}

/*
 * Returns a verification result as the single row of a RETURNS TABLE
 * function: in value-per-call mode, one composite Datum marked as the only
 * result (ExprSingleResult), when the caller allows it (the executor always
 * does), which spares a tuplestore per call; else materialized.
 */
static Datum
return_verify_row(FunctionCallInfo fcinfo, VerifyResult *r)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[11];
	bool		nulls[11];

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(r->status == VS_VALID);
	nulls[0] = false;
	values[1] = CStringGetTextDatum(verify_status_name(r->status));
	nulls[1] = false;
	if (r->status == VS_VALID || r->status >= VS_REVOKED)
	{
		values[2] = Int64GetDatum(r->row.id);
		nulls[2] = false;
		values[3] = CStringGetTextDatum(r->row.tenant_id);
		nulls[3] = false;
	}
	if (r->status == VS_VALID || r->status == VS_FORBIDDEN)
	{
		values[4] = CStringGetTextDatum(r->row.user_id);
		nulls[4] = false;
		if (r->user.role != NULL)
		{
			values[5] = CStringGetTextDatum(r->user.role);
			nulls[5] = false;
		}
		values[6] = r->row.scopes;
		nulls[6] = r->row.scopes_null;
		if (r->permissions != NULL)
		{
			values[7] = PointerGetDatum(r->permissions);
			nulls[7] = false;
		}
		values[8] = CStringGetTextDatum(r->row.environment);
		nulls[8] = false;
		values[9] = TimestampTzGetDatum(r->row.expires_at);
		nulls[9] = r->row.expires_null;
		values[10] = r->row.metadata;
		nulls[10] = r->row.metadata_null;
	}
	if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
		(rsinfo->allowedModes & SFRM_ValuePerCall) != 0)
	{
		TupleDesc	desc = verify_row_desc(fcinfo, rsinfo);

		rsinfo->returnMode = SFRM_ValuePerCall;
		rsinfo->isDone = ExprSingleResult;
		return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	/* the caller's expected row type saves rebuilding it from pg_proc per call */
	InitMaterializedSRF(fcinfo, rsinfo->expectedDesc ? MAT_SRF_USE_EXPECTED_DESC : 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* Verifies argument argno (NULL allowed) into r. */
static void
verify_arg(FunctionCallInfo fcinfo, int argno, VerifyResult *r)
{
	text	   *key = PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);

	verify_key_held(key ? VARDATA_ANY(key) : NULL, key ? VARSIZE_ANY_EXHDR(key) : 0,
					key == NULL, verify_callsite_probe(fcinfo), r);
}

/*
 * SQL function: apikey_verify(key text) returns table(valid, status, key_id,
 * tenant_id, user_id, role, scopes, permissions, environment, expires_at,
 * metadata).  Always one row; never raises for any input.
 */
PG_FUNCTION_INFO_V1(apikey_verify);
Datum
apikey_verify(PG_FUNCTION_ARGS)
{
	VerifyResult r;

	verify_arg(fcinfo, 0, &r);
	return return_verify_row(fcinfo, &r);
}

/*
 * SQL function: apikey_authorize(key text, permission text): the row of
 * apikey_verify, with status forbidden when the key is good but may not do
 * permission.  Without bound permissions the key's scopes decide (no scopes
 * or "*": everything).
 */
PG_FUNCTION_INFO_V1(apikey_authorize);
Datum
apikey_authorize(PG_FUNCTION_ARGS)
{
	VerifyResult r;

	verify_arg(fcinfo, 0, &r);
	if (r.status == VS_VALID)
	{
		char	   *perm = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
		bool		allowed;

		if (perm == NULL)
			allowed = false;
		else if (r.permissions != NULL)
			allowed = permissions_array_contains(r.permissions, perm);
		else
			allowed = r.row.scopes_null ||
				permissions_array_contains(DatumGetArrayTypeP(r.row.scopes), "*") ||
				permissions_array_contains(DatumGetArrayTypeP(r.row.scopes), perm);
		if (!allowed)
			r.status = VS_FORBIDDEN;
	}
	return return_verify_row(fcinfo, &r);
}

/* Sets one request-context setting for the rest of the transaction. */
static void
set_context(const char *name, const char *value)
{
	(void) set_config_option(name, value ? value : "", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * When r is valid, publishes who the key acts as for the rest of the
 * transaction; otherwise raises PT401 (PostgREST answers HTTP 401) and sets
 * nothing.
 */
static void
authenticate(VerifyResult *r)
{
	if (r->status != VS_VALID)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'T', '4', '0', '1')),
				 errmsg("invalid API key"),
				 errhint("Send a valid key as \"Authorization: Bearer <key>\".")));
	set_context("apikey.key_id", psprintf(INT64_FORMAT, r->row.id));
	set_context("apikey.tenant_id", r->row.tenant_id);
	set_context("apikey.user_id", r->row.user_id);
	set_context("apikey.role", r->user.role);
}

/*
 * SQL function: apikey_authenticate(key text): apikey_verify, then the
 * transaction-local settings apikey.key_id, apikey.tenant_id, apikey.user_id
 * and apikey.role for row-level security; PT401 when the key is not valid.
 */
PG_FUNCTION_INFO_V1(apikey_authenticate);
Datum
apikey_authenticate(PG_FUNCTION_ARGS)
{
	VerifyResult r;

	verify_arg(fcinfo, 0, &r);
	authenticate(&r);
	return return_verify_row(fcinfo, &r);
}

/*
 * Verifies an Authorization header value: exactly "Bearer <key>" (scheme
 * case-insensitive, one space); NULL or empty is missing, anything else
 * malformed.
 */
static void
verify_header(const char *header, size_t len, bool isnull, KeystoreProbe *held, VerifyResult *r)
{
	if (isnull || len == 0)
	{
		verify_key(NULL, 0, true, r);
		return;
	}
	if (len <= 7 || pg_strncasecmp(header, "bearer ", 7) != 0)
	{
		/* not a bearer credential: malformed, whatever it holds */
		verify_key("", 1, false, r);
		return;
	}
	verify_key_held(header + 7, len - 7, false, held, r);
}

/* SQL function: apikey_verify_header(authorization text): apikey_verify of a Bearer header. */
PG_FUNCTION_INFO_V1(apikey_verify_header);
Datum
apikey_verify_header(PG_FUNCTION_ARGS)
{
	text	   *h = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	VerifyResult r;

	verify_header(h ? VARDATA_ANY(h) : NULL, h ? VARSIZE_ANY_EXHDR(h) : 0, h == NULL,
				  verify_callsite_probe(fcinfo), &r);
	return return_verify_row(fcinfo, &r);
}

/* Where the JSON walk of request.headers stands */
typedef struct HeaderWalk
{
	int			depth;			/* nesting depth: 1 inside the top-level object */
	int			want;			/* the current top-level field: 1 authorization, 2 x-api-key */
	char	   *authorization;	/* string values, once seen */
	char	   *x_api_key;
} HeaderWalk;

/* JSON walk: entering an object or array. */
static APIKEY_JSON_ACTION
walk_enter(void *state)
{
	((HeaderWalk *) state)->depth++;
	APIKEY_JSON_OK;
}

/* JSON walk: leaving an object or array. */
static APIKEY_JSON_ACTION
walk_leave(void *state)
{
	((HeaderWalk *) state)->depth--;
	APIKEY_JSON_OK;
}

/* JSON walk: a field name; only top-level "authorization" and "x-api-key" are wanted. */
static APIKEY_JSON_ACTION
walk_field(void *state, char *fname, bool isnull)
{
	HeaderWalk *w = (HeaderWalk *) state;

	w->want = 0;
	if (w->depth == 1 && fname != NULL && strcmp(fname, "authorization") == 0)
		w->want = 1;
	else if (w->depth == 1 && fname != NULL && strcmp(fname, "x-api-key") == 0)
		w->want = 2;
	APIKEY_JSON_OK;
}

/* JSON walk: a scalar; kept when it is the wanted field's string value. */
static APIKEY_JSON_ACTION
walk_scalar(void *state, char *token, JsonTokenType tokentype)
{
	HeaderWalk *w = (HeaderWalk *) state;

	if (w->want == 1 && w->depth == 1 && tokentype == JSON_TOKEN_STRING)
		w->authorization = token;
	else if (w->want == 2 && w->depth == 1 && tokentype == JSON_TOKEN_STRING)
		w->x_api_key = token;
	w->want = 0;
	APIKEY_JSON_OK;
}

/*
 * Bounds on PostgREST's request.headers (a flat JSON object of strings):
 * past these the setting cannot be what PostgREST sends, and is treated as
 * missing before the recursive JSON parser sees it.
 */
#define HEADERS_MAX_LEN		(1024 * 1024)
#define HEADERS_MAX_DEPTH	16

/*
 * True when headers is short enough and nests objects and arrays at most
 * HEADERS_MAX_DEPTH deep: a linear pre-scan, so that hostile nesting costs
 * neither stack nor time in the parser.  Brackets inside JSON strings do not
 * count; a closing bracket with nothing open makes the text invalid JSON.
 */
static bool
headers_within_bounds(const char *headers)
{
	size_t		len = strnlen(headers, HEADERS_MAX_LEN + 1);
	int			depth = 0;
	bool		in_string = false;
	size_t		i;

	if (len > HEADERS_MAX_LEN)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = headers[i];

		if (in_string)
		{
			if (c == '\\')
				i++;			/* the escaped character never ends the string */
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > HEADERS_MAX_DEPTH)
				return false;
		}
		else if (c == ']' || c == '}')
		{
			if (--depth < 0)
				return false;
		}
	}
	return true;
}

/*
 * The credential from PostgREST's request.headers setting (a JSON object
 * with lower-cased header names): the Authorization header, else an
 * X-API-Key header (PostgREST itself answers a non-JWT Bearer token when it
 * has a JWT secret: a proxy can move the key to X-API-Key), as the value of
 * an Authorization header ("Bearer <key>"); NULL when there is neither.  The
 * JSON is walked with the parser that reports errors instead of raising
 * them: the setting holds the key, and a parse error's context would print it.
 */
static text *
postgrest_authorization(void)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	JsonLexContext *lex;
	JsonSemAction sem;
	HeaderWalk	walk;

	if (headers == NULL || headers[0] == '\0' || !headers_within_bounds(headers))
		return NULL;
	memset(&walk, 0, sizeof(walk));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &walk;
	sem.object_start = walk_enter;
	sem.object_end = walk_leave;
	sem.array_start = walk_enter;
	sem.array_end = walk_leave;
	sem.object_field_start = walk_field;
	sem.scalar = walk_scalar;
	lex = apikey_json_lex(pstrdup(headers), strlen(headers), GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NULL;
	if (walk.authorization != NULL)
		return cstring_to_text(walk.authorization);
	if (walk.x_api_key != NULL)
		return cstring_to_text(psprintf("Bearer %s", walk.x_api_key));
	return NULL;
}

/*
 * SQL function: apikey_postgrest_pre_request() returns void: PostgREST's
 * db-pre-request hook; authenticates the request's Bearer key or raises PT401.
 */
PG_FUNCTION_INFO_V1(apikey_postgrest_pre_request);
Datum
apikey_postgrest_pre_request(PG_FUNCTION_ARGS)
{
	text	   *h = postgrest_authorization();
	VerifyResult r;

	verify_header(h ? VARDATA_ANY(h) : NULL, h ? VARSIZE_ANY_EXHDR(h) : 0, h == NULL, NULL, &r);
	authenticate(&r);
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

/* SQL function: apikey_revoke(key_id bigint, reason text, tenant_id text) returns boolean */
PG_FUNCTION_INFO_V1(apikey_revoke_id);
Datum
apikey_revoke_id(PG_FUNCTION_ARGS)
{
	int64		id;
	KeyRow		row;

	id = manage_begin_key_change(fcinfo, "apikey_revoke()", 2, &row);
	if (row.revoked)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(keystore_revoke(id, PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/*
 * SQL function: apikey_revoke(key text, reason text) returns boolean.  For
 * whoever holds a leaked key; the error for a key that does not exist never
 * shows it.
 */
PG_FUNCTION_INFO_V1(apikey_revoke_key);
Datum
apikey_revoke_key(PG_FUNCTION_ARGS)
{
	text	   *key;
	KeyfmtParsed parsed;
	KeyRow		row;
	char	   *scope;

	manage_require_writable("apikey_revoke()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must not be null")));
	key = PG_GETARG_TEXT_PP(0);
	scope = actor_tenant(NULL);
	if (keyfmt_parse(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), &parsed) != KEYFMT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("API key does not exist"),
				 errdetail("The value given is not a well-formed API key.")));
	/* a key of another tenant than the actor's is a key that does not exist */
	if (!verify_lookup(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL, &row) ||
		!manage_key_visible(&row, NULL, scope) || !keystore_lock_by_id(row.id, &row))
		manage_no_such_key();
	if (row.revoked)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(keystore_revoke(row.id, PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/* SQL function: apikey_disable(key_id bigint, tenant_id text) returns boolean */
PG_FUNCTION_INFO_V1(apikey_disable);
Datum
apikey_disable(PG_FUNCTION_ARGS)
{
	int64		id;
	KeyRow		row;

	id = manage_begin_key_change(fcinfo, "apikey_disable()", 1, &row);
	if (row.revoked || !row.enabled)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(keystore_set_enabled(id, false));
}

/* SQL function: apikey_enable(key_id bigint, tenant_id text) returns boolean */
PG_FUNCTION_INFO_V1(apikey_enable);
Datum
apikey_enable(PG_FUNCTION_ARGS)
{
	int64		id;
	KeyRow		row;

	id = manage_begin_key_change(fcinfo, "apikey_enable()", 1, &row);
	if (row.revoked)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %lld is revoked", (long long) id),
				 errdetail("Revocation is permanent: a revoked key cannot be enabled."),
				 errhint("Create a new key instead.")));
	if (row.enabled)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(keystore_set_enabled(id, true));
}

/*
 * SQL function: apikey_rotate(key_id bigint, grace interval, tenant_id text)
 * returns table(id, key, prefix, created_at, expires_at)
 */
PG_FUNCTION_INFO_V1(apikey_rotate);
Datum
apikey_rotate(PG_FUNCTION_ARGS)
{
	int64		id;
	Interval   *grace;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz old_expiry;
	KeyRow		row;
	KeyfmtEnv	env;
	MintedKey	minted;

	manage_require_writable("apikey_rotate()");
	id = manage_required_id(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grace must not be null")));
	grace = PG_GETARG_INTERVAL_P(1);
	old_expiry = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														 TimestampTzGetDatum(now),
														 IntervalPGetDatum(grace)));
	if (old_expiry < now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grace must not be negative")));

	manage_lock_key(fcinfo, 2, id, &row);
	if (row.revoked)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %lld is revoked", (long long) id),
				 errdetail("A revoked key cannot be rotated."),
				 errhint("Create a new key instead.")));
	if (keystore_has_successor(id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %lld has already been rotated", (long long) id),
				 errhint("Rotate the newest key of the chain instead.")));

	env = keyfmt_env_from_string(row.environment, strlen(row.environment));
	mint_key(row.tenant_id, row.user_id, row.name, env, 0, true,
			 row.scopes, row.scopes_null, row.metadata, row.metadata_null,
			 id, &minted);
	keystore_cap_expiry(id, old_expiry);
	return return_minted(fcinfo, &minted);
}

/* State shared with list_emit() */
typedef struct ListState
{
	ReturnSetInfo *rsinfo;
} ListState;

/* Emits one key of apikey_list(): never its hash, never the key. */
static void
list_emit(KeyRow *row, void *arg)
{
	ListState  *state = (ListState *) arg;
	UserInfo	user;
	Datum		values[13];
	bool		nulls[13];

	memset(nulls, false, sizeof(nulls));
	values[0] = Int64GetDatum(row->id);
	values[1] = CStringGetTextDatum(row->user_id);
	values[2] = CStringGetTextDatum(row->name);
	values[3] = CStringGetTextDatum(row->prefix);
	values[4] = CStringGetTextDatum(psprintf("%s...%s", row->prefix, row->suffix));
	values[5] = CStringGetTextDatum(row->environment);
	values[6] = row->scopes;
	nulls[6] = row->scopes_null;
	values[7] = TimestampTzGetDatum(row->created_at);
	values[8] = TimestampTzGetDatum(row->expires_at);
	nulls[8] = row->expires_null;
	values[9] = TimestampTzGetDatum(row->last_used_at);
	nulls[9] = row->last_used_null;
	values[10] = BoolGetDatum(row->enabled);
	values[11] = TimestampTzGetDatum(row->revoked_at);
	nulls[11] = !row->revoked;
	values[12] = CStringGetTextDatum(verify_status_name(verify_row_status(row, &user)));
	tuplestore_putvalues(state->rsinfo->setResult, state->rsinfo->setDesc, values, nulls);
}

/*
 * SQL function: apikey_list(tenant_id text) returns table(id, user_id, name,
 * prefix, preview, environment, scopes, created_at, expires_at, last_used_at,
 * enabled, revoked_at, status)
 */
PG_FUNCTION_INFO_V1(apikey_list);
Datum
apikey_list(PG_FUNCTION_ARGS)
{
	char	   *tenant = manage_required_text(fcinfo, 0, "tenant_id");
	char	   *canon;
	ListState	state;

	(void) actor_tenant(tenant);
	canon = binding_canonical_tenant_id(tenant);
	InitMaterializedSRF(fcinfo, 0);
	state.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	keystore_list(canon ? canon : tenant, list_emit, &state);
	return (Datum) 0;
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

/*
 * SQL function: apikey_stats() returns table(valid, missing, malformed,
 * unknown, revoked, disabled, expired, user_inactive, last_used_written,
 * last_used_dropped, last_used_pending, shared, stats_reset)
 */
PG_FUNCTION_INFO_V1(apikey_stats);
Datum
apikey_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		counters[APIKEY_N_COUNTERS];
	TimestampTz reset;
	int64		pending;
	Datum		values[APIKEY_N_COUNTERS + 3];
	bool		nulls[APIKEY_N_COUNTERS + 3];
	int			i;

	stats_read(counters, &reset, &pending);
	InitMaterializedSRF(fcinfo, 0);
	memset(nulls, false, sizeof(nulls));
	for (i = 0; i < APIKEY_N_COUNTERS; i++)
		values[i] = Int64GetDatum((int64) counters[i]);
	values[APIKEY_N_COUNTERS] = Int64GetDatum(pending);
	values[APIKEY_N_COUNTERS + 1] = BoolGetDatum(apikey_shared != NULL);
	values[APIKEY_N_COUNTERS + 2] = TimestampTzGetDatum(reset);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* SQL function: apikey_stats_reset() returns void */
PG_FUNCTION_INFO_V1(apikey_stats_reset);
Datum
apikey_stats_reset(PG_FUNCTION_ARGS)
{
	stats_reset();
	PG_RETURN_VOID();
}
