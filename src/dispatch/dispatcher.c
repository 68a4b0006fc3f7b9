/*
 * dispatcher.c — the delivery engine (see dispatcher.h).
 *
 * Two threads, plus cfg->send_threads - 1 lanes (by default one, where
 * there is a second CPU). The loop thread owns every decision: epoll waits
 * on libcurl's sockets and three eventfds (wake-ups from outside,
 * completions from the store worker, transfers back from the lanes), with
 * a timeout that is the nearest of libcurl's timer, the next due delivery
 * and a rate-limited webhook's next token. Each turn it
 *   1. lets libcurl progress (curl_multi_socket_action),
 *   2. judges finished transfers, its own and the lanes' (attempt_finish +
 *      retry_decide), and hands them to the store worker,
 *   3. takes back what the worker recorded (recycling the transfers) and
 *      the deliveries it claimed (into per-webhook FIFO queues),
 *   4. asks for a claim while capacity is free,
 *   5. starts transfers round robin over the webhooks that have work and
 *      room under their max_in_flight (and rate limit): it builds and signs
 *      each request, then sends it on its own multi or hands it to a lane
 *      (lane.h), a thread that only runs libcurl, whichever has fewer in
 *      flight (update_spill: only while the loop itself is busy). libcurl
 *      and the kernel's TCP path are most of a delivery's network CPU; one
 *      thread doing all of it was the drain's limit with a core a quarter
 *      idle. Caps, queues and rate limits stay the loop's alone, so they
 *      hold exactly whatever lane a transfer takes.
 *
 * The store worker is the only thread that writes to the store for the
 * dispatcher: it records every result handed over since its last commit in
 * one record() call, and runs claim_due() when asked. A commit (an fsync)
 * therefore never stalls the transfers in flight, and results group-commit
 * by themselves: the slower the commit, the bigger the next batch. (The
 * first version did both on the loop thread; each 7 ms commit left every
 * connection idle, and the drain rate was a third of libcurl's.)
 *
 * Leases. A claimed delivery is leased to this node for cfg->lease_ms; so
 * is one the group commit hands over (dispatcher_lease_cb), born leased,
 * whose claim ingest made in memory (store_ingest.leased) and the loop
 * queues like any other. Each claim carries the lease written on its row
 * (store_claim.lease_until), and a queued delivery starts only while that
 * lease still covers a whole request (start_by: max_wait_ms after the
 * lease began), however long the claim took to reach the loop; one that
 * waited too long is dropped from memory, stays leased, and comes back
 * through claim_due when the lease expires — so a queued delivery can
 * never be sent by two nodes at once. To keep that rare, each webhook's
 * queue is capped at what it can start within the lease given its
 * observed latency. The rest of a claim goes back to the store, due when
 * the webhook should have room; until a webhook's first attempt ends, its
 * latency is only a guess, so that rest stays leased here without its
 * payload (hold_claim) and goes back once the first answer, or its
 * start_by, says when.
 *
 * A deleted webhook: store->webhook_delete() already failed its pending and
 * in-flight deliveries, so claims that raced with the delete are simply
 * dropped (recording an attempt for a webhook that no longer exists would
 * only add a log row nobody can see).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "dispatch/dispatcher.h"
#include "dispatch/lane.h"
#include "dispatch/retry.h"
#include "dispatch/send.h"
#include "dispatch/sockets.h"

#define CLAIM_BATCH_MAX 512    /* deliveries per claim_due call */
#define CLAIM_CHUNK_MIN 128    /* free slots worth a claim while work is queued */
#define SAFETY_POLL_MS 5000    /* longest sleep without asking the store */
#define DEAF_POLL_MS 1000      /* the same while the store's notify_fd is down */
#define LEASE_MARGIN_MS 5000   /* time kept in a lease for recording the result */
#define INITIAL_LATENCY_MS 100 /* latency assumed for a webhook not yet measured */
#define HOLD_MAX 4096          /* surplus claims kept leased until their webhook answers */
#define QUEUE_HORIZON_MS 1000  /* a webhook queues what it can start this soon */
#define SWEEP_MS 60000         /* idle cached webhooks are forgotten after this */
#define RECORD_BACKOFF_MS 200  /* wait before retrying a failed record() */
#define RECORD_BATCH 256       /* results that make a record() at once */
#define RECORD_WAIT_MS 5       /* oldest result's age that makes a record() anyway */
#define TOUCH_EVERY_MS 1000    /* a webhook's last_execution_at may lag this much */
#define MAX_EVENTS 64
#define MAX_LANES 8         /* the loop's own multi and up to seven lane threads */
#define SPILL_WINDOW_MS 100 /* how often the loop reads its own CPU use */
#define SPILL_ON 0.5        /* share of a core past which transfers go to lanes too */
#define SPILL_OFF 0.35      /* ... and under which they stay on the loop's own multi */

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* One claimed delivery waiting in its webhook's queue or being sent. */
struct job {
    struct store_claim c; /* payload owned; c.lease_until gives its start_by */
    struct job *next;
};

/* A cached webhook with its queue and counters. Lives until swept idle. */
struct wh {
    char id[HERALD_ID_MAX];
    bool loaded;
    struct store_webhook w;
    struct send_target t; /* borrows w */
    bool disabled;        /* in the store, or decided here and not yet recorded */
    int64_t failing_since;
    int in_flight;
    struct job *qhead, *qtail;
    size_t queued;
    bool in_ring;
    struct wh *rnext, *rprev; /* ring of webhooks that have work and room */
    struct wh *hnext;         /* hash chain */
    double tokens;            /* rate limit token bucket */
    int64_t tokens_mono;
    int64_t latency_ms; /* moving average of attempt durations */
    bool measured;      /* latency_ms is from an attempt, not INITIAL_LATENCY_MS */
    size_t n_held;      /* its entries in d->held */
    int64_t used_mono;
    int64_t touched_mono;  /* last result recorded not quiet (store_result) */
    size_t deferred;       /* surplus given back in the current burst */
    int64_t deferred_mono; /* when the last was given back */
};

/* One transfer: an easy handle and an attempt, recycled through a free list
 * so the steady state allocates neither. After completion it carries its
 * result to the store worker and back. */
struct xfer {
    struct attempt a;
    CURL *easy;
    struct job *job;
    struct wh *wh; /* while in flight */
    struct retry_decision dec;
    char attempt_id[HERALD_ID_MAX];
    char *emit_exhausted; /* owned JSON data, or NULL */
    char *emit_disabled;
    bool recorded; /* set by the worker */
    bool quiet;    /* store_result.quiet */
    unsigned lane; /* whose multi its handle is sent in: 0 the loop's, k d->lanes[k] */
    struct xfer *next;
};

/* A surplus claim of a webhook that has not answered yet, still leased:
 * given back (defer) once the webhook's first attempt says how fast it is,
 * or at its start_by at the latest, when a queued one would be dropped
 * (hold_claim). */
struct held {
    struct wh *w;
    char delivery_id[HERALD_ID_MAX];
    int64_t lease_until; /* the claim's lease (store_deferral.lease_until; start_by) */
};

/* The store worker's mailbox. Everything here is guarded by mu; the loop
 * thread hands work in and is told through notify_fd when work came back. */
struct worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int notify_fd;
    bool stop;
    /* loop -> worker */
    struct xfer *todo, **todo_tail; /* results to record */
    size_t n_todo;
    int64_t todo_since; /* mono ms when todo became non-empty */
    size_t claim_want;  /* 0: no claim asked for */
    /* worker -> loop */
    struct xfer *done, **done_tail; /* recorded (or given up) */
    bool claimed;                   /* a claim finished: the fields below are set */
    struct store_claim *claims;
    size_t n_claims;
    int64_t claim_now;
    int64_t next_claim_at;        /* wall ms suggested by the claim's outcome */
    struct store_deferral *defer; /* claims given back unsent (owned) */
    size_t n_defer;
    int64_t defer_due; /* worker -> loop: earliest due of those written, INT64_MAX when none */
    /* committer -> loop: deliveries leased to this node at insert, as
     * ingest made them (dispatcher_offer_cb; owned) */
    struct store_claim *offered;
    size_t n_offered;
    /* the worker's own */
    struct store_result *results;
    struct store_ingest *emits;
    size_t cap_results;
    int64_t last_warn;
};

