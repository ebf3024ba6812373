# elms — build, test, reproduce.
#   make             build bin/elms (installs missing Debian packages first, see `make deps`)
#   make test        build and run the whole test suite (tests/, one runner)
#   make test-asan   the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-ubsan-clang  the same suite built by clang with UBSan incl. float-cast-overflow (installs clang)
#   make fuzz        run every libFuzzer harness (fuzz/) for FUZZ_SECONDS each (default 60; FUZZ=NAME... for some)
#   make fuzz-seeds  regenerate the committed seed corpora fuzz/corpus/ with the project's own writers
#   make bench       print engine benchmark figures and evaluation throughput (asserts nothing); B=NAME for one
#                    benchmark of elms-bench; sh bench/compare.sh REV measures an older revision beside this one
#   make reproduce   the main job, end to end (see README.md)
#   make figures     the figures (results/figures/) and the generated report (results/REPORT.md) of results/elms.db
#   make prepare     rebuild the shipped offline artefacts (models/base-elastic) from models/ and data/
#   make deps        install the missing Debian packages (needs root or sudo)
#   make clean       remove build products (keeps models/ and results/golden/)

CC      ?= cc
SAN     ?=
# GCC's -O2 vectorises only loops whose trip count it knows (its "very cheap" cost model), which leaves the
# engine's loops over a row (norms, attention scaling, residuals) scalar: the dynamic model makes a 256-token
# prefill of models/base about 10% faster. It changes no result: a vectorised element-wise loop does the same
# operations per element, and no sum is reordered (that would need -ffast-math).
# (GCC's flag: probed, so that a compiler without it, clang, builds without it)
VECT    := $(shell $(CC) -Werror -fvect-cost-model=dynamic -x c -c /dev/null -o /dev/null 2>/dev/null && \
             echo -fvect-cost-model=dynamic)
OPT     ?= -O2 -march=native $(VECT)
PKGS    := gsl sqlite3 libcjson
CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. \
           -I/usr/include/x86_64-linux-gnu/openblas-pthread -I/usr/include/cjson $(SAN)
LDLIBS  := -lopenblas -lgsl -lsqlite3 -lcjson -lm -lpthread

ifeq ($(SAN),)
BUILD   := build/release
BIN     := bin
else
BUILD   := build/asan
BIN     := bin/asan
endif

LIB_DIRS := base engine datasets eval elastic traces policies sim
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CLI_SRC  := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)
# the fuzz harnesses: linked into the test runner (which replays their seeds and past crashes) and, one per
# binary with fuzz/entry.c, into the libFuzzer targets of make fuzz
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_LIB_SRC := fuzz/common.c $(wildcard fuzz/fuzz_*.c)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)
DEPS_OK  := build/.deps-ok

.PHONY: all deps clang-deps test test-asan test-ubsan-clang fuzz fuzz-build fuzz-run fuzz-seeds bench reproduce \
        prepare clean figures
all: $(BIN)/elms

# ---- Debian packages: checked once per build tree, installed when missing ----
DEB_PKGS := libopenblas-dev libgsl-dev libsqlite3-dev libcjson-dev gnuplot-nox sqlite3 pkg-config time
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing \
	    || { echo "deps: could not install$$missing (run 'make deps' as root)"; exit 1; }; \
	else echo "deps: all Debian packages present"; fi
	@mkdir -p build && touch $(DEPS_OK)

$(DEPS_OK):
	@$(MAKE) --no-print-directory deps

# clang and its sanitizer and libFuzzer runtimes (libclang-rt-dev is only recommended by clang on Debian 12), for
# make test-ubsan-clang and make fuzz
CLANG_PKGS := clang libclang-rt-dev
clang-deps:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(CLANG_PKGS)" DEPS_OK=build/.deps-clang-ok

