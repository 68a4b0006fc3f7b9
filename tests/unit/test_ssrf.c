/* Unit tests of src/dispatch/ssrf.c: the address classifier on every range
 * and tunnelled form, the dev and --allow-cidr exceptions, the metadata
 * addresses, every literal encoding as the resolver turns it into a socket
 * address, and real connections through libcurl to a canary listener. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h> /* before core/util.h: banned.h would break glibc's inline atoi at -O2 */
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/cidr.h"
#include "core/config.h"
#include "core/util.h"
#include "dispatch/send.h"
#include "dispatch/ssrf.h"
#include "receiver.h"

static bool allowed_text(const struct herald_config *cfg, const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            fail_msg("bad test address %s", addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            fail_msg("bad test address %s", addr);
    }
    return ssrf_allowed(cfg, (struct sockaddr *)&ss);
}

static void expect(const struct herald_config *cfg, const char *const *list, size_t n, bool want)
{
    for (size_t i = 0; i < n; i++)
        if (allowed_text(cfg, list[i]) != want)
            fail_msg("%s should be %s", list[i], want ? "allowed" : "refused");
}

/* Addresses inside every refused range, at both edges where it matters. */
static const char *const refused[] = {
    "0.0.0.0", "0.255.255.255", "10.0.0.1", "10.255.255.255", "100.64.0.0", "100.127.255.255",
    "127.0.0.1", "127.255.255.254", "169.254.0.1", "169.254.169.254", "172.16.0.1",
    "172.31.255.255", "192.0.0.1", "192.0.0.255", "192.0.2.1", "192.168.0.1", "192.168.255.255",
    "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.255",
    "240.0.0.1", "255.255.255.255",
    /* IPv6 */
    "::", "::1", "fe80::1", "febf:ffff::1", "fec0::1", "feff::1", "fc00::1", "fd00::9",
    "fdff:ffff::1", "ff02::1", "ff0e::1", "2001:db8::1", "2001:db8:ffff::1", "fd00:ec2::254",
    /* IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo forms of refused IPv4 */
    "::ffff:127.0.0.1", "::ffff:10.9.9.9", "::ffff:169.254.169.254", "::127.0.0.1", "::10.0.0.1",
    "::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::c0a8:1",
    "2002:7f00:1::", "2002:a00:1:1234::1",
    "2002:a9fe:a9fe::", "2001:0:4136:e378:8000:63bf:80ff:fffe", /* Teredo, client 127.0.0.1 */
    "2001:0:4136:e378:8000:63bf:f5f6:f6f6",                     /* Teredo, client 10.9.9.9 */
};

/* Public addresses, including the range edges just outside refused ones. */
static const char *const allowed[] = {
    "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
    "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255",
    "172.32.0.0", "192.0.1.0", "192.0.3.0", "192.167.255.255", "192.169.0.0", "198.17.255.255",
    "198.20.0.0", "198.51.99.255", "203.0.112.255", "223.255.255.255",
    /* IPv6 */
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "2001:db9::1", "fe00::1", "::ffff:8.8.8.8",
    "::8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7", /* Teredo, client 8.8.8.8 */
};

static void test_ranges(void **state)
{
    (void)state;
    struct herald_config cfg;
    config_defaults(&cfg);
    expect(&cfg, refused, ARRAY_SIZE(refused), false);
    expect(&cfg, allowed, ARRAY_SIZE(allowed), true);
}

