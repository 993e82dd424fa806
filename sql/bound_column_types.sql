--
-- Values read from bound tables mean what a query of them would: char(n)
-- permissions without their padding, integer role names looked up as
-- integers; and a change that sends no invalidation of the bound table
-- itself still reaches every warm cache: an enum label renamed, a schema
-- renamed so that another table now has the bound name (a blue/green swap).
--
CREATE TABLE bct_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TYPE bct_perm AS ENUM ('orders:read', 'orders:write');
CREATE TABLE bct_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role integer);
CREATE TABLE bct_roles (name integer PRIMARY KEY, parent integer);
CREATE TABLE bct_grants (role integer NOT NULL, permission char(20) NOT NULL);
CREATE TABLE bct_enum_grants (role integer NOT NULL, permission bct_perm NOT NULL);
INSERT INTO bct_users VALUES (1, 'bct', 2);
INSERT INTO bct_roles VALUES (1, NULL), (2, 1);
INSERT INTO bct_grants VALUES (1, 'orders:read'), (2, 'orders:write'), (2, 'Zeta');
INSERT INTO bct_enum_grants VALUES (1, 'orders:read'), (2, 'orders:write');
SELECT apikey_bind_users('bct_users');
SELECT apikey_bind_roles('bct_roles');
SELECT apikey_bind_permissions('bct_grants');
SELECT key AS bct_key FROM apikey_create('bct', '1', 'bct key') \gset

-- char(20) permissions without their padding; sorted in byte order
SELECT valid, status, role, permissions FROM apikey_verify(:'bct_key');
SELECT status FROM apikey_authorize(:'bct_key', 'orders:read');

-- an enum label renamed reaches the warm cache (no relcache invalidation of the table)
SELECT apikey_bind_permissions('bct_enum_grants');
SELECT valid, status, permissions FROM apikey_verify(:'bct_key');
SELECT valid, status, permissions FROM apikey_verify(:'bct_key');
ALTER TYPE bct_perm RENAME VALUE 'orders:read' TO 'orders:read_revoked';
SELECT valid, status, permissions FROM apikey_verify(:'bct_key');
SELECT status FROM apikey_authorize(:'bct_key', 'orders:read');

-- a blue/green swap of schemas: the bound name now means another table
DELETE FROM apikey.permission_binding;
DELETE FROM apikey.role_binding;
CREATE SCHEMA bct_app;
CREATE TABLE bct_app.users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text,
                            active boolean NOT NULL);
INSERT INTO bct_app.users VALUES (1, 'bct', 'member', true);
SELECT apikey_bind_users('bct_app.users', active_column => 'active');
SELECT valid, status, role FROM apikey_verify(:'bct_key');
SELECT valid, status, role FROM apikey_verify(:'bct_key');
CREATE SCHEMA bct_app_new;
CREATE TABLE bct_app_new.users (LIKE bct_app.users INCLUDING ALL);
INSERT INTO bct_app_new.users VALUES (1, 'bct', 'member', false);
BEGIN;
ALTER SCHEMA bct_app RENAME TO bct_app_old;
ALTER SCHEMA bct_app_new RENAME TO bct_app;
COMMIT;
SELECT valid, status, role FROM apikey_verify(:'bct_key');

-- Clean up
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM bct_saved_binding;
DROP SCHEMA bct_app CASCADE;
DROP SCHEMA bct_app_old CASCADE;
DROP TABLE bct_saved_binding, bct_users, bct_roles, bct_grants, bct_enum_grants;
DROP TYPE bct_perm;
DELETE FROM apikey.events WHERE tenant_id = 'bct';
DELETE FROM apikey.keys WHERE tenant_id = 'bct';
