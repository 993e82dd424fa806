--
-- security: who may call what, and no caller-controlled object is ever run
--
-- Part 1, the privilege matrix.  The contract:
--
--   PUBLIC (any role without grants)  nothing at all
--   apikey_verifier                   apikey_verify only (and USAGE on schema apikey),
--                                     with the verification entry points of 1.1 that
--                                     are apikey_verify plus a check or a header parse:
--                                     apikey_authorize, apikey_authenticate,
--                                     apikey_verify_header, apikey_postgrest_pre_request
--   apikey_admin                      all of the verifier's, and apikey_create,
--                                     apikey_list, apikey_rotate, apikey_disable,
--                                     apikey_enable, apikey_revoke, apikey_revoke_key, apikey_stats,
--                                     apikey_stats_reset
--   owner / superuser only            apikey_bind_users (and apikey_bind_roles,
--                                     apikey_bind_permissions)
--   nobody but the owner              any privilege on the relations of schema apikey:
--                                     keys, user_binding, role_binding,
--                                     permission_binding, events and their sequences
--                                     (no SELECT, no DML, no TRUNCATE)
--   nobody                            EXECUTE on the trigger functions in schema apikey
--
-- Every management function is SECURITY DEFINER with search_path pinned to
-- pg_catalog, pg_temp; apikey_verify is not, and does its rare last-used
-- write as the owner of apikey.keys.  The matrix is printed from the
-- catalogs, then every function is really called through SET ROLE.
--
-- Part 2, the Trojan test: an unprivileged role plants functions, operators
-- and tables named like everything the extension's SQL and C could call, in
-- public, in its own schema and in pg_temp; the application role runs every
-- function (schema-qualified, explicit casts) with that schema first and
-- pg_catalog last on its search_path: no trojan ever runs, every result is right.
--

-- roles of this test (cluster-wide objects: regress_ prefix, dropped at the end)
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_apikey_nobody;
DROP ROLE IF EXISTS regress_apikey_verifier;
DROP ROLE IF EXISTS regress_apikey_admin;
DROP ROLE IF EXISTS regress_apikey_app;
DROP ROLE IF EXISTS regress_apikey_trojan;
RESET client_min_messages;

-- The two roles of the extension exist, cannot log in, and have no attributes
SELECT rolname, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolcreatedb,
       rolreplication, rolbypassrls
  FROM pg_roles WHERE rolname IN ('apikey_verifier', 'apikey_admin') ORDER BY rolname;
-- ... and are members of nothing
SELECT count(*) AS memberships
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
 WHERE r.rolname IN ('apikey_verifier', 'apikey_admin');

CREATE ROLE regress_apikey_nobody;
CREATE ROLE regress_apikey_verifier IN ROLE apikey_verifier;
CREATE ROLE regress_apikey_admin IN ROLE apikey_admin;

-- The users of this test
CREATE TABLE sec_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text, active boolean NOT NULL DEFAULT true);
INSERT INTO sec_users VALUES (1, 'sec', 'owner', true), (2, 'sec', 'member', true), (3, 'other', 'admin', true);
SELECT apikey_bind_users('public.sec_users', active_column => 'active');

-------------------------------------------------------------------------------
-- 1a. The matrix, from the catalogs
-------------------------------------------------------------------------------

-- EXECUTE on every function of the extension (PUBLIC itself, and the three roles)
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS "public",
       has_function_privilege('regress_apikey_nobody', p.oid, 'EXECUTE') AS nobody,
       has_function_privilege('regress_apikey_verifier', p.oid, 'EXECUTE') AS verifier,
       has_function_privilege('regress_apikey_admin', p.oid, 'EXECUTE') AS admin,
       p.prosecdef AS secdef, p.proconfig AS config
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'apikey')
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- The same against the contract: rows here are violations (expected: none)
WITH expected(fn, verifier, admin) AS (VALUES
	('apikey_bind_users(regclass,name,name,name,name)', false, false),
	('apikey_create(text,text,text,timestamp with time zone,text,text[],jsonb,integer,interval,bigint,bigint,interval)', false, true),
	('apikey_verify(text)', true, true),
	('apikey_revoke(bigint,text,text)', false, true),
	('apikey_revoke_key(text,text)', false, true),
	('apikey_disable(bigint,text)', false, true),
	('apikey_enable(bigint,text)', false, true),
	('apikey_rotate(bigint,interval,text)', false, true),
	('apikey_consume(text,integer)', true, true),
	('apikey_update(bigint,text,text,text[],jsonb,timestamp with time zone,integer,interval,bigint,bigint,interval,text[])', false, true),
	('apikey_list(text)', false, true),
	('apikey_stats()', false, true),
	('apikey_stats_reset()', false, true),
	('apikey_set_tenant_rate_limit(text,integer,interval)', false, true),
	('apikey_authorize(text,text)', true, true),
	('apikey_authenticate(text)', true, true),
	('apikey_verify_header(text)', true, true),
	('apikey_postgrest_pre_request()', true, true),
	('apikey_bind_roles(regclass,name,name)', false, false),
	('apikey_bind_permissions(regclass,name,name)', false, false),
	('apikey_import(text,text,text,bytea,text,text,timestamp with time zone,text,text[],jsonb,timestamp with time zone)', false, true),
	('apikey_register_format(text,text,integer,integer,text,integer)', false, false),
	('apikey_unregister_format(text)', false, false),
	('apikey.keys_guard()', false, false),
	('apikey.keys_audit()', false, false),
	('apikey.cache_invalidate()', false, false),
	('apikey.binding_changed()', false, false),
	('apikey_revoke_user(text,text,text)', false, true),
	('apikey_prune(interval)', false, true),
	('apikey.events_notify()', false, false)),
