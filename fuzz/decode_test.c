/*-------------------------------------------------------------------------
 *
 * decode_test.c
 *		  Table-driven unit test of the response decoder (src/json_tape.c,
 *		  page.c, page_v4.c, convert.c, export.c), run outside the server on
 *		  the backend stand-in of pg_shim.c (built with AddressSanitizer and
 *		  LeakSanitizer by fuzz/run.sh, so a leak on an ERROR path fails).
 *
 * jsonb values print as the shim renders them (keys in Fauna's order, not
 * jsonb's), numerics as their text, arrays as {a,b}, timestamps as UTC.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <time.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/elog.h"

#include "fauna_fdw.h"
#include "pg_shim.h"

#undef printf
#undef fprintf
#undef snprintf

static int	failures = 0;
static MemoryContext test_cxt;
static int	checks = 0;

static void
check(const char *name, const char *got, const char *want)
{
	checks++;
	if (strcmp(got, want) != 0)
	{
		failures++;
		printf("FAIL %s\n  want: %s\n  got:  %s\n", name, want, got);
	}
}

static char *
render_time(int64 pgusecs, bool with_time)
{
	int64		unix_us = pgusecs + INT64CONST(946684800000000);
	time_t		secs = (time_t) (unix_us >= 0 ? unix_us / 1000000 :
								 -((-unix_us + 999999) / 1000000));
	int			us = (int) (unix_us - (int64) secs * 1000000);
	struct tm	tm;
	char		buf[64];

	gmtime_r(&secs, &tm);
	if (with_time)
		snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06d",
				 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec, us);
	else
		snprintf(buf, sizeof(buf), "%04d-%02d-%02d",
				 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return pstrdup(buf);
}

static char *
render(Datum d, bool isnull, Oid typid)
{
	char		buf[128];

	if (isnull)
		return "NULL";
	switch (typid)
	{
		case INT2OID:
			snprintf(buf, sizeof(buf), "%d", DatumGetInt16(d));
			break;
		case INT4OID:
			snprintf(buf, sizeof(buf), "%d", DatumGetInt32(d));
			break;
		case INT8OID:
			snprintf(buf, sizeof(buf), "%lld", (long long) DatumGetInt64(d));
			break;
		case FLOAT4OID:
			snprintf(buf, sizeof(buf), "%.9g", DatumGetFloat4(d));
			break;
		case FLOAT8OID:
			snprintf(buf, sizeof(buf), "%.17g", DatumGetFloat8(d));
			break;
		case BOOLOID:
			return DatumGetBool(d) ? "t" : "f";
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			return render_time(DatumGetInt64(d), true);
		case DATEOID:
			return render_time((int64) DatumGetInt32(d) * USECS_PER_DAY, false);
		case BYTEAOID:
			{
				bytea	   *b = (bytea *) DatumGetPointer(d);
				int			n = VARSIZE(b) - VARHDRSZ;
				char	   *r = palloc(3 + 2 * n);

				strcpy(r, "\\x");
				for (int i = 0; i < n; i++)
					sprintf(r + 2 + 2 * i, "%02x", (unsigned char) VARDATA(b)[i]);
				return r;
			}
		default:
			return shim_text_to_cstring(d);
	}
	return pstrdup(buf);
}

static FaunaColumn
make_column(const char *path, Oid typid, int32 typmod)
{
	FaunaColumn col;

	memset(&col, 0, sizeof(col));
	col.attnum = 1;
	col.attname = "col";
	col.typid = typid;
	col.typmod = typmod;
	if (strcmp(path, "id") == 0 || strcmp(path, "ref") == 0)
		col.kind = FAUNA_PATH_ID;
	else if (strcmp(path, "ts") == 0)
		col.kind = FAUNA_PATH_TS;
	else if (strcmp(path, "ttl") == 0)
		col.kind = FAUNA_PATH_TTL;
	else if (strcmp(path, "coll") == 0)
		col.kind = FAUNA_PATH_COLL;
	else if (strcmp(path, "data") == 0)
		col.kind = FAUNA_PATH_DATA;
	else
	{
		char	   *p = pstrdup(path);
		char	   *tok;

		col.kind = FAUNA_PATH_FIELD;
		col.field_path = palloc(sizeof(char *) * 16);
		for (tok = strtok(p, "."); tok; tok = strtok(NULL, "."))
			col.field_path[col.field_depth++] = tok;
	}
	fauna_column_prepare(&col);
	return col;
}

/*
 * Convert element `elem` of `body`, fed in chunks of `chunk` bytes, for one
 * column; the result or "ERROR: message | detail".
 */
static char *
convert(const char *body, size_t chunk, int elem, const char *path,
		Oid typid, int32 typmod)
{
	MemoryContext cxt = shim_context_create();
	sigjmp_buf	jb;
	char	   *volatile result = NULL;
	static char out[4096];

	CurrentMemoryContext = cxt;
	PG_exception_stack = &jb;
	error_context_stack = NULL;
	if (sigsetjmp(jb, 0) == 0)
	{
		FaunaParser *parser = fauna_parser_create(cxt);
		size_t		len = strlen(body);
		FaunaPage  *page;
		FaunaColumn col = make_column(path, typid, typmod);
		Datum		value;
		bool		isnull;

		for (size_t off = 0; off < len; off += chunk)
			fauna_parser_feed(parser, body + off, Min(chunk, len - off));
		page = fauna_parser_finish_page(parser, "T");
		fauna_page_document(page, elem, &col, 1, &value, &isnull);
		snprintf(out, sizeof(out), "%s", render(value, isnull, typid));
	}
	else
	{
		if (shim_error.context[0])
			snprintf(out, sizeof(out), "ERROR: %s | %s | CONTEXT: %s",
					 shim_error.message, shim_error.detail, shim_error.context);
		else
			snprintf(out, sizeof(out), "ERROR: %s | %s",
					 shim_error.message, shim_error.detail);
	}
	PG_exception_stack = NULL;
	CurrentMemoryContext = test_cxt;
	shim_context_delete(cxt);
	result = out;
	return result;
}

/*
 * Run fn(cxt, arg, out, outsize) in a fresh memory context, with ERRORs
 * caught: its output, or "ERROR: message | detail".
 */
typedef void (*GuardedFn) (MemoryContext cxt, void *arg, char *out, size_t outsize);

static char *
run_guarded(GuardedFn fn, void *arg)
{
	MemoryContext cxt = shim_context_create();
	sigjmp_buf	jb;
	static char out[4096];

	CurrentMemoryContext = cxt;
	PG_exception_stack = &jb;
	if (sigsetjmp(jb, 0) == 0)
		fn(cxt, arg, out, sizeof(out));
	else
		snprintf(out, sizeof(out), "ERROR: %s | %s", shim_error.message,
				 shim_error.detail);
	PG_exception_stack = NULL;
	CurrentMemoryContext = test_cxt;
	shim_context_delete(cxt);
	return out;
}

typedef struct SummaryArgs
{
	const char *body;
	size_t		chunk;
	FaunaExpect expect;
	bool		v4;
	const FaunaStats *hdr;
} SummaryArgs;

