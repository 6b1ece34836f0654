/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  Fauna values into the Datums of a tuple's columns.
 *
 * The conversion rules are documented for users in docs/options.md
 * ("Columns and conversions").  Every error names the column, the
 * document and what was found, from the FaunaConv of the conversion.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decode_private.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* ----------------------------------------------------------------
 * Errors of conversions
 * ----------------------------------------------------------------
 */

/*
 * A value from the response, fit for an error message: at most 64 bytes
 * (cut at a character boundary) and valid UTF-8.
 */
static const char *
msg_value(const char *s)
{
	int			len = strlen(s);

	if (!pg_verify_mbstr(PG_UTF8, s, len, true))
		return "(not valid UTF-8)";
	if (len > 64)
		return psprintf("%.*s...", pg_encoding_mbcliplen(PG_UTF8, s, len, 64), s);
	return s;
}

static void
conv_detail(FaunaConv *cv)
{
	if (cv->elem->id)
		errdetail("Document id \"%s\" of collection \"%s\".", cv->elem->id, cv->page->what);
	else
		errdetail("A document of collection \"%s\" (id not read).", cv->page->what);
}

static void
cannot_convert(FaunaConv *cv, FaunaVType t, Oid typid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert Fauna %s to type %s for column \"%s\"",
					fauna_type_names[t], format_type_be(typid),
					cv->col->attname),
			 conv_detail(cv)));
}

static void
out_of_range(FaunaConv *cv, FaunaVType t, const char *value, Oid typid)
{
	value = msg_value(value);
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("Fauna %s %s is out of range for type %s of column \"%s\"",
					fauna_type_names[t], value, format_type_be(typid),
					cv->col->attname),
			 conv_detail(cv)));
}

void
fauna_invalid_value(FaunaConv *cv, FaunaVType t, const char *value)
{
	value = msg_value(value);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid Fauna %s value \"%s\" for column \"%s\"",
					fauna_type_names[t], value, cv->col->attname),
			 conv_detail(cv)));
}

/* CONTEXT line for errors raised by PostgreSQL functions we call. */
void
fauna_conv_error_context(void *arg)
{
	FaunaConv  *cv = (FaunaConv *) arg;

	errcontext("column \"%s\" of Fauna document \"%s\" of collection \"%s\"",
			   cv->col->attname, cv->elem->id ? cv->elem->id : "?",
			   cv->page->what);
}

/* ----------------------------------------------------------------
 * Scalar parsers (pure functions; callers report errors)
 * ----------------------------------------------------------------
 */

