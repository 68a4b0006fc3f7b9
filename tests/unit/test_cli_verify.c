/* Unit tests of `herald verify` (src/cli/verify.c): its one request parser,
 * verify_request_parse() and verify_request_header(), by the rules
 * verify_request.h states, and the command itself, cli_verify(), run on
 * saved requests in both of its modes (the standard scheme, and a dialect
 * through --scheme github) to show they read a request the same way. The
 * fuzz targets fuzz_verify_request and fuzz_saved_headers check the same
 * rules on any input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/verify_request.h"
#include "core/buf.h"
#include "sign/dialect.h"
#include "sign/sign.h"

#define STANDARD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define GITHUB_SECRET "my_php_secret"
#define MSG_ID "msg_2aWcWMNDqUy8dHoeTWHqbpK8KfQ"
#define TS 1700000000
#define BODY "{\"type\":\"post.published\",\"data\":{\"post_id\":\"post_abc123\"}}"

/* The headers that sign body both ways, as "Name: value" lines. */
struct signed_headers {
    char id[64], ts[64], standard[32 + SIGN_SIG_MAX], github[32 + SIGN_DIALECT_VALUE_MAX];
};

static void sign_both(struct signed_headers *h, const char *body, size_t body_len)
{
    char v1[SIGN_SIG_MAX], gh[SIGN_DIALECT_VALUE_MAX];
    assert_true(sign_v1_secret(STANDARD_SECRET, MSG_ID, TS, body, body_len, v1));
    unsigned char key[64];
    int kl = sign_dialect_key(GITHUB_SECRET, key);
    assert_true(kl > 0);
    sign_dialect(SCHEME_GITHUB, key, kl, NULL, 0, TS, body, body_len, gh);
    snprintf(h->id, sizeof h->id, "webhook-id: %s", MSG_ID);
    snprintf(h->ts, sizeof h->ts, "webhook-timestamp: %d", TS);
    snprintf(h->standard, sizeof h->standard, "webhook-signature: %s", v1);
    snprintf(h->github, sizeof h->github, "X-Hub-Signature-256: %s", gh);
}

/* A saved request: the request line, the header lines given (NULL ends
 * them), a blank line, then body_len bytes of body. CRLF line ends. */
static void saved_request(struct buf *b, const char *const *lines, const char *body,
                          size_t body_len)
{
    buf_init(b, 1 << 20);
    assert_int_equal(buf_puts(b, "POST /hook HTTP/1.1\r\n"), 0);
    for (; *lines; lines++)
        assert_int_equal(buf_printf(b, "%s\r\n", *lines), 0);
    assert_int_equal(buf_append(b, "\r\n", 2), 0);
    assert_int_equal(buf_append(b, body, body_len), 0);
}

/* What cli_verify() answered: its exit status and what it printed. */
struct outcome {
    int status;
    char out[512], err[512];
};

static void slurp(int fd, char *to, size_t cap)
{
    ssize_t n = pread(fd, to, cap - 1, 0);
    to[n > 0 ? n : 0] = '\0';
    close(fd);
}

static int temp_file(void)
{
    char path[] = "/tmp/herald-test-verify-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Runs `herald verify --tolerance 0` with in as its stdin (saved
 * signatures stay valid), in the standard mode or with --scheme github. */
static void run_verify_fd(int in, bool github, struct outcome *o)
{
    int out = temp_file(), err = temp_file();
    char *argv[] = {"verify", "--secret", github ? GITHUB_SECRET : STANDARD_SECRET, "--tolerance",
                    "0",      "--scheme", github ? "github" : "standard",           NULL};
    fflush(stdout);
    fflush(stderr);
    int saved[3] = {dup(0), dup(1), dup(2)};
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    clearerr(stdin);
    o->status = cli_verify(7, argv);
    fflush(stdout);
    fflush(stderr);
    for (int fd = 0; fd < 3; fd++) {
        dup2(saved[fd], fd);
        close(saved[fd]);
    }
    clearerr(stdin);
    close(in);
    slurp(out, o->out, sizeof o->out);
    slurp(err, o->err, sizeof o->err);
}

/* The same on the request in b. */
static void run_verify(const struct buf *b, bool github, struct outcome *o)
{
    int in = temp_file();
    assert_int_equal(pwrite(in, b->data, b->len, 0), (ssize_t)b->len);
    run_verify_fd(in, github, o);
}

