/*-------------------------------------------------------------------------
 * verify_sql.c
 *	  SQL entry points of verification: apikey_verify, apikey_authorize,
 *	  apikey_authenticate and apikey_verify_header, and the row they return.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "keystore.h"
#include "verify.h"
#include "permissions.h"
#include "verify_sql.h"

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
void
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
void
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