bool
fauna_parse_int64(const char *s, int64 *out)
{
	bool		neg = false;
	uint64		v = 0;

	if (*s == '-')
		neg = true, s++;
	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		if (v > (PG_UINT64_MAX - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	if (neg)
	{
		if (v > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = (int64) (0 - v);
	}
	else
	{
		if (v > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) v;
	}
	return true;
}

/*
 * A @double's text: a JSON number (Java prints "1.0E10", "-0.0", "1.5"), or
 * NaN/Infinity/-Infinity.  *special is set for the latter three.
 */
static bool
parse_double(const char *s, double *out, bool *special)
{
	const char *p = s;
	char	   *end;

	*special = false;
	if (strcmp(s, "NaN") == 0)
		return *special = true, *out = get_float8_nan(), true;
	if (strcmp(s, "Infinity") == 0)
		return *special = true, *out = get_float8_infinity(), true;
	if (strcmp(s, "-Infinity") == 0)
		return *special = true, *out = -get_float8_infinity(), true;

	/* JSON number grammar, so that the text can be emitted verbatim */
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.')
	{
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return false;
	*out = strtod(s, &end);
	return true;
}

bool
fauna_digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* "YYYY-MM-DD" at s; days since the Unix epoch. */
static bool
parse_ymd(const char *s, int64 *days)
{
	int			y,
				m,
				d;

	if (!fauna_digits(s, 4, &y) || s[4] != '-' || !fauna_digits(s + 5, 2, &m) ||
		s[7] != '-' || !fauna_digits(s + 8, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		return false;
	*days = date2j(y, m, d) - UNIX_EPOCH_JDATE;
	return true;
}

static bool
parse_date(const char *s, int64 *days)
{
	return strlen(s) == 10 && parse_ymd(s, days);
}

/*
 * An ISO-8601 time "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)" into
 * microseconds since the Unix epoch, rounded half up beyond microseconds.
 */
static bool
parse_time(const char *s, int64 *usecs)
{
	int64		days;
	int			hh,
				mi,
				ss;
	int64		frac = 0;
	int			ndig = 0;
	bool		round_up = false;
	const char *p;
	int64		offset_s = 0;

	if (strlen(s) < 20 || !parse_ymd(s, &days))
		return false;
	if ((s[10] != 'T' && s[10] != 't') || !fauna_digits(s + 11, 2, &hh) ||
		s[13] != ':' || !fauna_digits(s + 14, 2, &mi) || s[16] != ':' ||
		!fauna_digits(s + 17, 2, &ss))
		return false;
	if (hh > 23 || mi > 59 || ss > 59)
		return false;
	p = s + 19;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
		{
			if (ndig < 6)
				frac = frac * 10 + (*p - '0');
			else if (ndig == 6)
				round_up = (*p >= '5');
			ndig++;
			p++;
		}
		if (ndig == 0 || ndig > 9)
			return false;
		for (int i = ndig; i < 6; i++)
			frac *= 10;
		if (round_up)
			frac++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			oh,
					om;

		if (!fauna_digits(p + 1, 2, &oh) || p[3] != ':' || !fauna_digits(p + 4, 2, &om) ||
			oh > 23 || om > 59)
			return false;
		offset_s = (int64) (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	}
	else
		return false;
	if (*p != '\0')
		return false;

	*usecs = ((days * 86400 + hh * 3600 + mi * 60 + ss) - offset_s) * USECS_PER_SEC
		+ frac;
	return true;
}

/*
 * The bytes of a @bytes value, which Fauna writes in standard, padded
 * base64, into out (NULL: only their number); -1 if s is not base64.
 */
static int
b64_decode(const char *s, int len, char *out)
{
	int			max = pg_b64_dec_len(len);
	char	   *buf = out ? out : palloc(max + 1);
	int			n = pg_b64_decode(s, len, buf, max);

	if (buf != out)
		pfree(buf);
	return n;
}

/* ----------------------------------------------------------------
 * Strings into the database
 * ----------------------------------------------------------------
 */

/*
 * Check a Fauna string for text use: no NUL (PostgreSQL text cannot hold
 * it) and, in a non-UTF-8 database, converted to the server encoding.  The
 * tokenizer has checked that every string of a page is valid UTF-8 (json-c
 * used to let overlong forms and surrogates through; this file's own check
 * does not).
 */
const char *
fauna_server_string(FaunaConv *cv, FaunaVType t, const char *s, int *len,
			  bool has_nul)
{
	if (has_nul)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("Fauna %s for column \"%s\" contains a NUL character, which PostgreSQL text cannot hold",
						fauna_type_names[t], cv->col->attname),
				 conv_detail(cv)));
	if (cv->need_encoding)
	{
		ErrorContextCallback errcb;
		char	   *conv;

		errcb.callback = fauna_conv_error_context;
		errcb.arg = cv;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		conv = pg_any_to_server(s, *len, PG_UTF8);
		error_context_stack = errcb.previous;
		if (conv != s)
		{
			*len = strlen(conv);
			return conv;
		}
	}
	return s;
}

/* fauna_server_string() of a string token */
static inline const char *
tok_server_string(FaunaConv *cv, FaunaVType t, JV *v, int *len)
{
	*len = (int) v->n;
	return fauna_server_string(cv, t, v->u.s, len, (v->flags & JF_NUL) != 0);
}

/* The text of a tag's string payload; one with a NUL is invalid. */
static const char *
tag_text(FaunaConv *cv, FaunaVType t, JV *inner)
{
	if (inner->flags & JF_NUL)
		fauna_invalid_value(cv, t, inner->u.s);
	return jtext(inner);
}

/* URL-safe base64 of a @bytes value (validated). */
char *
fauna_bytes_export(FaunaConv *cv, JV *inner, int *outlen)
{
	int			len;
	const char *s = jstr(inner, &len);
	char	   *r;

	if (b64_decode(s, len, NULL) < 0)
		fauna_invalid_value(cv, FV_BYTES, s);
	r = palloc(len + 1);
	for (int i = 0; i < len; i++)
		r[i] = s[i] == '+' ? '-' : (s[i] == '/' ? '_' : s[i]);
	r[len] = '\0';
	*outlen = len;
	return r;
}

/* Validated int value of @int / @long. */
int64
fauna_get_int(FaunaConv *cv, FaunaVType t, JV *inner)
{
	const char *s = tag_text(cv, t, inner);
	int64		v;

	if (!fauna_parse_int64(s, &v) ||
		(t == FV_INT && (v < PG_INT32_MIN || v > PG_INT32_MAX)))
		fauna_invalid_value(cv, t, s);
	return v;
}

double
fauna_get_double(FaunaConv *cv, JV *inner, bool *special)
{
	const char *s = tag_text(cv, FV_DOUBLE, inner);
	double		d;

	if (!parse_double(s, &d, special))
		fauna_invalid_value(cv, FV_DOUBLE, s);
	return d;
}

/* ----------------------------------------------------------------
 * Conversions into column types
 * ----------------------------------------------------------------
 */

/*
 * The text form of a non-null value (see the file header): strings as they
 * are, other scalars as their export text unquoted, containers as JSON.
 * Returns a palloc'd or borrowed NUL-terminated string; *len is its length.
 */
static const char *
text_form(FaunaConv *cv, FaunaVType t, JV *v, JV *inner, int *len)
{
	StringInfoData buf;
	const char *s;

	switch (t)
	{
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
			return tok_server_string(cv, t, inner, len);
		case FV_BYTES:
			return fauna_bytes_export(cv, inner, len);
		case FV_INT:
		case FV_LONG:
			s = psprintf(INT64_FORMAT, fauna_get_int(cv, t, inner));
			*len = strlen(s);
			return s;
		case FV_DOUBLE:
			{
				bool		special;

				(void) fauna_get_double(cv, inner, &special);
				return jstr(inner, len);
			}
		case FV_BOOL:
			if (v->type == JT_TRUE)
			{
				*len = 4;
				return "true";
			}
			*len = 5;
			return "false";
		case FV_NUMBER:
			return jstr(v, len);
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			s = json_wire_text(v, len);
			return fauna_server_string(cv, t, s, len, false);
		default:
			initStringInfo(&buf);
			fauna_append_export_json(cv, &buf, v);
			*len = buf.len;
			return buf.data;
	}
}

/* Through the type's input function (types without a rule of their own). */
static Datum
via_input_function(FaunaConv *cv, FaunaVType t, JV *v, JV *inner,
				   int32 typmod)
{
	ErrorContextCallback errcb;
	int			len;
	const char *s = text_form(cv, t, v, inner, &len);
	char	   *cstr = (s[len] == '\0') ? (char *) s : pnstrdup(s, len);
	Datum		d;

	errcb.callback = fauna_conv_error_context;
	errcb.arg = cv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	d = InputFunctionCall(&cv->col->infunc, cstr, cv->col->inioparam, typmod);
	error_context_stack = errcb.previous;
	return d;
}

/* An integer value for int2/int4/int8, range-checked. */
static int64
integer_value(FaunaConv *cv, FaunaVType t, JV *inner, Oid typid,
			  int64 min, int64 max)
{
	int64		v;

	switch (t)
	{
		case FV_INT:
		case FV_LONG:
			v = fauna_get_int(cv, t, inner);
			break;
		case FV_NUMBER:
			if (fauna_v4_number_int64(inner, &v))
				break;
			/* FALLTHROUGH */
		case FV_DOUBLE:
			{
				bool		special;
				double		d = fauna_get_double(cv, inner, &special);

				if (special || d != floor(d))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
							 errmsg("cannot convert Fauna double %s to type %s for column \"%s\": not an integral value",
									msg_value(jtext(inner)),
									format_type_be(typid), cv->col->attname),
							 conv_detail(cv)));
				/* the int64 range as PostgreSQL's FLOAT8_FITS_IN_INT64 */
				if (!(d >= (double) PG_INT64_MIN && d < -((double) PG_INT64_MIN)))
					out_of_range(cv, t, jtext(inner), typid);
				v = (int64) d;
			}
			break;
		default:
			cannot_convert(cv, t, typid);
			return 0;			/* keep compiler quiet */
	}
	if (v < min || v > max)
		out_of_range(cv, t, jtext(inner), typid);
	return v;
}

static double
float_value(FaunaConv *cv, FaunaVType t, JV *inner, Oid typid)
{
	bool		special;

	switch (t)
	{
		case FV_INT:
		case FV_LONG:
			return (double) fauna_get_int(cv, t, inner);
		case FV_NUMBER:
			return strtod(inner->u.s, NULL);
		case FV_DOUBLE:
			{
				double		d = fauna_get_double(cv, inner, &special);

				/* a finite text that overflows a double (Fauna never sends one) */
				if (isinf(d) && !special)
					out_of_range(cv, t, jtext(inner), typid);
				return d;
			}
		default:
			cannot_convert(cv, t, typid);
			return 0;
	}
}

static int64
time_value(FaunaConv *cv, JV *inner)
{
	const char *s = tag_text(cv, FV_TIME, inner);
	int64		usecs;

	if (!parse_time(s, &usecs))
		fauna_invalid_value(cv, FV_TIME, s);
	return usecs;
}

/*
 * Unix-epoch microseconds -> PostgreSQL timestamp, rounded to the column's
 * precision (timestamptz(p)) as PostgreSQL rounds, and range-checked.
 */
static Timestamp
fauna_time_to_timestamp(FaunaConv *cv, JV *inner, Oid typid, int32 typmod)
{
	int64		usecs = time_value(cv, inner);
	Timestamp	ts;
	bool		rounding_failed = false;

	/* no overflow: parse_time() accepts 4-digit years only */
	ts = usecs - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (!IS_VALID_TIMESTAMP(ts) ||
		!AdjustTimestampForTypmodError(&ts, typmod, &rounding_failed) ||
		rounding_failed)
		out_of_range(cv, FV_TIME, jtext(inner), typid);
	return ts;
}

/*
 * Convert a non-null value to typid.  in_array: an element of an array
 * column, where nested arrays are refused unless typid is json/jsonb.
 */
static Datum
convert_value(FaunaConv *cv, JV *v, Oid typid, int32 typmod, bool in_array)
{
	JV		   *inner;
	FaunaVType	t = fauna_classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			len;
	const char *s;

	Assert(t != FV_NULL);
	if (in_array && t == FV_ARRAY && typid != JSONBOID && typid != JSONOID)
		cannot_convert(cv, t, typid);

	/*
	 * Over FQL v4 a NaN or infinite double arrives as the string "NaN",
	 * "Infinity" or "-Infinity" (fauna_v4_special_double): the types that hold
	 * those doubles take the string as the double, as the v10 path's
	 * {"@double": "NaN"}.  (v4 cannot tell such a double from a string;
	 * a string is not a number for these types either way.)
	 */
	if (t == FV_STRING && cv->page->v4 &&
		(typid == NUMERICOID || typid == FLOAT4OID || typid == FLOAT8OID) &&
		fauna_v4_special_double(inner))
		t = FV_DOUBLE;

	switch (typid)
	{
		case TEXTOID:
			s = text_form(cv, t, v, inner, &len);
			return PointerGetDatum(cstring_to_text_with_len(s, len));
		case JSONBOID:
			return fauna_make_jsonb(cv, v, false);
		case JSONOID:
			{
				StringInfoData buf;

				initStringInfo(&buf);
				fauna_append_export_json(cv, &buf, v);
				return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
			}
		case INT2OID:
			return Int16GetDatum((int16) integer_value(cv, t, inner, typid,
													   PG_INT16_MIN, PG_INT16_MAX));
		case INT4OID:
			return Int32GetDatum((int32) integer_value(cv, t, inner, typid,
													   PG_INT32_MIN, PG_INT32_MAX));
		case INT8OID:
			if (t == FV_TIME)
				return Int64GetDatum(time_value(cv, inner));
			return Int64GetDatum(integer_value(cv, t, inner, typid,
											   PG_INT64_MIN, PG_INT64_MAX));
		case NUMERICOID:
			if (t == FV_INT || t == FV_LONG)
			{
				int64		i = fauna_get_int(cv, t, inner);

				if (typmod < 0)
					return NumericGetDatum(int64_to_numeric(i));
				return NumericGetDatum(fauna_numeric_from_text(cv, psprintf(INT64_FORMAT, i),
														 typmod));
			}
			if (t == FV_DOUBLE || t == FV_NUMBER)
			{
				bool		special;

				(void) fauna_get_double(cv, inner, &special);
				return NumericGetDatum(fauna_numeric_from_text(cv, inner->u.s, typmod));
			}
			cannot_convert(cv, t, typid);
			break;
		case FLOAT4OID:
			{
				double		d = float_value(cv, t, inner, typid);
				float4		f = (float4) d;

				if ((isinf(f) && !isinf(d)) || (f == 0.0f && d != 0.0))
					out_of_range(cv, t, jtext(inner), typid);
				return Float4GetDatum(f);
			}
		case FLOAT8OID:
			return Float8GetDatum(float_value(cv, t, inner, typid));
		case BOOLOID:
			if (t != FV_BOOL)
				cannot_convert(cv, t, typid);
			return BoolGetDatum(v->type == JT_TRUE);
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			if (t != FV_TIME)
				cannot_convert(cv, t, typid);
			return TimestampGetDatum(fauna_time_to_timestamp(cv, inner, typid,
																  typmod));
		case DATEOID:
			{
				int64		days;

				if (t != FV_DATE)
					cannot_convert(cv, t, typid);
				s = tag_text(cv, t, inner);
				if (!parse_date(s, &days))
					fauna_invalid_value(cv, t, s);
				days -= POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;
				if (!IS_VALID_DATE(days))
					out_of_range(cv, t, s, typid);
				return DateADTGetDatum((DateADT) days);
			}
		case BYTEAOID:
			{
				bytea	   *b;
				int			n;

				if (t != FV_BYTES)
					cannot_convert(cv, t, typid);
				s = jstr(inner, &len);
				n = b64_decode(s, len, NULL);
				if (n < 0)
					fauna_invalid_value(cv, t, s);
				b = palloc(VARHDRSZ + n);
				SET_VARSIZE(b, VARHDRSZ + n);
				b64_decode(s, len, VARDATA(b));
				return PointerGetDatum(b);
			}
		default:
			break;
	}
	/* varchar, bpchar, domains, enums, uuid...: the text form, parsed */
	if (t == FV_ARRAY && !in_array && OidIsValid(cv->col->elemtypid))
		cannot_convert(cv, t, typid);
	return via_input_function(cv, t, v, inner, typmod);
}

/* A Fauna array into an array column. */
static Datum
convert_array(FaunaConv *cv, JV *v)
{
	FaunaColumn *col = cv->col;
	JV		   *inner;
	FaunaVType	t = fauna_classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			n;
	Datum	   *datums;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1];
	JV		   *el;
	uint32		i;

	if (t != FV_ARRAY)
		cannot_convert(cv, t, col->typid);
	n = (int) v->u.count;
	if (n == 0)
		return PointerGetDatum(construct_empty_array(col->elemtypid));

	datums = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(bool) * n);
	JV_FOREACH_ELEM(v, el, i)
	{
		nulls[i] = el->type == JT_NULL;
		datums[i] = nulls[i] ? (Datum) 0 :
			convert_value(cv, el, col->elemtypid, col->typmod, true);
	}
	dims[0] = n;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(datums, nulls, 1, dims, lbs,
											  col->elemtypid, col->elemlen,
											  col->elembyval, col->elemalign));
}

