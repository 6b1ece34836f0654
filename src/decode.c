/*-------------------------------------------------------------------------
 *
 * decode.c
 *		  Fauna tagged JSON responses -> pages, documents and Datums.
 *
 * This is the only file of fauna_fdw that knows json-c.  It turns the body
 * of a /query/1 response (x-format: tagged) into a FaunaPage, and converts
 * the values of one element of a page into the Datums of a tuple, following
 * the conversion rules of DESIGN.md ("Columns") and the export formats of
 * fauna-protocol.md section 4.
 *
 * Memory: json-c allocates with malloc.  Every json-c object (the tokener,
 * the parsed tree) is owned by a PostgreSQL memory context through a reset
 * callback, so resetting or deleting that context -- including during
 * error recovery -- releases it.  Nothing here holds json-c memory on the C
 * stack across a call that can ereport.
 *
 * Conversion decisions (documented in the README too):
 *	- text gets a string as is; other values get the text of their export
 *	  format, like jsonb's ->> operator: a time or date as sent, bytes as
 *	  URL-safe base64, numbers as sent, true/false, objects, arrays,
 *	  documents and refs as JSON text.
 *	- int2/int4/int8 accept @int and @long, and @double only when integral
 *	  (12.0 yes, 12.5 no); always range-checked.  int8 also accepts a time,
 *	  as microseconds since the Unix epoch (the "ts as bigint" case), and a
 *	  document id column (ids are 64-bit integers in a string).
 *	- timestamptz/timestamp: 1 to 9 fraction digits; beyond microseconds the
 *	  value is rounded half up to the nearest microsecond, as PostgreSQL's
 *	  own timestamp input rounds.  timestamp is the UTC wall time.
 *	- jsonb/json: NaN, Infinity and -Infinity become JSON strings, since
 *	  JSON numbers cannot hold them.
 *	- A JSON null is SQL NULL for every column type.
 *	- Types without a rule of their own (varchar, domains, enums, uuid, ...)
 *	  get the text form above through their input function, so domain
 *	  constraints and typmods are enforced.
 *
 * IDENTIFICATION
 *		  src/decode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
/*
 * fmgrprotos.h (via builtins.h) declares the SQL function json_object(),
 * which collides with json-c's json_object type; we never call it.
 */
#define json_object pg_sql_json_object
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#undef json_object
#include "utils/date.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include <json-c/json.h>

#include "fauna_fdw.h"

/*
 * Deepest JSON nesting accepted.  Bounds the recursion of the converters
 * below (check_stack_depth() guards them as well).
 */
#define FAUNA_JSON_MAX_DEPTH	512

/* json-c takes int lengths; feed it at most this much at once. */
#define FAUNA_FEED_CHUNK		(1 << 28)

/* Fauna value types, named in error messages. */
typedef enum FaunaVType
{
	FV_NULL,
	FV_STRING,
	FV_BOOL,
	FV_INT,
	FV_LONG,
	FV_DOUBLE,
	FV_NUMBER,					/* untagged JSON number (not sent by Fauna) */
	FV_TIME,
	FV_DATE,
	FV_BYTES,
	FV_MOD,
	FV_OBJECT,					/* plain object or @object */
	FV_ARRAY,
	FV_DOC,
	FV_REF,
	FV_SET,
	FV_STREAM,
	FV_QUERY					/* FQL v4 @query (a lambda) */
} FaunaVType;

static const char *const fauna_type_names[] = {
	[FV_NULL] = "null",
	[FV_STRING] = "string",
	[FV_BOOL] = "boolean",
	[FV_INT] = "int",
	[FV_LONG] = "long",
	[FV_DOUBLE] = "double",
	[FV_NUMBER] = "number",
	[FV_TIME] = "time",
	[FV_DATE] = "date",
	[FV_BYTES] = "bytes",
	[FV_MOD] = "module",
	[FV_OBJECT] = "object",
	[FV_ARRAY] = "array",
	[FV_DOC] = "document",
	[FV_REF] = "ref",
	[FV_SET] = "set",
	[FV_STREAM] = "stream",
	[FV_QUERY] = "query"
};

/* One element of a page, validated when the page was built. */
typedef struct FaunaElem
{
	json_object *fields;		/* the @doc's object, or the projected object */
	json_object *idobj;			/* "id" (or a schema document's "name") */
	const char *id;				/* its string, NULL if absent */
	bool		is_doc;
	/* elements of an event page (NULL otherwise) */
	json_object *action;		/* the event's "type" string */
	json_object *event_ts;		/* {"@time": txn_ts}, owned by the page */
	int64		txn_ts;			/* the event's txn_ts, microseconds */
} FaunaElem;

struct FaunaPage
{
	MemoryContext cxt;
	json_object *root;			/* owned; freed by the reset callback */
	bool		v4;				/* FQL v4 response: v4 tags, v4 documents */
	json_object **v4raw;		/* v4: each element as sent */
	MemoryContextCallback cb;
	char	   *what;
	FaunaElem  *elems;
	int			count;
	const char *after;			/* points into root */
	FaunaStats	stats;
	const char *stream;			/* an event source token ("@stream") */
	const char *error_code;		/* an event feed's error event */
	const char *error_message;
};

struct FaunaParser
{
	MemoryContext cxt;
	json_tokener *tok;			/* owned until finish */
	json_object *root;			/* owned until handed to a page */
	MemoryContextCallback cb;
	bool		v4;				/* an FQL v4 response (POST /) */
	bool		done;			/* a complete top-level value was read */
	bool		failed;
	size_t		nbytes;			/* bytes fed so far */
	char		errdetail[256];
};

/* What a conversion is about, for error messages. */
typedef struct FaunaConv
{
	FaunaPage  *page;
	FaunaElem  *elem;
	FaunaColumn *col;
	bool		need_encoding;	/* database encoding is not UTF-8 */
} FaunaConv;

static JsonbValue *push_jsonb(FaunaConv *cv, JsonbParseState **st,
							  json_object *v, JsonbIteratorToken scalar_tok);
struct RefExport;
static FaunaVType classify_v(json_object *v, json_object **inner,
							 const char *what, bool v4);
static void page_build_v4(FaunaPage *page);
static void ref_export_v4(FaunaConv *cv, json_object *obj,
						  struct RefExport *r);
static bool v4_number_int64(json_object *v, int64 *out);
static void append_export_json(FaunaConv *cv, StringInfo buf, json_object *v);

/* ----------------------------------------------------------------
 * Memory ownership of json-c objects
 * ----------------------------------------------------------------
 */

static void
parser_reset_callback(void *arg)
{
	FaunaParser *parser = (FaunaParser *) arg;

	if (parser->tok)
		json_tokener_free(parser->tok);
	parser->tok = NULL;
	if (parser->root)
		json_object_put(parser->root);
	parser->root = NULL;
}

static void
page_reset_callback(void *arg)
{
	FaunaPage  *page = (FaunaPage *) arg;

	if (page->root)
		json_object_put(page->root);
	page->root = NULL;
}

/* ----------------------------------------------------------------
 * Incremental parser
 * ----------------------------------------------------------------
 */

FaunaParser *
fauna_parser_create(MemoryContext cxt)
{
	FaunaParser *parser;

	parser = MemoryContextAllocZero(cxt, sizeof(FaunaParser));
	parser->cxt = cxt;
	parser->tok = json_tokener_new_ex(FAUNA_JSON_MAX_DEPTH);
	if (parser->tok == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a JSON parser.")));
	/* Strict JSON, valid UTF-8; trailing bytes are checked below. */
	json_tokener_set_flags(parser->tok,
						   JSON_TOKENER_STRICT |
						   JSON_TOKENER_ALLOW_TRAILING_CHARS |
						   JSON_TOKENER_VALIDATE_UTF8);
	parser->cb.func = parser_reset_callback;
	parser->cb.arg = parser;
	MemoryContextRegisterResetCallback(cxt, &parser->cb);
	return parser;
}

/* Offset of the first byte that is not JSON whitespace, or len. */
static size_t
skip_whitespace(const char *buf, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		char		c = buf[i];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
	}
	return i;
}

static bool
parser_fail(FaunaParser *parser, const char *detail, size_t offset)
{
	parser->failed = true;
	snprintf(parser->errdetail, sizeof(parser->errdetail),
			 "%s at byte %zu of the response.", detail, offset);
	return false;
}

/*
 * Feed body bytes.  Runs inside libcurl's write callback: it must not
 * ereport (nor palloc, which can), so failures are only recorded.
 */
bool
fauna_parser_feed(FaunaParser *parser, const char *buf, size_t len)
{
	while (len > 0)
	{
		int			chunk;
		json_object *obj;
		enum json_tokener_error jerr;
		size_t		end;

		if (parser->failed)
			return false;
		if (parser->done)
		{
			size_t		ws = skip_whitespace(buf, len);

			if (ws < len)
				return parser_fail(parser, "unexpected data after the JSON value",
								   parser->nbytes + ws);
			parser->nbytes += len;
			return true;
		}

		chunk = (int) Min(len, (size_t) FAUNA_FEED_CHUNK);
		obj = json_tokener_parse_ex(parser->tok, buf, chunk);
		jerr = json_tokener_get_error(parser->tok);
		if (jerr == json_tokener_continue)
		{
			parser->nbytes += chunk;
			buf += chunk;
			len -= chunk;
			continue;
		}
		end = json_tokener_get_parse_end(parser->tok);
		if (jerr != json_tokener_success)
			return parser_fail(parser, json_tokener_error_desc(jerr),
							   parser->nbytes + end);

		/* A complete value (obj is NULL for a top-level JSON null). */
		parser->root = obj;
		parser->done = true;
		parser->nbytes += end;
		buf += end;
		len -= end;
	}
	return !parser->failed;
}

static void invalid_response(const char *what, const char *detail)
			pg_attribute_noreturn();

static void
invalid_response(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid response from Fauna for %s", what),
			 errdetail_internal("%s", detail)));
}

