#!/bin/sh
# browser-deps.sh — what the dashboard's browser tests need, and only what is
# missing: Debian's Chromium (driven headless at /usr/bin/chromium) and the
# npm packages of tests/browser (playwright-core, pinned by the lock file;
# node_modules is not in git). playwright-core never downloads a browser of
# its own: the tests launch Debian's.
#
# Runs unattended (CI=true, no input). Installing the Debian package needs
# root; when it is missing and we are not root, it stops with what to run.
set -eu

cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "browser-deps.sh: chromium is missing" >&2
        echo "browser-deps.sh: run as root: apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
    echo "browser-deps.sh: installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
else
    echo "browser-deps.sh: chromium present"
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "browser-deps.sh: npm is missing (scripts/deps.sh installs it)" >&2
    exit 1
fi

dir=tests/browser
# shellcheck disable=SC3013 # -nt: dash, Debian's sh, has it
if [ ! -d "$dir/node_modules/playwright-core" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "browser-deps.sh: npm packages for $dir"
    if [ -f "$dir/package-lock.json" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    else
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    fi
else
    echo "browser-deps.sh: npm packages present"
fi
