/*-------------------------------------------------------------------------
 * verify_sql.h
 *	  What the SQL verification entry points (verify_sql.c) share with the
 *	  PostgREST hook (postgrest.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_VERIFY_SQL_H
#define APIKEY_VERIFY_SQL_H

#include "apikey.h"
#include "keystore.h"
#include "verify.h"

/* verifies an Authorization header value ("Bearer <key>") into r; never raises */
extern void verify_header(const char *header, size_t len, bool isnull, KeystoreProbe *held,
						  VerifyResult *r);

/* publishes who a valid key acts as for the transaction; raises PT401 otherwise */
extern void authenticate(VerifyResult *r);

#endif							/* APIKEY_VERIFY_SQL_H */
