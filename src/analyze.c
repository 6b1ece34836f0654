/*-------------------------------------------------------------------------
 *
 * analyze.c
 *		  ANALYZE of foreign tables: a uniform sample of a collection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "scan_private.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "utils/memutils.h"
#include "utils/sampling.h"

static int	fauna_acquire_sample_rows(Relation relation, int elevel,
									  HeapTuple *rows, int targrows,
									  double *totalrows,
									  double *totaldeadrows);

bool
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
	columns = fauna_scan_columns(relation, attnums, &ncolumns);

	memset(&spec, 0, sizeof(spec));
	spec.collection = topts.collection;
	spec.page_size = topts.page_size;
	spec.paths = NIL;
	for (i = 0; i < ncolumns; i++)
	{
		spec.paths = lappend(spec.paths,
							 makeString(fauna_scan_path_text(columns[i].kind,
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

	fauna_reader_init(&reader, fauna_get_connection(user, server), topts.collection);
	fauna_reader_start(&reader, &spec, NULL);

	reservoir_init_selection_state(&rstate, targrows);
	tuple_cxt = AllocSetContextCreate(CurrentMemoryContext, "fauna_fdw analyze tuple",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext oldcxt;
		int			idx;
		int			pos;

		vacuum_delay_point();
		idx = fauna_reader_next(&reader);
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
	fauna_reader_release(&reader);

	ereport(elevel,
			(errmsg("\"%s\": sampled %d of %.0f documents of Fauna collection \"%s\" in %lld requests",
					RelationGetRelationName(relation), numrows, seen,
					topts.collection, (long long) reader.counters.requests)));
	return numrows;
}

