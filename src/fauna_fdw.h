/*-------------------------------------------------------------------------
 *
 * fauna_fdw.h
 *		  Private declarations shared by the files of fauna_fdw.
 *
 * Each .c file under src/ owns one concern; this header is the only place
 * where they meet.  libcurl is used only by connection.c and json-c only by
 * decode.c, so nothing here mentions either library: the rest of the code
 * speaks in Fauna terms (pages, documents, cursors, columns).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAUNA_FDW_H
#define FAUNA_FDW_H

#include "postgres.h"

#include "access/attnum.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/palloc.h"

/* ----------------------------------------------------------------
 * decode.c: Fauna tagged JSON responses -> pages, documents, Datums
 * ----------------------------------------------------------------
 */

/* Where a foreign-table column takes its value from (the "path" option). */
typedef enum FaunaPathKind
{
	FAUNA_PATH_ID,				/* "ref" or "id": the document id */
	FAUNA_PATH_TS,				/* commit time */
	FAUNA_PATH_TTL,
	FAUNA_PATH_COLL,			/* collection name */
	FAUNA_PATH_DATA,			/* all user fields, as one value */
	FAUNA_PATH_ACTION,			/* event tables only: add/update/remove */
	FAUNA_PATH_FIELD			/* a (dotted) user field */
} FaunaPathKind;

/*
 * One column of a scan's tuple, resolved once per scan so that per-document
 * work does no catalog access.  The scan fills the first block;
 * fauna_column_prepare() fills the conversion cache.
 */
typedef struct FaunaColumn
{
	AttrNumber	attnum;			/* 1-based attribute number */
	char	   *attname;		/* for error messages */
	FaunaPathKind kind;
	char	  **field_path;		/* FAUNA_PATH_FIELD: the dotted path split */
	int			field_depth;	/* number of elements in field_path */
	Oid			typid;			/* column type */
	int32		typmod;

	/* filled by fauna_column_prepare() */
	Oid			elemtypid;		/* element type if typid is an array, else
								 * InvalidOid */
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	FmgrInfo	infunc;			/* input function of typid (or element
								 * type), used only for numeric/text-like
								 * fallbacks */
	Oid			inioparam;
} FaunaColumn;

/* Counters of one response, summed into EXPLAIN ANALYZE. */
typedef struct FaunaStats
{
	int64		read_ops;
	int64		compute_ops;
	int64		write_ops;
	int64		bytes_read;		/* storage_bytes_read reported by Fauna */
	int64		txn_ts;			/* txn_ts of the response, microseconds */
} FaunaStats;

/*
 * A page of documents parsed from one response.  Opaque: it holds json-c
 * objects.  Their memory is released when the memory context the page was
 * created in is reset or deleted (a reset callback), so an ERROR in the
 * middle of a scan leaks nothing.
 */
typedef struct FaunaPage FaunaPage;

/*
 * Incremental parser: fed body bytes as they arrive from the network.
 * fauna_parser_feed() never throws (it is called from inside libcurl's write
 * callback, where a longjmp would corrupt libcurl's state); it only records
 * the first error.  The parser's json-c memory is tied to the context it was
 * created in, like a page's.
 */
typedef struct FaunaParser FaunaParser;

extern FaunaParser *fauna_parser_create(MemoryContext cxt);
extern bool fauna_parser_feed(FaunaParser *parser, const char *buf, size_t len);

/*
 * Finish a successful (HTTP 200) /query/1 response and turn it into a page.
 * Accepted shapes of the response's "data": a set page
 * {"@set":{"data":[...],"after"?}}, a plain page {"data":[...],"after"?}
 * (from Set.paginate), a single document or projected object (byId: one
 * element), null or a null-document {"@ref":{...,"exists":false}} (no
 * element).  Anything else -- malformed or truncated JSON, a wrong shape,
 * "after" that is not a string, an element that is not an object -- raises
 * an ERROR (ERRCODE_FDW_INVALID_DATA_TYPE family) whose message names
 * `what` (e.g. the collection), with no partial page returned.
 */
extern FaunaPage *fauna_parser_finish_page(FaunaParser *parser, const char *what);

/* One-shot helper: parse a whole body already in memory. */
extern FaunaPage *fauna_page_from_buffer(const char *body, size_t len,
										 MemoryContext cxt, const char *what);

extern int	fauna_page_count(FaunaPage *page);

/* The "after" cursor, or NULL on the last page; palloc'd in CurrentMemoryContext. */
extern char *fauna_page_after(FaunaPage *page);
extern void fauna_page_stats(FaunaPage *page, FaunaStats *stats);

/* The document id of element i, or NULL; for error messages and sampling. */
extern const char *fauna_page_document_id(FaunaPage *page, int i);

/*
 * Convert element i of the page into values/isnull, indexed by attnum - 1,
 * for the given columns only (other slots are left untouched).  Allocates in
 * CurrentMemoryContext, normally the scan's per-tuple context.  A value that
 * cannot be converted raises an ERROR naming the column, the document id and
 * the value's Fauna type; a missing field gives NULL.
 */
extern void fauna_page_document(FaunaPage *page, int i,
								FaunaColumn *columns, int ncolumns,
								Datum *values, bool *isnull);

extern void fauna_column_prepare(FaunaColumn *column);

/*
 * Parse an error body ({"error":{"code","message"}} of /query/1).  Returns
 * false when the body is not such an object; never throws.  *code and
 * *message are palloc'd in CurrentMemoryContext.
 */
extern bool fauna_parse_error_body(const char *body, size_t len,
								   char **code, char **message);

#endif							/* FAUNA_FDW_H */
