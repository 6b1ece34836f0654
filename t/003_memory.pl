
# Memory per scan is bounded by a page or two, whatever the collection's
# size: the backend's peak RSS (VmHWM) grows no more for 1,000,000
# documents than for 10,000; 10,000 rescans in a nested loop do not make
# the backend grow either, nor do hundreds of scans that fail mid-way, for
# each way a scan can fail: a malformed page, statement_timeout while a
# response is delayed, a connection dropped in the middle of a body with
# no retries left, retries exhausted on 503, and pg_cancel_backend while a
# request is in flight.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $t_start = time();

# ~300-byte documents
sub write_docs
{
	my ($path, $coll, $n) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh qq({"collection": {"name": "$coll", "history_days": 0}}\n);
	my $pad = 'p' x 200;
	for my $i (1 .. $n)
	{
		print $fh qq({"coll": "$coll", "data": {"n": {"\@int": "$i"}, "name": "document number $i", )
		  . qq("city": "City @{[ $i % 97 ]}", "pad": "$pad", "tags": ["a", "b"]}}\n);
	}
	close $fh;
}
my $big_n = 1_000_000;
write_docs("$tmp/small.jsonl", 'Small', 10_000);
write_docs("$tmp/big.jsonl", 'Big', $big_n);
open my $fh, '>', "$tmp/tiny.jsonl" or die;
print $fh qq({"coll": "Tiny", "data": {"n": {"\@int": "1"}}}\n{"coll": "Tiny", "data": {"n": {"\@int": "2"}}}\n);
close $fh;
diag(sprintf('load files written in %.1f s', time() - $t_start));

sub mb { sprintf('%.1f MB', $_[0] / 1024) }

# a field of /proc/PID/status, in kB
sub proc_kb
{
	my ($pid, $field) = @_;
	open my $st, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!";
	while (<$st>)
	{
		return $1 if /^$field:\s+(\d+)\s+kB/;
	}
	die "no $field in /proc/$pid/status";
}

# the emulator keeps every document in memory (about 2 kB each in Python)
my $t0 = time();
my $emu = FaunaTest->start_emulator(load => [ "$tmp/small.jsonl", "$tmp/big.jsonl", "$tmp/tiny.jsonl" ],
	start_timeout => 600);
diag(sprintf('emulator loaded %d documents in %.1f s, its peak RSS %s',
	$big_n + 10_002, time() - $t0, mb(proc_kb($emu->pid, 'VmHWM'))));
unlink "$tmp/big.jsonl";

# no JIT: loading LLVM adds ~75 MB to a backend's RSS at the first costly
# query, which would drown what is measured here
my $node = FaunaTest->new_node('memory', $emu, conf => 'jit = off');
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE small (ref text, ts timestamptz, data jsonb, n int, name text)
	  SERVER fauna OPTIONS (collection 'Small');
	CREATE FOREIGN TABLE big (ref text, ts timestamptz, data jsonb, n int, name text)
	  SERVER fauna OPTIONS (collection 'Big');
	CREATE FOREIGN TABLE tiny (ref text, data jsonb, n int) SERVER fauna OPTIONS (collection 'Tiny');
	CREATE FOREIGN TABLE small_paged (ref text, data jsonb, n int)
	  SERVER fauna OPTIONS (collection 'Small', page_size '100');
	CREATE TABLE outer_rows AS SELECT g AS k FROM generate_series(1, 10000) g;
	ANALYZE outer_rows;
});

# the session's time limit applies to each query, not to the whole test
my $s = $node->background_psql('postgres', on_error_stop => 0, timeout => 600);
$s->set_query_timer_restart;
my $pid = $s->query_safe('SELECT pg_backend_pid()');

sub status_kb { return proc_kb($pid, $_[0]) }

# bytes allocated in the backend's memory contexts
sub context_bytes
{
	return $s->query_safe('SELECT sum(total_bytes) FROM pg_backend_memory_contexts');
}

# every column, so that every value is decoded; jsonb is the largest.  No
# DISTINCT or sort: their work_mem would be measured too
my $scan = q{SELECT count(*), sum(n), sum(length(data::text)), sum(length(ref)) FROM %s};

# warm up: libcurl, the connection, catalog caches, the decoder
$s->query_safe(sprintf($scan, 'tiny'));
$s->query_safe(sprintf($scan, 'small'));

my $hwm0 = status_kb('VmHWM');
my $r = $s->query_safe(sprintf($scan, 'small'));
like($r, qr/^10000\|50005000\|\d+\|180000$/, 'the 10,000-document scan is complete');
my $hwm1 = status_kb('VmHWM');
$t0 = time();
$r = $s->query_safe(sprintf($scan, 'big'));
my $big_s = time() - $t0;
my $big_sum = $big_n * ($big_n + 1) / 2;
like($r, qr/^$big_n\|$big_sum\|\d+\|@{[ 18 * $big_n ]}$/, 'the 1,000,000-document scan is complete');
my $hwm2 = status_kb('VmHWM');
my ($bytes) = $r =~ /^\d+\|\d+\|(\d+)\|/;
$bytes //= 0;

