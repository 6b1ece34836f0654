--
-- IMPORT FOREIGN SCHEMA ... OPTIONS (infer 'n', infer_depth 'd') and
-- fauna_fdw_infer(): typed columns inferred from a sample of documents.
-- Its data is written here, first, by test/seed_infer.py (the suite is
-- last, so no other suite's ids move).
--
\set VERBOSITY default
\getenv endpoint FAUNA_ENDPOINT
\getenv secret FAUNA_SECRET
\! python3 test/seed_infer.py

CREATE SERVER inf10 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE SERVER inf4 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0', api_version '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER inf10 OPTIONS (secret :'secret');
CREATE USER MAPPING FOR CURRENT_USER SERVER inf4 OPTIONS (secret :'secret');

-- the columns after ref, ts, ttl, data of a table, with their comments
CREATE VIEW inf_columns AS
  SELECT n.nspname AS schema, c.relname AS table_name, a.attnum,
         a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
         array_to_string(a.attfdwoptions, ', ') AS options,
         col_description(c.oid, a.attnum) AS comment
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname LIKE 'inf\_%' AND a.attnum > 4 AND NOT a.attisdropped;

-- option values are checked
CREATE SCHEMA inf_bad;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall) FROM SERVER inf10 INTO inf_bad
  OPTIONS (infer 'many');
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall) FROM SERVER inf10 INTO inf_bad
  OPTIONS (infer '16001');
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall) FROM SERVER inf10 INTO inf_bad
  OPTIONS (infer '10', infer_depth '0');
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall) FROM SERVER inf10 INTO inf_bad
  OPTIONS (infer '-1');
-- infer '0' infers nothing: the four fixed columns
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall) FROM SERVER inf10 INTO inf_bad
  OPTIONS (infer '0');
SELECT count(*) FROM inf_columns WHERE schema = 'inf_bad';

--
-- Every Fauna type (FQL v10).  Name clashes and names that are no FQL
-- identifier give a NOTICE each; the values stay in data.
--
CREATE SCHEMA inf_v10;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall, infpeople, infnested)
  FROM SERVER inf10 INTO inf_v10 OPTIONS (infer '1000');
SELECT table_name, column_name, type, options FROM inf_columns
  WHERE schema = 'inf_v10' ORDER BY table_name, attnum;
SELECT column_name, comment FROM inf_columns
  WHERE schema = 'inf_v10' AND table_name = 'infall' ORDER BY attnum;
\d+ inf_v10.infpeople

-- the rows read through the typed columns, then each column against the
-- same field of data, read and converted locally
SELECT seq, i, l, d, s, t, dt, b, flag, tags, nums, mixed_arr, obj,
       nothing, num, big, intlong, mix, sparse, maybe, name
  FROM inf_v10.infall ORDER BY seq;
SELECT p.data->>'name' AS author_name
  FROM inf_v10.infall a JOIN inf_v10.infpeople p ON p.ref = a.author
  ORDER BY a.seq;
SELECT count(*) AS rows,
       bool_and(i IS NOT DISTINCT FROM (data->>'i')::integer) AS i,
       bool_and(l IS NOT DISTINCT FROM (data->>'l')::bigint) AS l,
       bool_and(d IS NOT DISTINCT FROM (data->>'d')::double precision) AS d,
       bool_and(s IS NOT DISTINCT FROM data->>'s') AS s,
       bool_and(t IS NOT DISTINCT FROM (data->>'t')::timestamptz) AS t,
       bool_and(dt IS NOT DISTINCT FROM (data->>'dt')::date) AS dt,
       bool_and(b IS NOT DISTINCT FROM
                decode(translate(data->>'b', '-_', '+/'), 'base64')) AS b,
       bool_and(flag IS NOT DISTINCT FROM (data->>'flag')::boolean) AS flag,
       bool_and(author IS NOT DISTINCT FROM data->'author'->>'id') AS author,
       bool_and(tags IS NOT DISTINCT FROM
                ARRAY(SELECT jsonb_array_elements_text(data->'tags'))) AS tags,
       bool_and(nums IS NOT DISTINCT FROM
                ARRAY(SELECT jsonb_array_elements_text(data->'nums'))::integer[]) AS nums,
       bool_and(mixed_arr IS NOT DISTINCT FROM data->'mixed_arr') AS mixed_arr,
       bool_and(obj IS NOT DISTINCT FROM data->'obj') AS obj,
       bool_and(num IS NOT DISTINCT FROM (data->>'num')::double precision) AS num,
       bool_and(big IS NOT DISTINCT FROM (data->>'big')::numeric) AS big,
       bool_and(intlong IS NOT DISTINCT FROM (data->>'intlong')::bigint) AS intlong,
       bool_and(mix IS NOT DISTINCT FROM data->'mix') AS mix,
       bool_and(sparse IS NOT DISTINCT FROM data->>'sparse') AS sparse,
       bool_and(name IS NOT DISTINCT FROM data->>'Name') AS name
  FROM inf_v10.infall;
