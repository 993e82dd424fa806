/* apikey--1.1--1.1.1.sql: hardening release (issue 9) and faster verification (issue 11) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION apikey UPDATE TO '1.1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section 1: verification caches (bound tables' invalidation triggers)
-- ---------------------------------------------------------------------------

-- An UPDATE invalidates when the stored row changed, whatever columns the
-- statement named: a BEFORE trigger that changes a column is seen too.
-- Row triggers wherever possible: logical replication's apply worker fires
-- row triggers (when ENABLE ALWAYS), never statement triggers.
DROP TRIGGER keys_cache_invalidate ON apikey.keys;
CREATE TRIGGER keys_cache_invalidate AFTER DELETE ON apikey.keys
	FOR EACH ROW EXECUTE FUNCTION apikey.cache_invalidate();
CREATE TRIGGER keys_cache_invalidate_update AFTER UPDATE ON apikey.keys
	FOR EACH ROW EXECUTE FUNCTION apikey.cache_invalidate(
		'revoked_at', 'enabled', 'expires_at', 'scopes', 'metadata', 'environment',
		'name', 'prefix', 'suffix', 'hash_scheme');
CREATE TRIGGER keys_cache_invalidate_truncate AFTER TRUNCATE ON apikey.keys
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.cache_invalidate();
-- also under session_replication_role = replica (logical replication, restores)
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate;
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate_update;
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate_truncate;

-- The audit trail, likewise: an UPDATE OF trigger does not fire when a BEFORE
-- trigger (say, one a DBA adds) changes the column, so a disable made that
-- way went unrecorded.  The WHEN clause sees the stored row.
DROP TRIGGER keys_audit ON apikey.keys;
CREATE TRIGGER keys_audit AFTER UPDATE ON apikey.keys
	FOR EACH ROW
	WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
		  OR OLD.enabled IS DISTINCT FROM NEW.enabled
		  OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
	EXECUTE FUNCTION apikey.keys_audit();

-- Bound tables get their triggers in the new shape by being bound again
-- (row triggers for INSERT, UPDATE and DELETE, the users' UPDATE trigger
-- comparing the bound columns; a statement trigger for TRUNCATE).  A binding that can no longer be
-- made (the table is gone, or a role/permission table is partitioned) is
-- left as it is: verification fails closed on it, with a WARNING.
DO $rebind$
DECLARE
	b record;
BEGIN
	FOR b IN SELECT * FROM apikey.user_binding LOOP
		BEGIN
			PERFORM @extschema@.apikey_bind_users(
				pg_catalog.format('%I.%I', b.table_schema, b.table_name)::pg_catalog.regclass,
				b.id_column, b.tenant_column, b.role_column, b.active_column);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'apikey: could not bind the user table %.% again: %',
				b.table_schema, b.table_name, SQLERRM;
		END;
	END LOOP;
	FOR b IN SELECT * FROM apikey.role_binding LOOP
		BEGIN
			PERFORM @extschema@.apikey_bind_roles(
				pg_catalog.format('%I.%I', b.table_schema, b.table_name)::pg_catalog.regclass,
				b.name_column, b.parent_column);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'apikey: could not bind the role table %.% again: %',
				b.table_schema, b.table_name, SQLERRM;
		END;
	END LOOP;
	FOR b IN SELECT * FROM apikey.permission_binding LOOP
		BEGIN
			PERFORM @extschema@.apikey_bind_permissions(
				pg_catalog.format('%I.%I', b.table_schema, b.table_name)::pg_catalog.regclass,
				b.role_column, b.permission_column);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'apikey: could not bind the permission table %.% again: %',
				b.table_schema, b.table_name, SQLERRM;
		END;
	END LOOP;
END
$rebind$;

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
