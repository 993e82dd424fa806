--
-- import: keys minted elsewhere.  Formats registered from the seed pages
-- (Cockato ck_live_/ck_test_, CashCat cc_live_, Soku sk_live_: SHA-256 of
-- the whole key; Cotizera ctza_ + 40 hex: bcrypt), one key of each imported
-- by its hash (computed here with pgcrypto), verified, and the bcrypt import
-- re-stored as SHA-256 by its first valid verification.
--

-- Who may call what: formats are superuser only (not granted), imports are
-- for apikey_admin
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns, p.prosecdef,
       has_function_privilege('apikey_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('apikey_verifier', p.oid, 'EXECUTE') AS verifier,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
 WHERE p.proname IN ('apikey_import', 'apikey_register_format', 'apikey_unregister_format')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SET ROLE apikey_admin;
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 10)$$);
SELECT expect_error($$SELECT apikey_unregister_format('zz_')$$);
RESET ROLE;

-- Before any format is registered, the seed keys are malformed (not apikey's format)
SELECT status FROM apikey_verify('ctza_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0');
SELECT status FROM apikey_verify('sk_live_0123456789abcdefghijABCDEFGHIJkl');

-- The seed formats
-- Cockato: ck_live_ / ck_test_ + a lowercase alphanumeric secret (ck_live_a3b7c1d9e2f4g5h6i7j8k9)
SELECT apikey_register_format('ck_live_', 'alnum_lower', 16, 64);
SELECT apikey_register_format('ck_test_', 'alnum_lower', 16, 64, environment => 'test');
-- CashCat: cc_live_ + a mixed-case random string (prefix shown as cc_live_AbCdEfG)
SELECT apikey_register_format('cc_live_', 'base62', 16, 64);
-- Soku: sk_live_ + 32 characters
SELECT apikey_register_format('sk_live_', 'base62', 32);
-- Cotizera: ctza_ + 40 hex, stored as bcrypt with the lookup prefix ctza_a1b2 (9 characters)
SELECT apikey_register_format('ctza_', 'hex', 40, 40, lookup_length => 9);
-- Commerce Kitty documents no prefix and no shape ("a long random string"):
-- a format needs a prefix, so its keys cannot be registered
SELECT expect_error($$SELECT apikey_register_format('', 'base62', 32)$$);
SELECT * FROM apikey.key_formats ORDER BY prefix COLLATE "C";

-- Registering again replaces the format
SELECT apikey_register_format('cc_live_', 'base62', 20, 64);
SELECT apikey_register_format('cc_live_', 'base62', 16, 64);
SELECT prefix, min_length FROM apikey.key_formats WHERE prefix = 'cc_live_';

-- Bad formats: 22023, nothing registered
SELECT expect_error($$SELECT apikey_register_format(NULL, 'hex', 10)$$);
SELECT expect_error($$SELECT apikey_register_format(repeat('p', 33), 'hex', 10)$$);
SELECT expect_error($$SELECT apikey_register_format('my key_', 'hex', 10)$$);
SELECT expect_error($$SELECT apikey_register_format(E'k\u00e9_', 'hex', 10)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'octal', 10)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', NULL, 10)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', NULL)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 0)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 20, 10)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 10, 257)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 10, environment => 'prod')$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 10, lookup_length => 3)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 10, lookup_length => 14)$$);
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 40, lookup_length => 33)$$);
BEGIN READ ONLY;
SELECT expect_error($$SELECT apikey_register_format('zz_', 'hex', 10)$$);
ROLLBACK;
SELECT count(*) AS formats FROM apikey.key_formats;

