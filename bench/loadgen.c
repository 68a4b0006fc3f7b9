/*
 * loadgen.c — publishes events to herald for the benchmarks.
 *
 *   loadgen URL KEY MODE SECONDS CONNS [RATE] [OUT] [TYPES]
 *
 * MODE "closed": CONNS requests always in flight (POST /v1/events), for
 *   ingest throughput and latency (figure I).
 * MODE "batch": like closed, each request a batch of 100 events (figure B).
 * MODE "open": RATE requests per second on a fixed schedule, whatever the
 *   server does (figure E). A scheduled request goes on the first free
 *   connection, or waits for one; its latency is taken from the *scheduled*
 *   send time, so a server that falls behind shows it instead of slowing
 *   the generator. With OUT, each accepted event is written as "<event id>
 *   <scheduled unix ms>" so the sink's log can be joined to it ("" for OUT
 *   writes nothing).
 *
 * TYPES (open loop only) is a file of event types, one per line (empty
 * lines skipped): request i, in schedule order from 0, publishes the type
 * on line i % lines, so the file is one cycle of the mix (figure H: 99
 * healthy types and one dead one on every tenth request). OUT lines then
 * get a third column, the type. Without TYPES every event is
 * "post.published". Either way the body is one ~600-byte event.
 *
 * Each connection carries one request at a time (HTTP/1.1 keep-alive, no
 * pipelining). Success is a 202; any other status counts as failed, and so
 * does a reset, a close or a malformed answer, after which the connection
 * is opened anew when next used: never more than CONNS at once, since
 * herald caps connections per client address. When SECONDS have passed no
 * new request starts, and the answers in flight are waited for (up to
 * REQUEST_TIMEOUT_MS each).
 *
 * Prints one JSON object: requests, events, failed, seconds, rps, eps,
 * p50_ms, p99_ms, max_ms. Failures are described on stderr.
 *
 * Why not libcurl: the generator shares the machine's two cores with the
 * server it measures, so whatever CPU it spends is taken from herald and
 * lowers figures I and E. A libcurl multi loop cost 30-35 us of CPU per
 * single-event request, more than half a core at figure I's rate, and
 * spun between the open loop's sends. This is one thread on plain sockets
 * and epoll, in the manner of wrk (reference P): each request's bytes are
 * built once (with TYPES, once per distinct type), and a request costs one
 * send() and one recv() plus its share of an epoll_wait() — about 10 us in
 * the closed loop, as wrk costs, nearly all of it the kernel's TCP path.
 * The open loop sleeps until each scheduled send (sub-millisecond, so
 * arrivals stay evenly spread and on time), which makes it wake about once
 * per request.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A request unanswered this long after it was sent fails (libcurl's
 * CURLOPT_TIMEOUT in the previous generator). Checked once a second. */
#define REQUEST_TIMEOUT_MS 60000.0
#define TIMEOUT_CHECK_MS 1000.0
/* An answer's status line and headers (herald's are ~200 bytes). */
#define HEAD_MAX 8192
/* The start of each answer's body is kept: the event id is near the start
 * of a 202, and a failure's reason near the start of its body. */
#define BODY_KEEP 256
/* Larger announced bodies are treated as malformed answers. */
#define BODY_MAX (64LL << 20)
/* One recv() takes a whole batch answer (~14 KB for 100 events). */
#define READ_BUF 65536
#define EPOLL_BATCH 256
/* herald's limit on an event type's name; it also bounds the body. */
#define TYPE_MAX 100

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Allocations are few and small next to the machine: failing one ends the
 * run rather than skew it. */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

/* One request's bytes, headers and body, built once and sent as is by
 * every connection that carries it. */
struct request {
    char *buf;
    size_t len;
    const char *type; /* its event type, written to OUT; NULL without TYPES */
};

/* Why a request failed: each kind is described on stderr the first time it
 * happens and counted in the summary. */