/* Both modes on b: each must give status (0 verified, 1 not). */
static void assert_both_modes(const struct buf *b, int status)
{
    struct outcome standard, github;
    run_verify(b, false, &standard);
    run_verify(b, true, &github);
    assert_int_equal(standard.status, status);
    assert_int_equal(github.status, status);
    if (status == 0) {
        assert_string_equal(standard.out, "signature verified\n");
        assert_string_equal(github.out, "signature verified\n");
    }
}

static void test_parse_well_formed(void **state)
{
    (void)state;
    /* LF line ends, blanks before values, a colon in a value, an empty value. */
    char text[] = "POST /hook?a=b HTTP/1.1\nHost: receiver.example:9000\n"
                  "Content-Type:\tapplication/json\nX-Empty:\n\n{\"a\":1}\n";
    struct verify_request r;
    assert_true(verify_request_parse(&r, text, strlen(text)));
    assert_int_equal(r.n, 3);
    assert_string_equal(r.name[0], "Host");
    assert_string_equal(r.value[0], "receiver.example:9000");
    assert_string_equal(r.name[1], "Content-Type");
    assert_string_equal(r.value[1], "application/json");
    assert_string_equal(r.value[2], "");
    assert_int_equal(r.skipped, 0);
    assert_int_equal(r.dropped, 0);
    assert_int_equal(r.body_len, 8);
    assert_memory_equal(r.body, "{\"a\":1}\n", 8);
    assert_string_equal(verify_request_header(&r, "content-type"), "application/json");
    assert_string_equal(verify_request_header(&r, "HOST"), "receiver.example:9000");
    assert_null(verify_request_header(&r, "webhook-id"));

    /* Empty lines before the request line are skipped (RFC 9112 §2.2). */
    char lead[] = "\r\n\nPOST / HTTP/1.1\r\nX-A: 1\r\n\r\nbody";
    assert_true(verify_request_parse(&r, lead, strlen(lead)));
    assert_int_equal(r.n, 1);
    assert_string_equal(verify_request_header(&r, "x-a"), "1");
    assert_int_equal(r.body_len, 4);

    /* No blank line: no body to check, and the text is left as it was. */
    char none[] = "POST / HTTP/1.1\r\nX-A: 1\r\nbody";
    assert_false(verify_request_parse(&r, none, strlen(none)));
    assert_string_equal(none, "POST / HTTP/1.1\r\nX-A: 1\r\nbody");
    assert_int_equal(r.n, 0);
    assert_null(r.body);
}

static void test_junk_line_hides_nothing(void **state)
{
    (void)state;
    struct signed_headers h;
    sign_both(&h, BODY, strlen(BODY));
    /* A line without a colon, and one with a NUL, before every signature
     * header: both are skipped, and the headers after them still count. */
    char nul_line[] = "X-Broken: a?b";
    const char *lines[] = {"Host: receiver.example.com",
                           "this line has no colon",
                           nul_line,
                           h.id,
                           h.ts,
                           h.standard,
                           h.github,
                           NULL};
    struct buf b;
    saved_request(&b, lines, BODY, strlen(BODY));
    char *q = memchr(b.data, '?', b.len);
    assert_non_null(q);
    *q = '\0';

    struct verify_request r;
    struct buf copy;
    buf_init(&copy, 1 << 20);
    assert_int_equal(buf_append(&copy, b.data, b.len), 0);
    assert_true(verify_request_parse(&r, copy.data, copy.len));
    assert_int_equal(r.n, 5);
    assert_int_equal(r.skipped, 2);
    assert_string_equal(verify_request_header(&r, "webhook-id"), MSG_ID);
    assert_non_null(verify_request_header(&r, "x-hub-signature-256"));
    assert_null(verify_request_header(&r, "x-broken"));
    buf_release(&copy);

    assert_both_modes(&b, 0);
    struct outcome o;
    run_verify(&b, true, &o);
    assert_non_null(strstr(o.err, "skipped 2 header line(s)"));
    buf_release(&b);
}

