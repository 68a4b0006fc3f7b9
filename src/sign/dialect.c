/* dialect.c — the vendor signature schemes of dialect.h. */
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "sign/dialect.h"

static const struct {
    const char *name;
    const char *header;
    const char *ts_header;
} schemes[] = {
    [SCHEME_STANDARD] = {"standard", NULL, NULL},
    [SCHEME_GITHUB] = {"github", "X-Hub-Signature-256", NULL},
    [SCHEME_STRIPE] = {"stripe", "Herald-Signature", NULL},
    [SCHEME_HEX] = {"hex", "X-Signature", NULL},
    [SCHEME_TIMESTAMPED_HEX] = {"timestamped-hex", "X-Signature", "X-Timestamp"},
};

bool sign_scheme_parse(const char *name, enum sign_scheme *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        if (strcmp(name, schemes[i].name) == 0) {
            *out = (enum sign_scheme)i;
            return true;
        }
    }
    return false;
}

const char *sign_scheme_name(enum sign_scheme s)
{
    return (size_t)s < ARRAY_SIZE(schemes) ? schemes[s].name : "standard";
}

const char *sign_scheme_default_header(enum sign_scheme s)
{
    return (size_t)s < ARRAY_SIZE(schemes) ? schemes[s].header : NULL;
}

const char *sign_scheme_default_ts_header(enum sign_scheme s)
{
    return (size_t)s < ARRAY_SIZE(schemes) ? schemes[s].ts_header : NULL;
}

bool sign_header_herald_sets(const char *name)
{
    static const char *const names[] = {
        "content-type", "content-length",    "user-agent", "host",    "expect", "connection",
        "keep-alive",   "transfer-encoding", "te",         "trailer", "upgrade"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

bool sign_header_prefix_reserved(const char *name)
{
    return strncasecmp(name, "proxy-", 6) == 0 || strncasecmp(name, "webhook-", 8) == 0;
}

bool sign_dialect_secret_valid(const char *s)
{
    size_t n = strlen(s);
    /* Every "whsec_" secret herald generates or accepts fits this too. */
    if (n < SIGN_DIALECT_SECRET_MIN || n > SIGN_DIALECT_SECRET_MAX)
        return false;
    /* Spaces inside are fine (GitHub's own example secret has some); at
     * either end they are a paste accident. */
    if (s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int sign_dialect_key(const char *secret, unsigned char key[64])
{
    if (!sign_dialect_secret_valid(secret))
        return -1;
    size_t n = strlen(secret);
    if (n > 64) {
        SHA256((const unsigned char *)secret, n, key);
        return SHA256_DIGEST_LENGTH;
    }
    memcpy(key, secret, n);
    return (int)n;
}

/* Lowercase hex HMAC-SHA256 of [prefix "."] body into out[65]. */
static void hmac_hex(const unsigned char *key, int key_len, const char *prefix, const char *body,
                     size_t body_len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    HMAC_CTX *ctx = HMAC_CTX_new();
    HMAC_Init_ex(ctx, key, key_len, EVP_sha256(), NULL);
    if (prefix) {
        HMAC_Update(ctx, (const unsigned char *)prefix, strlen(prefix));
        HMAC_Update(ctx, (const unsigned char *)".", 1);
    }
    HMAC_Update(ctx, (const unsigned char *)body, body_len);
    HMAC_Final(ctx, md, &mdlen);
    HMAC_CTX_free(ctx);
    hex_encode(md, mdlen, out);
}

void sign_dialect(enum sign_scheme s, const unsigned char *key, int key_len,
                  const unsigned char *prev_key, int prev_len, int64_t ts, const char *body,
                  size_t body_len, char out[SIGN_DIALECT_VALUE_MAX])
{
    char tsbuf[24], hex[65], prev[65];
    snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)ts);
    switch (s) {
    case SCHEME_GITHUB:
        hmac_hex(key, key_len, NULL, body, body_len, hex);
        snprintf(out, SIGN_DIALECT_VALUE_MAX, "sha256=%s", hex);
        break;
    case SCHEME_STRIPE:
        hmac_hex(key, key_len, tsbuf, body, body_len, hex);
        if (prev_key && prev_len > 0) {
            hmac_hex(prev_key, prev_len, tsbuf, body, body_len, prev);
            snprintf(out, SIGN_DIALECT_VALUE_MAX, "t=%s,v1=%s,v1=%s", tsbuf, hex, prev);
        } else {
            snprintf(out, SIGN_DIALECT_VALUE_MAX, "t=%s,v1=%s", tsbuf, hex);
        }
        break;
    case SCHEME_TIMESTAMPED_HEX:
        hmac_hex(key, key_len, tsbuf, body, body_len, out);
        break;
    case SCHEME_HEX:
    case SCHEME_STANDARD: /* not a dialect; callers use sign_v1 */
    default:
        hmac_hex(key, key_len, NULL, body, body_len, out);
        break;
    }
}
