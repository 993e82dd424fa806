--
-- badinput: hostile and broken input.  Verification never raises and always
-- answers exactly one row (missing, malformed or unknown, with no detail of
-- any key); apikey_create refuses bad arguments with its documented SQLSTATE
-- and writes nothing; no error message ever shows a key.
--
-- Key format: <namespace>_<env>_<32 base62><6 base62 checksum>; with the
-- default namespace "ak" a key has 46 characters.
--
CREATE TABLE bad_users (id text PRIMARY KEY, tenant_id text NOT NULL, role text);
INSERT INTO bad_users VALUES ('u1', 'bad', 'member'), ('u2', 'bad', 'owner'), ('x1', 'other', 'owner');
SELECT apikey_bind_users('bad_users');
SELECT id AS good_id, key AS good_key FROM apikey_create('bad', 'u1', 'good') \gset
\set r32 'AbCdEfGhIjKlMnOpQrStUvWxYz012345'

-- One verification, caught: "<rows> row(s), <status>", plus a warning when a
-- column other than valid/status is set, or the error if it raised
CREATE FUNCTION verify_outcome(k text, fn text DEFAULT 'apikey_verify') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	st text;
	shown boolean;
BEGIN
	EXECUTE format($q$SELECT count(*), min(status),
		bool_or(valid OR key_id IS NOT NULL OR tenant_id IS NOT NULL OR user_id IS NOT NULL
		        OR role IS NOT NULL OR scopes IS NOT NULL OR permissions IS NOT NULL
		        OR environment IS NOT NULL OR expires_at IS NOT NULL OR metadata IS NOT NULL)
		FROM %s($1)$q$, fn) INTO n, st, shown USING k;
	RETURN n || ' row(s), ' || st || CASE WHEN shown THEN ', DETAILS SHOWN' ELSE '' END;
EXCEPTION WHEN OTHERS THEN
	RETURN 'ERROR ' || SQLSTATE;
END
$$;

-- the control: a real key
SELECT verify_outcome(:'good_key') AS good_key;
SELECT status, user_id FROM apikey_verify(:'good_key');