static void test_dev_allows_loopback_only(void **state)
{
    (void)state;
    struct herald_config cfg;
    config_defaults(&cfg);
    cfg.dev = true;
    static const char *const ok[] = {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"};
    static const char *const still[] = {"10.0.0.1", "192.168.1.1", "169.254.169.254", "fd00::1",
                                        "::", "0.0.0.0",
                                        /* tunnelled loopback reaches a relay, not us */
                                        "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"};
    expect(&cfg, ok, ARRAY_SIZE(ok), true);
    expect(&cfg, still, ARRAY_SIZE(still), false);
}

static void add_allow(struct herald_config *cfg, const char *c)
{
    assert_true(cidr_parse(c, &cfg->allow[cfg->n_allow]));
    cfg->n_allow++;
}

static void test_allow_cidr(void **state)
{
    (void)state;
    struct herald_config cfg;
    config_defaults(&cfg);
    add_allow(&cfg, "10.0.0.0/8");
    add_allow(&cfg, "169.254.0.0/16");
    add_allow(&cfg, "fd00::/8");
    static const char *const ok[] = {"10.9.9.9", "::ffff:10.1.2.3", "169.254.1.1", "fd00::9",
                                     "64:ff9b::a09:909" /* NAT64 of an allowed 10.9.9.9 */};
    static const char *const still[] = {"127.0.0.1", "192.168.1.1", "172.16.0.1", "fc00::1",
                                        /* metadata: a range is not enough */
                                        "169.254.169.254", "::ffff:169.254.169.254",
                                        "fd00:ec2::254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"};
    expect(&cfg, ok, ARRAY_SIZE(ok), true);
    expect(&cfg, still, ARRAY_SIZE(still), false);
}

static void test_metadata_named_exactly(void **state)
{
    (void)state;
    struct herald_config cfg;
    config_defaults(&cfg);
    add_allow(&cfg, "169.254.169.254/32");
    assert_true(allowed_text(&cfg, "169.254.169.254"));
    assert_true(allowed_text(&cfg, "::ffff:169.254.169.254"));
    assert_false(allowed_text(&cfg, "fd00:ec2::254"));
    assert_false(allowed_text(&cfg, "169.254.169.253")); /* not the rest of 169.254/16 */

    config_defaults(&cfg);
    add_allow(&cfg, "fd00:ec2::254");
    assert_true(allowed_text(&cfg, "fd00:ec2::254"));
    assert_false(allowed_text(&cfg, "fd00:ec2::253"));
    assert_false(allowed_text(&cfg, "169.254.169.254"));

    /* A /31 around it is a range, not a name. */
    config_defaults(&cfg);
    add_allow(&cfg, "169.254.169.254/31");
    assert_false(allowed_text(&cfg, "169.254.169.254"));
    assert_true(allowed_text(&cfg, "169.254.169.255"));
}

static void test_other_families_refused(void **state)
{
    (void)state;
    struct herald_config cfg;
    config_defaults(&cfg);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    assert_false(ssrf_allowed(&cfg, (struct sockaddr *)&ss));
    assert_false(ssrf_allowed(&cfg, NULL));
}

/* Every way of writing 127.0.0.1 or 10.9.9.9 that resolvers accept turns
 * into a socket address the guard refuses — the reason the check is on the
 * socket address and not on URL text. */
static void test_literal_encodings_resolve_to_refused(void **state)
{
    (void)state;
    struct herald_config cfg;
    config_defaults(&cfg);
    static const char *const forms[] = {
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "0177.1",
        "127.1",
        "127.0.1",
        "017700000001",
        "0x7f.0.0.1",
        "168364297" /* 10.9.9.9 */,
        "10.0x9.011.9",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "0:0:0:0:0:ffff:127.0.0.1",
        "::1",
        "0::1",
        "::ffff:10.9.9.9",
        "64:ff9b::127.0.0.1",
        "::127.0.0.1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(forms[i], "80", &hints, &res);
        if (rc != 0)
            fail_msg("the resolver does not take %s: %s", forms[i], gai_strerror(rc));
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
            if (ssrf_allowed(&cfg, ai->ai_addr))
                fail_msg("%s resolved to an allowed address", forms[i]);
        freeaddrinfo(res);
    }
}

/* Real transfers through libcurl to a canary on 127.0.0.1: refused through
 * every URL spelling (error "blocked", no connection reaches it), accepted
 * in dev mode (so the test can tell the difference). */
static void test_connect_time_guard(void **state)
{
    (void)state;
    static const char *const script[] = {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"};
    static struct receiver r; /* static: a failed assertion leaves its thread running */
    assert_true(receiver_start(&r, script, 1));

    struct herald_config cfg;
    config_defaults(&cfg);
    cfg.connect_timeout_ms = 3000;
    cfg.request_timeout_ms = 5000;
    struct store_webhook w;
    memset(&w, 0, sizeof w);
    w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.headers = "{}";
    str_copy(w.method, sizeof w.method, "POST");
    str_copy(w.content_type, sizeof w.content_type, "application/json");

    static const char *const hosts[] = {"127.0.0.1", "2130706433",         "0x7f.1",   "0177.0.0.1",
                                        "127.1",     "[::ffff:127.0.0.1]", "localhost"};
    char url[128];
    for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
        snprintf(url, sizeof url, "http://%s:%d/hook", hosts[i], r.port);
        w.url = url;
        struct attempt a;
        memset(&a, 0, sizeof a);
        assert_int_equal(
            attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, 1700000000000LL),
            0);
        attempt_perform(&a, &cfg);
        if (!a.error || strcmp(a.error, "blocked") != 0)
            fail_msg("%s: expected blocked, got %s (%s)", url, a.error ? a.error : "success",
                     a.errbuf);
        assert_true(a.blocked);
        assert_int_equal(a.response_code, 0);
        attempt_release(&a);
    }
    assert_int_equal(receiver_accepted(&r), 0);

    cfg.dev = true;
    snprintf(url, sizeof url, "http://2130706433:%d/hook", r.port);
    w.url = url;
    struct attempt a;
    memset(&a, 0, sizeof a);
    assert_int_equal(
        attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 0, "{}", 2, 1700000000000LL), 0);
    attempt_perform(&a, &cfg);
    assert_null(a.error);
    assert_int_equal(a.response_code, 204);
    assert_false(a.blocked);
    attempt_release(&a);
    assert_int_equal(receiver_count(&r), 1);
    receiver_stop(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_dev_allows_loopback_only),
        cmocka_unit_test(test_allow_cidr),
        cmocka_unit_test(test_metadata_named_exactly),
        cmocka_unit_test(test_other_families_refused),
        cmocka_unit_test(test_literal_encodings_resolve_to_refused),
        cmocka_unit_test(test_connect_time_guard),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
