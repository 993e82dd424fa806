/*-------------------------------------------------------------------------
 * manage.c
 *	  Key management: the checks every management function makes (manage.h),
 *	  and apikey_create, apikey_revoke, apikey_revoke_key, apikey_disable,
 *	  apikey_enable, apikey_rotate and apikey_list.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "settings.h"
#include "pepper.h"
#include "binding.h"
#include "keystore.h"
#include "verify.h"
#include "import.h"
#include "actor.h"
#include "credits.h"
#include "manage.h"
#include "shmem.h"

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

/* Raises 22023 for an environment other than "live" or "test"; returns it. */
KeyfmtEnv
manage_check_environment(const char *envname)
{
	KeyfmtEnv	env = keyfmt_env_from_string(envname, strlen(envname));

	if (env == KEYFMT_ENV_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid environment \"%s\"", envname),
				 errhint("The environment of an API key is \"live\" or \"test\".")));
	return env;
}

/* Raises 22023 unless expires_at is NULL or in the future. */
void
manage_check_expires(TimestampTz expires_at, bool expires_null)
{
	if (!expires_null && expires_at <= GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future")));
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
		 int64 rotated_from, const KeyLimits *limits, MintedKey *out)
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
							  rotated_from, actor_or_null(), scheme, limits, &out->created_at);
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
 * SQL function: apikey_create(tenant_id text, user_id text, name text,
 * expires_at timestamptz, environment text, scopes text[], metadata jsonb,
 * rate_limit integer, rate_window interval, remaining bigint,
 * refill_amount bigint, refill_interval interval)
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
	KeyfmtEnv	env;
	MintedKey	minted;
	KeyLimits	limits;

	/* before 1.2 (7 arguments): no rate limit or credits columns to write */
	if (PG_NARGS() < 12)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"apikey\" must be updated before keys can be created"),
				 errhint("Run ALTER EXTENSION apikey UPDATE.")));
	/* the rate limit and credits (credits.c): 22023 like the other arguments */
	limits_from_args(fcinfo, 7, &limits);
	limits_check_pairs(&limits);
	manage_require_writable("apikey_create()");
	tenant_id = manage_required_text(fcinfo, 0, "tenant_id");
	user_id = manage_required_text(fcinfo, 1, "user_id");

	env = manage_check_environment(envname);
	manage_check_expires(expires_at, expires_null);
	if (!PG_ARGISNULL(5))
		manage_check_scopes(PG_GETARG_ARRAYTYPE_P(5));
	manage_require_binding();
	(void) actor_tenant(tenant_id);

	mint_key(tenant_id, user_id, name, env, expires_at, expires_null,
			 PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5), PG_ARGISNULL(5),
			 PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6), PG_ARGISNULL(6),
			 0, &limits, &minted);
	return return_minted(fcinfo, &minted);
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
	int			bcrypt_lookup = 0;
	Snapshot	snap = NULL;

	manage_require_writable("apikey_revoke()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must not be null")));
	key = PG_GETARG_TEXT_PP(0);
	scope = actor_tenant(NULL);
	/* apikey's own format, else a registered foreign one (import.h) */
	if (keyfmt_parse(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), &parsed) != KEYFMT_OK &&
		!keyformats_match(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), &bcrypt_lookup))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("API key does not exist"),
				 errdetail("The value given is not a well-formed API key.")));
	/* a key of another tenant than the actor's is a key that does not exist */
	if (!(verify_lookup(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL, &row) ||
		  import_lookup_bcrypt(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), bcrypt_lookup, &snap, &row)) ||
		!manage_key_visible(&row, NULL, scope) || !keystore_lock_by_id(row.id, &row))
		manage_no_such_key();
	if (row.revoked)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(keystore_revoke(row.id, PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/*
 * apikey_disable() and apikey_enable(): true when the state changed.  A
 * revoked key is never enabled (55000) and disabling it changes nothing.
 */
static bool
manage_set_enabled(FunctionCallInfo fcinfo, const char *fname, bool enable)
{
	int64		id;
	KeyRow		row;

	id = manage_begin_key_change(fcinfo, fname, 1, &row);
	if (row.revoked && enable)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %lld is revoked", (long long) id),
				 errdetail("Revocation is permanent: a revoked key cannot be enabled."),
				 errhint("Create a new key instead.")));
	if (row.revoked || row.enabled == enable)
		return false;
	return keystore_set_enabled(id, enable);
}

/* SQL function: apikey_disable(key_id bigint, tenant_id text) returns boolean */
PG_FUNCTION_INFO_V1(apikey_disable);
Datum
apikey_disable(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(manage_set_enabled(fcinfo, "apikey_disable()", false));
}

/* SQL function: apikey_enable(key_id bigint, tenant_id text) returns boolean */
PG_FUNCTION_INFO_V1(apikey_enable);
Datum
apikey_enable(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(manage_set_enabled(fcinfo, "apikey_enable()", true));
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
	KeyLimits	limits;

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

	/* the successor keeps the rate limit; the credits row moves to it (credits.c) */
	limits_read(id, &limits);
	limits.credits = false;
	env = keyfmt_env_from_string(row.environment, strlen(row.environment));
	mint_key(row.tenant_id, row.user_id, row.name, env, 0, true,
			 row.scopes, row.scopes_null, row.metadata, row.metadata_null,
			 id, &limits, &minted);
	credits_move(id, minted.id);
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
