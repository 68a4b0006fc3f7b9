/* Tests for the field checks of src/api/validate.c: callback URLs,
 * custom headers, event subscriptions and whole webhook bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "api/form.h"
#include "api/http.h"
#include "api/validate.h"
#include "core/config.h"
#include "sign/sign.h"

static struct herald_config prod, dev, allow;

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    config_defaults(&prod);
    config_defaults(&dev);
    dev.dev = true;
    config_defaults(&allow);
    assert_true(cidr_parse("127.0.0.0/8", &allow.allow[0]));
    assert_true(cidr_parse("fd00::/8", &allow.allow[1]));
    allow.n_allow = 2;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

/* Expects url refused under cfg with a message containing want. */
static void refused(const char *url, const struct herald_config *cfg, const char *want)
{
    struct verr e;
    memset(&e, 0, sizeof e);
    if (validate_url(url, cfg, &e))
        fail_msg("accepted %s", url);
    assert_string_equal(e.field, "url");
    if (!strstr(e.message, want))
        fail_msg("%s: message \"%s\" lacks \"%s\"", url, e.message, want);
}

static void accepted(const char *url, const struct herald_config *cfg)
{
    struct verr e;
    memset(&e, 0, sizeof e);
    if (!validate_url(url, cfg, &e))
        fail_msg("refused %s: %s", url, e.message);
}

static void test_url_https_accepted(void **state)
{
    (void)state;
    accepted("https://example.com/webhook", &prod);
    accepted("https://hooks.slack.com/services/T0/B0/x?a=1&b=2#frag", &prod);
    accepted("HTTPS://EXAMPLE.COM:8443/x", &prod);
    accepted("https://[2001:db8::1]/x", &prod);
    accepted("https://203.0.113.9:443/", &prod);
    accepted("https://example.com:65535/", &prod);
}

static void test_url_schemes(void **state)
{
    (void)state;
    refused("file:///etc/passwd", &prod, "http or https");
    refused("ftp://example.com/x", &prod, "http or https");
    refused("javascript:alert(1)", &prod, "");
    refused("gopher://example.com/", &prod, "http or https");
    refused("dict://example.com:11111/", &prod, "http or https");
    refused("/relative/path", &prod, "absolute");
    refused("example.com/webhook", &prod, "absolute");
    refused("", &prod, "required");
    refused("https://", &prod, "");
    refused("http:///x", &dev, "absolute");
    refused("http:/x", &dev, "absolute");
    refused("https:example.com", &prod, "");
}

static void test_url_control_and_whitespace(void **state)
{
    (void)state;
    refused("https://example.com/a\r\nX-Injected: 1", &prod, "whitespace or control");
    refused("https://example.com/a\nb", &prod, "whitespace or control");
    refused("https://example.com/a b", &prod, "whitespace or control");
    refused("https://example.com/\t", &prod, "whitespace or control");
    refused(" https://example.com/", &prod, "whitespace or control");
    refused("https://example.com/\x7f", &prod, "whitespace or control");
    refused("https://ex\xC3\xA4mple.com/", &prod, "ASCII");
    char longurl[WEBHOOK_URL_MAX + 32];
    snprintf(longurl, sizeof longurl, "https://example.com/");
    memset(longurl + strlen(longurl), 'a', WEBHOOK_URL_MAX);
    longurl[WEBHOOK_URL_MAX + 1] = '\0';
    refused(longurl, &prod, "at most");
}

static void test_url_userinfo(void **state)
{
    (void)state;
    refused("https://user:pass@example.com/", &prod, "credentials");
    refused("https://user@example.com/", &prod, "credentials");
    refused("https://:pass@example.com/", &prod, "credentials");
    refused("https://@example.com/", &dev, "");
}

static void test_url_ports(void **state)
{
    (void)state;
    refused("https://example.com:22/", &prod, "port 22 is not allowed");
    refused("https://example.com:25/", &prod, "not allowed");
    refused("https://example.com:6379/", &prod, "not allowed");
    refused("https://example.com:11211/", &prod, "not allowed");
    refused("https://example.com:2375/", &prod, "not allowed");
    refused("https://example.com:0/", &prod, "");
    refused("https://example.com:65536/", &prod, "");
    refused("https://example.com:99999999999/", &prod, "");
    refused("https://example.com:-1/", &prod, "");
    accepted("https://example.com:8080/", &prod);
    assert_true(port_denied(0));
    assert_true(port_denied(5432));
    assert_false(port_denied(443));
    assert_false(port_denied(9000));
}