/* ----------------------------------------------------------------
 * Tagged values
 * ----------------------------------------------------------------
 */

/* The only key of a one-key object, else NULL. */
static const char *
single_key(json_object *obj, json_object **val)
{
	struct lh_table *t = json_object_get_object(obj);

	if (t == NULL || t->count != 1 || t->head == NULL)
		return NULL;
	*val = (json_object *) lh_entry_v(t->head);
	return (const char *) lh_entry_k(t->head);
}

/*
 * Classify a value.  *inner receives the payload: the tag's value for a
 * tagged value, the object itself for a plain object, the wrapped object of
 * @object.  A known tag with a payload of the wrong JSON type is invalid
 * tagged JSON; it is reported (with `what` for context) rather than
 * silently taken for a plain object.  An unknown "@" key is a plain object:
 * a future tag is exported as it is rather than lost.
 */
static FaunaVType
classify(json_object *v, json_object **inner, const char *what)
{
	return classify_v(v, inner, what, false);
}

/* classify(), reading FQL v4 tags too when v4 (see "FQL v4" below) */
static FaunaVType
classify_v(json_object *v, json_object **inner, const char *what, bool v4)
{
	const char *key;
	json_object *payload;
	json_type	want;
	FaunaVType	t;

	*inner = v;
	switch (json_object_get_type(v))
	{
		case json_type_null:
			return FV_NULL;
		case json_type_string:
			return FV_STRING;
		case json_type_boolean:
			return FV_BOOL;
		case json_type_int:
			return FV_NUMBER;
		case json_type_double:
			/* json-c takes NaN and Infinity literals even in strict mode */
			if (!isfinite(json_object_get_double(v)))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Fauna for %s", what),
						 errdetail("The response holds a non-finite JSON number.")));
			return FV_NUMBER;
		case json_type_array:
			return FV_ARRAY;
		case json_type_object:
			break;
	}

	key = single_key(v, &payload);
	if (key == NULL || key[0] != '@')
		return FV_OBJECT;

	want = json_type_string;
	if (strcmp(key, "@int") == 0)
		t = FV_INT;
	else if (strcmp(key, "@long") == 0)
		t = FV_LONG;
	else if (strcmp(key, "@double") == 0)
		t = FV_DOUBLE;
	else if (strcmp(key, "@time") == 0)
		t = FV_TIME;
	else if (strcmp(key, "@date") == 0)
		t = FV_DATE;
	else if (strcmp(key, "@bytes") == 0)
		t = FV_BYTES;
	else if (strcmp(key, "@mod") == 0)
		t = FV_MOD;
	else if (strcmp(key, "@stream") == 0)
		t = FV_STREAM;
	else if (strcmp(key, "@object") == 0)
		t = FV_OBJECT, want = json_type_object;
	else if (strcmp(key, "@doc") == 0)
		t = FV_DOC, want = json_type_object;
	else if (strcmp(key, "@ref") == 0)
		t = FV_REF, want = json_type_object;
	else if (v4 && strcmp(key, "@ts") == 0)
		t = FV_TIME;
	else if (v4 && strcmp(key, "@obj") == 0)
		t = FV_OBJECT, want = json_type_object;
	else if (v4 && strcmp(key, "@query") == 0)
		t = FV_QUERY, want = json_type_object;
	else if (strcmp(key, "@set") == 0)
	{
		/* a page {"data","after"} or, when not materialized, a cursor */
		*inner = payload;
		if (json_object_is_type(payload, json_type_object) ||
			json_object_is_type(payload, json_type_string))
			return FV_SET;
		t = FV_SET, want = json_type_object;
	}
	else
		return FV_OBJECT;

	if (!json_object_is_type(payload, want))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for %s", what),
				 errdetail("The value of tag \"%s\" is not a %s.", key,
						   want == json_type_string ? "string" : "JSON object")));
	*inner = payload;
	return t;
}

/* The string of a string json-c object, with its length. */
static inline const char *
jstr(json_object *s, int *len)
{
	*len = json_object_get_string_len(s);
	return json_object_get_string(s);
}

/* ----------------------------------------------------------------
 * Building pages
 * ----------------------------------------------------------------
 */

static int64
stat_int(json_object *obj, const char *key)
{
	json_object *v;

	if (obj && json_object_object_get_ex(obj, key, &v) &&
		json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return 0;
}

/*
 * Is this @ref a null document (a ref whose document does not exist)?
 */
static bool
ref_is_null_doc(json_object *ref)
{
	json_object *exists;

	return json_object_object_get_ex(ref, "exists", &exists) &&
		json_object_is_type(exists, json_type_boolean) &&
		!json_object_get_boolean(exists);
}

/*
 * Validate one element and record it.  Returns false for an element that
 * stands for no document (a null document).
 */
static bool
page_add_element(FaunaPage *page, json_object *v, int index)
{
	json_object *inner;
	FaunaVType	t = classify(v, &inner, page->what);
	FaunaElem  *e = &page->elems[page->count];
	json_object *idobj = NULL;
	char		detail[128];

	switch (t)
	{
		case FV_DOC:
			e->is_doc = true;
			if ((!json_object_object_get_ex(inner, "id", &idobj) &&
				 !json_object_object_get_ex(inner, "name", &idobj)) ||
				!json_object_is_type(idobj, json_type_string))
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is a document without an \"id\".",
						 index);
				invalid_response(page->what, detail);
			}
			break;
		case FV_OBJECT:
			/* a projected object: "id" only if projected */
			e->is_doc = false;
			if (json_object_object_get_ex(inner, "id", &idobj) &&
				!json_object_is_type(idobj, json_type_string))
			{
				snprintf(detail, sizeof(detail),
						 "The \"id\" of element %d of the page is not a string.",
						 index);
				invalid_response(page->what, detail);
			}
			break;
		case FV_REF:
			if (ref_is_null_doc(inner))
				return false;
			snprintf(detail, sizeof(detail),
					 "Element %d of the page is a reference, not a document.",
					 index);
			invalid_response(page->what, detail);
			break;
		default:
			snprintf(detail, sizeof(detail),
					 "Element %d of the page is a %s, not a document or object.",
					 index, fauna_type_names[t]);
			invalid_response(page->what, detail);
	}
	if (idobj &&
		!pg_verify_mbstr(PG_UTF8, json_object_get_string(idobj),
						 json_object_get_string_len(idobj), true))
	{
		snprintf(detail, sizeof(detail),
				 "The id of element %d of the page is not valid UTF-8.", index);
		invalid_response(page->what, detail);
	}
	e->fields = inner;
	e->idobj = idobj;
	e->id = idobj ? json_object_get_string(idobj) : NULL;
	page->count++;
	return true;
}

/* A set page {"data":[...],"after"?}: the page's elements and cursor. */
static void
page_from_set(FaunaPage *page, json_object *set, bool plain)
{
	json_object *data;
	json_object *after;
	int			n;

	if (!json_object_object_get_ex(set, "data", &data) ||
		!json_object_is_type(data, json_type_array))
		invalid_response(page->what,
						 "The set in \"data\" has no \"data\" array.");
	if (json_object_object_get_ex(set, "after", &after))
	{
		if (!json_object_is_type(after, json_type_string))
			invalid_response(page->what,
							 "The \"after\" cursor of the page is not a string.");
		page->after = json_object_get_string(after);
	}
	(void) plain;

	n = (int) json_object_array_length(data);
	page->elems = MemoryContextAllocZero(page->cxt,
										 sizeof(FaunaElem) * Max(n, 1));
	for (int i = 0; i < n; i++)
		page_add_element(page, json_object_array_get_idx(data, i), i);
}

/* Is this untagged object a plain page {"data": [...], "after"?}? */
static bool
is_plain_page(json_object *obj)
{
	json_object *data;
	int			nkeys = json_object_object_length(obj);

	if (!json_object_object_get_ex(obj, "data", &data) ||
		!json_object_is_type(data, json_type_array))
		return false;
	if (nkeys == 1)
		return true;
	return nkeys == 2 && json_object_object_get_ex(obj, "after", NULL);
}

/* Unix-epoch microseconds as a Fauna time string, false if out of range. */
static bool
format_unix_micros(int64 us, char *buf, size_t size)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (us < INT64CONST(-62135596800000000) ||
		us > INT64CONST(253402300799999999) ||
		timestamp2tm(us - FAUNA_UNIX_EPOCH_OFFSET_US, NULL, &tm, &fsec,
					 NULL, NULL) != 0)
		return false;
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int) fsec);
	return true;
}

/*
 * A page of an event feed (POST /feed/1):
 * {"events":[{type, data, txn_ts, cursor}...], "cursor", "has_next", "stats"}.
 * Each add/update/remove event is an element whose fields are the event's
 * document (for a remove, as it was); its ts is the event's txn_ts and its
 * action the event's type.  An error event ends the page and is kept for
 * fauna_page_feed_error().  The page's "after" is the feed cursor when
 * has_next is true, else NULL.
 */
