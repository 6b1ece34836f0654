/*-------------------------------------------------------------------------
 *
 * fauna_fdw.h
 *		  Private declarations shared by the files of fauna_fdw.
 *
 * Each .c file under src/ owns one concern; this header is the only place
 * where they meet, in a section per file, in the order of their
 * dependencies.  libcurl is used only by connection.c, transfer.c and
 * remote_error.c (through connection_private.h), and JSON syntax is known
 * only to json_tape.c, so nothing here mentions either: the rest of
 * the code speaks in Fauna terms (pages, documents, cursors, columns).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAUNA_FDW_H
#define FAUNA_FDW_H

#include "postgres.h"

#include "access/attnum.h"
#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"

/* ----------------------------------------------------------------
 * Types every file uses
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

/* ----------------------------------------------------------------
 * page.c: response bodies, as they arrive, into pages of elements
 * ----------------------------------------------------------------
 */

/*
 * A page of documents parsed from one response.  Opaque: it holds the body
 * and the token array of it (json_tape.h), both palloc'd in the memory context the
 * page was created in, so resetting or deleting that context frees the page
 * and an ERROR in the middle of a scan leaks nothing.
 */
typedef struct FaunaPage FaunaPage;

/*
 * Incremental parser: body bytes are appended as they arrive from the
 * network (fauna_parser_append(), cheap, so that the transfer goes at the
 * network's pace) and parsed whenever the backend would otherwise wait
 * (fauna_parser_catch_up()), so that a page is mostly parsed by the time
 * its last byte arrives.  Neither throws (they run inside libcurl's write
 * callback and its wait loop, where a longjmp would corrupt libcurl's
 * state): the bytes go to a buffer in the context the parser was created
 * in, and the first failure (out of memory, too large, bad JSON) is
 * recorded and the call returns false, so that the transfer stops;
 * fauna_parser_finish_page() then raises it, or completes the page.
 * fauna_parser_feed() is both at once.
 */
typedef struct FaunaParser FaunaParser;

extern FaunaParser *fauna_parser_create(MemoryContext cxt);
extern void fauna_parser_reserve(FaunaParser *parser, size_t expected);
extern bool fauna_parser_append(FaunaParser *parser, const char *buf, size_t len);
extern bool fauna_parser_catch_up(FaunaParser *parser);
extern bool fauna_parser_feed(FaunaParser *parser, const char *buf, size_t len);
extern char *fauna_parser_guess_after(FaunaParser *parser);

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

/*
 * What the caller's query can answer, when it knows: the shapes above are
 * the union of what every query of fauna_fdw gets back, and a scan that
 * took a document for a page (or null for an empty collection) would
 * return a wrong result as if complete.  Set on the parser before
 * fauna_parser_finish_page(); a response of another shape raises the
 * same ERROR as a malformed one.
 */
typedef enum FaunaExpect
{
	FAUNA_EXPECT_ANY = 0,		/* any shape above (discovery, import,
								 * event sources and feeds) */
	FAUNA_EXPECT_PAGE,			/* Coll.all(), an index, Set.paginate(): a
								 * set page (tagged or plain) whose elements
								 * are documents or projected objects, each
								 * with a string "id"; FQL v4: a page */
	FAUNA_EXPECT_DOCUMENT		/* Coll.byId(): null, a null document, or
								 * one document or projected object with a
								 * string "id"; FQL v4: null or a document */
} FaunaExpect;

