/*-------------------------------------------------------------------------
 * test_hashing.c
 *	  Unit tests (TAP) of src/hashing.c (OpenSSL's SHA-256 underneath): NIST
 *	  SHA-256 vectors, RFC 4231 HMAC-SHA-256 test cases 1-7, and
 *	  block-boundary lengths.  Each call must also report success.
 *-------------------------------------------------------------------------
 */
#include "hashing.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* Writes the first n bytes of d as lowercase hex into out (2n + 1 bytes). */
static void
to_hex(const uint8_t *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < n; i++)
	{
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* True when the first strlen(hex)/2 bytes of d spell hex; prints a diagnostic otherwise. */
static int
digest_is(const uint8_t *d, const char *hex)
{
	char		got[2 * HASHING_SHA256_LEN + 1];
	size_t		n = strlen(hex) / 2;

	to_hex(d, n, got);
	if (strcmp(got, hex) == 0)
		return 1;
	printf("#   got      %s\n#   expected %s\n", got, hex);
	return 0;
}

/* SHA-256 of NUL-terminated s compared with hex. */
static void
sha_vector(const char *s, const char *hex, const char *desc)
{
	uint8_t		d[HASHING_SHA256_LEN];

	ok(hashing_sha256(s, strlen(s), d) && digest_is(d, hex), "SHA-256 %s", desc);
}

/* FIPS 180-2 / NIST CSRC example vectors. */
static void
test_sha256_nist(void)
{
	uint8_t		d[HASHING_SHA256_LEN];
	char	   *m;

	sha_vector("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			   "of the empty string");
	ok(hashing_sha256(NULL, 0, d) &&
	   digest_is(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	   "SHA-256 of (NULL, 0)");
	sha_vector("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			   "of \"abc\"");
	sha_vector("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
			   "of the 448-bit message");
	sha_vector("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
			   "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
			   "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
			   "of the 896-bit message");

	m = malloc(1000000);
	if (m != NULL)
	{
		memset(m, 'a', 1000000);
		hashing_sha256(m, 1000000, d);
	}
	ok(m != NULL &&
	   digest_is(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	   "SHA-256 of one million 'a'");
	free(m);
}

/*
 * Every length 0..299 (covering the 55/56/63/64/65-byte padding edges):
 * the SHA-256 of the concatenation of SHA-256(bytes 0,1,..,n-1 mod 256),
 * pinned from Python's hashlib, an independent implementation.
 */
static void
test_sha256_lengths(void)
{
	static uint8_t cat[300 * HASHING_SHA256_LEN];
	uint8_t		msg[300];
	uint8_t		d[HASHING_SHA256_LEN];
	int			n;

	for (n = 0; n < 300; n++)
		msg[n] = (uint8_t) n;
	for (n = 0; n < 300; n++)
		hashing_sha256(msg, (size_t) n, cat + n * HASHING_SHA256_LEN);
	hashing_sha256(cat, sizeof(cat), d);
	ok(digest_is(d, "df90175783c44235cf6aefd935a2c2747f42399416d16789ece339f1fd26d835"),
	   "SHA-256 of lengths 0..299 agrees with Python hashlib");

	/* an unaligned input gives the same digest as an aligned one */
	{
		static uint8_t shifted[301];
		uint8_t		d1[HASHING_SHA256_LEN];
		uint8_t		d2[HASHING_SHA256_LEN];

		memcpy(shifted + 1, msg, 300);
		hashing_sha256(msg, 300, d1);
		hashing_sha256(shifted + 1, 300, d2);
		ok(memcmp(d1, d2, sizeof(d1)) == 0, "SHA-256 of an unaligned buffer");
	}
}

/* HMAC-SHA-256 of (key, data) compared with hex (possibly truncated). */
static void
hmac_case(int num, const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
		  const char *hex)
{
	uint8_t		d[HASHING_SHA256_LEN];

	ok(hashing_hmac_sha256(key, keylen, data, len, d) && digest_is(d, hex),
	   "HMAC-SHA-256 RFC 4231 test case %d", num);
}

/* RFC 4231 section 4, test cases 1 to 7. */
static void
test_hmac_rfc4231(void)
{
	uint8_t		key[131];
	uint8_t		data[50];
	int			i;

	memset(key, 0x0b, 20);
	hmac_case(1, key, 20, (const uint8_t *) "Hi There", 8,
			  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

	hmac_case(2, (const uint8_t *) "Jefe", 4,
			  (const uint8_t *) "what do ya want for nothing?", 28,
			  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	hmac_case(3, key, 20, data, 50,
			  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

	for (i = 0; i < 25; i++)
		key[i] = (uint8_t) (i + 1);
	memset(data, 0xcd, 50);
	hmac_case(4, key, 25, data, 50,
			  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

	/* output truncated to 128 bits in the RFC */
	memset(key, 0x0c, 20);
	hmac_case(5, key, 20, (const uint8_t *) "Test With Truncation", 20,
			  "a3b6167473100ee06e0c796c2955552b");

	memset(key, 0xaa, 131);
	hmac_case(6, key, 131,
			  (const uint8_t *) "Test Using Larger Than Block-Size Key - Hash Key First", 54,
			  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

	{
		const char *msg = "This is a test using a larger than block-size key and a larger "
		"than block-size data. The key needs to be hashed before being used by the HMAC "
		"algorithm.";

		hmac_case(7, key, 131, (const uint8_t *) msg, strlen(msg),
				  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
	}
}

/*
 * HMAC with key lengths 0..199 (around the 64-byte block) and data lengths
 * (3n mod 211): key byte i = 7i + 1, data byte i = i.  The SHA-256 of all
 * the MACs concatenated is pinned from Python's hmac module.
 */
static void
test_hmac_lengths(void)
{
	static uint8_t cat[200 * HASHING_SHA256_LEN];
	uint8_t		key[200];
	uint8_t		data[211];
	uint8_t		d[HASHING_SHA256_LEN];
	uint8_t		k64[HASHING_SHA256_LEN];
	uint8_t		hk[HASHING_SHA256_LEN];
	int			n;

	for (n = 0; n < 200; n++)
		key[n] = (uint8_t) (n * 7 + 1);
	for (n = 0; n < 211; n++)
		data[n] = (uint8_t) n;
	for (n = 0; n < 200; n++)
		hashing_hmac_sha256(key, (size_t) n, data, (size_t) (n * 3 % 211),
							cat + n * HASHING_SHA256_LEN);
	hashing_sha256(cat, sizeof(cat), d);
	ok(digest_is(d, "095be63ab7a904426a79044489022bb66248c29492286215bc1fa2ec4feacc7c"),
	   "HMAC-SHA-256 of key lengths 0..199 agrees with Python hmac");

	/* a key longer than a block is equivalent to its SHA-256 */
	hashing_sha256(key, 150, hk);
	hashing_hmac_sha256(key, 150, data, 100, d);
	hashing_hmac_sha256(hk, sizeof(hk), data, 100, k64);
	ok(memcmp(d, k64, sizeof(d)) == 0, "HMAC with a 150-byte key = HMAC with its SHA-256");

	ok(hashing_hmac_sha256(NULL, 0, NULL, 0, d) &&
	   digest_is(d, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
	   "HMAC-SHA-256 with empty key and empty data (NULL pointers)");
}

int
main(void)
{
	test_sha256_nist();
	test_sha256_lengths();
	test_hmac_rfc4231();
	test_hmac_lengths();

	printf("1..%d\n", ntests);
	if (nfailed > 0)
		printf("# %d of %d tests failed\n", nfailed, ntests);
	return nfailed > 0 ? 1 : 0;
}