static void
page_build_events(FaunaPage *page)
{
	json_object *root = page->root;
	json_object *events;
	json_object *stats;
	json_object *v;
	char		detail[160];
	int			n;

	if (!json_object_object_get_ex(root, "events", &events) ||
		!json_object_is_type(events, json_type_array))
		invalid_response(page->what, "The \"events\" of the feed page is not an array.");
	if (json_object_object_get_ex(root, "stats", &stats))
	{
		page->stats.read_ops = stat_int(stats, "read_ops");
		page->stats.compute_ops = stat_int(stats, "compute_ops");
		page->stats.write_ops = stat_int(stats, "write_ops");
		page->stats.bytes_read = stat_int(stats, "storage_bytes_read");
	}
	if (!json_object_object_get_ex(root, "has_next", &v) ||
		!json_object_is_type(v, json_type_boolean))
		invalid_response(page->what, "The feed page has no boolean \"has_next\".");
	if (json_object_get_boolean(v))
	{
		json_object *cursor;

		if (!json_object_object_get_ex(root, "cursor", &cursor) ||
			!json_object_is_type(cursor, json_type_string))
			invalid_response(page->what,
							 "The feed page has a next page but no \"cursor\" string.");
		page->after = json_object_get_string(cursor);
	}

	n = (int) json_object_array_length(events);
	page->elems = MemoryContextAllocZero(page->cxt, sizeof(FaunaElem) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		json_object *ev = json_object_array_get_idx(events, i);
		json_object *type;
		json_object *data;
		json_object *ts;
		json_object *tagged;
		const char *typ;
		FaunaElem  *e;
		int64		us;
		char		iso[64];

		if (!json_object_is_type(ev, json_type_object) ||
			!json_object_object_get_ex(ev, "type", &type) ||
			!json_object_is_type(type, json_type_string))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no \"type\" string.", i);
			invalid_response(page->what, detail);
		}
		typ = json_object_get_string(type);
		if (strcmp(typ, "error") == 0)
		{
			json_object *err;
			json_object *c;
			json_object *m;

			page->error_code = "unknown";
			page->error_message = "";
			if (json_object_object_get_ex(ev, "error", &err) &&
				json_object_is_type(err, json_type_object))
			{
				if (json_object_object_get_ex(err, "code", &c) &&
					json_object_is_type(c, json_type_string))
					page->error_code = json_object_get_string(c);
				if (json_object_object_get_ex(err, "message", &m) &&
					json_object_is_type(m, json_type_string))
					page->error_message = json_object_get_string(m);
			}
			page->after = NULL;
			break;				/* an error event ends the page */
		}
		if (strcmp(typ, "add") != 0 && strcmp(typ, "update") != 0 &&
			strcmp(typ, "remove") != 0)
			continue;			/* e.g. "status": no document */
		if (!json_object_object_get_ex(ev, "txn_ts", &ts) ||
			!json_object_is_type(ts, json_type_int))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no integer \"txn_ts\".", i);
			invalid_response(page->what, detail);
		}
		if (!json_object_object_get_ex(ev, "data", &data))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no \"data\".", i);
			invalid_response(page->what, detail);
		}
		e = &page->elems[page->count];
		if (!page_add_element(page, data, i))
			continue;
		us = json_object_get_int64(ts);
		if (!format_unix_micros(us, iso, sizeof(iso)))
		{
			snprintf(detail, sizeof(detail),
					 "The \"txn_ts\" of event %d is out of range.", i);
			invalid_response(page->what, detail);
		}
		/* owned by the event object, hence by the page's root */
		tagged = json_object_new_object();
		if (tagged == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		json_object_object_add(ev, "fauna_fdw_ts", tagged);
		json_object_object_add(tagged, "@time", json_object_new_string(iso));
		e->action = type;
		e->event_ts = tagged;
		e->txn_ts = us;
	}
}

static void
page_build(FaunaPage *page)
{
	json_object *root = page->root;
	json_object *data;
	json_object *inner;
	json_object *stats;
	FaunaVType	t;

	if (!json_object_is_type(root, json_type_object))
		invalid_response(page->what, "The response is not a JSON object.");
	if (!json_object_object_get_ex(root, "data", &data) &&
		json_object_object_get_ex(root, "events", NULL))
	{
		page_build_events(page);
		return;
	}
	if (!json_object_object_get_ex(root, "data", &data))
		invalid_response(page->what, "The response has no \"data\".");

	if (json_object_object_get_ex(root, "stats", &stats))
	{
		page->stats.read_ops = stat_int(stats, "read_ops");
		page->stats.compute_ops = stat_int(stats, "compute_ops");
		page->stats.write_ops = stat_int(stats, "write_ops");
		page->stats.bytes_read = stat_int(stats, "storage_bytes_read");
	}
	page->stats.txn_ts = stat_int(root, "txn_ts");

	t = classify(data, &inner, page->what);
	switch (t)
	{
		case FV_NULL:
			break;
		case FV_STREAM:
			/* an event source token: no element */
			page->stream = json_object_get_string(inner);
			break;
		case FV_SET:
			if (!json_object_is_type(inner, json_type_object))
				invalid_response(page->what,
								 "\"data\" is an unmaterialized set, not a page.");
			page_from_set(page, inner, false);
			return;
		case FV_OBJECT:
			if (inner == data && is_plain_page(data))
			{
				page_from_set(page, data, true);
				return;
			}
			/* FALLTHROUGH */
		case FV_DOC:
		case FV_REF:
			page->elems = MemoryContextAllocZero(page->cxt, sizeof(FaunaElem));
			page_add_element(page, data, 0);
			return;
		default:
			{
				char		detail[128];

				snprintf(detail, sizeof(detail),
						 "\"data\" is a %s, not a set, a page, a document or null.",
						 fauna_type_names[t]);
				invalid_response(page->what, detail);
			}
	}
}

FaunaPage *
fauna_parser_finish_page(FaunaParser *parser, const char *what)
{
	FaunaPage  *page;

	if (what == NULL)
		what = "query";
	if (parser->failed)
		invalid_response(what, parser->errdetail);
	if (!parser->done && parser->nbytes > 0)
	{
		json_object *obj;

		/*
		 * A NUL byte tells json-c the input ended: it completes a top-level
		 * literal ("null") and fails an unfinished object.
		 */
		obj = json_tokener_parse_ex(parser->tok, "", 1);
		if (json_tokener_get_error(parser->tok) == json_tokener_success)
		{
			parser->root = obj;
			parser->done = true;
		}
	}
	if (!parser->done)
	{
		char		detail[128];

		if (parser->nbytes == 0)
			snprintf(detail, sizeof(detail), "The response body is empty.");
		else
			snprintf(detail, sizeof(detail),
					 "The response is truncated: its JSON ends unfinished after %zu bytes.",
					 parser->nbytes);
		invalid_response(what, detail);
	}

	/* The tokener is no longer needed. */
	json_tokener_free(parser->tok);
	parser->tok = NULL;

	/*
	 * Hand the tree over to the page before validating it, so that an ERROR
	 * below still frees it when the context goes.
	 */
	page = MemoryContextAllocZero(parser->cxt, sizeof(FaunaPage));
	page->cxt = parser->cxt;
	page->what = MemoryContextStrdup(parser->cxt, what);
	page->cb.func = page_reset_callback;
	page->cb.arg = page;
	MemoryContextRegisterResetCallback(parser->cxt, &page->cb);
	page->root = parser->root;
	parser->root = NULL;

	if (parser->v4)
		page_build_v4(page);
	else
		page_build(page);
	return page;
}

FaunaPage *
fauna_page_from_buffer(const char *body, size_t len, MemoryContext cxt,
					   const char *what)
{
	FaunaParser *parser = fauna_parser_create(cxt);

	fauna_parser_feed(parser, body, len);
	return fauna_parser_finish_page(parser, what);
}

int
fauna_page_count(FaunaPage *page)
{
	return page->count;
}

char *
fauna_page_after(FaunaPage *page)
{
	return page->after ? pstrdup(page->after) : NULL;
}

void
fauna_page_stats(FaunaPage *page, FaunaStats *stats)
{
	*stats = page->stats;
}

const char *
fauna_page_stream(FaunaPage *page)
{
	return page->stream;
}

bool
fauna_page_feed_error(FaunaPage *page, char **code, char **message)
{
	if (page->error_code == NULL)
		return false;
	*code = pstrdup(page->error_code);
	*message = pstrdup(page->error_message);
	return true;
}

int64
fauna_page_event_ts(FaunaPage *page, int i)
{
	if (i < 0 || i >= page->count)
		return 0;
	return page->elems[i].txn_ts;
}

const char *
fauna_page_document_id(FaunaPage *page, int i)
{
	if (i < 0 || i >= page->count)
		return NULL;
	return page->elems[i].id;
}

/* ----------------------------------------------------------------
 * Errors of conversions
 * ----------------------------------------------------------------
 */

/*
 * A value from the response, fit for an error message: at most 64 bytes
 * (cut at a character boundary) and valid UTF-8.
 */
static const char *
msg_value(const char *s)
{
	int			len = strlen(s);

	if (!pg_verify_mbstr(PG_UTF8, s, len, true))
		return "(not valid UTF-8)";
	if (len > 64)
		return psprintf("%.*s...", pg_encoding_mbcliplen(PG_UTF8, s, len, 64), s);
	return s;
}

static void
conv_detail(FaunaConv *cv)
{
	if (cv->elem->id)
		errdetail("Document id \"%s\" of %s.", cv->elem->id, cv->page->what);
	else
		errdetail("A document of %s (id not read).", cv->page->what);
}

static void
cannot_convert(FaunaConv *cv, FaunaVType t, Oid typid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert Fauna %s to type %s for column \"%s\"",
					fauna_type_names[t], format_type_be(typid),
					cv->col->attname),
			 conv_detail(cv)));
}

static void
out_of_range(FaunaConv *cv, FaunaVType t, const char *value, Oid typid)
{
	value = msg_value(value);
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("Fauna %s %s is out of range for type %s of column \"%s\"",
					fauna_type_names[t], value, format_type_be(typid),
					cv->col->attname),
			 conv_detail(cv)));
}

static void
invalid_value(FaunaConv *cv, FaunaVType t, const char *value)
{
	value = msg_value(value);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid Fauna %s value \"%s\" for column \"%s\"",
					fauna_type_names[t], value, cv->col->attname),
			 conv_detail(cv)));
}

/* CONTEXT line for errors raised by PostgreSQL functions we call. */
static void
conv_error_context(void *arg)
{
	FaunaConv  *cv = (FaunaConv *) arg;

	errcontext("column \"%s\" of Fauna document \"%s\" of %s",
			   cv->col->attname, cv->elem->id ? cv->elem->id : "?",
			   cv->page->what);
}

/* ----------------------------------------------------------------
 * Scalar parsers (pure functions; callers report errors)
 * ----------------------------------------------------------------
 */

