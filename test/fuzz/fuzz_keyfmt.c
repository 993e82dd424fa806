/*-------------------------------------------------------------------------
 * fuzz_keyfmt.c
 *	  libFuzzer target over src/keyfmt.c and src/hashing.c: no crash, no
 *	  out-of-bounds read, and the format's invariants hold on any input.
 *-------------------------------------------------------------------------
 */
#include "hashing.h"
#include "keyfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALPHABET "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* Input bytes fed to the random callback before switching to splitmix64. */
#define RNG_INPUT_MAX	512

/* Reports a broken invariant and aborts so libFuzzer saves the input. */
#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* State of the deterministic random callback (one input at a time). */
static const uint8_t *rng_in;
static size_t rng_in_left;
static uint64_t rng_state;

/* Next output of splitmix64. */
static uint64_t
splitmix64(void)
{
	uint64_t	z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* keyfmt_random_fn: up to RNG_INPUT_MAX input bytes, then splitmix64 seeded from the input. */
static bool
rnd_from_input(void *buf, size_t len)
{
	uint8_t    *p = buf;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (rng_in_left > 0)
		{
			p[i] = *rng_in++;
			rng_in_left--;
		}
		else
			p[i] = (uint8_t) (splitmix64() >> 56);
	}
	return true;
}

/* Bit-at-a-time CRC32 (reflected 0xEDB88320), independent of keyfmt's table. */
static uint32_t
ref_crc32(const uint8_t *p, size_t len)
{
	uint32_t	crc = 0xffffffffU;
	size_t		i;
	int			k;

	for (i = 0; i < len; i++)
	{
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1U)));
	}
	return ~crc;
}

/* Reference namespace check, written differently from keyfmt's. */
static bool
ref_ns_valid(const uint8_t *p, size_t len)
{
	size_t		i;

	if (len < 2 || len > 8)
		return false;
	for (i = 0; i < len; i++)
		if (p[i] == 0 || strchr("abcdefghijklmnopqrstuvwxyz0123456789", p[i]) == NULL)
			return false;
	return true;
}

/* Reference check of "<ns>_<env>_<32 base62>" (the body before the checksum). */
static bool
ref_body_ok(const uint8_t *p, size_t len)
{
	const uint8_t *us = memchr(p, '_', len);
	size_t		ns_len;
	size_t		i;

	if (us == NULL)
		return false;
	ns_len = (size_t) (us - p);
	if (!ref_ns_valid(p, ns_len) || len != ns_len + 6 + 32)
		return false;
	if (memcmp(p + ns_len, "_live_", 6) != 0 && memcmp(p + ns_len, "_test_", 6) != 0)
		return false;
	for (i = ns_len + 6; i < len; i++)
		if (p[i] == 0 || memchr(ALPHABET, p[i], 62) == NULL)
			return false;
	return true;
}

/* Value of n base62 digits, or -1 when one is not base62. */
static int64_t
b62_decode(const uint8_t *s, int n)
{
	int64_t		v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *d = s[i] ? memchr(ALPHABET, s[i], 62) : NULL;

		if (d == NULL)
			return -1;
		v = v * 62 + (d - ALPHABET);
	}
	return v;
}

/* Checks what a successful parse of key (len bytes) must imply. */
static void
check_ok_key(const uint8_t *key, size_t len, const KeyfmtParsed *p)
{
	size_t		body = len - KEYFMT_CHECKSUM_LEN;
	uint8_t		copy[KEYFMT_MAX_LEN + 1];
	size_t		pos;

	CHECK(len >= KEYFMT_MIN_LEN && len <= KEYFMT_MAX_LEN);
	CHECK(p->ns == (const char *) key);
	CHECK(ref_ns_valid(key, p->ns_len));
	CHECK(keyfmt_namespace_valid(p->ns, p->ns_len));
	CHECK(len == p->ns_len + 1 + KEYFMT_ENV_LEN + 1 + KEYFMT_RANDOM_LEN + KEYFMT_CHECKSUM_LEN);
	CHECK(p->env == KEYFMT_ENV_LIVE || p->env == KEYFMT_ENV_TEST);
	CHECK(memcmp(key + p->ns_len + 1, keyfmt_env_name(p->env), KEYFMT_ENV_LEN) == 0);
	CHECK(ref_body_ok(key, body));
	CHECK(b62_decode(key + body, KEYFMT_CHECKSUM_LEN) == (int64_t) ref_crc32(key, body));

	/* one byte shorter or longer is not a key */
	CHECK(keyfmt_parse((const char *) key, len - 1, NULL) == KEYFMT_MALFORMED);
	memcpy(copy, key, len);
	copy[len] = key[len - 1];
	CHECK(keyfmt_parse((const char *) copy, len + 1, NULL) == KEYFMT_MALFORMED);

	/* any single-byte change is caught */
	pos = ref_crc32(key, len) % len;
	copy[pos] ^= (uint8_t) (1 + key[len - 1] % 255);
	CHECK(keyfmt_parse((const char *) copy, len, NULL) == KEYFMT_MALFORMED);
}

