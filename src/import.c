/*-------------------------------------------------------------------------
 *
 * import.c
 *		  IMPORT FOREIGN SCHEMA and fauna_fdw_check().
 *
 * A Fauna database has no schemas: IMPORT FOREIGN SCHEMA ignores the remote
 * schema name and creates one foreign table per collection of the database
 * the user mapping's key belongs to, like postgresImportForeignSchema does
 * for a remote schema.  The collection definitions are listed page by page
 * with Collection.all() { name, indexes, fields } and Set.paginate, so a
 * database with hundreds of collections imports in one statement with
 * memory bounded by a page plus the generated commands.
 *
 * Table names are the collection names folded to lower case, since that is
 * how users write unquoted names; the "collection" option keeps the exact
 * name.  Two collections that fold to the same table name are an ERROR
 * naming both (LIMIT TO / EXCEPT select one of them).  Every name is quoted
 * with quote_identifier / quote_literal_cstr; nothing from the user mapping
 * is ever written into the commands.
 *
 * Typed columns follow ref, ts, ttl and data: the declared fields
 * (fields 'true'), then the fields inferred from a sample (infer 'n',
 * infer.c) but those a declared field already gives.  Both are named by
 * fauna_import_name_columns(): path names joined by "_" and folded; a name
 * that is no FQL identifier, a reserved path or taken is left out with a
 * NOTICE (the value stays in data).
 *
 * fauna_fdw_check(server) needs USAGE on the server, as IMPORT does, and
 * runs the checks of a connector's "check connection": connect, authenticate, list collections, and per collection
 * read one document, find the ts index and create an event source.  Each
 * check runs in an internal subtransaction, as PL/pgSQL's exception blocks
 * do, so that the failure of one (an ereport from connection.c) becomes a
 * row and does not hide the others.
 *
 * On an api_version '4' server both speak FQL v4 (fql_v4.c): collections
 * are listed with Paginate(Collections()), and since v4 indexes are not
 * part of a collection's definition, all indexes with Paginate(Indexes()),
 * each attributed to its source collection and judged by indexes.c's
 * rule, as index 'auto' judges it.  The probes read one document and one
 * event (v4 has no event sources).  v4 collections declare no fields, so
 * fields 'true' has nothing to import there (a NOTICE says so).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/scansup.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/* Collection definitions are small; a page of them stays well under 1 MB. */
#define FAUNA_IMPORT_MAX_PAGE	1000

/* One collection definition, as listed. */
typedef struct ImportColl
{
	char	   *name;			/* the collection's name */
	Jsonb	   *indexes;		/* its "indexes" object, or NULL */
	Jsonb	   *fields;			/* its "fields" object, or NULL */
	/* FQL v4: the ts index, found among all indexes (indexes is NULL) */
	bool		v4;
	bool		v4_unlisted;	/* the key may not list indexes */
	char	   *v4_index;		/* the first qualifying index, or NULL */
	StringInfoData v4_why;		/* why the others do not qualify */
} ImportColl;

/* A foreign table to create. */
typedef struct ImportTable
{
	char	   *relname;		/* folded (and truncated) table name */
	ImportColl *coll;
	bool		events;			/* the <name>_events table */
} ImportTable;

/* What IMPORT adds to each collection's table, from its options. */
typedef struct ImportOptions
{
	bool		events;			/* events 'true' */
	bool		fields;			/* fields 'true' */
	int			infer;			/* infer 'n': sample size, or 0 */
	int			infer_depth;	/* infer_depth 'd' */
	const char *schema;			/* the schema imported into */
} ImportOptions;

/* One row of fauna_fdw_check(). */
typedef struct CheckRow
{
	char	   *collection;		/* NULL for the server-wide checks */
	const char *test;
	bool		ok;
	char	   *detail;
} CheckRow;

static List *list_collections(FaunaConn *conn, int page_size, int api_version);
static List *list_collections_v10(FaunaConn *conn, int page_size);
static List *list_collections_v4(FaunaConn *conn, int page_size);
static char *fold_name(const char *name, const char *suffix);
static List *schema_fields(ImportColl *coll);
static const char *field_type(const char *signature);
static char *table_command(ImportTable *t, ForeignServer *server,
						   FaunaConn *conn, int api_version,
						   const ImportOptions *opts);
