/*-------------------------------------------------------------------------
 *
 * fql.c
 *		  Build the FQL v10 requests of a scan.
 *
 * A request is a query template, {"query":{"fql":[part, ...]}}, whose parts
 * are FQL source text or {"value": <tagged value>}.  Every value that comes
 * from SQL or from Fauna (ids, page sizes, cursors) travels as a template
 * value, never as FQL text, so no value can change the query's meaning.  The
 * only names spliced into the text are collection and field names, which
 * options.c has checked to be FQL identifiers.
 *
 * The same builder also renders the query for EXPLAIN, with each value
 * replaced by $1, $2, ... so that plans are stable and show no data.
 *
 * JSON text is built with StringInfo and escape_json().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include "datatype/timestamp.h"
#include "nodes/value.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

/* A query template under construction. */
typedef struct FqlBuilder
{
	StringInfo	body;			/* the JSON request */
	StringInfo	explain;		/* FQL text for EXPLAIN, or NULL */
	StringInfoData text;		/* pending source text, not yet a part */
	int			nparts;
	int			nvalues;
} FqlBuilder;

/* A node of the projection tree: { a, b { c } } */
typedef struct ProjNode
{
	char	   *name;
	bool		whole;			/* the whole value is wanted */
	List	   *children;		/* ProjNode *, when !whole */
} ProjNode;

static void fql_begin(FqlBuilder *b, StringInfo body, StringInfo explain);
static void fql_text(FqlBuilder *b, const char *text);
static void fql_flush_text(FqlBuilder *b);
static void fql_value_string(FqlBuilder *b, const char *value);
static void fql_value_int(FqlBuilder *b, int value);
static void fql_end(FqlBuilder *b);
static void fql_projection(FqlBuilder *b, List *paths);
static void fql_value_time(FqlBuilder *b, int64 unix_us);
static void fql_base_set(FqlBuilder *b, const FaunaQuerySpec *spec);

static void
fql_begin(FqlBuilder *b, StringInfo body, StringInfo explain)
{
	b->body = body;
	b->explain = explain;
	initStringInfo(&b->text);
	b->nparts = 0;
	b->nvalues = 0;
	appendStringInfoString(body, "{\"query\":{\"fql\":[");
}

/*
 * Source text is buffered so that consecutive pieces become one part:
 * shorter requests, and what Fauna sees matches what EXPLAIN shows.
 */
static void
fql_text(FqlBuilder *b, const char *text)
{
	appendStringInfoString(&b->text, text);
	if (b->explain)
		appendStringInfoString(b->explain, text);
}

static void
fql_flush_text(FqlBuilder *b)
{
	if (b->text.len == 0)
		return;
	if (b->nparts++ > 0)
		appendStringInfoChar(b->body, ',');
	escape_json(b->body, b->text.data);
	resetStringInfo(&b->text);
}

/* Start a value part; the caller appends the tagged value itself. */
static void
fql_value_begin(FqlBuilder *b)
{
	fql_flush_text(b);
	if (b->nparts++ > 0)
		appendStringInfoChar(b->body, ',');
	appendStringInfoString(b->body, "{\"value\":");
	if (b->explain)
		appendStringInfo(b->explain, "$%d", ++b->nvalues);
}

/* A string value: plain JSON in the tagged format. */
static void
fql_value_string(FqlBuilder *b, const char *value)
{
	fql_value_begin(b);
	escape_json(b->body, value);
	appendStringInfoChar(b->body, '}');
}

/* A 32-bit integer: {"@int":"n"}, since tagged input refuses bare numbers. */
static void
fql_value_int(FqlBuilder *b, int value)
{
	fql_value_begin(b);
	appendStringInfo(b->body, "{\"@int\":\"%d\"}", value);
	appendStringInfoChar(b->body, '}');
}

static void
fql_end(FqlBuilder *b)
{
	fql_flush_text(b);
	appendStringInfoString(b->body, "]}}");
	pfree(b->text.data);
}

/* Add a dotted path to the projection tree. */
static void
proj_add(List **level, const char *path)
{
	const char *dot = strchr(path, '.');
	size_t		len = dot ? (size_t) (dot - path) : strlen(path);
	ProjNode   *node = NULL;
	ListCell   *lc;

	foreach(lc, *level)
	{
		ProjNode   *n = (ProjNode *) lfirst(lc);

		if (strlen(n->name) == len && strncmp(n->name, path, len) == 0)
		{
			node = n;
			break;
		}
	}
	if (node == NULL)
	{
		node = palloc0(sizeof(ProjNode));
		node->name = pnstrdup(path, len);
		*level = lappend(*level, node);
	}

	if (dot == NULL)
	{
		/* the whole value subsumes any sub-fields asked for */
		node->whole = true;
		node->children = NIL;
	}
	else if (!node->whole)
		proj_add(&node->children, dot + 1);
}

