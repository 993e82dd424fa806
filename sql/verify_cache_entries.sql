--
-- verify_cache_entries: a key answered from the verification cache gives the
-- same row as with the cache off, whatever its row holds (scopes, metadata
-- small and large, no role, an inactive user, NULLs), and across many
-- entries (the cache packs each entry into shared blocks).
--
CREATE TABLE vce_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE vce_users (id bigint PRIMARY KEY, tenant_id text NOT NULL, role text, active boolean NOT NULL DEFAULT true);
INSERT INTO vce_users SELECT g, 'vce', CASE WHEN g % 5 = 0 THEN NULL ELSE 'r' || g % 3 END, true
  FROM generate_series(1, 50) g;
SELECT apikey_bind_users('vce_users', active_column => 'active');
CREATE TABLE vce_keys (n int PRIMARY KEY, key text);
INSERT INTO vce_keys
SELECT g, (SELECT key FROM apikey_create('vce', (1 + g % 50)::text, 'k' || g,
		scopes => CASE WHEN g % 3 = 0 THEN ARRAY['a', 'b' || g] WHEN g % 3 = 1 THEN ARRAY[]::text[] END,
		metadata => CASE WHEN g % 4 = 0 THEN jsonb_build_object('g', g)
						 WHEN g = 7 THEN jsonb_build_object('big', repeat('m', 20000))
						 WHEN g = 9 THEN jsonb_build_object('mid', repeat('q', 5000)) END,
		environment => CASE WHEN g % 2 = 0 THEN 'test' ELSE 'live' END))
  FROM generate_series(1, 600) g;
UPDATE vce_users SET active = false WHERE id % 7 = 0;
SELECT count(*) FROM (SELECT apikey_disable(k.id) FROM apikey.keys k WHERE k.tenant_id = 'vce' AND k.name IN ('k10', 'k11')) d;

CREATE TEMP VIEW vce_now AS
SELECT n, v.valid, v.status, v.key_id, v.tenant_id, v.user_id, v.role, v.scopes, v.permissions,
	   v.environment, v.expires_at, v.metadata
  FROM vce_keys, LATERAL apikey_verify(key) v;

SET apikey.verify_cache_size = 0;
CREATE TEMP TABLE vce_off AS SELECT * FROM vce_now;
RESET apikey.verify_cache_size;
CREATE TEMP TABLE vce_miss AS SELECT * FROM vce_now;	-- fills the cache
CREATE TEMP TABLE vce_hit AS SELECT * FROM vce_now;		-- answered from it
SELECT (SELECT count(*) FROM vce_off) AS rows,
	   (SELECT count(*) FROM vce_off WHERE valid) AS valid,
	   (SELECT count(*) FROM (SELECT * FROM vce_off EXCEPT ALL SELECT * FROM vce_miss) d) AS off_not_miss,
	   (SELECT count(*) FROM (SELECT * FROM vce_miss EXCEPT ALL SELECT * FROM vce_off) d) AS miss_not_off,
	   (SELECT count(*) FROM (SELECT * FROM vce_off EXCEPT ALL SELECT * FROM vce_hit) d) AS off_not_hit,
	   (SELECT count(*) FROM (SELECT * FROM vce_hit EXCEPT ALL SELECT * FROM vce_off) d) AS hit_not_off;
SELECT status, count(*) FROM vce_hit GROUP BY status ORDER BY status;
SELECT n, length(metadata::text) AS metadata_length, scopes, environment FROM vce_hit WHERE n IN (3, 7, 9) ORDER BY n;

-- clean up: restore the binding the earlier tests left
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM vce_saved_binding;
DROP VIEW vce_now;
DROP TABLE vce_saved_binding, vce_keys, vce_users, vce_off, vce_miss, vce_hit;
DELETE FROM apikey.events WHERE tenant_id = 'vce';
DELETE FROM apikey.keys WHERE tenant_id = 'vce';
