--
-- Renaming a bound role or permission table, or one of its bound columns,
-- never makes verification raise (issue 9, finding 6): apikey_verify,
-- apikey_authorize and apikey_verify_header answer as if the user had no
-- permissions (authorize: forbidden), the backend says so once with a
-- WARNING naming the binding (never a key), and everything works again as
-- soon as the name is back.  The same for the user table (user_inactive).
--
CREATE TABLE btr_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE btr_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text);
CREATE TABLE btr_roles (name text PRIMARY KEY, parent text);
CREATE TABLE btr_grants (role text NOT NULL, permission text NOT NULL);
INSERT INTO btr_users VALUES (1, 'btr', 'admin');
INSERT INTO btr_roles VALUES ('member', NULL), ('admin', 'member');
INSERT INTO btr_grants VALUES ('member', 'orders:read'), ('admin', 'orders:write');
SELECT apikey_bind_users('btr_users');
SELECT apikey_bind_roles('btr_roles');
SELECT apikey_bind_permissions('btr_grants');
SELECT key AS btr_key FROM apikey_create('btr', '1', 'btr key') \gset

CREATE FUNCTION btr_all(key text) RETURNS TABLE(verify text, authorize text, header text)
LANGUAGE sql AS $$
	SELECT v.status || ' ' || coalesce(v.permissions::text, 'null'), a.status, h.status
	  FROM apikey_verify(key) v, apikey_authorize(key, 'orders:read') a,
	       apikey_verify_header('Bearer ' || key) h
$$;

SELECT * FROM btr_all(:'btr_key');

-- the permission table renamed: one WARNING, then quiet
ALTER TABLE btr_grants RENAME TO btr_grants_moved;
SELECT * FROM btr_all(:'btr_key');
SELECT * FROM btr_all(:'btr_key');
ALTER TABLE btr_grants_moved RENAME TO btr_grants;
SELECT * FROM btr_all(:'btr_key');

-- a bound column renamed
ALTER TABLE btr_grants RENAME COLUMN permission TO perm;
SELECT * FROM btr_all(:'btr_key');
ALTER TABLE btr_grants RENAME COLUMN perm TO permission;
SELECT * FROM btr_all(:'btr_key');

-- the role table renamed, then its parent column
ALTER TABLE btr_roles RENAME TO btr_roles_moved;
SELECT * FROM btr_all(:'btr_key');
ALTER TABLE btr_roles_moved RENAME TO btr_roles;
ALTER TABLE btr_roles RENAME COLUMN parent TO up;
SELECT * FROM btr_all(:'btr_key');
ALTER TABLE btr_roles RENAME COLUMN up TO parent;
SELECT * FROM btr_all(:'btr_key');

-- a bound column retyped to something that is not a role name
ALTER TABLE btr_grants ALTER COLUMN role TYPE bytea USING convert_to(role, 'UTF8');
SELECT * FROM btr_all(:'btr_key');
ALTER TABLE btr_grants ALTER COLUMN role TYPE text USING convert_from(role, 'UTF8');
SELECT * FROM btr_all(:'btr_key');

-- dropped and recreated under the bound name: read again (no trigger: uncached)
DROP TABLE btr_grants;
SELECT * FROM btr_all(:'btr_key');
CREATE TABLE btr_grants (role text NOT NULL, permission text NOT NULL);
INSERT INTO btr_grants VALUES ('admin', 'orders:read');
SELECT * FROM btr_all(:'btr_key');
INSERT INTO btr_grants VALUES ('admin', 'orders:export');
SELECT * FROM btr_all(:'btr_key');

-- the user table renamed: user_inactive, one WARNING
ALTER TABLE btr_users RENAME TO btr_users_moved;
SELECT * FROM btr_all(:'btr_key');
ALTER TABLE btr_users_moved RENAME TO btr_users;
SELECT * FROM btr_all(:'btr_key');

-- the actor check of a management function fails closed too (42501, not 42P01)
ALTER TABLE btr_grants RENAME TO btr_grants_moved;
BEGIN;
SET LOCAL apikey.actor = '1';
SELECT expect_error($$SELECT apikey_disable(id) FROM apikey.keys WHERE tenant_id = 'btr'$$);
COMMIT;
ALTER TABLE btr_grants_moved RENAME TO btr_grants;

-- Clean up
DELETE FROM apikey.permission_binding;
DELETE FROM apikey.role_binding;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM btr_saved_binding;
DROP TABLE btr_saved_binding, btr_users, btr_roles, btr_grants;
DROP FUNCTION btr_all(text);
DELETE FROM apikey.events WHERE tenant_id = 'btr';
DELETE FROM apikey.keys WHERE tenant_id = 'btr';
