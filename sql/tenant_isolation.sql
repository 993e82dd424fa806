--
-- tenant_isolation: an actor (apikey.actor) of one tenant learns nothing
-- about another tenant from the management functions.  The actor is checked
-- before any key or user is read, and another tenant's key or user gets
-- exactly the answer of a missing one: same SQLSTATE, same message (issue 9,
-- finding 9).  The README's worked example, with a manager in each tenant.
--
-- The user binding of the previous files, restored at the end
CREATE TABLE ti_saved_binding AS SELECT * FROM apikey.user_binding;

CREATE TABLE ti_roles (name text PRIMARY KEY, parent text REFERENCES ti_roles (name));
INSERT INTO ti_roles VALUES ('viewer', NULL), ('cashier', 'viewer'), ('admin', 'cashier'), ('owner', 'admin');
CREATE TABLE ti_role_permissions (
    role       text NOT NULL REFERENCES ti_roles (name),
    permission text NOT NULL,
    PRIMARY KEY (role, permission));
INSERT INTO ti_role_permissions VALUES
    ('viewer', 'orders:read'), ('cashier', 'orders:write'),
    ('admin', 'customers:write'), ('owner', 'apikey:manage');
CREATE TABLE ti_users (
    id        bigint PRIMARY KEY,
    tenant_id text NOT NULL,
    role      text NOT NULL REFERENCES ti_roles (name),
    active    boolean NOT NULL DEFAULT true);
INSERT INTO ti_users VALUES (101, 'acme', 'owner', true), (102, 'acme', 'cashier', true),
                            (103, 'acme', 'cashier', false), (104, 'acme', 'owner', false),
                            (201, 'globex', 'owner', true), (202, 'globex', 'viewer', true);
SELECT apikey_bind_users('ti_users', active_column => 'active');
SELECT apikey_bind_roles('ti_roles');
SELECT apikey_bind_permissions('ti_role_permissions');

-- acme's keys (one revoked, one disabled) and globex's own key
SELECT id AS acme_id, key AS acme_key FROM apikey_create('acme', '102', 'acme POS') \gset
SELECT id AS acme_revoked_id FROM apikey_create('acme', '102', 'acme revoked') \gset
SELECT apikey_revoke(:acme_revoked_id, 'test') AS revoked;
SELECT id AS acme_disabled_id FROM apikey_create('acme', '102', 'acme disabled') \gset
SELECT apikey_disable(:acme_disabled_id) AS disabled;
SELECT id AS globex_id FROM apikey_create('globex', '201', 'globex CI') \gset
-- an id that no key has, and a well-formed key that was never issued
SELECT max(id) + 1000 AS missing_id FROM apikey.keys \gset
SELECT test_key('ak', 'live', repeat('x', 32)) AS missing_key \gset
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset
SELECT count(*) AS keys_before FROM apikey.keys \gset

-- the answer to a statement (SQLSTATE: message (detail)), with the target
-- it names (key id, "user id", "tenant") shown as <target>
CREATE FUNCTION ti_answer(template text, target text) RETURNS text
LANGUAGE sql AS $$
	SELECT replace(replace(expect_error(format(template, target)),
	                       'API key ' || target || ' ', 'API key <target> '),
	               '"' || target || '"', '"<target>"')
$$;

-- every management function, on a target of tenant acme and on a missing one
CREATE TABLE ti_calls (call text, template text, acme_target text, missing_target text);
INSERT INTO ti_calls VALUES
    ('disable', 'SELECT apikey_disable(%s)', :'acme_id', :'missing_id'),
    ('disable a disabled key', 'SELECT apikey_disable(%s)', :'acme_disabled_id', :'missing_id'),
    ('enable', 'SELECT apikey_enable(%s)', :'acme_disabled_id', :'missing_id'),
    ('enable a revoked key', 'SELECT apikey_enable(%s)', :'acme_revoked_id', :'missing_id'),
    ('revoke(id)', 'SELECT apikey_revoke(%s::bigint)', :'acme_id', :'missing_id'),
    ('revoke(id) a revoked key', 'SELECT apikey_revoke(%s::bigint)', :'acme_revoked_id', :'missing_id'),
    ('revoke(id, reason, own tenant)', $$SELECT apikey_revoke(%s::bigint, 'probe', 'globex')$$, :'acme_id', :'missing_id'),
    ('revoke(id, reason, tenant acme)', $$SELECT apikey_revoke(%s::bigint, 'probe', 'acme')$$, :'acme_id', :'missing_id'),
    ('revoke(key)', $$SELECT apikey_revoke_key(%L::text, 'probe')$$, :'acme_key', :'missing_key'),
    ('rotate', 'SELECT apikey_rotate(%s)', :'acme_id', :'missing_id'),
    ('rotate a revoked key', 'SELECT apikey_rotate(%s)', :'acme_revoked_id', :'missing_id'),
    ('create for an acme user', $$SELECT apikey_create('globex', %L, 'probe')$$, '102', '404'),
    ('create for an inactive acme user', $$SELECT apikey_create('globex', %L, 'probe')$$, '103', '404'),
    ('create in tenant acme', $$SELECT apikey_create(%L, '201', 'probe')$$, 'acme', 'initech'),
    ('list', 'SELECT count(*) FROM apikey_list(%L)', 'acme', 'initech');

