#!/usr/bin/env python3
"""/metrics (issue 8, item 7): the Prometheus text exposition format,
checked line by line by a small parser written from the format's
specification, and every figure the issue names moving as deliveries
happen: events ingested, attempts by outcome, the attempt latency
histogram, requests in flight, the backlog, retries scheduled, deliveries
exhausted, webhooks disabled, store commit latency."""

import math
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, Reply, case, check, eq, main, wait_for  # noqa: E402

H = None
ADMIN = None
RECV = None

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,(?:%s))*,?\})? (\S+)(?: (-?\d+))?$" % (NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}


def parse_value(v):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    return float(v)


def parse(text):
    """Parses Prometheus text format 0.0.4 strictly; returns
    {(name, frozenset(labels)): value} and {family: type}. Raises on any
    line the format does not allow."""
    check(text.endswith("\n"), "exposition ends with a newline")
    samples, types, helps = {}, {}, set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            continue
        if line.startswith("#"):
            m = HELP.match(line) or TYPE.match(line)
            if not m:
                check(not line.startswith("# HELP") and not line.startswith("# TYPE"),
                      "line %d: malformed %r" % (n, line))
                continue
            fam = m.group(1)
            if line.startswith("# TYPE"):
                check(fam not in types, "line %d: second TYPE for %s" % (n, fam))
                check(not any(k[0] in (fam, fam + "_bucket", fam + "_sum", fam + "_count")
                              for k in samples),
                      "line %d: TYPE %s after its samples" % (n, fam))
                types[fam] = m.group(2)
            else:
                check(fam not in helps, "line %d: second HELP for %s" % (n, fam))
                helps.add(fam)
            continue
        m = SAMPLE.match(line)
        check(m, "line %d: not a sample line: %r" % (n, line))
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = family(name, types)
        check(fam, "line %d: %s has no TYPE before it" % (n, name))
        pairs = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
        key = (name, pairs)
        check(key not in samples, "line %d: duplicate sample %s%s" % (n, name, labels))
        try:
            samples[key] = parse_value(value)
        except ValueError:
            raise AssertionError("line %d: bad value %r" % (n, value))
    check_histograms(samples, types)
    return samples, types


def family(name, types):
    if name in types:
        return name
    for fam, t in types.items():
        for suf in SUFFIXES.get(t, ()):
            if suf and name == fam + suf:
                return fam
    return None


def check_histograms(samples, types):
    for fam, t in types.items():
        if t == "counter":
            check(fam.endswith("_total"), "counter %s ends in _total" % fam)
        if t != "histogram":
            continue
        buckets = sorted((parse_value(dict(k[1])["le"]), v) for k, v in samples.items()
                         if k[0] == fam + "_bucket")
        check(buckets and math.isinf(buckets[-1][0]), "%s has a +Inf bucket" % fam)
        counts = [v for _, v in buckets]
        check(counts == sorted(counts), "%s buckets are cumulative: %r" % (fam, buckets))
        eq(buckets[-1][1], samples[(fam + "_count", frozenset())], "%s +Inf == count" % fam)
        check((fam + "_sum", frozenset()) in samples, "%s has a sum" % fam)


def scrape():
    r = ADMIN.get("/metrics")
    eq(r.status, 200, "GET /metrics")
    check(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"),
          "Prometheus content type: %r" % r.headers["Content-Type"])
    return parse(r.body.decode("utf-8"))[0]


def val(s, name, **labels):
    return s.get((name, frozenset(labels.items())), None)


def setup():
    global H, ADMIN, RECV
    RECV = Receiver()
    H = Herald(retry_schedule="0.2,0.2", args=["--request-timeout-ms", "3000"]).start()
    ADMIN = H.admin()


def teardown():
    RECV.release_hangs()
    try:
        H.stop()
    finally:
        RECV.stop()


# --------------------------------------------------------------------------


@case
def exposition_parses_and_has_every_family():
    s = scrape()
    names = {k[0] for k in s}
    for want in ("herald_events_ingested_total", "herald_attempts_total",
                 "herald_attempt_duration_seconds_bucket", "herald_in_flight",
                 "herald_retries_scheduled_total", "herald_deliveries_exhausted_total",
                 "herald_webhooks_disabled_total", "herald_store_commit_seconds_bucket",
                 "herald_deliveries"):
        check(want in names, "%s exposed: %s" % (want, sorted(names)))
    for status in ("pending", "in_flight", "succeeded", "failed"):
        check(val(s, "herald_deliveries", status=status) is not None, "backlog %s" % status)


