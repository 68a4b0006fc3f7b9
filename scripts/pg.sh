#!/bin/sh
# pg.sh — a private, throwaway PostgreSQL cluster for herald's tests.
#
#   scripts/pg.sh start        initdb + start on 127.0.0.1, a free port; creates the
#                              database herald_test and prints its URL
#   scripts/pg.sh url          prints the URL of herald_test
#   scripts/pg.sh newdb NAME   (re)creates database NAME, empty, and prints its URL
#   scripts/pg.sh restart      stops and starts the server (same port, same data)
#   scripts/pg.sh pause        stops the server but keeps its data (see resume)
#   scripts/pg.sh resume       starts a paused server again on the same port
#   scripts/pg.sh stop         stops the server and removes its files, and the
#                              directory itself when it is a /tmp/herald-pg-*
#   scripts/pg.sh status       exits 0 when the server accepts connections
#   scripts/pg.sh run CMD...   starts a cluster of its own, runs CMD with
#                              HERALD_TEST_DB (the URL), HERALD_PG_DIR and
#                              HERALD_TEST_PG_SCRIPT (this script) exported,
#                              stops and removes the cluster, exits as CMD did
#
# The cluster lives in $HERALD_PG_DIR when set (created if missing), else in
# a new /tmp/herald-pg-XXXXXX whose path is remembered in
# ${TMPDIR:-/tmp}/herald-pg.current so later commands find it. Set
# HERALD_PG_DIR when several clusters must coexist (parallel CI jobs).
#
# It never touches the system's clusters (no pg_ctlcluster, no systemd):
# it runs the version's own binaries on a data directory of its own, with
# trust authentication on loopback only. As root, the server runs as the
# `postgres` OS user (PostgreSQL refuses to run as root); otherwise as the
# current user. The database superuser is always `postgres`.
#
# HERALD_PG_FSYNC=off trades durability for speed (default on: the
# benchmark and the restart tests should see real commits).
set -eu

pointer="${TMPDIR:-/tmp}/herald-pg.current"

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

# The newest installed server version's bin directory.
find_bindir() {
    if [ -n "${HERALD_PG_BINDIR:-}" ]; then
        echo "$HERALD_PG_BINDIR"
        return
    fi
    best=""
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] || continue
        best="$d" # the glob sorts versions; 9.x sorts after 1x but is long gone
    done
    [ -n "$best" ] || die "no PostgreSQL server found in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)"
    echo "$best"
}

# Runs a command as the cluster's OS user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

state_dir() {
    if [ -n "${HERALD_PG_DIR:-}" ]; then
        echo "$HERALD_PG_DIR"
    elif [ -f "$pointer" ]; then
        cat "$pointer"
    else
        echo ""
    fi
}

require_dir() {
    dir=$(state_dir)
    if [ -z "$dir" ] || [ ! -f "$dir/port" ]; then
        die "no cluster started (run: $0 start)"
    fi
}

url_for() {
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/$1"
}

psql_admin() {
    as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")" \
        -U postgres -d postgres "$@"
}

# A port in 12000-21999; the server's bind decides whether it is free.
# Below the 10 000 ports under the kernel's ephemeral range that the
# integration tests' free_port() draws from (harness.py), so that while a
# test has this server paused or restarting, no test server takes its port.
random_port() {
    echo $((12000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 10000))
}

server_start() {
    port=$1
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null 2>&1
}

cmd_start() {
    bindir=$(find_bindir)
    if [ -n "${HERALD_PG_DIR:-}" ]; then
        dir="$HERALD_PG_DIR"
        [ ! -f "$dir/port" ] || die "a cluster already runs in $dir (stop it first)"
        mkdir -p "$dir"
    else
        dir=$(mktemp -d /tmp/herald-pg-XXXXXX)
        echo "$dir" >"$pointer"
    fi
    if [ "$(id -u)" = 0 ]; then
        getent passwd postgres >/dev/null || die "no postgres OS user (apt-get install -y postgresql)"
        chown postgres: "$dir"
    fi
    chmod 0700 "$dir"
    as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    }
    {
        echo "max_connections = 200"
        echo "fsync = ${HERALD_PG_FSYNC:-on}"
        echo "log_min_messages = warning"
        echo "log_line_prefix = '%m [%p] '"
    } >>"$dir/data/postgresql.conf"
    # A random port may be taken: try a few, the bind is the only true test.
    tries=0
    while :; do
        port=$(random_port)
        if server_start "$port"; then
            break
        fi
        tries=$((tries + 1))
        if [ $tries -ge 10 ]; then
            tail -n 20 "$dir/log" >&2 || true
            die "the server did not start"
        fi
    done
    echo "$port" >"$dir/port"
    psql_admin -c "CREATE DATABASE herald_test"
    url_for herald_test >"$dir/url"
    cat "$dir/url"
}

cmd_stop() {
    dir=$(state_dir)
    [ -n "$dir" ] || return 0
    bindir=$(find_bindir)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
    fi
    case "$dir" in
    /tmp/herald-pg-*) rm -rf "$dir" ;;
    *) rm -rf "$dir/data" "$dir/port" "$dir/url" "$dir/log" "$dir/initdb.log" ;;
    esac
    if [ -z "${HERALD_PG_DIR:-}" ]; then
        rm -f "$pointer"
    fi
}

cmd_pause() {
    require_dir
    bindir=$(find_bindir)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null
}

cmd_resume() {
    require_dir
    bindir=$(find_bindir)
    server_start "$(cat "$dir/port")" || {
        tail -n 20 "$dir/log" >&2 || true
        die "the server did not start"
    }
}

cmd_newdb() {
    name=${1:-}
    case "$name" in
    [a-z_]*) ;;
    *) die "usage: $0 newdb NAME (lowercase letters, digits, _)" ;;
    esac
    case "$name" in
    *[!a-z0-9_]*) die "database names are lowercase letters, digits and _" ;;
    esac
    require_dir
    bindir=$(find_bindir)
    psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
    url_for "$name"
}

cmd_run() {
    [ $# -gt 0 ] || die "usage: $0 run CMD [ARGS...]"
    case "$0" in
    /*) self="$0" ;;
    *) self="$(pwd)/$0" ;;
    esac
    HERALD_PG_DIR=$(mktemp -d /tmp/herald-pg-XXXXXX)
    export HERALD_PG_DIR
    trap 'cmd_stop' EXIT
    trap 'exit 130' INT TERM
    cmd_start >/dev/null
    HERALD_TEST_DB=$(cat "$dir/url")
    HERALD_TEST_PG_SCRIPT="$self"
    export HERALD_TEST_DB HERALD_TEST_PG_SCRIPT
    echo "pg.sh: PostgreSQL at $HERALD_TEST_DB" >&2
    set +e
    "$@"
    rc=$?
    set -e
    exit $rc
}

case "${1:-}" in
start) cmd_start ;;
run)
    shift
    cmd_run "$@"
    ;;
stop) cmd_stop ;;
url)
    require_dir
    cat "$dir/url"
    ;;
restart)
    cmd_pause
    cmd_resume
    ;;
pause) cmd_pause ;;
resume) cmd_resume ;;
newdb) cmd_newdb "${2:-}" ;;
status)
    require_dir
    bindir=$(find_bindir)
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")"
    ;;
*)
    echo "usage: $0 start|stop|url|newdb NAME|restart|pause|resume|status|run CMD..." >&2
    exit 2
    ;;
esac
