/* server.c — the libmicrohttpd daemon: reads requests (body capped),
 * routes them, authenticates, runs the handler and sends its answer.
 *
 * An event loop (epoll, a small pool of threads) reads and writes every
 * connection. Ingest requests are parsed and validated on it, then their
 * connection is suspended while the group commit makes their events
 * durable: the committer resumes it, and the loop sends the 202. Under load
 * one wake-up of a loop thread answers many requests, where a thread per
 * connection cost two sleeps and two wake-ups per request (two thirds of
 * ingest's CPU went to switching threads). Every other handler may block
 * on the store, so it runs on a worker thread while its connection is
 * suspended; a slow query never stalls other clients. Connection count,
 * per-IP connections, idle time and header memory are all bounded
 * (DESIGN.md §6). */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/handlers.h"
#include "api/http.h"
#include "api/ratelimit.h"
#include "api/router.h"
#include "api/server.h"
#include "api/watchdog.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/commit.h"

/* Connection count, per-IP connections, idle time: herald_config
 * (max_connections, max_connections_per_ip, idle_timeout_s). */
/* Memory per connection for the request line and headers (and the read
 * buffer): a header block that does not fit (past ~15 KiB) is answered
 * 431 by libmicrohttpd. Small on purpose: libmicrohttpd zeroes the whole
 * pool for every request, and at 64 KiB that memset was 11 % of the event
 * loop's time under single-event ingest (perf). */
#define CONNECTION_MEMORY 16384
/* A body announced or sent beyond the cap is answered 413; past this many
 * times the cap, an unannounced (chunked) body is cut by closing. */
#define DISCARD_FACTOR 4
/* Request headers beyond this many are answered 431: real clients send
 * about ten, and each costs a lookup on every header read. */
#define MAX_REQUEST_HEADERS 100
/* Client IPs (or IPv6 /64s) whose failed authentications are counted. */
#define AUTH_FAIL_TABLE 4096
/* API keys whose request rate is tracked at once. */
#define KEY_RATE_TABLE 4096
/* How often the watchdog looks for overdue requests. */
#define WATCHDOG_CHECK_MS 250
/* Event loop threads: the loop only moves bytes and validates ingest
 * requests, so about one per core, and more only for loop_threads()'s
 * reason. */
#define LOOP_THREADS 2
/* libmicrohttpd's epoll loop (MHD_epoll, 0.9.75 through 1.0.10) takes ready
 * sockets in rounds of 128 and, when a round comes back full, waits for
 * the next round with the first one's timeout (up to the connection
 * timeout) instead of none, before it has served the first. A loop whose
 * sockets all turn ready at once, 128 or more of them, then sleeps on
 * them: under load every client of that loop waited ~30 s, and the
 * watchdog cut those whose read deadline passed first. A loop watches
 * its connections, the listen socket and its wake-up channel, so one
 * that holds at most 125 connections can never fill a round. */
#define EPOLL_ROUND 128
#define CONNS_PER_LOOP (EPOLL_ROUND - 3)
/* The most loop threads --max-connections may ask for (server.h). */
#define LOOP_THREADS_MAX 64
/* Threads running the handlers that may block (all but ingest): this many
 * slow store queries at once before further ones queue. --workers sets
 * another number. */
#define WORKER_THREADS 8

struct req_ctx;

/* The worker threads and their queue of parked requests. */
struct workers {
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct req_ctx *head, *tail;
    bool stopping;
    pthread_t *threads;
    size_t n_threads;
};

struct api_server {
    struct MHD_Daemon *daemon;
    struct herald *h;
    int port;
    struct ratelimit *key_rate;  /* per API key; NULL when off */
    struct ratelimit *auth_fail; /* failed authentications per client IP; NULL when off */
    struct watchdog *watchdog;   /* request read deadlines (slowloris) */
    struct workers workers;
    /* Connections suspended and not yet answered: api_stop() waits for
     * them (libmicrohttpd must not stop with one suspended), and once
     * stopping is set no request is parked any more. */
    pthread_mutex_t park_mu;
    pthread_cond_t unparked;
    size_t parked;
    bool stopping;
};

