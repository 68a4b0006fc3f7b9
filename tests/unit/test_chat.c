/* Unit tests of src/integrations/chat.c: the Slack and Discord message of
 * every layout, pinned by golden files, and what the layouts must never do
 * whatever the data says (format, mention, link to javascript:, overflow).
 *
 * Goldens live in tests/unit/golden/<name>.<slack|discord>.json as the
 * message pretty-printed by cJSON (one fixed rendering of the exact
 * output: same members, same order, same strings). A mismatch prints both.
 * After a deliberate change of a layout, regenerate them on purpose with
 * HERALD_GOLDEN_UPDATE=1 ./test_chat and review the diff; the test never
 * writes them otherwise, and a missing golden is a failure. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/validate.h"
#include "core/catalog.h"
#include "core/err.h"
#include "core/util.h"
#include "integrations/chat.h"

#define EVENT_ID "evt_01K6TESTCHAT0000000000000"
#define CREATED 1759674600123LL /* 2025-10-05T14:30:00.123Z */

/* The golden folder, next to this file (CMake compiles it by full path). */
static void golden_path(const char *name, const char *kind, char *out, size_t cap)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dir = slash ? (int)(slash - file) : 1;
    snprintf(out, cap, "%.*s/golden/%s.%s.json", dir, slash ? file : ".", name, kind);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(buf_append(&b, chunk, n), 0);
    fclose(f);
    return buf_detach(&b, NULL);
}

/* Renders and returns the compact output (caller frees). */
static char *render(enum chat_kind k, const char *type, const char *data)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(chat_render(k, EVENT_ID, type, CREATED, data, strlen(data), &b), 0);
    return buf_detach(&b, NULL);
}

static void check_golden(const char *name, const char *type, const char *data)
{
    static const char *const kinds[] = {"slack", "discord"};
    for (int k = 0; k < 2; k++) {
        char *out = render((enum chat_kind)k, type, data);
        /* Valid JSON, valid UTF-8, and no stray bytes after the object. */
        assert_true(utf8_valid(out, strlen(out)));
        cJSON *doc = cJSON_Parse(out);
        if (!doc)
            fail_msg("%s (%s): output is not JSON: %s", name, kinds[k], out);
        char *pretty = cJSON_Print(doc);
        cJSON_Delete(doc);
        char path[1024];
        golden_path(name, kinds[k], path, sizeof path);
        const char *update = getenv("HERALD_GOLDEN_UPDATE");
        if (update && strcmp(update, "1") == 0) {
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            fprintf(f, "%s\n", pretty);
            fclose(f);
        }
        char *want = read_file(path);
        if (!want)
            fail_msg("golden %s is missing (HERALD_GOLDEN_UPDATE=1 writes it; review it)", path);
        size_t wl = strlen(want);
        if (wl && want[wl - 1] == '\n')
            want[--wl] = '\0';
        if (strcmp(pretty, want) != 0)
            fail_msg("%s (%s) differs from %s\n--- got:\n%s\n--- want:\n%s", name, kinds[k], path,
                     pretty, want);
        free(want);
        cJSON_free(pretty);
        free(out);
    }
}

static const char *sample(const char *type)
{
    const struct catalog_entry *c = catalog_find(type);
    assert_non_null(c);
    return c->sample;
}

/* ---- one golden pair per layout, from the catalog's samples ---- */

static void test_post_published(void **state)
{
    (void)state;
    check_golden("post.published", "post.published", sample("post.published"));
    /* SocialSyncerAPI's shape (seed 001): postId, platform, platformPostUrl. */
    check_golden("post.published-seed001", "post.published",
                 "{\"postId\":\"post_abc123\",\"platform\":\"instagram\",\"platformPostId\":"
                 "\"17841400123456789\",\"platformPostUrl\":\"https://instagram.com/p/ABC123\","
                 "\"status\":\"published\"}");
}

static void test_post_failed(void **state)
{
    (void)state;
    check_golden("post.failed", "post.failed", sample("post.failed"));
}

static void test_analytics(void **state)
{
    (void)state;
    check_golden("analytics.milestone", "analytics.milestone", sample("analytics.milestone"));
    check_golden("analytics.updated", "analytics.updated", sample("analytics.updated"));
}

static void test_token_expired(void **state)
{
    (void)state;
    check_golden("account.token_expired", "account.token_expired", sample("account.token_expired"));
}

static void test_operational(void **state)
{
    (void)state;
    check_golden("delivery.exhausted", "delivery.exhausted", sample("delivery.exhausted"));
    check_golden("webhook.disabled", "webhook.disabled", sample("webhook.disabled"));
}