static void test_url_http_needs_dev_or_allowed_cidr(void **state)
{
    (void)state;
    refused("http://example.com/", &prod, "must use https");
    refused("http://127.0.0.1:9000/", &prod, "must use https");
    accepted("http://example.com/", &dev);
    accepted("http://localhost:9000/x", &dev);
    accepted("http://127.0.0.1:9000/hook", &allow);
    accepted("http://127.9.9.9/", &allow);
    accepted("http://[fd00::1]:8080/", &allow);
    refused("http://10.0.0.1/", &allow, "must use https");
    refused("http://[fe80::1]/", &allow, "must use https");
    /* A name is not an IP literal, even one resolving into the range. */
    refused("http://localhost:9000/", &allow, "must use https");
    refused("http://[fe80::1%25eth0]/", &dev, "zone");
}

static bool headers_ok(const char *json, char **out, struct verr *e)
{
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    bool ok = validate_headers(v, false, e, out);
    cJSON_Delete(v);
    return ok;
}

static void test_headers(void **state)
{
    (void)state;
    struct verr e;
    char *out = NULL;
    assert_true(headers_ok("{\"X-Team\":\"core\",\"Authorization\":\"Bearer abc\"}", &out, &e));
    assert_string_equal(out, "{\"X-Team\":\"core\",\"Authorization\":\"Bearer abc\"}");
    free(out);
    assert_true(headers_ok("{}", &out, &e));
    free(out);
    static const char *const bad[] = {
        "[]",
        "\"X-A: b\"",
        "{\"X-A\":1}",
        "{\"X-A\":\"\"}",
        "{\"X A\":\"v\"}",
        "{\"X-A:\":\"v\"}",
        "{\"\":\"v\"}",
        "{\"X-A\":\"a\\r\\nInjected: 1\"}",
        "{\"X-A\":\"a\\nb\"}",
        "{\"X-A\":\"caf\xC3\xA9\"}",
        "{\"Connection\":\"close\"}",
        "{\"transfer-encoding\":\"chunked\"}",
        "{\"Host\":\"evil\"}",
        "{\"Content-Length\":\"5\"}",
        "{\"Content-Type\":\"text/plain\"}",
        "{\"User-Agent\":\"MyApp/1.0\"}", /* herald's own: the sender would drop it */
        "{\"TE\":\"trailers\"}",
        "{\"Upgrade\":\"h2c\"}",
        "{\"Proxy-Authorization\":\"x\"}",
        "{\"webhook-id\":\"x\"}",
        "{\"Webhook-Signature\":\"v1,x\"}",
        "{\"X-Hub-Signature-256\":\"x\"}",
        "{\"X-A\":\"1\",\"x-a\":\"2\"}",
        /* Blanks around a value are not part of it (RFC 9110): stored, they
         * would not be what is sent. */
        "{\"X-A\":\" \"}",
        "{\"X-A\":\" x\"}",
        "{\"X-A\":\"x \"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        if (headers_ok(bad[i], &out, &e))
            fail_msg("accepted headers %s", bad[i]);
        assert_null(out);
        assert_string_equal(e.field, "headers");
    }
    /* Caps: 20 headers, 64-char names, 1024-char values. */
    char big[4096] = "{";
    for (int i = 0; i < WEBHOOK_HEADERS_MAX; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"X-H%d\":\"v\"", i ? "," : "", i);
    strncat(big, "}", sizeof big - strlen(big) - 1);
    assert_true(headers_ok(big, &out, &e));
    free(out);
    big[strlen(big) - 1] = '\0';
    strncat(big, ",\"X-One-Too-Many\":\"v\"}", sizeof big - strlen(big) - 1);
    assert_false(headers_ok(big, &out, &e));
    char name[80];
    memset(name, 'a', 65);
    name[65] = '\0';
    snprintf(big, sizeof big, "{\"%s\":\"v\"}", name);
    assert_false(headers_ok(big, &out, &e));
    name[64] = '\0';
    snprintf(big, sizeof big, "{\"%s\":\"v\"}", name);
    assert_true(headers_ok(big, &out, &e));
    free(out);
    char value[1100];
    memset(value, 'v', 1025);
    value[1025] = '\0';
    snprintf(big, sizeof big, "{\"X-A\":\"%s\"}", value);
    assert_false(headers_ok(big, &out, &e));
}