struct dispatcher {
    const struct herald_config *cfg;
    struct store *s;
    pthread_t thread;
    atomic_bool stopping;
    int epfd, evfd;
    struct sockreg socks; /* libcurl's sockets in epfd */
    int store_fd;         /* the store's notify_fd() in the epoll set, -1 when none */
    CURLM *multi;
    int64_t curl_deadline; /* mono ms, -1 when libcurl has no timer */
    int64_t next_claim_at; /* wall ms */
    bool claim_pending;    /* asked the worker, no answer yet */
    int64_t max_wait_ms;   /* longest a claimed delivery may wait to start */

    struct wh **buckets;
    size_t nbuckets, nwh;
    struct wh *ring; /* next webhook to serve */
    size_t ring_len;
    int64_t token_wake; /* mono ms when a rate-limited webhook gets a token */

    size_t n_inflight, n_queued;
    size_t n_recording; /* finished, not yet back from the worker */

    /* Sending: lane 0 is d->multi, driven by this loop; lanes 1.. are
     * threads of their own (lane.h), fed at the end of each turn. Each
     * transfer's handle keeps to one lane, whose pool it is recycled in. */
    size_t n_lanes;
    struct lane *lanes[MAX_LANES];
    int lanefd; /* eventfd the lanes write when transfers come back */
    struct xfer *free_xfers[MAX_LANES];
    size_t lane_inflight[MAX_LANES];
    struct {
        CURL **v;
        size_t n, cap;
    } submit[MAX_LANES];
    struct lane_done *collected; /* scratch: finished transfers, any lane */
    size_t cap_collected;
    bool spill;                /* lanes take transfers (the loop is busy) */
    int64_t spill_window_mono; /* start of the current CPU window */
    int64_t spill_window_cpu;  /* the loop thread's CPU ns then */

    struct job *free_jobs;
    struct xfer *finished, **finished_tail; /* judged, not yet handed over */
    size_t n_finished;
    struct store_deferral *defer; /* surplus claims, not yet handed over */
    size_t n_defer, cap_defer;
    struct held *held; /* hold_claim */
    size_t n_held, cap_held;
    int64_t held_next; /* wall ms: the earliest start_by held, INT64_MAX when none */

    struct worker wk;
    /* capacity() as of the loop's last turn, for the committer's lease
     * decision on its own thread */
    atomic_size_t room;
    uint64_t rng;
    int64_t last_sweep_mono;
    int64_t last_warn;
};

