#!/usr/bin/env bash
# make demo: install what is missing, build, install, then walk through apikey
# on a throwaway cluster (removed again at the end, whatever happens).
set -euo pipefail

cd "$(dirname "$0")/.."
. test/lib.sh

apikey_deps
apikey_pg_config
apikey_build_install
# preloaded, as in production: rate limits are counted in shared memory
cluster_start apikey

echo
say "walkthrough (psql echoes each statement before its result)"
echo

"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -e -P pager=off -d postgres <<'SQL'
\echo '--- 1. install the extension (pulls in pgcrypto) ---'
CREATE EXTENSION apikey CASCADE;

\echo
\echo '--- 2. the application''s own users table: two tenants ---'
CREATE TABLE users (
    id        bigint PRIMARY KEY,
    tenant_id text NOT NULL,
    role      text NOT NULL,
    active    boolean NOT NULL DEFAULT true
);
INSERT INTO users (id, tenant_id, role, active) VALUES
    (1, 'acme',   'admin',  true),
    (2, 'acme',   'cashier', true),
    (3, 'acme',   'auditor', false),
    (4, 'globex', 'admin',  true);
SELECT * FROM users ORDER BY id;

\echo
\echo '--- 3. tell apikey where users, tenants and roles live ---'
SELECT apikey_bind_users('users', active_column => 'active');

\echo
\echo '--- 4. issue a key for user 1 of tenant acme (the full key is shown only now) ---'
\echo '(\\gset keeps the result in psql variables :demo_id, :demo_key, ...)'
SELECT * FROM apikey_create('acme', '1', 'POS terminal - main store') \gset demo_
\echo 'id:     ' :demo_id
\echo 'key:    ' :demo_key
\echo 'prefix: ' :demo_prefix

\echo
\echo '--- 5. verify it: the role comes from the users table ---'
SELECT valid, status, key_id, tenant_id, user_id, role, environment
  FROM apikey_verify(:'demo_key');

\echo
\echo '--- 6. change the user''s role in the application: the key follows ---'
UPDATE users SET role = 'viewer' WHERE id = 1;
SELECT valid, status, tenant_id, user_id, role
  FROM apikey_verify(:'demo_key');

\echo
\echo '--- 7. list the tenant''s keys (never the secret, only a preview) ---'
SELECT id, user_id, name, prefix, preview, environment, status
  FROM apikey_list('acme') ORDER BY id;

\echo
\echo '--- 8. revoke the key, then verify again ---'
SELECT apikey_revoke(:demo_id, 'demo: leaked');  -- by id (bigint); apikey_revoke_key(key) revokes a key given in full
SELECT valid, status, key_id, tenant_id, user_id, role
  FROM apikey_verify(:'demo_key');

\echo
\echo '--- 9. garbage in: a malformed key and a NULL ---'
SELECT 'not-a-key' AS input, valid, status FROM apikey_verify('not-a-key')
UNION ALL
SELECT 'NULL', valid, status FROM apikey_verify(NULL);

\echo
\echo '--- 10. the key namespace is a setting (apikey.namespace, default ak) ---'
SET apikey.namespace = 'ck';
SELECT prefix, length(key) AS key_length
  FROM apikey_create('globex', '4', 'CI runner', environment => 'test');
RESET apikey.namespace;

\echo
\echo '--- 11. a rate limit (1.2): 2 requests a minute; the third answers rate_limited ---'
SELECT id AS rl_id, key AS rl_key
  FROM apikey_create('acme', '2', 'partner sync', rate_limit => 2, rate_window => '1 minute') \gset
SELECT valid, status, retry_after FROM apikey_verify(:'rl_key');
SELECT valid, status, retry_after FROM apikey_verify(:'rl_key');
SELECT valid, status, retry_after FROM apikey_verify(:'rl_key');

\echo
\echo '--- 12. usage credits (1.2): spent in the caller''s transaction; a rollback refunds ---'
SELECT id AS cr_id, key AS cr_key
  FROM apikey_create('acme', '2', 'metered export', remaining => 2) \gset
BEGIN;
SELECT valid, status, remaining FROM apikey_consume(:'cr_key');
ROLLBACK;
SELECT valid, status, remaining FROM apikey_consume(:'cr_key');
SELECT valid, status, remaining FROM apikey_consume(:'cr_key');
SELECT valid, status, remaining FROM apikey_consume(:'cr_key');

\echo
\echo '--- 13. update a key (1.2): only the fields given change, audited ---'
SELECT apikey_update(:cr_id, name => 'metered export (renewed)', remaining => 100);
SELECT key_id, action, reason FROM apikey.events WHERE key_id = :cr_id ORDER BY id;
SQL

echo
cluster_stop
say "demo done; the throwaway cluster is gone. See README.md for the full API."