enum failure {
    FAIL_CONNECT, /* socket() or connect() failed, or the connect was refused */
    FAIL_SEND,    /* send() failed: reset */
    FAIL_CLOSED,  /* the server closed before the answer was complete */
    FAIL_RESET,   /* recv() failed */
    FAIL_STATUS,  /* a complete answer, but not 202 */
    FAIL_HEAD,    /* malformed status line or headers */
    FAIL_FRAMING, /* chunked, or no Content-Length: herald always sends one */
    FAIL_TIMEOUT, /* no answer within REQUEST_TIMEOUT_MS */
    FAIL_KINDS
};

static const char *const failure_name[FAIL_KINDS] = {
    "connect failed", "send failed",      "closed by the server", "recv failed",
    "status not 202", "malformed answer", "unsupported framing",  "timed out",
};

enum conn_state {
    CONN_FREE,       /* no request; in the free stack */
    CONN_CONNECTING, /* request assigned, non-blocking connect under way */
    CONN_SENDING,    /* part of the request written */
    CONN_READING,    /* request written, answer not complete */
};

struct conn {
    int fd; /* -1 while closed: opened by the next request on it */
    enum conn_state state;
    const struct request *req; /* the request being sent or answered */
    uint32_t watching;         /* epoll events registered for fd */
    size_t sent;               /* request bytes written */
    double scheduled;          /* mono ms latency is measured from */
    double scheduled_wall;
    double sent_at; /* mono ms the request started, for the timeout */
    /* The answer being read. */
    char head[HEAD_MAX + 1];
    size_t head_len;
    bool in_body;
    int status;
    long long body_left;
    bool close_after; /* Connection: close, HTTP/1.0, or stray bytes */
    char body[BODY_KEEP + 1];
    size_t body_len;
};

struct gen {
    int ep;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    /* The mix: request i (in schedule order) sends cycle[i % n_cycle],
     * which points into reqs, one per distinct type. */
    struct request *reqs;
    size_t n_reqs;
    const struct request **cycle;
    size_t n_cycle;
    size_t next_request;
    bool open_loop;
    long events_per_request;
    struct conn *conns;
    int n_conns;
    /* Free connections, the most recently freed on top, so a light open
     * loop keeps reusing a few warm connections. */
    int *free_stack;
    int n_free;
    int in_flight;
    double duration_ms, start, end;
    double interval, next_send; /* open loop: the schedule */
    bool sending;               /* false once SECONDS have passed */
    long requests, failed;
    long fail_count[FAIL_KINDS];
    double *lat;
    size_t n_lat, lat_cap;
    FILE *out;
    char rbuf[READ_BUF];
};

/* Reports the first failure of each kind on stderr, with its detail. */
static void note_failure(struct gen *g, enum failure kind, const char *detail)
{
    g->failed++;
    if (g->fail_count[kind]++ == 0)
        fprintf(stderr, "loadgen: first failure, %s: %s\n", failure_name[kind], detail);
}

