/* verify.c — `herald verify --secret whsec_… < request`: checks one saved
 * HTTP request (request line, headers, blank line, body) the way a receiver
 * would, and says why it fails when it does. --scheme checks a signature
 * dialect (herald/verify.h) instead of Standard Webhooks; both read the
 * request through the one parser of verify_request.h, which says its
 * rules. */
#include <errno.h>
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

/* The LF ending the line that starts at p, within [p, end), or NULL when
 * none does; *line_end is set past the line's last byte (a CR before the
 * LF is not part of the line). */
static char *next_line(char *p, char *end, char **line_end)
{
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl)
        *line_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    return nl;
}

/* Keeps the header line [line, end), or counts it as junk or as one past
 * the cap (verify_request.h says why each). */
static void take_header(struct verify_request *r, char *line, char *end)
{
    size_t len = (size_t)(end - line);
    char *colon = memchr(line, ':', len);
    if (!colon || memchr(line, '\0', len)) {
        r->skipped++;
        return;
    }
    if (r->n == VERIFY_REQUEST_HEADERS_MAX) {
        r->dropped++;
        return;
    }
    *colon = '\0';
    *end = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    r->name[r->n] = line;
    r->value[r->n++] = v;
}

bool verify_request_parse(struct verify_request *r, char *text, size_t len)
{
    r->n = r->skipped = r->dropped = 0;
    r->body = NULL;
    r->body_len = 0;
    /* First find the header block, [head, blank), touching nothing, so a
     * text without one is left as it was. */
    char *p = text, *end = text + len, *head = NULL, *line_end = NULL, *nl;
    while ((nl = next_line(p, end, &line_end))) {
        if (line_end == p && head)
            break; /* the blank line */
        if (line_end > p && !head)
            head = nl + 1; /* after the request line, which is not read */
        p = nl + 1;
    }
    if (!nl)
        return false;
    char *blank = p, *body = nl + 1;
    /* Every line of the block ends in an LF: blank starts a line. */
    for (p = head; p < blank; p = nl + 1) {
        nl = next_line(p, blank, &line_end);
        take_header(r, p, line_end);
    }
    r->body = body;
    r->body_len = (size_t)(end - body);
    return true;
}

const char *verify_request_header(void *ctx, const char *name)
{
    const struct verify_request *r = ctx;
    for (size_t i = 0; i < r->n; i++)
        if (strcasecmp(r->name[i], name) == 0)
            return r->value[i];
    return NULL;
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
    /* A read that failed part way (EIO, a directory given as stdin) would
     * otherwise be judged as the request it cut short. */
    if (ferror(stdin)) {
        fprintf(stderr, "herald verify: cannot read the request: %s\n", strerror(errno));
        buf_release(&in);
        return 1;
    }
    struct verify_request r;
    int status = 1;
    if (!in.data || !verify_request_parse(&r, in.data, in.len)) {
        fputs("herald verify: could not find the headers and body (need a blank line)\n", stderr);
        goto out;
    }
    if (r.skipped)
        fprintf(stderr, "herald verify: skipped %zu header line(s) without a colon or with a NUL\n",
                r.skipped);
    if (r.dropped)
        fprintf(stderr, "herald verify: read the first %d headers only, %zu more ignored\n",
                VERIFY_REQUEST_HEADERS_MAX, r.dropped);
    /* One call for every scheme: the standard one reads webhook-id,
     * webhook-timestamp and webhook-signature through the same lookup the
     * dialects use, and takes tolerance 0 as "judge the signature only". */
    o.now = (int64_t)time(NULL);
    o.tolerance = tolerance;
    int rc = herald_verify_request(secret, &o, verify_request_header, &r, r.body, r.body_len);
    printf("%s\n", herald_verify_strerror(rc));
    status = rc == HERALD_VERIFY_OK ? 0 : 1;
out:
    buf_release(&in);
    return status;
}