actual AS (
	SELECT p.oid::regprocedure::text AS fn,
	       has_function_privilege('public', p.oid, 'EXECUTE') AS pub,
	       has_function_privilege('regress_apikey_nobody', p.oid, 'EXECUTE') AS nobody,
	       has_function_privilege('regress_apikey_verifier', p.oid, 'EXECUTE') AS verifier,
	       has_function_privilege('regress_apikey_admin', p.oid, 'EXECUTE') AS admin
	  FROM pg_proc p
	  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'apikey'))
SELECT coalesce(e.fn, a.fn) AS function, a.pub, a.nobody, a.verifier, a.admin,
       e.verifier AS want_verifier, e.admin AS want_admin
  FROM expected e FULL JOIN actual a ON a.fn = e.fn
 WHERE a.fn IS NULL OR e.fn IS NULL OR a.pub OR a.nobody
    OR a.verifier IS DISTINCT FROM e.verifier OR a.admin IS DISTINCT FROM e.admin;

-- Every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp (expected: none listed)
SELECT p.oid::regprocedure AS unpinned
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'apikey')
   AND p.prosecdef
   AND p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp'];

-- Every privilege on the relations of schema apikey (table, column and sequence level)
SELECT c.oid::regclass AS relation, priv,
       CASE c.relkind WHEN 'S' THEN has_sequence_privilege('public', c.oid, priv)
            ELSE has_table_privilege('public', c.oid, priv) END AS "public",
       CASE c.relkind WHEN 'S' THEN has_sequence_privilege('regress_apikey_nobody', c.oid, priv)
            ELSE has_table_privilege('regress_apikey_nobody', c.oid, priv) END AS nobody,
       CASE c.relkind WHEN 'S' THEN has_sequence_privilege('regress_apikey_verifier', c.oid, priv)
            ELSE has_table_privilege('regress_apikey_verifier', c.oid, priv) END AS verifier,
       CASE c.relkind WHEN 'S' THEN has_sequence_privilege('regress_apikey_admin', c.oid, priv)
            ELSE has_table_privilege('regress_apikey_admin', c.oid, priv) END AS admin
  FROM pg_class c
  CROSS JOIN LATERAL unnest(CASE c.relkind WHEN 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
                                 ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE',
                                            'REFERENCES', 'TRIGGER'] END) AS priv
 WHERE c.relnamespace = 'apikey'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
 ORDER BY c.relname COLLATE "C", priv COLLATE "C";
-- no column-level grant either (expected: none listed)
SELECT c.oid::regclass AS relation, r.rolname, priv
  FROM pg_class c
  CROSS JOIN (VALUES ('public'), ('regress_apikey_nobody'), ('regress_apikey_verifier'),
                     ('regress_apikey_admin')) AS r(rolname)
  CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) AS priv
 WHERE c.relnamespace = 'apikey'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
   AND has_any_column_privilege(r.rolname, c.oid, priv);
-- relations of schema apikey, none of them readable by anyone but their owner
SELECT relname, relkind, pg_get_userbyid(relowner) = current_user AS owned_by_installer, relacl
  FROM pg_class WHERE relnamespace = 'apikey'::regnamespace AND relkind IN ('r', 'S', 'v', 'm', 'p')
 ORDER BY relname COLLATE "C";

-- The schema apikey: USAGE for the two roles only, CREATE for nobody
SELECT r AS role, has_schema_privilege(r, 'apikey', 'USAGE') AS usage,
       has_schema_privilege(r, 'apikey', 'CREATE') AS "create"
  FROM unnest(ARRAY['public', 'regress_apikey_nobody', 'regress_apikey_verifier',
                    'regress_apikey_admin']) AS r;

-------------------------------------------------------------------------------
-- 1b. The matrix, by calling everything through SET ROLE
-------------------------------------------------------------------------------

-- Keys for the calls: a (verify, disable, enable, rotate), b (revoke by id), c (revoke by key)
SELECT id AS sec_a_id, key AS sec_a_key FROM apikey_create('sec', '1', 'matrix a') \gset
SELECT id AS sec_b_id, key AS sec_b_key FROM apikey_create('sec', '1', 'matrix b') \gset
SELECT id AS sec_c_id, key AS sec_c_key FROM apikey_create('sec', '2', 'matrix c') \gset

