/* events.c — publishing events (one or a batch) and reading them back.
 *
 * An event's `data` is stored byte for byte as published (DESIGN.md §4):
 * cJSON checks the request, then jsonspan.c finds the exact bytes of the
 * value in the raw body, and those bytes — never a re-serialisation — go
 * to the store and, later, to every receiver. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/jsonspan.h"
#include "core/match.h"
#include "core/util.h"
#include "store/commit.h"
#include "store/store.h"

#define BATCH_MAX 1000
#define IDEMPOTENCY_KEY_MAX 200
/* Attempts shown with one event: enough for every delivery's history. */
#define EVENT_ATTEMPTS_PAGES 10

static bool idempotency_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7E)
            return false;
    return true;
}

/* Refuses a \u0000 escape in the event object at obj_span outside its raw
 * member (see req_object_raw), naming the field. */
static bool nul_free(struct api_req *rq, struct api_resp *rs, struct json_span obj_span,
                     const char *raw_member, const char *prefix)
{
    const char *s = rq->body + obj_span.start;
    size_t len = obj_span.end - obj_span.start;
    struct json_span exempt = {0, 0};
    json_member_span(s, len, raw_member, &exempt);
    long at = 0;
    while ((at = json_find_nul_escape(s, len, (size_t)at)) >= 0) {
        if ((size_t)at >= exempt.start && (size_t)at < exempt.end) {
            at = (long)exempt.end;
            continue;
        }
        char key[48] = "", field[96];
        json_member_at(s, len, (size_t)at, key, sizeof key);
        snprintf(field, sizeof field, "%s%s", prefix, key);
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                   "%s must not contain NUL characters", field);
        return false;
    }
    return true;
}

/* Checks one event object {"type","data","id"} found at obj_span of the
 * raw body and fills item (pointers into body and the cJSON tree). field
 * prefixes error fields ("" or "events[3]."). */
static bool event_item(struct api_req *rq, struct api_resp *rs, const cJSON *obj,
                       struct json_span obj_span, const char *prefix, struct store_ingest *item)
{
    static const char *const fields[] = {"type", "data", "id", NULL};
    char field[64];
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool known = false;
        for (const char *const *f = fields; *f && !known; f++)
            known = strcmp(*f, it->string) == 0;
        if (!known) {
            snprintf(field, sizeof field, "%s%.40s", prefix, it->string);
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field, "unknown field %.40s",
                       it->string);
            return false;
        }
    }
    if (!nul_free(rq, rs, obj_span, "data", prefix))
        return false;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    snprintf(field, sizeof field, "%stype", prefix);
    if (!cJSON_IsString(type) || !event_type_name_valid(type->valuestring)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                   type ? "type must be an event type name" : "type is required");
        return false;
    }
    if (!event_type_known(type->valuestring, api_account_type_known, rq)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                   "unknown event type %s (see GET /v1/event-types)", type->valuestring);
        return false;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    snprintf(field, sizeof field, "%sdata", prefix);
    if (!cJSON_IsObject(data) && !cJSON_IsArray(data)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                   data ? "data must be a JSON object or array" : "data is required");
        return false;
    }
    struct json_span span;
    const char *base = rq->body + obj_span.start;
    if (json_member_span(base, obj_span.end - obj_span.start, "data", &span) != 1) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field, "data is given twice");
        return false;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    snprintf(field, sizeof field, "%sid", prefix);
    if (id && !cJSON_IsNull(id) && (!cJSON_IsString(id) || !idempotency_key_ok(id->valuestring))) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                   "id must be 1 to %d printable ASCII characters", IDEMPOTENCY_KEY_MAX);
        return false;
    }
    memset(item, 0, sizeof *item);
    item->account_id = rq->auth.account_id;
    item->type = type->valuestring;
    item->data = base + span.start;
    item->data_len = span.end - span.start;
    item->idempotency_key = cJSON_IsString(id) ? id->valuestring : NULL;
    id_new(item->id, "evt", rq->now);
    item->created_at = rq->now;
    return true;
}

