/*
 * metrics.h — process-wide counters for /metrics (Prometheus text format).
 *
 * Counters are plain atomics that any thread bumps without a lock; the
 * render step reads them once. Figures that live in the database (the
 * backlog by status) are passed in by the caller from store->ops->stats,
 * so every node reports the shared ledger, and its own traffic.
 */
#ifndef HERALD_CORE_METRICS_H
#define HERALD_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

struct store_stats;

enum metric_hist { HIST_ATTEMPT, HIST_COMMIT, HIST__COUNT };

void metrics_events_ingested(int64_t n);
void metrics_attempt(bool success, int64_t duration_ms);
void metrics_retry_scheduled(void);
void metrics_delivery_exhausted(void);
void metrics_webhook_disabled(void);
void metrics_commit(int64_t duration_us);
void metrics_set_in_flight(int64_t n);

/* Appends the whole exposition to out. stats may be NULL when the store
 * could not answer (the backlog lines are then left out). */
int metrics_render(struct buf *out, const struct store_stats *stats);

#endif