static void test_repeated_header_first_counts(void **state)
{
    (void)state;
    struct signed_headers h;
    sign_both(&h, BODY, strlen(BODY));
    /* The right signatures first, wrong ones after: both modes take the
     * first and verify. */
    const char *right_first[] = {h.id,
                                 h.ts,
                                 h.standard,
                                 h.github,
                                 "webhook-signature: v1,AAAA",
                                 "x-hub-signature-256: sha256=00",
                                 NULL};
    struct buf b;
    saved_request(&b, right_first, BODY, strlen(BODY));
    assert_both_modes(&b, 0);
    buf_release(&b);

    /* Wrong ones first: both modes take them and refuse, although the
     * right ones follow. */
    const char *wrong_first[] = {
        h.id,     h.ts, "WEBHOOK-SIGNATURE: v1,AAAA", "X-Hub-Signature-256: sha256=00", h.standard,
        h.github, NULL};
    saved_request(&b, wrong_first, BODY, strlen(BODY));
    assert_both_modes(&b, 1);
    struct outcome o;
    run_verify(&b, false, &o);
    assert_string_equal(o.out, "no signature matches\n");
    buf_release(&b);

    /* An empty first value is a missing header, whatever follows. */
    const char *empty_first[] = {"webhook-id:", h.id, h.ts, h.standard, NULL};
    saved_request(&b, empty_first, BODY, strlen(BODY));
    run_verify(&b, false, &o);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.out, "missing"));
    buf_release(&b);
}

static void test_body_with_nul_verifies(void **state)
{
    (void)state;
    /* A body with a NUL, a blank line of its own and no final line end:
     * every byte after the headers' blank line is the body. */
    static const char body[] = "{\"a\":\"x\0y\"}\r\n\r\ntail";
    size_t body_len = sizeof body - 1;
    struct signed_headers h;
    sign_both(&h, body, body_len);
    const char *lines[] = {h.id, h.ts, h.standard, h.github, NULL};
    struct buf b;
    saved_request(&b, lines, body, body_len);
    assert_both_modes(&b, 0);

    struct verify_request r;
    struct buf copy;
    buf_init(&copy, 1 << 20);
    assert_int_equal(buf_append(&copy, b.data, b.len), 0);
    assert_true(verify_request_parse(&r, copy.data, copy.len));
    assert_int_equal(r.body_len, body_len);
    assert_memory_equal(r.body, body, body_len);
    buf_release(&copy);
    buf_release(&b);

    /* Signatures of the body cut at its NUL do not verify it: they cover
     * every byte. */
    sign_both(&h, body, strlen(body));
    saved_request(&b, lines, body, body_len);
    assert_both_modes(&b, 1);
    buf_release(&b);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    struct signed_headers h;
    sign_both(&h, BODY, strlen(BODY));
    enum { FILLER = VERIFY_REQUEST_HEADERS_MAX + 10 };
    static char filler[FILLER][32];
    const char *lines[FILLER + 5];
    /* The signature headers first, then more than the cap: kept, the rest
     * dropped, the body still found behind them. */
    lines[0] = h.id;
    lines[1] = h.ts;
    lines[2] = h.standard;
    lines[3] = h.github;
    for (int i = 0; i < FILLER; i++) {
        snprintf(filler[i], sizeof filler[i], "X-Filler-%d: %d", i, i);
        lines[4 + i] = filler[i];
    }
    lines[FILLER + 4] = NULL;
    struct buf b;
    saved_request(&b, lines, BODY, strlen(BODY));
    assert_both_modes(&b, 0);
    struct outcome o;
    run_verify(&b, false, &o);
    assert_non_null(strstr(o.err, "read the first 256 headers only, 14 more ignored"));
    buf_release(&b);

    /* Signature headers past the cap are not read: missing, in both modes. */
    for (int i = 0; i < FILLER; i++)
        lines[i] = filler[i];
    lines[FILLER] = h.id;
    lines[FILLER + 1] = h.ts;
    lines[FILLER + 2] = h.standard;
    lines[FILLER + 3] = h.github;
    saved_request(&b, lines, BODY, strlen(BODY));
    assert_both_modes(&b, 1);
    run_verify(&b, true, &o);
    assert_non_null(strstr(o.out, "missing"));
    buf_release(&b);
}

/* A read that fails (here: a directory as stdin, EISDIR) is an error of
 * its own, not an empty or cut request judged as if whole. */
static void test_unreadable_input_is_refused(void **state)
{
    (void)state;
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    assert_true(dir >= 0);
    struct outcome o;
    run_verify_fd(dir, false, &o);
    assert_int_equal(o.status, 1);
    assert_string_equal(o.out, "");
    assert_non_null(strstr(o.err, "cannot read the request"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_well_formed),
        cmocka_unit_test(test_junk_line_hides_nothing),
        cmocka_unit_test(test_repeated_header_first_counts),
        cmocka_unit_test(test_body_with_nul_verifies),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_unreadable_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
