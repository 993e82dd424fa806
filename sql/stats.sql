-- apikey_stats(): verifications by status and last-used records.  Without
-- shared_preload_libraries the counters are this backend's own (shared = f).
-- With shared_preload_libraries = 'apikey' the counters are shared by every
-- backend (test/t/010_lastused_worker.pl checks them), and this file stops here
-- (expected/stats_1.out).
SELECT shared AS preloaded FROM apikey_stats() \gset
\if :preloaded
\quit
\endif

SELECT apikey_stats_reset();
SELECT valid, missing, malformed, unknown, revoked, disabled, expired, user_inactive,
       last_used_written, last_used_dropped, last_used_pending, shared
  FROM apikey_stats();

SELECT key AS st_key, id AS st_id FROM apikey_create('lu', '1', 'stats') \gset
SELECT status FROM apikey_verify(:'st_key');
SELECT status FROM apikey_verify(:'st_key');
SELECT status FROM apikey_verify(NULL);
SELECT status FROM apikey_verify('');
SELECT status FROM apikey_verify('ak_live_short');
SELECT apikey_disable(:st_id) AS disabled;
SELECT status FROM apikey_verify(:'st_key');
SELECT apikey_revoke(:st_id) AS revoked;
SELECT status FROM apikey_verify(:'st_key');

-- two valid (one last-used write: the second was within the interval),
-- two missing, one malformed, one disabled, one revoked
SELECT valid, missing, malformed, unknown, revoked, disabled, expired, user_inactive,
       last_used_written, last_used_dropped, last_used_pending, shared,
       stats_reset <= now() AS reset_in_past
  FROM apikey_stats();

-- apikey_list() does not count as verification
SELECT count(*) > 0 AS listed FROM apikey_list('lu');
SELECT valid + missing + malformed + unknown + revoked + disabled + expired + user_inactive AS total
  FROM apikey_stats();

SELECT apikey_stats_reset();
SELECT valid, missing, malformed, last_used_written FROM apikey_stats();
