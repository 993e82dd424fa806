/*-------------------------------------------------------------------------
 * verify.c
 *	  The verification path: shape and checksum, hash, lookup by hash, key
 *	  state, then the user the key acts as, read live from the bound table.
 *
 * The order is the contract: malformed keys are refused in C before any
 * table is touched; a key's own state is checked before its user, with the
 * precedence revoked, disabled, expired (past expires_at, or idle longer
 * than apikey.max_idle: lifecycle.c), user_inactive, then rate_limited
 * (only a request that would be valid counts against the key's limit,
 * ratelimit.c).  Nothing here raises
 * on any input, and nothing here writes (last-used tracking is lastused.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "verify.h"
#include "pepper.h"
#include "binding.h"
#include "keystore.h"
#include "verify_cache.h"
#include "permissions.h"
#include "lastused.h"
#include "lifecycle.h"
#include "ratelimit.h"
#include "import.h"
#include "shmem.h"

static void verify_key_internal(const char *key, size_t len, bool key_null,
								KeystoreProbe *held, VerifyResult *result);

static const char *const status_names[] = {
	[VS_VALID] = "valid",
	[VS_MISSING] = "missing",
	[VS_MALFORMED] = "malformed",
	[VS_UNKNOWN] = "unknown",
	[VS_REVOKED] = "revoked",
	[VS_DISABLED] = "disabled",
	[VS_EXPIRED] = "expired",
	[VS_USER_INACTIVE] = "user_inactive",
	[VS_FORBIDDEN] = "forbidden",
	[VS_USAGE_EXCEEDED] = "usage_exceeded",
	[VS_RATE_LIMITED] = "rate_limited",
};

/* The SQL name of a status. */
const char *
verify_status_name(VerifyStatus status)
{
	return status_names[status];
}

/*
 * The hash to store for a new key and the name of its scheme: HMAC-SHA-256
 * keyed with apikey.pepper when one is set, SHA-256 of the key otherwise.
 * NULL when the hash could not be computed.
 */
const char *
verify_hash_for_new_key(const char *key, size_t len, uint8 *hash)
{
	if (apikey_pepper != NULL && apikey_pepper[0] != '\0')
		return hashing_hmac_sha256(apikey_pepper, strlen(apikey_pepper), key, len, hash) ?
			"hmac-sha256" : NULL;
	return hashing_sha256(key, len, hash) ? "sha256" : NULL;
}

/*
 * Finds the stored row of a well-formed key, trying each scheme a key may
 * have been stored with: HMAC with the current pepper, HMAC with the
 * previous pepper (while peppers rotate), then plain SHA-256.  sha is the
 * key's SHA-256 when the caller has it already, else NULL.  A scheme whose
 * hash cannot be computed finds nothing (fail closed).  Every probe reads
 * with *snap; when *snap is NULL the first probe takes the latest snapshot
 * (after locking apikey.keys) and leaves it in *snap for the caller.  The
 * row holds only what verification reads (keystore_lookup_by_hash()).
 * held: the probe the call site keeps open for its statement, or NULL.
 */
bool
verify_lookup_snap(const char *key, size_t len, const uint8 *sha, Snapshot *snap,
				   KeystoreProbe *held, KeyRow *row)
{
	uint8		hash[HASHING_SHA256_LEN];
	bool		found = false;

	if (apikey_pepper != NULL && apikey_pepper[0] != '\0')
	{
		found = hashing_hmac_sha256(apikey_pepper, strlen(apikey_pepper), key, len, hash) &&
			keystore_lookup_by_hash(hash, snap, held, row);
	}
	if (!found && apikey_previous_pepper != NULL && apikey_previous_pepper[0] != '\0')
	{
		found = hashing_hmac_sha256(apikey_previous_pepper, strlen(apikey_previous_pepper),
									key, len, hash) &&
			keystore_lookup_by_hash(hash, snap, held, row);
	}
	if (!found)
	{
		if (sha == NULL && hashing_sha256(key, len, hash))
			sha = hash;
		found = sha != NULL && keystore_lookup_by_hash(sha, snap, held, row);
	}
	explicit_bzero(hash, sizeof(hash));
	return found;
}

/* verify_lookup_snap() with the latest snapshot. */
bool
verify_lookup(const char *key, size_t len, const uint8 *sha, KeyRow *row)
{
	Snapshot	snap = NULL;

	return verify_lookup_snap(key, len, sha, &snap, NULL, row);
}

/* True when the key's expires_at has passed (at statement start). */
static inline bool
verify_past_expiry(const KeyRow *row)
{
	return !row->expires_null && row->expires_at <= GetCurrentStatementStartTimestamp();
}

/* The status of a stored key and its user as read, by the contract's precedence. */
static VerifyStatus
verify_decide(const KeyRow *row, const UserInfo *user)
{
	if (row->revoked)
		return VS_REVOKED;
	if (!row->enabled)
		return VS_DISABLED;
	if (verify_past_expiry(row) || lifecycle_idle(row))
		return VS_EXPIRED;
	if (!user->found || !user->active ||
		user->tenant_id == NULL || strcmp(user->tenant_id, row->tenant_id) != 0)
		return VS_USER_INACTIVE;
	return VS_VALID;
}

/*
 * The status of a stored key, reading its user only when the key itself is
 * usable (used by apikey_list); fills user then.
 */
VerifyStatus
verify_row_status(KeyRow *row, UserInfo *user)
{
	VerifyStatus status;

	memset(user, 0, sizeof(*user));
	status = verify_decide(row, user);
	if (status != VS_USER_INACTIVE)
		return status;
	(void) binding_lookup_user(row->user_id, user);
	return verify_decide(row, user);
}

