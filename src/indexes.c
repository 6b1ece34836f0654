/*-------------------------------------------------------------------------
 *
 * indexes.c
 *		  The one rule for whether a Fauna index serves ts ranges, and the
 *		  discovery of the index a scan reads them from.
 *
 * A scan reads a ts range from an index with no terms whose first value
 * is the document's ts in ascending order (over FQL v4: values exactly
 * [ts, ref], since the scan gets each document from the ref) and which
 * Fauna has finished building.  fauna_index_flaw() is that rule; scan
 * planning (index 'auto' and a named index), IMPORT FOREIGN SCHEMA and
 * fauna_fdw_check() all judge indexes with it, so they cannot disagree.
 * v10 definitions are read here as jsonb; v4 index documents are decoded
 * into a FaunaIndexShape by the page parser, and listed here page by page.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

FaunaIndexFlaw
fauna_index_flaw(const FaunaIndexShape *shape)
{
	if (!fauna_is_identifier(shape->name))
		return FAUNA_INDEX_BAD_NAME;
	if (shape->has_terms)
		return FAUNA_INDEX_TERMS;
	if (shape->v4)
	{
		if (!shape->ts_first || !shape->ts_ascending || !shape->ref_second_only)
			return FAUNA_INDEX_V4_VALUES;
	}
	else
	{
		if (!shape->ts_first)
			return FAUNA_INDEX_NOT_TS_FIRST;
		if (!shape->ts_ascending)
			return FAUNA_INDEX_TS_DESCENDING;
	}
	if (!shape->ready)
		return FAUNA_INDEX_BUILDING;
	return FAUNA_INDEX_OK;
}

const char *
fauna_index_flaw_reason(FaunaIndexFlaw flaw, bool v4)
{
	switch (flaw)
	{
		case FAUNA_INDEX_OK:
			return NULL;
		case FAUNA_INDEX_BAD_NAME:
			return "its name is not an FQL identifier";
		case FAUNA_INDEX_NOT_DEFINITION:
			return "not an index definition";
		case FAUNA_INDEX_TERMS:
			return "it has terms";
		case FAUNA_INDEX_NOT_TS_FIRST:
			return "its first value is not ts";
		case FAUNA_INDEX_TS_DESCENDING:
			return "it orders ts descending";
		case FAUNA_INDEX_V4_VALUES:
			return "its values are not [ts, ref] in ascending order";
		case FAUNA_INDEX_BUILDING:
			return v4 ? "it is not active yet (still building)"
				: "it is not queryable yet (still building)";
		case FAUNA_INDEX_MISSING:
			return "no such index";
	}
	return NULL;
}

/* Is the jsonb value the string s? */
static bool
jsonb_string_is(JsonbValue *v, const char *s)
{
	return v && v->type == jbvString && v->val.string.len == (int) strlen(s) &&
		strncmp(v->val.string.val, s, v->val.string.len) == 0;
}

/*
 * The shape of a v10 index definition: {"terms"?, "values": [{"field":
 * ".ts", "order"?: "asc"}, ...], "queryable"?}.  A missing "order" is
 * ascending and a missing "queryable" is ready, as in Fauna.
 */
