--
-- rate_limit: per-key rate limits (rate_limit requests per rate_window),
-- counted in shared memory by every verification entry point.  This file
-- runs twice: without the library preloaded (expected/rate_limit.out) there
-- is no shared memory, and apikey.rate_limit_overflow (default open) answers
-- as if keys had no limit, counting each such decision; preloaded
-- (expected/rate_limit_1.out) the limits apply.  retry_after depends on the
-- clock, so it is shown as a range.
--
SET apikey.verify_cache_size = 0;
CREATE TABLE rl_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE rl_users (id bigint PRIMARY KEY, tenant_id text NOT NULL, role text);
INSERT INTO rl_users VALUES (1, 'rl', 'owner'), (2, 'rl', 'member'), (3, 'rl2', 'owner');
SELECT apikey_bind_users('rl_users');
SELECT apikey_stats_reset();
SELECT current_setting('apikey.rate_limit_overflow') AS overflow;

-- SQLSTATE and message of a statement; for PT429 whether the detail gives
-- retry_after in seconds (its value depends on the clock)
CREATE FUNCTION rl_error(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	msg text;
	detail text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	IF state = 'PT429' THEN
		RETURN state || ': ' || msg || ' (detail gives seconds: ' ||
			(detail ~ '^Retry after [0-9]+\.[0-9]{3} seconds\.$')::text || ')';
	END IF;
	RETURN state || ': ' || msg || coalesce(NULLIF(' (' || detail || ')', ' ()'), '');
END
$$;

-- The new column of the verification functions
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns
  FROM pg_proc p
 WHERE p.proname IN ('apikey_verify', 'apikey_authorize', 'apikey_authenticate', 'apikey_verify_header',
                     'apikey_set_tenant_rate_limit', 'apikey_stats')
   AND p.pronamespace = 'public'::regnamespace
 ORDER BY 1::text COLLATE "C";

-- apikey_set_tenant_rate_limit: its checks, each a specific SQLSTATE, nothing changed
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit(NULL, 10, '1 minute')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, NULL)$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', NULL, '1 minute')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 0, '1 minute')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', -1, '1 minute')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '0')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '-1 second')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '1 day 1 second')$$);
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '1 mon')$$);
BEGIN READ ONLY;
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '1 minute')$$);
ROLLBACK;
-- an actor may set only its own tenant's default
BEGIN;
SET LOCAL apikey.actor = '3';
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '1 minute')$$);
SET LOCAL apikey.actor = '2';
SELECT expect_error($$SELECT apikey_set_tenant_rate_limit('rl', 10, '1 minute')$$);
SET LOCAL apikey.actor = '1';
SELECT apikey_set_tenant_rate_limit('rl', 10, '1 minute');
SELECT * FROM apikey.tenant_limits;
ROLLBACK;
SELECT count(*) AS tenant_limits FROM apikey.tenant_limits;
-- the table's own checks hold for anyone writing it directly
SELECT expect_error($$INSERT INTO apikey.tenant_limits VALUES ('x', 1, '2 days')$$);
-- apikey_admin may call it, PUBLIC may not
SELECT has_function_privilege('apikey_admin', 'apikey_set_tenant_rate_limit(text, integer, interval)', 'EXECUTE') AS admin,
       has_function_privilege('apikey_verifier', 'apikey_set_tenant_rate_limit(text, integer, interval)', 'EXECUTE') AS verifier,
       has_function_privilege('public', 'apikey_set_tenant_rate_limit(text, integer, interval)', 'EXECUTE') AS public;
-- the table's rows are dumped with the extension's
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'apikey' AND c.relname = 'tenant_limits';

-- A key with its own limit: 2 requests per hour
SELECT key AS rl_k1, id AS rl_id1 FROM apikey_create('rl', '1', 'limited') \gset
UPDATE apikey.keys SET rate_limit = 2, rate_window = '1 hour' WHERE id = :rl_id1;
SELECT valid, status, key_id = :rl_id1 AS same_key, tenant_id, user_id, retry_after FROM apikey_verify(:'rl_k1');
SELECT valid, status, key_id = :rl_id1 AS same_key, tenant_id, user_id, retry_after FROM apikey_verify(:'rl_k1');
-- the third: rate_limited (preloaded), valid = false, key_id and tenant_id set,
-- retry_after the time until the next request, at most half the hour
SELECT valid, status, key_id = :rl_id1 AS same_key, tenant_id, user_id, role, scopes,
       retry_after > interval '29 minutes' AND retry_after <= interval '30 minutes' AS retry_after_ok,
       retry_after = date_trunc('milliseconds', retry_after) AS whole_ms
  FROM apikey_verify(:'rl_k1');
-- every entry point counts and answers the same
SELECT status, retry_after IS NOT NULL AS has_retry FROM apikey_verify_header('Bearer ' || :'rl_k1');
SELECT status, retry_after IS NOT NULL AS has_retry FROM apikey_authorize(:'rl_k1', 'anything');
SELECT rl_error(format('SELECT * FROM apikey_authenticate(%L)', :'rl_k1'));
SELECT current_setting('apikey.key_id') = '' AS context_unset;
BEGIN;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'rl_k1')::text, true) IS NOT NULL AS set;
SELECT rl_error('SELECT apikey_postgrest_pre_request()');
ROLLBACK;
-- apikey_list counts nothing and shows the key's own state
SELECT name, status FROM apikey_list('rl') WHERE id = :rl_id1;

