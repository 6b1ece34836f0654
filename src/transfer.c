/*-------------------------------------------------------------------------
 *
 * transfer.c
 *		  curl's transfers: its sockets, the backend's waits on them, and
 *		  the callbacks that take a response's headers and body.
 *
 * The backend waits on curl's sockets together with its latch, waking at
 * least every FAUNA_WAIT_MAX_MS, and checks for interrupts on each wakeup,
 * so that cancel, statement_timeout and pg_terminate_backend act promptly.
 * Bodies of HTTP 200 go to page.c's incremental parser as they arrive and
 * are parsed whenever the backend would otherwise wait.  curl's callbacks
 * never throw: an ERROR raised there would longjmp out of libcurl and
 * corrupt its state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "connection_private.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/memutils.h"


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
bool
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
void
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
AttemptResult
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
 * The entry's wait set for its sockets as they are now.  It is kept across
 * waits and rebuilt only when curl changed the sockets (sockets_version):
 * a set holds an epoll descriptor, and making one on every pass of the wait
 * loop cost a descriptor's creation each time.  A build that an ERROR cut
 * short is not ready, and is freed and made again at the next wait (or by
 * disconnect_entry()), so nothing leaks.
 */
WaitEventSet *
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

void
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

/*
 * curl's sockets count against PostgreSQL's budget of file descriptors
 * (max_files_per_process), as postgres_fdw's connections do.  Both run
 * inside libcurl and never throw: a refused descriptor fails the transfer
 * (reported by report_curl_error()).
 */
curl_socket_t
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

int
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
void
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
bool
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
void
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

int
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
size_t
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
 * A counter the response carries as a header (FQL v4: x-read-ops ...), or
 * -1 when it was not sent or is not a decimal count.
 */
static int64
header_count(FaunaSlot *slot, const char *name)
{
	struct curl_header *h;
	char	   *end;
	long long	v;

	if (curl_easy_header(slot->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	errno = 0;
	v = strtoll(h->value, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	return (errno == 0 && *end == '\0' && end != h->value && v >= 0) ? (int64) v : -1;
}

/*
 * The counters of a finished response's headers (FQL v4 answers have no
 * "stats" in their body); fields < 0 were not sent.
 */
void
header_stats(FaunaSlot *slot, FaunaStats *stats)
{
	int64		byte_read_ops = header_count(slot, "x-byte-read-ops");
	int64		byte_write_ops = header_count(slot, "x-byte-write-ops");

	stats->read_ops = byte_read_ops >= 0 ? byte_read_ops
		: header_count(slot, "x-read-ops");
	stats->write_ops = byte_write_ops >= 0 ? byte_write_ops
		: header_count(slot, "x-write-ops");
	stats->compute_ops = header_count(slot, "x-compute-ops");
	stats->bytes_read = header_count(slot, "x-storage-bytes-read");
	stats->txn_ts = header_count(slot, "x-txn-time");
}
