-- last_used_at without shared_preload_libraries: verify writes it itself,
-- at most once per key per apikey.last_used_interval, never in a read-only
-- transaction, never in REPEATABLE READ or SERIALIZABLE.
-- With shared_preload_libraries = 'apikey' background workers write last_used_at
-- instead (test/t/010_lastused_worker.pl), and this file stops here
-- (expected/lastused_1.out): apikey_stats() says whether the library is preloaded.
SELECT shared AS preloaded FROM apikey_stats() \gset
\if :preloaded
\quit
\endif

CREATE TABLE lu_users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
INSERT INTO lu_users VALUES (1, 'lu', 'member');
SELECT apikey_bind_users('lu_users');

SELECT key AS lu_key, id AS lu_id FROM apikey_create('lu', '1', 'last used') \gset

-- a fresh key has never been used
SELECT last_used_at IS NULL AS never_used FROM apikey.keys WHERE id = :lu_id;

-- verify in a read-only transaction: valid, and nothing written
BEGIN READ ONLY;
SELECT valid, status FROM apikey_verify(:'lu_key');
COMMIT;
SELECT last_used_at IS NULL AS still_never_used FROM apikey.keys WHERE id = :lu_id;

-- nor in REPEATABLE READ
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT valid, status FROM apikey_verify(:'lu_key');
COMMIT;
SELECT last_used_at IS NULL AS still_never_used FROM apikey.keys WHERE id = :lu_id;

-- a verify in an ordinary transaction records the use
SELECT valid, status FROM apikey_verify(:'lu_key');
SELECT last_used_at IS NOT NULL AS used, last_used_at <= now() + interval '1 second' AS sane
  FROM apikey.keys WHERE id = :lu_id;

-- within apikey.last_used_interval, further verifies write nothing
SELECT last_used_at AS first_use FROM apikey.keys WHERE id = :lu_id \gset
SELECT count(*) AS valid_verifies FROM generate_series(1, 100) g, apikey_verify(:'lu_key') v WHERE v.valid;
SELECT last_used_at = :'first_use' AS unchanged FROM apikey.keys WHERE id = :lu_id;

-- invalid verifications never record a use
SELECT apikey_disable(:lu_id) AS disabled;
UPDATE apikey.keys SET last_used_at = NULL WHERE id = :lu_id;
SELECT status FROM apikey_verify(:'lu_key');
SELECT last_used_at IS NULL AS not_recorded FROM apikey.keys WHERE id = :lu_id;

-- the interval is a superuser setting, in seconds
SHOW apikey.last_used_interval;
SET apikey.last_used_interval = '5min';
SHOW apikey.last_used_interval;
RESET apikey.last_used_interval;

-- last_used_at only moves forward: an older use never overwrites a newer one
SELECT apikey_enable(:lu_id) AS enabled;
UPDATE apikey.keys SET last_used_at = now() + interval '1 day' WHERE id = :lu_id;
SELECT status FROM apikey_verify(:'lu_key');
SELECT last_used_at > now() + interval '23 hours' AS kept_newer FROM apikey.keys WHERE id = :lu_id;
