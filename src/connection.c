/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  HTTP connections to Fauna: cache, requests, retries and errors.
 *
 * This is the only file that uses libcurl.  Each user mapping gets a multi
 * handle and a small pool of easy handles, kept for the life of the backend
 * so that HTTP keep-alive and TLS sessions are reused across pages and
 * statements, like postgres_fdw's connection cache.  Every request in flight
 * has an easy handle of its own (see FaunaSlot): a scan may prefetch its
 * next page while another scan of the same statement waits for its own.
 * An ALTER or DROP of the server or user mapping marks the entry invalid;
 * it is rebuilt with the new options the next time it is needed.
 *
 * Requests run on curl's multi interface.  Instead of letting curl block,
 * the backend waits on curl's sockets together with its latch, waking at
 * least every 100 ms, and checks for interrupts on each wakeup, so that
 * cancel, statement_timeout and pg_terminate_backend act promptly.  Any
 * ERROR while a transfer is in progress discards the easy handle: a
 * half-read connection must never serve another request.  So does the
 * reset of the memory a request's page was to go to (an ERROR, a rescan, a
 * scan ended by LIMIT), through a reset callback: a transfer never outlives
 * the memory its parser writes to.  fauna_request_poll() lets curl move
 * transfers forward without waiting, between the rows of a scan.
 *
 * Response bodies of HTTP 200 are appended to page.c's incremental
 * parser as they arrive, and parsed whenever the backend would otherwise
 * wait (no socket ready, or between rows), so that the transfer never
 * waits for the parser.  Once a body is complete its connection is free
 * again, and fauna_request_wait_then() lets the caller start its next
 * request before the body is parsed to its end.  A body becomes a page
 * only if the response was application/json and of the shape the caller's
 * query can answer; other bodies are buffered (bounded) and parsed as
 * Fauna error objects.  curl's callbacks never throw: an ERROR raised
 * there would longjmp out of libcurl and corrupt its state.
 *
 * The secret is sent only in the Authorization header.  It is never logged
 * (CURLOPT_VERBOSE stays off), never part of an error message, and any
 * text coming from curl or Fauna is scrubbed of it before being reported.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include "fauna_fdw.h"

#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* The longest wait before checking for interrupts again. */
#define FAUNA_WAIT_MAX_MS		100

/* Bounds of the exponential backoff between retries. */
#define FAUNA_BACKOFF_BASE_MS	100
#define FAUNA_BACKOFF_MAX_MS	10000

/* How much of a non-200 body is kept for error parsing. */
#define FAUNA_ERROR_BODY_MAX	16384

/*
 * Sockets curl watches for one entry: a table that grows as transfers are
 * added (two sockets each while happy eyeballs race), with no limit of its
 * own; FAUNA_SOCKETS_INITIAL is its first size.
 */
#define FAUNA_SOCKETS_INITIAL	16

/*
 * Response headers worth keeping.  FQL v4 answers carry their transaction
 * time and their cost only as headers (x-txn-time, x-byte-read-ops ...);
 * /query/1 has them in the body's "txn_ts" and "stats".
 */
typedef enum FaunaHeaderStat
{
	HS_TXN_TIME,
	HS_BYTE_READ_OPS,
	HS_READ_OPS,
	HS_BYTE_WRITE_OPS,
	HS_WRITE_OPS,
	HS_COMPUTE_OPS,
	HS_STORAGE_BYTES_READ,
	HS_COUNT
} FaunaHeaderStat;

static const char *const header_stat_names[HS_COUNT] = {
	[HS_TXN_TIME] = "x-txn-time",
	[HS_BYTE_READ_OPS] = "x-byte-read-ops",
	[HS_READ_OPS] = "x-read-ops",
	[HS_BYTE_WRITE_OPS] = "x-byte-write-ops",
	[HS_WRITE_OPS] = "x-write-ops",
	[HS_COMPUTE_OPS] = "x-compute-ops",
	[HS_STORAGE_BYTES_READ] = "x-storage-bytes-read",
};

typedef struct FaunaSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN / OUT / INOUT */
} FaunaSocket;

typedef struct FaunaEntry FaunaEntry;

/*
 * One request slot: an easy handle and the state of the transfer it
 * carries.  A request checks a slot out of its entry's pool when it starts
 * and gives it back when it is waited for or aborted, so requests in flight
 * at the same time never share an easy handle, while idle handles are
 * reused (the multi handle's connection cache keeps the kept-alive
 * connections).  Slots live in TopMemoryContext as long as their entry.
 */
typedef struct FaunaSlot
{
	FaunaEntry *entry;
	struct FaunaSlot *next;		/* the entry's list of slots */
	CURL	   *easy;			/* NULL: configured at the next checkout */
	bool		in_use;			/* checked out by a request */
	uint64		generation;		/* bumped at each checkout and release */
	bool		busy;			/* the transfer is in the multi handle */
	bool		done;			/* finished; result below, not yet taken */
	CURLcode	done_code;
	long		done_status;
	bool		optional;		/* Fauna errors give no page, not an ERROR */
	bool		feed;			/* POST /feed/1 rather than /query/1 */
	MemoryContext request_cxt;	/* holds body and what; reset per request */
	char	   *body;
	size_t		body_len;
	char	   *what;			/* the collection's name */
	char	   *what_phrase;	/* collection "name": page.c's `what` */
	MemoryContext page_cxt;		/* caller's; attempt_cxt is its child */
	MemoryContext attempt_cxt;	/* parser of the current attempt */
	FaunaParser *parser;
	long		status;			/* HTTP status, 0 until known */
	int64		received;		/* body bytes of this attempt */
	bool		too_large;
	bool		parse_failed;
	bool		out_of_fds;		/* PostgreSQL's descriptor budget refused a
								 * socket */
	char		errbuf[CURL_ERROR_SIZE];
	char		errbody[FAUNA_ERROR_BODY_MAX];
	size_t		errbody_len;
	FaunaExpect expect;			/* what the query can answer (page.c) */
	int64		hstat[HS_COUNT];	/* this attempt's counter headers; -1:
									 * not sent */
} FaunaSlot;

/*
 * A cached connection: one per user mapping.  The key must be first
 * (dynahash).  Entries are never removed, so slots and handles may point
 * at them.
 */
struct FaunaEntry
{
	Oid			key;			/* user mapping OID */

	/* connection setup, in TopMemoryContext */
	CURLM	   *multi;			/* NULL when not set up */
	struct curl_slist *headers;
	char	   *url;			/* endpoint + "/query/1" */
	char	   *feed_url;		/* endpoint + "/feed/1" */
	char	   *secret;
	char	   *server_name;
	char	   *ca_file;
	Oid			serverid;
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_retries;
	int64		max_response_bytes;
	bool		invalidated;	/* options changed since connecting */
	uint32		server_hashvalue;
	uint32		mapping_hashvalue;

	FaunaSlot  *slots;			/* all slots, idle or not */
	int			nin_use;		/* slots checked out */
	FaunaSocket *sockets;		/* what curl asked us to watch */
	int			nsockets;
	int			sockets_size;	/* allocated length of sockets */
	/* scratch of the wait loop, sized to sockets_size (never per wait) */
	int			scratch_size;
	WaitEventSet *wait_set;		/* see current_wait_set() */
	uint64		sockets_version;	/* bumped at every change of sockets */
	uint64		wait_set_version;	/* sockets_version wait_set was built for */
	bool		wait_set_ready;
	struct pollfd *pollfds;
	WaitEvent  *occurred;		/* sockets_size + 2: latch, postmaster */

	/* FQL v4 (api_version 4): POST / */
	int			api_version;	/* 10 or 4 */
};

/*
 * What callers hold (the public, opaque FaunaConn): the entry and the slot
 * of the caller's request, if one is started.  Allocated in the caller's
 * memory context by fauna_get_connection(), so each scan has its own.
 */
struct FaunaConn
{
	FaunaEntry *entry;
	FaunaSlot  *slot;			/* NULL when no request is started */
	uint64		generation;		/* slot->generation at checkout */
};

