#include <stdatomic.h>

#include "core/metrics.h"
#include "store/store.h"

/* Histogram bounds in seconds; the attempt histogram spans a fast loopback
 * answer to the 15 s request timeout, the commit one an fsync on a fast
 * disk to a slow one. */
static const double attempt_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10,   15};
static const double commit_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
#define MAX_BUCKETS 16

struct hist {
    const double *le;
    int n;
    _Atomic int64_t buckets[MAX_BUCKETS];
    _Atomic int64_t count;
    _Atomic int64_t sum_us;
};

static _Atomic int64_t events_ingested, attempts_ok, attempts_failed, retries, exhausted, disabled,
    in_flight;
static struct hist hists[HIST__COUNT] = {
    {.le = attempt_le, .n = sizeof attempt_le / sizeof attempt_le[0]},
    {.le = commit_le, .n = sizeof commit_le / sizeof commit_le[0]},
};

static void observe(struct hist *h, int64_t us)
{
    double s = us / 1e6;
    for (int i = 0; i < h->n; i++)
        if (s <= h->le[i]) {
            atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void metrics_events_ingested(int64_t n)
{
    atomic_fetch_add_explicit(&events_ingested, n, memory_order_relaxed);
}

void metrics_attempt(bool success, int64_t duration_ms)
{
    atomic_fetch_add_explicit(success ? &attempts_ok : &attempts_failed, 1, memory_order_relaxed);
    observe(&hists[HIST_ATTEMPT], duration_ms * 1000);
}

void metrics_retry_scheduled(void)
{
    atomic_fetch_add_explicit(&retries, 1, memory_order_relaxed);
}

void metrics_delivery_exhausted(void)
{
    atomic_fetch_add_explicit(&exhausted, 1, memory_order_relaxed);
}

void metrics_webhook_disabled(void)
{
    atomic_fetch_add_explicit(&disabled, 1, memory_order_relaxed);
}

void metrics_commit(int64_t duration_us)
{
    observe(&hists[HIST_COMMIT], duration_us);
}

void metrics_set_in_flight(int64_t n)
{
    atomic_store_explicit(&in_flight, n, memory_order_relaxed);
}

static int render_hist(struct buf *out, const char *name, const char *help, struct hist *h)
{
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    int64_t cumulative = 0;
    for (int i = 0; i < h->n && rc == 0; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        rc = buf_printf(out, "%s_bucket{le=\"%g\"} %lld\n", name, h->le[i], (long long)cumulative);
    }
    int64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
    if (rc == 0)
        rc = buf_printf(out, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.6f\n%s_count %lld\n", name,
                        (long long)count, name,
                        atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, name,
                        (long long)count);
    return rc;
}

static int counter(struct buf *out, const char *name, const char *help, _Atomic int64_t *v)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %lld\n", name, help, name, name,
                      (long long)atomic_load_explicit(v, memory_order_relaxed));
}

int metrics_render(struct buf *out, const struct store_stats *st)
{
    int rc = counter(out, "herald_events_ingested_total", "Events accepted by this node.",
                     &events_ingested);
    if (rc == 0)
        rc = buf_printf(out,
                        "# HELP herald_attempts_total Delivery attempts made by this node.\n"
                        "# TYPE herald_attempts_total counter\n"
                        "herald_attempts_total{outcome=\"success\"} %lld\n"
                        "herald_attempts_total{outcome=\"failure\"} %lld\n",
                        (long long)atomic_load(&attempts_ok),
                        (long long)atomic_load(&attempts_failed));
    if (rc == 0)
        rc = render_hist(out, "herald_attempt_duration_seconds",
                         "Time from sending a delivery to its outcome.", &hists[HIST_ATTEMPT]);
    if (rc == 0)
        rc = buf_printf(out,
                        "# HELP herald_in_flight Requests this node has on the wire now.\n"
                        "# TYPE herald_in_flight gauge\nherald_in_flight %lld\n",
                        (long long)atomic_load(&in_flight));
    if (rc == 0)
        rc = counter(out, "herald_retries_scheduled_total",
                     "Failed attempts that were scheduled to retry.", &retries);
    if (rc == 0)
        rc = counter(out, "herald_deliveries_exhausted_total",
                     "Deliveries that used all their attempts.", &exhausted);
    if (rc == 0)
        rc = counter(out, "herald_webhooks_disabled_total",
                     "Webhooks this node disabled (410 Gone or failing for days).", &disabled);
    if (rc == 0)
        rc = render_hist(out, "herald_store_commit_seconds", "Duration of one ingest group commit.",
                         &hists[HIST_COMMIT]);
    if (rc == 0 && st)
        rc = buf_printf(out,
                        "# HELP herald_deliveries Deliveries in the store by status (disjoint).\n"
                        "# TYPE herald_deliveries gauge\n"
                        "herald_deliveries{status=\"pending\"} %lld\n"
                        "herald_deliveries{status=\"in_flight\"} %lld\n"
                        "herald_deliveries{status=\"succeeded\"} %lld\n"
                        "herald_deliveries{status=\"failed\"} %lld\n"
                        "# HELP herald_events Events in the store.\n"
                        "# TYPE herald_events gauge\nherald_events %lld\n",
                        (long long)(st->pending - st->in_flight), (long long)st->in_flight,
                        (long long)st->succeeded, (long long)st->failed, (long long)st->events);
    return rc;
}
