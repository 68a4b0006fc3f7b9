/* Unit tests of src/dispatch/retry.c: DESIGN.md §5's rules, with no
 * network and a pinned clock. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/config.h"
#include "dispatch/retry.h"

#define NOW 1700000000000LL

static struct herald_config cfg;

static int setup(void **state)
{
    (void)state;
    config_defaults(&cfg);
    return 0;
}

static struct retry_input failed(int n, int max, int code, const char *error)
{
    struct retry_input in = {
        .n = n,
        .max_attempts = max,
        .response_code = code,
        .error = error,
        .retry_after_ms = -1,
        .now = NOW,
        .failing_since = 0,
        .jitter = 0,
    };
    return in;
}

static void test_success(void **state)
{
    (void)state;
    struct retry_input in = failed(3, 4, 200, NULL);
    struct retry_decision d;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_SUCCEEDED);
    assert_null(d.disable_reason);
    /* An empty error string is success too (how the store spells it). */
    in.error = "";
    in.failing_since = NOW - cfg.disable_after_ms * 2; /* success never disables */
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_SUCCEEDED);
    assert_null(d.disable_reason);
}

static void test_default_schedule(void **state)
{
    (void)state;
    static const int64_t expect[] = {5000, 25000, 125000, 625000, 3125000, 3125000, 3125000};
    for (int n = 1; n <= 7; n++) {
        struct retry_input in = failed(n, 20, 500, "http");
        struct retry_decision d;
        retry_decide(&cfg, &in, &d);
        assert_int_equal(d.outcome, STORE_RETRY);
        assert_int_equal(d.next_attempt_at, NOW + expect[n - 1]);
        assert_null(d.disable_reason);
    }
}

static void test_jitter_bounds(void **state)
{
    (void)state;
    struct retry_input in = failed(2, 4, 0, "timeout"); /* 25 s */
    struct retry_decision d;
    in.jitter = 1.0;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 27500);
    in.jitter = -1.0;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 22500);
    in.jitter = 0.5;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 26250);
    /* Out-of-range or NaN jitter never escapes ±10 %. */
    in.jitter = 7.0;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 27500);
    in.jitter = NAN;
    retry_decide(&cfg, &in, &d);
    assert_true(d.next_attempt_at >= NOW + 22500 && d.next_attempt_at <= NOW + 27500);
}

static void test_exhaustion(void **state)
{
    (void)state;
    struct retry_decision d;
    struct retry_input in = failed(4, 4, 500, "http");
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_FAILED);
    assert_null(d.disable_reason);
    in = failed(3, 4, 500, "http");
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_RETRY);
    /* A test send (max_attempts 1) never retries. */
    in = failed(1, 1, 0, "connect");
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_FAILED);
    assert_null(d.disable_reason);
}

static void test_gone_disables(void **state)
{
    (void)state;
    struct retry_decision d;
    struct retry_input in = failed(1, 4, 410, "http");
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_FAILED);
    assert_non_null(d.disable_reason);
    assert_string_equal(d.disable_reason, "gone");
    /* Other 4xx are plain failures. */
    in = failed(1, 4, 404, "http");
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_RETRY);
    assert_null(d.disable_reason);
}

static void test_retry_after(void **state)
{
    (void)state;
    struct retry_decision d;
    struct retry_input in = failed(1, 4, 429, "http");
    in.retry_after_ms = 120000;
    in.jitter = 1.0; /* the receiver's delay is not jittered */
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_RETRY);
    assert_int_equal(d.next_attempt_at, NOW + 120000);
    /* Capped (1 h by default). */
    in.retry_after_ms = 7200000;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + cfg.retry_after_cap_ms);
    /* Zero means now. */
    in.retry_after_ms = 0;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW);
    /* Retry-After does not extend max_attempts. */
    in = failed(4, 4, 503, "http");
    in.retry_after_ms = 1000;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_FAILED);
}

static void test_continuous_failure_disables(void **state)
{
    (void)state;
    struct retry_decision d;
    struct retry_input in = failed(2, 4, 500, "http");
    in.failing_since = NOW - cfg.disable_after_ms;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_FAILED);
    assert_non_null(d.disable_reason);
    assert_string_equal(d.disable_reason, "failing");

    in.failing_since = NOW - cfg.disable_after_ms + 1;
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_RETRY);
    assert_null(d.disable_reason);

    in.failing_since = 0; /* healthy until this attempt */
    retry_decide(&cfg, &in, &d);
    assert_int_equal(d.outcome, STORE_RETRY);
    assert_null(d.disable_reason);
}

static void test_compressed_schedule(void **state)
{
    (void)state;
    struct herald_config c;
    config_defaults(&c);
    assert_true(config_parse_schedule(&c, "0.05,0.2"));
    struct retry_decision d;
    struct retry_input in = failed(1, 4, 500, "http");
    retry_decide(&c, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 50);
    in.n = 2;
    retry_decide(&c, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 200);
    in.n = 3; /* the last entry repeats */
    retry_decide(&c, &in, &d);
    assert_int_equal(d.next_attempt_at, NOW + 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_success, setup),
        cmocka_unit_test_setup(test_default_schedule, setup),
        cmocka_unit_test_setup(test_jitter_bounds, setup),
        cmocka_unit_test_setup(test_exhaustion, setup),
        cmocka_unit_test_setup(test_gone_disables, setup),
        cmocka_unit_test_setup(test_retry_after, setup),
        cmocka_unit_test_setup(test_continuous_failure_disables, setup),
        cmocka_unit_test_setup(test_compressed_schedule, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
