/*-------------------------------------------------------------------------
 *
 * reader.c
 *		  Read a query's result page after page, with the next page's
 *		  request already on its way while the current page is returned.
 *
 * A reader owns one connection handle and two page contexts: the page
 * being returned and the page being fetched; each is reset when its page
 * is done, so a scan's memory is bounded by two pages whatever the size
 * of the collection.  Scans and ANALYZE read through it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "scan_private.h"

#include "miscadmin.h"
#include "utils/memutils.h"

void
fauna_reader_init(FaunaReader *reader, FaunaConn *conn, const char *collection)
{
	memset(reader, 0, sizeof(FaunaReader));
	reader->conn = conn;
	reader->collection = collection;
	reader->page_cxt = AllocSetContextCreate(CurrentMemoryContext,
											 "fauna_fdw page",
											 ALLOCSET_DEFAULT_SIZES);
	reader->next_cxt = AllocSetContextCreate(CurrentMemoryContext,
											 "fauna_fdw page",
											 ALLOCSET_DEFAULT_SIZES);
	reader->limit = -1;
	reader->expect = FAUNA_EXPECT_PAGE;
	initStringInfo(&reader->body);
}

/* Start the request in reader->body; its page goes to next_cxt. */
static void
reader_request(FaunaReader *reader)
{
	MemoryContextReset(reader->next_cxt);
	fauna_request_start(reader->conn, reader->body.data, reader->collection,
						reader->next_cxt);
	fauna_request_expect(reader->conn, reader->expect);
	reader->in_flight = true;
}

/*
 * Drop the page and any request in flight (a rescan, a scan that ended
 * early): the connection of a half-read response is closed, not reused.
 */
void
fauna_reader_reset(FaunaReader *reader)
{
	fauna_request_abort(reader->conn);
	reader->in_flight = false;
	MemoryContextReset(reader->page_cxt);
	MemoryContextReset(reader->next_cxt);
	reader->page = NULL;
	reader->count = 0;
	reader->next = 0;
	reader->more = false;
}

/*
 * The page just fetched becomes the current one: its context is swapped in,
 * and the previous page (all its rows returned) is freed.  Only once the
 * new page is complete: freeing the old one before waiting for the new
 * one measured 20-30% more backend CPU per scan (likely the allocator
 * handing the page's memory back and faulting it in again).
 */
static void
reader_swap_pages(FaunaReader *reader)
{
	MemoryContext swap = reader->page_cxt;

	reader->page_cxt = reader->next_cxt;
	reader->next_cxt = swap;
	MemoryContextReset(reader->next_cxt);
}

/*
 * Called when a page's response is complete but not yet parsed to its end:
 * start the next page's request with the cursor guessed from the body's
 * tail, so that Fauna computes page N+1 while page N is being parsed.
 * reader_fetch() checks the guess against the parsed cursor.
 */
static void
reader_guess_next(FaunaParser *parser, void *arg)
{
	FaunaReader *reader = (FaunaReader *) arg;
	char	   *after = fauna_parser_guess_after(parser);

	if (after == NULL)
		return;
	reader_swap_pages(reader);
	resetStringInfo(&reader->body);
	fauna_fql_next_page(after, &reader->body);
	reader_request(reader);
	reader->guessed_after = after;
}

/*
 * Make the response to the request in reader->body the current page,
 * starting the request if it was not prefetched.  The previous page is
 * freed once the new one is there.
 *
 * Pipelining: the request of the following page (its cursor is in this
 * page) is started before any row of this page is returned; reader_next()
 * lets it progress between rows, so that Fauna computes page N+1 and the
 * bytes arrive and are parsed while the executor works on page N.  With
 * FQL v10, it leaves even before page N is parsed, with the cursor read
 * from the end of the body (reader_guess_next), and is abandoned for the
 * right one should the parsed cursor differ.  At most two pages are in
 * memory.  A failure of the prefetch (after its retries, which resend the
 * same cursor) is raised here, when its page is needed, never as the end
 * of the result.
 */
