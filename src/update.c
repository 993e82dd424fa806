/*-------------------------------------------------------------------------
 * update.c
 *	  apikey_update: changes the given fields of one key (name, scopes,
 *	  metadata, expiry, rate limit, credits), audited as one 'update' event.
 *
 * The checks are those of every management function (manage.h), in their
 * order: arguments, read-only transaction, the actor, then the key.  The
 * event names the fields that changed, never their values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "actor.h"
#include "credits.h"
#include "keystore.h"
#include "manage.h"

/* Arguments of apikey_update */
#define UPD_KEY_ID			0
#define UPD_TENANT_ID		1
#define UPD_NAME			2
#define UPD_SCOPES			3
#define UPD_METADATA		4
#define UPD_EXPIRES_AT		5
#define UPD_RATE_LIMIT		6	/* then rate_window, remaining, refill_amount, refill_interval */
#define UPD_CLEAR			11

/* The fields clear may name */
typedef struct UpdateClear
{
	bool		expires_at;
	bool		scopes;
	bool		metadata;
	bool		rate_limit;
	bool		credits;
	bool		refill;
} UpdateClear;

/* Raises 22023 for a field both given and cleared. */
static void
check_not_both(bool given, bool cleared, const char *field)
{
	if (given && cleared)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is both given and cleared", field),
				 errhint("Give a field a new value, or name it in clear, not both.")));
}

/* Reads the clear argument (NULL: nothing to clear); 22023 for an unknown name. */
static void
read_clear(FunctionCallInfo fcinfo, UpdateClear *clear)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	memset(clear, 0, sizeof(*clear));
	if (PG_ARGISNULL(UPD_CLEAR))
		return;
	arr = PG_GETARG_ARRAYTYPE_P(UPD_CLEAR);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("clear must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *f;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("clear must not contain null elements")));
		f = TextDatumGetCString(elems[i]);
		if (strcmp(f, "expires_at") == 0)
			clear->expires_at = true;
		else if (strcmp(f, "scopes") == 0)
			clear->scopes = true;
		else if (strcmp(f, "metadata") == 0)
			clear->metadata = true;
		else if (strcmp(f, "rate_limit") == 0)
			clear->rate_limit = true;
		else if (strcmp(f, "credits") == 0)
			clear->credits = true;
		else if (strcmp(f, "refill") == 0)
			clear->refill = true;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown field \"%s\" in clear", f),
					 errhint("clear may name expires_at, scopes, metadata, rate_limit, credits and refill.")));
	}
}

/* True when two varlena values (text[], jsonb) differ byte for byte. */
static bool
varlena_differs(Datum a, Datum b)
{
	struct varlena *va = PG_DETOAST_DATUM_PACKED(a);
	struct varlena *vb = PG_DETOAST_DATUM_PACKED(b);

	return VARSIZE_ANY_EXHDR(va) != VARSIZE_ANY_EXHDR(vb) ||
		memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) != 0;
}

/* True when a nullable value changes: one side NULL, or both set and different. */
static inline bool
nullable_differs(bool old_null, bool new_null, bool values_differ)
{
	return old_null != new_null || (!old_null && values_differ);
}

/* True when two intervals differ in how they are stored. */
static inline bool
interval_differs(const Interval *a, const Interval *b)
{
	return a->time != b->time || a->day != b->day || a->month != b->month;
}

/* Appends field to the comma-separated list of changed fields. */
static void
note_change(StringInfo changed, const char *field)
{
	if (changed->len > 0)
		appendStringInfoChar(changed, ',');
	appendStringInfoString(changed, field);
}

