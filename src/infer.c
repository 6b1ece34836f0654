/*-------------------------------------------------------------------------
 *
 * infer.c
 *		  Typed columns inferred from a sample of a collection's documents:
 *		  IMPORT FOREIGN SCHEMA ... OPTIONS (infer 'n') and fauna_fdw_infer().
 *
 * Sampling reads at most n documents, never the whole collection.  With a
 * ts index (one that serves ts ranges, as index 'auto' picks it) the
 * sample is spread over the collection's history: the first of
 * FAUNA_INFER_SEGMENTS reads starts at the oldest document, the others at
 * evenly spaced times between its ts and the newest document's (found by
 * bisection with reads of one document), each taking
 * n / FAUNA_INFER_SEGMENTS documents in ts order with a range read of the
 * index (Coll.byTs({ from: t }) / Range(Match(Index(i)), [t], [])).
 * Without one, the first n documents in id order are read (Coll.all() /
 * Paginate(Documents(c))): both the bundled emulator and Fauna's core
 * serve these reads in O(n); id ranges (Collection.all({ from, to }))
 * would spread that case too but need the largest id first, which Fauna
 * offers no cheap way to find.  A document read twice (segments that
 * overlap) counts once.
 *
 * Each document's fields are walked with their Fauna types
 * (fauna_page_walk_fields: nothing is converted) into one statistic per
 * field path; the type rules turn a statistic into a column type and a
 * COMMENT saying what was seen.  Names are import.c's business
 * (fauna_import_name_columns), so that declared and inferred fields follow
 * the same folding, reserved-name and clash rules.
 *
 * The commands IMPORT FOREIGN SCHEMA returns may only be CREATE FOREIGN
 * TABLE, which cannot carry column comments: the comments are remembered
 * here and written by an object access hook when the core creates each
 * table (post-create of the relation, which sepgsql uses the same way),
 * matched by schema, name and kind.  What is not used by the end of the
 * (sub)transaction is forgotten.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

/* Reads a sample is spread over (with a ts index). */
#define FAUNA_INFER_SEGMENTS	8

/* Most one-document reads looking for the newest document's ts. */
#define FAUNA_INFER_MAX_PROBES	48

/* Longest field path kept (names joined by FAUNA_INFER_SEP). */
#define FAUNA_INFER_PATH_MAX	256

/* Joins the names of a path in a statistic's key: no identifier has it. */
#define FAUNA_INFER_SEP			'\x1f'

/* What was seen of one field path. */
typedef struct InferStat
{
	char		key[FAUNA_INFER_PATH_MAX];	/* hash key: names joined */
	int			depth;
	int64		present;		/* documents that have it (null included) */
	int64		kinds[FAUNA_NUM_KINDS]; /* values of each kind */
	uint32		elem_kinds;		/* arrays: kinds of their elements */
	bool		wide;			/* an integer a double cannot hold */
	char	   *coll;			/* document refs: their collection */
	bool		several_colls;	/* ... when they point into several */
} InferStat;

/* A sample being read. */
typedef struct Sampler
{
	FaunaConn  *conn;
	const char *collection;
	int			api_version;
	int			target;			/* documents wanted */
	int			depth;			/* infer_depth */
	int64		sampled;		/* documents walked */
	HTAB	   *stats;			/* InferStat by key */
	HTAB	   *ids;			/* ids already walked */
	MemoryContext cxt;			/* stats, ids */
} Sampler;

static const char *const kind_names[FAUNA_NUM_KINDS] = {
	[FAUNA_KIND_NULL] = "null",
	[FAUNA_KIND_BOOLEAN] = "boolean",
	[FAUNA_KIND_INT] = "int",
	[FAUNA_KIND_LONG] = "long",
	[FAUNA_KIND_DOUBLE] = "double",
	[FAUNA_KIND_STRING] = "string",
	[FAUNA_KIND_TIME] = "time",
	[FAUNA_KIND_DATE] = "date",
	[FAUNA_KIND_BYTES] = "bytes",
	[FAUNA_KIND_DOC] = "document ref",
	[FAUNA_KIND_ARRAY] = "array",
	[FAUNA_KIND_OBJECT] = "object",
	[FAUNA_KIND_OTHER] = "other"
};

