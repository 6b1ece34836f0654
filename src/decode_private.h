/*-------------------------------------------------------------------------
 *
 * decode_private.h
 *		  What the files that read Fauna's responses share among themselves.
 *
 * page.c builds pages from tapes (json_tape.h), page_v4.c does the same
 * for FQL v4, convert.c turns a page's values into Datums and export.c into
 * jsonb and JSON text.  The rest of fauna_fdw sees only fauna_fdw.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAUNA_DECODE_PRIVATE_H
#define FAUNA_DECODE_PRIVATE_H

#include "fauna_fdw.h"
#include "json_tape.h"

#include "utils/jsonb.h"

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

/* The name of each FaunaVType, for error messages (page.c) */
extern const char *const fauna_type_names[];

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

typedef struct RefExport
{
	JV		   *id;				/* a string token */
	JV		   *coll;			/* NULL: not a document ref */
	const char *type;
} RefExport;

/* page.c */
extern FaunaElem *fauna_page_elem(FaunaPage *page, int i);
extern void fauna_invalid_response(const char *what, const char *detail) pg_attribute_noreturn();
extern JV *fauna_single_key(JV *obj, JV **val);
extern FaunaVType fauna_classify(JV *v, JV **inner, const char *what);
extern FaunaVType fauna_classify_v(JV *v, JV **inner, const char *what, bool v4);
extern bool fauna_format_unix_micros(int64 us, char *buf, size_t size);
extern void fauna_synth_string(JTok *t, const char *s, size_t len);
extern void fauna_synth_object(JTok *t, uint32 count, uint32 ntok);
extern JV *fauna_synth_time(FaunaPage *page, const char *iso);
extern void fauna_page_build_events(FaunaPage *page);
extern JV *fauna_parse_small_body(const char *body, size_t len);

/* page_v4.c */
extern bool fauna_v4_number_int64(JV *v, int64 *out);
extern FaunaVType fauna_v4_number_type(JV *v);
extern bool fauna_v4_special_double(JV *v);
extern void fauna_ref_export_v4(FaunaConv *cv, JV *obj, RefExport *r);
extern void fauna_page_build_v4(FaunaPage *page);

/* convert.c */
extern void fauna_invalid_value(FaunaConv *cv, FaunaVType t, const char *value) pg_attribute_noreturn();
extern void fauna_conv_error_context(void *arg);
extern bool fauna_parse_int64(const char *s, int64 *out);
extern bool fauna_digits(const char *s, int n, int *out);
extern const char *fauna_server_string(FaunaConv *cv, FaunaVType t, const char *s, int *len, bool has_nul);
extern char *fauna_bytes_export(FaunaConv *cv, JV *inner, int *outlen);
extern int64 fauna_get_int(FaunaConv *cv, FaunaVType t, JV *inner);
extern double fauna_get_double(FaunaConv *cv, JV *inner, bool *special);

/* export.c */
extern JV *fauna_mod_name(JV *coll);
extern void fauna_ref_export(FaunaConv *cv, FaunaVType t, JV *obj, RefExport *r);
extern void fauna_build_ref(FaunaConv *cv, RefExport *r, JsonbValue *out);
extern Numeric fauna_numeric_from_text(FaunaConv *cv, const char *s, int32 typmod);
extern Datum fauna_make_jsonb(FaunaConv *cv, JV *v, bool user_fields_only);
extern void fauna_append_object(FaunaConv *cv, StringInfo buf, JV *obj, bool user_fields_only);
extern void fauna_append_ref(FaunaConv *cv, StringInfo buf, RefExport *r);
extern void fauna_append_export_json(FaunaConv *cv, StringInfo buf, JV *v);


#endif							/* FAUNA_DECODE_PRIVATE_H */
