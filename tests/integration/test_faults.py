#!/usr/bin/env python3
"""Fault injection on the store (issue 4, item 7; DESIGN.md §3 and §5):
a disk that fills up and syncs and writes that fail. What must hold:
never a 2xx for an event that is not durably committed, nothing accepted
is lost, and herald recovers by itself once the fault goes away.

Failed writes (ENOSPC). The test re-executes itself in a private mount
namespace (`unshare --mount` as root, else `unshare --user --map-root-user
--mount`) and mounts an 8 MiB tmpfs there: a real filesystem that really
fills up. herald's SQLite database lives on it (its logs do not).

  disk_full_while_results_wait  20 events are accepted and their requests
      held at the receiver; the disk is then filled to the last byte with a
      filler file. Every publish (single and batch) answers 503 with
      Retry-After and the JSON error shape. The receiver then answers: the
      dispatcher cannot record those results (ENOSPC), retries, and gives
      them up — the deliveries stay leased in the store. The filler is
      deleted: ingest accepts again at once, the leases run out, and the
      20 deliveries go out a second time (duplicates, never a loss) and
      are recorded.
  disk_fills_under_load  four clients publish singles and batches until
      the disk is full of herald's own data; every answer is a 202 or a
      well-formed 503 (no other status, no dropped connection, no hang).
      herald is then killed (-9) and started again on the full disk: it
      starts, serves reads, answers 503. The tmpfs is remounted bigger:
      ingest accepts again, and every event ever accepted reaches the
      receiver.
  ledger_balances  accepted (2xx) = succeeded + pending + in_flight +
      failed (the herald_deliveries gauges of /metrics), nothing pending
      at the end, every accepted event seen by the receiver, and the store
      holds exactly the accepted events: no 503 left an event behind.
  restart_keeps_everything  herald stops cleanly (exit 0: no sanitizer
      report) and starts again on the same files with everything there.

Failed syncs and writes (EIO). herald runs with tests/fault/fault_preload.c
preloaded (the herald_fault library; $HERALD_FAULT_PRELOAD, set by ctest):
while a control file exists, fdatasync/fsync of the database files fail
with EIO, and, when HERALD_FAULT_WRITES names the WAL, so do writes to it.

  fsync_fails_mid_run  events flow, the switch goes on: every publish
      made while it is on answers 503 (a 2xx would be a commit whose fsync
      failed — or one that never synced), reads keep working; the switch
      goes off and ingest accepts again; nothing accepted is lost.
  wal_writes_fail_mid_run  the same with the WAL's writes failing.
  fsync_failure_then_crash  a publish with an Idempotency-Key answers 503
      because its fsync failed, herald is killed (-9) at once and started
      without the fault: the retry with the same key gets exactly one event
      (the failed commit may or may not have survived in the WAL; the
      "figure:" line says which).
  fsync_restart_keeps_everything  after the faults, herald restarts
      without the shim: every accepted event is there and delivered.

/readyz answers 200 during every one of these faults: it checks that the
store answers (reads still work), not that it can commit. The 503s of
ingest are the signal (docs/operations.md).

The figures (events accepted before the disk filled, 503s, time to
recover, duplicates) are printed as "figure:" lines."""

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import http.server

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Herald, batch_ids, case, check, eq, main, skip_all,  # noqa: E402
                     wait_for)

INSIDE = "HERALD_FAULTS_INSIDE"
DISK_MB = 8
# herald's request timeout and lease: short, so that results given up
# while the disk is full come back quickly; the lease must exceed the
# timeout by 5 s (serve.c), and the dispatcher gives up a batch it cannot
# record after max(lease - timeout - 5 s, lease / 4) = 4 s.
REQUEST_TIMEOUT_MS = 10000
LEASE_MS = 16000
PAD = "x" * 900  # each event's data is about 1 KiB: the disk fills in seconds
DRAIN = harness.DEADLINE * 4  # leases must run out before dropped results go out again


def figure(name, value):
    print("figure: %s = %s" % (name, value), flush=True)


# --------------------------------------------------------------------------
# getting into a mount namespace


