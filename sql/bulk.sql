--
-- bulk: thousands of keys in one statement, all distinct, all verifying
--
CREATE TEMP TABLE bulk_keys AS
SELECT g, k.id, k.key, k.prefix
  FROM generate_series(1, 5000) g, LATERAL apikey_create('acme', '1', 'bulk ' || g) k;

-- 5000 keys, all distinct, with (nearly) all prefixes distinct
SELECT count(*) AS keys, count(DISTINCT key) AS distinct_keys, count(DISTINCT id) AS distinct_ids,
       count(DISTINCT prefix) > 4000 AS prefixes_mostly_distinct
  FROM bulk_keys;

-- All of the right shape, with the right checksum and prefix
SELECT count(*) FILTER (WHERE key ~ '^ak_live_[0-9A-Za-z]{38}$') AS well_shaped,
       count(*) FILTER (WHERE prefix = left(key, 12)) AS right_prefix,
       count(*) FILTER (WHERE right(key, 6) = test_checksum(left(key, 40))) AS right_checksum
  FROM bulk_keys;

-- The 32 random characters use the whole base62 alphabet, evenly
-- (5000 * 32 characters: each of the 62 within 12% of the mean, 6 standard deviations)
WITH chars AS (
	SELECT substr(key, 8 + i, 1) AS c
	  FROM bulk_keys, generate_series(1, 32) i
), freq AS (
	SELECT c, count(*) AS n FROM chars GROUP BY c
)
SELECT count(*) AS distinct_chars,
       bool_and(n BETWEEN 5000 * 32 / 62 * 0.88 AND 5000 * 32 / 62 * 1.12) AS evenly_spread,
       bool_and(c ~ '^[0-9A-Za-z]$') AS all_base62
  FROM freq;

-- All 5000 verify as valid, each as itself
SELECT count(*) FILTER (WHERE v.status = 'valid') AS valid,
       count(*) FILTER (WHERE v.key_id = b.id) AS own_key_id
  FROM bulk_keys b, LATERAL apikey_verify(b.key) v;

-- 5000 distinct hashes in the table, each the SHA-256 of its key
SELECT count(DISTINCT k.key_hash) AS distinct_hashes,
       count(*) FILTER (WHERE k.key_hash = digest(b.key, 'sha256')) AS sha256_of_key
  FROM bulk_keys b JOIN apikey.keys k ON k.id = b.id;

-- The keys are nowhere in the table: no stored hash is the hash of a prefix or of the body
SELECT count(*) AS hashes_of_parts
  FROM bulk_keys b JOIN apikey.keys k ON k.id = b.id
 WHERE k.key_hash IN (digest(b.prefix, 'sha256'), digest(left(b.key, 40), 'sha256'));

-- Test keys in bulk too
SELECT count(DISTINCT key) AS distinct_test_keys,
       count(*) FILTER (WHERE key ~ '^ak_test_[0-9A-Za-z]{38}$') AS well_shaped,
       count(*) FILTER (WHERE (SELECT status FROM apikey_verify(key)) = 'valid') AS valid
  FROM generate_series(1, 1000) g, LATERAL apikey_create('globex', '11', 'bulk test ' || g, environment => 'test');
