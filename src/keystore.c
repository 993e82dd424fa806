/*-------------------------------------------------------------------------
 * keystore.c
 *	  Table access to apikey.keys: lookups by hash and by id through the
 *	  table's indexes, and the few writes (insert, revoke, enable/disable,
 *	  expiry cap, last-used).
 *
 * Lookups read the heap through the unique indexes directly, with the
 * latest snapshot (a revocation committed a moment ago is seen even inside
 * an older statement or transaction): no SQL, no plan, no search_path.  Writes go through SPI
 * plans prepared once per backend, fully schema-qualified, and forced
 * generic so that no plan or log line ever contains a hash as a constant.
 * Nothing in this file knows the key itself.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_node.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "apikey.h"
#include "keystore.h"
#include "ratelimit.h"

/* Columns of apikey.keys the C code reads, by attribute number */
typedef struct KeyAttnums
{
	AttrNumber	id,
				tenant_id,
				user_id,
				name,
				prefix,
				suffix,
				environment,
				scopes,
				metadata,
				created_at,
				expires_at,
				last_used_at,
				enabled,
				revoked_at,
				key_hash,
				hash_scheme,
				created_by,
				rate_limit,
				rate_window;
} KeyAttnums;

/* What a backend resolved about apikey.keys; reset by relcache invalidation */
typedef struct KeystoreCache
{
	bool		valid;
	Oid			keys_relid;
	Oid			hash_index;
	Oid			pkey_index;
	Oid			owner;
	KeyAttnums	att;
	FmgrInfo	byteaeq;
	FmgrInfo	int8eq;
	int			verify_natts;	/* attributes to deform for keystore_fill_verify_row() */
} KeystoreCache;

static KeystoreCache cache;
static bool callback_registered = false;

/* SPI plans, prepared once per backend (the plan cache revalidates them) */
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr revoke_plan = NULL;
static SPIPlanPtr enable_plan = NULL;
static SPIPlanPtr expiry_plan = NULL;
static SPIPlanPtr touch_plan = NULL;

/* Drops the cached OIDs when apikey.keys changes (or everything is reset). */
static void
keystore_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.keys_relid)
		cache.valid = false;
}

/* Forgets the cached OIDs. */
void
keystore_invalidate(void)
{
	cache.valid = false;
}

/* Finds the attribute numbers of the columns we read, in any tuple descriptor. */
static void
keystore_map_attnums(TupleDesc desc, KeyAttnums *att)
{
	int			i;

	memset(att, 0, sizeof(*att));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		const char *n = NameStr(a->attname);

		if (a->attisdropped)
			continue;
#define MAP(col) if (strcmp(n, #col) == 0) att->col = a->attnum
		MAP(id);
		else MAP(tenant_id);
		else MAP(user_id);
		else MAP(name);
		else MAP(prefix);
		else MAP(suffix);
		else MAP(environment);
		else MAP(scopes);
		else MAP(metadata);
		else MAP(created_at);
		else MAP(expires_at);
		else MAP(last_used_at);
		else MAP(enabled);
		else MAP(revoked_at);
		else MAP(key_hash);
		else MAP(hash_scheme);
		else MAP(created_by);
		else MAP(rate_limit);
		else MAP(rate_window);
#undef MAP
	}
}