extern void fauna_parser_expect(FaunaParser *parser, FaunaExpect expect);

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
 * Event feeds.  A /feed/1 response ({"events":[...],"cursor","has_next"})
 * becomes a page like any other: one element per add/update/remove event,
 * whose fields are the event's document, whose ts is the event's txn_ts and
 * whose FAUNA_PATH_ACTION is the event's type; fauna_page_after() is the
 * feed cursor while has_next.  An error event ends the page; it is returned
 * by fauna_page_feed_error() (code and message palloc'd).
 */
extern bool fauna_page_feed_error(FaunaPage *page, char **code, char **message);
extern int64 fauna_page_event_ts(FaunaPage *page, int i);

/* The token of a query answering {"@stream": ...}, else NULL. */
extern const char *fauna_page_stream(FaunaPage *page);

/*
 * Parse an error body ({"error":{"code","message"}} of /query/1).  Returns
 * false when the body is not such an object; never throws.  *code and
 * *message are palloc'd in CurrentMemoryContext.
 */
extern bool fauna_parse_error_body(const char *body, size_t len,
								   char **code, char **message);

/*
 * The counters a v4 response carries only in headers
 * (x-byte-read-ops, x-compute-ops ...; connection.c reads them).  They
 * fill the page's counters the body did not give (zero); fields < 0 were
 * not sent.
 */
extern void fauna_page_set_header_stats(FaunaPage *page, const FaunaStats *stats);

/* ----------------------------------------------------------------
 * convert.c: a page's values into the Datums of columns
 * ----------------------------------------------------------------
 */

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
 * One value of element i, converted to typid: a top-level field name
 * (kind FAUNA_PATH_FIELD) or the element's id or ts.  For the answers of
 * fauna_fdw's own queries, which no foreign table's columns describe.
 */
extern Datum fauna_page_field(FaunaPage *page, int i, FaunaPathKind kind,
							  const char *name, Oid typid, bool *isnull);

/* ----------------------------------------------------------------
 * export.c: values in their export formats (jsonb, JSON text)
 * ----------------------------------------------------------------
 */

/*
 * Is name one FQL v10 keeps for its own modules and schema collections
 * (Key, Math, Collection ...)?  A value {"@mod": name} exports as type
 * "module" then, else as a collection.
 */
extern bool fauna_is_reserved_collection_name(const char *name);

/*
 * The user fields of element i with their Fauna types, for IMPORT's type
 * inference (infer.c): fn is called for every field, outermost first, and
 * for the fields of an object field down to max_depth levels (at most
 * FAUNA_WALK_MAX_DEPTH).  Nothing is converted; the path strings point
 * into the page.
 */
typedef enum FaunaKind
{
	FAUNA_KIND_NULL,
	FAUNA_KIND_BOOLEAN,
	FAUNA_KIND_INT,
	FAUNA_KIND_LONG,
	FAUNA_KIND_DOUBLE,
	FAUNA_KIND_STRING,
	FAUNA_KIND_TIME,
	FAUNA_KIND_DATE,
	FAUNA_KIND_BYTES,
	FAUNA_KIND_DOC,				/* a document, or a ref to one */
	FAUNA_KIND_ARRAY,
	FAUNA_KIND_OBJECT,
	FAUNA_KIND_OTHER			/* other refs, modules, sets, streams ... */
} FaunaKind;

#define FAUNA_NUM_KINDS			(FAUNA_KIND_OTHER + 1)
#define FAUNA_WALK_MAX_DEPTH	8

typedef struct FaunaFieldSeen
{
	const char **path;			/* field names, outermost first */
	int			depth;			/* elements of path */
	FaunaKind	kind;
	uint32		elem_kinds;		/* arrays: 1 << kind of each element */
	bool		wide;			/* an integer (or element) beyond 2^53 */
	const char *coll;			/* FAUNA_KIND_DOC: its collection */
} FaunaFieldSeen;

typedef void (*FaunaFieldFn) (void *arg, const FaunaFieldSeen *seen);

extern void fauna_page_walk_fields(FaunaPage *page, int i, int max_depth,
								   FaunaFieldFn fn, void *arg);

/* ----------------------------------------------------------------
 * options.c: validation and lookup of the FDW's options
 * ----------------------------------------------------------------
 */

/*
 * Defaults documented in docs/options.md.  The page size is 4000 rather
 * than 1000, measured with bench/fdw_bench.py (bench/RESULTS.md,
 * "page_size"): as fast as 1000 on loopback, about three times as fast
 * over a 40 ms round trip, with pages of a few MB.
 */
#define FAUNA_DEFAULT_ENDPOINT			"https://db.fauna.com"
#define FAUNA_DEFAULT_PAGE_SIZE			4000
/* Most streams one parallel scan may use (max_streams). */
#define FAUNA_MAX_STREAMS				64
#define FAUNA_MAX_PAGE_SIZE				16000
#define FAUNA_DEFAULT_TIMEOUT_MS		30000
#define FAUNA_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define FAUNA_DEFAULT_MAX_RETRIES		5
#define FAUNA_MAX_RETRIES_LIMIT			100
#define FAUNA_DEFAULT_MAX_RESPONSE_BYTES (INT64CONST(256) * 1024 * 1024)

/*
 * Row estimate of a foreign table without a "rows" option: Fauna offers no
 * cheap count, so the planner gets a modest constant, large enough that it
 * does not pick nested loops over a whole collection by accident.
 */
#define FAUNA_DEFAULT_ROWS				1000.0

/* Everything a connection needs, from the server and user mapping. */
typedef struct FaunaServerOptions
{
	char	   *endpoint;		/* base URL without trailing slash */
	int			api_version;	/* 10 or 4 */
	int			page_size;
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_retries;
	char	   *ca_file;		/* NULL: the system bundle */
	int64		max_response_bytes;
} FaunaServerOptions;

/* Options of a foreign table, with server-level defaults applied. */
typedef struct FaunaTableOptions
{
	char	   *collection;
	char	   *index;			/* "auto", "none" or an index name */
	bool		events;
	int			page_size;		/* table's, else server's, else default */
	double		rows;			/* estimated row count, < 0 if not set */
	int			max_streams;	/* streams of a parallel scan at most, the
								 * leader's included; < 0: not set */
	bool		async_capable;	/* may run asynchronously under an Append */
} FaunaTableOptions;

extern void fauna_validate_options(List *options, Oid catalog);
extern void fauna_get_server_options(ForeignServer *server,
									 FaunaServerOptions *opts);
extern void fauna_get_table_options(Oid relid, FaunaTableOptions *opts);
extern char *fauna_get_secret(UserMapping *user, ForeignServer *server);
extern bool fauna_is_identifier(const char *name);

/* ERROR if collection is a name FQL v10 keeps for its own modules */
extern void fauna_check_collection_name(const char *collection,
										int api_version, const char *relname);

/*
 * Resolve the path of a column (its "path" option, else its name) into a
 * kind and, for user fields, the split dotted path.  Done at plan or scan
 * start, never per row.
 */
extern void fauna_column_path(Oid relid, AttrNumber attnum, const char *attname,
							  FaunaPathKind *kind, char ***field_path,
							  int *field_depth);

/* ----------------------------------------------------------------
 * connection.c: cached HTTP connections, requests, retries, errors
 * ----------------------------------------------------------------
 */

/*
 * A handle on the cached connection of a user mapping.  Each handle has at
 * most one request started at a time; handles of the same user mapping
 * share the connection setup and the kept-alive connections, but not their
 * requests, so two scans of one statement each take their own handle.
 */
typedef struct FaunaConn FaunaConn;

/* Counters of one connection's requests, read by EXPLAIN ANALYZE. */
typedef struct FaunaRequestCounters
{
	int64		requests;		/* successful requests */
	int64		attempts;		/* including retried ones */
	int64		bytes_received; /* HTTP body bytes */
} FaunaRequestCounters;

extern FaunaConn *fauna_get_connection(UserMapping *user,
									   ForeignServer *server);

/* What is wrong with an endpoint, as libcurl's URL parser reads it. */
typedef enum FaunaEndpointProblem
{
	FAUNA_ENDPOINT_OK,
	FAUNA_ENDPOINT_NOT_URL,		/* libcurl cannot read it as a URL */
	FAUNA_ENDPOINT_SCHEME,		/* not http or https */
	FAUNA_ENDPOINT_NO_HOST,
	FAUNA_ENDPOINT_CREDENTIALS, /* user or password in the URL */
	FAUNA_ENDPOINT_QUERY		/* a query or a fragment */
} FaunaEndpointProblem;

extern FaunaEndpointProblem fauna_endpoint_problem(const char *endpoint);

/*
 * Send a /query/1 request (body is the JSON text) and return at once; the
 * response is collected by fauna_request_wait().  `what` names the
 * collection for error messages.  The page will be allocated in a new child
 * context of page_cxt (resetting page_cxt frees it); the response is parsed
 * as it arrives.  Split in two so that a scan can request page N+1 while
 * it still parses and returns the rows of page N.
 */
extern void fauna_request_start(FaunaConn *conn, const char *body,
								const char *what, MemoryContext page_cxt);

/*
 * Wait for the request started last, retrying retryable failures, and
 * return its page.  Raises an ERROR for any failure; a connection left
 * half-read by an error or a cancel is discarded, never reused.
 */
extern FaunaPage *fauna_request_wait(FaunaConn *conn,
									 FaunaRequestCounters *counters);

/*
 * The same, calling body_done(parser, arg) once the response is complete
 * (HTTP 200, all its bytes in, the connection free again) and before it is
 * parsed to the end, so that the caller can start its next request on the
 * same connection (e.g. with fauna_parser_guess_after()) while this page
 * is being parsed.
 */
typedef void (*FaunaBodyDone) (FaunaParser *parser, void *arg);

extern FaunaPage *fauna_request_wait_then(FaunaConn *conn,
										  FaunaRequestCounters *counters,
										  FaunaBodyDone body_done, void *arg);

/* The same, but Fauna's error answers give NULL rather than an ERROR. */
extern FaunaPage *fauna_request_wait_optional(FaunaConn *conn,
											  FaunaRequestCounters *counters);

/*
 * Tell the started request what its query can answer (see FaunaExpect);
 * every attempt's response is checked against it.  Without it, any shape
 * is accepted.
 */
extern void fauna_request_expect(FaunaConn *conn, FaunaExpect expect);

/* The same as fauna_request_start(), for POST /feed/1 (event feeds). */
extern void fauna_feed_request_start(FaunaConn *conn, const char *body,
									 const char *what, MemoryContext page_cxt);

/*
 * Abandon a started request (e.g. a scan that ends early or is rescanned).
 * A response still in transfer closes its connection, never reused
 * half-read.  Resetting the page_cxt of a started request does the same.
 */
extern void fauna_request_abort(FaunaConn *conn);

/*
 * Move the started request (and any other of the connection) forward
 * without waiting: send, receive and parse what the sockets allow now.
 * Cheap enough to call every few dozen rows while a scan returns the
 * previous page.  Failures are kept for fauna_request_wait() to report.
 */
extern void fauna_request_poll(FaunaConn *conn);

/*
 * For asynchronous scans: has the request started last finished (polling
 * first)?  The socket to wait readable for, or PGINVALID_SOCKET when curl
 * waits for anything else; a wait of at most timeout_ms for progress.
 */
extern bool fauna_request_finished(FaunaConn *conn);
extern pgsocket fauna_request_socket(FaunaConn *conn);
extern void fauna_request_step(FaunaConn *conn, long timeout_ms);

/* ----------------------------------------------------------------
 * fql.c: the FQL v10 query of a scan, as a template with tagged values
 * ----------------------------------------------------------------
 */

/* PostgreSQL counts microseconds from 2000-01-01, Fauna from 1970-01-01. */
#define FAUNA_UNIX_EPOCH_OFFSET_US \
	(INT64CONST(10957) * INT64CONST(86400000000))

/*
 * Bounds on the documents' ts, in microseconds since the Unix epoch.  The
 * planner fills only the flags (the shape of the query, for EXPLAIN); the
 * executor fills the values from the quals' parameters.
 */
typedef struct FaunaTsRange
{
	bool		has_lower;
	bool		lower_strict;	/* ts > lower, else ts >= lower */
	int64		lower;
	bool		has_upper;
	bool		upper_strict;	/* ts < upper, else ts <= upper */
	int64		upper;
} FaunaTsRange;

/* What the planner decided to ask Fauna for; see fauna_fql_first_page(). */
typedef struct FaunaQuerySpec
{
	char	   *collection;
	int			page_size;
	List	   *paths;			/* String nodes: projected paths, each "id",
								 * "ts", "ttl", "coll", "data" or a dotted
								 * user field */
	bool		by_id;			/* Coll.byId($id) instead of Coll.all() */
	char	   *ts_index;		/* a ts-ordered index to read ranges from,
								 * or NULL: filter Coll.all() instead */
	FaunaTsRange ts_range;		/* bounds on ts (not with by_id) */
	int			limit;			/* LIMIT pushed down: .take(limit), or -1
								 * (not with by_id; FQL v10 only) */
	int			offset;			/* with limit: .drop(offset) first, if > 0 */
	int			api_version;	/* 10, or 4: fql_v4.c builds the query */

	/* one part of a parallel scan (FQL v10 only) */
	bool		id_range;		/* Coll.all({ from: id_from, to: id_to }) */
	char		id_from[21];	/* inclusive canonical ids */
	char		id_to[21];
	int64		at_ts;			/* read at this time (µs), 0: now */
} FaunaQuerySpec;

/*
 * The request body of the first page.  id is the id value when by_id.
 * When explain is not NULL the same query is appended to it as FQL text
 * with the values shown as $1, $2...
 */
extern void fauna_fql_first_page(const FaunaQuerySpec *spec, const char *id,
								 StringInfo body, StringInfo explain);

/* Collection.byName($1) { indexes }: to find a ts index ("auto"). */
extern void fauna_fql_collection_indexes(const char *collection, StringInfo body);

/*
 * The first and last document ids of a collection, and so the snapshot a
 * parallel scan reads: { first: Coll.all().first()?.id,
 * last: Coll.all().reverse().first()?.id }
 */
extern void fauna_fql_id_bounds(const char *collection, StringInfo body);

/* The request body of a following page: Set.paginate(<after>). */
extern void fauna_fql_next_page(const char *after, StringInfo body);

/* Coll.all().eventSource(), for event tables */
extern void fauna_fql_event_source(const char *collection, StringInfo body,
								   StringInfo explain);

/* A POST /feed/1 body: token with cursor, or with start_ts (exclusive) */
extern void fauna_feed_body(const char *token, const char *cursor,
							int64 start_ts, int page_size, StringInfo body);

struct ExplainState;

/* The discovery requests of IMPORT and fauna_fdw_check() */

/* Collection.all().pageSize($n) { name, indexes, fields } */
extern void fauna_fql_list_collections(int page_size, StringInfo body);

/* Coll.all().pageSize(1) { id } */
extern void fauna_fql_probe_read(const char *collection, StringInfo body);

/* { ok: Coll.all().eventSource() != null } */
extern void fauna_fql_probe_event_source(const char *collection,
										 StringInfo body);

/* ----------------------------------------------------------------
 * scan_plan.c: planner callbacks of foreign scans
 * ----------------------------------------------------------------
 */

extern void faunaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid);
extern void faunaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
extern void faunaGetForeignUpperPaths(PlannerInfo *root,
									  UpperRelationKind stage,
									  RelOptInfo *input_rel,
									  RelOptInfo *output_rel,
									  void *extra);
