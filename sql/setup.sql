--
-- setup: install apikey, create the application's user tables, bind them
--
-- pg_regress loaded pgcrypto (--load-extension=pgcrypto); apikey needs it.
CREATE EXTENSION apikey;
SELECT extname FROM pg_extension WHERE extname IN ('apikey', 'pgcrypto') ORDER BY extname;

-- Without pgcrypto, a plain CREATE EXTENSION apikey is refused ...
DROP EXTENSION apikey;
DROP EXTENSION pgcrypto;
\set VERBOSITY terse
CREATE EXTENSION apikey;
\set VERBOSITY default
-- ... and CREATE EXTENSION apikey CASCADE installs pgcrypto first
CREATE EXTENSION apikey CASCADE;
SELECT e.extname, array_agg(r.extname ORDER BY r.extname) AS requires
  FROM pg_extension e
  JOIN pg_depend d ON d.classid = 'pg_extension'::regclass AND d.objid = e.oid
                  AND d.refclassid = 'pg_extension'::regclass
  JOIN pg_extension r ON r.oid = d.refobjid
 WHERE e.extname = 'apikey'
 GROUP BY e.extname;

-- The functions of the contract, with their exact signatures
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns
  FROM pg_proc p
 WHERE p.proname IN ('apikey_bind_users', 'apikey_create', 'apikey_verify', 'apikey_revoke', 'apikey_revoke_key',
                     'apikey_disable', 'apikey_enable', 'apikey_rotate', 'apikey_list')
   AND p.pronamespace = 'public'::regnamespace
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- Test helper: runs a statement and returns its SQLSTATE, message and detail
-- (or 'no error').  Printing the message is also a check that it never shows
-- a key: any key in it would make the output differ from run to run.
CREATE FUNCTION expect_error(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	msg text;
	detail text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN state || ': ' || msg || coalesce(NULLIF(' (' || detail || ')', ' ()'), '');
END
$$;

-- Test helpers: the checksum of the key format, computed independently of
-- the C code: CRC32 (IEEE, as zlib) of the text before it, as 6 base62
-- digits, most significant first, alphabet 0-9A-Za-z.
CREATE FUNCTION test_crc32(body text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	bytes bytea := convert_to(body, 'UTF8');
	crc bigint := 4294967295;
BEGIN
	FOR i IN 0 .. length(bytes) - 1 LOOP
		crc := crc # get_byte(bytes, i);
		FOR j IN 1 .. 8 LOOP
			IF crc & 1 = 1 THEN
				crc := (crc >> 1) # 3988292384;	-- 0xEDB88320
			ELSE
				crc := crc >> 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN crc # 4294967295;
END
$$;
CREATE FUNCTION test_base62(v bigint, width int) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
	result text := '';
BEGIN
	FOR i IN 1 .. width LOOP
		result := substr(alphabet, (v % 62)::int + 1, 1) || result;
		v := v / 62;
	END LOOP;
	RETURN result;
END
$$;
CREATE FUNCTION test_checksum(body text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT test_base62(test_crc32(body), 6) $$;

-- The helpers: CRC-32 check value 0xCBF43926; base62 digits and padding
SELECT to_hex(test_crc32('123456789')) AS crc32_check,
       test_base62(0, 6) AS zero, test_base62(61, 6) AS sixty_one,
       test_base62(62, 6) AS sixty_two, test_base62(4294967295, 6) AS max_crc;

-- Test helper: a well-formed key (right shape, right checksum) that apikey never issued
CREATE FUNCTION test_key(ns text, env text, random text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT ns || '_' || env || '_' || random || test_checksum(ns || '_' || env || '_' || random)
$$;

-- The application's users: bigint ids, text tenants, two tenants
CREATE TABLE users (
	id			bigint PRIMARY KEY,
	tenant_id	text NOT NULL,
	role		text,
	active		boolean NOT NULL DEFAULT true,
	email		text
);
INSERT INTO users (id, tenant_id, role, email) VALUES
	(1, 'acme', 'admin', 'ann@acme.test'),
	(2, 'acme', 'member', 'bob@acme.test'),
	(3, 'acme', 'viewer', 'cat@acme.test'),
	(10, 'globex', 'admin', 'dan@globex.test'),
	(11, 'globex', 'member', 'eve@globex.test');

-- Other user tables, with other column names and types
-- uuid ids, text tenants
CREATE TABLE users_uuid (
	uid			uuid PRIMARY KEY,
	org			text NOT NULL,
	kind		text,
	is_active	boolean NOT NULL DEFAULT true
);
INSERT INTO users_uuid VALUES
	('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'acme', 'owner', true),
	('b1ffcd88-8d1a-4de7-aa5c-5aa8ac270b22', 'globex', 'member', true);
-- integer ids, bigint tenants
CREATE TABLE users_int (
	id			integer PRIMARY KEY,
	tenant_id	bigint NOT NULL,
	role		text
);
INSERT INTO users_int VALUES (7, 42, 'operator'), (8, 43, 'auditor');
-- text ids, uuid tenants
CREATE TABLE users_text (
	id			text PRIMARY KEY,
	tenant_id	uuid NOT NULL,
	role		text
);
INSERT INTO users_text VALUES ('alice', 'c2aade77-7e29-4cd6-9b4b-4b97bd160c33', 'editor');
-- columns of types the binding does not accept
CREATE TABLE users_bad (
	id			numeric PRIMARY KEY,
	tenant		numeric,
	ok_id		text UNIQUE,
	ok_tenant	text,
	role		text,
	active		integer
);

-- Before apikey_bind_users() nothing is bound
SELECT count(*) AS bindings FROM apikey.user_binding;

-- apikey_bind_users with every default: columns id, tenant_id, role, no active column
SELECT apikey_bind_users('users');
SELECT table_schema, table_name, id_column, tenant_column, role_column, active_column
  FROM apikey.user_binding;

-- A table that does not exist: 42P01 (raised by the regclass cast)
SELECT expect_error($$SELECT apikey_bind_users('no_such_table')$$);

-- A column that does not exist: 42703, for each of the four columns
SELECT expect_error($$SELECT apikey_bind_users('users', id_column => 'user_id')$$);
SELECT expect_error($$SELECT apikey_bind_users('users', tenant_column => 'org')$$);
SELECT expect_error($$SELECT apikey_bind_users('users', role_column => 'kind')$$);
SELECT expect_error($$SELECT apikey_bind_users('users', active_column => 'enabled')$$);

-- An id or tenant column of an unsupported type, or a non-boolean active column: 42804
SELECT expect_error($$SELECT apikey_bind_users('users_bad', 'id', 'ok_tenant', 'role')$$);
SELECT expect_error($$SELECT apikey_bind_users('users_bad', 'ok_id', 'tenant', 'role')$$);
SELECT expect_error($$SELECT apikey_bind_users('users_bad', 'ok_id', 'ok_tenant', 'role', 'active')$$);

-- A failed call leaves the binding as it was
SELECT count(*) AS bindings, min(table_name) AS table_name, min(id_column) AS id_column,
       min(active_column) AS active_column
  FROM apikey.user_binding;

-- Rebinding replaces the binding (there is only ever one)
SELECT apikey_bind_users('users_uuid', id_column => 'uid', tenant_column => 'org',
                         role_column => 'kind', active_column => 'is_active');
SELECT table_schema, table_name, id_column, tenant_column, role_column, active_column
  FROM apikey.user_binding;
SELECT apikey_bind_users('users', active_column => 'active');
SELECT count(*) AS bindings FROM apikey.user_binding;
SELECT table_schema, table_name, id_column, tenant_column, role_column, active_column
  FROM apikey.user_binding;
