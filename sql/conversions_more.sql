--
-- More conversions (issue 3: "each Fauna type into each compatible column
-- type, and the errors for incompatible ones"), beyond sql/conversions.sql:
-- smallint, arrays of every element type, timestamp without time zone, a
-- non-null ttl, and the seed connector's export case.  The suite writes its
-- own documents (test/seed_conversions_more.py) with explicit ids, so its
-- output does not depend on what earlier suites wrote; document 101 holds
-- values that convert, 102 values that do not (read one at a time with
-- ref = '…', which fetches only that document).
--
\set VERBOSITY default
SET client_min_messages = warning;
SET timezone = 'UTC';
SET extra_float_digits = 0;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET

\! python3 test/seed_conversions_more.py

CREATE SERVER conv2 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER conv2
  OPTIONS (secret :'fauna_secret');

-- smallint: ints up to both limits, a long and an integral double in range
CREATE FOREIGN TABLE more_small (
  ref text, i smallint, smax smallint, smin smallint, l smallint,
  whole smallint
) SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT * FROM more_small WHERE ref = '101';
SELECT pg_typeof(i) FROM more_small WHERE ref = '101';
-- one past each limit, a long past it, a fraction
SELECT i FROM more_small WHERE ref = '102';
SELECT smin FROM more_small WHERE ref = '102';
SELECT l FROM more_small WHERE ref = '102';
SELECT whole FROM more_small WHERE ref = '102';

-- arrays of numeric, float8, bool, date, bytea, json, jsonb, smallint and
-- timestamp: element by element, JSON nulls as NULL elements
CREATE FOREIGN TABLE more_arrays (
  ref text, na numeric[], fa float8[], fa4 real[] OPTIONS (path 'fa'),
  ba bool[], da date[], bya bytea[], ja json[], jba jsonb[] OPTIONS (path 'ja'),
  ia2 smallint[], ta timestamp[], ja_whole jsonb OPTIONS (path 'ja')
) SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT na, fa, fa4, ba, da FROM more_arrays WHERE ref = '101';
SELECT bya, ia2, ta FROM more_arrays WHERE ref = '101';
SELECT convert_from(bya[1], 'UTF8') AS hello, length(bya[3]) AS empty
  FROM more_arrays WHERE ref = '101';
SELECT ja FROM more_arrays WHERE ref = '101';
SELECT jba FROM more_arrays WHERE ref = '101';
SELECT jba[1] = ja_whole->0 AS same_element, array_length(jba, 1),
       jba[6] IS NULL AS null_element
  FROM more_arrays WHERE ref = '101';
-- an element that does not convert is an error naming the column
SELECT na FROM more_arrays WHERE ref = '102';
SELECT fa FROM more_arrays WHERE ref = '102';
SELECT ba FROM more_arrays WHERE ref = '102';
SELECT da FROM more_arrays WHERE ref = '102';
SELECT bya FROM more_arrays WHERE ref = '102';
SELECT ia2 FROM more_arrays WHERE ref = '102';
SELECT ta FROM more_arrays WHERE ref = '102';
-- not an array at all
SELECT ja FROM more_arrays WHERE ref = '102';
SELECT jba FROM more_arrays WHERE ref = '102';

-- timestamp without time zone: the UTC wall time, whatever the session's
-- time zone; 9 fraction digits rounded to microseconds
CREATE FOREIGN TABLE more_times (
  ref text, t timestamp, t9 timestamp, t_tz timestamptz OPTIONS (path 't'),
  ts_plain timestamp OPTIONS (path 'ts'), ts timestamptz
) SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT t, t9, t_tz FROM more_times WHERE ref = '101';
SET timezone = 'Asia/Kolkata';
SELECT t, t9, t_tz FROM more_times WHERE ref = '101';
SELECT ts_plain = ts AT TIME ZONE 'UTC' AS ts_is_utc_wall_time
  FROM more_times WHERE ref = '101';
SET timezone = 'UTC';
-- a ts column of type timestamp is read, but not compared by Fauna (only
-- timestamptz and bigint are): the comparison stays local and is right
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT ref FROM more_times WHERE ts_plain > '2000-01-01';
SELECT ref FROM more_times WHERE ts_plain > '2000-01-01' AND ref = '101';
SELECT count(*) FROM more_times WHERE ts_plain < '2000-01-01' AND ref = '101';
-- timestamptz(p) and timestamp(p) round to p fraction digits, as a cast
-- of the full value does
CREATE FOREIGN TABLE more_precision (
  ref text, full_tz timestamptz OPTIONS (path 'tc'),
  tz0 timestamptz(0) OPTIONS (path 'tc'), tz1 timestamptz(1) OPTIONS (path 'tc'),
  tz2 timestamptz(2) OPTIONS (path 'tc'), tz3 timestamptz(3) OPTIONS (path 'tc'),
  tz4 timestamptz(4) OPTIONS (path 'tc'), tz5 timestamptz(5) OPTIONS (path 'tc'),
  tz6 timestamptz(6) OPTIONS (path 'tc'),
  full_t timestamp OPTIONS (path 'tc'),
  t0 timestamp(0) OPTIONS (path 'tc'), t3 timestamp(3) OPTIONS (path 'tc'),
  t5 timestamp(5) OPTIONS (path 'tc'), t6 timestamp(6) OPTIONS (path 'tc'),
  ts timestamptz(0)
) SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT tz0, tz1, tz2, tz3, tz4, tz5, tz6 FROM more_precision WHERE ref = '101';
SELECT t0, t3, t5, t6 FROM more_precision WHERE ref = '101';
SELECT tz0 = full_tz::timestamptz(0) AND tz1 = full_tz::timestamptz(1) AND
       tz2 = full_tz::timestamptz(2) AND tz3 = full_tz::timestamptz(3) AND
       tz4 = full_tz::timestamptz(4) AND tz5 = full_tz::timestamptz(5) AND
       tz6 = full_tz AND t0 = full_t::timestamp(0) AND
       t3 = full_t::timestamp(3) AND t5 = full_t::timestamp(5) AND
       t6 = full_t AS each_as_a_cast
  FROM more_precision WHERE ref = '101';
-- a rounded ts is compared here, not by Fauna, which holds the exact one:
-- the answer is the local filter's
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT ref FROM more_precision WHERE ts >= '2000-01-01';
SELECT ref FROM more_precision
 WHERE ts >= (SELECT ts FROM more_precision WHERE ref = '101') ORDER BY ref;
SELECT ref FROM (SELECT ref, ts FROM more_precision OFFSET 0) s
 WHERE ts >= (SELECT ts FROM more_precision WHERE ref = '101') ORDER BY ref;
-- a date, a string (even one that looks like a time) and a number are not
-- times
SELECT t FROM more_times WHERE ref = '102';
SELECT t9 FROM more_times WHERE ref = '102';
CREATE FOREIGN TABLE more_times_bad (ref text, i timestamp, ba timestamp)
  SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT i FROM more_times_bad WHERE ref = '101';
SELECT ba FROM more_times_bad WHERE ref = '101';

-- a document with a ttl: as timestamptz, timestamp and text (as sent);
-- without one, NULL
CREATE FOREIGN TABLE more_ttl (
  ref text, ttl timestamptz, ttl_plain timestamp OPTIONS (path 'ttl'),
  ttl_text text OPTIONS (path 'ttl'), ttl_json jsonb OPTIONS (path 'ttl')
) SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT * FROM more_ttl ORDER BY ref;
SELECT to_char(ttl, 'US') AS micros FROM more_ttl WHERE ref = '101';
-- ttl is not a user field: it is not in data
CREATE FOREIGN TABLE more_data (ref text, data jsonb)
  SERVER conv2 OPTIONS (collection 'ConvMore');
SELECT ref, data ? 'ttl' AS ttl_in_data, data ? 'id' AS id_in_data
  FROM more_data ORDER BY ref;

-- The seed connector's case: a ref to Ref(Collection("other"), "123"), a
-- time, the date 2012-02-01, the number 12, the string "cat" and the bytes
-- "hello world" come out in data exactly as the connector exported them
CREATE FOREIGN TABLE conv_airbyte (ref text, data jsonb,
  data_json json OPTIONS (path 'data'), r jsonb OPTIONS (path 'ref'))
  SERVER conv2 OPTIONS (collection 'ConvAirbyte');
SELECT ref, jsonb_pretty(data) FROM conv_airbyte;
SELECT data = '{"ref": {"id": "123", "collection": "other", "type": "document"},
                "time": "2022-01-02T03:04:05.678Z",
                "date": "2012-02-01",
                "number": 12,
                "string": "cat",
                "bytes": "aGVsbG8gd29ybGQ="}'::jsonb AS exported_as_the_connector
  FROM conv_airbyte;
