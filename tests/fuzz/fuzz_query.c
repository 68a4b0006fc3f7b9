/* libFuzzer target for the query strings of the list routes: paging
 * (page/_page, count/_count: req_paging in src/api/http.c), time filters
 * (since, until: req_time), GET /v1/webhooks's event, name, enabled and
 * order/_order (webhooks.c), GET /v1/webhooks/{id}/log's status and
 * event_type (deliveries.c), GET /v1/events's type (events.c), GET
 * /v1/event-types's page of the catalog (event_types.c) and GET
 * /v1/stats's window (stats.c). The first input byte picks the route; the
 * rest is NUL-separated name, value, name, value… (decoded, as
 * libmicrohttpd hands them over).
 *
 * Each value is also read by a small reference written from the
 * documented rules (DESIGN.md §3, http.h, validate.h), in the order each
 * handler checks them. The handler must refuse exactly when the reference
 * does, naming the same field, with a well-formed 422; and when it
 * accepts, the store must be asked exactly what the reference read (in
 * particular an order from the whitelist only: it selects SQL), and the
 * answer must be the documented list shape. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "core/catalog.h"
#include "core/clock.h"
#include "fake_api.h"

enum route { R_WEBHOOKS, R_EVENTS, R_LOG, R_TYPES, R_STATS, R_COUNT };

static const struct fake_conn *conn_of(const struct api_req *rq)
{
    return (const struct fake_conn *)(const void *)rq->conn;
}

static const char *arg(const struct api_req *rq, const char *name)
{
    return fake_lookup(conn_of(rq), MHD_GET_ARGUMENT_KIND, name);
}

/* [-]digits only, within min..max. */
static bool strict_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool neg = *s == '-';
    const char *p = s + neg;
    if (!*p)
        return false;
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v < 1000000000000LL)
            v = v * 10 + (*p - '0');
    }
    v = neg ? -v : v;
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* 1-100 characters of [A-Za-z0-9_-] in dot-separated, non-empty parts. */
static bool type_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return false;
    bool part = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (!part)
                return false;
            part = false;
        } else if (isalnum(c) || c == '_' || c == '-') {
            part = true;
        } else {
            return false;
        }
    }
    return part;
}

static bool bool_text(const char *s, int *out)
{
    static const char *const words[] = {"true", "1", "on", "yes", "false", "0", "off", "no"};
    for (int i = 0; i < 8; i++)
        if (strcasecmp(s, words[i]) == 0) {
            *out = i < 4;
            return true;
        }
    return false;
}

/* What the reference expects: 0 (accepted, with what the store gets) or
 * 422 naming field. */
struct expect {
    int status;
    const char *field;
    int page, count;
    int64_t since, until;
    const char *event, *name, *type, *order, *event_type;
    int enabled, status_filter;
    bool desc;
};

static bool fail(struct expect *x, const char *field)
{
    x->status = 422;
    x->field = field;
    return false;
}

static bool ref_paging(const struct api_req *rq, struct expect *x)
{
    int64_t v;
    const char *used = "page", *p = arg(rq, "page");
    if (!p && (p = arg(rq, "_page")))
        used = "_page";
    x->page = 0;
    if (p) {
        if (!strict_int(p, 0, 1000000, &v))
            return fail(x, used);
        x->page = (int)v;
    }
    used = "count";
    const char *c = arg(rq, "count");
    if (!c && (c = arg(rq, "_count")))
        used = "_count";
    x->count = 20;
    if (c) {
        if (!strict_int(c, 1, 100, &v) || (v != 20 && v != 25 && v != 50 && v != 100))
            return fail(x, used);
        x->count = (int)v;
    }
    return true;
}

static bool ref_time(const struct api_req *rq, const char *name, int64_t *out, struct expect *x)
{
    const char *v = arg(rq, name);
    *out = 0;
    if (v && (!clock_parse(v, out) || *out <= 0))
        return fail(x, name);
    return true;
}

static bool ref_type(const struct api_req *rq, const char *name, const char **out, struct expect *x)
{
    *out = arg(rq, name);
    if (*out && !type_name(*out))
        return fail(x, name);
    return true;
}

