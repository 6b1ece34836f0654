--
-- CALL fauna_sync(foreign_table, local_table): a local copy kept in sync,
-- first by a full copy, then by upserts of documents changed after the
-- high-water mark and deletions read from the collection's event feed.
-- Writes go to the emulator through test/fauna_write.py.
--
\set VERBOSITY default
SET client_min_messages = warning;
SET timezone = 'UTC';
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET

CREATE SERVER syncsrv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER syncsrv
  OPTIONS (secret :'fauna_secret');

CREATE FOREIGN TABLE synced (ref text, ts timestamptz, n int, name text, data jsonb)
  SERVER syncsrv OPTIONS (collection 'Synced', page_size '2');
-- the copy: a primary key on ref, the shared columns, one of its own
CREATE TABLE synced_copy (ref text PRIMARY KEY, ts timestamptz, n int,
                          name text, note text DEFAULT 'local');

-- the copy matches Fauna (both directions), and the sync's state
CREATE VIEW sync_check AS
  SELECT (SELECT count(*) FROM synced_copy) AS local_rows,
         (SELECT count(*) FROM (
            (SELECT ref, ts, n, name FROM synced
             EXCEPT SELECT ref, ts, n, name FROM synced_copy)
            UNION ALL
            (SELECT ref, ts, n, name FROM synced_copy
             EXCEPT SELECT ref, ts, n, name FROM synced)) d) AS differences,
         s.upserted, s.deleted, s.full_copy,
         s.high_water = (SELECT max(ts) FROM synced) AS mark_is_max_ts
    FROM fauna_sync_state s
   WHERE s.foreign_table = 'synced'::regclass AND s.local_table = 'synced_copy'::regclass;

-- empty local table: a full copy
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;
SELECT n, name, note FROM synced_copy ORDER BY n;

-- nothing new: nothing written
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;

-- an update, a create, a delete, a document created then deleted, and
-- four documents created in one transaction
\! python3 test/fauna_write.py 'Synced.where(.n == 1).forEach(d => d.update({ name: "one" }))'
\! python3 test/fauna_write.py 'Synced.create({ n: 4, name: "s4" })'
\! python3 test/fauna_write.py 'Synced.where(.n == 2).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Synced.create({ n: 5, name: "gone" })'
\! python3 test/fauna_write.py 'Synced.where(.n == 5).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Synced.create({ n: 6 }); Synced.create({ n: 7 }); Synced.create({ n: 8 }); Synced.create({ n: 9 })'
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;
SELECT n, name, note FROM synced_copy ORDER BY n;

-- a document created and deleted between two syncs is not resurrected,
-- and a deletion right after the mark is applied
\! python3 test/fauna_write.py 'Synced.create({ n: 10, name: "brief" })'
\! python3 test/fauna_write.py 'Synced.where(.n == 10).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Synced.where(.n == 9).forEach(d => d.delete())'
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;
SELECT n FROM synced_copy ORDER BY n;
-- only deletions since the last call: the high-water mark (documents) stays,
-- seen_until follows Fauna's snapshot to the last deletion, so a collection
-- that stays quiet never falls behind the feed's history
CREATE FOREIGN TABLE synced_feed (ref text, ts timestamptz, action text)
  SERVER syncsrv OPTIONS (collection 'Synced', events 'true');
SELECT s.seen_until > s.high_water AS past_the_mark,
       s.seen_until = (SELECT max(ts) FROM synced_feed WHERE ts > s.high_water)
         AS at_last_deletion
  FROM fauna_sync_state s;
-- the next call reads the feed from there (the emulator's request log)
SELECT (extract(epoch FROM seen_until) * 1000000)::bigint AS seen_us
  FROM fauna_sync_state \gset
\setenv EXPECTED_START_US :seen_us
CALL fauna_sync('synced', 'synced_copy');
\! python3 test/feed_start.py
SELECT * FROM sync_check;

-- a failure changes nothing, the mark included
\! python3 test/fauna_write.py 'Synced.where(.n == 8).forEach(d => d.update({ name: "eight" }))'
SELECT high_water AS mark_before FROM fauna_sync_state \gset
ALTER USER MAPPING FOR CURRENT_USER SERVER syncsrv OPTIONS (SET secret 'wrong');
CALL fauna_sync('synced', 'synced_copy');
ALTER USER MAPPING FOR CURRENT_USER SERVER syncsrv OPTIONS (SET secret :'fauna_secret');
SELECT high_water = :'mark_before' AS mark_unchanged FROM fauna_sync_state;
SELECT name FROM synced_copy WHERE n = 8;
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;
SELECT name FROM synced_copy WHERE n = 8;

-- marks older than the feed's history (no sync for longer than it keeps):
-- a full copy instead, which also deletes local rows whose document is gone
UPDATE fauna_sync_state SET high_water = '2000-01-01', seen_until = '2000-01-01';
INSERT INTO synced_copy (ref, n) VALUES ('1', -1);
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;

-- inside a transaction block, rolled back: nothing stays
BEGIN;
\! python3 test/fauna_write.py 'Synced.create({ n: 11 })'
CALL fauna_sync('synced', 'synced_copy');
SELECT count(*) FROM synced_copy WHERE n = 11;
ROLLBACK;
SELECT count(*) FROM synced_copy WHERE n = 11;
CALL fauna_sync('synced', 'synced_copy');
SELECT * FROM sync_check;

-- misuse
CREATE TABLE no_pk (ref text, n int);
CALL fauna_sync('synced', 'no_pk');
CREATE FOREIGN TABLE synced_events (ref text, ts timestamptz, action text)
  SERVER syncsrv OPTIONS (collection 'Synced', events 'true');
CALL fauna_sync('synced_events', 'synced_copy');
CALL fauna_sync('no_pk', 'synced_copy');
CREATE FOREIGN TABLE synced_nots (ref text, n int)
  SERVER syncsrv OPTIONS (collection 'Synced');
CALL fauna_sync('synced_nots', 'synced_copy');

-- the state is part of a dump
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'fauna_fdw';
