# Rate limits with the library preloaded (src/ratelimit.c).
#  - exact within one server: 8 pgbench clients on one key limited to N per
#    hour get exactly N valid answers (the window is long enough that the rate
#    refills nothing during the test), every other request rate_limited and
#    counted in apikey_stats();
#  - retry_after: at most one request's cost, and the key is admitted again
#    once it has passed (a 2-per-2-seconds key);
#  - no LWLock waits: 8 pgbench clients on one hot key with a huge limit, while
#    pg_stat_activity is sampled for waits on apikey's tranches;
#  - apikey.rate_limit_capacity = 2: an expired entry makes room, a third
#    active key overflows (open: valid; closed: rate_limited with retry_after =
#    the window), each decision counted;
#  - not preloaded: the overflow policy answers for every limited key.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use ApikeyWaits;

my $limit = 40;
my $clients = 8;
my $per_client = 20;

my $node = PostgreSQL::Test::Cluster->new('ratelimit');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'apikey'
max_connections = 40
});
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text NOT NULL);
	INSERT INTO users VALUES (1, 't1', 'owner');
	SELECT apikey_bind_users('users');
	CREATE TABLE tap_keys (name text PRIMARY KEY, id bigint NOT NULL, key text NOT NULL);
	INSERT INTO tap_keys SELECT n, k.id, k.key
	  FROM unnest(ARRAY['exact', 'short', 'hot', 'a', 'b', 'c']) n, LATERAL apikey_create('t1', '1', n) k;
	UPDATE apikey.keys k SET rate_limit = $limit, rate_window = '1 hour'
	  FROM tap_keys t WHERE t.id = k.id AND t.name = 'exact';
	UPDATE apikey.keys k SET rate_limit = 2, rate_window = '2 seconds'
	  FROM tap_keys t WHERE t.id = k.id AND t.name = 'short';
	UPDATE apikey.keys k SET rate_limit = 2000000000, rate_window = '1 day'
	  FROM tap_keys t WHERE t.id = k.id AND t.name = 'hot';
	UPDATE apikey.keys k SET rate_limit = 5, rate_window = '1 hour'
	  FROM tap_keys t WHERE t.id = k.id AND t.name IN ('a', 'b', 'c');
	INSERT INTO tap_keys SELECT 'metered', k.id, k.key
	  FROM apikey_create('t1', '1', 'metered', rate_limit => 1, rate_window => '1 hour', remaining => 10) k;
	CREATE TABLE answers (status text);
	SELECT apikey_stats_reset();
});

# n verifications of one key in one statement (one call per row: the
# function in the select list), as "status[:retry_after]" joined by spaces
sub verify_n
{
	my ($name, $n, $with_retry) = @_;
	my $col = $with_retry ? q{(r).status || ':' || coalesce((r).retry_after::text, '-')} : '(r).status';
	return $node->safe_psql('postgres', qq{
		SELECT string_agg($col, ' ' ORDER BY g)
		  FROM (SELECT g, apikey_verify(t.key) AS r
		          FROM generate_series(1, $n) g, tap_keys t WHERE t.name = '$name') s});
}

# runs pgbench with a one-statement script; returns (result, stdout, stderr)
sub pgbench_run
{
	my ($name, $sql, @opts) = @_;
	my $script = $node->basedir . "/$name.pgbench";
	open(my $fh, '>', $script) or die "could not write $script: $!";
	print $fh "$sql\n";
	close($fh);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-M', 'prepared', @opts, '-f', $script, $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# --- exactness: 8 clients, one key, N per hour -------------------------------
my ($h, $out, $err) = pgbench_run('exact',
	q{INSERT INTO answers SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'exact';},
	'-c', $clients, '-j', $clients, '-t', $per_client);
$h->finish;
is($h->result(0), 0, 'pgbench ran the exactness run') or diag($$err);
my $total = $clients * $per_client;
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE status = 'valid') || ' ' ||
	count(*) FILTER (WHERE status = 'rate_limited') || ' ' || count(*) FROM answers}),
	"$limit " . ($total - $limit) . " $total",
	"$clients concurrent clients on one key limited to $limit per hour: exactly $limit valid of $total");
is($node->safe_psql('postgres', 'SELECT valid || \' \' || rate_limited || \' \' || rate_limit_overflow FROM apikey_stats()'),
	"$limit " . ($total - $limit) . " 0", 'apikey_stats counts valid and rate_limited, no overflow');

# retry_after of an exhausted key: at most one request's cost (1 hour / N = 90 s)
is($node->safe_psql('postgres', q{SELECT v.status || ' ' ||
	(v.retry_after > interval '0' AND v.retry_after <= interval '90 seconds')::text
	FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'exact'}),
	'rate_limited true', 'retry_after of an exhausted key is within one request\'s cost');

# --- retry_after: 2 per 2 seconds, admitted again once it has passed ---------
is(verify_n('short', 3), 'valid valid rate_limited', 'a burst of 2, then rate_limited');
my $retry = $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM v.retry_after) FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'short'});
ok($retry > 0 && $retry <= 1.0, "retry_after is at most one request's cost (1 s): $retry");
$node->safe_psql('postgres', "SELECT pg_sleep($retry + 0.01)");
is(verify_n('short', 1), 'valid', 'admitted again once retry_after has passed');
my ($aout, $aerr) = ('', '');
$node->psql('postgres', q{\set VERBOSITY verbose
	SELECT * FROM tap_keys t, apikey_authenticate(t.key) WHERE t.name = 'exact'},
	stdout => \$aout, stderr => \$aerr);
