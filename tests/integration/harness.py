"""harness.py — drives the real herald binary for the integration tests.

Python 3 standard library only. What it gives a test file:

  Herald     starts `herald serve` on a free loopback port with its own
             temporary database, waits for /healthz, reads admin.key; stops
             it with SIGTERM (asserting exit status 0), kills it with -9,
             restarts it on the same database.
  Client     a small JSON API client (Bearer or Basic auth, raw bodies,
             form bodies, any method) returning Response objects.
  Receiver   a webhook receiver (http.server in a thread on 127.0.0.1) that
             records every request and answers from a per-path script:
             status sequences, delays, hangs.
  NodeReceiver  tests/integration/node/receiver.js, which verifies each
             request with the official Standard Webhooks library.
  wait_for   polls a condition with a generous deadline; tests never sleep
             to "let things happen".
  case/main  a tiny runner: each case prints PASS or FAIL with the reason,
             the file ends with "N passed, N failed" and exits 1 on failure.

The binary comes from $HERALD_BIN (ctest sets it); when unset, the first
herald found in build/test, build/release or build-it is used.

Backends. HERALD_TEST_BACKEND=postgres runs every test against PostgreSQL
instead of SQLite (the default, HERALD_TEST_BACKEND=sqlite): each Herald
gets a new empty database from `scripts/pg.sh newdb` on the cluster that
`scripts/pg.sh run` started ($HERALD_TEST_PG_SCRIPT names the script and
$HERALD_PG_DIR the cluster; without them, scripts/pg.sh and its current
cluster). herald then runs in its own folder, where it writes var/admin.key.
Tests that look inside the database use db_contents() (the SQLite files, or
a pg_dump) and psql(), never the backend's files directly.
"""

import asyncio
import base64
import http.client
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_DIR = os.path.join(ROOT, "tests", "integration", "node")

# Every wait in the suite is a poll against this deadline: long enough for a
# sanitizer build on a loaded two-core machine, short enough that a real hang
# fails the test well inside ctest's timeout.
DEADLINE = float(os.environ.get("HERALD_TEST_DEADLINE", "30"))

BACKEND = os.environ.get("HERALD_TEST_BACKEND", "sqlite") or "sqlite"
if BACKEND not in ("sqlite", "postgres"):
    raise SystemExit("HERALD_TEST_BACKEND must be sqlite or postgres, not %r" % BACKEND)
POSTGRES = BACKEND == "postgres"


# --------------------------------------------------------------------------
# small helpers