# ---- compilation ----
$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BIN)/elms: $(LIB_OBJ) $(CLI_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/elms-test: $(LIB_OBJ) $(TEST_OBJ) $(FUZZ_LIB_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/elms-bench: $(LIB_OBJ) $(BENCH_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests: one runner; the CLI binary is exercised too, and the benchmarks are built (not run), so that a change
# that breaks them fails here and in the sanitizer builds.
# OPENBLAS_NUM_THREADS=1 keeps results independent of the machine's core count.
test: $(BIN)/elms $(BIN)/elms-test $(BIN)/elms-bench
	@OPENBLAS_NUM_THREADS=1 ELMS_BIN=$(BIN)/elms $(BIN)/elms-test $(T)

test-asan:
	@$(MAKE) --no-print-directory SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" OPT=-O1 test

# clang's UndefinedBehaviorSanitizer, float-to-integer overflow included, every finding fatal; clang and its
# runtimes are installed (clang-deps) only for this target and make fuzz, when missing.
test-ubsan-clang: clang-deps
	@$(MAKE) --no-print-directory CC=clang OPT=-O1 BUILD=build/ubsan-clang BIN=bin/ubsan-clang \
	  SAN="-fsanitize=undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer" test

# ---- fuzzing: every harness for FUZZ_SECONDS, built by clang with libFuzzer, ASan and UBSan (float-cast-overflow
# included, every finding fatal) in build/fuzz. Each harness starts from its committed seeds (fuzz/corpus/NAME)
# and dictionary (fuzz/dict/NAME.dict); new inputs go to FUZZ_WORK/corpus/NAME (ignored), crashes to
# FUZZ_WORK/crashes/NAME, logs to FUZZ_WORK/logs/NAME.log. Fails when any harness finds something.
FUZZ_SECONDS ?= 60
FUZZ ?= $(FUZZ_NAMES)
FUZZ_WORK ?= fuzz/out
FUZZ_SAN := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_FLAGS ?= -timeout=30 -rss_limit_mb=2048
# the harnesses write every input to a file: on tmpfs when there is one (a disk file rewritten in place is
# flushed on every close by ext4, which slows the harnesses tenfold)
FUZZ_TMPDIR ?= $(firstword $(wildcard /dev/shm) $(TMPDIR) /tmp)
FUZZ_ENV := TMPDIR=$(FUZZ_TMPDIR) OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1
fuzz: clang-deps
	@$(MAKE) --no-print-directory CC=clang OPT=-O1 BUILD=build/fuzz BIN=bin/fuzz \
	  SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-build
	@$(MAKE) --no-print-directory BIN=bin/fuzz fuzz-run

fuzz-build: $(FUZZ_NAMES:%=$(BIN)/fuzz-%)

.SECONDARY: $(FUZZ_NAMES:%=$(BUILD)/fuzz/entry-%.o)
$(BUILD)/fuzz/entry-%.o: fuzz/entry.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_TARGET=fuzz_$* -MMD -MP -c $< -o $@

$(BIN)/fuzz-%: $(BUILD)/fuzz/entry-%.o $(LIB_OBJ) $(FUZZ_LIB_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-run:
	@fail=""; for n in $(FUZZ); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$n $(FUZZ_WORK)/crashes/$$n $(FUZZ_WORK)/logs; \
	  log=$(FUZZ_WORK)/logs/$$n.log; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s (log $$log)"; \
	  $(FUZZ_ENV) $(BIN)/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) -print_final_stats=1 \
	    -dict=fuzz/dict/$$n.dict -artifact_prefix=$(FUZZ_WORK)/crashes/$$n/ \
	    $(FUZZ_WORK)/corpus/$$n fuzz/corpus/$$n >$$log 2>&1; rc=$$?; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -1); \
	  corp=$$(grep -E '^#[0-9]+' $$log | tail -1 | sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p'); \
	  echo "fuzz: $$n: $${runs:-?} executions, corpus $${corp:-?} (inputs/bytes), exit $$rc"; \
	  if [ $$rc != 0 ]; then fail="$$fail $$n"; grep -E -A40 'ERROR|WARNING|SUMMARY|==[0-9]+==' $$log | head -80; fi; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz: FAILED:$$fail (inputs in $(FUZZ_WORK)/crashes/)"; exit 1; fi

# the seed corpora are generated by the project's own writers (fuzz/seeds.c) and committed
$(BIN)/elms-fuzz-seeds: $(LIB_OBJ) $(FUZZ_LIB_OBJ) $(BUILD)/fuzz/seeds.o
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

fuzz-seeds: $(BIN)/elms-fuzz-seeds
	rm -rf fuzz/corpus
	OPENBLAS_NUM_THREADS=1 $(BIN)/elms-fuzz-seeds fuzz/corpus

bench: $(BIN)/elms $(BIN)/elms-bench
	@$(BIN)/elms-bench $(B)
	@if [ -z "$(B)" ]; then echo; echo "== evaluation throughput (bench/eval.sh)"; sh bench/eval.sh $(BIN)/elms; fi

# ---- the main job ----
reproduce: $(BIN)/elms
	@sh analysis/reproduce.sh

# ---- the figures and the report of the experiments, from the views of analysis/views.sql (docs/experiments.md) ----
FIGURES_DB ?= results/elms.db
figures: $(BIN)/elms | $(DEPS_OK)
	@sh analysis/figures.sh $(FIGURES_DB) results/figures
	@sh analysis/report.sh $(FIGURES_DB) results/REPORT.md

# ---- offline artefacts (models/base-elastic: reordering, adapters, every policy's folder); FORCE=1 rebuilds ----
prepare: $(BIN)/elms
	@FORCE=$(FORCE) sh analysis/prepare.sh

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
