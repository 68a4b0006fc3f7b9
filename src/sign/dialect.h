/*
 * dialect.h — the signature schemes a webhook may use besides Standard
 * Webhooks, so a platform that already has receivers can move to herald
 * without those receivers changing a line (DESIGN.md §2 signature_scheme).
 *
 *   scheme           header(s) (default names)          value
 *   standard         webhook-signature                  see sign.h
 *   github           X-Hub-Signature-256                "sha256=" hex(HMAC(body))
 *   stripe           Herald-Signature                   "t=<ts>,v1=" hex(HMAC(ts "." body))
 *   hex              X-Signature                        hex(HMAC(body))
 *   timestamped-hex  X-Signature + X-Timestamp: <ts>    hex(HMAC(ts "." body))
 *
 * HMAC is HMAC-SHA256, hex is lowercase, ts is the attempt's unix seconds
 * (the same value webhook-timestamp carries). The dialects key the HMAC
 * with the secret text's own bytes, exactly as the vendors' examples do
 * (PHP hash_hmac('sha256', $msg, $secret), Node createHmac('sha256',
 * secret)): a "whsec_…" secret is used whole, prefix included, never
 * base64-decoded. Only the standard scheme decodes it.
 */
#ifndef HERALD_SIGN_DIALECT_H
#define HERALD_SIGN_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sign_scheme {
    SCHEME_STANDARD,
    SCHEME_GITHUB,
    SCHEME_STRIPE,
    SCHEME_HEX,
    SCHEME_TIMESTAMPED_HEX,
};

/* Secrets a dialect accepts: 8–256 printable ASCII characters (space
 * included), neither starting nor ending with a space: a pasted secret
 * with a stray newline or blank must fail loudly, not sign with it. Every
 * valid "whsec_" secret qualifies too. */
#define SIGN_DIALECT_SECRET_MIN 8
#define SIGN_DIALECT_SECRET_MAX 256
/* A header value: "t=" + 20 digits + two ",v1=" + 64 hex entries, + NUL. */
#define SIGN_DIALECT_VALUE_MAX 176
/* Longest header name a webhook may choose for a dialect. */
#define SIGN_HEADER_NAME_MAX 64

/* Maps "standard", "github", "stripe", "hex", "timestamped-hex" (exact,
 * lowercase) to the scheme; false for anything else. */
bool sign_scheme_parse(const char *name, enum sign_scheme *out);
const char *sign_scheme_name(enum sign_scheme s);

/* The default signature header name of a dialect; NULL for standard
 * (whose header, webhook-signature, is not configurable). */
const char *sign_scheme_default_header(enum sign_scheme s);
/* The default timestamp header name; NULL for every scheme but
 * timestamped-hex (stripe carries its timestamp inside the signature). */
const char *sign_scheme_default_ts_header(enum sign_scheme s);

/* True for the headers herald sets on every request it sends
 * (Content-Type, Content-Length, User-Agent, Host, Expect) and those that
 * frame the message or belong to the connection (Connection, Keep-Alive,
 * Transfer-Encoding, TE, Trailer, Upgrade), in any case: neither a
 * webhook's custom headers nor a dialect's header names may take them.
 * The one list the API's checks and the sender share, so that what the
 * API accepts is what goes out. */
bool sign_header_herald_sets(const char *name);

/* True for names under the prefixes no webhook may use, in any case:
 * Proxy-* belongs to the hops between herald and the endpoint, Webhook-*
 * to the Standard Webhooks headers herald signs with. Shared, like
 * sign_header_herald_sets, by the API's checks and the sender. */
bool sign_header_prefix_reserved(const char *name);

/* True when s is acceptable as a dialect secret (see above). */
bool sign_dialect_secret_valid(const char *s);

/* Derives the HMAC key from a dialect secret into key[64] and returns its
 * length, or -1 when the secret is not valid. A secret longer than 64
 * bytes (the SHA-256 block) is replaced by its SHA-256 digest, which is
 * what HMAC itself does with such keys (RFC 2104 §2): the signatures are
 * identical to those of an HMAC keyed with the whole text. */
int sign_dialect_key(const char *secret, unsigned char key[64]);

/* Writes the signature header value of scheme s (not standard) for body
 * at unix time ts. For stripe, a second key (prev_key non-NULL) adds a
 * second v1= entry, as Stripe does while a secret rolls; the other
 * dialects carry one signature and ignore it. */
void sign_dialect(enum sign_scheme s, const unsigned char *key, int key_len,
                  const unsigned char *prev_key, int prev_len, int64_t ts, const char *body,
                  size_t body_len, char out[SIGN_DIALECT_VALUE_MAX]);

#endif