def herald_bin():
    b = os.environ.get("HERALD_BIN")
    if b:
        return b
    for d in ("build/test", "build/release", "build-it"):
        p = os.path.join(ROOT, d, "herald")
        if os.access(p, os.X_OK):
            return p
    raise SystemExit("HERALD_BIN is not set and no built herald was found")


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A port free on 127.0.0.1 right now, for a server started next.

    Taken below the kernel's ephemeral range, at random: a port the kernel
    handed out (bind to 0, or the local end of any outgoing connection,
    such as herald's own to a receiver) can be handed out again to a test
    running beside this one in the moment between this probe closing and
    the server binding it, and the server then cannot listen."""
    low = _ephemeral_low()
    if low > 11024:
        for _ in range(200):
            port = random.randrange(low - 10000, low)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
            finally:
                s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_message(sock, timeout=30):
    """Reads one HTTP/1.1 message (head and a Content-Length body) from a
    blocking socket. Returns (head, body), or None when the peer closes
    first."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body


def wait_for(cond, timeout=None, interval=0.05, what="condition"):
    """Calls cond() until it returns something truthy, which is returned.
    Raises AssertionError naming `what` after timeout seconds."""
    timeout = DEADLINE if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return ""


def batch_ids(j):
    """The event ids of a POST /v1/events/batch answer: {"events":[…]} or
    {"items":[…]}, each an object with "id" (or a bare id)."""
    items = None
    if isinstance(j, dict):
        items = j.get("events") if j.get("events") is not None else j.get("items")
    elif isinstance(j, list):
        items = j
    check(isinstance(items, list), "batch answer lists its events: %r" % (j,))
    return [i["id"] if isinstance(i, dict) else i for i in items]


def sign_v1(secret, msg_id, timestamp, body):
    """Standard Webhooks v1 signature, computed independently of herald:
    HMAC-SHA256 keyed with base64-decode(secret minus whsec_) over
    id.timestamp.body."""
    import hashlib
    import hmac
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    msg = ("%s.%s." % (msg_id, timestamp)).encode() + body
    return "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


# --------------------------------------------------------------------------
# PostgreSQL (HERALD_TEST_BACKEND=postgres)

_pg_dbs = []  # URLs of the databases pg_newdb() made; dropped when every case passed


def pg_script():
    return os.environ.get("HERALD_TEST_PG_SCRIPT") or os.path.join(ROOT, "scripts", "pg.sh")


def pg_tool(name):
    """A PostgreSQL client program: the newest server version's own, else
    the one on PATH."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return found[-1]
    import shutil
    p = shutil.which(name)
    check(p, "%s not found (apt-get install -y postgresql-client)" % name)
    return p


def pg_run(*args, env=None, timeout=120):
    """Runs scripts/pg.sh ARGS; returns its stdout (stripped). env adds
    variables (HERALD_PG_DIR picks a cluster other than the suite's)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([pg_script()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=e, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("pg.sh %s exited %d:\n%s" % (
            " ".join(args), p.returncode, p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode().strip()


_db_seq = [0]


def pg_newdb(env=None):
    """A new empty database on the cluster; returns its URL."""
    _db_seq[0] += 1
    name = "it_%d_%d" % (os.getpid(), _db_seq[0])
    url = pg_run("newdb", name, env=env).splitlines()[-1]
    check(url.startswith("postgres"), "pg.sh newdb printed a URL: %r" % url)
    if not env:
        _pg_dbs.append(url)
    return url


def psql(url, sql, timeout=60):
    """Runs sql on the database at url; returns the rows as tuples of
    strings (NULL as "")."""
    p = subprocess.run([pg_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-F", "\x1f", "-R", "\x1e", "-d", url, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("psql %r exited %d: %s" % (
            sql, p.returncode, p.stderr.decode("utf-8", "replace")))
    out = p.stdout.decode("utf-8", "replace").rstrip("\n")
    return [tuple(r.split("\x1f")) for r in out.split("\x1e") if r.strip("\n")]


def pg_dump(url, timeout=120):
    """Everything in the database at url, schema and rows, as pg_dump
    writes it (bytes)."""
    p = subprocess.run([pg_tool("pg_dump"), "--no-owner", "-d", url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("pg_dump exited %d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace")))
    return p.stdout


def _pg_drop_all():
    for url in _pg_dbs:
        u = urllib.parse.urlsplit(url)
        admin = urllib.parse.urlunsplit((u.scheme, u.netloc, "/postgres", u.query, ""))
        try:
            psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % u.path.lstrip("/"))
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            print("could not drop %s: %s" % (url, e), flush=True)


# --------------------------------------------------------------------------
# API client


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body
        self._json = None
        self._parsed = False

    @property
    def json(self):
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self._json = None
        return self._json

    @property
    def error(self):
        """The {"code","message","field"} object of an error answer, or {}."""
        j = self.json
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"]
        return {}

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300].decode("utf-8", "replace"))


_NOBODY = object()


