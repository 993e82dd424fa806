-- test/bench/setup.sql: the objects of the apikey benchmark (run by test/bench/run.sh)
--
--   psql -v nusers=100000 -f test/bench/setup.sql
--
-- bench_users         the application's users (bigint id, text tenant, text role),
--                     bound with apikey_bind_users(); user u belongs to tenant 't' || u % 100
-- bench_keys          every real key the benchmark created: i = 1..N (pgbench picks by i)
-- bench_sample        arrays of keys for the in-backend measurements
-- bench_ref_sql       reference verify in LANGUAGE sql with pgcrypto
-- bench_ref_plpgsql   the same in plpgsql
-- bench_ms()          runs one statement (with the key array as $1) and times it inside the server
-- bench_sample_locks  samples lock waits while pgbench runs

\set ON_ERROR_STOP 1

CREATE EXTENSION IF NOT EXISTS apikey CASCADE;

CREATE TABLE bench_users (
    id      bigint PRIMARY KEY,
    tenant  text NOT NULL,
    role    text NOT NULL
);
INSERT INTO bench_users (id, tenant, role)
SELECT g, 't' || (g % 100), (ARRAY['admin', 'member', 'viewer'])[1 + g % 3]
  FROM generate_series(1, :nusers) g;
VACUUM ANALYZE bench_users;

SELECT apikey_bind_users('bench_users', 'id', 'tenant', 'role');

CREATE TABLE bench_keys (
    i       int PRIMARY KEY,
    id      bigint NOT NULL,
    key     text NOT NULL
);

CREATE TABLE bench_sample (
    name    text PRIMARY KEY,
    keys    text[] NOT NULL
);

CREATE TABLE bench_lockwaits (
    run                 text PRIMARY KEY,
    samples             int NOT NULL,   -- pg_stat_activity/pg_locks samples taken
    samples_waiting     int NOT NULL,   -- samples that saw a Lock wait or a lock not granted
    lock_waiters        int NOT NULL,   -- sum over samples of backends with wait_event_type = 'Lock'
    not_granted         int NOT NULL,   -- sum over samples of pg_locks rows not granted
    lwlock_waiters      int NOT NULL    -- sum over samples of backends with wait_event_type = 'LWLock' (info)
);

CREATE TABLE bench_stats_snap (
    tag     text PRIMARY KEY,
    j       jsonb
);

-------------------------------------------------------------------------------
-- Reference implementations: the same checks on the same rows, same columns.
-- VOLATILE (like apikey_verify), so neither is inlined: one call per key.
-------------------------------------------------------------------------------
CREATE FUNCTION bench_ref_sql(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
              role text, scopes text[], permissions text[], environment text,
              expires_at timestamptz, metadata jsonb)
LANGUAGE sql VOLATILE
AS $fn$
SELECT s.st = 'valid',
       s.st,
       CASE WHEN s.st NOT IN ('missing', 'unknown') THEN s.id END,
       CASE WHEN s.st NOT IN ('missing', 'unknown') THEN s.tenant_id END,
       CASE WHEN s.st = 'valid' THEN s.user_id END,
       CASE WHEN s.st = 'valid' THEN s.role END,
       CASE WHEN s.st = 'valid' THEN s.scopes END,
       NULL::text[],
       CASE WHEN s.st = 'valid' THEN s.environment END,
       CASE WHEN s.st = 'valid' THEN s.expires_at END,
       CASE WHEN s.st = 'valid' THEN s.metadata END
  FROM (SELECT k.id, k.tenant_id, k.user_id, u.role, k.scopes, k.environment,
               k.expires_at, k.metadata,
               CASE WHEN $1 IS NULL OR $1 = '' THEN 'missing'
                    WHEN k.id IS NULL THEN 'unknown'
                    WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN NOT k.enabled THEN 'disabled'
                    WHEN k.expires_at <= statement_timestamp() THEN 'expired'
                    WHEN u.id IS NULL OR u.tenant IS DISTINCT FROM k.tenant_id THEN 'user_inactive'
                    ELSE 'valid'
               END AS st
          FROM (SELECT) AS one
          LEFT JOIN apikey.keys k ON k.key_hash = digest($1, 'sha256')
          LEFT JOIN bench_users u ON u.id = k.user_id::bigint) s
