--
-- Conversions of every Fauna value type into each compatible column type,
-- and the errors for incompatible ones (DESIGN.md "Columns").  Reads the
-- collection seeded by test/seed_conversions.py: row 1 holds one value of
-- each storable type, row 2 edge values.  Fields: s string, i int, l long,
-- d double, bo boolean, t time, dt date, b bytes, r ref, o object, a array,
-- ia/sa/ta arrays for array columns.
--
\set VERBOSITY default
SET client_min_messages = warning;
SET timezone = 'UTC';
SET extra_float_digits = 0;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET

CREATE SERVER conv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER conv
  OPTIONS (secret :'fauna_secret');

-- every value as text: strings as they are, other scalars as their export
-- text (times and dates as sent, bytes as URL-safe base64, numbers as sent),
-- containers and refs as JSON
CREATE FOREIGN TABLE conv_text (
  row int, s text, i text, l text, d text, bo text, t text, dt text, b text,
  r text, o text, a text, missing text, inf text
) SERVER conv OPTIONS (collection 'Conversions');
SELECT * FROM conv_text ORDER BY row;

-- the reserved paths: ts as timestamptz, bigint (microseconds since the
-- epoch) and text (as sent); no ttl is NULL
CREATE FOREIGN TABLE conv_meta (
  row int, ref text, ts timestamptz,
  ts_us bigint OPTIONS (path 'ts'), ts_text text OPTIONS (path 'ts'),
  ttl timestamptz
) SERVER conv OPTIONS (collection 'Conversions');
SELECT row, ref ~ '^[0-9]+$' AS numeric_id, ts, ts_us, ts_text, ttl
  FROM conv_meta ORDER BY row;

-- all user fields as jsonb: the export formats of fauna-protocol.md section 4
-- (a document ref as {id, collection, type}, bytes URL-safe, times and
-- dates as strings, NaN and Infinity as strings)
CREATE FOREIGN TABLE conv_data (row int, data jsonb, data_json json OPTIONS (path 'data'))
  SERVER conv OPTIONS (collection 'Conversions');
SELECT row, jsonb_pretty(data - 'r') FROM conv_data ORDER BY row;
SELECT row, data->'r' = jsonb_build_object('id', data->'r'->>'id',
         'collection', 'ConvTarget', 'type', 'document') AS r_is_ref
  FROM conv_data ORDER BY row;
SELECT row, data_json::jsonb = data AS json_matches_jsonb FROM conv_data ORDER BY row;

-- single fields as json and jsonb
CREATE FOREIGN TABLE conv_jsonb (
  row int, s jsonb, i jsonb, l jsonb, d jsonb, bo jsonb, t jsonb, dt jsonb,
  b jsonb, o jsonb, a jsonb, inf jsonb, ninf jsonb, o_json json OPTIONS (path 'o'),
  a_json json OPTIONS (path 'a'), d_json json OPTIONS (path 'd')
) SERVER conv OPTIONS (collection 'Conversions');
SELECT row, s, i, l, d, bo, t, dt, b, o, a, inf, ninf FROM conv_jsonb ORDER BY row;
SELECT row, o_json, a_json, d_json FROM conv_jsonb ORDER BY row;

-- integers: int and long, range-checked; doubles only when integral
CREATE FOREIGN TABLE conv_int (
  row int, i2 smallint OPTIONS (path 'i'), i4 int OPTIONS (path 'i'),
  i8 bigint OPTIONS (path 'i'), l8 bigint OPTIONS (path 'l'),
  l4 int OPTIONS (path 'l'), big2 smallint OPTIONS (path 'big'),
  big4 int OPTIONS (path 'big'), whole int, frac int, d int, s int, bo int,
  t8 bigint OPTIONS (path 't'), nested int OPTIONS (path 'o.zip')
) SERVER conv OPTIONS (collection 'Conversions');
SELECT row, i4, i8, l8, big4, whole, t8, nested FROM conv_int ORDER BY row;
-- errors name the column, the document and the Fauna type
SELECT row, i2 FROM conv_int;
SELECT row, l4 FROM conv_int;
SELECT row, big2 FROM conv_int;
SELECT row, frac FROM conv_int;
SELECT row, d FROM conv_int;
SELECT row, s FROM conv_int;
SELECT row, bo FROM conv_int;

