/* libFuzzer target for saved_headers_parse (src/cli/verify.c), the header
 * parser `herald verify --scheme …` reads a saved request's headers with
 * for the signature dialects. The input is the saved request.
 *
 * Checks: no crash, no read past the input (it need not end in a NUL);
 * at most SAVED_HEADERS_MAX headers, each name and value a C string
 * inside the parser's copy, names without a colon or line end, values
 * without a line end or leading blank; saved_header() finds a name in
 * any case and answers the first such header. Where the request is well
 * formed (a request line, then only "Name: value" lines up to the blank
 * line, no NUL) it agrees with verify_parse_request, the parser of the
 * standard scheme: one header per line and the same webhook-* values.
 * Round trip: the headers written back as a request, behind a GitHub
 * signature herald made for the body, parse to the same headers, and
 * herald_verify_request accepts the signature through saved_header(), as
 * cli_verify() calls it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/verify_request.h"
#include "core/buf.h"
#include "fuzz_input.h"
#include "herald/verify.h"
#include "sign/dialect.h"

#define SECRET "my_php_secret"

static bool inside(const char *p, const struct saved_headers *h, size_t copy_len)
{
    return p >= h->copy && p <= h->copy + copy_len;
}

/* The properties every parse must have; copy_len is the input's length
 * up to its first NUL, which is what the parser copies. */
static void check_shape(const struct saved_headers *h, size_t copy_len)
{
    if (h->n > SAVED_HEADERS_MAX || !h->copy || strlen(h->copy) > copy_len)
        abort();
    for (size_t i = 0; i < h->n; i++) {
        const char *name = h->name[i], *value = h->value[i];
        if (!inside(name, h, copy_len) || !inside(value, h, copy_len) ||
            !inside(name + strlen(name), h, copy_len) ||
            !inside(value + strlen(value), h, copy_len))
            abort();
        if (strpbrk(name, ":\n") || strchr(value, '\n') || value[0] == ' ' || value[0] == '\t')
            abort();
        /* Found in any case; the first header of that name wins. */
        size_t first = 0;
        while (strcasecmp(h->name[first], name) != 0)
            first++;
        char upper[256];
        size_t k = 0;
        for (; name[k] && k < sizeof upper - 1; k++)
            upper[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
        upper[k] = '\0';
        if (saved_header((void *)h, name) != h->value[first] ||
            (!name[k] && saved_header((void *)h, upper) != h->value[first]))
            abort();
    }
}

/* How many header lines a well-formed request has before its blank line
 * at body (verify_parse_request's), or -1 when it is not well formed: a
 * NUL, an empty request line, or a header line without a colon. */
static long well_formed_lines(const char *s, const char *body)
{
    if (memchr(s, '\0', (size_t)(body - s)))
        return -1;
    long lines = -1; /* the request line is not a header */
    for (const char *p = s; p < body;) {
        const char *nl = memchr(p, '\n', (size_t)(body - p));
        size_t l = (size_t)(nl - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (l == 0) /* the blank line */
            return lines >= 0 ? lines : -1;
        if (lines >= 0 && !memchr(p, ':', l))
            return -1;
        lines++;
        p = nl + 1;
    }
    return -1;
}

static size_t count_named(const struct saved_headers *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += strcasecmp(h->name[i], name) == 0;
    return n;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void compare_standard(const struct saved_headers *h, const char *in, size_t size)
{
    char *s = fuzz_cstr(in, size);
    struct verify_request r = {0};
    long lines = verify_parse_request(s, size, &r) ? well_formed_lines(in, in + (r.body - s)) : -1;
    if (lines >= 0 && lines <= SAVED_HEADERS_MAX) {
        if (h->n != (size_t)lines)
            abort();
        /* verify_parse_request keeps the last of a repeated header. */
        static const char *const names[] = {"webhook-id", "webhook-timestamp", "webhook-signature"};
        const char *got[] = {r.id, r.timestamp, r.signature};
        for (size_t i = 0; i < 3; i++)
            if (count_named(h, names[i]) <= 1 && !same(saved_header((void *)h, names[i]), got[i]))
                abort();
    }
    free(s);
}

/* The headers of h behind a GitHub signature of body, as a saved request:
 * parsed again they must be the same, and the signature must verify. */
static void round_trip(const struct saved_headers *h, const char *body, size_t body_len)
{
    unsigned char key[64];
    int kl = sign_dialect_key(SECRET, key);
    char sig[SIGN_DIALECT_VALUE_MAX];
    sign_dialect(SCHEME_GITHUB, key, kl, NULL, 0, 1700000000, body, body_len, sig);
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    int rc = buf_puts(&b, "POST /hook HTTP/1.1\r\nX-Hub-Signature-256: ");
    rc = rc ? rc : buf_puts(&b, sig);
    for (size_t i = 0; rc == 0 && i < h->n; i++)
        rc = buf_printf(&b, "\r\n%s: %s", h->name[i], h->value[i]);
    rc = rc ? rc : buf_append(&b, "\r\n\r\n", 4);
    rc = rc ? rc : buf_append(&b, body, body_len);
    if (rc)
        abort();
    struct saved_headers back;
    saved_headers_parse(&back, b.data, b.len);
    size_t want = h->n + 1 < SAVED_HEADERS_MAX ? h->n + 1 : SAVED_HEADERS_MAX;
    if (back.n != want)
        abort();
    for (size_t i = 1; i < back.n; i++)
        if (strcmp(back.name[i], h->name[i - 1]) != 0 ||
            strcmp(back.value[i], h->value[i - 1]) != 0)
            abort();
    struct verify_request r = {0};
    if (!verify_parse_request(b.data, b.len, &r) || r.body_len != body_len ||
        memcmp(r.body, body, body_len) != 0)
        abort();
    struct herald_verify_options o = {.scheme = HERALD_SCHEME_GITHUB, .now = 1700000000};
    if (herald_verify_request(SECRET, &o, saved_header, &back, r.body, r.body_len) !=
        HERALD_VERIFY_OK)
        abort();
    saved_headers_release(&back);
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes, no NUL after them: cli_verify's buffer has one,
     * but the parser is given a length and must not need it. */
    char *in = fuzz_copy(data, size);
    struct saved_headers h;
    saved_headers_parse(&h, in, size);
    const char *nul = memchr(in, '\0', size);
    check_shape(&h, nul ? (size_t)(nul - in) : size);
    compare_standard(&h, in, size);
    /* Every dialect reads what it needs through saved_header(). */
    for (int scheme = HERALD_SCHEME_GITHUB; scheme <= HERALD_SCHEME_TIMESTAMPED_HEX; scheme++) {
        struct herald_verify_options o = {.scheme = scheme, .now = 1700000000, .tolerance = 300};
        int rc = herald_verify_request(SECRET, &o, saved_header, &h, in, size);
        if (rc > 0 || rc < HERALD_VERIFY_BAD_SCHEME)
            abort();
    }
    const char *body = "";
    size_t body_len = 0;
    const char *blank = memmem(in, size, "\r\n\r\n", 4);
    if (blank) { /* any bytes will do as a body; these are the input's own */
        body = blank + 4;
        body_len = size - (size_t)(body - in);
    }
    round_trip(&h, body, body_len);
    saved_headers_release(&h);
    free(in);
    return 0;
}
