/* verify.c — the receiver-side check of herald/verify.h. Self-contained on
 * purpose (only libcrypto), so receivers need none of herald's code. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/verify.h"

static int decode_key(const char *secret, unsigned char *key)
{
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    size_t n = strlen(secret);
    if (n == 0 || n % 4 != 0 || n > 88)
        return -1;
    int len = EVP_DecodeBlock(key, (const unsigned char *)secret, (int)n);
    if (len <= 0)
        return -1;
    if (secret[n - 1] == '=')
        len--;
    if (secret[n - 2] == '=')
        len--;
    return len;
}

static int const_eq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    unsigned char acc = 0;
    for (size_t i = 0; i < an; i++)
        acc |= (unsigned char)(a[i] ^ b[i]);
    return acc == 0;
}

int herald_verify(const char *secret, const char *msg_id, const char *timestamp,
                  const char *signatures, const void *body, size_t body_len, int64_t now,
                  int64_t tolerance)
{
    if (!secret)
        return HERALD_VERIFY_BAD_SECRET;
    if (!msg_id || !*msg_id || !timestamp || !*timestamp || !signatures || !*signatures)
        return HERALD_VERIFY_MISSING_HEADER;
    unsigned char key[72];
    int key_len = decode_key(secret, key);
    if (key_len <= 0)
        return HERALD_VERIFY_BAD_SECRET;

    char *end = NULL;
    long long ts = strtoll(timestamp, &end, 10);
    if (end == timestamp || *end)
        return HERALD_VERIFY_BAD_TIMESTAMP;
    /* |ts - now| in unsigned arithmetic: no int64 value of either (nor of
     * tolerance) can overflow it; a negative tolerance allows nothing. */
    uint64_t skew = ts >= now ? (uint64_t)ts - (uint64_t)now : (uint64_t)now - (uint64_t)ts;
    if (tolerance < 0 || skew > (uint64_t)tolerance)
        return HERALD_VERIFY_TOO_OLD;

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC_CTX *ctx = HMAC_CTX_new();
    if (!ctx)
        return HERALD_VERIFY_MISMATCH;
    HMAC_Init_ex(ctx, key, key_len, EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)msg_id, strlen(msg_id));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)timestamp, strlen(timestamp));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, body, body_len);
    HMAC_Final(ctx, md, &md_len);
    HMAC_CTX_free(ctx);
    char expected[64];
    int exp_len = EVP_EncodeBlock((unsigned char *)expected, md, (int)md_len);

    /* Walk the space-separated entries; only "v1," entries are ours. */
    int match = 0;
    const char *p = signatures;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *q = p;
        while (*q && *q != ' ')
            q++;
        if (q - p > 3 && strncmp(p, "v1,", 3) == 0)
            match |= const_eq(p + 3, (size_t)(q - p - 3), expected, (size_t)exp_len);
        p = q;
    }
    return match ? HERALD_VERIFY_OK : HERALD_VERIFY_MISMATCH;
}

const char *herald_verify_strerror(int result)
{
    switch (result) {
    case HERALD_VERIFY_OK:
        return "signature verified";
    case HERALD_VERIFY_BAD_SECRET:
        return "the secret is not whsec_ followed by base64";
    case HERALD_VERIFY_MISSING_HEADER:
        return "a signature header is missing (webhook-id, webhook-timestamp and "
               "webhook-signature, or the scheme's own)";
    case HERALD_VERIFY_BAD_TIMESTAMP:
        return "webhook-timestamp is not an integer";
    case HERALD_VERIFY_TOO_OLD:
        return "webhook-timestamp is outside the tolerance window";
    case HERALD_VERIFY_MISMATCH:
        return "no signature matches";
    case HERALD_VERIFY_BAD_SCHEME:
        return "unknown signature scheme";
    default:
        return "unknown result";
    }
}

/* ---- the dialects (herald_verify_request) ---- */

static const struct {
    const char *name, *header, *ts_header;
} schemes[] = {
    [HERALD_SCHEME_STANDARD] = {"standard", "webhook-signature", "webhook-timestamp"},
    [HERALD_SCHEME_GITHUB] = {"github", "X-Hub-Signature-256", NULL},
    [HERALD_SCHEME_STRIPE] = {"stripe", "Herald-Signature", NULL},
    [HERALD_SCHEME_HEX] = {"hex", "X-Signature", NULL},
    [HERALD_SCHEME_TIMESTAMPED_HEX] = {"timestamped-hex", "X-Signature", "X-Timestamp"},
};

int herald_scheme_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof schemes / sizeof schemes[0]; i++)
        if (strcmp(name, schemes[i].name) == 0)
            return (int)i;
    return -1;
}

