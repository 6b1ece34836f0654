
# Parallel foreign scans under load: one snapshot while a writer changes
# the collection, a failure of any stream fails the statement, cancel and
# statement_timeout stop every worker, and 1,000 parallel scans leave the
# leader's memory and connections as they were.

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
$emu->fql('Collection.create({ name: "Par", history_days: 1 })');
$emu->fql('Set.sequence(0, 20).forEach(b => Set.sequence(0, 100).forEach(i => Par.create({ n: b * 100 + i })))');
$emu->fql('Collection.create({ name: "Tiny" })');
$emu->fql('Set.sequence(1, 21).forEach(i => Tiny.create({ n: i }))');

my $node = FaunaTest->new_node('parallel', $emu, server_options => "max_retries '0'",
	conf => "max_worker_processes = 16\nmax_parallel_workers = 8\njit = off");
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE par (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Par', page_size '50', rows '1000000');
	CREATE FOREIGN TABLE tiny (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Tiny', page_size '50', rows '200');
	ALTER SYSTEM SET parallel_setup_cost = 0;
	ALTER SYSTEM SET parallel_tuple_cost = 0;
	ALTER SYSTEM SET min_parallel_table_scan_size = 0;
	ALTER SYSTEM SET max_parallel_workers_per_gather = 4;
	SELECT pg_reload_conf();
});

# every row's id and value, in one text: equal texts, equal rows
my $rows_sql = q{SELECT count(*) || ':' || md5(string_agg(ref || '=' || n, ',' ORDER BY ref)) FROM par};
my $plan = $node->safe_psql('postgres', "EXPLAIN (COSTS OFF) $rows_sql");
like($plan, qr/Gather.*\n.*Parallel Foreign Scan on par/s, 'the scan runs in parallel');
my $before = $node->safe_psql('postgres', $rows_sql);
like($before, qr/^2000:/, 'a parallel scan reads all 2,000 documents');
is($node->safe_psql('postgres', "SET max_parallel_workers_per_gather = 0; $rows_sql"), $before,
	'a serial scan reads the same rows');

# 1. One snapshot.  The first three parts are held for 1.5 s each after the
# snapshot is taken; meanwhile every document is updated, a tenth deleted
# (those whose n ends in $digit) and new ones created (n from $first
# down).  The scan must return the rows as they were: $expected.
my $s = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');

sub scan_under_writes
{
	my ($sql, $part_match, $digit, $first, $expected, $what) = @_;
	$emu->fault({ kind => 'delay', delay_ms => 1500, match => $part_match, count => 3 });
	FaunaTest::send_sql($s, "$sql;");
	my $end = time() + 30;
	sleep 0.02 while time() < $end && @{ $emu->pending_faults };
	ok(!@{ $emu->pending_faults }, "the $what parts were held");
	$emu->fql('Par.all().forEach(d => d.update({ n: d.n + 100000 }))');
	$emu->fql("Par.where(.n % 10 == $digit).forEach(d => d.delete())");
	$emu->fql("Set.sequence(0, 50).forEach(i => Par.create({ n: $first - i }))");
	ok(defined FaunaTest::wait_output($s, 'stdout', qr/^\d+:/m, 60), "the held $what scan ends");
	is((split /\n/, $s->{stdout})[0], $expected,
		"the parallel $what scan returns the rows of its snapshot, not the writes made while it ran");
	$emu->clear_faults;
	return;
}
scan_under_writes($rows_sql, '.all({ from: ', 3, 0, $before, 'FQL v10');
my $after = $node->safe_psql('postgres', $rows_sql);
like($after, qr/^1850:/, 'the next scan sees the writes (2,000 - 200 + 50 documents)');
is($node->safe_psql('postgres', "SET max_parallel_workers_per_gather = 0; $rows_sql"), $after,
	'and a serial scan the same rows');

# 2. A failure of any stream fails the statement: no partial result
$emu->fault({ kind => 'status', status => 500, match => '.all({ from: ', skip => 5 });
my ($ret, $out, $err) = $node->psql('postgres', $rows_sql);
isnt($ret, 0, 'a part answered with an error fails the statement');
like($err, qr/Fauna query on collection "Par" failed/, 'with the Fauna error')
  or diag($err);
is($out, '', 'and no rows');
$emu->clear_faults;
is($node->safe_psql('postgres', $rows_sql), $after, 'the next scan reads every row');

# 2b. One snapshot over FQL v4: the same, with every part in At(ts, ...)
$node->safe_psql('postgres', qq{
	CREATE SERVER fauna4 FOREIGN DATA WRAPPER fauna_fdw
	  OPTIONS (endpoint '@{[ $emu->endpoint ]}', max_retries '0', api_version '4');
	SET log_statement = 'none';
	CREATE USER MAPPING FOR CURRENT_USER SERVER fauna4
	  OPTIONS (secret '@{[ $emu->secret ]}');
	CREATE FOREIGN TABLE par4 (ref text, n int) SERVER fauna4
	  OPTIONS (collection 'Par', page_size '50', rows '1000000');
});
(my $rows4_sql = $rows_sql) =~ s/FROM par$/FROM par4/;
like($node->safe_psql('postgres', "EXPLAIN (COSTS OFF) $rows4_sql"),
	qr/Gather.*\n.*Parallel Foreign Scan on par4/s, 'the v4 scan runs in parallel');
is($node->safe_psql('postgres', $rows4_sql), $after, 'a parallel v4 scan reads the same rows');
scan_under_writes($rows4_sql, '"range": {"documents"', 4, -1000, $after, 'FQL v4');
$after = $node->safe_psql('postgres', $rows_sql);
like($after, qr/^1695:/, 'the next scan sees the writes (1,850 - 205 + 50 documents)');
is($node->safe_psql('postgres', $rows4_sql), $after, 'and so does the next v4 scan');

