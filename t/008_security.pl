# fauna_sync as separate roles: a superuser, an owner (a non-superuser who
# syncs its own tables, also from pg_cron), an attacker with CREATE on
# public, and a role without USAGE on the server.
#
#  * search_path hijacks (issue 12, section 1): the attacker plants, in
#    public, tables under the names of fauna_sync's working tables and of
#    its marks table, a type with a public.max aggregate and a public.>
#    operator, and functions under the extension's names, each of which
#    tries ALTER ROLE attacker SUPERUSER when a superuser runs it.  Against
#    1.0 the attack works (the control: the test can see it); after ALTER
#    EXTENSION UPDATE, and with 1.1 installed in its own schema, it has no
#    effect at all: the attacker is no superuser, none of its functions ran,
#    the local rows are exactly Fauna's, the marks are the sync's own.
#  * The privilege model (section 2): the owner syncs without any grant on
#    the marks table; the other roles can neither see nor move its marks,
#    and get clear errors.
#  * The owner's sync scheduled with pg_cron runs as the owner.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use FaunaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $emu = FaunaTest->start_emulator();
$emu->fql('Collection.create({ name: "Docs" })');
$emu->fql('Set.sequence(0, 12).forEach(i => Docs.create({ k: "d#{i}" }))');

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
jit = off
});
$node->start;

sub as
{
	my ($role, $db, $sql) = @_;
	return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]);
}

# (ok, stderr) of a statement that may fail
sub try_as
{
	my ($role, $db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, extra_params => [ '-U', $role ]);
	return ($ret == 0, $err);
}

$node->safe_psql('postgres', q{
	CREATE ROLE owner LOGIN;
	CREATE ROLE attacker LOGIN;
	CREATE ROLE nousage LOGIN;
	CREATE DATABASE legacy;
});

# A database with the extension (VERSION $version in schema $schema), the
# server, mappings for the superuser and the owner (not the attacker), the
# owner's schema "app" with the foreign table and a local copy, and CREATE
# on public for the attacker, as in a database made before PostgreSQL 15.
sub setup_db
{
	my ($db, $schema, $version) = @_;
	my $create = $schema eq 'public' ? '' : "CREATE SCHEMA $schema; GRANT USAGE ON SCHEMA $schema TO PUBLIC;";
	$node->safe_psql($db, qq{
		$create
		CREATE EXTENSION fauna_fdw SCHEMA $schema VERSION '$version';
		CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
		  OPTIONS (endpoint '@{[ $emu->endpoint ]}', max_retries '0');
		GRANT USAGE ON FOREIGN SERVER fauna TO owner;
		SET log_statement = 'none';
		CREATE USER MAPPING FOR CURRENT_USER SERVER fauna OPTIONS (secret '@{[ $emu->secret ]}');
		CREATE USER MAPPING FOR owner SERVER fauna OPTIONS (secret '@{[ $emu->secret ]}');
		CREATE USER MAPPING FOR nousage SERVER fauna OPTIONS (secret '@{[ $emu->secret ]}');
		RESET log_statement;
		GRANT CREATE ON SCHEMA public TO attacker;
		CREATE SCHEMA app AUTHORIZATION owner;
		GRANT USAGE ON SCHEMA app TO attacker, nousage;
	});
	as('owner', $db, q{
		CREATE FOREIGN TABLE app.ft (ref text, ts timestamptz, k text)
		  SERVER fauna OPTIONS (collection 'Docs', page_size '5');
		CREATE TABLE app.local (ref text PRIMARY KEY, ts timestamptz, k text);
		CREATE TABLE app.local_cron (ref text PRIMARY KEY, ts timestamptz, k text);
	});
	return;
}

