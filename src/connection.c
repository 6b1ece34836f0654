/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  HTTP connections to Fauna: cache, requests, retries and errors.
 *
 * This is the only file that uses libcurl.  Each user mapping gets one curl
 * easy handle (plus a multi handle to drive it), kept for the life of the
 * backend so that HTTP keep-alive and TLS sessions are reused across pages
 * and statements, like postgres_fdw's connection cache.  An ALTER or DROP
 * of the server or user mapping marks the entry invalid; it is rebuilt with
 * the new options the next time it is needed.
 *
 * Requests run on curl's multi interface.  Instead of letting curl block,
 * the backend waits on curl's sockets together with its latch, waking at
 * least every 100 ms, and checks for interrupts on each wakeup, so that
 * cancel, statement_timeout and pg_terminate_backend act promptly.  Any
 * ERROR while a transfer is in progress discards the easy handle: a
 * half-read connection must never serve another request.
 *
 * Response bodies of HTTP 200 are streamed into decode.c's incremental
 * parser as they arrive; other bodies are buffered (bounded) and parsed as
 * Fauna error objects.  curl's callbacks never throw: an ERROR raised there
 * would longjmp out of libcurl and corrupt its state.
 *
 * The secret is sent only in the Authorization header.  It is never logged
 * (CURLOPT_VERBOSE stays off), never part of an error message, and any
 * text coming from curl or Fauna is scrubbed of it before being reported.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "fauna_fdw.h"

#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
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

/* Sockets curl may use at once for one transfer (happy eyeballs: 2). */
#define FAUNA_MAX_SOCKETS		8

typedef struct FaunaSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN / OUT / INOUT */
} FaunaSocket;

/*
 * A cached connection: one per user mapping.  The key must be first
 * (dynahash).  FaunaConn is the public, opaque name of this struct.
 */
struct FaunaConn
{
	Oid			key;			/* user mapping OID */

	/* connection setup, in TopMemoryContext */
	CURL	   *easy;			/* NULL when not connected */
	CURLM	   *multi;
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
	char		errbuf[CURL_ERROR_SIZE];

	/* the request in progress */
	bool		busy;			/* a transfer is in the multi handle */
	bool		started;		/* fauna_request_start() not yet waited */
	bool		optional;		/* Fauna errors give no page, not an ERROR */
	bool		feed;			/* POST /feed/1 rather than /query/1 */
	MemoryContext request_cxt;	/* holds body and what; reset per request */
	char	   *body;
	size_t		body_len;
	char	   *what;
	MemoryContext page_cxt;		/* caller's; attempt_cxt is its child */
	MemoryContext attempt_cxt;	/* parser of the current attempt */
	FaunaParser *parser;
	long		status;			/* HTTP status, 0 until known */
	int64		received;		/* body bytes of this attempt */
	bool		too_large;
	bool		parse_failed;
	char		errbody[FAUNA_ERROR_BODY_MAX];
	size_t		errbody_len;
	FaunaSocket sockets[FAUNA_MAX_SOCKETS];
	int			nsockets;

	/* FQL v4 (api_version 4): POST / */
	int			api_version;	/* 10 or 4 */
	int64		txn_time;		/* x-txn-time of this attempt, 0 if none */
};

/* Outcome of one attempt, before it is classified. */
typedef struct AttemptResult
{
	CURLcode	curlcode;
	long		status;
} AttemptResult;

static HTAB *ConnectionHash = NULL;
static bool curl_initialized = false;

static void init_connection_cache(void);
static void connect_entry(FaunaConn *conn, UserMapping *user,
						  ForeignServer *server);
static void disconnect_entry(FaunaConn *conn);
static void discard_transfer(FaunaConn *conn);
static void configure_easy(FaunaConn *conn);
static void begin_attempt(FaunaConn *conn);
static AttemptResult run_attempt(FaunaConn *conn);
static void wait_for_sockets(FaunaConn *conn, long timeout_ms);
static size_t write_callback(char *ptr, size_t size, size_t nmemb, void *userdata);
static size_t header_callback(char *ptr, size_t size, size_t nmemb, void *userdata);
static void report_v4_http_error(FaunaConn *conn, long status,
								 int attempts) pg_attribute_noreturn();
