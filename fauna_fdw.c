/*-------------------------------------------------------------------------
 *
 * fauna_fdw.c
 *		  Entry points of fauna_fdw: module load, handler and validator.
 *
 * The work is done in src/ (the file list is in src/fauna_fdw.h): this
 * file only wires it into PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fauna_fdw.h"

#include "catalog/pg_foreign_table.h"
#include "foreign/fdwapi.h"
#include "utils/array.h"
#include "access/reloptions.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(fauna_fdw_handler);
PG_FUNCTION_INFO_V1(fauna_fdw_validator);

void		_PG_init(void);

/*
 * Module load.  Nothing to set up eagerly: connection.c registers its
 * cache invalidation callbacks when it first creates its cache, so that a
 * backend that never scans a Fauna table pays nothing.
 */
void
_PG_init(void)
{
}

/*
 * The FDW handler: a node with the callbacks of this wrapper.
 */
Datum
fauna_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

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
	routine->IsForeignScanParallelSafe = faunaIsForeignScanParallelSafe;
	routine->EstimateDSMForeignScan = faunaEstimateDSMForeignScan;
	routine->InitializeDSMForeignScan = faunaInitializeDSMForeignScan;
	routine->ReInitializeDSMForeignScan = faunaReInitializeDSMForeignScan;
	routine->InitializeWorkerForeignScan = faunaInitializeWorkerForeignScan;
	routine->ShutdownForeignScan = faunaShutdownForeignScan;
	routine->IsForeignPathAsyncCapable = faunaIsForeignPathAsyncCapable;
	routine->ForeignAsyncRequest = faunaForeignAsyncRequest;
	routine->ForeignAsyncConfigureWait = faunaForeignAsyncConfigureWait;
	routine->ForeignAsyncNotify = faunaForeignAsyncNotify;
	routine->ImportForeignSchema = fauna_import_foreign_schema;

	PG_RETURN_POINTER(routine);
}

/*
 * The FDW validator, called by CREATE/ALTER of the wrapper, servers, user
 * mappings and foreign tables with the new option list and the catalog it
 * belongs to.
 */
Datum
fauna_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);

	fauna_validate_options(options, catalog);

	PG_RETURN_VOID();
}