FaunaIndexFlaw
fauna_v10_index_flaw(const char *name, JsonbContainer *def)
{
	FaunaIndexShape shape;
	JsonbValue *v;
	JsonbValue *first = NULL;
	JsonbValue *field = NULL;

	memset(&shape, 0, sizeof(shape));
	shape.name = name;

	v = getKeyJsonValueFromContainer(def, "terms", 5, NULL);
	shape.has_terms = v && v->type != jbvNull &&
		!(v->type == jbvBinary && JsonContainerSize(v->val.binary.data) == 0);

	v = getKeyJsonValueFromContainer(def, "values", 6, NULL);
	if (v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
		first = getIthJsonbValueFromContainer(v->val.binary.data, 0);
	if (first && first->type == jbvBinary &&
		JsonContainerIsObject(first->val.binary.data))
		field = getKeyJsonValueFromContainer(first->val.binary.data,
											 "field", 5, NULL);
	shape.ts_first = jsonb_string_is(field, ".ts") || jsonb_string_is(field, "ts");
	if (shape.ts_first)
	{
		v = getKeyJsonValueFromContainer(first->val.binary.data, "order", 5, NULL);
		shape.ts_ascending = (v == NULL || jsonb_string_is(v, "asc"));
	}

	v = getKeyJsonValueFromContainer(def, "queryable", 9, NULL);
	shape.ready = (v == NULL || (v->type == jbvBool && v->val.boolean));

	return fauna_index_flaw(&shape);
}

/*
 * Walk a v10 "indexes" object, judging each definition; stop at the one
 * named `only` when it is not NULL.  Returns the first that serves (or,
 * with only, that one if it serves); *only_flaw gets the named one's flaw
 * (FAUNA_INDEX_MISSING if absent).
 */
static char *
walk_v10_indexes(Jsonb *indexes, const char *only, FaunaIndexFlaw *only_flaw,
				 StringInfo why, bool *building)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *result = NULL;

	*building = false;
	if (only_flaw)
		*only_flaw = FAUNA_INDEX_MISSING;
	if (indexes == NULL || !JB_ROOT_IS_OBJECT(indexes))
		return NULL;

	it = JsonbIteratorInit(&indexes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		FaunaIndexFlaw flaw;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		if (tok != WJB_VALUE)
			continue;
		if (only && strcmp(name, only) != 0)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			flaw = FAUNA_INDEX_NOT_DEFINITION;
		else
			flaw = fauna_v10_index_flaw(name, v.val.binary.data);

		if (flaw == FAUNA_INDEX_BUILDING)
			*building = true;
		if (only_flaw)
			*only_flaw = flaw;
		if (flaw == FAUNA_INDEX_OK)
		{
			if (result == NULL)
				result = name;
		}
		else if (why)
			appendStringInfo(why, "%s%s: %s", why->len > 0 ? "; " : "", name,
							 fauna_index_flaw_reason(flaw, false));
	}
	return result;
}

char *
fauna_v10_first_ts_index(Jsonb *indexes, StringInfo why, bool *building)
{
	return walk_v10_indexes(indexes, NULL, NULL, why, building);
}

/*
 * The collection's v10 "indexes" object, read with
 * Collection.byName($1) { indexes }, into *indexes (CurrentMemoryContext;
 * NULL when it has none).  False when Fauna does not say (the key may not
 * read schema, the collection does not exist: the scan itself then
 * reports that).
 */
static bool
read_v10_indexes(FaunaConn *conn, const char *collection, Jsonb **indexes)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "fauna_fdw discovery",
											  ALLOCSET_SMALL_SIZES);
	FaunaRequestCounters counters;
	StringInfoData body;
	FaunaPage  *page;
	Datum		value;
	bool		isnull;
	bool		answered = false;

	*indexes = NULL;
	memset(&counters, 0, sizeof(counters));
	initStringInfo(&body);
	fauna_fql_collection_indexes(collection, &body);
	fauna_request_start(conn, body.data, collection, cxt);
	page = fauna_request_wait_optional(conn, &counters);

	if (page != NULL && fauna_page_count(page) == 1)
	{
		answered = true;
		value = fauna_page_field(page, 0, FAUNA_PATH_FIELD, "indexes", JSONBOID,
								 &isnull);
		if (!isnull)
			*indexes = DatumGetJsonbPCopy(value);
	}
	MemoryContextDelete(cxt);
	pfree(body.data);
	return answered;
}

/* Find one named v4 index while walking (fauna_v4_walk_indexes). */
typedef struct V4NamedIndex
{
	const char *name;
	FaunaIndexFlaw flaw;
} V4NamedIndex;

