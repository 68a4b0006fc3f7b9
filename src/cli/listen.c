/* listen.c — `herald listen`: a local receiver for trying herald out. It
 * prints every request it gets and says whether its signature verifies,
 * then answers 200 (401 when a --secret is given and the signature fails,
 * or the --status you ask for, to watch herald retry). --scheme checks a
 * signature dialect instead of Standard Webhooks (herald/verify.h). */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/util.h"
#include "herald/verify.h"

struct listener {
    const char *secret;
    int status;
    struct herald_verify_options opts; /* scheme and header names */
};

/* herald_header_fn over a libmicrohttpd connection (names match without
 * regard to case). */
static const char *conn_header(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static enum MHD_Result print_header(void *cls, enum MHD_ValueKind kind, const char *k,
                                    const char *v)
{
    (void)cls;
    (void)kind;
    printf("  %s: %s\n", k, v);
    return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *c, int code, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    struct listener *l = cls;
    struct buf *body = *state;
    if (!body) {
        body = xmalloc(sizeof *body);
        buf_init(body, 1024 * 1024);
        *state = body;
        return MHD_YES;
    }
    if (*upload_size) {
        if (buf_append(body, upload, *upload_size) != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    printf("%s %s\n", method, url);
    MHD_get_connection_values(c, MHD_HEADER_KIND, print_header, NULL);
    printf("\n%s\n", body->data ? body->data : "");
    int code = l->status;
    if (l->secret) {
        struct herald_verify_options o = l->opts;
        o.now = (int64_t)time(NULL);
        int rc = herald_verify_request(l->secret, &o, conn_header, c, body->data, body->len);
        printf("signature: %s\n", rc == HERALD_VERIFY_OK ? "verified" : herald_verify_strerror(rc));
        if (rc != HERALD_VERIFY_OK)
            code = 401;
    } else {
        printf("signature: not checked (start with --secret whsec_… to verify)\n");
    }
    printf("-> %d\n\n", code);
    fflush(stdout);
    return reply(c, code, code < 300 ? "{\"ok\":true}" : "{\"ok\":false}");
}

static void done(void *cls, struct MHD_Connection *c, void **state,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct buf *body = *state;
    if (body) {
        buf_release(body);
        free(body);
        *state = NULL;
    }
}

int cli_listen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"secret", required_argument, NULL, 's'},
        {"status", required_argument, NULL, 'S'},
        {"scheme", required_argument, NULL, 'c'},
        {"signature-header", required_argument, NULL, 'H'},
        {"timestamp-header", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    struct listener l = {
        .secret = NULL,
        .status = 200,
        .opts = {.scheme = HERALD_SCHEME_STANDARD, .tolerance = HERALD_VERIFY_TOLERANCE}};
    int64_t port = 9000, v;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'p' && parse_int64(optarg, 1, 65535, &port))
            continue;
        if (opt == 's') {
            l.secret = optarg;
            continue;
        }
        if (opt == 'S' && parse_int64(optarg, 100, 599, &v)) {
            l.status = (int)v;
            continue;
        }
        if (opt == 'c' && (l.opts.scheme = herald_scheme_parse(optarg)) >= 0)
            continue;
        if (opt == 'H' || opt == 'T') {
            *(opt == 'H' ? &l.opts.signature_header : &l.opts.timestamp_header) = optarg;
            continue;
        }
        fputs("usage: herald listen [--port 9000] [--secret SECRET] [--status 200]\n"
              "                     [--scheme standard|github|stripe|hex|timestamped-hex]\n"
              "                     [--signature-header NAME] [--timestamp-header NAME]\n",
              stderr);
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, handle, &l,
        MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "herald listen: cannot listen on 127.0.0.1:%lld\n", (long long)port);
        return 1;
    }
    printf("herald listen: receiving on http://127.0.0.1:%lld/\n", (long long)port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}
