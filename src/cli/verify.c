/* verify.c — `herald verify --secret whsec_… < request`: checks one saved
 * HTTP request (request line, headers, blank line, body) the way a receiver
 * would, and says why it fails when it does. --scheme checks a signature
 * dialect (herald/verify.h) instead of Standard Webhooks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/verify_request.h"
#include "core/buf.h"
#include "core/util.h"
#include "herald/verify.h"

bool verify_parse_request(char *text, size_t len, struct verify_request *r)
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

void saved_headers_parse(struct saved_headers *h, const char *text, size_t len)
{
    h->copy = xstrndup(text, len);
    h->n = 0;
    char *p = strchr(h->copy, '\n'); /* skip the request line */
    while (p && h->n < SAVED_HEADERS_MAX) {
        char *line = p + 1, *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        char *colon = strchr(line, ':');
        if (l == 0 || !colon)
            break; /* the blank line: the body follows */
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        h->name[h->n] = line;
        h->value[h->n++] = v;
        p = nl;
    }
}

const char *saved_header(void *ctx, const char *name)
{
    const struct saved_headers *h = ctx;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

void saved_headers_release(struct saved_headers *h)
{
    free(h->copy);
    h->copy = NULL;
}

int cli_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"secret", required_argument, NULL, 's'},
        {"tolerance", required_argument, NULL, 't'},
        {"scheme", required_argument, NULL, 'c'},
        {"signature-header", required_argument, NULL, 'H'},
        {"timestamp-header", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    const char *secret = NULL;
    int64_t tolerance = HERALD_VERIFY_TOLERANCE;
    struct herald_verify_options o = {.scheme = HERALD_SCHEME_STANDARD};
    int opt;
    bool usage = false;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 's')
            secret = optarg;
        else if (opt == 't' && parse_int64(optarg, 0, INT64_MAX / 2, &tolerance))
            ;
        else if (opt == 'c' && (o.scheme = herald_scheme_parse(optarg)) >= 0)
            ;
        else if (opt == 'H')
            o.signature_header = optarg;
        else if (opt == 'T')
            o.timestamp_header = optarg;
        else
            usage = true;
    }
    if (!secret || usage) {
        fputs("usage: herald verify --secret SECRET [--tolerance SECONDS] < request\n"
              "         [--scheme standard|github|stripe|hex|timestamped-hex]\n"
              "         [--signature-header NAME] [--timestamp-header NAME]\n"
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
    struct verify_request r = {0};
    struct saved_headers h = {0};
    int status = 1;
    if (in.data && o.scheme != HERALD_SCHEME_STANDARD)
        saved_headers_parse(&h, in.data, in.len); /* before the parse below cuts it up */
    if (!in.data || !verify_parse_request(in.data, in.len, &r)) {
        fputs("herald verify: could not find the headers and body (need a blank line)\n", stderr);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    if (o.scheme != HERALD_SCHEME_STANDARD) {
        o.now = now;
        o.tolerance = tolerance;
        int drc = herald_verify_request(secret, &o, saved_header, &h, r.body, r.body_len);
        printf("%s\n", herald_verify_strerror(drc));
        status = drc == HERALD_VERIFY_OK ? 0 : 1;
        goto out;
    }
    if (tolerance == 0) {
        /* Judge the signature only: pretend now is the request's own time. */
        tolerance = 1;
        if (r.timestamp)
            now = strtoll(r.timestamp, NULL, 10);
    }
    int rc =
        herald_verify(secret, r.id, r.timestamp, r.signature, r.body, r.body_len, now, tolerance);
    printf("%s\n", herald_verify_strerror(rc));
    status = rc == HERALD_VERIFY_OK ? 0 : 1;
out:
    saved_headers_release(&h);
    buf_release(&in);
    return status;
}
