/*-------------------------------------------------------------------------
 *
 * scan_parallel.c
 *		  Parallel foreign scans: one collection read by several streams,
 *		  at one snapshot.
 *
 * The first participant to start (the leader or a worker) asks Fauna for
 * the collection's first and last document ids; the answer's transaction
 * time is the snapshot every part then reads, with at (Time(...)) around
 * its query (At(ts, ...) in FQL v4).  The ids in between are cut into
 * ranges (parts) that the participants claim from shared memory one at a
 * time, so that a fast stream reads more of them; a part's pages follow
 * its cursor at the part's snapshot.  Documents written after the snapshot have
 * later ids or are not visible at it, so every document of the snapshot
 * is read exactly once.  docs/performance.md describes the choice for
 * users.
 *
 * A parallel-aware plan run without workers (no parallel context) keeps
 * the same state in local memory and reads every part itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "scan_private.h"

#include "access/parallel.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

typedef enum FaunaParallelPhase
{
	FAUNA_PARALLEL_UNSET,		/* nobody has asked for the ids yet */
	FAUNA_PARALLEL_SETTING_UP,	/* one participant is asking */
	FAUNA_PARALLEL_READY		/* the ids and the snapshot are known */
} FaunaParallelPhase;

/* What the participants of one parallel scan share. */
struct FaunaParallelScan
{
	slock_t		mutex;
	ConditionVariable ready_cv; /* signalled when phase becomes READY */
	FaunaParallelPhase phase;
	int64		snapshot_ts;	/* µs since the Unix epoch */
	uint64		first_id;
	uint64		span;			/* ids from first_id on; 0: no document */
	int			nparts;
	int			next_part;		/* the next part to claim */
	/* the counters of each participant (workers, then the leader) */
	int			nslots;
	FaunaReaderCounts slots[FLEXIBLE_ARRAY_MEMBER];
};

static Size
parallel_size(int nworkers)
{
	return add_size(offsetof(FaunaParallelScan, slots),
					mul_size(nworkers + 1, sizeof(FaunaReaderCounts)));
}

static void
parallel_init(FaunaParallelScan *ps, int nparts, int nworkers)
{
	memset(ps, 0, parallel_size(nworkers));
	SpinLockInit(&ps->mutex);
	ConditionVariableInit(&ps->ready_cv);
	ps->phase = FAUNA_PARALLEL_UNSET;
	ps->nparts = nparts;
	ps->nslots = nworkers + 1;
}

/* A parallel-aware scan's own state, until shared memory replaces it. */
void
fauna_parallel_begin(FaunaScanState *fss, int nparts)
{
	fss->nparts = nparts;
	fss->pscan = palloc(parallel_size(0));
	fss->pscan_local = true;
	parallel_init(fss->pscan, nparts, 0);
}

/* Start over: a rescan of a scan that has no shared memory. */
void
fauna_parallel_rescan(FaunaScanState *fss)
{
	if (fss->pscan_local)
		parallel_init(fss->pscan, fss->nparts, 0);
}

Size
faunaEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt)
{
	return parallel_size(pcxt->nworkers);
}

void
faunaInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
							  void *coordinate)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;
	FaunaParallelScan *ps = (FaunaParallelScan *) coordinate;

	parallel_init(ps, fss->nparts, pcxt->nworkers);
	fss->pscan = ps;
	fss->pscan_local = false;
}

void
faunaReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
								void *coordinate)
{
	FaunaParallelScan *ps = (FaunaParallelScan *) coordinate;

	SpinLockAcquire(&ps->mutex);
	ps->phase = FAUNA_PARALLEL_UNSET;
	ps->next_part = 0;
	SpinLockRelease(&ps->mutex);
}

void
faunaInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc,
								 void *coordinate)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	fss->pscan = (FaunaParallelScan *) coordinate;
	fss->pscan_local = false;
}

/*
 * The end of a participant's reading: its counters go to its slot in
 * shared memory, where the leader (which shuts down last, once its
 * workers have ended) sums them for EXPLAIN ANALYZE, and finds the
 * snapshot for fauna_fdw_scan_snapshot().
 */
