# ggswap — plain Makefile. `make` builds build/ggswap; `make asan` the sanitizer build;
# `make test` installs what is missing, builds, and runs every test; `make run` serves.
CC ?= cc
PKGS := libuv jansson libfyaml libcurl libcrypto libssl sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl and OpenSSL: headers only; src/curlso.c and src/sslso.c load them on first use.
PKG_LIBS := $(shell pkg-config --libs $(filter-out libcurl libcrypto libssl,$(PKGS)) 2>/dev/null)

# llhttp: the system library where pkg-config knows it, else Debian's node-llhttp C sources.
LLHTTP_PC := $(shell pkg-config --exists libllhttp 2>/dev/null && echo yes)
ifeq ($(LLHTTP_PC),yes)
  PKG_CFLAGS += $(shell pkg-config --cflags libllhttp)
  PKG_LIBS += $(shell pkg-config --libs libllhttp)
  LLHTTP_SRC :=
else
  LLHTTP_DIR ?= /usr/share/llhttp
  PKG_CFLAGS += -I/usr/share/include/llhttp
  LLHTTP_SRC := $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c
endif

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2
BASE_CFLAGS := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -DGS_VERSION='"$(VERSION)"' -DGS_COMMIT='"$(COMMIT)"' -Isrc -Ibuild/gen $(PKG_CFLAGS)

ifeq ($(SAN),1)
  B := build/asan
  OPT_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  OPT_LDFLAGS := -fsanitize=address,undefined
else
  B := build
  OPT_CFLAGS := -O2
  OPT_LDFLAGS :=