-- Every function, in an order where each call of apikey_admin is meaningful
CREATE TABLE sec_calls (ord int, call text, sql text);
INSERT INTO sec_calls VALUES
	(1, 'apikey_bind_users', $$SELECT public.apikey_bind_users('public.sec_users', active_column => 'active')$$),
	(2, 'apikey_bind_roles', $$SELECT public.apikey_bind_roles('public.sec_users', 'role', 'tenant_id')$$),
	(3, 'apikey_bind_permissions', $$SELECT public.apikey_bind_permissions('public.sec_users', 'role', 'tenant_id')$$),
	(4, 'apikey_create', $$SELECT public.apikey_create('sec', '2', 'made by a role')$$),
	(5, 'apikey_verify', format($$SELECT public.apikey_verify(%L)$$, :'sec_a_key')),
	(6, 'apikey_authorize', format($$SELECT public.apikey_authorize(%L, 'read')$$, :'sec_a_key')),
	(7, 'apikey_authenticate', format($$SELECT public.apikey_authenticate(%L)$$, :'sec_a_key')),
	(8, 'apikey_verify_header', format($$SELECT public.apikey_verify_header(%L)$$, 'Bearer ' || :'sec_a_key')),
	(9, 'apikey_postgrest_pre_request', format($$SELECT set_config('request.headers', %L, true), public.apikey_postgrest_pre_request()$$,
		json_build_object('authorization', 'Bearer ' || :'sec_a_key'))),
	(10, 'apikey_list', $$SELECT public.apikey_list('sec')$$),
	(11, 'apikey_disable', format($$SELECT public.apikey_disable(%s)$$, :sec_a_id)),
	(12, 'apikey_enable', format($$SELECT public.apikey_enable(%s)$$, :sec_a_id)),
	(13, 'apikey_rotate', format($$SELECT public.apikey_rotate(%s, '1 hour')$$, :sec_a_id)),
	(14, 'apikey_revoke(id)', format($$SELECT public.apikey_revoke(%s::bigint, 'by id')$$, :sec_b_id)),
	(15, 'apikey_revoke_key(key)', format($$SELECT public.apikey_revoke_key(%L::text, 'by key')$$, :'sec_c_key')),
	(16, 'apikey_stats', $$SELECT public.apikey_stats()$$),
	(17, 'apikey_stats_reset', $$SELECT public.apikey_stats_reset()$$),
	(20, 'SELECT apikey.keys', $$SELECT count(*) FROM apikey.keys$$),
	(21, 'INSERT apikey.keys', $$INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, key_hash, environment)
		VALUES ('sec', '1', 'forged', 'ak_live_xxxx', 'xxxx', sha256('forged'), 'live')$$),
	(22, 'UPDATE apikey.keys', $$UPDATE apikey.keys SET enabled = true$$),
	(23, 'DELETE apikey.keys', $$DELETE FROM apikey.keys$$),
	(24, 'TRUNCATE apikey.keys', $$TRUNCATE apikey.keys$$),
	(25, 'SELECT apikey.user_binding', $$SELECT count(*) FROM apikey.user_binding$$),
	(26, 'INSERT apikey.user_binding', $$INSERT INTO apikey.user_binding (singleton, table_schema, table_name, id_column, tenant_column, role_column)
		VALUES (true, 'public', 'sec_users', 'id', 'tenant_id', 'role') ON CONFLICT DO NOTHING$$),
	(27, 'UPDATE apikey.user_binding', $$UPDATE apikey.user_binding SET table_name = 'users'$$),
	(28, 'DELETE apikey.user_binding', $$DELETE FROM apikey.user_binding$$),
	(29, 'SELECT apikey.role_binding', $$SELECT count(*) FROM apikey.role_binding$$),
	(30, 'INSERT apikey.permission_binding', $$INSERT INTO apikey.permission_binding (table_schema, table_name, role_column, permission_column)
		VALUES ('public', 'sec_users', 'role', 'tenant_id')$$),
	(31, 'SELECT apikey.events', $$SELECT count(*) FROM apikey.events$$),
	(32, 'INSERT apikey.events', $$INSERT INTO apikey.events (key_id, tenant_id, action) VALUES (1, 'sec', 'create')$$),
	(33, 'UPDATE apikey.events', $$UPDATE apikey.events SET actor = 'nobody'$$),
	(34, 'DELETE apikey.events', $$DELETE FROM apikey.events$$),
	(35, 'nextval apikey.keys_id_seq', $$SELECT nextval('apikey.keys_id_seq')$$),
	(36, 'setval apikey.keys_id_seq', $$SELECT setval('apikey.keys_id_seq', 1)$$),
	(37, 'CREATE in schema apikey', $$CREATE TABLE apikey.planted (x int)$$),
	(38, 'apikey.keys_guard()', $$SELECT apikey.keys_guard()$$),
	(39, 'apikey.keys_audit()', $$SELECT apikey.keys_audit()$$);
GRANT SELECT ON sec_calls TO PUBLIC;

SELECT count(*) AS keys_before FROM apikey.keys \gset

-- PUBLIC: everything refused with 42501
SET ROLE regress_apikey_nobody;
SELECT ord, call, expect_error(sql) AS result FROM sec_calls ORDER BY ord;
RESET ROLE;

-- apikey_verifier: apikey_verify only
SET ROLE regress_apikey_verifier;
SELECT ord, call, expect_error(sql) AS result FROM sec_calls ORDER BY ord;
RESET ROLE;

-- nothing changed so far: same number of keys, key a enabled and not rotated, b and c not revoked
SELECT count(*) = :keys_before AS keys_unchanged FROM apikey.keys;
SELECT id = :sec_a_id AS a, enabled, revoked_at IS NULL AS not_revoked,
       EXISTS (SELECT FROM apikey.keys s WHERE s.rotated_from = k.id) AS rotated
  FROM apikey.keys k WHERE id IN (:sec_a_id, :sec_b_id, :sec_c_id) ORDER BY id;

-- apikey_admin: every function but apikey_bind_users; still no table access
SET ROLE regress_apikey_admin;
SELECT ord, call, expect_error(sql) AS result FROM sec_calls ORDER BY ord;
RESET ROLE;

-- the admin's calls took effect: one key created, one rotated from a, b and c revoked
SELECT count(*) - :keys_before AS new_keys FROM apikey.keys;
SELECT id = :sec_a_id AS a, enabled, revoked_at IS NOT NULL AS revoked, revoke_reason,
       EXISTS (SELECT FROM apikey.keys s WHERE s.rotated_from = k.id) AS rotated
  FROM apikey.keys k WHERE id IN (:sec_a_id, :sec_b_id, :sec_c_id) ORDER BY id;

-- The owner (here the superuser) binds users; the binding is unchanged by the refused calls
SELECT table_schema, table_name, id_column, active_column FROM apikey.user_binding;
SELECT expect_error($$SELECT public.apikey_bind_users('public.sec_users', active_column => 'active')$$);

-- A non-superuser who owns the user table still cannot bind it
CREATE TABLE sec_owned_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text);
ALTER TABLE sec_owned_users OWNER TO regress_apikey_admin;
SET ROLE regress_apikey_admin;
SELECT expect_error($$SELECT public.apikey_bind_users('public.sec_owned_users')$$);
RESET ROLE;
SELECT table_name FROM apikey.user_binding;

-- apikey_verifier verifies, and its last-used write happens (as the owner of apikey.keys;
-- apikey_list shows the newest use)
-- (preloaded, background workers write last_used_at later: expected/security_1.out)
SELECT id AS sec_v_id, key AS sec_v_key FROM apikey_create('sec', '2', 'verifier write') \gset
SELECT last_used_written AS lu_written0, last_used_dropped AS lu_dropped0 FROM apikey_stats() \gset
SET ROLE regress_apikey_verifier;
SELECT valid, status, key_id = :sec_v_id AS key_id_ok, tenant_id, user_id, role
  FROM public.apikey_verify(:'sec_v_key');
