/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  Planner and executor callbacks of fauna_fdw's foreign scans.
 *
 * Planning decides which quals Fauna evaluates (equality of the document
 * id with a constant or parameter, sent as Coll.byId(...) for canonical
 * ids only; ts ranges, read from the index indexes.c picks) and which
 * columns to project; everything else is filtered locally.  The decision
 * lives in classify_qual() alone.  A plan whose index came from Fauna
 * through the user mapping depends on the role.  A constant LIMIT goes to
 * Fauna only when no qual stays local and Fauna's order is the one asked
 * for (faunaGetForeignUpperPaths).
 *
 * Execution reads the result page by page: one FaunaPage at a time lives in
 * a memory context reset before each request, and each tuple is converted
 * in a context reset per tuple, so a scan's memory is bounded by a page
 * whatever the collection's size.  Any failure raises an ERROR: a
 * statement never returns a partial result as if complete.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fauna_fdw.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

/* Planner cost constants: a request costs a network round trip. */
#define FAUNA_STARTUP_COST		100.0
#define FAUNA_PAGE_COST			100.0
#define FAUNA_ROW_COST			(2 * cpu_tuple_cost)

/* Indexes into ForeignScan.fdw_private. */
enum FaunaScanPrivateIndex
{
	FdwScanPrivateCollection,	/* String */
	FdwScanPrivatePageSize,		/* Integer */
	FdwScanPrivatePaths,		/* List of String: projected paths */
	FdwScanPrivateRetrievedAttrs,	/* IntList: attnums filled from Fauna */
	FdwScanPrivateById,			/* Integer (bool): fdw_exprs[0] is the id */
	FdwScanPrivateExplain,		/* String: the FQL with $n for values */
	FdwScanPrivateTsOps,		/* IntList: FaunaTsOp of each fdw_exprs */
	FdwScanPrivateTsIndex,		/* String: ts index, "" for none */
	FdwScanPrivateUnindexed,	/* Integer (bool): ts bounds filter a full
								 * scan, for lack of a ts index */
	FdwScanPrivateLimit,		/* Integer: pushed LIMIT, -1 for none */
	FdwScanPrivateOffset		/* Integer: pushed OFFSET */
};

/* Indexes into the fdw_private of a pushed-down LIMIT's ForeignPath. */
enum FaunaLimitPathPrivateIndex
{
	FdwLimitPathCount,			/* Integer: LIMIT */
	FdwLimitPathOffset			/* Integer: OFFSET */
};

/* How Fauna can evaluate a qual (see classify_qual). */
typedef enum FaunaQualKind
{
	FAUNA_QUAL_LOCAL,			/* filtered by PostgreSQL */
	FAUNA_QUAL_ID_EQ,			/* id = value: Coll.byId(value) */
	FAUNA_QUAL_TS				/* ts <op> value: a range of ts */
} FaunaQualKind;

/* The comparison of a pushed ts qual, with ts on the left. */
typedef enum FaunaTsOp
{
	FAUNA_TS_LT,
	FAUNA_TS_LE,
	FAUNA_TS_EQ,
	FAUNA_TS_GE,
	FAUNA_TS_GT
} FaunaTsOp;

/* Fauna times span years 1..9999; bounds outside are open or empty. */
#define FAUNA_MIN_TIME_US	INT64CONST(-62135596800000000)	/* 0001-01-01 */
#define FAUNA_MAX_TIME_US	INT64CONST(253402300799999999)	/* 9999-12-31 */

/* Planner state of a foreign base relation (baserel->fdw_private). */
typedef struct FaunaRelInfo
{
	FaunaTableOptions opts;
	int			natts;
	FaunaPathKind *kinds;		/* per attribute, index attnum - 1 */
	char	  **paths;			/* per attribute: path text, NULL if
								 * dropped */
	RestrictInfo *id_qual;		/* the pushed id equality, or NULL */
	Expr	   *id_expr;		/* its value side */
	List	   *ts_quals;		/* pushed ts comparisons (RestrictInfo) */
	List	   *ts_exprs;		/* their value sides */
	List	   *ts_ops;			/* their FaunaTsOp */
	char	   *ts_index;		/* index to read ts ranges from, or NULL */
	List	   *local_conds;	/* RestrictInfos evaluated locally */
	int			api_version;	/* of the server: 10, or 4 (fql_v4.c) */
} FaunaRelInfo;

/*
 * Planner state of the final upper relation when a LIMIT is pushed down
 * (output_rel->fdw_private): the one base relation the query scans.
 */
typedef struct FaunaUpperInfo
{
	RelOptInfo *baserel;
} FaunaUpperInfo;

/*
 * Reads a query's pages one after the other.  Shared by scans and ANALYZE.
 */
typedef struct FaunaReader
{
	FaunaConn  *conn;			/* this reader's own handle */
	const char *collection;
	MemoryContext page_cxt;		/* the current page */
	MemoryContext next_cxt;		/* the page being fetched */
	bool		in_flight;		/* the request in body was started */
	bool		prefetch;		/* start the next page's request early */
	StringInfoData body;		/* the next request */
	FaunaPage  *page;
	int			count;			/* elements in page */
	int			next;			/* next element to return */
	bool		more;			/* another page can be requested */
	int64		limit;			/* rows wanted at most (a pushed LIMIT), or
								 * -1: no page is requested beyond them */
	int64		returned;		/* rows returned since reader_start() */
	FaunaRequestCounters counters;
	FaunaStats	totals;
	int64		documents;
	const FaunaQuerySpec *v4;	/* FQL v4: the query, to page through */
	int64		v4_snapshot;	/* FQL v4: the first page's txn time */
	int64		snapshot_ts;	/* the first page's txn time (µs), 0 before */
	FaunaExpect expect;			/* what the query answers: pages, or (byId)
								 * one document or null */
	char	   *guessed_after;	/* the cursor the request in flight was
								 * started with before its page was parsed */
	int64		guesses_abandoned;	/* requests of wrong guesses */
} FaunaReader;

/* Executor state of a scan (node->fdw_state). */
typedef struct FaunaScanState
{
	FaunaQuerySpec spec;
	ExprState  *id_state;		/* when spec.by_id */
	List	   *ts_states;		/* ExprStates of the ts bounds */
	List	   *ts_ops;			/* their FaunaTsOp */
	FaunaColumn *columns;
	int			ncolumns;
	FaunaReader reader;
	bool		started;
	MemoryContext tuple_cxt;	/* reset per tuple */
	bool		explain_only;
	FaunaEventScan *events;		/* an event table's scan (events.c) */
	char		lookup_id[20];	/* spec.by_id: the canonical id sent */
} FaunaScanState;

static void faunaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid);
static void faunaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
static void faunaGetForeignUpperPaths(PlannerInfo *root,
									  UpperRelationKind stage,
									  RelOptInfo *input_rel,
									  RelOptInfo *output_rel,
									  void *extra);
static ForeignScan *faunaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
										Oid foreigntableid, ForeignPath *best_path,
										List *tlist, List *scan_clauses,
										Plan *outer_plan);
static void faunaBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *faunaIterateForeignScan(ForeignScanState *node);
static void faunaReScanForeignScan(ForeignScanState *node);
static void faunaEndForeignScan(ForeignScanState *node);
static void faunaExplainForeignScan(ForeignScanState *node, ExplainState *es);
static bool faunaAnalyzeForeignTable(Relation relation,
									 AcquireSampleRowsFunc *func,
									 BlockNumber *totalpages);

void
fauna_scan_set_routines(FdwRoutine *routine)
{
	routine->GetForeignRelSize = faunaGetForeignRelSize;
	routine->GetForeignPaths = faunaGetForeignPaths;
	routine->GetForeignPlan = faunaGetForeignPlan;
	routine->GetForeignUpperPaths = faunaGetForeignUpperPaths;
	routine->BeginForeignScan = faunaBeginForeignScan;
	routine->IterateForeignScan = faunaIterateForeignScan;
	routine->ReScanForeignScan = faunaReScanForeignScan;
	routine->EndForeignScan = faunaEndForeignScan;
	routine->ExplainForeignScan = faunaExplainForeignScan;
	routine->AnalyzeForeignTable = faunaAnalyzeForeignTable;
}

/* ----------------------------------------------------------------
 * Column paths
 * ----------------------------------------------------------------
 */

