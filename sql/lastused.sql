-- last use without shared_preload_libraries: verify records it itself, in
-- apikey.key_usage (never in apikey.keys, so the verifying transaction locks
-- no key row), at most once per key per apikey.last_used_interval, never in
-- a read-only transaction, never in REPEATABLE READ or SERIALIZABLE.
-- apikey_list shows the newer of apikey.keys.last_used_at and key_usage's.
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
SELECT last_used_at IS NULL AS never_used FROM apikey_list('lu') WHERE id = :lu_id;

-- verify in a read-only transaction: valid, and nothing written
BEGIN READ ONLY;
SELECT valid, status FROM apikey_verify(:'lu_key');
COMMIT;
SELECT last_used_at IS NULL AS still_never_used FROM apikey_list('lu') WHERE id = :lu_id;

-- nor in REPEATABLE READ
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT valid, status FROM apikey_verify(:'lu_key');
COMMIT;
SELECT last_used_at IS NULL AS still_never_used FROM apikey_list('lu') WHERE id = :lu_id;

-- a verify in an ordinary transaction records the use
SELECT valid, status FROM apikey_verify(:'lu_key');
SELECT last_used_at IS NOT NULL AS used, last_used_at <= now() + interval '1 second' AS sane
  FROM apikey_list('lu') WHERE id = :lu_id;
-- in apikey.key_usage: the key's own row is not written
SELECT count(*) AS usage_rows FROM apikey.key_usage WHERE key_id = :lu_id;
SELECT last_used_at IS NULL AS key_row_untouched FROM apikey.keys WHERE id = :lu_id;

-- within apikey.last_used_interval, further verifies write nothing
SELECT last_used_at AS first_use FROM apikey_list('lu') WHERE id = :lu_id \gset
SELECT count(*) AS valid_verifies FROM generate_series(1, 100) g, apikey_verify(:'lu_key') v WHERE v.valid;
SELECT last_used_at = :'first_use' AS unchanged FROM apikey_list('lu') WHERE id = :lu_id;
-- not even from another backend
\c
SELECT valid, status FROM apikey_verify(:'lu_key');
SELECT last_used_at = :'first_use' AS unchanged FROM apikey_list('lu') WHERE id = :lu_id;

-- once the recorded use is older than the interval, the next verify moves it forward
UPDATE apikey.key_usage SET last_used_at = last_used_at - interval '2 minutes' WHERE key_id = :lu_id;
\c
SELECT valid, status FROM apikey_verify(:'lu_key');
SELECT last_used_at > :'first_use'::timestamptz - interval '1 minute' AS moved_forward
  FROM apikey_list('lu') WHERE id = :lu_id;

-- invalid verifications never record a use
SELECT apikey_disable(:lu_id) AS disabled;
DELETE FROM apikey.key_usage WHERE key_id = :lu_id;
SELECT status FROM apikey_verify(:'lu_key');
SELECT last_used_at IS NULL AS not_recorded FROM apikey_list('lu') WHERE id = :lu_id;

-- the interval is a superuser setting, in seconds
SHOW apikey.last_used_interval;
SET apikey.last_used_interval = '5min';
SHOW apikey.last_used_interval;
RESET apikey.last_used_interval;

-- last_used_at only moves forward: an older use never overwrites a newer one
SELECT apikey_enable(:lu_id) AS enabled;
UPDATE apikey.keys SET last_used_at = now() + interval '1 day' WHERE id = :lu_id;
\c
SELECT status FROM apikey_verify(:'lu_key');
SELECT last_used_at > now() + interval '23 hours' AS kept_newer FROM apikey_list('lu') WHERE id = :lu_id;
SELECT count(*) AS usage_rows FROM apikey.key_usage WHERE key_id = :lu_id;
-- apikey_list shows the newer of the two
INSERT INTO apikey.key_usage VALUES (:lu_id, now() + interval '2 days') ON CONFLICT (key_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at;
SELECT last_used_at > now() + interval '47 hours' AS newer_of_two FROM apikey_list('lu') WHERE id = :lu_id;

-- nobody but the owner may read or write it
SELECT has_table_privilege('public', 'apikey.key_usage', 'SELECT') AS public_select,
       has_table_privilege('apikey_verifier', 'apikey.key_usage', 'INSERT') AS verifier_insert,
       has_table_privilege('apikey_admin', 'apikey.key_usage', 'UPDATE') AS admin_update;
