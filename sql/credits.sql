--
-- credits: apikey_create's rate limit and credits arguments, and
-- apikey_consume(key, cost): usage credits spent in the caller's transaction
--

-- A key with 3 credits: a row of apikey.key_credits, no refill
SELECT id AS c1, key AS k1 FROM apikey_create('acme', '2', 'credits', remaining => 3) \gset
SELECT remaining, refill_amount, refill_interval,
       refilled_at BETWEEN now() - interval '1 minute' AND now() AS refilled_at_creation
  FROM apikey.key_credits WHERE key_id = :c1;
SELECT rate_limit, rate_window FROM apikey.keys WHERE id = :c1;

-- Spending: cost 1 by default, then 2; the third call finds nothing left
-- and answers usage_exceeded with what is left, spending nothing
SELECT valid, status, key_id = :c1 AS key_ok, tenant_id, user_id, remaining, retry_after
  FROM apikey_consume(:'k1');
SELECT valid, status, remaining FROM apikey_consume(:'k1', 2);
SELECT valid, status, key_id = :c1 AS key_ok, tenant_id, user_id, remaining, retry_after
  FROM apikey_consume(:'k1');
SELECT remaining FROM apikey.key_credits WHERE key_id = :c1;

-- More than is left: usage_exceeded, nothing spent
SELECT apikey_update(:c1, remaining => 5);
SELECT valid, status, remaining FROM apikey_consume(:'k1', 6);
SELECT valid, status, remaining FROM apikey_consume(:'k1', 5);
SELECT remaining FROM apikey.key_credits WHERE key_id = :c1;

-- cost 0 checks the balance without spending (and without writing)
SELECT apikey_update(:c1, remaining => 2);
SELECT xmin AS xmin_before FROM apikey.key_credits WHERE key_id = :c1 \gset
SELECT valid, status, remaining FROM apikey_consume(:'k1', 0);
SELECT remaining, xmin = :'xmin_before' AS row_not_written FROM apikey.key_credits WHERE key_id = :c1;

-- apikey_verify does not spend
SELECT valid, status FROM apikey_verify(:'k1');
SELECT remaining FROM apikey.key_credits WHERE key_id = :c1;

-- Spending is part of the caller's transaction: a rollback refunds
BEGIN;
SELECT valid, status, remaining FROM apikey_consume(:'k1', 2);
SELECT valid, status, remaining FROM apikey_consume(:'k1');
ROLLBACK;
SELECT remaining FROM apikey.key_credits WHERE key_id = :c1;
-- ... and so does a failed savepoint
BEGIN;
SAVEPOINT s;
SELECT valid, status, remaining FROM apikey_consume(:'k1');
ROLLBACK TO SAVEPOINT s;
SELECT valid, status, remaining FROM apikey_consume(:'k1', 0);
COMMIT;

-- A key without credits is unlimited: valid, remaining NULL, nothing written
SELECT id AS u1, key AS ku FROM apikey_create('acme', '2', 'unlimited') \gset
SELECT valid, status, key_id = :u1 AS key_ok, remaining FROM apikey_consume(:'ku', 1000000);
SELECT count(*) AS credit_rows FROM apikey.key_credits WHERE key_id = :u1;

-- Any other status is returned as verification returns it, never raised,
-- and nothing is spent
SELECT id AS c2, key AS k2 FROM apikey_create('acme', '2', 'credits, disabled', remaining => 5) \gset
SELECT apikey_disable(:c2);
SELECT valid, status, key_id = :c2 AS key_ok, tenant_id, user_id, remaining FROM apikey_consume(:'k2');
SELECT apikey_enable(:c2);
UPDATE users SET active = false WHERE id = 2;
SELECT valid, status, key_id = :c2 AS key_ok, tenant_id, user_id, remaining FROM apikey_consume(:'k2');
UPDATE users SET active = true WHERE id = 2;
SELECT apikey_revoke(:c2);
SELECT valid, status, key_id = :c2 AS key_ok, tenant_id, user_id, remaining FROM apikey_consume(:'k2');
SELECT remaining FROM apikey.key_credits WHERE key_id = :c2;
SELECT valid, status, key_id, tenant_id, user_id, remaining FROM apikey_consume(NULL);
SELECT valid, status, key_id, tenant_id, user_id, remaining FROM apikey_consume('');
SELECT valid, status, key_id, tenant_id, user_id, remaining FROM apikey_consume('not a key', 1);
SELECT valid, status, key_id, tenant_id, user_id, remaining
  FROM apikey_consume(test_key('ak', 'live', repeat('u', 32)));
