/* send.c — one delivery attempt: the request of DESIGN.md §4, the libcurl
 * options that make it safe to send to customer-chosen addresses, and the
 * classification of what came back. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "dispatch/send.h"
#include "dispatch/ssrf.h"
#include "integrations/rows.h"
#include "sign/sign.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.0.0"
#endif

#define FORM_TYPE "application/x-www-form-urlencoded"
#define REQUEST_HEADERS_CAP 65536  /* the log's copy of what was sent */
#define CHAT_BODY_CAP (256 * 1024) /* a chat message is bounded by its layout */

/* ---- small encoders ---- */

static int json_string(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);
    const char *run = s;
    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        rc = buf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = c == '"'    ? buf_append(b, "\\\"", 2)
                 : c == '\\' ? buf_append(b, "\\\\", 2)
                             : buf_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    if (rc == 0)
        rc = buf_append(b, run, (size_t)(s - run));
    if (rc == 0)
        rc = buf_append(b, "\"", 1);
    return rc;
}

/* Appends n bytes, percent-encoded (RFC 3986 unreserved characters kept)
 * when form is set, as they are otherwise. */
static int put(struct buf *b, const void *data, size_t n, bool form)
{
    if (!form)
        return buf_append(b, data, n);
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = data;
    char chunk[768];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            chunk[used++] = (char)c;
        } else {
            chunk[used++] = '%';
            chunk[used++] = hex[c >> 4];
            chunk[used++] = hex[c & 15];
        }
        if (used > sizeof chunk - 3) {
            int rc = buf_append(b, chunk, used);
            if (rc)
                return rc;
            used = 0;
        }
    }
    return buf_append(b, chunk, used);
}

static int put_str(struct buf *b, const char *s, bool form)
{
    return put(b, s, strlen(s), form);
}

/* Puts s as a JSON string, form-encoded or not. */
static int put_json_string(struct buf *b, const char *s, bool form)
{
    if (!form)
        return json_string(b, s);
    struct buf tmp;
    buf_init(&tmp, 6 * strlen(s) + 3);
    int rc = json_string(&tmp, s);
    if (rc == 0)
        rc = put(b, tmp.data, tmp.len, form);
    buf_release(&tmp);
    return rc;
}

/* Empties b for reuse with a new ceiling, keeping its allocation. */
static void buf_reuse(struct buf *b, size_t cap)
{
    buf_reset(b);
    b->cap = cap;
}

/* ---- the webhook's derived target ---- */

