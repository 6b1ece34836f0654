# ALTER EXTENSION fauna_fdw UPDATE from 1.0 gives exactly what a fresh 1.2
# install gives: the same member objects, function definitions and
# settings (search_path, SECURITY DEFINER, ACLs), relations with their
# ACLs, row-level security and policies, initial privileges, and the
# extension's own row (not relocatable, the marks table dumped).  Compared
# catalog against catalog, database against database, in public and in
# another schema.  The marks a 1.0 sync left survive, the next sync
# carries on from them, and grants made on the marks table under 1.0 (the
# old workaround for non-superusers) are gone.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Docs" })');
$emu->fql('Set.sequence(0, 9).forEach(i => Docs.create({ k: "d#{i}" }))');

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

# Everything the catalogs say about the extension, one object a line, in
# terms that do not depend on OIDs.
my $describe = q{
WITH ext AS (SELECT e.* FROM pg_extension e WHERE e.extname = 'fauna_fdw'),
members AS (
  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT line FROM (
  SELECT format('extension %s %s relocatable=%s schema=%s config=%s condition=%s owner=%s',
                extname, extversion, extrelocatable, extnamespace::regnamespace,
                extconfig::regclass[], extcondition, extowner::regrole) AS line
    FROM ext
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM members
  UNION ALL
  SELECT format(E'function %s kind=%s secdef=%s leakproof=%s strict=%s volatile=%s parallel=%s config=%s acl=%s owner=%s\n%s',
                p.oid::regprocedure, p.prokind, p.prosecdef, p.proleakproof, p.proisstrict,
                p.provolatile, p.proparallel, p.proconfig, p.proacl, p.proowner::regrole,
                pg_get_functiondef(p.oid))
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  UNION ALL
  SELECT format('relation %s kind=%s acl=%s rls=%s forcerls=%s options=%s owner=%s',
                c.oid::regclass, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity,
                c.reloptions, c.relowner::regrole)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  SELECT format('column %s.%s %s notnull=%s default=%s acl=%s', a.attrelid::regclass, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(ad.adbin, ad.adrelid), a.attacl)
    FROM members m
    JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
                       AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s %s %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
    FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
  UNION ALL
  SELECT format(E'view %s\n%s', c.oid::regclass, pg_get_viewdef(c.oid))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind = 'v'
  UNION ALL
  SELECT format('policy %s %s cmd=%s permissive=%s roles=%s using=%s check=%s',
                pol.polrelid::regclass, pol.polname, pol.polcmd, pol.polpermissive,
                pol.polroles::regrole[], pg_get_expr(pol.polqual, pol.polrelid),
                pg_get_expr(pol.polwithcheck, pol.polrelid))
    FROM members m JOIN pg_policy pol ON m.classid = 'pg_class'::regclass AND pol.polrelid = m.objid
  UNION ALL
  SELECT format('initprivs %s %s %s', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
                ip.privtype, ip.initprivs)
    FROM pg_init_privs ip JOIN members m ON m.classid = ip.classoid AND m.objid = ip.objoid
  UNION ALL
  SELECT format('fdw %s handler=%s validator=%s acl=%s options=%s owner=%s', w.fdwname,
                w.fdwhandler::regproc, w.fdwvalidator::regproc, w.fdwacl, w.fdwoptions,
                w.fdwowner::regrole)
    FROM members m JOIN pg_foreign_data_wrapper w
      ON m.classid = 'pg_foreign_data_wrapper'::regclass AND w.oid = m.objid
  UNION ALL
  SELECT format('comment %s %s', pg_describe_object(m.classid, m.objid, m.objsubid), d.description)
    FROM members m JOIN pg_description d
      ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = m.objsubid
) x ORDER BY line};

$node->safe_psql('postgres', q{
	CREATE ROLE helper;
	CREATE DATABASE fresh;
	CREATE DATABASE upgraded;
	CREATE DATABASE fresh_s;
	CREATE DATABASE upgraded_s;
});

# fresh installs
$node->safe_psql('fresh', q{CREATE EXTENSION fauna_fdw});
$node->safe_psql('fresh_s', q{CREATE SCHEMA s; CREATE EXTENSION fauna_fdw SCHEMA s});
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'fauna_fdw'}),
	'1.2', 'a fresh install is 1.2');
is($node->safe_psql('fresh', q{SELECT string_agg(DISTINCT proparallel::text, ',') FROM pg_proc WHERE proname = 'fauna_fdw_check'}),
	'u', 'fauna_fdw_check is parallel unsafe (its subtransactions)');