-- "Name" took the column name "name"; the fields left out are still in data
SELECT seq, data->>'name' AS name, data->>'first name' AS first_name
  FROM inf_v10.infall ORDER BY seq;

--
-- Nested objects: infer_depth '2' flattens a field whose values are all
-- objects (or null) into a column per field of theirs; deeper objects,
-- and fields that are not always objects, stay jsonb.
--
CREATE SCHEMA inf_nested;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infnested)
  FROM SERVER inf10 INTO inf_nested OPTIONS (infer '100', infer_depth '2');
SELECT column_name, type, options, comment FROM inf_columns
  WHERE schema = 'inf_nested' ORDER BY attnum;
SELECT n, address_city, address_zip, address_geo, meta FROM inf_nested.infnested
  ORDER BY n;
SELECT bool_and(address_city IS NOT DISTINCT FROM data->'address'->>'city') AS city,
       bool_and(address_zip IS NOT DISTINCT FROM (data->'address'->>'zip')::integer) AS zip,
       bool_and(address_geo IS NOT DISTINCT FROM data->'address'->'geo') AS geo
  FROM inf_nested.infnested;
CREATE SCHEMA inf_deep;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infnested)
  FROM SERVER inf10 INTO inf_deep OPTIONS (infer '100', infer_depth '3');
SELECT column_name, type, options FROM inf_columns
  WHERE schema = 'inf_deep' ORDER BY attnum;
SELECT n, address_geo_lat, address_geo_lng FROM inf_deep.infnested ORDER BY n;

--
-- fields 'true' and infer: a declared field wins (its column has no
-- comment), the undeclared ones are inferred.
--
CREATE SCHEMA inf_declared;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infdeclared)
  FROM SERVER inf10 INTO inf_declared OPTIONS (fields 'true', infer '100');
SELECT column_name, type, options, comment FROM inf_columns
  WHERE schema = 'inf_declared' ORDER BY attnum;
SELECT qty, label, extra FROM inf_declared.infdeclared ORDER BY qty;

--
-- The sample is spread over the collection's history when it has a ts
-- index: 8 documents of InfSpread's 40 see the ints of the first 20 and
-- the strings of the last 20 (jsonb).  Without one, the first 8 in id
-- order are read: InfFirst's v looks like an integer.
--
CREATE SCHEMA inf_spread;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infspread, inffirst)
  FROM SERVER inf10 INTO inf_spread OPTIONS (infer '8');
SELECT table_name, column_name, type, comment FROM inf_columns
  WHERE schema = 'inf_spread' ORDER BY table_name, attnum;
-- a later document that does not fit fails loudly, naming the column and
-- the document; widening the column reads it
SELECT count(*) FROM inf_spread.inffirst;
-- (document ids depend on earlier suites: the error's id is checked
-- against the document it should name, k = 21, the first string)
\set VERBOSITY terse
SELECT k, v FROM inf_spread.inffirst ORDER BY k;
\set VERBOSITY default
DO $$
DECLARE
  detail text;
BEGIN
  PERFORM k, v FROM inf_spread.inffirst;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'the detail names the document of k = %',
    (SELECT data->>'k' FROM inf_spread.inffirst
      WHERE ref = substring(detail FROM 'Document id "([0-9]+)"'));