static int	socket_callback(CURL *easy, curl_socket_t s, int what,
							void *userp, void *socketp);
static bool is_retryable_curl(CURLcode code);
static bool is_retryable_status(long status);
static void backoff_sleep(int attempt);
static char *redact(FaunaConn *conn, const char *text);
static char *describe_curl_failure(FaunaConn *conn, CURLcode code);
static void report_http_error(FaunaConn *conn, long status, int attempts);
static void report_curl_error(FaunaConn *conn, CURLcode code, int attempts);
static void fauna_inval_callback(Datum arg, int cacheid, uint32 hashvalue);
static void fauna_xact_callback(XactEvent event, void *arg);

/*
 * Get the cached connection of a user mapping, creating or rebuilding it as
 * needed.  No network traffic happens here: curl connects lazily on the
 * first request and reconnects by itself when the server closed the
 * kept-alive connection.
 */
FaunaConn *
fauna_get_connection(UserMapping *user, ForeignServer *server)
{
	FaunaConn  *conn;
	bool		found;

	if (ConnectionHash == NULL)
		init_connection_cache();

	conn = hash_search(ConnectionHash, &user->umid, HASH_ENTER, &found);
	if (!found)
	{
		/* everything but the key is zero: not connected */
		memset(((char *) conn) + sizeof(Oid), 0, sizeof(FaunaConn) - sizeof(Oid));
	}

	/* a leftover transfer (say, from a cancelled scan) is never reused */
	if (conn->busy)
		discard_transfer(conn);

	/* "multi" marks a set-up entry; "easy" may be dropped and recreated */
	if (conn->multi != NULL && conn->invalidated)
		disconnect_entry(conn);

	if (conn->multi == NULL)
		connect_entry(conn, user, server);

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
	ctl.entrysize = sizeof(FaunaConn);
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
static void
connect_entry(FaunaConn *conn, UserMapping *user, ForeignServer *server)
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

	conn->serverid = server->serverid;
	conn->server_name = MemoryContextStrdup(TopMemoryContext, server->servername);
	conn->url = psprintf("%s/query/1", opts.endpoint);
	conn->url = MemoryContextStrdup(TopMemoryContext, conn->url);
	conn->feed_url = MemoryContextStrdup(TopMemoryContext,
										 psprintf("%s/feed/1", opts.endpoint));
	conn->secret = MemoryContextStrdup(TopMemoryContext, secret);
	conn->ca_file = opts.ca_file ? MemoryContextStrdup(TopMemoryContext, opts.ca_file) : NULL;
	conn->timeout_ms = opts.timeout_ms;
	conn->connect_timeout_ms = opts.connect_timeout_ms;
	conn->max_retries = opts.max_retries;
	conn->max_response_bytes = opts.max_response_bytes;
	conn->invalidated = false;
	conn->server_hashvalue =
		GetSysCacheHashValue1(FOREIGNSERVEROID, ObjectIdGetDatum(server->serverid));
	conn->mapping_hashvalue =
		GetSysCacheHashValue1(USERMAPPINGOID, ObjectIdGetDatum(user->umid));

	if (conn->request_cxt == NULL)
		conn->request_cxt = AllocSetContextCreate(TopMemoryContext,
												  "fauna_fdw request",
												  ALLOCSET_SMALL_SIZES);

	/* headers: curl copies nothing, so the list lives with the entry */
	for (i = 0; fixed_headers[i]; i++)
		headers = curl_slist_append(headers, fixed_headers[i]);
	initStringInfo(&buf);
	appendStringInfo(&buf, "x-query-timeout-ms: %d", opts.timeout_ms);
	headers = curl_slist_append(headers, buf.data);
	resetStringInfo(&buf);
	appendStringInfo(&buf, "Authorization: Bearer %s", secret);
	headers = curl_slist_append(headers, buf.data);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);

	/* FQL v4: the legacy endpoint, "/", with its API version header */
	conn->api_version = opts.api_version;
	if (opts.api_version == 4)
	{
		pfree(conn->url);
		conn->url = MemoryContextStrdup(TopMemoryContext,
										psprintf("%s/", opts.endpoint));
		headers = curl_slist_append(headers, "X-FaunaDB-API-Version: 4");
	}
	if (headers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	conn->headers = headers;

	conn->multi = curl_multi_init();
	if (conn->multi == NULL)
	{
		disconnect_entry(conn);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	}
	curl_multi_setopt(conn->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(conn->multi, CURLMOPT_SOCKETDATA, conn);

	configure_easy(conn);
}

/*
 * Create and configure the easy handle.  It is recreated after a transfer
 * was discarded, with the same settings.
 */
static void
configure_easy(FaunaConn *conn)
{
	CURL	   *easy = curl_easy_init();
	CURLcode	rc = CURLE_OK;

	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

#define SETOPT(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, val); } while (0)

	SETOPT(CURLOPT_URL, conn->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_HTTPHEADER, conn->headers);
	SETOPT(CURLOPT_POST, 1L);
	SETOPT(CURLOPT_WRITEFUNCTION, write_callback);
	SETOPT(CURLOPT_WRITEDATA, conn);
	SETOPT(CURLOPT_HEADERFUNCTION, header_callback);
	SETOPT(CURLOPT_HEADERDATA, conn);
	SETOPT(CURLOPT_ERRORBUFFER, conn->errbuf);
	/* signals belong to the backend; curl must not install handlers */
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_VERBOSE, 0L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) conn->timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) conn->connect_timeout_ms);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_USERAGENT, "fauna_fdw/1.0");
	/* TLS verification is never disabled; only the CA bundle can change */
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (conn->ca_file)
		SETOPT(CURLOPT_CAINFO, conn->ca_file);