like($aerr, qr/PT429: rate limit exceeded/, 'apikey_authenticate raises PT429 for an exhausted key');
like($aerr, qr/DETAIL:  Retry after [0-9]+\.[0-9]{3} seconds\./, 'its DETAIL gives retry_after in seconds');
unlike($aerr, qr/ak_live_/, 'and never the key');

# apikey_consume is a verification too: over the limit it answers rate_limited
# with retry_after, and spends nothing
my $consume = q{SELECT c.status || ' ' || coalesce(c.remaining::text, '-') || ' ' || (c.retry_after IS NOT NULL)
	  FROM tap_keys t, apikey_consume(t.key) c WHERE t.name = 'metered'};
is($node->safe_psql('postgres', $consume), 'valid 9 false', 'apikey_consume within the rate limit spends');
is($node->safe_psql('postgres', $consume), 'rate_limited - true', 'apikey_consume over the rate limit: rate_limited with retry_after');
is($node->safe_psql('postgres', q{SELECT c.remaining FROM apikey.key_credits c JOIN tap_keys t ON t.id = c.key_id WHERE t.name = 'metered'}),
	'9', 'and nothing spent');

# --- no LWLock waits: 8 clients, one hot key, huge limit ---------------------
my $nsamples = 200;
$node->safe_psql('postgres', 'SELECT apikey_stats_reset()');
($h, $out, $err) = pgbench_run('hot',
	q{SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'hot';},
	'-c', $clients, '-j', $clients, '-T', 6);
sleep(1);
my $sampler = ApikeyWaits->start($node, $nsamples);
$h->finish;
my ($samples, $waits, $active) = $sampler->finish;
is($h->result(0), 0, 'pgbench ran the hot key') or diag($$err);
note("$samples samples, $active verifying backends seen active, $waits waiting on an apikey LWLock");
cmp_ok($samples, '>=', 50, "pg_stat_activity sampled during the run ($samples samples)");
cmp_ok($active, '>', 0, 'the samples saw verifying backends at work');
is($waits, 0, 'no verifying backend was ever seen waiting on an apikey LWLock');
my ($hot_valid, $hot_limited) = split / /, $node->safe_psql('postgres',
	q{SELECT valid || ' ' || rate_limited FROM apikey_stats()});
cmp_ok($hot_valid, '>', 1000, "the hot key was verified ($hot_valid valid)");
is($hot_limited, '0', 'none over its huge limit');

# --- capacity 2: eviction and overflow ---------------------------------------
$node->append_conf('postgresql.conf', "apikey.rate_limit_capacity = 2\n");
$node->restart;
$node->safe_psql('postgres', 'SELECT apikey_stats_reset()');
# 'short' takes an entry that expires within a second, 'a' one for the hour
$node->safe_psql('postgres', q{
	SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'short';
	SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'a';
	SELECT pg_sleep(1.2)});
is(verify_n('b', 6),
	'valid valid valid valid valid rate_limited', "the expired entry made room: 'b' is counted");
is($node->safe_psql('postgres', 'SELECT rate_limit_overflow FROM apikey_stats()'), '0', 'no overflow so far');
is(verify_n('c', 6, 1),
	'valid:- valid:- valid:- valid:- valid:- valid:-', "table full, overflow open: 'c' answers as without a limit");
is($node->safe_psql('postgres', 'SELECT rate_limit_overflow || \' \' || rate_limited FROM apikey_stats()'),
	'6 1', 'each open overflow decision is counted');
$node->append_conf('postgresql.conf', "apikey.rate_limit_overflow = closed\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('apikey.rate_limit_overflow') = 'closed'}),
	'overflow closed after reload');
is($node->safe_psql('postgres', q{
	SELECT v.status || ' ' || v.retry_after FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'c'}),
	'rate_limited 01:00:00', 'table full, overflow closed: rate_limited with retry_after = the window');
is($node->safe_psql('postgres', q{
	SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'exact'}),
	'rate_limited', 'closed overflow applies to any key without an entry');
is($node->safe_psql('postgres', q{
	SELECT v.status FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'a'}),
	'valid', 'a key with an entry is still counted normally');
is($node->safe_psql('postgres', 'SELECT rate_limit_overflow FROM apikey_stats()'), '8',
	'each closed overflow decision is counted');

# --- not preloaded: the overflow policy answers ------------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
is($node->safe_psql('postgres', q{
	SELECT v.status || ' ' || v.retry_after FROM tap_keys t, apikey_verify(t.key) v WHERE t.name = 'a'}),
	'rate_limited 01:00:00', 'not preloaded, closed: rate_limited with retry_after = the window');
$node->append_conf('postgresql.conf', "apikey.rate_limit_overflow = open\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('apikey.rate_limit_overflow') = 'open'}),
	'overflow open after reload');
is(verify_n('a', 7),
	'valid valid valid valid valid valid valid', 'not preloaded, open: no limit');

$node->stop;
done_testing();
