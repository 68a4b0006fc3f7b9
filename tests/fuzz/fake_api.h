/* fake_api.h — what the API fuzz targets (fuzz_ingest, fuzz_query,
 * fuzz_auth) run a handler with instead of libmicrohttpd and a database,
 * and how they (and fuzz_webhook) check an answer.
 *
 * A request's headers and query arguments come from the fuzz input: this
 * file defines MHD_lookup_connection_value itself, and the executable's
 * definition wins over libmicrohttpd's, so req_header() and req_query()
 * (src/api/http.c) read a struct fake_conn. Names match without regard to
 * case and the first match wins, as libmicrohttpd's lookup does.
 *
 * The store answers the few operations those handlers call from fixed
 * data (two accounts, three keys, two account-defined event types, one
 * webhook) and records the queries it was asked, so a target can check
 * what reached the store. Every other operation is NULL: a handler that
 * calls one crashes the target, which is what a test of validation wants.
 *
 * Helpers are static inline, so a target that needs only some of them
 * builds without warnings; include the header once per target. */
#ifndef HERALD_FUZZ_FAKE_API_H
#define HERALD_FUZZ_FAKE_API_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/http.h"
#include "app.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

#define FAKE_MAX_VALUES 32

struct fake_conn {
    enum MHD_ValueKind kind[FAKE_MAX_VALUES];
    const char *name[FAKE_MAX_VALUES];
    const char *value[FAKE_MAX_VALUES];
    size_t n;
};

static inline void fake_add(struct fake_conn *c, enum MHD_ValueKind kind, const char *name,
                            const char *value)
{
    if (c->n == FAKE_MAX_VALUES)
        return;
    c->kind[c->n] = kind;
    c->name[c->n] = name;
    c->value[c->n] = value;
    c->n++;
}

/* The first value of kind named name (any case) in c, or NULL. */
static inline const char *fake_lookup(const struct fake_conn *c, enum MHD_ValueKind kind,
                                      const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->kind[i] == kind && strcasecmp(c->name[i], name) == 0)
            return c->value[i];
    return NULL;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    return key ? fake_lookup((const struct fake_conn *)(void *)connection, kind, key) : NULL;
}

/* ---- the store ---- */

#define FAKE_ACCOUNT "acct_01JAAAAAAAAAAAAAAAAAAAAAAA"
#define FAKE_OTHER_ACCOUNT "acct_01JBBBBBBBBBBBBBBBBBBBBBBB"
#define FAKE_WEBHOOK "wh_01JCCCCCCCCCCCCCCCCCCCCCCC"
/* Keys (keys.h: "hk_" + 40 hex), by role; the revoked one is an admin's. */
#define FAKE_KEY_ACCOUNT "hk_00112233445566778899aabbccddeeff00112233"
#define FAKE_KEY_ADMIN "hk_ffeeddccbbaa99887766554433221100ffeeddcc"
#define FAKE_KEY_REVOKED "hk_0123456789abcdef0123456789abcdef01234567"
#define FAKE_KEY_ACCOUNT_ID "key_01JDDDDDDDDDDDDDDDDDDDDDDD"
#define FAKE_KEY_ADMIN_ID "key_01JEEEEEEEEEEEEEEEEEEEEEEE"
#define FAKE_KEY_REVOKED_ID "key_01JFFFFFFFFFFFFFFFFFFFFFFF"
/* Event types the fake account defined besides the built-in catalog. */
static const char *const fake_own_types[] = {"custom.type", "order.created"};

/* What the last list call was asked, copied (the query's strings die
 * with the request). */
struct fake_seen {
    int calls;
    struct store_webhook_query wq;
    struct store_event_query eq;
    struct store_attempt_query aq;
    char order[32], event[STORE_NAME_MAX + 8], type[STORE_NAME_MAX + 8];
    char name[1024], event_type[STORE_NAME_MAX + 8];
    int64_t series_since, series_bucket;
};
static struct fake_seen fake_seen;

static inline void fake_copy(char *dst, size_t cap, const char *src)
{
    str_copy(dst, cap, src ? src : "");
}

