/* webhooks.c — the webhook routes: create, list, read, update, delete,
 * reveal and rotate the secret, recover failed deliveries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "core/clock.h"
#include "core/match.h"
#include "core/util.h"
#include "dispatch/dispatcher.h"
#include "sign/sign.h"
#include "store/store.h"

/* Adds parsed JSON text stored by herald itself (events, headers), or
 * fallback when it does not parse. */
static void add_stored_json(cJSON *o, const char *key, const char *text, bool array)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    if (!v || (array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))) {
        cJSON_Delete(v);
        v = array ? cJSON_CreateArray() : cJSON_CreateObject();
    }
    cJSON_AddItemToObject(o, key, v);
}

cJSON *webhook_json(const struct store_webhook *w, bool with_secret)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", w->id);
    cJSON_AddStringToObject(o, "name", w->name ? w->name : "");
    cJSON_AddStringToObject(o, "description", w->description ? w->description : "");
    cJSON_AddStringToObject(o, "url", w->url ? w->url : "");
    cJSON_AddStringToObject(o, "method", w->method);
    cJSON_AddStringToObject(o, "content_type", w->content_type);
    add_stored_json(o, "events", w->events, true);
    add_stored_json(o, "headers", w->headers, false);
    cJSON_AddNumberToObject(o, "max_attempts", w->max_attempts);
    cJSON_AddNumberToObject(o, "rate_limit", w->rate_limit);
    cJSON_AddNumberToObject(o, "max_in_flight", w->max_in_flight);
    cJSON_AddBoolToObject(o, "enabled", w->enabled);
    cJSON_AddStringToObject(o, "status", w->enabled ? "active" : "inactive");
    cJSON_AddStringToObject(o, "kind", w->kind);
    cJSON_AddStringToObject(o, "signature_scheme", w->signature_scheme);
    cJSON_AddStringToObject(o, "payload_format",
                            w->payload_format[0] ? w->payload_format : "standard");
    /* Stored names; null means the scheme's default (sign/dialect.h). */
    if (w->signature_header[0])
        cJSON_AddStringToObject(o, "signature_header", w->signature_header);
    else
        cJSON_AddNullToObject(o, "signature_header");
    if (w->timestamp_header[0])
        cJSON_AddStringToObject(o, "timestamp_header", w->timestamp_header);
    else
        cJSON_AddNullToObject(o, "timestamp_header");
    if (w->disabled_reason)
        cJSON_AddStringToObject(o, "disabled_reason", w->disabled_reason);
    else
        cJSON_AddNullToObject(o, "disabled_reason");
    json_add_time(o, "created_at", w->created_at);
    json_add_time(o, "modified_at", w->modified_at);
    json_add_time(o, "last_execution_at", w->last_execution_at);
    /* When the current run of failures began; null while healthy. */
    json_add_time(o, "failing_since", w->failing_since);
    if (with_secret)
        cJSON_AddStringToObject(o, "secret", w->secret ? w->secret : "");
    return o;
}

static void webhook_ctx_init(struct webhook_ctx *ctx, struct api_req *rq)
{
    ctx->cfg = &rq->h->cfg;
    ctx->type_known = api_account_type_known;
    ctx->arg = rq;
    ctx->now = rq->now;
}

/* Loads the path's webhook of the caller's account, answering 404 when it
 * is not there (or is another account's). */
static bool load_webhook(struct api_req *rq, struct api_resp *rs, struct store_webhook *w)
{
    struct store *s = rq->h->store;
    const char *id = req_id(rq, rs, 0, "wh", "webhook");
    if (!id)
        return false;
    int rc = s->ops->webhook_get(s, rq->auth.account_id, id, w);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        return false;
    }
    return true;
}