/* State of one request while its body arrives, and while it is parked
 * (its connection suspended) until a worker or the committer is done. */
struct req_ctx {
    struct buf body;
    bool too_big;
    bool answered; /* a response was queued, or the request is being handled */
    size_t discarded;
    int64_t started; /* monotonic ms */
    /* Parked: */
    bool parked;          /* counted in api_server.parked */
    bool ready;           /* the worker or the commit is done: answer rs */
    int commit_rc;        /* the commit's result, for rs.pending */
    struct api_resp rs;   /* the answer being made */
    struct route_match m; /* the route a worker runs */
    struct MHD_Connection *conn;
    const char *url, *method; /* libmicrohttpd's, valid until the request completes */
    struct req_ctx *next;     /* in the workers' queue */
};

/* The watch on_connection() made for conn (NULL only if it had no socket). */
static struct watch *conn_watch(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void log_request(const char *method, const char *path, int status, int64_t started)
{
    if (!log_enabled(LOG_DEBUG))
        return;
    char st[8], ms[24];
    snprintf(st, sizeof st, "%d", status);
    snprintf(ms, sizeof ms, "%lld", (long long)(clock_mono_ms() - started));
    log_kv(LOG_DEBUG, "request", "method", method, "path", path, "status", st, "ms", ms, NULL);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct api_resp *rs)
{
    struct MHD_Response *r;
    if (rs->body) {
        r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
        if (r)
            rs->body = NULL; /* libmicrohttpd frees it now */
    } else {
        r = MHD_create_response_from_buffer(
            rs->len, (void *)(rs->static_body ? rs->static_body : ""), MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    if (rs->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    bool cache_set = false;
    for (size_t i = 0; i < rs->n_headers; i++) {
        MHD_add_response_header(r, rs->headers[i].name, rs->headers[i].value);
        cache_set |= strcmp(rs->headers[i].name, "Cache-Control") == 0;
    }
    /* API answers carry secrets and per-account data: never cached. */
    if (!cache_set)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The client's address as a rate-limit key: the IPv4 address, or the /64
 * of an IPv6 one, since one IPv6 host usually holds a whole /64. */
static void client_key(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    str_copy(out, cap, "?");
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa && sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(&a))
            memset(a.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a, out, (socklen_t)cap);
    }
}

static void too_many(struct api_resp *rs, int64_t wait_ms, const char *why)
{
    char secs[24];
    snprintf(secs, sizeof secs, "%lld", (long long)((wait_ms + 999) / 1000));
    resp_error(rs, HTTP_TOO_MANY_REQUESTS, "rate_limited", NULL, "%s; retry after %s s", why, secs);
    resp_header(rs, "Retry-After", secs);
}

/* auth_request() behind the two rate limits: a client address with too
 * many failed authentications is refused before its key is even looked
 * at (429), and a valid key past its request rate is refused (429). Both
 * answers carry Retry-After. */
static bool authenticate(struct api_server *srv, struct api_req *rq, struct api_resp *rs,
                         bool admin_only)
{
    char ip[INET6_ADDRSTRLEN + 8];
    int64_t now = clock_mono_ms(), wait;
    if (srv->auth_fail) {
        client_key(rq->conn, ip, sizeof ip);
        if ((wait = ratelimit_peek(srv->auth_fail, ip, now)) > 0) {
            too_many(rs, wait, "too many failed authentications from this address");
            return false;
        }
    }
    if (!auth_request(rq, rs, admin_only)) {
        /* A wrong or malformed key counts; no key at all (a browser
         * finding its way) does not. */
        if (srv->auth_fail && rs->status == HTTP_UNAUTHORIZED &&
            req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION))
            ratelimit_take(srv->auth_fail, ip, now);
        return false;
    }
    if (srv->key_rate && (wait = ratelimit_take(srv->key_rate, rq->auth.key_id, now)) > 0) {
        too_many(rs, wait, "too many requests for this API key");
        return false;
    }
    return true;
}

/* Finds the route for the request; false when it is answered here (413,
 * 404, 405, an embedded asset). */
static bool route(struct api_server *srv, struct req_ctx *c, const char *url, const char *method,
                  struct route_match *m, struct api_resp *rs)
{
    if (c->too_big) {
        resp_error(rs, HTTP_TOO_LARGE, "too_large", NULL, "the body exceeds %zu bytes",
                   srv->h->cfg.max_body);
        return false;
    }
    router_match(api_routes, method, url, m);
    if (m->route)
        return true;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (get && !m->path_known && api_asset(url, rs))
        return false;
    if (m->path_known) {
        resp_error(rs, HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
                   "%s is not allowed here; allowed: %s", method, m->allow);
        resp_header(rs, MHD_HTTP_HEADER_ALLOW, m->allow);
    } else {
        resp_error(rs, HTTP_NOT_FOUND, "not_found", NULL, "no such route");
    }
    return false;
}

/* Authenticates and runs m's handler, which fills rs (or, for ingest,
 * leaves a pending commit in it). */
static void run_route(struct api_server *srv, struct req_ctx *c, struct MHD_Connection *conn,
                      const char *url, const char *method, const struct route_match *m,
                      struct api_resp *rs)
{
    struct api_req rq = {
        .h = srv->h,
        .conn = conn,
        .method = method,
        .path = url,
        .body = c->body.data ? c->body.data : "",
        .body_len = c->body.len,
        .now = clock_now_ms(),
    };
    memcpy(rq.params, m->params, sizeof rq.params);
    rq.n_params = m->n_params;
    if (m->route->auth != ROUTE_PUBLIC &&
        !authenticate(srv, &rq, rs, m->route->auth == ROUTE_ADMIN))
        return;
    m->route->fn(&rq, rs);
    if (rs->status == 0 && !rs->pending) /* a handler that forgot to answer is a bug, not a 200 */
        resp_error(rs, HTTP_INTERNAL, "internal", NULL, "the request could not be answered");
}

static enum MHD_Result answer_now(struct MHD_Connection *conn, struct req_ctx *c, const char *url,
                                  const char *method, struct api_resp *rs)
{
    enum MHD_Result ret = send_resp(conn, rs);
    log_request(method, url, rs->status, c->started);
    resp_release(rs);
    return ret;
}

/* Sets up a request on its first call; answers 413 at once when the
 * announced body is already too large, before reading any of it. */
static enum MHD_Result begin(struct api_server *srv, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    struct req_ctx *c = xcalloc(1, sizeof *c);
    buf_init(&c->body, srv->h->cfg.max_body);
    c->started = clock_mono_ms();
    *con_cls = c;
    if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL) > MAX_REQUEST_HEADERS) {
        struct api_resp rs = {0};
        c->answered = true;
        resp_error(&rs, HTTP_HEADERS_TOO_LARGE, "headers_too_large", NULL,
                   "a request may carry at most %d headers", MAX_REQUEST_HEADERS);
        return answer_now(conn, c, url, method, &rs);
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n;
    if (!cl || !parse_strict_int(cl, 0, INT64_MAX, &n) || (uint64_t)n <= srv->h->cfg.max_body)
        return MHD_YES;
    struct api_resp rs = {0};
    c->too_big = c->answered = true;
    resp_error(&rs, HTTP_TOO_LARGE, "too_large", NULL, "the body exceeds %zu bytes",
               srv->h->cfg.max_body);
    return answer_now(conn, c, url, method, &rs);
}

/* Keeps body bytes up to the cap; past it, counts and drops them so the
 * client still gets its 413, unless it goes on far beyond. */
static enum MHD_Result take_body(struct api_server *srv, struct req_ctx *c, const char *data,
                                 size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (c->answered)
        return MHD_YES;
    if (!c->too_big && buf_append(&c->body, data, n) != 0) {
        c->too_big = true;
        c->discarded = c->body.len;
        buf_release(&c->body);
    }
    if (c->too_big) {
        c->discarded += n;
        /* libmicrohttpd cannot answer in the middle of a body: a client
         * that keeps sending far past the cap is simply disconnected. */
        if (c->discarded > DISCARD_FACTOR * srv->h->cfg.max_body)
            return MHD_NO;
    }
    return MHD_YES;
}

/* Suspends conn until resume(c); false once the server is stopping (the
 * caller then handles the request on the spot). */
static bool park(struct api_server *srv, struct req_ctx *c, struct MHD_Connection *conn,
                 const char *url, const char *method)
{
    pthread_mutex_lock(&srv->park_mu);
    bool ok = !srv->stopping;
    if (ok)
        srv->parked++;
    pthread_mutex_unlock(&srv->park_mu);
    if (!ok)
        return false;
    c->parked = true;
    c->conn = conn;
    c->url = url;
    c->method = method;
    MHD_suspend_connection(conn);
    return true;
}

/* From the worker or the committer: c's answer (or commit result) is in.
 * libmicrohttpd's resume takes its lock, which the loop thread takes too
 * before it looks at c again: what was written to c before is seen. */
static void resume(struct req_ctx *c)
{
    c->ready = true;
    MHD_resume_connection(c->conn);
}

static void unpark(struct api_server *srv, struct req_ctx *c)
{
    if (!c->parked)
        return;
    c->parked = false;
    pthread_mutex_lock(&srv->park_mu);
    if (--srv->parked == 0)
        pthread_cond_broadcast(&srv->unparked);
    pthread_mutex_unlock(&srv->park_mu);
}

static void on_committed(void *arg, int rc)
{
    struct req_ctx *c = arg;
    c->commit_rc = rc;
    resume(c);
}

static void *worker_main(void *arg)
{
    struct api_server *srv = arg;
    struct workers *w = &srv->workers;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->work, &w->mu);
        struct req_ctx *c = w->head;
        if (!c)
            break;
        w->head = c->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        run_route(srv, c, c->conn, c->url, c->method, &c->m, &c->rs);
        resume(c);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void workers_push(struct workers *w, struct req_ctx *c)
{
    c->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = c;
    else
        w->head = c;
    w->tail = c;
    pthread_mutex_unlock(&w->mu);
    pthread_cond_signal(&w->work);
}

/* w's lock and condition variable are initialised (api_start). */
static int workers_start(struct api_server *srv)
{
    struct workers *w = &srv->workers;
    size_t n = srv->h->cfg.workers > 0 ? (size_t)srv->h->cfg.workers : WORKER_THREADS;
    w->threads = xcalloc(n, sizeof *w->threads);
    for (; w->n_threads < n; w->n_threads++) {
        if (pthread_create(&w->threads[w->n_threads], NULL, worker_main, srv) != 0)
            return HERALD_EIO;
        /* Named, so `ps -L` and /proc tell them from the loop threads. */
        pthread_setname_np(w->threads[w->n_threads], "herald-api");
    }
    return 0;
}

/* Joins the threads workers_start() made; every parked request must have
 * been answered (api_stop). */
static void workers_stop(struct workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    w->threads = NULL;
    w->n_threads = 0;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
}

_Static_assert(API_MAX_CONNECTIONS <= LOOP_THREADS_MAX * CONNS_PER_LOOP,
               "API_MAX_CONNECTIONS needs more than LOOP_THREADS_MAX loop threads");

/* Loop threads for cfg->max_connections: enough that none holds more
 * than CONNS_PER_LOOP (libmicrohttpd splits the limit evenly among them,
 * the remainder one each), 9 for the default 1 024. */
static unsigned loop_threads(const struct herald_config *cfg)
{
    unsigned need = ((unsigned)cfg->max_connections + CONNS_PER_LOOP - 1) / CONNS_PER_LOOP;
    return need > LOOP_THREADS ? need : LOOP_THREADS;
}

/* An ingest: validated here on the loop; its connection waits, suspended,
 * for the group commit (or, once stopping, this thread does). */
static enum MHD_Result handle_ingest(struct api_server *srv, struct req_ctx *c,
                                     struct MHD_Connection *conn, const char *url,
                                     const char *method, const struct route_match *m)
{
    struct api_resp *rs = &c->rs;
    run_route(srv, c, conn, url, method, m, rs);
    struct api_pending *p = rs->pending;
    if (!p)
        return answer_now(conn, c, url, method, rs);
    struct committer *committer = srv->h->committer;
    int rc = HERALD_ESHUTDOWN;
    if (park(srv, c, conn, url, method)) {
        rc = committer_submit_async(committer, p->items, p->n, on_committed, c);
        if (rc == 0)
            return MHD_YES;
        on_committed(c, rc); /* answered once resumed */
        return MHD_YES;
    }
    rc = committer_submit(committer, p->items, p->n);
    p->finish(p, rc, rs);
    return answer_now(conn, c, url, method, rs);
}

/* The whole request is in: answers it now, or parks it (handle_ingest, or
 * a worker for a handler that may block). */
static enum MHD_Result handle(struct api_server *srv, struct req_ctx *c,
                              struct MHD_Connection *conn, const char *url, const char *method)
{
    if (!route(srv, c, url, method, &c->m, &c->rs))
        return answer_now(conn, c, url, method, &c->rs);
    if (c->m.route->run == ROUTE_COMMITS)
        return handle_ingest(srv, c, conn, url, method, &c->m);
    if (park(srv, c, conn, url, method)) {
        workers_push(&srv->workers, c);
        return MHD_YES;
    }
    run_route(srv, c, conn, url, method, &c->m, &c->rs);
    return answer_now(conn, c, url, method, &c->rs);
}

/* A parked request, resumed: sends what the worker or the commit made. */
static enum MHD_Result answer_parked(struct api_server *srv, struct req_ctx *c,
                                     struct MHD_Connection *conn, const char *url,
                                     const char *method)
{
    struct api_resp *rs = &c->rs;
    c->ready = false;
    unpark(srv, c);
    if (rs->pending && rs->status == 0)
        rs->pending->finish(rs->pending, c->commit_rc, rs);
    return answer_now(conn, c, url, method, rs);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct api_server *srv = cls;
    struct req_ctx *c = *con_cls;
    (void)version;
    if (!c)
        return begin(srv, conn, url, method, con_cls);
    if (*upload_size)
        return take_body(srv, c, upload_data, upload_size);
    if (c->ready)
        return answer_parked(srv, c, conn, url, method);
    if (c->answered)
        return MHD_YES;
    c->answered = true;
    /* The whole request is in: the read deadline no longer applies (an
     * ingest may now wait for its commit as long as it takes). */
    watchdog_read(srv->watchdog, conn_watch(conn));
    return handle(srv, c, conn, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    struct req_ctx *c = *con_cls;
    (void)toe;
    /* Keep-alive: the next request on this connection has its own deadline. */
    watchdog_rearm(srv->watchdog, conn_watch(conn));
    if (!c)
        return;
    unpark(srv, c); /* resumed, then closed before it was answered */
    resp_release(&c->rs);
    buf_release(&c->body);
    free(c);
    *con_cls = NULL;
}

/* Every connection is watched from start to close (watchdog.h). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct api_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? watchdog_open(srv->watchdog, ci->connect_fd) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        watchdog_close(srv->watchdog, *socket_context);
        *socket_context = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_kv(LOG_DEBUG, "http server", "detail", msg, NULL);
}

/* Resolves the listen address: an IPv4 or IPv6 literal (or a name). */
static int listen_addr(const struct herald_config *cfg, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    const char *host = cfg->listen_host;
    char lit[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        snprintf(lit, sizeof lit, "%.*s", (int)(n - 2), host + 1);
        host = lit;
    }
    if (cfg->listen_port < 0 || cfg->listen_port > 65535)
        return HERALD_EINVAL;
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0 || !res)
        return HERALD_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int api_start(struct api_server **out, struct herald *h)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    *out = NULL;
    int rc = listen_addr(&h->cfg, &ss, &sslen);
    if (rc) {
        log_kv(LOG_ERROR, "cannot resolve the listen address", "host", h->cfg.listen_host, NULL);
        return rc;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) {
        static const struct in6_addr any = IN6ADDR_ANY_INIT;
        bool wildcard = memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &any, sizeof any) == 0;
        flags |= wildcard ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    }
    const struct herald_config *cfg = &h->cfg;
    struct api_server *srv = xcalloc(1, sizeof *srv);
    srv->h = h;
    pthread_mutex_init(&srv->park_mu, NULL);
    pthread_cond_init(&srv->unparked, NULL);
    pthread_mutex_init(&srv->workers.mu, NULL);
    pthread_cond_init(&srv->workers.work, NULL);
    if (cfg->rate_limit > 0)
        srv->key_rate = ratelimit_new(cfg->rate_limit,
                                      cfg->rate_burst > 0 ? cfg->rate_burst : 2 * cfg->rate_limit,
                                      KEY_RATE_TABLE);
    if (cfg->auth_fail_per_min > 0)
        srv->auth_fail =
            ratelimit_new(cfg->auth_fail_per_min / 60.0, cfg->auth_fail_per_min, AUTH_FAIL_TABLE);
    if (watchdog_start(&srv->watchdog, (int64_t)cfg->idle_timeout_s * 1000, WATCHDOG_CHECK_MS)) {
        log_kv(LOG_ERROR, "cannot start the HTTP server's watchdog", NULL);
        rc = HERALD_EIO;
        goto fail;
    }
    if (workers_start(srv)) {
        log_kv(LOG_ERROR, "cannot start the HTTP server's worker threads", NULL);
        rc = HERALD_EIO;
        goto fail;
    }
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, loop_threads(cfg),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        log_kv(LOG_ERROR, "cannot start the HTTP server", "host", cfg->listen_host, NULL);
        rc = HERALD_EIO;
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : h->cfg.listen_port;
    *out = srv;
    return 0;
fail:
    workers_stop(&srv->workers);
    watchdog_stop(srv->watchdog);
    ratelimit_free(srv->key_rate);
    ratelimit_free(srv->auth_fail);
    pthread_mutex_destroy(&srv->park_mu);
    pthread_cond_destroy(&srv->unparked);
    free(srv);
    return rc;
}

int api_port(const struct api_server *srv)
{
    return srv ? srv->port : 0;
}

void api_stop(struct api_server *srv)
{
    if (!srv)
        return;
    /* Parked requests finish first (their workers and commits still run;
     * the committer stops after the server), and no new one is parked:
     * libmicrohttpd must not stop with a connection suspended. */
    pthread_mutex_lock(&srv->park_mu);
    srv->stopping = true;
    while (srv->parked > 0)
        pthread_cond_wait(&srv->unparked, &srv->park_mu);
    pthread_mutex_unlock(&srv->park_mu);
    /* Joins the loop threads; every connection's watch is closed before
     * the watchdog goes. */
    MHD_stop_daemon(srv->daemon);
    workers_stop(&srv->workers);
    watchdog_stop(srv->watchdog);
    ratelimit_free(srv->key_rate);
    ratelimit_free(srv->auth_fail);
    pthread_mutex_destroy(&srv->park_mu);
    pthread_cond_destroy(&srv->unparked);
    free(srv);
}
