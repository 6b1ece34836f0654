/*-------------------------------------------------------------------------
 *
 * fql_v4.c
 *		  The FQL v4 expressions of scans and of discovery (server option
 *		  api_version '4'), and the discovery of a collection's ts index.
 *
 * FQL v4 has no text syntax on the wire: a query is the JSON encoding of
 * its expression tree (POST /, fauna-protocol.md section 3), in the form
 * the official drivers send (faunadb-js src/query.js):
 *
 *	Map(Paginate(Documents(Collection(c)), {size, after?}),
 *		Lambda("x", Get(Var("x"))))
 *	  {"map": {"lambda": "x", "expr": {"get": {"var": "x"}}},
 *	   "collection": {"paginate": {"documents": {"collection": c}},
 *					  "size": n, "after": [...]}}
 *
 *	a ts range over an index with values [ts, ref] and no terms:
 *	Map(Paginate(Range(Match(Index(i)), [lo], [hi]), {size, after?}),
 *		Lambda(["ts", "ref"], Get(Var("ref"))))
 *
 *	ref = id:
 *	If(Exists(Ref(Collection(c), id)), Get(Ref(Collection(c), id)), null)
 *	  (a missing document is no row, not a 404)
 *
 * Values from SQL (ids, ts bounds) are JSON values inside the expression,
 * so they cannot change its shape; collection and index names are
 * identifiers checked by the validator and escaped all the same.  Range
 * bounds are inclusive value prefixes, and ts is an integer number of
 * microseconds in an index, so a strict bound is the inclusive bound one
 * microsecond further: the result is exact, nothing is filtered locally.
 *
 * v4 cursors do not pin the snapshot: the first page runs at the
 * transaction time Fauna reports (x-txn-time), and each following page is
 * wrapped in At(that time, ...), so a multi-page scan (and the Get of each
 * of its documents) reads one consistent snapshot.
 *
 * IDENTIFICATION
 *		  src/fql_v4.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* {"collection": "<name>"}, or Collection("<name>") */
static void
append_collection(StringInfo buf, const char *name, bool fql)
{
	if (fql)
	{
		appendStringInfoString(buf, "Collection(");
		escape_json(buf, name);
		appendStringInfoChar(buf, ')');
	}
	else
	{
		appendStringInfoString(buf, "{\"collection\": ");
		escape_json(buf, name);
		appendStringInfoChar(buf, '}');
	}
}

/* Ref(Collection(c), id): the id a JSON string */
static void
append_ref(StringInfo buf, const char *collection, const char *id, bool fql)
{
	if (fql)
	{
		appendStringInfoString(buf, "Ref(");
		append_collection(buf, collection, true);
		appendStringInfoString(buf, ", $1)");
	}
	else
	{
		appendStringInfoString(buf, "{\"ref\": ");
		append_collection(buf, collection, false);
		appendStringInfoString(buf, ", \"id\": ");
		escape_json(buf, id ? id : "");
		appendStringInfoChar(buf, '}');
	}
}

/* The ts range bounds of a Range(): [from], [to] as JSON, or as $n text. */
static void
append_range_bounds(StringInfo buf, const FaunaTsRange *r, bool fql)
{
	int			param = 1;

	appendStringInfoString(buf, fql ? ", [" : ", \"from\": [");
	if (r->has_lower)
	{
		if (fql)
			appendStringInfo(buf, r->lower_strict ? "Add($%d, 1)" : "$%d", param++);
		else
			appendStringInfo(buf, INT64_FORMAT,
							 r->lower_strict ? r->lower + 1 : r->lower);
	}
	appendStringInfoString(buf, fql ? "], [" : "], \"to\": [");
	if (r->has_upper)
	{
		if (fql)
			appendStringInfo(buf, r->upper_strict ? "Subtract($%d, 1)" : "$%d", param++);
		else
			appendStringInfo(buf, INT64_FORMAT,
							 r->upper_strict ? r->upper - 1 : r->upper);
	}
	appendStringInfoChar(buf, ']');
}

