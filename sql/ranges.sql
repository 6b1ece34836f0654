--
-- ts comparisons are evaluated by Fauna: through a ts index when the
-- collection has one (index bounds are inclusive, so strict bounds add a
-- .where), else as .where filters on Coll.all().  Values travel as tagged
-- times; infinite and NULL bounds are handled without a request.
--
\set VERBOSITY default
SET client_min_messages = warning;
SET timezone = 'UTC';
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET

CREATE FUNCTION explain_analyze(query text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
    RETURN NEXT regexp_replace(ln, 'Fauna bytes received: \d+', 'Fauna bytes received: N');
  END LOOP;
END
$$;

CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna
  OPTIONS (secret :'fauna_secret');

-- Events has a ts index (byTs) and an index with terms (byKind, unusable)
CREATE FOREIGN TABLE events (ref text, ts timestamptz, seq int, kind text)
  SERVER fauna OPTIONS (collection 'Events', page_size '2');
SELECT seq, ts, kind FROM events ORDER BY seq;
SELECT min(ts) AS t1, min(ts) + interval '1 ms' AS t2, min(ts) + interval '3 ms' AS t4
  FROM events \gset

-- index 'auto' finds byTs
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events WHERE ts >= :'t2';
SELECT seq FROM events WHERE ts >= :'t2' ORDER BY seq;
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events WHERE ts > :'t2';
SELECT seq FROM events WHERE ts > :'t2' ORDER BY seq;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts >= :'t2' AND ts < :'t4';
SELECT seq FROM events WHERE ts >= :'t2' AND ts < :'t4' ORDER BY seq;
SELECT seq FROM events WHERE ts > :'t2' AND ts <= :'t4' ORDER BY seq;
SELECT seq FROM events WHERE :'t4' >= ts ORDER BY seq;
SELECT seq FROM events WHERE ts = :'t2';
-- several bounds on a side: the tightest is sent
SELECT seq FROM events WHERE ts > :'t1' AND ts >= :'t4' AND ts > :'t2' ORDER BY seq;
-- other quals stay local
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts > :'t1' AND kind = 'click';
SELECT seq FROM events WHERE ts > :'t1' AND kind = 'click' ORDER BY seq;
-- only the matching documents are fetched
SELECT explain_analyze(format('SELECT seq FROM events WHERE ts > %L', :'t4'));
SELECT explain_analyze(format('SELECT seq FROM events WHERE ts > %L', :'t1'));

-- infinite, empty and NULL ranges
SELECT count(*) FROM events WHERE ts > '-infinity';
SELECT count(*) FROM events WHERE ts < 'infinity';
SELECT explain_analyze($q$SELECT seq FROM events WHERE ts > 'infinity'$q$);
SELECT count(*) FROM events WHERE ts < '-infinity';
SELECT count(*) FROM events WHERE ts > :'t4' AND ts < :'t2';
SELECT count(*) FROM events WHERE ts > :'t2' AND ts < :'t2';
SELECT count(*) FROM events WHERE ts >= :'t2' AND ts <= :'t2';
SELECT count(*) FROM events WHERE ts > NULL::timestamptz;
SELECT count(*) FROM events WHERE ts > '0044-03-15 BC';
SELECT count(*) FROM events WHERE ts < '20000-01-01';

-- stable expressions, parameters and InitPlans: the incremental sync idiom
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM events WHERE ts <= now();
SELECT count(*) FROM events WHERE ts <= now();
CREATE TABLE events_copy (ref text, ts timestamptz, seq int);
INSERT INTO events_copy SELECT ref, ts, seq FROM events WHERE seq <= 2;
EXPLAIN (VERBOSE, COSTS OFF)
INSERT INTO events_copy SELECT ref, ts, seq FROM events
  WHERE ts > (SELECT coalesce(max(ts), '-infinity') FROM events_copy);
INSERT INTO events_copy SELECT ref, ts, seq FROM events
  WHERE ts > (SELECT coalesce(max(ts), '-infinity') FROM events_copy);
SELECT seq FROM events_copy ORDER BY seq;
TRUNCATE events_copy;
INSERT INTO events_copy SELECT ref, ts, seq FROM events
  WHERE ts > (SELECT coalesce(max(ts), '-infinity') FROM events_copy);
SELECT count(*) FROM events_copy;
PREPARE since(timestamptz) AS SELECT seq FROM events WHERE ts > $1 ORDER BY seq;
EXECUTE since(:'t4');
EXECUTE since('-infinity');
DEALLOCATE since;

-- ORDER BY ts over a ts index range is Fauna's order: a constant LIMIT
-- (and OFFSET) above it goes to Fauna as .take (and .drop), no page is
-- larger than the rows wanted and none is requested beyond them
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq, ts FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 3;
SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 3;
-- page_size 2: LIMIT 2 is one request, LIMIT 3 two, never a third
SELECT explain_analyze(format('SELECT seq FROM events WHERE ts >= %L ORDER BY ts LIMIT 2', :'t1'));
SELECT explain_analyze(format('SELECT seq FROM events WHERE ts >= %L ORDER BY ts LIMIT 3', :'t1'));
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 2 OFFSET 2;
SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 2 OFFSET 2;
SELECT explain_analyze(format('SELECT seq FROM events WHERE ts >= %L ORDER BY ts LIMIT 2 OFFSET 2', :'t1'));
SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 10 OFFSET 4;
SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 2 OFFSET 9;
-- a strict bound is a .where on the range, evaluated before the .take
SELECT seq FROM events WHERE ts > :'t1' AND ts <= :'t4' ORDER BY ts LIMIT 2;
-- a local qual filters after Fauna: the LIMIT stays local
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts >= :'t1' AND kind = 'click' ORDER BY ts LIMIT 1;
SELECT seq FROM events WHERE ts >= :'t1' AND kind = 'click' ORDER BY ts LIMIT 1;
-- an order Fauna does not give (DESC, another column, ts without a range
-- to read the index with) is sorted locally: the LIMIT stays local
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts DESC LIMIT 2;
SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts DESC LIMIT 2;
EXPLAIN (COSTS OFF)
  SELECT seq FROM events WHERE ts >= :'t1' ORDER BY ts, seq LIMIT 2;
EXPLAIN (COSTS OFF) SELECT seq FROM events ORDER BY ts LIMIT 2;
SELECT seq FROM events ORDER BY ts LIMIT 2;
-- LIMIT without ORDER BY: any rows will do, so Fauna's first ones
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events LIMIT 1;
SELECT explain_analyze('SELECT seq FROM events LIMIT 1');
SELECT count(*) FROM (SELECT seq FROM events LIMIT 4) s;
SELECT tableoid::regclass, seq FROM events WHERE ts >= :'t1' ORDER BY ts LIMIT 1;
SELECT e FROM events e WHERE ts >= :'t1' ORDER BY ts LIMIT 1;
-- rescanned with a new bound each time (a correlated LATERAL subquery)
EXPLAIN (COSTS OFF) SELECT c.seq, n.seq AS next_seq FROM events_copy c,
  LATERAL (SELECT seq FROM events WHERE ts > c.ts ORDER BY ts LIMIT 1) n;
SELECT c.seq, n.seq AS next_seq FROM events_copy c,
  LATERAL (SELECT seq FROM events WHERE ts > c.ts ORDER BY ts LIMIT 1) n
  ORDER BY c.seq;
-- LIMIT 0 asks Fauna for nothing
SELECT explain_analyze('SELECT seq FROM events LIMIT 0');
-- not pushed: a join, an aggregate below the LIMIT, a non-constant LIMIT
EXPLAIN (COSTS OFF)
  SELECT e.seq FROM events e JOIN events f ON e.seq = f.seq LIMIT 1;
EXPLAIN (COSTS OFF) SELECT kind, count(*) FROM events GROUP BY kind LIMIT 1;
EXPLAIN (COSTS OFF)
  SELECT seq FROM events LIMIT (SELECT count(*) FROM events_copy);

-- index 'none' and an explicit index name
ALTER FOREIGN TABLE events OPTIONS (ADD index 'none');
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts >= :'t2' AND ts < :'t4';
SELECT seq FROM events WHERE ts >= :'t2' AND ts < :'t4' ORDER BY seq;
ALTER FOREIGN TABLE events OPTIONS (SET index 'byTs');
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events WHERE ts <= :'t2';
SELECT seq FROM events WHERE ts <= :'t2' ORDER BY seq;

-- a descending ts index is not used; ts as bigint microseconds
CREATE FOREIGN TABLE logs (ref text, ts bigint, seq int)
  SERVER fauna OPTIONS (collection 'Logs');
SELECT seq, ts FROM logs ORDER BY seq;
SELECT min(ts) + 1000 AS l2 FROM logs \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM logs WHERE ts >= :l2;
SELECT seq FROM logs WHERE ts >= :l2 ORDER BY seq;
-- a comparison with another type stays local
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM logs WHERE ts >= 5;

-- a collection without indexes: Coll.all() filtered by Fauna
CREATE FOREIGN TABLE users (ref text, ts timestamptz, name text)
  SERVER fauna OPTIONS (collection 'Users');
SELECT min(ts) + interval '1 ms' AS u2 FROM users \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM users WHERE ts > :'u2';
SELECT name FROM users WHERE ts > :'u2' ORDER BY name;
-- with ref = value, byId is used and ts is checked locally
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT name FROM users WHERE ts > :'u2' AND ref = '400000000000000004';
SELECT name FROM users WHERE ts > :'u2' AND ref = '400000000000000004';

DROP TABLE events_copy;
DROP FUNCTION explain_analyze;
DROP SERVER fauna CASCADE;
