--
-- update: apikey_update(key_id, tenant_id, name, scopes, metadata,
-- expires_at, rate_limit, rate_window, remaining, refill_amount,
-- refill_interval, clear)
--
SELECT id AS u1, key AS k1 FROM apikey_create('acme', '2', 'to update') \gset
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset

-- Only the given fields change; true when something changed
SELECT apikey_update(:u1, name => 'renamed', scopes => '{orders:read}', metadata => '{"team": "ops"}',
                     rate_limit => 60, rate_window => '1 minute', remaining => 100) AS changed;
SELECT name, scopes, metadata, expires_at, rate_limit, rate_window, environment, enabled
  FROM apikey.keys WHERE id = :u1;
SELECT remaining, refill_amount, refill_interval FROM apikey.key_credits WHERE key_id = :u1;
-- one 'update' event naming the changed fields, never their values
SELECT action, reason, actor FROM apikey.events WHERE id > :last_event ORDER BY id;

-- The same values again: nothing changes, false, no event
SELECT apikey_update(:u1, name => 'renamed', scopes => '{orders:read}', metadata => '{"team":"ops"}',
                     rate_limit => 60, rate_window => '1 minute', remaining => 100) AS changed;
SELECT apikey_update(:u1) AS changed;
SELECT count(*) AS events FROM apikey.events WHERE id > :last_event;

-- Verification sees a change on the next statement (the cache is emptied)
SELECT valid, status, scopes, metadata FROM apikey_verify(:'k1');
SELECT apikey_update(:u1, scopes => '{orders:write}', metadata => '{"team": "dev"}') AS changed;
SELECT valid, status, scopes, metadata FROM apikey_verify(:'k1');
SELECT valid, status FROM apikey_authorize(:'k1', 'orders:read');
SELECT valid, status FROM apikey_authorize(:'k1', 'orders:write');

-- One field of a pair: the other is kept from the key
SELECT apikey_update(:u1, rate_limit => 120) AS changed;
SELECT rate_limit, rate_window FROM apikey.keys WHERE id = :u1;
SELECT apikey_update(:u1, rate_window => '30 seconds') AS changed;
SELECT rate_limit, rate_window FROM apikey.keys WHERE id = :u1;

-- Credits: the balance, then a refill (the refill period starts now)
SELECT apikey_update(:u1, remaining => 5) AS changed;
SELECT valid, status, remaining FROM apikey_consume(:'k1', 2);
SELECT apikey_update(:u1, refill_amount => 50, refill_interval => '1 day') AS changed;
SELECT remaining, refill_amount, refill_interval, refilled_at > now() - interval '1 minute' AS refill_restarted
  FROM apikey.key_credits WHERE key_id = :u1;

-- Expiry: must be in the future; the 'update' event names expires_at and
-- apikey.keys_audit adds its 'expire' event with the new value, once
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset
SELECT apikey_update(:u1, expires_at => now() + interval '1 day') AS changed;
SELECT expires_at BETWEEN now() + interval '23 hours' AND now() + interval '1 day' AS expiry_set FROM apikey.keys WHERE id = :u1;
SELECT action, CASE WHEN action = 'expire' THEN regexp_replace(reason, 'to .*', 'to <time>') ELSE reason END AS reason
  FROM apikey.events WHERE id > :last_event ORDER BY id;
SELECT expect_error(format('SELECT apikey_update(%s, expires_at => now() - interval ''1 second'')', :u1)) AS expiry_in_past;

-- Clearing: expires_at, scopes, metadata, rate_limit (both columns), refill
-- (the pair), credits (the row)
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset
SELECT apikey_update(:u1, clear => '{expires_at,scopes,metadata,rate_limit,refill}') AS changed;
SELECT scopes, metadata, expires_at, rate_limit, rate_window FROM apikey.keys WHERE id = :u1;
SELECT remaining, refill_amount, refill_interval FROM apikey.key_credits WHERE key_id = :u1;
SELECT apikey_update(:u1, clear => '{credits}') AS changed;
SELECT count(*) AS credit_rows FROM apikey.key_credits WHERE key_id = :u1;
SELECT valid, status, remaining FROM apikey_consume(:'k1', 1000);
-- clearing what is already none changes nothing
SELECT apikey_update(:u1, clear => '{expires_at,scopes,metadata,rate_limit,refill,credits}') AS changed;
SELECT action, CASE WHEN action = 'expire' THEN regexp_replace(reason, 'to .*', 'to <time>') ELSE reason END AS reason
  FROM apikey.events WHERE id > :last_event ORDER BY id;
SELECT valid, status, scopes, metadata, expires_at FROM apikey_verify(:'k1');

-- A refill alone creates the credits row, starting at refill_amount
SELECT apikey_update(:u1, refill_amount => 3, refill_interval => '1 hour') AS changed;
SELECT remaining, refill_amount, refill_interval FROM apikey.key_credits WHERE key_id = :u1;

