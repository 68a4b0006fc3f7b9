#!/usr/bin/env python3
"""The delivery engine (issue 3): the delivered request byte for byte,
signatures verified by the official Standard Webhooks library, fan-out,
retries on the compressed schedule, exhaustion, 410, 3xx, timeouts,
idempotency, batch ingest, the log, test sends, resend, recover, and one
dead endpoint among healthy ones."""

import json
import os
import re
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Herald, NodeReceiver, Receiver, Reply, batch_ids, case, check, eq,  # noqa: E402
                     main, sign_v1, wait_for)

H = None
RECV = None
NODE = None
ADMIN = None
SCHEDULE = (0.2, 0.4)


def setup():
    global H, RECV, NODE, ADMIN
    RECV = Receiver()
    NODE = NodeReceiver()
    # A short request timeout so the hanging receiver is cut quickly.
    H = Herald(retry_schedule=",".join(map(str, SCHEDULE)),
               args=["--request-timeout-ms", "1000"]).start()
    ADMIN = H.admin()


def teardown():
    RECV.release_hangs()
    try:
        H.stop()
    finally:
        RECV.stop()
        NODE.stop()


def account(name):
    return ADMIN.create_account(name)


def event_detail(c, eid):
    r = c.get("/v1/events/" + eid)
    eq(r.status, 200, "GET /v1/events/%s" % eid)
    return r.json


def delivery_status(c, eid):
    return [d["status"] for d in event_detail(c, eid)["deliveries"]]


def wait_status(c, eid, status, what=None):
    return wait_for(lambda: (lambda s: s if s and all(x == status for x in s) else None)(
        delivery_status(c, eid)), what=what or "deliveries of %s to be %s" % (eid, status))


def publish_raw(c, body_bytes, headers=None):
    r = c.request("POST", "/v1/events", raw=body_bytes, content_type="application/json",
                  headers=headers)
    eq(r.status, 202, "publish (%r)" % r)
    return r.json


# --------------------------------------------------------------------------


UNUSUAL_DATA = (b'{ "z" : 1,"a":[1, 2 ,3],  "u":"caf\\u00e9 \\ud83d\\ude00 \xc3\xa9",'
                b'"n":1.50e+2,"s":"\\"q\\"\\/","nested":{"b":null , "a":true}\n}')


