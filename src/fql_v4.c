/*-------------------------------------------------------------------------
 *
 * fql_v4.c
 *		  The FQL v4 expressions of scans and of discovery (server option
 *		  api_version '4'): a pure query builder, like fql.c.
 *
 * FQL v4 has no text syntax on the wire: a query is the JSON encoding of
 * its expression tree (POST /), in the form the official drivers send.
 * Each expression is built once as a small tree of V4Expr nodes, then
 * written twice: as JSON for the wire and as FQL v4 text for EXPLAIN, with
 * the values from SQL shown as $n.  The expressions:
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
 *	a part of a parallel scan, at the snapshot of the first and last
 *	documents (Documents are in ref order, and refs of one collection in
 *	the numeric order of their ids, both bounds inclusive):
 *	At(ts, Map(Paginate(Range(Documents(Collection(c)),
 *							  Ref(Collection(c), lo), Ref(Collection(c), hi)),
 *						{size, after?}), Lambda("x", Get(Var("x")))))
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
#include "utils/memutils.h"

/* ----------------------------------------------------------------
 * Expression trees
 * ----------------------------------------------------------------
 */

typedef enum V4Kind
{
	V4_CALL,					/* {"fn": a, "k": b}: Fn(a, b, {opt: c}) */
	V4_VARIADIC,				/* {"fn": [a, b]}: Fn(a, b) */
	V4_STRING,
	V4_INT,
	V4_NULL,
	V4_TRUE,
	V4_ARRAY,
	V4_OBJECT,					/* {"object": {k: v}}: {k: v} */
	V4_LET,						/* {"let": [{k: v}], "in": e}: Let({k: v}, e) */
	V4_PARAM,					/* a value from SQL: $n in FQL text */
	V4_RAW						/* JSON text sent as is (a cursor) */
} V4Kind;

#define V4_MAX_ARGS 6

typedef struct V4Expr
{
	V4Kind		kind;
	const char *name;			/* CALL, VARIADIC: the FQL function; STRING,
								 * PARAM (a string value), RAW: the text */
	const char *wire_name;		/* VARIADIC: the function's JSON key */
	int64		number;			/* INT, PARAM (a number) */
	int			param;			/* PARAM: its $n */
	int			delta;			/* PARAM: sent as number + delta, shown as
								 * Add($n, delta) */
	int			nargs;
	const char *keys[V4_MAX_ARGS];	/* the JSON key (field name) of each */
	struct V4Expr *args[V4_MAX_ARGS];	/* in FQL order */
	int			json_first;		/* CALL: the argument whose key opens the
								 * JSON object (the function's name) */
	int			nopts;			/* CALL: the last nopts are FQL options */
} V4Expr;

static V4Expr *
v4_node(V4Kind kind, const char *name)
{
	V4Expr	   *e = palloc0(sizeof(V4Expr));

	e->kind = kind;
	e->name = name;
	return e;
}

/* Add an argument (a field, an element); value NULL is JSON null. */
static V4Expr *
v4_add(V4Expr *e, const char *key, V4Expr *value)
{
	Assert(e->nargs < V4_MAX_ARGS);
	e->keys[e->nargs] = key;
	e->args[e->nargs++] = value ? value : v4_node(V4_NULL, NULL);
	return e;
}

/* An option of a call: a JSON key beside the others, {key: value} in FQL. */
static V4Expr *
v4_option(V4Expr *e, const char *key, V4Expr *value)
{
	v4_add(e, key, value);
	e->nopts++;
	return e;
}

static V4Expr *
v4_string(const char *s)
{
	return v4_node(V4_STRING, s);
}

static V4Expr *
v4_int(int64 n)
{
	V4Expr	   *e = v4_node(V4_INT, NULL);

	e->number = n;
	return e;
}

/* Fn(a): {"fn": a} */
static V4Expr *
v4_call1(const char *fn, const char *key, V4Expr *a)
{
	return v4_add(v4_node(V4_CALL, fn), key, a);
}

