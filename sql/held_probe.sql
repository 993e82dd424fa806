--
-- held_probe: an uncached verification keeps apikey.keys, its hash index
-- and an index scan open for the rest of its statement (one per call site),
-- rescanning it with each call's own snapshot (issue 11 item 2).  What other
-- sessions commit between two calls of one statement is seen by the next
-- call; errors, subtransactions, cursors and a rebinding in the middle of a
-- statement leave no reference behind (no WARNING) and nothing stale.
--
SET apikey.verify_cache_size = 0;
CREATE TABLE hp_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE hp_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text, active boolean NOT NULL);
CREATE TABLE hp_users_b (id integer PRIMARY KEY, tenant_id text NOT NULL, role text, active boolean NOT NULL);
INSERT INTO hp_users VALUES (1, 'hp', 'one', true), (2, 'hp', 'two', true);
INSERT INTO hp_users_b VALUES (1, 'hp', 'b-one', true), (2, 'hp', 'b-two', true);
SELECT apikey_bind_users('hp_users', active_column => 'active');
CREATE TABLE hp_keys (n integer PRIMARY KEY, key text NOT NULL);
INSERT INTO hp_keys SELECT n, c.key
  FROM generate_series(1, 4) n, LATERAL apikey_create('hp', CASE WHEN n <= 2 THEN '1' ELSE '2' END, 'hp ' || n) c;

-- A step of a statement: runs action (SQL, here or in the other session)
-- before the key is verified, and passes the key on.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT dblink_connect('hp_other',
                      format('host=%s port=%s dbname=%s user=%s',
                             split_part(current_setting('unix_socket_directories'), ',', 1),
                             current_setting('port'), current_database(), current_user)) AS connected;
