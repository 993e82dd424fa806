# The pepper: new keys are stored as HMAC-SHA-256(pepper, key) so that a
# stolen table alone cannot confirm a candidate key; keys stored before keep
# verifying (the scheme is recorded per row), and a pepper can be rotated
# with a previous pepper.  The peppers live in files named by
# apikey.pepper_file and apikey.previous_pepper_file, readable only by the
# server's OS user: no role can read them, with or without preloading
# (issue 9, finding 5: a pepper kept in the setting apikey.pepper was a
# placeholder any role could SHOW until the library loaded).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pepper');
$node->init(allows_streaming => 1);
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
	CREATE ROLE nobody LOGIN;
});

# the pepper files, in a directory of the server's OS user (the test runs as it)
my $dir = $node->basedir . '/peppers';
mkdir($dir, 0700) or die "mkdir $dir: $!";

# writes a pepper file (one line) with mode $mode (default 0600); returns its path
sub pepper_file
{
	my ($name, $value, $mode) = @_;
	my $path = "$dir/$name";
	open(my $fh, '>', $path) or die "open $path: $!";
	print $fh "$value\n";
	close($fh);
	chmod($mode // 0600, $path) or die "chmod $path: $!";
	return $path;
}

# mint a key labelled $label (keys travel through a table, never SQL text)
sub mint
{
	my ($label) = @_;
	$node->safe_psql('postgres',
		"INSERT INTO k SELECT '$label', id, key FROM apikey_create('t1', '1', '$label')");
}

sub try_mint
{
	my ($label) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"INSERT INTO k SELECT '$label', id, key FROM apikey_create('t1', '1', '$label')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
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

# postgresql.conf (the last setting in the file wins); the files are read
# when the library loads, so at server start when preloaded
sub set_peppers
{
	my ($pepper, $previous) = @_;
	$node->append_conf('postgresql.conf',
		"apikey.pepper_file = '$pepper'\napikey.previous_pepper_file = '$previous'\n");
	$node->restart;
}

# Everything a role with no grants can ask about the pepper, as one text.
# Not one of these may show the pepper's value.
sub what_nobody_sees
{
	my ($file) = @_;
	my $all = '';
	for my $sql ('SHOW apikey.pepper', 'SHOW apikey.pepper_file', 'SHOW apikey.previous_pepper_file',
		'SHOW ALL', q{SELECT name, setting, reset_val, boot_val FROM pg_settings WHERE name LIKE 'apikey.%'},
		q{SELECT current_setting('apikey.pepper', true), current_setting('apikey.pepper_file', true)},
		"SELECT pg_read_file('$file')", "SELECT pg_read_binary_file('$file')",
		q{SELECT * FROM pg_file_settings})
	{
		my ($ret, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-U', 'nobody' ]);
		$all .= "$sql\n$out\n$err\n";
	}
	return $all;
}

mint('plain');
is(scheme_of('plain'), 'sha256 true', 'without a pepper a key is stored as its SHA-256');

my $first = pepper_file('first', 'first-secret-pepper');
set_peppers($first, '');
mint('p1');
is(scheme_of('p1'), 'hmac-sha256 false', 'with a pepper file the stored hash is an HMAC, not the SHA-256');
is($node->safe_psql('postgres',
		q{SELECT a.key_hash = hmac(k.key, 'first-secret-pepper', 'sha256') FROM apikey.keys a JOIN k USING (id) WHERE k.label = 'p1'}),
	't', 'the stored hash is HMAC-SHA-256(file content less its newline, key)');
is(status_of('p1'), 'valid', 'a peppered key verifies');
is(status_of('plain'), 'valid', 'a key stored before the pepper still verifies');

# no_grant_role_cannot_read_pepper (preloaded)
my $seen = what_nobody_sees($first);
unlike($seen, qr/first-secret-pepper/, 'preloaded: a role with no grants cannot read the pepper');
like($seen, qr/permission denied for function pg_read_file/, 'nor read the pepper file');
my ($ret, $out, $err) = $node->psql('postgres', 'SHOW apikey.pepper_file', extra_params => [ '-U', 'app' ]);
isnt($ret, 0, 'an application role cannot read apikey.pepper_file');
like($err, qr/permission denied|must be superuser|privileges of pg_read_all_settings/, 'refused with a permission error');

# rotation: new pepper, old one kept as previous
my $second = pepper_file('second', 'second-secret-pepper');
set_peppers($second, $first);
mint('p2');
is(status_of('p1'), 'valid', 'a key stored with the previous pepper verifies during rotation');
is(status_of('p2'), 'valid', 'a key stored with the new pepper verifies');
is(status_of('plain'), 'valid', 'a plain SHA-256 key still verifies');
is($node->safe_psql('postgres',
		q{SELECT a.key_hash = hmac(k.key, 'second-secret-pepper', 'sha256') FROM apikey.keys a JOIN k USING (id) WHERE k.label = 'p2'}),
	't', 'a new key is stored with the new pepper');

# revoke by key works whatever the scheme
is($node->safe_psql('postgres', q{SELECT apikey_revoke_key(key, 'test') FROM k WHERE label = 'p1'}), 't',
	'revoke by key finds a key stored with the previous pepper');
is(status_of('p1'), 'revoked', 'and it is revoked');

# once the previous pepper is dropped, keys stored with it no longer match
set_peppers($second, '');
is(status_of('p2'), 'valid', 'current pepper keys verify');
is(status_of('p1'), 'unknown', 'a key of the dropped previous pepper is unknown');
is($node->safe_psql('postgres', q{SELECT count(*) FROM apikey.keys WHERE hash_scheme = 'hmac-sha256'}), '2',
	'the scheme is recorded per row');

# a pepper file the server's OS user is not alone to read is refused, as
# PostgreSQL refuses such an ssl_key_file: no key is minted without it, and
# keys stored with it answer unknown (verification never raises)
my $offset = -s $node->logfile;
chmod(0640, $second) or die;
$node->restart;
like(try_mint('refused'), qr/55000.*apikey.pepper_file cannot be used.*group or world access/s,
	'a group-readable pepper file: key creation refuses (55000)');
is(status_of('p2'), 'unknown', 'keys of that pepper answer unknown');
is(status_of('plain'), 'valid', 'plain keys still verify');
like(slurp_file($node->logfile, $offset), qr/WARNING:  apikey.pepper_file cannot be used/,
	'the server warns at start');
chmod(0604, $second) or die;
$node->restart;
like(try_mint('refused'), qr/group or world access/, 'a world-readable pepper file is refused too');
chmod(0600, $second) or die;
unlink($first) or die;
set_peppers("$dir/missing", '');
like(try_mint('refused'), qr/55000.*could not open file/s, 'a missing pepper file: key creation refuses');
pepper_file('empty', '');
set_peppers("$dir/empty", '');
like(try_mint('refused'), qr/is empty/, 'an empty pepper file: key creation refuses');
pepper_file('two_lines', "second-secret-pepper\nsecond-secret-pepper");
set_peppers("$dir/two_lines", '');
like(try_mint('refused'), qr/holds more than one line/, 'a pepper file of two lines: key creation refuses');
set_peppers($second, '');
is(status_of('p2'), 'valid', 'fixed: the key verifies again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM k WHERE label = 'refused'}), '0',
	'no key was minted while the pepper could not be used');

# no_grant_role_cannot_read_pepper (not preloaded): the library reads the
# file when a session loads it; the setting holds only the path
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
$seen = what_nobody_sees($second);
unlike($seen, qr/second-secret-pepper/, 'not preloaded: a role with no grants cannot read the pepper');
like($seen, qr/permission denied for function pg_read_file/, 'nor read the pepper file');
is(status_of('p2'), 'valid', 'not preloaded: a peppered key verifies');
mint('p3');
is($node->safe_psql('postgres',
		q{SELECT a.key_hash = hmac(k.key, 'second-secret-pepper', 'sha256') FROM apikey.keys a JOIN k USING (id) WHERE k.label = 'p3'}),
	't', 'not preloaded: a new key is stored with the pepper');
# and in sessions that load the library at start (session_preload_libraries)
$node->safe_psql('postgres', q{ALTER ROLE nobody SET session_preload_libraries = 'apikey'});
$seen = what_nobody_sees($second);
like($seen, qr/permission denied to examine "apikey.pepper_file"|must be superuser/,
	'session preloaded: the setting is superuser-only once the library is loaded');
unlike($seen, qr/second-secret-pepper/, 'session preloaded: nothing to read either');
$node->safe_psql('postgres', q{ALTER ROLE nobody RESET session_preload_libraries});

# the obsolete setting apikey.pepper: never used, a WARNING that never shows
# its value, and no key minted while it is in the configuration
$offset = -s $node->logfile;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'apikey'\napikey.pepper = 'legacy-secret-pepper'\n");
$node->restart;
like(try_mint('legacy'), qr/55000.*apikey.pepper is set but no longer supported/s,
	'apikey.pepper in the configuration: key creation refuses (55000)');
is(status_of('p3'), 'valid', 'keys of the pepper file still verify');
my $log = slurp_file($node->logfile, $offset);
like($log, qr/apikey.pepper and apikey.previous_pepper are no longer supported and are ignored/,
	'the server warns about apikey.pepper');
unlike($log, qr/legacy-secret-pepper/, 'without showing its value');
$seen = what_nobody_sees($second);
unlike($seen, qr/legacy-secret-pepper|second-secret-pepper/,
	'preloaded: the obsolete setting cannot be read either');
$node->append_conf('postgresql.conf', "apikey.pepper = ''\n");
$node->restart;
mint('p4');
is(status_of('p4'), 'valid', 'with apikey.pepper gone, keys are minted again');

# a standby needs the same pepper file: its configuration (copied by the
# base backup here) names the file; without it, peppered keys are unknown
$node->backup('pepper_backup');
my $standby = PostgreSQL::Test::Cluster->new('pepper_standby');
$standby->init_from_backup($node, 'pepper_backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby, 'replay');
my $verify_p4 = q{SELECT v.status FROM k, apikey_verify(k.key) v WHERE k.label = 'p4'};
is($standby->safe_psql('postgres', $verify_p4), 'valid', 'standby with the pepper file: a peppered key verifies');
$standby->append_conf('postgresql.conf', "apikey.pepper_file = ''\n");
$standby->restart;
is($standby->safe_psql('postgres', $verify_p4), 'unknown', 'standby without it: the key is unknown');
$standby->stop;

# the server log never shows a pepper (statements of this test aside: they
# carry it in SQL text on purpose, in the HMAC checks above)
my @leaks = grep { /secret-pepper/ && !/statement: / } split /\n/,
  slurp_file($node->logfile) . slurp_file($standby->logfile);
is(scalar(@leaks), 0, 'neither server ever logs a pepper') or diag(join("\n", @leaks));

$node->stop;
done_testing();
