/*-------------------------------------------------------------------------
 *
 * remote_error.c
 *		  What a failed request is reported as.
 *
 * A Fauna error answer of either API (FQL v10's {"error": {code, message}},
 * FQL v4's {"errors": [{code, description, position}]}) is parsed into one
 * FaunaRemoteError and reported by one function, with the SQLSTATE its
 * kind calls for.  Any text from the endpoint is quoted briefly and
 * scrubbed of the secret; an answer that is no Fauna error is reported by
 * its status alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "connection_private.h"

#include "mb/pg_wchar.h"

/*
 * How much of a Fauna error's code and message an ERROR quotes, in bytes:
 * Fauna's own are far shorter; anything longer is not worth a log line.
 */
#define FAUNA_ERROR_CODE_MAX	64
#define FAUNA_ERROR_MESSAGE_MAX 300

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
void
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

/* A copy of text with every occurrence of the secret replaced. */
char *
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

/* A Fauna error answer, as either API gives it. */
typedef struct FaunaRemoteError
{
	long		status;			/* HTTP status */
	char	   *code;			/* quoted briefly, secret scrubbed */
	char	   *message;		/* the same; v4: its description */
	char	   *position;		/* v4: where in the expression, or NULL */
	bool		denied;			/* permission denied */
	bool		missing;		/* the collection does not exist */
} FaunaRemoteError;

/*
 * Does an FQL v10 error say that the collection does not exist?  Fauna
 * reports an unknown top-level name as "Unbound variable `Name`": in a
 * typechecked database as invalid_query (in the message, or in the summary
 * of a failed validation check), in one that is not as unbound_variable,
 * when the name is evaluated.  The name is an identifier, so no escaping
 * can hide it in the JSON text.
 */
static bool
v10_missing_collection(FaunaSlot *slot, const char *code, const char *message)
{
	char	   *unbound = psprintf("Unbound variable `%s`", slot->what);
	char	   *absent = psprintf("\"%s\" does not exist", slot->what);
	bool		hit;

	if (strcmp(code, "invalid_query") != 0 &&
		strcmp(code, "unbound_variable") != 0)
		return false;
	hit = strstr(message, unbound) != NULL ||
		strstr(slot->errbody, unbound) != NULL ||
		strstr(message, absent) != NULL;
	pfree(unbound);
	pfree(absent);
	return hit;
}

/* An FQL v10 error body {"error": {code, message}}; false if it is none. */
static bool
parse_v10_error(FaunaSlot *slot, long status, FaunaRemoteError *err)
{
	char	   *code;
	char	   *message;

	if (!fauna_parse_error_body(slot->errbody, slot->errbody_len, &code, &message))
		return false;
	err->denied = strcmp(code, "permission_denied") == 0;
	err->missing = v10_missing_collection(slot, code, message);
	err->code = code;
	err->message = message;
	return true;
}

/*
 * An FQL v4 error body {"errors": [{code, description, position}]}; false
 * if it is none.  "Ref refers to undefined collection 'x'" (400), or a 404
 * of it, is a missing collection.
 */
static bool
parse_v4_error(FaunaSlot *slot, long status, FaunaRemoteError *err)
{
	char	   *code;
	char	   *description;
	char	   *position;
	char	   *undefined;

	if (!fauna_parse_v4_error_body(slot->errbody, slot->errbody_len,
								   &code, &description, &position))
		return false;
	undefined = psprintf("collection '%s'", slot->what);
	err->missing = (strcmp(code, "invalid ref") == 0 || status == 404) &&
		strstr(description, undefined) != NULL;
	pfree(undefined);
	err->denied = strcmp(code, "permission denied") == 0;
	err->code = code;
	err->message = description;
	if (position[0] && strcmp(position, "[]") != 0)
		err->position = position;
	return true;
}

/* Where in a v4 expression Fauna found the error, as the CONTEXT */
#define V4_POSITION_CONTEXT(err) \
	((err).position ? errcontext("Fauna error position in the FQL v4 expression: %s", \
								 (err).position) : 0)

/*
 * Report a final non-200 answer: a Fauna error with its code and message
 * in the DETAIL and the SQLSTATE of its kind (28000 authentication, 42501
 * permission, HV00R missing collection, HV000 anything else), or, for any
 * other body, its status alone.
 */
void
report_http_error(FaunaSlot *slot, long status, int attempts)
{
	FaunaRemoteError err;
	bool		parsed;

	memset(&err, 0, sizeof(err));
	err.status = status;
	parsed = slot->entry->api_version == 4
		? parse_v4_error(slot, status, &err)
		: parse_v10_error(slot, status, &err);
	if (!parsed)
		report_not_fauna_response(slot, status, attempts);
	err.code = brief_remote_text(slot->entry, err.code, FAUNA_ERROR_CODE_MAX);
	err.message = brief_remote_text(slot->entry, err.message,
									FAUNA_ERROR_MESSAGE_MAX);
	if (err.position)
		err.position = brief_remote_text(slot->entry, err.position,
										 FAUNA_ERROR_MESSAGE_MAX);

	if (status == 401)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("authentication failed for Fauna server \"%s\"",
						slot->entry->server_name),
				 errdetail("Fauna error %s: %s", err.code, err.message),
				 errhint("Check the secret of the user mapping."),
				 V4_POSITION_CONTEXT(err)));

	if (err.denied || status == 403)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for Fauna collection \"%s\"", slot->what),
				 errdetail("Fauna error %s: %s", err.code, err.message),
				 errhint("The role of the user mapping's secret must be allowed to read the collection."),
				 V4_POSITION_CONTEXT(err)));

	if (err.missing)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("collection \"%s\" does not exist", slot->what),
				 errdetail("Fauna error %s: %s", err.code, err.message),
				 errhint("Check the foreign table's \"collection\" option."),
				 V4_POSITION_CONTEXT(err)));

	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Fauna query on collection \"%s\" failed", slot->what),
			 attempts > 1
			 ? errdetail_plural("HTTP %ld after %d attempt, Fauna error %s: %s",
								"HTTP %ld after %d attempts, Fauna error %s: %s",
								attempts, status, attempts, err.code, err.message)
			 : errdetail("HTTP %ld, Fauna error %s: %s", status, err.code, err.message),
			 strcmp(err.code, "invalid_index_invocation") == 0 ?
			 errhint("Wait until Fauna has built the index (fauna_fdw_check() shows when it is ready), or use index 'auto', which scans the whole collection meanwhile.") : 0,
			 V4_POSITION_CONTEXT(err)));
}

void
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
			 errdetail_plural("The request failed after %d attempt: %s",
							  "The request failed after %d attempts: %s",
							  attempts, attempts, failure)));
}
