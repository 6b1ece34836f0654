--
-- Asynchronous execution (async_capable).  The scans under an Append each
-- keep their next page on its way while the Append takes rows from the
-- scan that has them.  Every result is compared with the same query run
-- synchronously (enable_async_append off).
--
\getenv endpoint FAUNA_ENDPOINT
\getenv secret FAUNA_SECRET
\set VERBOSITY default
-- parallel plans (Parallel Append) are not asynchronous: serial scans here
SET max_parallel_workers_per_gather = 0;

CREATE SERVER as_srv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0', async_capable 'true');
CREATE USER MAPPING FOR CURRENT_USER SERVER as_srv OPTIONS (secret :'secret');
\! python3 test/fauna_write.py 'Collection.create({ name: "AsOne" }); Collection.create({ name: "AsTwo" }); Collection.create({ name: "AsThree" })'
\! python3 test/fauna_write.py 'Set.sequence(1, 31).forEach(i => AsOne.create({ n: i, g: 1 }))'
\! python3 test/fauna_write.py 'Set.sequence(1, 21).forEach(i => AsTwo.create({ n: 100 + i, g: 2 }))'
\! python3 test/fauna_write.py 'Set.sequence(1, 11).forEach(i => AsThree.create({ n: 200 + i, g: 3 }))'
CREATE FOREIGN TABLE as_one (ref text, n int, g int)
  SERVER as_srv OPTIONS (collection 'AsOne', page_size '4');
CREATE FOREIGN TABLE as_two (ref text, n int, g int)
  SERVER as_srv OPTIONS (collection 'AsTwo', page_size '3');
CREATE FOREIGN TABLE as_three (ref text, n int, g int)
  SERVER as_srv OPTIONS (collection 'AsThree', page_size '5');

CREATE VIEW as_all AS
  SELECT n, g FROM as_one UNION ALL SELECT n, g FROM as_two UNION ALL SELECT n, g FROM as_three;

EXPLAIN (VERBOSE, COSTS OFF) SELECT n, g FROM as_all;
SELECT count(*), sum(n), array_agg(n ORDER BY n) = array(SELECT generate_series(1, 30)
  UNION ALL SELECT generate_series(101, 120) UNION ALL SELECT generate_series(201, 210) ORDER BY 1) AS all_rows
  FROM as_all;
-- the same rows as the synchronous plan, row for row
CREATE TEMP TABLE as_async AS SELECT n, g FROM as_all;
SET enable_async_append = off;
EXPLAIN (COSTS OFF) SELECT n, g FROM as_all;
CREATE TEMP TABLE as_sync AS SELECT n, g FROM as_all;
RESET enable_async_append;
SELECT (SELECT count(*) FROM (TABLE as_async EXCEPT ALL TABLE as_sync) d) AS missing,
       (SELECT count(*) FROM (TABLE as_sync EXCEPT ALL TABLE as_async) d) AS extra;

-- local quals filter whole pages away: the scan then waits for the next
-- one without returning a row
SELECT g, count(*), sum(n) FROM as_all WHERE n % 10 = 7 GROUP BY g ORDER BY g;
SET enable_async_append = off;
SELECT g, count(*), sum(n) FROM as_all WHERE n % 10 = 7 GROUP BY g ORDER BY g;
RESET enable_async_append;

-- a LIMIT above the Append stops the scans early
SELECT count(*) FROM (SELECT n FROM as_all LIMIT 7) l;

-- a table can turn it off
ALTER FOREIGN TABLE as_three OPTIONS (ADD async_capable 'false');
EXPLAIN (COSTS OFF) SELECT n, g FROM as_all;
SELECT count(*), sum(n) FROM as_all;
ALTER FOREIGN TABLE as_three OPTIONS (DROP async_capable);

-- partitions that are fauna_fdw tables
CREATE TABLE as_parts (ref text, n int, g int) PARTITION BY LIST (g);
CREATE FOREIGN TABLE as_part1 PARTITION OF as_parts FOR VALUES IN (1)
  SERVER as_srv OPTIONS (collection 'AsOne', page_size '4');
CREATE FOREIGN TABLE as_part2 PARTITION OF as_parts FOR VALUES IN (2)
  SERVER as_srv OPTIONS (collection 'AsTwo', page_size '3');
EXPLAIN (COSTS OFF) SELECT g, count(*), sum(n) FROM as_parts GROUP BY g ORDER BY g;
SELECT g, count(*), sum(n) FROM as_parts GROUP BY g ORDER BY g;
-- pruned to one partition: nothing to run side by side
EXPLAIN (COSTS OFF) SELECT count(*) FROM as_parts WHERE g = 2;
SELECT count(*) FROM as_parts WHERE g = 2;

-- EXPLAIN ANALYZE counts each scan's own requests
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
SELECT explain_analyze('SELECT n FROM as_one UNION ALL SELECT n FROM as_two');