#undef SETOPT

	if (rc != CURLE_OK)
	{
		curl_easy_cleanup(easy);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not configure libcurl for Fauna server \"%s\"",
						conn->server_name),
				 errdetail("%s", curl_easy_strerror(rc))));
	}
	conn->easy = easy;
}

/* Close the connection and forget its settings. */
static void
disconnect_entry(FaunaConn *conn)
{
	if (conn->busy)
		discard_transfer(conn);
	if (conn->easy)
		curl_easy_cleanup(conn->easy);
	if (conn->multi)
		curl_multi_cleanup(conn->multi);
	if (conn->headers)
		curl_slist_free_all(conn->headers);	/* holds the secret too */
	if (conn->secret)
	{
		explicit_bzero(conn->secret, strlen(conn->secret));
		pfree(conn->secret);
	}
	if (conn->url)
		pfree(conn->url);
	if (conn->feed_url)
		pfree(conn->feed_url);
	if (conn->server_name)
		pfree(conn->server_name);
	if (conn->ca_file)
		pfree(conn->ca_file);
	conn->easy = NULL;
	conn->multi = NULL;
	conn->headers = NULL;
	conn->secret = NULL;
	conn->url = NULL;
	conn->feed_url = NULL;
	conn->server_name = NULL;
	conn->ca_file = NULL;
	conn->busy = false;
	conn->started = false;
	conn->nsockets = 0;
}

/*
 * Abort a transfer in progress and drop its easy handle, so the socket,
 * possibly holding the rest of a response, is closed rather than reused.
 * Never throws (it runs in error cleanup); the next request configures a
 * fresh handle.
 */
static void
discard_transfer(FaunaConn *conn)
{
	if (conn->easy)
	{
		if (conn->busy && conn->multi)
			curl_multi_remove_handle(conn->multi, conn->easy);
		curl_easy_cleanup(conn->easy);
		conn->easy = NULL;
	}
	conn->busy = false;
	conn->started = false;
	conn->nsockets = 0;
	conn->parser = NULL;
	conn->attempt_cxt = NULL;	/* memory goes with the caller's context */
}

/*
 * Start a request.  The body is copied, since curl reads it during the
 * transfer, which may outlive the caller's buffer.
 */
static void
start_request(FaunaConn *conn, const char *body, const char *what,
			  MemoryContext page_cxt, bool feed)
{
	if (conn->busy || conn->started)
		discard_transfer(conn);
	if (conn->easy == NULL)
		configure_easy(conn);

	MemoryContextReset(conn->request_cxt);
	conn->body = MemoryContextStrdup(conn->request_cxt, body);
	conn->body_len = strlen(body);
	conn->what = MemoryContextStrdup(conn->request_cxt, what);
	conn->page_cxt = page_cxt;
	conn->attempt_cxt = NULL;
	conn->started = true;
	conn->feed = feed;

	begin_attempt(conn);
}

