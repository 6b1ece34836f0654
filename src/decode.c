/*-------------------------------------------------------------------------
 *
 * decode.c
 *		  Fauna tagged JSON responses -> pages, documents and Datums.
 *
 * This is the only file of fauna_fdw that parses JSON.  It turns the body
 * of a /query/1 response (x-format: tagged) into a FaunaPage, and converts
 * the values of one element of a page into the Datums of a tuple, following
 * the conversion rules of DESIGN.md ("Columns") and the export formats of
 * fauna-protocol.md section 4.
 *
 * Parsing: a page is parsed by the tokenizer below, not by a JSON library,
 * and as it arrives: fauna_parser_feed() appends each chunk curl hands
 * over to one buffer and tokenizes as far as the chunk goes, so when the
 * last byte of a page arrives only that last chunk is left to read, and
 * the next request goes out at once.  It validates strictly (RFC 8259
 * JSON, valid UTF-8 -- overlong forms and surrogates refused --, nesting
 * at most FAUNA_JSON_MAX_DEPTH, nothing after the value) and writes a
 * "tape": one palloc'd array of 16-byte tokens in document order.  A
 * string token points into the body buffer, unescaped in place (a string
 * without a backslash is not touched) and NUL-terminated over its closing
 * quote; an object or array token holds its element count and the number
 * of tokens of its subtree, so a lookup skips a whole value in one step.
 * Field lookup is a linear scan of an object's keys (documents are small).
 * Both the body and the tape live in the page's memory context: resetting
 * it frees the page, nothing is malloc'd, no reset callback is needed.
 *
 * Why not json-c (used until issue 6): the benchmark of bench/RESULTS.md
 * spent ~80% of the backend's CPU in json-c's tree of a page -- a malloc'd
 * node per value, a hash table per object, then freeing it all
 * (malloc_consolidate, free, unlink_chunk), plus strlen of strings whose
 * length json-c already knew.  The tape costs two allocations per page;
 * the numbers before and after are in bench/RESULTS.md ("After the page
 * tokenizer").
 *
 * Conversion decisions (documented in the README too):
 *	- text gets a string as is; other values get the text of their export
 *	  format, like jsonb's ->> operator: a time or date as sent, bytes as
 *	  URL-safe base64, numbers as sent, true/false, objects, arrays,
 *	  documents and refs as JSON text.
 *	- int2/int4/int8 accept @int and @long, and @double only when integral
 *	  (12.0 yes, 12.5 no); always range-checked.  int8 also accepts a time,
 *	  as microseconds since the Unix epoch (the "ts as bigint" case), and a
 *	  document id column (ids are 64-bit integers in a string).
 *	- timestamptz/timestamp: 1 to 9 fraction digits; beyond microseconds the
 *	  value is rounded half up to the nearest microsecond, as PostgreSQL's
 *	  own timestamp input rounds.  timestamp is the UTC wall time.
 *	- jsonb/json: NaN, Infinity and -Infinity (as @double) become JSON
 *	  strings, since JSON numbers cannot hold them.  A bare NaN or Infinity
 *	  literal is not JSON: the response is refused.
 *	- A JSON null is SQL NULL for every column type.
 *	- Types without a rule of their own (varchar, domains, enums, uuid, ...)
 *	  get the text form above through their input function, so domain
 *	  constraints and typmods are enforced.
 *	- A key that appears twice in an object: lookups find the first.
 *
 * IDENTIFICATION
 *		  src/decode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
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

#include "fauna_fdw.h"

/*
 * Deepest JSON nesting accepted.  Bounds the recursion of the converters
 * below (check_stack_depth() guards them as well).
 */
#define FAUNA_JSON_MAX_DEPTH	512

/* Largest body parsed: token lengths and counts are 32-bit. */
#define FAUNA_MAX_BODY			((size_t) PG_INT32_MAX - 1)

/* ----------------------------------------------------------------
 * The tape
 * ----------------------------------------------------------------
 */

typedef enum JType
{
	JT_NULL,
	JT_FALSE,
	JT_TRUE,
	JT_NUMBER,
	JT_STRING,
	JT_ARRAY,
	JT_OBJECT
} JType;

#define JF_NUL		0x01		/* string: holds a NUL (from \u0000) */
#define JF_INT		0x02		/* number: an integer literal */

typedef struct JTok
{
	uint8		type;			/* JType */
	uint8		flags;
	uint16		pad;
	uint32		n;				/* string, number: length in bytes;
								 * object, array: tokens of the subtree,
								 * itself included */
	union
	{
		const char *s;			/* string, number: NUL-terminated text */
		uint32		count;		/* array: elements; object: members */
		size_t		off;		/* string, number, while parsing: offset of
								 * the text in the body */
	}			u;
} JTok;

/* A value: a token of a tape (never changed once the page is built). */
typedef const JTok JV;

/* The value after v (and after its subtree). */
static inline JV *
jv_next(JV *v)
{
	return v + (v->type >= JT_ARRAY ? v->n : 1);
}

static inline bool
jv_key_is(JV *key, const char *s, uint32 len)
{
	return key->n == len && memcmp(key->u.s, s, len) == 0;
}

#define JV_KEY_IS(key, lit) jv_key_is((key), (lit), sizeof(lit) - 1)

/*
 * The value of key in object obj (the first one), or NULL.  obj may be
 * NULL or not an object.
 */
static JV *
jv_get_len(JV *obj, const char *key, uint32 len)
{
	JV		   *p;

	if (obj == NULL || obj->type != JT_OBJECT)
		return NULL;
	p = obj + 1;
	for (uint32 i = 0; i < obj->u.count; i++)
	{
		if (p->n == len && memcmp(p->u.s, key, len) == 0)
			return p + 1;
		p = jv_next(p + 1);
	}
	return NULL;
}

static inline JV *
jv_get(JV *obj, const char *key)
{
	return jv_get_len(obj, key, strlen(key));
}

#define JV_GET(obj, lit) jv_get_len((obj), (lit), sizeof(lit) - 1)

static inline bool
jv_is(JV *v, JType t)
{
	return v != NULL && v->type == t;
}

/* Iterate over the members of an object: key and val are JV pointers. */
#define JV_FOREACH_MEMBER(obj, key, val, i) \
	for ((i) = 0, (key) = (obj) + 1, (val) = (key) + 1; \
		 (i) < (obj)->u.count; \
		 (i)++, (key) = jv_next(val), (val) = (key) + 1)

/* Iterate over the elements of an array. */
#define JV_FOREACH_ELEM(arr, el, i) \
	for ((i) = 0, (el) = (arr) + 1; (i) < (arr)->u.count; \
		 (i)++, (el) = jv_next(el))

/* The n-th element of an array (n < count). */
static JV *
jv_elem(JV *arr, uint32 n)
{
	JV		   *el = arr + 1;

	while (n-- > 0)
		el = jv_next(el);
	return el;
}

/* ----------------------------------------------------------------
 * The tokenizer
 * ----------------------------------------------------------------
 */

/*
 * The tokenizer is incremental: fauna_parser_feed() runs it over each chunk
 * of the body as curl hands it over, so a page is parsed while the rest of
 * it is still on the wire, and when the last byte arrives only that last
 * chunk remains to be read.  It stops at the start of a token the buffer
 * does not hold whole yet (a string without its closing quote, a number or
 * a literal that may go on) and goes on from there with the next chunk;
 * nothing it has written is ever read twice.  The buffer moves as it grows,
 * so a token records its text as an offset while parsing, turned into a
 * pointer when the body is complete (json_resolve()).  The same function
 * parses small error bodies in one go ("final" from the start).
 */

/* Where the parser stands between two chunks. */
typedef enum JState
{
	JS_VALUE,					/* a value (first, or after ':' or ',') */
	JS_OPEN_OBJECT,				/* after '{': '}' or a key */
	JS_OPEN_ARRAY,				/* after '[': ']' or a value */
	JS_AFTER,					/* after a member or element: ',' or close */
	JS_KEY,						/* after ',' in an object: a key */
	JS_COLON,					/* after a key: ':' */
	JS_DONE						/* after the value: only whitespace */
} JState;

typedef enum JResult
{
	JR_OK,						/* the value is complete */
	JR_MORE,					/* need more bytes */
	JR_ERROR					/* err, erroff */
} JResult;

typedef struct JParse
{
	char	   *buf;			/* the body so far; buf[len] == '\0' */
	size_t		len;
	MemoryContext cxt;			/* where the tape goes */
	JTok	   *toks;
	uint32		ntok;
	uint32		cap;
	bool		allow_trailing; /* stop after the value (error bodies) */
	bool		final;			/* the buffer holds the whole body */
	/* where it stopped: resumes at pos in state, with this stack */
	JState		state;
	size_t		pos;
	int			depth;
	uint32		stack[FAUNA_JSON_MAX_DEPTH];	/* open containers' tokens */
	/* the error, when json_parse() returns JR_ERROR */
	const char *err;
	size_t		erroff;
	bool		truncated;		/* the body ended inside the value */
	size_t		rewritten_to;	/* the end of the last string unescaped in
								 * place: the bytes before it are not all
								 * the body's own any more */
	bool		err_no_offset;	/* err is a whole sentence */
} JParse;

/* Bytes that a string may hold as they are: printable ASCII but " and \ */
static const uint8 json_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static inline bool
json_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline size_t
skip_ws(const char *buf, size_t pos)
{
	/* buf is NUL-terminated, and NUL is not whitespace */
	while (json_ws((unsigned char) buf[pos]))
		pos++;
	return pos;
}

static bool
jp_fail(JParse *p, const char *err, size_t off)
{
	p->err = err;
	p->erroff = off;
	p->err_no_offset = false;
	p->truncated = (off >= p->len);
	return false;
}

/*
 * A new token at the end of the tape, or NULL (p->err set) when memory
 * runs out: this runs inside curl's write callback, where nothing may
 * throw.
 */
static JTok *
jp_push(JParse *p)
{
	if (p->ntok == p->cap)
	{
		uint32		newcap = Max(p->cap * 2, 1024);
		JTok	   *nt;

		if (p->cap >= PG_INT32_MAX / 2 / sizeof(JTok))
			nt = NULL;
		else
			nt = MemoryContextAllocExtended(p->cxt, sizeof(JTok) * (Size) newcap,
											MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (nt == NULL)
		{
			jp_fail(p, "The response has too many JSON values to parse.", 0);
			p->err_no_offset = true;
			return NULL;
		}
		if (p->ntok > 0)
			memcpy(nt, p->toks, sizeof(JTok) * (Size) p->ntok);
		if (p->toks)
			pfree(p->toks);
		p->toks = nt;
		p->cap = newcap;
	}
	return &p->toks[p->ntok++];
}

/*
 * Length of the valid UTF-8 sequence at s (lead byte >= 0x80), else 0.
 * Refuses what pg_utf8_islegal() refuses: overlong forms, surrogates,
 * code points above U+10FFFF.  s is NUL-terminated, so a sequence cut by
 * the end of the buffer is refused too.
 */
static inline int
utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c >= 0xC2 && c <= 0xDF)
		return (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF)
	{
		unsigned char lo = 0x80,
					hi = 0xBF;

		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4)
	{
		unsigned char lo = 0x80,
					hi = 0xBF;

		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
				(s[3] & 0xC0) == 0x80) ? 4 : 0;
	}
	return 0;
}

static inline int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at s, or -1. */
static inline int
hex4(const char *s)
{
	int			a = hexval(s[0]),
				b,
				c,
				d;

	if (a < 0 || (b = hexval(s[1])) < 0 || (c = hexval(s[2])) < 0 ||
		(d = hexval(s[3])) < 0)
		return -1;
	return (a << 12) | (b << 8) | (c << 4) | d;
}

static inline char *
put_utf8(char *w, uint32 cp)
{
	if (cp < 0x80)
		*w++ = (char) cp;
	else if (cp < 0x800)
	{
		*w++ = (char) (0xC0 | (cp >> 6));
		*w++ = (char) (0x80 | (cp & 0x3F));
	}
	else if (cp < 0x10000)
	{
		*w++ = (char) (0xE0 | (cp >> 12));
		*w++ = (char) (0x80 | ((cp >> 6) & 0x3F));
		*w++ = (char) (0x80 | (cp & 0x3F));
	}
	else
	{
		*w++ = (char) (0xF0 | (cp >> 18));
		*w++ = (char) (0x80 | ((cp >> 12) & 0x3F));
		*w++ = (char) (0x80 | ((cp >> 6) & 0x3F));
		*w++ = (char) (0x80 | (cp & 0x3F));
	}
	return w;
}

/*
 * Does the string whose first escape is at i end (with its closing quote)
 * within the buffer?  Unescaping rewrites the string in place, so an
 * unfinished one must not be started on: it would be read again, rewritten,
 * with the next chunk.  Four bytes past the quote are asked for too, so
 * that the offset of a bad \u escape (reported as its sixth byte, which may
 * lie past a quote that cuts it short) never falls past the end of the
 * buffer, where it would look like a truncation.
 */
static bool
string_in_buffer(const JParse *p, size_t i)
{
	const char *buf = p->buf;

	while (i < p->len)
	{
		if (buf[i] == '\\')
			i += 2;
		else if (buf[i] == '"')
			return i + 4 < p->len;
		else
			i++;
	}
	return false;
}

/*
 * The string whose opening quote is at *pos: validated, unescaped in place
 * (the result is never longer than its source), NUL-terminated later.  False
 * with p->truncated when the buffer ends inside it.
 */
