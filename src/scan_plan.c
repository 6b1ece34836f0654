/*-------------------------------------------------------------------------
 *
 * scan_plan.c
 *		  Planner callbacks of foreign scans: what Fauna evaluates.
 *
 * The pushdown rules live here and nowhere else: classify_qual() decides
 * which quals Fauna evaluates (id equality with a constant or parameter,
 * sent as Coll.byId(...) for canonical ids only; ts ranges, read from the
 * index indexes.c picks), faunaGetForeignUpperPaths() when a LIMIT goes to
 * Fauna, and faunaGetForeignPlan() which columns are projected.  Every
 * other qual is filtered locally; pushed quals are also the recheck quals.
 * A plan whose index came from Fauna through the user mapping depends on
 * the role.  docs/queries.md describes the rules for users.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "scan_private.h"

#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_operator.h"
#include "commands/defrem.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

/* Planner cost constants: a request costs a network round trip. */
#define FAUNA_STARTUP_COST		100.0
#define FAUNA_PAGE_COST			100.0
#define FAUNA_ROW_COST			(2 * cpu_tuple_cost)

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
	const char *serial_reason;	/* why the scan reads with one stream, or
								 * NULL if it may read with several */
	int			parallel_parts; /* id ranges of the parallel path, if any */
} FaunaRelInfo;

/*
 * Planner state of the final upper relation when a LIMIT is pushed down
 * (output_rel->fdw_private): the one base relation the query scans.
 */
typedef struct FaunaUpperInfo
{
	RelOptInfo *baserel;
} FaunaUpperInfo;
/* ----------------------------------------------------------------
 * Column paths
 * ----------------------------------------------------------------
 */

char *
fauna_scan_path_text(FaunaPathKind kind, char **field_path, int depth)
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

