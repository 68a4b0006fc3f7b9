/*
 * receiver.h — a tiny HTTP/1.1 receiver for unit tests, on 127.0.0.1 with
 * plain sockets in its own thread. It answers each request with the next
 * entry of a script (the last entry repeats) and keeps what it received.
 * Every response closes its connection, so one thread serving connections
 * one at a time never deadlocks against a client that opens several.
 *
 * Script entries are raw HTTP responses, or one of:
 *   "HANG"     read the request, answer nothing until the client goes away
 *              or receiver_unhang() is called
 *   "CLOSE"    read the request and close without a byte
 *   "BIG"      200 with a 1 GiB Content-Length, then body until the client
 *              stops reading
 *   "HEADERS"  200 with 500 header lines
 *   "NOREAD:x" write x at once, without waiting for a request (a client
 *              speaking TLS to this plain server gets garbage back)
 *
 * Header-only (static functions) because each test file is its own program.
 */
#ifndef HERALD_TESTS_RECEIVER_H
#define HERALD_TESTS_RECEIVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Not every test uses every helper. */
#define RECEIVER_FN static __attribute__((unused))

#define RECEIVER_MAX_REQ 256
#define RECEIVER_MAX_BYTES (1024 * 1024)

struct received {
    char *head; /* request line and headers, NUL-terminated */
    char *body;
    size_t body_len;
};

struct receiver {
    int lfd;
    int stop_pipe[2];
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    const char *const *script;
    size_t script_len;
    struct received req[RECEIVER_MAX_REQ];
    size_t n_req;
    size_t accepted;
    bool unhang;
};

RECEIVER_FN const char *receiver_answer(struct receiver *r, size_t i)
{
    return r->script[i < r->script_len ? i : r->script_len - 1];
}

/* Waits until fd is readable or the receiver stops; false on stop. */
RECEIVER_FN bool receiver_wait(struct receiver *r, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = r->stop_pipe[0], .events = POLLIN}};
    if (poll(p, 2, timeout_ms) <= 0)
        return false;
    return !(p[1].revents & POLLIN);
}

RECEIVER_FN void receiver_write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one request; false when the client went away first. */
RECEIVER_FN bool receiver_read(struct receiver *r, int fd, struct received *out)
{
    size_t cap = 65536, len = 0, need = 0;
    char *buf = malloc(cap + 1);
    char *end = NULL;
    for (;;) {
        if (!receiver_wait(r, fd, 30000))
            break;
        if (len == cap) {
            if (cap >= RECEIVER_MAX_BYTES)
                break;
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            need = (size_t)(end - buf) + 4 + body;
        }
        if (end && len >= need) {
            size_t hl = (size_t)(end - buf);
            out->head = strndup(buf, hl);
            out->body_len = need - hl - 4;
            out->body = malloc(out->body_len + 1);
            memcpy(out->body, buf + hl + 4, out->body_len);
            out->body[out->body_len] = '\0';
            free(buf);
            return true;
        }
    }
    free(buf);
    return false;
}

RECEIVER_FN void receiver_hang(struct receiver *r, int fd)
{
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool go = r->unhang;
        pthread_mutex_unlock(&r->mu);
        if (go)
            return;
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                              {.fd = r->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, 20) != 0)
            return; /* the client closed, or the receiver stops */
    }
}

RECEIVER_FN void receiver_respond(struct receiver *r, int fd, const char *ans)
{
    if (strcmp(ans, "HANG") == 0) {
        receiver_hang(r, fd);
    } else if (strcmp(ans, "CLOSE") == 0) {
        /* nothing */
    } else if (strcmp(ans, "BIG") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
        receiver_write_all(fd, h, strlen(h));
        static char chunk[16384];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 65536; i++) {
            ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
            if (w <= 0)
                break;
        }
    } else if (strcmp(ans, "HEADERS") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\n";
        receiver_write_all(fd, h, strlen(h));
        char line[64];
        for (int i = 0; i < 500; i++) {
            int n = snprintf(line, sizeof line, "X-Filler-%d: %d\r\n", i, i);
            receiver_write_all(fd, line, (size_t)n);
        }
        receiver_write_all(fd, "Content-Length: 0\r\n\r\n", 21);
    } else {
        receiver_write_all(fd, ans, strlen(ans));
    }
}

RECEIVER_FN void *receiver_run(void *arg)
{
    struct receiver *r = arg;
    for (;;) {
        if (!receiver_wait(r, r->lfd, -1))
            return NULL;
        int fd = accept(r->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&r->mu);
        r->accepted++;
        pthread_mutex_unlock(&r->mu);
        pthread_mutex_lock(&r->mu);
        const char *next = receiver_answer(r, r->n_req);
        if (strncmp(next, "NOREAD:", 7) == 0 && r->n_req < RECEIVER_MAX_REQ) {
            r->req[r->n_req].head = strdup("");
            r->req[r->n_req++].body = strdup("");
            pthread_mutex_unlock(&r->mu);
            receiver_write_all(fd, next + 7, strlen(next + 7));
            close(fd);
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        struct received got = {0};
        if (receiver_read(r, fd, &got)) {
            pthread_mutex_lock(&r->mu);
            size_t i = r->n_req;
            if (i < RECEIVER_MAX_REQ)
                r->req[r->n_req++] = got;
            else
                free(got.head), free(got.body);
            pthread_mutex_unlock(&r->mu);
            receiver_respond(r, fd, receiver_answer(r, i));
        }
        close(fd);
    }
}

/* Starts a receiver on 127.0.0.1 (an ephemeral port, in r->port). script
 * must outlive the receiver. Returns false when the socket cannot be set up. */
RECEIVER_FN bool receiver_start(struct receiver *r, const char *const *script, size_t n)
{
    memset(r, 0, sizeof *r);
    r->script = script;
    r->script_len = n;
    pthread_mutex_init(&r->mu, NULL);
    if (pipe(r->stop_pipe) != 0)
        return false;
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(r->lfd, 128) != 0 || getsockname(r->lfd, (struct sockaddr *)&a, &al) != 0)
        return false;
    r->port = ntohs(a.sin_port);
    return pthread_create(&r->thread, NULL, receiver_run, r) == 0;
}

RECEIVER_FN void receiver_unhang(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    r->unhang = true;
    pthread_mutex_unlock(&r->mu);
}

RECEIVER_FN size_t receiver_count(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n_req;
    pthread_mutex_unlock(&r->mu);
    return n;
}

RECEIVER_FN size_t receiver_accepted(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->accepted;
    pthread_mutex_unlock(&r->mu);
    return n;
}

RECEIVER_FN void receiver_stop(struct receiver *r)
{
    ssize_t w = write(r->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(r->thread, NULL);
    close(r->lfd);
    close(r->stop_pipe[0]);
    close(r->stop_pipe[1]);
    for (size_t i = 0; i < r->n_req; i++) {
        free(r->req[i].head);
        free(r->req[i].body);
    }
    pthread_mutex_destroy(&r->mu);
}

/* The value of header name in a received head (a static copy), or NULL. */
RECEIVER_FN const char *received_header(const struct received *q, const char *name)
{
    static char val[1024];
    size_t nl = strlen(name);
    for (const char *p = strstr(q->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= sizeof val)
                n = sizeof val - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

#endif
