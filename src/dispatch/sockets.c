#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/util.h"
#include "dispatch/sockets.h"

enum {
    SOCK_OWNED = 1,   /* a connection socket: its close comes through sockreg_close */
    SOCK_IN_SET = 2,  /* registered in the epoll set, with ev[fd] */
    SOCK_WATCHED = 4, /* libcurl wants its events now */
};

void sockreg_init(struct sockreg *r, int epfd)
{
    memset(r, 0, sizeof *r);
    r->epfd = epfd;
}

void sockreg_release(struct sockreg *r)
{
    free(r->flag);
    free(r->ev);
    r->flag = NULL;
    r->ev = NULL;
    r->cap = 0;
}

/* Makes room for descriptor fd. Descriptors are small and dense, so the
 * tables stay as large as the highest one seen (a few KiB). */
static void fit(struct sockreg *r, int fd)
{
    if ((size_t)fd < r->cap)
        return;
    size_t cap = r->cap ? r->cap : 64;
    while (cap <= (size_t)fd)
        cap *= 2;
    r->flag = xrealloc(r->flag, cap * sizeof *r->flag);
    r->ev = xrealloc(r->ev, cap * sizeof *r->ev);
    memset(r->flag + r->cap, 0, (cap - r->cap) * sizeof *r->flag);
    memset(r->ev + r->cap, 0, (cap - r->cap) * sizeof *r->ev);
    r->cap = cap;
}

static void set_remove(struct sockreg *r, int fd)
{
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
    r->flag[fd] &= (uint8_t)~SOCK_IN_SET;
}

/* Registers fd for events, or changes what it is registered for. A failure
 * leaves the transfer to its timeout, as libcurl's own poll would. */
static void set_watch(struct sockreg *r, int fd, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.fd = fd};
    if (r->flag[fd] & SOCK_IN_SET) {
        if (r->ev[fd] == events)
            return;
        if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &e) != 0 && errno == ENOENT)
            epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &e);
    } else if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &e) != 0 && errno == EEXIST) {
        epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &e);
    }
    r->flag[fd] |= SOCK_IN_SET;
    r->ev[fd] = events;
}

int sockreg_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct sockreg *r = userp;
    (void)easy;
    (void)socketp;
    if (s < 0)
        return 0;
    fit(r, s);
    if (what == CURL_POLL_REMOVE) {
        r->flag[s] &= (uint8_t)~SOCK_WATCHED;
        /* A connection back in libcurl's pool stays in the set for its next
         * transfer; anything else leaves it now. */
        if ((r->flag[s] & SOCK_IN_SET) && !(r->flag[s] & SOCK_OWNED))
            set_remove(r, s);
        return 0;
    }
    uint32_t events = 0;
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    set_watch(r, s, events);
    r->flag[s] |= SOCK_WATCHED;
    return 0;
}

bool sockreg_wanted(struct sockreg *r, int fd)
{
    if (fd < 0 || (size_t)fd >= r->cap || (r->flag[fd] & SOCK_WATCHED))
        return true;
    if (r->flag[fd] & SOCK_IN_SET)
        set_remove(r, fd); /* idle: closed by the server, or unasked bytes */
    return false;
}

void sockreg_act(struct sockreg *r, CURLM *multi, int fd, uint32_t events)
{
    if (!sockreg_wanted(r, fd))
        return;
    int flags = 0;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(multi, fd, flags, &running);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    int64_t *deadline = userp;
    (void)multi;
    *deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    return 0;
}

CURLM *sockreg_multi(struct sockreg *r, int64_t *deadline, long maxconnects)
{
    CURLM *multi = curl_multi_init();
    if (!multi)
        return NULL;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sockreg_on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, deadline);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, maxconnects);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return multi;
}

void sockreg_timer(CURLM *multi, int64_t *deadline)
{
    if (*deadline < 0 || clock_mono_ms() < *deadline)
        return;
    *deadline = -1;
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

int sockreg_sockopt(void *userp, curl_socket_t s, curlsocktype purpose)
{
    struct sockreg *r = userp;
    if (purpose == CURLSOCKTYPE_IPCXN && s >= 0) {
        fit(r, s);
        r->flag[s] = SOCK_OWNED; /* a new socket: nothing known of the number's past */
        r->ev[s] = 0;
    }
    return CURL_SOCKOPT_OK;
}

int sockreg_close(void *userp, curl_socket_t s)
{
    struct sockreg *r = userp;
    if (s >= 0 && (size_t)s < r->cap) {
        /* Closing would drop the registration too, unless the socket's file
         * lives on elsewhere (a forked child): removed explicitly. */
        if (r->flag[s] & SOCK_IN_SET)
            epoll_ctl(r->epfd, EPOLL_CTL_DEL, s, NULL);
        r->flag[s] = 0;
        r->ev[s] = 0;
    }
    return close(s);
}

void sockreg_attach(struct sockreg *r, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, sockreg_sockopt);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, r);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, sockreg_close);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, r);
}