/* ---- small helpers ---- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Uniform in [-1, 1] from xorshift64*: jitter needs spread, not secrecy. */
static double jitter(struct dispatcher *d)
{
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    uint64_t r = d->rng * 2685821657736338717ULL;
    return (double)(r >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

/* Store errors are logged at most once every few seconds (per thread):
 * when the database is down, every turn would otherwise log. */
static void store_warn(int64_t *last, const char *what, int rc)
{
    int64_t now = clock_mono_ms();
    if (*last != 0 && now - *last < 5000)
        return;
    *last = now;
    log_kv(LOG_WARN, "dispatcher store error", "op", what, "error", herald_strerror(rc), NULL);
}

/* ---- webhook cache ---- */

static size_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static void cache_grow(struct dispatcher *d)
{
    size_t nb = d->nbuckets * 2;
    struct wh **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct wh *w = d->buckets[i];
        while (w) {
            struct wh *next = w->hnext;
            size_t j = hash_id(w->id) & (nb - 1);
            w->hnext = b[j];
            b[j] = w;
            w = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = nb;
}

static struct wh *cache_find(struct dispatcher *d, const char *id)
{
    for (struct wh *w = d->buckets[hash_id(id) & (d->nbuckets - 1)]; w; w = w->hnext)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static struct wh *cache_add(struct dispatcher *d, const char *id)
{
    if (d->nwh >= d->nbuckets)
        cache_grow(d);
    struct wh *w = xcalloc(1, sizeof *w);
    str_copy(w->id, sizeof w->id, id);
    w->latency_ms = INITIAL_LATENCY_MS;
    size_t i = hash_id(id) & (d->nbuckets - 1);
    w->hnext = d->buckets[i];
    d->buckets[i] = w;
    d->nwh++;
    return w;
}

static void wh_free(struct wh *w)
{
    if (w->loaded) {
        send_target_release(&w->t);
        store_webhook_release(&w->w);
    }
    free(w);
}

/* Reads the webhook from the store into the cache entry. */
static int wh_load(struct dispatcher *d, struct wh *w)
{
    struct store_webhook fresh;
    memset(&fresh, 0, sizeof fresh);
    int rc = d->s->ops->webhook_get_any(d->s, w->id, &fresh);
    if (rc != 0)
        return rc;
    if (w->loaded) {
        send_target_release(&w->t);
        store_webhook_release(&w->w);
    }
    w->w = fresh;
    send_target_init(&w->t, &w->w);
    w->loaded = true;
    w->disabled = !w->w.enabled;
    w->failing_since = w->w.failing_since;
    if (w->w.max_in_flight < 1)
        w->w.max_in_flight = 1;
    w->tokens = w->w.rate_limit > 0 ? w->w.rate_limit : 0;
    w->tokens_mono = clock_mono_ms();
    return 0;
}

/* ---- the ring of webhooks ready to start a transfer ---- */

static void ring_add(struct dispatcher *d, struct wh *w)
{
    if (w->in_ring)
        return;
    w->in_ring = true;
    if (!d->ring) {
        w->rnext = w->rprev = w;
        d->ring = w;
    } else { /* just before the cursor: served last in this round */
        w->rnext = d->ring;
        w->rprev = d->ring->rprev;
        w->rprev->rnext = w;
        d->ring->rprev = w;
    }
    d->ring_len++;
}

static void ring_remove(struct dispatcher *d, struct wh *w)
{
    if (!w->in_ring)
        return;
    w->in_ring = false;
    d->ring_len--;
    if (w->rnext == w) {
        d->ring = NULL;
    } else {
        w->rprev->rnext = w->rnext;
        w->rnext->rprev = w->rprev;
        if (d->ring == w)
            d->ring = w->rnext;
    }
    w->rnext = w->rprev = NULL;
}

static bool wh_ready(const struct wh *w)
{
    return w->qhead && !w->disabled && w->in_flight < w->w.max_in_flight;
}

static void ring_update(struct dispatcher *d, struct wh *w)
{
    if (wh_ready(w))
        ring_add(d, w);
    else
        ring_remove(d, w);
}

/* ---- jobs ---- */

static struct job *job_get(struct dispatcher *d)
{
    struct job *j = d->free_jobs;
    if (j)
        d->free_jobs = j->next;
    else
        j = xmalloc(sizeof *j);
    memset(j, 0, sizeof *j);
    return j;
}

static void job_put(struct dispatcher *d, struct job *j)
{
    free(j->c.payload);
    j->c.payload = NULL;
    j->next = d->free_jobs;
    d->free_jobs = j;
}

static struct job *queue_pop(struct dispatcher *d, struct wh *w)
{
    struct job *j = w->qhead;
    if (!j)
        return NULL;
    w->qhead = j->next;
    if (!w->qhead)
        w->qtail = NULL;
    w->queued--;
    d->n_queued--;
    j->next = NULL;
    return j;
}

/* Forgets every queued delivery of w. They stay leased to this node and
 * are claimable again once the lease runs out (or at release on stop). */
static void queue_drop(struct dispatcher *d, struct wh *w)
{
    struct job *j;
    while ((j = queue_pop(d, w)))
        job_put(d, j);
    ring_remove(d, w);
}

/* How many deliveries w may hold queued: what it can start within
 * QUEUE_HORIZON_MS at its observed latency and rate limit, and at least one
 * round. The rest of a claim for w goes back to the store (defer_claim).
 * A horizon as long as the lease let one endpoint that stopped answering
 * hoard the dispatcher's whole capacity in its queue (its latency is only
 * learnt when the first requests time out), so no claim could be made for
 * anyone else until then. */
static size_t queue_cap(const struct dispatcher *d, const struct wh *w)
{
    int64_t per = max64(w->latency_ms, 1);
    int64_t horizon = min64(QUEUE_HORIZON_MS, d->max_wait_ms);
    int64_t cap = (int64_t)w->w.max_in_flight * (horizon / per);
    if (w->w.rate_limit > 0)
        cap = min64(cap, (int64_t)w->w.rate_limit * max64(horizon / 1000, 1));
    cap = max64(cap, w->w.max_in_flight);
    return (size_t)min64(cap, 100000);
}

/* Finds (loading or refreshing) the claim's webhook; NULL when the claim
 * cannot be served now. */
static struct wh *wh_for_claim(struct dispatcher *d, const struct store_claim *c)
{
    struct wh *w = cache_find(d, c->webhook_id);
    if (!w)
        w = cache_add(d, c->webhook_id);
    if (!w->loaded || w->w.modified_at != c->webhook_modified_at) {
        int rc = wh_load(d, w);
        if (rc == HERALD_ENOTFOUND) {
            log_kv(LOG_DEBUG, "claim for a deleted webhook dropped", "webhook_id", w->id,
                   "delivery_id", c->delivery_id, NULL);
            return NULL;
        }
        if (rc != 0) {
            store_warn(&d->last_warn, "webhook_get_any", rc);
            if (!w->loaded)
                return NULL; /* the lease brings it back later */
        }
    }
    w->used_mono = clock_mono_ms();
    return w;
}

/* The next surplus row's place in w's line: its queue, then what was
 * given back in the current burst. */
static size_t line_place(struct wh *w)
{
    int64_t mono = clock_mono_ms();
    if (mono - w->deferred_mono > 1000)
        w->deferred = 0;
    w->deferred_mono = mono;
    return w->queued + w->deferred++;
}

/* When a surplus claim for w is due again: when w should have room, its
 * place in line in rounds at its observed latency. Claims come oldest
 * first, so a surplus left leased would return at lease expiry ahead of
 * every other webhook's new work, and one dead endpoint would set the pace
 * for all. */
static int64_t surplus_until(struct wh *w, int64_t max_wait_ms, int64_t now)
{
    /* Each surplus row is due at its own place in line, not all at the
     * queue's end: otherwise a long backlog would be claimed and given back
     * whole about once a second, a steady load of writes for nothing. */
    size_t place = line_place(w);
    int64_t rounds = (int64_t)(place / (size_t)max64(w->w.max_in_flight, 1)) + 1;
    return now + min64(max64(rounds * max64(w->latency_ms, 10), 1000), max_wait_ms);
}

/* Wall ms past which a claim leased until lease_until (its
 * store_claim.lease_until) may no longer start. Its lease began lease_ms
 * before lease_until; max_wait_ms after that, it still covers one whole
 * request and the recording of the result, and no later. Counted from the
 * lease the store wrote, so the time a claim spent on its way to the loop
 * (the store worker's mailbox, the hand-off) counts too. Every claim comes
 * with its lease (claim_due, the hand-off); one with none (0) is long past
 * its start_by and never sent, as a delivery whose lease nothing vouches
 * for must not be. */
static int64_t start_by(const struct dispatcher *d, int64_t lease_until)
{
    return lease_until - d->cfg->lease_ms + d->max_wait_ms;
}

/* Gives a delivery back to the store, due again at until, if it is still
 * under the lease it was claimed with (lease_until). */
static void defer_at(struct dispatcher *d, const char *delivery_id, int64_t lease_until,
                     int64_t until)
{
    if (d->n_defer == d->cap_defer) {
        d->cap_defer = d->cap_defer ? d->cap_defer * 2 : 64;
        d->defer = xrealloc(d->defer, d->cap_defer * sizeof *d->defer);
    }
    struct store_deferral *x = &d->defer[d->n_defer++];
    str_copy(x->delivery_id, sizeof x->delivery_id, delivery_id);
    x->until = until;
    x->lease_until = lease_until;
    /* Handed-off events bring no wake-up: claim again when this is due. */
    d->next_claim_at = min64(d->next_claim_at, until);
}

/* Keeps a surplus claim for w leased, without its payload and outside the
 * capacity, until w's first attempt ends (release_held). Paced by
 * INITIAL_LATENCY_MS, a fast endpoint's surplus from the claims made
 * before it first answered came back max_in_flight rows every tenth of a
 * second, for seconds (docs/performance.md, sixteenth round). False when the hold is
 * full: then the claim is deferred on the guess, as before. */
static bool hold_claim(struct dispatcher *d, const struct store_claim *c, struct wh *w)
{
    if (w->measured || d->n_held >= HOLD_MAX)
        return false;
    if (d->n_held == d->cap_held) {
        d->cap_held = d->cap_held ? d->cap_held * 2 : 64;
        d->held = xrealloc(d->held, d->cap_held * sizeof *d->held);
    }
    struct held *h = &d->held[d->n_held++];
    h->w = w;
    str_copy(h->delivery_id, sizeof h->delivery_id, c->delivery_id);
    h->lease_until = c->lease_until;
    d->held_next = min64(d->held_next, start_by(d, h->lease_until));
    w->n_held++;
    return true;
}

/* Gives back what is held for w, or (w NULL) every entry whose time to
 * start has come: due at once while its webhook has room at its latency
 * now, the rest at their place in line as any surplus. */
static void release_held(struct dispatcher *d, struct wh *w, int64_t now)
{
    size_t kept = 0;
    d->held_next = INT64_MAX;
    for (size_t i = 0; i < d->n_held; i++) {
        struct held *h = &d->held[i];
        int64_t due = start_by(d, h->lease_until);
        if (w ? h->w != w : due > now) {
            d->held_next = min64(d->held_next, due);
            d->held[kept++] = *h;
            continue;
        }
        struct wh *hw = h->w;
        int64_t until = now;
        if (hw->disabled || hw->queued + hw->deferred >= queue_cap(d, hw))
            until = surplus_until(hw, d->max_wait_ms, now);
        else
            line_place(hw); /* in line: the ones given back after it queue behind it */
        defer_at(d, h->delivery_id, h->lease_until, until);
        hw->n_held--;
    }
    d->n_held = kept;
}

/* Held claims may wait as long as a queued one (until their start_by):
 * then they go back on the guess, while the lease still covers an
 * attempt. */
static void release_expired(struct dispatcher *d)
{
    if (d->n_held == 0)
        return; /* every turn of the loop: no clock read for nothing */
    int64_t now = clock_now_ms();
    if (now >= d->held_next)
        release_held(d, NULL, now);
}

static void defer_claim(struct dispatcher *d, const struct store_claim *c, struct wh *w,
                        int64_t now)
{
    if (!hold_claim(d, c, w))
        defer_at(d, c->delivery_id, c->lease_until, surplus_until(w, d->max_wait_ms, now));
}

static void enqueue(struct dispatcher *d, struct store_claim *c, int64_t now)
{
    struct wh *w = wh_for_claim(d, c);
    if (w && !w->disabled && w->queued >= queue_cap(d, w)) {
        defer_claim(d, c, w, now);
        return;
    }
    if (!w || w->disabled)
        return; /* dropped: the claim's payload is freed with the array */
    struct job *j = job_get(d);
    j->c = *c;
    c->payload = NULL; /* moved */
    if (w->qtail)
        w->qtail->next = j;
    else
        w->qhead = j;
    w->qtail = j;
    w->queued++;
    d->n_queued++;
    ring_update(d, w);
}

/* ---- claiming ---- */

static size_t total_cap(const struct dispatcher *d)
{
    return d->cfg->max_in_flight_total > 0 ? (size_t)d->cfg->max_in_flight_total : 1;
}

static size_t capacity(const struct dispatcher *d)
{
    size_t used = d->n_inflight + d->n_queued + d->n_recording;
    return used >= total_cap(d) ? 0 : total_cap(d) - used;
}

/* A claim is worth a store transaction when none is under way and either
 * nothing is queued (a new event should go out at once) or a good chunk of
 * slots is free (under load, claims come in large batches, not one per
 * freed slot). Its time comes at next_claim_at. */
static bool claim_ready(const struct dispatcher *d)
{
    if (d->claim_pending || atomic_load(&d->stopping))
        return false;
    size_t room = capacity(d);
    size_t chunk = total_cap(d) / 4 < CLAIM_CHUNK_MIN ? total_cap(d) / 4 : CLAIM_CHUNK_MIN;
    return room > 0 && (d->n_queued == 0 || room >= (chunk ? chunk : 1));
}

static void worker_ask_claim(struct dispatcher *d)
{
    size_t room = capacity(d);
    pthread_mutex_lock(&d->wk.mu);
    d->wk.claim_want = room < CLAIM_BATCH_MAX ? room : CLAIM_BATCH_MAX;
    pthread_cond_signal(&d->wk.cv);
    pthread_mutex_unlock(&d->wk.mu);
    d->claim_pending = true;
    /* The claim's answer says when to claim next; only what happens while
     * it runs (a wake-up, a retry recorded) may bring that forward. */
    d->next_claim_at = INT64_MAX;
}

/* Queues leased deliveries (claimed, or handed off) and frees the array. */
static void enqueue_all(struct dispatcher *d, struct store_claim *claims, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&d->stopping))
            break; /* left leased; release() gives them back */
        else
            enqueue(d, &claims[i], now);
    store_claims_free(claims, n);
}

/* Queues what the worker claimed. */
static void take_claims(struct dispatcher *d, struct store_claim *claims, size_t n, int64_t now,
                        int64_t next_claim_at)
{
    d->claim_pending = false;
    d->next_claim_at = next_claim_at; /* first: a deferral may bring it forward */
    enqueue_all(d, claims, n, now);
}

/* ---- transfers ---- */

static struct xfer *xfer_get(struct dispatcher *d, unsigned lane)
{
    struct xfer *x = d->free_xfers[lane];
    if (x) {
        d->free_xfers[lane] = x->next;
        x->next = NULL;
        return x;
    }
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    x = xcalloc(1, sizeof *x);
    x->easy = easy;
    x->lane = lane;
    attempt_configure_handle(&x->a, easy, d->cfg); /* x->a rides this handle for good */
    sockreg_attach(lane == 0 ? &d->socks : lane_socks(d->lanes[lane]), easy);
    return x;
}

static void xfer_put(struct dispatcher *d, struct xfer *x)
{
    if (x->job)
        job_put(d, x->job);
    x->job = NULL;
    x->wh = NULL;
    free(x->emit_exhausted);
    free(x->emit_disabled);
    x->emit_exhausted = x->emit_disabled = NULL;
    x->next = d->free_xfers[x->lane];
    d->free_xfers[x->lane] = x;
}

static void xfer_free(struct xfer *x)
{
    attempt_release(&x->a);
    curl_easy_cleanup(x->easy);
    free(x->emit_exhausted);
    free(x->emit_disabled);
    free(x);
}

static char *exhausted_data(const struct xfer *x)
{
    const struct store_claim *c = &x->job->c;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "delivery_id", c->delivery_id);
    cJSON_AddStringToObject(o, "webhook_id", c->webhook_id);
    cJSON_AddStringToObject(o, "event_id", c->event_id);
    cJSON_AddStringToObject(o, "event_type", c->event_type);
    cJSON_AddNumberToObject(o, "attempts", c->attempts + 1);
    cJSON_AddNumberToObject(o, "last_response_code", x->a.response_code);
    cJSON_AddStringToObject(o, "last_error", x->a.error ? x->a.error : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s ? s : xstrdup("{}");
}

static char *disabled_data(const struct wh *w, const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "webhook_id", w->id);
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddStringToObject(o, "url", w->w.url ? w->w.url : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s ? s : xstrdup("{}");
}

/* Judges a finished attempt and adds it to the results batch. */
static void complete(struct dispatcher *d, struct xfer *x)
{
    struct wh *w = x->wh;
    const struct store_claim *c = &x->job->c;
    w->in_flight--;
    d->n_inflight--;
    d->lane_inflight[x->lane]--;
    metrics_set_in_flight((int64_t)d->n_inflight);
    /* The first answer replaces the guess rather than averaging with it:
     * a 1 ms endpoint's average would take twenty answers to come down
     * from INITIAL_LATENCY_MS. A failure without one (refused, or not
     * sent) says nothing of the endpoint's speed, and a latency of 0
     * would open its queue to the whole capacity. */
    bool first = !w->measured;
    if (first && x->a.response_code > 0)
        w->latency_ms = x->a.duration_ms;
    else
        w->latency_ms = (w->latency_ms * 4 + x->a.duration_ms) / 5;
    w->measured = true;

    struct retry_input in = {
        .n = c->attempts + 1,
        .max_attempts = c->max_attempts,
        .response_code = x->a.response_code,
        .error = x->a.error,
        .retry_after_ms = x->a.retry_after_ms,
        .now = clock_now_ms(),
        .failing_since = w->failing_since,
        .jitter = jitter(d),
    };
    retry_decide(d->cfg, &in, &x->dec);
    metrics_attempt(!x->a.error, x->a.duration_ms);
    if (x->dec.outcome == STORE_RETRY)
        metrics_retry_scheduled();
    bool was_failing = w->failing_since != 0;
    if (!x->a.error)
        w->failing_since = 0;
    else if (w->failing_since == 0)
        w->failing_since = x->a.started_at;
    /* The webhook row needs this result only for a change of failing state
     * or to move last_execution_at, which the API may show a second late.
     * (Disabling is a write of its own in record, quiet or not.) */
    int64_t now_m = clock_mono_ms();
    x->quiet = was_failing == (w->failing_since != 0) && w->touched_mono != 0 &&
               now_m - w->touched_mono < TOUCH_EVERY_MS;
    if (!x->quiet)
        w->touched_mono = now_m;

    bool exhausted = x->dec.outcome == STORE_FAILED && !x->dec.disable_reason;
    if (x->dec.disable_reason) {
        if (w->disabled) {
            x->dec.disable_reason = NULL; /* decided once per webhook */
        } else {
            w->disabled = true;
            metrics_webhook_disabled();
            x->emit_disabled = disabled_data(w, x->dec.disable_reason);
            log_kv(LOG_INFO, "webhook disabled", "webhook_id", w->id, "reason",
                   x->dec.disable_reason, NULL);
            queue_drop(d, w);
        }
    }
    /* An exhausted delivery.exhausted event emits nothing, or a webhook
     * subscribed to it and failing would feed itself forever. */
    if (exhausted)
        metrics_delivery_exhausted();
    if (exhausted && strcmp(c->event_type, "delivery.exhausted") != 0)
        x->emit_exhausted = exhausted_data(x);

    log_kv(LOG_DEBUG, "attempt", "delivery_id", c->delivery_id, "webhook_id", c->webhook_id,
           "error", x->a.error ? x->a.error : "", NULL);
    id_new(x->attempt_id, "att", in.now);
    x->wh = NULL;
    if (first && w->n_held) /* after a disabling, which they must see */
        release_held(d, w, in.now);
    ring_update(d, w);

    x->recorded = false;
    x->next = NULL;
    *d->finished_tail = x;
    d->finished_tail = &x->next;
    d->n_finished++;
    d->n_recording++;
}

/* The lane with the fewest transfers in flight (the loop's own on a tie:
 * it is woken for every completion anyway), or the loop's own while it is
 * not busy (update_spill). */
static unsigned pick_lane(const struct dispatcher *d)
{
    unsigned best = 0;
    if (!d->spill)
        return 0;
    for (unsigned k = 1; k < d->n_lanes; k++)
        if (d->lane_inflight[k] < d->lane_inflight[best])
            best = k;
    return best;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Lanes pay only when sending is what the loop thread runs out of: each
 * transfer handed over costs two wake-ups and another runnable thread on
 * the machine, which at a moderate rate only lengthens the queues of the
 * threads ingest waits for (the group commit, the API loop). So transfers
 * spill to the lanes only while the loop uses more than SPILL_ON of a core,
 * and stay home again once it uses less than SPILL_OFF; a drain keeps the
 * loop at ~0.75 alone and ~0.6 beside a lane. cfg->lane_spill_always (tests)
 * spills from the start. */
static void update_spill(struct dispatcher *d, int64_t now_m)
{
    if (d->n_lanes < 2 || now_m - d->spill_window_mono < SPILL_WINDOW_MS)
        return;
    int64_t cpu = thread_cpu_ns();
    double share =
        (double)(cpu - d->spill_window_cpu) / 1e6 / (double)(now_m - d->spill_window_mono);
    d->spill = d->cfg->lane_spill_always || share > (d->spill ? SPILL_OFF : SPILL_ON);
    d->spill_window_mono = now_m;
    d->spill_window_cpu = cpu;
}

/* Queues x's handle for its lane; submit_all hands the queues over once a
 * turn, so a lane is woken once for however many transfers it gets. */
static void submit(struct dispatcher *d, struct xfer *x)
{
    unsigned k = x->lane;
    if (d->submit[k].n == d->submit[k].cap) {
        d->submit[k].cap = d->submit[k].cap ? 2 * d->submit[k].cap : 64;
        d->submit[k].v = xrealloc(d->submit[k].v, d->submit[k].cap * sizeof *d->submit[k].v);
    }
    d->submit[k].v[d->submit[k].n++] = x->easy;
}

static void submit_all(struct dispatcher *d)
{
    for (unsigned k = 1; k < d->n_lanes; k++) {
        lane_submit(d->lanes[k], d->submit[k].v, d->submit[k].n);
        d->submit[k].n = 0;
    }
}

/* Starts job on w, or fails it at once when the request cannot be built. */
static void start(struct dispatcher *d, struct wh *w, struct job *j)
{
    unsigned lane = pick_lane(d);
    struct xfer *x = xfer_get(d, lane);
    if (!x) {
        log_kv(LOG_ERROR, "curl_easy_init failed", NULL);
        job_put(d, j);
        return;
    }
    x->job = j;
    x->wh = w;
    w->in_flight++;
    d->n_inflight++;
    d->lane_inflight[lane]++;
    metrics_set_in_flight((int64_t)d->n_inflight);
    const struct store_claim *c = &j->c;
    int rc =
        attempt_prepare_target(&x->a, d->cfg, &w->t, c->event_id, c->event_type,
                               c->event_created_at, c->payload, c->payload_len, clock_now_ms());
    if (rc == 0) {
        attempt_configure_request(&x->a, x->easy);
        if (lane != 0) {
            submit(d, x);
            return;
        }
        if (curl_multi_add_handle(d->multi, x->easy) == CURLM_OK)
            return;
        rc = HERALD_ENOMEM;
    }
    x->a.error = rc == HERALD_ECRYPTO ? "signing" : "error";
    complete(d, x);
}

/* Takes a token from w's bucket; false (and the time of the next token in
 * d->token_wake) when it is empty. */
static bool take_token(struct dispatcher *d, struct wh *w, int64_t now)
{
    int rate = w->w.rate_limit;
    if (rate <= 0)
        return true;
    w->tokens += (double)(now - w->tokens_mono) * rate / 1000.0;
    w->tokens_mono = now;
    if (w->tokens > rate)
        w->tokens = rate;
    if (w->tokens >= 1.0) {
        w->tokens -= 1.0;
        return true;
    }
    int64_t wait = (int64_t)((1.0 - w->tokens) * 1000.0 / rate) + 1;
    d->token_wake = min64(d->token_wake, now + wait);
    return false;
}

/* Starts transfers round robin: one per webhook per turn, so a webhook with
 * a deep queue never starves the others. */
static void start_some(struct dispatcher *d)
{
    size_t total = d->cfg->max_in_flight_total > 0 ? (size_t)d->cfg->max_in_flight_total : 1;
    int64_t now_w = clock_now_ms(), now_m = clock_mono_ms();
    size_t idle = 0;
    d->token_wake = INT64_MAX;
    while (d->ring && d->n_inflight < total && idle < d->ring_len) {
        struct wh *w = d->ring;
        d->ring = w->rnext;
        /* Deliveries that waited past their lease's slack are dropped
         * unsent, still leased: claim_due takes them again once the lease
         * has run out. */
        while (w->qhead && start_by(d, w->qhead->c.lease_until) < now_w)
            job_put(d, queue_pop(d, w));
        bool started = false;
        if (w->qhead && take_token(d, w, now_m)) {
            start(d, w, queue_pop(d, w));
            started = true;
        }
        ring_update(d, w);
        /* Only webhooks that stay in the ring without progress (rate
         * limited) count as idle; removed ones shrink the ring instead. */
        if (started)
            idle = 0;
        else if (w->in_ring)
            idle++;
    }
}

/* ---- the store worker ---- */

static void results_reserve(struct worker *wk, size_t n)
{
    if (n <= wk->cap_results)
        return;
    wk->cap_results = n + n / 2;
    wk->results = xrealloc(wk->results, wk->cap_results * sizeof *wk->results);
    wk->emits = xrealloc(wk->emits, 2 * wk->cap_results * sizeof *wk->emits);
}

static void fill_result(struct store_result *r, const struct xfer *x)
{
    const struct store_claim *c = &x->job->c;
    memset(r, 0, sizeof *r);
    r->delivery_id = c->delivery_id;
    r->account_id = c->account_id;
    r->event_id = c->event_id;
    r->webhook_id = c->webhook_id;
    r->event_type = c->event_type;
    str_copy(r->attempt_id, sizeof r->attempt_id, x->attempt_id);
    r->n = c->attempts + 1;
    r->started_at = x->a.started_at;
    r->duration_ms = x->a.duration_ms;
    r->response_code = x->a.response_code;
    r->error = x->a.error;
    r->response_body = x->a.response.data ? x->a.response.data : "";
    r->response_len = x->a.response.len;
    r->request_headers = x->a.request_headers.data ? x->a.request_headers.data : "{}";
    r->outcome = x->dec.outcome;
    r->next_attempt_at = x->dec.next_attempt_at;
    r->disable_reason = x->dec.disable_reason;
    r->row = c->row;
    r->quiet = x->quiet;
}

static void fill_emit(struct store_ingest *e, const struct xfer *x, const char *type,
                      const char *data, int64_t now)
{
    memset(e, 0, sizeof *e);
    e->account_id = x->job->c.account_id;
    e->type = type;
    e->data = data;
    e->data_len = strlen(data);
    id_new(e->id, "evt", now);
    e->created_at = now;
}

/* Records the whole batch, and the operational events it produced, with
 * one store call. */
static int record_batch(struct dispatcher *d, struct xfer *batch)
{
    struct worker *wk = &d->wk;
    int64_t now = clock_now_ms();
    size_t n = 0, ne = 0;
    for (struct xfer *x = batch; x; x = x->next)
        n++;
    results_reserve(wk, n);
    n = 0;
    for (struct xfer *x = batch; x; x = x->next) {
        fill_result(&wk->results[n++], x);
        if (x->emit_disabled)
            fill_emit(&wk->emits[ne++], x, "webhook.disabled", x->emit_disabled, now);
        if (x->emit_exhausted)
            fill_emit(&wk->emits[ne++], x, "delivery.exhausted", x->emit_exhausted, now);
    }
    int rc = d->s->ops->record(d->s, d->cfg->node_id, wk->results, n, wk->emits, ne);
    if (rc != 0)
        store_warn(&wk->last_warn, "record", rc);
    return rc;
}

static void worker_claim(struct dispatcher *d, size_t max, struct store_claim **claims, size_t *n,
                         int64_t *now, int64_t *next_at)
{
    struct worker *wk = &d->wk;
    *now = clock_now_ms();
    *claims = NULL;
    *n = 0;
    int rc =
        d->s->ops->claim_due(d->s, d->cfg->node_id, *now, *now + d->cfg->lease_ms, max, claims, n);
    if (rc != 0) {
        store_warn(&wk->last_warn, "claim_due", rc);
        *next_at = *now + 1000;
        return;
    }
    if (*n == max) { /* probably more due: claim again when there is room */
        *next_at = *now;
        return;
    }
    int64_t at = INT64_MAX;
    rc = d->s->ops->next_due(d->s, &at);
    if (rc != 0) {
        store_warn(&wk->last_warn, "next_due", rc);
        at = *now + 1000;
    }
    /* The safety poll catches work another node made due without a
     * wake-up reaching this one. */
    *next_at = min64(max64(at, *now), *now + SAFETY_POLL_MS);
}

static void notify_loop(struct worker *wk)
{
    uint64_t one = 1;
    ssize_t r = write(wk->notify_fd, &one, sizeof one);
    (void)r; /* EAGAIN: a notification is already pending */
}

/* Gives a batch back to the loop thread. Called with mu held. */
static void worker_return(struct worker *wk, struct xfer *batch, bool recorded)
{
    for (struct xfer *x = batch; x; x = x->next)
        x->recorded = recorded;
    if (!batch)
        return;
    *wk->done_tail = batch;
    while (*wk->done_tail)
        wk->done_tail = &(*wk->done_tail)->next;
}

/* Waits on the condition until the mono deadline (ms). */
static void wait_until(struct worker *wk, int64_t deadline_mono)
{
    int64_t left = deadline_mono - clock_mono_ms();
    if (left <= 0)
        return;
    struct timespec until; /* wk->cv waits on CLOCK_MONOTONIC (dispatcher_start) */
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += left / 1000;
    until.tv_nsec += (left % 1000) * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&wk->cv, &wk->mu, &until);
}

/* A batch the worker could not record yet, kept across retries. */
struct pending_record {
    struct xfer *batch;
    int64_t failing_since; /* mono ms of the first failure, 0 when none */
    int failures;
};

/* Records p->batch; true when the batch is finished with (recorded, or
 * given up after repeated failures: past the lease slack its deliveries
 * will be claimed and sent again anyway, and on stop a few tries do). */
static bool worker_record(struct dispatcher *d, struct pending_record *p, bool stopping,
                          bool *recorded)
{
    *recorded = record_batch(d, p->batch) == 0;
    if (*recorded)
        return true;
    p->failures++;
    if (p->failing_since == 0)
        p->failing_since = clock_mono_ms();
    bool give_up =
        clock_mono_ms() - p->failing_since > d->max_wait_ms || (stopping && p->failures >= 3);
    if (give_up)
        log_kv(LOG_ERROR, "attempt results dropped after repeated store failures", NULL);
    return give_up;
}

/* Claims and posts the answer; called and returns with mu held. */
static void worker_claim_locked(struct dispatcher *d, size_t want)
{
    struct worker *wk = &d->wk;
    struct store_claim *claims = NULL;
    size_t n = 0;
    int64_t now = 0, next_at = 0;
    pthread_mutex_unlock(&wk->mu);
    worker_claim(d, want, &claims, &n, &now, &next_at);
    pthread_mutex_lock(&wk->mu);
    wk->claimed = true;
    wk->claims = claims;
    wk->n_claims = n;
    wk->claim_now = now;
    wk->next_claim_at = next_at;
    notify_loop(wk);
}

/* Records what is pending; called and returns with mu held. */
static void worker_record_locked(struct dispatcher *d, struct pending_record *p)
{
    struct worker *wk = &d->wk;
    struct xfer **tail = &p->batch; /* everything handed over so far */
    while (*tail)
        tail = &(*tail)->next;
    *tail = wk->todo;
    wk->todo = NULL;
    wk->todo_tail = &wk->todo;
    wk->n_todo = 0;
    bool stopping = wk->stop, recorded;
    pthread_mutex_unlock(&wk->mu);
    bool finished = worker_record(d, p, stopping, &recorded);
    pthread_mutex_lock(&wk->mu);
    if (finished) {
        worker_return(wk, p->batch, recorded);
        memset(p, 0, sizeof *p);
        notify_loop(wk);
        return;
    }
    wait_until(wk, clock_mono_ms() + RECORD_BACKOFF_MS); /* before trying the batch again */
}

/* Results are worth a commit (an fsync) once there are many or the oldest
 * has waited a few milliseconds; a batch that failed is retried at once. */
static bool record_due(const struct worker *wk, const struct pending_record *p)
{
    if (p->batch || wk->stop)
        return p->batch || wk->todo;
    return wk->todo &&
           (wk->n_todo >= RECORD_BATCH || clock_mono_ms() - wk->todo_since >= RECORD_WAIT_MS);
}

/* The worker: claims first (that keeps transfers busy, and is how a new
 * event gets out quickly), then records every result handed over so far
 * in one transaction. */
/* Gives the surplus claims back; called and returns with mu held. A
 * failure is only logged: the rows stay leased and return at expiry. */
static void worker_defer_locked(struct dispatcher *d)
{
    struct worker *wk = &d->wk;
    struct store_deferral *x = wk->defer;
    size_t n = wk->n_defer;
    wk->defer = NULL;
    wk->n_defer = 0;
    pthread_mutex_unlock(&wk->mu);
    int rc = d->s->ops->defer(d->s, d->cfg->node_id, x, n, clock_now_ms());
    if (rc != 0)
        store_warn(&wk->last_warn, "defer", rc);
    int64_t due = INT64_MAX;
    for (size_t i = 0; rc == 0 && i < n; i++)
        due = min64(due, x[i].until);
    free(x);
    pthread_mutex_lock(&wk->mu);
    /* A claim asked before they were written did not see them; the loop
     * claims again when the first is due (take_back). */
    if (due != INT64_MAX) {
        wk->defer_due = min64(wk->defer_due, due);
        notify_loop(wk);
    }
}

static void *worker_run(void *arg)
{
    struct dispatcher *d = arg;
    struct worker *wk = &d->wk;
    struct pending_record p;
    memset(&p, 0, sizeof p);
    pthread_mutex_lock(&wk->mu);
    for (;;) {
        if (wk->stop && !wk->todo && !p.batch && !wk->claim_want && !wk->defer)
            break;
        if (wk->defer)
            worker_defer_locked(d);
        size_t want = wk->claim_want;
        wk->claim_want = 0;
        if (want)
            worker_claim_locked(d, want);
        if (record_due(wk, &p))
            worker_record_locked(d, &p);
        else if (wk->todo && !wk->claim_want)
            wait_until(wk, wk->todo_since + RECORD_WAIT_MS);
        else if (!wk->stop && !wk->todo && !p.batch && !wk->claim_want && !wk->defer)
            pthread_cond_wait(&wk->cv, &wk->mu);
    }
    pthread_mutex_unlock(&wk->mu);
    return NULL;
}

/* Loop side: hands the finished transfers to the worker. */
static void hand_over(struct dispatcher *d)
{
    if (!d->finished && !d->n_defer)
        return;
    bool wake = false;
    pthread_mutex_lock(&d->wk.mu);
    if (d->n_defer && !d->wk.defer) {
        d->wk.defer = d->defer;
        d->wk.n_defer = d->n_defer;
        d->defer = NULL;
        d->n_defer = d->cap_defer = 0;
        wake = true;
    }
    if (d->finished) {
        /* The worker sleeps without a deadline only while it has nothing
         * to record; with results waiting it wakes by itself when they are
         * RECORD_WAIT_MS old. So only the first result, and the one that
         * makes a full batch, need a wake-up: signalling every turn cost
         * the worker (and whichever thread it preempted) a thousand
         * pointless switches a second under load. */
        wake = wake || !d->wk.todo ||
               (d->wk.n_todo < RECORD_BATCH && d->wk.n_todo + d->n_finished >= RECORD_BATCH);
        if (!d->wk.todo)
            d->wk.todo_since = clock_mono_ms();
        *d->wk.todo_tail = d->finished;
        d->wk.todo_tail = d->finished_tail;
        d->wk.n_todo += d->n_finished;
    }
    if (wake)
        pthread_cond_signal(&d->wk.cv);
    pthread_mutex_unlock(&d->wk.mu);
    d->finished = NULL;
    d->finished_tail = &d->finished;
    d->n_finished = 0;
}

/* Loop side: recycles what the worker recorded and queues what it claimed. */
static void take_back(struct dispatcher *d)
{
    pthread_mutex_lock(&d->wk.mu);
    struct xfer *done = d->wk.done;
    d->wk.done = NULL;
    d->wk.done_tail = &d->wk.done;
    bool claimed = d->wk.claimed;
    struct store_claim *claims = d->wk.claims;
    size_t n = d->wk.n_claims;
    int64_t now = d->wk.claim_now, next_at = d->wk.next_claim_at;
    d->wk.claimed = false;
    d->wk.claims = NULL;
    d->wk.n_claims = 0;
    struct store_claim *offered = d->wk.offered;
    size_t n_offered = d->wk.n_offered;
    d->wk.offered = NULL;
    d->wk.n_offered = 0;
    int64_t defer_due = d->wk.defer_due;
    d->wk.defer_due = INT64_MAX;
    pthread_mutex_unlock(&d->wk.mu);

    while (done) {
        struct xfer *x = done;
        done = x->next;
        if (x->recorded) {
            if (x->dec.outcome == STORE_RETRY)
                d->next_claim_at = min64(d->next_claim_at, x->dec.next_attempt_at);
            if (x->emit_exhausted || x->emit_disabled) /* may have created deliveries */
                d->next_claim_at = 0;
        }
        d->n_recording--;
        xfer_put(d, x);
    }
    if (claimed)
        take_claims(d, claims, n, now, min64(next_at, d->next_claim_at));
    d->next_claim_at = min64(d->next_claim_at, defer_due);
    /* Each has until its own lease's start_by, as a claim has; the time
     * read here only places their surplus in line. */
    if (n_offered)
        enqueue_all(d, offered, n_offered, clock_now_ms());
}

static int worker_start(struct dispatcher *d)
{
    struct worker *wk = &d->wk;
    wk->defer_due = INT64_MAX;
    wk->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wk->notify_fd < 0)
        return HERALD_EIO;
    if (pthread_create(&wk->thread, NULL, worker_run, d) != 0) {
        close(wk->notify_fd);
        wk->notify_fd = -1;
        return HERALD_ENOMEM;
    }
    pthread_setname_np(wk->thread, "herald-record");
    return 0;
}

/* Lets the worker finish what it holds, then joins it. */
static void worker_stop(struct dispatcher *d)
{
    pthread_mutex_lock(&d->wk.mu);
    d->wk.stop = true;
    pthread_cond_signal(&d->wk.cv);
    pthread_mutex_unlock(&d->wk.mu);
    pthread_join(d->wk.thread, NULL);
}

static void worker_free(struct worker *wk)
{
    free(wk->defer);
    store_claims_free(wk->claims, wk->n_claims);
    store_claims_free(wk->offered, wk->n_offered); /* left leased: release() */
    free(wk->results);
    free(wk->emits);
    if (wk->notify_fd >= 0)
        close(wk->notify_fd);
    pthread_cond_destroy(&wk->cv);
    pthread_mutex_destroy(&wk->mu);
}

/* ---- libcurl glue ---- */

/* A transfer's handle came back out of its multi with rc; it ended at
 * ended_mono. */
static void finish(struct dispatcher *d, CURL *easy, CURLcode rc, int64_t ended_mono)
{
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    struct attempt *a = (struct attempt *)(void *)priv;
    struct xfer *x = container_of(a, struct xfer, a);
    attempt_finish(a, easy, rc, ended_mono);
    complete(d, x);
}

static void finish_all(struct dispatcher *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        finish(d, d->collected[i].easy, d->collected[i].rc, d->collected[i].ended_mono);
}

/* Judges what finished on the loop's own multi. */
static void drain_finished(struct dispatcher *d)
{
    size_t n = 0;
    finish_all(d, lane_reap(d->multi, &d->collected, &n, &d->cap_collected));
}

/* Judges what the lanes sent. */
static void collect_lanes(struct dispatcher *d)
{
    for (unsigned k = 1; k < d->n_lanes; k++)
        finish_all(d, lane_collect(d->lanes[k], &d->collected, &d->cap_collected));
}

/* ---- cross-node wake-ups (the store's notify_fd: PostgreSQL LISTEN) ---- */

/* True while the store could wake us across nodes but cannot right now
 * (disconnected): work another node commits is then noticed by polling. */
static bool store_deaf(const struct dispatcher *d)
{
    return d->s->ops->notify_fd && d->store_fd < 0;
}

/* Puts the store's notification socket in the epoll set. Only
 * notify_consume closes it (notify_fd then reconnects), and the new socket
 * may reuse the old number, so comparing numbers cannot tell a reconnect:
 * the fd is forgotten after every consume and added again here. Closing a
 * socket drops it from the set, so EEXIST means this very socket is still
 * registered (an open descriptor's number is its own): MOD is then right.
 * A number is never removed or modified on a guess, which could hit a curl
 * socket that reused it. */
static void store_watch(struct dispatcher *d)
{
    if (!store_deaf(d))
        return;
    int fd = d->s->ops->notify_fd(d->s); /* reconnects, with the store's backoff */
    if (fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)) {
        store_warn(&d->last_warn, "epoll_ctl(notify_fd)", HERALD_EIO); /* polls meanwhile */
        return;
    }
    d->store_fd = fd;
}

