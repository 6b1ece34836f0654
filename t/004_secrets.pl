
# The secret never leaks: a workload of errors (bad secret, permission
# denied, missing collection, faults, timeouts), EXPLAIN VERBOSE / ANALYZE,
# \des+ and \deu+, at log_min_messages = debug5, leaves no trace of it in the
# server log, query outputs or error texts, except where PostgreSQL shows a
# user mapping's options to that mapping's own user.  Users without a secret
# get a clear error; other users cannot change the server's options.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# distinctive throwaway secrets: the admin key (alice's mapping), a
# read-only key (bob's), and a wrong one
my $secret = FaunaTest::random_secret('fnAEzqSECRETalice');
my $emu = FaunaTest->start_emulator(secret => $secret);
$emu->fql('Collection.create({ name: "Items" })');
$emu->fql('Collection.create({ name: "Hidden" })');
$emu->fql('Set.sequence(1, 21).forEach(i => Items.create({ n: i }))');
$emu->fql('Hidden.create({ n: 1 })');
$emu->fql('Role.create({ name: "reader", privileges: [{ resource: "Items", actions: { read: true } }] })');
my $bob_secret = $emu->fql('Key.create({ role: "reader" }) { secret }')->{secret};
ok(length($bob_secret) > 10, 'a read-only key for bob');
my $wrong_secret = FaunaTest::random_secret('fnAEzqWRONGsecret');
my @secrets = ($secret, $bob_secret, $wrong_secret);

my $node = PostgreSQL::Test::Cluster->new('secrets');
$node->init;
$node->append_conf('postgresql.conf', q{
log_min_messages = debug5
# log_min_error_statement stays at its default (error): below that level,
# PostgreSQL would log the text of every statement, CREATE USER MAPPING's
# included, which is core behaviour, not fauna_fdw's
log_error_verbosity = verbose
log_statement = none
log_connections = on
log_disconnections = on
jit = off
});
$node->start;
my $endpoint = $emu->endpoint;

# everything printed by any statement of the workload
my $transcript = '';
# what PostgreSQL shows a mapping's own user (the owner, or a superuser):
# checked separately, not part of the transcript
my $own_view = '';

sub run_as
{
	my ($user, $sql, %o) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ],
		on_error_stop => 0);
	# outputs only: the statements themselves hold the secrets
	my $text = "[$user]\n$out\n$err\n";
	if ($o{own_view}) { $own_view .= $text } else { $transcript .= $text }
	return ($ret, $out, $err);
}

run_as('postgres', qq{
	CREATE EXTENSION fauna_fdw;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	CREATE ROLE dave LOGIN;
	GRANT USAGE ON FOREIGN DATA WRAPPER fauna_fdw TO alice;
	GRANT CREATE ON SCHEMA public TO alice, bob, carol, dave;
});
my ($ret, $out, $err) = run_as('alice', qq{
	CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
	  OPTIONS (endpoint '$endpoint', max_retries '1', timeout_ms '5000');
	CREATE USER MAPPING FOR alice SERVER fauna OPTIONS (secret '$secret');
	GRANT USAGE ON FOREIGN SERVER fauna TO bob, carol, dave;
	CREATE USER MAPPING FOR bob SERVER fauna OPTIONS (secret '$bob_secret');
	CREATE USER MAPPING FOR dave SERVER fauna;
	CREATE FOREIGN TABLE items (ref text, ts timestamptz, data jsonb, n int)
	  SERVER fauna OPTIONS (collection 'Items', page_size '5');
	CREATE FOREIGN TABLE hidden (ref text, n int) SERVER fauna OPTIONS (collection 'Hidden');
	CREATE FOREIGN TABLE nope (ref text) SERVER fauna OPTIONS (collection 'NoSuchCollection');
	CREATE TABLE local_items (ref text, n int);
	GRANT SELECT ON items, hidden, nope TO bob, carol, dave;
});
is($ret, 0, 'alice (not a superuser) sets up a server, mappings and tables') or diag($err);

my $sel = 'SELECT count(*), sum(n) FROM items';

