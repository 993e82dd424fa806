--
-- permissions: roles inherited from their parents and permissions read from
-- the application's tables (apikey_bind_roles, apikey_bind_permissions);
-- apikey_verify's permissions column, intersected with the key's scopes;
-- apikey_authorize; and the apikey.actor checks of the management functions
--
-- a cycle in the role table must never hang verify: fail instead
SET statement_timeout = '30s';

-- the SQLSTATE of a statement, or ok
CREATE FUNCTION perm_sqlstate(sql text) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN r = 'no error' THEN 'ok' ELSE split_part(r, ':', 1) END FROM expect_error(sql) r
$$;

-- The user binding of the previous files, restored at the end
CREATE TABLE perm_saved_binding AS SELECT * FROM apikey.user_binding;

-- Nothing of this kind is bound yet
SELECT (SELECT count(*) FROM apikey.role_binding) AS role_bindings,
       (SELECT count(*) FROM apikey.permission_binding) AS permission_bindings;

-- The application's users, roles (name, parent) and grants (role, permission)
CREATE TABLE perm_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text,
                         active boolean NOT NULL DEFAULT true);
-- (a role may have several parents: nothing makes name unique)
CREATE TABLE perm_roles (name text NOT NULL, parent text);
CREATE TABLE perm_grants (role text NOT NULL, permission text NOT NULL);
SELECT apikey_bind_users('perm_users', active_column => 'active');

-- a chain of five levels: lvl5 -> lvl4 -> lvl3 -> lvl2 -> lvl1
INSERT INTO perm_roles VALUES ('lvl1', NULL), ('lvl2', 'lvl1'), ('lvl3', 'lvl2'),
                              ('lvl4', 'lvl3'), ('lvl5', 'lvl4');
INSERT INTO perm_grants VALUES ('lvl1', 'l1:read'), ('lvl2', 'l2:read'), ('lvl3', 'l3:read'),
                               ('lvl4', 'l4:read'), ('lvl5', 'l5:read'), ('lvl5', 'l5:write'),
                               -- granted at two levels, listed once
                               ('lvl3', 'l1:read');
-- a cycle of three (cyc_a -> cyc_b -> cyc_c -> cyc_a), a role leading into it,
-- a role that is its own parent
INSERT INTO perm_roles VALUES ('cyc_a', 'cyc_b'), ('cyc_b', 'cyc_c'), ('cyc_c', 'cyc_a'),
                              ('cyc_tail', 'cyc_a'), ('selfish', 'selfish');
INSERT INTO perm_grants VALUES ('cyc_a', 'cyc:a'), ('cyc_b', 'cyc:b'), ('cyc_c', 'cyc:c'),
                               ('cyc_tail', 'cyc:tail'), ('selfish', 'self:only');
-- a role without grants, a role whose parent is missing from the table
INSERT INTO perm_roles VALUES ('empty', NULL), ('orphan', 'ghost');
INSERT INTO perm_grants VALUES ('orphan', 'orphan:x');
-- managers: pa_admin holds apikey:manage, sub_admin inherits it
INSERT INTO perm_roles VALUES ('pa_admin', 'lvl1'), ('sub_admin', 'pa_admin');
INSERT INTO perm_grants VALUES ('pa_admin', 'apikey:manage'), ('special', 'keys:special');

INSERT INTO perm_users (id, tenant_id, role) VALUES
	(1, 'pa', 'lvl1'), (2, 'pa', 'lvl2'), (3, 'pa', 'lvl3'), (4, 'pa', 'lvl4'), (5, 'pa', 'lvl5'),
	(6, 'pa', 'cyc_a'), (7, 'pa', 'cyc_b'), (8, 'pa', 'cyc_c'), (9, 'pa', 'cyc_tail'),
	(10, 'pa', 'selfish'), (11, 'pa', 'empty'), (12, 'pa', NULL), (13, 'pa', 'not_a_role'),
	(14, 'pa', 'orphan'),
	(20, 'pa', 'pa_admin'), (21, 'pa', 'lvl5'), (23, 'pb', 'pa_admin'), (24, 'pa', 'sub_admin'),
	(25, 'pa', 'admin'), (26, 'pa', 'owner'), (27, 'pa', 'member'), (28, 'pa', 'special'),
	(30, 'pb', 'member');
