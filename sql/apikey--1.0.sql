/* apikey--1.0.sql: the tables, functions, roles and grants of apikey 1.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION apikey" to load this file. \quit

-------------------------------------------------------------------------------
-- Roles (cluster-wide, created when absent, left alone by DROP EXTENSION)
-------------------------------------------------------------------------------
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'apikey_verifier') THEN
		CREATE ROLE apikey_verifier NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'apikey_admin') THEN
		CREATE ROLE apikey_admin NOLOGIN;
	END IF;
END
$roles$;

-------------------------------------------------------------------------------
-- Tables (schema apikey; every row belongs to the user, so pg_dump keeps it)
-------------------------------------------------------------------------------
CREATE SCHEMA apikey;
COMMENT ON SCHEMA apikey IS 'tables of the apikey extension';
REVOKE ALL ON SCHEMA apikey FROM PUBLIC;

-- Where the application's users live (one row at most: set by apikey_bind_users)
CREATE TABLE apikey.user_binding (
	singleton		boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	table_schema	name NOT NULL,
	table_name		name NOT NULL,
	id_column		name NOT NULL,
	tenant_column	name NOT NULL,
	role_column		name NOT NULL,
	active_column	name,
	bound_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE apikey.user_binding IS 'the application''s user table, as bound by apikey_bind_users()';

-- The keys: only the SHA-256 of a key is stored, never the key
CREATE TABLE apikey.keys (
	id				bigserial PRIMARY KEY,
	tenant_id		text NOT NULL,
	user_id			text NOT NULL,
	name			text NOT NULL CHECK (pg_catalog.char_length(name) BETWEEN 1 AND 100),
	prefix			text NOT NULL,
	suffix			text NOT NULL,
	key_hash		bytea NOT NULL CHECK (pg_catalog.octet_length(key_hash) OPERATOR(pg_catalog.=) 32),
	environment		text NOT NULL CHECK (environment OPERATOR(pg_catalog.=) ANY (ARRAY['live', 'test'])),
	scopes			text[],
	metadata		jsonb,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at		timestamptz,
	last_used_at	timestamptz,
	enabled			boolean NOT NULL DEFAULT true,
	revoked_at		timestamptz,
	revoke_reason	text,
	rotated_from	bigint REFERENCES apikey.keys (id)
);
CREATE UNIQUE INDEX keys_key_hash_idx ON apikey.keys (key_hash);
CREATE INDEX keys_tenant_id_idx ON apikey.keys (tenant_id, id);
CREATE INDEX keys_rotated_from_idx ON apikey.keys (rotated_from) WHERE rotated_from IS NOT NULL;

COMMENT ON TABLE apikey.keys IS 'API keys: SHA-256 of the key, display prefix, owner, state; never the key itself';
COMMENT ON COLUMN apikey.keys.prefix IS 'first 12 characters of the key, for display';
COMMENT ON COLUMN apikey.keys.suffix IS 'last 4 characters of the key (part of its checksum), for previews';
COMMENT ON COLUMN apikey.keys.key_hash IS 'SHA-256 of the whole key';
COMMENT ON COLUMN apikey.keys.revoked_at IS 'set once, never cleared: a revoked key stays revoked';

SELECT pg_catalog.pg_extension_config_dump('apikey.keys', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.keys_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.user_binding', '');

-- A revoked key stays revoked, and a key's hash and identity never change
CREATE FUNCTION apikey.keys_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $guard$
BEGIN
	IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
		RAISE EXCEPTION 'API key % is revoked', OLD.id
			USING ERRCODE = '55000', DETAIL = 'Revocation is permanent: revoked_at cannot be changed or cleared.';
	END IF;
	IF NEW.key_hash IS DISTINCT FROM OLD.key_hash
		OR NEW.id IS DISTINCT FROM OLD.id
		OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
		OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
		RAISE EXCEPTION 'the id, tenant, user and hash of API key % cannot be changed', OLD.id
			USING ERRCODE = '55000', HINT = 'Revoke the key and create a new one.';
	END IF;
	RETURN NEW;
END
$guard$;

CREATE TRIGGER keys_guard BEFORE UPDATE ON apikey.keys
	FOR EACH ROW EXECUTE FUNCTION apikey.keys_guard();

-- Any change of the binding resets every backend's cached view of the user table
CREATE FUNCTION apikey.binding_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'apikey_binding_changed'
LANGUAGE C;

CREATE TRIGGER user_binding_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.user_binding
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.binding_changed();

-------------------------------------------------------------------------------
-- SQL functions
--
-- Management functions are SECURITY DEFINER with a fixed search_path; the C
-- code behind them schema-qualifies every object.  apikey_verify is not: it
-- reads the tables through their indexes in C, without SQL and without
-- search_path, and performs its rare last-used write as the tables' owner.
-------------------------------------------------------------------------------

CREATE FUNCTION apikey_bind_users(
	users regclass,
	id_column name DEFAULT 'id',
	tenant_column name DEFAULT 'tenant_id',
	role_column name DEFAULT 'role',
	active_column name DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_bind_users'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_create(
	tenant_id text,
	user_id text,
	name text,
	expires_at timestamptz DEFAULT NULL,
	environment text DEFAULT 'live',
	scopes text[] DEFAULT NULL,
	metadata jsonb DEFAULT NULL)
RETURNS TABLE(id bigint, key text, prefix text, created_at timestamptz, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'apikey_create'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_verify(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb)
AS 'MODULE_PATHNAME', 'apikey_verify'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;

CREATE FUNCTION apikey_revoke(key_id bigint, reason text DEFAULT NULL, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_revoke_id'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_revoke(key text, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_revoke_key'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_disable(key_id bigint, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_disable'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_enable(key_id bigint, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_enable'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_rotate(key_id bigint, grace interval DEFAULT '48 hours', tenant_id text DEFAULT NULL)
RETURNS TABLE(id bigint, key text, prefix text, created_at timestamptz, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'apikey_rotate'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_list(tenant_id text)
RETURNS TABLE(id bigint, user_id text, name text, prefix text, preview text, environment text,
			  scopes text[], created_at timestamptz, expires_at timestamptz,
			  last_used_at timestamptz, enabled boolean, revoked_at timestamptz, status text)
AS 'MODULE_PATHNAME', 'apikey_list'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_stats()
RETURNS TABLE(valid bigint, missing bigint, malformed bigint, unknown bigint,
			  revoked bigint, disabled bigint, expired bigint, user_inactive bigint,
			  last_used_written bigint, last_used_dropped bigint, last_used_pending bigint,
			  shared boolean, stats_reset timestamptz)
AS 'MODULE_PATHNAME', 'apikey_stats'
LANGUAGE C VOLATILE;

CREATE FUNCTION apikey_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_stats_reset'
LANGUAGE C VOLATILE;

-------------------------------------------------------------------------------
-- Privileges: PUBLIC gets nothing; apikey_verifier verifies; apikey_admin manages
-------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA apikey FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_bind_users(regclass, name, name, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_create(text, text, text, timestamptz, text, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_verify(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_revoke(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_revoke(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_disable(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_enable(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_rotate(bigint, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_list(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_stats_reset() FROM PUBLIC;

GRANT USAGE ON SCHEMA apikey TO apikey_verifier, apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_verify(text) TO apikey_verifier, apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_create(text, text, text, timestamptz, text, text[], jsonb) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_revoke(bigint, text, text) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_revoke(text, text) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_disable(bigint, text) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_enable(bigint, text) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_rotate(bigint, interval, text) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_list(text) TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_stats() TO apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_stats_reset() TO apikey_admin;