static bool
parse_int64(const char *s, int64 *out)
{
	bool		neg = false;
	uint64		v = 0;

	if (*s == '-')
		neg = true, s++;
	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		if (v > (PG_UINT64_MAX - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	if (neg)
	{
		if (v > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = (int64) (0 - v);
	}
	else
	{
		if (v > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) v;
	}
	return true;
}

/*
 * A @double's text: a JSON number (Java prints "1.0E10", "-0.0", "1.5"), or
 * NaN/Infinity/-Infinity.  *special is set for the latter three.
 */
static bool
parse_double(const char *s, double *out, bool *special)
{
	const char *p = s;
	char	   *end;

	*special = false;
	if (strcmp(s, "NaN") == 0)
		return *special = true, *out = get_float8_nan(), true;
	if (strcmp(s, "Infinity") == 0)
		return *special = true, *out = get_float8_infinity(), true;
	if (strcmp(s, "-Infinity") == 0)
		return *special = true, *out = -get_float8_infinity(), true;

	/* JSON number grammar, so that the text can be emitted verbatim */
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.')
	{
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return false;
	*out = strtod(s, &end);
	return true;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* "YYYY-MM-DD" at s; days since the Unix epoch. */
static bool
parse_ymd(const char *s, int64 *days)
{
	int			y,
				m,
				d;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
		s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*days = days_from_civil(y, m, d);
	return true;
}

static bool
parse_date(const char *s, int64 *days)
{
	return strlen(s) == 10 && parse_ymd(s, days);
}

/*
 * An ISO-8601 time "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)" into
 * microseconds since the Unix epoch, rounded half up beyond microseconds.
 */
static bool
parse_time(const char *s, int64 *usecs)
{
	int64		days;
	int			hh,
				mi,
				ss;
	int64		frac = 0;
	int			ndig = 0;
	bool		round_up = false;
	const char *p;
	int64		offset_s = 0;

	if (strlen(s) < 20 || !parse_ymd(s, &days))
		return false;
	if ((s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hh) ||
		s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &ss))
		return false;
	if (hh > 23 || mi > 59 || ss > 59)
		return false;
	p = s + 19;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
		{
			if (ndig < 6)
				frac = frac * 10 + (*p - '0');
			else if (ndig == 6)
				round_up = (*p >= '5');
			ndig++;
			p++;
		}
		if (ndig == 0 || ndig > 9)
			return false;
		for (int i = ndig; i < 6; i++)
			frac *= 10;
		if (round_up)
			frac++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			oh,
					om;

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
			oh > 23 || om > 59)
			return false;
		offset_s = (int64) (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	}
	else
		return false;
	if (*p != '\0')
		return false;

	*usecs = ((days * 86400 + hh * 3600 + mi * 60 + ss) - offset_s) * USECS_PER_SEC
		+ frac;
	return true;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * Decode base64 (standard alphabet on the wire; the URL-safe one is
 * accepted too).  Padding is optional, but nothing may follow it.  With out
 * NULL only validates.  Returns the decoded length, or -1 if invalid.
 */
static int
b64_decode(const char *s, int len, char *out)
{
	int			n = 0;
	uint32		acc = 0;
	int			bits = 0;
	int			i;
	int			pad = 0;

	for (i = 0; i < len; i++)
	{
		int			v;

		if (s[i] == '=')
			break;
		v = b64_value((unsigned char) s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (out)
				out[n] = (char) ((acc >> bits) & 0xFF);
			n++;
		}
	}
	for (; i < len; i++, pad++)
		if (s[i] != '=')
			return -1;
	/* 6 leftover bits cannot encode a byte; padding must complete a quantum */
	if (bits >= 6 || pad > 2 || (pad > 0 && (i % 4) != 0))
		return -1;
	return n;
}

/* ----------------------------------------------------------------
 * Strings into the database
 * ----------------------------------------------------------------
 */

/*
 * Check a Fauna string for text use: no NUL (PostgreSQL text cannot hold
 * it), valid UTF-8 (json-c's check lets overlong forms and surrogates
 * through) and, in a non-UTF-8 database, converted to the server encoding.
 */
static const char *
server_string(FaunaConv *cv, FaunaVType t, const char *s, int *len)
{
	if (memchr(s, '\0', *len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("Fauna %s for column \"%s\" contains a NUL character, which PostgreSQL text cannot hold",
						fauna_type_names[t], cv->col->attname),
				 conv_detail(cv)));
	if (!pg_verify_mbstr(PG_UTF8, s, *len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("Fauna %s for column \"%s\" is not valid UTF-8",
						fauna_type_names[t], cv->col->attname),
				 conv_detail(cv)));
	if (cv->need_encoding)
	{
		ErrorContextCallback errcb;
		char	   *conv;

		errcb.callback = conv_error_context;
		errcb.arg = cv;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		conv = pg_any_to_server(s, *len, PG_UTF8);
		error_context_stack = errcb.previous;
		if (conv != s)
		{
			*len = strlen(conv);
			return conv;
		}
	}
	return s;
}

/* URL-safe base64 of a @bytes value (validated). */
static char *
bytes_export(FaunaConv *cv, json_object *inner, int *outlen)
{
	int			len;
	const char *s = jstr(inner, &len);
	char	   *r;

	if (b64_decode(s, len, NULL) < 0)
		invalid_value(cv, FV_BYTES, s);
	r = palloc(len + 1);
	for (int i = 0; i < len; i++)
		r[i] = s[i] == '+' ? '-' : (s[i] == '/' ? '_' : s[i]);
	r[len] = '\0';
	*outlen = len;
	return r;
}

/* Validated int value of @int / @long; canonical text via *text. */
static int64
get_int(FaunaConv *cv, FaunaVType t, json_object *inner)
{
	const char *s = json_object_get_string(inner);
	int64		v;

	if (!parse_int64(s, &v) ||
		(t == FV_INT && (v < PG_INT32_MIN || v > PG_INT32_MAX)))
		invalid_value(cv, t, s);
	return v;
}

static double
get_double(FaunaConv *cv, json_object *inner, bool *special)
{
	const char *s = json_object_get_string(inner);
	double		d;

	if (!parse_double(s, &d, special))
		invalid_value(cv, FV_DOUBLE, s);
	return d;
}

/* ----------------------------------------------------------------
 * Refs: fauna-protocol.md section 4
 * ----------------------------------------------------------------
 */

typedef struct RefExport
{
	const char *id;
	int			idlen;
	const char *coll;			/* NULL: not a document ref */
	int			colllen;
	const char *type;
} RefExport;

/* Schema collections whose documents export as "other refs". */
static const struct
{
	const char *mod;
	const char *type;
}			schema_colls[] = {
	{"Collection", "collection"},
	{"Database", "database"},
	{"Function", "function"},
	{"Role", "role"},
	{"AccessProvider", "access_provider"},
	{"Key", "key"},
	{"Token", "token"},
	{"Credential", "credential"},
};

/*
 * From the object of a @ref or @doc ({"id"|"name", "coll":{"@mod"}}).
 */
static void
ref_export(FaunaConv *cv, FaunaVType t, json_object *obj, RefExport *r)
{
	json_object *id;
	json_object *coll;
	json_object *mod;

	if (t == FV_REF && cv->page->v4)
	{
		ref_export_v4(cv, obj, r);
		return;
	}
	if ((!json_object_object_get_ex(obj, "id", &id) &&
		 !json_object_object_get_ex(obj, "name", &id)) ||
		!json_object_is_type(id, json_type_string))
		invalid_value(cv, t, "(without id)");
	r->id = jstr(id, &r->idlen);
	r->coll = NULL;
	r->type = "unknown";

	if (json_object_object_get_ex(obj, "coll", &coll) &&
		single_key(coll, &mod) != NULL &&
		strcmp(single_key(coll, &mod), "@mod") == 0 &&
		json_object_is_type(mod, json_type_string))
	{
		const char *name = json_object_get_string(mod);

		for (int i = 0; i < lengthof(schema_colls); i++)
			if (strcmp(name, schema_colls[i].mod) == 0)
			{
				r->type = schema_colls[i].type;
				return;
			}
		r->coll = jstr(mod, &r->colllen);
		r->type = "document";
	}
}

static void
push_string(FaunaConv *cv, JsonbParseState **st, JsonbIteratorToken tok,
			FaunaVType t, const char *s, int len)
{
	JsonbValue	jv;

	s = server_string(cv, t, s, &len);
	jv.type = jbvString;
	jv.val.string.val = (char *) s;
	jv.val.string.len = len;
	pushJsonbValue(st, tok, &jv);
}

static void
push_key(FaunaConv *cv, JsonbParseState **st, const char *key)
{
	push_string(cv, st, WJB_KEY, FV_STRING, key, strlen(key));
}

static JsonbValue *
push_ref(FaunaConv *cv, JsonbParseState **st, RefExport *r)
{
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	push_key(cv, st, "id");
	push_string(cv, st, WJB_VALUE, FV_STRING, r->id, r->idlen);
	if (r->coll)
	{
		push_key(cv, st, "collection");
		push_string(cv, st, WJB_VALUE, FV_STRING, r->coll, r->colllen);
	}
	push_key(cv, st, "type");
	push_string(cv, st, WJB_VALUE, FV_STRING, r->type, strlen(r->type));
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* ----------------------------------------------------------------
 * jsonb: pushed straight from the json-c tree
 * ----------------------------------------------------------------
 */

/* Keys of a @doc that are not user fields. */
static bool
is_reserved_key(const char *key)
{
	return strcmp(key, "id") == 0 || strcmp(key, "coll") == 0 ||
		strcmp(key, "ts") == 0 || strcmp(key, "ttl") == 0;
}

static JsonbValue *
push_object(FaunaConv *cv, JsonbParseState **st, json_object *obj,
			bool user_fields_only)
{
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	{
		json_object_object_foreach(obj, key, val)
		{
			if (user_fields_only && is_reserved_key(key))
				continue;
			push_key(cv, st, key);
			push_jsonb(cv, st, val, WJB_VALUE);
		}
	}
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

static void
push_numeric(JsonbParseState **st, JsonbIteratorToken tok, Numeric num)
{
	JsonbValue	jv;

	jv.type = jbvNumeric;
	jv.val.numeric = num;
	pushJsonbValue(st, tok, &jv);
}

static Numeric
numeric_from_text(FaunaConv *cv, const char *s, int32 typmod)
{
	ErrorContextCallback errcb;
	Datum		d;

	errcb.callback = conv_error_context;
	errcb.arg = cv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	d = DirectFunctionCall3(numeric_in, CStringGetDatum(s),
							ObjectIdGetDatum(InvalidOid),
							Int32GetDatum(typmod));
	error_context_stack = errcb.previous;
	return DatumGetNumeric(d);
}

/*
 * Push one value; tok is WJB_VALUE inside an object, WJB_ELEM inside an
 * array.  Returns what the last pushJsonbValue() returned: for a container
 * pushed at top level, the finished container.  (A top-level scalar is
 * handled by make_jsonb().)
 */
static JsonbValue *
push_jsonb(FaunaConv *cv, JsonbParseState **st, json_object *v,
		   JsonbIteratorToken tok)
{
	JsonbValue *res = NULL;
	json_object *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	JsonbValue	jv;
	int			len;
	const char *s;

	check_stack_depth();
	switch (t)
	{
		case FV_NULL:
			jv.type = jbvNull;
			pushJsonbValue(st, tok, &jv);
			break;
		case FV_BOOL:
			jv.type = jbvBool;
			jv.val.boolean = json_object_get_boolean(v);
			pushJsonbValue(st, tok, &jv);
			break;
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
		case FV_MOD:
			s = jstr(inner, &len);
			push_string(cv, st, tok, t, s, len);
			break;
		case FV_BYTES:
			s = bytes_export(cv, inner, &len);
			push_string(cv, st, tok, t, s, len);
			break;
		case FV_INT:
		case FV_LONG:
			push_numeric(st, tok, int64_to_numeric(get_int(cv, t, inner)));
			break;
		case FV_DOUBLE:
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				s = jstr(inner, &len);
				if (special)
					push_string(cv, st, tok, t, s, len);
				else
					push_numeric(st, tok, numeric_from_text(cv, s, -1));
			}
			break;
		case FV_NUMBER:
			push_numeric(st, tok,
						 numeric_from_text(cv, json_object_get_string(v), -1));
			break;
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			/* a string holding the value's wire JSON */
			s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
											   JSON_C_TO_STRING_NOSLASHESCAPE);
			push_string(cv, st, tok, t, s, strlen(s));
			break;
		case FV_DOC:
		case FV_REF:
			{
				RefExport	r;

				ref_export(cv, t, inner, &r);
				res = push_ref(cv, st, &r);
			}
			break;
		case FV_OBJECT:
			res = push_object(cv, st, inner, false);
			break;
		case FV_ARRAY:
			{
				size_t		n = json_object_array_length(v);

				pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
				for (size_t i = 0; i < n; i++)
					push_jsonb(cv, st, json_object_array_get_idx(v, i), WJB_ELEM);
				res = pushJsonbValue(st, WJB_END_ARRAY, NULL);
			}
			break;
	}
	return res;
}

/*
 * A jsonb Datum of a value.  A scalar is pushed as the element of a one
 * element array and taken out again: JsonbValueToJsonb() makes a raw scalar
 * of it.  user_fields_only: v is a @doc, and the value its user fields.
 */
static Datum
make_jsonb(FaunaConv *cv, json_object *v, bool user_fields_only)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;

	if (user_fields_only)
		res = push_object(cv, &st, v, true);
	else
	{
		json_object *inner;
		FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);

		if (t == FV_OBJECT || t == FV_ARRAY || t == FV_DOC || t == FV_REF)
			res = push_jsonb(cv, &st, v, WJB_VALUE);
		else
		{
			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			push_jsonb(cv, &st, v, WJB_ELEM);
			res = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
			res = &res->val.array.elems[0];
		}
	}
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* ----------------------------------------------------------------
 * json text in the export format
 * ----------------------------------------------------------------
 */

static void
append_json_string(FaunaConv *cv, StringInfo buf, FaunaVType t,
				   const char *s, int len)
{
	s = server_string(cv, t, s, &len);
	appendStringInfoCharMacro(buf, '"');
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				appendBinaryStringInfo(buf, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(buf, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(buf, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(buf, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(buf, "\\t", 2);
				break;
			case '\b':
				appendBinaryStringInfo(buf, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(buf, "\\f", 2);
				break;
			default:
				if (c < 0x20)
					appendStringInfo(buf, "\\u%04x", c);
				else
					appendStringInfoCharMacro(buf, (char) c);
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

static void
append_object(FaunaConv *cv, StringInfo buf, json_object *obj,
			  bool user_fields_only)
{
	bool		first = true;

	appendStringInfoCharMacro(buf, '{');
	{
		json_object_object_foreach(obj, key, val)
		{
			if (user_fields_only && is_reserved_key(key))
				continue;
			if (!first)
				appendBinaryStringInfo(buf, ", ", 2);
			first = false;
			append_json_string(cv, buf, FV_STRING, key, strlen(key));
			appendBinaryStringInfo(buf, ": ", 2);
			append_export_json(cv, buf, val);
		}
	}
	appendStringInfoCharMacro(buf, '}');
}

static void
append_ref(FaunaConv *cv, StringInfo buf, RefExport *r)
{
	appendStringInfoString(buf, "{\"id\": ");
	append_json_string(cv, buf, FV_STRING, r->id, r->idlen);
	if (r->coll)
	{
		appendStringInfoString(buf, ", \"collection\": ");
		append_json_string(cv, buf, FV_STRING, r->coll, r->colllen);
	}
	appendStringInfo(buf, ", \"type\": \"%s\"}", r->type);
}

/* The export-format JSON text of a value (the separators of jsonb's output). */
static void
append_export_json(FaunaConv *cv, StringInfo buf, json_object *v)
{
	json_object *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			len;
	const char *s;

	check_stack_depth();
	switch (t)
	{
		case FV_NULL:
			appendStringInfoString(buf, "null");
			break;
		case FV_BOOL:
			appendStringInfoString(buf, json_object_get_boolean(v) ? "true" : "false");
			break;
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
		case FV_MOD:
			s = jstr(inner, &len);
			append_json_string(cv, buf, t, s, len);
			break;
		case FV_BYTES:
			s = bytes_export(cv, inner, &len);
			append_json_string(cv, buf, t, s, len);
			break;
		case FV_INT:
		case FV_LONG:
			appendStringInfo(buf, INT64_FORMAT, get_int(cv, t, inner));
			break;
		case FV_DOUBLE:
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				s = jstr(inner, &len);
				if (special)
					append_json_string(cv, buf, t, s, len);
				else
					appendBinaryStringInfo(buf, s, len);
			}
			break;
		case FV_NUMBER:
			appendStringInfoString(buf, json_object_get_string(v));
			break;
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
											   JSON_C_TO_STRING_NOSLASHESCAPE);
			append_json_string(cv, buf, t, s, strlen(s));
			break;
		case FV_DOC:
		case FV_REF:
			{
				RefExport	r;

				ref_export(cv, t, inner, &r);
				append_ref(cv, buf, &r);
			}
			break;
		case FV_OBJECT:
			append_object(cv, buf, inner, false);
			break;
		case FV_ARRAY:
			{
				size_t		n = json_object_array_length(v);

				appendStringInfoCharMacro(buf, '[');
				for (size_t i = 0; i < n; i++)
				{
					if (i > 0)
						appendBinaryStringInfo(buf, ", ", 2);
					append_export_json(cv, buf, json_object_array_get_idx(v, i));
				}
				appendStringInfoCharMacro(buf, ']');
			}
			break;
	}
}

/* ----------------------------------------------------------------
 * Conversions into column types
 * ----------------------------------------------------------------
 */

/*
 * The text form of a non-null value (see the file header): strings as they
 * are, other scalars as their export text unquoted, containers as JSON.
 * Returns a palloc'd or borrowed string; *len is its length.
 */
static const char *
text_form(FaunaConv *cv, FaunaVType t, json_object *v, json_object *inner,
		  int *len)
{
	StringInfoData buf;
	const char *s;

	switch (t)
	{
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
		case FV_MOD:
			s = jstr(inner, len);
			return server_string(cv, t, s, len);
		case FV_BYTES:
			return bytes_export(cv, inner, len);
		case FV_INT:
		case FV_LONG:
			s = psprintf(INT64_FORMAT, get_int(cv, t, inner));
			*len = strlen(s);
			return s;
		case FV_DOUBLE:
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				return jstr(inner, len);
			}
		case FV_BOOL:
			s = json_object_get_boolean(v) ? "true" : "false";
			*len = strlen(s);
			return s;
		case FV_NUMBER:
			s = json_object_get_string(v);
			*len = strlen(s);
			return s;
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
											   JSON_C_TO_STRING_NOSLASHESCAPE);
			*len = strlen(s);
			return server_string(cv, t, s, len);
		default:
			initStringInfo(&buf);
			append_export_json(cv, &buf, v);
			*len = buf.len;
			return buf.data;
	}
}

/* Through the type's input function (types without a rule of their own). */
static Datum
via_input_function(FaunaConv *cv, FaunaVType t, json_object *v,
				   json_object *inner, int32 typmod)
{
	ErrorContextCallback errcb;
	int			len;
	const char *s = text_form(cv, t, v, inner, &len);
	char	   *cstr = (s[len] == '\0') ? (char *) s : pnstrdup(s, len);
	Datum		d;

	errcb.callback = conv_error_context;
	errcb.arg = cv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	d = InputFunctionCall(&cv->col->infunc, cstr, cv->col->inioparam, typmod);
	error_context_stack = errcb.previous;
	return d;
}

/* An integer value for int2/int4/int8, range-checked. */
static int64
integer_value(FaunaConv *cv, FaunaVType t, json_object *inner, Oid typid,
			  int64 min, int64 max)
{
	int64		v;

	switch (t)
	{
		case FV_INT:
		case FV_LONG:
			v = get_int(cv, t, inner);
			break;
		case FV_NUMBER:
			if (v4_number_int64(inner, &v))
				break;
			/* FALLTHROUGH */
		case FV_DOUBLE:
			{
				bool		special;
				double		d = get_double(cv, inner, &special);

				if (special || d != floor(d))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
							 errmsg("cannot convert Fauna double %s to type %s for column \"%s\": not an integral value",
									msg_value(json_object_get_string(inner)),
									format_type_be(typid), cv->col->attname),
							 conv_detail(cv)));
				/* the int64 range as PostgreSQL's FLOAT8_FITS_IN_INT64 */
				if (!(d >= (double) PG_INT64_MIN && d < -((double) PG_INT64_MIN)))
					out_of_range(cv, t, json_object_get_string(inner), typid);
				v = (int64) d;
			}
			break;
		default:
			cannot_convert(cv, t, typid);
			return 0;			/* keep compiler quiet */
	}
	if (v < min || v > max)
		out_of_range(cv, t, json_object_get_string(inner), typid);
	return v;
}

static double
float_value(FaunaConv *cv, FaunaVType t, json_object *inner, Oid typid)
{
	bool		special;

	switch (t)
	{
		case FV_INT:
		case FV_LONG:
			return (double) get_int(cv, t, inner);
		case FV_NUMBER:
			return json_object_get_double(inner);
		case FV_DOUBLE:
			{
				double		d = get_double(cv, inner, &special);

				/* a finite text that overflows a double (Fauna never sends one) */
				if (isinf(d) && !special)
					out_of_range(cv, t, json_object_get_string(inner), typid);
				return d;
			}
		default:
			cannot_convert(cv, t, typid);
			return 0;
	}
}

static int64
time_value(FaunaConv *cv, json_object *inner)
{
	int64		usecs;

	if (!parse_time(json_object_get_string(inner), &usecs))
		invalid_value(cv, FV_TIME, json_object_get_string(inner));
	return usecs;
}

/* Unix-epoch microseconds -> PostgreSQL timestamp, range-checked. */
static Timestamp
fauna_time_to_timestamp(FaunaConv *cv, json_object *inner, Oid typid)
{
	int64		usecs = time_value(cv, inner);
	Timestamp	ts;

	/* no overflow: parse_time() accepts 4-digit years only */
	ts = usecs - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (!IS_VALID_TIMESTAMP(ts))
		out_of_range(cv, FV_TIME, json_object_get_string(inner), typid);
	return ts;
}

/*
 * Convert a non-null value to typid.  in_array: an element of an array
 * column, where nested arrays are refused unless typid is json/jsonb.
 */
static Datum
convert_value(FaunaConv *cv, json_object *v, Oid typid, int32 typmod,
			  bool in_array)
{
	json_object *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			len;
	const char *s;

	Assert(t != FV_NULL);
	if (in_array && t == FV_ARRAY && typid != JSONBOID && typid != JSONOID)
		cannot_convert(cv, t, typid);

	switch (typid)
	{
		case TEXTOID:
			s = text_form(cv, t, v, inner, &len);
			return PointerGetDatum(cstring_to_text_with_len(s, len));
		case JSONBOID:
			return make_jsonb(cv, v, false);
		case JSONOID:
			{
				StringInfoData buf;

				initStringInfo(&buf);
				append_export_json(cv, &buf, v);
				return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
			}
		case INT2OID:
			return Int16GetDatum((int16) integer_value(cv, t, inner, typid,
													   PG_INT16_MIN, PG_INT16_MAX));
		case INT4OID:
			return Int32GetDatum((int32) integer_value(cv, t, inner, typid,
													   PG_INT32_MIN, PG_INT32_MAX));
		case INT8OID:
			if (t == FV_TIME)
				return Int64GetDatum(time_value(cv, inner));
			return Int64GetDatum(integer_value(cv, t, inner, typid,
											   PG_INT64_MIN, PG_INT64_MAX));
		case NUMERICOID:
			if (t == FV_INT || t == FV_LONG)
			{
				int64		i = get_int(cv, t, inner);

				if (typmod < 0)
					return NumericGetDatum(int64_to_numeric(i));
				return NumericGetDatum(numeric_from_text(cv, psprintf(INT64_FORMAT, i),
														 typmod));
			}
			if (t == FV_DOUBLE || t == FV_NUMBER)
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				return NumericGetDatum(numeric_from_text(cv, json_object_get_string(inner),
														 typmod));
			}
			cannot_convert(cv, t, typid);
			break;
		case FLOAT4OID:
			{
				double		d = float_value(cv, t, inner, typid);
				float4		f = (float4) d;

				if ((isinf(f) && !isinf(d)) || (f == 0.0f && d != 0.0))
					out_of_range(cv, t, json_object_get_string(inner), typid);
				return Float4GetDatum(f);
			}
		case FLOAT8OID:
			return Float8GetDatum(float_value(cv, t, inner, typid));
		case BOOLOID:
			if (t != FV_BOOL)
				cannot_convert(cv, t, typid);
			return BoolGetDatum(json_object_get_boolean(v));
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			if (t != FV_TIME)
				cannot_convert(cv, t, typid);
			return TimestampGetDatum(fauna_time_to_timestamp(cv, inner, typid));
		case DATEOID:
			{
				int64		days;

				if (t != FV_DATE)
					cannot_convert(cv, t, typid);
				if (!parse_date(json_object_get_string(inner), &days))
					invalid_value(cv, t, json_object_get_string(inner));
				days -= POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;
				if (!IS_VALID_DATE(days))
					out_of_range(cv, t, json_object_get_string(inner), typid);
				return DateADTGetDatum((DateADT) days);
			}
		case BYTEAOID:
			{
				bytea	   *b;
				int			n;

				if (t != FV_BYTES)
					cannot_convert(cv, t, typid);
				s = jstr(inner, &len);
				n = b64_decode(s, len, NULL);
				if (n < 0)
					invalid_value(cv, t, s);
				b = palloc(VARHDRSZ + n);
				SET_VARSIZE(b, VARHDRSZ + n);
				b64_decode(s, len, VARDATA(b));
				return PointerGetDatum(b);
			}
		default:
			break;
	}
	/* varchar, bpchar, domains, enums, uuid...: the text form, parsed */
	if (t == FV_ARRAY && !in_array && OidIsValid(cv->col->elemtypid))
		cannot_convert(cv, t, typid);
	return via_input_function(cv, t, v, inner, typmod);
}

/* A Fauna array into an array column. */
static Datum
convert_array(FaunaConv *cv, json_object *v)
{
	FaunaColumn *col = cv->col;
	json_object *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			n;
	Datum	   *datums;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1];

	if (t != FV_ARRAY)
		cannot_convert(cv, t, col->typid);
	n = (int) json_object_array_length(v);
	if (n == 0)
		return PointerGetDatum(construct_empty_array(col->elemtypid));

	datums = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		json_object *e = json_object_array_get_idx(v, i);

		nulls[i] = json_object_is_type(e, json_type_null);
		datums[i] = nulls[i] ? (Datum) 0 :
			convert_value(cv, e, col->elemtypid, col->typmod, true);
	}
	dims[0] = n;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(datums, nulls, 1, dims, lbs,
											  col->elemtypid, col->elemlen,
											  col->elembyval, col->elemalign));
}