INSERT INTO perm_users (id, tenant_id, role, active) VALUES (22, 'pa', 'pa_admin', false);

-- One key per user (no actor: the superuser of the test manages them)
CREATE TABLE perm_keys (user_id integer PRIMARY KEY, key_id bigint NOT NULL, key text NOT NULL);
INSERT INTO perm_keys
SELECT u.id, c.id, c.key
  FROM perm_users u, LATERAL apikey_create(u.tenant_id, u.id::text, 'perm ' || u.id) c
 WHERE u.active;

-------------------------------------------------------------------------------
-- 1. Without bound permissions, permissions is NULL
-------------------------------------------------------------------------------
SELECT k.user_id, v.status, v.role, v.permissions
  FROM perm_keys k, LATERAL apikey_verify(k.key) v
 WHERE k.user_id IN (1, 5, 6) ORDER BY k.user_id;

-- binding checks: missing table 42P01, missing column 42703, not a table 42809
SELECT expect_error($$SELECT apikey_bind_roles('no_such_roles')$$);
SELECT expect_error($$SELECT apikey_bind_roles('perm_roles', name_column => 'role_name')$$);
SELECT expect_error($$SELECT apikey_bind_roles('perm_roles', parent_column => 'up')$$);
SELECT expect_error($$SELECT apikey_bind_permissions('perm_grants', role_column => 'name')$$);
SELECT expect_error($$SELECT apikey_bind_permissions('perm_grants', permission_column => 'perm')$$);
CREATE SEQUENCE perm_seq;
SELECT perm_sqlstate($$SELECT apikey_bind_permissions('perm_seq')$$) AS sequence;
SELECT expect_error($$SELECT apikey_bind_roles(NULL)$$);
SELECT (SELECT count(*) FROM apikey.role_binding) AS role_bindings,
       (SELECT count(*) FROM apikey.permission_binding) AS permission_bindings;

-- Roles alone are not permissions: still NULL
SELECT apikey_bind_roles('perm_roles');
SELECT table_name, name_column, parent_column FROM apikey.role_binding;
SELECT k.user_id, v.status, v.permissions
  FROM perm_keys k, LATERAL apikey_verify(k.key) v
 WHERE k.user_id IN (1, 5) ORDER BY k.user_id;

-------------------------------------------------------------------------------
-- 2. Bound permissions: own role plus every ancestor, sorted, distinct
-------------------------------------------------------------------------------
SELECT apikey_bind_permissions('perm_grants');
SELECT table_name, role_column, permission_column FROM apikey.permission_binding;

-- depth 1 to 5
SELECT k.user_id, v.status, v.role, v.permissions
  FROM perm_keys k, LATERAL apikey_verify(k.key) v
 WHERE k.user_id BETWEEN 1 AND 5 ORDER BY k.user_id;

-- a cycle: the walk stops at the first repeated role; every role of the
-- cycle gets the union of the cycle's permissions, a role leading into the
-- cycle gets its own too, a role that is its own parent only its own
SELECT k.user_id, v.status, v.role, v.permissions
  FROM perm_keys k, LATERAL apikey_verify(k.key) v
 WHERE k.user_id BETWEEN 6 AND 10 ORDER BY k.user_id;

-- no grants, NULL role, a role missing from the role table, a missing parent
SELECT k.user_id, v.valid, v.status, v.role, v.permissions
  FROM perm_keys k, LATERAL apikey_verify(k.key) v
 WHERE k.user_id BETWEEN 11 AND 14 ORDER BY k.user_id;

-- a chain of 100 roles: the walk is bounded at a depth of 64
INSERT INTO perm_roles SELECT 'deep' || i, CASE WHEN i > 1 THEN 'deep' || (i - 1) END
  FROM generate_series(1, 100) i;
INSERT INTO perm_grants SELECT 'deep' || i, 'deep:' || lpad(i::text, 3, '0')
  FROM generate_series(1, 100) i;
