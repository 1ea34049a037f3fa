# contend: one non-recursive Makefile.
#
#   make              build build/contend
#   make test         (alias: check) every TAP test and the short stress suite,
#                     then all of it again under ThreadSanitizer (build-thread/)
#   make bench        build, run the default suite, draw the charts
#                     (SUITE=long|smoke another suite, OUT=DIR the run folder)
#   make bench-long   the publication-grade suite (opt-in, much longer)
#   make report       (re)write results/latest/report.md and its charts
#   make asan         tests under AddressSanitizer + UBSan (build-address-undefined/)
#   make clean
#
# V=1 shows the commands.  SANITIZE=thread|address,undefined builds into its
# own folder.  Missing system packages are installed with apt-get when run
# as root; otherwise the exact command is printed and make stops.

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

comma := ,
V ?= 0
Q := $(if $(filter 1,$(V)),,@)
SANITIZE ?=
BUILD ?= $(if $(SANITIZE),build-$(subst $(comma),-,$(SANITIZE)),build)

CC ?= cc
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -Wall -Wextra -Wshadow -Wno-missing-field-initializers -Wno-format-truncation
SAN := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer)
# Deferred (=) on purpose: pkg-config runs when a recipe needs it, which is
# after `deps` has had the chance to install hwloc.
HWLOC_CFLAGS = $(shell pkg-config --cflags hwloc 2>/dev/null)
HWLOC_LIBS = $(shell pkg-config --libs hwloc 2>/dev/null || echo -lhwloc)
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) -MMD -MP \
	-Iharness -Iprimitives -Iworkloads -I$(BUILD) $(HWLOC_CFLAGS) $(CK_CFLAGS) \
	$(SQLITE_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN)
# Google Benchmark, behind the C shim harness/gbench.cc (the one C++ file).
GB_CFLAGS = $(shell pkg-config --cflags benchmark 2>/dev/null)
GB_LIBS = $(shell pkg-config --libs benchmark 2>/dev/null || echo -lbenchmark)
GB_VERSION = $(shell pkg-config --modversion benchmark 2>/dev/null || echo unknown)
CXX ?= c++
CXXFLAGS ?= $(OPT) -g
ALL_CXXFLAGS = -std=c++17 -Wall -Wextra -Wshadow $(CXXFLAGS) $(SAN) -MMD -MP \
	-Iharness -Iprimitives -I$(BUILD) $(GB_CFLAGS) -DGB_VERSION='"$(GB_VERSION)"'
# Concurrency Kit: the chan family's baseline (ck_ring).
CK_CFLAGS = $(shell pkg-config --cflags ck 2>/dev/null)
CK_LIBS = $(shell pkg-config --libs ck 2>/dev/null || echo -lck)
# SQLite: drain/server's durable sink.
SQLITE_CFLAGS = $(shell pkg-config --cflags sqlite3 2>/dev/null)
SQLITE_LIBS = $(shell pkg-config --libs sqlite3 2>/dev/null || echo -lsqlite3)
LDLIBS_ALL = $(HWLOC_LIBS) $(GB_LIBS) $(CK_LIBS) $(SQLITE_LIBS) -lstdc++ -lpthread -lm

