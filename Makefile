# elms — build, test, reproduce.
#   make             build bin/elms (installs missing Debian packages first, see `make deps`)
#   make test        build and run the whole test suite (tests/, one runner)
#   make test-asan   the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-ubsan-clang  the same suite built by clang with UBSan incl. float-cast-overflow (installs clang)
#   make bench       print engine benchmark figures (asserts nothing)
#   make reproduce   the main job, end to end (see README.md)
#   make prepare     rebuild the shipped offline artefacts (models/base-elastic) from models/ and data/
#   make deps        install the missing Debian packages (needs root or sudo)
#   make clean       remove build products (keeps models/ and results/golden/)

CC      ?= cc
SAN     ?=
OPT     ?= -O2 -march=native
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
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)
DEPS_OK  := build/.deps-ok

.PHONY: all deps test test-asan test-ubsan-clang bench reproduce prepare clean figures
all: $(BIN)/elms

# ---- Debian packages: checked once per build tree, installed when missing ----
DEB_PKGS := libopenblas-dev libgsl-dev libsqlite3-dev libcjson-dev gnuplot-nox sqlite3 pkg-config
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

# ---- compilation ----
$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BIN)/elms: $(LIB_OBJ) $(CLI_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the training log (cli/train_log.c) is a CLI module with a test of its own
$(BIN)/elms-test: $(LIB_OBJ) $(TEST_OBJ) $(BUILD)/cli/train_log.o
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/elms-bench: $(LIB_OBJ) $(BENCH_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests: one runner; the CLI binary is exercised too ----
# OPENBLAS_NUM_THREADS=1 keeps results independent of the machine's core count.
test: $(BIN)/elms $(BIN)/elms-test
	@OPENBLAS_NUM_THREADS=1 ELMS_BIN=$(BIN)/elms $(BIN)/elms-test $(T)

test-asan:
	@$(MAKE) --no-print-directory SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" OPT=-O1 test

# clang's UndefinedBehaviorSanitizer, float-to-integer overflow included, every finding fatal; clang is installed
# (Debian package clang) only for this target, when missing.
test-ubsan-clang:
	@command -v clang >/dev/null 2>&1 || $(MAKE) --no-print-directory deps DEB_PKGS=clang DEPS_OK=build/.deps-clang-ok
	@$(MAKE) --no-print-directory CC=clang OPT=-O1 BUILD=build/ubsan-clang BIN=bin/ubsan-clang \
	  SAN="-fsanitize=undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer" test

bench: $(BIN)/elms $(BIN)/elms-bench
	@$(BIN)/elms-bench $(B)

# ---- the main job ----
reproduce: $(BIN)/elms
	@sh analysis/reproduce.sh

# ---- offline artefacts (models/base-elastic: reordering, adapters, every policy's folder); FORCE=1 rebuilds ----
prepare: $(BIN)/elms
	@FORCE=$(FORCE) sh analysis/prepare.sh

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)