static bool header_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SEND_HEADER_NAME_MAX)
        return false;
    for (; *s; s++) /* RFC 9110 token characters */
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static bool header_value_ok(const char *s)
{
    if (strlen(s) > SEND_HEADER_VALUE_MAX)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Headers herald sets itself, hop-by-hop ones, and the Proxy-* and
 * Webhook-* prefixes: the API's own rules (sign/dialect.h), so that a
 * hand-edited row cannot send what the API would have refused. */
static bool header_reserved(const char *name)
{
    return sign_header_herald_sets(name) || sign_header_prefix_reserved(name);
}

/* Adds custom header name with the value raw less the blanks around it
 * (RFC 9110 §5.5: they are no part of a value). A value of blanks alone
 * is sent empty: libcurl drops a "Name:" line with only blanks after the
 * colon, which the log listed as sent. */
static void target_add_header(struct send_target *t, struct buf *json, const char *name,
                              const char *raw)
{
    raw += strspn(raw, " \t");
    size_t vl = strlen(raw);
    while (vl && (raw[vl - 1] == ' ' || raw[vl - 1] == '\t'))
        vl--;
    char *value = xstrndup(raw, vl);
    size_t nl = strlen(name);
    char *line = xmalloc(nl + vl + 3);
    if (vl == 0) /* "Name;" is how libcurl sends a header with an empty value */
        snprintf(line, nl + vl + 3, "%s;", name);
    else
        snprintf(line, nl + vl + 3, "%s: %s", name, value);
    t->custom[t->n_custom++] = line;
    if (buf_append(json, ",", 1) || json_string(json, name) || buf_append(json, ":", 1) ||
        json_string(json, value))
        buf_reset(json); /* cannot happen within the cap; the log just omits them */
    free(value);
}

static void target_load_headers(struct send_target *t, const char *text)
{
    struct buf json;
    buf_init(&json, (SEND_HEADER_NAME_MAX + SEND_HEADER_VALUE_MAX) * 6 * SEND_CUSTOM_HEADERS_MAX);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    if (cJSON_IsObject(root)) {
        t->custom = xcalloc(SEND_CUSTOM_HEADERS_MAX, sizeof *t->custom);
        const cJSON *h;
        cJSON_ArrayForEach(h, root)
        {
            if (t->n_custom == SEND_CUSTOM_HEADERS_MAX)
                break;
            if (!cJSON_IsString(h) || !h->string || !header_name_ok(h->string) ||
                header_reserved(h->string) || !header_value_ok(h->valuestring) ||
                strcasecmp(h->string, t->sig_header) == 0 ||
                strcasecmp(h->string, t->ts_header) == 0)
                continue;
            target_add_header(t, &json, h->string, h->valuestring);
        }
    }
    cJSON_Delete(root);
    t->custom_json = buf_detach(&json, NULL);
}

/* The standard scheme keys with the decoded "whsec_" secret, the
 * dialects with the secret text itself (sign/dialect.h). */
static int target_key(const struct send_target *t, const char *secret, unsigned char key[64])
{
    if (!secret)
        return -1;
    return t->scheme == SCHEME_STANDARD ? sign_secret_key(secret, key)
                                        : sign_dialect_key(secret, key);
}

/* Shape of the request: chat kind, payload format, scheme, header names. */
static void target_shape(struct send_target *t, const struct store_webhook *w)
{
    t->chat = chat_kind_parse(w->kind, &t->chat_kind);
    t->rows = !t->chat && strcmp(w->payload_format, "rows") == 0;
    t->form = !t->chat && strcasecmp(w->content_type, FORM_TYPE) == 0;
    if (t->chat || !sign_scheme_parse(w->signature_scheme, &t->scheme))
        t->scheme = SCHEME_STANDARD;
    const char *sig = sign_scheme_default_header(t->scheme);
    const char *ts = sign_scheme_default_ts_header(t->scheme);
    /* Names the API validated; one that is not a header name any more (a
     * hand-edited row) falls back to the default rather than break the
     * request. */
    if (sig && w->signature_header[0] && header_name_ok(w->signature_header))
        sig = w->signature_header;
    if (ts && w->timestamp_header[0] && header_name_ok(w->timestamp_header))
        ts = w->timestamp_header;
    str_copy(t->sig_header, sizeof t->sig_header, sig ? sig : "");
    str_copy(t->ts_header, sizeof t->ts_header, ts ? ts : "");
}

void send_target_init(struct send_target *t, const struct store_webhook *w)
{
    memset(t, 0, sizeof *t);
    t->w = w;
    target_shape(t, w);
    int kl = target_key(t, w->secret, t->key[0]);
    if (kl > 0) {
        t->key_len[0] = kl;
        t->n_keys = 1;
        kl = target_key(t, w->prev_secret, t->key[1]);
        if (kl > 0) {
            t->key_len[1] = kl;
            t->prev_expires_at = w->prev_secret_expires_at;
            t->n_keys = 2;
        }
    }
    for (int i = 0; t->scheme == SCHEME_STANDARD && i < t->n_keys; i++)
        sign_key_init(&t->skey[i], t->key[i], (size_t)t->key_len[i]);
    target_load_headers(t, w->headers);
}

void send_target_release(struct send_target *t)
{
    OPENSSL_cleanse(t->key, sizeof t->key);
    OPENSSL_cleanse(t->skey, sizeof t->skey);
    for (size_t i = 0; i < t->n_custom; i++)
        free(t->custom[i]);
    free(t->custom);
    free(t->custom_json);
    memset(t, 0, sizeof *t);
}

/* ---- building the request ---- */

static int build_body(struct attempt *a, bool form, const char *event_id, const char *event_type,
                      int64_t event_created_at, const char *data, size_t data_len)
{
    char ts[32];
    clock_format(event_created_at, ts);
    if (!data || data_len == 0) {
        data = "null";
        data_len = 4;
    }
    /* Worst case: every byte percent-encoded, every type byte \u-escaped. */
    size_t raw = data_len + 6 * (strlen(event_id) + strlen(event_type)) + 128;
    buf_reuse(&a->body, 3 * raw + 16);
    int rc = form ? buf_puts(&a->body, "payload=") : 0;
    if (rc == 0)
        rc = put_str(&a->body, "{\"id\":", form);
    if (rc == 0)
        rc = put_json_string(&a->body, event_id, form);
    if (rc == 0)
        rc = put_str(&a->body, ",\"type\":", form);
    if (rc == 0)
        rc = put_json_string(&a->body, event_type, form);
    if (rc == 0)
        rc = put_str(&a->body, ",\"timestamp\":\"", form);
    if (rc == 0)
        rc = put_str(&a->body, ts, form);
    if (rc == 0)
        rc = put_str(&a->body, "\",\"data\":", form);
    if (rc == 0)
        rc = put(&a->body, data, data_len, form); /* byte for byte, never re-serialised */
    if (rc == 0)
        rc = put_str(&a->body, "}", form);
    return rc;
}

/* The chat message (chat kinds) or the rows object: bodies built from the
 * parsed event rather than copied around its data. */
static int build_derived_body(struct attempt *a, const struct send_target *t, const char *event_id,
                              const char *event_type, int64_t event_created_at, const char *data,
                              size_t data_len)
{
    if (t->chat) {
        buf_reuse(&a->body, CHAT_BODY_CAP);
        return chat_render(t->chat_kind, event_id, event_type, event_created_at, data, data_len,
                           &a->body);
    }
    /* Dotted paths repeat for every leaf: leave room beyond the escaping. */
    buf_reuse(&a->body, 16 * data_len + 65536);
    return rows_render(event_id, event_type, event_created_at, data, data_len, t->form, &a->body);
}

/* Adds a "Name: value" line to the request. Lines live NUL-separated in
 * htext and become a curl_slist of the attempt's own nodes once complete
 * (link_headers): no allocation per header, as curl_slist_append would. */
static int add_line(struct attempt *a, const char *name, size_t nl, const char *value, size_t vl)
{
    int rc = buf_append(&a->htext, name, nl);
    if (rc == 0 && value)
        rc = buf_append(&a->htext, ": ", 2);
    if (rc == 0 && value)
        rc = buf_append(&a->htext, value, vl);
    if (rc == 0)
        rc = buf_append(&a->htext, "", 1);
    if (rc == 0)
        a->n_hnodes++;
    return rc;
}

/* Adds "Name: value" to the request and "Name":"value" to the log copy. */
static int add_header(struct attempt *a, const char *name, const char *value)
{
    int rc = add_line(a, name, strlen(name), value, strlen(value));
    struct buf *j = &a->request_headers;
    if (rc == 0)
        rc = buf_append(j, j->len > 1 ? "," : "", j->len > 1 ? 1 : 0);
    if (rc == 0)
        rc = json_string(j, name);
    if (rc == 0)
        rc = buf_append(j, ":", 1);
    if (rc == 0)
        rc = json_string(j, value);
    return rc;
}

/* Points one node at each line of htext, now that it no longer moves. */
static void link_headers(struct attempt *a)
{
    if (a->n_hnodes > a->cap_hnodes) {
        a->cap_hnodes = a->n_hnodes + 4;
        a->hnodes = xrealloc(a->hnodes, a->cap_hnodes * sizeof *a->hnodes);
    }
    char *p = a->htext.data;
    for (size_t i = 0; i < a->n_hnodes; i++) {
        a->hnodes[i].data = p;
        a->hnodes[i].next = i + 1 < a->n_hnodes ? &a->hnodes[i + 1] : NULL;
        p += strlen(p) + 1;
    }
    a->headers = a->n_hnodes ? a->hnodes : NULL;
}

/* The signature header(s) of t's scheme; none for chat kinds. */
static int add_signature(struct attempt *a, const struct send_target *t, const char *event_id,
                         int64_t now_ms, const char *tsbuf)
{
    int64_t ts = now_ms / 1000;
    bool prev = t->n_keys == 2 && now_ms < t->prev_expires_at;
    if (t->chat)
        return 0;
    if (t->scheme != SCHEME_STANDARD) {
        char v[SIGN_DIALECT_VALUE_MAX];
        sign_dialect(t->scheme, t->key[0], t->key_len[0], prev ? t->key[1] : NULL,
                     prev ? t->key_len[1] : 0, ts, a->body.data, a->body.len, v);
        int rc = add_header(a, t->sig_header, v);
        if (rc == 0 && t->ts_header[0])
            rc = add_header(a, t->ts_header, tsbuf);
        return rc;
    }
    char sigs[2 * SIGN_SIG_MAX + 1];
    sign_v1_prepared(&t->skey[0], event_id, ts, a->body.data, a->body.len, sigs);
    if (prev) {
        size_t l = strlen(sigs);
        sigs[l] = ' ';
        sign_v1_prepared(&t->skey[1], event_id, ts, a->body.data, a->body.len, sigs + l + 1);
    }
    return add_header(a, "webhook-signature", sigs);
}

static int build_headers(struct attempt *a, const struct send_target *t, const char *event_id,
                         int64_t now_ms)
{
    char tsbuf[24];
    snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)(now_ms / 1000));
    buf_reuse(&a->request_headers, REQUEST_HEADERS_CAP);
    int rc = buf_append(&a->request_headers, "{", 1);
    if (rc == 0)
        rc = add_header(a, "Content-Type", t->form ? FORM_TYPE : "application/json");
    if (rc == 0)
        rc = add_header(a, "User-Agent", "herald/" HERALD_VERSION);
    if (rc == 0)
        rc = add_header(a, "webhook-id", event_id);
    if (rc == 0)
        rc = add_header(a, "webhook-timestamp", tsbuf);
    if (rc == 0)
        rc = add_signature(a, t, event_id, now_ms, tsbuf);
    for (size_t i = 0; rc == 0 && i < t->n_custom; i++)
        rc = add_line(a, t->custom[i], strlen(t->custom[i]), NULL, 0);
    if (rc == 0)
        rc = buf_puts(&a->request_headers, t->custom_json ? t->custom_json : "");
    if (rc == 0)
        rc = buf_append(&a->request_headers, "}", 1);
    /* An empty Expect: stops libcurl from waiting for 100-continue. */
    if (rc == 0)
        rc = add_line(a, "Expect:", 7, NULL, 0);
    if (rc == 0)
        link_headers(a);
    return rc;
}

