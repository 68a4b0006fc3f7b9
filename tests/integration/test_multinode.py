#!/usr/bin/env python3
"""Several herald nodes on one PostgreSQL (issue 5, items 2, 4 and 5).

Runs only with HERALD_TEST_BACKEND=postgres; with SQLite the file is
skipped (a SQLite database belongs to one process, so there is nothing to
share). Its databases live on a private cluster of its own (scripts/pg.sh
start with a HERALD_PG_DIR of its own), because it stops and restarts the
server, which must not disturb the tests running beside it.

  wakeup_crosses_nodes       node A serves the API only (--no-dispatch);
                             node B, idle, delivers what A accepted: the
                             LISTEN/NOTIFY wake-up crosses nodes.
  three nodes, one database  TOTAL events (default 20 000) in batches to
                             ACCOUNTS accounts of FANOUT webhooks each (50
                             webhooks; each event goes to the FANOUT
                             webhooks of its account: 40 000 deliveries by
                             default), published through every node; one
                             node killed with kill -9 mid-run, then the
                             database stopped and started again mid-run.
    - every accepted event reaches each webhook it was fanned out to;
    - a delivery reaches its receiver twice only when it was leased to the
      killed node at the moment it died (its lease rows, read from
      PostgreSQL right after the kill): duplicates are bounded by that set;
    - while the database is down, ingest answers 503 with Retry-After and
      /readyz 503 on every node; both recover once it is back;
    - the ledger balances: the deliveries the 202 answers announced equal
      succeeded + pending + in_flight + failed in /metrics;
    - every node answers the same for the same webhook, event, log and
      metrics.

Publishers give every event an id (the idempotency key) and resend a batch
until it is answered 202: a batch whose commit succeeded but whose answer
was lost (node killed, database gone) comes back as duplicates, so every
event is accepted exactly once and the ledger can balance exactly.
"""

import os
import re
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (POSTGRES, Client, CountingReceiver, Herald, case, check, eq, main, pg_newdb,  # noqa: E402
                     pg_run, psql, skip_all, wait_for)

TOTAL = int(os.environ.get("HERALD_MN_EVENTS", "20000"))
ACCOUNTS = 25
FANOUT = 2  # webhooks per account: ACCOUNTS * FANOUT = 50 webhooks
BATCH = 100
BACKLOG = 6000  # deliveries announced but not yet received before publishers wait
REQUEST_TIMEOUT_MS = 2000
HOLD_DOWN_S = 3.0  # how long the database stays down mid-run
# Long enough that a result recorded late because the database was down is
# still inside its lease (no second send by another node); the killed
# node's deliveries come back this long after it died.
LEASE_MS = 30000
NODE_ARGS = ["--request-timeout-ms", str(REQUEST_TIMEOUT_MS), "--lease-ms", str(LEASE_MS),
             "--db-pool", "4"]

CLUSTER = None  # {"HERALD_PG_DIR": …}: the private cluster
NODES = []      # the three nodes; NODES[2] is the one killed
SINK = None
HOOKS = []      # [(account index, webhook id, path)]
CLIENTS = []    # per account: [Client on node 0, node 1, node 2]
PUB = None
VICTIM = {}     # node id, claimed (event_id, path) set, kill time


def node_id(h):
    """The lease owner name the node logged at start."""
    def find():
        m = re.search(r'"msg":"listening".*?"node":"([^"]+)"', h.stderr())
        return m and m.group(1)
    return wait_for(find, 10, what="the node id in %s's log" % h.url)


def metrics(h):
    r = h.admin().get("/metrics")
    eq(r.status, 200, "GET /metrics on %s" % h.url)
    out = {}
    for m in re.finditer(r'^herald_deliveries\{status="(\w+)"\} (\d+)$', r.body.decode(), re.M):
        out[m.group(1)] = int(m.group(2))
    check(set(out) == {"pending", "in_flight", "succeeded", "failed"},
          "herald_deliveries by status in /metrics: %r" % out)
    return out