/* Tells a slot that the memory of its attempt is going away. */
typedef struct AttemptGuard
{
	MemoryContextCallback cb;
	FaunaSlot  *slot;
	MemoryContext cxt;
} AttemptGuard;

/* Outcome of one attempt, before it is classified. */
typedef struct AttemptResult
{
	CURLcode	curlcode;
	long		status;
} AttemptResult;

static HTAB *ConnectionHash = NULL;
static bool curl_initialized = false;

static void init_connection_cache(void);
static void free_header_list(struct curl_slist *list);
static void append_header(struct curl_slist **list, const char *header);
static void connect_entry(FaunaEntry *entry, UserMapping *user,
						  ForeignServer *server);
static void disconnect_entry(FaunaEntry *entry);
static FaunaSlot *checkout_slot(FaunaEntry *entry);
static void release_slot(FaunaSlot *slot);
static void discard_slot(FaunaSlot *slot);
static FaunaSlot *owned_slot(FaunaConn *conn);
static void configure_easy(FaunaSlot *slot);
static void begin_attempt(FaunaSlot *slot);
static void attempt_memory_gone(void *arg);
static void collect_done(FaunaEntry *entry);
static bool drive_ready_sockets(FaunaEntry *entry);
static AttemptResult run_attempt(FaunaSlot *slot);
static void wait_for_sockets(FaunaEntry *entry, long timeout_ms);
static size_t write_callback(char *ptr, size_t size, size_t nmemb, void *userdata);
static size_t header_callback(char *ptr, size_t size, size_t nmemb, void *userdata);
static void header_stats(FaunaSlot *slot, FaunaStats *stats);
static void check_content_type(FaunaSlot *slot);
static void report_v4_http_error(FaunaSlot *slot, long status,
								 int attempts) pg_attribute_noreturn();
static void socket_action(FaunaEntry *entry, curl_socket_t fd, int mask);
static curl_socket_t open_socket_callback(void *clientp, curlsocktype purpose,
										  struct curl_sockaddr *address);
static int	close_socket_callback(void *clientp, curl_socket_t item);
static bool grow_sockets(FaunaEntry *entry);
static void size_wait_scratch(FaunaEntry *entry);
static WaitEventSet *current_wait_set(FaunaEntry *entry);
static int	socket_callback(CURL *easy, curl_socket_t s, int what,
							void *userp, void *socketp);
static bool is_retryable_curl(CURLcode code);
static bool is_retryable_status(long status);
static void backoff_sleep(int attempt);
static char *redact(FaunaEntry *entry, const char *text);
static char *describe_curl_failure(FaunaSlot *slot, CURLcode code);
static void report_http_error(FaunaSlot *slot, long status, int attempts);
static void report_curl_error(FaunaSlot *slot, CURLcode code, int attempts);
static void fauna_inval_callback(Datum arg, int cacheid, uint32 hashvalue);
static void fauna_xact_callback(XactEvent event, void *arg);

/*
 * Get a handle on the cached connection of a user mapping, creating or
 * rebuilding the connection as needed.  The handle is allocated in
 * CurrentMemoryContext; each caller that may have a request in flight at
 * the same time as another (each scan) takes its own.  No network traffic
 * happens here: curl connects lazily on the first request and reconnects
 * by itself when the server closed the kept-alive connection.
 */
FaunaConn *
fauna_get_connection(UserMapping *user, ForeignServer *server)
{
	FaunaEntry *entry;
	FaunaConn  *conn;
	bool		found;

	if (ConnectionHash == NULL)
		init_connection_cache();

	entry = hash_search(ConnectionHash, &user->umid, HASH_ENTER, &found);
	if (!found)
	{
		/* everything but the key is zero: not connected */
		memset(((char *) entry) + sizeof(Oid), 0, sizeof(FaunaEntry) - sizeof(Oid));
	}

	/*
	 * New options apply once no request of the old ones is in flight (a
	 * scan of this statement may be prefetching with them).
	 */
	if (entry->multi != NULL && entry->invalidated && entry->nin_use == 0)
		disconnect_entry(entry);

	if (entry->multi == NULL)
		connect_entry(entry, user, server);

	conn = palloc0(sizeof(FaunaConn));
	conn->entry = entry;
	return conn;
}

static void
init_connection_cache(void)
{
	HASHCTL		ctl;

	/*
	 * curl_global_init is not thread-safe, which is fine in a backend, and
	 * must precede any other curl call.
	 */
	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
					 errmsg("could not initialize libcurl")));
		curl_initialized = true;
	}

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(FaunaEntry);
	ConnectionHash = hash_create("fauna_fdw connections", 8, &ctl,
								 HASH_ELEM | HASH_BLOBS);

	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, fauna_inval_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, fauna_inval_callback, (Datum) 0);
	RegisterXactCallback(fauna_xact_callback, NULL);
}

/*
 * Set up an entry from the current options of its server and user mapping.
 * Strings are copied into TopMemoryContext because the entry outlives the
 * statement.
 */
/*
 * Free a header list, wiping every header first: one holds the secret.
 */
static void
free_header_list(struct curl_slist *list)
{
	for (struct curl_slist *h = list; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(list);
}

/*
 * Append a header to *list.  curl_slist_append() returns NULL when it is
 * out of memory and leaves the list as it was: the whole list is then
 * freed (wiped) and the connection not made, rather than sent without one
 * of its headers.
 */
static void
append_header(struct curl_slist **list, const char *header)
{
	struct curl_slist *longer = curl_slist_append(*list, header);

	if (longer == NULL)
	{
		free_header_list(*list);
		*list = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("The headers of a Fauna request could not be built.")));
	}
	*list = longer;
}

