/*
 * watchdog.h — the deadline for reading a request, against slowloris.
 *
 * libmicrohttpd's connection timeout counts inactivity, so a client that
 * sends one header byte a second keeps a connection (and, with one thread
 * per connection, a thread) forever. The watchdog gives every request a
 * deadline instead: from the moment a connection opens, or the previous
 * request on it completed, the next request's headers and body must have
 * arrived within `timeout_ms`; past it, a thread of its own shuts the
 * socket down (shutdown(2), never close(2): the descriptor stays the
 * connection's), and the connection's thread sees the end of the stream
 * and closes it.
 *
 * Usage from server.c: watchdog_open() when a connection starts,
 * watchdog_read() once its request is read (a response is queued),
 * watchdog_rearm() when that request completed (keep-alive waits for the
 * next one), watchdog_close() before the connection's socket is closed —
 * libmicrohttpd's "closed" notification comes before it closes the
 * descriptor, which is what makes shutting it down from another thread
 * safe: both happen under the watchdog's lock.
 */
#ifndef HERALD_API_WATCHDOG_H
#define HERALD_API_WATCHDOG_H

#include <stdint.h>

struct watchdog;
struct watch; /* one connection */

/* Starts the watchdog thread, checking every check_ms. HERALD_EIO when
 * the thread cannot start. */
int watchdog_start(struct watchdog **out, int64_t timeout_ms, int64_t check_ms);

/* Stops the thread and frees wd; every watch must have been closed.
 * NULL is fine. */
void watchdog_stop(struct watchdog *wd);

/* Watches socket fd, with the deadline starting now. Never fails. */
struct watch *watchdog_open(struct watchdog *wd, int fd);

/* The request on w has been read: no deadline until watchdog_rearm().
 * NULL w is fine (as for the next two). */
void watchdog_read(struct watchdog *wd, struct watch *w);

/* A new request may come on w: the deadline starts again now. */
void watchdog_rearm(struct watchdog *wd, struct watch *w);

/* Stops watching and frees w; after this the watchdog never touches its
 * socket. NULL is fine. */
void watchdog_close(struct watchdog *wd, struct watch *w);

/* How many connections the watchdog has shut down so far (for tests and
 * logs). */
uint64_t watchdog_cut_count(struct watchdog *wd);

#endif
