
# A cancel during a name lookup that does not answer is prompt.  libcurl
# resolves names in a thread; without CURLOPT_QUICK_EXIT, dropping the
# transfer joined that thread and waited for the lookup (30 s here).  The
# server runs with t/slow_resolver.c preloaded, which stalls the lookup of
# one name; statement_timeout and pg_cancel_backend() must both end the
# statement within a few seconds, and the session stays usable.  The
# resolver thread blocks every signal PostgreSQL handles.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $slow_host = 'slow-resolver.fauna-fdw.test';
my $dir = PostgreSQL::Test::Utils::tempdir();
my $so = "$dir/slow_resolver.so";
my @cc = ('cc', '-shared', '-fPIC', '-Wall', '-Werror', '-o', $so,
	"$FindBin::RealBin/slow_resolver.c", '-ldl');
is(system(@cc), 0, 'the slow resolver shim builds');

my $node = PostgreSQL::Test::Cluster->new('dns');
$node->init;
{
	local $ENV{LD_PRELOAD} = $so;
	local $ENV{FAUNA_SLOW_HOST} = $slow_host;
	$node->start;
}
$node->safe_psql('postgres', qq{
	CREATE EXTENSION fauna_fdw;
	CREATE SERVER slow FOREIGN DATA WRAPPER fauna_fdw
	  OPTIONS (endpoint 'http://$slow_host:9', connect_timeout_ms '60000',
	           max_retries '0');
	SET log_statement = 'none';
	CREATE USER MAPPING FOR CURRENT_USER SERVER slow OPTIONS (secret 'unused');
	CREATE FOREIGN TABLE t (ref text) SERVER slow OPTIONS (collection 'T');
});

# statement_timeout during the lookup
my $t0 = time();
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '500ms'; SELECT * FROM t;");
my $took = time() - $t0;
like($err, qr/canceling statement due to statement timeout/,
	'statement_timeout ends the statement during the lookup');
cmp_ok($took, '<', 5, "and promptly (${took}s; the lookup stalls 30 s)");

# pg_cancel_backend during the lookup, from another session
my $session = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $session->query_safe('SELECT pg_backend_pid()');
$session->query_until(qr/started/, "\\echo started\nSELECT * FROM t;\n");
# wait until the backend is in the lookup
my $waited = 0;
while ($waited < 10
	&& $node->safe_psql('postgres',
		"SELECT state FROM pg_stat_activity WHERE pid = $pid") ne 'active')
{
	sleep 0.1;
	$waited += 0.1;
}
sleep 1;

# the backend's other threads (curl's resolver, stuck in the lookup) block
# every signal PostgreSQL handles: /proc/PID/task/TID/status, "SigBlk"
my @masks;
opendir(my $dh, "/proc/$pid/task") or die "/proc/$pid/task: $!";
for my $tid (grep { /^\d+$/ && $_ != $pid } readdir $dh)
{
	open(my $fh, '<', "/proc/$pid/task/$tid/status") or next;
	while (my $line = <$fh>)
	{
		no warnings 'portable';
		push @masks, hex($1) if $line =~ /^SigBlk:\s+([0-9a-f]+)/;
	}
	close $fh;
}
closedir $dh;
cmp_ok(scalar(@masks), '>=', 1, 'the lookup runs in a thread of its own');
my %pg_signals = (SIGHUP => 1, SIGINT => 2, SIGQUIT => 3, SIGUSR1 => 10,
	SIGUSR2 => 12, SIGALRM => 14, SIGTERM => 15, SIGURG => 23);
for my $sig (sort keys %pg_signals)
{
	my $bit = 1 << ($pg_signals{$sig} - 1);
	is(scalar(grep { !($_ & $bit) } @masks), 0,
		"the resolver thread blocks $sig");
}

$t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $after = $session->query('SELECT 1 AS usable');
$took = time() - $t0;
like($session->{stderr}, qr/canceling statement due to user request/,
	'pg_cancel_backend ends the statement during the lookup');
cmp_ok($took, '<', 5, "and promptly (${took}s)");
is($after, '1', 'the session is usable afterwards');
$session->quit;

$node->stop;
done_testing();
