#!/usr/bin/env python3
"""docs/receiving.md (issue 8, item 4) tells the truth: its Python and Node
receivers, copied out of the page as printed (the code blocks after
"<!-- test: NAME -->" markers), run and accept real herald deliveries,
refuse a wrong secret, and handle a resend once; its dialect functions
accept herald's dialect signatures and refuse altered ones; and the "test
your endpoint" walkthrough (herald listen, POST /v1/webhooks/{id}/test,
herald verify on a saved request) works as described."""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (ROOT, Herald, Receiver, case, check, eq, free_port, main,  # noqa: E402
                     wait_for)

H = None
ADMIN = None
RECV = None
DOC = os.path.join(ROOT, "docs", "receiving.md")
TMP = tempfile.mkdtemp(prefix="herald-docs-")
harness._tmp_dirs.append(TMP)  # removed with the others when every case passed


def block(name):
    """The fenced code block right after <!-- test: name -->."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- test: %s -->\s*```[a-z]*\n(.*?)\n```" % re.escape(name), text, re.S)
    check(m, "docs/receiving.md has a code block marked %s" % name)
    return m.group(1) + "\n"


def write(name, code):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)
    return path


class Process:
    """A receiver from the docs, its stdout collected line by line."""

    def __init__(self, argv, env):
        self.lines = []
        self.lock = threading.Lock()
        e = dict(os.environ)
        e.update(env)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=sys.stderr,
                                     stdin=subprocess.DEVNULL, env=e)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def output(self):
        with self.lock:
            return list(self.lines)

    def wait_line(self, pattern):
        return wait_for(lambda: next((l for l in self.output() if re.search(pattern, l)), None),
                        what="a line matching %r (have %r)" % (pattern, self.output()[-5:]))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def wait_listening(port):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(up, what="a receiver on port %d" % port)


def setup():
    global H, ADMIN, RECV
    RECV = Receiver()
    H = Herald(retry_schedule="0.2").start()
    ADMIN = H.admin()


def teardown():
    try:
        H.stop()
    finally:
        RECV.stop()


def check_receiver(name, argv_of):
    """Runs the doc's receiver with a webhook's secret; a delivery verifies
    (204 in herald's log), a resend is answered but handled once, a form
    body verifies, and a webhook with another secret gets 401."""
    c = ADMIN.create_account("docs-" + name)
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    w = c.create_webhook(name="doc", url=url, events=["post.published"], max_attempts=1)
    form = c.create_webhook(name="form", url=url, events=["post.scheduled"], max_attempts=1,
                            content_type="application/x-www-form-urlencoded",
                            secret=w["secret"])
    wrong = c.create_webhook(name="wrong", url=url, events=["post.failed"], max_attempts=1)
    p = Process(argv_of(write(name, block(name))), {"WEBHOOK_SECRET": w["secret"],
                                                     "PORT": str(port)})
    try:
        wait_listening(port)
        ev = c.publish("post.published", {"post_id": "post_abc123", "n": 1.50e2})
        p.wait_line(r"^verified %s post\.published$" % ev["id"])
        log = wait_for(lambda: c.log(w["id"]), what="the attempt logged")
        eq(log[0]["response_code"], 204, "the doc's receiver accepted the delivery")
        # A resend of the same event: answered, not handled twice.
        dlv = c.get("/v1/events/" + ev["id"]).json["deliveries"][0]
        eq(c.post("/v1/deliveries/%s/retry" % dlv["id"]).status, 202, "resend")
        wait_for(lambda: len(c.log(w["id"])) == 2, what="the resend logged")
        eq(c.log(w["id"])[0]["response_code"], 204, "resend answered 2xx")
        # The form body (payload=…) verifies too; the receiver handles
        # requests in order, so once this line is out the resend is done.
        ev2 = c.publish("post.scheduled", {"post_id": "p2"})
        wait_for(lambda: (lambda l: l and l[0]["response_code"])(c.log(form["id"])),
                 what="form delivery answered")
        c.publish("post.failed", {"post_id": "p3"})
        wait_for(lambda: c.log(wrong["id"]), what="the wrong-secret attempt")
        eq(c.log(wrong["id"])[0]["response_code"], 401, "a wrong secret is refused")
        eq(sum(1 for l in p.output() if ev["id"] in l), 1, "the event was handled once")
        return ev2, form, c
    finally:
        p.stop()


@case
def python_receiver_accepts_a_real_delivery():
    ev2, form, c = check_receiver("python-receiver", lambda path: [sys.executable, path])
    eq(c.log(form["id"])[0]["response_code"], 204, "form body verified")


@case
def node_receiver_accepts_a_real_delivery():
    ev2, form, c = check_receiver("node-receiver", lambda path: ["node", path])
    eq(c.log(form["id"])[0]["response_code"], 204, "form body verified")


class Headers(dict):
    """A case-insensitive header mapping, as frameworks give."""

    def get(self, k, default=None):
        for key, v in self.items():
            if key.lower() == k.lower():
                return v
        return default


DIALECTS = [
    ("github", "It's a Secret to Everybody", {}),
    ("stripe", "whsec_stripe_doc_secret", {"signature_header": "Stripe-Signature"}),
    ("hex", "seed-002-secret", {}),
    ("timestamped-hex", "whsec_test_1234222222232s334weee",
     {"signature_header": "x-feedspace-signature", "timestamp_header": "x-feedspace-timestamp"}),
]


def dialect_requests():
    """One real delivery per dialect, as RECV saw it."""
    c = ADMIN.create_account("docs-dialects")
    for scheme, secret, names in DIALECTS:
        c.create_webhook(name=scheme, url=RECV.url("/doc-" + scheme), events=["post.deleted"],
                         signature_scheme=scheme, secret=secret, **names)
    c.publish("post.deleted", {"post_id": "post_abc123", "note": "caf\u00e9"})
    return {scheme: RECV.wait_count(1, "/doc-" + scheme)[0] for scheme, _, _ in DIALECTS}


REQS = {}


@case
def python_dialect_function_verifies_each_dialect():
    REQS.update(dialect_requests())
    ns = {}
    exec(compile(block("python-dialects"), "receiving.md:python-dialects", "exec"), ns)
    verify = ns["verify_dialect"]
    for scheme, secret, names in DIALECTS:
        r = REQS[scheme]
        h = Headers(r.headers)
        check(verify(scheme, secret, h, r.body, **names), "%s verifies" % scheme)
        check(not verify(scheme, secret + "x", h, r.body, **names), "%s: wrong secret" % scheme)
        check(not verify(scheme, secret, h, r.body + b" ", **names), "%s: altered body" % scheme)


@case
def node_dialect_function_verifies_each_dialect():
    if not REQS:
        REQS.update(dialect_requests())
    lib = write("dialects.js", block("node-dialects") + "module.exports = verifyDialect;\n")
    driver = write("drive.js", """
const verify = require(%s);
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) => verify(c.scheme, c.secret, c.headers,
  Buffer.from(c.body, "base64"), c.signature_header, c.timestamp_header))));
