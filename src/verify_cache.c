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
#include "verify_cache.h"

int			apikey_verify_cache_size = 16384;

/*
 * What verification read for a key, compactly, in one allocation: the
 * row's and the user's fixed fields, then the varlenas (MAXALIGNed) and the
 * strings they point to, as offsets from the start of the entry (0: NULL).
 * A fresh backend pays a page fault for every page of cache it fills, so an
 * entry is kept small: no KeyRow with its unused fields, no chunk per string
 * and no power-of-2 rounding (the entries are carved from the cache's own
 * blocks, see cache_alloc()).
 */
enum
{
	CS_TENANT, CS_USER, CS_NAME, CS_PREFIX, CS_SUFFIX, CS_ENVIRONMENT, CS_SCHEME,
	CS_USER_TENANT, CS_ROLE, CS_NSTR
};
enum
{
	CV_SCOPES, CV_METADATA, CV_PERMISSIONS, CV_NVAR
};

typedef struct CachedVerify
{
	int64		id;
	TimestampTz created_at;
	TimestampTz expires_at;
	TimestampTz last_used_at;
	TimestampTz revoked_at;
	bool		expires_null;
	bool		last_used_null;
	bool		enabled;
	bool		revoked;
	bool		user_found;
	bool		user_active;
	uint32		str[CS_NSTR];	/* offsets of the strings, 0 when NULL */
	uint32		var[CV_NVAR];	/* offsets of the varlenas, 0 when NULL */
} CachedVerify;

#define CV_DATA_OFFSET	MAXALIGN(sizeof(CachedVerify))
#define CV_PTR(v, off)	((off) != 0 ? (char *) (v) + (off) : NULL)

typedef struct CacheEntry
{
	uint8		hash[HASHING_SHA256_LEN];	/* SHA-256 of the key: hash key */
	CachedVerify *v;
} CacheEntry;

/* Entries are carved from blocks of this size allocated in cache_cxt. */
#define CACHE_BLOCK_SIZE	(64 * 1024)

static HTAB *entries = NULL;
static MemoryContext cache_cxt = NULL;
static Oid	signal_relid = InvalidOid;	/* apikey.user_binding */
static bool callback_registered = false;
static bool reset_pending = false;
static uint64 generation = 0;	/* bumped by every request to empty the cache */
static char *block_next = NULL; /* free space of the current block */
static char *block_end = NULL;

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
	block_next = block_end = NULL;
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

/* Fills row, user and permissions from an entry (pointing into it). */
static void
cache_unpack(const CachedVerify *v, KeyRow *row, UserInfo *user, ArrayType **permissions)
{
	memset(row, 0, sizeof(*row));
	row->id = v->id;
	row->tenant_id = CV_PTR(v, v->str[CS_TENANT]);
	row->user_id = CV_PTR(v, v->str[CS_USER]);
	row->name = CV_PTR(v, v->str[CS_NAME]);
	row->prefix = CV_PTR(v, v->str[CS_PREFIX]);
	row->suffix = CV_PTR(v, v->str[CS_SUFFIX]);
	row->environment = CV_PTR(v, v->str[CS_ENVIRONMENT]);
	row->hash_scheme = CV_PTR(v, v->str[CS_SCHEME]);
	row->scopes = PointerGetDatum(CV_PTR(v, v->var[CV_SCOPES]));
	row->scopes_null = v->var[CV_SCOPES] == 0;
	row->metadata = PointerGetDatum(CV_PTR(v, v->var[CV_METADATA]));
	row->metadata_null = v->var[CV_METADATA] == 0;
	row->created_at = v->created_at;
	row->expires_at = v->expires_at;
	row->expires_null = v->expires_null;
	row->last_used_at = v->last_used_at;
	row->last_used_null = v->last_used_null;
	row->enabled = v->enabled;
	row->revoked = v->revoked;
	row->revoked_at = v->revoked_at;
	memset(user, 0, sizeof(*user));
	user->found = v->user_found;
	user->active = v->user_active;
	user->tenant_id = CV_PTR(v, v->str[CS_USER_TENANT]);
	user->role = CV_PTR(v, v->str[CS_ROLE]);
	*permissions = (ArrayType *) CV_PTR(v, v->var[CV_PERMISSIONS]);
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
	cache_unpack(e->v, row, user, permissions);
	return true;
}

/*
 * size bytes (MAXALIGNed) in cache_cxt, carved from the current block (a
 * large request gets its own chunk); NULL when out of memory.  Freed only
 * as a whole, by resetting cache_cxt.
 */
