# Sloop: `make demo` builds everything and serves the demo; `make test` runs every suite.
# Third-party C sources are fetched into build/deps (wasm/deps.sh); nothing in build/ is committed.
# SQLite's object files are cached: touching one of our C files recompiles only that file
# (editing this Makefile recompiles them, as it may change their options).

SHELL := /bin/bash
PORT ?= 8080
export NODE_PATH := /usr/share/nodejs

DEPS   := build/deps
NATIVE := build/native
FAST   := build/native-fast
WASMO  := build/wasm-obj
WASM   := build/wasm

CORE_SRC := $(wildcard wasm/src/*.c)
CORE_HDR := $(wildcard wasm/include/*.h wasm/src/*.h)
TEST_SRC := $(wildcard tests/c/test_*.c)
TEST_BIN := $(patsubst tests/c/%.c,$(NATIVE)/%,$(TEST_SRC))

# SQLite's options, the same in every build so the tests run what ships. The OMITs are only
# those that work with the amalgamation (plain #ifdefs: none changes the parser, the keyword
# table or other generated code) and leave out what no part of Sloop calls (docs/DESIGN.md,
# "Module size").
SQLITE_OMITS := -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_OMIT_LOAD_EXTENSION \
  -DSQLITE_OMIT_DECLTYPE -DSQLITE_OMIT_PROGRESS_CALLBACK -DSQLITE_OMIT_COMPLETE \
  -DSQLITE_OMIT_GET_TABLE -DSQLITE_OMIT_TCL_VARIABLE -DSQLITE_OMIT_UTF16 -DSQLITE_OMIT_TRACE \
  -DSQLITE_OMIT_AUTHORIZATION -DSQLITE_OMIT_COMPILEOPTION_DIAGS \
  -DSQLITE_OMIT_INTROSPECTION_PRAGMAS -DSQLITE_OMIT_DESERIALIZE -DSQLITE_OMIT_WAL \
  -DSQLITE_OMIT_DATETIME_FUNCS -DSQLITE_OMIT_AUTOVACUUM \
  -DSQLITE_OMIT_FOREIGN_KEY -DSQLITE_OMIT_XFER_OPT \
  -DSQLITE_UNTESTABLE
SQLITE_DEFS := -DSQLITE_ENABLE_FTS5 -DSQLITE_THREADSAFE=0 \
  -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DQS=0 $(SQLITE_OMITS) \
  -DSQLITE_TEMP_STORE=3 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS \
  -DSQLITE_MAX_EXPR_DEPTH=200
# The WebAssembly build has its own OS layer (wasm/src/wasm_os.c) instead of the Unix VFS, so
# it links without Emscripten's file system; sqlite3.c is compiled -Os there (-O2: 40% more
# download for 5-15% more speed; -Oz: a quarter to a third slower: docs/DESIGN.md, "Module size").
WASM_SQLITE_DEFS := $(SQLITE_DEFS) -DSQLITE_OS_OTHER=1
WASM_SQLITE_OPT := -Os
# The server's module is never downloaded (Node reads it from disk), so its SQLite is compiled
# for speed instead: docs/DESIGN.md, "Module size".
WASM_SERVER_SQLITE_OPT := -O2
# What only the WebAssembly build compiles; native builds leave it out.
WASM_ONLY_SRC := wasm/src/glue.c wasm/src/wasm_os.c
NATIVE_SRC = $(filter-out $(WASM_ONLY_SRC),$(CORE_SRC))
INCLUDES := -Iwasm/include -Iwasm/src -I$(DEPS)

CC_NATIVE  := clang
SANITIZE   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
WARN       := -Wall -Wextra -Werror -Wno-unused-parameter
NATIVE_CFLAGS := -std=c11 -g -O1 $(WARN) $(SANITIZE) $(INCLUDES)

EMCC := emcc
EM_CFLAGS := -O2 $(INCLUDES)
# Two modules (docs/DESIGN.md, "Two modules"): sloop-client for the browser (and for Node code
# that runs a client core), sloop-server for the Node sync server. Every wasm/src/*.c goes into
# both, except the files named here as the other role's alone; each module exports
# wasm/exports.txt plus its own wasm/exports-<role>.txt.
SERVER_ONLY_SRC := wasm/src/server.c wasm/src/server_batch.c wasm/src/server_request.c wasm/src/server_pull.c wasm/src/server_change.c wasm/src/server_rows.c wasm/src/snapshot.c
CLIENT_ONLY_SRC := wasm/src/pull_plain.c wasm/src/client.c wasm/src/client_seq.c wasm/src/text_changes.c wasm/src/oplog_coalesce.c wasm/src/sync.c wasm/src/rebase.c wasm/src/client_answer.c wasm/src/pull_apply.c wasm/src/pull_request.c wasm/src/resync.c \
  wasm/src/scope_client.c
em_exports = $(shell sed -n 's/^\(_[a-z0-9_]*\)$$/"\1"/p' wasm/exports.txt wasm/exports-$(1).txt | paste -sd,)
EM_LDFLAGS := -O2 -sFILESYSTEM=0 -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createSloopModule \
  -sENVIRONMENT=web,worker -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=16MB -sTOTAL_STACK=1MB -sMEMORY_GROWTH_GEOMETRIC_STEP=0.05 \
  -sEXPORTED_RUNTIME_METHODS='["UTF8ToString","stringToUTF8","lengthBytesUTF8"]'

.PHONY: all setup deps native check-c wasm sw package test test-c test-node test-node-pg test-browser bench-persist demo clean soak soak-fast fuzz fuzz-build
.DELETE_ON_ERROR:

all: native wasm

setup: node_modules/.package-lock.json
	@.ci/setup

node_modules/.package-lock.json: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(DEPS)/sqlite3.c

$(DEPS)/sqlite3.c $(DEPS)/sqlite3.h $(DEPS)/cJSON.c $(DEPS)/cJSON.h &: wasm/deps.sh
	@.ci/setup
	@wasm/deps.sh $(DEPS)
	@touch $(DEPS)/sqlite3.c $(DEPS)/sqlite3.h $(DEPS)/cJSON.c $(DEPS)/cJSON.h

# ---- native build (tests run under ASan and UBSan) -------------------------------------
$(NATIVE)/sqlite3.o: $(DEPS)/sqlite3.c Makefile
	@mkdir -p $(@D)
	$(CC_NATIVE) -O2 -w $(SQLITE_DEFS) -c $< -o $@

$(NATIVE)/cJSON.o: $(DEPS)/cJSON.c
	@mkdir -p $(@D)
	$(CC_NATIVE) -std=c11 -g -O1 $(SANITIZE) -w -c $< -o $@

$(NATIVE)/core/%.o: wasm/src/%.c $(CORE_HDR) $(DEPS)/sqlite3.h $(DEPS)/cJSON.h
	@mkdir -p $(@D)
	$(CC_NATIVE) $(NATIVE_CFLAGS) -c $< -o $@

CORE_NATIVE_OBJ := $(patsubst wasm/src/%.c,$(NATIVE)/core/%.o,$(NATIVE_SRC))
$(NATIVE)/libsloop.a: $(CORE_NATIVE_OBJ) $(NATIVE)/cJSON.o $(NATIVE)/sqlite3.o
	@rm -f $@
	ar rcs $@ $^

$(NATIVE)/test_%: tests/c/test_%.c $(wildcard tests/c/*.h) $(NATIVE)/libsloop.a
	$(CC_NATIVE) $(NATIVE_CFLAGS) -Itests/c $< $(NATIVE)/libsloop.a -lcmocka -lm -o $@

native: check-c $(TEST_BIN) $(NATIVE)/sim $(NATIVE)/fixture_gen

# The editing traces, gunzipped and flattened for C (tests/trace-flat.mjs); test_seq_traces
# reads them from build/traces when it runs, so they are made before it is built.
build/traces/%.trace: tests/fixtures/editing-traces/%.json.gz tests/trace-flat.mjs
	@node tests/trace-flat.mjs $< $@
$(NATIVE)/test_seq_traces $(NATIVE)/test_text_field: build/traces/automerge-paper.trace build/traces/friendsforever.trace

# Writes the format fixtures (tests/fixtures/format-v1/README.md); built here, never run by the tests.
$(NATIVE)/fixture_gen: tests/c/fixture_gen.c $(wildcard tests/c/*.h) $(NATIVE)/libsloop.a
	$(CC_NATIVE) $(NATIVE_CFLAGS) -Itests/c $< $(NATIVE)/libsloop.a -lcmocka -lm -o $@

# Statements from sloop_prepare may be cached: they go back through sloop_finalize. A raw
# sqlite3_finalize on one would leave a dangling pointer in the cache.
check-c:
	@! grep -n 'sqlite3_finalize(' $(filter-out wasm/src/db.c wasm/src/sql.c,$(CORE_SRC)) || \
	  { echo "use sloop_finalize(db, st) for statements from sloop_prepare"; exit 1; }

# The deterministic simulation's command line (tests/c/sim.h; test_sim runs it under make test).
$(NATIVE)/sim: tests/c/sim.c $(wildcard tests/c/*.h) $(NATIVE)/libsloop.a
	$(CC_NATIVE) $(NATIVE_CFLAGS) -Itests/c $< $(NATIVE)/libsloop.a -lcmocka -lm -o $@

# Thousands of fresh seeds for a bounded time (SOAK_SECONDS), or a number of them (SOAK_SEEDS),
# from the clock or from SOAK_FROM. Each failing seed prints its line (add it to
# tests/c/sim_regressions.txt once fixed); the last line sums up; the exit status is 1 if any
# failed. SOAK_BUILD=fast (or `make soak-fast`) runs an -O2 build without sanitizers, several
# times faster, for long sweeps; the default build runs under ASan and UBSan.
SOAK_SECONDS ?= 300
SOAK_BUILD   ?= sanitized
SOAK_ARGS := $(if $(SOAK_SEEDS),--count $(SOAK_SEEDS),--seconds $(SOAK_SECONDS)) $(if $(SOAK_FROM),--from $(SOAK_FROM))
SOAK_SIM  := $(if $(filter fast,$(SOAK_BUILD)),$(FAST)/sim,$(NATIVE)/sim)
soak: $(SOAK_SIM)
	@$(SOAK_SIM) $(SOAK_ARGS)

soak-fast: $(FAST)/sim
	@$(FAST)/sim $(SOAK_ARGS)

# The fast build: the same core and simulation, -O2, no sanitizers (SQLite's object is shared).
# Its pulled pages of 2 changes or more leave the search index behind (fts_behind.c; 64 in
# every other build), so the sweeps' faults meet the index's frontier and catch-up.
FAST_CFLAGS := -std=c11 -g -O2 -DFTS_BEHIND_MIN=2 $(WARN) $(INCLUDES)

$(FAST)/core/%.o: wasm/src/%.c $(CORE_HDR) $(DEPS)/sqlite3.h $(DEPS)/cJSON.h
	@mkdir -p $(@D)
	$(CC_NATIVE) $(FAST_CFLAGS) -c $< -o $@

$(FAST)/cJSON.o: $(DEPS)/cJSON.c
	@mkdir -p $(@D)
	$(CC_NATIVE) -std=c11 -g -O2 -w -c $< -o $@

CORE_FAST_OBJ := $(patsubst wasm/src/%.c,$(FAST)/core/%.o,$(NATIVE_SRC))
$(FAST)/libsloop.a: $(CORE_FAST_OBJ) $(FAST)/cJSON.o $(NATIVE)/sqlite3.o
	@rm -f $@
	ar rcs $@ $^

$(FAST)/sim: tests/c/sim.c $(wildcard tests/c/*.h) $(FAST)/libsloop.a
	$(CC_NATIVE) $(FAST_CFLAGS) -Itests/c $< $(FAST)/libsloop.a -lcmocka -lm -o $@

# ---- WebAssembly build ------------------------------------------------------------------
$(WASMO)/sqlite3.o: $(DEPS)/sqlite3.c Makefile
	@mkdir -p $(@D)
	$(EMCC) $(WASM_SQLITE_OPT) -w $(WASM_SQLITE_DEFS) -c $< -o $@

$(WASMO)/sqlite3-server.o: $(DEPS)/sqlite3.c Makefile
	@mkdir -p $(@D)
	$(EMCC) $(WASM_SERVER_SQLITE_OPT) -w $(WASM_SQLITE_DEFS) -c $< -o $@

$(WASMO)/cJSON.o: $(DEPS)/cJSON.c
	@mkdir -p $(@D)
	$(EMCC) -O2 -w -c $< -o $@

$(WASMO)/core/%.o: wasm/src/%.c $(CORE_HDR) $(DEPS)/sqlite3.h $(DEPS)/cJSON.h
	@mkdir -p $(@D)
	$(EMCC) $(EM_CFLAGS) $(WARN) -c $< -o $@

# Files no hot path runs (open and migration, resync, status, schema, errors, the commit
# record) are compiled for size: 0.8 KiB gzip off the client module at no cost where time is
# spent (docs/DESIGN.md, "Module size").
COLD_SRC := migrate.c resync.c status.c schema.c errors.c constants.c indexes.c bloom.c sql.c vfs_record.c wasm_os.c \
  db.c rebase.c client_answer.c fts_behind.c
# And files whose calls spend their time in SQLite rather than in their own code (reads and
# queries: docs.c), or run once a page (a pull's request: pull_request.c): 1.3 KiB gzip off
# the client module (docs/DESIGN.md, "Module size").
SIZE_SRC := docs.c pull_request.c scope_client.c client_seq.c text_changes.c oplog_coalesce.c merge_seq.c seq_codec.c seq_read.c
$(patsubst %.c,$(WASMO)/core/%.o,$(COLD_SRC) $(SIZE_SRC)): EM_CFLAGS := -Os $(INCLUDES)

WASM_client_OBJ := $(patsubst wasm/src/%.c,$(WASMO)/core/%.o,$(filter-out $(SERVER_ONLY_SRC),$(CORE_SRC)))
WASM_server_OBJ := $(patsubst wasm/src/%.c,$(WASMO)/core/%.o,$(filter-out $(CLIENT_ONLY_SRC),$(CORE_SRC)))
EM_JS_LIBS := $(wildcard wasm/src/*.js)

# $(call em_link,<role>,<sqlite object>): the link of one role's module (loader and .wasm).
em_link = $(EMCC) $(EM_LDFLAGS) -sEXPORTED_FUNCTIONS='[$(call em_exports,$(1))]' \
  $(addprefix --js-library ,$(EM_JS_LIBS)) $(WASM_$(1)_OBJ) $(WASMO)/cJSON.o $(2) -o $@

$(WASM)/sloop-client.js $(WASM)/sloop-client.wasm &: $(WASM_client_OBJ) $(WASMO)/cJSON.o $(WASMO)/sqlite3.o wasm/exports.txt wasm/exports-client.txt $(EM_JS_LIBS)
	@mkdir -p $(@D)
	$(call em_link,client,$(WASMO)/sqlite3.o)

$(WASM)/sloop-server.js $(WASM)/sloop-server.wasm &: $(WASM_server_OBJ) $(WASMO)/cJSON.o $(WASMO)/sqlite3-server.o wasm/exports.txt wasm/exports-server.txt $(EM_JS_LIBS)
	@mkdir -p $(@D)
	$(call em_link,server,$(WASMO)/sqlite3-server.o)

wasm: $(WASM)/sloop-client.js $(WASM)/sloop-server.js

# ---- service worker: bundled with esbuild; its precache list hashes the files it names -----
SW_INPUTS := $(wildcard sw/*.js sw/*.mjs js/*.js js/*/*.js web/* web/*/*) $(WASM)/sloop-client.js \
  node_modules/.package-lock.json
