/* http.c — request and response helpers shared by every handler. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/form.h"
#include "api/http.h"
#include "api/jsonspan.h"
#include "api/validate.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

void resp_release(struct api_resp *rs)
{
    if (rs->pending)
        rs->pending->release(rs->pending);
    free(rs->body);
    for (size_t i = 0; i < rs->n_headers; i++)
        free(rs->headers[i].value);
    memset(rs, 0, sizeof *rs);
}

void resp_header(struct api_resp *rs, const char *name, const char *value)
{
    if (rs->n_headers == API_MAX_HEADERS)
        return;
    rs->headers[rs->n_headers].name = name;
    rs->headers[rs->n_headers].value = xstrdup(value);
    rs->n_headers++;
}

/* Drops a previous answer's body so a handler can change its mind (an
 * error found after a partial answer) without leaking. */
static void reset_body(struct api_resp *rs)
{
    free(rs->body);
    rs->body = NULL;
    rs->static_body = NULL;
    rs->len = 0;
    rs->content_type = NULL;
}

static void resp_internal(struct api_resp *rs)
{
    static const char msg[] =
        "{\"error\":{\"code\":\"unavailable\",\"message\":\"the server is short of memory\"}}";
    reset_body(rs);
    rs->status = HTTP_UNAVAILABLE;
    rs->static_body = msg;
    rs->len = sizeof msg - 1;
    rs->content_type = API_JSON_TYPE;
    resp_header(rs, "Retry-After", "1");
}

void resp_json(struct api_resp *rs, int status, cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        resp_internal(rs);
        return;
    }
    reset_body(rs);
    rs->status = status;
    rs->body = text;
    rs->len = strlen(text);
    rs->content_type = API_JSON_TYPE;
}

void resp_json_text(struct api_resp *rs, int status, struct buf *b, int append_rc)
{
    if (append_rc) {
        buf_release(b);
        resp_internal(rs);
        return;
    }
    reset_body(rs);
    rs->status = status;
    rs->body = buf_detach(b, &rs->len);
    rs->content_type = API_JSON_TYPE;
}

int json_put_string(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);
    while (rc == 0 && *s) {
        /* Runs of bytes that need no escape go in one append. */
        size_t n = 0;
        while (s[n] && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20)
            n++;
        rc = buf_append(b, s, n);
        s += n;
        if (rc == 0 && *s) {
            unsigned char c = (unsigned char)*s++;
            rc = c == '"' || c == '\\' ? buf_printf(b, "\\%c", c) : buf_printf(b, "\\u%04x", c);
        }
    }
    return rc ? rc : buf_append(b, "\"", 1);
}

void resp_empty(struct api_resp *rs, int status)
{
    reset_body(rs);
    rs->status = status;
}

void resp_error(struct api_resp *rs, int status, const char *code, const char *field,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *doc = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(doc, "error");
    cJSON_AddStringToObject(err, "code", code);
    /* Messages and fields quote what the client sent, cut to a size in
     * bytes, which can split a character (found by fuzz_ingest and
     * fuzz_webhook). */
    utf8_scrub(msg);
    cJSON_AddStringToObject(err, "message", msg);
    if (field && *field) {
        char *f = xstrdup(field);
        utf8_scrub(f);
        if (f[0])
            cJSON_AddStringToObject(err, "field", f);
        free(f);
    }
    resp_json(rs, status, doc);
}

void resp_verr(struct api_resp *rs, const struct verr *e)
{
    resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", e->field, "%s", e->message);
}

void resp_store_error(struct api_resp *rs, int rc, const char *what)
{
    switch (rc) {
    case HERALD_ENOTFOUND:
        resp_error(rs, HTTP_NOT_FOUND, "not_found", NULL, "%s not found", what);
        break;
    case HERALD_ECONFLICT:
        resp_error(rs, HTTP_CONFLICT, "conflict", NULL, "%s conflicts with an existing one", what);
        break;
    case HERALD_ETOOBIG:
        resp_error(rs, HTTP_TOO_LARGE, "too_large", NULL, "%s is too large", what);
        break;
    default:
        resp_error(rs, HTTP_UNAVAILABLE, "unavailable", NULL,
                   "the store could not complete the request; nothing was changed, try again");
        resp_header(rs, "Retry-After", "1");
        break;
    }
}

