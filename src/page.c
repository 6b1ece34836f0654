/*-------------------------------------------------------------------------
 *
 * page.c
 *		  The page parser: response bodies of FQL v10 into pages.
 *
 * The body of a /query/1 response is collected as it arrives and tokenized
 * as far as it goes (json_tape.c), so that when its last byte arrives only
 * the last chunk is left to read; the tape then becomes a FaunaPage of
 * validated elements: documents, projected objects, events of a feed.
 * Error bodies and the tags of values (fauna_classify) are read here too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decode_private.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

const char *const fauna_type_names[] = {
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

/* ----------------------------------------------------------------
 * Incremental parser: collects the body
 * ----------------------------------------------------------------
 */

FaunaParser *
fauna_parser_create(MemoryContext cxt)
{
	FaunaParser *parser;

	parser = MemoryContextAllocZero(cxt, sizeof(FaunaParser));
	parser->jp.cxt = cxt;
	parser->jp.state = JS_VALUE;
	return parser;
}

static bool
parser_fail(FaunaParser *parser, const char *detail)
{
	parser->failed = true;
	snprintf(parser->errdetail, sizeof(parser->errdetail), "%s", detail);
	return false;
}

/*
 * Make room for a body of `expected` bytes (its Content-Length), so that
 * the buffer is allocated once rather than doubled and copied as it fills.
 * A hint only: a body that turns out longer still grows the buffer, and
 * at most FAUNA_RESERVE_MAX is taken on the word of a header (a server
 * announcing more than it sends must not make us hold it).  Never throws.
 */
#define FAUNA_RESERVE_MAX	((size_t) 32 * 1024 * 1024)