/* Fn(a, b): {"fn": a, "key2": b}; b NULL and optional: Fn(a) */
static V4Expr *
v4_call2(const char *fn, const char *key, V4Expr *a, const char *key2,
		 V4Expr *b, bool optional)
{
	V4Expr	   *e = v4_call1(fn, key, a);

	return (b || !optional) ? v4_add(e, key2, b) : e;
}

static V4Expr *
v4_var(const char *name)
{
	return v4_call1("Var", "var", v4_string(name));
}

static V4Expr *
v4_collection(const char *name)
{
	return v4_call1("Collection", "collection", v4_string(name));
}

/* Select(field, from[, default]): default NULL and !with_default: none */
static V4Expr *
v4_select(const char *field, V4Expr *from, bool with_default)
{
	V4Expr	   *e = v4_call2("Select", "select", v4_string(field), "from", from,
							 false);

	return with_default ? v4_add(e, "default", NULL) : e;
}

/* Map(set, lambda) and Filter(set, lambda): the lambda's key comes first */
static V4Expr *
v4_over_set(const char *fn, const char *key, V4Expr *set, V4Expr *lambda)
{
	V4Expr	   *e = v4_call2(fn, "collection", set, key, lambda, false);

	e->json_first = 1;
	return e;
}

static V4Expr *
v4_lambda(V4Expr *params, V4Expr *expr)
{
	return v4_call2("Lambda", "lambda", params, "expr", expr, false);
}

static V4Expr *
v4_variadic(const char *fn, const char *key, V4Expr *a, V4Expr *b)
{
	V4Expr	   *e = v4_node(V4_VARIADIC, fn);

	e->wire_name = key;
	v4_add(e, NULL, a);
	return v4_add(e, NULL, b);
}

/* Paginate(set, {size, after?}): after is a cursor's JSON text, or NULL */
static V4Expr *
v4_paginate(V4Expr *set, int size, const char *after)
{
	V4Expr	   *e = v4_call1("Paginate", "paginate", set);

	v4_option(e, "size", v4_int(size));
	if (after)
		v4_option(e, "after", v4_node(V4_RAW, after));
	return e;
}

/* A value from SQL: $param in FQL text */
static V4Expr *
v4_param_int(int param, int64 value, int delta)
{
	V4Expr	   *e = v4_int(value);

	e->kind = V4_PARAM;
	e->param = param;
	e->delta = delta;
	return e;
}

static V4Expr *
v4_param_string(int param, const char *value)
{
	V4Expr	   *e = v4_node(V4_PARAM, value);

	e->param = param;
	return e;
}

/* ----------------------------------------------------------------
 * Writing a tree: JSON for the wire, FQL v4 text for EXPLAIN
 * ----------------------------------------------------------------
 */

static void v4_write(StringInfo buf, const V4Expr *e, bool fql);

/* The arguments from..to-1, each as "key: value" or just the value. */
static void
v4_write_list(StringInfo buf, const V4Expr *e, int from, int to, bool keys,
			  bool fql)
{
	for (int i = from; i < to; i++)
	{
		if (i > from)
			appendStringInfoString(buf, ", ");
		if (keys && fql)
			appendStringInfo(buf, "%s: ", e->keys[i]);
		else if (keys)
		{
			escape_json(buf, e->keys[i]);
			appendStringInfoString(buf, ": ");
		}
		v4_write(buf, e->args[i], fql);
	}
}

