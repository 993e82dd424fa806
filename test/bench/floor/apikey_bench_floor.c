/*-------------------------------------------------------------------------
 * apikey_bench_floor.c
 *	  The floor of the apikey benchmark (test/bench/run.sh): for each key of
 *	  an array, SHA-256 of the key, one probe of apikey.keys_key_hash_idx
 *	  (the key's row), one probe of bench_users_pkey (its user), in a C loop
 *	  with both index scans opened once.  No checks of the key's shape, state
 *	  or user, no result row, no cache, no last-used note: the lowest cost any
 *	  implementation of a verification could reach on these tables.
 *
 *	  apikey_bench_floor(keys text[]) RETURNS bigint: keys whose row and
 *	  user were both found.  Benchmark only; never installed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* SHA256() is deprecated in OpenSSL 3.0 but kept; src/hashing.c does the same */
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 0x10101000L
#include <openssl/sha.h>

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(apikey_bench_floor);

static Relation
open_rel(const char *nsp, const char *name)
{
	return table_openrv(makeRangeVar(pstrdup(nsp), pstrdup(name), -1), AccessShareLock);
}

static IndexScanDesc
begin_scan(Relation heap, Relation index, Snapshot snap)
{
#if PG_VERSION_NUM >= 180000
	return index_beginscan(heap, index, snap, NULL, 1, 0);
#else
	return index_beginscan(heap, index, snap, 1, 0);
#endif
}

Datum
apikey_bench_floor(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64		found = 0;
	Relation	keys,
				keys_hash,
				users,
				users_pkey;
	IndexScanDesc kscan,
				uscan;
	TupleTableSlot *kslot,
			   *uslot;
	ScanKeyData kkey,
				ukey;
	AttrNumber	user_att;
	Snapshot	snap;
	union
	{
		char		data[VARHDRSZ + SHA256_DIGEST_LENGTH];
		int32		align;
	}			hashbuf;
	bytea	   *hash = (bytea *) hashbuf.data;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);

	keys = open_rel("apikey", "keys");
	keys_hash = index_open(RangeVarGetRelid(makeRangeVar("apikey", "keys_key_hash_idx", -1),
											AccessShareLock, false), AccessShareLock);
	users = open_rel("public", "bench_users");
	users_pkey = index_open(RangeVarGetRelid(makeRangeVar("public", "bench_users_pkey", -1),
											 AccessShareLock, false), AccessShareLock);
	user_att = get_attnum(RelationGetRelid(keys), "user_id");
	if (user_att == InvalidAttrNumber)
		elog(ERROR, "apikey.keys has no column user_id");

	snap = RegisterSnapshot(GetTransactionSnapshot());
	kscan = begin_scan(keys, keys_hash, snap);
	uscan = begin_scan(users, users_pkey, snap);
	kslot = table_slot_create(keys, NULL);
	uslot = table_slot_create(users, NULL);

	SET_VARSIZE(hash, VARHDRSZ + SHA256_DIGEST_LENGTH);
	ScanKeyInit(&kkey, 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(hash));
	ScanKeyInit(&ukey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(0));

	for (int i = 0; i < n; i++)
	{
		text	   *key;
		Datum		d;
		bool		isnull;
		text	   *uid;
		char		buf[32];
		int			len;
		char	   *end;
		long long	user_id;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			continue;
		key = (text *) DatumGetPointer(elems[i]);
		SHA256((const unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
			   (unsigned char *) VARDATA(hash));

		index_rescan(kscan, &kkey, 1, NULL, 0);
		if (!index_getnext_slot(kscan, ForwardScanDirection, kslot))
			continue;
		d = slot_getattr(kslot, user_att, &isnull);
		if (isnull)
			continue;
		uid = (text *) DatumGetPointer(d);
		len = VARSIZE_ANY_EXHDR(uid);
		if (len <= 0 || len >= (int) sizeof(buf))
			continue;
		memcpy(buf, VARDATA_ANY(uid), len);
		buf[len] = '\0';
		user_id = strtoll(buf, &end, 10);
		if (*end != '\0')
			continue;

		ukey.sk_argument = Int64GetDatum((int64) user_id);
		index_rescan(uscan, &ukey, 1, NULL, 0);
		if (index_getnext_slot(uscan, ForwardScanDirection, uslot))
			found++;
	}

	ExecDropSingleTupleTableSlot(kslot);
	ExecDropSingleTupleTableSlot(uslot);
	index_endscan(kscan);
	index_endscan(uscan);
	UnregisterSnapshot(snap);
	index_close(users_pkey, AccessShareLock);
	table_close(users, AccessShareLock);
	index_close(keys_hash, AccessShareLock);
	table_close(keys, AccessShareLock);

	PG_RETURN_INT64(found);
}
