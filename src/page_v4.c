/*-------------------------------------------------------------------------
 *
 * page_v4.c
 *		  FQL v4 responses into the pages of FQL v10.
 *
 * A v4 response is read into the same FaunaPage as a v10 one: each v4
 * document gets the shape of a v10 document, so that the rest of the page
 * code and the conversions need no v4 cases.
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

/* ----------------------------------------------------------------
 * FQL v4 (POST /): pages, documents, refs, errors
 *
 * A v4 response {"resource": value} becomes the same FaunaPage as a
 * /query/1 response, with page->v4 set so that the converters read the v4
 * tags (@ts, @obj, @query; nested @ref) and plain JSON numbers.  Each v4
 * document {"ref", "ts": µs, "data", "ttl"?} is given, at page build time,
 * the shape the rest of this file knows: an object
 * {"id", "coll": {"@mod"}, "ts": {"@time"}, "ttl"?, "data"} (a small tape
 * of its own in the page's memory, "ttl" and "data" copied into it), so
 * column lookup, ids and conversions need no v4 cases.  The page's "after"
 * is the cursor array's JSON text, sent back verbatim.
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
bool
fauna_v4_number_int64(JV *v, int64 *out)
{
	return jv_is(v, JT_NUMBER) && (v->flags & JF_INT) &&
		fauna_parse_int64(v->u.s, out);
}

/*
 * The Fauna type of a v4 number.  v4 numbers are untagged, but the core
 * writes a long as its fauna_digits and a double with Java's Double.toString,
 * which always has a "." or an exponent ("12.0", "1.0E10"): so an integer
 * literal is a long and anything else a double.  A long that fits 32 bits
 * is an int, as the v10 path receives it ({"@int"}), so that conversions
 * and their errors are the same on both paths.  An integer beyond int64
 * (Fauna never sends one) stays an untyped number.
 */
FaunaVType
fauna_v4_number_type(JV *v)
{
	int64		i;

	if (!(v->flags & JF_INT))
		return FV_DOUBLE;
	if (!fauna_parse_int64(v->u.s, &i))
		return FV_NUMBER;
	return (i >= PG_INT32_MIN && i <= PG_INT32_MAX) ? FV_INT : FV_LONG;
}

/*
 * Does a v4 string stand for a double that JSON cannot write?  The core's
 * JSON writer quotes NaN and the infinities ("NaN", "Infinity",
 * "-Infinity"), so over v4 they arrive as strings.
 */
bool
fauna_v4_special_double(JV *v)
{
	return jv_is(v, JT_STRING) &&
		(JV_KEY_IS(v, "NaN") || JV_KEY_IS(v, "Infinity") ||
		 JV_KEY_IS(v, "-Infinity"));
}

/*
 * A v4 ts (µs) as the time string the v10 path receives for the same
 * instant: Java's Instant.toString, whose fraction is omitted when zero
 * and otherwise has 3 or 6 fauna_digits ("2024-01-01T00:00:00.021Z"), so that
 * ts read as text is the same either way.  fauna_format_unix_micros() always
 * writes 6 fauna_digits (the form of a feed event's txn_ts); trimmed here.
 */
