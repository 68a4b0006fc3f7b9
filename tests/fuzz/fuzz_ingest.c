/* libFuzzer target for event ingest (src/api/events.c): the bodies of
 * POST /v1/events and POST /v1/events/batch, checked by a one-pass walk
 * without a cJSON tree. The first input byte picks the route (bit 0), the
 * Content-Type (bits 1-3) and whether an Idempotency-Key header is sent
 * (bit 4: its value runs up to the first NUL); the rest is the body.
 *
 * Beyond "no crash, no leak, no read past the body", the walk is checked
 * against a reference that reads the same body the slow, obvious way:
 * req_object_raw's cJSON tree, then the rules of DESIGN.md §3 and
 * events.c in the order the API documents them. Both must give the same
 * answer (accepted, or the same status and field), every refusal must
 * be a well-formed error, and every accepted event must carry a known
 * type, its data exactly as published (the bytes of the body that cJSON
 * reads as "data") and a valid idempotency key, and answer with valid
 * JSON once committed. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/jsonspan.h"
#include "api/validate.h"
#include "core/catalog.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/match.h"
#include "fake_api.h"

#define BATCH_MAX 1000
#define KEY_MAX 200

static const char *const content_types[8] = {
    NULL, /* no Content-Type: JSON */
    "application/json",
    "application/json; charset=utf-8",
    " Application/JSON ;charset=UTF-8",
    "application/x-www-form-urlencoded", /* JSON labelled as a form is read as JSON */
    "text/plain",
    "application/jsonx",
    "",
};

/* An answer: 0 while the request waits for its commit, else the status
 * and the error's field. */
struct verdict {
    int status;
    char field[512];
};

/* One accepted event as the reference reads it. */
struct want {
    const char *type;
    const cJSON *data;
    const char *key;
};

static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7E)
            return false;
    return true;
}

static bool type_known(const char *t)
{
    if (catalog_find(t))
        return true;
    for (size_t i = 0; i < sizeof fake_own_types / sizeof *fake_own_types; i++)
        if (strcmp(t, fake_own_types[i]) == 0)
            return true;
    return false;
}

/* The field an error names, as the API answers it: cut to 40 bytes, then
 * without the bytes of a character that cut split (utf8_scrub). */
static int refuse(struct verdict *v, int index, const char *name)
{
    if (index < 0)
        snprintf(v->field, sizeof v->field, "%.40s", name);
    else
        snprintf(v->field, sizeof v->field, "events[%d].%.40s", index, name);
    utf8_scrub(v->field);
    return v->status = 422;
}

/* For a batch's event object obj[0..len): the member holding its first
 * \u0000 escape outside its data (stored raw, so exempt), if any. */
static bool nul_outside_data(const char *obj, size_t len, char *key, size_t cap)
{
    struct json_span d = {0, 0};
    json_member_span(obj, len, "data", &d);
    long at = 0;
    while ((at = json_find_nul_escape(obj, len, (size_t)at)) >= 0) {
        if ((size_t)at >= d.start && (size_t)at < d.end) {
            at = (long)d.end;
            continue;
        }
        key[0] = '\0';
        json_member_at(obj, len, (size_t)at, key, cap);
        return true;
    }
    return false;
}

/* The reference check of one event object (ev; its text obj[0..len) for a
 * batch's element, index >= 0): 0 and w filled, or 422 in v. */
static int ref_event(const cJSON *ev, const char *obj, size_t len, int index, struct want *w,
                     struct verdict *v)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, ev)
    {
        if (strcmp(it->string, "type") != 0 && strcmp(it->string, "data") != 0 &&
            strcmp(it->string, "id") != 0)
            return refuse(v, index, it->string);
    }
    char key[48];
    if (index >= 0 && nul_outside_data(obj, len, key, sizeof key))
        return refuse(v, index, key);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (!cJSON_IsString(t) || !event_type_name_valid(t->valuestring) || !type_known(t->valuestring))
        return refuse(v, index, "type");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "data");
    int n_data = 0;
    cJSON_ArrayForEach(it, ev)
    {
        n_data += strcmp(it->string, "data") == 0;
    }
    if (!(cJSON_IsObject(d) || cJSON_IsArray(d)) || n_data != 1)
        return refuse(v, index, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    if (id && !cJSON_IsNull(id) && (!cJSON_IsString(id) || !key_ok(id->valuestring)))
        return refuse(v, index, "id");
    w->type = t->valuestring;
    w->data = d;
    w->key = cJSON_IsString(id) ? id->valuestring : NULL;
    return 0;
}

