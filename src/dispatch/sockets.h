/*
 * sockets.h — libcurl's sockets in the dispatcher's epoll set.
 *
 * libcurl tells a multi's owner which sockets to watch through the socket
 * callback (CURLMOPT_SOCKETFUNCTION). When a transfer on a keep-alive
 * connection ends it says CURL_POLL_REMOVE, and when the next transfer
 * takes the same connection it says CURL_POLL_IN again: done literally,
 * that is an EPOLL_CTL_DEL and an EPOLL_CTL_ADD for most deliveries (a
 * drain to one webhook made 0.67 of each per delivery, ~5 % of the
 * network thread). struct sockreg keeps a connection's socket in the set
 * between its transfers instead, and only changes the set when what is
 * watched changes.
 *
 * Keeping a registration is safe only for a socket whose close we hear
 * of: a closed descriptor leaves the epoll set, and a new socket given the
 * same number must then be added, not assumed present. So sockreg_attach
 * installs CURLOPT_SOCKOPTFUNCTION (called for every connection socket
 * libcurl opens) and CURLOPT_CLOSESOCKETFUNCTION (libcurl then closes
 * those sockets through sockreg, which forgets them). Any other socket
 * libcurl watches (a resolver's wake-up pipe, say) is removed from the set
 * when libcurl says so, as before.
 *
 * An idle kept socket still reports readiness: the server closed the
 * connection, or sent something unasked. sockreg_wanted() then drops it
 * from the set (else a closed peer would wake every epoll_wait) and says
 * the event is not libcurl's; libcurl finds the connection dead when it
 * next checks it.
 *
 * A registry is used by one thread only: the one that drives its multi
 * (the dispatcher's loop, or a lane, lane.h).
 */
#ifndef HERALD_DISPATCH_SOCKETS_H
#define HERALD_DISPATCH_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct sockreg {
    int epfd;      /* borrowed */
    uint8_t *flag; /* SOCK_* bits, by descriptor */
    uint32_t *ev;  /* epoll events registered, by descriptor */
    size_t cap;
};

/* Sets r up for the epoll set epfd (which r never closes). No allocation. */
void sockreg_init(struct sockreg *r, int epfd);

/* Frees what r holds. Call after curl_multi_cleanup, which may still close
 * sockets through r. */
void sockreg_release(struct sockreg *r);

/* Makes the connections easy opens known to r (see above). r must outlive
 * every connection opened through easy. */
void sockreg_attach(struct sockreg *r, CURL *easy);

/* The multi's socket callback, with r as CURLMOPT_SOCKETDATA. */
int sockreg_on_socket(CURL *easy, curl_socket_t s, int what, void *r, void *socketp);

/* For an epoll event on fd: true when libcurl watches fd, so the event is
 * for curl_multi_socket_action; false for an idle kept socket, which is
 * then dropped from the set. */
bool sockreg_wanted(struct sockreg *r, int fd);

/* An epoll event (fd, events) from r's set: passed to multi
 * (curl_multi_socket_action) when libcurl watches fd, else dropped as
 * sockreg_wanted says. */
void sockreg_act(struct sockreg *r, CURLM *multi, int fd, uint32_t events);

/* A new multi handle driven through r and epoll: its socket callback keeps
 * r, its timer callback sets *deadline (mono ms, -1 for none) for
 * sockreg_timer; at most maxconnects idle connections kept. NULL when
 * libcurl could not make one. */
CURLM *sockreg_multi(struct sockreg *r, int64_t *deadline, long maxconnects);

/* Runs multi's timeout actions when *deadline (mono ms, -1 for none, as
 * the multi's timer callback set it) has passed, clearing it first. */
void sockreg_timer(CURLM *multi, int64_t *deadline);

/* The two callbacks sockreg_attach installs, exposed for tests. */
int sockreg_sockopt(void *r, curl_socket_t s, curlsocktype purpose);
int sockreg_close(void *r, curl_socket_t s);

#endif
