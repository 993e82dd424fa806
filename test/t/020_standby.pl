# Keys on a streaming standby: verify answers like the primary for the
# replayed state, a revoke on the primary is refused once replayed, every
# write function fails with 25006, and verifications served by the standby
# reach the primary's last_used_at (forward-only) through the standby's
# launcher, which reconnects after the primary was down.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $conf = qq{
shared_preload_libraries = 'apikey'
apikey.last_used_flush_interval = 500
};

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;

$primary->safe_psql('postgres', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner'), (2, 't1', 'member'), (3, 't2', 'viewer');
	SELECT apikey_bind_users('users');
});
# keys travel through a table: log_statement = all would log a literal
$primary->safe_psql('postgres', q{
	CREATE TABLE tap_keys AS SELECT 'valid'::text AS name, key, id FROM apikey_create('t1', '1', 'valid');
	INSERT INTO tap_keys SELECT 'valid2', key, id FROM apikey_create('t2', '3', 'valid2');
	INSERT INTO tap_keys SELECT 'revoked', key, id FROM apikey_create('t1', '1', 'revoked');
	INSERT INTO tap_keys SELECT 'disabled', key, id FROM apikey_create('t1', '1', 'disabled');
	INSERT INTO tap_keys SELECT 'expired', key, id FROM apikey_create('t1', '1', 'expired');
	INSERT INTO tap_keys SELECT 'user_inactive', key, id FROM apikey_create('t1', '2', 'user_inactive');
	INSERT INTO tap_keys SELECT 'later', key, id FROM apikey_create('t1', '1', 'later');
	SELECT apikey_revoke(id, 'tap') FROM tap_keys WHERE name = 'revoked';
	SELECT apikey_disable(id) FROM tap_keys WHERE name = 'disabled';
	UPDATE apikey.keys SET expires_at = now() - interval '1 minute'
	 WHERE id = (SELECT id FROM tap_keys WHERE name = 'expired');
	DELETE FROM users WHERE id = 2;
});
my @keys = split /\n/, $primary->safe_psql('postgres', 'SELECT key FROM tap_keys');
is(scalar(@keys), 7, 'seven keys minted');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', $conf);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# 1. the same answers on both nodes
my $answers = q{SELECT t.name, v.status, coalesce(v.role, '-'), coalesce(v.tenant_id, '-')
	FROM tap_keys t, apikey_verify(t.key) v ORDER BY t.name};
my $on_primary = $primary->safe_psql('postgres', $answers);
my $on_standby = $standby->safe_psql('postgres', $answers);
is($on_standby, $on_primary, 'verify answers the same on the standby as on the primary');
is($on_standby, join("\n",
		'disabled|disabled|-|t1',
		'expired|expired|-|t1',
		'later|valid|owner|t1',
		'revoked|revoked|-|t1',
		'user_inactive|user_inactive|-|t1',
		'valid|valid|owner|t1',
		'valid2|valid|viewer|t2'),
	'every status is represented');

# 2. a revoke on the primary is refused on the standby once replayed
my $later = q{SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'later'};
is($standby->safe_psql('postgres', $later), 'valid', 'key "later" verifies on the standby');
$primary->safe_psql('postgres', q{SELECT apikey_revoke(id, 'tap') FROM tap_keys WHERE name = 'later'});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', $later), 'revoked', 'revoked on the primary: refused on the standby after replay');

# 3. write functions fail on the standby with SQLSTATE 25006
my %writes = (
	'apikey_create'          => q{SELECT apikey_create('t1', '1', 'standby')},
	'apikey_revoke(id)'      => q{SELECT apikey_revoke(id) FROM tap_keys WHERE name = 'valid'},
	'apikey_revoke_key(key)'     => q{SELECT apikey_revoke_key(key) FROM tap_keys WHERE name = 'valid'},
	'apikey_rotate'          => q{SELECT apikey_rotate(id) FROM tap_keys WHERE name = 'valid'},
	'apikey_disable'         => q{SELECT apikey_disable(id) FROM tap_keys WHERE name = 'valid'},
	'apikey_enable'          => q{SELECT apikey_enable(id) FROM tap_keys WHERE name = 'disabled'},
	'apikey_bind_users'      => q{SELECT apikey_bind_users('users')},
);
foreach my $f (sort keys %writes)
{
	my ($ret, $stdout, $stderr) = $standby->psql('postgres', $writes{$f},
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "$f fails on the standby");
	like($stderr, qr/ERROR:  25006:/, "$f: SQLSTATE 25006 (read-only)");
}
is($standby->safe_psql('postgres', $answers), $primary->safe_psql('postgres', $answers),
	'nothing changed on the standby: still the same answers as the primary');