static void
connect_entry(FaunaEntry *entry, UserMapping *user, ForeignServer *server)
{
	FaunaServerOptions opts;
	char	   *secret;
	StringInfoData buf;
	struct curl_slist *headers = NULL;
	const char *const fixed_headers[] = {
		"Content-Type: application/json",
		"Accept: application/json",
		"x-format: tagged",
		"x-driver: fauna_fdw",
		"Expect:",				/* no 100-continue round trip */
		NULL
	};
	int			i;

	fauna_get_server_options(server, &opts);
	secret = fauna_get_secret(user, server);

	/* the socket table exists before any wait, sockets or not */
	if (entry->sockets == NULL && !grow_sockets(entry))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	entry->serverid = server->serverid;
	entry->server_name = MemoryContextStrdup(TopMemoryContext, server->servername);
	entry->url = psprintf("%s/query/1", opts.endpoint);
	entry->url = MemoryContextStrdup(TopMemoryContext, entry->url);
	entry->feed_url = MemoryContextStrdup(TopMemoryContext,
										  psprintf("%s/feed/1", opts.endpoint));
	entry->secret = MemoryContextStrdup(TopMemoryContext, secret);
	entry->ca_file = opts.ca_file ? MemoryContextStrdup(TopMemoryContext, opts.ca_file) : NULL;
	entry->timeout_ms = opts.timeout_ms;
	entry->connect_timeout_ms = opts.connect_timeout_ms;
	entry->max_retries = opts.max_retries;
	entry->max_response_bytes = opts.max_response_bytes;
	entry->invalidated = false;
	entry->server_hashvalue =
		GetSysCacheHashValue1(FOREIGNSERVEROID, ObjectIdGetDatum(server->serverid));
	entry->mapping_hashvalue =
		GetSysCacheHashValue1(USERMAPPINGOID, ObjectIdGetDatum(user->umid));

	/* headers: curl copies nothing, so the list lives with the entry */
	for (i = 0; fixed_headers[i]; i++)
		append_header(&headers, fixed_headers[i]);
	initStringInfo(&buf);
	appendStringInfo(&buf, "x-query-timeout-ms: %d", opts.timeout_ms);
	append_header(&headers, buf.data);
	resetStringInfo(&buf);
	appendStringInfo(&buf, "Authorization: Bearer %s", secret);
	PG_TRY();
	{
		append_header(&headers, buf.data);
	}
	PG_FINALLY();
	{
		explicit_bzero(buf.data, buf.len);
	}
	PG_END_TRY();
	pfree(buf.data);

	/* FQL v4: the legacy endpoint, "/", with its API version header */
	entry->api_version = opts.api_version;
	if (opts.api_version == 4)
	{
		pfree(entry->url);
		entry->url = MemoryContextStrdup(TopMemoryContext,
										psprintf("%s/", opts.endpoint));
		append_header(&headers, "X-FaunaDB-API-Version: 4");
	}
	entry->headers = headers;

	entry->multi = curl_multi_init();
	if (entry->multi == NULL)
	{
		disconnect_entry(entry);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	}
	curl_multi_setopt(entry->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(entry->multi, CURLMOPT_SOCKETDATA, entry);
}

/*
 * Create and configure the easy handle of a slot.  It is recreated after a
 * transfer was discarded or the entry reconnected, with the same settings.
 */
static void
configure_easy(FaunaSlot *slot)
{
	FaunaEntry *entry = slot->entry;
	CURL	   *easy = curl_easy_init();
	CURLcode	rc = CURLE_OK;

	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

#define SETOPT(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, val); } while (0)

	SETOPT(CURLOPT_URL, entry->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_HTTPHEADER, entry->headers);
	SETOPT(CURLOPT_POST, 1L);
	SETOPT(CURLOPT_WRITEFUNCTION, write_callback);
	SETOPT(CURLOPT_WRITEDATA, slot);
	SETOPT(CURLOPT_PRIVATE, slot);
	SETOPT(CURLOPT_HEADERFUNCTION, header_callback);
	SETOPT(CURLOPT_HEADERDATA, slot);
	SETOPT(CURLOPT_ERRORBUFFER, slot->errbuf);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	SETOPT(CURLOPT_OPENSOCKETDATA, slot);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback);
	SETOPT(CURLOPT_CLOSESOCKETDATA, slot);
	/* signals belong to the backend; curl must not install handlers */
	SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/*
	 * A name lookup runs in a thread of its own.  Removing a handle whose
	 * lookup is still running (a cancel, statement_timeout) would join
	 * that thread, waiting as long as the resolver does; with this the
	 * thread is left to finish by itself, so a cancel is prompt.
	 */
	SETOPT(CURLOPT_QUICK_EXIT, 1L);
#endif
	SETOPT(CURLOPT_VERBOSE, 0L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);

	/*
	 * Nothing but the server's options decides where the request goes and
	 * what credentials it carries.  ~/.netrc is the postgres OS user's
	 * file: a user who may only create a server must not make the backend
	 * send its logins (libcurl's default is to ignore it; say so anyway).
	 * Proxies from the environment (http_proxy, HTTPS_PROXY, ALL_PROXY,
	 * NO_PROXY, set for whatever else runs as that user) would route the
	 * secret, and with http:// the whole request, through a host the
	 * server's owner never chose; an empty CURLOPT_PROXY disables them,
	 * environment included (CURLOPT_NOPROXY "*" would then add nothing).
	 * No cookie engine is enabled, and redirects are not followed, so no
	 * other host can be sent the Authorization header either.
	 */
	SETOPT(CURLOPT_NETRC, (long) CURL_NETRC_IGNORED);
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_TIMEOUT_MS, (long) entry->timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) entry->connect_timeout_ms);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_USERAGENT, "fauna_fdw/1.0");
	/* TLS verification is never disabled; only the CA bundle can change */
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (entry->ca_file)
		SETOPT(CURLOPT_CAINFO, entry->ca_file);
#undef SETOPT

	if (rc != CURLE_OK)
	{
		curl_easy_cleanup(easy);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not configure libcurl for Fauna server \"%s\"",
						entry->server_name),
				 errdetail("%s", curl_easy_strerror(rc))));
	}
	slot->easy = easy;
}

/* Close the connection and forget its settings. */
static void
disconnect_entry(FaunaEntry *entry)
{
	FaunaSlot  *slot;

	for (slot = entry->slots; slot; slot = slot->next)
	{
		discard_slot(slot);
		if (slot->easy)
			curl_easy_cleanup(slot->easy);
		slot->easy = NULL;		/* its settings are the old ones */
	}
	if (entry->multi)
		curl_multi_cleanup(entry->multi);
	if (entry->headers)
		free_header_list(entry->headers);
	if (entry->secret)
	{
		explicit_bzero(entry->secret, strlen(entry->secret));
		pfree(entry->secret);
	}
	if (entry->url)
		pfree(entry->url);
	if (entry->feed_url)
		pfree(entry->feed_url);
	if (entry->server_name)
		pfree(entry->server_name);
	if (entry->ca_file)
		pfree(entry->ca_file);
	entry->multi = NULL;
	entry->headers = NULL;
	entry->secret = NULL;
	entry->url = NULL;
	entry->feed_url = NULL;
	entry->server_name = NULL;
	entry->ca_file = NULL;
	entry->nsockets = 0;
	entry->sockets_version++;
	if (entry->wait_set)
		FreeWaitEventSet(entry->wait_set);
	entry->wait_set = NULL;
	entry->wait_set_ready = false;
}

/* An idle slot of the entry, with an easy handle; new if all are busy. */
static FaunaSlot *
checkout_slot(FaunaEntry *entry)
{
	FaunaSlot  *slot;

	for (slot = entry->slots; slot; slot = slot->next)
	{
		if (!slot->in_use)
			break;
	}
	if (slot == NULL)
	{
		slot = MemoryContextAllocZero(TopMemoryContext, sizeof(FaunaSlot));
		slot->entry = entry;
		slot->request_cxt = AllocSetContextCreate(TopMemoryContext,
												  "fauna_fdw request",
												  ALLOCSET_SMALL_SIZES);
		slot->next = entry->slots;
		entry->slots = slot;
	}
	if (slot->easy == NULL)
		configure_easy(slot);

	slot->in_use = true;
	slot->generation++;
	slot->busy = false;
	slot->done = false;
	slot->optional = false;
	slot->expect = FAUNA_EXPECT_ANY;
	slot->page_cxt = NULL;
	slot->attempt_cxt = NULL;
	slot->parser = NULL;
	entry->nin_use++;
	return slot;
}

/* Give an idle (not busy) slot back to the pool, keeping its handle. */
static void
release_slot(FaunaSlot *slot)
{
	Assert(!slot->busy);
	if (slot->in_use)
		slot->entry->nin_use--;
	slot->in_use = false;
	slot->generation++;
	slot->done = false;
	slot->optional = false;
	/* the page, if any, now belongs to the caller's context */
	slot->page_cxt = NULL;
	slot->attempt_cxt = NULL;
	slot->parser = NULL;
}

/*
 * Abort a slot's transfer, if any, and release the slot.  A transfer still
 * in progress takes its easy handle with it, so that the socket, possibly
 * holding the rest of a response, is closed rather than reused; a finished
 * one left the connection clean and keeps it.  Never throws (it runs in
 * error cleanup and memory reset callbacks).
 */
static void
discard_slot(FaunaSlot *slot)
{
	if (slot->busy)
	{
		if (slot->entry->multi)
			curl_multi_remove_handle(slot->entry->multi, slot->easy);
		curl_easy_cleanup(slot->easy);
		slot->easy = NULL;
		slot->busy = false;
	}
	if (slot->in_use)
		release_slot(slot);
}

/* The caller's started request, or NULL (none, or taken back by a cleanup). */
static FaunaSlot *
owned_slot(FaunaConn *conn)
{
	FaunaSlot  *slot = conn->slot;

	if (slot == NULL || !slot->in_use || slot->generation != conn->generation)
		return NULL;
	return slot;
}

/*
 * Start a request.  The body is copied, since curl reads it during the
 * transfer, which may outlive the caller's buffer.  The caller's previous
 * request, if still in flight, is abandoned.
 */
