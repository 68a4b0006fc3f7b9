/* libFuzzer target for verify_request_parse (src/cli/verify.c), the one
 * parser of `herald verify`, and for what the standard scheme then reads
 * through it. The input is a saved request.
 *
 * Checks: no crash, no read past the input (it need not end in a NUL).
 * The parse matches a model written here from verify_request.h's rules,
 * which reads the input's own bytes line by line: the same headers in
 * the same order (so a junk line hides none after it), each name and
 * value the C string cut out in place where the model says it starts;
 * the same junk lines skipped and headers dropped past the cap; the body
 * exactly the bytes after the first blank line, untouched; and a failed
 * parse leaves the text as it was. The standard scheme, as cli_verify()
 * calls it, judges the request as herald_verify() does on the first
 * webhook-id, webhook-timestamp and webhook-signature headers the model
 * finds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/verify_request.h"
#include "fuzz_input.h"
#include "herald/verify.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NOW 1700000000

/* A header as offsets into the input. */
struct span {
    size_t off, len;
};

struct model {
    bool ok;
    size_t n, skipped, dropped, body;
    struct span name[VERIFY_REQUEST_HEADERS_MAX], value[VERIFY_REQUEST_HEADERS_MAX];
};

/* One line [b, e) of the header block, by the rules of verify_request.h. */
static void model_header(struct model *m, const char *s, size_t b, size_t e)
{
    size_t colon = b;
    while (colon < e && s[colon] != ':')
        colon++;
    if (colon == e || memchr(s + b, '\0', e - b)) {
        m->skipped++;
        return;
    }
    if (m->n == VERIFY_REQUEST_HEADERS_MAX) {
        m->dropped++;
        return;
    }
    size_t v = colon + 1;
    while (v < e && (s[v] == ' ' || s[v] == '\t'))
        v++;
    m->name[m->n] = (struct span){b, colon - b};
    m->value[m->n++] = (struct span){v, e - v};
}

static void model_parse(struct model *m, const char *s, size_t size)
{
    memset(m, 0, sizeof *m);
    bool request_line = false;
    for (size_t b = 0;;) {
        size_t lf = b;
        while (lf < size && s[lf] != '\n')
            lf++;
        if (lf == size)
            return; /* no blank line */
        size_t e = lf > b && s[lf - 1] == '\r' ? lf - 1 : lf;
        if (e == b && request_line) {
            m->ok = true;
            m->body = lf + 1;
            return;
        }
        if (e > b && !request_line)
            request_line = true;
        else if (e > b)
            model_header(m, s, b, e);
        b = lf + 1;
    }
}

static bool is_span(const char *got, const char *text, const char *in, struct span sp)
{
    return got == text + sp.off && strlen(got) == sp.len && memcmp(got, in + sp.off, sp.len) == 0;
}

/* The model's first header named name (any case), as a C string, or NULL. */
static char *model_first(const struct model *m, const char *in, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->name[i].len == strlen(name) &&
            strncasecmp(in + m->name[i].off, name, m->name[i].len) == 0)
            return fuzz_cstr(in + m->value[i].off, m->value[i].len);
    return NULL;
}

static void check_standard(const struct verify_request *r, const struct model *m, const char *in)
{
    char *id = model_first(m, in, "webhook-id");
    char *ts = model_first(m, in, "webhook-timestamp");
    char *sig = model_first(m, in, "webhook-signature");
    struct herald_verify_options o = {
        .scheme = HERALD_SCHEME_STANDARD, .now = NOW, .tolerance = 300};
    int rc =
        herald_verify_request(SECRET, &o, verify_request_header, (void *)r, r->body, r->body_len);
    if (rc > 0 || rc < HERALD_VERIFY_MISMATCH ||
        rc != herald_verify(SECRET, id, ts, sig, r->body, r->body_len, NOW, 300))
        abort();
    free(id);
    free(ts);
    free(sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes, no NUL after them: cli_verify's buffer has one,
     * but the parser is given a length and must not need it. */
    const char *in = (const char *)data;
    char *s = fuzz_copy(data, size);
    static struct model m;
    model_parse(&m, in, size);
    struct verify_request r;
    bool ok = verify_request_parse(&r, s, size);
    if (ok != m.ok)
        abort();
    if (!ok) {
        if (r.n || r.body || r.body_len || memcmp(s, in, size) != 0)
            abort();
        free(s);
        return 0;
    }
    if (r.n != m.n || r.skipped != m.skipped || r.dropped != m.dropped)
        abort();
    for (size_t i = 0; i < r.n; i++)
        if (!is_span(r.name[i], s, in, m.name[i]) || !is_span(r.value[i], s, in, m.value[i]))
            abort();
    if (r.body != s + m.body || r.body_len != size - m.body ||
        memcmp(r.body, in + m.body, r.body_len) != 0)
        abort();
    check_standard(&r, &m, in);
    free(s);
    return 0;
}
