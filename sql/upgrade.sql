-- Upgrade path: CREATE EXTENSION apikey VERSION '1.0' followed by ALTER
-- EXTENSION apikey UPDATE gives exactly the objects of a fresh install of
-- the current version (compared through the catalogs), and the upgraded
-- extension works.
SELECT default_version FROM pg_available_extensions WHERE name = 'apikey';
SELECT version FROM pg_available_extension_versions WHERE name = 'apikey' ORDER BY version;
SELECT path FROM pg_extension_update_paths('apikey') WHERE source = '1.0' AND target = '1.1';
SELECT path FROM pg_extension_update_paths('apikey') WHERE source = '1.0' AND target = '1.1.1';
SELECT path FROM pg_extension_update_paths('apikey') WHERE source = '1.0' AND target = '1.2';
SELECT path FROM pg_extension_update_paths('apikey') WHERE source = '1.1' AND target = '1.2';

CREATE DATABASE apikey_fresh;
CREATE DATABASE apikey_upgraded;

-- every object of the extension, described with its definition and privileges
\set describe 'SELECT string_agg(d, E''\n'' ORDER BY d) FROM ( SELECT pg_describe_object(dep.classid, dep.objid, dep.objsubid) || '' '' || coalesce(CASE dep.classid WHEN ''pg_proc''::regclass THEN (SELECT pg_get_function_identity_arguments(p.oid) || '' -> '' || pg_get_function_result(p.oid) || '' '' || p.prosecdef || '' '' || coalesce(array_to_string(p.proconfig, '',''), '''') || '' '' || coalesce(p.proacl::text, '''') || '' '' || md5(p.prosrc) FROM pg_proc p WHERE p.oid = dep.objid) WHEN ''pg_class''::regclass THEN (SELECT c.relkind::text || '' '' || coalesce(c.relacl::text, '''') || '' '' || coalesce((SELECT string_agg(a.attname || '':'' || format_type(a.atttypid, a.atttypmod) || '':'' || a.attnotnull || '':'' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''''), '','' ORDER BY a.attname) FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '''') || '' '' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '';'' ORDER BY pg_get_indexdef(i.indexrelid)) FROM pg_index i WHERE i.indrelid = c.oid), '''') || '' '' || coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), '';'' ORDER BY pg_get_constraintdef(k.oid)) FROM pg_constraint k WHERE k.conrelid = c.oid), '''') || '' '' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid), '';'' ORDER BY pg_get_triggerdef(t.oid)) FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '''') FROM pg_class c WHERE c.oid = dep.objid) ELSE '''' END, '''') AS d FROM pg_depend dep WHERE dep.refclassid = ''pg_extension''::regclass AND dep.refobjid = (SELECT oid FROM pg_extension WHERE extname = ''apikey'') AND dep.deptype = ''e'' UNION ALL SELECT ''config '' || (SELECT string_agg(x::regclass::text, '','' ORDER BY x::regclass::text) FROM pg_extension e, unnest(e.extconfig) x WHERE e.extname = ''apikey'') ) s'

\c apikey_fresh
CREATE EXTENSION apikey CASCADE;
SELECT extversion FROM pg_extension WHERE extname = 'apikey';
:describe \gset fresh_
-- (PostgreSQL 17 and later also record the row types of the extension's tables
-- and their array types as members: two more per table, expected/upgrade_1.out)
SELECT count(*) AS objects FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'apikey') AND deptype = 'e';

\c apikey_upgraded
CREATE EXTENSION apikey VERSION '1.0' CASCADE;
SELECT extversion FROM pg_extension WHERE extname = 'apikey';
-- a user table bound under 1.0 gets its cache trigger on update
CREATE TABLE users (id bigint PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
INSERT INTO users VALUES (1, 't1', 'owner');
SELECT apikey_bind_users('users');
-- 1.0 -> 1.1, then 1.1 -> 1.2 (through 1.1.1)
ALTER EXTENSION apikey UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'apikey';
ALTER EXTENSION apikey UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'apikey';
:describe \gset upgraded_
SELECT count(*) AS objects FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'apikey') AND deptype = 'e';
SELECT length(:'fresh_string_agg') > 2000 AS described, :'fresh_string_agg' = :'upgraded_string_agg' AS same_objects_as_fresh_install;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal ORDER BY tgname;

-- the upgraded extension works end to end
SELECT key AS up_key FROM apikey_create('t1', '1', 'after upgrade') \gset
SELECT valid, status, role FROM apikey_verify(:'up_key');
UPDATE users SET role = 'viewer';
SELECT valid, status, role FROM apikey_verify(:'up_key');
SELECT apikey_revoke_key(:'up_key', 'upgrade test') AS revoked;
SELECT action FROM apikey.events ORDER BY id;

\c contrib_regression
DROP DATABASE apikey_fresh;
DROP DATABASE apikey_upgraded;
