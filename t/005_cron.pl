
# fauna_sync under a real pg_cron: a job calls CALL fauna_sync('ft', 'local')
# every minute while a writer keeps creating, updating and deleting documents
# in Fauna.  Once the writer stops and one more scheduled sync has run, the
# local table equals the collection exactly: same refs, ts and data, nothing
# missing, duplicated or resurrected.  Takes about 2-3 minutes (pg_cron
# schedules by the minute).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Docs" })');
$emu->fql('Set.sequence(0, 150).forEach(i => Docs.create({ k: "seed#{i}", v: "0" }))');

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
jit = off
});
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION fauna_fdw;
	CREATE EXTENSION pg_cron;
	CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
	  OPTIONS (endpoint '@{[ $emu->endpoint ]}');
	-- log_statement = all (the test cluster's) would log the secret
	SET log_statement = 'none';
	CREATE USER MAPPING FOR CURRENT_USER SERVER fauna OPTIONS (secret '@{[ $emu->secret ]}');
	RESET log_statement;
	CREATE FOREIGN TABLE ft (ref text, ts timestamptz, data jsonb) SERVER fauna
	  OPTIONS (collection 'Docs', page_size '40');
	CREATE TABLE local (ref text PRIMARY KEY, ts timestamptz NOT NULL, data jsonb);
});

# the writer: a child process posting FQL, bounded in time and count; it
# reports what it did in a file
my $report = PostgreSQL::Test::Utils::tempdir() . '/writer.json';
my $stopfile = "$report.stop";
sub start_writer
{
	my ($seconds, $max_ops) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	return $pid if $pid;
	my %done = (create => 0, update => 0, delete => 0, multi => 0, failed => 0);
	my $http = HTTP::Tiny->new(timeout => 30);
	my $json = JSON::PP->new;
	my $q = sub {
		my ($fql) = @_;
		my $r = $http->post($emu->endpoint . '/query/1', {
			headers => { Authorization => 'Bearer ' . $emu->secret },
			content => $json->encode({ query => $fql }) });
		return undef unless $r->{status} == 200;
		return $json->decode($r->{content})->{data};
	};
	my $ids = $q->('Docs.all().pageSize(10000).map(.id)');
	my @live = @{ $ids->{data} // [] };
	my $end = time() + $seconds;
	my $i = 0;
	while (time() < $end && $i < $max_ops && !-e $stopfile)
	{
		$i++;
		my $r = rand();
		if ($r < 0.4 || @live < 20)
		{
			my $id = $q->(qq{Docs.create({ k: "w$i", v: "$i" }).id});
			if (defined $id) { push @live, $id; $done{create}++ } else { $done{failed}++ }
		}
		elsif ($r < 0.75)
		{
			my $id = $live[ int(rand(@live)) ];
			defined $q->(qq{Docs.byId("$id")!.update({ v: "u$i" }).id}) ? $done{update}++ : $done{failed}++;
		}
		elsif ($r < 0.95)
		{
			my $at = int(rand(@live));
			my $id = $live[$at];
			if (defined $q->(qq{Docs.byId("$id")!.delete(); true})) { splice @live, $at, 1; $done{delete}++ }
			else { $done{failed}++ }
		}
		else
		{
			# one transaction: update one, delete another, create one
			my ($a, $b) = (int(rand(@live)), int(rand(@live)));
			next if $a == $b;
			my ($ia, $ib) = ($live[$a], $live[$b]);
			my $id = $q->(qq{Docs.byId("$ia")!.update({ v: "m$i" }); Docs.byId("$ib")!.delete(); Docs.create({ k: "m$i", v: "$i" }).id});
			if (defined $id)
			{
				splice @live, $b, 1;
				push @live, $id;
				$done{multi}++;
			}
			else { $done{failed}++ }
		}
		sleep(0.02 + rand(0.06));
	}
	open my $fh, '>', $report;
	print $fh $json->encode(\%done);
	close $fh;
	POSIX::_exit(0);
}

sub cron_runs
{
	my ($cond) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE status = 'succeeded'),
		       count(*) FILTER (WHERE status = 'failed'),
		       coalesce(string_agg(return_message, '; ') FILTER (WHERE status = 'failed'), '')
		  FROM cron.job_run_details WHERE $cond});
}

# wait (bounded) for a scheduled run that started after $since (epoch) to end
sub wait_cron_run_after
{
	my ($since, $timeout) = @_;
	my $end = time() + $timeout;
	my $cond = "command LIKE '%fauna_sync%' AND start_time > to_timestamp($since) "
	  . "AND status IN ('succeeded', 'failed')";
	while (time() < $end)
	{
		my ($ok, $failed) = split /\|/, cron_runs($cond);
		return 1 if $ok + $failed > 0;
		sleep 0.5;
	}
	return 0;
}