static bool table_wanted(ImportForeignSchemaStmt *stmt, const char *relname);

/*
 * Read every collection definition, page by page.  The result (a List of
 * ImportColl, in Fauna's order) is allocated in CurrentMemoryContext; each
 * page's memory is freed as soon as it is copied.
 */
static List *
list_collections(FaunaConn *conn, int page_size, int api_version)
{
	return api_version == 4 ? list_collections_v4(conn, page_size)
		: list_collections_v10(conn, page_size);
}

/* list_collections() over FQL v10: Collection.all() { name, indexes, fields } */
static List *
list_collections_v10(FaunaConn *conn, int page_size)
{
	MemoryContext pages = AllocSetContextCreate(CurrentMemoryContext,
												"fauna_fdw collection list",
												ALLOCSET_DEFAULT_SIZES);
	FaunaRequestCounters counters;
	StringInfoData body;
	List	   *result = NIL;
	char	   *after = NULL;
	int			i;

	memset(&counters, 0, sizeof(counters));

	initStringInfo(&body);
	fauna_fql_list_collections(page_size, &body);

	for (;;)
	{
		FaunaPage  *page;
		int			n;

		CHECK_FOR_INTERRUPTS();

		fauna_request_start(conn, body.data, "Collection", pages);
		page = fauna_request_wait(conn, &counters);
		n = fauna_page_count(page);

		for (i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		value = fauna_page_field(page, i, FAUNA_PATH_FIELD, "name",
												 TEXTOID, &isnull);
			ImportColl *coll;

			if (isnull)
				continue;		/* not a collection definition */
			coll = palloc0(sizeof(ImportColl));
			coll->name = TextDatumGetCString(value);
			value = fauna_page_field(page, i, FAUNA_PATH_FIELD, "indexes", JSONBOID, &isnull);
			if (!isnull)
				coll->indexes = DatumGetJsonbPCopy(value);
			value = fauna_page_field(page, i, FAUNA_PATH_FIELD, "fields", JSONBOID, &isnull);
			if (!isnull)
				coll->fields = DatumGetJsonbPCopy(value);
			result = lappend(result, coll);
		}

		if (after)
			pfree(after);
		after = fauna_page_after(page);
		MemoryContextReset(pages);
		if (after == NULL)
			break;
		resetStringInfo(&body);
		fauna_fql_next_page(after, &body);
	}

	MemoryContextDelete(pages);
	pfree(body.data);
	return result;
}

/* Attribute one v4 index to its collection (fauna_v4_walk_indexes). */
static bool
attribute_v4_index(void *arg, const char *name, const char *collection,
				   FaunaIndexFlaw flaw)
{
	List	   *colls = (List *) arg;
	ListCell   *lc;

	if (collection == NULL)
		return true;			/* several sources: never used */
	foreach(lc, colls)
	{
		ImportColl *coll = (ImportColl *) lfirst(lc);

		if (strcmp(coll->name, collection) != 0)
			continue;
		if (flaw == FAUNA_INDEX_OK && coll->v4_index == NULL)
			coll->v4_index = pstrdup(name);
		else if (flaw != FAUNA_INDEX_OK)
			appendStringInfo(&coll->v4_why, "%s%s: %s",
							 coll->v4_why.len > 0 ? "; " : "", name,
							 fauna_index_flaw_reason(flaw, true));
		break;
	}
	return true;
}

/*
 * list_collections() over FQL v4: the collections, page by page, then all
 * the indexes, page by page, each attributed to its collection.  A key
 * that may list collections but not indexes still lists the collections
 * (their ts index is then unknown).
 */
