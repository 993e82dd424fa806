# Last-used tracking with the library preloaded never makes a verification
# wait for one of apikey's LWLocks: 6 pgbench clients verify random keys
# while the flush runs every 100 ms over a large pending table
# (apikey.last_used_capacity = 1M), and pg_stat_activity, sampled all along,
# never shows a verifying backend waiting on an apikey lock.  Nothing is
# dropped, and every key used reaches last_used_at.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use ApikeyWaits;

my $nkeys = 20000;
my $seconds = 8;
my $nsamples = 250;

my $node = PostgreSQL::Test::Cluster->new('nowaits');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'apikey'
apikey.last_used_capacity = 1048576
apikey.last_used_flush_interval = 100
max_connections = 30
});
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	CREATE TABLE tap_keys (i int PRIMARY KEY, id bigint NOT NULL, key text NOT NULL);
	INSERT INTO tap_keys SELECT g, k.id, k.key
	  FROM generate_series(1, $nkeys) g, LATERAL apikey_create('t1', '1', 'w ' || g) k;
	VACUUM ANALYZE tap_keys;
	SELECT apikey_stats_reset();
});

my $script = $node->basedir . '/verify.pgbench';
open(my $fh, '>', $script) or die "could not write $script: $!";
print $fh "\\set i random(1, $nkeys)\n";
print $fh "SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.i = :i;\n";
close($fh);

my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '6', '-j', '2', '-T', $seconds,
	  '-f', $script, $node->connstr('postgres') ],
	'>', \$bench_out, '2>', \$bench_err);
sleep(1);
my $sampler = ApikeyWaits->start($node, $nsamples);
$bench->finish;
my ($samples, $waits, $active) = $sampler->finish;
is($bench->result(0), 0, 'pgbench ran') or diag($bench_err);

note("$samples samples, $active verifying backends seen active, $waits of them waiting on an apikey LWLock");
cmp_ok($samples, '>=', 50, "pg_stat_activity sampled during the run ($samples samples)");
cmp_ok($active, '>', 0, 'the samples saw verifying backends at work');
is($waits, 0, 'no verifying backend was ever seen waiting on an apikey LWLock');
like($bench_out, qr/tps = /, 'pgbench reported its rate');

# pgbench may leave before its backends have finished their last verification
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM pg_stat_activity
	 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}),
	'every pgbench backend has exited');
# pending first, then pg_stat_activity (CASE fixes the order): a flush
# worker that took the notes after the first read is still seen by the second
ok($node->poll_query_until('postgres', q{
	SELECT CASE WHEN (SELECT last_used_pending FROM apikey_stats()) = 0
	  THEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'apikey last-used flush')
	  ELSE false END}),
	'the flush empties the pending table');
is($node->safe_psql('postgres', 'SELECT last_used_dropped FROM apikey_stats()'), '0', 'no note dropped')
  or diag("apikey_stats: ", $node->safe_psql('postgres', 'SELECT * FROM apikey_stats()'),
		  "\nserver log lines about apikey:\n",
		  join("\n", grep { /apikey|ERROR|FATAL/ } split(/\n/, slurp_file($node->logfile))));
my ($written, $with) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT last_used_written FROM apikey_stats()), count(*)
	  FROM apikey.keys WHERE last_used_at IS NOT NULL});
cmp_ok($with, '>', 0, "keys used have last_used_at ($with)");
is($written, $with, 'every key used reached last_used_at, each written once');

$node->stop;
done_testing();
