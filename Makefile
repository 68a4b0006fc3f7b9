# Makefile — wraps CMake. The two commands most people need:
#
#   make run    install what is missing, build, start herald on 127.0.0.1:8080
#   make test   install what is missing, build with sanitizers, run every test
#               on SQLite, then again on PostgreSQL
#
# Others: make build (the default), make fmt-check, make fuzz, make clean.

JOBS    ?= 2
RELEASE := build/release
TEST    := build/test
FUZZ    := build/fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build run test bench deps fmt-check fuzz clean

all: build

build:
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(RELEASE) -j$(JOBS) --target herald

deps:
	scripts/deps.sh

run: deps build
	mkdir -p var
	exec ./$(RELEASE)/herald serve --listen 127.0.0.1:8080 --db ./var/herald.db

# Two passes (scripts/test.sh): every test on SQLite, then the store's unit
# tests and every integration test on a private PostgreSQL cluster
# (HERALD_TEST_BACKEND=postgres under scripts/pg.sh run, which stops it).
# The closing summary, one line per pass, is what CI reads; a failure in
# either pass makes make exit non-zero.
test:
	scripts/deps.sh test
	scripts/browser-deps.sh
	cmake -S . -B $(TEST) -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON -DHERALD_WERROR=ON
	cmake --build $(TEST) -j$(JOBS)
	scripts/test.sh $(TEST) $(JOBS)

# BENCH.md's scenarios against nginx on loopback; prints the table and
# writes bench/results/<time>.json. Never part of `make test`. Figure G
# runs on a private PostgreSQL cluster (scripts/pg.sh run), or on
# HERALD_BENCH_PG=postgres://… if set; BENCH_ARGS=--quick for a shorter run.
bench:
	scripts/deps.sh bench
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(RELEASE) -j$(JOBS) --target herald bench_curl_ref bench_loadgen bench_store
	scripts/pg.sh run python3 bench/run.py $(RELEASE) $(BENCH_ARGS)

FMT_DIRS := $(wildcard src include tests lib)
fmt-check:
	find $(FMT_DIRS) -name '*.[ch]' -print0 | xargs -0 -r clang-format --dry-run -Werror

# Each libFuzzer target runs FUZZ_SECONDS on its corpus, tests/fuzz/corpus/NAME/
# (NAME with or without the fuzz_ prefix). New inputs go to the ignored
# tests/fuzz/corpus-run/ so the committed corpus only changes on purpose.
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
fuzz:
	CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_FUZZ=ON -DHERALD_SANITIZE=ON
	cmake --build $(FUZZ) -j$(JOBS) $(addprefix --target ,$(FUZZ_TARGETS))
	@set -e; for bin in $(addprefix $(FUZZ)/,$(FUZZ_TARGETS)); do \
	    [ -x "$$bin" ] || continue; \
	    n=$$(basename "$$bin"); short=$${n#fuzz_}; \
	    corpus=tests/fuzz/corpus/$$n; [ -d "$$corpus" ] || corpus=tests/fuzz/corpus/$$short; \
	    mkdir -p tests/fuzz/corpus-run/$$n "$$corpus"; \
	    dict=""; for d in tests/fuzz/$$n.dict tests/fuzz/$$short.dict; do if [ -f "$$d" ]; then dict="-dict=$$d"; fi; done; \
	    echo "== $$n ($(FUZZ_SECONDS) s, corpus $$corpus)"; \
	    "$$bin" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict tests/fuzz/corpus-run/$$n "$$corpus"; \
	done

clean:
	rm -rf build