/* The projection text of a path: reserved name or dotted field. */
static char *
path_text(FaunaPathKind kind, char **field_path, int depth)
{
	StringInfoData buf;
	int			i;

	switch (kind)
	{
		case FAUNA_PATH_ID:
			return pstrdup("id");
		case FAUNA_PATH_TS:
			return pstrdup("ts");
		case FAUNA_PATH_TTL:
			return pstrdup("ttl");
		case FAUNA_PATH_COLL:
			return pstrdup("coll");
		case FAUNA_PATH_DATA:
			return pstrdup("data");
		case FAUNA_PATH_ACTION:
			return pstrdup("action");
		case FAUNA_PATH_FIELD:
			break;
	}
	initStringInfo(&buf);
	for (i = 0; i < depth; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? "." : "", field_path[i]);
	return buf.data;
}

/*
 * Build the FaunaColumns of the given attributes, once per scan, so that
 * no catalog access happens per row.
 */
static FaunaColumn *
build_columns(Relation rel, List *attnums, int *ncolumns)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	FaunaColumn *columns = palloc0(sizeof(FaunaColumn) * Max(list_length(attnums), 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, attnums)
	{
		AttrNumber	attnum = lfirst_int(lc);
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
		FaunaColumn *col = &columns[n++];

		col->attnum = attnum;
		col->attname = pstrdup(NameStr(att->attname));
		fauna_column_path(RelationGetRelid(rel), attnum, col->attname,
						  &col->kind, &col->field_path, &col->field_depth);
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		fauna_column_prepare(col);
	}
	*ncolumns = n;
	return columns;
}

/* ----------------------------------------------------------------
 * FQL v4 hooks (api_version '4': the query comes from fql_v4.c)
 * ----------------------------------------------------------------
 */

/* The api_version of a foreign table's server. */
static int
scan_api_version(Oid relid)
{
	FaunaServerOptions sopts;

	fauna_get_server_options(GetForeignServer(GetForeignTable(relid)->serverid),
							 &sopts);
	return sopts.api_version;
}

/* The first request of a scan (and its EXPLAIN text), by api_version. */
static void
scan_first_page(const FaunaQuerySpec *spec, const char *id, StringInfo body,
				StringInfo explain)
{
	if (spec->api_version == 4)
		fauna_fql_v4_page(spec, id, NULL, 0, body, explain);
	else
		fauna_fql_first_page(spec, id, body, explain);
}

/* ----------------------------------------------------------------
 * Planning
 * ----------------------------------------------------------------
 */

/*
 * Is expr usable as a value computed before the scan: no Vars of any
 * relation, nothing volatile?  Consts, external params, executor params
 * (InitPlans) and stable expressions such as now() qualify.
 */
static bool
is_scan_constant(Expr *expr)
{
	return !contain_var_clause((Node *) expr) &&
		!contain_volatile_functions((Node *) expr) &&
		!contain_subplans((Node *) expr);
}

/* The column of this rel that expr is (through a binary-compatible cast). */
static int
column_of(Expr *expr, RelOptInfo *baserel)
{
	while (expr && IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	if (expr && IsA(expr, Var))
	{
		Var		   *var = (Var *) expr;

		if (var->varno == (int) baserel->relid && var->varlevelsup == 0 &&
			var->varattno > 0)
			return var->varattno;
	}
	return 0;
}

/*
 * Does "id column = value" select exactly the document whose id is the
 * value's text?  For text and integer columns, when text equality is
 * bytewise: a nondeterministic collation may find other strings equal
 * (fullwidth digits, say), which a lookup by id would miss.
 */
static bool
id_equality_is_exact(OpExpr *op, Oid coltype)
{
	if (coltype == INT8OID || coltype == INT4OID || coltype == INT2OID)
		return true;
	if (coltype != TEXTOID && coltype != VARCHAROID)
		return false;
	return !OidIsValid(op->inputcollid) ||
		get_collation_isdeterministic(op->inputcollid);
}

/*
 * Decide whether Fauna can evaluate a qual, and if so return the value side
 * in *value.  The single place where pushdown rules live.
 *
 * id equality: a built-in "=" between the id column (text or an integer
 * type) and a scan constant.  The value is converted to text at execution
 * time and sent as a template value to Coll.byId().
 */
static FaunaQualKind
classify_qual(RestrictInfo *rinfo, RelOptInfo *baserel, FaunaRelInfo *fpinfo,
			  Expr **value, FaunaTsOp *tsop)
{
	OpExpr	   *op;
	Expr	   *left;
	Expr	   *right;
	int			attno;
	char	   *opname;
	bool		swapped = false;

	*value = NULL;
	if (rinfo->pseudoconstant || !IsA(rinfo->clause, OpExpr))
		return FAUNA_QUAL_LOCAL;
	op = (OpExpr *) rinfo->clause;
	if (list_length(op->args) != 2 || op->opno >= FirstNormalObjectId)
		return FAUNA_QUAL_LOCAL;

	left = linitial(op->args);
	right = lsecond(op->args);
	attno = column_of(left, baserel);
	if (attno == 0 || !is_scan_constant(right))
	{
		Expr	   *tmp = left;

		left = right;
		right = tmp;
		swapped = true;
		attno = column_of(left, baserel);
		if (attno == 0 || !is_scan_constant(right))
			return FAUNA_QUAL_LOCAL;
	}
	if (attno > fpinfo->natts || fpinfo->paths[attno - 1] == NULL)
		return FAUNA_QUAL_LOCAL;

	opname = get_opname(op->opno);
	if (opname == NULL)
		return FAUNA_QUAL_LOCAL;

	if (fpinfo->kinds[attno - 1] == FAUNA_PATH_ID && strcmp(opname, "=") == 0)
	{
		if (id_equality_is_exact(op, exprType((Node *) left)))
		{
			*value = right;
			return FAUNA_QUAL_ID_EQ;
		}
	}

	/*
	 * ts comparisons: the column as timestamptz or bigint (microseconds),
	 * compared with a value of the same type, so that the operator is the
	 * plain ordering of time.  "value < ts" is "ts > value".
	 */
	if (fpinfo->kinds[attno - 1] == FAUNA_PATH_TS)
	{
		Oid			coltype = exprType((Node *) left);
		int			i;
		static const struct
		{
			const char *name;
			FaunaTsOp	op;
			FaunaTsOp	commuted;
		}			ops[] = {
			{"<", FAUNA_TS_LT, FAUNA_TS_GT},
			{"<=", FAUNA_TS_LE, FAUNA_TS_GE},
			{"=", FAUNA_TS_EQ, FAUNA_TS_EQ},
			{">=", FAUNA_TS_GE, FAUNA_TS_LE},
			{">", FAUNA_TS_GT, FAUNA_TS_LT},
		};

		if ((coltype != TIMESTAMPTZOID && coltype != INT8OID) ||
			exprType((Node *) right) != coltype)
			return FAUNA_QUAL_LOCAL;
		/* timestamptz(p) values are rounded: Fauna would compare others */
		if (coltype == TIMESTAMPTZOID &&
			exprTypmod((Node *) left) >= 0 &&
			exprTypmod((Node *) left) < MAX_TIMESTAMP_PRECISION)
			return FAUNA_QUAL_LOCAL;
		for (i = 0; i < (int) lengthof(ops); i++)
		{
			if (strcmp(opname, ops[i].name) == 0)
			{
				*tsop = swapped ? ops[i].commuted : ops[i].op;
				*value = right;
				return FAUNA_QUAL_TS;
			}
		}
	}

	return FAUNA_QUAL_LOCAL;
}

/*
 * The shape of the ts range of the pushed quals, for planning and EXPLAIN:
 * which bounds exist and whether they are strict.  With several quals on
 * one side, the executor keeps the tightest; the plan shows a strict bound
 * if any of them is strict.
 */
static void
ts_range_shape(List *ts_ops, FaunaTsRange *range)
{
	ListCell   *lc;

	memset(range, 0, sizeof(FaunaTsRange));
	foreach(lc, ts_ops)
	{
		FaunaTsOp	op = (FaunaTsOp) lfirst_int(lc);

		if (op == FAUNA_TS_GT || op == FAUNA_TS_GE || op == FAUNA_TS_EQ)
		{
			range->has_lower = true;
			range->lower_strict |= (op == FAUNA_TS_GT);
		}
		if (op == FAUNA_TS_LT || op == FAUNA_TS_LE || op == FAUNA_TS_EQ)
		{
			range->has_upper = true;
			range->upper_strict |= (op == FAUNA_TS_LT);
		}
	}
}

/*
 * Resolve table options and column paths, split the quals, estimate rows.
 * Without a "rows" option or ANALYZE, a table is assumed to hold
 * FAUNA_DEFAULT_ROWS documents.
 */
static void
faunaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	FaunaRelInfo *fpinfo = palloc0(sizeof(FaunaRelInfo));
	Relation	rel;
	TupleDesc	tupdesc;
	ListCell   *lc;
	double		tuples;
	int			i;

	baserel->fdw_private = fpinfo;
	fauna_get_table_options(foreigntableid, &fpinfo->opts);
	fpinfo->api_version = scan_api_version(foreigntableid);
	fauna_check_collection_name(fpinfo->opts.collection, fpinfo->api_version,
								get_rel_name(foreigntableid));

	rel = table_open(foreigntableid, NoLock);
	tupdesc = RelationGetDescr(rel);
	fpinfo->natts = tupdesc->natts;
	fpinfo->kinds = palloc0(sizeof(FaunaPathKind) * Max(tupdesc->natts, 1));
	fpinfo->paths = palloc0(sizeof(char *) * Max(tupdesc->natts, 1));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		char	  **field_path;
		int			depth;

		if (att->attisdropped)
			continue;
		fauna_column_path(foreigntableid, i + 1, NameStr(att->attname),
						  &fpinfo->kinds[i], &field_path, &depth);
		fpinfo->paths[i] = path_text(fpinfo->kinds[i], field_path, depth);
	}
	table_close(rel, NoLock);

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		FaunaTsOp	tsop;

		switch (classify_qual(rinfo, baserel, fpinfo, &value, &tsop))
		{
			case FAUNA_QUAL_ID_EQ:
				if (fpinfo->id_qual == NULL && !fpinfo->opts.events)
				{
					fpinfo->id_qual = rinfo;
					fpinfo->id_expr = value;
					continue;
				}
				break;
			case FAUNA_QUAL_TS:
				fpinfo->ts_quals = lappend(fpinfo->ts_quals, rinfo);
				fpinfo->ts_exprs = lappend(fpinfo->ts_exprs, value);
				fpinfo->ts_ops = lappend_int(fpinfo->ts_ops, tsop);
				continue;
			case FAUNA_QUAL_LOCAL:
				break;
		}
		fpinfo->local_conds = lappend(fpinfo->local_conds, rinfo);
	}

	/* byId reads one document: ts quals are simply checked locally */
	if (fpinfo->id_qual && fpinfo->ts_quals)
	{
		fpinfo->local_conds = list_concat(fpinfo->local_conds, fpinfo->ts_quals);
		fpinfo->ts_quals = fpinfo->ts_exprs = fpinfo->ts_ops = NIL;
	}

	if (fpinfo->ts_quals && !fpinfo->opts.events)
	{
		Oid			userid = OidIsValid(baserel->userid) ? baserel->userid : GetUserId();
		bool		asked_fauna;

		fpinfo->ts_index = fauna_scan_ts_index(foreigntableid, userid,
											   &fpinfo->opts,
											   fpinfo->api_version,
											   &asked_fauna);

		/*
		 * The index found depends on the database and privileges of the
		 * user mapping's key: a cached plan must not serve another role
		 * (as postgres_fdw does for what depends on the user mapping).
		 */
		if (asked_fauna)
			root->glob->dependsOnRole = true;
	}

	/* FQL v4 narrows by ts only over a [ts, ref] index; else filter here */
	if (fpinfo->api_version == 4 && fpinfo->ts_quals && fpinfo->ts_index == NULL &&
		!fpinfo->opts.events)
	{
		fpinfo->local_conds = list_concat(fpinfo->local_conds, fpinfo->ts_quals);
		fpinfo->ts_quals = fpinfo->ts_exprs = fpinfo->ts_ops = NIL;
	}

	if (fpinfo->opts.rows >= 0)
		tuples = fpinfo->opts.rows;
	else if (baserel->tuples >= 0)
		tuples = baserel->tuples;	/* from ANALYZE */
	else
		tuples = FAUNA_DEFAULT_ROWS;
	if (fpinfo->id_qual)
		tuples = Min(tuples, 1.0);

	baserel->tuples = tuples;
	baserel->rows = clamp_row_est(tuples *
								  clauselist_selectivity(root, baserel->baserestrictinfo,
														 baserel->relid,
														 JOIN_INNER, NULL));
}

