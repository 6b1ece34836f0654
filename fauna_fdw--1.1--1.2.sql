/* fauna_fdw--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION fauna_fdw UPDATE TO '1.2'" to load this file. \quit

-- fauna_fdw_check() runs each test in a subtransaction, which a query in
-- parallel mode cannot start, even in its leader: it is parallel unsafe,
-- not restricted.
ALTER FUNCTION @extschema@.fauna_fdw_check(pg_catalog.text) PARALLEL UNSAFE;
ALTER FUNCTION @extschema@.fauna_fdw_check(pg_catalog.text, pg_catalog.text[]) PARALLEL UNSAFE;
