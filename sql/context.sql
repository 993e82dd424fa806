--
-- context: apikey_authenticate and the transaction-local request context
-- (apikey.key_id, apikey.tenant_id, apikey.user_id, apikey.role) it sets for
-- row-level security; PT401; apikey_verify_header; apikey_postgrest_pre_request
--
-- The user binding of the previous files, restored at the end
CREATE TABLE ctx_saved_binding AS SELECT * FROM apikey.user_binding;

CREATE TABLE ctx_users (id text PRIMARY KEY, tenant_id text NOT NULL, role text,
                        active boolean NOT NULL DEFAULT true);
INSERT INTO ctx_users VALUES ('ann', 'north', 'admin'), ('bob', 'north', 'member'),
                             ('cy', 'south', 'member'), ('dee', 'south', NULL),
                             ('eve', 'north', 'member');
SELECT apikey_bind_users('ctx_users', active_column => 'active');

-- The keys of this test, by label (never printed)
CREATE TABLE ctx_keys (label text PRIMARY KEY, key_id bigint NOT NULL, key text NOT NULL);
INSERT INTO ctx_keys
SELECT t.label, c.id, c.key
  FROM (VALUES ('ann', 'north', 'ann'), ('bob', 'north', 'bob'), ('cy', 'south', 'cy'),
               ('dee', 'south', 'dee'), ('revoked', 'north', 'bob'), ('disabled', 'north', 'bob'),
               ('expired', 'north', 'bob'), ('inactive', 'north', 'eve')) AS t(label, tenant, usr),
       LATERAL apikey_create(t.tenant, t.usr, 'ctx ' || t.label, expires_at => now() + interval '1 day') c;
SELECT apikey_revoke(key_id) AS revoked FROM ctx_keys WHERE label = 'revoked';
SELECT apikey_disable(key_id) AS disabled FROM ctx_keys WHERE label = 'disabled';
UPDATE apikey.keys SET expires_at = now() - interval '1 minute'
 WHERE id = (SELECT key_id FROM ctx_keys WHERE label = 'expired');
UPDATE ctx_users SET active = false WHERE id = 'eve';
SELECT key AS k_ann, key_id AS id_ann FROM ctx_keys WHERE label = 'ann' \gset
SELECT key AS k_cy FROM ctx_keys WHERE label = 'cy' \gset
SELECT key AS k_dee FROM ctx_keys WHERE label = 'dee' \gset
SELECT key AS k_revoked FROM ctx_keys WHERE label = 'revoked' \gset
SELECT label, v.valid, v.status, v.tenant_id, v.user_id, v.role
  FROM ctx_keys k, LATERAL apikey_verify(k.key) v ORDER BY label COLLATE "C";

-- The request context as seen by whoever runs it: the key as its label
CREATE FUNCTION ctx_now() RETURNS TABLE(key text, tenant_id text, user_id text, role text)
LANGUAGE sql AS $$
	SELECT CASE coalesce(current_setting('apikey.key_id', true), '')
	         WHEN '' THEN current_setting('apikey.key_id', true)
	         ELSE coalesce((SELECT label FROM ctx_keys WHERE key_id::text = current_setting('apikey.key_id', true)),
	                       'another key') END,
	       current_setting('apikey.tenant_id', true), current_setting('apikey.user_id', true),
	       current_setting('apikey.role', true)
$$;

-- An application table protected by row-level security with the context
CREATE TABLE ctx_orders (tenant_id text NOT NULL, item text NOT NULL);
INSERT INTO ctx_orders VALUES ('north', 'n1'), ('north', 'n2'), ('north', 'n3'),
                              ('south', 's1'), ('south', 's2');
ALTER TABLE ctx_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE ctx_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY ctx_orders_tenant ON ctx_orders
	USING (tenant_id = current_setting('apikey.tenant_id', true));

-- The application's database role: not the owner, verifier only
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_apikey_ctx_app;
RESET client_min_messages;
CREATE ROLE regress_apikey_ctx_app IN ROLE apikey_verifier;
GRANT SELECT, INSERT ON ctx_orders TO regress_apikey_ctx_app;
GRANT SELECT (label, key_id) ON ctx_keys TO regress_apikey_ctx_app;

