/* verify.c — `herald verify --secret whsec_… < request`: checks one saved
 * HTTP request (request line, headers, blank line, body) the way a receiver
 * would, and says why it fails when it does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/util.h"
#include "herald/verify.h"

struct request {
    char *id, *timestamp, *signature;
    const char *body;
    size_t body_len;
};

/* Finds the three headers and the body; both CRLF and LF line ends work,
 * since saved requests pass through editors and shells. */
static bool parse_request(char *text, size_t len, struct request *r)
{
    char *p = text, *end = text + len;
    bool first = true;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return false;
        char *line_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        *line_end = '\0';
        if (line_end == p) {
            r->body = nl + 1;
            r->body_len = (size_t)(end - (nl + 1));
            return true;
        }
        char *colon = strchr(p, ':');
        if (!first && colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strcasecmp(p, "webhook-id") == 0)
                r->id = v;
            else if (strcasecmp(p, "webhook-timestamp") == 0)
                r->timestamp = v;
            else if (strcasecmp(p, "webhook-signature") == 0)
                r->signature = v;
        }
        first = false;
        p = nl + 1;
    }
    return false;
}

int cli_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"secret", required_argument, NULL, 's'},
        {"tolerance", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *secret = NULL;
    int64_t tolerance = HERALD_VERIFY_TOLERANCE;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 's')
            secret = optarg;
        else if (opt == 't' && parse_int64(optarg, 0, INT64_MAX / 2, &tolerance))
            ;
        else
            return 2;
    }
    if (!secret) {
        fputs("usage: herald verify --secret whsec_... [--tolerance SECONDS] < request\n"
              "  (--tolerance 0 skips the timestamp check, for old saved requests)\n",
              stderr);
        return 2;
    }
    struct buf in;
    buf_init(&in, 16 * 1024 * 1024);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (buf_append(&in, chunk, n) != 0) {
            fputs("herald verify: request too large\n", stderr);
            buf_release(&in);
            return 1;
        }
    struct request r = {0};
    int status = 1;
    if (!in.data || !parse_request(in.data, in.len, &r)) {
        fputs("herald verify: could not find the headers and body (need a blank line)\n", stderr);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    if (tolerance == 0) {
        /* Judge the signature only: pretend now is the request's own time. */
        tolerance = 1;
        if (r.timestamp)
            now = strtoll(r.timestamp, NULL, 10);
    }
    int rc = herald_verify(secret, r.id, r.timestamp, r.signature, r.body, r.body_len, now,
                           tolerance);
    printf("%s\n", herald_verify_strerror(rc));
    status = rc == HERALD_VERIFY_OK ? 0 : 1;
out:
    buf_release(&in);
    return status;
}