extern ForeignScan *faunaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
										Oid foreigntableid,
										ForeignPath *best_path, List *tlist,
										List *scan_clauses, Plan *outer_plan);
extern bool faunaIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
										   RangeTblEntry *rte);

/* ----------------------------------------------------------------
 * scan_exec.c: executor callbacks of foreign scans
 * ----------------------------------------------------------------
 */

extern void faunaBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *faunaIterateForeignScan(ForeignScanState *node);
extern void faunaReScanForeignScan(ForeignScanState *node);
extern void faunaEndForeignScan(ForeignScanState *node);
extern void faunaExplainForeignScan(ForeignScanState *node,
									struct ExplainState *es);

/* ----------------------------------------------------------------
 * scan_parallel.c: parallel foreign scans
 * ----------------------------------------------------------------
 */

extern Size faunaEstimateDSMForeignScan(ForeignScanState *node,
										ParallelContext *pcxt);
extern void faunaInitializeDSMForeignScan(ForeignScanState *node,
										  ParallelContext *pcxt,
										  void *coordinate);
extern void faunaReInitializeDSMForeignScan(ForeignScanState *node,
											ParallelContext *pcxt,
											void *coordinate);
extern void faunaInitializeWorkerForeignScan(ForeignScanState *node,
											 shm_toc *toc, void *coordinate);
