#!/usr/bin/env python3
"""Malformed and hostile requests (issue 2, item 7 and "How it will be
checked"): each gets the right 4xx with the JSON error shape, and the data
is untouched afterwards. Finally no API key is ever in the database files
or the logs in clear."""

import errno
import http.client
import json
import os
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, case, check, eq, main, wait_for  # noqa: E402

H = None          # herald --dev
STRICT = None     # herald without --dev
RECV = None
A = None          # account A (the attacker's own)
B = None          # account B (the victim)
B_HOOK = None
B_EVENT = None
B_DELIVERY = None
A_HOOK = None
REVOKED = None
KEYS = []         # every API key created, for the database grep
SNAPSHOT = None

GOOD = None       # a valid webhook body, built in setup


def setup():
    global H, STRICT, RECV, A, B, B_HOOK, B_EVENT, B_DELIVERY, A_HOOK, REVOKED, GOOD, SNAPSHOT
    RECV = Receiver()
    H = Herald().start()
    admin = H.admin()
    KEYS.append(H.admin_key)
    A = admin.create_account("attacker")
    B = admin.create_account("victim")
    KEYS.extend([A.key, B.key])
    GOOD = {"name": "ok", "url": RECV.url("/ok"), "events": ["post.published"]}
    A_HOOK = A.create_webhook(**GOOD)
    B_HOOK = B.create_webhook(name="victim hook", url=RECV.url("/victim"),
                              events=["post.published"])
    ev = B.publish("post.published", {"secret_stuff": 1})
    B_EVENT = ev["id"]
    # Wait until B's delivery has settled so the snapshot is stable.
    def delivered():
        e = B.get("/v1/events/" + B_EVENT).json
        ds = e.get("deliveries") or []
        return ds if ds and all(d["status"] == "succeeded" for d in ds) else None
    B_DELIVERY = wait_for(delivered, what="victim's delivery to succeed")[0]["id"]
    r = admin.post("/v1/accounts/%s/keys" % A.account_id, {})
    eq(r.status in (200, 201), True, "second key for A (%r)" % r)
    rk = r.json
    REVOKED = rk.get("api_key") or rk.get("key")
    KEYS.append(REVOKED)
    r = admin.delete("/v1/keys/%s" % (rk.get("key_id") or rk.get("id")))
    check(r.status in (200, 204), "revoke key: %r" % r)
    STRICT = Herald(dev=False).start()
    KEYS.append(STRICT.admin_key)
    SNAPSHOT = snapshot()


def teardown():
    try:
        H.stop()
        STRICT.stop()
    finally:
        RECV.stop()


def snapshot():
    """Everything a user could read of both accounts."""
    s = {}
    for name, c in (("A", A), ("B", B)):
        hooks = c.list_all("/v1/webhooks", order="created_at")
        s[name + ".webhooks"] = hooks
        s[name + ".secrets"] = [c.get("/v1/webhooks/%s/secret" % w["id"]).json for w in hooks]
        events = c.list_all("/v1/events")
        s[name + ".events"] = events
        s[name + ".event_details"] = [c.get("/v1/events/" + e["id"]).json for e in events]
        s[name + ".logs"] = [c.log(w["id"]) for w in hooks]
    s["accounts"] = H.admin().list_all("/v1/accounts")
    return s


# --------------------------------------------------------------------------
# the table of hostile requests: (label, function returning a Response,
# status, error field or None)

CASES = []


def hostile(label, status, field=None):
    def deco(fn):
        CASES.append((label, fn, status, field))
        return fn
    return deco


def with_(**over):
    b = dict(GOOD)
    for k, v in over.items():
        if v is _DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


_DROP = object()


def create(body):
    return lambda: A.post("/v1/webhooks", body)


def raw(method, path, data, ctype="application/json", client=None):
    return lambda: (client or A).request(method, path, raw=data, content_type=ctype)