static bool own_types(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "invoice.paid") == 0;
}

static bool events_ok(const char *json, bool form, char **out, struct verr *e)
{
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    bool ok = validate_events(v, form, own_types, NULL, "events", e, out);
    cJSON_Delete(v);
    return ok;
}

static void test_events(void **state)
{
    (void)state;
    struct verr e;
    char *out = NULL;
    assert_true(events_ok("[\"post.published\",\"post.*\",\"*\",\"invoice.paid\",\"newLead\"]",
                          false, &out, &e));
    assert_string_equal(out, "[\"post.published\",\"post.*\",\"*\",\"invoice.paid\",\"newLead\"]");
    free(out);
    /* Duplicates dropped; a form string may list several. */
    assert_true(events_ok("[\"post.failed\",\"post.failed\"]", false, &out, &e));
    assert_string_equal(out, "[\"post.failed\"]");
    free(out);
    assert_true(events_ok("\"post.published,post.failed\"", true, &out, &e));
    assert_string_equal(out, "[\"post.published\",\"post.failed\"]");
    free(out);
    static const char *const bad[] = {
        "[]",           "\"post.published\"", "{}",
        "[1]",          "[\"post.unknown\"]", "[\"post.\"]",
        "[\"*.post\"]", "[\"po st\"]",        "[\"post..x\"]",
        "[\"\"]",       "[\"p*\"]",           "[null]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        if (events_ok(bad[i], false, &out, &e))
            fail_msg("accepted events %s", bad[i]);
        assert_string_equal(e.field, "events");
    }
    assert_false(events_ok("\"post.published,,post.failed\"", true, &out, &e));
    char many[4096] = "[";
    for (int i = 0; i <= WEBHOOK_EVENTS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"p%d.*\"", i ? "," : "", i);
    strncat(many, "]", sizeof many - strlen(many) - 1);
    assert_false(events_ok(many, false, &out, &e));
    assert_true(strstr(e.message, "at most") != NULL);
}

/* Applies a JSON (or form) body to a new webhook. */
static bool apply(const char *body, bool form, bool create, struct store_webhook *w, struct verr *e)
{
    cJSON *o = NULL;
    if (form) {
        const char *why;
        assert_int_equal(form_parse(body, strlen(body), &o, &why), 0);
    } else {
        o = cJSON_Parse(body);
    }
    assert_non_null(o);
    struct webhook_ctx ctx = {.cfg = &prod, .type_known = own_types, .now = 1000000};
    memset(e, 0, sizeof *e);
    bool ok = webhook_apply(o, form, create, &ctx, w, e);
    cJSON_Delete(o);
    return ok;
}

static void test_webhook_create_defaults(void **state)
{
    (void)state;
    struct store_webhook w;
    struct verr e;
    webhook_defaults(&w);
    assert_true(apply("{\"name\":\"Hook\",\"url\":\"https://example.com/h\","
                      "\"events\":[\"post.published\"]}",
                      false, true, &w, &e));
    assert_string_equal(w.method, "POST");
    assert_string_equal(w.content_type, "application/json");
    assert_int_equal(w.max_attempts, 4);
    assert_int_equal(w.max_in_flight, 8);
    assert_int_equal(w.rate_limit, 0);
    assert_true(w.enabled);
    assert_string_equal(w.kind, "webhook");
    assert_string_equal(w.signature_scheme, "standard");
    assert_string_equal(w.headers, "{}");
    assert_non_null(w.secret);
    assert_true(sign_secret_valid(w.secret));
    store_webhook_release(&w);
}