static void
v4_write_call(StringInfo buf, const V4Expr *e, bool fql)
{
	int			nplain = e->nargs - e->nopts;

	if (fql)
	{
		appendStringInfo(buf, "%s(", e->name);
		v4_write_list(buf, e, 0, nplain, false, true);
		if (e->nopts > 0)
		{
			appendStringInfoString(buf, ", {");
			v4_write_list(buf, e, nplain, e->nargs, true, true);
			appendStringInfoChar(buf, '}');
		}
		appendStringInfoChar(buf, ')');
		return;
	}
	appendStringInfoChar(buf, '{');
	v4_write_list(buf, e, e->json_first, e->json_first + 1, true, false);
	for (int i = 0; i < e->nargs; i++)
	{
		if (i == e->json_first)
			continue;
		appendStringInfoString(buf, ", ");
		v4_write_list(buf, e, i, i + 1, true, false);
	}
	appendStringInfoChar(buf, '}');
}

static void
v4_write_let(StringInfo buf, const V4Expr *e, bool fql)
{
	int			nbindings = e->nargs - 1;

	if (fql)
	{
		appendStringInfoString(buf, "Let({");
		v4_write_list(buf, e, 0, nbindings, true, true);
		appendStringInfoString(buf, "}, ");
	}
	else
	{
		appendStringInfoString(buf, "{\"let\": [");
		for (int i = 0; i < nbindings; i++)
		{
			appendStringInfoString(buf, i > 0 ? ", {" : "{");
			v4_write_list(buf, e, i, i + 1, true, false);
			appendStringInfoChar(buf, '}');
		}
		appendStringInfoString(buf, "], \"in\": ");
	}
	v4_write(buf, e->args[nbindings], fql);
	appendStringInfoChar(buf, fql ? ')' : '}');
}

static void
v4_write_param(StringInfo buf, const V4Expr *e, bool fql)
{
	if (!fql && e->name)
		escape_json(buf, e->name);
	else if (!fql)
		appendStringInfo(buf, INT64_FORMAT, e->number + e->delta);
	else if (e->delta > 0)
		appendStringInfo(buf, "Add($%d, %d)", e->param, e->delta);
	else if (e->delta < 0)
		appendStringInfo(buf, "Subtract($%d, %d)", e->param, -e->delta);
	else
		appendStringInfo(buf, "$%d", e->param);
}

static void
v4_write(StringInfo buf, const V4Expr *e, bool fql)
{
	switch (e->kind)
	{
		case V4_CALL:
			v4_write_call(buf, e, fql);
			break;
		case V4_VARIADIC:
			if (fql)
				appendStringInfo(buf, "%s(", e->name);
			else
			{
				appendStringInfoChar(buf, '{');
				escape_json(buf, e->wire_name);
				appendStringInfoString(buf, ": [");
			}
			v4_write_list(buf, e, 0, e->nargs, false, fql);
			appendStringInfoString(buf, fql ? ")" : "]}");
			break;
		case V4_STRING:
			escape_json(buf, e->name);
			break;
		case V4_INT:
			appendStringInfo(buf, INT64_FORMAT, e->number);
			break;
		case V4_NULL:
			appendStringInfoString(buf, "null");
			break;
		case V4_TRUE:
			appendStringInfoString(buf, "true");
			break;
		case V4_ARRAY:
			appendStringInfoChar(buf, '[');
			v4_write_list(buf, e, 0, e->nargs, false, fql);
			appendStringInfoChar(buf, ']');
			break;
		case V4_OBJECT:
			appendStringInfoString(buf, fql ? "{" : "{\"object\": {");
			v4_write_list(buf, e, 0, e->nargs, true, fql);
			appendStringInfoString(buf, fql ? "}" : "}}");
			break;
		case V4_LET:
			v4_write_let(buf, e, fql);
			break;
		case V4_PARAM:
			v4_write_param(buf, e, fql);
			break;
		case V4_RAW:
			appendStringInfoString(buf, e->name);
			break;
	}
}

/*
 * Write a tree to body (JSON) and to explain (FQL text), either NULL; then
 * free it: trees are built in a context of their own, so that building a
 * request per page leaks nothing.
 */
static void
v4_emit(V4Expr *e, StringInfo body, StringInfo explain)
{
	if (body)
		v4_write(body, e, false);
	if (explain)
		v4_write(explain, e, true);
}

