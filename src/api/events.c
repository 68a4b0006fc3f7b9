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
#include "core/clock.h"
#include "core/match.h"
#include "core/util.h"
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

/* The name of an event's field in error answers: "type" for a single
 * event, "events[3].type" for one of a batch (index < 0: single). Built
 * only for an error: formatting it for every event was a visible share of
 * a batch's cost. */
static const char *field_of(char *buf, size_t cap, int index, const char *name)
{
    if (index < 0)
        snprintf(buf, cap, "%.40s", name);
    else
        snprintf(buf, cap, "events[%d].%.40s", index, name);
    return buf;
}

/* Refuses a \u0000 escape in the event object at obj_span outside exempt
 * (its raw member's span within the object, see req_object_raw), naming
 * the field. */
static bool nul_free(struct api_req *rq, struct api_resp *rs, struct json_span obj_span,
                     struct json_span exempt, int index)
{
    const char *s = rq->body + obj_span.start;
    size_t len = obj_span.end - obj_span.start;
    long at = 0;
    while ((at = json_find_nul_escape(s, len, (size_t)at)) >= 0) {
        if ((size_t)at >= exempt.start && (size_t)at < exempt.end) {
            at = (long)exempt.end;
            continue;
        }
        char key[48] = "", field[96];
        json_member_at(s, len, (size_t)at, key, sizeof key);
        field_of(field, sizeof field, index, key);
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                   "%s must not contain NUL characters", field);
        return false;
    }
    return true;
}

/* Checks one event object {"type","data","id"} found at obj_span of the
 * raw body and fills item (pointers into body and the cJSON tree). index
 * is its place in a batch, for error fields (-1: a single event). */
static bool event_item(struct api_req *rq, struct api_resp *rs, const cJSON *obj,
                       struct json_span obj_span, int index, struct store_ingest *item)
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
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed",
                       field_of(field, sizeof field, index, it->string), "unknown field %.40s",
                       it->string);
            return false;
        }
    }
    /* The span of data, found once: it is exempt from the NUL check and is
     * what gets stored. */
    const char *base = rq->body + obj_span.start;
    struct json_span span = {0, 0};
    int n_data = json_member_span(base, obj_span.end - obj_span.start, "data", &span);
    if (!nul_free(rq, rs, obj_span, span, index))
        return false;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(type) || !event_type_name_valid(type->valuestring)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed",
                   field_of(field, sizeof field, index, "type"),
                   type ? "type must be an event type name" : "type is required");
        return false;
    }
    if (!event_type_known(type->valuestring, api_account_type_known, rq)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed",
                   field_of(field, sizeof field, index, "type"),
                   "unknown event type %s (see GET /v1/event-types)", type->valuestring);
        return false;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    if (!cJSON_IsObject(data) && !cJSON_IsArray(data)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed",
                   field_of(field, sizeof field, index, "data"),
                   data ? "data must be a JSON object or array" : "data is required");
        return false;
    }
    if (n_data != 1) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed",
                   field_of(field, sizeof field, index, "data"), "data is given twice");
        return false;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (id && !cJSON_IsNull(id) && (!cJSON_IsString(id) || !idempotency_key_ok(id->valuestring))) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed",
                   field_of(field, sizeof field, index, "id"),
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

/* The most bytes one accepted event's JSON takes in an answer (ids and
 * type names are bounded), for the answer buffer's cap. */
#define INGEST_JSON_MAX (2 * HERALD_ID_MAX + STORE_NAME_MAX + 128)

/* clock_format() of the last time asked for: a batch's events share one
 * creation time, and formatting it was most of an answer item's cost. */
struct time_text {
    int64_t ms;
    char text[32];
};

static const char *time_text(struct time_text *tt, int64_t ms)
{
    if (tt->text[0] == '\0' || tt->ms != ms) {
        tt->ms = ms;
        clock_format(ms, tt->text);
    }
    return tt->text;
}

/* Appends one accepted event as the API shows it:
 * {"id","type","timestamp","deliveries","duplicate"}. Written directly,
 * not through a cJSON tree: building and printing that tree cost as much
 * as the rest of the answer. Returns 0 or buf.h's error. */
static int ingest_text(struct buf *b, const struct store_ingest *item, struct time_text *tt)
{
    char n[24];
    snprintf(n, sizeof n, "%d", item->deliveries);
    int rc = buf_puts(b, "{\"id\":");
    if (!rc)
        rc = json_put_string(b, item->id);
    if (!rc)
        rc = buf_puts(b, ",\"type\":");
    if (!rc)
        rc = json_put_string(b, item->out_type[0] ? item->out_type : item->type);
    const char *parts[] = {",\"timestamp\":\"", time_text(tt, item->created_at),
                           "\",\"deliveries\":", n,
                           item->duplicate ? ",\"duplicate\":true}" : ",\"duplicate\":false}"};
    for (size_t i = 0; !rc && i < sizeof parts / sizeof *parts; i++)
        rc = buf_puts(b, parts[i]);
    return rc;
}

