/* Unit tests of the signature dialects: src/sign/dialect.c against
 * known-answer vectors (GitHub's own documented example, and HMACs
 * computed with Python's hmac module as each vendor's docs describe), the
 * requests src/dispatch/send.c builds for dialect, chat and rows webhooks,
 * and the receiver library's herald_verify_request() (lib/verify.c) for
 * every scheme, including its refusals. The end-to-end check against
 * receivers written from the vendors' docs is
 * tests/integration/test_dialects.py. */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "core/util.h"
#include "dispatch/send.h"
#include "herald/verify.h"
#include "sign/dialect.h"

#define BODY                                                                                       \
    "{\"id\":\"evt_1\",\"type\":\"post.published\",\"timestamp\":\"2025-10-05T14:30:00.000Z\","    \
    "\"data\":{\"post_id\":\"post_abc123\"}}"
#define TS 1700000000LL

static void sign(enum sign_scheme s, const char *secret, const char *prev, char *out)
{
    unsigned char k[64], p[64];
    int kl = sign_dialect_key(secret, k);
    assert_true(kl > 0);
    int pl = prev ? sign_dialect_key(prev, p) : 0;
    sign_dialect(s, k, kl, prev ? p : NULL, pl, TS, BODY, strlen(BODY), out);
}

static void test_known_answers(void **state)
{
    (void)state;
    char v[SIGN_DIALECT_VALUE_MAX];
    unsigned char k[64];
    /* GitHub's documentation ("Validating webhook deliveries"). */
    int kl = sign_dialect_key("It's a Secret to Everybody", k);
    sign_dialect(SCHEME_GITHUB, k, kl, NULL, 0, 0, "Hello, World!", 13, v);
    assert_string_equal(v,
                        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    /* Stripe: t=<ts>,v1=hex(HMAC(secret, ts "." body)); both secrets while
     * one rolls. */
    sign(SCHEME_STRIPE, "whsec_test_secret_value", NULL, v);
    assert_string_equal(
        v, "t=1700000000,v1=c06a9c3a51c1ba9024be464e7e58c3318e8b0658fedf461f761385743ae7562c");
    sign(SCHEME_STRIPE, "whsec_test_secret_value", "previous-secret-1", v);
    assert_string_equal(
        v, "t=1700000000,v1=c06a9c3a51c1ba9024be464e7e58c3318e8b0658fedf461f761385743ae7562c,"
           "v1=376de84d2e7b2cc121af098a4e0533a7a0255ef52284aa9b74efef579a72989b");
    /* Seed 002: hash_hmac('sha256', $payloadContents, $secretKey). */
    sign(SCHEME_HEX, "my_php_secret", NULL, v);
    assert_string_equal(v, "c0e94572a0a26320962da3c2c7ac73c1d91e3d974118c18de6bf7e16e56cb264");
    /* Seed 003: hash_hmac('sha256', $timestamp . '.' . $payload, $secret),
     * with the whsec_ secret used whole. */
    sign(SCHEME_TIMESTAMPED_HEX, "whsec_test_1234222222232s334weee", NULL, v);
    assert_string_equal(v, "0d07a06885fa62e76bfecc45ad5e9f7618445ecc51c9825d3778858804b0e0e1");
    /* A secret longer than SHA-256's block signs as HMAC with the whole
     * text does (the key is hashed first, as HMAC itself would). */
    char longsec[128];
    memset(longsec, 'L', 100);
    str_copy(longsec + 100, sizeof longsec - 100, "-long-secret");
    sign(SCHEME_HEX, longsec, NULL, v);
    assert_string_equal(v, "1161deff838b6d06e17cd20e7857ece6dee845e356ca5dd71ffcbb30ca64bdfb");
}

static void test_secrets_and_names(void **state)
{
    (void)state;
    unsigned char k[64];
    assert_true(sign_dialect_secret_valid("12345678"));
    assert_false(sign_dialect_secret_valid("1234567"));
    assert_true(sign_dialect_secret_valid("has a space"));
    assert_false(sign_dialect_secret_valid(" leading-space"));
    assert_false(sign_dialect_secret_valid("trailing-space "));
    assert_false(sign_dialect_secret_valid("new\nline-secret"));
    assert_false(sign_dialect_secret_valid("tab\there!"));
    assert_false(sign_dialect_secret_valid("caf\xC3\xA9-secret"));
    char big[300];
    memset(big, 'x', 257);
    big[257] = '\0';
    assert_false(sign_dialect_secret_valid(big));
    assert_int_equal(sign_dialect_key("short", k), -1);
    enum sign_scheme s;
    assert_true(sign_scheme_parse("timestamped-hex", &s) && s == SCHEME_TIMESTAMPED_HEX);
    assert_false(sign_scheme_parse("GitHub", &s));
    assert_string_equal(sign_scheme_default_header(SCHEME_GITHUB), "X-Hub-Signature-256");
    assert_string_equal(sign_scheme_default_header(SCHEME_STRIPE), "Herald-Signature");
    assert_string_equal(sign_scheme_default_header(SCHEME_HEX), "X-Signature");
    assert_string_equal(sign_scheme_default_ts_header(SCHEME_TIMESTAMPED_HEX), "X-Timestamp");
    assert_null(sign_scheme_default_header(SCHEME_STANDARD));
    assert_null(sign_scheme_default_ts_header(SCHEME_STRIPE));
    assert_string_equal(sign_scheme_name(SCHEME_STRIPE), "stripe");
}

/* ---- the request send.c builds ---- */

static struct herald_config cfg;

static void webhook(struct store_webhook *w, const char *kind, const char *scheme,
                    const char *format, const char *secret)
{
    memset(w, 0, sizeof *w);
    w->url = "http://127.0.0.1:9/x";
    w->secret = (char *)secret;
    w->headers = "{\"X-Team\":\"a\",\"X-Feedspace-Timestamp\":\"forged\"}";
    str_copy(w->method, sizeof w->method, "POST");
    str_copy(w->content_type, sizeof w->content_type, "application/json");
    str_copy(w->kind, sizeof w->kind, kind);
    str_copy(w->signature_scheme, sizeof w->signature_scheme, scheme);
    str_copy(w->payload_format, sizeof w->payload_format, format);
}

static const char *header(const struct attempt *a, const char *name)
{
    size_t n = strlen(name);
    for (const struct curl_slist *l = a->headers; l; l = l->next)
        if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':')
            return l->data + n + 2;
    return NULL;
}

