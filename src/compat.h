/*-------------------------------------------------------------------------
 * compat.h
 *	  The differences between the PostgreSQL major versions apikey builds on
 *	  (15, 16, 17, 18), kept in one place as macros and inline helpers.
 *
 * Included by apikey.h right after postgres.h, so every file that uses the
 * server's headers sees it.  Add a guard here rather than #if in a .c file.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_COMPAT_H
#define APIKEY_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "apikey needs PostgreSQL 15 or later"
#endif

/*
 * JSON semantic actions (common/jsonapi.h) return JsonParseErrorType from
 * PostgreSQL 16 on and void before.  Declare a callback as
 *	static APIKEY_JSON_ACTION walk_x(void *state) { ...; APIKEY_JSON_OK; }
 */
#if PG_VERSION_NUM >= 160000
#define APIKEY_JSON_ACTION	JsonParseErrorType
#define APIKEY_JSON_OK		return JSON_SUCCESS
#else
#define APIKEY_JSON_ACTION	void
#define APIKEY_JSON_OK		return
#endif

/* makeJsonLexContextCstringLen takes a leading JsonLexContext * (NULL: allocate one) from 17 on */
#if PG_VERSION_NUM >= 170000
#define apikey_json_lex(json, len, encoding, need_escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (encoding), (need_escapes))
#else
#define apikey_json_lex(json, len, encoding, need_escapes) \
	makeJsonLexContextCstringLen((json), (len), (encoding), (need_escapes))
#endif

/* index_beginscan takes an IndexScanInstrumentation * (NULL: none) from 18 on */
#if PG_VERSION_NUM >= 180000
#define apikey_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define apikey_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * A function that never returns: PostgreSQL 18 replaced the trailing
 * pg_attribute_noreturn() with a leading pg_noreturn.  Write
 *	extern APIKEY_NORETURN void f(void);
 */
#if PG_VERSION_NUM >= 180000
#define APIKEY_NORETURN pg_noreturn
#else
#define APIKEY_NORETURN pg_attribute_noreturn()
#endif

/*
 * strlcpy: port.h declares it only where the C library lacked it when the
 * server was configured.  Headers configured against glibc 2.38+ (which has
 * strlcpy) but used with an older glibc need the declaration; the function
 * then comes from the server binary, which must have been built against an
 * older glibc (its src/port has it), as make test's 17 and 18 servers are.
 */
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ) && defined(HAVE_DECL_STRLCPY)
#if HAVE_DECL_STRLCPY && !__GLIBC_PREREQ(2, 38)
extern size_t strlcpy(char *dst, const char *src, size_t siz);
#endif
#endif

#endif							/* APIKEY_COMPAT_H */
