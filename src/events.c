/*-------------------------------------------------------------------------
 *
 * events.c
 *		  Scans of event tables (table option events 'true').
 *
 * An event table lists the changes of a collection: one row per add,
 * update and remove, with columns (ref, ts, action, data, fields...) taken
 * from the event's document (for a remove, the document as it was), ts
 * being the event's transaction time and action its type.
 *
 * A scan reads the collection's event feed: a /query/1 request for the
 * token of Coll.all().eventSource(), then POST /feed/1 pages from start_ts,
 * the pushed lower bound on ts (the feed's start is exclusive, so "ts >= x"
 * starts at x - 1 µs), following the cursor while has_next.  Events come in
 * transaction order, so an upper bound on ts ends the scan at the first
 * event past it.
 *
 * A scan needs a lower bound on ts: without one a feed starts at the
 * token's creation (now) and would always be empty, and the start of the
 * collection's retained history cannot be known from the client; such a
 * scan is an ERROR whose hint says to add "WHERE ts > ...".  A bound older
 * than the history Fauna keeps (invalid_stream_start_time) is an ERROR too,
 * with a hint that a full refresh is needed.
 *
 * On a server with api_version '4' there is no event feed: the scan pages
 * through Paginate(Documents(c), {events: true, after}) over POST / (the
 * expression is built by fql_v4.c, which maps each event to a row-shaped
 * object, a remove with the document as it was).  The first page starts at
 * the lower bound (after is inclusive, so "ts > x" starts at x + 1 µs);
 * the following ones send the previous page's "after" event cursor, inside
 * At(the first page's transaction time), like v4 document scans.  FQL v4
 * does not report a start older than the history it keeps (the events are
 * simply gone), so before the first page the scan reads the collection's
 * history_days and raises the same error as the v10 feed
 * (invalid_stream_start_time, with the full-refresh hint) when the bound
 * is older than history_days plus Fauna's 15 minutes of slack.  A key that
 * may not read the collection's definition skips that check.
 *
 * Memory: one page at a time lives in page_cxt, reset before each request;
 * the caller converts each row in its per-tuple context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include "catalog/pg_type_d.h"
#include "common/int.h"
#include "commands/explain.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

struct FaunaEventScan
{
	FaunaConn  *conn;
	const char *collection;
	const char *relname;
	int			page_size;
	MemoryContext cxt;			/* the token; lives as long as the scan */
	MemoryContext page_cxt;		/* the current page; reset per request */
	char	   *token;			/* event source token, NULL until asked */
	FaunaTsRange range;			/* bounds of this (re)scan */
	StringInfoData body;		/* the next feed request */
	FaunaPage  *page;
	int			count;
	int			next;
	bool		more;			/* another page can be requested */
	bool		done;			/* past the upper bound */
	FaunaRequestCounters counters;
	FaunaStats	totals;
	int64		events;
	int			api_version;	/* 10, or 4: Paginate(..., {events: true}) */
	int64		v4_snapshot;	/* v4: the first page's transaction time */
	bool		v4_history_checked;
};

/* Fauna keeps a collection's history this much longer than history_days. */
#define FAUNA_HISTORY_SLACK_US	(INT64CONST(15) * 60 * 1000000)

FaunaEventScan *
fauna_events_begin(FaunaConn *conn, const char *collection,
				   const char *relname, int page_size, int api_version)
{
	FaunaEventScan *es = palloc0(sizeof(FaunaEventScan));

	es->conn = conn;
	es->api_version = api_version;
	es->collection = pstrdup(collection);
	es->relname = pstrdup(relname);
	es->page_size = page_size;
	es->cxt = CurrentMemoryContext;
	es->page_cxt = AllocSetContextCreate(CurrentMemoryContext,
										 "fauna_fdw event page",
										 ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&es->body);
	return es;
}

/* Add a page's Fauna counters to the scan's. */
static void
add_stats(FaunaEventScan *es, FaunaPage *page)
{
	FaunaStats	stats;

	memset(&stats, 0, sizeof(stats));
	fauna_page_stats(page, &stats);
	es->totals.read_ops += stats.read_ops;
	es->totals.compute_ops += stats.compute_ops;
	es->totals.write_ops += stats.write_ops;
	es->totals.bytes_read += stats.bytes_read;
}

/* Coll.all().eventSource(): the token, asked once per scan. */
static void
fetch_token(FaunaEventScan *es)
{
	StringInfoData body;
	FaunaPage  *page;
	const char *token;

	initStringInfo(&body);
	fauna_fql_event_source(es->collection, &body, NULL);
	MemoryContextReset(es->page_cxt);
	fauna_request_start(es->conn, body.data, es->collection, es->page_cxt);
	page = fauna_request_wait(es->conn, &es->counters);
	add_stats(es, page);
	token = fauna_page_stream(page);
	if (token == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for collection \"%s\"",
						es->collection),
				 errdetail("%s.all().eventSource() did not return an event source.",
						   es->collection)));
	es->token = MemoryContextStrdup(es->cxt, token);
	MemoryContextReset(es->page_cxt);
}

