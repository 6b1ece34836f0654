
# TLS verification of https endpoints (issue 5: "TLS verification is always
# on for https (ca_file to add a CA); no option turns it off").
#
# A throwaway CA signs two server certificates, one for localhost and
# 127.0.0.1 and one for another host name; an emulator serves HTTPS with
# each (--tls).  Then:
#  - without ca_file the server's certificate is not trusted: a clear
#    certificate error (HV00N), not retried;
#  - with ca_file naming the CA, rows are read, by IP address and by name;
#  - a certificate for another host name fails host name verification,
#    even with the right CA;
#  - a CA file that trusts nothing, or does not exist, fails too;
#  - no option name that might turn verification off is accepted.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# openssl is a dependency (scripts/install-deps.sh): without it this test
# fails, it does not skip
if (system('openssl version >/dev/null 2>&1') != 0)
{
	BAIL_OUT('the openssl command is not installed (scripts/install-deps.sh installs it)');
}

my $dir = PostgreSQL::Test::Utils::tempdir();

# ----------------------------------------------------------------------
# a CA and two server certificates (P-256 keys: quick to make)
# ----------------------------------------------------------------------
sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
	return;
}

sub openssl
{
	my @args = @_;
	my ($ok, $out, $err) = (0, '', '');
	$ok = IPC::Run::run([ 'openssl', @args ], '<', \undef, '>', \$out, '2>', \$err);
	die "openssl @args failed:\n$out$err" unless $ok;
	return;
}

write_file("$dir/openssl.cnf", <<'EOF');
[req]
distinguished_name = dn
prompt = no
[dn]
CN = fauna_fdw test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_localhost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[v3_other]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
EOF

my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
openssl('req', '-x509', '-config', "$dir/openssl.cnf", '-extensions', 'v3_ca',
	@ec, '-keyout', "$dir/ca.key", '-out', "$dir/ca.crt", '-days', '2');
my $serial = 1;
for my $name (qw(localhost other))
{
	my $cn = $name eq 'localhost' ? 'localhost' : 'other.example';
	openssl('req', '-new', '-config', "$dir/openssl.cnf", @ec, '-subj', "/CN=$cn",
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr");
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.crt",
		'-CAkey', "$dir/ca.key", '-set_serial', $serial++, '-days', '2',
		'-extfile', "$dir/openssl.cnf", '-extensions', "v3_$name",
		'-out', "$dir/$name.crt");
}
# a CA file that trusts nothing useful: another CA
openssl('req', '-x509', '-config', "$dir/openssl.cnf", '-extensions', 'v3_ca',
	@ec, '-subj', '/CN=unrelated CA', '-keyout', "$dir/unrelated.key",
	'-out', "$dir/unrelated.crt", '-days', '2');

# ----------------------------------------------------------------------
# two HTTPS emulators with the same data (the control API would need
# IO::Socket::SSL: the data is loaded at start)
# ----------------------------------------------------------------------
write_file("$dir/items.jsonl", join('', map { qq({"coll": "Items", "data": {"n": {"\@int": "$_"}}}\n) } 1 .. 5));

my $emu = FaunaTest->start_emulator(load => ["$dir/items.jsonl"],
	tls => [ "$dir/localhost.crt", "$dir/localhost.key" ]);
my $other = FaunaTest->start_emulator(load => ["$dir/items.jsonl"],
	tls => [ "$dir/other.crt", "$dir/other.key" ]);