/* Parse the raw input; compare helpers with their references. */
static void
fuzz_parse(const uint8_t *data, size_t size)
{
	KeyfmtParsed p;
	KeyfmtStatus st;
	KeyfmtEnv	env;

	memset(&p, 0, sizeof(p));
	st = keyfmt_parse((const char *) data, size, &p);
	if (size == 0)
		CHECK(st == KEYFMT_MISSING);
	else
		CHECK(st == KEYFMT_OK || st == KEYFMT_MALFORMED);
	if (st == KEYFMT_OK)
		check_ok_key(data, size, &p);
	CHECK(keyfmt_parse((const char *) data, size, NULL) == st);

	CHECK(keyfmt_namespace_valid((const char *) data, size) == ref_ns_valid(data, size));

	env = keyfmt_env_from_string((const char *) data, size);
	if (size == 4 && memcmp(data, "live", 4) == 0)
		CHECK(env == KEYFMT_ENV_LIVE);
	else if (size == 4 && memcmp(data, "test", 4) == 0)
		CHECK(env == KEYFMT_ENV_TEST);
	else
		CHECK(env == KEYFMT_ENV_INVALID);
}

/* Appends the right checksum to the input and checks parse against the reference shape. */
static void
fuzz_checksummed(const uint8_t *data, size_t size)
{
	uint8_t		key[KEYFMT_MAX_LEN];
	KeyfmtParsed p;
	KeyfmtStatus st;
	uint32_t	crc;
	char		enc[KEYFMT_CHECKSUM_LEN];

	if (size > KEYFMT_MAX_LEN - KEYFMT_CHECKSUM_LEN)
		return;
	crc = keyfmt_crc32(data, size);
	CHECK(crc == ref_crc32(data, size));
	keyfmt_base62_encode(crc, enc, KEYFMT_CHECKSUM_LEN);
	CHECK(b62_decode((const uint8_t *) enc, KEYFMT_CHECKSUM_LEN) == (int64_t) crc);

	if (size > 0)
		memcpy(key, data, size);
	memcpy(key + size, enc, KEYFMT_CHECKSUM_LEN);
	st = keyfmt_parse((const char *) key, size + KEYFMT_CHECKSUM_LEN, &p);
	CHECK((st == KEYFMT_OK) == ref_body_ok(data, size));
	if (st == KEYFMT_OK)
		check_ok_key(key, size + KEYFMT_CHECKSUM_LEN, &p);
}

/* Mints a key with a namespace and random bytes taken from the input. */
static void
fuzz_generate(const uint8_t *data, size_t size)
{
	char		ns[KEYFMT_NS_MAX + 2];
	char		key[KEYFMT_MAX_LEN + 1];
	size_t		ns_take;
	size_t		ns_len;
	size_t		want_len;
	KeyfmtEnv	env;
	KeyfmtParsed p;
	bool		ns_ok;
	int			n;

	if (size < 2)
		return;
	/* byte 0: namespace length (0..9) and environment (may be invalid) */
	ns_take = (size_t) (data[0] % 10);
	env = (KeyfmtEnv) ((int) ((data[0] / 10) % 3) - 1);
	if (ns_take > size - 1)
		ns_take = size - 1;
	memcpy(ns, data + 1, ns_take);
	ns[ns_take] = '\0';
	ns_len = strlen(ns);		/* an embedded NUL ends the C string early */
	ns_ok = ref_ns_valid((const uint8_t *) ns, ns_len);

	rng_in = data + 1 + ns_take;
	rng_in_left = size - 1 - ns_take;
	if (rng_in_left > RNG_INPUT_MAX)
		rng_in_left = RNG_INPUT_MAX;
	rng_state = ref_crc32(data, size);

	n = keyfmt_generate(ns, env, rnd_from_input, key, sizeof(key));
	if (!ns_ok || env == KEYFMT_ENV_INVALID)
	{
		CHECK(n == -1 && key[0] == '\0');
		return;
	}
	want_len = ns_len + 1 + KEYFMT_ENV_LEN + 1 + KEYFMT_RANDOM_LEN + KEYFMT_CHECKSUM_LEN;
	CHECK(n == (int) want_len);
	CHECK(strlen(key) == want_len);
	CHECK(keyfmt_parse(key, want_len, &p) == KEYFMT_OK);
	CHECK(p.ns_len == ns_len && memcmp(key, ns, ns_len) == 0 && p.env == env);
	check_ok_key((const uint8_t *) key, want_len, &p);

	/* an output buffer one byte too small is refused */
	CHECK(keyfmt_generate(ns, env, rnd_from_input, key, want_len) == -1);
}

/* SHA-256 and HMAC-SHA-256 of the input: no crash, success, deterministic, long-key rule. */
static void
fuzz_hashing(const uint8_t *data, size_t size)
{
	uint8_t		d1[HASHING_SHA256_LEN];
	uint8_t		d2[HASHING_SHA256_LEN];
	uint8_t		hk[HASHING_SHA256_LEN];
	size_t		split = size > 0 ? data[0] % (size + 1) : 0;

	CHECK(hashing_sha256(data, size, d1));
	CHECK(hashing_sha256(data, size, d2));
	CHECK(memcmp(d1, d2, sizeof(d1)) == 0);

	CHECK(hashing_hmac_sha256(data, split, data + split, size - split, d1));
	CHECK(hashing_hmac_sha256(data, split, data + split, size - split, d2));
	CHECK(memcmp(d1, d2, sizeof(d1)) == 0);

	/* RFC 2104: a key longer than the block is replaced by its hash */
	if (split > 64)
	{
		CHECK(hashing_sha256(data, split, hk));
		CHECK(hashing_hmac_sha256(hk, sizeof(hk), data + split, size - split, d2));
		CHECK(memcmp(d1, d2, sizeof(d1)) == 0);
	}
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_checksummed(data, size);
	fuzz_generate(data, size);
	fuzz_hashing(data, size);
	return 0;
}
