/*-------------------------------------------------------------------------
 * verify.h
 *	  The verification path (verify.c): shape, hash, lookup, state, user.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_VERIFY_H
#define APIKEY_VERIFY_H

#include "apikey.h"
#include "keystore.h"

/* verify.c: the verification path */
extern const char *verify_status_name(VerifyStatus status);

typedef struct VerifyResult
{
	VerifyStatus status;
	KeyRow		row;			/* filled for every status after VS_UNKNOWN */
	UserInfo	user;			/* filled for VS_VALID */
	ArrayType  *permissions;	/* VS_VALID with bound permissions, else NULL */
} VerifyResult;

extern void verify_key(const char *key, size_t len, bool key_null, VerifyResult *result);
extern void verify_key_held(const char *key, size_t len, bool key_null, KeystoreProbe *held,
							VerifyResult *result);
extern VerifyStatus verify_row_status(KeyRow *row, UserInfo *user);
extern bool verify_lookup(const char *key, size_t len, const uint8 *sha, KeyRow *row);
extern bool verify_lookup_snap(const char *key, size_t len, const uint8 *sha,
							  Snapshot *snap, KeystoreProbe *held, KeyRow *row);
extern const char *verify_hash_for_new_key(const char *key, size_t len, uint8 *hash);

#endif							/* APIKEY_VERIFY_H */
