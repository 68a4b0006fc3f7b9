/* Tests for the data-span scanner (src/api/jsonspan.c): the bytes it
 * reports must be exactly the published value's, and it must refuse what
 * is not strict JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/jsonspan.h"

/* The member's value text, or "<absent>"/"<malformed>". */
static const char *member(const char *json, const char *key, int *count)
{
    static char out[256];
    struct json_span sp;
    int n = json_member_span(json, strlen(json), key, &sp);
    if (count)
        *count = n;
    if (n < 0)
        return "<malformed>";
    if (n == 0)
        return "<absent>";
    snprintf(out, sizeof out, "%.*s", (int)(sp.end - sp.start), json + sp.start);
    return out;
}

static void test_simple(void **state)
{
    (void)state;
    assert_string_equal(member("{\"type\":\"a.b\",\"data\":{\"x\":1}}", "data", NULL), "{\"x\":1}");
    assert_string_equal(member("{\"data\":[1,2,3]}", "data", NULL), "[1,2,3]");
    assert_string_equal(member("{\"type\":\"a\"}", "data", NULL), "<absent>");
    assert_string_equal(member("{}", "data", NULL), "<absent>");
    assert_string_equal(member("{\"data\":null}", "data", NULL), "null");
    assert_string_equal(member("{\"data\":-1.5e+3}", "data", NULL), "-1.5e+3");
}

static void test_whitespace_kept_inside_trimmed_outside(void **state)
{
    (void)state;
    const char *j =
        " \r\n{ \"data\" :\t{ \"a\" : [ 1 , 2 ] ,\n\"b\":\"c\" }  , \"type\":\"t\" }\n ";
    assert_string_equal(member(j, "data", NULL), "{ \"a\" : [ 1 , 2 ] ,\n\"b\":\"c\" }");
}

static void test_nested_key_not_top_level(void **state)
{
    (void)state;
    /* "data" inside another member's value is not the top-level member. */
    const char *j = "{\"meta\":{\"data\":1},\"list\":[{\"data\":2}],\"data\":{\"real\":true}}";
    assert_string_equal(member(j, "data", NULL), "{\"real\":true}");
    assert_string_equal(member("{\"meta\":{\"data\":1}}", "data", NULL), "<absent>");
}

static void test_key_inside_strings(void **state)
{
    (void)state;
    const char *j = "{\"type\":\"\\\"data\\\":{}\",\"s\":\"data\",\"data\":{\"q\":\"}\\\"{[\"}}";
    assert_string_equal(member(j, "data", NULL), "{\"q\":\"}\\\"{[\"}");
}

static void test_escaped_keys(void **state)
{
    (void)state;
    /* d\u0061ta is "data" once decoded, as cJSON sees it. */
    assert_string_equal(member("{\"d\\u0061ta\":{\"k\":1}}", "data", NULL), "{\"k\":1}");
    assert_string_equal(member("{\"da\\/ta\":1}", "da/ta", NULL), "1");
    /* A key with a decoded NUL ends there, as in cJSON: a duplicate. */
    int n;
    member("{\"data\\u0000x\":1,\"data\":2}", "data", &n);
    assert_int_equal(n, 2);
    /* Non-ASCII keys via surrogate pairs and raw UTF-8. */
    assert_string_equal(member("{\"\\ud83d\\ude00\":7}", "\xF0\x9F\x98\x80", NULL), "7");
    assert_string_equal(member("{\"\xC3\xA9t\xC3\xA9\":8}", "\xC3\xA9t\xC3\xA9", NULL), "8");
}

static void test_unicode_and_escapes_in_values(void **state)
{
    (void)state;
    const char *j = "{\"data\":{\"t\":\"caf\xC3\xA9 \\u00e9 \\ud83d\\ude00 \\\\ \\n \\\"\"}}";
    assert_string_equal(member(j, "data", NULL),
                        "{\"t\":\"caf\xC3\xA9 \\u00e9 \\ud83d\\ude00 \\\\ \\n \\\"\"}");
}