/* At($1, e): e read at snapshot_ts (µs), or e itself when it is 0 */
static V4Expr *
v4_at(int64 snapshot_ts, V4Expr *e)
{
	if (snapshot_ts == 0)
		return e;
	return v4_call2("At", "at", v4_param_int(1, snapshot_ts, 0), "expr", e, false);
}

static MemoryContext
v4_begin(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "fauna_fdw v4 expression",
											  ALLOCSET_SMALL_SIZES);

	return MemoryContextSwitchTo(cxt);
}

static void
v4_end(MemoryContext oldcxt)
{
	MemoryContext cxt = MemoryContextSwitchTo(oldcxt);

	MemoryContextDelete(cxt);
}

/* ----------------------------------------------------------------
 * Scans
 * ----------------------------------------------------------------
 */

/* Ref(Collection(c), $param) */
static V4Expr *
v4_ref(const char *collection, int param, const char *id)
{
	return v4_call2("Ref", "ref", v4_collection(collection), "id",
					v4_param_string(param, id ? id : ""), false);
}

/* Range(Match(Index(i)), [lo], [hi]): strict bounds one µs further */
static V4Expr *
v4_ts_range(const char *index, const FaunaTsRange *r)
{
	V4Expr	   *set = v4_call1("Match", "match",
							   v4_call1("Index", "index", v4_string(index)));
	V4Expr	   *from = v4_node(V4_ARRAY, NULL);
	V4Expr	   *to = v4_node(V4_ARRAY, NULL);
	int			param = 1;

	if (r->has_lower)
		v4_add(from, NULL, v4_param_int(param++, r->lower, r->lower_strict ? 1 : 0));
	if (r->has_upper)
		v4_add(to, NULL, v4_param_int(param++, r->upper, r->upper_strict ? -1 : 0));
	return v4_add(v4_call2("Range", "range", set, "from", from, false),
				  "to", to);
}

static V4Expr *
v4_scan(const FaunaQuerySpec *spec, const char *id, const char *after)
{
	V4Expr	   *params;
	V4Expr	   *set;

	if (spec->by_id)
	{
		V4Expr	   *ref = v4_ref(spec->collection, 1, id);
		V4Expr	   *e = v4_call1("If", "if", v4_call1("Exists", "exists", ref));

		v4_add(e, "then", v4_call1("Get", "get", ref));
		return v4_add(e, "else", NULL);
	}
	if (spec->ts_index)
	{
		set = v4_ts_range(spec->ts_index, &spec->ts_range);
		params = v4_add(v4_add(v4_node(V4_ARRAY, NULL), NULL, v4_string("ts")),
						NULL, v4_string("ref"));
		return v4_over_set("Map", "map", v4_paginate(set, spec->page_size, after),
						   v4_lambda(params, v4_call1("Get", "get", v4_var("ref"))));
	}
	set = v4_call1("Documents", "documents", v4_collection(spec->collection));
	if (spec->id_range)
	{
		/* one part of a parallel scan: refs from id_from to id_to, inclusive */
		set = v4_call2("Range", "range", set, "from",
					   v4_ref(spec->collection, 2, spec->id_from), false);
		v4_add(set, "to", v4_ref(spec->collection, 3, spec->id_to));
	}
	return v4_over_set("Map", "map", v4_paginate(set, spec->page_size, after),
					   v4_lambda(v4_string("x"), v4_call1("Get", "get", v4_var("x"))));
}

void
fauna_fql_v4_page(const FaunaQuerySpec *spec, const char *id,
				  const char *after, int64 snapshot_ts,
				  StringInfo body, StringInfo explain)
{
	MemoryContext oldcxt = v4_begin();

	/* a part of a parallel scan reads at its snapshot from the first page */
	if (spec->at_ts != 0)
		snapshot_ts = spec->at_ts;
	v4_emit(v4_at(snapshot_ts, v4_scan(spec, id, after)), body, explain);
	v4_end(oldcxt);
}