static void
start_request(FaunaConn *conn, const char *body, const char *what,
			  MemoryContext page_cxt, bool feed)
{
	FaunaSlot  *volatile slot;
	MemoryContext oldcxt;

	fauna_request_abort(conn);

	slot = checkout_slot(conn->entry);
	conn->slot = slot;
	conn->generation = slot->generation;

	MemoryContextReset(slot->request_cxt);
	slot->body = MemoryContextStrdup(slot->request_cxt, body);
	slot->body_len = strlen(body);
	slot->what = MemoryContextStrdup(slot->request_cxt, what);
	oldcxt = MemoryContextSwitchTo(slot->request_cxt);
	slot->what_phrase = psprintf("collection \"%s\"", what);
	MemoryContextSwitchTo(oldcxt);
	slot->page_cxt = page_cxt;
	slot->feed = feed;

	PG_TRY();
	{
		begin_attempt(slot);
	}
	PG_CATCH();
	{
		discard_slot(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
fauna_request_start(FaunaConn *conn, const char *body, const char *what,
					MemoryContext page_cxt)
{
	start_request(conn, body, what, page_cxt, false);
}

/*
 * The same for an event feed page (POST /feed/1).  The response goes
 * through the same parser; page.c recognizes a feed page by its "events".
 */
void
fauna_feed_request_start(FaunaConn *conn, const char *body, const char *what,
						 MemoryContext page_cxt)
{
	start_request(conn, body, what, page_cxt, true);
}

/*
 * Put the transfer into the multi handle with a fresh parser, and let curl
 * begin (resolve, connect, send) without waiting.
 */
static void
begin_attempt(FaunaSlot *slot)
{
	FaunaEntry *entry = slot->entry;
	MemoryContext old = slot->attempt_cxt;
	AttemptGuard *guard;
	CURLMcode	mc;

	if (old)
	{
		slot->attempt_cxt = NULL;	/* disarms its guard */
		MemoryContextDelete(old);
	}
	slot->attempt_cxt = AllocSetContextCreate(slot->page_cxt,
											  "fauna_fdw response",
											  ALLOCSET_DEFAULT_SIZES);
	guard = MemoryContextAlloc(slot->attempt_cxt, sizeof(AttemptGuard));
	guard->slot = slot;
	guard->cxt = slot->attempt_cxt;
	guard->cb.func = attempt_memory_gone;
	guard->cb.arg = guard;
	MemoryContextRegisterResetCallback(slot->attempt_cxt, &guard->cb);

	slot->parser = fauna_parser_create(slot->attempt_cxt);
	if (entry->api_version == 4)
		fauna_parser_set_v4(slot->parser);
	fauna_parser_expect(slot->parser, slot->expect);
	for (int i = 0; i < HS_COUNT; i++)
		slot->hstat[i] = -1;
	slot->status = 0;
	slot->received = 0;
	slot->out_of_fds = false;
	slot->too_large = false;
	slot->parse_failed = false;
	slot->errbody_len = 0;
	slot->errbuf[0] = '\0';
	slot->done = false;

	curl_easy_setopt(slot->easy, CURLOPT_URL,
					 slot->feed ? entry->feed_url : entry->url);
	curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, slot->body);
	curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t) slot->body_len);

	mc = curl_multi_add_handle(entry->multi, slot->easy);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start a request to Fauna server \"%s\"",
						entry->server_name),
				 errdetail("%s", curl_multi_strerror(mc))));
	slot->busy = true;

	socket_action(entry, CURL_SOCKET_TIMEOUT, 0);
}

/*
 * The memory of a slot's attempt (the parser, the page being built) is
 * being reset or deleted while the slot still works for it: the caller is
 * gone (an ERROR, a rescan, a scan ended early).  Drop the transfer before
 * curl can write into freed memory.  Must not throw.
 */
static void
attempt_memory_gone(void *arg)
{
	AttemptGuard *guard = (AttemptGuard *) arg;
	FaunaSlot  *slot = guard->slot;

	if (slot->in_use && slot->attempt_cxt == guard->cxt)
	{
		slot->attempt_cxt = NULL;
		slot->parser = NULL;
		discard_slot(slot);
	}
}

/*
 * Wait for the caller's started request, with retries, and return its page.
 */
FaunaPage *
fauna_request_wait(FaunaConn *conn, FaunaRequestCounters *counters)
{
	return fauna_request_wait_then(conn, counters, NULL, NULL);
}

