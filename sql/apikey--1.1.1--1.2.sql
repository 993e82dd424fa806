/* apikey--1.1.1--1.2.sql: rate limits, usage credits, apikey_update, lifecycle, imported keys, apikey_revoke_key */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION apikey UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section 0: the audit trail's new actions
-- ---------------------------------------------------------------------------

-- update: apikey_update(); import: apikey_import(); prune: apikey_prune()
-- deleted the key; rehash: an imported key re-stored under a faster scheme
-- on its first successful verification.
ALTER TABLE apikey.events DROP CONSTRAINT events_action_check;
ALTER TABLE apikey.events ADD CONSTRAINT events_action_check
	CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['create', 'rotate', 'revoke', 'disable', 'enable',
													'expire', 'update', 'import', 'prune', 'rehash']));

-- The columns and tables the 1.2 features share (each section below adds the
-- behaviour that reads them).

-- A key's own rate limit: rate_limit requests per rate_window, counted in
-- shared memory by verification (section 1).  Both or neither.
ALTER TABLE apikey.keys
	ADD COLUMN rate_limit integer CHECK (rate_limit OPERATOR(pg_catalog.>) 0),
	ADD COLUMN rate_window interval
		CHECK (rate_window OPERATOR(pg_catalog.>) interval '0'
			   AND rate_window OPERATOR(pg_catalog.<=) interval '1 day'),
	ADD CONSTRAINT keys_rate_limit_pair
		CHECK ((rate_limit IS NULL) OPERATOR(pg_catalog.=) (rate_window IS NULL));
COMMENT ON COLUMN apikey.keys.rate_limit IS 'requests allowed per rate_window (NULL: the tenant default of apikey.tenant_limits, else none)';
COMMENT ON COLUMN apikey.keys.rate_window IS 'the window of rate_limit (at most a day)';

-- Usage credits: a key with a row here spends them through apikey_consume()
-- (section 2).  Kept out of apikey.keys so that spending a credit never
-- locks the key's row: a revoke never waits for a request in flight.
CREATE TABLE apikey.key_credits (
	key_id			bigint PRIMARY KEY REFERENCES apikey.keys (id) ON DELETE CASCADE,
	remaining		bigint NOT NULL CHECK (remaining OPERATOR(pg_catalog.>=) 0),
	refill_amount	bigint CHECK (refill_amount OPERATOR(pg_catalog.>) 0),
	refill_interval	interval CHECK (refill_interval OPERATOR(pg_catalog.>) interval '0'),
	refilled_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT key_credits_refill_pair
		CHECK ((refill_amount IS NULL) OPERATOR(pg_catalog.=) (refill_interval IS NULL))
);
COMMENT ON TABLE apikey.key_credits IS 'usage credits of a key, spent by apikey_consume() inside the caller''s transaction';
COMMENT ON COLUMN apikey.key_credits.refill_amount IS 'remaining is set back to this at every refill_interval after refilled_at';
SELECT pg_catalog.pg_extension_config_dump('apikey.key_credits', '');

-- Verification caches the rate limit with the key, and an imported key's
-- hash may be re-stored once (section 3): both invalidate like the rest.
DROP TRIGGER keys_cache_invalidate_update ON apikey.keys;
CREATE TRIGGER keys_cache_invalidate_update AFTER UPDATE ON apikey.keys
	FOR EACH ROW EXECUTE FUNCTION apikey.cache_invalidate(
		'revoked_at', 'enabled', 'expires_at', 'scopes', 'metadata', 'environment',
		'name', 'prefix', 'suffix', 'hash_scheme', 'rate_limit', 'rate_window', 'key_hash');
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate_update;

-- apikey_create takes the rate limit and credits of the new key
DROP FUNCTION apikey_create(text, text, text, timestamptz, text, text[], jsonb);
CREATE FUNCTION apikey_create(
	tenant_id text,
	user_id text,
	name text,
	expires_at timestamptz DEFAULT NULL,
	environment text DEFAULT 'live',
	scopes text[] DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	rate_limit integer DEFAULT NULL,
	rate_window interval DEFAULT NULL,
	remaining bigint DEFAULT NULL,
	refill_amount bigint DEFAULT NULL,
	refill_interval interval DEFAULT NULL)
