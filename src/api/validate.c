/* validate.c — field checks for webhooks and their parts (see validate.h). */
#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/validate.h"
#include "core/catalog.h"
#include "core/cidr.h"
#include "core/match.h"
#include "core/util.h"
#include "sign/dialect.h"
#include "sign/sign.h"

bool verr_set(struct verr *e, const char *field, const char *fmt, ...)
{
    va_list ap;
    str_copy(e->field, sizeof e->field, field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- text ---- */

/* Length of the UTF-8 sequence starting at s[i], or 0 when malformed. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0x01 && c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF)
            return 0;
    return need + 1;
}

void utf8_scrub(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t n = strlen(s), out = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u, n, i);
        if (k == 0) {
            i++;
            continue;
        }
        memmove(u + out, u + i, k);
        out += k;
        i += k;
    }
    u[out] = '\0';
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u, n, i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

bool validate_text(const char *s, const char *field, size_t min, size_t max, bool multiline,
                   struct verr *e)
{
    size_t n = strlen(s), chars = 0;
    if (!utf8_valid(s, n))
        return verr_set(e, field, "%s must be valid UTF-8", field);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(multiline && (c == '\t' || c == '\n' || c == '\r'))) || c == 0x7F)
            return verr_set(e, field, "%s must not contain control characters", field);
        if ((c & 0xC0) != 0x80)
            chars++;
    }
    if (chars < min)
        return verr_set(e, field, "%s is required", field);
    if (chars > max)
        return verr_set(e, field, "%s must be at most %zu characters", field, max);
    return true;
}

bool parse_bool_text(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "on", "yes"};
    static const char *const no[] = {"false", "0", "off", "no"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* ---- URL ---- */

bool port_denied(long port)
{
    static const long denied[] = {
        /* Fetch standard "bad ports" */
        0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
        102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389,
        427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
        989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665,
        6666, 6667, 6668, 6669, 6679, 6697, 10080,
        /* datastores and control planes */
        1433, 1521, 2375, 2376, 2379, 2380, 3306, 3389, 5432, 5984, 6379, 9042, 9200, 9300, 10250,
        11211, 27017};
    if (port <= 0 || port > 65535)
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
        if (denied[i] == port)
            return true;
    return false;
}

/* True when host (as libcurl returns it, IPv6 in brackets) is an IP
 * literal inside an --allow-cidr range. */
static bool host_allowed(const struct herald_config *cfg, const char *host)
{
    char lit[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (n - 2 >= sizeof lit)
            return false;
        memcpy(lit, host + 1, n - 2);
        lit[n - 2] = '\0';
    } else if (!str_copy(lit, sizeof lit, host)) {
        return false;
    }
    unsigned char addr[16];
    return cidr_addr_parse(lit, addr) && config_allowed(cfg, addr);
}

static bool url_text_ok(const char *url, struct verr *e)
{
    size_t n = strlen(url);
    if (n == 0)
        return verr_set(e, "url", "url is required");
    if (n > WEBHOOK_URL_MAX)
        return verr_set(e, "url", "url must be at most %d characters", WEBHOOK_URL_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c >= 0x80)
            return verr_set(e, "url", "url must be ASCII (percent-encode other characters)");
        if (c <= 0x20 || c == 0x7F)
            return verr_set(e, "url", "url must not contain whitespace or control characters");
    }
    return true;
}

/* Reads one part; NULL when absent. */
static char *url_part(CURLU *u, CURLUPart part)
{
    char *v = NULL;
    if (curl_url_get(u, part, &v, 0) != CURLUE_OK)
        return NULL;
    return v;
}

bool validate_url(const char *url, const struct herald_config *cfg, struct verr *e)
{
    bool ok = false;
    char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL, *zone = NULL, *port = NULL;
    if (!url_text_ok(url, e))
        return false;
    CURLU *u = curl_url();
    if (!u) {
        verr_set(e, "url", "url could not be checked");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        verr_set(e, "url", "url must be an absolute http or https URL");
        goto out;
    }
    scheme = url_part(u, CURLUPART_SCHEME);
    if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        verr_set(e, "url", "url must use http or https");
        goto out;
    }
    /* libcurl forgives "http:/x" and "http:///x"; what is stored must be
     * the plain form that every reader parses the same way. */
    size_t sl = strlen(scheme);
    if (strncmp(url + sl, "://", 3) != 0 || url[sl + 3] == '/' || url[sl + 3] == '\\') {
        verr_set(e, "url", "url must be an absolute http or https URL");
        goto out;
    }
    user = url_part(u, CURLUPART_USER);
    pass = url_part(u, CURLUPART_PASSWORD);
    if (user || pass) {
        verr_set(e, "url", "url must not contain credentials");
        goto out;
    }
    host = url_part(u, CURLUPART_HOST);
    if (!host || !*host) {
        verr_set(e, "url", "url must have a host");
        goto out;
    }
    zone = url_part(u, CURLUPART_ZONEID);
    if (zone) {
        verr_set(e, "url", "url must not contain an IPv6 zone");
        goto out;
    }
    port = url_part(u, CURLUPART_PORT);
    if (port) {
        int64_t p;
        if (!parse_int64(port, 1, 65535, &p)) {
            verr_set(e, "url", "url port must be between 1 and 65535");
            goto out;
        }
        if (port_denied((long)p)) {
            verr_set(e, "url", "url port %lld is not allowed", (long long)p);
            goto out;
        }
    }
    if (strcasecmp(scheme, "http") == 0 && !cfg->dev && !host_allowed(cfg, host)) {
        verr_set(e, "url", "url must use https");
        goto out;
    }
    ok = true;
out:
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(host);
    curl_free(zone);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* ---- headers ---- */

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool header_name_forbidden(const char *name)
{
    if (sign_header_herald_sets(name) || sign_header_prefix_reserved(name))
        return true;
    return strcasestr(name, "signature") != NULL;
}

static bool check_header(const cJSON *it, const cJSON *obj, struct verr *e)
{
    const char *name = it->string;
    size_t n = strlen(name);
    if (n == 0 || n > WEBHOOK_HEADER_NAME_MAX)
        return verr_set(e, "headers", "header names must be 1 to %d characters",
                        WEBHOOK_HEADER_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)name[i]))
            return verr_set(e, "headers", "header name \"%.64s\" is not a valid HTTP token", name);
    if (header_name_forbidden(name))
        return verr_set(e, "headers", "header %s cannot be set on a webhook", name);
    for (const cJSON *o = obj->child; o != it; o = o->next)
        if (strcasecmp(o->string, name) == 0)
            return verr_set(e, "headers", "header %s is given twice", name);
    if (!cJSON_IsString(it))
        return verr_set(e, "headers", "header %s must have a string value", name);
    const char *v = it->valuestring;
    size_t vn = strlen(v);
    if (vn == 0 || vn > WEBHOOK_HEADER_VALUE_MAX)
        return verr_set(e, "headers", "header %s must have a value of 1 to %d characters", name,
                        WEBHOOK_HEADER_VALUE_MAX);
    for (size_t i = 0; i < vn; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7E)
            return verr_set(e, "headers", "header %s must be printable ASCII without CR or LF",
                            name);
    }
    /* HTTP drops the blanks around a value (RFC 9110 §5.5), and so does the
     * sender: a value stored with them would not be the one sent. */
    if (v[0] == ' ' || v[vn - 1] == ' ')
        return verr_set(e, "headers", "header %s must not start or end with a space", name);
    return true;
}