static void *
cache_alloc(Size size)
{
	char	   *p;

	size = MAXALIGN(size);
	if (size > CACHE_BLOCK_SIZE / 8)
		return MemoryContextAllocExtended(cache_cxt, size, MCXT_ALLOC_NO_OOM);
	if (block_next == NULL || (Size) (block_end - block_next) < size)
	{
		p = MemoryContextAllocExtended(cache_cxt, CACHE_BLOCK_SIZE, MCXT_ALLOC_NO_OOM);
		if (p == NULL)
			return NULL;
		block_next = p;
		block_end = p + CACHE_BLOCK_SIZE;
	}
	p = block_next;
	block_next += size;
	return p;
}

/* Bytes a string takes in an entry. */
static inline Size
pack_str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Copies a string into entry v at *off; its offset, 0 for NULL. */
static uint32
pack_str(CachedVerify *v, Size *off, const char *s)
{
	Size		len;
	uint32		at = (uint32) *off;

	if (s == NULL)
		return 0;
	len = strlen(s) + 1;
	memcpy((char *) v + at, s, len);
	*off += len;
	return at;
}

/* Bytes a flat varlena takes in an entry (MAXALIGNed); 0 when null. */
static inline Size
pack_varlena_size(Datum d, bool isnull)
{
	return isnull ? 0 : MAXALIGN(VARSIZE_ANY(DatumGetPointer(d)));
}

/* Copies a flat varlena into entry v at *off (MAXALIGNed); its offset, 0 for null. */
static uint32
pack_varlena(CachedVerify *v, Size *off, Datum d, bool isnull)
{
	Size		len;
	uint32		at = (uint32) *off;

	if (isnull)
		return 0;
	len = VARSIZE_ANY(DatumGetPointer(d));
	memcpy((char *) v + at, DatumGetPointer(d), len);
	*off += MAXALIGN(len);
	return at;
}

/* True when a datum can be copied byte for byte (not an expanded or external pointer). */
static inline bool
pack_flat(Datum d, bool isnull)
{
	return isnull || !VARATT_IS_EXTERNAL(DatumGetPointer(d));
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
	CachedVerify *v;
	bool		found;
	Size		size;
	Size		off;

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
	/* varlenas come detoasted from the tables; anything else is not cached */
	if (!pack_flat(row->scopes, row->scopes_null) ||
		!pack_flat(row->metadata, row->metadata_null) ||
		!pack_flat(PointerGetDatum(permissions), permissions == NULL))
		return;
	e = hash_search(entries, hash, HASH_ENTER, &found);
	if (found)
		return;
	/* varlenas first (MAXALIGNed after the MAXALIGNed header), then strings */
	size = CV_DATA_OFFSET +
		pack_varlena_size(row->scopes, row->scopes_null) +
		pack_varlena_size(row->metadata, row->metadata_null) +
		pack_varlena_size(PointerGetDatum(permissions), permissions == NULL) +
		pack_str_size(row->tenant_id) + pack_str_size(row->user_id) +
		pack_str_size(row->name) + pack_str_size(row->prefix) +
		pack_str_size(row->suffix) + pack_str_size(row->environment) +
		pack_str_size(row->hash_scheme) +
		pack_str_size(user->tenant_id) + pack_str_size(user->role);
	v = size <= PG_UINT32_MAX ? cache_alloc(size) : NULL;
	if (v == NULL)
	{
		(void) hash_search(entries, hash, HASH_REMOVE, NULL);
		return;
	}
	v->id = row->id;
	v->created_at = row->created_at;
	v->expires_at = row->expires_at;
	v->expires_null = row->expires_null;
	v->last_used_at = row->last_used_at;
	v->last_used_null = row->last_used_null;
	v->enabled = row->enabled;
	v->revoked = row->revoked;
	v->revoked_at = row->revoked_at;
	v->user_found = user->found;
	v->user_active = user->active;
	off = CV_DATA_OFFSET;
	v->var[CV_SCOPES] = pack_varlena(v, &off, row->scopes, row->scopes_null);
	v->var[CV_METADATA] = pack_varlena(v, &off, row->metadata, row->metadata_null);
	v->var[CV_PERMISSIONS] = pack_varlena(v, &off, PointerGetDatum(permissions), permissions == NULL);
	v->str[CS_TENANT] = pack_str(v, &off, row->tenant_id);
	v->str[CS_USER] = pack_str(v, &off, row->user_id);
	v->str[CS_NAME] = pack_str(v, &off, row->name);
	v->str[CS_PREFIX] = pack_str(v, &off, row->prefix);
	v->str[CS_SUFFIX] = pack_str(v, &off, row->suffix);
	v->str[CS_ENVIRONMENT] = pack_str(v, &off, row->environment);
	v->str[CS_SCHEME] = pack_str(v, &off, row->hash_scheme);
	v->str[CS_USER_TENANT] = pack_str(v, &off, user->tenant_id);
	v->str[CS_ROLE] = pack_str(v, &off, user->role);
	Assert(off <= size);
	e->v = v;
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
		e->v->last_used_at = used_at;
		e->v->last_used_null = false;
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