static void test_webhook_seed_002_fields(void **state)
{
    (void)state;
    struct store_webhook w;
    struct verr e;
    webhook_defaults(&w);
    char secret[SIGN_SECRET_MAX];
    sign_secret_new(secret);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"All\",\"url\":\"https://example.com/h\",\"method\":\"put\","
             "\"content_type\":\"application/x-www-form-urlencoded\",\"max_attempts\":1,"
             "\"status\":\"Inactive\",\"secret\":\"%s\",\"events\":[\"post.deleted\"],"
             "\"description\":\"line 1\\nline 2\",\"headers\":{\"X-A\":\"b\"},"
             "\"rate_limit\":10,\"max_in_flight\":2,\"id\":\"ignored\"}",
             secret);
    assert_true(apply(body, false, true, &w, &e));
    assert_string_equal(w.method, "PUT");
    assert_string_equal(w.content_type, "application/x-www-form-urlencoded");
    assert_int_equal(w.max_attempts, 1);
    assert_false(w.enabled);
    assert_string_equal(w.secret, secret);
    assert_string_equal(w.events, "[\"post.deleted\"]");
    assert_string_equal(w.description, "line 1\nline 2");
    assert_int_equal(w.rate_limit, 10);
    assert_int_equal(w.max_in_flight, 2);
    store_webhook_release(&w);
}

static void test_webhook_form_body(void **state)
{
    (void)state;
    struct store_webhook w;
    struct verr e;
    webhook_defaults(&w);
    /* Seed 004: curl -d event=… -d name=… -d url=… -d isEnabled=1 */
    assert_true(apply("event=newAssignment&name=Slack+Assignment&url=https%3A%2F%2Fhooks.example."
                      "com%2Fx&description=d&isEnabled=0&max_attempts=7&headers%5BX-A%5D=1",
                      true, true, &w, &e));
    assert_string_equal(w.events, "[\"newAssignment\"]");
    assert_string_equal(w.name, "Slack Assignment");
    assert_false(w.enabled);
    assert_int_equal(w.max_attempts, 7);
    assert_string_equal(w.headers, "{\"X-A\":\"1\"}");
    store_webhook_release(&w);
    webhook_defaults(&w);
    assert_true(apply("name=a&url=https%3A%2F%2Fx.example&events=post.published&events=post.failed"
                      "&enabled=on&secret=",
                      true, true, &w, &e));
    assert_string_equal(w.events, "[\"post.published\",\"post.failed\"]");
    assert_true(w.enabled);
    store_webhook_release(&w);
    webhook_defaults(&w);
    assert_false(apply("name=a&url=https%3A%2F%2Fx.example&events=post.published&max_attempts=+4",
                       true, true, &w, &e));
    assert_string_equal(e.field, "max_attempts");
    store_webhook_release(&w);
}

/* Each body must be refused, blaming field. */
static void expect_refused(const char *body, const char *field)
{
    struct store_webhook w;
    struct verr e;
    webhook_defaults(&w);
    if (apply(body, false, true, &w, &e))
        fail_msg("accepted %s", body);
    if (strcmp(e.field, field) != 0)
        fail_msg("%s: blamed \"%s\" (%s), expected \"%s\"", body, e.field, e.message, field);
    store_webhook_release(&w);
}

#define BASE "\"name\":\"n\",\"url\":\"https://example.com/\",\"events\":[\"*\"]"

