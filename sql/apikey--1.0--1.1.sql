/* apikey--1.0--1.1.sql: roles and permissions, request context, audit trail, pepper */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION apikey UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- Keys: who created them, and how their hash was made
-------------------------------------------------------------------------------
ALTER TABLE apikey.keys
	ADD COLUMN created_by text,
	ADD COLUMN hash_scheme text NOT NULL DEFAULT 'sha256'
		CHECK (hash_scheme OPERATOR(pg_catalog.=) ANY (ARRAY['sha256', 'hmac-sha256']));
COMMENT ON COLUMN apikey.keys.created_by IS 'apikey.actor (application user id) that created the key, if one was set';
COMMENT ON COLUMN apikey.keys.hash_scheme IS 'sha256: SHA-256 of the key; hmac-sha256: HMAC-SHA-256 keyed with apikey.pepper';

-------------------------------------------------------------------------------
-- Where the application's roles and permissions live
-------------------------------------------------------------------------------
CREATE TABLE apikey.role_binding (
	singleton		boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	table_schema	name NOT NULL,
	table_name		name NOT NULL,
	name_column		name NOT NULL,
	parent_column	name NOT NULL,
	bound_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE apikey.role_binding IS 'the application''s role table, as bound by apikey_bind_roles()';

CREATE TABLE apikey.permission_binding (
	singleton			boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	table_schema		name NOT NULL,
	table_name			name NOT NULL,
	role_column			name NOT NULL,
	permission_column	name NOT NULL,
	bound_at			timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE apikey.permission_binding IS 'the application''s role-to-permission table, as bound by apikey_bind_permissions()';

SELECT pg_catalog.pg_extension_config_dump('apikey.role_binding', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.permission_binding', '');

CREATE TRIGGER role_binding_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.role_binding
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.binding_changed();
CREATE TRIGGER permission_binding_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.permission_binding
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.binding_changed();

-------------------------------------------------------------------------------
-- Audit trail: every create, rotate, revoke, disable, enable and expiry
-- change, whoever made it (also a DBA's plain SQL); never the key or its hash
-------------------------------------------------------------------------------
CREATE TABLE apikey.events (
	id			bigserial PRIMARY KEY,
	key_id		bigint NOT NULL,
	tenant_id	text NOT NULL,
	action		text NOT NULL CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['create', 'rotate', 'revoke', 'disable', 'enable', 'expire'])),
	actor		text,
	db_role		name NOT NULL DEFAULT session_user,
	reason		text,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX events_key_id_idx ON apikey.events (key_id);
CREATE INDEX events_tenant_id_idx ON apikey.events (tenant_id, at);
COMMENT ON TABLE apikey.events IS 'audit trail of API keys: who did what to which key, and when';
COMMENT ON COLUMN apikey.events.actor IS 'the application user (apikey.actor) on whose behalf it was done, if set';
COMMENT ON COLUMN apikey.events.db_role IS 'the database session user that did it';

SELECT pg_catalog.pg_extension_config_dump('apikey.events', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.events_id_seq', '');

-- Changes of state are recorded by a trigger, so a DBA's plain SQL is audited
-- too; creations are recorded by apikey_create/apikey_rotate themselves, so
-- that restoring a dump (which inserts every key again) records nothing.
CREATE FUNCTION apikey.keys_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $audit$
DECLARE
	who text := NULLIF(pg_catalog.current_setting('apikey.actor', true), '');
BEGIN
	IF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
		INSERT INTO apikey.events (key_id, tenant_id, action, actor, reason)
			VALUES (NEW.id, NEW.tenant_id, 'revoke', who, NEW.revoke_reason);
	END IF;
	IF NEW.enabled IS DISTINCT FROM OLD.enabled THEN
		INSERT INTO apikey.events (key_id, tenant_id, action, actor)
			VALUES (NEW.id, NEW.tenant_id, CASE WHEN NEW.enabled THEN 'enable' ELSE 'disable' END, who);
	END IF;
	IF NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
		INSERT INTO apikey.events (key_id, tenant_id, action, actor, reason)
			VALUES (NEW.id, NEW.tenant_id, 'expire', who,
					pg_catalog.format('expires_at set to %s', NEW.expires_at));
	END IF;
	RETURN NULL;
END
$audit$;
REVOKE ALL ON FUNCTION apikey.keys_audit() FROM PUBLIC;

CREATE TRIGGER keys_audit AFTER UPDATE OF revoked_at, enabled, expires_at ON apikey.keys
	FOR EACH ROW EXECUTE FUNCTION apikey.keys_audit();

-------------------------------------------------------------------------------
-- Verification cache: each backend remembers keys it verified; every change
-- that could alter an answer empties every backend's cache (see
-- src/verify_cache.c).  apikey_bind_users/roles/permissions install the same
-- trigger on the application's tables.
-------------------------------------------------------------------------------
CREATE FUNCTION apikey.cache_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'apikey_cache_invalidate'
LANGUAGE C;
REVOKE ALL ON FUNCTION apikey.cache_invalidate() FROM PUBLIC;

CREATE TRIGGER keys_cache_invalidate
	AFTER UPDATE OF revoked_at, enabled, expires_at, scopes, metadata, environment, name
	OR DELETE OR TRUNCATE ON apikey.keys
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.cache_invalidate();
-- also under session_replication_role = replica (logical replication, restores)
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate;

-- the user table bound under 1.0 gets its trigger now
DO $bound$
DECLARE
	b record;
BEGIN
	SELECT * INTO b FROM apikey.user_binding;
	IF FOUND AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', b.table_schema, b.table_name)) IS NOT NULL THEN
		EXECUTE pg_catalog.format(
			'CREATE TRIGGER apikey_users_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I.%I'
			' FOR EACH STATEMENT EXECUTE FUNCTION apikey.cache_invalidate()',
			b.table_schema, b.table_name);
		EXECUTE pg_catalog.format('ALTER TRIGGER apikey_users_cache ON %I.%I DEPENDS ON EXTENSION apikey',
			b.table_schema, b.table_name);
		EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER apikey_users_cache',
			b.table_schema, b.table_name);
	END IF;
END
$bound$;

-------------------------------------------------------------------------------
-- New functions
-------------------------------------------------------------------------------
CREATE FUNCTION apikey_bind_roles(
	roles regclass,
	name_column name DEFAULT 'name',
	parent_column name DEFAULT 'parent')
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_bind_roles'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_bind_permissions(
	grants regclass,
	role_column name DEFAULT 'role',
	permission_column name DEFAULT 'permission')
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_bind_permissions'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION apikey_authorize(key text, permission text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb)
AS 'MODULE_PATHNAME', 'apikey_authorize'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;

CREATE FUNCTION apikey_authenticate(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb)
AS 'MODULE_PATHNAME', 'apikey_authenticate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;

CREATE FUNCTION apikey_verify_header(authorization text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb)
AS 'MODULE_PATHNAME', 'apikey_verify_header'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;

CREATE FUNCTION apikey_postgrest_pre_request()
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_postgrest_pre_request'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION apikey_bind_roles(regclass, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_bind_permissions(regclass, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_authorize(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_authenticate(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_verify_header(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_postgrest_pre_request() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey_authorize(text, text) TO apikey_verifier, apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_authenticate(text) TO apikey_verifier, apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_verify_header(text) TO apikey_verifier, apikey_admin;
GRANT EXECUTE ON FUNCTION apikey_postgrest_pre_request() TO apikey_verifier, apikey_admin;
