/*-------------------------------------------------------------------------
 * import.c
 *	  Keys minted elsewhere: apikey_import (a SHA-256 or a bcrypt hash of a
 *	  key, stored with its own INSERT and an 'import' event), the bcrypt
 *	  path of verification, and the re-store of a bcrypt import under the
 *	  scheme of a new key on its first valid verification ('rehash').
 *
 * A bcrypt import is found by its lookup prefix (the first lookup_length
 * characters of the key, apikey.keys_bcrypt_prefix_idx) and checked with
 * pgcrypto's crypt(), called through fmgr, and only if it is pgcrypto's own
 * C function owned by a superuser.  The verification side never raises: it
 * runs in subtransactions whose errors are swallowed (a cancel excepted).
 * Nothing here puts a key or a hash into a message.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "actor.h"
#include "import.h"
#include "keystore.h"
#include "manage.h"
#include "subxact.h"
#include "verify.h"

#define IMPORT_BCRYPT_INDEX			"keys_bcrypt_prefix_idx"
#define IMPORT_BCRYPT_LEN			60	/* $2a$NN$ + 22 characters of salt + 31 of hash */
#define IMPORT_RESTORE_LOCK_TIMEOUT	"100ms"
/*
 * The highest bcrypt cost accepted (about 1 s per check at 14 on current
 * hardware, doubling per step): every wrong key of a lookup prefix pays
 * one check per import sharing it, and pgcrypto at cost 31 runs for days.
 */
#define IMPORT_BCRYPT_COST_MAX		14
#define IMPORT_BCRYPT_KEY_MAX		72	/* bcrypt reads no byte of a key past the 72nd */

/* A bcrypt import that may be the key: its id and its hash */
typedef struct BcryptCandidate
{
	int64		id;
	char		hash[IMPORT_BCRYPT_LEN + 1];
} BcryptCandidate;

/* True when s (len bytes) has the shape of a bcrypt hash: $2a$, $2b$ or $2y$, cost 04-14, 53 characters. */
static bool
import_bcrypt_shape_ok(const char *s, size_t len)
{
	int			cost;
	size_t		i;

	if (len != IMPORT_BCRYPT_LEN || s[0] != '$' || s[1] != '2' ||
		(s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' ||
		!isdigit((unsigned char) s[4]) || !isdigit((unsigned char) s[5]) || s[6] != '$')
		return false;
	cost = (s[4] - '0') * 10 + (s[5] - '0');
	if (cost < 4 || cost > IMPORT_BCRYPT_COST_MAX)
		return false;
	for (i = 7; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!(isalnum(c) && c < 0x80) && c != '.' && c != '/')
			return false;
	}
	return true;
}

/*
 * pgcrypto's crypt(text, text), found in the schema of the installed
 * pgcrypto extension; InvalidOid unless it is a C function, a member of
 * pgcrypto, owned by a superuser (the owner of a table or schema must not be
 * able to plant a crypt() that verification would trust).
 */
static Oid
import_crypt_function(void)
{
	Oid			extoid = get_extension_oid("pgcrypto", true);
	Oid			extnsp = InvalidOid;
	Oid			fn;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		ok;
	char	   *nspname;

	if (!OidIsValid(extoid))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		extnsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	nspname = OidIsValid(extnsp) ? get_namespace_name(extnsp) : NULL;
	if (nspname == NULL)
		return InvalidOid;

	fn = LookupFuncName(list_make2(makeString(nspname), makeString("crypt")), 2, argtypes, true);
	if (!OidIsValid(fn))
		return InvalidOid;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	ok = ((Form_pg_proc) GETSTRUCT(tup))->prolang == ClanguageId &&
		superuser_arg(((Form_pg_proc) GETSTRUCT(tup))->proowner);
	ReleaseSysCache(tup);
	if (!ok || getExtensionOfObject(ProcedureRelationId, fn) != extoid)
		return InvalidOid;
	return fn;
}

/*
 * True when crypt(key, hash) = hash.  $2b$ and $2y$ are computed as $2a$:
 * they differ only for 8-bit characters, which no registered charset has.
 * Compared in constant time.
 */