/*
 * If rinfo is "id column = value" where value depends on other relations
 * only (a join clause), return value: the qual can be evaluated by byId
 * once per outer row in a parameterized scan.
 */
static Expr *
id_join_value(PlannerInfo *root, RestrictInfo *rinfo, RelOptInfo *baserel,
			  FaunaRelInfo *fpinfo)
{
	OpExpr	   *op;
	int			side;

	if (rinfo->pseudoconstant || !IsA(rinfo->clause, OpExpr))
		return NULL;
	op = (OpExpr *) rinfo->clause;
	if (list_length(op->args) != 2 || op->opno >= FirstNormalObjectId)
		return NULL;
	if (strcmp(get_opname(op->opno), "=") != 0)
		return NULL;

	for (side = 0; side < 2; side++)
	{
		Expr	   *col = (Expr *) list_nth(op->args, side);
		Expr	   *other = (Expr *) list_nth(op->args, 1 - side);
		int			attno = column_of(col, baserel);
		Oid			coltype;

		if (attno == 0 || attno > fpinfo->natts ||
			fpinfo->paths[attno - 1] == NULL ||
			fpinfo->kinds[attno - 1] != FAUNA_PATH_ID)
			continue;
		coltype = exprType((Node *) col);
		if (!id_equality_is_exact(op, coltype))
			continue;
		if (bms_is_member(baserel->relid, pull_varnos(root, (Node *) other)) ||
			contain_volatile_functions((Node *) other) ||
			contain_subplans((Node *) other))
			continue;
		return other;
	}
	return NULL;
}

/* Which column an equivalence-class member must be (see below). */
typedef struct IdEcArg
{
	Index		relid;
	AttrNumber	attno;
} IdEcArg;

static bool
ec_member_is_column(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					EquivalenceMember *em, void *arg)
{
	IdEcArg    *target = (IdEcArg *) arg;
	Expr	   *expr = em->em_expr;

	while (expr && IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	return expr && IsA(expr, Var) &&
		((Var *) expr)->varno == (int) target->relid &&
		((Var *) expr)->varlevelsup == 0 &&
		((Var *) expr)->varattno == target->attno;
}

/*
 * Parameterized paths for "ref = outer.column": a nested loop can then
 * look each outer row's document up with Coll.byId instead of reading the
 * whole collection.  Such equalities usually live in equivalence classes,
 * the others in joininfo.
 */
static void
add_id_param_paths(PlannerInfo *root, RelOptInfo *baserel, FaunaRelInfo *fpinfo)
{
	List	   *clauses = NIL;
	ListCell   *lc;
	int			i;

	foreach(lc, baserel->joininfo)
		clauses = lappend(clauses, lfirst(lc));
	for (i = 1; i <= fpinfo->natts; i++)
	{
		IdEcArg		arg;

		if (fpinfo->paths[i - 1] == NULL || fpinfo->kinds[i - 1] != FAUNA_PATH_ID)
			continue;
		arg.relid = baserel->relid;
		arg.attno = i;
		clauses = list_concat(clauses,
							  generate_implied_equalities_for_column(root, baserel,
																	 ec_member_is_column,
																	 &arg,
																	 baserel->lateral_referencers));
	}

	foreach(lc, clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		Relids		required_outer;
		ParamPathInfo *param_info;
		Cost		startup_cost = FAUNA_STARTUP_COST;

		if (!join_clause_is_movable_to(rinfo, baserel) ||
			id_join_value(root, rinfo, baserel, fpinfo) == NULL)
			continue;
		required_outer = bms_union(rinfo->clause_relids, baserel->lateral_relids);
		required_outer = bms_del_member(required_outer, baserel->relid);
		if (bms_is_empty(required_outer))
			continue;
		param_info = get_baserel_parampathinfo(root, baserel, required_outer);
		add_path(baserel, (Path *)
				 create_foreignscan_path(root, baserel, NULL,
										 param_info->ppi_rows,
										 startup_cost,
										 startup_cost + FAUNA_PAGE_COST + FAUNA_ROW_COST,
										 NIL, required_outer, NULL, NIL));
	}
}

/*
 * The order Fauna returns rows in, as pathkeys: ts ascending when the scan
 * reads a ts index (index order is ts, then id; the executor reads the
 * whole index when the bounds turn out infinite) or an event feed (events
 * come in transaction order); else none (Coll.all() is in id order).
 * Only when the query wants that order (no new equivalence class).
 */
static List *
ts_order_pathkeys(PlannerInfo *root, RelOptInfo *baserel, FaunaRelInfo *fpinfo)
{
	Relation	rel;
	TupleDesc	tupdesc;
	TypeCacheEntry *tce;
	Var		   *var;
	int			i;

	if (fpinfo->id_qual != NULL || root->query_pathkeys == NIL)
		return NIL;
	if (!fpinfo->opts.events && (fpinfo->ts_index == NULL || fpinfo->ts_quals == NIL))
		return NIL;
	for (i = 1; i <= fpinfo->natts; i++)
		if (fpinfo->paths[i - 1] != NULL && fpinfo->kinds[i - 1] == FAUNA_PATH_TS)
			break;
	if (i > fpinfo->natts)
		return NIL;

	rel = table_open(root->simple_rte_array[baserel->relid]->relid, NoLock);
	tupdesc = RelationGetDescr(rel);
	var = makeVar(baserel->relid, i, TupleDescAttr(tupdesc, i - 1)->atttypid,
				  TupleDescAttr(tupdesc, i - 1)->atttypmod, InvalidOid, 0);
	table_close(rel, NoLock);
	if (var->vartype != TIMESTAMPTZOID && var->vartype != INT8OID)
		return NIL;
	tce = lookup_type_cache(var->vartype, TYPECACHE_LT_OPR);
	if (!OidIsValid(tce->lt_opr))
		return NIL;
	return build_expression_pathkey(root, (Expr *) var, NULL, tce->lt_opr,
									baserel->relids, false);
}

/*
 * The plain path, plus parameterized byId paths for joins on the id.
 * Fauna returns rows in no order the planner can use.
 */
static void
faunaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					 Oid foreigntableid)
{
	FaunaRelInfo *fpinfo = (FaunaRelInfo *) baserel->fdw_private;
	double		fetched;
	double		pages;
	Cost		startup_cost = FAUNA_STARTUP_COST;
	Cost		total_cost;

	/* documents Fauna sends: narrowed by the pushed quals only */
	if (fpinfo->id_qual)
		fetched = 1;
	else
		fetched = clamp_row_est(baserel->tuples *
								clauselist_selectivity(root, fpinfo->ts_quals,
													   baserel->relid,
													   JOIN_INNER, NULL));
	pages = Max(1.0, ceil(fetched / fpinfo->opts.page_size));
	total_cost = startup_cost + pages * FAUNA_PAGE_COST + fetched * FAUNA_ROW_COST;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 startup_cost, total_cost,
									 ts_order_pathkeys(root, baserel, fpinfo),
									 baserel->lateral_relids, NULL, NIL));

	if (fpinfo->id_qual == NULL && !fpinfo->opts.events)
		add_id_param_paths(root, baserel, fpinfo);
}

