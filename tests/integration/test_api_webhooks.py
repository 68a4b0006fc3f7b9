#!/usr/bin/env python3
"""The webhooks API as seeds 002 and 004 use it (issue 2, item 5): create
with every field (JSON and form), read back, list filters, ordering, paging,
partial update, delete, reveal and rotate the secret, Basic auth."""

import base64
import datetime
import os
import random
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, case, check, eq, main, sign_v1, wait_for  # noqa: E402

H = None
RECV = None
ADMIN = None

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
ORDER_FIELDS = ["name", "description", "last_execution_at", "enabled", "created_at",
                "modified_at"]


def setup():
    global H, RECV, ADMIN
    RECV = Receiver()
    H = Herald().start()
    ADMIN = H.admin()


def teardown():
    try:
        H.stop()
    finally:
        RECV.stop()


def new_secret():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def parse_time(s):
    check(isinstance(s, str) and RFC3339.match(s), "RFC 3339 time: %r" % (s,))
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def after_a_tick(ts):
    """Waits until the wall clock is past the timestamp ts, so a change made
    now must carry a later modified_at, whatever the stored precision."""
    t = parse_time(ts)
    wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) >
             t + datetime.timedelta(seconds=1.01), 5, interval=0.05, what="the clock to move")


def get_webhook(c, wid):
    r = c.get("/v1/webhooks/" + wid)
    eq(r.status, 200, "GET webhook %s" % wid)
    return r.json


def assert_same(got, want, fields, what):
    for f in fields:
        eq(got.get(f), want[f], "%s: field %s" % (what, f))


# --------------------------------------------------------------------------


@case
def create_json_with_every_seed_002_field_reads_back_identical():
    secret = new_secret()
    fields = {
        "name": "Slack Assignment Notification",
        "description": "Send assignment notifications to Slack",
        "url": RECV.url("/every-field?x=1&y=%C3%A9"),
        "method": "PUT",
        "content_type": "application/x-www-form-urlencoded",
        "max_attempts": 7,
        "enabled": False,
        "secret": secret,
        "events": ["post.published", "analytics.*", "newAssignment"],
    }
    r = ADMIN.post("/v1/webhooks", fields)
    eq(r.status, 201, "create status (%r)" % r)
    w = r.json
    check(w["id"].startswith("wh_"), "id %r" % w["id"])
    eq(w.get("secret"), secret, "create answer shows the secret")
    assert_same(w, fields, [f for f in fields if f != "secret"], "create answer")
    check(w["created_at"] == w["modified_at"], "created_at == modified_at on create")
    parse_time(w["created_at"])
    eq(w.get("last_execution_at"), None, "last_execution_at before any delivery")
    g = get_webhook(ADMIN, w["id"])
    check("secret" not in g, "GET must not show the secret: %r" % g)
    assert_same(g, fields, [f for f in fields if f != "secret"], "read back")
    for f in ("headers", "rate_limit", "max_in_flight", "kind", "signature_scheme",
              "disabled_reason", "created_at", "modified_at", "last_execution_at"):
        check(f in g, "webhook object has %s: %r" % (f, g))
    s = ADMIN.get("/v1/webhooks/%s/secret" % w["id"])
    eq(s.status, 200, "reveal secret")
    eq(s.json.get("secret"), secret, "revealed secret")


@case
def create_form_encoded_like_curl_d():
    secret = new_secret()
    form = [("name", "Form hook"), ("description", "made with curl -d"),
            ("url", RECV.url("/form")), ("method", "PATCH"),
            ("content_type", "application/json"), ("max_attempts", "3"), ("enabled", "1"),
            ("secret", secret), ("events", "post.published"), ("events", "post.failed")]
    r = ADMIN.post("/v1/webhooks", form=form)
    eq(r.status, 201, "form create (%r)" % r)
    g = get_webhook(ADMIN, r.json["id"])
    want = {"name": "Form hook", "description": "made with curl -d", "url": RECV.url("/form"),
            "method": "PATCH", "content_type": "application/json", "max_attempts": 3,
            "enabled": True, "events": ["post.published", "post.failed"]}
    assert_same(g, want, want, "form read back")
    eq(ADMIN.get("/v1/webhooks/%s/secret" % g["id"]).json["secret"], secret, "form secret")
    # enabled=0 and a single events value.
    r = ADMIN.post("/v1/webhooks", form=[("name", "off"), ("url", RECV.url("/off")),
                                         ("events", "post.deleted"), ("enabled", "0")])
    eq(r.status, 201, "form create disabled (%r)" % r)
    g = get_webhook(ADMIN, r.json["id"])
    eq(g["enabled"], False, "enabled=0")
    eq(g["events"], ["post.deleted"], "single events value is a list of one")