void
fauna_parser_reserve(FaunaParser *parser, size_t expected)
{
	JParse	   *jp = &parser->jp;
	char	   *nb;

	if (parser->failed || jp->buf != NULL || expected == 0)
		return;
	expected = Min(expected, FAUNA_RESERVE_MAX);
	nb = MemoryContextAllocExtended(jp->cxt, expected + 1,
									MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (nb == NULL)
		return;					/* fauna_parser_append() will say so */
	jp->buf = nb;
	jp->buf[0] = '\0';
	parser->cap = expected + 1;
}

/*
 * Keep body bytes as they arrive, without parsing them yet: the caller
 * parses them with fauna_parser_catch_up() when it has nothing else to do,
 * so that the transfer is never slowed down by the parsing.  Runs inside
 * libcurl's write callback: it must not ereport, so failures (out of
 * memory, too large) are only recorded.  The buffer doubles as it fills
 * (MCXT_ALLOC_NO_OOM).
 */
bool
fauna_parser_append(FaunaParser *parser, const char *buf, size_t len)
{
	JParse	   *jp = &parser->jp;

	if (parser->failed)
		return false;
	if (len == 0)
		return true;
	if (len > FAUNA_MAX_BODY - jp->len)
		return parser_fail(parser, "The response is too large to parse (more than 2 GB).");
	if (jp->len + len + 1 > parser->cap)
	{
		size_t		newcap = Max(parser->cap * 2, (size_t) 64 * 1024);
		char	   *nb;

		while (newcap < jp->len + len + 1)
			newcap *= 2;
		nb = MemoryContextAllocExtended(jp->cxt, newcap,
										MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (nb == NULL)
			return parser_fail(parser, "Out of memory while receiving the response.");
		if (jp->len > 0)
			memcpy(nb, jp->buf, jp->len);
		if (jp->buf)
			pfree(jp->buf);
		jp->buf = nb;
		parser->cap = newcap;
	}
	memcpy(jp->buf + jp->len, buf, len);
	jp->len += len;
	jp->buf[jp->len] = '\0';
	return true;
}

/*
 * Parse the bytes appended since the last call, as far as they go.  Never
 * throws: a syntax error is recorded (false), for
 * fauna_parser_finish_page() to raise.
 */
bool
fauna_parser_catch_up(FaunaParser *parser)
{
	JParse	   *jp = &parser->jp;

	if (parser->failed)
		return false;
	if (jp->len == parser->parsed_len)
		return true;
	parser->parsed_len = jp->len;
	if (json_tape_parse(jp) == JR_ERROR)
	{
		char		detail[256];

		json_tape_error_detail(jp, detail, sizeof(detail));
		return parser_fail(parser, detail);
	}
	return true;
}

/* Bytes appended and parsed at once (error bodies, tests, the fuzzer). */
bool
fauna_parser_feed(FaunaParser *parser, const char *buf, size_t len)
{
	return fauna_parser_append(parser, buf, len) &&
		fauna_parser_catch_up(parser);
}

/*
 * The end of the JSON value at pos (a string, a number, a literal, or an
 * array or object with everything in it), or 0 if there is none.  Only
 * skims: the value is validated when the body is parsed.
 */
static size_t
skim_value(const char *buf, size_t len, size_t pos)
{
	int			depth = 0;

	do
	{
		if (pos >= len)
			return 0;
		switch (buf[pos])
		{
			case '"':
				for (pos++; pos < len && buf[pos] != '"'; pos++)
					if (buf[pos] == '\\')
						pos++;
				if (pos >= len)
					return 0;
				pos++;
				break;
			case '{':
			case '[':
				depth++;
				pos++;
				break;
			case '}':
			case ']':
				if (--depth < 0)
					return 0;
				pos++;
				break;
			default:
				if (depth == 0)
				{
					/* a number or a literal, up to what follows it */
					while (pos < len && !json_ws((unsigned char) buf[pos]) &&
						   strchr(",]}", buf[pos]) == NULL)
						pos++;
					return pos;
				}
				pos++;
				break;
		}
	} while (depth > 0);
	return pos;
}

/*
 * Is buf[pos..len) the rest of the response object once its "data" is
 * closed: members (, "key": value)* and the final '}', nothing after it?
 */
static bool
is_top_level_tail(const char *buf, size_t len, size_t pos)
{
	for (;;)
	{
		pos = skip_ws(buf, pos);
		if (pos < len && buf[pos] == '}')
			return skip_ws(buf, pos + 1) == len;
		if (pos >= len || buf[pos] != ',')
			return false;
		pos = skip_ws(buf, pos + 1);
		if (pos >= len || buf[pos] != '"' ||
			(pos = skim_value(buf, len, pos)) == 0)
			return false;
		pos = skip_ws(buf, pos);
		if (pos >= len || buf[pos] != ':')
			return false;
		pos = skip_ws(buf, pos + 1);
		if ((pos = skim_value(buf, len, pos)) == 0)
			return false;
	}
}

/*
 * The cursor of a complete FQL v10 page body, read from its tail without
 * parsing the body, or NULL.  It lets the request of the next page leave
 * before this one is parsed.  The guess is made only where the structure
 * leaves no doubt: an "after" string member that directly follows the end
 * of an array (the page's "data") and closes, with the one or two objects
 * around it, the response's "data" (a plain page {"data": [...], "after"}
 * or a tagged {"@set": {...}}), so that it sits at depth 2 or 3 of the
 * response, where documents never are (they are at depth 4 or more).  A
 * document's own field named after is therefore never sent as a cursor.
 * The caller still compares the guess with the parsed page's cursor before
 * using what the guessed request returns.  A cursor holding an escape is
 * not guessed.
 */
#define FAUNA_GUESS_TAIL	(64 * 1024)

char *
fauna_parser_guess_after(FaunaParser *parser)
{
	static const char key[] = "\"after\":";
	const size_t keylen = sizeof(key) - 1;
	JParse	   *jp = &parser->jp;
	const char *buf = jp->buf;
	size_t		floor_pos;
	size_t		i;

	if (parser->failed || parser->v4 || buf == NULL || jp->len < keylen + 2)
		return NULL;
	floor_pos = jp->len > FAUNA_GUESS_TAIL ? jp->len - FAUNA_GUESS_TAIL : 0;
	for (i = jp->len - keylen; i-- > floor_pos;)
	{
		size_t		start;
		size_t		end;
		size_t		before;
		size_t		closer;

		if (buf[i] != '"' || memcmp(buf + i, key, keylen) != 0)
			continue;
		if (i < jp->rewritten_to)
			return NULL;		/* may be the product of an unescape */

		/* preceded by the end of the data array: "],"after"" */
		before = i;
		while (before > floor_pos && json_ws((unsigned char) buf[before - 1]))
			before--;
		if (before == floor_pos || buf[before - 1] != ',')
			return NULL;
		before--;
		while (before > floor_pos && json_ws((unsigned char) buf[before - 1]))
			before--;
		if (before == floor_pos || buf[before - 1] != ']')
			return NULL;

		start = skip_ws(buf, i + keylen);
		if (buf[start] != '"')
			return NULL;		/* not a string: no guess */
		start++;
		for (end = start; end < jp->len && json_plain[(unsigned char) buf[end]]; end++)
			;
		if (end >= jp->len || buf[end] != '"' || end == start)
			return NULL;		/* an escape, a control byte, UTF-8, empty */

		/* then one or two '}' close the response's "data" */
		closer = skip_ws(buf, end + 1);
		if (closer >= jp->len || buf[closer] != '}')
			return NULL;
		closer = skip_ws(buf, closer + 1);
		if (!is_top_level_tail(buf, jp->len, closer) &&
			!(closer < jp->len && buf[closer] == '}' &&
			  is_top_level_tail(buf, jp->len, closer + 1)))
			return NULL;
		return pnstrdup(buf + start, end - start);
	}
	return NULL;
}

void
fauna_invalid_response(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid response from Fauna for collection \"%s\"", what),
			 errdetail_internal("%s", detail)));
}