UPDATE perm_users SET role = 'deep100' WHERE id = 11;
SELECT v.status, cardinality(v.permissions) AS n, v.permissions[1] AS first, v.permissions[64] AS last
  FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 11;
UPDATE perm_users SET role = 'deep64' WHERE id = 11;
SELECT v.status, cardinality(v.permissions) AS n, v.permissions[1] AS first, v.permissions[64] AS last
  FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 11;
-- a cycle of 100 roles, entered anywhere: bounded too, and no hang
UPDATE perm_roles SET parent = 'deep100' WHERE name = 'deep1';
SELECT v.status, cardinality(v.permissions) AS n
  FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 11;
-- a role with several parents: each parent's line is inherited; twelve roles
-- that are all each other's parents (132 rows, cycles everywhere) answer at once
INSERT INTO perm_roles SELECT 'mp' || a, 'mp' || b
  FROM generate_series(1, 12) a, generate_series(1, 12) b WHERE a <> b;
INSERT INTO perm_grants SELECT 'mp' || i, 'mp:' || lpad(i::text, 2, '0') FROM generate_series(1, 12) i;
UPDATE perm_users SET role = 'mp1' WHERE id = 11;
BEGIN;
SET LOCAL statement_timeout = '5s';
SELECT v.status, cardinality(v.permissions) AS n, v.permissions[1] AS first, v.permissions[12] AS last
  FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 11;
COMMIT;
DELETE FROM perm_roles WHERE name LIKE 'mp%';
UPDATE perm_users SET role = 'empty' WHERE id = 11;

-- Changes of the application's tables take effect at the next verify
-- a permission removed
DELETE FROM perm_grants WHERE role = 'lvl3' AND permission = 'l3:read';
SELECT v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
-- ... inside a transaction, and back after ROLLBACK
BEGIN;
DELETE FROM perm_grants WHERE role = 'lvl5';
SELECT v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
ROLLBACK;
SELECT v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
-- a permission granted
INSERT INTO perm_grants VALUES ('lvl3', 'l3:read');
SELECT v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
-- a parent removed (lvl3 no longer inherits from lvl2), then restored
UPDATE perm_roles SET parent = NULL WHERE name = 'lvl3';
SELECT v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
UPDATE perm_roles SET parent = 'lvl2' WHERE name = 'lvl3';
-- the user's role changed
UPDATE perm_users SET role = 'lvl2' WHERE id = 5;
SELECT v.role, v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
UPDATE perm_users SET role = 'lvl5' WHERE id = 5;
SELECT v.role, v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;
-- ... and in a new session
\c
SET statement_timeout = '30s';
SELECT v.role, v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;

-- Changes committed by another session take effect at this session's next
-- verify, and the other way round (a second session through dblink)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT dblink_connect('perm_other',
                      format('host=%s port=%s dbname=%s user=%s',
                             split_part(current_setting('unix_socket_directories'), ',', 1),
                             current_setting('port'), current_database(), current_user)) AS connected;
SELECT key AS k5 FROM perm_keys WHERE user_id = 5 \gset
-- both sessions have verified the key
SELECT v.permissions FROM apikey_verify(:'k5') v;
SELECT * FROM dblink('perm_other', format('SELECT permissions FROM apikey_verify(%L)', :'k5')) AS t(permissions text[]);
-- the other session removes a grant, re-parents a role and changes the user's role
SELECT dblink_exec('perm_other', $$DELETE FROM perm_grants WHERE role = 'lvl5' AND permission = 'l5:write'$$);
SELECT v.permissions FROM apikey_verify(:'k5') v;
SELECT dblink_exec('perm_other', $$UPDATE perm_roles SET parent = NULL WHERE name = 'lvl4'$$);
SELECT v.permissions FROM apikey_verify(:'k5') v;
SELECT dblink_exec('perm_other', $$UPDATE perm_users SET role = 'lvl3' WHERE id = 5$$);
SELECT v.role, v.permissions FROM apikey_verify(:'k5') v;
-- this session undoes it all: the other session sees it at once
UPDATE perm_users SET role = 'lvl5' WHERE id = 5;
UPDATE perm_roles SET parent = 'lvl3' WHERE name = 'lvl4';
SELECT * FROM dblink('perm_other', format('SELECT permissions FROM apikey_verify(%L)', :'k5')) AS t(permissions text[]);
INSERT INTO perm_grants VALUES ('lvl5', 'l5:write');
SELECT * FROM dblink('perm_other', format('SELECT permissions FROM apikey_verify(%L)', :'k5')) AS t(permissions text[]);
-- a change not yet committed is not seen by the other session
BEGIN;
DELETE FROM perm_grants WHERE role = 'lvl2';
SELECT v.permissions FROM apikey_verify(:'k5') v;
SELECT * FROM dblink('perm_other', format('SELECT permissions FROM apikey_verify(%L)', :'k5')) AS t(permissions text[]);
ROLLBACK;
SELECT v.permissions FROM apikey_verify(:'k5') v;
SELECT * FROM dblink('perm_other', format('SELECT permissions FROM apikey_verify(%L)', :'k5')) AS t(permissions text[]);
SELECT dblink_disconnect('perm_other');