bool validate_headers(const cJSON *v, bool from_form, struct verr *e, char **out_json)
{
    cJSON *parsed = NULL;
    bool ok = false;
    *out_json = NULL;
    if (from_form && cJSON_IsString(v)) {
        parsed = cJSON_Parse(v->valuestring);
        v = parsed;
    }
    if (!cJSON_IsObject(v)) {
        verr_set(e, "headers", "headers must be an object of header names to values");
        goto out;
    }
    if (cJSON_GetArraySize(v) > WEBHOOK_HEADERS_MAX) {
        verr_set(e, "headers", "at most %d custom headers", WEBHOOK_HEADERS_MAX);
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!check_header(it, v, e))
            goto out;
    }
    *out_json = cJSON_PrintUnformatted(v);
    if (!*out_json) {
        verr_set(e, "headers", "headers could not be stored");
        goto out;
    }
    ok = true;
out:
    cJSON_Delete(parsed);
    return ok;
}

bool validate_dialect_header(const char *name, const char *field, struct verr *e)
{
    size_t n = strlen(name);
    if (n == 0 || n > SIGN_HEADER_NAME_MAX)
        return verr_set(e, field, "%s must be 1 to %d characters", field, SIGN_HEADER_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)name[i]))
            return verr_set(e, field, "%s must be an HTTP header name (RFC 9110 token)", field);
    if (sign_header_herald_sets(name))
        return verr_set(e, field, "%s must not be %s", field, name);
    if (sign_header_prefix_reserved(name))
        return verr_set(e, field, "%s must not start with proxy- or webhook-", field);
    return true;
}