/* ----------------------------------------------------------------
 * Tagged values
 * ----------------------------------------------------------------
 */

/* The only key of a one-key object (its value in *val), else NULL. */
JV *
fauna_single_key(JV *obj, JV **val)
{
	if (obj == NULL || obj->type != JT_OBJECT || obj->u.count != 1)
		return NULL;
	*val = obj + 2;
	return obj + 1;
}

/*
 * Classify a value.  *inner receives the payload: the tag's value for a
 * tagged value, the object itself for a plain object, the wrapped object of
 * @object.  A known tag with a payload of the wrong JSON type is invalid
 * tagged JSON; it is reported (with `what` for context) rather than
 * silently taken for a plain object.  An unknown "@" key is a plain object:
 * a future tag is exported as it is rather than lost.
 */
FaunaVType
fauna_classify(JV *v, JV **inner, const char *what)
{
	return fauna_classify_v(v, inner, what, false);
}

/* fauna_classify(), reading FQL v4 tags too when v4 (see "FQL v4" below) */
FaunaVType
fauna_classify_v(JV *v, JV **inner, const char *what, bool v4)
{
	JV		   *key;
	JV		   *payload;
	JType		want;
	FaunaVType	t;

	*inner = v;
	switch ((JType) v->type)
	{
		case JT_NULL:
			return FV_NULL;
		case JT_STRING:
			return FV_STRING;
		case JT_TRUE:
		case JT_FALSE:
			return FV_BOOL;
		case JT_NUMBER:
			return v4 ? fauna_v4_number_type(v) : FV_NUMBER;
		case JT_ARRAY:
			return FV_ARRAY;
		case JT_OBJECT:
			break;
	}

	if (v->u.count != 1)
		return FV_OBJECT;
	key = v + 1;
	payload = v + 2;
	if (key->n < 3 || key->u.s[0] != '@')
		return FV_OBJECT;

	want = JT_STRING;
	if (JV_KEY_IS(key, "@int"))
		t = FV_INT;
	else if (JV_KEY_IS(key, "@long"))
		t = FV_LONG;
	else if (JV_KEY_IS(key, "@double"))
		t = FV_DOUBLE;
	else if (JV_KEY_IS(key, "@time"))
		t = FV_TIME;
	else if (JV_KEY_IS(key, "@date"))
		t = FV_DATE;
	else if (JV_KEY_IS(key, "@bytes"))
		t = FV_BYTES;
	else if (JV_KEY_IS(key, "@mod"))
		t = FV_MOD;
	else if (JV_KEY_IS(key, "@stream"))
		t = FV_STREAM;
	else if (JV_KEY_IS(key, "@object"))
		t = FV_OBJECT, want = JT_OBJECT;
	else if (JV_KEY_IS(key, "@doc"))
		t = FV_DOC, want = JT_OBJECT;
	else if (JV_KEY_IS(key, "@ref"))
		t = FV_REF, want = JT_OBJECT;
	else if (v4 && JV_KEY_IS(key, "@ts"))
		t = FV_TIME;
	else if (v4 && JV_KEY_IS(key, "@obj"))
		t = FV_OBJECT, want = JT_OBJECT;
	else if (v4 && JV_KEY_IS(key, "@query"))
		t = FV_QUERY, want = JT_OBJECT;
	else if (JV_KEY_IS(key, "@set"))
	{
		/* a page {"data","after"} or, when not materialized, a cursor */
		*inner = payload;
		if (payload->type == JT_OBJECT || payload->type == JT_STRING)
			return FV_SET;
		t = FV_SET, want = JT_OBJECT;
	}
	else
		return FV_OBJECT;

	if (payload->type != want)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for collection \"%s\"", what),
				 want == JT_STRING
				 ? errdetail("The value of tag \"%s\" is not a string.", key->u.s)
				 : errdetail("The value of tag \"%s\" is not a JSON object.", key->u.s)));
	*inner = payload;
	return t;
}

