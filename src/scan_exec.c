/*-------------------------------------------------------------------------
 *
 * scan_exec.c
 *		  Executor callbacks of foreign scans, and the snapshot a scan read.
 *
 * A scan evaluates the pushed values (id, ts bounds) once it starts,
 * sends no request when they select nothing, and returns the documents of
 * its pages (reader.c) converted in a context reset per tuple.  Any
 * failure raises an ERROR: a statement never returns a partial result as
 * if complete.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "scan_private.h"

#include "access/table.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "access/parallel.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"


/*
 * Build the FaunaColumns of the given attributes, once per scan, so that
 * no catalog access happens per row.
 */
FaunaColumn *
fauna_scan_columns(Relation rel, List *attnums, int *ncolumns)
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

static void forget_snapshot(Oid relid);

bool
fauna_scan_at_end(FaunaScanState *fss)
{
	FaunaReader *r = &fss->reader;

	if (!fss->started)
		return false;
	if (r->limit >= 0 && r->returned >= r->limit)
		return true;
	return !r->more && (r->page == NULL || r->next >= r->count);
}

/* Fauna times span years 1..9999; bounds outside are open or empty. */
#define FAUNA_MIN_TIME_US	INT64CONST(-62135596800000000)	/* 0001-01-01 */
#define FAUNA_MAX_TIME_US	INT64CONST(253402300799999999)	/* 9999-12-31 */

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

void
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

	fss->async = node->ss.ps.async_capable;
	if (fsplan->scan.plan.parallel_aware)
		fauna_parallel_begin(fss, intVal(list_nth(fsplan->fdw_private,
												  FdwScanPrivateParts)));

	/*
	 * What fauna_fdw_scan_snapshot() reports must be this scan's snapshot,
	 * which a scan run by a parallel worker cannot report: until this one
	 * ends, the table's last snapshot is unknown.
	 */
	if (!IsParallelWorker())
		forget_snapshot(RelationGetRelid(rel));

	fauna_get_table_options(RelationGetRelid(rel), &topts);
	table = GetForeignTable(RelationGetRelid(rel));
	fss->spec.api_version = fauna_scan_api_version(RelationGetRelid(rel));
	fss->columns = fauna_scan_columns(rel,
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
	fauna_reader_init(&fss->reader, scan_connection(node, table), fss->spec.collection);
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
bool
fauna_is_canonical_id(const char *text)
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
 * fauna_is_canonical_id).  Such a value never reaches Fauna.
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
	return fauna_is_canonical_id(text) ? text : NULL;
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
	/* a parallel scan reads the parts it claims, one after the other */
	if (fss->nparts == 0)
		fauna_reader_start(&fss->reader, &fss->spec, id);
	return true;
}

TupleTableSlot *
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

	/* asynchronous: a row that is not there yet is no row for now */
	if (fss->async && !fauna_reader_ready(&fss->reader))
		return slot;
	while ((i = fauna_reader_next(&fss->reader)) < 0)
	{
		if (fss->nparts == 0 || !fauna_parallel_next_part(fss))
			return slot;
	}

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
void
faunaReScanForeignScan(ForeignScanState *node)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	if (fss->explain_only)
		return;
	if (fss->events)
		fauna_events_rescan(fss->events);
	fauna_reader_reset(&fss->reader);
	if (fss->nparts > 0)
		fauna_parallel_rescan(fss);
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

static void
forget_snapshot(Oid relid)
{
	if (LastSnapshots != NULL)
		(void) hash_search(LastSnapshots, &relid, HASH_REMOVE, NULL);
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
void
faunaEndForeignScan(ForeignScanState *node)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	if (fss == NULL || fss->explain_only)
		return;
	if (fss->events)
		fauna_events_end(fss->events);
	if (fss->snapshot_ts > 0)
		remember_snapshot(RelationGetRelid(node->ss.ss_currentRelation),
						  fss->snapshot_ts);
	else if (fss->reader.snapshot_ts > 0)
		remember_snapshot(RelationGetRelid(node->ss.ss_currentRelation),
						  fss->reader.snapshot_ts);
	fauna_reader_reset(&fss->reader);
}

/*
 * EXPLAIN shows the FQL (values as $n, so plans are stable and reveal no
 * data); EXPLAIN ANALYZE adds what the scan cost on the Fauna side.
 */
void
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
	if (es->verbose)
		ExplainPropertyText("Fauna streams",
							strVal(list_nth(fsplan->fdw_private, FdwScanPrivateStreams)),
							es);

	if (es->analyze && fss && !fss->explain_only && fss->events)
		fauna_events_explain(fss->events, es);
	else if (es->analyze && fss && !fss->explain_only)
	{
		FaunaReaderCounts c;

		/* a parallel scan's leader shows what all its streams did */
		if (fss->have_all_counts)
			c = fss->all_counts;
		else
			fauna_reader_counts(&fss->reader, &c);
		ExplainPropertyInteger("Fauna requests", NULL, c.counters.requests, es);
		if (c.counters.attempts > c.counters.requests)
			ExplainPropertyInteger("Fauna retries", NULL,
								   c.counters.attempts - c.counters.requests, es);
		if (c.guesses_abandoned > 0)
			ExplainPropertyInteger("Fauna requests abandoned", NULL,
								   c.guesses_abandoned, es);
		ExplainPropertyInteger("Fauna documents", NULL, c.documents, es);
		ExplainPropertyInteger("Fauna bytes received", NULL,
							   c.counters.bytes_received, es);
		ExplainPropertyInteger("Fauna read ops", NULL, c.totals.read_ops, es);
		ExplainPropertyInteger("Fauna compute ops", NULL, c.totals.compute_ops, es);
	}
}