static void
summarize_page(MemoryContext cxt, void *arg, char *out, size_t outsize)
{
	SummaryArgs *a = (SummaryArgs *) arg;
	FaunaParser *parser = fauna_parser_create(cxt);
	size_t		len = strlen(a->body);
	FaunaPage  *page;
	FaunaStats	st;
	char	   *after;
	int			n;

	if (a->v4)
		fauna_parser_set_v4(parser);
	fauna_parser_expect(parser, a->expect);
	for (size_t off = 0; off < len; off += a->chunk)
		fauna_parser_feed(parser, a->body + off, Min(a->chunk, len - off));
	page = fauna_parser_finish_page(parser, "T");
	if (a->hdr)
		fauna_page_set_header_stats(page, a->hdr);
	fauna_page_stats(page, &st);
	after = fauna_page_after(page);
	n = fauna_page_count(page);
	snprintf(out, outsize, "count=%d after=%s ids=", n, after ? after : "NULL");
	for (int i = 0; i < n; i++)
	{
		const char *id = fauna_page_document_id(page, i);

		strcat(out, id ? id : "-");
		strcat(out, ",");
	}
	snprintf(out + strlen(out), outsize - strlen(out),
			 " stats=%lld/%lld/%lld/%lld/%lld",
			 (long long) st.read_ops, (long long) st.compute_ops,
			 (long long) st.write_ops, (long long) st.bytes_read,
			 (long long) st.txn_ts);
}

/*
 * Page-level facts: count, after, ids, stats, or the error.  The response
 * is parsed as the answer to a query that expects `expect`, as FQL v4 if
 * v4, and given the header counters hdr if not NULL.
 */
static char *
page_summary_of(const char *body, size_t chunk, FaunaExpect expect, bool v4,
				const FaunaStats *hdr)
{
	SummaryArgs a = {body, chunk, expect, v4, hdr};

	return run_guarded(summarize_page, &a);
}

static char *
page_summary(const char *body, size_t chunk)
{
	return page_summary_of(body, chunk, FAUNA_EXPECT_ANY, false, NULL);
}

/* A response with one document of the given user fields. */
static char *
doc(const char *fields)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf),
			 "{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"id\":\"412\","
			 "\"coll\":{\"@mod\":\"T\"},\"ts\":{\"@time\":\"2024-01-01T00:00:00.001Z\"}%s%s}}]}},"
			 "\"stats\":{\"read_ops\":1},\"txn_ts\":1}",
			 fields[0] ? "," : "", fields);
	return buf;
}

typedef struct FieldCase
{
	const char *value;			/* the tagged JSON of field "f" */
	Oid			typid;
	const char *want;
} FieldCase;

#define CONV_ERR(ftype, pgtype) \
	"ERROR: cannot convert Fauna " ftype " to type " pgtype " for column \"col\" | Document id \"412\" of collection \"T\"."