-- One key of each seed format, imported by its hash
\set ck_live 'ck_live_a3b7c1d9e2f4g5h6i7j8k9'
\set ck_test 'ck_test_9k8j7i6h5g4f3e2d1c0b9a8z'
\set cc_live 'cc_live_AbCdEfGhIjKlMnOpQrStUvWxYz012345'
\set sk_live 'sk_live_0123456789abcdefghijABCDEFGHIJkl'
\set ctza 'ctza_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0'
SELECT crypt(:'ctza', gen_salt('bf', 4)) AS ctza_bcrypt \gset
SELECT apikey_import('acme', '1', 'Cockato POS', key_hash => digest(:'ck_live', 'sha256'),
                     prefix => left(:'ck_live', 12)) AS ck_live_id \gset
SELECT apikey_import('acme', '1', 'Cockato sandbox', key_hash => digest(:'ck_test', 'sha256'),
                     prefix => left(:'ck_test', 12), environment => 'test') AS ck_test_id \gset
SELECT apikey_import('acme', '2', 'CashCat production', key_hash => digest(:'cc_live', 'sha256'),
                     prefix => left(:'cc_live', 15), scopes => '{orders:read}',
                     metadata => '{"from": "cashcat"}') AS cc_live_id \gset
SELECT apikey_import('acme', '2', 'Soku Zapier', key_hash => digest(:'sk_live', 'sha256'),
                     prefix => left(:'sk_live', 11), created_at => '2025-01-02 03:04:05+00',
                     expires_at => now() + interval '1 year') AS sk_live_id \gset
SELECT apikey_import('acme', '1', 'Cotizera Zapier', bcrypt_hash => :'ctza_bcrypt',
                     prefix => left(:'ctza', 9)) AS ctza_id \gset

-- How they are stored: no suffix (the last characters are unknown), one
-- 'import' event each
SELECT name, prefix, suffix, environment, hash_scheme, key_hash IS NULL AS no_key_hash,
       bcrypt_hash IS NOT NULL AS has_bcrypt, created_at = '2025-01-02 03:04:05+00' AS created_then,
       scopes, metadata
  FROM apikey.keys WHERE id IN (:ck_live_id, :ck_test_id, :cc_live_id, :sk_live_id, :ctza_id) ORDER BY id;
SELECT e.action, e.reason, k.name
  FROM apikey.events e JOIN apikey.keys k ON k.id = e.key_id
 WHERE e.key_id IN (:ck_live_id, :ck_test_id, :cc_live_id, :sk_live_id, :ctza_id) ORDER BY e.id;
SELECT id = :ck_live_id AS ck, prefix, preview, environment, status
  FROM apikey_list('acme') WHERE id IN (:ck_live_id, :ck_test_id, :cc_live_id, :sk_live_id, :ctza_id) ORDER BY id;

-- Each verifies, as its user, with its scopes and metadata
SELECT t.label, v.valid, v.status, v.key_id = t.id AS right_key, v.user_id, v.role, v.environment, v.scopes, v.metadata
  FROM (VALUES ('1 ck_live', :'ck_live', :ck_live_id), ('2 ck_test', :'ck_test', :ck_test_id),
               ('3 cc_live', :'cc_live', :cc_live_id), ('4 sk_live', :'sk_live', :sk_live_id))
       AS t(label, key, id),
       LATERAL apikey_verify(t.key) v
 ORDER BY t.label;
SELECT valid, status, key_id = :sk_live_id AS right_key FROM apikey_verify_header('Bearer ' || :'sk_live');
SELECT valid, status, key_id = :cc_live_id AS right_key FROM apikey_authorize(:'cc_live', 'orders:read');

-- A bcrypt import before its first use
SELECT hash_scheme, key_hash IS NULL AS no_key_hash, bcrypt_hash = :'ctza_bcrypt' AS bcrypt_kept
  FROM apikey.keys WHERE id = :ctza_id;