static bool
jp_string(JParse *p, size_t *pos)
{
	char	   *buf = p->buf;
	size_t		i = *pos + 1;
	char	   *start = buf + i;
	char	   *w = NULL;		/* write cursor once an escape was seen */
	uint8		flags = 0;
	JTok	   *t;

	for (;;)
	{
		size_t		run = i;
		unsigned char c;

		while (json_plain[(unsigned char) buf[i]])
			i++;
		c = (unsigned char) buf[i];
		if (c >= 0x80)
		{
			int			n = utf8_seq((const unsigned char *) buf + i);

			if (n == 0)
			{
				/* a sequence cut by the end of the body: truncated */
				int			want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;

				if (c >= 0xC2 && c <= 0xF4 && i + want > p->len)
					return jp_fail(p, "unexpected end of data", p->len);
				return jp_fail(p, "invalid utf-8 string", i);
			}
			i += n;
			if (w)
			{
				memmove(w, buf + run, i - run);
				w += i - run;
			}
			continue;
		}
		if (w && i > run)
		{
			memmove(w, buf + run, i - run);
			w += i - run;
		}
		if (c == '"')
			break;
		if (c != '\\')
		{
			if (i >= p->len)
				return jp_fail(p, "unexpected end of data", i);
			return jp_fail(p, "invalid string sequence", i);
		}
		/* an escape */
		if (w == NULL)
		{
			if (!p->final && !string_in_buffer(p, i))
				return jp_fail(p, "unexpected end of data", p->len);
			w = buf + i;
		}
		switch (buf[i + 1])
		{
			case '"':
			case '\\':
			case '/':
				*w++ = buf[i + 1];
				i += 2;
				break;
			case 'b':
				*w++ = '\b';
				i += 2;
				break;
			case 'f':
				*w++ = '\f';
				i += 2;
				break;
			case 'n':
				*w++ = '\n';
				i += 2;
				break;
			case 'r':
				*w++ = '\r';
				i += 2;
				break;
			case 't':
				*w++ = '\t';
				i += 2;
				break;
			case 'u':
				{
					int			cp = hex4(buf + i + 2);

					if (cp < 0)
						return jp_fail(p, "invalid string sequence",
									   Min(i + 6, p->len));
					i += 6;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						int			lo = -1;

						if (buf[i] == '\\' && buf[i + 1] == 'u')
							lo = hex4(buf + i + 2);
						if (lo >= 0xDC00 && lo <= 0xDFFF)
						{
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							i += 6;
						}
						else
							cp = 0xFFFD;	/* a lone surrogate, as json-c */
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						cp = 0xFFFD;
					if (cp == 0)
						flags |= JF_NUL;
					w = put_utf8(w, (uint32) cp);
				}
				break;
			default:
				return jp_fail(p, "invalid string sequence", Min(i + 1, p->len));
		}
	}
	/*
	 * buf[i] is the closing quote; w the end of the unescaped text.  It is
	 * NUL-terminated by json_resolve(): until then the buffer keeps its
	 * quotes, for fauna_parser_guess_after() to read.
	 */
	if (w == NULL)
		w = buf + i;
	else
		p->rewritten_to = i + 1;
	if ((t = jp_push(p)) == NULL)
		return false;
	t->type = JT_STRING;
	t->flags = flags;
	t->n = (uint32) (w - start);
	t->u.off = *pos + 1;
	*pos = i + 1;
	return true;
}

/*
 * A number at *pos (RFC 8259 grammar).  One that reaches the end of a
 * buffer that is not final may go on in the next chunk: truncated.
 */
