--
-- lifecycle: apikey.max_idle, apikey_revoke_user(tenant_id, user_id, reason),
-- apikey_prune(older_than)
--
-- Times are moved into the past as the superuser (deterministic, no sleep).
-- Everything here happens in tenants lc and lc2, removed at the end.
INSERT INTO users (id, tenant_id, role) VALUES
	(500, 'lc', 'admin'), (501, 'lc', 'member'), (502, 'lc', 'member'), (503, 'lc', 'member'),
	(510, 'lc2', 'admin');

--
-- 1. apikey.max_idle: an interval setting (seconds, units up to d), 0 = off
--
SHOW apikey.max_idle;
SET apikey.max_idle = '2160h';
SHOW apikey.max_idle;
SET apikey.max_idle = 3600;
SHOW apikey.max_idle;
SELECT left(expect_error($$SET apikey.max_idle = '-1s'$$), 6) AS negative_refused;
RESET apikey.max_idle;
-- only a superuser may change it: an application role cannot switch it off
SET ROLE apikey_admin;
SELECT expect_error($$SET apikey.max_idle = 0$$);
RESET ROLE;

-- A key never used: its creation counts.  Created 10 days ago, never used.
SELECT id AS i1, key AS k1 FROM apikey_create('lc', '501', 'never used') \gset
UPDATE apikey.keys SET created_at = now() - interval '10 days' WHERE id = :i1;
SET apikey.max_idle = '7d';
SELECT valid, status, key_id = :i1 AS key_id_ok FROM apikey_verify(:'k1');
SELECT valid, status FROM apikey_authorize(:'k1', 'anything');
SELECT valid, status FROM apikey_verify_header('Bearer ' || :'k1');
-- apikey_list says the same
SELECT status, last_used_at FROM apikey_list('lc') WHERE id = :i1;
-- (an expired key records no use: it stays idle)
SELECT status FROM apikey_verify(:'k1');
SET apikey.max_idle = '11d';
SELECT status FROM apikey_verify(:'k1');

-- A key used 2 days ago (apikey.keys.last_used_at, written by the flush
-- worker when preloaded): idle after 1 day, not after 7
SELECT id AS i2, key AS k2 FROM apikey_create('lc', '501', 'used 2 days ago') \gset
SELECT now() - interval '2 days' AS two_days_ago \gset
UPDATE apikey.keys SET created_at = now() - interval '10 days', last_used_at = :'two_days_ago' WHERE id = :i2;
SET apikey.max_idle = '1d';
SELECT status FROM apikey_verify(:'k2');
SELECT status, last_used_at = :'two_days_ago' AS last_used_2_days_ago
  FROM apikey_list('lc') WHERE id = :i2;
SET apikey.max_idle = '7d';
SELECT status FROM apikey_verify(:'k2');

-- A key whose last use is in apikey.key_usage (written by verification
-- when not preloaded): the newer of the two counts
SELECT id AS i3, key AS k3 FROM apikey_create('lc', '501', 'used via key_usage') \gset
UPDATE apikey.keys SET created_at = now() - interval '10 days',
       last_used_at = now() - interval '9 days' WHERE id = :i3;
SELECT now() - interval '3 days' AS three_days_ago \gset
INSERT INTO apikey.key_usage (key_id, last_used_at) VALUES (:i3, :'three_days_ago');
SET apikey.max_idle = '2d';
SELECT status FROM apikey_verify(:'k3');
SELECT status, last_used_at = :'three_days_ago' AS last_used_3_days_ago
  FROM apikey_list('lc') WHERE id = :i3;
SET apikey.max_idle = '4d';
SELECT status FROM apikey_verify(:'k3');

-- This backend remembers the key (cache) as idle; a use recorded since by
-- another backend (in apikey.key_usage, or in apikey.keys by the flush
-- worker: neither invalidates the cache) makes it valid again at once
SELECT id AS i4, key AS k4 FROM apikey_create('lc', '502', 'used elsewhere (key_usage)') \gset
SELECT id AS i5, key AS k5 FROM apikey_create('lc', '502', 'used elsewhere (keys)') \gset
UPDATE apikey.keys SET created_at = now() - interval '10 days' WHERE id IN (:i4, :i5);
SET apikey.max_idle = '7d';
SELECT status FROM apikey_verify(:'k4');
SELECT status FROM apikey_verify(:'k5');
INSERT INTO apikey.key_usage (key_id, last_used_at) VALUES (:i4, now() - interval '1 hour');
UPDATE apikey.keys SET last_used_at = now() - interval '1 hour' WHERE id = :i5;
SELECT status FROM apikey_verify(:'k4');
SELECT status FROM apikey_verify(:'k5');

-- Precedence: revoked and disabled come first, then expired (idle)
SELECT id AS i6, key AS k6 FROM apikey_create('lc', '502', 'idle and disabled') \gset
SELECT id AS i7, key AS k7 FROM apikey_create('lc', '502', 'idle and revoked') \gset
UPDATE apikey.keys SET created_at = now() - interval '10 days' WHERE id IN (:i6, :i7);
SELECT apikey_disable(:i6) AS disabled, apikey_revoke(:i7) AS revoked;
SELECT status FROM apikey_verify(:'k6');
SELECT status FROM apikey_verify(:'k7');