static void attempt_reset(struct attempt *a, const struct herald_config *cfg, int64_t now_ms)
{
    a->cfg = cfg;
    a->headers = NULL;
    buf_reuse(&a->htext, REQUEST_HEADERS_CAP);
    a->n_hnodes = 0;
    buf_reset(&a->body);
    buf_reset(&a->request_headers);
    buf_reuse(&a->response, cfg->response_keep);
    a->response_seen = 0;
    a->cut = false;
    a->retry_after_ms = -1;
    a->retry_after_raw = -1;
    a->started_at = now_ms;
    a->started_mono = clock_mono_ms();
    a->duration_ms = 0;
    a->response_code = 0;
    a->error = NULL;
    a->errbuf[0] = '\0';
    a->blocked = false;
    a->too_many_headers = false;
    a->n_headers = 0;
}

int attempt_prepare_target(struct attempt *a, const struct herald_config *cfg,
                           const struct send_target *t, const char *event_id,
                           const char *event_type, int64_t event_created_at, const char *data,
                           size_t data_len, int64_t now_ms)
{
    const struct store_webhook *w = t->w;
    attempt_reset(a, cfg, now_ms);
    const char *url = w->url ? w->url : "";
    if (!a->url || strcmp(a->url, url) != 0) { /* recycled attempts often go to the same URL */
        free(a->url);
        a->url = xstrdup(url);
    }
    str_copy(a->method, sizeof a->method, w->method[0] ? w->method : "POST");
    if (t->n_keys == 0 && !t->chat)
        return HERALD_ECRYPTO;
    int rc = t->chat || t->rows
                 ? build_derived_body(a, t, event_id, event_type, event_created_at, data, data_len)
                 : build_body(a, t->form, event_id, event_type, event_created_at, data, data_len);
    if (rc == 0)
        rc = build_headers(a, t, event_id, now_ms);
    return rc;
}