-- a wrong key of the same lookup prefix is unknown, and changes nothing
SELECT valid, status FROM apikey_verify('ctza_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b1');
-- in a read-only transaction it verifies but is not re-stored
BEGIN READ ONLY;
SELECT valid, status, key_id = :ctza_id AS right_key FROM apikey_verify(:'ctza');
COMMIT;
SELECT hash_scheme, key_hash IS NULL AS no_key_hash FROM apikey.keys WHERE id = :ctza_id;
-- the first valid verification re-stores it as the SHA-256 of the key
SELECT valid, status, key_id = :ctza_id AS right_key, user_id FROM apikey_verify(:'ctza');
SELECT hash_scheme, key_hash = digest(:'ctza', 'sha256') AS sha256_of_key, bcrypt_hash IS NULL AS bcrypt_gone,
       prefix
  FROM apikey.keys WHERE id = :ctza_id;
SELECT action, reason, actor FROM apikey.events WHERE key_id = :ctza_id ORDER BY id;
-- and it still verifies (now found by its hash, like any key), with no second rehash
SELECT valid, status, key_id = :ctza_id AS right_key FROM apikey_verify(:'ctza');
SELECT valid, status, key_id = :ctza_id AS right_key FROM apikey_verify(:'ctza');
SELECT count(*) AS rehash_events FROM apikey.events WHERE key_id = :ctza_id AND action = 'rehash';

-- A bcrypt hash written as $2b$ or $2y$ (bcrypt libraries other than pgcrypto's) verifies too
\set ctza2 'ctza_ffff0000000000000000000000000000000000aa'
\set ctza3 'ctza_eeee0000000000000000000000000000000000bb'
SELECT apikey_import('acme', '1', 'Cotizera 2b', bcrypt_hash => '$2b$' || substr(crypt(:'ctza2', gen_salt('bf', 4)), 5),
                     prefix => left(:'ctza2', 9)) AS ctza2_id \gset
SELECT apikey_import('acme', '1', 'Cotizera 2y', bcrypt_hash => '$2y$' || substr(crypt(:'ctza3', gen_salt('bf', 4)), 5),
                     prefix => left(:'ctza3', 9)) AS ctza3_id \gset
SELECT valid, status, key_id = :ctza2_id AS right_key FROM apikey_verify(:'ctza2');
SELECT valid, status, key_id = :ctza3_id AS right_key FROM apikey_verify(:'ctza3');
SELECT count(*) AS restored FROM apikey.keys WHERE id IN (:ctza2_id, :ctza3_id) AND hash_scheme = 'sha256';

-- A revoked bcrypt import answers revoked and is not re-stored
\set ctza4 'ctza_dddd0000000000000000000000000000000000cc'
SELECT apikey_import('acme', '1', 'Cotizera revoked', bcrypt_hash => crypt(:'ctza4', gen_salt('bf', 4)),
                     prefix => left(:'ctza4', 9)) AS ctza4_id \gset
SELECT apikey_revoke(:ctza4_id, 'leaked');
SELECT valid, status FROM apikey_verify(:'ctza4');
SELECT hash_scheme FROM apikey.keys WHERE id = :ctza4_id;

-- apikey_revoke_key takes a key of a registered format too (SHA-256 and bcrypt imports)
\set ck_live2 'ck_live_leakedleakedleaked0001'
\set ctza5 'ctza_cccc0000000000000000000000000000000000dd'
SELECT apikey_import('acme', '1', 'Cockato leaked', key_hash => digest(:'ck_live2', 'sha256'),
                     prefix => left(:'ck_live2', 12)) AS ck_live2_id \gset
SELECT apikey_import('acme', '1', 'Cotizera leaked', bcrypt_hash => crypt(:'ctza5', gen_salt('bf', 4)),
                     prefix => left(:'ctza5', 9)) AS ctza5_id \gset
SELECT apikey_revoke_key(:'ck_live2', 'found in a log') AS revoked_sha256,
       apikey_revoke_key(:'ctza5', 'found in a log') AS revoked_bcrypt;
SELECT id = :ck_live2_id AS ck, revoke_reason, hash_scheme FROM apikey.keys WHERE id IN (:ck_live2_id, :ctza5_id) ORDER BY id;
SELECT status FROM apikey_verify(:'ctza5');
SELECT expect_error($$SELECT apikey_revoke_key('ctza_cccc0000000000000000000000000000000000de')$$);
SELECT expect_error($$SELECT apikey_revoke_key('ctza_cccc')$$);

-- Malformed foreign keys: refused by their shape (nothing read)
SELECT t.label, v.status
  FROM (VALUES ('1 ctza_ + 39 hex', 'ctza_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b'),
               ('2 ctza_ + 41 hex', 'ctza_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b00'),
               ('3 ctza_ + non-hex', 'ctza_g1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0'),
               ('4 ck_live_ uppercase', 'ck_live_A3B7C1D9E2F4G5H6I7J8K9'),
               ('5 ck_live_ too short', 'ck_live_a3b7c1d9'),
               ('6 sk_live_ 31 chars', left(:'sk_live', -1)),
               ('7 sk_live_ 33 chars', :'sk_live' || 'x'),
               ('8 unregistered prefix', 'xx_live_0123456789abcdefghijABCDEFGHIJkl'),
               ('9 Commerce Kitty', 'Zk3Jd92mQvT5xLr8NpW4sYb7HcG1fE6a'),
               ('10 prefix only', 'ctza_'),
               ('11 trailing space', :'ctza' || ' '))
       AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY split_part(t.label, ' ', 1)::int;
-- Wrong keys of a registered shape: unknown
SELECT t.label, v.status
  FROM (VALUES ('1 ck_live_', 'ck_live_a3b7c1d9e2f4g5h6i7j8k8'),
               ('2 ck_test_', 'ck_test_9k8j7i6h5g4f3e2d1c0b9a8y'),
               ('3 cc_live_', 'cc_live_AbCdEfGhIjKlMnOpQrStUvWxYz012346'),
               ('4 sk_live_', 'sk_live_0123456789abcdefghijABCDEFGHIJkm'),
               ('5 ctza_ other lookup prefix', 'ctza_0000c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0'))
       AS t(label, key),
       LATERAL apikey_verify(t.key) v
 ORDER BY t.label;
-- apikey's own keys are untouched by the registered ck_live_ format
SET apikey.namespace = 'ck';
SELECT key AS own_key, id AS own_id FROM apikey_create('acme', '1', 'own ck key') \gset
RESET apikey.namespace;
SELECT valid, status, key_id = :own_id AS right_key FROM apikey_verify(:'own_key');
SELECT status FROM apikey_verify(left(:'own_key', -1) || CASE WHEN right(:'own_key', 1) = 'a' THEN 'b' ELSE 'a' END);

-- Bad imports: 22023
SELECT expect_error($$SELECT apikey_import('acme', '1', 'neither', prefix => 'ck_live_xxxx')$$);
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'both', key_hash => %L, bcrypt_hash => %L, prefix => 'ctza_a1b2')$$,
                           digest('x', 'sha256'), :'ctza_bcrypt'));
