/*-------------------------------------------------------------------------
 *
 * options.c
 *		  Validation and lookup of fauna_fdw's options.
 *
 * Every option of docs/options.md is checked here, at the level
 * (server, user mapping, foreign table, column) where it is allowed.  The
 * checks are strict because option values end up in FQL text (collection
 * and field names) and in HTTP requests (endpoint, secret): anything that is
 * not a plain FQL identifier or a well-formed URL is refused here, so the
 * query builder never has to quote or escape a name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fauna_fdw.h"

#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "catalog/pg_attribute.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* One valid option and the catalog of the object it belongs to. */
typedef struct FaunaOption
{
	const char *name;
	Oid			context;
} FaunaOption;

static const FaunaOption valid_options[] = {
	{"endpoint", ForeignServerRelationId},
	{"api_version", ForeignServerRelationId},
	{"page_size", ForeignServerRelationId},
	{"timeout_ms", ForeignServerRelationId},
	{"connect_timeout_ms", ForeignServerRelationId},
	{"max_retries", ForeignServerRelationId},
	{"ca_file", ForeignServerRelationId},
	{"max_response_bytes", ForeignServerRelationId},
	{"max_streams", ForeignServerRelationId},
	{"async_capable", ForeignServerRelationId},
	{"secret", UserMappingRelationId},
	{"collection", ForeignTableRelationId},
	{"index", ForeignTableRelationId},
	{"events", ForeignTableRelationId},
	{"page_size", ForeignTableRelationId},
	{"rows", ForeignTableRelationId},
	{"max_streams", ForeignTableRelationId},
	{"async_capable", ForeignTableRelationId},
	{"path", AttributeRelationId},
	{NULL, InvalidOid}
};

/* Names of the reserved paths, the document's metadata and data. */
static const struct
{
	const char *name;
	FaunaPathKind kind;
}			reserved_paths[] = {
	{"ref", FAUNA_PATH_ID},
	{"id", FAUNA_PATH_ID},
	{"ts", FAUNA_PATH_TS},
	{"ttl", FAUNA_PATH_TTL},
	{"coll", FAUNA_PATH_COLL},
	{"data", FAUNA_PATH_DATA},
	{NULL, FAUNA_PATH_FIELD}
};

/* What is wrong with the text of an integer option (report_bad_integer) */
typedef enum BadIntegerReason
{
	BAD_INTEGER_FORM,			/* not decimal digits */
	BAD_INTEGER_NEGATIVE,		/* a minus sign where none is allowed */
	BAD_INTEGER_RANGE			/* digits, but outside [min, max] */
} BadIntegerReason;

static bool is_valid_option(const char *name, Oid context);
static void report_unknown_option(const char *name, Oid context);
static bool is_decimal_integer(const char *s, bool allow_minus);
static bool is_decimal_number(const char *s);
static void report_bad_integer(DefElem *def, const char *s,
							   BadIntegerReason reason,
							   int64 min, int64 max) pg_attribute_noreturn();
static int	parse_int_option(DefElem *def, int min, int max);
static int64 parse_int64_option(DefElem *def, int64 min, int64 max);
static double parse_rows_option(DefElem *def);
static void check_endpoint(DefElem *def);
static void check_identifier_option(DefElem *def, bool allow_auto_none);
static void check_path_option(DefElem *def);
static void check_secret(DefElem *def);

/*
 * True if name is an FQL identifier: [A-Za-z_][A-Za-z0-9_]*.  Only such
 * names are ever spliced into FQL text.
 */
