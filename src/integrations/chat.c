/* chat.c — the chat layouts of chat.h.
 *
 * A layout fills a neutral message (title, summary, a note saying what to
 * do, fields, links) from the event; one renderer per chat tool turns it
 * into that tool's JSON and escapes as that tool needs. Every part has a
 * byte budget well inside both tools' limits (Slack: header 150
 * characters, section text 3000, 10 fields; Discord: title 256, field
 * value 1024, 25 fields, 6000 in all), cut at a UTF-8 boundary with "…". */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "integrations/chat.h"

#define TITLE_MAX 150
#define TEXT_MAX 1200
#define NAME_MAX 64
#define VALUE_MAX 400
#define FIELDS_MAX 10 /* Slack's limit for one section */
#define LINKS_MAX 8
#define URL_MAX 1000
#define CODE_MAX 1000

enum color {
    GREEN = 0x2EB67D,
    RED = 0xE01E5A,
    BLUE = 0x36C5F0,
    GOLD = 0xECB22E,
    ORANGE = 0xF2994A,
    GREY = 0x9AA0A6,
};

struct field {
    char name[NAME_MAX];
    char value[VALUE_MAX];
    bool code; /* an identifier: shown as inline code */
};

struct link {
    char label[NAME_MAX];
    char url[URL_MAX];
};

/* Plain text everywhere; the renderers escape. */
struct msg {
    char title[TITLE_MAX];
    char summary[TEXT_MAX];
    char note[TEXT_MAX]; /* what to do about it, or "" */
    struct field fields[FIELDS_MAX];
    size_t n_fields;
    struct link links[LINKS_MAX];
    size_t n_links;
    char code[CODE_MAX]; /* data shown as JSON, or "" */
    enum color color;
    const char *type, *id;
    char time[32]; /* RFC 3339 with ms */
};

bool chat_kind_parse(const char *kind, enum chat_kind *out)
{
    if (strcmp(kind, "slack") == 0)
        *out = CHAT_SLACK;
    else if (strcmp(kind, "discord") == 0)
        *out = CHAT_DISCORD;
    else
        return false;
    return true;
}

/* ---- text helpers ---- */

/* Copies src into dst[cap]; when it does not fit, cuts at a UTF-8 character
 * boundary and ends with "…". */
static void text_set(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n < cap) {
        memcpy(dst, src, n + 1);
        return;
    }
    size_t keep = cap - 4; /* room for "…" (3 bytes) and NUL */
    while (keep > 0 && ((unsigned char)src[keep] & 0xC0) == 0x80)
        keep--;
    memcpy(dst, src, keep);
    memcpy(dst + keep, "\xE2\x80\xA6", 4);
}

static void text_printf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void text_printf(char *dst, size_t cap, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    text_set(dst, cap, tmp);
}

/* Integers get thousands separators (10342 -> "10,342"); other numbers
 * the shortest form that reads back the same. */
static void fmt_number(double v, char out[48])
{
    if (isfinite(v) && floor(v) == v && fabs(v) < 1e15) {
        char digits[24];
        long long x = (long long)v;
        snprintf(digits, sizeof digits, "%lld", x < 0 ? -x : x);
        size_t n = strlen(digits), o = 0;
        if (x < 0)
            out[o++] = '-';
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && (n - i) % 3 == 0)
                out[o++] = ',';
            out[o++] = digits[i];
        }
        out[o] = '\0';
        return;
    }
    snprintf(out, 48, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 48, "%.17g", v);
}

/* "engagement_rate" -> "Engagement rate". */
static void humanize(const char *key, char *out, size_t cap)
{
    text_set(out, cap, key);
    for (char *p = out; *p; p++)
        if (*p == '_')
            *p = ' ';
    out[0] = (char)toupper((unsigned char)out[0]);
}

static bool is_scalar(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsNull(v);
}

/* A value as text: strings as they are, numbers formatted, arrays of
 * scalars joined with ", ", anything else as compact JSON. */