/* The apikey_stats() counter of a status into *counter; false when it is not counted. */
static bool
verify_status_counter(VerifyStatus status, ApikeyCounter *counter)
{
	switch (status)
	{
		case VS_VALID:
		case VS_MISSING:
		case VS_MALFORMED:
		case VS_UNKNOWN:
		case VS_REVOKED:
		case VS_DISABLED:
		case VS_EXPIRED:
		case VS_USER_INACTIVE:
			/* the first counters are these statuses, in this order */
			*counter = (ApikeyCounter) status;
			return true;
		case VS_RATE_LIMITED:
			*counter = CTR_RATE_LIMITED;
			return true;
		case VS_USAGE_EXCEEDED:
		case VS_FORBIDDEN:
			break;
	}
	return false;
}

/* Verifies a key (len bytes, may hold anything) into result, and counts it. */
void
verify_key(const char *key, size_t len, bool key_null, VerifyResult *result)
{
	verify_key_held(key, len, key_null, NULL, result);
}

/*
 * verify_key(), reading apikey.keys (on a cache miss) through held, the
 * probe the calling SQL function keeps open for the rest of its statement.
 */
void
verify_key_held(const char *key, size_t len, bool key_null, KeystoreProbe *held,
				VerifyResult *result)
{
	ApikeyCounter counter;

	verify_key_internal(key, len, key_null, held, result);
	if (verify_status_counter(result->status, &counter))
		stats_add(counter, 1);
}

/*
 * Does the work of verify_key(): shape and checksum, then the cache of keys
 * seen before (verify_cache.c), else the tables: the key's row, its user,
 * and the user's role permissions, all remembered for next time.
 */
static void
verify_key_internal(const char *key, size_t len, bool key_null, KeystoreProbe *held,
					VerifyResult *result)
{
	KeyfmtParsed parsed;
	uint8		sha[HASHING_SHA256_LEN];
	ArrayType  *role_perms = NULL;
	int			bcrypt_lookup = 0;	/* a registered foreign format's lookup length */
	bool		via_bcrypt = false; /* found as a bcrypt import (import.c) */

	memset(result, 0, sizeof(*result));
	if (key_null || len == 0)
	{
		result->status = VS_MISSING;
		return;
	}
	/* a key of apikey's own format never takes the foreign path */
	if (keyfmt_parse(key, len, &parsed) != KEYFMT_OK &&
		!keyformats_match(key, len, &bcrypt_lookup))
	{
		result->status = VS_MALFORMED;
		return;
	}

	/* a key whose hash cannot be computed is not valid (never raises) */
	if (!hashing_sha256(key, len, sha))
	{
		result->status = VS_UNKNOWN;
		return;
	}
	if (!verify_cache_lookup(sha, &result->row, &result->user, &role_perms))
	{
		/* read before the tables: see the protocol in verify_cache.c */
		uint64		gen = verify_cache_generation();

		/*
		 * One snapshot for the key and its user, taken after gen was read
		 * and after apikey.keys was locked: a change committed after it
		 * sends its invalidation after it too, so the store below is either
		 * skipped or emptied later (the protocol in verify_cache.c).  The
		 * user probe takes a newer one when opening the user table processed
		 * an invalidation (binding.c); GetLatestSnapshot() refills one static
		 * snapshot, so snap only ever moves forward.
		 */
		Snapshot	snap = NULL;

		if (!verify_lookup_snap(key, len, sha, &snap, held, &result->row) &&
			!(via_bcrypt = import_lookup_bcrypt(key, len, bcrypt_lookup, &snap, &result->row)))
		{
			result->status = VS_UNKNOWN;
			return;
		}
		/* a key without a limit of its own takes its tenant's default */
		tenant_limits_default(&result->row, snap, gen);
		(void) binding_lookup_user_snap(result->row.user_id, snap, &result->user);
		if (result->user.found && permissions_bound())
			role_perms = permissions_of_role(result->user.role);
		/*
		 * a bound table without its invalidation triggers cannot be cached;
		 * nor a bcrypt import, re-stored below or by a later verification
		 */
		if (binding_cacheable() && permissions_cacheable() && !via_bcrypt)
			verify_cache_store(gen, sha, &result->row, &result->user, role_perms);
	}

	result->status = verify_decide(&result->row, &result->user);

	/*
	 * Idle by the last use this backend read: other backends may have used
	 * the key since (the cache keeps the last use it read, and a use alone
	 * invalidates nothing), so read it again before answering expired.
	 */
	if (result->status == VS_EXPIRED && !verify_past_expiry(&result->row) &&
		lifecycle_refresh_last_use(&result->row))
	{
		verify_cache_touch(sha, result->row.last_used_at);
		result->status = verify_decide(&result->row, &result->user);
	}
	if (result->status != VS_VALID)
		return;
	/* only a request that would be valid counts against the key's limit */
	if (result->row.rate_limit > 0 &&
		!ratelimit_admit(&result->row, &result->retry_after_us))
	{
		result->status = VS_RATE_LIMITED;
		return;
	}
	if (via_bcrypt)
		import_restore(result->row.id, key, len);
	if (role_perms != NULL)
		result->permissions =
			permissions_for_key(role_perms,
								result->row.scopes_null ? NULL : DatumGetArrayTypeP(result->row.scopes));
	if (lastused_record(&result->row))
		verify_cache_touch(sha, GetCurrentTimestamp());
}
