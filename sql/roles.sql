--
-- roles: a key acts as its user, whose role, tenant and state are read from
-- the bound user table at every verification
--
INSERT INTO users (id, tenant_id, role) VALUES (300, 'acme', 'member');
SELECT id AS id1, key AS k1 FROM apikey_create('acme', '300', 'roles') \gset
SELECT status, tenant_id, user_id, role FROM apikey_verify(:'k1');

-- The role is the user's current role: changed in the table, changed in the next verify
UPDATE users SET role = 'admin' WHERE id = 300;
SELECT status, tenant_id, user_id, role FROM apikey_verify(:'k1');

-- A NULL role is returned as NULL, the key stays valid
UPDATE users SET role = NULL WHERE id = 300;
SELECT status, user_id, role FROM apikey_verify(:'k1');

-- Inside a transaction, verify sees the transaction's own change; after ROLLBACK, the old role
BEGIN;
UPDATE users SET role = 'owner' WHERE id = 300;
SELECT status, role FROM apikey_verify(:'k1');
ROLLBACK;
SELECT status, role FROM apikey_verify(:'k1');
UPDATE users SET role = 'member' WHERE id = 300;

-- The user moves to another tenant: user_inactive; moved back: valid
UPDATE users SET tenant_id = 'globex' WHERE id = 300;
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id FROM apikey_verify(:'k1');
UPDATE users SET tenant_id = 'acme' WHERE id = 300;
SELECT valid, status, tenant_id, role FROM apikey_verify(:'k1');

-- The user is deactivated: user_inactive; reactivated: valid
UPDATE users SET active = false WHERE id = 300;
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id FROM apikey_verify(:'k1');
UPDATE users SET active = true WHERE id = 300;
SELECT valid, status FROM apikey_verify(:'k1');

-- The user is deleted: user_inactive; a user with the same id in the same tenant again: valid
DELETE FROM users WHERE id = 300;
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id FROM apikey_verify(:'k1');
INSERT INTO users (id, tenant_id, role) VALUES (300, 'acme', 'viewer');
SELECT valid, status, role FROM apikey_verify(:'k1');

-- A user table with uuid ids and text tenants (and other column names)
SELECT apikey_bind_users('users_uuid', id_column => 'uid', tenant_column => 'org',
                         role_column => 'kind', active_column => 'is_active');
-- ids are stored and returned in their canonical form
SELECT id AS id2, key AS k2 FROM apikey_create('acme', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'uuid user') \gset
SELECT user_id FROM apikey.keys WHERE id = :id2;
SELECT valid, status, tenant_id, user_id, role FROM apikey_verify(:'k2');
SELECT key AS k2b FROM apikey_create('acme', 'a0eebc999c0b4ef8bb6d6bb9bd380a11', 'uuid user, plain hex') \gset
SELECT valid, status, user_id FROM apikey_verify(:'k2b');
-- the binding took effect at once: the key of the bigint user no longer finds its user
SELECT valid, status FROM apikey_verify(:'k1');
-- the active column of this table
UPDATE users_uuid SET is_active = false WHERE org = 'acme';
SELECT valid, status FROM apikey_verify(:'k2');
UPDATE users_uuid SET is_active = true WHERE org = 'acme';
SELECT valid, status FROM apikey_verify(:'k2');
-- ids that are not uuids, or of another tenant: 23503 (never an input syntax error)
SELECT expect_error($$SELECT apikey_create('acme', 'not-a-uuid', 'x')$$);
SELECT expect_error($$SELECT apikey_create('acme', '300', 'x')$$);
SELECT expect_error($$SELECT apikey_create('acme', 'b1ffcd88-8d1a-4de7-aa5c-5aa8ac270b22', 'x')$$);

