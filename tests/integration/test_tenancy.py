#!/usr/bin/env python3
"""Tenant isolation on every route (issue 4, item 4; DESIGN.md §6: another
account's object is a 404, on every route).

The routes come from herald's own GET /openapi.json, and every one of them
must have an entry in ROUTES below saying how it is attacked, so a route
added later without a tenancy check fails this test. Account A (the
attacker) tries each route on account B's objects: webhooks, their
secrets, logs, events, deliveries, and a custom event type. Each attack
must answer 404 (or, for lists and creations, never show or touch B's
data), and the same request made with B's own key must work — the
positive control that proves the ids were real, so a 404 is not vacuous.
B's data is compared before and after."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, Reply, case, check, eq, main, wait_for  # noqa: E402

H = RECV = A = B = None
IDS = {}  # B's objects: hook, hook2 (deleted last), event, delivery, type


def setup():
    global H, RECV, A, B
    RECV = Receiver()
    RECV.script("/b-fail", [Reply(500)])
    H = Herald(retry_schedule="0.2").start()
    admin = H.admin()
    A = admin.create_account("attacker")
    B = admin.create_account("victim")
    A.create_webhook(name="a", url=RECV.url("/a"), events=["*"])
    B.ok("POST", "/v1/event-types", want=(200, 201),
         body={"name": "victim.private", "description": "B only", "sample": {"x": 1}})
    IDS["type"] = "victim.private"
    IDS["hook"] = B.create_webhook(name="b", url=RECV.url("/b"), events=["*"])["id"]
    IDS["hook2"] = B.create_webhook(name="b2", url=RECV.url("/b-fail"), events=["post.failed"],
                                    max_attempts=1)["id"]
    IDS["event"] = B.publish("victim.private", {"secret": "b"})["id"]
    ev = B.publish("post.failed", {"secret": "b2"})["id"]

    def settled():
        e = B.get("/v1/events/" + ev).json
        ds = [d for d in e.get("deliveries") or [] if d["webhook_id"] == IDS["hook2"]]
        return ds if ds and ds[0]["status"] == "failed" else None
    IDS["delivery"] = wait_for(settled, what="B's failing delivery to end")[0]["id"]

    # Everything settled, also the delivery.exhausted event the failure
    # emits, so B's data stands still while the attacks run.
    def quiet():
        evs = B.list_all("/v1/events")
        if len(evs) < 3:
            return False
        for e in evs:
            ds = B.get("/v1/events/" + e["id"]).json.get("deliveries") or []
            if not ds or any(d["status"] not in ("succeeded", "failed") for d in ds):
                return False
        return True
    wait_for(quiet, what="all of B's deliveries to end")
    IDS["failed_event"] = ev


def teardown():
    try:
        if H:
            H.stop()
    finally:
        if RECV:
            RECV.stop()


def snapshot():
    """All of B's data, as B reads it."""
    s = {"hooks": B.list_all("/v1/webhooks", order="created_at"),
         "events": B.list_all("/v1/events"),
         "types": B.get("/v1/event-types").json}
    s["secrets"] = [B.get("/v1/webhooks/%s/secret" % w["id"]).json for w in s["hooks"]]
    s["logs"] = [B.log(w["id"]) for w in s["hooks"]]
    s["event_details"] = [B.get("/v1/events/" + e["id"]).json for e in s["events"]]
    return s


def path(p):
    return (p.replace("{hook}", IDS["hook"]).replace("{hook2}", IDS["hook2"])
             .replace("{event}", IDS["event"]).replace("{delivery}", IDS["delivery"])
             .replace("{type}", IDS["type"]))


