--
-- IMPORT FOREIGN SCHEMA and fauna_fdw_check()
--
-- Collections seeded by test/seed_import.py.  The database also holds the
-- other suites' collections, so outputs are filtered to this suite's.
--
\getenv endpoint FAUNA_ENDPOINT
\getenv secret FAUNA_SECRET
\getenv import_secret FAUNA_IMPORT_SECRET
\set VERBOSITY default

CREATE SERVER imp_srv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER imp_srv OPTIONS (secret :'secret');

-- the tables this suite looks at, in every schema
CREATE VIEW imp_tables AS
  SELECT n.nspname AS schema, c.relname AS table_name,
         array_to_string(ft.ftoptions, ', ') AS options
  FROM pg_foreign_table ft
  JOIN pg_class c ON c.oid = ft.ftrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname LIKE 'imp\_%'
    AND c.relname !~ '^bulk';

-- import options are checked
CREATE SCHEMA imp_bad;
IMPORT FOREIGN SCHEMA fauna FROM SERVER imp_srv INTO imp_bad
  OPTIONS (colums 'true');
IMPORT FOREIGN SCHEMA fauna FROM SERVER imp_srv INTO imp_bad
  OPTIONS (events 'maybe');

-- ImpClash and impclash both fold to impclash: a clear error, nothing made
IMPORT FOREIGN SCHEMA fauna FROM SERVER imp_srv INTO imp_bad;
SELECT count(*) FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
  WHERE c.relnamespace = 'imp_bad'::regnamespace;

-- LIMIT TO picks one of them (names as the tables are named: folded)
CREATE SCHEMA imp_limit;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (impindexed, OrderItems, "order", nosuch)
  FROM SERVER imp_srv INTO imp_limit;
SELECT table_name, options FROM imp_tables WHERE schema = 'imp_limit'
  ORDER BY table_name;
\d+ imp_limit.impindexed
SELECT data->>'name' AS name, data->>'kind' AS kind,
       ts >= '2024-01-01 00:00:00+00' AS ts_ok,
       ref IS NOT NULL AS has_ref, ttl
  FROM imp_limit.impindexed ORDER BY name;
SELECT data FROM imp_limit.orderitems ORDER BY ref;
SELECT data FROM imp_limit."order" ORDER BY ref;
-- the ts index is used for ranges
EXPLAIN (COSTS OFF) SELECT data FROM imp_limit.impindexed
  WHERE ts >= '2024-01-01' ORDER BY ref;

-- EXCEPT: everything but one of the clashing pair; hundreds of collections
-- come in one statement, listed page by page (page_size 7 on this server)
CREATE SERVER imp_small FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', page_size '7', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER imp_small OPTIONS (secret :'secret');
CREATE SCHEMA imp_all;
IMPORT FOREIGN SCHEMA anything EXCEPT (impclash) FROM SERVER imp_small INTO imp_all;
SELECT count(*) AS bulk_tables FROM pg_class
  WHERE relnamespace = 'imp_all'::regnamespace AND relname ~ '^bulk\d{3}$'
    AND relkind = 'f';
SELECT table_name, options FROM imp_tables WHERE schema = 'imp_all'
  AND table_name IN ('impindexed', 'impsorted', 'impplain', 'orderitems',
                     'order', 'imphidden', 'impclash')
  ORDER BY table_name;
SELECT data FROM imp_all.impplain ORDER BY ref;
SELECT count(*) FROM imp_all.bulk150;

-- events 'true': a <name>_events table per collection, too
CREATE SCHEMA imp_events;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (impplain, impplain_events, order_events)
  FROM SERVER imp_srv INTO imp_events OPTIONS (events 'true');
SELECT table_name, options FROM imp_tables WHERE schema = 'imp_events'
  ORDER BY table_name;
\d imp_events.impplain_events
-- read back: a write to ImpPlain (one transaction: a create and an update)
-- comes through the imported event table, and the document table shows it
SELECT max(ts) AS imp_mark FROM imp_events.impplain \gset
\! python3 test/fauna_write.py 'ImpPlain.create({ n: 3 }); ImpPlain.where(.n == 1).forEach(d => d.update({ seen: true }))'
SELECT action, data, ts > :'imp_mark' AS after_mark
  FROM imp_events.impplain_events WHERE ts > :'imp_mark'
  ORDER BY action, data->>'n';
SELECT count(*) AS same_ts FROM imp_events.impplain_events
  WHERE ts > :'imp_mark' GROUP BY ts;
SELECT data FROM imp_events.impplain ORDER BY data->>'n';
-- a scan of an event table needs a lower bound on ts
SELECT * FROM imp_events.impplain_events;

-- fields 'true': typed columns from the collection's schema
CREATE SCHEMA imp_fields;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (impindexed, impplain)
  FROM SERVER imp_srv INTO imp_fields OPTIONS (fields 'true', events 'false');
\d+ imp_fields.impindexed
\d imp_fields.impplain
SELECT name, qty, big, price, total, active, seenat, day, blob, tags, kind
  FROM imp_fields.impindexed ORDER BY name;