static void test_duplicates_report_first(void **state)
{
    (void)state;
    int n;
    assert_string_equal(member("{\"data\":{\"a\":1},\"data\":[2]}", "data", &n), "{\"a\":1}");
    assert_int_equal(n, 2);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "{\"data\":}",
        "{\"data\":{\"a\":1}",
        "{\"data\":{\"a\":1}}}",
        "{\"data\" {}}",
        "{data:1}",
        "{\"data\":01}",
        "{\"data\":1.}",
        "{\"data\":.5}",
        "{\"data\":1e}",
        "{\"data\":+1}",
        "{\"data\":tru}",
        "{\"data\":\"a\tb\"}",         /* raw control character */
        "{\"data\":\"\\x\"}",          /* invalid escape */
        "{\"data\":\"\\u12\"}",        /* short \u */
        "{\"data\":\"\\ud800\"}",      /* lone high surrogate */
        "{\"data\":\"\\udc00\"}",      /* lone low surrogate */
        "{\"data\":\"\xC3\"}",         /* truncated UTF-8 */
        "{\"data\":\"\xC0\xAF\"}",     /* overlong */
        "{\"data\":\"\xED\xA0\x80\"}", /* UTF-8 surrogate */
        "{\"data\":[1,]}",
        "{\"data\":[,1]}",
        "{\"a\":1,}",
        "{,}",
        "{\"data\":1} x",
        "{\"data\":\"unterminated}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json_span sp;
        if (json_member_span(bad[i], strlen(bad[i]), "data", &sp) != -1)
            fail_msg("accepted malformed input #%zu: %s", i, bad[i]);
        assert_false(json_valid(bad[i], strlen(bad[i])));
    }
}