/* Lowercase hex of HMAC-SHA256(secret text, [ts "."] body) into out[65]. */
static void hmac_hex(const char *secret, const char *ts, size_t ts_len, const void *body,
                     size_t body_len, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC_CTX *ctx = HMAC_CTX_new();
    out[0] = '\0';
    if (!ctx)
        return;
    HMAC_Init_ex(ctx, secret, (int)strlen(secret), EVP_sha256(), NULL);
    if (ts) {
        HMAC_Update(ctx, (const unsigned char *)ts, ts_len);
        HMAC_Update(ctx, (const unsigned char *)".", 1);
    }
    HMAC_Update(ctx, body, body_len);
    HMAC_Final(ctx, md, &md_len);
    HMAC_CTX_free(ctx);
    for (unsigned int i = 0; i < md_len && i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * (md_len < 32 ? md_len : 32)] = '\0';
}

/* Parses a whole decimal timestamp of at most 19 digits and checks the
 * window (tolerance 0: no window). */
static int check_time(const char *ts, size_t n, int64_t now, int64_t tolerance)
{
    if (n == 0 || n > 19)
        return HERALD_VERIFY_BAD_TIMESTAMP;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return HERALD_VERIFY_BAD_TIMESTAMP;
        if (v > (INT64_MAX - 9) / 10)
            return HERALD_VERIFY_BAD_TIMESTAMP;
        v = v * 10 + (ts[i] - '0');
    }
    /* |v - now| unsigned, as for Standard Webhooks above: now -+ tolerance
     * overflowed for a tolerance near INT64_MAX (found by fuzz_dialects). */
    uint64_t skew = v >= now ? (uint64_t)v - (uint64_t)now : (uint64_t)now - (uint64_t)v;
    if (tolerance > 0 && skew > (uint64_t)tolerance)
        return HERALD_VERIFY_TOO_OLD;
    return HERALD_VERIFY_OK;
}

/* Stripe's "t=<ts>,v1=<hex>[,v1=<hex>…]": any v1 may match. */
static int verify_stripe(const char *secret, const char *value, const void *body, size_t body_len,
                         int64_t now, int64_t tolerance)
{
    const char *t = NULL;
    size_t t_len = 0;
    for (const char *p = value; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 2 && strncmp(p, "t=", 2) == 0 && !t) {
            t = p + 2;
            t_len = n - 2;
        }
        p += n + (end ? 1 : 0);
    }
    if (!t)
        return HERALD_VERIFY_MISSING_HEADER;
    int rc = check_time(t, t_len, now, tolerance);
    if (rc != HERALD_VERIFY_OK)
        return rc;
    char expected[65];
    hmac_hex(secret, t, t_len, body, body_len, expected);
    int match = 0;
    for (const char *p = value; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 3 && strncmp(p, "v1=", 3) == 0)
            match |= const_eq(p + 3, n - 3, expected, strlen(expected));
        p += n + (end ? 1 : 0);
    }
    return match ? HERALD_VERIFY_OK : HERALD_VERIFY_MISMATCH;
}

int herald_verify_request(const char *secret, const struct herald_verify_options *o,
                          herald_header_fn get, void *ctx, const void *body, size_t body_len)
{
    if (!o || o->scheme < 0 || (size_t)o->scheme >= sizeof schemes / sizeof schemes[0])
        return HERALD_VERIFY_BAD_SCHEME;
    if (!secret || !*secret)
        return HERALD_VERIFY_BAD_SECRET;
    const char *sig_name = o->signature_header ? o->signature_header : schemes[o->scheme].header;
    if (o->scheme == HERALD_SCHEME_STANDARD) {
        const char *ts = get(ctx, "webhook-timestamp");
        int64_t now = o->now, tolerance = o->tolerance;
        if (tolerance <= 0 && ts) { /* no window: judge the signature only */
            now = strtoll(ts, NULL, 10);
            tolerance = 1;
        }
        return herald_verify(secret, get(ctx, "webhook-id"), ts, get(ctx, "webhook-signature"),
                             body, body_len, now, tolerance);
    }
    const char *sig = get(ctx, sig_name);
    if (!sig || !*sig)
        return HERALD_VERIFY_MISSING_HEADER;
    if (o->scheme == HERALD_SCHEME_STRIPE)
        return verify_stripe(secret, sig, body, body_len, o->now, o->tolerance);
    const char *ts = NULL;
    size_t ts_len = 0;
    if (o->scheme == HERALD_SCHEME_TIMESTAMPED_HEX) {
        ts = get(ctx, o->timestamp_header ? o->timestamp_header : "X-Timestamp");
        if (!ts || !*ts)
            return HERALD_VERIFY_MISSING_HEADER;
        ts_len = strlen(ts);
        int rc = check_time(ts, ts_len, o->now, o->tolerance);
        if (rc != HERALD_VERIFY_OK)
            return rc;
    }
    char expected[65];
    hmac_hex(secret, ts, ts_len, body, body_len, expected);
    if (o->scheme == HERALD_SCHEME_GITHUB) {
        if (strncmp(sig, "sha256=", 7) != 0)
            return HERALD_VERIFY_MISMATCH;
        sig += 7;
    }
    return const_eq(sig, strlen(sig), expected, strlen(expected)) ? HERALD_VERIFY_OK
                                                                  : HERALD_VERIFY_MISMATCH;
}
