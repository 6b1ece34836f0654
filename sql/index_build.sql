--
-- Indexes that Fauna is still building.  An index added to a collection of
-- 128 documents or more is built in the background: until it is done its
-- definition says queryable: false and calling it is a 400
-- invalid_index_invocation.  While it builds, fauna_fdw_check says why it
-- does not qualify, IMPORT FOREIGN SCHEMA records index 'auto' (so that the
-- table uses the index once it is built), index 'auto' reads without it
-- (correctly, by a full scan) and a table naming it gets a clear error;
-- once built, all of them use it.
--
-- The regress emulator holds such a build until this suite ends it
-- (test/emulator.sh starts it with --hold-index-builds; the control call
-- POST /_emulator/index_builds/finish completes it): no timing window.
-- This suite writes, and its output shows no id or timestamp (they depend
-- on the suites before it).
--
\getenv endpoint FAUNA_ENDPOINT
\getenv secret FAUNA_SECRET
\set VERBOSITY default

CREATE SERVER ib_srv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER ib_srv OPTIONS (secret :'secret');
CREATE FOREIGN TABLE ib_auto (ref text, ts timestamptz, n int)
  SERVER ib_srv OPTIONS (collection 'IdxBuild');
CREATE FOREIGN TABLE ib_named (ref text, ts timestamptz, n int)
  SERVER ib_srv OPTIONS (collection 'IdxBuild', index 'byTs');

-- 200 documents in one transaction: enough for a background build
\! python3 test/fauna_write.py 'Collection.create({ name: "IdxBuild" })'
\! python3 test/fauna_write.py 'Set.sequence(0, 200).forEach(i => IdxBuild.create({ n: i }))'
SELECT count(*), sum(n) FROM ib_auto;

-- the ts index, then 10 more documents (one transaction) while it builds
\! python3 test/fauna_write.py 'IdxBuild.definition.update({ indexes: { byTs: { values: [{ field: ".ts", order: "asc" }] } } })'
\! python3 test/fauna_write.py 'Set.sequence(1000, 1010).forEach(i => IdxBuild.create({ n: i }))'

-- while it builds: the check says why the index does not qualify yet
SELECT test, ok, detail FROM fauna_fdw_check('ib_srv', ARRAY['IdxBuild'])
  WHERE test = 'ts index';

-- IMPORT FOREIGN SCHEMA cannot record an index that is not queryable yet,
-- and does not record 'none' either: 'auto' decides at each scan
CREATE SCHEMA ib_building;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (idxbuild) FROM SERVER ib_srv INTO ib_building;
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'ib_building.idxbuild'::regclass;

-- index 'auto' finds no queryable index: the ts range filters a full scan,
-- and the result is right (the 10 documents written after the first 200)
EXPLAIN (COSTS OFF)
  SELECT count(*), sum(n) FROM ib_auto WHERE ts > (SELECT min(ts) FROM ib_auto);
SELECT count(*), sum(n) FROM ib_auto WHERE ts > (SELECT min(ts) FROM ib_auto);

-- a table naming the index reads it, and Fauna refuses until it is built
EXPLAIN (COSTS OFF)
  SELECT count(*), sum(n) FROM ib_named WHERE ts > (SELECT min(ts) FROM ib_auto);
SELECT count(*), sum(n) FROM ib_named WHERE ts > (SELECT min(ts) FROM ib_auto);
-- (without a ts range it does not use the index)
SELECT count(*), sum(n) FROM ib_named;

-- still building, however long the statements above took
SELECT test, ok FROM fauna_fdw_check('ib_srv', ARRAY['IdxBuild'])
  WHERE test = 'ts index';
-- end the build (-f: a refused control call fails the suite)
\! curl -fsS -X POST -H "Authorization: Bearer $FAUNA_SECRET" "$FAUNA_ENDPOINT/_emulator/index_builds/finish"; echo

-- built: the check names it, 'auto' and the named table read the range from
-- it, with the documents written during the build
SELECT test, ok, detail FROM fauna_fdw_check('ib_srv', ARRAY['IdxBuild'])
  WHERE test = 'ts index';
EXPLAIN (COSTS OFF)
  SELECT count(*), sum(n) FROM ib_auto WHERE ts > (SELECT min(ts) FROM ib_auto);
SELECT count(*), sum(n) FROM ib_auto WHERE ts > (SELECT min(ts) FROM ib_auto);
SELECT count(*), sum(n) FROM ib_named WHERE ts > (SELECT min(ts) FROM ib_auto);
SELECT count(*), sum(n) FROM ib_auto;

-- the table imported during the build now reads the index ('auto');
-- importing again records it by name
EXPLAIN (COSTS OFF)
  SELECT ref FROM ib_building.idxbuild WHERE ts > '2024-01-01';
CREATE SCHEMA ib_built;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (idxbuild) FROM SERVER ib_srv INTO ib_built;
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'ib_built.idxbuild'::regclass;
SELECT count(*), sum((data->>'n')::int) FROM ib_built.idxbuild
  WHERE ts > (SELECT min(ts) FROM ib_auto);

SET client_min_messages = warning;
DROP SCHEMA ib_building, ib_built CASCADE;
DROP SERVER ib_srv CASCADE;