bool
fauna_is_identifier(const char *name)
{
	const char *p;

	if (name == NULL || name[0] == '\0')
		return false;
	if (!((name[0] >= 'A' && name[0] <= 'Z') ||
		  (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (p = name + 1; *p; p++)
	{
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

/*
 * Check the options of one object.  Called by the validator with the
 * object's complete new option list, so cross-option rules could go here.
 */
void
fauna_validate_options(List *options, Oid catalog)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (!is_valid_option(def->defname, catalog))
			report_unknown_option(def->defname, catalog);

		if (strcmp(def->defname, "endpoint") == 0)
			check_endpoint(def);
		else if (strcmp(def->defname, "api_version") == 0)
		{
			const char *v = defGetString(def);

			if (strcmp(v, "10") != 0 && strcmp(v, "4") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"api_version\": \"%s\"", v),
						 errhint("Valid values are \"10\" (FQL v10) and \"4\" (legacy FQL v4).")));
		}
		else if (strcmp(def->defname, "page_size") == 0)
			(void) parse_int_option(def, 1, FAUNA_MAX_PAGE_SIZE);
		else if (strcmp(def->defname, "timeout_ms") == 0)
			(void) parse_int_option(def, 1, 600000);	/* Fauna's header limit */
		else if (strcmp(def->defname, "connect_timeout_ms") == 0)
			(void) parse_int_option(def, 1, 600000);
		else if (strcmp(def->defname, "max_retries") == 0)
			(void) parse_int_option(def, 0, FAUNA_MAX_RETRIES_LIMIT);
		else if (strcmp(def->defname, "max_response_bytes") == 0)
			(void) parse_int64_option(def, 1024, PG_INT64_MAX);
		else if (strcmp(def->defname, "ca_file") == 0)
		{
			const char *v = defGetString(def);

			/*
			 * The backend opens this file with the server's OS privileges,
			 * and its error tells whether it exists: not for ordinary users.
			 */
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only superusers may set option \"ca_file\""),
						 errdetail("The file is read with the database server's operating system privileges."),
						 errhint("Ask a superuser to set \"ca_file\" on the server.")));
			/* relative paths would depend on the backend's data directory */
			if (!is_absolute_path(v))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"ca_file\": \"%s\"", v),
						 errhint("Give an absolute path to a PEM file of CA certificates.")));
		}
		else if (strcmp(def->defname, "secret") == 0)
			check_secret(def);
		else if (strcmp(def->defname, "collection") == 0)
			check_identifier_option(def, false);
		else if (strcmp(def->defname, "index") == 0)
			check_identifier_option(def, true);
		else if (strcmp(def->defname, "events") == 0 ||
				 strcmp(def->defname, "async_capable") == 0)
			(void) defGetBoolean(def);
		else if (strcmp(def->defname, "max_streams") == 0)
			(void) parse_int_option(def, 1, FAUNA_MAX_STREAMS);
		else if (strcmp(def->defname, "rows") == 0)
			(void) parse_rows_option(def);
		else if (strcmp(def->defname, "path") == 0)
			check_path_option(def);
	}
}

static bool
is_valid_option(const char *name, Oid context)
{
	const FaunaOption *opt;

	for (opt = valid_options; opt->name; opt++)
	{
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return true;
	}
	return false;
}

/*
 * Reject an option that does not belong here, listing the ones that do.
 * "secret" gets its own hint: it is the one option people put on the
 * server by habit, and it must not live where every user can read it.
 */
static void
report_unknown_option(const char *name, Oid context)
{
	const FaunaOption *opt;
	StringInfoData buf;

	if (strcmp(name, "secret") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"secret\" is only allowed on a user mapping"),
				 errhint("Store the Fauna secret with CREATE USER MAPPING ... OPTIONS (secret '...'), where only its owner and superusers can read it.")));

	initStringInfo(&buf);
	for (opt = valid_options; opt->name; opt++)
	{
		if (opt->context == context)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", opt->name);
	}

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", name),
			 buf.len > 0
			 ? errhint("Valid options in this context are: %s", buf.data)
			 : errhint("There are no valid options in this context.")));
}

/*
 * Largest "rows" accepted.  The estimate only feeds the planner's cost
 * arithmetic; 10^15 documents is beyond any collection, and keeping the
 * value there keeps costs finite (a value near DBL_MAX would overflow them).
 */
#define FAUNA_MAX_ROWS		1e15

/*
 * Is s a plain decimal integer: digits only, with a leading '-' if
 * allow_minus?  strtoll() alone would also take leading spaces and a '+',
 * which an option value should not have: the catalog keeps the text as
 * written, and a value that reads differently to a person than to the
 * parser (" 5", "+7") is more likely a mistake than an intent.
 */