# (method, OpenAPI path) -> how it is attacked:
#   ("public", None)            no account data behind it
#   ("admin", None)             admin keys only: an account key gets 403
#   ("object", (path, body))    A on B's object: 404; B itself: 2xx
#   ("list", (path, key))       A's list never shows B's objects (by key)
#   ("create", None)            checked by a case of its own below
#   ("stats", path)             aggregates: an account with nothing sees nothing
ROUTES = {
    ("get", "/healthz"): ("public", None),
    ("get", "/readyz"): ("public", None),
    ("get", "/openapi.json"): ("public", None),
    ("get", "/metrics"): ("admin", "/metrics"),
    ("get", "/v1/me"): ("create", None),
    ("get", "/v1/stats"): ("stats", "/v1/stats"),
    ("post", "/v1/webhooks"): ("create", None),
    ("get", "/v1/webhooks"): ("list", ("/v1/webhooks", "hook")),
    ("get", "/v1/webhooks/{id}"): ("object", ("/v1/webhooks/{hook}", None)),
    ("patch", "/v1/webhooks/{id}"): ("object", ("/v1/webhooks/{hook}", {"name": "pwned"})),
    ("post", "/v1/webhooks/{id}"): ("object", ("/v1/webhooks/{hook}", {"name": "pwned"})),
    ("delete", "/v1/webhooks/{id}"): ("object", ("/v1/webhooks/{hook2}", None)),
    ("get", "/v1/webhooks/{id}/secret"): ("object", ("/v1/webhooks/{hook}/secret", None)),
    ("post", "/v1/webhooks/{id}/secret/rotate"): ("object", ("/v1/webhooks/{hook}/secret/rotate",
                                                             {})),
    ("post", "/v1/webhooks/{id}/test"): ("object", ("/v1/webhooks/{hook}/test",
                                                    {"event_type": "post.published"})),
    ("get", "/v1/webhooks/{id}/log"): ("object", ("/v1/webhooks/{hook}/log", None)),
    ("post", "/v1/webhooks/{id}/recover"): ("object", ("/v1/webhooks/{hook2}/recover",
                                                       {"since": "2000-01-01T00:00:00Z"})),
    ("post", "/v1/events"): ("create", None),
    ("get", "/v1/events"): ("list", ("/v1/events", "event")),
    ("post", "/v1/events/batch"): ("create", None),
    ("get", "/v1/events/{id}"): ("object", ("/v1/events/{event}", None)),
    ("get", "/v1/deliveries/{id}"): ("object", ("/v1/deliveries/{delivery}", None)),
    ("post", "/v1/deliveries/{id}/retry"): ("object", ("/v1/deliveries/{delivery}/retry", {})),
    ("get", "/v1/event-types"): ("list", ("/v1/event-types", "type")),
    ("post", "/v1/event-types"): ("create", None),
    ("get", "/v1/event-types/{name}"): ("object", ("/v1/event-types/{type}", None)),
    ("get", "/v1/accounts"): ("admin", "/v1/accounts"),
    ("post", "/v1/accounts"): ("admin", "/v1/accounts"),
    ("get", "/v1/accounts/{id}"): ("admin", "/v1/accounts/{b_account}"),
    ("post", "/v1/accounts/{id}/keys"): ("admin", "/v1/accounts/{b_account}/keys"),
    ("delete", "/v1/keys/{id}"): ("admin", "/v1/keys/{b_key}"),
}

SNAP = None


@case
def every_route_in_openapi_has_a_tenancy_check():
    spec = H.client().get("/openapi.json").json
    routes = {(m, p) for p, ops in spec["paths"].items() for m in ops
              if m in ("get", "post", "put", "patch", "delete")}
    missing = sorted(routes - set(ROUTES))
    check(not missing, "routes without a tenancy check in test_tenancy.py: %s" % missing)
    stale = sorted(set(ROUTES) - routes)
    check(not stale, "routes checked here that herald no longer has: %s" % stale)
    print("    %d routes" % len(routes))


@case
def another_accounts_objects_are_404_on_every_route():
    global SNAP
    SNAP = snapshot()
    bad = []
    n = 0
    for (method, _), (kind, arg) in sorted(ROUTES.items()):
        if kind != "object":
            continue
        p, body = arg
        kw = {} if body is None else {"body": body}
        r = A.request(method.upper(), path(p), **kw)
        n += 1
        if r.status != 404 or r.error.get("code") != "not_found":
            bad.append("%s %s: %r" % (method.upper(), p, r))
        # An admin key acting as A is A too.
        r = H.admin().request(method.upper(), path(p), headers={"Herald-Account": A.account_id},
                              **kw)
        n += 1
        if r.status != 404:
            bad.append("admin as A: %s %s: %r" % (method.upper(), p, r))
    check(not bad, "cross-account access:\n      " + "\n      ".join(bad))
    eq(snapshot(), SNAP, "B's data after the attacks")
    print("    %d cross-account requests, all 404, B's data unchanged" % n)