-- Off again: every key answers as before
RESET apikey.max_idle;
SELECT string_agg(v.status, ',' ORDER BY k.n) AS statuses
  FROM (VALUES (1, :'k1'), (2, :'k2'), (3, :'k3'), (4, :'k4'), (5, :'k5'), (6, :'k6'), (7, :'k7')) k(n, key),
       apikey_verify(k.key) v;

--
-- 2. apikey_revoke_user(tenant_id, user_id, reason): every unrevoked key of
-- the user, each audited 'revoke'; returns the count
--
SELECT id AS r1 FROM apikey_create('lc', '503', 'offboard 1') \gset
SELECT id AS r2, key AS rk2 FROM apikey_create('lc', '503', 'offboard 2') \gset
SELECT id AS r3 FROM apikey_create('lc', '503', 'offboard 3, revoked before') \gset
SELECT apikey_revoke(:r3, 'earlier') AS revoked_before;
SELECT max(id) AS events_before FROM apikey.events \gset
SELECT apikey_revoke_user('lc', '503', 'offboarded') AS revoked;
SELECT id = :r1 AS first, revoked_at > now() - interval '1 minute' AS revoked_now, revoke_reason
  FROM apikey.keys WHERE id IN (:r1, :r2, :r3) ORDER BY id;
SELECT key_id = :r1 AS first, action, actor, reason
  FROM apikey.events WHERE id > :events_before ORDER BY id;
SELECT status FROM apikey_verify(:'rk2');
-- again: nothing left to revoke
SELECT apikey_revoke_user('lc', '503') AS revoked_again;
-- a user without keys, and one that never existed: 0
SELECT apikey_revoke_user('lc', '500') AS no_keys, apikey_revoke_user('lc', '999999') AS no_such_user;
-- other users' keys are untouched
SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS unrevoked_of_502
  FROM apikey.keys WHERE tenant_id = 'lc' AND user_id = '502';

-- The user need not exist any more (offboarding after the row is deleted);
-- ids are canonicalized by the bound table's types when they can be
SELECT id AS r4 FROM apikey_create('lc', '503', 'after deletion') \gset
DELETE FROM users WHERE id = 503;
SELECT apikey_revoke_user('lc', '0503', 'user deleted') AS revoked_deleted_user;
SELECT revoke_reason FROM apikey.keys WHERE id = :r4;
-- the tenant must match: user 502 of tenant lc is not one of lc2's
SELECT id AS r5 FROM apikey_create('lc', '502', 'other tenant guard') \gset
SELECT apikey_revoke_user('lc2', '502') AS other_tenant;
SELECT revoked_at IS NULL AS untouched FROM apikey.keys WHERE id = :r5;

-- Errors, and nothing changes
SELECT expect_error($$SELECT apikey_revoke_user(NULL, '502')$$);
SELECT expect_error($$SELECT apikey_revoke_user('lc', NULL)$$);
BEGIN READ ONLY;
SELECT expect_error($$SELECT apikey_revoke_user('lc', '502')$$);
COMMIT;
-- the actor must be a manager of that tenant (42501), then it works
BEGIN;
SET LOCAL apikey.actor = '1';
SELECT expect_error($$SELECT apikey_revoke_user('lc', '502')$$);
SET LOCAL apikey.actor = '502';
SELECT expect_error($$SELECT apikey_revoke_user('lc', '502')$$);
SET LOCAL apikey.actor = '500';
SELECT apikey_revoke_user('lc', '502', 'by the tenant admin') AS revoked_by_actor;
SELECT DISTINCT actor, reason FROM apikey.events
 WHERE action = 'revoke' AND reason = 'by the tenant admin';
ROLLBACK;
SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS still_unrevoked_of_502
  FROM apikey.keys WHERE tenant_id = 'lc' AND user_id = '502';
-- only apikey_admin may call it
SET ROLE apikey_verifier;
SELECT expect_error($$SELECT apikey_revoke_user('lc', '502')$$);
RESET ROLE;

