
# README promises that no other test checks:
#  - two fauna_sync calls for the same pair never interleave (the second
#    waits on the pair's advisory lock, and sends nothing until the first
#    commits);
#  - fauna_fdw_check can be cancelled (statement_timeout, pg_cancel_backend)
#    although it turns every other error into a row;
#  - redirects are never followed and ~/.netrc is never used;
#  - IMPORT FOREIGN SCHEMA truncates names over 63 bytes the way PostgreSQL
#    does, and reports clashes after truncation.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Items" })');
$emu->fql('Set.sequence(1, 11).forEach(i => Items.create({ n: i }))');

my $node = FaunaTest->new_node('promises', $emu);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE ft (ref text, ts timestamptz, n int) SERVER fauna
	  OPTIONS (collection 'Items', page_size '4');
	CREATE TABLE local (ref text PRIMARY KEY, ts timestamptz NOT NULL, n int);
});
my $complete = '10|55';

my $s1 = $node->background_psql('postgres', on_error_stop => 0);
my $s2 = $node->background_psql('postgres', on_error_stop => 0);
my $s3 = $node->background_psql('postgres', on_error_stop => 0);

# statements sent without waiting, and waits for their output (FaunaTest.pm)
*send_sql = \&FaunaTest::send_sql;
*wait_output = \&FaunaTest::wait_output;

# ----------------------------------------------------------------------
# fauna_sync: two calls for the same pair never interleave
# ----------------------------------------------------------------------
my $pid2 = $s2->query_safe('SELECT pg_backend_pid()');
# the first call, left open: its transaction holds the pair's lock
$s1->query_safe("BEGIN; CALL fauna_sync('ft', 'local')");
is($s1->query_safe('SELECT count(*), sum(n) FROM local'), $complete,
	'the first call copied the collection (not committed yet)');
$emu->clear_log;
send_sql($s2, "CALL fauna_sync('ft', 'local'); SELECT 'second done';");

# the second waits on an advisory lock held by the first
my $waiting = '';
my $end = time() + 60;
while (time() < $end)
{
	$waiting = $s3->query_safe(qq{
		SELECT l.locktype || ' ' || l.granted || ' ' || a.wait_event_type || ' ' || a.wait_event
		FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.pid = $pid2 AND NOT l.granted});
	last if $waiting ne '';
	sleep 0.05;
}
is($waiting, 'advisory false Lock advisory', 'the second call waits on the advisory lock');
my $holder = $s3->query_safe(qq{
	SELECT count(*) FROM pg_locks w JOIN pg_locks h
	  ON h.locktype = 'advisory' AND h.granted AND h.objid = w.objid AND h.classid = w.classid
	WHERE w.pid = $pid2 AND NOT w.granted AND h.pid = @{[ $s1->query_safe('SELECT pg_backend_pid()') ]}});
is($holder, '1', 'the lock it waits for is held by the first call');
sleep 0.5;
is(scalar @{ $emu->requests }, 0, 'while it waits, the second call sends no request to Fauna');
$s2->{run}->pump_nb;
unlike($s2->{stdout}, qr/second done/, 'and has not finished');

# a write the second call must see, then the first commits
$emu->fql('Items.create({ n: 100 })');
$s1->query_safe('COMMIT');
ok(defined wait_output($s2, 'stdout', qr/second done/, 60),
	'once the first commits, the second call runs')
  or diag("stderr: $s2->{stderr}");
cmp_ok(scalar @{ $emu->requests }, '>', 0, 'and only then talks to Fauna');
is($s3->query_safe('SELECT count(*), sum(n) FROM local'), '11|155',
	'the second call applied the change made in between');

# ----------------------------------------------------------------------
# fauna_fdw_check can be cancelled
# ----------------------------------------------------------------------
my $pid1 = $s1->query_safe('SELECT pg_backend_pid()');
$emu->clear_faults;
$emu->fault({ kind => 'delay', delay_ms => 20000, path => '/query/1', count => 100 });
$s1->{stderr} = '';
my $t0 = time();
$s1->query(q{SET statement_timeout = '300ms'; SELECT count(*) FROM fauna_fdw_check('fauna', ARRAY['Items']); RESET statement_timeout;});
my $elapsed = time() - $t0;
like($s1->{stderr}, qr/canceling statement due to statement timeout/,
	'statement_timeout cancels fauna_fdw_check (an error, not a row)');