extern void faunaShutdownForeignScan(ForeignScanState *node);

/* ----------------------------------------------------------------
 * scan_async.c: asynchronous execution under an Append
 * ----------------------------------------------------------------
 */

extern bool faunaIsForeignPathAsyncCapable(ForeignPath *path);
extern void faunaForeignAsyncRequest(AsyncRequest *areq);
extern void faunaForeignAsyncConfigureWait(AsyncRequest *areq);
extern void faunaForeignAsyncNotify(AsyncRequest *areq);

/* ----------------------------------------------------------------
 * analyze.c: ANALYZE of foreign tables
 * ----------------------------------------------------------------
 */

extern bool faunaAnalyzeForeignTable(Relation relation,
									 AcquireSampleRowsFunc *func,
									 BlockNumber *totalpages);

/* ----------------------------------------------------------------
 * events.c: scans of event tables (events 'true')
 * ----------------------------------------------------------------
 */

typedef struct FaunaEventScan FaunaEventScan;

extern FaunaEventScan *fauna_events_begin(FaunaConn *conn, const char *collection,
										  const char *relname, int page_size,
										  int api_version);
/* (Re)start with these bounds; ERROR without a lower bound */
extern void fauna_events_start(FaunaEventScan *es, const FaunaTsRange *range);
extern bool fauna_events_next(FaunaEventScan *es, FaunaColumn *columns,
							  int ncolumns, Datum *values, bool *isnull);
