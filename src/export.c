/*-------------------------------------------------------------------------
 *
 * export.c
 *		  Fauna values in their export formats: refs, jsonb, JSON text.
 *
 * A value that has no column type of its own (an object, a document, a
 * ref, an array of mixed values) is exported as jsonb or as JSON text, in
 * the shapes docs/options.md describes; the fields of a document and their
 * Fauna types are walked for the type inference of infer.c.
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
 * Refs: fauna-protocol.md section 4
 * ----------------------------------------------------------------
 */


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

/* The string of {"@mod": string}, else NULL. */
JV *
fauna_mod_name(JV *coll)
{
	JV		   *mod;
	JV		   *key = fauna_single_key(coll, &mod);

	if (key != NULL && JV_KEY_IS(key, "@mod") && mod->type == JT_STRING)
		return mod;
	return NULL;
}

/*
 * From the object of a @ref or @doc ({"id"|"name", "coll":{"@mod"}}).
 */
void
fauna_ref_export(FaunaConv *cv, FaunaVType t, JV *obj, RefExport *r)
{
	JV		   *id;
	JV		   *mod;

	if (t == FV_REF && cv->page->v4)
	{
		fauna_ref_export_v4(cv, obj, r);
		return;
	}
	if ((id = JV_GET(obj, "id")) == NULL)
		id = JV_GET(obj, "name");
	if (!jv_is(id, JT_STRING))
		fauna_invalid_value(cv, t, "(without id)");
	r->id = id;
	r->coll = NULL;
	r->type = "unknown";

	if ((mod = fauna_mod_name(JV_GET(obj, "coll"))) != NULL)
	{
		for (int i = 0; i < (int) lengthof(schema_colls); i++)
			if (strcmp(mod->u.s, schema_colls[i].mod) == 0)
			{
				r->type = schema_colls[i].type;
				return;
			}
		r->coll = mod;
		r->type = "document";
	}
}

/*
 * Names FQL v10 keeps for its own modules and schema collections: Fauna
 * refuses to create a collection of one of these names.
 */
static const char *const v10_reserved_collections[] = {
	"AccessProvider", "Any", "Array", "Boolean", "Bytes", "Collection",
	"Credential", "Database", "Date", "Double", "Function", "Int", "Key",
	"Long", "Math", "Never", "Null", "Number", "Object", "Query", "Role",
	"Set", "String", "Time", "Token", "events", NULL
};

bool
fauna_is_reserved_collection_name(const char *name)
{
	for (int i = 0; v10_reserved_collections[i]; i++)
		if (strcmp(name, v10_reserved_collections[i]) == 0)
			return true;
	return false;
}

/*
 * A module value ({"@mod": name}) as the other references are exported:
 * a collection is {"id": name, "type": "collection"}, as FQL v4 sends the
 * same value (Ref(name, Ref("collections"))); a built-in module (Math,
 * Time, Key ...) is type "module".
 */
static void
mod_export(JV *name, RefExport *r)
{
	r->id = name;
	r->coll = NULL;
	r->type = fauna_is_reserved_collection_name(name->u.s)
		? "module" : "collection";
}

static void
set_string(FaunaConv *cv, JsonbValue *out, FaunaVType t, const char *s,
		   int len, bool has_nul)
{
	s = fauna_server_string(cv, t, s, &len, has_nul);
	out->type = jbvString;
	out->val.string.val = (char *) s;
	out->val.string.len = len;
}

/* A string token, as a key or a value */
static inline void
set_tok_string(FaunaConv *cv, JsonbValue *out, FaunaVType t, JV *v)
{
	set_string(cv, out, t, v->u.s, (int) v->n, (v->flags & JF_NUL) != 0);
}

#define SET_KEY_LIT(cv, out, lit) \
	set_string((cv), (out), FV_STRING, (lit), sizeof(lit) - 1, false)

/*
 * {"id", "collection"?, "type"}, its pairs already in jsonb's key order
 * (shorter keys first): id, type, collection.
 */
