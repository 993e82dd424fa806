--
-- verify_paths: the uncached verification path reads the key and its user
-- through plain index scans and returns its row in value-per-call mode.
-- Every way of calling it in one statement gives the same rows: in the
-- select list, in FROM, laterally over many keys with mixed statuses, as a
-- whole composite, through a prepared statement run many times, and next to
-- apikey_authorize and apikey_verify_header in the same statement.  Integer
-- user ids stored in any text form the id column's type accepts find their
-- user (converted in C, as the type's input function would).
--
SET apikey.verify_cache_size = 0;
CREATE TABLE vp_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE vp_users (id bigint PRIMARY KEY, tenant_id text NOT NULL, role text, active boolean NOT NULL DEFAULT true);
INSERT INTO vp_users VALUES (1, 'vp', 'admin', true), (2, 'vp', NULL, true), (3, 'vp', 'gone', true),
	(7, 'vp', 'seven', true);
SELECT apikey_bind_users('vp_users', active_column => 'active');
CREATE TABLE vp_keys (n int PRIMARY KEY, key text);
INSERT INTO vp_keys SELECT 1, key FROM apikey_create('vp', '1', 'valid', scopes => ARRAY['a', 'b'], metadata => '{"x": 1}');
INSERT INTO vp_keys SELECT 2, key FROM apikey_create('vp', '2', 'null role');
INSERT INTO vp_keys SELECT 3, key FROM apikey_create('vp', '3', 'inactive user');
UPDATE vp_users SET active = false WHERE id = 3;
INSERT INTO vp_keys SELECT 4, key FROM apikey_create('vp', '1', 'to revoke');
INSERT INTO vp_keys SELECT 5, key FROM apikey_create('vp', '1', 'to disable');
INSERT INTO vp_keys SELECT 6, key FROM apikey_create('vp', '1', 'test env', environment => 'test');
INSERT INTO vp_keys VALUES (7, NULL), (8, ''), (9, 'not-a-key');
INSERT INTO vp_keys SELECT 10, left(key, 30) || repeat('x', 10) || right(key, 6) FROM vp_keys WHERE n = 1;
SELECT apikey_revoke(k.id) FROM apikey.keys k WHERE k.tenant_id = 'vp' AND k.name = 'to revoke';
SELECT apikey_disable(k.id) FROM apikey.keys k WHERE k.tenant_id = 'vp' AND k.name = 'to disable';

-- the same rows whichever way the function is called
CREATE TEMP VIEW vp_expected AS
SELECT n, v.valid, v.status, v.key_id IS NOT NULL AS has_id, v.tenant_id, v.user_id, v.role,
       v.scopes, v.permissions, v.environment, v.expires_at, v.metadata
  FROM vp_keys, LATERAL apikey_verify(key) v;
SELECT * FROM vp_expected ORDER BY n;
SELECT n, (apikey_verify(key)).status FROM vp_keys ORDER BY n;
SELECT n, (r).valid, (r).status, (r).user_id, (r).role, (r).scopes, (r).metadata
  FROM (SELECT n, apikey_verify(key) AS r FROM vp_keys) s ORDER BY n;
SELECT count(*) AS rows, count(*) FILTER (WHERE
		ROW(e.valid, e.status, e.has_id, e.tenant_id, e.user_id, e.role, e.scopes,
			e.permissions, e.environment, e.expires_at, e.metadata)
		IS DISTINCT FROM
		ROW((v).valid, (v).status, (v).key_id IS NOT NULL, (v).tenant_id, (v).user_id, (v).role,
			(v).scopes, (v).permissions, (v).environment, (v).expires_at, (v).metadata)) AS mismatches
  FROM vp_expected e JOIN (SELECT n, apikey_verify(key) AS v FROM vp_keys) s USING (n);

-- twice per row, and next to apikey_authorize and apikey_verify_header
SELECT n, (apikey_verify(key)).status AS first, (apikey_verify(key)).status AS second,
	   (apikey_authorize(key, 'a')).status AS authorize_a,
	   (apikey_authorize(key, 'z')).status AS authorize_z,
	   (apikey_verify_header('Bearer ' || key)).status AS header
  FROM vp_keys ORDER BY n;

-- a prepared statement run many times (a call site's state is per execution)
SELECT key AS vp_k1 FROM vp_keys WHERE n = 1 \gset
SELECT key AS vp_k2 FROM vp_keys WHERE n = 2 \gset
SELECT key AS vp_k4 FROM vp_keys WHERE n = 4 \gset
PREPARE vp_one(text) AS SELECT valid, status, user_id, role FROM apikey_verify($1);
EXECUTE vp_one(:'vp_k1');
EXECUTE vp_one(:'vp_k4');
EXECUTE vp_one(NULL);
EXECUTE vp_one(:'vp_k2');
EXECUTE vp_one(:'vp_k1');
EXECUTE vp_one(:'vp_k1');
EXECUTE vp_one(:'vp_k1');
DEALLOCATE vp_one;

-- a user row changed between two statements of one transaction is seen by the next
BEGIN;
SELECT status, role FROM apikey_verify((SELECT key FROM vp_keys WHERE n = 1));
UPDATE vp_users SET role = 'viewer' WHERE id = 1;
SELECT status, role FROM apikey_verify((SELECT key FROM vp_keys WHERE n = 1));
UPDATE vp_users SET active = false WHERE id = 1;
SELECT status, role FROM apikey_verify((SELECT key FROM vp_keys WHERE n = 1));
ROLLBACK;

-- integer user ids: any text the type's input accepts finds the user, in
-- range for smallint, integer and bigint; anything else finds nobody
CREATE TABLE vp_ids (label text PRIMARY KEY, user_id text);
INSERT INTO vp_ids VALUES ('plain', '7'), ('leading zeros', '007'), ('plus', '+7'),
	('minus zero', '-0'), ('big', '9223372036854775807'), ('too big', '9223372036854775808'),
	('space', ' 7'), ('empty', ''), ('letters', '7a'), ('sign only', '-'), ('int4 max', '2147483647'),
	('int4 max+1', '2147483648'), ('int2 max+1', '32768'), ('negative', '-7');
INSERT INTO vp_users VALUES (0, 'vp', 'zero', true), (9223372036854775807, 'vp', 'max8', true),
	(2147483647, 'vp', 'max4', true), (32767, 'vp', 'max2', true), (-7, 'vp', 'minus', true);
-- a key stored for each user id text, the way a row restored from elsewhere could be
CREATE TABLE vp_id_keys (label text PRIMARY KEY, key text);
DO $$
DECLARE
	r record;
	k record;
BEGIN
	FOR r IN SELECT label, user_id FROM vp_ids ORDER BY label LOOP
		SELECT * INTO k FROM apikey_create('vp', '1', 'id ' || r.label);
		-- the guard forbids changing user_id: re-insert the row under the wanted text
		CREATE TEMP TABLE vp_row ON COMMIT DROP AS SELECT * FROM apikey.keys WHERE id = k.id;
		DELETE FROM apikey.events WHERE key_id = k.id;
		DELETE FROM apikey.keys WHERE id = k.id;
		UPDATE vp_row SET user_id = r.user_id;
		INSERT INTO apikey.keys SELECT * FROM vp_row;
		DROP TABLE vp_row;
		INSERT INTO vp_id_keys VALUES (r.label, k.key);
	END LOOP;
END
$$;
SELECT i.label, i.user_id, v.status, v.role
  FROM vp_ids i JOIN vp_id_keys k USING (label), LATERAL apikey_verify(k.key) v ORDER BY i.label;
DELETE FROM vp_users WHERE id > 2147483647;
ALTER TABLE vp_users ALTER COLUMN id TYPE integer;
SELECT i.label, i.user_id, v.status, v.role
  FROM vp_ids i JOIN vp_id_keys k USING (label), LATERAL apikey_verify(k.key) v ORDER BY i.label;
DELETE FROM vp_users WHERE id > 32767;
ALTER TABLE vp_users ALTER COLUMN id TYPE smallint;
SELECT i.label, i.user_id, v.status, v.role
  FROM vp_ids i JOIN vp_id_keys k USING (label), LATERAL apikey_verify(k.key) v ORDER BY i.label;

-- a user table without an index on its id column is read by a heap scan
ALTER TABLE vp_users DROP CONSTRAINT vp_users_pkey;
SELECT i.label, i.user_id, v.status, v.role
  FROM vp_ids i JOIN vp_id_keys k USING (label), LATERAL apikey_verify(k.key) v ORDER BY i.label;

-- apikey.verify_cache_size = 0 turns the cache off, also for keys it holds
-- already: with the invalidation trigger of apikey.keys disabled (a DBA's
-- mistake), a metadata change is not seen by the warm cache, but is seen
-- once the cache is off
RESET apikey.verify_cache_size;
ALTER TABLE apikey.keys DISABLE TRIGGER keys_cache_invalidate_update;
SELECT status, metadata FROM apikey_verify(:'vp_k1');
SELECT status, metadata FROM apikey_verify(:'vp_k1');
UPDATE apikey.keys SET metadata = '{"x": 2}' WHERE key_hash = digest(:'vp_k1', 'sha256');
SELECT status, metadata FROM apikey_verify(:'vp_k1');
SET apikey.verify_cache_size = 0;
SELECT status, metadata FROM apikey_verify(:'vp_k1');
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate_update;

-- Clean up
RESET apikey.verify_cache_size;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM vp_saved_binding;
DROP VIEW vp_expected;
DROP TABLE vp_saved_binding, vp_users, vp_keys, vp_ids, vp_id_keys;
DELETE FROM apikey.events WHERE tenant_id = 'vp';
DELETE FROM apikey.keys WHERE tenant_id = 'vp';
