-- a fresh transaction, no authentication: no context, no rows
BEGIN;
INSERT INTO seen (what, detail)
SELECT 'leftover context',
       concat_ws('/', current_setting('apikey.key_id', true), current_setting('apikey.tenant_id', true),
                 current_setting('apikey.user_id', true), current_setting('apikey.role', true))
 WHERE coalesce(current_setting('apikey.key_id', true), '') <> ''
    OR coalesce(current_setting('apikey.tenant_id', true), '') <> ''
    OR coalesce(current_setting('apikey.user_id', true), '') <> ''
    OR coalesce(current_setting('apikey.role', true), '') <> '';
INSERT INTO seen (what, detail)
SELECT 'leftover rows visible', count(*)::text FROM orders HAVING count(*) > 0;
END;
