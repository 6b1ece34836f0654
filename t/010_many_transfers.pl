
# Many transfers at once on one user mapping: 100 cursors of one table, each
# with a page request in flight (held by a delay fault) while the others
# start, all return every row.  The socket table of a connection has no
# limit of its own: with a fixed one, the transfer past it failed every
# transfer of the mapping.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $ncursors = 100;

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Paged" })');
$emu->fql('Set.sequence(1, 10).forEach(i => Paged.create({ n: i }))');    # 9 docs

my $node = FaunaTest->new_node('many', $emu);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE paged (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Paged', page_size '2');
});
my $serial = $node->safe_psql('postgres', 'SELECT count(*), sum(n) FROM paged');
is($serial, '9|45', 'a serial read');

# every cursor's second page is held for 3 s: while the cursors are opened
# one after the other, each keeps its prefetched request (and its socket)
# in flight
$emu->fault({ kind => 'delay', delay_ms => 3000, page => 2, path => '/query/1',
	count => 2 * $ncursors });

my $sql = "BEGIN;\n";
$sql .= "DECLARE c$_ CURSOR FOR SELECT n FROM paged;\n" for 1 .. $ncursors;
$sql .= "FETCH 1 FROM c$_;\n" for 1 .. $ncursors;
$sql .= "FETCH ALL FROM c$_;\n" for 1 .. $ncursors;
$sql .= "COMMIT;\n";

my $t0 = time();
my ($ret, $out, $err) = $node->psql('postgres', $sql, timeout => 300);
is($ret, 0, "$ncursors cursors open at once on one mapping: no error")
  or diag($err);
# one row from each cursor, then the rest of each
my @ns = grep { /^\d+$/ } split /\n/, $out;
is(scalar(@ns), 9 * $ncursors, 'every cursor returned 9 rows');
my $sum = 0;
$sum += $_ for @ns;
is($sum, 45 * $ncursors, 'each cursor returned every row, once');
# the requests the emulator held at the same moment: each is logged when
# answered ("time") with how long it took ("elapsed_ms", the delay included)
my @edges;
for my $r (@{ $emu->requests })
{
	next unless defined $r->{elapsed_ms};
	push @edges, [ $r->{time} - $r->{elapsed_ms} / 1000.0, 1 ], [ $r->{time}, -1 ];
}
my ($open, $most) = (0, 0);
for my $e (sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @edges)
{
	$open += $e->[1];
	$most = $open if $open > $most;
}
cmp_ok($most, '>=', $ncursors, "$ncursors page requests were in flight at once");

# curl's sockets count against PostgreSQL's budget of file descriptors:
# with a small budget the transfer past it fails its statement with a
# clear error (no retries), and the session goes on
$emu->clear_faults;
$emu->fault({ kind => 'delay', delay_ms => 2000, page => 2, path => '/query/1',
	count => 2 * $ncursors });
my $small = FaunaTest->new_node('few_fds', $emu, conf => 'max_files_per_process = 80');
$small->safe_psql('postgres', q{
	CREATE FOREIGN TABLE paged (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Paged', page_size '2');
});
($ret, $out, $err) = $small->psql('postgres', $sql, timeout => 300);
like($err, qr/ERROR:  could not open a connection to Fauna server "fauna" for collection "Paged"/,
	'past the descriptor budget: a clear error');
like($err, qr/max_files_per_process/, 'naming the setting');
is($small->safe_psql('postgres', 'SELECT count(*), sum(n) FROM paged'), '9|45',
	'and the next statement reads every row');
$emu->clear_faults;

done_testing();
