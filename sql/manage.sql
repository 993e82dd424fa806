--
-- manage: apikey_disable(key_id, tenant_id) and apikey_enable(key_id, tenant_id)
--
SELECT id AS id1, key AS k1 FROM apikey_create('acme', '2', 'manage') \gset

-- Disable: true when the state changed, false when it was already disabled
SELECT apikey_disable(:id1) AS first_call;
SELECT apikey_disable(:id1) AS second_call;
SELECT enabled, revoked_at FROM apikey.keys WHERE id = :id1;

-- A disabled key verifies as disabled, with key_id and tenant_id
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id FROM apikey_verify(:'k1');

-- Enable: true when the state changed, false when it was already enabled
SELECT apikey_enable(:id1) AS first_call;
SELECT apikey_enable(:id1) AS second_call;
SELECT enabled FROM apikey.keys WHERE id = :id1;

-- Re-enabled, the key is valid again
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id, user_id, role FROM apikey_verify(:'k1');

-- With the key's own tenant as a guard (named argument, then positional)
SELECT apikey_disable(:id1, tenant_id => 'acme') AS disabled;
SELECT apikey_enable(:id1, 'acme') AS enabled;

-- Tenant guard: for another tenant the key does not exist (P0002, same
-- message as for an id that does not exist), and nothing changes
SELECT replace(expect_error(format('SELECT apikey_disable(%s, %L)', :id1, 'globex')), 'key ' || :'id1', 'key <id>') AS disable_other_tenant,
       replace(expect_error(format('SELECT apikey_enable(%s, %L)', :id1, 'globex')), 'key ' || :'id1', 'key <id>') AS enable_other_tenant;
SELECT expect_error(format('SELECT apikey_disable(%s, %L)', :id1, 'globex')) =
       replace(expect_error('SELECT apikey_disable(999999999)'), '999999999', :'id1') AS identical_to_missing;
SELECT enabled FROM apikey.keys WHERE id = :id1;
SELECT apikey_disable(:id1);
SELECT replace(expect_error(format('SELECT apikey_enable(%s, %L)', :id1, 'globex')), 'key ' || :'id1', 'key <id>') AS enable_other_tenant;
SELECT enabled FROM apikey.keys WHERE id = :id1;
SELECT apikey_enable(:id1);

-- An id that does not exist: P0002
SELECT expect_error($$SELECT apikey_disable(999999999)$$);
SELECT expect_error($$SELECT apikey_enable(999999999)$$);

-- A NULL key_id: 22023
SELECT expect_error($$SELECT apikey_disable(NULL)$$);
SELECT expect_error($$SELECT apikey_enable(NULL)$$);
SELECT expect_error($$SELECT apikey_disable(NULL, 'acme')$$);

-- Enabling a revoked key is an error (55000): revocation is permanent
SELECT id AS id2, key AS k2 FROM apikey_create('acme', '2', 'revoked then enabled') \gset
SELECT apikey_disable(:id2);
SELECT apikey_revoke(:id2);
SELECT replace(expect_error(format('SELECT apikey_enable(%s)', :id2)), 'key ' || :'id2', 'key <id>') AS enable_revoked;
SELECT enabled, revoked_at IS NOT NULL AS revoked FROM apikey.keys WHERE id = :id2;
SELECT status FROM apikey_verify(:'k2');

-- For another tenant, even a revoked key does not exist (P0002, not 55000)
SELECT replace(expect_error(format('SELECT apikey_enable(%s, %L)', :id2, 'globex')), 'key ' || :'id2', 'key <id>') AS enable_other_tenant;

-- Also when the revoked key was never disabled
SELECT id AS id3, key AS k3 FROM apikey_create('acme', '2', 'revoked while enabled') \gset
SELECT apikey_revoke(:id3);
SELECT replace(expect_error(format('SELECT apikey_enable(%s)', :id3)), 'key ' || :'id3', 'key <id>') AS enable_revoked;
SELECT status FROM apikey_verify(:'k3');