bool validate_secret(const char *secret, const char *scheme, const char *field, struct verr *e)
{
    if (strcmp(scheme, "standard") == 0) {
        if (!sign_secret_valid(secret))
            return verr_set(e, field, "%s must be \"whsec_\" followed by base64 of 16 to 64 bytes",
                            field);
        return true;
    }
    if (!sign_dialect_secret_valid(secret))
        return verr_set(e, field,
                        "%s must be %d to %d printable ASCII characters, without a space at "
                        "either end",
                        field, SIGN_DIALECT_SECRET_MIN, SIGN_DIALECT_SECRET_MAX);
    return true;
}

/* ---- events ---- */

bool event_type_known(const char *name, type_known_fn known, void *arg)
{
    if (catalog_find(name))
        return true;
    return known && known(arg, name);
}

static bool check_event(const char *s, type_known_fn known, void *arg, const char *field,
                        struct verr *e)
{
    if (!event_pattern_valid(s))
        return verr_set(e, field, "\"%.100s\" is not a valid event type or pattern", s);
    if (!strchr(s, '*') && !event_type_known(s, known, arg))
        return verr_set(e, field, "unknown event type \"%.100s\"", s);
    return true;
}

/* Adds s to arr unless already there. */
static void add_unique(cJSON *arr, const char *s, size_t n)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (strlen(it->valuestring) == n && memcmp(it->valuestring, s, n) == 0)
            return;
    }
    char *copy = xstrndup(s, n);
    cJSON_AddItemToArray(arr, cJSON_CreateString(copy));
    free(copy);
}

static bool collect_event(cJSON *out, const char *s, size_t n, type_known_fn known, void *arg,
                          const char *field, struct verr *e)
{
    char name[128];
    if (n == 0 || n >= sizeof name)
        return verr_set(e, field, "event types must be 1 to 100 characters");
    memcpy(name, s, n);
    name[n] = '\0';
    if (!check_event(name, known, arg, field, e))
        return false;
    add_unique(out, name, n);
    return true;
}

bool validate_events(const cJSON *v, bool from_form, type_known_fn known, void *arg,
                     const char *field, struct verr *e, char **out_json)
{
    cJSON *out = cJSON_CreateArray();
    bool ok = false;
    *out_json = NULL;
    if (cJSON_IsString(v) && from_form) {
        /* A form's one value may list several names: "a,b". */
        const char *p = v->valuestring;
        for (;;) {
            size_t n = strcspn(p, ",");
            if (!collect_event(out, p, n, known, arg, field, e))
                goto out;
            if (!p[n])
                break;
            p += n + 1;
        }
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it)) {
                verr_set(e, field, "%s must be a list of event type names", field);
                goto out;
            }
            if (!collect_event(out, it->valuestring, strlen(it->valuestring), known, arg, field, e))
                goto out;
        }
    } else {
        verr_set(e, field, "%s must be a list of event type names", field);
        goto out;
    }
    int n = cJSON_GetArraySize(out);
    if (n == 0) {
        verr_set(e, field, "%s must name at least one event type", field);
        goto out;
    }
    if (n > WEBHOOK_EVENTS_MAX) {
        verr_set(e, field, "%s may list at most %d event types", field, WEBHOOK_EVENTS_MAX);
        goto out;
    }
    *out_json = cJSON_PrintUnformatted(out);
    ok = *out_json != NULL;
    if (!ok)
        verr_set(e, field, "%s could not be stored", field);
out:
    cJSON_Delete(out);
    return ok;
}

/* ---- webhook fields ---- */

