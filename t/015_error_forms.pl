
# Each condition fauna_fdw maps to a SQLSTATE, in every form the Fauna core
# sends it: a database that is typechecked reports an unknown collection as
# invalid_query before the query runs, one that is not (typechecked: false,
# the emulator's --no-typecheck) as unbound_variable when the name is
# evaluated.  Both must be "collection does not exist" (HV00R), and a
# refused secret (28000) and a denied read (42501) the same in both.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

foreach my $typechecked (1, 0)
{
	my $label = $typechecked ? 'typechecked' : 'not typechecked';
	my $emu = FaunaTest->start_emulator(
		args => $typechecked ? [] : ['--no-typecheck']);
	$emu->fql('Collection.create({ name: "Items" })');
	$emu->fql('Collection.create({ name: "Hidden" })');
	$emu->fql('Items.create({ n: 1 })');
	$emu->fql('Hidden.create({ n: 2 })');
	$emu->fql('Role.create({ name: "items_only", privileges: [{ resource: "Items", actions: { read: true } }] })');
	my $limited = $emu->fql('Key.create({ role: "items_only" }) { secret }')->{secret};
	FaunaTest::register_secret($limited);

	my $node = FaunaTest->new_node($typechecked ? 'checked' : 'unchecked', $emu);
	$node->safe_psql('postgres', q{
		CREATE FOREIGN TABLE items (ref text, n int) SERVER fauna OPTIONS (collection 'Items');
		CREATE FOREIGN TABLE nope (ref text, n int) SERVER fauna OPTIONS (collection 'Nope');
		CREATE ROLE limited LOGIN;
		GRANT USAGE ON FOREIGN SERVER fauna TO limited;
		CREATE FOREIGN TABLE hidden (ref text, n int) SERVER fauna OPTIONS (collection 'Hidden');
		GRANT SELECT ON items, hidden TO limited;
		CREATE ROLE wrong LOGIN;
		GRANT USAGE ON FOREIGN SERVER fauna TO wrong;
		GRANT SELECT ON items TO wrong;
		SET log_statement = 'none';
	});
	# the mappings' secrets, without the statement in the server log
	$node->safe_psql('postgres', qq{
		SET log_statement = 'none';
		CREATE USER MAPPING FOR limited SERVER fauna OPTIONS (secret '$limited');
		CREATE USER MAPPING FOR wrong SERVER fauna OPTIONS (secret 'not-a-key');
	});

	is($node->safe_psql('postgres', 'SELECT n FROM items'), '1', "$label: a read works");

	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT n FROM nope");
	like($err, qr/ERROR:  HV00R: collection "Nope" does not exist/,
		"$label: an unknown collection is HV00R");
	my $code = $typechecked ? 'invalid_query' : 'unbound_variable';
	like($err, qr/DETAIL:  Fauna error $code: /, "$label: Fauna said so with $code");

	($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT n FROM hidden", extra_params => [ '-U', 'limited' ]);
	like($err, qr/ERROR:  42501: permission denied for Fauna collection "Hidden"/,
		"$label: a collection the key may not read is 42501");

	($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT n FROM items", extra_params => [ '-U', 'wrong' ]);
	like($err, qr/ERROR:  28000: authentication failed for Fauna server "fauna"/,
		"$label: a refused secret is 28000");

	$node->stop;
}

done_testing();
