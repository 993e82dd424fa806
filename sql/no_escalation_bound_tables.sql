--
-- The owner of a bound table never gains the extension owner's rights
-- (issue 9, finding 1).  The application's tables belong to esc_owner, a
-- LOGIN role that is not a superuser; a superuser bound them.  esc_owner
-- then plants code that makes itself a superuser when run by one: a cast
-- from a composite type to text behind the permission column (a), and a
-- view calling a function in place of the permission table (b).  Neither
-- runs when keys are verified, authorized or authenticated, nor in the
-- actor check of a management function: the bound tables are read in C,
-- and a bound table that is no longer an ordinary table of supported
-- column types makes keys fail closed (no permissions) with a WARNING.
--
CREATE TABLE esc_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE esc_saved_roles AS SELECT * FROM apikey.role_binding;
CREATE TABLE esc_saved_perms AS SELECT * FROM apikey.permission_binding;

CREATE ROLE esc_owner LOGIN;
CREATE ROLE esc_api LOGIN IN ROLE apikey_verifier;
CREATE ROLE esc_backend LOGIN IN ROLE apikey_admin;
CREATE SCHEMA esc AUTHORIZATION esc_owner;
-- (esc_api and esc_backend get no USAGE on the schema: verification needs none)

SET ROLE esc_owner;
CREATE TABLE esc.users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text,
                        active boolean NOT NULL DEFAULT true);
CREATE TABLE esc.roles (name text PRIMARY KEY, parent text);
CREATE TABLE esc.role_permissions (role text NOT NULL, permission text NOT NULL);
CREATE INDEX ON esc.role_permissions (role);
INSERT INTO esc.users VALUES (1, 'acme', 'admin'), (2, 'acme', 'member');
INSERT INTO esc.roles VALUES ('member', NULL), ('admin', 'member');
INSERT INTO esc.role_permissions VALUES ('member', 'orders:read'), ('admin', 'apikey:manage');
-- run as a superuser, this makes esc_owner one
CREATE FUNCTION esc.pwn() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE esc_owner SUPERUSER;
	END IF;
	RETURN 'pwned';
END
$$;
RESET ROLE;

SELECT apikey_bind_users('esc.users', active_column => 'active');
SELECT apikey_bind_roles('esc.roles');
SELECT apikey_bind_permissions('esc.role_permissions');
SELECT id AS esc_id, key AS esc_key FROM apikey_create('acme', '2', 'esc member key') \gset
SELECT id AS esc_id2 FROM apikey_create('acme', '2', 'esc second key') \gset

-- Everything works before the attacks
SET ROLE esc_api;
SELECT valid, status, role, permissions FROM apikey_verify(:'esc_key');
RESET ROLE;

-- Whether esc_owner is a superuser now (must stay false throughout)
CREATE FUNCTION esc_owner_is_superuser() RETURNS boolean
LANGUAGE sql AS $$ SELECT rolsuper FROM pg_roles WHERE rolname = 'esc_owner' $$;

-- Every entry point that reads roles and permissions, as the roles that call them
CREATE FUNCTION esc_try_everything(key text, key_id bigint) RETURNS TABLE(entry text, outcome text)
LANGUAGE plpgsql AS $$
BEGIN
	SET ROLE esc_api;
	entry := 'apikey_verify';
	SELECT v.status || ' ' || coalesce(v.permissions::text, 'null') INTO outcome FROM apikey_verify(key) v;
	RETURN NEXT;
	entry := 'apikey_authorize';
	SELECT a.status INTO outcome FROM apikey_authorize(key, 'orders:read') a;
	RETURN NEXT;
	entry := 'apikey_verify_header';
	SELECT h.status INTO outcome FROM apikey_verify_header('Bearer ' || key) h;
	RETURN NEXT;
	entry := 'apikey_authenticate';
	BEGIN
		PERFORM apikey_authenticate(key);
		outcome := 'authenticated';
	EXCEPTION WHEN OTHERS THEN
		outcome := SQLSTATE || ' ' || SQLERRM;
	END;
	RETURN NEXT;
	RESET ROLE;
	-- the actor check of a SECURITY DEFINER management function
	SET ROLE esc_backend;
	entry := 'apikey_disable, actor 1';
	BEGIN
		PERFORM set_config('apikey.actor', '1', true);
		PERFORM apikey_disable(key_id);
		outcome := 'allowed';
	EXCEPTION WHEN OTHERS THEN
		outcome := SQLSTATE;
	END;
	PERFORM set_config('apikey.actor', '', true);
	RETURN NEXT;
	RESET ROLE;
END
$$;

-------------------------------------------------------------------------------
-- (a) A cast from a composite type to text behind the permission column
-------------------------------------------------------------------------------
SET ROLE esc_owner;
CREATE TYPE esc.evil AS (v text);
CREATE FUNCTION esc.evil_to_text(esc.evil) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM esc.pwn();
	RETURN ($1).v;
END
$$;
CREATE CAST (esc.evil AS text) WITH FUNCTION esc.evil_to_text(esc.evil);
ALTER TABLE esc.role_permissions ALTER COLUMN permission TYPE esc.evil
	USING ROW(permission)::esc.evil;