/* Another node (or this one) committed work that may be due: claim now. */
static void store_woken(struct dispatcher *d)
{
    d->s->ops->notify_consume(d->s);
    d->store_fd = -1;
    store_watch(d);
    d->next_claim_at = 0;
}

/* While deaf, claim at least every DEAF_POLL_MS (not SAFETY_POLL_MS). */
static void store_deaf_poll(struct dispatcher *d, int64_t now_w)
{
    if (store_deaf(d) && !d->claim_pending && d->next_claim_at > now_w + DEAF_POLL_MS)
        d->next_claim_at = now_w + DEAF_POLL_MS;
}

/* ---- the loop ---- */

static int wait_timeout(struct dispatcher *d)
{
    int64_t now_m = clock_mono_ms(), now_w = clock_now_ms();
    int64_t wake = INT64_MAX;
    if (d->curl_deadline >= 0)
        wake = d->curl_deadline;
    if (claim_ready(d))
        wake = min64(wake, now_m + max64(0, d->next_claim_at - now_w));
    if (d->ring && d->token_wake != INT64_MAX && !atomic_load(&d->stopping))
        wake = min64(wake, d->token_wake);
    if (store_deaf(d)) /* to try notify_fd again */
        wake = min64(wake, now_m + DEAF_POLL_MS);
    if (d->n_held) /* release_expired */
        wake = min64(wake, now_m + max64(0, d->held_next - now_w));
    if (wake == INT64_MAX)
        return -1;
    int64_t t = wake - now_m;
    return t <= 0 ? 0 : (int)min64(t, 60000);
}