SELECT current_user;
RESET ROLE;
SELECT last_used_at IS NOT NULL AS last_used_written, last_used_at > now() - interval '1 hour' AS recent
  FROM apikey_list('sec') WHERE id = :sec_v_id;
SELECT last_used_written - :lu_written0 AS written, last_used_dropped - :lu_dropped0 AS dropped
  FROM apikey_stats();
-- as apikey_admin too, and never as a side effect of a refused call
SELECT id AS sec_w_id, key AS sec_w_key FROM apikey_create('sec', '2', 'admin write') \gset
SET ROLE regress_apikey_admin;
SELECT valid, status FROM public.apikey_verify(:'sec_w_key');
RESET ROLE;
SELECT last_used_at IS NOT NULL AS last_used_written FROM apikey_list('sec') WHERE id = :sec_w_id;
SELECT id AS sec_x_id, key AS sec_x_key FROM apikey_create('sec', '2', 'nobody write') \gset
SET ROLE regress_apikey_nobody;
SELECT expect_error(format($$SELECT public.apikey_verify(%L)$$, :'sec_x_key'));
RESET ROLE;
SELECT last_used_at IS NULL AS untouched FROM apikey_list('sec') WHERE id = :sec_x_id;

-------------------------------------------------------------------------------
-- 2. The Trojan test
-------------------------------------------------------------------------------
CREATE ROLE regress_apikey_trojan;
CREATE ROLE regress_apikey_app IN ROLE apikey_admin;
CREATE SCHEMA regress_trojan AUTHORIZATION regress_apikey_trojan;
-- a careless database: anyone may create in public
GRANT CREATE ON SCHEMA public TO regress_apikey_trojan;

SET ROLE regress_apikey_trojan;
-- Every planted object writes here when it runs (granted to all: whoever runs it logs)
CREATE TABLE regress_trojan.trojan_log (what text, run_as text DEFAULT current_user);
GRANT USAGE ON SCHEMA regress_trojan TO PUBLIC;
GRANT INSERT, SELECT ON regress_trojan.trojan_log TO PUBLIC;