static int fake_event_type_get(struct store *s, const char *account_id, const char *name,
                               struct store_event_type *out)
{
    (void)s;
    if (strcmp(account_id, FAKE_ACCOUNT) != 0)
        return HERALD_ENOTFOUND;
    for (size_t i = 0; i < sizeof fake_own_types / sizeof *fake_own_types; i++) {
        if (strcmp(name, fake_own_types[i]) == 0) {
            memset(out, 0, sizeof *out);
            str_copy(out->name, sizeof out->name, name);
            str_copy(out->account_id, sizeof out->account_id, account_id);
            out->description = xstrdup("");
            out->sample = xstrdup("{}");
            return 0;
        }
    }
    return HERALD_ENOTFOUND;
}

static int fake_event_type_list(struct store *s, const char *account_id,
                                struct store_event_type **out, size_t *n)
{
    (void)s;
    (void)account_id;
    fake_seen.calls++;
    size_t k = sizeof fake_own_types / sizeof *fake_own_types;
    *out = xcalloc(k, sizeof **out);
    for (size_t i = 0; i < k; i++) {
        str_copy((*out)[i].name, sizeof(*out)[i].name, fake_own_types[i]);
        (*out)[i].description = xstrdup("");
        (*out)[i].sample = xstrdup("{}");
        (*out)[i].created_at = 1700000000000LL;
    }
    *n = k;
    return 0;
}

static int fake_account_get(struct store *s, const char *id, struct store_account *out)
{
    (void)s;
    if (strcmp(id, FAKE_ACCOUNT) != 0 && strcmp(id, FAKE_OTHER_ACCOUNT) != 0)
        return HERALD_ENOTFOUND;
    memset(out, 0, sizeof *out);
    str_copy(out->id, sizeof out->id, id);
    str_copy(out->name, sizeof out->name, "fuzz");
    return 0;
}

static int fake_key_find(struct store *s, const char *hash, struct store_key *out)
{
    static const struct {
        const char *key, *id, *role;
        bool revoked;
    } keys[] = {
        {FAKE_KEY_ACCOUNT, FAKE_KEY_ACCOUNT_ID, "account", false},
        {FAKE_KEY_ADMIN, FAKE_KEY_ADMIN_ID, "admin", false},
        {FAKE_KEY_REVOKED, FAKE_KEY_REVOKED_ID, "admin", true},
    };
    (void)s;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char h[65];
        sha256_hex(keys[i].key, strlen(keys[i].key), h);
        if (strcmp(h, hash) != 0)
            continue;
        memset(out, 0, sizeof *out);
        str_copy(out->id, sizeof out->id, keys[i].id);
        str_copy(out->account_id, sizeof out->account_id, FAKE_ACCOUNT);
        str_copy(out->role, sizeof out->role, keys[i].role);
        memcpy(out->hash, h, sizeof out->hash);
        out->revoked_at = keys[i].revoked ? 1700000000000LL : 0;
        return 0;
    }
    return HERALD_ENOTFOUND;
}

