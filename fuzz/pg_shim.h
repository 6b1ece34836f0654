/*-------------------------------------------------------------------------
 *
 * pg_shim.h
 *		  What the fuzz target and the unit test of the decoder see of the
 *		  backend stand-in in pg_shim.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_SHIM_H
#define PG_SHIM_H

#include "postgres.h"

/* The last ERROR raised, as ereport left it. */
typedef struct ShimError
{
	bool		raised;
	int			sqlerrcode;
	char		message[1024];
	char		detail[1024];
	char		hint[1024];
	char		context[1024];
} ShimError;

extern ShimError shim_error;

extern MemoryContext shim_context_create(void);
extern void shim_context_reset(MemoryContext cxt);
extern void shim_context_delete(MemoryContext cxt);
extern char *shim_text_to_cstring(Datum d);
extern void shim_check_utf8(const char *s, int len);

#endif							/* PG_SHIM_H */