-------------------------------------------------------------------------------
-- 3. Scopes: intersected with the user's permissions; "*" means everything
-------------------------------------------------------------------------------
CREATE TABLE perm_scoped (label text PRIMARY KEY, key_id bigint, key text);
INSERT INTO perm_scoped
SELECT s.label, c.id, c.key
  FROM (VALUES ('1 no scopes', NULL::text[]),
               ('2 some', ARRAY['l2:read', 'l4:read', 'not:held']),
               ('3 star', ARRAY['*']),
               ('4 star and more', ARRAY['l2:read', '*']),
               ('5 none held', ARRAY['not:held']),
               ('6 empty', ARRAY[]::text[])) AS s(label, scopes),
       LATERAL apikey_create('pa', '5', 'scoped', scopes => s.scopes) c;
SELECT s.label, v.status, v.scopes, v.permissions
  FROM perm_scoped s, LATERAL apikey_verify(s.key) v ORDER BY s.label;

-------------------------------------------------------------------------------
-- 4. apikey_authorize(key, permission)
-------------------------------------------------------------------------------
-- held (own or inherited): valid; not held: forbidden, valid = false
SELECT p.permission, a.valid, a.status, a.role
  FROM unnest(ARRAY['l5:write', 'l1:read', 'l3:read', 'cyc:a', 'apikey:manage', '*', '']) AS p(permission),
       perm_keys k, LATERAL apikey_authorize(k.key, p.permission) a
 WHERE k.user_id = 5 ORDER BY p.permission COLLATE "C";
-- a forbidden row is the verify row but for valid and status
SELECT a.valid, a.status,
       (a.key_id, a.tenant_id, a.user_id, a.role, a.scopes, a.permissions, a.environment, a.expires_at, a.metadata)
       IS NOT DISTINCT FROM
       (v.key_id, v.tenant_id, v.user_id, v.role, v.scopes, v.permissions, v.environment, v.expires_at, v.metadata)
       AS same_row,
       a.tenant_id, a.user_id, a.permissions
  FROM perm_keys k, LATERAL apikey_authorize(k.key, 'cyc:a') a, LATERAL apikey_verify(k.key) v
 WHERE k.user_id = 5;
SELECT (a.*) IS NOT DISTINCT FROM (v.*) AS same_row
  FROM perm_keys k, LATERAL apikey_authorize(k.key, 'l1:read') a, LATERAL apikey_verify(k.key) v
 WHERE k.user_id = 5;
-- the cycle: every permission of the cycle
SELECT p.permission, a.status
  FROM unnest(ARRAY['cyc:a', 'cyc:b', 'cyc:c', 'cyc:tail']) AS p(permission),
       perm_keys k, LATERAL apikey_authorize(k.key, p.permission) a
 WHERE k.user_id = 7 ORDER BY p.permission COLLATE "C";
-- scoped keys: the scope must allow it too
SELECT s.label, a1.status AS l2_read, a2.status AS l5_write, a3.status AS not_held
  FROM perm_scoped s, LATERAL apikey_authorize(s.key, 'l2:read') a1,
       LATERAL apikey_authorize(s.key, 'l5:write') a2, LATERAL apikey_authorize(s.key, 'not:held') a3
 ORDER BY s.label;