-- an expired key
SELECT id AS c3, key AS k3 FROM apikey_create('acme', '2', 'credits, expiring', remaining => 5) \gset
UPDATE apikey.keys SET expires_at = now() - interval '1 second' WHERE id = :c3;
SELECT valid, status, key_id = :c3 AS key_ok, remaining FROM apikey_consume(:'k3');
SELECT remaining FROM apikey.key_credits WHERE key_id = :c3;

-- A bad cost: 22023, whatever the key, nothing spent
SELECT expect_error(format('SELECT * FROM apikey_consume(%L, NULL)', :'k1')) AS null_cost;
SELECT expect_error(format('SELECT * FROM apikey_consume(%L, -1)', :'k1')) AS negative_cost;
SELECT expect_error($$SELECT * FROM apikey_consume('not a key', -1)$$) AS negative_cost_bad_key;
SELECT remaining FROM apikey.key_credits WHERE key_id = :c1;

-- Read-only (and so on a standby): 25006 only when a spend is needed
BEGIN READ ONLY;
SELECT valid, status, remaining FROM apikey_consume(:'k1', 0);
SELECT valid, status, remaining FROM apikey_consume(:'ku');
SELECT valid, status, remaining FROM apikey_consume(:'k1', 5);
SELECT expect_error(format('SELECT * FROM apikey_consume(%L)', :'k1')) AS spend_read_only;
COMMIT;
SELECT remaining FROM apikey.key_credits WHERE key_id = :c1;

-- Refill: remaining NULL with a refill starts at refill_amount
SELECT id AS r1, key AS kr FROM apikey_create('acme', '2', 'refilled',
       refill_amount => 10, refill_interval => '1 hour') \gset
SELECT remaining, refill_amount, refill_interval FROM apikey.key_credits WHERE key_id = :r1;
SELECT valid, status, remaining FROM apikey_consume(:'kr', 10);
SELECT valid, status, remaining FROM apikey_consume(:'kr');
-- not due yet: nothing refilled
UPDATE apikey.key_credits SET refilled_at = now() - interval '59 minutes' WHERE key_id = :r1;
SELECT valid, status, remaining FROM apikey_consume(:'kr');
-- 3 hours 20 minutes later: remaining is refill_amount again (not 3 refills
-- added up), and refilled_at moved forward by 3 whole intervals
UPDATE apikey.key_credits SET refilled_at = now() - interval '3 hours 20 minutes' WHERE key_id = :r1;
SELECT valid, status, remaining FROM apikey_consume(:'kr', 4);
SELECT remaining, now() - refilled_at BETWEEN interval '20 minutes' AND interval '21 minutes' AS refilled_3_intervals_later
  FROM apikey.key_credits WHERE key_id = :r1;
-- a refill also answers a cost-0 check, without writing
UPDATE apikey.key_credits SET refilled_at = now() - interval '2 hours', remaining = 0 WHERE key_id = :r1;
SELECT valid, status, remaining FROM apikey_consume(:'kr', 0);
SELECT remaining FROM apikey.key_credits WHERE key_id = :r1;
-- a month-long interval: one refill after a month
SELECT id AS r2, key AS kr2 FROM apikey_create('acme', '2', 'monthly',
       remaining => 0, refill_amount => 100, refill_interval => '1 month') \gset
SELECT valid, status, remaining FROM apikey_consume(:'kr2');
UPDATE apikey.key_credits SET refilled_at = now() - interval '1 month' WHERE key_id = :r2;
SELECT valid, status, remaining FROM apikey_consume(:'kr2');
SELECT remaining, refilled_at <= now() AS not_in_future,
       refilled_at + interval '1 month' > now() AS next_in_a_month
  FROM apikey.key_credits WHERE key_id = :r2;

-- The rate limit is stored with the key (enforced by verification, section 1)
SELECT id AS l1 FROM apikey_create('acme', '2', 'limited', rate_limit => 100, rate_window => '1 minute') \gset
SELECT rate_limit, rate_window FROM apikey.keys WHERE id = :l1;
SELECT count(*) AS credit_rows FROM apikey.key_credits WHERE key_id = :l1;