void
fauna_request_start(FaunaConn *conn, const char *body, const char *what,
					MemoryContext page_cxt)
{
	start_request(conn, body, what, page_cxt, false);
}

/*
 * The same for an event feed page (POST /feed/1).  The response goes
 * through the same parser; decode.c recognizes a feed page by its "events".
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
begin_attempt(FaunaConn *conn)
{
	int			running;
	CURLMcode	mc;

	if (conn->attempt_cxt)
		MemoryContextDelete(conn->attempt_cxt);
	conn->attempt_cxt = AllocSetContextCreate(conn->page_cxt,
											  "fauna_fdw response",
											  ALLOCSET_DEFAULT_SIZES);
	conn->parser = fauna_parser_create(conn->attempt_cxt);
	if (conn->api_version == 4)
		fauna_parser_set_v4(conn->parser);
	conn->txn_time = 0;
	conn->status = 0;
	conn->received = 0;
	conn->too_large = false;
	conn->parse_failed = false;
	conn->errbody_len = 0;
	conn->errbuf[0] = '\0';

	curl_easy_setopt(conn->easy, CURLOPT_URL, conn->feed ? conn->feed_url : conn->url);
	curl_easy_setopt(conn->easy, CURLOPT_POSTFIELDS, conn->body);
	curl_easy_setopt(conn->easy, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t) conn->body_len);

	mc = curl_multi_add_handle(conn->multi, conn->easy);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start a request to Fauna server \"%s\"",
						conn->server_name),
				 errdetail("%s", curl_multi_strerror(mc))));
	conn->busy = true;

	(void) curl_multi_socket_action(conn->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/*
 * Wait for the started request, with retries, and return its page.
 */
FaunaPage *
fauna_request_wait(FaunaConn *conn, FaunaRequestCounters *counters)
{
	FaunaPage  *volatile page = NULL;

	if (!conn->started)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("no Fauna request in progress")));

	PG_TRY();
	{
		int			attempt = 1;

		for (;;)
		{
			AttemptResult res = run_attempt(conn);

			counters->attempts++;
			counters->bytes_received += conn->received;

			if (res.curlcode == CURLE_OK && res.status == 200)
			{
				/* decode.c raises its own ERROR for a bad body */
				page = fauna_parser_finish_page(conn->parser, conn->what);
				if (conn->txn_time > 0)
					fauna_page_set_txn_ts(page, conn->txn_time);
				counters->requests++;
				break;
			}

			if (conn->too_large)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("response of Fauna server \"%s\" for collection \"%s\" is too large",
								conn->server_name, conn->what),
						 errdetail("The response exceeded max_response_bytes (" INT64_FORMAT " bytes).",
								   conn->max_response_bytes),
						 errhint("Lower the page_size of the table or raise max_response_bytes of the server.")));

			if (conn->parse_failed)
			{
				/* the parser knows what was wrong; let it say so */
				page = fauna_parser_finish_page(conn->parser, conn->what);
				/* not reached: a failed parser cannot produce a page */
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("malformed response from Fauna for collection \"%s\"",
								conn->what)));
			}

			if (attempt <= conn->max_retries &&
				(res.curlcode == CURLE_OK ? is_retryable_status(res.status)
				 : is_retryable_curl(res.curlcode)))
			{
				backoff_sleep(attempt);
				attempt++;
				begin_attempt(conn);
				continue;
			}

			if (res.curlcode == CURLE_OK && conn->optional)
				break;			/* Fauna answered with an error: no page */
			if (res.curlcode == CURLE_OK)
				report_http_error(conn, res.status, attempt);
			else
				report_curl_error(conn, res.curlcode, attempt);
		}
	}
	PG_CATCH();
	{
		/* never reuse a connection in an unknown state */
		if (conn->busy)
			discard_transfer(conn);
		conn->started = false;
		conn->optional = false;
		PG_RE_THROW();
	}
	PG_END_TRY();

	conn->started = false;
	conn->optional = false;
	conn->parser = NULL;
	conn->attempt_cxt = NULL;
	return page;
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
	conn->optional = true;
	return fauna_request_wait(conn, counters);
}

void
fauna_request_abort(FaunaConn *conn)
{
	if (conn->busy)
		discard_transfer(conn);
	conn->started = false;
}

