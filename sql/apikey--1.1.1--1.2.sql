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

-- A tenant's default rate limit, for its keys without one of their own
-- (apikey.keys.rate_limit/rate_window NULL).  Verification reads it with the
-- key on a cache miss and keeps it in the cache entry, so every change
-- empties the verification caches, as a change of apikey.keys does.
CREATE TABLE apikey.tenant_limits (
	tenant_id	text PRIMARY KEY,
	rate_limit	integer NOT NULL CHECK (rate_limit OPERATOR(pg_catalog.>) 0),
	rate_window	interval NOT NULL
		CHECK (rate_window OPERATOR(pg_catalog.>) interval '0'
			   AND rate_window OPERATOR(pg_catalog.<=) interval '1 day')
);
COMMENT ON TABLE apikey.tenant_limits IS 'default rate limit of a tenant''s keys that have none of their own (apikey_set_tenant_rate_limit)';
SELECT pg_catalog.pg_extension_config_dump('apikey.tenant_limits', '');

CREATE TRIGGER tenant_limits_cache_invalidate
	AFTER INSERT OR UPDATE OR DELETE ON apikey.tenant_limits
	FOR EACH ROW EXECUTE FUNCTION apikey.cache_invalidate();
CREATE TRIGGER tenant_limits_cache_invalidate_truncate
	AFTER TRUNCATE ON apikey.tenant_limits
	FOR EACH STATEMENT EXECUTE FUNCTION apikey.cache_invalidate();
-- also under session_replication_role = replica (logical replication, restores)
ALTER TABLE apikey.tenant_limits ENABLE ALWAYS TRIGGER tenant_limits_cache_invalidate;
ALTER TABLE apikey.tenant_limits ENABLE ALWAYS TRIGGER tenant_limits_cache_invalidate_truncate;

