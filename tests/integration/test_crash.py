#!/usr/bin/env python3
"""Crash safety (issue 3, item 9): 20 000 events are published in batches
while herald is killed with kill -9 ten times and restarted on the same
database. Every event the client got a 202 for must reach the receiver at
least once (identified by webhook-id); duplicates are allowed and counted.
A request that failed because of a kill is not counted as accepted."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CountingReceiver, Herald, batch_ids, case, check, eq, main, wait_for  # noqa: E402

TOTAL = int(os.environ.get("HERALD_CRASH_EVENTS", "20000"))
KILLS = int(os.environ.get("HERALD_CRASH_KILLS", "10"))
BATCH = 100

H = None
SINK = None


def setup():
    global H, SINK
    SINK = CountingReceiver()
    # A short request timeout and lease: deliveries leased by a killed
    # process go out again soon after their lease expires.
    H = Herald(retry_schedule="0.2,0.4", args=["--request-timeout-ms", "2000",
                                               "--lease-ms", "8000"]).start()


def teardown():
    try:
        H.stop()
    finally:
        SINK.stop()


class Publisher(threading.Thread):
    """Publishes batches until TOTAL events were accepted. Only ids from a
    202 answer count; a request cut by a kill is simply not counted."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self.accepted = set()
        self.failed_requests = 0
        self.other_status = {}
        self.seq = 0
        self.error = None

    def run(self):
        try:
            while len(self.accepted) < TOTAL:
                n = min(BATCH, TOTAL - len(self.accepted))
                events = [{"type": "post.published", "data": {"seq": self.seq + i}}
                          for i in range(n)]
                self.seq += n
                try:
                    r = self.client.post("/v1/events/batch", {"events": events})
                except OSError:
                    # herald is down (being killed or restarting).
                    self.failed_requests += 1
                    time.sleep(0.05)
                    continue
                if r.status == 202:
                    ids = batch_ids(r.json)
                    if len(ids) != n:
                        raise AssertionError("202 for %d events listed %d ids" % (n, len(ids)))
                    self.accepted.update(ids)
                else:
                    self.other_status[r.status] = self.other_status.get(r.status, 0) + 1
                    if r.status not in (503, 429):
                        raise AssertionError("unexpected answer to a batch: %r" % r)
                    time.sleep(0.05)
        except Exception as e:  # reported by the case
            self.error = e


@case
def kill_9_ten_times_loses_no_accepted_event():
    c = H.admin().create_account("crash")
    c.create_webhook(name="sink", url=SINK.url("/sink"), events=["post.published"],
                     max_attempts=20)
    pub = Publisher(c)
    pub.start()
    for i in range(1, KILLS + 1):
        # Kill in the middle of the stream: while batches are being
        # committed and deliveries are being sent.
        target = TOTAL * i // (KILLS + 1)
        wait_for(lambda: len(pub.accepted) >= target or pub.error or not pub.is_alive(),
                 timeout=300, interval=0.01, what="%d accepted events" % target)
        if pub.error:
            raise pub.error
        H.kill9()
        print("    kill -9 #%d at %d accepted, %d delivered" % (
            i, len(pub.accepted), len(SINK.ids())), flush=True)
        H.start()
    pub.join(600)
    check(not pub.is_alive(), "publisher finished")
    if pub.error:
        raise pub.error
    eq(len(pub.accepted), TOTAL, "accepted events")

    def all_arrived():
        return not (pub.accepted - set(SINK.ids()))
    try:
        wait_for(all_arrived, timeout=300, interval=0.5, what="every accepted event to arrive")
    finally:
        seen = SINK.ids()
        missing = pub.accepted - set(seen)
        dups = sum(n - 1 for k, n in seen.items() if k in pub.accepted and n > 1)
        extra = len(set(seen) - pub.accepted)
        print("    accepted %d, received %d distinct, missing %d, duplicates %d, "
              "unacknowledged-but-delivered %d, failed requests %d, other answers %r" % (
                  len(pub.accepted), len(set(seen) & pub.accepted), len(missing), dups, extra,
                  pub.failed_requests, pub.other_status), flush=True)
        if missing:
            print("    first missing: %s" % sorted(missing)[:5], flush=True)
    check(None not in seen, "every delivery carried a webhook-id")


if __name__ == "__main__":
    main(setup, teardown)
