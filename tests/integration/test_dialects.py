#!/usr/bin/env python3
"""Signature dialects (issue 8, item 3), end to end: herald delivers with
each webhook's signature_scheme and a receiver written from the vendor's
own documentation (tests/integration/node/dialects.js, node:crypto only)
accepts it; a wrong secret is refused; header names are configurable;
secrets follow the scheme; rotation; form and rows bodies; and `herald
verify --scheme` on a saved request. Python's hmac re-checks each header
too, as seeds 001 and 002 show receivers doing."""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (NODE_DIR, Client, Herald, Receiver, case, check, eq, free_port,  # noqa: E402
                     main, wait_for)

H = None
ADMIN = None
NODE = None
RECV = None


class DialectReceiver:
    """tests/integration/node/dialects.js: one vendor-documented check per
    path, configured with config()."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["node", os.path.join(NODE_DIR, "dialects.js"),
                                      str(self.port)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=sys.stderr)
        line = self.proc.stdout.readline().decode()
        check(line.startswith("listening"), "dialects.js did not start: %r" % line)
        self.ctl = Client("http://127.0.0.1:%d" % self.port)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def config(self, path, scheme, secret, header=None, ts_header=None):
        r = self.ctl.post("/__config", {"path": path, "scheme": scheme, "secret": secret,
                                        "header": header, "ts_header": ts_header})
        eq(r.status, 200, "dialects.js /__config")

    def results(self, path):
        return [i for i in self.ctl.get("/__results").json if i["path"] == path]

    def wait(self, path, n=1):
        return wait_for(lambda: (lambda r: r if len(r) >= n else None)(self.results(path)),
                        what="%d request(s) at %s" % (n, path))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def setup():
    global H, ADMIN, NODE, RECV
    NODE = DialectReceiver()
    RECV = Receiver()
    H = Herald(retry_schedule="0.2").start()
    ADMIN = H.admin()


def teardown():
    try:
        H.stop()
    finally:
        NODE.stop()
        RECV.stop()


def hex_hmac(secret, msg):
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def deliver(path, scheme, secret, max_attempts=1, **fields):
    """Creates a webhook to the node receiver's path in an account of its
    own, publishes post.published there, returns (webhook, event, the
    receiver's result)."""
    c = ADMIN.create_account("acct" + path.replace("/", "-"))
    w = c.create_webhook(name=path, url=NODE.url(path), events=["post.published"],
                         signature_scheme=scheme, secret=secret, max_attempts=max_attempts,
                         **fields)
    ev = c.publish("post.published", {"post_id": "post_abc123", "platforms": ["x"]})
    ev["client"] = c
    return w, ev, NODE.wait(path)[-1]


def wait_delivery(ev, status):
    c = ev["client"]

    def done():
        d = c.get("/v1/events/" + ev["id"]).json["deliveries"]
        return d if d and all(x["status"] == status for x in d) else None
    return wait_for(done, what="deliveries of %s %s" % (ev["id"], status))


# --------------------------------------------------------------------------


@case
def github_x_hub_signature_256():
    secret = "It's a Secret to Everybody"
    NODE.config("/github", "github", secret)
    w, ev, got = deliver("/github", "github", secret)
    eq(got["error"], None, "receiver error")
    check(got["verified"], "GitHub-style check verified")
    h = got["headers"]
    check("webhook-signature" not in h, "no Standard Webhooks signature: %r" % h)
    eq(h.get("webhook-id"), ev["id"], "webhook-id still sent")
    wait_delivery(ev, "succeeded")
    eq(w["signature_scheme"], "github", "scheme in the API answer")
    eq(w["signature_header"], None, "default header name shows as null")


@case
def stripe_t_and_v1_with_custom_prefix():
    secret = "whsec_stripe_style_secret_1"
    NODE.config("/stripe", "stripe", secret, header="Stripe-Signature")
    w, ev, got = deliver("/stripe", "stripe", secret, signature_header="Stripe-Signature")
    check(got["verified"], "Stripe-style check verified: %r" % got["error"])
    sig = got["headers"]["stripe-signature"]
    t = sig.split(",")[0][2:]
    check(abs(int(t) - time.time()) < 300, "t= is now: %r" % sig)
    eq(w["signature_header"], "Stripe-Signature", "header name stored")


@case
def hex_as_seeds_000_and_002():
    secret = "seed-002-secret-key"
    NODE.config("/hex", "hex", secret)
    _, ev, got = deliver("/hex", "hex", secret)
    check(got["verified"], "hex check verified: %r" % got["error"])
    # And seed 001's Python, on the bytes herald logged as sent.
    att = ev["client"].log(wait_delivery(ev, "succeeded")[0]["webhook_id"])[0]
    eq(att["response_code"], 200, "logged answer")
    # Another name (seed 000's X-Blackspace-Signature).
    NODE.config("/hex-named", "hex", secret, header="X-Blackspace-Signature")
    _, _, got = deliver("/hex-named", "hex", secret, signature_header="X-Blackspace-Signature")
    check(got["verified"], "named hex header verified: %r" % got["error"])
    check("x-signature" not in got["headers"], "only the configured name is sent")


@case
def timestamped_hex_as_seed_003():
    secret = "whsec_test_1234222222232s334weee"  # seed 003's own: used whole
    NODE.config("/feedspace", "timestamped-hex", secret, header="x-feedspace-signature",
                ts_header="x-feedspace-timestamp")
    _, ev, got = deliver("/feedspace", "timestamped-hex", secret,
                         signature_header="x-feedspace-signature",
                         timestamp_header="x-feedspace-timestamp")
    check(got["verified"], "Feedspace-style check verified: %r" % got["error"])
    h = got["headers"]
    eq(h["x-feedspace-timestamp"], h["webhook-timestamp"], "the attempt's time in both")


@case
def wrong_secret_is_refused_and_retried():
    NODE.config("/wrong", "hex", "the-receivers-secret")
    w, ev, got = deliver("/wrong", "hex", "not-the-same-secret", max_attempts=2)
    check(not got["verified"], "a wrong secret must not verify")
    NODE.wait("/wrong", 2)
    wait_delivery(ev, "failed")
    codes = [a["response_code"] for a in ev["client"].log(w["id"])]
    eq(codes, [401, 401], "both attempts answered 401")


@case
def python_recomputes_every_dialect():
    """The plain receiver records raw requests; Python's hmac (seed 001)
    recomputes each header from the body herald sent."""
    secret = "python-side-secret"
    cases = {
        "github": lambda r, b: ("X-Hub-Signature-256", "sha256=" + hex_hmac(secret, b)),
        "stripe": lambda r, b: ("Herald-Signature", "t=%s,v1=%s" % (
            r.header("webhook-timestamp"),
            hex_hmac(secret, r.header("webhook-timestamp").encode() + b"." + b))),
        "hex": lambda r, b: ("X-Signature", hex_hmac(secret, b)),
        "timestamped-hex": lambda r, b: ("X-Signature", hex_hmac(
            secret, r.header("X-Timestamp").encode() + b"." + b)),
    }
    for scheme, want in cases.items():
        path = "/py-" + scheme
        ADMIN.create_webhook(name=path, url=RECV.url(path), events=["post.failed"],
                             signature_scheme=scheme, secret=secret)
    ADMIN.publish("post.failed", {"post_id": "p", "error": "x"})
    for scheme, want in cases.items():
        r = RECV.wait_count(1, "/py-" + scheme)[0]
        name, value = want(r, r.body)
        eq(r.header(name), value, "%s header %s" % (scheme, name))
        check(r.header("webhook-signature") is None, "%s sends no webhook-signature" % scheme)
    eq(RECV.received("/py-timestamped-hex")[0].header("X-Timestamp"),
       RECV.received("/py-timestamped-hex")[0].header("webhook-timestamp"), "X-Timestamp")


@case
def form_and_rows_bodies_are_signed_as_sent():
    secret = "form-rows-secret"
    NODE.config("/form", "hex", secret)
    _, _, got = deliver("/form", "hex", secret, content_type="application/x-www-form-urlencoded")
    check(got["verified"], "form body verified: %r" % got["error"])
    NODE.config("/rows", "github", secret)
    _, _, got = deliver("/rows", "github", secret, payload_format="rows")
    check(got["verified"], "rows body verified: %r" % got["error"])


@case
def stripe_rotation_signs_with_both_secrets():
    old = "stripe-old-secret"
    NODE.config("/rot", "stripe", old)
    w = ADMIN.create_webhook(name="rot", url=NODE.url("/rot"), events=["post.deleted"],
                             signature_scheme="stripe", secret=old, max_attempts=1)
    r = ADMIN.post("/v1/webhooks/%s/secret/rotate" % w["id"], {"secret": "stripe-new-secret"})
    eq(r.status, 200, "rotate with a dialect secret (%r)" % r)
    ADMIN.publish("post.deleted", {"post_id": "p"})
    got = NODE.wait("/rot")[-1]
    check(got["verified"], "the old secret still verifies during rotation: %r" % got["error"])
    eq(got["headers"]["herald-signature"].count("v1="), 2, "two v1 entries")


@case
def secrets_follow_the_scheme():
    base = {"name": "s", "url": RECV.url("/s"), "events": ["*"]}
    r = ADMIN.post("/v1/webhooks", dict(base, secret="plain-text-secret"))
    eq((r.status, r.error.get("field")), (422, "secret"), "standard needs whsec_ (%r)" % r)
    r = ADMIN.post("/v1/webhooks", dict(base, secret="plain-text-secret", signature_scheme="hex"))
    eq(r.status, 201, "a dialect takes the platform's own secret (%r)" % r)
    wid = r.json["id"]
    eq(ADMIN.get("/v1/webhooks/%s/secret" % wid).json["secret"], "plain-text-secret", "stored")
    r = ADMIN.patch("/v1/webhooks/" + wid, {"signature_scheme": "standard"})
    eq((r.status, r.error.get("field")), (422, "secret"), "back to standard needs whsec_")
    r = ADMIN.post("/v1/webhooks", dict(base, signature_scheme="hex", timestamp_header="X-T"))
    eq((r.status, r.error.get("field")), (422, "timestamp_header"), "hex has no timestamp")
    r = ADMIN.post("/v1/webhooks", dict(base, signature_scheme="hex", signature_header="Host"))
    eq((r.status, r.error.get("field")), (422, "signature_header"), "reserved name")
    r = ADMIN.post("/v1/webhooks", dict(base, signature_scheme="hex", secret="short"))
    eq((r.status, r.error.get("field")), (422, "secret"), "8 characters at least")


@case
def herald_verify_checks_a_saved_dialect_request():
    secret = "saved-request-secret"
    path = "/saved"
    ADMIN.create_webhook(name="saved", url=RECV.url(path), events=["account.connected"],
                         signature_scheme="timestamped-hex", secret=secret,
                         signature_header="x-feedspace-signature",
                         timestamp_header="x-feedspace-timestamp")
    ADMIN.publish("account.connected", {"account_id": "a1"})
    r = RECV.wait_count(1, path)[0]
    saved = ("POST %s HTTP/1.1\r\n" % path).encode()
    for k, v in r.headers:
        saved += ("%s: %s\r\n" % (k, v)).encode()
    saved += b"\r\n" + r.body
    args = ["verify", "--secret", secret, "--scheme", "timestamped-hex",
            "--signature-header", "x-feedspace-signature",
            "--timestamp-header", "x-feedspace-timestamp"]

    def run(a, data):
        return subprocess.run([H.bin] + a, input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30)
    p = run(args, saved)
    eq((p.returncode, p.stdout.decode().strip()), (0, "signature verified"), "herald verify")
    p = run(args, saved.replace(b"a1", b"a2"))
    eq(p.returncode, 1, "a changed body fails")
    check(b"no signature matches" in p.stdout, "says why: %r" % p.stdout)
    p = run(args[:3] + ["--scheme", "hex"], saved)
    eq(p.returncode, 1, "hex looks for X-Signature, which this request lacks")


if __name__ == "__main__":
    main(setup, teardown)
