/*-------------------------------------------------------------------------
 *
 * scan_private.h
 *		  What the files of foreign scans share among themselves.
 *
 * scan_plan.c writes a plan's fdw_private, scan_exec.c reads it; both
 * the executor and ANALYZE (analyze.c) read pages through reader.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAUNA_SCAN_PRIVATE_H
#define FAUNA_SCAN_PRIVATE_H

#include "fauna_fdw.h"

#include "access/stratnum.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "utils/rel.h"

/* ----------------------------------------------------------------
 * scan_plan.c
 * ----------------------------------------------------------------
 */

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
	FdwScanPrivateOffset,		/* Integer: pushed OFFSET */
	FdwScanPrivateParts,		/* Integer: id ranges a parallel scan reads,
								 * 0 for a serial scan */
	FdwScanPrivateStreams		/* String: EXPLAIN VERBOSE's "Fauna streams" */
};
/*
 * The comparison of a pushed ts qual, with ts on the left: the btree
 * strategy of its operator.
 */
typedef enum FaunaTsOp
{
	FAUNA_TS_LT = BTLessStrategyNumber,
	FAUNA_TS_LE = BTLessEqualStrategyNumber,
	FAUNA_TS_EQ = BTEqualStrategyNumber,
	FAUNA_TS_GE = BTGreaterEqualStrategyNumber,
	FAUNA_TS_GT = BTGreaterStrategyNumber
} FaunaTsOp;


/* May a scan of this base relation run asynchronously (async_capable)? */
extern bool fauna_rel_async_capable(RelOptInfo *rel);

/* The api_version of a foreign table's server: 10, or 4 */
extern int	fauna_scan_api_version(Oid relid);

/* The projection text of a column's path: reserved name or dotted field */
extern char *fauna_scan_path_text(FaunaPathKind kind, char **field_path,
								  int depth);

/* ----------------------------------------------------------------
 * scan_exec.c
 * ----------------------------------------------------------------
 */

/* What a reader has cost, for EXPLAIN ANALYZE. */
typedef struct FaunaReaderCounts
{
	FaunaRequestCounters counters;
	FaunaStats	totals;
	int64		documents;
	int64		guesses_abandoned;
} FaunaReaderCounts;

typedef struct FaunaParallelScan FaunaParallelScan;

/* The FaunaColumns of these attributes, built once per scan */
extern FaunaColumn *fauna_scan_columns(Relation rel, List *attnums,
									   int *ncolumns);

/* ----------------------------------------------------------------
 * reader.c: a query's pages, read one after the other
 * ----------------------------------------------------------------
 */

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
	int64		returned;		/* rows returned since fauna_reader_start() */
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

/*
 * The first request of a query (and its EXPLAIN text, when explain is not
 * NULL), by the spec's api_version; id is the id looked up when by_id.
 */
extern void fauna_first_request(const FaunaQuerySpec *spec, const char *id,
								StringInfo body, StringInfo explain);

extern void fauna_reader_init(FaunaReader *reader, FaunaConn *conn,
							  const char *collection);
/* Start reading spec's result; spec must outlive the reading */
extern void fauna_reader_start(FaunaReader *reader, const FaunaQuerySpec *spec,
							   const char *id);
/* The next document's index in reader->page, or -1 at the end */
extern int	fauna_reader_next(FaunaReader *reader);
/* Would fauna_reader_next() answer without waiting for the network? */
extern bool fauna_reader_ready(FaunaReader *reader);
/* Drop the page and any request in flight */
extern void fauna_reader_reset(FaunaReader *reader);
/* reset, and free the reader's memory */
extern void fauna_reader_release(FaunaReader *reader);

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
	int64		snapshot_ts;	/* the snapshot read (µs), 0 if unknown */

	/* a parallel scan (scan_parallel.c) */
	int			nparts;			/* id ranges; 0: a serial scan */
	FaunaParallelScan *pscan;	/* shared, or local without workers */
	bool		pscan_local;
	FaunaQuerySpec part_spec;	/* the part being read */
	FaunaReaderCounts all_counts;	/* every participant's, at shutdown */
	bool		have_all_counts;

	bool		async;			/* run by an Append asynchronously: never
								 * wait for a page (scan_async.c) */
} FaunaScanState;

/* fauna_reader_counts(): a reader's counts; _add(): sum them */
extern void fauna_reader_counts(const FaunaReader *reader,
								FaunaReaderCounts *counts);
extern void fauna_reader_counts_add(FaunaReaderCounts *sum,
									const FaunaReaderCounts *counts);

/* Has the scan returned its last row? */
extern bool fauna_scan_at_end(FaunaScanState *fss);

/* The canonical text of a document id (digits, no sign, no leading 0) */
extern bool fauna_is_canonical_id(const char *text);

/* ----------------------------------------------------------------
 * scan_parallel.c
 * ----------------------------------------------------------------
 */

/* A parallel-aware scan of nparts id ranges, before any shared memory */
extern void fauna_parallel_begin(FaunaScanState *fss, int nparts);
extern void fauna_parallel_rescan(FaunaScanState *fss);
/* Claim the next part and start reading it; false when none is left */
extern bool fauna_parallel_next_part(FaunaScanState *fss);

#endif							/* FAUNA_SCAN_PRIVATE_H */
