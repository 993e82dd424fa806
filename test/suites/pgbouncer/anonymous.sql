-- statements on their own (implicit transactions): an authentication in one
-- statement must leave nothing for the next, whichever server runs it
\set n random(1, :tenants)
SELECT status FROM keys_by_tenant k, LATERAL apikey_authenticate(k.key) WHERE k.n = :n;
INSERT INTO seen (n, what, detail)
SELECT :n, 'context after an autocommit authenticate',
       concat_ws('/', current_setting('apikey.tenant_id', true), current_setting('apikey.user_id', true))
 WHERE coalesce(current_setting('apikey.tenant_id', true), '') <> ''
    OR coalesce(current_setting('apikey.key_id', true), '') <> '';
INSERT INTO seen (n, what, detail)
SELECT :n, 'rows visible after an autocommit authenticate', count(*)::text FROM orders HAVING count(*) > 0;