FaunaPage *
fauna_request_wait_then(FaunaConn *conn, FaunaRequestCounters *counters,
						FaunaBodyDone body_done, void *arg)
{
	FaunaSlot  *slot = owned_slot(conn);
	FaunaEntry *entry = conn->entry;
	FaunaPage  *volatile page = NULL;
	FaunaParser *volatile parser = NULL;
	FaunaStats	hstats;
	char	   *volatile what_phrase = NULL;

	conn->slot = NULL;
	if (slot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("no Fauna request in progress")));

	PG_TRY();
	{
		int			attempt = 1;

		for (;;)
		{
			AttemptResult res = run_attempt(slot);

			counters->attempts++;
			counters->bytes_received += slot->received;

			/* before anything is made of a 200's body, even an error */
			if (res.status == 200)
				check_content_type(slot);

			if (res.curlcode == CURLE_OK && res.status == 200)
			{
				/*
				 * Parsed to the end below, once the connection is free: keep
				 * what the slot's next request would overwrite.
				 */
				parser = slot->parser;
				what_phrase = pstrdup(slot->what_phrase);
				header_stats(slot, &hstats);
				counters->requests++;
				break;
			}

			if (slot->too_large)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("response of Fauna server \"%s\" for collection \"%s\" is too large",
								entry->server_name, slot->what),
						 errdetail("The response exceeded max_response_bytes (" INT64_FORMAT " bytes).",
								   entry->max_response_bytes),
						 errhint("Lower the page_size of the table or raise max_response_bytes of the server.")));

			if (slot->parse_failed)
			{
				/* the parser knows what was wrong; let it say so */
				page = fauna_parser_finish_page(slot->parser, slot->what_phrase);
				/* not reached: a failed parser cannot produce a page */
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("malformed response from Fauna for collection \"%s\"",
								slot->what)));
			}

			if (attempt <= entry->max_retries && !slot->out_of_fds &&
				(res.curlcode == CURLE_OK ? is_retryable_status(res.status)
				 : is_retryable_curl(res.curlcode)))
			{
				backoff_sleep(attempt);
				attempt++;
				begin_attempt(slot);
				continue;
			}

			if (res.curlcode == CURLE_OK && slot->optional)
			{
				page = NULL;	/* Fauna answered with an error: no page */
				break;
			}
			if (res.curlcode == CURLE_OK)
				report_http_error(slot, res.status, attempt);
			else
				report_curl_error(slot, res.curlcode, attempt);
		}
	}
	PG_CATCH();
	{
		/* never reuse a connection in an unknown state */
		discard_slot(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (parser == NULL)
	{
		release_slot(slot);
		return page;			/* an optional request's error: NULL */
	}

	/*
	 * The response is complete: the connection is clean and goes back to
	 * the cache before the body is parsed to its end, which may take a
	 * while (and may raise the ERROR of a bad body).
	 */
	release_slot(slot);
	if (body_done)
		body_done(parser, arg);

	/* page.c raises its own ERROR for a bad body */
	page = fauna_parser_finish_page(parser, what_phrase);
	pfree(what_phrase);
	if (hstats.txn_ts > 0)
		fauna_page_set_txn_ts(page, hstats.txn_ts);
	if (entry->api_version == 4)
		fauna_page_set_header_stats(page, &hstats);
	return page;
}

/*
 * Set what the started request's query can answer; applies to the attempt
 * in progress and to its retries.
 */
void
fauna_request_expect(FaunaConn *conn, FaunaExpect expect)
{
	FaunaSlot  *slot = owned_slot(conn);

	if (slot == NULL)
		return;
	slot->expect = expect;
	if (slot->parser)
		fauna_parser_expect(slot->parser, expect);
}

/*
 * Like fauna_request_wait, but a request that Fauna answers with an error
 * (any HTTP status but 200, after retries) returns NULL instead of raising
 * it.  For optional requests such as index discovery, where a key that may
 * read documents but not schema must not make the scan fail.  Transport
 * failures and malformed responses still raise.
 */
FaunaPage *
fauna_request_wait_optional(FaunaConn *conn, FaunaRequestCounters *counters)
{
	FaunaSlot  *slot = owned_slot(conn);

	if (slot)
		slot->optional = true;
	return fauna_request_wait(conn, counters);
}

/*
 * Abandon the caller's started request, if any.  One still in transfer
 * closes its connection (never reused half-read); a finished one just
 * gives its handle back.
 */
void
fauna_request_abort(FaunaConn *conn)
{
	FaunaSlot  *slot = owned_slot(conn);

	conn->slot = NULL;
	if (slot)
		discard_slot(slot);
}

/*
 * Let curl move the transfers of this connection forward without waiting:
 * send what can be sent, receive and parse what has arrived.  Cheap when
 * nothing is ready (one poll(2) call).  For a scan to call between rows
 * while its next page is on the way.  Never waits, never throws for a
 * failed transfer (fauna_request_wait reports it when the page is needed).
 */
void
fauna_request_poll(FaunaConn *conn)
{
	FaunaSlot  *slot = owned_slot(conn);

	if (slot == NULL || !slot->busy)
		return;
	drive_ready_sockets(conn->entry);
	collect_done(conn->entry);
	if (slot->parser)
		(void) fauna_parser_catch_up(slot->parser);
}

/*
 * Has the request started last on conn finished, well or not, so that
 * fauna_request_wait() needs no more of the network (but for a retry)?
 * Moves the transfers forward first, without waiting.
 */
bool
fauna_request_finished(FaunaConn *conn)
{
	FaunaSlot  *slot = owned_slot(conn);

	if (slot == NULL)
		return true;
	fauna_request_poll(conn);
	return slot->done || !slot->busy;
}

/*
 * The socket that moves the request started last on conn forward once
 * readable, or PGINVALID_SOCKET while curl waits for anything else (a
 * connection being made, a request being written, a timer).
 */
pgsocket
fauna_request_socket(FaunaConn *conn)
{
	FaunaSlot  *slot = owned_slot(conn);
	FaunaEntry *entry = conn->entry;
	curl_socket_t fd = CURL_SOCKET_BAD;

	if (slot == NULL || !slot->busy ||
		curl_easy_getinfo(slot->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
		fd == CURL_SOCKET_BAD)
		return PGINVALID_SOCKET;
	for (int i = 0; i < entry->nsockets; i++)
	{
		if (entry->sockets[i].fd == fd)
			return entry->sockets[i].what == CURL_POLL_IN ? fd : PGINVALID_SOCKET;
	}
	return PGINVALID_SOCKET;
}

/*
 * Wait up to timeout_ms for the connection's transfers to move forward
 * (curl's sockets, its timers, the latch).
 */
void
fauna_request_step(FaunaConn *conn, long timeout_ms)
{
	FaunaSlot  *slot = owned_slot(conn);
	long		timeout = -1;

	if (slot == NULL || !slot->busy)
		return;
	curl_multi_timeout(conn->entry->multi, &timeout);
	if (timeout < 0 || timeout > timeout_ms)
		timeout = timeout_ms;
	wait_for_sockets(conn->entry, timeout);
	collect_done(conn->entry);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Hand curl the sockets that are ready now, and its expired timers; no
 * waiting.  True if a socket was ready.
 */
static bool
drive_ready_sockets(FaunaEntry *entry)
{
	bool		acted = false;
	struct pollfd *fds;
	int			nfds = 0;
	long		timeout = -1;
	int			i;

	size_wait_scratch(entry);
	fds = entry->pollfds;
	for (i = 0; i < entry->nsockets; i++)
	{
		short		events = 0;

		if (entry->sockets[i].what & CURL_POLL_IN)
			events |= POLLIN;
		if (entry->sockets[i].what & CURL_POLL_OUT)
			events |= POLLOUT;
		if (events == 0)
			continue;
		fds[nfds].fd = entry->sockets[i].fd;
		fds[nfds].events = events;
		fds[nfds].revents = 0;
		nfds++;
	}

	if (nfds > 0 && poll(fds, nfds, 0) > 0)
	{
		for (i = 0; i < nfds; i++)
		{
			int			mask = 0;

			if (fds[i].revents & (POLLIN | POLLHUP))
				mask |= CURL_CSELECT_IN;
			if (fds[i].revents & POLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (fds[i].revents & (POLLERR | POLLNVAL))
				mask |= CURL_CSELECT_ERR;
			if (mask)
			{
				socket_action(entry, fds[i].fd, mask);
				acted = true;
			}
		}
	}

	curl_multi_timeout(entry->multi, &timeout);
	if (timeout == 0)
		socket_action(entry, CURL_SOCKET_TIMEOUT, 0);
	return acted;
}

/*
 * Take the finished transfers out of the multi handle and record their
 * outcome in their slots, whoever they belong to: curl reports each only
 * once, and a finished transfer gives its connection back to the cache.
 */
static void
collect_done(FaunaEntry *entry)
{
	CURLMsg    *msg;
	int			queued;

	while ((msg = curl_multi_info_read(entry->multi, &queued)) != NULL)
	{
		FaunaSlot  *slot = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &slot);
		if (slot == NULL || slot->easy != msg->easy_handle || !slot->busy)
			continue;
		slot->done_code = msg->data.result;
		slot->done_status = 0;
		curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &slot->done_status);
		curl_multi_remove_handle(entry->multi, slot->easy);
		slot->busy = false;
		slot->done = true;
	}
}

/*
 * Drive one attempt to completion, waiting on curl's sockets and the latch.
 * On return the handle is out of the multi handle and idle.
 */
static AttemptResult
run_attempt(FaunaSlot *slot)
{
	FaunaEntry *entry = slot->entry;
	AttemptResult res;

	for (;;)
	{
		long		timeout = -1;

		collect_done(entry);
		if (slot->done)
		{
			slot->done = false;
			res.curlcode = slot->done_code;
			res.status = slot->done_status;
			return res;
		}
		if (!slot->busy)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("Fauna request for collection \"%s\" was abandoned",
							slot->what)));

		/*
		 * Take what the sockets have first, so that the sender never waits
		 * for us; parse what has come only when there is nothing else to
		 * do.  A failure of the parse stops the transfer at its next bytes.
		 */
		if (drive_ready_sockets(entry))
		{
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		if (slot->parser)
			(void) fauna_parser_catch_up(slot->parser);

		curl_multi_timeout(entry->multi, &timeout);
		if (timeout < 0 || timeout > FAUNA_WAIT_MAX_MS)
			timeout = FAUNA_WAIT_MAX_MS;

		wait_for_sockets(entry, timeout);

		/* outside of curl: safe to throw, the PG_CATCH discards the handle */
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Wait until one of curl's sockets is ready, the latch is set or the
 * timeout passes, then let curl act on what happened.
 */
/*
 * The entry's wait set for its sockets as they are now.  It is kept across
 * waits and rebuilt only when curl changed the sockets (sockets_version):
 * a set holds an epoll descriptor, and making one on every pass of the wait
 * loop cost a descriptor's creation each time.  A build that an ERROR cut
 * short is not ready, and is freed and made again at the next wait (or by
 * disconnect_entry()), so nothing leaks.
 */
static WaitEventSet *
current_wait_set(FaunaEntry *entry)
{
	if (entry->wait_set && entry->wait_set_ready &&
		entry->wait_set_version == entry->sockets_version)
		return entry->wait_set;

	if (entry->wait_set)
		FreeWaitEventSet(entry->wait_set);
	entry->wait_set = NULL;
	entry->wait_set_ready = false;
	entry->wait_set = CreateWaitEventSet(TopMemoryContext, entry->nsockets + 2);
	AddWaitEventToSet(entry->wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(entry->wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET,
					  NULL, NULL);
	for (int i = 0; i < entry->nsockets; i++)
	{
		uint32		events = 0;

		if (entry->sockets[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (entry->sockets[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		if (events)
			AddWaitEventToSet(entry->wait_set, events, entry->sockets[i].fd,
							  NULL, NULL);
	}
	entry->wait_set_version = entry->sockets_version;
	entry->wait_set_ready = true;
	return entry->wait_set;
}

static void
wait_for_sockets(FaunaEntry *entry, long timeout_ms)
{
	WaitEventSet *set;
	WaitEvent  *occurred;
	int			nevents;
	int			i;

	/*
	 * curl may change the sockets while we act on these events: they stay
	 * in the scratch array, which only size_wait_scratch() replaces.
	 */
	size_wait_scratch(entry);
	occurred = entry->occurred;
	set = current_wait_set(entry);
	nevents = timeout_ms > 0
		? WaitEventSetWait(set, timeout_ms, occurred, entry->nsockets + 2,
						   PG_WAIT_EXTENSION)
		: 0;

	for (i = 0; i < nevents; i++)
	{
		if (occurred[i].events & WL_LATCH_SET)
			ResetLatch(MyLatch);
		else if (occurred[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
		{
			int			mask = 0;

			if (occurred[i].events & WL_SOCKET_READABLE)
				mask |= CURL_CSELECT_IN;
			if (occurred[i].events & WL_SOCKET_WRITEABLE)
				mask |= CURL_CSELECT_OUT;
			socket_action(entry, occurred[i].fd, mask);
		}
	}

	/* expired timers (connect and transfer timeouts, retries inside curl) */
	socket_action(entry, CURL_SOCKET_TIMEOUT, 0);
}

/* curl tells which sockets to watch, and for what. */
/*
 * curl's sockets count against PostgreSQL's budget of file descriptors
 * (max_files_per_process), as postgres_fdw's connections do.  Both run
 * inside libcurl and never throw: a refused descriptor fails the transfer
 * (reported by report_curl_error()).
 */
static curl_socket_t
open_socket_callback(void *clientp, curlsocktype purpose,
					 struct curl_sockaddr *address)
{
	FaunaSlot  *slot = (FaunaSlot *) clientp;
	curl_socket_t s;

	/*
	 * Keep room for one more: the wait for this socket needs a descriptor
	 * of the same budget (the WaitEventSet's epoll one).
	 */
	if (!AcquireExternalFD())
	{
		slot->out_of_fds = true;
		return CURL_SOCKET_BAD;
	}
	if (!AcquireExternalFD())
	{
		ReleaseExternalFD();
		slot->out_of_fds = true;
		return CURL_SOCKET_BAD;
	}
	ReleaseExternalFD();
	s = socket(address->family, address->socktype, address->protocol);
	if (s == CURL_SOCKET_BAD)
		ReleaseExternalFD();
	return s;
}

static int
close_socket_callback(void *clientp, curl_socket_t item)
{
	int			rc = close(item);

	ReleaseExternalFD();
	return rc;
}

/*
 * curl_multi_socket_action() with every signal blocked: it may start the
 * thread of a name lookup, which inherits the signal mask, and PostgreSQL's
 * signal handlers must only ever run in the backend's own thread.  Signals
 * that arrive meanwhile are delivered when the mask is restored.
 */
static void
socket_action(FaunaEntry *entry, curl_socket_t fd, int mask)
{
	sigset_t	all;
	sigset_t	old;
	int			running;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	(void) curl_multi_socket_action(entry->multi, fd, mask, &running);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Double the socket table.  Runs inside libcurl (socket_callback), so it
 * must not throw: false when out of memory, with the old table intact.
 */
static bool
grow_sockets(FaunaEntry *entry)
{
	int			size = entry->sockets_size > 0
		? entry->sockets_size * 2 : FAUNA_SOCKETS_INITIAL;
	FaunaSocket *sockets;

	sockets = MemoryContextAllocExtended(TopMemoryContext,
										 sizeof(FaunaSocket) * size,
										 MCXT_ALLOC_NO_OOM);
	if (sockets == NULL)
		return false;
	if (entry->nsockets > 0)
		memcpy(sockets, entry->sockets, sizeof(FaunaSocket) * entry->nsockets);
	if (entry->sockets)
		pfree(entry->sockets);
	entry->sockets = sockets;
	entry->sockets_size = size;
	return true;
}

/*
 * Size the wait loop's scratch arrays to the socket table.  Called before a
 * wait, outside libcurl, never while the arrays are in use: curl may grow
 * the table while we act on the sockets the arrays hold.
 */
static void
size_wait_scratch(FaunaEntry *entry)
{
	int			size = entry->sockets_size;

	if (entry->scratch_size >= size)
		return;
	if (entry->pollfds)
	{
		pfree(entry->pollfds);
		pfree(entry->occurred);
	}
	entry->pollfds = MemoryContextAlloc(TopMemoryContext,
										sizeof(struct pollfd) * size);
	entry->occurred = MemoryContextAlloc(TopMemoryContext,
										 sizeof(WaitEvent) * (size + 2));
	entry->scratch_size = size;
}

static int
socket_callback(CURL *easy, curl_socket_t s, int what, void *userp,
				void *socketp)
{
	FaunaEntry *entry = (FaunaEntry *) userp;
	int			i;

	for (i = 0; i < entry->nsockets; i++)
	{
		if (entry->sockets[i].fd == s)
			break;
	}

	entry->sockets_version++;	/* the wait set is rebuilt at the next wait */
	if (what == CURL_POLL_REMOVE)
	{
		if (i < entry->nsockets)
			entry->sockets[i] = entry->sockets[--entry->nsockets];
		return 0;
	}

	if (i == entry->nsockets)
	{
		if (entry->nsockets == entry->sockets_size && !grow_sockets(entry))
			return -1;			/* out of memory: curl fails the transfer */
		entry->nsockets++;
	}
	entry->sockets[i].fd = s;
	entry->sockets[i].what = what;
	return 0;
}

/*
 * Body bytes from curl.  Must not throw.  Returning less than given makes
 * curl abort the transfer with CURLE_WRITE_ERROR, which the caller then
 * reports from the flags set here.
 */
static size_t
write_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FaunaSlot  *slot = (FaunaSlot *) userdata;
	size_t		len = size * nmemb;

	if (slot->parser == NULL)
		return 0;				/* abandoned: never happens, but be safe */

	if (slot->status == 0)
		curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &slot->status);

	slot->received += len;
	if (slot->received > slot->entry->max_response_bytes)
	{
		slot->too_large = true;
		return 0;
	}

	if (slot->status == 200)
	{
		if (slot->received == (int64) len)
		{
			curl_off_t	announced = -1;

			curl_easy_getinfo(slot->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
							  &announced);
			if (announced > 0 &&
				(uint64) announced <= (uint64) slot->entry->max_response_bytes)
				fauna_parser_reserve(slot->parser, (size_t) announced);
		}
		/* parsed in run_attempt() and fauna_request_poll(), when idle */
		if (!fauna_parser_append(slot->parser, ptr, len))
		{
			slot->parse_failed = true;
			return 0;
		}
	}
	else
	{
		/* error bodies are small; keep the beginning, which has the code */
		size_t		room = FAUNA_ERROR_BODY_MAX - 1 - slot->errbody_len;
		size_t		n = Min(room, len);

		memcpy(slot->errbody + slot->errbody_len, ptr, n);
		slot->errbody_len += n;
		slot->errbody[slot->errbody_len] = '\0';
	}
	return len;
}

/*
 * Header lines from curl.  Must not throw.  Keeps the counters of
 * header_stat_names (decimal integers, case-insensitive names); anything
 * malformed is left unset, as if not sent.
 */
static size_t
header_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FaunaSlot  *slot = (FaunaSlot *) userdata;
	size_t		len = size * nmemb;
	const char *colon = memchr(ptr, ':', len);
	size_t		namelen;
	int			i;

	if (colon == NULL)
		return len;				/* the status line, the final empty line */
	namelen = colon - ptr;
	for (i = 0; i < HS_COUNT; i++)
	{
		if (strlen(header_stat_names[i]) == namelen &&
			pg_strncasecmp(ptr, header_stat_names[i], namelen) == 0)
			break;
	}
	if (i < HS_COUNT)
	{
		char		value[32];
		size_t		vlen = len - namelen - 1;
		char	   *end;
		long long	v;

		if (vlen >= sizeof(value))
			return len;
		memcpy(value, colon + 1, vlen);
		value[vlen] = '\0';
		errno = 0;
		v = strtoll(value, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
			end++;
		if (errno == 0 && *end == '\0' && end != value && v >= 0)
			slot->hstat[i] = (int64) v;
	}
	return len;
}

/*
 * A v4 response's counters, from its headers.  read_ops and write_ops are
 * the billed byte ops (what /query/1 reports as stats.read_ops and
 * write_ops); the hosted service also sent x-read-ops and x-write-ops,
 * used only when the byte ops are missing.
 */
static void
header_stats(FaunaSlot *slot, FaunaStats *stats)
{
	FaunaStats	st;

	st.read_ops = slot->hstat[HS_BYTE_READ_OPS] >= 0
		? slot->hstat[HS_BYTE_READ_OPS] : slot->hstat[HS_READ_OPS];
	st.write_ops = slot->hstat[HS_BYTE_WRITE_OPS] >= 0
		? slot->hstat[HS_BYTE_WRITE_OPS] : slot->hstat[HS_WRITE_OPS];
	st.compute_ops = slot->hstat[HS_COMPUTE_OPS];
	st.bytes_read = slot->hstat[HS_STORAGE_BYTES_READ];
	st.txn_ts = slot->hstat[HS_TXN_TIME];
	*stats = st;
}

/* At most max bytes of s, any byte but printable ASCII as '?'. */
static char *
printable_text(const char *s, size_t max)
{
	size_t		n = strlen(s);
	char	   *r;

	if (n > max)
		n = max;
	r = palloc(n + 4);
	for (size_t i = 0; i < n; i++)
		r[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	strcpy(r + n, strlen(s) > max ? "..." : "");
	return r;
}

/*
 * A 200 answer must be JSON.  Anything else comes from something that is
 * not Fauna (a proxy's or a captive portal's page, an endpoint that names
 * a web site), and is never taken for a page even if its body happens to
 * parse.  Parameters (";charset=utf-8") and letter case do not matter.
 */
static void
check_content_type(FaunaSlot *slot)
{
	FaunaEntry *entry = slot->entry;
	char	   *ct = NULL;
	const char *p;
	size_t		n;

	if (curl_easy_getinfo(slot->easy, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK)
		ct = NULL;
	if (ct)
	{
		for (p = ct; *p == ' ' || *p == '\t'; p++)
			;
		n = strcspn(p, ";");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == strlen("application/json") &&
			pg_strncasecmp(p, "application/json", n) == 0)
			return;
	}

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid response from Fauna server \"%s\" for collection \"%s\"",
					entry->server_name, slot->what),
			 ct
			 ? errdetail("POST %s answered HTTP 200 with Content-Type \"%s\", not application/json.",
						 slot->feed ? entry->feed_url : entry->url,
						 redact(entry, printable_text(ct, 100)))
			 : errdetail("POST %s answered HTTP 200 without a Content-Type, not with application/json.",
						 slot->feed ? entry->feed_url : entry->url),
			 errhint("Check that the endpoint of the server names a Fauna API, not a proxy or a web page.")));
}

/* Transport failures worth another try: the next attempt may well work. */
static bool
is_retryable_curl(CURLcode code)
{
	switch (code)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_PARTIAL_FILE:
		case CURLE_GOT_NOTHING:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/* Rate limiting and gateway trouble; never client errors (400..404). */
static bool
is_retryable_status(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/*
 * Sleep before retry number `attempt`: exponential backoff with full
 * jitter, so that many backends hitting a rate limit do not retry in step.
 * The sleep waits on the latch, so cancel interrupts it.
 */
static void
backoff_sleep(int attempt)
{
	double		cap = (double) FAUNA_BACKOFF_BASE_MS * (1 << Min(attempt - 1, 16));
	long		delay;
	TimestampTz end;

	if (cap > FAUNA_BACKOFF_MAX_MS)
		cap = FAUNA_BACKOFF_MAX_MS;
	delay = (long) (cap / 2 + pg_prng_double(&pg_global_prng_state) * cap / 2);
	end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);

	for (;;)
	{
		long		remaining;

		CHECK_FOR_INTERRUPTS();
		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
		if (remaining <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(remaining, FAUNA_WAIT_MAX_MS), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* A copy of text with every occurrence of the secret replaced. */
static char *
redact(FaunaEntry *entry, const char *text)
{
	StringInfoData buf;
	const char *p = text;
	size_t		slen = entry->secret ? strlen(entry->secret) : 0;

	initStringInfo(&buf);
	if (slen == 0)
	{
		appendStringInfoString(&buf, text);
		return buf.data;
	}
	for (;;)
	{
		const char *hit = strstr(p, entry->secret);

		if (hit == NULL)
			break;
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, "********");
		p = hit + slen;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * How much of a Fauna error's code and message an ERROR quotes, in bytes:
 * Fauna's own are far shorter; anything longer is not worth a log line.
 */
#define FAUNA_ERROR_CODE_MAX	64
#define FAUNA_ERROR_MESSAGE_MAX 300

/*
 * Text of a Fauna error (its code or message) as quoted in an ERROR: the
 * secret redacted, and at most max bytes, cut at a character boundary,
 * since the endpoint, not fauna_fdw, decides what the text holds.
 */
static char *
brief_remote_text(FaunaEntry *entry, const char *text, int max)
{
	char	   *r = redact(entry, text);
	int			len = strlen(r);
	int			cut;

	if (len <= max)
		return r;
	cut = pg_mbcliplen(r, len, max);
	return psprintf("%.*s...", cut, r);
}

/*
 * A final non-200 answer whose body is not a Fauna error: whatever the
 * endpoint is, its body is not quoted (it may be an internal service's
 * answer), only its status.
 */
static void
report_not_fauna_response(FaunaSlot *slot, long status, int attempts)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("not a Fauna response from server \"%s\" for collection \"%s\"",
					slot->entry->server_name, slot->what),
			 errdetail_plural("The endpoint answered HTTP %ld to %d attempt, with a body that is not a Fauna error.",
							  "The endpoint answered HTTP %ld to %d attempts, with a body that is not a Fauna error.",
							  attempts, status, attempts),
			 errhint("Check that the endpoint of the server names a Fauna API.")));
}

static char *
describe_curl_failure(FaunaSlot *slot, CURLcode code)
{
	return redact(slot->entry,
				  slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(code));
}

/* Does this Fauna error say that the collection does not exist? */
static bool
is_missing_collection(FaunaSlot *slot, const char *code, const char *message)
{
	char	   *needle;
	bool		hit;

	if (strcmp(code, "invalid_query") != 0 &&
		strcmp(code, "unbound_variable") != 0)
		return false;

	/*
	 * Fauna reports an unknown top-level name as "Unbound variable `Name`":
	 * in a typechecked database as invalid_query (in the message, or in the
	 * summary of a failed validation check), in one that is not as
	 * unbound_variable, when the name is evaluated.
	 * Look for the collection's name there; it is an identifier, so no
	 * escaping can hide it in the JSON text.
	 */
	needle = psprintf("Unbound variable `%s`", slot->what);
	hit = strstr(message, needle) != NULL ||
		strstr(slot->errbody, needle) != NULL;
	pfree(needle);
	if (hit)
		return true;
	needle = psprintf("\"%s\" does not exist", slot->what);
	hit = strstr(message, needle) != NULL;
	pfree(needle);
	return hit;
}

/*
 * The same for an FQL v4 error body {"errors": [{code, description,
 * position}]}: 401 -> 28000, permission denied -> 42501, an undefined or
 * missing collection -> HV00R, anything else HV000.
 */
static void
report_v4_http_error(FaunaSlot *slot, long status, int attempts)
{
	char	   *code = NULL;
	char	   *description = NULL;
	char	   *position = NULL;
	char	   *where;
	char	   *needle;
	bool		missing;

	if (!fauna_parse_v4_error_body(slot->errbody, slot->errbody_len,
								   &code, &description, &position))
		report_not_fauna_response(slot, status, attempts);

	/* "Ref refers to undefined collection 'x'" (400), or a 404 of it */
	needle = psprintf("collection '%s'", slot->what);
	missing = (strcmp(code, "invalid ref") == 0 || status == 404) &&
		strstr(description, needle) != NULL;
	pfree(needle);

	code = brief_remote_text(slot->entry, code, FAUNA_ERROR_CODE_MAX);
	description = brief_remote_text(slot->entry, description,
									FAUNA_ERROR_MESSAGE_MAX);
	position = brief_remote_text(slot->entry, position, FAUNA_ERROR_CODE_MAX);
	where = (position[0] && strcmp(position, "[]") != 0)
		? psprintf(" (at %s)", position) : pstrdup("");

	if (status == 401)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("authentication failed for Fauna server \"%s\"",
						slot->entry->server_name),
				 errdetail("Fauna error %s: %s", code, description),
				 errhint("Check the secret of the user mapping.")));

	if (status == 403 || strcmp(code, "permission denied") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for Fauna collection \"%s\"", slot->what),
				 errdetail("Fauna error %s: %s%s", code, description, where),
				 errhint("The role of the user mapping's secret must be allowed to read the collection.")));

	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("collection \"%s\" does not exist", slot->what),
				 errdetail("Fauna error %s: %s%s", code, description, where),
				 errhint("Check the foreign table's \"collection\" option.")));

	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Fauna query on collection \"%s\" failed", slot->what),
			 errdetail("HTTP %ld, Fauna error %s: %s%s%s", status, code,
					   description, where,
					   attempts > 1 ? psprintf(" (after %d attempts)", attempts) : "")));
}