void webhook_defaults(struct store_webhook *w)
{
    memset(w, 0, sizeof *w);
    w->name = xstrdup("");
    w->description = xstrdup("");
    w->url = xstrdup("");
    str_copy(w->method, sizeof w->method, "POST");
    str_copy(w->content_type, sizeof w->content_type, "application/json");
    w->events = xstrdup("[]");
    w->headers = xstrdup("{}");
    w->max_attempts = WEBHOOK_MAX_ATTEMPTS_DEFAULT;
    w->rate_limit = 0;
    w->max_in_flight = WEBHOOK_MAX_IN_FLIGHT_DEFAULT;
    w->enabled = true;
    str_copy(w->kind, sizeof w->kind, "webhook");
    str_copy(w->signature_scheme, sizeof w->signature_scheme, "standard");
    str_copy(w->payload_format, sizeof w->payload_format, "standard");
}

/* One call per body member. */
struct apply {
    const struct webhook_ctx *ctx;
    struct store_webhook *w;
    struct verr *e;
    bool form;
    bool create;
    unsigned seen; /* canonical fields already given, to refuse aliases twice */
};

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = xstrdup(src);
}

static bool want_string(const cJSON *v, const char *field, struct verr *e)
{
    if (!cJSON_IsString(v))
        return verr_set(e, field, "%s must be a string", field);
    return true;
}

/* An integer in [min, max]: a JSON number without fraction, or (from a form)
 * a decimal string. */
static bool want_int(struct apply *a, const cJSON *v, const char *field, int min, int max, int *out)
{
    int64_t x;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || floor(d) != d || d < min || d > max)
            return verr_set(a->e, field, "%s must be an integer from %d to %d", field, min, max);
        x = (int64_t)d;
    } else if (a->form && cJSON_IsString(v)) {
        if (!parse_int64(v->valuestring, min, max, &x) || v->valuestring[0] == ' ' ||
            v->valuestring[0] == '+')
            return verr_set(a->e, field, "%s must be an integer from %d to %d", field, min, max);
    } else {
        return verr_set(a->e, field, "%s must be an integer from %d to %d", field, min, max);
    }
    *out = (int)x;
    return true;
}

/* A boolean: true/false, 0/1 (seed 004's isEnabled=1), or form words. */
static bool want_bool(struct apply *a, const cJSON *v, const char *field, bool *out)
{
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return true;
    }
    if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
        *out = v->valuedouble == 1;
        return true;
    }
    if (a->form && cJSON_IsString(v) && parse_bool_text(v->valuestring, out))
        return true;
    return verr_set(a->e, field, "%s must be true or false", field);
}

enum field_bit {
    F_NAME = 1 << 0,
    F_DESCRIPTION = 1 << 1,
    F_URL = 1 << 2,
    F_METHOD = 1 << 3,
    F_CONTENT_TYPE = 1 << 4,
    F_EVENTS = 1 << 5,
    F_HEADERS = 1 << 6,
    F_MAX_ATTEMPTS = 1 << 7,
    F_RATE_LIMIT = 1 << 8,
    F_MAX_IN_FLIGHT = 1 << 9,
    F_ENABLED = 1 << 10,
    F_KIND = 1 << 11,
    F_SCHEME = 1 << 12,
    F_SECRET = 1 << 13,
    F_PAYLOAD_FORMAT = 1 << 14,
    F_SIG_HEADER = 1 << 15,
    F_TS_HEADER = 1 << 16,
};

static bool f_name(struct apply *a, const cJSON *v, const char *field)
{
    if (!want_string(v, field, a->e) ||
        !validate_text(v->valuestring, field, 1, WEBHOOK_NAME_MAX, false, a->e))
        return false;
    set_str(&a->w->name, v->valuestring);
    return true;
}

static bool f_description(struct apply *a, const cJSON *v, const char *field)
{
    if (cJSON_IsNull(v)) {
        set_str(&a->w->description, "");
        return true;
    }
    if (!want_string(v, field, a->e) ||
        !validate_text(v->valuestring, field, 0, WEBHOOK_DESCRIPTION_MAX, true, a->e))
        return false;
    set_str(&a->w->description, v->valuestring);
    return true;
}

static bool f_url(struct apply *a, const cJSON *v, const char *field)
{
    if (!want_string(v, field, a->e))
        return false;
    if (!validate_url(v->valuestring, a->ctx->cfg, a->e)) {
        str_copy(a->e->field, sizeof a->e->field, field);
        return false;
    }
    set_str(&a->w->url, v->valuestring);
    return true;
}

static bool f_method(struct apply *a, const cJSON *v, const char *field)
{
    static const char *const methods[] = {"POST", "PUT", "PATCH"};
    if (!want_string(v, field, a->e))
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
        if (strcasecmp(v->valuestring, methods[i]) == 0) {
            str_copy(a->w->method, sizeof a->w->method, methods[i]);
            return true;
        }
    }
    return verr_set(a->e, field, "%s must be POST, PUT or PATCH", field);
}

