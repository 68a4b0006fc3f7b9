/* libFuzzer target for a webhook's custom headers as src/dispatch/send.c
 * reads them (target_load_headers, through send_target_init) and sends
 * them (attempt_prepare_target). The stored text is what the API wrote,
 * but a hand-edited or older row may hold anything. Byte 0 picks the
 * signature scheme (bits 0-2, of five), a custom signature header name
 * (bit 3) and timestamp header name (bit 4), and a form content type
 * (bit 5); the rest is the webhook's headers text.
 *
 * Checks, beyond no crash and no leak: at most 64 custom headers, each an
 * RFC 9110 token name of at most 128 bytes and a value of at most 4096
 * bytes without control characters but tab, none framing the request or
 * repeating a header herald sets (the scheme's own included); each is a
 * string member of the text, in order, its value without the blanks
 * around it (RFC 9110 §5.5: they are not part of a value); each goes out
 * as libcurl sends it ("Name: value" with something after the blanks, or
 * "Name;" for an empty value: a blank value after the colon would be
 * dropped by libcurl while the log lists it); and the log's copy is JSON
 * naming exactly them. Whatever validate_headers (the API) accepts is
 * sent whole, but for the scheme's own header names. The request built
 * with them has no CR or LF inside a line, and herald's own headers once
 * each. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/validate.h"
#include "core/config.h"
#include "core/util.h"
#include "dispatch/send.h"
#include "fuzz_input.h"
#include "store/store.h"

#define CUSTOM_MAX SEND_CUSTOM_HEADERS_MAX
#define NAME_MAX_LEN SEND_HEADER_NAME_MAX
#define VALUE_MAX_LEN SEND_HEADER_VALUE_MAX

static const char *const schemes[] = {"standard", "github", "stripe", "hex", "timestamped-hex"};

/* Headers that frame the request or are hop-by-hop: never custom. */
static const char *const framing[] = {"host",
                                      "content-length",
                                      "transfer-encoding",
                                      "connection",
                                      "keep-alive",
                                      "te",
                                      "trailer",
                                      "upgrade",
                                      "expect",
                                      "proxy-authorization",
                                      "proxy-connection"};

static bool token(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
            return false;
    return true;
}

/* The name of a request line ("Name: value", "Name;", "Expect:"). */
static size_t name_len(const char *line)
{
    return strcspn(line, ":;");
}

static bool named(const char *line, const char *name)
{
    size_t n = name_len(line);
    return n == strlen(name) && strncasecmp(line, name, n) == 0;
}

