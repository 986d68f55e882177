# simpleproduct: PGXS build of the extension and of the REST server.
#
#   make                 build the extension and the server
#   make install         install the extension into PG_CONFIG's PostgreSQL
#   make installcheck    regression and isolation suites against a running
#                        server (scripts/test starts a throwaway one for you)
#   make refresh-email-providers
#                        refresh data/public-email-providers.txt from npm

EXTENSION = simpleproduct
EXTVERSION = 0.1.0

MODULE_big = simpleproduct
OBJS = \
	src/simpleproduct.o \
	src/workspace.o \
	src/normalize.o \
	src/email_providers.o \
	src/merge_patch.o \
	src/person.o \
	src/identify.o \
	src/organization.o \
	src/feedback.o \
	src/history.o \
	src/erase.o \
	src/linking.o \
	src/import.o

# The install script is assembled from the pieces under src/install, in name
# order, the way pgvector assembles its own from sql/vector.sql.
INSTALL_PIECES = $(sort $(wildcard src/install/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

PG_CPPFLAGS = -Isrc -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lpsl -lidn2

EXTRA_CLEAN = src/email_providers.c src/server/simpleproduct-server \
	src/server/*.o

# No JIT bitcode: a fresh machine need not have clang.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on the shared header (PGXS tracks no headers).
$(OBJS): src/simpleproduct.h

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_PIECES)
	cat $^ > $@

# The sorted table of public email provider domains, compiled in so that the
# linking triggers test a domain with a binary search and no query.
src/email_providers.c: data/public-email-providers.txt src/gen_email_providers.sh
	sh src/gen_email_providers.sh $< > $@

refresh-email-providers:
	sh src/refresh_email_providers.sh data/public-email-providers.txt

.PHONY: refresh-email-providers

# The REST server (src/server): a program of its own, on libmicrohttpd and
# libpq, built by `make` with the extension.
SERVER = src/server/simpleproduct-server
SERVER_OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/server/*.c)))
SERVER_CFLAGS = -O2 -g -std=gnu11 -pthread -Wall -Wextra -Werror \
	-I$(shell $(PG_CONFIG) --includedir)

all: $(SERVER)

$(SERVER): $(SERVER_OBJS)
	$(CC) $(SERVER_CFLAGS) -o $@ $^ -L$(shell $(PG_CONFIG) --libdir) \
		-lmicrohttpd -lpq

src/server/%.o: src/server/%.c src/server/server.h
	$(CC) $(SERVER_CFLAGS) -c -o $@ $<

# The benchmark (bench/run): a throwaway cluster of its own, every
# comparison of issue 5, BENCHMARKS.md.  Takes about 20 minutes; never in CI.
bench:
	bash bench/run

.PHONY: bench