my $g10 = $hwm1 - $hwm0;
my $gbig = $hwm2 - $hwm0;
diag(sprintf('VmHWM: %s before; +%s after 10,000 documents; +%s after 1,000,000 (%.1f s, %s of data)',
	mb($hwm0), mb($g10), mb($gbig), $big_s, mb($bytes / 1024)));
# 1,000,000 documents are ~300 MB of JSON, two pages of 1,000 about 600 kB:
# memory that grew with N would be far above this bound
cmp_ok($gbig, '<=', 1.5 * $g10 + 4 * 1024,
	'peak memory for 1,000,000 documents is within 1.5x that for 10,000 + 4 MB');
cmp_ok($gbig, '<=', 16 * 1024, 'peak memory growth for 1,000,000 documents is under 16 MB');

# a nested loop that rescans a foreign table 10,000 times
$s->query_safe(q{SET enable_hashjoin = off; SET enable_mergejoin = off;
	SET enable_material = off; SET enable_memoize = off});
# the subquery (OFFSET 0 keeps it from being pulled up) is rescanned, with a
# new parameter, for every outer row
my $join = q{SELECT count(*), sum(t.n) FROM outer_rows o
	CROSS JOIN LATERAL (SELECT n FROM tiny WHERE tiny.n = o.k %% 2 + 1 OFFSET 0) t
	WHERE o.k <= %d};
my $plan = $s->query_safe('EXPLAIN (COSTS OFF) ' . sprintf($join, 10000));
like($plan, qr/Nested Loop.*\n.*Seq Scan on outer_rows.*\n.*Foreign Scan on tiny/s,
	'the join is a nested loop with the foreign scan inside')
  or diag($plan);
is($s->query_safe(sprintf($join, 1000)), '1000|1500', 'a nested loop of 1,000 rescans is complete');
my $rss0 = status_kb('RssAnon');
my $hwm3 = status_kb('VmHWM');
my $ctx0 = context_bytes();
$emu->clear_log;
$t0 = time();
is($s->query_safe(sprintf($join, 10000)), '10000|15000', 'a nested loop of 10,000 rescans is complete');
my $loop_s = time() - $t0;
my $loop_requests = scalar @{ $emu->requests };
my $rss1 = status_kb('RssAnon');
my $hwm4 = status_kb('VmHWM');
my $ctx1 = context_bytes();
diag(sprintf('10,000 rescans (%d requests, %.1f s): RssAnon %s -> %s, VmHWM %s -> %s, contexts %d -> %d bytes',
	$loop_requests, $loop_s, mb($rss0), mb($rss1), mb($hwm3), mb($hwm4), $ctx0, $ctx1));
# a leak of 500 bytes per rescan would be 5 MB
cmp_ok($hwm4 - $hwm3, '<=', 4 * 1024, '10,000 rescans: peak memory grows by under 4 MB');
cmp_ok($rss1 - $rss0, '<=', 4 * 1024, '10,000 rescans: resident memory grows by under 4 MB');
cmp_ok($ctx1 - $ctx0, '<=', 256 * 1024, '10,000 rescans: memory contexts grow by under 256 kB');
$s->query_safe(q{RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material; RESET enable_memoize});

# ----------------------------------------------------------------------
# Scans that fail in the middle (page 2 of 100), many times over, for each
# way a scan can fail.  Each kind runs a few times first (its first
# failure may set up a new connection), then $n times between two
# measurements; the bounds are the same for all.
# ----------------------------------------------------------------------
my $fail_sql = 'SELECT count(*), sum(length(data::text)) FROM small_paged;';
my $complete = '10000|50005000';
my $n = 200;

# $n failing scans sent at once; returns how many errors matched $re
sub fail_batch
{
	my ($count, $re) = @_;
	$s->{stderr} = '';
	$s->query(join("\n", ($fail_sql) x $count));
	my $errors = () = $s->{stderr} =~ /$re/g;
	$s->{stderr} = '';
	return $errors;
}

# send a statement without waiting for it
sub send_sql
{
	my ($sql) = @_;
	$s->{stdout} = '';
	$s->{stderr} = '';
	$s->{stdin} .= "$sql\n";
	$s->{run}->pump_nb;
}

# pump until stderr matches; true if it did within the timeout
sub wait_stderr
{
	my ($re, $timeout) = @_;
	my $end = time() + $timeout;
	while (time() < $end)
	{
		$s->{run}->pump_nb;
		return 1 if $s->{stderr} =~ $re;
		last unless $s->{run}->pumpable;
		sleep 0.002;
	}
	return $s->{stderr} =~ $re;
}

