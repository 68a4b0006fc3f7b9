/* libFuzzer target for the dialect side of lib/verify.c
 * (herald_verify_request: the Stripe header parser, timestamps, hex
 * comparisons) against src/sign/dialect.c. The first input byte picks the
 * scheme, the next 16 are the receiver's now and tolerance (two int64, as
 * fuzz_herald_verify reads them), and the rest is split at NUL bytes into
 * secret, signature header value, timestamp header value and body.
 * Checks: no crash and no undefined behaviour for any values (a receiver
 * may pass any now and tolerance), a result among the documented ones,
 * and that herald's own signature for the same secret and body always
 * verifies: made at 1700000000 for a receiver at that time with the
 * default tolerance, and made at the receiver's own now (any time up to
 * the year 9999) whatever its tolerance. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_input.h"
#include "herald/verify.h"
#include "sign/dialect.h"

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

/* herald's signature of body at ts must verify for a receiver with o. */
static void round_trip(int scheme, const char *secret, const unsigned char *key, int kl, int64_t ts,
                       const struct herald_verify_options *o, const char *body, size_t body_len)
{
    char v[SIGN_DIALECT_VALUE_MAX], t[24];
    sign_dialect((enum sign_scheme)scheme, key, kl, NULL, 0, ts, body, body_len, v);
    snprintf(t, sizeof t, "%lld", (long long)ts);
    struct hdrs good = {v, t};
    if (herald_verify_request(secret, o, lookup, &good, body, body_len) != HERALD_VERIFY_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 17)
        return 0;
    int scheme = 1 + data[0] % 4; /* the dialects */
    int64_t now, tolerance;
    memcpy(&now, data + 1, 8);
    memcpy(&tolerance, data + 9, 8);
    const uint8_t *p = data + 17, *end = data + size;
    char *secret = fuzz_field(&p, end), *sig = fuzz_field(&p, end), *ts = fuzz_field(&p, end);
    size_t body_len = (size_t)(end - p);
    char *body = fuzz_copy(p, body_len);
    struct hdrs h = {sig, ts};
    struct herald_verify_options o = {.scheme = scheme, .now = now, .tolerance = tolerance};
    int rc = herald_verify_request(secret, &o, lookup, &h, body, body_len);
    if (rc > 0 || rc < HERALD_VERIFY_BAD_SCHEME)
        abort();
    unsigned char key[64];
    int kl = sign_dialect_key(secret, key);
    if (kl > 0) {
        struct herald_verify_options usual = {
            .scheme = scheme, .now = 1700000000, .tolerance = 300};
        round_trip(scheme, secret, key, kl, 1700000000, &usual, body, body_len);
        if (now >= 0 && now <= 253402300799LL)
            round_trip(scheme, secret, key, kl, now, &o, body, body_len);
    }
    free(secret);
    free(sig);
    free(ts);
    free(body);
    return 0;
}
