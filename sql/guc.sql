--
-- guc: apikey.namespace (the ak in ak_live_...) and apikey.last_used_interval
--

-- An invalid namespace is rejected at SET time (22023) once the module is
-- loaded: by preloading it (shared_ or session_preload_libraries), by LOAD,
-- or by the first call of any apikey function in the session
LOAD 'apikey';
SELECT expect_error($$SET apikey.namespace = 'BAD'$$);
SELECT key AS k0 FROM apikey_create('acme', '1', 'first in session') \gset
SELECT left(:'k0', 8) AS starts_with;

-- The default namespace is ak
SHOW apikey.namespace;
SELECT key AS k_ak FROM apikey_create('acme', '1', 'namespace ak') \gset
SELECT left(:'k_ak', 8) AS starts_with;

-- SET apikey.namespace: new keys start with it; prefix is still the first 12 characters
SET apikey.namespace = 'ck';
SELECT key AS k_ck, prefix AS p_ck FROM apikey_create('acme', '1', 'namespace ck') \gset
SELECT :'k_ck' ~ '^ck_live_[0-9A-Za-z]{38}$' AS shape, :'p_ck' = left(:'k_ck', 12) AS prefix_ok,
       right(:'k_ck', 6) = test_checksum(left(:'k_ck', 40)) AS checksum_ok;
SELECT key AS k_ck_test FROM apikey_create('acme', '1', 'namespace ck test', environment => 'test') \gset
SELECT :'k_ck_test' ~ '^ck_test_[0-9A-Za-z]{38}$' AS shape;

-- 2 to 8 characters of [a-z0-9]
SET apikey.namespace = 'abcdefgh';
SELECT key AS k_8, prefix AS p_8 FROM apikey_create('acme', '1', 'namespace of 8') \gset
SELECT :'k_8' ~ '^abcdefgh_live_[0-9A-Za-z]{38}$' AS shape, length(:'k_8') AS length,
       :'p_8' AS prefix_is_first_12_of, left(:'k_8', 12) AS key_start;
SET apikey.namespace = '42';
SELECT key AS k_42 FROM apikey_create('acme', '1', 'namespace of digits') \gset
SELECT :'k_42' ~ '^42_live_[0-9A-Za-z]{38}$' AS shape;

-- Invalid values are rejected at SET time with 22023, and the value stays
SET apikey.namespace = 'ck';
SELECT expect_error($$SET apikey.namespace = 'c'$$);
SELECT expect_error($$SET apikey.namespace = 'abcdefghi'$$);
SELECT expect_error($$SET apikey.namespace = 'CK'$$);
SELECT expect_error($$SET apikey.namespace = 'c_k'$$);
SELECT expect_error($$SET apikey.namespace = 'c-k'$$);
SELECT expect_error($$SET apikey.namespace = ''$$);
SELECT expect_error($$SET apikey.namespace = 'ck '$$);
SELECT expect_error($$SET apikey.namespace = 'ék'$$);
SELECT expect_error($$SELECT set_config('apikey.namespace', 'X', false)$$);
SHOW apikey.namespace;

-- Keys minted under other namespaces keep verifying after a change
SELECT label, v.status
  FROM (VALUES ('ak', :'k_ak'), ('ck', :'k_ck'), ('ck test', :'k_ck_test'),
               ('abcdefgh', :'k_8'), ('42', :'k_42')) AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY label COLLATE "C";
RESET apikey.namespace;
SHOW apikey.namespace;
SELECT label, v.status
  FROM (VALUES ('ak', :'k_ak'), ('ck', :'k_ck'), ('ck test', :'k_ck_test'),
               ('abcdefgh', :'k_8'), ('42', :'k_42')) AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY label COLLATE "C";

-- SET LOCAL lasts for the transaction
BEGIN;
SET LOCAL apikey.namespace = 'tx';
SELECT left(key, 8) AS starts_with FROM apikey_create('acme', '1', 'set local');
COMMIT;
SELECT left(key, 8) AS starts_with FROM apikey_create('acme', '1', 'after set local');

-- ALTER DATABASE ... SET apikey.namespace applies to new sessions; invalid values refused
SELECT expect_error(format('ALTER DATABASE %I SET apikey.namespace = %L', current_database(), 'Bad!'));
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET apikey.namespace = %L', current_database(), 'db'); END $$;
SHOW apikey.namespace;
\c
SHOW apikey.namespace;
SELECT key AS k_db FROM apikey_create('acme', '1', 'namespace from database') \gset
SELECT :'k_db' ~ '^db_live_[0-9A-Za-z]{38}$' AS shape;
SELECT status FROM apikey_verify(:'k_db');
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET apikey.namespace', current_database()); END $$;
\c
SELECT status FROM apikey_verify(:'k_db');
SHOW apikey.namespace;

-- apikey.last_used_interval exists (seconds, default one minute)
SHOW apikey.last_used_interval;
SELECT name, setting, unit FROM pg_settings
 WHERE name IN ('apikey.namespace', 'apikey.last_used_interval') ORDER BY name;
SET apikey.last_used_interval = '5min';
SHOW apikey.last_used_interval;
RESET apikey.last_used_interval;

-- Before the module is loaded PostgreSQL cannot check an extension's setting:
-- a bad value set first thing in a fresh session is refused with a WARNING
-- when the module loads, and keys keep the default namespace.  With
-- shared_preload_libraries = 'apikey' it is always loaded: the SET itself
-- fails (expected/guc_1.out)
\c
SET apikey.namespace = 'BAD';
SELECT key AS k_fresh FROM apikey_create('acme', '1', 'bad before load') \gset
SELECT left(:'k_fresh', 8) AS starts_with;
SHOW apikey.namespace;
