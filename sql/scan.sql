--
-- Reading collections over FQL v10, against the emulator seeded by
-- test/seed_regress.py (logical clock: ids and timestamps are stable).
-- The endpoint and secrets come from the environment and never appear in
-- the output.
--
\set VERBOSITY default
SET client_min_messages = warning;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET
\getenv fauna_readonly_secret FAUNA_READONLY_SECRET

-- EXPLAIN ANALYZE with the response size masked: it depends on details of
-- the server's JSON (txn_ts, schema_version) that this suite does not test
CREATE FUNCTION explain_analyze(query text, with_verbose bool DEFAULT false)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXECUTE format('EXPLAIN (ANALYZE, VERBOSE %s, COSTS OFF, TIMING OFF, SUMMARY OFF) %s',
                           CASE WHEN with_verbose THEN 'on' ELSE 'off' END, query) LOOP
    RETURN NEXT regexp_replace(ln, 'Fauna bytes received: \d+', 'Fauna bytes received: N');
  END LOOP;
END
$$;

CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna
  OPTIONS (secret :'fauna_secret');

CREATE FOREIGN TABLE users (
  ref text,
  ts timestamptz,
  coll text,
  ttl timestamptz,
  name text,
  email text,
  age int,
  city text OPTIONS (path 'address.city'),
  zip text OPTIONS (path 'address.zip'),
  active bool,
  tags jsonb,
  data jsonb
) SERVER fauna OPTIONS (collection 'Users');

-- full scan; documents of differing shapes; missing fields are NULL
SELECT ref, ts, coll, ttl, name, email, age, city, zip, active, tags
  FROM users ORDER BY ref;
SELECT name, data FROM users ORDER BY name;
SELECT name FROM users WHERE email IS NULL ORDER BY name;
SELECT city, count(*) FROM users GROUP BY city ORDER BY city;
SELECT count(*) FROM users;
-- ts as microseconds since the epoch
CREATE FOREIGN TABLE users_us (ref text, ts bigint) SERVER fauna
  OPTIONS (collection 'Users');
SELECT ref, ts FROM users_us ORDER BY ref;
-- the id as json or jsonb is the ref object, which names the collection:
-- coll is projected with the id
CREATE FOREIGN TABLE users_refs (ref jsonb, ref_json json OPTIONS (path 'ref'),
  name text) SERVER fauna OPTIONS (collection 'Users');
EXPLAIN (VERBOSE, COSTS OFF) SELECT ref, name FROM users_refs;
SELECT ref, ref_json, name FROM users_refs ORDER BY name;
SELECT ref->>'collection' AS coll, count(*) FROM users_refs GROUP BY 1;

-- only the columns a statement needs are projected; other quals stay local
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM users;
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM users WHERE city = 'Paris';
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM users;
EXPLAIN (VERBOSE, COSTS OFF) SELECT users FROM users;
SELECT name FROM users WHERE city = 'Paris' ORDER BY name;

-- an empty collection
CREATE FOREIGN TABLE empty (ref text, data jsonb) SERVER fauna
  OPTIONS (collection 'Empty');
SELECT * FROM empty;
SELECT count(*) FROM empty;

-- 7 documents read 2 per page: 4 requests, all rows once, in id order
CREATE FOREIGN TABLE paged (ref text, n int, label text) SERVER fauna
  OPTIONS (collection 'Paged', page_size '2');
SELECT array_agg(n) FROM paged;
SELECT count(*), count(DISTINCT ref), min(n), max(n) FROM paged;
SELECT n, label FROM paged ORDER BY n;
SELECT explain_analyze($q$SELECT n FROM paged$q$, true);
-- the server's page_size applies when the table has none
ALTER FOREIGN TABLE paged OPTIONS (DROP page_size);
ALTER SERVER fauna OPTIONS (ADD page_size '3');
SELECT explain_analyze($q$SELECT n FROM paged$q$);
ALTER SERVER fauna OPTIONS (DROP page_size);
-- LIMIT goes to Fauna (.take): no page beyond it is asked for
ALTER FOREIGN TABLE paged OPTIONS (ADD page_size '2');
SELECT explain_analyze($q$SELECT n FROM paged LIMIT 3$q$);

-- pipelining: each scan prefetches its next page while returning rows.
-- Two scans of one server in one statement, each over several pages, do
-- not share a request: a hash join reads both sides in turn...
CREATE FOREIGN TABLE paged3 (ref text, n int, label text) SERVER fauna
  OPTIONS (collection 'Paged', page_size '3');
SELECT a.n, b.n, b.label FROM paged a JOIN paged3 b USING (ref) ORDER BY a.n;
-- ...and a nested loop rescans its inner side while the outer side has a
-- prefetch in flight
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM paged a JOIN paged3 b ON a.n <= b.n;
SELECT count(*), sum(a.n * 10 + b.n) FROM paged a JOIN paged3 b ON a.n <= b.n;
SELECT a.n, array_agg(b.n ORDER BY b.n) FROM paged a JOIN paged3 b ON a.n <= b.n
  WHERE a.n % 3 = 1 GROUP BY a.n ORDER BY a.n;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