-- a key that is not valid keeps its own status
SELECT apikey_disable(key_id) AS disabled FROM perm_scoped WHERE label = '3 star';
SELECT a.valid, a.status FROM perm_scoped s, LATERAL apikey_authorize(s.key, 'l2:read') a
 WHERE s.label = '3 star';
SELECT apikey_enable(key_id) AS enabled FROM perm_scoped WHERE label = '3 star';
SELECT valid, status FROM apikey_authorize(NULL, 'l2:read');
SELECT valid, status FROM apikey_authorize('ak_live_nope', 'l2:read');
SELECT valid, status FROM apikey_authorize(test_key('ak', 'live', repeat('x', 32)), 'l2:read');
-- a permission removed is refused at the next call
DELETE FROM perm_grants WHERE role = 'lvl4';
SELECT a.status FROM perm_keys k, LATERAL apikey_authorize(k.key, 'l4:read') a WHERE k.user_id = 5;
INSERT INTO perm_grants VALUES ('lvl4', 'l4:read');
SELECT a.status FROM perm_keys k, LATERAL apikey_authorize(k.key, 'l4:read') a WHERE k.user_id = 5;

-------------------------------------------------------------------------------
-- 5. apikey.actor: the management functions check the application user
-------------------------------------------------------------------------------
-- the target: a key of user 27 (tenant pa)
SELECT key_id AS t_id, key AS t_key FROM perm_keys WHERE user_id = 27 \gset
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset
CREATE FUNCTION perm_state(id bigint) RETURNS TABLE(enabled boolean, revoked boolean, successors bigint)
LANGUAGE sql AS $$
	SELECT k.enabled, k.revoked_at IS NOT NULL,
	       (SELECT count(*) FROM apikey.keys s WHERE s.rotated_from = k.id)
	  FROM apikey.keys k WHERE k.id = $1
$$;
-- every management function as the given actor, in one transaction (the
-- actor is transaction-local); each call is rolled back by expect_error
CREATE FUNCTION perm_try_all(actor text, id bigint, key text)
RETURNS TABLE("create" text, "revoke(id)" text, "revoke(id,r,tenant)" text, "revoke(key)" text,
              rotate text, disable text, enable text)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('apikey.actor', actor, true);
	"create" := perm_sqlstate(format('SELECT apikey_create(%L, %L, %L)', 'pa', '27', 'by actor'));
	"revoke(id)" := perm_sqlstate(format('SELECT apikey_revoke(%s::bigint)', id));
	"revoke(id,r,tenant)" := perm_sqlstate(format('SELECT apikey_revoke(%s::bigint, %L, %L)', id, 'by actor', 'pa'));
	"revoke(key)" := perm_sqlstate(format('SELECT apikey_revoke_key(%L::text)', key));
	rotate := perm_sqlstate(format('SELECT apikey_rotate(%s)', id));
	disable := perm_sqlstate(format('SELECT apikey_disable(%s)', id));
	enable := perm_sqlstate(format('SELECT apikey_enable(%s)', id));
	PERFORM set_config('apikey.actor', '', true);
	RETURN NEXT;
END
$$;

-- the message names the actor (never a key, nor the tenant of the key: the
-- actor is checked before the key is read)
BEGIN;
SET LOCAL apikey.actor = '21';
SELECT expect_error(format('SELECT apikey_disable(%s)', :t_id));
COMMIT;
-- 42501 for every function: no manage permission, inactive, no such user, an
-- id of the wrong type, and (with bound permissions) a role of
-- apikey.manager_roles without the permission.  A manager of another tenant
-- gets 42501 where the call names tenant pa itself (create, the tenant
-- guard), and P0002 for the key of tenant pa: exactly a missing key
SELECT a.actor, a.why, t.*
  FROM (VALUES ('21', 'lvl5, no apikey:manage'), ('23', 'pa_admin of tenant pb'),
               ('22', 'pa_admin, inactive'), ('999', 'no such user'), ('not a number', 'not an id'),
               ('25', 'role admin')) AS a(actor, why),
       LATERAL perm_try_all(a.actor, :t_id, :'t_key') t
 ORDER BY a.why COLLATE "C";
