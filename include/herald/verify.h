/*
 * herald/verify.h — verify a webhook request on the receiving side.
 *
 * For C receivers of herald (or of any Standard Webhooks sender). Link
 * libheraldverify.a and libcrypto. No allocation, no global state,
 * thread-safe.
 *
 *   int rc = herald_verify(secret, hdr("webhook-id"), hdr("webhook-timestamp"),
 *                          hdr("webhook-signature"), body, body_len,
 *                          time(NULL), HERALD_VERIFY_TOLERANCE);
 *   if (rc != HERALD_VERIFY_OK) reply 400 with herald_verify_strerror(rc);
 *
 * The signature header may hold several space-separated "v1,<base64>"
 * entries (herald sends one per active secret while a secret rotates); the
 * request is genuine when any entry matches. Comparison is constant-time.
 * The timestamp must be within tolerance seconds of now in either
 * direction, which stops replays of old captured requests.
 */
#ifndef HERALD_VERIFY_H
#define HERALD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define HERALD_VERIFY_TOLERANCE 300 /* seconds, as the Standard Webhooks libraries use */

enum herald_verify_result {
    HERALD_VERIFY_OK = 0,
    HERALD_VERIFY_BAD_SECRET = -1,     /* secret is not "whsec_" + base64 */
    HERALD_VERIFY_MISSING_HEADER = -2, /* a header is NULL or empty */
    HERALD_VERIFY_BAD_TIMESTAMP = -3,  /* not an integer */
    HERALD_VERIFY_TOO_OLD = -4,        /* outside the tolerance window */
    HERALD_VERIFY_MISMATCH = -5,       /* no signature entry matches */
    HERALD_VERIFY_BAD_SCHEME = -6,     /* unknown scheme in herald_verify_options */
};

/* Verifies one request; returns HERALD_VERIFY_OK or a negative result.
 * body is the raw request body exactly as received. The timestamp may be
 * at most tolerance seconds from now: 0 takes only now itself, and a
 * negative tolerance refuses every timestamp (herald_verify_request,
 * below, is where 0 skips the check). */
int herald_verify(const char *secret, const char *msg_id, const char *timestamp,
                  const char *signatures, const void *body, size_t body_len, int64_t now,
                  int64_t tolerance);

/* A static description of a result code. */
const char *herald_verify_strerror(int result);

/* ---- every signature scheme, through a header lookup ----------------
 *
 * herald signs with Standard Webhooks by default; a webhook may instead use
 * a dialect so existing receivers keep working (docs/receiving.md):
 *
 *   github           X-Hub-Signature-256: sha256=<hex HMAC(body)>
 *   stripe           Herald-Signature: t=<ts>,v1=<hex HMAC(ts "." body)>[,v1=…]
 *   hex              X-Signature: <hex HMAC(body)>
 *   timestamped-hex  X-Signature: <hex HMAC(ts "." body)>, X-Timestamp: <ts>
 *
 * HMAC-SHA256 keyed with the secret's own bytes (a "whsec_" secret whole,
 * prefix included); lowercase hex. Header names may differ per webhook.
 *
 *   const char *hdr(void *req, const char *name) { ...case-insensitive... }
 *   struct herald_verify_options o = {.scheme = HERALD_SCHEME_GITHUB,
 *                                     .now = time(NULL),
 *                                     .tolerance = HERALD_VERIFY_TOLERANCE};
 *   int rc = herald_verify_request(secret, &o, hdr, req, body, body_len);
 */

enum herald_scheme {
    HERALD_SCHEME_STANDARD = 0,
    HERALD_SCHEME_GITHUB = 1,
    HERALD_SCHEME_STRIPE = 2,
    HERALD_SCHEME_HEX = 3,
    HERALD_SCHEME_TIMESTAMPED_HEX = 4,
};

/* Maps "standard", "github", "stripe", "hex", "timestamped-hex" to an
 * enum herald_scheme; -1 for anything else. */
int herald_scheme_parse(const char *name);

/* Returns the value of the request header called name (matched without
 * regard to case), or NULL when the request has none. */
typedef const char *(*herald_header_fn)(void *ctx, const char *name);

struct herald_verify_options {
    int scheme;                   /* enum herald_scheme */
    const char *signature_header; /* NULL: the scheme's default (above) */
    const char *timestamp_header; /* NULL: X-Timestamp (timestamped-hex only) */
    int64_t now;                  /* unix seconds */
    /* Seconds either side of now a timestamp may be (standard, stripe,
     * timestamped-hex); 0 or less skips the check (github and hex carry
     * no time, so nothing stops a replay of those: dedupe on webhook-id). */
    int64_t tolerance;
};

/* Verifies one request under o's scheme; the standard scheme reads
 * webhook-id, webhook-timestamp and webhook-signature and behaves as
 * herald_verify(). Returns HERALD_VERIFY_OK or a negative result;
 * comparisons are constant-time. */
int herald_verify_request(const char *secret, const struct herald_verify_options *o,
                          herald_header_fn get, void *ctx, const void *body, size_t body_len);

#endif