/* Select(["data", 0], Map(Paginate(set, {size: 1}), Get), null) */
static V4Expr *
v4_first_document(V4Expr *set)
{
	V4Expr	   *path = v4_node(V4_ARRAY, NULL);
	V4Expr	   *page = v4_over_set("Map", "map", v4_paginate(set, 1, NULL),
								   v4_lambda(v4_string("x"),
											 v4_call1("Get", "get", v4_var("x"))));

	v4_add(path, NULL, v4_string("data"));
	v4_add(path, NULL, v4_int(0));
	return v4_add(v4_call2("Select", "select", path, "from", page, false),
				  "default", NULL);
}

/*
 * The first and last documents of a collection, for a parallel scan's
 * ranges of ids, as a page {data: [first, last]}: both null (so no
 * element) when the collection is empty.  Documents are in ref order,
 * which is the order of their ids.
 */
void
fauna_fql_v4_id_bounds(const char *collection, StringInfo body)
{
	MemoryContext oldcxt = v4_begin();
	V4Expr	   *documents = v4_call1("Documents", "documents",
									 v4_collection(collection));
	V4Expr	   *both = v4_node(V4_ARRAY, NULL);
	V4Expr	   *page = v4_node(V4_OBJECT, NULL);

	v4_add(both, NULL, v4_first_document(documents));
	v4_add(both, NULL, v4_first_document(v4_call1("Reverse", "reverse", documents)));
	v4_add(page, "data", both);
	v4_emit(page, body, NULL);
	v4_end(oldcxt);
}

/* ----------------------------------------------------------------
 * Discovery: collections, indexes, and the probes of fauna_fdw_check()
 *
 * For one collection, the page of index definitions is filtered on the
 * server to the indexes whose source is that collection, so that a
 * database with many indexes sends few of them; the filtered page keeps
 * its "after" cursor.
 * ----------------------------------------------------------------
 */

/* Index and collection definitions are small: at most this many a page. */
#define FAUNA_V4_LIST_PAGE_MAX	1000

/* Map(Paginate(Fn(), {size, after?}), Lambda(var, Get(Var(var)))) */
static V4Expr *
v4_definitions(const char *fn, const char *key, const char *var,
			   int page_size, const char *after)
{
	V4Expr	   *set = v4_call1(fn, key, NULL);

	page_size = Max(1, Min(page_size, FAUNA_V4_LIST_PAGE_MAX));
	return v4_over_set("Map", "map", v4_paginate(set, page_size, after),
					   v4_lambda(v4_string(var), v4_call1("Get", "get", v4_var(var))));
}

void
fauna_fql_v4_list_indexes(const char *collection, int page_size,
						  const char *after, StringInfo body)
{
	MemoryContext oldcxt = v4_begin();
	V4Expr	   *e = v4_definitions("Indexes", "indexes", "i", page_size, after);

	/* Filter(..., Lambda("x", Equals(Select("source", Var("x"), null), c))) */
	if (collection)
		e = v4_over_set("Filter", "filter", e,
						v4_lambda(v4_string("x"),
								  v4_variadic("Equals", "equals",
											  v4_select("source", v4_var("x"), true),
											  v4_collection(collection))));
	v4_emit(e, body, NULL);
	v4_end(oldcxt);
}