-- enable on a disabled key: still refused, still disabled
SELECT apikey_disable(:t_id) AS disabled;
BEGIN;
SELECT set_config('apikey.actor', '21', true);
SELECT perm_sqlstate(format('SELECT apikey_enable(%s)', :t_id)) AS enable;
COMMIT;
SELECT * FROM perm_state(:t_id);
SELECT apikey_enable(:t_id) AS enabled;
-- and without expect_error's subtransaction: the statement fails
BEGIN;
SET LOCAL apikey.actor = '21';
\set VERBOSITY terse
SELECT apikey_disable(:t_id);
\set VERBOSITY default
ROLLBACK;
-- nothing changed: the key as it was, no new key, and the only events are
-- the superuser's disable and enable
SELECT * FROM perm_state(:t_id);
SELECT action, actor FROM apikey.events WHERE id > :last_event ORDER BY id;
SELECT count(*) AS keys_by_actor FROM apikey.keys WHERE name = 'by actor';

-- an actor holding the permission (own role, then inherited): allowed, and recorded
BEGIN;
SET LOCAL apikey.actor = '20';
SELECT id AS a_id, key AS a_key FROM apikey_create('pa', '27', 'by actor 20') \gset
SELECT apikey_disable(:a_id) AS disabled;
SELECT apikey_enable(:a_id) AS enabled;
SELECT id AS a2_id, key AS a2_key FROM apikey_rotate(:a_id, '1 hour') \gset
COMMIT;
BEGIN;
SET LOCAL apikey.actor = '24';
SELECT id AS b_id, key AS b_key FROM apikey_create('pa', '1', 'by actor 24') \gset
SELECT apikey_revoke(:a2_id, 'by actor 24', 'pa') AS revoked;
SELECT apikey_revoke_key(:'b_key', 'leaked') AS revoked;
COMMIT;
SELECT name, created_by, revoked_at IS NOT NULL AS revoked
  FROM apikey.keys WHERE id IN (:a_id, :a2_id, :b_id) ORDER BY id;
SELECT CASE key_id WHEN :a_id THEN 'a' WHEN :a2_id THEN 'a2' WHEN :b_id THEN 'b' END AS key,
       action, actor, CASE WHEN action = 'revoke' THEN reason END AS reason
  FROM apikey.events WHERE key_id IN (:a_id, :a2_id, :b_id) ORDER BY id;
-- the actor is transaction-local: after COMMIT, nothing is recorded
SELECT id AS c_id FROM apikey_create('pa', '27', 'no actor') \gset
SELECT created_by FROM apikey.keys WHERE id = :c_id;
SELECT action, actor FROM apikey.events WHERE key_id = :c_id;

-- the actor of another tenant may manage the keys of its own tenant; a key
-- of tenant pa is a missing key to it (P0002)
SELECT key_id AS pb_id FROM perm_keys WHERE user_id = 30 \gset
BEGIN;
SET LOCAL apikey.actor = '23';
SELECT apikey_disable(:pb_id) AS disabled;
SELECT apikey_enable(:pb_id) AS enabled;
SELECT perm_sqlstate(format('SELECT apikey_disable(%s)', :t_id)) AS disable_in_pa;
COMMIT;

-- the permission removed from the actor's role: refused at the next call
DELETE FROM perm_grants WHERE role = 'pa_admin' AND permission = 'apikey:manage';
BEGIN;
SET LOCAL apikey.actor = '24';
SELECT perm_sqlstate(format('SELECT apikey_disable(%s)', :t_id)) AS disable;
COMMIT;
INSERT INTO perm_grants VALUES ('pa_admin', 'apikey:manage');

-- apikey.manage_permission names the permission (superuser setting)
SHOW apikey.manage_permission;
SET apikey.manage_permission = 'keys:special';
SELECT * FROM perm_try_all('20', :t_id, :'t_key');
BEGIN;
SET LOCAL apikey.actor = '28';
SELECT apikey_disable(:t_id) AS disabled;
SELECT apikey_enable(:t_id) AS enabled;
COMMIT;
RESET apikey.manage_permission;
SELECT * FROM perm_state(:t_id);

