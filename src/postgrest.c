/*-------------------------------------------------------------------------
 * postgrest.c
 *	  PostgREST: the request-header reader and apikey_postgrest_pre_request.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "common/jsonapi.h"

#include "apikey.h"
#include "verify.h"
#include "verify_sql.h"

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