/* The reference verdict on rq (see the header comment); on acceptance
 * want[0..*n) are the events, pointing into *doc (the caller frees it). */
static void reference(struct api_req *rq, bool batch, const char *hdr_key, cJSON **doc,
                      struct want *want, size_t *n, struct verdict *v)
{
    struct api_resp rs = {0};
    *n = 0;
    v->status = 0;
    v->field[0] = '\0';
    if (!req_object_raw(rq, &rs, false, batch ? "events" : "data", doc, NULL)) {
        v->status = rs.status;
        fake_check_error(&rs, v->field, sizeof v->field);
        resp_release(&rs);
        return;
    }
    resp_release(&rs);
    if (!batch) {
        if (ref_event(*doc, NULL, 0, -1, &want[0], v))
            return;
        if (hdr_key) {
            if (!key_ok(hdr_key)) {
                refuse(v, -1, "Idempotency-Key");
                return;
            }
            want[0].key = hdr_key;
        }
        *n = 1;
        return;
    }
    const cJSON *it;
    int n_events = 0;
    cJSON_ArrayForEach(it, *doc)
    {
        if (strcmp(it->string, "events") != 0) {
            v->status = 422;
            snprintf(v->field, sizeof v->field, "%s", it->string);
            return;
        }
        n_events++;
    }
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(*doc, "events");
    int count = cJSON_IsArray(events) ? cJSON_GetArraySize(events) : 0;
    if (count < 1 || count > BATCH_MAX || n_events != 1) {
        v->status = 422;
        snprintf(v->field, sizeof v->field, "events");
        return;
    }
    /* The elements' text, for the \u0000 rule. */
    struct json_span list, el[BATCH_MAX];
    if (json_member_span(rq->body, rq->body_len, "events", &list) != 1 ||
        json_array_spans(rq->body + list.start, list.end - list.start, el, BATCH_MAX) != count)
        abort();
    int i = 0;
    cJSON_ArrayForEach(it, events)
    {
        if (!cJSON_IsObject(it)) {
            v->status = 422;
            snprintf(v->field, sizeof v->field, "events[%d]", i);
            return;
        }
        const char *obj = rq->body + list.start + el[i].start;
        if (ref_event(it, obj, el[i].end - el[i].start, i, &want[i], v))
            return;
        i++;
    }
    for (int a = 1; a < count; a++)
        for (int b = 0; b < a && want[a].key; b++)
            if (want[b].key && strcmp(want[a].key, want[b].key) == 0) {
                v->status = 422;
                snprintf(v->field, sizeof v->field, "events[%d].id", a);
                return;
            }
    *n = (size_t)count;
}

/* Whether two cJSON trees are the same, members in order (cJSON_Compare
 * looks object members up by key, which duplicate keys confuse). */
static bool same_tree(const cJSON *a, const cJSON *b)
{
    if (!a || !b || (a->type & 0xFF) != (b->type & 0xFF))
        return false;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (!cJSON_IsObject(a) && !cJSON_IsArray(a))
        return true;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if ((cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) || !same_tree(x, y))
            return false;
    return !x && !y;
}

