# A bulk create of 200000 keys in one statement is killed with SIGKILL half
# way; the postmaster restarts every process and recovers.  Nothing of the
# killed statement remains (no key, no audit event), the tables and their
# indexes are intact (amcheck), earlier keys still verify, and the extension
# creates, verifies and revokes keys again.  The server log shows the crash
# and the recovery.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('crash_bulk');
$node->init;
$node->append_conf('postgresql.conf', qq{
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE EXTENSION amcheck;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	CREATE TABLE before_crash AS SELECT c.id, c.key FROM generate_series(1, 20) g, apikey_create('t1', '1', 'before ' || g) c;
	SELECT apikey_revoke(id, 'before the crash') FROM before_crash WHERE id % 5 = 0;
	CHECKPOINT;
});
my $keys0 = $node->safe_psql('postgres', 'SELECT count(*) FROM apikey.keys');
my $events0 = $node->safe_psql('postgres', 'SELECT count(*) FROM apikey.events');
my $seq0 = $node->safe_psql('postgres', 'SELECT last_value FROM apikey.keys_id_seq');
my $statuses = q{SELECT string_agg(v.status, ',' ORDER BY b.id) FROM before_crash b, apikey_verify(b.key) v};
my $statuses0 = $node->safe_psql('postgres', $statuses);
is($keys0, '20', '20 keys before the bulk create');

# the bulk create, in the background
my ($in, $out, $err) = ('', '', '');
my $bulk = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
	  q{SET application_name = 'bulk'; SELECT count(*) FROM generate_series(1, 200000) g, apikey_create('t1', '1', 'bulk ' || g) c} ],
	'<', \$in, '>', \$out, '2>', \$err);

# the sequence is not transactional: it shows the statement's progress
ok($node->poll_query_until('postgres', "SELECT last_value > $seq0 + 2000 FROM apikey.keys_id_seq"),
	'the bulk create is under way (over 2000 keys minted)');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE application_name = 'bulk'});
like($pid, qr/^\d+$/, 'the bulk backend is still running');
my $minted = $node->safe_psql('postgres', 'SELECT last_value FROM apikey.keys_id_seq') - $seq0;
cmp_ok($minted, '<', 200000, "killed part-way ($minted of 200000 keys minted)");
ok(kill('KILL', $pid), "SIGKILL to the bulk backend $pid");
$bulk->finish;
isnt($bulk->result, 0, 'the bulk statement failed');

# crash recovery
ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'server back after crash recovery');

# nothing of the killed statement remains
is($node->safe_psql('postgres', 'SELECT count(*) FROM apikey.keys'), $keys0, 'no key of the killed statement remains');
is($node->safe_psql('postgres', q{SELECT count(*) FROM apikey.keys WHERE name LIKE 'bulk %'}), '0', 'no bulk key at all');
is($node->safe_psql('postgres', 'SELECT count(*) FROM apikey.events'), $events0, 'no audit event of the killed statement remains');

# the tables and indexes are intact
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT bt_index_check(c.oid, true) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		 WHERE i.indrelid IN ('apikey.keys'::regclass, 'apikey.events'::regclass, 'users'::regclass)) s}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM pg_index WHERE indrelid IN ('apikey.keys'::regclass, 'apikey.events'::regclass, 'users'::regclass)}),
	'every index of apikey.keys, apikey.events and users passes bt_index_check (heapallindexed)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM apikey.keys k JOIN before_crash b USING (id)}), '20',
	'the keys made before the crash are all there');

# the extension works
is($node->safe_psql('postgres', $statuses), $statuses0, 'the keys made before the crash verify as before');
$node->safe_psql('postgres', q{CREATE TABLE after_crash AS SELECT c.id, c.key FROM apikey_create('t1', '1', 'after') c});
# (ids handed out to the killed, never committed statement may be handed out
# again: the sequence's WAL was not flushed; no row ever had them)
cmp_ok($node->safe_psql('postgres', 'SELECT id FROM after_crash'), '>', $seq0,
	'a new key gets an id above every committed id');
is($node->safe_psql('postgres', 'SELECT count(*) FROM apikey.keys WHERE id IN (SELECT id FROM after_crash)'), '1',
	'and it is unique');
is($node->safe_psql('postgres', q{SELECT v.status FROM after_crash a, apikey_verify(a.key) v}), 'valid', 'create and verify after the crash');
is($node->safe_psql('postgres', q{SELECT apikey_revoke_key(key, 'after') FROM after_crash}), 't', 'revoke after the crash');
is($node->safe_psql('postgres', q{SELECT v.status FROM after_crash a, apikey_verify(a.key) v}), 'revoked', 'revoked after the crash');
is($node->safe_psql('postgres', q{SELECT count(*) FROM generate_series(1, 1000) g, apikey_create('t1', '1', 'again ' || g) c}),
	'1000', 'a bulk create of 1000 keys succeeds after the crash');

# the log shows the crash and the recovery
my $log = slurp_file($node->logfile);
like($log, qr/server process \(PID $pid\) was terminated by signal 9/, 'the log shows the backend killed by signal 9');
like($log, qr/all server processes terminated; reinitializing/, 'the log shows the restart');
like($log, qr/database system was not properly shut down; automatic recovery in progress/, 'the log shows crash recovery');

$node->stop;
done_testing();