static void test_webhook_refusals(void **state)
{
    (void)state;
    expect_refused("{\"url\":\"https://example.com/\",\"events\":[\"*\"]}", "name");
    expect_refused("{\"name\":\"n\",\"events\":[\"*\"]}", "url");
    expect_refused("{\"name\":\"n\",\"url\":\"https://example.com/\"}", "events");
    expect_refused("{" BASE ",\"bogus\":1}", "bogus");
    expect_refused("{" BASE ",\"name\":\"again\"}", "name");
    expect_refused("{" BASE ",\"enabled\":true,\"status\":\"active\"}", "status");
    expect_refused("{\"name\":\"\",\"url\":\"https://example.com/\",\"events\":[\"*\"]}", "name");
    expect_refused("{\"name\":5,\"url\":\"https://example.com/\",\"events\":[\"*\"]}", "name");
    expect_refused("{\"name\":\"a\\u0001b\",\"url\":\"https://e.com/\",\"events\":[\"*\"]}",
                   "name");
    expect_refused("{\"name\":\"n\",\"url\":\"http://example.com/\",\"events\":[\"*\"]}", "url");
    expect_refused("{\"name\":\"n\",\"url\":[],\"events\":[\"*\"]}", "url");
    expect_refused("{" BASE ",\"method\":\"GET\"}", "method");
    expect_refused("{" BASE ",\"content_type\":\"text/xml\"}", "content_type");
    expect_refused("{" BASE ",\"max_attempts\":0}", "max_attempts");
    expect_refused("{" BASE ",\"max_attempts\":21}", "max_attempts");
    expect_refused("{" BASE ",\"max_attempts\":2.5}", "max_attempts");
    expect_refused("{" BASE ",\"max_attempts\":\"4\"}", "max_attempts");
    expect_refused("{" BASE ",\"max_attempts\":1e300}", "max_attempts");
    expect_refused("{" BASE ",\"rate_limit\":-1}", "rate_limit");
    expect_refused("{" BASE ",\"rate_limit\":10001}", "rate_limit");
    expect_refused("{" BASE ",\"max_in_flight\":0}", "max_in_flight");
    expect_refused("{" BASE ",\"max_in_flight\":257}", "max_in_flight");
    expect_refused("{" BASE ",\"enabled\":\"yes\"}", "enabled");
    expect_refused("{" BASE ",\"enabled\":2}", "enabled");
    expect_refused("{" BASE ",\"status\":\"paused\"}", "status");
    expect_refused("{" BASE ",\"kind\":\"teams\"}", "kind");
    expect_refused("{" BASE ",\"kind\":\"Slack\"}", "kind");
    expect_refused("{" BASE ",\"signature_scheme\":\"md5\"}", "signature_scheme");
    expect_refused("{" BASE ",\"payload_format\":\"csv\"}", "payload_format");
    /* A dialect secret needs a dialect; slack and discord are not signed. */
    expect_refused("{" BASE ",\"secret\":\"not-a-whsec-secret\"}", "secret");
    expect_refused("{" BASE ",\"signature_scheme\":\"hex\",\"secret\":\"short\"}", "secret");
    expect_refused("{" BASE ",\"signature_scheme\":\"hex\",\"secret\":\"trailing space \"}",
                   "secret");
    expect_refused("{" BASE ",\"kind\":\"slack\",\"signature_scheme\":\"github\"}",
                   "signature_scheme");
    expect_refused("{" BASE ",\"kind\":\"discord\",\"payload_format\":\"rows\"}", "payload_format");
    expect_refused("{" BASE ",\"kind\":\"slack\",\"content_type\":"
                   "\"application/x-www-form-urlencoded\"}",
                   "content_type");
    /* Header names: only where the scheme uses them, valid, distinct. */
    expect_refused("{" BASE ",\"signature_header\":\"X-Sig\"}", "signature_header");
    expect_refused("{" BASE ",\"signature_scheme\":\"hex\",\"timestamp_header\":\"X-T\"}",
                   "timestamp_header");
    expect_refused("{" BASE ",\"signature_scheme\":\"hex\",\"signature_header\":\"X Sig\"}",
                   "signature_header");
    expect_refused("{" BASE ",\"signature_scheme\":\"hex\",\"signature_header\":"
                   "\"Content-Type\"}",
                   "signature_header");
    expect_refused("{" BASE ",\"signature_scheme\":\"hex\",\"signature_header\":"
                   "\"webhook-signature\"}",
                   "signature_header");
    expect_refused("{" BASE ",\"signature_scheme\":\"timestamped-hex\","
                   "\"signature_header\":\"X-A\",\"timestamp_header\":\"x-a\"}",
                   "timestamp_header");
    expect_refused("{" BASE ",\"signature_scheme\":\"timestamped-hex\","
                   "\"headers\":{\"X-Timestamp\":\"1\"}}",
                   "headers");
    expect_refused("{" BASE ",\"secret\":\"hunter2\"}", "secret");
    expect_refused("{" BASE ",\"secret\":\"whsec_AAAA\"}", "secret");
    expect_refused("{" BASE ",\"headers\":{\"Host\":\"x\"}}", "headers");
    expect_refused("{" BASE ",\"events\":[\"nope.nope\"]}", "events");
    expect_refused("{" BASE ",\"event\":[\"post.published\"]}", "event");
    char body[2048];
    char name[WEBHOOK_NAME_MAX + 2];
    memset(name, 'n', WEBHOOK_NAME_MAX + 1);
    name[WEBHOOK_NAME_MAX + 1] = '\0';
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"url\":\"https://e.com/\",\"events\":[\"*\"]}",
             name);
    expect_refused(body, "name");
}