-- Functions: name, argument types, return type, wrong answer.  Planted in the
-- trojan schema (same signatures as pg_catalog's and pgcrypto's) and in public
-- (where a same signature exists already, pgcrypto's, the DO block skips it).
CREATE TABLE regress_trojan.plants (fname text, args text, rettype text, answer text);
INSERT INTO regress_trojan.plants VALUES
	('digest', 'text, text', 'bytea', $$'\x00'::bytea$$),
	('digest', 'bytea, text', 'bytea', $$'\x00'::bytea$$),
	('digest', 'varchar, varchar', 'bytea', $$'\x00'::bytea$$),
	('hmac', 'text, text, text', 'bytea', $$'\x00'::bytea$$),
	('sha256', 'bytea', 'bytea', $$'\x00'::bytea$$),
	('gen_random_bytes', 'integer', 'bytea', $$'\x00'::bytea$$),
	('gen_random_uuid', '', 'uuid', $$'00000000-0000-0000-0000-000000000000'::uuid$$),
	('now', '', 'timestamptz', $$'2000-01-01'::timestamptz$$),
	('statement_timestamp', '', 'timestamptz', $$'2000-01-01'::timestamptz$$),
	('transaction_timestamp', '', 'timestamptz', $$'2000-01-01'::timestamptz$$),
	('clock_timestamp', '', 'timestamptz', $$'2000-01-01'::timestamptz$$),
	('"least"', 'timestamptz, timestamptz', 'timestamptz', $$'2000-01-01'::timestamptz$$),
	('"greatest"', 'timestamptz, timestamptz', 'timestamptz', $$'2000-01-01'::timestamptz$$),
	('"coalesce"', 'text, text', 'text', $$'trojan'$$),
	('"nullif"', 'text, text', 'text', $$'trojan'$$),
	('char_length', 'text', 'integer', '1'),
	('char_length', 'varchar', 'integer', '1'),
	('length', 'text', 'integer', '1'),
	('octet_length', 'bytea', 'integer', '32'),
	('octet_length', 'text', 'integer', '32'),
	('lower', 'text', 'text', $$'trojan'$$),
	('upper', 'text', 'text', $$'trojan'$$),
	('substr', 'text, integer, integer', 'text', $$'trojan'$$),
	('encode', 'bytea, text', 'text', $$'trojan'$$),
	('decode', 'text, text', 'bytea', $$'\x00'::bytea$$),
	('nextval', 'regclass', 'bigint', '1'),
	('currval', 'regclass', 'bigint', '1'),
	('setval', 'regclass, bigint', 'bigint', '1'),
	('current_setting', 'text', 'text', $$'trojan'$$),
	('set_config', 'text, text, boolean', 'text', $$'trojan'$$),
	('array_length', 'anyarray, integer', 'integer', '1'),
	('cardinality', 'anyarray', 'integer', '1'),
	('array_ndims', 'anyarray', 'integer', '1'),
	('to_jsonb', 'anyelement', 'jsonb', $$'{}'::jsonb$$),
	('jsonb_typeof', 'jsonb', 'text', $$'trojan'$$),
	('texteq', 'text, text', 'boolean', 'true'),
	('byteaeq', 'bytea, bytea', 'boolean', 'true'),
	('int8eq', 'bigint, bigint', 'boolean', 'true'),
	('pg_advisory_xact_lock', 'bigint', 'void', 'NULL'),
	('format', 'text, text', 'text', $$'trojan'$$),
	('quote_ident', 'text', 'text', $$'trojan'$$),
	('apikey_verify', 'varchar', 'SETOF record', NULL),
	('apikey_verify', 'text', 'SETOF record', NULL),
	('apikey_create', 'varchar, varchar, varchar', 'SETOF record', NULL),
	('apikey_create', 'text, text, text', 'SETOF record', NULL),
	('apikey_revoke', 'integer, text', 'boolean', 'true'),
	('apikey_revoke', 'varchar, varchar', 'boolean', 'true'),
	('apikey_revoke', 'bigint, text, text', 'boolean', 'true'),
	('apikey_disable', 'integer', 'boolean', 'true'),
	('apikey_disable', 'bigint, text', 'boolean', 'true'),
	('apikey_enable', 'integer', 'boolean', 'true'),
	('apikey_enable', 'bigint, text', 'boolean', 'true'),
	('apikey_rotate', 'integer', 'SETOF record', NULL),
	('apikey_rotate', 'bigint, interval, text', 'SETOF record', NULL),
	('apikey_list', 'varchar', 'SETOF record', NULL),
	('apikey_list', 'text', 'SETOF record', NULL),
	('apikey_stats', '', 'SETOF record', NULL),
	('apikey_bind_users', 'text', 'void', 'NULL'),
	('apikey_authorize', 'varchar, varchar', 'SETOF record', NULL),
	('apikey_authorize', 'text, text', 'SETOF record', NULL),
	('apikey_authenticate', 'varchar', 'SETOF record', NULL),
	('apikey_authenticate', 'text', 'SETOF record', NULL),
	('apikey_verify_header', 'varchar', 'SETOF record', NULL),
	('apikey_verify_header', 'text', 'SETOF record', NULL),
	('apikey_postgrest_pre_request', '', 'void', 'NULL'),
	('keys_guard', '', 'trigger', 'NEW'),
	('keys_audit', '', 'trigger', 'NULL'),
	('current_setting', 'text, boolean', 'text', $$'trojan'$$),
	('format', 'text, bigint', 'text', $$'trojan'$$),
	('format', 'text, timestamptz', 'text', $$'trojan'$$),
	('json_build_object', 'text, text', 'json', $$'{}'::json$$),
	('jsonb_in', 'text', 'jsonb', $$'{}'::jsonb$$),
	('pg_strncasecmp', 'text, text, integer', 'integer', '0'),
	('binding_changed', '', 'trigger', 'NULL'),
	('t_eq', 'text, text', 'boolean', 'true'),
	('t_eq', 'bigint, bigint', 'boolean', 'true'),
	('t_eq', 'integer, integer', 'boolean', 'true'),
	('t_eq', 'bytea, bytea', 'boolean', 'true'),
	('t_eq', 'boolean, boolean', 'boolean', 'true'),
	('t_eq', 'name, name', 'boolean', 'true'),
	('t_eq', 'timestamptz, timestamptz', 'boolean', 'true'),
	('t_eq', 'text[], text[]', 'boolean', 'true'),
	('t_lt', 'timestamptz, timestamptz', 'boolean', 'true'),
	('t_lt', 'bigint, bigint', 'boolean', 'true'),
	('t_lt', 'integer, integer', 'boolean', 'true'),
	('t_ne', 'boolean, boolean', 'boolean', 'true'),
	('t_ne', 'text, text', 'boolean', 'true'),
	('t_ne', 'bigint, bigint', 'boolean', 'true'),
	('t_cat', 'text, text', 'text', $$'trojan'$$),
	('t_pl', 'timestamptz, interval', 'timestamptz', $$'2000-01-01'::timestamptz$$);
-- exact copies of the extension's own signatures go to the trojan schema only: in
-- public they would collide with the extension's functions (or make them ambiguous)
ALTER TABLE regress_trojan.plants ADD COLUMN in_public boolean NOT NULL DEFAULT true;
UPDATE regress_trojan.plants SET in_public = false
 WHERE fname IN ('apikey_verify', 'apikey_create', 'apikey_revoke', 'apikey_disable', 'apikey_enable',
                 'apikey_rotate', 'apikey_list', 'apikey_stats', 'apikey_authorize',
                 'apikey_authenticate', 'apikey_verify_header', 'apikey_postgrest_pre_request')
   AND args IN ('text', 'text, text', 'text, text, text', 'bigint, text, text', 'bigint, text',
                'bigint, interval, text', '');

DO $plant$
DECLARE
	p record;
	s text;
	body text;
BEGIN
	FOREACH s IN ARRAY ARRAY['regress_trojan', 'public'] LOOP
		FOR p IN SELECT * FROM regress_trojan.plants WHERE in_public OR s = 'regress_trojan' LOOP
			IF p.rettype = 'SETOF record' THEN
				-- a set-returning look-alike: logs, returns one row of garbage
				body := format($b$BEGIN INSERT INTO regress_trojan.trojan_log (what) VALUES (%L);
					RETURN QUERY SELECT true, 'valid'::text; END$b$,
					s || '.' || p.fname || '(' || p.args || ')');
				p.rettype := 'TABLE(valid boolean, status text)';
			ELSIF p.rettype = 'trigger' THEN
				body := format($b$BEGIN INSERT INTO regress_trojan.trojan_log (what) VALUES (%L);
					RETURN %s; END$b$, s || '.' || p.fname || '()', p.answer);
			ELSE
				body := format($b$BEGIN INSERT INTO regress_trojan.trojan_log (what) VALUES (%L);
					RETURN %s; END$b$, s || '.' || p.fname || '(' || p.args || ')',
					CASE WHEN p.rettype = 'void' THEN '' ELSE p.answer END);
			END IF;
			BEGIN
				EXECUTE format('CREATE FUNCTION %I.%s(%s) RETURNS %s LANGUAGE plpgsql AS %L',
							   s, p.fname, p.args, p.rettype, body);
			EXCEPTION WHEN duplicate_function THEN
				NULL;	-- e.g. public.digest(text, text) of pgcrypto: not ours to replace
			END;
		END LOOP;
	END LOOP;
END
$plant$;

-- Operators, in both schemas: wrong answers for every comparison the code could make
DO $ops$
DECLARE
	s text;
	o record;
BEGIN
	FOREACH s IN ARRAY ARRAY['regress_trojan', 'public'] LOOP
		FOR o IN SELECT * FROM (VALUES
				('=', 'text', 'text', 't_eq'), ('=', 'bigint', 'bigint', 't_eq'),
				('=', 'integer', 'integer', 't_eq'), ('=', 'bytea', 'bytea', 't_eq'),
				('=', 'boolean', 'boolean', 't_eq'), ('=', 'name', 'name', 't_eq'),
				('=', 'timestamptz', 'timestamptz', 't_eq'), ('=', 'text[]', 'text[]', 't_eq'),
				('<', 'timestamptz', 'timestamptz', 't_lt'), ('<', 'bigint', 'bigint', 't_lt'),
				('<', 'integer', 'integer', 't_lt'),
				('<>', 'boolean', 'boolean', 't_ne'), ('<>', 'text', 'text', 't_ne'),
				('<>', 'bigint', 'bigint', 't_ne'),
				('||', 'text', 'text', 't_cat'), ('+', 'timestamptz', 'interval', 't_pl'))
				AS v(op, l, r, fn) LOOP
			EXECUTE format('CREATE OPERATOR %I.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %I.%I)',
						   s, o.op, o.l, o.r, s, o.fn);
		END LOOP;
	END LOOP;
END
$ops$;

-- Tables named like the extension's, with rows that would make any key valid
CREATE TABLE regress_trojan.keys (id bigint, tenant_id text, user_id text, name text, key_hash bytea,
	environment text, enabled boolean, revoked_at timestamptz, expires_at timestamptz, rotated_from bigint);
INSERT INTO regress_trojan.keys VALUES (1, 'sec', '1', 'trojan', '\x00', 'live', true, NULL, NULL, NULL);
CREATE TABLE regress_trojan.user_binding (singleton boolean, table_schema name, table_name name,
	id_column name, tenant_column name, role_column name, active_column name);
CREATE TABLE regress_trojan.events (key_id bigint, tenant_id text, action text);
CREATE TABLE regress_trojan.sec_users (id integer PRIMARY KEY, tenant_id text, role text, active boolean);
INSERT INTO regress_trojan.sec_users VALUES (1, 'sec', 'superadmin', true), (2, 'sec', 'superadmin', true);
CREATE TABLE public.keys (LIKE regress_trojan.keys);
CREATE TABLE public.user_binding (LIKE regress_trojan.user_binding);
CREATE TABLE public.events (LIKE regress_trojan.events);
GRANT SELECT, INSERT, UPDATE, DELETE ON regress_trojan.keys, regress_trojan.user_binding, regress_trojan.events,
	regress_trojan.sec_users, public.keys, public.user_binding, public.events TO PUBLIC;
RESET ROLE;

-- What was planted
SELECT n.nspname AS schema, count(*) FILTER (WHERE o.kind = 'f') AS functions,
       count(*) FILTER (WHERE o.kind = 'o') AS operators, count(*) FILTER (WHERE o.kind = 'r') AS tables
  FROM (SELECT pronamespace, 'f' FROM pg_proc WHERE proowner = 'regress_apikey_trojan'::regrole
        UNION ALL SELECT oprnamespace, 'o' FROM pg_operator WHERE oprowner = 'regress_apikey_trojan'::regrole
        UNION ALL SELECT relnamespace, 'r' FROM pg_class
                   WHERE relowner = 'regress_apikey_trojan'::regrole AND relkind = 'r'
                     AND relname <> 'trojan_log' AND relname <> 'plants') AS o(nsp, kind)
  JOIN pg_namespace n ON n.oid = o.nsp
 GROUP BY n.nspname ORDER BY n.nspname;

-- A new backend: every plan the extension prepares is prepared under the trojan search_path
\c -
-- pg_temp: the trojan plants temporary look-alikes too (in this very session)
SET ROLE regress_apikey_trojan;
CREATE FUNCTION pg_temp.digest(text, text) RETURNS bytea LANGUAGE plpgsql
	AS $$BEGIN INSERT INTO regress_trojan.trojan_log (what) VALUES ('pg_temp.digest'); RETURN '\x00'; END$$;
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE plpgsql
	AS $$BEGIN INSERT INTO regress_trojan.trojan_log (what) VALUES ('pg_temp.now'); RETURN '2000-01-01'; END$$;
CREATE FUNCTION pg_temp.apikey_verify(varchar) RETURNS TABLE(valid boolean, status text) LANGUAGE plpgsql
	AS $$BEGIN INSERT INTO regress_trojan.trojan_log (what) VALUES ('pg_temp.apikey_verify'); RETURN QUERY SELECT true, 'valid'::text; END$$;
CREATE TEMP TABLE keys (LIKE regress_trojan.keys);
CREATE TEMP TABLE user_binding (LIKE regress_trojan.user_binding);
CREATE TEMP TABLE sec_users (id integer PRIMARY KEY, tenant_id text, role text, active boolean);
INSERT INTO sec_users VALUES (1, 'sec', 'superadmin', true), (2, 'sec', 'superadmin', true);
GRANT ALL ON keys, user_binding, sec_users TO PUBLIC;
RESET ROLE;

-- a well-formed key never issued (computed before the attack: test_key uses ||)
SELECT test_key('ak', 'live', repeat('0', 32)) AS tj_unknown \gset

-- The application role: apikey_admin, trojan schema first, pg_catalog last
SET ROLE regress_apikey_app;
SET search_path = regress_trojan, pg_temp, public, pg_catalog;
SHOW search_path;

-- create (every argument), create (defaults)
SELECT id AS tj1_id, key AS tj1_key, prefix AS tj1_prefix, created_at AS tj1_created, expires_at AS tj1_expires
  FROM public.apikey_create('sec'::text, '1'::text, 'trojan one'::text, NULL::timestamptz, 'test'::text,
                            ARRAY['read', 'write']::text[], '{"via": "trojan"}'::jsonb) \gset
SELECT id AS tj2_id, key AS tj2_key FROM public.apikey_create('sec'::text, '2'::text, 'trojan two'::text) \gset
-- verify: valid (with its last-used write), malformed, unknown, missing
SELECT valid, status, tenant_id, user_id, role, scopes, permissions, environment, expires_at, metadata
  FROM public.apikey_verify(:'tj1_key'::text);
SELECT valid, status, tenant_id, user_id, role FROM public.apikey_verify(:'tj2_key'::text);
SELECT valid, status, key_id, tenant_id FROM public.apikey_verify('ak_live_not_a_key'::text);
SELECT valid, status, key_id, tenant_id FROM public.apikey_verify(:'tj_unknown'::text);
SELECT valid, status, key_id, tenant_id FROM public.apikey_verify(NULL::text);
-- list
SELECT user_id, name, environment, scopes, enabled, revoked_at IS NULL AS not_revoked, status
  FROM public.apikey_list('sec'::text)
 WHERE name OPERATOR(pg_catalog.~~) 'trojan%' ORDER BY id;
-- the 1.1 entry points: authorize (scope held / not held), authenticate, header, PostgREST hook
SELECT valid, status, user_id, role FROM public.apikey_authorize(:'tj1_key'::text, 'read'::text);
SELECT valid, status, user_id, role FROM public.apikey_authorize(:'tj1_key'::text, 'delete'::text);
SELECT valid, status, user_id, role FROM public.apikey_verify_header(pg_catalog.concat('Bearer '::text, :'tj1_key'::text));
SELECT valid, status, user_id, role FROM public.apikey_verify_header(pg_catalog.concat('Basic '::text, :'tj1_key'::text));
BEGIN;
SELECT valid, status, user_id, role FROM public.apikey_authenticate(:'tj2_key'::text);
SHOW apikey.user_id;
SHOW apikey.role;
COMMIT;
SELECT pg_catalog.json_build_object('authorization'::text, pg_catalog.concat('Bearer '::text, :'tj1_key'::text))::text AS tj_hdr \gset
BEGIN;
SET LOCAL request.headers = :'tj_hdr';
SELECT public.apikey_postgrest_pre_request();
SHOW apikey.user_id;
SHOW apikey.tenant_id;
COMMIT;
-- disable, verify, enable, verify
SELECT public.apikey_disable(:tj1_id::bigint, NULL::text) AS disabled;
SELECT valid, status FROM public.apikey_verify(:'tj1_key'::text);
SELECT public.apikey_disable(:tj1_id::bigint, NULL::text) AS disabled_again;
SELECT public.apikey_enable(:tj1_id::bigint, NULL::text) AS enabled;
SELECT public.apikey_enable(:tj1_id::bigint, NULL::text) AS enabled_again;
SELECT valid, status FROM public.apikey_verify(:'tj1_key'::text);
-- rotate: the old key keeps working for the grace period, the new one works
SELECT id AS tj3_id, key AS tj3_key, expires_at AS tj3_expires
  FROM public.apikey_rotate(:tj1_id::bigint, '1 hour'::interval, NULL::text) \gset
SELECT valid, status, user_id, environment, scopes, metadata FROM public.apikey_verify(:'tj3_key'::text);
SELECT valid, status, expires_at IS NOT NULL AS capped FROM public.apikey_verify(:'tj1_key'::text);
-- revoke by id (with tenant guard), by key; twice each
SELECT public.apikey_revoke(:tj2_id::bigint, 'trojan test'::text, 'sec'::text) AS revoked_by_id;
SELECT public.apikey_revoke(:tj2_id::bigint, 'again'::text, NULL::text) AS revoked_by_id_again;
SELECT public.apikey_revoke_key(:'tj3_key'::text, 'trojan test'::text) AS revoked_by_key;
SELECT public.apikey_revoke_key(:'tj3_key'::text, 'again'::text) AS revoked_by_key_again;
SELECT valid, status FROM public.apikey_verify(:'tj2_key'::text);
SELECT valid, status FROM public.apikey_verify(:'tj3_key'::text);
-- the errors of the contract, unchanged (their messages show key ids: SQLSTATEs only)
\set VERBOSITY sqlstate
SELECT public.apikey_enable(:tj2_id::bigint, NULL::text);
SELECT * FROM public.apikey_rotate(:tj1_id::bigint, '1 hour'::interval, NULL::text);
SELECT * FROM public.apikey_rotate(:tj2_id::bigint, '1 hour'::interval, NULL::text);
SELECT public.apikey_disable(:tj1_id::bigint, 'other'::text);
\set VERBOSITY default
SELECT public.apikey_disable(9223372036854775807::bigint, NULL::text);
SELECT public.apikey_revoke_key('ak_live_not_a_key'::text, NULL::text);
SELECT public.apikey_revoke_key(:'tj_unknown'::text, NULL::text);
SELECT * FROM public.apikey_create('sec'::text, '3'::text, 'other tenant'::text);
SELECT * FROM public.apikey_create('sec'::text, '1'::text, ''::text);
-- stats: this backend's counters (new backend, not preloaded): every verification
-- above, through any entry point (an authorize that answers forbidden counts as valid)
-- (preloaded, the counters are shared and count this file's earlier verifications
-- too, and last_used_at below is not written yet: expected/security_1.out)
SELECT valid, missing, malformed, unknown, revoked, disabled, expired, user_inactive
  FROM public.apikey_stats();
-- The app role cannot write the extension's tables, whatever its search_path
UPDATE apikey.keys SET revoked_at = NULL;
UPDATE apikey.keys SET enabled = true WHERE id OPERATOR(pg_catalog.=) :tj2_id::bigint;
DELETE FROM apikey.keys;
INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, key_hash, environment)
	VALUES ('sec', '1', 'forged', 'ak_live_xxxx', 'xxxx', '\x00'::bytea, 'live');
