/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  HTTP connections to Fauna: cache, requests and retries.
 *
 * With transfer.c and remote_error.c (connection_private.h), the only
 * code that uses libcurl.  Each user mapping gets a multi handle and a
 * small pool of easy handles, kept for the life of the backend so that
 * HTTP keep-alive and TLS sessions are reused across pages and statements,
 * like postgres_fdw's connection cache.  Every request in flight has an
 * easy handle of its own (see FaunaSlot): a scan may prefetch its next page
 * while another scan of the same statement waits for its own.  An ALTER or
 * DROP of the server or user mapping marks the entry invalid; it is rebuilt
 * with the new options the next time it is needed.
 *
 * Any ERROR while a transfer is in progress discards the easy handle: a
 * half-read connection must never serve another request.  So does the
 * reset of the memory a request's page was to go to (an ERROR, a rescan, a
 * scan ended by LIMIT), through a reset callback: a transfer never outlives
 * the memory its parser writes to.  Once a body is complete its connection
 * is free again, and fauna_request_wait_then() lets the caller start its
 * next request before the body is parsed to its end.  A body becomes a page
 * only if the response was application/json and of the shape the caller's
 * query can answer; other bodies are buffered (bounded) and parsed as
 * Fauna error objects (remote_error.c).  Retryable failures are retried
 * here, with an exponential backoff.
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

#include "connection_private.h"

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
static void configure_easy(FaunaSlot *slot);
static void begin_attempt(FaunaSlot *slot);
static void attempt_memory_gone(void *arg);
static bool is_retryable_curl(CURLcode code);
static bool is_retryable_status(long status);
static void backoff_sleep(int attempt);
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

/*
 * curl_global_init is not thread-safe, which is fine in a backend, and
 * must precede any other curl call: a request's, or the URL parser's that
 * checks an endpoint in CREATE SERVER before any connection.
 */
static void
ensure_curl_initialized(void)
{
	if (curl_initialized)
		return;
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("could not initialize libcurl")));
	curl_initialized = true;
}

static void
init_connection_cache(void)
{
	HASHCTL		ctl;

	ensure_curl_initialized();

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
				 errdetail_internal("%s", curl_easy_strerror(rc))));
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
void
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
FaunaSlot *
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
				 errdetail_internal("%s", curl_multi_strerror(mc))));
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
	char	   *volatile what = NULL;

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
				what = pstrdup(slot->what);
				header_stats(slot, &hstats);
				counters->requests++;
				break;
			}

			if (slot->too_large)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("response of Fauna server \"%s\" for collection \"%s\" is too large",
								entry->server_name, slot->what),
						 errdetail("The response exceeded max_response_bytes (%lld bytes).",
								   (long long) entry->max_response_bytes),
						 errhint("Lower the page_size of the table or raise max_response_bytes of the server.")));

			if (slot->parse_failed)
			{
				/* the parser knows what was wrong; let it say so */
				page = fauna_parser_finish_page(slot->parser, slot->what);
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
	page = fauna_parser_finish_page(parser, what);
	pfree(what);
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

/* Does the parsed URL have this part (a user, a query ...)? */
static bool
url_has_part(CURLU *u, CURLUPart what)
{
	char	   *part = NULL;
	CURLUcode	rc = curl_url_get(u, what, &part, 0);

	curl_free(part);
	return rc == CURLUE_OK;
}

/*
 * Read an endpoint with libcurl's own URL parser, the one that will be given
 * it: the scheme (case-insensitive), the host, and no credentials, query or
 * fragment.
 */
FaunaEndpointProblem
fauna_endpoint_problem(const char *endpoint)
{
	CURLU	   *u;
	FaunaEndpointProblem problem = FAUNA_ENDPOINT_OK;
	CURLUcode	rc;
	char	   *part = NULL;

	ensure_curl_initialized();
	u = curl_url();

	if (u == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	rc = curl_url_set(u, CURLUPART_URL, endpoint, CURLU_NON_SUPPORT_SCHEME);
	if (rc == CURLUE_NO_HOST)
		problem = FAUNA_ENDPOINT_NO_HOST;
	else if (rc != CURLUE_OK)
		problem = FAUNA_ENDPOINT_NOT_URL;
	else if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
			 (strcmp(part, "http") != 0 && strcmp(part, "https") != 0))
		problem = FAUNA_ENDPOINT_SCHEME;
	else if (url_has_part(u, CURLUPART_USER) || url_has_part(u, CURLUPART_PASSWORD))
		problem = FAUNA_ENDPOINT_CREDENTIALS;
	else if (url_has_part(u, CURLUPART_QUERY) || url_has_part(u, CURLUPART_FRAGMENT))
		problem = FAUNA_ENDPOINT_QUERY;
	curl_free(part);
	curl_url_cleanup(u);
	return problem;
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
