-- one request that authenticates and then rolls back: nothing can be logged
-- in a rolled-back transaction, so an anomaly fails the statement instead
-- (the client aborts and pgbench reports it)
\set n random(1, :tenants)
BEGIN;
SELECT CAST('context before authenticate: ' || current_setting('apikey.tenant_id', true) AS integer)
 WHERE coalesce(current_setting('apikey.tenant_id', true), '') <> '';
SELECT status FROM keys_by_tenant k, LATERAL apikey_authenticate(k.key) WHERE k.n = :n;
SELECT CAST('cross-tenant or missing rows: ' || coalesce(string_agg(DISTINCT o.tenant_id, ','), 'none') AS integer)
  FROM orders o
HAVING count(*) <> :rows
    OR bool_or(o.tenant_id <> (SELECT tenant_id FROM keys_by_tenant WHERE n = :n));
ROLLBACK;