void
fauna_build_ref(FaunaConv *cv, RefExport *r, JsonbValue *out)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * 3);
	int			n = 0;

	SET_KEY_LIT(cv, &pairs[n].key, "id");
	set_tok_string(cv, &pairs[n].value, FV_STRING, r->id);
	pairs[n].order = n;
	n++;
	SET_KEY_LIT(cv, &pairs[n].key, "type");
	set_string(cv, &pairs[n].value, FV_STRING, r->type, strlen(r->type), false);
	pairs[n].order = n;
	n++;
	if (r->coll)
	{
		SET_KEY_LIT(cv, &pairs[n].key, "collection");
		set_tok_string(cv, &pairs[n].value, FV_STRING, r->coll);
		pairs[n].order = n;
		n++;
	}
	out->type = jbvObject;
	out->val.object.nPairs = n;
	out->val.object.pairs = pairs;
}

/* ----------------------------------------------------------------
 * jsonb: built straight from the tape
 *
 * A value becomes a tree of JsonbValues -- objects with their pairs in
 * jsonb's key order, arrays -- sized from the tape's counts, and the tree
 * one jsonb Datum by a single JsonbValueToJsonb().  pushJsonbValue(), used
 * before, sorted every object with qsort_arg() through a comparator
 * callback, a quarter of a scan's CPU (bench/RESULTS.md); objects here are
 * mostly small and sorted by insertion.
 * ----------------------------------------------------------------
 */

/* Keys of a @doc that are not user fields. */
static inline bool
is_reserved_key(JV *key)
{
	switch (key->n)
	{
		case 2:
			return memcmp(key->u.s, "id", 2) == 0 || memcmp(key->u.s, "ts", 2) == 0;
		case 3:
			return memcmp(key->u.s, "ttl", 3) == 0;
		case 4:
			return memcmp(key->u.s, "coll", 4) == 0;
		default:
			return false;
	}
}

/* jsonb's order of object keys: shorter first, then bytewise. */
static inline int
jsonb_key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len ? -1 : 1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/* For large objects: key order, then input order (a stable sort). */
static int
jsonb_pair_cmp(const void *a, const void *b)
{
	const JsonbPair *pa = (const JsonbPair *) a;
	const JsonbPair *pb = (const JsonbPair *) b;
	int			c = jsonb_key_cmp(&pa->key, &pb->key);

	if (c != 0)
		return c;
	return pa->order < pb->order ? -1 : 1;
}

/*
 * Put pairs (numbered in input order) into jsonb's key order and drop
 * duplicate keys, keeping the last one as pushJsonbValue() does.  Returns
 * how many are left.
 */
static int
sort_pairs(JsonbPair *pairs, int n)
{
	int			w;

	if (n > 16)
		qsort(pairs, n, sizeof(JsonbPair), jsonb_pair_cmp);
	else
		for (int i = 1; i < n; i++)
		{
			JsonbPair	tmp = pairs[i];
			int			j = i - 1;

			while (j >= 0 && jsonb_key_cmp(&pairs[j].key, &tmp.key) > 0)
			{
				pairs[j + 1] = pairs[j];
				j--;
			}
			pairs[j + 1] = tmp;
		}

	/* equal keys are adjacent, in input order: keep each run's last */
	w = 0;
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n && jsonb_key_cmp(&pairs[i].key, &pairs[i + 1].key) == 0)
			continue;
		pairs[w++] = pairs[i];
	}
	return w;
}

static void build_jsonb(FaunaConv *cv, JV *v, JsonbValue *out);

static void
build_object(FaunaConv *cv, JV *obj, bool user_fields_only, JsonbValue *out)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * Max(obj->u.count, 1));
	JV		   *key;
	JV		   *val;
	uint32		i;
	int			n = 0;

	JV_FOREACH_MEMBER(obj, key, val, i)
	{
		if (user_fields_only && is_reserved_key(key))
			continue;
		set_tok_string(cv, &pairs[n].key, FV_STRING, key);
		build_jsonb(cv, val, &pairs[n].value);
		pairs[n].order = n;
		n++;
	}
	out->type = jbvObject;
	out->val.object.nPairs = sort_pairs(pairs, n);
	out->val.object.pairs = pairs;
}

static void
set_numeric(JsonbValue *out, Numeric num)
{
	out->type = jbvNumeric;
	out->val.numeric = num;
}