CREATE FUNCTION apikey_set_tenant_rate_limit(tenant_id text, rate_limit integer, rate_window interval)
RETURNS void
AS 'MODULE_PATHNAME', 'apikey_set_tenant_rate_limit'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_set_tenant_rate_limit(text, integer, interval) IS 'sets the default rate limit of the tenant''s keys that have none of their own; both NULL removes it';
REVOKE ALL ON FUNCTION apikey_set_tenant_rate_limit(text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_set_tenant_rate_limit(text, integer, interval) TO apikey_admin;

-- The verification functions return retry_after (status rate_limited only)
DROP FUNCTION apikey_verify(text);
CREATE FUNCTION apikey_verify(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb, retry_after interval)
AS 'MODULE_PATHNAME', 'apikey_verify'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;
REVOKE ALL ON FUNCTION apikey_verify(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_verify(text) TO apikey_verifier, apikey_admin;

DROP FUNCTION apikey_authorize(text, text);
CREATE FUNCTION apikey_authorize(key text, permission text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb, retry_after interval)
AS 'MODULE_PATHNAME', 'apikey_authorize'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;
REVOKE ALL ON FUNCTION apikey_authorize(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_authorize(text, text) TO apikey_verifier, apikey_admin;

DROP FUNCTION apikey_authenticate(text);
CREATE FUNCTION apikey_authenticate(key text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb, retry_after interval)
AS 'MODULE_PATHNAME', 'apikey_authenticate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;
REVOKE ALL ON FUNCTION apikey_authenticate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_authenticate(text) TO apikey_verifier, apikey_admin;

DROP FUNCTION apikey_verify_header(text);
CREATE FUNCTION apikey_verify_header(authorization text)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  role text, scopes text[], permissions text[], environment text,
			  expires_at timestamptz, metadata jsonb, retry_after interval)
AS 'MODULE_PATHNAME', 'apikey_verify_header'
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1;
REVOKE ALL ON FUNCTION apikey_verify_header(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_verify_header(text) TO apikey_verifier, apikey_admin;

-- apikey_stats counts rate_limited answers and overflow decisions (appended)
DROP FUNCTION apikey_stats();
CREATE FUNCTION apikey_stats()
RETURNS TABLE(valid bigint, missing bigint, malformed bigint, unknown bigint,
			  revoked bigint, disabled bigint, expired bigint, user_inactive bigint,
			  last_used_written bigint, last_used_dropped bigint, last_used_pending bigint,
			  shared boolean, stats_reset timestamptz,
			  rate_limited bigint, rate_limit_overflow bigint)
AS 'MODULE_PATHNAME', 'apikey_stats'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION apikey_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_stats() TO apikey_admin;

-- (end of section 1)


-- ---------------------------------------------------------------------------
-- Section 2: usage credits, apikey_update, lifecycle (max_idle, revoke_user,
-- prune, NOTIFY apikey_events)
-- ---------------------------------------------------------------------------

-- Section 2a: credits and apikey_update (src/credits.c, src/update.c)

-- Verifies a key as apikey_verify does, then spends cost credits of a valid
-- key in the caller's transaction (status usage_exceeded when not enough
-- remain); a key without credits is unlimited (remaining NULL).
CREATE FUNCTION apikey_consume(key text, cost integer DEFAULT 1)
RETURNS TABLE(valid boolean, status text, key_id bigint, tenant_id text, user_id text,
			  remaining bigint, retry_after interval)
AS 'MODULE_PATHNAME', 'apikey_consume'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_consume(text, integer) IS 'verifies an API key and spends cost of its usage credits in the current transaction';
REVOKE ALL ON FUNCTION apikey_consume(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_consume(text, integer) TO apikey_verifier, apikey_admin;

-- Changes the given fields of a key; clear names fields to set back to
-- none.  Audited as one 'update' event naming the changed fields (an
-- expiry change also gets the 'expire' event of apikey.keys_audit, as any
-- change of expires_at does).
CREATE FUNCTION apikey_update(
	key_id bigint,
	tenant_id text DEFAULT NULL,
	name text DEFAULT NULL,
	scopes text[] DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	expires_at timestamptz DEFAULT NULL,
	rate_limit integer DEFAULT NULL,
	rate_window interval DEFAULT NULL,
	remaining bigint DEFAULT NULL,
	refill_amount bigint DEFAULT NULL,
	refill_interval interval DEFAULT NULL,
	clear text[] DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apikey_update'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_update(bigint, text, text, text[], jsonb, timestamptz, integer, interval,
								  bigint, bigint, interval, text[]) IS 'changes the given fields of an API key (NULL: unchanged; clear: set back to none)';
REVOKE ALL ON FUNCTION apikey_update(bigint, text, text, text[], jsonb, timestamptz, integer, interval,
									 bigint, bigint, interval, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_update(bigint, text, text, text[], jsonb, timestamptz, integer, interval,
										bigint, bigint, interval, text[]) TO apikey_admin;

-- (end of section 2a)


-- ---------------------------------------------------------------------------
-- Section 2b: lifecycle (apikey.max_idle is a setting, applied by
-- verification: src/lifecycle.c)
-- ---------------------------------------------------------------------------

-- A pruned key may be the predecessor of a key still in use: its successor
-- forgets where it came from instead of blocking the delete.  (keys_guard
-- allows the UPDATE of rotated_from this makes.)
ALTER TABLE apikey.keys
	DROP CONSTRAINT keys_rotated_from_fkey,
	ADD CONSTRAINT keys_rotated_from_fkey FOREIGN KEY (rotated_from)
		REFERENCES apikey.keys (id) ON DELETE SET NULL;

CREATE FUNCTION apikey_revoke_user(tenant_id text, user_id text, reason text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'apikey_revoke_user'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_revoke_user(text, text, text) IS 'revokes every key of a user (who need not exist any more) and returns how many';
REVOKE ALL ON FUNCTION apikey_revoke_user(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_revoke_user(text, text, text) TO apikey_admin;

CREATE FUNCTION apikey_prune(older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'apikey_prune'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION apikey_prune(interval) IS 'deletes the keys revoked or expired longer ago than older_than, leaving a prune event for each; returns how many';
REVOKE ALL ON FUNCTION apikey_prune(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey_prune(interval) TO apikey_admin;

-- Every audited change notifies channel apikey_events with the event's id
-- (never a key or a hash), at commit, so that an application can LISTEN and
-- send webhooks.  Only events recorded now: a restored dump's rows keep
-- their own time and notify nothing.  Not ENABLE ALWAYS: a logical
-- replica's apply worker does not notify the events its publisher already
-- notified.
CREATE FUNCTION apikey.events_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $notify$
BEGIN
	-- not for 'rehash': verification writes it, and a NOTIFY would make the
	-- verifying transaction impossible to PREPARE (two-phase commit)
	IF NEW.at OPERATOR(pg_catalog.=) pg_catalog.now()
	   AND NEW.action OPERATOR(pg_catalog.<>) 'rehash' THEN
		PERFORM pg_catalog.pg_notify('apikey_events', NEW.id::pg_catalog.text);
	END IF;
	RETURN NULL;
END
$notify$;
REVOKE ALL ON FUNCTION apikey.events_notify() FROM PUBLIC;

CREATE TRIGGER events_notify AFTER INSERT ON apikey.events
	FOR EACH ROW EXECUTE FUNCTION apikey.events_notify();

-- A refill interval of parts of one sign, from a second to ten years (also
-- for a DBA's plain SQL): apikey_consume's refill arithmetic then stays in
-- the timestamp range, so a spend never raises.
ALTER TABLE apikey.key_credits ADD CONSTRAINT key_credits_refill_interval_range
	CHECK (refill_interval OPERATOR(pg_catalog.>=) interval '1 second'
		   AND refill_interval OPERATOR(pg_catalog.<=) interval '10 years'
		   AND pg_catalog.date_part('month', refill_interval) OPERATOR(pg_catalog.>=) 0
		   AND pg_catalog.date_part('day', refill_interval) OPERATOR(pg_catalog.>=) 0
		   AND pg_catalog.date_part('epoch', refill_interval
				OPERATOR(pg_catalog.-) pg_catalog.date_trunc('day', refill_interval)) OPERATOR(pg_catalog.>=) 0);

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
