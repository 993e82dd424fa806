/*-------------------------------------------------------------------------
 * test_keyfmt.c
 *	  Unit tests (TAP) of src/keyfmt.c: CRC32 against zlib, base62, minting,
 *	  parsing of good and bad keys, and uniformity of the random part.
 *-------------------------------------------------------------------------
 */
#include "keyfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ALPHABET "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/*
 * Chi-square critical value for 61 degrees of freedom at p = 1e-7
 * (upper tail, from the regularized incomplete gamma function; p = 1e-6
 * would be 128.52).  With 66 such tests a correct generator fails one by
 * chance with probability below 7e-6; the RNGs here are seeded, so the
 * outcome is in any case reproducible.
 */
#define CHI2_61_P1E7		136.66

#define UNIFORM_KEYS		20000

#include "tap.h"

/* ---- deterministic random sources ---- */

static uint64_t splitmix_state;

/* Next output of splitmix64 (Steele, Lea, Flood). */
static uint64_t
splitmix64(void)
{
	uint64_t	z = (splitmix_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* keyfmt_random_fn over splitmix64. */
static bool
rnd_splitmix(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t		i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char) (splitmix64() >> 56);
	return true;
}

static unsigned char perm[256];
static size_t perm_pos = 256;

/*
 * keyfmt_random_fn whose bytes are exactly uniform over 0..255: each run of
 * 256 bytes is a fresh random permutation of all byte values, so the
 * 248..255 that a naive "byte % 62" would fold onto '0'..'7' are present in
 * exact proportion.
 */
static bool
rnd_perm(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (perm_pos == 256)
		{
			int			j;

			for (j = 0; j < 256; j++)
				perm[j] = (unsigned char) j;
			for (j = 255; j > 0; j--)
			{
				int			r = (int) (splitmix64() % (uint64_t) (j + 1));
				unsigned char t = perm[j];

				perm[j] = perm[r];
				perm[r] = t;
			}
			perm_pos = 0;
		}
		p[i] = perm[perm_pos++];
	}
	return true;
}

static unsigned int counter;

/* keyfmt_random_fn returning counter, counter+1, ... (mod 256). */
static bool
rnd_counter(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t		i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char) (counter++ & 0xff);
	return true;
}

static int	bad_left;

/* keyfmt_random_fn returning bad_left bytes >= 248, then splitmix bytes < 248. */
static bool
rnd_rejects_first(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (bad_left > 0)
		{
			p[i] = (unsigned char) (248 + bad_left % 8);
			bad_left--;
		}
		else
			p[i] = (unsigned char) (splitmix64() % 248);
	}
	return true;
}

/* keyfmt_random_fn that always fails. */
static bool
rnd_fail(void *buf, size_t len)
{
	memset(buf, 0xaa, len);
	return false;
}

static int	fail_calls;

/* keyfmt_random_fn that gives only bytes >= 248 once, then fails. */
static bool
rnd_fail_second(void *buf, size_t len)
{
	memset(buf, 0xff, len);
	return fail_calls++ == 0;
}

/* keyfmt_random_fn that never yields an acceptable byte. */
static bool
rnd_all_rejected(void *buf, size_t len)
{
	memset(buf, 0xf8, len);
	return true;
}

/* ---- helpers ---- */

/* Value of base62 string s of n digits, decoded independently; -1 if bad. */
static int64_t
b62_decode(const char *s, int n)
{
	int64_t		v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *d = memchr(ALPHABET, s[i], 62);

		if (s[i] == '\0' || d == NULL)
			return -1;
		v = v * 62 + (d - ALPHABET);
	}
	return v;
}

/* Parse status of NUL-terminated s. */
static KeyfmtStatus
parse_str(const char *s)
{
	return keyfmt_parse(s, strlen(s), NULL);
}

/* Chi-square statistic of counts[0..61] against a uniform expectation. */
static double
chi2_uniform(const long *counts, long total)
{
	double		expect = (double) total / 62.0;
	double		chi = 0.0;
	int			i;

	for (i = 0; i < 62; i++)
	{
		double		d = (double) counts[i] - expect;

		chi += d * d / expect;
	}
	return chi;
}

