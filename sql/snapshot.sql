--
-- A multi-page scan reads one snapshot: following pages are read with the
-- first page's cursor, which pins its snapshot, so documents created,
-- updated or deleted while a scan is under way (here: between the FETCHes
-- of a cursor) neither appear, change, vanish, repeat nor are skipped.
-- Then what fauna_fdw sends (the emulator's request log) and how it reuses
-- its connection (the backend's TCP sockets).
--
-- The suite writes to the emulator with test/fauna_write.py; its documents
-- have explicit ids and no time is shown, so its output does not depend on
-- what earlier suites wrote.
--
\set VERBOSITY default
SET client_min_messages = warning;
SET timezone = 'UTC';
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET

CREATE SERVER snap FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0', timeout_ms '12345');
CREATE USER MAPPING FOR CURRENT_USER SERVER snap
  OPTIONS (secret :'fauna_secret');

-- Snap: documents 1001..1008 (n = 1..8), in one transaction, with a ts index
\! python3 test/fauna_write.py 'Collection.create({ name: "Snap", indexes: { byTs: { values: [{ field: ".ts", order: "asc" }] } } })'
\! python3 test/fauna_write.py 'Snap.create({ id: "1001", n: 1, label: "v1" }); Snap.create({ id: "1002", n: 2, label: "v1" }); Snap.create({ id: "1003", n: 3, label: "v1" }); Snap.create({ id: "1004", n: 4, label: "v1" }); Snap.create({ id: "1005", n: 5, label: "v1" }); Snap.create({ id: "1006", n: 6, label: "v1" }); Snap.create({ id: "1007", n: 7, label: "v1" }); Snap.create({ id: "1008", n: 8, label: "v1" })'

-- one document per page; no ORDER BY, so that rows come as Fauna sends
-- them (Snap.all(): id order) and the cursor reads page by page
CREATE FOREIGN TABLE snap (ref text, n int, label text)
  SERVER snap OPTIONS (collection 'Snap', page_size '1');
EXPLAIN (VERBOSE, COSTS OFF) SELECT ref, n, label FROM snap;
BEGIN;
DECLARE c CURSOR FOR SELECT ref, n, label FROM snap;
FETCH 2 FROM c;
-- behind the cursor: delete and update documents already read, create one
-- before them in id order; ahead of it: update, delete, create after
\! python3 test/fauna_write.py 'Snap.byId("1001")!.delete(); Snap.byId("1002")!.update({ label: "v2" }); Snap.create({ id: "1000", n: 0, label: "new" })'
\! python3 test/fauna_write.py 'Snap.byId("1006")!.update({ label: "v2" }); Snap.byId("1007")!.delete(); Snap.create({ id: "1009", n: 9, label: "new" })'
\! python3 test/fauna_write.py 'Snap.byId("1003")!.delete(); Snap.byId("1004")!.update({ label: "v3" })'
-- as of the first page: 1003..1008 once each, in order, with their old
-- labels, deleted ones included, nothing created since
FETCH ALL FROM c;
COMMIT;
-- the writes happened: a new scan sees them
SELECT ref, n, label FROM snap;

-- the same over the ts index (Snap.byTs: ts order, then id; by now 1005,
-- 1008, then the documents of the three writes above), where an update
-- moves a document to the end: one already read (1008) must not come
-- again, one not yet read (1002) must come once, where it was, as it was;
-- a deleted one (1009) still comes, a created one (1010) does not
CREATE FOREIGN TABLE snap_ts (ref text, ts timestamptz, n int, label text)
  SERVER snap OPTIONS (collection 'Snap', page_size '1');
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT ref, n, label FROM snap_ts WHERE ts > '2000-01-01';
BEGIN;
DECLARE c CURSOR FOR SELECT ref, n, label FROM snap_ts WHERE ts > '2000-01-01';
FETCH 2 FROM c;
\! python3 test/fauna_write.py 'Snap.byId("1002")!.update({ label: "v4" }); Snap.byId("1008")!.update({ label: "v4" })'
\! python3 test/fauna_write.py 'Snap.byId("1009")!.delete(); Snap.create({ id: "1010", n: 10, label: "new" })'
FETCH ALL FROM c;
COMMIT;
SELECT ref, n, label FROM snap_ts WHERE ts > '2000-01-01';
SELECT ref, n, label FROM snap ORDER BY n;

-- What is sent: every request of one scan (a lookup of ref
-- 9100000000000000002, no document, marks where it starts) carries
-- x-format: tagged and the server's timeout_ms as x-query-timeout-ms
CREATE FOREIGN TABLE snap3 (ref text, ts timestamptz, n int)
  SERVER snap OPTIONS (collection 'Snap', page_size '3');
SELECT n FROM snap3 WHERE ref = '9100000000000000002';
SELECT count(*), sum(n) FROM snap3;
\! python3 test/request_log.py 9100000000000000002
-- ...and a ts range, a byId lookup and a LIMIT
SELECT n FROM snap3 WHERE ref = '9100000000000000003';
SELECT n FROM snap3 WHERE ts >= '2000-01-01' AND ts < 'infinity' ORDER BY ts LIMIT 2;
SELECT n FROM snap3 WHERE ref = '1005';
\! python3 test/request_log.py 9100000000000000003

-- Connection reuse, seen from the backend's sockets (test/tcp_conns.py
-- prints the local ports of its connections to the emulator; the request
-- log does not say which connection a request came on): statements in a
-- row use one kept-alive connection; fauna_fdw_disconnect() closes it; an
-- ALTER SERVER replaces it, without leaving the old one open
SELECT fauna_fdw_disconnect();
SELECT pg_backend_pid() AS pid \gset
\set conns0 `python3 test/tcp_conns.py :pid`
SELECT count(*) FROM snap;
\set conns1 `python3 test/tcp_conns.py :pid`
SELECT count(*) FROM snap_ts WHERE ts > '2000-01-01';
\set conns2 `python3 test/tcp_conns.py :pid`
SELECT n FROM snap WHERE ref = '1005';
\set conns3 `python3 test/tcp_conns.py :pid`
SELECT :'conns0' AS before_first_use,
       :'conns1' ~ '^[0-9]+$' AS one_connection,
       :'conns2' = :'conns1' AND :'conns3' = :'conns1' AS same_connection;
SELECT fauna_fdw_disconnect();
\set conns4 `python3 test/tcp_conns.py :pid`
SELECT :'conns4' AS after_disconnect;
SELECT count(*) FROM snap;
\set conns5 `python3 test/tcp_conns.py :pid`
ALTER SERVER snap OPTIONS (SET timeout_ms '23456');
SELECT count(*) FROM snap;
\set conns6 `python3 test/tcp_conns.py :pid`
SELECT :'conns5' ~ '^[0-9]+$' AS reconnected,
       :'conns6' ~ '^[0-9]+$' AS one_connection_after_alter,
       :'conns6' <> :'conns5' AS replaced_by_alter;
-- the new timeout is what is sent now
SELECT n FROM snap3 WHERE ref = '9100000000000000004';
SELECT n FROM snap3 WHERE ref = '1005';
\! python3 test/request_log.py 9100000000000000004

DROP SERVER snap CASCADE;
