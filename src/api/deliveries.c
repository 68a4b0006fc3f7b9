/* deliveries.c — the delivery log, one delivery, resend, and the
 * synchronous test send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/catalog.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/match.h"
#include "core/metrics.h"
#include "core/util.h"
#include "dispatch/dispatcher.h"
#include "dispatch/send.h"
#include "store/commit.h"
#include "store/store.h"

/* A test attempt's lease outlives the request timeout by this much, so the
 * dispatcher never picks the delivery up while the API is sending it. */
#define TEST_LEASE_SLACK_MS 30000

static void add_request_headers(cJSON *o, const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        v = cJSON_CreateObject();
    }
    cJSON_AddItemToObject(o, "request_headers", v);
}

cJSON *attempt_json(const struct store_attempt *a, bool with_payload)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "delivery_id", a->delivery_id);
    cJSON_AddStringToObject(o, "event_id", a->event_id);
    cJSON_AddStringToObject(o, "event_type", a->event_type);
    cJSON_AddStringToObject(o, "webhook_id", a->webhook_id);
    cJSON_AddNumberToObject(o, "attempt", a->n);
    json_add_time(o, "created_at", a->started_at);
    cJSON_AddNumberToObject(o, "response_code", a->response_code);
    /* Seed 004's ExecutionTime: seconds, as a fraction. */
    cJSON_AddNumberToObject(o, "execution_time", (double)a->duration_ms / 1000.0);
    cJSON_AddNumberToObject(o, "duration_ms", (double)a->duration_ms);
    cJSON_AddBoolToObject(o, "success", a->error[0] == '\0');
    if (a->error[0])
        cJSON_AddStringToObject(o, "error", a->error);
    else
        cJSON_AddNullToObject(o, "error");
    json_add_text(o, "response_body", a->response_body,
                  a->response_body ? strlen(a->response_body) : 0);
    add_request_headers(o, a->request_headers);
    if (with_payload) {
        /* The body herald sent: {"id","type","timestamp","data"}. */
        cJSON *p = cJSON_AddObjectToObject(o, "payload");
        cJSON_AddStringToObject(p, "id", a->event_id);
        cJSON_AddStringToObject(p, "type", a->event_type);
        json_add_time(p, "timestamp", a->event_created_at);
        json_add_raw(p, "data", a->payload, a->payload ? strlen(a->payload) : 0);
    }
    return o;
}

cJSON *delivery_json(const struct store_delivery *d, const struct store_attempt *a, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->id);
    cJSON_AddStringToObject(o, "event_id", d->event_id);
    cJSON_AddStringToObject(o, "webhook_id", d->webhook_id);
    cJSON_AddStringToObject(o, "status", d->status);
    cJSON_AddNumberToObject(o, "attempt_count", d->attempts);
    cJSON_AddNumberToObject(o, "max_attempts", d->max_attempts);
    json_add_time(o, "next_attempt_at", strcmp(d->status, "pending") == 0 ? d->next_attempt_at : 0);
    json_add_time(o, "created_at", d->created_at);
    json_add_time(o, "updated_at", d->updated_at);
    cJSON *list = cJSON_AddArrayToObject(o, "attempts");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(list, attempt_json(&a[i], false));
    return o;
}

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

static bool log_query(struct api_req *rq, struct api_resp *rs, struct store_attempt_query *q)
{
    if (!req_paging(rq, rs, &q->page, &q->count) || !req_time(rq, rs, "since", &q->since) ||
        !req_time(rq, rs, "until", &q->until))
        return false;
    const char *st = req_query(rq, "status");
    if (st) {
        if (strcmp(st, "success") == 0) {
            q->status = 1;
        } else if (strcmp(st, "failure") == 0) {
            q->status = 2;
        } else {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "status",
                       "status must be success or failure");
            return false;
        }
    }
    q->event_type = req_query(rq, "event_type");
    if (q->event_type && !event_type_name_valid(q->event_type)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "event_type",
                   "event_type must be an event type name");
        return false;
    }
    return true;
}

