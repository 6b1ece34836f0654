/*-------------------------------------------------------------------------
 *
 * pg_shim.c
 *		  A minimal stand-in for the PostgreSQL backend functions that
 *		  the decoder (src/json_tape.c, page.c, page_v4.c, convert.c, export.c)
 *		  calls, so that it can run outside a server:
 *		  under libFuzzer (fuzz_decode.c) and the unit test (decode_test.c).
 *
 * What is real: memory contexts with reset callbacks (so leaks on ERROR
 * paths show up under LeakSanitizer), ereport with longjmp to the nearest
 * PG_TRY/sigsetjmp, text datums; StringInfo, psprintf, base64 and the
 * UTF-8 helpers are PostgreSQL's own, from libpgcommon (fuzz/run.sh).  What is a model: jsonb,
 * numeric and arrays are rendered as text (a varlena holding their JSON or
 * literal form) so tests can compare them, and the jsonb builder checks
 * that the decoder pushes a well-formed token sequence of valid UTF-8 strings;
 * catalog lookups answer from a small table of built-in types.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/memnodes.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "fauna_fdw.h"
#include "pg_shim.h"

/* printf family: c.h maps them to pg_*; we use the C library's. */
#undef snprintf
#undef vsnprintf
#undef fprintf
#undef printf

/* ---------------- memory contexts ---------------- */

typedef struct ShimChunk
{
	struct ShimChunk *next;
	MemoryContext cxt;			/* for repalloc */
	Size		size;
	max_align_t align[];
} ShimChunk;

typedef struct ShimContext
{
	MemoryContextData hdr;		/* only so the pointer type fits */
	ShimChunk  *chunks;
	MemoryContextCallback *callbacks;
} ShimContext;

MemoryContext CurrentMemoryContext = NULL;
sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

MemoryContext
shim_context_create(void)
{
	ShimContext *c = calloc(1, sizeof(ShimContext));

	return (MemoryContext) c;
}

void
shim_context_reset(MemoryContext cxt)
{
	ShimContext *c = (ShimContext *) cxt;

	/* callbacks first, newest first, as MemoryContextCallResetCallbacks */
	while (c->callbacks)
	{
		MemoryContextCallback *cb = c->callbacks;

		c->callbacks = cb->next;
		cb->func(cb->arg);
	}
	while (c->chunks)
	{
		ShimChunk  *ch = c->chunks;

		c->chunks = ch->next;
		free(ch);
	}
}

void
shim_context_delete(MemoryContext cxt)
{
	shim_context_reset(cxt);
	free(cxt);
}

void *
MemoryContextAlloc(MemoryContext cxt, Size size)
{
	ShimContext *c = (ShimContext *) cxt;
	ShimChunk  *ch = malloc(sizeof(ShimChunk) + size);

	if (ch == NULL)
		abort();
	ch->next = c->chunks;
	ch->cxt = cxt;
	ch->size = size;
	c->chunks = ch;
	return ch->align;
}

void *
MemoryContextAllocZero(MemoryContext cxt, Size size)
{
	void	   *p = MemoryContextAlloc(cxt, size);

	memset(p, 0, size);
	return p;
}

char *
MemoryContextStrdup(MemoryContext cxt, const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(MemoryContextAlloc(cxt, n), s, n);
}

void *
MemoryContextAllocExtended(MemoryContext cxt, Size size, int flags)
{
	void	   *p = MemoryContextAlloc(cxt, size);

	if (flags & MCXT_ALLOC_ZERO)
		memset(p, 0, size);
	return p;
}

void *
palloc(Size size)
{
	return MemoryContextAlloc(CurrentMemoryContext, size);
}

void *
palloc0(Size size)
{
	return MemoryContextAllocZero(CurrentMemoryContext, size);
}

/* Chunks are freed with their context; pfree is a no-op (like a reset). */
void
pfree(void *p)
{
}

