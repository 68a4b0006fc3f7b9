/* Tests for the form body parser (src/api/form.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/form.h"
#include "core/err.h"

/* Parses s and returns the compact JSON text (static), or "ERR: why". */
static const char *parse(const char *s)
{
    static char out[1024];
    cJSON *o = NULL;
    const char *why = NULL;
    int rc = form_parse(s, strlen(s), &o, &why);
    if (rc) {
        assert_null(o);
        assert_int_equal(rc, HERALD_EINVAL);
        snprintf(out, sizeof out, "ERR: %s", why);
        return out;
    }
    char *t = cJSON_PrintUnformatted(o);
    snprintf(out, sizeof out, "%s", t);
    free(t);
    cJSON_Delete(o);
    return out;
}

static void test_plain_pairs(void **state)
{
    (void)state;
    assert_string_equal(parse(""), "{}");
    assert_string_equal(parse("a=1"), "{\"a\":\"1\"}");
    assert_string_equal(parse("name=Slack+Hook&isEnabled=1"),
                        "{\"name\":\"Slack Hook\",\"isEnabled\":\"1\"}");
    assert_string_equal(parse("flag"), "{\"flag\":\"\"}");
    assert_string_equal(parse("a="), "{\"a\":\"\"}");
    assert_string_equal(parse("a=1&&b=2&"), "{\"a\":\"1\",\"b\":\"2\"}");
    assert_string_equal(parse("a=x=y"), "{\"a\":\"x=y\"}");
}

static void test_percent_decoding(void **state)
{
    (void)state;
    assert_string_equal(parse("url=https%3A%2F%2Fexample.com%2Fhook%3Fa%3D1%26b%3D2"),
                        "{\"url\":\"https://example.com/hook?a=1&b=2\"}");
    assert_string_equal(parse("p=%2B%20+"), "{\"p\":\"+  \"}");
    assert_string_equal(parse("%6E%61me=x"), "{\"name\":\"x\"}");
    assert_string_equal(parse("e=caf%C3%A9"), "{\"e\":\"caf\xC3\xA9\"}");
    assert_string_equal(parse("lower=%c3%a9"), "{\"lower\":\"\xC3\xA9\"}");
}

static void test_repeated_keys_make_lists(void **state)
{
    (void)state;
    assert_string_equal(parse("events=post.published&events=post.failed"),
                        "{\"events\":[\"post.published\",\"post.failed\"]}");
    assert_string_equal(parse("e=a&x=1&e=b&e=c"), "{\"e\":[\"a\",\"b\",\"c\"],\"x\":\"1\"}");
    assert_string_equal(parse("e[]=a"), "{\"e\":[\"a\"]}");
    assert_string_equal(parse("e[]=a&e[]=b&e=c"), "{\"e\":[\"a\",\"b\",\"c\"]}");
    assert_string_equal(parse("e=a&e[]=b"), "{\"e\":[\"a\",\"b\"]}");
}

static void test_nested_objects(void **state)
{
    (void)state;
    assert_string_equal(parse("headers[X-Team]=core&headers[X-Env]=prod"),
                        "{\"headers\":{\"X-Team\":\"core\",\"X-Env\":\"prod\"}}");
    assert_string_equal(parse("h%5BA%5D=1"), "{\"h\":{\"A\":\"1\"}}");
    assert_string_equal(parse("h[a]=1&h[a]=2"), "ERR: form object member repeated");
    assert_string_equal(parse("h=1&h[a]=2"),
                        "ERR: form field given both as a value and as an object");
    assert_string_equal(parse("h[a]=1&h=2"),
                        "ERR: form field given both as a value and as an object");
    assert_string_equal(parse("h[a]=1&h[]=2"),
                        "ERR: form field given both as a value and as an object");
    /* Brackets that do not form name[sub] are part of the name. */
    assert_string_equal(parse("[a]=1"), "{\"[a]\":\"1\"}");
    assert_string_equal(parse("a[=1"), "{\"a[\":\"1\"}");
}

static void test_malformed(void **state)
{
    (void)state;
    assert_string_equal(parse("a=%"), "ERR: malformed percent-escape");
    assert_string_equal(parse("a=%4"), "ERR: malformed percent-escape");
    assert_string_equal(parse("a=%G1"), "ERR: malformed percent-escape");
    assert_string_equal(parse("a=%1G"), "ERR: malformed percent-escape");
    assert_string_equal(parse("a%=1"), "ERR: malformed percent-escape");
    assert_string_equal(parse("a=%00"), "ERR: NUL byte in a form field");
    assert_string_equal(parse("a=%C3"), "ERR: form field is not UTF-8");
    assert_string_equal(parse("a=%FF"), "ERR: form field is not UTF-8");
    assert_string_equal(parse("a=%C0%AF"), "ERR: form field is not UTF-8");
    assert_string_equal(parse("=1"), "ERR: empty form field name");
    char big[FORM_MAX_NAME + 8];
    memset(big, 'n', FORM_MAX_NAME + 1);
    memcpy(big + FORM_MAX_NAME + 1, "=1", 3);
    assert_string_equal(parse(big), "ERR: form field name too long");
}

static void test_field_cap(void **state)
{
    (void)state;
    size_t n = FORM_MAX_FIELDS + 1;
    char *s = malloc(4 * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 4 * i, "a=1&", 4);
    s[4 * n] = '\0';
    assert_string_equal(parse(s), "ERR: too many form fields");
    s[4 * (n - 1)] = '\0'; /* exactly the cap */
    cJSON *o = NULL;
    const char *why;
    assert_int_equal(form_parse(s, strlen(s), &o, &why), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "a")), FORM_MAX_FIELDS);
    cJSON_Delete(o);
    free(s);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char s[] = "a=1&b=2";
    cJSON *o = NULL;
    const char *why;
    assert_int_equal(form_parse(s, 3, &o, &why), 0);
    assert_null(cJSON_GetObjectItem(o, "b"));
    assert_string_equal(cJSON_GetObjectItem(o, "a")->valuestring, "1");
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_pairs),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_repeated_keys_make_lists),
        cmocka_unit_test(test_nested_objects),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_field_cap),
        cmocka_unit_test(test_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