extern void fauna_events_rescan(FaunaEventScan *es);
extern void fauna_events_end(FaunaEventScan *es);
extern void fauna_events_explain_query(const char *collection,
									   const FaunaTsRange *shape,
									   int api_version, int page_size,
									   StringInfo explain);
extern void fauna_events_explain(FaunaEventScan *es, struct ExplainState *explain);

/* ----------------------------------------------------------------
 * indexes.c: whether an index serves ts ranges, and finding one
 * ----------------------------------------------------------------
 */

/* Why an index cannot serve the ts ranges of a scan (FAUNA_INDEX_OK: it can). */
typedef enum FaunaIndexFlaw
{
	FAUNA_INDEX_OK = 0,
	FAUNA_INDEX_BAD_NAME,		/* not an FQL identifier */
	FAUNA_INDEX_NOT_DEFINITION, /* not an index definition at all */
	FAUNA_INDEX_TERMS,			/* has terms */
	FAUNA_INDEX_NOT_TS_FIRST,	/* first value is not ts */
	FAUNA_INDEX_TS_DESCENDING,	/* ts in descending order */
	FAUNA_INDEX_V4_VALUES,		/* v4: values are not [ts, ref] ascending */
	FAUNA_INDEX_BUILDING,		/* not queryable (v10) / active (v4) yet */
	FAUNA_INDEX_MISSING			/* no index of that name */
} FaunaIndexFlaw;