def reexec_inside():
    """Runs this file again inside a new mount namespace; returns its exit
    status. Fails (never skips) when no namespace can be made."""
    argv = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    env = dict(os.environ, **{INSIDE: "1"})
    tried = []
    options = [["unshare", "--mount", "--propagation", "private"]] if os.geteuid() == 0 else []
    options.append(["unshare", "--user", "--map-root-user", "--mount"])
    for ns in options:
        try:
            probe = subprocess.run(ns + ["true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            tried.append("%s: %s" % (" ".join(ns), e))
            continue
        if probe.returncode == 0:
            return subprocess.run(ns + argv, env=env).returncode
        tried.append("%s: %s" % (" ".join(ns), probe.stderr.decode("utf-8", "replace").strip()))
    print("FAIL test_faults: cannot create a private mount namespace, so a small filesystem "
          "cannot be mounted to fill up.\n  %s\n  (run as root, as CI does, or enable "
          "unprivileged user namespaces)" % "\n  ".join(tried), flush=True)
    print("test_faults: 0 passed, 1 failed", flush=True)
    return 1


def sh(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(args), p.stderr.decode().strip()))
    return p.stdout.decode()


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_disk(path):
    """Writes a file that takes every free byte of the filesystem; returns
    its size."""
    total = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 4096, 512, 1):
            block = b"\0" * chunk
            while True:
                try:
                    n = f.write(block)
                except OSError as e:
                    if e.errno != 28:  # ENOSPC
                        raise
                    break
                total += n or 0
                if not n:
                    break
    return total


# --------------------------------------------------------------------------
# the receiver


class Sink:
    """An HTTP receiver that answers 200 and counts each webhook-id it sees
    (counted on arrival, before answering). While the gate is closed,
    requests are held until it opens."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.held = 0
        self.gate = threading.Event()
        self.gate.set()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                wid = self.headers.get("webhook-id") or "?"
                with sink.lock:
                    sink.counts[wid] = sink.counts.get(wid, 0) + 1
                    held = not sink.gate.is_set()
                    if held:
                        sink.held += 1
                if held:
                    sink.gate.wait(120)
                    with sink.lock:
                        sink.held -= 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    self.close_connection = True

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024

            def handle_error(self, request, client_address):
                pass  # herald killed with -9 mid-request: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def seen(self, ids):
        with self.lock:
            return sum(1 for i in ids if self.counts.get(i, 0) > 0)

    def count(self, i):
        with self.lock:
            return self.counts.get(i, 0)

    def duplicates(self, ids):
        with self.lock:
            return sum(max(self.counts.get(i, 0) - 1, 0) for i in ids)

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# publishing and judging answers


def event(n):
    return {"type": "post.published", "data": {"n": n, "pad": PAD}}


class Ledger:
    """What clients were told: accepted event ids (2xx) and the 503s."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = []
        self.refused = 0
        self.refused_single = 0
        self.refused_batch = 0
        self.seq = 0

    def next_n(self):
        with self.lock:
            self.seq += 1
            return self.seq


def check_503(r, what):
    """A 503 that says the store could not commit: Retry-After, the JSON
    error shape."""
    eq(r.status, 503, what)
    ra = r.headers.get("Retry-After")
    check(ra is not None and ra.isdigit() and int(ra) >= 1,
          "%s: 503 without a usable Retry-After (%r)" % (what, ra))
    check((r.headers.get("Content-Type") or "").startswith("application/json"),
          "%s: 503 body is JSON: %r" % (what, r.headers.get("Content-Type")))
    err = r.error
    eq(err.get("code"), "unavailable", "%s: error code" % what)
    check(isinstance(err.get("message"), str) and err["message"], "%s: error message" % what)


