/*-------------------------------------------------------------------------
 *
 * json_tape.c
 *		  The JSON tokenizer: a body, as it arrives, into a tape.
 *
 * The only code of fauna_fdw that knows JSON syntax.  It validates
 * strictly (RFC 8259 JSON, valid UTF-8 with overlong forms and surrogates
 * refused, nesting at most FAUNA_JSON_MAX_DEPTH, nothing after the value)
 * and writes the tape of json_tape.h; it also writes a value back as
 * JSON text.  Why a tokenizer of its own rather than a JSON library:
 * docs/performance.md, "Implementation notes".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "json_tape.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"


/*
 * The tokenizer is incremental: fauna_parser_feed() runs it over each chunk
 * of the body as curl hands it over, so a page is parsed while the rest of
 * it is still on the wire, and when the last byte arrives only that last
 * chunk remains to be read.  It stops at the start of a token the buffer
 * does not hold whole yet (a string without its closing quote, a number or
 * a literal that may go on) and goes on from there with the next chunk;
 * nothing it has written is ever read twice.  The buffer moves as it grows,
 * so a token records its text as an offset while parsing, turned into a
 * pointer when the body is complete (json_tape_resolve()).  The same function
 * parses small error bodies in one go ("final" from the start).
 */


/* Bytes that a string may hold as they are: printable ASCII but " and \ */
const uint8 json_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};


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
 * code points above U+10FFFF.  Not pg_utf8_islegal() itself: it reads a
 * sequence from its last byte, which may lie past the end of the body
 * received so far; this reads in order and stops at the NUL that ends the
 * buffer, so a sequence cut by the end of the buffer is refused too.
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

/* Four hex fauna_digits at s, or -1. */
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
	unicode_to_utf8((pg_wchar) cp, (unsigned char *) w);
	return w + pg_utf_mblen((const unsigned char *) w);
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
	 * NUL-terminated by json_tape_resolve(): until then the buffer keeps its
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
 * tape holds offsets until json_tape_resolve().  Never throws.
 */
JResult
json_tape_parse(JParse *p)
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
void
json_tape_resolve(JParse *p)
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
bool
json_tape_parse_all(JParse *p)
{
	p->final = true;
	p->state = JS_VALUE;
	p->pos = 0;
	if (json_tape_parse(p) != JR_OK)
		return false;
	json_tape_resolve(p);
	return true;
}

/* The detail of a parse error, as in "... at byte N of the response." */
void
json_tape_error_detail(JParse *p, char *detail, size_t size)
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


/* ----------------------------------------------------------------
 * Wire JSON output
 * ----------------------------------------------------------------
 */

/*
 * s (len bytes) as a JSON string literal, quotes included.  Not
 * escape_json(): a Fauna string may hold NUL (\u0000), which a
 * NUL-terminated string cannot pass.
 */
void
json_append_quoted(StringInfo buf, const char *s, size_t len)
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
void
json_append_wire(StringInfo buf, JV *v)
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
			json_append_quoted(buf, v->u.s, v->n);
			break;
		case JT_ARRAY:
			{
				JV		   *el;

				appendStringInfoCharMacro(buf, '[');
				JV_FOREACH_ELEM(v, el, i)
				{
					if (i > 0)
						appendStringInfoCharMacro(buf, ',');
					json_append_wire(buf, el);
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
					json_append_wire(buf, key);
					appendStringInfoCharMacro(buf, ':');
					json_append_wire(buf, val);
				}
				appendStringInfoCharMacro(buf, '}');
			}
			break;
	}
}

char *
json_wire_text(JV *v, int *len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	json_append_wire(&buf, v);
	if (len)
		*len = buf.len;
	return buf.data;
}