/* ----------------------------------------------------------------
 * Columns of an element
 * ----------------------------------------------------------------
 */

/* Step into an object for a dotted path: plain, @object, @doc, @ref. */
static JV *
walkable(JV *v, const char *what)
{
	JV		   *inner;
	FaunaVType	t;

	if (v == NULL || v->type != JT_OBJECT)
		return NULL;
	t = fauna_classify(v, &inner, what);
	if (t == FV_OBJECT || t == FV_DOC || t == FV_REF)
		return inner;
	return NULL;
}

/*
 * The value of a user field: the path walked from the document's fields
 * (or, when the first step is "data" and there is no such key, from the
 * user fields, so 'data.email' works like FQL's doc.data.email).  For a
 * projected object a field not projected at top level is looked for under
 * its "data" too.  Returns NULL when missing.
 */
static JV *
lookup_field(FaunaPage *page, FaunaElem *e, FaunaColumn *col)
{
	JV		   *cur = e->fields;
	int			start = 0;

	if (col->field_depth < 1)
		return NULL;
	if (jv_get(cur, col->field_path[0]) == NULL)
	{
		JV		   *data;

		if (strcmp(col->field_path[0], "data") == 0 && e->is_doc)
			start = 1;			/* doc.data.x is doc.x */
		else if (!e->is_doc &&
				 (data = walkable(JV_GET(cur, "data"), page->what)) != NULL)
			cur = data;
		else
			return NULL;
	}
	for (int i = start; i < col->field_depth; i++)
	{
		JV		   *obj = walkable(cur, page->what);

		if (obj == NULL || (cur = jv_get(obj, col->field_path[i])) == NULL)
			return NULL;
	}
	return cur;
}