""" % json.dumps(lib))
    cases, want = [], []
    for scheme, secret, names in DIALECTS:
        r = REQS[scheme]
        headers = {k.lower(): v for k, v in r.headers}
        for sec, body, ok in ((secret, r.body, True), (secret + "x", r.body, False),
                              (secret, r.body + b" ", False)):
            cases.append(dict(scheme=scheme, secret=sec, headers=headers,
                              body=base64.b64encode(body).decode(), **names))
            want.append(ok)
    p = subprocess.run(["node", driver], input=json.dumps(cases).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    eq(p.returncode, 0, "node driver: %s" % p.stderr.decode())
    eq(json.loads(p.stdout), want, "verified / refused, per case")


@case
def walkthrough_listen_test_send_and_verify():
    c = ADMIN.create_account("docs-walkthrough")
    port = free_port()
    w = c.create_webhook(name="local", url="http://127.0.0.1:%d/hook" % port,
                         events=["post.*"])
    listen = Process([H.bin, "listen", "--port", str(port), "--secret", w["secret"]], {})
    try:
        listen.wait_line(r"receiving on http://127\.0\.0\.1:%d/" % port)
        r = c.post("/v1/webhooks/%s/test" % w["id"], {"event_type": "post.published"})
        eq(r.status, 200, "test send (%r)" % r)
        eq(r.json["attempt"]["response_code"], 200, "herald listen accepted it")
        listen.wait_line(r"^signature: verified$")
    finally:
        listen.stop()
    # herald listen --scheme for a dialect webhook.
    port = free_port()
    gh = c.create_webhook(name="gh", url="http://127.0.0.1:%d/" % port, events=["post.*"],
                          signature_scheme="github", secret="listen-github-secret")
    listen = Process([H.bin, "listen", "--port", str(port), "--secret", "listen-github-secret",
                      "--scheme", "github"], {})
    try:
        listen.wait_line("receiving on")
        r = c.post("/v1/webhooks/%s/test" % gh["id"], {"event_type": "post.failed"})
        eq(r.json["attempt"]["response_code"], 200, "listen --scheme github accepted it")
    finally:
        listen.stop()
    # herald verify on a saved request.
    saved_hook = c.create_webhook(name="saved", url=RECV.url("/doc-saved"),
                                  events=["account.connected"])
    c.publish("account.connected", {"account_id": "a1"})
    req = RECV.wait_count(1, "/doc-saved")[0]
    text = b"POST /doc-saved HTTP/1.1\n" + b"".join(
        ("%s: %s\n" % (k, v)).encode() for k, v in req.headers) + b"\n" + req.body
    secret = c.get("/v1/webhooks/%s/secret" % saved_hook["id"]).json["secret"]
    p = subprocess.run([H.bin, "verify", "--secret", secret], input=text,
                       stdout=subprocess.PIPE, timeout=30)
    eq((p.returncode, p.stdout.decode().strip()), (0, "signature verified"), "herald verify")
    p = subprocess.run([H.bin, "verify", "--secret", secret, "--tolerance", "0"],
                       input=text.replace(b"a1", b"a9"), stdout=subprocess.PIPE, timeout=30)
    eq(p.returncode, 1, "an altered saved request fails")


if __name__ == "__main__":
    main(setup, teardown)