/* What decides it, read from a v10 definition or a v4 index document. */
typedef struct FaunaIndexShape
{
	const char *name;
	bool		v4;
	bool		has_terms;
	bool		ts_first;		/* the first value is the document's ts */
	bool		ts_ascending;	/* ... in ascending order */
	bool		ref_second_only;	/* v4: exactly [ts, ref], ref ascending */
	bool		ready;			/* v10 queryable, v4 active */
} FaunaIndexShape;

extern FaunaIndexFlaw fauna_index_flaw(const FaunaIndexShape *shape);
/* a short reason ("it has terms") for lists of reasons */
extern const char *fauna_index_flaw_reason(FaunaIndexFlaw flaw, bool v4);

/* A v10 definition (a value of a collection's "indexes") judged. */
extern FaunaIndexFlaw fauna_v10_index_flaw(const char *name,
										   JsonbContainer *def);

/*
 * The first index of a v10 "indexes" object (jsonb key order) that serves
 * ts ranges, or NULL; why, if not NULL, gets "name: reason" of the others,
 * *building whether one of them only waits to be built.
 */
extern char *fauna_v10_first_ts_index(Jsonb *indexes, StringInfo why,
									  bool *building);

/*
 * The ts index a scan of a foreign table reads its ts range from, found
 * with the user mapping of userid: index 'auto' -> the first that serves
 * (NULL if none or if the key may not read the definitions); a named
 * index -> that name, after checking that it exists and can serve (an
 * ERROR naming the index and why otherwise; one still being built passes,
 * Fauna refuses it until built; unchecked if the key may not read the
 * definitions); 'none' -> NULL.  *asked_fauna is set when the answer
 * came through the user mapping (the plan then depends on the role).
 */