CREATE FUNCTION hp_step(key text, other text, here text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF other IS NOT NULL THEN
		PERFORM dblink_exec('hp_other', other);
	END IF;
	IF here IS NOT NULL THEN
		EXECUTE here;
	END IF;
	RETURN key;
END
$$;
CREATE TABLE hp_plan (step integer PRIMARY KEY, n integer NOT NULL, other text, here text);

-- One statement; between its calls another session revokes key 2, disables
-- key 3 and deactivates user 2, then undoes it: every call sees the latest.
INSERT INTO hp_plan VALUES
	(1, 1, NULL, NULL), (2, 2, NULL, NULL), (3, 3, NULL, NULL), (4, 4, NULL, NULL),
	(5, 2, 'UPDATE apikey.keys SET revoked_at = now() WHERE name = ''hp 2''', NULL),
	(6, 1, NULL, NULL),
	(7, 3, 'UPDATE apikey.keys SET enabled = false WHERE name = ''hp 3''', NULL),
	(8, 4, 'UPDATE hp_users SET active = false WHERE id = 2', NULL),
	(9, 1, NULL, NULL),
	(10, 3, 'UPDATE apikey.keys SET enabled = true WHERE name = ''hp 3''', NULL),
	(11, 4, 'UPDATE hp_users SET active = true WHERE id = 2', NULL),
	(12, 2, NULL, NULL);
SELECT p.step, p.n, v.status, v.role
  FROM (SELECT * FROM hp_plan ORDER BY step) p JOIN hp_keys k USING (n),
       LATERAL apikey_verify(hp_step(k.key, p.other, p.here)) v
 ORDER BY p.step;
-- the same through the other verification functions, in a target list
-- (a revocation cannot be undone: key 2 stays revoked)
UPDATE hp_plan SET other = NULL WHERE step = 5;
SELECT p.step, (apikey_authorize(hp_step(k.key, p.other, p.here), 'x')).status AS authorize,
       (apikey_verify_header('Bearer ' || k.key)).status AS header
  FROM (SELECT * FROM hp_plan ORDER BY step) p JOIN hp_keys k USING (n)
 ORDER BY p.step;

-- The user table renamed, then rebound, between calls of one statement
DELETE FROM hp_plan;
INSERT INTO hp_plan VALUES
	(1, 1, NULL, NULL),
	(2, 1, NULL, 'ALTER TABLE hp_users RENAME TO hp_users_moved'),
	(3, 3, NULL, 'ALTER TABLE hp_users_moved RENAME TO hp_users'),
	(4, 1, NULL, 'SELECT apikey_bind_users(''hp_users_b'', active_column => ''active'')'),
	(5, 3, NULL, 'ALTER TABLE hp_users_b RENAME COLUMN role TO role_moved'),
	(6, 3, NULL, 'ALTER TABLE hp_users_b RENAME COLUMN role_moved TO role'),
	(7, 2, NULL, 'SELECT apikey_bind_users(''hp_users'', active_column => ''active'')');
SELECT p.step, p.n, v.status, v.role
  FROM (SELECT * FROM hp_plan ORDER BY step) p JOIN hp_keys k USING (n),
       LATERAL apikey_verify(hp_step(k.key, p.other, p.here)) v
 ORDER BY p.step;

-- apikey.keys cannot change under a statement that holds it open
SELECT expect_error($$
	SELECT count(*) FROM hp_keys k,
	       LATERAL apikey_verify(hp_step(k.key, NULL, CASE WHEN k.n = 2 THEN 'ALTER TABLE apikey.keys ADD COLUMN hp_x int' END)) v$$);

-- A statement that fails after some calls, alone and inside a subtransaction
SELECT v.status, 1 / (3 - k.n) AS boom
  FROM (SELECT * FROM hp_keys ORDER BY n) k, LATERAL apikey_verify(k.key) v;
SELECT expect_error($$SELECT v.status, 1 / (3 - k.n) FROM (SELECT * FROM hp_keys ORDER BY n) k,
                      LATERAL apikey_verify(k.key) v$$);
SELECT count(*) FROM hp_keys k, LATERAL apikey_verify(k.key) v WHERE v.valid;

-- PL/pgSQL: an EXCEPTION block raising after a verify, in a loop; and a loop
-- over a statement that verifies, whose body raises and catches in
-- subtransactions between the fetches
DO $$
DECLARE
	k record;
	st text;
	caught integer := 0;
	statuses text := '';
BEGIN
	FOR k IN SELECT * FROM hp_keys ORDER BY n LOOP
		BEGIN
			SELECT v.status INTO st FROM apikey_verify(k.key) v;
			statuses := statuses || st || ' ';
			RAISE EXCEPTION 'after verify';
		EXCEPTION WHEN raise_exception THEN
			caught := caught + 1;
		END;
	END LOOP;
	RAISE NOTICE 'in the block: % caught: %', statuses, caught;
	caught := 0;
	statuses := '';
	FOR k IN SELECT v.status FROM (SELECT * FROM hp_keys ORDER BY n) h,
	                LATERAL apikey_verify(h.key) v,
	                generate_series(1, 5) LOOP
		BEGIN
			statuses := statuses || left(k.status, 1);
			PERFORM 1 / 0;
		EXCEPTION WHEN division_by_zero THEN
			caught := caught + 1;
		END;
	END LOOP;
	RAISE NOTICE 'over a statement: % caught: %', statuses, caught;
END
$$;

-- Cursors: fetched in part, across savepoints (one rolled back after an
-- error), with a change committed by the other session between fetches,
-- then left open at COMMIT or ROLLBACK, or held over COMMIT
BEGIN;
DECLARE c CURSOR FOR
	SELECT k.n, v.status FROM (SELECT * FROM hp_keys ORDER BY n) k, LATERAL apikey_verify(k.key) v;
FETCH 1 FROM c;
SAVEPOINT a;
FETCH 1 FROM c;
SELECT 1 / 0;
ROLLBACK TO a;
SELECT dblink_exec('hp_other', 'UPDATE apikey.keys SET revoked_at = now() WHERE name = ''hp 3''');
FETCH 1 FROM c;
RELEASE a;
FETCH 1 FROM c;
COMMIT;
BEGIN;
DECLARE c CURSOR FOR
	SELECT k.n, v.status FROM (SELECT * FROM hp_keys ORDER BY n) k, LATERAL apikey_verify(k.key) v;
FETCH 2 FROM c;
ROLLBACK;
BEGIN;
DECLARE c CURSOR WITH HOLD FOR
	SELECT k.n, v.status FROM (SELECT * FROM hp_keys ORDER BY n) k, LATERAL apikey_verify(k.key) v;
FETCH 1 FROM c;
COMMIT;
FETCH ALL FROM c;
CLOSE c;
BEGIN;
DECLARE c CURSOR FOR
	SELECT k.n, v.status FROM (SELECT * FROM hp_keys ORDER BY n) k, LATERAL apikey_verify(k.key) v;
FETCH 2 FROM c;
CLOSE c;
COMMIT;

-- A cursor of PL/pgSQL, fetched inside EXCEPTION blocks that raise
DO $$
DECLARE
	c refcursor;
	st text;
	statuses text := '';
BEGIN
	OPEN c FOR SELECT v.status FROM (SELECT * FROM hp_keys ORDER BY n) k, LATERAL apikey_verify(k.key) v;
	FOR i IN 1..4 LOOP
		BEGIN
			FETCH c INTO st;
			statuses := statuses || st || ' ';
			RAISE EXCEPTION 'after fetch';
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
	CLOSE c;
	RAISE NOTICE 'fetched: %', statuses;
END
$$;

-- With the cache on, hits and misses in one statement
SET apikey.verify_cache_size = 1024;
SELECT k.n, v.status FROM (SELECT * FROM hp_keys ORDER BY n) k, generate_series(1, 2) g,
       LATERAL apikey_verify(k.key) v ORDER BY g, k.n;
RESET apikey.verify_cache_size;

-- Clean up
SELECT dblink_disconnect('hp_other');
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM hp_saved_binding;
DROP FUNCTION hp_step(text, text, text);
DROP TABLE hp_saved_binding, hp_users, hp_users_b, hp_keys, hp_plan;
DELETE FROM apikey.events WHERE tenant_id = 'hp';
DELETE FROM apikey.keys WHERE tenant_id = 'hp';
