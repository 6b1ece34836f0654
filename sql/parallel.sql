--
-- Parallel foreign scans.  Under a Gather, the leader and its workers
-- read one collection in ranges of document ids, each claimed from shared
-- memory, all at the snapshot of the first request (the collection's
-- first and last ids): every part's query is wrapped in
-- at (Time(...)) { ... }.  Each result is compared with the same query
-- read by one stream.
--
\getenv endpoint FAUNA_ENDPOINT
\getenv secret FAUNA_SECRET
\set VERBOSITY default

CREATE SERVER par_srv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER par_srv OPTIONS (secret :'secret');
\! python3 test/fauna_write.py 'Collection.create({ name: "Par" })'
-- two transactions: the second hundred documents are younger
\! python3 test/fauna_write.py 'Set.sequence(1, 101).forEach(i => Par.create({ n: i, g: i % 7, label: "d#{i}" }))'
\! python3 test/fauna_write.py 'Set.sequence(101, 201).forEach(i => Par.create({ n: i, g: i % 7, label: "d#{i}" }))'
-- rows: an estimate that makes a parallel scan worth it
CREATE FOREIGN TABLE par (ref text, ts timestamptz, n int, g int, label text)
  SERVER par_srv OPTIONS (collection 'Par', page_size '9', rows '1000000');

-- the serial result, read by one stream
SET max_parallel_workers_per_gather = 0;
EXPLAIN (VERBOSE, COSTS OFF) SELECT ref, n, g, label FROM par;
CREATE TEMP TABLE serial_par AS SELECT ref, ts, n, g, label FROM par;
SELECT count(*), sum(n), count(DISTINCT ref) FROM serial_par;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 3;

EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*), sum(n) FROM par;
SELECT count(*), sum(n) FROM par;
EXPLAIN (VERBOSE, COSTS OFF) SELECT ref, ts, n, g, label FROM par;
CREATE TEMP TABLE parallel_par AS SELECT ref, ts, n, g, label FROM par;
-- the same rows, each once
SELECT count(*), count(DISTINCT ref) FROM parallel_par;
SELECT count(*) AS missing FROM (TABLE serial_par EXCEPT ALL TABLE parallel_par) d;
SELECT count(*) AS extra FROM (TABLE parallel_par EXCEPT ALL TABLE serial_par) d;

-- what the parts sent: the first and last ids, then each of the 32 parts
-- (ids shown as N) at the snapshot of that answer; sorted, since the
-- streams run side by side
SELECT ref FROM par WHERE ref = '9100000000000000091';
SELECT count(*) FROM par;
\! python3 test/request_log.py 9100000000000000091 | grep -v '^POST' | sed -E 's/@(time|string):[^ ,)]*/@\1:V/g; s/"[0-9]+"/N/g' | sort | uniq -c

-- ts bounds without an index filter each part: the same rows
CREATE FOREIGN TABLE par_noindex (ref text, ts timestamptz, n int)
  SERVER par_srv OPTIONS (collection 'Par', page_size '9', rows '1000000', index 'none');
SELECT min(ts) AS mid FROM serial_par \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*), sum(n) FROM par_noindex WHERE ts > :'mid';
SELECT count(*), sum(n) FROM par_noindex WHERE ts > :'mid';
SELECT count(*), sum(n) FROM serial_par WHERE ts > :'mid';

