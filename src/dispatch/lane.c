/*
 * lane.c — a sending thread (see lane.h).
 *
 * The thread waits in epoll on its multi's sockets and on an eventfd the
 * owner writes after each submit. Each turn it adds what was submitted,
 * lets libcurl progress, and hands every finished handle back in one
 * batch: one lock and one eventfd write for however many came back, so
 * the hand-offs cost the owner's loop a wake-up per turn, not per
 * transfer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "dispatch/lane.h"

#define LANE_EVENTS 64

/* A growable array of handles in one direction. */
struct handles {
    CURL **v;
    size_t n, cap;
};

struct lane {
    pthread_t thread;
    bool started;
    int epfd, evfd, notify_fd;
    struct sockreg socks;
    CURLM *multi;
    int64_t curl_deadline; /* mono ms, -1 when libcurl has no timer */
    size_t active;         /* in the multi (lane thread only) */

    pthread_mutex_t mu; /* guards the three below */
    struct handles in;  /* submitted, not yet added */
    struct lane_done *out;
    size_t n_out, cap_out;
    bool stop;

    /* The lane thread's own: taken from in, and finished this turn. */
    struct handles adding;
    struct lane_done *done;
    size_t n_done, cap_done;
};

static void push_done(struct lane_done **v, size_t *n, size_t *cap, struct lane_done d)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = d;
}

static int wait_ms(const struct lane *l)
{
    if (l->curl_deadline < 0)
        return -1;
    int64_t t = l->curl_deadline - clock_mono_ms();
    return t <= 0 ? 0 : (int)(t < 60000 ? t : 60000);
}

/* Takes what the owner submitted; true when asked to stop. */
static bool take_submitted(struct lane *l)
{
    uint64_t v;
    ssize_t r = read(l->evfd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&l->mu);
    struct handles t = l->in;
    l->in = l->adding;
    l->adding = t;
    bool stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < l->adding.n; i++) {
        if (curl_multi_add_handle(l->multi, l->adding.v[i]) == CURLM_OK)
            l->active++;
        else
            push_done(&l->done, &l->n_done, &l->cap_done,
                      (struct lane_done){l->adding.v[i], CURLE_OUT_OF_MEMORY, clock_mono_ms()});
    }
    l->adding.n = 0;
    return stop;
}

size_t lane_reap(CURLM *multi, struct lane_done **v, size_t *n, size_t *cap)
{
    size_t before = *n;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(multi, easy);
        push_done(v, n, cap, (struct lane_done){easy, rc, clock_mono_ms()});
    }
    return *n - before;
}

static void give_back(struct lane *l)
{
    if (l->n_done == 0)
        return;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_done; i++)
        push_done(&l->out, &l->n_out, &l->cap_out, l->done[i]);
    pthread_mutex_unlock(&l->mu);
    l->n_done = 0;
    uint64_t one = 1;
    ssize_t r = write(l->notify_fd, &one, sizeof one);
    (void)r; /* EAGAIN: a wake-up is already pending */
}

static void *run(void *arg)
{
    struct lane *l = arg;
    struct epoll_event ev[LANE_EVENTS];
    bool stop = false;
    while (!stop || l->active > 0) {
        int n = epoll_wait(l->epfd, ev, LANE_EVENTS, wait_ms(l));
        if (n < 0) {
            if (errno != EINTR)
                log_kv(LOG_ERROR, "epoll_wait failed", "error", strerror(errno), NULL);
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == l->evfd) {
                stop |= take_submitted(l);
                continue;
            }
            sockreg_act(&l->socks, l->multi, fd, ev[i].events);
        }
        sockreg_timer(l->multi, &l->curl_deadline);
        l->active -= lane_reap(l->multi, &l->done, &l->n_done, &l->cap_done);
        give_back(l);
    }
    return NULL;
}

static void lane_release(struct lane *l)
{
    if (l->multi)
        curl_multi_cleanup(l->multi); /* closes the pooled connections through l->socks */
    sockreg_release(&l->socks);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    pthread_mutex_destroy(&l->mu);
    free(l->in.v);
    free(l->adding.v);
    free(l->out);
    free(l->done);
}

static int setup(struct lane *l, long maxconnects)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sockreg_init(&l->socks, l->epfd);
    if (l->epfd < 0 || l->evfd < 0)
        return HERALD_EIO;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->evfd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0)
        return HERALD_EIO;
    l->multi = sockreg_multi(&l->socks, &l->curl_deadline, maxconnects);
    return l->multi ? 0 : HERALD_ENOMEM;
}

int lane_start(struct lane **out, const char *name, int notify_fd, long maxconnects)
{
    *out = NULL;
    struct lane *l = xcalloc(1, sizeof *l);
    l->epfd = l->evfd = -1;
    l->notify_fd = notify_fd;
    l->curl_deadline = -1;
    pthread_mutex_init(&l->mu, NULL);
    int rc = setup(l, maxconnects);
    if (rc == 0 && pthread_create(&l->thread, NULL, run, l) != 0)
        rc = HERALD_ENOMEM;
    if (rc != 0) {
        lane_release(l);
        free(l);
        return rc;
    }
    l->started = true;
    pthread_setname_np(l->thread, name);
    *out = l;
    return 0;
}

struct sockreg *lane_socks(struct lane *l)
{
    return &l->socks;
}

static void wake(struct lane *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: a wake-up is already pending */
}

void lane_submit(struct lane *l, CURL *const *easy, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&l->mu);
    if (l->in.n + n > l->in.cap) {
        l->in.cap = l->in.n + n + 64;
        l->in.v = xrealloc(l->in.v, l->in.cap * sizeof *l->in.v);
    }
    memcpy(l->in.v + l->in.n, easy, n * sizeof *easy);
    l->in.n += n;
    pthread_mutex_unlock(&l->mu);
    wake(l);
}

size_t lane_collect(struct lane *l, struct lane_done **out, size_t *cap)
{
    pthread_mutex_lock(&l->mu);
    /* Swap arrays: the lane keeps filling the caller's old one. */
    struct lane_done *v = l->out;
    size_t n = l->n_out, c = l->cap_out;
    l->out = *out;
    l->cap_out = *cap;
    l->n_out = 0;
    pthread_mutex_unlock(&l->mu);
    *out = v;
    *cap = c;
    return n;
}

void lane_stop(struct lane *l)
{
    if (!l || !l->started)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    pthread_join(l->thread, NULL);
    l->started = false;
}

void lane_free(struct lane *l)
{
    if (!l)
        return;
    lane_stop(l);
    lane_release(l);
    free(l);
}
