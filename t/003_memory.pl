
# Memory per scan is bounded by a page or two, whatever the collection's
# size: the backend's peak RSS (VmHWM) grows no more for 200,000 documents
# than for 10,000; 10,000 rescans in a nested loop and 200 scans that fail
# mid-way do not make the backend grow either.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $tmp = PostgreSQL::Test::Utils::tempdir();

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
write_docs("$tmp/small.jsonl", 'Small', 10_000);
write_docs("$tmp/big.jsonl", 'Big', 200_000);
open my $fh, '>', "$tmp/tiny.jsonl" or die;
print $fh qq({"coll": "Tiny", "data": {"n": {"\@int": "1"}}}\n{"coll": "Tiny", "data": {"n": {"\@int": "2"}}}\n);
close $fh;

my $t0 = time();
my $emu = FaunaTest->start_emulator(load => [ "$tmp/small.jsonl", "$tmp/big.jsonl", "$tmp/tiny.jsonl" ],
	start_timeout => 300);
diag(sprintf('emulator loaded 210,002 documents in %.1f s', time() - $t0));

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

my $s = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');

sub status_kb
{
	my ($field) = @_;
	open my $st, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!";
	while (<$st>)
	{
		return $1 if /^$field:\s+(\d+)\s+kB/;
	}
	die "no $field in /proc/$pid/status";
}

# bytes allocated in the backend's memory contexts
sub context_bytes
{
	return $s->query_safe('SELECT sum(total_bytes) FROM pg_backend_memory_contexts');
}

sub mb { sprintf('%.1f MB', $_[0] / 1024) }

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
like($r, qr/^200000\|20000100000\|\d+\|3600000$/, 'the 200,000-document scan is complete');
my $hwm2 = status_kb('VmHWM');
my ($bytes) = $r =~ /^\d+\|\d+\|(\d+)\|/;

my $g10 = $hwm1 - $hwm0;
my $g200 = $hwm2 - $hwm0;
diag(sprintf('VmHWM: %s before; +%s after 10,000 documents; +%s after 200,000 (%.1f s, %s of data)',
	mb($hwm0), mb($g10), mb($g200), $big_s, mb($bytes / 1024)));
# 200,000 documents are ~60 MB of JSON: memory that grew with N would be
# far above this bound
cmp_ok($g200, '<=', 1.5 * $g10 + 4 * 1024,
	'peak memory for 200,000 documents is within 1.5x that for 10,000 + 4 MB');
cmp_ok($g200, '<=', 16 * 1024, 'peak memory growth for 200,000 documents is under 16 MB');

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

# an error in the middle of a scan (a malformed second page), 200 times
my $fail_sql = 'SELECT count(*), sum(length(data::text)) FROM small_paged;';
sub fail_scans
{
	my ($n) = @_;
	$emu->fault({ kind => 'malformed', page => 2, count => $n, path => '/query/1' });
	$s->{stderr} = '';
	$s->query(join("\n", ($fail_sql) x $n));
	my $errors = () = $s->{stderr} =~ /ERROR:/g;
	$s->{stderr} = '';
	return $errors;
}
is(fail_scans(20), 20, '20 scans fail on the malformed page');
is($s->query_safe('SELECT count(*) FROM small_paged'), '10000', 'a scan after the failures is complete');
$rss0 = status_kb('RssAnon');
$hwm3 = status_kb('VmHWM');
$ctx0 = context_bytes();
$t0 = time();
is(fail_scans(200), 200, '200 more scans fail on the malformed page');
my $fail_s = time() - $t0;
$rss1 = status_kb('RssAnon');
$hwm4 = status_kb('VmHWM');
$ctx1 = context_bytes();
diag(sprintf('200 failed scans (%.1f s): RssAnon %s -> %s, VmHWM %s -> %s, contexts %d -> %d bytes',
	$fail_s, mb($rss0), mb($rss1), mb($hwm3), mb($hwm4), $ctx0, $ctx1));
# a leak of 20 kB per error (a libcurl handle, a page) would be 4 MB
cmp_ok($rss1 - $rss0, '<=', 3 * 1024, '200 failed scans: resident memory grows by under 3 MB');
cmp_ok($hwm4 - $hwm3, '<=', 3 * 1024, '200 failed scans: peak memory grows by under 3 MB');
cmp_ok($ctx1 - $ctx0, '<=', 128 * 1024, '200 failed scans: memory contexts grow by under 128 kB');
is(scalar @{ $emu->pending_faults }, 0, 'every injected fault was used');
is($s->query_safe('SELECT count(*), sum(n) FROM small_paged'), '10000|50005000',
	'the session still reads complete rows');

$s->quit;
$node->stop;
$emu->stop;
done_testing();