/* Convert the id of an element: as the ref object for json/jsonb. */
static Datum
convert_id(FaunaConv *cv, FaunaElem *e)
{
	FaunaColumn *col = cv->col;

	if (col->typid == JSONBOID || col->typid == JSONOID)
	{
		RefExport	r;

		r.id = e->idobj;
		r.coll = NULL;
		r.type = "document";
		if (fauna_mod_name(JV_GET(e->fields, "coll")) != NULL)
		{
			/* a document: the same export as a ref to it */
			fauna_ref_export(cv, FV_DOC, e->fields, &r);
		}
		if (col->typid == JSONBOID)
		{
			JsonbValue	ref;

			fauna_build_ref(cv, &r, &ref);
			return JsonbPGetDatum(JsonbValueToJsonb(&ref));
		}
		else
		{
			StringInfoData buf;

			initStringInfo(&buf);
			fauna_append_ref(cv, &buf, &r);
			return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
		}
	}
	/* an id is a string, never an array (convert_value expects no array type) */
	if (OidIsValid(col->elemtypid))
		cannot_convert(cv, FV_STRING, col->typid);
	if (col->typid == INT8OID || col->typid == INT4OID ||
		col->typid == INT2OID || col->typid == NUMERICOID)
	{
		/* ids are 64-bit integers in a string; smaller types range-checked */
		int64		id;

		if (!fauna_parse_int64(e->id, &id))
			cannot_convert(cv, FV_STRING, col->typid);
		switch (col->typid)
		{
			case INT8OID:
				return Int64GetDatum(id);
			case INT4OID:
				if (id < PG_INT32_MIN || id > PG_INT32_MAX)
					out_of_range(cv, FV_STRING, e->id, col->typid);
				return Int32GetDatum((int32) id);
			case INT2OID:
				if (id < PG_INT16_MIN || id > PG_INT16_MAX)
					out_of_range(cv, FV_STRING, e->id, col->typid);
				return Int16GetDatum((int16) id);
			default:
				return NumericGetDatum(fauna_numeric_from_text(cv, e->id, col->typmod));
		}
	}
	return convert_value(cv, e->idobj, col->typid, col->typmod, false);
}

