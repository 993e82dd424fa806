/* apikey--1.1--1.1.1.sql: hardening release (issue 9) and faster verification (issue 11) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION apikey UPDATE TO '1.1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section 1: verification caches (bound tables' invalidation triggers)
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Section 2: last-used tracking
-- ---------------------------------------------------------------------------

-- Without shared_preload_libraries a verification records its use here, not
-- in apikey.keys, so the verifying transaction never locks a key's row and a
-- revoke, disable or rotate never waits for it (issue 9, finding 7).  The
-- last use of a key is the newer of apikey.keys.last_used_at (written by the
-- flush worker when preloaded) and this table's.  No foreign key: its check
-- would lock the key's row (FOR KEY SHARE) for the verifying transaction.
CREATE TABLE apikey.key_usage (
	key_id			bigint PRIMARY KEY,
	last_used_at	timestamptz NOT NULL
);
COMMENT ON TABLE apikey.key_usage IS 'last use of a key recorded by verification without shared_preload_libraries; the last use is the newer of this and apikey.keys.last_used_at';
-- Like the other tables: no grant to anyone (a new table gives PUBLIC
-- nothing; an explicit REVOKE would only write the owner's default ACL).
SELECT pg_catalog.pg_extension_config_dump('apikey.key_usage', '');

-- ---------------------------------------------------------------------------
-- Section 3: management functions
-- ---------------------------------------------------------------------------
