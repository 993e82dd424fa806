--
-- hostile_headers: apikey_postgrest_pre_request() answers PT401, with
-- bounded work, for any request.headers, however deep or long (issue 9,
-- finding 8: 200,000 nested "[" raised 54001, stack depth exceeded).  A
-- setting nested deeper than 16 levels or longer than 1 MB is treated as
-- missing before the JSON parser sees it; brackets inside strings do not
-- count.
--
-- The user binding of the previous files, restored at the end
CREATE TABLE hh_saved_binding AS SELECT * FROM apikey.user_binding;
CREATE TABLE hh_users (id text PRIMARY KEY, tenant_id text NOT NULL, role text);
INSERT INTO hh_users VALUES ('ann', 'north', 'admin');
SELECT apikey_bind_users('hh_users');
SELECT key AS hh_key FROM apikey_create('north', 'ann', 'hostile headers') \gset

-- the answer of the pre-request hook for a request.headers value, and the
-- user it authenticated (rolled back: nothing stays set)
CREATE FUNCTION hh_pre_request(headers text) RETURNS TABLE(result text, user_id text)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.headers', headers, true);
	result := expect_error('SELECT apikey_postgrest_pre_request()');
	user_id := current_setting('apikey.user_id', true);
	PERFORM set_config('request.headers', '', true);
	RETURN NEXT;
END
$$;
-- the headers PostgREST would send, with the key, plus extra text in another header
CREATE FUNCTION hh_with_key(extra text) RETURNS text
LANGUAGE sql AS $$
	SELECT '{"authorization": ' || to_json('Bearer ' || current_setting('hh.key'))::text
	       || ', "x-extra": ' || extra || '}'
$$;
SELECT set_config('hh.key', :'hh_key', false) IS NOT NULL AS key_set;

-- the attack as written: 200,000 nested [ (and the same with objects)
BEGIN;
SELECT * FROM hh_pre_request(repeat('[', 200000));
SELECT * FROM hh_pre_request(repeat('{"a":', 200000));
SELECT * FROM hh_pre_request(repeat('[', 200000) || repeat(']', 200000));
-- nesting hidden after a good key, or closed before it is opened
SELECT * FROM hh_pre_request(hh_with_key(repeat('[', 200000) || repeat(']', 200000)));
SELECT * FROM hh_pre_request(repeat(']', 200000) || hh_with_key(repeat('[', 200000)));
COMMIT;

-- within the bounds a good key is accepted: 16 levels in all, brackets and
-- escaped quotes inside strings
SELECT * FROM hh_pre_request(hh_with_key(repeat('[', 15) || repeat(']', 15)));
SELECT * FROM hh_pre_request(hh_with_key(to_json(repeat('[{', 100000))::text));
SELECT * FROM hh_pre_request(hh_with_key(to_json('"' || repeat('[', 100) || '\')::text));
-- one level too deep, or over 1 MB: PT401 even with a good key
SELECT * FROM hh_pre_request(hh_with_key(repeat('[', 16) || repeat(']', 16)));
SELECT * FROM hh_pre_request(hh_with_key(to_json(repeat('x', 1024 * 1024))::text));

-- the work is bounded: many hostile requests in one statement take well
-- under the timeout (before, each parsed the whole text recursively)
SET statement_timeout = '20s';
SELECT count(*) FILTER (WHERE r.result LIKE 'PT401:%') AS pt401
  FROM generate_series(1, 200) i,
       LATERAL hh_pre_request(repeat('[', 200000 + i)) r;
RESET statement_timeout;

-- Clean up: the previous user binding back
DROP FUNCTION hh_pre_request(text);
DROP FUNCTION hh_with_key(text);
SELECT apikey_bind_users(format('%I.%I', table_schema, table_name)::regclass,
                         id_column, tenant_column, role_column, active_column)
  FROM hh_saved_binding;
SELECT count(*) AS same_binding
  FROM apikey.user_binding b JOIN hh_saved_binding s USING (table_schema, table_name, id_column,
                                                           tenant_column, role_column)
 WHERE b.active_column IS NOT DISTINCT FROM s.active_column;
DROP TABLE hh_saved_binding;
