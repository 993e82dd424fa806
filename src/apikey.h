/*-------------------------------------------------------------------------
 * apikey.h
 *	  The types every part of the apikey extension shares: the schema's
 *	  names, the verification statuses, a key's row and the user it acts as.
 *
 * Each .c file owns one concern (see its banner) and declares what it
 * offers in a header of the same name (keystore.h, verify.h, binding.h ...),
 * which includes only this one: no header includes a module above it.
 * Nothing here may carry a key or a hash into an error message.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_H
#define APIKEY_H

#include "postgres.h"

#include "compat.h"

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/snapshot.h"

#include "hashing.h"
#include "keyfmt.h"

/* Schema and objects created by sql/apikey--*.sql */
#define APIKEY_SCHEMA				"apikey"
#define APIKEY_KEYS_TABLE			"keys"
#define APIKEY_KEYS_HASH_INDEX		"keys_key_hash_idx"
#define APIKEY_BINDING_TABLE		"user_binding"

#define APIKEY_NAME_MAX				100

/* Verification statuses, in the order of the SQL contract */
typedef enum VerifyStatus
{
	VS_VALID = 0,
	VS_MISSING,
	VS_MALFORMED,
	VS_UNKNOWN,
	VS_REVOKED,
	VS_DISABLED,
	VS_EXPIRED,
	VS_USER_INACTIVE,
	VS_FORBIDDEN				/* apikey_authorize only; never counted */
} VerifyStatus;


/* One row of apikey.keys, as the C code needs it (keystore.c) */
typedef struct KeyRow
{
	int64		id;
	char	   *tenant_id;
	char	   *user_id;
	char	   *name;
	char	   *prefix;
	char	   *suffix;
	char	   *environment;
	Datum		scopes;			/* text[] */
	bool		scopes_null;
	Datum		metadata;		/* jsonb */
	bool		metadata_null;
	TimestampTz created_at;
	TimestampTz expires_at;
	bool		expires_null;
	TimestampTz last_used_at;
	bool		last_used_null;
	bool		enabled;
	bool		revoked;
	TimestampTz revoked_at;
	char	   *hash_scheme;	/* NULL before version 1.1 */
} KeyRow;

/* The user a key acts as, read from the bound user table (binding.c) */
typedef struct UserInfo
{
	bool		found;			/* a row with that id exists */
	bool		active;			/* active column true (or no active column) */
	char	   *tenant_id;		/* canonical text of the tenant column */
	char	   *role;			/* text of the role column, NULL if SQL NULL */
} UserInfo;

#endif							/* APIKEY_H */