static bool
is_decimal_integer(const char *s, bool allow_minus)
{
	const char *p = s;

	if (allow_minus && *p == '-')
		p++;
	if (*p == '\0')
		return false;
	for (; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
	}
	return true;
}

/*
 * Is s a plain decimal number: digits, optionally followed by '.' and more
 * digits?  strtod() alone would also take spaces, a sign, exponents, hex
 * ("0x10" is 16), "inf" and "nan".
 */
static bool
is_decimal_number(const char *s)
{
	const char *p = s;

	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.')
	{
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/*
 * Report a bad integer option: errdetail says what is wrong with the text
 * (not an integer, negative, out of range), errhint gives the range.
 */
static void
report_bad_integer(DefElem *def, const char *s, BadIntegerReason reason,
				   int64 min, int64 max)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, s),
			 reason == BAD_INTEGER_RANGE ? errdetail("The value is out of range.") :
			 reason == BAD_INTEGER_NEGATIVE ? errdetail("The value must not be negative.") :
			 min < 0 ? errdetail("The value must be decimal digits with an optional leading minus sign, and nothing else (no spaces, \"+\", decimal point or hexadecimal).") :
			 errdetail("The value must be decimal digits only (no sign, spaces, decimal point or hexadecimal)."),
			 max == PG_INT64_MAX
			 ? errhint("Value must be an integer of at least %lld.", (long long) min)
			 : errhint("Value must be an integer between %lld and %lld.",
					   (long long) min, (long long) max)));
}

/* An integer option within [min, max]; the error shows the range. */
static int
parse_int_option(DefElem *def, int min, int max)
{
	int64		v = parse_int64_option(def, min, max);

	return (int) v;
}

static int64
parse_int64_option(DefElem *def, int64 min, int64 max)
{
	const char *s = defGetString(def);
	long long	v;

	/* a minus sign is only part of the syntax where a negative is allowed */
	if (!is_decimal_integer(s, min < 0))
		report_bad_integer(def, s,
						   is_decimal_integer(s, true) ? BAD_INTEGER_NEGATIVE : BAD_INTEGER_FORM,
						   min, max);

	errno = 0;
	v = strtoll(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max)
		report_bad_integer(def, s, BAD_INTEGER_RANGE, min, max);
	return (int64) v;
}

static double
parse_rows_option(DefElem *def)
{
	const char *s = defGetString(def);
	double		v = 0;
	bool		well_formed = is_decimal_number(s);

	if (well_formed)
	{
		errno = 0;
		v = strtod(s, NULL);
	}
	if (!well_formed || errno == ERANGE || !(v <= FAUNA_MAX_ROWS))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"rows\": \"%s\"", s),
				 well_formed ? errdetail("The value is out of range.") :
				 s[0] == '-' && is_decimal_number(s + 1) ? errdetail("The value must not be negative.") :
				 errdetail("The value must be decimal digits, optionally with a decimal point and more digits (no sign, spaces, exponent or hexadecimal)."),
				 errhint("Value must be a number between 0 and 1000000000000000, the estimated number of documents.")));
	return v;
}

/*
 * The endpoint must be an http or https URL with a host and nothing that
 * curl would interpret as credentials, a query or a fragment.  Credentials
 * in the URL would defeat keeping the secret on the user mapping.  The
 * error never quotes the value, which may hold a password or a token.
 */