#define KIND_BIT(k)		(1u << (k))
#define NUMBER_KINDS	(KIND_BIT(FAUNA_KIND_INT) | KIND_BIT(FAUNA_KIND_LONG) | \
						 KIND_BIT(FAUNA_KIND_DOUBLE))

/* fauna_page_walk_fields callback: count one field of one document. */
static void
count_field(void *arg, const FaunaFieldSeen *seen)
{
	Sampler    *s = (Sampler *) arg;
	char		key[FAUNA_INFER_PATH_MAX];
	size_t		len = 0;
	InferStat  *st;
	bool		found;

	for (int d = 0; d < seen->depth; d++)
	{
		size_t		n = strlen(seen->path[d]);

		if (len + n + 1 >= FAUNA_INFER_PATH_MAX)
			return;				/* too long to be a column name anyway */
		if (d > 0)
			key[len++] = FAUNA_INFER_SEP;
		memcpy(key + len, seen->path[d], n);
		len += n;
	}
	key[len] = '\0';

	st = hash_search(s->stats, key, HASH_ENTER, &found);
	if (!found)
	{
		memset((char *) st + FAUNA_INFER_PATH_MAX, 0,
			   sizeof(InferStat) - FAUNA_INFER_PATH_MAX);
		st->depth = seen->depth;
	}
	st->present++;
	st->kinds[seen->kind]++;
	st->elem_kinds |= seen->elem_kinds;
	st->wide |= seen->wide;
	if (seen->kind == FAUNA_KIND_DOC && seen->coll)
	{
		if (st->coll == NULL)
			st->coll = MemoryContextStrdup(s->cxt, seen->coll);
		else if (strcmp(st->coll, seen->coll) != 0)
			st->several_colls = true;
	}
}

/*
 * Read one page of the sample and walk its documents not seen yet, up to
 * the target.  Returns the number of documents on the page; *first_ts gets
 * the ts of its first document, *txn_ts the time of the read.
 */
