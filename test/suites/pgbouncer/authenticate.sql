-- one request: a random tenant's key authenticated, that tenant's rows read,
-- anything else recorded in seen; committed
\set n random(1, :tenants)
BEGIN;
-- a fresh transaction starts without any context and sees nothing
INSERT INTO seen (n, what, detail)
SELECT :n, 'context before authenticate',
       concat_ws('/', current_setting('apikey.key_id', true), current_setting('apikey.tenant_id', true),
                 current_setting('apikey.user_id', true), current_setting('apikey.role', true))
 WHERE coalesce(current_setting('apikey.key_id', true), '') <> ''
    OR coalesce(current_setting('apikey.tenant_id', true), '') <> ''
    OR coalesce(current_setting('apikey.user_id', true), '') <> ''
    OR coalesce(current_setting('apikey.role', true), '') <> '';
INSERT INTO seen (n, what, detail)
SELECT :n, 'rows visible before authenticate', count(*)::text FROM orders HAVING count(*) > 0;
SELECT status FROM keys_by_tenant k, LATERAL apikey_authenticate(k.key) WHERE k.n = :n;
-- the context is this tenant's
INSERT INTO seen (n, what, detail)
SELECT :n, 'wrong context', concat_ws('/', current_setting('apikey.tenant_id', true), current_setting('apikey.user_id', true))
  FROM keys_by_tenant k
 WHERE k.n = :n
   AND (current_setting('apikey.tenant_id', true) IS DISTINCT FROM k.tenant_id
        OR current_setting('apikey.user_id', true) IS DISTINCT FROM k.n::text);
-- no row of another tenant, all rows of this one
INSERT INTO seen (n, what, detail)
SELECT :n, 'cross-tenant rows', string_agg(DISTINCT o.tenant_id, ',')
  FROM orders o WHERE o.tenant_id <> (SELECT tenant_id FROM keys_by_tenant WHERE n = :n)
HAVING count(*) > 0;
INSERT INTO seen (n, what, detail)
SELECT :n, 'wrong number of own rows', count(*)::text FROM orders HAVING count(*) <> :rows;
INSERT INTO served (n) VALUES (:n);
END;
