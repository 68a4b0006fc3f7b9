#!/usr/bin/env python3
"""The SSRF guard against real addresses (issue 4, items 1-2; DESIGN.md §6),
in a private network namespace.

The test re-executes itself inside new user, network and mount namespaces
(`unshare -rnm`; `unshare -nm` when user namespaces are unavailable but it
runs as root). There, `lo` is the only interface, and it is given the
addresses herald must never reach: 169.254.169.254 (cloud metadata),
10.9.9.9 (private), fd00::9 (unique local), fd00:ec2::254 (IPv6
metadata), and the tunnelled IPv6 forms of 10.9.9.9 (IPv4-compatible,
NAT64, 6to4, Teredo) so that a guard failure would reach a listener, not
an unroutable address. Canary listeners on ports 80, 443 and 8443 of each
count every connection accepted. A small DNS server on 127.0.0.1:53 (the
namespace's /etc/resolv.conf is a private bind mount) answers names that
resolve to canaries, several answers at once, nothing at all, and one
name that alternates between an allowed and a refused address on
successive queries (rebinding). A test CA is bind-mounted over the system
CA bundle, so herald's https requests to an allowed receiver on
127.0.0.1 succeed and the allowed path is proven to work.

herald runs without --dev, with --allow-cidr 127.0.0.0/8 (the API and the
allowed receiver). Webhooks point at the canaries directly, through every
literal encoding, through DNS, and through a 302 from the allowed
receiver. The canaries must receive zero connections; each attempt is
logged with error "blocked" ("http" with 302 for the redirect, which is
not followed; "dns" for a name that does not resolve) and retried like any
failure. Then --allow-cidr 169.254.0.0/16 still refuses 169.254.169.254,
169.254.169.254/32 allows it, and 10.0.0.0/8 opens 10.9.9.9.

No packet leaves the namespace: before anything else the test checks that
`lo` is its only interface. If the namespaces cannot be made, the test
fails with the reason (CI runs as root, where they can always be made)."""

import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Herald, Receiver, Reply, case, check, eq, main, wait_for  # noqa: E402

INSIDE = "HERALD_NETNS_INSIDE"

# Addresses given to lo inside the namespace: the canaries.
TEN = "10.9.9.9"
META = "169.254.169.254"
LINK = "169.254.1.1"  # another link-local address, for the /16 allow case
CANARY_V4 = [TEN, META, LINK]
CANARY_V6 = ["fd00::9", "fd00:ec2::254", "::a09:909", "64:ff9b::a09:909", "64:ff9b::a9fe:a9fe",
             "2002:a09:909::1", "2001:0:4136:e378:8000:63bf:f5f6:f6f6"]
PORTS = [80, 443, 8443]
ALLOWED_TLS_PORT = 8443  # the allowed TLS receiver on 127.0.0.1 shares the canaries' port


# --------------------------------------------------------------------------
# getting into the namespaces