static void drain_eventfd(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
}

static void handle_events(struct dispatcher *d, struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        if (fd == d->evfd) {
            drain_eventfd(fd);
            d->next_claim_at = 0; /* claim now */
            continue;
        }
        if (fd == d->store_fd) {
            store_woken(d);
            continue;
        }
        if (fd == d->wk.notify_fd) {
            drain_eventfd(fd);
            take_back(d);
            continue;
        }
        if (fd == d->lanefd) {
            drain_eventfd(fd);
            collect_lanes(d);
            continue;
        }
        sockreg_act(&d->socks, d->multi, fd, ev[i].events);
    }
    sockreg_timer(d->multi, &d->curl_deadline);
}

/* Forgets cached webhooks that have had nothing to do for a while, so the
 * cache follows the working set rather than every webhook ever served. */
static void sweep(struct dispatcher *d, int64_t now_m)
{
    if (now_m - d->last_sweep_mono < SWEEP_MS)
        return;
    d->last_sweep_mono = now_m;
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct wh **pp = &d->buckets[i];
        while (*pp) {
            struct wh *w = *pp;
            if (w->in_flight == 0 && w->queued == 0 && w->n_held == 0 &&
                now_m - w->used_mono > SWEEP_MS) {
                *pp = w->hnext;
                d->nwh--;
                wh_free(w);
            } else {
                pp = &w->hnext;
            }
        }
    }
}