-------------------------------------------------------------------------------
-- Verification: the battery
-------------------------------------------------------------------------------
CREATE TABLE bad_keys (ord serial, label text, k text);
INSERT INTO bad_keys (label, k) VALUES
	('NULL', NULL),
	('empty', ''),
	('one space', ' '),
	('1 MB of a', repeat('a', 1048576)),
	('1 MB: key then x', :'good_key' || repeat('x', 1048576)),
	('1 MB: x then key', repeat('x', 1048576) || :'good_key'),
	('key 20000 times', repeat(:'good_key', 20000)),
	('no underscore', replace(:'good_key', '_', '')),
	('dashes for underscores', replace(:'good_key', '_', '-')),
	('only underscores', repeat('_', 46)),
	('1-char namespace', test_key('a', 'live', :'r32')),
	('9-char namespace', test_key('abcdefghi', 'live', :'r32')),
	('uppercase namespace', test_key('AK', 'live', :'r32')),
	('namespace with dash', test_key('a-k', 'live', :'r32')),
	('namespace with dot', test_key('a.k', 'live', :'r32')),
	('empty namespace', test_key('', 'live', :'r32')),
	('env prod', test_key('ak', 'prod', :'r32')),
	('env LIVE', test_key('ak', 'LIVE', :'r32')),
	('env tes', test_key('ak', 'tes', :'r32')),
	('env lives', test_key('ak', 'lives', :'r32')),
	('env empty', test_key('ak', '', :'r32')),
	('missing random part', test_key('ak', 'live', '')),
	('prefix only', 'ak_live_'),
	('namespace only', 'ak_'),
	('ak_live', 'ak_live'),
	('37 chars', test_key('ak', 'live', left(:'r32', 23))),
	('39 chars', test_key('ak', 'live', left(:'r32', 25))),
	('45 chars', test_key('ak', 'live', left(:'r32', 31))),
	('47 chars', test_key('ak', 'live', :'r32' || 'Z')),
	('wrong checksum (real key, last char)',
		left(:'good_key', -1) || CASE WHEN right(:'good_key', 1) = 'A' THEN 'B' ELSE 'A' END),
	('wrong checksum (case of the checksum swapped)',
		left(test_key('ak', 'live', :'r32'), -6)
		|| translate(right(test_key('ak', 'live', :'r32'), 6), 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
		             'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')),
	('checksum of another body', left(test_key('ak', 'live', :'r32'), 40) || right(test_key('ak', 'test', :'r32'), 6)),
	('random part changed, checksum kept',
		overlay(:'good_key' placing CASE WHEN substr(:'good_key', 9, 1) = '0' THEN '1' ELSE '0' END from 9 for 1)),
	('real key uppercased', upper(:'good_key')),
	('real key, leading space', ' ' || :'good_key'),
	('real key, trailing space', :'good_key' || ' '),
	('real key, trailing newline', :'good_key' || E'\n'),
	('real key, trailing tab', :'good_key' || E'\t'),
	('real key, CRLF', :'good_key' || E'\r\n'),
	('real key, zero-width space inside', overlay(:'good_key' placing U&'\200B' from 20 for 0)),
	('real key twice', :'good_key' || :'good_key'),
	('tab in random part', test_key('ak', 'live', overlay(:'r32' placing E'\t' from 5 for 1))),
	('newline in random part', test_key('ak', 'live', overlay(:'r32' placing E'\n' from 5 for 1))),
	('chr(1) in random part', test_key('ak', 'live', overlay(:'r32' placing chr(1) from 5 for 1))),
	('chr(127) in random part', test_key('ak', 'live', overlay(:'r32' placing chr(127) from 5 for 1))),
	('SQL: drop table', $$'; DROP TABLE apikey.keys; --$$),
	('SQL: or 1=1', $$ak_live_' OR '1'='1$$),
	('SQL: in the random part', 'ak_live_' || $$');DELETE FROM apikey.keys;--$$ || 'xxxxxxxxxxxx'),
	('SQL: 46 chars', rpad($$ak_live_'; DROP TABLE apikey.keys; --$$, 46, '-')),
	('emoji', '🔑'),
	('emoji key', 'ak_live_' || repeat('🔑', 38)),
	('46 bytes of UTF-8', 'ak_live_' || repeat('é', 19)),
	('46 characters of UTF-8', 'ak_live_' || repeat('é', 38)),
	('combining marks', 'ak_live_' || repeat(U&'e\0301', 19)),
	('Latin-1 look-alike', 'ak_live_Ã©Ã¨Ã ÃªÃ«Ã®Ã¯Ã´Ã¶Ã¹Ã»Ã¼Ã§Ã¿Ã±Ã¡Ã­Ã³Ãº'),
	('Cyrillic a in namespace', test_key(U&'\0430k', 'live', :'r32')),
	('full-width random part', test_key('ak', 'live', repeat(U&'\FF21', 32))),
	('right-to-left override', U&'\202E' || :'good_key'),
	('well-formed, never issued', test_key('ak', 'live', :'r32')),
	('well-formed test env, never issued', test_key('ak', 'test', :'r32')),
	('other namespace zz', test_key('zz', 'live', :'r32')),
	('other namespace 8 chars', test_key('abcdefgh', 'test', :'r32')),
	('other namespace digits', test_key('00', 'live', :'r32')),
	('random part all zeros', test_key('ak', 'live', repeat('0', 32))),
	('random part all z', test_key('ak', 'live', repeat('z', 32)));

SELECT ord, label, octet_length(k) AS bytes, verify_outcome(k) AS apikey_verify
  FROM bad_keys ORDER BY ord;

-- every length of the random part but 32, right checksum: malformed (expected: no rows)
SELECT n, verify_outcome(test_key('ak', 'live', left(repeat(:'r32', 3), n))) AS outcome
  FROM generate_series(0, 80) n
 WHERE n <> 32 AND verify_outcome(test_key('ak', 'live', left(repeat(:'r32', 3), n))) <> '1 row(s), malformed';

-- one character replaced, in every position of a well-formed key, by characters
-- outside its class; the checksum recomputed when the random part is hit (so
-- only the character is wrong): malformed everywhere (expected: one row per
-- position class, all malformed)
WITH good AS (SELECT test_key('ak', 'live', :'r32') AS k),
bad_chars(c) AS (VALUES ('-'), ('+'), ('/'), ('='), (' '), ('.'), ('~'), ('_'), ('!'), ('%'),
                        (E'\t'), (E'\n'), (chr(1)), ('é'), ('🔑'), (U&'\200B'), ('\')),
variants AS (
	SELECT CASE WHEN pos <= 2 THEN 'namespace' WHEN pos = 3 THEN 'first underscore'
	            WHEN pos <= 7 THEN 'environment' WHEN pos = 8 THEN 'second underscore'
	            WHEN pos <= 40 THEN 'random part' ELSE 'checksum' END AS class,
	       CASE WHEN pos BETWEEN 9 AND 40
	            THEN test_key('ak', 'live', overlay(:'r32' placing c from pos - 8 for 1))
	            ELSE overlay(g.k placing c from pos for 1) END AS k
	  FROM good g, generate_series(1, 46) pos, bad_chars
	 WHERE c <> substr(g.k, pos, 1))
SELECT class, count(*) AS variants, verify_outcome(k) AS outcome
  FROM variants GROUP BY class, verify_outcome(k) ORDER BY class, outcome;

-- every character of the real key changed to another base62 digit (the checksum
-- catches any single substitution): malformed; the real key itself stays valid
WITH subs AS (
	SELECT pos, overlay(:'good_key' placing
	                    CASE WHEN substr(:'good_key', pos, 1) = 'Q' THEN 'R' ELSE 'Q' END
	                    from pos for 1) AS k
	  FROM generate_series(9, 46) pos)
SELECT count(*) AS variants, verify_outcome(k) AS outcome FROM subs GROUP BY 2;
SELECT verify_outcome(:'good_key') AS good_key_still;

-- The other entry points take the same battery without raising:
-- apikey_verify_header (as "Bearer <k>") and apikey_authorize(k, 'read') answer
-- as apikey_verify does, except that "Bearer " alone (from an empty key) is malformed
SELECT ord, label, verify_outcome(k) AS apikey_verify,
       verify_outcome('Bearer ' || k, 'apikey_verify_header') AS verify_header
  FROM bad_keys
 WHERE verify_outcome(k) IS DISTINCT FROM verify_outcome('Bearer ' || k, 'apikey_verify_header')
 ORDER BY ord;
-- the bare battery (no "Bearer "), as a header: malformed, never an error
SELECT count(*) AS keys, count(*) FILTER (WHERE verify_outcome(k, 'apikey_verify_header') <> '1 row(s), malformed')
       AS not_malformed
  FROM bad_keys WHERE k IS NOT NULL AND k <> '';
-- apikey_authorize: same status as apikey_verify for every input (expected: no rows)
SELECT ord, label FROM bad_keys
 WHERE (SELECT count(*) || status FROM apikey_authorize(k, 'read') GROUP BY status)
       IS DISTINCT FROM (SELECT count(*) || status FROM apikey_verify(k) GROUP BY status)
 ORDER BY ord;
-- headers that are not "Bearer <key>"
SELECT ord, label, verify_outcome(h, 'apikey_verify_header') AS outcome
  FROM (VALUES (1, 'NULL', NULL), (2, 'empty', ''), (3, 'Bearer', 'Bearer'), (4, 'Bearer + space', 'Bearer '),
               (5, 'bearer <key>', 'bearer ' || :'good_key'), (6, 'BEARER <key>', 'BEARER ' || :'good_key'),
               (7, 'Bearer <key>', 'Bearer ' || :'good_key'),
               (8, 'Bearer, two spaces, key', 'Bearer  ' || :'good_key'),
               (9, 'Bearer, tab, key', E'Bearer\t' || :'good_key'),
               (10, 'Bearer <key>, trailing space', 'Bearer ' || :'good_key' || ' '),
               (11, 'Basic <key>', 'Basic ' || :'good_key'), (12, 'Token <key>', 'Token ' || :'good_key'),
               (13, '<key> alone', :'good_key'), (14, 'Bearer <key> twice', repeat('Bearer ' || :'good_key', 2)))
       AS t(ord, label, h)
 ORDER BY ord;

-- Nothing of the battery was stored or changed
SELECT count(*) AS keys_of_tenant_bad, to_regclass('apikey.keys') IS NOT NULL AS table_still_there
  FROM apikey.keys WHERE tenant_id = 'bad';

-------------------------------------------------------------------------------
-- apikey_create: bad arguments fail with their documented SQLSTATE, write nothing
-------------------------------------------------------------------------------
SELECT count(*) AS keys0 FROM apikey.keys \gset
SELECT count(*) AS events0 FROM apikey.events \gset
SELECT last_value AS seq0 FROM apikey.keys_id_seq \gset

-- name: NULL, empty, 101 characters, 1 MB, 101 emoji: 22023
SELECT expect_error($$SELECT apikey_create('bad', 'u1', NULL)$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', '')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', repeat('n', 101))$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', repeat('n', 1048576))$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', repeat('🔑', 101))$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', repeat(U&'e\0301', 51))$$);
-- environment: anything but live and test, 22023 (NULL too)
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', environment => 'prod')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', environment => 'LIVE')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', environment => 'live ')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', environment => '')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', environment => NULL)$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', environment => $e$live'; --$e$)$$);
-- tenant and user: NULL 22023; unknown, empty, of another tenant 23503
SELECT expect_error($$SELECT apikey_create(NULL, 'u1', 'n')$$);
SELECT expect_error($$SELECT apikey_create('bad', NULL, 'n')$$);
SELECT expect_error($$SELECT apikey_create(NULL, NULL, NULL)$$);
SELECT expect_error($$SELECT apikey_create('bad', 'nobody', 'n')$$);
SELECT expect_error($$SELECT apikey_create('nowhere', 'u1', 'n')$$);
SELECT expect_error($$SELECT apikey_create('bad', '', 'n')$$);
SELECT expect_error($$SELECT apikey_create('', 'u1', 'n')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'x1', 'n')$$);
SELECT expect_error($$SELECT apikey_create('bad', $u$u1' OR '1'='1$u$, 'n')$$);
SELECT left(expect_error($$SELECT apikey_create('bad', repeat('u', 1048576), 'n')$$), 40) AS one_mb_user;
-- scopes with NULL elements, or of more than one dimension: 22023
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', scopes => ARRAY['read', NULL])$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', scopes => ARRAY[NULL]::text[])$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', scopes => '{{read,write},{a,b}}')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', scopes => '{{{x}}}')$$);
-- expiry not in the future: 22023
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', expires_at => now() - interval '1 second')$$);
SELECT expect_error($$SELECT apikey_create('bad', 'u1', 'n', expires_at => '-infinity')$$);

