# ApikeyWaits: samples pg_stat_activity for verifying backends waiting on one
# of apikey's LWLock tranches, while a workload runs (TAP tests 014 and 015).
#
#   my $sampler = ApikeyWaits->start($node, 250);   # 250 samples, 20 ms apart
#   ... run the workload ...
#   my ($samples, $waits, $active) = $sampler->finish;
#
# Each sample is one statement (its own snapshot of pg_stat_activity) and
# counts the active client backends running apikey_verify, and those of them
# waiting on an apikey LWLock.  The statements go through a file: a harness
# feeds stdin only while it is pumped.
package ApikeyWaits;

use strict;
use warnings;
use IPC::Run;

sub start
{
	my ($class, $node, $nsamples) = @_;
	my $sql = '';
	for (1 .. $nsamples)
	{
		$sql .= q{SELECT count(*) FILTER (WHERE wait_event_type = 'LWLock' AND wait_event LIKE 'apikey%')
		|| ' ' || count(*) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
		  AND query LIKE '%apikey_verify%';
SELECT pg_sleep(0.02);
};
	}
	my $file = $node->basedir . '/sample.sql';
	open(my $fh, '>', $file) or die "could not write $file: $!";
	print $fh $sql;
	close($fh);
	my $self = bless { out => '', err => '' }, $class;
	$self->{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', \$self->{out}, '2>', \$self->{err});
	return $self;
}

# Waits for the last sample; returns (samples, waiting, active) summed over them.
sub finish
{
	my ($self) = @_;
	$self->{h}->finish;
	my ($samples, $waits, $active) = (0, 0, 0);
	for my $line (split /\n/, $self->{out})
	{
		next unless $line =~ /^(\d+) (\d+)$/;
		$samples++;
		$waits += $1;
		$active += $2;
	}
	return ($samples, $waits, $active);
}

1;