SELECT expect_error($$SELECT apikey_import('acme', '1', 'short hash', key_hash => '\x0102', prefix => 'ck_live_xxxx')$$);
SELECT expect_error($$SELECT apikey_import('acme', '1', 'md5', key_hash => digest('x', 'md5'), prefix => 'ck_live_xxxx')$$);
SELECT expect_error($$SELECT apikey_import('acme', '1', 'not bcrypt', bcrypt_hash => '$1$abcdefgh$abcdefghijklmnopqrstuv', prefix => 'ctza_a1b2')$$);
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'cost 03', bcrypt_hash => %L, prefix => 'ctza_a1b2')$$,
                           overlay(:'ctza_bcrypt' placing '03' from 5)));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'no prefix', key_hash => %L)$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'empty prefix', key_hash => %L, prefix => '')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'long prefix', key_hash => %L, prefix => repeat('p', 33))$$, digest('x', 'sha256')));
-- the lookup prefix of a bcrypt import: lookup_length characters of a registered format
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'short lookup', bcrypt_hash => %L, prefix => 'ctza_a1b')$$, :'ctza_bcrypt'));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'not hex', bcrypt_hash => %L, prefix => 'ctza_zzzz')$$, :'ctza_bcrypt'));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'no lookup', bcrypt_hash => %L, prefix => 'sk_live_abcd')$$, :'ctza_bcrypt'));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'bad env', key_hash => %L, prefix => 'ck', environment => 'prod')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'expired', key_hash => %L, prefix => 'ck', expires_at => now() - interval '1 day')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'future', key_hash => %L, prefix => 'ck', created_at => now() + interval '1 day')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', '', key_hash => %L, prefix => 'ck')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'scopes', key_hash => %L, prefix => 'ck', scopes => '{a,NULL}')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import(NULL, '1', 'no tenant', key_hash => %L, prefix => 'ck')$$, digest('x', 'sha256')));
-- a user that does not exist, or of another tenant: 23503
SELECT expect_error(format($$SELECT apikey_import('acme', '99', 'ghost', key_hash => %L, prefix => 'ck')$$, digest('x', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '10', 'globex user', key_hash => %L, prefix => 'ck')$$, digest('x', 'sha256')));
-- a key stored already: 23505, without the hash
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'again', key_hash => %L, prefix => 'ck')$$, digest(:'ck_live', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'own key again', key_hash => %L, prefix => 'ck')$$, digest(:'own_key', 'sha256')));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'again', bcrypt_hash => %L, prefix => 'ctza_dddd')$$,
                           (SELECT bcrypt_hash FROM apikey.keys WHERE id = :ctza4_id)));
