-- The application both examples serve (examples/node, examples/python): two
-- tenants, their users, an orders table under row-level security, and the two
-- database roles the application connects as.  Run once by a superuser:
--
--   psql -v ON_ERROR_STOP=1 -f examples/schema.sql
--
-- test/suites/examples.sh runs it on a throwaway cluster.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS apikey CASCADE;

-- The application's users.  apikey reads them at every verification: a key
-- follows its user's current tenant, role and active flag.  No permission
-- table is bound, so the roles in apikey.manager_roles (default owner,admin)
-- may manage their tenant's keys.
CREATE TABLE users (
    id        bigint PRIMARY KEY,
    tenant_id text NOT NULL,
    role      text NOT NULL,
    active    boolean NOT NULL DEFAULT true,
    email     text NOT NULL
);
INSERT INTO users VALUES
    (1, 'acme',   'owner',  true, 'ann@acme.test'),
    (2, 'acme',   'member', true, 'bob@acme.test'),
    (3, 'globex', 'owner',  true, 'dan@globex.test'),
    (4, 'globex', 'member', true, 'eve@globex.test');
SELECT apikey_bind_users('users', active_column => 'active');

-- The tenants' data.  The ids start above 2^53 on purpose: a JavaScript
-- number cannot hold them, which is why node-postgres returns bigint as a string.
CREATE TABLE orders (
    id        bigint GENERATED ALWAYS AS IDENTITY (START WITH 9007199254740993) PRIMARY KEY,
    tenant_id text NOT NULL,
    item      text NOT NULL,
    total     numeric(12, 2) NOT NULL
);
INSERT INTO orders (tenant_id, item, total) VALUES
    ('acme', 'espresso machine', 899.00),
    ('acme', 'grinder', 249.50),
    ('acme', 'descaler', 12.99),
    ('globex', 'forklift', 23000.00),
    ('globex', 'pallet', 15.00);
-- Rows are visible only to the tenant that apikey_authenticate put in the
-- transaction; outside such a transaction the setting is empty: no rows.
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_tenant ON orders
    USING (tenant_id = current_setting('apikey.tenant_id', true));

-- The API servers' role: verifies keys and reads the tenants' rows.
CREATE ROLE app_api LOGIN IN ROLE apikey_verifier;
GRANT SELECT ON orders TO app_api;
-- The admin routes' role: manages keys, always acting for an application user
-- (apikey.actor), so each call is checked against that user's tenant and role.
CREATE ROLE app_admin LOGIN IN ROLE apikey_admin;
