/*
 * keys.h — API keys: made here, stored only as SHA-256 hashes.
 *
 * A key is "hk_" + 40 lowercase hex characters (20 random bytes). The store
 * keeps its hash and its first 8 characters (for display); the key text
 * exists only in the answer to whoever created it.
 */
#ifndef HERALD_API_KEYS_H
#define HERALD_API_KEYS_H

#include "core/id.h"
#include "store/store.h"

#define API_KEY_MAX 64

/* Creates a key of role ("admin" or "account") for account_id. When given
 * is non-NULL it becomes the key text (HERALD_ADMIN_KEY on first start;
 * 16..60 printable chars, else HERALD_EINVAL); otherwise a new one is
 * generated. Writes the key text and its id. */
int api_key_new(struct store *s, const char *account_id, const char *role, const char *given,
                char key_out[API_KEY_MAX], char id_out[HERALD_ID_MAX]);

#endif