static bool
jp_number(JParse *p, size_t *pos)
{
	const char *buf = p->buf;
	size_t		i = *pos;
	uint8		flags = JF_INT;
	JTok	   *t;

	if (buf[i] == '-')
		i++;
	if (buf[i] == '0')
		i++;
	else if (buf[i] >= '1' && buf[i] <= '9')
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	else
		return jp_fail(p, "number expected", i);
	if (buf[i] == '.')
	{
		i++;
		flags = 0;
		if (!(buf[i] >= '0' && buf[i] <= '9'))
			return jp_fail(p, "number expected", i);
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (buf[i] == 'e' || buf[i] == 'E')
	{
		i++;
		flags = 0;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		if (!(buf[i] >= '0' && buf[i] <= '9'))
			return jp_fail(p, "number expected", i);
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (i >= p->len && !p->final)
		return jp_fail(p, "unexpected end of data", i);
	if ((t = jp_push(p)) == NULL)
		return false;
	t->type = JT_NUMBER;
	t->flags = flags;
	t->n = (uint32) (i - *pos);
	t->u.off = *pos;
	*pos = i;
	return true;
}

/* A literal (true, false, null) at *pos. */
static bool
jp_literal(JParse *p, size_t *pos, const char *lit, JType type,
		   const char *err)
{
	size_t		i = *pos;
	JTok	   *t;

	for (int k = 0; lit[k]; k++, i++)
		if (p->buf[i] != lit[k])
			return jp_fail(p, err, i);
	if ((t = jp_push(p)) == NULL)
		return false;
	t->type = type;
	t->flags = 0;
	t->n = 0;
	t->u.off = 0;
	*pos = i;
	return true;
}

/*
 * A value at pos, pushed on the tape; a container is opened (and the state
 * becomes its first member's).  False on an error or a truncation.
 */
static bool
jp_value(JParse *p, size_t *pos)
{
	const char *buf = p->buf;
	unsigned char c = (unsigned char) buf[*pos];

	switch (c)
	{
		case '"':
			if (!jp_string(p, pos))
				return false;
			break;
		case '{':
		case '[':
			{
				JTok	   *t;

				if (p->depth >= FAUNA_JSON_MAX_DEPTH)
					return jp_fail(p, "nesting too deep", *pos);
				if ((t = jp_push(p)) == NULL)
					return false;
				p->stack[p->depth++] = p->ntok - 1;
				t->type = c == '{' ? JT_OBJECT : JT_ARRAY;
				t->flags = 0;
				t->n = 1;
				t->u.count = 0;
				(*pos)++;
				p->state = c == '{' ? JS_OPEN_OBJECT : JS_OPEN_ARRAY;
				return true;
			}
		case 't':
			if (!jp_literal(p, pos, "true", JT_TRUE, "boolean expected"))
				return false;
			break;
		case 'f':
			if (!jp_literal(p, pos, "false", JT_FALSE, "boolean expected"))
				return false;
			break;
		case 'n':
			if (!jp_literal(p, pos, "null", JT_NULL, "null expected"))
				return false;
			break;
		case 'N':
		case 'I':
		case '-':
			/* not JSON, but worth a clear word: wait to see it whole */
			if (!p->final && p->len - *pos < 9 &&
				(c != '-' || buf[*pos + 1] == 'I'))
				return jp_fail(p, "unexpected end of data", p->len);
			if (strncmp(buf + *pos, "NaN", 3) == 0 ||
				strncmp(buf + *pos, "Infinity", 8) == 0 ||
				strncmp(buf + *pos, "-Infinity", 9) == 0)
			{
				jp_fail(p, "The response holds a non-finite JSON number.", *pos);
				p->err_no_offset = true;
				return false;
			}
			if (c != '-')
				return jp_fail(p, "unexpected character", *pos);
			/* FALLTHROUGH */
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			if (!jp_number(p, pos))
				return false;
			break;
		default:
			if (*pos >= p->len)
				return jp_fail(p, "unexpected end of data", *pos);
			return jp_fail(p, "unexpected character", *pos);
	}
	/* a scalar: the container (if any) has one more */
	p->state = JS_AFTER;
	if (p->depth > 0)
		p->toks[p->stack[p->depth - 1]].u.count++;
	else
		p->state = JS_DONE;
	return true;
}

/* Close the innermost container at pos (its closing bracket). */
static void
jp_close(JParse *p, size_t *pos)
{
	uint32		idx = p->stack[--p->depth];

	p->toks[idx].n = p->ntok - idx;
	(*pos)++;
	if (p->depth > 0)
	{
		p->toks[p->stack[p->depth - 1]].u.count++;
		p->state = JS_AFTER;
	}
	else
		p->state = JS_DONE;
}

/*
 * Go on parsing p->buf from where the last call stopped.  JR_MORE when the
 * buffer ends inside the value and is not final (p->pos is then the start
 * of the token to read again); JR_ERROR with p->err and p->erroff set; the
 * tape holds offsets until json_resolve().  Never throws.
 */
static JResult
json_parse(JParse *p)
{
	const char *buf = p->buf;
	size_t		pos = p->pos;

	for (;;)
	{
		JState		state = p->state;
		bool		ok = true;
		unsigned char c;

		/* every state starts a token: resume here if the buffer ends */
		p->pos = pos;
		pos = skip_ws(buf, pos);
		c = (unsigned char) buf[pos];
		switch (state)
		{
			case JS_VALUE:
				ok = jp_value(p, &pos);
				break;
			case JS_OPEN_OBJECT:
			case JS_OPEN_ARRAY:
				if (c == (state == JS_OPEN_OBJECT ? '}' : ']'))
					jp_close(p, &pos);
				else if (state == JS_OPEN_ARRAY)
					ok = jp_value(p, &pos);
				else if (c != '"')
					ok = jp_fail(p, "quoted object property name expected", pos);
				else if ((ok = jp_string(p, &pos)))
					p->state = JS_COLON;
				break;
			case JS_AFTER:
				{
					JTok	   *top = &p->toks[p->stack[p->depth - 1]];

					if (c == ',')
					{
						pos++;
						p->state = top->type == JT_OBJECT ? JS_KEY : JS_VALUE;
					}
					else if (c == (top->type == JT_OBJECT ? '}' : ']'))
						jp_close(p, &pos);
					else
						ok = jp_fail(p, top->type == JT_OBJECT ?
									 "object value separator ',' expected" :
									 "array value separator ',' expected", pos);
				}
				break;
			case JS_KEY:
				if (c != '"')
					ok = jp_fail(p, "quoted object property name expected", pos);
				else if ((ok = jp_string(p, &pos)))
					p->state = JS_COLON;
				break;
			case JS_COLON:
				if (c != ':')
					ok = jp_fail(p, "object property name separator ':' expected", pos);
				else
				{
					pos++;
					p->state = JS_VALUE;
				}
				break;
			case JS_DONE:
				if (p->allow_trailing || pos >= p->len)
				{
					p->pos = pos;
					return p->final || p->allow_trailing ? JR_OK : JR_MORE;
				}
				p->err = "unexpected data after the JSON value";
				p->erroff = pos;
				p->truncated = false;
				return JR_ERROR;
		}
		if (!ok)
		{
			if (p->truncated && !p->final)
			{
				/* p->pos: the start of the token; nothing of it was kept */
				p->state = state;
				return JR_MORE;
			}
			return JR_ERROR;
		}
	}
}

/*
 * The tape of a finished parse: offsets become pointers into the buffer,
 * which no longer moves, and strings and numbers are NUL-terminated (the
 * byte after one has been read by now).
 */
static void
json_resolve(JParse *p)
{
	for (uint32 k = 0; k < p->ntok; k++)
	{
		JTok	   *t = &p->toks[k];

		if (t->type == JT_STRING)
		{
			char	   *s = p->buf + t->u.off;

			s[t->n] = '\0';
			t->u.s = s;
		}
		else if (t->type == JT_NUMBER)
		{
			char	   *s = p->buf + t->u.off;

			s[t->n] = '\0';
			t->u.s = s;
		}
		else if (t->type < JT_NUMBER)
			t->u.s = NULL;
	}
}

/* Parse a whole buffer at once (error bodies); false if it is not JSON. */
static bool
json_parse_all(JParse *p)
{
	p->final = true;
	p->state = JS_VALUE;
	p->pos = 0;
	if (json_parse(p) != JR_OK)
		return false;
	json_resolve(p);
	return true;
}

/* The detail of a parse error, as in "... at byte N of the response." */
static void
jp_error_detail(JParse *p, char *detail, size_t size)
{
	if (p->err_no_offset)
		snprintf(detail, size, "%s", p->err);
	else if (p->truncated)
		snprintf(detail, size,
				 "The response is truncated: its JSON ends unfinished after %zu bytes.",
				 p->len);
	else
		snprintf(detail, size, "%s at byte %zu of the response.",
				 p->err, p->erroff);
}

/* Fauna value types, named in error messages. */
typedef enum FaunaVType
{
	FV_NULL,
	FV_STRING,
	FV_BOOL,
	FV_INT,
	FV_LONG,
	FV_DOUBLE,
	FV_NUMBER,					/* untagged JSON number (not sent by Fauna) */
	FV_TIME,
	FV_DATE,
	FV_BYTES,
	FV_MOD,
	FV_OBJECT,					/* plain object or @object */
	FV_ARRAY,
	FV_DOC,
	FV_REF,
	FV_SET,
	FV_STREAM,
	FV_QUERY					/* FQL v4 @query (a lambda) */
} FaunaVType;

static const char *const fauna_type_names[] = {
	[FV_NULL] = "null",
	[FV_STRING] = "string",
	[FV_BOOL] = "boolean",
	[FV_INT] = "int",
	[FV_LONG] = "long",
	[FV_DOUBLE] = "double",
	[FV_NUMBER] = "number",
	[FV_TIME] = "time",
	[FV_DATE] = "date",
	[FV_BYTES] = "bytes",
	[FV_MOD] = "module",
	[FV_OBJECT] = "object",
	[FV_ARRAY] = "array",
	[FV_DOC] = "document",
	[FV_REF] = "ref",
	[FV_SET] = "set",
	[FV_STREAM] = "stream",
	[FV_QUERY] = "query"
};

/* One element of a page, validated when the page was built. */
typedef struct FaunaElem
{
	JV		   *fields;			/* the @doc's object, or the projected object */
	JV		   *idobj;			/* "id" (or a schema document's "name") */
	const char *id;				/* its string, NULL if absent */
	bool		is_doc;
	/* elements of an event page (NULL otherwise) */
	JV		   *action;			/* the event's "type" string */
	JV		   *event_ts;		/* {"@time": txn_ts}, owned by the page */
	int64		txn_ts;			/* the event's txn_ts, microseconds */
} FaunaElem;

struct FaunaPage
{
	MemoryContext cxt;
	char	   *body;			/* the response; the tape points into it */
	size_t		len;
	JV		   *root;			/* the tape */
	bool		v4;				/* FQL v4 response: v4 tags, v4 documents */
	JV		  **v4raw;			/* v4: each element as sent */
	char	   *what;
	FaunaElem  *elems;
	int			count;
	const char *after;			/* points into the body */
	FaunaStats	stats;
	const char *stream;			/* an event source token ("@stream") */
	const char *error_code;		/* an event feed's error event */
	const char *error_message;
	FaunaExpect expect;			/* what the query can answer */
};

struct FaunaParser
{
	JParse		jp;				/* the body so far (jp.buf, jp.len, in
								 * jp.cxt) and its tape */
	size_t		cap;			/* of jp.buf */
	size_t		parsed_len;		/* jp.len at the last fauna_parser_catch_up() */
	bool		v4;				/* an FQL v4 response (POST /) */
	FaunaExpect expect;			/* set by the caller; checked at the end */
	bool		failed;
	char		errdetail[256];
};

/* What a conversion is about, for error messages. */
typedef struct FaunaConv
{
	FaunaPage  *page;
	FaunaElem  *elem;
	FaunaColumn *col;
	bool		need_encoding;	/* database encoding is not UTF-8 */
} FaunaConv;

struct RefExport;
static FaunaVType classify_v(JV *v, JV **inner, const char *what, bool v4);
static void page_build_v4(FaunaPage *page);
static void ref_export_v4(FaunaConv *cv, JV *obj, struct RefExport *r);
static bool v4_number_int64(JV *v, int64 *out);
static FaunaVType v4_number_type(JV *v);
static bool v4_special_double(JV *v);
static void append_export_json(FaunaConv *cv, StringInfo buf, JV *v);
static bool parse_int64(const char *s, int64 *out);

/* ----------------------------------------------------------------
 * Incremental parser: collects the body
 * ----------------------------------------------------------------
 */

FaunaParser *
fauna_parser_create(MemoryContext cxt)
{
	FaunaParser *parser;

	parser = MemoryContextAllocZero(cxt, sizeof(FaunaParser));
	parser->jp.cxt = cxt;
	parser->jp.state = JS_VALUE;
	return parser;
}

static bool
parser_fail(FaunaParser *parser, const char *detail)
{
	parser->failed = true;
	snprintf(parser->errdetail, sizeof(parser->errdetail), "%s", detail);
	return false;
}

/*
 * Make room for a body of `expected` bytes (its Content-Length), so that
 * the buffer is allocated once rather than doubled and copied as it fills.
 * A hint only: a body that turns out longer still grows the buffer, and
 * at most FAUNA_RESERVE_MAX is taken on the word of a header (a server
 * announcing more than it sends must not make us hold it).  Never throws.
 */
#define FAUNA_RESERVE_MAX	((size_t) 32 * 1024 * 1024)

void
fauna_parser_reserve(FaunaParser *parser, size_t expected)
{
	JParse	   *jp = &parser->jp;
	char	   *nb;

	if (parser->failed || jp->buf != NULL || expected == 0)
		return;
	expected = Min(expected, FAUNA_RESERVE_MAX);
	nb = MemoryContextAllocExtended(jp->cxt, expected + 1,
									MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (nb == NULL)
		return;					/* fauna_parser_append() will say so */
	jp->buf = nb;
	jp->buf[0] = '\0';
	parser->cap = expected + 1;
}

/*
 * Keep body bytes as they arrive, without parsing them yet: the caller
 * parses them with fauna_parser_catch_up() when it has nothing else to do,
 * so that the transfer is never slowed down by the parsing.  Runs inside
 * libcurl's write callback: it must not ereport, so failures (out of
 * memory, too large) are only recorded.  The buffer doubles as it fills
 * (MCXT_ALLOC_NO_OOM).
 */
bool
fauna_parser_append(FaunaParser *parser, const char *buf, size_t len)
{
	JParse	   *jp = &parser->jp;

	if (parser->failed)
		return false;
	if (len == 0)
		return true;
	if (len > FAUNA_MAX_BODY - jp->len)
		return parser_fail(parser, "The response is too large to parse (more than 2 GB).");
	if (jp->len + len + 1 > parser->cap)
	{
		size_t		newcap = Max(parser->cap * 2, (size_t) 64 * 1024);
		char	   *nb;

		while (newcap < jp->len + len + 1)
			newcap *= 2;
		nb = MemoryContextAllocExtended(jp->cxt, newcap,
										MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (nb == NULL)
			return parser_fail(parser, "Out of memory while receiving the response.");
		if (jp->len > 0)
			memcpy(nb, jp->buf, jp->len);
		if (jp->buf)
			pfree(jp->buf);
		jp->buf = nb;
		parser->cap = newcap;
	}
	memcpy(jp->buf + jp->len, buf, len);
	jp->len += len;
	jp->buf[jp->len] = '\0';
	return true;
}

/*
 * Parse the bytes appended since the last call, as far as they go.  Never
 * throws: a syntax error is recorded (false), for
 * fauna_parser_finish_page() to raise.
 */
bool
fauna_parser_catch_up(FaunaParser *parser)
{
	JParse	   *jp = &parser->jp;

	if (parser->failed)
		return false;
	if (jp->len == parser->parsed_len)
		return true;
	parser->parsed_len = jp->len;
	if (json_parse(jp) == JR_ERROR)
	{
		char		detail[256];

		jp_error_detail(jp, detail, sizeof(detail));
		return parser_fail(parser, detail);
	}
	return true;
}

/* Bytes appended and parsed at once (error bodies, tests, the fuzzer). */
bool
fauna_parser_feed(FaunaParser *parser, const char *buf, size_t len)
{
	return fauna_parser_append(parser, buf, len) &&
		fauna_parser_catch_up(parser);
}

/*
 * The end of the JSON value at pos (a string, a number, a literal, or an
 * array or object with everything in it), or 0 if there is none.  Only
 * skims: the value is validated when the body is parsed.
 */
static size_t
skim_value(const char *buf, size_t len, size_t pos)
{
	int			depth = 0;

	do
	{
		if (pos >= len)
			return 0;
		switch (buf[pos])
		{
			case '"':
				for (pos++; pos < len && buf[pos] != '"'; pos++)
					if (buf[pos] == '\\')
						pos++;
				if (pos >= len)
					return 0;
				pos++;
				break;
			case '{':
			case '[':
				depth++;
				pos++;
				break;
			case '}':
			case ']':
				if (--depth < 0)
					return 0;
				pos++;
				break;
			default:
				if (depth == 0)
				{
					/* a number or a literal, up to what follows it */
					while (pos < len && !json_ws((unsigned char) buf[pos]) &&
						   strchr(",]}", buf[pos]) == NULL)
						pos++;
					return pos;
				}
				pos++;
				break;
		}
	} while (depth > 0);
	return pos;
}

/*
 * Is buf[pos..len) the rest of the response object once its "data" is
 * closed: members (, "key": value)* and the final '}', nothing after it?
 */
static bool
is_top_level_tail(const char *buf, size_t len, size_t pos)
{
	for (;;)
	{
		pos = skip_ws(buf, pos);
		if (pos < len && buf[pos] == '}')
			return skip_ws(buf, pos + 1) == len;
		if (pos >= len || buf[pos] != ',')
			return false;
		pos = skip_ws(buf, pos + 1);
		if (pos >= len || buf[pos] != '"' ||
			(pos = skim_value(buf, len, pos)) == 0)
			return false;
		pos = skip_ws(buf, pos);
		if (pos >= len || buf[pos] != ':')
			return false;
		pos = skip_ws(buf, pos + 1);
		if ((pos = skim_value(buf, len, pos)) == 0)
			return false;
	}
}

/*
 * The cursor of a complete FQL v10 page body, read from its tail without
 * parsing the body, or NULL.  It lets the request of the next page leave
 * before this one is parsed.  The guess is made only where the structure
 * leaves no doubt: an "after" string member that directly follows the end
 * of an array (the page's "data") and closes, with the one or two objects
 * around it, the response's "data" (a plain page {"data": [...], "after"}
 * or a tagged {"@set": {...}}), so that it sits at depth 2 or 3 of the
 * response, where documents never are (they are at depth 4 or more).  A
 * document's own field named after is therefore never sent as a cursor.
 * The caller still compares the guess with the parsed page's cursor before
 * using what the guessed request returns.  A cursor holding an escape is
 * not guessed.
 */
#define FAUNA_GUESS_TAIL	(64 * 1024)

char *
fauna_parser_guess_after(FaunaParser *parser)
{
	static const char key[] = "\"after\":";
	const size_t keylen = sizeof(key) - 1;
	JParse	   *jp = &parser->jp;
	const char *buf = jp->buf;
	size_t		floor_pos;
	size_t		i;

	if (parser->failed || parser->v4 || buf == NULL || jp->len < keylen + 2)
		return NULL;
	floor_pos = jp->len > FAUNA_GUESS_TAIL ? jp->len - FAUNA_GUESS_TAIL : 0;
	for (i = jp->len - keylen; i-- > floor_pos;)
	{
		size_t		start;
		size_t		end;
		size_t		before;
		size_t		closer;

		if (buf[i] != '"' || memcmp(buf + i, key, keylen) != 0)
			continue;
		if (i < jp->rewritten_to)
			return NULL;		/* may be the product of an unescape */

		/* preceded by the end of the data array: "],"after"" */
		before = i;
		while (before > floor_pos && json_ws((unsigned char) buf[before - 1]))
			before--;
		if (before == floor_pos || buf[before - 1] != ',')
			return NULL;
		before--;
		while (before > floor_pos && json_ws((unsigned char) buf[before - 1]))
			before--;
		if (before == floor_pos || buf[before - 1] != ']')
			return NULL;

		start = skip_ws(buf, i + keylen);
		if (buf[start] != '"')
			return NULL;		/* not a string: no guess */
		start++;
		for (end = start; end < jp->len && json_plain[(unsigned char) buf[end]]; end++)
			;
		if (end >= jp->len || buf[end] != '"' || end == start)
			return NULL;		/* an escape, a control byte, UTF-8, empty */

		/* then one or two '}' close the response's "data" */
		closer = skip_ws(buf, end + 1);
		if (closer >= jp->len || buf[closer] != '}')
			return NULL;
		closer = skip_ws(buf, closer + 1);
		if (!is_top_level_tail(buf, jp->len, closer) &&
			!(closer < jp->len && buf[closer] == '}' &&
			  is_top_level_tail(buf, jp->len, closer + 1)))
			return NULL;
		return pnstrdup(buf + start, end - start);
	}
	return NULL;
}

static void invalid_response(const char *what, const char *detail)
			pg_attribute_noreturn();

static void
invalid_response(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid response from Fauna for %s", what),
			 errdetail_internal("%s", detail)));
}

/* ----------------------------------------------------------------
 * Tagged values
 * ----------------------------------------------------------------
 */

/* The only key of a one-key object (its value in *val), else NULL. */
static JV *
single_key(JV *obj, JV **val)
{
	if (obj == NULL || obj->type != JT_OBJECT || obj->u.count != 1)
		return NULL;
	*val = obj + 2;
	return obj + 1;
}

/*
 * Classify a value.  *inner receives the payload: the tag's value for a
 * tagged value, the object itself for a plain object, the wrapped object of
 * @object.  A known tag with a payload of the wrong JSON type is invalid
 * tagged JSON; it is reported (with `what` for context) rather than
 * silently taken for a plain object.  An unknown "@" key is a plain object:
 * a future tag is exported as it is rather than lost.
 */
static FaunaVType
classify(JV *v, JV **inner, const char *what)
{
	return classify_v(v, inner, what, false);
}

/* classify(), reading FQL v4 tags too when v4 (see "FQL v4" below) */
static FaunaVType
classify_v(JV *v, JV **inner, const char *what, bool v4)
{
	JV		   *key;
	JV		   *payload;
	JType		want;
	FaunaVType	t;

	*inner = v;
	switch ((JType) v->type)
	{
		case JT_NULL:
			return FV_NULL;
		case JT_STRING:
			return FV_STRING;
		case JT_TRUE:
		case JT_FALSE:
			return FV_BOOL;
		case JT_NUMBER:
			return v4 ? v4_number_type(v) : FV_NUMBER;
		case JT_ARRAY:
			return FV_ARRAY;
		case JT_OBJECT:
			break;
	}

	if (v->u.count != 1)
		return FV_OBJECT;
	key = v + 1;
	payload = v + 2;
	if (key->n < 3 || key->u.s[0] != '@')
		return FV_OBJECT;

	want = JT_STRING;
	if (JV_KEY_IS(key, "@int"))
		t = FV_INT;
	else if (JV_KEY_IS(key, "@long"))
		t = FV_LONG;
	else if (JV_KEY_IS(key, "@double"))
		t = FV_DOUBLE;
	else if (JV_KEY_IS(key, "@time"))
		t = FV_TIME;
	else if (JV_KEY_IS(key, "@date"))
		t = FV_DATE;
	else if (JV_KEY_IS(key, "@bytes"))
		t = FV_BYTES;
	else if (JV_KEY_IS(key, "@mod"))
		t = FV_MOD;
	else if (JV_KEY_IS(key, "@stream"))
		t = FV_STREAM;
	else if (JV_KEY_IS(key, "@object"))
		t = FV_OBJECT, want = JT_OBJECT;
	else if (JV_KEY_IS(key, "@doc"))
		t = FV_DOC, want = JT_OBJECT;
	else if (JV_KEY_IS(key, "@ref"))
		t = FV_REF, want = JT_OBJECT;
	else if (v4 && JV_KEY_IS(key, "@ts"))
		t = FV_TIME;
	else if (v4 && JV_KEY_IS(key, "@obj"))
		t = FV_OBJECT, want = JT_OBJECT;
	else if (v4 && JV_KEY_IS(key, "@query"))
		t = FV_QUERY, want = JT_OBJECT;
	else if (JV_KEY_IS(key, "@set"))
	{
		/* a page {"data","after"} or, when not materialized, a cursor */
		*inner = payload;
		if (payload->type == JT_OBJECT || payload->type == JT_STRING)
			return FV_SET;
		t = FV_SET, want = JT_OBJECT;
	}
	else
		return FV_OBJECT;

	if (payload->type != want)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Fauna for %s", what),
				 errdetail("The value of tag \"%s\" is not a %s.", key->u.s,
						   want == JT_STRING ? "string" : "JSON object")));
	*inner = payload;
	return t;
}