static void test_webhook_partial_update(void **state)
{
    (void)state;
    struct store_webhook w;
    struct verr e;
    webhook_defaults(&w);
    assert_true(apply("{" BASE ",\"description\":\"d\"}", false, true, &w, &e));
    char *old_secret = strdup(w.secret);
    w.disabled_reason = strdup("410 Gone");
    w.enabled = false;
    /* Only the given fields change; enabling clears the reason. */
    assert_true(apply("{\"max_attempts\":9,\"enabled\":true}", false, false, &w, &e));
    assert_int_equal(w.max_attempts, 9);
    assert_string_equal(w.name, "n");
    assert_string_equal(w.description, "d");
    assert_true(w.enabled);
    assert_null(w.disabled_reason);
    assert_string_equal(w.secret, old_secret);
    /* A new secret keeps the old one signing for 24 h. */
    char secret[SIGN_SECRET_MAX];
    sign_secret_new(secret);
    char body[256];
    snprintf(body, sizeof body, "{\"secret\":\"%s\"}", secret);
    assert_true(apply(body, false, false, &w, &e));
    assert_string_equal(w.secret, secret);
    assert_string_equal(w.prev_secret, old_secret);
    assert_int_equal(w.prev_secret_expires_at, 1000000 + WEBHOOK_PREV_SECRET_MS);
    /* Refused updates name their field too. */
    assert_false(apply("{\"url\":\"file:///etc/passwd\"}", false, false, &w, &e));
    assert_string_equal(e.field, "url");
    free(old_secret);
    store_webhook_release(&w);
}

/* Integrations (issue 8): chat kinds, rows, signature dialects. */
static void test_webhook_integrations(void **state)
{
    (void)state;
    struct store_webhook w;
    struct verr e;
    webhook_defaults(&w);
    assert_string_equal(w.payload_format, "standard");
    assert_true(apply("{" BASE ",\"kind\":\"slack\"}", false, true, &w, &e));
    assert_string_equal(w.kind, "slack");
    store_webhook_release(&w);

    /* The secret may come before the scheme that allows it. */
    webhook_defaults(&w);
    assert_false(apply("{" BASE ",\"secret\":\"seed 002 secret\"}", false, true, &w, &e));
    assert_string_equal(e.field, "secret");
    store_webhook_release(&w);
    webhook_defaults(&w);
    assert_true(
        apply("{" BASE ",\"secret\":\"my_php_secret\",\"signature_scheme\":\"hex\","
              "\"payload_format\":\"rows\",\"signature_header\":\"X-Blackspace-Signature\"}",
              false, true, &w, &e));
    assert_string_equal(w.secret, "my_php_secret");
    assert_string_equal(w.signature_scheme, "hex");
    assert_string_equal(w.payload_format, "rows");
    assert_string_equal(w.signature_header, "X-Blackspace-Signature");
    assert_string_equal(w.timestamp_header, "");

    /* Back to standard: a non-whsec secret is refused unless replaced… */
    assert_false(apply("{\"signature_scheme\":\"standard\"}", false, false, &w, &e));
    assert_string_equal(e.field, "secret");
    char secret[SIGN_SECRET_MAX], body[512];
    sign_secret_new(secret);
    snprintf(body, sizeof body, "{\"signature_scheme\":\"standard\",\"secret\":\"%s\"}", secret);
    store_webhook_release(&w);
    webhook_defaults(&w);
    assert_true(apply("{" BASE ",\"secret\":\"my_php_secret\",\"signature_scheme\":\"github\","
                      "\"signature_header\":\"X-Sig\"}",
                      false, true, &w, &e));
    assert_true(apply(body, false, false, &w, &e));
    /* …and the header name the standard scheme does not use is dropped. */
    assert_string_equal(w.signature_scheme, "standard");
    assert_string_equal(w.signature_header, "");
    assert_string_equal(w.secret, secret);
    store_webhook_release(&w);

    /* Seed 003 (Feedspace): both header names configurable; null resets. */
    webhook_defaults(&w);
    assert_true(apply("{" BASE ",\"signature_scheme\":\"timestamped-hex\","
                      "\"secret\":\"whsec_test_1234222222232s334weee\","
                      "\"signature_header\":\"x-feedspace-signature\","
                      "\"timestamp_header\":\"x-feedspace-timestamp\"}",
                      false, true, &w, &e));
    assert_string_equal(w.timestamp_header, "x-feedspace-timestamp");
    assert_true(apply("{\"timestamp_header\":null}", false, false, &w, &e));
    assert_string_equal(w.timestamp_header, "");
    assert_string_equal(w.signature_header, "x-feedspace-signature");
    store_webhook_release(&w);
}

