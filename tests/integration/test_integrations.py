#!/usr/bin/env python3
"""Chat destinations and rows (issue 8, items 1 and 2), end to end: local
stand-ins for a Slack and a Discord incoming webhook receive readable
messages (retried like any delivery, Discord's 204 and 429 included);
test sends and operational events reach them; the rows format sends a flat
object, as JSON or as form fields, signed as usual."""

import json
import os
import sys
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, Reply, case, check, eq, main, sign_v1, wait_for  # noqa: E402

H = None
ADMIN = None
RECV = None

PUBLISHED = {"post_id": "post_abc123", "platforms": ["instagram", "x"],
             "published_at": "2025-10-05T14:30:00Z",
             "urls": {"instagram": "https://instagram.com/p/abc123",
                      "x": "https://x.com/user/status/456"}}


def setup():
    global H, ADMIN, RECV
    RECV = Receiver()
    H = Herald(retry_schedule="0.2,0.2").start()
    ADMIN = H.admin()


def teardown():
    try:
        H.stop()
    finally:
        RECV.stop()


def account(name):
    return ADMIN.create_account(name)


def statuses(c, eid):
    return [d["status"] for d in c.get("/v1/events/" + eid).json["deliveries"]]


def wait_done(c, eid, status="succeeded"):
    wait_for(lambda: (lambda s: s and all(x == status for x in s))(statuses(c, eid)),
             what="deliveries of %s %s" % (eid, status))


def texts(blocks):
    """Every mrkdwn/plain_text string of a Slack message's blocks."""
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        for f in b.get("fields", []):
            out.append(f["text"])
        for e in b.get("elements", []):
            out.append(e["text"])
    return out


# --------------------------------------------------------------------------


@case
def slack_gets_a_readable_message():
    c = account("slack")
    w = c.create_webhook(name="team channel", url=RECV.url("/services/T0/B0/xyz"), kind="slack",
                         events=["post.published"])
    eq(w["kind"], "slack", "kind in the answer")
    ev = c.publish("post.published", PUBLISHED)
    r = RECV.wait_count(1, "/services/T0/B0/xyz")[0]
    eq(r.header("Content-Type"), "application/json", "Content-Type")
    check(r.header("webhook-signature") is None, "chat messages are not signed")
    eq(r.header("webhook-id"), ev["id"], "webhook-id kept for tracing")
    msg = r.json
    eq(msg["text"], "Post post_abc123 was published to instagram, x.", "notification text")
    eq(msg["blocks"][0], {"type": "header", "text": {"type": "plain_text",
                                                      "text": "Post published"}}, "header block")
    all_text = "\n".join(texts(msg["blocks"]))
    check("<https://instagram.com/p/abc123|instagram>" in all_text, "link: %s" % all_text)
    check("<https://x.com/user/status/456|x>" in all_text, "link: %s" % all_text)
    check(ev["id"] in all_text, "event id in the context line")
    wait_done(c, ev["id"])


@case
def discord_gets_content_and_an_embed():
    c = account("discord")
    RECV.script("/api/webhooks/1/tok", [Reply(204, b"")])
    c.create_webhook(name="ops", url=RECV.url("/api/webhooks/1/tok"), kind="discord",
                     events=["post.failed"])
    ev = c.publish("post.failed", {"post_id": "post_9", "platform": "instagram",
                                   "error": {"code": "media_rejected",
                                             "message": "The video exceeds 90 seconds."}})
    msg = RECV.wait_count(1, "/api/webhooks/1/tok")[0].json
    eq(msg["content"], "Post post_9 failed to publish on instagram: The video exceeds 90 "
       "seconds.", "content")
    e = msg["embeds"][0]
    eq(e["title"], "Post failed", "embed title")
    fields = {f["name"]: f["value"] for f in e["fields"]}
    eq(fields.get("Error"), "The video exceeds 90 seconds.", "error field")
    eq(fields.get("Error code"), "`media_rejected`", "error code field")
    eq(msg["allowed_mentions"], {"parse": []}, "no pings from event data")
    wait_done(c, ev["id"])  # 204 No Content is a success


@case
def chat_deliveries_retry_like_any_other():
    c = account("retry")
    RECV.script("/slack-flaky", [Reply(500, b"oops"), Reply(200, b"ok")])
    RECV.script("/discord-limited", [Reply(429, b'{"retry_after":0.1}',
                                           headers={"Retry-After": "0"}), Reply(204, b"")])
    w1 = c.create_webhook(name="s", url=RECV.url("/slack-flaky"), kind="slack",
                          events=["analytics.milestone"])
    w2 = c.create_webhook(name="d", url=RECV.url("/discord-limited"), kind="discord",
                          events=["analytics.milestone"])
    ev = c.publish("analytics.milestone", {"post_id": "post_abc123", "milestone": "views",
                                           "threshold": 10000, "value": 10342})
    wait_done(c, ev["id"])
    for w in (w1, w2):
        log = c.log(w["id"])
        eq(len(log), 2, "two attempts logged for %s" % w["name"])
        check(log[1]["error"] == "http" and not log[0]["error"], "failed then succeeded")
    s = RECV.received("/slack-flaky")
    eq(s[0].body, s[1].body, "the same message on the retry")
    eq(s[1].json["blocks"][0]["text"]["text"], "Milestone: 10,000 views", "milestone header")
    eq(RECV.received("/discord-limited")[1].json["content"],
       "Post post_abc123 passed 10,000 views (now 10,342).", "milestone text")


