/*-------------------------------------------------------------------------
 *
 * json_tape.h
 *		  The JSON tokenizer's tape and its accessors.
 *
 * A parsed body is a tape: one array of 16-byte tokens in document order.
 * A string token points into the body buffer (unescaped in place,
 * NUL-terminated over its closing quote); an object or array token holds
 * its element count and the number of tokens of its subtree, so a lookup
 * skips a whole value in one step.  Nothing here knows Fauna: tags, pages
 * and documents are the page parser's (decode_private.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAUNA_JSON_TAPE_H
#define FAUNA_JSON_TAPE_H

#include "lib/stringinfo.h"
#include "utils/palloc.h"

/*
 * Deepest JSON nesting accepted.  Bounds the recursion of the converters
 * below (check_stack_depth() guards them as well).
 */
#define FAUNA_JSON_MAX_DEPTH	512

/* Largest body parsed: token lengths and counts are 32-bit. */
#define FAUNA_MAX_BODY			((size_t) PG_INT32_MAX - 1)


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
static inline JV *
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
static inline JV *
jv_elem(JV *arr, uint32 n)
{
	JV		   *el = arr + 1;

	while (n-- > 0)
		el = jv_next(el);
	return el;
}


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
	/* the error, when json_tape_parse() returns JR_ERROR */
	const char *err;
	size_t		erroff;
	bool		truncated;		/* the body ended inside the value */
	size_t		rewritten_to;	/* the end of the last string unescaped in
								 * place: the bytes before it are not all
								 * the body's own any more */
	bool		err_no_offset;	/* err is a whole sentence */
} JParse;

/* Bytes that a string may hold as they are: printable ASCII but " and \ */
extern const uint8 json_plain[256];

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

/* Parse p->buf from where the last call stopped (JR_MORE: needs more). */
extern JResult json_tape_parse(JParse *p);
/* Offsets become pointers into the buffer, once the body is complete. */
extern void json_tape_resolve(JParse *p);
/* Parse a whole buffer at once; false on an error (p->err). */
extern bool json_tape_parse_all(JParse *p);
/* The error of a failed parse, as a DETAIL sentence. */
extern void json_tape_error_detail(JParse *p, char *detail, size_t size);

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


/* Wire JSON output: a string literal, a value without spaces. */
extern void json_append_quoted(StringInfo buf, const char *s, size_t len);
extern void json_append_wire(StringInfo buf, JV *v);
extern char *json_wire_text(JV *v, int *len);

#endif							/* FAUNA_JSON_TAPE_H */
