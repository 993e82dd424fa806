--
-- verify: apikey_verify(key) always returns exactly one row and never raises
--
-- Users of this file only (other files keep theirs intact)
INSERT INTO users (id, tenant_id, role) VALUES
	(100, 'acme', 'member'), (101, 'acme', 'member'), (102, 'acme', 'member'),
	(103, 'acme', 'member'), (104, 'acme', 'member');

-- valid: every column, here with expiry, scopes and metadata
SELECT id AS id1, key AS k1
  FROM apikey_create('acme', '100', 'full', '2999-01-01 00:00:00+00', 'test',
                     ARRAY['orders:read'], '{"app": "shop"}') \gset
SELECT valid, status, key_id = :id1 AS key_id_ok, tenant_id, user_id, role, scopes,
       permissions, environment, expires_at = '2999-01-01 00:00:00+00' AS expires_at_ok, metadata
  FROM apikey_verify(:'k1');

-- valid: without expiry, scopes and metadata those columns are NULL
SELECT id AS id2, key AS k2 FROM apikey_create('acme', '101', 'bare') \gset
SELECT valid, status, key_id = :id2 AS key_id_ok, tenant_id, user_id, role, scopes,
       permissions, environment, expires_at, metadata
  FROM apikey_verify(:'k2');

-- missing: NULL or the empty string; every identity column NULL
SELECT * FROM apikey_verify(NULL);
SELECT * FROM apikey_verify('');

-- malformed: wrong shape; every identity column NULL
SELECT * FROM apikey_verify('hello');
SELECT * FROM apikey_verify('ak_live_');
SELECT * FROM apikey_verify(' ');

-- malformed: one character of a real key changed (random part, then checksum part)
SELECT overlay(:'k2' placing CASE WHEN substr(:'k2', 20, 1) = 'A' THEN 'B' ELSE 'A' END from 20 for 1) AS k2_flip_random,
       overlay(:'k2' placing CASE WHEN substr(:'k2', 44, 1) = 'A' THEN 'B' ELSE 'A' END from 44 for 1) AS k2_flip_checksum,
       overlay(:'k2' placing CASE WHEN substr(:'k2', 10, 1) = 'a' THEN 'b' ELSE 'a' END from 10 for 1) AS k2_flip_first
  \gset
SELECT * FROM apikey_verify(:'k2_flip_random');
SELECT * FROM apikey_verify(:'k2_flip_checksum');
SELECT * FROM apikey_verify(:'k2_flip_first');

-- malformed: a real key with a character more or less, case changed, spaces, other separators
SELECT label, v.valid, v.status, v.key_id, v.tenant_id, v.user_id, v.role
  FROM (VALUES
	('extra char',        :'k2' || 'x'),
	('last char missing', left(:'k2', -1)),
	('leading space',     ' ' || :'k2'),
	('trailing space',    :'k2' || ' '),
	('trailing newline',  :'k2' || E'\n'),
	('upper case',        upper(:'k2')),
	('environment LIVE',  replace(:'k2', 'ak_live_', 'ak_LIVE_')),
	('environment prod',  replace(:'k2', 'ak_live_', 'ak_prod_')),
	('dash separators',   replace(:'k2', '_', '-')),
	('namespace AK',      replace(:'k2', 'ak_', 'AK_')),
	('no namespace',      substr(:'k2', 4))
  ) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label COLLATE "C";

-- malformed: well-formed checksums on a wrong shape (namespace too short or long,
-- not [a-z0-9], unknown environment, random part of the wrong length or alphabet)
SELECT label, v.status
  FROM (VALUES
	('namespace of 1 char',   test_key('a', 'live', repeat('A', 32))),
	('namespace of 9 chars',  test_key('abcdefghi', 'live', repeat('A', 32))),
	('namespace Ak',          test_key('Ak', 'live', repeat('A', 32))),
	('namespace a-b',         test_key('a-b', 'live', repeat('A', 32))),
	('environment prod',      test_key('ak', 'prod', repeat('A', 32))),
	('environment Live',      test_key('ak', 'Live', repeat('A', 32))),
	('random of 31 chars',    test_key('ak', 'live', repeat('A', 31))),
	('random of 33 chars',    test_key('ak', 'live', repeat('A', 33))),
	('random with -',         test_key('ak', 'live', repeat('A', 31) || '-')),
	('random with _',         test_key('ak', 'live', repeat('A', 31) || '_'))
  ) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label COLLATE "C";

-- unknown: well-formed keys (right shape and checksum) that were never issued,
-- in this and other namespaces; every identity column NULL
SELECT label, v.*
  FROM (VALUES
	('ak live', test_key('ak', 'live', repeat('A', 32))),
	('ak test', test_key('ak', 'test', repeat('z', 32))),
	('zz live', test_key('zz', 'live', repeat('0', 32))),
	('8-char namespace', test_key('abcdefgh', 'test', repeat('9', 32))),
	('digit namespace', test_key('42', 'live', repeat('Q', 32)))
  ) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label COLLATE "C";

-- unknown: a key that was issued and then deleted from apikey.keys by a DBA
SELECT id AS id3, key AS k3 FROM apikey_create('acme', '101', 'to delete') \gset
SELECT status FROM apikey_verify(:'k3');
DELETE FROM apikey.keys WHERE id = :id3;
SELECT * FROM apikey_verify(:'k3');

-- revoked: key_id and tenant_id filled
SELECT id AS id4, key AS k4 FROM apikey_create('acme', '101', 'revoked') \gset
SELECT apikey_revoke(:id4);
SELECT valid, status, key_id = :id4 AS key_id_ok, tenant_id FROM apikey_verify(:'k4');