/*
 * Drive one attempt to completion, waiting on curl's sockets and the latch.
 * On return the handle is out of the multi handle and idle.
 */
static AttemptResult
run_attempt(FaunaConn *conn)
{
	AttemptResult res;

	for (;;)
	{
		CURLMsg    *msg;
		int			queued;
		long		timeout = -1;

		while ((msg = curl_multi_info_read(conn->multi, &queued)) != NULL)
		{
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == conn->easy)
			{
				res.curlcode = msg->data.result;
				res.status = 0;
				curl_easy_getinfo(conn->easy, CURLINFO_RESPONSE_CODE, &res.status);
				curl_multi_remove_handle(conn->multi, conn->easy);
				conn->busy = false;
				conn->nsockets = 0;
				return res;
			}
		}

		curl_multi_timeout(conn->multi, &timeout);
		if (timeout < 0 || timeout > FAUNA_WAIT_MAX_MS)
			timeout = FAUNA_WAIT_MAX_MS;

		wait_for_sockets(conn, timeout);

		/* outside of curl: safe to throw, the PG_CATCH discards the handle */
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Wait until one of curl's sockets is ready, the latch is set or the
 * timeout passes, then let curl act on what happened.
 */
static void
wait_for_sockets(FaunaConn *conn, long timeout_ms)
{
	WaitEventSet *set;
	WaitEvent	occurred[FAUNA_MAX_SOCKETS + 2];
	FaunaSocket socks[FAUNA_MAX_SOCKETS];
	int			nsocks = conn->nsockets;
	int			nevents;
	int			running;
	int			i;

	/* curl may change the socket list while acting; work on a copy */
	memcpy(socks, conn->sockets, sizeof(FaunaSocket) * nsocks);

	set = CreateWaitEventSet(CurrentMemoryContext, nsocks + 2);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nsocks; i++)
	{
		uint32		events = 0;

		if (socks[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (socks[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		if (events)
			AddWaitEventToSet(set, events, socks[i].fd, NULL, NULL);
	}

	nevents = timeout_ms > 0
		? WaitEventSetWait(set, timeout_ms, occurred, lengthof(occurred),
						   PG_WAIT_EXTENSION)
		: 0;
	FreeWaitEventSet(set);

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
			(void) curl_multi_socket_action(conn->multi, occurred[i].fd, mask,
											&running);
		}
	}

	/* expired timers (connect and transfer timeouts, retries inside curl) */
	(void) curl_multi_socket_action(conn->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* curl tells which sockets to watch, and for what. */
static int
socket_callback(CURL *easy, curl_socket_t s, int what, void *userp,
				void *socketp)
{
	FaunaConn  *conn = (FaunaConn *) userp;
	int			i;

	for (i = 0; i < conn->nsockets; i++)
	{
		if (conn->sockets[i].fd == s)
			break;
	}

	if (what == CURL_POLL_REMOVE)
	{
		if (i < conn->nsockets)
			conn->sockets[i] = conn->sockets[--conn->nsockets];
		return 0;
	}

	if (i == conn->nsockets)
	{
		if (conn->nsockets == FAUNA_MAX_SOCKETS)
			return -1;			/* makes curl fail the transfer */
		conn->nsockets++;
	}
	conn->sockets[i].fd = s;
	conn->sockets[i].what = what;
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
	FaunaConn  *conn = (FaunaConn *) userdata;
	size_t		len = size * nmemb;

	if (conn->status == 0)
		curl_easy_getinfo(conn->easy, CURLINFO_RESPONSE_CODE, &conn->status);

	conn->received += len;
	if (conn->received > conn->max_response_bytes)
	{
		conn->too_large = true;
		return 0;
	}

	if (conn->status == 200)
	{
		if (!fauna_parser_feed(conn->parser, ptr, len))
		{
			conn->parse_failed = true;
			return 0;
		}
	}
	else
	{
		/* error bodies are small; keep the beginning, which has the code */
		size_t		room = FAUNA_ERROR_BODY_MAX - 1 - conn->errbody_len;
		size_t		n = Min(room, len);

		memcpy(conn->errbody + conn->errbody_len, ptr, n);
		conn->errbody_len += n;
		conn->errbody[conn->errbody_len] = '\0';
	}
	return len;
}

/*
 * Header lines from curl.  Must not throw.  Keeps x-txn-time (microseconds),
 * which FQL v4 sends only as a header: the snapshot of a multi-page read.
 */
static size_t
header_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FaunaConn  *conn = (FaunaConn *) userdata;
	size_t		len = size * nmemb;
	static const char name[] = "x-txn-time:";

	if (len > sizeof(name) - 1 && len < 64 &&
		pg_strncasecmp(ptr, name, sizeof(name) - 1) == 0)
	{
		char		value[64];
		char	   *end;
		long long	v;

		memcpy(value, ptr + sizeof(name) - 1, len - (sizeof(name) - 1));
		value[len - (sizeof(name) - 1)] = '\0';
		errno = 0;
		v = strtoll(value, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
			end++;
		if (errno == 0 && *end == '\0' && v > 0)
			conn->txn_time = (int64) v;
	}
	return len;
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
redact(FaunaConn *conn, const char *text)
{
	StringInfoData buf;
	const char *p = text;
	size_t		slen = conn->secret ? strlen(conn->secret) : 0;

	initStringInfo(&buf);
	if (slen == 0)
	{
		appendStringInfoString(&buf, text);
		return buf.data;
	}
	for (;;)
	{
		const char *hit = strstr(p, conn->secret);

		if (hit == NULL)
			break;
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, "********");
		p = hit + slen;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

static char *
describe_curl_failure(FaunaConn *conn, CURLcode code)
{
	return redact(conn, conn->errbuf[0] ? conn->errbuf : curl_easy_strerror(code));
}

/* Does this Fauna error say that the collection does not exist? */
static bool
is_missing_collection(FaunaConn *conn, const char *code, const char *message)
{
	char	   *needle;
	bool		hit;

	if (strcmp(code, "invalid_query") != 0)
		return false;

	/*
	 * Fauna reports an unknown top-level name as "Unbound variable `Name`"
	 * (in the message, or in the summary of a failed validation check).
	 * Look for the collection's name there; it is an identifier, so no
	 * escaping can hide it in the JSON text.
	 */
	needle = psprintf("Unbound variable `%s`", conn->what);
	hit = strstr(message, needle) != NULL ||
		strstr(conn->errbody, needle) != NULL;
	pfree(needle);
	if (hit)
		return true;
	needle = psprintf("\"%s\" does not exist", conn->what);
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
report_v4_http_error(FaunaConn *conn, long status, int attempts)
{
	char	   *code = NULL;
	char	   *description = NULL;
	char	   *position = NULL;
	char	   *where;
	char	   *needle;
	bool		missing;

	if (!fauna_parse_v4_error_body(conn->errbody, conn->errbody_len,
								   &code, &description, &position))
	{
		code = psprintf("HTTP %ld", status);
		description = pstrdup("the response is not a Fauna v4 error object");
		position = pstrdup("");
	}
	description = redact(conn, description);
	where = (position[0] && strcmp(position, "[]") != 0)
		? psprintf(" (at %s)", position) : pstrdup("");

	if (status == 401)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("authentication failed for Fauna server \"%s\"",
						conn->server_name),
				 errdetail("Fauna error %s: %s", code, description),
				 errhint("Check the secret of the user mapping.")));

	if (status == 403 || strcmp(code, "permission denied") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for Fauna collection \"%s\"", conn->what),
				 errdetail("Fauna error %s: %s%s", code, description, where),
				 errhint("The role of the user mapping's secret must be allowed to read the collection.")));

	/* "Ref refers to undefined collection 'x'" (400), or a 404 of it */
	needle = psprintf("collection '%s'", conn->what);
	missing = (strcmp(code, "invalid ref") == 0 || status == 404) &&
		strstr(description, needle) != NULL;
	pfree(needle);
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("collection \"%s\" does not exist", conn->what),
				 errdetail("Fauna error %s: %s%s", code, description, where),
				 errhint("Check the foreign table's \"collection\" option.")));

	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Fauna query on collection \"%s\" failed", conn->what),
			 errdetail("HTTP %ld, Fauna error %s: %s%s%s", status, code,
					   description, where,
					   attempts > 1 ? psprintf(" (after %d attempts)", attempts) : "")));
}