/*
 * Turn a final non-200 response into an ERROR with Fauna's code and message
 * in the detail.
 */
static void
report_http_error(FaunaSlot *slot, long status, int attempts)
{
	char	   *code = NULL;
	char	   *message = NULL;
	char	   *attempts_text;
	bool		missing;

	if (slot->entry->api_version == 4)
		report_v4_http_error(slot, status, attempts);	/* does not return */

	if (!fauna_parse_error_body(slot->errbody, slot->errbody_len, &code, &message))
		report_not_fauna_response(slot, status, attempts);
	missing = is_missing_collection(slot, code, message);
	code = brief_remote_text(slot->entry, code, FAUNA_ERROR_CODE_MAX);
	message = brief_remote_text(slot->entry, message, FAUNA_ERROR_MESSAGE_MAX);
	attempts_text = attempts > 1
		? psprintf(" (after %d attempts)", attempts)
		: pstrdup("");

	if (status == 401)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("authentication failed for Fauna server \"%s\"",
						slot->entry->server_name),
				 errdetail("Fauna error %s: %s", code, message),
				 errhint("Check the secret of the user mapping.")));

	if (strcmp(code, "permission_denied") == 0 || status == 403)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for Fauna collection \"%s\"", slot->what),
				 errdetail("Fauna error %s: %s", code, message),
				 errhint("The role of the user mapping's secret must be allowed to read the collection.")));

	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("collection \"%s\" does not exist", slot->what),
				 errdetail("Fauna error %s: %s", code, message),
				 errhint("Check the foreign table's \"collection\" option.")));

	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Fauna query on collection \"%s\" failed", slot->what),
			 errdetail("HTTP %ld, Fauna error %s: %s%s", status, code, message,
					   attempts_text),
			 strcmp(code, "invalid_index_invocation") == 0 ?
			 errhint("Fauna refuses to read an index it is still building (an index added to a collection of 128 or more documents is built in the background); fauna_fdw_check() shows when it is ready, and index 'auto' scans the whole collection meanwhile.") : 0));
}

