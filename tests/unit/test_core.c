/* Unit tests of src/core: ids, clock, buffers, event matching, CIDRs,
 * configuration parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/catalog.h"
#include "core/cidr.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/id.h"
#include "core/match.h"
#include "core/util.h"

static void test_id_layout_and_order(void **state)
{
    (void)state;
    char a[HERALD_ID_MAX], b[HERALD_ID_MAX], c[HERALD_ID_MAX];
    id_new(a, "evt", 1700000000000);
    id_new(b, "evt", 1700000000001);
    id_new(c, "evt", 1700000000001);
    assert_int_equal(strlen(a), 4 + 26);
    assert_true(id_valid(a, "evt"));
    assert_false(id_valid(a, "wh"));
    assert_true(strcmp(a, b) < 0); /* later time sorts after */
    assert_string_not_equal(b, c); /* same ms, different random part */
    assert_int_equal(memcmp(b, c, 14), 0);
    assert_false(id_valid("evt_0000", "evt"));
    assert_false(id_valid("evt_0123456789ABCDEFGHJKMNPQRU", "evt")); /* U not Crockford */
    assert_false(id_valid("evt_0123456789abcdefghjkmnpqrs", "evt")); /* lowercase */
    assert_false(id_valid(NULL, "evt"));
}

/* Events published back to back share a millisecond; lists ordered
 * newest first break their tie on the id, so same-millisecond ids must
 * sort in the order they were made, and still differ in more than a
 * counter's last digit. */
static void test_id_same_millisecond_in_order(void **state)
{
    (void)state;
    char prev[HERALD_ID_MAX], cur[HERALD_ID_MAX];
    id_new(prev, "evt", 1700000000500);
    int far_apart = 0;
    for (int i = 0; i < 10000; i++) {
        /* Other prefixes share the sequence; they must not reset it. */
        char other[HERALD_ID_MAX];
        id_new(other, "dlv", 1700000000500);
        id_new(cur, "evt", 1700000000500);
        assert_true(id_valid(cur, "evt"));
        assert_int_equal(memcmp(prev, cur, 14), 0);
        assert_true(strcmp(prev, cur) < 0);
        /* The step is random: most neighbours differ above the last
         * three digits (2^15). */
        far_apart += memcmp(prev, cur, 4 + 26 - 3) != 0;
        memcpy(prev, cur, sizeof cur);
    }
    assert_true(far_apart > 9000);
    /* A later millisecond starts over from fresh bits. */
    id_new(cur, "evt", 1700000000501);
    assert_true(strcmp(prev, cur) < 0);
}

/* clock_format writes its digits by hand: it must agree with strftime on
 * every field, across leap days, year ends, negative times and the
 * clamped years. */
static void test_clock_format_agrees_with_strftime(void **state)
{
    (void)state;
    const int64_t day = 86400000;
    const int64_t fixed[] = {0,
                             -1,
                             1,
                             951782400000 /* 2000-02-29 */,
                             4102444799999 /* 2099-12-31 23:59:59.999 */,
                             253402300799999 /* 9999-12-31 */,
                             -62135596800000 /* year 1 */};
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        int64_t ms;
        if (i < (int)(sizeof fixed / sizeof fixed[0])) {
            ms = fixed[i];
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ms = (int64_t)(x % (uint64_t)(12000 * 365LL * day)) - 2000 * 365LL * day;
        }
        char got[32], want[40];
        clock_format(ms, got);
        time_t secs = (time_t)(ms / 1000);
        int64_t frac = ms % 1000;
        if (frac < 0) {
            frac += 1000;
            secs -= 1;
        }
        struct tm tm;
        gmtime_r(&secs, &tm);
        if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
            continue; /* clamped: checked after the loop */
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%03dZ", (int)frac);
        if (tm.tm_year + 1900 < 1000) { /* strftime does not pad %Y */
            char padded[40];
            snprintf(padded, sizeof padded, "%04d%s", tm.tm_year + 1900, strchr(want, '-'));
            memcpy(want, padded, sizeof padded);
        }
        assert_string_equal(got, want);
    }
    char out[32];
    clock_format(300000000000000, out); /* year 11476: clamped */
    assert_memory_equal(out, "9999-", 5);
    assert_int_equal(strlen(out), 24);
    clock_format(-70000000000000, out); /* year -249: clamped */
    assert_memory_equal(out, "0000-", 5);
    assert_int_equal(strlen(out), 24);
}

