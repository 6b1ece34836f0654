/*-------------------------------------------------------------------------
 *
 * fql_v4.c
 *		  The FQL v4 expression of a scan (server option api_version '4').
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

#include "utils/json.h"

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

void
fauna_fql_v4_list_indexes(StringInfo body)
{
	appendStringInfoString(body,
						   "{\"map\": {\"lambda\": \"i\", \"expr\": {\"get\": {\"var\": \"i\"}}}, "
						   "\"collection\": {\"paginate\": {\"indexes\": null}, \"size\": 1000}}");
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