static void
report_curl_error(FaunaSlot *slot, CURLcode code, int attempts)
{
	char	   *failure = describe_curl_failure(slot, code);

	if (slot->out_of_fds)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not open a connection to Fauna server \"%s\" for collection \"%s\"",
						slot->entry->server_name, slot->what),
				 errdetail("The backend has used all the file descriptors max_files_per_process allows it."),
				 errhint("Close cursors or connections (fauna_fdw_disconnect()), or raise max_files_per_process.")));

	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("could not query Fauna server \"%s\" for collection \"%s\"",
					slot->entry->server_name, slot->what),
			 errdetail("Request failed after %d attempt%s: %s", attempts,
					   attempts == 1 ? "" : "s", failure)));
}

/*
 * Mark entries whose server or user mapping changed; they are rebuilt at
 * their next use (not here: the invalidation may arrive mid-request).
 */
static void
fauna_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	FaunaEntry *entry;

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (FaunaEntry *) hash_seq_search(&scan)) != NULL)
	{
		if (entry->multi == NULL)
			continue;
		if (hashvalue == 0 ||
			(cacheid == FOREIGNSERVEROID && entry->server_hashvalue == hashvalue) ||
			(cacheid == USERMAPPINGOID && entry->mapping_hashvalue == hashvalue))
			entry->invalidated = true;
	}
}