@case
def create_defaults():
    r = ADMIN.post("/v1/webhooks", {"name": "defaults", "url": RECV.url("/d"),
                                    "events": ["*"]})
    eq(r.status, 201, "create (%r)" % r)
    w = r.json
    want = {"method": "POST", "content_type": "application/json", "max_attempts": 4,
            "enabled": True, "max_in_flight": 8, "rate_limit": 0, "kind": "webhook",
            "signature_scheme": "standard", "headers": {}, "description": "",
            "disabled_reason": None}
    assert_same(w, want, want, "defaults")
    sec = w["secret"]
    check(sec.startswith("whsec_"), "generated secret %r" % sec)
    eq(len(base64.b64decode(sec[6:], validate=True)), 32, "generated secret bytes")
    other = ADMIN.post("/v1/webhooks", {"name": "d2", "url": RECV.url("/d"), "events": ["*"]})
    check(other.json["secret"] != sec, "two generated secrets differ")


# --------------------------------------------------------------------------
# listing: one account of its own so totals are exact


LISTER = None
LIST_HOOKS = []


def list_account():
    global LISTER
    if LISTER is None:
        LISTER = ADMIN.create_account("lister")
        rnd = random.Random(4)
        nums = list(range(60))
        rnd.shuffle(nums)  # creation order differs from name order
        events_for = [["post.published"], ["post.*"], ["*"], ["analytics.updated"],
                      ["post.failed", "account.connected"]]
        for i, n in enumerate(nums):
            w = LISTER.create_webhook(
                name="hook-%02d%s" % (n, "-Blue" if n % 7 == 0 else ""),
                description="desc %03d" % ((n * 37) % 60),
                url=RECV.url("/list/%d" % n), events=events_for[n % 5],
                enabled=(n % 3 != 0))
            LIST_HOOKS.append(w)
    return LISTER


def list_ids(c, **query):
    r = c.get("/v1/webhooks", query=query)
    eq(r.status, 200, "list %r (%r)" % (query, r))
    return r.json


@case
def list_filters_event_name_enabled():
    c = list_account()
    by_id = {w["id"]: w for w in LIST_HOOKS}

    def ids(**q):
        return sorted(w["id"] for w in c.list_all("/v1/webhooks", **q))

    def covers(w, t):
        return any(p == "*" or p == t or (p.endswith(".*") and t.startswith(p[:-1]))
                   for p in w["events"])

    got = ids(event="post.published")
    want = sorted(i for i, w in by_id.items() if covers(w, "post.published"))
    eq(got, want, "event=post.published (exact, post.*, *)")
    got = ids(event="analytics.updated")
    want = sorted(i for i, w in by_id.items() if covers(w, "analytics.updated"))
    eq(got, want, "event=analytics.updated")
    got = ids(name="blue")
    want = sorted(i for i, w in by_id.items() if "blue" in w["name"].lower())
    check(len(want) > 0, "fixture has Blue names")
    eq(got, want, "name substring, case-insensitive")
    eq(ids(name="hook-1"), sorted(i for i, w in by_id.items() if "hook-1" in w["name"]),
       "name=hook-1")
    for val, want_enabled in (("true", True), ("false", False), ("1", True), ("0", False)):
        got = ids(enabled=val)
        want = sorted(i for i, w in by_id.items() if w["enabled"] is want_enabled)
        eq(got, want, "enabled=%s" % val)
    j = list_ids(c, event="post.published", enabled="true", count=100)
    want = [i for i, w in by_id.items() if covers(w, "post.published") and w["enabled"]]
    eq(j["total"], len(want), "total with two filters")


def key_of(field, w):
    v = w[field]
    if v is None:
        return None
    if field in ("created_at", "modified_at", "last_execution_at"):
        return parse_time(v)
    return v


def assert_ordered(items, field, desc):
    vals = [key_of(field, w) for w in items]
    # Webhooks never executed have no last_execution_at: they may come first
    # or last, but together.
    nn = [v for v in vals if v is not None]
    if len(nn) != len(vals):
        first_nn = next(i for i, v in enumerate(vals) if v is not None) if nn else len(vals)
        block = vals[first_nn:first_nn + len(nn)]
        check(None not in block, "nulls of %s not grouped at one end" % field)
    check(nn == sorted(nn, reverse=desc), "order=%s%s: values %r" % (
        "-" if desc else "", field, nn[:20]))


