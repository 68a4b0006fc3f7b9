#!/bin/sh
# test.sh — runs herald's test suite twice, as `make test` does:
#
#   1. sqlite    every ctest test (unit, integration, browser) on SQLite;
#   2. postgres  the store's unit tests and every integration test again,
#                with HERALD_TEST_BACKEND=postgres, on a private PostgreSQL
#                cluster that scripts/pg.sh run starts on loopback and
#                removes afterwards.
#
#   scripts/test.sh [BUILD_DIR [JOBS]]     (default build/test, 2)
#
# Both passes always run. The last lines are a summary CI can read (one
# "test pass NAME: passed|FAILED …" line per pass, then "tests: passed" or
# "tests: FAILED"); the exit status is non-zero when either pass failed.
# PG_TESTS (a ctest -R regex) narrows the second pass.
set -u

cd "$(dirname "$0")/.."
build=${1:-build/test}
jobs=${2:-2}
pg_tests=${PG_TESTS:-unit/test_store|integration/}

# The line ctest ends with: "100% tests passed, 0 tests failed out of 42".
ctest_line() {
    grep -E 'tests passed, [0-9]+ tests? failed out of' "$1" 2>/dev/null | tail -n 1
}

# run_pass NAME LOG CMD...: runs CMD, records status, duration and summary.
run_pass() {
    name=$1
    log=$2
    shift 2
    echo "== test pass $name: $*"
    rm -f "$log"
    start=$(date +%s)
    "$@"
    rc=$?
    secs=$(($(date +%s) - start))
    line=$(ctest_line "$log")
    if [ $rc -eq 0 ]; then verdict=passed; else verdict=FAILED; fi
    summary="$summary
test pass $name: $verdict in ${secs}s (${line:-no ctest summary}; exit $rc)"
    [ $rc -eq 0 ] || failed=1
}

summary=""
failed=0
mkdir -p "$build"

run_pass sqlite "$build/ctest-sqlite.log" \
    ctest --test-dir "$build" --output-on-failure -j"$jobs" -O "$build/ctest-sqlite.log"

run_pass postgres "$build/ctest-postgres.log" \
    env HERALD_TEST_BACKEND=postgres scripts/pg.sh run \
    ctest --test-dir "$build" --output-on-failure -j"$jobs" -R "$pg_tests" \
    -O "$build/ctest-postgres.log"

echo
echo "== test summary$summary"
if [ $failed -eq 0 ]; then
    echo "tests: passed (sqlite and postgres)"
else
    echo "tests: FAILED"
fi
exit $failed