-------------------------------------------------------------------------------
-- 1. apikey_authenticate: the verify row, and the context for the transaction
-------------------------------------------------------------------------------
SELECT * FROM ctx_now();
BEGIN;
SELECT valid, status, key_id = :id_ann AS key_id_ok, tenant_id, user_id, role, permissions
  FROM apikey_authenticate(:'k_ann');
SELECT * FROM ctx_now();
SELECT current_setting('apikey.key_id') = :'id_ann' AS key_id_setting_ok;
COMMIT;
-- gone after COMMIT
SELECT * FROM ctx_now();
-- the same row as apikey_verify
SELECT (a.*) IS NOT DISTINCT FROM (v.*) AS same_row
  FROM apikey_authenticate(:'k_cy') a, apikey_verify(:'k_cy') v;
-- a statement of its own (implicit transaction): gone at the next statement
SELECT * FROM ctx_now();
SELECT status FROM apikey_authenticate(:'k_cy');
SELECT * FROM ctx_now();
-- gone after ROLLBACK
BEGIN;
SELECT status FROM apikey_authenticate(:'k_cy');
SELECT * FROM ctx_now();
ROLLBACK;
SELECT * FROM ctx_now();
-- gone after an error aborted the transaction
BEGIN;
SELECT status FROM apikey_authenticate(:'k_cy');
SELECT 1 / 0;
ROLLBACK;
SELECT * FROM ctx_now();
-- a second key in the same transaction replaces the context; a user without
-- a role has an empty apikey.role
BEGIN;
SELECT status FROM apikey_authenticate(:'k_ann');
SELECT status FROM apikey_authenticate(:'k_dee');
SELECT * FROM ctx_now();
COMMIT;
-- a savepoint rolled back takes its context with it
BEGIN;
SELECT status FROM apikey_authenticate(:'k_ann');
SAVEPOINT s1;
SELECT status FROM apikey_authenticate(:'k_cy');
SELECT * FROM ctx_now();
ROLLBACK TO SAVEPOINT s1;
SELECT * FROM ctx_now();
RELEASE SAVEPOINT s1;
COMMIT;
SELECT * FROM ctx_now();
-- ... and in a new session there is nothing either
\c
SELECT * FROM ctx_now();

-------------------------------------------------------------------------------
-- 2. PT401 for every key that is not valid, with one generic message; the
--    context stays unset
-------------------------------------------------------------------------------
SELECT t.label, expect_error(format('SELECT apikey_authenticate(%L)', t.key)) AS result
  FROM (SELECT 'null' AS label, NULL::text AS key
        UNION ALL SELECT 'empty', ''
        UNION ALL SELECT 'malformed', 'ak_live_short'
        UNION ALL SELECT 'garbage', 'Bearer or not'
        UNION ALL SELECT 'bad checksum', left(:'k_ann', 43) || 'AAAAAA'
        UNION ALL SELECT 'unknown', test_key('ak', 'live', repeat('Z', 32))
        UNION ALL SELECT label, key FROM ctx_keys
                   WHERE label IN ('revoked', 'disabled', 'expired', 'inactive')) AS t
 ORDER BY t.label COLLATE "C";
-- the message and its hint, as a client sees them
\set VERBOSITY sqlstate
SELECT apikey_authenticate(:'k_revoked');
SELECT apikey_authenticate(NULL);
\set VERBOSITY default
SELECT apikey_authenticate('ak_live_short');
BEGIN;
SELECT expect_error(format('SELECT apikey_authenticate(%L)', :'k_revoked')) AS revoked;
SELECT * FROM ctx_now();
COMMIT;

-------------------------------------------------------------------------------
-- 3. The context cannot be forged by the application role (superuser-only)
-------------------------------------------------------------------------------
SET ROLE regress_apikey_ctx_app;
SELECT expect_error($$SET apikey.tenant_id = 'south'$$) AS set_tenant;
SELECT expect_error($$SET LOCAL apikey.key_id = '1'$$) AS set_local_key_id;
SELECT expect_error($$SELECT set_config('apikey.user_id', 'cy', false)$$) AS set_config_user;
SELECT expect_error($$SELECT set_config('apikey.role', 'admin', true)$$) AS set_config_role;
SELECT expect_error($$RESET apikey.tenant_id$$) AS reset_tenant;
SELECT * FROM ctx_now();
SELECT count(*) AS visible_orders FROM ctx_orders;
RESET ROLE;

