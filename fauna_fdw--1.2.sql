/* fauna_fdw--1.2.sql: the wrapper, its functions, and fauna_sync with its marks */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION fauna_fdw" to load this file. \quit

-- Every object is named with its schema (@extschema@, pg_catalog, pg_temp),
-- and every SQL and PL/pgSQL function pins search_path to pg_catalog,
-- pg_temp, so that no object of another schema (public, say) can stand in
-- for one of the extension's or of PostgreSQL's: see "Security
-- Considerations for Extension Scripts" in the PostgreSQL documentation.
-- The extension names its own schema, so it is not relocatable.  The C
-- functions look nothing up by name.

CREATE FUNCTION @extschema@.fauna_fdw_handler()
RETURNS pg_catalog.fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.fauna_fdw_validator(pg_catalog.text[], pg_catalog.oid)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER fauna_fdw
  HANDLER @extschema@.fauna_fdw_handler
  VALIDATOR @extschema@.fauna_fdw_validator;

-- Close every cached connection of this backend; true if any was closed.
CREATE FUNCTION @extschema@.fauna_fdw_disconnect()
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'fauna_fdw_disconnect_all'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Close the cached connections to one server; true if any was closed.
CREATE FUNCTION @extschema@.fauna_fdw_disconnect(pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'fauna_fdw_disconnect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Cached connections of this backend: server name and whether it is still
-- valid (false once ALTER SERVER / ALTER USER MAPPING changed its options).
CREATE FUNCTION @extschema@.fauna_fdw_get_connections(OUT server_name pg_catalog.text,
                                                      OUT valid pg_catalog.bool)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Check a server as a connector's "check connection" does: connect,
-- authenticate, list collections, and per collection read one document,
-- find the ts index used for incremental reads and create an event source.
-- Failures are rows (ok = false), never errors, so one bad collection does
-- not hide the others: each test runs in a subtransaction, which no
-- query in parallel mode may start (PARALLEL UNSAFE).
CREATE FUNCTION @extschema@.fauna_fdw_check(server_name pg_catalog.text,
                                            OUT collection pg_catalog.text,
                                            OUT test pg_catalog.text,
                                            OUT ok pg_catalog.bool,
                                            OUT detail pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT PARALLEL UNSAFE;

-- The same for some collections only (exact names); one asked for that does
-- not exist is a row too.
CREATE FUNCTION @extschema@.fauna_fdw_check(server_name pg_catalog.text,
                                            collections pg_catalog.text[],
                                            OUT collection pg_catalog.text,
                                            OUT test pg_catalog.text,
                                            OUT ok pg_catalog.bool,
                                            OUT detail pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fauna_fdw_check'
LANGUAGE C STRICT PARALLEL UNSAFE;

-- The Fauna transaction time of the snapshot the last completed scan of a
-- foreign table read in this session (NULL if none): where a refresh that
-- read "ts > mark" has seen the collection up to, even if it read nothing.
CREATE FUNCTION @extschema@.fauna_fdw_scan_snapshot(foreign_table pg_catalog.regclass)
RETURNS pg_catalog.timestamptz
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

-- The columns IMPORT FOREIGN SCHEMA ... OPTIONS (infer, infer_depth) would
-- add for one collection, from a sample of up to "sample" documents, with
-- what was seen; creates nothing.  Needs USAGE on the server and reads with
-- the caller's user mapping, as IMPORT does.
CREATE FUNCTION @extschema@.fauna_fdw_infer(server pg_catalog.name,
                                            collection pg_catalog.text,
                                            sample pg_catalog.int4 DEFAULT 1000,
                                            depth pg_catalog.int4 DEFAULT 1)
RETURNS TABLE (column_name pg_catalog.text, column_type pg_catalog.text,
               path pg_catalog.text, present pg_catalog.int8,
               sampled pg_catalog.int8, seen pg_catalog.text,
               comment pg_catalog.text)
AS 'MODULE_PATHNAME', 'fauna_fdw_infer'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- ----------------------------------------------------------------
-- fauna_sync: keep a local copy of a foreign table in sync
-- ----------------------------------------------------------------

-- The marks of each (foreign table, local table) pair.  Dumped with the
-- database (pg_extension_config_dump), so a restored copy resumes where it
-- was.
CREATE TABLE @extschema@.fauna_sync_state (
  foreign_table pg_catalog.regclass NOT NULL,
  local_table pg_catalog.regclass NOT NULL,
  high_water pg_catalog.timestamptz,         -- the greatest document ts the last
                                             -- sync read; NULL: the next call
                                             -- copies all
  seen_until pg_catalog.timestamptz,         -- the Fauna time of the snapshot the
                                             -- last sync read: deletions are
                                             -- read after it
  synced_at pg_catalog.timestamptz NOT NULL, -- transaction time of the last sync
  upserted pg_catalog.int8 NOT NULL,         -- rows written by the last sync
  deleted pg_catalog.int8 NOT NULL,          -- rows deleted by the last sync
  full_copy pg_catalog.bool NOT NULL,        -- whether the last sync was a full copy
  PRIMARY KEY (foreign_table, local_table)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fauna_sync_state', '');

-- >>> fauna_sync's privileges and procedure (fauna_fdw--1.0--1.1.sql holds
-- >>> the same text, from here to the end)
-- Which privilege the current role lacks to sync the pair, or NULL when it
-- has them all.  Syncing reads the foreign table and writes the local one
-- with the caller's own privileges, so the rule is what those need: SELECT
-- on the foreign table, USAGE on its server (fauna_sync reads removals
-- through a temporary foreign table on it) and a user mapping there (the
-- caller's or PUBLIC's); SELECT, INSERT, UPDATE and DELETE on the local
-- table.  The same rule guards the pair's marks (the row-level security
-- policy below).  The answer: 'fauna table' (not a foreign table of
-- fauna_fdw, or no such relation), 'foreign table', 'server',
-- 'user mapping' or 'local table'.
CREATE FUNCTION @extschema@.fauna_sync_missing_privilege(foreign_table pg_catalog.regclass,
                                                         local_table pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fauna_sync_missing_privilege$
  WITH srv AS (
    SELECT s.oid
      FROM pg_catalog.pg_foreign_table ft
      JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
      JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
     WHERE ft.ftrelid = $1 AND w.fdwname = 'fauna_fdw')
  SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM srv) THEN 'fauna table'
    WHEN NOT coalesce(pg_catalog.has_table_privilege($1, 'SELECT'), false)
      THEN 'foreign table'
    WHEN NOT coalesce(pg_catalog.has_server_privilege((SELECT oid FROM srv), 'USAGE'), false)
      THEN 'server'
    WHEN NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_user_mappings um
            WHERE um.srvid = (SELECT oid FROM srv)
              AND (um.umuser = 0 OR um.umuser = (SELECT r.oid FROM pg_catalog.pg_roles r
                                                   WHERE r.rolname = CURRENT_USER)))
      THEN 'user mapping'
    WHEN NOT (coalesce(pg_catalog.has_table_privilege($2, 'SELECT'), false)
              AND coalesce(pg_catalog.has_table_privilege($2, 'INSERT'), false)
              AND coalesce(pg_catalog.has_table_privilege($2, 'UPDATE'), false)
              AND coalesce(pg_catalog.has_table_privilege($2, 'DELETE'), false))
      THEN 'local table'
  END
$fauna_sync_missing_privilege$;

-- Raise a clear error unless the current role may sync the pair, then take
-- the pair's transaction advisory lock, so that calls for one pair
-- (fauna_sync, fauna_sync_reset) never interleave.
CREATE FUNCTION @extschema@.fauna_sync_lock_pair(foreign_table pg_catalog.regclass,
                                                 local_table pg_catalog.regclass)
RETURNS pg_catalog.void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fauna_sync_lock_pair$
DECLARE
  missing pg_catalog.text :=
    @extschema@.fauna_sync_missing_privilege(foreign_table, local_table);
  srv_name pg_catalog.text;
BEGIN
  SELECT s.srvname INTO srv_name
    FROM pg_catalog.pg_foreign_table ft
    JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
   WHERE ft.ftrelid = foreign_table;
  IF missing = 'fauna table' THEN
    RAISE EXCEPTION 'relation "%" is not a foreign table of fauna_fdw', foreign_table
      USING ERRCODE = 'wrong_object_type';
  ELSIF missing = 'foreign table' THEN
    RAISE EXCEPTION 'permission denied for foreign table %', foreign_table
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'fauna_sync reads the foreign table with the privileges of the calling role.';
  ELSIF missing = 'server' THEN
    RAISE EXCEPTION 'permission denied for foreign server %', srv_name
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'fauna_sync reads removals through a temporary foreign table on the server, which needs USAGE on it.';
  ELSIF missing = 'user mapping' THEN
    RAISE EXCEPTION 'user mapping not found for user "%", server "%"', CURRENT_USER, srv_name
      USING ERRCODE = 'undefined_object',
            HINT = 'Create one: CREATE USER MAPPING FOR CURRENT_USER SERVER ... OPTIONS (secret ''...'').';
  ELSIF missing = 'local table' THEN
    RAISE EXCEPTION 'permission denied for table %', local_table
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'fauna_sync needs SELECT, INSERT, UPDATE and DELETE on the local table.';
  ELSIF missing IS NOT NULL THEN
    RAISE EXCEPTION 'unexpected answer "%" of fauna_sync_missing_privilege', missing;
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    pg_catalog.format('fauna_sync %s %s', foreign_table::pg_catalog.oid,
                      local_table::pg_catalog.oid), 0));
