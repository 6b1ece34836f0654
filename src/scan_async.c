/*-------------------------------------------------------------------------
 *
 * scan_async.c
 *		  Asynchronous execution of foreign scans under an Append.
 *
 * With async_capable, the scans of an Append (a UNION ALL of several
 * collections, the partitions of a partitioned table) each keep their
 * next page on its way while the Append takes rows from whichever scan
 * has them: a scan asked for a row it does not have yet says so instead
 * of waiting, and tells the Append which socket to wait for.  Only the
 * wait moves: the requests, retries and errors are the serial scan's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/eventfd.h>

#include "scan_private.h"

#include "executor/execAsync.h"
#include "nodes/execnodes.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"

/* How long a notified scan waits for a connection being made, at most. */
#define FAUNA_ASYNC_STEP_MS		10

/*
 * Descriptors that are always readable: the Append's wait ends at once when
 * a scan waits for something that is no socket to read (curl making a
 * connection, a timer), and the scan then waits a short step itself.  A
 * wait set takes a descriptor once, so each async subplan of an Append
 * (its request_index) has its own; they live as long as the backend.
 */
static int *always_readable = NULL;
static int	n_always_readable = 0;

static int
always_readable_fd(int index)
{
	if (index >= n_always_readable)
	{
		int			n = Max(index + 1, 2 * n_always_readable);
		int		   *fds = MemoryContextAlloc(TopMemoryContext, n * sizeof(int));

		for (int i = 0; i < n; i++)
			fds[i] = i < n_always_readable ? always_readable[i] : -1;
		if (always_readable)
			pfree(always_readable);
		always_readable = fds;
		n_always_readable = n;
	}
	if (always_readable[index] >= 0)
		return always_readable[index];
	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not open a descriptor for an asynchronous Fauna scan"),
				 errdetail("Every file descriptor this backend may use is in use."),
				 errhint("Raise max_files_per_process, or set async_capable to false.")));
	always_readable[index] = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	if (always_readable[index] < 0)
	{
		ReleaseExternalFD();
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create an event descriptor: %m")));
	}
	return always_readable[index];
}

bool
faunaIsForeignPathAsyncCapable(ForeignPath *path)
{
	RelOptInfo *rel = path->path.parent;

	if (IS_UPPER_REL(rel) || path->path.parallel_aware)
		return false;
	return fauna_rel_async_capable(rel);
}

/*
 * Answer the request with the scan's next row if it has it, or with the
 * end of the scan; else leave it pending for a callback.
 */
static void
produce(AsyncRequest *areq)
{
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;
	TupleTableSlot *result;

	/* ExecAsyncRequest() and ExecAsyncNotify() keep the instrumentation */
	result = areq->requestee->ExecProcNodeReal(areq->requestee);

	if (!TupIsNull(result) || fauna_scan_at_end(fss))
		ExecAsyncRequestDone(areq, result);
	else
		ExecAsyncRequestPending(areq);
}

void
faunaForeignAsyncRequest(AsyncRequest *areq)
{
	produce(areq);
}

void
faunaForeignAsyncConfigureWait(AsyncRequest *areq)
{
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;
	AppendState *requestor = (AppendState *) areq->requestor;
	pgsocket	fd = fauna_request_socket(fss->reader.conn);

	if (fd == PGINVALID_SOCKET)
		fd = always_readable_fd(areq->request_index);
	AddWaitEventToSet(requestor->as_eventset, WL_SOCKET_READABLE, fd, NULL, areq);
}

void
faunaForeignAsyncNotify(AsyncRequest *areq)
{
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	FaunaScanState *fss = (FaunaScanState *) node->fdw_state;

	if (!fauna_request_finished(fss->reader.conn))
		fauna_request_step(fss->reader.conn, FAUNA_ASYNC_STEP_MS);
	produce(areq);
}
