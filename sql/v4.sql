--
-- Reading over legacy FQL v4 (server option api_version '4': POST /).
-- The emulator's v4 front end shares its store with v10, so the suite reads
-- the collections the earlier suites' seeds wrote, and checks that the v4
-- path returns the same rows (refs, ts, data) as the v10 one.  Its own data
-- (v4 [ts, ref] indexes, the V4Values collection) is written here, first,
-- by test/seed_v4.py: last of all writes, so no other suite's ids move.
--
\set VERBOSITY default
SET client_min_messages = warning;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET
\! python3 test/seed_v4.py

CREATE FUNCTION sqlstate_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE query;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END
$$;

CREATE SERVER fauna10 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE SERVER fauna4 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0', api_version '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna10 OPTIONS (secret :'fauna_secret');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna4 OPTIONS (secret :'fauna_secret');

-- Users: the same documents, fields and types either way
CREATE FOREIGN TABLE users10 (ref text, ts timestamptz, tsus bigint OPTIONS (path 'ts'),
                              data jsonb, name text, email text, age int,
                              city text OPTIONS (path 'address.city'), tags text[])
  SERVER fauna10 OPTIONS (collection 'Users');
CREATE FOREIGN TABLE users4 (ref text, ts timestamptz, tsus bigint OPTIONS (path 'ts'),
                             data jsonb, name text, email text, age int,
                             city text OPTIONS (path 'address.city'), tags text[])
  SERVER fauna4 OPTIONS (collection 'Users');
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM users4;
SELECT ref, ts, tsus, name, email, age, city, tags FROM users4 ORDER BY ref;
SELECT count(*) AS only_v10 FROM (SELECT * FROM users10 EXCEPT SELECT * FROM users4) d;
SELECT count(*) AS only_v4 FROM (SELECT * FROM users4 EXCEPT SELECT * FROM users10) d;
SELECT ref, data FROM users4 ORDER BY ref LIMIT 2;

-- Paged: many pages of 3, read at the first page's snapshot (At(ts, ...))
CREATE FOREIGN TABLE paged10 (ref text, ts timestamptz, data jsonb)
  SERVER fauna10 OPTIONS (collection 'Paged');
CREATE FOREIGN TABLE paged4 (ref text, ts timestamptz, data jsonb)
  SERVER fauna4 OPTIONS (collection 'Paged', page_size '3');
SELECT count(*) FROM paged4;
SELECT count(*) AS only_v10 FROM (SELECT * FROM paged10 EXCEPT SELECT * FROM paged4) d;
SELECT count(*) AS only_v4 FROM (SELECT * FROM paged4 EXCEPT SELECT * FROM paged10) d;

-- ts pushdown: index 'auto' finds events_ts_ref_v4 (the index with terms
-- and the one with values [ref, ts] are not usable); bounds are inclusive
-- prefixes, a strict bound is one microsecond further
CREATE FOREIGN TABLE events10 (ref text, ts timestamptz, seq int, kind text)
  SERVER fauna10 OPTIONS (collection 'Events');
CREATE FOREIGN TABLE events4 (ref text, ts timestamptz, seq int, kind text)
  SERVER fauna4 OPTIONS (collection 'Events', page_size '2');
SELECT seq, ts, kind FROM events4 ORDER BY seq;
SELECT min(ts) AS t1, min(ts) + interval '1 ms' AS t2, min(ts) + interval '3 ms' AS t4
  FROM events4 \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events4 WHERE ts >= :'t2';
SELECT seq FROM events4 WHERE ts >= :'t2' ORDER BY seq;
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events4 WHERE ts > :'t2' AND ts < :'t4';
SELECT seq FROM events4 WHERE ts > :'t2' AND ts < :'t4' ORDER BY seq;
SELECT seq FROM events4 WHERE ts > :'t2' AND ts <= :'t4' ORDER BY seq;
SELECT seq FROM events4 WHERE ts = :'t1' ORDER BY seq;
SELECT seq FROM events4 WHERE ts < :'t1' ORDER BY seq;
SELECT count(*) AS differ FROM (
  (SELECT * FROM events10 WHERE ts > :'t1' EXCEPT SELECT * FROM events4 WHERE ts > :'t1')
  UNION ALL
  (SELECT * FROM events4 WHERE ts > :'t1' EXCEPT SELECT * FROM events10 WHERE ts > :'t1')) d;