-- Bad limits: 22023, and no key is created
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 10)$$) AS limit_without_window;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_window => '1 minute')$$) AS window_without_limit;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 0, rate_window => '1 minute')$$) AS zero_limit;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => -5, rate_window => '1 minute')$$) AS negative_limit;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 10, rate_window => '0')$$) AS zero_window;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 10, rate_window => '-1 second')$$) AS negative_window;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 10, rate_window => '1 day 1 second')$$) AS window_over_a_day;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 10, rate_window => '1 month')$$) AS window_month;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', rate_limit => 10, rate_window => '1 month -30 days')$$) AS window_month_part;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', remaining => -1)$$) AS negative_remaining;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 10)$$) AS amount_without_interval;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_interval => '1 day')$$) AS interval_without_amount;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 0, refill_interval => '1 day')$$) AS zero_amount;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 5, refill_interval => '0')$$) AS zero_interval;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 5, refill_interval => '-1 day')$$) AS negative_interval;
-- review finding: an interval apikey_consume's refill arithmetic overflowed with (22008, raised by
-- every spend, with the statement and its key in the server log) is refused at create, and by the table
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 5, refill_interval => '100000000 years')$$) AS huge_interval;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 5, refill_interval => '1 month -29 days -23:59:59.99')$$) AS mixed_sign_interval;
SELECT expect_error($$SELECT apikey_create('acme', '2', 'x', refill_amount => 5, refill_interval => '0.5 seconds')$$) AS sub_second_interval;
SELECT split_part(expect_error($$UPDATE apikey.key_credits SET refill_amount = 5, refill_interval = '1 month -29 days -23:59:59.99'$$), ' (Failing', 1) AS table_refuses_mixed_sign;
SELECT count(*) - :keys_before AS keys_created FROM apikey.keys;
-- a full day is allowed, and remaining 0
SELECT count(*) AS created FROM apikey_create('acme', '2', 'x', rate_limit => 1, rate_window => '24 hours', remaining => 0);

-- Rotation: the successor keeps the rate limit, the credits move to it
-- (never duplicated), and the old key spends from the successor's balance
-- during its grace period
SELECT id AS o1, key AS ko FROM apikey_create('acme', '2', 'rotated', rate_limit => 7, rate_window => '10 seconds',
       remaining => 10, refill_amount => 20, refill_interval => '1 day') \gset
SELECT valid, status, remaining FROM apikey_consume(:'ko', 3);
SELECT id AS n1, key AS kn FROM apikey_rotate(:o1, '1 hour') \gset
SELECT rate_limit, rate_window FROM apikey.keys WHERE id = :n1;
SELECT key_id = :n1 AS on_successor, remaining, refill_amount, refill_interval
  FROM apikey.key_credits WHERE key_id IN (:o1, :n1);
SELECT valid, status, key_id = :o1 AS old_key, remaining FROM apikey_consume(:'ko', 2);
SELECT valid, status, key_id = :n1 AS new_key, remaining FROM apikey_consume(:'kn', 1);
-- rotated again: the first key still spends from the newest balance
SELECT id AS n2, key AS kn2 FROM apikey_rotate(:n1, '1 hour') \gset
SELECT valid, status, key_id = :o1 AS old_key, remaining FROM apikey_consume(:'ko', 1);
SELECT key_id = :n2 AS on_newest, remaining FROM apikey.key_credits WHERE key_id IN (:o1, :n1, :n2);
SELECT valid, status, remaining FROM apikey_consume(:'kn2', 4);
SELECT valid, status, remaining FROM apikey_consume(:'ko', 1);
-- a rotated key without credits stays unlimited
SELECT id AS o2 FROM apikey_create('acme', '2', 'rotated, unlimited') \gset
SELECT key AS kn3 FROM apikey_rotate(:o2, '1 hour') \gset
SELECT valid, status, remaining FROM apikey_consume(:'kn3');
SELECT rate_limit IS NULL AS no_limit FROM apikey.keys WHERE rotated_from = :o2;

-- Deleting a key deletes its credits
DELETE FROM apikey.keys WHERE id = :c3;
SELECT count(*) AS credit_rows FROM apikey.key_credits WHERE key_id = :c3;

-- Roles: a verifier may consume (and spend), a role without grants may not
CREATE ROLE regress_credits_verifier IN ROLE apikey_verifier;
CREATE ROLE regress_credits_nobody;
SET ROLE regress_credits_verifier;
SELECT valid, status, remaining FROM apikey_consume(:'kn2', 1);
RESET ROLE;
SET ROLE regress_credits_nobody;
SELECT expect_error(format('SELECT * FROM apikey_consume(%L)', :'kn2')) AS nobody;
RESET ROLE;
SELECT remaining FROM apikey.key_credits WHERE key_id = :n2;
DROP ROLE regress_credits_verifier, regress_credits_nobody;

-- The 1.2 signature of apikey_create
SELECT pg_get_function_arguments('apikey_create(text,text,text,timestamptz,text,text[],jsonb,integer,interval,bigint,bigint,interval)'::regprocedure);
SELECT pg_get_function_arguments('apikey_consume(text,integer)'::regprocedure),
       pg_get_function_result('apikey_consume(text,integer)'::regprocedure);