/* ----------------------------------------------------------------
 * Columns of an element
 * ----------------------------------------------------------------
 */

/* Step into an object for a dotted path: plain, @object, @doc, @ref. */
static json_object *
walkable(json_object *v, const char *what)
{
	json_object *inner;
	FaunaVType	t;

	if (!json_object_is_type(v, json_type_object))
		return NULL;
	t = classify(v, &inner, what);
	if (t == FV_OBJECT || t == FV_DOC || t == FV_REF)
		return inner;
	return NULL;
}

/*
 * The value of a user field: the path walked from the document's fields
 * (or, when the first step is "data" and there is no such key, from the
 * user fields, so 'data.email' works like FQL's doc.data.email).  For a
 * projected object a field not projected at top level is looked for under
 * its "data" too.  Returns NULL when missing.
 */
static json_object *
lookup_field(FaunaPage *page, FaunaElem *e, FaunaColumn *col)
{
	json_object *cur = e->fields;
	int			start = 0;

	if (col->field_depth < 1)
		return NULL;
	if (!json_object_object_get_ex(cur, col->field_path[0], NULL))
	{
		json_object *data;

		if (strcmp(col->field_path[0], "data") == 0 && e->is_doc)
			start = 1;			/* doc.data.x is doc.x */
		else if (!e->is_doc &&
				 json_object_object_get_ex(cur, "data", &data) &&
				 (data = walkable(data, page->what)) != NULL)
			cur = data;
		else
			return NULL;
	}
	for (int i = start; i < col->field_depth; i++)
	{
		json_object *obj = walkable(cur, page->what);

		if (obj == NULL ||
			!json_object_object_get_ex(obj, col->field_path[i], &cur))
			return NULL;
	}
	return cur;
}