/* Drops everything queued or held (on stop); release() gives it back. */
static void drop_all_queued(struct dispatcher *d)
{
    for (size_t i = 0; d->n_queued > 0 && i < d->nbuckets; i++)
        for (struct wh *w = d->buckets[i]; w; w = w->hnext)
            queue_drop(d, w);
    for (size_t i = 0; i < d->n_held; i++)
        d->held[i].w->n_held--;
    d->n_held = 0;
    d->held_next = INT64_MAX;
}

static void *run(void *arg)
{
    struct dispatcher *d = arg;
    struct epoll_event ev[MAX_EVENTS];
    d->spill = d->cfg->lane_spill_always;
    d->spill_window_mono = clock_mono_ms();
    d->spill_window_cpu = thread_cpu_ns();
    store_watch(d);
    for (;;) {
        int n = epoll_wait(d->epfd, ev, MAX_EVENTS, wait_timeout(d));
        if (n < 0) {
            if (errno != EINTR)
                log_kv(LOG_ERROR, "epoll_wait failed", "error", strerror(errno), NULL);
            n = 0;
        }
        handle_events(d, ev, n);
        drain_finished(d);
        hand_over(d);
        if (atomic_load(&d->stopping)) {
            /* Stop claiming and starting; wait for the transfers in
             * flight, their recording and any claim under way. */
            drop_all_queued(d);
            if (d->n_inflight == 0 && d->n_recording == 0 && !d->claim_pending)
                break;
            continue;
        }
        store_watch(d); /* after a disconnect: reconnects when the backoff allows */
        store_deaf_poll(d, clock_now_ms());
        if (claim_ready(d) && clock_now_ms() >= d->next_claim_at)
            worker_ask_claim(d);
        release_expired(d);
        start_some(d);
        submit_all(d);
        hand_over(d); /* attempts that failed before reaching the network, deferrals */
        int64_t now_m = clock_mono_ms();
        sweep(d, now_m);
        update_spill(d, now_m);
        atomic_store(&d->room, capacity(d));
    }
    worker_stop(d);
    /* Only now: release() gives back every delivery leased to this node,
     * which must not include one whose result is still unrecorded. */
    int rc = d->s->ops->release(d->s, d->cfg->node_id, clock_now_ms());
    if (rc != 0)
        store_warn(&d->last_warn, "release", rc);
    return NULL;
}