extern char *fauna_scan_ts_index(Oid relid, Oid userid,
								 const FaunaTableOptions *opts,
								 int api_version, bool *asked_fauna);

/*
 * Walk the v4 index definitions page by page (following "after"),
 * calling fn for each (see fauna_v4_page_index); only the collection's
 * when collection is not NULL.  fn returns false to stop.  A Fauna error
 * answer (e.g. a key that may not read indexes) returns false, or raises
 * it when !optional.
 */
typedef bool (*FaunaV4IndexFn) (void *arg, const char *name,
								const char *collection, FaunaIndexFlaw flaw);
extern bool fauna_v4_walk_indexes(FaunaConn *conn, const char *collection,
								  int page_size, bool optional,
								  FaunaV4IndexFn fn, void *arg);

/*
 * Index 'auto' over v4: the first index of the collection that
 * serves ts ranges, or NULL (none, or the key may not list indexes).
 * Remembered per user mapping until the end of the transaction.
 */
extern char *fauna_v4_ts_index(UserMapping *user, ForeignServer *server,
							   const char *collection, int page_size);

/* ----------------------------------------------------------------
 * import.c: IMPORT FOREIGN SCHEMA and fauna_fdw_check()
 * ----------------------------------------------------------------
 */

extern List *fauna_import_foreign_schema(ImportForeignSchemaStmt *stmt,
										 Oid serverOid);

/* The named fauna_fdw server, after checking USAGE on it. */
extern ForeignServer *fauna_server_for_use(const char *servername);

/*
 * A typed column IMPORT adds after ref, ts, ttl and data: from a declared
 * field (fields 'true') or inferred from a sample (infer.c).
 */
typedef struct FaunaImportColumn
{
	char	   *path;			/* dotted field path */
	List	   *names;			/* its names (char *), outermost first */
	char	   *colname;		/* set by fauna_import_name_columns */
	const char *type;			/* PostgreSQL type */
	char	   *option_path;	/* the column's path option */
	/* inferred columns only */
	int64		present;		/* sampled documents that have the field */
	int64		sampled;
	char	   *seen;			/* "int 3, long 1" */
	char	   *comment;		/* its COMMENT, or NULL */
} FaunaImportColumn;

/*
 * Name the columns (folded, checked against the reserved paths and the
 * names in taken and before them); each one that cannot be a column is
 * left out with a NOTICE.  Returns the columns kept.
 */
extern List *fauna_import_name_columns(const char *collection, List *columns,
									   List *taken);

/* ----------------------------------------------------------------
 * infer.c: columns inferred from a sample of documents
 * ----------------------------------------------------------------
 */

