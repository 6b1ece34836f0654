--
-- Pipelined paging.  Once a page's last byte is in, the request of the next
-- page leaves at once, with the cursor read from the end of the body, and
-- the page is parsed while Fauna computes the next one.  The cursor is
-- guessed only where a page's cursor stands (after the page's data array,
-- closing the response's data), so a document's own field named "after"
-- is never sent as one; the guess is checked against the parsed cursor,
-- and a wrong one (a server that sends the cursor elsewhere) abandons the
-- guessed request and asks for the right page.  Whatever the guess, the
-- rows are the same, and EXPLAIN ANALYZE counts the abandoned requests.
--
-- This suite writes, after the others; its output shows no id or
-- timestamp (they depend on the suites before it).
--
\getenv endpoint FAUNA_ENDPOINT
\getenv secret FAUNA_SECRET
\set VERBOSITY default

CREATE FUNCTION explain_analyze(query text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
    RETURN NEXT regexp_replace(ln, 'Fauna bytes received: \d+', 'Fauna bytes received: N');
  END LOOP;
END
$$;

CREATE SERVER pl_srv FOREIGN DATA WRAPPER fauna_fdw
  OPTIONS (endpoint :'endpoint', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER pl_srv OPTIONS (secret :'secret');
-- a column "after": each document of the page ends with an "after" member
CREATE FOREIGN TABLE pl (n int, after text)
  SERVER pl_srv OPTIONS (collection 'Guess', page_size '2');
CREATE FOREIGN TABLE pl_plain (n int)
  SERVER pl_srv OPTIONS (collection 'Guess', page_size '2');

\! python3 test/fauna_write.py 'Collection.create({ name: "Guess" })'
\! python3 test/fauna_write.py 'Set.sequence(1, 6).forEach(i => Guess.create({ n: i, after: "x#{i}" }))'

-- three pages; every guess right: nothing abandoned
SELECT explain_analyze($q$SELECT n FROM pl_plain$q$);
SELECT array_agg(n ORDER BY n) FROM pl_plain;

-- the last page (no cursor) ends with a document's "after": that is not
-- where a page's cursor stands, so nothing is guessed there and nothing
-- abandoned
SELECT explain_analyze($q$SELECT n, after FROM pl$q$);
-- and no document's value ever goes out as a cursor: of the cursors sent
-- after the marker (two, for three pages), none is a document's "x<n>"
CREATE FOREIGN TABLE pl_marker (ref text)
  SERVER pl_srv OPTIONS (collection 'Guess');
SELECT ref FROM pl_marker WHERE ref = '9100000000000000071';
SELECT n, after FROM pl ORDER BY n;
\! python3 test/request_log.py --cursors 9100000000000000071 | wc -l
\! python3 test/request_log.py --cursors 9100000000000000071 | grep -c '^x'


-- every object's members in reverse order: each page's cursor comes before
-- its documents, where no cursor is guessed from; the pages are read all
-- the same
\! curl -fsS -o /dev/null -H "Authorization: Bearer $FAUNA_SECRET" -d '{"kind":"reverse_members","count":100}' "$FAUNA_ENDPOINT/_emulator/faults"
SELECT explain_analyze($q$SELECT n, after FROM pl$q$);
SELECT n, after FROM pl ORDER BY n;
-- without the column, the guess is the page's own cursor again
SELECT explain_analyze($q$SELECT n FROM pl_plain$q$);
SELECT array_agg(n ORDER BY n) FROM pl_plain;
\! curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $FAUNA_SECRET" "$FAUNA_ENDPOINT/_emulator/faults"

-- a LIMIT pushed down: no page beyond it is asked for, guessed or not
SELECT explain_analyze($q$SELECT n FROM pl_plain LIMIT 2$q$);

DROP FUNCTION explain_analyze;