void api_webhook_log(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_webhook w = {0};
    struct store_attempt_query q = {0};
    struct store_attempt *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (!load_webhook(rq, rs, &w) || !log_query(rq, rs, &q))
        goto out;
    q.webhook_id = w.id;
    int rc = s->ops->attempt_list(s, rq->auth.account_id, &q, &list, &n, &total);
    if (rc) {
        resp_store_error(rs, rc, "attempt");
        goto out;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, attempt_json(&list[i], true));
    resp_json(rs, HTTP_OK, json_list(items, total, q.page, q.count));
out:
    store_attempts_free(list, n);
    store_webhook_release(&w);
}

static int by_attempt_number(const void *a, const void *b)
{
    const struct store_attempt *x = a, *y = b;
    return (x->n > y->n) - (x->n < y->n);
}

void api_delivery_get(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_delivery d;
    struct store_attempt *att = NULL;
    size_t n = 0;
    int64_t total = 0;
    const char *id = req_id(rq, rs, 0, "dlv", "delivery");
    if (!id)
        return;
    int rc = s->ops->delivery_get(s, rq->auth.account_id, id, &d);
    struct store_attempt_query q = {.delivery_id = id, .page = 0, .count = 100};
    if (!rc)
        rc = s->ops->attempt_list(s, rq->auth.account_id, &q, &att, &n, &total);
    if (rc) {
        resp_store_error(rs, rc, "delivery");
        return;
    }
    if (n > 1)
        qsort(att, n, sizeof *att, by_attempt_number);
    resp_json(rs, HTTP_OK, delivery_json(&d, att, n));
    store_attempts_free(att, n);
}

void api_delivery_retry(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    const char *id = req_id(rq, rs, 0, "dlv", "delivery");
    if (!id)
        return;
    int rc = s->ops->delivery_retry(s, rq->auth.account_id, id, rq->now);
    if (rc == HERALD_ECONFLICT) {
        resp_error(rs, HTTP_CONFLICT, "conflict", NULL,
                   "the delivery is being sent right now; try again when it is done");
        return;
    }
    if (rc) {
        resp_store_error(rs, rc, "delivery");
        return;
    }
    if (rq->h->dispatcher)
        dispatcher_wake(rq->h->dispatcher);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "id", id);
    cJSON_AddStringToObject(doc, "status", "pending");
    resp_json(rs, HTTP_ACCEPTED, doc);
}

/* The sample data of a type: the catalog's, or the account type's (copied
 * into *owned). NULL with a 422 answered when the type is unknown. */
static const char *type_sample(struct api_req *rq, struct api_resp *rs, const char *type,
                               char **owned)
{
    struct store *s = rq->h->store;
    const struct catalog_entry *c = catalog_find(type);
    *owned = NULL;
    if (c)
        return c->sample;
    struct store_event_type t = {0};
    int rc = strlen(type) < STORE_NAME_MAX
                 ? s->ops->event_type_get(s, rq->auth.account_id, type, &t)
                 : HERALD_ENOTFOUND;
    if (rc == HERALD_ENOTFOUND) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "event_type",
                   "unknown event type %s", type);
        return NULL;
    }
    if (rc) {
        resp_store_error(rs, rc, "event type");
        return NULL;
    }
    *owned = t.sample && *t.sample ? t.sample : xstrdup("{}");
    if (*owned != t.sample)
        free(t.sample);
    t.sample = NULL;
    store_event_type_release(&t);
    return *owned;
}

