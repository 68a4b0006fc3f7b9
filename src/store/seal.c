#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/seal.h"

#define NONCE 12
#define TAG 16

static void derive(unsigned char key[32], unsigned char *version, const char *text)
{
    SHA256((const unsigned char *)text, strlen(text), key);
    unsigned char id[32];
    SHA256(key, 32, id);
    *version = id[0];
}

int seal_keys_derive(struct seal_keys *k, const char *cur, const char *prev)
{
    memset(k, 0, sizeof *k);
    if (!cur || strlen(cur) < 32 || (prev && *prev && strlen(prev) < 32))
        return HERALD_EINVAL;
    derive(k->cur, &k->cur_version, cur);
    if (prev && *prev) {
        derive(k->prev, &k->prev_version, prev);
        k->has_prev = 1;
    }
    return 0;
}

int seal_value(const struct seal_keys *k, const char *aad, const char *plain, char **out)
{
    size_t n = strlen(plain);
    unsigned char *raw = xmalloc(1 + NONCE + n + TAG);
    raw[0] = k->cur_version;
    random_bytes(raw + 1, NONCE);
    int len = 0, rc = HERALD_ECRYPTO;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->cur, raw + 1) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, raw + 1 + NONCE, &len, (const unsigned char *)plain, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, raw + 1 + NONCE + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, raw + 1 + NONCE + n) != 1)
        goto out;
    size_t total = 1 + NONCE + n + TAG;
    *out = xmalloc(4 + 4 * ((total + 2) / 3) + 1);
    memcpy(*out, "enc:", 4);
    b64_encode(raw, total, *out + 4);
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    return rc;
}

int seal_open(const struct seal_keys *k, const char *aad, const char *value, char **out)
{
    if (strncmp(value, "enc:", 4) != 0) {
        *out = xstrdup(value);
        return 0;
    }
    const char *b = value + 4;
    size_t bl = strlen(b);
    unsigned char *raw = xmalloc(bl);
    long total = b64_decode(b, bl, raw);
    int rc = HERALD_ECRYPTO, len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    if (total < 1 + NONCE + TAG)
        goto out;
    const unsigned char *key = NULL;
    if (k && raw[0] == k->cur_version)
        key = k->cur;
    else if (k && k->has_prev && raw[0] == k->prev_version)
        key = k->prev;
    if (!key)
        goto out;
    size_t n = (size_t)total - 1 - NONCE - TAG;
    char *plain = xmalloc(n + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw + 1) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len, raw + 1 + NONCE, (int)n) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, raw + 1 + NONCE + n) == 1 &&
        EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &len) == 1) {
        plain[n] = '\0';
        *out = plain;
        rc = 0;
    } else {
        free(plain);
    }
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    return rc;
}

/* The wrapper: the backend's own ops table, with the webhook calls
 * replaced. impl is the backend's, so the calls not replaced run as is. */
struct sealed {
    struct store pub;
    struct store *inner;
    struct store_ops ops;
    struct seal_keys keys;
};

static struct sealed *sealed_of(struct store *s)
{
    return (struct sealed *)((char *)s - offsetof(struct sealed, pub));
}

static int seal_field(const struct seal_keys *k, const char *aad, char **field)
{
    if (!*field || !**field)
        return 0;
    char *out = NULL;
    int rc = seal_value(k, aad, *field, &out);
    if (rc == 0) {
        free(*field);
        *field = out;
    }
    return rc;
}

static int open_field(const struct seal_keys *k, const char *aad, char **field)
{
    if (!*field)
        return 0;
    char *out = NULL;
    int rc = seal_open(k, aad, *field, &out);
    if (rc == 0) {
        free(*field);
        *field = out;
    }
    return rc;
}

static int open_webhook(struct sealed *x, struct store_webhook *w)
{
    int rc = open_field(&x->keys, w->id, &w->secret);
    if (rc == 0)
        rc = open_field(&x->keys, w->id, &w->prev_secret);
    if (rc)
        log_kv(LOG_ERROR, "cannot decrypt a webhook secret: wrong HERALD_MASTER_KEY?", "webhook",
               w->id, NULL);
    return rc;
}

/* Writes go through a sealed copy, so the caller's record is untouched. */
static int write_sealed(struct store *s, const struct store_webhook *w,
                        int (*op)(struct store *, const struct store_webhook *))
{
    struct sealed *x = sealed_of(s);
    struct store_webhook copy;
    store_webhook_copy(&copy, w);
    int rc = seal_field(&x->keys, w->id, &copy.secret);
    if (rc == 0)
        rc = seal_field(&x->keys, w->id, &copy.prev_secret);
    if (rc == 0)
        rc = op(x->inner, &copy);
    store_webhook_release(&copy);
    return rc;
}

static int sealed_create(struct store *s, const struct store_webhook *w)
{
    return write_sealed(s, w, sealed_of(s)->inner->ops->webhook_create);
}

static int sealed_update(struct store *s, const struct store_webhook *w)
{
    return write_sealed(s, w, sealed_of(s)->inner->ops->webhook_update);
}

static int sealed_get(struct store *s, const char *account_id, const char *id,
                      struct store_webhook *out)
{
    struct sealed *x = sealed_of(s);
    int rc = x->inner->ops->webhook_get(x->inner, account_id, id, out);
    if (rc == 0 && (rc = open_webhook(x, out)) != 0)
        store_webhook_release(out);
    return rc;
}