# the workload, with every message sent to the client too
my $dbg = 'SET client_min_messages = debug5;';
($ret, $out) = run_as('alice', "$dbg $sel");
like($out, qr/^20\|210$/m, 'alice reads the table');
run_as('alice', "$dbg EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM items WHERE ref = '1'");
($ret, $out) = run_as('alice', "$dbg EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) SELECT * FROM items");
like($out, qr/Fauna requests/, 'EXPLAIN ANALYZE ran');
run_as('alice', "$dbg EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) SELECT * FROM items i JOIN local_items l ON i.ref = l.ref");
($ret, $out, $err) = run_as('alice', "$dbg SELECT * FROM nope");
like($err, qr/collection "NoSuchCollection" does not exist/, 'missing collection: error');

($ret, $out) = run_as('bob', "$dbg $sel");
like($out, qr/^20\|210$/m, 'bob reads the table with his key');
($ret, $out, $err) = run_as('bob', "$dbg SELECT * FROM hidden");
like($err, qr/permission denied for Fauna collection "Hidden"/, 'permission denied: error');
like($err, qr/42501/, 'permission denied: SQLSTATE 42501');

# faults
$emu->fault({ kind => 'status', status => 503, count => 2, path => '/query/1' });
($ret, $out, $err) = run_as('alice', "$dbg $sel");
like($err, qr/after 2 attempts/, 'exhausted retries: error');
$emu->fault({ kind => 'malformed', page => 2, path => '/query/1' });
($ret, $out, $err) = run_as('alice', "$dbg $sel");
like($err, qr/ERROR/, 'malformed body: error');
$emu->fault({ kind => 'truncated', page => 3, path => '/query/1' });
run_as('alice', "$dbg $sel");
$emu->fault({ kind => 'drop', count => 2, path => '/query/1' });
run_as('alice', "$dbg $sel");
$emu->fault({ kind => 'status', status => 400, path => '/query/1' });
run_as('alice', "$dbg $sel");
$emu->fault({ kind => 'delay', delay_ms => 3000, path => '/query/1' });
($ret, $out, $err) = run_as('alice', "SET statement_timeout = '200ms'; $dbg $sel");
like($err, qr/statement timeout/, 'statement timeout: error');
$emu->clear_faults;

# the wrong secret (the ALTER succeeds; only the query fails)
run_as('alice', "ALTER USER MAPPING FOR alice SERVER fauna OPTIONS (SET secret '$wrong_secret')");
($ret, $out, $err) = run_as('alice', "$dbg $sel");
like($err, qr/authentication failed for Fauna server "fauna"/, 'bad secret: authentication error');
like($err, qr/28000/, 'bad secret: SQLSTATE 28000');
run_as('alice', "ALTER USER MAPPING FOR alice SERVER fauna OPTIONS (SET secret '$secret')");

# an unreachable endpoint (connection refused)
run_as('alice', "ALTER SERVER fauna OPTIONS (SET endpoint 'http://127.0.0.1:1')");
($ret, $out, $err) = run_as('alice', "$dbg $sel");
like($err, qr/could not query Fauna server/, 'connection refused: error');
run_as('alice', "ALTER SERVER fauna OPTIONS (SET endpoint '$endpoint')");
($ret, $out) = run_as('alice', "$dbg $sel");
like($out, qr/^20\|210$/m, 'alice reads again after the errors');

# catalogs and psql's descriptions: bob (not the mapping's user, not the
# server's owner) sees no option of alice's mapping
for my $user (qw(bob carol dave))
{
	# bob has a mapping of his own, which PostgreSQL shows him: keep his
	# views out of the transcript and check them for the others' secrets
	my %own = $user eq 'bob' ? (own_view => 1) : ();
	($ret, $out, $err) = run_as($user, '\des+');
	like($out, qr/fauna/, "\\des+ as $user lists the server");
	($ret, $out, $err) = run_as($user, '\deu+', %own);
	like($out, qr/alice/, "\\deu+ as $user lists alice's mapping");
	unlike($out, qr/\Q$secret\E/, "\\deu+ as $user does not show alice's secret");
	($ret, $out, $err) = run_as($user, 'SELECT * FROM pg_user_mappings', %own);
	unlike($out, qr/\Q$secret\E/, "pg_user_mappings as $user does not show alice's secret");
	($ret, $out, $err) = run_as($user, 'SELECT umoptions IS NULL FROM pg_user_mappings WHERE usename = \'alice\'');
	is($out, 't', "pg_user_mappings hides alice's options from $user");
	run_as($user, 'SELECT srvoptions FROM pg_foreign_server');
	($ret, $out, $err) = run_as($user, 'SELECT * FROM pg_user_mapping');
	like($err, qr/permission denied for table pg_user_mapping/, "$user cannot read pg_user_mapping");
}
unlike($own_view, qr/\Q$secret\E/, "nothing bob was shown has alice's secret");

