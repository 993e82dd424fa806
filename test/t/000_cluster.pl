# Smoke test for the TAP plumbing: a fresh PostgreSQL::Test::Cluster node can
# install the extension (without shared_preload_libraries).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION apikey CASCADE');
is($ret, 0, 'CREATE EXTENSION apikey CASCADE succeeds')
  or diag($stderr);

is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'apikey'"),
	'1',
	'apikey is installed');

$node->stop;
done_testing();