-- index 'none': the ts quals are filtered locally
ALTER FOREIGN TABLE events4 OPTIONS (ADD index 'none');
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events4 WHERE ts >= :'t2';
SELECT seq FROM events4 WHERE ts >= :'t2' ORDER BY seq;
-- a named index
ALTER FOREIGN TABLE events4 OPTIONS (SET index 'events_ts_ref_v4');
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM events4 WHERE ts <= :'t2';
SELECT seq FROM events4 WHERE ts <= :'t2' ORDER BY seq;
-- ts as bigint (microseconds), through logs_ts_ref_v4
CREATE FOREIGN TABLE logs4 (ref text, ts bigint, seq int)
  SERVER fauna4 OPTIONS (collection 'Logs');
SELECT min(ts) + 1000 AS l2 FROM logs4 \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM logs4 WHERE ts >= :l2;
SELECT seq, ts FROM logs4 WHERE ts >= :l2 ORDER BY seq;

-- ref = constant: If(Exists(Ref(...)), Get(Ref(...)), null)
SELECT ref AS alice FROM users10 WHERE name = 'Alice' \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM users4 WHERE ref = :'alice';
SELECT name, email FROM users4 WHERE ref = :'alice';
SELECT name FROM users4 WHERE ref = '1';
SELECT name FROM users4 WHERE ref = 'not-an-id';
-- a join on ref: parameterized lookups
SELECT u4.name FROM users10 u10 JOIN users4 u4 ON u4.ref = u10.ref
  WHERE u10.name IN ('Alice', 'Bob') ORDER BY 1;

-- v4 values in the export formats
CREATE FOREIGN TABLE values4 (id jsonb OPTIONS (path 'ref'), coll text, seq int,
                              name text, v jsonb, vt text OPTIONS (path 'v'))
  SERVER fauna4 OPTIONS (collection 'V4Values');
SELECT seq, name, v, vt FROM values4 WHERE seq <= 10 ORDER BY seq;
SELECT id ? 'id' AS has_id, id->>'collection' AS collection, id->>'type' AS type, coll
  FROM values4 WHERE seq = 1;
-- refs by kind: a document, a collection, native classes, nested deeper
SELECT seq, name, v->>'type' AS type, v->>'id' AS id, v ? 'collection' AS has_collection
  FROM values4 WHERE name LIKE '%ref' ORDER BY seq;
-- @query and @set: a string holding their wire JSON
SELECT name, jsonb_typeof(v) AS json_type, vt AS wire
  FROM values4 WHERE name IN ('query', 'set') ORDER BY seq;
-- typed columns (each read by ref, so that only its document converts)
SELECT max(ref) FILTER (WHERE seq = 3) AS r_date, max(ref) FILTER (WHERE seq = 4) AS r_time,
       max(ref) FILTER (WHERE seq = 5) AS r_bytes, max(ref) FILTER (WHERE seq = 8) AS r_long,
       max(ref) FILTER (WHERE seq = 9) AS r_double
  FROM (SELECT id->>'id' AS ref, seq FROM values4) s \gset
CREATE FOREIGN TABLE v4_date (ref text, v date) SERVER fauna4 OPTIONS (collection 'V4Values');
CREATE FOREIGN TABLE v4_time (ref text, v timestamptz, vus bigint OPTIONS (path 'v'))
  SERVER fauna4 OPTIONS (collection 'V4Values');
CREATE FOREIGN TABLE v4_bytes (ref text, v bytea) SERVER fauna4 OPTIONS (collection 'V4Values');
CREATE FOREIGN TABLE v4_num (ref text, i int8 OPTIONS (path 'v'), n numeric OPTIONS (path 'v'),
                             f float8 OPTIONS (path 'v'))
  SERVER fauna4 OPTIONS (collection 'V4Values');
SELECT v FROM v4_date WHERE ref = :'r_date';
SELECT v, vus FROM v4_time WHERE ref = :'r_time';
SELECT v FROM v4_bytes WHERE ref = :'r_bytes';
SELECT i, n, f FROM v4_num WHERE ref = :'r_long';
SELECT n, f FROM v4_num WHERE ref = :'r_double';
\set VERBOSITY terse
SELECT i FROM v4_num WHERE ref = :'r_double';
\set VERBOSITY default