def reexec_inside():
    """Runs this file again inside new namespaces; returns its exit status."""
    argv = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    env = dict(os.environ, **{INSIDE: "1"})
    tried = []
    for ns in (["unshare", "--user", "--map-root-user", "--net", "--mount"],
               ["unshare", "--net", "--mount"]):
        if ns[1] == "--net" and os.geteuid() != 0:
            continue
        probe = subprocess.run(ns + ["true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if probe.returncode == 0:
            return subprocess.run(ns + argv, env=env).returncode
        tried.append("%s: %s" % (" ".join(ns), probe.stderr.decode("utf-8", "replace").strip()))
    print("FAIL test_ssrf_netns: cannot create a private network namespace, so the SSRF guard "
          "cannot be tested against real addresses.\n  %s\n  (needs unprivileged user "
          "namespaces — sysctl kernel.unprivileged_userns_clone=1 — or root)" %
          "\n  ".join(tried), flush=True)
    print("test_ssrf_netns: 0 passed, 1 failed", flush=True)
    return 1


def sh(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit("%s failed: %s" % (" ".join(args), p.stderr.decode().strip()))
    return p.stdout.decode()


def prepare_namespace(tmp):
    # Never send traffic anywhere but here: lo must be the only interface.
    names = [n for _, n in socket.if_nameindex()]
    if names != ["lo"]:
        raise SystemExit("not in a private network namespace (interfaces %s): refusing to run"
                         % names)
    sh("ip", "link", "set", "lo", "up")
    for a in CANARY_V4:
        sh("ip", "addr", "add", a + "/32", "dev", "lo")
    for a in CANARY_V6:
        sh("ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad")
    # A private resolver configuration and CA bundle, for this process tree only.
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    sh("mount", "--bind", resolv, "/etc/resolv.conf")
    ca = make_certs(tmp)
    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    sh("mount", "--bind", ca, bundle)


def make_certs(tmp):
    """A test CA and a certificate for the allowed names, signed by it."""
    ca_key, ca_crt = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.crt")
    key, csr, crt = (os.path.join(tmp, n) for n in ("leaf.key", "leaf.csr", "leaf.crt"))
    ext = os.path.join(tmp, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:allowed.test,DNS:rebind.test,DNS:mixed.test,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "2",
       "-subj", "/CN=herald netns test CA")
    sh("openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=allowed.test")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
       "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    CERT[:] = [crt, key]
    return ca_crt


CERT = []


# --------------------------------------------------------------------------
# canaries, DNS, the allowed receivers


class Canaries:
    """A listener on every canary address and port, counting accepts. A
    plain-HTTP request is answered 200 (so an explicitly allowed address
    shows a success); anything else is closed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = {}
        self.socks = []
        for a in CANARY_V4 + CANARY_V6:
            for port in PORTS:
                fam = socket.AF_INET6 if ":" in a else socket.AF_INET
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((a, port))
                s.listen(64)
                self.count[(a, port)] = 0
                self.socks.append(s)
                threading.Thread(target=self._serve, args=(s, (a, port)), daemon=True).start()

    def _serve(self, s, key):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with self.lock:
                self.count[key] += 1
            threading.Thread(target=self._answer, args=(c,), daemon=True).start()

    @staticmethod
    def _answer(c):
        try:
            c.settimeout(5)
            data = c.recv(65536)
            if data[:5] in (b"POST ", b"PUT /", b"PATCH"):
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except OSError:
            pass
        finally:
            c.close()

    def snapshot(self):
        with self.lock:
            return dict(self.count)

    def hits(self, since=None):
        now = self.snapshot()
        base = since or {}
        return {k: v - base.get(k, 0) for k, v in now.items() if v - base.get(k, 0)}


class Dns:
    """A UDP DNS server on 127.0.0.1:53 answering A and AAAA from a table;
    a list of answers is given whole (multi-answer), a "rebind" entry
    alternates between its answers on successive A queries; unknown names
    are NXDOMAIN."""

    def __init__(self, table, rebind):
        self.table = table
        self.rebind = rebind
        self.queries = {}
        self.lock = threading.Lock()
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 53))
        threading.Thread(target=self._serve, daemon=True).start()

    def a_queries(self, name):
        with self.lock:
            return self.queries.get((name, 1), 0)

    def _serve(self):
        while True:
            try:
                data, peer = self.s.recvfrom(4096)
                self.s.sendto(self._answer(data), peer)
            except Exception:  # a malformed query is simply dropped
                continue

    def _answer(self, q):
        tid, flags, qd = struct.unpack(">HHH", q[:6])
        labels, i = [], 12
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode().lower())
            i += 1 + q[i]
        qtype, qclass = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels)
        with self.lock:
            n = self.queries.get((name, qtype), 0)
            self.queries[(name, qtype)] = n + 1
        if name in self.rebind:
            answers = [self.rebind[name][n % len(self.rebind[name])]] if qtype == 1 else []
            known = True
        else:
            known = name in self.table
            answers = [a for a in self.table.get(name, []) if (":" in a) == (qtype == 28)]
        rrs = b""
        for a in answers:
            rdata = socket.inet_pton(socket.AF_INET6 if qtype == 28 else socket.AF_INET, a)
            rrs += struct.pack(">HHHIH", 0xC00C, qtype, 1, 0, len(rdata)) + rdata
        rcode = 0 if known else 3
        hdr = struct.pack(">HHHHHH", tid, 0x8180 | rcode | (flags & 0x0100), 1, len(answers), 0, 0)
        return hdr + question + rrs


class TlsReceiver:
    """The allowed receiver over https on 127.0.0.1:8443, with the test
    CA's certificate: answers 200 and counts requests."""

    def __init__(self):
        import http.server
        rec = self
        self.n = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rec.lock:
                    rec.n += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", ALLOWED_TLS_PORT), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*CERT)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return self.n


# --------------------------------------------------------------------------
# the cases

TMP = None
CAN = DNS = TLS = RECV = H = ACCT = None

# Every literal form of a canary address, and names that resolve to them.
LITERALS = [
    "https://10.9.9.9/", "https://169.254.169.254/", "https://[fd00::9]/",
    "https://[fd00:ec2::254]:8443/",
    "https://168364297/", "https://2852039166:8443/",                 # decimal
    "https://0x0a090909/", "https://0xA9FEA9FE/", "https://0xa.0x9.0x9.0x9/",  # hex
    "https://0251.0376.0251.0376/", "https://012.011.011.011:8443/",   # octal
    "https://10.9.2313/", "https://10.592137/", "https://169.16689662/",  # short forms
    "https://[::ffff:10.9.9.9]/", "https://[::ffff:a09:909]:8443/",     # IPv4-mapped
    "https://[::ffff:169.254.169.254]/",
    "https://[::10.9.9.9]/", "https://[::a09:909]:8443/",               # IPv4-compatible
    "https://[64:ff9b::a09:909]/", "https://[64:ff9b::169.254.169.254]/",  # NAT64
    "https://[2002:a09:909::1]/",                                      # 6to4
    "https://[2001:0:4136:e378:8000:63bf:f5f6:f6f6]/",                 # Teredo
    "https://ten.test/", "https://meta.test:8443/", "https://six.test/",  # DNS
    "https://mapped.test/", "https://multi.test/",
]
DNS_TABLE = {
    "ten.test": [TEN], "meta.test": [META], "six.test": ["fd00::9"],
    "mapped.test": ["::ffff:10.9.9.9"], "multi.test": [TEN, META, "fd00::9", "fd00:ec2::254"],
    "mixed.test": [TEN, "127.0.0.1"], "allowed.test": ["127.0.0.1"],
}
REBIND = {"rebind.test": ["127.0.0.1", TEN]}


def setup():
    global TMP, CAN, DNS, TLS, RECV, H, ACCT
    TMP = tempfile.mkdtemp(prefix="herald-netns-")
    harness._tmp_dirs.append(TMP)
    prepare_namespace(TMP)
    CAN = Canaries()
    DNS = Dns(DNS_TABLE, REBIND)
    TLS = TlsReceiver()
    RECV = Receiver()
    for path, to in (("/302-ten", "https://10.9.9.9/"), ("/302-meta", "http://169.254.169.254/"),
                     ("/307-six", "https://[fd00::9]:8443/")):
        code = int(path[1:4])
        RECV.script(path, [Reply(code, headers={"Location": to})])
    H = new_herald([]).start()
    ACCT = H.admin()


def new_herald(allow):
    args = ["--allow-cidr", "127.0.0.0/8", "--log-level", "debug"]
    for a in allow:
        args += ["--allow-cidr", a]
    folder = tempfile.mkdtemp(prefix="herald-it-")
    harness._tmp_dirs.append(folder)
    # SQLite whatever the suite's backend: no database server is reachable
    # from inside the namespace.
    return Herald(dev=False, retry_schedule="0.1", args=args, folder=folder,
                  db=os.path.join(folder, "herald.db"))


def teardown():
    try:
        if H and H.running():
            H.stop()
    finally:
        if RECV:
            RECV.stop()


def hook(client, url, attempts=2):
    r = client.post("/v1/webhooks", {"name": url[:100], "url": url, "events": ["post.published"],
                                     "max_attempts": attempts})
    eq(r.status, 201, "create webhook %s (%r)" % (url, r))
    return r.json["id"]


def settle(client, hooks, event_id):
    """Waits until every delivery of event_id has ended; {hook: delivery}."""
    def done():
        d = client.get("/v1/events/" + event_id).json.get("deliveries") or []
        mine = {x["webhook_id"]: x for x in d if x["webhook_id"] in hooks}
        if len(mine) == len(hooks) and all(x["status"] in ("succeeded", "failed")
                                           for x in mine.values()):
            return mine
        return None
    return wait_for(done, what="deliveries of %s to end" % event_id)


def attempts(client, hook_id):
    return sorted(client.log(hook_id), key=lambda a: a["attempt"])


@case
def isolation_is_real():
    eq([n for _, n in socket.if_nameindex()], ["lo"], "interfaces in the namespace")
    # The canaries answer when spoken to directly (they are live), and the
    # DNS server resolves what it should.
    before = CAN.snapshot()
    for a in (TEN, "fd00::9", "64:ff9b::a09:909"):
        s = socket.create_connection((a, 443), timeout=10)
        s.close()
    wait_for(lambda: len(CAN.hits(before)) == 3, what="canaries to count direct connections")
    eq(socket.getaddrinfo("ten.test", 80, socket.AF_INET)[0][4][0], TEN, "ten.test")
    eq(socket.getaddrinfo("allowed.test", 80, socket.AF_INET)[0][4][0], "127.0.0.1",
       "allowed.test")


@case
def every_literal_and_dns_form_is_blocked():
    before = CAN.snapshot()
    hooks = {hook(ACCT, u): u for u in LITERALS}
    nx = hook(ACCT, "https://nowhere.test/")
    ev = ACCT.publish("post.published", {"probe": "literals"})["id"]
    ends = settle(ACCT, list(hooks) + [nx], ev)
    bad = []
    for h, u in hooks.items():
        log = attempts(ACCT, h)
        errs = [a["error"] for a in log]
        if ends[h]["status"] != "failed" or errs != ["blocked", "blocked"]:
            bad.append("%s: status %s, attempts %s" % (u, ends[h]["status"], errs))
        if any(a["response_code"] != 0 for a in log):
            bad.append("%s: a response code" % u)
    check(not bad, "not blocked:\n      " + "\n      ".join(bad))
    eq([a["error"] for a in attempts(ACCT, nx)], ["dns", "dns"], "a name that does not resolve")
    eq(CAN.hits(before), {}, "connections at the canaries")
    print("    %d forms, each blocked on both attempts; canaries reached: 0" % len(hooks))


@case
def multi_answer_dns_uses_only_allowed_addresses():
    """mixed.test answers 10.9.9.9 and 127.0.0.1: herald skips the refused
    one and delivers to the allowed one."""
    before, tls = CAN.snapshot(), TLS.count()
    h = hook(ACCT, "https://mixed.test:8443/")
    ev = ACCT.publish("post.published", {"probe": "mixed"})["id"]
    eq(settle(ACCT, [h], ev)[h]["status"], "succeeded", "delivery through mixed.test")
    eq(CAN.hits(before), {}, "connections at the canaries")
    check(TLS.count() > tls, "the allowed receiver got the request")


@case
def dns_rebinding_never_reaches_the_refused_address():
    """rebind.test alternates 127.0.0.1 / 10.9.9.9 on successive queries.
    Test sends (one fresh resolution each) alternate between a success and
    a blocked attempt; the dispatcher's deliveries likewise end one way or
    the other; the canary on 10.9.9.9:8443 is never reached."""
    before = CAN.snapshot()
    h = hook(ACCT, "https://rebind.test:8443/", attempts=3)
    q0 = DNS.a_queries("rebind.test")
    outcomes = []
    for _ in range(6):
        r = ACCT.post("/v1/webhooks/%s/test" % h, {"event_type": "post.published"})
        eq(r.status, 200, "test send")
        a = r.json["attempt"]
        outcomes.append("ok" if a.get("error") is None and a.get("response_code") == 200
                        else a.get("error"))
    check(set(outcomes) <= {"ok", "blocked"}, "outcomes %s" % outcomes)
    check("ok" in outcomes and "blocked" in outcomes,
          "both answers were seen (%s, %d A queries)" % (outcomes, DNS.a_queries("rebind.test") - q0))
    evs = [ACCT.publish("post.published", {"probe": "rebind", "n": i})["id"] for i in range(3)]
    for ev in evs:
        d = settle(ACCT, [h], ev)[h]
        for a in ACCT.get("/v1/deliveries/" + d["id"]).json["attempts"]:
            check(a["error"] in (None, "blocked"), "a rebind attempt ended with %r" % a["error"])
    eq(CAN.hits(before), {}, "connections at the canaries")
    print("    test sends: %s (%d A queries)" % (outcomes, DNS.a_queries("rebind.test") - q0))


@case
def redirects_from_an_allowed_receiver_are_not_followed():
    before = CAN.snapshot()
    hooks = {hook(ACCT, RECV.url(p)): p for p in ("/302-ten", "/302-meta", "/307-six")}
    ev = ACCT.publish("post.published", {"probe": "redirect"})["id"]
    ends = settle(ACCT, list(hooks), ev)
    for h, p in hooks.items():
        eq(ends[h]["status"], "failed", p)
        log = attempts(ACCT, h)
        eq([(a["error"], a["response_code"]) for a in log], [("http", int(p[1:4]))] * 2,
           "%s attempts" % p)
    eq(CAN.hits(before), {}, "connections at the canaries")


def allow_case(allow, urls, want_hits):
    """A herald with more --allow-cidr: each url is delivered ("ok") or
    blocked as urls says; only want_hits canaries are reached."""
    global H
    if H.running():
        H.stop()
    h = new_herald(allow).start()
    try:
        c = h.admin()
        before = CAN.snapshot()
        hooks = {hook(c, u, attempts=1): (u, want) for u, want in urls}
        ev = c.publish("post.published", {"probe": " ".join(allow)})["id"]
        ends = settle(c, list(hooks), ev)
        for hid, (u, want) in hooks.items():
            errs = [a["error"] for a in attempts(c, hid)]
            eq(errs, [None] if want == "ok" else [want], "%s with --allow-cidr %s" % (u, allow))
            eq(ends[hid]["status"], "succeeded" if want == "ok" else "failed", u)
        eq(CAN.hits(before), want_hits, "canaries reached with --allow-cidr %s" % allow)
    finally:
        h.stop()


@case
def link_local_range_still_refuses_the_metadata_address():
    allow_case(["169.254.0.0/16"],
               [("http://169.254.169.254/", "blocked"), ("https://[::ffff:169.254.169.254]/",
                                                         "blocked"),
                ("http://169.254.1.1/", "ok")],
               {(LINK, 80): 1})


@case
def naming_the_metadata_address_exactly_allows_it():
    allow_case(["169.254.169.254/32"], [("http://169.254.169.254/", "ok")], {(META, 80): 1})


@case
def private_range_opens_ten_but_not_metadata():
    allow_case(["10.0.0.0/8"],
               [("http://10.9.9.9/", "ok"), ("https://169.254.169.254/", "blocked"),
                ("https://[fd00::9]/", "blocked")],
               {(TEN, 80): 1})


if __name__ == "__main__":
    if os.environ.get(INSIDE) != "1":
        sys.exit(reexec_inside())
    main(setup, teardown)
