#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/commit.h"

/* One submission: a blocked caller's (committer_submit) or a callback's
 * (committer_submit_async). Allocated by the submitter, freed by the
 * committer once done has been called. */
struct job {
    struct store_ingest *items;
    size_t n;
    committer_done_fn done;
    void *arg;
    int64_t queued_at; /* mono us */
    struct job *next;
};

struct committer {
    struct store *store;
    size_t max_batch;
    int64_t linger_us; /* 0: never gather */
    int64_t gap_us;    /* a gather also ends this long after the newest job */
    committer_notify_fn notify;
    void *notify_arg;
    struct committer_handoff handoff; /* all NULL: none */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when the committer waits for it, or on stop */
    struct job *head, *tail;
    size_t queued; /* events in the queue */
    bool stopping;
    /* What the committer waits for: nothing (it is committing), any job
     * (idle), or COMMITTER_GATHER events (gathering). Submitters signal only
     * what it waits for, so a gathering committer is not woken per job. */
    enum { WAIT_NONE, WAIT_ANY, WAIT_GATHER } waiting;
    bool back_to_back; /* work was queued before the last commit ended */
    /* Scratch array of the current batch, reused between commits. */
    struct store_ingest *batch;
    size_t batch_cap;
    /* The current batch's hand-off claims (store_ingest.leased). */
    struct store_claims claims;
};

/* Takes jobs off the queue until max_batch events are gathered; a single
 * job larger than that still goes alone, whole, since it must commit as one. */
static struct job *take_jobs(struct committer *c, size_t *events)
{
    struct job *first = c->head, *last = NULL;
    size_t total = 0;
    for (struct job *j = c->head; j; j = j->next) {
        if (last && total + j->n > c->max_batch)
            break;
        total += j->n;
        last = j;
    }
    c->head = last->next;
    if (!c->head)
        c->tail = NULL;
    last->next = NULL;
    c->queued -= total;
    *events = total;
    return first;
}

/* The events a gathering committer waits for. */
static size_t gather_target(const struct committer *c)
{
    return c->max_batch < COMMITTER_GATHER ? c->max_batch : COMMITTER_GATHER;
}

/* With c->mu held and a job queued: under back-to-back commits, waits for
 * more events to share the next commit (commit.h, COMMITTER_GATHER), while
 * they keep coming: the wait ends at the target, linger_us after the oldest
 * job, gap_us after the newest, or a stop. Without the gap, a few clients
 * publishing one event at a time (fewer than the target in all) would each
 * wait the whole linger on every other commit. */
static void gather(struct committer *c)
{
    if (!c->back_to_back || c->linger_us <= 0)
        return;
    c->waiting = WAIT_GATHER;
    while (!c->stopping && c->queued < gather_target(c)) {
        int64_t oldest = c->head->queued_at + c->linger_us;
        int64_t newest = c->tail->queued_at + c->gap_us;
        int64_t until = oldest < newest ? oldest : newest;
        if (clock_mono_us() >= until)
            break;
        struct timespec ts = {.tv_sec = until / 1000000, .tv_nsec = (until % 1000000) * 1000};
        pthread_cond_timedwait(&c->work, &c->mu, &ts);
    }
    c->waiting = WAIT_NONE;
}

/* Commits the jobs' items as one transaction. *leased is true on entry
 * when the hand-off may lease them, and says on return whether it did. */