# alice sees her own mapping's secret: PostgreSQL's rule, checked so that
# the search below is known to find the secret where it is
($ret, $out) = run_as('alice', '\deu+', own_view => 1);
like($out, qr/\Q$secret\E/, "\\deu+ shows alice her own mapping's secret (core behaviour)");
($ret, $out) = run_as('bob', 'SELECT umoptions FROM pg_user_mappings WHERE usename = \'bob\'', own_view => 1);
like($out, qr/\Q$bob_secret\E/, "pg_user_mappings shows bob his own secret (core behaviour)");
($ret, $out) = run_as('postgres', 'SELECT umoptions FROM pg_user_mappings', own_view => 1);
like($out, qr/\Q$secret\E/, 'a superuser sees the secrets (core behaviour)');

# users without a secret get a clear error
($ret, $out, $err) = run_as('carol', "$dbg $sel");
like($err, qr/ERROR/, 'carol (no user mapping) cannot read');
like($err, qr/user mapping not found for "carol"/, 'carol: "user mapping not found"');
($ret, $out, $err) = run_as('dave', "$dbg $sel");
like($err, qr/ERROR/, 'dave (a mapping without secret) cannot read');
like($err, qr/no Fauna secret for server "fauna"/, 'dave: "no Fauna secret for server"');
like($err, qr/28000/, 'dave: SQLSTATE 28000');

# only the server's owner can change its options (endpoint, ca_file): core
# ownership checks, not fauna_fdw's
for my $opt ("ca_file '/etc/passwd'", "endpoint 'http://127.0.0.1:9'")
{
	($ret, $out, $err) = run_as('bob', "ALTER SERVER fauna OPTIONS (ADD $opt)");
	like($err, qr/must be owner of foreign server fauna/, "bob cannot set $opt");
}
($ret, $out, $err) = run_as('bob', "CREATE SERVER mine FOREIGN DATA WRAPPER fauna_fdw OPTIONS (ca_file '/etc/passwd')");
like($err, qr/permission denied for foreign-data wrapper fauna_fdw/,
	'bob (no USAGE on the wrapper) cannot create a server');
# a non-superuser who may create servers still cannot make the backend
# read a file of its choosing: ca_file is superuser-only
($ret, $out, $err) = run_as('alice', "CREATE SERVER alices FOREIGN DATA WRAPPER fauna_fdw OPTIONS (ca_file '/etc/passwd', endpoint 'https://127.0.0.1:9')");
like($err, qr/only superusers may set option "ca_file"/, 'alice (not a superuser, USAGE on the wrapper) cannot set ca_file');
like($err, qr/42501/, 'alice: SQLSTATE 42501');
unlike($err, qr/root:|:0:0:/, 'the error does not show the content of the file');
($ret, $out, $err) = run_as('alice', "CREATE SERVER alices FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://127.0.0.1:9')");
unlike($err, qr/ERROR/, 'alice may create a server without ca_file');

# the search: nowhere but the mapping's own views
my $log = slurp_file($node->logfile);
like($log, qr/DEBUG/, 'the server log has debug5 output');
like($log, qr/authentication failed for Fauna server/, 'the server log has the errors');
# fails showing where the text was found
sub nowhere
{
	my ($text, $needle, $what) = @_;
	my $at = index($text, $needle);
	ok($at < 0, $what)
	  or diag('found in: ...' . substr($text, $at < 300 ? 0 : $at - 300, 600) . '...');
}
for my $i (0 .. $#secrets)
{
	my $s = $secrets[$i];
	my $name = ('admin secret', "bob's key", 'wrong secret')[$i];
	nowhere($transcript, $s, "the $name is in no query output or error");
	nowhere($log, $s, "the $name is not in the server log");
	# not even a long piece of it
	my $piece = substr($s, length($s) - 16);
	nowhere($transcript . $log, $piece, "no piece of the $name either");
}

$node->stop;
$emu->stop;
done_testing();