@case
def metrics_need_an_admin_key():
    c = ADMIN.create_account("not-admin")
    eq(c.get("/metrics").status, 403, "an account key may not scrape")


@case
def counters_follow_successful_deliveries():
    c = ADMIN.create_account("ok")
    c.create_webhook(name="a", url=RECV.url("/ok-a"), events=["post.published"])
    c.create_webhook(name="b", url=RECV.url("/ok-b"), events=["post.published"])
    before = scrape()
    for i in range(3):
        c.publish("post.published", {"post_id": "p%d" % i})
    RECV.wait_count(3, "/ok-a")
    RECV.wait_count(3, "/ok-b")
    def settled():
        # Counters move when an attempt ends; the backlog once its result
        # is committed, a moment later.
        s = scrape()
        if (val(s, "herald_attempts_total", outcome="success") -
                val(before, "herald_attempts_total", outcome="success") >= 6 and
                val(s, "herald_deliveries", status="succeeded") -
                val(before, "herald_deliveries", status="succeeded") >= 6):
            return s
        return None
    after = wait_for(settled, what="6 successful attempts counted and recorded")

    def d(name, **labels):
        return val(after, name, **labels) - val(before, name, **labels)
    eq(d("herald_events_ingested_total"), 3, "events ingested")
    eq(d("herald_attempts_total", outcome="success"), 6, "successful attempts")
    eq(d("herald_attempts_total", outcome="failure"), 0, "no failures")
    eq(d("herald_attempt_duration_seconds_count"), 6, "attempt histogram count")
    check(d("herald_attempt_duration_seconds_sum") >= 0, "attempt histogram sum")
    check(d("herald_store_commit_seconds_count") >= 1, "commit latency observed")
    eq(d("herald_deliveries", status="succeeded"), 6, "backlog: succeeded grew by 6")


@case
def retries_exhaustion_and_disabling_are_counted():
    c = ADMIN.create_account("bad")
    RECV.script("/fail", [Reply(500, b"no")])
    RECV.script("/gone", [Reply(410, b"gone")])
    c.create_webhook(name="fail", url=RECV.url("/fail"), events=["post.failed"], max_attempts=3)
    c.create_webhook(name="gone", url=RECV.url("/gone"), events=["post.deleted"])
    before = scrape()
    c.publish("post.failed", {"post_id": "x"})
    c.publish("post.deleted", {"post_id": "y"})
    RECV.wait_count(3, "/fail")
    RECV.wait_count(1, "/gone")

    def settled():
        s = scrape()
        if (val(s, "herald_deliveries_exhausted_total") -
                val(before, "herald_deliveries_exhausted_total") >= 1 and
                val(s, "herald_webhooks_disabled_total") -
                val(before, "herald_webhooks_disabled_total") >= 1 and
                val(s, "herald_deliveries", status="failed") -
                val(before, "herald_deliveries", status="failed") >= 2):
            return s
        return None
    after = wait_for(settled, what="exhaustion and disabling counted")

    def d(name, **labels):
        return val(after, name, **labels) - val(before, name, **labels)
    eq(d("herald_attempts_total", outcome="failure"), 4, "3 failed + 1 gone")
    eq(d("herald_retries_scheduled_total"), 2, "retries after attempts 1 and 2")
    eq(d("herald_deliveries_exhausted_total"), 1, "one delivery exhausted")
    eq(d("herald_webhooks_disabled_total"), 1, "one webhook disabled (410)")
    eq(d("herald_deliveries", status="failed"), 2, "backlog: failed grew by 2")


@case
def in_flight_and_pending_backlog():
    c = ADMIN.create_account("slow")
    RECV.script("/hang", [Reply(hang=True)])
    c.create_webhook(name="hang", url=RECV.url("/hang"), events=["account.connected"],
                     max_attempts=1)
    c.publish("account.connected", {"account_id": "a"})
    RECV.wait_count(1, "/hang")
    s = wait_for(lambda: (lambda s: s if val(s, "herald_in_flight") >= 1 else None)(scrape()),
                 what="herald_in_flight >= 1 while a request hangs")
    check(val(s, "herald_deliveries", status="in_flight") >= 1, "backlog: in flight")
    # The 3 s request timeout ends it; the gauge goes back to zero.
    wait_for(lambda: val(scrape(), "herald_in_flight") == 0, what="herald_in_flight back to 0")


if __name__ == "__main__":
    main(setup, teardown)
