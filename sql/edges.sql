--
-- Edges: pushed conditions return exactly the rows their SQL selects,
-- options that cannot work are refused, and every entry point that
-- reaches a server checks USAGE on it.  Its data is written here, first,
-- by test/seed_edges.py (the suite is last, so no other suite's ids move).
--
\set VERBOSITY default
SET client_min_messages = warning;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET
\! python3 test/seed_edges.py

CREATE SERVER edges10 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE SERVER edges4 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0', api_version '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER edges10 OPTIONS (secret :'fauna_secret');
CREATE USER MAPPING FOR CURRENT_USER SERVER edges4 OPTIONS (secret :'fauna_secret');

--
-- ref = value: only a canonical id (the decimal digits Fauna writes, no
-- sign, spaces or leading zeros) is looked up; any other text finds no
-- document, as the SQL condition on the ids Fauna returns.
--
CREATE FOREIGN TABLE eids10 (ref text, n int) SERVER edges10 OPTIONS (collection 'EdgeIds');
CREATE FOREIGN TABLE eids4 (ref text, n int) SERVER edges4 OPTIONS (collection 'EdgeIds');
CREATE TABLE eids_local AS SELECT ref, n FROM eids10;
SELECT * FROM eids_local ORDER BY n;
CREATE TABLE probes (v text);
INSERT INTO probes VALUES ('10'), ('010'), ('+10'), (' 10'), ('10 '), ('1e1'),
  ('-10'), ('0'), ('00'), (''), ('229203205346557952'), ('0229203205346557952'),
  ('9223372036854775807'), ('09223372036854775807'), ('9223372036854775808'),
  ('18446744073709551626');
-- each probe pushed as Coll.byId (a correlated parameter), against the
-- same condition on the local copy
EXPLAIN (COSTS OFF)
  SELECT (SELECT array_agg(n) FROM eids10 WHERE ref = p.v) FROM probes p;
SELECT p.v,
       (SELECT array_agg(n) FROM eids10 WHERE ref = p.v) AS v10,
       (SELECT array_agg(n) FROM eids4 WHERE ref = p.v) AS v4,
       (SELECT array_agg(n) FROM eids_local WHERE ref = p.v) AS local
  FROM probes p ORDER BY p.v;
SELECT count(*) AS disagreements FROM probes p
  WHERE (SELECT array_agg(n) FROM eids10 WHERE ref = p.v) IS DISTINCT FROM
        (SELECT array_agg(n) FROM eids_local WHERE ref = p.v)
     OR (SELECT array_agg(n) FROM eids4 WHERE ref = p.v) IS DISTINCT FROM
        (SELECT array_agg(n) FROM eids_local WHERE ref = p.v);
-- the issue's example, as a constant
EXPLAIN (COSTS OFF) SELECT n FROM eids10 WHERE ref = '0229203205346557952';
SELECT n FROM eids10 WHERE ref = '0229203205346557952';
SELECT n FROM eids10 WHERE ref = '229203205346557952';
SELECT n FROM eids4 WHERE ref = '010';
-- a join on ref: a parameterized lookup per outer row
SELECT p.v, e.n FROM probes p JOIN eids10 e ON e.ref = p.v ORDER BY 1;
SELECT p.v, e.n FROM probes p JOIN eids_local e ON e.ref = p.v ORDER BY 1;

-- under a nondeterministic collation text equality is not bytewise:
-- '１０' (fullwidth) equals '10', so the qual stays local
CREATE COLLATION edges_ci (provider = icu, locale = 'und-u-ks-level1', deterministic = false);
CREATE FOREIGN TABLE eids_ci (ref text COLLATE edges_ci, n int)
  SERVER edges10 OPTIONS (collection 'EdgeIds');
EXPLAIN (COSTS OFF) SELECT n FROM eids_ci WHERE ref = '１０';
SELECT n FROM eids_ci WHERE ref = '１０';
SELECT n FROM eids_local WHERE ref COLLATE edges_ci = '１０';

--
-- Integer ref columns: the id converted, range-checked.  An integer's
-- text is canonical, so "ref = 010" is ref = 10 on both sides.
--
CREATE FOREIGN TABLE eids_big (ref bigint, n int) SERVER edges10 OPTIONS (collection 'EdgeIds');
CREATE FOREIGN TABLE eids_int (ref integer, n int) SERVER edges10 OPTIONS (collection 'EdgeIds');
CREATE FOREIGN TABLE eids_small (ref smallint, n int) SERVER edges10 OPTIONS (collection 'EdgeIds');
SELECT ref, n FROM eids_big WHERE ref = 010;
SELECT ref, n FROM eids_big WHERE ref = -10;
SELECT ref, n FROM eids_int WHERE ref = 10;
SELECT ref, n FROM eids_small WHERE ref = 10::smallint;
SELECT ref::integer, n FROM eids_local WHERE ref = '10';
-- an id beyond the type's range is an error naming the column, not a NULL
SELECT ref, n FROM eids_int ORDER BY n;
SELECT ref, n FROM eids_small WHERE ref = 229;
SELECT ref FROM eids_small ORDER BY n;
SELECT count(*) FROM eids_small;

--
-- A named index that cannot serve a ts range is an error naming it and
-- saying why, never an empty result; without a ts range it is not used.
--
CREATE FOREIGN TABLE ething_bykind (name text, kind text, ts timestamptz)
  SERVER edges10 OPTIONS (collection 'EdgeThings', index 'byKind');
CREATE FOREIGN TABLE ething_newest (name text, kind text, ts timestamptz)
  SERVER edges10 OPTIONS (collection 'EdgeThings', index 'newest');
CREATE FOREIGN TABLE ething_byname (name text, kind text, ts timestamptz)
  SERVER edges10 OPTIONS (collection 'EdgeThings', index 'byName');
CREATE FOREIGN TABLE ething_nope (name text, kind text, ts timestamptz)
  SERVER edges10 OPTIONS (collection 'EdgeThings', index 'nope');
CREATE FOREIGN TABLE ething_byts (name text, kind text, ts timestamptz)
  SERVER edges10 OPTIONS (collection 'EdgeThings', index 'byTs');
CREATE TABLE ething_local AS SELECT * FROM ething_byts;
SELECT min(ts) AS t0 FROM ething_local \gset
SELECT name FROM ething_bykind WHERE ts > :'t0';
SELECT name FROM ething_newest WHERE ts > :'t0';
EXPLAIN (COSTS OFF) SELECT name FROM ething_byname WHERE ts >= :'t0';
SELECT name FROM ething_nope WHERE ts < :'t0';
SELECT name FROM ething_byname ORDER BY name;
EXPLAIN (COSTS OFF) SELECT name FROM ething_byts WHERE ts > :'t0';
SELECT name FROM ething_byts WHERE ts > :'t0' ORDER BY name;
SELECT name FROM ething_local WHERE ts > :'t0' ORDER BY name;
-- over FQL v4: [ts, ref] serves, an index with terms does not
CREATE FOREIGN TABLE ething4_kind (name text, ts timestamptz)
  SERVER edges4 OPTIONS (collection 'EdgeThings', index 'edge_things_by_kind');
CREATE FOREIGN TABLE ething4_ts (name text, ts timestamptz)
  SERVER edges4 OPTIONS (collection 'EdgeThings', index 'edge_things_ts_ref');
SELECT name FROM ething4_kind WHERE ts > :'t0';
EXPLAIN (COSTS OFF) SELECT name FROM ething4_ts WHERE ts > :'t0';
SELECT name FROM ething4_ts WHERE ts > :'t0' ORDER BY name;

--
-- A collection value is exported as the other references are, {id, type},
-- the same over FQL v10 and v4; the coll column stays the name.
--
CREATE FOREIGN TABLE ething_vals10 (name text, c jsonb, ct text OPTIONS (path 'c'),
                                    cj json OPTIONS (path 'c'), data jsonb,
                                    coll text, collj jsonb OPTIONS (path 'coll'))
  SERVER edges10 OPTIONS (collection 'EdgeThings');
CREATE FOREIGN TABLE ething_vals4 (name text, c jsonb, ct text OPTIONS (path 'c'),
                                   cj json OPTIONS (path 'c'), data jsonb,
                                   coll text, collj jsonb OPTIONS (path 'coll'))
  SERVER edges4 OPTIONS (collection 'EdgeThings');
SELECT name, c, ct, cj, data->'c' AS data_c, coll, collj
  FROM ething_vals10 WHERE name = 'self';
SELECT name, c, ct, cj, data->'c' AS data_c, coll, collj
  FROM ething_vals4 WHERE name = 'self';
SELECT count(*) AS rows_that_differ FROM (
  (SELECT name, c, ct, cj::text, data, coll, collj FROM ething_vals10
   EXCEPT SELECT name, c, ct, cj::text, data, coll, collj FROM ething_vals4)
  UNION ALL
  (SELECT name, c, ct, cj::text, data, coll, collj FROM ething_vals4
   EXCEPT SELECT name, c, ct, cj::text, data, coll, collj FROM ething_vals10)) d;

--
-- Options refused when set: sub-paths of reserved values that are not
-- objects; accepted: data's fields and an upper-case URL scheme.
--
CREATE FOREIGN TABLE bad_path (x text OPTIONS (path 'ts.x')) SERVER edges10;
CREATE FOREIGN TABLE bad_path (x text OPTIONS (path 'coll.name')) SERVER edges10;
CREATE FOREIGN TABLE bad_path (x text OPTIONS (path 'ref.x')) SERVER edges10;
CREATE FOREIGN TABLE bad_path (x text OPTIONS (path 'id.x')) SERVER edges10;
CREATE FOREIGN TABLE bad_path (x text OPTIONS (path 'ttl.x.y')) SERVER edges10;
CREATE FOREIGN TABLE good_path (name text OPTIONS (path 'data.name'),
                                tsx text OPTIONS (path 'tsx'))
  SERVER edges10 OPTIONS (collection 'EdgeThings');
ALTER FOREIGN TABLE good_path ALTER COLUMN tsx OPTIONS (SET path 'ts.x');
-- a column whose name is such a path, without the option
CREATE FOREIGN TABLE dotted ("ts.x" text) SERVER edges10 OPTIONS (collection 'EdgeThings');
SELECT * FROM dotted;
SELECT regexp_replace(:'fauna_endpoint', '^http://', 'HTTP://') AS upper_endpoint \gset
CREATE SERVER edges_upper FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'upper_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER edges_upper OPTIONS (secret :'fauna_secret');
CREATE FOREIGN TABLE eids_upper (ref text, n int) SERVER edges_upper OPTIONS (collection 'EdgeIds');
SELECT n FROM eids_upper ORDER BY n;
CREATE SERVER edges_ftp FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'FTP://example.com');

