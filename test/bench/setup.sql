-- test/bench/setup.sql: the objects of the apikey benchmark (run by test/bench/run.sh)
--
--   psql -v nusers=100000 -f test/bench/setup.sql
--
-- bench_users             the application's users (bigint id, text tenant, text role),
--                         bound with apikey_bind_users(); user u belongs to tenant 't' || u % 100
-- bench_keys              every real key the benchmark created: i = 1..N (pgbench picks by i)
-- bench_sample            arrays of keys for the in-backend measurements
-- bench_ref_sql           the reference a user would write: LANGUAGE sql, STABLE (so the planner
--                         inlines it into the calling query), pgcrypto digest + lookup on the
--                         unique hash index + join to the users + a status CASE
-- bench_ref_sql_volatile  the same body declared VOLATILE: not inlined, run by the SQL-function executor
-- bench_ref_plpgsql       the same checks in PL/pgSQL (STABLE)
-- bench_ms()              runs one statement (with a key array as $1) and times it inside the server
-- bench_explain()         EXPLAIN (VERBOSE) of such a statement, with the same key array bound
-- bench_sample_waits      samples wait events while pgbench runs

\set ON_ERROR_STOP 1

CREATE EXTENSION IF NOT EXISTS apikey CASCADE;
CREATE EXTENSION IF NOT EXISTS pgcrypto;

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

CREATE TABLE bench_waits (
    run             text PRIMARY KEY,
    samples         int NOT NULL,   -- pg_stat_activity samples taken
    samples_apikey  int NOT NULL,   -- samples where some backend waited on an apikey LWLock
    apikey_waiters  int NOT NULL,   -- sum over samples of backends waiting on an apikey LWLock
    lwlock_waiters  int NOT NULL,   -- sum over samples of backends waiting on any LWLock
    lock_waiters    int NOT NULL,   -- sum over samples of backends waiting on a heavyweight lock
    active          int NOT NULL    -- sum over samples of active client backends (the denominator)
);

CREATE TABLE bench_stats_snap (
    tag     text PRIMARY KEY,
    j       jsonb
);

-------------------------------------------------------------------------------
-- Reference implementations: the same checks on the same rows, same columns
-- as apikey_verify (permissions is NULL: the benchmark binds no permissions).
-------------------------------------------------------------------------------
DO $do$
DECLARE
    sig constant text := $s$(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
              role text, scopes text[], permissions text[], environment text,
              expires_at timestamptz, metadata jsonb)$s$;
    body constant text := $b$
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
$b$;
BEGIN
    -- STABLE, not STRICT, not SECURITY DEFINER, no SET: inline_set_returning_function() inlines it
    EXECUTE format('CREATE FUNCTION bench_ref_sql%s LANGUAGE sql STABLE AS %L', sig, body);
    -- VOLATILE: never inlined, each call runs the body through the SQL-function executor
    EXECUTE format('CREATE FUNCTION bench_ref_sql_volatile%s LANGUAGE sql VOLATILE AS %L', sig, body);
END
$do$;

CREATE FUNCTION bench_ref_plpgsql(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
              role text, scopes text[], permissions text[], environment text,
              expires_at timestamptz, metadata jsonb)
LANGUAGE plpgsql STABLE
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

