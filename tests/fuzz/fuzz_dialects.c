/* libFuzzer target for the dialect side of lib/verify.c
 * (herald_verify_request: the Stripe header parser, timestamps, hex
 * comparisons) against src/sign/dialect.c. The input is split at NUL
 * bytes into secret, signature header value, timestamp header value and
 * body; the first byte picks the scheme. Checks: no crash for any values,
 * a result among the documented ones, and that herald's own signature for
 * the same secret, time and body always verifies. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "herald/verify.h"
#include "sign/dialect.h"

static char *field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *q = *p;
    while (q < end && *q)
        q++;
    size_t n = (size_t)(q - *p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = q < end ? q + 1 : q;
    return s;
}

struct hdrs {
    const char *sig, *ts;
};

static const char *lookup(void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    if (strcasecmp(name, "X-Timestamp") == 0)
        return h->ts;
    return h->sig; /* every signature header name */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int scheme = 1 + data[0] % 4; /* the dialects */
    const uint8_t *p = data + 1, *end = data + size;
    char *secret = field(&p, end), *sig = field(&p, end), *ts = field(&p, end);
    size_t body_len = (size_t)(end - p);
    char *body = malloc(body_len ? body_len : 1);
    if (!body)
        abort();
    memcpy(body, p, body_len);
    struct hdrs h = {sig, ts};
    struct herald_verify_options o = {.scheme = scheme, .now = 1700000000, .tolerance = 300};
    int rc = herald_verify_request(secret, &o, lookup, &h, body, body_len);
    if (rc > 0 || rc < HERALD_VERIFY_BAD_SCHEME)
        abort();
    unsigned char key[64];
    int kl = sign_dialect_key(secret, key);
    if (kl > 0) {
        char v[SIGN_DIALECT_VALUE_MAX];
        sign_dialect((enum sign_scheme)scheme, key, kl, NULL, 0, 1700000000, body, body_len, v);
        struct hdrs good = {v, "1700000000"};
        if (herald_verify_request(secret, &o, lookup, &good, body, body_len) != HERALD_VERIFY_OK)
            abort();
    }
    free(secret);
    free(sig);
    free(ts);
    free(body);
    return 0;
}
