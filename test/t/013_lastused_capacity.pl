# Last-used capacity with the library preloaded: several concurrent sessions
# verifying distinct keys below apikey.last_used_capacity lose no note (the
# partitions of the pending table share one pool, and a note whose partition
# lock is busy waits in the backend instead of being dropped), and every one
# of them reaches last_used_at; beyond the capacity the surplus is dropped
# and counted exactly, and verification still answers.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $capacity = 1000;
my $sessions = 4;
my $below = 900;	# distinct keys verified in phase 1
my $above = 1200;	# distinct keys verified in phase 2

my $node = PostgreSQL::Test::Cluster->new('capacity');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'apikey'
apikey.last_used_capacity = $capacity
apikey.last_used_flush_interval = 60000
max_connections = 20
});
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	CREATE TABLE tap_keys (i int PRIMARY KEY, id bigint NOT NULL, key text NOT NULL);
	INSERT INTO tap_keys SELECT g, k.id, k.key
	  FROM generate_series(1, $below + $above) g, LATERAL apikey_create('t1', '1', 'cap ' || g) k;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM tap_keys'), $below + $above, 'keys minted');

# Runs $sessions psql sessions at once, session s verifying the keys i in
# [lo, hi] with i % $sessions = s, one key per statement (so each session's
# notes also go through many transaction ends); returns the number of
# verifications that answered valid.
sub verify_concurrently
{
	my ($lo, $hi) = @_;
	my @runs;
	for my $s (0 .. $sessions - 1)
	{
		my $sql = "SET client_min_messages = warning;\n";
		for (my $i = $lo; $i <= $hi; $i++)
		{
			next unless $i % $sessions == $s;
			$sql .= "SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.i = $i;\n";
		}
		# a file, not stdin: a harness feeds stdin only while it is pumped,
		# and the sessions must run at the same time
		my $file = $node->basedir . "/verify_${lo}_$s.sql";
		open(my $fh, '>', $file) or die "could not write $file: $!";
		print $fh $sql;
		close($fh);
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $file ],
			'>', \$out, '2>', \$err);
		push @runs, [ $h, \$out, \$err ];
	}
	my $valid = 0;
	for my $r (@runs)
	{
		my ($h, $out, $err) = @$r;
		$h->finish;
		is($h->result(0), 0, 'session exited cleanly');
		is($$err, '', 'session printed no error');
		$valid += () = $$out =~ /^valid$/mg;
	}
	return $valid;
}

sub stats
{
	return $node->safe_psql('postgres',
		'SELECT last_used_dropped, last_used_pending, last_used_written FROM apikey_stats()');
}

sub flush_now
{
	# every session's backend has exited (and put its backlog in)
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM pg_stat_activity
		 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}),
		'every session has exited');
	# a short interval wakes the launcher (the reload sets its latch)
	$node->safe_psql('postgres', 'ALTER SYSTEM SET apikey.last_used_flush_interval = 200');
	$node->reload;
	# pending first, then pg_stat_activity (CASE fixes the order): a flush
	# worker that took the notes after the first read is still seen by the second
	ok($node->poll_query_until('postgres', q{
		SELECT CASE WHEN (SELECT last_used_pending FROM apikey_stats()) = 0
		  THEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'apikey last-used flush')
		  ELSE false END}),
		'the flush empties the pending table');
	$node->safe_psql('postgres', 'ALTER SYSTEM SET apikey.last_used_flush_interval = 60000');
	$node->reload;
	# let the launcher pick up the long interval before the next phase
	sleep(2);
}

# 1. below capacity: nothing is dropped, everything arrives
$node->safe_psql('postgres', 'SELECT apikey_stats_reset()');
is(verify_concurrently(1, $below), $below, "$below distinct keys verified by $sessions sessions at once");
is(stats(), "0|$below|0", "0 dropped, $below pending, none written yet (capacity $capacity)");
flush_now();
is($node->safe_psql('postgres',
		"SELECT count(*) FROM apikey.keys k JOIN tap_keys t ON t.id = k.id WHERE t.i <= $below AND k.last_used_at IS NOT NULL"),
	$below, "every one of the $below keys has last_used_at");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM apikey.keys k JOIN tap_keys t ON t.id = k.id WHERE t.i > $below AND k.last_used_at IS NOT NULL"),
	'0', 'no other key has last_used_at');
is(stats(), "0|0|$below", "apikey_stats: $below written, 0 dropped, 0 pending");

# 2. above capacity: the surplus is dropped and counted, verification answers
$node->safe_psql('postgres', 'SELECT apikey_stats_reset()');
is(verify_concurrently($below + 1, $below + $above), $above,
	"$above more distinct keys verified by $sessions sessions at once, all valid");
my $over = $above - $capacity;
is(stats(), "$over|$capacity|0", "$over dropped and counted, $capacity pending");
flush_now();
is($node->safe_psql('postgres',
		"SELECT count(*) FROM apikey.keys k JOIN tap_keys t ON t.id = k.id WHERE t.i > $below AND k.last_used_at IS NOT NULL"),
	$capacity, "the $capacity keys that fitted have last_used_at");
is(stats(), "$over|0|$capacity", "apikey_stats: $capacity written, $over dropped, 0 pending");

# no key in the server log
my $log = slurp_file($node->logfile);
my $leaked = 0;
for my $k (split /\n/, $node->safe_psql('postgres', 'SELECT key FROM tap_keys'))
{
	$leaked++ if index($log, $k) >= 0;
}
is($leaked, 0, 'no key appears in the server log');

$node->stop;
done_testing();