static int
sample_page(Sampler *s, const FaunaQuerySpec *spec, bool walk,
			int64 *first_ts, int64 *txn_ts)
{
	MemoryContext page_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "fauna_fdw sample page",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt;
	FaunaRequestCounters counters;
	StringInfoData body;
	FaunaPage  *page;
	FaunaStats	stats;
	int			n;

	initStringInfo(&body);
	if (s->api_version == 4)
		fauna_fql_v4_page(spec, NULL, NULL, 0, &body, NULL);
	else
		fauna_fql_first_page(spec, NULL, &body, NULL);

	memset(&counters, 0, sizeof(counters));
	fauna_request_start(s->conn, body.data, s->collection, page_cxt);
	fauna_request_expect(s->conn, FAUNA_EXPECT_PAGE);
	page = fauna_request_wait(s->conn, &counters);
	n = fauna_page_count(page);

	memset(&stats, 0, sizeof(stats));
	fauna_page_stats(page, &stats);
	*txn_ts = stats.txn_ts;

	oldcxt = MemoryContextSwitchTo(page_cxt);
	for (int i = 0; i < n && (s->sampled < s->target || i == 0); i++)
	{
		const char *id = fauna_page_document_id(page, i);
		bool		found = false;

		if (i == 0)
		{
			bool		isnull;
			/* a time as µs since the Unix epoch */
			Datum		value = fauna_page_field(page, 0, FAUNA_PATH_TS, "ts",
												 INT8OID, &isnull);

			*first_ts = isnull ? 0 : DatumGetInt64(value);
		}
		if (id != NULL && walk)
		{
			char		key[NAMEDATALEN];

			strlcpy(key, id, sizeof(key));
			(void) hash_search(s->ids, key, HASH_ENTER, &found);
		}
		if (found || !walk || s->sampled >= s->target)
			continue;
		fauna_page_walk_fields(page, i, s->depth, count_field, s);
		s->sampled++;
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(page_cxt);
	pfree(body.data);
	return n;
}

/*
 * About the ts of the newest document, knowing one at lo and none after
 * hi (the time of the first read): a bisection with reads of one document
 * from a time (each one also moves lo up to the document it finds), until
 * what is left unknown is small next to the span known.  Documents need
 * not have been written up to now: without it, the segments of a
 * collection last written a year ago would all start after its newest
 * document and read nothing.
 */
static int64
newest_ts(Sampler *s, FaunaQuerySpec *spec, int64 first_ts, int64 hi)
{
	int64		lo = first_ts;
	int64		ignored;

	spec->page_size = 1;
	for (int probe = 0; probe < FAUNA_INFER_MAX_PROBES && hi - lo > 1 &&
		 hi - lo > (lo - first_ts) / FAUNA_INFER_SEGMENTS; probe++)
	{
		int64		found_ts = 0;
		int64		mid = lo + (hi - lo) / 2;

		CHECK_FOR_INTERRUPTS();
		spec->ts_range.lower = mid;
		if (sample_page(s, spec, false, &found_ts, &ignored) > 0 &&
			found_ts >= mid)
			lo = found_ts;
		else
			hi = mid;
	}
	return lo;
}

/* The statistics of up to target documents of the collection. */
static Sampler *
sample_collection(FaunaConn *conn, const char *collection, const char *ts_index,
				  int api_version, int target, int depth)
{
	Sampler    *s = palloc0(sizeof(Sampler));
	HASHCTL		ctl;
	FaunaQuerySpec spec;
	int			segments = Min(FAUNA_INFER_SEGMENTS, target);
	int			per_segment = (target + segments - 1) / segments;
	int64		first_ts = 0;
	int64		txn_ts = 0;
	int64		ignored;
	int64		last_ts;
	int			n;

	s->conn = conn;
	s->collection = collection;
	s->api_version = api_version;
	s->target = target;
	s->depth = depth;
	s->cxt = AllocSetContextCreate(CurrentMemoryContext, "fauna_fdw sample",
								   ALLOCSET_DEFAULT_SIZES);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = FAUNA_INFER_PATH_MAX;
	ctl.entrysize = sizeof(InferStat);
	ctl.hcxt = s->cxt;
	s->stats = hash_create("fauna_fdw inferred fields", 64, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = NAMEDATALEN;
	s->ids = hash_create("fauna_fdw sampled ids", target, &ctl,
						 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	memset(&spec, 0, sizeof(spec));
	spec.collection = (char *) collection;
	spec.paths = list_make2(makeString("ts"), makeString("data"));
	spec.limit = -1;
	spec.api_version = api_version;

	if (ts_index == NULL)
	{
		/* the first documents in id order */
		spec.page_size = target;
		(void) sample_page(s, &spec, true, &ignored, &ignored);
		return s;
	}

	/* the oldest documents */
	spec.ts_index = (char *) ts_index;
	spec.ts_range.has_lower = true;
	spec.ts_range.lower = 0;
	spec.page_size = per_segment;
	n = sample_page(s, &spec, true, &first_ts, &txn_ts);
	if (n < per_segment || txn_ts <= first_ts)
		return s;				/* that was the whole collection */

	/* then evenly spaced times up to the newest document's */
	last_ts = newest_ts(s, &spec, first_ts, txn_ts);
	spec.page_size = per_segment;
	for (int seg = 1; seg < segments && s->sampled < s->target; seg++)
	{
		CHECK_FOR_INTERRUPTS();
		spec.ts_range.lower = first_ts +
			(int64) ((double) (last_ts - first_ts) * seg / segments);
		(void) sample_page(s, &spec, true, &ignored, &ignored);
	}
	return s;
}

/* The PostgreSQL type of scalars of these kinds, or NULL. */
static const char *
scalar_type(uint32 kinds, bool wide)
{
	if (kinds == 0)
		return NULL;
	if ((kinds & ~NUMBER_KINDS) == 0)
	{
		if (kinds & KIND_BIT(FAUNA_KIND_DOUBLE))
			return (wide && (kinds & ~KIND_BIT(FAUNA_KIND_DOUBLE)))
				? "numeric" : "double precision";
		return (kinds & KIND_BIT(FAUNA_KIND_LONG)) ? "bigint" : "integer";
	}
	if (kinds == KIND_BIT(FAUNA_KIND_STRING))
		return "text";
	if (kinds == KIND_BIT(FAUNA_KIND_TIME))
		return "timestamp with time zone";
	if (kinds == KIND_BIT(FAUNA_KIND_DATE))
		return "date";
	if (kinds == KIND_BIT(FAUNA_KIND_BYTES))
		return "bytea";
	if (kinds == KIND_BIT(FAUNA_KIND_BOOLEAN))
		return "boolean";
	return NULL;
}

/* The kinds of non-null values seen, as bits. */
static uint32
stat_kinds(const InferStat *st)
{
	uint32		kinds = 0;

	for (int k = 0; k < FAUNA_NUM_KINDS; k++)
		if (k != FAUNA_KIND_NULL && st->kinds[k] > 0)
			kinds |= KIND_BIT(k);
	return kinds;
}

/* Is the statistic an object whose fields become columns of their own? */
static bool
stat_flattened(const InferStat *st, int max_depth)
{
	return st->depth < max_depth &&
		stat_kinds(st) == KIND_BIT(FAUNA_KIND_OBJECT);
}

/* "int 3, null 1; array elements: string" */
static char *
stat_seen(const InferStat *st)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < FAUNA_NUM_KINDS; k++)
	{
		if (st->kinds[k] == 0)
			continue;
		appendStringInfo(&buf, "%s%s " INT64_FORMAT, buf.len > 0 ? ", " : "",
						 kind_names[k], st->kinds[k]);
	}
	if (st->kinds[FAUNA_KIND_ARRAY] > 0)
	{
		bool		first = true;

		appendStringInfoString(&buf, "; array elements:");
		for (int k = 0; k < FAUNA_NUM_KINDS; k++)
		{
			if (!(st->elem_kinds & KIND_BIT(k)))
				continue;
			appendStringInfo(&buf, "%s %s", first ? "" : ",", kind_names[k]);
			first = false;
		}
		if (first)
			appendStringInfoString(&buf, " none");
	}
	return buf.data;
}

/* The column a statistic becomes (name left to fauna_import_name_columns). */
static FaunaImportColumn *
stat_column(const InferStat *st, int64 sampled)
{
	FaunaImportColumn *c = palloc0(sizeof(FaunaImportColumn));
	uint32		kinds = stat_kinds(st);
	const char *type = NULL;
	bool		ref = false;
	StringInfoData comment;
	char	   *p;

	c->path = pstrdup(st->key);
	for (p = c->path; *p; p++)
		if (*p == FAUNA_INFER_SEP)
			*p = '.';
	c->names = NIL;
	{
		char	   *copy = pstrdup(st->key);
		char	   *start = copy;

		for (p = copy;; p++)
		{
			if (*p == FAUNA_INFER_SEP || *p == '\0')
			{
				bool		end = (*p == '\0');

				*p = '\0';
				c->names = lappend(c->names, start);
				if (end)
					break;
				start = p + 1;
			}
		}
	}

	if (kinds == KIND_BIT(FAUNA_KIND_DOC))
	{
		type = "text";
		ref = true;
	}
	else if (kinds == KIND_BIT(FAUNA_KIND_ARRAY))
	{
		const char *elem = scalar_type(st->elem_kinds & ~KIND_BIT(FAUNA_KIND_NULL),
									   st->wide);

		if (elem)
			type = psprintf("%s[]", elem);
	}
	else
		type = scalar_type(kinds, st->wide);
	c->type = type ? type : "jsonb";
	c->option_path = ref ? psprintf("%s.id", c->path) : c->path;
	c->present = st->present;
	c->sampled = sampled;
	c->seen = stat_seen(st);

	initStringInfo(&comment);
	appendStringInfo(&comment,
					 "Inferred by fauna_fdw from a sample of " INT64_FORMAT
					 " documents: field %s present in " INT64_FORMAT " (%.1f%%); %s.",
					 sampled, c->path, st->present,
					 sampled > 0 ? 100.0 * st->present / sampled : 0.0,
					 c->seen);
	if (ref && st->several_colls)
		appendStringInfoString(&comment,
							   " Document references into several collections: the column holds their ids.");
	else if (ref)
		appendStringInfo(&comment,
						 " Document references to collection %s: the column holds their ids.",
						 st->coll ? st->coll : "?");
	c->comment = comment.data;
	return c;
}

static int
column_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((FaunaImportColumn *) lfirst(a))->path,
				  ((FaunaImportColumn *) lfirst(b))->path);
}