/* Largest sample: the documents of one page at most. */
#define FAUNA_INFER_MAX_SAMPLE		FAUNA_MAX_PAGE_SIZE

extern List *fauna_infer_columns(FaunaConn *conn, const char *collection,
								 const char *ts_index, int api_version,
								 int sample, int depth);
extern void fauna_infer_remember_comments(const char *schema,
										  const char *relname, List *columns,
										  AttrNumber first_attnum);
extern void fauna_infer_check_value(const char *what, int value, int max);

/* ----------------------------------------------------------------
 * fql_v4.c: the FQL v4 expressions (server option api_version '4')
 * ----------------------------------------------------------------
 */

/*
 * The v4 expression of a scan.  The first page reads at the
 * transaction time of its response (x-txn-time); the following ones send
 * the "after" cursor of the previous page (its JSON text, verbatim) inside
 * At(snapshot_ts, ...), since v4 cursors do not pin the snapshot.  A part
 * of a parallel scan (spec->at_ts) reads at its own snapshot from its first
 * page on.  explain, when not NULL, gets the expression in FQL v4 syntax
 * with $n for values.
 */
extern void fauna_fql_v4_page(const FaunaQuerySpec *spec, const char *id,
							  const char *after, int64 snapshot_ts,
							  StringInfo body, StringInfo explain);

/*
 * A parallel scan's first request: the collection's first and last
 * documents, as a page of none or both.
 */
extern void fauna_fql_v4_id_bounds(const char *collection, StringInfo body);

/*
 * Discovery.  A page of the index definitions,
 * Map(Paginate(Indexes(), {size, after?}), Lambda("i", Get(Var("i")))),
 * only those whose source is the collection unless it is NULL; a page of
 * the collection definitions (Collections()); the probes of
 * fauna_fdw_check(): one document, one event.
 */
extern void fauna_fql_v4_list_indexes(const char *collection, int page_size,
									  const char *after, StringInfo body);
extern void fauna_fql_v4_list_collections(int page_size, const char *after,
										  StringInfo body);
extern void fauna_fql_v4_probe_read(const char *collection, StringInfo body);
extern void fauna_fql_v4_probe_events(const char *collection, StringInfo body);

/*
 * Event tables.  A page of Paginate(Documents(c), {events: true})
 * from after_ts (inclusive, µs) or, when after_cursor is not NULL, from the
 * previous page's "after" (its JSON text, an event cursor object), at
 * snapshot_ts unless 0; each event mapped to {ref, ts, action, data} (see
 * fql_v4.c).  Its EXPLAIN text with the start as $1.  The collection's
 * history_days as a document-shaped object {ref, ts, data: {history_days}}.
 */
extern void fauna_fql_v4_events_page(const char *collection, int64 after_ts,
									 const char *after_cursor, int page_size,
									 int64 snapshot_ts, StringInfo body);
extern void fauna_fql_v4_events_explain(const char *collection, bool lower_strict,
										int page_size, StringInfo explain);
extern void fauna_fql_v4_collection_history(const char *collection,
											StringInfo body);

/* ----------------------------------------------------------------
 * page_v4.c: FQL v4 responses into pages
 * ----------------------------------------------------------------
 */

/* The response being parsed is a v4 one ({"resource": ...}) */
extern void fauna_parser_set_v4(FaunaParser *parser);

/* Set the page's txn_ts from x-txn-time (µs) unless known */
extern void fauna_page_set_txn_ts(FaunaPage *page, int64 txn_ts);

/*
 * Element i of a page of v4 index documents: its name, its
 * source collection (NULL unless exactly one collection) and the shape
 * indexes.c judges (fauna_index_flaw).
 * false if the element is not an index definition.
 */
extern bool fauna_v4_page_index(FaunaPage *page, int i, char **name,
								char **collection, FaunaIndexShape *shape);

/* A v4 error body {"errors":[{code, description, position}]} */
extern bool fauna_parse_v4_error_body(const char *body, size_t len,
									  char **code, char **description,
									  char **position);

#endif							/* FAUNA_FDW_H */