static void value_text(const cJSON *v, char *out, size_t cap)
{
    char num[48];
    if (cJSON_IsString(v)) {
        text_set(out, cap, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        fmt_number(v->valuedouble, num);
        text_set(out, cap, num);
    } else if (cJSON_IsBool(v)) {
        text_set(out, cap, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNull(v)) {
        text_set(out, cap, "null");
    } else {
        bool flat = cJSON_IsArray(v);
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!is_scalar(it))
                flat = false;
        }
        if (flat) {
            char tmp[4096] = "", part[VALUE_MAX];
            size_t used = 0;
            cJSON_ArrayForEach(it, v)
            {
                value_text(it, part, sizeof part);
                used +=
                    (size_t)snprintf(tmp + used, sizeof tmp - used, "%s%s", used ? ", " : "", part);
                if (used >= sizeof tmp)
                    break;
            }
            text_set(out, cap, tmp);
            return;
        }
        char *json = cJSON_PrintUnformatted(v);
        text_set(out, cap, json ? json : "");
        cJSON_free(json);
    }
}

/* ---- reading the event data ---- */

/* The value of key a, or else of key b (may be NULL), when it is a
 * non-empty string; NULL otherwise. */
static const char *str_of(const cJSON *d, const char *a, const char *b)
{
    const char *keys[] = {a, b};
    for (size_t i = 0; i < 2 && keys[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, keys[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return v->valuestring;
    }
    return NULL;
}

static bool num_of(const cJSON *d, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

/* "platforms": ["instagram","x"] joined, or "platform": "instagram". */
static const char *platforms_of(const cJSON *d, char *buf, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "platforms");
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        value_text(v, buf, cap);
        return buf;
    }
    return str_of(d, "platform", "network");
}

/* ---- building the message ---- */

static void add_field(struct msg *m, const char *name, const char *value, bool code)
{
    if (!value || !*value || m->n_fields == FIELDS_MAX)
        return;
    struct field *f = &m->fields[m->n_fields++];
    text_set(f->name, sizeof f->name, name);
    text_set(f->value, sizeof f->value, value);
    f->code = code && !strchr(value, '`');
}

/* Only absolute http(s) URLs without spaces or control characters become
 * links; anything else (javascript:, relative paths) stays text. */
static bool url_ok(const char *u)
{
    if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0)
        return false;
    if (strlen(u) >= URL_MAX)
        return false;
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || (unsigned char)*u == 0x7f)
            return false;
    return true;
}

static void add_link(struct msg *m, const char *label, const char *url)
{
    if (!url || !url_ok(url) || m->n_links == LINKS_MAX)
        return;
    struct link *l = &m->links[m->n_links++];
    text_set(l->label, sizeof l->label, label);
    text_set(l->url, sizeof l->url, url);
}

/* ---- layouts, one per built-in type, and the generic one ---- */

static void layout_post_published(struct msg *m, const cJSON *d)
{
    char plats[VALUE_MAX];
    const char *post = str_of(d, "post_id", "postId");
    const char *where = platforms_of(d, plats, sizeof plats);
    m->color = GREEN;
    text_set(m->title, sizeof m->title, "Post published");
    if (post && where)
        text_printf(m->summary, sizeof m->summary, "Post %s was published to %s.", post, where);
    else if (post)
        text_printf(m->summary, sizeof m->summary, "Post %s was published.", post);
    else if (where)
        text_printf(m->summary, sizeof m->summary, "A post was published to %s.", where);
    else
        text_set(m->summary, sizeof m->summary, "A post was published.");
    add_field(m, "Post", post, true);
    add_field(m, "Platforms", where, false);
    add_field(m, "Published at", str_of(d, "published_at", "publishedAt"), false);
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(d, "urls"), *u;
    if (!cJSON_IsObject(urls))
        urls = NULL;
    cJSON_ArrayForEach(u, urls)
    {
        if (cJSON_IsString(u))
            add_link(m, u->string, u->valuestring);
    }
    const char *one = str_of(d, "platformPostUrl", "url");
    add_link(m, where ? where : "Post", one);
}