-- every typed column read back, and a ts range through the recorded index
SELECT name, pg_typeof(blob) AS blob_type, encode(blob, 'base64') AS blob_base64,
       length(blob) AS blob_bytes, pg_typeof(seenat) AS seenat_type,
       pg_typeof(total) AS total_type, data->>'blob' AS blob_in_data
  FROM imp_fields.impindexed ORDER BY name;
SELECT name FROM imp_fields.impindexed
  WHERE ts >= (SELECT max(ts) FROM imp_fields.impindexed);
EXPLAIN (COSTS OFF) SELECT name FROM imp_fields.impindexed
  WHERE ts >= '2024-01-01' AND blob IS NOT NULL;
SELECT ref ~ '^[0-9]+$' AS has_id, ts > :'imp_mark' AS written_here, ttl, data
  FROM imp_fields.impplain ORDER BY data->>'n';

-- a key that may not read ImpHidden: the import still works (it only lists)
CREATE SERVER imp_limited FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER imp_limited
  OPTIONS (secret :'import_secret');
CREATE SCHEMA imp_limited;
IMPORT FOREIGN SCHEMA fauna LIMIT TO (imphidden, impplain)
  FROM SERVER imp_limited INTO imp_limited;
SELECT table_name, options FROM imp_tables WHERE schema = 'imp_limited'
  ORDER BY table_name;
SELECT data FROM imp_limited.impplain ORDER BY ref;
SELECT data FROM imp_limited.imphidden;

-- no secret anywhere in the generated DDL or the catalogs it wrote
SELECT count(*) AS leaks FROM pg_foreign_table ft
  JOIN pg_class c ON c.oid = ft.ftrelid
  WHERE c.relnamespace::regnamespace::text LIKE 'imp\_%'
    AND (array_to_string(ft.ftoptions, ',') LIKE '%' || :'secret' || '%'
      OR array_to_string(ft.ftoptions, ',') LIKE '%' || :'import_secret' || '%');
SELECT count(*) AS leaks FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  WHERE c.relnamespace::regnamespace::text LIKE 'imp\_%'
    AND (array_to_string(a.attfdwoptions, ',') LIKE '%' || :'secret' || '%'
      OR array_to_string(a.attfdwoptions, ',') LIKE '%' || :'import_secret' || '%'
      OR a.attname ~* 'secret');

-- fauna_fdw_check: the admin key reads everything
SELECT collection, test, ok,
       CASE WHEN test = 'list collections'
            THEN regexp_replace(detail, '\d+', 'N') ELSE detail END AS detail
  FROM fauna_fdw_check('imp_srv',
                       ARRAY['ImpIndexed', 'ImpSorted', 'ImpPlain', 'OrderItems',
                             'Order', 'ImpHidden', 'Bulk007', 'NoSuch'])
  ORDER BY collection COLLATE "C" NULLS FIRST, test;

-- the limited key: ImpHidden is not readable, and says why; others still show
SELECT collection, test, ok,
       CASE WHEN test = 'list collections'
            THEN regexp_replace(detail, '\d+', 'N') ELSE detail END AS detail
  FROM fauna_fdw_check('imp_limited', ARRAY['ImpHidden', 'ImpPlain', 'Bulk001'])
  WHERE test <> 'ts index'
  ORDER BY collection COLLATE "C" NULLS FIRST, test;

-- a bad secret: a row, not an error
CREATE SERVER imp_badkey FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER imp_badkey
  OPTIONS (secret 'not-a-valid-secret');
SELECT * FROM fauna_fdw_check('imp_badkey') ORDER BY test;
IMPORT FOREIGN SCHEMA fauna FROM SERVER imp_badkey INTO imp_bad;

-- nothing listening: a row too
CREATE SERVER imp_down FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint 'http://127.0.0.1:9', max_retries '0',
           connect_timeout_ms '1000');
CREATE USER MAPPING FOR CURRENT_USER SERVER imp_down OPTIONS (secret 'x');
SELECT collection, test, ok, detail IS NOT NULL AS has_detail
  FROM fauna_fdw_check('imp_down') ORDER BY test;

-- no user mapping: a row
CREATE SERVER imp_nomap FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint');
SELECT collection, test, ok, replace(detail, current_user, 'USER') AS detail
  FROM fauna_fdw_check('imp_nomap') ORDER BY test;

-- no such server; NULL arguments
SELECT * FROM fauna_fdw_check('no_such_server');
SELECT count(*) FROM fauna_fdw_check(NULL);
SELECT collection, test, ok FROM fauna_fdw_check('imp_srv', ARRAY[]::text[])
  ORDER BY test;

-- the check runs inside a transaction without disturbing it
BEGIN;
CREATE TABLE imp_tx (x int);
SELECT count(*) FILTER (WHERE NOT ok) AS failed, count(*) AS checks
  FROM fauna_fdw_check('imp_limited', ARRAY['ImpHidden', 'ImpPlain']);
INSERT INTO imp_tx VALUES (1);
COMMIT;
SELECT * FROM imp_tx;

DROP TABLE imp_tx;
SET client_min_messages = warning;
DROP VIEW imp_tables;
DROP SCHEMA imp_bad, imp_limit, imp_all, imp_events, imp_fields, imp_limited CASCADE;
DROP SERVER imp_srv, imp_small, imp_limited, imp_badkey, imp_down, imp_nomap CASCADE;