void
fauna_page_document(FaunaPage *page, int i, FaunaColumn *columns,
					int ncolumns, Datum *values, bool *isnull)
{
	FaunaConv	cv;
	FaunaElem  *e;

	e = fauna_page_elem(page, i);
	cv.page = page;
	cv.elem = e;
	cv.need_encoding = (GetDatabaseEncoding() != PG_UTF8);

	for (int c = 0; c < ncolumns; c++)
	{
		FaunaColumn *col = &columns[c];
		int			slot = col->attnum - 1;
		JV		   *v = NULL;
		bool		user_fields = false;

		cv.col = col;
		switch (col->kind)
		{
			case FAUNA_PATH_ID:
				if (e->idobj == NULL)
					break;
				values[slot] = convert_id(&cv, e);
				isnull[slot] = false;
				continue;
			case FAUNA_PATH_TS:
				if (e->event_ts)
					v = e->event_ts;	/* an event: its txn_ts */
				else
					v = JV_GET(e->fields, "ts");
				break;
			case FAUNA_PATH_TTL:
				v = JV_GET(e->fields, "ttl");
				break;
			case FAUNA_PATH_COLL:
				/* the collection's name, not the reference to it */
				v = JV_GET(e->fields, "coll");
				if (fauna_mod_name(v) != NULL)
					v = fauna_mod_name(v);
				break;
			case FAUNA_PATH_DATA:
				v = JV_GET(e->fields, "data");
				if (v == NULL && e->is_doc)
				{
					v = e->fields;
					user_fields = true;
				}
				break;
			case FAUNA_PATH_FIELD:
				v = lookup_field(page, e, col);
				break;
			case FAUNA_PATH_ACTION:
				v = e->action;	/* event tables only; else NULL */
				break;
		}

		if (v == NULL || v->type == JT_NULL)
		{
			values[slot] = (Datum) 0;
			isnull[slot] = true;
			continue;
		}
		isnull[slot] = false;
		if (user_fields)
		{
			/* all user fields of a @doc: an object built on the fly */
			if (col->typid == JSONBOID)
				values[slot] = fauna_make_jsonb(&cv, v, true);
			else if (col->typid == JSONOID || col->typid == TEXTOID)
			{
				StringInfoData buf;

				initStringInfo(&buf);
				fauna_append_object(&cv, &buf, v, true);
				values[slot] = PointerGetDatum(cstring_to_text_with_len(buf.data,
																		buf.len));
			}
			else
				cannot_convert(&cv, FV_OBJECT, col->typid);
		}
		else if (OidIsValid(col->elemtypid))
			values[slot] = convert_array(&cv, v);
		else
			values[slot] = convert_value(&cv, v, col->typid, col->typmod, false);
	}
}

void
fauna_column_prepare(FaunaColumn *column)
{
	Oid			target;
	Oid			infunc;

	column->elemtypid = get_element_type(column->typid);
	target = OidIsValid(column->elemtypid) ? column->elemtypid : column->typid;
	if (OidIsValid(column->elemtypid))
		get_typlenbyvalalign(column->elemtypid, &column->elemlen,
							 &column->elembyval, &column->elemalign);
	getTypeInputInfo(target, &infunc, &column->inioparam);
	fmgr_info(infunc, &column->infunc);
}

Datum
fauna_page_field(FaunaPage *page, int i, FaunaPathKind kind, const char *name,
				 Oid typid, bool *isnull)
{
	FaunaColumn col;
	char	   *path[1];
	Datum		value = 0;

	memset(&col, 0, sizeof(col));
	path[0] = (char *) name;
	col.attnum = 1;
	col.attname = (char *) name;
	col.kind = kind;
	if (kind == FAUNA_PATH_FIELD)
	{
		col.field_path = path;
		col.field_depth = 1;
	}
	col.typid = typid;
	col.typmod = -1;
	fauna_column_prepare(&col);
	*isnull = true;
	fauna_page_document(page, i, &col, 1, &value, isnull);
	return value;
}

