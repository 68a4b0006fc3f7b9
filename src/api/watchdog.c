/* watchdog.c — per-request read deadlines (see watchdog.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "api/watchdog.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

struct watch {
    struct watch *prev, *next;
    int fd;
    int64_t deadline; /* monotonic ms; 0 while no request is being read */
};

struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled to stop */
    pthread_t thread;
    bool stopping;
    int64_t timeout_ms, check_ms;
    struct watch head; /* sentinel of a circular list */
    uint64_t cut;
};

/* Shuts down every socket whose request is overdue. The lock is held, so
 * no watch can be closed (and no descriptor reused) meanwhile. */
static void sweep(struct watchdog *wd, int64_t now)
{
    for (struct watch *w = wd->head.next; w != &wd->head; w = w->next) {
        if (w->deadline == 0 || now < w->deadline)
            continue;
        shutdown(w->fd, SHUT_RDWR);
        w->deadline = 0; /* once is enough: the connection's thread closes it */
        wd->cut++;
    }
}

static void *run(void *arg)
{
    struct watchdog *wd = arg;
    pthread_mutex_lock(&wd->mu);
    while (!wd->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(wd->check_ms / 1000);
        ts.tv_nsec += (long)(wd->check_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
        if (rc == ETIMEDOUT || rc == 0)
            sweep(wd, clock_mono_ms());
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

int watchdog_start(struct watchdog **out, int64_t timeout_ms, int64_t check_ms)
{
    struct watchdog *wd = xcalloc(1, sizeof *wd);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&wd->mu, NULL);
    wd->timeout_ms = timeout_ms;
    wd->check_ms = check_ms > 0 ? check_ms : 1;
    wd->head.next = wd->head.prev = &wd->head;
    *out = NULL;
    if (pthread_create(&wd->thread, NULL, run, wd) != 0) {
        pthread_cond_destroy(&wd->cv);
        pthread_mutex_destroy(&wd->mu);
        free(wd);
        return HERALD_EIO;
    }
    pthread_setname_np(wd->thread, "herald-watchdog");
    *out = wd;
    return 0;
}

void watchdog_stop(struct watchdog *wd)
{
    if (!wd)
        return;
    pthread_mutex_lock(&wd->mu);
    wd->stopping = true;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->cv);
    pthread_mutex_destroy(&wd->mu);
    free(wd);
}

struct watch *watchdog_open(struct watchdog *wd, int fd)
{
    struct watch *w = xcalloc(1, sizeof *w);
    w->fd = fd;
    pthread_mutex_lock(&wd->mu);
    w->deadline = clock_mono_ms() + wd->timeout_ms;
    w->next = &wd->head;
    w->prev = wd->head.prev;
    wd->head.prev->next = w;
    wd->head.prev = w;
    pthread_mutex_unlock(&wd->mu);
    return w;
}

void watchdog_read(struct watchdog *wd, struct watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&wd->mu);
    w->deadline = 0;
    pthread_mutex_unlock(&wd->mu);
}

void watchdog_rearm(struct watchdog *wd, struct watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&wd->mu);
    w->deadline = clock_mono_ms() + wd->timeout_ms;
    pthread_mutex_unlock(&wd->mu);
}

void watchdog_close(struct watchdog *wd, struct watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&wd->mu);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    pthread_mutex_unlock(&wd->mu);
    free(w);
}

uint64_t watchdog_cut_count(struct watchdog *wd)
{
    pthread_mutex_lock(&wd->mu);
    uint64_t n = wd->cut;
    pthread_mutex_unlock(&wd->mu);
    return n;
}