static void
check_endpoint(DefElem *def)
{
	const char *v = defGetString(def);
	const char *scheme_end = strstr(v, "://");
	const char *problem = NULL;
	const char *hint = gettext_noop("Give the endpoint as https://host[:port][/path], for example https://db.fauna.com.");

	/*
	 * Whitespace and control characters first: libcurl would refuse them
	 * too, but say less about why.  "http:/host", "https:///host" and the
	 * like, which libcurl would read as a URL of one host or another, are
	 * refused as well: the endpoint says "http://" or "https://" and then
	 * the host, as written.
	 */
	for (const char *p = v; *p && problem == NULL; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			problem = gettext_noop("The endpoint contains spaces or control characters.");
	if (problem == NULL && pg_strncasecmp(v, "https://", 8) != 0 &&
		pg_strncasecmp(v, "http://", 7) != 0)
		problem = gettext_noop("The endpoint does not start with \"https://\" or \"http://\".");
	if (problem == NULL && scheme_end[3] == '/')
		problem = gettext_noop("The endpoint names no host.");
	if (problem == NULL)
	{
		switch (fauna_endpoint_problem(v))
		{
			case FAUNA_ENDPOINT_OK:
				break;
			case FAUNA_ENDPOINT_NOT_URL:
				problem = gettext_noop("The endpoint is not a URL.");
				break;
			case FAUNA_ENDPOINT_SCHEME:
				problem = gettext_noop("The endpoint does not start with \"https://\" or \"http://\".");
				break;
			case FAUNA_ENDPOINT_NO_HOST:
				problem = gettext_noop("The endpoint names no host.");
				break;
			case FAUNA_ENDPOINT_CREDENTIALS:
				problem = gettext_noop("The endpoint contains a user name or a password.");
				hint = gettext_noop("Put the Fauna secret in the \"secret\" option of the user mapping.");
				break;
			case FAUNA_ENDPOINT_QUERY:
				problem = gettext_noop("The endpoint contains a query or a fragment.");
				break;
		}
	}

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"endpoint\""),
				 errdetail("%s", _(problem)),
				 errhint("%s", _(hint))));
}

static void
check_identifier_option(DefElem *def, bool allow_auto_none)
{
	const char *v = defGetString(def);

	if (fauna_is_identifier(v))
		return;

	if (allow_auto_none)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, v),
				 errhint("Use \"auto\", \"none\" or an FQL identifier (letters, digits and underscores, not starting with a digit).")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, v),
			 errhint("Use an FQL identifier (letters, digits and underscores, not starting with a digit).")));
}

/*
 * The reserved name a dotted path starts with, when that reserved value is
 * not an object (the id, ts, ttl, coll): "ts.x" can only be a mistake,
 * since it would read nothing or fail at every query.  NULL otherwise.
 * "data.x" stays valid: data is the object of the user fields.
 */
static const char *
scalar_reserved_prefix(const char *path)
{
	const char *dot = strchr(path, '.');

	if (dot == NULL)
		return NULL;
	for (int i = 0; reserved_paths[i].name; i++)
	{
		const char *name = reserved_paths[i].name;

		if (reserved_paths[i].kind != FAUNA_PATH_DATA &&
			strlen(name) == (size_t) (dot - path) &&
			strncmp(path, name, dot - path) == 0)
			return name;
	}
	return NULL;
}

static void
report_scalar_subpath(const char *path, const char *reserved)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"path\": \"%s\"", path),
			 errdetail("\"%s\" is a reserved path whose value is not an object, so it has no fields.",
					   reserved),
			 errhint("Use \"%s\" alone, or the path of a user field such as \"address.city\".",
					 reserved)));
}

/* A path is one or more identifiers separated by dots. */
static void
check_path_option(DefElem *def)
{
	const char *v = defGetString(def);
	char	   *copy = pstrdup(v);
	char	   *seg = copy;
	bool		ok = true;
	const char *reserved;

	for (;;)
	{
		char	   *dot = strchr(seg, '.');

		if (dot)
			*dot = '\0';
		if (!fauna_is_identifier(seg))
		{
			ok = false;
			break;
		}
		if (!dot)
			break;
		seg = dot + 1;
	}
	pfree(copy);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"path\": \"%s\"", v),
				 errhint("A path is an FQL identifier or several joined by dots, such as \"address.city\"; reserved paths are ref, id, ts, ttl, coll and data.")));
	if ((reserved = scalar_reserved_prefix(v)) != NULL)
		report_scalar_subpath(v, reserved);
}

/*
 * The secret goes into an HTTP header: refuse what could break the header.
 * Never echo its value.
 */
