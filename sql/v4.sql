--
-- Reading over legacy FQL v4 (server option api_version '4': POST /).
-- The emulator's v4 front end shares its store with v10, so the suite reads
-- the collections the earlier suites' seeds wrote, and checks that the v4
-- path returns the same rows (refs, ts, data) as the v10 one ("Parity"
-- below).  Its own data
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
SELECT ref, data FROM users4 ORDER BY ref LIMIT 2;

-- Paged: many pages of 3, read at the first page's snapshot (At(ts, ...))
CREATE FOREIGN TABLE paged10 (ref text, ts timestamptz, data jsonb)
  SERVER fauna10 OPTIONS (collection 'Paged');
CREATE FOREIGN TABLE paged4 (ref text, ts timestamptz, data jsonb)
  SERVER fauna4 OPTIONS (collection 'Paged', page_size '3');
SELECT count(*) FROM paged4;

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

-- ---------------------------------------------------------------------
-- Parity (issue 7): the v4 path returns the same rows as the v10 path --
-- the same refs, ts and data, converted with the same export formats --
-- for the collections the read, ranges and conversions suites read.  Each
-- check counts differing rows (0), so "the same" is asserted; the few
-- expected differences are listed explicitly.
-- ---------------------------------------------------------------------
SET timezone = 'UTC';
SET extra_float_digits = 0;

-- The same columns over each server: <name>10 and <name>4.
CREATE FUNCTION twin_tables(name text, collection text, columns text,
                            table_options text DEFAULT '') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE FOREIGN TABLE %I (%s) SERVER fauna10 OPTIONS (collection %L%s)',
                 name || '10', columns, collection, table_options);
  EXECUTE format('CREATE FOREIGN TABLE %I (%s) SERVER fauna4 OPTIONS (collection %L%s)',
                 name || '4', columns, collection, table_options);
END
$$;