cmp_ok($elapsed, '<', 5, 'promptly');
diag(sprintf('fauna_fdw_check, statement_timeout 300ms: ended after %.3f s', $elapsed));
# the error text may come after the query's separator
wait_output($s1, 'stderr', qr/statement timeout/, 5);
$s1->{stderr} = '';

send_sql($s1, q{SELECT count(*) FROM fauna_fdw_check('fauna', ARRAY['Items']);});
my $active = '';
$end = time() + 60;
while (time() < $end)
{
	$active = $s3->query_safe(
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid1 AND state = 'active' AND query LIKE '%fauna_fdw_check%'");
	last if $active eq '1';
	sleep 0.05;
}
is($active, '1', 'fauna_fdw_check is running');
sleep 0.3;		# inside its (delayed) request
my $tc = time();
is($s3->query_safe("SELECT pg_cancel_backend($pid1)"), 't', 'pg_cancel_backend signalled');
my $te = wait_output($s1, 'stderr', qr/canceling statement due to user request/, 30);
ok(defined $te, 'pg_cancel_backend cancels fauna_fdw_check') or diag("stderr: $s1->{stderr}");
cmp_ok(($te // time()) - $tc, '<', 5, 'promptly');
$emu->clear_faults;
$s1->{stderr} = '';
$s1->query('SELECT 1');
$s1->{stderr} = '';
is($s1->query_safe(q{SELECT bool_and(ok) FROM fauna_fdw_check('fauna', ARRAY['Items']) WHERE test <> 'ts index'}),
	't', 'afterwards the same session checks fine');

$s1->quit;
$s2->quit;
$s3->quit;

# ----------------------------------------------------------------------
# redirects and ~/.netrc
# ----------------------------------------------------------------------
# A stub HTTP server: "redirect CODE URL" answers every request with CODE
# and Location URL; "record FILE" answers 401 with a Fauna error and
# appends each request's Authorization header to FILE.
my $dir = PostgreSQL::Test::Utils::tempdir();
open my $fh, '>', "$dir/stub.py" or die $!;
print $fh <<'PY';
import http.server, json, sys
mode, arg = sys.argv[1], sys.argv[2:]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if mode == "redirect":
            self.send_response(int(arg[0]))
            self.send_header("Location", arg[1])
            body = b""
        else:
            with open(arg[0], "a") as f:
                f.write("%s\n" % self.headers.get("Authorization"))
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Bearer")
            body = json.dumps({"error": {"code": "unauthorized",
                                         "message": "Invalid token, unable to validate request."}}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
PY
close $fh;

my @stubs;
sub start_stub
{
	my @args = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'python3', "$dir/stub.py", @args ], '<', \undef, '>', \$out, '2>', \$err);
	my $end = time() + 30;
	while (time() < $end && $out !~ /listening on (\S+)/)
	{
		$h->pump_nb;
		sleep 0.05;
	}
	die "stub did not start: $out$err" unless $out =~ /listening on (\S+)/;
	push @stubs, $h;
	return $1;
}

my $emu_ep = $emu->endpoint;
for my $code (301, 302, 307, 308)
{
	my $stub = start_stub('redirect', $code, "$emu_ep/query/1");
	$node->safe_psql('postgres', qq{
		CREATE SERVER redir_$code FOREIGN DATA WRAPPER fauna_fdw
		  OPTIONS (endpoint '$stub', max_retries '0');
		SET log_statement = 'none';
		CREATE USER MAPPING FOR CURRENT_USER SERVER redir_$code
		  OPTIONS (secret '@{[ $emu->secret ]}');
		RESET log_statement;
		CREATE FOREIGN TABLE redir_$code (ref text, n int) SERVER redir_$code
		  OPTIONS (collection 'Items', index 'none');
	});
	$emu->clear_log;
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM redir_$code");
	isnt($ret, 0, "a $code answer fails the statement");
	like($err, qr/HTTP $code/, "the error names the $code") or diag($err);
	is(scalar @{ $emu->requests }, 0, "the redirect's target got no request ($code)");
}

# ~/.netrc of the server's OS user, with credentials for the endpoint's host
my $home = $ENV{HOME};
my $environ = slurp_file('/proc/' . $node->{_pid} . '/environ');
like($environ, qr/(?:^|\0)HOME=\Q$home\E\0/, 'the server runs with this HOME');
my $recfile = "$dir/authorization.log";
my $recorder = start_stub('record', $recfile);
open $fh, '>', "$home/.netrc" or die "$home/.netrc: $!";
print $fh "machine 127.0.0.1 login netrcuser password netrcpassword\ndefault login netrcuser password netrcpassword\n";
close $fh;
chmod 0600, "$home/.netrc";
# the control: the curl tool reading that .netrc sends its credentials
system('curl', '-s', '-o', '/dev/null', '--netrc', '-X', 'POST', "$recorder/query/1");
like(slurp_file($recfile), qr/^Basic /m, 'control: curl --netrc sends the .netrc credentials');
unlink $recfile;

$node->safe_psql('postgres', qq{
	CREATE SERVER netrc FOREIGN DATA WRAPPER fauna_fdw
	  OPTIONS (endpoint '$recorder', max_retries '0');
	SET log_statement = 'none';
	CREATE USER MAPPING FOR CURRENT_USER SERVER netrc OPTIONS (secret 'mapping_secret_1234');
	RESET log_statement;
	CREATE FOREIGN TABLE netrc_items (ref text, n int) SERVER netrc
	  OPTIONS (collection 'Items', index 'none');
});
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM netrc_items');
like($err, qr/authentication failed/, 'the recorder refused the request');
my @auth = split /\n/, slurp_file($recfile);
cmp_ok(scalar @auth, '>=', 1, 'the recorder got the request');
is_deeply([ grep { $_ ne 'Bearer mapping_secret_1234' } @auth ], [],
	'every request carried the mapping\'s secret, never the .netrc credentials');
unlink "$home/.netrc";
$_->kill_kill(grace => 5) for @stubs;

# ----------------------------------------------------------------------
# IMPORT FOREIGN SCHEMA: names over 63 bytes
# ----------------------------------------------------------------------
my $long = 'Long' . ('x' x 70);            # 74 bytes
$emu->fql(qq{Collection.create({ name: "$long" })});
$emu->fql(qq{$long.create({ n: 7 })});
$node->safe_psql('postgres', q{
	CREATE SCHEMA imp_long;
	IMPORT FOREIGN SCHEMA fauna LIMIT TO (items) FROM SERVER fauna INTO imp_long;
});
my ($r1, $o1, $e1) = $node->psql('postgres', q{
	CREATE SCHEMA imp_long2;
	IMPORT FOREIGN SCHEMA fauna FROM SERVER fauna INTO imp_long2;
});
is($r1, 0, 'a collection name over 63 bytes imports') or diag($e1);
my $want = lc(substr($long, 0, 63));
is($node->safe_psql('postgres', q{
	SELECT c.relname || ' ' || octet_length(c.relname) || ' ' || array_to_string(t.ftoptions, ',')
	FROM pg_class c JOIN pg_foreign_table t ON t.ftrelid = c.oid
	WHERE c.relnamespace = 'imp_long2'::regnamespace AND c.relname LIKE 'long%'}),
	"$want 63 collection=$long,index=none",
	'the table name is truncated to 63 bytes; the collection option keeps the full name');
is($node->safe_psql('postgres', qq{SELECT data->>'n' FROM imp_long2."$want"}), '7',
	'and the table reads the collection');

# two names equal in their first 63 bytes (after folding)
my $clash_a = 'Clash' . ('y' x 60) . 'A';
my $clash_b = 'Clash' . ('y' x 60) . 'B';
$emu->fql(qq{Collection.create({ name: "$clash_a" })});
$emu->fql(qq{Collection.create({ name: "$clash_b" })});
my ($r2, $o2, $e2) = $node->psql('postgres', q{
	CREATE SCHEMA imp_clash;
	IMPORT FOREIGN SCHEMA fauna FROM SERVER fauna INTO imp_clash;
});
isnt($r2, 0, 'names that clash after truncation stop the import');
like($e2, qr/\Q$clash_a\E/, 'the error names the first collection') or diag($e2);
like($e2, qr/\Q$clash_b\E/, 'and the second');
like($e2, qr/\Q@{[ lc(substr($clash_a, 0, 63)) ]}\E/, 'and the truncated name they share');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class WHERE relnamespace = 'imp_clash'::regnamespace}), '0',
	'nothing was imported');

$node->stop;
$emu->stop;
done_testing();
