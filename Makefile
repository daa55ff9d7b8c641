# ggswap — plain Makefile. `make` builds build/ggswap; `make asan` the sanitizer build;
# `make test` installs what is missing, builds, and runs every test; `make run` serves.
CC ?= cc
PKGS := libuv jansson libfyaml
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

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
WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2
BASE_CFLAGS := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -DGS_VERSION='"$(VERSION)"' -Isrc -Ibuild/gen $(PKG_CFLAGS)

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
LDLIBS_ALL := $(PKG_LIBS) -lm $(LDLIBS)

SRC := $(filter-out src/main.c,$(wildcard src/*.c))
OBJ := $(SRC:src/%.c=$(B)/obj/%.o) $(B)/obj/webui_data.o
LLHTTP_OBJ := $(LLHTTP_SRC:$(LLHTTP_DIR)/%.c=$(B)/llhttp/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
WEB_FILES := $(sort $(wildcard web/*))

.PHONY: all asan test unit js-test run deps install clean bench fuzz llama-server demo-models
all: $(B)/ggswap $(B)/fake-upstream $(B)/ggswap-mkgguf

$(B)/obj/%.o: src/%.c | $(B)/obj build/gen/webui_data.c
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@
$(B)/obj/webui_data.o: build/gen/webui_data.c | $(B)/obj
	$(CC) $(CFLAGS_ALL) -c $< -o $@
$(B)/llhttp/%.o: $(LLHTTP_DIR)/%.c | $(B)/llhttp
	$(CC) -O2 -g -w -I/usr/share/include/llhttp $(OPT_CFLAGS) -c $< -o $@
$(B)/libggswap.a: $(OBJ) $(LLHTTP_OBJ)
	rm -f $@ && ar rcs $@ $^
$(B)/ggswap: $(B)/obj/main.o $(B)/libggswap.a
	$(CC) $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(B)/fake-upstream: tests/fake_upstream.c $(B)/libggswap.a
	$(CC) $(CFLAGS_ALL) $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(B)/ggswap-mkgguf: tools/mkgguf.c $(B)/libggswap.a
	$(CC) $(CFLAGS_ALL) $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(B)/tests/%: tests/unit/%.c $(B)/libggswap.a | $(B)/tests
	$(CC) $(CFLAGS_ALL) $(OPT_LDFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcriterion

# The web page is embedded at build time: build/gen/webui_data.c holds every file of web/.
build/gen/embed: tools/embed.c | build/gen
	$(CC) -O1 -o $@ $<
build/gen/webui_data.c: build/gen/embed $(WEB_FILES)
	build/gen/embed $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(B)/obj $(B)/llhttp $(B)/tests build/gen:
	mkdir -p $@

-include $(wildcard $(B)/obj/*.d)

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
	$(MAKE) unit
	$(MAKE) js-test

run: deps all
	sh scripts/run.sh

install: all
	install -D -m 755 build/ggswap $(DESTDIR)$(or $(PREFIX),/usr/local)/bin/ggswap

llama-server:
	@sh scripts/get-llama-server

bench: deps all
	sh bench/run.sh

clean:
	rm -rf build