/*
 * A LIMIT (or OFFSET) clause as a constant in 0..INT32_MAX: *value is 0 for
 * an absent or NULL clause when null_ok.  False for anything else
 * (parameters, negative values, which the Limit node must reject at run
 * time, values beyond FQL's Int), which is then not pushed.
 */
static bool
limit_constant(Node *clause, bool null_ok, int *value)
{
	Const	   *c = (Const *) clause;
	int64		v;

	*value = 0;
	if (clause == NULL)
		return null_ok;
	if (!IsA(clause, Const) || c->consttype != INT8OID)
		return false;
	if (c->constisnull)
		return null_ok;
	v = DatumGetInt64(c->constvalue);
	if (v < 0 || v > PG_INT32_MAX)
		return false;
	*value = (int) v;
	return true;
}

/*
 * UPPERREL_FINAL: send a constant LIMIT (and OFFSET) to Fauna, as
 * .drop(m).take(n) on the set, when that gives exactly the rows the Limit
 * node would keep (the model is postgres_fdw's add_foreign_final_paths):
 *
 *	- the query reads one document table of ours (no join, grouping,
 *	  aggregate, window, DISTINCT, set operation, SRF, row locks);
 *	- every qual of the scan is evaluated by Fauna: a local filter would
 *	  drop rows after Fauna counted them;
 *	- with ORDER BY, the scan's own order satisfies it (ts ascending over a
 *	  ts index): Fauna takes the first rows in that order.  Any other sort
 *	  runs locally, above the Limit's input, so nothing is pushed.
 *
 * The path replaces the Limit node: the scan itself stops after n rows,
 * with a page size of at most n and no prefetch past them.
 */
static void
faunaGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
						  RelOptInfo *input_rel, RelOptInfo *output_rel,
						  void *extra)
{
	FinalPathExtraData *fextra = (FinalPathExtraData *) extra;
	Query	   *parse = root->parse;
	RelOptInfo *baserel;
	FaunaRelInfo *fpinfo;
	RangeTblEntry *rte;
	FaunaUpperInfo *upper;
	Path	   *subpath = NULL;
	List	   *pathkeys = NIL;
	ListCell   *lc;
	int			count;
	int			offset;
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;

	if (stage != UPPERREL_FINAL || output_rel->fdw_private != NULL ||
		!fextra->limit_needed)
		return;
	if (parse->commandType != CMD_SELECT || parse->rowMarks ||
		parse->hasTargetSRFs || parse->hasAggs || parse->hasWindowFuncs ||
		parse->groupClause || parse->groupingSets || parse->havingQual ||
		parse->distinctClause || parse->setOperations ||
		root->hasHavingQual || root->hasPseudoConstantQuals ||
		parse->limitOption != LIMIT_OPTION_COUNT)
		return;
	if (!limit_constant(parse->limitCount, false, &count) ||
		!limit_constant(parse->limitOffset, true, &offset) ||
		(int64) count + offset > PG_INT32_MAX)
		return;

	/* one base relation: a document table of this FDW, not a parent */
	if (bms_membership(root->all_baserels) != BMS_SINGLETON)
		return;
	baserel = find_base_rel(root, bms_singleton_member(root->all_baserels));
	if (baserel->reloptkind != RELOPT_BASEREL ||
		baserel->fdwroutine == NULL ||
		baserel->fdwroutine->GetForeignUpperPaths != faunaGetForeignUpperPaths ||
		baserel->fdw_private == NULL ||
		!bms_is_empty(baserel->lateral_relids))
		return;
	rte = planner_rt_fetch(baserel->relid, root);
	if (rte->rtekind != RTE_RELATION || rte->inh)
		return;
	/* the input is the scan itself, or its ordering (an upper rel) */
	if (parse->sortClause == NIL ? input_rel != baserel
		: input_rel->reloptkind != RELOPT_UPPER_REL)
		return;

	fpinfo = (FaunaRelInfo *) baserel->fdw_private;
	if (fpinfo->local_conds != NIL || fpinfo->id_qual != NULL ||
		fpinfo->opts.events || fpinfo->api_version != 10)
		return;

	/* the plain scan, in an order that satisfies the ORDER BY if any */
	if (parse->sortClause != NIL)
		pathkeys = root->sort_pathkeys;
	foreach(lc, baserel->pathlist)
	{
		Path	   *path = (Path *) lfirst(lc);

		if (IsA(path, ForeignPath) && path->param_info == NULL &&
			pathkeys_contained_in(pathkeys, path->pathkeys))
		{
			subpath = path;
			break;
		}
	}
	if (subpath == NULL)
		return;

	/*
	 * The Limit node's estimate of the same scan interpolates its cost as
	 * if only the rows kept were fetched, when in fact Fauna computes and
	 * sends whole pages (and the next one is prefetched).  The pushed scan
	 * does fetch only those rows: discount its run cost so that it wins.
	 */
	rows = subpath->rows;
	startup_cost = subpath->startup_cost;
	total_cost = subpath->total_cost;
	adjust_limit_rows_costs(&rows, &startup_cost, &total_cost,
							fextra->offset_est, fextra->count_est);
	total_cost = startup_cost + (total_cost - startup_cost) * 0.5;

	upper = palloc0(sizeof(FaunaUpperInfo));
	upper->baserel = baserel;
	output_rel->fdw_private = upper;
	add_path(output_rel, (Path *)
			 create_foreign_upper_path(root, output_rel,
									   root->upper_targets[UPPERREL_FINAL],
									   rows, startup_cost, total_cost,
									   pathkeys, NULL,
									   list_make2(makeInteger(count),
												  makeInteger(offset))));
}

/*
 * Does an id column of this type read the whole ref object
 * {"id","collection","type"}, which needs the document's coll?
 */
static bool
id_column_wants_coll(Oid relid, AttrNumber attnum)
{
	Oid			typid = get_atttype(relid, attnum);

	return typid == JSONOID || typid == JSONBOID;
}

/*
 * Build the plan: the pushed qual's value goes to fdw_exprs (so executor
 * params are set up by the planner), the rest stays in the plan's quals,
 * and fdw_private describes the query to send.
 *
 * For a pushed LIMIT, foreignrel is the final upper relation: the plan is
 * still a scan of the base relation (scanrelid is set), whose target list
 * is the query's and which stops after the limit.
 */
