/*-------------------------------------------------------------------------
 * keystore.h
 *	  Access to apikey.keys: probes by hash and id, inserts, state changes (keystore.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_KEYSTORE_H
#define APIKEY_KEYSTORE_H

#include "apikey.h"

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
							 const char *hash_scheme, const KeyLimits *limits,
							 TimestampTz *created_at);
extern bool keystore_revoke(int64 id, const char *reason);
extern bool keystore_set_enabled(int64 id, bool enabled);
extern void keystore_cap_expiry(int64 id, TimestampTz expires_at);
extern void keystore_touch(int64 id, TimestampTz used_at);
extern void keystore_invalidate(void);
extern SPIPlanPtr keystore_prepare(const char *sql, int nargs, Oid *argtypes);
extern void keystore_spi_connect(void);
extern SPIPlanPtr keystore_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes);
extern SPIPlanPtr keystore_connect_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes);
extern bytea *keystore_hash_bytea(const uint8 *hash);
extern void keystore_scopes_params(Datum *values, char *nulls, int first,
								   Datum scopes, bool scopes_null,
								   Datum metadata, bool metadata_null,
								   TimestampTz expires_at, bool expires_null);
extern void keystore_key_params(Datum *values, char *nulls, int nargs,
								const char *tenant_id, const char *user_id,
								const char *name, const char *prefix,
								const char *environment,
								Datum scopes, bool scopes_null,
								Datum metadata, bool metadata_null,
								TimestampTz expires_at, bool expires_null);

/* keystore.c: the role that owns apikey.keys, for writes done on its behalf */
extern void keystore_become_owner(Oid *save_userid, int *save_sec_context);
extern void keystore_restore_user(Oid save_userid, int save_sec_context);

#endif							/* APIKEY_KEYSTORE_H */