static bool
find_v4_named_index(void *arg, const char *name, const char *collection,
					FaunaIndexFlaw flaw)
{
	V4NamedIndex *want = (V4NamedIndex *) arg;

	if (strcmp(name, want->name) != 0)
		return true;
	want->flaw = flaw;
	return false;
}

/* The ERROR of a named index that cannot serve a scan's ts range. */
static void
report_unusable_index(const char *index, const char *collection,
					  const char *relname, FaunaIndexFlaw flaw, bool v4)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("index \"%s\" cannot serve the ts range of foreign table \"%s\"",
					index, relname),
			 flaw == FAUNA_INDEX_MISSING
			 ? errdetail("Collection \"%s\" has no index named \"%s\".",
						 collection, index)
			 : flaw == FAUNA_INDEX_TERMS
			 ? errdetail("Index \"%s\" has terms, so it does not list every document of the collection.", index)
			 : flaw == FAUNA_INDEX_NOT_TS_FIRST
			 ? errdetail("The first value of index \"%s\" is not ts.", index)
			 : flaw == FAUNA_INDEX_TS_DESCENDING
			 ? errdetail("Index \"%s\" orders ts descending.", index)
			 : flaw == FAUNA_INDEX_V4_VALUES
			 ? errdetail("The values of index \"%s\" are not [ts, ref] in ascending order.", index)
			 : errdetail("The definition of index \"%s\" is not an index definition.", index),
			 v4
			 ? errhint("Set the table's option \"index\" to an active index with no terms and values [ts, ref], or to 'auto' or 'none'.")
			 : errhint("Set the table's option \"index\" to an index with no terms whose first value is ts ascending, or to 'auto' or 'none'.")));
}

char *
fauna_scan_ts_index(Oid relid, Oid userid, const FaunaTableOptions *opts,
					int api_version, bool *asked_fauna)
{
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	UserMapping *user;
	FaunaServerOptions sopts;
	FaunaIndexFlaw flaw;
	bool		named;
	bool		building;

	*asked_fauna = false;
	if (strcmp(opts->index, "none") == 0)
		return NULL;
	named = strcmp(opts->index, "auto") != 0;

	user = GetUserMapping(userid, server->serverid);
	*asked_fauna = true;
	if (api_version == 4)
	{
		V4NamedIndex want;

		fauna_get_server_options(server, &sopts);
		if (!named)
			return fauna_v4_ts_index(user, server, opts->collection,
									 sopts.page_size);
		want.name = opts->index;
		want.flaw = FAUNA_INDEX_MISSING;
		if (!fauna_v4_walk_indexes(fauna_get_connection(user, server),
								   opts->collection, sopts.page_size, true,
								   find_v4_named_index, &want))
			return opts->index; /* may not list indexes: as named */
		flaw = want.flaw;
	}
	else
	{
		Jsonb	   *indexes;
		bool		answered = read_v10_indexes(fauna_get_connection(user, server),
												opts->collection, &indexes);

		if (!named)
			return walk_v10_indexes(indexes, NULL, NULL, NULL, &building);
		if (!answered)
			return opts->index; /* may not read the definition: as named */
		(void) walk_v10_indexes(indexes, opts->index, &flaw, NULL, &building);
	}

	/*
	 * An index still being built will serve: Fauna refuses to read it
	 * until then, with an error that says so (never an empty result).
	 */
	if (flaw != FAUNA_INDEX_OK && flaw != FAUNA_INDEX_BUILDING)
		report_unusable_index(opts->index, opts->collection, get_rel_name(relid),
							  flaw, api_version == 4);
	return opts->index;
}

/* ----------------------------------------------------------------
 * FQL v4 discovery
 *
 * v4 indexes are not part of a collection's definition: they are listed
 * with Paginate(Indexes()) (fql_v4.c builds the request), page by page;
 * for one collection the page is filtered on the server to the indexes
 * whose source is that collection.
 * ----------------------------------------------------------------
 */

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