static void
check_secret(DefElem *def)
{
	const char *v = defGetString(def);
	const char *p;

	if (v[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"secret\" must not be empty")));
	for (p = v; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"secret\" must not contain spaces or control characters")));
	}
}

/*
 * Server-level options with their defaults.  Values were validated when
 * they were set, so plain conversions suffice here.
 */
void
fauna_get_server_options(ForeignServer *server, FaunaServerOptions *opts)
{
	ListCell   *lc;

	opts->endpoint = pstrdup(FAUNA_DEFAULT_ENDPOINT);
	opts->api_version = 10;
	opts->page_size = FAUNA_DEFAULT_PAGE_SIZE;
	opts->timeout_ms = FAUNA_DEFAULT_TIMEOUT_MS;
	opts->connect_timeout_ms = FAUNA_DEFAULT_CONNECT_TIMEOUT_MS;
	opts->max_retries = FAUNA_DEFAULT_MAX_RETRIES;
	opts->ca_file = NULL;
	opts->max_response_bytes = FAUNA_DEFAULT_MAX_RESPONSE_BYTES;

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "endpoint") == 0)
		{
			char	   *e = pstrdup(defGetString(def));
			size_t		len = strlen(e);

			/* "/query/1" is appended; avoid a double slash */
			while (len > 0 && e[len - 1] == '/')
				e[--len] = '\0';
			opts->endpoint = e;
		}
		else if (strcmp(def->defname, "api_version") == 0)
			opts->api_version = atoi(defGetString(def));
		else if (strcmp(def->defname, "page_size") == 0)
			opts->page_size = parse_int_option(def, 1, FAUNA_MAX_PAGE_SIZE);
		else if (strcmp(def->defname, "timeout_ms") == 0)
			opts->timeout_ms = parse_int_option(def, 1, 600000);
		else if (strcmp(def->defname, "connect_timeout_ms") == 0)
			opts->connect_timeout_ms = parse_int_option(def, 1, 600000);
		else if (strcmp(def->defname, "max_retries") == 0)
			opts->max_retries = parse_int_option(def, 0, FAUNA_MAX_RETRIES_LIMIT);
		else if (strcmp(def->defname, "ca_file") == 0)
			opts->ca_file = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "max_response_bytes") == 0)
			opts->max_response_bytes = parse_int64_option(def, 1024, PG_INT64_MAX);
	}
}

/*
 * Table-level options, falling back to the server's page_size and to the
 * table's own name for the collection.
 */
void
fauna_get_table_options(Oid relid, FaunaTableOptions *opts)
{
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	ListCell   *lc;

	opts->collection = NULL;
	opts->index = pstrdup("auto");
	opts->events = false;
	opts->page_size = FAUNA_DEFAULT_PAGE_SIZE;
	opts->rows = -1;
	opts->max_streams = -1;
	opts->async_capable = false;

	/* the server's page_size, max_streams and async_capable are defaults */
	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "page_size") == 0)
			opts->page_size = parse_int_option(def, 1, FAUNA_MAX_PAGE_SIZE);
		else if (strcmp(def->defname, "max_streams") == 0)
			opts->max_streams = parse_int_option(def, 1, FAUNA_MAX_STREAMS);
		else if (strcmp(def->defname, "async_capable") == 0)
			opts->async_capable = defGetBoolean(def);
	}

	foreach(lc, table->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "collection") == 0)
			opts->collection = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "index") == 0)
			opts->index = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "events") == 0)
			opts->events = defGetBoolean(def);
		else if (strcmp(def->defname, "page_size") == 0)
			opts->page_size = parse_int_option(def, 1, FAUNA_MAX_PAGE_SIZE);
		else if (strcmp(def->defname, "rows") == 0)
			opts->rows = parse_rows_option(def);
		else if (strcmp(def->defname, "max_streams") == 0)
			opts->max_streams = parse_int_option(def, 1, FAUNA_MAX_STREAMS);
		else if (strcmp(def->defname, "async_capable") == 0)
			opts->async_capable = defGetBoolean(def);
	}

	if (opts->collection == NULL)
	{
		char	   *relname = get_rel_name(relid);

		/*
		 * The table's name is only a default; it is spliced into FQL, so it
		 * must pass the same check as the option would.
		 */
		if (!fauna_is_identifier(relname))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("foreign table \"%s\" needs option \"collection\"", relname),
					 errdetail("The table's name is not an FQL identifier, so it cannot name the collection."),
					 errhint("ALTER FOREIGN TABLE ... OPTIONS (ADD collection '...').")));
		opts->collection = relname;
	}
}