-------------------------------------------------------------------------------
-- 6. Without bound permissions
-------------------------------------------------------------------------------
DELETE FROM apikey.permission_binding;
SELECT k.user_id, v.status, v.role, v.permissions
  FROM perm_keys k, LATERAL apikey_verify(k.key) v
 WHERE k.user_id IN (5, 6) ORDER BY k.user_id;
SELECT s.label, v.permissions FROM perm_scoped s, LATERAL apikey_verify(s.key) v ORDER BY s.label;

-- apikey_authorize: the key's scopes decide (NULL or "*": everything)
SELECT s.label, a1.status AS l2_read, a2.status AS l5_write, a3.status AS not_held,
       a4.status AS anything
  FROM perm_scoped s, LATERAL apikey_authorize(s.key, 'l2:read') a1,
       LATERAL apikey_authorize(s.key, 'l5:write') a2, LATERAL apikey_authorize(s.key, 'not:held') a3,
       LATERAL apikey_authorize(s.key, 'any:thing') a4
 ORDER BY s.label;

-- the actor: a role listed in apikey.manager_roles (default owner,admin)
SHOW apikey.manager_roles;
-- admin (25) and owner (26) may
BEGIN;
SET LOCAL apikey.actor = '25';
SELECT apikey_disable(:t_id) AS disabled;
SET LOCAL apikey.actor = '26';
SELECT apikey_enable(:t_id) AS enabled;
COMMIT;
-- 42501: pa_admin (holds apikey:manage, but permissions are no longer
-- bound), member, an inactive admin, no such user; an admin of another
-- tenant: 42501 naming tenant pa, P0002 for the key of pa
UPDATE perm_users SET role = 'admin' WHERE id IN (22, 23);
SELECT a.actor, a.why, t.*
  FROM (VALUES ('20', 'pa_admin'), ('27', 'member'), ('23', 'admin of tenant pb'),
               ('22', 'admin, inactive'), ('999', 'no such user')) AS a(actor, why),
       LATERAL perm_try_all(a.actor, :t_id, :'t_key') t
 ORDER BY a.why COLLATE "C";
UPDATE perm_users SET role = 'pa_admin' WHERE id IN (22, 23);
-- apikey.manager_roles lists the roles (superuser setting)
SET apikey.manager_roles = 'member, lvl5';
BEGIN;
SET LOCAL apikey.actor = '27';
SELECT apikey_disable(:t_id) AS disabled;
SET LOCAL apikey.actor = '21';
SELECT apikey_enable(:t_id) AS enabled;
COMMIT;
SELECT * FROM perm_try_all('25', :t_id, :'t_key');
RESET apikey.manager_roles;
SELECT * FROM perm_state(:t_id);
-- non-superusers cannot change either setting
CREATE ROLE regress_apikey_perm_app;
SET ROLE regress_apikey_perm_app;
SELECT expect_error($$SET apikey.manage_permission = 'x'$$);
SELECT expect_error($$SET apikey.manager_roles = 'member'$$);
RESET ROLE;
DROP ROLE regress_apikey_perm_app;

-- binding permissions again restores them
SELECT apikey_bind_permissions('perm_grants', 'role', 'permission');
SELECT v.permissions FROM perm_keys k, LATERAL apikey_verify(k.key) v WHERE k.user_id = 5;

-------------------------------------------------------------------------------
-- Clean up: no roles or permissions bound, the previous user binding back
-------------------------------------------------------------------------------
DELETE FROM apikey.permission_binding;
DELETE FROM apikey.role_binding;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM perm_saved_binding;
SELECT count(*) AS same_binding
  FROM apikey.user_binding b JOIN perm_saved_binding s USING (table_schema, table_name, id_column,
                                                             tenant_column, role_column)
 WHERE b.active_column IS NOT DISTINCT FROM s.active_column;
DROP TABLE perm_saved_binding;
DROP EXTENSION dblink;
RESET statement_timeout;