/* "error": "text" or {"code", "message"}, or "error_message". */
static void error_of(const cJSON *d, const char **code, const char **message)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "error");
    *code = NULL;
    *message = str_of(d, "error_message", "reason");
    if (cJSON_IsString(e) && e->valuestring[0]) {
        *message = e->valuestring;
    } else if (cJSON_IsObject(e)) {
        *code = str_of(e, "code", "type");
        const char *msg = str_of(e, "message", "detail");
        if (msg)
            *message = msg;
    }
}

static void layout_post_failed(struct msg *m, const cJSON *d)
{
    char plats[VALUE_MAX];
    const char *post = str_of(d, "post_id", "postId");
    const char *where = platforms_of(d, plats, sizeof plats);
    const char *code, *why;
    error_of(d, &code, &why);
    m->color = RED;
    text_set(m->title, sizeof m->title, "Post failed");
    char subject[512], place[512] = "";
    if (post)
        snprintf(subject, sizeof subject, "Post %s", post);
    else
        snprintf(subject, sizeof subject, "A post");
    if (where)
        snprintf(place, sizeof place, " on %s", where);
    if (why)
        text_printf(m->summary, sizeof m->summary, "%s failed to publish%s: %s", subject, place,
                    why);
    else
        text_printf(m->summary, sizeof m->summary, "%s failed to publish%s.", subject, place);
    add_field(m, "Post", post, true);
    add_field(m, "Platform", where, false);
    add_field(m, "Error code", code, true);
    add_field(m, "Error", why, false);
}

static void layout_milestone(struct msg *m, const cJSON *d)
{
    const char *post = str_of(d, "post_id", "postId");
    const char *what = str_of(d, "milestone", "metric");
    double threshold, value;
    bool has_t = num_of(d, "threshold", &threshold), has_v = num_of(d, "value", &value);
    char t[48] = "", v[48] = "";
    if (has_t)
        fmt_number(threshold, t);
    if (has_v)
        fmt_number(value, v);
    m->color = GOLD;
    if (has_t && what)
        text_printf(m->title, sizeof m->title, "Milestone: %s %s", t, what);
    else
        text_set(m->title, sizeof m->title, "Milestone reached");
    char subject[512] = "A post";
    if (post)
        snprintf(subject, sizeof subject, "Post %s", post);
    if (has_t && what && has_v)
        text_printf(m->summary, sizeof m->summary, "%s passed %s %s (now %s).", subject, t, what,
                    v);
    else if (has_t && what)
        text_printf(m->summary, sizeof m->summary, "%s passed %s %s.", subject, t, what);
    else
        text_printf(m->summary, sizeof m->summary, "%s reached a milestone.", subject);
    add_field(m, "Post", post, true);
    add_field(m, "Milestone", what, false);
    add_field(m, "Threshold", has_t ? t : NULL, false);
    add_field(m, "Now", has_v ? v : NULL, false);
    add_field(m, "Reached at", str_of(d, "reached_at", "reachedAt"), false);
}

/* "5,420 views, 312 likes, …" from an object of numbers. */
static void figures_text(const cJSON *o, const char *sep, char *out, size_t cap)
{
    char tmp[2048] = "", num[48], name[NAME_MAX];
    size_t used = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (!cJSON_IsNumber(it) || used >= sizeof tmp)
            continue;
        fmt_number(it->valuedouble, num);
        text_set(name, sizeof name, it->string);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = ' ';
        used +=
            (size_t)snprintf(tmp + used, sizeof tmp - used, "%s%s %s", used ? sep : "", num, name);
    }
    text_set(out, cap, tmp);
}