# The attacker's objects in public: every one that runs as a superuser makes
# the attacker one, and logs that it ran.
my $plant = q{
	CREATE TABLE public.attack_log (who text, what text);
	GRANT ALL ON public.attack_log TO PUBLIC;
	CREATE FUNCTION public.escalate(what text) RETURNS void LANGUAGE plpgsql AS $f$
	BEGIN
	  INSERT INTO public.attack_log VALUES (current_user, what);
	  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
	    EXECUTE 'ALTER ROLE attacker SUPERUSER';
	  END IF;
	END $f$;
	CREATE TYPE public.evil AS (t timestamptz);
	CREATE FUNCTION public.evil_max(s timestamptz, v public.evil) RETURNS timestamptz
	  LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('max'); RETURN '2100-01-01'; END $f$;
	CREATE AGGREGATE public.max(public.evil) (SFUNC = public.evil_max, STYPE = timestamptz);
	CREATE FUNCTION public.evil_gt(a public.evil, b timestamptz) RETURNS boolean
	  LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('>'); RETURN true; END $f$;
	CREATE OPERATOR public.> (LEFTARG = public.evil, RIGHTARG = timestamptz,
	                          FUNCTION = public.evil_gt);
	CREATE FUNCTION public.evil_eq(a text, b public.evil) RETURNS boolean
	  LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('='); RETURN true; END $f$;
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = public.evil, FUNCTION = public.evil_eq);
	-- the working tables: a planted document, the real ones "removed"
	CREATE TABLE public.fauna_sync_changed (ref text, ts timestamptz, k text,
	                                        fauna_sync_ts public.evil);
	INSERT INTO public.fauna_sync_changed VALUES ('666', '2000-01-01', 'planted', ROW('2100-01-01'));
	CREATE TABLE public.fauna_sync_removed (ref text, removed_at timestamptz);
	INSERT INTO public.fauna_sync_removed
	  SELECT i::text, '1999-01-01' FROM generate_series(0, 1000) i;
	GRANT ALL ON public.fauna_sync_changed, public.fauna_sync_removed TO PUBLIC;
};
# ... and, where the extension lives in another schema, objects under the
# extension's own names
my $plant_names = q{
	CREATE TABLE public.fauna_sync_state (LIKE %s.fauna_sync_state);
	INSERT INTO public.fauna_sync_state
	  VALUES ('app.ft', 'app.local', '2100-01-01', '2100-01-01', now(), 0, 0, false);
	GRANT ALL ON public.fauna_sync_state TO PUBLIC;
	CREATE FUNCTION public.fauna_fdw_scan_snapshot(foreign_table regclass) RETURNS timestamptz
	  LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('scan_snapshot'); RETURN '2100-01-01'; END $f$;
	CREATE FUNCTION public.fauna_sync_lock_pair(foreign_table regclass, local_table regclass)
	  RETURNS void LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('lock_pair'); END $f$;
	CREATE FUNCTION public.fauna_sync_missing_privilege(foreign_table regclass, local_table regclass)
	  RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('missing_privilege'); RETURN NULL; END $f$;
	CREATE PROCEDURE public.fauna_sync(foreign_table text, local_table text)
	  LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.escalate('fauna_sync'); END $f$;
};

sub attacker_is_superuser
{
	return $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'});
}

# local copy vs the foreign table: "rows|differences"
sub compare_copy
{
	my ($db, $local) = @_;
	return $node->safe_psql($db, qq{
		SELECT (SELECT count(*) FROM $local),
		       (SELECT count(*) FROM (
		          (SELECT ref, ts, k FROM app.ft EXCEPT SELECT ref, ts, k FROM $local)
		          UNION ALL
		          (SELECT ref, ts, k FROM $local EXCEPT SELECT ref, ts, k FROM app.ft)) d)});
}

sub n_docs
{
	return $emu->fql('Docs.all().count()');
}

# the mark of app.ft -> $local, and whether it is the greatest ts in Fauna
sub mark_is_fauna_max
{
	my ($db, $schema, $local) = @_;
	return $node->safe_psql($db, qq{
		SELECT s.high_water = (SELECT max(ts) FROM app.ft), s.full_copy
		  FROM $schema.fauna_sync_state s
		 WHERE s.foreign_table = 'app.ft'::regclass AND s.local_table = '$local'::regclass});
}