class Client:
    """One API identity. auth: "bearer", "basic" (needs account_id) or None."""

    def __init__(self, base, key=None, account_id=None, auth="bearer", timeout=60):
        u = urllib.parse.urlsplit(base)
        self.host = u.hostname
        self.port = u.port
        self.base = base
        self.key = key
        self.account_id = account_id
        self.auth = auth if key else None
        self.timeout = timeout

    def as_key(self, key, account_id=None, auth="bearer"):
        return Client(self.base, key, account_id, auth, self.timeout)

    def auth_header(self):
        if self.auth == "bearer":
            return "Bearer " + self.key
        if self.auth == "basic":
            tok = base64.b64encode(("%s:%s" % (self.account_id, self.key)).encode()).decode()
            return "Basic " + tok
        return None

    def request(self, method, path, body=_NOBODY, form=None, raw=None, headers=None,
                query=None, content_type=None):
        """body: a value sent as JSON; form: a dict or list of pairs sent as
        application/x-www-form-urlencoded (lists repeat the key); raw: bytes
        sent as they are (content_type then says the type, if any)."""
        hdrs = {}
        a = self.auth_header()
        if a:
            hdrs["Authorization"] = a
        data = None
        if body is not _NOBODY:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form, doseq=True).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif raw is not None:
            data = raw
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        if query:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(query, doseq=True)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (413) and close before reading all
                # of a large body; its answer is still there to read.
                pass
            r = conn.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=_NOBODY, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=_NOBODY, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # helpers that assert success ------------------------------------------

    def ok(self, method, path, want=(200,), **kw):
        r = self.request(method, path, **kw)
        if r.status not in want:
            raise AssertionError("%s %s: want %s, got %r" % (method, path, want, r))
        return r.json

    def create_webhook(self, **fields):
        fields.setdefault("name", "hook")
        fields.setdefault("events", ["*"])
        return self.ok("POST", "/v1/webhooks", want=(201,), body=fields)

    def publish(self, type_, data, headers=None, **extra):
        body = {"type": type_, "data": data}
        body.update(extra)
        return self.ok("POST", "/v1/events", want=(202,), body=body, headers=headers)

    def log(self, webhook_id, **query):
        q = {"count": 100}
        q.update(query)
        return self.ok("GET", "/v1/webhooks/%s/log" % webhook_id, query=q)["items"]

    def list_all(self, path, **query):
        """Every item of a paged list, following pages of 100."""
        items = []
        page = 0
        while True:
            q = dict(query)
            q.update(page=page, count=100)
            j = self.ok("GET", path, query=q)
            items.extend(j["items"])
            if len(j["items"]) < 100:
                return items
            page += 1

    def create_account(self, name):
        """Creates an account with the admin API and a key for it; returns a
        Client for that key. Accepts the key from the account answer or from
        POST /v1/accounts/{id}/keys."""
        a = self.ok("POST", "/v1/accounts", want=(200, 201), body={"name": name})
        acct = a.get("id") or a.get("account_id")
        check(acct and acct.startswith("acct_"), "account id in %r" % a)
        k = self.ok("POST", "/v1/accounts/%s/keys" % acct, want=(200, 201), body={})
        key = k.get("api_key") or k.get("key")
        check(key, "api_key in %r" % k)
        c = self.as_key(key, acct)
        c.key_id = k.get("key_id") or k.get("id")
        return c


# --------------------------------------------------------------------------
# the herald process