/* ----------------------------------------------------------------
 * Building pages
 * ----------------------------------------------------------------
 */

static int64
stat_int(JV *obj, const char *key)
{
	JV		   *v = jv_get(obj, key);
	int64		r;

	if (jv_is(v, JT_NUMBER) && (v->flags & JF_INT) && fauna_parse_int64(v->u.s, &r))
		return r;
	return 0;
}

/*
 * Is this @ref a null document (a ref whose document does not exist)?
 */
static bool
ref_is_null_doc(JV *ref)
{
	return jv_is(JV_GET(ref, "exists"), JT_FALSE);
}

/*
 * Validate one element and record it.  Returns false for an element that
 * stands for no document (a null document).
 */
static bool
page_add_element(FaunaPage *page, JV *v, int index)
{
	JV		   *inner;
	FaunaVType	t = fauna_classify(v, &inner, page->what);
	FaunaElem  *e = &page->elems[page->count];
	JV		   *idobj = NULL;
	char		detail[128];

	switch (t)
	{
		case FV_DOC:
			e->is_doc = true;
			if ((idobj = JV_GET(inner, "id")) == NULL)
				idobj = JV_GET(inner, "name");
			if (!jv_is(idobj, JT_STRING))
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is a document without an \"id\".",
						 index);
				fauna_invalid_response(page->what, detail);
			}
			break;
		case FV_OBJECT:
			/* a projected object: "id" only if projected */
			e->is_doc = false;
			idobj = JV_GET(inner, "id");
			if (idobj && idobj->type != JT_STRING)
			{
				snprintf(detail, sizeof(detail),
						 "The \"id\" of element %d of the page is not a string.",
						 index);
				fauna_invalid_response(page->what, detail);
			}

			/*
			 * A scan always projects "id" first (fql.c): an element
			 * without one is not an answer to its query, and would give
			 * rows whose ref is NULL.
			 */
			if (idobj == NULL && page->expect != FAUNA_EXPECT_ANY)
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is an object without an \"id\".",
						 index);
				fauna_invalid_response(page->what, detail);
			}
			break;
		case FV_REF:
			/* byId of a missing document; a scan's set never holds one */
			if (ref_is_null_doc(inner) && page->expect != FAUNA_EXPECT_PAGE)
				return false;
			if (ref_is_null_doc(inner))
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is a document that does not exist.",
						 index);
				fauna_invalid_response(page->what, detail);
			}
			snprintf(detail, sizeof(detail),
					 "Element %d of the page is a reference, not a document.",
					 index);
			fauna_invalid_response(page->what, detail);
			break;
		default:
			snprintf(detail, sizeof(detail),
					 "Element %d of the page is a %s, not a document or object.",
					 index, fauna_type_names[t]);
			fauna_invalid_response(page->what, detail);
	}
	if (idobj && (idobj->flags & JF_NUL))
	{
		snprintf(detail, sizeof(detail),
				 "The id of element %d of the page is not valid UTF-8.", index);
		fauna_invalid_response(page->what, detail);
	}
	e->fields = inner;
	e->idobj = idobj;
	e->id = idobj ? idobj->u.s : NULL;
	page->count++;
	return true;
}