/* A new chunk in the same context; the old one goes with the context. */
void *
repalloc(void *p, Size size)
{
	ShimChunk  *ch = (ShimChunk *) ((char *) p - offsetof(ShimChunk, align));
	void	   *r = MemoryContextAlloc(ch->cxt, size);

	memcpy(r, p, Min(ch->size, size));
	return r;
}

char *
pstrdup(const char *s)
{
	return MemoryContextStrdup(CurrentMemoryContext, s);
}

char *
pnstrdup(const char *s, Size len)
{
	char	   *r = palloc(len + 1);

	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

void
MemoryContextRegisterResetCallback(MemoryContext cxt, MemoryContextCallback *cb)
{
	ShimContext *c = (ShimContext *) cxt;

	cb->next = c->callbacks;
	c->callbacks = cb;
}

void
check_stack_depth(void)
{
}

/* ---------------- errors ---------------- */

ShimError	shim_error;
static int	shim_elevel;

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;
	shim_elevel = elevel;
	memset(&shim_error, 0, sizeof(shim_error));
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

#define SHIM_FORMAT(field) \
	do { \
		va_list ap; \
		va_start(ap, fmt); \
		vsnprintf(shim_error.field, sizeof(shim_error.field), fmt, ap); \
		va_end(ap); \
	} while (0)

int
errcode(int sqlerrcode)
{
	shim_error.sqlerrcode = sqlerrcode;
	return 0;
}

int
errmsg(const char *fmt,...)
{
	SHIM_FORMAT(message);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SHIM_FORMAT(message);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	SHIM_FORMAT(detail);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	SHIM_FORMAT(detail);
	return 0;
}

int
errhint(const char *fmt,...)
{
	SHIM_FORMAT(hint);
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	SHIM_FORMAT(context);
	return 0;
}

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	/* as the real errfinish: collect CONTEXT lines from the callbacks */
	for (ErrorContextCallback *e = error_context_stack; e; e = e->previous)
		e->callback(e->arg);
	if (shim_elevel >= ERROR)
	{
		shim_error.raised = true;
		if (PG_exception_stack == NULL)
			abort();
		siglongjmp(*PG_exception_stack, 1);
	}
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		abort();
	siglongjmp(*PG_exception_stack, 1);
}

/* ---------------- strings ---------------- */

