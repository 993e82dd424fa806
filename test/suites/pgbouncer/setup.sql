-- pgbouncer suite: tenants, users, one key per tenant, an RLS-protected table,
-- the application's login role.  Run by the superuser, directly on the cluster.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION apikey CASCADE;

-- :tenants tenants t01..tNN, one user each (id = tenant number)
CREATE TABLE users (id integer PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
INSERT INTO users SELECT n, 't' || lpad(n::text, 2, '0'), 'member' FROM generate_series(1, :tenants) n;
SELECT apikey_bind_users('users');

-- the keys, one per tenant: readable by the test's application role only
CREATE TABLE keys_by_tenant (n integer PRIMARY KEY, tenant_id text NOT NULL, key text NOT NULL);
REVOKE ALL ON keys_by_tenant FROM PUBLIC;
INSERT INTO keys_by_tenant
SELECT u.id, u.tenant_id, c.key
  FROM users u, LATERAL apikey_create(u.tenant_id, u.id::text, 'pgbouncer suite') c;

-- the application's table: :rows rows per tenant, visible through the context only
CREATE TABLE orders (tenant_id text NOT NULL, item text NOT NULL);
INSERT INTO orders SELECT 't' || lpad(n::text, 2, '0'), 'item ' || i
  FROM generate_series(1, :tenants) n, generate_series(1, :rows) i;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_tenant ON orders USING (tenant_id = current_setting('apikey.tenant_id', true));

-- what the clients saw that they should not have (one row per anomaly),
-- and which tenants were served (one row per committed authenticated transaction)
CREATE TABLE seen (n integer, what text NOT NULL, detail text, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE served (n integer NOT NULL);

-- the application's database role: logs in, verifies keys, reads orders
CREATE ROLE :"app" LOGIN IN ROLE apikey_verifier;
GRANT SELECT ON orders, keys_by_tenant TO :"app";
GRANT INSERT ON seen, served TO :"app";