/* A set page {"data":[...],"after"?}: the page's elements and cursor. */
static void
page_from_set(FaunaPage *page, JV *set)
{
	JV		   *data = JV_GET(set, "data");
	JV		   *after;
	JV		   *el;
	uint32		i;

	if (!jv_is(data, JT_ARRAY))
		fauna_invalid_response(page->what,
						 "The set in \"data\" has no \"data\" array.");
	if ((after = JV_GET(set, "after")) != NULL)
	{
		if (after->type != JT_STRING)
			fauna_invalid_response(page->what,
							 "The \"after\" cursor of the page is not a string.");
		page->after = after->u.s;
	}

	page->elems = MemoryContextAllocZero(page->cxt,
										 sizeof(FaunaElem) * Max(data->u.count, 1));
	JV_FOREACH_ELEM(data, el, i)
		page_add_element(page, el, (int) i);
}

/* Is this untagged object a plain page {"data": [...], "after"?}? */
static bool
is_plain_page(JV *obj)
{
	if (!jv_is(JV_GET(obj, "data"), JT_ARRAY))
		return false;
	if (obj->u.count == 1)
		return true;
	return obj->u.count == 2 && JV_GET(obj, "after") != NULL;
}

/* Unix-epoch microseconds as a Fauna time string, false if out of range. */
bool
fauna_format_unix_micros(int64 us, char *buf, size_t size)
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

/* A string token for a string of the page's memory. */
void
fauna_synth_string(JTok *t, const char *s, size_t len)
{
	t->type = JT_STRING;
	t->flags = 0;
	t->n = (uint32) len;
	t->u.s = s;
}

/* An object token of count members whose subtree has ntok tokens. */
void
fauna_synth_object(JTok *t, uint32 count, uint32 ntok)
{
	t->type = JT_OBJECT;
	t->flags = 0;
	t->n = ntok;
	t->u.count = count;
}