-- A user table with integer ids and bigint tenants, without an active column
SELECT apikey_bind_users('users_int');
-- '007' for an integer id is the user 7, and tenant '042' the tenant 42
SELECT id AS id3, key AS k3 FROM apikey_create('042', '007', 'int user') \gset
SELECT tenant_id, user_id FROM apikey.keys WHERE id = :id3;
SELECT valid, status, tenant_id, user_id, role FROM apikey_verify(:'k3');
UPDATE users_int SET role = 'supervisor' WHERE id = 7;
SELECT valid, status, role FROM apikey_verify(:'k3');
-- ids out of range or not integers, or of another tenant: 23503
SELECT expect_error($$SELECT apikey_create('42', '99999999999', 'x')$$);
SELECT expect_error($$SELECT apikey_create('42', '7.0', 'x')$$);
SELECT expect_error($$SELECT apikey_create('42', 'seven', 'x')$$);
SELECT expect_error($$SELECT apikey_create('43', '7', 'x')$$);
SELECT expect_error($$SELECT apikey_create('forty-two', '7', 'x')$$);
-- moved to tenant 43: user_inactive
UPDATE users_int SET tenant_id = 43 WHERE id = 7;
SELECT valid, status, tenant_id FROM apikey_verify(:'k3');
UPDATE users_int SET tenant_id = 42 WHERE id = 7;
SELECT valid, status FROM apikey_verify(:'k3');

-- A user table with text ids and uuid tenants
SELECT apikey_bind_users('users_text');
SELECT id AS id4, key AS k4 FROM apikey_create('C2AADE77-7E29-4CD6-9B4B-4B97BD160C33', 'alice', 'text user') \gset
SELECT valid, status, tenant_id, user_id, role FROM apikey_verify(:'k4');
-- text ids are compared exactly
SELECT expect_error($$SELECT apikey_create('c2aade77-7e29-4cd6-9b4b-4b97bd160c33', 'Alice', 'x')$$);
SELECT expect_error($$SELECT apikey_create('not-a-uuid', 'alice', 'x')$$);

-- Rebinding to the original table takes effect at once ...
SELECT apikey_bind_users('users', active_column => 'active');
SELECT label, v.status, v.user_id, v.role
  FROM (VALUES ('1 bigint', :'k1'), ('2 uuid', :'k2'), ('3 integer', :'k3'), ('4 text', :'k4')) AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY label;

-- ... and in a new session
\c
SELECT label, v.status, v.user_id, v.role
  FROM (VALUES ('1 bigint', :'k1'), ('2 uuid', :'k2'), ('3 integer', :'k3'), ('4 text', :'k4')) AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY label;
SELECT apikey_bind_users('users_int');
\c
SELECT label, v.status, v.user_id, v.role
  FROM (VALUES ('1 bigint', :'k1'), ('2 uuid', :'k2'), ('3 integer', :'k3'), ('4 text', :'k4')) AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY label;

-- The user table is dropped and created again with the same name: verify
-- keeps working, never with stale columns or rows
CREATE TABLE staff (id bigint PRIMARY KEY, tenant_id text NOT NULL, role text);
INSERT INTO staff VALUES (500, 'acme', 'clerk');
SELECT apikey_bind_users('staff');
SELECT id AS id5, key AS k5 FROM apikey_create('acme', '500', 'staff user') \gset
SELECT valid, status, user_id, role FROM apikey_verify(:'k5');
DROP TABLE staff;
SELECT valid, status, key_id = :id5 AS key_id_ok, tenant_id, user_id, role FROM apikey_verify(:'k5');
-- recreated with other column types and order
CREATE TABLE staff (role text, note text, tenant_id varchar(20), id text PRIMARY KEY);
INSERT INTO staff VALUES ('manager', 'recreated', 'acme', '500');
SELECT valid, status, tenant_id, user_id, role FROM apikey_verify(:'k5');
\c
SELECT valid, status, tenant_id, user_id, role FROM apikey_verify(:'k5');
-- dropped and recreated in one transaction, with the user now in another tenant
BEGIN;
DROP TABLE staff;
CREATE TABLE staff (id integer PRIMARY KEY, tenant_id text, role text);
INSERT INTO staff VALUES (500, 'globex', 'manager');
SELECT valid, status FROM apikey_verify(:'k5');
COMMIT;
SELECT valid, status FROM apikey_verify(:'k5');
UPDATE staff SET tenant_id = 'acme', role = 'director';
SELECT valid, status, user_id, role FROM apikey_verify(:'k5');

-- Back to the main user table for the following files
SELECT apikey_bind_users('users', active_column => 'active');
SELECT valid, status, role FROM apikey_verify(:'k1');
