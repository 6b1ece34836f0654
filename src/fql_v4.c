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