RETURNS TABLE(id bigint, key text, prefix text, created_at timestamptz, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'apikey_create'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION apikey_create(text, text, text, timestamptz, text, text[], jsonb,
									 integer, interval, bigint, bigint, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_create(text, text, text, timestamptz, text, text[], jsonb,
										integer, interval, bigint, bigint, interval) TO apikey_admin;


-- ---------------------------------------------------------------------------
-- Section 1: rate limits
-- ---------------------------------------------------------------------------


-- (end of section 1)


-- ---------------------------------------------------------------------------
-- Section 2: usage credits, apikey_update, lifecycle (max_idle, revoke_user,
-- prune, NOTIFY apikey_events)
-- ---------------------------------------------------------------------------


-- (end of section 2)


-- ---------------------------------------------------------------------------
-- Section 3: imported keys (SHA-256 and bcrypt, foreign formats) and
-- revocation by key (apikey_revoke_key)
-- ---------------------------------------------------------------------------

-- Keys minted elsewhere (apikey_import): SHA-256 of the whole key, stored
-- like apikey's own, or a bcrypt hash, found by its lookup prefix and
-- re-stored under the scheme of a new key on its first valid verification
-- (the one hash change keys_guard allows).
ALTER TABLE apikey.keys
	ALTER COLUMN key_hash DROP NOT NULL,
	ADD COLUMN bcrypt_hash text
		CHECK (bcrypt_hash OPERATOR(pg_catalog.~) '^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$'),
	DROP CONSTRAINT keys_hash_scheme_check,
	ADD CONSTRAINT keys_hash_scheme_check
		CHECK (hash_scheme OPERATOR(pg_catalog.=) ANY (ARRAY['sha256', 'hmac-sha256', 'bcrypt'])),
	ADD CONSTRAINT keys_bcrypt_hash_pair
		CHECK ((key_hash IS NULL) OPERATOR(pg_catalog.=) (hash_scheme OPERATOR(pg_catalog.=) 'bcrypt')
			   AND (bcrypt_hash IS NOT NULL) OPERATOR(pg_catalog.=) (hash_scheme OPERATOR(pg_catalog.=) 'bcrypt'));
CREATE INDEX keys_bcrypt_prefix_idx ON apikey.keys (prefix)
	WHERE hash_scheme OPERATOR(pg_catalog.=) 'bcrypt';
COMMENT ON COLUMN apikey.keys.key_hash IS 'SHA-256 (or HMAC-SHA-256) of the whole key; NULL only for a bcrypt import not yet verified';
COMMENT ON COLUMN apikey.keys.bcrypt_hash IS 'bcrypt hash of an imported key until its first valid verification re-stores it (hash_scheme bcrypt)';
COMMENT ON COLUMN apikey.keys.hash_scheme IS 'sha256: SHA-256 of the key; hmac-sha256: HMAC-SHA-256 keyed with apikey.pepper; bcrypt: an import, in bcrypt_hash';

-- A revoked key stays revoked, and a key's hash and identity never change,
-- except once: a bcrypt import re-stored by its first valid verification.
CREATE OR REPLACE FUNCTION apikey.keys_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $guard$
DECLARE
	rehash boolean := OLD.hash_scheme OPERATOR(pg_catalog.=) 'bcrypt' AND OLD.key_hash IS NULL
		AND NEW.key_hash IS NOT NULL AND NEW.bcrypt_hash IS NULL
		AND NEW.hash_scheme OPERATOR(pg_catalog.=) ANY (ARRAY['sha256', 'hmac-sha256']);
BEGIN
	IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
		RAISE EXCEPTION 'API key % is revoked', OLD.id
			USING ERRCODE = '55000', DETAIL = 'Revocation is permanent: revoked_at cannot be changed or cleared.';
	END IF;
	IF ((NEW.key_hash IS DISTINCT FROM OLD.key_hash OR NEW.bcrypt_hash IS DISTINCT FROM OLD.bcrypt_hash)
			AND NOT rehash)
		OR NEW.id IS DISTINCT FROM OLD.id
		OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
		OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
		RAISE EXCEPTION 'the id, tenant, user and hash of API key % cannot be changed', OLD.id
			USING ERRCODE = '55000', HINT = 'Revoke the key and create a new one.';
	END IF;
	RETURN NEW;
END
$guard$;

-- Foreign key formats verification accepts besides its own: a namespace
-- prefix and the shape of what follows it.
CREATE TABLE apikey.key_formats (
	prefix			text PRIMARY KEY
		CHECK (pg_catalog.char_length(prefix) BETWEEN 1 AND 32),
	charset			text NOT NULL
		CHECK (charset OPERATOR(pg_catalog.=) ANY (ARRAY['hex', 'base62', 'alnum_lower', 'base64url'])),
	min_length		integer NOT NULL CHECK (min_length BETWEEN 1 AND 256),
	max_length		integer NOT NULL CHECK (max_length BETWEEN 1 AND 256),
	environment		text NOT NULL DEFAULT 'live'
		CHECK (environment OPERATOR(pg_catalog.=) ANY (ARRAY['live', 'test'])),
	lookup_length	integer,
	CONSTRAINT key_formats_lengths CHECK (min_length OPERATOR(pg_catalog.<=) max_length),
	CONSTRAINT key_formats_lookup_length
		CHECK (lookup_length BETWEEN pg_catalog.char_length(prefix) OPERATOR(pg_catalog.+) 1
			   AND LEAST(32, pg_catalog.char_length(prefix) OPERATOR(pg_catalog.+) min_length))
);
COMMENT ON TABLE apikey.key_formats IS 'foreign key formats verification accepts, set by apikey_register_format()';
COMMENT ON COLUMN apikey.key_formats.lookup_length IS 'characters of the key a bcrypt import of this format stores as its lookup prefix (NULL: no bcrypt imports)';
SELECT pg_catalog.pg_extension_config_dump('apikey.key_formats', '');

-- every backend re-reads the formats (and empties its verification cache)
CREATE TRIGGER key_formats_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.key_formats
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.cache_invalidate();
ALTER TABLE apikey.key_formats ENABLE ALWAYS TRIGGER key_formats_changed;

CREATE FUNCTION apikey_register_format(
	prefix text,
	charset text,
	min_length integer,
	max_length integer DEFAULT NULL,
	environment text DEFAULT 'live',
	lookup_length integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_register_format'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_register_format(text, text, integer, integer, text, integer) IS 'registers (or replaces) a foreign key format verification accepts: superuser only';

CREATE FUNCTION apikey_unregister_format(prefix text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_unregister_format'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_unregister_format(text) IS 'removes a registered foreign key format: superuser only';

CREATE FUNCTION apikey_import(
	tenant_id text,
	user_id text,
	name text,
	key_hash bytea DEFAULT NULL,
	bcrypt_hash text DEFAULT NULL,
	prefix text DEFAULT NULL,
	expires_at timestamptz DEFAULT NULL,
	environment text DEFAULT 'live',
	scopes text[] DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	created_at timestamptz DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'apikey_import'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_import(text, text, text, bytea, text, text, timestamptz, text, text[], jsonb, timestamptz) IS 'stores a key minted elsewhere, by its SHA-256 or its bcrypt hash';

REVOKE ALL ON FUNCTION apikey_register_format(text, text, integer, integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_unregister_format(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey_import(text, text, text, bytea, text, text, timestamptz, text, text[], jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_import(text, text, text, bytea, text, text, timestamptz, text, text[], jsonb, timestamptz) TO apikey_admin;

-- (end of section 3)


-- ---------------------------------------------------------------------------
-- Section 4: revocation by key has its own name
-- ---------------------------------------------------------------------------

-- Drivers that send untyped parameters (node-postgres, psycopg's server-side
-- prepared statements) made apikey_revoke($1, $2) resolve to the
-- (key text, reason text) overload, since an unknown-type argument prefers
-- the string category: revoking by id failed with P0002.  With that overload
-- gone, apikey_revoke($1, $2) always means revocation by id.
DROP FUNCTION apikey_revoke(text, text);

CREATE FUNCTION apikey_revoke_key(key text, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_revoke_key'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_revoke_key(text, text) IS 'revokes the API key given in full (a key found in a log, say); apikey_revoke(key_id) revokes by id';
REVOKE ALL ON FUNCTION apikey_revoke_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_revoke_key(text, text) TO apikey_admin;

-- (end of section 4)