void
faunaShutdownForeignScan(ForeignScanState *node)
{
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;
	FaunaParallelScan *ps = fss ? fss->pscan : NULL;
	FaunaReaderCounts mine;
	int			slot;

	if (ps == NULL || fss->explain_only)
		return;
	fauna_reader_reset(&fss->reader);
	slot = IsParallelWorker() ? ParallelWorkerNumber : ps->nslots - 1;
	if (slot < 0 || slot >= ps->nslots)
		return;
	fauna_reader_counts(&fss->reader, &mine);

	SpinLockAcquire(&ps->mutex);
	ps->slots[slot] = mine;
	if (!IsParallelWorker())
	{
		memset(&fss->all_counts, 0, sizeof(fss->all_counts));
		for (int i = 0; i < ps->nslots; i++)
			fauna_reader_counts_add(&fss->all_counts, &ps->slots[i]);
		fss->have_all_counts = true;
		if (ps->phase == FAUNA_PARALLEL_READY)
			fss->snapshot_ts = ps->snapshot_ts;
	}
	SpinLockRelease(&ps->mutex);
}

/* One top-level field of the bounds answer, as text (NULL if null). */
static char *
bounds_field(FaunaPage *page, const char *name)
{
	bool		isnull;
	Datum		value = fauna_page_field(page, 0, FAUNA_PATH_FIELD, name, TEXTOID,
										 &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

/* A document id of the bounds answer, which must be canonical. */
static uint64
bounds_id(FaunaScanState *fss, const char *text)
{
	if (!fauna_is_canonical_id(text))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for collection \"%s\"",
						fss->spec.collection),
				 errdetail("The first or last document id of the collection is not a decimal integer.")));
	return strtou64(text, NULL, 10);
}

/*
 * The first and last ids of a bounds answer: fields "first" and "last" of
 * one object (FQL v10), or the ids of a page of none or two documents (v4).
 * False for an empty collection.
 */
static bool
bounds_from_page(FaunaScanState *fss, FaunaPage *page, char **first, char **last)
{
	int			count = fauna_page_count(page);

	if (fss->spec.api_version == 4)
	{
		if (count == 0)
			return false;
		if (count != 2)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid response from Fauna for collection \"%s\"",
							fss->spec.collection),
					 errdetail("The answer giving the collection's first and last documents does not hold two documents.")));
		*first = pstrdup(fauna_page_document_id(page, 0));
		*last = pstrdup(fauna_page_document_id(page, 1));
		return true;
	}
	if (count != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for collection \"%s\"",
						fss->spec.collection),
				 errdetail("The answer giving the collection's first and last document ids is not one object.")));
	*first = bounds_field(page, "first");
	*last = bounds_field(page, "last");
	return *first != NULL && *last != NULL;
}

/*
 * Ask Fauna for the first and last document ids; the answer's transaction
 * time becomes the snapshot of every part.
 */
static void
learn_ids(FaunaScanState *fss, FaunaParallelScan *ps)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "fauna_fdw id bounds",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	StringInfoData body;
	FaunaPage  *page;
	FaunaStats	stats;
	char	   *first;
	char	   *last;
	uint64		first_id = 0;
	uint64		span = 0;

	initStringInfo(&body);
	if (fss->spec.api_version == 4)
		fauna_fql_v4_id_bounds(fss->spec.collection, &body);
	else
		fauna_fql_id_bounds(fss->spec.collection, &body);
	fauna_request_start(fss->reader.conn, body.data, fss->spec.collection, cxt);
	page = fauna_request_wait(fss->reader.conn, &fss->reader.counters);
	memset(&stats, 0, sizeof(stats));
	fauna_page_stats(page, &stats);
	if (stats.txn_ts <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for collection \"%s\"",
						fss->spec.collection),
				 errdetail("The answer giving the collection's first and last document ids has no transaction time.")));
	if (bounds_from_page(fss, page, &first, &last))
	{
		uint64		last_id = bounds_id(fss, last);

		first_id = bounds_id(fss, first);
		if (last_id < first_id)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid response from Fauna for collection \"%s\"",
							fss->spec.collection),
					 errdetail("The collection's last document id is smaller than its first.")));
		/* at most 2^63 ids: the span fits */
		span = last_id - first_id + 1;
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);

	SpinLockAcquire(&ps->mutex);
	ps->snapshot_ts = stats.txn_ts;
	ps->first_id = first_id;
	ps->span = span;
	ps->phase = FAUNA_PARALLEL_READY;
	SpinLockRelease(&ps->mutex);
	ConditionVariableBroadcast(&ps->ready_cv);
}