static cJSON *ingest_json(const struct store_ingest *item)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", item->id);
    cJSON_AddStringToObject(o, "type", item->out_type[0] ? item->out_type : item->type);
    json_add_time(o, "timestamp", item->created_at);
    cJSON_AddNumberToObject(o, "deliveries", item->deliveries);
    cJSON_AddBoolToObject(o, "duplicate", item->duplicate);
    return o;
}

/* Hands items to the group committer; answers 503 when they could not be
 * made durable (nothing was accepted). Not "nothing was stored": a commit
 * whose fsync failed is in the WAL, and a crash before the next commit
 * may let SQLite's recovery keep it (docs/operations.md). */
static bool commit(struct api_req *rq, struct api_resp *rs, struct store_ingest *items, size_t n)
{
    int rc = committer_submit(rq->h->committer, items, n);
    if (rc) {
        resp_error(rs, HTTP_UNAVAILABLE, "unavailable", NULL,
                   "the event could not be committed; try again (with an Idempotency-Key, "
                   "a retry never creates it twice)");
        resp_header(rs, "Retry-After", "1");
        return false;
    }
    return true;
}

void api_event_publish(struct api_req *rq, struct api_resp *rs)
{
    cJSON *body = NULL;
    struct store_ingest item;
    if (!req_object_raw(rq, rs, false, "data", &body, NULL))
        goto out;
    struct json_span whole = {0, rq->body_len};
    if (!event_item(rq, rs, body, whole, "", &item))
        goto out;
    const char *key = req_header(rq, "Idempotency-Key");
    if (key) {
        if (!idempotency_key_ok(key)) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "Idempotency-Key",
                       "Idempotency-Key must be 1 to %d printable ASCII characters",
                       IDEMPOTENCY_KEY_MAX);
            goto out;
        }
        item.idempotency_key = key; /* the header wins over the body's id */
    }
    if (!commit(rq, rs, &item, 1))
        goto out;
    /* A repeat answers with the first event and 200: nothing new was made. */
    resp_json(rs, item.duplicate ? HTTP_OK : HTTP_ACCEPTED, ingest_json(&item));
out:
    cJSON_Delete(body);
}

/* Refuses two events of one batch with the same idempotency key. */
static bool batch_keys_unique(struct api_resp *rs, const struct store_ingest *items, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (!items[i].idempotency_key)
            continue;
        for (size_t j = 0; j < i; j++) {
            if (items[j].idempotency_key &&
                strcmp(items[i].idempotency_key, items[j].idempotency_key) == 0) {
                char field[32];
                snprintf(field, sizeof field, "events[%zu].id", i);
                resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                           "id repeats events[%zu].id", j);
                return false;
            }
        }
    }
    return true;
}

void api_event_batch(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"events", NULL};
    cJSON *body = NULL;
    struct store_ingest *items = NULL;
    struct json_span *spans = NULL;
    if (!req_object_raw(rq, rs, false, "events", &body, NULL) ||
        !req_known_fields(body, fields, rs))
        goto out;
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(body, "events");
    int n = cJSON_GetArraySize(events);
    if (!cJSON_IsArray(events) || n < 1 || n > BATCH_MAX) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "events",
                   "events must be a list of 1 to %d events", BATCH_MAX);
        goto out;
    }
    struct json_span arr;
    if (json_member_span(rq->body, rq->body_len, "events", &arr) != 1) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "events", "events is given twice");
        goto out;
    }
    spans = xcalloc((size_t)n, sizeof *spans);
    items = xcalloc((size_t)n, sizeof *items);
    if (json_array_spans(rq->body + arr.start, arr.end - arr.start, spans, (size_t)n) != n) {
        resp_error(rs, HTTP_BAD_REQUEST, "malformed_json", "events", "events is not well-formed");
        goto out;
    }
    const cJSON *ev = events->child;
    for (int i = 0; i < n; i++, ev = ev->next) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "events[%d].", i);
        if (!cJSON_IsObject(ev)) {
            prefix[strlen(prefix) - 1] = '\0';
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", prefix,
                       "each event must be an object");
            goto out;
        }
        struct json_span abs = {arr.start + spans[i].start, arr.start + spans[i].end};
        if (!event_item(rq, rs, ev, abs, prefix, &items[i]))
            goto out;
    }
    if (!batch_keys_unique(rs, items, (size_t)n) || !commit(rq, rs, items, (size_t)n))
        goto out;
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(list, ingest_json(&items[i]));
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "items", list);
    resp_json(rs, HTTP_ACCEPTED, doc);