static void layout_analytics(struct msg *m, const cJSON *d)
{
    const char *post = str_of(d, "post_id", "postId");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(d, "metrics");
    const cJSON *per = cJSON_GetObjectItemCaseSensitive(d, "platforms"), *it;
    char figures[TEXT_MAX] = "", name[NAME_MAX], num[48];
    if (!cJSON_IsObject(metrics))
        metrics = NULL;
    if (!cJSON_IsObject(per))
        per = NULL;
    m->color = BLUE;
    text_set(m->title, sizeof m->title, "Analytics updated");
    if (metrics)
        figures_text(metrics, ", ", figures, sizeof figures);
    char subject[512] = "a post";
    if (post)
        snprintf(subject, sizeof subject, "post %s", post);
    if (figures[0])
        text_printf(m->summary, sizeof m->summary, "New figures for %s: %s.", subject, figures);
    else
        text_printf(m->summary, sizeof m->summary, "New figures for %s.", subject);
    add_field(m, "Post", post, true);
    cJSON_ArrayForEach(it, metrics)
    {
        if (!cJSON_IsNumber(it))
            continue;
        humanize(it->string, name, sizeof name);
        fmt_number(it->valuedouble, num);
        add_field(m, name, num, false);
    }
    cJSON_ArrayForEach(it, per)
    {
        if (!cJSON_IsObject(it))
            continue;
        char per_text[VALUE_MAX];
        humanize(it->string, name, sizeof name);
        figures_text(it, " · ", per_text, sizeof per_text);
        add_field(m, name, per_text, false);
    }
}

static void layout_token_expired(struct msg *m, const cJSON *d)
{
    const char *platform = str_of(d, "platform", "network");
    const char *acct = str_of(d, "account_id", "accountId");
    const char *when = str_of(d, "expired_at", "expiredAt");
    const char *action = str_of(d, "action", "message");
    m->color = ORANGE;
    if (platform)
        text_printf(m->title, sizeof m->title, "Reconnect %s: the token expired", platform);
    else
        text_set(m->title, sizeof m->title, "Reconnect needed: a token expired");
    char subject[512];
    if (platform && acct)
        snprintf(subject, sizeof subject, "The %s token of account %s", platform, acct);
    else if (platform || acct)
        snprintf(subject, sizeof subject, "The token of %s", platform ? platform : acct);
    else
        snprintf(subject, sizeof subject, "An account's token");
    if (when)
        text_printf(m->summary, sizeof m->summary,
                    "%s expired at %s; posts to it fail until it is renewed.", subject, when);
    else
        text_printf(m->summary, sizeof m->summary,
                    "%s expired; posts to it fail until it is renewed.", subject);
    text_set(m->note, sizeof m->note,
             action ? action : "Reconnect the account to renew its token.");
    add_field(m, "Account", acct, true);
    add_field(m, "Platform", platform, false);
    add_field(m, "Expired at", when, false);
}

static void layout_exhausted(struct msg *m, const cJSON *d)
{
    const char *hook = str_of(d, "webhook_id", NULL), *evt = str_of(d, "event_id", NULL);
    const char *dlv = str_of(d, "delivery_id", NULL), *etype = str_of(d, "event_type", NULL);
    const char *err = str_of(d, "last_error", NULL);
    double attempts = 0, code = 0;
    num_of(d, "attempts", &attempts);
    num_of(d, "last_response_code", &code);
    char last[64] = "", n[48];
    fmt_number(attempts, n);
    if (code > 0)
        snprintf(last, sizeof last, "HTTP %d", (int)code);
    else if (err)
        text_set(last, sizeof last, err);
    m->color = RED;
    if (attempts > 0)
        text_printf(m->title, sizeof m->title, "Delivery failed after %s attempt%s", n,
                    attempts == 1 ? "" : "s");
    else
        text_set(m->title, sizeof m->title, "Delivery failed");
    text_printf(m->summary, sizeof m->summary,
                "herald gave up delivering %s%s%s to webhook %s%s%s%s.", etype ? etype : "an event",
                evt ? " event " : "", evt ? evt : "", hook ? hook : "(unknown)",
                last[0] ? " (last answer: " : "", last, last[0] ? ")" : "");
    if (dlv)
        text_printf(m->note, sizeof m->note,
                    "Once the endpoint is fixed, resend it: POST /v1/deliveries/%s/retry", dlv);
    add_field(m, "Webhook", hook, true);
    add_field(m, "Event", evt, true);
    add_field(m, "Event type", etype, false);
    add_field(m, "Delivery", dlv, true);
    add_field(m, "Attempts", attempts > 0 ? n : NULL, false);
    add_field(m, "Last answer", last, false);
}