static void
reader_fetch(FaunaReader *reader)
{
	FaunaStats	stats;
	MemoryContext oldcxt;
	char	   *after;
	bool		guess;

	if (!reader->in_flight)
		reader_request(reader);

	reader->page = NULL;
	reader->count = 0;
	reader->next = 0;

	/* guessing needs neither the page's row count (LIMIT) nor v4 arrays */
	guess = reader->limit < 0 && reader->v4 == NULL &&
		reader->expect == FAUNA_EXPECT_PAGE;
	reader->guessed_after = NULL;
	reader->in_flight = false;
	reader->page = fauna_request_wait_then(reader->conn, &reader->counters,
										   guess ? reader_guess_next : NULL,
										   reader);
	if (reader->guessed_after == NULL)
		reader_swap_pages(reader);	/* else done before the guessed request */
	reader->count = fauna_page_count(reader->page);

	memset(&stats, 0, sizeof(stats));
	fauna_page_stats(reader->page, &stats);
	if (reader->snapshot_ts == 0)
		reader->snapshot_ts = stats.txn_ts;
	reader->totals.read_ops += stats.read_ops;
	reader->totals.compute_ops += stats.compute_ops;
	reader->totals.write_ops += stats.write_ops;
	reader->totals.bytes_read += stats.bytes_read;

	/* the next request is built now, while the cursor is in memory */
	oldcxt = MemoryContextSwitchTo(reader->page_cxt);
	after = fauna_page_after(reader->page);
	MemoryContextSwitchTo(oldcxt);
	reader->more = (after != NULL);

	if (reader->guessed_after)
	{
		bool		right = after && strcmp(after, reader->guessed_after) == 0;

		pfree(reader->guessed_after);
		reader->guessed_after = NULL;
		if (right)
			return;				/* its request is on its way */
		fauna_request_abort(reader->conn);
		reader->in_flight = false;
		reader->guesses_abandoned++;
	}

	resetStringInfo(&reader->body);
	if (after)
	{
		if (reader->v4)
		{
			/* v4 cursors do not pin the snapshot: stay at the first page's */
			if (reader->v4_snapshot == 0)
				reader->v4_snapshot = stats.txn_ts;
			fauna_fql_v4_page(reader->v4, NULL, after, reader->v4_snapshot,
							  &reader->body, NULL);
		}
		else
			fauna_fql_next_page(after, &reader->body);
		/* never ask for a page beyond a pushed LIMIT's rows */
		if (reader->limit < 0 || reader->returned + reader->count < reader->limit)
			reader_request(reader);
	}
}

void
fauna_first_request(const FaunaQuerySpec *spec, const char *id,
					StringInfo body, StringInfo explain)
{
	if (spec->api_version == 4)
		fauna_fql_v4_page(spec, id, NULL, 0, body, explain);
	else
		fauna_fql_first_page(spec, id, body, explain);
}

void
fauna_reader_start(FaunaReader *reader, const FaunaQuerySpec *spec,
				   const char *id)
{
	resetStringInfo(&reader->body);
	fauna_first_request(spec, id, &reader->body, NULL);
	reader->more = true;
	reader->page = NULL;
	reader->count = 0;
	reader->next = 0;
	reader->returned = 0;
	reader->snapshot_ts = 0;
	reader->limit = spec->limit;
	reader->expect = spec->by_id ? FAUNA_EXPECT_DOCUMENT : FAUNA_EXPECT_PAGE;
	reader->v4 = (spec->api_version == 4) ? spec : NULL;
	reader->v4_snapshot = 0;
}

/*
 * Advance to the next document: returns its index in reader->page, or -1
 * when the result is exhausted.  Fetches pages as needed; an empty page
 * with a cursor is legal and skipped.
 */
int
fauna_reader_next(FaunaReader *reader)
{
	/* a pushed LIMIT: the rows past it are not Fauna's to send */
	if (reader->limit >= 0 && reader->returned >= reader->limit)
		return -1;
	while (reader->page == NULL || reader->next >= reader->count)
	{
		if (!reader->more)
			return -1;
		reader_fetch(reader);
	}

	/* every 64 rows, let the next page's transfer progress (no waiting) */
	if (reader->in_flight && (reader->next & 63) == 63)
		fauna_request_poll(reader->conn);

	reader->documents++;
	reader->returned++;
	return reader->next++;
}

void
fauna_reader_release(FaunaReader *reader)
{
	fauna_reader_reset(reader);
	MemoryContextDelete(reader->page_cxt);
	MemoryContextDelete(reader->next_cxt);
	pfree(reader->body.data);
}

/*
 * Is the next document, or the end of the result, there without waiting
 * for the network?  Starts the request of the next page if it is needed
 * and not on its way yet.
 */
bool
fauna_reader_ready(FaunaReader *reader)
{
	if (reader->limit >= 0 && reader->returned >= reader->limit)
		return true;
	if (reader->page != NULL && reader->next < reader->count)
		return true;
	if (!reader->more)
		return true;
	if (!reader->in_flight)
		reader_request(reader);
	return fauna_request_finished(reader->conn);
}

void
fauna_reader_counts(const FaunaReader *reader, FaunaReaderCounts *counts)
{
	counts->counters = reader->counters;
	counts->totals = reader->totals;
	counts->documents = reader->documents;
	counts->guesses_abandoned = reader->guesses_abandoned;
}

void
fauna_reader_counts_add(FaunaReaderCounts *sum, const FaunaReaderCounts *counts)
{
	sum->counters.requests += counts->counters.requests;
	sum->counters.attempts += counts->counters.attempts;
	sum->counters.bytes_received += counts->counters.bytes_received;
	sum->totals.read_ops += counts->totals.read_ops;
	sum->totals.compute_ops += counts->totals.compute_ops;
	sum->totals.write_ops += counts->totals.write_ops;
	sum->totals.bytes_read += counts->totals.bytes_read;
	sum->documents += counts->documents;
	sum->guesses_abandoned += counts->guesses_abandoned;
}