/* Resolves apikey.keys and its indexes; raises 55000 when the extension is not there. */
static void
keystore_ensure(void)
{
	Oid			nsp;
	Relation	rel;
	HeapTuple	tup;

	if (cache.valid)
		return;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(keystore_relcache_callback, (Datum) 0);
		callback_registered = true;
	}

	nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	cache.keys_relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_KEYS_TABLE, nsp) : InvalidOid;
	cache.hash_index = OidIsValid(nsp) ? get_relname_relid(APIKEY_KEYS_HASH_INDEX, nsp) : InvalidOid;
	cache.pkey_index = OidIsValid(nsp) ? get_relname_relid("keys_pkey", nsp) : InvalidOid;
	if (!OidIsValid(cache.keys_relid) || !OidIsValid(cache.hash_index) || !OidIsValid(cache.pkey_index))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the tables of extension \"apikey\" are missing"),
				 errhint("Run CREATE EXTENSION apikey CASCADE in this database.")));

	rel = table_open(cache.keys_relid, AccessShareLock);
	keystore_map_attnums(RelationGetDescr(rel), &cache.att);
	table_close(rel, AccessShareLock);
	cache.verify_natts = Max(Max(Max(cache.att.id, cache.att.tenant_id),
								 Max(cache.att.user_id, cache.att.environment)),
							 Max(Max(Max(cache.att.scopes, cache.att.metadata),
									 Max(cache.att.created_at, cache.att.expires_at)),
								 Max(Max(cache.att.last_used_at, cache.att.enabled),
									 cache.att.revoked_at)));
	cache.verify_natts = Max(cache.verify_natts, Max(cache.att.rate_limit, cache.att.rate_window));

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(cache.keys_relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", cache.keys_relid);
	cache.owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	fmgr_info(F_BYTEAEQ, &cache.byteaeq);
	fmgr_info(F_INT8EQ, &cache.int8eq);
	cache.valid = true;
}

