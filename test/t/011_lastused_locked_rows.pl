# The preloaded flush worker never waits for a key row another transaction
# holds (a revoke or a DBA's UPDATE in progress) and never holds rows while
# waiting: it skips the locked row, writes every other one, keeps the
# skipped note for the next flush, and delivers it once the row is free.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('lastused_locked');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'apikey'
apikey.last_used_flush_interval = 300
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	CREATE TABLE tap_keys AS
		SELECT n, k.id, k.key FROM generate_series(1, 2) n, apikey_create('t1', '1', 'tap ' || n) k;
});
my $held = $node->safe_psql('postgres', 'SELECT id FROM tap_keys WHERE n = 1');
my $free = $node->safe_psql('postgres', 'SELECT id FROM tap_keys WHERE n = 2');

# another session holds the row of the first key, uncommitted
my ($in, $out, $err) = ('', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "SET application_name = 'holder';\nBEGIN;\n"
  . "UPDATE apikey.keys SET metadata = '{\"by\": \"dba\"}' WHERE id = $held;\n"
  . "SELECT 'locked';\n";
$holder->pump until $out =~ /locked/;

is($node->safe_psql('postgres',
		'SELECT string_agg(v.status, \',\' ORDER BY t.n) FROM tap_keys t, apikey_verify(t.key) v'),
	'valid,valid', 'both keys verify while one row is held');

ok($node->poll_query_until('postgres',
		"SELECT last_used_at IS NOT NULL FROM apikey.keys WHERE id = $free"),
	'the free key gets its last_used_at while the other row is held');
is($node->safe_psql('postgres', "SELECT last_used_at IS NULL FROM apikey.keys WHERE id = $held"),
	't', 'the held row is not written');

# several flushes run meanwhile: none waits on the held row, the note stays pending
sleep(1);
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	 WHERE NOT l.granted AND a.backend_type = 'apikey last-used flush'}),
	'0', 'no flush worker waits for a lock');
is($node->safe_psql('postgres', 'SELECT last_used_pending >= 1 AND last_used_dropped = 0 FROM apikey_stats()'),
	't', 'the skipped note waits in shared memory, nothing dropped');

# a revoke of the free key is never held up by the flush
is($node->safe_psql('postgres',
		"SET lock_timeout = '1s'; SELECT apikey_revoke($free, 'tap')"),
	't', 'revoke of another key goes through');

$in .= "COMMIT;\n\\q\n";
$holder->finish;
ok($node->poll_query_until('postgres',
		"SELECT last_used_at IS NOT NULL FROM apikey.keys WHERE id = $held"),
	'once the row is free, the next flush delivers its last use');
is($node->safe_psql('postgres', 'SELECT last_used_dropped FROM apikey_stats()'),
	'0', 'no note was dropped');

$node->stop;
done_testing();
