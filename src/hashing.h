/*-------------------------------------------------------------------------
 * hashing.h
 *	  SHA-256 and HMAC-SHA-256 of keys, in pure C (FIPS 180-4, RFC 2104).
 *
 * No PostgreSQL headers and no allocation: the verification hot path hashes
 * ~46 bytes per call on the stack.  Unit-tested against the NIST vectors
 * and, in the regression suite, against pgcrypto's digest().
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_HASHING_H
#define APIKEY_HASHING_H

#include <stddef.h>
#include <stdint.h>

#define HASHING_SHA256_LEN 32

/* out = SHA-256(data) */
extern void hashing_sha256(const void *data, size_t len, uint8_t out[HASHING_SHA256_LEN]);

/* out = HMAC-SHA-256(key, data) */
extern void hashing_hmac_sha256(const void *key, size_t keylen,
								const void *data, size_t len,
								uint8_t out[HASHING_SHA256_LEN]);

#endif							/* APIKEY_HASHING_H */