/* Strict UTF-8 without NUL, as PostgreSQL's verifier. */
static bool
utf8_ok(const char *s, int len)
{
	int			i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		int			n;
		uint32		cp;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			n = 1, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			n = 2, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (i + n >= len)
			return false;
		for (int k = 1; k <= n; k++)
		{
			if (((unsigned char) s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
			(n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			(cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

/* Abort on text that is not valid UTF-8 or holds NUL: the decoder's promise. */
void
shim_check_utf8(const char *s, int len)
{
	if (!utf8_ok(s, len))
		abort();
}

bool
pg_verify_mbstr(int encoding, const char *mbstr, int len, bool noError)
{
	if (encoding != PG_UTF8 || !noError)
		abort();
	return utf8_ok(mbstr, len);
}

int
pg_encoding_mbcliplen(int encoding, const char *mbstr, int len, int limit)
{
	if (len <= limit)
		return len;
	while (limit > 0 && ((unsigned char) mbstr[limit] & 0xC0) == 0x80)
		limit--;
	return limit;
}

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *t = palloc(VARHDRSZ + len);

	shim_check_utf8(s, len);
	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), s, len);
	return t;
}

/* A text datum of a C string, without the UTF-8 check (for renderings). */
static Datum
shim_text(const char *s)
{
	int			len = strlen(s);
	text	   *t = palloc(VARHDRSZ + len);

	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), s, len);
	return PointerGetDatum(t);
}

char *
shim_text_to_cstring(Datum d)
{
	text	   *t = (text *) DatumGetPointer(d);

	return pnstrdup(VARDATA(t), VARSIZE(t) - VARHDRSZ);
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

char *
pg_any_to_server(const char *s, int len, int encoding)
{
	return (char *) s;
}

/* ---------------- catalog ---------------- */

static const struct
{
	Oid			oid;
	const char *name;
	Oid			elem;
	int16		len;
	bool		byval;
}			shim_types[] = {
	{TEXTOID, "text", InvalidOid, -1, false},
	{VARCHAROID, "character varying", InvalidOid, -1, false},
	{INT2OID, "smallint", InvalidOid, 2, true},
	{INT4OID, "integer", InvalidOid, 4, true},
	{INT8OID, "bigint", InvalidOid, 8, true},
	{NUMERICOID, "numeric", InvalidOid, -1, false},
	{FLOAT4OID, "real", InvalidOid, 4, true},
	{FLOAT8OID, "double precision", InvalidOid, 8, true},
	{BOOLOID, "boolean", InvalidOid, 1, true},
	{TIMESTAMPTZOID, "timestamp with time zone", InvalidOid, 8, true},
	{TIMESTAMPOID, "timestamp without time zone", InvalidOid, 8, true},
	{DATEOID, "date", InvalidOid, 4, true},
	{BYTEAOID, "bytea", InvalidOid, -1, false},
	{JSONBOID, "jsonb", InvalidOid, -1, false},
	{JSONOID, "json", InvalidOid, -1, false},
	{UUIDOID, "uuid", InvalidOid, 16, false},
	{TEXTARRAYOID, "text[]", TEXTOID, -1, false},
	{INT4ARRAYOID, "integer[]", INT4OID, -1, false},
	{INT8ARRAYOID, "bigint[]", INT8OID, -1, false},
	{FLOAT8ARRAYOID, "double precision[]", FLOAT8OID, -1, false},
	{BOOLARRAYOID, "boolean[]", BOOLOID, -1, false},
	{TIMESTAMPTZARRAYOID, "timestamp with time zone[]", TIMESTAMPTZOID, -1, false},
	{JSONBARRAYOID, "jsonb[]", JSONBOID, -1, false},
};

static int
shim_type(Oid oid)
{
	for (int i = 0; i < (int) lengthof(shim_types); i++)
		if (shim_types[i].oid == oid)
			return i;
	abort();
}

char *
format_type_be(Oid type_oid)
{
	return pstrdup(shim_types[shim_type(type_oid)].name);
}

Oid
get_element_type(Oid typid)
{
	return shim_types[shim_type(typid)].elem;
}

void
get_typlenbyvalalign(Oid typid, int16 *typlen, bool *typbyval, char *typalign)
{
	int			i = shim_type(typid);

	*typlen = shim_types[i].len;
	*typbyval = shim_types[i].byval;
	*typalign = 'i';
}

void
getTypeInputInfo(Oid type, Oid *typInput, Oid *typIOParam)
{
	*typInput = type;			/* the "function" is the type itself */
	*typIOParam = type;
}

void
fmgr_info(Oid functionId, FmgrInfo *finfo)
{
	memset(finfo, 0, sizeof(*finfo));
	finfo->fn_oid = functionId;
}

/* Input functions: a text "<type>:<input>"; uuid checks its length. */
Datum
InputFunctionCall(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod)
{
	shim_check_utf8(str, strlen(str));
	if (flinfo->fn_oid == UUIDOID && strlen(str) != 36)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type uuid: \"%s\"", str)));
	return shim_text(psprintf("%s:%s", format_type_be(flinfo->fn_oid), str));
}

/* ---------------- numeric: modeled as text ---------------- */

Datum
numeric_in(PG_FUNCTION_ARGS)
{
	abort();					/* only through DirectFunctionCall3Coll */
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1,
						Datum arg2, Datum arg3)
{
	const char *s = DatumGetCString(arg1);

	if (func != numeric_in)
		abort();
	shim_check_utf8(s, strlen(s));
	if (DatumGetInt32(arg3) >= 0)
		return shim_text(psprintf("%s(typmod %d)", s, DatumGetInt32(arg3)));
	return shim_text(s);
}