static List *
list_collections_v4(FaunaConn *conn, int page_size)
{
	MemoryContext pages = AllocSetContextCreate(CurrentMemoryContext,
												"fauna_fdw collection list",
												ALLOCSET_DEFAULT_SIZES);
	FaunaRequestCounters counters;
	StringInfoData body;
	List	   *result = NIL;
	char	   *after = NULL;
	ListCell   *lc;

	memset(&counters, 0, sizeof(counters));
	initStringInfo(&body);
	for (;;)
	{
		FaunaPage  *page;
		int			n;

		CHECK_FOR_INTERRUPTS();

		resetStringInfo(&body);
		fauna_fql_v4_list_collections(page_size, after, &body);
		if (after)
			pfree(after);
		fauna_request_start(conn, body.data, "collections", pages);
		page = fauna_request_wait(conn, &counters);
		n = fauna_page_count(page);

		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			/* a collection's ref id is its name */
			Datum		value = fauna_page_field(page, i, FAUNA_PATH_ID, "ref",
												 TEXTOID, &isnull);
			ImportColl *coll;

			if (isnull)
				continue;
			coll = palloc0(sizeof(ImportColl));
			coll->name = TextDatumGetCString(value);
			coll->v4 = true;
			initStringInfo(&coll->v4_why);
			result = lappend(result, coll);
		}

		after = fauna_page_after(page);
		MemoryContextReset(pages);
		if (after == NULL)
			break;
	}
	MemoryContextDelete(pages);
	pfree(body.data);

	if (result != NIL &&
		!fauna_v4_walk_indexes(conn, NULL, page_size, true,
							   attribute_v4_index, result))
	{
		foreach(lc, result)
			((ImportColl *) lfirst(lc))->v4_unlisted = true;
	}
	return result;
}

/*
 * The table name of a collection: folded to lower case and truncated as
 * the parser folds an unquoted identifier (collection names are ASCII
 * identifiers), plus suffix.
 */
static char *
fold_name(const char *name, const char *suffix)
{
	char	   *s = psprintf("%s%s", name, suffix);

	return downcase_truncate_identifier(s, strlen(s), false);
}

/*
 * The ts index of a collection as listed (fauna_v10_first_ts_index): over v4, the
 * one found among the indexes by list_collections_v4().  *unsure: there
 * may be one soon, or the key may not see them.
 */
static char *
coll_ts_index(ImportColl *coll, StringInfo why, bool *unsure)
{
	*unsure = false;
	if (!coll->v4)
		return fauna_v10_first_ts_index(coll->indexes, why, unsure);
	*unsure = coll->v4_unlisted;
	if (why)
		appendStringInfoString(why, coll->v4_unlisted
							   ? "the key may not list indexes"
							   : coll->v4_why.data);
	return coll->v4_index;
}

/*
 * PostgreSQL type of a field signature: "String", "Int?", "Time | Null" ...
 * Unions, objects, arrays, refs and anything unknown become jsonb.
 */
static const char *
field_type(const char *signature)
{
	static const struct
	{
		const char *fauna;
		const char *pg;
	}			map[] = {
		{"String", "text"},
		{"Int", "integer"},
		{"Long", "bigint"},
		{"Double", "double precision"},
		{"Number", "numeric"},
		{"Boolean", "boolean"},
		{"Time", "timestamp with time zone"},
		{"Date", "date"},
		{"Bytes", "bytea"},
		{NULL, NULL}
	};
	char	   *s = pstrdup(signature);
	char	   *end;
	char	   *start = s;
	int			i;

	/* optional: "T?", "T | Null", "Null | T" */
	while (*start == ' ')
		start++;
	if (strncmp(start, "Null |", 6) == 0)
		start += 6;
	while (*start == ' ')
		start++;
	end = start + strlen(start);
	while (end > start && end[-1] == ' ')
		end--;
	*end = '\0';
	if (end - start > 6 && strcmp(end - 6, "| Null") == 0)
	{
		end -= 6;
		while (end > start && end[-1] == ' ')
			end--;
		*end = '\0';
	}
	if (end > start && end[-1] == '?')
		end[-1] = '\0';

	for (i = 0; map[i].fauna; i++)
	{
		if (strcmp(start, map[i].fauna) == 0)
			return map[i].pg;
	}
	return "jsonb";
}

static int
field_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((FaunaImportColumn *) lfirst(a))->path,
				  ((FaunaImportColumn *) lfirst(b))->path);
}

/*
 * The typed columns of a collection's declared fields, sorted by name
 * (jsonb does not keep the definition's order), not named yet.
 */