static bool same_key(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* An accepted request's items against the reference's, then its answer
 * once committed (duplicate: a repeated single event) or refused by the
 * store (fail). */
static void check_accepted(struct api_req *rq, struct api_resp *rs, bool batch,
                           const struct want *want, size_t n, bool duplicate, bool fail)
{
    struct api_pending *p = rs->pending;
    if (!p || rs->status != 0 || p->n != n || !p->finish || !p->release)
        abort();
    for (size_t i = 0; i < n; i++) {
        struct store_ingest *it = &p->items[i];
        if (!id_valid(it->id, "evt") || strcmp(it->account_id, FAKE_ACCOUNT) != 0 ||
            it->created_at != rq->now || strcmp(it->type, want[i].type) != 0 ||
            !same_key(it->idempotency_key, want[i].key))
            abort();
        /* data: bytes of the body, strict JSON, what cJSON read there. */
        if (it->data < rq->body || it->data + it->data_len > rq->body + rq->body_len ||
            !json_valid(it->data, it->data_len) || (it->data[0] != '{' && it->data[0] != '['))
            abort();
        cJSON *got = cJSON_ParseWithLength(it->data, it->data_len);
        if (!same_tree(got, want[i].data))
            abort();
        cJSON_Delete(got);
        it->deliveries = (int)i;
        it->duplicate = duplicate && !batch;
    }
    p->finish(p, fail ? HERALD_ESTORE : 0, rs);
    if (fail) {
        fake_check_error(rs, NULL, 0);
        if (rs->status != 503 || !fake_answer_header(rs, "Retry-After"))
            abort();
        return;
    }
    int status = batch ? 202 : duplicate ? 200 : 202;
    cJSON *doc = fake_answer_json(rs);
    if (rs->status != status || !doc || !utf8_valid(rs->body, rs->len))
        abort();
    const cJSON *items = batch ? cJSON_GetObjectItemCaseSensitive(doc, "items") : NULL;
    if (batch && cJSON_GetArraySize(items) != (int)n)
        abort();
    for (size_t i = 0; i < n; i++) {
        const cJSON *o = batch ? cJSON_GetArrayItem(items, (int)i) : doc;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "timestamp");
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(o, "deliveries");
        int64_t ms;
        if (!cJSON_IsString(id) || strcmp(id->valuestring, p->items[i].id) != 0 ||
            !cJSON_IsString(type) || strcmp(type->valuestring, want[i].type) != 0 ||
            !cJSON_IsString(ts) || !clock_parse(ts->valuestring, &ms) || ms != rq->now ||
            !cJSON_IsNumber(dl) || dl->valueint != (int)i)
            abort();
    }
    cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct want want[BATCH_MAX];
    if (size < 1)
        return 0;
    bool batch = data[0] & 1;
    const char *ct = content_types[(data[0] >> 1) & 7];
    bool with_key = data[0] & 0x10, duplicate = data[0] & 0x20, fail = data[0] & 0x40;
    const uint8_t *p = data + 1, *end = data + size;
    char *hdr_key = NULL;
    if (with_key) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        size_t k = nul ? (size_t)(nul - p) : (size_t)(end - p);
        hdr_key = malloc(k + 1);
        if (!hdr_key)
            return 0;
        memcpy(hdr_key, p, k);
        hdr_key[k] = '\0';
        p += nul ? k + 1 : k;
    }
    /* The body as server.c keeps it: exactly its bytes, then a NUL. */
    size_t len = (size_t)(end - p);
    char *body = malloc(len + 1);
    if (!body)
        abort();
    memcpy(body, p, len);
    body[len] = '\0';

    struct fake_conn conn = {0};
    if (ct)
        fake_add(&conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    if (hdr_key)
        fake_add(&conn, MHD_HEADER_KIND, "Idempotency-Key", hdr_key);
    struct api_req rq = fake_request(&conn, body, len);

    struct api_resp rs = {0};
    if (batch)
        api_event_batch(&rq, &rs);
    else
        api_event_publish(&rq, &rs);

    cJSON *doc = NULL;
    size_t n = 0;
    struct verdict want_v, got_v = {0};
    reference(&rq, batch, hdr_key, &doc, want, &n, &want_v);
    if (!rs.pending)
        fake_check_error(&rs, got_v.field, sizeof got_v.field), got_v.status = rs.status;
    if (got_v.status != want_v.status || strcmp(got_v.field, want_v.field) != 0)
        abort();
    if (rs.pending)
        check_accepted(&rq, &rs, batch, want, n, duplicate, fail);
    resp_release(&rs);
    cJSON_Delete(doc);
    free(body);
    free(hdr_key);
    return 0;
}
