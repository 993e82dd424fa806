/*-------------------------------------------------------------------------
 * import.h
 *	  Keys minted elsewhere: the registered foreign formats verification
 *	  accepts besides its own (keyformats.c), and keys imported by their
 *	  SHA-256 or bcrypt hash, re-stored on first use (import.c).
 *
 * Verification calls these only for a key that is not of apikey's own
 * format; none of them raises, none of them shows a key or a hash.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_IMPORT_H
#define APIKEY_IMPORT_H

#include "apikey.h"

#define IMPORT_PREFIX_MAX		32	/* characters of a format's prefix, of a lookup prefix */
#define IMPORT_FORMAT_LEN_MAX	256 /* characters after a format's prefix */

/* keyformats.c: true when key matches a registered format; *lookup_length as registered (0: none) */
extern bool keyformats_match(const char *key, size_t len, int *lookup_length);

/* keyformats.c: the registered format a bcrypt import's lookup prefix belongs to, 0 if none */
extern bool keyformats_lookup_prefix_ok(const char *prefix, size_t len);

/*
 * import.c: finds the bcrypt import whose lookup prefix is the first
 * lookup_length characters of key and whose bcrypt hash matches it (through
 * pgcrypto's crypt()); fills row as keystore_lookup_by_hash() does.  *snap
 * as for verify_lookup_snap().  False on no match and on any error.
 */
extern bool import_lookup_bcrypt(const char *key, size_t len, int lookup_length,
								 Snapshot *snap, KeyRow *row);

/*
 * import.c: re-stores bcrypt import id under the scheme of a new key, after
 * a valid verification of key.  Skipped when it cannot be done without
 * waiting or risk; never raises.
 */
extern void import_restore(int64 id, const char *key, size_t len);

#endif							/* APIKEY_IMPORT_H */