static int sealed_get_any(struct store *s, const char *id, struct store_webhook *out)
{
    struct sealed *x = sealed_of(s);
    int rc = x->inner->ops->webhook_get_any(x->inner, id, out);
    if (rc == 0 && (rc = open_webhook(x, out)) != 0)
        store_webhook_release(out);
    return rc;
}

static int sealed_list(struct store *s, const char *account_id, const struct store_webhook_query *q,
                       struct store_webhook **out, size_t *n, int64_t *total)
{
    struct sealed *x = sealed_of(s);
    int rc = x->inner->ops->webhook_list(x->inner, account_id, q, out, n, total);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = open_webhook(x, &(*out)[i]);
    if (rc) {
        store_webhooks_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void sealed_close(struct store *s)
{
    struct sealed *x = sealed_of(s);
    store_close(x->inner);
    OPENSSL_cleanse(&x->keys, sizeof x->keys);
    free(x);
}

/* ---- the check at start ---- */

/* The key version byte of a sealed value; false for a value not sealed
 * (no "enc:" prefix) or too short to carry one. */
static bool sealed_version(const char *v, unsigned char *version)
{
    unsigned char raw[3];
    if (!v || strncmp(v, "enc:", 4) != 0 || strlen(v) < 8 || b64_decode(v + 4, 4, raw) < 1)
        return false;
    *version = raw[0];
    return true;
}

static bool is_sealed(const char *v)
{
    return v && strncmp(v, "enc:", 4) == 0;
}

/* True when a field needs sealing again: it is there and not sealed with
 * the current key. */
static bool stale(const struct seal_keys *k, const char *v)
{
    unsigned char ver;
    if (!v || !*v)
        return false;
    return !sealed_version(v, &ver) || ver != k->cur_version;
}

/* One webhook as stored (raw, inner store): opened to prove the keys fit,
 * and written back sealed with the current key when it was not. */
static int check_webhook(struct store *s, struct sealed *x, const struct store_webhook *raw,
                         size_t *resealed)
{
    if (!x) {
        if (!is_sealed(raw->secret) && !is_sealed(raw->prev_secret))
            return 0;
        log_kv(LOG_ERROR,
               "the database holds encrypted webhook secrets but HERALD_MASTER_KEY is not set",
               "webhook", raw->id, NULL);
        return HERALD_ECRYPTO;
    }
    if (!stale(&x->keys, raw->secret) && !stale(&x->keys, raw->prev_secret))
        return 0;
    struct store_webhook w;
    store_webhook_copy(&w, raw);
    int rc = open_webhook(x, &w); /* logs which webhook cannot be opened */
    if (rc == 0)
        rc = sealed_update(s, &w);
    if (rc == 0)
        (*resealed)++;
    store_webhook_release(&w);
    return rc;
}

static int check_account(struct store *s, struct sealed *x, struct store *raw, const char *acct,
                         size_t *resealed)
{
    int rc = 0;
    for (int page = 0; rc == 0; page++) {
        struct store_webhook_query q = {
            .enabled = -1, .order = "created_at", .page = page, .count = 100};
        struct store_webhook *hooks = NULL;
        size_t n = 0;
        int64_t total = 0;
        rc = raw->ops->webhook_list(raw, acct, &q, &hooks, &n, &total);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = check_webhook(s, x, &hooks[i], resealed);
        store_webhooks_free(hooks, n);
        if (n < 100)
            break;
    }
    return rc;
}

int store_seal_check(struct store *s)
{
    struct sealed *x = s->ops->close == sealed_close ? sealed_of(s) : NULL;
    struct store *raw = x ? x->inner : s;
    size_t resealed = 0;
    int rc = 0;
    for (int page = 0; rc == 0; page++) {
        struct store_account *accts = NULL;
        size_t n = 0;
        int64_t total = 0;
        rc = raw->ops->account_list(raw, page, 100, &accts, &n, &total);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = check_account(s, x, raw, accts[i].id, &resealed);
        free(accts);
        if (n < 100)
            break;
    }
    if (rc == 0 && resealed > 0) {
        char num[24];
        snprintf(num, sizeof num, "%zu", resealed);
        log_kv(LOG_INFO, "webhook secrets sealed with the current HERALD_MASTER_KEY", "webhooks",
               num, NULL);
    }
    return rc;
}

int store_seal_from_env(struct store **s)
{
    const char *cur = getenv("HERALD_MASTER_KEY");
    if (!cur || !*cur)
        return 0;
    struct sealed *x = xcalloc(1, sizeof *x);
    if (seal_keys_derive(&x->keys, cur, getenv("HERALD_MASTER_KEY_PREVIOUS")) != 0) {
        free(x);
        log_kv(LOG_ERROR, "HERALD_MASTER_KEY (and _PREVIOUS) must be at least 32 characters", NULL);
        return HERALD_EINVAL;
    }
    x->inner = *s;
    x->ops = *(*s)->ops;
    x->ops.close = sealed_close;
    x->ops.webhook_create = sealed_create;
    x->ops.webhook_update = sealed_update;
    x->ops.webhook_get = sealed_get;
    x->ops.webhook_get_any = sealed_get_any;
    x->ops.webhook_list = sealed_list;
    x->pub.ops = &x->ops;
    x->pub.impl = (*s)->impl;
    *s = &x->pub;
    return 0;
}