/* s without the blanks around it, into out[cap]. */
static void trim(const char *s, char *out, size_t cap)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap)
        abort();
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Checks custom line i of t, whose name and value it returns. */
static void check_line(const struct send_target *t, size_t i, char *name, char *value)
{
    const char *line = t->custom[i];
    size_t n = name_len(line);
    if (!token(line, n))
        abort();
    memcpy(name, line, n);
    name[n] = '\0';
    if (strcmp(line + n, ";") == 0) {
        value[0] = '\0';
    } else {
        /* libcurl drops a "Name:" line with nothing but blanks after it. */
        if (strncmp(line + n, ": ", 2) != 0 || !line[n + 2] || line[n + 2] == ' ' ||
            line[n + 2] == '\t')
            abort();
        size_t vl = strlen(line + n + 2);
        if (vl > VALUE_MAX_LEN)
            abort();
        memcpy(value, line + n + 2, vl + 1);
    }
    for (const char *v = value; *v; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            abort();
    for (size_t k = 0; k < sizeof framing / sizeof *framing; k++)
        if (strcasecmp(name, framing[k]) == 0)
            abort();
    if (strcasecmp(name, t->sig_header) == 0 || strcasecmp(name, t->ts_header) == 0)
        abort();
}

/* The custom headers: lines, log copy, and where they come from. */
static void check_custom(const struct send_target *t, const cJSON *doc)
{
    if (t->n_custom > CUSTOM_MAX || !t->custom_json ||
        (t->custom_json[0] && t->custom_json[0] != ','))
        abort();
    size_t jl = strlen(t->custom_json);
    char *obj = malloc(jl + 3);
    if (!obj)
        abort();
    snprintf(obj, jl + 3, "{%s}", t->custom_json + (jl > 0)); /* without its first comma */
    cJSON *log = cJSON_Parse(obj);
    if (!cJSON_IsObject(log) || (size_t)cJSON_GetArraySize(log) != t->n_custom)
        abort();
    const cJSON *member = cJSON_IsObject(doc) ? doc->child : NULL, *logged = log->child;
    char name[NAME_MAX_LEN + 1], value[VALUE_MAX_LEN + 1], want[VALUE_MAX_LEN + 1];
    for (size_t i = 0; i < t->n_custom; i++, logged = logged->next) {
        check_line(t, i, name, value);
        if (strcmp(logged->string, name) != 0 || !cJSON_IsString(logged) ||
            strcmp(logged->valuestring, value) != 0)
            abort();
        /* The next member of the text with that name and value. */
        for (; member; member = member->next) {
            if (!cJSON_IsString(member) || strcmp(member->string, name) != 0 ||
                strlen(member->valuestring) > VALUE_MAX_LEN)
                continue;
            trim(member->valuestring, want, sizeof want);
            if (strcmp(want, value) == 0)
                break;
        }
        if (!member)
            abort();
        member = member->next;
    }
    cJSON_Delete(log);
    free(obj);
}

/* What the API accepts is sent whole and as stored, name for name and
 * value for value, in order, but for the scheme's header names (which
 * webhook_apply, not validate_headers, keeps apart). */
static void check_accepted(const struct send_target *t, const cJSON *doc)
{
    struct verr e;
    char *json = NULL;
    if (!cJSON_IsObject(doc) || !validate_headers(doc, false, &e, &json))
        return;
    char name[NAME_MAX_LEN + 1], value[VALUE_MAX_LEN + 1];
    size_t i = 0;
    for (const cJSON *m = doc->child; m; m = m->next) {
        if (strcasecmp(m->string, t->sig_header) == 0 || strcasecmp(m->string, t->ts_header) == 0)
            continue;
        if (i == t->n_custom)
            abort(); /* accepted, not sent */
        check_line(t, i++, name, value);
        if (strcmp(name, m->string) != 0 || strcmp(value, m->valuestring) != 0)
            abort(); /* sent other than stored */
    }
    if (i != t->n_custom)
        abort();
    free(json);
}

/* The request: no line break inside a line, herald's headers once each. */
static void check_request(const struct attempt *a, const struct send_target *t)
{
    const char *own[] = {"Content-Type", "User-Agent",
                         "webhook-id",   "webhook-timestamp",
                         "Expect",       t->sig_header[0] ? t->sig_header : "webhook-signature",
                         t->ts_header};
    size_t lines = 0, count[sizeof own / sizeof *own] = {0};
    for (const struct curl_slist *l = a->headers; l; l = l->next, lines++) {
        if (strpbrk(l->data, "\r\n"))
            abort();
        for (size_t k = 0; k < sizeof own / sizeof *own; k++)
            count[k] += own[k][0] && named(l->data, own[k]);
    }
    size_t n_own = 0;
    for (size_t k = 0; k < sizeof own / sizeof *own; k++) {
        if (own[k][0] && count[k] != 1)
            abort();
        n_own += own[k][0] != '\0';
    }
    if (lines != n_own + t->n_custom)
        abort();
    /* The log lists every line but Expect. */
    cJSON *log = cJSON_Parse(a->request_headers.data);
    if (!cJSON_IsObject(log) || (size_t)cJSON_GetArraySize(log) != lines - 1)
        abort();
    cJSON_Delete(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = fuzz_cstr(data + 1, size - 1);
    struct store_webhook w;
    memset(&w, 0, sizeof w);
    w.url = "https://example.com/hook";
    w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.headers = text;
    str_copy(w.method, sizeof w.method, "POST");
    str_copy(w.content_type, sizeof w.content_type,
             data[0] & 32 ? "application/x-www-form-urlencoded" : "application/json");
    str_copy(w.signature_scheme, sizeof w.signature_scheme, schemes[(data[0] & 7) % 5]);
    if (data[0] & 8)
        str_copy(w.signature_header, sizeof w.signature_header, "X-Sig");
    if (data[0] & 16)
        str_copy(w.timestamp_header, sizeof w.timestamp_header, "X-Ts");
    struct send_target t;
    send_target_init(&t, &w);
    cJSON *doc = cJSON_Parse(text);
    check_custom(&t, doc);
    check_accepted(&t, doc);
    struct herald_config cfg;
    config_defaults(&cfg);
    struct attempt a;
    memset(&a, 0, sizeof a);
    if (attempt_prepare_target(&a, &cfg, &t, "evt_1", "post.published", 1700000000000LL, "{}", 2,
                               1700000000000LL) != 0)
        abort();
    check_request(&a, &t);
    attempt_release(&a);
    cJSON_Delete(doc);
    send_target_release(&t);
    free(text);
    return 0;
}