static bool
v4_format_time(int64 us, char *buf, size_t size)
{
	char	   *frac;

	if (!fauna_format_unix_micros(us, buf, size))
		return false;
	frac = strchr(buf, '.');
	Assert(frac != NULL && strlen(frac) == 8);	/* ".uuuuuuZ" */
	if (strncmp(frac + 1, "000000", 6) == 0)
		strcpy(frac, "Z");
	else if (strncmp(frac + 4, "000", 3) == 0)
		strcpy(frac + 4, "Z");
	return true;
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
static JV *
v4_ref_payload(JV *v)
{
	JV		   *payload;
	JV		   *key = fauna_single_key(v, &payload);

	if (key == NULL || !JV_KEY_IS(key, "@ref") || payload->type != JT_OBJECT)
		return NULL;
	return payload;
}

/* The "id" string of a ref payload, else NULL. */
static JV *
v4_ref_id(JV *payload)
{
	JV		   *id = JV_GET(payload, "id");

	return jv_is(id, JT_STRING) ? id : NULL;
}

/*
 * Export a v4 ref (the object inside "@ref"): a document of a user
 * collection {"id","collection","type":"document"}, a ref into a native
 * class {"id","type":<class type>}, anything else (a class itself, a ref
 * nested deeper, a scoped ref of another database) type "unknown".
 */
void
fauna_ref_export_v4(FaunaConv *cv, JV *obj, RefExport *r)
{
	JV		   *cls;
	JV		   *clscls;
	JV		   *name;

	r->id = v4_ref_id(obj);
	if (r->id == NULL)
		fauna_invalid_value(cv, FV_REF, "(without id)");
	r->coll = NULL;
	r->type = "unknown";
	if (JV_GET(obj, "database") != NULL)
		return;
	cls = v4_ref_payload(JV_GET(obj, "collection"));
	if ((name = v4_ref_id(cls)) == NULL || JV_GET(cls, "database") != NULL)
		return;
	if ((clscls = JV_GET(cls, "collection")) == NULL)
	{
		/* Ref(id, Ref("keys")): an instance of a native class */
		for (int i = 0; i < (int) lengthof(v4_classes); i++)
			if (strcmp(name->u.s, v4_classes[i].cls) == 0)
			{
				r->type = v4_classes[i].type;
				return;
			}
		return;
	}
	clscls = v4_ref_payload(clscls);
	if (clscls != NULL &&
		JV_GET(clscls, "collection") == NULL &&
		JV_GET(clscls, "database") == NULL &&
		(name = v4_ref_id(clscls)) != NULL &&
		JV_KEY_IS(name, "collections"))
	{
		/* Ref(id, Ref(coll, Ref("collections"))): a document */
		r->coll = v4_ref_id(cls);
		r->type = "document";
	}
}

/* Tokens of the subtree of v. */
static inline uint32
subtree_len(JV *v)
{
	return (uint32) (jv_next(v) - v);
}

/*
 * Record one v4 document as an element, in the normalized shape described
 * above.  A null element (Get of a missing document) gives no element.
 */
static void
v4_add_element(FaunaPage *page, JV *v, int index)
{
	JV		   *ref;
	JV		   *payload;
	JV		   *ts;
	JV		   *ttl;
	JV		   *data;
	JV		   *id;
	JV		   *coll = NULL;
	JV		   *action;
	int64		us;
	char		iso[64];
	char		detail[160];
	FaunaElem  *e;
	JTok	   *obj;
	uint32		n;
	uint32		k;
	uint32		count;

	if (v->type == JT_NULL)
		return;
	if (v->type != JT_OBJECT ||
		(ref = JV_GET(v, "ref")) == NULL ||
		(payload = v4_ref_payload(ref)) == NULL ||
		(id = v4_ref_id(payload)) == NULL)
	{
		snprintf(detail, sizeof(detail),
				 "Element %d of the page is not a document with a \"ref\".", index);
		fauna_invalid_response(page->what, detail);
	}
	if (id->flags & JF_NUL)
	{
		snprintf(detail, sizeof(detail),
				 "The id of element %d of the page is not valid UTF-8.", index);
		fauna_invalid_response(page->what, detail);
	}
	ts = JV_GET(v, "ts");
	if (!fauna_v4_number_int64(ts, &us) || !v4_format_time(us, iso, sizeof(iso)))
	{
		snprintf(detail, sizeof(detail),
				 "Element %d of the page has no \"ts\" in microseconds.", index);
		fauna_invalid_response(page->what, detail);
	}
	coll = v4_ref_id(v4_ref_payload(JV_GET(payload, "collection")));
	ttl = JV_GET(v, "ttl");
	data = JV_GET(v, "data");

	/* {"id", "coll"?: {"@mod"}, "ts": {"@time"}, "ttl"?, "data"} */
	n = 1 + 2 + (coll ? 4 : 0) + 4 + (ttl ? 1 + subtree_len(ttl) : 0) +
		1 + (data ? subtree_len(data) : 1);
	obj = MemoryContextAlloc(page->cxt, sizeof(JTok) * n);
	k = 1;
	count = 0;
	fauna_synth_string(&obj[k++], "id", 2);
	obj[k++] = *id;
	count++;
	if (coll)
	{
		fauna_synth_string(&obj[k++], "coll", 4);
		fauna_synth_object(&obj[k++], 1, 3);
		fauna_synth_string(&obj[k++], "@mod", 4);
		obj[k++] = *coll;
		count++;
	}
	fauna_synth_string(&obj[k++], "ts", 2);
	fauna_synth_object(&obj[k++], 1, 3);
	fauna_synth_string(&obj[k++], "@time", 5);
	{
		char	   *s = MemoryContextStrdup(page->cxt, iso);

		fauna_synth_string(&obj[k++], s, strlen(s));
	}
	count++;
	if (ttl)
	{
		fauna_synth_string(&obj[k++], "ttl", 3);
		memcpy(&obj[k], ttl, sizeof(JTok) * subtree_len(ttl));
		k += subtree_len(ttl);
		count++;
	}
	fauna_synth_string(&obj[k++], "data", 4);
	if (data)
	{
		memcpy(&obj[k], data, sizeof(JTok) * subtree_len(data));
		k += subtree_len(data);
	}
	else
		fauna_synth_object(&obj[k++], 0, 1);
	count++;
	Assert(k == n);
	fauna_synth_object(&obj[0], count, n);

	e = &page->elems[page->count];
	e->fields = obj;
	e->idobj = &obj[2];
	e->id = e->idobj->u.s;
	e->is_doc = false;			/* user fields are under "data" */

	/*
	 * An event of an event table (fql_v4.c maps each one to a document
	 * plus its "action"): ts is the event's time.
	 */
	action = JV_GET(v, "action");
	if (action != NULL)
	{
		if (!jv_is(action, JT_STRING) ||
			(!JV_KEY_IS(action, "add") && !JV_KEY_IS(action, "update") &&
			 !JV_KEY_IS(action, "remove")))
		{
			snprintf(detail, sizeof(detail),
					 "The \"action\" of event %d is not add, update or remove.", index);
			fauna_invalid_response(page->what, detail);
		}
		/* as a v10 feed event's txn_ts (fauna_page_build_events) */
		(void) fauna_format_unix_micros(us, iso, sizeof(iso));
		e->action = action;
		e->event_ts = fauna_synth_time(page, iso);
		e->txn_ts = us;
	}
	page->v4raw[page->count] = v;
	page->count++;
}

/*
 * Build a page from {"resource": X}: X a page {"data": [...], "after"?,
 * "before"?}, a single document, or null (no document).
 */
void
fauna_page_build_v4(FaunaPage *page)
{
	JV		   *root = page->root;
	JV		   *res = JV_GET(root, "resource");
	JV		   *data = NULL;
	JV		   *after;
	uint32		n = 0;

	page->v4 = true;
	if (res == NULL)
		fauna_invalid_response(page->what, "The response has no \"resource\".");

	if (res->type == JT_NULL)
		n = 0;
	else if (res->type == JT_OBJECT &&
			 jv_is(data = JV_GET(res, "data"), JT_ARRAY) &&
			 JV_GET(res, "ref") == NULL)
	{
		if ((after = JV_GET(res, "after")) != NULL)
		{
			MemoryContext old;

			/* an array; an object for events: true ({ts, action, document}) */
			if (after->type != JT_ARRAY && after->type != JT_OBJECT)
				fauna_invalid_response(page->what,
								 "The \"after\" cursor of the page is not an array or an object.");
			old = MemoryContextSwitchTo(page->cxt);
			page->after = json_wire_text(after, NULL);
			MemoryContextSwitchTo(old);
		}
		n = data->u.count;
	}
	else if (res->type == JT_OBJECT)
	{
		data = NULL;
		n = 1;
	}
	else
		fauna_invalid_response(page->what,
						 "The \"resource\" is not a page, a document or null.");

	page->elems = MemoryContextAllocZero(page->cxt, sizeof(FaunaElem) * Max(n, 1));
	page->v4raw = MemoryContextAllocZero(page->cxt, sizeof(JV *) * Max(n, 1));
	if (n == 1 && data == NULL)
		v4_add_element(page, res, 0);
	else if (data != NULL)
	{
		JV		   *el;
		uint32		i;

		JV_FOREACH_ELEM(data, el, i)
			v4_add_element(page, el, (int) i);
	}
}

/* Is this v4 index "values" entry {"field": ["name"]} (or "name")? */
static bool
v4_is_field(JV *value, const char *name)
{
	JV		   *field = JV_GET(value, "field");
	JV		   *reverse;

	if (field == NULL)
		return false;
	if ((reverse = JV_GET(value, "reverse")) != NULL &&
		reverse->type != JT_FALSE)
		return false;
	if (field->type == JT_ARRAY)
	{
		if (field->u.count != 1)
			return false;
		field = field + 1;
	}
	return field->type == JT_STRING && strcmp(field->u.s, name) == 0;
}

/*
 * Element i of a page of v4 index definitions (Get(Index(...)) of each
 * index): its name, the collection it indexes, and the shape that
 * indexes.c judges (terms, values, "active").  *collection is NULL when
 * the source is not a single collection (several sources, or one with
 * bindings): such an index could return documents of other collections,
 * and is never used.  Returns false when the element is not an index
 * definition.  Strings are palloc'd; shape->name is *name.
 */
bool
fauna_v4_page_index(FaunaPage *page, int i, char **name, char **collection,
					FaunaIndexShape *shape)
{
	JV		   *ix;
	JV		   *x;
	JV		   *src;

	if (i < 0 || i >= page->count || page->v4raw == NULL)
		return false;
	ix = page->v4raw[i];
	x = JV_GET(ix, "name");
	if (!jv_is(x, JT_STRING) || (x->flags & JF_NUL))
		return false;
	*name = pstrdup(x->u.s);
	src = v4_ref_id(v4_ref_payload(JV_GET(ix, "source")));
	*collection = src && !(src->flags & JF_NUL) ? pstrdup(src->u.s) : NULL;

	memset(shape, 0, sizeof(FaunaIndexShape));
	shape->name = *name;
	shape->v4 = true;
	shape->ready = jv_is(JV_GET(ix, "active"), JT_TRUE);
	x = JV_GET(ix, "terms");
	shape->has_terms = x != NULL && x->type != JT_NULL &&
		!(x->type == JT_ARRAY && x->u.count == 0);
	x = JV_GET(ix, "values");
	if (jv_is(x, JT_ARRAY) && x->u.count >= 1)
	{
		/* v4_is_field() is true only for an ascending field */
		shape->ts_first = shape->ts_ascending = v4_is_field(jv_elem(x, 0), "ts");
		shape->ref_second_only = x->u.count == 2 &&
			v4_is_field(jv_elem(x, 1), "ref");
	}
	return true;
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
	JV		   *root;
	JV		   *errors;
	JV		   *err;
	JV		   *c;
	JV		   *d;
	JV		   *p;

	*code = *description = *position = NULL;
	root = fauna_parse_small_body(body, len);
	if (root == NULL)
		return false;
	errors = JV_GET(root, "errors");
	if (!jv_is(errors, JT_ARRAY) || errors->u.count == 0)
		return false;
	err = errors + 1;
	c = JV_GET(err, "code");
	if (!jv_is(c, JT_STRING))
		return false;
	d = JV_GET(err, "description");
	p = JV_GET(err, "position");
	*code = pstrdup(c->u.s);
	*description = pstrdup(jv_is(d, JT_STRING) ? d->u.s : "");
	*position = p ? json_wire_text(p, NULL) : pstrdup("");
	return true;
}