/* ---- tests ---- */

/* CRC32 matches zlib's on known vectors and many random buffers. */
static void
test_crc32(void)
{
	static const char *const vec[] = {
		"", "a", "abc", "123456789", "The quick brown fox jumps over the lazy dog",
		"ck_live_0123456789ABCDEFGHIJKLMNOPQRSTUV"
	};
	unsigned char buf[4096];
	size_t		i;
	int			bad = 0;
	int			iter;

	ok(keyfmt_crc32("123456789", 9) == 0xCBF43926U, "crc32(\"123456789\") = 0xCBF43926");
	ok(keyfmt_crc32("", 0) == 0 && keyfmt_crc32(NULL, 0) == 0, "crc32 of nothing is 0");
	ok(keyfmt_crc32("The quick brown fox jumps over the lazy dog", 43) == 0x414FA339U,
	   "crc32(quick brown fox) = 0x414FA339");

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++)
	{
		size_t		n = strlen(vec[i]);

		if (keyfmt_crc32(vec[i], n) != (uint32_t) crc32(0L, (const Bytef *) vec[i], (uInt) n))
			bad++;
	}
	ok(bad == 0, "crc32 equals zlib on %d known strings", (int) (sizeof(vec) / sizeof(vec[0])));

	splitmix_state = 1;
	bad = 0;
	for (iter = 0; iter < 20000; iter++)
	{
		size_t		n = (size_t) (splitmix64() % (iter < 10000 ? 100 : sizeof(buf)));
		size_t		off;

		rnd_splitmix(buf, n);
		/* also vary alignment */
		off = (size_t) (splitmix64() % 8);
		if (off > n)
			off = n;
		if (keyfmt_crc32(buf + off, n - off) !=
			(uint32_t) crc32(0L, (const Bytef *) buf + off, (uInt) (n - off)))
			bad++;
	}
	ok(bad == 0, "crc32 equals zlib on 20000 random buffers (0..4095 bytes)");

	bad = 0;
	for (i = 0; i < 256; i++)
	{
		unsigned char b = (unsigned char) i;

		if (keyfmt_crc32(&b, 1) != (uint32_t) crc32(0L, &b, 1))
			bad++;
	}
	ok(bad == 0, "crc32 equals zlib on every single byte");
}

/* base62 encoding vectors and an independent decode round trip. */
static void
test_base62(void)
{
	char		out[16];
	int			bad = 0;
	int			i;

	keyfmt_base62_encode(0, out, 6);
	ok(memcmp(out, "000000", 6) == 0, "base62(0) = 000000");
	keyfmt_base62_encode(61, out, 6);
	ok(memcmp(out, "00000z", 6) == 0, "base62(61) = 00000z");
	keyfmt_base62_encode(62, out, 6);
	ok(memcmp(out, "000010", 6) == 0, "base62(62) = 000010");
	/* 4*62^5 + 42*62^4 + 41*62^3 + 15*62^2 + 12*62 + 3 = 4294967295 */
	keyfmt_base62_encode(0xFFFFFFFFU, out, 6);
	ok(memcmp(out, "4gfFC3", 6) == 0, "base62(0xFFFFFFFF) = 4gfFC3");
	ok(b62_decode("4gfFC3", 6) == 4294967295LL, "independent decode of 4gfFC3 = 0xFFFFFFFF");
	keyfmt_base62_encode(56800235583ULL, out, 6);	/* 62^6 - 1 */
	ok(memcmp(out, "zzzzzz", 6) == 0, "base62(62^6 - 1) = zzzzzz");

	memset(out, '#', sizeof(out));
	keyfmt_base62_encode(3, out, 3);
	ok(memcmp(out, "003#", 4) == 0, "base62 writes exactly width characters");

	splitmix_state = 2;
	for (i = 0; i < 100000; i++)
	{
		uint32_t	v = (uint32_t) splitmix64();

		keyfmt_base62_encode(v, out, 6);
		if (b62_decode(out, 6) != (int64_t) v)
			bad++;
	}
	ok(bad == 0, "base62 round-trips 100000 random 32-bit values");
}