SELECT data_json::jsonb = data AS json_matches FROM conv_airbyte;
SELECT data->'ref'->>'id' AS id, data->'ref'->>'collection' AS collection,
       data->>'time' AS "time", (data->>'time')::timestamptz AS parsed,
       data->>'date' AS "date", data->'number' AS "number",
       data->>'string' AS "string", decode(data->>'bytes', 'base64') AS bytes
  FROM conv_airbyte;
-- a user field named like a reserved path (ref) is reached through data;
-- a stored ref as text and jsonb, and as a number (an error)
CREATE FOREIGN TABLE conv_airbyte_fields (
  ref text, ref_text text OPTIONS (path 'data.ref'),
  ref_jsonb jsonb OPTIONS (path 'data.ref'),
  ref_int int OPTIONS (path 'data.ref'),
  date_text text OPTIONS (path 'date'), number_text text OPTIONS (path 'number'),
  bytes_text text OPTIONS (path 'bytes'), time_text text OPTIONS (path 'time')
) SERVER conv2 OPTIONS (collection 'ConvAirbyte');
SELECT ref, ref_text, ref_jsonb FROM conv_airbyte_fields;
SELECT date_text, number_text, bytes_text, time_text FROM conv_airbyte_fields;
SELECT ref_int FROM conv_airbyte_fields;
-- the document itself as a ref, and the referenced document
SELECT r FROM conv_airbyte;
CREATE FOREIGN TABLE other (ref text, r jsonb OPTIONS (path 'ref'), name text)
  SERVER conv2 OPTIONS (collection 'other');
SELECT ref, r, name FROM other;
SELECT o.name FROM conv_airbyte a JOIN other o ON o.ref = a.data->'ref'->>'id';

DROP SERVER conv2 CASCADE;