-- numeric and floats: any number; NaN and infinities included
CREATE FOREIGN TABLE conv_num (
  row int, i numeric, l numeric, d numeric, inf numeric, ninf numeric,
  d8 float8 OPTIONS (path 'd'), l8 float8 OPTIONS (path 'l'),
  i4 real OPTIONS (path 'i'), inf8 float8 OPTIONS (path 'inf'),
  ninf4 real OPTIONS (path 'ninf'), n52 numeric(5,2) OPTIONS (path 'd'),
  s numeric, s8 float8 OPTIONS (path 's'), dt8 float8 OPTIONS (path 'dt')
) SERVER conv OPTIONS (collection 'Conversions');
SELECT row, i, l, d, inf, ninf, d8, l8, i4, inf8, ninf4 FROM conv_num ORDER BY row;
SELECT row, n52 FROM conv_num WHERE row = 1;
SELECT row, s FROM conv_num;
SELECT row, s8 FROM conv_num;
SELECT row, dt8 FROM conv_num;

-- boolean
CREATE FOREIGN TABLE conv_bool (row int, bo bool, s bool, i bool)
  SERVER conv OPTIONS (collection 'Conversions');
SELECT row, bo FROM conv_bool ORDER BY row;
SELECT row, s FROM conv_bool;
SELECT row, i FROM conv_bool;

-- times: microseconds exact, 9 digits rounded; timestamp is UTC wall time
CREATE FOREIGN TABLE conv_time (
  row int, t timestamptz, tw timestamp OPTIONS (path 't'), dt date,
  t_date date OPTIONS (path 't'), dt_ts timestamptz OPTIONS (path 'dt'),
  s timestamptz
) SERVER conv OPTIONS (collection 'Conversions');
SET timezone = 'America/New_York';
SELECT row, t, tw, dt FROM conv_time ORDER BY row;
SET timezone = 'UTC';
SELECT row, t, tw, to_char(t, 'US') AS micros FROM conv_time ORDER BY row;
SELECT row, t_date FROM conv_time;
SELECT row, dt_ts FROM conv_time;
SELECT row, s FROM conv_time;

-- bytes
CREATE FOREIGN TABLE conv_bytes (row int, b bytea, s bytea)
  SERVER conv OPTIONS (collection 'Conversions');
SELECT row, b, convert_from(b, 'UTF8') FROM conv_bytes WHERE row = 1;
SELECT row, b FROM conv_bytes ORDER BY row;
SELECT row, s FROM conv_bytes;

-- arrays: element-wise; nested arrays only into jsonb
CREATE FOREIGN TABLE conv_arrays (
  row int, ia int[], ia8 bigint[] OPTIONS (path 'ia'), sa text[], tx text[],
  ta timestamptz[],
  a_text text[] OPTIONS (path 'a'), a_jsonb jsonb[] OPTIONS (path 'a'),
  s_arr text[] OPTIONS (path 's')
) SERVER conv OPTIONS (collection 'Conversions');
SELECT row, ia, ia8, tx, ta, a_jsonb FROM conv_arrays ORDER BY row;
SELECT row, sa FROM conv_arrays;
SELECT row, a_text FROM conv_arrays;
SELECT row, s_arr FROM conv_arrays;

-- other types get the text form through their input function, so typmods
-- and domain constraints apply; their errors carry a CONTEXT line
CREATE DOMAIN short_text AS varchar(3);
CREATE FOREIGN TABLE conv_other (row int, s varchar(20), i varchar(20),
  s3 short_text OPTIONS (path 's'), su uuid OPTIONS (path 's'))
  SERVER conv OPTIONS (collection 'Conversions');
SELECT row, s, i FROM conv_other ORDER BY row;
SELECT row, s3 FROM conv_other;
SELECT row, su FROM conv_other;

DROP SERVER conv CASCADE;
DROP DOMAIN short_text;