static void layout_disabled(struct msg *m, const cJSON *d)
{
    const char *hook = str_of(d, "webhook_id", NULL), *reason = str_of(d, "reason", NULL);
    const char *url = str_of(d, "url", NULL);
    const char *why = !reason                          ? NULL
                      : strcmp(reason, "gone") == 0    ? "the endpoint answered 410 Gone"
                      : strcmp(reason, "failing") == 0 ? "every attempt failed for days"
                                                       : reason;
    m->color = RED;
    text_set(m->title, sizeof m->title, "Webhook disabled");
    text_printf(m->summary, sizeof m->summary, "herald disabled webhook %s%s%s.",
                hook ? hook : "(unknown)", why ? ": " : "", why ? why : "");
    text_printf(m->note, sizeof m->note,
                "Fix the endpoint, then enable the webhook again: PATCH /v1/webhooks/%s "
                "{\"enabled\": true}",
                hook ? hook : "{id}");
    add_field(m, "Webhook", hook, true);
    add_field(m, "Reason", reason, false);
    add_field(m, "URL", url, false);
}

static void layout_generic(struct msg *m, const cJSON *d, const char *data, size_t data_len)
{
    m->color = GREY;
    text_set(m->title, sizeof m->title, m->type);
    text_printf(m->summary, sizeof m->summary, "New %s event.", m->type);
    if (!cJSON_IsObject(d)) {
        /* Not an object (or not JSON at all): show the data itself. */
        char *json = d ? cJSON_PrintUnformatted(d) : NULL;
        if (json)
            text_set(m->code, sizeof m->code, json);
        else
            text_printf(m->code, sizeof m->code, "%.*s", (int)(data_len < 4000 ? data_len : 4000),
                        data ? data : "");
        cJSON_free(json);
        return;
    }
    int total = cJSON_GetArraySize(d), shown = 0;
    const cJSON *it;
    char value[VALUE_MAX];
    cJSON_ArrayForEach(it, d)
    {
        if (m->n_fields == FIELDS_MAX)
            break;
        value_text(it, value, sizeof value);
        add_field(m, it->string, value[0] ? value : "\"\"", false);
        shown++;
    }
    if (shown < total)
        text_printf(m->note, sizeof m->note, "…and %d more fields.", total - shown);
}

static void layout(struct msg *m, const cJSON *d, const char *data, size_t data_len)
{
    static const struct {
        const char *type;
        void (*fn)(struct msg *m, const cJSON *d);
    } layouts[] = {
        {"post.published", layout_post_published},       {"post.failed", layout_post_failed},
        {"analytics.milestone", layout_milestone},       {"analytics.updated", layout_analytics},
        {"account.token_expired", layout_token_expired}, {"delivery.exhausted", layout_exhausted},
        {"webhook.disabled", layout_disabled},
    };
    for (size_t i = 0; cJSON_IsObject(d) && i < ARRAY_SIZE(layouts); i++) {
        if (strcmp(m->type, layouts[i].type) == 0) {
            layouts[i].fn(m, d);
            return;
        }
    }
    layout_generic(m, d, data, data_len);
}

/* ---- Slack: Block Kit ---- */

/* Slack's mrkdwn knows three escapes and no backslash (api.slack.com,
 * "Formatting text for app surfaces"); escaping < also stops <!channel>
 * and <@user> mentions. */
static void slack_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            buf_puts(b, "&amp;");
        else if (*s == '<')
            buf_puts(b, "&lt;");
        else if (*s == '>')
            buf_puts(b, "&gt;");
        else
            buf_append(b, s, 1);
    }
}