Numeric
fauna_numeric_from_text(FaunaConv *cv, const char *s, int32 typmod)
{
	ErrorContextCallback errcb;
	Datum		d;

	errcb.callback = fauna_conv_error_context;
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
 * What a value exports as, whichever the output: jsonb (build_jsonb) or
 * JSON text (fauna_append_export_json).  The Fauna types are told apart
 * here only, so that the two outputs cannot disagree.
 */
typedef enum ExportKind
{
	EX_NULL,
	EX_BOOL,
	EX_STRING,					/* s, len, has_nul: a server string to be */
	EX_INT,						/* i */
	EX_NUMBER,					/* s, len: JSON number text */
	EX_REF,						/* ref */
	EX_OBJECT,					/* node: the object */
	EX_ARRAY					/* node: the array */
} ExportKind;

typedef struct ExportValue
{
	ExportKind	kind;
	FaunaVType	type;			/* the value's Fauna type, for errors */
	bool		boolean;
	const char *s;
	int			len;
	bool		has_nul;
	int64		i;
	RefExport	ref;
	JV		   *node;
} ExportValue;

static void
export_value(FaunaConv *cv, JV *v, ExportValue *x)
{
	JV		   *inner;
	bool		special;

	x->type = fauna_classify_v(v, &inner, cv->page->what, cv->page->v4);
	x->has_nul = false;
	switch (x->type)
	{
		case FV_NULL:
			x->kind = EX_NULL;
			break;
		case FV_BOOL:
			x->kind = EX_BOOL;
			x->boolean = (v->type == JT_TRUE);
			break;
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
			x->kind = EX_STRING;
			x->s = inner->u.s;
			x->len = (int) inner->n;
			x->has_nul = (inner->flags & JF_NUL) != 0;
			break;
		case FV_MOD:
			x->kind = EX_REF;
			mod_export(inner, &x->ref);
			break;
		case FV_BYTES:
			x->kind = EX_STRING;
			x->s = fauna_bytes_export(cv, inner, &x->len);
			break;
		case FV_INT:
		case FV_LONG:
			x->kind = EX_INT;
			x->i = fauna_get_int(cv, x->type, inner);
			break;
		case FV_DOUBLE:
			/* NaN and the infinities are no JSON numbers: strings */
			(void) fauna_get_double(cv, inner, &special);
			x->kind = special ? EX_STRING : EX_NUMBER;
			x->s = inner->u.s;
			x->len = (int) inner->n;
			break;
		case FV_NUMBER:
			x->kind = EX_NUMBER;
			x->s = v->u.s;
			x->len = (int) v->n;
			break;
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			/* a string holding the value's wire JSON */
			x->kind = EX_STRING;
			x->s = json_wire_text(v, &x->len);
			break;
		case FV_DOC:
		case FV_REF:
			x->kind = EX_REF;
			fauna_ref_export(cv, x->type, inner, &x->ref);
			break;
		case FV_OBJECT:
			x->kind = EX_OBJECT;
			x->node = inner;
			break;
		case FV_ARRAY:
			x->kind = EX_ARRAY;
			x->node = v;
			break;
	}
}

/* A value as a JsonbValue tree, in its export format. */
static void
build_jsonb(FaunaConv *cv, JV *v, JsonbValue *out)
{
	ExportValue x;

	check_stack_depth();
	export_value(cv, v, &x);
	switch (x.kind)
	{
		case EX_NULL:
			out->type = jbvNull;
			break;
		case EX_BOOL:
			out->type = jbvBool;
			out->val.boolean = x.boolean;
			break;
		case EX_STRING:
			set_string(cv, out, x.type, x.s, x.len, x.has_nul);
			break;
		case EX_INT:
			set_numeric(out, int64_to_numeric(x.i));
			break;
		case EX_NUMBER:
			set_numeric(out, fauna_numeric_from_text(cv, x.s, -1));
			break;
		case EX_REF:
			fauna_build_ref(cv, &x.ref, out);
			break;
		case EX_OBJECT:
			build_object(cv, x.node, false, out);
			break;
		case EX_ARRAY:
			{
				JsonbValue *elems = palloc(sizeof(JsonbValue) * Max(x.node->u.count, 1));
				JV		   *el;
				uint32		i;

				JV_FOREACH_ELEM(x.node, el, i)
					build_jsonb(cv, el, &elems[i]);
				out->type = jbvArray;
				out->val.array.nElems = (int) x.node->u.count;
				out->val.array.elems = elems;
				out->val.array.rawScalar = false;
			}
			break;
	}
}
/*
 * A jsonb Datum of a value (a scalar becomes a raw scalar jsonb).
 * user_fields_only: v is a @doc, and the value its user fields.
 */
Datum
fauna_make_jsonb(FaunaConv *cv, JV *v, bool user_fields_only)
{
	JsonbValue	root;

	if (user_fields_only)
		build_object(cv, v, true, &root);
	else
		build_jsonb(cv, v, &root);
	return JsonbPGetDatum(JsonbValueToJsonb(&root));
}

/* ----------------------------------------------------------------
 * json text in the export format
 * ----------------------------------------------------------------
 */

static void
append_json_string(FaunaConv *cv, StringInfo buf, FaunaVType t,
				   const char *s, int len, bool has_nul)
{
	s = fauna_server_string(cv, t, s, &len, has_nul);
	json_append_quoted(buf, s, len);
}

static inline void
append_tok_string(FaunaConv *cv, StringInfo buf, FaunaVType t, JV *v)
{
	append_json_string(cv, buf, t, v->u.s, (int) v->n,
					   (v->flags & JF_NUL) != 0);
}

void
fauna_append_object(FaunaConv *cv, StringInfo buf, JV *obj, bool user_fields_only)
{
	bool		first = true;
	JV		   *key;
	JV		   *val;
	uint32		i;

	appendStringInfoCharMacro(buf, '{');
	JV_FOREACH_MEMBER(obj, key, val, i)
	{
		if (user_fields_only && is_reserved_key(key))
			continue;
		if (!first)
			appendBinaryStringInfo(buf, ", ", 2);
		first = false;
		append_tok_string(cv, buf, FV_STRING, key);
		appendBinaryStringInfo(buf, ": ", 2);
		fauna_append_export_json(cv, buf, val);
	}
	appendStringInfoCharMacro(buf, '}');
}

void
fauna_append_ref(FaunaConv *cv, StringInfo buf, RefExport *r)
{
	appendStringInfoString(buf, "{\"id\": ");
	append_tok_string(cv, buf, FV_STRING, r->id);
	if (r->coll)
	{
		appendStringInfoString(buf, ", \"collection\": ");
		append_tok_string(cv, buf, FV_STRING, r->coll);
	}
	appendStringInfo(buf, ", \"type\": \"%s\"}", r->type);
}

/* The export-format JSON text of a value (the separators of jsonb's output). */
void
fauna_append_export_json(FaunaConv *cv, StringInfo buf, JV *v)
{
	ExportValue x;

	check_stack_depth();
	export_value(cv, v, &x);
	switch (x.kind)
	{
		case EX_NULL:
			appendStringInfoString(buf, "null");
			break;
		case EX_BOOL:
			appendStringInfoString(buf, x.boolean ? "true" : "false");
			break;
		case EX_STRING:
			append_json_string(cv, buf, x.type, x.s, x.len, x.has_nul);
			break;
		case EX_INT:
			appendStringInfo(buf, INT64_FORMAT, x.i);
			break;
		case EX_NUMBER:
			appendBinaryStringInfo(buf, x.s, x.len);
			break;
		case EX_REF:
			fauna_append_ref(cv, buf, &x.ref);
			break;
		case EX_OBJECT:
			fauna_append_object(cv, buf, x.node, false);
			break;
		case EX_ARRAY:
			{
				JV		   *el;
				uint32		i;

				appendStringInfoCharMacro(buf, '[');
				JV_FOREACH_ELEM(x.node, el, i)
				{
					if (i > 0)
						appendBinaryStringInfo(buf, ", ", 2);
					fauna_append_export_json(cv, buf, el);
				}
				appendStringInfoCharMacro(buf, ']');
			}
			break;
	}
}
/* ----------------------------------------------------------------
 * The fields of a document and their Fauna types, for the type inference
 * of IMPORT FOREIGN SCHEMA (infer.c), which needs what the conversions
 * above erase: a time and a string both become text.
 * ----------------------------------------------------------------
 */

/* A double holds every integer up to 2^53 exactly. */
#define FAUNA_DOUBLE_EXACT_INT	(INT64CONST(1) << 53)

/* The kind of one value; *wide when an integer a double cannot hold. */
static FaunaKind
value_kind(FaunaConv *cv, JV *v, bool *wide, const char **coll)
{
	JV		   *inner;
	FaunaVType	t = fauna_classify_v(v, &inner, cv->page->what, cv->page->v4);
	int64		i;

	switch (t)
	{
		case FV_NULL:
			return FAUNA_KIND_NULL;
		case FV_BOOL:
			return FAUNA_KIND_BOOLEAN;
		case FV_INT:
		case FV_LONG:
			if (fauna_parse_int64(inner->u.s, &i) &&
				(i > FAUNA_DOUBLE_EXACT_INT || i < -FAUNA_DOUBLE_EXACT_INT))
				*wide = true;
			return t == FV_INT ? FAUNA_KIND_INT : FAUNA_KIND_LONG;
		case FV_DOUBLE:
			return FAUNA_KIND_DOUBLE;
		case FV_STRING:
			return FAUNA_KIND_STRING;
		case FV_TIME:
			return FAUNA_KIND_TIME;
		case FV_DATE:
			return FAUNA_KIND_DATE;
		case FV_BYTES:
			return FAUNA_KIND_BYTES;
		case FV_DOC:
		case FV_REF:
			{
				RefExport	r;

				fauna_ref_export(cv, t, inner, &r);
				if (r.coll == NULL)
					return FAUNA_KIND_OTHER;	/* a key, a collection ... */
				if (coll)
					*coll = r.coll->u.s;
				return FAUNA_KIND_DOC;
			}
		case FV_ARRAY:
			return FAUNA_KIND_ARRAY;
		case FV_OBJECT:
			return FAUNA_KIND_OBJECT;
		default:
			return FAUNA_KIND_OTHER;
	}
}

static void
walk_object(FaunaConv *cv, JV *obj, bool user_fields_only,
			FaunaFieldSeen *seen, int max_depth,
			FaunaFieldFn fn, void *arg)
{
	JV		   *key;
	JV		   *val;
	uint32		i;

	check_stack_depth();
	JV_FOREACH_MEMBER(obj, key, val, i)
	{
		JV		   *inner;

		/* a name with a NUL can never be a column: not an FQL identifier */
		if ((key->flags & JF_NUL) || (user_fields_only && is_reserved_key(key)))
			continue;
		seen->path[seen->depth] = key->u.s;
		seen->depth++;
		seen->wide = false;
		seen->coll = NULL;
		seen->elem_kinds = 0;
		seen->kind = value_kind(cv, val, &seen->wide, &seen->coll);
		if (seen->kind == FAUNA_KIND_ARRAY)
		{
			JV		   *el;
			uint32		j;

			JV_FOREACH_ELEM(val, el, j)
				seen->elem_kinds |= 1u << value_kind(cv, el, &seen->wide, NULL);
		}
		fn(arg, seen);
		if (seen->kind == FAUNA_KIND_OBJECT && seen->depth < max_depth)
		{
			(void) fauna_classify_v(val, &inner, cv->page->what, cv->page->v4);
			walk_object(cv, inner, false, seen, max_depth, fn, arg);
		}
		seen->depth--;
	}
}

void
fauna_page_walk_fields(FaunaPage *page, int i, int max_depth,
					   FaunaFieldFn fn, void *arg)
{
	FaunaConv	cv;
	FaunaColumn col;
	FaunaElem  *e;
	FaunaFieldSeen seen;
	const char *path[FAUNA_WALK_MAX_DEPTH];
	JV		   *data;
	JV		   *inner;

	e = fauna_page_elem(page, i);
	memset(&col, 0, sizeof(col));
	col.attname = "data";		/* what a bad value would be read as */
	cv.page = page;
	cv.elem = e;
	cv.col = &col;
	cv.need_encoding = false;
	memset(&seen, 0, sizeof(seen));
	seen.path = path;
	max_depth = Max(1, Min(max_depth, FAUNA_WALK_MAX_DEPTH));

	/* the user fields, found as the data column finds them */
	data = JV_GET(e->fields, "data");
	if (data == NULL && e->is_doc)
		walk_object(&cv, e->fields, true, &seen, max_depth, fn, arg);
	else if (data != NULL && data->type == JT_OBJECT &&
			 fauna_classify_v(data, &inner, page->what, page->v4) == FV_OBJECT)
		walk_object(&cv, inner, false, &seen, max_depth, fn, arg);
}

