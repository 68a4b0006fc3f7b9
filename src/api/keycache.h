/*
 * keycache.h — recently verified API keys, kept in memory for a moment.
 *
 * Every request authenticates, and reading the key from the store costs a
 * read transaction on a pooled connection: at ingest rates that was a
 * large share of each request. Valid keys found in the store are kept
 * for KEYCACHE_TTL_MS, keyed by their SHA-256 (the key itself is never
 * held). Unknown keys are never cached, so a wrong key always reaches the
 * store (and the failed-auth limit). Revoking a key through this node's
 * API forgets it at once; on other nodes it stops working within the TTL.
 */
#ifndef HERALD_API_KEYCACHE_H
#define HERALD_API_KEYCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define KEYCACHE_TTL_MS 2000

/* Copies the cached record for hash into out; false when absent or stale.
 * Thread-safe. */
bool keycache_get(const char hash[65], int64_t now_mono, struct store_key *out);

/* The revocation generation: read it before reading a key from the store
 * and hand it to keycache_put, so a record read before a revocation on
 * this node cannot be cached after it. */
uint64_t keycache_generation(void);

/* Remembers a valid key (revoked ones are ignored), unless a key was
 * forgotten since generation was read. */
void keycache_put(const struct store_key *k, int64_t now_mono, uint64_t generation);

/* Forgets the key with this id (after a revocation). */
void keycache_forget(const char *key_id);

#endif