static bool
import_bcrypt_matches(FmgrInfo *crypt, const char *key, size_t len, const char *hash)
{
	char		setting[IMPORT_BCRYPT_LEN + 1];
	text	   *result;
	const char *r;
	size_t		i;
	unsigned char diff = 0;

	memcpy(setting, hash, sizeof(setting));
	setting[2] = 'a';
	result = DatumGetTextPP(FunctionCall2Coll(crypt, InvalidOid,
											  PointerGetDatum(cstring_to_text_with_len(key, len)),
											  CStringGetTextDatum(setting)));
	if (VARSIZE_ANY_EXHDR(result) != IMPORT_BCRYPT_LEN)
		return false;
	r = VARDATA_ANY(result);
	for (i = 4; i < IMPORT_BCRYPT_LEN; i++)
		diff |= (unsigned char) (r[i] ^ hash[i]);
	explicit_bzero(VARDATA_ANY(result), VARSIZE_ANY_EXHDR(result));
	return diff == 0;
}

/*
 * Reads the bcrypt imports whose lookup prefix is lp, with *snap (or the
 * latest snapshot, taken after the lock, left in *snap).  Returns how many.
 */
static int
import_bcrypt_candidates(const char *lp, Snapshot *snap, BcryptCandidate **out)
{
	Oid			nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_KEYS_TABLE, nsp) : InvalidOid;
	Oid			indexid = OidIsValid(nsp) ? get_relname_relid(IMPORT_BCRYPT_INDEX, nsp) : InvalidOid;
	AttrNumber	a_id,
				a_scheme,
				a_bcrypt;
	Relation	rel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skey;
	int			n = 0;
	int			cap = 4;

	*out = NULL;
	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return 0;
	a_id = get_attnum(relid, "id");
	a_scheme = get_attnum(relid, "hash_scheme");
	a_bcrypt = get_attnum(relid, "bcrypt_hash");
	if (a_id == InvalidAttrNumber || a_scheme == InvalidAttrNumber || a_bcrypt == InvalidAttrNumber)
		return 0;

	rel = table_open(relid, AccessShareLock);
	irel = index_open(indexid, AccessShareLock);
	if (*snap == NULL)
		*snap = GetLatestSnapshot();
	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   irel->rd_indcollation[0], F_TEXTEQ, CStringGetTextDatum(lp));
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsBufferHeapTuple);
	scan = apikey_index_beginscan(rel, irel, *snap, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	*out = palloc(cap * sizeof(BcryptCandidate));
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		scheme = slot_getattr(slot, a_scheme, &isnull);
		Datum		bcrypt;
		text	   *t;

		/* an index entry of an older version: the row may be re-stored since */
		if (isnull || strcmp(TextDatumGetCString(scheme), "bcrypt") != 0)
			continue;
		bcrypt = slot_getattr(slot, a_bcrypt, &isnull);
		if (isnull)
			continue;
		t = DatumGetTextPP(bcrypt);
		if (!import_bcrypt_shape_ok(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)))
			continue;
		if (n == cap)
		{
			cap *= 2;
			*out = repalloc(*out, cap * sizeof(BcryptCandidate));
		}
		(*out)[n].id = DatumGetInt64(slot_getattr(slot, a_id, &isnull));
		memcpy((*out)[n].hash, VARDATA_ANY(t), IMPORT_BCRYPT_LEN);
		(*out)[n].hash[IMPORT_BCRYPT_LEN] = '\0';
		n++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	return n;
}

/* The arguments and result of import_lookup_bcrypt's subtransaction */
typedef struct BcryptLookup
{
	const char *key;
	size_t		len;
	const char *lp;
	Snapshot   *snap;
	KeyRow	   *row;
	bool		found;
} BcryptLookup;