/* Convert the id of an element: as the ref object for json/jsonb. */
static Datum
convert_id(FaunaConv *cv, FaunaElem *e)
{
	FaunaColumn *col = cv->col;

	if (col->typid == JSONBOID || col->typid == JSONOID)
	{
		RefExport	r;
		json_object *mod;
		json_object *coll;

		r.id = jstr(e->idobj, &r.idlen);
		r.coll = NULL;
		r.type = "document";
		if (json_object_object_get_ex(e->fields, "coll", &coll) &&
			coll && single_key(coll, &mod) != NULL &&
			strcmp(single_key(coll, &mod), "@mod") == 0 &&
			json_object_is_type(mod, json_type_string))
		{
			/* a document: the same export as a ref to it */
			ref_export(cv, FV_DOC, e->fields, &r);
		}
		if (col->typid == JSONBOID)
		{
			JsonbParseState *st = NULL;

			return JsonbPGetDatum(JsonbValueToJsonb(push_ref(cv, &st, &r)));
		}
		else
		{
			StringInfoData buf;

			initStringInfo(&buf);
			append_ref(cv, &buf, &r);
			return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
		}
	}
	if (col->typid == INT8OID || col->typid == NUMERICOID)
	{
		/* ids are 64-bit integers in a string */
		int64		id;

		if (!parse_int64(e->id, &id))
			cannot_convert(cv, FV_STRING, col->typid);
		if (col->typid == INT8OID)
			return Int64GetDatum(id);
		return NumericGetDatum(numeric_from_text(cv, e->id, col->typmod));
	}
	return convert_value(cv, e->idobj, col->typid, col->typmod, false);
}

