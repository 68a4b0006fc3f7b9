/*
 * dispatcher.h — the delivery engine.
 *
 * One thread ("herald-dispatch") keeps claimed deliveries in per-webhook
 * queues and sends them with libcurl's multi interface driven by epoll
 * (curl_multi_socket_action), sharing the sending, while it is busy, with
 * cfg->send_threads - 1 more ("herald-send", lane.h; by default one more
 * where there is a second CPU) that run only libcurl; another one
 * ("herald-record") does its store writes: claims due deliveries in
 * batches and records results in batches (everything finished since the
 * last commit goes into the next one), so a commit never stalls the
 * transfers. It never makes one database round trip per delivery.
 * Per-webhook max_in_flight caps, an optional rate limit and round-robin
 * service across webhooks keep one slow endpoint from delaying the others.
 *
 * Leases: claims are leased to cfg->node_id for cfg->lease_ms, which must
 * exceed cfg->request_timeout_ms; so are the deliveries the group commit
 * creates leased when it hands them over (dispatcher_lease_cb). On a
 * crash either kind comes back through claim_due when its lease ends.
 * dispatcher_stop() releases every delivery still leased to cfg->node_id,
 * so nothing else (a test send, say) should lease deliveries under that
 * same owner name.
 */
#ifndef HERALD_DISPATCH_DISPATCHER_H
#define HERALD_DISPATCH_DISPATCHER_H

#include "core/config.h"
#include "store/store.h"

struct dispatcher;

/* Starts the dispatcher threads. cfg and s must outlive the dispatcher.
 * Returns 0, or HERALD_EIO/HERALD_ENOMEM when they could not start (*out is
 * then NULL and a log line says why). */
int dispatcher_start(struct dispatcher **out, const struct herald_config *cfg, struct store *s);

/* Tells the dispatcher that new deliveries may be due now (after an ingest
 * commit, a resend or a recover). Cheap, thread-safe, never blocks. */
void dispatcher_wake(struct dispatcher *d);

/* Stops claiming, lets in-flight requests finish (up to the request
 * timeout), records their results, gives back unsent claimed deliveries,
 * joins the threads and frees d. NULL is fine. */
void dispatcher_stop(struct dispatcher *d);

/* Adapter with the committer's notify signature. */
void dispatcher_wake_cb(void *d);

/* The group commit's hand-off (struct committer_handoff, commit.h), with
 * d as its arg. lease: this node's id when the dispatcher has room for n
 * more events (room as of the loop's last turn, less what earlier leases
 * reserved since) and the store's ingest hands leased deliveries over
 * (ops->ingest_hands_off, SQLite only); NULL otherwise. offer: takes the
 * claims ingest made of the deliveries it leased, and the loop sends them
 * as it sends claims, so a live event needs neither a claim transaction
 * nor a read. Both are thread-safe and never block on the store. The
 * committer must be stopped before the dispatcher (serve.c): an offer
 * after dispatcher_stop would use freed memory, and a lease granted after
 * its release() would hold rows until the lease expires. */
const char *dispatcher_lease_cb(void *d, size_t n, int64_t *until);
void dispatcher_offer_cb(void *d, const struct store_ingest *items, size_t n,
                         struct store_claims *claims);

#endif