/*
 * The columns inferred from a sample of up to `sample` documents, sorted
 * by path, not named yet.  ts_index: the index to spread the sample with,
 * or NULL.
 */
List *
fauna_infer_columns(FaunaConn *conn, const char *collection,
					const char *ts_index, int api_version, int sample,
					int depth)
{
	Sampler    *s = sample_collection(conn, collection, ts_index, api_version,
									  sample, depth);
	HASH_SEQ_STATUS scan;
	InferStat  *st;
	List	   *columns = NIL;

	hash_seq_init(&scan, s->stats);
	while ((st = hash_seq_search(&scan)) != NULL)
	{
		bool		shown = !stat_flattened(st, depth);
		char		parent[FAUNA_INFER_PATH_MAX];
		char	   *sep;

		/* a column unless it is flattened or under a path not flattened */
		strlcpy(parent, st->key, sizeof(parent));
		while (shown && (sep = strrchr(parent, FAUNA_INFER_SEP)) != NULL)
		{
			InferStat  *up;

			*sep = '\0';
			up = hash_search(s->stats, parent, HASH_FIND, NULL);
			shown = (up != NULL && stat_flattened(up, depth));
		}
		if (shown)
			columns = lappend(columns, stat_column(st, s->sampled));
	}
	list_sort(columns, column_cmp);

	/* the columns are in the caller's context; an import samples many */
	MemoryContextDelete(s->cxt);
	pfree(s);
	return columns;
}