static int commit_jobs(struct committer *c, struct job *jobs, size_t total, bool *leased)
{
    if (total > c->batch_cap) {
        c->batch = xrealloc(c->batch, total * sizeof *c->batch);
        c->batch_cap = total;
    }
    size_t k = 0;
    for (struct job *j = jobs; j; j = j->next)
        for (size_t i = 0; i < j->n; i++)
            c->batch[k++] = j->items[i];
    if (*leased) {
        int64_t until = 0;
        const char *owner = c->handoff.lease(c->handoff.arg, total, &until);
        *leased = owner != NULL;
        for (size_t i = 0; owner && i < total; i++) {
            c->batch[i].lease_owner = owner;
            c->batch[i].lease_until = until;
            c->batch[i].leased = &c->claims;
        }
    }
    int rc = c->store->ops->ingest(c->store, c->batch, total);
    if (rc == 0) {
        k = 0;
        for (struct job *j = jobs; j; j = j->next)
            for (size_t i = 0; i < j->n; i++)
                j->items[i] = c->batch[k++];
    }
    return rc;
}

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        c->waiting = WAIT_ANY;
        while (!c->head && !c->stopping)
            pthread_cond_wait(&c->work, &c->mu);
        c->waiting = WAIT_NONE;
        if (!c->head)
            break;
        gather(c);
        size_t total;
        struct job *jobs = take_jobs(c, &total);
        pthread_mutex_unlock(&c->mu);

        int64_t t0 = clock_mono_us();
        bool leased = c->handoff.lease != NULL;
        int rc = commit_jobs(c, jobs, total, &leased);
        int64_t ended = clock_mono_us();
        metrics_commit(ended - t0);
        if (rc == 0)
            metrics_events_ingested((int64_t)total);
        if (rc != 0)
            log_kv(LOG_ERROR, "ingest commit failed", "error", herald_strerror(rc), NULL);
        bool created = false;
        for (struct job *j = jobs; j && rc == 0; j = j->next)
            for (size_t i = 0; i < j->n; i++)
                created |= j->items[i].deliveries > 0 && !j->items[i].duplicate;
        /* Handed off, the new deliveries are this node's already: a
         * wake-up would only run a claim that finds none of them. */
        if (created && leased)
            c->handoff.offer(c->handoff.arg, c->batch, total, &c->claims);
        else if (created && c->notify)
            c->notify(c->notify_arg);
        /* What offer() left, or a failed commit's claims of rows that
         * were rolled back. */
        store_claims_clear(&c->claims);

        for (struct job *j = jobs, *next; j; j = next) {
            next = j->next;
            j->done(j->arg, rc);
            free(j);
        }
        pthread_mutex_lock(&c->mu);
        /* Only jobs that had to wait for this commit make the next one
         * back to back: one a submitter made once answered (the next
         * request of a client publishing one event at a time) did not. */
        c->back_to_back = c->head != NULL && c->head->queued_at < ended;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int committer_start(struct committer **out, struct store *s, size_t max_batch, int64_t linger_us,
                    int64_t gap_us, committer_notify_fn notify, void *arg,
                    const struct committer_handoff *handoff)
{
    struct committer *c = xcalloc(1, sizeof *c);
    c->store = s;
    c->max_batch = max_batch ? max_batch : 1000;
    c->linger_us = linger_us;
    c->gap_us = gap_us;
    c->notify = notify;
    c->notify_arg = arg;
    if (handoff && handoff->lease && handoff->offer)
        c->handoff = *handoff;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca; /* gather() waits against clock_mono_us() */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->work, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        free(c);
        *out = NULL;
        return HERALD_ENOMEM;
    }
    pthread_setname_np(c->thread, "herald-commit");
    *out = c;
    return 0;
}

int committer_submit_async(struct committer *c, struct store_ingest *items, size_t n,
                           committer_done_fn done, void *arg)
{
    struct job *job = xcalloc(1, sizeof *job);
    *job = (struct job){.items = items, .n = n, .done = done, .arg = arg};
    pthread_mutex_lock(&c->mu);
    /* Stamped under the mutex, so the queue is in the order of its stamps,
     * which gather() reads at its head (linger) and tail (gap). */
    job->queued_at = clock_mono_us();
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        free(job);
        return HERALD_ESHUTDOWN;
    }
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    c->queued += n;
    /* A gathering committer is woken once, as the queue reaches its target. */
    size_t target = gather_target(c);
    bool wake = c->waiting == WAIT_ANY ||
                (c->waiting == WAIT_GATHER && c->queued >= target && c->queued - n < target);
    /* Under the mutex: signalled after it, the condition variable could
     * already be destroyed by a committer_stop that ran in between. */
    if (wake)
        pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* A blocked caller's wait. A semaphore, not a condition variable under the
 * committer's mutex: a woken caller then queued for that mutex (still held
 * while the committer woke the rest), one more sleep and wake per request.
 * sem_post() may be the last use of the wait, which then leaves the
 * caller's stack at once: POSIX allows destroying a semaphore as soon as
 * sem_wait() returns. */
struct wait {
    sem_t posted;
    int rc;
};

static void wait_done(void *arg, int rc)
{
    struct wait *w = arg;
    w->rc = rc;
    sem_post(&w->posted);
}

int committer_submit(struct committer *c, struct store_ingest *items, size_t n)
{
    if (n == 0)
        return 0;
    struct wait w = {.rc = HERALD_ESTORE};
    sem_init(&w.posted, 0, 0);
    int rc = committer_submit_async(c, items, n, wait_done, &w);
    if (rc == 0) {
        while (sem_wait(&w.posted) != 0) /* EINTR: a signal, not the commit */
            ;
        rc = w.rc;
    }
    sem_destroy(&w.posted);
    return rc;
}

void committer_stop(struct committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->work);
    free(c->batch);
    free(c);
}
