/* events.c — publishing events (one or a batch) and reading them back.
 *
 * An event's `data` is stored byte for byte as published (DESIGN.md §4):
 * jsonspan.c checks the request strictly and finds the exact bytes of each
 * event's data in the raw body, and those bytes — never a re-serialisation
 * — go to the store and, later, to every receiver.
 *
 * A request is checked without a cJSON tree, in one walk after json_valid:
 * each event's members are visited once, data skipped as raw bytes. Parsing
 * every event's data into a tree herald never reads, and walking the body
 * again for each span and check, cost most of an ingest's time on the
 * event loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "api/jsonspan.h"
#include "api/validate.h"
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

/* The decoded types and ids of one request's events, which its items point
 * to until the commit answered. Blocks are chained, never moved. */
struct strpool {
    struct strblock *head;
};

struct strblock {
    struct strblock *next;
    size_t used, cap;
    char text[];
};

/* Small enough for malloc's per-thread cache (blocks up to ~1 KiB). */
#define STRBLOCK_MIN 512

/* A NUL-terminated copy of s[0..n), owned by pool. */
static const char *strpool_add(struct strpool *pool, const char *s, size_t n)
{
    struct strblock *b = pool->head;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > STRBLOCK_MIN ? n + 1 : STRBLOCK_MIN;
        b = xmalloc(sizeof *b + cap);
        b->next = pool->head;
        b->used = 0;
        b->cap = cap;
        pool->head = b;
    }
    char *out = b->text + b->used;
    memcpy(out, s, n);
    out[n] = '\0';
    b->used += n + 1;
    return out;
}

static void strpool_release(struct strpool *pool)
{
    while (pool->head) {
        struct strblock *next = pool->head->next;
        free(pool->head);
        pool->head = next;
    }
}

/* One request's walk: what checking its events needs besides each event. */
struct ingest_walk {
    struct api_req *rq;
    const char *text; /* the body ("{}" for an empty one), strict JSON */
    size_t len;
    bool has_nul;           /* text holds a \u0000 escape: look for it in each event */
    struct strpool strings; /* what the items' types and ids point to */
    /* The last accepted type (in strings) and its JSON text's span: a
     * batch mostly repeats it. */
    const char *last_type;
    struct json_span last_type_span;
};

/* An event's verdict. CHECK_MALFORMED cannot happen on a body json_valid
 * accepted; it is there so that a walk never goes on blind. */
enum check { CHECK_OK, CHECK_REFUSED, CHECK_MALFORMED };

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

