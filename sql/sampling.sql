--
-- ANALYZE reads the whole collection and keeps a uniform random sample
-- (reservoir sampling), so the row count is exact and the statistics are
-- not those of the first documents in id order.  Runs last: it writes its
-- own collection.
--
\set VERBOSITY default
SET client_min_messages = warning;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET
\! python3 test/fauna_write.py 'Collection.create({ name: "Sampled" })'
\! python3 test/fauna_write.py 'Set.sequence(0, 1000).forEach(i => Sampled.create({ n: i }))'

CREATE SERVER sampsrv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER sampsrv OPTIONS (secret :'fauna_secret');
CREATE FOREIGN TABLE sampled (ref text, n int)
  SERVER sampsrv OPTIONS (collection 'Sampled', page_size '128');

-- statistics target 1: a sample of 300 of the 1000 documents
ALTER FOREIGN TABLE sampled ALTER COLUMN n SET STATISTICS 1;
ALTER FOREIGN TABLE sampled ALTER COLUMN ref SET STATISTICS 1;
SET client_min_messages = info;
ANALYZE VERBOSE sampled;
SET client_min_messages = warning;
SELECT reltuples FROM pg_class WHERE relname = 'sampled';
-- documents are in id order, which is creation order here: the first 300
-- would all have n < 300; a uniform sample of 300 reaches past 900 (the
-- odds against are below 1e-30)
SELECT (histogram_bounds::text::int[])[1] < 100 AS low_end,
       (histogram_bounds::text::int[])[array_upper(histogram_bounds::text::int[], 1)] > 900
         AS high_end,
       n_distinct
  FROM pg_stats WHERE tablename = 'sampled' AND attname = 'n';
-- the estimate follows
EXPLAIN (COSTS ON) SELECT * FROM sampled;

DROP SERVER sampsrv CASCADE;
