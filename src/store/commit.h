/*
 * commit.h — group commit for ingest.
 *
 * API threads hand their events to the committer and block; one committer
 * thread takes everything queued so far and commits it with a single
 * store->ingest() call (one transaction, one fsync), then wakes every
 * waiter with its outcome. Under load many requests share one commit, so
 * durability does not cap throughput; alone, a request waits for just its
 * own commit.
 *
 * A commit costs ~100 µs of CPU however few events it holds (its WAL
 * frames, the fsync's kernel work, waking the waiters) and ~7 µs per
 * event. Committing whatever is queued the moment the last commit ends
 * keeps an idle node's latency at one fsync, but under a steady stream of
 * single events it commits every few events: at 12 000 events/s, four to
 * five a commit, ~32 µs of the committer's CPU per event against ~12 µs at
 * 25. So while commits run back to back (work was queued before the last
 * one ended), the next one waits until COMMITTER_GATHER events are queued,
 * the oldest has waited linger_us, or gap_us have passed without a new
 * one, whichever comes first. No event waits longer than linger_us for
 * company; a node that is not busy never waits, nor does a client that
 * publishes its next event once answered; a few such clients wait at most
 * gap_us a commit; a stop commits at once.
 */
#ifndef HERALD_STORE_COMMIT_H
#define HERALD_STORE_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct committer;

/* Events that make a commit worth its fixed cost (see above). */
#define COMMITTER_GATHER 16
/* serve's linger: a millisecond, against E's 20 ms budget for an event's
 * whole way to its receiver. */
#define COMMITTER_LINGER_US 1000
/* serve's gap: twice the time between events at 8 000 events/s, so a
 * steady stream at that rate or more keeps gathering. */
#define COMMITTER_GAP_US 250

/* Callback run on the committer thread after each successful commit that
 * created deliveries (the dispatcher's wake-up). */
typedef void (*committer_notify_fn)(void *arg);

/* Optional: how a local dispatcher takes a commit's new deliveries without
 * claiming them (a write transaction behind the group commit's own, the
 * longest wait of a live event). Only for a store whose ops->ingest_hands_off
 * is set. lease() runs on the committer thread before each commit of n
 * events; when it returns an owner, every event of the commit gets its
 * deliveries leased to owner until *until (store_ingest.lease_owner,
 * lease_until and leased are set on the submitted items, whatever they
 * held). Once that commit is durable, offer() gets its items (read them
 * before returning) and the claims ingest made of their deliveries, instead
 * of notify(); it may take the claims (moving claims->v out and emptying
 * the list), and must not block. The owner string must outlive the
 * committer. */
struct committer_handoff {
    const char *(*lease)(void *arg, size_t n, int64_t *until);
    void (*offer)(void *arg, const struct store_ingest *items, size_t n,
                  struct store_claims *claims);
    void *arg;
};

/* Starts the committer thread. max_batch caps events per transaction;
 * linger_us bounds the wait for company (above), 0 for none, and gap_us
 * ends it once no event has come for that long. handoff may be NULL. */
int committer_start(struct committer **out, struct store *s, size_t max_batch, int64_t linger_us,
                    int64_t gap_us, committer_notify_fn notify, void *arg,
                    const struct committer_handoff *handoff);

/* Commits items (see store_ingest in store.h) and returns the store's
 * result once they are durable; blocks the calling thread. Items are
 * filled in place. HERALD_ESHUTDOWN after committer_stop began. */
int committer_submit(struct committer *c, struct store_ingest *items, size_t n);

/* Called on the committer thread once a submission's items are durable
 * (rc 0, items filled in place) or could not be committed (the store's
 * error). It must not block: every other submission waits behind it. */
typedef void (*committer_done_fn)(void *arg, int rc);

/* Queues items (n >= 1) without waiting: done(arg, rc) follows exactly
 * once, on the committer thread; items must stay valid until then.
 * HERALD_ESHUTDOWN after committer_stop began, and then done is never
 * called. */
int committer_submit_async(struct committer *c, struct store_ingest *items, size_t n,
                           committer_done_fn done, void *arg);

/* Commits what is queued, stops the thread, frees c. NULL is fine. */
void committer_stop(struct committer *c);

#endif