/* ----------------------------------------------------------------
 * Column comments of IMPORT FOREIGN SCHEMA
 * ----------------------------------------------------------------
 */

typedef struct PendingComments
{
	Oid			nspid;
	char	   *relname;
	List	   *columns;		/* FaunaImportColumn *, attnum order */
	AttrNumber	first_attnum;	/* of the first of them */
} PendingComments;

static List *pending_comments = NIL;	/* in TopTransactionContext */
static bool comment_hook_installed = false;
static object_access_hook_type prev_object_access_hook = NULL;

static void
forget_comments(void)
{
	pending_comments = NIL;		/* the memory goes with the transaction */
}

static void
comments_xact_callback(XactEvent event, void *arg)
{
	forget_comments();
}

static void
comments_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_comments();
}

/* Write the comments remembered for a relation the core just created. */
static void
comment_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access != OAT_POST_CREATE || classId != RelationRelationId ||
		subId != 0 || pending_comments == NIL)
		return;

	{
		/* the relcache entry is built before the hook is called */
		Relation	rel = RelationIdGetRelation(objectId);
		ListCell   *lc;

		if (rel == NULL)
			return;
		if (rel->rd_rel->relkind != RELKIND_FOREIGN_TABLE)
		{
			RelationClose(rel);
			return;
		}
		foreach(lc, pending_comments)
		{
			PendingComments *pc = (PendingComments *) lfirst(lc);
			AttrNumber	attnum = pc->first_attnum;
			ListCell   *lc2;

			if (pc->nspid != rel->rd_rel->relnamespace ||
				strcmp(pc->relname, NameStr(rel->rd_rel->relname)) != 0)
				continue;
			foreach(lc2, pc->columns)
			{
				FaunaImportColumn *c = (FaunaImportColumn *) lfirst(lc2);

				if (c->comment && attnum <= RelationGetNumberOfAttributes(rel))
					CreateComments(objectId, RelationRelationId, attnum,
								   c->comment);
				attnum++;
			}
			pending_comments = foreach_delete_current(pending_comments, lc);
			break;
		}
		RelationClose(rel);
	}
}

/*
 * Remember the comments of the columns of a table IMPORT is about to
 * create: columns[0] is attribute first_attnum of schema.relname.
 */
void
fauna_infer_remember_comments(const char *schema, const char *relname,
							  List *columns, AttrNumber first_attnum)
{
	MemoryContext oldcxt;
	PendingComments *pc;
	ListCell   *lc;

	foreach(lc, columns)
	{
		if (((FaunaImportColumn *) lfirst(lc))->comment != NULL)
			break;
	}
	if (lc == NULL)
		return;					/* no comment to write */
	if (!comment_hook_installed)
	{
		prev_object_access_hook = object_access_hook;
		object_access_hook = comment_object_access;
		RegisterXactCallback(comments_xact_callback, NULL);
		RegisterSubXactCallback(comments_subxact_callback, NULL);
		comment_hook_installed = true;
	}

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	pc = palloc0(sizeof(PendingComments));
	pc->nspid = get_namespace_oid(schema, false);
	pc->relname = pstrdup(relname);
	pc->first_attnum = first_attnum;
	foreach(lc, columns)
	{
		FaunaImportColumn *src = (FaunaImportColumn *) lfirst(lc);
		FaunaImportColumn *c = palloc0(sizeof(FaunaImportColumn));

		c->comment = src->comment ? pstrdup(src->comment) : NULL;
		pc->columns = lappend(pc->columns, c);
	}
	pending_comments = lappend(pending_comments, pc);
	MemoryContextSwitchTo(oldcxt);
}

