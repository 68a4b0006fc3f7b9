/*
 * sign.h — Standard Webhooks signatures and webhook secrets.
 *
 * A secret is "whsec_" + base64 of 16–64 random bytes (herald generates 32).
 * The HMAC key is the base64-decoded part. The signed content is
 * "<msg_id>.<timestamp>.<body>", the signature "v1,<base64 HMAC-SHA256>",
 * exactly what the official Standard Webhooks libraries verify.
 */
#ifndef HERALD_SIGN_SIGN_H
#define HERALD_SIGN_SIGN_H

#include <openssl/sha.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_SECRET_MAX 96 /* "whsec_" + base64(64 bytes) + NUL fits */
#define SIGN_SIG_MAX 64    /* "v1," + base64(32 bytes) + NUL */

/* Writes a new "whsec_" + base64(32 random bytes) secret. */
void sign_secret_new(char out[SIGN_SECRET_MAX]);

/* True when s is "whsec_" + valid padded base64 decoding to 16..64 bytes. */
bool sign_secret_valid(const char *s);

/* Decodes the key bytes of a valid secret into key[64]; returns the key
 * length or -1. */
int sign_secret_key(const char *secret, unsigned char key[64]);

/* Computes "v1,<base64>" over msg_id.timestamp.body with a key from
 * sign_secret_key(). The key is decoded once by the caller so the hot path
 * does not base64-decode per request. */
void sign_v1(const unsigned char *key, int key_len, const char *msg_id, int64_t timestamp,
             const char *body, size_t body_len, char out[SIGN_SIG_MAX]);

/* An HMAC-SHA256 key with its two padded key blocks already hashed: a
 * signature then hashes only the message and the inner digest, with no
 * allocation. Worth it where one key signs many requests (the dispatcher
 * keeps one per webhook version); it holds key material, so callers wipe
 * it with OPENSSL_cleanse when done. */
struct sign_key {
    SHA256_CTX inner, outer;
};

/* Prepares k from key bytes (any length; longer than a block is hashed
 * first, as HMAC does). */
void sign_key_init(struct sign_key *k, const unsigned char *key, size_t key_len);

/* sign_v1 with a prepared key: the same signature, cheaper. */
void sign_v1_prepared(const struct sign_key *k, const char *msg_id, int64_t timestamp,
                      const char *body, size_t body_len, char out[SIGN_SIG_MAX]);

/* Convenience for callers with the secret text; false on a malformed secret. */
bool sign_v1_secret(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                    size_t body_len, char out[SIGN_SIG_MAX]);

#endif
