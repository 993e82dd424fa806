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
	VS_FORBIDDEN,				/* apikey_authorize only; never counted */
	VS_USAGE_EXCEEDED,			/* apikey_consume only (credits.c); never counted */
	VS_RATE_LIMITED				/* over the key's rate limit (ratelimit.c); counted in its own column */
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
	int32		rate_limit;		/* requests per rate_window_us, 0: none (the key's, else its tenant's) */
	int64		rate_window_us;
} KeyRow;

/*
 * The rate limit and usage credits of a key, as given to apikey_create or
 * apikey_update, or as stored (credits.c).  Each field has its own null flag.
 */
typedef struct KeyLimits
{
	bool		rate_limit_null;
	int32		rate_limit;
	bool		rate_window_null;
	Interval	rate_window;
	bool		credits;		/* a row of apikey.key_credits (stored or to store) */
	bool		remaining_null;
	int64		remaining;
	bool		refill_amount_null;
	int64		refill_amount;
	bool		refill_interval_null;
	Interval	refill_interval;
} KeyLimits;

/* The user a key acts as, read from the bound user table (binding.c) */
typedef struct UserInfo
{
	bool		found;			/* a row with that id exists */
	bool		active;			/* active column true (or no active column) */
	char	   *tenant_id;		/* canonical text of the tenant column */
	char	   *role;			/* text of the role column, NULL if SQL NULL */
} UserInfo;

#endif							/* APIKEY_H */