static List *
schema_fields(ImportColl *coll)
{
	List	   *fields = NIL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (coll->fields == NULL || !JB_ROOT_IS_OBJECT(coll->fields))
		return NIL;

	it = JsonbIteratorInit(&coll->fields->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		FaunaImportColumn *f;
		JsonbValue *sig = NULL;

		if (tok != WJB_KEY)
			continue;
		f = palloc0(sizeof(FaunaImportColumn));
		f->path = pnstrdup(v.val.string.val, v.val.string.len);
		f->names = list_make1(f->path);
		f->option_path = f->path;
		tok = JsonbIteratorNext(&it, &v, true);
		if (tok != WJB_VALUE)
			continue;
		if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
			sig = getKeyJsonValueFromContainer(v.val.binary.data,
											   "signature", 9, NULL);
		if (sig && sig->type == jbvString)
			f->type = field_type(pnstrdup(sig->val.string.val,
										  sig->val.string.len));
		else
			f->type = "jsonb";
		fields = lappend(fields, f);
	}
	list_sort(fields, field_cmp);
	return fields;
}

/* Are all the names of a path FQL identifiers? */
static bool
path_is_identifiers(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (!fauna_is_identifier((char *) lfirst(lc)))
			return false;
	}
	return true;
}

/*
 * A column's name is its path's names joined by "_" and folded.  A field
 * whose names are not all plain FQL identifiers, whose first name is a
 * reserved path or whose column name is already taken (by the fixed
 * columns, taken, or an earlier column) is left out with a NOTICE: its
 * value is still in the data column.
 */
List *
fauna_import_name_columns(const char *collection, List *columns, List *taken)
{
	static const char *const reserved[] = {"ref", "id", "ts", "ttl", "coll",
	"data", NULL};
	List	   *used;
	ListCell   *lc;

	used = list_make4(pstrdup("ref"), pstrdup("ts"), pstrdup("ttl"),
					  pstrdup("data"));
	used = list_concat(used, taken);
	foreach(lc, columns)
	{
		FaunaImportColumn *f = (FaunaImportColumn *) lfirst(lc);
		const char *first = (const char *) linitial(f->names);
		char	   *colname;
		bool		identifiers = path_is_identifiers(f->names);
		bool		is_reserved = false;
		bool		clash = false;
		ListCell   *lc2;
		char	   *p;
		int			i;

		colname = fold_name(f->path, "");
		for (p = colname; *p; p++)
			if (*p == '.')
				*p = '_';
		for (i = 0; reserved[i]; i++)
			is_reserved |= strcmp(first, reserved[i]) == 0;
		foreach(lc2, used)
			clash |= strcmp((char *) lfirst(lc2), colname) == 0;

		if (!identifiers || is_reserved || clash)
		{
			ereport(NOTICE,
					(errmsg("field \"%s\" of collection \"%s\" is not imported as a column",
							f->path, collection),
					 !identifiers
					 ? errdetail("Its name is not an FQL identifier.")
					 : is_reserved
					 ? errdetail("\"%s\" is a reserved path.", first)
					 : errdetail("Its column name \"%s\" is already taken.", colname),
					 errhint("Its value is still available in the data column.")));
			columns = foreach_delete_current(columns, lc);
			continue;
		}
		f->colname = colname;
		used = lappend(used, colname);
	}
	return columns;
}

/* Error context of sampling: which collection. */
static void
sample_error_context(void *arg)
{
	errcontext("sampling collection \"%s\" for IMPORT FOREIGN SCHEMA option \"infer\"",
			   (const char *) arg);
}

/*
 * The typed columns of a table: the declared fields (fields 'true'), then
 * the inferred ones (infer 'n') but those of a declared field, all named.
 */