def build_cases():
    # Malformed bodies: 400.
    for label, data in (("truncated JSON", b'{"name":'),
                        ("not JSON", b"name=x&url=y but JSON declared"),
                        ("JSON array body", b'[{"name":"x"}]'),
                        ("JSON string body", b'"hello"'),
                        ("JSON number body", b"42"),
                        ("trailing garbage", b'{"name":"a","url":"http://127.0.0.1/","events":["*"]} x'),
                        ("deeply nested", b'{"name":' + b"[" * 20000 + b"]" * 20000 + b"}"),
                        ("NUL byte in body", b'{"name":"a\x00","url":"http://127.0.0.1/x","events":["*"]}')):
        CASES.append(("create: " + label, raw("POST", "/v1/webhooks", data), 400, None))
    # An empty body: malformed (400) or a missing name (422) are both right.
    CASES.append(("create: empty body", raw("POST", "/v1/webhooks", b""), (400, 422), None))
    # Not UTF-8: malformed (400) or an invalid name (422) are both right.
    CASES.append(("create: invalid UTF-8", raw(
        "POST", "/v1/webhooks",
        b'{"name":"\xff\xfe","url":"http://127.0.0.1/x","events":["*"]}'), (400, 422), None))
    CASES.append(("event: truncated JSON",
                  raw("POST", "/v1/events", b'{"type":"post.published","data":{'), 400, None))
    CASES.append(("batch: JSON array body",
                  raw("POST", "/v1/events/batch", b'[{"type":"post.published","data":{}}]'),
                  400, None))

    # Wrong types and invalid values: 422 with the field.
    for field, value in (("name", 5), ("name", None), ("name", ""), ("name", "x" * 10000),
                         ("name", "a\u0000b"), ("name", ["a"]),
                         ("url", 5), ("url", ""), ("url", "/relative/path"), ("url", "http://"),
                         ("url", "http://127.0.0.1/a\r\nX-Injected: 1"),
                         ("url", "http://127.0.0.1/a\nb"),
                         ("url", "file:///etc/passwd"), ("url", "ftp://127.0.0.1/x"),
                         ("url", "javascript:alert(1)"), ("url", "gopher://127.0.0.1:70/x"),
                         ("url", "http://user:pass@127.0.0.1/x"), ("url", "http://user@127.0.0.1/x"),
                         ("url", "http://127.0.0.1:99999/x"), ("url", "http://127.0.0.1:0/x"),
                         ("url", "http://[::1/x"), ("url", "https://" + "a" * 5000 + ".com/"),
                         ("method", "GET"), ("method", "DELETE"), ("method", 1),
                         ("content_type", "text/plain"), ("content_type", []),
                         ("max_attempts", 0), ("max_attempts", 21), ("max_attempts", "4"),
                         ("max_attempts", -1), ("max_attempts", 4.5), ("max_attempts", True),
                         ("enabled", "yes"), ("enabled", 2),
                         ("secret", 5), ("secret", "whsec_!!notbase64!!"),
                         ("events", "post.published"), ("events", [1]), ("events", []),
                         ("events", ["no.such.event"]), ("events", ["post.**"]),
                         ("events", ["post."]), ("events", [""]), ("events", ["po st.published"]),
                         ("events", ["*.published"]), ("events", {"a": 1}),
                         ("headers", []), ("headers", {"Bad Header": "x"}),
                         ("headers", {"X-Ok": "a\r\nInjected: 1"}), ("headers", {"X-Num": 5}),
                         ("headers", {"Connection": "close"}),
                         ("headers", {"Transfer-Encoding": "chunked"}),
                         ("headers", {"Content-Length": "1"}),
                         ("headers", {"webhook-signature": "v1,forged"}),
                         ("headers", {"webhook-id": "evt_x"}),
                         ("rate_limit", "x"), ("rate_limit", -1),
                         ("max_in_flight", 0), ("max_in_flight", "8"),
                         ("description", 5), ("kind", "teams"), ("signature_scheme", "md5")):
        CASES.append(("create: %s=%s" % (field, json.dumps(value)[:60]),
                      create(with_(**{field: value})), 422, field))
    CASES.append(("create: missing name", create(with_(name=_DROP)), 422, "name"))
    CASES.append(("create: missing url", create(with_(url=_DROP)), 422, "url"))
    CASES.append(("create: unknown field", create(with_(colour="red")), 422, "colour"))
    CASES.append(("create: form with max_attempts=abc",
                  lambda: A.post("/v1/webhooks", form=dict(GOOD, max_attempts="abc")),
                  422, "max_attempts"))
    CASES.append(("create: http URL without --dev",
                  lambda: STRICT.admin().post("/v1/webhooks", dict(GOOD, url="http://example.com/h")),
                  422, "url"))

    # Events.
    CASES.append(("event: unknown type", lambda: A.post("/v1/events", {"type": "no.such",
                                                                      "data": {}}), 422, "type"))
    CASES.append(("event: missing type", lambda: A.post("/v1/events", {"data": {}}), 422, "type"))
    CASES.append(("event: type with CR/LF", lambda: A.post(
        "/v1/events", {"type": "post.published\r\nx", "data": {}}), 422, "type"))
    CASES.append(("event: type with an escaped NUL", lambda: A.post(
        "/v1/events", {"type": "post.published\u0000junk", "data": {}}), 422, "type"))
    CASES.append(("event: type not a string", lambda: A.post(
        "/v1/events", {"type": 7, "data": {}}), 422, "type"))
    CASES.append(("batch: events not a list", lambda: A.post(
        "/v1/events/batch", {"events": {"type": "post.published"}}), 422, "events"))

    # Size: 413.
    big = {"name": "x", "url": RECV.url("/big"), "events": ["*"], "description": "y" * 300000}
    CASES.append(("create: 300 KB body", create(big), 413, None))
    CASES.append(("event: 300 KB body", lambda: A.post(
        "/v1/events", {"type": "post.published", "data": {"blob": "z" * 300000}}), 413, None))

    # Another account's objects: 404 on every route.
    def b_hook(method, suffix="", body=None):
        path = "/v1/webhooks/" + B_HOOK["id"] + suffix
        if body is None:
            return lambda: A.request(method, path)
        return lambda: A.request(method, path, body=body)
    CASES.extend([
        ("other account: GET webhook", b_hook("GET"), 404, None),
        ("other account: PATCH webhook", b_hook("PATCH", body={"name": "pwned"}), 404, None),
        ("other account: POST update", b_hook("POST", body={"name": "pwned"}), 404, None),
        ("other account: DELETE webhook", b_hook("DELETE"), 404, None),
        ("other account: GET secret", b_hook("GET", "/secret"), 404, None),
        ("other account: rotate secret", b_hook("POST", "/secret/rotate", {}), 404, None),
        ("other account: test send", b_hook("POST", "/test", {"event_type": "post.published"}),
         404, None),
        ("other account: log", b_hook("GET", "/log"), 404, None),
        ("other account: recover", b_hook("POST", "/recover",
                                          {"since": "2000-01-01T00:00:00Z"}), 404, None),
        ("other account: GET event", lambda: A.get("/v1/events/" + B_EVENT), 404, None),
        ("other account: retry delivery",
         lambda: A.post("/v1/deliveries/%s/retry" % B_DELIVERY, {}), 404, None),
        ("unknown webhook id", lambda: A.get("/v1/webhooks/wh_01JAAAAAAAAAAAAAAAAAAAAAAA"),
         404, None),
        ("invalid webhook id", lambda: A.get("/v1/webhooks/..%2f..%2fetc"), (400, 404), None),
        ("invalid event id", lambda: A.get("/v1/events/evt_'%20OR%201=1--"), 404, None),
        ("invalid delivery id", lambda: A.post("/v1/deliveries/xyz/retry", {}), 404, None),
    ])

    # Authentication and authorisation.
    CASES.extend([
        ("no key", lambda: H.client().get("/v1/webhooks"), 401, None),
        ("wrong key", lambda: H.client("hk_" + "0" * 40).get("/v1/webhooks"), 401, None),
        ("revoked key", lambda: H.client(REVOKED).get("/v1/webhooks"), 401, None),
        ("empty Bearer", lambda: A.get("/v1/webhooks", headers={"Authorization": "Bearer "}),
         401, None),
        ("unknown scheme", lambda: A.get("/v1/webhooks",
                                         headers={"Authorization": "Token " + A.key}), 401, None),
        ("Basic not base64", lambda: A.get("/v1/webhooks",
                                           headers={"Authorization": "Basic !!!"}), 401, None),
        ("Basic wrong account", lambda: H.client(A.key, B.account_id, "basic").get(
            "/v1/webhooks"), 401, None),
        ("no key on POST /v1/events", lambda: H.client().post(
            "/v1/events", {"type": "post.published", "data": {}}), 401, None),
        ("account key on GET /v1/accounts", lambda: A.get("/v1/accounts"), 403, None),
        ("account key on POST /v1/accounts", lambda: A.post("/v1/accounts", {"name": "x"}),
         403, None),
        ("account key makes keys", lambda: A.post("/v1/accounts/%s/keys" % B.account_id, {}),
         403, None),
        ("account key revokes keys", lambda: A.delete("/v1/keys/key_01JAAAAAAAAAAAAAAAAAAAAAAA"),
         403, None),
    ])

    # Routing, methods and content types.
    CASES.extend([
        ("unknown route", lambda: A.get("/v1/nope"), 404, None),
        ("unknown version", lambda: A.get("/v2/webhooks"), 404, None),
        ("PUT /v1/webhooks", lambda: A.request("PUT", "/v1/webhooks", body=GOOD), 405, None),
        ("DELETE /v1/events", lambda: A.delete("/v1/events"), 405, None),
        ("DELETE /v1/events/batch", lambda: A.delete("/v1/events/batch"), 405, None),
        ("DELETE /v1/accounts", lambda: H.admin().delete("/v1/accounts"), 405, None),
        ("PUT webhook", lambda: A.request("PUT", "/v1/webhooks/" + A_HOOK["id"], body=GOOD),
         405, None),
        ("text/plain body", raw("POST", "/v1/webhooks", json.dumps(GOOD).encode(), "text/plain"),
         415, None),
        ("XML body", raw("POST", "/v1/webhooks", b"<webhook/>", "application/xml"), 415, None),
        ("multipart body", raw("POST", "/v1/events", b"--x--",
                               "multipart/form-data; boundary=x"), 415, None),
    ])

    # Query parameters.
    for q, field in (({"count": "7"}, "count"), ({"count": "1000"}, "count"),
                     ({"page": "-1"}, "page"), ({"page": "x"}, "page"),
                     ({"order": "secret"}, "order"), ({"order": "-url; DROP TABLE"}, "order"),
                     ({"enabled": "maybe"}, "enabled")):
        CASES.append(("list %s" % q, (lambda q=q: A.get("/v1/webhooks", query=q)), 422, field))
    CASES.append(("log status=maybe", lambda: A.get(
        "/v1/webhooks/%s/log" % A_HOOK["id"], query={"status": "maybe"}), 422, "status"))
    CASES.append(("log since=garbage", lambda: A.get(
        "/v1/webhooks/%s/log" % A_HOOK["id"], query={"since": "yesterday"}), 422, "since"))