def publish(client, ledger, size):
    """One publish: a single event (size 0) or a batch of size events.
    Returns "accepted" or "refused"; anything but a 202 or a well-formed
    503 raises."""
    if size == 0:
        r = client.post("/v1/events", event(ledger.next_n()))
        what = "POST /v1/events"
    else:
        r = client.post("/v1/events/batch",
                        {"events": [event(ledger.next_n()) for _ in range(size)]})
        what = "POST /v1/events/batch (%d)" % size
    if r.status == 202:
        ids = [r.json["id"]] if size == 0 else batch_ids(r.json)
        eq(len(ids), max(size, 1), "%s: ids in the answer" % what)
        with ledger.lock:
            ledger.accepted.extend(ids)
        return "accepted"
    if r.status == 503:
        check_503(r, what)
        with ledger.lock:
            ledger.refused += 1
            if size == 0:
                ledger.refused_single += 1
            else:
                ledger.refused_batch += 1
        return "refused"
    raise AssertionError("%s: want 202 or 503, got %r" % (what, r))


def metrics(client):
    r = client.get("/metrics")
    eq(r.status, 200, "GET /metrics")
    out = {}
    for m in re.finditer(r'^herald_deliveries\{status="(\w+)"\} (\d+)$', r.body.decode(), re.M):
        out[m.group(1)] = int(m.group(2))
    m = re.search(r"^herald_attempts_total (\d+)$", r.body.decode(), re.M)
    out["attempts_total"] = int(m.group(1)) if m else 0
    for k in ("pending", "in_flight", "succeeded", "failed"):
        check(k in out, "/metrics has herald_deliveries{status=%r}" % k)
    return out


def wait_drained(client, ledger, sink, what):
    """Waits until nothing is pending or in flight and the receiver has seen
    every accepted event; returns the final metrics."""
    def drained():
        m = metrics(client)
        if m["pending"] == 0 and m["in_flight"] == 0 and sink.seen(ledger.accepted) == len(
                ledger.accepted):
            return m
        return None
    try:
        return wait_for(drained, DRAIN, interval=0.2, what=what)
    except AssertionError:
        m = metrics(client)
        raise AssertionError("%s: %d of %d accepted events seen by the receiver, metrics %r" % (
            what, sink.seen(ledger.accepted), len(ledger.accepted), m))


def check_ledger(client, ledger, sink, what):
    m = wait_drained(client, ledger, sink, what)
    n = len(ledger.accepted)
    eq(len(set(ledger.accepted)), n, "%s: accepted ids are distinct" % what)
    eq(m["succeeded"] + m["pending"] + m["in_flight"] + m["failed"], n,
       "%s: accepted (2xx) = succeeded + pending + in_flight + failed" % what)
    eq(m["failed"], 0, "%s: no delivery failed (the receiver always answers 200)" % what)
    stored = client.list_all("/v1/events")
    stored_ids = {e["id"] for e in stored}
    missing = set(ledger.accepted) - stored_ids
    eq(len(missing), 0, "%s: accepted events missing from the store" % what)
    extra = stored_ids - set(ledger.accepted)
    eq(len(extra), 0, "%s: events stored though the client was told 503" % what)
    return m


def recover(client, ledger):
    """Publishes until one is accepted; returns the seconds it took."""
    t0 = time.monotonic()
    wait_for(lambda: publish(client, ledger, 0) == "accepted", what="ingest accepting again",
             interval=0.1)
    return time.monotonic() - t0


def webhook(client, sink, path, **extra):
    body = {"name": "faults", "url": sink.url(path), "events": ["post.published"]}
    body.update(extra)
    return client.ok("POST", "/v1/webhooks", want=(201,), body=body)


def herald_args():
    return ["--request-timeout-ms", str(REQUEST_TIMEOUT_MS), "--lease-ms", str(LEASE_MS)]


# --------------------------------------------------------------------------
# ENOSPC: a real filesystem that fills up

TMP = None
DISK = None
SINK = None
H = None
ADMIN = None
LEDGER = Ledger()
HOOK = None