/* Fills e with a refusal of the field name of event index (field_of). */
static enum check refuse(struct verr *e, int index, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum check refuse(struct verr *e, int index, const char *name, const char *fmt, ...)
{
    field_of(e->field, sizeof e->field, index, name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return CHECK_REFUSED;
}

/* Refuses a \u0000 escape in the event object at obj of text outside
 * exempt (its data's span within the object, see req_object_raw), naming
 * the field. */
static bool nul_free(const char *text, struct json_span obj, struct json_span exempt, int index,
                     struct verr *e)
{
    const char *s = text + obj.start;
    size_t len = obj.end - obj.start;
    long at = 0;
    while ((at = json_find_nul_escape(s, len, (size_t)at)) >= 0) {
        if ((size_t)at >= exempt.start && (size_t)at < exempt.end) {
            at = (long)exempt.end;
            continue;
        }
        char key[48] = "", field[96];
        json_member_at(s, len, (size_t)at, key, sizeof key);
        field_of(field, sizeof field, index, key);
        refuse(e, index, key, "%s must not contain NUL characters", field);
        return false;
    }
    return true;
}

/* What one walk over an event object finds: the span of the first member
 * of each known name (the one cJSON would report), how many data members
 * there are, and the first unknown member's name. */
struct event_members {
    struct json_span obj, type, data, id;
    bool has_type, has_id, has_unknown;
    int n_data;
    char unknown[JSON_KEY_CAP];
};

/* Walks the object ev entered to its end. False on malformed input. */
static bool event_members_read(struct json_iter *ev, struct event_members *m)
{
    struct json_key k;
    int rc;
    memset(m, 0, sizeof *m);
    m->obj.start = ev->start;
    while ((rc = json_iter_next(ev, &k)) == 1) {
        struct json_span v;
        if (!json_iter_skip(ev, &v))
            return false;
        /* A cut name is longer than any of these, so never equals one. */
        if (strcmp(k.name, "data") == 0) {
            if (m->n_data++ == 0)
                m->data = v;
        } else if (strcmp(k.name, "type") == 0) {
            if (!m->has_type)
                m->type = v;
            m->has_type = true;
        } else if (strcmp(k.name, "id") == 0) {
            if (!m->has_id)
                m->id = v;
            m->has_id = true;
        } else if (!m->has_unknown) {
            memcpy(m->unknown, k.name, sizeof m->unknown);
            m->has_unknown = true;
        }
    }
    m->obj.end = ev->pos;
    return rc == 0;
}

/* The event's type, decoded into type[STORE_NAME_MAX], checked and stored
 * in w->strings; NULL after filling e. */
static const char *event_type(struct ingest_walk *w, const struct event_members *m, int index,
                              struct verr *e)
{
    /* A type written as the last one was is that one, checked already:
     * decoding and checking it again, and asking whether the account knows
     * it (maybe a store query), was a visible share of a batch's cost. */
    size_t n = m->type.end - m->type.start;
    if (w->last_type && m->has_type && n == w->last_type_span.end - w->last_type_span.start &&
        memcmp(w->text + m->type.start, w->text + w->last_type_span.start, n) == 0)
        return w->last_type;
    char type[STORE_NAME_MAX];
    /* Too long to decode here is too long for a type name too. */
    if (!m->has_type || w->text[m->type.start] != '"' ||
        json_string_decode(w->text, w->len, m->type, type, sizeof type) < 0 ||
        !event_type_name_valid(type)) {
        refuse(e, index, "type",
               m->has_type ? "type must be an event type name" : "type is required");
        return NULL;
    }
    if (!event_type_known(type, api_account_type_known, w->rq)) {
        refuse(e, index, "type", "unknown event type %s (see GET /v1/event-types)", type);
        return NULL;
    }
    w->last_type = strpool_add(&w->strings, type, strlen(type));
    w->last_type_span = m->type;
    return w->last_type;
}

/* Checks one event object {"type","data","id"}, walking it from ev (just
 * entered) to its end, and fills item (pointing into the body and
 * w->strings). index is its place in a batch, for error fields (-1: a
 * single event). On CHECK_REFUSED e says why. */
static enum check event_item(struct ingest_walk *w, struct json_iter *ev, int index,
                             struct store_ingest *item, struct verr *e)
{
    struct event_members m;
    if (!event_members_read(ev, &m))
        return CHECK_MALFORMED;
    if (m.has_unknown)
        return refuse(e, index, m.unknown, "unknown field %.40s", m.unknown);
    /* The span of data is exempt from the NUL check: it is stored raw. */
    struct json_span exempt = {0, 0};
    if (m.n_data)
        exempt = (struct json_span){m.data.start - m.obj.start, m.data.end - m.obj.start};
    if (w->has_nul && !nul_free(w->text, m.obj, exempt, index, e))
        return CHECK_REFUSED;
    const char *type = event_type(w, &m, index, e);
    if (!type)
        return CHECK_REFUSED;
    char d = m.n_data ? w->text[m.data.start] : '\0';
    if (d != '{' && d != '[')
        return refuse(e, index, "data",
                      m.n_data ? "data must be a JSON object or array" : "data is required");
    if (m.n_data != 1)
        return refuse(e, index, "data", "data is given twice");
    const char *key = NULL;
    if (m.has_id && w->text[m.id.start] != 'n') { /* null: no id */
        char id[IDEMPOTENCY_KEY_MAX + 1];
        long n = w->text[m.id.start] == '"'
                     ? json_string_decode(w->text, w->len, m.id, id, sizeof id)
                     : -1;
        if (n < 0 || !idempotency_key_ok(id))
            return refuse(e, index, "id", "id must be 1 to %d printable ASCII characters",
                          IDEMPOTENCY_KEY_MAX);
        key = strpool_add(&w->strings, id, (size_t)n);
    }
    memset(item, 0, sizeof *item);
    item->account_id = w->rq->auth.account_id;
    item->type = type;
    item->data = w->text + m.data.start;
    item->data_len = m.data.end - m.data.start;
    item->idempotency_key = key;
    id_new(item->id, "evt", w->rq->now);
    item->created_at = w->rq->now;
    return CHECK_OK;
}

/* Answers an event's verdict other than CHECK_OK. */
static void answer_refusal(struct api_resp *rs, enum check c, const struct verr *e)
{
    if (c == CHECK_MALFORMED)
        resp_error(rs, HTTP_BAD_REQUEST, "malformed_json", NULL,
                   "the body is not well-formed JSON");
    else
        resp_verr(rs, e);
}

/* True when Content-Type is application/json (parameters allowed) or
 * absent: a subset of what req_object_raw reads as JSON, found without it. */
static bool plainly_json(const char *ct)
{
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;
    return !ct || (strncasecmp(ct, json, n) == 0 && (ct[n] == '\0' || ct[n] == ';'));
}

/* Checks the body as req_object_raw(rq, rs, false, raw_member, …) does
 * (http.h) and enters top, the body's object, for w's walk; answers and
 * returns false when it is refused. The common body — declared
 * application/json or undeclared, strict JSON, an object, without a \u0000
 * escape — is checked here, without the cJSON tree req_object_raw builds.
 * Any other goes through req_object_raw itself, so its answer (415, 400,
 * 422 naming a member that holds a NUL) stays the one rule of the API; it
 * also accepts an empty body (walked as {}), JSON labelled as a form, and
 * \u0000 inside raw_member. */
static bool body_object(struct api_req *rq, struct api_resp *rs, const char *raw_member,
                        struct ingest_walk *w, struct json_iter *top)
{
    w->text = rq->body;
    w->len = rq->body_len;
    w->has_nul = json_find_nul_escape(rq->body, rq->body_len, 0) >= 0;
    if (w->has_nul || !plainly_json(req_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE)) ||
        !json_iter_enter(top, w->text, w->len, 0) || top->close != '}' ||
        !json_valid(w->text, w->len)) {
        cJSON *doc = NULL;
        if (!req_object_raw(rq, rs, false, raw_member, &doc, NULL))
            return false;
        cJSON_Delete(doc);
        if (w->len == 0) {
            w->text = "{}";
            w->len = 2;
        }
        json_iter_enter(top, w->text, w->len, 0);
    }
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
    struct strpool strings; /* the items' types and ids */
    bool batch;
    char account_id[HERALD_ID_MAX]; /* the request's auth does not outlive dispatch */
};

static void ingest_release(struct api_pending *p)
{
    struct ingest_pending *ip = (struct ingest_pending *)p;
    strpool_release(&ip->strings);
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

/* Takes w's strings and items (n of them) into a pending commit left in rs. */
static void ingest_defer(struct ingest_walk *w, struct api_resp *rs, struct store_ingest *items,
                         size_t n, bool batch)
{
    struct ingest_pending *ip = xcalloc(1, sizeof *ip);
    ip->base = (struct api_pending){
        .items = items, .n = n, .finish = ingest_finish, .release = ingest_release};
    ip->strings = w->strings;
    w->strings.head = NULL;
    ip->batch = batch;
    str_copy(ip->account_id, sizeof ip->account_id, w->rq->auth.account_id);
    for (size_t i = 0; i < n; i++)
        items[i].account_id = ip->account_id;
    rs->pending = &ip->base;
}

void api_event_publish(struct api_req *rq, struct api_resp *rs)
{
    struct ingest_walk w = {.rq = rq};
    struct store_ingest *item = xcalloc(1, sizeof *item);
    struct json_iter ev;
    struct verr e;
    if (!body_object(rq, rs, "data", &w, &ev))
        goto fail;
    enum check c = event_item(&w, &ev, -1, item, &e);
    if (c != CHECK_OK) {
        answer_refusal(rs, c, &e);
        goto fail;
    }
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
    ingest_defer(&w, rs, item, 1, false);
    return;
fail:
    free(item);
    strpool_release(&w.strings);
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

/* What the one walk over a batch {"events":[…]} found. Its findings are
 * answered in the order of the checks the API always made: an unknown
 * member first, then the first events member not being a list of 1 to
 * BATCH_MAX, then events given twice, then the first refused event; so a
 * refused event is only remembered (in e) while the walk goes on. */
struct batch {
    struct store_ingest *items; /* the accepted events, n of cap */
    size_t n, cap;
    long count;   /* elements of the first events list; 0 when none is a list */
    int n_events; /* members named events */
    bool has_unknown;
    struct json_span unknown; /* the first unknown member's key */
    enum check verdict;       /* of the first event not accepted, CHECK_OK: none */
    struct verr e;
};

/* Checks the element of the events list at arr->pos (the index-th) and
 * consumes it. False on malformed input. */
static bool batch_event(struct ingest_walk *w, struct json_iter *arr, int index, struct batch *b)
{
    struct json_iter ev;
    if (arr->s[arr->pos] != '{' || !json_iter_enter(&ev, arr->s, arr->len, arr->pos)) {
        char field[32];
        snprintf(field, sizeof field, "events[%d]", index);
        verr_set(&b->e, field, "each event must be an object");
        b->verdict = CHECK_REFUSED;
        return json_iter_skip(arr, NULL);
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->items = xrealloc(b->items, b->cap * sizeof *b->items);
    }
    b->verdict = event_item(w, &ev, index, &b->items[b->n], &b->e);
    if (b->verdict == CHECK_MALFORMED)
        return false;
    if (b->verdict == CHECK_OK)
        b->n++;
    arr->pos = ev.pos;
    return true;
}

/* Walks the events list at top->pos, checking its elements while all so
 * far were accepted and there are at most BATCH_MAX, and counting them
 * all. False on malformed input. */
static bool batch_events(struct ingest_walk *w, struct json_iter *top, struct batch *b)
{
    struct json_iter arr;
    int rc;
    json_iter_enter(&arr, top->s, top->len, top->pos);
    while ((rc = json_iter_next(&arr, NULL)) == 1) {
        bool ok = b->count < BATCH_MAX && b->verdict == CHECK_OK
                      ? batch_event(w, &arr, (int)b->count, b)
                      : json_iter_skip(&arr, NULL);
        if (!ok)
            return false;
        b->count++;
    }
    top->pos = arr.pos;
    return rc == 0;
}

/* Walks the batch's top object (top, entered) to its end. False on
 * malformed input. */
static bool batch_read(struct ingest_walk *w, struct json_iter *top, struct batch *b)
{
    struct json_key k;
    int rc;
    while ((rc = json_iter_next(top, &k)) == 1) {
        bool ok;
        if (strcmp(k.name, "events") != 0) {
            if (!b->has_unknown)
                b->unknown = k.span;
            b->has_unknown = true;
            ok = json_iter_skip(top, NULL);
        } else if (b->n_events++ == 0 && top->s[top->pos] == '[') {
            ok = batch_events(w, top, b);
        } else {
            ok = json_iter_skip(top, NULL);
        }
        if (!ok)
            return false;
    }
    return rc == 0;
}

/* Answers 422 naming the batch's unknown member key (its whole decoded
 * name, as req_known_fields does). */
static void refuse_unknown(struct api_resp *rs, const struct ingest_walk *w, struct json_span key)
{
    size_t cap = key.end - key.start; /* the decoded name is shorter */
    char *name = xmalloc(cap);
    if (json_string_decode(w->text, w->len, key, name, cap) < 0)
        name[0] = '\0';
    resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", name, "unknown field %.64s", name);
    free(name);
}

void api_event_batch(struct api_req *rq, struct api_resp *rs)
{
    struct ingest_walk w = {.rq = rq};
    struct batch b = {.verdict = CHECK_OK};
    struct json_iter top;
    if (!body_object(rq, rs, "events", &w, &top))
        goto fail;
    if (!batch_read(&w, &top, &b)) {
        answer_refusal(rs, CHECK_MALFORMED, NULL);
        goto fail;
    }
    if (b.has_unknown) {
        refuse_unknown(rs, &w, b.unknown);
        goto fail;
    }
    if (b.count < 1 || b.count > BATCH_MAX) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "events",
                   "events must be a list of 1 to %d events", BATCH_MAX);
        goto fail;
    }
    if (b.n_events != 1) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "events", "events is given twice");
        goto fail;
    }
    if (b.verdict != CHECK_OK) {
        answer_refusal(rs, b.verdict, &b.e);
        goto fail;
    }
    if (!batch_keys_unique(rs, b.items, b.n))
        goto fail;
    ingest_defer(&w, rs, b.items, b.n, true);
    return;
fail:
    free(b.items);
    strpool_release(&w.strings);
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
