# A subscriber's warm backends see changes that logical replication applies
# to the bound tables: the apply worker fires row triggers (apikey's are
# ENABLE ALWAYS), never statement triggers, so every cache trigger on
# INSERT, UPDATE and DELETE is a row trigger.  A backend on the subscriber
# verifies a key (warming its cache), the publisher changes the user, role
# and permission rows, and once applied the same backend answers like a
# fresh one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('logical');
$node->init(allows_streaming => 'logical');
$node->start;

my $tables = q{
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text, active boolean NOT NULL);
	CREATE TABLE roles (name text PRIMARY KEY, parent text);
	CREATE TABLE role_permissions (role text NOT NULL, permission text NOT NULL, PRIMARY KEY (role, permission));
};
$node->safe_psql('postgres', 'CREATE DATABASE pub');
$node->safe_psql('postgres', 'CREATE DATABASE sub');
$node->safe_psql('pub', $tables . q{
	INSERT INTO users VALUES (1, 't1', 'admin', true), (2, 't1', 'member', true);
	INSERT INTO roles VALUES ('member', NULL), ('admin', 'member');
	INSERT INTO role_permissions VALUES ('member', 'orders:read'), ('admin', 'orders:write');
	CREATE PUBLICATION app FOR TABLE users, roles, role_permissions;
	SELECT pg_create_logical_replication_slot('app_sub', 'pgoutput');
});
my $connstr = 'port=' . $node->port . ' host=' . $node->host . ' dbname=pub';
$node->safe_psql('sub', $tables . qq{
	CREATE EXTENSION apikey CASCADE;
	CREATE SUBSCRIPTION app_sub CONNECTION '$connstr' PUBLICATION app
		WITH (create_slot = false, slot_name = 'app_sub');
});
$node->wait_for_catchup('app_sub');
$node->poll_query_until('sub', 'SELECT count(*) = 2 FROM users')
  or die 'initial copy did not arrive';
$node->safe_psql('sub', q{
	SELECT apikey_bind_users('users', active_column => 'active');
	SELECT apikey_bind_roles('roles');
	SELECT apikey_bind_permissions('role_permissions');
	CREATE TABLE tap_keys AS SELECT 1 AS uid, key FROM apikey_create('t1', '1', 'admin key');
	INSERT INTO tap_keys SELECT 2, key FROM apikey_create('t1', '2', 'member key');
});
is($node->safe_psql('sub',
	q{SELECT string_agg(t.ntrig, ',' ORDER BY t.ntrig) FROM (
		SELECT c.relname || ':' || count(*) AS ntrig FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		 WHERE g.tgname LIKE 'apikey%' AND g.tgenabled = 'A' GROUP BY c.relname) t}),
	'role_permissions:2,roles:2,users:3', 'the cache triggers are installed ENABLE ALWAYS');

# a warm backend on the subscriber: one psql kept open
my ($in, $out, $err) = ('', '', '');
my $warm = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('sub') ],
	'<', \$in, '>', \$out, '2>', \$err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));

# runs one query in the warm backend and returns its output
my $n = 0;
sub warm_query
{
	my ($sql) = @_;
	$n++;
	$out = '';
	$in .= "$sql;\n\\echo done-$n\n";
	$warm->pump until $out =~ /done-$n/;
	(my $result = $out) =~ s/\n?done-$n\n?//;
	return $result;
}

my $answer = q{SELECT t.uid || ' ' || v.status || ' ' || coalesce(v.permissions::text, '-')
	FROM tap_keys t, apikey_verify(t.key) v ORDER BY t.uid};
my $fresh = sub { $node->safe_psql('sub', $answer) };

is(warm_query($answer), "1 valid {orders:read,orders:write}\n2 valid {orders:read}",
	'warm backend: both keys valid');
is(warm_query($answer), "1 valid {orders:read,orders:write}\n2 valid {orders:read}",
	'warm backend: the same from its cache');

# each change on the publisher, applied on the subscriber, reaches the warm backend
my @changes = (
	[ q{DELETE FROM role_permissions WHERE role = 'member'}, 'a permission row deleted' ],
	[ q{INSERT INTO role_permissions VALUES ('member', 'orders:export')}, 'a permission row inserted' ],
	[ q{UPDATE roles SET parent = NULL WHERE name = 'admin'}, 'a role row updated' ],
	[ q{UPDATE users SET active = false WHERE id = 2}, 'a user deactivated' ],
	[ q{DELETE FROM users WHERE id = 1}, 'a user deleted' ],
	[ q{INSERT INTO users VALUES (1, 't1', 'member', true)}, 'a user inserted again' ],
);
foreach my $c (@changes)
{
	my ($sql, $what) = @$c;
	$node->safe_psql('pub', $sql);
	$node->wait_for_catchup('app_sub');
	is(warm_query($answer), $fresh->(), "after $what: the warm backend answers like a fresh one");
}

$in .= "\\q\n";
$warm->finish;
done_testing();