@case
def list_ordering_by_each_seed_004_field():
    c = list_account()
    # Give a few webhooks a last_execution_at: send them a test event.
    for w in LIST_HOOKS[:5]:
        r = c.post("/v1/webhooks/%s/test" % w["id"], {"event_type": "post.published"})
        eq(r.status, 200, "test send (%r)" % r)
    # Touch some so modified_at differs from created_at order.
    for w in LIST_HOOKS[10:14]:
        eq(c.patch("/v1/webhooks/" + w["id"], {"description": "zz touched"}).status, 200,
           "patch")
    for field in ORDER_FIELDS:
        for desc in (False, True):
            order = ("-" if desc else "") + field
            items = c.list_all("/v1/webhooks", order=order)
            eq(len(items), 60, "order=%s item count" % order)
            eq(len({w["id"] for w in items}), 60, "order=%s: no duplicates across pages" % order)
            assert_ordered(items, field, desc)
    # The default order is by name.
    items = list_ids(c, count=100)["items"]
    eq([w["name"] for w in items], sorted(w["name"] for w in items), "default order is name")
    names = [w["name"] for w in c.list_all("/v1/webhooks", order="-name")]
    eq(names, sorted(names, reverse=True), "-name")
    executed = [w for w in c.list_all("/v1/webhooks", order="-last_execution_at")
                if w["last_execution_at"]]
    eq(sorted(w["id"] for w in executed), sorted(w["id"] for w in LIST_HOOKS[:5]),
       "last_execution_at set by test sends")


@case
def list_paging_counts_and_totals():
    c = list_account()
    full = [w["id"] for w in c.list_all("/v1/webhooks", order="name")]
    eq(len(full), 60, "all webhooks")
    for count in (20, 25, 50, 100):
        seen = []
        page = 0
        while True:
            j = list_ids(c, order="name", count=count, page=page)
            eq(j["total"], 60, "total (count=%d)" % count)
            eq(j["count"], count, "count echoed")
            eq(j["page"], page, "page echoed")
            want_len = max(0, min(count, 60 - page * count))
            eq(len(j["items"]), want_len, "items on page %d of count=%d" % (page, count))
            if not j["items"]:
                break
            seen += [w["id"] for w in j["items"]]
            page += 1
        eq(seen, full, "pages of %d concatenated" % count)
    j = list_ids(c)
    eq((j["count"], j["page"], len(j["items"])), (20, 0, 20), "default page and count")
    for bad in ("7", "0", "101", "abc", "-20"):
        r = c.get("/v1/webhooks", query={"count": bad})
        eq(r.status, 422, "count=%s status" % bad)
        eq(r.error.get("field"), "count", "count=%s error field" % bad)
    r = c.get("/v1/webhooks", query={"page": "-1"})
    eq((r.status, r.error.get("field")), (422, "page"), "page=-1")
    r = c.get("/v1/webhooks", query={"order": "secret"})
    eq((r.status, r.error.get("field")), (422, "order"), "order=secret")


# --------------------------------------------------------------------------


@case
def patch_changes_only_given_fields_and_bumps_modified_at():
    w = ADMIN.create_webhook(name="patch-me", description="before", url=RECV.url("/p"),
                             events=["post.published"], max_attempts=5, method="POST")
    before = get_webhook(ADMIN, w["id"])
    after_a_tick(before["modified_at"])
    r = ADMIN.patch("/v1/webhooks/" + w["id"], {"name": "patched"})
    eq(r.status, 200, "PATCH (%r)" % r)
    check("secret" not in r.json, "PATCH answer has no secret")
    g = get_webhook(ADMIN, w["id"])
    eq(g["name"], "patched", "name changed")
    for f in before:
        if f not in ("name", "modified_at"):
            eq(g[f], before[f], "field %s untouched by PATCH name" % f)
    check(parse_time(g["modified_at"]) > parse_time(before["modified_at"]), "modified_at bumped")
    eq(g["created_at"], before["created_at"], "created_at kept")

    r = ADMIN.patch("/v1/webhooks/" + w["id"], {"events": ["post.*", "account.connected"],
                                                "enabled": False, "max_attempts": 20})
    eq(r.status, 200, "PATCH several (%r)" % r)
    g2 = get_webhook(ADMIN, w["id"])
    eq((g2["events"], g2["enabled"], g2["max_attempts"]),
       (["post.*", "account.connected"], False, 20), "patched fields")
    eq((g2["name"], g2["description"], g2["url"]), ("patched", "before", RECV.url("/p")),
       "others untouched")
    sec = ADMIN.get("/v1/webhooks/%s/secret" % w["id"]).json["secret"]
    eq(sec, w["secret"], "secret untouched by PATCH")

    # An invalid PATCH changes nothing at all, not even the valid fields in it.
    r = ADMIN.patch("/v1/webhooks/" + w["id"], {"name": "nope", "max_attempts": 0})
    eq((r.status, r.error.get("field")), (422, "max_attempts"), "invalid PATCH")
    eq(get_webhook(ADMIN, w["id"]), g2, "webhook after an invalid PATCH")