-- errors
CREATE FOREIGN TABLE missing4 (ref text) SERVER fauna4 OPTIONS (collection 'NoSuchCollection');
SELECT * FROM missing4;
SELECT sqlstate_of('SELECT * FROM missing4');
CREATE SERVER fauna4bad FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0', api_version '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna4bad OPTIONS (secret 'not-the-secret');
CREATE FOREIGN TABLE users4bad (ref text) SERVER fauna4bad OPTIONS (collection 'Users');
SELECT * FROM users4bad;
SELECT sqlstate_of('SELECT * FROM users4bad');

-- Event tables over v4: Paginate(Documents(c), {events: true, after}),
-- create/update/delete as add/update/remove; a remove carries the
-- document as it was (read at its delete's ts - 1 µs).  Feed4 was created
-- by test/seed_v4.py (v4, history_days 30) with one document; the suite
-- writes through test/fauna_write.py (FQL v10, the same store).  Times are
-- shown relative to marks.
SET timezone = 'UTC';
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
CREATE FOREIGN TABLE feed4_docs (ref text, ts timestamptz, n int, data jsonb)
  SERVER fauna4 OPTIONS (collection 'Feed4');
CREATE FOREIGN TABLE feed4_events (ref text, ts timestamptz,
                                   action text OPTIONS (path 'action'),
                                   n int, data jsonb)
  SERVER fauna4 OPTIONS (collection 'Feed4', events 'true');
CREATE FOREIGN TABLE feed4_events_p2 (ts timestamptz, action text, n int)
  SERVER fauna4 OPTIONS (collection 'Feed4', events 'true', page_size '2');
SELECT n FROM feed4_docs;
SELECT max(ts) AS mark0 FROM feed4_docs \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM feed4_events WHERE ts > :'mark0';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT action, n FROM feed4_events WHERE ts >= :'mark0' AND ts < now() AND n > 1;
-- a scan needs a lower bound on ts
SELECT * FROM feed4_events;
-- bounds older than the history the collection keeps (v4 does not say so;
-- fauna_fdw checks history_days): a full refresh is needed
-- (the oldest event's time depends on the clock: shown masked)
CREATE FUNCTION error_of(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  msg text; det text; hint text;
BEGIN
  EXECUTE query;
  RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                          hint = PG_EXCEPTION_HINT;
  RETURN NEXT SQLSTATE;
  RETURN NEXT msg;
  RETURN NEXT regexp_replace(det, '\d{4}-\d\d-\d\d \d\d:\d\d:[0-9.]+\+00', '<time>', 'g');
  RETURN NEXT hint;
END
$$;
SELECT error_of($$SELECT * FROM feed4_events WHERE ts > '2000-01-01'$$);
-- empty ranges send nothing; nothing happened after the mark yet
SELECT count(*) FROM feed4_events WHERE ts > 'infinity';
SELECT * FROM feed4_events WHERE ts > :'mark0';
-- the creation of the first document
SELECT action, n, data, ts = :'mark0' AS at_mark FROM feed4_events WHERE ts >= :'mark0';

-- four documents created in one transaction share a ts and all come through
\! python3 test/fauna_write.py 'Feed4.create({ n: 1 }); Feed4.create({ n: 2 }); Feed4.create({ n: 3 }); Feed4.create({ n: 4 })'
SELECT action, n, ts = max(ts) OVER () AS same_ts, data
  FROM feed4_events WHERE ts > :'mark0' ORDER BY n;
SELECT max(ts) AS mark1 FROM feed4_docs \gset
-- a local copy kept by fauna_sync (its deletions come from the v4 events)
CREATE TABLE feed4_copy (ref text PRIMARY KEY, ts timestamptz, n int);
CALL fauna_sync('feed4_docs', 'feed4_copy');
SELECT n FROM feed4_copy ORDER BY n;
-- ts >= includes the bound
SELECT count(*) FROM feed4_events WHERE ts >= :'mark1';
SELECT count(*) FROM feed4_events WHERE ts = :'mark1';
SELECT count(*) FROM feed4_events WHERE ts > :'mark1';

-- an update of one and a create of another: exactly those two, in ts order
\! python3 test/fauna_write.py 'Feed4.where(.n == 2).forEach(d => d.update({ note: "changed" }))'
\! python3 test/fauna_write.py 'Feed4.create({ n: 5 })'
SELECT action, n, data->>'note' AS note, ts - :'mark1' AS after_mark
  FROM feed4_events WHERE ts > :'mark1';
SELECT max(ts) AS mark2 FROM feed4_docs \gset
-- an upper bound stops the scan
SELECT action, n FROM feed4_events WHERE ts > :'mark0' AND ts <= :'mark1' ORDER BY n;
SELECT action, n FROM feed4_events WHERE ts > :'mark0' AND ts < :'mark2';
-- nothing new, or a mark far in the future: nothing
SELECT action, n FROM feed4_events WHERE ts > :'mark2';
SELECT action, n FROM feed4_events WHERE ts > '9000-01-01';

-- deletions of three documents made in the order 1, 3, 2 come back as
-- three remove events in that order, with strictly increasing ts; a remove
-- carries the document as it was
\! python3 test/fauna_write.py 'Feed4.where(.n == 1).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Feed4.where(.n == 3).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Feed4.where(.n == 2).forEach(d => d.delete())'
SELECT action, n, data->>'note' AS note, ts - :'mark2' AS after_mark,
       ts > lag(ts) OVER () AS increasing
  FROM feed4_events WHERE ts > :'mark2';
-- the same with a page size of 2: two pages, the second at the first's snapshot
SELECT action, n, ts - :'mark2' AS after_mark,
       ts > lag(ts) OVER () AS increasing
  FROM feed4_events_p2 WHERE ts > :'mark2';
SELECT explain_analyze(format(
  'SELECT * FROM feed4_events_p2 WHERE ts > %L', :'mark2'));
-- the whole story since the first mark, with a page size of 2
SELECT action, n, ts - min(ts) OVER () AS since_first
  FROM feed4_events_p2 WHERE ts > :'mark0';
SELECT n FROM feed4_docs ORDER BY n;
-- fauna_sync: the upserts after its mark, the removes from the v4 events
CALL fauna_sync('feed4_docs', 'feed4_copy');
SELECT upserted, deleted, full_copy FROM fauna_sync_state
 WHERE local_table = 'feed4_copy'::regclass;
SELECT n FROM feed4_copy ORDER BY n;
-- a mark older than the collection's history: a full copy instead
UPDATE fauna_sync_state SET high_water = '2000-01-01', seen_until = '2000-01-01'
 WHERE local_table = 'feed4_copy'::regclass;
CALL fauna_sync('feed4_docs', 'feed4_copy');
SELECT upserted, deleted, full_copy FROM fauna_sync_state
 WHERE local_table = 'feed4_copy'::regclass;
-- ts as bigint (µs since the Unix epoch) works the same way
CREATE FOREIGN TABLE feed4_events_us (ts bigint, action text, n int)
  SERVER fauna4 OPTIONS (collection 'Feed4', events 'true');
SELECT action, n FROM feed4_events_us
  WHERE ts > (extract(epoch FROM :'mark2'::timestamptz) * 1000000)::bigint;
-- the v10 event table of the same collection lists the same events
CREATE FOREIGN TABLE feed10_events (ref text, ts timestamptz, action text, n int, data jsonb)
  SERVER fauna10 OPTIONS (collection 'Feed4', events 'true');
SELECT count(*) AS differ FROM (
  (SELECT * FROM feed10_events WHERE ts > :'mark1' EXCEPT SELECT * FROM feed4_events WHERE ts > :'mark1')
  UNION ALL
  (SELECT * FROM feed4_events WHERE ts > :'mark1' EXCEPT SELECT * FROM feed10_events WHERE ts > :'mark1')) d;
-- an event table of a missing collection
CREATE FOREIGN TABLE missing4_events (ref text, ts timestamptz)
  SERVER fauna4 OPTIONS (collection 'NoSuchCollection', events 'true');
SELECT * FROM missing4_events WHERE ts > '2024-01-01';
DROP FUNCTION explain_analyze, error_of;
