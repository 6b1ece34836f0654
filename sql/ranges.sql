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

-- every pushed form, explained: = alone, < alone, BETWEEN (index bounds are
-- inclusive, so these need no .where), and a stable expression
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events WHERE ts = :'t2';
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events WHERE ts < :'t2';
SELECT seq FROM events WHERE ts < :'t2' ORDER BY seq;
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events WHERE ts BETWEEN :'t2' AND :'t4';
SELECT seq FROM events WHERE ts BETWEEN :'t2' AND :'t4' ORDER BY seq;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts > now() - interval '1 hour';
SELECT count(*) FROM events WHERE ts > now() - interval '1 hour';
SELECT count(*) FROM events WHERE ts <= now() - interval '1 hour';
-- a prepared statement's parameter, in a custom plan (a constant by then)
-- and in a generic one, where it is still $1 when the plan is made: the ts
-- bound is sent to Fauna either way; only seq > $2 is filtered locally
PREPARE since(timestamptz, int) AS
  SELECT seq FROM events WHERE ts > $1 AND seq > $2 ORDER BY seq;
SET plan_cache_mode = force_custom_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE since(:'t2', 0);
EXECUTE since(:'t2', 0);
SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE since(:'t2', 0);
EXECUTE since(:'t2', 0);
EXECUTE since(:'t4', 0);
EXECUTE since('-infinity', 3);
EXECUTE since('infinity', 0);
EXECUTE since(NULL, 0);
RESET plan_cache_mode;
DEALLOCATE since;
-- a PL/pgSQL variable: EXPLAIN in PL/pgSQL plans with its value; a generic
-- plan keeps it a parameter, and the request log shows the bound sent as a
-- tagged time (the lookup of ref 9100000000000000001, no document, marks
-- where this statement's requests start)
CREATE FUNCTION seqs_since(bound timestamptz) RETURNS int[]
LANGUAGE plpgsql AS $$
BEGIN
  RETURN ARRAY(SELECT seq FROM events WHERE ts >= bound ORDER BY seq);
END
$$;
CREATE FUNCTION explain_since(bound timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXPLAIN (VERBOSE, COSTS OFF)
      SELECT seq FROM events WHERE ts >= bound ORDER BY seq LOOP
    RETURN NEXT ln;
  END LOOP;
END
$$;
SELECT explain_since(:'t2');
SET plan_cache_mode = force_generic_plan;
SELECT seq FROM events WHERE ref = '9100000000000000001';
SELECT seqs_since(:'t4');
\! python3 test/request_log.py 9100000000000000001
SELECT seqs_since(:'t2'), seqs_since('infinity'), seqs_since(NULL);
RESET plan_cache_mode;
SELECT seqs_since(:'t1');
-- an InitPlan: its value is known only when the scan starts; one that
-- returns NULL (no rows to take the max of) matches nothing, as SQL says,
-- and asks Fauna for nothing
CREATE TABLE events_mark (ts timestamptz);
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts > (SELECT max(ts) FROM events_mark);
SELECT explain_analyze('SELECT seq FROM events WHERE ts > (SELECT max(ts) FROM events_mark)');
INSERT INTO events_mark VALUES (:'t2');
SELECT explain_analyze('SELECT seq FROM events WHERE ts > (SELECT max(ts) FROM events_mark)');
SELECT seq FROM events WHERE ts > (SELECT max(ts) FROM events_mark) ORDER BY seq;
SELECT seq FROM events WHERE ts <= (SELECT max(ts) FROM events_mark) ORDER BY seq;
DROP TABLE events_mark;
DROP FUNCTION seqs_since, explain_since;

-- Every operator and bound, checked against a local filter of the full scan.
-- ts_range_check() runs, for each bound a, ts op a and a op ts for every
-- operator, and for each pair of bounds (a, b) BETWEEN and seven two-sided
-- and one-sided combinations, on the foreign table rc (ts pushed to Fauna)
-- and on rc_local (a copy of its full scan), and compares the sorted
-- (ref, ts) lists, so a missing, extra or duplicated row is a mismatch.
-- It returns how many combinations it checked, how many differed and
-- which.  Static SQL, so that under plan_cache_mode = force_generic_plan
-- the bounds are parameters evaluated when the scan starts and under
-- force_custom_plan constants; polymorphic, for ts as timestamptz and as
-- bigint.
CREATE FUNCTION ts_range_check(bounds anyarray, pair_bounds anyarray,
  a anyelement DEFAULT NULL, b anyelement DEFAULT NULL,
  OUT checked int, OUT mismatches int, OUT failed text[])
LANGUAGE plpgsql AS $$
DECLARE
  i int;
  j int;
  k int;
  got text[];
  want text[];
BEGIN
  checked := 0;
  failed := '{}';
  FOR i IN 1 .. cardinality(bounds) LOOP
    a := bounds[i];
    FOR k IN 1 .. 10 LOOP
      CASE k
      WHEN 1 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts < a ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts < a ORDER BY 1);
      WHEN 2 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts <= a ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts <= a ORDER BY 1);
      WHEN 3 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts = a ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts = a ORDER BY 1);
      WHEN 4 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts >= a ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts >= a ORDER BY 1);
      WHEN 5 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts > a ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts > a ORDER BY 1);
      WHEN 6 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE a < ts ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE a < ts ORDER BY 1);
      WHEN 7 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE a <= ts ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE a <= ts ORDER BY 1);
      WHEN 8 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE a = ts ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE a = ts ORDER BY 1);
      WHEN 9 THEN
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE a >= ts ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE a >= ts ORDER BY 1);
      ELSE
        got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE a > ts ORDER BY 1);
        want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE a > ts ORDER BY 1);
      END CASE;
      checked := checked + 1;
      IF got IS DISTINCT FROM want THEN
        failed := failed || format('%s: %s', k, a);
      END IF;
    END LOOP;
  END LOOP;
  FOR i IN 1 .. cardinality(pair_bounds) LOOP
    FOR j IN 1 .. cardinality(pair_bounds) LOOP
      a := pair_bounds[i];
      b := pair_bounds[j];
      FOR k IN 1 .. 8 LOOP
        CASE k
        WHEN 1 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts BETWEEN a AND b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts BETWEEN a AND b ORDER BY 1);
        WHEN 2 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts > a AND ts < b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts > a AND ts < b ORDER BY 1);
        WHEN 3 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts >= a AND ts < b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts >= a AND ts < b ORDER BY 1);
        WHEN 4 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts > a AND ts <= b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts > a AND ts <= b ORDER BY 1);
        WHEN 5 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts > a AND ts >= b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts > a AND ts >= b ORDER BY 1);
        WHEN 6 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts < a AND ts <= b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts < a AND ts <= b ORDER BY 1);
        WHEN 7 THEN
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts = a AND ts <= b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts = a AND ts <= b ORDER BY 1);
        ELSE
          got := ARRAY(SELECT ref || ' ' || ts FROM rc WHERE ts = a AND ts > b ORDER BY 1);
          want := ARRAY(SELECT ref || ' ' || ts FROM rc_local WHERE ts = a AND ts > b ORDER BY 1);
        END CASE;
        checked := checked + 1;
        IF got IS DISTINCT FROM want THEN
          failed := failed || format('pair %s: %s, %s', k, a, b);
        END IF;
      END LOOP;
    END LOOP;
  END LOOP;
  mismatches := cardinality(failed);