/* The string of a string token, with its length. */
static inline const char *
jstr(JV *s, int *len)
{
	*len = (int) s->n;
	return s->u.s;
}

/* The text of a string or number token. */
static inline const char *
jtext(JV *v)
{
	if (v->type == JT_STRING || v->type == JT_NUMBER)
		return v->u.s;
	return v->type == JT_TRUE ? "true" : v->type == JT_FALSE ? "false" : "null";
}

/* s (len bytes) as a JSON string literal, quotes included */
static void
append_quoted_json(StringInfo buf, const char *s, size_t len)
{
	appendStringInfoCharMacro(buf, '"');
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				appendBinaryStringInfo(buf, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(buf, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(buf, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(buf, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(buf, "\\t", 2);
				break;
			case '\b':
				appendBinaryStringInfo(buf, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(buf, "\\f", 2);
				break;
			default:
				if (c < 0x20)
					appendStringInfo(buf, "\\u%04x", c);
				else
					appendStringInfoCharMacro(buf, (char) c);
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

/*
 * The JSON text of a value, without spaces (the wire form of a set, a
 * stream or a v4 cursor, as json-c printed it).
 */
static void
append_wire_json(StringInfo buf, JV *v)
{
	uint32		i;

	check_stack_depth();
	switch ((JType) v->type)
	{
		case JT_NULL:
		case JT_TRUE:
		case JT_FALSE:
		case JT_NUMBER:
			appendStringInfoString(buf, jtext(v));
			break;
		case JT_STRING:
			append_quoted_json(buf, v->u.s, v->n);
			break;
		case JT_ARRAY:
			{
				JV		   *el;

				appendStringInfoCharMacro(buf, '[');
				JV_FOREACH_ELEM(v, el, i)
				{
					if (i > 0)
						appendStringInfoCharMacro(buf, ',');
					append_wire_json(buf, el);
				}
				appendStringInfoCharMacro(buf, ']');
			}
			break;
		case JT_OBJECT:
			{
				JV		   *key;
				JV		   *val;

				appendStringInfoCharMacro(buf, '{');
				JV_FOREACH_MEMBER(v, key, val, i)
				{
					if (i > 0)
						appendStringInfoCharMacro(buf, ',');
					append_wire_json(buf, key);
					appendStringInfoCharMacro(buf, ':');
					append_wire_json(buf, val);
				}
				appendStringInfoCharMacro(buf, '}');
			}
			break;
	}
}

static char *
wire_json(JV *v, int *len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_wire_json(&buf, v);
	if (len)
		*len = buf.len;
	return buf.data;
}

/* ----------------------------------------------------------------
 * Building pages
 * ----------------------------------------------------------------
 */

static int64
stat_int(JV *obj, const char *key)
{
	JV		   *v = jv_get(obj, key);
	int64		r;

	if (jv_is(v, JT_NUMBER) && (v->flags & JF_INT) && parse_int64(v->u.s, &r))
		return r;
	return 0;
}

/*
 * Is this @ref a null document (a ref whose document does not exist)?
 */
static bool
ref_is_null_doc(JV *ref)
{
	return jv_is(JV_GET(ref, "exists"), JT_FALSE);
}

/*
 * Validate one element and record it.  Returns false for an element that
 * stands for no document (a null document).
 */
static bool
page_add_element(FaunaPage *page, JV *v, int index)
{
	JV		   *inner;
	FaunaVType	t = classify(v, &inner, page->what);
	FaunaElem  *e = &page->elems[page->count];
	JV		   *idobj = NULL;
	char		detail[128];

	switch (t)
	{
		case FV_DOC:
			e->is_doc = true;
			if ((idobj = JV_GET(inner, "id")) == NULL)
				idobj = JV_GET(inner, "name");
			if (!jv_is(idobj, JT_STRING))
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is a document without an \"id\".",
						 index);
				invalid_response(page->what, detail);
			}
			break;
		case FV_OBJECT:
			/* a projected object: "id" only if projected */
			e->is_doc = false;
			idobj = JV_GET(inner, "id");
			if (idobj && idobj->type != JT_STRING)
			{
				snprintf(detail, sizeof(detail),
						 "The \"id\" of element %d of the page is not a string.",
						 index);
				invalid_response(page->what, detail);
			}

			/*
			 * A scan always projects "id" first (fql.c): an element
			 * without one is not an answer to its query, and would give
			 * rows whose ref is NULL.
			 */
			if (idobj == NULL && page->expect != FAUNA_EXPECT_ANY)
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is an object without an \"id\".",
						 index);
				invalid_response(page->what, detail);
			}
			break;
		case FV_REF:
			/* byId of a missing document; a scan's set never holds one */
			if (ref_is_null_doc(inner) && page->expect != FAUNA_EXPECT_PAGE)
				return false;
			if (ref_is_null_doc(inner))
			{
				snprintf(detail, sizeof(detail),
						 "Element %d of the page is a document that does not exist.",
						 index);
				invalid_response(page->what, detail);
			}
			snprintf(detail, sizeof(detail),
					 "Element %d of the page is a reference, not a document.",
					 index);
			invalid_response(page->what, detail);
			break;
		default:
			snprintf(detail, sizeof(detail),
					 "Element %d of the page is a %s, not a document or object.",
					 index, fauna_type_names[t]);
			invalid_response(page->what, detail);
	}
	if (idobj && (idobj->flags & JF_NUL))
	{
		snprintf(detail, sizeof(detail),
				 "The id of element %d of the page is not valid UTF-8.", index);
		invalid_response(page->what, detail);
	}
	e->fields = inner;
	e->idobj = idobj;
	e->id = idobj ? idobj->u.s : NULL;
	page->count++;
	return true;
}

/* A set page {"data":[...],"after"?}: the page's elements and cursor. */
static void
page_from_set(FaunaPage *page, JV *set)
{
	JV		   *data = JV_GET(set, "data");
	JV		   *after;
	JV		   *el;
	uint32		i;

	if (!jv_is(data, JT_ARRAY))
		invalid_response(page->what,
						 "The set in \"data\" has no \"data\" array.");
	if ((after = JV_GET(set, "after")) != NULL)
	{
		if (after->type != JT_STRING)
			invalid_response(page->what,
							 "The \"after\" cursor of the page is not a string.");
		page->after = after->u.s;
	}

	page->elems = MemoryContextAllocZero(page->cxt,
										 sizeof(FaunaElem) * Max(data->u.count, 1));
	JV_FOREACH_ELEM(data, el, i)
		page_add_element(page, el, (int) i);
}

/* Is this untagged object a plain page {"data": [...], "after"?}? */
static bool
is_plain_page(JV *obj)
{
	if (!jv_is(JV_GET(obj, "data"), JT_ARRAY))
		return false;
	if (obj->u.count == 1)
		return true;
	return obj->u.count == 2 && JV_GET(obj, "after") != NULL;
}

/* Unix-epoch microseconds as a Fauna time string, false if out of range. */
static bool
format_unix_micros(int64 us, char *buf, size_t size)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (us < INT64CONST(-62135596800000000) ||
		us > INT64CONST(253402300799999999) ||
		timestamp2tm(us - FAUNA_UNIX_EPOCH_OFFSET_US, NULL, &tm, &fsec,
					 NULL, NULL) != 0)
		return false;
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int) fsec);
	return true;
}

/* A string token for a string of the page's memory. */
static void
synth_string(JTok *t, const char *s, size_t len)
{
	t->type = JT_STRING;
	t->flags = 0;
	t->n = (uint32) len;
	t->u.s = s;
}

/* An object token of count members whose subtree has ntok tokens. */
static void
synth_object(JTok *t, uint32 count, uint32 ntok)
{
	t->type = JT_OBJECT;
	t->flags = 0;
	t->n = ntok;
	t->u.count = count;
}

/* {"@time": iso} in the page's memory. */
static JV *
synth_time(FaunaPage *page, const char *iso)
{
	JTok	   *t = MemoryContextAlloc(page->cxt, sizeof(JTok) * 3);
	char	   *s = MemoryContextStrdup(page->cxt, iso);

	synth_object(&t[0], 1, 3);
	synth_string(&t[1], "@time", 5);
	synth_string(&t[2], s, strlen(s));
	return t;
}

/*
 * A page of an event feed (POST /feed/1):
 * {"events":[{type, data, txn_ts, cursor}...], "cursor", "has_next", "stats"}.
 * Each add/update/remove event is an element whose fields are the event's
 * document (for a remove, as it was); its ts is the event's txn_ts and its
 * action the event's type.  An error event ends the page and is kept for
 * fauna_page_feed_error().  The page's "after" is the feed cursor when
 * has_next is true, else NULL.
 */
static void
page_build_events(FaunaPage *page)
{
	JV		   *root = page->root;
	JV		   *events = JV_GET(root, "events");
	JV		   *stats;
	JV		   *v;
	JV		   *ev;
	char		detail[160];
	uint32		i;

	if (!jv_is(events, JT_ARRAY))
		invalid_response(page->what, "The \"events\" of the feed page is not an array.");
	if ((stats = JV_GET(root, "stats")) != NULL)
	{
		page->stats.read_ops = stat_int(stats, "read_ops");
		page->stats.compute_ops = stat_int(stats, "compute_ops");
		page->stats.write_ops = stat_int(stats, "write_ops");
		page->stats.bytes_read = stat_int(stats, "storage_bytes_read");
	}
	v = JV_GET(root, "has_next");
	if (!jv_is(v, JT_TRUE) && !jv_is(v, JT_FALSE))
		invalid_response(page->what, "The feed page has no boolean \"has_next\".");
	if (v->type == JT_TRUE)
	{
		JV		   *cursor = JV_GET(root, "cursor");

		if (!jv_is(cursor, JT_STRING))
			invalid_response(page->what,
							 "The feed page has a next page but no \"cursor\" string.");
		page->after = cursor->u.s;
	}

	page->elems = MemoryContextAllocZero(page->cxt,
										 sizeof(FaunaElem) * Max(events->u.count, 1));
	JV_FOREACH_ELEM(events, ev, i)
	{
		JV		   *type = JV_GET(ev, "type");
		JV		   *data;
		JV		   *ts;
		FaunaElem  *e;
		int64		us;
		char		iso[64];

		if (!jv_is(type, JT_STRING))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no \"type\" string.", (int) i);
			invalid_response(page->what, detail);
		}
		if (JV_KEY_IS(type, "error"))
		{
			JV		   *err = JV_GET(ev, "error");
			JV		   *c = JV_GET(err, "code");
			JV		   *m = JV_GET(err, "message");

			page->error_code = "unknown";
			page->error_message = "";
			if (jv_is(c, JT_STRING))
				page->error_code = c->u.s;
			if (jv_is(m, JT_STRING))
				page->error_message = m->u.s;
			page->after = NULL;
			break;				/* an error event ends the page */
		}
		if (!JV_KEY_IS(type, "add") && !JV_KEY_IS(type, "update") &&
			!JV_KEY_IS(type, "remove"))
			continue;			/* e.g. "status": no document */
		ts = JV_GET(ev, "txn_ts");
		if (!jv_is(ts, JT_NUMBER) || !(ts->flags & JF_INT))
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no integer \"txn_ts\".", (int) i);
			invalid_response(page->what, detail);
		}
		if ((data = JV_GET(ev, "data")) == NULL)
		{
			snprintf(detail, sizeof(detail),
					 "Event %d of the feed page has no \"data\".", (int) i);
			invalid_response(page->what, detail);
		}
		e = &page->elems[page->count];
		if (!page_add_element(page, data, (int) i))
			continue;
		if (!parse_int64(ts->u.s, &us) ||
			!format_unix_micros(us, iso, sizeof(iso)))
		{
			snprintf(detail, sizeof(detail),
					 "The \"txn_ts\" of event %d is out of range.", (int) i);
			invalid_response(page->what, detail);
		}
		e->action = type;
		e->event_ts = synth_time(page, iso);
		e->txn_ts = us;
	}
}

