--
-- Partitioned role and permission tables are refused (issue 9, finding 4):
-- a statement trigger on a partitioned table does not fire for changes made
-- directly to a partition, so caches could go stale.  Binding one is 42809;
-- a bound table replaced by a partitioned one under the same name makes
-- keys fail closed (no permissions) with one WARNING per backend.
--
CREATE TABLE bpr_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE bpr_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text);
INSERT INTO bpr_users VALUES (1, 'bpr', 'member');
SELECT apikey_bind_users('bpr_users');
SELECT key AS bpr_key FROM apikey_create('bpr', '1', 'bpr key') \gset

CREATE TABLE bpr_roles (name text NOT NULL, parent text) PARTITION BY LIST (name);
CREATE TABLE bpr_roles_m PARTITION OF bpr_roles FOR VALUES IN ('member');
CREATE TABLE bpr_grants (role text NOT NULL, permission text NOT NULL) PARTITION BY LIST (role);
CREATE TABLE bpr_grants_m PARTITION OF bpr_grants FOR VALUES IN ('member');
INSERT INTO bpr_grants VALUES ('member', 'orders:read');

SELECT expect_error($$SELECT apikey_bind_roles('bpr_roles')$$);
SELECT expect_error($$SELECT apikey_bind_permissions('bpr_grants')$$);
-- a partition is refused too: a statement trigger on it does not fire for
-- rows inserted or deleted through its parent; so is an inheritance child
SELECT expect_error($$SELECT apikey_bind_permissions('bpr_grants_m')$$);
CREATE TABLE bpr_base (name text NOT NULL, parent text);
CREATE TABLE bpr_child () INHERITS (bpr_base);
SELECT expect_error($$SELECT apikey_bind_roles('bpr_child')$$);
SELECT expect_error($$SELECT apikey_bind_users('bpr_grants_m')$$);
-- ... and so is an inheritance parent (its children's rows would be left out)
SELECT expect_error($$SELECT apikey_bind_roles('bpr_base')$$);
-- unlogged tables: a standby has no rows for them (0A000)
CREATE UNLOGGED TABLE bpr_unlogged (role text NOT NULL, permission text NOT NULL);
SELECT expect_error($$SELECT apikey_bind_permissions('bpr_unlogged')$$);
SELECT count(*) AS bindings FROM apikey.permission_binding;

-- bound as an ordinary table, then swapped for a partitioned one
CREATE TABLE bpr_plain (role text NOT NULL, permission text NOT NULL);
INSERT INTO bpr_plain VALUES ('member', 'orders:read');
SELECT apikey_bind_permissions('bpr_plain');
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');
ALTER TABLE bpr_plain RENAME TO bpr_plain_old;
CREATE TABLE bpr_plain (role text NOT NULL, permission text NOT NULL) PARTITION BY LIST (role);
CREATE TABLE bpr_plain_m PARTITION OF bpr_plain FOR VALUES IN ('member');
INSERT INTO bpr_plain VALUES ('member', 'orders:write');
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');  -- no second WARNING
SELECT status FROM apikey_authorize(:'bpr_key', 'orders:write');
-- a change made directly to the partition is never served from a cache
INSERT INTO bpr_plain_m VALUES ('member', 'orders:delete');
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');

-- a bound table its owner makes unlogged fails closed too (standbys could not read it)
DROP TABLE bpr_plain;
ALTER TABLE bpr_plain_old RENAME TO bpr_plain;
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');
ALTER TABLE bpr_plain SET UNLOGGED;
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');
ALTER TABLE bpr_plain SET LOGGED;
SELECT valid, status, permissions FROM apikey_verify(:'bpr_key');

-- Clean up
DELETE FROM apikey.permission_binding;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM bpr_saved_binding;
DROP TABLE bpr_child, bpr_base;
DROP TABLE bpr_saved_binding, bpr_users, bpr_roles, bpr_grants, bpr_plain, bpr_unlogged;
DELETE FROM apikey.events WHERE tenant_id = 'bpr';
DELETE FROM apikey.keys WHERE tenant_id = 'bpr';