/* ----------------------------------------------------------------
 * fauna_fdw_infer(server name, collection text, sample int, depth int)
 * ----------------------------------------------------------------
 */

/* The ts index of a v10 collection, as index 'auto' finds it; ERROR if none. */
static char *
v10_ts_index(FaunaConn *conn, const char *collection)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "fauna_fdw infer indexes",
											  ALLOCSET_SMALL_SIZES);
	FaunaRequestCounters counters;
	StringInfoData body;
	FaunaPage  *page;
	Datum		value;
	bool		isnull;
	char	   *index = NULL;
	bool		building;

	initStringInfo(&body);
	fauna_fql_collection_indexes(collection, &body);
	memset(&counters, 0, sizeof(counters));
	fauna_request_start(conn, body.data, collection, cxt);
	page = fauna_request_wait(conn, &counters);
	if (fauna_page_count(page) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("collection \"%s\" does not exist", collection)));
	value = fauna_page_field(page, 0, FAUNA_PATH_FIELD, "indexes", JSONBOID, &isnull);
	if (!isnull)
		index = fauna_v10_first_ts_index(DatumGetJsonbP(value), NULL, &building);
	index = index ? pstrdup(index) : NULL;
	MemoryContextDelete(cxt);
	pfree(body.data);
	return index;
}

/* ERROR unless 1 <= value <= max */
void
fauna_infer_check_value(const char *what, int value, int max)
{
	if (value < 1 || value > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d", what, max),
				 errdetail("The value given is %d.", value)));
}

PG_FUNCTION_INFO_V1(fauna_fdw_infer);

/*
 * fauna_fdw_infer(server name, collection text, sample int, depth int)
 *	 RETURNS TABLE (column_name text, column_type text, path text,
 *					present bigint, sampled bigint, seen text, comment text)
 *
 * The columns IMPORT FOREIGN SCHEMA ... OPTIONS (infer, infer_depth) would
 * add for one collection, with what was seen, creating nothing.
 */
Datum
fauna_fdw_infer(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *servername = NameStr(*PG_GETARG_NAME(0));
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			sample = PG_GETARG_INT32(2);
	int			depth = PG_NARGS() > 3 ? PG_GETARG_INT32(3) : 1;
	ForeignServer *server = fauna_server_for_use(servername);
	FaunaServerOptions sopts;
	UserMapping *user;
	FaunaConn  *conn;
	char	   *ts_index;
	List	   *columns;
	ListCell   *lc;

	fauna_infer_check_value("sample", sample, FAUNA_INFER_MAX_SAMPLE);
	fauna_infer_check_value("depth", depth, FAUNA_WALK_MAX_DEPTH);
	if (!fauna_is_identifier(collection))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("collection name \"%s\" is not an FQL identifier",
						collection)));

	fauna_get_server_options(server, &sopts);
	user = GetUserMapping(GetUserId(), server->serverid);
	conn = fauna_get_connection(user, server);
	ts_index = sopts.api_version == 4
		? fauna_v4_ts_index(user, server, collection, sopts.page_size)
		: v10_ts_index(conn, collection);
	columns = fauna_infer_columns(conn, collection, ts_index,
								  sopts.api_version, sample, depth);
	columns = fauna_import_name_columns(collection, columns, NIL);

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, columns)
	{
		FaunaImportColumn *c = (FaunaImportColumn *) lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = CStringGetTextDatum(c->colname);
		values[1] = CStringGetTextDatum(c->type);
		values[2] = CStringGetTextDatum(c->option_path);
		values[3] = Int64GetDatum(c->present);
		values[4] = Int64GetDatum(c->sampled);
		values[5] = CStringGetTextDatum(c->seen);
		values[6] = CStringGetTextDatum(c->comment);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