static ForeignScan *
faunaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					Oid foreigntableid, ForeignPath *best_path,
					List *tlist, List *scan_clauses, Plan *outer_plan)
{
	FaunaRelInfo *fpinfo;
	RestrictInfo *id_qual;
	Expr	   *id_expr;
	int			limit = -1;
	int			offset = 0;
	ForeignScan *fscan;
	List	   *ts_quals = NIL;
	List	   *ts_ops = NIL;
	List	   *local_exprs = NIL;
	List	   *recheck_exprs = NIL;
	List	   *fdw_exprs = NIL;
	List	   *retrieved_attrs = NIL;
	List	   *paths = NIL;
	List	   *fdw_private;
	Bitmapset  *attrs_used = NULL;
	bool		have_wholerow;
	FaunaQuerySpec spec;
	StringInfoData body;
	StringInfoData explain;
	ListCell   *lc;
	int			i;

	if (IS_UPPER_REL(baserel))
	{
		/* a pushed LIMIT: every qual of the base relation is pushed */
		limit = intVal(list_nth(best_path->fdw_private, FdwLimitPathCount));
		offset = intVal(list_nth(best_path->fdw_private, FdwLimitPathOffset));
		baserel = ((FaunaUpperInfo *) baserel->fdw_private)->baserel;
		foreigntableid = planner_rt_fetch(baserel->relid, root)->relid;
		scan_clauses = baserel->baserestrictinfo;
	}
	fpinfo = (FaunaRelInfo *) baserel->fdw_private;
	id_qual = fpinfo->id_qual;
	id_expr = fpinfo->id_expr;

	/*
	 * A parameterized path pushes a join clause "id = outer value"; its
	 * outer Vars become executor Params (replace_nestloop_params).
	 */
	if (id_qual == NULL && best_path->path.param_info != NULL)
	{
		foreach(lc, scan_clauses)
		{
			RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

			if (list_member_ptr(baserel->baserestrictinfo, rinfo))
				continue;
			id_expr = id_join_value(root, rinfo, baserel, fpinfo);
			if (id_expr)
			{
				id_qual = rinfo;
				break;
			}
		}
	}
	/* byId reads one document: ts quals are then checked locally */
	if (id_qual == NULL)
	{
		ts_quals = fpinfo->ts_quals;
		ts_ops = fpinfo->ts_ops;
	}

	foreach(lc, scan_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (rinfo->pseudoconstant)
			continue;			/* handled by a gating Result node */
		if (rinfo == id_qual)
			fdw_exprs = lappend(fdw_exprs, id_expr);
		else if (!list_member_ptr(ts_quals, rinfo))
			local_exprs = lappend(local_exprs, rinfo->clause);
	}
	/* the ts bounds follow (never together with an id) */
	if (id_qual == NULL)
		fdw_exprs = list_concat(fdw_exprs, fpinfo->ts_exprs);

	/* fetch only the columns the output and the local quals use */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs_used);
	pull_varattnos((Node *) local_exprs, baserel->relid, &attrs_used);
	if (limit >= 0)
		pull_varattnos((Node *) tlist, baserel->relid, &attrs_used);
	have_wholerow = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs_used);
	for (i = 1; i <= fpinfo->natts; i++)
	{
		if (fpinfo->paths[i - 1] == NULL)
			continue;			/* dropped */
		if (have_wholerow ||
			bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs_used))
		{
			retrieved_attrs = lappend_int(retrieved_attrs, i);
			paths = lappend(paths, makeString(pstrdup(fpinfo->paths[i - 1])));
			/* a ref object names its collection: project coll too */
			if (fpinfo->kinds[i - 1] == FAUNA_PATH_ID &&
				id_column_wants_coll(foreigntableid, i))
				paths = lappend(paths, makeString(pstrdup("coll")));
		}
	}

	spec.collection = fpinfo->opts.collection;
	spec.page_size = fpinfo->opts.page_size;
	spec.paths = paths;
	spec.by_id = (id_qual != NULL);
	spec.ts_index = fpinfo->ts_index;
	spec.api_version = fpinfo->api_version;
	spec.limit = limit;
	spec.offset = offset;
	/* no page larger than the rows wanted */
	if (limit >= 0)
		spec.page_size = Min(spec.page_size, Max(limit, 1));
	ts_range_shape(ts_ops, &spec.ts_range);
	initStringInfo(&body);
	initStringInfo(&explain);
	if (fpinfo->opts.events)
		fauna_events_explain_query(spec.collection, &spec.ts_range,
								   spec.api_version, spec.page_size, &explain);
	else
		scan_first_page(&spec, NULL, &body, &explain);

	fdw_private = list_make5(makeString(spec.collection),
							 makeInteger(spec.page_size),
							 paths,
							 retrieved_attrs,
							 makeInteger(spec.by_id ? 1 : 0));
	fdw_private = lappend(fdw_private, makeString(explain.data));
	fdw_private = lappend(fdw_private, ts_ops);
	fdw_private = lappend(fdw_private,
						  makeString(fpinfo->ts_index ? fpinfo->ts_index : ""));
	fdw_private = lappend(fdw_private,
						  makeInteger(!fpinfo->opts.events && !spec.by_id &&
									  ts_ops != NIL && fpinfo->ts_index == NULL));
	fdw_private = lappend(fdw_private, makeInteger(limit));
	fdw_private = lappend(fdw_private, makeInteger(offset));

	/*
	 * The quals Fauna evaluates are rechecked on EvalPlanQual's test
	 * tuples, as postgres_fdw does with its remote conditions.
	 */
	foreach(lc, scan_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (!rinfo->pseudoconstant &&
			(rinfo == id_qual || list_member_ptr(ts_quals, rinfo)))
			recheck_exprs = lappend(recheck_exprs, rinfo->clause);
	}

	fscan = make_foreignscan(tlist, local_exprs, baserel->relid, fdw_exprs,
							 fdw_private, NIL, recheck_exprs, outer_plan);

	/*
	 * The core sets fsSystemCol only for scans of a base relation's own
	 * paths: here, tableoid must be filled if the query reads it.
	 */
	if (limit >= 0)
	{
		int			attno = -1;

		while ((attno = bms_next_member(attrs_used, attno)) >= 0)
			if (attno + FirstLowInvalidHeapAttributeNumber < 0)
				fscan->fsSystemCol = true;
	}
	return fscan;
}

/* ----------------------------------------------------------------
 * Reading pages
 * ----------------------------------------------------------------
 */

static void
reader_init(FaunaReader *reader, FaunaConn *conn, const char *collection)
{
	memset(reader, 0, sizeof(FaunaReader));
	reader->conn = conn;
	reader->collection = collection;
	reader->page_cxt = AllocSetContextCreate(CurrentMemoryContext,
											 "fauna_fdw page",
											 ALLOCSET_DEFAULT_SIZES);
	reader->next_cxt = AllocSetContextCreate(CurrentMemoryContext,
											 "fauna_fdw page",
											 ALLOCSET_DEFAULT_SIZES);
	reader->prefetch = true;
	reader->limit = -1;
	reader->expect = FAUNA_EXPECT_PAGE;
	initStringInfo(&reader->body);
}

/* Start the request in reader->body; its page goes to next_cxt. */
static void
reader_request(FaunaReader *reader)
{
	MemoryContextReset(reader->next_cxt);
	fauna_request_start(reader->conn, reader->body.data, reader->collection,
						reader->next_cxt);
	fauna_request_expect(reader->conn, reader->expect);
	reader->in_flight = true;
}

/*
 * Drop the page and any request in flight (a rescan, a scan that ended
 * early): the connection of a half-read response is closed, not reused.
 */
static void
reader_reset(FaunaReader *reader)
{
	fauna_request_abort(reader->conn);
	reader->in_flight = false;
	MemoryContextReset(reader->page_cxt);
	MemoryContextReset(reader->next_cxt);
	reader->page = NULL;
	reader->count = 0;
	reader->next = 0;
	reader->more = false;
}

/*
 * The page just fetched becomes the current one: its context is swapped in,
 * and the previous page (all its rows returned) is freed.  Only once the
 * new page is complete: freeing the old one before waiting for the new
 * one measured 20-30% more backend CPU per scan (likely the allocator
 * handing the page's memory back and faulting it in again).
 */
static void
reader_swap_pages(FaunaReader *reader)
{
	MemoryContext swap = reader->page_cxt;

	reader->page_cxt = reader->next_cxt;
	reader->next_cxt = swap;
	MemoryContextReset(reader->next_cxt);
}

