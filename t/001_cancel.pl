
# Cancellation: statement_timeout, pg_cancel_backend and pg_terminate_backend
# act promptly on a scan that waits for a slow Fauna response (and on one
# sleeping between retries), and the session works afterwards.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Items" })');
$emu->fql('Set.sequence(1, 51).forEach(i => Items.create({ n: i }))');

my $node = FaunaTest->new_node('cancel', $emu);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE items (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Items', page_size '7');
});

my $complete = '50|1275|50|50';    # count, sum, distinct refs, distinct n
my $check_sql = 'SELECT count(*), sum(n), count(DISTINCT ref), count(DISTINCT n) FROM items';
is($node->safe_psql('postgres', $check_sql), $complete, 'the table reads completely');

my $s1 = $node->background_psql('postgres', on_error_stop => 0);
my $s2 = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s1->query_safe('SELECT pg_backend_pid()');
$s1->query_safe('SELECT count(*) FROM items');    # warm the connection

# send a statement without waiting for it (FaunaTest.pm)
*send_sql = \&FaunaTest::send_sql;

# pump until stderr matches; returns the time it matched (or undef)
sub wait_stderr
{
	my ($s, $re, $timeout) = @_;
	my $end = time() + $timeout;
	while (time() < $end)
	{
		$s->{run}->pump_nb;
		return time() if $s->{stderr} =~ $re;
		last unless $s->{run}->pumpable;
		sleep 0.005;
	}
	$s->{run}->pump_nb if $s->{run}->pumpable;
	return $s->{stderr} =~ $re ? time() : undef;
}

# wait until the backend is inside the statement and its request has been
# taken by the emulator (the delay fault consumed)
sub wait_in_request
{
	my ($what) = @_;
	my $end = time() + 60;
	while (time() < $end)
	{
		my $active = $s2->query_safe(
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active' AND query LIKE '%items%'");
		return 1 if $active eq '1' && !@{ $emu->pending_faults };
		sleep 0.02;
	}
	fail("$what: the statement did not reach the emulator");
	return 0;
}

# 1. statement_timeout against a 30-second response
$emu->fault({ kind => 'delay', delay_ms => 30000, path => '/query/1' });
$s1->{stderr} = '';
my $t0 = time();
my ($out, $err) = $s1->query("SET statement_timeout = '200ms'; SELECT count(*) FROM items");
my $elapsed = time() - $t0;
like($s1->{stderr}, qr/canceling statement due to statement timeout/,
	'statement_timeout cancels the scan');
cmp_ok($elapsed, '<', 1.0, 'statement_timeout of 200ms ends the statement in under 1 s');
diag(sprintf('statement_timeout: statement ended after %.3f s', $elapsed));
$s1->{stderr} = '';
$s1->query_safe('RESET statement_timeout');
is($s1->query_safe($check_sql), $complete,
	'after the timeout, the same session reads complete rows');

# 2. pg_cancel_backend from a second session
$emu->clear_faults;
$emu->fault({ kind => 'delay', delay_ms => 30000, path => '/query/1' });
send_sql($s1, 'SELECT count(*) FROM items;');
if (wait_in_request('cancel'))
{
	my $tc = time();
	is($s2->query_safe("SELECT pg_cancel_backend($pid)"), 't', 'pg_cancel_backend signalled');
	my $te = wait_stderr($s1, qr/canceling statement due to user request/, 30);
	ok(defined $te, 'pg_cancel_backend cancels the scan')
	  or diag("stderr: $s1->{stderr}");
	$te //= time();
	cmp_ok($te - $tc, '<', 1.0, 'the cancel acts in under 1 s');
	diag(sprintf('pg_cancel_backend: error after %.3f s', $te - $tc));
}
$s1->{stderr} = '';
is($s1->query_safe($check_sql), $complete,
	'after the cancel, the same session reads complete rows');

# 3. cancel while sleeping between retries: 503 for every attempt, so the
# backend spends most of its time in the backoff sleep
$emu->clear_faults;
$node->safe_psql('postgres', q{ALTER SERVER fauna OPTIONS (ADD max_retries '20')});
$emu->fault({ kind => 'status', status => 503, count => 1000, path => '/query/1' });
$emu->clear_log;
send_sql($s1, 'SELECT count(*) FROM items;');
{
	# wait for the third attempt: the backoff before the fourth is 200-400 ms,
	# later ones longer; then wait a little more so that the backend is
	# likely inside a sleep rather than a request
	my $end = time() + 60;
	sleep 0.05 while time() < $end && @{ $emu->requests } < 4;
	cmp_ok(scalar @{ $emu->requests }, '>=', 4, 'the failing request is being retried');
	sleep 0.1;
	my $tc = time();
	$s2->query_safe("SELECT pg_cancel_backend($pid)");
	my $te = wait_stderr($s1, qr/canceling statement due to user request/, 30);
	ok(defined $te, 'the cancel interrupts the retries')
	  or diag("stderr: $s1->{stderr}");
	$te //= time();
	cmp_ok($te - $tc, '<', 1.0, 'a cancel during the backoff acts in under 1 s');
	diag(sprintf('cancel during backoff: error after %.3f s (%d attempts made)',
		$te - $tc, scalar @{ $emu->requests }));
}
$emu->clear_faults;
$s1->{stderr} = '';
is($s1->query_safe($check_sql), $complete,
	'after the cancel during retries, the session reads complete rows');
$node->safe_psql('postgres', q{ALTER SERVER fauna OPTIONS (DROP max_retries)});

# 4. pg_terminate_backend
$emu->fault({ kind => 'delay', delay_ms => 30000, path => '/query/1' });
send_sql($s1, 'SELECT count(*) FROM items;');
if (wait_in_request('terminate'))
{
	my $tc = time();
	is($s2->query_safe("SELECT pg_terminate_backend($pid)"), 't', 'pg_terminate_backend signalled');
	my $gone;
	my $end = time() + 30;
	while (time() < $end)
	{
		if ($s2->query_safe("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0')
		{
			$gone = time();
			last;
		}
		sleep 0.005;
	}
	ok(defined $gone, 'the backend exits');
	$gone //= time();
	cmp_ok($gone - $tc, '<', 1.0, 'the backend exits in under 1 s');
	diag(sprintf('pg_terminate_backend: backend gone after %.3f s', $gone - $tc));
	my $te = wait_stderr($s1, qr/terminating connection due to administrator command|server closed the connection/, 10);
	ok(defined $te, 'the client is told the connection was terminated');
}
$s1->{run}->kill_kill;
$emu->clear_faults;

# a new session works normally
is($node->safe_psql('postgres', $check_sql), $complete, 'a new session reads complete rows');

$s2->quit;
$node->stop;
$emu->stop;
done_testing();
