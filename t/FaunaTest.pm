
# Helpers for the fauna_fdw TAP tests: a throwaway Fauna emulator per test
# (started on a free port, stopped at the end), its control API (faults,
# request log), FQL requests, and a PostgreSQL::Test::Cluster node with the
# extension, a server and a user mapping.
#
# The emulator script is $ENV{FAUNA_EMULATOR}, or emulator/fauna_emulator.py
# next to this t/ directory.
#
# Every secret a test uses (the emulators' admin secrets, random_secret()'s,
# keys returned by fql()) is appended to a file in $ENV{FAUNA_TAP_SECRETS},
# when set, as soon as it exists: test/run_tap.sh then looks for them in
# every log the tests left, whatever the test itself checked.

package FaunaTest;

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use Scalar::Util ();
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our $JSON = JSON::PP->new->canonical->allow_nonref;
our @STARTED;

sub emulator_script
{
	return $ENV{FAUNA_EMULATOR} if $ENV{FAUNA_EMULATOR};
	my $here = dirname(File::Spec->rel2abs(__FILE__));
	return "$here/../emulator/fauna_emulator.py";
}

# Record a secret for test/run_tap.sh's search of the logs.
sub register_secret
{
	my ($secret) = @_;
	my $dir = $ENV{FAUNA_TAP_SECRETS};
	return unless $dir && defined $secret && length $secret;
	open my $fh, '>>', "$dir/secrets.$$" or die "$dir/secrets.$$: $!";
	print $fh "$secret\n";
	close $fh;
	return;
}

# Register every string under a "secret" key of an FQL result (keys made
# with Key.create).
sub _register_secrets_in
{
	my ($v) = @_;
	if (ref $v eq 'HASH')
	{
		while (my ($k, $x) = each %$v)
		{
			if ($k eq 'secret' && defined $x && !ref $x) { register_secret($x) }
			else { _register_secrets_in($x) }
		}
	}
	elsif (ref $v eq 'ARRAY')
	{
		_register_secrets_in($_) for @$v;
	}
	return;
}

sub random_secret
{
	my ($prefix) = @_;
	my $s = $prefix // 'tap';
	$s .= sprintf('%02x', int(rand(256))) for 1 .. 12;
	register_secret($s);
	return $s;
}

