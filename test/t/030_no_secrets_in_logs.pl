# No key and no key hash ever reaches the server log or pg_stat_statements,
# even with every statement, every duration, every nested statement and every
# plan logged (auto_explain with ANALYZE and VERBOSE), whatever the call:
# create, verify (valid, revoked, disabled, malformed, unknown), the 1.1
# entry points, revoke by key (success and errors), rotate.
#
# Keys never appear in statement text: they travel through tables (CREATE
# TABLE ... AS SELECT * FROM apikey_create(...), then apikey_verify(t.key))
# and, when python3-psycopg is installed, as real bound parameters
# (extended protocol; log_parameter_max_length = 0 keeps their values out).
# What matters is what the extension itself logs: its nested statements,
# their plans, its errors.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('nosecrets');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_stat_statements,auto_explain,apikey'
log_statement = all
log_min_duration_statement = 0
log_parameter_max_length = 0
log_parameter_max_length_on_error = 0
log_error_verbosity = verbose
log_min_error_statement = debug5
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_analyze = on
auto_explain.log_verbose = on
# log_verbose prints the arguments of function calls, and a custom plan has
# the bound parameters substituted into them: the README asks for generic
# plans wherever plans are logged verbosely
plan_cache_mode = force_generic_plan
pg_stat_statements.track = all
pg_stat_statements.track_utility = on
apikey.last_used_flush_interval = 100
});
$node->start;

my $db = 'postgres';
$node->safe_psql($db, q{
	CREATE EXTENSION pg_stat_statements;
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL,
	                    active boolean NOT NULL DEFAULT true);
	INSERT INTO users VALUES (1, 't1', 'owner'), (2, 't1', 'member');
	SELECT apikey_bind_users('users', active_column => 'active');
	SELECT pg_stat_statements_reset();
});

# --- keys through tables ------------------------------------------------------
# k_<name>: one key each; the key never leaves the server in a statement
for my $name (qw(valid revoked disabled rotsrc unknown spare)) {
	$node->safe_psql($db,
		"CREATE TABLE k_$name AS SELECT * FROM apikey_create('t1', '1', 'tap $name',"
		  . " scopes => ARRAY['read'], metadata => '{\"tap\": true}')");
}
$node->safe_psql($db, q{
	CREATE TABLE k_malformed AS
		SELECT left(key, -1) || CASE WHEN right(key, 1) = 'A' THEN 'B' ELSE 'A' END AS key FROM k_valid;
	-- unknown: a real key whose row is gone (its hash is remembered for the search)
	CREATE TABLE gone_hash AS
		SELECT k.key_hash FROM apikey.keys k JOIN k_unknown u USING (id);
	DELETE FROM apikey.keys WHERE id = (SELECT id FROM k_unknown);
});

# every verification path, valid and not
my @statuses = (
	[ valid     => 'valid' ],
	[ revoked   => 'valid' ],    # revoked below
	[ disabled  => 'valid' ],
	[ malformed => 'malformed' ],
	[ unknown   => 'unknown' ]);
for my $s (@statuses) {
	my ($name, $want) = @$s;
	is($node->safe_psql($db, "SELECT v.status FROM k_$name k, apikey_verify(k.key) v"),
		$want, "verify $name: $want");
}
# revoke by key, disable by id, then verify again
is($node->safe_psql($db, q{SELECT apikey_revoke_key(key, 'tap') FROM k_revoked}), 't', 'revoke by key');
is($node->safe_psql($db, q{SELECT apikey_revoke_key(key, 'again') FROM k_revoked}), 'f', 'revoke by key again: false');
is($node->safe_psql($db, q{SELECT apikey_disable(id) FROM k_disabled}), 't', 'disable');
is($node->safe_psql($db, q{SELECT v.status FROM k_revoked k, apikey_verify(k.key) v}), 'revoked', 'verify revoked');
is($node->safe_psql($db, q{SELECT v.status FROM k_disabled k, apikey_verify(k.key) v}), 'disabled', 'verify disabled');

# revoke by key: errors for malformed and unknown keys (logged with their statements)
for my $name (qw(malformed unknown)) {
	my ($ret, $out, $err) = $node->psql($db, "SELECT apikey_revoke_key(key) FROM k_$name");
	like($err, qr/API key does not exist/, "revoke by key, $name: error");
}

# rotate, and verify old and new
$node->safe_psql($db, q{CREATE TABLE k_rotated AS SELECT * FROM apikey_rotate((SELECT id FROM k_rotsrc), '1 hour')});
is($node->safe_psql($db, q{SELECT v.status FROM k_rotsrc k, apikey_verify(k.key) v}), 'valid', 'rotated key in grace');
is($node->safe_psql($db, q{SELECT v.status FROM k_rotated k, apikey_verify(k.key) v}), 'valid', 'successor valid');

# the 1.1 entry points, with the key from a table
is($node->safe_psql($db, q{SELECT v.status FROM k_valid k, apikey_verify_header('Bearer ' || k.key) v}),
	'valid', 'verify_header');