/* ---- lifecycle ---- */

static void dispatcher_free(struct dispatcher *d)
{
    /* Every transfer came back (n_inflight was 0), so no handle is in a
     * multi. Lane by lane, with its thread stopped: its handles go first, as
     * libcurl advises, then its multi, which closes the pooled connections
     * through the lane's registry (d->socks for lane 0, released below). */
    for (unsigned k = 0; k < MAX_LANES; k++) {
        lane_stop(d->lanes[k]); /* lanes[0] is NULL: the loop's own multi */
        struct xfer *x;
        while ((x = d->free_xfers[k])) {
            d->free_xfers[k] = x->next;
            xfer_free(x);
        }
        if (k == 0 && d->multi) {
            curl_multi_cleanup(d->multi);
        } else if (k > 0) {
            lane_free(d->lanes[k]);
            free(d->submit[k].v);
        }
    }
    free(d->collected);
    struct job *j;
    while ((j = d->free_jobs)) {
        d->free_jobs = j->next;
        free(j);
    }
    for (size_t i = 0; d->buckets && i < d->nbuckets; i++) {
        struct wh *w = d->buckets[i];
        while (w) {
            struct wh *next = w->hnext;
            wh_free(w);
            w = next;
        }
    }
    free(d->buckets);
    free(d->defer);
    free(d->held);
    worker_free(&d->wk);
    sockreg_release(&d->socks);
    if (d->epfd >= 0)
        close(d->epfd);
    if (d->evfd >= 0)
        close(d->evfd);
    if (d->lanefd >= 0)
        close(d->lanefd);
    free(d);
    curl_global_cleanup();
}