-- read-only: 25006
BEGIN READ ONLY;
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'read only', key_hash => %L, prefix => 'ck')$$, digest('x', 'sha256')));
ROLLBACK;
-- an actor of another tenant: 42501
BEGIN;
SET LOCAL apikey.actor = '10';
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'cross tenant', key_hash => %L, prefix => 'ck')$$, digest('x', 'sha256')));
ROLLBACK;
-- an actor of the tenant: recorded
BEGIN;
SET LOCAL apikey.actor = '1';
SELECT apikey_import('acme', '2', 'by actor', key_hash => digest('ck_live_byactor0000000000000', 'sha256'), prefix => 'ck_live_byac') AS actor_id \gset
SELECT k.created_by, e.action, e.actor FROM apikey.keys k JOIN apikey.events e ON e.key_id = k.id WHERE k.id = :actor_id;
ROLLBACK;
-- nothing was stored by a refused call
SELECT count(*) AS imported FROM apikey.keys WHERE suffix = '';

-- The hash of a key is still fixed (55000): only a bcrypt import's re-store may set it
SELECT regexp_replace(expect_error(format($$UPDATE apikey.keys SET key_hash = %L WHERE id = %s$$, digest('y', 'sha256'), :sk_live_id)), 'key \d+', 'key N');
SELECT regexp_replace(expect_error(format($$UPDATE apikey.keys SET bcrypt_hash = %L WHERE id = %s$$, :'ctza_bcrypt', :ctza4_id)), 'key \d+', 'key N');
SELECT regexp_replace(expect_error(format($$UPDATE apikey.keys SET key_hash = %L, hash_scheme = 'sha256', bcrypt_hash = NULL WHERE id = %s$$,
                           digest('y', 'sha256'), :ctza_id)), 'key \d+', 'key N');
SELECT regexp_replace(expect_error(format($$UPDATE apikey.keys SET hash_scheme = 'bcrypt', bcrypt_hash = %L, key_hash = NULL WHERE id = %s$$,
                           :'ctza_bcrypt', :sk_live_id)), 'key \d+', 'key N');
-- a bcrypt row holds no SHA-256, and a row of another scheme no bcrypt hash (23514)
SELECT left(expect_error(format($$INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, key_hash, bcrypt_hash, environment, hash_scheme)
       VALUES ('acme', '1', 'both', 'ctza_abcd', '', %L, %L, 'live', 'bcrypt')$$, digest('z', 'sha256'), :'ctza_bcrypt')), 5) AS sqlstate;