static size_t count(const struct attempt *a, const char *name)
{
    size_t c = 0, n = strlen(name);
    for (const struct curl_slist *l = a->headers; l; l = l->next)
        c += strncasecmp(l->data, name, n) == 0 && l->data[n] == ':';
    return c;
}

/* Lowercase hex HMAC-SHA256 with the secret text as key, with nothing
 * from herald. */
static void hmac_hex(const char *secret, const char *prefix, const char *body, size_t n,
                     char out[65])
{
    size_t pl = prefix ? strlen(prefix) + 1 : 0;
    unsigned char *msg = malloc(pl + n + 1), md[32];
    if (prefix)
        snprintf((char *)msg, pl + 1, "%s.", prefix);
    memcpy(msg + pl, body, n);
    unsigned int ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, pl + n, md, &ml);
    free(msg);
    for (unsigned i = 0; i < ml; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_send_dialect_headers(void **state)
{
    (void)state;
    struct store_webhook w;
    struct attempt a;
    char want[65], tsbuf[24];
    snprintf(tsbuf, sizeof tsbuf, "%lld", TS);
    const int64_t now = TS * 1000 + 456;

    /* Seed 003: custom names, and a custom header with the timestamp's
     * name is dropped rather than sent twice. */
    webhook(&w, "webhook", "timestamped-hex", "standard", "whsec_test_1234222222232s334weee");
    str_copy(w.signature_header, sizeof w.signature_header, "x-feedspace-signature");
    str_copy(w.timestamp_header, sizeof w.timestamp_header, "x-feedspace-timestamp");
    memset(&a, 0, sizeof a);
    assert_int_equal(attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, now), 0);
    hmac_hex(w.secret, tsbuf, a.body.data, a.body.len, want);
    assert_string_equal(header(&a, "x-feedspace-signature"), want);
    assert_string_equal(header(&a, "x-feedspace-timestamp"), tsbuf);
    assert_int_equal(count(&a, "x-feedspace-timestamp"), 1);
    assert_null(header(&a, "webhook-signature"));
    assert_string_equal(header(&a, "webhook-id"), "evt_1");
    assert_string_equal(header(&a, "X-Team"), "a");
    assert_non_null(strstr(a.request_headers.data, "\"x-feedspace-signature\":\""));

    /* GitHub's header over the body, with a prefix. */
    webhook(&w, "webhook", "github", "standard", "It's a Secret to Everybody");
    assert_int_equal(attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, now), 0);
    hmac_hex(w.secret, NULL, a.body.data, a.body.len, want);
    const char *gh = header(&a, "X-Hub-Signature-256");
    assert_non_null(gh);
    assert_memory_equal(gh, "sha256=", 7);
    assert_string_equal(gh + 7, want);

    /* Stripe: both secrets while the old one still signs, one after. */
    webhook(&w, "webhook", "stripe", "standard", "new-secret-1");
    w.prev_secret = "old-secret-1";
    w.prev_secret_expires_at = now + 1000;
    assert_int_equal(attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, now), 0);
    char old[65], exp[256];
    hmac_hex("new-secret-1", tsbuf, a.body.data, a.body.len, want);
    hmac_hex("old-secret-1", tsbuf, a.body.data, a.body.len, old);
    snprintf(exp, sizeof exp, "t=%s,v1=%s,v1=%s", tsbuf, want, old);
    assert_string_equal(header(&a, "Herald-Signature"), exp);
    w.prev_secret_expires_at = now;
    assert_int_equal(attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, now), 0);
    snprintf(exp, sizeof exp, "t=%s,v1=%s", tsbuf, want);
    assert_string_equal(header(&a, "Herald-Signature"), exp);

    /* A dialect secret on a standard webhook cannot sign: refused. */
    webhook(&w, "webhook", "standard", "standard", "not-a-whsec-secret");
    assert_int_equal(attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, now),
                     HERALD_ECRYPTO);
    attempt_release(&a);
}