/* Copies a text column into a C string, or NULL. */
static inline char *
keystore_text(HeapTuple tup, TupleDesc desc, AttrNumber att)
{
	bool		isnull;
	Datum		d;

	if (att == 0)
		return NULL;
	d = heap_getattr(tup, att, desc, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/* Reads a timestamptz column; returns false for NULL. */
static inline bool
keystore_ts(HeapTuple tup, TupleDesc desc, AttrNumber att, TimestampTz *ts)
{
	bool		isnull;
	Datum		d;

	if (att == 0)
		return false;
	d = heap_getattr(tup, att, desc, &isnull);
	*ts = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

/* Reads a varlena column as a detoasted copy owned by the current context. */
static inline Datum
keystore_varlena(HeapTuple tup, TupleDesc desc, AttrNumber att, bool *isnull)
{
	Datum		d;

	if (att == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	d = heap_getattr(tup, att, desc, isnull);
	return *isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
}

/* Fills a KeyRow from a tuple of apikey.keys (or of a SELECT * over it). */
static void
keystore_fill_row(HeapTuple tup, TupleDesc desc, const KeyAttnums *att, KeyRow *row)
{
	bool		isnull;

	memset(row, 0, sizeof(*row));
	row->id = DatumGetInt64(heap_getattr(tup, att->id, desc, &isnull));
	row->tenant_id = keystore_text(tup, desc, att->tenant_id);
	row->user_id = keystore_text(tup, desc, att->user_id);
	row->name = keystore_text(tup, desc, att->name);
	row->prefix = keystore_text(tup, desc, att->prefix);
	row->suffix = keystore_text(tup, desc, att->suffix);
	row->environment = keystore_text(tup, desc, att->environment);
	row->scopes = keystore_varlena(tup, desc, att->scopes, &row->scopes_null);
	row->metadata = keystore_varlena(tup, desc, att->metadata, &row->metadata_null);
	(void) keystore_ts(tup, desc, att->created_at, &row->created_at);
	row->expires_null = !keystore_ts(tup, desc, att->expires_at, &row->expires_at);
	row->last_used_null = !keystore_ts(tup, desc, att->last_used_at, &row->last_used_at);
	row->revoked = keystore_ts(tup, desc, att->revoked_at, &row->revoked_at);
	row->hash_scheme = keystore_text(tup, desc, att->hash_scheme);
	row->enabled = DatumGetBool(heap_getattr(tup, att->enabled, desc, &isnull)) && !isnull;
	if (att->rate_limit != 0 && att->rate_window != 0)
	{
		Datum		lim = heap_getattr(tup, att->rate_limit, desc, &isnull);
		bool		wnull;
		Datum		win = heap_getattr(tup, att->rate_window, desc, &wnull);

		if (!isnull && !wnull)
		{
			row->rate_limit = DatumGetInt32(lim);
			row->rate_window_us = ratelimit_interval_us(DatumGetIntervalP(win));
		}
	}
}

/*
 * Fills from a deformed tuple of apikey.keys only what verification reads:
 * the key's state (id, tenant, user, environment, scopes, metadata, times,
 * enabled, revoked, rate limit).  name, prefix, suffix and hash_scheme stay NULL.
 */
static void
keystore_fill_verify_row(TupleTableSlot *slot, const KeyAttnums *att, KeyRow *row)
{
	Datum	   *v = slot->tts_values;
	bool	   *n = slot->tts_isnull;

#define KS_NULL(a) ((a) == 0 || n[(a) - 1])
#define KS_TEXT(a) (KS_NULL(a) ? NULL : TextDatumGetCString(v[(a) - 1]))
#define KS_COPY(a) (KS_NULL(a) ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(v[(a) - 1])))
	memset(row, 0, sizeof(*row));
	row->id = KS_NULL(att->id) ? 0 : DatumGetInt64(v[att->id - 1]);
	row->tenant_id = KS_TEXT(att->tenant_id);
	row->user_id = KS_TEXT(att->user_id);
	row->environment = KS_TEXT(att->environment);
	row->scopes_null = KS_NULL(att->scopes);
	row->scopes = KS_COPY(att->scopes);
	row->metadata_null = KS_NULL(att->metadata);
	row->metadata = KS_COPY(att->metadata);
	row->created_at = KS_NULL(att->created_at) ? 0 : DatumGetTimestampTz(v[att->created_at - 1]);
	row->expires_null = KS_NULL(att->expires_at);
	row->expires_at = row->expires_null ? 0 : DatumGetTimestampTz(v[att->expires_at - 1]);
	row->last_used_null = KS_NULL(att->last_used_at);
	row->last_used_at = row->last_used_null ? 0 : DatumGetTimestampTz(v[att->last_used_at - 1]);
	row->revoked = !KS_NULL(att->revoked_at);
	row->revoked_at = row->revoked ? DatumGetTimestampTz(v[att->revoked_at - 1]) : 0;
	row->enabled = !KS_NULL(att->enabled) && DatumGetBool(v[att->enabled - 1]);
	if (!KS_NULL(att->rate_limit) && !KS_NULL(att->rate_window))
	{
		row->rate_limit = DatumGetInt32(v[att->rate_limit - 1]);
		row->rate_window_us = ratelimit_interval_us(DatumGetIntervalP(v[att->rate_window - 1]));
	}
#undef KS_NULL
#undef KS_TEXT
#undef KS_COPY
}

/*
 * The probe of apikey.keys by hash held open by one call site of the
 * verification functions for the rest of its statement (the executor state
 * it belongs to): the table, its hash index, an index scan and a slot,
 * opened once and rescanned with each call's own snapshot, as the executor
 * rescans an inner index scan.  The relation and index references belong
 * to the resource owner that was current when they were opened; they are
 * released by keystore_probe_release() under that owner, called when the
 * executor state shuts down normally.  On an error, the transaction's (or
 * subtransaction's) cleanup releases them with everything else the
 * statement held and the memory goes with the statement's: no callback runs
 * then (ExprContext callbacks run only on a normal shutdown).
 */
struct KeystoreProbe
{
	bool		open;
	Oid			relid;
	Oid			index;
	ResourceOwner owner;		/* the owner of the references */
	MemoryContext cxt;			/* the statement's memory: the scan's state lives here */
	Relation	rel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
};

/* A closed probe whose state will live in cxt (the statement's memory). */
KeystoreProbe *
keystore_probe_new(MemoryContext cxt)
{
	KeystoreProbe *probe = MemoryContextAllocZero(cxt, sizeof(KeystoreProbe));

	probe->cxt = cxt;
	return probe;
}

/*
 * Closes what the probe holds, under the resource owner that took it.  The
 * probe is marked closed first: an error half way leaves the rest to the
 * transaction's cleanup, never to a second release.
 */
void
keystore_probe_release(KeystoreProbe *probe)
{
	ResourceOwner save;

	if (probe == NULL || !probe->open)
		return;
	probe->open = false;
	save = CurrentResourceOwner;
	CurrentResourceOwner = probe->owner;
	ExecDropSingleTupleTableSlot(probe->slot);
	index_endscan(probe->scan);
	index_close(probe->irel, NoLock);
	table_close(probe->rel, NoLock);
	CurrentResourceOwner = save;
	probe->slot = NULL;
	probe->scan = NULL;
	probe->irel = NULL;
	probe->rel = NULL;
}

/*
 * Rescans scan for the row whose index key (attribute 1 of irel, its only
 * key column) equals value, with snap, into slot; true when found.  The
 * heap page's pin is dropped by the caller once the row is read.
 */
static inline bool
keystore_probe_fetch(IndexScanDesc scan, Relation irel, TupleTableSlot *slot,
					 FmgrInfo *eq, Datum value, Snapshot snap)
{
	ScanKeyData skey;

	ScanKeyEntryInitializeWithInfo(&skey, 0, 1, BTEqualStrategyNumber,
								   InvalidOid, irel->rd_indcollation[0], eq, value);
	scan->xs_snapshot = snap;
	index_rescan(scan, &skey, 1, NULL, 0);
	return index_getnext_slot(scan, ForwardScanDirection, slot);
}

/*
 * The held probe, opened (or reopened, should apikey.keys or its hash index
 * have been resolved to other relations since) for this call; NULL when it
 * cannot be used by this call (another resource owner is current than the
 * one holding it: the call then opens and closes its own).
 */
static KeystoreProbe *
keystore_probe_ready(KeystoreProbe *probe)
{
	MemoryContext old;

	if (probe->open && probe->owner != CurrentResourceOwner)
		return NULL;
	if (probe->open && (probe->relid != cache.keys_relid || probe->index != cache.hash_index))
		keystore_probe_release(probe);
	if (probe->open)
		return probe;

	old = MemoryContextSwitchTo(probe->cxt);
	probe->rel = table_open(cache.keys_relid, AccessShareLock);
	probe->irel = index_open(cache.hash_index, AccessShareLock);
	probe->slot = MakeSingleTupleTableSlot(RelationGetDescr(probe->rel), &TTSOpsBufferHeapTuple);
	probe->scan = apikey_index_beginscan(probe->rel, probe->irel, InvalidSnapshot, 1, 0);
	MemoryContextSwitchTo(old);
	probe->relid = cache.keys_relid;
	probe->index = cache.hash_index;
	probe->owner = CurrentResourceOwner;
	probe->open = true;
	return probe;
}

/*
 * Looks a row up through one of the unique indexes (its first column equal
 * to value), with *snap, or with the latest snapshot taken after the lock
 * (returned in *snap, for the caller's next probe) when *snap is NULL.  A
 * plain index scan with the key prebuilt, not systable_*: no scan key
 * remapping per call, and the index keeps its lock until the end of the
 * transaction like any query's, so repeated calls do not release and take
 * it again.  verify_only reads only the columns verification needs and
 * deforms the tuple once.  With a held probe (the hash index only), the
 * scan is rescanned instead of opened and closed.
 */
static bool
keystore_lookup(Oid index, FmgrInfo *eq, Datum value, Snapshot *snap,
				bool verify_only, KeystoreProbe *held, KeyRow *row)
{
	Relation	rel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	if (held != NULL)
		held = keystore_probe_ready(held);
	if (held != NULL)
	{
		MemoryContext old;

		/* the relations are locked since the first call: the snapshot follows the lock */
		if (*snap == NULL)
			*snap = GetLatestSnapshot();
		/* the scan's own allocations belong to the statement, as an executor scan's */
		old = MemoryContextSwitchTo(held->cxt);
		found = keystore_probe_fetch(held->scan, held->irel, held->slot, eq, value, *snap);
		MemoryContextSwitchTo(old);
		if (found)
		{
			slot_getsomeattrs(held->slot, cache.verify_natts);
			keystore_fill_verify_row(held->slot, &cache.att, row);
		}
		/* no buffer pin outlives the call (an idle cursor must not hold one) */
		ExecClearTuple(held->slot);
		table_index_fetch_reset(held->scan->xs_heapfetch);
		return found;
	}

	rel = table_open(cache.keys_relid, AccessShareLock);
	irel = index_open(index, AccessShareLock);
	if (*snap == NULL)
		*snap = GetLatestSnapshot();
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsBufferHeapTuple);
	scan = apikey_index_beginscan(rel, irel, *snap, 1, 0);
	found = keystore_probe_fetch(scan, irel, slot, eq, value, *snap);
	if (found && verify_only)
	{
		slot_getsomeattrs(slot, cache.verify_natts);
		keystore_fill_verify_row(slot, &cache.att, row);
	}
	else if (found)
	{
		bool		shouldfree;
		HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &shouldfree);

		keystore_fill_row(tup, RelationGetDescr(rel), &cache.att, row);
		if (shouldfree)
			heap_freetuple(tup);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * Finds the key whose stored hash is hash (32 bytes), for verification:
 * fills only what verification reads (see keystore_fill_verify_row()).
 * *snap as for keystore_lookup(); held, when not NULL, the probe the call
 * site keeps open for its statement.
 */
bool
keystore_lookup_by_hash(const uint8 *hash, Snapshot *snap, KeystoreProbe *held, KeyRow *row)
{
	/* a bytea of 32 bytes on the stack: a short (1-byte header) varlena */
	union
	{
		char		data[1 + HASHING_SHA256_LEN];
		int32		align;
	}			buf;
	bytea	   *value = (bytea *) buf.data;

	keystore_ensure();
	SET_VARSIZE_SHORT(value, 1 + HASHING_SHA256_LEN);
	memcpy(VARDATA_SHORT(value), hash, HASHING_SHA256_LEN);
	return keystore_lookup(cache.hash_index, &cache.byteaeq, PointerGetDatum(value),
						   snap, true, held, row);
}

/* Finds the key with this id (every column), with the latest snapshot. */
bool
keystore_lookup_by_id(int64 id, KeyRow *row)
{
	Snapshot	snap = NULL;

	keystore_ensure();
	return keystore_lookup(cache.pkey_index, &cache.int8eq, Int64GetDatum(id),
						   &snap, false, NULL, row);
}

/*
 * Finds the key with this id for verification (what keystore_lookup_by_hash()
 * fills), with *snap as for keystore_lookup(): a bcrypt import (import.c).
 */
bool
keystore_lookup_by_id_snap(int64 id, Snapshot *snap, KeyRow *row)
{
	keystore_ensure();
	return keystore_lookup(cache.pkey_index, &cache.int8eq, Int64GetDatum(id),
						   snap, true, NULL, row);
}

/* Switches to the owner of apikey.keys, as SECURITY DEFINER would. */
void
keystore_become_owner(Oid *save_userid, int *save_sec_context)
{
	keystore_ensure();
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(cache.owner,
						   *save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/* Undoes keystore_become_owner(). */
void
keystore_restore_user(Oid save_userid, int save_sec_context)
{
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/* Prepares and keeps a generic plan (parameters never become constants). */
SPIPlanPtr
keystore_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "could not prepare apikey statement: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep apikey statement");
	return plan;
}

/* Returns *plan, prepared with keystore_prepare() the first time. */
SPIPlanPtr
keystore_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
		*plan = keystore_prepare(sql, nargs, argtypes);
	return *plan;
}

/* Connects to SPI and returns *plan, prepared the first time (keystore_plan). */
SPIPlanPtr
keystore_connect_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	keystore_spi_connect();
	return keystore_plan(plan, sql, nargs, argtypes);
}

/* A SHA-256 hash as a palloc'd bytea (a statement's parameter). */
bytea *
keystore_hash_bytea(const uint8 *hash)
{
	bytea	   *hashval = (bytea *) palloc(VARHDRSZ + HASHING_SHA256_LEN);

	SET_VARSIZE(hashval, VARHDRSZ + HASHING_SHA256_LEN);
	memcpy(VARDATA(hashval), hash, HASHING_SHA256_LEN);
	return hashval;
}

/*
 * Fills parameters first .. first + 2 (0-based) of a statement writing a
 * key's scopes, metadata and expires_at, each of them possibly null.
 */
void
keystore_scopes_params(Datum *values, char *nulls, int first,
					   Datum scopes, bool scopes_null,
					   Datum metadata, bool metadata_null,
					   TimestampTz expires_at, bool expires_null)
{
	values[first] = scopes;
	nulls[first] = scopes_null ? 'n' : ' ';
	values[first + 1] = metadata;
	nulls[first + 1] = metadata_null ? 'n' : ' ';
	values[first + 2] = TimestampTzGetDatum(expires_at);
	nulls[first + 2] = expires_null ? 'n' : ' ';
}

/*
 * Fills the parameters an INSERT INTO apikey.keys takes first: $1-$4
 * (tenant, user, name, prefix) and $7-$10 (environment, scopes, metadata,
 * expires_at); every other one of the nargs parameters is marked not null.
 */
void
keystore_key_params(Datum *values, char *nulls, int nargs,
					const char *tenant_id, const char *user_id,
					const char *name, const char *prefix,
					const char *environment,
					Datum scopes, bool scopes_null,
					Datum metadata, bool metadata_null,
					TimestampTz expires_at, bool expires_null)
{
	memset(nulls, ' ', nargs);
	values[0] = CStringGetTextDatum(tenant_id);
	values[1] = CStringGetTextDatum(user_id);
	values[2] = CStringGetTextDatum(name);
	values[3] = CStringGetTextDatum(prefix);
	values[6] = CStringGetTextDatum(environment);
	keystore_scopes_params(values, nulls, 7, scopes, scopes_null, metadata, metadata_null,
						   expires_at, expires_null);
}

/* Connects to SPI, raising on failure. */
void
keystore_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * Inserts a new key row and its audit event ('create', or 'rotate' when
 * rotated_from is set) and returns its id (and created_at).  Only the hash
 * is stored; the caller keeps the key.  limits (NULL: none) gives the rate
 * columns and, when limits->credits, the key's row of apikey.key_credits,
 * inserted by the same statement.
 */
int64
keystore_insert(const char *tenant_id, const char *user_id, const char *name,
				const char *prefix, const char *suffix, const uint8 *hash,
				const char *environment, Datum scopes, bool scopes_null,
				Datum metadata, bool metadata_null, TimestampTz expires_at,
				bool expires_null, int64 rotated_from, const char *created_by,
				const char *hash_scheme, const KeyLimits *limits,
				TimestampTz *created_at)
{
	Datum		values[19];
	char		nulls[19];
	bytea	   *hashval;
	int			ret;
	bool		isnull;
	int64		id;

	keystore_ensure();
	if (cache.att.hash_scheme == 0 || cache.att.created_by == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"apikey\" must be updated before keys can be created"),
				 errhint("Run ALTER EXTENSION apikey UPDATE.")));
	keystore_spi_connect();
	if (insert_plan == NULL)
	{
		Oid			argtypes[19] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID,
			TEXTOID, TEXTARRAYOID, JSONBOID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID,
			INT4OID, INTERVALOID, BOOLOID, INT8OID, INT8OID, INTERVALOID};

		insert_plan = keystore_prepare(
									   "WITH k AS (INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, key_hash,"
									   " environment, scopes, metadata, expires_at, rotated_from, created_by, hash_scheme,"
									   " rate_limit, rate_window)"
									   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
									   " RETURNING id, tenant_id, created_at),"
									   " e AS (INSERT INTO apikey.events (key_id, tenant_id, action, actor, reason)"
									   " SELECT k.id, k.tenant_id,"
									   " CASE WHEN $11 IS NULL THEN 'create' ELSE 'rotate' END, $12,"
									   " CASE WHEN $11 IS NULL THEN NULL"
									   " ELSE pg_catalog.format('rotated from key %s', $11) END FROM k),"
									   " c AS (INSERT INTO apikey.key_credits (key_id, remaining, refill_amount, refill_interval)"
									   " SELECT k.id, $17, $18, $19 FROM k WHERE $16)"
									   " SELECT id, created_at FROM k",
									   19, argtypes);
	}

	hashval = keystore_hash_bytea(hash);

	keystore_key_params(values, nulls, lengthof(values), tenant_id, user_id, name, prefix,
						environment, scopes, scopes_null, metadata, metadata_null,
						expires_at, expires_null);
	values[4] = CStringGetTextDatum(suffix);
	values[5] = PointerGetDatum(hashval);
	values[10] = Int64GetDatum(rotated_from);
	nulls[10] = rotated_from > 0 ? ' ' : 'n';
	values[11] = created_by ? CStringGetTextDatum(created_by) : (Datum) 0;
	nulls[11] = created_by ? ' ' : 'n';
	values[12] = CStringGetTextDatum(hash_scheme);
	/* the rate limit (both or neither) and the credits row */
	values[13] = Int32GetDatum(limits ? limits->rate_limit : 0);
	nulls[13] = (limits == NULL || limits->rate_limit_null) ? 'n' : ' ';
	values[14] = limits ? IntervalPGetDatum(&limits->rate_window) : (Datum) 0;
	nulls[14] = (limits == NULL || limits->rate_window_null) ? 'n' : ' ';
	values[15] = BoolGetDatum(limits != NULL && limits->credits);
	values[16] = Int64GetDatum(limits ? limits->remaining : 0);
	nulls[16] = (limits == NULL || limits->remaining_null) ? 'n' : ' ';
	values[17] = Int64GetDatum(limits ? limits->refill_amount : 0);
	nulls[17] = (limits == NULL || limits->refill_amount_null) ? 'n' : ' ';
	values[18] = limits ? IntervalPGetDatum(&limits->refill_interval) : (Datum) 0;
	nulls[18] = (limits == NULL || limits->refill_interval_null) ? 'n' : ' ';

	ret = SPI_execute_plan(insert_plan, values, nulls, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not insert API key: SPI result %d", ret);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*created_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	return id;
}

/*
 * Locks the row of key id (FOR UPDATE) and reads its latest committed
 * version; false when there is no such key.  Management functions decide on
 * this version, so concurrent changes of one key serialize cleanly.
 */
bool
keystore_lock_by_id(int64 id, KeyRow *row)
{
	static SPIPlanPtr lock_plan = NULL;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		found;
	int			ret;
	MemoryContext callercxt = CurrentMemoryContext;

	keystore_ensure();
	keystore_spi_connect();
	if (lock_plan == NULL)
		lock_plan = keystore_prepare("SELECT * FROM apikey.keys WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
									 1, argtypes);
	values[0] = Int64GetDatum(id);
	ret = SPI_execute_plan(lock_plan, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock API key: SPI result %d", ret);
	found = (SPI_processed == 1);
	if (found)
	{
		KeyAttnums	att;
		MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

		/* the row must outlive SPI_finish(): build it in the caller's context */
		keystore_map_attnums(SPI_tuptable->tupdesc, &att);
		keystore_fill_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &att, row);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	return found;
}

/* True when a newer key was rotated from key id. */
bool
keystore_has_successor(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		found;

	keystore_ensure();
	keystore_spi_connect();
	if (plan == NULL)
		plan = keystore_prepare("SELECT 1 FROM apikey.keys WHERE rotated_from OPERATOR(pg_catalog.=) $1",
								1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read API key successors");
	found = (SPI_processed > 0);
	SPI_finish();
	return found;
}

/*
 * Calls emit for every key of a tenant, oldest first.  last_used_at is the
 * newer of the key's own and the one apikey.key_usage holds (1.1.1).
 */
void
keystore_list(const char *tenant_id, void (*emit) (KeyRow *row, void *arg), void *arg)
{
	static SPIPlanPtr plan = NULL;
	static SPIPlanPtr usage_plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	KeyAttnums	att;
	uint64		i;
	bool		has_usage;
	int			usage_att = 0;

	keystore_ensure();
	has_usage = OidIsValid(get_relname_relid("key_usage", get_rel_namespace(cache.keys_relid)));
	keystore_spi_connect();
	if (has_usage && usage_plan == NULL)
		usage_plan = keystore_prepare("SELECT k.*, u.last_used_at AS usage_last_used_at"
									  " FROM apikey.keys k LEFT JOIN apikey.key_usage u"
									  " ON u.key_id OPERATOR(pg_catalog.=) k.id"
									  " WHERE k.tenant_id OPERATOR(pg_catalog.=) $1 ORDER BY k.id",
									  1, argtypes);
	if (!has_usage && plan == NULL)
		plan = keystore_prepare("SELECT * FROM apikey.keys WHERE tenant_id OPERATOR(pg_catalog.=) $1"
								" ORDER BY id",
								1, argtypes);
	values[0] = CStringGetTextDatum(tenant_id);
	if (SPI_execute_plan(has_usage ? usage_plan : plan, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list API keys");
	keystore_map_attnums(SPI_tuptable->tupdesc, &att);
	if (has_usage)
		usage_att = SPI_fnumber(SPI_tuptable->tupdesc, "usage_last_used_at");
	for (i = 0; i < SPI_processed; i++)
	{
		KeyRow		row;
		TimestampTz used_at;

		keystore_fill_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &att, &row);
		if (usage_att > 0 &&
			keystore_ts(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, usage_att, &used_at) &&
			(row.last_used_null || used_at > row.last_used_at))
		{
			row.last_used_at = used_at;
			row.last_used_null = false;
		}
		emit(&row, arg);
	}
	SPI_finish();
}

/* Runs one of the single-row UPDATE plans; returns the number of rows changed. */
static uint64
keystore_update(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
				Datum *values, const char *nulls)
{
	uint64		processed;

	keystore_ensure();
	keystore_spi_connect();
	if (*plan == NULL)
		*plan = keystore_prepare(sql, nargs, argtypes);
	if (SPI_execute_plan(*plan, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update API key");
	processed = SPI_processed;
	SPI_finish();
	return processed;
}

/*
 * keystore_update() of a plan whose parameters are a key id ($1) and one
 * value ($2) of type valtype (NULL when isnull).
 */
static uint64
keystore_update_id(SPIPlanPtr *plan, const char *sql, int64 id,
				   Oid valtype, Datum value, bool isnull)
{
	Oid			argtypes[2] = {INT8OID, valtype};
	Datum		values[2] = {Int64GetDatum(id), value};
	char		nulls[2] = {' ', isnull ? 'n' : ' '};

	return keystore_update(plan, sql, 2, argtypes, values, nulls);
}

/* Revokes key id now; false when it was already revoked. */
bool
keystore_revoke(int64 id, const char *reason)
{
	return keystore_update_id(&revoke_plan,
							  "UPDATE apikey.keys SET revoked_at = pg_catalog.now(), revoke_reason = $2"
							  " WHERE id OPERATOR(pg_catalog.=) $1 AND revoked_at IS NULL",
							  id, TEXTOID,
							  reason ? CStringGetTextDatum(reason) : (Datum) 0, reason == NULL) == 1;
}

/* Enables or disables key id (never a revoked one); false when nothing changed. */
bool
keystore_set_enabled(int64 id, bool enabled)
{
	return keystore_update_id(&enable_plan,
							  "UPDATE apikey.keys SET enabled = $2"
							  " WHERE id OPERATOR(pg_catalog.=) $1 AND revoked_at IS NULL"
							  " AND enabled OPERATOR(pg_catalog.<>) $2",
							  id, BOOLOID, BoolGetDatum(enabled), false) == 1;
}

/* Sets key id's expiry to the earlier of its own and expires_at. */
void
keystore_cap_expiry(int64 id, TimestampTz expires_at)
{
	(void) keystore_update_id(&expiry_plan,
							  "UPDATE apikey.keys SET expires_at = LEAST(expires_at, $2)"
							  " WHERE id OPERATOR(pg_catalog.=) $1",
							  id, TIMESTAMPTZOID, TimestampTzGetDatum(expires_at), false);
}

/*
 * Moves last_used_at of key id forward to used_at, skipping a row another
 * transaction has locked: tracking never makes a verification wait.
 */
void
keystore_touch(int64 id, TimestampTz used_at)
{
	(void) keystore_update_id(&touch_plan,
							  "UPDATE apikey.keys SET last_used_at = $2"
							  " WHERE id OPERATOR(pg_catalog.=) (SELECT k.id FROM apikey.keys k"
							  " WHERE k.id OPERATOR(pg_catalog.=) $1"
							  " AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<) $2)"
							  " FOR UPDATE SKIP LOCKED)",
							  id, TIMESTAMPTZOID, TimestampTzGetDatum(used_at), false);
}
