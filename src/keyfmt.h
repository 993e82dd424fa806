/*-------------------------------------------------------------------------
 * keyfmt.h
 *	  The API key format: <namespace>_<environment>_<random><checksum>.
 *
 * Pure C, no PostgreSQL headers: the format can be unit-tested and fuzzed
 * on its own.  Nothing here touches tables, hashing or memory contexts.
 *
 *	namespace	2 to 8 characters of [a-z0-9]
 *	environment	"live" or "test"
 *	random		32 base62 characters, uniform (rejection sampling)
 *	checksum	6 base62 characters: CRC32 (IEEE, as zlib's crc32) of
 *				everything before it, most significant digit first,
 *				left-padded with '0'
 *
 * Base62 alphabet: 0-9A-Za-z, in that order.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_KEYFMT_H
#define APIKEY_KEYFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYFMT_NS_MIN		2
#define KEYFMT_NS_MAX		8
#define KEYFMT_ENV_LEN		4	/* "live" and "test" */
#define KEYFMT_RANDOM_LEN	32
#define KEYFMT_CHECKSUM_LEN	6
#define KEYFMT_PREFIX_LEN	12	/* characters stored for display */
#define KEYFMT_SUFFIX_LEN	4	/* last characters shown in previews */
#define KEYFMT_MIN_LEN	(KEYFMT_NS_MIN + 1 + KEYFMT_ENV_LEN + 1 + KEYFMT_RANDOM_LEN + KEYFMT_CHECKSUM_LEN)
#define KEYFMT_MAX_LEN	(KEYFMT_NS_MAX + 1 + KEYFMT_ENV_LEN + 1 + KEYFMT_RANDOM_LEN + KEYFMT_CHECKSUM_LEN)

typedef enum KeyfmtEnv
{
	KEYFMT_ENV_INVALID = -1,
	KEYFMT_ENV_LIVE = 0,
	KEYFMT_ENV_TEST = 1
} KeyfmtEnv;

typedef enum KeyfmtStatus
{
	KEYFMT_OK = 0,
	KEYFMT_MISSING,				/* NULL or empty */
	KEYFMT_MALFORMED			/* wrong shape or wrong checksum */
} KeyfmtStatus;

/* What a successful parse learned about a key (pointers into the input). */
typedef struct KeyfmtParsed
{
	const char *ns;				/* namespace, not NUL-terminated */
	size_t		ns_len;
	KeyfmtEnv	env;
} KeyfmtParsed;

/* Fills buf with len cryptographically strong random bytes; false on failure. */
typedef bool (*keyfmt_random_fn) (void *buf, size_t len);

/* CRC32 (IEEE 802.3, reflected, as zlib's crc32(0, data, len)). */
extern uint32_t keyfmt_crc32(const void *data, size_t len);

/* Writes v as exactly width base62 digits, most significant first, 0-padded. */
extern void keyfmt_base62_encode(uint64_t v, char *out, int width);

/* True when ns is 2 to 8 characters of [a-z0-9]. */
extern bool keyfmt_namespace_valid(const char *ns, size_t len);

/* "live" -> KEYFMT_ENV_LIVE, "test" -> KEYFMT_ENV_TEST, else KEYFMT_ENV_INVALID. */
extern KeyfmtEnv keyfmt_env_from_string(const char *env, size_t len);
extern const char *keyfmt_env_name(KeyfmtEnv env);

/*
 * Mints a key into out (outsz >= KEYFMT_MAX_LEN + 1, NUL-terminated).
 * Returns the key's length, or -1 when the namespace or environment is
 * invalid, outsz is too small, or rnd fails.
 */
extern int	keyfmt_generate(const char *ns, KeyfmtEnv env, keyfmt_random_fn rnd,
							char *out, size_t outsz);

/*
 * Checks shape and checksum of key (len bytes, need not be NUL-terminated,
 * may contain anything).  key may be NULL when len is 0.
 */
extern KeyfmtStatus keyfmt_parse(const char *key, size_t len, KeyfmtParsed *out);

#endif							/* APIKEY_KEYFMT_H */