/* The whole expression, as JSON (fql false) or as FQL v4 text. */
static void
append_expression(StringInfo buf, const FaunaQuerySpec *spec, const char *id,
				  const char *after, bool fql)
{
	bool		range = (spec->ts_index != NULL);

	if (spec->by_id)
	{
		if (fql)
		{
			appendStringInfoString(buf, "If(Exists(");
			append_ref(buf, spec->collection, id, true);
			appendStringInfoString(buf, "), Get(");
			append_ref(buf, spec->collection, id, true);
			appendStringInfoString(buf, "), null)");
		}
		else
		{
			appendStringInfoString(buf, "{\"if\": {\"exists\": ");
			append_ref(buf, spec->collection, id, false);
			appendStringInfoString(buf, "}, \"then\": {\"get\": ");
			append_ref(buf, spec->collection, id, false);
			appendStringInfoString(buf, "}, \"else\": null}");
		}
		return;
	}

	if (fql)
	{
		appendStringInfoString(buf, "Map(Paginate(");
		if (range)
		{
			appendStringInfoString(buf, "Range(Match(Index(");
			escape_json(buf, spec->ts_index);
			appendStringInfoString(buf, "))");
			append_range_bounds(buf, &spec->ts_range, true);
			appendStringInfoChar(buf, ')');
		}
		else
		{
			appendStringInfoString(buf, "Documents(");
			append_collection(buf, spec->collection, true);
			appendStringInfoChar(buf, ')');
		}
		appendStringInfo(buf, ", {size: %d}), ", spec->page_size);
		appendStringInfoString(buf, range
							   ? "Lambda([\"ts\", \"ref\"], Get(Var(\"ref\"))))"
							   : "Lambda(\"x\", Get(Var(\"x\"))))");
		return;
	}

	appendStringInfoString(buf, range
						   ? "{\"map\": {\"lambda\": [\"ts\", \"ref\"], \"expr\": {\"get\": {\"var\": \"ref\"}}}, "
						   : "{\"map\": {\"lambda\": \"x\", \"expr\": {\"get\": {\"var\": \"x\"}}}, ");
	appendStringInfoString(buf, "\"collection\": {\"paginate\": ");
	if (range)
	{
		appendStringInfoString(buf, "{\"range\": {\"match\": {\"index\": ");
		escape_json(buf, spec->ts_index);
		appendStringInfoString(buf, "}}");
		append_range_bounds(buf, &spec->ts_range, false);
		appendStringInfoChar(buf, '}');
	}
	else
	{
		appendStringInfoString(buf, "{\"documents\": ");
		append_collection(buf, spec->collection, false);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfo(buf, ", \"size\": %d", spec->page_size);
	if (after)
		appendStringInfo(buf, ", \"after\": %s", after);
	appendStringInfoString(buf, "}}");
}

void
fauna_fql_v4_page(const FaunaQuerySpec *spec, const char *id,
				  const char *after, int64 snapshot_ts,
				  StringInfo body, StringInfo explain)
{
	if (body)
	{
		if (snapshot_ts > 0)
			appendStringInfo(body, "{\"at\": " INT64_FORMAT ", \"expr\": ",
							 snapshot_ts);
		append_expression(body, spec, id, after, false);
		if (snapshot_ts > 0)
			appendStringInfoChar(body, '}');
	}
	if (explain)
		append_expression(explain, spec, id, NULL, true);
}

/* ----------------------------------------------------------------
 * Discovery: collections, indexes, and the probes of fauna_fdw_check()
 *
 * v4 indexes are not part of a collection's definition: they are listed
 * with Paginate(Indexes()), page by page, each one read with Get.  For one
 * collection the page is filtered on the server to the indexes whose
 * source is that collection, so that a database with many indexes sends
 * few of them; the filtered page keeps its "after" cursor.
 * ----------------------------------------------------------------
 */

/* Index and collection definitions are small: at most this many a page. */
#define FAUNA_V4_LIST_PAGE_MAX	1000

/* {"size": n, "after": cursor}: the cursor is the previous page's, verbatim */
static void
append_page_params(StringInfo buf, int page_size, const char *after)
{
	appendStringInfo(buf, ", \"size\": %d",
					 Max(1, Min(page_size, FAUNA_V4_LIST_PAGE_MAX)));
	if (after)
		appendStringInfo(buf, ", \"after\": %s", after);
}

void
fauna_fql_v4_list_indexes(const char *collection, int page_size,
						  const char *after, StringInfo body)
{
	/*
	 * Filter(Map(Paginate(Indexes(), {...}), Lambda("i", Get(Var("i")))),
	 *		  Lambda("x", Equals(Select("source", Var("x"), null),
	 *							 Collection(c))))
	 */
	if (collection)
	{
		appendStringInfoString(body,
							   "{\"filter\": {\"lambda\": \"x\", \"expr\": {\"equals\": ["
							   "{\"select\": \"source\", \"from\": {\"var\": \"x\"}, \"default\": null}, ");
		append_collection(body, collection, false);
		appendStringInfoString(body, "]}}, \"collection\": ");
	}
	appendStringInfoString(body,
						   "{\"map\": {\"lambda\": \"i\", \"expr\": {\"get\": {\"var\": \"i\"}}}, "
						   "\"collection\": {\"paginate\": {\"indexes\": null}");
	append_page_params(body, page_size, after);
	appendStringInfoString(body, "}}");
	if (collection)
		appendStringInfoChar(body, '}');
}

/* Map(Paginate(Collections(), {...}), Lambda("c", Get(Var("c")))) */
void
fauna_fql_v4_list_collections(int page_size, const char *after,
							  StringInfo body)
{
	appendStringInfoString(body,
						   "{\"map\": {\"lambda\": \"c\", \"expr\": {\"get\": {\"var\": \"c\"}}}, "
						   "\"collection\": {\"paginate\": {\"collections\": null}");
	append_page_params(body, page_size, after);
	appendStringInfoString(body, "}}");
}

/* Can the key read the collection?  Its first page of one document. */
void
fauna_fql_v4_probe_read(const char *collection, StringInfo body)
{
	FaunaQuerySpec spec;

	memset(&spec, 0, sizeof(spec));
	spec.collection = (char *) collection;
	spec.page_size = 1;
	spec.limit = -1;
	spec.api_version = 4;
	fauna_fql_v4_page(&spec, NULL, NULL, 0, body, NULL);
}

/*
 * Can the key read the collection's events?  (v4 has no event sources:
 * an event table pages through Documents(c) with events: true.)  One
 * event from the oldest the collection's history still holds.
 */
void
fauna_fql_v4_probe_events(const char *collection, StringInfo body)
{
	fauna_fql_v4_events_page(collection, 0, NULL, 1, 0, body);
}

bool
fauna_v4_walk_indexes(FaunaConn *conn, const char *collection, int page_size,
					  bool optional, FaunaV4IndexFn fn, void *arg)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "fauna_fdw v4 indexes",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt;
	FaunaRequestCounters counters;
	StringInfoData body;
	char	   *after = NULL;
	bool		ok = true;
	bool		more = true;

	memset(&counters, 0, sizeof(counters));
	initStringInfo(&body);
	while (more)
	{
		FaunaPage  *page;
		int			n;

		CHECK_FOR_INTERRUPTS();

		resetStringInfo(&body);
		fauna_fql_v4_list_indexes(collection, page_size, after, &body);
		if (after)
			pfree(after);
		after = NULL;
		fauna_request_start(conn, body.data, collection ? collection : "indexes",
							cxt);
		page = optional ? fauna_request_wait_optional(conn, &counters)
			: fauna_request_wait(conn, &counters);
		if (page == NULL)
		{
			ok = false;
			break;
		}

		n = fauna_page_count(page);
		for (int i = 0; i < n && more; i++)
		{
			char	   *name;
			char	   *source;
			FaunaIndexShape shape;
			bool		is_index;

			/* the strings die with the page: fn copies what it keeps */
			oldcxt = MemoryContextSwitchTo(cxt);
			is_index = fauna_v4_page_index(page, i, &name, &source, &shape);
			MemoryContextSwitchTo(oldcxt);
			if (is_index && !fn(arg, name, source, fauna_index_flaw(&shape)))
				more = false;
		}
		if (more)
			after = fauna_page_after(page);
		MemoryContextReset(cxt);
		if (after == NULL)
			more = false;
	}
	MemoryContextDelete(cxt);
	pfree(body.data);
	return ok;
}