-------------------------------------------------------------------------------
-- 4. Row-level security with the context, as the application role
-------------------------------------------------------------------------------
SET ROLE regress_apikey_ctx_app;
-- not authenticated: nothing
SELECT count(*) AS visible_orders FROM ctx_orders;
-- north's key: north's rows only
BEGIN;
SELECT valid, tenant_id FROM apikey_authenticate(:'k_ann');
SELECT tenant_id, item FROM ctx_orders ORDER BY item;
-- writing another tenant's row is refused by the same policy
SELECT expect_error($$INSERT INTO ctx_orders VALUES ('south', 'forged')$$) AS insert_other_tenant;
INSERT INTO ctx_orders VALUES ('north', 'n4');
SELECT tenant_id, item FROM ctx_orders ORDER BY item;
COMMIT;
-- after COMMIT: nothing
SELECT count(*) AS visible_orders FROM ctx_orders;
-- south's key, then north's in the same transaction
BEGIN;
SELECT valid, tenant_id FROM apikey_authenticate(:'k_cy');
SELECT tenant_id, item FROM ctx_orders ORDER BY item;
SELECT valid, tenant_id FROM apikey_authenticate(:'k_ann');
SELECT tenant_id, count(*) FROM ctx_orders GROUP BY tenant_id;
COMMIT;
-- a refused key: PT401, and nothing visible in that transaction
BEGIN;
SELECT expect_error(format('SELECT apikey_authenticate(%L)', :'k_revoked')) AS revoked;
SELECT count(*) AS visible_orders FROM ctx_orders;
COMMIT;
RESET ROLE;
DELETE FROM ctx_orders WHERE item = 'n4';

-------------------------------------------------------------------------------
-- 5. apikey_verify_header(authorization): exactly "Bearer <key>"
-------------------------------------------------------------------------------
SELECT t.n, t.label, h.valid, h.status, h.tenant_id
  FROM (VALUES (1, 'NULL', NULL),
               (2, 'empty', ''),
               (3, 'Bearer <key>', 'Bearer ' || :'k_ann'),
               (4, 'bearer <key>', 'bearer ' || :'k_ann'),
               (5, 'BEARER <key>', 'BEARER ' || :'k_ann'),
               (6, 'bEaReR <key>', 'bEaReR ' || :'k_ann'),
               (7, 'Bearer <unknown key>', 'Bearer ' || test_key('ak', 'live', repeat('Z', 32))),
               (8, 'Bearer <revoked key>', 'Bearer ' || :'k_revoked'),
               (9, 'two spaces', 'Bearer  ' || :'k_ann'),
               (10, 'tab', E'Bearer\t' || :'k_ann'),
               (11, 'leading space', ' Bearer ' || :'k_ann'),
               (12, 'trailing space', 'Bearer ' || :'k_ann' || ' '),
               (13, 'trailing newline', 'Bearer ' || :'k_ann' || E'\n'),
               (14, 'no scheme', :'k_ann'),
               (15, 'Basic', 'Basic ' || encode(convert_to('ann:' || :'k_ann', 'UTF8'), 'base64')),
               (16, 'Token <key>', 'Token ' || :'k_ann'),
               (17, 'Bearer:<key>', 'Bearer:' || :'k_ann'),
               (18, 'Bearer<key>', 'Bearer' || :'k_ann'),
               (19, 'Bearer', 'Bearer'),
               (20, 'Bearer + space', 'Bearer '),
               (21, 'spaces only', '   '),
               (22, 'two keys', 'Bearer ' || :'k_ann' || ', Bearer ' || :'k_cy'),
               (23, 'Bearer x', 'Bearer x')) AS t(n, label, header),
       LATERAL apikey_verify_header(t.header) h
 ORDER BY t.n;