static void
page_build(FaunaPage *page)
{
	JV		   *root = page->root;
	JV		   *data;
	JV		   *inner;
	JV		   *stats;
	FaunaVType	t;

	if (root->type != JT_OBJECT)
		invalid_response(page->what, "The response is not a JSON object.");
	data = JV_GET(root, "data");
	if (data == NULL && JV_GET(root, "events") != NULL &&
		page->expect == FAUNA_EXPECT_ANY)
	{
		page_build_events(page);
		return;
	}
	if (data == NULL)
		invalid_response(page->what, "The response has no \"data\".");

	if ((stats = JV_GET(root, "stats")) != NULL)
	{
		page->stats.read_ops = stat_int(stats, "read_ops");
		page->stats.compute_ops = stat_int(stats, "compute_ops");
		page->stats.write_ops = stat_int(stats, "write_ops");
		page->stats.bytes_read = stat_int(stats, "storage_bytes_read");
	}
	page->stats.txn_ts = stat_int(root, "txn_ts");

	t = classify(data, &inner, page->what);

	/*
	 * The shapes a scan's query cannot answer.  A set read as one object,
	 * or null read as an empty collection, would be a wrong result that
	 * looks complete.
	 */
	if (page->expect == FAUNA_EXPECT_PAGE &&
		!(t == FV_SET ||
		  (t == FV_OBJECT && inner == data && is_plain_page(data))))
	{
		char		detail[160];

		if (t == FV_OBJECT)
			snprintf(detail, sizeof(detail),
					 "\"data\" is an object that is not a page {\"data\": [...], \"after\"?}, where a page of documents was expected.");
		else if (t == FV_NULL)
			snprintf(detail, sizeof(detail),
					 "\"data\" is null, where a page of documents was expected.");
		else
			snprintf(detail, sizeof(detail),
					 "\"data\" is a Fauna %s, where a page of documents was expected.",
					 fauna_type_names[t]);
		invalid_response(page->what, detail);
	}
	if (page->expect == FAUNA_EXPECT_DOCUMENT &&
		(t == FV_SET || t == FV_STREAM ||
		 (t == FV_OBJECT && inner == data && is_plain_page(data))))
	{
		char		detail[160];

		snprintf(detail, sizeof(detail),
				 "\"data\" is %s, where a single document or null was expected.",
				 t == FV_OBJECT ? "a page" : t == FV_STREAM ? "an event source" : "a set");
		invalid_response(page->what, detail);
	}

	switch (t)
	{
		case FV_NULL:
			break;
		case FV_STREAM:
			/* an event source token: no element */
			page->stream = inner->u.s;
			break;
		case FV_SET:
			if (inner->type != JT_OBJECT)
				invalid_response(page->what,
								 "\"data\" is an unmaterialized set, not a page.");
			page_from_set(page, inner);
			return;
		case FV_OBJECT:
			if (inner == data && is_plain_page(data))
			{
				page_from_set(page, data);
				return;
			}
			/* FALLTHROUGH */
		case FV_DOC:
		case FV_REF:
			page->elems = MemoryContextAllocZero(page->cxt, sizeof(FaunaElem));
			page_add_element(page, data, 0);
			return;
		default:
			{
				char		detail[128];

				snprintf(detail, sizeof(detail),
						 "\"data\" is a %s, not a set, a page, a document or null.",
						 fauna_type_names[t]);
				invalid_response(page->what, detail);
			}
	}
}

/*
 * FQL v4: what page_build_v4 accepted ({"resource": page | document |
 * null}) against the caller's expectation.  A v4 page is an object with a
 * "data" array and no "ref"; each element of a scan's page must have
 * become a document (page_build_v4 skips null elements).
 */
static void
page_check_v4(FaunaPage *page)
{
	JV		   *res = JV_GET(page->root, "resource");
	JV		   *data = NULL;
	bool		is_page;

	if (page->expect == FAUNA_EXPECT_ANY || res == NULL)
		return;
	is_page = res->type == JT_OBJECT &&
		jv_is(data = JV_GET(res, "data"), JT_ARRAY) &&
		JV_GET(res, "ref") == NULL;
	if (page->expect == FAUNA_EXPECT_PAGE)
	{
		if (!is_page)
			invalid_response(page->what,
							 res->type == JT_NULL
							 ? "The \"resource\" is null, where a page of documents was expected."
							 : "The \"resource\" is a document, where a page of documents was expected.");
		if ((uint32) page->count != data->u.count)
			invalid_response(page->what,
							 "An element of the page is null, not a document.");
	}
	else if (is_page)
		invalid_response(page->what,
						 "The \"resource\" is a page, where a single document or null was expected.");
}

/* What the query of the response being parsed can answer. */
void
fauna_parser_expect(FaunaParser *parser, FaunaExpect expect)
{
	parser->expect = expect;
}

FaunaPage *
fauna_parser_finish_page(FaunaParser *parser, const char *what)
{
	JParse	   *jp = &parser->jp;
	FaunaPage  *page;

	if (what == NULL)
		what = "query";
	if (parser->failed)
		invalid_response(what, parser->errdetail);
	if (jp->len == 0)
		invalid_response(what, "The response body is empty.");

	/* the rest of the last chunk, knowing that nothing follows */
	jp->final = true;
	if (json_parse(jp) != JR_OK)
	{
		char		detail[256];

		jp_error_detail(jp, detail, sizeof(detail));
		invalid_response(what, detail);
	}
	json_resolve(jp);

	page = MemoryContextAllocZero(jp->cxt, sizeof(FaunaPage));
	page->cxt = jp->cxt;
	page->what = MemoryContextStrdup(jp->cxt, what);
	page->body = jp->buf;
	page->len = jp->len;
	page->root = jp->toks;
	/* the page's now */
	jp->buf = NULL;
	jp->toks = NULL;
	jp->len = parser->cap = 0;
	jp->ntok = jp->cap = 0;
	page->expect = parser->expect;

	if (parser->v4)
	{
		page_build_v4(page);
		page_check_v4(page);
	}
	else
		page_build(page);
	return page;
}

FaunaPage *
fauna_page_from_buffer(const char *body, size_t len, MemoryContext cxt,
					   const char *what)
{
	FaunaParser *parser = fauna_parser_create(cxt);

	fauna_parser_feed(parser, body, len);
	return fauna_parser_finish_page(parser, what);
}

int
fauna_page_count(FaunaPage *page)
{
	return page->count;
}

char *
fauna_page_after(FaunaPage *page)
{
	return page->after ? pstrdup(page->after) : NULL;
}

void
fauna_page_stats(FaunaPage *page, FaunaStats *stats)
{
	*stats = page->stats;
}

/*
 * Counters sent as headers (FQL v4 has no "stats" in its body); < 0: not
 * sent.  The body's own counters, when it has any, win.
 */
void
fauna_page_set_header_stats(FaunaPage *page, const FaunaStats *stats)
{
	if (stats->read_ops >= 0 && page->stats.read_ops == 0)
		page->stats.read_ops = stats->read_ops;
	if (stats->compute_ops >= 0 && page->stats.compute_ops == 0)
		page->stats.compute_ops = stats->compute_ops;
	if (stats->write_ops >= 0 && page->stats.write_ops == 0)
		page->stats.write_ops = stats->write_ops;
	if (stats->bytes_read >= 0 && page->stats.bytes_read == 0)
		page->stats.bytes_read = stats->bytes_read;
	if (stats->txn_ts > 0 && page->stats.txn_ts == 0)
		page->stats.txn_ts = stats->txn_ts;
}

const char *
fauna_page_stream(FaunaPage *page)
{
	return page->stream;
}

bool
fauna_page_feed_error(FaunaPage *page, char **code, char **message)
{
	if (page->error_code == NULL)
		return false;
	*code = pstrdup(page->error_code);
	*message = pstrdup(page->error_message);
	return true;
}

int64
fauna_page_event_ts(FaunaPage *page, int i)
{
	if (i < 0 || i >= page->count)
		return 0;
	return page->elems[i].txn_ts;
}

const char *
fauna_page_document_id(FaunaPage *page, int i)
{
	if (i < 0 || i >= page->count)
		return NULL;
	return page->elems[i].id;
}

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
		errdetail("Document id \"%s\" of %s.", cv->elem->id, cv->page->what);
	else
		errdetail("A document of %s (id not read).", cv->page->what);
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

static void
invalid_value(FaunaConv *cv, FaunaVType t, const char *value)
{
	value = msg_value(value);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid Fauna %s value \"%s\" for column \"%s\"",
					fauna_type_names[t], value, cv->col->attname),
			 conv_detail(cv)));
}

/* CONTEXT line for errors raised by PostgreSQL functions we call. */
static void
conv_error_context(void *arg)
{
	FaunaConv  *cv = (FaunaConv *) arg;

	errcontext("column \"%s\" of Fauna document \"%s\" of %s",
			   cv->col->attname, cv->elem->id ? cv->elem->id : "?",
			   cv->page->what);
}

/* ----------------------------------------------------------------
 * Scalar parsers (pure functions; callers report errors)
 * ----------------------------------------------------------------
 */

static bool
parse_int64(const char *s, int64 *out)
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

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
digits(const char *s, int n, int *out)
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

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
		s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*days = days_from_civil(y, m, d);
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
	if ((s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hh) ||
		s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &ss))
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

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
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

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * Decode base64 (standard alphabet on the wire; the URL-safe one is
 * accepted too).  Padding is optional, but nothing may follow it.  With out
 * NULL only validates.  Returns the decoded length, or -1 if invalid.
 */