TRUNCATE apikey.keys;
UPDATE apikey.user_binding SET table_schema = 'regress_trojan';
DELETE FROM apikey.user_binding;
INSERT INTO apikey.user_binding (singleton, table_schema, table_name, id_column, tenant_column, role_column)
	VALUES (false, 'regress_trojan', 'sec_users', 'id', 'tenant_id', 'role');
TRUNCATE apikey.user_binding;
RESET ROLE;

-- The superuser, with the same search_path: the triggers run none of the trojans either
SHOW search_path;
-- the binding trigger (apikey_bind_users writes apikey.user_binding)
SELECT public.apikey_bind_users('public.sec_users'::regclass, 'id'::name, 'tenant_id'::name,
                                'role'::name, 'active'::name);
-- the guard trigger: a no-op update passes, un-revoking and re-keying are refused
\set VERBOSITY sqlstate
UPDATE apikey.keys SET revoke_reason = revoke_reason WHERE id OPERATOR(pg_catalog.=) :tj2_id::bigint;
UPDATE apikey.keys SET revoked_at = NULL WHERE id OPERATOR(pg_catalog.=) :tj2_id::bigint;
UPDATE apikey.keys SET key_hash = '\x00'::bytea WHERE id OPERATOR(pg_catalog.=) :tj3_id::bigint;
UPDATE apikey.keys SET tenant_id = 'other'::text WHERE id OPERATOR(pg_catalog.=) :tj1_id::bigint;
\set VERBOSITY default
RESET search_path;