$fn$;

CREATE FUNCTION bench_ref_plpgsql(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
              role text, scopes text[], permissions text[], environment text,
              expires_at timestamptz, metadata jsonb)
LANGUAGE plpgsql VOLATILE
AS $fn$
#variable_conflict use_column
DECLARE
    k apikey.keys%ROWTYPE;
    u bench_users%ROWTYPE;
BEGIN
    valid := false;
    IF key IS NULL OR key = '' THEN
        status := 'missing';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO k FROM apikey.keys WHERE key_hash = digest(key, 'sha256');
    IF NOT FOUND THEN
        status := 'unknown';
        RETURN NEXT;
        RETURN;
    END IF;
    key_id := k.id;
    tenant_id := k.tenant_id;
    IF k.revoked_at IS NOT NULL THEN
        status := 'revoked';
    ELSIF NOT k.enabled THEN
        status := 'disabled';
    ELSIF k.expires_at <= statement_timestamp() THEN
        status := 'expired';
    ELSE
        SELECT * INTO u FROM bench_users WHERE id = k.user_id::bigint;
        IF NOT FOUND OR u.tenant IS DISTINCT FROM k.tenant_id THEN
            status := 'user_inactive';
        ELSE
            valid := true;
            status := 'valid';
            user_id := k.user_id;
            role := u.role;
            scopes := k.scopes;
            environment := k.environment;
            expires_at := k.expires_at;
            metadata := k.metadata;
        END IF;
    END IF;
    RETURN NEXT;
END
$fn$;

-------------------------------------------------------------------------------
-- Harness
-------------------------------------------------------------------------------

-- Runs stmt (which may use the key array as $1) and returns its server-side
-- wall time in ms and its single bigint result.
CREATE FUNCTION bench_ms(stmt text, keys text[] DEFAULT NULL, warm boolean DEFAULT false,
                         OUT ms float8, OUT n bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    t0 timestamptz;
BEGIN
    -- warm: run it once untimed in this backend first (buffers, plans, and
    -- apikey's cache of keys seen before)
    IF warm THEN
        EXECUTE stmt INTO n USING keys;
    END IF;
    t0 := clock_timestamp();
    EXECUTE stmt INTO n USING keys;
    ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
END
$fn$;

-- Every 100 ms for `seconds`: backends (any type: clients and workers) waiting
-- on a heavyweight lock, and
-- pg_locks rows not granted.  COMMIT after each sample refreshes the
-- pg_stat_activity snapshot.  CALL it outside a transaction block.
CREATE PROCEDURE bench_sample_locks(p_run text, seconds float8)
LANGUAGE plpgsql
AS $fn$
DECLARE
    t_end timestamptz := clock_timestamp() + make_interval(secs => seconds);
    n int := 0;
    n_wait int := 0;
    waiters int := 0;
    ng int := 0;
    lw int := 0;
    c int;
    g int;
    l int;
BEGIN
    WHILE clock_timestamp() < t_end LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),
               count(*) FILTER (WHERE wait_event_type = 'LWLock')
          INTO c, l
          FROM pg_stat_activity
         WHERE pid <> pg_backend_pid();
        SELECT count(*) INTO g FROM pg_locks WHERE NOT granted;
        n := n + 1;
        waiters := waiters + c;
        ng := ng + g;
        lw := lw + l;
        IF c > 0 OR g > 0 THEN
            n_wait := n_wait + 1;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
    INSERT INTO bench_lockwaits AS t VALUES (p_run, n, n_wait, waiters, ng, lw)
        ON CONFLICT (run) DO UPDATE SET samples = EXCLUDED.samples,
            samples_waiting = EXCLUDED.samples_waiting, lock_waiters = EXCLUDED.lock_waiters,
            not_granted = EXCLUDED.not_granted, lwlock_waiters = EXCLUDED.lwlock_waiters;
    COMMIT;
END
$fn$;