void
fauna_page_document(FaunaPage *page, int i, FaunaColumn *columns,
					int ncolumns, Datum *values, bool *isnull)
{
	FaunaConv	cv;
	FaunaElem  *e;

	if (i < 0 || i >= page->count)
		elog(ERROR, "fauna_fdw: element %d out of range of a page of %d",
			 i, page->count);
	e = &page->elems[i];
	cv.page = page;
	cv.elem = e;
	cv.need_encoding = (GetDatabaseEncoding() != PG_UTF8);

	for (int c = 0; c < ncolumns; c++)
	{
		FaunaColumn *col = &columns[c];
		int			slot = col->attnum - 1;
		json_object *v = NULL;
		bool		user_fields = false;

		cv.col = col;
		switch (col->kind)
		{
			case FAUNA_PATH_ID:
				if (e->idobj == NULL)
					break;
				values[slot] = convert_id(&cv, e);
				isnull[slot] = false;
				continue;
			case FAUNA_PATH_TS:
				if (e->event_ts)
					v = e->event_ts;	/* an event: its txn_ts */
				else
					json_object_object_get_ex(e->fields, "ts", &v);
				break;
			case FAUNA_PATH_TTL:
				json_object_object_get_ex(e->fields, "ttl", &v);
				break;
			case FAUNA_PATH_COLL:
				json_object_object_get_ex(e->fields, "coll", &v);
				break;
			case FAUNA_PATH_DATA:
				if (!json_object_object_get_ex(e->fields, "data", &v) && e->is_doc)
				{
					v = e->fields;
					user_fields = true;
				}
				break;
			case FAUNA_PATH_FIELD:
				v = lookup_field(page, e, col);
				break;
			case FAUNA_PATH_ACTION:
				v = e->action;	/* event tables only; else NULL */
				break;
		}

		if (v == NULL)
		{
			values[slot] = (Datum) 0;
			isnull[slot] = true;
			continue;
		}
		isnull[slot] = false;
		if (user_fields)
		{
			/* all user fields of a @doc: an object built on the fly */
			if (col->typid == JSONBOID)
				values[slot] = make_jsonb(&cv, v, true);
			else if (col->typid == JSONOID || col->typid == TEXTOID)
			{
				StringInfoData buf;

				initStringInfo(&buf);
				append_object(&cv, &buf, v, true);
				values[slot] = PointerGetDatum(cstring_to_text_with_len(buf.data,
																		buf.len));
			}
			else
				cannot_convert(&cv, FV_OBJECT, col->typid);
		}
		else if (OidIsValid(col->elemtypid))
			values[slot] = convert_array(&cv, v);
		else
			values[slot] = convert_value(&cv, v, col->typid, col->typmod, false);
	}
}

void
fauna_column_prepare(FaunaColumn *column)
{
	Oid			target;
	Oid			infunc;

	column->elemtypid = get_element_type(column->typid);
	target = OidIsValid(column->elemtypid) ? column->elemtypid : column->typid;
	if (OidIsValid(column->elemtypid))
		get_typlenbyvalalign(column->elemtypid, &column->elemlen,
							 &column->elembyval, &column->elemalign);
	getTypeInputInfo(target, &infunc, &column->inioparam);
	fmgr_info(infunc, &column->infunc);
}

/* ----------------------------------------------------------------
 * Error bodies
 * ----------------------------------------------------------------
 */

bool
fauna_parse_error_body(const char *body, size_t len, char **code,
					   char **message)
{
	json_tokener *tok;
	json_object *root;
	json_object *err;
	json_object *c;
	json_object *m;

	*code = NULL;
	*message = NULL;
	if (body == NULL || len == 0 || len > INT_MAX)
		return false;
	tok = json_tokener_new_ex(FAUNA_JSON_MAX_DEPTH);
	if (tok == NULL)
		return false;
	root = json_tokener_parse_ex(tok, body, (int) len);
	json_tokener_free(tok);
	if (root == NULL)
		return false;

	if (json_object_is_type(root, json_type_object) &&
		json_object_object_get_ex(root, "error", &err) &&
		json_object_is_type(err, json_type_object) &&
		json_object_object_get_ex(err, "code", &c) &&
		json_object_is_type(c, json_type_string))
	{
		const char *msg = "";

		if (json_object_object_get_ex(err, "message", &m) &&
			json_object_is_type(m, json_type_string))
			msg = json_object_get_string(m);

		/* palloc can only fail on OOM; do not leak the tree if it does */
		PG_TRY();
		{
			*code = pstrdup(json_object_get_string(c));
			*message = pstrdup(msg);
		}
		PG_FINALLY();
		{
			json_object_put(root);
		}
		PG_END_TRY();
		return true;
	}
	json_object_put(root);
	return false;
}

/* ----------------------------------------------------------------
 * FQL v4 (POST /): pages, documents, refs, errors
 *
 * A v4 response {"resource": value} becomes the same FaunaPage as a
 * /query/1 response, with page->v4 set so that the converters read the v4
 * tags (@ts, @obj, @query; nested @ref) and plain JSON numbers.  Each v4
 * document {"ref", "ts": µs, "data", "ttl"?} is given, at page build time,
 * the shape the rest of this file knows: an object
 * {"id", "coll": {"@mod"}, "ts": {"@time"}, "ttl"?, "data"} owned by the
 * page's tree, so column lookup, ids and conversions need no v4 cases.
 * The page's "after" is the cursor array's JSON text, sent back verbatim.
 * ----------------------------------------------------------------
 */

/* The response being parsed is an FQL v4 one. */
void
fauna_parser_set_v4(FaunaParser *parser)
{
	parser->v4 = true;
}

/* The x-txn-time of the response (v4 answers carry it in a header). */
void
fauna_page_set_txn_ts(FaunaPage *page, int64 txn_ts)
{
	if (page->stats.txn_ts == 0)
		page->stats.txn_ts = txn_ts;
}

/* A plain JSON number that is an integer in the int64 range. */
static bool
v4_number_int64(json_object *v, int64 *out)
{
	return json_object_is_type(v, json_type_int) &&
		parse_int64(json_object_get_string(v), out);
}

/* Native v4 classes (refs {"id": name} with no collection) and their type. */
static const struct
{
	const char *cls;
	const char *type;
}			v4_classes[] = {
	{"collections", "collection"},
	{"databases", "database"},
	{"indexes", "index"},
	{"functions", "function"},
	{"roles", "role"},
	{"access_providers", "access_provider"},
	{"keys", "key"},
	{"tokens", "token"},
	{"credentials", "credential"},
};

/* The payload of a {"@ref": {...}} value, else NULL. */
static json_object *
v4_ref_payload(json_object *v)
{
	json_object *payload;
	const char *key;

	if (v == NULL || !json_object_is_type(v, json_type_object))
		return NULL;
	key = single_key(v, &payload);
	if (key == NULL || strcmp(key, "@ref") != 0 ||
		!json_object_is_type(payload, json_type_object))
		return NULL;
	return payload;
}

/* The "id" string of a ref payload, else NULL. */
static const char *
v4_ref_id(json_object *payload, int *len)
{
	json_object *id;

	if (payload == NULL || !json_object_object_get_ex(payload, "id", &id) ||
		!json_object_is_type(id, json_type_string))
		return NULL;
	return jstr(id, len);
}

/*
 * Export a v4 ref (the object inside "@ref"): a document of a user
 * collection {"id","collection","type":"document"}, a ref into a native
 * class {"id","type":<class type>}, anything else (a class itself, a ref
 * nested deeper, a scoped ref of another database) type "unknown".
 */
static void
ref_export_v4(FaunaConv *cv, json_object *obj, RefExport *r)
{
	json_object *cls;
	json_object *clscls;
	const char *name;
	int			len;

	r->id = v4_ref_id(obj, &r->idlen);
	if (r->id == NULL)
		invalid_value(cv, FV_REF, "(without id)");
	r->coll = NULL;
	r->type = "unknown";
	if (json_object_object_get_ex(obj, "database", NULL))
		return;
	cls = json_object_object_get_ex(obj, "collection", &cls) ?
		v4_ref_payload(cls) : NULL;
	if ((name = v4_ref_id(cls, &len)) == NULL ||
		json_object_object_get_ex(cls, "database", NULL))
		return;
	if (!json_object_object_get_ex(cls, "collection", &clscls))
	{
		/* Ref(id, Ref("keys")): an instance of a native class */
		for (int i = 0; i < lengthof(v4_classes); i++)
			if (strcmp(name, v4_classes[i].cls) == 0)
			{
				r->type = v4_classes[i].type;
				return;
			}
		return;
	}
	clscls = v4_ref_payload(clscls);
	if (clscls != NULL &&
		!json_object_object_get_ex(clscls, "collection", NULL) &&
		!json_object_object_get_ex(clscls, "database", NULL) &&
		(name = v4_ref_id(clscls, &len)) != NULL &&
		strcmp(name, "collections") == 0)
	{
		/* Ref(id, Ref(coll, Ref("collections"))): a document */
		r->coll = v4_ref_id(cls, &r->colllen);
		r->type = "document";
	}
}

