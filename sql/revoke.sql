--
-- revoke: apikey_revoke(key_id, reason, tenant_id) and apikey_revoke_key(key, reason)
--

-- By id: true when this call revoked the key, false when it was already revoked
SELECT id AS id1, key AS k1 FROM apikey_create('acme', '1', 'revoke by id') \gset
SELECT apikey_revoke(:id1, 'leaked in a CI log') AS first_call;
SELECT apikey_revoke(:id1, 'another reason') AS second_call;

-- The row stays (soft delete): revoked_at set, the first reason kept
SELECT count(*) AS rows, bool_and(revoked_at IS NOT NULL) AS revoked_at_set,
       bool_and(revoked_at BETWEEN now() - interval '1 minute' AND now()) AS revoked_now,
       min(revoke_reason) AS revoke_reason, bool_and(enabled) AS enabled
  FROM apikey.keys WHERE id = :id1;

-- A revoked key verifies as revoked
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id FROM apikey_verify(:'k1');

-- By key (for whoever holds a leaked key): true, then false; reason optional
SELECT id AS id2, key AS k2 FROM apikey_create('acme', '1', 'revoke by key') \gset
SELECT apikey_revoke_key(:'k2') AS first_call;
SELECT apikey_revoke_key(:'k2', 'again') AS second_call;
SELECT revoked_at IS NOT NULL AS revoked, revoke_reason FROM apikey.keys WHERE id = :id2;
SELECT status FROM apikey_verify(:'k2');
SELECT id AS id3, key AS k3 FROM apikey_create('acme', '1', 'revoke by key with reason') \gset
SELECT apikey_revoke_key(:'k3', 'found on pastebin') AS revoked;
SELECT revoke_reason FROM apikey.keys WHERE id = :id3;

-- Revoking by id with the right tenant as a guard works; named arguments too
SELECT id AS id4, key AS k4 FROM apikey_create('acme', '2', 'tenant guard') \gset
SELECT apikey_revoke(:id4, tenant_id => 'acme', reason => 'offboarding') AS revoked;
SELECT status FROM apikey_verify(:'k4');

-- A disabled key can be revoked
SELECT id AS id5, key AS k5 FROM apikey_create('acme', '2', 'disabled then revoked') \gset
SELECT apikey_disable(:id5);
SELECT apikey_revoke(:id5) AS revoked;
SELECT status FROM apikey_verify(:'k5');

-- Errors: no such key is P0002, and nothing changes
SELECT id AS id6, key AS k6 FROM apikey_create('acme', '2', 'victim') \gset
SELECT count(*) AS revoked_before FROM apikey.keys WHERE revoked_at IS NOT NULL \gset

-- an unknown id
SELECT expect_error($$SELECT apikey_revoke(999999999)$$);
SELECT expect_error($$SELECT apikey_revoke(-1::bigint)$$);

-- a key that is well-formed but unknown, and one that is malformed: the
-- message never contains the key (checked here, and by the printed message)
SELECT test_key('ak', 'live', repeat('K', 32)) AS unknown_key,
       overlay(:'k6' placing CASE WHEN substr(:'k6', 20, 1) = 'A' THEN 'B' ELSE 'A' END from 20 for 1) AS bad_key \gset
SELECT expect_error(format('SELECT apikey_revoke_key(%L)', :'unknown_key'));
SELECT expect_error(format('SELECT apikey_revoke_key(%L, %L)', :'bad_key', 'reason'));
SELECT expect_error($$SELECT apikey_revoke_key('not a key at all')$$);
SELECT position(:'unknown_key' in expect_error(format('SELECT apikey_revoke_key(%L)', :'unknown_key'))) = 0 AS unknown_key_not_shown,
       position(:'bad_key' in expect_error(format('SELECT apikey_revoke_key(%L)', :'bad_key'))) = 0 AS bad_key_not_shown,
       position(substr(:'bad_key', 9, 32) in expect_error(format('SELECT apikey_revoke_key(%L)', :'bad_key'))) = 0 AS secret_part_not_shown;