static List *
typed_columns(ImportTable *t, FaunaConn *conn, int api_version,
			  const ImportOptions *opts)
{
	List	   *declared = NIL;
	List	   *inferred = NIL;
	List	   *taken = NIL;
	ListCell   *lc;

	if (opts->fields)
		declared = fauna_import_name_columns(t->coll->name, schema_fields(t->coll),
											 NIL);
	if (opts->infer > 0)
	{
		ErrorContextCallback errcallback;
		bool		unsure;
		char	   *ts_index = coll_ts_index(t->coll, NULL, &unsure);

		errcallback.callback = sample_error_context;
		errcallback.arg = t->coll->name;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		inferred = fauna_infer_columns(conn, t->coll->name, ts_index,
									   api_version, opts->infer,
									   opts->infer_depth);
		error_context_stack = errcallback.previous;
	}

	/* a declared field wins over what was inferred of it */
	foreach(lc, inferred)
	{
		FaunaImportColumn *c = (FaunaImportColumn *) lfirst(lc);
		ListCell   *lc2;
		bool		declared_field = false;

		foreach(lc2, declared)
			declared_field |= strcmp(((FaunaImportColumn *) lfirst(lc2))->path,
									 (char *) linitial(c->names)) == 0;
		if (declared_field)
			inferred = foreach_delete_current(inferred, lc);
	}
	foreach(lc, declared)
		taken = lappend(taken, ((FaunaImportColumn *) lfirst(lc))->colname);
	inferred = fauna_import_name_columns(t->coll->name, inferred, taken);
	return list_concat(declared, inferred);
}

/* The CREATE FOREIGN TABLE command of one table. */
static char *
table_command(ImportTable *t, ForeignServer *server, FaunaConn *conn,
			  int api_version, const ImportOptions *opts)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n",
					 quote_identifier(t->relname));
	if (t->events)
	{
		appendStringInfoString(&buf,
							   "  ref text,\n"
							   "  ts timestamp with time zone,\n"
							   "  action text,\n"
							   "  data jsonb\n");
	}
	else
	{
		List	   *columns = typed_columns(t, conn, api_version, opts);
		ListCell   *lc;

		appendStringInfoString(&buf,
							   "  ref text,\n"
							   "  ts timestamp with time zone,\n"
							   "  ttl timestamp with time zone,\n"
							   "  data jsonb");
		foreach(lc, columns)
		{
			FaunaImportColumn *f = (FaunaImportColumn *) lfirst(lc);

			appendStringInfo(&buf, ",\n  %s %s OPTIONS (path %s)",
							 quote_identifier(f->colname), f->type,
							 quote_literal_cstr(f->option_path));
		}
		/* after ref, ts, ttl, data: attribute 5 on */
		fauna_infer_remember_comments(opts->schema, t->relname, columns, 5);
		appendStringInfoString(&buf, "\n");
	}
	appendStringInfo(&buf, ") SERVER %s\nOPTIONS (collection %s",
					 quote_identifier(server->servername),
					 quote_literal_cstr(t->coll->name));
	if (t->events)
		appendStringInfoString(&buf, ", events 'true'");
	else
	{
		bool		unsure;
		char	   *index = coll_ts_index(t->coll, NULL, &unsure);

		/*
		 * Not known yet (an index Fauna is still building, v4 indexes the
		 * key may not list): leave the choice to each scan.
		 */
		appendStringInfo(&buf, ", index %s",
						 quote_literal_cstr(index ? index : unsure ? "auto" : "none"));
	}
	appendStringInfoString(&buf, ")");
	return buf.data;
}

/*
 * LIMIT TO / EXCEPT, applied here too (the core filters the commands by
 * table name afterwards) so that a name clash outside the selection is no
 * obstacle.
 */
static bool
table_wanted(ImportForeignSchemaStmt *stmt, const char *relname)
{
	ListCell   *lc;
	bool		listed = false;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);

		if (strcmp(rv->relname, relname) == 0)
			listed = true;
	}
	return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO ? listed : !listed;
}

/* By table name, then (for a stable clash message) collection, kind. */
static int
table_cmp(const ListCell *a, const ListCell *b)
{
	ImportTable *ta = (ImportTable *) lfirst(a);
	ImportTable *tb = (ImportTable *) lfirst(b);
	int			cmp = strcmp(ta->relname, tb->relname);

	if (cmp == 0)
		cmp = strcmp(ta->coll->name, tb->coll->name);
	if (cmp == 0)
		cmp = (int) ta->events - (int) tb->events;
	return cmp;
}

static const char *
table_origin(ImportTable *t)
{
	return t->events
		? psprintf("the event table of collection \"%s\"", t->coll->name)
		: psprintf("collection \"%s\"", t->coll->name);
}