static int
b64_decode(const char *s, int len, char *out)
{
	int			n = 0;
	uint32		acc = 0;
	int			bits = 0;
	int			i;
	int			pad = 0;

	for (i = 0; i < len; i++)
	{
		int			v;

		if (s[i] == '=')
			break;
		v = b64_value((unsigned char) s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (out)
				out[n] = (char) ((acc >> bits) & 0xFF);
			n++;
		}
	}
	for (; i < len; i++, pad++)
		if (s[i] != '=')
			return -1;
	/* 6 leftover bits cannot encode a byte; padding must complete a quantum */
	if (bits >= 6 || pad > 2 || (pad > 0 && (i % 4) != 0))
		return -1;
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
static const char *
server_string(FaunaConv *cv, FaunaVType t, const char *s, int *len,
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

		errcb.callback = conv_error_context;
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

/* server_string() of a string token */
static inline const char *
tok_server_string(FaunaConv *cv, FaunaVType t, JV *v, int *len)
{
	*len = (int) v->n;
	return server_string(cv, t, v->u.s, len, (v->flags & JF_NUL) != 0);
}

/* The text of a tag's string payload; one with a NUL is invalid. */
static const char *
tag_text(FaunaConv *cv, FaunaVType t, JV *inner)
{
	if (inner->flags & JF_NUL)
		invalid_value(cv, t, inner->u.s);
	return jtext(inner);
}

/* URL-safe base64 of a @bytes value (validated). */
static char *
bytes_export(FaunaConv *cv, JV *inner, int *outlen)
{
	int			len;
	const char *s = jstr(inner, &len);
	char	   *r;

	if (b64_decode(s, len, NULL) < 0)
		invalid_value(cv, FV_BYTES, s);
	r = palloc(len + 1);
	for (int i = 0; i < len; i++)
		r[i] = s[i] == '+' ? '-' : (s[i] == '/' ? '_' : s[i]);
	r[len] = '\0';
	*outlen = len;
	return r;
}

/* Validated int value of @int / @long. */
static int64
get_int(FaunaConv *cv, FaunaVType t, JV *inner)
{
	const char *s = tag_text(cv, t, inner);
	int64		v;

	if (!parse_int64(s, &v) ||
		(t == FV_INT && (v < PG_INT32_MIN || v > PG_INT32_MAX)))
		invalid_value(cv, t, s);
	return v;
}

static double
get_double(FaunaConv *cv, JV *inner, bool *special)
{
	const char *s = tag_text(cv, FV_DOUBLE, inner);
	double		d;

	if (!parse_double(s, &d, special))
		invalid_value(cv, FV_DOUBLE, s);
	return d;
}

/* ----------------------------------------------------------------
 * Refs: fauna-protocol.md section 4
 * ----------------------------------------------------------------
 */

typedef struct RefExport
{
	JV		   *id;				/* a string token */
	JV		   *coll;			/* NULL: not a document ref */
	const char *type;
} RefExport;

/* Schema collections whose documents export as "other refs". */
static const struct
{
	const char *mod;
	const char *type;
}			schema_colls[] = {
	{"Collection", "collection"},
	{"Database", "database"},
	{"Function", "function"},
	{"Role", "role"},
	{"AccessProvider", "access_provider"},
	{"Key", "key"},
	{"Token", "token"},
	{"Credential", "credential"},
};

/* The string of {"@mod": string}, else NULL. */
static JV *
mod_name(JV *coll)
{
	JV		   *mod;
	JV		   *key = single_key(coll, &mod);

	if (key != NULL && JV_KEY_IS(key, "@mod") && mod->type == JT_STRING)
		return mod;
	return NULL;
}

/*
 * From the object of a @ref or @doc ({"id"|"name", "coll":{"@mod"}}).
 */
static void
ref_export(FaunaConv *cv, FaunaVType t, JV *obj, RefExport *r)
{
	JV		   *id;
	JV		   *mod;

	if (t == FV_REF && cv->page->v4)
	{
		ref_export_v4(cv, obj, r);
		return;
	}
	if ((id = JV_GET(obj, "id")) == NULL)
		id = JV_GET(obj, "name");
	if (!jv_is(id, JT_STRING))
		invalid_value(cv, t, "(without id)");
	r->id = id;
	r->coll = NULL;
	r->type = "unknown";

	if ((mod = mod_name(JV_GET(obj, "coll"))) != NULL)
	{
		for (int i = 0; i < (int) lengthof(schema_colls); i++)
			if (strcmp(mod->u.s, schema_colls[i].mod) == 0)
			{
				r->type = schema_colls[i].type;
				return;
			}
		r->coll = mod;
		r->type = "document";
	}
}

/*
 * Names FQL v10 keeps for its own modules and schema collections: Fauna
 * refuses to create a collection of one of these names.
 */
static const char *const v10_reserved_collections[] = {
	"AccessProvider", "Any", "Array", "Boolean", "Bytes", "Collection",
	"Credential", "Database", "Date", "Double", "Function", "Int", "Key",
	"Long", "Math", "Never", "Null", "Number", "Object", "Query", "Role",
	"Set", "String", "Time", "Token", "events", NULL
};

bool
fauna_is_reserved_collection_name(const char *name)
{
	for (int i = 0; v10_reserved_collections[i]; i++)
		if (strcmp(name, v10_reserved_collections[i]) == 0)
			return true;
	return false;
}

/*
 * A module value ({"@mod": name}) as the other references are exported:
 * a collection is {"id": name, "type": "collection"}, as FQL v4 sends the
 * same value (Ref(name, Ref("collections"))); a built-in module (Math,
 * Time, Key ...) is type "module".
 */
static void
mod_export(JV *name, RefExport *r)
{
	r->id = name;
	r->coll = NULL;
	r->type = fauna_is_reserved_collection_name(name->u.s)
		? "module" : "collection";
}

static void
set_string(FaunaConv *cv, JsonbValue *out, FaunaVType t, const char *s,
		   int len, bool has_nul)
{
	s = server_string(cv, t, s, &len, has_nul);
	out->type = jbvString;
	out->val.string.val = (char *) s;
	out->val.string.len = len;
}

/* A string token, as a key or a value */
static inline void
set_tok_string(FaunaConv *cv, JsonbValue *out, FaunaVType t, JV *v)
{
	set_string(cv, out, t, v->u.s, (int) v->n, (v->flags & JF_NUL) != 0);
}

#define SET_KEY_LIT(cv, out, lit) \
	set_string((cv), (out), FV_STRING, (lit), sizeof(lit) - 1, false)

/*
 * {"id", "collection"?, "type"}, its pairs already in jsonb's key order
 * (shorter keys first): id, type, collection.
 */
static void
build_ref(FaunaConv *cv, RefExport *r, JsonbValue *out)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * 3);
	int			n = 0;

	SET_KEY_LIT(cv, &pairs[n].key, "id");
	set_tok_string(cv, &pairs[n].value, FV_STRING, r->id);
	pairs[n].order = n;
	n++;
	SET_KEY_LIT(cv, &pairs[n].key, "type");
	set_string(cv, &pairs[n].value, FV_STRING, r->type, strlen(r->type), false);
	pairs[n].order = n;
	n++;
	if (r->coll)
	{
		SET_KEY_LIT(cv, &pairs[n].key, "collection");
		set_tok_string(cv, &pairs[n].value, FV_STRING, r->coll);
		pairs[n].order = n;
		n++;
	}
	out->type = jbvObject;
	out->val.object.nPairs = n;
	out->val.object.pairs = pairs;
}

/* ----------------------------------------------------------------
 * jsonb: built straight from the tape
 *
 * A value becomes a tree of JsonbValues -- objects with their pairs in
 * jsonb's key order, arrays -- sized from the tape's counts, and the tree
 * one jsonb Datum by a single JsonbValueToJsonb().  pushJsonbValue(), used
 * before, sorted every object with qsort_arg() through a comparator
 * callback, a quarter of a scan's CPU (bench/RESULTS.md); objects here are
 * mostly small and sorted by insertion.
 * ----------------------------------------------------------------
 */

/* Keys of a @doc that are not user fields. */
static inline bool
is_reserved_key(JV *key)
{
	switch (key->n)
	{
		case 2:
			return memcmp(key->u.s, "id", 2) == 0 || memcmp(key->u.s, "ts", 2) == 0;
		case 3:
			return memcmp(key->u.s, "ttl", 3) == 0;
		case 4:
			return memcmp(key->u.s, "coll", 4) == 0;
		default:
			return false;
	}
}

/* jsonb's order of object keys: shorter first, then bytewise. */
static inline int
jsonb_key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len ? -1 : 1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/* For large objects: key order, then input order (a stable sort). */
static int
jsonb_pair_cmp(const void *a, const void *b)
{
	const JsonbPair *pa = (const JsonbPair *) a;
	const JsonbPair *pb = (const JsonbPair *) b;
	int			c = jsonb_key_cmp(&pa->key, &pb->key);

	if (c != 0)
		return c;
	return pa->order < pb->order ? -1 : 1;
}

/*
 * Put pairs (numbered in input order) into jsonb's key order and drop
 * duplicate keys, keeping the last one as pushJsonbValue() does.  Returns
 * how many are left.
 */
static int
sort_pairs(JsonbPair *pairs, int n)
{
	int			w;

	if (n > 16)
		qsort(pairs, n, sizeof(JsonbPair), jsonb_pair_cmp);
	else
		for (int i = 1; i < n; i++)
		{
			JsonbPair	tmp = pairs[i];
			int			j = i - 1;

			while (j >= 0 && jsonb_key_cmp(&pairs[j].key, &tmp.key) > 0)
			{
				pairs[j + 1] = pairs[j];
				j--;
			}
			pairs[j + 1] = tmp;
		}

	/* equal keys are adjacent, in input order: keep each run's last */
	w = 0;
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n && jsonb_key_cmp(&pairs[i].key, &pairs[i + 1].key) == 0)
			continue;
		pairs[w++] = pairs[i];
	}
	return w;
}

static void build_jsonb(FaunaConv *cv, JV *v, JsonbValue *out);

static void
build_object(FaunaConv *cv, JV *obj, bool user_fields_only, JsonbValue *out)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * Max(obj->u.count, 1));
	JV		   *key;
	JV		   *val;
	uint32		i;
	int			n = 0;

	JV_FOREACH_MEMBER(obj, key, val, i)
	{
		if (user_fields_only && is_reserved_key(key))
			continue;
		set_tok_string(cv, &pairs[n].key, FV_STRING, key);
		build_jsonb(cv, val, &pairs[n].value);
		pairs[n].order = n;
		n++;
	}
	out->type = jbvObject;
	out->val.object.nPairs = sort_pairs(pairs, n);
	out->val.object.pairs = pairs;
}

static void
set_numeric(JsonbValue *out, Numeric num)
{
	out->type = jbvNumeric;
	out->val.numeric = num;
}

static Numeric
numeric_from_text(FaunaConv *cv, const char *s, int32 typmod)
{
	ErrorContextCallback errcb;
	Datum		d;

	errcb.callback = conv_error_context;
	errcb.arg = cv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	d = DirectFunctionCall3(numeric_in, CStringGetDatum(s),
							ObjectIdGetDatum(InvalidOid),
							Int32GetDatum(typmod));
	error_context_stack = errcb.previous;
	return DatumGetNumeric(d);
}

/* One value, in the export format, into *out. */
static void
build_jsonb(FaunaConv *cv, JV *v, JsonbValue *out)
{
	JV		   *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			len;
	const char *s;

	check_stack_depth();
	switch (t)
	{
		case FV_NULL:
			out->type = jbvNull;
			break;
		case FV_BOOL:
			out->type = jbvBool;
			out->val.boolean = (v->type == JT_TRUE);
			break;
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
			set_tok_string(cv, out, t, inner);
			break;
		case FV_MOD:
			{
				RefExport	r;

				mod_export(inner, &r);
				build_ref(cv, &r, out);
			}
			break;
		case FV_BYTES:
			s = bytes_export(cv, inner, &len);
			set_string(cv, out, t, s, len, false);
			break;
		case FV_INT:
		case FV_LONG:
			set_numeric(out, int64_to_numeric(get_int(cv, t, inner)));
			break;
		case FV_DOUBLE:
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				if (special)
					set_tok_string(cv, out, t, inner);
				else
					set_numeric(out, numeric_from_text(cv, inner->u.s, -1));
			}
			break;
		case FV_NUMBER:
			set_numeric(out, numeric_from_text(cv, v->u.s, -1));
			break;
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			/* a string holding the value's wire JSON */
			s = wire_json(v, &len);
			set_string(cv, out, t, s, len, false);
			break;
		case FV_DOC:
		case FV_REF:
			{
				RefExport	r;

				ref_export(cv, t, inner, &r);
				build_ref(cv, &r, out);
			}
			break;
		case FV_OBJECT:
			build_object(cv, inner, false, out);
			break;
		case FV_ARRAY:
			{
				JsonbValue *elems = palloc(sizeof(JsonbValue) * Max(v->u.count, 1));
				JV		   *el;
				uint32		i;

				JV_FOREACH_ELEM(v, el, i)
					build_jsonb(cv, el, &elems[i]);
				out->type = jbvArray;
				out->val.array.nElems = (int) v->u.count;
				out->val.array.elems = elems;
				out->val.array.rawScalar = false;
			}
			break;
	}
}

/*
 * A jsonb Datum of a value (a scalar becomes a raw scalar jsonb).
 * user_fields_only: v is a @doc, and the value its user fields.
 */
static Datum
make_jsonb(FaunaConv *cv, JV *v, bool user_fields_only)
{
	JsonbValue	root;

	if (user_fields_only)
		build_object(cv, v, true, &root);
	else
		build_jsonb(cv, v, &root);
	return JsonbPGetDatum(JsonbValueToJsonb(&root));
}

/* ----------------------------------------------------------------
 * json text in the export format
 * ----------------------------------------------------------------
 */

static void
append_json_string(FaunaConv *cv, StringInfo buf, FaunaVType t,
				   const char *s, int len, bool has_nul)
{
	s = server_string(cv, t, s, &len, has_nul);
	append_quoted_json(buf, s, len);
}

static inline void
append_tok_string(FaunaConv *cv, StringInfo buf, FaunaVType t, JV *v)
{
	append_json_string(cv, buf, t, v->u.s, (int) v->n,
					   (v->flags & JF_NUL) != 0);
}

static void
append_object(FaunaConv *cv, StringInfo buf, JV *obj, bool user_fields_only)
{
	bool		first = true;
	JV		   *key;
	JV		   *val;
	uint32		i;

	appendStringInfoCharMacro(buf, '{');
	JV_FOREACH_MEMBER(obj, key, val, i)
	{
		if (user_fields_only && is_reserved_key(key))
			continue;
		if (!first)
			appendBinaryStringInfo(buf, ", ", 2);
		first = false;
		append_tok_string(cv, buf, FV_STRING, key);
		appendBinaryStringInfo(buf, ": ", 2);
		append_export_json(cv, buf, val);
	}
	appendStringInfoCharMacro(buf, '}');
}

static void
append_ref(FaunaConv *cv, StringInfo buf, RefExport *r)
{
	appendStringInfoString(buf, "{\"id\": ");
	append_tok_string(cv, buf, FV_STRING, r->id);
	if (r->coll)
	{
		appendStringInfoString(buf, ", \"collection\": ");
		append_tok_string(cv, buf, FV_STRING, r->coll);
	}
	appendStringInfo(buf, ", \"type\": \"%s\"}", r->type);
}