# leak_check(name => ..., run => sub { my $count = shift; ...; errors },
#            warm => 10)
sub leak_check
{
	my (%o) = @_;
	my $name = $o{name};
	my $warm = $o{warm} // 10;
	is($o{run}->($warm), $warm, "$name: $warm scans fail");
	$emu->clear_faults;
	is($s->query_safe('SELECT count(*), sum(n) FROM small_paged'), $complete,
		"$name: a scan after the failures is complete");
	my $rss0 = status_kb('RssAnon');
	my $hwm0 = status_kb('VmHWM');
	my $ctx0 = context_bytes();
	my $t0 = time();
	is($o{run}->($n), $n, "$name: $n more scans fail");
	my $secs = time() - $t0;
	my $rss1 = status_kb('RssAnon');
	my $hwm1 = status_kb('VmHWM');
	my $ctx1 = context_bytes();
	diag(sprintf('%d failed scans, %s (%.1f s): RssAnon %s -> %s, VmHWM %s -> %s, contexts %d -> %d bytes',
		$n, $name, $secs, mb($rss0), mb($rss1), mb($hwm0), mb($hwm1), $ctx0, $ctx1));
	# a leak of 20 kB per error (a libcurl handle, a page) would be 4 MB
	cmp_ok($rss1 - $rss0, '<=', 3 * 1024, "$name: resident memory grows by under 3 MB");
	cmp_ok($hwm1 - $hwm0, '<=', 3 * 1024, "$name: peak memory grows by under 3 MB");
	cmp_ok($ctx1 - $ctx0, '<=', 128 * 1024, "$name: memory contexts grow by under 128 kB");
	is(scalar @{ $emu->pending_faults }, 0, "$name: every injected fault was used");
	$emu->clear_faults;
	is($s->query_safe('SELECT count(*), sum(n) FROM small_paged'), $complete,
		"$name: the session still reads complete rows");
	return;
}

# 1. a malformed second page
leak_check(name => 'malformed page', warm => 20, run => sub {
	my ($count) = @_;
	$emu->fault({ kind => 'malformed', page => 2, count => $count, path => '/query/1' });
	return fail_batch($count, qr/ERROR:  invalid response from Fauna/);
});

# 2. statement_timeout while the second page's response is delayed (the
# first page, 100 documents, takes a few ms)
leak_check(name => 'statement_timeout', run => sub {
	my ($count) = @_;
	$emu->fault({ kind => 'delay', delay_ms => 2000, page => 2, count => $count,
		path => '/query/1' });
	$s->query_safe(q{SET statement_timeout = '60ms'});
	my $errors = fail_batch($count, qr/canceling statement due to statement timeout/);
	$s->query_safe('RESET statement_timeout');
	return $errors;
});

# 3. the connection dropped in the middle of the second page, no retries
$s->query_safe(q{ALTER SERVER fauna OPTIONS (ADD max_retries '0')});
leak_check(name => 'drop_mid_body', run => sub {
	my ($count) = @_;
	$emu->fault({ kind => 'drop_mid_body', page => 2, count => $count, path => '/query/1' });
	return fail_batch($count, qr/ERROR:  could not query Fauna server/);
});

# 4. 503 for every attempt at the second page: retries exhausted
$s->query_safe(q{ALTER SERVER fauna OPTIONS (SET max_retries '1')});
leak_check(name => 'exhausted 503', run => sub {
	my ($count) = @_;
	$emu->fault({ kind => 'status', status => 503, page => 2, count => 2 * $count,
		path => '/query/1' });
	return fail_batch($count, qr/DETAIL:  HTTP 503 after 2 attempts, /);
});
$s->query_safe(q{ALTER SERVER fauna OPTIONS (DROP max_retries)});

# 5. pg_cancel_backend from another session once the second page's request
# has reached the emulator (its delay fault taken), while it waits there
my $c = $node->background_psql('postgres', on_error_stop => 0, timeout => 600);
$c->set_query_timer_restart;
leak_check(name => 'pg_cancel_backend', run => sub {
	my ($count) = @_;
	my $errors = 0;
	for (1 .. $count)
	{
		$emu->fault({ kind => 'delay', delay_ms => 5000, page => 2, path => '/query/1' });
		send_sql($fail_sql);
		my $end = time() + 30;
		sleep 0.002 while time() < $end && @{ $emu->pending_faults };
		$c->query_safe("SELECT pg_cancel_backend($pid)");
		$errors++ if wait_stderr(qr/canceling statement due to user request/, 30);
	}
	# back in step with the session's query protocol
	$s->{stderr} = '';
	$s->query_safe('SELECT 1');
	return $errors;
});
$c->quit;

$s->quit;
$node->stop;
$emu->stop;
diag(sprintf('003_memory: %.0f s in all', time() - $t_start));
done_testing();
