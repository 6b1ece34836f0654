# Makefile for fauna_fdw (PGXS)
#
# Builds against the server development files of the PostgreSQL that
# pg_config names (Debian: postgresql-server-dev-15), linking the system
# libcurl.  (JSON is parsed by src/json_tape.c itself; no JSON library.)

MODULE_big = fauna_fdw
OBJS = \
	$(WIN32RES) \
	fauna_fdw.o \
	src/analyze.o \
	src/connection.o \
	src/convert.o \
	src/events.o \
	src/export.o \
	src/fql.o \
	src/fql_v4.o \
	src/import.o \
	src/indexes.o \
	src/infer.o \
	src/json_tape.o \
	src/options.o \
	src/page.o \
	src/page_v4.o \
	src/reader.o \
	src/remote_error.o \
	src/scan_async.o \
	src/scan_exec.o \
	src/scan_parallel.o \
	src/scan_plan.o \
	src/transfer.o

EXTENSION = fauna_fdw
DATA = fauna_fdw--1.0.sql fauna_fdw--1.1.sql fauna_fdw--1.2.sql \
	fauna_fdw--1.0--1.1.sql fauna_fdw--1.1--1.2.sql
PGFILEDESC = "fauna_fdw - foreign data wrapper for Fauna"

# pg_regress suites; they expect FAUNA_ENDPOINT and FAUNA_SECRET in the
# environment (see test/run_regress.sh, which starts the emulator).
REGRESS = options scan faults ranges conversions import events sync v4 sampling snapshot conversions_more index_build pipeline edges infer parallel async
# REGRESS_OUTPUTDIR keeps results/ and regression.diffs out of the source
# tree, so that several runs can share one work tree.
REGRESS_OPTS = --load-extension=fauna_fdw \
	$(if $(REGRESS_OUTPUTDIR),--outputdir=$(REGRESS_OUTPUTDIR))

CURL_CONFIG ?= curl-config
PKG_CONFIG ?= pkg-config

PG_CPPFLAGS = -I$(srcdir)/src $(shell $(CURL_CONFIG) --cflags)
# PostgreSQL's own headers are not clean under -Wextra without these.
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
# Link-time optimization: the response decoder is five files whose hot
# helpers (classify, server strings, conversions) call one another per
# value; across files they are not inlined otherwise.  Measured with
# bench/build_cpu.py (query A of fdw_bench.py, 200,000 documents, builds
# alternated): 4.19 us of backend CPU per document without, 3.66 with,
# against 3.99 before the split (bench/RESULTS.md).
PG_CFLAGS += -flto=auto
SHLIB_LINK += -flto=auto
SHLIB_LINK = $(shell $(CURL_CONFIG) --libs)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies unless PostgreSQL was configured with
# --enable-depend: every object is rebuilt when any private header changes.
$(filter %.o,$(OBJS)): $(wildcard $(srcdir)/src/*.h)