/*
 * Wait until the ids are known, learning them if nobody else is.  A
 * failure of the participant that learns them fails the statement, which
 * stops the others' waits.
 */
static void
await_ids(FaunaScanState *fss, FaunaParallelScan *ps)
{
	bool		mine = false;

	SpinLockAcquire(&ps->mutex);
	if (ps->phase == FAUNA_PARALLEL_UNSET)
	{
		ps->phase = FAUNA_PARALLEL_SETTING_UP;
		mine = true;
	}
	SpinLockRelease(&ps->mutex);
	if (mine)
	{
		learn_ids(fss, ps);
		return;
	}
	ConditionVariablePrepareToSleep(&ps->ready_cv);
	for (;;)
	{
		FaunaParallelPhase phase;

		SpinLockAcquire(&ps->mutex);
		phase = ps->phase;
		SpinLockRelease(&ps->mutex);
		if (phase == FAUNA_PARALLEL_READY)
			break;
		ConditionVariableSleep(&ps->ready_cv, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/*
 * Where part i of n starts, as an offset from the first id: parts shrink
 * linearly, part i weighing n - i, so that the last parts, which decide
 * when the slowest stream ends, are small (the last of 32 holds 1/528 of
 * the ids), while the first, claimed side by side, are large.  Equal parts
 * left the streams up to a whole part apart at the end: 1M documents read
 * by 4 streams over 40 ms took 14.6 s, 1.9 s more than their pages
 * (bench/RESULTS.md).  span / total * w + (span % total) * w / total is
 * span * w / total without overflow (n <= 8,200: w and total < 2^26).
 */
static uint64
part_offset(uint64 span, int n, int i)
{
	uint64		total = (uint64) n * (n + 1) / 2;
	uint64		w = (uint64) i * n - (uint64) i * (i - 1) / 2;

	return span / total * w + (span % total) * w / total;
}

/*
 * Claim the next part and start reading it; false when none is left.
 */
bool
fauna_parallel_next_part(FaunaScanState *fss)
{
	FaunaParallelScan *ps = fss->pscan;

	await_ids(fss, ps);
	for (;;)
	{
		int			part;
		uint64		lo;
		uint64		size;

		SpinLockAcquire(&ps->mutex);
		part = ps->next_part < ps->nparts ? ps->next_part++ : -1;
		SpinLockRelease(&ps->mutex);
		if (part < 0 || ps->span == 0)
			return false;

		lo = part_offset(ps->span, ps->nparts, part);
		size = part_offset(ps->span, ps->nparts, part + 1) - lo;
		lo += ps->first_id;
		if (size == 0)
			continue;			/* more parts than ids */

		fss->part_spec = fss->spec;
		fss->part_spec.id_range = true;
		snprintf(fss->part_spec.id_from, sizeof(fss->part_spec.id_from),
				 UINT64_FORMAT, lo);
		snprintf(fss->part_spec.id_to, sizeof(fss->part_spec.id_to),
				 UINT64_FORMAT, lo + size - 1);
		fss->part_spec.at_ts = ps->snapshot_ts;
		fss->snapshot_ts = ps->snapshot_ts;
		fauna_reader_start(&fss->reader, &fss->part_spec, NULL);
		/* the snapshot read is the parts', not their answers' txn time */
		fss->reader.snapshot_ts = ps->snapshot_ts;
		return true;
	}
}