/*
 * Turn a final non-200 response into an ERROR with Fauna's code and message
 * in the detail.
 */
static void
report_http_error(FaunaConn *conn, long status, int attempts)
{
	char	   *code = NULL;
	char	   *message = NULL;
	char	   *attempts_text;

	if (conn->api_version == 4)
		report_v4_http_error(conn, status, attempts);	/* does not return */

	if (!fauna_parse_error_body(conn->errbody, conn->errbody_len, &code, &message))
	{
		code = psprintf("HTTP %ld", status);
		message = pstrdup("the response is not a Fauna error object");
	}
	message = redact(conn, message);
	attempts_text = attempts > 1
		? psprintf(" (after %d attempts)", attempts)
		: pstrdup("");

	if (status == 401)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("authentication failed for Fauna server \"%s\"",
						conn->server_name),
				 errdetail("Fauna error %s: %s", code, message),
				 errhint("Check the secret of the user mapping.")));

	if (strcmp(code, "permission_denied") == 0 || status == 403)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for Fauna collection \"%s\"", conn->what),
				 errdetail("Fauna error %s: %s", code, message),
				 errhint("The role of the user mapping's secret must be allowed to read the collection.")));

	if (is_missing_collection(conn, code, message))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("collection \"%s\" does not exist", conn->what),
				 errdetail("Fauna error %s: %s", code, message),
				 errhint("Check the foreign table's \"collection\" option.")));

	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Fauna query on collection \"%s\" failed", conn->what),
			 errdetail("HTTP %ld, Fauna error %s: %s%s", status, code, message,
					   attempts_text)));
}