-- Runs stmt (which may use a key array as $1) and returns its server-side
-- wall time in ms and its single bigint result.  With warmkeys, runs stmt
-- once untimed over warmkeys first, in this backend: the same keys warm
-- apikey's backend cache (a cache hit), other keys warm only the catalog
-- caches and plans (the measured keys stay unseen by this backend).
CREATE FUNCTION bench_ms(stmt text, keys text[] DEFAULT NULL, warmkeys text[] DEFAULT NULL,
                         OUT ms float8, OUT n bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    t0 timestamptz;
BEGIN
    IF warmkeys IS NOT NULL THEN
        EXECUTE stmt INTO n USING warmkeys;
    END IF;
    t0 := clock_timestamp();
    EXECUTE stmt INTO n USING keys;
    ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
END
$fn$;

-- One statement per key: bench_loop_<f>(keys) runs `SELECT count(*) FROM
-- f(k) v WHERE v.valid` once per key from a PL/pgSQL loop, through the plan
-- PL/pgSQL caches for it (as a prepared statement per request would, without
-- the client round trip); bench_loop_base runs a statement that calls nothing.
DO $do$
DECLARE
    f text[];
BEGIN
    FOREACH f SLICE 1 IN ARRAY ARRAY[['base', 'SELECT count(*) INTO c FROM (SELECT k AS x) v WHERE v.x IS NOT NULL'],
                                     ['verify', 'SELECT count(*) INTO c FROM apikey_verify(k) v WHERE v.valid'],
                                     ['sql', 'SELECT count(*) INTO c FROM bench_ref_sql(k) v WHERE v.valid'],
                                     ['plpgsql', 'SELECT count(*) INTO c FROM bench_ref_plpgsql(k) v WHERE v.valid']] LOOP
        EXECUTE format($f$
            CREATE FUNCTION bench_loop_%s(keys text[]) RETURNS bigint
            LANGUAGE plpgsql
            AS $b$
            DECLARE
                k text;
                c bigint;
                n bigint := 0;
            BEGIN
                FOREACH k IN ARRAY keys LOOP
                    %s;
                    n := n + c;
                END LOOP;
                RETURN n;
            END
            $b$ $f$, f[1], f[2]);
    END LOOP;
END
$do$;

-- The plan bench_ms() would run for stmt with keys bound as $1.
CREATE FUNCTION bench_explain(stmt text, keys text[]) RETURNS SETOF text
LANGUAGE plpgsql
AS $fn$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || stmt USING keys;
END
$fn$;

-- Every interval_ms for `seconds`: the wait events of the other backends.
-- apikey's LWLocks are one named tranche, "apikey" (src/shmem.c:
-- RequestNamedLWLockTranche), so they show as wait_event_type = 'LWLock',
-- wait_event = 'apikey'.  COMMIT after each sample refreshes the
-- pg_stat_activity snapshot.  CALL it outside a transaction block.
CREATE PROCEDURE bench_sample_waits(p_run text, seconds float8, interval_ms int)
LANGUAGE plpgsql
AS $fn$
DECLARE
    t_end timestamptz := clock_timestamp() + make_interval(secs => seconds);
    n int := 0;
    n_apikey int := 0;
    s_apikey int := 0;
    s_lw int := 0;
    s_lock int := 0;
    s_active int := 0;
    a int;
    lw int;
    l int;
    act int;
BEGIN
    WHILE clock_timestamp() < t_end LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) FILTER (WHERE wait_event_type = 'LWLock' AND wait_event LIKE 'apikey%'),
               count(*) FILTER (WHERE wait_event_type = 'LWLock'),
               count(*) FILTER (WHERE wait_event_type = 'Lock'),
               count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active')
          INTO a, lw, l, act
          FROM pg_stat_activity
         WHERE pid <> pg_backend_pid();
        n := n + 1;
        s_apikey := s_apikey + a;
        s_lw := s_lw + lw;
        s_lock := s_lock + l;
        s_active := s_active + act;
        IF a > 0 THEN
            n_apikey := n_apikey + 1;
        END IF;
        COMMIT;
        PERFORM pg_sleep(interval_ms / 1000.0);
    END LOOP;
    INSERT INTO bench_waits AS t VALUES (p_run, n, n_apikey, s_apikey, s_lw, s_lock, s_active)
        ON CONFLICT (run) DO UPDATE SET samples = EXCLUDED.samples,
            samples_apikey = EXCLUDED.samples_apikey, apikey_waiters = EXCLUDED.apikey_waiters,
            lwlock_waiters = EXCLUDED.lwlock_waiters, lock_waiters = EXCLUDED.lock_waiters,
            active = EXCLUDED.active;
    COMMIT;
END
$fn$;