@case
def fifty_hostile_requests_get_the_right_4xx():
    build_cases()
    check(len(CASES) >= 50, "at least fifty hostile requests (%d)" % len(CASES))
    bad = []
    for label, fn, status, field in CASES:
        try:
            r = fn()
        except Exception as e:  # a dropped connection is a failure too
            bad.append("%s: request failed: %r" % (label, e))
            continue
        err = r.error
        problems = []
        want = status if isinstance(status, tuple) else (status,)
        if r.status not in want:
            problems.append("status %d, want %s" % (r.status, "/".join(map(str, want))))
        ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/json":
            problems.append("Content-Type %r" % ctype)
        if not (isinstance(err.get("code"), str) and err["code"]):
            problems.append("no error.code")
        if not (isinstance(err.get("message"), str) and err["message"]):
            problems.append("no error.message")
        if r.status == 422 and err.get("code") != "validation_failed":
            problems.append("error.code %r, want validation_failed" % err.get("code"))
        if field is not None and err.get("field") != field:
            problems.append("error.field %r, want %r" % (err.get("field"), field))
        if r.status == 401 and not r.headers.get("WWW-Authenticate"):
            problems.append("401 without WWW-Authenticate")
        if r.status == 405 and not r.headers.get("Allow"):
            problems.append("405 without Allow")
        if problems:
            bad.append("%s: %s (body %s)" % (label, "; ".join(problems), r.body[:160]))
    print("    %d hostile requests, %d answered wrongly" % (len(CASES), len(bad)))
    check(not bad, "wrong answers:\n      " + "\n      ".join(bad))