Numeric
int64_to_numeric(int64 val)
{
	return (Numeric) DatumGetPointer(shim_text(psprintf(INT64_FORMAT, val)));
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return datum;
}

/* ---------------- arrays: modeled as "{a,b,NULL}" text ---------------- */

static void
render_datum(StringInfo buf, Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			appendStringInfo(buf, "%d", DatumGetInt16(d));
			break;
		case INT4OID:
			appendStringInfo(buf, "%d", DatumGetInt32(d));
			break;
		case INT8OID:
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			appendStringInfo(buf, INT64_FORMAT, DatumGetInt64(d));
			break;
		case FLOAT8OID:
			appendStringInfo(buf, "%.17g", DatumGetFloat8(d));
			break;
		case BOOLOID:
			appendStringInfoString(buf, DatumGetBool(d) ? "t" : "f");
			break;
		default:
			appendStringInfoString(buf, shim_text_to_cstring(d));
	}
}

ArrayType *
construct_md_array(Datum *elems, bool *nulls, int ndims, int *dims, int *lbs,
				   Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	StringInfoData buf;

	if (ndims != 1 || lbs[0] != 1 || dims[0] < 1)
		abort();
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < dims[0]; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (nulls[i])
			appendStringInfoString(&buf, "NULL");
		else
			render_datum(&buf, elems[i], elmtype);
	}
	appendStringInfoChar(&buf, '}');
	return (ArrayType *) DatumGetPointer(shim_text(buf.data));
}

ArrayType *
construct_empty_array(Oid elmtype)
{
	return (ArrayType *) DatumGetPointer(shim_text("{}"));
}

/* ---------------- jsonb: a checked renderer ---------------- */

/*
 * The decoder hands JsonbValueToJsonb() a tree of JsonbValues.  This renders
 * it as JSON text, checking what the real convertToJsonb() relies on:
 * object keys strictly in jsonb's order (shorter first, then bytewise; so
 * sorted and without duplicates), valid UTF-8 strings, sane counts.
 */
static void
render_jbv(StringInfo buf, JsonbValue *v, int depth)
{
	if (depth > 1024)
		abort();
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(buf, "null");
			break;
		case jbvBool:
			appendStringInfoString(buf, v->val.boolean ? "true" : "false");
			break;
		case jbvNumeric:
			{
				char	   *s = shim_text_to_cstring(PointerGetDatum(v->val.numeric));

				appendStringInfoString(buf, s);
			}
			break;
		case jbvString:
			if (v->val.string.len < 0)
				abort();
			shim_check_utf8(v->val.string.val, v->val.string.len);
			appendStringInfoChar(buf, '"');
			appendBinaryStringInfo(buf, v->val.string.val, v->val.string.len);
			appendStringInfoChar(buf, '"');
			break;
		case jbvArray:
			if (v->val.array.nElems < 0 || v->val.array.rawScalar)
				abort();
			appendStringInfoChar(buf, '[');
			for (int i = 0; i < v->val.array.nElems; i++)
			{
				if (i > 0)
					appendStringInfoString(buf, ", ");
				render_jbv(buf, &v->val.array.elems[i], depth + 1);
			}
			appendStringInfoChar(buf, ']');
			break;
		case jbvObject:
			if (v->val.object.nPairs < 0)
				abort();
			appendStringInfoChar(buf, '{');
			for (int i = 0; i < v->val.object.nPairs; i++)
			{
				JsonbValue *k = &v->val.object.pairs[i].key;

				if (k->type != jbvString)
					abort();
				if (i > 0)
				{
					JsonbValue *p = &v->val.object.pairs[i - 1].key;

					if (p->val.string.len > k->val.string.len ||
						(p->val.string.len == k->val.string.len &&
						 memcmp(p->val.string.val, k->val.string.val,
								k->val.string.len) >= 0))
						abort();	/* not in jsonb order, or a duplicate */
					appendStringInfoString(buf, ", ");
				}
				render_jbv(buf, k, depth + 1);
				appendStringInfoString(buf, ": ");
				render_jbv(buf, &v->val.object.pairs[i].value, depth + 1);
			}
			appendStringInfoChar(buf, '}');
			break;
		default:
			abort();
	}
}

