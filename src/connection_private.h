/*-------------------------------------------------------------------------
 *
 * connection_private.h
 *		  What the files of the libcurl module share: connection.c (the
 *		  cache and the requests), transfer.c (curl's sockets and
 *		  callbacks) and remote_error.c (what a failure is reported as).
 *
 * No other file includes it, so libcurl stays inside these three.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAUNA_CONNECTION_PRIVATE_H
#define FAUNA_CONNECTION_PRIVATE_H

#include <curl/curl.h>
#include <poll.h>

#include "fauna_fdw.h"

#include "storage/latch.h"

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

/* connection.c */
extern FaunaSlot *owned_slot(FaunaConn *conn);
extern void discard_slot(FaunaSlot *slot);

/* transfer.c */
extern void collect_done(FaunaEntry *entry);
extern bool drive_ready_sockets(FaunaEntry *entry);
extern AttemptResult run_attempt(FaunaSlot *slot);
extern void wait_for_sockets(FaunaEntry *entry, long timeout_ms);
extern WaitEventSet *current_wait_set(FaunaEntry *entry);
extern void size_wait_scratch(FaunaEntry *entry);
extern bool grow_sockets(FaunaEntry *entry);
extern void socket_action(FaunaEntry *entry, curl_socket_t fd, int mask);
extern curl_socket_t open_socket_callback(void *clientp, curlsocktype purpose,
										  struct curl_sockaddr *address);
extern int	close_socket_callback(void *clientp, curl_socket_t item);
extern int	socket_callback(CURL *easy, curl_socket_t s, int what, void *userp,
							void *socketp);
extern size_t write_callback(char *ptr, size_t size, size_t nmemb, void *userdata);
extern void header_stats(FaunaSlot *slot, FaunaStats *stats);

/* remote_error.c */
extern char *redact(FaunaEntry *entry, const char *text);
extern void check_content_type(FaunaSlot *slot);
extern void report_http_error(FaunaSlot *slot, long status, int attempts) pg_attribute_noreturn();
extern void report_curl_error(FaunaSlot *slot, CURLcode code, int attempts) pg_attribute_noreturn();

#endif							/* FAUNA_CONNECTION_PRIVATE_H */
