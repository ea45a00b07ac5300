# sstvault - plain Makefile, dependencies from pkg-config (STYLE.md 23).
#
#   make          build ./sstvault
#   make test     install missing packages, build, run every test
#   make demo     install missing packages, build, back up + restore + verify a
#                 generated Cassandra data directory in a local repository
#   make asan     the test suite under AddressSanitizer + UBSan
#   make tsan     the test suite under ThreadSanitizer (tests/tsan.supp)
#   make bench    benchmarks (perf/), never part of make test

BUILD   ?= build
# The default build puts the binary at ./sstvault; sanitizer builds keep
# theirs inside their build directory so the two never overwrite each other.
SV_BIN  ?= sstvault
CC      ?= cc
# Also listed in tests/t_fuzz_regress.sh and scripts/fuzz.sh (they build
# without make); Debian packages in scripts/deps.sh.
PKGS    := liburing libzstd libxxhash libcrypto libcurl jansson yaml-0.1 zlib liblz4 libdeflate
WARN    := -Wall -Wextra -Werror -Wshadow -Wcast-align -Wstrict-prototypes \
           -Wundef -Wpointer-arith -Wvla -Wformat=2 -Wwrite-strings \
           -Wswitch-enum -Wno-format-nonliteral -Wno-format-truncation
OPT     ?= -O2 -g
SAN     ?=
SANFLAGS := $(if $(SAN),-fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer,)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += -std=c11 -D_GNU_SOURCE -DHAVE_CURL=1 -I. $(WARN) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

LIB_SRC := $(wildcard codecs/*.c io/*.c uploaders/*.c engine/*.c)
LIB_SRC := $(filter-out engine/main.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
PERF_SRC := $(wildcard perf/*.c)
PERF_BIN := $(PERF_SRC:perf/%.c=$(BUILD)/perf/%)

.PHONY: all test test-run demo asan tsan deps clean bench check-layering style tools fuzz

all: $(SV_BIN) tools

tools: $(PERF_BIN)

$(SV_BIN): $(BUILD)/engine/main.o $(BUILD)/libsv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libsv.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libsv.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsv.a $(LDLIBS)

$(BUILD)/perf/%: perf/%.c $(BUILD)/libsv.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsv.a $(LDLIBS)

deps:
	@scripts/deps.sh

# make test: install what is missing, then build and run in a fresh make so
# that pkg-config sees the packages deps.sh just installed.
test: deps
	@$(MAKE) --no-print-directory test-run

test-run: all $(TEST_BIN) check-layering
	@BUILD=$(BUILD) SSTVAULT=$(abspath $(SV_BIN)) tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SV_BIN=build-asan/sstvault SAN=address,undefined OPT="-O1 -g" test-run

# TSan makes the S3 crash test run past the default 600 s per test.
tsan: deps
	@TEST_TIMEOUT=$${TEST_TIMEOUT:-1800} $(MAKE) --no-print-directory BUILD=build-tsan SV_BIN=build-tsan/sstvault SAN=thread OPT="-O1 -g" test-run

# make fuzz: libFuzzer + ASan + UBSan on every parser of untrusted bytes
# (clang; FUZZ_SECONDS per target, default 60; FUZZ_JOBS, FUZZ_MERGE=1).
# make test only replays the stored corpus (tests/t_fuzz_regress.sh).
fuzz:
	@SSTVAULT_EXTRA_PKGS="clang libclang-rt-14-dev" scripts/deps.sh
	@scripts/fuzz.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@perf/bench.sh

# codecs/ is pure computation: no syscall, thread, IO or network headers.
check-layering:
	@if grep -nE '#include <(liburing|curl/|pthread|unistd|fcntl|sys/(stat|uio|mman|socket))' codecs/*.[ch]; then \
		echo "layering: codecs/ must not include IO headers"; exit 1; fi
	@if grep -nE '#include <(liburing|curl/)' engine/*.[ch]; then \
		echo "layering: engine/ must not call curl or liburing directly"; exit 1; fi

style:
	@clang-format --dry-run --Werror $(wildcard */*.[ch]) 2>&1 | head -50

clean:
	rm -rf build build-asan build-tsan build-fuzz sstvault

-include $(LIB_OBJ:.o=.d) $(BUILD)/engine/main.d