END
$fauna_sync_lock_pair$;

-- The marks are read and written only with the privileges of the calling
-- role: every role may use the table, and a row-level security policy
-- shows and accepts only the rows of pairs that role may sync.  TRUNCATE
-- (which ignores row-level security), REFERENCES and TRIGGER stay with the
-- owner.  A superuser, the table's owner and BYPASSRLS roles see every row.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE @extschema@.fauna_sync_state TO PUBLIC;
ALTER TABLE @extschema@.fauna_sync_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY fauna_sync_state_pairs ON @extschema@.fauna_sync_state
  USING (@extschema@.fauna_sync_missing_privilege(foreign_table, local_table) IS NULL)
  WITH CHECK (@extschema@.fauna_sync_missing_privilege(foreign_table, local_table) IS NULL);

-- The marks of the pairs the current role may sync.
CREATE VIEW @extschema@.fauna_sync_marks WITH (security_invoker = true) AS
  SELECT s.foreign_table, s.local_table, s.high_water, s.seen_until, s.synced_at,
         s.upserted, s.deleted, s.full_copy
    FROM @extschema@.fauna_sync_state s;
GRANT SELECT ON TABLE @extschema@.fauna_sync_marks TO PUBLIC;

-- Forget the marks of a pair: its next fauna_sync makes a full copy.  True
-- if there were marks.  Needs the privileges to sync the pair.
CREATE FUNCTION @extschema@.fauna_sync_reset(foreign_table pg_catalog.regclass,
                                             local_table pg_catalog.regclass)
RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fauna_sync_reset$
BEGIN
  PERFORM @extschema@.fauna_sync_lock_pair(foreign_table, local_table);
  DELETE FROM @extschema@.fauna_sync_state s
   WHERE s.foreign_table = fauna_sync_reset.foreign_table
     AND s.local_table = fauna_sync_reset.local_table;
  RETURN FOUND;
END
$fauna_sync_reset$;

-- CALL fauna_sync(foreign_table, local_table): bring local_table up to
-- date with foreign_table, in one transaction, with the privileges of the
-- calling role (fauna_sync_missing_privilege says which).
--   * local_table needs a primary key (or unique index) on "ref" and gets
--     the columns it shares by name with foreign_table, which needs "ref"
--     and "ts" (timestamptz) columns holding the document's id and ts.
--     The local "ref" may have another type than the foreign one (bigint,
--     say): ids are cast to it.
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
--   * Calls for the same pair are serialized (fauna_sync_lock_pair); on any
--     error nothing changes, the mark included.
-- Dynamic SQL names relations by schema and quoted name, and operators and
-- aggregates by pg_catalog; the working tables are pg_temp's.
CREATE PROCEDURE @extschema@.fauna_sync(foreign_table pg_catalog.regclass,
                                        local_table pg_catalog.regclass)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fauna_sync$
DECLARE
  foreign_name pg_catalog.text;
  local_name pg_catalog.text;
  srv_name pg_catalog.text;
  coll pg_catalog.text;
  page_size pg_catalog.text;
  ref_type pg_catalog.text;
  ts_type pg_catalog.text;
  ref_path pg_catalog.text;
  ts_path pg_catalog.text;
  cols pg_catalog.text;
  sel pg_catalog.text;
  upd pg_catalog.text;
  hwm pg_catalog.timestamptz;
  new_hwm pg_catalog.timestamptz;
  seen pg_catalog.timestamptz;
  snap pg_catalog.timestamptz;
  is_full pg_catalog.bool;
  n_up pg_catalog.int8 := 0;
  n_del pg_catalog.int8 := 0;
  ev_table pg_catalog.text :=
    pg_catalog.format('fauna_sync_events_%s', foreign_table::pg_catalog.oid);
  detail pg_catalog.text;
