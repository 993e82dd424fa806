/*-------------------------------------------------------------------------
 * apikey.h
 *	  Declarations shared by the files of the apikey extension.
 *
 * Each .c file owns one concern (see its banner); this header is the only
 * place where they meet.  Nothing here may carry a key or a hash into an
 * error message.
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

/* GUCs (settings.c) */
extern char *apikey_namespace;
extern int	apikey_last_used_interval;
extern char *apikey_manage_permission;
extern char *apikey_manager_roles;

/* pepper.c: the peppers, read from apikey.pepper_file and apikey.previous_pepper_file */
extern char *apikey_pepper;
extern char *apikey_previous_pepper;
extern void pepper_init(void);
extern void pepper_require_usable(void);

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

extern const char *verify_status_name(VerifyStatus status);

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

/* binding.c: where the application's users live */
extern void binding_bind_users(Oid relid, const char *id_column,
							   const char *tenant_column, const char *role_column,
							   const char *active_column);
extern bool binding_is_bound(void);
extern bool binding_lookup_user(const char *user_id, UserInfo *info);
extern bool binding_lookup_user_snap(const char *user_id, Snapshot snap, UserInfo *info);
extern char *binding_canonical_user_id(const char *user_id);
extern char *binding_canonical_tenant_id(const char *tenant_id);
extern void binding_invalidate(void);
extern bool binding_cacheable(void);

/* keystore.c: access to apikey.keys */
typedef struct KeystoreProbe KeystoreProbe; /* the probe by hash one call site holds open */
extern KeystoreProbe *keystore_probe_new(MemoryContext cxt);
extern void keystore_probe_release(KeystoreProbe *probe);
extern bool keystore_lookup_by_hash(const uint8 *hash, Snapshot *snap, KeystoreProbe *held,
									KeyRow *row);
extern bool keystore_lookup_by_id(int64 id, KeyRow *row);
extern bool keystore_lookup_by_id_snap(int64 id, Snapshot *snap, KeyRow *row);
extern bool keystore_lock_by_id(int64 id, KeyRow *row);
extern bool keystore_has_successor(int64 id);
extern void keystore_list(const char *tenant_id, void (*emit) (KeyRow *row, void *arg), void *arg);
extern int64 keystore_insert(const char *tenant_id, const char *user_id,
							 const char *name, const char *prefix,
							 const char *suffix, const uint8 *hash,
							 const char *environment,
							 Datum scopes, bool scopes_null,
							 Datum metadata, bool metadata_null,
							 TimestampTz expires_at, bool expires_null,
							 int64 rotated_from, const char *created_by,
							 const char *hash_scheme, TimestampTz *created_at);
extern bool keystore_revoke(int64 id, const char *reason);
extern bool keystore_set_enabled(int64 id, bool enabled);
extern void keystore_cap_expiry(int64 id, TimestampTz expires_at);
extern void keystore_touch(int64 id, TimestampTz used_at);
extern void keystore_invalidate(void);
extern SPIPlanPtr keystore_prepare(const char *sql, int nargs, Oid *argtypes);

/* keystore.c: the role that owns apikey.keys, for writes done on its behalf */
extern void keystore_become_owner(Oid *save_userid, int *save_sec_context);
extern void keystore_restore_user(Oid save_userid, int save_sec_context);

/* verify.c: the verification path */
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

/* verify_cache.c: keys seen before, until an invalidation says otherwise */
extern int	apikey_verify_cache_size;
extern bool verify_cache_lookup(const uint8 *hash, KeyRow *row, UserInfo *user,
								ArrayType **permissions);
extern uint64 verify_cache_generation(void);
extern void verify_cache_store(uint64 gen, const uint8 *hash, const KeyRow *row,
							   const UserInfo *user, ArrayType *permissions);
extern void verify_cache_touch(const uint8 *hash, TimestampTz used_at);
extern void verify_cache_reset(void);
extern Datum apikey_cache_invalidate(PG_FUNCTION_ARGS);

/* permissions.c: roles and permissions from the application's tables */
extern bool permissions_bound(void);
extern bool permissions_cacheable(void);
extern ArrayType *permissions_of_role(const char *role);
extern ArrayType *permissions_for_key(ArrayType *user_perms, ArrayType *scopes);
extern bool permissions_array_contains(ArrayType *arr, const char *s);
extern void permissions_bind_roles(Oid relid, const char *name_column, const char *parent_column);
extern void permissions_bind_permissions(Oid relid, const char *role_column,
										 const char *permission_column);

/* lastused.c, lastused_worker.c: last-used tracking */
extern int	apikey_last_used_flush_interval;
extern bool lastused_record(const KeyRow *row);
extern void lastused_register_launcher(void);

/* lastused_standby.c: shipping a standby's notes to the primary */
extern char *apikey_primary_conninfo;
extern void lastused_ship_to_primary(void);

/* the actor setting (settings.c) */
extern char *apikey_actor;

#endif							/* APIKEY_H */
