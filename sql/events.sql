--
-- Event tables (events 'true'): one row per add, update and remove after a
-- lower bound on ts, read from the collection's event feed (POST /feed/1),
-- and the connector's incremental reads of the document table.  The suite
-- writes to the emulator with test/fauna_write.py; with the logical clock
-- every write is one transaction 1 ms after the previous one.  Times are
-- shown relative to a mark so that the output does not depend on the
-- writes of earlier suites.
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

-- the documents, and their events
CREATE FOREIGN TABLE feed_docs (ref text, ts timestamptz, n int, data jsonb)
  SERVER fauna OPTIONS (collection 'Feed');
CREATE FOREIGN TABLE feed_events (ref text, ts timestamptz,
                                  action text OPTIONS (path 'action'),
                                  n int, data jsonb)
  SERVER fauna OPTIONS (collection 'Feed', events 'true');
CREATE FOREIGN TABLE feed_events_p2 (ts timestamptz, action text, n int)
  SERVER fauna OPTIONS (collection 'Feed', events 'true', page_size '2');

SELECT n FROM feed_docs;
SELECT max(ts) AS mark0 FROM feed_docs \gset

-- EXPLAIN: the event source, the feed's bounds; other quals stay local
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM feed_events WHERE ts > :'mark0';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT action, n FROM feed_events WHERE ts >= :'mark0' AND ts < now() AND n > 1;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT action FROM feed_events WHERE ts > :'mark0' AND ref = '1';

-- a scan needs a lower bound on ts
SELECT * FROM feed_events;
SELECT * FROM feed_events WHERE ts < :'mark0';
-- bounds older than the history Fauna keeps: a full refresh is needed
SELECT * FROM feed_events WHERE ts > '2000-01-01';
-- empty ranges send nothing
SELECT count(*) FROM feed_events WHERE ts > 'infinity';
SELECT count(*) FROM feed_events WHERE ts > NULL::timestamptz;
-- nothing happened after the mark yet
SELECT * FROM feed_events WHERE ts > :'mark0';

-- four documents created in one transaction share a ts and all come through
\! python3 test/fauna_write.py 'Feed.create({ n: 1 }); Feed.create({ n: 2 }); Feed.create({ n: 3 }); Feed.create({ n: 4 })'
SELECT n, ts = max(ts) OVER () AS same_ts FROM feed_docs WHERE ts > :'mark0' ORDER BY n;
SELECT action, n, ts = max(ts) OVER () AS same_ts, data
  FROM feed_events WHERE ts > :'mark0' ORDER BY n;
SELECT max(ts) AS mark1 FROM feed_docs \gset
-- ts >= includes the bound (start_ts is exclusive: the feed starts 1 µs before)
SELECT count(*) FROM feed_events WHERE ts >= :'mark1';
SELECT count(*) FROM feed_events WHERE ts = :'mark1';
SELECT count(*) FROM feed_events WHERE ts > :'mark1';

-- after an update of one and a create of another, the next refresh
-- returns exactly those two, in ts order
\! python3 test/fauna_write.py 'Feed.where(.n == 2).forEach(d => d.update({ note: "changed" }))'
\! python3 test/fauna_write.py 'Feed.create({ n: 5 })'
SELECT n, data->>'note' AS note, ts - :'mark1' AS after_mark
  FROM feed_docs WHERE ts > :'mark1' ORDER BY ts;
SELECT action, n, data->>'note' AS note, ts - :'mark1' AS after_mark
  FROM feed_events WHERE ts > :'mark1';
SELECT max(ts) AS mark2 FROM feed_docs \gset
-- an upper bound stops the feed: only the four adds
SELECT action, n FROM feed_events WHERE ts > :'mark0' AND ts <= :'mark1' ORDER BY n;
SELECT action, n FROM feed_events WHERE ts > :'mark0' AND ts < :'mark2';