def setup():
    global CLUSTER, SINK
    if not POSTGRES:
        skip_all("needs PostgreSQL (HERALD_TEST_BACKEND=postgres): several nodes share one "
                 "database, and a SQLite file belongs to one process")
    CLUSTER = {"HERALD_PG_DIR": tempfile.mkdtemp(prefix="herald-pg-")}
    pg_run("start", env=CLUSTER)
    SINK = CountingReceiver()


def teardown():
    errors = []
    for h in NODES:
        try:
            h.stop()
        except AssertionError as e:
            errors.append(str(e))
    if SINK:
        SINK.stop()
    if CLUSTER:
        pg_run("stop", env=CLUSTER)
    check(not errors, "nodes exited cleanly: %s" % errors)


# --------------------------------------------------------------------------


@case
def wakeup_crosses_nodes():
    db = pg_newdb(env=CLUSTER)
    a = Herald(db=db, args=["--no-dispatch"] + NODE_ARGS).start()
    b = Herald(db=db, args=NODE_ARGS)
    b.admin_key = a.admin_key  # the database's first node made it
    b.start()
    try:
        c = a.admin().create_account("wake")
        c.create_webhook(name="w", url=SINK.url("/wake"), events=["post.published"])

        def publish_and_wait(i):
            t0 = time.monotonic()
            r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(
                c.post("/v1/events", {"type": "post.published", "data": {"i": i}})),
                what="ingest on A")
            eq(r.status, 202, "publish on A")
            eid = r.json["id"]
            wait_for(lambda: SINK.seen().get((eid, "/wake")), what="event %d delivered by B" % i,
                     interval=0.005)
            return time.monotonic() - t0
        before = [publish_and_wait(i) for i in range(5)]
        # The database restarts: B's LISTEN connection dies and B listens
        # again on a new one (which it must add to its epoll set).
        pg_run("restart", env=CLUSTER)
        for h in (a, b):
            wait_for(lambda: Client(h.url, timeout=30).get("/readyz").status == 200,
                     what="/readyz on %s after the restart" % h.url)
        after = [publish_and_wait(i) for i in range(5, 10)]
        # Latency is printed, not asserted: without the wake-up B would
        # still deliver, at its next poll (seconds later).
        print("    published on A (--no-dispatch), delivered by B: %s s; after a database "
              "restart: %s s" % (", ".join("%.3f" % t for t in before),
                                 ", ".join("%.3f" % t for t in after)), flush=True)
    finally:
        try:
            a.stop()
        finally:
            b.stop()


@case
def three_nodes_share_one_database():
    db = pg_newdb(env=CLUSTER)
    first = Herald(db=db, args=NODE_ARGS).start()
    NODES.append(first)
    for _ in range(2):
        h = Herald(db=db, args=NODE_ARGS)
        h.admin_key = first.admin_key
        NODES.append(h.start())
    ids = [node_id(h) for h in NODES]
    eq(len(set(ids)), 3, "three distinct node ids %r" % ids)
    admin = first.admin()
    for a in range(ACCOUNTS):
        c = admin.create_account("mn%d" % a)
        CLIENTS.append([c.as_key(c.key, c.account_id)] +
                       [Client(h.url, c.key, c.account_id) for h in NODES[1:]])
        for j in range(FANOUT):
            path = "/a%d/w%d" % (a, j)
            w = c.create_webhook(name="a%d-w%d" % (a, j), url=SINK.url(path),
                                 events=["post.published"], max_attempts=20)
            HOOKS.append((a, w["id"], path))
    eq(len(HOOKS), 50, "webhooks")
    # What one node wrote, the others read.
    for a, wid, path in HOOKS[::7]:
        same_on_every_node("/v1/webhooks/" + wid, a)


