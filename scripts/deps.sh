#!/bin/sh
# deps.sh — installs what herald needs on Debian 12, and only what is missing.
#
#   scripts/deps.sh        build and run dependencies
#   scripts/deps.sh bench  also what `make bench` needs (nginx as the sink, wrk)
#   scripts/deps.sh test   also what the test suite needs (the npm packages of
#                          tests/integration/node, iproute2, util-linux, and
#                          the postgresql server for the PostgreSQL pass)
#
# Runs unattended (CI=true, no input). Installing needs root; when something
# is missing and we are not root, it stops with a message saying what to run.
set -eu

mode="${1:-build}"
case "$mode" in
build | test | bench) ;;
*)
    echo "usage: $0 [test|bench]" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/.."

pkgs="build-essential cmake pkg-config clang clang-format libcurl4-openssl-dev libmicrohttpd-dev
      libsqlite3-dev libssl-dev libcjson-dev libpq-dev libcmocka-dev curl ca-certificates"
if [ "$mode" = test ]; then
    # postgresql: the second test pass runs on a private cluster of its own
    # (scripts/pg.sh), never on the system's.
    pkgs="$pkgs iproute2 util-linux postgresql"
fi

if [ "$mode" = bench ]; then
    pkgs="$pkgs nginx-light wrk postgresql"
fi

# A package counts as present when dpkg says it is installed.
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# Commands that may come from elsewhere than Debian (pyenv, nodesource):
# only their absence matters.
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if ! command -v node >/dev/null 2>&1; then
    missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
elif ! command -v npm >/dev/null 2>&1; then
    # nodesource's nodejs ships npm; Debian's does not.
    missing="$missing npm"
fi

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing packages:$missing" >&2
        echo "deps.sh: run as root: apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
    echo "deps.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # word splitting is wanted: one word per package
    apt-get install -y -q --no-install-recommends $missing
else
    echo "deps.sh: system packages present"
fi

if [ "$mode" = test ]; then
    # The official Standard Webhooks library verifies herald's signatures in
    # the integration tests. The lock file pins it; node_modules is not in git.
    nodedir=tests/integration/node
    stamp="$nodedir/node_modules/.package-lock.json"
    if [ ! -d "$nodedir/node_modules/standardwebhooks" ] || [ ! -f "$stamp" ] ||
        [ -n "$(find "$nodedir/package-lock.json" -newer "$stamp")" ]; then
        echo "deps.sh: npm ci in $nodedir"
        (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error)
    else
        echo "deps.sh: npm packages present"
    fi
fi