static void
report_curl_error(FaunaConn *conn, CURLcode code, int attempts)
{
	char	   *failure = describe_curl_failure(conn, code);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("could not query Fauna server \"%s\" for collection \"%s\"",
					conn->server_name, conn->what),
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
	FaunaConn  *conn;

	hash_seq_init(&scan, ConnectionHash);
	while ((conn = (FaunaConn *) hash_seq_search(&scan)) != NULL)
	{
		if (conn->multi == NULL)
			continue;
		if (hashvalue == 0 ||
			(cacheid == FOREIGNSERVEROID && conn->server_hashvalue == hashvalue) ||
			(cacheid == USERMAPPINGOID && conn->mapping_hashvalue == hashvalue))
			conn->invalidated = true;
	}
}

/*
 * At transaction end, drop any transfer still in progress (a scan that
 * errored out between start and wait): its connection is half-used.
 */
static void
fauna_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS scan;
	FaunaConn  *conn;

	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT)
		return;

	hash_seq_init(&scan, ConnectionHash);
	while ((conn = (FaunaConn *) hash_seq_search(&scan)) != NULL)
	{
		if (conn->busy || conn->started)
			discard_transfer(conn);
		/* the caller's memory contexts are gone after the transaction */
		conn->page_cxt = NULL;
		conn->attempt_cxt = NULL;
		conn->parser = NULL;
	}
}

/*
 * Close the connections of one server (InvalidOid: all).  Returns true if
 * any was open.
 */
static bool
disconnect_cached(Oid serverid)
{
	HASH_SEQ_STATUS scan;
	FaunaConn  *conn;
	bool		any = false;

	if (ConnectionHash == NULL)
		return false;

	hash_seq_init(&scan, ConnectionHash);
	while ((conn = (FaunaConn *) hash_seq_search(&scan)) != NULL)
	{
		if (conn->multi == NULL)
			continue;
		if (OidIsValid(serverid) && conn->serverid != serverid)
			continue;
		disconnect_entry(conn);
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
	FaunaConn  *conn;

	InitMaterializedSRF(fcinfo, 0);

	if (ConnectionHash == NULL)
		PG_RETURN_VOID();

	hash_seq_init(&scan, ConnectionHash);
	while ((conn = (FaunaConn *) hash_seq_search(&scan)) != NULL)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		ForeignServer *server;

		if (conn->multi == NULL)
			continue;
		server = GetForeignServerExtended(conn->serverid, FSV_MISSING_OK);
		if (server)
			values[0] = CStringGetTextDatum(server->servername);
		else
			nulls[0] = true;	/* dropped in this transaction */
		values[1] = BoolGetDatum(!conn->invalidated);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