static void
import_lookup_bcrypt_sub(void *arg)
{
	BcryptLookup *l = (BcryptLookup *) arg;
	BcryptCandidate *cand;
	int			n = import_bcrypt_candidates(l->lp, l->snap, &cand);
	Oid			fn = n > 0 ? import_crypt_function() : InvalidOid;
	int			i;

	if (OidIsValid(fn))
	{
		FmgrInfo	crypt;

		fmgr_info(fn, &crypt);
		for (i = 0; i < n && !l->found; i++)
		{
			if (import_bcrypt_matches(&crypt, l->key, l->len, cand[i].hash))
				l->found = keystore_lookup_by_id_snap(cand[i].id, l->snap, l->row);
		}
	}
}

/*
 * Finds the bcrypt import key is (see import.h).  Runs in a subtransaction:
 * any error (pgcrypto missing or refused, a hash pgcrypto rejects, out of
 * memory) means "no such key", never an error of verification.
 */
bool
import_lookup_bcrypt(const char *key, size_t len, int lookup_length, Snapshot *snap, KeyRow *row)
{
	BcryptLookup l;

	/*
	 * bcrypt ignores every byte past the 72nd: a longer key would match any
	 * key sharing its first 72 bytes (and be re-stored as that key).
	 */
	if (lookup_length <= 0 || (size_t) lookup_length > len || len > IMPORT_BCRYPT_KEY_MAX ||
		IsInParallelMode())
		return false;
	l.key = key;
	l.len = len;
	l.lp = pnstrdup(key, lookup_length);
	l.snap = snap;
	l.row = row;
	l.found = false;
	return subxact_run(import_lookup_bcrypt_sub, NULL, &l) && l.found;
}

/* The arguments of import_restore's subtransaction */
typedef struct ImportRestore
{
	int64		id;
	const char *scheme;
	uint8		hash[HASHING_SHA256_LEN];
} ImportRestore;

static void
import_restore_sub(void *arg)
{
	ImportRestore *r = (ImportRestore *) arg;
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {INT8OID, BYTEAOID, TEXTOID};
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	Datum		values[3];
	bytea	   *hashval;

	keystore_become_owner(&save_userid, &save_sec_context);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", IMPORT_RESTORE_LOCK_TIMEOUT,
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) keystore_connect_plan(&plan, "WITH l AS (SELECT k.id FROM apikey.keys k"
								 " WHERE k.id OPERATOR(pg_catalog.=) $1"
								 " AND k.hash_scheme OPERATOR(pg_catalog.=) 'bcrypt'"
								 " FOR UPDATE SKIP LOCKED),"
								 " u AS (UPDATE apikey.keys k SET key_hash = $2, hash_scheme = $3,"
								 " bcrypt_hash = NULL FROM l WHERE k.id OPERATOR(pg_catalog.=) l.id"
								 " RETURNING k.id, k.tenant_id),"
								 " e AS (INSERT INTO apikey.events (key_id, tenant_id, action, reason)"
								 " SELECT u.id, u.tenant_id, 'rehash',"
								 " pg_catalog.concat('bcrypt re-stored as ', $3) FROM u)"
								 " SELECT id FROM u",
								 3, argtypes);
	hashval = keystore_hash_bytea(r->hash);
	values[0] = Int64GetDatum(r->id);
	values[1] = PointerGetDatum(hashval);
	values[2] = CStringGetTextDatum(r->scheme);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not re-store an imported API key");
	SPI_finish();
	explicit_bzero(VARDATA(hashval), HASHING_SHA256_LEN);

	AtEOXact_GUC(true, save_nestlevel);
	keystore_restore_user(save_userid, save_sec_context);
}

/*
 * Re-stores bcrypt import id under the hash a new key would get, with a
 * 'rehash' event, as the owner of apikey.keys, in a subtransaction.  The
 * row is taken FOR UPDATE SKIP LOCKED: a row another transaction holds is
 * left for a later verification.  Skipped in a read-only transaction (so on
 * a standby), in a transaction with a transaction snapshot (the row may have
 * changed since), in parallel mode, and when the hash cannot be computed.
 * The row stays locked until the verifying transaction ends.
 */
