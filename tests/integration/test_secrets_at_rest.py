#!/usr/bin/env python3
"""Secrets at rest (issue 4, item 5; DESIGN.md §6).

With HERALD_MASTER_KEY set, webhook secrets are stored sealed (AES-256-GCM):
the database files (herald.db, -wal, -shm; a pg_dump with PostgreSQL) hold
neither a secret's whsec_ text nor its base64 part, while deliveries still
verify with the secrets the API reveals, also across a secret rotation.
Without the key herald warns at start. The key itself rotates with
HERALD_MASTER_KEY_PREVIOUS: one start with both seals every secret again
with the new key, after which the old one can go. A wrong key, or no key on
a sealed database, makes herald refuse to start with a clear error (rather
than failing every delivery later). No API key and no webhook secret ever
appears in herald's logs, at --log-level debug, across all of it."""

import base64
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Herald, Receiver, case, check, eq, main, sign_v1,  # noqa: E402
                     wait_for)

K1 = "first-master-key-0123456789abcdefghijklmnop"
K2 = "second-master-key-0123456789abcdefghijklmno"
RECV = None
H = None           # the sealed herald; restarted with other keys along the way
ACCT = None
HOOKS = []         # webhook ids
SECRETS = set()    # every webhook secret ever shown
KEYS = set()       # every API key
LOGS = []          # (label, text) of every stderr log of every herald


def with_key(cur, prev=None):
    return {"HERALD_MASTER_KEY": cur, "HERALD_MASTER_KEY_PREVIOUS": prev}


def setup():
    global RECV, H, ACCT
    RECV = Receiver()
    H = Herald(env=with_key(K1), args=["--log-level", "debug"]).start()
    KEYS.add(H.admin_key)
    ACCT = H.admin().create_account("sealed")
    KEYS.add(ACCT.key)
    given = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    for i, extra in enumerate(({}, {"secret": given}, {})):
        w = ACCT.create_webhook(name="h%d" % i, url=RECV.url("/h%d" % i),
                                events=["post.published"], **extra)
        HOOKS.append(w["id"])
        SECRETS.add(w["secret"])
    SECRETS.add(given)


def teardown():
    try:
        if H:
            H.stop()
            collect_logs(H, "sealed")
    finally:
        if RECV:
            RECV.stop()


def collect_logs(h, label):
    for n in range(1, h.starts + 1):
        try:
            LOGS.append(("%s start %d" % (label, n), h.stderr(n)))
        except OSError:
            pass


def secret_of(hook):
    s = ACCT.get("/v1/webhooks/%s/secret" % hook).json["secret"]
    SECRETS.add(s)
    return s


def secret_bytes(s):
    """What must not be in the database: the text and its base64 part."""
    b64 = s[len("whsec_"):] if s.startswith("whsec_") else s
    return [s.encode(), b64.encode()]


def log_lines(text):
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def deliver_and_verify(label):
    """Publishes one event; each webhook's request must verify with the
    secret the API reveals now (any of the signatures, during rotation)."""
    before = {h: len(RECV.received("/h%d" % i)) for i, h in enumerate(HOOKS)}
    ev = ACCT.publish("post.published", {"check": label})["id"]
    for i, hook in enumerate(HOOKS):
        reqs = RECV.wait_count(before[hook] + 1, "/h%d" % i)
        r = [q for q in reqs if q.header("webhook-id") == ev]
        check(r, "%s: event %s reached /h%d" % (label, ev, i))
        r = r[0]
        want = sign_v1(secret_of(hook), ev, r.header("webhook-timestamp"), r.body)
        sigs = r.header("webhook-signature").split(" ")
        check(want in sigs, "%s: /h%d signature %s does not verify with the revealed secret" % (
            label, i, sigs))


def assert_sealed_on_disk(h, label):
    contents = h.db_contents()
    check(contents, "database contents readable")
    found = []
    for name, data in contents:
        for s in SECRETS:
            for b in secret_bytes(s):
                if b in data:
                    found.append("%s…(%d bytes) in %s" % (b[:10].decode(), len(b), name))
        for k in KEYS:
            if k.encode() in data:
                found.append("API key %s… in %s" % (k[:8], name))
    check(not found, "%s: secrets in clear on disk: %s" % (label, found))
    check(any(b"enc:" in data for _, data in contents), "%s: sealed values on disk" % label)


def start_fails(h, what):
    """Starts h expecting herald to refuse; returns its log lines."""
    try:
        h.start(timeout=60)
    except AssertionError as e:
        check("exited with" in str(e), "%s: herald did not start, but not by exiting: %s" % (
            what, e))
        h.proc = None
        lines = log_lines(h.stderr())
        collect_logs_once(h)
        return lines
    h.stop()
    raise AssertionError("%s: herald started" % what)


_collected = set()


def collect_logs_once(h):
    key = (id(h), h.starts)
    if key not in _collected:
        _collected.add(key)
        LOGS.append(("start %d of %s" % (h.starts, h.dir), h.stderr()))