out:
    free(items);
    free(spans);
    cJSON_Delete(body);
}

static cJSON *event_json(const struct store_event *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddStringToObject(o, "type", e->type);
    json_add_time(o, "timestamp", e->created_at);
    json_add_raw(o, "data", e->payload, e->payload_len);
    return o;
}

void api_event_list(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_event_query q = {0};
    struct store_event *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (!req_paging(rq, rs, &q.page, &q.count) || !req_time(rq, rs, "since", &q.since) ||
        !req_time(rq, rs, "until", &q.until))
        return;
    q.type = req_query(rq, "type");
    if (q.type && !event_type_name_valid(q.type)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "type",
                   "type must be an event type name");
        return;
    }
    int rc = s->ops->event_list(s, rq->auth.account_id, &q, &list, &n, &total);
    if (rc) {
        resp_store_error(rs, rc, "event");
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, event_json(&list[i]));
    store_events_free(list, n);
    resp_json(rs, HTTP_OK, json_list(items, total, q.page, q.count));
}

/* Every attempt made for the event, all deliveries together. */
static int event_attempts(struct api_req *rq, const char *event_id, struct store_attempt **out,
                          size_t *n_out)
{
    struct store *s = rq->h->store;
    struct store_attempt *all = NULL;
    size_t n_all = 0;
    int rc = 0;
    for (int page = 0; page < EVENT_ATTEMPTS_PAGES; page++) {
        struct store_attempt_query q = {.event_id = event_id, .page = page, .count = 100};
        struct store_attempt *a = NULL;
        size_t n = 0;
        int64_t total = 0;
        if ((rc = s->ops->attempt_list(s, rq->auth.account_id, &q, &a, &n, &total)) != 0)
            break;
        if (n) {
            all = xrealloc(all, (n_all + n) * sizeof *all);
            memcpy(all + n_all, a, n * sizeof *a);
            n_all += n;
        }
        free(a); /* the strings moved into all */
        if (n < 100 || (int64_t)n_all >= total)
            break;
    }
    if (rc) {
        store_attempts_free(all, n_all);
        return rc;
    }
    *out = all;
    *n_out = n_all;
    return 0;
}

static int by_attempt_number(const void *a, const void *b)
{
    const struct store_attempt *x = a, *y = b;
    return (x->n > y->n) - (x->n < y->n);
}

void api_event_get(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_event e = {0};
    struct store_delivery *dl = NULL;
    struct store_attempt *att = NULL;
    size_t n_dl = 0, n_att = 0;
    const char *id = req_id(rq, rs, 0, "evt", "event");
    if (!id)
        return;
    int rc = s->ops->event_get(s, rq->auth.account_id, id, &e);
    if (!rc)
        rc = s->ops->delivery_list_for_event(s, rq->auth.account_id, id, &dl, &n_dl);
    if (!rc)
        rc = event_attempts(rq, id, &att, &n_att);
    if (rc) {
        resp_store_error(rs, rc, "event");
        goto out;
    }
    if (n_att > 1)
        qsort(att, n_att, sizeof *att, by_attempt_number);
    cJSON *doc = event_json(&e);
    cJSON *list = cJSON_AddArrayToObject(doc, "deliveries");
    for (size_t i = 0; i < n_dl; i++) {
        /* Attempts of this delivery, in order (att is sorted by n). */
        struct store_attempt *mine = xcalloc(n_att ? n_att : 1, sizeof *mine);
        size_t k = 0;
        for (size_t j = 0; j < n_att; j++)
            if (strcmp(att[j].delivery_id, dl[i].id) == 0)
                mine[k++] = att[j];
        cJSON_AddItemToArray(list, delivery_json(&dl[i], mine, k));
        free(mine); /* shallow copies: the strings belong to att */
    }
    resp_json(rs, HTTP_OK, doc);
out:
    store_event_release(&e);
    free(dl);
    store_attempts_free(att, n_att);
}
