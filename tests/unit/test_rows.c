/* Unit tests of src/integrations/rows.c: the flat "rows" payload, as JSON
 * and as form fields, byte for byte. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/catalog.h"
#include "core/err.h"
#include "integrations/rows.h"

#define ID "evt_01K6TESTROWS0000000000000"
#define CREATED 1759674600123LL /* 2025-10-05T14:30:00.123Z */
#define HEAD "{\"id\":\"" ID "\",\"type\":\"t.x\",\"timestamp\":\"2025-10-05T14:30:00.123Z\""
#define FORM_HEAD "id=" ID "&type=t.x&timestamp=2025-10-05T14%3A30%3A00.123Z"

static void expect(const char *data, bool form, const char *want)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(rows_render(ID, "t.x", CREATED, data, strlen(data), form, &b), 0);
    if (strcmp(b.data, want) != 0)
        fail_msg("data %s\n got: %s\nwant: %s", data, b.data, want);
    if (!form) { /* and it is one flat JSON object */
        cJSON *o = cJSON_Parse(b.data);
        assert_true(cJSON_IsObject(o));
        const cJSON *it;
        cJSON_ArrayForEach(it, o)
        {
            assert_false(cJSON_IsObject(it) || cJSON_IsArray(it));
        }
        cJSON_Delete(o);
    }
    buf_release(&b);
}

static void test_seed_000_post_published(void **state)
{
    (void)state;
    const char *data = catalog_find("post.published")->sample;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(rows_render(ID, "post.published", CREATED, data, strlen(data), false, &b), 0);
    assert_string_equal(b.data, "{\"id\":\"" ID "\",\"type\":\"post.published\","
                                "\"timestamp\":\"2025-10-05T14:30:00.123Z\","
                                "\"data.post_id\":\"post_abc123\","
                                "\"data.platforms\":\"[\\\"instagram\\\",\\\"x\\\"]\","
                                "\"data.published_at\":\"2025-10-05T14:30:00Z\","
                                "\"data.urls.instagram\":\"https://instagram.com/p/abc123\","
                                "\"data.urls.x\":\"https://x.com/user/status/456\"}");
    buf_release(&b);
}

static void test_values_keep_their_bytes(void **state)
{
    (void)state;
    /* Numbers as published (no double rounding), escapes kept, whitespace
     * between tokens dropped only inside the arrays' JSON text. */
    expect("{ \"big\" : 12345678901234567890, \"f\":1.50e+2, \"t\":true, \"n\":null,"
           " \"s\":\"caf\\u00e9 \\\"q\\\"\", \"a\":[1, 2 , \"x y\"], \"e\":{},"
           " \"deep\":{\"er\":{\"est\":-0.0}}}",
           false,
           HEAD ",\"data.big\":12345678901234567890,\"data.f\":1.50e+2,\"data.t\":true,"
                "\"data.n\":null,\"data.s\":\"caf\\u00e9 \\\"q\\\"\","
                "\"data.a\":\"[1,2,\\\"x y\\\"]\",\"data.e\":\"{}\",\"data.deep.er.est\":-0.0}");
    /* Keys keep their escapes; a key with a dot is not split. */
    expect("{\"k\\\"q\":1,\"a.b\":2,\"\\u00e9\":{\"x\":3}}", false,
           HEAD ",\"data.k\\\"q\":1,\"data.a.b\":2,\"data.\\u00e9.x\":3}");
}

static void test_data_not_an_object(void **state)
{
    (void)state;
    expect("[1, 2]", false, HEAD ",\"data\":\"[1,2]\"}");
    expect("42", false, HEAD ",\"data\":42}");
    expect("null", false, HEAD ",\"data\":null}");
    expect("\"s\"", false, HEAD ",\"data\":\"s\"}");
    expect("{}", false, HEAD ",\"data\":\"{}\"}");
    expect("not json", false, HEAD ",\"data\":\"not json\"}");
}

static void test_form_fields(void **state)
{
    (void)state;
    expect("{\"post_id\":\"post abc\",\"n\":null,\"v\":5.0,\"ok\":false,\"s\":\"caf\\u00e9&=\","
           "\"urls\":{\"x\":\"https://x.com/a?b=c\"},\"a\":[1, \"z\"]}",
           true,
           FORM_HEAD "&data.post_id=post%20abc&data.n=&data.v=5.0&data.ok=false"
                     "&data.s=caf%C3%A9%26%3D&data.urls.x=https%3A%2F%2Fx.com%2Fa%3Fb%3Dc"
                     "&data.a=%5B1%2C%22z%22%5D");
    /* Keys are decoded, then encoded for the form. */
    expect("{\"k\\u0020y\":1}", true, FORM_HEAD "&data.k%20y=1");
}

static void test_cap(void **state)
{
    (void)state;
    const char *data = catalog_find("analytics.updated")->sample;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(rows_render(ID, "t.x", CREATED, data, strlen(data), false, &b),
                     HERALD_ETOOBIG);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_000_post_published),
        cmocka_unit_test(test_values_keep_their_bytes),
        cmocka_unit_test(test_data_not_an_object),
        cmocka_unit_test(test_form_fields),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
