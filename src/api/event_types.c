/* event_types.c — the built-in catalog and each account's own types. */
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/jsonspan.h"
#include "core/catalog.h"
#include "core/err.h"
#include "core/match.h"
#include "core/util.h"
#include "store/store.h"

bool api_account_type_known(void *arg, const char *name)
{
    struct api_req *rq = arg;
    struct store *s = rq->h->store;
    struct store_event_type t = {0};
    if (strlen(name) >= STORE_NAME_MAX)
        return false;
    int rc = s->ops->event_type_get(s, rq->auth.account_id, name, &t);
    store_event_type_release(&t);
    return rc == 0;
}

static cJSON *type_json(const char *name, const char *description, const char *sample, bool builtin,
                        int64_t created_at)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "description", description ? description : "");
    json_add_raw(o, "sample", sample, sample ? strlen(sample) : 0);
    cJSON_AddBoolToObject(o, "builtin", builtin);
    if (!builtin)
        json_add_time(o, "created_at", created_at);
    return o;
}

void api_event_type_list(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_event_type *own = NULL;
    size_t n_own = 0;
    int page, count;
    if (!req_paging(rq, rs, &page, &count))
        return;
    int rc = s->ops->event_type_list(s, rq->auth.account_id, &own, &n_own);
    if (rc) {
        resp_store_error(rs, rc, "event type");
        return;
    }
    /* The catalog first, then the account's own, one page of both. */
    size_t total = catalog_len + n_own;
    size_t from = (size_t)page * (size_t)count;
    cJSON *items = cJSON_CreateArray();
    for (size_t i = from; i < total && i < from + (size_t)count; i++) {
        if (i < catalog_len) {
            const struct catalog_entry *c = &catalog[i];
            cJSON_AddItemToArray(items, type_json(c->name, c->description, c->sample, true, 0));
        } else {
            const struct store_event_type *t = &own[i - catalog_len];
            cJSON_AddItemToArray(
                items, type_json(t->name, t->description, t->sample, false, t->created_at));
        }
    }
    store_event_types_free(own, n_own);
    resp_json(rs, HTTP_OK, json_list(items, (int64_t)total, page, count));
}

void api_event_type_get(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    const char *name = rq->n_params ? rq->params[0] : "";
    if (!event_type_name_valid(name)) {
        resp_error(rs, HTTP_NOT_FOUND, "not_found", NULL, "event type not found");
        return;
    }
    const struct catalog_entry *c = catalog_find(name);
    if (c) {
        resp_json(rs, HTTP_OK, type_json(c->name, c->description, c->sample, true, 0));
        return;
    }
    struct store_event_type t = {0};
    int rc = s->ops->event_type_get(s, rq->auth.account_id, name, &t);
    if (rc) {
        resp_store_error(rs, rc, "event type");
        return;
    }
    resp_json(rs, HTTP_OK, type_json(t.name, t.description, t.sample, false, t.created_at));
    store_event_type_release(&t);
}

/* The sample's exact bytes: stored as given, like event data. */
static bool sample_span(struct api_req *rq, struct api_resp *rs, const cJSON *body,
                        struct json_span *span)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "sample");
    if (!v || cJSON_IsNull(v)) {
        span->start = span->end = 0;
        return true;
    }
    if (!cJSON_IsObject(v)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "sample",
                   "sample must be a JSON object");
        return false;
    }
    if (json_member_span(rq->body, rq->body_len, "sample", span) != 1) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "sample",
                   "sample must be given once");
        return false;
    }
    return true;
}

void api_event_type_create(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"name", "description", "sample", NULL};
    struct store *s = rq->h->store;
    cJSON *body = NULL;
    const char *name, *description;
    struct json_span span;
    struct verr e;
    struct store_event_type t = {0};
    if (!req_object_raw(rq, rs, false, "sample", &body, NULL) ||
        !req_known_fields(body, fields, rs) || !req_string(body, "name", &name, rs) ||
        !req_string(body, "description", &description, rs) || !sample_span(rq, rs, body, &span))
        goto out;
    if (!name || !event_type_name_valid(name)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "name",
                   "name must be 1 to 100 letters, digits, '_' or '-' in dot-separated parts");
        goto out;
    }
    if (description &&
        !validate_text(description, "description", 0, WEBHOOK_DESCRIPTION_MAX, true, &e)) {
        resp_verr(rs, &e);
        goto out;
    }
    if (catalog_find(name)) {
        resp_error(rs, HTTP_CONFLICT, "conflict", "name", "%s is a built-in event type", name);
        goto out;
    }
    str_copy(t.name, sizeof t.name, name);
    str_copy(t.account_id, sizeof t.account_id, rq->auth.account_id);
    t.description = xstrdup(description ? description : "");
    t.sample = span.end > span.start ? xstrndup(rq->body + span.start, span.end - span.start)
                                     : xstrdup("{}");
    t.created_at = rq->now;
    int rc = s->ops->event_type_create(s, &t);
    if (rc == HERALD_ECONFLICT) {
        resp_error(rs, HTTP_CONFLICT, "conflict", "name", "event type %s already exists", name);
        goto out;
    }
    if (rc) {
        resp_store_error(rs, rc, "event type");
        goto out;
    }
    resp_json(rs, HTTP_CREATED, type_json(t.name, t.description, t.sample, false, t.created_at));
out:
    store_event_type_release(&t);
    cJSON_Delete(body);
}
