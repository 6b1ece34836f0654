--
-- Failures: retries of retryable failures, no retry of client errors, and
-- no partial results.  Faults are injected into the emulator through its
-- control API just before each statement.
--
\set VERBOSITY default
SET client_min_messages = warning;
\getenv fauna_endpoint FAUNA_ENDPOINT
\getenv fauna_secret FAUNA_SECRET

-- EXPLAIN ANALYZE with the response size masked: it depends on details of
-- the server's JSON (txn_ts, schema_version) that this suite does not test
CREATE FUNCTION explain_analyze(query text, with_verbose bool DEFAULT false)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXECUTE format('EXPLAIN (ANALYZE, VERBOSE %s, COSTS OFF, TIMING OFF, SUMMARY OFF) %s',
                           CASE WHEN with_verbose THEN 'on' ELSE 'off' END, query) LOOP
    RETURN NEXT regexp_replace(ln, 'Fauna bytes received: \d+', 'Fauna bytes received: N');
  END LOOP;
END
$$;

CREATE SERVER fauna FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', max_retries '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna
  OPTIONS (secret :'fauna_secret');
CREATE FOREIGN TABLE paged (ref text, n int) SERVER fauna
  OPTIONS (collection 'Paged', page_size '2');

-- a 503 then success: retried, the result is complete
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":503}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT explain_analyze($q$SELECT n FROM paged$q$);

-- 429 on the third page, twice: still within max_retries
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":429,"page":3,"count":2}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;

-- 502, 504, 503: one more failure than max_retries allows
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":502}' "$FAUNA_ENDPOINT/_emulator/faults"
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":504}' "$FAUNA_ENDPOINT/_emulator/faults"
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":503}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\echo :LAST_ERROR_SQLSTATE

-- client errors are never retried
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":400}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT explain_analyze($q$SELECT n FROM paged$q$);
SELECT array_agg(n) FROM paged;
-- nor are 401, 403 and 404: one request each, whatever max_retries says
-- (the request log after a marker lookup, one line a request)
SELECT n FROM paged WHERE ref = '9100000000000000010';
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":401}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":403}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":404}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! python3 test/request_log.py --statuses 9100000000000000010
-- and the next statement reads everything again
SELECT array_agg(n) FROM paged;

-- the connection drops in the middle of page 2: retried on a new connection
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"drop_mid_body","page":2}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"drop","page":2}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;

-- without retries, a failure on page 3 fails the statement: no partial
-- result is ever returned
ALTER SERVER fauna OPTIONS (SET max_retries '0');
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"drop_mid_body","page":3}' "$FAUNA_ENDPOINT/_emulator/faults"
\set VERBOSITY terse
SELECT array_agg(n) FROM paged;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":503,"page":3}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;

-- a malformed or truncated body is an error, never a short result
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"malformed","page":2}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"truncated","page":2}' "$FAUNA_ENDPOINT/_emulator/faults"
\set VERBOSITY terse
SELECT array_agg(n) FROM paged;
\set VERBOSITY default