static const FieldCase field_cases[] = {
	/* text */
	{"\"cat\"", TEXTOID, "cat"},
	{"\"caf\\u00e9 \\ud83d\\ude00\"", TEXTOID, "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	{"{\"@int\":\"12\"}", TEXTOID, "12"},
	{"{\"@long\":\"-9223372036854775808\"}", TEXTOID, "-9223372036854775808"},
	{"{\"@double\":\"1.0E10\"}", TEXTOID, "1.0E10"},
	{"true", TEXTOID, "true"},
	{"null", TEXTOID, "NULL"},
	{"{\"@time\":\"2023-04-06T03:33:32.226Z\"}", TEXTOID, "2023-04-06T03:33:32.226Z"},
	{"{\"@date\":\"2012-02-01\"}", TEXTOID, "2012-02-01"},
	{"{\"@bytes\":\"+/+/\"}", TEXTOID, "-_-_"},
	{"{\"@mod\":\"Users\"}", TEXTOID, "{\"id\": \"Users\", \"type\": \"collection\"}"},
	{"{\"@mod\":\"Math\"}", TEXTOID, "{\"id\": \"Math\", \"type\": \"module\"}"},
	{"{\"a\":[1,\"x\"],\"b\":{\"@int\":\"1\"}}", TEXTOID, "{\"a\": [1, \"x\"], \"b\": 1}"},
	{"{\"@ref\":{\"id\":\"123\",\"coll\":{\"@mod\":\"other\"}}}", TEXTOID,
	"{\"id\": \"123\", \"collection\": \"other\", \"type\": \"document\"}"},
	{"\"a\\u0000b\"", TEXTOID,
	"ERROR: Fauna string for column \"col\" contains a NUL character, which PostgreSQL text cannot hold | Document id \"412\" of collection \"T\"."},
	/* integers */
	{"{\"@int\":\"12\"}", INT4OID, "12"},
	{"{\"@int\":\"-2147483648\"}", INT4OID, "-2147483648"},
	{"{\"@long\":\"2147483648\"}", INT4OID,
	"ERROR: Fauna long 2147483648 is out of range for type integer of column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@int\":\"40000\"}", INT2OID,
	"ERROR: Fauna int 40000 is out of range for type smallint of column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@int\":\"-32768\"}", INT2OID, "-32768"},
	{"{\"@long\":\"9007199254740993\"}", INT8OID, "9007199254740993"},
	{"{\"@double\":\"12.0\"}", INT4OID, "12"},
	{"{\"@double\":\"1.0E10\"}", INT8OID, "10000000000"},
	{"{\"@double\":\"12.5\"}", INT4OID,
	"ERROR: cannot convert Fauna double 12.5 to type integer for column \"col\": not an integral value | Document id \"412\" of collection \"T\"."},
	{"{\"@double\":\"NaN\"}", INT8OID,
	"ERROR: cannot convert Fauna double NaN to type bigint for column \"col\": not an integral value | Document id \"412\" of collection \"T\"."},
	{"\"12\"", INT4OID, CONV_ERR("string", "integer")},
	{"true", INT2OID, CONV_ERR("boolean", "smallint")},
	{"{\"@int\":\"12x\"}", INT4OID,
	"ERROR: invalid Fauna int value \"12x\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@int\":\"3000000000\"}", INT8OID,
	"ERROR: invalid Fauna int value \"3000000000\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@time\":\"1970-01-01T00:00:01.5Z\"}", INT8OID, "1500000"},
	/* numeric, floats */
	{"{\"@int\":\"12\"}", NUMERICOID, "12"},
	{"{\"@double\":\"1.5E-3\"}", NUMERICOID, "1.5E-3"},
	{"{\"@double\":\"NaN\"}", NUMERICOID, "NaN"},
	{"\"1.5\"", NUMERICOID, CONV_ERR("string", "numeric")},
	{"{\"@double\":\"1.5\"}", FLOAT8OID, "1.5"},
	{"{\"@double\":\"-Infinity\"}", FLOAT8OID, "-inf"},
	{"{\"@double\":\"NaN\"}", FLOAT4OID, "nan"},
	{"{\"@long\":\"9007199254740993\"}", FLOAT8OID, "9007199254740992"},
	{"{\"@double\":\"1.0E300\"}", FLOAT4OID,
	"ERROR: Fauna double 1.0E300 is out of range for type real of column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@double\":\"1.5x\"}", FLOAT8OID,
	"ERROR: invalid Fauna double value \"1.5x\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@date\":\"2012-02-01\"}", FLOAT8OID, CONV_ERR("date", "double precision")},
	/* bool */
	{"true", BOOLOID, "t"},
	{"false", BOOLOID, "f"},
	{"\"true\"", BOOLOID, CONV_ERR("string", "boolean")},
	{"{\"@int\":\"1\"}", BOOLOID, CONV_ERR("int", "boolean")},
	/* times and dates */
	{"{\"@time\":\"2023-04-06T03:33:32Z\"}", TIMESTAMPTZOID, "2023-04-06 03:33:32.000000"},
	{"{\"@time\":\"2023-04-06T03:33:32.226Z\"}", TIMESTAMPTZOID, "2023-04-06 03:33:32.226000"},
	{"{\"@time\":\"2023-04-06T03:33:32.123456Z\"}", TIMESTAMPTZOID, "2023-04-06 03:33:32.123456"},
	{"{\"@time\":\"2023-04-06T03:33:32.123456789Z\"}", TIMESTAMPTZOID, "2023-04-06 03:33:32.123457"},
	{"{\"@time\":\"2023-04-06T03:33:32.123456499Z\"}", TIMESTAMPTZOID, "2023-04-06 03:33:32.123456"},
	{"{\"@time\":\"1999-12-31T23:59:59.999999500Z\"}", TIMESTAMPOID, "2000-01-01 00:00:00.000000"},
	{"{\"@time\":\"1969-07-20T20:17:40Z\"}", TIMESTAMPOID, "1969-07-20 20:17:40.000000"},
	{"{\"@time\":\"2024-02-29T10:00:00+02:00\"}", TIMESTAMPTZOID, "2024-02-29 08:00:00.000000"},
	{"{\"@time\":\"2023-02-29T10:00:00Z\"}", TIMESTAMPTZOID,
	"ERROR: invalid Fauna time value \"2023-02-29T10:00:00Z\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@time\":\"2023-04-06\"}", TIMESTAMPTZOID,
	"ERROR: invalid Fauna time value \"2023-04-06\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@date\":\"2012-02-01\"}", TIMESTAMPTZOID, CONV_ERR("date", "timestamp with time zone")},
	{"\"2023-04-06T03:33:32Z\"", TIMESTAMPOID, CONV_ERR("string", "timestamp without time zone")},
	{"{\"@date\":\"2012-02-01\"}", DATEOID, "2012-02-01"},
	{"{\"@date\":\"1900-02-29\"}", DATEOID,
	"ERROR: invalid Fauna date value \"1900-02-29\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"{\"@time\":\"2023-04-06T03:33:32Z\"}", DATEOID, CONV_ERR("time", "date")},
	/* bytea */
	{"{\"@bytes\":\"aGVsbG8gd29ybGQ=\"}", BYTEAOID, "\\x68656c6c6f20776f726c64"},
	{"{\"@bytes\":\"\"}", BYTEAOID, "\\x"},
	{"{\"@bytes\":\"+/8=\"}", BYTEAOID, "\\xfbff"},
	{"{\"@bytes\":\"a===\"}", BYTEAOID,
	"ERROR: invalid Fauna bytes value \"a===\" for column \"col\" | Document id \"412\" of collection \"T\"."},
	{"\"aGVsbG8=\"", BYTEAOID, CONV_ERR("string", "bytea")},
	/* jsonb: the export formats */
	{"\"cat\"", JSONBOID, "\"cat\""},
	{"{\"@int\":\"12\"}", JSONBOID, "12"},
	{"{\"@double\":\"Infinity\"}", JSONBOID, "\"Infinity\""},
	{"{\"@double\":\"2.5\"}", JSONBOID, "2.5"},
	{"null", JSONBOID, "NULL"},
	{"{\"@bytes\":\"aGVsbG8gd29ybGQ=\"}", JSONBOID, "\"aGVsbG8gd29ybGQ=\""},
	{"{\"@time\":\"2023-04-06T03:33:32.226Z\"}", JSONBOID, "\"2023-04-06T03:33:32.226Z\""},
	{"{\"@ref\":{\"id\":\"123\",\"coll\":{\"@mod\":\"other\"}}}", JSONBOID,
	"{\"id\": \"123\", \"type\": \"document\", \"collection\": \"other\"}"},
	{"{\"@ref\":{\"id\":\"9\",\"coll\":{\"@mod\":\"U\"},\"exists\":false,\"cause\":\"not found\"}}", JSONBOID,
	"{\"id\": \"9\", \"type\": \"document\", \"collection\": \"U\"}"},
	{"{\"@ref\":{\"name\":\"Users\",\"coll\":{\"@mod\":\"Collection\"}}}", JSONBOID,
	"{\"id\": \"Users\", \"type\": \"collection\"}"},
	{"{\"@doc\":{\"id\":\"7\",\"coll\":{\"@mod\":\"U\"},\"ts\":{\"@time\":\"2024-01-01T00:00:00Z\"},\"x\":1}}", JSONBOID,
	"{\"id\": \"7\", \"type\": \"document\", \"collection\": \"U\"}"},
	{"{\"@object\":{\"@int\":\"not a tag\",\"k\":{\"@date\":\"2024-02-29\"}}}", JSONBOID,
	"{\"k\": \"2024-02-29\", \"@int\": \"not a tag\"}"},
	{"{\"@set\":{\"data\":[],\"after\":\"c/x\"}}", JSONBOID,
	"\"{\"@set\":{\"data\":[],\"after\":\"c/x\"}}\""},
	{"{\"@stream\":\"tok\"}", JSONBOID, "\"{\"@stream\":\"tok\"}\""},
	{"[{\"@int\":\"1\"},[true,null],{}]", JSONBOID, "[1, [true, null], {}]"},
	{"{\"@mod\":\"Users\"}", JSONBOID, "{\"id\": \"Users\", \"type\": \"collection\"}"},
	{"{\"@int\":5}", JSONBOID,
	"ERROR: invalid response from Fauna for collection \"T\" | The value of tag \"@int\" is not a string."},
	/* json: text, NaN as string, \u0000 escaped */
	{"{\"a\":{\"@double\":\"NaN\"},\"b\":\"q\\\"\\n\\u0001\",\"c\":{\"@date\":\"2012-02-01\"}}", JSONOID,
	"{\"a\": \"NaN\", \"b\": \"q\\\"\\n\\u0001\", \"c\": \"2012-02-01\"}"},
	{"\"x\"", JSONOID, "\"x\""},
	{"[NaN]", JSONOID,
	"ERROR: invalid response from Fauna for collection \"T\" | The response holds a non-finite JSON number."},
	/* arrays */
	{"[\"a\",null,{\"@int\":\"3\"}]", TEXTARRAYOID, "{a,NULL,3}"},
	{"[{\"@int\":\"1\"},{\"@long\":\"2\"}]", INT4ARRAYOID, "{1,2}"},
	{"[]", INT4ARRAYOID, "{}"},
	{"[[{\"@int\":\"1\"}]]", INT4ARRAYOID, CONV_ERR("array", "integer")},
	{"[[{\"@int\":\"1\"}]]", TEXTARRAYOID, CONV_ERR("array", "text")},
	{"[[{\"@int\":\"1\"}],{\"a\":true}]", JSONBARRAYOID, "{[1],{\"a\": true}}"},
	{"[\"x\"]", INT4ARRAYOID, CONV_ERR("string", "integer")},
	{"{\"@int\":\"1\"}", INT4ARRAYOID, CONV_ERR("int", "integer[]")},
	{"[{\"@time\":\"2024-01-01T00:00:00Z\"}]", TIMESTAMPTZARRAYOID, "{757382400000000}"},
	/* other types through their input function */
	{"\"abc\"", VARCHAROID, "character varying:abc"},
	{"{\"@int\":\"7\"}", VARCHAROID, "character varying:7"},
	/* jsonb: keys in jsonb's order, a repeated key keeps its last value */
	{"{\"bb\":1,\"a\":2,\"bb\":3,\"c\":{\"y\":1,\"x\":2,\"y\":3}}", JSONBOID,
	"{\"a\": 2, \"c\": {\"x\": 2, \"y\": 3}, \"bb\": 3}"},
	/* more than 16 keys (sorted with qsort): the same */
	{"{\"k20\":0,\"k19\":1,\"k18\":2,\"k17\":3,\"k16\":4,\"k15\":5,\"k14\":6,\"k13\":7,\"k12\":8,\"k11\":9,\"k10\":10,\"k09\":11,\"k08\":12,\"k07\":13,\"k06\":14,\"k05\":15,\"k04\":16,\"k03\":17,\"k02\":18,\"k01\":19,\"k05\":\"last\"}", JSONBOID,
	"{\"k01\": 19, \"k02\": 18, \"k03\": 17, \"k04\": 16, \"k05\": \"last\", \"k06\": 14, \"k07\": 13, \"k08\": 12, \"k09\": 11, \"k10\": 10, \"k11\": 9, \"k12\": 8, \"k13\": 7, \"k14\": 6, \"k15\": 5, \"k16\": 4, \"k17\": 3, \"k18\": 2, \"k19\": 1, \"k20\": 0}"},
	{"\"not-a-uuid\"", UUIDOID,
	"ERROR: invalid input syntax for type uuid: \"not-a-uuid\" |  | CONTEXT: column \"col\" of Fauna document \"412\" of collection \"T\""},
};

static void
test_fields(void)
{
	for (int i = 0; i < (int) lengthof(field_cases); i++)
	{
		char		fields[4096];
		char		name[64];

		snprintf(fields, sizeof(fields), "\"f\":%s", field_cases[i].value);
		snprintf(name, sizeof(name), "field case %d", i);
		check(name, convert(doc(fields), 1 << 20, 0, "f",
							field_cases[i].typid, -1),
			  field_cases[i].want);
		/* byte-by-byte feeding gives the same answer */
		check(name, convert(doc(fields), 1, 0, "f", field_cases[i].typid, -1),
			  field_cases[i].want);
	}
}

static void
test_columns(void)
{
	const char *airbyte = doc("\"ref\":{\"@ref\":{\"id\":\"123\",\"coll\":{\"@mod\":\"other\"}}},"
							  "\"time\":{\"@time\":\"2023-04-06T03:33:32.226Z\"},"
							  "\"date\":{\"@date\":\"2012-02-01\"},\"num\":{\"@int\":\"12\"},"
							  "\"str\":\"cat\",\"bytes\":{\"@bytes\":\"aGVsbG8gd29ybGQ=\"},"
							  "\"address\":{\"city\":\"Paris\",\"geo\":{\"@object\":{\"@lat\":{\"@double\":\"48.8\"}}}}");
	char	   *body = pstrdup(airbyte);

	/* jsonb's key order: shorter keys first, then bytewise */
	check("airbyte data", convert(body, 7, 0, "data", JSONBOID, -1),
		  "{\"num\": 12, \"ref\": {\"id\": \"123\", \"type\": \"document\", \"collection\": \"other\"}, "
		  "\"str\": \"cat\", \"date\": \"2012-02-01\", \"time\": \"2023-04-06T03:33:32.226Z\", "
		  "\"bytes\": \"aGVsbG8gd29ybGQ=\", "
		  "\"address\": {\"geo\": {\"@lat\": 48.8}, \"city\": \"Paris\"}}");
	check("data as json", convert(body, 7, 0, "data", JSONOID, -1),
		  "{\"ref\": {\"id\": \"123\", \"collection\": \"other\", \"type\": \"document\"}, "
		  "\"time\": \"2023-04-06T03:33:32.226Z\", \"date\": \"2012-02-01\", \"num\": 12, "
		  "\"str\": \"cat\", \"bytes\": \"aGVsbG8gd29ybGQ=\", "
		  "\"address\": {\"city\": \"Paris\", \"geo\": {\"@lat\": 48.8}}}");
	check("data as int", convert(body, 7, 0, "data", INT4OID, -1),
		  CONV_ERR("object", "integer"));
	check("id text", convert(body, 100, 0, "id", TEXTOID, -1), "412");
	check("id int8", convert(body, 100, 0, "id", INT8OID, -1), "412");
	check("id int4", convert(body, 100, 0, "id", INT4OID, -1), "412");
	check("id int2", convert(body, 100, 0, "id", INT2OID, -1), "412");
	check("id jsonb", convert(body, 100, 0, "ref", JSONBOID, -1),
		  "{\"id\": \"412\", \"type\": \"document\", \"collection\": \"T\"}");
	check("id json", convert(body, 100, 0, "id", JSONOID, -1),
		  "{\"id\": \"412\", \"collection\": \"T\", \"type\": \"document\"}");
	check("ts", convert(body, 100, 0, "ts", TIMESTAMPTZOID, -1),
		  "2024-01-01 00:00:00.001000");
	check("ts bigint", convert(body, 100, 0, "ts", INT8OID, -1),
		  "1704067200001000");
	check("ttl missing", convert(body, 100, 0, "ttl", TIMESTAMPTZOID, -1), "NULL");
	check("coll", convert(body, 100, 0, "coll", TEXTOID, -1), "T");
	check("coll jsonb", convert(body, 100, 0, "coll", JSONBOID, -1), "\"T\"");
	check("nested", convert(body, 100, 0, "address.city", TEXTOID, -1), "Paris");
	check("nested @object", convert(body, 100, 0, "address.geo.@lat", FLOAT8OID, -1), "48.799999999999997");
	check("missing", convert(body, 100, 0, "address.zip", TEXTOID, -1), "NULL");
	check("through scalar", convert(body, 100, 0, "str.x", TEXTOID, -1), "NULL");
	check("data.path", convert(body, 100, 0, "data.num", INT4OID, -1), "12");
	check("ref id", convert(body, 100, 0, "ref.id", TEXTOID, -1), "123");

	/*
	 * An overlong form in a key (json-c, the former parser, let it through
	 * when fed in one piece): the tokenizer refuses the page, however it
	 * was fed, at the offending lead byte.
	 */
	body = pstrdup(doc("\"f\":{\"k\xc0\x8a\":1}"));
	check("overlong key", convert(body, 1 << 20, 0, "f", JSONBOID, -1),
		  "ERROR: invalid response from Fauna for collection \"T\" | invalid utf-8 string at byte 114 of the response.");
	check("overlong key bytewise", convert(body, 1, 0, "f", JSONBOID, -1),
		  "ERROR: invalid response from Fauna for collection \"T\" | invalid utf-8 string at byte 114 of the response.");

	/* projected objects */
	body = "{\"data\":{\"data\":[{\"id\":\"5\",\"ts\":{\"@time\":\"2024-01-01T00:00:00Z\"},"
		"\"data\":{\"email\":\"a@b\",\"n\":{\"@int\":\"1\"}},\"coll\":{\"@mod\":\"U\"}},"
		"{\"id\":\"6\",\"email\":null,\"address\":{\"city\":\"X\"}}],\"after\":\"next\"}}";
	check("proj data", convert(body, 3, 0, "data", JSONBOID, -1),
		  "{\"n\": 1, \"email\": \"a@b\"}");
	check("proj field in data", convert(body, 3, 0, "email", TEXTOID, -1), "a@b");
	check("proj id jsonb", convert(body, 3, 0, "id", JSONBOID, -1),
		  "{\"id\": \"5\", \"type\": \"document\", \"collection\": \"U\"}");
	check("proj null field", convert(body, 3, 1, "email", TEXTOID, -1), "NULL");
	check("proj nested", convert(body, 3, 1, "address.city", TEXTOID, -1), "X");
	check("proj no data", convert(body, 3, 1, "data", JSONBOID, -1), "NULL");
	check("proj id jsonb no coll", convert(body, 3, 1, "id", JSONBOID, -1),
		  "{\"id\": \"6\", \"type\": \"document\"}");

	/* single document (byId) */
	body = "{\"data\":{\"@doc\":{\"id\":\"1\",\"coll\":{\"@mod\":\"U\"},\"ts\":{\"@time\":\"2024-01-01T00:00:00Z\"},\"ttl\":{\"@time\":\"2025-01-01T00:00:00Z\"},\"a\":{\"@long\":\"5\"}}},\"txn_ts\":5}";
	check("byId data", convert(body, 2, 0, "data", JSONBOID, -1), "{\"a\": 5}");
	check("byId ttl", convert(body, 2, 0, "ttl", TIMESTAMPOID, -1),
		  "2025-01-01 00:00:00.000000");
	check("byId data text", convert(body, 2, 0, "data", TEXTOID, -1), "{\"a\": 5}");
}

static void
test_pages(void)
{
	/*
	 * expect: what the query can answer (FAUNA_EXPECT_ANY when left out:
	 * discovery and import, which accept any shape); scans ask for PAGE,
	 * lookups by id for DOCUMENT.
	 */
	static const struct
	{
		const char *body;
		const char *want;
		FaunaExpect expect;
	}			cases[] = {
		{"{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"id\":\"1\"}},{\"@doc\":{\"id\":\"2\"}}],\"after\":\"abc\"}},"
			"\"static_type\":\"Set<U>\",\"summary\":\"\",\"txn_ts\":1704067200000000,"
			"\"stats\":{\"compute_ops\":1,\"read_ops\":2,\"write_ops\":0,\"query_time_ms\":1,"
			"\"contention_retries\":0,\"storage_bytes_read\":300,\"storage_bytes_write\":0,\"rate_limits_hit\":[]},"
			"\"schema_version\":0}  \n",
		"count=2 after=abc ids=1,2, stats=2/1/0/300/1704067200000000"},
		{"{\"data\":{\"data\":[{\"id\":\"3\",\"email\":\"x\"}]}}", "count=1 after=NULL ids=3, stats=0/0/0/0/0", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"data\":[]}}", "count=0 after=NULL ids= stats=0/0/0/0/0", FAUNA_EXPECT_PAGE},
		/* null and null documents: a lookup by id of a missing document */
		{"{\"data\":null,\"txn_ts\":3}", "count=0 after=NULL ids= stats=0/0/0/0/3", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"@ref\":{\"id\":\"1\",\"coll\":{\"@mod\":\"U\"},\"exists\":false,\"cause\":\"not found\"}}}",
		"count=0 after=NULL ids= stats=0/0/0/0/0", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"@doc\":{\"id\":\"9\",\"coll\":{\"@mod\":\"U\"}}}}", "count=1 after=NULL ids=9, stats=0/0/0/0/0", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"id\":\"5\",\"email\":\"x\"}}", "count=1 after=NULL ids=5, stats=0/0/0/0/0", FAUNA_EXPECT_DOCUMENT},
		/* objects without id: only where any shape goes (Collection.byName) */
		{"{\"data\":{\"email\":\"x\"}}", "count=1 after=NULL ids=-, stats=0/0/0/0/0"},
		{"{\"data\":{\"@object\":{\"@x\":1}}}", "count=1 after=NULL ids=-, stats=0/0/0/0/0"},
		{"{\"data\":{\"data\":[{\"email\":\"x\"}]}}", "count=1 after=NULL ids=-, stats=0/0/0/0/0"},
		/* what a scan cannot be answered: never a page */
		{"{\"data\":null,\"txn_ts\":3}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is null, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"email\":\"x\"}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is an object that is not a page {\"data\": [...], \"after\"?}, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"n\":1}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is an object that is not a page {\"data\": [...], \"after\"?}, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"data\":[],\"after\":\"x\",\"more\":1}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is an object that is not a page {\"data\": [...], \"after\"?}, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"@doc\":{\"id\":\"9\",\"coll\":{\"@mod\":\"U\"}}}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a Fauna document, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"@ref\":{\"id\":\"1\",\"coll\":{\"@mod\":\"U\"},\"exists\":false}}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a Fauna ref, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"@stream\":\"tok\"}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a Fauna stream, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"data\":[]}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a Fauna array, where a page of documents was expected.", FAUNA_EXPECT_PAGE},
		{"{\"events\":[],\"cursor\":\"c\",\"has_next\":false}", "ERROR: invalid response from Fauna for collection \"T\" | The response has no \"data\".", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"data\":[{\"email\":\"x\"}]}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 0 of the page is an object without an \"id\".", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"},{\"n\":2}]}}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 1 of the page is an object without an \"id\".", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"data\":[],\"after\":null}}", "ERROR: invalid response from Fauna for collection \"T\" | The \"after\" cursor of the page is not a string.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"@set\":{\"data\":[{\"@ref\":{\"id\":\"1\",\"coll\":{\"@mod\":\"U\"},\"exists\":false}}]}}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 0 of the page is a document that does not exist.", FAUNA_EXPECT_PAGE},
		{"{\"data\":{\"@set\":{\"data\":[{\"@ref\":{\"id\":\"1\",\"coll\":{\"@mod\":\"U\"},\"exists\":false}}]}}}", "count=0 after=NULL ids= stats=0/0/0/0/0"},
		/* nor a lookup by id a page */
		{"{\"data\":{\"@set\":{\"data\":[]}}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a set, where a single document or null was expected.", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"data\":[{\"id\":\"1\"}]}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a page, where a single document or null was expected.", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"email\":\"x\"}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 0 of the page is an object without an \"id\".", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"@stream\":\"tok\"}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is an event source, where a single document or null was expected.", FAUNA_EXPECT_DOCUMENT},
		{"{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"name\":\"Users\",\"coll\":{\"@mod\":\"Collection\"}}}]}}}",
		"count=1 after=NULL ids=Users, stats=0/0/0/0/0"},
		/* errors */
		{"", "ERROR: invalid response from Fauna for collection \"T\" | The response body is empty."},
		{"{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"id\":\"1\"}}",
		"ERROR: invalid response from Fauna for collection \"T\" | The response is truncated: its JSON ends unfinished after 44 bytes."},
		{"{\"data\":nul}", "ERROR: invalid response from Fauna for collection \"T\" | null expected at byte 11 of the response."},
		{"{\"data\":null} x", "ERROR: invalid response from Fauna for collection \"T\" | unexpected data after the JSON value at byte 14 of the response."},
		{"[1]", "ERROR: invalid response from Fauna for collection \"T\" | The response is not a JSON object."},
		{"null", "ERROR: invalid response from Fauna for collection \"T\" | The response is not a JSON object."},
		{"{\"txn_ts\":1}", "ERROR: invalid response from Fauna for collection \"T\" | The response has no \"data\"."},
		{"{\"data\":\"x\"}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a string, not a set, a page, a document or null."},
		{"{\"data\":[]}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is a array, not a set, a page, a document or null."},
		{"{\"data\":{\"@set\":\"token\"}}", "ERROR: invalid response from Fauna for collection \"T\" | \"data\" is an unmaterialized set, not a page."},
		{"{\"data\":{\"@set\":{\"data\":[1]}}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 0 of the page is a number, not a document or object."},
		{"{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"id\":\"1\"}},null]}}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 1 of the page is a null, not a document or object."},
		{"{\"data\":{\"@set\":{\"data\":[{\"@doc\":{\"coll\":{\"@mod\":\"U\"}}}]}}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 0 of the page is a document without an \"id\"."},
		{"{\"data\":{\"@set\":{\"data\":[],\"after\":5}}}", "ERROR: invalid response from Fauna for collection \"T\" | The \"after\" cursor of the page is not a string."},
		{"{\"data\":{\"@set\":{\"after\":\"x\"}}}", "ERROR: invalid response from Fauna for collection \"T\" | The set in \"data\" has no \"data\" array."},
		{"{\"data\":{\"@ref\":{\"id\":\"1\",\"coll\":{\"@mod\":\"U\"}}}}", "ERROR: invalid response from Fauna for collection \"T\" | Element 0 of the page is a reference, not a document."},
		{"{\"data\":{\"@doc\":5}}", "ERROR: invalid response from Fauna for collection \"T\" | The value of tag \"@doc\" is not a JSON object."},
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":5}]}}}", "ERROR: invalid response from Fauna for collection \"T\" | The \"id\" of element 0 of the page is not a string."},
		{"{\"data\":\"\xff\"}", "ERROR: invalid response from Fauna for collection \"T\" | invalid utf-8 string at byte 9 of the response."},
		/* the tokenizer: escapes, strictness, UTF-8, depth */
		{"{\"data\":{\"data\":[{\"id\":\"a\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\t\"}]}}",
		"count=1 after=NULL ids=a\xc3\xa9\xf0\x9f\x98\x80\"\\/\t, stats=0/0/0/0/0"},
		{"{\"data\":{\"data\":[{\"id\":\"\\ud83d!\\udc00\"}]}}",
		"count=1 after=NULL ids=\xef\xbf\xbd!\xef\xbf\xbd, stats=0/0/0/0/0"},
		{"{\"data\":{\"data\":[{\"id\":\"x\\u0000\"}]}}",
		"ERROR: invalid response from Fauna for collection \"T\" | The id of element 0 of the page is not valid UTF-8."},
		{" {\"txn_ts\" : 12 , \"data\" : { \"data\" : [ ] , \"after\" : \"\" } }\r\n",
		"count=0 after= ids= stats=0/0/0/0/12"},
		{"{\"data\":null,}", "ERROR: invalid response from Fauna for collection \"T\" | quoted object property name expected at byte 13 of the response."},
		{"{\"data\":[1,]}", "ERROR: invalid response from Fauna for collection \"T\" | unexpected character at byte 11 of the response."},
		{"{\"data\":01}", "ERROR: invalid response from Fauna for collection \"T\" | object value separator ',' expected at byte 9 of the response."},
		{"{\"data\":1.}", "ERROR: invalid response from Fauna for collection \"T\" | number expected at byte 10 of the response."},
		{"{\"data\" null}", "ERROR: invalid response from Fauna for collection \"T\" | object property name separator ':' expected at byte 8 of the response."},
		{"{\"data\":\"a\tb\"}", "ERROR: invalid response from Fauna for collection \"T\" | invalid string sequence at byte 10 of the response."},
		{"{\"data\":\"\\x\"}", "ERROR: invalid response from Fauna for collection \"T\" | invalid string sequence at byte 10 of the response."},
		{"{\"data\":\"\\u12g4\"}", "ERROR: invalid response from Fauna for collection \"T\" | invalid string sequence at byte 15 of the response."},
		{"{\"data\":\"\xed\xa0\x80\"}", "ERROR: invalid response from Fauna for collection \"T\" | invalid utf-8 string at byte 9 of the response."},
		{"{\"data\":\"\xf4\x90\x80\x80\"}", "ERROR: invalid response from Fauna for collection \"T\" | invalid utf-8 string at byte 9 of the response."},
		{"{\"data\":\"\xc3", "ERROR: invalid response from Fauna for collection \"T\" | The response is truncated: its JSON ends unfinished after 10 bytes."},
		{"{\"data\":tru", "ERROR: invalid response from Fauna for collection \"T\" | The response is truncated: its JSON ends unfinished after 11 bytes."},
		{"{\"data\":Infinity}", "ERROR: invalid response from Fauna for collection \"T\" | The response holds a non-finite JSON number."},
		{"  \n", "ERROR: invalid response from Fauna for collection \"T\" | The response is truncated: its JSON ends unfinished after 3 bytes."},
	};

	/* nesting: 512 levels (two objects and 510 arrays) parse, 513 do not */
	{
		StringInfoData b;

		initStringInfo(&b);
		appendStringInfoString(&b, "{\"data\":{\"data\":[],\"x\":");
		for (int i = 0; i < 510; i++)
			appendStringInfoChar(&b, '[');
		for (int i = 0; i < 510; i++)
			appendStringInfoChar(&b, ']');
		appendStringInfoString(&b, "}}");
		check("depth 512 ok", page_summary(b.data, 1 << 20),
			  "count=1 after=NULL ids=-, stats=0/0/0/0/0");
		initStringInfo(&b);
		appendStringInfoString(&b, "{\"data\":{\"data\":[],\"x\":");
		for (int i = 0; i < 511; i++)
			appendStringInfoChar(&b, '[');
		check("depth 513", page_summary(b.data, 1 << 20),
			  "ERROR: invalid response from Fauna for collection \"T\" | nesting too deep at byte 533 of the response.");
	}

	for (int i = 0; i < (int) lengthof(cases); i++)
	{
		char		name[64];

		snprintf(name, sizeof(name), "page case %d", i);
		check(name, page_summary_of(cases[i].body, 1 << 20, cases[i].expect,
									false, NULL), cases[i].want);
		snprintf(name, sizeof(name), "page case %d bytewise", i);
		check(name, page_summary_of(cases[i].body, 1, cases[i].expect,
									false, NULL), cases[i].want);
	}
}

static void
test_error_body(void)
{
	MemoryContext cxt = shim_context_create();
	char	   *code;
	char	   *message;
	const char *b1 = "{\"error\":{\"code\":\"invalid_query\",\"message\":\"bad\"},\"summary\":\"\"}";

	CurrentMemoryContext = cxt;
	check("error body", fauna_parse_error_body(b1, strlen(b1), &code, &message) ? "true" : "false", "true");
	check("error code", code, "invalid_query");
	check("error message", message, "bad");
	check("error body not json",
		  fauna_parse_error_body("<html>", 6, &code, &message) ? "true" : "false", "false");
	check("error body no code",
		  fauna_parse_error_body("{\"error\":{}}", 12, &code, &message) ? "true" : "false", "false");
	check("error body no message",
		  fauna_parse_error_body("{\"error\":{\"code\":\"x\"}}", 22, &code, &message) ? "true" : "false", "true");
	check("error body empty message", message, "");
	CurrentMemoryContext = test_cxt;
	shim_context_delete(cxt);
}

/* An event's ts is its txn_ts (µs), rendered as a Fauna time string. */
static void
test_event_ts(void)
{
	static const struct
	{
		const char *txn_ts;
		const char *want;
	}			cases[] = {
		{"1704067200001000", "2024-01-01T00:00:00.001000Z"},
		{"0", "1970-01-01T00:00:00.000000Z"},
		{"-1", "1969-12-31T23:59:59.999999Z"},
		{"951782400000000", "2000-02-29T00:00:00.000000Z"},
		{"253402300799999999", "9999-12-31T23:59:59.999999Z"},
		{"253402300800000000",
		"ERROR: invalid response from Fauna for collection \"T\" | The \"txn_ts\" of event 0 is out of range."},
	};

	for (int i = 0; i < (int) lengthof(cases); i++)
	{
		char		body[512];
		char		name[64];

		snprintf(body, sizeof(body),
				 "{\"events\":[{\"type\":\"remove\",\"data\":{\"@doc\":{\"id\":\"5\","
				 "\"coll\":{\"@mod\":\"U\"}}},\"txn_ts\":%s,\"cursor\":\"c\"}],"
				 "\"cursor\":\"c\",\"has_next\":false}", cases[i].txn_ts);
		snprintf(name, sizeof(name), "event ts case %d", i);
		check(name, convert(body, 1 << 20, 0, "ts", TEXTOID, -1), cases[i].want);
	}
}

/*
 * FQL v4 ({"resource": ...}): a scan's answer must be a page whose
 * elements are all documents, a lookup's null or a document; the counters
 * come from the response's headers.
 */
#define V4_DOC(id) \
	"{\"ref\":{\"@ref\":{\"id\":\"" id "\",\"collection\":{\"@ref\":{\"id\":\"U\"," \
	"\"collection\":{\"@ref\":{\"id\":\"collections\"}}}}}},\"ts\":1704067200000000,\"data\":{}}"

static void
test_v4_shapes(void)
{
	static const struct
	{
		const char *body;
		FaunaExpect expect;
		const char *want;
	}			cases[] = {
		{"{\"resource\":{\"data\":[" V4_DOC("1") "," V4_DOC("2") "],\"after\":[" V4_DOC("3") "]}}",
			FAUNA_EXPECT_PAGE, "count=2 after=[{\"ref\":{\"@ref\":{\"id\":\"3\",\"collection\":{\"@ref\":{\"id\":\"U\",\"collection\":{\"@ref\":{\"id\":\"collections\"}}}}}},\"ts\":1704067200000000,\"data\":{}}] ids=1,2, stats=5/2/1/300/77"},
		{"{\"resource\":{\"data\":[]}}", FAUNA_EXPECT_PAGE,
			"count=0 after=NULL ids= stats=5/2/1/300/77"},
		{"{\"resource\":null}", FAUNA_EXPECT_PAGE,
			"ERROR: invalid response from Fauna for collection \"T\" | The \"resource\" is null, where a page of documents was expected."},
		{"{\"resource\":" V4_DOC("1") "}", FAUNA_EXPECT_PAGE,
			"ERROR: invalid response from Fauna for collection \"T\" | The \"resource\" is a document, where a page of documents was expected."},
		{"{\"resource\":{\"data\":[" V4_DOC("1") ",null]}}", FAUNA_EXPECT_PAGE,
			"ERROR: invalid response from Fauna for collection \"T\" | An element of the page is null, not a document."},
		{"{\"resource\":{\"data\":[" V4_DOC("1") ",null]}}", FAUNA_EXPECT_ANY,
			"count=1 after=NULL ids=1, stats=5/2/1/300/77"},
		{"{\"resource\":null}", FAUNA_EXPECT_DOCUMENT,
			"count=0 after=NULL ids= stats=5/2/1/300/77"},
		{"{\"resource\":" V4_DOC("1") "}", FAUNA_EXPECT_DOCUMENT,
			"count=1 after=NULL ids=1, stats=5/2/1/300/77"},
		{"{\"resource\":{\"data\":[]}}", FAUNA_EXPECT_DOCUMENT,
			"ERROR: invalid response from Fauna for collection \"T\" | The \"resource\" is a page, where a single document or null was expected."},
	};
	FaunaStats	hdr = {5, 2, 1, 300, 77};
	FaunaStats	none = {-1, -1, -1, -1, 0};

	for (int i = 0; i < (int) lengthof(cases); i++)
	{
		char		name[64];

		snprintf(name, sizeof(name), "v4 case %d", i);
		check(name, page_summary_of(cases[i].body, 1 << 20, cases[i].expect,
									true, &hdr), cases[i].want);
		snprintf(name, sizeof(name), "v4 case %d bytewise", i);
		check(name, page_summary_of(cases[i].body, 1, cases[i].expect,
									true, &hdr), cases[i].want);
	}

	/* counters not sent stay at zero; a body's own counters win */
	check("v4 no header counters",
		  page_summary_of("{\"resource\":null}", 1 << 20, FAUNA_EXPECT_ANY,
						  true, &none),
		  "count=0 after=NULL ids= stats=0/0/0/0/0");
	check("v10 body counters win",
		  page_summary_of("{\"data\":null,\"txn_ts\":3,\"stats\":{\"read_ops\":9}}",
						  1 << 20, FAUNA_EXPECT_ANY, false, &hdr),
		  "count=0 after=NULL ids= stats=9/2/1/300/3");
}

typedef struct GuessArgs
{
	const char *body;
	size_t		chunk;
	size_t		reserve;
} GuessArgs;

static void
guess_then_parse(MemoryContext cxt, void *arg, char *out, size_t outsize)
{
	GuessArgs  *a = (GuessArgs *) arg;
	FaunaParser *parser = fauna_parser_create(cxt);
	size_t		len = strlen(a->body);
	char	   *guess;
	FaunaPage  *page;
	char	   *after;
	int			k = 0;

	fauna_parser_expect(parser, FAUNA_EXPECT_PAGE);
	fauna_parser_reserve(parser, a->reserve);
	for (size_t off = 0; off < len; off += a->chunk)
	{
		fauna_parser_append(parser, a->body + off, Min(a->chunk, len - off));
		if (k++ % 2 == 1)
			fauna_parser_catch_up(parser);
	}
	guess = fauna_parser_guess_after(parser);
	page = fauna_parser_finish_page(parser, "T");
	after = fauna_page_after(page);
	snprintf(out, outsize, "guess=%s count=%d after=%s",
			 guess ? guess : "NULL", fauna_page_count(page),
			 after ? after : "NULL");
}

/*
 * The cursor guessed from the tail of a complete body (NULL as "NULL"),
 * and the page of the same body received the way the scan receives it:
 * appended in chunks, parsed in between only every other chunk (as when
 * the network is faster than the parser), after reserving `reserve`
 * bytes as for a Content-Length (a header that may be wrong).
 */
static char *
guess_and_page(const char *body, size_t chunk, size_t reserve)
{
	GuessArgs	a = {body, chunk, reserve};

	return run_guarded(guess_then_parse, &a);
}

/*
 * The guessed cursor is the "after" string member that follows a page's
 * data array and closes the response's data, near the end of the body;
 * a document's own "after" field is never taken for it.
 */
static void
test_guess_after(void)
{
	static const struct
	{
		const char *body;
		const char *want;
	}			cases[] = {
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"},{\"id\":\"2\"}],\"after\":\"CUR1\"}},\"summary\":\"\",\"txn_ts\":5,\"stats\":{\"read_ops\":2}}",
			"guess=CUR1 count=2 after=CUR1"},
		/* with spaces, as a pretty printer would send it */
		{"{ \"data\": { \"@set\": { \"data\": [ { \"id\": \"1\" } ], \"after\": \"CUR2\" } } }",
			"guess=CUR2 count=1 after=CUR2"},
		/* plain page of Set.paginate() */
		{"{\"data\":{\"data\":[{\"id\":\"1\",\"after\":\"x\"}],\"after\":\"CUR3\"}}",
			"guess=CUR3 count=1 after=CUR3"},
		/* the last page: a document's own "after" is never guessed */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"after\":\"x1\"}]}},\"summary\":\"\"}",
			"guess=NULL count=1 after=NULL"},
		/* members in another order: the cursor does not follow the data */
		{"{\"data\":{\"@set\":{\"after\":\"CUR4\",\"data\":[{\"after\":\"x2\",\"id\":\"2\"}]}}}",
			"guess=NULL count=1 after=CUR4"},
		/* a document's "after" after an array, or in a nested object */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"a\":[1],\"after\":\"x3\"}]}},\"summary\":\"\"}",
			"guess=NULL count=1 after=NULL"},
		{"{\"data\":{\"data\":[{\"id\":\"1\",\"o\":{\"a\":[1],\"after\":\"x4\"},\"k\":1}]},\"txn_ts\":1}",
			"guess=NULL count=1 after=NULL"},
		{"{\"data\":{\"data\":[{\"id\":\"1\",\"o\":{\"a\":[1],\"after\":\"x5\"}}]}}",
			"guess=NULL count=1 after=NULL"},
		/* the cursor, then members of every kind at the top level */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}],\"after\":\"CUR6\"}},\"static_type\":\"Set<T>\",\"summary\":\"a }], b\",\"txn_ts\":-1.5e3,\"ok\":true,\"n\":null,\"stats\":{\"a\":[1,{\"b\":\"]\"}]},\"schema_version\":0}",
			"guess=CUR6 count=1 after=CUR6"},
		/* something after the response object: no guess */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}],\"after\":\"CUR7\"}}}}",
			"ERROR: invalid response from Fauna for collection \"T\" | unexpected data after the JSON value at byte 54 of the response."},
		/* no guess: an escape, a non-string, an empty string, no cursor */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}],\"after\":\"CU\\/R\"}}}",
			"guess=NULL count=1 after=CU/R"},
		/* escapes unescaped in place before the guess: not guessed from */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}],\"after\":\"CU\\/R\"}},\"summary\":\"\"}",
			"guess=NULL count=1 after=CU/R"},
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"s\":\"\\\"after\\\":\\\"FAKE\\\"\"}]}},\"summary\":\"\"}",
			"guess=NULL count=1 after=NULL"},
		/* an escape well before the cursor does not matter */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"s\":\"\\u00e9\"}],\"after\":\"CUR5\"}},\"summary\":\"\"}",
			"guess=CUR5 count=1 after=CUR5"},
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"after\":7}]}}}",
			"guess=NULL count=1 after=NULL"},
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}],\"after\":\"\"}}}",
			"guess=NULL count=1 after="},
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}]}}}",
			"guess=NULL count=1 after=NULL"},
		/* a key that merely ends in "after" is not the cursor */
		{"{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\",\"hereafter\":\"h\"}]}}}",
			"guess=NULL count=1 after=NULL"},
	};
	StringInfoData big;

	for (int i = 0; i < (int) lengthof(cases); i++)
	{
		static const size_t chunks[] = {1, 3, 16, 1 << 20};

		for (int c = 0; c < (int) lengthof(chunks); c++)
		{
			char		name[64];

			size_t		len = strlen(cases[i].body);

			snprintf(name, sizeof(name), "guess case %d chunk %zu", i, chunks[c]);
			check(name, guess_and_page(cases[i].body, chunks[c], len), cases[i].want);
			/* a Content-Length too small, or far too large: the same */
			snprintf(name, sizeof(name), "guess case %d chunk %zu short", i, chunks[c]);
			check(name, guess_and_page(cases[i].body, chunks[c], len / 3), cases[i].want);
			snprintf(name, sizeof(name), "guess case %d chunk %zu long", i, chunks[c]);
			check(name, guess_and_page(cases[i].body, chunks[c], (size_t) 1 << 40),
				  cases[i].want);
		}
	}

	/* a cursor more than 64 kB from the end is not looked for */
	initStringInfo(&big);
	appendStringInfoString(&big, "{\"data\":{\"@set\":{\"data\":[{\"id\":\"1\"}],\"after\":\"FAR\"}},\"summary\":\"");
	for (int i = 0; i < 70000; i++)
		appendStringInfoChar(&big, 'z');
	appendStringInfoString(&big, "\"}");
	check("guess beyond the tail", guess_and_page(big.data, 4096, big.len),
		  "guess=NULL count=1 after=FAR");
	pfree(big.data);
}

int
main(void)
{
	test_cxt = shim_context_create();
	CurrentMemoryContext = test_cxt;
	test_fields();
	test_columns();
	test_pages();
	test_error_body();
	test_event_ts();
	test_v4_shapes();
	test_guess_after();
	printf("decode_test: %d checks, %d failures\n", checks, failures);
	shim_context_delete(test_cxt);
	return failures ? 1 : 0;
}