/* An ingest waiting for its group commit (http.h, struct api_pending):
 * owns what its items point to, except the raw body and header values,
 * which the server keeps until the request completes. */
struct ingest_pending {
    struct api_pending base;
    cJSON *body; /* the parsed request: types and ids point into it */
    bool batch;
    char account_id[HERALD_ID_MAX]; /* the request's auth does not outlive dispatch */
};

static void ingest_release(struct api_pending *p)
{
    struct ingest_pending *ip = (struct ingest_pending *)p;
    cJSON_Delete(ip->body);
    free(ip->base.items);
    free(ip);
}

/* Answers 503 when the items could not be made durable (nothing was
 * accepted). Not "nothing was stored": a commit whose fsync failed is in
 * the WAL, and a crash before the next commit may let SQLite's recovery
 * keep it (docs/operations.md). */
static void ingest_finish(struct api_pending *p, int rc, struct api_resp *rs)
{
    struct ingest_pending *ip = (struct ingest_pending *)p;
    if (rc) {
        resp_error(rs, HTTP_UNAVAILABLE, "unavailable", NULL,
                   "the event could not be committed; try again (with an Idempotency-Key, "
                   "a retry never creates it twice)");
        resp_header(rs, "Retry-After", "1");
        return;
    }
    struct store_ingest *items = p->items;
    struct buf b;
    struct time_text tt = {0};
    buf_init(&b, p->n * INGEST_JSON_MAX + 32);
    if (!ip->batch) {
        /* A repeat answers with the first event and 200: nothing new was made. */
        rc = ingest_text(&b, &items[0], &tt);
        resp_json_text(rs, items[0].duplicate ? HTTP_OK : HTTP_ACCEPTED, &b, rc);
        return;
    }
    rc = buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        if (i > 0)
            rc = buf_puts(&b, ",");
        if (!rc)
            rc = ingest_text(&b, &items[i], &tt);
    }
    if (!rc)
        rc = buf_puts(&b, "]}");
    resp_json_text(rs, HTTP_ACCEPTED, &b, rc);
}

/* Takes body and items (n of them) into a pending commit left in rs. */
static void ingest_defer(struct api_req *rq, struct api_resp *rs, cJSON *body,
                         struct store_ingest *items, size_t n, bool batch)
{
    struct ingest_pending *ip = xcalloc(1, sizeof *ip);
    ip->base = (struct api_pending){
        .items = items, .n = n, .finish = ingest_finish, .release = ingest_release};
    ip->body = body;
    ip->batch = batch;
    str_copy(ip->account_id, sizeof ip->account_id, rq->auth.account_id);
    for (size_t i = 0; i < n; i++)
        items[i].account_id = ip->account_id;
    rs->pending = &ip->base;
}

void api_event_publish(struct api_req *rq, struct api_resp *rs)
{
    cJSON *body = NULL;
    struct store_ingest *item = xcalloc(1, sizeof *item);
    if (!req_object_raw(rq, rs, false, "data", &body, NULL))
        goto fail;
    struct json_span whole = {0, rq->body_len};
    if (!event_item(rq, rs, body, whole, -1, item))
        goto fail;
    const char *key = req_header(rq, "Idempotency-Key");
    if (key) {
        if (!idempotency_key_ok(key)) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "Idempotency-Key",
                       "Idempotency-Key must be 1 to %d printable ASCII characters",
                       IDEMPOTENCY_KEY_MAX);
            goto fail;
        }
        item->idempotency_key = key; /* the header wins over the body's id */
    }
    ingest_defer(rq, rs, body, item, 1, false);
    return;
fail:
    free(item);
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
        goto fail;
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(body, "events");
    int n = cJSON_GetArraySize(events);
    if (!cJSON_IsArray(events) || n < 1 || n > BATCH_MAX) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "events",
                   "events must be a list of 1 to %d events", BATCH_MAX);
        goto fail;
    }
    struct json_span arr;
    if (json_member_span(rq->body, rq->body_len, "events", &arr) != 1) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "events", "events is given twice");
        goto fail;
    }
    spans = xcalloc((size_t)n, sizeof *spans);
    items = xcalloc((size_t)n, sizeof *items);
    if (json_array_spans(rq->body + arr.start, arr.end - arr.start, spans, (size_t)n) != n) {
        resp_error(rs, HTTP_BAD_REQUEST, "malformed_json", "events", "events is not well-formed");
        goto fail;
    }
    const cJSON *ev = events->child;
    for (int i = 0; i < n; i++, ev = ev->next) {
        if (!cJSON_IsObject(ev)) {
            char field[32];
            snprintf(field, sizeof field, "events[%d]", i);
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field,
                       "each event must be an object");
            goto fail;
        }
        struct json_span abs = {arr.start + spans[i].start, arr.start + spans[i].end};
        if (!event_item(rq, rs, ev, abs, i, &items[i]))
            goto fail;
    }
    if (!batch_keys_unique(rs, items, (size_t)n))
        goto fail;
    free(spans);
    ingest_defer(rq, rs, body, items, (size_t)n, true);
    return;
fail:
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