static bool f_content_type(struct apply *a, const cJSON *v, const char *field)
{
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded"};
    if (!want_string(v, field, a->e))
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        if (strcasecmp(v->valuestring, types[i]) == 0) {
            str_copy(a->w->content_type, sizeof a->w->content_type, types[i]);
            return true;
        }
    }
    return verr_set(a->e, field, "%s must be application/json or application/x-www-form-urlencoded",
                    field);
}

static bool f_events(struct apply *a, const cJSON *v, const char *field)
{
    char *json = NULL;
    /* "event" (seed 004) names one type; "events" is the list. */
    bool single = strcmp(field, "event") == 0;
    if (single && !cJSON_IsString(v))
        return verr_set(a->e, field, "%s must be an event type name", field);
    if (!validate_events(v, a->form || single, a->ctx->type_known, a->ctx->arg, field, a->e, &json))
        return false;
    free(a->w->events);
    a->w->events = json;
    return true;
}

static bool f_headers(struct apply *a, const cJSON *v, const char *field)
{
    char *json = NULL;
    if (cJSON_IsNull(v)) {
        set_str(&a->w->headers, "{}");
        return true;
    }
    if (!validate_headers(v, a->form, a->e, &json)) {
        str_copy(a->e->field, sizeof a->e->field, field);
        return false;
    }
    free(a->w->headers);
    a->w->headers = json;
    return true;
}

static bool f_max_attempts(struct apply *a, const cJSON *v, const char *field)
{
    return want_int(a, v, field, 1, WEBHOOK_MAX_ATTEMPTS_MAX, &a->w->max_attempts);
}

static bool f_rate_limit(struct apply *a, const cJSON *v, const char *field)
{
    return want_int(a, v, field, 0, WEBHOOK_RATE_LIMIT_MAX, &a->w->rate_limit);
}

static bool f_max_in_flight(struct apply *a, const cJSON *v, const char *field)
{
    return want_int(a, v, field, 1, WEBHOOK_MAX_IN_FLIGHT_MAX, &a->w->max_in_flight);
}

static void set_enabled(struct apply *a, bool on)
{
    /* An explicit choice replaces whatever disabled the webhook before. */
    a->w->enabled = on;
    free(a->w->disabled_reason);
    a->w->disabled_reason = NULL;
    if (on)
        a->w->failing_since = 0;
}

static bool f_enabled(struct apply *a, const cJSON *v, const char *field)
{
    bool on;
    if (!want_bool(a, v, field, &on))
        return false;
    set_enabled(a, on);
    return true;
}

/* Seed 002's "Status: Active". */
static bool f_status(struct apply *a, const cJSON *v, const char *field)
{
    bool on;
    if (cJSON_IsString(v) &&
        (strcasecmp(v->valuestring, "active") == 0 || strcasecmp(v->valuestring, "enabled") == 0))
        on = true;
    else if (cJSON_IsString(v) && (strcasecmp(v->valuestring, "inactive") == 0 ||
                                   strcasecmp(v->valuestring, "disabled") == 0))
        on = false;
    else if (!cJSON_IsString(v) || !a->form || !parse_bool_text(v->valuestring, &on))
        return verr_set(a->e, field, "%s must be \"active\" or \"inactive\"", field);
    set_enabled(a, on);
    return true;
}

/* Sets dst[cap] to the member of choices[] that v names exactly. */
static bool want_choice(struct apply *a, const cJSON *v, const char *field,
                        const char *const *choices, size_t n, const char *list, char *dst,
                        size_t cap)
{
    if (!want_string(v, field, a->e))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v->valuestring, choices[i]) == 0) {
            str_copy(dst, cap, choices[i]);
            return true;
        }
    }
    return verr_set(a->e, field, "%s must be one of %s", field, list);
}

static bool f_kind(struct apply *a, const cJSON *v, const char *field)
{
    static const char *const kinds[] = {"webhook", "slack", "discord"};
    return want_choice(a, v, field, kinds, ARRAY_SIZE(kinds), "webhook, slack, discord", a->w->kind,
                       sizeof a->w->kind);
}