@case
def non_admin_cannot_act_on_another_account():
    r = A.get("/v1/webhooks", headers={"Herald-Account": B.account_id})
    if r.status == 200:
        ids = [w["id"] for w in r.json["items"]]
        check(B_HOOK["id"] not in ids, "an account key with Herald-Account read B's webhooks")
    else:
        eq(r.status, 403, "account key with Herald-Account")
    r = A.post("/v1/webhooks", GOOD, headers={"Herald-Account": B.account_id})
    if r.status == 201:
        eq(B.get("/v1/webhooks/" + r.json["id"]).status, 404, "created in B by A's key")
        A.delete("/v1/webhooks/" + r.json["id"])
    else:
        eq(r.status, 403, "account key creating with Herald-Account")


@case
def raw_protocol_abuse_does_not_hurt_the_server():
    """Requests http.client will not send: bad request lines, huge headers,
    a body longer than Content-Length says. The server must answer 4xx or
    close, and stay up."""
    payloads = [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/webhooks HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 200000 + b"\r\n\r\n",
        b"GET /v1/webhooks HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
        b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + A.key.encode() + b"\r\nContent-Length: 999999999\r\n\r\n{",
        b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + A.key.encode() + b"\r\nContent-Type: application/json\r\n\r\n"
        b"fffffffffffffff\r\n",
    ]
    for p in payloads:
        s = socket.create_connection(("127.0.0.1", H.port), timeout=10)
        try:
            s.sendall(p)
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                # The server may have answered and closed before the whole
                # payload was read (a 431 to a 200 KB header): allowed.
                if e.errno != errno.ENOTCONN:
                    raise
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                data += chunk
            if data:
                line = data.split(b"\r\n", 1)[0]
                check(line.startswith(b"HTTP/1.") and line.split()[1][:1] == b"4",
                      "answer to %r...: %r" % (p[:40], line))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            s.close()
    eq(H.client().get("/healthz").status, 200, "server alive after raw abuse")


