/*-------------------------------------------------------------------------
 * verify_cache.c
 *	  A backend's memory of keys it has verified, so that a key seen before
 *	  is answered without reading apikey.keys, the user table, or the role
 *	  and permission tables again.
 *
 * The invalidation protocol.  Every change that could alter an answer sends
 * a relcache invalidation of apikey.user_binding, which PostgreSQL delivers
 * to every backend of the database:
 *	- apikey.keys: a statement trigger on UPDATE of the state columns,
 *	  DELETE and TRUNCATE (new keys were never cached; unknown keys are not
 *	  cached at all);
 *	- the bound user, role and permission tables: statement triggers that
 *	  apikey_bind_users/roles/permissions install on them (marked DEPENDS ON
 *	  EXTENSION, so DROP EXTENSION removes them);
 *	- the bindings themselves (their own triggers), and any DDL on these
 *	  tables (PostgreSQL's own invalidations).
 * verify_cache_lookup() calls AcceptInvalidationMessages() first, so a
 * change whose commit was acknowledged to its client before a verification
 * began is always seen.
 *
 * A miss reads the tables, which can take a while (a lock held by a
 * migration on the user table, say), and a change may commit meanwhile.
 * PostgreSQL makes a commit visible to new snapshots before it sends its
 * invalidations, so what was read may predate a change whose invalidation
 * this backend has already processed, or will process later.  Every request
 * to empty the cache bumps a generation counter; verify_cache_generation()
 * is read before the tables are, and verify_cache_store() first processes
 * pending invalidations and stores nothing if the counter moved.  An
 * invalidation processed before the store makes it a no-op; one processed
 * after empties the cache, the stored entry with it.
 *
 * Update triggers compare the stored old and new rows (not the columns an
 * UPDATE statement names), so a change made by a BEFORE trigger of the
 * application invalidates too.  Expiry depends on the clock, not on data, so it is
 * re-checked on every hit; the cache stores the row and the user as read,
 * never a status.  Entries live in their own memory context, dropped as a
 * whole on invalidation or when apikey.verify_cache_size is reached.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "apikey.h"

int			apikey_verify_cache_size = 16384;

typedef struct CacheEntry
{
	uint8		hash[HASHING_SHA256_LEN];	/* SHA-256 of the key: hash key */
	KeyRow		row;
	UserInfo	user;
	ArrayType  *permissions;	/* NULL when no permissions are bound */
} CacheEntry;

static HTAB *entries = NULL;
static MemoryContext cache_cxt = NULL;
static Oid	signal_relid = InvalidOid;	/* apikey.user_binding */
static bool callback_registered = false;
static bool reset_pending = false;
static uint64 generation = 0;	/* bumped by every request to empty the cache */

/*
 * Asks for every entry to be dropped.  Invalidation callbacks run at any
 * lock acquisition, possibly while a verification still uses the copy of an
 * entry it found: the memory is released only at the next lookup or store.
 */
void
verify_cache_reset(void)
{
	reset_pending = true;
	generation++;
}

/*
 * The generation to pass to verify_cache_store(), read after the lookup
 * (which processed pending invalidations) and before the tables are read.
 */
uint64
verify_cache_generation(void)
{
	return generation;
}

/* Drops every entry now, if asked to. */
static void
verify_cache_apply_reset(void)
{
	if (!reset_pending)
		return;
	reset_pending = false;
	entries = NULL;
	signal_relid = InvalidOid;
	if (cache_cxt != NULL)
		MemoryContextReset(cache_cxt);
}

/*
 * Relcache callback: any invalidation of the signal relation (or all)
 * empties the cache, and every relcache invalidation at all moves the
 * generation, so a store after it is skipped (conservative: it costs one
 * store, never a stale answer).
 */
static void
verify_cache_callback(Datum arg, Oid relid)
{
	generation++;
	if (entries != NULL && (relid == InvalidOid || relid == signal_relid))
		verify_cache_reset();
}

/* Registers the callback once per backend. */
static inline void
verify_cache_register(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(verify_cache_callback, (Datum) 0);
		callback_registered = true;
	}
}

/* Creates the table (and resolves the signal relation) when needed; false if the extension is missing. */
static bool
verify_cache_ensure(void)
{
	HASHCTL		ctl;
	Oid			nsp;

	if (entries != NULL)
		return true;
	if (apikey_verify_cache_size <= 0)
		return false;
	verify_cache_register();
	nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	signal_relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_BINDING_TABLE, nsp) : InvalidOid;
	if (!OidIsValid(signal_relid))
		return false;
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "apikey verify cache",
										  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = HASHING_SHA256_LEN;
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hcxt = cache_cxt;
	entries = hash_create("apikey verify cache", 256, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return true;
}

/*
 * Looks a key up by the SHA-256 of the key; on a hit fills row, user and
 * permissions with copies valid in the current memory context.
 */