static bool f_scheme(struct apply *a, const cJSON *v, const char *field)
{
    static const char *const schemes[] = {"standard", "github", "stripe", "hex", "timestamped-hex"};
    return want_choice(a, v, field, schemes, ARRAY_SIZE(schemes),
                       "standard, github, stripe, hex, timestamped-hex", a->w->signature_scheme,
                       sizeof a->w->signature_scheme);
}

static bool f_payload_format(struct apply *a, const cJSON *v, const char *field)
{
    static const char *const formats[] = {"standard", "rows"};
    return want_choice(a, v, field, formats, ARRAY_SIZE(formats), "standard, rows",
                       a->w->payload_format, sizeof a->w->payload_format);
}

/* A dialect header name; null or "" goes back to the scheme's default. */
static bool dialect_header(struct apply *a, const cJSON *v, const char *field, char *dst,
                           size_t cap)
{
    if (cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0')) {
        dst[0] = '\0';
        return true;
    }
    if (!want_string(v, field, a->e) || !validate_dialect_header(v->valuestring, field, a->e))
        return false;
    str_copy(dst, cap, v->valuestring);
    return true;
}

static bool f_signature_header(struct apply *a, const cJSON *v, const char *field)
{
    return dialect_header(a, v, field, a->w->signature_header, sizeof a->w->signature_header);
}

static bool f_timestamp_header(struct apply *a, const cJSON *v, const char *field)
{
    return dialect_header(a, v, field, a->w->timestamp_header, sizeof a->w->timestamp_header);
}

static bool f_secret(struct apply *a, const cJSON *v, const char *field)
{
    /* Empty or null: keep the current secret (on create: generate one). */
    if (cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0'))
        return true;
    if (!want_string(v, field, a->e))
        return false;
    /* Which secrets fit depends on the final signature_scheme, which may
     * come later in the body: check_combination() decides. */
    if (!sign_secret_valid(v->valuestring) && !sign_dialect_secret_valid(v->valuestring))
        return verr_set(a->e, field,
                        "%s must be \"whsec_\" followed by base64 of 16 to 64 bytes (or, for a "
                        "signature dialect, %d to %d printable ASCII characters)",
                        field, SIGN_DIALECT_SECRET_MIN, SIGN_DIALECT_SECRET_MAX);
    struct store_webhook *w = a->w;
    if (!a->create && w->secret && strcmp(w->secret, v->valuestring) != 0) {
        free(w->prev_secret);
        w->prev_secret = w->secret;
        w->prev_secret_expires_at = a->ctx->now + WEBHOOK_PREV_SECRET_MS;
        w->secret = NULL;
    }
    set_str(&w->secret, v->valuestring);
    return true;
}

struct field_rule {
    const char *name;
    unsigned bit; /* 0: read-only, ignored */
    bool (*apply)(struct apply *a, const cJSON *v, const char *field);
};

static const struct field_rule rules[] = {
    {"name", F_NAME, f_name},
    {"description", F_DESCRIPTION, f_description},
    {"url", F_URL, f_url},
    {"method", F_METHOD, f_method},
    {"content_type", F_CONTENT_TYPE, f_content_type},
    {"events", F_EVENTS, f_events},
    {"event", F_EVENTS, f_events},
    {"headers", F_HEADERS, f_headers},
    {"max_attempts", F_MAX_ATTEMPTS, f_max_attempts},
    {"rate_limit", F_RATE_LIMIT, f_rate_limit},
    {"max_in_flight", F_MAX_IN_FLIGHT, f_max_in_flight},
    {"enabled", F_ENABLED, f_enabled},
    {"isEnabled", F_ENABLED, f_enabled},
    {"status", F_ENABLED, f_status},
    {"kind", F_KIND, f_kind},
    {"signature_scheme", F_SCHEME, f_scheme},
    {"payload_format", F_PAYLOAD_FORMAT, f_payload_format},
    {"signature_header", F_SIG_HEADER, f_signature_header},
    {"timestamp_header", F_TS_HEADER, f_timestamp_header},
    {"secret", F_SECRET, f_secret},
    {"id", 0, NULL},
    {"account_id", 0, NULL},
    {"created_at", 0, NULL},
    {"modified_at", 0, NULL},
    {"last_execution_at", 0, NULL},
    {"disabled_reason", 0, NULL},
};

static bool apply_member(struct apply *a, const cJSON *it)
{
    const char *key = it->string;
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct field_rule *r = &rules[i];
        if (strcmp(r->name, key) != 0)
            continue;
        if (!r->bit)
            return true;
        if (a->seen & r->bit)
            return verr_set(a->e, key, "%s is given more than once", key);
        a->seen |= r->bit;
        return r->apply(a, it, key);
    }
    return verr_set(a->e, key, "unknown field %.64s", key);
}