# 3. statement_timeout and cancel stop the leader and every worker
sub workers
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'");
}
$emu->fault({ kind => 'delay', delay_ms => 30000, match => '.all({ from: ', count => 100 });
my $t0 = time();
($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '500ms'; $rows_sql");
my $elapsed = time() - $t0;
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout cancels a parallel scan');
cmp_ok($elapsed, '<', 3, 'within 3 s of a 500 ms timeout');
my $end = time() + 5;
sleep 0.05 while time() < $end && workers() ne '0';
is(workers(), '0', 'no parallel worker is left');
diag(sprintf('statement_timeout: the statement ended after %.2f s', $elapsed));

FaunaTest::send_sql($s, "$rows_sql;");
$end = time() + 30;
sleep 0.02 while time() < $end && workers() eq '0';
cmp_ok(workers(), '>', 0, 'the workers are reading');
sleep 0.2;
my $tc = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $te = FaunaTest::wait_output($s, 'stderr', qr/canceling statement due to user request/, 30);
ok(defined $te, 'pg_cancel_backend cancels a parallel scan');
$te //= time();
cmp_ok($te - $tc, '<', 2, 'within 2 s');
$end = time() + 5;
sleep 0.05 while time() < $end && workers() ne '0';
is(workers(), '0', 'and no parallel worker is left');
$emu->clear_faults;
$s->{stderr} = '';
is($s->query_safe($rows_sql), $after, 'the session reads every row afterwards');

# 4. 1,000 parallel scans: the leader's memory and connections stay flat
sub rss_kb
{
	open my $st, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!";
	while (<$st>) { return $1 if /^RssAnon:\s+(\d+)\s+kB/; }
	die 'no RssAnon';
}
local $ENV{FAUNA_ENDPOINT} = $emu->endpoint;
my $tiny_sql = 'SELECT count(*), sum(n) FROM tiny';
like($s->query_safe("EXPLAIN (COSTS OFF) $tiny_sql"), qr/Parallel Foreign Scan on tiny/,
	'the small table is read in parallel too');
$s->query_safe($tiny_sql) for 1 .. 50;
my $rss0 = rss_kb();
my $conns0 = `python3 $FindBin::RealBin/../test/tcp_conns.py $pid`;
my $bad = 0;
$t0 = time();
for (1 .. 1000)
{
	$bad++ if $s->query_safe($tiny_sql) ne '20|210';
}
my $rss1 = rss_kb();
my $conns1 = `python3 $FindBin::RealBin/../test/tcp_conns.py $pid`;
is($bad, 0, '1,000 parallel scans each read every row');
cmp_ok($rss1 - $rss0, '<', 1024, 'the leader\'s RssAnon grows by less than 1 MB');
like($conns0, qr/^\d+(,\d+)*$/, 'the leader has connections to Fauna');
is($conns1, $conns0, 'and keeps the same ones');
is(workers(), '0', 'no worker outlives its scan');
diag(sprintf('1,000 parallel scans in %.1f s: RssAnon %d -> %d kB; connections %s -> %s',
	time() - $t0, $rss0, $rss1, $conns0 =~ s/\n//r, $conns1 =~ s/\n//r));

# 5. Asynchronous execution: the first pages of three collections are
# awaited together.  Each first request is held 5 s; all three reach the
# emulator while the first is still held (with async_capable), and only
# one at a time without it.
$emu->fql('Collection.create({ name: "AsA" }); Collection.create({ name: "AsB" }); Collection.create({ name: "AsC" })');
$emu->fql('AsA.create({ n: 1 }); AsB.create({ n: 2 }); AsC.create({ n: 3 })');
$s->query_safe(q{
	CREATE FOREIGN TABLE as_a (n int) SERVER fauna OPTIONS (collection 'AsA', async_capable 'true');
	CREATE FOREIGN TABLE as_b (n int) SERVER fauna OPTIONS (collection 'AsB', async_capable 'true');
	CREATE FOREIGN TABLE as_c (n int) SERVER fauna OPTIONS (collection 'AsC', async_capable 'true');
	SET max_parallel_workers_per_gather = 0;
});
my $union = 'SELECT sum(n) FROM (SELECT n FROM as_a UNION ALL SELECT n FROM as_b UNION ALL SELECT n FROM as_c) u';
like($s->query_safe("EXPLAIN (COSTS OFF) $union"), qr/Async Foreign Scan on as_c/, 'the scans are asynchronous');
for my $async (1, 0)
{
	my $what = $async ? 'asynchronous' : 'synchronous';
	$s->query_safe('SET enable_async_append = ' . ($async ? 'on' : 'off'));
	$emu->fault({ kind => 'delay', delay_ms => 5000, match => "$_.all()" }) for qw(AsA AsB AsC);
	FaunaTest::send_sql($s, "$union;");
	$end = time() + 4;
	sleep 0.02 while time() < $end && @{ $emu->pending_faults } > ($async ? 0 : 2);
	sleep 1 unless $async;    # the others would have come by now
	my $held = 3 - @{ $emu->pending_faults };
	is($held, $async ? 3 : 1, "$what: $held of the three first requests are held at once");
	ok(defined FaunaTest::wait_output($s, 'stdout', qr/^6$/m, 30), "$what: the union reads every row");
	$emu->clear_faults;
}
$s->query_safe('RESET enable_async_append');

$s->quit;
done_testing();