static void
proj_render(FqlBuilder *b, List *level)
{
	ListCell   *lc;
	bool		first = true;

	fql_text(b, "{ ");
	foreach(lc, level)
	{
		ProjNode   *n = (ProjNode *) lfirst(lc);

		if (!first)
			fql_text(b, ", ");
		first = false;
		fql_text(b, n->name);
		if (!n->whole)
		{
			fql_text(b, " ");
			proj_render(b, n->children);
		}
	}
	fql_text(b, " }");
}

/*
 * The projection of the paths the scan needs.  "id" is always first: it
 * identifies the document in error messages and sampling, and keeps the
 * projection non-empty for SELECT count(*).
 */
static void
fql_projection(FqlBuilder *b, List *paths)
{
	List	   *tree = NIL;
	ListCell   *lc;

	proj_add(&tree, "id");
	foreach(lc, paths)
		proj_add(&tree, strVal(lfirst(lc)));

	fql_text(b, " ");
	proj_render(b, tree);
}

/*
 * A time as a tagged value, {"@time":"YYYY-MM-DDTHH:MM:SS.ffffffZ"}, from
 * microseconds since the Unix epoch.  The scan keeps bounds within years
 * 1..9999, which Fauna's times cover.
 */
static void
fql_value_time(FqlBuilder *b, int64 unix_us)
{
	TimestampTz ts = unix_us - FAUNA_UNIX_EPOCH_OFFSET_US;
	struct pg_tm tm;
	fsec_t		fsec;

	fql_value_begin(b);
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for Fauna")));
	appendStringInfo(b->body,
					 "{\"@time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"}",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	appendStringInfoChar(b->body, '}');
}

/*
 * The set to read, narrowed by the ts bounds:
 *	 .byTs({ from: $1, to: $2 })	with a ts index (bounds inclusive)
 *	 .all()							without one
 * followed by .where(.ts > $n) for what the index cannot express (strict
 * bounds) or for every bound when there is no index.  Comparing .ts with a
 * Time is exact to the microsecond.
 */
static void
fql_base_set(FqlBuilder *b, const FaunaQuerySpec *spec)
{
	const FaunaTsRange *r = &spec->ts_range;
	bool		use_index = spec->ts_index && (r->has_lower || r->has_upper);

	if (use_index)
	{
		fql_text(b, ".");
		fql_text(b, spec->ts_index);
		fql_text(b, "({ ");
		if (r->has_lower)
		{
			fql_text(b, "from: ");
			fql_value_time(b, r->lower);
		}
		if (r->has_upper)
		{
			fql_text(b, r->has_lower ? ", to: " : "to: ");
			fql_value_time(b, r->upper);
		}
		fql_text(b, " })");
	}
	else if (spec->id_range)
	{
		/* one part of a parallel scan: an inclusive range of ids */
		fql_text(b, ".all({ from: ");
		fql_value_string(b, spec->id_from);
		fql_text(b, ", to: ");
		fql_value_string(b, spec->id_to);
		fql_text(b, " })");
	}
	else
		fql_text(b, ".all()");

	if (r->has_lower && (r->lower_strict || !use_index))
	{
		fql_text(b, r->lower_strict ? ".where(.ts > " : ".where(.ts >= ");
		fql_value_time(b, r->lower);
		fql_text(b, ")");
	}
	if (r->has_upper && (r->upper_strict || !use_index))
	{
		fql_text(b, r->upper_strict ? ".where(.ts < " : ".where(.ts <= ");
		fql_value_time(b, r->upper);
		fql_text(b, ")");
	}
}

/*
 * Discovery of the collection's indexes, for index 'auto'.  The result is
 * {"indexes": {...}}, or null when the collection does not exist.
 */
void
fauna_fql_collection_indexes(const char *collection, StringInfo body)
{
	FqlBuilder	b;

	fql_begin(&b, body, NULL);
	fql_text(&b, "Collection.byName(");
	fql_value_string(&b, collection);
	fql_text(&b, ") { indexes }");
	fql_end(&b);
}

/*
 * The first request of a scan:
 *	 Coll.all().pageSize($n) { ... }	or	Coll.byId($id) { ... }
 * with a pushed LIMIT n OFFSET m: Coll.all().drop($m).take($n).pageSize($p)
 */
