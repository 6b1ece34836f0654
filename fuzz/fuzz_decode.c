/*-------------------------------------------------------------------------
 *
 * fuzz_decode.c
 *		  libFuzzer target for the response decoder: arbitrary bytes as a /query/1
 *		  response body, fed in chunks, turned into a page, and every
 *		  element converted for a spread of columns (each kind, each type),
 *		  then as an error body (v10 and v4).  Bit 7 of the first byte makes
 *		  it a v4 response, bits 5-6 choose what the query expects (a page,
 *		  a document, anything).  Runs on the backend stand-in of pg_shim.c.
 *
 * An ERROR is fine (it longjmps back here, as in the server); what must
 * never happen: a crash, a sanitizer report, a leak (all memory must be
 * freed by the memory context reset even after an ERROR), or the decoder
 * handing PostgreSQL text that is not valid UTF-8 or a malformed jsonb
 * token sequence (pg_shim.c aborts on those).
 *
 *-------------------------------------------------------------------------
 */
/* memmem() is a GNU extension of <string.h> */
#define _GNU_SOURCE
#include "postgres.h"

#include "catalog/pg_type.h"

#include "fauna_fdw.h"
#include "pg_shim.h"

typedef struct ColSpec
{
	const char *path;
	FaunaPathKind kind;
	Oid			typid;
} ColSpec;

static const ColSpec specs[] = {
	{"id", FAUNA_PATH_ID, TEXTOID},
	{"id", FAUNA_PATH_ID, JSONBOID},
	{"id", FAUNA_PATH_ID, JSONOID},
	{"id", FAUNA_PATH_ID, INT8OID},
	{"ts", FAUNA_PATH_TS, TIMESTAMPTZOID},
	{"ts", FAUNA_PATH_TS, INT8OID},
	{"ttl", FAUNA_PATH_TTL, TIMESTAMPOID},
	{"coll", FAUNA_PATH_COLL, TEXTOID},
	{"data", FAUNA_PATH_DATA, JSONBOID},
	{"data", FAUNA_PATH_DATA, JSONOID},
	{"data", FAUNA_PATH_DATA, TEXTOID},
	{"action", FAUNA_PATH_ACTION, TEXTOID},
};

static const Oid field_types[] = {
	TEXTOID, VARCHAROID, INT2OID, INT4OID, INT8OID, NUMERICOID, FLOAT4OID,
	FLOAT8OID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPOID, DATEOID, BYTEAOID,
	JSONBOID, JSONOID, UUIDOID, TEXTARRAYOID, INT4ARRAYOID, JSONBARRAYOID,
	TIMESTAMPTZARRAYOID,
};

static char *a_path[] = {"a"};
static char *ab_path[] = {"a", "b"};
static char *data_a_path[] = {"data", "a"};

static void
convert_one(FaunaPage *page, int i, FaunaColumn *col)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = PG_exception_stack;
	Datum		value;
	bool		isnull;

	PG_exception_stack = &jb;
	if (sigsetjmp(jb, 0) == 0)
		fauna_page_document(page, i, col, 1, &value, &isnull);
	PG_exception_stack = save;
	error_context_stack = NULL;
}

static void
prepare(FaunaColumn *col, FaunaPathKind kind, Oid typid, char **path, int depth)
{
	memset(col, 0, sizeof(*col));
	col->attnum = 1;
	col->attname = "c";
	col->kind = kind;
	col->typid = typid;
	col->typmod = -1;
	col->field_path = path;
	col->field_depth = depth;
	fauna_column_prepare(col);
}

/* Element i converted for col, as text, or the ERROR it raises. */
static void
append_converted(FaunaPage *page, int i, FaunaColumn *col, StringInfo out)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = PG_exception_stack;
	Datum		value;
	bool		isnull;

	PG_exception_stack = &jb;
	memset(&shim_error, 0, sizeof(shim_error));
	if (sigsetjmp(jb, 0) == 0)
	{
		fauna_page_document(page, i, col, 1, &value, &isnull);
		appendStringInfo(out, " data=%s",
						 isnull ? "NULL" : shim_text_to_cstring(value));
	}
	else
		appendStringInfo(out, " error=%s | %s", shim_error.message,
						 shim_error.detail);
	PG_exception_stack = save;
	error_context_stack = NULL;
}

/*
 * What a page decodes to, fed in chunks of the given size: the ERROR
 * (message and detail), or the count, cursor, ids and each element's data
 * as text.  The incremental tokenizer must give the same for every chunk
 * size.
 */