/*
 * An integer option of IMPORT within [min, max]: decimal digits only.
 */
static int
import_int_option(DefElem *def, int min, int max)
{
	const char *s = defGetString(def);
	const char *p = s;
	int64		value = 0;

	for (; *p >= '0' && *p <= '9' && value <= max; p++)
		value = value * 10 + (*p - '0');
	if (*s == '\0' || *p != '\0' || value < min || value > max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, s),
				 errhint("Value must be an integer between %d and %d.", min, max)));
	return (int) value;
}

/*
 * The ImportForeignSchema callback: a list of CREATE FOREIGN TABLE
 * commands, one per collection (two with events 'true').
 */
List *
fauna_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	UserMapping *user = GetUserMapping(GetUserId(), serverOid);
	FaunaServerOptions sopts;
	FaunaConn  *conn;
	ImportOptions opts;
	List	   *colls;
	List	   *tables = NIL;
	List	   *commands = NIL;
	ListCell   *lc;
	ImportTable *prev = NULL;

	/* the IMPORT's own options */
	memset(&opts, 0, sizeof(opts));
	opts.infer_depth = 1;
	opts.schema = stmt->local_schema;
	foreach(lc, stmt->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "events") == 0)
			opts.events = defGetBoolean(def);
		else if (strcmp(def->defname, "fields") == 0)
			opts.fields = defGetBoolean(def);
		else if (strcmp(def->defname, "infer") == 0)
			opts.infer = import_int_option(def, 0, FAUNA_INFER_MAX_SAMPLE);
		else if (strcmp(def->defname, "infer_depth") == 0)
			opts.infer_depth = import_int_option(def, 1, FAUNA_WALK_MAX_DEPTH);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("Valid options of IMPORT FOREIGN SCHEMA are: events, fields, infer, infer_depth")));
	}

	fauna_get_server_options(server, &sopts);
	if (opts.fields && sopts.api_version == 4)
	{
		ereport(NOTICE,
				(errmsg("import option \"fields\" has no effect on server \"%s\"",
						server->servername),
				 errdetail("FQL v4 collections declare no fields (the server's api_version is 4)."),
				 errhint("Add typed columns with a \"path\" option by hand; every field is in the data column.")));
		opts.fields = false;
	}
	conn = fauna_get_connection(user, server);
	colls = list_collections(conn, Min(sopts.page_size, FAUNA_IMPORT_MAX_PAGE),
							 sopts.api_version);

	foreach(lc, colls)
	{
		ImportColl *coll = (ImportColl *) lfirst(lc);
		ImportTable *t;

		if (!fauna_is_identifier(coll->name))
		{
			ereport(WARNING,
					(errmsg("collection \"%s\" is not imported: its name is not an FQL identifier",
							coll->name)));
			continue;
		}

		t = palloc0(sizeof(ImportTable));
		t->relname = fold_name(coll->name, "");
		t->coll = coll;
		if (table_wanted(stmt, t->relname))
			tables = lappend(tables, t);

		if (opts.events)
		{
			t = palloc0(sizeof(ImportTable));
			t->relname = fold_name(coll->name, "_events");
			t->coll = coll;
			t->events = true;
			if (table_wanted(stmt, t->relname))
				tables = lappend(tables, t);
		}
	}

	/* in name order, which also puts clashing names next to each other */
	list_sort(tables, table_cmp);
	foreach(lc, tables)
	{
		ImportTable *t = (ImportTable *) lfirst(lc);

		if (prev && strcmp(prev->relname, t->relname) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("%s and %s would both be imported as foreign table \"%s\"",
							table_origin(prev), table_origin(t), t->relname),
					 errdetail("Table names are collection names folded to lower case."),
					 errhint("Leave one out with LIMIT TO or EXCEPT and create its table with CREATE FOREIGN TABLE under another name.")));
		prev = t;
		commands = lappend(commands, table_command(t, server, conn,
												   sopts.api_version, &opts));
	}

	return commands;
}

/* ----------------------------------------------------------------
 * fauna_fdw_check(server_name)
 * ----------------------------------------------------------------
 */