void
fauna_fql_v4_list_collections(int page_size, const char *after,
							  StringInfo body)
{
	MemoryContext oldcxt = v4_begin();

	v4_emit(v4_definitions("Collections", "collections", "c",
						   page_size, after),
			body, NULL);
	v4_end(oldcxt);
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

/* {ref: Var("ref"), ts: Var("ts"), action: action, data: data} */
static V4Expr *
v4_event_row(V4Expr *action, V4Expr *data)
{
	V4Expr	   *row = v4_node(V4_OBJECT, NULL);

	v4_add(row, "ref", v4_var("ref"));
	v4_add(row, "ts", v4_var("ts"));
	v4_add(row, "action", action);
	return v4_add(row, "data", data);
}

/* If(cond, then, else) */
static V4Expr *
v4_if(V4Expr *cond, V4Expr *then, V4Expr *otherwise)
{
	return v4_add(v4_call2("If", "if", cond, "then", then, false),
				  "else", otherwise);
}

/* The Lambda applied to each event */
static V4Expr *
v4_event_lambda(void)
{
	V4Expr	   *let = v4_node(V4_LET, NULL);
	V4Expr	   *before = v4_variadic("Add", "add", v4_var("ts"), v4_int(-1));
	V4Expr	   *removed;
	V4Expr	   *written;

	v4_add(let, "ts", v4_select("ts", v4_var("e"), false));
	v4_add(let, "ref", v4_select("document", v4_var("e"), false));
	v4_add(let, "action", v4_select("action", v4_var("e"), false));

	removed = v4_if(v4_call2("Exists", "exists", v4_var("ref"), "ts", before, false),
					v4_select("data",
							  v4_call2("Get", "get", v4_var("ref"), "ts", before, false),
							  true),
					NULL);
	written = v4_if(v4_variadic("Equals", "equals", v4_var("action"),
								v4_string("create")),
					v4_string("add"), v4_string("update"));
	v4_add(let, "in",
		   v4_if(v4_variadic("Equals", "equals", v4_var("action"), v4_string("delete")),
				 v4_event_row(v4_string("remove"), removed),
				 v4_event_row(written, v4_select("data", v4_var("e"), true))));
	return v4_lambda(v4_string("e"), let);
}

/* Map(Paginate(Documents(c), {events: true, after, size}), the lambda) */
static V4Expr *
v4_events(const char *collection, V4Expr *after, int page_size)
{
	V4Expr	   *page = v4_call1("Paginate", "paginate",
								v4_call1("Documents", "documents",
										 v4_collection(collection)));

	v4_option(page, "events", v4_node(V4_TRUE, NULL));
	v4_option(page, "after", after);
	v4_option(page, "size", v4_int(page_size));
	return v4_over_set("Map", "map", page, v4_event_lambda());
}

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
	MemoryContext oldcxt = v4_begin();
	V4Expr	   *after;

	if (after_cursor)
		after = v4_node(V4_RAW, psprintf("{\"object\": %s}", after_cursor));
	else
		after = v4_int(after_ts);
	v4_emit(v4_at(snapshot_ts, v4_events(collection, after, page_size)),
			body, NULL);
	v4_end(oldcxt);
}

/* The FQL v4 text EXPLAIN shows for it; the start is $1 (µs). */
void
fauna_fql_v4_events_explain(const char *collection, bool lower_strict,
							int page_size, StringInfo explain)
{
	MemoryContext oldcxt = v4_begin();

	v4_emit(v4_events(collection, v4_param_int(1, 0, lower_strict ? 1 : 0),
					  page_size),
			NULL, explain);
	v4_end(oldcxt);
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
	MemoryContext oldcxt = v4_begin();
	V4Expr	   *let = v4_node(V4_LET, NULL);
	V4Expr	   *row = v4_node(V4_OBJECT, NULL);
	V4Expr	   *data = v4_node(V4_OBJECT, NULL);

	v4_add(let, "c", v4_call1("Get", "get", v4_collection(collection)));
	v4_add(row, "ref", v4_select("ref", v4_var("c"), false));
	v4_add(row, "ts", v4_select("ts", v4_var("c"), false));
	v4_add(data, "history_days", v4_select("history_days", v4_var("c"), true));
	v4_add(row, "data", data);
	v4_add(let, "in", row);
	v4_emit(let, body, NULL);
	v4_end(oldcxt);
}