-- the row of a good header is apikey_verify's row
SELECT (h.*) IS NOT DISTINCT FROM (v.*) AS same_row
  FROM apikey_verify_header('Bearer ' || :'k_dee') h, apikey_verify(:'k_dee') v;
-- it sets no context
SELECT * FROM ctx_now();

-------------------------------------------------------------------------------
-- 6. apikey_postgrest_pre_request(): as PostgREST calls it, as the
--    application role, with the settings PostgREST sets for a request
-------------------------------------------------------------------------------
BEGIN;
SET LOCAL ROLE regress_apikey_ctx_app;
SELECT set_config('request.method', 'GET', true) AS method,
       set_config('request.path', '/ctx_orders', true) AS path,
       set_config('request.headers',
                  json_build_object('accept', '*/*', 'authorization', 'Bearer ' || :'k_cy',
                                    'user-agent', 'regress')::text, true) IS NOT NULL AS headers;
SELECT apikey_postgrest_pre_request();
SELECT * FROM ctx_now();
SELECT tenant_id, item FROM ctx_orders ORDER BY item;
COMMIT;
SELECT * FROM ctx_now();
SELECT coalesce(current_setting('request.headers', true), '') AS headers_after;
-- PT401 and nothing visible: no Authorization header, no request.headers at
-- all, another scheme, a revoked key, a malformed key
CREATE FUNCTION ctx_pre_request(headers text) RETURNS TABLE(result text, visible bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.method', 'GET', true);
	PERFORM set_config('request.path', '/ctx_orders', true);
	IF headers IS NOT NULL THEN
		PERFORM set_config('request.headers', headers, true);
	END IF;
	result := expect_error('SELECT apikey_postgrest_pre_request()');
	visible := (SELECT count(*) FROM ctx_orders);
	RETURN NEXT;
END
$$;
SET ROLE regress_apikey_ctx_app;
SELECT t.label, r.*
  FROM (VALUES (1, 'no authorization', '{"accept": "*/*"}'),
               (2, 'no request.headers', NULL),
               (3, 'empty object', '{}'),
               (4, 'authorization null', '{"authorization": null}'),
               (5, 'Basic', '{"authorization": "Basic YW5uOnB3"}'),
               (6, 'revoked', json_build_object('authorization', 'Bearer ' || :'k_revoked')::text),
               (7, 'malformed', '{"authorization": "Bearer ak_live_short"}')) AS t(n, label, headers),
       LATERAL ctx_pre_request(t.headers) r
 ORDER BY t.n;
-- a good header among others, lower-cased, case-insensitive scheme
SELECT r.* FROM ctx_pre_request(json_build_object('authorization', 'bearer ' || :'k_ann',
                                                  'prefer', 'return=representation')::text) r;
RESET ROLE;

-------------------------------------------------------------------------------
-- 7. A fresh session, before the application has called any apikey
--    function: the application role still cannot forge the context.  Until
--    a session loads the library PostgreSQL knows nothing of its settings,
--    so a database whose policies read them loads it at session start (as
--    the README says; shared_preload_libraries does the same cluster-wide)
-------------------------------------------------------------------------------
SELECT format('ALTER DATABASE %I SET session_preload_libraries = %L', current_database(), 'apikey') \gexec
\c
SET ROLE regress_apikey_ctx_app;
SELECT expect_error($$SET apikey.tenant_id = 'south'$$) AS set_tenant;
SELECT expect_error($$SELECT set_config('apikey.tenant_id', 'north', false)$$) AS set_config_tenant;
SELECT count(*) AS visible_orders FROM ctx_orders;
RESET ROLE;
SELECT format('ALTER DATABASE %I RESET session_preload_libraries', current_database()) \gexec
\c

-------------------------------------------------------------------------------
-- Clean up: the previous user binding back
-------------------------------------------------------------------------------
DROP OWNED BY regress_apikey_ctx_app;
DROP ROLE regress_apikey_ctx_app;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM ctx_saved_binding;
SELECT count(*) AS same_binding
  FROM apikey.user_binding b JOIN ctx_saved_binding s USING (table_schema, table_name, id_column,
                                                            tenant_column, role_column)
 WHERE b.active_column IS NOT DISTINCT FROM s.active_column;
DROP TABLE ctx_saved_binding;