setup_db('postgres', 'fauna', '1.1');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	GRANT USAGE ON SCHEMA cron TO owner;
});
# ----------------------------------------------------------------
# 1.0 in public: the attack works (the control)
# ----------------------------------------------------------------
setup_db('legacy', 'public', '1.0');
my ($ok, $err) = try_as('owner', 'legacy', q{CALL fauna_sync('app.ft', 'app.local')});
ok(!$ok, '1.0: the owner may not sync without a grant on fauna_sync_state');
like($err, qr/permission denied for table fauna_sync_state/, '1.0: ... permission denied');
as('attacker', 'legacy', $plant);
$node->safe_psql('legacy', q{CALL fauna_sync('app.ft', 'app.local')});
is(attacker_is_superuser(), 't', '1.0: a superuser\'s call made the attacker a superuser');
like($node->safe_psql('legacy', q{SELECT string_agg(DISTINCT who || ':' || what, ',') FROM public.attack_log}),
	qr/postgres:max/, '1.0: the planted max() ran as the superuser');
is($node->safe_psql('legacy', q{SELECT string_agg(k, ',') FROM app.local}), 'planted',
	'1.0: the local table holds the planted row only');
is($node->safe_psql('legacy', q{SELECT high_water FROM fauna_sync_state}), '2100-01-01 00:00:00+00',
	'1.0: the mark was set to 2100');
$node->safe_psql('postgres', q{ALTER ROLE attacker NOSUPERUSER});
is(attacker_is_superuser(), 'f', 'the attacker is no superuser again');

# ----------------------------------------------------------------
# ALTER EXTENSION UPDATE: the same attack, now without effect
# ----------------------------------------------------------------
$node->safe_psql('legacy', q{
	ALTER EXTENSION fauna_fdw UPDATE TO '1.1';
	TRUNCATE public.attack_log;
	DELETE FROM app.local;
	DELETE FROM fauna_sync_state;
});
is($node->safe_psql('legacy', q{SELECT extversion, extrelocatable FROM pg_extension WHERE extname = 'fauna_fdw'}),
	'1.1|f', 'legacy is at 1.1, not relocatable');
$node->safe_psql('legacy', q{CALL fauna_sync('app.ft', 'app.local')});
is(attacker_is_superuser(), 'f', '1.1 in public, full copy: the attacker is no superuser');
is($node->safe_psql('legacy', q{SELECT count(*) FROM public.attack_log}), '0',
	'1.1 in public, full copy: none of the planted functions ran');
my $n = n_docs();
is(compare_copy('legacy', 'app.local'), "$n|0", "1.1 in public, full copy: the local rows are Fauna's $n");
is(mark_is_fauna_max('legacy', 'public', 'app.local'), 't|t', '1.1 in public: the mark is the greatest ts read');

# changes, then the incremental path (removals, the > operator)
$emu->fql('Docs.where(.k == "d3").forEach(d => d.delete()); Docs.create({ k: "new1" })');
$emu->fql('Docs.where(.k == "d4").forEach(d => d.update({ k: "d4b" }))');
# the planted "removals" name every document (the attacker may know ids)
$node->safe_psql('legacy', q{INSERT INTO public.fauna_sync_removed SELECT ref, '1999-01-01' FROM app.local});
$node->safe_psql('legacy', q{CALL fauna_sync('app.ft', 'app.local')});
is($node->safe_psql('legacy', q{SELECT upserted, deleted FROM fauna_sync_state WHERE local_table = 'app.local'::regclass}),
	'2|1', '1.1 in public, incremental: one create and one update upserted, one removal applied');
is(attacker_is_superuser(), 'f', '1.1 in public, incremental: the attacker is no superuser');
is($node->safe_psql('legacy', q{SELECT count(*) FROM public.attack_log}), '0',
	'1.1 in public, incremental: none of the planted functions ran');
$n = n_docs();
is(compare_copy('legacy', 'app.local'), "$n|0", "1.1 in public, incremental: the local rows are Fauna's $n");
is(mark_is_fauna_max('legacy', 'public', 'app.local'), 't|f',
	'1.1 in public, incremental: the mark is the greatest ts read');

# the owner now syncs without any grant on the marks table
as('owner', 'legacy', q{CALL fauna_sync('app.ft', 'app.local_cron')});
is(compare_copy('legacy', 'app.local_cron'), "$n|0", '1.1: the owner syncs without a grant on fauna_sync_state');