const char *req_query(const struct api_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_header(const struct api_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* The media type of Content-Type without parameters, lowercase-compared. */
static bool media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static bool looks_like_json(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i < n && s[i] == '{';
}

/* Refuses \u0000 escapes wherever cJSON would read the text (see
 * jsonspan.h); the value of raw_member is stored raw and exempt. */
static bool refuse_nul(struct api_req *rq, struct api_resp *rs, const char *raw_member)
{
    struct json_span exempt = {0, 0};
    bool exempt_found = false;
    long at = 0;
    while ((at = json_find_nul_escape(rq->body, rq->body_len, (size_t)at)) >= 0) {
        /* Located only when needed: a walk over the whole body, and
         * almost no body holds an escaped NUL. */
        if (raw_member && !exempt_found) {
            json_member_span(rq->body, rq->body_len, raw_member, &exempt);
            exempt_found = true;
        }
        if ((size_t)at >= exempt.start && (size_t)at < exempt.end) {
            at = (long)exempt.end;
            continue;
        }
        char key[64] = "";
        json_member_at(rq->body, rq->body_len, (size_t)at, key, sizeof key);
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", key,
                   "%s must not contain NUL characters", key[0] ? key : "the body");
        return false;
    }
    return true;
}

static bool parse_json_object(struct api_req *rq, struct api_resp *rs, const char *raw_member,
                              cJSON **out)
{
    /* The strict scanner first: cJSON alone would accept raw control
     * characters and lone surrogates that a receiver may choke on. */
    if (!json_valid(rq->body, rq->body_len)) {
        resp_error(rs, HTTP_BAD_REQUEST, "malformed_json", NULL,
                   "the body is not well-formed JSON");
        return false;
    }
    if (!refuse_nul(rq, rs, raw_member))
        return false;
    cJSON *doc = cJSON_ParseWithLength(rq->body, rq->body_len);
    if (!doc) {
        resp_error(rs, HTTP_BAD_REQUEST, "malformed_json", NULL,
                   "the body is not well-formed JSON");
        return false;
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        resp_error(rs, HTTP_BAD_REQUEST, "invalid_body", NULL, "the body must be a JSON object");
        return false;
    }
    *out = doc;
    return true;
}

bool req_object(struct api_req *rq, struct api_resp *rs, bool allow_form, cJSON **out,
                bool *from_form)
{
    return req_object_raw(rq, rs, allow_form, NULL, out, from_form);
}

bool req_object_raw(struct api_req *rq, struct api_resp *rs, bool allow_form,
                    const char *raw_member, cJSON **out, bool *from_form)
{
    const char *ct = req_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool form = ct && media_type_is(ct, "application/x-www-form-urlencoded");
    /* `curl -d '{…}'` labels JSON as a form. No form starts with '{', so
     * such a body is read as the JSON it obviously is. */
    if (form && looks_like_json(rq->body, rq->body_len))
        form = false, ct = NULL;
    *out = NULL;
    if (from_form)
        *from_form = false;
    if (ct && !form && !media_type_is(ct, "application/json")) {
        resp_error(rs, HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", NULL,
                   allow_form ? "send application/json or application/x-www-form-urlencoded"
                              : "send application/json");
        return false;
    }
    if (form && !allow_form) {
        resp_error(rs, HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", NULL,
                   "send application/json");
        return false;
    }
    if (rq->body_len == 0) {
        *out = cJSON_CreateObject();
        if (!*out) {
            resp_internal(rs);
            return false;
        }
        if (from_form)
            *from_form = form;
        return true;
    }
    if (!form)
        return parse_json_object(rq, rs, raw_member, out);
    const char *why = NULL;
    int rc = form_parse(rq->body, rq->body_len, out, &why);
    if (rc == HERALD_ENOMEM) {
        resp_internal(rs);
        return false;
    }
    if (rc) {
        resp_error(rs, HTTP_BAD_REQUEST, "malformed_form", NULL, "%s", why);
        return false;
    }
    if (from_form)
        *from_form = true;
    return true;
}

bool req_known_fields(const cJSON *body, const char *const *allowed, struct api_resp *rs)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, it->string) == 0;
        if (!known) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", it->string,
                       "unknown field %.64s", it->string);
            return false;
        }
    }
    return true;
}