MAIN_SRC := harness/cli.c
LIB_SRC := $(filter-out $(MAIN_SRC),$(wildcard harness/*.c primitives/*.c workloads/*.c))
LIB_CXX_SRC := $(wildcard harness/*.cc)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX_SRC:%.cc=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*_test.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SH := $(wildcard tests/*_test.sh)
CONTEND := $(BUILD)/contend

# Debian packages: what each is for.
#   libhwloc-dev hwloc   topology and pinning (pkg-config hwloc), lstopo
#   gnuplot-nox          charts
#   perl                 prove, the TAP harness
#   libbenchmark-dev     Google Benchmark, for `contend micro`
#   libck-dev            Concurrency Kit, the chan family's baseline (ck_ring)
#   libsqlite3-dev       SQLite, drain/server's durable sink (every ACK is a row)
#   pkg-config           finding the libraries
DEPS_CHECK = \
	missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists hwloc 2>/dev/null || missing="$$missing libhwloc-dev"; \
	command -v lstopo >/dev/null 2>&1 || missing="$$missing hwloc"; \
	command -v gnuplot >/dev/null 2>&1 || missing="$$missing gnuplot-nox"; \
	command -v prove >/dev/null 2>&1 || missing="$$missing perl"; \
	pkg-config --exists benchmark 2>/dev/null || missing="$$missing libbenchmark-dev"; \
	pkg-config --exists ck 2>/dev/null || missing="$$missing libck-dev"; \
	pkg-config --exists sqlite3 2>/dev/null || missing="$$missing libsqlite3-dev"

.PHONY: all deps test check test-run bench bench-long report asan tsan clean FORCE

all: deps
	$(Q)$(MAKE) --no-print-directory $(CONTEND)

deps:
	@$(DEPS_CHECK); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "contend: installing missing packages:$$missing"; \
			apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null || exit 1; \
		else \
			echo "contend: missing packages:$$missing"; \
			echo "contend: run: sudo apt-get install -y$$missing"; \
			exit 1; \
		fi; \
	fi

# Compiler, flags and commit, baked into meta.  Rewritten only when they
# change, so an unchanged tree does not rebuild.
$(BUILD)/build_info.h: FORCE
	@mkdir -p $(BUILD)
	@{ \
	echo '#define BUILD_COMPILER "'"$$($(CC) --version | head -n 1 | sed 's/"/\\"/g')"'"'; \
	echo '#define BUILD_CFLAGS "$(subst ",\",$(ALL_CFLAGS))"'; \
	echo '#define BUILD_COMMIT "'"$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty)"'"'; \
	echo '#define BUILD_PLOTS_DIR "$(CURDIR)/plots"'; \
	} > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Any change of compiler or flags rebuilds everything.
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(ALL_CFLAGS) $(CXX) $(ALL_CXXFLAGS) $(ALL_LDFLAGS) $(LDLIBS_ALL)' > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/%.o: %.c $(BUILD)/.flags | $(BUILD)/build_info.h
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc $(BUILD)/.flags | $(BUILD)/build_info.h
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CXX     $<")
	$(Q)$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

$(BUILD)/harness/output.o $(BUILD)/harness/report.o: $(BUILD)/build_info.h

$(BUILD)/libcontend.a: $(LIB_OBJ)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(CONTEND): $(BUILD)/harness/cli.o $(BUILD)/libcontend.a
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libcontend.a
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%.o: tests/%.c $(BUILD)/.flags | $(BUILD)/build_info.h
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -c $< -o $@

# Run every TAP program and script of one build folder under prove.
test-run: $(CONTEND) $(TEST_BIN)
	@echo "== tests ($(BUILD)$(if $(SANITIZE), SANITIZE=$(SANITIZE)))"
	$(Q)CONTEND=$(CURDIR)/$(CONTEND) SANITIZE=$(SANITIZE) TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		prove --timer -f $(TEST_BIN) $(TEST_SH)

test check: deps
	$(Q)$(MAKE) --no-print-directory test-run
	$(Q)$(MAKE) --no-print-directory SANITIZE=thread test-run

tsan: deps
	$(Q)$(MAKE) --no-print-directory SANITIZE=thread test-run

asan: deps
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined test-run

# SUITE=default|long|smoke picks the suite; OUT=DIR writes the run folder
# there instead of results/<run-id> (and leaves results/latest alone).
SUITE ?= default
bench: all
	$(Q)$(CONTEND) bench --suite $(SUITE) $(if $(OUT),--out $(OUT))

bench-long: all
	$(Q)$(CONTEND) bench --suite long

report: all
	$(Q)$(CONTEND) report $(or $(RUN),results/latest)

clean:
	rm -rf build build-*

-include $(LIB_OBJ:.o=.d) $(BUILD)/harness/cli.d $(TEST_BIN:=.d)