# ----------------------------------------------------------------
# 1.1 in its own schema: planted objects under the extension's names too
# ----------------------------------------------------------------
as('attacker', 'postgres', $plant);
as('attacker', 'postgres', sprintf($plant_names, 'fauna'));
my ($moveret, $moveout, $moveerr) = $node->psql('postgres', q{ALTER EXTENSION fauna_fdw SET SCHEMA public});
ok($moveret != 0, 'the extension cannot be moved to another schema');
like($moveerr, qr/does not support SET SCHEMA/, '... it is not relocatable');

# the owner's legitimate sync, twice (full, then incremental)
as('owner', 'postgres', q{CALL fauna.fauna_sync('app.ft', 'app.local')});
$emu->fql('Docs.where(.k == "d5").forEach(d => d.delete()); Docs.create({ k: "new2" })');
as('owner', 'postgres', q{CALL fauna.fauna_sync('app.ft', 'app.local')});
$n = n_docs();
is(compare_copy('postgres', 'app.local'), "$n|0", "the owner's sync: the local rows are Fauna's $n");
is(mark_is_fauna_max('postgres', 'fauna', 'app.local'), 't|f', "the owner's sync: incremental, mark at the greatest ts");
is(as('owner', 'postgres', q{SELECT count(*) FROM fauna.fauna_sync_marks WHERE local_table = 'app.local'::regclass}),
	'1', 'the owner sees its marks');

# a superuser's call, with the search_path a cron job would have
$emu->fql('Docs.where(.k == "d6").forEach(d => d.delete()); Docs.create({ k: "new3" })');
$node->safe_psql('postgres', q{INSERT INTO public.fauna_sync_removed SELECT ref, '1999-01-01' FROM app.local});
$node->safe_psql('postgres', q{CALL fauna.fauna_sync('app.ft', 'app.local')});
is($node->safe_psql('postgres', q{SELECT upserted, deleted FROM fauna.fauna_sync_state WHERE local_table = 'app.local'::regclass}),
	'1|1', '1.1 in schema fauna: one create upserted, one removal applied');
is(attacker_is_superuser(), 'f', '1.1 in schema fauna: the attacker is no superuser');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.attack_log}), '0',
	'1.1 in schema fauna: none of the planted functions or tables was used');
$n = n_docs();
is(compare_copy('postgres', 'app.local'), "$n|0", "1.1 in schema fauna: the local rows are Fauna's $n");
is(mark_is_fauna_max('postgres', 'fauna', 'app.local'), 't|f', '1.1 in schema fauna: the mark is the sync\'s own');

# ----------------------------------------------------------------
# pg_cron: the owner schedules its own sync (the job runs as the owner),
# now that Fauna no longer changes; checked at the end, after a run
# ----------------------------------------------------------------
my $t_cron = time();
my $jobid = as('owner', 'postgres',
	q{SELECT cron.schedule('owner-sync', '* * * * *', $$CALL fauna.fauna_sync('app.ft', 'app.local_cron')$$)});
like($jobid, qr/^\d+$/, 'the owner schedules its sync');
is($node->safe_psql('postgres', "SELECT username FROM cron.job WHERE jobid = $jobid"),
	'owner', 'the job runs as the owner');

# ----------------------------------------------------------------
# section 2: the attacker and the role without USAGE against the owner's
# marks
# ----------------------------------------------------------------
my $marks_sql = q{SELECT high_water, seen_until, synced_at, upserted, deleted, full_copy
	FROM fauna.fauna_sync_state WHERE local_table = 'app.local'::regclass};
my $marks_before = $node->safe_psql('postgres', $marks_sql);
is(as('attacker', 'postgres', q{SELECT count(*) FROM fauna.fauna_sync_state}), '0',
	'the attacker sees no marks in fauna_sync_state');
is(as('attacker', 'postgres', q{SELECT count(*) FROM fauna.fauna_sync_marks}), '0',
	'the attacker sees no marks in fauna_sync_marks');
is(as('attacker', 'postgres', q{
	WITH u AS (UPDATE fauna.fauna_sync_state SET high_water = '2100-01-01' RETURNING 1)
	SELECT count(*) FROM u}), '0', 'the attacker\'s UPDATE of the marks changes no row');
is(as('attacker', 'postgres', q{
	WITH d AS (DELETE FROM fauna.fauna_sync_state RETURNING 1) SELECT count(*) FROM d}),
	'0', 'the attacker\'s DELETE of the marks removes no row');