/* A time in microseconds since the Unix epoch, as text for messages. */
static const char *
us_text(int64 us)
{
	return timestamptz_to_str((TimestampTz) (us - FAUNA_UNIX_EPOCH_OFFSET_US));
}

/*
 * FQL v4: raise invalid_stream_start_time, as the v10 feed would, when
 * start_ts (exclusive) is older than the history the collection keeps.
 * Checked once per scan, from the collection's history_days (null: kept
 * forever) and the transaction time of that read.
 */
static void
v4_check_history(FaunaEventScan *es, int64 start_ts)
{
	StringInfoData body;
	FaunaPage  *page;
	Datum		value;
	bool		isnull;
	FaunaStats	stats;
	int64		days;
	int64		oldest;
	int64		history_us;

	if (es->v4_history_checked)
		return;
	initStringInfo(&body);
	fauna_fql_v4_collection_history(es->collection, &body);
	MemoryContextReset(es->page_cxt);
	fauna_request_start(es->conn, body.data, es->collection, es->page_cxt);
	page = fauna_request_wait_optional(es->conn, &es->counters);
	pfree(body.data);
	if (page == NULL || fauna_page_count(page) != 1)
	{
		/* no such collection (the events page says so), or not readable */
		MemoryContextReset(es->page_cxt);
		es->v4_history_checked = true;
		return;
	}
	add_stats(es, page);

	value = fauna_page_field(page, 0, FAUNA_PATH_FIELD, "history_days", INT8OID,
							 &isnull);
	memset(&stats, 0, sizeof(stats));
	fauna_page_stats(page, &stats);
	MemoryContextReset(es->page_cxt);
	es->v4_history_checked = true;
	if (isnull || stats.txn_ts <= 0)
		return;

	days = DatumGetInt64(value);
	if (days < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for collection \"%s\"",
						es->collection),
				 errdetail("The collection's history_days is negative (%lld).",
						   (long long) days)));
	/* a history longer than any time can be written keeps every event */
	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &history_us) ||
		pg_sub_s64_overflow(stats.txn_ts, history_us, &oldest) ||
		pg_sub_s64_overflow(oldest, FAUNA_HISTORY_SLACK_US, &oldest))
		return;
	if (start_ts < oldest)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("the events of Fauna collection \"%s\" after %s are no longer available",
						es->collection, us_text(es->range.lower)),
				 errdetail("invalid_stream_start_time: the collection keeps %lld days of history, so its oldest event is from %s (FQL v4 does not report this; fauna_fdw checks history_days).",
						   (long long) days, us_text(oldest)),
				 errhint("The bound is older than the history Fauna keeps for the collection; a full refresh is needed (read the document table again instead of the event table).")));
}

/*
 * Start (or restart) the scan for the given bounds on ts.  The caller has
 * already ruled out empty ranges.
 */
void
fauna_events_start(FaunaEventScan *es, const FaunaTsRange *range)
{
	int64		start_ts;

	if (!range->has_lower)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("a scan of event table \"%s\" needs a lower bound on ts",
						es->relname),
				 errdetail("Fauna's event feed of collection \"%s\" starts at a given time; without one it would list no event.",
						   es->collection),
				 errhint("Add a condition such as WHERE ts > '2024-01-01'; events are kept as long as the collection's history.")));

	es->range = *range;
	/* the feed's start_ts is exclusive */
	start_ts = range->lower_strict ? range->lower : range->lower - 1;

	resetStringInfo(&es->body);
	if (es->api_version == 4)
	{
		v4_check_history(es, start_ts);
		/* Paginate's after is inclusive */
		es->v4_snapshot = 0;
		fauna_fql_v4_events_page(es->collection, start_ts + 1, NULL,
								 es->page_size, 0, &es->body);
	}
	else
	{
		if (es->token == NULL)
			fetch_token(es);
		fauna_feed_body(es->token, NULL, start_ts, es->page_size, &es->body);
	}
	es->page = NULL;
	es->count = 0;
	es->next = 0;
	es->more = true;
	es->done = false;
}

/* Report an error event of the feed. */
static void
feed_error(FaunaEventScan *es, const char *code, const char *message)
{
	if (strcmp(code, "invalid_stream_start_time") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("the events of Fauna collection \"%s\" after %s are no longer available",
						es->collection, us_text(es->range.lower)),
				 errdetail("Fauna error invalid_stream_start_time: %s", message),
				 errhint("The bound is older than the history Fauna keeps for the collection; a full refresh is needed (read the document table again instead of the event table).")));
	if (strcmp(code, "permission_denied") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the events of Fauna collection \"%s\"",
						es->collection),
				 errdetail("Fauna error %s: %s", code, message)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("error in the event feed of Fauna collection \"%s\"",
					es->collection),
			 errdetail("Fauna error %s: %s", code, message)));
}