-- a 200 answer that is not application/json is no page, whatever its
-- body: an error saying what came, from where, and what to check (the
-- endpoint, which differs between runs, masked)
CREATE FUNCTION error_of(query text, endpoint text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  state text; msg text; detail text; hint text;
BEGIN
  EXECUTE query;
  RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
    detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RETURN NEXT 'ERROR ' || state || ': ' || msg;
  RETURN NEXT 'DETAIL: ' || replace(detail, endpoint, 'ENDPOINT');
  RETURN NEXT 'HINT: ' || hint;
END
$$;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"content_type","content_type":"text/html; charset=utf-8","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT error_of('SELECT array_agg(n) FROM paged', :'fauna_endpoint');
-- on page 3 of 4: the statement fails, no partial result
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"content_type","content_type":"text/plain","page":3,"path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT error_of('SELECT array_agg(n) FROM paged', :'fauna_endpoint');
-- no Content-Type at all
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"content_type","content_type":"","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT error_of('SELECT array_agg(n) FROM paged', :'fauna_endpoint');
-- parameters and letter case do not matter
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"content_type","content_type":"Application/JSON ; Charset=UTF-8","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
-- event feeds (POST /feed/1) and FQL v4 (POST /) are checked the same way
CREATE FOREIGN TABLE paged_events (ref text, ts timestamptz, action text)
  SERVER fauna OPTIONS (collection 'Paged', events 'true');
CREATE FOREIGN TABLE paged_ts (ts timestamptz) SERVER fauna
  OPTIONS (collection 'Paged');
SELECT max(ts) AS paged_mark FROM paged_ts \gset
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"content_type","content_type":"text/html","path":"/feed/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT error_of(format('SELECT count(*) FROM paged_events WHERE ts > %L', :'paged_mark'), :'fauna_endpoint');
SELECT count(*) FROM paged_events WHERE ts > :'paged_mark';
CREATE SERVER fauna_v4 FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'fauna_endpoint', api_version '4', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_v4
  OPTIONS (secret :'fauna_secret');
CREATE FOREIGN TABLE paged_v4 (ref text, n int)
  SERVER fauna_v4 OPTIONS (collection 'Paged', index 'none', page_size '4');
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"content_type","content_type":"text/html","path":"/"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT error_of('SELECT array_agg(n ORDER BY n) FROM paged_v4', :'fauna_endpoint');
SELECT array_agg(n ORDER BY n) FROM paged_v4;

-- a body of the wrong shape for the query is an error too, never rows:
-- a scan (Coll.all(), Set.paginate) must get a page whose elements each
-- have a string "id", and its cursor must be a string
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":null}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"txn_ts\":1}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":{\"n\":{\"@int\":\"1\"}}}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":{\"@doc\":{\"id\":\"1\",\"coll\":{\"@mod\":\"Paged\"},\"n\":{\"@int\":\"1\"}}}}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":{\"data\":[{\"n\":{\"@int\":\"1\"}}]}}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"n\":{\"@int\":\"1\"}}],\"after\":5}}}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
-- a document without an id on page 2: no partial result
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"coll\":{\"@mod\":\"Paged\"},\"n\":{\"@int\":\"3\"}}}],\"after\":\"x\"}}}","page":2,"path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged;
-- a lookup by id may answer null (no such document), not a page
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":null}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT count(*) FROM paged WHERE ref = '1';
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"data\":{\"data\":[{\"id\":\"1\"}]}}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT count(*) FROM paged WHERE ref = '1';
-- FQL v4: a scan's "resource" must be a page
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","body":"{\"resource\":null}","path":"/"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT array_agg(n) FROM paged_v4;
SELECT array_agg(n) FROM paged;
DROP FUNCTION error_of;
DROP SERVER fauna_v4 CASCADE;

-- responses larger than max_response_bytes are refused
CREATE FOREIGN TABLE paged_docs (ref text, ts timestamptz, coll text, data jsonb)
  SERVER fauna OPTIONS (collection 'Paged', page_size '7');
SELECT explain_analyze($q$SELECT * FROM paged_docs$q$);
ALTER SERVER fauna OPTIONS (ADD max_response_bytes '1024');
SELECT count(paged_docs) FROM paged_docs;
\echo :LAST_ERROR_SQLSTATE
ALTER SERVER fauna OPTIONS (DROP max_response_bytes);

-- the request timeout (timeout_ms) is enforced by the client too
ALTER SERVER fauna OPTIONS (ADD timeout_ms '300');
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"delay","delay_ms":1500}' "$FAUNA_ENDPOINT/_emulator/faults"
\set VERBOSITY terse
SELECT array_agg(n) FROM paged;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ALTER SERVER fauna OPTIONS (DROP timeout_ms);

-- cancel (statement_timeout) interrupts a slow request promptly
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"delay","delay_ms":3000}' "$FAUNA_ENDPOINT/_emulator/faults"
SET statement_timeout = '300ms';
SELECT array_agg(n) FROM paged;
RESET statement_timeout;
-- and the connection is usable afterwards
SELECT array_agg(n) FROM paged;

-- finding a ts index is optional: when Fauna refuses the schema read,
-- the ts bounds filter Coll.all() instead
CREATE FOREIGN TABLE events (ts timestamptz, seq int) SERVER fauna
  OPTIONS (collection 'Events');
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"status","status":403,"match":"Collection.byName"}' "$FAUNA_ENDPOINT/_emulator/faults"
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts > '2024-01-01 00:00:00+00';
SELECT count(*) FROM events WHERE ts > '2024-01-01 00:00:00+00';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT seq FROM events WHERE ts > '2024-01-01 00:00:00+00';

-- an endpoint that is not Fauna: whatever its body holds (an internal
-- service's answer, an HTML page), only its status is reported
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","status":500,"body":"{\"AccessKeyId\":\"MARKER_KEY\",\"Token\":\"MARKER_TOKEN\"}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT n FROM paged;
-- a retryable status is retried, then reported the same way
ALTER SERVER fauna OPTIONS (SET max_retries '2');
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","status":502,"body":"<html>MARKER_HTML</html>","path":"/query/1","count":3}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT n FROM paged;
ALTER SERVER fauna OPTIONS (SET max_retries '0');
-- a Fauna error is quoted, its message cut after 300 bytes
\! python3 -c "import json; print(json.dumps({'kind': 'body', 'status': 400, 'path': '/query/1', 'body': json.dumps({'error': {'code': 'invalid_request', 'message': 'long ' + 'x' * 1000 + ' MARKER_TAIL'}})}))" | curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d @- "$FAUNA_ENDPOINT/_emulator/faults"
SELECT n FROM paged;
-- fauna_fdw_check: only a Fauna answer authenticates
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","status":404,"body":"{\"message\":\"MARKER_404\"}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT test, ok, detail FROM fauna_fdw_check('fauna');
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"body","status":200,"body":"{\"Code\":\"MARKER_200\"}","path":"/query/1"}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT test, ok, detail FROM fauna_fdw_check('fauna');
SELECT test, ok FROM fauna_fdw_check('fauna', ARRAY['Paged']) ORDER BY collection NULLS FIRST, test;

\! curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $FAUNA_SECRET" "$FAUNA_ENDPOINT/_emulator/faults"
DROP FUNCTION explain_analyze;
DROP SERVER fauna CASCADE;