END
$$;

-- Events: 5 documents, 2 per page.  Bounds: each document's ts, 1 µs
-- before and after it, the infinities, NULL, times far in the past and
-- future (before the Unix epoch, at and past Fauna's last representable
-- time, past PostgreSQL's range of Fauna times); pairs from a subset
CREATE FOREIGN TABLE rc (ref text, ts timestamptz)
  SERVER fauna OPTIONS (collection 'Events', page_size '2');
CREATE TABLE rc_local AS SELECT ref, ts FROM rc;
SELECT count(*) FROM rc_local;
SELECT array_agg(ts ORDER BY ts) AS docs FROM rc_local \gset
SELECT array_agg(b) AS bounds FROM (
  SELECT unnest(:'docs'::timestamptz[]) + d * interval '1 microsecond'
    FROM unnest(ARRAY[-1, 0, 1]) d
  UNION ALL
  SELECT unnest(ARRAY['-infinity', 'infinity', NULL, '4713-01-01 BC',
    '0001-12-31 23:59:59.999999 BC', '0001-01-01 00:00:00+00', '0500-06-01',
    '1900-01-01', '1970-01-01', '2024-01-01',
    '9999-12-31 23:59:59.999999', '10000-01-01',
    '294276-12-31 23:59:59.999999']::timestamptz[])
) s(b) \gset
SELECT array_agg(b) AS pair_bounds FROM (
  SELECT (:'docs'::timestamptz[])[1] - interval '1 microsecond'
  UNION ALL SELECT unnest(:'docs'::timestamptz[])
  UNION ALL SELECT (:'docs'::timestamptz[])[3] + interval '1 microsecond'
  UNION ALL SELECT unnest(ARRAY['-infinity', 'infinity', NULL, '1900-01-01',
    '10000-01-01']::timestamptz[])
) s(b) \gset
SELECT cardinality(:'bounds'::timestamptz[]) AS bounds,
       cardinality(:'pair_bounds'::timestamptz[]) AS pair_bounds;
-- through the byTs index
EXPLAIN (COSTS OFF) SELECT ref FROM rc WHERE ts > :'t1' AND ts <= :'t4';
SET plan_cache_mode = force_custom_plan;
SELECT * FROM ts_range_check(:'bounds'::timestamptz[], :'pair_bounds');
SET plan_cache_mode = force_generic_plan;
SELECT * FROM ts_range_check(:'bounds'::timestamptz[], :'pair_bounds');
-- unindexed: .where on Events.all()
ALTER FOREIGN TABLE rc OPTIONS (ADD index 'none');
EXPLAIN (COSTS OFF) SELECT ref FROM rc WHERE ts > :'t1' AND ts <= :'t4';
SET plan_cache_mode = force_custom_plan;
SELECT * FROM ts_range_check(:'bounds'::timestamptz[], :'pair_bounds');
SET plan_cache_mode = force_generic_plan;
SELECT * FROM ts_range_check(:'bounds'::timestamptz[], :'pair_bounds');
-- the check is not vacuous: with the newest document missing from the
-- copy, every form that should return it differs
DELETE FROM rc_local WHERE ts = (SELECT max(ts) FROM rc_local);
SELECT * FROM ts_range_check(ARRAY[:'t1']::timestamptz[], '{}');
-- ts as bigint microseconds (Logs: 3 documents, no usable index), bounds
-- up to the int8 limits and around Fauna's last representable time
ALTER FOREIGN TABLE rc OPTIONS (SET collection 'Logs', DROP index);
ALTER FOREIGN TABLE rc ALTER COLUMN ts TYPE bigint;
DROP TABLE rc_local;
CREATE TABLE rc_local AS SELECT ref, ts FROM rc;
SELECT count(*) FROM rc_local;
SELECT array_agg(ts ORDER BY ts) AS docs FROM rc_local \gset
SELECT array_agg(b) AS bounds FROM (
  SELECT unnest(:'docs'::bigint[]) + d FROM unnest(ARRAY[-1, 0, 1]) d
  UNION ALL
  SELECT unnest(ARRAY[NULL, -9223372036854775808, -62135596800000001,
    -62135596800000000, -1, 0,
    253402300799999999, 253402300800000000, 9223372036854775807]::bigint[])
) s(b) \gset
SELECT array_agg(b) AS pair_bounds FROM (
  SELECT unnest(:'docs'::bigint[]) + d FROM unnest(ARRAY[-1, 0, 1]) d
  UNION ALL
  SELECT unnest(ARRAY[NULL, -9223372036854775808, 9223372036854775807]::bigint[])
) s(b) \gset
EXPLAIN (COSTS OFF) SELECT ref FROM rc WHERE ts > 0::bigint AND ts <= 1::bigint;
SET plan_cache_mode = force_custom_plan;
SELECT * FROM ts_range_check(:'bounds'::bigint[], :'pair_bounds');
SET plan_cache_mode = force_generic_plan;
SELECT * FROM ts_range_check(:'bounds'::bigint[], :'pair_bounds');
RESET plan_cache_mode;
DROP FUNCTION ts_range_check;
DROP TABLE rc_local;
DROP FOREIGN TABLE rc;

DROP TABLE events_copy;
DROP FUNCTION explain_analyze;
DROP SERVER fauna CASCADE;