typedef struct CheckState
{
	ForeignServer *server;
	FaunaConn  *conn;
	int			page_size;
	int			api_version;
	List	   *colls;			/* ImportColl * */
	const char *collection;		/* of the probe running */
	int			ndocs;			/* documents read by the probe */
} CheckState;

typedef void (*CheckFn) (CheckState *state);

/*
 * Run fn in an internal subtransaction.  Returns NULL on success, else the
 * error as "message: detail" (the error is swallowed).  A cancel is not a
 * check failure: it is re-thrown.
 */
static char *
run_guarded(CheckFn fn, CheckState *state, int *sqlerrcode)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *volatile failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		fn(state);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		if (sqlerrcode)
			*sqlerrcode = edata->sqlerrcode;
		failure = edata->detail
			? psprintf("%s: %s", edata->message, edata->detail)
			: pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();

	return failure;
}

static void
check_list(CheckState *state)
{
	UserMapping *user = GetUserMapping(GetUserId(), state->server->serverid);

	state->conn = fauna_get_connection(user, state->server);
	state->colls = list_collections(state->conn, state->page_size,
									state->api_version);
}

/* Send one probe request and count what came back. */
static void
run_probe(CheckState *state, StringInfo body)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "fauna_fdw check",
											  ALLOCSET_SMALL_SIZES);
	FaunaRequestCounters counters;

	memset(&counters, 0, sizeof(counters));
	fauna_request_start(state->conn, body->data, state->collection, cxt);
	state->ndocs = fauna_page_count(fauna_request_wait(state->conn, &counters));
	MemoryContextDelete(cxt);
}

static void
check_read(CheckState *state)
{
	StringInfoData body;

	initStringInfo(&body);
	if (state->api_version == 4)
		fauna_fql_v4_probe_read(state->collection, &body);
	else
		fauna_fql_probe_read(state->collection, &body);
	run_probe(state, &body);
}

static void
check_event_source(CheckState *state)
{
	StringInfoData body;

	initStringInfo(&body);
	if (state->api_version == 4)
		fauna_fql_v4_probe_events(state->collection, &body);
	else
		fauna_fql_probe_event_source(state->collection, &body);
	run_probe(state, &body);
}

static List *
add_row(List *rows, const char *collection, const char *test, bool ok,
		const char *detail)
{
	CheckRow   *row = palloc0(sizeof(CheckRow));

	row->collection = collection ? pstrdup(collection) : NULL;
	row->test = test;
	row->ok = ok;
	row->detail = detail ? pstrdup(detail) : NULL;
	return lappend(rows, row);
}

/*
 * The fauna_fdw server of that name, for a function that reaches it through
 * the caller's user mapping: the same rule as IMPORT FOREIGN SCHEMA and
 * postgres_fdw, USAGE on the server (PUBLIC mappings included).
 */