/*
 * Called when a page's response is complete but not yet parsed to its end:
 * start the next page's request with the cursor guessed from the body's
 * tail, so that Fauna computes page N+1 while page N is being parsed.
 * reader_fetch() checks the guess against the parsed cursor.
 */
static void
reader_guess_next(FaunaParser *parser, void *arg)
{
	FaunaReader *reader = (FaunaReader *) arg;
	char	   *after = fauna_parser_guess_after(parser);

	if (after == NULL)
		return;
	reader_swap_pages(reader);
	resetStringInfo(&reader->body);
	fauna_fql_next_page(after, &reader->body);
	reader_request(reader);
	reader->guessed_after = after;
}

/*
 * Make the response to the request in reader->body the current page,
 * starting the request if it was not prefetched.  The previous page is
 * freed once the new one is there.
 *
 * Pipelining: the request of the following page (its cursor is in this
 * page) is started before any row of this page is returned; reader_next()
 * lets it progress between rows, so that Fauna computes page N+1 and the
 * bytes arrive and are parsed while the executor works on page N.  With
 * FQL v10, it leaves even before page N is parsed, with the cursor read
 * from the end of the body (reader_guess_next), and is abandoned for the
 * right one should the parsed cursor differ.  At most two pages are in
 * memory.  A failure of the prefetch (after its retries, which resend the
 * same cursor) is raised here, when its page is needed, never as the end
 * of the result.
 */
static void
reader_fetch(FaunaReader *reader)
{
	FaunaStats	stats;
	MemoryContext oldcxt;
	char	   *after;
	bool		guess;

	if (!reader->in_flight)
		reader_request(reader);

	reader->page = NULL;
	reader->count = 0;
	reader->next = 0;

	/* guessing needs neither the page's row count (LIMIT) nor v4 arrays */
	guess = reader->prefetch && reader->limit < 0 && reader->v4 == NULL &&
		reader->expect == FAUNA_EXPECT_PAGE;
	reader->guessed_after = NULL;
	reader->in_flight = false;
	reader->page = fauna_request_wait_then(reader->conn, &reader->counters,
										   guess ? reader_guess_next : NULL,
										   reader);
	if (reader->guessed_after == NULL)
		reader_swap_pages(reader);	/* else done before the guessed request */
	reader->count = fauna_page_count(reader->page);

	memset(&stats, 0, sizeof(stats));
	fauna_page_stats(reader->page, &stats);
	if (reader->snapshot_ts == 0)
		reader->snapshot_ts = stats.txn_ts;
	reader->totals.read_ops += stats.read_ops;
	reader->totals.compute_ops += stats.compute_ops;
	reader->totals.write_ops += stats.write_ops;
	reader->totals.bytes_read += stats.bytes_read;

	/* the next request is built now, while the cursor is in memory */
	oldcxt = MemoryContextSwitchTo(reader->page_cxt);
	after = fauna_page_after(reader->page);
	MemoryContextSwitchTo(oldcxt);
	reader->more = (after != NULL);

	if (reader->guessed_after)
	{
		bool		right = after && strcmp(after, reader->guessed_after) == 0;

		pfree(reader->guessed_after);
		reader->guessed_after = NULL;
		if (right)
			return;				/* its request is on its way */
		fauna_request_abort(reader->conn);
		reader->in_flight = false;
		reader->guesses_abandoned++;
	}

	resetStringInfo(&reader->body);
	if (after)
	{
		if (reader->v4)
		{
			/* v4 cursors do not pin the snapshot: stay at the first page's */
			if (reader->v4_snapshot == 0)
				reader->v4_snapshot = stats.txn_ts;
			fauna_fql_v4_page(reader->v4, NULL, after, reader->v4_snapshot,
							  &reader->body, NULL);
		}
		else
			fauna_fql_next_page(after, &reader->body);
		/* never ask for a page beyond a pushed LIMIT's rows */
		if (reader->prefetch &&
			(reader->limit < 0 || reader->returned + reader->count < reader->limit))
			reader_request(reader);
	}
}

/* Start reading a query whose first request is in reader->body. */
static void
reader_start(FaunaReader *reader)
{
	reader->more = true;
	reader->page = NULL;
	reader->count = 0;
	reader->next = 0;
	reader->returned = 0;
	reader->snapshot_ts = 0;
}

/*
 * Advance to the next document: returns its index in reader->page, or -1
 * when the result is exhausted.  Fetches pages as needed; an empty page
 * with a cursor is legal and skipped.
 */
static int
reader_next(FaunaReader *reader)
{
	/* a pushed LIMIT: the rows past it are not Fauna's to send */
	if (reader->limit >= 0 && reader->returned >= reader->limit)
		return -1;
	while (reader->page == NULL || reader->next >= reader->count)
	{
		if (!reader->more)
			return -1;
		reader_fetch(reader);
	}

	/* every 64 rows, let the next page's transfer progress (no waiting) */
	if (reader->in_flight && (reader->next & 63) == 63)
		fauna_request_poll(reader->conn);

	reader->documents++;
	reader->returned++;
	return reader->next++;
}

/* ----------------------------------------------------------------
 * Execution
 * ----------------------------------------------------------------
 */

/*
 * Get the connection of the user the scan runs as.  PostgreSQL 15 keeps the
 * checkAsUser in the range table entry (set for views and security
 * definer functions).
 */
static FaunaConn *
scan_connection(ForeignScanState *node, ForeignTable *table)
{
	EState	   *estate = node->ss.ps.state;
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, estate);
	Oid			userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	ForeignServer *server = GetForeignServer(table->serverid);
	UserMapping *user = GetUserMapping(userid, server->serverid);
	FaunaServerOptions sopts;

	fauna_get_server_options(server, &sopts);
	if (sopts.api_version != 10 && sopts.api_version != 4)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("reading with api_version \"%d\" is not supported yet",
						sopts.api_version),
				 errhint("Use api_version '10' on server \"%s\".",
						 server->servername)));
	return fauna_get_connection(user, server);
}

static void
faunaBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	FaunaScanState *fss = palloc0(sizeof(FaunaScanState));
	FaunaTableOptions topts;
	ForeignTable *table;

	node->fdw_state = fss;
	fss->spec.collection = strVal(list_nth(fsplan->fdw_private, FdwScanPrivateCollection));
	fss->spec.page_size = intVal(list_nth(fsplan->fdw_private, FdwScanPrivatePageSize));
	fss->spec.paths = (List *) list_nth(fsplan->fdw_private, FdwScanPrivatePaths);
	fss->spec.by_id = intVal(list_nth(fsplan->fdw_private, FdwScanPrivateById)) != 0;
	fss->ts_ops = (List *) list_nth(fsplan->fdw_private, FdwScanPrivateTsOps);
	fss->spec.ts_index = strVal(list_nth(fsplan->fdw_private, FdwScanPrivateTsIndex));
	if (fss->spec.ts_index[0] == '\0')
		fss->spec.ts_index = NULL;
	fss->spec.limit = intVal(list_nth(fsplan->fdw_private, FdwScanPrivateLimit));
	fss->spec.offset = intVal(list_nth(fsplan->fdw_private, FdwScanPrivateOffset));

	/* EXPLAIN without ANALYZE: no connection, no catalog lookups */
	fss->explain_only = (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0;
	if (fss->explain_only)
		return;

	fauna_get_table_options(RelationGetRelid(rel), &topts);
	table = GetForeignTable(RelationGetRelid(rel));
	fss->spec.api_version = scan_api_version(RelationGetRelid(rel));
	fss->columns = build_columns(rel,
								 (List *) list_nth(fsplan->fdw_private,
												   FdwScanPrivateRetrievedAttrs),
								 &fss->ncolumns);
	if (fss->spec.by_id)
		fss->id_state = ExecInitExpr((Expr *) linitial(fsplan->fdw_exprs),
									 (PlanState *) node);
	else
		fss->ts_states = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
	fss->tuple_cxt = AllocSetContextCreate(CurrentMemoryContext,
										   "fauna_fdw tuple",
										   ALLOCSET_DEFAULT_SIZES);
	reader_init(&fss->reader, scan_connection(node, table), fss->spec.collection);
	if (topts.events)
		fss->events = fauna_events_begin(fss->reader.conn, fss->spec.collection,
										 RelationGetRelationName(rel),
										 fss->spec.page_size,
										 fss->spec.api_version);
}

/*
 * Is text a document id in the one form Fauna writes ids in: the decimal
 * digits of an integer in 0..2^63-1, without sign, spaces or leading
 * zeros ("0" itself excepted)?  Fauna also finds the document of
 * "0229203205346557952" or, over FQL v4, "010", whose ref is not that
 * text: only canonical ids are looked up, so that a pushed "ref = value"
 * returns exactly the rows the SQL condition selects.
 */