/* {"@time": iso} in the page's memory. */
JV *
fauna_synth_time(FaunaPage *page, const char *iso)
{
	JTok	   *t = MemoryContextAlloc(page->cxt, sizeof(JTok) * 3);
	char	   *s = MemoryContextStrdup(page->cxt, iso);

	fauna_synth_object(&t[0], 1, 3);
	fauna_synth_string(&t[1], "@time", 5);
	fauna_synth_string(&t[2], s, strlen(s));
	return t;
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
void
fauna_page_build_events(FaunaPage *page)
{
	JV		   *root = page->root;
	JV		   *events = JV_GET(root, "events");
	JV		   *stats;
	JV		   *v;
	JV		   *ev;
	char		detail[160];
	uint32		i;

	if (!jv_is(events, JT_ARRAY))
		fauna_invalid_response(page->what, "The \"events\" of the feed page is not an array.");
	if ((stats = JV_GET(root, "stats")) != NULL)
	{
		page->stats.read_ops = stat_int(stats, "read_ops");
		page->stats.compute_ops = stat_int(stats, "compute_ops");
		page->stats.write_ops = stat_int(stats, "write_ops");
		page->stats.bytes_read = stat_int(stats, "storage_bytes_read");
	}
	v = JV_GET(root, "has_next");
	if (!jv_is(v, JT_TRUE) && !jv_is(v, JT_FALSE))
		fauna_invalid_response(page->what, "The feed page has no boolean \"has_next\".");
	if (v->type == JT_TRUE)
	{
		JV		   *cursor = JV_GET(root, "cursor");

		if (!jv_is(cursor, JT_STRING))
			fauna_invalid_response(page->what,
							 "The feed page has a next page but no \"cursor\" string.");
		page->after = cursor->u.s;
	}

	page->elems = MemoryContextAllocZero(page->cxt,
										 sizeof(FaunaElem) * Max(events->u.count, 1));
	JV_FOREACH_ELEM(events, ev, i)
	{
		JV		   *type = JV_GET(ev, "type");
		JV		   *data;
		JV		   *ts;
		FaunaElem  *e;
		int64		us;
		char		iso[64];

		if (!jv_is(type, JT_STRING))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no \"type\" string.", (int) i);
			fauna_invalid_response(page->what, detail);
		}
		if (JV_KEY_IS(type, "error"))
		{
			JV		   *err = JV_GET(ev, "error");
			JV		   *c = JV_GET(err, "code");
			JV		   *m = JV_GET(err, "message");

			page->error_code = "unknown";
			page->error_message = "";
			if (jv_is(c, JT_STRING))
				page->error_code = c->u.s;
			if (jv_is(m, JT_STRING))
				page->error_message = m->u.s;
			page->after = NULL;
			break;				/* an error event ends the page */
		}
		if (!JV_KEY_IS(type, "add") && !JV_KEY_IS(type, "update") &&
			!JV_KEY_IS(type, "remove"))
			continue;			/* e.g. "status": no document */
		ts = JV_GET(ev, "txn_ts");
		if (!jv_is(ts, JT_NUMBER) || !(ts->flags & JF_INT))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no integer \"txn_ts\".", (int) i);
			fauna_invalid_response(page->what, detail);
		}
		if ((data = JV_GET(ev, "data")) == NULL)
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no \"data\".", (int) i);
			fauna_invalid_response(page->what, detail);
		}
		e = &page->elems[page->count];
		if (!page_add_element(page, data, (int) i))
			continue;
		if (!fauna_parse_int64(ts->u.s, &us) ||
			!fauna_format_unix_micros(us, iso, sizeof(iso)))
		{
			snprintf(detail, sizeof(detail),
					 "The \"txn_ts\" of event %d is out of range.", (int) i);
			fauna_invalid_response(page->what, detail);
		}
		e->action = type;
		e->event_ts = fauna_synth_time(page, iso);
		e->txn_ts = us;
	}
}