-- none of them wrote anything: no key, no audit event, no id used
SELECT count(*) - :keys0 AS new_keys FROM apikey.keys;
SELECT count(*) - :events0 AS new_events FROM apikey.events;
SELECT last_value - :seq0 AS ids_used FROM apikey.keys_id_seq;

-- What is accepted, and stored verbatim: 100 characters (ASCII, emoji, combining
-- marks), names that look like SQL, control characters (accepted as they are:
-- a name is display text, never interpreted), blanks
CREATE TABLE good_names (ord int, label text, name text);
INSERT INTO good_names VALUES
	(1, '100 ASCII', repeat('n', 100)),
	(2, '100 emoji', repeat('🔑', 100)),
	(3, '50 e + combining acute', repeat(U&'e\0301', 50)),
	(4, 'SQL: drop table', $$Robert'); DROP TABLE apikey.keys;--$$),
	(5, 'SQL: or 1=1', $$x' OR '1'='1$$),
	(6, 'SQL: dollar quote', $q$$$; SELECT pg_sleep(10); $$$q$),
	(7, 'SQL: backslash', E'back\\slash \\x00 \\'),
	(8, 'tab', E'tab\there'),
	(9, 'newline', E'line\nbreak'),
	(10, 'chr(1) and chr(7)', 'ctl' || chr(1) || chr(7)),
	(11, 'CRLF', E'crlf\r\n'),
	(12, 'only blanks', '   '),
	(13, 'right-to-left override', U&'\202Egnp.exe'),
	(14, 'looks like a key', test_key('ak', 'live', :'r32'));
CREATE TABLE good_made AS
SELECT g.ord, c.id FROM good_names g, LATERAL apikey_create('bad', 'u2', g.name) c;
SELECT g.ord, g.label, k.name = g.name AS verbatim, char_length(k.name) AS chars,
       octet_length(k.name) AS bytes, s.status AS listed_status
  FROM good_names g JOIN good_made m USING (ord) JOIN apikey.keys k ON k.id = m.id
  LEFT JOIN apikey_list('bad') s ON s.id = m.id AND s.name = g.name
 ORDER BY g.ord;
SELECT count(*) - :keys0 AS new_keys FROM apikey.keys;
-- edge values that are accepted: an empty scope list, an infinite expiry
SELECT c.key AS inf_key FROM apikey_create('bad', 'u1', 'forever', expires_at => 'infinity',
                                           scopes => '{}') c \gset
SELECT valid, status, scopes, expires_at FROM apikey_verify(:'inf_key');

-------------------------------------------------------------------------------
-- No error message ever shows a key (message, detail, hint or context)
-------------------------------------------------------------------------------
-- Runs call with k as its parameter $1 (so the statement text holds no key)
-- and reports the error, and whether any part of it contains k or its random part
CREATE FUNCTION error_shows(call text, k text)
RETURNS TABLE(sqlstate text, message text, shows_key boolean)
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hnt text;
	ctx text;
	everything text;
BEGIN
	EXECUTE call USING k;
	RETURN QUERY SELECT 'none'::text, 'no error'::text, false;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
		hnt = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
	everything := concat_ws(' ', msg, det, hnt, ctx, SQLERRM);
	RETURN QUERY SELECT st, regexp_replace(left(msg, 60), '[0-9]+', 'N', 'g'),
		coalesce(k <> '' AND (position(k in everything) > 0
		    OR (octet_length(k) >= 40 AND position(substr(k, 9, 32) in everything) > 0)), false);
END
$$;

SELECT id AS rk_id, key AS rk_key FROM apikey_create('bad', 'u1', 'to revoke') \gset
CREATE TABLE leak_keys (ord int, label text, k text);
INSERT INTO leak_keys VALUES
	(1, 'real key', :'rk_key'),
	(2, 'real key, malformed (last char changed)',
		left(:'rk_key', -1) || CASE WHEN right(:'rk_key', 1) = 'A' THEN 'B' ELSE 'A' END),
	(3, 'real key + newline', :'rk_key' || E'\n'),
	(4, 'real key in 1 MB', repeat('x', 524288) || :'rk_key' || repeat('x', 524288)),
	(5, 'unknown, well-formed', test_key('ak', 'live', :'r32')),
	(6, 'other namespace', test_key('zz', 'live', :'r32')),
	(7, 'NULL', NULL);
CREATE TABLE leak_calls (ord int, call text);
INSERT INTO leak_calls VALUES
	(1, $$SELECT apikey_revoke_key($1::text, 'leaked')$$),
	(2, $$SELECT apikey_revoke_key($1::text)$$),
	(3, $$SELECT * FROM apikey_authenticate($1)$$),
	(4, $$SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || $1)::text, true),
	           apikey_postgrest_pre_request()$$),
	(5, $$SELECT set_config('request.headers', '{"authorization": "Bearer ' || $1 || '", oops}', true),
	           apikey_postgrest_pre_request()$$),
	(6, $$SELECT set_config('request.headers', '"Bearer ' || $1 || '"', true), apikey_postgrest_pre_request()$$),
	(7, $$SELECT apikey_enable((SELECT id FROM apikey.keys WHERE key_hash = sha256(convert_to($1, 'UTF8'))))$$),
	(8, $$SELECT * FROM apikey_rotate((SELECT id FROM apikey.keys WHERE key_hash = sha256(convert_to($1, 'UTF8'))))$$);
-- in order: the real key is revoked by call 1, so later calls see a revoked key
CREATE TABLE leak_results AS
SELECT c.ord AS call, k.ord AS key, k.label, e.sqlstate, e.message, e.shows_key
  FROM leak_calls c CROSS JOIN leak_keys k CROSS JOIN LATERAL error_shows(c.call, k.k) e;
SELECT call, key, label, sqlstate, rpad(message, 36) AS message, shows_key
  FROM leak_results ORDER BY call, key;
-- errors that show a key (expected: none)
SELECT call, key, label, sqlstate, message FROM leak_results WHERE shows_key ORDER BY call, key;
-- the real key was revoked by the first call, and nothing else changed
SELECT status FROM apikey_verify(:'rk_key');
SELECT count(*) AS revoked_in_tenant_bad FROM apikey.keys WHERE tenant_id = 'bad' AND revoked_at IS NOT NULL;

-- Clean up
DROP TABLE bad_keys, good_names, good_made, leak_keys, leak_calls, leak_results;
DROP FUNCTION verify_outcome(text, text), error_shows(text, text);
SELECT apikey_bind_users('users', active_column => 'active');
DROP TABLE bad_users;
