/* apikey--1.1.1--1.2.sql: rate limits, usage credits, key updates, lifecycle, imported keys, revocation by key */

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

-- A key's rate limit: rate_limit requests per rate_window, counted in shared
-- memory by verification (section 1); both set or both NULL.  Shared by
-- apikey_create/apikey_update (section 2) and verification (section 1).
ALTER TABLE apikey.keys
	ADD COLUMN rate_limit integer
		CONSTRAINT keys_rate_limit_positive CHECK (rate_limit OPERATOR(pg_catalog.>) 0),
	ADD COLUMN rate_window interval
		CONSTRAINT keys_rate_window_positive CHECK (rate_window OPERATOR(pg_catalog.>) '0'::pg_catalog.interval),
	ADD CONSTRAINT keys_rate_limit_pair CHECK ((rate_limit IS NULL) OPERATOR(pg_catalog.=) (rate_window IS NULL));
COMMENT ON COLUMN apikey.keys.rate_limit IS 'requests allowed per rate_window (NULL: the tenant default, else no limit)';
COMMENT ON COLUMN apikey.keys.rate_window IS 'the window of rate_limit';

-- A changed limit must reach every backend's verification cache.
DROP TRIGGER keys_cache_invalidate_update ON apikey.keys;
CREATE TRIGGER keys_cache_invalidate_update AFTER UPDATE ON apikey.keys
	FOR EACH ROW EXECUTE FUNCTION apikey.cache_invalidate(
		'revoked_at', 'enabled', 'expires_at', 'scopes', 'metadata', 'environment',
		'name', 'prefix', 'suffix', 'hash_scheme', 'rate_limit', 'rate_window');
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_cache_invalidate_update;


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