@case
def delivered_request_is_exactly_design_section_4():
    c = account("exact")
    w = c.create_webhook(name="exact", url=RECV.url("/exact?k=v"), events=["post.published"],
                         method="PUT", headers={"X-Custom": "yes"})
    body = b'{"type":"post.published","data":' + UNUSUAL_DATA + b'}'
    t0 = time.time()
    ev = publish_raw(c, body)
    check(ev["id"].startswith("evt_"), "event id %r" % ev["id"])
    eq((ev["type"], ev["deliveries"]), ("post.published", 1), "202 answer")
    req = RECV.wait_count(1, "/exact")[0]
    eq(req.method, "PUT", "the webhook's method")
    eq(req.query, "k=v", "query string kept")
    eq(req.header("Content-Type"), "application/json", "Content-Type")
    check((req.header("User-Agent") or "").startswith("herald/"), "User-Agent %r" %
          req.header("User-Agent"))
    eq(req.header("webhook-id"), ev["id"], "webhook-id is the event id")
    ts = req.header("webhook-timestamp")
    check(ts and ts.isdigit() and abs(int(ts) - t0) < 300, "webhook-timestamp %r" % ts)
    sig = req.header("webhook-signature")
    check(re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", sig or ""), "webhook-signature %r" % sig)
    eq(req.header("X-Custom"), "yes", "custom header")
    want = (b'{"id":"%s","type":"post.published","timestamp":"%s","data":' %
            (ev["id"].encode(), ev["timestamp"].encode())) + UNUSUAL_DATA + b"}"
    eq(req.body, want, "body, data byte for byte")
    secret = c.get("/v1/webhooks/%s/secret" % w["id"]).json["secret"]
    eq(sig, sign_v1(secret, ev["id"], ts, req.body), "signature")
    eq(event_detail(c, ev["id"]).get("data"), json.loads(UNUSUAL_DATA), "GET event data")


@case
def official_standard_webhooks_library_verifies_every_signature():
    c = account("official")
    paths = {"/sw-json": "application/json", "/sw-form": "application/x-www-form-urlencoded"}
    hooks = {}
    for p, ct in paths.items():
        w = c.create_webhook(name=p, url=NODE.url(p), events=["post.*", "analytics.updated"],
                             content_type=ct)
        NODE.secret(p, w["secret"])
        hooks[p] = w
    # A webhook the receiver holds the wrong secret for: the check can fail.
    bad = c.create_webhook(name="wrong", url=NODE.url("/sw-wrong"), events=["post.published"],
                           max_attempts=1)
    NODE.secret("/sw-wrong", hooks["/sw-json"]["secret"])
    payloads = [("post.published", {"a": 1}), ("post.failed", {"émoji": "😀", "q": "\"'<>&"}),
                ("analytics.updated", {"n": [1.5, -2, 1e300], "deep": {"x": {"y": None}}}),
                ("post.deleted", {}), ("post.scheduled", {"long": "x" * 20000})]
    ids = [c.publish(t, d)["id"] for t, d in payloads]
    for p in paths:
        wait_for(lambda p=p: len(NODE.results(p)) >= len(payloads),
                 what="node receiver %s to get %d requests" % (p, len(payloads)))
        res = NODE.results(p)
        eq(sorted(r["webhook_id"] for r in res), sorted(ids), "webhook-ids at %s" % p)
        failed = [r for r in res if not r["verified"]]
        check(not failed, "official library rejected %s: %r" % (p, failed[:2]))
    good = {w["id"] for w in hooks.values()}
    for eid in ids:
        wait_for(lambda eid=eid: all(d["status"] == "succeeded"
                                     for d in event_detail(c, eid)["deliveries"]
                                     if d["webhook_id"] in good),
                 what="deliveries of %s to the verifying receiver to succeed" % eid)
    wrong = wait_for(lambda: NODE.results("/sw-wrong"), what="request with the wrong secret")
    eq(wrong[0]["verified"], False, "a wrong secret does not verify")
    # Rotation: the receiver still holding the old secret keeps verifying.
    w = hooks["/sw-json"]
    r = c.post("/v1/webhooks/%s/secret/rotate" % w["id"], {})
    eq(r.status, 200, "rotate")
    eid = c.publish("post.published", {"after": "rotation"})["id"]
    res = wait_for(lambda: [x for x in NODE.results("/sw-json") if x["webhook_id"] == eid],
                   what="delivery after rotation")
    eq(res[0]["verified"], True, "old secret verifies during rotation")
    eq(len(res[0]["signature"].split(" ")), 2, "two signatures during rotation")
    NODE.secret("/sw-json", r.json["secret"])
    eid = c.publish("post.published", {"after": "rotation, new secret"})["id"]
    res = wait_for(lambda: [x for x in NODE.results("/sw-json") if x["webhook_id"] == eid],
                   what="delivery verified with the new secret")
    eq(res[0]["verified"], True, "new secret verifies")
    _ = bad


@case
def form_content_type_sends_payload_field():
    c = account("form")
    w = c.create_webhook(name="form", url=RECV.url("/form"), events=["post.published"],
                         content_type="application/x-www-form-urlencoded")
    ev = publish_raw(c, b'{"type":"post.published","data":' + UNUSUAL_DATA + b"}")
    req = RECV.wait_count(1, "/form")[0]
    eq(req.header("Content-Type"), "application/x-www-form-urlencoded", "Content-Type")
    check(req.body.startswith(b"payload="), "body starts with payload=: %r" % req.body[:40])
    fields = urllib.parse.parse_qs(req.body.decode("ascii"), strict_parsing=True)
    eq(list(fields), ["payload"], "form fields")
    payload = fields["payload"][0].encode("utf-8")
    want = (b'{"id":"%s","type":"post.published","timestamp":"%s","data":' %
            (ev["id"].encode(), ev["timestamp"].encode())) + UNUSUAL_DATA + b"}"
    eq(payload, want, "payload is the JSON body, data byte for byte")
    secret = c.get("/v1/webhooks/%s/secret" % w["id"]).json["secret"]
    eq(req.header("webhook-signature"),
       sign_v1(secret, ev["id"], req.header("webhook-timestamp"), req.body),
       "signature over the body as sent")


@case
def fan_out_to_matching_enabled_webhooks_of_the_account_only():
    c = account("fan")
    other = account("fan-other")
    yes = {
        "exact": c.create_webhook(name="exact", url=RECV.url("/fan/exact"),
                                  events=["post.published"]),
        "star": c.create_webhook(name="star", url=RECV.url("/fan/star"), events=["*"]),
        "prefix": c.create_webhook(name="prefix", url=RECV.url("/fan/prefix"),
                                   events=["analytics.updated", "post.*"]),
    }
    no = {
        "other-type": c.create_webhook(name="ot", url=RECV.url("/fan/ot"),
                                       events=["post.failed", "analytics.*"]),
        "disabled": c.create_webhook(name="dis", url=RECV.url("/fan/dis"), events=["*"],
                                     enabled=False),
        "other-account": other.create_webhook(name="oa", url=RECV.url("/fan/oa"),
                                              events=["*"]),
    }
    ev = c.publish("post.published", {"fan": True})
    eq(ev["deliveries"], 3, "deliveries in the 202 answer")
    d = event_detail(c, ev["id"])
    eq(sorted(x["webhook_id"] for x in d["deliveries"]), sorted(w["id"] for w in yes.values()),
       "deliveries of the event")
    for name in yes:
        reqs = RECV.wait_count(1, "/fan/" + name)
        eq([r.header("webhook-id") for r in reqs], [ev["id"]], "%s got the event once" % name)
    wait_status(c, ev["id"], "succeeded")
    for name, w in no.items():
        eq(RECV.received(urllib.parse.urlsplit(w["url"]).path), [], "%s got nothing" % name)
    eq(other.get("/v1/events").json["total"], 0, "the other account has no events")


@case
def retries_500_500_200_on_the_compressed_schedule():
    c = account("retry")
    w = c.create_webhook(name="r", url=RECV.url("/retry"), events=["post.published"],
                         max_attempts=4)
    RECV.script("/retry", [Reply(500, "boom 1"), Reply(500, "boom 2"), Reply(200, "fine")])
    ev = c.publish("post.published", {"retry": 1})
    reqs = RECV.wait_count(3, "/retry")
    wait_status(c, ev["id"], "succeeded")
    eq([r.header("webhook-id") for r in reqs], [ev["id"]] * 3, "same webhook-id on retries")
    secret = c.get("/v1/webhooks/%s/secret" % w["id"]).json["secret"]
    for r in reqs:
        eq(r.header("webhook-signature"),
           sign_v1(secret, ev["id"], r.header("webhook-timestamp"), r.body),
           "each attempt signed with its own timestamp")
    gaps = [reqs[1].time - reqs[0].time, reqs[2].time - reqs[1].time]
    # Retry n waits schedule[n-1] +- 10 % jitter (minus a little clock slack).
    check(gaps[0] >= SCHEDULE[0] * 0.9 - 0.02, "first retry after %.3fs, schedule %.1fs" % (
        gaps[0], SCHEDULE[0]))
    check(gaps[1] >= SCHEDULE[1] * 0.9 - 0.02, "second retry after %.3fs, schedule %.1fs" % (
        gaps[1], SCHEDULE[1]))
    log = wait_for(lambda: (lambda l: l if len(l) >= 3 else None)(c.log(w["id"])),
                   what="three log entries")
    eq(len(log), 3, "log entries")
    eq([a["attempt"] for a in log], [3, 2, 1], "attempt numbers, newest first")
    eq([a["response_code"] for a in log], [200, 500, 500], "response codes")
    eq([a["response_body"] for a in log], ["fine", "boom 2", "boom 1"], "response bodies")
    for a in log:
        for f in ("id", "delivery_id", "event_id", "event_type", "attempt", "created_at",
                  "response_code", "duration_ms", "execution_time", "error", "response_body",
                  "request_headers", "payload"):
            check(f in a, "log item has %s: %r" % (f, sorted(a)))
        eq((a["event_id"], a["event_type"]), (ev["id"], "post.published"), "log event")
        check(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0, "duration_ms")
        # The payload the log shows is the body that was sent.
        p = a["payload"]
        eq((p["id"], p["type"], p["data"]), (ev["id"], "post.published", {"retry": 1}),
           "log payload")
    eq(len({a["delivery_id"] for a in log}), 1, "one delivery")
    check(not log[0]["error"], "success has no error: %r" % log[0]["error"])
    check(log[1]["error"] and log[2]["error"], "failures have an error class")
    eq(len(c.log(w["id"], status="failure")), 2, "log status=failure")
    eq(len(c.log(w["id"], status="success")), 1, "log status=success")
    eq(len(c.log(w["id"], event_type="post.failed")), 0, "log event_type filter")
    d = event_detail(c, ev["id"])["deliveries"]
    eq(len(d), 1, "one delivery in the event")
    eq((d[0]["webhook_id"], d[0]["status"]), (w["id"], "succeeded"), "delivery")
    eq(sorted(a.get("response_code") for a in d[0]["attempts"]), [200, 500, 500],
       "attempts in GET /v1/events/{id}")
    check(c.get("/v1/webhooks/" + w["id"]).json["last_execution_at"], "last_execution_at set")


@case
def max_attempts_exhausted_fails_and_emits_delivery_exhausted():
    c = account("exhaust")
    w = c.create_webhook(name="x", url=RECV.url("/exhaust"), events=["post.published"],
                         max_attempts=2)
    sink = c.create_webhook(name="sink", url=RECV.url("/exhaust-sink"),
                            events=["delivery.exhausted"])
    RECV.script("/exhaust", [Reply(500, "no")])
    ev = c.publish("post.published", {"x": 1})
    wait_status(c, ev["id"], "failed")
    eq(len(RECV.received("/exhaust")), 2, "exactly max_attempts attempts")
    got = RECV.wait_count(1, "/exhaust-sink")[0]
    j = got.json
    eq(j["type"], "delivery.exhausted", "operational event type")
    check(w["id"] in got.body.decode() and ev["id"] in got.body.decode(),
          "delivery.exhausted names the webhook and the event: %r" % got.body[:300])
    _ = sink


@case
def gone_410_disables_the_webhook_and_emits_webhook_disabled():
    c = account("gone")
    w = c.create_webhook(name="g", url=RECV.url("/gone"), events=["post.published"])
    c.create_webhook(name="sink", url=RECV.url("/gone-sink"), events=["webhook.disabled"])
    RECV.script("/gone", [Reply(410, "gone")])
    ev = c.publish("post.published", {"g": 1})
    g = wait_for(lambda: (lambda x: x if not x["enabled"] else None)(
        c.get("/v1/webhooks/" + w["id"]).json), what="the webhook to be disabled")
    check(g["disabled_reason"], "disabled_reason set: %r" % g)
    got = RECV.wait_count(1, "/gone-sink")[0]
    eq(got.json["type"], "webhook.disabled", "operational event type")
    check(w["id"] in got.body.decode(), "webhook.disabled names the webhook")
    eq(len(RECV.received("/gone")), 1, "no retry after 410")
    ev2 = c.publish("post.published", {"g": 2})
    eq(ev2["deliveries"], 0, "a disabled webhook gets no deliveries")
    _ = ev


@case
def redirects_are_failures_and_never_followed():
    c = account("redir")
    w = c.create_webhook(name="r", url=RECV.url("/redir"), events=["post.published"],
                         max_attempts=2)
    RECV.script("/redir", [Reply(302, "moved", headers={"Location": RECV.url("/redir-target")})])
    ev = c.publish("post.published", {"r": 1})
    wait_status(c, ev["id"], "failed")
    eq(len(RECV.received("/redir")), 2, "two attempts, both failed")
    eq(RECV.received("/redir-target"), [], "redirect not followed")
    log = c.log(w["id"])
    eq([a["response_code"] for a in log], [302, 302], "log codes")
    check(all(a["error"] for a in log), "3xx logged as failure")


@case
def hanging_receiver_is_cut_at_the_request_timeout():
    c = account("hang")
    w = c.create_webhook(name="h", url=RECV.url("/hang"), events=["post.published"],
                         max_attempts=1)
    RECV.script("/hang", [Reply(hang=True)])
    ev = c.publish("post.published", {"h": 1})
    wait_status(c, ev["id"], "failed")
    log = c.log(w["id"])
    eq(len(log), 1, "one attempt")
    eq(log[0]["error"], "timeout", "error class")
    eq(log[0]["response_code"], 0, "no response code")
    check(900 <= log[0]["duration_ms"] < 10000, "cut near 1000 ms: %r" % log[0]["duration_ms"])


@case
def idempotency_key_and_id_return_the_first_event():
    c = account("idem")
    c.create_webhook(name="i", url=RECV.url("/idem"), events=["post.published"])
    def again(body, headers=None):
        # A repeat answers with the first event: 200 or 202 are both fine.
        r = c.post("/v1/events", body, headers=headers)
        check(r.status in (200, 202), "repeat publish (%r)" % r)
        return r.json
    a = c.publish("post.published", {"v": 1}, headers={"Idempotency-Key": "order-42"})
    b = again({"type": "post.published", "data": {"v": 2}}, {"Idempotency-Key": "order-42"})
    eq(b["id"], a["id"], "same Idempotency-Key, same event")
    eq(b["deliveries"], a["deliveries"], "same deliveries count")
    x = c.publish("post.published", {"v": 3}, id="client-id-1")
    y = again({"type": "post.published", "data": {"v": 4}, "id": "client-id-1"})
    eq(y["id"], x["id"], "same id field, same event")
    eq(c.get("/v1/events").json["total"], 2, "two events stored")
    reqs = RECV.wait_count(2, "/idem")
    wait_status(c, a["id"], "succeeded")
    wait_status(c, x["id"], "succeeded")
    eq(sorted(r.header("webhook-id") for r in RECV.received("/idem")), sorted([a["id"], x["id"]]),
       "one delivery per event")
    eq(sorted(r.json["data"]["v"] for r in reqs), [1, 3], "the first data is delivered")


@case
def batch_of_1000_events_all_delivered():
    c = account("batch")
    c.create_webhook(name="b", url=RECV.url("/batch"), events=["post.published"])
    events = [{"type": "post.published", "data": {"i": i}} for i in range(1000)]
    r = c.post("/v1/events/batch", {"events": events})
    eq(r.status, 202, "batch status (%r)" % r)
    ids = batch_ids(r.json)
    eq(len(set(ids)), 1000, "1000 distinct event ids")
    wait_for(lambda: len({q.header("webhook-id") for q in RECV.received("/batch")}) >= 1000,
             timeout=180, interval=0.2, what="1000 batch deliveries")
    got = {q.header("webhook-id"): q.json["data"]["i"] for q in RECV.received("/batch")}
    eq(set(got), set(ids), "delivered ids are the accepted ids")
    eq(sorted(got.values()), list(range(1000)), "every data delivered")
    eq(c.get("/v1/events").json["total"], 1000, "GET /v1/events total")
    r = c.post("/v1/events/batch", {"events": events + events[:1]})
    check(r.status in (413, 422), "1001 events refused (%r)" % r)
    eq(c.get("/v1/events").json["total"], 1000, "nothing of a refused batch stored")


@case
def test_send_returns_the_outcome_and_is_logged():
    c = account("testsend")
    w = c.create_webhook(name="t", url=RECV.url("/testsend"), events=["analytics.updated"])
    r = c.post("/v1/webhooks/%s/test" % w["id"], {"event_type": "post.published"})
    eq(r.status, 200, "test send (%r)" % r)
    out = r.json.get("attempt", r.json)  # the attempt, maybe wrapped
    eq(out["response_code"], 200, "outcome code")
    check(isinstance(out["duration_ms"], int), "duration_ms")
    check(not out.get("error"), "no error")
    req = RECV.wait_count(1, "/testsend")[0]
    sample = c.get("/v1/event-types/post.published").json["sample"]
    if isinstance(sample, str):
        sample = json.loads(sample)
    eq((req.json["type"], req.json["data"]), ("post.published", sample), "sample sent")
    log = c.log(w["id"])
    eq([(a["event_type"], a["response_code"]) for a in log], [("post.published", 200)],
       "test send in the log")
    RECV.script("/testsend", [Reply(500, "nope")])
    r = c.post("/v1/webhooks/%s/test" % w["id"], {"event_type": "post.published"})
    out = r.json.get("attempt", r.json)
    eq((r.status, out["response_code"]), (200, 500), "failed test send answer")
    check(out.get("error"), "failed test send has an error class")


@case
def retry_a_failed_delivery():
    c = account("resend")
    w = c.create_webhook(name="x", url=RECV.url("/resend"), events=["post.published"],
                         max_attempts=1)
    RECV.script("/resend", [Reply(500), Reply(200)])
    ev = c.publish("post.published", {"x": 1})
    wait_status(c, ev["id"], "failed")
    did = event_detail(c, ev["id"])["deliveries"][0]["id"]
    r = c.post("/v1/deliveries/%s/retry" % did, {})
    check(r.status in (200, 202), "retry status (%r)" % r)
    wait_status(c, ev["id"], "succeeded")
    reqs = RECV.received("/resend")
    eq([q.header("webhook-id") for q in reqs], [ev["id"]] * 2, "resent with the same webhook-id")
    eq(sorted(a["attempt"] for a in c.log(w["id"])), [1, 2], "a new attempt in the log")


@case
def recover_requeues_failed_deliveries_since_a_time():
    c = account("recover")
    w = c.create_webhook(name="x", url=RECV.url("/recover"), events=["post.published"],
                         max_attempts=1)
    RECV.script("/recover", [Reply(500)] * 3 + [Reply(200)])
    since = c.get("/v1/webhooks/" + w["id"]).json["created_at"]
    ids = [c.publish("post.published", {"n": i})["id"] for i in range(3)]
    for eid in ids:
        wait_status(c, eid, "failed")
    r = c.post("/v1/webhooks/%s/recover" % w["id"], {"since": "2000-01-01T00:00:00Z",
                                                     "until": "2000-01-02T00:00:00Z"})
    check(r.status in (200, 202), "recover, empty window (%r)" % r)
    for eid in ids:
        eq(delivery_status(c, eid), ["failed"], "outside the window stays failed")
    r = c.post("/v1/webhooks/%s/recover" % w["id"], {"since": since})
    check(r.status in (200, 202), "recover (%r)" % r)
    for eid in ids:
        wait_status(c, eid, "succeeded")
    eq(sorted(q.header("webhook-id") for q in RECV.received("/recover")[3:]), sorted(ids),
       "each recovered event sent again")


@case
def one_dead_endpoint_does_not_hold_back_ten_healthy_ones():
    recv = Receiver()
    # Requests to the dead endpoint hang for the whole (long) timeout: the
    # healthy webhooks must finish long before one of them is cut.
    h = Herald(retry_schedule="0.2,0.4", args=["--request-timeout-ms", "120000"]).start()
    try:
        c = h.admin().create_account("isolation")
        dead = c.create_webhook(name="dead", url=recv.url("/dead"), events=["*"])
        recv.script("/dead", [Reply(hang=True)])
        for i in range(10):
            c.create_webhook(name="ok%d" % i, url=recv.url("/ok/%d" % i), events=["*"])
        ids = []
        for _ in range(2):
            r = c.post("/v1/events/batch", {"events": [
                {"type": "post.published", "data": {"k": k}} for k in range(100)]})
            eq(r.status, 202, "batch (%r)" % r)
            ids += batch_ids(r.json)
        want = set(ids)

        def healthy_done():
            return all({q.header("webhook-id") for q in recv.received("/ok/%d" % i)} >= want
                       for i in range(10))
        try:
            wait_for(healthy_done, timeout=90, interval=0.2,
                     what="10 healthy webhooks to get all 200 events while one hangs")
        finally:
            print("    received per healthy webhook: %s; dead endpoint: %d" % (
                [len({q.header("webhook-id") for q in recv.received("/ok/%d" % i)} & want)
                 for i in range(10)], len(recv.received("/dead"))), flush=True)
        check(len(recv.received("/dead")) >= 1, "the dead endpoint was tried")
        check(len(recv.received("/dead")) <= 8,
              "max_in_flight caps the dead endpoint's requests: %d" % len(recv.received("/dead")))
        _ = dead
    finally:
        recv.release_hangs()
        try:
            h.stop()
        finally:
            recv.stop()


if __name__ == "__main__":
    main(setup, teardown)