static void test_send_chat_and_rows(void **state)
{
    (void)state;
    struct store_webhook w;
    struct attempt a;
    memset(&a, 0, sizeof a);
    const char *data = "{\"post_id\":\"p1\",\"platforms\":[\"x\"]}";
    /* Chat: a message, always JSON, no signature, even with a form type. */
    webhook(&w, "slack", "standard", "standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    str_copy(w.content_type, sizeof w.content_type, "application/x-www-form-urlencoded");
    assert_int_equal(
        attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, data, strlen(data), TS * 1000),
        0);
    assert_string_equal(header(&a, "Content-Type"), "application/json");
    assert_null(header(&a, "webhook-signature"));
    assert_string_equal(header(&a, "webhook-id"), "evt_1");
    cJSON *msg = cJSON_Parse(a.body.data);
    assert_string_equal(cJSON_GetObjectItem(msg, "text")->valuestring,
                        "Post p1 was published to x.");
    cJSON_Delete(msg);
    /* Discord needs no secret at all. */
    webhook(&w, "discord", "standard", "standard", "");
    assert_int_equal(
        attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, data, strlen(data), TS * 1000),
        0);
    msg = cJSON_Parse(a.body.data);
    assert_non_null(cJSON_GetObjectItem(msg, "embeds"));
    cJSON_Delete(msg);
    /* Rows, signed over the flat body. */
    webhook(&w, "webhook", "hex", "rows", "my_php_secret");
    assert_int_equal(
        attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, data, strlen(data), TS * 1000),
        0);
    assert_string_equal(a.body.data, "{\"id\":\"evt_1\",\"type\":\"post.published\",\"timestamp\":"
                                     "\"1970-01-01T00:00:00.000Z\",\"data.post_id\":\"p1\","
                                     "\"data.platforms\":\"[\\\"x\\\"]\"}");
    char want[65];
    hmac_hex("my_php_secret", NULL, a.body.data, a.body.len, want);
    assert_string_equal(header(&a, "X-Signature"), want);
    attempt_release(&a);
}

/* ---- the receiver library ---- */

struct hdrs {
    const char *name[4], *value[4];
};