/*
 * The ts index of index 'auto', per user mapping and collection, kept
 * until the end of the transaction: a statement that reads a collection
 * through several tables, a PL/pgSQL loop or fauna_sync() list the
 * indexes once, and the next transaction sees an index created or
 * dropped in the meantime (as a plan made now would not anyway, after the
 * plan is cached).  ALTER SERVER or USER MAPPING forget everything (the
 * endpoint or the key may have changed).
 */
typedef struct V4IndexCacheEntry
{
	Oid			umid;
	char	   *collection;
	char	   *index;			/* NULL: none */
} V4IndexCacheEntry;

static MemoryContext v4_cache_cxt = NULL;
static List *v4_cache = NIL;

static void
v4_cache_reset(void)
{
	v4_cache = NIL;
	if (v4_cache_cxt)
		MemoryContextReset(v4_cache_cxt);
}

static void
v4_cache_xact_callback(XactEvent event, void *arg)
{
	v4_cache_reset();
}

static void
v4_cache_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	v4_cache_reset();
}

/* The first qualifying index, found while walking: stop there. */
static bool
v4_first_ts_index(void *arg, const char *name, const char *collection,
				  FaunaIndexFlaw flaw)
{
	char	  **result = (char **) arg;

	if (flaw != FAUNA_INDEX_OK)
		return true;
	*result = pstrdup(name);
	return false;
}