-- a refresh with nothing new returns nothing
SELECT n FROM feed_docs WHERE ts > :'mark2';
SELECT action, n FROM feed_events WHERE ts > :'mark2';
-- a high-water mark far in the future returns nothing
SELECT n FROM feed_docs WHERE ts > '9000-01-01';
SELECT action, n FROM feed_events WHERE ts > '9000-01-01';

-- deletions of three documents made in the order 1, 3, 2 come back as
-- three remove events in that order, with strictly increasing ts; a remove
-- carries the document as it was
\! python3 test/fauna_write.py 'Feed.where(.n == 1).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Feed.where(.n == 3).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Feed.where(.n == 2).forEach(d => d.delete())'
SELECT action, n, data->>'note' AS note, ts - :'mark2' AS after_mark,
       ts > lag(ts) OVER () AS increasing
  FROM feed_events WHERE ts > :'mark2';
-- the same with a page size of 2: two feed pages after the token
SELECT action, n, ts - :'mark2' AS after_mark,
       ts > lag(ts) OVER () AS increasing
  FROM feed_events_p2 WHERE ts > :'mark2';
SELECT explain_analyze(format(
  'SELECT * FROM feed_events_p2 WHERE ts > %L', :'mark2'));
-- the whole story since the first mark
SELECT action, n, ts - min(ts) OVER () AS since_first
  FROM feed_events WHERE ts > :'mark0';
SELECT n FROM feed_docs ORDER BY n;

-- ts as bigint (µs since the Unix epoch) works the same way
CREATE FOREIGN TABLE feed_events_us (ts bigint, action text, n int)
  SERVER fauna OPTIONS (collection 'Feed', events 'true');
SELECT action, n FROM feed_events_us
  WHERE ts > (extract(epoch FROM :'mark2'::timestamptz) * 1000000)::bigint;

-- "action" is a user field in a document table
CREATE FOREIGN TABLE feed_action (action text, n int)
  SERVER fauna OPTIONS (collection 'Feed');
SELECT action, n FROM feed_action ORDER BY n;

-- ORDER BY ts: no Sort when Fauna's order is ts order (a ts index read for
-- ts bounds, an event feed), and a LIMIT above it stops the scan early
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT n, ts FROM feed_docs WHERE ts > :'mark0' ORDER BY ts;
SELECT n FROM feed_docs WHERE ts >= :'mark0' ORDER BY ts;
EXPLAIN (COSTS OFF)
  SELECT n FROM feed_docs WHERE ts >= :'mark0' ORDER BY ts LIMIT 2;
SELECT n FROM feed_docs WHERE ts >= :'mark0' ORDER BY ts LIMIT 2;
-- infinite bounds still read the index, in ts order
SELECT n FROM feed_docs WHERE ts > '-infinity' ORDER BY ts;
EXPLAIN (COSTS OFF)
  SELECT action, n FROM feed_events WHERE ts > :'mark0' ORDER BY ts;
SELECT action, n FROM feed_events WHERE ts > :'mark0' ORDER BY ts LIMIT 3;
-- otherwise PostgreSQL sorts: no ts bound (Coll.all() is in id order),
-- no ts index, descending order, ordering by something else
EXPLAIN (COSTS OFF) SELECT n FROM feed_docs ORDER BY ts;
CREATE FOREIGN TABLE plain (ts timestamptz, n int)
  SERVER fauna OPTIONS (collection 'Plain');
EXPLAIN (COSTS OFF) SELECT n FROM plain WHERE ts > '2000-01-01' ORDER BY ts;
SELECT n FROM plain WHERE ts > '2000-01-01' ORDER BY ts;
EXPLAIN (COSTS OFF)
  SELECT n FROM feed_docs WHERE ts > :'mark0' ORDER BY ts DESC;
EXPLAIN (COSTS OFF)
  SELECT n FROM feed_docs WHERE ts > :'mark0' ORDER BY n;
DROP FUNCTION explain_analyze;