--
-- A name FQL v10 keeps for its modules is not a collection.
--
CREATE FOREIGN TABLE keys (ref text) SERVER edges10 OPTIONS (collection 'Key');
SELECT * FROM keys;
ALTER FOREIGN TABLE keys OPTIONS (SET collection 'Math');
EXPLAIN (COSTS OFF) SELECT * FROM keys;
ANALYZE keys;

--
-- USAGE on the server: fauna_fdw_check needs it, as IMPORT FOREIGN SCHEMA
-- does, even with a PUBLIC user mapping; fauna_fdw_scan_snapshot needs
-- SELECT on the table.
--
CREATE ROLE regress_edges_nousage;
CREATE SERVER edges_pub FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR PUBLIC SERVER edges_pub OPTIONS (secret :'fauna_secret');
CREATE SCHEMA edges_imp;
GRANT CREATE, USAGE ON SCHEMA edges_imp TO regress_edges_nousage;
SET ROLE regress_edges_nousage;
SELECT * FROM fauna_fdw_check('edges_pub', ARRAY['EdgeIds']);
IMPORT FOREIGN SCHEMA x LIMIT TO (edgeids) FROM SERVER edges_pub INTO edges_imp;
SELECT fauna_fdw_scan_snapshot('eids10');
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER edges_pub TO regress_edges_nousage;
SET ROLE regress_edges_nousage;
SELECT collection, test, ok FROM fauna_fdw_check('edges_pub', ARRAY['EdgeIds'])
  ORDER BY test;
