/* fauna_fdw--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION fauna_fdw" to load this file. \quit

CREATE FUNCTION fauna_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION fauna_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER fauna_fdw
  HANDLER fauna_fdw_handler
  VALIDATOR fauna_fdw_validator;

-- Close every cached connection of this backend; true if any was closed.
CREATE FUNCTION fauna_fdw_disconnect()
RETURNS bool
AS 'MODULE_PATHNAME', 'fauna_fdw_disconnect_all'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Close the cached connections to one server; true if any was closed.
CREATE FUNCTION fauna_fdw_disconnect(text)
RETURNS bool
AS 'MODULE_PATHNAME', 'fauna_fdw_disconnect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Cached connections of this backend: server name and whether it is still
-- valid (false once ALTER SERVER / ALTER USER MAPPING changed its options).
CREATE FUNCTION fauna_fdw_get_connections(OUT server_name text, OUT valid boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Check a server as a connector's "check connection" does: connect,
-- authenticate, list collections, and per collection read one document,
-- find the ts index used for incremental reads and create an event source.
-- Failures are rows (ok = false), never errors, so one bad collection does
-- not hide the others.
CREATE FUNCTION fauna_fdw_check(server_name text,
                                OUT collection text, OUT test text,
                                OUT ok boolean, OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- The same for some collections only (exact names); one asked for that does
-- not exist is a row too.
CREATE FUNCTION fauna_fdw_check(server_name text, collections text[],
                                OUT collection text, OUT test text,
                                OUT ok boolean, OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fauna_fdw_check'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- The Fauna transaction time of the snapshot the last completed scan of a
-- foreign table read in this session (NULL if none): where a refresh that
-- read "ts > mark" has seen the collection up to, even if it read nothing.
CREATE FUNCTION fauna_fdw_scan_snapshot(foreign_table regclass)
RETURNS timestamptz
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

-- ----------------------------------------------------------------
-- fauna_sync: keep a local copy of a foreign table in sync
-- ----------------------------------------------------------------

-- The marks of each (foreign table, local table) pair.  Dumped with the
-- database (pg_extension_config_dump), so a restored copy resumes where it
-- was.
CREATE TABLE fauna_sync_state (
  foreign_table regclass NOT NULL,
  local_table regclass NOT NULL,
  high_water timestamptz,         -- the greatest document ts the last sync
                                  -- read; NULL: the next call copies all
  seen_until timestamptz,         -- the Fauna time of the snapshot the last
                                  -- sync read: deletions are read after it
  synced_at timestamptz NOT NULL, -- transaction time of the last sync
  upserted bigint NOT NULL,       -- rows written by the last sync
  deleted bigint NOT NULL,        -- rows deleted by the last sync
  full_copy boolean NOT NULL,     -- whether the last sync was a full copy
  PRIMARY KEY (foreign_table, local_table)
);
SELECT pg_catalog.pg_extension_config_dump('fauna_sync_state', '');

-- CALL fauna_sync(foreign_table, local_table): bring local_table up to
-- date with foreign_table, in one transaction.
--   * local_table needs a primary key (or unique index) on "ref" and gets
--     the columns it shares by name with foreign_table, which needs "ref"
--     and "ts" (timestamptz) columns.
--   * First call (no high-water mark): a full copy, read in one snapshot;
--     local rows whose ref is not in Fauna are deleted.
--   * Later calls: documents with ts > high-water mark are upserted
--     (INSERT ... ON CONFLICT (ref) DO UPDATE); the documents removed after
--     the last sync's snapshot (seen_until), read from the collection's
--     event feed through a temporary event table over the same server and
--     collection, are deleted, unless the document read by this call is
--     newer than its removal (re-created with the same id).  The new mark
--     is the greatest ts read: one scan reads one snapshot, so documents
--     sharing that ts (one transaction) are all in it.  seen_until becomes
--     that scan's snapshot time (fauna_fdw_scan_snapshot), which moves on
--     even while the collection is quiet.
--   * If the feed no longer holds events that old (the time since the last
--     sync is longer than the collection's history), a full copy is made
--     instead.
--   * Calls for the same pair are serialized (transaction advisory lock);
--     on any error nothing changes, the mark included.
CREATE PROCEDURE fauna_sync(foreign_table regclass, local_table regclass)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fauna_sync$
DECLARE
  srv_name text;
  coll text;
  page_size text;
  ref_type text;
  ts_type text;
  cols text;
  upd text;
  hwm timestamptz;
  new_hwm timestamptz;
  seen timestamptz;
  snap timestamptz;
  is_full boolean;
  n_up bigint := 0;
  n_del bigint := 0;
  ev_table text := format('fauna_sync_events_%s', foreign_table::oid);
  detail text;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    format('fauna_sync %s %s', foreign_table::oid, local_table::oid), 0));

  -- the foreign table: a document table of fauna_fdw
  SELECT s.srvname INTO srv_name
    FROM pg_catalog.pg_foreign_table ft
    JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
    JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
   WHERE ft.ftrelid = foreign_table AND w.fdwname = 'fauna_fdw';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation "%" is not a foreign table of fauna_fdw', foreign_table
      USING ERRCODE = 'wrong_object_type';
  END IF;
  SELECT o.option_value INTO coll
    FROM pg_catalog.pg_options_to_table(
           (SELECT ftoptions FROM pg_catalog.pg_foreign_table WHERE ftrelid = foreign_table)) o
   WHERE o.option_name = 'collection';
  SELECT o.option_value INTO page_size
    FROM pg_catalog.pg_options_to_table(
           (SELECT ftoptions FROM pg_catalog.pg_foreign_table WHERE ftrelid = foreign_table)) o
   WHERE o.option_name = 'page_size';
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_options_to_table(
               (SELECT ftoptions FROM pg_catalog.pg_foreign_table WHERE ftrelid = foreign_table)) o
              WHERE o.option_name = 'events' AND o.option_value IN ('true', 'on', 'yes', '1')) THEN
    RAISE EXCEPTION 'foreign table "%" is an event table', foreign_table
      USING ERRCODE = 'wrong_object_type',
            HINT = 'Sync from the document table of the collection.';
  END IF;
  IF coll IS NULL THEN
    SELECT relname INTO coll FROM pg_catalog.pg_class WHERE oid = foreign_table;
  END IF;

  SELECT pg_catalog.format_type(atttypid, atttypmod) INTO ts_type
    FROM pg_catalog.pg_attribute
   WHERE attrelid = foreign_table AND attname = 'ts' AND attnum > 0 AND NOT attisdropped;
  IF ts_type IS DISTINCT FROM 'timestamp with time zone' THEN
    RAISE EXCEPTION 'foreign table "%" needs a column "ts" of type timestamptz', foreign_table
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  SELECT pg_catalog.format_type(atttypid, atttypmod) INTO ref_type
    FROM pg_catalog.pg_attribute
   WHERE attrelid = local_table AND attname = 'ref' AND attnum > 0 AND NOT attisdropped;
  IF ref_type IS NULL OR NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_attribute
        WHERE attrelid = foreign_table AND attname = 'ref' AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'tables "%" and "%" need a column "ref"', foreign_table, local_table
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = local_table AND i.indisunique AND i.indnkeyatts = 1
          AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indkey[0] = (SELECT attnum FROM pg_catalog.pg_attribute
                              WHERE attrelid = local_table AND attname = 'ref')) THEN
    RAISE EXCEPTION 'table "%" has no primary key on "ref"', local_table
      USING ERRCODE = 'invalid_table_definition',
            HINT = format('ALTER TABLE %s ADD PRIMARY KEY (ref);', local_table);
  END IF;

  -- the columns both tables have, in the local table's order
  SELECT string_agg(quote_ident(l.attname), ', ' ORDER BY l.attnum),
         string_agg(format('%1$I = EXCLUDED.%1$I', l.attname), ', ' ORDER BY l.attnum)
           FILTER (WHERE l.attname <> 'ref')
    INTO cols, upd
    FROM pg_catalog.pg_attribute l
    JOIN pg_catalog.pg_attribute f
      ON f.attrelid = foreign_table AND f.attname = l.attname
     AND f.attnum > 0 AND NOT f.attisdropped
   WHERE l.attrelid = local_table AND l.attnum > 0 AND NOT l.attisdropped
     AND l.attgenerated = '';

  SELECT s.high_water, s.seen_until INTO hwm, seen FROM fauna_sync_state s
   WHERE s.foreign_table = fauna_sync.foreign_table
     AND s.local_table = fauna_sync.local_table;
  is_full := hwm IS NULL;

  IF NOT is_full THEN
    -- documents changed after the mark: one scan, one snapshot
    EXECUTE format('CREATE TEMP TABLE fauna_sync_changed ON COMMIT DROP AS '
                   'SELECT %s, ts AS fauna_sync_ts FROM %s WHERE ts > $1',
                   cols, foreign_table) USING hwm;
    snap := fauna_fdw_scan_snapshot(foreign_table);
    -- documents removed after the last snapshot, from the event feed: every
    -- earlier removal was applied by the last call (its feed read ran after
    -- its scan)
    IF pg_catalog.to_regclass(format('pg_temp.%I', ev_table)) IS NOT NULL THEN
      EXECUTE format('DROP FOREIGN TABLE pg_temp.%I', ev_table);
    END IF;
    EXECUTE format('CREATE FOREIGN TABLE pg_temp.%I (ref text, ts timestamptz, '
                   'action text OPTIONS (path %L)) SERVER %I OPTIONS '
                   '(collection %L, events %L%s)',
                   ev_table, 'action', srv_name, coll, 'true',
                   CASE WHEN page_size IS NULL THEN ''
                        ELSE format(', page_size %L', page_size) END);
    BEGIN
      EXECUTE format('CREATE TEMP TABLE fauna_sync_removed ON COMMIT DROP AS '
                     'SELECT ref::%s AS ref, max(ts) AS removed_at FROM pg_temp.%I '
                     'WHERE ts > $1 AND action = %L GROUP BY 1',
                     ref_type, ev_table, 'remove') USING greatest(hwm, seen);
    EXCEPTION WHEN fdw_error THEN
      GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
      IF detail NOT LIKE '%invalid_stream_start_time%' THEN
        RAISE;
      END IF;
      -- the feed has forgotten that far back: copy everything instead
      is_full := true;
      DROP TABLE fauna_sync_changed;
    END;
    EXECUTE format('DROP FOREIGN TABLE pg_temp.%I', ev_table);
  END IF;

  IF is_full THEN
    EXECUTE format('CREATE TEMP TABLE fauna_sync_changed ON COMMIT DROP AS '
                   'SELECT %s, ts AS fauna_sync_ts FROM %s',
                   cols, foreign_table);
    snap := fauna_fdw_scan_snapshot(foreign_table);
    -- local rows whose document is gone
    EXECUTE format('DELETE FROM %s l WHERE NOT EXISTS '
                   '(SELECT 1 FROM fauna_sync_changed c WHERE c.ref = l.ref)',
                   local_table);
    GET DIAGNOSTICS n_del = ROW_COUNT;
  END IF;

  EXECUTE format('INSERT INTO %s AS l (%s) SELECT %s FROM fauna_sync_changed '
                 'ON CONFLICT (ref) DO %s',
                 local_table, cols, cols,
                 CASE WHEN upd IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || upd END);
  GET DIAGNOSTICS n_up = ROW_COUNT;

  IF NOT is_full THEN
    -- a removal older than the document read now was followed by a
    -- re-creation under the same id: keep it
    EXECUTE format('DELETE FROM %s l USING fauna_sync_removed r WHERE l.ref = r.ref '
                   'AND NOT EXISTS (SELECT 1 FROM fauna_sync_changed c '
                   'WHERE c.ref = r.ref AND c.fauna_sync_ts > r.removed_at)',
                   local_table);
    GET DIAGNOSTICS n_del = ROW_COUNT;
    DROP TABLE fauna_sync_removed;
  END IF;

  SELECT max(fauna_sync_ts) INTO new_hwm FROM fauna_sync_changed;
  DROP TABLE fauna_sync_changed;
  new_hwm := greatest(new_hwm, hwm);

  INSERT INTO fauna_sync_state AS s
         (foreign_table, local_table, high_water, seen_until, synced_at,
          upserted, deleted, full_copy)
  VALUES (fauna_sync.foreign_table, fauna_sync.local_table, new_hwm,
          greatest(snap, seen, new_hwm), now(), n_up, n_del, is_full)
  ON CONFLICT ON CONSTRAINT fauna_sync_state_pkey DO UPDATE
     SET high_water = EXCLUDED.high_water, seen_until = EXCLUDED.seen_until,
         synced_at = EXCLUDED.synced_at,
         upserted = EXCLUDED.upserted, deleted = EXCLUDED.deleted,
         full_copy = EXCLUDED.full_copy;
END
$fauna_sync$;