-- a key deleted from apikey.keys by a DBA
SELECT id AS id7, key AS k7 FROM apikey_create('acme', '2', 'deleted') \gset
DELETE FROM apikey.keys WHERE id = :id7;
SELECT expect_error(format('SELECT apikey_revoke_key(%L)', :'k7'));

-- Tenant guard: with another tenant's id, revoking is exactly like revoking a missing key
SELECT replace(expect_error(format('SELECT apikey_revoke(%s, %L, %L)', :id6, 'x', 'globex')), :'id6', '<id>') AS wrong_tenant,
       replace(expect_error('SELECT apikey_revoke(999999999)'), '999999999', '<id>') AS missing_key;
SELECT replace(expect_error(format('SELECT apikey_revoke(%s, tenant_id => %L)', :id6, 'no such tenant')), :'id6', '<id>') AS unknown_tenant;
SELECT expect_error(format('SELECT apikey_revoke(%s, %L, %L)', :id6, 'x', 'globex')) =
       replace(expect_error('SELECT apikey_revoke(999999999)'), '999999999', :'id6') AS identical_to_missing;

-- none of the failed calls revoked anything
SELECT count(*) = :revoked_before AS nothing_revoked FROM apikey.keys WHERE revoked_at IS NOT NULL;
SELECT status FROM apikey_verify(:'k6');

-- A DBA may revoke with plain SQL; verify honours it, apikey_revoke then says false
SELECT id AS id8, key AS k8 FROM apikey_create('acme', '3', 'revoked by SQL') \gset
UPDATE apikey.keys SET revoked_at = now(), revoke_reason = 'by hand' WHERE id = :id8;
SELECT valid, status, key_id = :id8 AS key_id_ok FROM apikey_verify(:'k8');
SELECT apikey_revoke(:id8) AS revoked_again, apikey_revoke_key(:'k8') AS revoked_again_by_key;

-- Revocation is permanent: un-revoking (or moving revoked_at) by SQL is refused with 55000
SELECT replace(expect_error(format('UPDATE apikey.keys SET revoked_at = NULL WHERE id = %s', :id8)), :'id8', '<id>') AS unrevoke;
SELECT replace(expect_error(format('UPDATE apikey.keys SET revoked_at = now() + interval ''1 day'' WHERE id = %s', :id1)), :'id1', '<id>') AS move_revoked_at;
SELECT count(*) AS still_revoked FROM apikey.keys WHERE id IN (:id1, :id8) AND revoked_at IS NOT NULL;
SELECT status FROM apikey_verify(:'k8');

-- Untyped parameters, as node-postgres and psycopg send them: apikey_revoke($1, $2)
-- resolves to revocation by id (1.2 dropped the (key text, reason text) overload
-- that an unknown-type argument used to pick), and the key is revoked.
SELECT id AS id9, key AS k9 FROM apikey_create('acme', '3', 'revoked through a driver') \gset
PREPARE revoke_untyped AS SELECT apikey_revoke($1, $2) AS revoked;
SELECT parameter_types FROM pg_prepared_statements WHERE name = 'revoke_untyped';
EXECUTE revoke_untyped(:'id9', 'revoked by a driver');
SELECT status FROM apikey_verify(:'k9');
SELECT revoke_reason FROM apikey.keys WHERE id = :id9;
DEALLOCATE revoke_untyped;
-- a key given to apikey_revoke is not an id: 22P02, nothing revoked
SELECT expect_error(format('SELECT apikey_revoke(%L)', :'k9' || 'x')) LIKE '22P02%' AS key_is_not_an_id;
-- the old text overload is gone
SELECT count(*) AS text_overloads FROM pg_proc
 WHERE proname = 'apikey_revoke' AND proargtypes[0] = 'text'::regtype;