is($node->safe_psql($db, q{SELECT v.status FROM k_valid k, apikey_authorize(k.key, 'write') v}),
	'forbidden', 'authorize, scope not held');
is($node->safe_psql($db, q{BEGIN; SELECT v.status FROM k_valid k, apikey_authenticate(k.key) v; COMMIT;}),
	'valid', 'authenticate');
is($node->safe_psql($db, q{
	BEGIN;
	SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || key)::text, true)
	  FROM k_spare \gset
	SELECT apikey_postgrest_pre_request();
	SELECT current_setting('apikey.user_id');
	COMMIT;}), "\n1", 'postgrest pre-request hook');
{
	my ($ret, $out, $err) = $node->psql($db, q{SELECT v.status FROM k_revoked k, apikey_authenticate(k.key) v});
	like($err, qr/invalid API key/, 'authenticate with a revoked key: PT401');
}

# nested: a PL/pgSQL loop over every key (auto_explain logs each nested
# statement; the key is a PL/pgSQL variable, i.e. a parameter of the plan)
my $log_at_plpgsql = log_size();
$node->safe_psql($db, q{
	DO $$
	DECLARE
		r record;
		s text;
	BEGIN
		FOR r IN SELECT key FROM k_valid UNION ALL SELECT key FROM k_malformed UNION ALL SELECT key FROM k_rotated LOOP
			SELECT status INTO s FROM apikey_verify(r.key);
			SELECT status INTO s FROM apikey_verify_header('Bearer ' || r.key);
		END LOOP;
		BEGIN
			PERFORM apikey_revoke_key(key) FROM k_malformed;
		EXCEPTION WHEN no_data_found THEN
			NULL;
		END;
	END
	$$;
});
# a verification that writes last_used_at through the background worker
ok($node->poll_query_until($db, q{SELECT last_used_at IS NOT NULL FROM apikey.keys k JOIN k_valid USING (id)}),
	'last-used write delivered');

# --- keys as bound parameters (python3-psycopg, if installed) -----------------
my $log_at_bound = log_size();
my @bound_keys;
my $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $have_psycopg = eval { IPC::Run::run([ $python, '-c', 'import psycopg' ], '>', \my $o, '2>', \my $e) };
SKIP: {
	skip 'python3-psycopg not installed: no bound-parameter variant', 3 unless $have_psycopg;

	my $script = <<'PY';
import sys
import psycopg

conn = psycopg.connect(sys.argv[1], autocommit=True)
cur = conn.cursor()
out = []
# create: the key comes back as a result, never in a statement
cur.execute("SELECT id, key FROM apikey_create(%s, %s, %s)", ("t1", "2", "bound"))
kid, key = cur.fetchone()
out.append(key)
cur.execute("SELECT id, key FROM apikey_create(%s, %s, %s)", ("t1", "2", "bound 2"))
kid2, key2 = cur.fetchone()
out.append(key2)
# verify: prepared server-side and as an unnamed statement
for prepare in (True, False, True, True):
    cur.execute("SELECT status FROM apikey_verify(%s)", (key,), prepare=prepare)
    assert cur.fetchone()[0] == "valid"
cur.execute("SELECT status FROM apikey_verify_header(%s)", ("Bearer " + key,))
assert cur.fetchone()[0] == "valid"
bad = key[:-1] + ("B" if key[-1] == "A" else "A")
out.append(bad)
cur.execute("SELECT status FROM apikey_verify(%s)", (bad,))
assert cur.fetchone()[0] == "malformed"
# revoke by key, an error with the key as a parameter, rotate
cur.execute("SELECT apikey_revoke_key(%s::text, %s)", (key, "bound"))
assert cur.fetchone()[0] is True
try:
    cur.execute("SELECT apikey_revoke_key(%s::text)", (bad,))
    raise SystemExit("revoke of a malformed key did not fail")
except psycopg.errors.NoDataFound:
    pass
try:
    cur.execute("SELECT apikey_enable(%s) FROM apikey_verify(%s) v WHERE v.status = %s", (kid, key, "revoked"))
    raise SystemExit("enable of a revoked key did not fail")
except psycopg.errors.ObjectNotInPrerequisiteState:
    pass
cur.execute("SELECT key FROM apikey_rotate(%s, %s)", (kid2, "1 hour"))
out.append(cur.fetchone()[0])
cur.execute("SELECT status FROM apikey_verify(%s)", (out[-1],))
assert cur.fetchone()[0] == "valid"
print("\n".join(out))
PY
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $python, '-c', $script, $node->connstr($db) ], '>', \$out, '2>', \$err);
	ok($ok, 'psycopg: create, verify, revoke, rotate with bound parameters') or diag($err);
	@bound_keys = grep { length } split /\n/, $out;
	is(scalar(@bound_keys), 4, 'psycopg: four keys to look for');
	my $stmts = slurp_file($node->logfile);
	like($stmts, qr/apikey_verify\(\$1\)/, 'psycopg: the statements were logged with placeholders');
}