ForeignServer *
fauna_server_for_use(const char *servername)
{
	ForeignServer *server = GetForeignServerByName(servername, false);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	AclResult	aclresult;

	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(),
										   ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	if (!OidIsValid(fdw->fdwhandler) ||
		strcmp(get_func_name(fdw->fdwhandler), "fauna_fdw_handler") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a fauna_fdw server", servername)));
	return server;
}

PG_FUNCTION_INFO_V1(fauna_fdw_check);

/*
 * fauna_fdw_check(server_name text [, collections text[]])
 *	 RETURNS TABLE (collection text, test text, ok boolean, detail text)
 *
 * With collections, only those are checked (and each one missing is a
 * row); without, every collection of the database.
 */
Datum
fauna_fdw_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *servername = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ForeignServer *server = fauna_server_for_use(servername);
	FaunaServerOptions sopts;
	CheckState	state;
	List	   *rows = NIL;
	ListCell   *lc;
	char	   *failure;
	int			sqlerrcode = 0;
	List	   *only = NIL;		/* the collections asked for, or NIL: all */
	bool		filtered = false;
	bool		listed;

	if (PG_NARGS() > 1)
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *elnulls;
		int			nelems;
		int			i;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elnulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			if (!elnulls[i])
				only = lappend(only, TextDatumGetCString(elems[i]));
		}
		filtered = true;
	}

	InitMaterializedSRF(fcinfo, 0);

	memset(&state, 0, sizeof(state));
	state.server = server;
	fauna_get_server_options(server, &sopts);
	state.page_size = Min(sopts.page_size, FAUNA_IMPORT_MAX_PAGE);
	state.api_version = sopts.api_version;

	/* connect, authenticate and list: one request tells all three */
	failure = run_guarded(check_list, &state, &sqlerrcode);
	listed = (failure == NULL);
	if (listed)
	{
		rows = add_row(rows, NULL, "connect", true, NULL);
		rows = add_row(rows, NULL, "authenticate", true, NULL);
		rows = add_row(rows, NULL, "list collections", true,
					   psprintf("%d collection%s", list_length(state.colls),
								list_length(state.colls) == 1 ? "" : "s"));
	}
	else if (sqlerrcode == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ||
			 sqlerrcode == ERRCODE_FDW_INVALID_DATA_TYPE)
	{
		/* a refused secret, or an answer that is not Fauna's at all */
		rows = add_row(rows, NULL, "connect", true, NULL);
		rows = add_row(rows, NULL, "authenticate", false, failure);
	}
	else if (sqlerrcode == ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION ||
			 sqlerrcode == ERRCODE_UNDEFINED_OBJECT ||
			 state.conn == NULL)
		rows = add_row(rows, NULL, "connect", false, failure);
	else
	{
		rows = add_row(rows, NULL, "connect", true, NULL);
		rows = add_row(rows, NULL, "authenticate", true, NULL);
		rows = add_row(rows, NULL, "list collections", false, failure);
	}

	foreach(lc, state.colls)
	{
		ImportColl *coll = (ImportColl *) lfirst(lc);
		StringInfoData why;
		bool		unsure;
		char	   *index;

		CHECK_FOR_INTERRUPTS();

		if (filtered)
		{
			ListCell   *lc2;
			bool		wanted = false;

			foreach(lc2, only)
			{
				if (strcmp((char *) lfirst(lc2), coll->name) == 0)
				{
					wanted = true;
					only = foreach_delete_current(only, lc2);
				}
			}
			if (!wanted)
				continue;
		}

		if (!fauna_is_identifier(coll->name))
		{
			rows = add_row(rows, coll->name, "name", false,
						   "not an FQL identifier: cannot be imported");
			continue;
		}
		state.collection = coll->name;

		failure = run_guarded(check_read, &state, NULL);
		rows = add_row(rows, coll->name, "read", failure == NULL,
					   failure ? failure
					   : state.ndocs > 0 ? "read a document"
					   : "readable (no documents)");

		initStringInfo(&why);
		index = coll_ts_index(coll, &why, &unsure);
		if (index)
			rows = add_row(rows, coll->name, "ts index", true,
						   psprintf("%s (incremental reads on ts use it)", index));
		else
			rows = add_row(rows, coll->name, "ts index", false,
						   why.len > 0
						   ? psprintf("no index qualifies (%s): reads on ts scan the whole collection",
									  why.data)
						   : "no indexes: reads on ts scan the whole collection");

		/* FQL v4 has no event sources: its event tables read the events */
		failure = run_guarded(check_event_source, &state, NULL);
		if (state.api_version == 4)
			rows = add_row(rows, coll->name, "events", failure == NULL,
						   failure ? failure
						   : state.ndocs > 0 ? "read an event"
						   : "readable (no events)");
		else
			rows = add_row(rows, coll->name, "event source", failure == NULL,
						   failure ? failure : "event source created");
	}

	/* collections asked for but not listed (only if listing worked) */
	if (listed)
	{
		foreach(lc, only)
			rows = add_row(rows, (char *) lfirst(lc), "exists", false,
						   "no such collection");
	}

	foreach(lc, rows)
	{
		CheckRow   *row = (CheckRow *) lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (row->collection)
			values[0] = CStringGetTextDatum(row->collection);
		else
			nulls[0] = true;
		values[1] = CStringGetTextDatum(row->test);
		values[2] = BoolGetDatum(row->ok);
		if (row->detail)
			values[3] = CStringGetTextDatum(row->detail);
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	PG_RETURN_VOID();
}