END
$$;
ALTER FOREIGN TABLE inf_spread.inffirst ALTER COLUMN v TYPE jsonb;
-- the path option and the comment stay
SELECT column_name, type, options, comment FROM inf_columns
  WHERE schema = 'inf_spread' AND table_name = 'inffirst' AND column_name = 'v';
SELECT k, v FROM inf_spread.inffirst WHERE k IN (20, 21) ORDER BY k;
SELECT count(*) AS spread_rows, count(*) FILTER (WHERE jsonb_typeof(v) = 'string') AS strings
  FROM inf_spread.infspread;

--
-- The walkthrough of docs/moving.md: a local copy of every imported table,
-- with its comments and a primary key on ref, filled by fauna_sync
--
CREATE SCHEMA inf_app;
DO $$
DECLARE
  t name;
BEGIN
  FOR t IN SELECT relname FROM pg_class
            WHERE relnamespace = 'inf_nested'::regnamespace AND relkind = 'f'
            ORDER BY relname
  LOOP
    EXECUTE format('CREATE TABLE inf_app.%I (LIKE inf_nested.%I INCLUDING COMMENTS, PRIMARY KEY (ref))',
                   t, t);
    EXECUTE format('CALL fauna_sync(%L, %L)',
                   format('inf_nested.%I', t), format('inf_app.%I', t));
  END LOOP;
END
$$;
SELECT n, address_city, address_zip, address_geo, meta FROM inf_app.infnested
  ORDER BY n;
SELECT count(*) AS same_comments FROM inf_columns a JOIN inf_columns f
    ON f.schema = 'inf_nested' AND f.column_name = a.column_name
   AND f.comment = a.comment
  WHERE a.schema = 'inf_app';

--
-- FQL v4: the same collection read over v4 gets the same columns; a
-- collection written over v4, with user fields named id, ts and ref
-- (reserved paths: NOTICEs).
--
CREATE SCHEMA inf_v4;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infall, inf4)
  FROM SERVER inf4 INTO inf_v4 OPTIONS (infer '1000');
SELECT v4.column_name, v4.type, v4.options
  FROM inf_columns v4
  FULL JOIN inf_columns v10
    ON v10.schema = 'inf_v10' AND v10.table_name = 'infall'
   AND v10.column_name = v4.column_name AND v10.type = v4.type
   AND v10.options = v4.options AND v10.comment = v4.comment
  WHERE (v4.schema = 'inf_v4' AND v4.table_name = 'infall' AND v10.column_name IS NULL)
     OR (v4.column_name IS NULL AND v10.schema = 'inf_v10' AND v10.table_name = 'infall');
SELECT column_name, type, options, comment FROM inf_columns
  WHERE schema = 'inf_v4' AND table_name = 'inf4' ORDER BY attnum;
SELECT n, x, "when", day, raw,
       who = (SELECT ref FROM inf_v10.infpeople WHERE data->>'name' = 'Ann') AS who_is_ann,
       list
  FROM inf_v4.inf4 ORDER BY n;
SELECT bool_and(x IS NOT DISTINCT FROM (data->>'x')::double precision) AS x,
       bool_and("when" IS NOT DISTINCT FROM (data->>'when')::timestamptz) AS "when",
       bool_and(day IS NOT DISTINCT FROM (data->>'day')::date) AS day,
       bool_and(who IS NOT DISTINCT FROM data->'who'->>'id') AS who,
       bool_and(list IS NOT DISTINCT FROM
                ARRAY(SELECT jsonb_array_elements_text(data->'list'))::integer[]) AS list
  FROM inf_v4.inf4;
SELECT i, l, t, b, author IS NOT NULL AS has_author, tags
  FROM inf_v4.infall ORDER BY seq;
-- over v4 the import spreads the sample with the [ts, ref] index it listed
IMPORT FOREIGN SCHEMA fauna LIMIT TO (infspread)
  FROM SERVER inf4 INTO inf_v4 OPTIONS (infer '8');
SELECT column_name, type, comment FROM inf_columns
  WHERE schema = 'inf_v4' AND table_name = 'infspread' ORDER BY attnum;

-- a collection the key may not read: the import fails, naming it
\getenv import_secret FAUNA_IMPORT_SECRET
CREATE SERVER inf_limited FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER inf_limited
  OPTIONS (secret :'import_secret');