BEGIN
  PERFORM @extschema@.fauna_sync_lock_pair(foreign_table, local_table);

  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO foreign_name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = foreign_table;
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO local_name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = local_table;
  SELECT s.srvname INTO srv_name
    FROM pg_catalog.pg_foreign_table ft
    JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
   WHERE ft.ftrelid = foreign_table;
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

  -- "ts" and "ref" of the foreign table: the document's ts and id, that is
  -- no "path" option or one naming them (as the wrapper resolves paths)
  SELECT pg_catalog.format_type(a.atttypid, a.atttypmod),
         (SELECT o.option_value FROM pg_catalog.pg_options_to_table(a.attfdwoptions) o
           WHERE o.option_name = 'path')
    INTO ts_type, ts_path
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = foreign_table AND a.attname = 'ts' AND a.attnum > 0 AND NOT a.attisdropped;
  IF ts_type IS DISTINCT FROM 'timestamp with time zone' THEN
    RAISE EXCEPTION 'foreign table "%" needs a column "ts" of type timestamptz', foreign_table
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF ts_path IS NOT NULL AND ts_path <> 'ts' THEN
    RAISE EXCEPTION 'column "ts" of foreign table "%" is not the document''s ts', foreign_table
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = pg_catalog.format('Its path option is %L; fauna_sync reads changes by the document''s ts.', ts_path),
            HINT = 'Drop the column''s path option, or set it to ''ts''.';
  END IF;
  SELECT (SELECT o.option_value FROM pg_catalog.pg_options_to_table(a.attfdwoptions) o
           WHERE o.option_name = 'path')
    INTO ref_path
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = foreign_table AND a.attname = 'ref' AND a.attnum > 0 AND NOT a.attisdropped;
  SELECT pg_catalog.format_type(atttypid, atttypmod) INTO ref_type
    FROM pg_catalog.pg_attribute
   WHERE attrelid = local_table AND attname = 'ref' AND attnum > 0 AND NOT attisdropped;
  IF ref_type IS NULL OR NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_attribute
        WHERE attrelid = foreign_table AND attname = 'ref' AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'tables "%" and "%" need a column "ref"', foreign_table, local_table
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF ref_path IS NOT NULL AND ref_path NOT IN ('ref', 'id') THEN
    RAISE EXCEPTION 'column "ref" of foreign table "%" is not the document''s id', foreign_table
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = pg_catalog.format('Its path option is %L; fauna_sync matches documents and local rows by id.', ref_path),
            HINT = 'Drop the column''s path option, or set it to ''id''.';
  END IF;
  IF NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = local_table AND i.indisunique AND i.indnkeyatts = 1
          AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indkey[0] = (SELECT attnum FROM pg_catalog.pg_attribute
                              WHERE attrelid = local_table AND attname = 'ref')) THEN
    RAISE EXCEPTION 'table "%" has no primary key on "ref"', local_table
      USING ERRCODE = 'invalid_table_definition',
            HINT = pg_catalog.format('ALTER TABLE %s ADD PRIMARY KEY (ref);', local_name);
  END IF;

  -- the columns both tables have, in the local table's order; the ids are
  -- cast to the local "ref" type
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(l.attname), ', ' ORDER BY l.attnum),
         pg_catalog.string_agg(CASE WHEN l.attname = 'ref'
                                    THEN pg_catalog.format('CAST(ref AS %s) AS ref', ref_type)
                                    ELSE pg_catalog.quote_ident(l.attname) END,
                               ', ' ORDER BY l.attnum),
         pg_catalog.string_agg(pg_catalog.format('%1$I = EXCLUDED.%1$I', l.attname), ', ' ORDER BY l.attnum)
           FILTER (WHERE l.attname <> 'ref')
    INTO cols, sel, upd
    FROM pg_catalog.pg_attribute l
    JOIN pg_catalog.pg_attribute f
      ON f.attrelid = foreign_table AND f.attname = l.attname
     AND f.attnum > 0 AND NOT f.attisdropped
   WHERE l.attrelid = local_table AND l.attnum > 0 AND NOT l.attisdropped
     AND l.attgenerated = '';

  SELECT s.high_water, s.seen_until INTO hwm, seen FROM @extschema@.fauna_sync_state s
   WHERE s.foreign_table = fauna_sync.foreign_table
     AND s.local_table = fauna_sync.local_table;
  is_full := hwm IS NULL;

  IF NOT is_full THEN
    -- documents changed after the mark: one scan, one snapshot
    EXECUTE pg_catalog.format(
      'CREATE TEMPORARY TABLE pg_temp.fauna_sync_changed ON COMMIT DROP AS '
      'SELECT %s, ts AS fauna_sync_ts FROM %s WHERE ts OPERATOR(pg_catalog.>) $1',
      sel, foreign_name) USING hwm;
    snap := @extschema@.fauna_fdw_scan_snapshot(foreign_table);
    -- documents removed after the last snapshot, from the event feed: every
    -- earlier removal was applied by the last call (its feed read ran after
    -- its scan)
    IF pg_catalog.to_regclass(pg_catalog.format('pg_temp.%I', ev_table)) IS NOT NULL THEN
      EXECUTE pg_catalog.format('DROP FOREIGN TABLE pg_temp.%I', ev_table);
    END IF;
    EXECUTE pg_catalog.format(
      'CREATE FOREIGN TABLE pg_temp.%I (ref pg_catalog.text, ts pg_catalog.timestamptz, '
      'action pg_catalog.text OPTIONS (path %L)) SERVER %I OPTIONS '
      '(collection %L, events %L%s)',
      ev_table, 'action', srv_name, coll, 'true',
      CASE WHEN page_size IS NULL THEN ''
           ELSE pg_catalog.format(', page_size %L', page_size) END);
    BEGIN
      EXECUTE pg_catalog.format(
        'CREATE TEMPORARY TABLE pg_temp.fauna_sync_removed ON COMMIT DROP AS '
        'SELECT CAST(ref AS %s) AS ref, pg_catalog.max(ts) AS removed_at FROM pg_temp.%I '
        'WHERE ts OPERATOR(pg_catalog.>) $1 AND action OPERATOR(pg_catalog.=) %L GROUP BY 1',
        ref_type, ev_table, 'remove') USING greatest(hwm, seen);
    EXCEPTION WHEN fdw_error THEN
      GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
      IF detail NOT LIKE '%invalid_stream_start_time%' THEN
        RAISE;
      END IF;
      -- the feed has forgotten that far back: copy everything instead
      is_full := true;
      DROP TABLE pg_temp.fauna_sync_changed;
    END;
    EXECUTE pg_catalog.format('DROP FOREIGN TABLE pg_temp.%I', ev_table);
  END IF;

  IF is_full THEN
    EXECUTE pg_catalog.format(
      'CREATE TEMPORARY TABLE pg_temp.fauna_sync_changed ON COMMIT DROP AS '
      'SELECT %s, ts AS fauna_sync_ts FROM %s',
      sel, foreign_name);
    snap := @extschema@.fauna_fdw_scan_snapshot(foreign_table);
    -- local rows whose document is gone
    EXECUTE pg_catalog.format(
      'DELETE FROM %s l WHERE NOT EXISTS (SELECT 1 FROM pg_temp.fauna_sync_changed c '
      'WHERE c.ref OPERATOR(pg_catalog.=) l.ref)',
      local_name);
    GET DIAGNOSTICS n_del = ROW_COUNT;
  END IF;

  EXECUTE pg_catalog.format(
    'INSERT INTO %s AS l (%s) SELECT %s FROM pg_temp.fauna_sync_changed '
    'ON CONFLICT (ref) DO %s',
    local_name, cols, cols,
    CASE WHEN upd IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || upd END);
  GET DIAGNOSTICS n_up = ROW_COUNT;

  IF NOT is_full THEN
    -- a removal older than the document read now was followed by a
    -- re-creation under the same id: keep it
    EXECUTE pg_catalog.format(
      'DELETE FROM %s l USING pg_temp.fauna_sync_removed r '
      'WHERE l.ref OPERATOR(pg_catalog.=) r.ref '
      'AND NOT EXISTS (SELECT 1 FROM pg_temp.fauna_sync_changed c '
      'WHERE c.ref OPERATOR(pg_catalog.=) r.ref '
      'AND c.fauna_sync_ts OPERATOR(pg_catalog.>) r.removed_at)',
      local_name);
    GET DIAGNOSTICS n_del = ROW_COUNT;
    DROP TABLE pg_temp.fauna_sync_removed;
  END IF;

  SELECT pg_catalog.max(c.fauna_sync_ts) INTO new_hwm FROM pg_temp.fauna_sync_changed c;
  DROP TABLE pg_temp.fauna_sync_changed;
  new_hwm := greatest(new_hwm, hwm);

  INSERT INTO @extschema@.fauna_sync_state AS s
         (foreign_table, local_table, high_water, seen_until, synced_at,
          upserted, deleted, full_copy)
  VALUES (fauna_sync.foreign_table, fauna_sync.local_table, new_hwm,
          greatest(snap, seen, new_hwm), pg_catalog.now(), n_up, n_del, is_full)
  ON CONFLICT ON CONSTRAINT fauna_sync_state_pkey DO UPDATE
     SET high_water = EXCLUDED.high_water, seen_until = EXCLUDED.seen_until,
         synced_at = EXCLUDED.synced_at,
         upserted = EXCLUDED.upserted, deleted = EXCLUDED.deleted,
         full_copy = EXCLUDED.full_copy;
END
$fauna_sync$;