char *
fauna_v4_ts_index(UserMapping *user, ForeignServer *server,
				  const char *collection, int page_size)
{
	V4IndexCacheEntry *e;
	ListCell   *lc;
	char	   *result = NULL;
	MemoryContext oldcxt;

	if (v4_cache_cxt == NULL)
	{
		v4_cache_cxt = AllocSetContextCreate(TopMemoryContext,
											 "fauna_fdw v4 index cache",
											 ALLOCSET_SMALL_SIZES);
		RegisterXactCallback(v4_cache_xact_callback, NULL);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID,
									  v4_cache_inval_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID,
									  v4_cache_inval_callback, (Datum) 0);
	}

	foreach(lc, v4_cache)
	{
		e = (V4IndexCacheEntry *) lfirst(lc);
		if (e->umid == user->umid && strcmp(e->collection, collection) == 0)
			return e->index ? pstrdup(e->index) : NULL;
	}

	/* no answer (the key may not read indexes): no index, not remembered */
	if (!fauna_v4_walk_indexes(fauna_get_connection(user, server), collection,
							   page_size, true, v4_first_ts_index, &result))
		return NULL;

	oldcxt = MemoryContextSwitchTo(v4_cache_cxt);
	e = palloc(sizeof(V4IndexCacheEntry));
	e->umid = user->umid;
	e->collection = pstrdup(collection);
	e->index = result ? pstrdup(result) : NULL;
	v4_cache = lappend(v4_cache, e);
	MemoryContextSwitchTo(oldcxt);
	return result;
}

/* ----------------------------------------------------------------
 * Event tables (events 'true') over FQL v4
 *
 * The events of a collection are Paginate(Documents(c), {events: true}):
 * create/update/delete events {"ts", "action", "document", "data"?} in
 * (ts, ref, action) order, "after" inclusive (a ts in µs for the first
 * page, then the page's "after" event cursor).  Each event is mapped, on
 * the server, to the shape of a v4 document plus its action, so that a
 * page of events decodes like a page of documents:
 *
 *	{ref: document, ts: event ts, action: "add"|"update"|"remove", data}
 *
 * create and update give "add" and "update" with the event's data (the
 * document after the write).  A v4 delete event carries no data, so a
 * "remove" takes the document as it was from a read one microsecond before
 * the delete (Get(ref, ts - 1)), which the collection's history keeps as
 * long as it keeps the event; null if that read finds nothing.
 * ----------------------------------------------------------------
 */

/* The Lambda applied to each event, as JSON and as FQL v4 text. */
#define V4_EVENT_LAMBDA_JSON \
	"{\"lambda\": \"e\", \"expr\": {\"let\": [" \
	"{\"ts\": {\"select\": \"ts\", \"from\": {\"var\": \"e\"}}}, " \
	"{\"ref\": {\"select\": \"document\", \"from\": {\"var\": \"e\"}}}, " \
	"{\"action\": {\"select\": \"action\", \"from\": {\"var\": \"e\"}}}], " \
	"\"in\": {\"if\": {\"equals\": [{\"var\": \"action\"}, \"delete\"]}, " \
	"\"then\": {\"object\": {\"ref\": {\"var\": \"ref\"}, \"ts\": {\"var\": \"ts\"}, " \
	"\"action\": \"remove\", " \
	"\"data\": {\"if\": {\"exists\": {\"var\": \"ref\"}, \"ts\": {\"add\": [{\"var\": \"ts\"}, -1]}}, " \
	"\"then\": {\"select\": \"data\", \"from\": {\"get\": {\"var\": \"ref\"}, " \
	"\"ts\": {\"add\": [{\"var\": \"ts\"}, -1]}}, \"default\": null}, \"else\": null}}}, " \
	"\"else\": {\"object\": {\"ref\": {\"var\": \"ref\"}, \"ts\": {\"var\": \"ts\"}, " \
	"\"action\": {\"if\": {\"equals\": [{\"var\": \"action\"}, \"create\"]}, " \
	"\"then\": \"add\", \"else\": \"update\"}, " \
	"\"data\": {\"select\": \"data\", \"from\": {\"var\": \"e\"}, \"default\": null}}}}}}"