Jsonb *
JsonbValueToJsonb(JsonbValue *val)
{
	StringInfoData buf;

	initStringInfo(&buf);
	render_jbv(&buf, val, 0);
	return (Jsonb *) DatumGetPointer(shim_text(buf.data));
}

/*
 * The backend's calendar (utils/adt/datetime.c), which libpgcommon does not
 * hold: days in each month, and the Julian day of a date.
 */
const int	day_tab[2][13] = {
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0},
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0}
};

int
date2j(int year, int month, int day)
{
	int			julian;
	int			century;

	if (month > 2)
	{
		month += 1;
		year += 4800;
	}
	else
	{
		month += 13;
		year += 4799;
	}
	century = year / 100;
	julian = year * 365 - 32167;
	julian += year / 4 - century + century / 4;
	julian += 7834 * month / 256 + day;
	return julian;
}

/*
 * timestamp2tm for UTC only (the decoder never passes a time zone): split
 * microseconds since 2000-01-01 into a civil date and time with the
 * days-from-civil inverse (proleptic Gregorian, as PostgreSQL uses).
 */
int
timestamp2tm(Timestamp dt, int *tzp, struct pg_tm *tm, fsec_t *fsec,
			 const char **tzn, pg_tz *attimezone)
{
	int64		days = dt / USECS_PER_DAY;
	int64		time = dt % USECS_PER_DAY;
	int64		z;
	int64		era;
	int64		doe;
	int64		yoe;
	int64		doy;
	int64		mp;

	if (tzp != NULL || attimezone != NULL)
		abort();				/* not modelled */
	if (time < 0)
	{
		time += USECS_PER_DAY;
		days -= 1;
	}
	z = days + 10957 + 719468;	/* days since 0000-03-01 */
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	tm->tm_mday = (int) (doy - (153 * mp + 2) / 5 + 1);
	tm->tm_mon = (int) (mp < 10 ? mp + 3 : mp - 9);
	tm->tm_year = (int) (yoe + era * 400 + (tm->tm_mon <= 2));
	tm->tm_hour = (int) (time / USECS_PER_HOUR);
	tm->tm_min = (int) (time / USECS_PER_MINUTE % 60);
	tm->tm_sec = (int) (time / USECS_PER_SEC % 60);
	*fsec = (fsec_t) (time % USECS_PER_SEC);
	if (tzn != NULL)
		*tzn = NULL;
	return 0;
}

/*
 * Rounding to a timestamp(p) typmod: to the nearest multiple of
 * 10^(6 - p) microseconds, halves away from zero, as the server does.
 */
bool
AdjustTimestampForTypmodError(Timestamp *time, int32 typmod, bool *error)
{
	int64		scale = 1;

	if (typmod < 0 || typmod >= MAX_TIMESTAMP_PRECISION)
		return true;
	for (int i = typmod; i < MAX_TIMESTAMP_PRECISION; i++)
		scale *= 10;
	if (*time >= 0)
		*time = (*time + scale / 2) / scale * scale;
	else
		*time = -((-*time + scale / 2) / scale * scale);
	return true;
}

/* options.c's identifier rule, restated: the shim cannot link options.c. */
bool
fauna_is_identifier(const char *name)
{
	if (name == NULL || !(isalpha((unsigned char) name[0]) || name[0] == '_'))
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '_'))
			return false;
	return true;
}
