--
-- list: apikey_list(tenant_id), what a dashboard shows; never a key or a hash
--
-- A tenant of this file only, and a key of another tenant
INSERT INTO users (id, tenant_id, role) VALUES
	(200, 'initech', 'admin'), (201, 'initech', 'member'), (202, 'hooli', 'admin');

-- The columns: nothing that could hold a key or a hash
SELECT * FROM apikey_list('a tenant without keys');

-- Keys in every state
SELECT key AS k_valid FROM apikey_create('initech', '200', 'a valid') \gset
SELECT key AS k_test FROM apikey_create('initech', '200', 'b test', '2999-01-01 00:00:00+00', 'test',
                                        ARRAY['read', 'write'], '{"x": 1}') \gset
SELECT id AS id_disabled, key AS k_disabled FROM apikey_create('initech', '200', 'c disabled') \gset
SELECT id AS id_revoked, key AS k_revoked FROM apikey_create('initech', '201', 'd revoked') \gset
SELECT id AS id_expired, key AS k_expired FROM apikey_create('initech', '201', 'e expired') \gset
SELECT key AS k_inactive FROM apikey_create('initech', '201', 'f user inactive') \gset
SELECT key AS k_other FROM apikey_create('hooli', '202', 'other tenant') \gset
SELECT apikey_disable(:id_disabled);
SELECT apikey_revoke(:id_revoked, 'test');
UPDATE apikey.keys SET expires_at = now() - interval '1 minute' WHERE id = :id_expired;
UPDATE users SET active = false WHERE id = 201;

-- Only the tenant's own keys, each with its state and status
SELECT user_id, name, environment, scopes,
       CASE WHEN expires_at IS NULL THEN 'never' WHEN expires_at < now() THEN 'past'
            ELSE to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') END AS expires,
       enabled, revoked_at IS NOT NULL AS revoked, status
  FROM apikey_list('initech')
 ORDER BY name;

-- prefix is the first 12 characters; preview = prefix || '...' || last 4 characters
WITH mine(name, key) AS (VALUES
	('a valid', :'k_valid'), ('b test', :'k_test'), ('c disabled', :'k_disabled'),
	('d revoked', :'k_revoked'), ('e expired', :'k_expired'), ('f user inactive', :'k_inactive'))
SELECT m.name, l.prefix = left(m.key, 12) AS prefix_ok,
       l.preview = left(m.key, 12) || '...' || right(m.key, 4) AS preview_ok,
       length(l.preview) AS preview_length
  FROM apikey_list('initech') l JOIN mine m USING (name)
 ORDER BY m.name;

-- No column contains a key, nor its hash (as hex or base64), nor the secret middle part
WITH mine(key) AS (VALUES (:'k_valid'), (:'k_test'), (:'k_disabled'), (:'k_revoked'),
                          (:'k_expired'), (:'k_inactive'), (:'k_other'))
SELECT count(*) AS checked_pairs,
       count(*) FILTER (WHERE position(m.key in row_to_json(l)::text) > 0) AS showing_a_key,
       count(*) FILTER (WHERE position(substr(m.key, 13, 30) in row_to_json(l)::text) > 0) AS showing_a_secret,
       count(*) FILTER (WHERE position(encode(digest(m.key, 'sha256'), 'hex') in row_to_json(l)::text) > 0) AS showing_a_hex_hash,
       count(*) FILTER (WHERE position(encode(digest(m.key, 'sha256'), 'base64') in row_to_json(l)::text) > 0) AS showing_a_b64_hash
  FROM apikey_list('initech') l, mine m;

-- Ids are those of the tenant's keys in apikey.keys, and every column agrees with the table
SELECT (SELECT array_agg(id ORDER BY id) FROM apikey_list('initech')) =
       (SELECT array_agg(id ORDER BY id) FROM apikey.keys WHERE tenant_id = 'initech') AS same_ids;
SELECT count(*) AS rows_agreeing_with_table
  FROM apikey_list('initech') l JOIN apikey.keys k USING (id)
 WHERE (l.user_id, l.name, l.prefix, l.environment, l.scopes, l.created_at, l.expires_at,
        l.last_used_at, l.enabled, l.revoked_at)
       IS NOT DISTINCT FROM
       (k.user_id, k.name, k.prefix, k.environment, k.scopes, k.created_at, k.expires_at,
        k.last_used_at, k.enabled, k.revoked_at)
   AND k.tenant_id = 'initech';

-- The other tenant sees only its own key
SELECT user_id, name, status, preview = left(:'k_other', 12) || '...' || right(:'k_other', 4) AS preview_ok
  FROM apikey_list('hooli');

-- Listing does not change the keys' status (verify agrees with list)
SELECT l.name, l.status AS list_status, v.status AS verify_status
  FROM apikey_list('initech') l
  JOIN (VALUES ('a valid', :'k_valid'), ('c disabled', :'k_disabled'), ('d revoked', :'k_revoked'),
               ('e expired', :'k_expired'), ('f user inactive', :'k_inactive')) AS m(name, key) USING (name),
       LATERAL apikey_verify(m.key) v
 ORDER BY l.name;

-- An unknown tenant lists nothing; a NULL tenant is an error (22023)
SELECT count(*) AS keys FROM apikey_list('no such tenant');
SELECT expect_error($$SELECT * FROM apikey_list(NULL)$$);

UPDATE users SET active = true WHERE id = 201;