/* Writes the columns of apikey.keys apikey_update changes (all of them, as they will be). */
static void
update_key_row(int64 id, const char *name, Datum scopes, bool scopes_null,
			   Datum metadata, bool metadata_null, TimestampTz expires_at, bool expires_null,
			   const KeyLimits *limits)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[7] = {INT8OID, TEXTOID, TEXTARRAYOID, JSONBOID, TIMESTAMPTZOID,
		INT4OID, INTERVALOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	(void) keystore_connect_plan(&plan, "UPDATE apikey.keys SET name = $2, scopes = $3, metadata = $4,"
								 " expires_at = $5, rate_limit = $6, rate_window = $7"
								 " WHERE id OPERATOR(pg_catalog.=) $1",
								 7, argtypes);
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(name);
	keystore_scopes_params(values, nulls, 2, scopes, scopes_null, metadata, metadata_null,
						   expires_at, expires_null);
	values[5] = Int32GetDatum(limits->rate_limit);
	nulls[5] = limits->rate_limit_null ? 'n' : ' ';
	values[6] = IntervalPGetDatum(&limits->rate_window);
	nulls[6] = limits->rate_window_null ? 'n' : ' ';
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not update API key");
	SPI_finish();
}

/* Records the 'update' event of key id, naming the changed fields. */
static void
update_event(int64 id, const char *tenant_id, const char *fields)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	const char *actor = actor_or_null();

	(void) keystore_connect_plan(&plan, "INSERT INTO apikey.events (key_id, tenant_id, action, actor, reason)"
								 " VALUES ($1, $2, 'update', $3, $4)",
								 4, argtypes);
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(tenant_id);
	values[2] = actor ? CStringGetTextDatum(actor) : (Datum) 0;
	nulls[2] = actor ? ' ' : 'n';
	values[3] = CStringGetTextDatum(fields);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the update of an API key");
	SPI_finish();
}

/*
 * SQL function: apikey_update(key_id bigint, tenant_id text, name text,
 * scopes text[], metadata jsonb, expires_at timestamptz, rate_limit integer,
 * rate_window interval, remaining bigint, refill_amount bigint,
 * refill_interval interval, clear text[]) returns boolean: true when
 * something changed.  NULL leaves a field as it is; clear names fields to
 * set back to none.
 */