/* Namespace and environment helpers. */
static void
test_helpers(void)
{
	ok(keyfmt_namespace_valid("ck", 2) && keyfmt_namespace_valid("a1b2c3d4", 8) &&
	   keyfmt_namespace_valid("00", 2), "valid namespaces accepted");
	ok(!keyfmt_namespace_valid("c", 1) && !keyfmt_namespace_valid("abcdefghi", 9) &&
	   !keyfmt_namespace_valid("", 0) && !keyfmt_namespace_valid(NULL, 2),
	   "namespaces of 0, 1, 9 characters and NULL rejected");
	ok(!keyfmt_namespace_valid("Ck", 2) && !keyfmt_namespace_valid("c_", 2) &&
	   !keyfmt_namespace_valid("c-", 2) && !keyfmt_namespace_valid("c\0", 2) &&
	   !keyfmt_namespace_valid("c\xe9", 2) && !keyfmt_namespace_valid("ab{", 3) &&
	   !keyfmt_namespace_valid("ab`", 3) && !keyfmt_namespace_valid("ab/", 3) &&
	   !keyfmt_namespace_valid("ab:", 3),
	   "namespaces with uppercase, '_', '-', NUL, non-ASCII, edge bytes rejected");
	ok(keyfmt_env_from_string("live", 4) == KEYFMT_ENV_LIVE &&
	   keyfmt_env_from_string("test", 4) == KEYFMT_ENV_TEST, "live and test recognised");
	ok(keyfmt_env_from_string("LIVE", 4) == KEYFMT_ENV_INVALID &&
	   keyfmt_env_from_string("live", 3) == KEYFMT_ENV_INVALID &&
	   keyfmt_env_from_string("lives", 5) == KEYFMT_ENV_INVALID &&
	   keyfmt_env_from_string("prod", 4) == KEYFMT_ENV_INVALID &&
	   keyfmt_env_from_string(NULL, 4) == KEYFMT_ENV_INVALID &&
	   keyfmt_env_from_string("", 0) == KEYFMT_ENV_INVALID, "other environments rejected");
	ok(strcmp(keyfmt_env_name(KEYFMT_ENV_LIVE), "live") == 0 &&
	   strcmp(keyfmt_env_name(KEYFMT_ENV_TEST), "test") == 0 &&
	   keyfmt_env_name(KEYFMT_ENV_INVALID) == NULL && keyfmt_env_name((KeyfmtEnv) 7) == NULL,
	   "keyfmt_env_name");
}