-- Other statuses come first and are not counted against the limit
SELECT key AS rl_k2, id AS rl_id2 FROM apikey_create('rl', '1', 'limited, disabled') \gset
UPDATE apikey.keys SET rate_limit = 1, rate_window = '1 hour' WHERE id = :rl_id2;
SELECT apikey_disable(:rl_id2);
SELECT status, retry_after FROM apikey_verify(:'rl_k2');
SELECT status, retry_after FROM apikey_verify(:'rl_k2');
SELECT apikey_enable(:rl_id2);
SELECT status, retry_after FROM apikey_verify(:'rl_k2');
SELECT status, retry_after IS NOT NULL AS has_retry FROM apikey_verify(:'rl_k2');
-- retry_after is NULL for every status but rate_limited
SELECT status, retry_after FROM apikey_verify(NULL);
SELECT status, retry_after FROM apikey_verify('not-a-key');
-- rate_limited comes before forbidden: a request that would be forbidden counts
SELECT key AS rl_k3, id AS rl_id3 FROM apikey_create('rl', '1', 'scoped', scopes => ARRAY['read']) \gset
UPDATE apikey.keys SET rate_limit = 1, rate_window = '1 hour' WHERE id = :rl_id3;
SELECT status, retry_after FROM apikey_authorize(:'rl_k3', 'write');
SELECT status, retry_after IS NOT NULL AS has_retry FROM apikey_authorize(:'rl_k3', 'read');

-- A tenant's default applies to its keys without a limit of their own, and
-- a change of the defaults reaches cached keys (the cache is on again)
RESET apikey.verify_cache_size;
SELECT key AS rl_k4, id AS rl_id4 FROM apikey_create('rl2', '3', 'tenant default') \gset
SELECT status FROM apikey_verify(:'rl_k4');
SELECT status FROM apikey_verify(:'rl_k4');
SELECT apikey_set_tenant_rate_limit('rl2', 1, '1 day');
SELECT tenant_id, rate_limit, rate_window FROM apikey.tenant_limits;
SELECT status, retry_after IS NOT NULL AS has_retry FROM apikey_verify(:'rl_k4');
SELECT status, retry_after > interval '23 hours' AS retry_after_ok FROM apikey_verify(:'rl_k4');
-- setting it again updates the row; both NULL removes it
SELECT apikey_set_tenant_rate_limit('rl2', 1000, '1 second');
SELECT tenant_id, rate_limit, rate_window FROM apikey.tenant_limits;
SELECT apikey_set_tenant_rate_limit('rl2', NULL, NULL);
SELECT count(*) AS tenant_limits FROM apikey.tenant_limits;
SELECT status, retry_after FROM apikey_verify(:'rl_k4');
-- TRUNCATE invalidates too
INSERT INTO apikey.tenant_limits VALUES ('rl2', 1, '1 day');
SELECT status, retry_after IS NOT NULL AS has_retry FROM apikey_verify(:'rl_k4');
TRUNCATE apikey.tenant_limits;
SELECT status, retry_after FROM apikey_verify(:'rl_k4');
-- a key's own limit wins over its tenant's default
SELECT key AS rl_k5, id AS rl_id5 FROM apikey_create('rl', '1', 'own limit') \gset
UPDATE apikey.keys SET rate_limit = 1000, rate_window = '1 second' WHERE id = :rl_id5;
SELECT apikey_set_tenant_rate_limit('rl', 1, '1 day');
SELECT status FROM apikey_verify(:'rl_k5');
SELECT status FROM apikey_verify(:'rl_k5');
SELECT apikey_set_tenant_rate_limit('rl', NULL, NULL);

-- apikey_stats: rate_limited and rate_limit_overflow, appended to the columns
SELECT valid, user_inactive, rate_limited, rate_limit_overflow FROM apikey_stats();

-- A limit raised by apikey_update counts at once: a key spent out under 1 a
-- day waits at most one new emission interval, not the rest of the day
-- (without preloading every verification is admitted: the same output)
SELECT key AS rl_k9, id AS rl_id9 FROM apikey_create('rl', '1', 'raised',
  rate_limit => 1, rate_window => '1 day') \gset
SELECT count(*) FROM apikey_verify(:'rl_k9') a, apikey_verify(:'rl_k9') b;
SELECT apikey_update(:rl_id9, rate_limit => 1000, rate_window => '1 minute');
SELECT status = 'valid' OR retry_after <= interval '60 ms' AS raised_limit_counts
  FROM apikey_verify(:'rl_k9');

-- Clean up
RESET apikey.verify_cache_size;
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM rl_saved_binding;
DROP FUNCTION rl_error(text);
DROP TABLE rl_saved_binding, rl_users;
DELETE FROM apikey.events WHERE tenant_id IN ('rl', 'rl2');
DELETE FROM apikey.keys WHERE tenant_id IN ('rl', 'rl2');
TRUNCATE apikey.tenant_limits;
