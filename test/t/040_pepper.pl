# apikey.pepper: new keys are stored as HMAC-SHA-256(pepper, key) so that a
# stolen table alone cannot confirm a candidate key; keys stored before keep
# verifying (the scheme is recorded per row), and a pepper can be rotated
# with apikey.previous_pepper.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pepper');
$node->init;
# with a pepper the library must be preloaded: until a session loads it,
# PostgreSQL would show the setting to anyone as a plain placeholder
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'apikey'\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	CREATE TABLE k (label text PRIMARY KEY, id bigint, key text);
	CREATE ROLE app LOGIN;
	GRANT apikey_verifier TO app;
});

# mint a key labelled $label (keys travel through a table, never SQL text)
sub mint
{
	my ($label) = @_;
	$node->safe_psql('postgres',
		"INSERT INTO k SELECT '$label', id, key FROM apikey_create('t1', '1', '$label')");
}

sub status_of
{
	my ($label) = @_;
	return $node->safe_psql('postgres',
		"SELECT v.status FROM k, apikey_verify(k.key) v WHERE k.label = '$label'");
}

sub scheme_of
{
	my ($label) = @_;
	return $node->safe_psql('postgres',
		"SELECT hash_scheme || ' ' || (key_hash = digest(k.key, 'sha256')) FROM apikey.keys a JOIN k USING (id) WHERE k.label = '$label'");
}

sub set_peppers
{
	my ($pepper, $previous) = @_;
	# postgresql.conf, as the README says (the last setting in the file
	# wins); peppers are read at server start only
	$node->append_conf('postgresql.conf',
		"apikey.pepper = '$pepper'\napikey.previous_pepper = '$previous'\n");
	$node->restart;
}

mint('plain');
is(scheme_of('plain'), 'sha256 true', 'without a pepper a key is stored as its SHA-256');

set_peppers('first-secret-pepper', '');
mint('p1');
is(scheme_of('p1'), 'hmac-sha256 false', 'with a pepper the stored hash is an HMAC, not the SHA-256');
is($node->safe_psql('postgres',
		q{SELECT a.key_hash = hmac(k.key, 'first-secret-pepper', 'sha256') FROM apikey.keys a JOIN k USING (id) WHERE k.label = 'p1'}),
	't', 'the stored hash is HMAC-SHA-256(pepper, key)');
is(status_of('p1'), 'valid', 'a peppered key verifies');
is(status_of('plain'), 'valid', 'a key stored before the pepper still verifies');

# only superusers can read the pepper
my ($ret, $out, $err) = $node->psql('postgres', 'SHOW apikey.pepper', extra_params => [ '-U', 'app' ]);
isnt($ret, 0, 'an application role cannot read apikey.pepper');
like($err, qr/permission denied|must be superuser|privileges of pg_read_all_settings/, 'refused with a permission error');

# rotation: new pepper, old one kept as previous
set_peppers('second-secret-pepper', 'first-secret-pepper');
mint('p2');
is(status_of('p1'), 'valid', 'a key stored with the previous pepper verifies during rotation');
is(status_of('p2'), 'valid', 'a key stored with the new pepper verifies');
is(status_of('plain'), 'valid', 'a plain SHA-256 key still verifies');

# revoke by key works whatever the scheme
is($node->safe_psql('postgres', q{SELECT apikey_revoke(key, 'test') FROM k WHERE label = 'p1'}), 't',
	'revoke by key finds a key stored with the previous pepper');
is(status_of('p1'), 'revoked', 'and it is revoked');

# once the previous pepper is dropped, keys stored with it no longer match
set_peppers('second-secret-pepper', '');
is(status_of('p2'), 'valid', 'current pepper keys verify');
is($node->safe_psql('postgres', q{SELECT count(*) FROM apikey.keys WHERE hash_scheme = 'hmac-sha256'}), '2',
	'the scheme is recorded per row');

# the server log never shows a pepper (statements of this test aside: they
# carry it in SQL text on purpose, in the HMAC check above)
my @leaks = grep { /secret-pepper/ && !/statement: / } split /\n/, slurp_file($node->logfile);
is(scalar(@leaks), 0, 'the server never logs a pepper') or diag(join("\n", @leaks));

# without preloading, a pepper in postgresql.conf stops key creation
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
my ($r2, $o2, $e2) = $node->psql('postgres', q{SELECT * FROM apikey_create('t1', '1', 'no preload')});
like($e2, qr/apikey.pepper is set but the apikey library is not preloaded/,
	'a pepper without preloading refuses to mint keys stored without it');

$node->stop;
done_testing();
