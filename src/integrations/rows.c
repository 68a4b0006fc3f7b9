/* rows.c — the flat "rows" payload of rows.h.
 *
 * It walks the published bytes with the strict scanner of api/jsonspan.h
 * instead of parsing them into cJSON, so every scalar goes out exactly as
 * it was published (cJSON would turn 12345678901234567890 into a double). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonspan.h"
#include "core/clock.h"
#include "core/err.h"
#include "integrations/rows.h"

#define KEY_CAP (1024 * 1024) /* a dotted path; data is capped far below this */

struct rows {
    const char *s; /* the data */
    size_t len;
    bool form;
    struct buf *out;
    struct buf key; /* the current dotted path: escaped JSON text, or decoded for forms */
    bool first;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const struct rows *r, size_t i)
{
    while (i < r->len && is_ws(r->s[i]))
        i++;
    return i;
}

/* ---- output encoders ---- */

static int json_escaped(struct buf *b, const char *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = buf_printf(b, "\\u%04x", c);
        else
            rc = buf_append(b, &s[i], 1);
    }
    return rc;
}

static int form_escaped(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            rc = buf_append(b, &s[i], 1);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_append(b, enc, 3);
        }
    }
    return rc;
}

/* s[0..n) of strict JSON without the whitespace between tokens. */
static int compact(struct buf *b, const char *s, size_t n)
{
    bool in_str = false, esc = false;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (is_ws(c)) {
            continue;
        }
        rc = buf_append(b, &c, 1);
    }
    return rc;
}

/* ---- emitting one column ---- */

static int emit_key(struct rows *r)
{
    int rc = buf_puts(r->out, r->first ? "" : r->form ? "&" : ",");
    r->first = false;
    if (rc)
        return rc;
    if (r->form) {
        rc = form_escaped(r->out, r->key.data, r->key.len);
        return rc ? rc : buf_puts(r->out, "=");
    }
    rc = buf_puts(r->out, "\"");
    if (rc == 0)
        rc = buf_append(r->out, r->key.data, r->key.len); /* already escaped */
    return rc ? rc : buf_puts(r->out, "\":");
}

/* An array or empty object: its compact JSON text as a string. */
static int emit_composite(struct rows *r, struct json_span v)
{
    struct buf tmp;
    buf_init(&tmp, v.end - v.start + 1);
    int rc = compact(&tmp, r->s + v.start, v.end - v.start);
    if (rc == 0)
        rc = emit_key(r);
    if (rc == 0 && r->form)
        rc = form_escaped(r->out, tmp.data, tmp.len);
    if (rc == 0 && !r->form) {
        rc = buf_puts(r->out, "\"");
        if (rc == 0)
            rc = json_escaped(r->out, tmp.data, tmp.len);
        if (rc == 0)
            rc = buf_puts(r->out, "\"");
    }
    buf_release(&tmp);
    return rc;
}

/* A form value: a string decoded, null empty, the rest as written. */
static int form_scalar(struct rows *r, struct json_span v)
{
    const char *p = r->s + v.start;
    size_t n = v.end - v.start;
    if (*p == 'n')
        return 0;
    if (*p != '"')
        return form_escaped(r->out, p, n);
    cJSON *str = cJSON_ParseWithLength(p, n);
    int rc = cJSON_IsString(str) ? form_escaped(r->out, str->valuestring, strlen(str->valuestring))
                                 : HERALD_EINVAL;
    cJSON_Delete(str);
    return rc;
}

static int emit_scalar(struct rows *r, struct json_span v)
{
    int rc = emit_key(r);
    if (rc)
        return rc;
    if (r->form)
        return form_scalar(r, v);
    return buf_append(r->out, r->s + v.start, v.end - v.start);
}

/* ---- the walk ---- */

static int flatten(struct rows *r, struct json_span v);

/* Appends "." and the key (the JSON string at k) to the path. */
static int push_key(struct rows *r, struct json_span k)
{
    int rc = buf_puts(&r->key, ".");
    if (rc)
        return rc;
    if (!r->form) /* the escaped text between the quotes is valid inside ours */
        return buf_append(&r->key, r->s + k.start + 1, k.end - k.start - 2);
    cJSON *str = cJSON_ParseWithLength(r->s + k.start, k.end - k.start);
    rc = cJSON_IsString(str) ? buf_puts(&r->key, str->valuestring) : HERALD_EINVAL;
    cJSON_Delete(str);
    return rc;
}

static void pop_key(struct rows *r, size_t len)
{
    r->key.len = len;
    if (r->key.data)
        r->key.data[len] = '\0';
}

static int flatten_object(struct rows *r, struct json_span v)
{
    size_t i = skip_ws(r, v.start + 1);
    if (r->s[i] == '}')
        return emit_composite(r, v);
    for (;;) {
        struct json_span k, val;
        if (!json_skip_value(r->s, v.end, &i, &k))
            return HERALD_EINVAL;
        i = skip_ws(r, i);
        if (i >= v.end || r->s[i] != ':')
            return HERALD_EINVAL;
        i++;
        if (!json_skip_value(r->s, v.end, &i, &val))
            return HERALD_EINVAL;
        size_t mark = r->key.len;
        int rc = push_key(r, k);
        if (rc == 0)
            rc = flatten(r, val);
        pop_key(r, mark);
        if (rc)
            return rc;
        i = skip_ws(r, i);
        if (i < v.end && r->s[i] == ',') {
            i = skip_ws(r, i + 1);
            continue;
        }
        return 0;
    }
}

static int flatten(struct rows *r, struct json_span v)
{
    char c = r->s[v.start];
    if (c == '{')
        return flatten_object(r, v);
    if (c == '[')
        return emit_composite(r, v);
    return emit_scalar(r, v);
}

/* ---- the envelope ---- */

static int emit_text(struct rows *r, const char *key, const char *value)
{
    int rc = buf_puts(r->out, r->first ? "" : r->form ? "&" : ",");
    r->first = false;
    if (rc)
        return rc;
    if (r->form) {
        rc = buf_puts(r->out, key);
        if (rc == 0)
            rc = buf_puts(r->out, "=");
        return rc ? rc : form_escaped(r->out, value, strlen(value));
    }
    rc = buf_printf(r->out, "\"%s\":\"", key);
    if (rc == 0)
        rc = json_escaped(r->out, value, strlen(value));
    return rc ? rc : buf_puts(r->out, "\"");
}

int rows_render(const char *event_id, const char *event_type, int64_t created_at, const char *data,
                size_t data_len, bool form, struct buf *out)
{
    struct rows r = {.s = data, .len = data_len, .form = form, .out = out, .first = true};
    char ts[32];
    clock_format(created_at, ts);
    buf_init(&r.key, KEY_CAP);
    int rc = form ? 0 : buf_puts(out, "{");
    if (rc == 0)
        rc = emit_text(&r, "id", event_id);
    if (rc == 0)
        rc = emit_text(&r, "type", event_type);
    if (rc == 0)
        rc = emit_text(&r, "timestamp", ts);
    if (rc == 0)
        rc = buf_puts(&r.key, "data");
    if (rc)
        goto out;
    size_t pos = 0;
    struct json_span v;
    if (data && json_skip_value(data, data_len, &pos, &v) && skip_ws(&r, pos) == data_len) {
        rc = flatten(&r, v);
    } else {
        char *copy = strndup(data ? data : "", data_len);
        rc = copy ? emit_text(&r, "data", copy) : HERALD_ENOMEM;
        free(copy);
    }
    if (rc == 0 && !form)
        rc = buf_puts(out, "}");
out:
    buf_release(&r.key);
    return rc;
}