def same_on_every_node(path, account, nodes=None):
    answers = []
    for i, h in enumerate(nodes or NODES):
        c = Client(h.url, CLIENTS[account][0].key)
        r = c.get(path)
        eq(r.status, 200, "GET %s on node %d" % (path, i))
        answers.append(r.json)
    for i, j in enumerate(answers[1:], 1):
        eq(j, answers[0], "GET %s: node %d against node 0" % (path, i))
    return answers[0]


class Publisher(threading.Thread):
    """Publishes batch numbers b ≡ k (mod step) through the live nodes in
    turn. Every event has an id (its idempotency key); a batch is resent
    (to the next node) until answered 202. It waits while more than
    BACKLOG announced deliveries have not arrived, so publishing goes on
    through the whole run."""

    def __init__(self, k, step, live, state):
        super().__init__(daemon=True)
        self.k, self.step, self.live, self.state = k, step, live, state
        self.error = None

    def run(self):
        try:
            turn = self.k
            for b in range(self.k, TOTAL // BATCH, self.step):
                a = b % ACCOUNTS
                events = [{"id": "mn-%d-%d" % (b, i), "type": "post.published",
                           "data": {"batch": b, "i": i}} for i in range(BATCH)]
                while self.state.announced() - SINK.received() > BACKLOG:
                    time.sleep(0.02)
                while True:
                    nodes = list(self.live)
                    turn += 1
                    node = nodes[turn % len(nodes)]
                    c = CLIENTS[a][NODES.index(node)]
                    try:
                        r = c.post("/v1/events/batch", {"events": events})
                    except OSError:
                        self.state.count("connection error")
                        time.sleep(0.05)
                        continue
                    if r.status == 202:
                        self.state.accept(a, r.json["items"])
                        break
                    if r.status not in (503, 429):
                        raise AssertionError("unexpected answer to a batch: %r" % r)
                    check(r.headers.get("Retry-After"), "%d carries Retry-After" % r.status)
                    self.state.count(r.status)
                    time.sleep(0.05)
        except Exception as e:  # reported by the case that waits for it
            self.error = e


class PubState:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = {}  # evt id -> (account, deliveries announced)
        self.answers = {}  # what failed requests got: status or "connection error"
        self.dup_answers = 0

    def accept(self, a, items):
        with self.lock:
            for it in items:
                if it.get("duplicate"):
                    self.dup_answers += 1
                prev = self.events.get(it["id"])
                check(prev is None or prev == (a, it["deliveries"]),
                      "a resent event answers as the first: %r / %r" % (prev, it))
                self.events[it["id"]] = (a, it["deliveries"])

    def count(self, what):
        with self.lock:
            self.answers[what] = self.answers.get(what, 0) + 1

    def announced(self):
        with self.lock:
            return sum(n for _, n in self.events.values())

    def accepted(self):
        with self.lock:
            return dict(self.events)


STATE = PubState()
LIVE = []
PUBS = []


def expected_pairs(events):
    by_account = {}
    for a, _, path in HOOKS:
        by_account.setdefault(a, []).append(path)
    return {(eid, path) for eid, (a, _) in events.items() for path in by_account[a]}


@case
def kill_9_one_node_mid_run():
    check(len(NODES) == 3, "three nodes running")
    LIVE.extend(NODES)
    for k in range(2):
        p = Publisher(k, 2, LIVE, STATE)
        p.start()
        PUBS.append(p)
    want = TOTAL * FANOUT
    victim = NODES[2]
    VICTIM["node"] = node_id(victim)
    wait_for(lambda: SINK.received() >= want // 4 or any(p.error for p in PUBS), timeout=600,
             interval=0.05, what="a quarter of the deliveries")
    for p in PUBS:
        if p.error:
            raise p.error
    # Kill it while it holds leases (deliveries claimed, queued or on the wire).
    sql_held = ("SELECT count(*) FROM deliveries WHERE lease_owner = '%s' "
                "AND status = 'in_flight'" % VICTIM["node"])
    wait_for(lambda: int(psql(victim.db, sql_held)[0][0]) > 0, timeout=60, interval=0.01,
             what="the victim to hold leases")
    LIVE.remove(victim)  # publishers stop choosing it
    victim.kill9()
    VICTIM["killed_at"] = time.monotonic()
    # Nobody can take these rows before their lease expires (LEASE_MS): this
    # is exactly what the dead node had claimed and not recorded.
    rows = psql(victim.db, "SELECT event_id, webhook_id, lease_expires_at FROM deliveries "
                           "WHERE lease_owner = '%s' AND status = 'in_flight'" % VICTIM["node"])
    path_of = {wid: path for _, wid, path in HOOKS}
    VICTIM["claimed"] = {(e, path_of[w]) for e, w, _ in rows}
    check(VICTIM["claimed"], "the killed node held leases")
    print("    kill -9 %s at %d received of %d; it held %d leases" % (
        VICTIM["node"], SINK.received(), want, len(rows)), flush=True)


@case
def database_restart_mid_run():
    check(len(LIVE) == 2, "two nodes left after the kill")
    want = TOTAL * FANOUT
    wait_for(lambda: SINK.received() >= want * 11 // 20 or any(p.error for p in PUBS),
             timeout=600, interval=0.05, what="more than half of the deliveries")
    for p in PUBS:
        if p.error:
            raise p.error
    c = CLIENTS[0][0]
    t_down = time.monotonic()
    pg_run("pause", env=CLUSTER)  # stopped: its data stays, same port
    try:
        # pause returned once the server had stopped: from now on nothing
        # can commit. For as long as it stays down (HOLD_DOWN_S, so the
        # nodes' reconnect backoff grows), every node answers ingest with
        # 503 and Retry-After, and /readyz with 503.
        probes = 0
        while True:
            for h in LIVE:
                r = Client(h.url, c.key, timeout=30).post(
                    "/v1/events", {"type": "post.published", "data": {"probe": 1}})
                eq(r.status, 503, "ingest on %s while the database is down (%r)" % (h.url, r))
                check(r.headers.get("Retry-After"), "503 to ingest carries Retry-After")
                r = Client(h.url, timeout=30).get("/readyz")
                eq(r.status, 503, "/readyz on %s while the database is down" % h.url)
                probes += 1
            if time.monotonic() - t_down >= HOLD_DOWN_S:
                break
            time.sleep(0.2)  # the pace of the probes, not a wait for anything
        down_for = time.monotonic() - t_down
    finally:
        pg_run("resume", env=CLUSTER)
    t_up = time.monotonic()
    for h in LIVE:
        wait_for(lambda: Client(h.url, timeout=30).get("/readyz").status == 200, 60,
                 interval=0.05, what="/readyz 200 on %s" % h.url)
    ready_after = time.monotonic() - t_up

    def accepted():
        # Resent with the same key: a commit whose answer was lost comes
        # back as the first event (200), never as a second one.
        r = Client(LIVE[0].url, c.key, timeout=30).post(
            "/v1/events", {"type": "post.published", "data": {"probe": 2}},
            headers={"Idempotency-Key": "probe-after-restart"})
        check(r.status in (200, 202, 503), "ingest after the restart: %r" % r)
        return r.json if r.status in (200, 202) else None
    probe = wait_for(accepted, 60, interval=0.05, what="ingest to accept again")
    ingest_after = time.monotonic() - t_up
    # The probe's deliveries count in the ledger like any other event's.
    STATE.accept(0, [probe])
    print("    database down %.2f s (ingest 503 + Retry-After and /readyz 503 on every node, "
          "%d probes); back: /readyz 200 on every node after %.2f s, ingest 202 after %.2f s; "
          "%d received so far" % (down_for, probes, ready_after, ingest_after, SINK.received()),
          flush=True)


@case
def every_event_delivered_duplicates_only_from_the_killed_node():
    for p in PUBS:
        p.join(900)
        check(not p.is_alive(), "publisher finished")
        if p.error:
            raise p.error
    events = STATE.accepted()
    eq(len(events), TOTAL + 1, "accepted events (and the probe)")
    want = expected_pairs(events)
    eq(len(want), (TOTAL + 1) * FANOUT, "expected deliveries")
    t0 = time.monotonic()
    try:
        wait_for(lambda: not (want - set(SINK.seen())), timeout=LEASE_MS / 1000 + 600, interval=0.2,
                 what="every accepted event at every webhook it went to")
    finally:
        seen = {k: n for k, n in SINK.seen().items() if k[1] != "/wake"}
        missing = want - set(seen)
        dups = {k: n for k, n in seen.items() if n > 1}
        extra = set(seen) - want
        claimed = VICTIM.get("claimed", set())
        print("    deliveries: expected %d, received %d distinct, missing %d; duplicates %d "
              "(%d deliveries sent more than once, %d of them outside the killed node's %d "
              "leases); unexpected %d; finished %.1f s after the kill; failed requests %r, "
              "resent events answered as duplicates %d" % (
                  len(want), len(set(seen) & want), len(missing),
                  sum(n - 1 for n in dups.values()), len(dups), len(set(dups) - claimed),
                  len(claimed), len(extra), time.monotonic() - VICTIM.get("killed_at", t0),
                  STATE.answers, STATE.dup_answers), flush=True)
        if missing:
            print("    first missing: %s" % sorted(missing)[:5], flush=True)
    check(not extra, "nothing delivered that was not accepted: %s" % sorted(extra)[:5])
    outside = set(dups) - VICTIM["claimed"]
    check(not outside, "deliveries sent twice though not leased to the killed node: %s" %
          sorted(outside)[:5])
    check(all(n == 2 for n in dups.values()),
          "a delivery the killed node held is sent at most once more: %r" % (
              sorted(dups.items(), key=lambda kv: -kv[1])[:5],))


@case
def ledger_balances():
    events = STATE.accepted()
    announced = sum(n for _, n in events.values())
    eq(announced, len(events) * FANOUT, "deliveries announced by the 202 answers")

    def settled():
        m = metrics(LIVE[0])
        return m if m["pending"] == 0 and m["in_flight"] == 0 else None
    m = wait_for(settled, 120, interval=0.2, what="no delivery pending or in flight")
    eq(m["succeeded"] + m["pending"] + m["in_flight"] + m["failed"], announced,
       "accepted = succeeded + pending + in_flight + failed (%r)" % m)
    eq(m["failed"], 0, "failed deliveries (every receiver answers 200)")
    print("    ledger: accepted %d = succeeded %d + pending %d + in_flight %d + failed %d" % (
        announced, m["succeeded"], m["pending"], m["in_flight"], m["failed"]), flush=True)


@case
def api_answers_the_same_on_every_node():
    # The killed node comes back (a new process, a new node id) and serves
    # what the others wrote.
    NODES[2].start()
    sample = sorted(STATE.accepted().items())[::997]
    for eid, (a, _) in sample:
        j = same_on_every_node("/v1/events/" + eid, a)
        eq(len(j["deliveries"]), FANOUT, "deliveries of %s" % eid)
    for a, wid, _ in HOOKS[::5]:
        same_on_every_node("/v1/webhooks/" + wid, a)
        log = same_on_every_node("/v1/webhooks/%s/log?count=25" % wid, a)
        check(log["items"], "the log of %s has attempts" % wid)
    for a in (0, ACCOUNTS - 1):
        same_on_every_node("/v1/events?count=50&page=3", a)
        same_on_every_node("/v1/webhooks?order=name", a)
    ms = [metrics(h) for h in NODES]
    for i, m in enumerate(ms[1:], 1):
        eq(m, ms[0], "herald_deliveries on node %d against node 0" % i)


if __name__ == "__main__":
    main(setup, teardown)