void api_webhook_create(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_webhook w;
    struct webhook_ctx ctx;
    struct verr e;
    cJSON *body = NULL;
    bool form;
    webhook_defaults(&w);
    if (!req_object(rq, rs, true, &body, &form))
        goto out;
    webhook_ctx_init(&ctx, rq);
    if (!webhook_apply(body, form, true, &ctx, &w, &e)) {
        resp_verr(rs, &e);
        goto out;
    }
    id_new(w.id, "wh", rq->now);
    str_copy(w.account_id, sizeof w.account_id, rq->auth.account_id);
    w.created_at = w.modified_at = rq->now;
    int rc = s->ops->webhook_create(s, &w);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        goto out;
    }
    resp_json(rs, HTTP_CREATED, webhook_json(&w, true));
out:
    cJSON_Delete(body);
    store_webhook_release(&w);
}

/* Maps an order value (ours, or seed 004's names) to a list field. */
static const char *order_field(const char *v)
{
    static const struct {
        const char *given, *field;
    } orders[] = {
        {"name", "name"},
        {"description", "description"},
        {"last_execution_at", "last_execution_at"},
        {"enabled", "enabled"},
        {"created_at", "created_at"},
        {"modified_at", "modified_at"},
        {"lastExecutionDate", "last_execution_at"},
        {"isEnabled", "enabled"},
        {"created", "created_at"},
        {"modified", "modified_at"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(orders); i++)
        if (strcmp(v, orders[i].given) == 0)
            return orders[i].field;
    return NULL;
}

static bool list_query(struct api_req *rq, struct api_resp *rs, struct store_webhook_query *q)
{
    memset(q, 0, sizeof *q);
    q->enabled = -1;
    q->order = "name";
    if (!req_paging(rq, rs, &q->page, &q->count))
        return false;
    const char *ev = req_query(rq, "event");
    if (ev && !event_type_name_valid(ev)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "event",
                   "event must be an event type name");
        return false;
    }
    q->event = ev;
    const char *name = req_query(rq, "name");
    if (name && strlen(name) > WEBHOOK_NAME_MAX * 4) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "name", "name is too long");
        return false;
    }
    q->name = name && *name ? name : NULL;
    const char *en = req_query(rq, "enabled");
    bool on;
    if (en) {
        if (!parse_bool_text(en, &on)) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "enabled",
                       "enabled must be true or false");
            return false;
        }
        q->enabled = on;
    }
    const char *used = "order";
    const char *order = req_query(rq, "order");
    if (!order && (order = req_query(rq, "_order")) != NULL)
        used = "_order";
    if (order) {
        q->desc = order[0] == '-';
        q->order = order_field(order + q->desc);
        if (!q->order) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", used,
                       "%s must be one of name, description, last_execution_at, enabled, "
                       "created_at, modified_at (- for descending)",
                       used);
            return false;
        }
    }
    return true;
}

void api_webhook_list(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_webhook_query q;
    struct store_webhook *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (!list_query(rq, rs, &q))
        return;
    int rc = s->ops->webhook_list(s, rq->auth.account_id, &q, &list, &n, &total);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, webhook_json(&list[i], false));
    store_webhooks_free(list, n);
    resp_json(rs, HTTP_OK, json_list(items, total, q.page, q.count));
}

void api_webhook_get(struct api_req *rq, struct api_resp *rs)
{
    struct store_webhook w = {0};
    if (!load_webhook(rq, rs, &w))
        return;
    resp_json(rs, HTTP_OK, webhook_json(&w, false));
    store_webhook_release(&w);
}

void api_webhook_update(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_webhook w = {0};
    struct webhook_ctx ctx;
    struct verr e;
    cJSON *body = NULL;
    bool form;
    if (!load_webhook(rq, rs, &w) || !req_object(rq, rs, true, &body, &form))
        goto out;
    webhook_ctx_init(&ctx, rq);
    if (!webhook_apply(body, form, false, &ctx, &w, &e)) {
        resp_verr(rs, &e);
        goto out;
    }
    w.modified_at = rq->now;
    int rc = s->ops->webhook_update(s, &w);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        goto out;
    }
    resp_json(rs, HTTP_OK, webhook_json(&w, false));