@case
def test_send_and_operational_events_reach_chat():
    c = account("ops")
    slack = c.create_webhook(name="alerts", url=RECV.url("/ops-slack"), kind="slack",
                             events=["delivery.exhausted", "webhook.disabled"])
    r = c.post("/v1/webhooks/%s/test" % slack["id"], {"event_type": "account.token_expired"})
    eq(r.status, 200, "test send (%r)" % r)
    eq(r.json["attempt"]["response_code"], 200, "stand-in answered")
    msg = RECV.wait_count(1, "/ops-slack")[0].json
    eq(msg["blocks"][0]["text"]["text"], "Reconnect x: the token expired", "token layout")
    check("Reconnect the account in Settings" in "\n".join(texts(msg["blocks"])),
          "says what to do")
    # A webhook that fails for good raises delivery.exhausted, then 410
    # raises webhook.disabled: both land in the channel.
    RECV.script("/dead", [Reply(500, b"no")])
    RECV.script("/gone", [Reply(410, b"gone")])
    c.create_webhook(name="dead", url=RECV.url("/dead"), events=["post.deleted"], max_attempts=1)
    gone = c.create_webhook(name="gone", url=RECV.url("/gone"), events=["post.scheduled"])
    c.publish("post.deleted", {"post_id": "p1"})
    c.publish("post.scheduled", {"post_id": "p2"})
    got = RECV.wait_count(3, "/ops-slack")
    titles = sorted(m.json["blocks"][0]["text"]["text"] for m in got[1:])
    eq(titles, ["Delivery failed after 1 attempt", "Webhook disabled"], "operational layouts")
    disabled = [m.json for m in got[1:] if "disabled" in m.json["text"]][0]
    check(gone["id"] in disabled["text"], "names the webhook: %r" % disabled["text"])


@case
def rows_is_a_flat_object():
    c = account("rows")
    w = c.create_webhook(name="sheet", url=RECV.url("/macros/s/abc/exec"), payload_format="rows",
                         events=["analytics.updated"])
    eq(w["payload_format"], "rows", "payload_format in the answer")
    data = (b'{"post_id":"post_abc123","metrics":{"views":5420,"engagement_rate":7.20},'
            b'"platforms":["instagram","x"]}')
    r = c.request("POST", "/v1/events", raw=b'{"type":"analytics.updated","data":' + data + b"}",
                  content_type="application/json")
    eq(r.status, 202, "publish")
    ev = r.json
    req = RECV.wait_count(1, "/macros/s/abc/exec")[0]
    want = ('{"id":"%s","type":"analytics.updated","timestamp":"%s",'
            '"data.post_id":"post_abc123","data.metrics.views":5420,'
            '"data.metrics.engagement_rate":7.20,"data.platforms":"[\\"instagram\\",\\"x\\"]"}'
            % (ev["id"], ev["timestamp"]))
    eq(req.body.decode(), want, "flat body, numbers as published")
    secret = c.get("/v1/webhooks/%s/secret" % w["id"]).json["secret"]
    eq(req.header("webhook-signature"),
       sign_v1(secret, ev["id"], req.header("webhook-timestamp"), req.body), "signed as sent")


@case
def rows_as_form_fields():
    c = account("rows-form")
    c.create_webhook(name="airtable", url=RECV.url("/form-rows"), payload_format="rows",
                     content_type="application/x-www-form-urlencoded", events=["post.published"])
    ev = c.publish("post.published", PUBLISHED)
    req = RECV.wait_count(1, "/form-rows")[0]
    eq(req.header("Content-Type"), "application/x-www-form-urlencoded", "form type")
    fields = urllib.parse.parse_qs(req.body.decode(), keep_blank_values=True)
    eq(fields["id"], [ev["id"]], "id field")
    eq(fields["data.urls.instagram"], ["https://instagram.com/p/abc123"], "nested field")
    eq(json.loads(fields["data.platforms"][0]), ["instagram", "x"], "array as JSON text")


@case
def chat_kinds_refuse_what_they_cannot_send():
    base = {"name": "c", "url": RECV.url("/c"), "events": ["*"], "kind": "slack"}
    for extra, field in (({"payload_format": "rows"}, "payload_format"),
                         ({"signature_scheme": "github"}, "signature_scheme"),
                         ({"content_type": "application/x-www-form-urlencoded"},
                          "content_type")):
        r = ADMIN.post("/v1/webhooks", dict(base, **extra))
        eq((r.status, r.error.get("field")), (422, field), "kind slack with %r" % extra)
    r = ADMIN.post("/v1/webhooks", dict(base, kind="teams"))
    eq((r.status, r.error.get("field")), (422, "kind"), "unknown kind")


if __name__ == "__main__":
    main(setup, teardown)