/* True when the custom headers (JSON object text) name `name`. */
static bool headers_name(const char *headers, const char *name)
{
    cJSON *h = headers ? cJSON_Parse(headers) : NULL;
    bool found = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, h)
    {
        if (it->string && strcasecmp(it->string, name) == 0)
            found = true;
    }
    cJSON_Delete(h);
    return found;
}

/* The rules between fields, checked on the webhook as it will be stored
 * (after every member applied, so their order in the body does not
 * matter). Header names a scheme does not use are cleared when they were
 * not given in this request, so switching schemes never leaves a stale
 * name behind; given ones are refused instead. */
static bool check_combination(const struct apply *a)
{
    struct store_webhook *w = a->w;
    struct verr *e = a->e;
    enum sign_scheme sc = SCHEME_STANDARD;
    sign_scheme_parse(w->signature_scheme, &sc);
    bool chat = strcmp(w->kind, "webhook") != 0;
    if (chat && strcasecmp(w->content_type, "application/json") != 0)
        return verr_set(e, a->seen & F_CONTENT_TYPE ? "content_type" : "kind",
                        "%s webhooks send application/json", w->kind);
    if (chat && strcmp(w->payload_format, "standard") != 0)
        return verr_set(e, a->seen & F_PAYLOAD_FORMAT ? "payload_format" : "kind",
                        "%s webhooks send a chat message: payload_format must be standard",
                        w->kind);
    if (chat && sc != SCHEME_STANDARD)
        return verr_set(e, a->seen & F_SCHEME ? "signature_scheme" : "kind",
                        "%s webhooks are not signed: signature_scheme must be standard", w->kind);
    if (!sign_scheme_default_header(sc) && w->signature_header[0]) {
        if (a->seen & F_SIG_HEADER)
            return verr_set(e, "signature_header",
                            "signature_header applies to the github, stripe, hex and "
                            "timestamped-hex schemes");
        w->signature_header[0] = '\0';
    }
    if (!sign_scheme_default_ts_header(sc) && w->timestamp_header[0]) {
        if (a->seen & F_TS_HEADER)
            return verr_set(e, "timestamp_header",
                            "timestamp_header applies to the timestamped-hex scheme only");
        w->timestamp_header[0] = '\0';
    }
    const char *sig = w->signature_header[0] ? w->signature_header : sign_scheme_default_header(sc);
    const char *ts =
        w->timestamp_header[0] ? w->timestamp_header : sign_scheme_default_ts_header(sc);
    if (sig && ts && strcasecmp(sig, ts) == 0)
        return verr_set(e, "timestamp_header",
                        "timestamp_header must differ from signature_header");
    if ((sig && headers_name(w->headers, sig)) || (ts && headers_name(w->headers, ts)))
        return verr_set(e, "headers", "headers must not set the signature dialect's own headers");
    if (w->secret && !validate_secret(w->secret, w->signature_scheme, "secret", e)) {
        if (!(a->seen & F_SECRET))
            verr_set(e, "secret",
                     "the standard scheme needs a \"whsec_\" secret: give one in secret");
        return false;
    }
    return true;
}

bool webhook_apply(const cJSON *body, bool from_form, bool create, const struct webhook_ctx *ctx,
                   struct store_webhook *w, struct verr *e)
{
    struct apply a = {.ctx = ctx, .w = w, .e = e, .form = from_form, .create = create};
    if (!cJSON_IsObject(body))
        return verr_set(e, "", "the body must be an object");
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        if (!apply_member(&a, it))
            return false;
    }
    if (create) {
        if (!(a.seen & F_NAME))
            return verr_set(e, "name", "name is required");
        if (!(a.seen & F_URL))
            return verr_set(e, "url", "url is required");
        if (!(a.seen & F_EVENTS))
            return verr_set(e, "events", "events is required");
        if (!w->secret) {
            char s[SIGN_SECRET_MAX];
            sign_secret_new(s);
            w->secret = xstrdup(s);
        }
    }
    return check_combination(&a);
}