static int fake_webhook_get(struct store *s, const char *account_id, const char *id,
                            struct store_webhook *out)
{
    (void)s;
    memset(out, 0, sizeof *out);
    if (strcmp(account_id, FAKE_ACCOUNT) != 0 || strcmp(id, FAKE_WEBHOOK) != 0)
        return HERALD_ENOTFOUND;
    str_copy(out->id, sizeof out->id, id);
    str_copy(out->account_id, sizeof out->account_id, account_id);
    out->name = xstrdup("hook");
    out->description = xstrdup("");
    out->url = xstrdup("https://example.com/h");
    out->events = xstrdup("[\"*\"]");
    out->headers = xstrdup("{}");
    out->secret = xstrdup("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    return 0;
}

static int fake_webhook_list(struct store *s, const char *account_id,
                             const struct store_webhook_query *q, struct store_webhook **out,
                             size_t *n, int64_t *total)
{
    (void)s;
    (void)account_id;
    fake_seen.calls++;
    fake_seen.wq = *q;
    fake_copy(fake_seen.order, sizeof fake_seen.order, q->order);
    fake_copy(fake_seen.event, sizeof fake_seen.event, q->event);
    fake_copy(fake_seen.name, sizeof fake_seen.name, q->name);
    *out = NULL;
    *n = 0;
    *total = 0;
    return 0;
}

static int fake_event_list(struct store *s, const char *account_id,
                           const struct store_event_query *q, struct store_event **out, size_t *n,
                           int64_t *total)
{
    (void)s;
    (void)account_id;
    fake_seen.calls++;
    fake_seen.eq = *q;
    fake_copy(fake_seen.type, sizeof fake_seen.type, q->type);
    *out = NULL;
    *n = 0;
    *total = 0;
    return 0;
}

static int fake_attempt_list(struct store *s, const char *account_id,
                             const struct store_attempt_query *q, struct store_attempt **out,
                             size_t *n, int64_t *total)
{
    (void)s;
    (void)account_id;
    fake_seen.calls++;
    fake_seen.aq = *q;
    fake_copy(fake_seen.event_type, sizeof fake_seen.event_type, q->event_type);
    *out = NULL;
    *n = 0;
    *total = 0;
    return 0;
}

static int fake_attempt_series(struct store *s, const char *account_id, int64_t since,
                               int64_t bucket_ms, struct store_bucket **out, size_t *n)
{
    (void)s;
    (void)account_id;
    fake_seen.calls++;
    fake_seen.series_since = since;
    fake_seen.series_bucket = bucket_ms;
    *out = NULL;
    *n = 0;
    return 0;
}

static const struct store_ops fake_ops = {
    .name = "fuzz",
    .account_get = fake_account_get,
    .key_find = fake_key_find,
    .event_type_get = fake_event_type_get,
    .event_type_list = fake_event_type_list,
    .webhook_get = fake_webhook_get,
    .webhook_list = fake_webhook_list,
    .event_list = fake_event_list,
    .attempt_list = fake_attempt_list,
    .attempt_series = fake_attempt_series,
};

static struct store fake_store = {.ops = &fake_ops};

/* The process every request belongs to: dev configuration, the fake
 * store, no committer or dispatcher. */
static inline struct herald *fake_herald(void)
{
    static struct herald h;
    static bool done;
    if (!done) {
        done = true;
        config_defaults(&h.cfg);
        h.cfg.dev = true;
        h.store = &fake_store;
    }
    return &h;
}

/* A request of the fake account on conn with body[0..len) (body[len] must
 * be NUL, as server.c's buffer guarantees). */
static inline struct api_req fake_request(struct fake_conn *conn, const char *body, size_t len)
{
    struct api_req rq = {
        .h = fake_herald(),
        .conn = (struct MHD_Connection *)(void *)conn,
        .method = "POST",
        .path = "/",
        .body = body,
        .body_len = len,
        .now = 1700000000000LL,
    };
    str_copy(rq.auth.account_id, sizeof rq.auth.account_id, FAKE_ACCOUNT);
    str_copy(rq.auth.key_id, sizeof rq.auth.key_id, FAKE_KEY_ACCOUNT_ID);
    return rq;
}

/* ---- checking answers ---- */

/* An answer's body as JSON (NULL when there is none or it is not JSON). */
static inline cJSON *fake_answer_json(const struct api_resp *rs)
{
    const char *text = rs->body ? rs->body : rs->static_body;
    return text ? cJSON_ParseWithLength(text, rs->len) : NULL;
}

/* Checks that rs is an error answer in the API's one shape (http.h):
 * status, JSON content type, UTF-8, {"error":{"code","message"[,"field"]}}; and
 * copies its field ("" when none) into field[cap]. Aborts otherwise. */
static inline void fake_check_error(const struct api_resp *rs, char *field, size_t cap)
{
    if (rs->status < 400 || rs->status > 599 || !rs->content_type ||
        strcmp(rs->content_type, API_JSON_TYPE) != 0)
        abort();
    /* The API answers in UTF-8 (DESIGN.md §3), errors included. */
    const char *text = rs->body ? rs->body : rs->static_body;
    if (!text || !utf8_valid(text, rs->len))
        abort();
    cJSON *doc = fake_answer_json(rs);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(err, "field");
    if (!cJSON_IsString(code) || !code->valuestring[0] || !cJSON_IsString(msg) ||
        !msg->valuestring[0] || (f && (!cJSON_IsString(f) || !f->valuestring[0])))
        abort();
    if (field)
        str_copy(field, cap, f ? f->valuestring : "");
    cJSON_Delete(doc);
}

/* The value of header name in rs, or NULL. */
static inline const char *fake_answer_header(const struct api_resp *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name, name) == 0)
            return rs->headers[i].value;
    return NULL;
}

#endif