int attempt_prepare(struct attempt *a, const struct herald_config *cfg,
                    const struct store_webhook *w, const char *event_id, const char *event_type,
                    int64_t event_created_at, const char *data, size_t data_len, int64_t now_ms)
{
    struct send_target t;
    send_target_init(&t, w);
    int rc = attempt_prepare_target(a, cfg, &t, event_id, event_type, event_created_at, data,
                                    data_len, now_ms);
    send_target_release(&t);
    return rc;
}

/* ---- transfer callbacks ---- */

/* Keeps the first response_keep bytes for the log and cuts the transfer
 * once more than response_read_cap bytes came in: a receiver cannot make
 * herald read (or wait for) an endless body. */
size_t attempt_on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct attempt *a = userdata;
    size_t n = size * nmemb;
    size_t room = a->response.cap - a->response.len;
    if (room)
        buf_append(&a->response, ptr, n < room ? n : room);
    a->response_seen += n;
    if (a->response_seen > a->cfg->response_read_cap) {
        a->cut = true;
        return 0;
    }
    return n;
}

/* Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
long attempt_parse_retry_after(const char *v, size_t n, int64_t now_ms)
{
    char s[128];
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof s)
        return -1;
    memcpy(s, v, n);
    s[n] = '\0';
    int64_t secs;
    if (parse_int64(s, 0, 100000000, &secs))
        return (long)(secs * 1000);
    /* More seconds than that: capped, as a far-future date is below,
     * rather than ignored (the retry schedule caps both at an hour). */
    if (strspn(s, "0123456789") == n)
        return 100000000L * 1000;
    time_t t = curl_getdate(s, NULL);
    if (t == (time_t)-1)
        return -1;
    /* Far-future dates are capped as delay-seconds are, before the
     * multiplication can overflow. */
    if ((int64_t)t - now_ms / 1000 > 100000000)
        return 100000000L * 1000;
    int64_t ms = (int64_t)t * 1000 - now_ms;
    return ms < 0 ? 0 : (long)ms;
}