my $jobid = $node->safe_psql('postgres',
	q{SELECT cron.schedule('fauna-sync', '* * * * *', $$CALL fauna_sync('ft', 'local')$$)});
ok($jobid =~ /^\d+$/, 'the sync job is scheduled');

# write for at least one scheduled run (<= 60 s away), calling the
# procedure directly in between as well
my $t_start = time();
my $writer = start_writer(110, 5000);
my $direct = 0;
my $direct_failed = '';
my $saw_cron = 0;
while (time() - $t_start < 105)
{
	sleep 7;
	my ($ret, $out, $err) = $node->psql('postgres', q{CALL fauna_sync('ft', 'local')});
	if ($ret == 0) { $direct++ } else { $direct_failed .= $err }
	if (!$saw_cron)
	{
		my ($ok) = split /\|/, cron_runs("command LIKE '%fauna_sync%' AND start_time > to_timestamp($t_start)");
		$saw_cron = time() if $ok > 0;
	}
	# keep writing ~15 s past the first scheduled run, then stop
	last if $saw_cron && time() - $saw_cron > 15;
}
open my $sf, '>', $stopfile;
close $sf;
waitpid($writer, 0);
my $t_stop = time();
ok(-e $report, 'the writer finished');
my $done = eval { JSON::PP->new->decode(slurp_file($report)) } // {};
diag(sprintf('writer: %.0f s, %d creates, %d updates, %d deletes, %d multi-document transactions, %d failed',
	$t_stop - $t_start, map { $done->{$_} // 0 } qw(create update delete multi failed)));
cmp_ok($done->{delete} // 0, '>', 5, 'the writer deleted documents');
cmp_ok($done->{update} // 0, '>', 5, 'the writer updated documents');
is($done->{failed} // 0, 0, 'every write of the writer succeeded');
is($direct_failed, '', "direct calls during the writes succeeded ($direct calls)");
ok($saw_cron, 'a scheduled sync ran while the writer was writing');

# one more scheduled run after the writer stopped
ok(wait_cron_run_after($t_stop, 75), 'a scheduled sync ran after the writer stopped');
my ($ok_runs, $failed_runs, $failures) =
  split /\|/, cron_runs("command LIKE '%fauna_sync%'"), 3;
diag("pg_cron: $ok_runs runs succeeded, $failed_runs failed");
cmp_ok($ok_runs, '>=', 2, 'at least two scheduled syncs succeeded');
is($failed_runs, 0, 'no scheduled sync failed') or diag($failures);

# the collection, read directly from the emulator
my $page = $emu->fql('Docs.all().pageSize(16000) { id, ts, data }');
ok(!defined $page->{after}, 'the collection fits in one page');
my @truth = @{ $page->{data} };
my $truth_json = JSON::PP->new->canonical->encode([ map {
	{ ref => $_->{id}, ts => (ref $_->{ts} ? $_->{ts}{'@time'} : $_->{ts}), data => $_->{data} }
} @truth ]);
$truth_json =~ s/'/''/g;
$node->safe_psql('postgres', qq{
	CREATE TABLE truth AS
	SELECT e->>'ref' AS ref, (e->>'ts')::timestamptz AS ts, e->'data' AS data
	  FROM jsonb_array_elements('$truth_json'::jsonb) e;
});
my $n_truth = scalar @truth;
is($node->safe_psql('postgres', 'SELECT count(*) FROM truth'), $n_truth, "the collection has $n_truth documents");
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT ref) FROM local'), "$n_truth|$n_truth",
	'the local table has as many rows, each ref once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT ref FROM truth EXCEPT SELECT ref FROM local) x}),
	'0', 'no document is missing locally');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT ref FROM local EXCEPT SELECT ref FROM truth) x}),
	'0', 'no deleted document is left or resurrected locally');
my $diff = $node->safe_psql('postgres', q{
	SELECT string_agg(format('%s: local (%s, %s) fauna (%s, %s)', t.ref, l.ts, l.data, t.ts, t.data), E'\n')
	  FROM truth t JOIN local l USING (ref)
	 WHERE l.ts IS DISTINCT FROM t.ts OR l.data IS DISTINCT FROM t.data});
is($diff, '', 'every row has the document\'s ts and data');
my ($upserts) = $node->safe_psql('postgres',
	q{SELECT high_water IS NOT NULL AND NOT full_copy FROM fauna_sync_state});
is($upserts, 't', 'the last sync was incremental, with a high-water mark');

$node->safe_psql('postgres', q{SELECT cron.unschedule('fauna-sync')});
$node->stop;
$emu->stop;
done_testing();
