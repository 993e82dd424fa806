/*-------------------------------------------------------------------------
 * keyformats.c
 *	  The foreign key formats verification accepts besides its own
 *	  (apikey.key_formats): apikey_register_format, apikey_unregister_format,
 *	  and a per-backend copy of the table that verification matches keys
 *	  against before any table of keys is read.
 *
 * The copy is dropped by a relcache invalidation: the table's statement
 * trigger calls apikey.cache_invalidate(), which invalidates
 * apikey.user_binding (verify_cache.c), and any DDL on the table
 * invalidates the table itself.  An invalidation that arrives while the
 * copy is being read makes that copy a one-off (the next key reads again).
 * Nothing here sees a key beyond its shape.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "apikey.h"
#include "import.h"
#include "keystore.h"
#include "manage.h"

#define KEYFORMATS_TABLE	"key_formats"

typedef enum FormatCharset
{
	FC_HEX,						/* 0-9 a-f A-F */
	FC_BASE62,					/* 0-9 A-Z a-z */
	FC_ALNUM_LOWER,				/* 0-9 a-z */
	FC_BASE64URL				/* A-Z a-z 0-9 - _ */
} FormatCharset;

static const char *const charset_names[] = {
	[FC_HEX] = "hex",
	[FC_BASE62] = "base62",
	[FC_ALNUM_LOWER] = "alnum_lower",
	[FC_BASE64URL] = "base64url",
};

/* One registered format, as verification matches it */
typedef struct KeyFormat
{
	char		prefix[IMPORT_PREFIX_MAX + 1];
	int			prefix_len;
	FormatCharset charset;
	int			min_length;
	int			max_length;
	int			lookup_length;	/* 0: no bcrypt imports */
} KeyFormat;

static KeyFormat *formats = NULL;	/* longest prefix first */
static int	nformats = 0;
static bool formats_valid = false;
static uint64 formats_inval_count = 0;	/* bumped by every invalidation */
static bool callback_registered = false;
static Oid	formats_relid = InvalidOid;
static Oid	signal_relid = InvalidOid;	/* apikey.user_binding */

/* Drops the copy when key_formats changes (through its trigger) or everything is reset. */
static void
keyformats_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == formats_relid || relid == signal_relid)
	{
		formats_valid = false;
		formats_inval_count++;
	}
}

/* The charset named name, or -1. */
static int
keyformats_charset_of(const char *name)
{
	int			i;

	for (i = 0; i < (int) lengthof(charset_names); i++)
		if (strcmp(name, charset_names[i]) == 0)
			return i;
	return -1;
}

/* True when c belongs to charset cs. */
static inline bool
keyformats_char_ok(FormatCharset cs, unsigned char c)
{
	bool		digit = (c >= '0' && c <= '9');
	bool		lower = (c >= 'a' && c <= 'z');
	bool		upper = (c >= 'A' && c <= 'Z');

	switch (cs)
	{
		case FC_HEX:
			return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		case FC_BASE62:
			return digit || lower || upper;
		case FC_ALNUM_LOWER:
			return digit || lower;
		case FC_BASE64URL:
			return digit || lower || upper || c == '-' || c == '_';
	}
	return false;
}

/* True when all len characters of s belong to charset cs. */
static bool
keyformats_chars_ok(FormatCharset cs, const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if (!keyformats_char_ok(cs, (unsigned char) s[i]))
			return false;
	return true;
}

/* Longest prefix first, so that the most specific format decides. */
static int
keyformats_cmp(const void *a, const void *b)
{
	const KeyFormat *fa = (const KeyFormat *) a;
	const KeyFormat *fb = (const KeyFormat *) b;

	if (fa->prefix_len != fb->prefix_len)
		return fb->prefix_len - fa->prefix_len;
	return strcmp(fa->prefix, fb->prefix);
}

/*
 * Reads apikey.key_formats into this backend's copy, with the latest
 * snapshot, without SQL (verification runs as its caller, who cannot read
 * the table).  No table (the extension not updated to 1.2 yet): no formats.
 */