void
import_restore(int64 id, const char *key, size_t len)
{
	ImportRestore r;

	if (RecoveryInProgress() || XactReadOnly || IsolationUsesXactSnapshot() || IsInParallelMode())
		return;
	r.scheme = verify_hash_for_new_key(key, len, r.hash);
	if (r.scheme == NULL)
		return;
	r.id = id;
	(void) subxact_run(import_restore_sub, NULL, &r);
	explicit_bzero(r.hash, sizeof(r.hash));
}

/* Raises 23505 for an imported key that is stored already (never showing its hash). */
static APIKEY_NORETURN void
import_duplicate(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("an API key with this hash is stored already"),
			 errdetail("Each key can be imported once.")));
}

/*
 * True when a bcrypt import with this lookup prefix and hash is stored,
 * whichever of $2a$, $2b$ and $2y$ spells it (verification computes all
 * three alike: a second row of the same key would outlive its revocation).
 */
static bool
import_bcrypt_stored(const char *prefix, const char *bcrypt)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		found;

	values[0] = CStringGetTextDatum(prefix);
	values[1] = CStringGetTextDatum(bcrypt);
	(void) keystore_connect_plan(&plan, "SELECT 1 FROM apikey.keys WHERE prefix OPERATOR(pg_catalog.=) $1"
								 " AND hash_scheme OPERATOR(pg_catalog.=) 'bcrypt'"
								 " AND pg_catalog.substr(bcrypt_hash, 4) OPERATOR(pg_catalog.=) pg_catalog.substr($2, 4)",
								 2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read API keys");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * Inserts an imported key and its 'import' event; returns its id.  A
 * unique violation (an import racing another of the same hash) is raised
 * again without the detail, which would show the hash.
 */
static int64
import_insert(const char *tenant_id, const char *user_id, const char *name, const char *prefix,
			  bytea *key_hash, const char *bcrypt, const char *environment,
			  Datum scopes, bool scopes_null, Datum metadata, bool metadata_null,
			  TimestampTz expires_at, bool expires_null, TimestampTz created_at, bool created_null)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[13] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TEXTOID,
		TEXTOID, TEXTARRAYOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	MemoryContext oldcontext = CurrentMemoryContext;
	Datum		values[13];
	char		nulls[13];
	int			ret = 0;
	bool		isnull;
	int64		id;
	const char *actor = actor_or_null();

	(void) keystore_connect_plan(&plan, "WITH k AS (INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix,"
								 " key_hash, bcrypt_hash, environment, scopes, metadata, expires_at,"
								 " created_by, hash_scheme, created_at)"
								 " VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, $11, $12,"
								 " COALESCE($13, pg_catalog.now()))"
								 " RETURNING id, tenant_id),"
								 " e AS (INSERT INTO apikey.events (key_id, tenant_id, action, actor, reason)"
								 " SELECT k.id, k.tenant_id, 'import', $11,"
								 " pg_catalog.concat('imported with a ', $12, ' hash') FROM k)"
								 " SELECT id FROM k",
								 13, argtypes);
	keystore_key_params(values, nulls, lengthof(values), tenant_id, user_id, name, prefix,
						environment, scopes, scopes_null, metadata, metadata_null,
						expires_at, expires_null);
	values[4] = PointerGetDatum(key_hash);
	nulls[4] = key_hash ? ' ' : 'n';
	values[5] = bcrypt ? CStringGetTextDatum(bcrypt) : (Datum) 0;
	nulls[5] = bcrypt ? ' ' : 'n';
	values[10] = actor ? CStringGetTextDatum(actor) : (Datum) 0;
	nulls[10] = actor ? ' ' : 'n';
	values[11] = CStringGetTextDatum(bcrypt ? "bcrypt" : "sha256");
	values[12] = TimestampTzGetDatum(created_at);
	nulls[12] = created_null ? 'n' : ' ';

	PG_TRY();
	{
		ret = SPI_execute_plan(plan, values, nulls, false, 1);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		import_duplicate();
	}
	PG_END_TRY();
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not import API key: SPI result %d", ret);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

/*
 * SQL function: apikey_import(tenant_id text, user_id text, name text,
 * key_hash bytea, bcrypt_hash text, prefix text, expires_at timestamptz,
 * environment text, scopes text[], metadata jsonb, created_at timestamptz)
 * returns bigint
 */
PG_FUNCTION_INFO_V1(apikey_import);
Datum
apikey_import(PG_FUNCTION_ARGS)
{
	char	   *tenant_id;
	char	   *user_id;
	char	   *name = manage_check_name(fcinfo, 2);
	bytea	   *key_hash = PG_ARGISNULL(3) ? NULL : PG_GETARG_BYTEA_PP(3);
	char	   *bcrypt = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *prefix;
	bool		expires_null = PG_ARGISNULL(6);
	TimestampTz expires_at = expires_null ? 0 : PG_GETARG_TIMESTAMPTZ(6);
	char	   *envname = manage_required_text(fcinfo, 7, "environment");
	bool		created_null = PG_ARGISNULL(10);
	TimestampTz created_at = created_null ? 0 : PG_GETARG_TIMESTAMPTZ(10);
	char	   *canon_tenant;
	char	   *canon_user;
	bytea	   *stored_hash = NULL;
	int			prefix_chars;
	int64		id;

	manage_require_writable("apikey_import()");
	tenant_id = manage_required_text(fcinfo, 0, "tenant_id");
	user_id = manage_required_text(fcinfo, 1, "user_id");

	if ((key_hash == NULL) == (bcrypt == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("exactly one of key_hash and bcrypt_hash must be given")));
	if (key_hash != NULL && VARSIZE_ANY_EXHDR(key_hash) != HASHING_SHA256_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_hash must be the SHA-256 of the key, 32 bytes"),
				 errdetail("The value given has %d bytes.", (int) VARSIZE_ANY_EXHDR(key_hash))));
	if (bcrypt != NULL && !import_bcrypt_shape_ok(bcrypt, strlen(bcrypt)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bcrypt_hash is not a bcrypt hash"),
				 errhint("A bcrypt hash is $2a$, $2b$ or $2y$, a cost from 04 to 14, $ and 53 characters of ./A-Za-z0-9.")));

	prefix = manage_required_text(fcinfo, 5, "prefix");
	prefix_chars = pg_mbstrlen(prefix);
	if (prefix_chars < 1 || prefix_chars > IMPORT_PREFIX_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prefix must be 1 to %d characters long", IMPORT_PREFIX_MAX)));
	if (bcrypt != NULL && !keyformats_lookup_prefix_ok(prefix, strlen(prefix)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prefix of a bcrypt import must be the lookup prefix of a registered key format"),
				 errdetail("Its length must be the lookup_length of a format whose prefix it starts with."),
				 errhint("Register the format with apikey_register_format(..., lookup_length => ...).")));

	(void) manage_check_environment(envname);
	manage_check_expires(expires_at, expires_null);
	if (!created_null && created_at > GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("created_at must not be in the future")));
	if (!PG_ARGISNULL(8))
		manage_check_scopes(PG_GETARG_ARRAYTYPE_P(8));
	manage_require_binding();
	(void) actor_tenant(tenant_id);
	manage_check_user(tenant_id, user_id, &canon_tenant, &canon_user);

	if (key_hash != NULL)
	{
		KeyRow		row;
		Snapshot	snap = NULL;

		stored_hash = keystore_hash_bytea((const uint8 *) VARDATA_ANY(key_hash));
		if (keystore_lookup_by_hash((const uint8 *) VARDATA(stored_hash), &snap, NULL, &row))
			import_duplicate();
	}
	else if (import_bcrypt_stored(prefix, bcrypt))
		import_duplicate();

	id = import_insert(canon_tenant, canon_user, name, prefix, stored_hash, bcrypt, envname,
					   PG_ARGISNULL(8) ? (Datum) 0 : PG_GETARG_DATUM(8), PG_ARGISNULL(8),
					   PG_ARGISNULL(9) ? (Datum) 0 : PG_GETARG_DATUM(9), PG_ARGISNULL(9),
					   expires_at, expires_null, created_at, created_null);
	PG_RETURN_INT64(id);
}