my $log_at_end = log_size();

# --- what to look for ---------------------------------------------------------
my @keys = split /\n/, $node->safe_psql($db, q{
	SELECT key FROM k_valid UNION ALL SELECT key FROM k_revoked UNION ALL SELECT key FROM k_disabled
	UNION ALL SELECT key FROM k_rotsrc UNION ALL SELECT key FROM k_unknown UNION ALL SELECT key FROM k_spare
	UNION ALL SELECT key FROM k_malformed UNION ALL SELECT key FROM k_rotated});
push @keys, @bound_keys;
is(scalar(@keys), 8 + scalar(@bound_keys), 'all keys collected');
my @hashes = split /\n/, $node->safe_psql($db, q{
	SELECT encode(key_hash, 'hex') FROM apikey.keys UNION ALL SELECT encode(key_hash, 'hex') FROM gone_hash});
cmp_ok(scalar(@hashes), '>=', 7, 'all hashes collected');
my @b64 = split /\n/, $node->safe_psql($db, q{
	SELECT translate(encode(key_hash, 'base64'), E'\n', '') FROM apikey.keys
	UNION ALL SELECT translate(encode(key_hash, 'base64'), E'\n', '') FROM gone_hash});

# needles: each key, its 32 random characters (a key cut anywhere still shows
# them), each hash in lower- and upper-case hex, as \x..., and in base64
my @needles;
for my $k (@keys) {
	push @needles, [ 'a key', $k ];
	push @needles, [ 'the random part of a key', substr($k, 8, 32) ] if length($k) >= 40;
}
for my $h (@hashes) {
	push @needles, [ 'a key hash (hex)', $h ], [ 'a key hash (HEX)', uc $h ], [ 'a key hash (\x)', "\\x$h" ];
	# a hash cut in half still identifies it
	push @needles, [ 'half a key hash (hex)', substr($h, 0, 32) ], [ 'half a key hash (HEX)', uc substr($h, 32) ];
}
push @needles, map { [ 'a key hash (base64)', $_ ] } @b64;

my $stat = $node->safe_psql($db, q{SELECT string_agg(query, E'\n') FROM pg_stat_statements});
like($stat, qr/apikey\.keys/, 'pg_stat_statements saw the nested statements of the extension');

$node->stop;    # everything flushed to the log
my $log = slurp_file($node->logfile);

# the log did record what we think it recorded
like($log, qr/statement: CREATE TABLE k_valid AS SELECT \* FROM apikey_create/, 'log_statement logged the calls');
like($log, qr/Query Text: .*INSERT INTO apikey\.keys/, 'auto_explain logged the nested INSERT of a key');
like($log, qr/Query Text: .*UPDATE apikey\.keys/, 'auto_explain logged nested UPDATEs');
like($log, qr/ERROR:  P0002: API key does not exist/, 'the revoke errors were logged');
like($log, qr/duration: /, 'durations were logged');

# The log in phases: keys read from tables (everything but the two phases
# below), keys in PL/pgSQL variables, keys as bound protocol parameters
my %segment = (
	'keys from tables' => substr($log, 0, $log_at_plpgsql) . substr($log, $log_at_end),
	'keys in PL/pgSQL variables' => substr($log, $log_at_plpgsql, $log_at_bound - $log_at_plpgsql),
	'keys as bound parameters' => substr($log, $log_at_bound, $log_at_end - $log_at_bound));
for my $phase ('keys from tables', 'keys in PL/pgSQL variables', 'keys as bound parameters') {
	my $text = $segment{$phase};
	my @found = grep { index($text, $_->[1]) >= 0 } @needles;
	my @lines = uniq(map { my $n = $_->[1]; grep { index($_, $n) >= 0 } split /\n/, $text } @found);
	is(scalar(@found), 0, "no key, random part or key hash in the server log ($phase)")
	  or diag(scalar(@found) . " needles found (" . join(', ', uniq(map { $_->[0] } @found))
		. "), on lines like:\n" . join("\n", map { redact($_) } @lines[0 .. ($#lines < 3 ? $#lines : 3)]));
}
my @in_stat = grep { index($stat, $_->[1]) >= 0 } @needles;
is(scalar(@in_stat), 0, 'no key, random part or key hash in pg_stat_statements')
  or diag('found in pg_stat_statements: ' . join(', ', map { $_->[0] } @in_stat));
cmp_ok(scalar(@needles), '>', 40, scalar(@needles) . ' needles searched');

done_testing();

# Bytes in the server log so far (the server writes it unbuffered)
sub log_size
{
	return -s $node->logfile;
}

sub uniq
{
	my %seen;
	return grep { !$seen{$_}++ } @_;
}

# A log line with anything key-like masked (for diagnostics)
sub redact
{
	my $line = shift;
	$line =~ s/([a-z0-9]{2,8}_(?:live|test)_)[0-9A-Za-z]+/$1<redacted>/g;
	return $line;
}