# 1.0, a sync (marks), the old workaround grant, then the update
$node->safe_psql('upgraded', qq{
	CREATE EXTENSION fauna_fdw VERSION '1.0';
	CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint '@{[ $emu->endpoint ]}');
	SET log_statement = 'none';
	CREATE USER MAPPING FOR CURRENT_USER SERVER fauna OPTIONS (secret '@{[ $emu->secret ]}');
	RESET log_statement;
	CREATE FOREIGN TABLE ft (ref text, ts timestamptz, k text) SERVER fauna OPTIONS (collection 'Docs');
	CREATE TABLE local (ref text PRIMARY KEY, ts timestamptz, k text);
	CALL fauna_sync('ft', 'local');
	GRANT ALL ON fauna_sync_state TO helper WITH GRANT OPTION;
	SET ROLE helper;
	GRANT SELECT, TRUNCATE ON fauna_sync_state TO PUBLIC;
	RESET ROLE;
});
$node->safe_psql('upgraded_s', q{CREATE SCHEMA s; CREATE EXTENSION fauna_fdw SCHEMA s VERSION '1.0'});
my $marks_sql = 'SELECT foreign_table, local_table, high_water, seen_until, synced_at, upserted, deleted, full_copy FROM fauna_sync_state';
my $marks_10 = $node->safe_psql('upgraded', $marks_sql);
like($marks_10, qr/^ft\|local\|/, '1.0 left marks');
is($node->safe_psql('upgraded', q{SELECT has_table_privilege('helper', 'fauna_sync_state', 'TRUNCATE')}),
	't', '1.0: the workaround grant is in place');

$node->safe_psql('upgraded', q{ALTER EXTENSION fauna_fdw UPDATE});
$node->safe_psql('upgraded_s', q{ALTER EXTENSION fauna_fdw UPDATE TO '1.1'});
is($node->safe_psql('upgraded_s', q{SELECT extversion FROM pg_extension WHERE extname = 'fauna_fdw'}),
	'1.1', 'an update can stop at 1.1');
$node->safe_psql('upgraded_s', q{ALTER EXTENSION fauna_fdw UPDATE TO '1.2'});

for my $pair ([ 'fresh', 'upgraded' ], [ 'fresh_s', 'upgraded_s' ])
{
	my ($fresh, $upgraded) = @$pair;
	my $want = $node->safe_psql($fresh, $describe);
	my $got = $node->safe_psql($upgraded, $describe);
	like($want, qr/^extension fauna_fdw 1\.2 relocatable=f/m, "$fresh: the description is of 1.2");
	like($want, qr/^policy .*fauna_sync_state fauna_sync_state_pairs/m, "$fresh: the description has the policy");
	like($want, qr/^initprivs /m, "$fresh: the description has initial privileges");
	is($got, $want, "$upgraded: ALTER EXTENSION UPDATE gives exactly the catalogs of $fresh")
	  or diag(join("\n", map { "only in $upgraded: $_" } grep { my $l = $_; index($want, $l) < 0 } split /\n/, $got),
		"\n", join("\n", map { "only in $fresh: $_" } grep { my $l = $_; index($got, $l) < 0 } split /\n/, $want));
}

is($node->safe_psql('upgraded', $marks_sql), $marks_10, 'the marks survive the update');
is($node->safe_psql('upgraded', q{SELECT has_table_privilege('helper', 'fauna_sync_state', 'TRUNCATE')
	OR has_table_privilege('public', 'fauna_sync_state', 'TRUNCATE')}),
	'f', 'the workaround grants are gone');

# the next sync goes on from the 1.0 marks
$emu->fql('Docs.where(.k == "d2").forEach(d => d.delete()); Docs.create({ k: "after" })');
$node->safe_psql('upgraded', q{CALL fauna_sync('ft', 'local')});
is($node->safe_psql('upgraded', q{SELECT full_copy, upserted, deleted FROM fauna_sync_state}),
	'f|1|1', 'after the update, the sync is incremental from the 1.0 marks');
is($node->safe_psql('upgraded', q{
	SELECT count(*) FROM ((SELECT ref, ts, k FROM ft EXCEPT SELECT ref, ts, k FROM local)
	                      UNION ALL (SELECT ref, ts, k FROM local EXCEPT SELECT ref, ts, k FROM ft)) d}),
	'0', 'the local rows are Fauna\'s');

# a dump restores the marks, and the extension's row-level security as
# the extension script made it (nothing dumped twice)
my $dump = PostgreSQL::Test::Utils::tempdir() . '/upgraded.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('upgraded'), '-f', $dump ], 'pg_dump of the updated database');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
# the dump holds the user mapping's secret: not into the server log
local $ENV{PGOPTIONS} = '-c log_statement=none';
my ($rret, $rout, $rerr) = $node->psql('restored', undef, extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', $dump ]);
is($rret, 0, 'the dump restores without an error') or diag($rerr);
is($node->safe_psql('restored', $marks_sql), $node->safe_psql('upgraded', $marks_sql), 'the restored marks are the dumped ones');
is($node->safe_psql('restored', $describe), $node->safe_psql('fresh', $describe),
	'the restored extension has the catalogs of a fresh install');

$node->stop;
$emu->stop;
done_testing();
