--
-- Option validation: every option at its level, range and identifier
-- checks, unknown options with the list of valid ones, and the secret kept
-- to the user mapping.  Needs no Fauna server.
--
\set VERBOSITY default
SET client_min_messages = warning;

-- wrapper level: no options at all
ALTER FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db.fauna.com');

-- server: every option, valid
CREATE SERVER opt_all FOREIGN DATA WRAPPER fauna_fdw OPTIONS (
  endpoint 'https://db.fauna.com/', api_version '10', page_size '16000',
  timeout_ms '600000', connect_timeout_ms '1', max_retries '0',
  ca_file '/etc/ssl/certs/ca-certificates.crt', max_response_bytes '1048576');
CREATE SERVER opt_v4 FOREIGN DATA WRAPPER fauna_fdw OPTIONS (api_version '4', page_size '1');
CREATE SERVER opt_http FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'http://localhost:8443/base');

-- server: bad values
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'ftp://db.fauna.com');
-- only http(s): no other scheme curl knows can make the backend read a
-- file or talk to another kind of server (curl is limited to them too)
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'file:///etc/passwd');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'ftp://x');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'dict://127.0.0.1:11211/');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'http:/db.fauna.com');
ALTER SERVER opt_http OPTIONS (SET endpoint 'file:///etc/passwd');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://user:pw@db.fauna.com');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db.fauna.com/?x=1');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db fauna.com');
-- read as libcurl reads it: a fragment is refused, an "@" in the path is no
-- credential, a port without a host is no host
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db.fauna.com#top');
CREATE SERVER opt_at FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db.fauna.com/a@b');
DROP SERVER opt_at;
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://:8443/');
-- a host after "://" as written; a bad port; the value, which may hold a
-- password or a token, is never quoted, whatever else is wrong with it
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https:///db.fauna.com');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db.fauna.com:99999/');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://fnSECRET@db.fauna.com');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://u:pw2@db fauna.com');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'https://db.fauna.com/?token=fnT');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (api_version '11');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (page_size '0');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (page_size '16001');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (page_size '10 rows');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (timeout_ms '0');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (timeout_ms '600001');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (connect_timeout_ms '-5');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (connect_timeout_ms '0');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (connect_timeout_ms '600001');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_retries '101');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_retries '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_retries '');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (ca_file 'certs/ca.pem');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_response_bytes '1000');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_response_bytes '1023');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_response_bytes '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_response_bytes '99999999999999999999');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_response_bytes '9223372036854775808');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (api_version '');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (api_version ' 10');
-- integers are plain decimal digits: strtoll() would take the leading
-- space, the "+" and stop quietly before junk; none is accepted
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (page_size ' 5');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (page_size '5 ');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_retries '+7');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (timeout_ms '0x10');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (connect_timeout_ms '1.5');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_response_bytes '1e6');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (max_retries '-0');
-- the limits themselves are accepted
CREATE SERVER opt_limits FOREIGN DATA WRAPPER fauna_fdw OPTIONS (
  page_size '16000', timeout_ms '600000', connect_timeout_ms '600000',
  max_retries '100', max_response_bytes '9223372036854775807');
ALTER SERVER opt_limits OPTIONS (SET page_size '1', SET timeout_ms '1',
  SET connect_timeout_ms '1', SET max_retries '0', SET max_response_bytes '1024');