CREATE FUNCTION count_of(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM (%s) q', query) INTO n;
  RETURN n;
END
$$;

-- Rows one query returns and the other does not, both ways (with duplicates).
CREATE FUNCTION rows_differing(a text, b text) RETURNS bigint LANGUAGE sql AS $$
  SELECT count_of(format('(%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)', a, b, b, a))
$$;

-- What a query (SELECT n, x) answers, as one text: its x ordered by n, or
-- its error (SQLSTATE, message and detail).
CREATE FUNCTION outcome(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text; msg text; det text;
BEGIN
  EXECUTE format('SELECT string_agg(coalesce(x, ''NULL''), '' | '' ORDER BY n) FROM (%s) q(n, x)',
                 query) INTO r;
  RETURN coalesce(r, '(no rows)');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN 'ERROR ' || SQLSTATE || ': ' || msg || coalesce(' (' || nullif(det, '') || ')', '');
END
$$;

-- 1. Whole documents: every reserved path in each of its forms, and the
-- user fields as jsonb and as json (its text as Fauna wrote it), with
-- pages of 3 (a v4 scan's pages after the first read at its snapshot).
CREATE TABLE parity_colls (collection text, tname text);
INSERT INTO parity_colls VALUES ('Users', 'p_users'), ('Empty', 'p_empty'),
  ('Paged', 'p_paged'), ('Secrets', 'p_secrets'), ('Events', 'p_events'),
  ('Logs', 'p_logs'), ('Conversions', 'p_conv'), ('ConvTarget', 'p_target');
SELECT count(twin_tables(tname, collection,
  'ref text, id jsonb OPTIONS (path ''id''), ts timestamptz,
   ts_us bigint OPTIONS (path ''ts''), ts_text text OPTIONS (path ''ts''),
   ts_jsonb jsonb OPTIONS (path ''ts''), ttl timestamptz, coll text,
   coll_jsonb jsonb OPTIONS (path ''coll''), data jsonb,
   data_json json OPTIONS (path ''data''), data_text text OPTIONS (path ''data'')',
  ', page_size ''3''')) AS tables FROM parity_colls;
CREATE FUNCTION doc_query(tname text) RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT ref, id, ts, ts_us, ts_text, ts_jsonb, ttl, coll, coll_jsonb,
                        data, data_json::text, data_text FROM %I', tname)
$$;
SELECT collection, count_of(doc_query(tname || '10')) AS documents,
       rows_differing(doc_query(tname || '10'), doc_query(tname || '4')) AS differing
  FROM parity_colls ORDER BY collection;
-- no difference: v4 doubles are written as Java's Double.toString writes
-- them ("1.0E10", as in a v10 {"@double"}), and json keeps that text
SELECT c10.data->>'row' AS row, c10.data_json->'o' AS v10, c4.data_json->'o' AS v4,
       (c10.data - 'o') = (c4.data - 'o') AS rest_same
  FROM p_conv10 c10 JOIN p_conv4 c4 USING (ref)
  WHERE c10.data_text IS DISTINCT FROM c4.data_text;

-- 2. Every value of the Conversions collection into every column type:
-- the same value, or the same error (SQLSTATE, message, detail).
CREATE TABLE conv_types (k int, type text);
INSERT INTO conv_types VALUES (1, 'text'), (2, 'varchar(20)'), (3, 'jsonb'),
  (4, 'json'), (5, 'smallint'), (6, 'integer'), (7, 'bigint'), (8, 'numeric'),
  (9, 'numeric(5,2)'), (10, 'real'), (11, 'double precision'), (12, 'boolean'),
  (13, 'timestamptz'), (14, 'timestamp'), (15, 'date'), (16, 'bytea'),
  (17, 'uuid'), (18, 'text[]'), (19, 'integer[]'), (20, 'bigint[]'),
  (21, 'double precision[]'), (22, 'timestamptz[]'), (23, 'jsonb[]');
CREATE TABLE conv_fields (k int, path text);
INSERT INTO conv_fields
  SELECT k, path FROM unnest(ARRAY['ref', 'id', 'ts', 'ttl', 'coll', 'data', 's',
    'i', 'l', 'd', 'bo', 't', 'dt', 'b', 'r', 'o', 'o.name', 'o.zip', 'o.geo.lat',
    'a', 'ia', 'sa', 'tx', 'ta', 'inf', 'ninf', 'big', 'frac', 'whole', 'missing'])
    WITH ORDINALITY AS f(path, k);
SELECT count(twin_tables('conv_t' || t.k, 'Conversions',
    'row int, ' || (SELECT string_agg(format('f%s %s OPTIONS (path %L)', f.k, t.type, f.path),
                                     ', ' ORDER BY f.k) FROM conv_fields f)))
  AS tables FROM conv_types t;
CREATE TABLE conv_parity AS
  SELECT t.type, f.path,
         outcome(format('SELECT row, f%s::text FROM conv_t%s10', f.k, t.k)) AS v10,
         outcome(format('SELECT row, f%s::text FROM conv_t%s4', f.k, t.k)) AS v4
    FROM conv_types t, conv_fields f;
SELECT count(*) AS pairs, count(*) FILTER (WHERE v10 = v4) AS same,
       count(*) FILTER (WHERE v10 LIKE 'ERROR%') AS errors
  FROM conv_parity;
-- The differences, all expected (types and columns elided):
--  - inf, ninf: the core writes the doubles Infinity and -Infinity as
--    strings over v4 (JSON numbers cannot hold them); types that hold them
--    (numeric, real, double precision) take them as doubles, the others
--    refuse them, naming the string they received;
--  - r, a ref to a document: v10 sends the document (@doc) where v4 sends
--    its ref; the same value as text or json, named differently in errors.
SELECT path, string_agg(type, ', ' ORDER BY type) AS types, v10, v4
  FROM (SELECT path, type,
               regexp_replace(v10, 'to type .+ for column "f\d+"', 'to type T for column C') AS v10,
               regexp_replace(v4, 'to type .+ for column "f\d+"', 'to type T for column C') AS v4
          FROM conv_parity WHERE v10 IS DISTINCT FROM v4) d
  GROUP BY path, v10, v4 ORDER BY path, types;

-- 3. ts ranges: every operator at every document's ts and 1 µs either
-- side, as timestamptz and as bigint (µs), ±infinity, NULL bounds (an
-- InitPlan) and two-sided ranges between neighbouring documents: the rows
-- of the v4 table (an index range over [ts, ref] where one exists, else
-- filtered here), of the v10 table and of a local copy filtered locally
-- are the same.
CREATE TABLE ts_colls (collection text, tname text);
INSERT INTO ts_colls VALUES ('Users', 'r_users'), ('Paged', 'r_paged'),
  ('Events', 'r_events'), ('Logs', 'r_logs'), ('Empty', 'r_empty');
SELECT count(twin_tables(tname, collection,
  'ref text, ts timestamptz, ts_us bigint OPTIONS (path ''ts''), data jsonb',
  ', page_size ''2''')) AS tables FROM ts_colls;
CREATE FUNCTION ts_predicates(local regclass) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz; prev timestamptz; op text; d interval;
BEGIN
  FOR t IN EXECUTE format('SELECT DISTINCT ts FROM %s ORDER BY ts', local) LOOP
    FOREACH d IN ARRAY ARRAY[interval '-1 microsecond', interval '0', interval '1 microsecond'] LOOP
      FOREACH op IN ARRAY ARRAY['<', '<=', '=', '>=', '>'] LOOP
        RETURN NEXT format('ts %s %L::timestamptz', op, t + d);
        RETURN NEXT format('ts_us %s %s', op,
                           (extract(epoch FROM t + d) * 1000000)::bigint);
      END LOOP;
    END LOOP;
    IF prev IS NOT NULL THEN
      RETURN NEXT format('ts > %L::timestamptz AND ts < %L::timestamptz', prev, t);
      RETURN NEXT format('ts >= %L::timestamptz AND ts <= %L::timestamptz', prev, t);
      RETURN NEXT format('ts > %L::timestamptz AND ts <= %L::timestamptz', prev, t);
      RETURN NEXT format('ts >= %L::timestamptz AND ts < %L::timestamptz', prev, t);
      RETURN NEXT format('ts > %L::timestamptz AND ts < %L::timestamptz', t, prev);
    END IF;
    prev := t;
  END LOOP;
  FOREACH op IN ARRAY ARRAY['<', '<=', '=', '>=', '>'] LOOP
    RETURN NEXT format('ts %s ''infinity''', op);
    RETURN NEXT format('ts %s ''-infinity''', op);
    RETURN NEXT format('ts %s (SELECT NULL::timestamptz)', op);
    RETURN NEXT format('ts_us %s (SELECT NULL::bigint)', op);
  END LOOP;
  RETURN NEXT 'ts > ''-infinity'' AND ts < ''infinity''';
END
$$;
CREATE FUNCTION ts_parity(tname text, OUT predicates int, OUT rows_read bigint,
                          OUT v4_differing int, OUT v10_differing int)
LANGUAGE plpgsql AS $$
DECLARE
  p text;
  q text := 'SELECT ref, ts, ts_us, data FROM %I WHERE %s';
BEGIN
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT * FROM %I', tname || '_local', tname || '10');
  predicates := 0; rows_read := 0; v4_differing := 0; v10_differing := 0;
  FOR p IN SELECT ts_predicates((tname || '_local')::regclass) LOOP
    predicates := predicates + 1;
    rows_read := rows_read + count_of(format(q, tname || '_local', p));
    IF rows_differing(format(q, tname || '4', p), format(q, tname || '_local', p)) > 0 THEN
      v4_differing := v4_differing + 1;
      RAISE WARNING 'v4 differs: %', p;
    END IF;
    IF rows_differing(format(q, tname || '10', p), format(q, tname || '_local', p)) > 0 THEN
      v10_differing := v10_differing + 1;
      RAISE WARNING 'v10 differs: %', p;
    END IF;
  END LOOP;
END
$$;
SELECT collection, p.* FROM ts_colls, LATERAL ts_parity(tname) p ORDER BY collection;
-- how the v4 side read them: a Range over the index where there is one
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT ref FROM r_users4 WHERE ts > '2024-01-01 00:00:00.005+00' AND ts <= 'infinity';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT ref FROM r_paged4 WHERE ts_us >= 1704067200010000;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT ref FROM r_logs4 WHERE ts > (SELECT NULL::timestamptz);

-- ---------------------------------------------------------------------
-- index 'auto' over v4 lists the indexes page by page (the server's
-- page_size, at most 1000), only the collection's (filtered on the
-- server), until a [ts, ref] one is found; what it found is kept until
-- the end of the transaction, or until the server or user mapping changes.
-- The v4 indexes by name: events_by_kind_v4, events_ref_ts_v4,
-- events_ts_ref_v4, logs_ts_ref_v4, users_ts_ref_v4, v4values_by_name.
-- ---------------------------------------------------------------------
CREATE SERVER fauna4p2 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0', api_version '4', page_size '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna4p2 OPTIONS (secret :'fauna_secret');
CREATE FOREIGN TABLE users4p2 (ref text, ts timestamptz, name text)
  SERVER fauna4p2 OPTIONS (collection 'Users', page_size '100');
SELECT name FROM users4p2 WHERE ref = '9100000000000000041';
BEGIN;
-- the third page of two holds users_ts_ref_v4: three requests
EXPLAIN (COSTS OFF) SELECT name FROM users4p2 WHERE ts > '2024-01-01';
-- known: no listing
SELECT name FROM users4p2 WHERE ts > '2024-01-01' ORDER BY name;
-- the server changed (pages of 3 now): listed again, in two requests
ALTER SERVER fauna4p2 OPTIONS (SET page_size '3');
SELECT count(*) FROM users4p2 WHERE ts > '2024-01-01';
COMMIT;
-- a new transaction lists again
SELECT count(*) FROM users4p2 WHERE ts > '2024-01-01';
\! python3 test/request_log.py 9100000000000000041 | sed -E 's/[0-9]{13,}/N/g'
-- no [ts, ref] index among the collection's (Paged has none): filtered here
CREATE FOREIGN TABLE paged4p2 (ref text, ts timestamptz) SERVER fauna4p2
  OPTIONS (collection 'Paged');
EXPLAIN (COSTS OFF) SELECT ref FROM paged4p2 WHERE ts > '2024-01-01';

-- ---------------------------------------------------------------------
-- IMPORT FOREIGN SCHEMA and fauna_fdw_check() over FQL v4: collections
-- listed with Paginate(Collections()), their ts index found among all
-- indexes (Paginate(Indexes())), both page by page (pages of 3 here)
-- ---------------------------------------------------------------------
CREATE SCHEMA imp4;
-- v4 collections declare no fields: fields 'true' says so and does nothing
SET client_min_messages = notice;
IMPORT FOREIGN SCHEMA fauna
  LIMIT TO (users, events, logs, paged, v4values, feed4, feed4_events, nosuch)
  FROM SERVER fauna4p2 INTO imp4 OPTIONS (events 'true', fields 'true');
SET client_min_messages = warning;
SELECT c.relname AS table_name, array_to_string(ft.ftoptions, ', ') AS options
  FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
  WHERE c.relnamespace = 'imp4'::regnamespace ORDER BY 1;
\d imp4.users
\d imp4.feed4_events
-- read back: the rows of the v10 path, ts ranges through the index found
SELECT rows_differing('SELECT ref, ts, ttl, data FROM imp4.users',
                      'SELECT ref, ts, ttl, data FROM p_users10') AS users_differing,
       rows_differing('SELECT ref, ts, ttl, data FROM imp4.events',
                      'SELECT ref, ts, ttl, data FROM p_events10') AS events_differing;
EXPLAIN (COSTS OFF) SELECT data FROM imp4.events WHERE ts > '2024-01-01';
SELECT data->>'seq' AS seq FROM imp4.events
  WHERE ts > (SELECT min(ts) FROM imp4.events) ORDER BY ts;
SELECT action, data FROM imp4.feed4_events
  WHERE ts >= (SELECT min(ts) FROM imp4.feed4);
-- the checks: one document, the ts index (or why none), one event
SELECT collection, test, ok,
       CASE WHEN test = 'list collections'
            THEN regexp_replace(detail, '\d+', 'N') ELSE detail END AS detail
  FROM fauna_fdw_check('fauna4p2', ARRAY['Users', 'Events', 'Empty', 'V4Values',
                                         'Feed4', 'NoSuch'])
  ORDER BY collection COLLATE "C" NULLS FIRST, test;
-- a key that may not read ImpHidden: a row that says why
\getenv import_secret FAUNA_IMPORT_SECRET
CREATE SERVER fauna4lim FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0', api_version '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna4lim OPTIONS (secret :'import_secret');
SELECT collection, test, ok, detail
  FROM fauna_fdw_check('fauna4lim', ARRAY['ImpHidden', 'ImpPlain'])
  WHERE collection IS NOT NULL
  ORDER BY collection COLLATE "C", test;
-- a wrong secret: rows, not an error; and the import's error
SELECT collection, test, ok, detail FROM fauna_fdw_check('fauna4bad') ORDER BY test;
IMPORT FOREIGN SCHEMA fauna FROM SERVER fauna4bad INTO imp4;
DROP SCHEMA imp4 CASCADE;

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
-- a history longer than any time can be written (history_days times a day
-- overflows 64 bits) keeps every event: no error
\! python3 test/fauna_write.py 'Collection.byName("Feed4")!.update({ history_days: 9223372036854775807 })' >/dev/null
SELECT error_of($$SELECT count(*) FROM feed4_events WHERE ts > '2000-01-01'$$);
\! python3 test/fauna_write.py 'Collection.byName("Feed4")!.update({ history_days: 30 })' >/dev/null
SELECT error_of($$SELECT * FROM feed4_events WHERE ts > '2000-01-01'$$) LIMIT 1;
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
