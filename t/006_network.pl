
# Where requests go and how long they may take to get there, without any
# network beyond the loopback interface:
#  - connect_timeout_ms bounds a TCP handshake that never completes (a
#    listening socket whose accept queue is full: the kernel drops the SYN
#    of every further connection, as a firewall dropping packets would);
#  - proxies named by the environment of the server (http_proxy,
#    ALL_PROXY...) are never used: only the server's endpoint decides where
#    the secret goes.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Items" })');
$emu->fql('Set.sequence(1, 6).forEach(i => Items.create({ n: i }))');
my $endpoint = $emu->endpoint;

my $node = FaunaTest->new_node('network', $emu);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE items (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Items', index 'none');
});
my $complete = '5|15';
my $check_sql = 'SELECT count(*), sum(n) FROM items';
is($node->safe_psql('postgres', $check_sql), $complete, 'the table reads completely');

# ----------------------------------------------------------------------
# connect_timeout_ms
# ----------------------------------------------------------------------

# A listener nobody accepts from, with a backlog of 0: once one connection
# waits in its accept queue, the SYNs of the next ones are dropped and
# their connect() hangs in SYN_SENT.
# (IO::Socket::INET's Listen => 0 would mean "do not listen")
my $listener = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
  or die "socket: $!";
listen($listener, 0) or die "listen: $!";
my $port = $listener->sockport;
my @fill;
for (1 .. 4)
{
	push @fill, IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Proto => 'tcp', Blocking => 0);
}
Time::HiRes::sleep(0.2);		# their handshakes, on the loopback

# the trick depends on the kernel: check that a handshake really hangs
my $t0 = time();
my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	Proto => 'tcp', Timeout => 1);
my $hangs = !$probe && time() - $t0 >= 0.9;
# not a skip: without a hanging handshake connect_timeout_ms goes untested,
# and that must fail (the checks below then fail too)
ok($hangs, 'a handshake with the full listener hangs (what connect_timeout_ms is tested on)');
{

	$node->safe_psql('postgres', qq{
		ALTER SERVER fauna OPTIONS (SET endpoint 'http://127.0.0.1:$port',
		  ADD connect_timeout_ms '400', ADD timeout_ms '20000', ADD max_retries '0');
	});
	$t0 = time();
	my ($ret, $out, $err) = $node->psql('postgres', $check_sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my $elapsed = time() - $t0;
	isnt($ret, 0, 'a handshake that never completes fails the statement');
	like($err, qr/HV00N.*could not query Fauna server "fauna" for collection "Items"/s,
		'the error is a connection failure (HV00N)');
	like($err, qr/request failed after 1 attempt: .*(?:timed out|Timeout)/i,
		'the detail says the connection timed out');
	diag(sprintf('connect_timeout_ms 400: error after %.2f s: %s', $elapsed,
		($err =~ /DETAIL:\s+(.*)/)[0] // $err));
	cmp_ok($elapsed, '>=', 0.35, 'the client waited for connect_timeout_ms');
	cmp_ok($elapsed, '<', 3, 'and not for timeout_ms (20 s)');

	# retried like any connection failure: 3 attempts of 400 ms, plus backoff
	$node->safe_psql('postgres', q{ALTER SERVER fauna OPTIONS (SET max_retries '2')});
	$t0 = time();
	($ret, $out, $err) = $node->psql('postgres', $check_sql);
	$elapsed = time() - $t0;
	like($err, qr/request failed after 3 attempts/, 'with max_retries 2: three attempts');
	diag(sprintf('connect_timeout_ms 400, max_retries 2: error after %.2f s', $elapsed));

	$node->safe_psql('postgres', qq{
		ALTER SERVER fauna OPTIONS (SET endpoint '$endpoint', DROP connect_timeout_ms,
		  DROP timeout_ms, DROP max_retries);
	});
}
close $_ for grep { defined } @fill, $probe;
close $listener;
is($node->safe_psql('postgres', $check_sql), $complete, 'the endpoint reads again');

# ----------------------------------------------------------------------
# proxies from the environment
# ----------------------------------------------------------------------

# a "proxy" that refuses connections: a request sent through it fails
my %proxy_env = map { $_ => 'http://127.0.0.1:1' }
  qw(http_proxy https_proxy HTTPS_PROXY ALL_PROXY all_proxy);
{
	local @ENV{ keys %proxy_env } = values %proxy_env;
	delete local $ENV{NO_PROXY};
	delete local $ENV{no_proxy};

	# the control: the curl tool, with the same environment, goes through
	# the proxy and fails
	my $rc = system('curl', '-s', '-o', '/dev/null', '-m', '10', "$endpoint/_emulator/log");
	isnt($rc, 0, 'control: curl with this environment uses the proxy and fails');

	$node->restart;
}
# the backends inherit the postmaster's environment
my $pid = $node->{_pid};
my $environ = slurp_file("/proc/$pid/environ");
like($environ, qr/(?:^|\0)http_proxy=http:\/\/127\.0\.0\.1:1\0/,
	'the server runs with http_proxy set');
like($environ, qr/(?:^|\0)ALL_PROXY=http:\/\/127\.0\.0\.1:1\0/,
	'and ALL_PROXY');
is($node->safe_psql('postgres', $check_sql), $complete,
	'fauna_fdw ignores the proxies of the environment');
$node->restart;

$node->stop;
$emu->stop;
done_testing();
