/*
 * dispatcher.h — the delivery engine.
 *
 * One thread claims due deliveries from the store in batches, keeps them in
 * per-webhook queues, sends them with libcurl's multi interface driven by
 * epoll (curl_multi_socket_action), and records results in batches. It
 * never makes one database round trip per delivery. Per-webhook
 * max_in_flight caps and round-robin service across webhooks keep one slow
 * endpoint from delaying the others.
 */
#ifndef HERALD_DISPATCH_DISPATCHER_H
#define HERALD_DISPATCH_DISPATCHER_H

#include "core/config.h"
#include "store/store.h"

struct dispatcher;

/* Starts the dispatcher thread. cfg and s must outlive the dispatcher. */
int dispatcher_start(struct dispatcher **out, const struct herald_config *cfg, struct store *s);

/* Tells the dispatcher that new deliveries may be due now (after an ingest
 * commit, a resend or a recover). Cheap, thread-safe, never blocks. */
void dispatcher_wake(struct dispatcher *d);

/* Stops claiming, lets in-flight requests finish (up to the request
 * timeout), records their results, gives back unsent claimed deliveries,
 * joins the thread and frees d. NULL is fine. */
void dispatcher_stop(struct dispatcher *d);

/* Adapter with the committer's notify signature. */
void dispatcher_wake_cb(void *d);

#endif