# 4. verifications on the standby reach the primary's last_used_at
my $valid_used = q{SELECT k.last_used_at FROM apikey.keys k JOIN tap_keys t USING (id) WHERE t.name = 'valid'};
my $verify_valid = q{SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'valid'};
$primary->safe_psql('postgres', 'UPDATE apikey.keys SET last_used_at = NULL');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
my $t0 = time();
is($standby->safe_psql('postgres', $verify_valid), 'valid', 'key verifies on the standby');
ok($primary->poll_query_until('postgres', "SELECT ($valid_used) IS NOT NULL"),
	'last_used_at arrives on the primary');
my $lag = time() - $t0;
cmp_ok($lag, '<', 0.5 + 1 + 3, "within the flush interval plus slack ($lag s)");
ok($standby->poll_query_until('postgres', 'SELECT last_used_written >= 1 FROM apikey_stats()'),
	"the standby's apikey_stats counts the delivery");
is($primary->safe_psql('postgres',
		q{SELECT count(*) FROM apikey.keys k JOIN tap_keys t USING (id)
		   WHERE t.name IN ('revoked', 'disabled', 'expired', 'user_inactive') AND k.last_used_at IS NOT NULL}),
	'0', 'refused verifications on the standby leave last_used_at alone');

# forward-only: a newer value on the primary is kept
my $valid2_used = q{SELECT k.last_used_at FROM apikey.keys k JOIN tap_keys t USING (id) WHERE t.name = 'valid2'};
$primary->safe_psql('postgres',
	q{UPDATE apikey.keys SET last_used_at = '2100-01-01 00:00:00+00' WHERE id = (SELECT id FROM tap_keys WHERE name = 'valid2')});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
# nothing pending or on its way (notes the shipper holds count as pending),
# so the next delivery counted can only be valid2's
ok($standby->poll_query_until('postgres', 'SELECT last_used_pending = 0 FROM apikey_stats()'),
	'the standby has delivered everything before valid2');
my $written = $standby->safe_psql('postgres', 'SELECT last_used_written FROM apikey_stats()');
is($standby->safe_psql('postgres',
		q{SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'valid2'}),
	'valid', 'key valid2 verifies on the standby');
ok($standby->poll_query_until('postgres', "SELECT last_used_written > $written FROM apikey_stats()"),
	'the standby shipped the use of valid2');
is($primary->safe_psql('postgres', "SELECT ($valid2_used) = '2100-01-01 00:00:00+00'"), 't',
	'forward-only: a later last_used_at on the primary is kept');

# 5. the primary stops for a while; the worker retries and delivers after the restart
ok($standby->poll_query_until('postgres', 'SELECT last_used_pending = 0 FROM apikey_stats()'),
	'nothing pending on the standby before the primary stops');
my $before = $primary->safe_psql('postgres', $valid_used);
$primary->stop('fast');
is($standby->safe_psql('postgres', $verify_valid), 'valid', 'the standby verifies while the primary is down');
sleep(3);
ok($standby->poll_query_until('postgres', 'SELECT last_used_pending = 1 FROM apikey_stats()'),
	'the use waits in shared memory on the standby');
$primary->start;
ok($primary->poll_query_until('postgres', "SELECT ($valid_used) > '$before'"),
	'after the restart, the worker reconnects and delivers');
is($standby->safe_psql('postgres', 'SELECT last_used_dropped FROM apikey_stats()'), '0',
	'nothing dropped on the standby');

# logs: one line for the failure streak, one for the recovery; no key anywhere
my $slog = slurp_file($standby->logfile);
like($slog, qr/apikey: could not send last-used records to the primary/, 'the failure streak is logged');
like($slog, qr/apikey: sending last-used records to the primary again/, 'the recovery is logged');
my $plog = slurp_file($primary->logfile);
foreach my $key (@keys)
{
	unlike($slog . $plog, qr/\Q$key\E/, 'a key never appears in the server logs');
}

$standby->stop;
$primary->stop;
done_testing();