static int watch(struct dispatcher *d, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : HERALD_EIO;
}

/* Sending threads when cfg->send_threads is 0: a second one where there is
 * a second CPU. A drain to one webhook on two cores kept the lone network
 * thread runnable 94 % of the time with a quarter of the machine idle;
 * a third measured no faster there (docs/performance.md). */
static size_t auto_lanes(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 2 ? 2 : 1;
}

/* Lanes 1.. up to d->n_lanes (the loop's own multi is lane 0). */
static int lanes_start(struct dispatcher *d, size_t want, long maxconnects)
{
    d->n_lanes = 1;
    if (want == 1)
        return 0;
    d->lanefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->lanefd < 0 || watch(d, d->lanefd) != 0)
        return HERALD_EIO;
    for (; d->n_lanes < want; d->n_lanes++) {
        int rc = lane_start(&d->lanes[d->n_lanes], "herald-send", d->lanefd, maxconnects);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int setup(struct dispatcher *d)
{
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sockreg_init(&d->socks, d->epfd);
    if (d->epfd < 0 || d->evfd < 0 || watch(d, d->evfd) != 0)
        return HERALD_EIO;
    size_t lanes = d->cfg->send_threads > 0 ? (size_t)d->cfg->send_threads : auto_lanes();
    if (lanes > MAX_LANES)
        lanes = MAX_LANES;
    /* Idle keep-alive connections worth keeping: twice the transfers, shared
     * among the lanes' pools. */
    long keep = (long)(2 * total_cap(d) / lanes) + 1;
    d->multi = sockreg_multi(&d->socks, &d->curl_deadline, keep);
    if (!d->multi)
        return HERALD_ENOMEM;
    int rc = lanes_start(d, lanes, keep);
    if (rc != 0)
        return rc;
    rc = worker_start(d);
    if (rc == 0 && watch(d, d->wk.notify_fd) != 0) {
        worker_stop(d);
        rc = HERALD_EIO;
    }
    return rc;
}

int dispatcher_start(struct dispatcher **out, const struct herald_config *cfg, struct store *s)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return HERALD_ENOMEM;
    struct dispatcher *d = xcalloc(1, sizeof *d);
    d->cfg = cfg;
    d->s = s;
    d->epfd = d->evfd = d->wk.notify_fd = d->store_fd = d->lanefd = -1;
    d->curl_deadline = -1;
    d->nbuckets = 64;
    d->buckets = xcalloc(d->nbuckets, sizeof *d->buckets);
    d->finished_tail = &d->finished;
    d->wk.todo_tail = &d->wk.todo;
    d->wk.done_tail = &d->wk.done;
    pthread_mutex_init(&d->wk.mu, NULL);
    /* Monotonic: a wall clock stepped back must not stretch the worker's
     * 5 ms record deadline into a sleep as long as the step. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wk.cv, &ca);
    pthread_condattr_destroy(&ca);
    random_bytes(&d->rng, sizeof d->rng);
    d->rng |= 1;
    d->last_sweep_mono = clock_mono_ms();
    atomic_init(&d->stopping, false);
    atomic_init(&d->room, 0);
    /* A queued delivery may wait while its lease still covers one whole
     * request and the recording of its result. */
    d->held_next = INT64_MAX;
    d->max_wait_ms = cfg->lease_ms - cfg->request_timeout_ms - LEASE_MARGIN_MS;
    if (d->max_wait_ms < cfg->lease_ms / 4) {
        log_kv(LOG_WARN, "lease is short for the request timeout; deliveries may wait for leases",
               NULL);
        d->max_wait_ms = max64(cfg->lease_ms / 4, 1);
    }
    int rc = setup(d);
    if (rc == 0 && pthread_create(&d->thread, NULL, run, d) != 0) {
        worker_stop(d);
        rc = HERALD_ENOMEM;
    } else if (rc == 0) {
        pthread_setname_np(d->thread, "herald-dispatch");
    }
    if (rc != 0) {
        log_kv(LOG_ERROR, "dispatcher failed to start", "error", herald_strerror(rc), NULL);
        dispatcher_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void dispatcher_wake(struct dispatcher *d)
{
    if (!d)
        return;
    uint64_t one = 1;
    ssize_t r = write(d->evfd, &one, sizeof one);
    (void)r; /* EAGAIN means a wake-up is already pending */
}

void dispatcher_wake_cb(void *d)
{
    dispatcher_wake(d);
}

/* ---- hand-off from the group commit ---- */

const char *dispatcher_lease_cb(void *arg, size_t n, int64_t *until)
{
    struct dispatcher *d = arg;
    /* Only with room for the whole commit (one delivery an event at
     * least): a full dispatcher would give the surplus back to the store
     * (a write each), and a backlog due before these events should go
     * first; both are claim_due's. */
    if (!d->s->ops->ingest_hands_off || atomic_load(&d->stopping))
        return NULL;
    /* Reserved, so that commits in a row before the loop's next turn do
     * not all count the same room; that turn sets it afresh. */
    size_t room = atomic_load(&d->room);
    do {
        if (room < n)
            return NULL;
    } while (!atomic_compare_exchange_weak(&d->room, &room, room - n));
    *until = clock_now_ms() + d->cfg->lease_ms;
    return d->cfg->node_id;
}

void dispatcher_offer_cb(void *arg, const struct store_ingest *items, size_t n,
                         struct store_claims *claims)
{
    struct dispatcher *d = arg;
    struct worker *wk = &d->wk;
    /* Each claim carries its lease (store_claim.lease_until, the one
     * dispatcher_lease_cb gave the commit): the items add nothing. */
    (void)items;
    (void)n;
    if (claims->len == 0)
        return;
    pthread_mutex_lock(&wk->mu);
    /* The loop may not have taken the previous offer yet: append. */
    wk->offered = xrealloc(wk->offered, (wk->n_offered + claims->len) * sizeof *wk->offered);
    memcpy(wk->offered + wk->n_offered, claims->v, claims->len * sizeof *claims->v);
    wk->n_offered += claims->len;
    pthread_mutex_unlock(&wk->mu);
    free(claims->v); /* the payloads moved */
    memset(claims, 0, sizeof *claims);
    notify_loop(wk);
}

void dispatcher_stop(struct dispatcher *d)
{
    if (!d)
        return;
    atomic_store(&d->stopping, true);
    dispatcher_wake(d);
    pthread_join(d->thread, NULL);
    dispatcher_free(d);
}