-- No trojan ran (expected: no rows)
SELECT what, run_as FROM regress_trojan.trojan_log ORDER BY what COLLATE "C";

-- And every result was right: the rows written during the attack, read with the real operators
SELECT id = :tj1_id AS tj1, name, tenant_id, user_id, environment, scopes, metadata,
       key_hash = sha256(convert_to(CASE id WHEN :tj1_id THEN :'tj1_key' WHEN :tj2_id THEN :'tj2_key'
                                            ELSE :'tj3_key' END, 'UTF8')) AS hash_ok,
       prefix = left(CASE id WHEN :tj1_id THEN :'tj1_key' WHEN :tj2_id THEN :'tj2_key'
                             ELSE :'tj3_key' END, 12) AS prefix_ok,
       created_at > now() - interval '1 hour' AND created_at <= now() AS created_now,
       (SELECT l.last_used_at FROM apikey_list('sec') l WHERE l.id = keys.id) > now() - interval '1 hour' AS used_now,
       enabled, revoked_at > now() - interval '1 hour' AS revoked_now, revoke_reason,
       rotated_from = :tj1_id AS rotated_from_tj1,
       expires_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes' AS grace_1h
  FROM apikey.keys WHERE id IN (:tj1_id, :tj2_id, :tj3_id) ORDER BY id;