/* A new json-c object, or an ERROR (json-c returns NULL only on OOM). */
static json_object *
v4_check_alloc(json_object *obj)
{
	if (obj == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not build a Fauna v4 document.")));
	return obj;
}

/*
 * Record one v4 document as an element, in the normalized shape described
 * above; norm is the array (owned by the page's root) that keeps the new
 * objects.  A null element (Get of a missing document) gives no element.
 */
static void
v4_add_element(FaunaPage *page, json_object *norm, json_object *v, int index)
{
	json_object *ref;
	json_object *payload;
	json_object *ts;
	json_object *x;
	json_object *obj;
	json_object *tagged;
	const char *id;
	const char *coll;
	int			len = 0;
	int64		us;
	char		iso[64];
	char		detail[160];
	FaunaElem  *e;

	if (json_object_is_type(v, json_type_null))
		return;
	if (!json_object_is_type(v, json_type_object) ||
		!json_object_object_get_ex(v, "ref", &ref) ||
		(payload = v4_ref_payload(ref)) == NULL ||
		(id = v4_ref_id(payload, &len)) == NULL)
	{
		snprintf(detail, sizeof(detail),
				 "Element %d of the page is not a document with a \"ref\".", index);
		invalid_response(page->what, detail);
	}
	if (!pg_verify_mbstr(PG_UTF8, id, len, true))
	{
		snprintf(detail, sizeof(detail),
				 "The id of element %d of the page is not valid UTF-8.", index);
		invalid_response(page->what, detail);
	}
	if (!json_object_object_get_ex(v, "ts", &ts) ||
		!v4_number_int64(ts, &us) || !format_unix_micros(us, iso, sizeof(iso)))
	{
		snprintf(detail, sizeof(detail),
				 "Element %d of the page has no \"ts\" in microseconds.", index);
		invalid_response(page->what, detail);
	}

	/* attach first, so that whatever follows is owned by the page */
	obj = v4_check_alloc(json_object_new_object());
	json_object_array_add(norm, obj);
	json_object_object_add(obj, "id", v4_check_alloc(json_object_new_string_len(id, len)));
	if (json_object_object_get_ex(payload, "collection", &x) &&
		(coll = v4_ref_id(v4_ref_payload(x), &len)) != NULL)
	{
		tagged = v4_check_alloc(json_object_new_object());
		json_object_object_add(obj, "coll", tagged);
		json_object_object_add(tagged, "@mod",
							   v4_check_alloc(json_object_new_string_len(coll, len)));
	}
	tagged = v4_check_alloc(json_object_new_object());
	json_object_object_add(obj, "ts", tagged);
	json_object_object_add(tagged, "@time", v4_check_alloc(json_object_new_string(iso)));
	if (json_object_object_get_ex(v, "ttl", &x))
		json_object_object_add(obj, "ttl", json_object_get(x));
	if (json_object_object_get_ex(v, "data", &x))
		json_object_object_add(obj, "data", json_object_get(x));
	else
		json_object_object_add(obj, "data", v4_check_alloc(json_object_new_object()));

	e = &page->elems[page->count];
	e->fields = obj;
	json_object_object_get_ex(obj, "id", &e->idobj);
	e->id = json_object_get_string(e->idobj);
	e->is_doc = false;			/* user fields are under "data" */
	page->v4raw[page->count] = v;
	page->count++;
}

/*
 * Build a page from {"resource": X}: X a page {"data": [...], "after"?,
 * "before"?}, a single document, or null (no document).
 */
static void
page_build_v4(FaunaPage *page)
{
	json_object *root = page->root;
	json_object *res;
	json_object *data = NULL;
	json_object *after;
	json_object *norm;
	int			n = 0;

	page->v4 = true;
	if (!json_object_is_type(root, json_type_object) ||
		!json_object_object_get_ex(root, "resource", &res))
		invalid_response(page->what, "The response has no \"resource\".");

	norm = v4_check_alloc(json_object_new_array());
	json_object_object_add(root, "fauna_fdw.v4", norm);

	if (json_object_is_type(res, json_type_null))
		n = 0;
	else if (json_object_is_type(res, json_type_object) &&
			 json_object_object_get_ex(res, "data", &data) &&
			 json_object_is_type(data, json_type_array) &&
			 !json_object_object_get_ex(res, "ref", NULL))
	{
		if (json_object_object_get_ex(res, "after", &after))
		{
			if (!json_object_is_type(after, json_type_array))
				invalid_response(page->what,
								 "The \"after\" cursor of the page is not an array.");
			page->after = json_object_to_json_string_ext(after,
														 JSON_C_TO_STRING_PLAIN |
														 JSON_C_TO_STRING_NOSLASHESCAPE);
		}
		n = (int) json_object_array_length(data);
	}
	else if (json_object_is_type(res, json_type_object))
	{
		data = NULL;
		n = 1;
	}
	else
		invalid_response(page->what,
						 "The \"resource\" is not a page, a document or null.");

	page->elems = MemoryContextAllocZero(page->cxt, sizeof(FaunaElem) * Max(n, 1));
	page->v4raw = MemoryContextAllocZero(page->cxt, sizeof(json_object *) * Max(n, 1));
	if (n == 1 && data == NULL)
		v4_add_element(page, norm, res, 0);
	else
		for (int i = 0; i < n; i++)
			v4_add_element(page, norm, json_object_array_get_idx(data, i), i);
}

/* Is this v4 index "values" entry {"field": ["name"]} (or "name")? */
static bool
v4_is_field(json_object *value, const char *name)
{
	json_object *field;
	json_object *reverse;

	if (!json_object_is_type(value, json_type_object) ||
		!json_object_object_get_ex(value, "field", &field))
		return false;
	if (json_object_object_get_ex(value, "reverse", &reverse) &&
		!(json_object_is_type(reverse, json_type_boolean) &&
		  !json_object_get_boolean(reverse)))
		return false;
	if (json_object_is_type(field, json_type_array))
	{
		if (json_object_array_length(field) != 1)
			return false;
		field = json_object_array_get_idx(field, 0);
	}
	return json_object_is_type(field, json_type_string) &&
		strcmp(json_object_get_string(field), name) == 0;
}

/*
 * From a page of v4 index documents, the name of the first (in page order)
 * index an incremental reader can use for the collection: active, source
 * the collection itself, no terms, values exactly [ts, ref] ascending.
 * NULL if none; palloc'd.
 */
char *
fauna_v4_page_ts_index(FaunaPage *page, const char *collection)
{
	for (int i = 0; i < page->count; i++)
	{
		json_object *ix = page->v4raw[i];
		json_object *x;
		const char *name;
		int			len;

		if (!json_object_object_get_ex(ix, "active", &x) ||
			!json_object_is_type(x, json_type_boolean) ||
			!json_object_get_boolean(x))
			continue;
		if (!json_object_object_get_ex(ix, "source", &x) ||
			(name = v4_ref_id(v4_ref_payload(x), &len)) == NULL ||
			strcmp(name, collection) != 0)
			continue;
		if (json_object_object_get_ex(ix, "terms", &x) &&
			!json_object_is_type(x, json_type_null) &&
			!(json_object_is_type(x, json_type_array) &&
			  json_object_array_length(x) == 0))
			continue;
		if (!json_object_object_get_ex(ix, "values", &x) ||
			!json_object_is_type(x, json_type_array) ||
			json_object_array_length(x) != 2 ||
			!v4_is_field(json_object_array_get_idx(x, 0), "ts") ||
			!v4_is_field(json_object_array_get_idx(x, 1), "ref"))
			continue;
		if (!json_object_object_get_ex(ix, "name", &x) ||
			!json_object_is_type(x, json_type_string))
			continue;
		name = json_object_get_string(x);
		if (fauna_is_identifier(name))
			return pstrdup(name);
	}
	return NULL;
}

/*
 * Parse a v4 error body {"errors": [{"code", "description", "position"?}]}:
 * the first error's code and description, and its position as JSON text
 * ("" when absent).  Returns false when the body is not such an object;
 * never throws but on OOM.
 */
bool
fauna_parse_v4_error_body(const char *body, size_t len, char **code,
						  char **description, char **position)
{
	json_tokener *tok;
	json_object *root;
	json_object *errors;
	json_object *err;
	json_object *c;
	json_object *d;
	json_object *p;
	volatile bool ok = false;

	*code = *description = *position = NULL;
	if (body == NULL || len == 0 || len > INT_MAX)
		return false;
	tok = json_tokener_new_ex(FAUNA_JSON_MAX_DEPTH);
	if (tok == NULL)
		return false;
	root = json_tokener_parse_ex(tok, body, (int) len);
	json_tokener_free(tok);
	if (root == NULL)
		return false;

	PG_TRY();
	{
		if (json_object_is_type(root, json_type_object) &&
			json_object_object_get_ex(root, "errors", &errors) &&
			json_object_is_type(errors, json_type_array) &&
			json_object_array_length(errors) > 0 &&
			(err = json_object_array_get_idx(errors, 0)) != NULL &&
			json_object_is_type(err, json_type_object) &&
			json_object_object_get_ex(err, "code", &c) &&
			json_object_is_type(c, json_type_string))
		{
			*code = pstrdup(json_object_get_string(c));
			*description = pstrdup(json_object_object_get_ex(err, "description", &d) &&
								   json_object_is_type(d, json_type_string)
								   ? json_object_get_string(d) : "");
			*position = pstrdup(json_object_object_get_ex(err, "position", &p)
								? json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN |
																 JSON_C_TO_STRING_NOSLASHESCAPE)
								: "");
			ok = true;
		}
	}
	PG_FINALLY();
	{
		json_object_put(root);
	}
	PG_END_TRY();
	return ok;
}