-- Bad arguments: 22023, nothing changed
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset
SELECT expect_error(format('SELECT apikey_update(%s, clear => ''{bogus}'')', :u1)) AS unknown_clear;
SELECT expect_error(format('SELECT apikey_update(%s, clear => ''{scopes,NULL}'')', :u1)) AS null_in_clear;
SELECT expect_error(format('SELECT apikey_update(%s, scopes => ''{a}'', clear => ''{scopes}'')', :u1)) AS scopes_given_and_cleared;
SELECT expect_error(format('SELECT apikey_update(%s, metadata => ''{}'', clear => ''{metadata}'')', :u1)) AS metadata_given_and_cleared;
SELECT expect_error(format('SELECT apikey_update(%s, expires_at => now() + interval ''1 day'', clear => ''{expires_at}'')', :u1)) AS expiry_given_and_cleared;
SELECT expect_error(format('SELECT apikey_update(%s, rate_limit => 5, clear => ''{rate_limit}'')', :u1)) AS rate_given_and_cleared;
SELECT expect_error(format('SELECT apikey_update(%s, remaining => 5, clear => ''{credits}'')', :u1)) AS credits_given_and_cleared;
SELECT expect_error(format('SELECT apikey_update(%s, refill_amount => 5, refill_interval => ''1 day'', clear => ''{refill}'')', :u1)) AS refill_given_and_cleared;
SELECT expect_error(format('SELECT apikey_update(%s, name => '''')', :u1)) AS empty_name;
SELECT expect_error(format('SELECT apikey_update(%s, name => repeat(''x'', 101))', :u1)) AS long_name;
SELECT expect_error(format('SELECT apikey_update(%s, scopes => ''{a,NULL}'')', :u1)) AS null_scope;
SELECT expect_error(format('SELECT apikey_update(%s, rate_limit => 5)', :u1)) AS limit_without_window;
SELECT expect_error(format('SELECT apikey_update(%s, rate_limit => 0, rate_window => ''1 second'')', :u1)) AS zero_limit;
SELECT expect_error(format('SELECT apikey_update(%s, rate_limit => 5, rate_window => ''2 days'')', :u1)) AS long_window;
SELECT expect_error(format('SELECT apikey_update(%s, remaining => -1)', :u1)) AS negative_remaining;
SELECT expect_error(format('SELECT apikey_update(%s, refill_amount => 0)', :u1)) AS zero_amount;
SELECT expect_error(format('SELECT apikey_update(%s, refill_interval => ''-1 hour'')', :u1)) AS negative_interval;
SELECT id AS u5 FROM apikey_create('acme', '2', 'no refill', remaining => 1) \gset
SELECT coalesce(max(id), 0) AS last_event FROM apikey.events \gset
SELECT replace(expect_error(format('SELECT apikey_update(%s, refill_amount => 5)', :u5)), :'u5', '<id>') AS amount_without_interval;
SELECT replace(expect_error(format('SELECT apikey_update(%s, refill_interval => ''1 day'')', :u5)), :'u5', '<id>') AS interval_without_amount;
SELECT expect_error('SELECT apikey_update(NULL, name => ''x'')') AS null_key_id;
SELECT name, scopes, rate_limit FROM apikey.keys WHERE id = :u1;
SELECT remaining, refill_amount FROM apikey.key_credits WHERE key_id = :u1;
SELECT count(*) AS events FROM apikey.events WHERE id > :last_event;

-- A key that does not exist, or of another tenant: P0002, same message
SELECT expect_error('SELECT apikey_update(999999999, name => ''x'')') AS missing;
SELECT replace(expect_error(format('SELECT apikey_update(%s, %L, name => ''x'')', :u1, 'globex')), :'u1', '<id>') AS other_tenant;
SELECT apikey_update(:u1, 'acme', name => 'guarded') AS own_tenant;
-- an actor of another tenant sees no such key; one of the key's tenant may update it
BEGIN;
SET LOCAL apikey.actor = '10';
SELECT replace(expect_error(format('SELECT apikey_update(%s, name => ''x'')', :u1)), :'u1', '<id>') AS actor_other_tenant;
COMMIT;
BEGIN;
SET LOCAL apikey.actor = '2';
SELECT expect_error(format('SELECT apikey_update(%s, name => ''x'')', :u1)) AS actor_not_manager;
COMMIT;
BEGIN;
SET LOCAL apikey.actor = '1';
SELECT apikey_update(:u1, name => 'by the admin') AS changed;
COMMIT;
SELECT action, reason, actor FROM apikey.events WHERE key_id = :u1 ORDER BY id DESC LIMIT 1;

-- Read-only: 25006
BEGIN READ ONLY;
SELECT expect_error(format('SELECT apikey_update(%s, name => ''x'')', :u1)) AS read_only;
COMMIT;

-- A revoked key: 55000
SELECT id AS u2 FROM apikey_create('acme', '2', 'revoked') \gset
SELECT apikey_revoke(:u2);
SELECT replace(expect_error(format('SELECT apikey_update(%s, name => ''x'')', :u2)), :'u2', '<id>') AS revoked;

-- A rotated key: its own fields may change, its credits belong to the
-- newest key of the chain (55000)
SELECT id AS u3 FROM apikey_create('acme', '2', 'rotated', remaining => 10) \gset
SELECT id AS u4 FROM apikey_rotate(:u3, '1 hour') \gset
SELECT replace(expect_error(format('SELECT apikey_update(%s, remaining => 5)', :u3)), :'u3', '<id>') AS rotated_credits;
SELECT apikey_update(:u3, name => 'old key') AS changed;
SELECT apikey_update(:u4, remaining => 5) AS changed;
SELECT key_id = :u4 AS on_successor, remaining FROM apikey.key_credits WHERE key_id IN (:u3, :u4);

-- Permissions: apikey_admin only
CREATE ROLE regress_update_verifier IN ROLE apikey_verifier;
SET ROLE regress_update_verifier;
SELECT expect_error(format('SELECT apikey_update(%s, name => ''x'')', :u1)) AS verifier;
RESET ROLE;
DROP ROLE regress_update_verifier;

SELECT pg_get_function_arguments('apikey_update(bigint,text,text,text[],jsonb,timestamptz,integer,interval,bigint,bigint,interval,text[])'::regprocedure);