void
fauna_fql_first_page(const FaunaQuerySpec *spec, const char *id,
					 StringInfo body, StringInfo explain)
{
	FqlBuilder	b;

	Assert(fauna_is_identifier(spec->collection));

	fql_begin(&b, body, explain);
	if (spec->at_ts != 0)
	{
		/* every part of a parallel scan reads one snapshot */
		fql_text(&b, "at (");
		fql_value_time(&b, spec->at_ts);
		fql_text(&b, ") { ");
	}
	fql_text(&b, spec->collection);
	if (spec->by_id)
	{
		/* a single document (or null), so no page size */
		fql_text(&b, ".byId(");
		fql_value_string(&b, id ? id : "");
		fql_text(&b, ")");
	}
	else
	{
		fql_base_set(&b, spec);
		if (spec->limit >= 0)
		{
			/* a pushed LIMIT/OFFSET: Fauna counts the rows after the filters */
			if (spec->offset > 0)
			{
				fql_text(&b, ".drop(");
				fql_value_int(&b, spec->offset);
				fql_text(&b, ")");
			}
			fql_text(&b, ".take(");
			fql_value_int(&b, spec->limit);
			fql_text(&b, ")");
		}
		fql_text(&b, ".pageSize(");
		fql_value_int(&b, spec->page_size);
		fql_text(&b, ")");
	}
	fql_projection(&b, spec->paths);
	if (spec->at_ts != 0)
		fql_text(&b, " }");
	fql_end(&b);
}

void
fauna_fql_id_bounds(const char *collection, StringInfo body)
{
	FqlBuilder	b;

	Assert(fauna_is_identifier(collection));

	fql_begin(&b, body, NULL);
	fql_text(&b, "{ first: ");
	fql_text(&b, collection);
	fql_text(&b, ".all().first()?.id, last: ");
	fql_text(&b, collection);
	fql_text(&b, ".all().reverse().first()?.id }");
	fql_end(&b);
}

/*
 * A following page.  The cursor carries the set, its projection, its page
 * size and the first page's snapshot, so nothing else is sent.
 */
void
fauna_fql_next_page(const char *after, StringInfo body)
{
	FqlBuilder	b;

	fql_begin(&b, body, NULL);
	fql_text(&b, "Set.paginate(");
	fql_value_string(&b, after);
	fql_text(&b, ")");
	fql_end(&b);
}

/* ----------------------------------------------------------------
 * Discovery requests of IMPORT FOREIGN SCHEMA and fauna_fdw_check()
 * ----------------------------------------------------------------
 */

/*
 * The first page of the collection definitions, with only what an import
 * needs:
 *	 Collection.all().pageSize($n) { name, indexes, fields }
 * Following pages: fauna_fql_next_page().
 */
void
fauna_fql_list_collections(int page_size, StringInfo body)
{
	FqlBuilder	b;

	fql_begin(&b, body, NULL);
	fql_text(&b, "Collection.all().pageSize(");
	fql_value_int(&b, page_size);
	fql_text(&b, ") { name, indexes, fields }");
	fql_end(&b);
}

/* Can the key read the collection?  Coll.all().pageSize(1) { id } */
void
fauna_fql_probe_read(const char *collection, StringInfo body)
{
	FqlBuilder	b;

	Assert(fauna_is_identifier(collection));

	fql_begin(&b, body, NULL);
	fql_text(&b, collection);
	fql_text(&b, ".all().pageSize(");
	fql_value_int(&b, 1);
	fql_text(&b, ") { id }");
	fql_end(&b);
}

/*
 * Can the key create an event source on the collection?  The token itself
 * is not wanted, so the answer is an object: { ok: true }.
 */
void
fauna_fql_probe_event_source(const char *collection, StringInfo body)
{
	FqlBuilder	b;

	Assert(fauna_is_identifier(collection));

	fql_begin(&b, body, NULL);
	fql_text(&b, "{ ok: ");
	fql_text(&b, collection);
	fql_text(&b, ".all().eventSource() != null }");
	fql_end(&b);
}

/* ----------------------------------------------------------------
 * Event tables (events.c)
 * ----------------------------------------------------------------
 */

/*
 * Coll.all().eventSource(): the query whose answer is the token of the
 * collection's event feed ({"@stream": ...}).
 */
void
fauna_fql_event_source(const char *collection, StringInfo body,
					   StringInfo explain)
{
	FqlBuilder	b;

	Assert(fauna_is_identifier(collection));

	fql_begin(&b, body, explain);
	fql_text(&b, collection);
	fql_text(&b, ".all().eventSource()");
	fql_end(&b);
}

/*
 * The body of a POST /feed/1 request: the token and either a cursor (a
 * following page) or start_ts (microseconds, exclusive; the first page).
 */
void
fauna_feed_body(const char *token, const char *cursor, int64 start_ts,
				int page_size, StringInfo body)
{
	appendStringInfoString(body, "{\"token\":");
	escape_json(body, token);
	if (cursor)
	{
		appendStringInfoString(body, ",\"cursor\":");
		escape_json(body, cursor);
	}
	else
		appendStringInfo(body, ",\"start_ts\":" INT64_FORMAT, start_ts);
	appendStringInfo(body, ",\"page_size\":%d}", page_size);
}