CREATE SCHEMA inf_hidden;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (imphidden)
  FROM SERVER inf_limited INTO inf_hidden OPTIONS (infer '10');
SELECT count(*) FROM pg_class WHERE relnamespace = 'inf_hidden'::regnamespace;
-- without infer it imports (reading it fails, as fauna_fdw_check shows)
IMPORT FOREIGN SCHEMA fauna LIMIT TO (imphidden)
  FROM SERVER inf_limited INTO inf_hidden;
SELECT count(*) FROM pg_class WHERE relnamespace = 'inf_hidden'::regnamespace;

--
-- fauna_fdw_infer: the same columns and statistics, nothing created
--
SELECT column_name, column_type, path, present, sampled, seen
  FROM fauna_fdw_infer('inf10', 'InfAll') ORDER BY column_name;
SELECT column_name, column_type, path, present, sampled
  FROM fauna_fdw_infer('inf10', 'InfNested', 10, 2) ORDER BY column_name;
-- what sampling sent: the ts index; a read of one document from the
-- oldest; reads of one document bisecting for the newest one's ts; then
-- 7 reads of one document from evenly spaced times in between
SELECT count(*) FROM fauna_fdw_infer('inf10', 'InferMarker', 1);
SELECT column_name, column_type, present, sampled, seen
  FROM fauna_fdw_infer('inf10', 'InfSpread', 8) ORDER BY column_name;
-- (the times depend on how many writes earlier suites made: masked)
\! python3 test/request_log.py InferMarker | sed 's/@time:[0-9T:.Z-]*/@time:<t>/'
-- the same over FQL v4, with its [ts, ref] index
SELECT column_name, column_type, present, sampled, seen
  FROM fauna_fdw_infer('inf4', 'InfSpread', 8) ORDER BY column_name;
SELECT column_name, column_type, path FROM fauna_fdw_infer('inf4', 'Inf4', 5)
  ORDER BY column_name;
-- the comment is the one IMPORT writes
SELECT count(*) AS same_comment FROM fauna_fdw_infer('inf10', 'InfAll') f
  JOIN inf_columns c ON c.schema = 'inf_v10' AND c.table_name = 'infall'
   AND c.column_name = f.column_name AND c.comment = f.comment;
SELECT count(*) AS columns FROM fauna_fdw_infer('inf10', 'InfAll');
SELECT * FROM fauna_fdw_infer('inf10', 'InfAll', 0);
SELECT * FROM fauna_fdw_infer('inf10', 'InfAll', 10, 9);
SELECT * FROM fauna_fdw_infer('inf10', 'NoSuchCollection', 10);
SELECT * FROM fauna_fdw_infer('inf10', 'not a name', 10);
SELECT * FROM fauna_fdw_infer('nosuchserver', 'InfAll', 10);

-- privileges: USAGE on the server, and the caller's own user mapping
CREATE ROLE inf_user;
CREATE ROLE inf_nomap;
GRANT USAGE ON SCHEMA public TO inf_user, inf_nomap;
SET ROLE inf_user;
SELECT count(*) FROM fauna_fdw_infer('inf10', 'InfPeople', 10);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER inf10 TO inf_user, inf_nomap;
CREATE USER MAPPING FOR inf_user SERVER inf10 OPTIONS (secret :'secret');
SET ROLE inf_user;
SELECT column_name, column_type, present, sampled
  FROM fauna_fdw_infer('inf10', 'InfPeople', 10);
RESET ROLE;
SET ROLE inf_nomap;
SELECT count(*) FROM fauna_fdw_infer('inf10', 'InfPeople', 10);
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA inf_hidden, inf_app, inf_bad, inf_v10, inf_nested, inf_deep, inf_declared, inf_spread,
  inf_v4 CASCADE;
DROP USER MAPPING FOR inf_user SERVER inf10;
REVOKE ALL ON FOREIGN SERVER inf10 FROM inf_user, inf_nomap;
REVOKE ALL ON SCHEMA public FROM inf_user, inf_nomap;
DROP ROLE inf_user, inf_nomap;
DROP VIEW inf_columns;
DROP SERVER inf10, inf4, inf_limited CASCADE;
