--
-- hashing: apikey.keys.key_hash is the SHA-256 of the whole key, 32 bytes, unique
--

-- Keys of both environments, in the default and in other namespaces
SELECT id AS id1, key AS k1 FROM apikey_create('acme', '1', 'hash live') \gset
SELECT id AS id2, key AS k2 FROM apikey_create('acme', '1', 'hash test', environment => 'test') \gset
SET apikey.namespace = 'ck';
SELECT id AS id3, key AS k3 FROM apikey_create('acme', '1', 'hash ck live') \gset
SET apikey.namespace = 'longerns';
SELECT id AS id4, key AS k4 FROM apikey_create('acme', '1', 'hash 8-char test', environment => 'test') \gset
RESET apikey.namespace;

-- The stored hash equals pgcrypto's digest(key, 'sha256') and is 32 bytes
SELECT t.label, substring(t.key from '^[a-z0-9]+_[a-z]+_') AS starts_with,
       k.key_hash = digest(t.key, 'sha256') AS sha256_of_key,
       k.key_hash = sha256(convert_to(t.key, 'UTF8')) AS same_as_core_sha256,
       octet_length(k.key_hash) AS bytes
  FROM (VALUES ('1', :id1, :'k1'), ('2', :id2, :'k2'), ('3', :id3, :'k3'), ('4', :id4, :'k4')) AS t(label, id, key)
  JOIN apikey.keys k ON k.id = t.id
 ORDER BY t.label;

-- The hash is of the whole key: not of its prefix, body or random part
SELECT count(*) AS hashes_of_parts
  FROM (VALUES (:id1, :'k1'), (:id2, :'k2'), (:id3, :'k3'), (:id4, :'k4')) AS t(id, key)
  JOIN apikey.keys k ON k.id = t.id
 WHERE k.key_hash IN (digest(left(t.key, 12), 'sha256'), digest(left(t.key, -6), 'sha256'),
                      digest(right(t.key, 38), 'sha256'), digest(right(t.key, 32), 'sha256'));

-- Every stored hash is 32 bytes
SELECT count(*) AS rows_with_other_length FROM apikey.keys WHERE octet_length(key_hash) <> 32;

-- A unique index on key_hash
SELECT indexname, indexdef FROM pg_indexes
 WHERE schemaname = 'apikey' AND tablename = 'keys' AND indexdef LIKE '%(key_hash)%'
 ORDER BY indexname;

-- So a second row with the same hash is refused (23505; only the SQLSTATE is
-- shown: the detail would show the hash)
SELECT left(expect_error(format(
	'INSERT INTO apikey.keys (tenant_id, user_id, name, prefix, suffix, key_hash, environment)'
	' SELECT tenant_id, user_id, name, prefix, suffix, key_hash, environment FROM apikey.keys WHERE id = %s', :id1)), 5)
	AS sqlstate;

-- Verification finds each key by its hash
SELECT count(*) FILTER (WHERE v.status = 'valid' AND v.key_id = t.id) AS verified
  FROM (VALUES (:id1, :'k1'), (:id2, :'k2'), (:id3, :'k3'), (:id4, :'k4')) AS t(id, key),
       LATERAL apikey_verify(t.key) v;
