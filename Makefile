# Makefile — wraps CMake. The two commands most people need:
#
#   make run    install what is missing, build, start herald on 127.0.0.1:8080
#   make test   install what is missing, build with sanitizers, run every test
#
# Others: make build (the default), make fmt-check, make fuzz, make clean.

JOBS    ?= 2
RELEASE := build/release
TEST    := build/test
FUZZ    := build/fuzz
FUZZ_SECONDS ?= 30

.PHONY: all build run test deps fmt-check fuzz clean

all: build

build:
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(RELEASE) -j$(JOBS) --target herald

deps:
	scripts/deps.sh

run: deps build
	mkdir -p var
	exec ./$(RELEASE)/herald serve --listen 127.0.0.1:8080 --db ./var/herald.db

# ctest's closing summary is what CI reads; a failing test makes ctest, and
# so make, exit non-zero.
test:
	scripts/deps.sh test
	cmake -S . -B $(TEST) -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON -DHERALD_WERROR=ON
	cmake --build $(TEST) -j$(JOBS)
	ctest --test-dir $(TEST) --output-on-failure -j$(JOBS)

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