($ok, $err) = try_as('attacker', 'postgres', q{
	INSERT INTO fauna.fauna_sync_state
	VALUES ('app.ft', 'app.local', '2100-01-01', '2100-01-01', now(), 0, 0, false)
	ON CONFLICT (foreign_table, local_table) DO UPDATE SET high_water = EXCLUDED.high_water});
ok(!$ok, 'the attacker cannot upsert a mark of the owner\'s pair');
like($err, qr/new row violates row-level security policy for table "fauna_sync_state"/, '... row-level security says so');
($ok, $err) = try_as('attacker', 'postgres', q{TRUNCATE fauna.fauna_sync_state});
like($err, qr/permission denied for table fauna_sync_state/, 'the attacker cannot TRUNCATE the marks');
($ok, $err) = try_as('attacker', 'postgres', q{SELECT fauna.fauna_sync_reset('app.ft', 'app.local')});
like($err, qr/permission denied for foreign table app\.ft/, 'the attacker cannot reset the owner\'s marks');
($ok, $err) = try_as('attacker', 'postgres', q{CALL fauna.fauna_sync('app.ft', 'app.local')});
like($err, qr/permission denied for foreign table app\.ft/, 'the attacker cannot sync the owner\'s pair');
($ok, $err) = try_as('attacker', 'postgres', q{CREATE TRIGGER t BEFORE UPDATE ON fauna.fauna_sync_state
	FOR EACH ROW EXECUTE FUNCTION public.escalate('trigger')});
like($err, qr/permission denied for table fauna_sync_state/, 'the attacker cannot put a trigger on the marks');

# the role without USAGE, though granted the tables by the owner
as('owner', 'postgres', q{
	GRANT SELECT ON app.ft TO nousage;
	GRANT SELECT, INSERT, UPDATE, DELETE ON app.local TO nousage});
($ok, $err) = try_as('nousage', 'postgres', q{CALL fauna.fauna_sync('app.ft', 'app.local')});
like($err, qr/permission denied for foreign server fauna/, 'without USAGE on the server: no sync');
is(as('nousage', 'postgres', q{SELECT count(*) FROM fauna.fauna_sync_marks}), '0',
	'without USAGE on the server: no marks shown');
($ok, $err) = try_as('nousage', 'postgres', q{SELECT fauna.fauna_sync_reset('app.ft', 'app.local')});
like($err, qr/permission denied for foreign server fauna/, 'without USAGE on the server: no reset');
is($node->safe_psql('postgres', $marks_sql), $marks_before, 'the owner\'s marks are unchanged');
is(attacker_is_superuser(), 'f', 'the attacker is still no superuser');

# the owner resets its marks: the next sync is a full copy
is(as('owner', 'postgres', q{SELECT fauna.fauna_sync_reset('app.ft', 'app.local')}), 't',
	'the owner resets its marks');
as('owner', 'postgres', q{CALL fauna.fauna_sync('app.ft', 'app.local')});
is(mark_is_fauna_max('postgres', 'fauna', 'app.local'), 't|t', 'after a reset: a full copy');

# ----------------------------------------------------------------
# the pg_cron run, as the owner
# ----------------------------------------------------------------
my $deadline = $t_cron + 150;
my $runs = '';
while (time() < $deadline)
{
	$runs = $node->safe_psql('postgres', qq{
		SELECT string_agg(status || ':' || username, ',')
		  FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed')});
	last if $runs ne '';
	sleep 1;
}
like($runs, qr/^succeeded:owner/, 'the scheduled sync ran, as the owner, and succeeded')
  or diag($node->safe_psql('postgres', qq{SELECT return_message FROM cron.job_run_details WHERE jobid = $jobid}));
as('owner', 'postgres', q{SELECT cron.unschedule('owner-sync')});
$n = n_docs();
is(compare_copy('postgres', 'app.local_cron'), "$n|0", "the scheduled sync copied Fauna's $n rows");
is(as('owner', 'postgres', q{SELECT count(*) FROM fauna.fauna_sync_marks WHERE local_table = 'app.local_cron'::regclass}),
	'1', 'the scheduled sync left its marks, visible to the owner');
is(attacker_is_superuser(), 'f', 'at the end, the attacker is no superuser');

$node->stop;
$emu->stop;
done_testing();