static cJSON *slack_text(const char *type, const char *text)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", type);
    cJSON_AddStringToObject(t, "text", text);
    return t;
}

static void slack_section(cJSON *blocks, const char *mrkdwn)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "section");
    cJSON_AddItemToObject(s, "text", slack_text("mrkdwn", mrkdwn));
    cJSON_AddItemToArray(blocks, s);
}

static void slack_fields(cJSON *blocks, const struct msg *m, struct buf *b)
{
    cJSON *s = cJSON_CreateObject(), *fields = cJSON_CreateArray();
    cJSON_AddStringToObject(s, "type", "section");
    for (size_t i = 0; i < m->n_fields; i++) {
        const struct field *f = &m->fields[i];
        buf_reset(b);
        buf_puts(b, "*");
        slack_escape(b, f->name);
        buf_puts(b, f->code ? "*\n`" : "*\n");
        slack_escape(b, f->value);
        if (f->code)
            buf_puts(b, "`");
        cJSON_AddItemToArray(fields, slack_text("mrkdwn", b->data));
    }
    cJSON_AddItemToObject(s, "fields", fields);
    cJSON_AddItemToArray(blocks, s);
}

static cJSON *render_slack(const struct msg *m)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    cJSON *root = cJSON_CreateObject(), *blocks = cJSON_CreateArray();
    buf_reset(&b);
    slack_escape(&b, m->summary);
    cJSON_AddStringToObject(root, "text", b.data ? b.data : "");

    cJSON *header = cJSON_CreateObject();
    cJSON_AddStringToObject(header, "type", "header");
    cJSON_AddItemToObject(header, "text", slack_text("plain_text", m->title));
    cJSON_AddItemToArray(blocks, header);

    if (m->note[0]) {
        buf_puts(&b, "\n");
        slack_escape(&b, m->note);
    }
    slack_section(blocks, b.data);
    if (m->n_fields)
        slack_fields(blocks, m, &b);
    if (m->n_links) {
        buf_reset(&b);
        for (size_t i = 0; i < m->n_links; i++) {
            buf_puts(&b, i ? "\n<" : "<");
            slack_escape(&b, m->links[i].url);
            buf_puts(&b, "|");
            slack_escape(&b, m->links[i].label);
            buf_puts(&b, ">");
        }
        slack_section(blocks, b.data);
    }
    if (m->code[0]) {
        buf_reset(&b);
        buf_puts(&b, "```");
        slack_escape(&b, m->code);
        buf_puts(&b, "```");
        slack_section(blocks, b.data);
    }
    char when[32];
    snprintf(when, sizeof when, "%.10s %.5s UTC", m->time, m->time + 11);
    buf_reset(&b);
    buf_puts(&b, "`");
    slack_escape(&b, m->type);
    buf_printf(&b, "` · %s · %s", m->id, when);
    cJSON *ctx = cJSON_CreateObject(), *elems = cJSON_CreateArray();
    cJSON_AddStringToObject(ctx, "type", "context");
    cJSON_AddItemToArray(elems, slack_text("mrkdwn", b.data));
    cJSON_AddItemToObject(ctx, "elements", elems);
    cJSON_AddItemToArray(blocks, ctx);

    cJSON_AddItemToObject(root, "blocks", blocks);
    buf_release(&b);
    return root;
}

/* ---- Discord: content and one embed ---- */

/* Backslash-escapes Discord markdown. An underscore only formats at a word
 * boundary, so identifiers such as post_abc123 stay readable as they are. */
static void discord_escape(struct buf *b, const char *s)
{
    const char *start = s;
    for (; *s; s++) {
        char c = *s;
        bool esc = strchr("\\*`~|>[]", c) != NULL;
        if (c == '_') {
            bool before = s > start && isalnum((unsigned char)s[-1]);
            bool after = isalnum((unsigned char)s[1]);
            esc = !(before && after);
        }
        if (esc)
            buf_append(b, "\\", 1);
        buf_append(b, s, 1);
    }
}

