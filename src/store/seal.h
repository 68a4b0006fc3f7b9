/*
 * seal.h — webhook secrets encrypted at rest.
 *
 * store_seal() wraps any backend in a store whose webhook operations
 * encrypt `secret` and `prev_secret` before they reach the database and
 * decrypt them on the way out, so neither backend knows about it and a
 * stolen database file holds no usable secret.
 *
 * Format of a sealed value: "enc:" + base64(version | nonce[12] | ct | tag[16])
 * with AES-256-GCM, the webhook id as associated data (a sealed secret
 * copied onto another webhook does not open), and version = the first byte
 * of SHA-256(key), which names the key that sealed it. Keys come from
 * HERALD_MASTER_KEY (the current one, used to seal) and
 * HERALD_MASTER_KEY_PREVIOUS (still opens old values, during a rotation);
 * each is 32+ characters, hashed with SHA-256 into the AES key. Values
 * without the "enc:" prefix pass through unchanged, so a database written
 * before the key was set keeps working and is sealed as webhooks change.
 */
#ifndef HERALD_STORE_SEAL_H
#define HERALD_STORE_SEAL_H

#include <stddef.h>

#include "store/store.h"

/* Wraps *s when HERALD_MASTER_KEY is set (replacing *s with the wrapper,
 * which owns and closes the inner store). Returns 0 and leaves *s alone
 * when no key is set; HERALD_EINVAL when a key is too short. */
int store_seal_from_env(struct store **s);

/* Run at start, after store_seal_from_env(), before anything else uses
 * the store. With a master key: opens every stored webhook secret (so a
 * wrong key is found now, not at the first delivery) and seals again with
 * the current key each one that is not sealed with it — plain ones from
 * before the key was set, and ones sealed with HERALD_MASTER_KEY_PREVIOUS,
 * so that after one start with both keys the previous one can be dropped.
 * Without a master key: refuses a database that holds sealed secrets.
 * Logs what is wrong and returns HERALD_ECRYPTO then (herald refuses to
 * start); store errors as the store returns them. Another node writing the
 * same webhook at the same moment could lose its write (PostgreSQL), so
 * rotate keys with one node running. */
int store_seal_check(struct store *s);

/* Seals/opens one value with explicit keys; exposed for tests. out is
 * allocated. open returns HERALD_ECRYPTO when no key opens the value. */
struct seal_keys {
    unsigned char cur[32], prev[32];
    unsigned char cur_version, prev_version;
    int has_prev;
};
int seal_keys_derive(struct seal_keys *k, const char *cur, const char *prev);
int seal_value(const struct seal_keys *k, const char *aad, const char *plain, char **out);
int seal_open(const struct seal_keys *k, const char *aad, const char *value, char **out);

#endif