PG_FUNCTION_INFO_V1(apikey_update);
Datum
apikey_update(PG_FUNCTION_ARGS)
{
	UpdateClear clear;
	KeyLimits	given;
	KeyLimits	stored;
	KeyLimits	limits;
	KeyRow		row;
	int64		id;
	char	   *name = NULL;
	bool		scopes_given = !PG_ARGISNULL(UPD_SCOPES);
	bool		metadata_given = !PG_ARGISNULL(UPD_METADATA);
	bool		expires_given = !PG_ARGISNULL(UPD_EXPIRES_AT);
	bool		rate_given;
	bool		credits_given;
	bool		refill_given;
	Datum		scopes;
	bool		scopes_null;
	Datum		metadata;
	bool		metadata_null;
	TimestampTz expires_at;
	bool		expires_null;
	bool		key_changed = false;
	bool		credits_changed = false;
	StringInfoData changed;

	/* arguments: 22023 */
	read_clear(fcinfo, &clear);
	limits_from_args(fcinfo, UPD_RATE_LIMIT, &given);
	rate_given = !given.rate_limit_null || !given.rate_window_null;
	refill_given = !given.refill_amount_null || !given.refill_interval_null;
	credits_given = !given.remaining_null || refill_given;
	check_not_both(scopes_given, clear.scopes, "scopes");
	check_not_both(metadata_given, clear.metadata, "metadata");
	check_not_both(expires_given, clear.expires_at, "expires_at");
	check_not_both(rate_given, clear.rate_limit, "rate_limit");
	check_not_both(credits_given, clear.credits, "credits");
	check_not_both(refill_given, clear.refill, "refill");
	if (!PG_ARGISNULL(UPD_NAME))
		name = manage_check_name(fcinfo, UPD_NAME);
	if (scopes_given)
		manage_check_scopes(PG_GETARG_ARRAYTYPE_P(UPD_SCOPES));
	if (expires_given && PG_GETARG_TIMESTAMPTZ(UPD_EXPIRES_AT) <= GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future")));

	/* read-only, the actor, the key (P0002 when hidden or missing), locked */
	id = manage_begin_key_change(fcinfo, "apikey_update()", UPD_TENANT_ID, &row);
	if (row.revoked)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %lld is revoked", (long long) id),
				 errdetail("A revoked key cannot be updated.")));
	if ((credits_given || clear.credits || clear.refill) && keystore_has_successor(id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %lld has been rotated", (long long) id),
				 errdetail("Its credits belong to the newest key of its rotation chain."),
				 errhint("Update the credits of the newest key instead.")));

	/* the limits the key will have: the stored ones, with the given ones over them */
	limits_read(id, &stored);
	limits = stored;
	if (clear.rate_limit)
		limits.rate_limit_null = limits.rate_window_null = true;
	if (!given.rate_limit_null)
	{
		limits.rate_limit_null = false;
		limits.rate_limit = given.rate_limit;
	}
	if (!given.rate_window_null)
	{
		limits.rate_window_null = false;
		limits.rate_window = given.rate_window;
	}
	if (clear.credits)
		limits.remaining_null = limits.refill_amount_null = limits.refill_interval_null = true;
	if (clear.refill)
		limits.refill_amount_null = limits.refill_interval_null = true;
	if (!given.remaining_null)
	{
		limits.remaining_null = false;
		limits.remaining = given.remaining;
	}
	if (!given.refill_amount_null)
	{
		limits.refill_amount_null = false;
		limits.refill_amount = given.refill_amount;
	}
	if (!given.refill_interval_null)
	{
		limits.refill_interval_null = false;
		limits.refill_interval = given.refill_interval;
	}
	limits_check_pairs(&limits);

	/* what changes, in the order of the arguments */
	initStringInfo(&changed);
	if (name != NULL && strcmp(name, row.name) != 0)
	{
		note_change(&changed, "name");
		key_changed = true;
	}
	scopes_null = clear.scopes || (!scopes_given && row.scopes_null);
	scopes = scopes_given ? PG_GETARG_DATUM(UPD_SCOPES) : row.scopes;
	if (nullable_differs(row.scopes_null, scopes_null,
						 !scopes_null && !row.scopes_null && varlena_differs(row.scopes, scopes)))
	{
		note_change(&changed, "scopes");
		key_changed = true;
	}
	metadata_null = clear.metadata || (!metadata_given && row.metadata_null);
	metadata = metadata_given ? PG_GETARG_DATUM(UPD_METADATA) : row.metadata;
	if (nullable_differs(row.metadata_null, metadata_null,
						 !metadata_null && !row.metadata_null && varlena_differs(row.metadata, metadata)))
	{
		note_change(&changed, "metadata");
		key_changed = true;
	}
	expires_null = clear.expires_at || (!expires_given && row.expires_null);
	expires_at = expires_given ? PG_GETARG_TIMESTAMPTZ(UPD_EXPIRES_AT) : row.expires_at;
	if (nullable_differs(row.expires_null, expires_null, expires_at != row.expires_at))
	{
		note_change(&changed, "expires_at");
		key_changed = true;
	}
	if (nullable_differs(stored.rate_limit_null, limits.rate_limit_null,
						 limits.rate_limit != stored.rate_limit ||
						 interval_differs(&limits.rate_window, &stored.rate_window)))
	{
		note_change(&changed, "rate_limit");
		key_changed = true;
	}
	if (stored.credits && !limits.credits)
	{
		note_change(&changed, "credits");
		credits_changed = true;
	}
	if (limits.credits &&
		(!stored.credits || limits.remaining != stored.remaining))
	{
		note_change(&changed, "remaining");
		credits_changed = true;
	}
	if (limits.credits &&
		nullable_differs(stored.refill_amount_null, limits.refill_amount_null,
						 limits.refill_amount != stored.refill_amount ||
						 interval_differs(&limits.refill_interval, &stored.refill_interval)))
	{
		note_change(&changed, "refill");
		credits_changed = true;
	}

	if (key_changed)
		update_key_row(id, name ? name : row.name, scopes, scopes_null, metadata, metadata_null,
					   expires_at, expires_null, &limits);
	if (credits_changed)
		credits_store(id, &limits);
	if (changed.len > 0)
		update_event(id, row.tenant_id, changed.data);
	PG_RETURN_BOOL(changed.len > 0);
}