/* The api_version of a foreign table's server. */
int
fauna_scan_api_version(Oid relid)
{
	FaunaServerOptions sopts;

	fauna_get_server_options(GetForeignServer(GetForeignTable(relid)->serverid),
							 &sopts);
	return sopts.api_version;
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
 * The btree strategy of an operator (BTLessStrategyNumber, ...) in the
 * default btree family of its left input type, or 0 if it has none there.
 */
static int
btree_strategy(Oid opno)
{
	Oid			lefttype;
	Oid			righttype;
	Oid			opclass;

	op_input_types(opno, &lefttype, &righttype);
	opclass = GetDefaultOpClass(lefttype, BTREE_AM_OID);
	if (!OidIsValid(opclass))
		return 0;
	return get_op_opfamily_strategy(opno, get_opclass_family(opclass));
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
	int			strategy;
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

	strategy = btree_strategy(op->opno);
	if (fpinfo->kinds[attno - 1] == FAUNA_PATH_ID &&
		strategy == BTEqualStrategyNumber &&
		id_equality_is_exact(op, exprType((Node *) left)))
	{
		*value = right;
		return FAUNA_QUAL_ID_EQ;
	}

	/*
	 * ts comparisons: the column as timestamptz or bigint (microseconds),
	 * compared with a value of the same type, so that the operator is the
	 * plain ordering of time.  "value < ts" is "ts > value".
	 */
	if (fpinfo->kinds[attno - 1] == FAUNA_PATH_TS && strategy != 0)
	{
		Oid			coltype = exprType((Node *) left);

		if ((coltype != TIMESTAMPTZOID && coltype != INT8OID) ||
			exprType((Node *) right) != coltype)
			return FAUNA_QUAL_LOCAL;
		/* timestamptz(p) values are rounded: Fauna would compare others */
		if (coltype == TIMESTAMPTZOID &&
			exprTypmod((Node *) left) >= 0 &&
			exprTypmod((Node *) left) < MAX_TIMESTAMP_PRECISION)
			return FAUNA_QUAL_LOCAL;
		*tsop = (FaunaTsOp) (swapped ? BTCommuteStrategyNumber(strategy) : strategy);
		*value = right;
		return FAUNA_QUAL_TS;
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
void
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
	fpinfo->api_version = fauna_scan_api_version(foreigntableid);
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
		fpinfo->paths[i] = fauna_scan_path_text(fpinfo->kinds[i], field_path, depth);
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
	if (btree_strategy(op->opno) != BTEqualStrategyNumber)
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

bool
fauna_rel_async_capable(RelOptInfo *rel)
{
	FaunaRelInfo *fpinfo = (FaunaRelInfo *) rel->fdw_private;

	return fpinfo != NULL && fpinfo->opts.async_capable && !fpinfo->opts.events;
}

/*
 * A scan reads through its own connection in whichever process runs it:
 * any scan may run in a parallel worker.
 */
bool
faunaIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
							   RangeTblEntry *rte)
{
	return true;
}

/*
 * Why a scan must read with one stream (the parallel scan reads ranges of
 * document ids, each at one snapshot: docs/performance.md), or NULL.
 */
static const char *
serial_reason(RelOptInfo *baserel, FaunaRelInfo *fpinfo)
{
	if (fpinfo->id_qual)
		return "a lookup by id";
	if (fpinfo->opts.events)
		return "an event feed";
	if (fpinfo->ts_index && fpinfo->ts_quals)
		return "a ts range read from an index in ts order";
	if (fpinfo->opts.max_streams == 1)
		return "max_streams is 1";
	if (!baserel->consider_parallel || max_parallel_workers_per_gather <= 0)
		return "no parallel workers for this query";
	return NULL;
}

/*
 * A partial path: the collection read in ranges of document ids by the
 * leader and its workers, each range claimed from shared memory, all at
 * one snapshot.  Its workers are counted as for a parallel heap scan of
 * the same bytes (compute_parallel_worker), capped by max_streams; every
 * cost but the first request (which learns the range of ids) is shared.
 */
static void
add_parallel_path(PlannerInfo *root, RelOptInfo *baserel,
				  FaunaRelInfo *fpinfo, double fetched, double pages)
{
	double		bytes = fetched * Max(baserel->reltarget->width, 1);
	int			workers;
	double		divisor;
	Cost		startup_cost = 2 * FAUNA_STARTUP_COST;
	Cost		run_cost;
	ForeignPath *path;

	workers = compute_parallel_worker(baserel, bytes / BLCKSZ, -1,
									  max_parallel_workers_per_gather);
	if (fpinfo->opts.max_streams > 0)
		workers = Min(workers, fpinfo->opts.max_streams - 1);
	/* a stream that reads no page of its own is no help */
	workers = Min(workers, (int) Min(pages - 1, INT_MAX));
	if (workers <= 0)
		return;

	/* as get_parallel_divisor(): the leader also reads, less so with more workers */
	divisor = workers;
	if (parallel_leader_participation && workers < 4)
		divisor += 1.0 - 0.3 * workers;
	run_cost = (pages * FAUNA_PAGE_COST + fetched * FAUNA_ROW_COST) / divisor;

	/* a few ranges a stream, so that a fast one takes more; each a page or more */
	fpinfo->parallel_parts = (int) Max(Min(pages, (workers + 1) * 8.0), workers + 1.0);

	path = create_foreignscan_path(root, baserel, NULL,
								   clamp_row_est(baserel->rows / divisor),
								   startup_cost, startup_cost + run_cost,
								   NIL, NULL, NULL, NIL);
	path->path.parallel_aware = true;
	path->path.parallel_safe = true;
	path->path.parallel_workers = workers;
	add_partial_path(baserel, (Path *) path);
}

/*
 * The plain path, plus parameterized byId paths for joins on the id.
 * Fauna returns rows in no order the planner can use.
 */
void
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

	fpinfo->serial_reason = serial_reason(baserel, fpinfo);
	if (fpinfo->serial_reason == NULL)
		add_parallel_path(root, baserel, fpinfo, fetched, pages);
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
void
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

/* What EXPLAIN VERBOSE says of the plan's streams, and why. */
static char *
streams_text(ForeignPath *best_path, FaunaRelInfo *fpinfo, int limit,
			 bool by_id)
{
	if (best_path->path.parallel_aware)
		return psprintf("up to %d, reading %d ranges of document ids at one snapshot",
						best_path->path.parallel_workers + 1,
						fpinfo->parallel_parts);
	if (by_id)
		return pstrdup("1 (a lookup by id)");
	if (limit >= 0)
		return pstrdup("1 (a pushed LIMIT)");
	if (fpinfo->serial_reason)
		return psprintf("1 (%s)", fpinfo->serial_reason);
	return pstrdup("1 (cheaper by the planner's estimate)");
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
ForeignScan *
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

	memset(&spec, 0, sizeof(spec));
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
	if (best_path->path.parallel_aware)
	{
		/* EXPLAIN shows a part's query; its values are set per part */
		spec.id_range = true;
		spec.at_ts = 1;
	}
	initStringInfo(&body);
	initStringInfo(&explain);
	if (fpinfo->opts.events)
		fauna_events_explain_query(spec.collection, &spec.ts_range,
								   spec.api_version, spec.page_size, &explain);
	else
		fauna_first_request(&spec, NULL, &body, &explain);

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
	fdw_private = lappend(fdw_private,
						  makeInteger(best_path->path.parallel_aware
									  ? fpinfo->parallel_parts : 0));
	fdw_private = lappend(fdw_private,
						  makeString(streams_text(best_path, fpinfo, limit,
												  spec.by_id)));

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