-- disabled
SELECT id AS id5, key AS k5 FROM apikey_create('acme', '101', 'disabled') \gset
SELECT apikey_disable(:id5);
SELECT valid, status, key_id = :id5 AS key_id_ok, tenant_id FROM apikey_verify(:'k5');

-- expired: expiry set in the past by a DBA
SELECT id AS id6, key AS k6 FROM apikey_create('acme', '101', 'expired') \gset
UPDATE apikey.keys SET expires_at = now() - interval '1 minute' WHERE id = :id6;
SELECT valid, status, key_id = :id6 AS key_id_ok, tenant_id FROM apikey_verify(:'k6');

-- expired: a key created with a one second lifetime, a little more than a second later
SELECT id AS id7, key AS k7 FROM apikey_create('acme', '101', 'short', now() + interval '1 second') \gset
SELECT pg_sleep(1.2);
SELECT valid, status, key_id = :id7 AS key_id_ok, tenant_id FROM apikey_verify(:'k7');

-- user_inactive: the user is deactivated; reactivated, the key is valid again
SELECT id AS id8, key AS k8 FROM apikey_create('acme', '102', 'inactive user') \gset
UPDATE users SET active = false WHERE id = 102;
SELECT valid, status, key_id = :id8 AS key_id_ok, tenant_id FROM apikey_verify(:'k8');
UPDATE users SET active = true WHERE id = 102;
SELECT valid, status FROM apikey_verify(:'k8');

-- user_inactive: the user moved to another tenant; moved back, valid again
UPDATE users SET tenant_id = 'globex' WHERE id = 102;
SELECT valid, status, key_id = :id8 AS key_id_ok, tenant_id FROM apikey_verify(:'k8');
UPDATE users SET tenant_id = 'acme' WHERE id = 102;
SELECT valid, status FROM apikey_verify(:'k8');

-- user_inactive: the user was deleted
DELETE FROM users WHERE id = 102;
SELECT valid, status, key_id = :id8 AS key_id_ok, tenant_id FROM apikey_verify(:'k8');

-- Precedence: revoked, disabled, expired, user_inactive
SELECT id AS id9, key AS k9 FROM apikey_create('acme', '103', 'all four') \gset
SELECT id AS id10, key AS k10 FROM apikey_create('acme', '103', 'three') \gset
SELECT id AS id11, key AS k11 FROM apikey_create('acme', '103', 'two') \gset
SELECT id AS id12, key AS k12 FROM apikey_create('acme', '104', 'revoked and inactive') \gset
SELECT id AS id13, key AS k13 FROM apikey_create('acme', '104', 'disabled and inactive') \gset
UPDATE apikey.keys SET expires_at = now() - interval '1 minute' WHERE id IN (:id9, :id10, :id11);
UPDATE apikey.keys SET enabled = false WHERE id IN (:id9, :id10, :id13);
UPDATE apikey.keys SET revoked_at = now() WHERE id IN (:id9, :id12);
UPDATE users SET active = false WHERE id IN (103, 104);
SELECT label, v.valid, v.status
  FROM (VALUES
	('1 revoked+disabled+expired+inactive', :'k9'),
	('2 disabled+expired+inactive', :'k10'),
	('3 expired+inactive', :'k11'),
	('4 revoked+inactive', :'k12'),
	('5 disabled+inactive', :'k13')
  ) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label;
UPDATE users SET active = true WHERE id IN (103, 104);
SELECT label, v.valid, v.status
  FROM (VALUES
	('1 revoked+disabled+expired', :'k9'),
	('2 disabled+expired', :'k10'),
	('3 expired', :'k11')
  ) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label;

-- Exactly one row for every kind of input, valid or not
SELECT count(*) AS inputs,
       sum((SELECT count(*) FROM apikey_verify(t.key))) AS rows_returned,
       string_agg(DISTINCT (SELECT status FROM apikey_verify(t.key)), ', ') AS statuses
  FROM (VALUES (NULL), (''), ('x'), (:'k1'), (:'k2'), (:'k3'), (:'k4'), (:'k5'),
               (:'k6'), (:'k7'), (:'k8'), (:'k9'), (:'k2_flip_random')) AS t(key);

-- Hostile input never raises: 1 MB, control characters, multibyte text,
-- quotes and backslashes, hex-looking text, 46 bytes of 19 two-byte characters
SELECT label, v.valid, v.status, v.key_id, v.tenant_id
  FROM (VALUES
	('1 MB of a',           repeat('a', 1048576)),
	('1 MB of key shape',   'ak_live_' || repeat('A', 1048576)),
	('control chars',       E'ak_live_\x01\x02\x03\x1b[0m\x7f' || repeat('A', 27)),
	('tab inside',          E'ak_live_' || repeat('A', 31) || E'\t' || repeat('A', 6)),
	('multibyte 46 bytes',  'ak_live_' || repeat('é', 19)),
	('emoji',               'ak_live_' || repeat('😀', 10)),
	('replacement char',    'ak_live_' || repeat(chr(65533), 38)),
	('quotes',              $q$ak_live_'';--"\\$q$ || repeat('A', 30)),
	('hex bytea text',      '\x' || repeat('ff', 23)),
	('percent and nulls',   'ak_live_%00%00' || repeat('A', 32)),
	('only underscores',    repeat('_', 46)),
	('namespace only',      'ak')
  ) AS t(label, key), LATERAL apikey_verify(t.key) v
 ORDER BY label COLLATE "C";

-- Never raises even with no user table bound: one row, not valid
DELETE FROM apikey.user_binding;
SELECT count(*) AS rows, bool_or(valid) AS any_valid FROM apikey_verify(:'k2');
SELECT apikey_bind_users('users', active_column => 'active');
SELECT valid, status FROM apikey_verify(:'k2');