out:
    cJSON_Delete(body);
    store_webhook_release(&w);
}

void api_webhook_delete(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    const char *id = req_id(rq, rs, 0, "wh", "webhook");
    if (!id)
        return;
    int rc = s->ops->webhook_delete(s, rq->auth.account_id, id, rq->now);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        return;
    }
    resp_empty(rs, HTTP_NO_CONTENT);
}

void api_webhook_secret(struct api_req *rq, struct api_resp *rs)
{
    struct store_webhook w = {0};
    if (!load_webhook(rq, rs, &w))
        return;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "secret", w.secret ? w.secret : "");
    resp_json(rs, HTTP_OK, doc);
    store_webhook_release(&w);
}

void api_webhook_rotate(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"secret", NULL};
    struct store *s = rq->h->store;
    struct store_webhook w = {0};
    cJSON *body = NULL;
    const char *given;
    char fresh[SIGN_SECRET_MAX];
    if (!load_webhook(rq, rs, &w) || !req_object(rq, rs, true, &body, NULL) ||
        !req_known_fields(body, fields, rs) || !req_string(body, "secret", &given, rs))
        goto out;
    struct verr e;
    if (given && *given && !validate_secret(given, w.signature_scheme, "secret", &e)) {
        resp_verr(rs, &e);
        goto out;
    }
    if (!given || !*given) {
        sign_secret_new(fresh);
        given = fresh;
    }
    /* The old secret keeps signing for a day, so receivers can switch. */
    free(w.prev_secret);
    w.prev_secret = w.secret;
    w.prev_secret_expires_at = rq->now + WEBHOOK_PREV_SECRET_MS;
    w.secret = xstrdup(given);
    w.modified_at = rq->now;
    int rc = s->ops->webhook_update(s, &w);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        goto out;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "secret", w.secret);
    json_add_time(doc, "previous_secret_expires_at", w.prev_secret_expires_at);
    resp_json(rs, HTTP_OK, doc);
out:
    explicit_bzero(fresh, sizeof fresh);
    cJSON_Delete(body);
    store_webhook_release(&w);
}

/* A time in a body: RFC 3339 text, unix seconds as text, or a number. */
static bool body_time(const cJSON *body, const char *field, int64_t *out, bool *present,
                      struct api_resp *rs)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, field);
    *present = v && !cJSON_IsNull(v);
    if (!*present)
        return true;
    if (cJSON_IsString(v) && clock_parse(v->valuestring, out) && *out > 0)
        return true;
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > 0 &&
        v->valuedouble < 253402300800.0) {
        *out = (int64_t)(v->valuedouble * 1000);
        return true;
    }
    resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
               "%s must be an RFC 3339 time or unix seconds", field);
    return false;
}

void api_webhook_recover(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"since", "until", NULL};
    struct store *s = rq->h->store;
    struct store_webhook w = {0};
    cJSON *body = NULL;
    int64_t since = 0, until = 0, count = 0;
    bool has_since, has_until;
    if (!load_webhook(rq, rs, &w) || !req_object(rq, rs, true, &body, NULL) ||
        !req_known_fields(body, fields, rs) || !body_time(body, "since", &since, &has_since, rs) ||
        !body_time(body, "until", &until, &has_until, rs))
        goto out;
    if (!has_since) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "since", "since is required");
        goto out;
    }
    if (!has_until)
        until = rq->now + 1; /* "until" is exclusive: include this very moment */
    if (until <= since) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "until",
                   "until must be after since");
        goto out;
    }
    int rc = s->ops->recover(s, rq->auth.account_id, w.id, since, until, rq->now, &count);
    if (rc) {
        resp_store_error(rs, rc, "webhook");
        goto out;
    }
    if (count > 0 && rq->h->dispatcher)
        dispatcher_wake(rq->h->dispatcher);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "recovered", (double)count);
    resp_json(rs, HTTP_ACCEPTED, doc);
out:
    cJSON_Delete(body);
    store_webhook_release(&w);
}