/* Send the request in es->body and make its answer the current page. */
static void
fetch_page(FaunaEventScan *es)
{
	MemoryContext oldcxt;
	char	   *code;
	char	   *message;
	char	   *after;

	es->page = NULL;
	es->count = 0;
	es->next = 0;
	MemoryContextReset(es->page_cxt);

	if (es->api_version == 4)
		fauna_request_start(es->conn, es->body.data, es->collection, es->page_cxt);
	else
		fauna_feed_request_start(es->conn, es->body.data, es->collection, es->page_cxt);
	es->page = fauna_request_wait(es->conn, &es->counters);
	es->count = fauna_page_count(es->page);
	add_stats(es, es->page);

	/* rows before the error event are not returned: the result is wrong */
	if (fauna_page_feed_error(es->page, &code, &message))
		feed_error(es, code, message);

	oldcxt = MemoryContextSwitchTo(es->page_cxt);
	after = fauna_page_after(es->page);
	MemoryContextSwitchTo(oldcxt);
	es->more = (after != NULL);
	if (after && es->api_version == 4)
	{
		FaunaStats	stats;

		/* v4 cursors do not pin the snapshot: stay at the first page's */
		if (es->v4_snapshot == 0)
		{
			memset(&stats, 0, sizeof(stats));
			fauna_page_stats(es->page, &stats);
			es->v4_snapshot = stats.txn_ts;
		}
		resetStringInfo(&es->body);
		fauna_fql_v4_events_page(es->collection, 0, after, es->page_size,
								 es->v4_snapshot, &es->body);
	}
	else if (after)
	{
		char	   *token = es->token;

		resetStringInfo(&es->body);
		fauna_feed_body(token, after, 0, es->page_size, &es->body);
	}
}

/*
 * The next event into values/isnull (converted in CurrentMemoryContext);
 * false at the end.
 */
bool
fauna_events_next(FaunaEventScan *es, FaunaColumn *columns, int ncolumns,
				  Datum *values, bool *isnull)
{
	for (;;)
	{
		int			i;
		int64		ts;

		if (es->done)
			return false;
		if (es->page == NULL || es->next >= es->count)
		{
			if (!es->more)
				return false;
			fetch_page(es);
			continue;
		}
		i = es->next++;
		ts = fauna_page_event_ts(es->page, i);

		/* events are in transaction order: past the upper bound, stop */
		if (es->range.has_upper &&
			(ts > es->range.upper ||
			 (ts == es->range.upper && es->range.upper_strict)))
		{
			es->done = true;
			es->more = false;
			fauna_request_abort(es->conn);
			return false;
		}
		/* the feed starts after start_ts; never return an earlier event */
		if (ts < es->range.lower ||
			(ts == es->range.lower && es->range.lower_strict))
			continue;

		es->events++;
		fauna_page_document(es->page, i, columns, ncolumns, values, isnull);
		return true;
	}
}

/* Drop what is in flight; fauna_events_start() begins again. */
void
fauna_events_rescan(FaunaEventScan *es)
{
	fauna_request_abort(es->conn);
	MemoryContextReset(es->page_cxt);
	es->page = NULL;
	es->count = 0;
	es->next = 0;
	es->more = false;
	es->done = false;
}

void
fauna_events_end(FaunaEventScan *es)
{
	if (es)
		fauna_request_abort(es->conn);
}

/*
 * The text EXPLAIN shows as the "Fauna query" of an event scan: the event
 * source and the feed's bounds, with values as $n.
 */
void
fauna_events_explain_query(const char *collection, const FaunaTsRange *shape,
						   int api_version, int page_size, StringInfo explain)
{
	StringInfoData body;
	int			n = 0;

	if (api_version == 4)
	{
		if (shape->has_lower)
		{
			fauna_fql_v4_events_explain(collection, shape->lower_strict,
										page_size, explain);
			n++;
		}
		else
			appendStringInfoString(explain, "(without a start)");
		if (shape->has_upper)
			appendStringInfo(explain, " until ts %s $%d", shape->upper_strict ? "<" : "<=", ++n);
		return;
	}

	initStringInfo(&body);
	fauna_fql_event_source(collection, &body, explain);
	pfree(body.data);
	appendStringInfoString(explain, " -> /feed/1");
	if (shape->has_lower)
		appendStringInfo(explain, " start_ts %s $%d", shape->lower_strict ? ">" : ">=", ++n);
	else
		appendStringInfoString(explain, " without a start");
	if (shape->has_upper)
		appendStringInfo(explain, " until ts %s $%d", shape->upper_strict ? "<" : "<=", ++n);
}

/* EXPLAIN ANALYZE: what the scan cost on the Fauna side. */
void
fauna_events_explain(FaunaEventScan *es, ExplainState *explain)
{
	ExplainPropertyInteger("Fauna requests", NULL, es->counters.requests, explain);
	if (es->counters.attempts > es->counters.requests)
		ExplainPropertyInteger("Fauna retries", NULL,
							   es->counters.attempts - es->counters.requests, explain);
	ExplainPropertyInteger("Fauna events", NULL, es->events, explain);
	ExplainPropertyInteger("Fauna bytes received", NULL,
						   es->counters.bytes_received, explain);
	ExplainPropertyInteger("Fauna read ops", NULL, es->totals.read_ops, explain);
	ExplainPropertyInteger("Fauna compute ops", NULL, es->totals.compute_ops, explain);
}