static void conn_watch(struct gen *g, struct conn *c, uint32_t events)
{
    if (c->watching == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    c->watching = events;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->watching = 0;
}

static void conn_free(struct gen *g, struct conn *c)
{
    c->state = CONN_FREE;
    g->in_flight--;
    g->free_stack[g->n_free++] = (int)(c - g->conns);
}

static void request_fail(struct gen *g, struct conn *c, enum failure kind, const char *detail)
{
    note_failure(g, kind, detail);
    conn_close(c);
    conn_free(g, c);
}

/* Starts a non-blocking connect; the request is written once the socket
 * reports writable. Returns -1 (errno set) if it failed at once. */
static int conn_open(struct gen *g, struct conn *c)
{
    c->fd = socket(g->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    /* Each request is one write, but a partial write must not wait for an
     * ACK before its remainder goes. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&g->addr, g->addr_len) < 0 && errno != EINPROGRESS) {
        int err = errno;
        conn_close(c);
        errno = err;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    c->watching = ev.events;
    return 0;
}

/* Writes what is left of the request. Returns -1 if the request failed
 * (the connection is then closed and free). */
static int conn_send(struct gen *g, struct conn *c)
{
    while (c->sent < c->req->len) {
        ssize_t n = send(c->fd, c->req->buf + c->sent, c->req->len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_watch(g, c, EPOLLIN | EPOLLOUT);
            return 0;
        }
        if (n < 0) {
            /* A refused connect shows as the first send()'s error. */
            request_fail(g, c, c->state == CONN_CONNECTING ? FAIL_CONNECT : FAIL_SEND,
                         strerror(errno));
            return -1;
        }
        c->sent += (size_t)n;
        c->state = CONN_SENDING;
    }
    c->state = CONN_READING;
    conn_watch(g, c, EPOLLIN);
    return 0;
}

/* Assigns request req to free connection c, opening it if needed. */
static void request_start(struct gen *g, struct conn *c, const struct request *req,
                          double scheduled, double now, double wall_now)
{
    g->in_flight++;
    c->req = req;
    c->scheduled = scheduled;
    c->scheduled_wall = wall_now - (now - scheduled);
    c->sent_at = now;
    c->sent = 0;
    c->head_len = 0;
    c->in_body = false;
    c->body_len = 0;
    c->close_after = false;
    if (c->fd < 0) {
        if (conn_open(g, c) < 0) {
            request_fail(g, c, FAIL_CONNECT, strerror(errno));
            return;
        }
        c->state = CONN_CONNECTING; /* conn_send runs when writable */
        return;
    }
    c->state = CONN_SENDING;
    conn_send(g, c);
}

static void record_latency(struct gen *g, double ms)
{
    if (g->n_lat == g->lat_cap) {
        g->lat_cap = g->lat_cap ? g->lat_cap * 2 : 1 << 20;
        double *lat = xcalloc(g->lat_cap, sizeof *lat);
        if (g->n_lat)
            memcpy(lat, g->lat, g->n_lat * sizeof *lat);
        free(g->lat);
        g->lat = lat;
    }
    g->lat[g->n_lat++] = ms;
}

/* The event id is the first "id":"…" of a 202's body, for both the single
 * answer and a batch's items. */
static void write_published(struct gen *g, struct conn *c)
{
    c->body[c->body_len] = '\0';
    const char *id = strstr(c->body, "\"id\":\"");
    const char *id_end = id ? strchr(id + 6, '"') : NULL;
    static bool warned;
    if (id_end && c->req->type)
        fprintf(g->out, "%.*s %.3f %s\n", (int)(id_end - id - 6), id + 6, c->scheduled_wall,
                c->req->type);
    else if (id_end)
        fprintf(g->out, "%.*s %.3f\n", (int)(id_end - id - 6), id + 6, c->scheduled_wall);
    else if (!warned) { /* still accepted, but the sink's log cannot be joined to it */
        fprintf(stderr, "loadgen: a 202 without an event id: %s\n", c->body);
        warned = true;
    }
}

/* A complete answer: counts it, and frees the connection for the next
 * request (closed if the answer or the protocol state says so). */
static void response_done(struct gen *g, struct conn *c)
{
    double now = mono_ms();
    if (c->status == 202) {
        g->requests++;
        record_latency(g, now - c->scheduled);
        if (g->out)
            write_published(g, c);
    } else {
        char detail[BODY_KEEP + 32] = ""; /* only the first is printed */
        c->body[c->body_len] = '\0';
        if (g->fail_count[FAIL_STATUS] == 0)
            snprintf(detail, sizeof detail, "HTTP %d %s", c->status, c->body);
        note_failure(g, FAIL_STATUS, detail);
    }
    /* An answer before the whole request was written leaves the stream in
     * an unknown state. */
    if (c->close_after || c->sent < c->req->len)
        conn_close(c);
    conn_free(g, c);
}

/* Parses a Content-Length value: digits only, at most BODY_MAX. */
static long long parse_length(const char *v, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n <= BODY_MAX ? n : -1;
}

static bool has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= len; i++)
        if (strncasecmp(v + i, token, tl) == 0)
            return true;
    return false;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* Parses c->head (status line and headers, ending in an empty line): sets
 * status, body_left and close_after. Returns 0, or the failure kind with
 * the reason in *why. */
static int parse_head(struct conn *c, const char **why)
{
    const char *p = c->head, *end = c->head + c->head_len;
    if (c->head_len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9') {
        *why = "bad status line";
        return FAIL_HEAD;
    }
    c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    c->close_after = p[7] == '0';
    long long length = -1;
    bool chunked = false;
    p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (line_end == p)
            break; /* the empty line */
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (!colon || colon == p || *p == ' ' || *p == '\t') {
            *why = "bad header line";
            return FAIL_HEAD;
        }
        const char *v = colon + 1, *ve = line_end;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t name_len = (size_t)(colon - p), vl = (size_t)(ve - v);
        if (name_is(p, name_len, "content-length")) {
            long long n = parse_length(v, vl);
            if (n < 0 || (length >= 0 && n != length)) {
                *why = "bad Content-Length";
                return FAIL_HEAD;
            }
            length = n;
        } else if (name_is(p, name_len, "transfer-encoding")) {
            chunked = !(vl == 8 && strncasecmp(v, "identity", 8) == 0);
        } else if (name_is(p, name_len, "connection")) {
            if (has_token(v, vl, "close"))
                c->close_after = true;
            else if (has_token(v, vl, "keep-alive"))
                c->close_after = false;
        }
        p = eol + 1;
    }
    bool no_body = c->status < 200 || c->status == 204 || c->status == 304;
    if (chunked) {
        *why = "Transfer-Encoding (chunked) is not supported: herald sends Content-Length";
        return FAIL_FRAMING;
    }
    if (length < 0 && !no_body) {
        *why = "no Content-Length: a body delimited by closing is not supported";
        return FAIL_FRAMING;
    }
    c->body_left = no_body ? 0 : length;
    return 0;
}

/* Moves bytes into c->head until the empty line that ends it. Returns how
 * many of the n bytes were the head's, or -1 if the head outgrew HEAD_MAX;
 * *complete says whether the head is whole. */
static long take_head(struct conn *c, const char *data, size_t n, bool *complete)
{
    size_t old = c->head_len, room = HEAD_MAX - old, take = n < room ? n : room;
    memcpy(c->head + old, data, take);
    c->head_len += take;
    c->head[c->head_len] = '\0';
    size_t from = old > 3 ? old - 3 : 0;
    char *term = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
    if (!term) {
        *complete = false;
        return c->head_len == HEAD_MAX ? -1 : (long)take;
    }
    *complete = true;
    c->head_len = (size_t)(term + 4 - c->head);
    return (long)(c->head_len - old);
}

/* Feeds n received bytes to c's answer. */
static void response_feed(struct gen *g, struct conn *c, const char *data, size_t n)
{
    while (!c->in_body) {
        bool complete;
        long used = take_head(c, data, n, &complete);
        if (used < 0) {
            request_fail(g, c, FAIL_HEAD, "headers longer than HEAD_MAX");
            return;
        }
        data += used;
        n -= (size_t)used;
        if (!complete)
            return;
        const char *why = NULL;
        int err = parse_head(c, &why);
        if (err) {
            request_fail(g, c, (enum failure)err, why);
            return;
        }
        if (c->status >= 200) {
            c->in_body = true;
        } else { /* an interim answer (100 Continue): the real one follows */
            c->head_len = 0;
            if (n == 0)
                return;
        }
    }
    size_t take = (long long)n < c->body_left ? n : (size_t)c->body_left;
    size_t keep = BODY_KEEP - c->body_len;
    memcpy(c->body + c->body_len, data, take < keep ? take : keep);
    c->body_len += take < keep ? take : keep;
    c->body_left -= (long long)take;
    if (c->body_left > 0)
        return;
    if (n > take) /* bytes nobody asked for: the stream is out of step */
        c->close_after = true;
    response_done(g, c);
}

static void conn_read(struct gen *g, struct conn *c)
{
    ssize_t n = recv(c->fd, g->rbuf, sizeof g->rbuf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0)
        request_fail(g, c, FAIL_RESET, strerror(errno));
    else if (n == 0)
        request_fail(g, c, FAIL_CLOSED,
                     c->head_len ? "in the middle of an answer" : "before answering");
    else
        response_feed(g, c, g->rbuf, (size_t)n);
}

/* A connection without a request became readable: the server closed it
 * (idle timeout) or sent something unasked. Either way it is closed, and
 * reopened by its next request; no request failed. */
static void idle_readable(struct gen *g, struct conn *c)
{
    ssize_t n = recv(c->fd, g->rbuf, sizeof g->rbuf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    conn_close(c);
}

static void conn_event(struct gen *g, struct conn *c, uint32_t ev)
{
    if (c->fd < 0)
        return;
    if (c->state == CONN_FREE) {
        idle_readable(g, c);
        return;
    }
    /* Errors, a refused connect among them, surface from the send() or
     * recv() itself. An answer may come while the request is still being
     * written (a refusal): it is read then. */
    if ((c->state == CONN_CONNECTING ||
         (c->state == CONN_SENDING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))) &&
        conn_send(g, c) < 0)
        return;
    if ((c->state == CONN_SENDING || c->state == CONN_READING) &&
        (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        conn_read(g, c);
}

/* Starts what is due on free connections: every one in the closed loops,
 * each scheduled send whose time has come in the open loop. Each free
 * connection starts at most once per call, so a connection that fails at
 * once is retried on a later turn of the loop, not in a tight loop here. */
static void dispatch_due(struct gen *g, double now)
{
    if (!g->sending || g->n_free == 0 || (g->open_loop && g->next_send > now))
        return;
    double wall_now = wall_ms();
    for (int budget = g->n_free; budget > 0 && g->n_free > 0; budget--) {
        double scheduled = now;
        if (g->open_loop) {
            if (g->next_send > now)
                break;
            scheduled = g->next_send;
            g->next_send += g->interval;
        }
        struct conn *c = &g->conns[g->free_stack[--g->n_free]];
        const struct request *req = g->cycle[g->next_request++ % g->n_cycle];
        request_start(g, c, req, scheduled, now, wall_now);
    }
}

static void check_timeouts(struct gen *g, double now)
{
    for (int i = 0; i < g->n_conns; i++) {
        struct conn *c = &g->conns[i];
        if (c->state != CONN_FREE && now - c->sent_at > REQUEST_TIMEOUT_MS)
            request_fail(g, c, FAIL_TIMEOUT, "no answer in REQUEST_TIMEOUT_MS");
    }
}

/* How long the loop may sleep: until the next scheduled send (open loop,
 * a connection free), the end of the run, or the next timeout check. */
static double wait_ms(const struct gen *g, double now, double next_check)
{
    double until = next_check;
    if (g->sending && g->end < until)
        until = g->end;
    if (g->sending && g->open_loop && g->n_free > 0 && g->next_send < until)
        until = g->next_send;
    return until > now ? until - now : 0;
}

/* epoll_wait with a sub-millisecond timeout, so the open loop sends on
 * time (8 000/s is one send per 125 us) without spinning. */
static int wait_events(struct gen *g, struct epoll_event *evs, double ms)
{
    static bool no_pwait2;
    if (!no_pwait2) {
        long long ns = (long long)(ms * 1e6);
        struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
        int n = epoll_pwait2(g->ep, evs, EPOLL_BATCH, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
    }
    return epoll_wait(g->ep, evs, EPOLL_BATCH, (int)(ms + 0.999));
}

static void run(struct gen *g)
{
    struct epoll_event evs[EPOLL_BATCH];
    double now = mono_ms(), next_check = now + TIMEOUT_CHECK_MS;
    g->start = now;
    g->end = now + g->duration_ms;
    g->next_send = now;
    g->sending = true;
    dispatch_due(g, now);
    while (g->sending || g->in_flight > 0) {
        int n = wait_events(g, evs, wait_ms(g, now, next_check));
        if (n < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++)
            conn_event(g, evs[i].data.ptr, evs[i].events);
        now = mono_ms();
        if (now >= g->end)
            g->sending = false;
        if (now >= next_check) {
            check_timeouts(g, now);
            next_check = now + TIMEOUT_CHECK_MS;
        }
        dispatch_due(g, now);
    }
}

/* Splits "http://host:port/prefix" into host, port (default 80) and
 * prefix; the Host header is the authority as given. */
static int parse_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap,
                     char *authority, size_t auth_cap, const char **prefix)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *a = url + 7, *slash = strchr(a, '/');
    size_t al = slash ? (size_t)(slash - a) : strlen(a);
    if (al == 0 || al >= auth_cap)
        return -1;
    memcpy(authority, a, al);
    authority[al] = '\0';
    *prefix = a + al;
    const char *colon = memrchr(authority, ':', al);
    size_t hl = colon ? (size_t)(colon - authority) : al;
    const char *p = colon ? colon + 1 : "80";
    if (hl == 0 || hl >= host_cap || strlen(p) >= port_cap)
        return -1;
    memcpy(host, authority, hl);
    host[hl] = '\0';
    snprintf(port, port_cap, "%s", p);
    return 0;
}

static int resolve(struct gen *g, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int err = getaddrinfo(host, port, &hints, &ai);
    if (err) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", host, port, gai_strerror(err));
        return -1;
    }
    memcpy(&g->addr, ai->ai_addr, ai->ai_addrlen);
    g->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* The body: a ~600-byte event of type `type` (at most TYPE_MAX bytes, none
 * needing a JSON escape) like the sink reference's body, or 100 of them in
 * a batch. Returns a malloc'd string; *len is its length. */
static char *build_body(const char *type, bool batch, size_t *len)
{
    char data[512];
    int dl = snprintf(data, sizeof data,
                      "{\"post_id\":\"post_abc123\",\"platforms\":[\"instagram\",\"x\"],"
                      "\"published_at\":\"2025-10-05T14:30:00Z\",\"urls\":{\"instagram\":"
                      "\"https://instagram.com/p/abc123\"},\"pad\":\"");
    while (dl < 420)
        data[dl++] = 'x';
    memcpy(data + dl, "\"}", 3);
    char one[sizeof data + TYPE_MAX + 32];
    int ol = snprintf(one, sizeof one, "{\"type\":\"%s\",\"data\":%s}", type, data);
    size_t cap = batch ? (size_t)(ol + 1) * 100 + 64 : (size_t)ol + 1;
    char *body = xcalloc(cap, 1);
    size_t bl = 0;
    if (batch) {
        bl += (size_t)snprintf(body, cap, "{\"events\":[");
        for (int i = 0; i < 100; i++) {
            memcpy(body + bl, one, (size_t)ol);
            bl += (size_t)ol;
            body[bl++] = i < 99 ? ',' : ']';
        }
        body[bl++] = '}';
        body[bl] = '\0';
    } else {
        memcpy(body, one, (size_t)ol + 1);
        bl = (size_t)ol;
    }
    *len = bl;
    return body;
}

/* The whole request, headers and body, for one event type. Returns a
 * malloc'd buffer; *len is its length. */
static char *build_request(const char *path, const char *authority, const char *key,
                           const char *type, bool batch, size_t *len)
{
    size_t bl;
    char *body = build_body(type, batch, &bl);
    const char *fmt = "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n";
    int hl = snprintf(NULL, 0, fmt, path, authority, key, bl);
    char *req = xcalloc((size_t)hl + bl + 1, 1);
    snprintf(req, (size_t)hl + 1, fmt, path, authority, key, bl);
    memcpy(req + hl, body, bl + 1);
    free(body);
    *len = (size_t)hl + bl;
    return req;
}

/* 1 to TYPE_MAX bytes of the characters herald allows in a type name
 * (herald checks the dots): the name goes into the JSON body unescaped. */
static bool type_ok(const char *t, size_t len)
{
    if (len == 0 || len > TYPE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == '_' || t[i] == '-'))
            return false;
    return true;
}

/* Reads TYPES: one event type per line, line ends and empty lines dropped.
 * Returns the malloc'd lines (each malloc'd), *n their count, or NULL
 * after saying why on stderr. */
static char **read_types(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return NULL;
    }
    char **lines = NULL, *line = NULL;
    size_t count = 0, cap = 0, line_cap = 0;
    long lineno = 0;
    ssize_t len;
    bool bad = false;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (!type_ok(line, (size_t)len)) {
            fprintf(stderr, "loadgen: %s:%ld: not an event type (1-%d of A-Za-z0-9._-)\n", path,
                    lineno, TYPE_MAX);
            bad = true;
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            lines = xrealloc(lines, cap * sizeof *lines);
        }
        lines[count] = xcalloc((size_t)len + 1, 1);
        memcpy(lines[count++], line, (size_t)len + 1);
    }
    free(line);
    fclose(f);
    if (!bad && count == 0) {
        fprintf(stderr, "loadgen: %s: no event types\n", path);
        bad = true;
    }
    if (bad) {
        for (size_t i = 0; i < count; i++)
            free(lines[i]);
        free(lines);
        return NULL;
    }
    *n = count;
    return lines;
}