-- max_streams caps the streams, leader included; '1' reads serially
ALTER FOREIGN TABLE par OPTIONS (ADD max_streams '2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM par;
ALTER FOREIGN TABLE par OPTIONS (SET max_streams '1');
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM par;
ALTER FOREIGN TABLE par OPTIONS (DROP max_streams);
ALTER FOREIGN TABLE par OPTIONS (ADD max_streams '0');
ALTER FOREIGN TABLE par OPTIONS (ADD max_streams '65');
ALTER SERVER par_srv OPTIONS (ADD max_streams '2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM par;
ALTER SERVER par_srv OPTIONS (DROP max_streams);

-- what needs one stream says so
EXPLAIN (VERBOSE, COSTS OFF) SELECT n FROM par WHERE ref = '1';
EXPLAIN (VERBOSE, COSTS OFF) SELECT n FROM par LIMIT 3;

-- FQL v4 reads the same ranges: At(snapshot, Range(Documents(c), Ref(lo),
-- Ref(hi))), the snapshot that of the answer with the first and last
-- documents
CREATE SERVER par_v4 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0', api_version '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER par_v4 OPTIONS (secret :'secret');
CREATE FOREIGN TABLE par4 (ref text, ts timestamptz, n int, g int, label text)
  SERVER par_v4 OPTIONS (collection 'Par', page_size '9', rows '1000000');
EXPLAIN (VERBOSE, COSTS OFF) SELECT ref, ts, n, g, label FROM par4;
CREATE TEMP TABLE parallel_par4 AS SELECT ref, ts, n, g, label FROM par4;
SELECT count(*), count(DISTINCT ref) FROM parallel_par4;
SELECT count(*) AS missing FROM (TABLE serial_par EXCEPT ALL TABLE parallel_par4) d;
SELECT count(*) AS extra FROM (TABLE parallel_par4 EXCEPT ALL TABLE serial_par) d;
SELECT ref FROM par4 WHERE ref = '9100000000000000092';
SELECT count(*) FROM par4;
\! python3 test/request_log.py 9100000000000000092 | grep -v '^POST' | sed -E 's/"[0-9]+"/N/g; s/"at": [0-9]+/"at": T/g' | sort | uniq -c
-- parts of several pages: each following page at the part's At
CREATE FOREIGN TABLE par4_paged (ref text, ts timestamptz, n int, g int, label text)
  SERVER par_v4 OPTIONS (collection 'Par', page_size '2', rows '1000000', max_streams '2');
CREATE TEMP TABLE parallel_par4_paged AS SELECT ref, ts, n, g, label FROM par4_paged;
SELECT count(*) AS missing FROM (TABLE serial_par EXCEPT ALL TABLE parallel_par4_paged) d;
SELECT count(*) AS extra FROM (TABLE parallel_par4_paged EXCEPT ALL TABLE serial_par) d;
SELECT ref FROM par4 WHERE ref = '9100000000000000093';
SELECT count(*) FROM par4_paged;
\! python3 test/request_log.py 9100000000000000093 | grep -v '^POST' | grep -c '"at": [0-9]*, "expr": {"collection": {"after"'
-- every request of the scan but the first at one time: 1
\! python3 test/request_log.py 9100000000000000093 | grep -v '^POST' | grep -o '"at": [0-9]*' | sort -u | wc -l
-- a v4 table with one document reads it once; an empty one reads nothing
\! python3 test/fauna_write.py 'Collection.create({ name: "ParOne" })'
\! python3 test/fauna_write.py 'Collection.create({ name: "ParNone" })'
\! python3 test/fauna_write.py 'ParOne.create({ n: 7 })'
CREATE FOREIGN TABLE par4_one (n int) SERVER par_v4 OPTIONS (collection 'ParOne', rows '1000000');
CREATE FOREIGN TABLE par4_none (n int) SERVER par_v4 OPTIONS (collection 'ParNone', rows '1000000');
SELECT count(*), sum(n) FROM par4_one;
SELECT count(*), sum(n) FROM par4_none;

-- a parallel-aware scan that gets no worker reads every part itself
SET max_parallel_workers = 0;
SELECT count(*), sum(n), count(DISTINCT ref) FROM par;
RESET max_parallel_workers;

-- the snapshot a parallel scan read is the one fauna_fdw_scan_snapshot()
-- reports
SELECT count(*) FROM par;
SELECT fauna_fdw_scan_snapshot('par') IS NOT NULL AS known;
