--
-- A warm backend never answers from a cache that a change of the user, role
-- or permission tables made stale, however the change was made (issue 9,
-- finding 3): the users table's UPDATE trigger compares the stored rows, so
-- an application BEFORE trigger that changes active or role is seen, as is
-- a plain UPDATE of a column the statement does not name.  A cache trigger
-- that the table's owner disables or replaces makes verification read the
-- tables every time (never stale).  Each check verifies once to warm this
-- backend's cache, changes the data, and verifies again in the same backend.
--
CREATE TABLE cbt_saved_binding AS SELECT * FROM apikey.user_binding;

CREATE TABLE cbt_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text,
                        active boolean NOT NULL DEFAULT true, plan text NOT NULL DEFAULT 'paid');
INSERT INTO cbt_users VALUES (1, 'cbt', 'member');
SELECT apikey_bind_users('cbt_users', active_column => 'active');
SELECT key AS cbt_key FROM apikey_create('cbt', '1', 'cbt key') \gset

-- the application suspends users by plan, in a BEFORE trigger
CREATE FUNCTION cbt_suspend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.active := NEW.plan <> 'suspended';
	IF NEW.plan = 'demoted' THEN
		NEW.role := 'viewer';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER cbt_suspend BEFORE UPDATE ON cbt_users FOR EACH ROW EXECUTE FUNCTION cbt_suspend();

SELECT valid, status, role FROM apikey_verify(:'cbt_key');
SELECT valid, status, role FROM apikey_verify(:'cbt_key');  -- from the cache
UPDATE cbt_users SET plan = 'suspended' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
UPDATE cbt_users SET plan = 'paid' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
UPDATE cbt_users SET plan = 'demoted' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');

-- the triggers apikey installed on the table
SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS definition
  FROM pg_trigger WHERE tgrelid = 'cbt_users'::regclass AND tgname LIKE 'apikey%' ORDER BY tgname;

-- the owner disables the cache trigger: answers stay correct (read every time)
ALTER TABLE cbt_users DISABLE TRIGGER apikey_users_cache_update;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
UPDATE cbt_users SET plan = 'paid', role = 'owner' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
UPDATE cbt_users SET plan = 'suspended' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
-- ... and replaces it with one that fires only for some columns: still correct
DROP TRIGGER apikey_users_cache_update ON cbt_users;
CREATE TRIGGER apikey_users_cache_update AFTER UPDATE OF tenant_id ON cbt_users
	FOR EACH ROW EXECUTE FUNCTION apikey.cache_invalidate('id', 'tenant_id', 'role', 'active');
ALTER TABLE cbt_users ENABLE ALWAYS TRIGGER apikey_users_cache_update;
UPDATE cbt_users SET plan = 'paid' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
UPDATE cbt_users SET plan = 'suspended' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
-- binding again puts the triggers back
SELECT apikey_bind_users('cbt_users', active_column => 'active');
UPDATE cbt_users SET plan = 'paid' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');
UPDATE cbt_users SET plan = 'suspended' WHERE id = 1;
SELECT valid, status, role FROM apikey_verify(:'cbt_key');

-- the same for the role and permission tables: a BEFORE trigger rewrites the permission
UPDATE cbt_users SET plan = 'paid', role = 'member' WHERE id = 1;
CREATE TABLE cbt_roles (name text PRIMARY KEY, parent text);
CREATE TABLE cbt_grants (role text NOT NULL, permission text NOT NULL);
INSERT INTO cbt_roles VALUES ('member', NULL);
INSERT INTO cbt_grants VALUES ('member', 'orders:read');
SELECT apikey_bind_roles('cbt_roles');
SELECT apikey_bind_permissions('cbt_grants');
CREATE FUNCTION cbt_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.permission := 'orders:' || NEW.permission;
	RETURN NEW;
END
$$;
CREATE TRIGGER cbt_rewrite BEFORE UPDATE ON cbt_grants FOR EACH ROW EXECUTE FUNCTION cbt_rewrite();
SELECT valid, status, permissions FROM apikey_verify(:'cbt_key');
UPDATE cbt_grants SET role = 'member';
SELECT valid, status, permissions FROM apikey_verify(:'cbt_key');

-- apikey.keys: a BEFORE trigger a DBA adds cannot hide a change either
CREATE FUNCTION cbt_keys_disable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.metadata ? 'suspend' THEN
		NEW.enabled := false;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER cbt_keys_disable BEFORE UPDATE ON apikey.keys FOR EACH ROW EXECUTE FUNCTION cbt_keys_disable();
SELECT valid, status FROM apikey_verify(:'cbt_key');
UPDATE apikey.keys SET metadata = '{"suspend": true}' WHERE tenant_id = 'cbt';
SELECT valid, status FROM apikey_verify(:'cbt_key');
-- ... nor keep it out of the audit trail
SELECT action, actor FROM apikey.events WHERE tenant_id = 'cbt' ORDER BY id;
DROP TRIGGER cbt_keys_disable ON apikey.keys;
DROP FUNCTION cbt_keys_disable();

-- Clean up
DELETE FROM apikey.permission_binding;
DELETE FROM apikey.role_binding;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM cbt_saved_binding;
DROP TABLE cbt_saved_binding, cbt_users, cbt_roles, cbt_grants;
DROP FUNCTION cbt_suspend(), cbt_rewrite();
DELETE FROM apikey.events WHERE tenant_id = 'cbt';
DELETE FROM apikey.keys WHERE tenant_id = 'cbt';
