/*-------------------------------------------------------------------------
 * hashing.h
 *	  SHA-256 and HMAC-SHA-256 of keys, from OpenSSL's libcrypto (the
 *	  library PostgreSQL itself links).
 *
 * No PostgreSQL headers and no allocation: the verification hot path hashes
 * ~46 bytes per call on the stack.  Unit-tested against the NIST and RFC
 * 4231 vectors and, in the regression suite, against pgcrypto's digest().
 *
 * Both functions return false when libcrypto reports a failure; out is
 * then zeroed, and callers must treat the key as unverifiable (fail
 * closed), never as a match.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_HASHING_H
#define APIKEY_HASHING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASHING_SHA256_LEN 32

/* out = SHA-256(data); false (out zeroed) if libcrypto fails */
extern bool hashing_sha256(const void *data, size_t len, uint8_t out[HASHING_SHA256_LEN]);

/* out = HMAC-SHA-256(key, data); false (out zeroed) if libcrypto fails */
extern bool hashing_hmac_sha256(const void *key, size_t keylen,
								const void *data, size_t len,
								uint8_t out[HASHING_SHA256_LEN]);

#endif							/* APIKEY_HASHING_H */