static void test_generic(void **state)
{
    (void)state;
    check_golden("generic", "feed.text.received", sample("feed.text.received"));
    check_golden("generic-array", "custom.thing", "[1, {\"a\": \"```x```\"}]");
}

/* ---- properties that hold for any data ---- */

static cJSON *parsed(enum chat_kind k, const char *type, const char *data)
{
    char *out = render(k, type, data);
    cJSON *doc = cJSON_Parse(out);
    free(out);
    assert_non_null(doc);
    return doc;
}

static void test_no_mentions_or_formatting_from_data(void **state)
{
    (void)state;
    const char *data = "{\"post_id\":\"<!channel> @everyone *x*\",\"platforms\":[\"<@U123>\"],"
                       "\"urls\":{\"evil\":\"javascript:alert(1)\",\"ok\":\"https://e.com/a)b\"}}";
    char *slack = render(CHAT_SLACK, "post.published", data);
    assert_null(strstr(slack, "<!channel>"));
    assert_null(strstr(slack, "<@U123>"));
    assert_non_null(strstr(slack, "&lt;!channel&gt;"));
    assert_null(strstr(slack, "javascript:"));
    assert_non_null(strstr(slack, "<https://e.com/a)b|ok>"));
    free(slack);

    cJSON *d = parsed(CHAT_DISCORD, "post.published", data);
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(d, "allowed_mentions");
    const cJSON *parse = cJSON_GetObjectItemCaseSensitive(am, "parse");
    assert_true(cJSON_IsArray(parse));
    assert_int_equal(cJSON_GetArraySize(parse), 0);
    const char *content = cJSON_GetObjectItemCaseSensitive(d, "content")->valuestring;
    assert_non_null(strstr(content, "\\*x\\*"));
    char *text = cJSON_PrintUnformatted(d);
    assert_null(strstr(text, "javascript:"));
    assert_non_null(strstr(text, "(https://e.com/a%29b)"));
    cJSON_free(text);
    cJSON_Delete(d);
}

static void test_long_values_are_cut_at_characters(void **state)
{
    (void)state;
    /* 3000 two-byte characters: far past every budget. */
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_puts(&b, "{\"post_id\":\"p\",\"error\":\""), 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(buf_puts(&b, "\xC3\xA9"), 0);
    assert_int_equal(buf_puts(&b, "\"}"), 0);
    for (int k = 0; k < 2; k++) {
        char *out = render((enum chat_kind)k, "post.failed", b.data);
        assert_true(utf8_valid(out, strlen(out)));
        assert_true(strlen(out) < 8000); /* Discord's 6000-character total, in bytes */
        assert_non_null(strstr(out, "\xE2\x80\xA6"));
        free(out);
    }
    buf_release(&b);
}

static void test_fields_capped(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "{");
    for (int i = 0; i < 40; i++)
        buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf_puts(&b, "}");
    cJSON *s = parsed(CHAT_SLACK, "x.y", b.data);
    const cJSON *blk;
    cJSON_ArrayForEach(blk, cJSON_GetObjectItemCaseSensitive(s, "blocks"))
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(blk, "fields");
        if (f)
            assert_true(cJSON_GetArraySize(f) <= 10);
    }
    char *text = cJSON_PrintUnformatted(s);
    assert_non_null(strstr(text, "and 30 more fields"));
    cJSON_free(text);
    cJSON_Delete(s);
    buf_release(&b);
}

static void test_not_json_and_small_buffer(void **state)
{
    (void)state;
    cJSON *d = parsed(CHAT_DISCORD, "x.y", "not json {");
    char *text = cJSON_PrintUnformatted(d);
    assert_non_null(strstr(text, "not json {"));
    cJSON_free(text);
    cJSON_Delete(d);
    struct buf b;
    buf_init(&b, 64);
    const char *data = sample("post.published");
    assert_int_equal(
        chat_render(CHAT_SLACK, EVENT_ID, "post.published", CREATED, data, strlen(data), &b),
        HERALD_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_release(&b);
    enum chat_kind k;
    assert_true(chat_kind_parse("slack", &k) && k == CHAT_SLACK);
    assert_true(chat_kind_parse("discord", &k) && k == CHAT_DISCORD);
    assert_false(chat_kind_parse("webhook", &k));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_published),
        cmocka_unit_test(test_post_failed),
        cmocka_unit_test(test_analytics),
        cmocka_unit_test(test_token_expired),
        cmocka_unit_test(test_operational),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_no_mentions_or_formatting_from_data),
        cmocka_unit_test(test_long_values_are_cut_at_characters),
        cmocka_unit_test(test_fields_capped),
        cmocka_unit_test(test_not_json_and_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
