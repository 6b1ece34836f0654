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
