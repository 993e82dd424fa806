--
-- create: apikey_create(tenant_id, user_id, name, expires_at, environment, scopes, metadata)
--

-- No user table bound: 55000, nothing inserted
DELETE FROM apikey.user_binding;
SELECT count(*) AS keys_before FROM apikey.keys;
SELECT expect_error($$SELECT apikey_create('acme', '1', 'unbound')$$);
SELECT count(*) AS keys_after FROM apikey.keys;
SELECT apikey_bind_users('users', active_column => 'active');

-- Every default: a live key in namespace ak, no expiry, scopes or metadata
SELECT id AS id1, key AS k1, prefix AS p1, created_at AS c1, expires_at IS NULL AS e1_null
  FROM apikey_create('acme', '1', 'ci deploy') \gset
SELECT :'k1' ~ '^ak_live_[0-9A-Za-z]{38}$' AS shape,
       length(:'k1') AS length,
       :'p1' = left(:'k1', 12) AS prefix_is_first_12,
       :'e1_null' AS expires_at_null,
       :'c1'::timestamptz BETWEEN now() - interval '1 minute' AND now() AS created_now;

-- The checksum is CRC32 of everything before it, in base62
SELECT right(:'k1', 6) = test_checksum(left(:'k1', 40)) AS checksum_ok;

-- What is stored: owner, name, state, display prefix and last 4 characters
SELECT tenant_id, user_id, name, environment, scopes, metadata, enabled,
       expires_at IS NULL AS no_expiry, revoked_at IS NULL AS not_revoked,
       revoke_reason, rotated_from, last_used_at,
       prefix = :'p1' AS prefix_ok, suffix = right(:'k1', 4) AS suffix_ok,
       created_at = :'c1' AS created_at_ok
  FROM apikey.keys WHERE id = :id1;

-- The key itself is stored nowhere: no column of any row of apikey's tables contains it
SELECT NOT EXISTS (SELECT FROM apikey.keys k WHERE row_to_json(k)::text LIKE '%' || :'k1' || '%') AS not_in_keys,
       NOT EXISTS (SELECT FROM apikey.user_binding b WHERE row_to_json(b)::text LIKE '%' || :'k1' || '%') AS not_in_binding,
       NOT EXISTS (SELECT FROM apikey.keys k WHERE row_to_json(k)::text LIKE '%' || substr(:'k1', 13, 30) || '%') AS no_secret_part;

-- Only its SHA-256 (pgcrypto's digest of the whole key), 32 bytes
SELECT key_hash = digest(:'k1', 'sha256') AS hash_is_sha256, octet_length(key_hash) AS hash_bytes
  FROM apikey.keys WHERE id = :id1;

-- Every argument: expiry, test environment, scopes, metadata (named arguments)
SELECT id AS id2, key AS k2, prefix AS p2, expires_at AS e2
  FROM apikey_create(tenant_id => 'acme', user_id => '2', name => 'reporting',
                     expires_at => '2999-01-01 00:00:00+00',
                     environment => 'test',
                     scopes => ARRAY['reports:read', 'reports:write'],
                     metadata => '{"team": "data", "ticket": 42}') \gset
SELECT :'k2' ~ '^ak_test_[0-9A-Za-z]{38}$' AS shape,
       :'p2' = left(:'k2', 12) AS prefix_is_first_12,
       :'e2'::timestamptz = '2999-01-01 00:00:00+00' AS expires_at_returned,
       :id2 > :id1 AS newer_id,
       right(:'k2', 6) = test_checksum(left(:'k2', 40)) AS checksum_ok;
SELECT tenant_id, user_id, name, environment, scopes, metadata,
       expires_at = '2999-01-01 00:00:00+00' AS expires_at_stored,
       key_hash = digest(:'k2', 'sha256') AS hash_is_sha256
  FROM apikey.keys WHERE id = :id2;

-- Positional arguments, environment 'live' given explicitly, empty scopes
SELECT key AS k3, expires_at IS NULL AS e3_null
  FROM apikey_create('globex', '10', 'ops', NULL, 'live', '{}', '{}') \gset
SELECT :'k3' ~ '^ak_live_' AS live, :'e3_null' AS expires_at_null;
SELECT tenant_id, user_id, name, environment, scopes, metadata
  FROM apikey.keys WHERE key_hash = digest(:'k3', 'sha256');

-- The same arguments twice give two different keys (names need not be unique)
SELECT key AS k4 FROM apikey_create('acme', '1', 'ci deploy') \gset
SELECT :'k4' <> :'k1' AS different_key, count(*) AS keys_named_ci_deploy
  FROM apikey.keys WHERE name = 'ci deploy';

-- A name of exactly 100 characters is accepted, also 100 multibyte characters
SELECT key AS k5 FROM apikey_create('acme', '1', repeat('x', 100)) \gset
SELECT key AS k6 FROM apikey_create('acme', '1', repeat('é', 100)) \gset
SELECT char_length(name) AS chars, octet_length(name) AS bytes
  FROM apikey.keys WHERE key_hash IN (digest(:'k5', 'sha256'), digest(:'k6', 'sha256'))
 ORDER BY bytes;

-- Errors: none of these inserts anything
SELECT count(*) AS keys_before FROM apikey.keys \gset

-- name NULL, empty, or over 100 characters: 22023
SELECT expect_error($$SELECT apikey_create('acme', '1', NULL)$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', '')$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', repeat('x', 101))$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', repeat('é', 101))$$);

-- environment other than live or test: 22023
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', environment => 'prod')$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', environment => 'LIVE')$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', environment => 'live ')$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', environment => '')$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', environment => NULL)$$);

-- expires_at not in the future (now, or the past): 22023
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', now())$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', now() - interval '1 day')$$);
SELECT expect_error($$SELECT apikey_create('acme', '1', 'x', '-infinity')$$);

-- user unknown: 23503
SELECT expect_error($$SELECT apikey_create('acme', '999', 'x')$$);
SELECT expect_error($$SELECT apikey_create('acme', 'bob', 'x')$$);
SELECT expect_error($$SELECT apikey_create('acme', '', 'x')$$);

-- user of another tenant, or a tenant that does not exist: 23503, exactly
-- the answer for a user that does not exist (a tenant cannot probe ids)
SELECT expect_error($$SELECT apikey_create('acme', '10', 'x')$$);
SELECT expect_error($$SELECT apikey_create('globex', '1', 'x')$$);
SELECT expect_error($$SELECT apikey_create('initech', '1', 'x')$$);
SELECT expect_error($$SELECT apikey_create('ACME', '1', 'x')$$);

-- nothing was inserted by any of the failed calls
SELECT count(*) = :keys_before AS nothing_inserted FROM apikey.keys;
