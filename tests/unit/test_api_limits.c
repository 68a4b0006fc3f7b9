/* Unit tests of src/api/ratelimit.c (token buckets, with a pinned clock)
 * and src/api/watchdog.c (request read deadlines, on a socketpair). */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/ratelimit.h"
#include "api/watchdog.h"
#include "core/clock.h"

#define T0 1000000LL

static void test_burst_then_refill(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2.0, 5.0, 64); /* 2/s, burst 5 */
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, "key_a", T0), 0);
    /* Empty: the next token comes in 1/2 s. */
    assert_int_equal(ratelimit_take(rl, "key_a", T0), 500);
    assert_int_equal(ratelimit_peek(rl, "key_a", T0 + 499), 1);
    assert_int_equal(ratelimit_take(rl, "key_a", T0 + 500), 0);
    assert_int_equal(ratelimit_take(rl, "key_a", T0 + 500), 500);
    /* Refills never exceed the burst. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, "key_a", T0 + 3600000), 0);
    assert_true(ratelimit_take(rl, "key_a", T0 + 3600000) > 0);
    ratelimit_free(rl);
}

static void test_keys_are_independent(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1.0, 1.0, 64);
    assert_int_equal(ratelimit_take(rl, "key_a", T0), 0);
    assert_int_equal(ratelimit_take(rl, "key_a", T0), 1000);
    assert_int_equal(ratelimit_take(rl, "key_b", T0), 0);
    /* Peeking takes nothing. */
    assert_int_equal(ratelimit_peek(rl, "key_c", T0), 0);
    assert_int_equal(ratelimit_peek(rl, "key_c", T0), 0);
    assert_int_equal(ratelimit_take(rl, "key_c", T0), 0);
    assert_int_equal(ratelimit_peek(rl, "key_c", T0), 1000);
    ratelimit_free(rl);
}

static void test_slow_rate(void **state)
{
    (void)state;
    /* 20 failures a minute, as the failed-authentication limit uses it. */
    struct ratelimit *rl = ratelimit_new(20 / 60.0, 20, 64);
    for (int i = 0; i < 20; i++)
        assert_int_equal(ratelimit_take(rl, "10.0.0.1", T0), 0);
    assert_int_equal(ratelimit_take(rl, "10.0.0.1", T0), 3000);
    assert_int_equal(ratelimit_take(rl, "10.0.0.1", T0 + 3000), 0);
    ratelimit_free(rl);
}

/* A table far smaller than the keys thrown at it stays bounded and keeps
 * limiting a key that is actively being limited, while a flood of other
 * keys only evicts buckets that are full anyway or least recently used. */
static void test_bounded_table(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1.0, 3.0, 8); /* two sets of 8 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, "attacker", T0), 0);
    assert_true(ratelimit_take(rl, "attacker", T0) > 0);
    char key[32];
    /* Keys that take nothing stay full, so they are evicted first. */
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "ip-%d", i);
        assert_int_equal(ratelimit_peek(rl, key, T0), 0);
    }
    assert_true(ratelimit_take(rl, "attacker", T0) > 0);
    /* Long keys are cut, not refused. */
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(ratelimit_take(rl, longkey, T0), 0);
    ratelimit_free(rl);
}

/* Waits until fd reads end-of-stream (the watchdog shut it down). */
static bool eof_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&p, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void test_watchdog_cuts_overdue_requests(void **state)
{
    (void)state;
    /* The deadline is long enough that this thread, however descheduled,
     * reads the second request before it is overdue. */
    enum { TIMEOUT_MS = 1000 };
    struct watchdog *wd;
    assert_int_equal(watchdog_start(&wd, TIMEOUT_MS, 20), 0);
    int slow[2], done[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, slow), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, done), 0);
    /* Before the open: the deadline runs from the open, so the cut can
     * come no sooner than TIMEOUT_MS after this, however late we run. */
    int64_t t0 = clock_mono_ms();
    struct watch *ws = watchdog_open(wd, slow[0]);
    struct watch *wdn = watchdog_open(wd, done[0]);
    watchdog_read(wd, wdn); /* its request arrived in time */
    /* The peer of the overdue socket sees the end of the stream. */
    assert_true(eof_within(slow[1], 60000));
    assert_true(clock_mono_ms() - t0 >= TIMEOUT_MS);
    assert_int_equal(watchdog_cut_count(wd), 1);
    /* The one whose request was read is left alone. */
    assert_false(eof_within(done[1], 400));
    /* Re-armed for the next request on the connection, it is cut too. */
    watchdog_rearm(wd, wdn);
    assert_true(eof_within(done[1], 60000));
    assert_int_equal(watchdog_cut_count(wd), 2);
    watchdog_close(wd, ws);
    watchdog_close(wd, wdn);
    watchdog_close(wd, NULL);
    watchdog_read(wd, NULL);
    watchdog_stop(wd);
    watchdog_stop(NULL);
    for (int i = 0; i < 2; i++) {
        close(slow[i]);
        close(done[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_slow_rate),
        cmocka_unit_test(test_bounded_table),
        cmocka_unit_test(test_watchdog_cuts_overdue_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