/* The export-format JSON text of a value (the separators of jsonb's output). */
static void
append_export_json(FaunaConv *cv, StringInfo buf, JV *v)
{
	JV		   *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			len;
	const char *s;

	check_stack_depth();
	switch (t)
	{
		case FV_NULL:
			appendStringInfoString(buf, "null");
			break;
		case FV_BOOL:
			appendStringInfoString(buf, v->type == JT_TRUE ? "true" : "false");
			break;
		case FV_STRING:
		case FV_TIME:
		case FV_DATE:
			append_tok_string(cv, buf, t, inner);
			break;
		case FV_MOD:
			{
				RefExport	r;

				mod_export(inner, &r);
				append_ref(cv, buf, &r);
			}
			break;
		case FV_BYTES:
			s = bytes_export(cv, inner, &len);
			append_json_string(cv, buf, t, s, len, false);
			break;
		case FV_INT:
		case FV_LONG:
			appendStringInfo(buf, INT64_FORMAT, get_int(cv, t, inner));
			break;
		case FV_DOUBLE:
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				if (special)
					append_tok_string(cv, buf, t, inner);
				else
					appendBinaryStringInfo(buf, inner->u.s, inner->n);
			}
			break;
		case FV_NUMBER:
			appendBinaryStringInfo(buf, v->u.s, v->n);
			break;
		case FV_SET:
		case FV_STREAM:
		case FV_QUERY:
			s = wire_json(v, &len);
			append_json_string(cv, buf, t, s, len, false);
			break;
		case FV_DOC:
		case FV_REF:
			{
				RefExport	r;

				ref_export(cv, t, inner, &r);
				append_ref(cv, buf, &r);
			}
			break;
		case FV_OBJECT:
			append_object(cv, buf, inner, false);
			break;
		case FV_ARRAY:
			{
				JV		   *el;
				uint32		i;

				appendStringInfoCharMacro(buf, '[');
				JV_FOREACH_ELEM(v, el, i)
				{
					if (i > 0)
						appendBinaryStringInfo(buf, ", ", 2);
					append_export_json(cv, buf, el);
				}
				appendStringInfoCharMacro(buf, ']');
			}
			break;
	}
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
			return bytes_export(cv, inner, len);
		case FV_INT:
		case FV_LONG:
			s = psprintf(INT64_FORMAT, get_int(cv, t, inner));
			*len = strlen(s);
			return s;
		case FV_DOUBLE:
			{
				bool		special;

				(void) get_double(cv, inner, &special);
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
			s = wire_json(v, len);
			return server_string(cv, t, s, len, false);
		default:
			initStringInfo(&buf);
			append_export_json(cv, &buf, v);
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

	errcb.callback = conv_error_context;
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
			v = get_int(cv, t, inner);
			break;
		case FV_NUMBER:
			if (v4_number_int64(inner, &v))
				break;
			/* FALLTHROUGH */
		case FV_DOUBLE:
			{
				bool		special;
				double		d = get_double(cv, inner, &special);

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
			return (double) get_int(cv, t, inner);
		case FV_NUMBER:
			return strtod(inner->u.s, NULL);
		case FV_DOUBLE:
			{
				double		d = get_double(cv, inner, &special);

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
		invalid_value(cv, FV_TIME, s);
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
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int			len;
	const char *s;

	Assert(t != FV_NULL);
	if (in_array && t == FV_ARRAY && typid != JSONBOID && typid != JSONOID)
		cannot_convert(cv, t, typid);

	/*
	 * Over FQL v4 a NaN or infinite double arrives as the string "NaN",
	 * "Infinity" or "-Infinity" (v4_special_double): the types that hold
	 * those doubles take the string as the double, as the v10 path's
	 * {"@double": "NaN"}.  (v4 cannot tell such a double from a string;
	 * a string is not a number for these types either way.)
	 */
	if (t == FV_STRING && cv->page->v4 &&
		(typid == NUMERICOID || typid == FLOAT4OID || typid == FLOAT8OID) &&
		v4_special_double(inner))
		t = FV_DOUBLE;

	switch (typid)
	{
		case TEXTOID:
			s = text_form(cv, t, v, inner, &len);
			return PointerGetDatum(cstring_to_text_with_len(s, len));
		case JSONBOID:
			return make_jsonb(cv, v, false);
		case JSONOID:
			{
				StringInfoData buf;

				initStringInfo(&buf);
				append_export_json(cv, &buf, v);
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
				int64		i = get_int(cv, t, inner);

				if (typmod < 0)
					return NumericGetDatum(int64_to_numeric(i));
				return NumericGetDatum(numeric_from_text(cv, psprintf(INT64_FORMAT, i),
														 typmod));
			}
			if (t == FV_DOUBLE || t == FV_NUMBER)
			{
				bool		special;

				(void) get_double(cv, inner, &special);
				return NumericGetDatum(numeric_from_text(cv, inner->u.s, typmod));
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
					invalid_value(cv, t, s);
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
					invalid_value(cv, t, s);
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
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
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
	t = classify(v, &inner, what);
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
		if (mod_name(JV_GET(e->fields, "coll")) != NULL)
		{
			/* a document: the same export as a ref to it */
			ref_export(cv, FV_DOC, e->fields, &r);
		}
		if (col->typid == JSONBOID)
		{
			JsonbValue	ref;

			build_ref(cv, &r, &ref);
			return JsonbPGetDatum(JsonbValueToJsonb(&ref));
		}
		else
		{
			StringInfoData buf;

			initStringInfo(&buf);
			append_ref(cv, &buf, &r);
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

		if (!parse_int64(e->id, &id))
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
				return NumericGetDatum(numeric_from_text(cv, e->id, col->typmod));
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

	if (i < 0 || i >= page->count)
		elog(ERROR, "fauna_fdw: element %d out of range of a page of %d",
			 i, page->count);
	e = &page->elems[i];
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
				if (mod_name(v) != NULL)
					v = mod_name(v);
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
				values[slot] = make_jsonb(&cv, v, true);
			else if (col->typid == JSONOID || col->typid == TEXTOID)
			{
				StringInfoData buf;

				initStringInfo(&buf);
				append_object(&cv, &buf, v, true);
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

/* ----------------------------------------------------------------
 * Error bodies
 * ----------------------------------------------------------------
 */

/*
 * Parse a small body (an error answer) into a tape in CurrentMemoryContext;
 * NULL when it is not JSON.  Whatever follows the first value is ignored.
 */
static JV *
parse_small_body(const char *body, size_t len)
{
	JParse	   *jp;

	if (body == NULL || len == 0 || len > FAUNA_MAX_BODY)
		return NULL;
	jp = palloc0(sizeof(JParse));
	jp->buf = palloc(len + 1);
	memcpy(jp->buf, body, len);
	jp->buf[len] = '\0';
	jp->len = len;
	jp->cxt = CurrentMemoryContext;
	jp->allow_trailing = true;
	if (!json_parse_all(jp))
		return NULL;
	return jp->toks;
}

bool
fauna_parse_error_body(const char *body, size_t len, char **code,
					   char **message)
{
	JV		   *root;
	JV		   *err;
	JV		   *c;
	JV		   *m;

	*code = NULL;
	*message = NULL;
	root = parse_small_body(body, len);
	if (root == NULL)
		return false;
	err = JV_GET(root, "error");
	c = JV_GET(err, "code");
	if (!jv_is(c, JT_STRING))
		return false;
	m = JV_GET(err, "message");
	*code = pstrdup(c->u.s);
	*message = pstrdup(jv_is(m, JT_STRING) ? m->u.s : "");
	return true;
}

/* ----------------------------------------------------------------
 * FQL v4 (POST /): pages, documents, refs, errors
 *
 * A v4 response {"resource": value} becomes the same FaunaPage as a
 * /query/1 response, with page->v4 set so that the converters read the v4
 * tags (@ts, @obj, @query; nested @ref) and plain JSON numbers.  Each v4
 * document {"ref", "ts": µs, "data", "ttl"?} is given, at page build time,
 * the shape the rest of this file knows: an object
 * {"id", "coll": {"@mod"}, "ts": {"@time"}, "ttl"?, "data"} (a small tape
 * of its own in the page's memory, "ttl" and "data" copied into it), so
 * column lookup, ids and conversions need no v4 cases.  The page's "after"
 * is the cursor array's JSON text, sent back verbatim.
 * ----------------------------------------------------------------
 */

/* The response being parsed is an FQL v4 one. */
void
fauna_parser_set_v4(FaunaParser *parser)
{
	parser->v4 = true;
}

/* The x-txn-time of the response (v4 answers carry it in a header). */
void
fauna_page_set_txn_ts(FaunaPage *page, int64 txn_ts)
{
	if (page->stats.txn_ts == 0)
		page->stats.txn_ts = txn_ts;
}

/* A plain JSON number that is an integer in the int64 range. */
static bool
v4_number_int64(JV *v, int64 *out)
{
	return jv_is(v, JT_NUMBER) && (v->flags & JF_INT) &&
		parse_int64(v->u.s, out);
}

/*
 * The Fauna type of a v4 number.  v4 numbers are untagged, but the core
 * writes a long as its digits and a double with Java's Double.toString,
 * which always has a "." or an exponent ("12.0", "1.0E10"): so an integer
 * literal is a long and anything else a double.  A long that fits 32 bits
 * is an int, as the v10 path receives it ({"@int"}), so that conversions
 * and their errors are the same on both paths.  An integer beyond int64
 * (Fauna never sends one) stays an untyped number.
 */
static FaunaVType
v4_number_type(JV *v)
{
	int64		i;

	if (!(v->flags & JF_INT))
		return FV_DOUBLE;
	if (!parse_int64(v->u.s, &i))
		return FV_NUMBER;
	return (i >= PG_INT32_MIN && i <= PG_INT32_MAX) ? FV_INT : FV_LONG;
}

/*
 * Does a v4 string stand for a double that JSON cannot write?  The core's
 * JSON writer quotes NaN and the infinities ("NaN", "Infinity",
 * "-Infinity"), so over v4 they arrive as strings.
 */
static bool
v4_special_double(JV *v)
{
	return jv_is(v, JT_STRING) &&
		(JV_KEY_IS(v, "NaN") || JV_KEY_IS(v, "Infinity") ||
		 JV_KEY_IS(v, "-Infinity"));
}

/*
 * A v4 ts (µs) as the time string the v10 path receives for the same
 * instant: Java's Instant.toString, whose fraction is omitted when zero
 * and otherwise has 3 or 6 digits ("2024-01-01T00:00:00.021Z"), so that
 * ts read as text is the same either way.  format_unix_micros() always
 * writes 6 digits (the form of a feed event's txn_ts); trimmed here.
 */
static bool
v4_format_time(int64 us, char *buf, size_t size)
{
	char	   *frac;

	if (!format_unix_micros(us, buf, size))
		return false;
	frac = strchr(buf, '.');
	Assert(frac != NULL && strlen(frac) == 8);	/* ".uuuuuuZ" */
	if (strncmp(frac + 1, "000000", 6) == 0)
		strcpy(frac, "Z");
	else if (strncmp(frac + 4, "000", 3) == 0)
		strcpy(frac + 4, "Z");
	return true;
}

/* Native v4 classes (refs {"id": name} with no collection) and their type. */
static const struct
{
	const char *cls;
	const char *type;
}			v4_classes[] = {
	{"collections", "collection"},
	{"databases", "database"},
	{"indexes", "index"},
	{"functions", "function"},
	{"roles", "role"},
	{"access_providers", "access_provider"},
	{"keys", "key"},
	{"tokens", "token"},
	{"credentials", "credential"},
};

/* The payload of a {"@ref": {...}} value, else NULL. */
static JV *
v4_ref_payload(JV *v)
{
	JV		   *payload;
	JV		   *key = single_key(v, &payload);

	if (key == NULL || !JV_KEY_IS(key, "@ref") || payload->type != JT_OBJECT)
		return NULL;
	return payload;
}

/* The "id" string of a ref payload, else NULL. */
static JV *
v4_ref_id(JV *payload)
{
	JV		   *id = JV_GET(payload, "id");

	return jv_is(id, JT_STRING) ? id : NULL;
}

/*
 * Export a v4 ref (the object inside "@ref"): a document of a user
 * collection {"id","collection","type":"document"}, a ref into a native
 * class {"id","type":<class type>}, anything else (a class itself, a ref
 * nested deeper, a scoped ref of another database) type "unknown".
 */
static void
ref_export_v4(FaunaConv *cv, JV *obj, RefExport *r)
{
	JV		   *cls;
	JV		   *clscls;
	JV		   *name;

	r->id = v4_ref_id(obj);
	if (r->id == NULL)
		invalid_value(cv, FV_REF, "(without id)");
	r->coll = NULL;
	r->type = "unknown";
	if (JV_GET(obj, "database") != NULL)
		return;
	cls = v4_ref_payload(JV_GET(obj, "collection"));
	if ((name = v4_ref_id(cls)) == NULL || JV_GET(cls, "database") != NULL)
		return;
	if ((clscls = JV_GET(cls, "collection")) == NULL)
	{
		/* Ref(id, Ref("keys")): an instance of a native class */
		for (int i = 0; i < (int) lengthof(v4_classes); i++)
			if (strcmp(name->u.s, v4_classes[i].cls) == 0)
			{
				r->type = v4_classes[i].type;
				return;
			}
		return;
	}
	clscls = v4_ref_payload(clscls);
	if (clscls != NULL &&
		JV_GET(clscls, "collection") == NULL &&
		JV_GET(clscls, "database") == NULL &&
		(name = v4_ref_id(clscls)) != NULL &&
		JV_KEY_IS(name, "collections"))
	{
		/* Ref(id, Ref(coll, Ref("collections"))): a document */
		r->coll = v4_ref_id(cls);
		r->type = "document";
	}
}

/* Tokens of the subtree of v. */
static inline uint32
subtree_len(JV *v)
{
	return (uint32) (jv_next(v) - v);
}

/*
 * Record one v4 document as an element, in the normalized shape described
 * above.  A null element (Get of a missing document) gives no element.
 */
static void
v4_add_element(FaunaPage *page, JV *v, int index)
{
	JV		   *ref;
	JV		   *payload;
	JV		   *ts;
	JV		   *ttl;
	JV		   *data;
	JV		   *id;
	JV		   *coll = NULL;
	JV		   *action;
	int64		us;
	char		iso[64];
	char		detail[160];
	FaunaElem  *e;
	JTok	   *obj;
	uint32		n;
	uint32		k;
	uint32		count;

	if (v->type == JT_NULL)
		return;
	if (v->type != JT_OBJECT ||
		(ref = JV_GET(v, "ref")) == NULL ||
		(payload = v4_ref_payload(ref)) == NULL ||
		(id = v4_ref_id(payload)) == NULL)
	{
		snprintf(detail, sizeof(detail),
				 "Element %d of the page is not a document with a \"ref\".", index);
		invalid_response(page->what, detail);
	}
	if (id->flags & JF_NUL)
	{
		snprintf(detail, sizeof(detail),
				 "The id of element %d of the page is not valid UTF-8.", index);
		invalid_response(page->what, detail);
	}
	ts = JV_GET(v, "ts");
	if (!v4_number_int64(ts, &us) || !v4_format_time(us, iso, sizeof(iso)))
	{
		snprintf(detail, sizeof(detail),
				 "Element %d of the page has no \"ts\" in microseconds.", index);
		invalid_response(page->what, detail);
	}
	coll = v4_ref_id(v4_ref_payload(JV_GET(payload, "collection")));
	ttl = JV_GET(v, "ttl");
	data = JV_GET(v, "data");

	/* {"id", "coll"?: {"@mod"}, "ts": {"@time"}, "ttl"?, "data"} */
	n = 1 + 2 + (coll ? 4 : 0) + 4 + (ttl ? 1 + subtree_len(ttl) : 0) +
		1 + (data ? subtree_len(data) : 1);
	obj = MemoryContextAlloc(page->cxt, sizeof(JTok) * n);
	k = 1;
	count = 0;
	synth_string(&obj[k++], "id", 2);
	obj[k++] = *id;
	count++;
	if (coll)
	{
		synth_string(&obj[k++], "coll", 4);
		synth_object(&obj[k++], 1, 3);
		synth_string(&obj[k++], "@mod", 4);
		obj[k++] = *coll;
		count++;
	}
	synth_string(&obj[k++], "ts", 2);
	synth_object(&obj[k++], 1, 3);
	synth_string(&obj[k++], "@time", 5);
	{
		char	   *s = MemoryContextStrdup(page->cxt, iso);

		synth_string(&obj[k++], s, strlen(s));
	}
	count++;
	if (ttl)
	{
		synth_string(&obj[k++], "ttl", 3);
		memcpy(&obj[k], ttl, sizeof(JTok) * subtree_len(ttl));
		k += subtree_len(ttl);
		count++;
	}
	synth_string(&obj[k++], "data", 4);
	if (data)
	{
		memcpy(&obj[k], data, sizeof(JTok) * subtree_len(data));
		k += subtree_len(data);
	}
	else
		synth_object(&obj[k++], 0, 1);
	count++;
	Assert(k == n);
	synth_object(&obj[0], count, n);

	e = &page->elems[page->count];
	e->fields = obj;
	e->idobj = &obj[2];
	e->id = e->idobj->u.s;
	e->is_doc = false;			/* user fields are under "data" */

	/*
	 * An event of an event table (fql_v4.c maps each one to a document
	 * plus its "action"): ts is the event's time.
	 */
	action = JV_GET(v, "action");
	if (action != NULL)
	{
		if (!jv_is(action, JT_STRING) ||
			(!JV_KEY_IS(action, "add") && !JV_KEY_IS(action, "update") &&
			 !JV_KEY_IS(action, "remove")))
		{
			snprintf(detail, sizeof(detail),
					 "The \"action\" of event %d is not add, update or remove.", index);
			invalid_response(page->what, detail);
		}
		/* as a v10 feed event's txn_ts (page_build_events) */
		(void) format_unix_micros(us, iso, sizeof(iso));
		e->action = action;
		e->event_ts = synth_time(page, iso);
		e->txn_ts = us;
	}
	page->v4raw[page->count] = v;
	page->count++;
}

/*
 * Build a page from {"resource": X}: X a page {"data": [...], "after"?,
 * "before"?}, a single document, or null (no document).
 */
static void
page_build_v4(FaunaPage *page)
{
	JV		   *root = page->root;
	JV		   *res = JV_GET(root, "resource");
	JV		   *data = NULL;
	JV		   *after;
	uint32		n = 0;

	page->v4 = true;
	if (res == NULL)
		invalid_response(page->what, "The response has no \"resource\".");

	if (res->type == JT_NULL)
		n = 0;
	else if (res->type == JT_OBJECT &&
			 jv_is(data = JV_GET(res, "data"), JT_ARRAY) &&
			 JV_GET(res, "ref") == NULL)
	{
		if ((after = JV_GET(res, "after")) != NULL)
		{
			MemoryContext old;

			/* an array; an object for events: true ({ts, action, document}) */
			if (after->type != JT_ARRAY && after->type != JT_OBJECT)
				invalid_response(page->what,
								 "The \"after\" cursor of the page is not an array or an object.");
			old = MemoryContextSwitchTo(page->cxt);
			page->after = wire_json(after, NULL);
			MemoryContextSwitchTo(old);
		}
		n = data->u.count;
	}
	else if (res->type == JT_OBJECT)
	{
		data = NULL;
		n = 1;
	}
	else
		invalid_response(page->what,
						 "The \"resource\" is not a page, a document or null.");

	page->elems = MemoryContextAllocZero(page->cxt, sizeof(FaunaElem) * Max(n, 1));
	page->v4raw = MemoryContextAllocZero(page->cxt, sizeof(JV *) * Max(n, 1));
	if (n == 1 && data == NULL)
		v4_add_element(page, res, 0);
	else if (data != NULL)
	{
		JV		   *el;
		uint32		i;

		JV_FOREACH_ELEM(data, el, i)
			v4_add_element(page, el, (int) i);
	}
}

/* Is this v4 index "values" entry {"field": ["name"]} (or "name")? */
static bool
v4_is_field(JV *value, const char *name)
{
	JV		   *field = JV_GET(value, "field");
	JV		   *reverse;

	if (field == NULL)
		return false;
	if ((reverse = JV_GET(value, "reverse")) != NULL &&
		reverse->type != JT_FALSE)
		return false;
	if (field->type == JT_ARRAY)
	{
		if (field->u.count != 1)
			return false;
		field = field + 1;
	}
	return field->type == JT_STRING && strcmp(field->u.s, name) == 0;
}

/*
 * Element i of a page of v4 index definitions (Get(Index(...)) of each
 * index): its name, the collection it indexes, and the shape that
 * indexes.c judges (terms, values, "active").  *collection is NULL when
 * the source is not a single collection (several sources, or one with
 * bindings): such an index could return documents of other collections,
 * and is never used.  Returns false when the element is not an index
 * definition.  Strings are palloc'd; shape->name is *name.
 */
bool
fauna_v4_page_index(FaunaPage *page, int i, char **name, char **collection,
					FaunaIndexShape *shape)
{
	JV		   *ix;
	JV		   *x;
	JV		   *src;

	if (i < 0 || i >= page->count || page->v4raw == NULL)
		return false;
	ix = page->v4raw[i];
	x = JV_GET(ix, "name");
	if (!jv_is(x, JT_STRING) || (x->flags & JF_NUL))
		return false;
	*name = pstrdup(x->u.s);
	src = v4_ref_id(v4_ref_payload(JV_GET(ix, "source")));
	*collection = src && !(src->flags & JF_NUL) ? pstrdup(src->u.s) : NULL;

	memset(shape, 0, sizeof(FaunaIndexShape));
	shape->name = *name;
	shape->v4 = true;
	shape->ready = jv_is(JV_GET(ix, "active"), JT_TRUE);
	x = JV_GET(ix, "terms");
	shape->has_terms = x != NULL && x->type != JT_NULL &&
		!(x->type == JT_ARRAY && x->u.count == 0);
	x = JV_GET(ix, "values");
	if (jv_is(x, JT_ARRAY) && x->u.count >= 1)
	{
		/* v4_is_field() is true only for an ascending field */
		shape->ts_first = shape->ts_ascending = v4_is_field(jv_elem(x, 0), "ts");
		shape->ref_second_only = x->u.count == 2 &&
			v4_is_field(jv_elem(x, 1), "ref");
	}
	return true;
}

/*
 * Parse a v4 error body {"errors": [{"code", "description", "position"?}]}:
 * the first error's code and description, and its position as JSON text
 * ("" when absent).  Returns false when the body is not such an object;
 * never throws but on OOM.
 */
bool
fauna_parse_v4_error_body(const char *body, size_t len, char **code,
						  char **description, char **position)
{
	JV		   *root;
	JV		   *errors;
	JV		   *err;
	JV		   *c;
	JV		   *d;
	JV		   *p;

	*code = *description = *position = NULL;
	root = parse_small_body(body, len);
	if (root == NULL)
		return false;
	errors = JV_GET(root, "errors");
	if (!jv_is(errors, JT_ARRAY) || errors->u.count == 0)
		return false;
	err = errors + 1;
	c = JV_GET(err, "code");
	if (!jv_is(c, JT_STRING))
		return false;
	d = JV_GET(err, "description");
	p = JV_GET(err, "position");
	*code = pstrdup(c->u.s);
	*description = pstrdup(jv_is(d, JT_STRING) ? d->u.s : "");
	*position = p ? wire_json(p, NULL) : pstrdup("");
	return true;
}

/* ----------------------------------------------------------------
 * The fields of a document and their Fauna types, for the type inference
 * of IMPORT FOREIGN SCHEMA (infer.c), which needs what the conversions
 * above erase: a time and a string both become text.
 * ----------------------------------------------------------------
 */

/* A double holds every integer up to 2^53 exactly. */
#define FAUNA_DOUBLE_EXACT_INT	(INT64CONST(1) << 53)

/* The kind of one value; *wide when an integer a double cannot hold. */
static FaunaKind
value_kind(FaunaConv *cv, JV *v, bool *wide, const char **coll)
{
	JV		   *inner;
	FaunaVType	t = classify_v(v, &inner, cv->page->what, cv->page->v4);
	int64		i;

	switch (t)
	{
		case FV_NULL:
			return FAUNA_KIND_NULL;
		case FV_BOOL:
			return FAUNA_KIND_BOOLEAN;
		case FV_INT:
		case FV_LONG:
			if (parse_int64(inner->u.s, &i) &&
				(i > FAUNA_DOUBLE_EXACT_INT || i < -FAUNA_DOUBLE_EXACT_INT))
				*wide = true;
			return t == FV_INT ? FAUNA_KIND_INT : FAUNA_KIND_LONG;
		case FV_DOUBLE:
			return FAUNA_KIND_DOUBLE;
		case FV_STRING:
			return FAUNA_KIND_STRING;
		case FV_TIME:
			return FAUNA_KIND_TIME;
		case FV_DATE:
			return FAUNA_KIND_DATE;
		case FV_BYTES:
			return FAUNA_KIND_BYTES;
		case FV_DOC:
		case FV_REF:
			{
				RefExport	r;

				ref_export(cv, t, inner, &r);
				if (r.coll == NULL)
					return FAUNA_KIND_OTHER;	/* a key, a collection ... */
				if (coll)
					*coll = r.coll->u.s;
				return FAUNA_KIND_DOC;
			}
		case FV_ARRAY:
			return FAUNA_KIND_ARRAY;
		case FV_OBJECT:
			return FAUNA_KIND_OBJECT;
		default:
			return FAUNA_KIND_OTHER;
	}
}

static void
walk_object(FaunaConv *cv, JV *obj, bool user_fields_only,
			FaunaFieldSeen *seen, int max_depth,
			FaunaFieldFn fn, void *arg)
{
	JV		   *key;
	JV		   *val;
	uint32		i;

	check_stack_depth();
	JV_FOREACH_MEMBER(obj, key, val, i)
	{
		JV		   *inner;

		/* a name with a NUL can never be a column: not an FQL identifier */
		if ((key->flags & JF_NUL) || (user_fields_only && is_reserved_key(key)))
			continue;
		seen->path[seen->depth] = key->u.s;
		seen->depth++;
		seen->wide = false;
		seen->coll = NULL;
		seen->elem_kinds = 0;
		seen->kind = value_kind(cv, val, &seen->wide, &seen->coll);
		if (seen->kind == FAUNA_KIND_ARRAY)
		{
			JV		   *el;
			uint32		j;

			JV_FOREACH_ELEM(val, el, j)
				seen->elem_kinds |= 1u << value_kind(cv, el, &seen->wide, NULL);
		}
		fn(arg, seen);
		if (seen->kind == FAUNA_KIND_OBJECT && seen->depth < max_depth)
		{
			(void) classify_v(val, &inner, cv->page->what, cv->page->v4);
			walk_object(cv, inner, false, seen, max_depth, fn, arg);
		}
		seen->depth--;
	}
}

void
fauna_page_walk_fields(FaunaPage *page, int i, int max_depth,
					   FaunaFieldFn fn, void *arg)
{
	FaunaConv	cv;
	FaunaColumn col;
	FaunaElem  *e;
	FaunaFieldSeen seen;
	const char *path[FAUNA_WALK_MAX_DEPTH];
	JV		   *data;
	JV		   *inner;

	if (i < 0 || i >= page->count)
		elog(ERROR, "fauna_fdw: element %d out of range of a page of %d",
			 i, page->count);
	e = &page->elems[i];
	memset(&col, 0, sizeof(col));
	col.attname = "data";		/* what a bad value would be read as */
	cv.page = page;
	cv.elem = e;
	cv.col = &col;
	cv.need_encoding = false;
	memset(&seen, 0, sizeof(seen));
	seen.path = path;
	max_depth = Max(1, Min(max_depth, FAUNA_WALK_MAX_DEPTH));

	/* the user fields, found as the data column finds them */
	data = JV_GET(e->fields, "data");
	if (data == NULL && e->is_doc)
		walk_object(&cv, e->fields, true, &seen, max_depth, fn, arg);
	else if (data != NULL && data->type == JT_OBJECT &&
			 classify_v(data, &inner, page->what, page->v4) == FV_OBJECT)
		walk_object(&cv, inner, false, &seen, max_depth, fn, arg);
}