static void
page_build(FaunaPage *page)
{
	JV		   *root = page->root;
	JV		   *data;
	JV		   *inner;
	JV		   *stats;
	FaunaVType	t;

	if (root->type != JT_OBJECT)
		fauna_invalid_response(page->what, "The response is not a JSON object.");
	data = JV_GET(root, "data");
	if (data == NULL && JV_GET(root, "events") != NULL &&
		page->expect == FAUNA_EXPECT_ANY)
	{
		fauna_page_build_events(page);
		return;
	}
	if (data == NULL)
		fauna_invalid_response(page->what, "The response has no \"data\".");

	if ((stats = JV_GET(root, "stats")) != NULL)
	{
		page->stats.read_ops = stat_int(stats, "read_ops");
		page->stats.compute_ops = stat_int(stats, "compute_ops");
		page->stats.write_ops = stat_int(stats, "write_ops");
		page->stats.bytes_read = stat_int(stats, "storage_bytes_read");
	}
	page->stats.txn_ts = stat_int(root, "txn_ts");

	t = fauna_classify(data, &inner, page->what);

	/*
	 * The shapes a scan's query cannot answer.  A set read as one object,
	 * or null read as an empty collection, would be a wrong result that
	 * looks complete.
	 */
	if (page->expect == FAUNA_EXPECT_PAGE &&
		!(t == FV_SET ||
		  (t == FV_OBJECT && inner == data && is_plain_page(data))))
	{
		char		detail[160];

		if (t == FV_OBJECT)
			snprintf(detail, sizeof(detail),
					 "\"data\" is an object that is not a page {\"data\": [...], \"after\"?}, where a page of documents was expected.");
		else if (t == FV_NULL)
			snprintf(detail, sizeof(detail),
					 "\"data\" is null, where a page of documents was expected.");
		else
			snprintf(detail, sizeof(detail),
					 "\"data\" is a Fauna %s, where a page of documents was expected.",
					 fauna_type_names[t]);
		fauna_invalid_response(page->what, detail);
	}
	if (page->expect == FAUNA_EXPECT_DOCUMENT &&
		(t == FV_SET || t == FV_STREAM ||
		 (t == FV_OBJECT && inner == data && is_plain_page(data))))
	{
		char		detail[160];

		snprintf(detail, sizeof(detail),
				 "\"data\" is %s, where a single document or null was expected.",
				 t == FV_OBJECT ? "a page" : t == FV_STREAM ? "an event source" : "a set");
		fauna_invalid_response(page->what, detail);
	}

	switch (t)
	{
		case FV_NULL:
			break;
		case FV_STREAM:
			/* an event source token: no element */
			page->stream = inner->u.s;
			break;
		case FV_SET:
			if (inner->type != JT_OBJECT)
				fauna_invalid_response(page->what,
								 "\"data\" is an unmaterialized set, not a page.");
			page_from_set(page, inner);
			return;
		case FV_OBJECT:
			if (inner == data && is_plain_page(data))
			{
				page_from_set(page, data);
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
				fauna_invalid_response(page->what, detail);
			}
	}
}

/*
 * FQL v4: what fauna_page_build_v4 accepted ({"resource": page | document |
 * null}) against the caller's expectation.  A v4 page is an object with a
 * "data" array and no "ref"; each element of a scan's page must have
 * become a document (fauna_page_build_v4 skips null elements).
 */
static void
page_check_v4(FaunaPage *page)
{
	JV		   *res = JV_GET(page->root, "resource");
	JV		   *data = NULL;
	bool		is_page;

	if (page->expect == FAUNA_EXPECT_ANY || res == NULL)
		return;
	is_page = res->type == JT_OBJECT &&
		jv_is(data = JV_GET(res, "data"), JT_ARRAY) &&
		JV_GET(res, "ref") == NULL;
	if (page->expect == FAUNA_EXPECT_PAGE)
	{
		if (!is_page)
			fauna_invalid_response(page->what,
							 res->type == JT_NULL
							 ? "The \"resource\" is null, where a page of documents was expected."
							 : "The \"resource\" is a document, where a page of documents was expected.");
		if ((uint32) page->count != data->u.count)
			fauna_invalid_response(page->what,
							 "An element of the page is null, not a document.");
	}
	else if (is_page)
		fauna_invalid_response(page->what,
						 "The \"resource\" is a page, where a single document or null was expected.");
}

/* What the query of the response being parsed can answer. */
void
fauna_parser_expect(FaunaParser *parser, FaunaExpect expect)
{
	parser->expect = expect;
}

