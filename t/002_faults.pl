
# Retries, checked against the emulator's request log (what sql/faults.sql
# cannot see): how many attempts were made, and that a retry in the middle of
# a scan asks again for the failed page, not for the first one.  Exhausted
# retries fail the statement, naming the attempts, and an INSERT ... SELECT
# around the scan inserts nothing.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Paged" })');
$emu->fql('Set.sequence(1, 10).forEach(i => Paged.create({ n: i }))');    # 9 docs

my $node = FaunaTest->new_node('faults', $emu);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE paged (ref text, ts timestamptz, n int) SERVER fauna
	  OPTIONS (collection 'Paged', page_size '2', index 'none');
	CREATE TABLE local_copy (ref text PRIMARY KEY, ts timestamptz, n int);
});

my $complete = '9|45|9';
my $check_sql = 'SELECT count(*), sum(n), count(DISTINCT ref) FROM paged';
is($node->safe_psql('postgres', $check_sql), $complete, 'the table reads completely');

# the scan's own requests: the first page (pageSize) and the following ones
# (Set.paginate); anything else (discovery) is left out
sub scan_requests
{
	return [ grep { $_->{path} eq '/query/1' && defined $_->{body}
		  && ($_->{body} =~ /pageSize|Set\.paginate/) } @{ $emu->requests } ];
}

sub cursor_of
{
	my ($r) = @_;
	return undef unless $r->{body} =~ /Set\.paginate/;
	my ($tok) = $r->{body} =~ /"([A-Za-z0-9_\-+\/=]{40,})"/;
	return $tok;
}

$emu->clear_log;
$node->safe_psql('postgres', $check_sql);
my $plain = scan_requests();
is(scalar @$plain, 5, 'a clean scan of 9 documents at page_size 2 takes 5 requests');
is(scalar(grep { !defined cursor_of($_) } @$plain), 1, 'one of them is the first page');

# 1. 429 three times, then success: 4 attempts, complete rows, no duplicates
$emu->clear_log;
$emu->fault({ kind => 'status', status => 429, count => 3, path => '/query/1', page => 1,
	match => 'pageSize' });
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(*), sum(n), count(DISTINCT ref) FROM paged");
is($ret, 0, '429 x3 then success: the statement succeeds') or diag($err);
is($out, $complete, '429 x3: rows complete, no duplicates');
my $reqs = scan_requests();
my @first = grep { !defined cursor_of($_) } @$reqs;
is(scalar @first, 4, '429 x3: the first page was attempted 4 times');
is(scalar(grep { ($_->{status} // 0) == 429 } @first), 3, '429 x3: three of them were refused');
is(scalar(grep { ($_->{status} // 0) == 200 } @first), 1, '429 x3: then one succeeded');
is(scalar @$reqs, 8, '429 x3: 8 scan requests in all (4 + 4 following pages)');

# 2. 503 on page 3 of 5: the retry asks for page 3 again, page 1 once
$emu->clear_log;
$node->safe_psql('postgres', 'TRUNCATE local_copy');
$emu->fault({ kind => 'status', status => 503, page => 3, path => '/query/1' });
($ret, $out, $err) = $node->psql('postgres',
	"INSERT INTO local_copy SELECT ref, ts, n FROM paged; SELECT count(*), sum(n), count(DISTINCT ref) FROM local_copy");
is($ret, 0, '503 on page 3: the statement succeeds') or diag($err);
is($out, $complete, '503 on page 3: rows complete, no duplicates (primary key held)');
$reqs = scan_requests();
is(scalar @$reqs, 6, '503 on page 3: 6 requests (5 pages + 1 retry)');
is(scalar(grep { !defined cursor_of($_) } @$reqs), 1, '503 on page 3: page 1 requested once');
my @failed = grep { ($_->{status} // 0) == 503 } @$reqs;
is(scalar @failed, 1, '503 on page 3: one request refused');
SKIP:
{
	skip 'no refused request', 4 unless @failed;
	my $idx = (grep { ($reqs->[$_]{status} // 0) == 503 } 0 .. $#$reqs)[0];
	is($idx, 2, 'the refused request is the third of the scan');
	my $retry = $reqs->[ $idx + 1 ];
	ok(defined cursor_of($failed[0]), 'the refused request carried a cursor');
	is(cursor_of($retry), cursor_of($failed[0]), 'the retry repeats the cursor of page 3');
	is($retry->{status}, 200, 'the retry succeeded');
}
my %seen;
$seen{ cursor_of($_) // 'first' }++ for @$reqs;
is_deeply([ sort { $a <=> $b } values %seen ], [ 1, 1, 1, 1, 2 ],
	'each page was asked for once, page 3 twice');

# 3. max_retries exhausted: ERROR naming the attempts; nothing inserted
$node->safe_psql('postgres', q{
	TRUNCATE local_copy;
	ALTER SERVER fauna OPTIONS (ADD max_retries '2');
});
$emu->clear_log;
$emu->fault({ kind => 'status', status => 503, page => 4, count => 3, path => '/query/1' });
($ret, $out, $err) = $node->psql('postgres',
	"INSERT INTO local_copy SELECT ref, ts, n FROM paged");
isnt($ret, 0, 'retries exhausted: the statement fails');
like($err, qr/ERROR:.*Fauna query on collection "Paged" failed/, 'retries exhausted: an ERROR for the collection');
like($err, qr/after 3 attempts/, 'retries exhausted: the error names the 3 attempts');
like($err, qr/503/, 'retries exhausted: the error names the HTTP status');
is(scalar(grep { ($_->{status} // 0) == 503 } @{ scan_requests() }), 3,
	'retries exhausted: exactly 3 attempts at page 4 (1 + max_retries)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM local_copy'), '0',
	'retries exhausted: INSERT ... SELECT inserted nothing');

# the same with a transport failure: the connection is dropped (before any
# response) on every attempt at page 2
$emu->clear_log;
$emu->fault({ kind => 'drop', page => 2, count => 50, path => '/query/1' });
($ret, $out, $err) = $node->psql('postgres',
	"INSERT INTO local_copy SELECT ref, ts, n FROM paged");
isnt($ret, 0, 'dropped connections: the statement fails');
like($err, qr/could not query Fauna server "fauna" for collection "Paged"/,
	'dropped connections: a connection error');
like($err, qr/after 3 attempts/, 'dropped connections: the error names the 3 attempts');
is($node->safe_psql('postgres', 'SELECT count(*) FROM local_copy'), '0',
	'dropped connections: nothing inserted');
my $drops = grep { ($_->{fault} // '') eq 'drop' } @{ scan_requests() };
diag("dropped connections: $drops HTTP requests for page 2 with max_retries 2");
# 1 + max_retries attempts; libcurl adds one transparent re-send when the
# first attempt went out on a kept-alive connection that closed without an
# answer, since that is indistinguishable from a stale idle connection (safe
# here: reads are idempotent).
cmp_ok($drops, '>=', 3, 'dropped connections: every attempt reached the server');
cmp_ok($drops, '<=', 4, 'dropped connections: at most one uncounted re-send');
$emu->clear_faults;

# within max_retries again: the same statement works and inserts everything
$emu->fault({ kind => 'status', status => 429, page => 5, count => 2, path => '/query/1' });
($ret, $out, $err) = $node->psql('postgres',
	"INSERT INTO local_copy SELECT ref, ts, n FROM paged; SELECT count(*), sum(n), count(DISTINCT ref) FROM local_copy");
is($ret, 0, '429 x2 on the last page within max_retries 2: succeeds') or diag($err);
is($out, $complete, '... and inserts every row once');

$node->stop;
$emu->stop;
done_testing();