-- a local LIMIT (above a local filter) ends a scan with its next page in
-- flight; that transfer is dropped, and the connection serves the next
-- statements
EXPLAIN (COSTS OFF) SELECT n FROM paged WHERE n > 0 LIMIT 1;
SELECT n FROM paged WHERE n > 0 LIMIT 1;
SELECT n FROM paged3 WHERE n > 0 LIMIT 4;
SELECT count(*), sum(n) FROM paged;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
DROP FOREIGN TABLE paged3;

-- ref = value becomes Coll.byId(value): one document or none
SELECT min(ref) AS first_ref FROM users \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM users WHERE ref = :'first_ref';
SELECT name FROM users WHERE ref = :'first_ref';
SELECT name, ref = :'first_ref' AS same FROM users WHERE :'first_ref' = ref;
-- a well-formed id of no document: zero rows
SELECT name FROM users WHERE ref = '1';
-- not an id at all: zero rows, without asking Fauna
SELECT explain_analyze($q$SELECT name FROM users WHERE ref = 'not-an-id'$q$);
SELECT name FROM users WHERE ref = NULL;
-- with other quals, which stay local
SELECT name FROM users WHERE ref = :'first_ref' AND age > 40;
SELECT name FROM users WHERE ref = :'first_ref' AND age > 30;
-- the path "id" is the same as "ref"
CREATE FOREIGN TABLE users_byid (doc_id text OPTIONS (path 'id'), name text)
  SERVER fauna OPTIONS (collection 'Users');
SELECT doc_id, name FROM users_byid WHERE doc_id = '400000000000000002';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT doc_id, name FROM users_byid WHERE doc_id = '400000000000000002';
-- parameters: prepared statements and InitPlans are looked up too
PREPARE byid(text) AS SELECT name FROM users WHERE ref = $1;
EXECUTE byid(:'first_ref');
EXECUTE byid('400000000000000004');
EXECUTE byid('999');
DEALLOCATE byid;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT name FROM users WHERE ref = (SELECT max(ref) FROM users);
SELECT name FROM users WHERE ref = (SELECT max(ref) FROM users);
-- rescans re-evaluate the parameter
SELECT v.r, (SELECT name FROM users u WHERE u.ref = v.r)
  FROM (VALUES ('400000000000000002'), ('400000000000000003'), ('7')) v(r)
  ORDER BY 1;

-- a join on ref with a big collection and few outer rows: a nested loop
-- looks each document up with byId (a parameterized scan)
CREATE TEMP TABLE wanted (r text);
INSERT INTO wanted VALUES ('400000000000000002'), ('400000000000000004'), ('5');
ANALYZE wanted;
ALTER FOREIGN TABLE users OPTIONS (ADD rows '1000000');
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT w.r, u.name FROM wanted w JOIN users u ON u.ref = w.r;
SELECT w.r, u.name FROM wanted w JOIN users u ON u.ref = w.r ORDER BY 1;
SELECT w.r, u.name FROM wanted w LEFT JOIN users u ON u.ref = w.r ORDER BY 1;
SELECT explain_analyze($q$SELECT w.r, u.name FROM wanted w JOIN users u ON u.ref = w.r$q$);
ALTER FOREIGN TABLE users OPTIONS (DROP rows);
-- a small collection is read once and hashed instead
EXPLAIN (COSTS OFF)
  SELECT w.r, u.name FROM wanted w JOIN users u ON u.ref = w.r;

-- ANALYZE samples documents
ANALYZE paged;
SELECT reltuples FROM pg_class WHERE relname = 'paged';

-- errors map to SQLSTATEs, with Fauna's code and message in the detail
CREATE FOREIGN TABLE nope (ref text) SERVER fauna
  OPTIONS (collection 'NoSuchCollection');
SELECT * FROM nope;
\echo :LAST_ERROR_SQLSTATE

-- a role that may read Users but not Secrets
CREATE SERVER fauna_ro FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_ro
  OPTIONS (secret :'fauna_readonly_secret');
CREATE FOREIGN TABLE ro_users (ref text, name text) SERVER fauna_ro
  OPTIONS (collection 'Users');
CREATE FOREIGN TABLE ro_secrets (ref text, code text) SERVER fauna_ro
  OPTIONS (collection 'Secrets');
SELECT name FROM ro_users ORDER BY name;
SELECT * FROM ro_secrets;
\echo :LAST_ERROR_SQLSTATE

-- a bad secret
CREATE SERVER fauna_bad FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '3');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_bad
  OPTIONS (secret 'fnNotTheRightSecret');
CREATE FOREIGN TABLE bad_users (ref text) SERVER fauna_bad
  OPTIONS (collection 'Users');
SELECT * FROM bad_users;
\echo :LAST_ERROR_SQLSTATE