RESET ROLE;
SELECT fauna_fdw_scan_snapshot('eids10') IS NOT NULL AS superuser_sees_snapshot;

--
-- index 'auto' depends on the user mapping: a cached generic plan is not
-- reused by a role whose mapping finds another index (here: none, its key
-- being refused).
--
CREATE ROLE regress_edges_a;
CREATE ROLE regress_edges_b;
CREATE FOREIGN TABLE ething_auto (name text, ts timestamptz)
  SERVER edges10 OPTIONS (collection 'EdgeThings');
GRANT SELECT ON ething_auto TO regress_edges_a, regress_edges_b;
CREATE USER MAPPING FOR regress_edges_a SERVER edges10 OPTIONS (secret :'fauna_secret');
CREATE USER MAPPING FOR regress_edges_b SERVER edges10 OPTIONS (secret 'fnEdgesNotAKey');
SET plan_cache_mode = force_generic_plan;
PREPARE since(timestamptz) AS SELECT name FROM ething_auto WHERE ts > $1;
SET ROLE regress_edges_a;
EXPLAIN (COSTS OFF) EXECUTE since(:'t0');
EXECUTE since(:'t0');
SET ROLE regress_edges_b;
EXPLAIN (COSTS OFF) EXECUTE since(:'t0');
SET ROLE regress_edges_a;
EXPLAIN (COSTS OFF) EXECUTE since(:'t0');
RESET ROLE;
DEALLOCATE since;
RESET plan_cache_mode;

DROP OWNED BY regress_edges_a, regress_edges_b, regress_edges_nousage;
DROP ROLE regress_edges_a, regress_edges_b, regress_edges_nousage;