--
-- 3. apikey_prune(older_than): deletes keys revoked or expired longer ago,
-- one 'prune' event each; their usage and credits rows go too
--
SELECT id AS p1 FROM apikey_create('lc', '502', 'revoked 60 days ago') \gset
SELECT id AS p2 FROM apikey_create('lc', '502', 'expired 60 days ago') \gset
SELECT id AS p3 FROM apikey_create('lc', '502', 'revoked yesterday') \gset
SELECT id AS p4 FROM apikey_create('lc', '502', 'expired yesterday') \gset
SELECT id AS p5 FROM apikey_create('lc', '502', 'live') \gset
SELECT id AS p6 FROM apikey_create('lc2', '510', 'other tenant, revoked 60 days ago') \gset
UPDATE apikey.keys SET revoked_at = now() - interval '60 days', revoke_reason = 'old' WHERE id IN (:p1, :p6);
UPDATE apikey.keys SET expires_at = now() - interval '60 days' WHERE id = :p2;
UPDATE apikey.keys SET revoked_at = now() - interval '1 day' WHERE id = :p3;
UPDATE apikey.keys SET expires_at = now() - interval '1 day' WHERE id = :p4;
INSERT INTO apikey.key_usage (key_id, last_used_at) VALUES (:p1, now() - interval '61 days'), (:p5, now());
INSERT INTO apikey.key_credits (key_id, remaining) VALUES (:p2, 5), (:p5, 5);
-- a rotated key whose predecessor expired long ago: the successor stays
SELECT id AS p7 FROM apikey_create('lc', '502', 'rotated') \gset
SELECT id AS p8 FROM apikey_rotate(:p7, '1 hour') \gset
UPDATE apikey.keys SET expires_at = now() - interval '60 days' WHERE id = :p7;

-- Errors first: nothing deleted
SELECT expect_error($$SELECT apikey_prune(NULL)$$);
SELECT expect_error($$SELECT apikey_prune('-1 day')$$);
BEGIN READ ONLY;
SELECT expect_error($$SELECT apikey_prune('30 days')$$);
COMMIT;
SET ROLE apikey_verifier;
SELECT expect_error($$SELECT apikey_prune('30 days')$$);
RESET ROLE;
BEGIN;
SET LOCAL apikey.actor = '502';
SELECT expect_error($$SELECT apikey_prune('30 days')$$);
ROLLBACK;
SELECT count(*) AS keys_before FROM apikey.keys WHERE id IN (:p1, :p2, :p3, :p4, :p5, :p6, :p7, :p8);

-- With an actor: only the keys of the actor's tenant
SELECT max(id) AS events_before FROM apikey.events \gset
BEGIN;
SET LOCAL apikey.actor = '500';
SELECT apikey_prune('30 days') AS pruned_by_actor;
COMMIT;
SELECT (SELECT array_agg(n ORDER BY n) FROM (VALUES (1, :p1), (2, :p2), (3, :p3), (4, :p4), (5, :p5),
                                                   (6, :p6), (7, :p7), (8, :p8)) v(n, id)
         WHERE EXISTS (SELECT FROM apikey.keys k WHERE k.id = v.id)) AS keys_left;
SELECT key_id = ANY (ARRAY[:p1, :p2, :p7]::bigint[]) AS pruned_key, tenant_id, action, actor, reason
  FROM apikey.events WHERE id > :events_before ORDER BY id;
-- their usage and credits rows went with them; the others stay
SELECT array_agg(key_id = :p5) AS usage_left FROM apikey.key_usage WHERE key_id IN (:p1, :p5);
SELECT array_agg(key_id = :p5) AS credits_left FROM apikey.key_credits WHERE key_id IN (:p2, :p5);
-- the successor of a pruned key forgets it
SELECT rotated_from IS NULL AS predecessor_forgotten FROM apikey.keys WHERE id = :p8;
-- a pruned key's audit trail stays
SELECT string_agg(action, ',' ORDER BY id) AS events_of_p1 FROM apikey.events WHERE key_id = :p1;

-- Without an actor: every tenant; again: nothing left
SELECT max(id) AS events_before FROM apikey.events \gset
SELECT apikey_prune('30 days') AS pruned;
SELECT tenant_id, action, actor, reason FROM apikey.events WHERE id > :events_before ORDER BY id;
SELECT apikey_prune('30 days') AS pruned_again;
-- a shorter horizon takes the keys revoked or expired yesterday
SELECT apikey_prune('1 hour') AS pruned_1_hour;
SELECT EXISTS (SELECT FROM apikey.keys WHERE id = :p5) AS live_key_kept;

-- A revoked successor whose predecessor is still in its grace period stays:
-- the predecessor spends the successor's credits, and would spend none
-- (unlimited) once they were deleted with it
SELECT id AS g1, key AS g1_key FROM apikey_create('lc', '502', 'grace', remaining => 1) \gset
SELECT id AS g2 FROM apikey_rotate(:g1, '1 hour') \gset
UPDATE apikey.keys SET revoked_at = now() - interval '2 hours' WHERE id = :g2;
SELECT apikey_prune('1 hour') AS pruned_in_grace;
SELECT valid, status, remaining FROM apikey_consume(:'g1_key');
SELECT valid, status, remaining FROM apikey_consume(:'g1_key');
-- once the predecessor is past its grace too, both go
UPDATE apikey.keys SET expires_at = now() - interval '2 hours' WHERE id = :g1;
SELECT apikey_prune('1 hour') AS pruned_after_grace;

-- Clean up
DELETE FROM apikey.key_usage WHERE key_id IN (SELECT id FROM apikey.keys WHERE tenant_id IN ('lc', 'lc2'));
DELETE FROM apikey.keys WHERE tenant_id IN ('lc', 'lc2');
DELETE FROM users WHERE tenant_id IN ('lc', 'lc2');
