#!/usr/bin/env python3
"""Zapier-style REST hooks (issue 8, item 5; docs/integrations.md), driven
the way a Zapier app would: subscribe = POST /v1/webhooks with the target
URL, unsubscribe = DELETE /v1/webhooks/{id}, sample = the type's sample
from GET /v1/event-types/{name}, perform list = GET /v1/events?type=…
whose items have exactly the shape of a hook delivery (so Zapier's
dedupe on "id" sees one event once), and a 410 from the hook (a turned-off
Zap) stops deliveries."""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, Reply, case, check, eq, main, wait_for  # noqa: E402

H = None
ADMIN = None
RECV = None
SEED_000 = {"post_id": "post_abc123", "platforms": ["instagram", "x"],
            "published_at": "2025-10-05T14:30:00Z",
            "urls": {"instagram": "https://instagram.com/p/abc123",
                     "x": "https://x.com/user/status/456"}}


def setup():
    global H, ADMIN, RECV
    RECV = Receiver()
    H = Herald().start()
    ADMIN = H.admin()


def teardown():
    try:
        H.stop()
    finally:
        RECV.stop()


def subscribe(c, target_url, event):
    """What the Zap's performSubscribe sends (seed 004's "event" alias: one
    type per subscription)."""
    r = c.post("/v1/webhooks", {"name": "Zapier: " + event, "url": target_url, "event": event})
    eq(r.status, 201, "subscribe (%r)" % r)
    check(r.json["id"].startswith("wh_"), "the id Zapier keeps for unsubscribing")
    return r.json


def perform_list(c, event, count=3):
    r = c.get("/v1/events", query={"type": event, "count": 20})
    eq(r.status, 200, "perform list (%r)" % r)
    return r.json["items"][:count]


# --------------------------------------------------------------------------


@case
def subscribe_deliver_and_perform_list_agree():
    c = ADMIN.create_account("zapier")
    hook = subscribe(c, RECV.url("/hooks/catch/123/abc"), "post.published")
    eq(hook["events"], ["post.published"], "subscribed to one type")
    ev = c.publish("post.published", SEED_000)
    eq(ev["deliveries"], 1, "one hook subscribed")
    got = RECV.wait_count(1, "/hooks/catch/123/abc")[0]
    body = got.json
    eq(sorted(body), ["data", "id", "timestamp", "type"], "hook payload members")
    eq(body["data"], SEED_000, "data as published")
    items = perform_list(c, "post.published")
    eq(items[0], body, "the newest perform-list item is the hook payload, member for member")
    eq(list(items[0]), list(body), "same member order too")
    eq(items[0]["id"], got.header("webhook-id"), "Zapier dedupes on id = webhook-id")


@case
def perform_list_is_newest_first_and_filtered():
    c = ADMIN.create_account("zapier-list")
    ids = [c.publish("analytics.updated", {"post_id": "p%d" % i})["id"] for i in range(3)]
    c.publish("post.deleted", {"post_id": "other"})
    items = perform_list(c, "analytics.updated")
    eq([i["id"] for i in items], ids[::-1], "newest first, only the type asked for")
    check(all(i["type"] == "analytics.updated" for i in items), "type filter")


@case
def sample_comes_from_the_event_type():
    c = ADMIN.create_account("zapier-sample")
    r = c.get("/v1/event-types/post.published")
    eq(r.status, 200, "GET /v1/event-types/post.published")
    eq(r.json["sample"], SEED_000, "the seed's sample payload")
    # An account's own type carries its own sample.
    r = c.post("/v1/event-types", {"name": "invoice.paid", "description": "An invoice was paid.",
                                   "sample": {"invoice_id": "in_1", "amount": 4200}})
    eq(r.status, 201, "create event type (%r)" % r)
    eq(c.get("/v1/event-types/invoice.paid").json["sample"],
       {"invoice_id": "in_1", "amount": 4200}, "own sample")
    eq(c.get("/v1/event-types/nope.nope").status, 404, "unknown type")


@case
def unsubscribe_stops_deliveries():
    c = ADMIN.create_account("zapier-unsub")
    a = subscribe(c, RECV.url("/zap-a"), "post.failed")
    subscribe(c, RECV.url("/zap-b"), "post.failed")
    eq(c.publish("post.failed", {"post_id": "1"})["deliveries"], 2, "two hooks")
    RECV.wait_count(1, "/zap-a")
    r = c.delete("/v1/webhooks/" + a["id"])
    eq(r.status, 204, "unsubscribe")
    eq(c.publish("post.failed", {"post_id": "2"})["deliveries"], 1, "one hook left")
    RECV.wait_count(2, "/zap-b")
    eq(len(RECV.received("/zap-a")), 1, "nothing more to the unsubscribed hook")
    eq(c.delete("/v1/webhooks/" + a["id"]).status, 404, "unsubscribing twice is a 404")
    # Another account cannot unsubscribe someone else's hook.
    other = ADMIN.create_account("zapier-other")
    b = c.list_all("/v1/webhooks")[0]
    eq(other.delete("/v1/webhooks/" + b["id"]).status, 404, "another account's hook")


@case
def a_turned_off_zap_answers_410_and_the_hook_is_disabled():
    c = ADMIN.create_account("zapier-410")
    RECV.script("/zap-off", [Reply(410, b'{"status":"gone"}')])
    hook = subscribe(c, RECV.url("/zap-off"), "account.connected")
    c.publish("account.connected", {"account_id": "a1"})
    RECV.wait_count(1, "/zap-off")
    w = wait_for(lambda: (lambda w: w if not w["enabled"] else None)(
        c.get("/v1/webhooks/" + hook["id"]).json), what="hook disabled after 410")
    check(w["disabled_reason"], "disabled_reason set: %r" % w)
    eq(c.publish("account.connected", {"account_id": "a2"})["deliveries"], 0,
       "no deliveries to a disabled hook")


@case
def subscribe_with_a_form_body_like_curl():
    c = ADMIN.create_account("zapier-form")
    r = c.post("/v1/webhooks", form=[("name", "Zap"), ("url", RECV.url("/zap-form")),
                                     ("events", "post.scheduled"), ("events", "post.deleted")])
    eq(r.status, 201, "form subscribe (%r)" % r)
    eq(r.json["events"], ["post.scheduled", "post.deleted"], "both types")
    c.publish("post.deleted", {"post_id": "x"})
    eq(json.loads(RECV.wait_count(1, "/zap-form")[0].body)["type"], "post.deleted", "delivered")


if __name__ == "__main__":
    main(setup, teardown)