static const char *lookup(void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    for (int i = 0; i < 4 && h->name[i]; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

static int check(int scheme, const char *secret, struct hdrs *h, const char *body, int64_t now)
{
    struct herald_verify_options o = {.scheme = scheme, .now = now, .tolerance = 300};
    if (scheme == HERALD_SCHEME_TIMESTAMPED_HEX) {
        o.signature_header = "x-feedspace-signature";
        o.timestamp_header = "x-feedspace-timestamp";
    }
    return herald_verify_request(secret, &o, lookup, h, body, strlen(body));
}

static void test_receiver_library(void **state)
{
    (void)state;
    char v[SIGN_DIALECT_VALUE_MAX], ts[24];
    snprintf(ts, sizeof ts, "%lld", TS);
    struct hdrs h = {{"X-Hub-Signature-256"}, {v}};
    sign(SCHEME_GITHUB, "whsec_test_secret_value", NULL, v);
    assert_int_equal(check(HERALD_SCHEME_GITHUB, "whsec_test_secret_value", &h, BODY, 0),
                     HERALD_VERIFY_OK);
    assert_int_equal(check(HERALD_SCHEME_GITHUB, "whsec_wrong", &h, BODY, 0),
                     HERALD_VERIFY_MISMATCH);
    assert_int_equal(check(HERALD_SCHEME_GITHUB, "whsec_test_secret_value", &h, BODY "x", 0),
                     HERALD_VERIFY_MISMATCH);

    h.name[0] = "herald-signature";
    sign(SCHEME_STRIPE, "whsec_test_secret_value", "old-secret-1", v);
    assert_int_equal(check(HERALD_SCHEME_STRIPE, "old-secret-1", &h, BODY, TS + 299),
                     HERALD_VERIFY_OK);
    assert_int_equal(check(HERALD_SCHEME_STRIPE, "whsec_test_secret_value", &h, BODY, TS - 10),
                     HERALD_VERIFY_OK);
    assert_int_equal(check(HERALD_SCHEME_STRIPE, "whsec_test_secret_value", &h, BODY, TS + 301),
                     HERALD_VERIFY_TOO_OLD);
    /* The window's edges never overflow (under the sanitizers, now +
     * tolerance did): the widest tolerance takes any time a clock can
     * read, and not one ~2^63 s away. */
    struct herald_verify_options wide = {
        .scheme = HERALD_SCHEME_STRIPE, .now = TS + 1000000000, .tolerance = INT64_MAX};
    assert_int_equal(herald_verify_request("old-secret-1", &wide, lookup, &h, BODY, strlen(BODY)),
                     HERALD_VERIFY_OK);
    wide.now = INT64_MIN;
    assert_int_equal(herald_verify_request("old-secret-1", &wide, lookup, &h, BODY, strlen(BODY)),
                     HERALD_VERIFY_TOO_OLD);

    h.name[0] = "X-Signature";
    sign(SCHEME_HEX, "my_php_secret", NULL, v);
    assert_int_equal(check(HERALD_SCHEME_HEX, "my_php_secret", &h, BODY, 0), HERALD_VERIFY_OK);

    h.name[0] = "x-feedspace-signature";
    h.name[1] = "X-Feedspace-Timestamp";
    h.value[1] = ts;
    sign(SCHEME_TIMESTAMPED_HEX, "whsec_test_1234222222232s334weee", NULL, v);
    assert_int_equal(
        check(HERALD_SCHEME_TIMESTAMPED_HEX, "whsec_test_1234222222232s334weee", &h, BODY, TS),
        HERALD_VERIFY_OK);
    h.value[1] = "1700000001";
    assert_int_equal(
        check(HERALD_SCHEME_TIMESTAMPED_HEX, "whsec_test_1234222222232s334weee", &h, BODY, TS),
        HERALD_VERIFY_MISMATCH);
    h.value[1] = "17e8";
    assert_int_equal(
        check(HERALD_SCHEME_TIMESTAMPED_HEX, "whsec_test_1234222222232s334weee", &h, BODY, TS),
        HERALD_VERIFY_BAD_TIMESTAMP);
    h.name[1] = NULL;
    assert_int_equal(
        check(HERALD_SCHEME_TIMESTAMPED_HEX, "whsec_test_1234222222232s334weee", &h, BODY, TS),
        HERALD_VERIFY_MISSING_HEADER);

    struct herald_verify_options bad = {.scheme = 9};
    assert_int_equal(herald_verify_request("s", &bad, lookup, &h, "", 0), HERALD_VERIFY_BAD_SCHEME);
    assert_int_equal(herald_scheme_parse("stripe"), HERALD_SCHEME_STRIPE);
    assert_int_equal(herald_scheme_parse("nope"), -1);
}

int main(void)
{
    config_defaults(&cfg);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),        cmocka_unit_test(test_secrets_and_names),
        cmocka_unit_test(test_send_dialect_headers), cmocka_unit_test(test_send_chat_and_rows),
        cmocka_unit_test(test_receiver_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