static const char *order_column(const char *v)
{
    static const char *const map[][2] = {
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
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(v, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static void reference(const struct api_req *rq, enum route r, struct expect *x)
{
    memset(x, 0, sizeof *x);
    x->enabled = -1;
    x->order = "name";
    if (r == R_STATS) {
        /* window: strict like page and count ("+3600", " 3600" refused). */
        const char *w = arg(rq, "window");
        int64_t v;
        if (w && !strict_int(w, 60, 7 * 24 * 3600, &v)) /* stats.c: a week */
            fail(x, "window");
        return;
    }
    if (!ref_paging(rq, x))
        return;
    if (r == R_WEBHOOKS) {
        if (!ref_type(rq, "event", &x->event, x))
            return;
        const char *name = arg(rq, "name");
        if (name && strlen(name) > 800) {
            fail(x, "name");
            return;
        }
        x->name = name && *name ? name : NULL;
        const char *en = arg(rq, "enabled");
        if (en && !bool_text(en, &x->enabled)) {
            fail(x, "enabled");
            return;
        }
        const char *used = "order", *order = arg(rq, "order");
        if (!order && (order = arg(rq, "_order")))
            used = "_order";
        if (order) {
            x->desc = order[0] == '-';
            if (!(x->order = order_column(order + x->desc)))
                fail(x, used);
        }
    } else if (r == R_EVENTS) {
        if (ref_time(rq, "since", &x->since, x) && ref_time(rq, "until", &x->until, x))
            ref_type(rq, "type", &x->type, x);
    } else if (r == R_LOG) {
        if (!ref_time(rq, "since", &x->since, x) || !ref_time(rq, "until", &x->until, x))
            return;
        const char *st = arg(rq, "status");
        if (st && strcmp(st, "success") == 0)
            x->status_filter = 1;
        else if (st && strcmp(st, "failure") == 0)
            x->status_filter = 2;
        else if (st) {
            fail(x, "status");
            return;
        }
        ref_type(rq, "event_type", &x->event_type, x);
    }
}

static bool same(const char *seen, const char *want)
{
    return strcmp(seen, want ? want : "") == 0;
}

/* The store call against the reference. */
static void check_store(enum route r, const struct expect *x, int64_t now)
{
    const struct fake_seen *s = &fake_seen;
    if (s->calls != 1)
        abort();
    switch (r) {
    case R_WEBHOOKS:
        if (s->wq.page != x->page || s->wq.count != x->count || s->wq.enabled != x->enabled ||
            s->wq.desc != x->desc || !same(s->order, x->order) || !same(s->event, x->event) ||
            !same(s->name, x->name) || (x->name == NULL) != (s->wq.name == NULL))
            abort();
        break;
    case R_EVENTS:
        if (s->eq.page != x->page || s->eq.count != x->count || s->eq.since != x->since ||
            s->eq.until != x->until || !same(s->type, x->type))
            abort();
        break;
    case R_LOG:
        if (s->aq.page != x->page || s->aq.count != x->count || s->aq.since != x->since ||
            s->aq.until != x->until || s->aq.status != x->status_filter ||
            !same(s->event_type, x->event_type) || !s->aq.webhook_id)
            abort();
        break;
    case R_STATS:
        /* Whole one-minute buckets covering 60 s to a week. */
        if (s->series_bucket != 60000 || s->series_since % 60000 != 0 ||
            now - s->series_since < 60000 || now - s->series_since > 7 * 86400000LL + 60000)
            abort();
        break;
    default:
        break;
    }
}

/* The 200 answer: a list {"items","total","page","count"} (stats: its
 * own shape). */
static void check_answer(const struct api_resp *rs, enum route r, const struct expect *x)
{
    cJSON *doc = fake_answer_json(rs);
    if (rs->status != 200 || !cJSON_IsObject(doc))
        abort();
    if (r == R_STATS) {
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "buckets")))
            abort();
        cJSON_Delete(doc);
        return;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(doc, "total");
    const cJSON *page = cJSON_GetObjectItemCaseSensitive(doc, "page");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(doc, "count");
    if (!cJSON_IsArray(items) || !cJSON_IsNumber(total) || !cJSON_IsNumber(page) ||
        !cJSON_IsNumber(count) || page->valueint != x->page || count->valueint != x->count)
        abort();
    /* The type list pages the catalog then the account's own types. */
    int64_t all = r == R_TYPES ? (int64_t)catalog_len + 2 : 0;
    int64_t from = (int64_t)x->page * x->count;
    int64_t want = from >= all ? 0 : all - from < x->count ? all - from : x->count;
    if (total->valuedouble != (double)all || cJSON_GetArraySize(items) != want)
        abort();
    cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void (*const handlers[R_COUNT])(struct api_req *, struct api_resp *) = {
        api_webhook_list, api_event_list, api_webhook_log, api_event_type_list, api_stats};
    if (size < 1)
        return 0;
    enum route r = (enum route)(data[0] % R_COUNT);
    /* Arguments: a private NUL-terminated copy, cut at its NULs. */
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct fake_conn conn = {0};
    for (char *p = text, *end = text + size - 1; p < end;) {
        char *name = p;
        p += strlen(p) + 1;
        if (p > end)
            break;
        char *value = p;
        p += strlen(p) + 1;
        fake_add(&conn, MHD_GET_ARGUMENT_KIND, name, value);
    }
    struct api_req rq = fake_request(&conn, "", 0);
    rq.method = "GET";
    static const char *webhook = FAKE_WEBHOOK;
    rq.params[0] = webhook;
    rq.n_params = r == R_LOG;

    struct expect x;
    reference(&rq, r, &x);
    memset(&fake_seen, 0, sizeof fake_seen);
    struct api_resp rs = {0};
    handlers[r](&rq, &rs);
    if (rs.status == 422) {
        char field[128];
        fake_check_error(&rs, field, sizeof field);
        if (fake_seen.calls != 0)
            abort(); /* refused, yet the store was asked */
        if (x.status != 422 || strcmp(field, x.field) != 0)
            abort();
    } else {
        if (x.status != 0)
            abort();
        check_store(r, &x, rq.now);
        check_answer(&rs, r, &x);
    }
    resp_release(&rs);
    free(text);
    return 0;
}
