/* Unit tests of src/dispatch/sockets.c: which of libcurl's sockets stay in
 * the epoll set between transfers, and that a reused descriptor number is
 * never mistaken for the socket that had it. Local socket pairs only. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "dispatch/sockets.h"

struct fixture {
    int ep;
    struct sockreg r;
    int sv[2]; /* sv[0] plays libcurl's socket, sv[1] the server */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    assert_true(f->ep >= 0);
    sockreg_init(&f->r, f->ep);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f->sv), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sockreg_release(&f->r);
    if (f->sv[0] >= 0)
        close(f->sv[0]);
    close(f->sv[1]);
    close(f->ep);
    free(f);
    return 0;
}

/* The descriptors epoll reports readable right now. */
static int ready(struct fixture *f, int fds[4])
{
    struct epoll_event ev[4];
    int n = epoll_wait(f->ep, ev, 4, 0);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        fds[i] = ev[i].data.fd;
    return n;
}

static bool registered(struct fixture *f, int fd)
{
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(f->ep, EPOLL_CTL_MOD, fd, &e) == 0)
        return true;
    assert_int_equal(errno, ENOENT);
    return false;
}

static void server_says(struct fixture *f)
{
    assert_int_equal(write(f->sv[1], "x", 1), 1);
}

/* A connection socket back in libcurl's pool stays in the set, so the next
 * transfer on it needs no epoll_ctl; its events are not libcurl's until
 * then, and an idle socket that turns readable leaves the set. */
static void test_pooled_connection_stays(void **state)
{
    struct fixture *f = *state;
    int s = f->sv[0], fds[4];
    sockreg_sockopt(&f->r, s, CURLSOCKTYPE_IPCXN);
    sockreg_on_socket(NULL, s, CURL_POLL_IN, &f->r, NULL);
    server_says(f);
    assert_int_equal(ready(f, fds), 1);
    assert_int_equal(fds[0], s);
    assert_true(sockreg_wanted(&f->r, s));

    sockreg_on_socket(NULL, s, CURL_POLL_REMOVE, &f->r, NULL);
    assert_int_equal(ready(f, fds), 1); /* still in the set */
    assert_false(sockreg_wanted(&f->r, s));
    assert_int_equal(ready(f, fds), 0); /* and now out of it */
    assert_false(registered(f, s));

    /* The next transfer takes it again. */
    sockreg_on_socket(NULL, s, CURL_POLL_IN, &f->r, NULL);
    assert_int_equal(ready(f, fds), 1);
    assert_true(sockreg_wanted(&f->r, s));
}

/* Watching for something else changes the registration. */
static void test_events_follow_libcurl(void **state)
{
    struct fixture *f = *state;
    int s = f->sv[0], fds[4];
    sockreg_sockopt(&f->r, s, CURLSOCKTYPE_IPCXN);
    sockreg_on_socket(NULL, s, CURL_POLL_OUT, &f->r, NULL);
    assert_int_equal(ready(f, fds), 1); /* writable */
    sockreg_on_socket(NULL, s, CURL_POLL_IN, &f->r, NULL);
    assert_int_equal(ready(f, fds), 0); /* nothing to read yet */
    server_says(f);
    assert_int_equal(ready(f, fds), 1);
}

/* A socket libcurl did not open as a connection (a resolver's pipe) is
 * removed as soon as libcurl says so: its close would not be heard of. */
static void test_other_socket_leaves_on_remove(void **state)
{
    struct fixture *f = *state;
    int s = f->sv[0], fds[4];
    sockreg_on_socket(NULL, s, CURL_POLL_IN, &f->r, NULL);
    assert_true(registered(f, s));
    sockreg_on_socket(NULL, s, CURL_POLL_REMOVE, &f->r, NULL);
    assert_false(registered(f, s));
    server_says(f);
    assert_int_equal(ready(f, fds), 0);
}

/* A kept socket closed through libcurl's close callback is forgotten: a new
 * socket given the same number is added to the set, not taken for the old
 * one (which would leave its transfer unheard until it timed out). */
static void test_closed_number_reused(void **state)
{
    struct fixture *f = *state;
    int s = f->sv[0], fds[4];
    sockreg_sockopt(&f->r, s, CURLSOCKTYPE_IPCXN);
    sockreg_on_socket(NULL, s, CURL_POLL_IN, &f->r, NULL);
    sockreg_on_socket(NULL, s, CURL_POLL_REMOVE, &f->r, NULL);
    assert_int_equal(sockreg_close(&f->r, s), 0);
    f->sv[0] = -1;

    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
    assert_int_equal(pair[0], s); /* the lowest free number: the old one */
    f->sv[0] = pair[0];
    close(f->sv[1]);
    f->sv[1] = pair[1];
    sockreg_on_socket(NULL, pair[0], CURL_POLL_IN, &f->r, NULL); /* no sockopt: a pipe */
    server_says(f);
    assert_int_equal(ready(f, fds), 1);
    assert_int_equal(fds[0], pair[0]);
    assert_true(sockreg_wanted(&f->r, pair[0]));
}

/* A descriptor sockreg never saw is passed on to libcurl, as before. */
static void test_unknown_descriptor_is_libcurls(void **state)
{
    struct fixture *f = *state;
    assert_true(sockreg_wanted(&f->r, f->sv[1]));
    assert_true(sockreg_wanted(&f->r, 100000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pooled_connection_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_follow_libcurl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_socket_leaves_on_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_number_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_descriptor_is_libcurls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