static void
keyformats_load(void)
{
	Oid			nsp;
	Relation	rel;
	TableScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;
	TupleDesc	desc;
	uint64		count_before = formats_inval_count;
	KeyFormat  *loaded = NULL;
	int			n = 0;
	int			cap = 0;
	AttrNumber	a_prefix, a_charset, a_min, a_max, a_lookup;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(keyformats_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	nsp = get_namespace_oid(APIKEY_SCHEMA, true);
	signal_relid = OidIsValid(nsp) ? get_relname_relid(APIKEY_BINDING_TABLE, nsp) : InvalidOid;
	formats_relid = OidIsValid(nsp) ? get_relname_relid(KEYFORMATS_TABLE, nsp) : InvalidOid;
	if (formats != NULL)
		pfree(formats);
	formats = NULL;
	nformats = 0;
	if (!OidIsValid(formats_relid))
		return;					/* not valid: read again next time */

	rel = table_open(formats_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	a_prefix = get_attnum(formats_relid, "prefix");
	a_charset = get_attnum(formats_relid, "charset");
	a_min = get_attnum(formats_relid, "min_length");
	a_max = get_attnum(formats_relid, "max_length");
	a_lookup = get_attnum(formats_relid, "lookup_length");
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		null_prefix,
					null_charset,
					null_min,
					null_max,
					null_lookup;
		Datum		d_prefix = heap_getattr(tup, a_prefix, desc, &null_prefix);
		Datum		d_charset = heap_getattr(tup, a_charset, desc, &null_charset);
		Datum		d_min = heap_getattr(tup, a_min, desc, &null_min);
		Datum		d_max = heap_getattr(tup, a_max, desc, &null_max);
		Datum		d_lookup = heap_getattr(tup, a_lookup, desc, &null_lookup);
		char	   *prefix;
		int			cs;
		KeyFormat  *f;

		if (null_prefix || null_charset || null_min || null_max)
			continue;
		prefix = TextDatumGetCString(d_prefix);
		cs = keyformats_charset_of(TextDatumGetCString(d_charset));
		if (cs < 0 || strlen(prefix) < 1 || strlen(prefix) > IMPORT_PREFIX_MAX)
			continue;
		if (n == cap)
		{
			cap = cap == 0 ? 8 : cap * 2;
			loaded = loaded == NULL ?
				MemoryContextAlloc(TopMemoryContext, cap * sizeof(KeyFormat)) :
				repalloc(loaded, cap * sizeof(KeyFormat));
		}
		f = &loaded[n++];
		strlcpy(f->prefix, prefix, sizeof(f->prefix));
		f->prefix_len = strlen(prefix);
		f->charset = (FormatCharset) cs;
		f->min_length = DatumGetInt32(d_min);
		f->max_length = DatumGetInt32(d_max);
		f->lookup_length = null_lookup ? 0 : DatumGetInt32(d_lookup);
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	if (n > 1)
		qsort(loaded, n, sizeof(KeyFormat), keyformats_cmp);
	formats = loaded;
	nformats = n;
	/* an invalidation processed meanwhile: use this copy once, read again next time */
	formats_valid = (formats_inval_count == count_before);
}

/* This backend's copy, read again when an invalidation dropped it. */
static void
keyformats_ensure(void)
{
	AcceptInvalidationMessages();
	if (!formats_valid)
		keyformats_load();
}

/*
 * True when key (len bytes, may hold anything) matches a registered format:
 * its prefix, then min_length to max_length characters of its charset.  The
 * most specific (longest) prefix that matches decides; *lookup_length is
 * its lookup length (0: the format has none).  Never raises on the key; an
 * error reading the table is the caller's (verification's, as for keys).
 */
bool
keyformats_match(const char *key, size_t len, int *lookup_length)
{
	int			i;

	*lookup_length = 0;
	keyformats_ensure();
	for (i = 0; i < nformats; i++)
	{
		const KeyFormat *f = &formats[i];
		size_t		rest;

		if (len <= (size_t) f->prefix_len || memcmp(key, f->prefix, f->prefix_len) != 0)
			continue;
		rest = len - f->prefix_len;
		if (rest < (size_t) f->min_length || rest > (size_t) f->max_length ||
			!keyformats_chars_ok(f->charset, key + f->prefix_len, rest))
			continue;
		*lookup_length = f->lookup_length;
		return true;
	}
	return false;
}

/*
 * True when prefix (len bytes) can be the lookup prefix of a bcrypt import:
 * a registered format whose lookup_length is len starts it, and the rest is
 * of that format's charset.
 */
bool
keyformats_lookup_prefix_ok(const char *prefix, size_t len)
{
	int			i;

	keyformats_ensure();
	for (i = 0; i < nformats; i++)
	{
		const KeyFormat *f = &formats[i];

		if (f->lookup_length == (int) len && len > (size_t) f->prefix_len &&
			memcmp(prefix, f->prefix, f->prefix_len) == 0 &&
			keyformats_chars_ok(f->charset, prefix + f->prefix_len, len - f->prefix_len))
			return true;
	}
	return false;
}

/* Raises 22023 naming an argument of apikey_register_format(). */
static APIKEY_NORETURN void
keyformats_bad_argument(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * SQL function: apikey_register_format(prefix text, charset text,
 * min_length integer, max_length integer, environment text,
 * lookup_length integer) returns void.  Replaces the format of the same
 * prefix.  Superuser only (not granted): it changes what every tenant's
 * verification accepts.
 */
PG_FUNCTION_INFO_V1(apikey_register_format);
Datum
apikey_register_format(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *prefix;
	char	   *charset;
	char	   *env;
	int			prefix_len;
	int			min_length;
	int			max_length;
	int			i;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	manage_require_writable("apikey_register_format()");
	prefix = manage_required_text(fcinfo, 0, "prefix");
	charset = manage_required_text(fcinfo, 1, "charset");
	if (PG_ARGISNULL(2))
		keyformats_bad_argument("min_length must not be null", NULL);
	env = manage_required_text(fcinfo, 4, "environment");

	prefix_len = strlen(prefix);
	if (prefix_len < 1 || prefix_len > IMPORT_PREFIX_MAX)
		keyformats_bad_argument(psprintf("prefix must be 1 to %d characters long", IMPORT_PREFIX_MAX),
								NULL);
	for (i = 0; i < prefix_len; i++)
		if ((unsigned char) prefix[i] < 0x21 || (unsigned char) prefix[i] > 0x7e)
			keyformats_bad_argument("prefix must consist of printable ASCII characters other than space",
									NULL);
	if (keyformats_charset_of(charset) < 0)
		keyformats_bad_argument(psprintf("invalid charset \"%s\"", charset),
								"The charset is \"hex\", \"base62\", \"alnum_lower\" or \"base64url\".");
	min_length = PG_GETARG_INT32(2);
	max_length = PG_ARGISNULL(3) ? min_length : PG_GETARG_INT32(3);
	if (min_length < 1 || min_length > IMPORT_FORMAT_LEN_MAX ||
		max_length < min_length || max_length > IMPORT_FORMAT_LEN_MAX)
		keyformats_bad_argument(psprintf("min_length and max_length must satisfy 1 <= min_length <= max_length <= %d",
										 IMPORT_FORMAT_LEN_MAX),
								"They count the characters after the prefix.");
	if (keyfmt_env_from_string(env, strlen(env)) == KEYFMT_ENV_INVALID)
		keyformats_bad_argument(psprintf("invalid environment \"%s\"", env),
								"The environment of an API key is \"live\" or \"test\".");
	if (!PG_ARGISNULL(5) &&
		(PG_GETARG_INT32(5) <= prefix_len ||
		 PG_GETARG_INT32(5) > Min(IMPORT_PREFIX_MAX, prefix_len + min_length)))
		keyformats_bad_argument(psprintf("lookup_length must be between %d and %d for this prefix",
										 prefix_len + 1, Min(IMPORT_PREFIX_MAX, prefix_len + min_length)),
								"It counts the leading characters of a key, prefix included, that a bcrypt import stores.");
	if (!PG_ARGISNULL(5) && prefix_len + max_length > 72)
		keyformats_bad_argument("a format with a lookup_length must have keys of at most 72 characters",
								"bcrypt reads only the first 72 bytes of a key: prefix length plus max_length must not exceed 72.");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		Oid			argtypes[6] = {TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID, INT4OID};

		plan = keystore_prepare("INSERT INTO apikey.key_formats"
								" (prefix, charset, min_length, max_length, environment, lookup_length)"
								" VALUES ($1, $2, $3, $4, $5, $6)"
								" ON CONFLICT (prefix) DO UPDATE SET charset = EXCLUDED.charset,"
								" min_length = EXCLUDED.min_length, max_length = EXCLUDED.max_length,"
								" environment = EXCLUDED.environment, lookup_length = EXCLUDED.lookup_length",
								6, argtypes);
	}
	values[0] = CStringGetTextDatum(prefix);
	values[1] = CStringGetTextDatum(charset);
	values[2] = Int32GetDatum(min_length);
	values[3] = Int32GetDatum(max_length);
	values[4] = CStringGetTextDatum(env);
	values[5] = PG_ARGISNULL(5) ? (Datum) 0 : Int32GetDatum(PG_GETARG_INT32(5));
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register key format");
	SPI_finish();
	PG_RETURN_VOID();
}

/* SQL function: apikey_unregister_format(prefix text) returns boolean */
PG_FUNCTION_INFO_V1(apikey_unregister_format);
Datum
apikey_unregister_format(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *prefix;
	Datum		values[1];
	bool		found;

	manage_require_writable("apikey_unregister_format()");
	prefix = manage_required_text(fcinfo, 0, "prefix");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		plan = keystore_prepare("DELETE FROM apikey.key_formats WHERE prefix OPERATOR(pg_catalog.=) $1",
								1, argtypes);
	}
	values[0] = CStringGetTextDatum(prefix);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not unregister key format");
	found = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(found);
}