static bool
is_canonical_id(const char *text)
{
	const char *p;
	size_t		len = strlen(text);

	if (len == 0 || len > 19 || (text[0] == '0' && len > 1))
		return false;
	for (p = text; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	/* 19 digits: at most 9223372036854775807 (strcmp works at equal length) */
	return len < 19 || strcmp(text, "9223372036854775807") <= 0;
}

/*
 * The id to look up, as text, or NULL when no document can match: a NULL
 * value, or a value whose text is not a canonical Fauna id (see
 * is_canonical_id).  Such a value never reaches Fauna.
 */
static char *
scan_id_value(ForeignScanState *node, FaunaScanState *fss)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	Oid			typid = exprType((Node *) fss->id_state->expr);
	Datum		value;
	bool		isnull;
	Oid			outfunc;
	bool		isvarlena;
	char	   *text;

	value = ExecEvalExpr(fss->id_state, econtext, &isnull);
	if (isnull)
		return NULL;
	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	text = OidOutputFunctionCall(outfunc, value);
	return is_canonical_id(text) ? text : NULL;
}

/*
 * A ts bound as microseconds since the Unix epoch, from a timestamptz or a
 * bigint.  *infinite is -1 or +1 for -infinity/infinity.
 */
static int64
ts_bound_value(Datum value, Oid typid, int *infinite)
{
	*infinite = 0;
	if (typid == INT8OID)
		return DatumGetInt64(value);
	else
	{
		TimestampTz ts = DatumGetTimestampTz(value);

		if (TIMESTAMP_IS_NOBEGIN(ts))
			*infinite = -1;
		else if (TIMESTAMP_IS_NOEND(ts))
			*infinite = 1;
		else if (ts > PG_INT64_MAX - FAUNA_UNIX_EPOCH_OFFSET_US)
			*infinite = 1;
		else
			return ts + FAUNA_UNIX_EPOCH_OFFSET_US;
		return 0;
	}
}

/*
 * Evaluate the ts quals into one range: the tightest bound on each side.
 * Bounds beyond what Fauna's times can hold are open on the far side and
 * empty on the near side.  Returns false when no document can match (a
 * NULL, an empty range), so that no request is sent.
 */
static bool
scan_ts_range(ForeignScanState *node, FaunaScanState *fss, FaunaTsRange *r)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ListCell   *ls;
	ListCell   *lo;

	memset(r, 0, sizeof(FaunaTsRange));
	forboth(ls, fss->ts_states, lo, fss->ts_ops)
	{
		ExprState  *state = (ExprState *) lfirst(ls);
		FaunaTsOp	op = (FaunaTsOp) lfirst_int(lo);
		bool		isnull;
		Datum		value = ExecEvalExpr(state, econtext, &isnull);
		int			inf;
		int64		us;

		if (isnull)
			return false;		/* comparisons with NULL are never true */
		us = ts_bound_value(value, exprType((Node *) state->expr), &inf);
		if (inf == 0 && us < FAUNA_MIN_TIME_US)
			inf = -1;
		if (inf == 0 && us > FAUNA_MAX_TIME_US)
			inf = 1;

		if (op == FAUNA_TS_GT || op == FAUNA_TS_GE || op == FAUNA_TS_EQ)
		{
			bool		strict = (op == FAUNA_TS_GT);

			if (inf > 0)
				return false;	/* nothing is after infinity */
			if (inf == 0 &&
				(!r->has_lower || us > r->lower ||
				 (us == r->lower && strict)))
			{
				r->has_lower = true;
				r->lower = us;
				r->lower_strict = strict;
			}
		}
		if (op == FAUNA_TS_LT || op == FAUNA_TS_LE || op == FAUNA_TS_EQ)
		{
			bool		strict = (op == FAUNA_TS_LT);

			if (inf < 0)
				return false;
			if (inf == 0 &&
				(!r->has_upper || us < r->upper ||
				 (us == r->upper && strict)))
			{
				r->has_upper = true;
				r->upper = us;
				r->upper_strict = strict;
			}
		}
	}

	if (r->has_lower && r->has_upper &&
		(r->lower > r->upper ||
		 (r->lower == r->upper && (r->lower_strict || r->upper_strict))))
		return false;
	return true;
}

/* Build the first request; false if the scan is known to be empty. */
static bool
scan_start(ForeignScanState *node, FaunaScanState *fss)
{
	char	   *id = NULL;

	fss->started = true;
	fss->reader.more = false;
	fss->reader.page = NULL;
	if (fss->events)
	{
		if (!scan_ts_range(node, fss, &fss->spec.ts_range))
			return false;
		fauna_events_start(fss->events, &fss->spec.ts_range);
		return true;
	}
	if (fss->spec.by_id)
	{
		id = scan_id_value(node, fss);
		if (id == NULL)
			return false;
		strlcpy(fss->lookup_id, id, sizeof(fss->lookup_id));
	}
	else if (!scan_ts_range(node, fss, &fss->spec.ts_range))
		return false;
	else if (fss->spec.ts_index && !fss->spec.ts_range.has_lower &&
			 !fss->spec.ts_range.has_upper)
	{
		/*
		 * Infinite bounds: still read the index, whose order the plan may
		 * use, from the Unix epoch (no commit time is older).
		 */
		fss->spec.ts_range.has_lower = true;
		fss->spec.ts_range.lower = 0;
		fss->spec.ts_range.lower_strict = false;
	}
	/* LIMIT 0 pushed down: nothing to ask for */
	if (fss->spec.limit == 0)
		return false;
	resetStringInfo(&fss->reader.body);
	scan_first_page(&fss->spec, id, &fss->reader.body, NULL);
	reader_start(&fss->reader);
	fss->reader.limit = fss->spec.limit;
	fss->reader.expect = fss->spec.by_id ? FAUNA_EXPECT_DOCUMENT : FAUNA_EXPECT_PAGE;
	fss->reader.v4 = (fss->spec.api_version == 4) ? &fss->spec : NULL;
	fss->reader.v4_snapshot = 0;
	return true;
}

static TupleTableSlot *
faunaIterateForeignScan(ForeignScanState *node)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MemoryContext oldcxt;
	int			i;

	ExecClearTuple(slot);
	if (!fss->started && !scan_start(node, fss))
		return slot;

	if (fss->events)
	{
		bool		found;

		MemoryContextReset(fss->tuple_cxt);
		oldcxt = MemoryContextSwitchTo(fss->tuple_cxt);
		memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		found = fauna_events_next(fss->events, fss->columns, fss->ncolumns,
								  slot->tts_values, slot->tts_isnull);
		MemoryContextSwitchTo(oldcxt);
		return found ? ExecStoreVirtualTuple(slot) : slot;
	}

	i = reader_next(&fss->reader);
	if (i < 0)
		return slot;

	/* a lookup returns the document of that id, or nothing */
	if (fss->spec.by_id)
	{
		const char *found = fauna_page_document_id(fss->reader.page, i);

		if (found == NULL || strcmp(found, fss->lookup_id) != 0)
			return slot;
	}

	/*
	 * The slot's values point into tuple_cxt, which stays valid until the
	 * next call, as a scan's virtual tuple must.
	 */
	MemoryContextReset(fss->tuple_cxt);
	oldcxt = MemoryContextSwitchTo(fss->tuple_cxt);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	fauna_page_document(fss->reader.page, i, fss->columns, fss->ncolumns,
						slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(oldcxt);

	return ExecStoreVirtualTuple(slot);
}

/*
 * Start over, re-evaluating the id parameter.  Whatever is in flight is
 * dropped, and its page with it.
 */
static void
faunaReScanForeignScan(ForeignScanState *node)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	if (fss->explain_only)
		return;
	if (fss->events)
		fauna_events_rescan(fss->events);
	reader_reset(&fss->reader);
	fss->started = false;
}

/*
 * The snapshot each foreign table's last scan in this session read: the
 * Fauna transaction time of its first page.  fauna_sync() takes it as the
 * point up to which the collection's changes have been seen, in Fauna's
 * own clock, even when the scan returned nothing.
 */
typedef struct SnapshotEntry
{
	Oid			relid;			/* hash key */
	int64		txn_ts;			/* µs since the Unix epoch */
} SnapshotEntry;

static HTAB *LastSnapshots = NULL;