SELECT :'tj1_key' ~ '^ak_test_[0-9A-Za-z]{38}$' AS tj1_shape, :'tj3_key' ~ '^ak_test_[0-9A-Za-z]{38}$' AS tj3_shape,
       :'tj1_prefix' = left(:'tj1_key', 12) AS prefix_returned,
       :'tj1_created'::timestamptz > now() - interval '1 hour' AS created_returned,
       NOT :{?tj1_expires} AS no_expiry_returned, NOT :{?tj3_expires} AS new_key_no_expiry;
-- the audit trail of the attack: right actions, right time, the session's role, no actor
SELECT CASE key_id WHEN :tj1_id THEN 'tj1' WHEN :tj2_id THEN 'tj2' ELSE 'tj3' END AS key, action,
       actor, db_role = session_user AS session_role, at > now() - interval '1 hour' AS at_now,
       reason IS NOT NULL AS has_reason
  FROM apikey.events WHERE key_id IN (:tj1_id, :tj2_id, :tj3_id) ORDER BY id;
-- the binding is the real one, the trojans' tables are untouched
SELECT table_schema, table_name, id_column, tenant_column, role_column, active_column FROM apikey.user_binding;
SELECT (SELECT count(*) FROM regress_trojan.keys) AS trojan_keys, (SELECT count(*) FROM public.keys)
     + (SELECT count(*) FROM pg_temp.keys) + (SELECT count(*) FROM regress_trojan.user_binding)
     + (SELECT count(*) FROM public.user_binding) + (SELECT count(*) FROM pg_temp.user_binding)
     + (SELECT count(*) FROM regress_trojan.events) + (SELECT count(*) FROM public.events) AS other_trojan_rows;

-- Control: the trojans are live.  Unqualified calls and operators with the
-- trojan search_path do reach them (which is why the calls above are qualified)
SET ROLE regress_apikey_app;
SET search_path = regress_trojan, pg_temp, public, pg_catalog;
SELECT apikey_revoke(1, 'unqualified, int literal') AS trojan_answer;
SELECT 'a'::text = 'b'::text AS trojan_equal;
SELECT digest('x'::text, 'sha256'::text) AS trojan_digest;
RESET search_path;
RESET ROLE;
SELECT what, run_as FROM regress_trojan.trojan_log ORDER BY what COLLATE "C";

-- Clean up
DROP OWNED BY regress_apikey_trojan CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_apikey_trojan;
DROP OWNED BY regress_apikey_nobody, regress_apikey_verifier, regress_apikey_admin, regress_apikey_app;
DROP ROLE regress_apikey_trojan, regress_apikey_nobody, regress_apikey_verifier, regress_apikey_admin,
          regress_apikey_app;
SELECT apikey_bind_users('users', active_column => 'active');
DROP TABLE sec_calls, sec_users;