/* Counts header lines (cutting past SEND_RESPONSE_HEADERS_MAX) and keeps the
 * Retry-After of the latest response; a new status line forgets it, so a
 * 1xx's does not count for the final answer. */
size_t attempt_on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    struct attempt *a = userdata;
    size_t n = size * nitems;
    if (++a->n_headers > SEND_RESPONSE_HEADERS_MAX) {
        a->too_many_headers = true;
        return 0;
    }
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) /* a new (final or 1xx) response */
        a->retry_after_raw = -1;
    else if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
        a->retry_after_raw = attempt_parse_retry_after(ptr + 12, n - 12, clock_now_ms());
    return n;
}

void attempt_configure_handle(struct attempt *a, CURL *easy, const struct herald_config *cfg)
{
    a->cfg = cfg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, a);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)cfg->request_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, attempt_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, attempt_on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    /* The CA bundle alone (Debian's libcurl also sets the CA directory):
     * libcurl caches the parsed store in the multi handle only without a
     * CA path, and re-parsing ~140 certificates for every connection
     * blocked the dispatcher's loop for all webhooks (issue 4). Same
     * trust: the directory holds the bundle's certificates. */
    curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, ssrf_opensocket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, a);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, a->errbuf);
}

void attempt_configure_request(struct attempt *a, CURL *easy)
{
    a->started_mono = clock_mono_ms();
    a->errbuf[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, a->url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
                     strcmp(a->method, "POST") == 0 ? NULL : a->method);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->body.len);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, a->body.data ? a->body.data : "");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, a->headers);
}

void attempt_configure(struct attempt *a, CURL *easy, const struct herald_config *cfg)
{
    attempt_configure_handle(a, easy, cfg);
    attempt_configure_request(a, easy);
}

/* ---- judging the outcome ---- */

static const char *transport_error(const struct attempt *a, CURLcode rc)
{
    if (a->blocked)
        return "blocked";
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "dns";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return "tls";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return "reset";
    case CURLE_FILESIZE_EXCEEDED:
        return "too_large";
    case CURLE_WRITE_ERROR:
        return a->too_many_headers || a->cut ? "too_large" : "error";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_BAD_CONTENT_ENCODING:
        return "protocol";
    default:
        return "error";
    }
}

void attempt_finish(struct attempt *a, CURL *easy, CURLcode rc, int64_t ended_mono)
{
    int64_t d = ended_mono - a->started_mono;
    a->duration_ms = d < 0 ? 0 : d;
    long code = 0;
    if (easy)
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    a->response_code = (int)code;
    /* A transfer cut at the read cap after the status line still has the
     * receiver's answer: it is judged by its status like a complete one. */
    bool answered =
        rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && a->cut && !a->too_many_headers && code > 0);
    if (!answered)
        a->error = transport_error(a, rc);
    else if (code >= 200 && code < 300)
        a->error = NULL;
    else
        a->error = code > 0 ? "http" : "protocol";
    a->retry_after_ms = (code == 429 || code == 503) ? a->retry_after_raw : -1;
}

void attempt_perform(struct attempt *a, const struct herald_config *cfg)
{
    CURL *easy = curl_easy_init();
    if (!easy) {
        a->error = "error";
        return;
    }
    attempt_configure(a, easy, cfg);
    CURLcode rc = curl_easy_perform(easy);
    attempt_finish(a, easy, rc, clock_mono_ms());
    curl_easy_cleanup(easy);
}

void attempt_release(struct attempt *a)
{
    free(a->url);
    a->url = NULL;
    buf_release(&a->body);
    buf_release(&a->request_headers);
    buf_release(&a->response);
    buf_release(&a->htext);
    free(a->hnodes);
    a->hnodes = NULL;
    a->n_hnodes = a->cap_hnodes = 0;
    a->headers = NULL;
}