/* Minting: fixed vectors (computed with Python zlib), shape, lengths, errors. */
static void
test_generate(void)
{
	char		key[KEYFMT_MAX_LEN + 1];
	char		big[128];
	KeyfmtParsed p;
	int			n;
	int			len;
	int			bad;
	int			i;
	static const char *const nss[] = {"ab", "abc", "a1b2", "z9z9z", "000000", "abcdefg", "a1b2c3d4"};

	counter = 0;
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_counter, key, sizeof(key));
	ok(n == 46 && strcmp(key, "ck_live_0123456789ABCDEFGHIJKLMNOPQRSTUV2LMN5Z") == 0,
	   "counter RNG from 0 gives the expected key (%s)", key);

	/* 240..247 accepted, 248..255 rejected, then 0.. */
	counter = 240;
	n = keyfmt_generate("ck", KEYFMT_ENV_TEST, rnd_counter, key, sizeof(key));
	ok(n == 46 && strcmp(key, "ck_test_stuvwxyz0123456789ABCDEFGHIJKLMN2fvr37") == 0,
	   "counter RNG from 240 skips 248..255 (%s)", key);

	ok(parse_str("acme_test_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_OK,
	   "independently computed acme_test key parses");
	ok(parse_str("a1b2c3d4_live_000000000000000000000000000000002hAihW") == KEYFMT_OK,
	   "independently computed 8-character-namespace key parses");

	splitmix_state = 3;
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key));
	ok(n == 46 && strlen(key) == 46, "ck live key is 46 characters");
	ok(strncmp(key, "ck_live_", 8) == 0, "ck live key starts with ck_live_");
	bad = 0;
	for (i = 8; i < 46; i++)
		if (memchr(ALPHABET, key[i], 62) == NULL)
			bad++;
	ok(bad == 0, "random part and checksum are base62");
	ok(b62_decode(key + 40, 6) == (int64_t) crc32(0L, (const Bytef *) key, 40),
	   "checksum decodes to zlib crc32 of the first 40 characters");
	memset(&p, 0, sizeof(p));
	ok(keyfmt_parse(key, 46, &p) == KEYFMT_OK && p.ns == key && p.ns_len == 2 &&
	   p.env == KEYFMT_ENV_LIVE, "generated key parses, ns and env reported");

	n = keyfmt_generate("ck", KEYFMT_ENV_TEST, rnd_splitmix, key, sizeof(key));
	ok(n == 46 && strncmp(key, "ck_test_", 8) == 0 &&
	   keyfmt_parse(key, 46, &p) == KEYFMT_OK && p.env == KEYFMT_ENV_TEST,
	   "test environment key");

	bad = 0;
	for (i = 0; i < (int) (sizeof(nss) / sizeof(nss[0])); i++)
	{
		int			nl = (int) strlen(nss[i]);

		n = keyfmt_generate(nss[i], KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key));
		if (n != nl + 44 || (int) strlen(key) != n || strncmp(key, nss[i], nl) != 0 ||
			keyfmt_parse(key, n, &p) != KEYFMT_OK || p.ns_len != (size_t) nl)
			bad++;
	}
	ok(bad == 0, "namespaces of 2..8 characters: length ns+44, parse OK");

	bad = 0;
	for (i = 0; i < 10000; i++)
	{
		n = keyfmt_generate("ck", (i & 1) ? KEYFMT_ENV_TEST : KEYFMT_ENV_LIVE,
							rnd_splitmix, key, sizeof(key));
		if (n != 46 || keyfmt_parse(key, (size_t) n, NULL) != KEYFMT_OK)
			bad++;
	}
	ok(bad == 0, "10000 generated keys all parse");

	/* the 8-character namespace needs 52 + 1 bytes exactly */
	n = keyfmt_generate("a1b2c3d4", KEYFMT_ENV_LIVE, rnd_splitmix, key, 53);
	ok(n == 52 && key[52] == '\0', "outsz of exactly length + 1 suffices");
	memset(big, 'x', sizeof(big));
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix, big, 46);
	ok(n == -1 && big[0] == '\0' && big[46] == 'x', "outsz too small -> -1, nothing written past it");
	ok(keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix, big, 0) == -1 && big[0] == '\0',
	   "outsz 0 -> -1");

	len = keyfmt_generate("c", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key));
	n = keyfmt_generate("abcdefghi", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key));
	ok(len == -1 && n == -1, "namespaces of 1 and 9 characters -> -1");
	ok(keyfmt_generate("Ck", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key)) == -1 &&
	   keyfmt_generate("c_k", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key)) == -1 &&
	   keyfmt_generate("", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key)) == -1 &&
	   keyfmt_generate(NULL, KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key)) == -1,
	   "invalid namespaces -> -1");
	ok(keyfmt_generate("ck", KEYFMT_ENV_INVALID, rnd_splitmix, key, sizeof(key)) == -1 &&
	   keyfmt_generate("ck", (KeyfmtEnv) 2, rnd_splitmix, key, sizeof(key)) == -1,
	   "invalid environment -> -1");
	ok(keyfmt_generate("ck", KEYFMT_ENV_LIVE, NULL, key, sizeof(key)) == -1 &&
	   keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix, NULL, 64) == -1,
	   "NULL callback or output -> -1");
}