@case
def lists_never_show_another_accounts_objects():
    for (method, _), (kind, arg) in sorted(ROUTES.items()):
        if kind != "list":
            continue
        p, what = arg
        check(IDS[what] not in repr(A.list_all(p)), "%s as A shows B's %s" % (p, what))
        check(IDS[what] in repr(B.list_all(p)), "%s as B shows B's %s (control)" % (p, what))
    # Filters do not open a way round it.
    check(IDS["hook"] not in repr(A.get("/v1/webhooks", query={"name": "b"}).json), "name filter")
    check(IDS["event"] not in repr(A.get("/v1/events", query={"type": IDS["type"]}).json),
          "type filter")


def numbers(v):
    """The sum of every number in a JSON value."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, dict):
        return sum(numbers(x) for k, x in v.items() if k not in ("bucket_seconds",))
    if isinstance(v, list):
        return sum(numbers(x) for x in v)
    return 0


@case
def aggregates_count_only_the_callers_account():
    """A new account with no webhooks sees empty figures where B, which
    has deliveries, sees its own."""
    empty = H.admin().create_account("empty")
    for (method, _), (kind, p) in sorted(ROUTES.items()):
        if kind != "stats":
            continue
        mine = empty.ok(method.upper(), p)
        eq(numbers(mine.get("buckets", mine)), 0, "%s for an account with nothing" % p)
        check(numbers(B.ok(method.upper(), p).get("buckets")) > 0, "%s for B (control)" % p)


@case
def creations_stay_in_the_callers_account():
    """A cannot use B's custom event type, and A's events never reach B's
    webhooks (B subscribes to everything)."""
    eq(A.get("/v1/me").json["account_id"], A.account_id, "/v1/me")
    r = A.post("/v1/events", {"type": IDS["type"], "data": {}})
    eq((r.status, r.error.get("field")), (422, "type"), "A publishing B's custom type")
    r = A.post("/v1/webhooks", {"name": "x", "url": RECV.url("/x"), "events": [IDS["type"]]})
    eq((r.status, r.error.get("field")), (422, "events"), "A subscribing to B's custom type")
    r = A.post("/v1/event-types", {"name": IDS["type"], "description": "A's own", "sample": {}})
    check(r.status in (200, 201, 409), "A's type of the same name: %r" % r)
    eq(B.get("/v1/event-types/" + IDS["type"]).json.get("description"), "B only",
       "B's type untouched by A's of the same name")
    seen_b = len(RECV.received("/b"))
    ids = [A.publish("post.published", {"from": "a"})["id"]]
    r = A.post("/v1/events/batch", {"events": [{"type": "post.published", "data": {"n": 1}}]})
    check(r.status in (200, 202), "A's batch: %r" % r)
    RECV.wait_count(2, "/a")
    for e in ids:
        d = A.get("/v1/events/" + e).json
        hooks = {x["webhook_id"] for x in d.get("deliveries") or []}
        check(IDS["hook"] not in hooks, "A's event delivered to B's webhook")
    eq(len(RECV.received("/b")), seen_b, "requests at B's receiver after A's events")


@case
def admin_routes_refuse_account_keys():
    b_key = H.admin().post("/v1/accounts/%s/keys" % B.account_id, {}).json
    key_id = b_key.get("key_id") or b_key.get("id")
    for (method, _), (kind, arg) in sorted(ROUTES.items()):
        if kind != "admin":
            continue
        p = arg.replace("{b_account}", B.account_id).replace("{b_key}", key_id)
        body = {"name": "x"} if method == "post" else None
        kw = {} if body is None else {"body": body}
        r = A.request(method.upper(), p, **kw)
        eq(r.status, 403, "%s %s with an account key" % (method.upper(), p))
    # The key A tried to revoke still works.
    eq(B.as_key(b_key.get("api_key") or b_key.get("key")).get("/v1/me").status, 200,
       "B's key after A's attempt to revoke it")


@case
def the_owner_can_do_all_of_it():
    """The positive control: every object route works with B's key, so
    the 404s above were about the account, not about the ids."""
    bad = []
    order = sorted(ROUTES.items(), key=lambda kv: kv[0][0] == "delete")  # delete last
    for (method, _), (kind, arg) in order:
        if kind != "object":
            continue
        p, body = arg
        kw = {} if body is None else {"body": body}
        r = B.request(method.upper(), path(p), **kw)
        # 409: the delivery is being sent again (recover re-queued it) —
        # B reached its own object, which is what is checked here.
        if not (200 <= r.status < 300 or r.status == 409):
            bad.append("%s %s: %r" % (method.upper(), p, r))
    check(not bad, "B on its own objects:\n      " + "\n      ".join(bad))


if __name__ == "__main__":
    main(setup, teardown)