static void
remember_snapshot(Oid relid, int64 txn_ts)
{
	SnapshotEntry *entry;

	if (LastSnapshots == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(SnapshotEntry);
		LastSnapshots = hash_create("fauna_fdw scan snapshots", 16, &ctl,
									HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(LastSnapshots, &relid, HASH_ENTER, NULL);
	entry->txn_ts = txn_ts;
}

PG_FUNCTION_INFO_V1(fauna_fdw_scan_snapshot);

/*
 * fauna_fdw_scan_snapshot(foreign_table regclass): the Fauna transaction
 * time of the snapshot that the last completed scan of the table in this
 * session read, or NULL if there was none.  It tells what the collection
 * held then, so it needs what a scan needs: SELECT on the table (a role
 * that a SET ROLE left in the session may not read another's).
 */
Datum
fauna_fdw_scan_snapshot(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	SnapshotEntry *entry = NULL;
	AclResult	aclresult;
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		PG_RETURN_NULL();
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
					   relname);

	if (LastSnapshots != NULL)
		entry = hash_search(LastSnapshots, &relid, HASH_FIND, NULL);
	if (entry == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ((TimestampTz) (entry->txn_ts - FAUNA_UNIX_EPOCH_OFFSET_US));
}

/* Memory goes with the executor's context; only the connection needs care. */
static void
faunaEndForeignScan(ForeignScanState *node)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	if (fss == NULL || fss->explain_only)
		return;
	if (fss->events)
		fauna_events_end(fss->events);
	if (fss->reader.snapshot_ts > 0)
		remember_snapshot(RelationGetRelid(node->ss.ss_currentRelation),
						  fss->reader.snapshot_ts);
	reader_reset(&fss->reader);
}

/*
 * EXPLAIN shows the FQL (values as $n, so plans are stable and reveal no
 * data); EXPLAIN ANALYZE adds what the scan cost on the Fauna side.
 */
static void
faunaExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	if (es->verbose)
		ExplainPropertyText("Fauna collection",
							strVal(list_nth(fsplan->fdw_private, FdwScanPrivateCollection)),
							es);
	ExplainPropertyText("Fauna query",
						strVal(list_nth(fsplan->fdw_private, FdwScanPrivateExplain)),
						es);
	/* a ts range read without an index costs a scan of the whole collection */
	if (intVal(list_nth(fsplan->fdw_private, FdwScanPrivateUnindexed)))
		ExplainPropertyText("Fauna index", "none (unindexed: the ts range filters a full scan)", es);

	if (es->analyze && fss && !fss->explain_only && fss->events)
		fauna_events_explain(fss->events, es);
	else if (es->analyze && fss && !fss->explain_only)
	{
		FaunaReader *r = &fss->reader;

		ExplainPropertyInteger("Fauna requests", NULL, r->counters.requests, es);
		if (r->counters.attempts > r->counters.requests)
			ExplainPropertyInteger("Fauna retries", NULL,
								   r->counters.attempts - r->counters.requests, es);
		if (r->guesses_abandoned > 0)
			ExplainPropertyInteger("Fauna requests abandoned", NULL,
								   r->guesses_abandoned, es);
		ExplainPropertyInteger("Fauna documents", NULL, r->documents, es);
		ExplainPropertyInteger("Fauna bytes received", NULL,
							   r->counters.bytes_received, es);
		ExplainPropertyInteger("Fauna read ops", NULL, r->totals.read_ops, es);
		ExplainPropertyInteger("Fauna compute ops", NULL, r->totals.compute_ops, es);
	}
}

/* ----------------------------------------------------------------
 * ANALYZE
 * ----------------------------------------------------------------
 */

static int	fauna_acquire_sample_rows(Relation relation, int elevel,
									  HeapTuple *rows, int targrows,
									  double *totalrows,
									  double *totaldeadrows);

static bool
faunaAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
						 BlockNumber *totalpages)
{
	*func = fauna_acquire_sample_rows;
	*totalpages = 1;			/* Fauna has no notion of pages to report */
	return true;
}

/*
 * Sample rows for ANALYZE.  Fauna cannot hand out random documents, so,
 * as postgres_fdw does on PostgreSQL 15, the whole collection is read
 * (Coll.all(), only the table's columns, pipelined pages) and a uniform
 * random sample of targrows documents kept (reservoir sampling, Vitter's
 * algorithm Z as ANALYZE itself uses); only the documents kept are
 * converted.  The row count is then exact.
 */
static int
fauna_acquire_sample_rows(Relation relation, int elevel,
						  HeapTuple *rows, int targrows,
						  double *totalrows, double *totaldeadrows)
{
	TupleDesc	tupdesc = RelationGetDescr(relation);
	Oid			relid = RelationGetRelid(relation);
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	UserMapping *user = GetUserMapping(relation->rd_rel->relowner, server->serverid);
	FaunaTableOptions topts;
	FaunaServerOptions sopts;
	FaunaQuerySpec spec;
	FaunaReader reader;
	FaunaColumn *columns;
	List	   *attnums = NIL;
	int			ncolumns;
	int			numrows = 0;
	double		seen = 0;		/* documents read */
	double		rowstoskip = -1;
	ReservoirStateData rstate;
	MemoryContext tuple_cxt;
	Datum	   *values = palloc(sizeof(Datum) * Max(tupdesc->natts, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(tupdesc->natts, 1));
	int			i;

	fauna_get_table_options(relid, &topts);
	fauna_get_server_options(server, &sopts);
	fauna_check_collection_name(topts.collection, sopts.api_version,
								RelationGetRelationName(relation));
	if ((sopts.api_version != 10 && sopts.api_version != 4) || topts.events)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot analyze foreign table \"%s\"",
						RelationGetRelationName(relation)),
				 errdetail("Only document tables can be sampled.")));

	for (i = 0; i < tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i)->attisdropped)
			attnums = lappend_int(attnums, i + 1);
	columns = build_columns(relation, attnums, &ncolumns);

	spec.collection = topts.collection;
	spec.page_size = topts.page_size;
	spec.paths = NIL;
	for (i = 0; i < ncolumns; i++)
	{
		spec.paths = lappend(spec.paths,
							 makeString(path_text(columns[i].kind,
												  columns[i].field_path,
												  columns[i].field_depth)));
		/* a ref object names its collection: project coll too */
		if (columns[i].kind == FAUNA_PATH_ID &&
			(columns[i].typid == JSONOID || columns[i].typid == JSONBOID))
			spec.paths = lappend(spec.paths, makeString(pstrdup("coll")));
	}
	spec.by_id = false;
	spec.ts_index = NULL;
	spec.limit = -1;
	spec.offset = 0;
	spec.api_version = sopts.api_version;
	memset(&spec.ts_range, 0, sizeof(spec.ts_range));

	reader_init(&reader, fauna_get_connection(user, server), topts.collection);
	scan_first_page(&spec, NULL, &reader.body, NULL);
	reader_start(&reader);
	reader.v4 = (spec.api_version == 4) ? &spec : NULL;

	reservoir_init_selection_state(&rstate, targrows);
	tuple_cxt = AllocSetContextCreate(CurrentMemoryContext, "fauna_fdw analyze tuple",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext oldcxt;
		int			idx;
		int			pos;

		vacuum_delay_point();
		idx = reader_next(&reader);
		if (idx < 0)
			break;

		/* the first targrows fill the reservoir; later ones may replace */
		if (numrows < targrows)
			pos = numrows++;
		else
		{
			if (rowstoskip < 0)
				rowstoskip = reservoir_get_next_S(&rstate, seen, targrows);
			pos = -1;
			if (rowstoskip <= 0)
			{
				pos = (int) (targrows * sampler_random_fract(&rstate.randstate));
				heap_freetuple(rows[pos]);
			}
			rowstoskip -= 1;
		}
		seen += 1;
		if (pos < 0)
			continue;

		MemoryContextReset(tuple_cxt);
		oldcxt = MemoryContextSwitchTo(tuple_cxt);
		memset(nulls, true, sizeof(bool) * tupdesc->natts);
		fauna_page_document(reader.page, idx, columns, ncolumns, values, nulls);
		MemoryContextSwitchTo(oldcxt);
		/* the sample outlives the tuple context: form it in the caller's */
		rows[pos] = heap_form_tuple(tupdesc, values, nulls);
	}
	MemoryContextDelete(tuple_cxt);

	*totalrows = seen;
	*totaldeadrows = 0;
	reader_reset(&reader);
	MemoryContextDelete(reader.page_cxt);
	MemoryContextDelete(reader.next_cxt);

	ereport(elevel,
			(errmsg("\"%s\": sampled %d of %.0f documents of Fauna collection \"%s\" in " INT64_FORMAT " requests",
					RelationGetRelationName(relation), numrows, seen,
					topts.collection, reader.counters.requests)));
	return numrows;
}