bool
verify_cache_lookup(const uint8 *hash, KeyRow *row, UserInfo *user, ArrayType **permissions)
{
	CacheEntry *e;

	/* see every change committed before now (the protocol above) */
	verify_cache_register();
	AcceptInvalidationMessages();
	verify_cache_apply_reset();
	/* apikey.verify_cache_size = 0 turns the cache off, entries kept before included */
	if (entries == NULL || apikey_verify_cache_size <= 0)
		return false;
	e = hash_search(entries, hash, HASH_FIND, NULL);
	if (e == NULL)
		return false;
	*row = e->row;
	*user = e->user;
	*permissions = e->permissions;
	return true;
}

/* Copies a C string into the cache context. */
static char *
cache_strdup(const char *s)
{
	return s ? MemoryContextStrdup(cache_cxt, s) : NULL;
}

/* Copies a varlena datum into the cache context. */
static Datum
cache_datum(Datum d, bool isnull)
{
	MemoryContext old;
	Datum		copy;

	if (isnull)
		return (Datum) 0;
	old = MemoryContextSwitchTo(cache_cxt);
	copy = datumCopy(d, false, -1);
	MemoryContextSwitchTo(old);
	return copy;
}

/*
 * Remembers what verification read for a key (row and user as read, not a
 * status), unless an invalidation arrived since gen was read (the protocol
 * above).
 */
void
verify_cache_store(uint64 gen, const uint8 *hash, const KeyRow *row, const UserInfo *user,
				   ArrayType *permissions)
{
	CacheEntry *e;
	bool		found;

	AcceptInvalidationMessages();
	if (gen != generation)
		return;
	verify_cache_apply_reset();
	if (!verify_cache_ensure())
		return;
	if (hash_get_num_entries(entries) >= apikey_verify_cache_size)
	{
		verify_cache_reset();
		verify_cache_apply_reset();
		if (!verify_cache_ensure())
			return;
	}
	e = hash_search(entries, hash, HASH_ENTER, &found);
	if (found)
		return;
	e->row = *row;
	e->row.tenant_id = cache_strdup(row->tenant_id);
	e->row.user_id = cache_strdup(row->user_id);
	e->row.name = cache_strdup(row->name);
	e->row.prefix = cache_strdup(row->prefix);
	e->row.suffix = cache_strdup(row->suffix);
	e->row.environment = cache_strdup(row->environment);
	e->row.hash_scheme = cache_strdup(row->hash_scheme);
	e->row.scopes = cache_datum(row->scopes, row->scopes_null);
	e->row.metadata = cache_datum(row->metadata, row->metadata_null);
	e->user = *user;
	e->user.tenant_id = cache_strdup(user->tenant_id);
	e->user.role = cache_strdup(user->role);
	e->permissions = permissions
		? (ArrayType *) DatumGetPointer(cache_datum(PointerGetDatum(permissions), false))
		: NULL;
}

/* Notes in the cached row that last_used_at was just written. */
void
verify_cache_touch(const uint8 *hash, TimestampTz used_at)
{
	CacheEntry *e;

	if (entries == NULL || reset_pending)
		return;
	e = hash_search(entries, hash, HASH_FIND, NULL);
	if (e != NULL)
	{
		e->row.last_used_at = used_at;
		e->row.last_used_null = false;
	}
}

/*
 * True when an UPDATE changed one of the columns named in the trigger's
 * arguments, comparing the old and new rows as stored (after any BEFORE
 * trigger).  A named column that no longer exists counts as changed.
 */
static bool
verify_cache_row_changed(TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			i;

	for (i = 0; i < trigger->tgnargs; i++)
	{
		AttrNumber	att = InvalidAttrNumber;
		Form_pg_attribute a = NULL;
		Datum		oldv,
					newv;
		bool		oldnull,
					newnull;
		int			j;

		for (j = 0; j < desc->natts; j++)
		{
			a = TupleDescAttr(desc, j);
			if (!a->attisdropped && strcmp(NameStr(a->attname), trigger->tgargs[i]) == 0)
			{
				att = a->attnum;
				break;
			}
		}
		if (att == InvalidAttrNumber)
			return true;
		oldv = heap_getattr(trigdata->tg_trigtuple, att, desc, &oldnull);
		newv = heap_getattr(trigdata->tg_newtuple, att, desc, &newnull);
		if (oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldv, newv, a->attbyval, a->attlen)))
			return true;
	}
	return false;
}

/*
 * Trigger function apikey.cache_invalidate(): every backend of this
 * database forgets the keys it verified, at commit (or at once, for this
 * transaction's own later commands).  As a row-level UPDATE trigger with
 * column names as arguments, only when one of those columns changed.
 */
PG_FUNCTION_INFO_V1(apikey_cache_invalidate);
Datum
apikey_cache_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			nsp;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "apikey_cache_invalidate: not called by trigger manager");
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
		TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		trigdata->tg_trigger->tgnargs > 0 &&
		!verify_cache_row_changed(trigdata))
		return PointerGetDatum(NULL);

	nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_BINDING_TABLE, nsp) : InvalidOid;
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}