FaunaPage *
fauna_parser_finish_page(FaunaParser *parser, const char *what)
{
	JParse	   *jp = &parser->jp;
	FaunaPage  *page;

	if (what == NULL)
		what = "query";
	if (parser->failed)
		fauna_invalid_response(what, parser->errdetail);
	if (jp->len == 0)
		fauna_invalid_response(what, "The response body is empty.");

	/* the rest of the last chunk, knowing that nothing follows */
	jp->final = true;
	if (json_tape_parse(jp) != JR_OK)
	{
		char		detail[256];

		json_tape_error_detail(jp, detail, sizeof(detail));
		fauna_invalid_response(what, detail);
	}
	json_tape_resolve(jp);

	page = MemoryContextAllocZero(jp->cxt, sizeof(FaunaPage));
	page->cxt = jp->cxt;
	page->what = MemoryContextStrdup(jp->cxt, what);
	page->body = jp->buf;
	page->len = jp->len;
	page->root = jp->toks;
	/* the page's now */
	jp->buf = NULL;
	jp->toks = NULL;
	jp->len = parser->cap = 0;
	jp->ntok = jp->cap = 0;
	page->expect = parser->expect;

	if (parser->v4)
	{
		fauna_page_build_v4(page);
		page_check_v4(page);
	}
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

/* Element i of a page; an index out of range is a bug of the caller. */
FaunaElem *
fauna_page_elem(FaunaPage *page, int i)
{
	if (i < 0 || i >= page->count)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("fauna_fdw: element %d out of range of a page of %d",
								 i, page->count)));
	return &page->elems[i];
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

/*
 * Counters sent as headers (FQL v4 has no "stats" in its body); < 0: not
 * sent.  The body's own counters, when it has any, win.
 */
void
fauna_page_set_header_stats(FaunaPage *page, const FaunaStats *stats)
{
	if (stats->read_ops >= 0 && page->stats.read_ops == 0)
		page->stats.read_ops = stats->read_ops;
	if (stats->compute_ops >= 0 && page->stats.compute_ops == 0)
		page->stats.compute_ops = stats->compute_ops;
	if (stats->write_ops >= 0 && page->stats.write_ops == 0)
		page->stats.write_ops = stats->write_ops;
	if (stats->bytes_read >= 0 && page->stats.bytes_read == 0)
		page->stats.bytes_read = stats->bytes_read;
	if (stats->txn_ts > 0 && page->stats.txn_ts == 0)
		page->stats.txn_ts = stats->txn_ts;
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
 * Error bodies
 * ----------------------------------------------------------------
 */

/*
 * Parse a small body (an error answer) into a tape in CurrentMemoryContext;
 * NULL when it is not JSON.  Whatever follows the first value is ignored.
 */
JV *
fauna_parse_small_body(const char *body, size_t len)
{
	JParse	   *jp;

	if (body == NULL || len == 0 || len > FAUNA_MAX_BODY)
		return NULL;
	jp = palloc0(sizeof(JParse));
	jp->buf = palloc(len + 1);
	memcpy(jp->buf, body, len);
	jp->buf[len] = '\0';
	jp->len = len;
	jp->cxt = CurrentMemoryContext;
	jp->allow_trailing = true;
	if (!json_tape_parse_all(jp))
		return NULL;
	return jp->toks;
}

bool
fauna_parse_error_body(const char *body, size_t len, char **code,
					   char **message)
{
	JV		   *root;
	JV		   *err;
	JV		   *c;
	JV		   *m;

	*code = NULL;
	*message = NULL;
	root = fauna_parse_small_body(body, len);
	if (root == NULL)
		return false;
	err = JV_GET(root, "error");
	c = JV_GET(err, "code");
	if (!jv_is(c, JT_STRING))
		return false;
	m = JV_GET(err, "message");
	*code = pstrdup(c->u.s);
	*message = pstrdup(jv_is(m, JT_STRING) ? m->u.s : "");
	return true;
}