#define V4_EVENT_LAMBDA_FQL \
	"Lambda(\"e\", Let({ts: Select(\"ts\", Var(\"e\")), ref: Select(\"document\", Var(\"e\")), " \
	"action: Select(\"action\", Var(\"e\"))}, " \
	"If(Equals(Var(\"action\"), \"delete\"), " \
	"{ref: Var(\"ref\"), ts: Var(\"ts\"), action: \"remove\", " \
	"data: If(Exists(Var(\"ref\"), Add(Var(\"ts\"), -1)), " \
	"Select(\"data\", Get(Var(\"ref\"), Add(Var(\"ts\"), -1)), null), null)}, " \
	"{ref: Var(\"ref\"), ts: Var(\"ts\"), " \
	"action: If(Equals(Var(\"action\"), \"create\"), \"add\", \"update\"), " \
	"data: Select(\"data\", Var(\"e\"), null)})))"

/*
 * A page of the events of a collection: from after_ts (inclusive, µs) on
 * the first page, else from the previous page's "after" event cursor (its
 * JSON text, an object: sent as {"object": ...}, the form the drivers
 * send).  Pages after the first read at snapshot_ts (At), like document
 * scans, so a multi-page scan lists the events of one snapshot.
 */
void
fauna_fql_v4_events_page(const char *collection, int64 after_ts,
						 const char *after_cursor, int page_size,
						 int64 snapshot_ts, StringInfo body)
{
	if (snapshot_ts > 0)
		appendStringInfo(body, "{\"at\": " INT64_FORMAT ", \"expr\": ",
						 snapshot_ts);
	appendStringInfoString(body, "{\"map\": " V4_EVENT_LAMBDA_JSON ", "
						   "\"collection\": {\"paginate\": {\"documents\": ");
	append_collection(body, collection, false);
	appendStringInfoString(body, "}, \"events\": true, \"after\": ");
	if (after_cursor)
		appendStringInfo(body, "{\"object\": %s}", after_cursor);
	else
		appendStringInfo(body, INT64_FORMAT, after_ts);
	appendStringInfo(body, ", \"size\": %d}}", page_size);
	if (snapshot_ts > 0)
		appendStringInfoChar(body, '}');
}

/* The FQL v4 text EXPLAIN shows for it; the start is $1 (µs). */
void
fauna_fql_v4_events_explain(const char *collection, bool lower_strict,
							int page_size, StringInfo explain)
{
	appendStringInfoString(explain, "Map(Paginate(Documents(");
	append_collection(explain, collection, true);
	appendStringInfo(explain, "), {events: true, after: %s, size: %d}), "
					 V4_EVENT_LAMBDA_FQL ")",
					 lower_strict ? "Add($1, 1)" : "$1", page_size);
}

/*
 * The collection's history_days as a document-shaped object
 * {ref, ts, data: {history_days}}, so that it decodes like a document:
 * Let({c: Get(Collection(c))}, {ref: ..., ts: ..., data: {history_days}}).
 * history_days is null when the collection keeps its history forever.
 */
void
fauna_fql_v4_collection_history(const char *collection, StringInfo body)
{
	appendStringInfoString(body, "{\"let\": [{\"c\": {\"get\": ");
	append_collection(body, collection, false);
	appendStringInfoString(body,
						   "}}], \"in\": {\"object\": {"
						   "\"ref\": {\"select\": \"ref\", \"from\": {\"var\": \"c\"}}, "
						   "\"ts\": {\"select\": \"ts\", \"from\": {\"var\": \"c\"}}, "
						   "\"data\": {\"object\": {\"history_days\": "
						   "{\"select\": \"history_days\", \"from\": {\"var\": \"c\"}, \"default\": null}}}}}}");
}