SELECT left(expect_error(format($$INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, bcrypt_hash, environment, hash_scheme)
       VALUES ('acme', '1', 'sha', 'ctza_abcd', '', %L, 'live', 'sha256')$$, :'ctza_bcrypt')), 5) AS sqlstate;
SELECT left(expect_error($$INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, environment, hash_scheme)
       VALUES ('acme', '1', 'none', 'ctza_abcd', '', 'live', 'sha256')$$), 5) AS sqlstate;

-- Unregistering a format: its keys are malformed again, before any lookup
SELECT apikey_unregister_format('sk_live_') AS unregistered;
SELECT apikey_unregister_format('sk_live_') AS unregistered_again;
SELECT status FROM apikey_verify(:'sk_live');
SELECT expect_error($$SELECT apikey_unregister_format(NULL)$$);
-- and registering it again brings them back
SELECT apikey_register_format('sk_live_', 'base62', 32);
SELECT status FROM apikey_verify(:'sk_live');

-- bcrypt reads only the first 72 bytes of a key: a format with a lookup
-- length and longer keys is refused, and a longer key (a format written
-- into the table directly) never verifies by bcrypt, which would accept any
-- key sharing its first 72 bytes and re-store that one instead
SELECT expect_error($$SELECT apikey_register_format('long_', 'hex', 40, 100, lookup_length => 9)$$);
INSERT INTO apikey.key_formats VALUES ('long_', 'hex', 40, 100, 'live', 9);
SELECT 'long_' || repeat('a1', 50) AS long_key \gset
SELECT substr(:'long_key', 1, 72) || repeat('0', 33) AS long_forged \gset
SELECT apikey_import('acme', '1', 'long', bcrypt_hash => crypt(:'long_key', gen_salt('bf', 4)),
                     prefix => 'long_a1a1') IS NOT NULL AS imported;
SELECT status FROM apikey_verify(:'long_forged');
SELECT status FROM apikey_verify(:'long_key');
SELECT hash_scheme FROM apikey.keys WHERE name = 'long';
SELECT apikey_unregister_format('long_') AS unregistered;

-- The same bcrypt hash spelled $2b$ (or $2y$) is the same key: 23505
SELECT crypt('ctza_' || repeat('d', 40), gen_salt('bf', 4)) AS dup_bcrypt \gset
SELECT apikey_import('acme', '1', 'dup a', bcrypt_hash => :'dup_bcrypt', prefix => 'ctza_dddd') IS NOT NULL AS imported;
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'dup b', bcrypt_hash => %L, prefix => 'ctza_dddd')$$,
                           '$2b$' || substr(:'dup_bcrypt', 5)));
SELECT expect_error(format($$SELECT apikey_import('acme', '1', 'dup y', bcrypt_hash => %L, prefix => 'ctza_dddd')$$,
                           '$2y$' || substr(:'dup_bcrypt', 5)));

-- A bcrypt cost above 14 is refused: a wrong key of the lookup prefix
-- would run crypt() at that cost (cost 31: days), for any tenant
SELECT expect_error($$SELECT apikey_import('globex', '10', 'c15', bcrypt_hash => '$2a$15$' || repeat('A', 53), prefix => 'ctza_dddd')$$);
SELECT expect_error($$SELECT apikey_import('globex', '10', 'c31', bcrypt_hash => '$2b$31$' || repeat('A', 53), prefix => 'ctza_dddd')$$);

-- Clean up: later tests see no imported key and no registered format
DELETE FROM apikey.events WHERE key_id IN (SELECT id FROM apikey.keys WHERE suffix = '' OR id = :own_id);
DELETE FROM apikey.keys WHERE suffix = '' OR id = :own_id;
SELECT count(*) AS unregistered FROM apikey.key_formats, LATERAL apikey_unregister_format(prefix) u WHERE u;
SELECT count(*) AS formats FROM apikey.key_formats;
