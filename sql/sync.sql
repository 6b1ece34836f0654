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

-- "ref" and "ts" must be the document's id and ts: a path naming another
-- field is refused before anything is read or marked
CREATE FOREIGN TABLE synced_badts (ref text, ts timestamptz OPTIONS (path 'created'), n int)
  SERVER syncsrv OPTIONS (collection 'Synced');
CALL fauna_sync('synced_badts', 'synced_copy');
CREATE FOREIGN TABLE synced_badref (ref text OPTIONS (path 'n'), ts timestamptz, n int)
  SERVER syncsrv OPTIONS (collection 'Synced');
CALL fauna_sync('synced_badref', 'synced_copy');
SELECT count(*) AS marks_of_refused_tables FROM fauna_sync_state
 WHERE foreign_table IN ('synced_badts'::regclass, 'synced_badref'::regclass);

-- a local "ref" of another type (bigint) than the foreign one (text), and
-- the paths spelled out ('id', 'ts'): ids are cast, upserts and deletions
-- match them
CREATE FOREIGN TABLE synced_id (ref text OPTIONS (path 'id'), ts timestamptz OPTIONS (path 'ts'),
                                n int, name text)
  SERVER syncsrv OPTIONS (collection 'Synced', page_size '3');
CREATE TABLE synced_big (ref bigint PRIMARY KEY, ts timestamptz, n int, name text);
CREATE VIEW big_check AS
  SELECT (SELECT count(*) FROM synced_big) AS local_rows,
         (SELECT count(*) FROM (
            (SELECT ref::bigint, ts, n, name FROM synced_id
             EXCEPT SELECT ref, ts, n, name FROM synced_big)
            UNION ALL
            (SELECT ref, ts, n, name FROM synced_big
             EXCEPT SELECT ref::bigint, ts, n, name FROM synced_id)) d) AS differences,
         s.upserted, s.deleted, s.full_copy
    FROM fauna_sync_state s
   WHERE s.foreign_table = 'synced_id'::regclass AND s.local_table = 'synced_big'::regclass;
CALL fauna_sync('synced_id', 'synced_big');
SELECT * FROM big_check;
\! python3 test/fauna_write.py 'Synced.create({ n: 12, name: "big" })'
\! python3 test/fauna_write.py 'Synced.where(.n == 3).forEach(d => d.delete())'
\! python3 test/fauna_write.py 'Synced.where(.n == 4).forEach(d => d.update({ name: "four" }))'
CALL fauna_sync('synced_id', 'synced_big');
SELECT * FROM big_check;
SELECT n, name FROM synced_big ORDER BY n;

-- privileges: a role syncs a pair with its own privileges, and sees and
-- changes only the marks of pairs it may sync
CREATE ROLE regress_sync_owner;
CREATE ROLE regress_sync_other;
GRANT USAGE ON FOREIGN SERVER syncsrv TO regress_sync_owner;
CREATE USER MAPPING FOR regress_sync_owner SERVER syncsrv
  OPTIONS (secret :'fauna_secret');
CREATE SCHEMA sync_own AUTHORIZATION regress_sync_owner;
SET search_path = public, sync_own;
SET ROLE regress_sync_owner;
CREATE FOREIGN TABLE sync_own.owner_ft (ref text, ts timestamptz, n int)
  SERVER syncsrv OPTIONS (collection 'Synced');
CREATE TABLE sync_own.owner_copy (ref text PRIMARY KEY, ts timestamptz, n int);
GRANT USAGE ON SCHEMA sync_own TO regress_sync_other;
CALL fauna_sync('owner_ft', 'owner_copy');
SELECT (SELECT count(*) FROM owner_copy) = (SELECT count(*) FROM owner_ft) AS copied;
-- its own pair only (the superuser's pairs are not its)
SELECT foreign_table, local_table, full_copy FROM fauna_sync_marks;
SELECT foreign_table, local_table FROM fauna_sync_state;
SELECT fauna_sync_reset('owner_ft', 'owner_copy') AS was_marked;
CALL fauna_sync('owner_ft', 'owner_copy');
SELECT full_copy FROM fauna_sync_marks;
CALL fauna_sync('synced', 'synced_copy');
RESET ROLE;
SELECT high_water AS owner_mark FROM fauna_sync_state
 WHERE foreign_table = 'owner_ft'::regclass \gset
-- another role: nothing to see, nothing it may change
SET ROLE regress_sync_other;
SELECT count(*) AS visible_marks FROM fauna_sync_marks;
SELECT count(*) AS visible_marks FROM fauna_sync_state;
UPDATE fauna_sync_state SET high_water = '2100-01-01';
DELETE FROM fauna_sync_state;
INSERT INTO fauna_sync_state VALUES ('owner_ft', 'owner_copy', '2100-01-01', '2100-01-01', now(), 0, 0, false);
TRUNCATE fauna_sync_state;
SELECT fauna_sync_reset('owner_ft', 'owner_copy');
CALL fauna_sync('owner_ft', 'owner_copy');
RESET ROLE;
-- each missing privilege, one at a time, with its own error
SET ROLE regress_sync_owner;
GRANT SELECT ON owner_ft TO regress_sync_other;
RESET ROLE;
SET ROLE regress_sync_other;
CALL fauna_sync('owner_ft', 'owner_copy');
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER syncsrv TO regress_sync_other;
SET ROLE regress_sync_other;
CALL fauna_sync('owner_ft', 'owner_copy');
RESET ROLE;
CREATE USER MAPPING FOR regress_sync_other SERVER syncsrv
  OPTIONS (secret :'fauna_secret');
SET ROLE regress_sync_other;
CALL fauna_sync('owner_ft', 'owner_copy');
SELECT count(*) AS visible_marks FROM fauna_sync_marks;
RESET ROLE;
SET ROLE regress_sync_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON owner_copy TO regress_sync_other;
RESET ROLE;
-- with all of them: it may sync the pair, and sees its marks
SET ROLE regress_sync_other;
SELECT foreign_table, local_table FROM fauna_sync_marks;
CALL fauna_sync('owner_ft', 'owner_copy');
SELECT full_copy, upserted FROM fauna_sync_marks;
RESET ROLE;
SELECT high_water = :'owner_mark' AS owner_mark_unchanged FROM fauna_sync_state
 WHERE foreign_table = 'owner_ft'::regclass;
DELETE FROM fauna_sync_state WHERE foreign_table = 'owner_ft'::regclass;
DROP OWNED BY regress_sync_owner, regress_sync_other CASCADE;
DROP ROLE regress_sync_owner, regress_sync_other;
RESET search_path;

-- the state is part of a dump
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'fauna_fdw';