/*
 * At transaction end, drop any transfer still in progress (a scan that
 * errored out, or ended, with a request in flight): its connection is
 * half-used.  Normally the reset of the request's memory did it already.
 */
static void
fauna_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS scan;
	FaunaEntry *entry;

	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT)
		return;

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (FaunaEntry *) hash_seq_search(&scan)) != NULL)
	{
		FaunaSlot  *slot;

		/* the callers' memory contexts are gone after the transaction */
		for (slot = entry->slots; slot; slot = slot->next)
			discard_slot(slot);

		/*
		 * Its server or user mapping was altered or dropped: nothing can
		 * use the connection any more, so do not keep it open until the
		 * next use finds it stale (that use may never come).
		 */
		if (entry->multi != NULL && entry->invalidated)
			disconnect_entry(entry);
	}
}

/*
 * Close the connections of one server (InvalidOid: all).  Returns true if
 * any was closed; one that an open cursor still reads from is kept, with a
 * WARNING, as postgres_fdw does.
 */
static bool
disconnect_cached(Oid serverid)
{
	HASH_SEQ_STATUS scan;
	FaunaEntry *entry;
	bool		any = false;

	if (ConnectionHash == NULL)
		return false;

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (FaunaEntry *) hash_seq_search(&scan)) != NULL)
	{
		if (entry->multi == NULL)
			continue;
		if (OidIsValid(serverid) && entry->serverid != serverid)
			continue;
		/* an open cursor's next page is on this connection: keep it */
		if (entry->nin_use > 0)
		{
			ereport(WARNING,
					(errmsg("cannot close the connection to Fauna server \"%s\" because it is still in use",
							entry->server_name),
					 errhint("Close the cursors that read from it first.")));
			continue;
		}
		disconnect_entry(entry);
		any = true;
	}
	return any;
}

PG_FUNCTION_INFO_V1(fauna_fdw_disconnect);
PG_FUNCTION_INFO_V1(fauna_fdw_disconnect_all);
PG_FUNCTION_INFO_V1(fauna_fdw_get_connections);

/* fauna_fdw_disconnect(server text): close that server's connections. */
Datum
fauna_fdw_disconnect(PG_FUNCTION_ARGS)
{
	char	   *servername = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ForeignServer *server = GetForeignServerByName(servername, false);

	PG_RETURN_BOOL(disconnect_cached(server->serverid));
}

/* fauna_fdw_disconnect(): close every connection of this backend. */
Datum
fauna_fdw_disconnect_all(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(disconnect_cached(InvalidOid));
}

/* The cached connections, for checking that keep-alive reuse happens. */
Datum
fauna_fdw_get_connections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS scan;
	FaunaEntry *entry;

	InitMaterializedSRF(fcinfo, 0);

	if (ConnectionHash == NULL)
		PG_RETURN_VOID();

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (FaunaEntry *) hash_seq_search(&scan)) != NULL)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		ForeignServer *server;

		if (entry->multi == NULL)
			continue;
		server = GetForeignServerExtended(entry->serverid, FSV_MISSING_OK);
		if (server)
			values[0] = CStringGetTextDatum(server->servername);
		else
			nulls[0] = true;	/* dropped in this transaction */
		values[1] = BoolGetDatum(!entry->invalidated);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