/* Sends the prepared attempt now and records it under the test lease. */
static int send_and_record(struct api_req *rq, const struct store_webhook *w,
                           const struct store_ingest *item, const char *owner, struct attempt *a,
                           struct store_attempt *shown)
{
    struct store *s = rq->h->store;
    const struct herald_config *cfg = &rq->h->cfg;
    attempt_perform(a, cfg);
    metrics_attempt(!a->error, a->duration_ms);
    struct store_result r = {
        .delivery_id = item->first_delivery_id,
        .account_id = item->account_id,
        .event_id = item->id,
        .webhook_id = w->id,
        .event_type = item->type,
        .n = 1,
        .started_at = a->started_at,
        .duration_ms = a->duration_ms,
        .response_code = a->response_code,
        .error = a->error,
        .response_body = a->response.data ? a->response.data : "",
        .response_len = a->response.len,
        .request_headers = a->request_headers.data ? a->request_headers.data : "{}",
        .outcome = a->error ? STORE_FAILED : STORE_SUCCEEDED,
    };
    id_new(r.attempt_id, "att", clock_now_ms());
    int rc = s->ops->record(s, owner, &r, 1, NULL, 0);
    /* What the log will show, built from what was just recorded. */
    memset(shown, 0, sizeof *shown);
    str_copy(shown->id, sizeof shown->id, r.attempt_id);
    str_copy(shown->delivery_id, sizeof shown->delivery_id, r.delivery_id);
    str_copy(shown->event_id, sizeof shown->event_id, r.event_id);
    str_copy(shown->webhook_id, sizeof shown->webhook_id, w->id);
    str_copy(shown->event_type, sizeof shown->event_type, item->type);
    str_copy(shown->error, sizeof shown->error, a->error ? a->error : "");
    shown->n = 1;
    shown->started_at = r.started_at;
    shown->duration_ms = r.duration_ms;
    shown->response_code = r.response_code;
    shown->response_body = (char *)r.response_body;
    shown->request_headers = (char *)r.request_headers;
    shown->payload = (char *)item->data;
    shown->event_created_at = item->created_at;
    return rc;
}

void api_webhook_test(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"event_type", NULL};
    const struct herald_config *cfg = &rq->h->cfg;
    struct store_webhook w = {0};
    struct attempt a;
    bool prepared = false;
    cJSON *body = NULL;
    char *owned_sample = NULL;
    const char *type;
    char owner[96];
    memset(&a, 0, sizeof a);
    if (!load_webhook(rq, rs, &w) || !req_object(rq, rs, true, &body, NULL) ||
        !req_known_fields(body, fields, rs) || !req_string(body, "event_type", &type, rs))
        goto out;
    if (!type)
        type = "webhook.test";
    if (!event_type_name_valid(type)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "event_type",
                   "event_type must be an event type name");
        goto out;
    }
    const char *sample = type_sample(rq, rs, type, &owned_sample);
    if (!sample)
        goto out;
    /* The delivery is born in flight, leased to this request, so the
     * dispatcher leaves it alone while we send it ourselves. */
    snprintf(owner, sizeof owner, "%s:test", cfg->node_id);
    struct store_ingest item = {
        .account_id = rq->auth.account_id,
        .type = type,
        .data = sample,
        .data_len = strlen(sample),
        .only_webhook_id = w.id,
        .max_attempts = 1,
        .lease_owner = owner,
        .lease_until = rq->now + cfg->request_timeout_ms + TEST_LEASE_SLACK_MS,
        .created_at = rq->now,
    };
    id_new(item.id, "evt", rq->now);
    /* Straight to the store rather than through the group commit: a test
     * send names one webhook, and if that webhook vanished meanwhile the
     * store fails the whole call, which must not fail strangers' events
     * sharing the batch. */
    int rc = rq->h->store->ops->ingest(rq->h->store, &item, 1);
    if (rc || !item.first_delivery_id[0]) {
        resp_store_error(rs, rc ? rc : HERALD_ENOTFOUND, "webhook");
        goto out;
    }
    prepared = true; /* a zeroed attempt is safe to release */
    if ((rc = attempt_prepare(&a, cfg, &w, item.id, type, item.created_at, sample, item.data_len,
                              clock_now_ms())) != 0) {
        resp_store_error(rs, rc, "webhook");
        goto out;
    }
    struct store_attempt shown;
    rc = send_and_record(rq, &w, &item, owner, &a, &shown);
    if (rc) {
        resp_store_error(rs, rc, "attempt");
        goto out;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "attempt", attempt_json(&shown, true));
    cJSON_AddStringToObject(doc, "delivery_id", item.first_delivery_id);
    cJSON_AddStringToObject(doc, "event_id", item.id);
    resp_json(rs, HTTP_OK, doc);
out:
    if (prepared)
        attempt_release(&a);
    free(owned_sample);
    cJSON_Delete(body);
    store_webhook_release(&w);
}