/* The lines cmp_line compares (qsort passes no context). */
static const char *const *sort_lines;

static int cmp_line(const void *a, const void *b)
{
    return strcmp(sort_lines[*(const size_t *)a], sort_lines[*(const size_t *)b]);
}

/* Builds one request per distinct type among the n lines and points
 * g->cycle[i] at line i's. The cycle may be long (H's is 990 lines for 100
 * types): sorting finds equal lines without comparing every pair. The
 * requests keep the lines as their types. */
static void build_cycle(struct gen *g, char **lines, size_t n, const char *path,
                        const char *authority, const char *key)
{
    size_t *order = xcalloc(n, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sort_lines = (const char *const *)lines;
    qsort(order, n, sizeof *order, cmp_line);
    g->reqs = xcalloc(n, sizeof *g->reqs);
    g->cycle = xcalloc(n, sizeof *g->cycle);
    g->n_cycle = n;
    for (size_t k = 0; k < n; k++) {
        const char *t = lines[order[k]];
        if (k == 0 || strcmp(t, g->reqs[g->n_reqs - 1].type) != 0) {
            struct request *r = &g->reqs[g->n_reqs++];
            r->type = t;
            r->buf = build_request(path, authority, key, t, false, &r->len);
        }
        g->cycle[order[k]] = &g->reqs[g->n_reqs - 1];
    }
    free(order);
}

/* Without TYPES: one request, every event "post.published". */
static void build_single(struct gen *g, const char *path, const char *authority, const char *key,
                         bool batch)
{
    g->reqs = xcalloc(1, sizeof *g->reqs);
    g->reqs[0].buf = build_request(path, authority, key, "post.published", batch, &g->reqs[0].len);
    g->n_reqs = 1;
    g->cycle = xcalloc(1, sizeof *g->cycle);
    g->cycle[0] = &g->reqs[0];
    g->n_cycle = 1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(struct gen *g)
{
    double took = (mono_ms() - g->start) / 1000;
    size_t n = g->n_lat;
    if (n)
        qsort(g->lat, n, sizeof *g->lat, cmp);
    double p50 = n ? g->lat[n / 2] : 0, p99 = n ? g->lat[(size_t)(n * 0.99)] : 0;
    double max = n ? g->lat[n - 1] : 0;
    long events = g->requests * g->events_per_request;
    printf("{\"requests\":%ld,\"events\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rps\":%.1f,"
           "\"eps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           g->requests, events, g->failed, took, g->requests / took, events / took, p50, p99, max);
    if (g->failed) {
        fprintf(stderr, "loadgen: %ld failed:", g->failed);
        for (int k = 0; k < FAIL_KINDS; k++)
            if (g->fail_count[k])
                fprintf(stderr, " %s %ld;", failure_name[k], g->fail_count[k]);
        fprintf(stderr, "\n");
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: loadgen URL KEY closed|batch|open SECONDS CONNS [RATE] [OUT] "
                    "[TYPES]\n  TYPES (open only): a file of event types, one per line, "
                    "request i using line i %% lines\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 6)
        return usage();
    const char *url = argv[1], *key = argv[2], *mode = argv[3];
    double seconds = strtod(argv[4], NULL);
    int conns = (int)strtol(argv[5], NULL, 10);
    double rate = argc > 6 ? strtod(argv[6], NULL) : 0;
    bool batch = strcmp(mode, "batch") == 0, open_loop = strcmp(mode, "open") == 0;
    if (!batch && !open_loop && strcmp(mode, "closed") != 0)
        return usage();
    if (conns < 1 || conns > 4096 || (open_loop && rate <= 0) || (argc > 8 && !open_loop) ||
        argc > 9)
        return usage();

    static struct gen g; /* the read buffer is large */
    char host[256], port[32], authority[300], path[1024];
    const char *prefix;
    if (parse_url(url, host, sizeof host, port, sizeof port, authority, sizeof authority, &prefix) <
        0) {
        fprintf(stderr, "loadgen: URL must look like http://host:port\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/v1/events%s", prefix, batch ? "/batch" : "");
    if (resolve(&g, host, port) < 0)
        return 1;
    char **types = NULL;
    size_t n_types = 0;
    if (argc > 8 && !(types = read_types(argv[8], &n_types)))
        return 1;
    if (argc > 7 && argv[7][0]) {
        g.out = fopen(argv[7], "w");
        if (!g.out) {
            perror(argv[7]);
            return 1;
        }
    }
    if (types)
        build_cycle(&g, types, n_types, path, authority, key);
    else
        build_single(&g, path, authority, key, batch);
    g.open_loop = open_loop;
    g.events_per_request = batch ? 100 : 1;
    g.interval = open_loop ? 1000.0 / rate : 0;
    g.n_conns = conns;
    g.conns = xcalloc((size_t)conns, sizeof *g.conns);
    g.free_stack = xcalloc((size_t)conns, sizeof *g.free_stack);
    /* Stacked so that connection 0 is taken first. */
    for (int i = 0; i < conns; i++) {
        g.conns[i].fd = -1;
        g.conns[i].state = CONN_FREE;
        g.free_stack[i] = conns - 1 - i;
    }
    g.n_free = conns;
    g.duration_ms = seconds * 1000;
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0) {
        perror("loadgen: epoll_create1");
        return 1;
    }
    run(&g);
    report(&g);
    if (g.out)
        fclose(g.out);
    for (int i = 0; i < conns; i++)
        conn_close(&g.conns[i]);
    close(g.ep);
    free(g.conns);
    free(g.free_stack);
    free(g.lat);
    for (size_t i = 0; i < g.n_reqs; i++)
        free(g.reqs[i].buf);
    free(g.reqs);
    free(g.cycle);
    for (size_t i = 0; i < n_types; i++)
        free(types[i]);
    free(types);
    return 0;
}