ALTER SERVER opt_limits OPTIONS (SET max_retries '007');
DROP SERVER opt_limits;
-- ca_file: superusers only (the backend reads the file)
CREATE ROLE regress_fauna_opt_user;
GRANT USAGE ON FOREIGN DATA WRAPPER fauna_fdw TO regress_fauna_opt_user;
SET ROLE regress_fauna_opt_user;
CREATE SERVER opt_user_srv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (ca_file '/etc/ssl/certs/ca-certificates.crt');
CREATE SERVER opt_user_srv FOREIGN DATA WRAPPER fauna_fdw OPTIONS (page_size '10');
ALTER SERVER opt_user_srv OPTIONS (ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
DROP SERVER opt_user_srv;
RESET ROLE;
REVOKE USAGE ON FOREIGN DATA WRAPPER fauna_fdw FROM regress_fauna_opt_user;
DROP ROLE regress_fauna_opt_user;
-- the secret belongs on the user mapping; its value is never echoed
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (secret 'fnSECRETVALUE');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (collection 'Users');
CREATE SERVER bad FOREIGN DATA WRAPPER fauna_fdw OPTIONS (bogus 'x');
ALTER SERVER opt_all OPTIONS (SET page_size '0');
ALTER SERVER opt_all OPTIONS (SET page_size '500');

-- user mapping: only the secret
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_all OPTIONS (secret '');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_all OPTIONS (secret 'fn with space');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_all OPTIONS (secret 'fnX', endpoint 'https://x');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_all OPTIONS (user 'me');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_all OPTIONS (secret 'fnSECRETVALUE');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_v4 OPTIONS (secret 'fnSECRETVALUE');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_http;

-- foreign tables
CREATE FOREIGN TABLE ok1 (ref text, ts timestamptz, data jsonb)
  SERVER opt_all OPTIONS (collection 'Users', index 'byTs', events 'false',
                          page_size '2', rows '12345');
CREATE FOREIGN TABLE ok2 (ref text) SERVER opt_all OPTIONS (index 'auto');
CREATE FOREIGN TABLE ok3 (ref text) SERVER opt_all OPTIONS (index 'none', collection '_x9');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (collection 'Users.all()');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (collection '9lives');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (collection '');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (index 'by ts');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (events 'maybe');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '-1');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows 'many');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (page_size '0');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (page_size '16001');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (page_size 'ten');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (page_size '+7');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (index '');
-- rows is a plain decimal number: no hex ("0x10" was 16), exponent, sign,
-- spaces, inf or nan; at most 10^15
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '0x10');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows ' 5');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '+7');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '1e6');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows 'inf');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows 'NaN');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '5.');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (rows '1000000000000001');
CREATE FOREIGN TABLE limits (ref text) SERVER opt_all
  OPTIONS (page_size '16000', rows '1000000000000000');
ALTER FOREIGN TABLE limits OPTIONS (SET page_size '1', SET rows '0');
ALTER FOREIGN TABLE limits OPTIONS (SET rows '2.5');
ALTER FOREIGN TABLE limits OPTIONS (SET rows '0x10');
DROP FOREIGN TABLE limits;
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (secret 'fnSECRETVALUE');
CREATE FOREIGN TABLE bad (ref text) SERVER opt_all OPTIONS (endpoint 'https://x');
ALTER FOREIGN TABLE ok1 OPTIONS (SET collection 'Users; drop');

-- columns: path is dotted identifiers
CREATE FOREIGN TABLE cols (
  ref text OPTIONS (path 'ref'),
  id text OPTIONS (path 'id'),
  city text OPTIONS (path 'address.city'),
  under text OPTIONS (path '_a._b9.c')
) SERVER opt_all OPTIONS (collection 'Users');
CREATE FOREIGN TABLE bad (c text OPTIONS (path 'a..b')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (path 'a.1b')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (path '.a')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (path 'a[0]')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (path 'a.')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (path '')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (field 'a')) SERVER opt_all;
CREATE FOREIGN TABLE bad (c text OPTIONS (secret 'x')) SERVER opt_all;

-- names that cannot be spliced into FQL need explicit options
CREATE FOREIGN TABLE "my table" (ref text) SERVER opt_all;
EXPLAIN (COSTS OFF) SELECT * FROM "my table";
CREATE FOREIGN TABLE odd_column ("first name" text) SERVER opt_all OPTIONS (collection 'Users');
EXPLAIN (COSTS OFF) SELECT * FROM odd_column;
ALTER FOREIGN TABLE odd_column ALTER COLUMN "first name" OPTIONS (ADD path 'first_name');
EXPLAIN (COSTS OFF) SELECT * FROM odd_column;

-- the stored options, as the catalogs show them (the secret is only in
-- pg_user_mapping, readable by its owner and superusers)
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname LIKE 'opt%' ORDER BY 1;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
  ORDER BY 1;

-- api_version 4 plans a legacy FQL v4 query (the v4 suite reads with it);
-- an event table needs a lower bound (no request is sent)
CREATE FOREIGN TABLE v4 (ref text) SERVER opt_v4 OPTIONS (collection 'Users');
EXPLAIN (COSTS OFF) SELECT * FROM v4;
CREATE FOREIGN TABLE ev (ref text) SERVER opt_all OPTIONS (collection 'Users', events 'true');
SELECT * FROM ev;

-- a missing secret is reported before any request
CREATE FOREIGN TABLE nosecret (ref text) SERVER opt_http OPTIONS (collection 'Users');
SELECT * FROM nosecret;

DROP SERVER opt_all, opt_v4, opt_http CASCADE;
