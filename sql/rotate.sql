--
-- rotate: apikey_rotate(key_id, grace, tenant_id) replaces a key by a new one
--
SELECT id AS id1, key AS k1 FROM apikey_create('acme', '3', 'rotating', NULL, 'test',
                                               ARRAY['deploy'], '{"ci": "github"}') \gset

-- Default grace (48 hours): a new key; the old one expires 48 hours after the rotation
BEGIN;
SELECT id AS id2, key AS k2, prefix AS p2, created_at AS c2 FROM apikey_rotate(:id1) \gset
SELECT expires_at = now() + interval '48 hours' AS old_expires_in_48h
  FROM apikey.keys WHERE id = :id1;
COMMIT;
SELECT :'k2' ~ '^ak_test_[0-9A-Za-z]{38}$' AS shape, :'k2' <> :'k1' AS new_key,
       :'p2' = left(:'k2', 12) AS prefix_ok, :id2 > :id1 AS new_id,
       right(:'k2', 6) = test_checksum(left(:'k2', 40)) AS checksum_ok;

-- The new key has the same tenant, user, name, environment, scopes and metadata,
-- and records the key it was rotated from
SELECT n.tenant_id, n.user_id, n.name, n.environment, n.scopes, n.metadata,
       n.rotated_from = o.id AS rotated_from_old,
       (n.tenant_id, n.user_id, n.name, n.environment, n.scopes, n.metadata) IS NOT DISTINCT FROM
       (o.tenant_id, o.user_id, o.name, o.environment, o.scopes, o.metadata) AS same_as_old,
       n.key_hash = digest(:'k2', 'sha256') AS hash_ok, n.created_at = :'c2' AS created_at_ok
  FROM apikey.keys n JOIN apikey.keys o ON o.id = :id1
 WHERE n.id = :id2;
SELECT rotated_from FROM apikey.keys WHERE id = :id1;

-- During the grace period both keys are valid
SELECT v.status, v.user_id, v.scopes, v.environment, v.metadata
  FROM (VALUES (1, :'k1'), (2, :'k2')) AS t(n, key), LATERAL apikey_verify(t.key) v
 ORDER BY t.n;

-- A key is rotated once: rotating the old key again is an error (55000), nothing inserted
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT replace(expect_error(format('SELECT apikey_rotate(%s)', :id1)), :'id1', '<id>') AS rotate_again;
SELECT count(*) = :keys_before AS nothing_inserted FROM apikey.keys;

-- The newest key of the chain can be rotated in turn
SELECT id AS id3, key AS k3 FROM apikey_rotate(:id2, '1 hour') \gset
SELECT rotated_from = :id2 AS rotated_from_previous FROM apikey.keys WHERE id = :id3;

-- Grace 0 stops the old key at once: expired in the very next statement
SELECT id AS id4, key AS k4 FROM apikey_create('acme', '3', 'rotate now') \gset
SELECT id AS id5, key AS k5 FROM apikey_rotate(:id4, '0') \gset
SELECT label, v.valid, v.status
  FROM (VALUES ('old', :'k4'), ('new', :'k5')) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label DESC;

-- The old key's expiry is the earlier of its own and now() + grace
SELECT id AS id6 FROM apikey_create('acme', '3', 'expires soon', now() + interval '1 hour') \gset
SELECT id AS id7 FROM apikey_create('acme', '3', 'expires late', '2999-01-01 00:00:00+00') \gset
SELECT expires_at AS e6 FROM apikey.keys WHERE id = :id6 \gset
BEGIN;
SELECT count(*) FROM apikey_rotate(:id6, '48 hours');
SELECT count(*) FROM apikey_rotate(:id7, '2 days');
SELECT id = :id6 AS is_6, expires_at = :'e6'::timestamptz AS own_expiry_kept,
       expires_at = now() + interval '2 days' AS capped_at_now_plus_grace
  FROM apikey.keys WHERE id IN (:id6, :id7)
 ORDER BY id;
COMMIT;

-- Rotating a revoked key: 55000, nothing inserted
SELECT id AS id8 FROM apikey_create('acme', '3', 'revoked') \gset
SELECT apikey_revoke(:id8);
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT replace(expect_error(format('SELECT apikey_rotate(%s)', :id8)), :'id8', '<id>') AS rotate_revoked;
SELECT count(*) = :keys_before AS nothing_inserted FROM apikey.keys;
-- for another tenant, even a revoked key does not exist (P0002, not 55000)
SELECT replace(expect_error(format('SELECT apikey_rotate(%s, tenant_id => %L)', :id8, 'globex')), :'id8', '<id>') AS rotate_other_tenant;

-- Negative or NULL grace: 22023, nothing inserted, old key unchanged
SELECT id AS id9, key AS k9 FROM apikey_create('acme', '3', 'bad grace') \gset
SELECT expect_error(format('SELECT apikey_rotate(%s, %L)', :id9, '-1 hour'));
SELECT expect_error(format('SELECT apikey_rotate(%s, %L)', :id9, '-1 second'));
SELECT expect_error(format('SELECT apikey_rotate(%s, NULL)', :id9));
SELECT count(*) = :keys_before + 1 AS nothing_inserted FROM apikey.keys;
SELECT expires_at IS NULL AS no_expiry FROM apikey.keys WHERE id = :id9;

-- NULL key_id: 22023; unknown key_id: P0002
SELECT expect_error($$SELECT apikey_rotate(NULL)$$);
SELECT expect_error($$SELECT apikey_rotate(999999999)$$);

-- Tenant guard: rotating another tenant's key is like rotating a missing key (P0002),
-- nothing inserted, the key untouched; with its own tenant it works
SELECT replace(expect_error(format('SELECT apikey_rotate(%s, %L, %L)', :id9, '1 hour', 'globex')), :'id9', '<id>') AS other_tenant;
SELECT expect_error(format('SELECT apikey_rotate(%s, %L, %L)', :id9, '1 hour', 'globex')) =
       replace(expect_error('SELECT apikey_rotate(999999999)'), '999999999', :'id9') AS identical_to_missing;
SELECT count(*) = :keys_before + 1 AS nothing_inserted FROM apikey.keys;
SELECT expires_at IS NULL AS no_expiry FROM apikey.keys WHERE id = :id9;
SELECT count(*) AS rotated FROM apikey_rotate(:id9, tenant_id => 'acme');
SELECT status FROM apikey_verify(:'k9');