# It also writes the client runtime as served, build/js/ (js/ less comments and whitespace).
build/sw/sw.js build/js/sloop.js &: $(SW_INPUTS)
	@node sw/build.mjs

sw: build/sw/sw.js

# ---- npm package: dist/ (pack/build.mjs), then `npm pack` into build/package/ ---------------
PACKAGE_INPUTS := pack/build.mjs package.json README.md $(wildcard js/*.js js/*/*.js js/*/*/*.js js/*.d.ts js/server/*.d.ts sw/*.js sw/*.d.ts) \
  $(WASM)/sloop-client.js $(WASM)/sloop-client.wasm $(WASM)/sloop-server.js $(WASM)/sloop-server.wasm node_modules/.package-lock.json
build/package/stamp: $(PACKAGE_INPUTS)
	@node pack/build.mjs
	@rm -rf build/package && mkdir -p build/package
	@npm pack --silent --pack-destination build/package >/dev/null
	@touch $@

package: build/package/stamp

# ---- tests and demo ---------------------------------------------------------------------
test: setup native wasm sw package fuzz-build
	@node tests/run.mjs

test-c: setup native
	@node tests/run.mjs c

test-node: setup wasm sw
	@node tests/run.mjs node

test-node-pg: setup wasm sw
	@node tests/run.mjs node-pg

test-browser: setup wasm sw package
	@node tests/run.mjs browser

# Benchmarks, not tests: prints medians (see tests/bench/persist.mjs).
bench-persist: setup wasm
	@node tests/bench/persist.mjs

demo: setup wasm sw
	@PORT=$(PORT) node js/server/cli.js --config js/server/demo-config.json

clean:
	rm -rf build dist

# Load driver for the sync server (a measurement, not a test); see tests/bench/server-load.mjs.
.PHONY: bench-server
bench-server: setup
	@node tests/bench/server-load.mjs $(BENCH_ARGS)

# The real server under real CoreDb clients (in child processes): load, apply and pull
# throughput, 50-client latency, peak RSS, for each server store side by side
# (tests/bench/sync-load.mjs, load-stores.mjs; BENCH_ARGS="--clients 32 --seconds 30" etc.).
.PHONY: bench-sync
bench-sync: setup wasm
	@node tests/bench/sync-load.mjs $(BENCH_ARGS)

# Bytes on the wire per pulled record (identity, gzip, br) and the CPU each compression level
# costs per 1,000-record page (tests/bench/wire-size.mjs; docs/PROTOCOL.md, Compression).
.PHONY: bench-wire
bench-wire: setup wasm
	@node tests/bench/wire-size.mjs $(BENCH_ARGS)

# ---- benchmarks (not tests: figures to read, medians of several runs) --------------------
# What a first visit downloads, gzipped, file by file: everything the service worker precaches
# plus the worker itself (tests/bench/download-size.mjs; the issue's target is the total).
.PHONY: bench-size
bench-size: wasm sw
	@node tests/bench/download-size.mjs


# The bench builds add dbstat (SQLITE_ENABLE_DBSTAT_VTAB) for bytesPerRecord; the shipped
# module goes without it, as it would cost download size for no use of the app's.
BENCH := build/bench
BENCH_SQLITE_DEFS := $(SQLITE_DEFS) -DSQLITE_ENABLE_DBSTAT_VTAB
$(BENCH)/core/%.o: wasm/src/%.c $(CORE_HDR) $(DEPS)/sqlite3.h $(DEPS)/cJSON.h
	@mkdir -p $(@D)
	$(CC_NATIVE) -std=c11 -gdwarf-4 -O2 -DNDEBUG $(WARN) $(INCLUDES) -c $< -o $@

$(BENCH)/cJSON.o: $(DEPS)/cJSON.c
	@mkdir -p $(@D)
	$(CC_NATIVE) -std=c11 -gdwarf-4 -O2 -w -c $< -o $@

$(BENCH)/sqlite3.o: $(DEPS)/sqlite3.c Makefile
	@mkdir -p $(@D)
	$(CC_NATIVE) -gdwarf-4 -O2 -w $(BENCH_SQLITE_DEFS) -c $< -o $@

$(BENCH)/core_bench: tests/bench/core_bench.c $(patsubst wasm/src/%.c,$(BENCH)/core/%.o,$(NATIVE_SRC)) $(BENCH)/cJSON.o $(BENCH)/sqlite3.o
	$(CC_NATIVE) -std=c11 -gdwarf-4 -O2 $(WARN) $(INCLUDES) $^ -lm -o $@

# The WASM module of the bench: the shipped one's sources and flags, plus dbstat.
$(BENCH)/wasm-obj/sqlite3.o: $(DEPS)/sqlite3.c Makefile
	@mkdir -p $(@D)
	$(EMCC) $(WASM_SQLITE_OPT) -w $(WASM_SQLITE_DEFS) -DSQLITE_ENABLE_DBSTAT_VTAB -c $< -o $@

$(BENCH)/wasm-obj/sqlite3-server.o: $(DEPS)/sqlite3.c Makefile
	@mkdir -p $(@D)
	$(EMCC) $(WASM_SERVER_SQLITE_OPT) -w $(WASM_SQLITE_DEFS) -DSQLITE_ENABLE_DBSTAT_VTAB -c $< -o $@

$(BENCH)/wasm/sloop-client.js $(BENCH)/wasm/sloop-client.wasm &: $(WASM_client_OBJ) $(WASMO)/cJSON.o $(BENCH)/wasm-obj/sqlite3.o wasm/exports.txt wasm/exports-client.txt $(EM_JS_LIBS)
	@mkdir -p $(@D)
	$(call em_link,client,$(BENCH)/wasm-obj/sqlite3.o)

$(BENCH)/wasm/sloop-server.js $(BENCH)/wasm/sloop-server.wasm &: $(WASM_server_OBJ) $(WASMO)/cJSON.o $(BENCH)/wasm-obj/sqlite3-server.o wasm/exports.txt wasm/exports-server.txt $(EM_JS_LIBS)
	@mkdir -p $(@D)
	$(call em_link,server,$(BENCH)/wasm-obj/sqlite3-server.o)

.PHONY: bench-core
bench-core: setup $(BENCH)/wasm/sloop-client.js $(BENCH)/wasm/sloop-server.js $(BENCH)/core_bench
	@$(BENCH)/core_bench
	@node tests/bench/core-bench.mjs

# The sequence CRDT (wasm/src/seq.h) on the automerge-paper editing trace beside Yjs and
# Automerge: local apply, remote merge, encoded size, memory; natively and in WASM, medians of 5
# rounds (tests/bench/text-trace.mjs; BENCH_ARGS="--runs 3", "--json"). Only the sequence's own
# files: the list layer (seq_list.c) needs the JSON code and the bench edits text.
SEQ_SRC := $(filter-out wasm/src/seq_list.c,$(filter wasm/src/seq%.c,$(CORE_SRC)))

$(BENCH)/text_bench: tests/bench/text_bench.c $(patsubst wasm/src/%.c,$(BENCH)/core/%.o,$(SEQ_SRC))
	$(CC_NATIVE) -std=c11 -gdwarf-4 -O2 $(WARN) $(INCLUDES) $^ -o $@

# The shipped module's compile and link flags; JS copies the trace into the heap, as a browser
# build has no file system (Emscripten 3.1.6's Node ES module output does not load in Node 20).
$(BENCH)/text-bench.js $(BENCH)/text-bench.wasm &: tests/bench/text_bench.c $(patsubst wasm/src/%.c,$(WASMO)/core/%.o,$(SEQ_SRC))
	@mkdir -p $(@D)
	$(EMCC) $(EM_CFLAGS) $(WARN) $(EM_LDFLAGS) -sEXPORT_NAME=createTextBench \
	  -sEXPORTED_FUNCTIONS='["_text_bench","_malloc","_free"]' $^ -o $(BENCH)/text-bench.js

.PHONY: bench-text
bench-text: setup $(BENCH)/text_bench $(BENCH)/text-bench.js build/traces/automerge-paper.trace
	@node tests/bench/text-trace.mjs --write bench/text-results.json $(BENCH_ARGS)

# Instruction counts of the hot paths under callgrind (one core, a few minutes): the
# callgrind_annotate summaries go to docs/profiles/<path>.txt (tests/bench/profile.sh).
.PHONY: profile-core
profile-core: $(BENCH)/core_bench
	@tests/bench/profile.sh $(BENCH)/core_bench docs/profiles

# Sloop against its peers (Dexie, PouchDB, raw IndexedDB, sqlite-wasm), every scenario, medians
# of 5 runs: writes bench/results.json and bench/chart.svg (bench/run.mjs; BENCH_SCALE=0.1 for
# a quick pass, which also writes there: keep the committed files from a full run).
.PHONY: bench
bench: setup wasm sw bench-text
	@node bench/run.mjs

# ---- fuzzing (libFuzzer; separate objects, so the native build is untouched) ------------
# The library is compiled with coverage (-fsanitize=fuzzer-no-link) and the sanitizers; SQLite
# is reused uninstrumented from the native build, so coverage stays on our code and cJSON.
FUZZ := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -std=c11 -g -O1 $(WARN) -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
  -fno-omit-frame-pointer $(INCLUDES)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CORE_OBJ := $(patsubst wasm/src/%.c,$(FUZZ)/core/%.o,$(NATIVE_SRC))

$(FUZZ)/core/%.o: wasm/src/%.c $(CORE_HDR) $(DEPS)/sqlite3.h $(DEPS)/cJSON.h
	@mkdir -p $(@D)
	$(CC_NATIVE) $(FUZZ_FLAGS) -c $< -o $@

$(FUZZ)/cJSON.o: $(DEPS)/cJSON.c
	@mkdir -p $(@D)
	$(CC_NATIVE) $(FUZZ_FLAGS) -w -c $< -o $@

$(FUZZ)/libsloop.a: $(FUZZ_CORE_OBJ) $(FUZZ)/cJSON.o $(NATIVE)/sqlite3.o
	@rm -f $@
	ar rcs $@ $^

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(wildcard tests/c/*.h) $(FUZZ)/libsloop.a
	$(CC_NATIVE) $(subst fuzzer-no-link,fuzzer,$(FUZZ_FLAGS)) -Itests/c $< $(FUZZ)/libsloop.a -lm -o $@

fuzz-build: $(addprefix $(FUZZ)/,$(FUZZ_TARGETS))

# Each target for FUZZ_SECONDS from the committed corpus; new inputs land in build/fuzz/work,
# crashes in build/fuzz/crashes (commit them under tests/fuzz/regressions/<target>/).
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ)/work/$$t $(FUZZ)/crashes; \
	  echo "== $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(FUZZ)/crashes/$$t- \
	    $(FUZZ)/work/$$t tests/fuzz/corpus/$$t $$(test -d tests/fuzz/regressions/$$t && echo tests/fuzz/regressions/$$t); \
	done