-- nothing listens on port 1: HV00N (terse: curl's message has timings)
CREATE SERVER fauna_down FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint 'http://127.0.0.1:1', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_down
  OPTIONS (secret 'fnWhatever');
CREATE FOREIGN TABLE down_users (ref text) SERVER fauna_down
  OPTIONS (collection 'Users');
\set VERBOSITY terse
SELECT * FROM down_users;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE

-- the connection is cached per user mapping, and dropped when the server
-- or user mapping changes
SELECT fauna_fdw_disconnect();
SELECT count(*) FROM users;
SELECT count(*) FROM ro_users;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
-- an altered user mapping's connection is closed when the ALTER commits
ALTER USER MAPPING FOR CURRENT_USER SERVER fauna_ro
  OPTIONS (SET secret 'fnChangedAndWrong');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
SELECT count(*) FROM ro_users;
ALTER USER MAPPING FOR CURRENT_USER SERVER fauna_ro
  OPTIONS (SET secret :'fauna_readonly_secret');
SELECT count(*) FROM ro_users;
SELECT fauna_fdw_disconnect('fauna_ro');
SELECT fauna_fdw_disconnect('fauna_ro');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
SELECT fauna_fdw_disconnect('no_such_server');
SELECT fauna_fdw_disconnect();
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;

-- ALTER SERVER marks the server's cached connection invalid, and only that
-- server's; the next use reconnects with the new options.  In a
-- transaction block, so that the entry is seen between the two uses.
CREATE SERVER fauna_tmp FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_tmp
  OPTIONS (secret :'fauna_secret');
CREATE FOREIGN TABLE tmp_users (ref text) SERVER fauna_tmp
  OPTIONS (collection 'Users');
BEGIN;
SELECT count(*) FROM users;
SELECT count(*) FROM tmp_users;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
ALTER SERVER fauna_tmp OPTIONS (ADD page_size '3');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
-- 4 documents, 3 per page: the new option is in effect
SELECT explain_analyze('SELECT ref FROM tmp_users');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
COMMIT;
-- the backend reads its own committed invalidations back once more: the
-- entry is rebuilt once again
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
SELECT count(*) FROM tmp_users;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
-- a change to a foreign table is not a change to the connection
ALTER FOREIGN TABLE tmp_users OPTIONS (ADD page_size '1');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
SELECT count(*) FROM tmp_users;
-- ALTER SERVER rolled back: the entry is rebuilt again at its next use
BEGIN;
ALTER SERVER fauna_tmp OPTIONS (SET endpoint 'http://127.0.0.1:1');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
ROLLBACK;
SELECT count(*) FROM tmp_users;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;

-- DROP USER MAPPING: the connection can no longer be used; rolled back, it
-- can again
BEGIN;
DROP USER MAPPING FOR CURRENT_USER SERVER fauna_tmp;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
\set VERBOSITY sqlstate
SELECT count(*) FROM tmp_users;
\set VERBOSITY default
ROLLBACK;
SELECT count(*) FROM tmp_users;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
-- committed: the dropped mapping's connection is closed at commit, and a
-- new mapping gets a connection of its own with its own secret
DROP USER MAPPING FOR CURRENT_USER SERVER fauna_tmp;
SELECT count(*) FROM fauna_fdw_get_connections()
  WHERE server_name = 'fauna_tmp' OR server_name IS NULL;
\set VERBOSITY sqlstate
SELECT count(*) FROM tmp_users;
\set VERBOSITY default
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_tmp
  OPTIONS (secret :'fauna_readonly_secret');
CREATE FOREIGN TABLE tmp_secrets (ref text) SERVER fauna_tmp
  OPTIONS (collection 'Secrets');
SELECT count(*) FROM tmp_users;
SELECT count(*) FROM tmp_secrets;
SELECT count(*) FROM fauna_fdw_get_connections()
  WHERE server_name = 'fauna_tmp' AND valid;
-- DROP SERVER: its connections are closed at commit
DROP SERVER fauna_tmp CASCADE;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
-- a connection an open cursor still reads from is not closed (a WARNING),
-- and the cursor reads on
CREATE FOREIGN TABLE paged3 (n int) SERVER fauna
  OPTIONS (collection 'Paged', page_size '3');
BEGIN;
DECLARE c CURSOR FOR SELECT n FROM paged3;
FETCH 2 FROM c;
SELECT fauna_fdw_disconnect('fauna');
FETCH ALL FROM c;
COMMIT;
DROP FOREIGN TABLE paged3;
-- fauna_fdw_disconnect: NULL for NULL; true if it closed anything
SELECT fauna_fdw_disconnect(NULL);
SELECT fauna_fdw_disconnect();
SELECT fauna_fdw_disconnect();
SELECT fauna_fdw_disconnect('fauna');
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;
-- and the cache is built again on the next use
SELECT count(*) FROM users;
SELECT server_name, valid FROM fauna_fdw_get_connections() ORDER BY 1;

DROP FUNCTION explain_analyze;
DROP SERVER fauna, fauna_ro, fauna_bad, fauna_down CASCADE;
