/*-------------------------------------------------------------------------
 * hashing.c
 *	  Owns SHA-256 and HMAC-SHA-256 (RFC 2104) of key material, computed
 *	  with OpenSSL's libcrypto.  No PostgreSQL headers, no malloc, no state
 *	  kept between calls.
 *
 * SHA-256 is libcrypto's low-level SHA256_Init/Update/Final on a context on
 * the stack: on OpenSSL 3.0 it costs about 80 ns for a 46-byte key, where
 * EVP_DigestInit_ex2/Update/Final with a digest fetched once and a context
 * reused costs about 210 ns (3.0 frees and allocates the provider's context
 * at every init), and a new EVP context per call (pg_cryptohash) more.
 * OpenSSL 3 marks the low-level functions deprecated, not removed (4.0
 * still has them); this file asks for the 1.1.1 API, as PostgreSQL 18's
 * own pg_config.h does (15 and 17 ask for older ones), so it builds under
 * -Werror against OpenSSL 3 (tested: 3.0) and uses nothing 1.1.1 lacks.
 * Being below the providers, the low-level functions are not the FIPS
 * module's SHA-256, whatever the process's OpenSSL configuration says.
 *
 * HMAC is built here on that SHA-256, with the ipad/opad blocks of RFC 2104
 * (no EVP_MAC fetch, no context, per call): HMAC(K, m) =
 * H((K0 ^ opad) || H((K0 ^ ipad) || m)), where K0 is the key zero-padded to
 * a block, or its SHA-256 zero-padded when it is longer than a block.
 *-------------------------------------------------------------------------
 */
#define OPENSSL_API_COMPAT 0x10101000L

#include "hashing.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#ifdef OPENSSL_NO_DEPRECATED_3_0
#error "this OpenSSL was built without its low-level SHA-256 functions (no-deprecated); apikey needs SHA256_Init/Update/Final"
#endif

#define SHA256_BLOCK_LEN	64

/*
 * Wipes a context a step failed in (its block may hold input) and zeroes
 * out.  After a successful SHA256_Final the context holds only the digest
 * (libcrypto wipes the block), so it is not wiped then.
 */
static void
fail(SHA256_CTX *ctx, uint8_t out[HASHING_SHA256_LEN])
{
	OPENSSL_cleanse(ctx, sizeof(*ctx));
	memset(out, 0, HASHING_SHA256_LEN);
}

/* Feeds len bytes of data into ctx (data may be NULL when len is 0). */
static bool
sha256_update(SHA256_CTX *ctx, const void *data, size_t len)
{
	return len == 0 || SHA256_Update(ctx, data, len) == 1;
}

/* out = SHA-256(data); false (out zeroed) if libcrypto fails */
bool
hashing_sha256(const void *data, size_t len, uint8_t out[HASHING_SHA256_LEN])
{
	SHA256_CTX	ctx;
	bool		ok;

	ok = SHA256_Init(&ctx) == 1 &&
		sha256_update(&ctx, data, len) &&
		SHA256_Final(out, &ctx) == 1;
	if (!ok)
		fail(&ctx, out);
	return ok;
}

/* out = HMAC-SHA-256(key, data); false (out zeroed) if libcrypto fails */
bool
hashing_hmac_sha256(const void *key, size_t keylen,
					const void *data, size_t len,
					uint8_t out[HASHING_SHA256_LEN])
{
	uint8_t		k0[SHA256_BLOCK_LEN];
	uint8_t		pad[SHA256_BLOCK_LEN];
	uint8_t		inner[HASHING_SHA256_LEN];
	SHA256_CTX	ctx;
	bool		ok = true;
	int			i;

	/* K0: the key, hashed first if longer than a block, zero-padded */
	memset(k0, 0, sizeof(k0));
	if (keylen > SHA256_BLOCK_LEN)
		ok = hashing_sha256(key, keylen, k0);
	else if (keylen > 0)
		memcpy(k0, key, keylen);

	/* inner = H((K0 ^ ipad) || data) */
	for (i = 0; i < SHA256_BLOCK_LEN; i++)
		pad[i] = k0[i] ^ 0x36;
	ok = ok &&
		SHA256_Init(&ctx) == 1 &&
		SHA256_Update(&ctx, pad, sizeof(pad)) == 1 &&
		sha256_update(&ctx, data, len) &&
		SHA256_Final(inner, &ctx) == 1;

	/* out = H((K0 ^ opad) || inner) */
	for (i = 0; i < SHA256_BLOCK_LEN; i++)
		pad[i] = k0[i] ^ 0x5c;
	ok = ok &&
		SHA256_Init(&ctx) == 1 &&
		SHA256_Update(&ctx, pad, sizeof(pad)) == 1 &&
		SHA256_Update(&ctx, inner, sizeof(inner)) == 1 &&
		SHA256_Final(out, &ctx) == 1;

	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	if (!ok)
		fail(&ctx, out);
	return ok;
}
