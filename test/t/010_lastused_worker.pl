# Last-used tracking with the library preloaded: uses reach last_used_at
# through the background worker within the flush interval, a hot key costs
# no WAL per verification, and after a backend is killed with SIGKILL (the
# postmaster then restarts every process) the worker and verification are back.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('lastused');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'apikey'
apikey.last_used_flush_interval = 500
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
});
# the key travels through a table: log_statement = all would log a literal
$node->safe_psql('postgres', q{CREATE TABLE tap_key AS SELECT key FROM apikey_create('t1', '1', 'tap')});
my $key = $node->safe_psql('postgres', 'SELECT key FROM tap_key');
my $verify = 'SELECT v.status FROM tap_key t, apikey_verify(t.key) v';
like($key, qr/^ak_live_[0-9A-Za-z]{38}$/, 'key minted');

is($node->safe_psql('postgres', 'SELECT shared FROM apikey_stats()'), 't',
	'preloaded: counters live in shared memory');

# a verification writes nothing itself; the worker delivers the use
my $t0 = time();
is($node->safe_psql('postgres', $verify), 'valid', 'key verifies');
ok($node->poll_query_until('postgres', 'SELECT last_used_at IS NOT NULL FROM apikey.keys'),
	'last_used_at arrives');
my $lag = time() - $t0;
cmp_ok($lag, '<', 0.5 + 1 + 2, "last_used_at arrived within the flush interval plus slack ($lag s)");
is($node->safe_psql('postgres', 'SELECT last_used_written >= 1 FROM apikey_stats()'), 't',
	'apikey_stats counts the write');

# a hot key: thousands of verifications, no WAL of their own
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM generate_series(1, 5000) g, tap_key t, apikey_verify(t.key) v WHERE v.valid'),
	'5000', '5000 verifications of one key');
my $wal = $node->safe_psql('postgres', "SELECT pg_current_wal_lsn() - '$lsn0'::pg_lsn");
cmp_ok($wal, '<', 2048, "5000 verifications wrote $wal bytes of WAL (flushes included)");

# kill -9 a backend: the postmaster reinitializes; the launcher comes back
my ($in, $out, $err) = ('', '', '');
my $victim = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
	  "SET application_name = 'victim'; SELECT pg_sleep(300)" ],
	'<', \$in, '>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'victim'}),
	'victim backend is running');
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE application_name = 'victim'});
ok(kill('KILL', $pid), "SIGKILL to backend $pid");
$victim->finish;
ok($node->poll_query_until('postgres', 'SELECT true'), 'server accepts connections after crash restart');

is($node->safe_psql('postgres', $verify), 'valid',
	'verification works after the crash');
$node->safe_psql('postgres', 'UPDATE apikey.keys SET last_used_at = NULL');
is($node->safe_psql('postgres', $verify), 'valid', 'verify again');
ok($node->poll_query_until('postgres', 'SELECT last_used_at IS NOT NULL FROM apikey.keys'),
	'the restarted worker delivers last_used_at');

# nothing of the key in the server log
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$key\E/, 'the key never appears in the server log');
like($log, qr/terminated by signal 9/, 'the crash happened');

$node->stop;
done_testing();