static void test_clock_roundtrip(void **state)
{
    (void)state;
    char out[32];
    clock_format(1759674600123, out);
    assert_string_equal(out, "2025-10-05T14:30:00.123Z");
    int64_t ms;
    assert_true(clock_parse("2025-10-05T14:30:00Z", &ms));
    assert_int_equal(ms, 1759674600000);
    assert_true(clock_parse("2025-10-05T14:30:00.5Z", &ms));
    assert_int_equal(ms, 1759674600500);
    assert_true(clock_parse("2025-10-05T16:30:00+02:00", &ms));
    assert_int_equal(ms, 1759674600000);
    assert_true(clock_parse("1759674600", &ms));
    assert_int_equal(ms, 1759674600000);
    assert_false(clock_parse("2025-13-05T14:30:00Z", &ms));
    assert_false(clock_parse("2025-10-05 14:30:00", &ms));
    assert_false(clock_parse("2025-10-05T14:30:00", &ms)); /* zone required */
    assert_false(clock_parse("2025-10-05T14:30:00Zjunk", &ms));
    assert_false(clock_parse("", &ms));
    assert_false(clock_parse("-5", &ms));
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_puts(&b, "world"), 0);
    assert_int_equal(buf_puts(&b, "!"), HERALD_ETOOBIG);
    assert_string_equal(b.data, "helloworld"); /* unchanged by the refused append */
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "42-x");
    size_t len;
    char *p = buf_detach(&b, &len);
    assert_int_equal(len, 4);
    assert_null(b.data);
    free(p);
    buf_init(&b, 100000);
    char big[1000];
    memset(big, 'a', sizeof big);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_append(&b, big, sizeof big), 0);
    assert_int_equal(b.len, 100000);
    assert_int_equal(buf_append(&b, "x", 1), HERALD_ETOOBIG);
    buf_release(&b);
}

static void test_match(void **state)
{
    (void)state;
    assert_true(match_event("*", "post.published"));
    assert_true(match_event("post.*", "post.published"));
    assert_true(match_event("post.*", "post.media.ready"));
    assert_false(match_event("post.*", "post"));
    assert_false(match_event("post.*", "postSent"));
    assert_false(match_event("post.*", "analytics.updated"));
    assert_true(match_event("post.published", "post.published"));
    assert_false(match_event("post.published", "post.publishedx"));
    assert_true(match_event_json("[\"account.connected\",\"post.*\"]", "post.failed"));
    assert_false(match_event_json("[\"account.connected\"]", "post.failed"));
    assert_false(match_event_json("not json", "post.failed"));
    assert_false(match_event_json("[1,2]", "post.failed"));
    assert_true(event_type_name_valid("feed.text.received"));
    assert_true(event_type_name_valid("approvalItemApproved"));
    assert_false(event_type_name_valid(""));
    assert_false(event_type_name_valid(".post"));
    assert_false(event_type_name_valid("post..x"));
    assert_false(event_type_name_valid("post x"));
    assert_false(event_type_name_valid("post.*"));
    assert_true(event_pattern_valid("*"));
    assert_true(event_pattern_valid("post.*"));
    assert_true(event_pattern_valid("a.b.*"));
    assert_false(event_pattern_valid("*.post"));
    assert_false(event_pattern_valid("po*"));
    assert_false(event_pattern_valid(".*"));

    struct event_patterns ep;
    event_patterns_parse(&ep, "[\"post.*\", 7, \"account.connected\"]");
    assert_int_equal(ep.n, 2); /* the number is not a pattern */
    assert_true(event_patterns_match(&ep, "post.failed"));
    assert_true(event_patterns_match(&ep, "account.connected"));
    assert_false(event_patterns_match(&ep, "account.disconnected"));
    event_patterns_release(&ep);
    event_patterns_parse(&ep, "not json");
    assert_false(event_patterns_match(&ep, "post.failed"));
    event_patterns_release(&ep);
    /* Only an array is a subscription (a hand-edited row may hold any
     * JSON): an object's members are no patterns. Three strings in one
     * once went into the one slot the parse had made for them. */
    assert_false(match_event_json("{\"a\":\"post.*\"}", "post.failed"));
    event_patterns_parse(&ep, "{\"a\":\"post.*\",\"b\":\"*\",\"c\":\"account.connected\"}");
    assert_int_equal(ep.n, 0);
    assert_false(event_patterns_match(&ep, "post.failed"));
    event_patterns_release(&ep);
}