/*
 * A table naming a module of FQL v10 would read the module ("function all
 * does not exist on Key"); Fauna never creates a collection of that name.
 * FQL v4 names its classes differently ("keys"): there, these are user
 * names.
 */
void
fauna_check_collection_name(const char *collection, int api_version,
							const char *relname)
{
	if (api_version == 10 && fauna_is_reserved_collection_name(collection))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("\"%s\" is not a collection", collection),
				 errdetail("Foreign table \"%s\" names \"%s\", which FQL v10 reserves for a built-in module or schema collection, never a user collection.",
						   relname, collection),
				 errhint("Set the table's option \"collection\" to the name of a user collection.")));
}

/* The secret of a user mapping, or an ERROR saying where to put it. */
char *
fauna_get_secret(UserMapping *user, ForeignServer *server)
{
	ListCell   *lc;

	foreach(lc, user->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "secret") == 0)
			return defGetString(def);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("no Fauna secret for server \"%s\"", server->servername),
			 errhint("Add it to the user mapping: ALTER USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (ADD secret '...').",
					 server->servername)));
	return NULL;				/* keep compiler quiet */
}

/*
 * Resolve a column's path: its "path" option, else its name.  A column name
 * that is not a valid path (say, "first name") needs a path option; say so
 * rather than send a broken projection.
 */
void
fauna_column_path(Oid relid, AttrNumber attnum, const char *attname,
				  FaunaPathKind *kind, char ***field_path, int *field_depth)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	const char *path = attname;
	ListCell   *lc;
	char	   *copy;
	char	   *seg;
	int			n;
	int			i;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "path") == 0)
			path = defGetString(def);
	}

	*field_path = NULL;
	*field_depth = 0;
	for (i = 0; reserved_paths[i].name; i++)
	{
		if (strcmp(path, reserved_paths[i].name) == 0)
		{
			*kind = reserved_paths[i].kind;
			return;
		}
	}

	/* a column named "ts.x" without a path option (the option is checked when set) */
	if (scalar_reserved_prefix(path) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("column \"%s\" of foreign table \"%s\" needs option \"path\"",
						attname, get_rel_name(relid)),
				 errdetail("The column's name is a path into a reserved value that is not an object."),
				 errhint("ALTER FOREIGN TABLE ... ALTER COLUMN ... OPTIONS (ADD path 'field').")));

	/* "action" is the event type in an event table, a user field elsewhere */
	if (strcmp(path, "action") == 0)
	{
		ForeignTable *table = GetForeignTable(relid);

		foreach(lc, table->options)
		{
			DefElem    *def = (DefElem *) lfirst(lc);

			if (strcmp(def->defname, "events") == 0 && defGetBoolean(def))
			{
				*kind = FAUNA_PATH_ACTION;
				return;
			}
		}
	}

	*kind = FAUNA_PATH_FIELD;
	n = 1;
	for (seg = (char *) path; *seg; seg++)
		if (*seg == '.')
			n++;
	*field_path = palloc(sizeof(char *) * n);
	copy = pstrdup(path);
	seg = copy;
	for (i = 0; i < n; i++)
	{
		char	   *dot = strchr(seg, '.');

		if (dot)
			*dot = '\0';
		if (!fauna_is_identifier(seg))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("column \"%s\" of foreign table \"%s\" needs option \"path\"",
							attname, get_rel_name(relid)),
					 errdetail("The column's name is not a Fauna field path."),
					 errhint("ALTER FOREIGN TABLE ... ALTER COLUMN ... OPTIONS (ADD path 'field').")));
		(*field_path)[i] = seg;
		seg = dot ? dot + 1 : seg;
	}
	*field_depth = n;
}
