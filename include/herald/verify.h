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
};

/* Verifies one request; returns HERALD_VERIFY_OK or a negative result.
 * body is the raw request body exactly as received. */
int herald_verify(const char *secret, const char *msg_id, const char *timestamp,
                  const char *signatures, const void *body, size_t body_len, int64_t now,
                  int64_t tolerance);

/* A static description of a result code. */
const char *herald_verify_strerror(int result);

#endif