bool req_string(const cJSON *body, const char *field, const char **out, struct api_resp *rs)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, field);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", field, "%s must be a string",
                   field);
        return false;
    }
    *out = v->valuestring;
    return true;
}

bool parse_strict_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s)
        return false;
    const char *p = s[0] == '-' ? s + 1 : s;
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return false;
    return parse_int64(s, min, max, out);
}

static const char *query_alias(const struct api_req *rq, const char *name, const char *alias,
                               const char **used)
{
    const char *v = req_query(rq, name);
    *used = name;
    if (!v && alias && (v = req_query(rq, alias)) != NULL)
        *used = alias;
    return v;
}

bool req_paging(struct api_req *rq, struct api_resp *rs, int *page, int *count)
{
    const char *used;
    int64_t v;
    *page = 0;
    *count = 20;
    const char *p = query_alias(rq, "page", "_page", &used);
    if (p) {
        if (!parse_strict_int(p, 0, 1000000, &v)) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", used,
                       "%s must be an integer from 0 to 1000000", used);
            return false;
        }
        *page = (int)v;
    }
    const char *c = query_alias(rq, "count", "_count", &used);
    if (c) {
        if (!parse_strict_int(c, 1, 100, &v) || (v != 20 && v != 25 && v != 50 && v != 100)) {
            resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", used,
                       "%s must be 20, 25, 50 or 100", used);
            return false;
        }
        *count = (int)v;
    }
    return true;
}

bool req_time(struct api_req *rq, struct api_resp *rs, const char *name, int64_t *out)
{
    const char *v = req_query(rq, name);
    *out = 0;
    if (!v)
        return true;
    if (!clock_parse(v, out) || *out <= 0) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", name,
                   "%s must be an RFC 3339 time or unix seconds", name);
        return false;
    }
    return true;
}

const char *req_id(struct api_req *rq, struct api_resp *rs, size_t i, const char *prefix,
                   const char *what)
{
    const char *id = i < rq->n_params ? rq->params[i] : NULL;
    if (!id || !id_valid(id, prefix)) {
        resp_error(rs, HTTP_NOT_FOUND, "not_found", NULL, "%s not found", what);
        return NULL;
    }
    return id;
}

void json_add_time(cJSON *o, const char *key, int64_t ms)
{
    if (ms == 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char t[32];
    clock_format(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

void json_add_raw(cJSON *o, const char *key, const char *text, size_t len)
{
    if (!text || !json_valid(text, len)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    /* cJSON_CreateRaw copies a C string; stored payloads may lack the NUL. */
    char *copy = malloc(len + 1);
    if (!copy) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    cJSON_AddRawToObject(o, key, copy);
    free(copy);
}

/* Length of the valid UTF-8 sequence at s[i] (1 for ASCII), 0 if none. */
static size_t utf8_len_at(const unsigned char *s, size_t n, size_t i)
{
    for (size_t k = 1; k <= 4 && i + k <= n; k++)
        if (utf8_valid((const char *)s + i, k))
            return k;
    return 0;
}

void json_add_text(cJSON *o, const char *key, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    struct buf b;
    buf_init(&b, 3 * n + 1);
    for (size_t i = 0; s && i < n;) {
        size_t k = utf8_len_at(u, n, i);
        if (k) {
            buf_append(&b, s + i, k);
            i += k;
        } else {
            buf_append(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    size_t len;
    char *text = buf_detach(&b, &len);
    cJSON_AddStringToObject(o, key, text);
    free(text);
}

cJSON *json_list(cJSON *items, int64_t total, int page, int count)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "items", items);
    cJSON_AddNumberToObject(doc, "total", (double)total);
    cJSON_AddNumberToObject(doc, "page", page);
    cJSON_AddNumberToObject(doc, "count", count);
    return doc;
}