static char *
summarize(const uint8_t *data, size_t size, size_t chunk, bool v4)
{
	MemoryContext cxt = shim_context_create();
	sigjmp_buf	jb;
	StringInfoData outbuf;
	StringInfo	out = &outbuf;
	char	   *result;

	CurrentMemoryContext = cxt;
	initStringInfo(out);
	PG_exception_stack = &jb;
	memset(&shim_error, 0, sizeof(shim_error));
	if (sigsetjmp(jb, 0) == 0)
	{
		FaunaParser *parser = fauna_parser_create(cxt);
		FaunaPage  *page;
		FaunaColumn col;
		char	   *after;
		int			n;

		if (v4)
			fauna_parser_set_v4(parser);
		/* as the scan receives: appended, parsed every other chunk */
		for (size_t off = 0, k = 0; off < size; off += chunk, k++)
		{
			if (!fauna_parser_append(parser, (const char *) data + off,
									 Min(chunk, size - off)))
				break;
			if (k % 2 == 1 && !fauna_parser_catch_up(parser))
				break;
		}
		page = fauna_parser_finish_page(parser, "Fuzz");
		n = fauna_page_count(page);
		after = fauna_page_after(page);
		appendStringInfo(out, "count=%d after=%s", n, after ? after : "NULL");
		prepare(&col, FAUNA_PATH_DATA, TEXTOID, NULL, 0);
		for (int i = 0; i < n; i++)
		{
			const char *id = fauna_page_document_id(page, i);

			appendStringInfo(out, " id=%s", id ? id : "-");
			append_converted(page, i, &col, out);
		}
	}
	else
		appendStringInfo(out, "ERROR %s | %s", shim_error.message,
						 shim_error.detail);
	PG_exception_stack = NULL;
	error_context_stack = NULL;
	result = strdup(out->data);
	CurrentMemoryContext = NULL;
	shim_context_delete(cxt);
	return result;
}

/* Fed whole or in chunks, the same bytes decode the same. */
static void
check_chunking(const uint8_t *data, size_t size, size_t chunk, bool v4)
{
	char	   *whole = summarize(data, size, Max(size, 1), v4);
	char	   *parts = summarize(data, size, chunk, v4);

	if (strcmp(whole, parts) != 0)
	{
		fprintf(stderr, "chunks of %zu decode differently:\nwhole:  %s\nchunks: %s\n",
				chunk, whole, parts);
		abort();
	}
	free(whole);
	free(parts);
}

/*
 * A guessed cursor is never made up: it is text of the body as received
 * (not of a string the parser unescaped in place), in a string member
 * "after".
 */
static void
check_guess(FaunaParser *parser, const uint8_t *data, size_t size)
{
	char	   *guess = fauna_parser_guess_after(parser);
	char	   *want;
	bool		found;

	if (guess == NULL)
		return;
	want = psprintf("\"after\":\"%s\"", guess);
	found = memmem(data, size, want, strlen(want)) != NULL;
	pfree(want);
	want = psprintf("\"%s\"", guess);
	if (!found && memmem(data, size, want, strlen(want)) == NULL)
	{
		fprintf(stderr, "guessed cursor \"%s\" is not in the body\n", guess);
		abort();
	}
	pfree(want);
	pfree(guess);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemoryContext cxt = shim_context_create();
	sigjmp_buf	jb;
	/* the first byte picks the chunk size, as the network would */
	size_t		chunk = size > 0 ? (data[0] % 64) + 1 : 1;

	CurrentMemoryContext = cxt;
	PG_exception_stack = &jb;
	error_context_stack = NULL;
	if (sigsetjmp(jb, 0) == 0)
	{
		FaunaParser *parser = fauna_parser_create(cxt);
		FaunaPage  *page;
		FaunaStats	st;
		FaunaColumn col;
		int			n;

		/* bit 7 of the first byte: an FQL v4 response */
		if (size > 0 && (data[0] & 0x80))
			fauna_parser_set_v4(parser);
		/* bits 5-6: what the query expects (ANY for '{', 0x7b) */
		if (size > 0)
			fauna_parser_expect(parser, (FaunaExpect) (((data[0] >> 5) & 3) % 3));
		if (size > 0 && (data[0] & 0x10))
			fauna_parser_reserve(parser, size);
		for (size_t off = 0; off < size; off += chunk)
			if (!fauna_parser_feed(parser, (const char *) data + off,
								   Min(chunk, size - off)))
				break;
		check_guess(parser, data, size);
		page = fauna_parser_finish_page(parser, "Fuzz");
		n = fauna_page_count(page);
		(void) fauna_page_after(page);
		fauna_page_stats(page, &st);
		if (size > 0 && (data[0] & 0x80))
			for (int i = 0; i < n; i++)
			{
				char	   *name;
				char	   *coll;
				FaunaIndexShape shape;

				(void) fauna_v4_page_index(page, i, &name, &coll, &shape);
			}
		for (int i = 0; i < n; i++)
		{
			(void) fauna_page_document_id(page, i);
			for (int s = 0; s < (int) lengthof(specs); s++)
			{
				prepare(&col, specs[s].kind, specs[s].typid, NULL, 0);
				convert_one(page, i, &col);
			}
			for (int t = 0; t < (int) lengthof(field_types); t++)
			{
				prepare(&col, FAUNA_PATH_FIELD, field_types[t], a_path, 1);
				convert_one(page, i, &col);
				prepare(&col, FAUNA_PATH_FIELD, field_types[t], ab_path, 2);
				convert_one(page, i, &col);
				prepare(&col, FAUNA_PATH_FIELD, field_types[t], data_a_path, 2);
				convert_one(page, i, &col);
			}
		}
	}
	PG_exception_stack = NULL;
	error_context_stack = NULL;
	shim_context_reset(cxt);

	/* the same bytes as an error body: never throws */
	{
		char	   *code;
		char	   *message;

		char	   *position;

		(void) fauna_parse_error_body((const char *) data, size, &code, &message);
		(void) fauna_parse_v4_error_body((const char *) data, size, &code,
										 &message, &position);
	}
	CurrentMemoryContext = NULL;
	shim_context_delete(cxt);

	check_chunking(data, size, chunk, size > 0 && (data[0] & 0x80));
	return 0;
}