def setup():
    global TMP, DISK, SINK, H, ADMIN, HOOK
    TMP = tempfile.mkdtemp(prefix="herald-faults-")
    harness._tmp_dirs.append(TMP)
    DISK = os.path.join(TMP, "disk")
    os.mkdir(DISK)
    sh("mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % DISK_MB, "tmpfs", DISK)
    check(free_bytes(DISK) <= DISK_MB << 20, "the tmpfs is %d MiB" % DISK_MB)
    SINK = Sink()
    folder = os.path.join(TMP, "h1")
    os.mkdir(folder)
    H = Herald(folder=folder, db=os.path.join(DISK, "herald.db"), args=herald_args()).start()
    ADMIN = H.admin()
    HOOK = webhook(ADMIN, SINK, "/disk", max_in_flight=32)


def teardown():
    try:
        if H:
            H.stop()
        if FS:
            FS.stop()
    finally:
        if SINK:
            SINK.stop()
        if DISK:
            subprocess.run(["umount", "-l", DISK])


@case
def disk_full_while_results_wait():
    # 20 events accepted, their requests held at the receiver.
    SINK.gate.clear()
    held = []
    for _ in range(20):
        before = len(LEDGER.accepted)
        eq(publish(ADMIN, LEDGER, 0), "accepted", "publish before the disk is full")
        held.append(LEDGER.accepted[before])
    wait_for(lambda: SINK.held == 20, what="20 requests held at the receiver (have %d)" %
             SINK.held)

    # The disk fills up, to the last byte.
    filler = os.path.join(DISK, "filler")
    size = fill_disk(filler)
    figure("filler bytes", size)
    check(free_bytes(DISK) == 0, "the tmpfs is full (%d bytes free)" % free_bytes(DISK))

    # Ingest: 503 with Retry-After, single and batch; nothing is accepted.
    accepted_before = len(LEDGER.accepted)
    for i in range(10):
        eq(publish(ADMIN, LEDGER, 0 if i % 2 == 0 else 5), "refused", "publish on a full disk")
    eq(len(LEDGER.accepted), accepted_before, "nothing accepted on a full disk")
    check("database or disk is full" in H.stderr(), "herald logs SQLITE_FULL")
    # Reads still work, and so does /readyz (docs/operations.md).
    eq(ADMIN.get("/readyz").status, 200, "/readyz while the disk is full")
    eq(ADMIN.get("/v1/events/%s" % held[0]).status, 200, "reads while the disk is full")

    # The receiver answers: the dispatcher cannot record, retries, gives up.
    SINK.gate.set()
    wait_for(lambda: "attempt results dropped after repeated store failures" in H.stderr(),
             what="the dispatcher to give up recording while the disk is full")
    for i in held:
        eq(SINK.count(i), 1, "each held event sent once so far")
        ev = ADMIN.ok("GET", "/v1/events/%s" % i)
        eq([d["status"] for d in ev["deliveries"]], ["in_flight"],
           "an unrecorded delivery stays leased (in_flight)")
        eq(ev["deliveries"][0]["attempts"], [], "no attempt was recorded")
    eq(publish(ADMIN, LEDGER, 0), "refused", "still full")

    # Space comes back: ingest accepts at once, the deliveries go out again.
    os.unlink(filler)
    took = recover(ADMIN, LEDGER)
    figure("seconds from freeing space to the next 202", "%.2f" % took)
    wait_for(lambda: all(SINK.count(i) >= 2 for i in held), DRAIN,
             what="the 20 unrecorded deliveries sent again after their lease")
    for i in held:
        # The receiver counts a request before herald records its answer.
        d = wait_for(lambda: next((d for d in ADMIN.ok("GET", "/v1/events/%s" % i)["deliveries"]
                                   if d["status"] == "succeeded"), None),
                     what="the delivery of %s recorded as succeeded" % i)
        check(len(d["attempts"]) >= 1, "the new attempt of %s is recorded" % i)
    figure("held deliveries sent twice (results lost to ENOSPC, sent again)",
           sum(1 for i in held if SINK.count(i) >= 2))
    figure("503s while full (results phase)", LEDGER.refused)


@case
def disk_fills_under_load():
    refused_before = LEDGER.refused
    accepted_before = len(LEDGER.accepted)
    stop = threading.Event()
    errors = []
    consecutive = [0] * 4

    def client(k):
        sizes = [0, 20, 0, 5, 50, 0, 1]
        i = k
        try:
            while not stop.is_set():
                size = sizes[i % len(sizes)]
                i += 1
                if publish(ADMIN, LEDGER, size) == "refused":
                    consecutive[k] += 1
                    if consecutive[k] >= 8:
                        return
                else:
                    consecutive[k] = 0
                if len(LEDGER.accepted) > 200000:
                    raise AssertionError("200 000 events accepted and the disk is not full")
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
        check(not t.is_alive(), "a publishing client hung")
    check(not errors, "publishing: %r" % errors[:3])
    figure("events accepted before the disk filled (under load)",
           len(LEDGER.accepted) - accepted_before)
    figure("503s while filling (under load)", LEDGER.refused - refused_before)
    figure("seconds to fill %d MiB" % DISK_MB, "%.1f" % (time.monotonic() - t0))
    check(free_bytes(DISK) < 256 << 10, "the disk is full (%d bytes free)" % free_bytes(DISK))
    check(H.running(), "herald is still running")
    eq(ADMIN.get("/readyz").status, 200, "/readyz while the disk is full")
    eq(publish(ADMIN, LEDGER, 10), "refused", "a batch on the full disk")
    # A crash in the middle of the incident: herald starts again on the
    # full disk (the WAL and its index are already there), serves reads and
    # still refuses what it cannot commit.
    H.kill9()
    H.start()
    eq(ADMIN.get("/readyz").status, 200, "/readyz after a restart on the full disk")
    eq(ADMIN.get("/v1/events/%s" % LEDGER.accepted[-1]).status, 200, "reads after the restart")
    # The first publishes after the restart may fit: once, in a loaded
    # make test, a single event was accepted here (space the killed process
    # held may come back, or a WAL that starts over writes in its own
    # blocks). Each answer is a 202 after its commit or a well-formed 503
    # (publish() checks), and the ledger below holds herald to every 202.
    # The disk is still full, so refusals must follow.
    outcomes = []
    while len(outcomes) < 20 and "refused" not in outcomes:
        outcomes.append(publish(ADMIN, LEDGER, 50))
    figure("batches of 50 committed after the restart, before the first 503",
           outcomes.count("accepted"))
    check("refused" in outcomes, "a publish on the full disk after a restart is refused")

    # More room: remount the tmpfs bigger.
    sh("mount", "-o", "remount,size=%dm" % (DISK_MB * 8), DISK)
    took = recover(ADMIN, LEDGER)
    figure("seconds from remounting bigger to the next 202", "%.2f" % took)
    for size in (0, 10, 0, 25):
        eq(publish(ADMIN, LEDGER, size), "accepted", "publish after the remount")


@case
def ledger_balances():
    before = metrics(ADMIN)["attempts_total"]
    m = check_ledger(ADMIN, LEDGER, SINK, "ENOSPC ledger")
    check(m["attempts_total"] >= before, "attempts keep being recorded")
    dup = SINK.duplicates(LEDGER.accepted)
    figure("accepted events (ENOSPC, total)", len(LEDGER.accepted))
    figure("503 answers (ENOSPC, total: %d single, %d batch)" % (
        LEDGER.refused_single, LEDGER.refused_batch), LEDGER.refused)
    figure("duplicate deliveries (ENOSPC)", dup)
    figure("deliveries succeeded", m["succeeded"])
    # The dispatcher records attempts for what was published after the fault.
    last = LEDGER.accepted[-1]
    ev = ADMIN.ok("GET", "/v1/events/%s" % last)
    eq(ev["deliveries"][0]["status"], "succeeded", "the last event's delivery")
    check(len(ev["deliveries"][0]["attempts"]) >= 1, "its attempt is recorded")


@case
def restart_keeps_everything():
    H.stop()  # asserts exit status 0: no crash, no sanitizer report
    H.start()
    stored = {e["id"] for e in ADMIN.list_all("/v1/events")}
    eq(len(set(LEDGER.accepted) - stored), 0, "accepted events missing after a restart")
    m = metrics(ADMIN)
    eq(m["succeeded"], len(LEDGER.accepted), "every delivery still succeeded after a restart")
    eq(m["pending"] + m["in_flight"], 0, "nothing pending after a restart")


# --------------------------------------------------------------------------
# EIO: failed syncs and writes through the LD_PRELOAD shim

FS = None
FS_ADMIN = None
FS_LEDGER = Ledger()
CONTROL = None


def shim_path():
    p = os.environ.get("HERALD_FAULT_PRELOAD")
    if not p:
        p = os.path.join(os.path.dirname(harness.herald_bin()), "libherald_fault.so")
    check(os.path.exists(p), "the fault shim %s is built (cmake target herald_fault)" % p)
    return os.path.abspath(p)


def fault_env(writes=None):
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    # The shim is preloaded ahead of the sanitizer runtime, which would
    # otherwise refuse to start.
    env = {"LD_PRELOAD": shim_path(), "HERALD_FAULT_CONTROL": CONTROL,
           "HERALD_FAULT_PATH": "herald.db", "HERALD_FAULT_WRITES": writes,
           "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}
    return env


def shim_reports(kind):
    return FS.stderr().count("herald-fault: %s EIO" % kind)


def start_fs():
    global FS, FS_ADMIN, CONTROL
    folder = os.path.join(TMP, "h2")
    os.mkdir(folder)
    CONTROL = os.path.join(folder, "fault.on")
    FS = Herald(folder=folder, args=herald_args(), env=fault_env()).start()
    FS_ADMIN = FS.admin()
    webhook(FS_ADMIN, SINK, "/fsync", max_in_flight=32)


DROPPED = "attempt results dropped after repeated store failures"


def fault_window(kinds, what):
    """Events flow; ten more are accepted and their requests held at the
    receiver; the switch goes on: every publish must answer 503. The
    receiver then answers, and the dispatcher cannot record those results
    and gives them up. The switch goes off: ingest accepts again, and the
    ten deliveries go out again once their lease runs out. Returns the ids
    of the held events."""
    for i in range(20):
        eq(publish(FS_ADMIN, FS_LEDGER, 0 if i % 2 else 10), "accepted", "before the fault")
    wait_drained(FS_ADMIN, FS_LEDGER, SINK, "%s: before the fault" % what)
    SINK.gate.clear()
    held = []
    for _ in range(10):
        eq(publish(FS_ADMIN, FS_LEDGER, 0), "accepted", "before the fault")
        held.append(FS_LEDGER.accepted[-1])
    wait_for(lambda: SINK.held == 10, what="10 requests held at the receiver")

    reports = sum(shim_reports(k) for k in kinds)
    dropped = FS.stderr().count(DROPPED)
    refused = FS_LEDGER.refused
    accepted = len(FS_LEDGER.accepted)
    open(CONTROL, "w").close()
    for i in range(30):
        # Sent after the switch is on: a 2xx here would be a commit that
        # did not sync.
        eq(publish(FS_ADMIN, FS_LEDGER, 0 if i % 3 else 7), "refused", "%s: publish" % what)
    eq(len(FS_LEDGER.accepted), accepted, "%s: nothing accepted while the fault is on" % what)
    check(sum(shim_reports(k) for k in kinds) > reports, "%s: the shim injected faults" % what)
    eq(FS_ADMIN.get("/readyz").status, 200, "%s: /readyz" % what)
    eq(FS_ADMIN.get("/v1/events/%s" % held[0]).status, 200, "%s: reads" % what)

    SINK.gate.set()
    wait_for(lambda: FS.stderr().count(DROPPED) > dropped,
             what="%s: the dispatcher to give up recording" % what)
    for i in held:
        eq(SINK.count(i), 1, "%s: each held event sent once so far" % what)

    os.unlink(CONTROL)
    took = recover(FS_ADMIN, FS_LEDGER)
    figure("%s: seconds from clearing the fault to the next 202" % what, "%.2f" % took)
    figure("%s: 503 answers" % what, FS_LEDGER.refused - refused)
    for i in range(10):
        eq(publish(FS_ADMIN, FS_LEDGER, 0 if i % 2 else 10), "accepted", "after the fault")
    wait_for(lambda: all(SINK.count(i) >= 2 for i in held), DRAIN,
             what="%s: the unrecorded deliveries sent again" % what)
    return held


@case
def fsync_fails_mid_run():
    start_fs()
    fault_window(["fdatasync", "fsync"], "fsync EIO")
    m = check_ledger(FS_ADMIN, FS_LEDGER, SINK, "fsync ledger")
    figure("accepted events (fsync)", len(FS_LEDGER.accepted))
    figure("duplicate deliveries (fsync)", SINK.duplicates(FS_LEDGER.accepted))
    check(m["succeeded"] == len(FS_LEDGER.accepted), "every delivery succeeded")


@case
def wal_writes_fail_mid_run():
    FS.stop()
    FS.env_over = fault_env(writes="herald.db-wal")
    FS.start()
    fault_window(["pwrite64", "pwrite", "write"], "WAL write EIO")
    check_ledger(FS_ADMIN, FS_LEDGER, SINK, "write ledger")
    figure("accepted events (fsync and writes)", len(FS_LEDGER.accepted))
    figure("duplicate deliveries (fsync and writes)", SINK.duplicates(FS_LEDGER.accepted))


@case
def fsync_failure_then_crash():
    # A commit whose fsync failed has been written to the WAL (only the sync
    # failed). If herald dies before its next commit overwrites it, SQLite's
    # recovery at the next start may find it: the event answered 503 can
    # then exist. A client that retries with the same Idempotency-Key gets
    # exactly one event either way.
    FS.stop()
    FS.env_over = fault_env()
    FS.start()
    # A commit first, so the WAL has a synced header and the failed commit's
    # frames are written after it (the first commit of a new WAL syncs the
    # header before any frame, and fails there).
    eq(publish(FS_ADMIN, FS_LEDGER, 0), "accepted", "publish before the fault")
    wait_drained(FS_ADMIN, FS_LEDGER, SINK, "before the crash")
    open(CONTROL, "w").close()
    key = {"Idempotency-Key": "fault-crash-1"}
    r = FS_ADMIN.post("/v1/events", event(FS_LEDGER.next_n()), headers=key)
    check_503(r, "publish while fsync fails")
    FS.kill9()
    os.unlink(CONTROL)
    FS.env_over = {}
    FS.start()
    r = FS_ADMIN.post("/v1/events", event(FS_LEDGER.next_n()), headers=key)
    check(r.status in (200, 202), "the retry with the same Idempotency-Key: %r" % r)
    figure("event answered 503 found after the crash (recovered from the WAL)",
           "yes" if r.status == 200 else "no")
    FS_LEDGER.accepted.append(r.json["id"])
    r2 = FS_ADMIN.post("/v1/events", event(FS_LEDGER.next_n()), headers=key)
    eq((r2.status, r2.json["id"]), (200, r.json["id"]), "a second retry answers the same event")
    check_ledger(FS_ADMIN, FS_LEDGER, SINK, "ledger after the crash")


@case
def fsync_restart_keeps_everything():
    FS.stop()  # exit status 0
    FS.env_over = {}
    FS.start()
    stored = {e["id"] for e in FS_ADMIN.list_all("/v1/events")}
    eq(len(set(FS_LEDGER.accepted) - stored), 0, "accepted events missing after a restart")
    eq(len(stored - set(FS_LEDGER.accepted)), 0, "events stored though the client was told 503")
    m = metrics(FS_ADMIN)
    eq(m["succeeded"], len(FS_LEDGER.accepted), "every accepted event delivered")
    eq(m["pending"] + m["in_flight"] + m["failed"], 0, "nothing left over")


if __name__ == "__main__":
    if harness.POSTGRES:
        skip_all("the faults are injected on herald's SQLite files (a tmpfs that fills up, "
                 "an LD_PRELOAD shim on their fsyncs); the SQLite pass runs them")
    if os.environ.get(INSIDE) != "1":
        sys.exit(reexec_inside())
    main(setup, teardown)