static void discord_link_url(struct buf *b, const char *url)
{
    /* A ) or space would end the markdown link early. */
    for (; *url; url++) {
        if (*url == ')')
            buf_puts(b, "%29");
        else if (*url == '(')
            buf_puts(b, "%28");
        else
            buf_append(b, url, 1);
    }
}

static cJSON *discord_fields(const struct msg *m, struct buf *b)
{
    cJSON *fields = cJSON_CreateArray();
    for (size_t i = 0; i < m->n_fields; i++) {
        const struct field *f = &m->fields[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", f->name);
        buf_reset(b);
        if (f->code) {
            buf_puts(b, "`");
            buf_puts(b, f->value);
            buf_puts(b, "`");
        } else {
            discord_escape(b, f->value);
        }
        cJSON_AddStringToObject(o, "value", b->data);
        cJSON_AddBoolToObject(o, "inline", true);
        cJSON_AddItemToArray(fields, o);
    }
    return fields;
}

static cJSON *render_discord(const struct msg *m)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    cJSON *root = cJSON_CreateObject(), *embeds = cJSON_CreateArray();
    cJSON *embed = cJSON_CreateObject();
    discord_escape(&b, m->summary);
    cJSON_AddStringToObject(root, "content", b.data ? b.data : "");
    cJSON_AddStringToObject(embed, "title", m->title);

    buf_reset(&b);
    if (m->note[0])
        discord_escape(&b, m->note);
    for (size_t i = 0; i < m->n_links; i++) {
        buf_puts(&b, b.len ? "\n[" : "[");
        discord_escape(&b, m->links[i].label);
        buf_puts(&b, "](");
        discord_link_url(&b, m->links[i].url);
        buf_puts(&b, ")");
    }
    if (m->code[0]) {
        buf_puts(&b, b.len ? "\n```json\n" : "```json\n");
        buf_puts(&b, m->code); /* no escapes inside a code block; ``` is cut below */
        buf_puts(&b, "\n```");
    }
    if (b.len)
        cJSON_AddStringToObject(embed, "description", b.data);
    cJSON_AddNumberToObject(embed, "color", m->color);
    if (m->n_fields)
        cJSON_AddItemToObject(embed, "fields", discord_fields(m, &b));
    cJSON *footer = cJSON_CreateObject();
    buf_reset(&b);
    buf_printf(&b, "%s · %s", m->type, m->id);
    cJSON_AddStringToObject(footer, "text", b.data);
    cJSON_AddItemToObject(embed, "footer", footer);
    cJSON_AddStringToObject(embed, "timestamp", m->time);
    cJSON_AddItemToArray(embeds, embed);
    cJSON_AddItemToObject(root, "embeds", embeds);

    /* Nothing in an event may ping a channel (@everyone, <@id>). */
    cJSON *mentions = cJSON_CreateObject();
    cJSON_AddItemToObject(mentions, "parse", cJSON_CreateArray());
    cJSON_AddItemToObject(root, "allowed_mentions", mentions);
    buf_release(&b);
    return root;
}

/* ---- entry point ---- */

/* A code block must not be closed early by the data itself. */
static void defuse_fences(char *s)
{
    for (char *p = strstr(s, "```"); p; p = strstr(p, "```"))
        p[1] = '\'';
}

int chat_render(enum chat_kind kind, const char *event_id, const char *event_type,
                int64_t created_at, const char *data, size_t data_len, struct buf *out)
{
    struct msg *m = xcalloc(1, sizeof *m);
    m->type = event_type;
    m->id = event_id;
    clock_format(created_at, m->time);
    cJSON *d = data && data_len ? cJSON_ParseWithLength(data, data_len) : NULL;
    layout(m, d, data, data_len);
    cJSON_Delete(d);
    defuse_fences(m->code);

    cJSON *root = kind == CHAT_SLACK ? render_slack(m) : render_discord(m);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    free(m);
    if (!text)
        return HERALD_ENOMEM;
    int rc = buf_puts(out, text);
    cJSON_free(text);
    return rc;
}