/* Random source failures and the rejection loop. */
static void
test_random_source(void)
{
	char		key[KEYFMT_MAX_LEN + 1];
	int			n;

	memset(key, 'x', sizeof(key));
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_fail, key, sizeof(key));
	ok(n == -1 && key[0] == '\0', "failing random callback -> -1, empty output");

	fail_calls = 0;
	memset(key, 'x', sizeof(key));
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_fail_second, key, sizeof(key));
	ok(n == -1 && key[0] == '\0' && fail_calls == 2,
	   "callback failing on the refill -> -1");

	splitmix_state = 4;
	bad_left = 1000;
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_rejects_first, key, sizeof(key));
	ok(n == 46 && bad_left == 0 && keyfmt_parse(key, 46, NULL) == KEYFMT_OK,
	   "1000 bytes >= 248 then valid bytes: rejection loop recovers");

	bad_left = 63;
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_rejects_first, key, sizeof(key));
	ok(n == 46 && keyfmt_parse(key, 46, NULL) == KEYFMT_OK,
	   "63 rejected bytes then valid bytes (refill boundary)");

	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_all_rejected, key, sizeof(key));
	ok(n == -1 && key[0] == '\0', "callback never giving a byte < 248 -> -1 (bounded, no hang)");
}

/* Every way a valid key can be wrong is MALFORMED, and nothing reads out of bounds. */
static void
test_bad_shapes(void)
{
	char		key[KEYFMT_MAX_LEN + 1];
	char		buf[256];
	char	   *huge;
	int			n;
	int			i;
	int			c;
	int			bad;
	int			nmut;

	splitmix_state = 5;
	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key));

	ok(keyfmt_parse(NULL, 0, NULL) == KEYFMT_MISSING, "NULL, 0 -> MISSING");
	ok(keyfmt_parse("", 0, NULL) == KEYFMT_MISSING, "empty -> MISSING");
	ok(keyfmt_parse(key, 0, NULL) == KEYFMT_MISSING, "valid key with len 0 -> MISSING");

	/* every single-byte substitution, at every position, with every other byte */
	bad = 0;
	nmut = 0;
	for (i = 0; i < n; i++)
	{
		for (c = 0; c < 256; c++)
		{
			if ((char) c == key[i])
				continue;
			memcpy(buf, key, (size_t) n);
			buf[i] = (char) c;
			nmut++;
			if (keyfmt_parse(buf, (size_t) n, NULL) != KEYFMT_MALFORMED)
				bad++;
		}
	}
	ok(bad == 0 && nmut == 46 * 255, "all %d single-byte substitutions -> MALFORMED", nmut);

	/* same for a key with the longest namespace */
	n = keyfmt_generate("a1b2c3d4", KEYFMT_ENV_TEST, rnd_splitmix, key, sizeof(key));
	bad = 0;
	for (i = 0; i < n; i++)
	{
		for (c = 0; c < 256; c++)
		{
			if ((char) c == key[i])
				continue;
			memcpy(buf, key, (size_t) n);
			buf[i] = (char) c;
			if (keyfmt_parse(buf, (size_t) n, NULL) != KEYFMT_MALFORMED)
				bad++;
		}
	}
	ok(bad == 0, "all single-byte substitutions of an 8-character-namespace key -> MALFORMED");

	n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix, key, sizeof(key));
	bad = 0;
	for (i = 1; i < n; i++)
		if (keyfmt_parse(key, (size_t) i, NULL) != KEYFMT_MALFORMED)
			bad++;
	ok(bad == 0, "every truncation (1..45 bytes) -> MALFORMED");

	bad = 0;
	for (c = 0; c < 256; c++)
	{
		memcpy(buf, key, (size_t) n);
		buf[n] = (char) c;
		if (keyfmt_parse(buf, (size_t) n + 1, NULL) != KEYFMT_MALFORMED)
			bad++;
		/* and prepended */
		buf[0] = (char) c;
		memcpy(buf + 1, key, (size_t) n);
		if (keyfmt_parse(buf, (size_t) n + 1, NULL) != KEYFMT_MALFORMED)
			bad++;
	}
	ok(bad == 0, "every one-byte extension (appended or prepended) -> MALFORMED");

	/* deletions of one character */
	bad = 0;
	for (i = 0; i < n; i++)
	{
		memcpy(buf, key, (size_t) i);
		memcpy(buf + i, key + i + 1, (size_t) (n - i - 1));
		if (keyfmt_parse(buf, (size_t) n - 1, NULL) != KEYFMT_MALFORMED)
			bad++;
	}
	ok(bad == 0, "every one-character deletion -> MALFORMED");

	/* adjacent transpositions of distinct characters */
	bad = 0;
	for (i = 0; i + 1 < n; i++)
	{
		if (key[i] == key[i + 1])
			continue;
		memcpy(buf, key, (size_t) n);
		buf[i] = key[i + 1];
		buf[i + 1] = key[i];
		if (keyfmt_parse(buf, (size_t) n, NULL) != KEYFMT_MALFORMED)
			bad++;
	}
	ok(bad == 0, "every adjacent transposition -> MALFORMED");

	memcpy(buf, key, (size_t) n);
	buf[n] = '\0';
	ok(keyfmt_parse(buf, (size_t) n + 1, NULL) == KEYFMT_MALFORMED,
	   "trailing NUL counted in len -> MALFORMED");
	memcpy(buf, key, (size_t) n);
	buf[20] = '\0';
	ok(keyfmt_parse(buf, (size_t) n, NULL) == KEYFMT_MALFORMED, "embedded NUL -> MALFORMED");
	memcpy(buf, key, (size_t) n);
	buf[10] = (char) 0xc3;
	buf[11] = (char) 0xa9;
	ok(keyfmt_parse(buf, (size_t) n, NULL) == KEYFMT_MALFORMED, "UTF-8 bytes -> MALFORMED");

	ok(parse_str("acme_prod_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_MALFORMED,
	   "unknown environment -> MALFORMED");
	ok(parse_str("acme_TEST_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_MALFORMED,
	   "uppercase environment -> MALFORMED");
	ok(parse_str("ACME_test_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_MALFORMED,
	   "uppercase namespace -> MALFORMED");
	ok(parse_str("acmetest_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_MALFORMED &&
	   parse_str("acme_testZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_MALFORMED &&
	   parse_str("acme-test-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw") == KEYFMT_MALFORMED,
	   "missing or wrong separators -> MALFORMED");
	ok(parse_str("acme_test_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGvw_") == KEYFMT_MALFORMED &&
	   parse_str("acme_test__ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ2mNGv") == KEYFMT_MALFORMED,
	   "extra underscores -> MALFORMED");

	/* namespaces of 1 and 9 characters with otherwise well-formed keys */
	{
		char		body[64];
		char		k[80];
		uint32_t	crc;

		strcpy(body, "c_live_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
		crc = (uint32_t) crc32(0L, (const Bytef *) body, (uInt) strlen(body));
		strcpy(k, body);
		keyfmt_base62_encode(crc, k + strlen(body), 6);
		k[strlen(body) + 6] = '\0';
		ok(parse_str(k) == KEYFMT_MALFORMED, "1-character namespace with a correct CRC -> MALFORMED");

		strcpy(body, "abcdefghi_live_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
		crc = (uint32_t) crc32(0L, (const Bytef *) body, (uInt) strlen(body));
		strcpy(k, body);
		keyfmt_base62_encode(crc, k + strlen(body), 6);
		k[strlen(body) + 6] = '\0';
		ok(parse_str(k) == KEYFMT_MALFORMED, "9-character namespace with a correct CRC -> MALFORMED");

		/* the same checksum written with 7 digits is not the canonical form */
		strcpy(body, "ck_live_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
		crc = (uint32_t) crc32(0L, (const Bytef *) body, (uInt) strlen(body));
		strcpy(k, body);
		keyfmt_base62_encode(crc, k + strlen(body), 6);
		k[strlen(body) + 6] = '\0';
		ok(parse_str(k) == KEYFMT_OK, "hand-built ck key with zlib CRC parses");
		keyfmt_base62_encode(crc, k + strlen(body), 7);
		k[strlen(body) + 7] = '\0';
		ok(parse_str(k) == KEYFMT_MALFORMED, "7-digit checksum -> MALFORMED");
	}

	/* lengths from 0 to 255 of junk never crash and never parse */
	bad = 0;
	splitmix_state = 6;
	for (i = 0; i < 20000; i++)
	{
		size_t		len = (size_t) (splitmix64() % 64);

		rnd_splitmix(buf, len);
		if (keyfmt_parse(buf, len, NULL) != (len == 0 ? KEYFMT_MISSING : KEYFMT_MALFORMED))
			bad++;
	}
	ok(bad == 0, "20000 random byte strings -> MALFORMED");

	huge = malloc(1 << 20);
	if (huge != NULL)
	{
		memset(huge, 'a', 1 << 20);
		memcpy(huge, key, (size_t) n);
	}
	ok(huge != NULL && keyfmt_parse(huge, 1 << 20, NULL) == KEYFMT_MALFORMED &&
	   keyfmt_parse(key, (size_t) -1, NULL) == KEYFMT_MALFORMED,
	   "1 MiB input and len SIZE_MAX -> MALFORMED without reading past the key");
	free(huge);
}

/* Chi-square test of the random part's characters for one callback. */
static void
uniformity(const char *name, keyfmt_random_fn rnd)
{
	static long pos_counts[KEYFMT_RANDOM_LEN][62];
	long		all[62];
	char		key[KEYFMT_MAX_LEN + 1];
	double		worst = 0.0;
	int			worst_pos = -1;
	int			nbad = 0;
	int			i;
	int			j;
	double		chi;

	memset(pos_counts, 0, sizeof(pos_counts));
	memset(all, 0, sizeof(all));
	for (i = 0; i < UNIFORM_KEYS; i++)
	{
		if (keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd, key, sizeof(key)) != 46)
		{
			nbad++;
			continue;
		}
		for (j = 0; j < KEYFMT_RANDOM_LEN; j++)
		{
			const char *d = memchr(ALPHABET, key[8 + j], 62);

			if (d == NULL)
			{
				nbad++;
				continue;
			}
			pos_counts[j][d - ALPHABET]++;
			all[d - ALPHABET]++;
		}
	}
	ok(nbad == 0, "%s: %d keys generated, random part all base62", name, UNIFORM_KEYS);

	for (j = 0; j < KEYFMT_RANDOM_LEN; j++)
	{
		chi = chi2_uniform(pos_counts[j], UNIFORM_KEYS);
		if (chi > worst)
		{
			worst = chi;
			worst_pos = j;
		}
		ok(chi < CHI2_61_P1E7, "%s: position %d chi2 = %.2f < %.2f", name, j, chi, CHI2_61_P1E7);
	}
	printf("# %s: worst position %d, chi2 %.2f\n", name, worst_pos, worst);

	chi = chi2_uniform(all, (long) UNIFORM_KEYS * KEYFMT_RANDOM_LEN);
	ok(chi < CHI2_61_P1E7, "%s: all positions chi2 = %.2f < %.2f", name, chi, CHI2_61_P1E7);
}

/* Uniformity of the random part under two RNGs, and the power of the test. */
static void
test_uniformity(void)
{
	long		naive[62];
	unsigned char b;
	long		i;
	double		chi;

	splitmix_state = 7;
	uniformity("splitmix64", rnd_splitmix);

	splitmix_state = 8;
	perm_pos = 256;
	uniformity("exact-uniform bytes 0..255", rnd_perm);

	/*
	 * Power check: the same number of characters drawn by a naive
	 * "byte % 62" without rejection (bytes 248..255 fold onto '0'..'7')
	 * must fail the overall test.
	 */
	memset(naive, 0, sizeof(naive));
	splitmix_state = 9;
	perm_pos = 256;
	for (i = 0; i < (long) UNIFORM_KEYS * KEYFMT_RANDOM_LEN; i++)
	{
		rnd_perm(&b, 1);
		naive[b % 62]++;
	}
	chi = chi2_uniform(naive, (long) UNIFORM_KEYS * KEYFMT_RANDOM_LEN);
	ok(chi > CHI2_61_P1E7, "naive byte %% 62 is caught: chi2 = %.2f > %.2f", chi, CHI2_61_P1E7);
}

int
main(void)
{
	test_crc32();
	test_base62();
	test_helpers();
	test_generate();
	test_random_source();
	test_bad_shapes();
	test_uniformity();

	printf("1..%d\n", ntests);
	if (nfailed > 0)
		printf("# %d of %d tests failed\n", nfailed, ntests);
	return nfailed > 0 ? 1 : 0;
}