static void test_cidr(void **state)
{
    (void)state;
    struct cidr c;
    unsigned char a[16];
    assert_true(cidr_parse("127.0.0.0/8", &c));
    assert_true(cidr_addr_parse("127.1.2.3", a));
    assert_true(cidr_contains(&c, a));
    assert_true(cidr_addr_parse("128.0.0.1", a));
    assert_false(cidr_contains(&c, a));
    assert_true(cidr_parse("::1", &c));
    assert_true(cidr_addr_parse("::1", a));
    assert_true(cidr_contains(&c, a));
    assert_true(cidr_addr_parse("::2", a));
    assert_false(cidr_contains(&c, a));
    assert_true(cidr_parse("10.0.0.0/8", &c));
    assert_true(cidr_addr_parse("::ffff:10.1.1.1", a)); /* the mapped form is the same address */
    assert_true(cidr_contains(&c, a));
    assert_false(cidr_parse("10.0.0.0/33", &c));
    assert_false(cidr_parse("10.0.0/8", &c));
    assert_false(cidr_parse("/8", &c));
    assert_false(cidr_parse("fe80::/129", &c));
    assert_true(cidr_parse("0.0.0.0/0", &c));
    assert_true(cidr_addr_parse("1.2.3.4", a));
    assert_true(cidr_contains(&c, a));
}

static void test_config_schedule(void **state)
{
    (void)state;
    struct herald_config c;
    config_defaults(&c);
    assert_int_equal(config_retry_delay_ms(&c, 1), 5000);
    assert_int_equal(config_retry_delay_ms(&c, 3), 125000);
    assert_int_equal(config_retry_delay_ms(&c, 5), 3125000);
    assert_int_equal(config_retry_delay_ms(&c, 9), 3125000); /* the last repeats */
    assert_true(config_parse_schedule(&c, "0.2,0.5,1"));
    assert_int_equal(c.n_retry_schedule, 3);
    assert_int_equal(config_retry_delay_ms(&c, 1), 200);
    assert_int_equal(config_retry_delay_ms(&c, 7), 1000);
    assert_false(config_parse_schedule(&c, ""));
    assert_false(config_parse_schedule(&c, "1,,2"));
    assert_false(config_parse_schedule(&c, "1,x"));
    assert_false(config_parse_schedule(&c, "-1"));
    assert_int_equal(c.n_retry_schedule, 3); /* refused input changes nothing */
}

static void test_catalog(void **state)
{
    (void)state;
    static const char *seeds[] = {"post.published",        "post.scheduled",
                                  "post.failed",           "post.deleted",
                                  "analytics.updated",     "analytics.milestone",
                                  "account.connected",     "account.disconnected",
                                  "account.token_expired", "feed.text.received",
                                  "feed.video.received",   "feed.audio.received",
                                  "postCreated",           "postSent",
                                  "newConversation",       "newLead",
                                  "approvalItemApproved",  "webhook.disabled",
                                  "delivery.exhausted",    "webhook.test"};
    for (size_t i = 0; i < ARRAY_SIZE(seeds); i++)
        assert_non_null(catalog_find(seeds[i]));
    assert_null(catalog_find("post"));
    for (size_t i = 0; i < catalog_len; i++) {
        assert_true(event_type_name_valid(catalog[i].name));
        assert_true(catalog[i].sample[0] == '{');
    }
}

static void test_util(void **state)
{
    (void)state;
    char hex[65];
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unsigned char out[16];
    assert_int_equal(b64_decode("aGk=", 4, out), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(b64_decode("aGk", 3, out), -1);
    char enc[16];
    assert_int_equal(b64_encode((const unsigned char *)"hi", 2, enc), 4);
    assert_string_equal(enc, "aGk=");
    int64_t v;
    assert_true(parse_int64("42", 0, 100, &v));
    assert_false(parse_int64("42x", 0, 100, &v));
    assert_false(parse_int64("101", 0, 100, &v));
    assert_false(parse_int64("", 0, 100, &v));
    char small[4];
    assert_false(str_copy(small, sizeof small, "hello"));
    assert_string_equal(small, "hel");
    assert_true(ct_equal("abc", "abc", 3));
    assert_false(ct_equal("abc", "abd", 3));
    assert_string_equal(herald_strerror(HERALD_ENOTFOUND), "not found");
    assert_string_equal(herald_strerror(12345), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_layout_and_order),
        cmocka_unit_test(test_id_same_millisecond_in_order),
        cmocka_unit_test(test_clock_roundtrip),
        cmocka_unit_test(test_clock_format_agrees_with_strftime),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_config_schedule),
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_util),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