# --------------------------------------------------------------------------


@case
def deliveries_verify_with_sealed_secrets_and_rotation():
    deliver_and_verify("sealed")
    r = ACCT.post("/v1/webhooks/%s/secret/rotate" % HOOKS[0], {})
    eq(r.status, 200, "rotate")
    SECRETS.add(r.json["secret"])
    # Rotated: two signatures, the new secret's and the old one's.
    deliver_and_verify("after rotation")
    # A secret set on update is sealed too.
    new = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    SECRETS.add(new)
    eq(ACCT.patch("/v1/webhooks/" + HOOKS[2], {"secret": new}).status, 200, "set secret")
    eq(secret_of(HOOKS[2]), new, "revealed secret after update")
    deliver_and_verify("after update")


@case
def database_files_hold_no_secret_in_clear():
    H.stop()
    assert_sealed_on_disk(H, "after a clean stop")
    H.start()


@case
def no_master_key_warns_at_start():
    plain = Herald(args=["--log-level", "debug"]).start()
    try:
        KEYS.add(plain.admin_key)
        warns = [l for l in log_lines(plain.stderr())
                 if l.get("level") == "warn" and "HERALD_MASTER_KEY" in l.get("msg", "")]
        check(warns, "a warning about HERALD_MASTER_KEY at start")
        w = plain.admin().create_webhook(name="p", url=RECV.url("/plain"), events=["*"])
        SECRETS.add(w["secret"])
    finally:
        plain.stop()
        collect_logs(plain, "plain")
    # The same database with a key: its plain secret is sealed at start.
    plain.env_over.update(with_key(K1))
    plain.start()
    try:
        sealed = [l for l in log_lines(plain.stderr()) if "sealed with the current" in l.get("msg", "")]
        check(sealed and sealed[0].get("webhooks") == "1", "plain secret sealed at start: %r" % sealed)
        eq(plain.admin().get("/v1/webhooks/%s/secret" % w["id"]).json["secret"], w["secret"],
           "the secret after sealing")
    finally:
        plain.stop()
        collect_logs(plain, "plain, then sealed")
    assert_sealed_on_disk(plain, "a database sealed after the fact")


@case
def a_sealed_database_without_the_key_refuses_to_start():
    H.stop()
    H.env_over["HERALD_MASTER_KEY"] = None
    lines = start_fails(H, "no key on a sealed database")
    errs = [l for l in lines if l.get("level") == "error"]
    check(any("HERALD_MASTER_KEY is not set" in l.get("msg", "") for l in errs),
          "error naming HERALD_MASTER_KEY: %r" % errs)


@case
def a_wrong_key_refuses_to_start():
    H.env_over.update(with_key(K2))
    lines = start_fails(H, "wrong key")
    errs = [l for l in lines if l.get("level") == "error"]
    check(any("wrong HERALD_MASTER_KEY" in l.get("msg", "") and l.get("webhook") in HOOKS
              for l in errs), "error naming the key and a webhook: %r" % errs)
    check(any("refusing to start" in l.get("msg", "") for l in errs), "refusing to start")


@case
def master_key_rotation_with_the_previous_key():
    # New key, old one as previous: starts, and seals everything again.
    H.env_over.update(with_key(K2, K1))
    H.start()
    sealed = [l for l in log_lines(H.stderr()) if "sealed with the current" in l.get("msg", "")]
    check(sealed and sealed[0].get("webhooks") == str(len(HOOKS)),
          "every webhook sealed again with the new key: %r" % sealed)
    deliver_and_verify("new key + previous")
    H.stop()
    assert_sealed_on_disk(H, "after the key rotation")
    # The previous key is no longer needed...
    H.env_over.update(with_key(K2))
    H.start()
    deliver_and_verify("new key alone")
    H.stop()
    # ...and no longer opens anything.
    H.env_over.update(with_key(K1))
    start_fails(H, "the old key after rotation")
    H.env_over.update(with_key(K2))
    H.start()


@case
def no_key_or_secret_in_any_log():
    H.stop()
    collect_logs(H, "sealed")
    H.start()
    check(LOGS, "logs collected")
    debug = sum(1 for _, text in LOGS for l in log_lines(text) if l.get("level") == "debug")
    check(debug > 0, "the logs were written at debug level (%d debug lines)" % debug)
    found = []
    for label, text in LOGS:
        for s in SECRETS:
            for b in secret_bytes(s):
                if b.decode() in text:
                    found.append("secret %s… in %s" % (b[:10].decode(), label))
        for k in KEYS:
            if k in text:
                found.append("API key %s… in %s" % (k[:8], label))
    check(not found, "in the logs: %s" % found)
    print("    %d logs, %d debug lines, %d secrets and %d API keys looked for" % (
        len(LOGS), debug, len(SECRETS), len(KEYS)))


if __name__ == "__main__":
    main(setup, teardown)