-- the answers an actor gets, and whether the acme target looks missing
CREATE FUNCTION ti_probe(actor text)
RETURNS TABLE(fn text, acme_target text, missing_target text, same boolean)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	PERFORM set_config('apikey.actor', actor, true);
	FOR c IN SELECT * FROM ti_calls ORDER BY call COLLATE "C" LOOP
		fn := c.call;
		acme_target := ti_answer(c.template, c.acme_target);
		missing_target := ti_answer(c.template, c.missing_target);
		same := acme_target = missing_target;
		RETURN NEXT;
	END LOOP;
	PERFORM set_config('apikey.actor', '', true);
END
$$;

-------------------------------------------------------------------------------
-- 1. The attack: apikey.actor = a manager of globex, probing acme.  Another
--    tenant's key or user answers exactly like a missing one (P0002 or
--    23503, same message); a call naming tenant acme itself is 42501 for
--    any tenant but globex, whether the tenant exists or not
-------------------------------------------------------------------------------
SELECT * FROM ti_probe('201');

-------------------------------------------------------------------------------
-- 2. The actor is checked first: an actor who may not manage keys (a
--    globex viewer, an inactive acme owner, no such user) gets the same 42501
--    whatever the target, and so learns nothing about it
-------------------------------------------------------------------------------
SELECT * FROM ti_probe('202');
SELECT fn, acme_target, same FROM ti_probe('104') WHERE NOT same OR acme_target NOT LIKE '42501:%';
SELECT fn, acme_target, same FROM ti_probe('999') WHERE NOT same OR acme_target NOT LIKE '42501:%';
-- the same 42501 for globex's own key as for acme's
BEGIN;
SET LOCAL apikey.actor = '202';
SELECT ti_answer('SELECT apikey_disable(%s)', :'globex_id') AS own_key,
       ti_answer('SELECT apikey_disable(%s)', :'acme_id') AS acme_key;
COMMIT;

-------------------------------------------------------------------------------
-- 3. Nothing changed: acme's keys as they were, no key created, no event
-------------------------------------------------------------------------------
SELECT name, enabled, revoked_at IS NOT NULL AS revoked, expires_at IS NULL AS no_expiry,
       (SELECT count(*) FROM apikey.keys s WHERE s.rotated_from = k.id) AS successors
  FROM apikey.keys k WHERE tenant_id = 'acme' AND name LIKE 'acme %' ORDER BY id;
SELECT count(*) - :keys_before AS keys_created FROM apikey.keys;
SELECT count(*) AS events FROM apikey.events WHERE id > :last_event;

-------------------------------------------------------------------------------
-- 4. The globex manager still manages globex's own keys, and lists only them
-------------------------------------------------------------------------------
BEGIN;
SET LOCAL apikey.actor = '201';
SELECT apikey_disable(:globex_id) AS disabled;
SELECT apikey_enable(:globex_id) AS enabled;
SELECT name, status FROM apikey_list('globex') WHERE name LIKE 'globex %' ORDER BY id;
SELECT count(*) AS acme_keys_listed FROM apikey_list('globex') WHERE name LIKE 'acme %';
SELECT count(*) AS created FROM apikey_create('globex', '202', 'globex viewer key');
COMMIT;
SELECT action, actor FROM apikey.events WHERE id > :last_event ORDER BY id;

-------------------------------------------------------------------------------
-- Clean up: no roles or permissions bound, the previous user binding back
-------------------------------------------------------------------------------
DELETE FROM apikey.permission_binding;
DELETE FROM apikey.role_binding;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM ti_saved_binding;
SELECT count(*) AS same_binding
  FROM apikey.user_binding b JOIN ti_saved_binding s USING (table_schema, table_name, id_column,
                                                           tenant_column, role_column)
 WHERE b.active_column IS NOT DISTINCT FROM s.active_column;
DROP TABLE ti_saved_binding;