static void test_valid_values(void **state)
{
    (void)state;
    static const char *const good[] = {
        "0",     "-0",   "1.25e-10",   "\"\"",
        "[]",    "{}",   " [ ] ",      "true",
        "false", "null", "[[[[{}]]]]", "{\"a\":{\"b\":[1,{\"c\":\"\\u0000\"}]}}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!json_valid(good[i], strlen(good[i])))
            fail_msg("refused valid input #%zu: %s", i, good[i]);
    /* Valid JSON, but not an object: no members to find. */
    assert_int_equal(json_member_span("[\"data\"]", 8, "data", NULL), -1);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char buf[2 * (JSONSPAN_MAX_DEPTH + 1) + 1];
    size_t d = JSONSPAN_MAX_DEPTH;
    memset(buf, '[', d);
    buf[d] = '1';
    memset(buf + d + 1, ']', d);
    assert_true(json_valid(buf, 2 * d + 1));
    /* One more level than allowed. */
    d = JSONSPAN_MAX_DEPTH + 1;
    memset(buf, '[', d);
    memset(buf + d, ']', d);
    assert_false(json_valid(buf, 2 * d));
}

static void test_no_read_past_len(void **state)
{
    (void)state;
    /* The span functions must respect len even without a NUL. */
    const char full[] = "{\"data\":{\"a\":1}}";
    assert_int_equal(json_member_span(full, sizeof full - 3, "data", NULL), -1);
    assert_false(json_valid("[1]", 2));
    assert_true(json_valid("[1]xyz", 3));
}

static void test_array_spans(void **state)
{
    (void)state;
    const char *j = " [ {\"a\":1} , [2,3],\"x\" ,null ] ";
    struct json_span sp[8];
    long n = json_array_spans(j, strlen(j), sp, 8);
    assert_int_equal(n, 4);
    assert_int_equal(sp[0].end - sp[0].start, 7);
    assert_memory_equal(j + sp[1].start, "[2,3]", 5);
    assert_memory_equal(j + sp[2].start, "\"x\"", 3);
    assert_memory_equal(j + sp[3].start, "null", 4);
    /* More elements than room: count still exact. */
    assert_int_equal(json_array_spans(j, strlen(j), sp, 2), 4);
    assert_int_equal(json_array_spans("[]", 2, sp, 8), 0);
    assert_int_equal(json_array_spans("{}", 2, sp, 8), -1);
    assert_int_equal(json_array_spans("[1,]", 4, sp, 8), -1);
}

static void test_nul_escapes(void **state)
{
    (void)state;
    const char *j = "{\"name\":\"a\\u0000b\",\"data\":{\"k\":\"\\\\u0000\"},\"x\":\"\\u0000\"}";
    /* {"name":"a\u0000b","data":{"k":"\\u0000"},"x":"\u0000"} */
    size_t len = strlen(j);
    long at = json_find_nul_escape(j, len, 0);
    assert_int_equal(at, 10);
    char key[16];
    assert_true(json_member_at(j, len, (size_t)at, key, sizeof key));
    assert_string_equal(key, "name");
    /* "\\u0000" is an escaped backslash then text: not a NUL. */
    at = json_find_nul_escape(j, len, (size_t)at + 1);
    assert_true(at > 0);
    assert_true(json_member_at(j, len, (size_t)at, key, sizeof key));
    assert_string_equal(key, "x");
    assert_int_equal(json_find_nul_escape(j, len, (size_t)at + 1), -1);
    assert_int_equal(json_find_nul_escape("{\"a\":\"\\u0001\"}", 14, 0), -1);
    /* Keys count too, and an offset between members belongs to none. */
    const char *k = "{\"a\":1, \"b\\u0000\":2}";
    at = json_find_nul_escape(k, strlen(k), 0);
    assert_true(at > 0);
    assert_true(json_member_at(k, strlen(k), (size_t)at, key, sizeof key));
    assert_string_equal(key, "b");
    assert_false(json_member_at(k, strlen(k), 7, key, sizeof key));
}

/* A strict byte is one a string may hold as is; every other byte must end
 * a plain run wherever it falls, also inside the 16-byte blocks the
 * scanner reads at once, and also as the last byte before len. */
static void test_every_byte_at_every_offset(void **state)
{
    (void)state;
    char buf[64];
    for (int c = 0; c < 256; c++) {
        bool plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
        for (size_t at = 1; at < 50; at++) {
            memset(buf, 'x', sizeof buf);
            buf[0] = '"';
            buf[at] = (char)c;
            buf[51] = '"';
            if (json_valid(buf, 52) != plain)
                fail_msg("byte 0x%02x at %zu: %s", c, at, plain ? "refused" : "accepted");
            /* The closing quote missing: never valid, whatever came before. */
            assert_false(json_valid(buf, 51));
        }
    }
    /* Non-ASCII UTF-8 in the middle of long plain runs, at every offset. */
    for (size_t at = 1; at < 48; at++) {
        memset(buf, 'x', sizeof buf);
        buf[0] = '"';
        memcpy(buf + at, "\xF0\x9F\x98\x80", 4);
        buf[51] = '"';
        assert_true(json_valid(buf, 52));
        buf[at + 3] = 'x'; /* truncated sequence */
        assert_false(json_valid(buf, 52));
    }
}

/* The decoded key json_iter_next reads, or the value's text. */
static void test_iter_object(void **state)
{
    (void)state;
    const char *j = " { \"type\" : \"a.b\" , \"d\\u0061ta\":{\"x\":[1,{\"y\":2}]},\"\":null,"
                    "\"k\\u0000cut\":true } ";
    size_t len = strlen(j);
    struct json_iter it;
    struct json_key k;
    struct json_span v;
    assert_true(json_iter_enter(&it, j, len, 0));
    assert_int_equal(it.start, 1);
    assert_int_equal(json_iter_next(&it, &k), 1);
    assert_string_equal(k.name, "type");
    assert_false(k.cut);
    assert_memory_equal(j + k.span.start, "\"type\"", 6);
    assert_true(json_iter_skip(&it, &v));
    assert_memory_equal(j + v.start, "\"a.b\"", v.end - v.start);
    /* Descend into the second member's value instead of skipping it. */
    assert_int_equal(json_iter_next(&it, &k), 1);
    assert_string_equal(k.name, "data");
    struct json_iter in;
    assert_true(json_iter_enter(&in, it.s, it.len, it.pos));
    assert_int_equal(json_iter_next(&in, &k), 1);
    assert_string_equal(k.name, "x");
    assert_true(json_iter_skip(&in, &v));
    assert_memory_equal(j + v.start, "[1,{\"y\":2}]", v.end - v.start);
    assert_int_equal(json_iter_next(&in, &k), 0);
    it.pos = in.pos;
    assert_int_equal(json_iter_next(&it, &k), 1);
    assert_string_equal(k.name, "");
    assert_true(json_iter_skip(&it, NULL));
    /* A key ends at a decoded NUL, as cJSON reads it. */
    assert_int_equal(json_iter_next(&it, &k), 1);
    assert_string_equal(k.name, "k");
    assert_true(json_iter_skip(&it, NULL));
    assert_int_equal(json_iter_next(&it, &k), 0);
    assert_int_equal(j[it.pos - 1], '}');
}

static void test_iter_array_and_long_keys(void **state)
{
    (void)state;
    const char *a = "[ 1 ,\"s\", [] ,{}]";
    struct json_iter it;
    struct json_span v;
    int n = 0;
    assert_true(json_iter_enter(&it, a, strlen(a), 0));
    assert_int_equal(it.close, ']');
    while (json_iter_next(&it, NULL) == 1) {
        assert_true(json_iter_skip(&it, &v));
        n++;
    }
    assert_int_equal(n, 4);
    assert_int_equal(it.pos, strlen(a));
    assert_true(json_iter_enter(&it, "[]", 2, 0));
    assert_int_equal(json_iter_next(&it, NULL), 0);
    assert_false(json_iter_enter(&it, " \"x\"", 4, 0));
    assert_false(json_iter_enter(&it, "  ", 2, 0));
    /* A key longer than the name buffer is cut, and says so. */
    char o[200];
    snprintf(o, sizeof o, "{\"%0*d\":1}", JSON_KEY_CAP + 5, 7);
    struct json_key k;
    assert_true(json_iter_enter(&it, o, strlen(o), 0));
    assert_int_equal(json_iter_next(&it, &k), 1);
    assert_true(k.cut);
    assert_int_equal(strlen(k.name), JSON_KEY_CAP - 1);
    assert_int_equal(k.span.end - k.span.start, JSON_KEY_CAP + 7);
    snprintf(o, sizeof o, "{\"%0*d\":1}", JSON_KEY_CAP - 1, 7);
    assert_true(json_iter_enter(&it, o, strlen(o), 0));
    assert_int_equal(json_iter_next(&it, &k), 1);
    assert_false(k.cut);
    assert_int_equal(strlen(k.name), JSON_KEY_CAP - 1);
}

/* Walks s's top container to its end, skipping every value: 1 when it is
 * well-formed, -1 where the iterator refused it. */
static int iter_walk(const char *s)
{
    struct json_iter it;
    struct json_key k;
    int rc;
    if (!json_iter_enter(&it, s, strlen(s), 0))
        return -1;
    while ((rc = json_iter_next(&it, &k)) == 1)
        if (!json_iter_skip(&it, NULL))
            return -1;
    return rc == 0 ? 1 : -1;
}

static void test_iter_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1 \"b\":2}",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[",
        "{\"a\":01}",
        "{\"\\x\":1}",
        "{\"a\":\"\x01\"}",
        "[\"\\ud800\"]",
        "{\"a\":1]",
        "[1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (iter_walk(bad[i]) != -1)
            fail_msg("walked malformed input #%zu: %s", i, bad[i]);
    assert_int_equal(iter_walk("{ }"), 1);
    assert_int_equal(iter_walk("{\"a\":[1,{\"b\":\"c\"}],\"d\":null}"), 1);
}

static void test_string_decode(void **state)
{
    (void)state;
    char out[16];
    const char *s = "\"a\\u002eb\\n\\ud83d\\ude00\\/\"";
    struct json_span sp = {0, strlen(s)};
    assert_int_equal(json_string_decode(s, strlen(s), sp, out, sizeof out), 9);
    assert_string_equal(out, "a.b\n\xF0\x9F\x98\x80/");
    /* Ends at a decoded NUL, as cJSON's valuestring does. */
    const char *z = "\"ab\\u0000cd\"";
    assert_int_equal(
        json_string_decode(z, strlen(z), (struct json_span){0, strlen(z)}, out, sizeof out), 2);
    assert_string_equal(out, "ab");
    /* Exactly cap - 1 bytes fit; one more does not. */
    const char *f = "\"0123456789abcde\"";
    assert_int_equal(json_string_decode(f, strlen(f), (struct json_span){0, 17}, out, 16), 15);
    assert_int_equal(json_string_decode(f, strlen(f), (struct json_span){0, 17}, out, 15), -1);
    /* Not exactly one strict string. */
    const char *two = "\"a\"\"b\"";
    assert_int_equal(json_string_decode(two, 6, (struct json_span){0, 6}, out, sizeof out), -1);
    assert_int_equal(json_string_decode(two, 6, (struct json_span){0, 3}, out, sizeof out), 1);
    assert_int_equal(json_string_decode("1", 1, (struct json_span){0, 1}, out, sizeof out), -1);
    assert_int_equal(json_string_decode("\"\\x\"", 4, (struct json_span){0, 4}, out, sizeof out),
                     -1);
    assert_int_equal(json_string_decode("\"a\"", 3, (struct json_span){0, 4}, out, sizeof out), -1);
    assert_int_equal(json_string_decode("\"a\"", 3, (struct json_span){0, 3}, out, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_whitespace_kept_inside_trimmed_outside),
        cmocka_unit_test(test_nested_key_not_top_level),
        cmocka_unit_test(test_key_inside_strings),
        cmocka_unit_test(test_escaped_keys),
        cmocka_unit_test(test_unicode_and_escapes_in_values),
        cmocka_unit_test(test_duplicates_report_first),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_valid_values),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_no_read_past_len),
        cmocka_unit_test(test_array_spans),
        cmocka_unit_test(test_nul_escapes),
        cmocka_unit_test(test_every_byte_at_every_offset),
        cmocka_unit_test(test_iter_object),
        cmocka_unit_test(test_iter_array_and_long_keys),
        cmocka_unit_test(test_iter_malformed),
        cmocka_unit_test(test_string_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