class Herald:
    """One `herald serve` with its own folder (database, admin.key, logs),
    which is also its working directory.

    dev:            pass --dev (plain http and loopback destinations allowed)
    retry_schedule: --retry-schedule, compressed for tests
    args:           more serve flags
    env:            environment overrides (None value removes a variable)
    db:             the database URL or path; by default a new one of the
                    backend under test (two Heralds given the same URL are
                    two nodes on one database)
    """

    def __init__(self, dev=True, retry_schedule="0.2,0.4", args=(), env=None, folder=None,
                 db=None):
        self.bin = herald_bin()
        if folder is None:
            folder = tempfile.mkdtemp(prefix="herald-it-")
            _tmp_dirs.append(folder)
        self.dir = folder
        if not db:
            db = pg_newdb() if POSTGRES else os.path.join(self.dir, "herald.db")
        self.db = db
        self.port = free_port()
        self.dev = dev
        self.retry_schedule = retry_schedule
        self.args = list(args)
        self.env_over = dict(env or {})
        self.proc = None
        self.starts = 0
        self.admin_key = None
        self.stdout_path = None
        self.stderr_path = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def postgres(self):
        return self.db.startswith(("postgres://", "postgresql://"))

    @property
    def key_path(self):
        """Where herald writes admin.key: beside a SQLite file, in ./var/
        (of its working directory, self.dir) with PostgreSQL."""
        if self.postgres:
            return os.path.join(self.dir, "var", "admin.key")
        path = self.db[len("sqlite:"):] if self.db.startswith("sqlite:") else self.db
        return os.path.join(os.path.dirname(os.path.abspath(os.path.join(self.dir, path))),
                            "admin.key")

    def db_contents(self):
        """[(name, bytes)]: everything the database holds as stored — the
        SQLite file and its -wal/-shm companions that exist, or a pg_dump
        of the PostgreSQL database."""
        if self.postgres:
            return [("pg_dump", pg_dump(self.db))]
        path = self.db[len("sqlite:"):] if self.db.startswith("sqlite:") else self.db
        path = os.path.join(self.dir, path)
        out = []
        for f in (path, path + "-wal", path + "-shm"):
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    out.append((os.path.basename(f), fh.read()))
        return out

    def argv(self):
        a = [self.bin, "serve", "--listen", "127.0.0.1:%d" % self.port, "--db", self.db]
        if self.dev:
            a.append("--dev")
        if self.retry_schedule:
            a += ["--retry-schedule", self.retry_schedule]
        return a + self.args

    def environ(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        # A leak or sanitizer report makes the exit status non-zero, which
        # stop() turns into a failure.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        for k, v in self.env_over.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def start(self, timeout=None):
        check(self.proc is None, "herald already running")
        self.starts += 1
        self.stdout_path = os.path.join(self.dir, "stdout.%d" % self.starts)
        self.stderr_path = os.path.join(self.dir, "stderr.%d" % self.starts)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=self.environ(),
                                         cwd=self.dir)

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError("herald exited with %d at start:\n%s\n%s" % (
                    self.proc.returncode, tail(self.stdout_path), tail(self.stderr_path)))
            try:
                return Client(self.url, timeout=5).get("/healthz").status == 200
            except OSError:
                return False

        wait_for(healthy, timeout, what="herald /healthz on %s" % self.url)
        # The port answers as soon as libmicrohttpd listens, a moment before
        # serve prints that it does: tests read what start printed.
        wait_for(lambda: "herald listening on" in self.stdout(), timeout,
                 what="herald's listening line on stdout")
        if self.admin_key is None:
            path = self.key_path
            wait_for(lambda: os.path.exists(path), 5, what=path)
            with open(path) as f:
                self.admin_key = f.read().strip()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM; asserts a clean exit (status 0) within timeout."""
        if self.proc is None:
            return
        p = self.proc
        self.proc = None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError("herald did not exit within %ds of SIGTERM:\n%s" % (
                    timeout, tail(self.stderr_path)))
        if p.returncode != 0:
            raise AssertionError("herald exited with status %d (want 0):\n%s" % (
                p.returncode, tail(self.stderr_path, 80)))

    def kill9(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def stdout(self, n=None):
        """Text printed on stdout by start number n (default the latest)."""
        n = n or self.starts
        with open(os.path.join(self.dir, "stdout.%d" % n), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self, n=None):
        n = n or self.starts
        with open(os.path.join(self.dir, "stderr.%d" % n), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def admin(self):
        return Client(self.url, self.admin_key)

    def client(self, key=None, account_id=None, auth="bearer"):
        return Client(self.url, key, account_id, auth)

    def cli(self, *args, env=None, check_rc=True, timeout=60):
        """Runs `herald ARGS...` (another subcommand) against this folder."""
        e = self.environ()
        e.update(env or {})
        p = subprocess.run([self.bin] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, env=e, timeout=timeout, cwd=self.dir)
        if check_rc and p.returncode != 0:
            raise AssertionError("herald %s exited %d:\n%s" % (
                " ".join(args), p.returncode, p.stderr.decode("utf-8", "replace")))
        return p


# --------------------------------------------------------------------------
# the webhook receiver


class Recorded:
    """One request the receiver got."""

    def __init__(self, method, path, query, headers, body):
        self.time = time.monotonic()
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers  # list of (name, value) as received
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %s %s>" % (self.method, self.path, self.body[:200])


class Reply:
    """How the receiver answers one request."""

    def __init__(self, status=200, body=b"ok", delay=0.0, hang=False, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.delay = delay
        self.hang = hang
        self.headers = headers or {}


class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 recording every request.

    script(path, [Reply, ...]): requests to path get these replies in order;
    the last one repeats. Paths without a script get Reply(200)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.scripts = {}
        self.counts = {}
        self.release = threading.Event()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _read_body(self):
                te = (self.headers.get("Transfer-Encoding") or "").lower()
                if te == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self):
                body = self._read_body()
                u = urllib.parse.urlsplit(self.path)
                r = Recorded(self.command, u.path, u.query, list(self.headers.items()), body)
                with rec.lock:
                    rec.requests.append(r)
                    i = rec.counts.get(u.path, 0)
                    rec.counts[u.path] = i + 1
                    seq = rec.scripts.get(u.path) or [Reply()]
                    reply = seq[min(i, len(seq) - 1)]
                if reply.hang:
                    # Until the receiver stops; herald must cut this itself.
                    rec.release.wait(300)
                    self.close_connection = True
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    self.close_connection = True

            do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = _handle

        class Server(http.server.ThreadingHTTPServer):
            # herald opens many connections at once; the default backlog
            # of 5 would drop handshakes and stall them in TCP retransmits.
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def script(self, path, replies):
        with self.lock:
            self.scripts[path] = list(replies)

    def received(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_count(self, n, path=None, timeout=None):
        wait_for(lambda: len(self.received(path)) >= n, timeout,
                 what="%d request(s) at %s (have %d)" % (n, path or "receiver",
                                                        len(self.received(path))))
        return self.received(path)

    def release_hangs(self):
        """Hanging handlers (and any later ones) close without answering."""
        self.release.set()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class CountingReceiver:
    """An asyncio HTTP/1.1 receiver answering 200 at once (keep-alive),
    counting requests per (webhook-id, path), for the crash and multi-node
    tests that push tens of thousands of deliveries through it. Runs its
    loop in a thread."""

    def __init__(self):
        self.counts = {}
        self.total = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=1024))
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        check(ready.wait(10), "receiver started")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1].decode()
                length = 0
                wid = None
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    k = k.strip().lower()
                    if k == b"content-length":
                        length = int(v.strip())
                    elif k == b"webhook-id":
                        wid = v.strip().decode()
                if length:
                    await reader.readexactly(length)
                with self.lock:
                    key = (wid, path)
                    self.counts[key] = self.counts.get(key, 0) + 1
                    self.total += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            writer.close()

    def seen(self):
        with self.lock:
            return dict(self.counts)

    def ids(self):
        """Requests per webhook-id, whatever the path."""
        out = {}
        with self.lock:
            for (wid, _path), n in self.counts.items():
                out[wid] = out.get(wid, 0) + n
        return out

    def received(self):
        with self.lock:
            return self.total

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class NodeReceiver:
    """tests/integration/node/receiver.js: verifies every request with the
    official Standard Webhooks library (npm `standardwebhooks`), answers 200
    when the signature verifies and 400 when it does not, and records each
    result. Secrets are set per path with secret()."""

    def __init__(self):
        self.port = free_port()
        script = os.path.join(NODE_DIR, "receiver.js")
        check(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "standardwebhooks")),
              "npm package standardwebhooks missing: run scripts/deps.sh test")
        self.proc = subprocess.Popen(["node", script, str(self.port)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=sys.stderr)
        line = self.proc.stdout.readline().decode()
        check(line.startswith("listening"), "node receiver did not start: %r" % line)
        self.ctl = Client("http://127.0.0.1:%d" % self.port)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def secret(self, path, secret):
        r = self.ctl.post("/__secret", {"path": path, "secret": secret})
        eq(r.status, 200, "node receiver /__secret")

    def results(self, path=None):
        items = self.ctl.get("/__results").json
        return [i for i in items if path is None or i["path"] == path]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


# --------------------------------------------------------------------------
# the runner


_cases = []
_tmp_dirs = []  # folders Herald made; removed when every case passed


def case(fn):
    _cases.append(fn)
    return fn


SKIP_STATUS = 77  # ctest's SKIP_RETURN_CODE for the integration tests


def skip_all(reason):
    """Skips the whole file: prints why and exits with SKIP_STATUS, which
    ctest reports as a skipped test (not a pass, not a failure)."""
    name = os.path.basename(sys.argv[0]).replace(".py", "")
    print("SKIP %s: %s" % (name, reason), flush=True)
    sys.exit(SKIP_STATUS)


def main(setup=None, teardown=None):
    """Runs every @case in order (or those named on the command line).
    setup() runs first; if it fails every case fails. teardown() runs last
    and counts as a case of its own (it usually asserts a clean exit)."""
    only = set(sys.argv[1:])
    cases = [c for c in _cases if not only or c.__name__ in only]
    name = os.path.basename(sys.argv[0])
    print("== %s: %d cases (%s)" % (name, len(cases), BACKEND), flush=True)
    passed = failed = 0
    ok = True
    if setup:
        try:
            setup()
        except Exception:
            ok = False
            print("FAIL setup\n" + _indent(traceback.format_exc()), flush=True)
    for c in cases:
        if not ok:
            failed += 1
            print("FAIL %s (setup failed)" % c.__name__, flush=True)
            continue
        t0 = time.monotonic()
        try:
            c()
            passed += 1
            print("PASS %s (%.2fs)" % (c.__name__, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.2fs)\n%s" % (c.__name__, time.monotonic() - t0,
                                           _indent(traceback.format_exc())), flush=True)
    if teardown:
        try:
            teardown()
            passed += 1
            print("PASS teardown", flush=True)
        except Exception:
            failed += 1
            print("FAIL teardown\n" + _indent(traceback.format_exc()), flush=True)
    if failed or os.environ.get("HERALD_KEEP_TMP"):
        for d in _tmp_dirs:
            print("kept %s (database, admin.key, stdout.N, stderr.N)" % d, flush=True)
        for u in _pg_dbs:
            print("kept database %s" % u, flush=True)
    else:
        import shutil
        for d in _tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)
        _pg_drop_all()
    print("%s: %d passed, %d failed" % (name.replace(".py", ""), passed, failed), flush=True)
    sys.exit(1 if failed else 0)


def _indent(s):
    return "".join("    " + line + "\n" for line in s.rstrip().splitlines())
