-- The demo: read the emulator's sample collections through foreign tables.
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET
\pset pager off

CREATE EXTENSION fauna_fdw;
CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', page_size '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna
  OPTIONS (secret :'fauna_secret');

CREATE FOREIGN TABLE customers (
    ref   text,
    ts    timestamptz,
    name  text,
    email text,
    city  text OPTIONS (path 'address.city'),
    vip   boolean,
    since date
) SERVER fauna OPTIONS (collection 'Customers');

CREATE FOREIGN TABLE orders (
    ref  text,
    ts   timestamptz,
    data jsonb
) SERVER fauna OPTIONS (collection 'Orders');

\echo '== customers (typed columns, read in pages of 2)'
SELECT ref, name, city, vip, since FROM customers ORDER BY ref;

\echo '== orders (the whole document as jsonb; refs exported as objects)'
SELECT ref, jsonb_pretty(data) AS data FROM orders ORDER BY ref;

\echo '== a join between two collections'
SELECT c.name, (o.data->>'total')::numeric AS total
  FROM orders o JOIN customers c ON c.ref = o.data->'customer'->>'id'
 ORDER BY c.name;

\echo '== the query sent to Fauna'
EXPLAIN (VERBOSE, COSTS OFF) SELECT ref, email FROM customers WHERE ref = '102';