@case
def post_partial_update_like_seed_004():
    w = ADMIN.create_webhook(name="post-upd", description="d", url=RECV.url("/q"),
                             events=["post.published"])
    before = get_webhook(ADMIN, w["id"])
    after_a_tick(before["modified_at"])
    r = ADMIN.post("/v1/webhooks/" + w["id"],
                   form=[("description", "via POST -d"), ("enabled", "0")])
    eq(r.status, 200, "POST update (%r)" % r)
    g = get_webhook(ADMIN, w["id"])
    eq((g["description"], g["enabled"]), ("via POST -d", False), "updated fields")
    for f in before:
        if f not in ("description", "enabled", "status", "modified_at"):
            eq(g[f], before[f], "field %s untouched" % f)
    check(parse_time(g["modified_at"]) > parse_time(before["modified_at"]), "modified_at bumped")
    r = ADMIN.post("/v1/webhooks/" + w["id"], {"url": RECV.url("/q2")})
    eq(r.status, 200, "POST update JSON")
    eq(get_webhook(ADMIN, w["id"])["url"], RECV.url("/q2"), "url via POST JSON")


@case
def delete_then_404():
    w = ADMIN.create_webhook(name="del-me", url=RECV.url("/del"), events=["*"])
    r = ADMIN.delete("/v1/webhooks/" + w["id"])
    check(r.status in (200, 204), "DELETE status %r" % r)
    eq(ADMIN.get("/v1/webhooks/" + w["id"]).status, 404, "GET after delete")
    eq(ADMIN.delete("/v1/webhooks/" + w["id"]).status, 404, "second DELETE")
    eq(ADMIN.patch("/v1/webhooks/" + w["id"], {"name": "x"}).status, 404, "PATCH after delete")
    eq(ADMIN.get("/v1/webhooks/%s/secret" % w["id"]).status, 404, "secret after delete")
    ids = [x["id"] for x in ADMIN.list_all("/v1/webhooks")]
    check(w["id"] not in ids, "deleted webhook still listed")


def signatures(req):
    return req.header("webhook-signature").split(" ")


def expected_sig(secret, req):
    return sign_v1(secret, req.header("webhook-id"), req.header("webhook-timestamp"), req.body)


@case
def rotate_secret_old_one_still_signs():
    c = ADMIN.create_account("rotator")
    w = c.create_webhook(name="rot", url=RECV.url("/rot"), events=["post.published"])
    old = w["secret"]
    r = c.post("/v1/webhooks/%s/secret/rotate" % w["id"], {})
    eq(r.status, 200, "rotate (%r)" % r)
    new = r.json.get("secret")
    check(new and new.startswith("whsec_") and new != old, "new secret %r" % new)
    eq(c.get("/v1/webhooks/%s/secret" % w["id"]).json["secret"], new, "revealed after rotate")
    ev = c.publish("post.published", {"n": 1})
    req = RECV.wait_count(1, "/rot")[0]
    eq(req.header("webhook-id"), ev["id"], "webhook-id")
    sigs = signatures(req)
    eq(len(sigs), 2, "two v1 signatures during rotation: %r" % sigs)
    eq(sorted(sigs), sorted([expected_sig(new, req), expected_sig(old, req)]),
       "signatures by the new and the old secret")


@case
def basic_auth_account_id_and_key():
    c = ADMIN.create_account("basic-co")
    basic = H.client(c.key, c.account_id, auth="basic")
    r = basic.get("/v1/webhooks")
    eq(r.status, 200, "Basic account_id:key")
    w = basic.create_webhook(name="b", url=RECV.url("/b"), events=["*"])
    eq(c.get("/v1/webhooks/" + w["id"]).status, 200, "created via Basic, seen via Bearer")
    other = ADMIN.create_account("basic-other")
    eq(H.client(c.key, other.account_id, auth="basic").get("/v1/webhooks").status, 401,
       "Basic with another account's id")
    eq(H.client(c.key, "acct_nope", auth="basic").get("/v1/webhooks").status, 401,
       "Basic with a bogus account id")
    eq(H.client(c.key + "x", c.account_id, auth="basic").get("/v1/webhooks").status, 401,
       "Basic with a wrong key")


if __name__ == "__main__":
    main(setup, teardown)