# FaunaTest->start_emulator(secret => ..., clock => 'logical', load => [files],
#   tls => [certfile, keyfile])
# With tls the endpoint is https://; the control API helpers below then need
# IO::Socket::SSL (HTTP::Tiny), which the tests do not assume: give such an
# emulator its data with load.
sub start_emulator
{
	my ($class, %opts) = @_;
	my $secret = $opts{secret} // random_secret('tap_');
	register_secret($secret);
	my @cmd = ('python3', emulator_script(), '--port', '0', '--secret', $secret);
	push @cmd, '--clock', $opts{clock} if $opts{clock};
	push @cmd, '--load', $_ for @{ $opts{load} // [] };
	push @cmd, '--tls', @{ $opts{tls} } if $opts{tls};
	push @cmd, @{ $opts{args} } if $opts{args};
	my $logfile = PostgreSQL::Test::Utils::tempdir() . '/emulator.log';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	my $deadline = time() + ($opts{start_timeout} // 120);
	my $endpoint;
	while (time() < $deadline)
	{
		$h->pump_nb;
		if ($out =~ m{listening on (https?://\S+)})
		{
			$endpoint = $1;
			last;
		}
		last unless $h->pumpable;
		sleep 0.05;
	}
	die "the emulator did not start:\n$out\n$err" unless $endpoint;
	my $self = bless {
		harness => $h, endpoint => $endpoint, secret => $secret,
		out => \$out, err => \$err,
		http => HTTP::Tiny->new(timeout => 120, keep_alive => 0),
		owner => $$,
	}, $class;
	push @STARTED, $self;
	Scalar::Util::weaken($STARTED[-1]);
	return $self;
}

sub endpoint { $_[0]{endpoint} }
sub secret   { $_[0]{secret} }

# The emulator's process id (while it runs), e.g. to read its memory use.
sub pid
{
	my ($self) = @_;
	return undef unless $self->{harness};
	my $kid = $self->{harness}{KIDS} && $self->{harness}{KIDS}[0];
	return $kid ? $kid->{PID} : undef;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{harness};
	my $h = delete $self->{harness};
	# SIGTERM (the emulator exits cleanly), SIGKILL if it is still there
	# after the grace period
	eval { $h->kill_kill(grace => 10); 1 } or eval { $h->finish };
	return;
}

sub DESTROY
{
	my ($self) = @_;
	local ($@, $?);
	$self->stop if $self->{harness} && $self->{owner} == $$;
}

# a test that dies still stops its emulators (not in forked children)
END
{
	local ($@, $?);
	for my $emu (@STARTED)
	{
		$emu->stop if $emu && $emu->{harness} && $emu->{owner} == $$;
	}
}

sub _req
{
	my ($self, $method, $path, $body, $secret) = @_;
	my %o = (headers => {
		'Authorization' => 'Bearer ' . ($secret // $self->{secret}),
		'Content-Type'  => 'application/json' });
	$o{content} = ref $body ? $JSON->encode($body) : $body if defined $body;
	# a pending delay fault must not hold the control calls: they are not
	# subject to faults, but keep the harness's pipes drained anyway
	$self->{harness}->pump_nb if $self->{harness};
	my $r = $self->{http}->request($method, $self->{endpoint} . $path, \%o);
	my $decoded = eval { $JSON->decode($r->{content}) };
	return ($r->{status}, $decoded, $r->{content});
}

# Inject a fault: $emu->fault({kind => 'status', status => 429, count => 3})
sub fault
{
	my ($self, $spec) = @_;
	my ($st, $d, $raw) = $self->_req('POST', '/_emulator/faults', $spec);
	die "fault injection failed: $st $raw" unless $st == 200;
	return $d;
}

sub clear_faults { $_[0]->_req('DELETE', '/_emulator/faults'); }
sub clear_log    { $_[0]->_req('DELETE', '/_emulator/log'); }

sub pending_faults
{
	my ($self) = @_;
	my (undef, $d) = $self->_req('GET', '/_emulator/faults');
	return $d->{faults};
}

# The request log, data requests only (control calls are not logged).
sub requests
{
	my ($self) = @_;
	my ($st, $d, $raw) = $self->_req('GET', '/_emulator/log');
	die "reading the log failed: $st $raw" unless $st == 200;
	return $d->{requests};
}

# Run FQL with the admin secret; dies on a non-200 answer; returns data.
sub fql
{
	my ($self, $query, $args) = @_;
	my $body = { query => $query };
	$body->{arguments} = $args if $args;
	my ($st, $d, $raw) = $self->_req('POST', '/query/1', $body);
	die "FQL failed ($st): $raw\nquery: $query" unless $st == 200;
	_register_secrets_in($d->{data});
	return $d->{data};
}

# The same, returning (status, decoded body) without dying.
sub fql_raw
{
	my ($self, $query, $secret) = @_;
	my ($st, $d, $raw) = $self->_req('POST', '/query/1', { query => $query }, $secret);
	_register_secrets_in($d->{data}) if ref $d eq 'HASH';
	return ($st, $d, $raw);
}

sub emulator_output
{
	my ($self) = @_;
	$self->{harness}->pump_nb if $self->{harness};
	return ${ $self->{out} } . ${ $self->{err} };
}

# A started node with the extension, server "fauna" and a mapping for the
# bootstrap superuser.  %opts: conf => "extra postgresql.conf lines",
# server_options => "max_retries '2', ...", db => 'postgres'.
sub new_node
{
	my ($class, $name, $emu, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	my $db = $opts{db} // 'postgres';
	my $srvopts = "endpoint '" . $emu->endpoint . "'";
	$srvopts .= ", $opts{server_options}" if $opts{server_options};
	# PostgreSQL::Test::Cluster sets log_statement = all, which would have
	# the server log the statement that holds the secret (core behaviour;
	# test/run_tap.sh fails on any secret in a log)
	$node->safe_psql($db, qq{
		CREATE EXTENSION fauna_fdw;
		CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw OPTIONS ($srvopts);
		SET log_statement = 'none';
		CREATE USER MAPPING FOR CURRENT_USER SERVER fauna
		  OPTIONS (secret '@{[ $emu->secret ]}');
	});
	return $node;
}

# Send a statement to a background_psql session without waiting for it.
sub send_sql
{
	my ($s, $sql) = @_;
	$s->{stdout} = '';
	$s->{stderr} = '';
	$s->{stdin} .= "$sql\n";
	$s->{run}->pump_nb;
	return;
}

# Pump a background_psql session until its stdout or stderr ($which)
# matches $re: the time it did, or undef after $timeout seconds.
sub wait_output
{
	my ($s, $which, $re, $timeout) = @_;
	my $end = Time::HiRes::time() + $timeout;
	while (Time::HiRes::time() < $end)
	{
		$s->{run}->pump_nb;
		return Time::HiRes::time() if $s->{$which} =~ $re;
		last unless $s->{run}->pumpable;
		Time::HiRes::sleep(0.005);
	}
	$s->{run}->pump_nb if $s->{run}->pumpable;
	return $s->{$which} =~ $re ? Time::HiRes::time() : undef;
}

1;
