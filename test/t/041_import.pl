# Imported keys across sessions: a bcrypt import is re-stored under the
# scheme of a new key (HMAC-SHA-256 with the pepper) by its first valid
# verification; a verification never waits for a row another transaction
# holds (it verifies, skips the re-store, and a later one does it); and what
# the re-store costs a concurrent revoke: the revoke waits for the verifying
# transaction that holds the re-stored row.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('import');
$node->init;
my $pepper = $node->basedir . '/pepper';
open(my $fh, '>', $pepper) or die "open $pepper: $!";
print $fh "import-tap-pepper\n";
close($fh);
chmod(0600, $pepper) or die "chmod $pepper: $!";
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'apikey'
apikey.pepper_file = '$pepper'
max_prepared_transactions = 2
});
$node->start;

# keys travel through a table, never SQL text
$node->safe_psql('postgres', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	SELECT apikey_register_format('ctza_', 'hex', 40, lookup_length => 9);
	CREATE TABLE k (n int PRIMARY KEY, key text, id bigint);
	INSERT INTO k (n, key)
		SELECT n, 'ctza_' || lpad(to_hex(n), 4, '0') || encode(gen_random_bytes(18), 'hex')
		  FROM generate_series(1, 4) n;
	UPDATE k SET id = apikey_import('t1', '1', 'cotizera ' || n,
									bcrypt_hash => crypt(key, gen_salt('bf', 4)), prefix => left(key, 9));
});

sub status_of
{
	my ($n) = @_;
	return $node->safe_psql('postgres', "SELECT v.status FROM k, apikey_verify(k.key) v WHERE k.n = $n");
}

sub scheme_of
{
	my ($n) = @_;
	return $node->safe_psql('postgres',
		"SELECT a.hash_scheme FROM apikey.keys a JOIN k USING (id) WHERE k.n = $n");
}

# 1. the first valid verification re-stores the key as HMAC-SHA-256 with the pepper
is(scheme_of(1), 'bcrypt', 'imported as bcrypt');
is(status_of(1), 'valid', 'the bcrypt import verifies');
is($node->safe_psql('postgres', q{
	SELECT a.hash_scheme || ' ' || (a.key_hash = hmac(k.key, 'import-tap-pepper', 'sha256'))
	       || ' ' || (a.bcrypt_hash IS NULL)
	  FROM apikey.keys a JOIN k USING (id) WHERE k.n = 1}),
	'hmac-sha256 true true', 're-stored as HMAC-SHA-256 with the pepper, bcrypt hash gone');
is(status_of(1), 'valid', 'and verifies by its HMAC');
is($node->safe_psql('postgres', q{
	SELECT string_agg(e.action, ',' ORDER BY e.id) FROM apikey.events e JOIN k ON k.id = e.key_id WHERE k.n = 1}),
	'import,rehash', 'one import and one rehash event');

# 2. a row held by another transaction: verification does not wait, and skips the re-store
my $id2 = $node->safe_psql('postgres', 'SELECT id FROM k WHERE n = 2');
my ($in, $out, $err) = ('', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN;\nSELECT id FROM apikey.keys WHERE id = $id2 FOR UPDATE;\nSELECT 'locked';\n";
$holder->pump until $out =~ /locked/;
is($node->safe_psql('postgres',
		"SET lock_timeout = '2s'; SELECT v.status FROM k, apikey_verify(k.key) v WHERE k.n = 2"),
	'valid', 'verifies while another transaction holds its row');
is(scheme_of(2), 'bcrypt', 'the re-store was skipped');
$in .= "COMMIT;\n\\q\n";
$holder->finish;
is(status_of(2), 'valid', 'verifies once the row is free');
is(scheme_of(2), 'hmac-sha256', 'and the next verification re-stores it');

# 3. the cost: a revoke of the key waits for the transaction whose
# verification re-stored it (the row lock lasts until it ends)
my $id3 = $node->safe_psql('postgres', 'SELECT id FROM k WHERE n = 3');
($in, $out, $err) = ('', '', '');
my $verifier = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN;\nSELECT 'verified ' || v.status FROM k, apikey_verify(k.key) v WHERE k.n = 3;\n";
$verifier->pump until $out =~ /verified/;
like($out, qr/verified valid/, 'verified in an open transaction');
my ($ret, $rout, $rerr) = $node->psql('postgres',
	"SET lock_timeout = '300ms'; SELECT apikey_revoke($id3, 'tap')");
like($rerr, qr/lock timeout/, 'a revoke meanwhile waits for the verifying transaction');
$in .= "COMMIT;\n\\q\n";
$verifier->finish;
is($node->safe_psql('postgres', "SET lock_timeout = '2s'; SELECT apikey_revoke($id3, 'tap')"),
	't', 'and goes through once it ends');
is(status_of(3), 'revoked', 'the key is revoked');

# 4. the re-store records a 'rehash' event but sends no NOTIFY: the verifying
# transaction can still PREPARE (two-phase commit refuses after a NOTIFY)
my ($pret, $pout, $perr) = $node->psql('postgres', q{
	BEGIN;
	SELECT v.status FROM k, apikey_verify(k.key) v WHERE k.n = 4;
	PREPARE TRANSACTION 'apikey_tap';
	COMMIT PREPARED 'apikey_tap';
});
is($pret, 0, 'a transaction whose verification re-stored a key can PREPARE') or diag($perr);
is(scheme_of(4), 'hmac-sha256', 'and its re-store is committed with it');

# nothing ever logs a key or a hash
my $log = slurp_file($node->logfile);
my $keys = $node->safe_psql('postgres', q{SELECT string_agg(key, ' ') FROM k});
my $leaked = grep { index($log, $_) >= 0 } split(/ /, $keys);
is($leaked, 0, 'no key in the server log');

$node->stop;
done_testing();