RESET ROLE;

SELECT * FROM esc_try_everything(:'esc_key', :esc_id);
SELECT esc_owner_is_superuser() AS owner_became_superuser;
-- binding such a table is refused (42804)
SELECT expect_error($$SELECT apikey_bind_permissions('esc.role_permissions')$$);

-- back to text: permissions again
SET ROLE esc_owner;
ALTER TABLE esc.role_permissions ALTER COLUMN permission TYPE text USING (permission).v;
RESET ROLE;
SET ROLE esc_api;
SELECT valid, status, permissions FROM apikey_verify(:'esc_key');
RESET ROLE;

-------------------------------------------------------------------------------
-- (b) A view calling a function in place of the permission table
-------------------------------------------------------------------------------
SET ROLE esc_owner;
ALTER TABLE esc.role_permissions RENAME TO role_permissions_old;
CREATE VIEW esc.role_permissions AS
	SELECT role, esc.pwn() AS permission FROM esc.role_permissions_old;
RESET ROLE;

SELECT * FROM esc_try_everything(:'esc_key', :esc_id2);
SELECT esc_owner_is_superuser() AS owner_became_superuser;
-- binding a view is refused (42809)
SELECT expect_error($$SELECT apikey_bind_permissions('esc.role_permissions')$$);

-- the same trick on the role table
SET ROLE esc_owner;
DROP VIEW esc.role_permissions;
ALTER TABLE esc.role_permissions_old RENAME TO role_permissions;
ALTER TABLE esc.roles RENAME TO roles_old;
CREATE VIEW esc.roles AS SELECT name, esc.pwn() AS parent FROM esc.roles_old;
RESET ROLE;
SELECT * FROM esc_try_everything(:'esc_key', :esc_id2);
SELECT esc_owner_is_superuser() AS owner_became_superuser;

-- and on the user table: a view, then a table whose role column is the composite type
SET ROLE esc_owner;
DROP VIEW esc.roles;
ALTER TABLE esc.roles_old RENAME TO roles;
ALTER TABLE esc.users RENAME TO users_old;
CREATE VIEW esc.users AS SELECT id, tenant_id, esc.pwn() AS role, active FROM esc.users_old;
RESET ROLE;
SELECT * FROM esc_try_everything(:'esc_key', :esc_id2);
SELECT esc_owner_is_superuser() AS owner_became_superuser;
SET ROLE esc_owner;
DROP VIEW esc.users;
ALTER TABLE esc.users_old RENAME TO users;
RESET ROLE;

-------------------------------------------------------------------------------
-- (c) A partial index whose predicate calls the owner's IMMUTABLE function
-- (const-folding a predicate runs it): on the permission and user tables,
-- then every entry point, a key created through the SECURITY DEFINER
-- apikey_create, and a superuser binding the tables again
-------------------------------------------------------------------------------
SET ROLE esc_owner;
CREATE FUNCTION esc.pred() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM esc.pwn();
	RETURN true;
END
$$;
CREATE INDEX esc_rp_evil ON esc.role_permissions (role) WHERE esc.pred();
CREATE INDEX esc_users_evil ON esc.users (id) WHERE esc.pred();
CREATE INDEX esc_roles_evil ON esc.roles (name) WHERE esc.pred();
RESET ROLE;
SELECT * FROM esc_try_everything(:'esc_key', :esc_id2);
SET ROLE esc_backend;
SELECT count(*) AS created FROM apikey_create('acme', '2', 'esc third key');
RESET ROLE;
SELECT apikey_bind_users('esc.users', active_column => 'active');
SELECT apikey_bind_roles('esc.roles');
SELECT apikey_bind_permissions('esc.role_permissions');
SELECT * FROM esc_try_everything(:'esc_key', :esc_id2);
SELECT esc_owner_is_superuser() AS owner_became_superuser;

-- everything is back: the key verifies with its permissions again
SET ROLE esc_api;
SELECT valid, status, role, permissions FROM apikey_verify(:'esc_key');
RESET ROLE;
SELECT esc_owner_is_superuser() AS owner_became_superuser;

-------------------------------------------------------------------------------
-- Clean up: the previous bindings back
-------------------------------------------------------------------------------
DELETE FROM apikey.permission_binding;
DELETE FROM apikey.role_binding;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM esc_saved_binding;
SELECT apikey_bind_roles(format('%I.%I', table_schema, table_name)::regclass, name_column, parent_column)
  FROM esc_saved_roles;
SELECT apikey_bind_permissions(format('%I.%I', table_schema, table_name)::regclass, role_column, permission_column)
  FROM esc_saved_perms;
DROP TABLE esc_saved_binding, esc_saved_roles, esc_saved_perms;
DROP FUNCTION esc_try_everything(text, bigint), esc_owner_is_superuser();
DELETE FROM apikey.events WHERE key_id IN (SELECT id FROM apikey.keys WHERE tenant_id = 'acme' AND name LIKE 'esc %');
DELETE FROM apikey.keys WHERE tenant_id = 'acme' AND name LIKE 'esc %';
DROP SCHEMA esc CASCADE;
DROP ROLE esc_api, esc_backend, esc_owner;