@case
def data_untouched_after_all_of_it():
    after = snapshot()
    for k in SNAPSHOT:
        eq(after[k], SNAPSHOT[k], "snapshot %s" % k)


@case
def no_api_key_in_clear_in_database_or_logs():
    # Keys made by the CLI too.
    p = H.cli("keys", "create", "--account", A.account_id, "--db", H.db)
    KEYS.append(json.loads(p.stdout)["api_key"])
    check(all(KEYS), "every key known")
    # The SQLite files as stored, or a pg_dump of every table.
    contents = H.db_contents() + STRICT.db_contents()
    # What the scan reads must hold the rows: the account id is stored in clear.
    check(any(A.account_id.encode() in data for _, data in contents),
          "account %s found in the database contents" % A.account_id)
    found = []
    for f, data in contents:
        for k in KEYS:
            if k.encode() in data:
                found.append("%s in %s" % (k[:8] + "…", f))
    for h in (H, STRICT):
        for n in range(1, h.starts + 1):
            log = h.stderr(n)
            for k in KEYS:
                if k in log:
                    found.append("%s in stderr log" % (k[:8] + "…"))
    check(not found, "API keys in clear: %s" % found)


@case
def keys_stay_out_after_shutdown_checkpoint():
    H.stop()
    data = b"".join(d for _, d in H.db_contents())
    leaked = [k[:8] for k in KEYS if k.encode() in data]
    check(not leaked, "keys in the database after shutdown: %s" % leaked)
    H.start()


if __name__ == "__main__":
    main(setup, teardown)