static void test_utf8_and_text(void **state)
{
    (void)state;
    assert_true(utf8_valid("caf\xC3\xA9 \xF0\x9F\x98\x80", 10));
    assert_false(utf8_valid("\xC3", 1));
    assert_false(utf8_valid("\xED\xA0\x80", 3));
    assert_false(utf8_valid("a\0b", 3));
    /* A quote cut inside a character loses that character, nothing else. */
    char cut[] = "field \"caf\xC3\" and \xF0\x9F\x98 \xE2\x82\xAC\xFF";
    utf8_scrub(cut);
    assert_string_equal(cut, "field \"caf\" and  \xE2\x82\xAC");
    /* So does an error answer that quotes a name cut inside one: the
     * message's cut at 64 bytes and the field's at sizeof e.field. */
    struct verr e;
    char name[80], longer[120];
    snprintf(name, sizeof name, "%063d\xC3\xA9", 0);     /* 65 bytes, cut at 64 */
    snprintf(longer, sizeof longer, "%094d\xC3\xA9", 0); /* 96 bytes, cut at 95 */
    verr_set(&e, longer, "unknown field %.64s", name);
    struct api_resp rs = {0};
    resp_verr(&rs, &e);
    assert_int_equal(rs.status, 422);
    assert_true(utf8_valid(rs.body, rs.len));
    cJSON *doc = cJSON_ParseWithLength(rs.body, rs.len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const char *msg = cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring;
    const char *field = cJSON_GetObjectItemCaseSensitive(err, "field")->valuestring;
    assert_int_equal(strlen(msg), strlen("unknown field ") + 63);
    assert_int_equal(strncmp(msg, "unknown field 000", 17), 0);
    assert_int_equal(strlen(field), 94);
    assert_int_equal(strspn(field, "0"), 94);
    cJSON_Delete(doc);
    resp_release(&rs);
    assert_true(validate_text("\xC3\xA9\xC3\xA9", "name", 1, 2, false, &e));
    assert_false(validate_text("\xC3\xA9\xC3\xA9\xC3\xA9", "name", 1, 2, false, &e));
    assert_false(validate_text("a\nb", "name", 1, 10, false, &e));
    assert_true(validate_text("a\nb", "description", 0, 10, true, &e));
    bool b;
    assert_true(parse_bool_text("ON", &b) && b);
    assert_true(parse_bool_text("0", &b) && !b);
    assert_false(parse_bool_text("maybe", &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_https_accepted),
        cmocka_unit_test(test_url_schemes),
        cmocka_unit_test(test_url_control_and_whitespace),
        cmocka_unit_test(test_url_userinfo),
        cmocka_unit_test(test_url_ports),
        cmocka_unit_test(test_url_http_needs_dev_or_allowed_cidr),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_webhook_create_defaults),
        cmocka_unit_test(test_webhook_seed_002_fields),
        cmocka_unit_test(test_webhook_form_body),
        cmocka_unit_test(test_webhook_refusals),
        cmocka_unit_test(test_webhook_partial_update),
        cmocka_unit_test(test_webhook_integrations),
        cmocka_unit_test(test_utf8_and_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