like($emu->endpoint, qr{^https://127\.0\.0\.1:\d+$}, 'the emulator serves https');
(my $port = $emu->endpoint) =~ s/.*://;
(my $other_port = $other->endpoint) =~ s/.*://;

my $node = FaunaTest->new_node('tls', $emu);
$node->safe_psql('postgres', qq{
	CREATE FOREIGN TABLE items (ref text, n int) SERVER fauna
	  OPTIONS (collection 'Items', index 'none');
	CREATE SERVER other FOREIGN DATA WRAPPER fauna_fdw
	  OPTIONS (endpoint 'https://127.0.0.1:$other_port', ca_file '$dir/ca.crt');
	CREATE FOREIGN TABLE other_items (ref text, n int) SERVER other
	  OPTIONS (collection 'Items', index 'none');
	SET log_statement = 'none';
	CREATE USER MAPPING FOR CURRENT_USER SERVER other
	  OPTIONS (secret '@{[ $other->secret ]}');
});
my $check_sql = 'SELECT count(*), sum(n) FROM items';

# psql with VERBOSITY verbose (the SQLSTATE in the message); returns stderr
sub fails
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $ret == 0 ? undef : $err;
}

# ----------------------------------------------------------------------
# no ca_file: the test CA is not among the system's
# ----------------------------------------------------------------------
my $err = fails($check_sql);
ok(defined $err, 'without ca_file the certificate is not trusted');
$err //= '';
like($err, qr/HV00N.*could not query Fauna server "fauna" for collection "Items"/s,
	'the error is a connection failure (HV00N)');
like($err, qr/SSL certificate problem: unable to get local issuer certificate/,
	'the detail names the certificate problem');
like($err, qr/request failed after 1 attempt:/,
	'a verification failure is not retried (max_retries is 5)');
diag(($err =~ /DETAIL:\s+(.*)/)[0] // $err);

# ----------------------------------------------------------------------
# ca_file names the CA: rows, by address and by name
# ----------------------------------------------------------------------
$node->safe_psql('postgres', qq{ALTER SERVER fauna OPTIONS (ADD ca_file '$dir/ca.crt')});
is($node->safe_psql('postgres', $check_sql), '5|15', 'with ca_file the rows are read');
$node->safe_psql('postgres', qq{ALTER SERVER fauna OPTIONS (SET endpoint 'https://localhost:$port')});
is($node->safe_psql('postgres', $check_sql), '5|15', 'and by host name');

# ----------------------------------------------------------------------
# a certificate for another host name: the CA is right, the name is not
# ----------------------------------------------------------------------
$err = fails('SELECT count(*) FROM other_items') // '';
like($err, qr/HV00N.*could not query Fauna server "other"/s,
	'a certificate for another host name fails');
like($err, qr/no alternative certificate subject name matches target host name '127\.0\.0\.1'/,
	'the detail says the name does not match');
diag(($err =~ /DETAIL:\s+(.*)/)[0] // $err);

# ----------------------------------------------------------------------
# a CA file that does not vouch for the server, or is missing
# ----------------------------------------------------------------------
$node->safe_psql('postgres', qq{ALTER SERVER fauna OPTIONS (SET ca_file '$dir/unrelated.crt')});
$err = fails($check_sql) // '';
like($err, qr/HV00N.*SSL certificate problem/s, 'another CA does not vouch for the server');
$node->safe_psql('postgres', q{ALTER SERVER fauna OPTIONS (SET ca_file '/dev/null')});
$err = fails($check_sql) // '';
like($err, qr/HV00N.*certificate/s, 'an empty CA file trusts nothing');
diag(($err =~ /DETAIL:\s+(.*)/)[0] // $err);
$node->safe_psql('postgres', qq{ALTER SERVER fauna OPTIONS (SET ca_file '$dir/missing.crt')});
$err = fails($check_sql) // '';
like($err, qr/HV00N.*certificate file: \S*missing\.crt/s, 'a missing CA file fails, naming it');
diag(($err =~ /DETAIL:\s+(.*)/)[0] // $err);

# ----------------------------------------------------------------------
# nothing turns verification off
# ----------------------------------------------------------------------
for my $name (qw(sslverify ssl_verify verify_ssl sslmode insecure tls_insecure
	ssl_verify_peer ssl_verify_host no_verify))
{
	$err = fails(qq{ALTER SERVER fauna OPTIONS (ADD $name 'false')}) // '';
	like($err, qr/invalid option "$name".*HINT:\s+Valid options in this context are: endpoint, api_version, page_size, timeout_ms, connect_timeout_ms, max_retries, ca_file, max_response_bytes, max_streams, async_capable\n/s,
		"server option $name is rejected as unknown");
}
for my $name (qw(sslverify insecure))
{
	$err = fails(qq{ALTER USER MAPPING FOR CURRENT_USER SERVER fauna OPTIONS (ADD $name 'false')}) // '';
	like($err, qr/invalid option "$name"/, "user mapping option $name is rejected");
	$err = fails(qq{ALTER FOREIGN TABLE items OPTIONS (ADD $name 'false')}) // '';
	like($err, qr/invalid option "$name"/, "table option $name is rejected");
}
# ca_file must name a file: no empty or relative value to fall back on
$err = fails(q{ALTER SERVER fauna OPTIONS (SET ca_file '')}) // '';
like($err, qr/invalid value for option "ca_file"/, 'an empty ca_file is rejected');

# and with the right CA again, verification still passes
$node->safe_psql('postgres', qq{ALTER SERVER fauna OPTIONS (SET ca_file '$dir/ca.crt')});
is($node->safe_psql('postgres', $check_sql), '5|15', 'the right CA reads again');

# ----------------------------------------------------------------------
# connections and TLS sessions are reused
# ----------------------------------------------------------------------
# The emulator counts TCP connections, TLS handshakes and resumed sessions
# (GET /_emulator/connections, through the curl tool: each call is one more
# connection and handshake of its own).
sub control
{
	my ($method, $path, $body) = @_;
	my @cmd = ('curl', '-fsS', '--cacert', "$dir/ca.crt", '-X', $method,
		'-H', 'Authorization: Bearer ' . $emu->secret, "https://localhost:$port$path");
	push @cmd, '-d', $body if defined $body;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err)
	  or die "curl $method $path failed: $err";
	return $FaunaTest::JSON->decode($out);
}

$node->safe_psql('postgres', q{ALTER FOREIGN TABLE items OPTIONS (ADD page_size '3')});
my $c0 = control('GET', '/_emulator/connections');
# one session, five statements (two pages each)
$node->safe_psql('postgres', join("\n", ("$check_sql;") x 5));
my $c1 = control('GET', '/_emulator/connections');
is($c1->{connections} - $c0->{connections} - 1, 1,
	'five statements of two pages each: one connection');
is($c1->{tls_handshakes} - $c0->{tls_handshakes} - 1, 1, 'and one TLS handshake');

# the emulator drops the connection under the second statement: the retry
# connects again and resumes the TLS session instead of a full handshake
control('POST', '/_emulator/faults', '{"kind": "drop", "skip": 2, "path": "/query/1"}');
is($node->safe_psql('postgres', "$check_sql; $check_sql"), "5|15\n5|15",
	'a dropped connection is retried');
my $c2 = control('GET', '/_emulator/connections');
is($c2->{connections} - $c1->{connections} - 2, 2,
	'two connections: the first and the one after the drop');
is($c2->{tls_resumed} - $c1->{tls_resumed}, 1,
	'the reconnection resumed the TLS session');

$node->stop;
$emu->stop;
$other->stop;
done_testing();