endif
CFLAGS_ALL := $(BASE_CFLAGS) $(OPT_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lm -ldl $(LDLIBS)

SRC := $(filter-out src/main.c,$(wildcard src/*.c))
OBJ := $(SRC:src/%.c=$(B)/obj/%.o) $(B)/obj/webui_data.o
LLHTTP_OBJ := $(LLHTTP_SRC:$(LLHTTP_DIR)/%.c=$(B)/llhttp/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Every file below web/, subfolders included (served as /ui/<path>).
WEB_FILES := $(sort $(shell find web -type f))

.PHONY: all asan test unit js-test run deps install clean bench bench-trace bench-swap fuzz llama-server demo-models
.PHONY: fuzz-short fuzz-build
.PHONY: check-shape
# No src/*.c over 1,200 lines, no function over 150, no include cycle (docs/DEVELOPING.md).
check-shape:
	scripts/check-shape
all: $(B)/ggswap $(B)/fake-upstream $(B)/ggswap-mkgguf $(B)/libnvidia-ml-stub.so

$(B)/obj/%.o: src/%.c | $(B)/obj build/gen/webui_data.c
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@
$(B)/obj/webui_data.o: build/gen/webui_data.c | $(B)/obj
	$(CC) $(CFLAGS_ALL) -c $< -o $@
# The GGUF writer (tools/ggufw.c) goes only into ggswap-mkgguf and the tests, not the daemon.
$(B)/obj/tools/%.o: tools/%.c | $(B)/obj/tools build/gen/webui_data.c
	$(CC) $(CFLAGS_ALL) -Itools -MMD -MP -c $< -o $@
$(B)/llhttp/%.o: $(LLHTTP_DIR)/%.c | $(B)/llhttp
	$(CC) -O2 -g -w -I/usr/share/include/llhttp $(OPT_CFLAGS) -c $< -o $@
$(B)/libggswap.a: $(OBJ) $(LLHTTP_OBJ)
	rm -f $@ && ar rcs $@ $^
$(B)/ggswap: $(B)/obj/main.o $(B)/libggswap.a
	$(CC) $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
# The fake links libcrypto itself (SHA-1 for its WebSocket handshake); the daemon loads OpenSSL.
$(B)/fake-upstream: tests/fake_upstream.c $(B)/libggswap.a
	$(CC) $(CFLAGS_ALL) $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcrypto
$(B)/ggswap-mkgguf: tools/mkgguf.c $(B)/obj/tools/ggufw.o $(B)/libggswap.a
	$(CC) $(CFLAGS_ALL) -Itools $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
# A stand-in NVML for the GPU tests (tests/stub_nvml.c); plain -O1: it is dlopen'ed.
$(B)/libnvidia-ml-stub.so: tests/stub_nvml.c
	$(CC) -shared -fPIC -O1 -g -Wall -o $@ $<
$(B)/tests/%: tests/unit/%.c tests/unit/helpers.h $(B)/obj/tools/ggufw.o $(B)/libggswap.a | $(B)/tests
	$(CC) $(CFLAGS_ALL) -Itools $(OPT_LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS_ALL) -lcriterion

# The web page is embedded at build time: build/gen/webui_data.c holds every file of web/.
# build/gen is shared by the release and ASan builds, which `make -j2 all asan` runs at once:
# each writes a file of its own and renames it, so neither runs a half-written embed.
build/gen/embed: tools/embed.c | build/gen
	$(CC) -O1 -o $@.$$$$.tmp $< && mv $@.$$$$.tmp $@
# The folders are prerequisites too: removing a file changes its folder's time, not a file's.
build/gen/webui_data.c: build/gen/embed $(WEB_FILES) $(shell find web -type d)
	build/gen/embed web $(WEB_FILES) > $@.$$$$.tmp && mv $@.$$$$.tmp $@

$(B)/obj $(B)/obj/tools $(B)/llhttp $(B)/tests build/gen:
	mkdir -p $@

-include $(wildcard $(B)/obj/*.d $(B)/obj/tools/*.d)

asan:
	$(MAKE) SAN=1 all $(UNIT_BIN:build/%=build/asan/%)

deps:
	sh scripts/deps.sh

unit: asan
	@set -e; for t in $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%); do \
	  echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t --jobs 2; done

js-test: asan
	cd tests/js && GGSWAP_BIN=$(CURDIR)/build/asan/ggswap FAKE_UPSTREAM=$(CURDIR)/build/asan/fake-upstream \
	  MKGGUF=$(CURDIR)/build/asan/ggswap-mkgguf node --test --test-concurrency=2 --test-timeout=120000 *.test.mjs

test: deps
	sh scripts/test-all.sh

run: deps all
	sh scripts/run.sh

# Also the systemd units: the system service ($(PREFIX)/lib/systemd/system/ggswap.service) and
# the desktop user's (.../systemd/user/ggswap.service), with the installed binary's path.
PREFIX ?= /usr/local
install: all
	install -D -m 755 build/ggswap $(DESTDIR)$(PREFIX)/bin/ggswap
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/systemd/user
	sed 's|@BINDIR@|$(PREFIX)/bin|g' contrib/systemd/ggswap.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/ggswap.service
	sed 's|@BINDIR@|$(PREFIX)/bin|g' contrib/systemd/ggswap-user.service > $(DESTDIR)$(PREFIX)/lib/systemd/user/ggswap.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/ggswap.service $(DESTDIR)$(PREFIX)/lib/systemd/user/ggswap.service

llama-server:
	@sh scripts/get-llama-server

bench: deps all
	sh bench/run.sh
	node bench/trace.mjs --out $(or $(BENCH_OUT),docs/BENCHMARKS.md)
	node bench/swap.mjs

# Issue 13 alone: slot cache, swap first token, prefetch with a cold page cache.
bench-swap: all
	node bench/swap.mjs

# The memory policies' trace replay alone (bench/trace.mjs; a few minutes).
bench-trace: all
	node bench/trace.mjs --out $(or $(BENCH_OUT),docs/BENCHMARKS.md)

# ---- fuzzing: libFuzzer targets with ASan + UBSan (clang), built into build/fuzz/ ----
# `make fuzz` runs each target FUZZ_SECONDS (default 60); `make fuzz-short` 10 s each (CI).
# Seeds: fuzz/corpus/<target>/ (read only); what the fuzzer learns goes to build/fuzz/corpus/,
# crashes to build/fuzz/crashes/<target>/. Findings and runs: docs/RELIABILITY.md.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := http config gguf cmdline names matrix hub flags jscan settings
FUZZ_CFLAGS := $(BASE_CFLAGS) -Wno-format-nonliteral -O1 -fno-omit-frame-pointer -DGS_FUZZING \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined
FZ := build/fuzz
FUZZ_OBJ := $(SRC:src/%.c=$(FZ)/obj/%.o) $(FZ)/obj/webui_data.o \
  $(LLHTTP_SRC:$(LLHTTP_DIR)/%.c=$(FZ)/llhttp/%.o)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FZ)/fuzz_%)

$(FZ)/obj/%.o: src/%.c | $(FZ)/obj build/gen/webui_data.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FZ)/obj/webui_data.o: build/gen/webui_data.c | $(FZ)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FZ)/llhttp/%.o: $(LLHTTP_DIR)/%.c | $(FZ)/llhttp
	$(FUZZ_CC) -O1 -g -w -I/usr/share/include/llhttp -fsanitize=address,undefined,fuzzer-no-link -c $< -o $@
$(FZ)/libggswap.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
$(FZ)/fuzz_%: fuzz/fuzz_%.c $(FZ)/libggswap.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)
$(FZ)/obj $(FZ)/llhttp:
	mkdir -p $@

-include $(wildcard $(FZ)/obj/*.d)

fuzz-build: $(FUZZ_BIN)

# One target: FUZZ_SECONDS of libFuzzer, then a line of stats. Fails on the first finding.
fuzz-run-%: $(FZ)/fuzz_%
	@mkdir -p $(FZ)/corpus/$* $(FZ)/crashes/$*
	@echo "== fuzz $* ($(FUZZ_SECONDS) s; log $(FZ)/$*.log)"
	@rc=0; ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FZ)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	  -print_final_stats=1 -artifact_prefix=$(FZ)/crashes/$*/ \
	  $$(test -f fuzz/$*.dict && echo -dict=fuzz/$*.dict) \
	  $(FZ)/corpus/$* fuzz/corpus/$* > $(FZ)/$*.log 2>&1 || rc=$$?; \
	  grep -E '^(#[0-9]+.*(INITED|DONE)|stat::number_of_executed_units|stat::average_exec_per_sec|Done [0-9]+ runs)' $(FZ)/$*.log; \
	  if [ $$rc -ne 0 ]; then tail -n 60 $(FZ)/$*.log; echo "fuzz $*: FAILED (rc $$rc)"; exit 1; fi

fuzz: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-run-$$t FUZZ_SECONDS=$(FUZZ_SECONDS); done

fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=10

clean:
	rm -rf build
